//! `apply --format json`: the outcome of every change, for pipelines
//! (`schemas/apply-report.schema.json`, docs/apply-json.md). Fingerprints
//! only, never a token.

use graphform_store::{ExpiryMode, Fingerprint};
use graphform_types::{Chain, Timestamp};
use schemars::JsonSchema;
use serde::Serialize;

use crate::plan::Action;

use super::{ApplyReport, Outcome};

/// The report document's format version.
const REPORT_FORMAT_VERSION: u32 = 1;

impl ApplyReport {
    /// The report as a JSON document (pretty, with a final newline), in the
    /// shape of [`apply_report_schema`].
    /// Safe to print as the plan is: an error's text (which may quote
    /// Meta) has its control and bidirectional characters escaped.
    pub fn to_json(&self) -> String {
        crate::plan_file::safe_json(&JsonReport::new(self))
    }
}

/// The JSON Schema of `apply --format json`
/// (`schemas/apply-report.schema.json`).
pub fn apply_report_schema() -> String {
    graphform_types::json_schema::<JsonReport<'static>>()
}

/// What `graphform apply --format json` prints: the plan apply made under
/// its lease, and what became of each change.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "ApplyReport")]
struct JsonReport<'r> {
    /// The report's format version (1).
    format_version: u32,
    /// When the plan was made, by graphform's clock (Unix seconds): the
    /// time every decision of the run was made at.
    applied_at: Timestamp,
    /// The policy's hash, as in the plan document.
    policy_hash: &'r str,
    /// Whether every change was made (`done`).
    succeeded: bool,
    /// Every change of the plan, in plan order.
    changes: Vec<JsonOutcome<'r>>,
}

/// One change and its outcome.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "ChangeOutcome")]
struct JsonOutcome<'r> {
    /// The object, e.g. `acme/ci-reporting/token/insights-read`.
    address: String,
    /// What was done, as in the plan document.
    action: Action,
    /// What became of it.
    status: Status,
    /// The token value the change replaced or removed (refresh, rotate,
    /// revoke, forget), by fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    before: Option<Fingerprint>,
    /// The token value it produced (issue, refresh, rotate) or removed
    /// (revoke, forget), by fingerprint; `done` changes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    token: Option<Fingerprint>,
    /// The produced token's expiry mode: `60d` or `never`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    expiry: Option<ExpiryMode>,
    /// When the produced token expires (Unix seconds); absent for a
    /// never-expiring one.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<Timestamp>,
    /// The Meta ID made or acted on (system user, app), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'r str>,
    /// Why it failed or was skipped, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What became of a change.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Status {
    /// Made, and its outcome verified.
    Done,
    /// It failed, or its outcome could not be verified; nothing after it
    /// for the same system user was attempted.
    Failed,
    /// Not attempted.
    Skipped,
}

impl<'r> JsonReport<'r> {
    fn new(report: &'r ApplyReport) -> Self {
        Self {
            format_version: REPORT_FORMAT_VERSION,
            applied_at: report.plan.created_at,
            policy_hash: &report.plan.policy_hash,
            succeeded: report.succeeded(),
            changes: report
                .outcomes
                .iter()
                .map(|(change, outcome)| {
                    let (status, token, expires_at, id, error) = match outcome {
                        Outcome::Done {
                            token,
                            id,
                            expires_at,
                        } => (
                            Status::Done,
                            token.clone(),
                            *expires_at,
                            id.as_deref(),
                            None,
                        ),
                        Outcome::Failed { error } => (
                            Status::Failed,
                            None,
                            None,
                            None,
                            Some(Chain(&**error).to_string()),
                        ),
                        Outcome::Skipped { reason } => {
                            (Status::Skipped, None, None, None, Some(reason.clone()))
                        }
                    };
                    let produced = status == Status::Done
                        && matches!(
                            change.action,
                            Action::Issue | Action::Refresh | Action::Rotate
                        );
                    JsonOutcome {
                        address: change.address.to_string(),
                        action: change.action,
                        status,
                        before: change.before.as_ref().and_then(|b| b.fingerprint.clone()),
                        token,
                        expiry: change
                            .after
                            .as_ref()
                            .and_then(|a| a.expiry)
                            .filter(|_| produced),
                        expires_at,
                        id,
                        error,
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::apply::ChangeError;

    /// An error's text may quote Meta or a name: the report escapes its
    /// control and bidirectional characters, as a plan does.
    #[test]
    fn an_errors_control_characters_are_escaped() {
        let plan = crate::plan_file::tests::plan();
        let error = ChangeError::UnknownBusiness("acme\u{1b}[2J\u{202e}".to_owned());
        let report = ApplyReport {
            outcomes: vec![(
                plan.changes[0].clone(),
                Outcome::Failed {
                    error: Arc::new(error),
                },
            )],
            plan,
        };
        let json = report.to_json();
        assert!(json.contains(r"acme\u001b[2J\u202e"), "{json}");
        assert!(!json.contains('\u{1b}') && !json.contains('\u{202e}'));
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(parsed["changes"][0]["status"], "failed", "{parsed:#}");
    }
}
