//! End-to-end tests of the `graphform` binary: one module per subcommand.

#[macro_use]
mod common;
mod apply;
mod apply_crash;
mod ci_recipes;
mod color;
mod completions;
mod credentials;
mod demo;
mod emulator;
mod first_hour;
mod import;
mod lock;
mod maintenance;
mod plan;
mod readme;
mod safety;
mod schema;
mod status;
mod stores;
mod usage;
mod validate;
mod world;
