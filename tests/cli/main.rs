//! End-to-end tests of the `graphform` binary: one module per subcommand.

#[macro_use]
mod common;
mod emulator;
mod plan;
mod schema;
mod validate;
