//! The markdown rendering of a plan, for pull-request comments: the summary
//! first, a warning banner for risky changes, a `<details>` section per
//! business, and the expiry table. It stays under GitHub's comment limit.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use graphform_engine::time::format_date;
use graphform_engine::{Action, Change, NoticeLevel, Plan};

use super::{owners, summary, symbol, timeline_cells};

/// GitHub refuses comments longer than this many characters.
pub(crate) const GITHUB_COMMENT_LIMIT: usize = 65_536;
/// Room kept for the truncation note and the closing lines.
const RESERVE: usize = 2_000;

pub(crate) fn markdown(plan: &Plan) -> String {
    markdown_within(plan, GITHUB_COMMENT_LIMIT)
}

/// Renders within `limit` characters: business sections that do not fit
/// are left out, with a note saying how many changes were omitted.
pub(crate) fn markdown_within(plan: &Plan, limit: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### graphform plan\n\n**{}**\n", summary(plan));
    banner(&mut out, plan);
    notices(&mut out, plan);
    let head_len = out.chars().count();

    let mut by_business: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for change in &plan.changes {
        by_business
            .entry(owners(&change.address).0)
            .or_default()
            .push(change);
    }
    let table = timeline(plan);
    let budget = limit.saturating_sub(head_len + table.chars().count() + RESERVE);
    let mut used = 0;
    let mut omitted = 0;
    for (business, changes) in &by_business {
        let section = business_section(business, changes);
        let length = section.chars().count();
        if used + length > budget {
            omitted += changes.len();
            continue;
        }
        used += length;
        out.push_str(&section);
    }
    if omitted > 0 {
        let _ = writeln!(
            out,
            "> [!NOTE]\n> {omitted} more changes are not shown to stay under GitHub's comment limit; \
             run `graphform show` on the saved plan, or `graphform plan`, for all of them.\n"
        );
    }
    if table.chars().count() + out.chars().count() + RESERVE / 2 < limit {
        out.push_str(&table);
    }
    let _ = writeln!(
        out,
        "<sub>policy `{}` · state `{}` · fingerprints only, never token values</sub>",
        short(&plan.policy_hash),
        short(&plan.state_hash)
    );
    out
}

fn short(hash: &str) -> &str {
    hash.get(..19).unwrap_or(hash)
}

/// A banner when the plan revokes tokens, issues never-expiring ones or
/// widens scopes: the changes a reviewer must not miss.
fn banner(out: &mut String, plan: &Plan) {
    let mut risks = Vec::new();
    let revokes = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Revoke)
        .count();
    if revokes > 0 {
        risks.push(format!(
            "revokes {revokes} token{}",
            if revokes == 1 { "" } else { "s" }
        ));
    }
    let never = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Issue | Action::Rotate))
        .filter(|c| c.after.as_ref().and_then(|a| a.expiry.as_deref()) == Some("never"))
        .count();
    if never > 0 {
        risks.push(format!(
            "issues {never} never-expiring token{}",
            if never == 1 { "" } else { "s" }
        ));
    }
    let widened: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| {
            let before = c.before.as_ref().and_then(|b| b.scopes.as_ref());
            let after = c.after.as_ref().and_then(|a| a.scopes.as_ref());
            matches!((before, after), (Some(before), Some(after)) if !after.is_subset(before))
        })
        .map(|c| c.address.as_str())
        .collect();
    if !widened.is_empty() {
        risks.push(format!(
            "widens the scopes of {}",
            widened
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !risks.is_empty() {
        let _ = writeln!(out, "> [!WARNING]\n> This plan {}.\n", risks.join("; "));
    }
}

fn notices(out: &mut String, plan: &Plan) {
    if plan.notices.is_empty() {
        return;
    }
    let _ = writeln!(out, "**Noticed, not changed:**\n");
    for notice in &plan.notices {
        let level = match notice.level {
            NoticeLevel::Warning => "⚠️",
            NoticeLevel::Info => "ℹ️",
        };
        let _ = writeln!(
            out,
            "- {level} `{}`: {}",
            notice.address,
            escape(&notice.message)
        );
    }
    out.push('\n');
}

fn business_section(business: &str, changes: &[&Change]) -> String {
    let mut out = String::new();
    let counts = changes.len();
    let _ = writeln!(
        out,
        "<details><summary><b>{business}</b>: {counts} change{}</summary>\n",
        if counts == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "| | address | action | why |\n|---|---|---|---|");
    for change in changes {
        let mut why = escape(&change.reason);
        if let Some(drift) = &change.drift {
            let _ = write!(why, "<br>**drift:** {}", escape(drift));
        }
        if let Some(fingerprint) = change.before.as_ref().and_then(|b| b.fingerprint.as_ref()) {
            let expires = change
                .before
                .as_ref()
                .and_then(|b| b.expires_at)
                .map(|at| format!(", expires {}", format_date(at)))
                .unwrap_or_default();
            let _ = write!(why, "<br><sub>`{fingerprint}`{expires}</sub>");
        }
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {why} |",
            symbol(change.action),
            change.address,
            change.action.as_str(),
        );
    }
    let _ = writeln!(out, "\n</details>\n");
    out
}

fn timeline(plan: &Plan) -> String {
    if plan.timeline.is_empty() {
        return String::new();
    }
    let now = plan.created_at;
    let mut out = String::from(
        "**Expiry timeline**\n\n| token | fingerprint | expires | next |\n|---|---|---|---|\n",
    );
    for entry in &plan.timeline {
        let (expires, next) = timeline_cells(entry, now);
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {expires} | {next} |",
            entry.address, entry.fingerprint
        );
    }
    out.push('\n');
    out
}

/// Keeps user-influenced text from breaking the table.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    #[test]
    fn a_rich_plan() {
        insta::assert_snapshot!(markdown(&fixture::rich()));
    }

    #[test]
    fn a_huge_plan_stays_under_the_comment_limit_with_a_note() {
        let mut plan = fixture::rich();
        let template = plan.changes[2].clone();
        plan.changes = (0..3000)
            .map(|i| {
                let mut change = template.clone();
                change.address = format!("b{:04}/user/token/t{i}", i / 10);
                change
            })
            .collect();
        let rendered = markdown(&plan);
        assert!(
            rendered.chars().count() < GITHUB_COMMENT_LIMIT,
            "{}",
            rendered.chars().count()
        );
        assert!(rendered.contains("more changes are not shown"));
        assert!(
            rendered.starts_with(
                "### graphform plan\n\n**Plan: 0 to create, 0 to install, 3000 to issue"
            )
        );
    }

    /// Names from Meta cannot hide or restructure a PR comment: no HTML
    /// comment or tag, no backtick breaking out of code, no pipe adding a
    /// table column, no newline starting a heading, no link, no control or
    /// bidi character. See issue 10.
    #[test]
    fn hostile_names_cannot_hide_or_restructure_the_comment() {
        let rendered = markdown(&fixture::hostile());
        fixture::assert_inert(&rendered);
        for raw in ["<!--", "<b>bold", "`tick`", "[link](", "# heading"] {
            assert!(!rendered.contains(raw), "raw `{raw}` in:\n{rendered}");
        }
        for line in rendered.lines().filter(|line| line.starts_with('|')) {
            assert_eq!(line.matches('|').count(), 5, "{line}");
        }
        // The hostile text is still there for the reviewer to see.
        assert!(rendered.contains("&lt;!-- hidden"), "{rendered}");
    }

    #[test]
    fn no_banner_without_risk() {
        let rendered = markdown(&fixture::empty());
        assert!(!rendered.contains("[!WARNING]"));
        assert!(rendered.contains("No changes. Everything matches the policy."));
    }
}
