//! The markdown rendering of a plan, for pull-request comments: the summary
//! first, a warning banner for risky changes, a `<details>` section per
//! business, and the expiry table. It stays under GitHub's comment limit.
//!
//! Every string of the plan goes through [`escape`], alone or inside
//! [`code`] or [`prose`]: names from Meta cannot hide the rest of the
//! comment or restructure it (issue 10).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use graphform_engine::{Action, Change, NoticeLevel, Plan};
use graphform_types::ExpiryMode;

use super::{is_unprintable, owners, summary, symbol, timeline_cells};

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
        "<sub>policy {} · state {} · fingerprints only, never token values</sub>",
        code(short(&plan.policy_hash)),
        code(short(&plan.state_hash))
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
        .filter(|c| c.after.as_ref().and_then(|a| a.expiry) == Some(ExpiryMode::Never))
        .count();
    if never > 0 {
        risks.push(format!(
            "issues {never} never-expiring token{}",
            if never == 1 { "" } else { "s" }
        ));
    }
    let widened: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| {
            let before = c.before.as_ref().and_then(|b| b.scopes.as_ref());
            let after = c.after.as_ref().and_then(|a| a.scopes.as_ref());
            matches!((before, after), (Some(before), Some(after)) if !after.is_subset(before))
        })
        .map(|c| code(&c.address.to_string()))
        .collect();
    if !widened.is_empty() {
        risks.push(format!("widens the scopes of {}", widened.join(", ")));
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
            "- {level} {}: {}",
            code(&notice.address.to_string()),
            prose(&notice.message)
        );
    }
    out.push('\n');
}

fn business_section(business: &str, changes: &[&Change]) -> String {
    let mut out = String::new();
    let counts = changes.len();
    let _ = writeln!(
        out,
        "<details><summary><b>{}</b>: {counts} change{}</summary>\n",
        escape(business),
        if counts == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "| | address | action | why |\n|---|---|---|---|");
    for change in changes {
        let mut why = prose(&change.reason);
        if let Some(drift) = &change.drift {
            let _ = write!(why, "<br>**drift:** {}", prose(drift));
        }
        if let Some(fingerprint) = change.before.as_ref().and_then(|b| b.fingerprint.as_ref()) {
            let expires = change
                .before
                .as_ref()
                .and_then(|b| b.expires_at)
                .map(|at| format!(", expires {}", at.date()))
                .unwrap_or_default();
            let _ = write!(
                why,
                "<br><sub>{}{expires}</sub>",
                code(fingerprint.as_str())
            );
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {why} |",
            symbol(change.action),
            code(&change.address.to_string()),
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
            "| {} | {} | {expires} | {next} |",
            code(&entry.address.to_string()),
            code(entry.fingerprint.as_str())
        );
    }
    out.push('\n');
    out
}

/// Text from a plan (or from Meta) as markdown that shows exactly that
/// text, in a paragraph, a table cell or an HTML block alike:
///
/// - `<`, `>` and `&` become HTML entities: no tag, no `<!--` that
///   would hide the rest of the comment from reviewers;
/// - `|` becomes `&#124;`: no extra table column (GitHub splits rows on
///   `|` before it decodes entities);
/// - `` ` `` becomes `&#96;`: no code span opened or closed;
/// - `[`, `]` and `\` become entities: no link that disguises its target,
///   no backslash that escapes graphform's own markup;
/// - control and invisible characters (the newline included, so no line of
///   its own: no heading, no list item) are shown as `\u{1b}`, as in text.
///
/// Emphasis (`*`, `_`, `~`) is left alone: it cannot hide anything, and
/// scopes such as `ads_read` stay readable in the comment's source.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("&#124;"),
            '`' => out.push_str("&#96;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '\\' => out.push_str("&#92;"),
            c if is_unprintable(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// A name or an address, in monospace. An HTML `<code>` element rather
/// than a code span: no backtick in the text can close it, and GitHub
/// decodes the entities of [`escape`] inside it (and links no `@mention`).
fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// A reason, a drift or a notice: a sentence whose `` `quoted` `` parts are
/// names. Each quoted part is shown with [`code`], the rest with
/// [`escape`]; an unpaired backtick is shown as it is.
fn prose(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    let mut out = String::with_capacity(text.len());
    for (index, part) in parts.iter().enumerate() {
        if index % 2 == 0 {
            out.push_str(&escape(part));
        } else if index + 1 < parts.len() {
            // A backtick follows: the part is quoted. (With an odd number
            // of backticks, the last part follows an unpaired one.)
            out.push_str(&code(part));
        } else {
            out.push_str("&#96;");
            out.push_str(&escape(part));
        }
    }
    out
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
                change.address = format!("b{:04}/user/token/t{i}", i / 10)
                    .parse()
                    .expect("an address");
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
        for raw in ["<!--", "<b>bold", "`tick`", "[link]("] {
            assert!(!rendered.contains(raw), "raw `{raw}` in:\n{rendered}");
        }
        assert!(!rendered.lines().any(|line| line.starts_with("# heading")));
        for line in rendered.lines().filter(|line| line.starts_with('|')) {
            assert_eq!(line.matches('|').count(), 5, "{line}");
        }
        // The hostile text is still there for the reviewer to see.
        assert!(rendered.contains("&lt;!-- hidden"), "{rendered}");
    }

    #[test]
    fn escaped_names_read_as_they_are() {
        assert_eq!(
            code("evil <!-- | `x` [a](b) \\ & \u{202e}\n#"),
            "<code>evil &lt;!-- &#124; &#96;x&#96; &#91;a&#93;(b) &#92; &amp; \\u{202e}\\u{a}#</code>"
        );
        assert_eq!(escape("ads_read"), "ads_read");
    }

    #[test]
    fn quoted_names_in_reasons_are_code_and_unpaired_backticks_are_text() {
        assert_eq!(
            prose("no system user named `ci-reporting` in business 1"),
            "no system user named <code>ci-reporting</code> in business 1"
        );
        assert_eq!(prose("a `b` c`d"), "a <code>b</code> c&#96;d");
        assert_eq!(prose("`<!--`"), "<code>&lt;!--</code>");
        assert_eq!(prose(""), "");
    }

    #[test]
    fn no_banner_without_risk() {
        let rendered = markdown(&fixture::empty());
        assert!(!rendered.contains("[!WARNING]"));
        assert!(rendered.contains("No changes. Everything matches the policy."));
    }
}
