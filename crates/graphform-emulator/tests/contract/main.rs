//! Contract tests of the Graph API emulator against graph-api.md, over real
//! HTTP on 127.0.0.1:0. One binary, one module per topic.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns panic on failure by design"
)]

mod api;
mod auth;
mod batch;
mod concurrency;
mod control;
mod debug_token;
mod drift;
mod network;
mod oauth;
mod support;
mod system_users;
mod tokens;
