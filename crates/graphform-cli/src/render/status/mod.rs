//! `graphform status` rendered: a table for people ([`text`]), the
//! versioned model for tools ([`json`]), OpenMetrics for Prometheus
//! ([`prometheus`]) and one self-contained page with an expiry timeline
//! ([`html`]).
//!
//! A [`Status`] holds fingerprints, never values. Its strings (addresses,
//! drift lines, reasons Meta gave) may carry anything a policy or Meta
//! wrote, so each format escapes them its own way: [`escape_text`] for
//! the table, `\uXXXX` in JSON, the exposition format's escapes for label
//! values, and HTML entities in the page.

mod html;
mod prometheus;

use std::fmt::Write as _;

use graphform_engine::document::LastApply;
use graphform_engine::status::{
    CheckedHealth, ManagedToken, PossiblyOrphaned, RetiringToken, Status, Superseded, TokenState,
    Verdict,
};
use graphform_types::Timestamp;
use graphform_types::style::{self, Paint};

use super::{columns, escape_text, relative_date};

pub(crate) use html::html;
pub(crate) use prometheus::prometheus;

/// The status as versioned, pretty-printed JSON, safe to print.
pub(crate) fn json(status: &Status) -> String {
    graphform_engine::plan_file::safe_json(status)
}

/// The status as a table for a terminal or a log.
pub(crate) fn text(status: &Status, paint: Paint) -> String {
    let mut out = String::new();
    let source = if status.checked {
        "the store, checked with Meta"
    } else {
        "the store; `--check` also asks Meta"
    };
    let _ = writeln!(
        out,
        "{}",
        paint.paint(
            style::EMPHASIS,
            &format!("Tokens at {} (from {source}):", status.now)
        )
    );
    let mut header = vec!["TOKEN", "STATE", "FINGERPRINT", "EXPIRES", "NEXT"];
    if status.checked {
        header.push("META");
    }
    let mut rows = Vec::new();
    for token in &status.tokens {
        rows.push(Row::cells(managed_cells(token, status)).styled(state_style(token.state)));
        if let Some(from) = &token.moving_from {
            rows.push(Row::note(format!(
                "stored at {} (renamed_from); the next apply moves it here",
                escape_text(&from.to_string())
            )));
        }
        if let Some(superseded) = &token.superseded {
            rows.push(Row::note(superseded_line(superseded, status.now)));
        }
        for drift in drift_lines(token.check.as_ref()) {
            rows.push(Row::note(drift));
        }
    }
    table(&mut out, &header, &rows, paint);
    if !status.retiring.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            paint.paint(style::EMPHASIS, "Removed from the policy:")
        );
        let mut header = vec!["TOKEN", "FINGERPRINT", "EXPIRES", "REVOKED"];
        if status.checked {
            header.push("META");
        }
        let rows: Vec<Row> = status
            .retiring
            .iter()
            .flat_map(|token| retiring_rows(token, status))
            .collect();
        table(&mut out, &header, &rows, paint);
    }
    out.push('\n');
    super::text::credentials(&mut out, &status.credentials, paint);
    super::text::warnings_section(
        &mut out,
        "Tokens Meta may have issued that nobody stored:",
        status
            .possibly_orphaned
            .iter()
            .map(PossiblyOrphaned::describe),
        paint,
    );
    let _ = writeln!(out, "{}", last_apply_line(status));
    out
}

/// One line of a table: cells, or a note under the row before it.
struct Row {
    cells: Vec<String>,
    note: Option<String>,
    style: Option<anstyle::Style>,
}

impl Row {
    fn cells(cells: Vec<String>) -> Self {
        Self {
            cells,
            note: None,
            style: None,
        }
    }

    fn note(note: String) -> Self {
        Self {
            cells: Vec::new(),
            note: Some(note),
            style: None,
        }
    }

    fn styled(mut self, style: Option<anstyle::Style>) -> Self {
        self.style = style;
        self
    }
}

/// Writes a table: columns padded to their widest cell, notes indented
/// under their row.
fn table(out: &mut String, header: &[&str], rows: &[Row], paint: Paint) {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let cells: Vec<&[String]> = std::iter::once(header.as_slice())
        .chain(
            rows.iter()
                .filter(|row| row.note.is_none())
                .map(|row| row.cells.as_slice()),
        )
        .collect();
    let mut lines = columns(&cells).into_iter();
    if let Some(header) = lines.next() {
        let _ = writeln!(out, "{}", paint.paint(style::DIM, &header));
    }
    for row in rows {
        if let Some(note) = &row.note {
            let _ = writeln!(out, "    {}", paint.paint(style::DIM, note));
            continue;
        }
        let text = lines.next().unwrap_or_default();
        match row.style {
            Some(style) => {
                let _ = writeln!(out, "{}", paint.paint(style, &text));
            }
            None => {
                let _ = writeln!(out, "{text}");
            }
        }
    }
}

fn state_style(state: TokenState) -> Option<anstyle::Style> {
    match state {
        TokenState::Ok => None,
        TokenState::Dead | TokenState::Missing => Some(style::REMOVE),
    }
}

fn managed_cells(token: &ManagedToken, status: &Status) -> Vec<String> {
    let now = status.now;
    let (fingerprint, expires) = match &token.current {
        Some(value) => (
            escape_text(value.fingerprint.as_str()).into_owned(),
            expires_cell(value.expires_at, now),
        ),
        None => ("-".to_owned(), "-".to_owned()),
    };
    let next = next_cell(token, now);
    let mut cells = vec![
        escape_text(&token.address.to_string()).into_owned(),
        token.state.as_str().to_owned(),
        fingerprint,
        expires,
        next,
    ];
    if status.checked {
        cells.push(health_cell(token.check.as_ref()));
    }
    cells
}

/// What happens next to a managed token: `refresh from 2027-01-11 (in
/// 40d)`, `rotate due now`, `issue on the next apply`, …
fn next_cell(token: &ManagedToken, now: Timestamp) -> String {
    match (token.state, token.next) {
        (TokenState::Missing, _) => "issue on the next apply".to_owned(),
        (TokenState::Dead, _) => "re-issue on the next apply".to_owned(),
        (TokenState::Ok, Some(next)) if next.from <= now => {
            format!("{} due now", next.action.as_str())
        }
        (TokenState::Ok, Some(next)) => {
            format!(
                "{} from {}",
                next.action.as_str(),
                relative_date(next.from, now)
            )
        }
        (TokenState::Ok, None) => "-".to_owned(),
    }
}

fn retiring_rows(token: &RetiringToken, status: &Status) -> Vec<Row> {
    let now = status.now;
    let revoked = match token.revoke_after {
        Some(at) if token.revoke_overdue => format!("{} OVERDUE", relative_date(at, now)),
        Some(at) => relative_date(at, now),
        None => "retired by the next apply".to_owned(),
    };
    let mut cells = vec![
        escape_text(&token.address.to_string()).into_owned(),
        escape_text(token.value.fingerprint.as_str()).into_owned(),
        expires_cell(token.value.expires_at, now),
        revoked,
    ];
    if status.checked {
        cells.push(health_cell(token.check.as_ref()));
    }
    let style = token.revoke_overdue.then_some(style::WARNING);
    let mut rows = vec![Row::cells(cells).styled(style)];
    if let Some(superseded) = &token.superseded {
        rows.push(Row::note(superseded_line(superseded, now)));
    }
    rows.extend(drift_lines(token.check.as_ref()).map(Row::note));
    rows
}

/// `2027-01-31 (in 60d)`, `never`, or `2026-11-30 (2d ago)`.
fn expires_cell(expires_at: Option<Timestamp>, now: Timestamp) -> String {
    expires_at.map_or_else(|| "never".to_owned(), |at| relative_date(at, now))
}

fn superseded_line(superseded: &Superseded, now: Timestamp) -> String {
    let overdue = if superseded.revoke_overdue {
        ", OVERDUE"
    } else {
        ""
    };
    let health = superseded
        .check
        .as_ref()
        .map(|check| format!("; Meta: {}", health_cell(Some(check))))
        .unwrap_or_default();
    format!(
        "replaced {} waits for its revocation, due {}{overdue}{health}",
        escape_text(superseded.value.fingerprint.as_str()),
        relative_date(superseded.revoke_after, now)
    )
}

/// What Meta said, in a cell.
fn health_cell(check: Option<&Verdict>) -> String {
    let Some(check) = check else {
        return "-".to_owned();
    };
    let word = match &check.health {
        CheckedHealth::Valid => "valid".to_owned(),
        CheckedHealth::Dead { cause } => format!("dead: {}", cause.describe()),
        CheckedHealth::NoVerdict { .. } => "no verdict".to_owned(),
        CheckedHealth::Unchecked => "unchecked (app not in the policy)".to_owned(),
    };
    if check.drift.is_empty() {
        word
    } else {
        format!("{word}, drift")
    }
}

fn drift_lines(check: Option<&Verdict>) -> impl Iterator<Item = String> + '_ {
    let reason = check.and_then(|check| match &check.health {
        CheckedHealth::NoVerdict { reason } => Some(format!("no verdict: {}", escape_text(reason))),
        _ => None,
    });
    check
        .into_iter()
        .flat_map(|check| &check.drift)
        .map(|drift| format!("drift: {}", escape_text(drift)))
        .chain(reason)
}

/// `Last apply: … succeeded (…); last successful apply: …`, or that none
/// was recorded.
fn last_apply_line(status: &Status) -> String {
    let Some(last) = &status.last_apply else {
        return "Last apply: none recorded (an apply records itself from this version on)."
            .to_owned();
    };
    let LastApply {
        finished_at,
        outcome,
        changes,
        ..
    } = last;
    let mut line = format!(
        "Last apply: {finished_at}, {} ({} planned, {} done, {} failed, {} skipped).",
        outcome.as_str(),
        changes.planned,
        changes.done,
        changes.failed,
        changes.skipped
    );
    match status.last_successful_apply {
        Some(at) if at != *finished_at => {
            let _ = write!(line, " Last successful apply: {at}.");
        }
        Some(_) => {}
        None => line.push_str(" No successful apply recorded."),
    }
    line
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A status with one of everything, for renderer tests.

    use std::collections::BTreeSet;

    use graphform_engine::Action;
    use graphform_engine::document::{ApplyOutcome, ChangeCounts, LastApply};
    use graphform_engine::status::{
        CheckedHealth, ManagedToken, NextAction, PossiblyOrphaned, RetiringToken,
        STATUS_FORMAT_VERSION, Status, Superseded, TokenState, TokenValue, Verdict,
    };
    use graphform_types::{Duration, ExpiryMode, Timestamp, TokenAddress};

    pub(crate) use crate::render::fixture::{HOSTILE, assert_inert};

    /// 2026-11-22 15:30:05 UTC.
    pub(crate) const NOW: i64 = 1_795_361_405;

    fn at(days: i64) -> Timestamp {
        Timestamp::from_unix(NOW) + Duration::days(days)
    }

    fn value(
        fingerprint: &str,
        expiry: ExpiryMode,
        issued: i64,
        expires: Option<i64>,
    ) -> TokenValue {
        TokenValue {
            fingerprint: graphform_types::fingerprint(fingerprint),
            expiry,
            issued_at: at(issued),
            expires_at: expires.map(at),
            scopes: BTreeSet::from(["ads_read".to_owned()]),
        }
    }

    fn address(text: &str) -> TokenAddress {
        text.parse().expect("an address")
    }

    /// The removed tokens of [`rich`]: one overdue, one the next apply
    /// retires.
    fn retiring(checked: bool) -> Vec<RetiringToken> {
        let valid = || {
            checked.then_some(Verdict {
                health: CheckedHealth::Valid,
                drift: Vec::new(),
            })
        };
        vec![
            RetiringToken {
                address: address("acme/ci-reporting/token/old"),
                value: value("0123456789ab", ExpiryMode::SixtyDays, -30, Some(30)),
                revoke_after: Some(at(-3)),
                revoke_overdue: true,
                superseded: None,
                check: valid(),
            },
            RetiringToken {
                address: address("acme/ci-reporting/token/spare"),
                value: value("ba9876543210", ExpiryMode::Never, -10, None),
                revoke_after: None,
                revoke_overdue: false,
                superseded: None,
                check: valid(),
            },
        ]
    }

    /// Every kind of row: ok 60-day with a superseded value, never
    /// expiring, dead, missing, retiring (overdue), to be retired.
    pub(crate) fn rich(checked: bool) -> Status {
        let valid = |drift: Vec<String>| {
            checked.then_some(Verdict {
                health: CheckedHealth::Valid,
                drift,
            })
        };
        Status {
            format_version: STATUS_FORMAT_VERSION,
            now: at(0),
            checked,
            tokens: vec![
                ManagedToken {
                    address: address("acme/ci-reporting/token/insights-read"),
                    state: TokenState::Ok,
                    expiry: ExpiryMode::SixtyDays,
                    current: Some(value("3ec1f444f608", ExpiryMode::SixtyDays, -5, Some(55))),
                    next: Some(NextAction {
                        action: Action::Refresh,
                        from: at(35),
                    }),
                    superseded: Some(Superseded {
                        value: value("301489c0203b", ExpiryMode::SixtyDays, -45, Some(15)),
                        revoke_after: at(1),
                        revoke_overdue: false,
                        check: valid(Vec::new()),
                    }),
                    check: valid(vec!["Meta reports scopes -ads_read".to_owned()]),
                    moving_from: None,
                },
                ManagedToken {
                    address: address("acme/ci-reporting/token/feed"),
                    state: TokenState::Ok,
                    expiry: ExpiryMode::Never,
                    current: Some(value("5d04d0793468", ExpiryMode::Never, -100, None)),
                    next: Some(NextAction {
                        action: Action::Rotate,
                        from: at(265),
                    }),
                    superseded: None,
                    check: valid(Vec::new()),
                    moving_from: Some(address("acme/ci-reporting/token/events")),
                },
                ManagedToken {
                    address: address("acme/exporter/token/gone"),
                    state: TokenState::Dead,
                    expiry: ExpiryMode::SixtyDays,
                    current: Some(value("aa11bb22cc33", ExpiryMode::SixtyDays, -62, Some(-2))),
                    next: Some(NextAction {
                        action: Action::Refresh,
                        from: at(-22),
                    }),
                    superseded: None,
                    check: checked.then(|| Verdict {
                        health: CheckedHealth::Dead {
                            cause: graphform_engine::state::DeadCause::Expired,
                        },
                        drift: Vec::new(),
                    }),
                    moving_from: None,
                },
                ManagedToken {
                    address: address("acme/exporter/token/new"),
                    state: TokenState::Missing,
                    expiry: ExpiryMode::SixtyDays,
                    current: None,
                    next: None,
                    superseded: None,
                    check: None,
                    moving_from: None,
                },
            ],
            retiring: retiring(checked),
            last_apply: Some(LastApply {
                started_at: at(-1),
                finished_at: at(-1) + Duration::seconds(12),
                outcome: ApplyOutcome::Failed,
                changes: ChangeCounts {
                    planned: 3,
                    done: 1,
                    failed: 1,
                    skipped: 1,
                },
            }),
            last_successful_apply: Some(at(-2)),
            credentials: vec![admin_expiring()],
            possibly_orphaned: vec![PossiblyOrphaned {
                system_user: "acme/exporter".parse().expect("an address"),
                system_user_id: "615500000000002".to_owned(),
                address: graphform_types::Address::Token(address("acme/exporter/token/new")),
                action: "issue".to_owned(),
                started_at: at(-1),
            }],
        }
    }

    /// An admin token that expires in nine days, as `--check` reports it.
    fn admin_expiring() -> graphform_engine::admin::CredentialWarning {
        graphform_engine::admin::CredentialWarning {
            business: "acme".to_owned(),
            variable: "ACME_ADMIN_TOKEN".to_owned(),
            message: "the admin token in `ACME_ADMIN_TOKEN` expires at 2027-01-10 00:00 UTC (in 9 days): generate a new one (a never-expiring token of an admin system user does not need this) and set `ACME_ADMIN_TOKEN` before then".to_owned(),
        }
    }

    /// A status whose every free string holds [`HOSTILE`]: a fingerprint
    /// (a hand-edited store can hold any string), drift lines and a
    /// no-verdict reason from Meta. Addresses are parsed, so they are
    /// `[a-z0-9-]` and cannot be odd.
    pub(crate) fn hostile() -> Status {
        let mut status = rich(true);
        let forged: graphform_types::Fingerprint =
            serde_json::from_value(serde_json::Value::String(HOSTILE.to_owned()))
                .expect("a fingerprint is a string");
        let token = &mut status.tokens[0];
        if let Some(value) = token.current.as_mut() {
            value.fingerprint = forged.clone();
        }
        token.check = Some(Verdict {
            health: CheckedHealth::NoVerdict {
                reason: HOSTILE.to_owned(),
            },
            drift: vec![HOSTILE.to_owned()],
        });
        status.retiring[0].value.fingerprint = forged;
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rich_status_as_text() {
        insta::assert_snapshot!(text(&fixture::rich(false), Paint::plain()));
    }

    #[test]
    fn a_checked_status_as_text() {
        insta::assert_snapshot!(text(&fixture::rich(true), Paint::plain()));
    }

    #[test]
    fn the_json_reads_back() {
        let status = fixture::rich(true);
        let back: Status = serde_json::from_str(&json(&status)).expect("a status");
        assert_eq!(back, status);
    }
}
