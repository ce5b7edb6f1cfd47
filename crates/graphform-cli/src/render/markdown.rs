//! The markdown rendering of a plan, for pull-request comments: what a
//! security reviewer reads before approving (issue 13).
//!
//! - A header: the summary, how many changes need review, when the plan
//!   was made and until when `apply` takes it, and with which graphform,
//!   Graph API and store.
//! - Banners (GitHub alerts) for what deserves a second look, each naming
//!   the addresses concerned: live tokens revoked with nothing replacing
//!   them, invalidations, never-expiring tokens, high-privilege scopes
//!   ([`is_high_privilege`]), widened scopes, drift, possibly orphaned
//!   tokens.
//! - One table per business, a row per change: the token's scopes and
//!   expiry, which value it acts on, and whether it is time-driven
//!   maintenance.
//! - The expiry timeline.
//!
//! It stays under GitHub's comment limit ([`GITHUB_COMMENT_LIMIT`]), giving
//! up first the timeline (summarised, then left out), then the notices
//! (counted), and changes last: only when the changes alone do not fit are
//! rows left out, whole, with a note saying how many and where the full
//! plan is.
//!
//! Every string of the plan goes through [`escape`], alone or inside
//! [`code`], [`name`] or [`prose`]: names from Meta cannot hide the rest of
//! the comment or restructure it (issue 10).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use graphform_engine::{
    Action, Change, Maintenance, NoticeKind, NoticeLevel, Plan, Snapshot, TokenStatus,
};
use graphform_types::scope::is_high_privilege;
use graphform_types::{Address, ExpiryMode};

use super::{is_unprintable, owners, relative_date, summary, symbol, timeline_cells};

/// GitHub refuses comments longer than this many characters.
pub(crate) const GITHUB_COMMENT_LIMIT: usize = 65_536;
/// With at most this many changes, every business's table is open.
const FEW_CHANGES: usize = 20;
/// A banner names at most this many addresses, then says how many more.
const NAMED: usize = 5;
/// A recorded origin string (Graph URL, store) is shown up to this many
/// characters: a plan file is anyone's to edit.
const ORIGIN_CHARS: usize = 200;
/// Room kept, when rows are left out, for the note that says so.
const NOTE_RESERVE: usize = 600;

/// How much of the expiry timeline a comment shows: the first thing given
/// up for room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimelineDetail {
    /// A row per token.
    Table,
    /// A line per status.
    Summary,
    /// One line saying it is left out.
    Omitted,
}

/// How much of the notices a comment shows: given up after the timeline,
/// before any change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoticeDetail {
    /// Every notice.
    All,
    /// Every warning; the informational ones counted.
    Warnings,
    /// Counted.
    Counted,
}

/// The layouts tried in turn, from the fullest: the first that fits wins.
const LAYOUTS: [(TimelineDetail, NoticeDetail); 5] = [
    (TimelineDetail::Table, NoticeDetail::All),
    (TimelineDetail::Summary, NoticeDetail::All),
    (TimelineDetail::Omitted, NoticeDetail::All),
    (TimelineDetail::Omitted, NoticeDetail::Warnings),
    (TimelineDetail::Omitted, NoticeDetail::Counted),
];

pub(crate) fn markdown(plan: &Plan) -> String {
    markdown_within(plan, GITHUB_COMMENT_LIMIT)
}

/// Renders in fewer than `limit` characters (GitHub counts characters, not
/// bytes). The timeline, then the notices, give way first; every change is
/// shown whenever the changes fit. Otherwise as many whole rows as fit are
/// shown, in plan order, with a note saying how many are not and where
/// the full plan is.
pub(crate) fn markdown_within(plan: &Plan, limit: usize) -> String {
    let head = head(plan);
    let footer = footer(plan);
    let sections = sections(plan);
    let open = plan.changes.len() <= FEW_CHANGES;
    let every_change: String = sections
        .iter()
        .map(|section| section.render(section.rows.len(), open))
        .collect();
    for (timeline_detail, notice_detail) in LAYOUTS {
        let parts = [
            head.as_str(),
            &notices(plan, notice_detail),
            &every_change,
            &timeline(plan, timeline_detail),
            &footer,
        ];
        if parts.iter().map(|part| length(part)).sum::<usize>() < limit {
            return parts.concat();
        }
    }

    // The changes alone do not fit: as many whole rows as do, in plan
    // order, and a note. A row or a section is never cut.
    let notices = notices(plan, NoticeDetail::Counted);
    let timeline = timeline(plan, TimelineDetail::Omitted);
    let fixed = [&head, &notices, &timeline, &footer]
        .iter()
        .map(|part| length(part))
        .sum::<usize>()
        + NOTE_RESERVE;
    let mut room = limit.saturating_sub(fixed);
    let mut shown_sections = String::new();
    let mut shown = 0;
    for section in &sections {
        let mut cost = section.frame_length(open);
        let mut rows = 0;
        while let Some(row) = section.rows.get(rows) {
            let next = cost + length(row);
            if next > room {
                break;
            }
            cost = next;
            rows += 1;
        }
        if rows == 0 {
            break;
        }
        shown_sections.push_str(&section.render(rows, open));
        room -= cost;
        shown += rows;
        if rows < section.rows.len() {
            break;
        }
    }
    let elided = plan.changes.len() - shown;
    let note = format!(
        "> [!WARNING]\n> **{elided} of {} changes are not shown here**: the first {shown}, in plan order, are all that fit in GitHub's {limit}-character comment. \
         Review the full plan in the plan file: `graphform show plan.json` on this run's plan artifact.\n\n",
        plan.changes.len()
    );
    [head, notices, note, shown_sections, timeline, footer].concat()
}

/// Characters, as GitHub counts a comment's length.
fn length(text: &str) -> usize {
    text.chars().count()
}

/// The title, the summary, when and against what the plan was made, and
/// the banners.
fn head(plan: &Plan) -> String {
    let mut out = format!("### graphform plan\n\n**{}**\n\n", summary(plan));
    if plan.has_changes() {
        let total = plan.changes.len();
        let maintenance = plan
            .changes
            .iter()
            .filter(|change| change.maintenance.is_some())
            .count();
        let line = match (total - maintenance, maintenance) {
            (_, 0) => {
                "Every change needs a person's review: none is time-driven maintenance.".to_owned()
            }
            (0, _) => "Every change is time-driven maintenance the reviewed policy already decided (marked *maintenance*; `apply --only` runs such changes unattended).".to_owned(),
            (review, _) => format!(
                "{review} of {total} changes need a person's review; {maintenance} {} time-driven maintenance the reviewed policy already decided (marked *maintenance*; `apply --only` runs such changes unattended).",
                if maintenance == 1 { "is" } else { "are" },
            ),
        };
        let _ = writeln!(
            out,
            "{line}
"
        );
    }
    let made = escape(&plan.created_at.to_string());
    match plan.valid_until {
        Some(until) => {
            let _ = writeln!(
                out,
                "- **made** {made} · **valid until** {}: `graphform apply` refuses this plan file from then on, when a time-driven decision in it changes",
                escape(&until.to_string())
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- **made** {made} · **valid until**: no time-driven decision in it (`graphform apply` still refuses this plan file once the policy or what it found changes)"
            );
        }
    }
    match &plan.origin {
        Some(origin) => {
            let _ = writeln!(
                out,
                "- **graphform** {} · **Graph API** {} · **store** {}\n",
                escape(&clip(&origin.graphform_version)),
                code(&clip(&origin.graph)),
                code(&clip(&origin.store)),
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- **graphform version, Graph API, store**: not recorded\n"
            );
        }
    }
    banners(&mut out, plan);
    out
}

/// The first [`ORIGIN_CHARS`] characters of `text`, cut before escaping
/// (so never inside an entity).
fn clip(text: &str) -> String {
    if length(text) <= ORIGIN_CHARS {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(ORIGIN_CHARS).collect();
    clipped.push('…');
    clipped
}

fn footer(plan: &Plan) -> String {
    format!(
        "<sub>policy {} · state {} · fingerprints only, never token values</sub>\n",
        code(short(&plan.policy_hash)),
        code(short(&plan.state_hash))
    )
}

fn short(hash: &str) -> &str {
    hash.get(..19).unwrap_or(hash)
}

/// What a reviewer must not miss, each naming its addresses: a caution for
/// what stops tokens working, a warning for what grants much or changed
/// outside graphform.
fn banners(out: &mut String, plan: &Plan) {
    let changes = &plan.changes;
    let mut caution = Vec::new();
    let live_revokes = addresses(changes.iter().filter(|c| {
        c.action == Action::Revoke && c.maintenance != Some(Maintenance::RevokeSuperseded)
    }));
    if !live_revokes.is_empty() {
        caution.push(format!(
            "**Revokes live tokens that nothing replaces**; whatever still uses them stops working: {}",
            list(&live_revokes)
        ));
    }
    let invalidated = addresses(changes.iter().filter(|c| c.action == Action::Invalidate));
    if !invalidated.is_empty() {
        caution.push(format!(
            "**Invalidates every token of** {}: tokens made outside graphform stop working too",
            list(&invalidated)
        ));
    }

    let mut warning = Vec::new();
    let granting = || {
        changes
            .iter()
            .filter(|c| matches!(c.action, Action::Issue | Action::Rotate))
    };
    let never = addresses(
        granting().filter(|c| c.after.as_ref().and_then(|a| a.expiry) == Some(ExpiryMode::Never)),
    );
    if !never.is_empty() {
        warning.push(format!(
            "**Never-expiring tokens** issued or rotated into: {}",
            list(&never)
        ));
    }
    let privileged: Vec<&Change> = granting()
        .filter(|c| high_privilege(c).next().is_some())
        .collect();
    if !privileged.is_empty() {
        let scopes: BTreeSet<&str> = privileged.iter().flat_map(|c| high_privilege(c)).collect();
        let scopes: Vec<String> = scopes.into_iter().map(escape).collect();
        warning.push(format!(
            "**High-privilege scopes** ({}) on tokens issued or rotated: {}",
            scopes.join(", "),
            list(&addresses(privileged.into_iter()))
        ));
    }
    let widened = addresses(changes.iter().filter(|c| {
        let before = c.before.as_ref().and_then(|b| b.scopes.as_ref());
        let after = c.after.as_ref().and_then(|a| a.scopes.as_ref());
        matches!((before, after), (Some(before), Some(after)) if !after.is_subset(before))
    }));
    if !widened.is_empty() {
        warning.push(format!("**Scopes widened**: {}", list(&widened)));
    }
    let drifted = addresses(changes.iter().filter(|c| c.drift.is_some()));
    if !drifted.is_empty() {
        warning.push(format!(
            "**Drift**, changed outside graphform: {}",
            list(&drifted)
        ));
    }
    let orphaned = unique(
        plan.notices
            .iter()
            .filter(|n| n.kind == NoticeKind::PossiblyOrphaned)
            .map(|n| n.address.clone()),
    );
    if !orphaned.is_empty() {
        warning.push(format!(
            "**Possibly orphaned tokens**: an apply that got no verified outcome for a token issue (interrupted, or Meta's answer was lost) may have issued tokens nobody stored, for {}; `--invalidate-orphaned` makes sure they cannot be used",
            list(&orphaned)
        ));
    }

    for credential in &plan.credentials {
        warning.push(format!(
            "**Admin credential** of business {}: {}",
            code(&credential.business),
            prose(&credential.message)
        ));
    }

    for (kind, items) in [("CAUTION", caution), ("WARNING", warning)] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "> [!{kind}]");
        for item in items {
            let _ = writeln!(out, "> - {item}");
        }
        out.push('\n');
    }
}

/// The high-privilege scopes a change's token gets.
fn high_privilege(change: &Change) -> impl Iterator<Item = &str> {
    change
        .after
        .iter()
        .flat_map(|after| after.scopes.iter().flatten())
        .map(String::as_str)
        .filter(|scope| is_high_privilege(scope))
}

/// The addresses of `changes`, each once, in plan order.
fn addresses<'p>(changes: impl Iterator<Item = &'p Change>) -> Vec<Address> {
    unique(changes.map(|change| change.address.clone()))
}

fn unique(addresses: impl Iterator<Item = Address>) -> Vec<Address> {
    let mut seen = BTreeSet::new();
    addresses
        .filter(|address| seen.insert(address.clone()))
        .collect()
}

/// The first [`NAMED`] addresses, then how many more.
fn list(addresses: &[Address]) -> String {
    let mut named: Vec<String> = addresses.iter().take(NAMED).map(name).collect();
    let more = addresses.len().saturating_sub(NAMED);
    if more > 0 {
        named.push(format!("and {more} more"));
    }
    named.join(", ")
}

fn notices(plan: &Plan, detail: NoticeDetail) -> String {
    if plan.notices.is_empty() {
        return String::new();
    }
    let warnings = plan
        .notices
        .iter()
        .filter(|n| n.level == NoticeLevel::Warning)
        .count();
    let infos = plan.notices.len() - warnings;
    let mut out = String::from("**Noticed, not changed:**");
    if detail == NoticeDetail::Counted {
        let _ = writeln!(
            out,
            " {warnings} warning{} and {infos} note{}, left out to stay under GitHub's comment limit: `graphform show plan.json` lists them.\n",
            plural(warnings),
            plural(infos),
        );
        return out;
    }
    out.push_str("\n\n");
    for notice in &plan.notices {
        let level = match notice.level {
            NoticeLevel::Warning => "⚠️",
            NoticeLevel::Info if detail == NoticeDetail::Warnings => continue,
            NoticeLevel::Info => "ℹ️",
        };
        let _ = writeln!(
            out,
            "- {level} {}: {}",
            name(&notice.address),
            prose(&notice.message)
        );
    }
    if detail == NoticeDetail::Warnings && infos > 0 {
        let _ = writeln!(
            out,
            "- ℹ️ {infos} note{} more, left out to stay under GitHub's comment limit: `graphform show plan.json` lists them",
            plural(infos)
        );
    }
    out.push('\n');
    out
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// A business's changes: its rows, rendered once, shown in full or in
/// part.
struct Section {
    business: String,
    rows: Vec<String>,
    maintenance: usize,
}

impl Section {
    /// The section with its first `shown` rows.
    fn render(&self, shown: usize, open: bool) -> String {
        let (start, end) = self.frame(shown, open);
        let mut out = start;
        for row in &self.rows[..shown] {
            out.push_str(row);
        }
        out.push_str(&end);
        out
    }

    /// The longest the section is without its rows (shown in part, every
    /// count at its largest).
    fn frame_length(&self, open: bool) -> usize {
        let (start, end) = self.frame(self.rows.len().saturating_sub(1), open);
        length(&start) + length(&end) + 2
    }

    fn frame(&self, shown: usize, open: bool) -> (String, String) {
        let total = self.rows.len();
        let mut counts = format!("{total} change{}", plural(total));
        if self.maintenance > 0 {
            let _ = write!(counts, ", {} maintenance", self.maintenance);
        }
        if shown < total {
            let _ = write!(counts, "; the first {shown} shown");
        }
        let start = format!(
            "<details{}><summary><b>{}</b>: {counts}</summary>\n\n\
             | change | address | token: scopes · expiry | why |\n|---|---|---|---|\n",
            if open { " open" } else { "" },
            escape(&self.business),
        );
        (start, "\n</details>\n\n".to_owned())
    }
}

/// The changes, a section per business (in name order), in plan order
/// within each.
fn sections(plan: &Plan) -> Vec<Section> {
    let mut sections: BTreeMap<&str, Section> = BTreeMap::new();
    for change in &plan.changes {
        let business = owners(&change.address).0;
        let section = sections.entry(business).or_insert_with(|| Section {
            business: business.to_owned(),
            rows: Vec::new(),
            maintenance: 0,
        });
        section.rows.push(row(change));
        section.maintenance += usize::from(change.maintenance.is_some());
    }
    sections.into_values().collect()
}

/// A change as one table row (one line).
fn row(change: &Change) -> String {
    let mut action = format!("{} {}", symbol(change.action), change.action.as_str());
    if let Some(kind) = change.maintenance {
        action.push_str("<br>*maintenance*");
        if kind.as_str() != change.action.as_str() {
            let _ = write!(action, ": {}", kind.as_str());
        }
    }
    let mut why = prose(&change.reason);
    if let Some(drift) = &change.drift {
        let _ = write!(why, "<br>**drift:** {}", prose(drift));
    }
    format!(
        "| {action} | {} | {} | {why} |\n",
        name(&change.address),
        token_cell(change)
    )
}

/// What a change grants or takes: the token's scopes and expiry mode, and
/// the value it acts on (fingerprint and expiry). For a refresh or a
/// rotation, the value replaced and the scope changes.
fn token_cell(change: &Change) -> String {
    let before = change.before.as_ref();
    let after = change.after.as_ref();
    match change.action {
        Action::Create => after
            .and_then(|a| a.role.as_ref())
            .map(|role| format!("role {}", escape(role.as_str())))
            .unwrap_or_default(),
        Action::Install => after
            .map(|a| {
                format!(
                    "app {} (ID {})",
                    escape(a.app.as_deref().unwrap_or("?")),
                    escape(a.app_id.as_deref().unwrap_or("?"))
                )
            })
            .unwrap_or_default(),
        Action::Issue => {
            let mut cell = after.map(|a| grant(None, a)).unwrap_or_default();
            if let Some(old) = before.and_then(value) {
                let _ = write!(cell, "<br>replaces {old}");
            }
            cell
        }
        Action::Refresh | Action::Rotate => {
            let mut cell = after.map(|a| grant(before, a)).unwrap_or_default();
            if let Some(old) = before.and_then(value) {
                let _ = write!(cell, "<br>{old} → new");
            }
            cell
        }
        Action::Revoke | Action::Forget | Action::Retire | Action::Reinstate => before
            .map(|b| {
                let held = grant(None, b);
                match value(b) {
                    Some(value) if held.is_empty() => value,
                    Some(value) => format!("{held}<br>{value}"),
                    None => held,
                }
            })
            .unwrap_or_default(),
        Action::Invalidate => before
            .and_then(|b| b.id.as_ref())
            .map(|id| format!("every token of system user {}", escape(id)))
            .unwrap_or_default(),
        Action::Rename | Action::Move => {
            let from = change
                .moved_from
                .as_ref()
                .map(|from| format!("from {}", name(from)));
            let parts: Vec<String> = from.into_iter().chain(before.and_then(value)).collect();
            parts.join("<br>")
        }
    }
}

/// `+<b>ads_management</b>, ads_read, −read_insights · 60d`: the scopes of
/// `after` (high-privilege ones in bold), marked `+` when `before` lacks
/// them, then those `before` had and `after` drops, marked `−`; the expiry
/// mode, with the old one when it changes.
fn grant(before: Option<&Snapshot>, after: &Snapshot) -> String {
    let old = before.and_then(|b| b.scopes.as_ref());
    let mut parts: Vec<String> = Vec::new();
    if let Some(scopes) = &after.scopes {
        for scope in scopes {
            let added = old.is_some_and(|old| !old.contains(scope));
            parts.push(format!(
                "{}{}",
                if added { "+" } else { "" },
                scope_name(scope)
            ));
        }
        if let Some(old) = old {
            parts.extend(
                old.difference(scopes)
                    .map(|scope| format!("−{}", scope_name(scope))),
            );
        }
        if scopes.is_empty() && parts.is_empty() {
            parts.push("no scopes".to_owned());
        }
    }
    let mut cell = parts.join(", ");
    if let Some(mode) = after.expiry {
        if !cell.is_empty() {
            cell.push_str(" · ");
        }
        match before.and_then(|b| b.expiry).filter(|old| *old != mode) {
            Some(old) => {
                let _ = write!(cell, "{} → {}", expiry(old), expiry(mode));
            }
            None => cell.push_str(expiry(mode)),
        }
    }
    cell
}

fn scope_name(scope: &str) -> String {
    if is_high_privilege(scope) {
        format!("<b>{}</b>", escape(scope))
    } else {
        escape(scope)
    }
}

fn expiry(mode: ExpiryMode) -> &'static str {
    match mode {
        ExpiryMode::SixtyDays => "60d",
        ExpiryMode::Never => "<b>never</b>",
    }
}

/// `sha256:3ec1f444f608, expires 2026-12-04`: which value a change acts
/// on (the expiry mode is shown beside the scopes); `None` when the
/// snapshot names no value.
fn value(snapshot: &Snapshot) -> Option<String> {
    let fingerprint = escape(snapshot.fingerprint.as_ref()?.as_str());
    Some(match snapshot.expires_at {
        Some(at) => format!("{fingerprint}, expires {}", at.date()),
        None => fingerprint,
    })
}

/// The expiry timeline, as much of it as `detail` says.
fn timeline(plan: &Plan, detail: TimelineDetail) -> String {
    let entries = &plan.timeline;
    if entries.is_empty() {
        return String::new();
    }
    let now = plan.created_at;
    let mut out = String::new();
    match detail {
        TimelineDetail::Table => {
            let _ = write!(
                out,
                "<details{}><summary><b>Expiry timeline</b>: {} token{}</summary>\n\n\
                 | token | fingerprint | expires | next |\n|---|---|---|---|\n",
                if entries.len() <= FEW_CHANGES {
                    " open"
                } else {
                    ""
                },
                entries.len(),
                plural(entries.len()),
            );
            for entry in entries {
                let (expires, next) = timeline_cells(entry, now);
                let _ = writeln!(
                    out,
                    "| {} | {} | {expires} | {next} |",
                    name(&Address::from(&entry.address)),
                    escape(entry.fingerprint.as_str())
                );
            }
            out.push_str("\n</details>\n\n");
        }
        TimelineDetail::Summary => {
            let _ = writeln!(
                out,
                "**Expiry timeline**, summarised to stay under GitHub's comment limit (`graphform show plan.json` lists every token):\n"
            );
            let of = |status: TokenStatus| entries.iter().filter(move |e| e.status == status);
            let valid = of(TokenStatus::Valid).count();
            if valid > 0 {
                let _ = write!(out, "- {valid} valid");
                if let Some(first) = of(TokenStatus::Valid).filter_map(|e| e.expires_at).min() {
                    let _ = write!(out, "; the first expires {}", relative_date(first, now));
                }
                let never = of(TokenStatus::Valid)
                    .filter(|e| e.expiry == ExpiryMode::Never)
                    .count();
                if never > 0 {
                    let _ = write!(out, "; {never} never expire");
                }
                out.push('\n');
            }
            let due = entries
                .iter()
                .filter(|e| e.next.is_some_and(|(_, at)| at <= now))
                .count();
            let upcoming = entries
                .iter()
                .filter_map(|e| e.next.map(|(_, at)| at))
                .filter(|at| *at > now)
                .min();
            if due > 0 || upcoming.is_some() {
                let _ = write!(out, "- time-driven work: {due} due now");
                if let Some(at) = upcoming {
                    let _ = write!(out, ", the next from {}", at.date());
                }
                out.push('\n');
            }
            for (status, label) in [
                (TokenStatus::Dead, "dead"),
                (TokenStatus::Unchecked, "unchecked"),
            ] {
                let these = unique(of(status).map(|e| Address::from(&e.address)));
                if !these.is_empty() {
                    let _ = writeln!(out, "- {} {label}: {}", these.len(), list(&these));
                }
            }
            out.push('\n');
        }
        TimelineDetail::Omitted => {
            let _ = writeln!(
                out,
                "**Expiry timeline**: {} token{}, left out to stay under GitHub's comment limit: `graphform show plan.json` lists them.\n",
                entries.len(),
                plural(entries.len())
            );
        }
    }
    out
}

/// An address, in monospace: a code span, whose text is [`escape`]d.
/// Addresses are `[a-z0-9-]` segments joined by `/` (they are parsed
/// wherever they enter), so the escaping changes nothing in practice; it
/// is there so that no text can close the span early (a backtick becomes
/// `&#96;`, shown as such). Shorter than [`code`], which matters for a
/// plan of hundreds of rows.
fn name(address: &Address) -> String {
    format!("`{}`", escape(&address.to_string()))
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
    use graphform_engine::Notice;

    use super::*;
    use crate::render::fixture;

    /// Change rows: table lines that are neither a header nor a separator.
    fn change_rows(rendered: &str) -> Vec<&str> {
        rendered
            .lines()
            .filter(|line| {
                line.starts_with("| ")
                    && !line.starts_with("| change |")
                    && !line.starts_with("| token |")
                    && !line.starts_with("| `")
            })
            .collect()
    }

    /// How many changes the note says are not shown (0 without a note).
    fn elided(rendered: &str) -> usize {
        rendered
            .split_once("> **")
            .and_then(|(_, rest)| rest.split_once(" of "))
            .filter(|_| rendered.contains("changes are not shown here"))
            .map_or(0, |(count, _)| count.parse().expect("a count"))
    }

    /// A comment is whole: every table row has its four cells, every
    /// `<details>` is closed, and it is under `limit`.
    fn assert_whole(rendered: &str, limit: usize) {
        assert!(length(rendered) < limit, "{} ≥ {limit}", length(rendered));
        for line in rendered.lines().filter(|line| line.starts_with('|')) {
            assert_eq!(line.matches('|').count(), 5, "{line}");
            assert!(
                line.ends_with(" |") || line == "|---|---|---|---|",
                "{line}"
            );
        }
        assert_eq!(
            rendered.matches("<details").count(),
            rendered.matches("</details>").count()
        );
        fixture::assert_inert(rendered);
    }

    #[test]
    fn a_rich_plan() {
        insta::assert_snapshot!(markdown(&fixture::rich()));
    }

    /// The first plan of a policy: every token's scopes and expiry, the
    /// never-expiring and the high-privilege ones in the banner.
    #[test]
    fn a_first_plan() {
        let rendered = markdown(&fixture::first_plan());
        assert_whole(&rendered, GITHUB_COMMENT_LIMIT);
        assert!(rendered.contains("no time-driven decision"), "{rendered}");
        insta::assert_snapshot!(rendered);
    }

    /// See issue 13: 300 rotations used to show one row and the 300-row
    /// timeline. Every rotation is there, with its scopes, under the limit;
    /// the timeline is what gives way.
    #[test]
    fn three_hundred_rotations_are_all_shown_under_the_limit() {
        let plan = fixture::rotations(300);
        let rendered = markdown(&plan);
        assert_whole(&rendered, GITHUB_COMMENT_LIMIT);
        let rows = change_rows(&rendered);
        assert_eq!(rows.len(), 300);
        for index in 0..300 {
            let address = format!("`{}`", fixture::rotation_address(index));
            assert!(
                rows.iter().any(|row| row.contains(&address)),
                "{address} is missing"
            );
        }
        assert!(
            rows.iter()
                .all(|row| row.contains("+<b>ads_management</b>, ads_read, read_insights · 60d"))
        );
        assert_eq!(elided(&rendered), 0);
        assert!(!rendered.contains("| token | fingerprint |"));
        // The snapshot keeps the first two rows of each business; the
        // assertions above hold for the rest.
        let mut kept = 0;
        let condensed: Vec<&str> = rendered
            .lines()
            .filter(|line| {
                if line.starts_with("<details") {
                    kept = 0;
                }
                if !rows.contains(line) {
                    return true;
                }
                kept += 1;
                kept <= 2
            })
            .collect();
        insta::assert_snapshot!(format!(
            "{} characters of {GITHUB_COMMENT_LIMIT}\n\n{}",
            length(&rendered),
            condensed.join("\n")
        ));
    }

    #[test]
    fn drift_is_flagged_and_shown_in_each_row() {
        let rendered = markdown(&fixture::drift());
        assert_whole(&rendered, GITHUB_COMMENT_LIMIT);
        assert!(rendered.contains("**Drift**, changed outside graphform: `acme/reporter/token/insights`, `acme/reporter/token/daily`, `globex/exporter/token/feed`"), "{rendered}");
        insta::assert_snapshot!(rendered);
    }

    /// Revoking a live token that nothing replaces is a caution, naming it;
    /// revoking a replaced token after its grace is not.
    #[test]
    fn a_removal_cautions_about_live_tokens_revoked() {
        let rendered = markdown(&fixture::removal());
        assert_whole(&rendered, GITHUB_COMMENT_LIMIT);
        let caution = rendered
            .lines()
            .find(|line| line.contains("Revokes live tokens"))
            .expect("a caution");
        assert!(
            caution.contains("`acme/reporter/token/legacy`, `globex/exporter/token/leaked`"),
            "{caution}"
        );
        assert!(
            !caution.contains("acme/reporter/token/insights"),
            "{caution}"
        );
        insta::assert_snapshot!(rendered);
    }

    #[test]
    fn an_invalidation_is_a_caution_and_orphans_a_warning() {
        let rendered = markdown(&fixture::invalidation());
        assert_whole(&rendered, GITHUB_COMMENT_LIMIT);
        assert!(
            rendered.contains("> - **Invalidates every token of** `acme/ci-reporting`"),
            "{rendered}"
        );
        assert!(
            rendered.contains("> - **Possibly orphaned tokens**"),
            "{rendered}"
        );
        insta::assert_snapshot!(rendered);
    }

    /// When the changes alone do not fit, as many whole rows as fit are
    /// shown, the timeline and the notices having given way first, and a
    /// note says how many are not.
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
        assert_whole(&rendered, GITHUB_COMMENT_LIMIT);
        let shown = change_rows(&rendered).len();
        assert!(shown > 100, "{shown}");
        assert_eq!(elided(&rendered), 3000 - shown, "{rendered}");
        assert!(rendered.contains("`graphform show plan.json`"));
        assert!(rendered.contains("**Expiry timeline**: 3 tokens, left out"));
        assert!(rendered.contains("**Noticed, not changed:** 1 warning and 1 note, left out"));
        assert!(
            rendered.starts_with(
                "### graphform plan\n\n**Plan: 0 to create, 0 to install, 3000 to issue"
            )
        );
    }

    /// At every size, the timeline gives way before the notices, and both
    /// before any change; rows are shown whole, and shown plus elided is
    /// every change.
    #[test]
    fn the_timeline_and_notices_give_way_before_any_change() {
        let mut plan = fixture::rotations(300);
        plan.notices = fixture::rich().notices;
        let info = plan.notices[1].clone();
        plan.notices.extend((0..40).map(|i| Notice {
            address: format!("acme/human-made-{i}").parse().expect("an address"),
            ..info.clone()
        }));
        // Each layout's length and one more (where it is the first to fit
        // and where it just misses), and a sweep of sizes where only some
        // changes fit.
        let every_change: String = sections(&plan)
            .iter()
            .map(|section| section.render(section.rows.len(), false))
            .collect();
        let limits: Vec<usize> = LAYOUTS
            .iter()
            .flat_map(|(timeline_detail, notice_detail)| {
                let full = length(&head(&plan))
                    + length(&notices(&plan, *notice_detail))
                    + length(&every_change)
                    + length(&timeline(&plan, *timeline_detail))
                    + length(&footer(&plan));
                [full, full + 1]
            })
            .chain((2_000..60_000).step_by(2_000))
            .collect();
        let mut seen = BTreeSet::new();
        for limit in limits {
            let rendered = markdown_within(&plan, limit);
            assert_whole(&rendered, limit);
            let shown = change_rows(&rendered).len();
            assert_eq!(shown + elided(&rendered), 300, "at {limit}");
            let timeline = if rendered.contains("| token | fingerprint |") {
                TimelineDetail::Table
            } else if rendered.contains("**Expiry timeline**, summarised") {
                TimelineDetail::Summary
            } else {
                assert!(rendered.contains("**Expiry timeline**: 300 tokens, left out"));
                TimelineDetail::Omitted
            };
            let notices = if rendered.contains("role is EMPLOYEE") {
                if rendered.contains("not in the policy") {
                    NoticeDetail::All
                } else {
                    NoticeDetail::Warnings
                }
            } else {
                NoticeDetail::Counted
            };
            if shown < 300 {
                assert_eq!(
                    (timeline, notices),
                    (TimelineDetail::Omitted, NoticeDetail::Counted),
                    "at {limit}"
                );
            }
            if notices != NoticeDetail::All {
                assert_eq!(timeline, TimelineDetail::Omitted, "at {limit}");
            }
            seen.insert(format!("{timeline:?} {notices:?} {}", shown == 300));
        }
        // Every stage was met on the way.
        assert_eq!(seen.len(), 6, "{seen:?}");
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
        assert_whole(&rendered, GITHUB_COMMENT_LIMIT);
        insta::assert_snapshot!(rendered);
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
        assert!(!rendered.contains("[!CAUTION]"));
        assert!(rendered.contains("No changes. Everything matches the policy."));
        assert!(rendered.contains("not recorded"), "{rendered}");
    }

    #[test]
    fn a_banner_names_a_few_addresses_then_counts_the_rest() {
        let addresses: Vec<Address> = (0..8)
            .map(|i| format!("acme/u/token/t{i}").parse().expect("an address"))
            .collect();
        assert_eq!(
            list(&addresses),
            "`acme/u/token/t0`, `acme/u/token/t1`, `acme/u/token/t2`, `acme/u/token/t3`, `acme/u/token/t4`, and 3 more"
        );
    }
}
