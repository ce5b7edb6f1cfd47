//! Token stores for graphform.
//!
//! This crate will hold the `Store` trait and its `file`, `vault` and
//! `aws-secrets-manager` backends (design.md §4). It is an empty shell until
//! the plan issue gives it its first backend: nothing here pretends to store
//! anything yet.
