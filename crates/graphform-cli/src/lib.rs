//! The `graphform` command line: argument parsing, one module per
//! subcommand, output, logging and exit codes. Everything else lives in the
//! library crates; this crate is glue.
//!
//! Exit codes: 0 success, 1 error (an invalid policy, or an apply with a
//! failed change, included), 2 usage error (from clap) — and, for
//! `plan --detailed-exitcode`, 2 for "changes present", as Terraform does.

mod cli;
mod commands;
mod env;
mod output;
mod render;
mod settings;

use std::process::ExitCode;

use clap::Parser as _;

pub use cli::Cli;

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let colors = output::Colors::decide(cli.global.color);
    output::init_logging(cli.global.verbose, colors);
    let printer = output::Printer::new(colors);
    match commands::run(cli, &printer) {
        Ok(code) => code,
        Err(error) => {
            printer.error(&error);
            ExitCode::FAILURE
        }
    }
}
