//! `graphform validate --format json`: a loaded policy's
//! [`ValidationReport`] (`schemas/validate-report.schema.json`,
//! docs/policy.md). Like every diagnostic, it holds no secret.

use schemars::JsonSchema;
use serde::Serialize;

use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::load::Loaded;
use crate::spec::Spec;

/// The report's format version: bumped when a field changes meaning or
/// goes away, not when one is added.
pub const VALIDATION_REPORT_FORMAT_VERSION: u32 = 1;

/// What `graphform validate --format json` prints: whether the policy is
/// valid, and every problem found in it.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "ValidationReport")]
pub struct ValidationReport<'a> {
    /// The report's format version (1).
    pub format_version: u32,
    /// Whether the policy is valid: it has no error (warnings allowed).
    pub valid: bool,
    /// The files the policy was read from, in order.
    pub files: Vec<String>,
    /// How many diagnostics are errors.
    pub errors: usize,
    /// How many diagnostics are warnings.
    pub warnings: usize,
    /// What a valid policy names; absent when it is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<PolicyCounts>,
    /// Every problem found, sorted by file, line and column.
    pub diagnostics: Vec<ReportDiagnostic<'a>>,
}

/// How many objects a valid policy names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PolicyCounts {
    /// Its businesses.
    pub businesses: usize,
    /// Its system users, in every business.
    pub system_users: usize,
    /// Its tokens, of every system user.
    pub tokens: usize,
}

/// One problem, as the text output shows it: what, where, what was
/// expected, and a hint.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Diagnostic")]
pub struct ReportDiagnostic<'a> {
    /// `error` (the policy is invalid) or `warning`.
    pub severity: Severity,
    /// The stable code (docs/policy.md, "Diagnostic codes").
    pub code: Code,
    /// What is wrong, lowercase, no trailing period.
    pub message: &'a str,
    /// The file, when the problem has a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The 1-based line in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The 1-based column in `line`, in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What was expected there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<&'a str>,
    /// A suggestion: "did you mean `read_insights`?".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<&'a str>,
}

impl<'a> ValidationReport<'a> {
    /// The report of `loaded`.
    pub fn new(loaded: &'a Loaded) -> Self {
        Self {
            format_version: VALIDATION_REPORT_FORMAT_VERSION,
            valid: loaded.spec.is_some(),
            files: loaded
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            errors: loaded.error_count(),
            warnings: loaded.warning_count(),
            counts: loaded.spec.as_ref().map(PolicyCounts::of),
            diagnostics: loaded
                .diagnostics
                .iter()
                .map(ReportDiagnostic::new)
                .collect(),
        }
    }
}

impl PolicyCounts {
    /// The counts of `spec`.
    pub fn of(spec: &Spec) -> Self {
        let users = spec.businesses.iter().flat_map(|b| &b.system_users);
        Self {
            businesses: spec.businesses.len(),
            system_users: users.clone().count(),
            tokens: users.map(|u| u.tokens.len()).sum(),
        }
    }
}

impl<'a> ReportDiagnostic<'a> {
    fn new(diagnostic: &'a Diagnostic) -> Self {
        let location = diagnostic.location.as_ref();
        Self {
            severity: diagnostic.severity,
            code: diagnostic.code,
            message: &diagnostic.message,
            file: location.map(|l| l.file.display().to_string()),
            line: location.map(|l| l.line),
            column: location.map(|l| l.column),
            expected: diagnostic.label.as_deref(),
            help: diagnostic.help.as_deref(),
        }
    }
}

/// The JSON Schema of `validate --format json`
/// (`schemas/validate-report.schema.json`).
pub fn validation_report_schema() -> String {
    graphform_types::json_schema::<ValidationReport<'static>>()
}
