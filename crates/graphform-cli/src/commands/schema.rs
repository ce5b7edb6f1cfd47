//! `graphform schema`: print the policy's JSON Schema.

use std::process::ExitCode;

use crate::output::Printer;

pub(crate) fn run(printer: &Printer) -> ExitCode {
    printer.data(&graphform_spec::json_schema());
    ExitCode::SUCCESS
}
