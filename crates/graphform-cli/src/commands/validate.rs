//! `graphform validate`: load a policy and report every problem.

use std::fmt::Write as _;
use std::process::ExitCode;

use graphform_spec::Loaded;
use graphform_spec::report::{PolicyCounts, ValidationReport};
use graphform_types::style;

use crate::cli::{Format, ValidateArgs};
use crate::output::Printer;
use crate::settings::{self, plural};

pub(crate) fn run(args: &ValidateArgs, printer: &Printer) -> ExitCode {
    let loaded = graphform_spec::load(&args.path);
    match args.format {
        Format::Text => text(args, &loaded, printer),
        Format::Json => {
            printer.data(&graphform_engine::plan_file::safe_json(
                &ValidationReport::new(&loaded),
            ));
        }
    }
    if loaded.spec.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn text(args: &ValidateArgs, loaded: &Loaded, printer: &Printer) {
    settings::print_diagnostics(loaded, printer);
    let warnings = plural(loaded.warning_count(), "warning");
    if let Some(spec) = &loaded.spec {
        let counts = PolicyCounts::of(spec);
        let mut line = format!(
            "{} is valid: {}, {}, {}",
            args.path.display(),
            plural(counts.businesses, "business"),
            plural(counts.system_users, "system user"),
            plural(counts.tokens, "token"),
        );
        if loaded.warning_count() > 0 {
            let _ = write!(line, " ({warnings})");
        }
        line.push('\n');
        printer.data(&line);
    } else if !loaded.unreadable() {
        // A policy that could not be read is not "invalid": its
        // diagnostics already say what could not be read and why.
        let mut line = format!(
            "{} is invalid: {}",
            args.path.display(),
            plural(loaded.error_count(), "error")
        );
        if loaded.warning_count() > 0 {
            let _ = write!(line, ", {warnings}");
        }
        let label = printer.stderr().paint(style::ERROR, "error");
        printer.message(&format!("{label}: {line}\n"));
    }
}
