//! The status as one self-contained HTML page: an expiry timeline people
//! look at rather than read, then the details as a table.
//!
//! The page loads nothing: its CSS and SVG are inline, it has no script,
//! font, image or link to anywhere (so it can be mailed, archived as a CI
//! artifact or opened offline). It is written as well-formed XHTML (every
//! element closed, only the five XML entities) so a plain XML parser reads
//! it, which its tests do. Every string goes through [`escape`].
//!
//! The timeline has a row per token: its current value's lifetime as a bar
//! (issued → expires; a never-expiring one runs open-ended off the right
//! edge), the refresh window shaded on it, the next rotation marked, a
//! replaced value waiting for its revocation as a thinner bar with its
//! revoke time, and today as one vertical line across all rows. A dead or
//! missing token's row is red.

use std::fmt::Write as _;

use graphform_engine::Action;
use graphform_engine::document::ApplyOutcome;
use graphform_engine::status::{ManagedToken, RetiringToken, Status, Superseded, TokenState};
use graphform_types::{Duration, Timestamp};

use super::{health_cell, next_cell};
use crate::render::relative_date;

/// The chart's geometry, in SVG user units.
const WIDTH: f64 = 1360.0;
const LABEL_WIDTH: f64 = 380.0;
const RIGHT_MARGIN: f64 = 20.0;
/// Where the chart ends: a never-expiring value runs off it.
const CHART_RIGHT: f64 = WIDTH - RIGHT_MARGIN;
const AXIS_HEIGHT: f64 = 40.0;
const ROW_HEIGHT: f64 = 46.0;

/// Text for HTML or XML: the five characters with a meaning there become
/// entities; control characters (never meaningful in a page, and not all
/// allowed in XML) become their escaped form, shown.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if graphform_engine::plan_file::is_unprintable(c) => {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

/// The time span the chart shows, and how it maps onto x.
struct Scale {
    start: Timestamp,
    end: Timestamp,
}

impl Scale {
    /// From a little before the oldest value shown (at most 90 days back)
    /// to a little after the last thing scheduled (at most 400 days on),
    /// and never less than two weeks back and a month on.
    fn of(status: &Status) -> Self {
        let now = status.now;
        let mut earliest = now - Duration::days(14);
        let mut latest = now + Duration::days(30);
        let mut see = |at: Timestamp| {
            earliest = earliest.min(at);
            latest = latest.max(at);
        };
        for token in &status.tokens {
            if let Some(value) = &token.current {
                see(value.issued_at);
                value.expires_at.into_iter().for_each(&mut see);
            }
            if let Some(next) = token.next {
                see(next.from);
            }
            if let Some(superseded) = &token.superseded {
                see(superseded.value.issued_at);
                see(superseded.revoke_after);
            }
        }
        for token in &status.retiring {
            see(token.value.issued_at);
            token.value.expires_at.into_iter().for_each(&mut see);
            token.revoke_after.into_iter().for_each(&mut see);
        }
        let pad = Duration::days(3);
        Self {
            start: earliest.max(now - Duration::days(90)) - pad,
            end: latest.min(now + Duration::days(400)) + pad,
        }
    }

    /// The x of a moment, clamped to the chart.
    #[expect(
        clippy::cast_precision_loss,
        reason = "seconds within a few hundred days are exact in f64"
    )]
    fn x(&self, at: Timestamp) -> f64 {
        let span = (self.end - self.start).as_secs().max(1) as f64;
        let offset = (at - self.start).as_secs() as f64;
        let fraction = (offset / span).clamp(0.0, 1.0);
        LABEL_WIDTH + fraction * (CHART_RIGHT - LABEL_WIDTH)
    }
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px; color: #1f2328; background: #ffffff; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
p.meta { color: #59636e; margin: 0 0 12px 0; }
div.apply { display: inline-block; padding: 6px 10px; border-radius: 6px; margin-bottom: 12px; }
div.apply.ok { background: #dafbe1; }
div.apply.failed { background: #ffebe9; }
div.apply.held { background: #fff8c5; }
svg { display: block; font-size: 12px; }
svg text { fill: #1f2328; }
svg text.small { font-size: 11px; fill: #59636e; }
svg .band { fill: #f6f8fa; }
svg .band.bad { fill: #ffebe9; }
svg .grid { stroke: #d1d9e0; stroke-width: 1; }
svg .life { fill: #4ac26b; }
svg .life.never { fill: url(#open); }
svg .life.dead { fill: #cf222e; }
svg .life.retiring { fill: #8c959f; }
svg .window { fill: #eac54f; }
svg .old { fill: #afb8c1; }
svg .revoke { stroke: #cf222e; stroke-width: 2; }
svg .revoke.late { stroke-width: 4; }
svg .rotate { stroke: #8250df; stroke-width: 3; }
svg line.today { stroke: #0969da; stroke-width: 2; }
svg text.today { fill: #0969da; font-weight: bold; }
svg text.alarm { fill: #cf222e; font-weight: bold; }
table { border-collapse: collapse; margin-top: 16px; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #d1d9e0; font-size: 13px; }
td.code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
tr.dead td, tr.missing td { background: #ffebe9; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 18px; color: #59636e; }
ul.legend li { white-space: nowrap; }
ul.legend span { display: inline-block; width: 18px; height: 10px; margin-right: 6px; vertical-align: middle; }
";

/// The status as one self-contained page.
pub(crate) fn html(status: &Status) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>graphform status {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&status.now.to_string())
    );
    let _ = writeln!(out, "<h1>graphform: token expiry timeline</h1>");
    let source = if status.checked {
        "from the store, each token checked with Meta (debug_token)"
    } else {
        "from the store (Meta not asked)"
    };
    let _ = writeln!(
        out,
        "<p class=\"meta\">At {}, {source}.</p>",
        escape(&status.now.to_string())
    );
    last_apply(&mut out, status);
    chart(&mut out, status);
    legend(&mut out);
    details(&mut out, status);
    out.push_str("</body>\n</html>\n");
    out
}

fn last_apply(out: &mut String, status: &Status) {
    let (class, text) = match &status.last_apply {
        None => ("failed", "No apply recorded yet.".to_owned()),
        Some(run) => {
            let class = match run.outcome {
                ApplyOutcome::Succeeded => "ok",
                ApplyOutcome::Held => "held",
                ApplyOutcome::Failed => "failed",
            };
            let mut text = format!(
                "Last apply: {}, {} ({} planned, {} done, {} failed, {} skipped).",
                relative_date(run.finished_at, status.now),
                run.outcome.as_str(),
                run.changes.planned,
                run.changes.done,
                run.changes.failed,
                run.changes.skipped
            );
            match status.last_successful_apply {
                Some(at) if at != run.finished_at => {
                    let _ = write!(
                        text,
                        " Last successful apply: {}.",
                        relative_date(at, status.now)
                    );
                }
                Some(_) => {}
                None => text.push_str(" No successful apply recorded."),
            }
            (class, text)
        }
    };
    let _ = writeln!(out, "<div class=\"apply {class}\">{}</div>", escape(&text));
    for warning in &status.credentials {
        let _ = writeln!(
            out,
            "<div class=\"apply failed\">Admin credential of business {}: {}</div>",
            escape(&warning.business),
            escape(&warning.message)
        );
    }
    for orphan in &status.possibly_orphaned {
        let _ = writeln!(
            out,
            "<div class=\"apply failed\">{}</div>",
            escape(&orphan.describe())
        );
    }
}

#[expect(clippy::cast_precision_loss, reason = "a row count is far below 2^52")]
fn chart(out: &mut String, status: &Status) {
    let scale = Scale::of(status);
    let rows = status.tokens.len() + status.retiring.len();
    let height = AXIS_HEIGHT + ROW_HEIGHT * rows.max(1) as f64 + 10.0;
    let _ = writeln!(
        out,
        "<svg class=\"timeline\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"token expiry timeline\">"
    );
    // The open-ended fill of a never-expiring value: solid, fading out.
    out.push_str(
        "<defs><linearGradient id=\"open\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">\
         <stop offset=\"0\" stop-color=\"#4ac26b\"/><stop offset=\"0.8\" stop-color=\"#4ac26b\"/>\
         <stop offset=\"1\" stop-color=\"#4ac26b\" stop-opacity=\"0\"/></linearGradient></defs>\n",
    );
    axis(out, &scale, height);
    let mut y = AXIS_HEIGHT;
    for token in &status.tokens {
        managed_row(out, &scale, token, status.now, y);
        y += ROW_HEIGHT;
    }
    for token in &status.retiring {
        retiring_row(out, &scale, token, status.now, y);
        y += ROW_HEIGHT;
    }
    let today = scale.x(status.now);
    let _ = writeln!(
        out,
        "<line class=\"today\" x1=\"{today:.1}\" x2=\"{today:.1}\" y1=\"16\" y2=\"{height:.1}\"/>\
         <text class=\"today\" x=\"{:.1}\" y=\"12\">today {}</text>",
        today + 3.0,
        escape(&status.now.date().to_string())
    );
    out.push_str("</svg>\n");
}

/// Date ticks along the top: weekly on a short chart, every 30 days on a
/// long one.
fn axis(out: &mut String, scale: &Scale, height: f64) {
    let span_days = (scale.end - scale.start).as_secs() / 86_400;
    let step = Duration::days(if span_days <= 120 { 7 } else { 30 });
    let mut at = scale.start + Duration::days(1);
    while at < scale.end {
        let x = scale.x(at);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{height:.1}\"/>\
             <text class=\"small\" x=\"{:.1}\" y=\"32\">{}</text>",
            AXIS_HEIGHT - 4.0,
            x + 2.0,
            escape(&at.strftime("%b %-d").to_string())
        );
        at = at + step;
    }
}

/// The row's band and its two lines of label.
fn row_start(
    out: &mut String,
    class: &str,
    address: &str,
    state: &str,
    second: &str,
    y: f64,
    bad: bool,
) {
    let _ = writeln!(
        out,
        "<g class=\"row {class}\" data-address=\"{}\" data-state=\"{state}\">\
         <title>{}</title>\
         <rect class=\"band{}\" x=\"0\" y=\"{:.1}\" width=\"{WIDTH}\" height=\"{:.1}\"/>\
         <text x=\"8\" y=\"{:.1}\">{}</text>\
         <text class=\"small\" x=\"8\" y=\"{:.1}\">{}</text>",
        escape(address),
        escape(&format!("{address}: {second}")),
        if bad { " bad" } else { "" },
        y + 2.0,
        ROW_HEIGHT - 4.0,
        y + 19.0,
        escape(address),
        y + 35.0,
        escape(second),
    );
}

fn managed_row(out: &mut String, scale: &Scale, token: &ManagedToken, now: Timestamp, y: f64) {
    let address = token.address.to_string();
    let bad = token.state != TokenState::Ok;
    let second = match (&token.current, token.state) {
        (None, _) => "MISSING: nothing stored; the next apply issues it".to_owned(),
        (Some(value), TokenState::Dead) => format!("DEAD {}", value.fingerprint),
        (Some(value), _) => {
            let check = token
                .check
                .as_ref()
                .map(|check| format!(", Meta: {}", health_cell(Some(check))))
                .unwrap_or_default();
            let moving = token
                .moving_from
                .as_ref()
                .map(|from| format!(", moving from {from}"))
                .unwrap_or_default();
            format!("{} {}{check}{moving}", value.fingerprint, value.expiry)
        }
    };
    row_start(
        out,
        "token",
        &address,
        token.state.as_str(),
        &second,
        y,
        bad,
    );
    let bar_y = y + 8.0;
    match &token.current {
        None => {
            let _ = write!(
                out,
                "<text class=\"alarm\" x=\"{:.1}\" y=\"{:.1}\">missing</text>",
                LABEL_WIDTH + 8.0,
                y + 27.0
            );
        }
        Some(value) => {
            let from = scale.x(value.issued_at);
            let (to, open) = match value.expires_at {
                Some(at) => (scale.x(at), false),
                None => (CHART_RIGHT, true),
            };
            let class = match (token.state, open) {
                (TokenState::Dead, _) => "life dead",
                (_, true) => "life never",
                _ => "life",
            };
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{from:.1}\" y=\"{bar_y:.1}\" width=\"{:.1}\" height=\"16\" rx=\"3\"/>",
                (to - from).max(2.0)
            );
            if let (Some(next), Some(expires_at)) = (token.next, value.expires_at)
                && next.action == Action::Refresh
                && token.state == TokenState::Ok
            {
                let start = scale.x(next.from);
                let _ = write!(
                    out,
                    "<rect class=\"window\" x=\"{start:.1}\" y=\"{bar_y:.1}\" width=\"{:.1}\" height=\"16\"/>",
                    (scale.x(expires_at) - start).max(1.0)
                );
            }
            if let Some(next) = token.next.filter(|next| next.action == Action::Rotate) {
                let x = scale.x(next.from);
                let _ = write!(
                    out,
                    "<line class=\"rotate\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
                    bar_y - 3.0,
                    bar_y + 19.0
                );
            }
            if token.state == TokenState::Dead {
                let _ = write!(
                    out,
                    "<text class=\"alarm\" x=\"{:.1}\" y=\"{:.1}\">dead</text>",
                    to + 6.0,
                    bar_y + 13.0
                );
            }
        }
    }
    if let Some(superseded) = &token.superseded {
        superseded_bar(out, scale, superseded, now, y + 28.0);
    }
    out.push_str("</g>\n");
}

/// A replaced value: a thin grey bar to its revoke time, marked.
fn superseded_bar(
    out: &mut String,
    scale: &Scale,
    superseded: &Superseded,
    now: Timestamp,
    y: f64,
) {
    let from = scale.x(superseded.value.issued_at);
    let revoke = scale.x(superseded.revoke_after);
    let late = if superseded.revoke_overdue {
        " late"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<rect class=\"old\" x=\"{from:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"7\" rx=\"2\"/>\
         <line class=\"revoke{late}\" x1=\"{revoke:.1}\" x2=\"{revoke:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
         <text class=\"small\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
        (revoke - from).max(2.0),
        y - 3.0,
        y + 10.0,
        revoke + 4.0,
        y + 8.0,
        escape(&format!(
            "replaced {}: revoke {}{}",
            superseded.value.fingerprint,
            relative_date(superseded.revoke_after, now),
            if superseded.revoke_overdue {
                ", OVERDUE"
            } else {
                ""
            }
        ))
    );
}

fn retiring_row(out: &mut String, scale: &Scale, token: &RetiringToken, now: Timestamp, y: f64) {
    let address = token.address.to_string();
    let second = match token.revoke_after {
        Some(at) => format!(
            "removed from the policy: revoke {}{}",
            relative_date(at, now),
            if token.revoke_overdue {
                ", OVERDUE"
            } else {
                ""
            }
        ),
        None => "removed from the policy: the next apply retires it".to_owned(),
    };
    row_start(
        out,
        "retiring",
        &address,
        "retiring",
        &second,
        y,
        token.revoke_overdue,
    );
    let bar_y = y + 8.0;
    let from = scale.x(token.value.issued_at);
    let to = token.value.expires_at.map_or(CHART_RIGHT, |at| scale.x(at));
    let _ = write!(
        out,
        "<rect class=\"life retiring\" x=\"{from:.1}\" y=\"{bar_y:.1}\" width=\"{:.1}\" height=\"16\" rx=\"3\"/>",
        (to - from).max(2.0)
    );
    if let Some(at) = token.revoke_after {
        let x = scale.x(at);
        let late = if token.revoke_overdue { " late" } else { "" };
        let _ = write!(
            out,
            "<line class=\"revoke{late}\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
            bar_y - 4.0,
            bar_y + 20.0
        );
    }
    if let Some(superseded) = &token.superseded {
        superseded_bar(out, scale, superseded, now, y + 28.0);
    }
    out.push_str("</g>\n");
}

fn legend(out: &mut String) {
    out.push_str(
        "<ul class=\"legend\">\
         <li><span style=\"background:#4ac26b\"></span>current token: issued → expires</li>\
         <li><span style=\"background:#eac54f\"></span>refresh window</li>\
         <li><span style=\"background:#8250df\"></span>rotation due</li>\
         <li><span style=\"background:#afb8c1\"></span>replaced token, until its revocation (red mark)</li>\
         <li><span style=\"background:#8c959f\"></span>removed from the policy</li>\
         <li><span style=\"background:#cf222e\"></span>dead</li>\
         <li><span style=\"background:#0969da\"></span>today</li>\
         </ul>\n",
    );
}

fn details(out: &mut String, status: &Status) {
    let now = status.now;
    out.push_str(
        "<table>\n<thead><tr><th>Token</th><th>State</th><th>Fingerprint</th><th>Expires</th><th>Next</th><th>Replaced token</th></tr></thead>\n<tbody>\n",
    );
    for token in &status.tokens {
        let (fingerprint, expires) = match &token.current {
            Some(value) => (
                value.fingerprint.to_string(),
                value
                    .expires_at
                    .map_or_else(|| "never".to_owned(), |at| relative_date(at, now)),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let next = next_cell(token, now);
        let replaced = token.superseded.as_ref().map_or_else(
            || "-".to_owned(),
            |s| {
                format!(
                    "{} revoke {}",
                    s.value.fingerprint,
                    relative_date(s.revoke_after, now)
                )
            },
        );
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td class=\"code\">{}</td><td>{}</td><td class=\"code\">{}</td><td>{}</td><td>{}</td><td class=\"code\">{}</td></tr>",
            token.state.as_str(),
            escape(&token.address.to_string()),
            token.state.as_str(),
            escape(&fingerprint),
            escape(&expires),
            escape(&next),
            escape(&replaced)
        );
        if let Some(check) = &token.check {
            for drift in &check.drift {
                let _ = writeln!(
                    out,
                    "<tr class=\"drift\"><td></td><td colspan=\"5\">drift: {}</td></tr>",
                    escape(drift)
                );
            }
        }
    }
    for token in &status.retiring {
        let revoke = token.revoke_after.map_or_else(
            || "retired by the next apply".to_owned(),
            |at| format!("revoke {}", relative_date(at, now)),
        );
        let _ = writeln!(
            out,
            "<tr class=\"retiring\"><td class=\"code\">{}</td><td>removed</td><td class=\"code\">{}</td><td>{}</td><td>{}</td><td>-</td></tr>",
            escape(&token.address.to_string()),
            escape(token.value.fingerprint.as_str()),
            escape(
                &token
                    .value
                    .expires_at
                    .map_or_else(|| "never".to_owned(), |at| relative_date(at, now))
            ),
            escape(&revoke)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{1b}"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\\u{1b}"
        );
    }

    #[test]
    fn a_token_moving_from_its_old_name_says_so() {
        let page = html(&fixture::rich(false));
        assert!(
            page.contains("moving from acme/ci-reporting/token/events"),
            "{page}"
        );
    }

    #[test]
    fn hostile_strings_are_inert_in_the_page() {
        let page = html(&fixture::hostile());
        fixture::assert_inert(&page);
        assert!(!page.contains("<b>bold"), "markup from data is escaped");
        assert!(page.contains("&lt;b&gt;bold"), "and shown");
    }
}
