//! One module per subcommand.

mod emulator;
mod schema;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::output::Printer;

/// Runs the chosen subcommand.
pub(crate) fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(&args, printer),
        Command::Schema => Ok(schema::run(printer)),
        Command::Emulator(args) => emulator::run(&args, printer),
    }
}
