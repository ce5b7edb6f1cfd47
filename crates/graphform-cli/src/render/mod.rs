//! Plans rendered for people (text, markdown) and tools (JSON); and
//! `graphform status` (`status/`: text, JSON, OpenMetrics, HTML).
//!
//! Every renderer shows fingerprints, never values: a [`Plan`] holds no
//! secret to begin with.
//!
//! Every string of a plan may come from Meta (a system user's name, its
//! role, an error message) or from a plan file anyone could edit, so each
//! format has one escaping function that all of them go through: text
//! shows control and bidi characters escaped ([`escape_text`]), markdown
//! also neutralises HTML and markdown syntax (`markdown::escape`), and JSON
//! writes them as `\uXXXX` ([`json`]). See issue 10.

mod markdown;
pub(crate) mod status;
mod text;

use std::borrow::Cow;

use graphform_engine::plan_file::{self, is_unprintable};
use graphform_engine::{Action, Plan, TimelineEntry, TokenStatus};
use graphform_types::{Address, Timestamp};

pub(crate) use markdown::markdown;
pub(crate) use text::text;

/// Text from a plan (or from Meta) made safe for a terminal or a log:
/// every character of [`is_unprintable`] is shown as a Rust escape,
/// `\u{1b}`, instead of being obeyed. The newline too: a name cannot start
/// a line of graphform's output.
pub(crate) fn escape_text(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unprintable(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The plan as versioned JSON (docs/plan-json.md), with a trailing
/// newline: the plan file's own bytes, safe to print
/// ([`plan_file::to_json`]).
pub(crate) fn json(plan: &Plan) -> String {
    plan_file::to_json(plan)
}

/// `Plan: 1 to create, 2 to install, 3 to issue, 1 to refresh, 0 to rotate,
/// 2 to revoke.` (and forgets, when there are any), or the no-change line.
pub(crate) fn summary(plan: &Plan) -> String {
    if !plan.has_changes() {
        let waiting = plan
            .notices
            .iter()
            .filter(|notice| notice.kind == graphform_engine::NoticeKind::Deferred)
            .count();
        return match waiting {
            0 => "No changes. Everything matches the policy.".to_owned(),
            1 => "No changes now: 1 change waits for its time (see the notice above).".to_owned(),
            n => {
                format!("No changes now: {n} changes wait for their time (see the notices above).")
            }
        };
    }
    let counts = plan.counts();
    // The six of Terraform-like fame always; the rare ones when present.
    let rare = [
        Action::Rename,
        Action::Move,
        Action::Retire,
        Action::Reinstate,
        Action::Forget,
        Action::Invalidate,
    ];
    let mut parts: Vec<String> = Action::ALL
        .iter()
        .filter(|action| !rare.contains(action) || counts[action] > 0)
        .map(|action| format!("{} to {}", counts[action], action.as_str()))
        .collect();
    if let Some(last) = parts.last_mut() {
        last.push('.');
    }
    format!("Plan: {}", parts.join(", "))
}

/// The Terraform-like symbol of an action.
pub(crate) fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create | Action::Install | Action::Issue => "+",
        Action::Refresh => "~",
        Action::Rotate => "-/+",
        Action::Revoke => "-",
        Action::Forget => "x",
        Action::Invalidate => "!",
        Action::Retire => "-…",
        Action::Reinstate => "+…",
        Action::Rename | Action::Move => "→",
    }
}

/// The "expires" and "next" cells of a timeline row, at the plan's time.
pub(crate) fn timeline_cells(entry: &TimelineEntry, now: Timestamp) -> (String, String) {
    let expires = match entry.status {
        TokenStatus::Dead => "dead".to_owned(),
        TokenStatus::Unchecked => "unchecked".to_owned(),
        TokenStatus::Valid => entry
            .expires_at
            .map_or_else(|| "never".to_owned(), |at| relative_date(at, now)),
    };
    let next = match entry.next {
        Some((action, at)) if at <= now => format!("{} due now", action.as_str()),
        Some((action, at)) => format!("{} from {}", action.as_str(), at.date()),
        None => "-".to_owned(),
    };
    (expires, next)
}

/// Rows of cells as aligned lines (the first row is usually the header):
/// each column padded to its widest cell, in characters, two spaces
/// between columns and before the first, no trailing spaces.
pub(crate) fn columns<R: AsRef<[String]>>(rows: &[R]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (column, cell) in row.as_ref().iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(column) {
                Some(widest) => *widest = (*widest).max(width),
                None => widths.push(width),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .as_ref()
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("  {}", cells.join("  ").trim_end())
        })
        .collect()
}

/// `2026-12-04 (in 12d)` or `2026-11-20 (2d ago)`.
pub(crate) fn relative_date(at: Timestamp, now: Timestamp) -> String {
    if at >= now {
        format!("{} (in {})", at.date(), (at - now).human())
    } else {
        format!("{} ({} ago)", at.date(), (now - at).human())
    }
}

/// The business and system-user parts of an address:
/// `acme/ci-reporting/token/x` → (`acme`, `ci-reporting`).
pub(crate) fn owners(address: &Address) -> (&str, &str) {
    (address.business(), address.system_user().name())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON rendering validates against the committed schema.
    #[test]
    fn json_matches_the_plan_schema() {
        let schema_path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/plan.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(schema_path).expect("schema"))
                .expect("schema is JSON");
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        for plan in [fixture::rich(), fixture::empty()] {
            let document: serde_json::Value = serde_json::from_str(&json(&plan)).expect("JSON");
            let errors: Vec<String> = validator
                .iter_errors(&document)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{errors:#?}");
        }
        // And the schema can fail: a plan without changes is not a plan.
        let mut broken: serde_json::Value =
            serde_json::from_str(&json(&fixture::rich())).expect("JSON");
        broken.as_object_mut().expect("object").remove("changes");
        assert!(!validator.is_valid(&broken));
    }

    #[test]
    fn json_of_a_rich_plan() {
        insta::assert_snapshot!(json(&fixture::rich()));
    }

    /// JSON escapes what a terminal would act on (`serde_json` does C0; the
    /// rest is ours), and a reader gets every string back unchanged.
    /// See issue 10.
    #[test]
    fn json_of_hostile_names_is_inert_and_lossless() {
        let plan = fixture::hostile();
        let rendered = json(&plan);
        fixture::assert_inert(&rendered);
        let back: Plan = serde_json::from_str(&rendered).expect("a plan");
        assert_eq!(back, plan);
    }

    #[test]
    fn escape_text_shows_what_a_terminal_would_obey() {
        assert_eq!(
            escape_text("evil\u{1b}[2J\r\u{202e}\u{9b}\u{7f}\n"),
            r"evil\u{1b}[2J\u{d}\u{202e}\u{9b}\u{7f}\u{a}"
        );
        assert!(matches!(
            escape_text("acme/ci-reporting é → <b>"),
            Cow::Borrowed("acme/ci-reporting é → <b>")
        ));
    }

    #[test]
    fn summary_lines() {
        assert_eq!(
            summary(&fixture::empty()),
            "No changes. Everything matches the policy."
        );
        // Nothing now, something later: not "everything matches".
        let mut waiting = fixture::empty();
        waiting.notices.push(graphform_engine::Notice {
            level: graphform_engine::NoticeLevel::Info,
            kind: graphform_engine::NoticeKind::Deferred,
            address: "acme/ci-reporting/token/feed".parse().expect("an address"),
            message: "rotate waits until the previous token's grace ends".to_owned(),
        });
        assert_eq!(
            summary(&waiting),
            "No changes now: 1 change waits for its time (see the notice above)."
        );
        assert_eq!(
            summary(&fixture::rich()),
            "Plan: 1 to create, 1 to install, 3 to issue, 1 to refresh, 1 to rotate, 2 to revoke."
        );
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A plan with one of everything, for renderer snapshots.

    use std::collections::BTreeSet;

    use graphform_types::{ExpiryMode, Role, Timestamp};

    use graphform_engine::{
        Action, Change, Maintenance, Notice, NoticeKind, NoticeLevel, Origin, PLAN_FORMAT_VERSION,
        Plan, Snapshot, TimelineEntry, TokenStatus,
    };

    const DAY: i64 = 86_400;
    /// 2026-11-22 00:00 UTC.
    pub(crate) const NOW: i64 = 1_795_305_600;

    fn scopes(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn token(
        fingerprint: Option<&str>,
        scope_list: &[&str],
        expiry: &str,
        expires_at: Option<i64>,
    ) -> Snapshot {
        Snapshot {
            app: Some("reporting".to_owned()),
            app_id: Some("200000000000001".to_owned()),
            scopes: Some(scopes(scope_list)),
            expiry: Some(if expiry == "never" {
                ExpiryMode::Never
            } else {
                ExpiryMode::SixtyDays
            }),
            fingerprint: fingerprint.map(graphform_types::fingerprint),
            expires_at: expires_at.map(Timestamp::from_unix),
            ..Snapshot::default()
        }
    }

    fn change(
        address: &str,
        action: Action,
        reason: &str,
        before: Option<Snapshot>,
        after: Option<Snapshot>,
    ) -> Change {
        Change {
            address: address.parse().expect("an address"),
            action,
            reason: reason.to_owned(),
            drift: None,
            system_user_id: None,
            before,
            after,
            maintenance: None,
            moved_from: None,
        }
    }

    /// A token revoked in Business Settings: re-issued, as drift.
    fn revoked_outside() -> Change {
        let mut revoked = change(
            "globex/exporter/token/feed",
            Action::Issue,
            "the current token is dead: revoked or invalidated outside graphform",
            Some(token(
                Some("EAAdead"),
                &["catalog_management"],
                "60d",
                Some(NOW + 30 * DAY),
            )),
            Some(token(None, &["catalog_management"], "60d", None)),
        );
        revoked.drift = Some(
            "the current token was revoked or invalidated outside graphform (190/460)".to_owned(),
        );
        revoked
    }

    /// A replaced value revoked once its grace ended.
    fn superseded_revoke() -> Change {
        maintenance(
            change(
                "acme/reporter/token/insights",
                Action::Revoke,
                "replaced token's grace ended 2h ago",
                Some(token(
                    Some("EAAolder"),
                    &["ads_read"],
                    "60d",
                    Some(NOW + 2 * DAY),
                )),
                None,
            ),
            Maintenance::RevokeSuperseded,
        )
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one plan with one change of every kind, written out"
    )]
    pub(crate) fn rich() -> Plan {
        let revoked_outside = revoked_outside();
        let mut changes = Vec::from(new_system_user(
            "acme/ci-reporting",
            Role::Employee,
            "insights-read",
            &["ads_read", "read_insights"],
            "60d",
        ));
        changes.extend([
            change(
                "acme/publisher/token/posts",
                Action::Issue,
                "no token stored",
                None,
                Some(token(None, &["pages_manage_posts"], "never", None)),
            ),
            maintenance(
                change(
                    "acme/reporter/token/insights",
                    Action::Refresh,
                    "expires in 12d, refresh_before is 20d",
                    Some(token(
                        Some("EAAold"),
                        &["ads_read"],
                        "60d",
                        Some(NOW + 12 * DAY),
                    )),
                    Some(token(None, &["ads_read"], "60d", None)),
                ),
                Maintenance::Refresh,
            ),
            change(
                "acme/reporter/token/ads-write",
                Action::Rotate,
                "scopes changed: +ads_management -ads_read",
                Some(token(
                    Some("EAAwrite"),
                    &["ads_read"],
                    "60d",
                    Some(NOW + 40 * DAY),
                )),
                Some(token(None, &["ads_management"], "60d", None)),
            ),
            superseded_revoke(),
            revoked_outside,
            change(
                "globex/exporter/token/legacy",
                Action::Revoke,
                "removed from the policy",
                Some(token(Some("EAAlegacy"), &["ads_read"], "never", None)),
                None,
            ),
        ]);
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            created_at: Timestamp::from_unix(NOW),
            valid_until: Some(Timestamp::from_unix(NOW + 3 * DAY)),
            policy_hash: "sha256:1111111111111111111111111111111111111111111111111111111111111111".to_owned(),
            state_hash: "sha256:2222222222222222222222222222222222222222222222222222222222222222".to_owned(),
            changes,
            notices: vec![
                Notice {
                    level: NoticeLevel::Warning,
                    kind: NoticeKind::Manual,
                    address: "acme/reporter".parse().expect("an address"),
                    message: "role is EMPLOYEE in Meta but ADMIN in the policy; the API cannot change a role: change it in Business Settings".to_owned(),
                },
                Notice {
                    level: NoticeLevel::Info,
                    kind: NoticeKind::Unmanaged,
                    address: "acme/human-made".parse().expect("an address"),
                    message: "not in the policy; graphform leaves it alone (ADMIN, ID 300000000000009)".to_owned(),
                },
            ],
            credentials: vec![graphform_engine::admin::CredentialWarning {
                business: "globex".to_owned(),
                variable: "GLOBEX_ADMIN_TOKEN".to_owned(),
                message: "the admin token in `GLOBEX_ADMIN_TOKEN` expires at 2027-01-10T00:00:00Z (in 9 days): generate a new one (a never-expiring token of an admin system user does not need this) and set `GLOBEX_ADMIN_TOKEN` before then".to_owned(),
            }],
            timeline: vec![
                TimelineEntry {
                    address: "acme/reporter/token/insights".parse().expect("an address"),
                    fingerprint: graphform_types::fingerprint("EAAold"),
                    expiry: ExpiryMode::SixtyDays,
                    expires_at: Some(Timestamp::from_unix(NOW + 12 * DAY)),
                    status: TokenStatus::Valid,
                    next: Some((Action::Refresh, Timestamp::from_unix(NOW - 8 * DAY))),
                },
                TimelineEntry {
                    address: "acme/reporter/token/ads-write".parse().expect("an address"),
                    fingerprint: graphform_types::fingerprint("EAAwrite"),
                    expiry: ExpiryMode::SixtyDays,
                    expires_at: Some(Timestamp::from_unix(NOW + 40 * DAY)),
                    status: TokenStatus::Valid,
                    next: Some((Action::Refresh, Timestamp::from_unix(NOW + 20 * DAY))),
                },
                TimelineEntry {
                    address: "globex/exporter/token/feed".parse().expect("an address"),
                    fingerprint: graphform_types::fingerprint("EAAdead"),
                    expiry: ExpiryMode::SixtyDays,
                    expires_at: Some(Timestamp::from_unix(NOW + 30 * DAY)),
                    status: TokenStatus::Dead,
                    next: Some((Action::Refresh, Timestamp::from_unix(NOW + 10 * DAY))),
                },
            ],
            revoke_now: BTreeSet::new(),
            origin: Some(origin()),
        }
    }

    /// Text from Meta (or from a plan file someone edited) that tries every
    /// trick: terminal escapes (CSI, OSC, C1 CSI), a carriage return, DEL,
    /// bidi overrides, line separators, an HTML comment that would hide the
    /// rest of a PR comment, backticks, pipes, a link, and a newline that
    /// would start a heading. See issue 10.
    pub(crate) const HOSTILE: &str = "evil\u{1b}[2J\u{1b}]0;owned\u{7}\r\u{202e}txt.exe\u{9b}1m\u{7f}\u{85}\u{2028}\
                                      <!-- hidden | `tick` & [link](https://example.com) <b>bold</b>\n# heading";

    /// A fingerprint as a plan file can hold it: any string.
    fn forged_fingerprint(text: &str) -> graphform_types::Fingerprint {
        serde_json::from_value(serde_json::Value::String(text.to_owned()))
            .expect("a fingerprint is a string")
    }

    /// A plan whose every string holds [`HOSTILE`]: names, roles, IDs,
    /// reasons, drift, notices, scopes, fingerprints, hashes.
    pub(crate) fn hostile() -> Plan {
        // Addresses are parsed (a plan file with a hostile one is refused
        // when read), so only their names can be odd, not their bytes.
        let name: graphform_types::Address = "acme/hostile".parse().expect("an address");
        let token_address: graphform_types::Address =
            "acme/hostile/token/hostile".parse().expect("an address");
        let hostile_token = Snapshot {
            id: Some(HOSTILE.to_owned()),
            role: Some(Role::Other(HOSTILE.to_owned())),
            app: Some(HOSTILE.to_owned()),
            app_id: Some(HOSTILE.to_owned()),
            scopes: Some(scopes(&[HOSTILE])),
            expiry: Some(ExpiryMode::SixtyDays),
            fingerprint: Some(forged_fingerprint(HOSTILE)),
            expires_at: Some(Timestamp::from_unix(NOW + DAY)),
        };
        let widened = Snapshot {
            scopes: Some(scopes(&[HOSTILE, "ads_read"])),
            ..hostile_token.clone()
        };
        let mut changes: Vec<Change> = Action::ALL
            .iter()
            .map(|action| Change {
                address: token_address.clone(),
                action: *action,
                reason: format!("because `{HOSTILE}` said so: {HOSTILE}"),
                drift: Some(HOSTILE.to_owned()),
                system_user_id: None,
                before: Some(hostile_token.clone()),
                after: Some(widened.clone()),
                maintenance: None,
                moved_from: None,
            })
            .collect();
        changes.push(Change {
            address: name.clone(),
            action: Action::Create,
            reason: HOSTILE.to_owned(),
            drift: None,
            system_user_id: None,
            before: None,
            after: Some(hostile_token.clone()),
            maintenance: None,
            moved_from: None,
        });
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            created_at: Timestamp::from_unix(NOW),
            valid_until: Some(Timestamp::from_unix(NOW + DAY)),
            policy_hash: format!("sha256:{HOSTILE}"),
            state_hash: HOSTILE.to_owned(),
            changes,
            notices: vec![
                Notice {
                    level: NoticeLevel::Info,
                    kind: NoticeKind::Unmanaged,
                    address: name.clone(),
                    message: format!(
                        "not in the policy; graphform leaves it alone ({HOSTILE}, ID 300000000000009)"
                    ),
                },
                Notice {
                    level: NoticeLevel::Warning,
                    kind: NoticeKind::Ambiguous,
                    address: name,
                    message: format!("2 system users are named `{HOSTILE}`"),
                },
            ],
            credentials: vec![graphform_engine::admin::CredentialWarning {
                business: HOSTILE.to_owned(),
                variable: HOSTILE.to_owned(),
                message: format!("the admin token in `{HOSTILE}` is dead"),
            }],
            timeline: vec![TimelineEntry {
                address: token_address.as_token().expect("a token address").clone(),
                fingerprint: forged_fingerprint(HOSTILE),
                expiry: ExpiryMode::Never,
                expires_at: Some(Timestamp::from_unix(NOW + DAY)),
                status: TokenStatus::Valid,
                next: Some((Action::Refresh, Timestamp::from_unix(NOW))),
            }],
            revoke_now: BTreeSet::new(),
            origin: Some(Origin {
                graphform_version: "0.1.0".to_owned(),
                graph: "https://graph.facebook.com/v23.0".to_owned(),
                store: "file store /tmp/<!-- hidden -->|`x`[a](b)\u{202e}".to_owned(),
            }),
        }
    }

    /// Characters that must never reach a terminal or a PR comment raw:
    /// control characters (C0 but the newline, DEL, C1) and the invisible
    /// ones that reorder or hide text (bidi controls, zero-width
    /// characters, line and paragraph separators).
    pub(crate) fn is_dangerous(c: char) -> bool {
        (c.is_control() && c != '\n')
            || matches!(
                c,
                '\u{61c}'
                    | '\u{200b}'..='\u{200f}'
                    | '\u{2028}'..='\u{202e}'
                    | '\u{2060}'..='\u{2069}'
                    | '\u{feff}'
            )
    }

    /// Fails when `rendered` holds a character of [`is_dangerous`]; the
    /// message quotes the first one's surroundings, escaped.
    pub(crate) fn assert_inert(rendered: &str) {
        let found: Vec<(usize, char)> = rendered
            .char_indices()
            .filter(|(_, c)| is_dangerous(*c))
            .collect();
        if let Some((at, _)) = found.first() {
            let context: String = rendered[at.saturating_sub(40)..].chars().take(80).collect();
            panic!(
                "{} raw characters, the first {:?} in {context:?}",
                found.len(),
                &found[..found.len().min(8)]
            );
        }
    }

    /// The record of where a fixture plan was made.
    fn origin() -> Origin {
        Origin {
            graphform_version: "0.1.0".to_owned(),
            graph: "https://graph.facebook.com/v23.0".to_owned(),
            store: "file store .graphform/store".to_owned(),
        }
    }

    /// A plan of `changes`, made at [`NOW`].
    fn plan_of(
        changes: Vec<Change>,
        notices: Vec<Notice>,
        timeline: Vec<TimelineEntry>,
        valid_until: Option<i64>,
    ) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            created_at: Timestamp::from_unix(NOW),
            valid_until: valid_until.map(Timestamp::from_unix),
            policy_hash: "sha256:3333333333333333333333333333333333333333333333333333333333333333"
                .to_owned(),
            state_hash: "sha256:4444444444444444444444444444444444444444444444444444444444444444"
                .to_owned(),
            changes,
            notices,
            credentials: Vec::new(),
            timeline,
            revoke_now: BTreeSet::new(),
            origin: Some(origin()),
        }
    }

    fn notice(level: NoticeLevel, kind: NoticeKind, address: &str, message: &str) -> Notice {
        Notice {
            level,
            kind,
            address: address.parse().expect("an address"),
            message: message.to_owned(),
        }
    }

    fn entry(
        address: &str,
        value: &str,
        expires_at: Option<i64>,
        next: Option<(Action, i64)>,
    ) -> TimelineEntry {
        TimelineEntry {
            address: address.parse().expect("a token address"),
            fingerprint: graphform_types::fingerprint(value),
            expiry: if expires_at.is_some() {
                ExpiryMode::SixtyDays
            } else {
                ExpiryMode::Never
            },
            expires_at: expires_at.map(Timestamp::from_unix),
            status: TokenStatus::Valid,
            next: next.map(|(action, at)| (action, Timestamp::from_unix(at))),
        }
    }

    /// `change` marked as time-driven work of `kind`.
    fn maintenance(mut change: Change, kind: Maintenance) -> Change {
        change.maintenance = Some(kind);
        change
    }

    /// `change`, a rename or move from `from` (`renamed_from`).
    fn moved(mut change: Change, from: &str) -> Change {
        change.moved_from = Some(from.parse().expect("an address"));
        change
    }

    /// A new system user with one app and one token, as a first plan
    /// makes it.
    fn new_system_user(
        address: &str,
        role: Role,
        token_name: &str,
        scope_list: &[&str],
        expiry: &str,
    ) -> [Change; 3] {
        let (_, user) = address.split_once('/').expect("business/user");
        [
            change(
                address,
                Action::Create,
                &format!("no system user named `{user}` in business 100000000000001"),
                None,
                Some(Snapshot {
                    role: Some(role),
                    ..Snapshot::default()
                }),
            ),
            change(
                &format!("{address}/app/reporting"),
                Action::Install,
                "new system user needs app `reporting`",
                None,
                Some(Snapshot {
                    app: Some("reporting".to_owned()),
                    app_id: Some("200000000000001".to_owned()),
                    ..Snapshot::default()
                }),
            ),
            change(
                &format!("{address}/token/{token_name}"),
                Action::Issue,
                "new system user",
                None,
                Some(token(None, scope_list, expiry, None)),
            ),
        ]
    }

    /// The first plan of a policy: system users created, the app
    /// installed, tokens issued, one of them with `business_management`
    /// and one never expiring. Nothing is time-driven yet.
    pub(crate) fn first_plan() -> Plan {
        let changes = [
            new_system_user(
                "acme/ci-reporting",
                Role::Employee,
                "insights-read",
                &["ads_read", "read_insights"],
                "60d",
            ),
            new_system_user(
                "acme/campaigns",
                Role::Admin,
                "manager",
                &["ads_management", "ads_read", "business_management"],
                "60d",
            ),
            new_system_user(
                "acme/publisher",
                Role::Employee,
                "posts",
                &["pages_manage_posts", "pages_read_engagement"],
                "never",
            ),
            new_system_user(
                "globex/support",
                Role::Employee,
                "inbox",
                &[
                    "whatsapp_business_management",
                    "whatsapp_business_messaging",
                ],
                "60d",
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        plan_of(
            changes,
            vec![notice(
                NoticeLevel::Info,
                NoticeKind::Unmanaged,
                "acme/graphform-admin",
                "not in the policy; graphform leaves it alone (ADMIN, ID 300000000000001)",
            )],
            Vec::new(),
            None,
        )
    }

    /// The address of the `index`th of [`rotations`]'s tokens: 100 per
    /// business, 10 per system user.
    pub(crate) fn rotation_address(index: usize) -> String {
        let business = ["acme", "globex", "initech"][index / 100 % 3];
        format!(
            "{business}/reporting-{:02}/token/insights-{index:03}",
            index / 10 % 10
        )
    }

    /// `count` stored tokens (at most 300) whose policy widened their
    /// scopes from `ads_read, read_insights` to add `ads_management`: as
    /// many rotations a person must review, and a timeline of `count`.
    pub(crate) fn rotations(count: usize) -> Plan {
        let mut changes = Vec::new();
        let mut timeline = Vec::new();
        for index in 0..count {
            let address = rotation_address(index);
            let value = format!("EAArotation{index}");
            let expires = NOW + (10 + i64::try_from(index % 50).expect("small")) * DAY;
            changes.push(change(
                &address,
                Action::Rotate,
                "scopes changed: +ads_management",
                Some(token(
                    Some(&value),
                    &["ads_read", "read_insights"],
                    "60d",
                    Some(expires),
                )),
                Some(token(
                    None,
                    &["ads_management", "ads_read", "read_insights"],
                    "60d",
                    None,
                )),
            ));
            timeline.push(entry(
                &address,
                &value,
                Some(expires),
                Some((Action::Refresh, expires - 20 * DAY)),
            ));
        }
        plan_of(changes, Vec::new(), timeline, Some(NOW + 11 * DAY))
    }

    /// Changes made outside graphform: a token revoked in Business
    /// Settings, scopes Meta reports wider than the record, a token that
    /// never expires where the policy wants 60 days.
    pub(crate) fn drift() -> Plan {
        let revoked = revoked_outside();
        let mut widened = change(
            "acme/reporter/token/insights",
            Action::Rotate,
            "scopes differ from the record",
            Some(token(
                Some("EAAinsights"),
                &["ads_read"],
                "60d",
                Some(NOW + 40 * DAY),
            )),
            Some(token(None, &["ads_read"], "60d", None)),
        );
        widened.drift = Some("Meta reports scopes +business_management".to_owned());
        let mut immortal = change(
            "acme/reporter/token/daily",
            Action::Rotate,
            "the policy wants a 60-day token",
            Some(token(Some("EAAdaily"), &["read_insights"], "60d", None)),
            Some(token(None, &["read_insights"], "60d", None)),
        );
        immortal.drift = Some("Meta reports the token never expires".to_owned());
        plan_of(
            vec![widened, immortal, revoked],
            vec![notice(
                NoticeLevel::Warning,
                NoticeKind::Renamed,
                "acme/reporter",
                "system user 615500000000007, recorded for `acme/reporter`, is now named `reporter-old` in Meta; graphform now acts on 615500000000009: tokens stored for 615500000000007 are replaced, then revoked after their grace. To keep managing 615500000000007, rename it back in Business Settings",
            )],
            vec![
                entry(
                    "acme/reporter/token/insights",
                    "EAAinsights",
                    Some(NOW + 40 * DAY),
                    Some((Action::Refresh, NOW + 20 * DAY)),
                ),
                entry("acme/reporter/token/daily", "EAAdaily", None, None),
            ],
            Some(NOW + 20 * DAY),
        )
    }

    /// Tokens removed from the policy: one retired (revoked after its
    /// grace), one whose grace ended (revoke-removed), one revoked now
    /// with its replaced value (`--revoke-now`, for a leaked token), a
    /// replaced value revoked after its grace (revoke-superseded), a dead
    /// one forgotten, and one still in its grace.
    /// A system user and its token renamed (`renamed_from`).
    fn renames() -> [Change; 2] {
        [
            moved(
                change(
                    "acme/reporting",
                    Action::Rename,
                    "renamed from `ci-reporting`: Meta's system user 300 gets the new name, its records and tokens move; no token is revoked or issued",
                    Some(Snapshot {
                        id: Some("300".to_owned()),
                        ..Snapshot::default()
                    }),
                    None,
                ),
                "acme/ci-reporting",
            ),
            moved(
                change(
                    "acme/reporting/token/insights",
                    Action::Move,
                    "renamed from `acme/ci-reporting/token/insights-read`: the stored token moves here; it is neither revoked nor re-issued",
                    Some(token(
                        Some("EAAinsights"),
                        &["ads_read", "read_insights"],
                        "60d",
                        Some(NOW + 40 * DAY),
                    )),
                    None,
                ),
                "acme/ci-reporting/token/insights-read",
            ),
        ]
    }

    pub(crate) fn removal() -> Plan {
        let mut changes = renames().to_vec();
        changes.extend([
            change(
                "acme/reporter/token/old-export",
                Action::Retire,
                "removed from the policy; kept working for grace 7d after this apply (until 2026-11-29 00:00 UTC if applied now), then revoked",
                Some(token(
                    Some("EAAexport"),
                    &["ads_read"],
                    "60d",
                    Some(NOW + 33 * DAY),
                )),
                None,
            ),
            maintenance(
                change(
                    "acme/reporter/token/legacy",
                    Action::Revoke,
                    "removed from the policy; its grace ended 2h ago",
                    Some(token(
                        Some("EAAlegacy"),
                        &["catalog_management"],
                        "never",
                        None,
                    )),
                    None,
                ),
                Maintenance::RevokeRemoved,
            ),
            superseded_revoke(),
            maintenance(
                change(
                    "acme/reporter/token/gone",
                    Action::Forget,
                    "removed from the policy; the token is already dead",
                    Some(token(
                        Some("EAAgone"),
                        &["ads_read"],
                        "60d",
                        Some(NOW - 3 * DAY),
                    )),
                    None,
                ),
                Maintenance::ForgetDead,
            ),
            change(
                "globex/exporter/token/leaked",
                Action::Revoke,
                "removed from the policy; the replaced token goes with it",
                Some(token(
                    Some("EAAleaked-before"),
                    &["ads_management", "business_management"],
                    "60d",
                    Some(NOW + 5 * DAY),
                )),
                None,
            ),
            change(
                "globex/exporter/token/leaked",
                Action::Revoke,
                "removed from the policy; revoked now (--revoke-now), without grace",
                Some(token(
                    Some("EAAleaked"),
                    &["ads_management", "business_management"],
                    "60d",
                    Some(NOW + 50 * DAY),
                )),
                None,
            ),
        ]);
        plan_of(
            changes,
            vec![notice(
                NoticeLevel::Info,
                NoticeKind::Deferred,
                "acme/reporter/token/archive",
                "removed from the policy; sha256:0c1d2e3f4a5b keeps working until its revocation at 2026-11-25 00:00 UTC",
            )],
            vec![
                entry(
                    "acme/reporter/token/old-export",
                    "EAAexport",
                    Some(NOW + 33 * DAY),
                    Some((Action::Revoke, NOW + 7 * DAY)),
                ),
                entry(
                    "acme/reporter/token/archive",
                    "EAAarchive",
                    Some(NOW + 20 * DAY),
                    Some((Action::Revoke, NOW + 3 * DAY)),
                ),
            ],
            Some(NOW + 3 * DAY),
        )
    }

    /// An interrupted apply may have issued tokens nobody stored: one
    /// system user's tokens are invalidated (`--invalidate-orphaned`) and
    /// re-issued; another's are only noticed.
    pub(crate) fn invalidation() -> Plan {
        let mut invalidate = change(
            "acme/ci-reporting",
            Action::Invalidate,
            "an apply at 2026-11-21 23:40 UTC got no verified outcome for a call that issues a token (interrupted, or Meta's answer was lost): it may have issued a token nobody stored",
            Some(Snapshot {
                id: Some("615500000000001".to_owned()),
                ..Snapshot::default()
            }),
            None,
        );
        invalidate.system_user_id = Some("615500000000001".to_owned());
        let changes = vec![
            invalidate,
            change(
                "acme/ci-reporting/token/insights-read",
                Action::Forget,
                "the replaced token dies with the invalidation of acme/ci-reporting",
                Some(token(
                    Some("EAAprevious"),
                    &["ads_read", "read_insights"],
                    "60d",
                    Some(NOW + 2 * DAY),
                )),
                None,
            ),
            change(
                "acme/ci-reporting/token/insights-read",
                Action::Issue,
                "re-issued after invalidating the tokens of acme/ci-reporting",
                Some(token(
                    Some("EAAcurrent"),
                    &["ads_read", "read_insights"],
                    "60d",
                    Some(NOW + 50 * DAY),
                )),
                Some(token(None, &["ads_read", "read_insights"], "60d", None)),
            ),
        ];
        plan_of(
            changes,
            vec![notice(
                NoticeLevel::Warning,
                NoticeKind::PossiblyOrphaned,
                "globex/exporter/token/feed",
                "an apply at 2026-11-21 23:40 UTC got no verified outcome for a call that issues a token (interrupted, or Meta's answer was lost): it may have issued a token for system user 615500000000002 that nobody stored; to make sure it cannot be used, plan and apply with --invalidate-orphaned (all of the system user's tokens are invalidated and the managed ones re-issued)",
            )],
            Vec::new(),
            None,
        )
    }

    /// A plan with nothing to do.
    pub(crate) fn empty() -> Plan {
        Plan {
            changes: Vec::new(),
            notices: Vec::new(),
            credentials: Vec::new(),
            valid_until: None,
            origin: None,
            ..rich()
        }
    }
}
