//! The `graphform` command line: argument parsing, one module per
//! subcommand, output, logging and exit codes. Everything else lives in the
//! library crates; this crate is glue.
//!
//! Exit codes ([`EXIT_USAGE`] and docs/operations.md): 0 success, 1 error
//! (an invalid policy, or an apply with a failed change, included), 64 a
//! command line graphform cannot run (a usage error) — and, for
//! `plan --detailed-exitcode`, 2 for "changes present", as Terraform does.
//! No error exits 2, so a pipeline step `plan --detailed-exitcode … ||
//! test $? -eq 2` cannot take a mistyped flag for "changes".

mod cli;
mod commands;
mod env;
mod output;
mod progress;
mod render;
mod settings;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

pub use cli::Cli;

/// The exit code of a command line graphform cannot run: an unknown
/// command or flag, a missing or invalid argument. 64 is `EX_USAGE` of
/// sysexits(3); clap's own 2 would read as "changes present" to
/// `plan --detailed-exitcode`.
pub const EXIT_USAGE: u8 = 64;

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let mut command = env::empty_is_unset(Cli::command());
    let parsed = command
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|matches| Cli::from_arg_matches(&matches))
        .map_err(|error| error.format(&mut command));
    let cli = match parsed {
        Ok(cli) => cli,
        // `--help` and `--version` come this way too, and exit 0.
        Err(error) => {
            let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
            // If even this cannot be written, the exit code still says it.
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
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
