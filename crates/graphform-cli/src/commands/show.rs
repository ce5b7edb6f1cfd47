//! `graphform show`: render a saved plan.

use std::process::ExitCode;

use crate::cli::ShowArgs;
use crate::commands::plan::print_plan;
use crate::output::Printer;

pub(crate) fn run(args: &ShowArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let plan = graphform_engine::plan_file::read(&args.file)?;
    print_plan(&plan, args.format, printer);
    Ok(ExitCode::SUCCESS)
}
