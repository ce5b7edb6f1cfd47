//! graphform's engine: observe the live world, plan (a pure function) and
//! apply.
//!
//! An empty shell until the plan issue: the crate exists so the workspace has
//! its final shape (design.md §7), and nothing here pretends to plan yet.
