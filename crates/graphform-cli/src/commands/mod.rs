//! One module per subcommand.

mod apply;
mod completions;
mod demo;
mod emulator;
mod import;
mod lock;
mod man;
mod plan;
mod schema;
mod show;
mod status;
mod store;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command, LockCommand, StoreCommand};
use crate::output::Printer;

/// Runs the chosen subcommand.
pub(crate) fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => Ok(validate::run(&args, printer)),
        Command::Schema => Ok(schema::run(printer)),
        Command::Demo(args) => demo::run(&args, printer),
        Command::Emulator(args) => emulator::run(&args, printer),
        Command::Plan(args) => plan::run(&args, printer),
        Command::Apply(args) => apply::run(&args, printer),
        Command::Show(args) => show::run(&args, printer),
        Command::Import(args) => import::run(&args, printer),
        Command::Status(args) => status::run(&args, printer),
        Command::Store(StoreCommand::Init(args)) => store::init(&args, printer),
        Command::Store(StoreCommand::Rekey(args)) => store::rekey(&args, printer),
        Command::Lock(LockCommand::Status(args)) => lock::status(&args, printer),
        Command::Unlock(args) => lock::unlock(&args, printer),
        Command::Completions(args) => completions::run(&args, printer),
        Command::Man(args) => man::run(&args, printer),
    }
}
