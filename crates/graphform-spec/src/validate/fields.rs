//! The values that recur across the policy: required fields, names
//! (`[a-z0-9][a-z0-9-]*`), Meta IDs (strings of digits), environment
//! variable names (never a secret pasted in their place) and references to
//! a business's apps; with the suggestions their diagnostics offer.

use super::Validator;
use super::place::At;
use crate::diagnostic::{Code, Diagnostic};
use crate::secret::{Context, is_env_name, looks_like_secret, mask};
use crate::suggest::closest;

impl Validator {
    /// A required field: reports it when absent.
    pub(super) fn required<'v>(
        &mut self,
        at: &At<'_>,
        key: &str,
        value: Option<&'v String>,
        what: &str,
    ) -> Option<&'v String> {
        if value.is_none() {
            self.push(
                Diagnostic::error(Code::MissingField, format!("missing `{key}`"))
                    .at(at.location())
                    .help(format!("add `{key}`: {what}")),
            );
        }
        value
    }

    pub(super) fn name(&mut self, name: &str, at: At<'_>, what: &str) -> bool {
        if is_name(name) {
            return true;
        }
        let suggestion = suggest_name(name);
        let mut diagnostic =
            Diagnostic::error(Code::InvalidName, format!("invalid {what} name `{name}`"))
                .at(at.location())
                .label("expected lowercase letters, digits and `-`");
        diagnostic = match suggestion {
            Some(suggestion) => diagnostic.help(format!(
                "names match `[a-z0-9][a-z0-9-]*`: try `{suggestion}`"
            )),
            None => diagnostic.help("names match `[a-z0-9][a-z0-9-]*`"),
        };
        self.push(diagnostic);
        false
    }

    pub(super) fn id(&mut self, id: &str, at: At<'_>) -> bool {
        if !id.is_empty() && id.bytes().all(|byte| byte.is_ascii_digit()) {
            return true;
        }
        self.push(
            Diagnostic::error(Code::InvalidId, format!("invalid Meta ID `{id}`"))
                .at(at.location())
                .label("expected a string of digits")
                .help("copy the numeric ID from Business Manager, e.g. \"100000000000001\""),
        );
        false
    }

    pub(super) fn app_ref(&mut self, app: &str, at: At<'_>, app_names: &[&str]) -> bool {
        if app_names.contains(&app) {
            return true;
        }
        let help = did_you_mean(app, app_names.iter().copied()).unwrap_or_else(|| {
            if app_names.is_empty() {
                "declare it under the business's `apps`".to_owned()
            } else {
                format!(
                    "the business's apps are {}",
                    app_names
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        });
        self.push(
            Diagnostic::error(Code::UnknownApp, format!("unknown app `{app}`"))
                .at(at.location())
                .label("not in the business's `apps`")
                .help(help),
        );
        false
    }

    pub(super) fn env_name(&mut self, value: &str, at: At<'_>) -> bool {
        // Never quote the value itself: CI logs keep what validate prints
        // (issue 10).
        if looks_like_secret(value, Context::EnvName) {
            self.push(
                Diagnostic::error(
                    Code::SecretInPolicy,
                    format!(
                        "`{}` is not an environment variable name",
                        mask(value)
                    ),
                )
                .at(at.location())
                .label("never write secrets in the policy")
                .help(
                    "this looks like a secret, not an environment variable name: put the value in an \
                     environment variable and write its name here; treat the value as leaked and rotate it",
                ),
            );
            return false;
        }
        if is_env_name(value) {
            return true;
        }
        self.push(
            Diagnostic::error(
                Code::InvalidEnvName,
                format!("`{value}` is not an environment variable name"),
            )
            .at(at.location())
            .label("expected letters, digits and `_`, not starting with a digit")
            .help(format!("for example `{}`", suggest_env_name(value))),
        );
        false
    }
}

pub(super) fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    closest(input, candidates).map(|best| format!("did you mean `{best}`?"))
}

pub(super) fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// A valid name close to an invalid one: `CI_Reporting` → `ci-reporting`.
pub(super) fn suggest_name(name: &str) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            '_' | ' ' | '.' => '-',
            c => c,
        })
        .collect();
    let trimmed = mapped.trim_start_matches('-').to_owned();
    (is_name(&trimmed) && trimmed != name).then_some(trimmed)
}

pub(super) fn suggest_env_name(value: &str) -> String {
    let mapped: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if mapped.starts_with(|c: char| c.is_ascii_digit()) || mapped.is_empty() {
        format!("_{mapped}")
    } else {
        mapped
    }
}
