//! `apply --format json`: the outcome of every change, for pipelines.
//! Fingerprints only, never a token.

use graphform_types::Chain;
use serde::Serialize;

use super::{ApplyReport, Outcome};

impl ApplyReport {
    /// The report as a JSON document (pretty, with a final newline):
    /// `format_version`, `succeeded`, and per change its `address`,
    /// `action`, `status` (`done`, `failed`, `skipped`) and, where there
    /// is one, the `token` fingerprint, the Meta `id` and the `error`.
    pub fn to_json(&self) -> String {
        let mut json =
            serde_json::to_string_pretty(&JsonReport::new(self)).expect("the report is plain data");
        json.push('\n');
        json
    }
}

#[derive(Serialize)]
struct JsonReport<'r> {
    format_version: u32,
    succeeded: bool,
    changes: Vec<JsonOutcome<'r>>,
}

#[derive(Serialize)]
struct JsonOutcome<'r> {
    address: String,
    action: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl<'r> JsonReport<'r> {
    fn new(report: &'r ApplyReport) -> Self {
        Self {
            format_version: 1,
            succeeded: report.succeeded(),
            changes: report
                .outcomes
                .iter()
                .map(|(change, outcome)| {
                    let (status, token, id, error) = match outcome {
                        Outcome::Done { token, id } => (
                            "done",
                            token.as_ref().map(ToString::to_string),
                            id.as_deref(),
                            None,
                        ),
                        Outcome::Failed { error } => {
                            ("failed", None, None, Some(Chain(&**error).to_string()))
                        }
                        Outcome::Skipped { reason } => {
                            ("skipped", None, None, Some(reason.clone()))
                        }
                    };
                    JsonOutcome {
                        address: change.address.to_string(),
                        action: change.action.as_str(),
                        status,
                        token,
                        id,
                        error,
                    }
                })
                .collect(),
        }
    }
}
