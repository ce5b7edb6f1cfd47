//! Plans rendered for people (text, markdown) and tools (JSON).
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
        return "No changes. Everything matches the policy.".to_owned();
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
        Action, Change, Notice, NoticeKind, NoticeLevel, Origin, PLAN_FORMAT_VERSION, Plan,
        Snapshot, TimelineEntry, TokenStatus,
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

    #[expect(
        clippy::too_many_lines,
        reason = "one plan with one change of every kind, written out"
    )]
    pub(crate) fn rich() -> Plan {
        let mut revoked_outside = change(
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
        revoked_outside.drift = Some(
            "the current token was revoked or invalidated outside graphform (190/460)".to_owned(),
        );
        let changes = vec![
            change(
                "acme/ci-reporting",
                Action::Create,
                "no system user named `ci-reporting` in business 100000000000001",
                None,
                Some(Snapshot {
                    role: Some(Role::Employee),
                    ..Snapshot::default()
                }),
            ),
            change(
                "acme/ci-reporting/app/reporting",
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
                "acme/ci-reporting/token/insights-read",
                Action::Issue,
                "new system user",
                None,
                Some(token(None, &["ads_read", "read_insights"], "60d", None)),
            ),
            change(
                "acme/publisher/token/posts",
                Action::Issue,
                "no token stored",
                None,
                Some(token(None, &["pages_manage_posts"], "never", None)),
            ),
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
            revoked_outside,
            change(
                "globex/exporter/token/legacy",
                Action::Revoke,
                "removed from the policy",
                Some(token(Some("EAAlegacy"), &["ads_read"], "never", None)),
                None,
            ),
        ];
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
            origin: Some(Origin {
                graphform_version: "0.1.0".to_owned(),
                graph: "https://graph.facebook.com/v23.0".to_owned(),
                store: "file store .graphform/store".to_owned(),
            }),
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
            timeline: vec![TimelineEntry {
                address: token_address.as_token().expect("a token address").clone(),
                fingerprint: forged_fingerprint(HOSTILE),
                expiry: ExpiryMode::Never,
                expires_at: Some(Timestamp::from_unix(NOW + DAY)),
                status: TokenStatus::Valid,
                next: Some((Action::Refresh, Timestamp::from_unix(NOW))),
            }],
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

    /// A plan with nothing to do.
    pub(crate) fn empty() -> Plan {
        Plan {
            changes: Vec::new(),
            notices: Vec::new(),
            valid_until: None,
            origin: None,
            ..rich()
        }
    }
}
