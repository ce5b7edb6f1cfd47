//! The status as an OpenMetrics text exposition, for `node_exporter`'s
//! textfile collector or a Pushgateway (docs/monitoring.md lists the
//! metrics and alert rules on them).
//!
//! Every family has `# TYPE`, `# HELP` and, for times, `# UNIT seconds`;
//! the exposition ends with `# EOF`. Label values are escaped as the
//! format says (`\\`, `\"`, `\n`); addresses are `[a-z0-9-/]` anyway.
//! Fingerprints are not labels: each refresh would start a new series.

use std::fmt::Write as _;

use graphform_engine::document::ApplyOutcome;
use graphform_engine::status::{Status, TokenState};
use graphform_types::{ExpiryMode, Timestamp};

/// One metric family being written: its samples, then its metadata.
struct Family {
    name: &'static str,
    kind: &'static str,
    unit: Option<&'static str>,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, i64)>,
}

impl Family {
    fn gauge(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: "gauge",
            unit: None,
            help,
            samples: Vec::new(),
        }
    }

    /// A gauge of Unix times, in seconds (its name ends `_seconds`).
    fn time(name: &'static str, help: &'static str) -> Self {
        Self {
            unit: Some("seconds"),
            ..Self::gauge(name, help)
        }
    }

    fn sample(&mut self, labels: Vec<(&'static str, String)>, value: i64) {
        self.samples.push((labels, value));
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        if let Some(unit) = self.unit {
            let _ = writeln!(out, "# UNIT {} {unit}", self.name);
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, escape(self.help));
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            if !labels.is_empty() {
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
                    .collect();
                let _ = write!(out, "{{{}}}", labels.join(","));
            }
            let _ = writeln!(out, " {value}");
        }
    }
}

/// A label value or help text escaped for the exposition format.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn bool_value(value: bool) -> i64 {
    i64::from(value)
}

/// The status as OpenMetrics text, ending in `# EOF`.
pub(crate) fn prometheus(status: &Status) -> String {
    let mut taken = Family::time(
        "graphform_status_timestamp_seconds",
        "When this status was taken (graphform's clock).",
    );
    taken.sample(Vec::new(), status.now.unix());
    let mut checked = Family::gauge(
        "graphform_status_checked",
        "1 when this status asked Meta (debug_token) about every stored token (--check), 0 when it read the store only.",
    );
    checked.sample(Vec::new(), bool_value(status.checked));
    let mut credentials = Family::gauge(
        "graphform_admin_credential_warnings",
        "With --check: how many warnings each business's admin credential has (expiring within 14 days, another app's, without business_management, dead); no series without --check or without warnings.",
    );
    let mut per_business: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for warning in &status.credentials {
        *per_business.entry(warning.business.as_str()).or_default() += 1;
    }
    for (business, count) in per_business {
        credentials.sample(vec![("business", business.to_owned())], count);
    }
    let mut orphaned = Family::gauge(
        "graphform_possibly_orphaned_tokens",
        "How many tokens Meta may have issued for each system user that nobody stored (an apply got no verified outcome for a call that issues a token); no series when there are none. Fix: plan and apply with --invalidate-orphaned.",
    );
    let mut per_user: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for orphan in &status.possibly_orphaned {
        *per_user.entry(orphan.system_user.to_string()).or_default() += 1;
    }
    for (system_user, count) in per_user {
        orphaned.sample(vec![("system_user", system_user)], count);
    }
    let mut out = String::new();
    let families = [taken, checked, credentials, orphaned]
        .into_iter()
        .chain(token_families(status))
        .chain(apply_families(status));
    for family in families {
        family.write(&mut out);
    }
    out.push_str("# EOF\n");
    out
}

/// The families of every token's series.
fn token_families(status: &Status) -> [Family; 7] {
    let mut state = Family::gauge(
        "graphform_token_state",
        "1 for the state each managed token is in (ok, dead: expired or reported dead by Meta, missing: nothing stored), 0 for the others.",
    );
    let mut expiration = Family::time(
        "graphform_token_expiration_timestamp_seconds",
        "When the current value of each managed token expires (60-day tokens; see graphform_token_never_expires for the others).",
    );
    let mut never = Family::gauge(
        "graphform_token_never_expires",
        "1 for each managed token whose current value never expires.",
    );
    let mut next = Family::time(
        "graphform_token_next_action_timestamp_seconds",
        "From when the next time-driven action on each managed token (refresh or rotate) is due.",
    );
    let mut revoke_after = Family::time(
        "graphform_token_revoke_after_timestamp_seconds",
        "When a token value waiting for its revocation may be revoked: a replaced value (kind superseded) or a token removed from the policy (kind retiring).",
    );
    let mut overdue = Family::gauge(
        "graphform_token_revoke_overdue",
        "1 when a revocation is more than a day past its time (a nightly maintenance apply should have made it).",
    );
    let mut drift = Family::gauge(
        "graphform_token_drift",
        "1 when Meta reports something of a stored token that differs from the record (revoked outside graphform, scopes, expiry); only with --check.",
    );

    for token in &status.tokens {
        let address = token.address.to_string();
        let labels = || vec![("address", address.clone())];
        for candidate in TokenState::ALL {
            let mut labels = labels();
            labels.push(("state", candidate.as_str().to_owned()));
            state.sample(labels, bool_value(token.state == candidate));
        }
        if let Some(value) = &token.current {
            match (value.expiry, value.expires_at) {
                (_, Some(at)) => expiration.sample(labels(), at.unix()),
                (ExpiryMode::Never, None) => never.sample(labels(), 1),
                (ExpiryMode::SixtyDays, None) => {}
            }
        }
        if let Some(action) = token.next.filter(|_| token.state == TokenState::Ok) {
            let mut labels = labels();
            labels.push(("action", action.action.as_str().to_owned()));
            next.sample(labels, action.from.unix());
        }
        if let Some(superseded) = &token.superseded {
            waiting(
                &mut revoke_after,
                &mut overdue,
                &address,
                "superseded",
                superseded.revoke_after,
                superseded.revoke_overdue,
            );
        }
        if let Some(check) = &token.check {
            drift.sample(labels(), bool_value(!check.drift.is_empty()));
        }
    }
    for token in &status.retiring {
        let address = token.address.to_string();
        if let Some(at) = token.revoke_after {
            waiting(
                &mut revoke_after,
                &mut overdue,
                &address,
                "retiring",
                at,
                token.revoke_overdue,
            );
        }
        if let Some(superseded) = &token.superseded {
            waiting(
                &mut revoke_after,
                &mut overdue,
                &address,
                "superseded",
                superseded.revoke_after,
                superseded.revoke_overdue,
            );
        }
    }

    [state, expiration, never, next, revoke_after, overdue, drift]
}

/// The families of the last apply's series (without samples until an
/// apply was recorded).
fn apply_families(status: &Status) -> [Family; 5] {
    let mut last = Family::time(
        "graphform_last_apply_timestamp_seconds",
        "When the last apply ended, whatever its outcome.",
    );
    let mut success = Family::gauge(
        "graphform_last_apply_success",
        "1 when the last apply made every change it was allowed to (succeeded, or held changes for review under --only), 0 when it failed.",
    );
    let mut held = Family::gauge(
        "graphform_last_apply_held",
        "1 when the last apply held changes for review (apply --only): a person must apply a reviewed plan.",
    );
    let mut changes = Family::gauge(
        "graphform_last_apply_changes",
        "The changes of the last apply, by result: planned, done, failed, skipped.",
    );
    let mut succeeded_at = Family::time(
        "graphform_last_successful_apply_timestamp_seconds",
        "When the last apply that made every change it was allowed to ended.",
    );
    if let Some(run) = &status.last_apply {
        last.sample(Vec::new(), run.finished_at.unix());
        success.sample(Vec::new(), bool_value(run.outcome != ApplyOutcome::Failed));
        held.sample(Vec::new(), bool_value(run.outcome == ApplyOutcome::Held));
        for (result, count) in [
            ("planned", run.changes.planned),
            ("done", run.changes.done),
            ("failed", run.changes.failed),
            ("skipped", run.changes.skipped),
        ] {
            changes.sample(
                vec![("result", result.to_owned())],
                i64::try_from(count).unwrap_or(i64::MAX),
            );
        }
    }
    if let Some(at) = status.last_successful_apply {
        succeeded_at.sample(Vec::new(), at.unix());
    }

    [last, success, held, changes, succeeded_at]
}

/// The series of a value waiting for its revocation.
fn waiting(
    revoke_after: &mut Family,
    overdue: &mut Family,
    address: &str,
    kind: &'static str,
    at: Timestamp,
    late: bool,
) {
    let labels = vec![("address", address.to_owned()), ("kind", kind.to_owned())];
    revoke_after.sample(labels.clone(), at.unix());
    overdue.sample(labels, bool_value(late));
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn a_rich_status() {
        insta::assert_snapshot!(prometheus(&fixture::rich(true)));
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn it_ends_in_eof_and_names_every_family_once() {
        let text = prometheus(&fixture::rich(false));
        assert!(text.ends_with("\n# EOF\n"), "{text}");
        let types: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .collect();
        let mut names: Vec<&str> = types
            .iter()
            .map(|t| t.split(' ').next().unwrap_or(""))
            .collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "{types:?}");
    }
}
