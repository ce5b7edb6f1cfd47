//! `graphform validate`: load a policy and report every problem.

use std::fmt::Write as _;
use std::process::ExitCode;

use graphform_spec::{Diagnostic, Loaded, Severity, Spec};
use graphform_types::style;
use serde::Serialize;

use crate::cli::{Format, ValidateArgs};
use crate::output::Printer;
use crate::settings::{self, plural};

pub(crate) fn run(args: &ValidateArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let loaded = graphform_spec::load(&args.path);
    match args.format {
        Format::Text => text(args, &loaded, printer),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&Report::new(&loaded))?;
            json.push('\n');
            printer.data(&json);
        }
    }
    Ok(if loaded.spec.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn text(args: &ValidateArgs, loaded: &Loaded, printer: &Printer) {
    settings::print_diagnostics(loaded, printer);
    let warnings = plural(loaded.warning_count(), "warning");
    if let Some(spec) = &loaded.spec {
        let counts = Counts::of(spec);
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

#[derive(Serialize)]
struct Counts {
    businesses: usize,
    system_users: usize,
    tokens: usize,
}

impl Counts {
    fn of(spec: &Spec) -> Self {
        let users = spec.businesses.iter().flat_map(|b| &b.system_users);
        Self {
            businesses: spec.businesses.len(),
            system_users: users.clone().count(),
            tokens: users.map(|u| u.tokens.len()).sum(),
        }
    }
}

/// `validate --format json`: a stable, versioned document.
#[derive(Serialize)]
struct Report<'a> {
    format_version: u32,
    valid: bool,
    files: Vec<String>,
    errors: usize,
    warnings: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<Counts>,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: &'static str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
}

impl<'a> Report<'a> {
    fn new(loaded: &'a Loaded) -> Self {
        Self {
            format_version: 1,
            valid: loaded.spec.is_some(),
            files: loaded
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            errors: loaded.error_count(),
            warnings: loaded.warning_count(),
            counts: loaded.spec.as_ref().map(Counts::of),
            diagnostics: loaded.diagnostics.iter().map(JsonDiagnostic::new).collect(),
        }
    }
}

impl<'a> JsonDiagnostic<'a> {
    fn new(diagnostic: &'a Diagnostic) -> Self {
        let location = diagnostic.location.as_ref();
        Self {
            severity: match diagnostic.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            code: diagnostic.code.as_str(),
            message: &diagnostic.message,
            file: location.map(|l| l.file.display().to_string()),
            line: location.map(|l| l.line),
            column: location.map(|l| l.column),
            expected: diagnostic.label.as_deref(),
            help: diagnostic.help.as_deref(),
        }
    }
}
