//! The planner's token rules (design.md §3): issue what is missing,
//! replace what is dead or drifted, refresh and rotate on time, revoke
//! what was replaced once its grace ends, and name what is no longer in
//! the policy.

use std::collections::BTreeSet;

use graphform_spec::{Business, DEFAULT_GRACE, Expiry, Spec, SystemUser, Token};
use graphform_store::Fingerprint;
use graphform_types::{Duration, ExpiryMode, SystemUserAddress, Timestamp, TokenAddress};

use crate::state::{Health, ObservedToken, ObservedValue};

use super::{
    Action, Change, Maintenance, NoticeKind, NoticeLevel, Planner, Replacement, Snapshot,
    TimelineEntry, TokenStatus, dead_replacement, scope_diff, value_snapshot,
};

/// The policy's next time-driven work on a token value, and the moment
/// from which it is due: a 60-day token is refreshed from `expires_at -
/// refresh_before` on (the planner refreshes once less than
/// `refresh_before` is left, strictly after that moment); a
/// never-expiring one with `rotate_every` is rotated from `issued_at +
/// rotate_every` on. `None` when nothing is scheduled (a never-expiring
/// token without `rotate_every`, or a 60-day token whose expiry is
/// unknown).
///
/// The one place this timing is decided: the planner's decisions and
/// timeline, and `graphform status`, all read it.
pub fn next_time_driven(
    expiry: Expiry,
    issued_at: Timestamp,
    expires_at: Option<Timestamp>,
) -> Option<(Action, Timestamp)> {
    match expiry {
        Expiry::SixtyDays { refresh_before } => {
            expires_at.map(|at| (Action::Refresh, at.saturating_sub(refresh_before)))
        }
        Expiry::Never { rotate_every } => {
            rotate_every.map(|period| (Action::Rotate, issued_at.saturating_add(period)))
        }
    }
}

impl Planner<'_> {
    /// Plans the token's changes; each acts on the system user `id` (or
    /// the one this plan creates).
    pub(super) fn token(
        &mut self,
        business: &Business,
        user: &SystemUser,
        token: &Token,
        id: Option<&str>,
    ) {
        let first = self.changes.len();
        self.token_changes(business, user, token, id);
        for change in &mut self.changes[first..] {
            change.system_user_id = id.map(str::to_owned);
        }
    }

    /// `renamed_from: old` of the token at `address` (of `user`) found no
    /// record: a warning, with the closest of the system user's stored
    /// tokens the policy no longer names.
    fn unmatched_token_rename(&mut self, address: &TokenAddress, user: &SystemUser, old: &str) {
        let unnamed: Vec<&str> = self
            .state
            .tokens
            .keys()
            .filter(|a| a.system_user() == address.system_user())
            .map(TokenAddress::name)
            .filter(|name| !user.tokens.iter().any(|t| t.name == *name))
            .collect();
        self.unmatched_rename(
            address,
            old,
            unnamed,
            "this plan issues a new token instead of moving one",
        );
    }

    pub(super) fn token_changes(
        &mut self,
        business: &Business,
        user: &SystemUser,
        token: &Token,
        id: Option<&str>,
    ) {
        let address = TokenAddress::new(&business.name, &user.name, &token.name);
        self.managed_tokens.insert(address.clone());
        let app_id = &business.apps[&token.app].id;
        let after = Snapshot {
            app: Some(token.app.clone()),
            app_id: Some(app_id.clone()),
            scopes: Some(token.scopes.clone()),
            expiry: Some(token.expiry.mode()),
            ..Snapshot::default()
        };
        let Some(stored) = self.state.tokens.get(&address) else {
            if let Some(old) = &token.renamed_from {
                self.unmatched_token_rename(&address, user, old);
            }
            let reason = if id.is_none() {
                "new system user".to_owned()
            } else {
                "no token stored".to_owned()
            };
            self.change(&address, Action::Issue, reason).after = Some(after);
            return;
        };
        self.moved_or_reinstated(&address, stored);
        // An invalidation in this plan kills the values issued to the
        // system user it invalidates, and only those: a value of another
        // system user (the one renamed away, or the new one) lives on.
        let user_address = SystemUserAddress::new(&business.name, &user.name);
        let mut kept = stored.clone();
        if let Some(previous) = stored.previous.as_ref().filter(|p| self.dies(&p.value)) {
            // Drop its record rather than keep a dead `previous`.
            let change = self.change(
                &address,
                Action::Forget,
                format!("the replaced token dies with the invalidation of {user_address}"),
            );
            change.before = Some(value_snapshot(&previous.value));
            kept.previous = None;
        }
        if self.dies(&stored.current) {
            self.previous(&address, &kept);
            let change = self.change(
                &address,
                Action::Issue,
                format!("re-issued after invalidating the tokens of {user_address}"),
            );
            change.before = Some(value_snapshot(&stored.current));
            change.after = Some(after);
            return;
        }
        let observed = &kept;
        let previous_pending = self.previous(&address, observed);
        self.timeline_entry(&address, token, &observed.current);
        if let Health::NoVerdict { reason } = &observed.current.health {
            self.notice(
                NoticeLevel::Warning,
                NoticeKind::NoVerdict,
                &address,
                format!(
                    "Meta gave no verdict on the current token {} ({reason}): graphform neither replaces nor drops it until debug_token says whether it works",
                    observed.current.metadata.fingerprint
                ),
            );
            return;
        }
        let Some(Replacement {
            action,
            reason,
            drift,
            maintenance,
        }) = self.replacement(token, &observed.current, app_id, id)
        else {
            return;
        };
        if previous_pending.is_some() && action != Action::Issue {
            let until = previous_pending.unwrap_or(self.now);
            self.notice(
                NoticeLevel::Info,
                NoticeKind::Deferred,
                &address,
                format!(
                    "{} waits until the previous token's grace ends at {} ({reason})",
                    action.as_str(),
                    until
                ),
            );
            return;
        }
        let change = self.change(&address, action, reason);
        change.drift = drift;
        change.maintenance = maintenance;
        change.before = Some(value_snapshot(&observed.current));
        change.after = Some(after);
    }

    /// A `move` when the token's record moves here (`renamed_from`, or its
    /// system user's), and a `reinstate` when it is back in the policy
    /// while retired.
    fn moved_or_reinstated(&mut self, address: &TokenAddress, stored: &ObservedToken) {
        self.moved_here(address, stored);
        if let Some(revoke_after) = self.state.document.retiring.get(address) {
            let change = self.change(
                address,
                Action::Reinstate,
                format!("back in the policy: its revocation, due {revoke_after}, is cancelled"),
            );
            change.before = Some(value_snapshot(&stored.current));
        }
    }

    /// A `move` when the record the planner sees at `address` is stored
    /// elsewhere (a rename moved it in the planner's view): every later
    /// change at `address` needs it there.
    fn moved_here(&mut self, address: &TokenAddress, stored: &ObservedToken) {
        let Some(from) = self.renames.tokens.get(address) else {
            return;
        };
        let change = self.change(
            address,
            Action::Move,
            format!(
                "renamed from `{from}`: the stored token moves here; it is neither revoked nor re-issued"
            ),
        );
        change.system_user_id = Some(stored.current.metadata.system_user_id.clone());
        change.before = Some(value_snapshot(&stored.current));
        change.moved_from = Some(from.into());
    }

    /// Plans the revocation of a replaced value whose grace has ended.
    /// Returns when a still-pending previous value may be revoked.
    pub(super) fn previous(
        &mut self,
        address: &TokenAddress,
        observed: &ObservedToken,
    ) -> Option<Timestamp> {
        let previous = observed.previous.as_ref()?;
        let before = Some(value_snapshot(&previous.value));
        if let Health::Dead { cause, .. } = previous.value.health {
            let change = self.change(
                address,
                Action::Forget,
                format!(
                    "the replaced token is already dead ({}); nothing to revoke",
                    cause.describe()
                ),
            );
            change.before = before;
            change.maintenance = Some(Maintenance::ForgetDead);
            return None;
        }
        if let Health::NoVerdict { reason } = &previous.value.health {
            self.notice(
                NoticeLevel::Warning,
                NoticeKind::NoVerdict,
                address,
                format!(
                    "Meta gave no verdict on the replaced token {} ({reason}): graphform keeps it and will not revoke or forget it until debug_token says whether it works",
                    previous.value.metadata.fingerprint
                ),
            );
            return Some(previous.revoke_after);
        }
        if let Health::Unknown { app_id } = &previous.value.health {
            self.notice(
                NoticeLevel::Warning,
                NoticeKind::Manual,
                address,
                format!(
                    "the replaced token {} belongs to app {app_id}, which is no longer in the policy: graphform cannot revoke it; add the app back, or revoke it by hand",
                    previous.value.metadata.fingerprint
                ),
            );
            return Some(previous.revoke_after);
        }
        if self.now >= previous.revoke_after {
            let change = self.change(
                address,
                Action::Revoke,
                format!(
                    "replaced token's grace ended {} ago",
                    (self.now - previous.revoke_after).human()
                ),
            );
            change.before = before;
            change.maintenance = Some(Maintenance::RevokeSuperseded);
            return None;
        }
        self.decision_changes_at(previous.revoke_after);
        Some(previous.revoke_after)
    }

    /// Whether (and why) the current value must be replaced.
    pub(super) fn replacement(
        &mut self,
        token: &Token,
        current: &ObservedValue,
        app_id: &str,
        id: Option<&str>,
    ) -> Option<Replacement> {
        let metadata = &current.metadata;
        let (expires_at, live_scopes) = match &current.health {
            Health::Dead {
                cause,
                code,
                subcode,
            } => {
                return Some(dead_replacement(
                    *cause,
                    *code,
                    *subcode,
                    metadata.expires_at,
                ));
            }
            Health::Valid {
                expires_at, scopes, ..
            } => (*expires_at, scopes),
            // Its app left the policy: decide from the record (the change
            // of app below replaces it). (No verdict is handled before.)
            Health::Unknown { .. } | Health::NoVerdict { .. } => {
                (metadata.expires_at, &metadata.scopes)
            }
        };
        if let Some(at) = expires_at {
            self.decision_changes_at(at);
        }
        let Some(id) = id else {
            return Some(Replacement::new(
                Action::Rotate,
                format!(
                    "the system user is created by this plan; the stored token belongs to system user {}",
                    metadata.system_user_id
                ),
                None,
            ));
        };
        if id != metadata.system_user_id {
            return Some(Replacement::new(
                Action::Rotate,
                format!(
                    "system user was re-created (ID {} → {id})",
                    metadata.system_user_id
                ),
                None,
            ));
        }
        if metadata.app_id != app_id {
            return Some(Replacement::new(
                Action::Rotate,
                format!(
                    "app changed: {} → {app_id} (`{}`)",
                    metadata.app_id, token.app
                ),
                None,
            ));
        }
        if metadata.scopes != token.scopes {
            return Some(Replacement::new(
                Action::Rotate,
                format!(
                    "scopes changed: {}",
                    scope_diff(&metadata.scopes, &token.scopes)
                ),
                None,
            ));
        }
        if *live_scopes != metadata.scopes {
            return Some(Replacement::new(
                Action::Rotate,
                "scopes differ from the record".to_owned(),
                Some(format!(
                    "Meta reports scopes {}",
                    scope_diff(&metadata.scopes, live_scopes)
                )),
            ));
        }
        let wanted = match token.expiry {
            Expiry::SixtyDays { .. } => ExpiryMode::SixtyDays,
            Expiry::Never { .. } => ExpiryMode::Never,
        };
        if metadata.expiry != wanted {
            return Some(Replacement::new(
                Action::Rotate,
                format!(
                    "expiry changed: {} → {}",
                    metadata.expiry,
                    token.expiry.as_str()
                ),
                None,
            ));
        }
        self.time_driven(token, current, expires_at)
    }

    /// Refresh inside `refresh_before`, rotation on `rotate_every`: when
    /// each falls due is [`next_time_driven`]'s.
    pub(super) fn time_driven(
        &mut self,
        token: &Token,
        current: &ObservedValue,
        expires_at: Option<Timestamp>,
    ) -> Option<Replacement> {
        if token.expiry.mode() == ExpiryMode::SixtyDays && expires_at.is_none() {
            return Some(Replacement::new(
                Action::Rotate,
                "the policy wants a 60-day token".to_owned(),
                Some("Meta reports the token never expires".to_owned()),
            ));
        }
        let (action, from) =
            next_time_driven(token.expiry, current.metadata.issued_at, expires_at)?;
        match (token.expiry, expires_at) {
            (Expiry::SixtyDays { refresh_before }, Some(expires_at)) => {
                // Due once less than `refresh_before` is left: strictly
                // after `from`.
                if self.now > from {
                    return Some(Replacement::time(
                        action,
                        format!(
                            "expires in {}, refresh_before is {refresh_before}",
                            (expires_at - self.now).human()
                        ),
                        Maintenance::Refresh,
                    ));
                }
                self.decision_changes_at(from + Duration::seconds(1));
                None
            }
            (
                Expiry::Never {
                    rotate_every: Some(period),
                },
                _,
            ) => {
                if self.now >= from {
                    let issued_at = current.metadata.issued_at;
                    return Some(Replacement::time(
                        action,
                        format!(
                            "issued {} ago, rotate_every is {period}",
                            (self.now - issued_at).human()
                        ),
                        Maintenance::Rotate,
                    ));
                }
                self.decision_changes_at(from);
                None
            }
            // Nothing is scheduled for these (`next_time_driven` said so).
            (Expiry::SixtyDays { .. }, None) | (Expiry::Never { rotate_every: None }, _) => None,
        }
    }

    pub(super) fn timeline_entry(
        &mut self,
        address: &TokenAddress,
        token: &Token,
        current: &ObservedValue,
    ) {
        let metadata = &current.metadata;
        let expires_at = match &current.health {
            Health::Valid { expires_at, .. } => *expires_at,
            Health::Dead { .. } | Health::Unknown { .. } | Health::NoVerdict { .. } => {
                metadata.expires_at
            }
        };
        let next = next_time_driven(token.expiry, metadata.issued_at, expires_at);
        self.timeline.push(TimelineEntry {
            address: address.clone(),
            fingerprint: metadata.fingerprint.clone(),
            expiry: metadata.expiry,
            expires_at,
            status: TokenStatus::of(&current.health),
            next,
        });
    }

    /// Tokens in the store that the policy no longer names. A working
    /// one is retired: kept for its business's `grace` after the apply
    /// that retires it, then revoked (at once for `revoke_now`); a dead one
    /// is forgotten.
    pub(super) fn removed_tokens(&mut self, spec: &Spec, revoke_now: &BTreeSet<TokenAddress>) {
        let state = self.state;
        // Values stored at a managed address: a record elsewhere holding
        // one is the copy an interrupted rename left behind.
        let kept: BTreeSet<&Fingerprint> = state
            .tokens
            .iter()
            .filter(|(address, _)| self.managed_tokens.contains(*address))
            .map(|(_, observed)| &observed.current.metadata.fingerprint)
            .collect();
        for (address, observed) in &state.tokens {
            if self.managed_tokens.contains(address) {
                continue;
            }
            if kept.contains(&observed.current.metadata.fingerprint) {
                self.left_copy(address, observed);
                continue;
            }
            // A token of a renamed system user that the policy dropped
            // moves with the others, then is retired there.
            self.moved_here(address, observed);
            let grace = spec
                .businesses
                .iter()
                .find(|b| b.name == address.system_user().business())
                .map_or(DEFAULT_GRACE, |b| b.grace);
            let now = revoke_now.contains(address);
            let Some((action, reason, maintenance)) =
                self.removed_current(address, observed, grace, now)
            else {
                continue;
            };
            // Revoking or forgetting the current value drops the record:
            // the previous value goes first, whatever its grace. Retiring
            // keeps the record, and the previous value its own grace.
            if action == Action::Retire {
                self.previous(address, observed);
            } else if let Some(previous) = &observed.previous {
                self.removed_previous(address, &previous.value, maintenance);
            }
            let change = self.removal(address, &observed.current, action, reason);
            change.maintenance = maintenance;
        }
    }

    /// What becomes of the current value of a token the policy no longer
    /// names; `None` when nothing does yet (a notice says why or when).
    fn removed_current(
        &mut self,
        address: &TokenAddress,
        observed: &ObservedToken,
        grace: Duration,
        revoke_now: bool,
    ) -> Option<(Action, String, Option<Maintenance>)> {
        let current = &observed.current;
        let fingerprint = &current.metadata.fingerprint;
        Some(match &current.health {
            // The invalidation in this plan kills it.
            _ if self.dies(current) => (
                Action::Forget,
                "removed from the policy; the invalidation of its system user kills it".to_owned(),
                None,
            ),
            Health::Dead { .. } => (
                Action::Forget,
                "removed from the policy; the token is already dead".to_owned(),
                Some(Maintenance::ForgetDead),
            ),
            Health::Valid { .. } if revoke_now => (
                Action::Revoke,
                "removed from the policy; revoked now (--revoke-now), without grace".to_owned(),
                None,
            ),
            Health::Valid { .. } => match self.state.document.retiring.get(address) {
                Some(at) if self.now >= *at => (
                    Action::Revoke,
                    format!(
                        "removed from the policy; its grace ended {} ago",
                        (self.now - *at).human()
                    ),
                    Some(Maintenance::RevokeRemoved),
                ),
                Some(at) => {
                    self.decision_changes_at(*at);
                    self.notice(
                        NoticeLevel::Info,
                        NoticeKind::Deferred,
                        address,
                        format!(
                            "removed from the policy; {fingerprint} keeps working until its revocation at {at}"
                        ),
                    );
                    self.previous(address, observed);
                    return None;
                }
                None => (
                    Action::Retire,
                    format!(
                        "removed from the policy; kept working for grace {grace} after this apply (until {} if applied now), then revoked",
                        self.now + grace
                    ),
                    None,
                ),
            },
            Health::NoVerdict { reason } => {
                self.notice(
                    NoticeLevel::Warning,
                    NoticeKind::NoVerdict,
                    address,
                    format!(
                        "removed from the policy, but Meta gave no verdict on {fingerprint} ({reason}): graphform neither revokes nor forgets it until debug_token says whether it works"
                    ),
                );
                self.previous(address, observed);
                return None;
            }
            Health::Unknown { app_id } => {
                self.notice(
                    NoticeLevel::Warning,
                    NoticeKind::Manual,
                    address,
                    format!(
                        "removed from the policy with its app {app_id}: graphform has no secret to check or revoke {fingerprint}; add the app back to revoke it, or revoke it by hand"
                    ),
                );
                return None;
            }
        })
    }

    /// A record an interrupted rename copied to the new address and did
    /// not delete: dropped, its token is not revoked (the new address
    /// holds it).
    fn left_copy(&mut self, address: &TokenAddress, observed: &ObservedToken) {
        let values = observed
            .previous
            .iter()
            .map(|p| &p.value)
            .chain(std::iter::once(&observed.current));
        for value in values {
            self.removal(
                address,
                value,
                Action::Forget,
                "a copy an interrupted rename left behind; the token is stored at its new address, so it is not revoked".to_owned(),
            );
        }
    }

    /// The previous value of a token whose record this plan drops.
    fn removed_previous(
        &mut self,
        address: &TokenAddress,
        value: &ObservedValue,
        maintenance: Option<Maintenance>,
    ) {
        let (action, reason, maintenance) = match &value.health {
            _ if self.dies(value) => (
                Action::Forget,
                "removed from the policy; the invalidation of its system user kills the replaced token".to_owned(),
                None,
            ),
            Health::Valid { .. } => (
                Action::Revoke,
                "removed from the policy; the replaced token goes with it".to_owned(),
                maintenance,
            ),
            Health::Dead { .. } => (
                Action::Forget,
                "removed from the policy; the replaced token is already dead".to_owned(),
                Some(Maintenance::ForgetDead),
            ),
            Health::NoVerdict { reason } => {
                self.notice(
                    NoticeLevel::Warning,
                    NoticeKind::NoVerdict,
                    address,
                    format!(
                        "removed from the policy, but Meta gave no verdict on the replaced token {} ({reason}): graphform neither revokes nor forgets it until debug_token says whether it works",
                        value.metadata.fingerprint
                    ),
                );
                return;
            }
            Health::Unknown { app_id } => {
                self.notice(
                    NoticeLevel::Warning,
                    NoticeKind::Manual,
                    address,
                    format!(
                        "removed from the policy with its app {app_id}: graphform has no secret to check or revoke the replaced token {}; revoke it by hand",
                        value.metadata.fingerprint
                    ),
                );
                return;
            }
        };
        let change = self.removal(address, value, action, reason);
        change.maintenance = maintenance;
    }

    /// A change about a value of a token the policy no longer names.
    fn removal(
        &mut self,
        address: &TokenAddress,
        value: &ObservedValue,
        action: Action,
        reason: String,
    ) -> &mut Change {
        let change = self.change(address, action, reason);
        change.system_user_id = Some(value.metadata.system_user_id.clone());
        change.before = Some(value_snapshot(value));
        change
    }
}
