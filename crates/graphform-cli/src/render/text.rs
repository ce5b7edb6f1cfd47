//! The text rendering of a plan: grouped by business and system user,
//! Terraform-like symbols, fingerprints only, colour when wanted. Every
//! string of the plan goes through [`escape_text`] (issue 10).

use std::fmt::Write as _;

use anstyle::Style;
use graphform_engine::{Action, Change, NoticeLevel, Plan, Snapshot};
use graphform_types::style::{self, Paint};
use graphform_types::{ExpiryMode, Timestamp};

use super::{columns, escape_text, owners, relative_date, summary, symbol, timeline_cells};

/// The style of an action's symbol and name.
fn action_style(action: Action) -> Style {
    match action {
        Action::Create | Action::Install | Action::Issue | Action::Reinstate => style::ADD,
        Action::Refresh | Action::Rename | Action::Move => style::CHANGE,
        Action::Rotate => style::REPLACE,
        Action::Revoke | Action::Forget | Action::Invalidate | Action::Retire => style::REMOVE,
    }
}

/// Renders a plan for a terminal or a log. `now` is the plan's own time, so
/// the output is a pure function of the plan.
pub(crate) fn text(plan: &Plan, paint: Paint) -> String {
    let mut out = String::new();
    if plan.has_changes() {
        let _ = writeln!(out, "graphform will make these changes:\n");
        changes(&mut out, plan, paint);
    }
    credentials(&mut out, &plan.credentials, paint);
    notices(&mut out, plan, paint);
    timeline(&mut out, plan, paint);
    let _ = writeln!(out, "{}", paint.paint(style::EMPHASIS, &summary(plan)));
    if let Some(valid_until) = plan.valid_until.filter(|_| plan.has_changes()) {
        let _ = writeln!(
            out,
            "{}",
            paint.paint(
                style::DIM,
                &format!("This plan is valid until {valid_until}.")
            )
        );
    }
    out
}

fn changes(out: &mut String, plan: &Plan, paint: Paint) {
    let mut business = "";
    let mut user = "";
    for change in &plan.changes {
        let (this_business, this_user) = owners(&change.address);
        if this_business != business {
            let _ = writeln!(
                out,
                "{}",
                paint.paint(style::EMPHASIS, &escape_text(this_business))
            );
            business = this_business;
            user = "";
        }
        if this_user != user {
            let _ = writeln!(out, "  {}", escape_text(this_user));
            user = this_user;
        }
        let _ = writeln!(
            out,
            "  {} {}",
            paint.paint(
                action_style(change.action),
                &format!("{:>3} {:<7}", symbol(change.action), change.action.as_str())
            ),
            escape_text(&change.address.to_string())
        );
        let pad = " ".repeat(14);
        let _ = writeln!(out, "{pad}{}", escape_text(&change.reason));
        if let Some(drift) = &change.drift {
            let _ = writeln!(
                out,
                "{pad}{}",
                paint.paint(style::WARNING, &format!("drift: {}", escape_text(drift)))
            );
        }
        if let Some(detail) = detail(change, plan.created_at) {
            let _ = writeln!(
                out,
                "{pad}{}",
                paint.paint(style::DIM, &escape_text(&detail))
            );
        }
    }
    out.push('\n');
}

/// The second line of a change: what it acts on and what it produces.
fn detail(change: &Change, now: Timestamp) -> Option<String> {
    let before = change.before.as_ref();
    let after = change.after.as_ref();
    let old = before
        .and_then(|b| b.fingerprint.as_ref())
        .map(|fingerprint| {
            let expires = before
                .and_then(|b| b.expires_at)
                .map(|at| format!(", expires {}", relative_date(at, now)))
                .unwrap_or_default();
            format!("{fingerprint}{expires}")
        });
    match change.action {
        Action::Create => after
            .and_then(|a| a.role.as_ref())
            .map(|role| format!("role {role}")),
        Action::Install => after
            .and_then(|a| a.app_id.as_ref())
            .map(|id| format!("app ID {id}")),
        Action::Issue => {
            let new = after.map(describe_token).unwrap_or_default();
            Some(match old {
                Some(old) => format!("replaces {old} with a new token ({new})"),
                None => format!("new token ({new})"),
            })
        }
        Action::Refresh => old.map(|old| {
            format!("{old} → a new 60-day token; the old one is kept for its grace period")
        }),
        Action::Rotate => {
            let new = after.map(describe_token).unwrap_or_default();
            old.map(|old| {
                format!("{old} → a new token ({new}); the old one is kept for its grace period")
            })
        }
        Action::Revoke | Action::Forget | Action::Retire | Action::Reinstate => old,
        Action::Rename | Action::Move => change.moved_from.as_ref().map(|from| match old {
            Some(old) => format!("from {from}: {old}"),
            None => format!("from {from}"),
        }),
        Action::Invalidate => before.and_then(|b| b.id.as_ref()).map(|id| {
            format!("every token of system user {id}; the managed ones are re-issued below")
        }),
    }
}

fn describe_token(snapshot: &Snapshot) -> String {
    let scopes = snapshot
        .scopes
        .as_ref()
        .map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let expiry = snapshot.expiry.map_or("60d", ExpiryMode::as_str);
    format!("{scopes}; expiry {expiry}")
}

/// The admin credentials that need attention, under `Credentials:` and
/// followed by a blank line; nothing when there are none (plan and
/// status).
pub(crate) fn credentials(
    out: &mut String,
    warnings: &[graphform_engine::admin::CredentialWarning],
    paint: Paint,
) {
    warnings_section(
        out,
        "Credentials:",
        warnings
            .iter()
            .map(|warning| format!("business {}: {}", warning.business, warning.message)),
        paint,
    );
}

/// A section of warnings under `heading`, one `warning: …` line each
/// (escaped), then a blank line; nothing when there are none.
pub(crate) fn warnings_section(
    out: &mut String,
    heading: &str,
    lines: impl IntoIterator<Item = String>,
    paint: Paint,
) {
    let mut lines = lines.into_iter().peekable();
    if lines.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "{}", paint.paint(style::EMPHASIS, heading));
    for line in lines {
        let _ = writeln!(
            out,
            "  {}: {}",
            paint.paint(style::WARNING, "warning"),
            escape_text(&line)
        );
    }
    out.push('\n');
}

fn notices(out: &mut String, plan: &Plan, paint: Paint) {
    if plan.notices.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{}",
        paint.paint(style::EMPHASIS, "Noticed, not changed:")
    );
    for notice in &plan.notices {
        let level = match notice.level {
            NoticeLevel::Warning => paint.paint(style::WARNING, "warning"),
            NoticeLevel::Info => paint.paint(style::DIM, "info"),
        };
        let _ = writeln!(
            out,
            "  {level}: {}: {}",
            escape_text(&notice.address.to_string()),
            escape_text(&notice.message)
        );
    }
    out.push('\n');
}

fn timeline(out: &mut String, plan: &Plan, paint: Paint) {
    if plan.timeline.is_empty() {
        return;
    }
    let now = plan.created_at;
    let rows: Vec<[String; 4]> = plan
        .timeline
        .iter()
        .map(|entry| {
            let (expires, next) = timeline_cells(entry, now);
            [
                escape_text(&entry.address.to_string()).into_owned(),
                escape_text(entry.fingerprint.as_str()).into_owned(),
                expires,
                next,
            ]
        })
        .collect();
    let header = ["TOKEN", "FINGERPRINT", "EXPIRES", "NEXT"].map(str::to_owned);
    let lines = columns(&std::iter::once(header).chain(rows).collect::<Vec<_>>());
    let _ = writeln!(out, "{}", paint.paint(style::EMPHASIS, "Expiry timeline:"));
    for (index, line) in lines.iter().enumerate() {
        if index == 0 {
            let _ = writeln!(out, "{}", paint.paint(style::DIM, line));
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    #[test]
    fn a_rich_plan() {
        insta::assert_snapshot!(text(&fixture::rich(), Paint::plain()));
    }

    #[test]
    fn no_changes() {
        insta::assert_snapshot!(text(&fixture::empty(), Paint::plain()), @r"
        Expiry timeline:
          TOKEN                          FINGERPRINT          EXPIRES              NEXT
          acme/reporter/token/insights   sha256:3ec1f444f608  2026-12-04 (in 12d)  refresh due now
          acme/reporter/token/ads-write  sha256:301489c0203b  2027-01-01 (in 40d)  refresh from 2026-12-12
          globex/exporter/token/feed     sha256:5d04d0793468  dead                 refresh from 2026-12-02

        No changes. Everything matches the policy.
        ");
    }

    /// Names from Meta cannot rewrite the terminal: control and bidi
    /// characters are shown escaped, with or without colour. See issue 10.
    #[test]
    fn hostile_names_are_shown_escaped_not_obeyed() {
        let plan = fixture::hostile();
        let plain = text(&plan, Paint::plain());
        fixture::assert_inert(&plain);
        assert!(plain.contains(r"evil\u{1b}[2J"), "{plain}");
        assert!(plain.contains(r"\u{202e}txt.exe"), "{plain}");
        // With colour, the only escape sequences are graphform's own:
        // taking out every style of the palette leaves the plain text.
        let coloured = text(&plan, Paint::new(true));
        assert_ne!(coloured, plain);
        assert_eq!(strip_palette(&coloured), plain);
    }

    /// `text` without the escape sequences of graphform's palette.
    fn strip_palette(text: &str) -> String {
        let palette = [
            style::ERROR,
            style::WARNING,
            style::NOTE,
            style::EMPHASIS,
            style::DIM,
            style::ADD,
            style::CHANGE,
            style::REPLACE,
            style::REMOVE,
        ];
        let mut stripped = text.replace(&style::ADD.render_reset().to_string(), "");
        for style in palette {
            stripped = stripped.replace(&style.render().to_string(), "");
        }
        stripped
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = text(&fixture::rich(), Paint::plain());
        let coloured = text(&fixture::rich(), Paint::new(true));
        assert!(!plain.contains('\x1b'));
        assert!(coloured.contains(&Paint::new(true).paint(style::ADD, "  + create ")));
        assert_eq!(strip_palette(&coloured), plain);
    }
}
