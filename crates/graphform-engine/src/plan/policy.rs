//! The planner's walk over the policy: businesses, system users (matched
//! with Meta by name), their app installs, and the journal an interrupted
//! apply left.

use std::collections::BTreeSet;

use graphform_spec::{Business, Spec, SystemUser};
use graphform_types::{Address, InstallAddress, SystemUserAddress, Timestamp, TokenAddress};

use crate::document::{IntentKind, Resolution};
use crate::state::{DeadCause, Health, ObservedSystemUser, ObservedValue};

use super::{
    Action, Change, Match, Notice, NoticeKind, NoticeLevel, PlanOptions, Planner, Snapshot,
    role_name,
};

impl<'s> Planner<'s> {
    pub(super) fn change(
        &mut self,
        address: impl Into<Address>,
        action: Action,
        reason: String,
    ) -> &mut Change {
        self.changes.push(Change {
            address: address.into(),
            action,
            reason,
            drift: None,
            system_user_id: None,
            before: None,
            after: None,
            maintenance: None,
            moved_from: None,
        });
        self.changes.last_mut().expect("just pushed")
    }

    pub(super) fn notice(
        &mut self,
        level: NoticeLevel,
        kind: NoticeKind,
        address: impl Into<Address>,
        message: String,
    ) {
        self.notices.push(Notice {
            level,
            kind,
            address: address.into(),
            message,
        });
    }

    /// A warning that `renamed_from: old` of `address` found nothing to
    /// rename, so `instead` happens; with the closest of `candidates` (the
    /// names there that the policy does not use) as a likely typo.
    pub(super) fn unmatched_rename<'c>(
        &mut self,
        address: impl Into<Address>,
        old: &str,
        candidates: impl IntoIterator<Item = &'c str>,
        instead: &str,
    ) {
        let guess = graphform_spec::suggest::closest(old, candidates)
            .map_or_else(String::new, |best| format!("; did you mean `{best}`?"));
        self.notice(
            NoticeLevel::Warning,
            NoticeKind::UnmatchedRename,
            address,
            format!("`renamed_from: {old}` names nothing graphform can find, so {instead}{guess}"),
        );
    }

    /// Records a moment at which a decision of this plan changes.
    pub(super) fn decision_changes_at(&mut self, at: Timestamp) {
        if at > self.now {
            self.valid_until = Some(self.valid_until.map_or(at, |current| current.min(at)));
        }
    }

    /// Entries an interrupted apply (or one that got no answer) left in the
    /// journal: settled ones are reported and dropped by the next apply; a
    /// possibly orphaned token ([`crate::document::StateDocument::resolution`]) is
    /// a warning until its system user's tokens are invalidated, which the
    /// user opts in to.
    pub(super) fn journal(&mut self, spec: &Spec, options: &PlanOptions) {
        let state = self.state;
        for intent in &state.document.journal {
            let IntentKind::NewToken { system_user_id, .. } = &intent.kind else {
                self.notice(
                    NoticeLevel::Info,
                    NoticeKind::Interrupted,
                    intent.address.clone(),
                    format!(
                        "an apply interrupted at {} was making this change; the next apply settles it",
                        intent.started_at
                    ),
                );
                continue;
            };
            let user = intent.address.system_user();
            if state.document.resolution(intent, &state.tokens) != Resolution::PossiblyOrphaned {
                continue;
            }
            let managed = spec.businesses.iter().any(|b| {
                b.system_users
                    .iter()
                    .any(|u| SystemUserAddress::new(&b.name, &u.name) == *user)
            });
            if options.invalidate_orphaned && managed && !self.invalidated.contains(system_user_id)
            {
                self.invalidated.insert(system_user_id.clone());
                let change = self.change(
                    user,
                    Action::Invalidate,
                    format!(
                        "{}: it may have issued a token nobody stored",
                        intent.unverified_issue()
                    ),
                );
                change.system_user_id = Some(system_user_id.clone());
                change.before = Some(Snapshot {
                    id: Some(system_user_id.clone()),
                    ..Snapshot::default()
                });
                self.admin_credential_warning(user, system_user_id);
            } else if !self.invalidated.contains(system_user_id) {
                self.notice(
                    NoticeLevel::Warning,
                    NoticeKind::PossiblyOrphaned,
                    intent.address.clone(),
                    format!(
                        "{}: it may have issued a token for system user {system_user_id} that nobody stored; \
                         to make sure it cannot be used, plan and apply with --invalidate-orphaned (all of the system user's tokens are invalidated and the managed ones re-issued)",
                        intent.unverified_issue()
                    ),
                );
            }
        }
    }

    /// Whether an invalidation in this plan kills `value`.
    pub(super) fn dies(&self, value: &ObservedValue) -> bool {
        self.invalidated.contains(&value.metadata.system_user_id)
    }

    /// Warns when invalidating the tokens of `system_user_id` (at `user`)
    /// would kill the admin token graphform acts with for the business.
    pub(super) fn admin_credential_warning(
        &mut self,
        user: &SystemUserAddress,
        system_user_id: &str,
    ) {
        let business_name = user.business();
        let Some(business) = self.state.businesses.get(business_name) else {
            return;
        };
        let message = match business.admin_system_user_id.as_deref() {
            Some(admin) if admin == system_user_id => format!(
                "invalidating the tokens of {user} also kills the admin token graphform acts with for business `{business_name}` (it belongs to system user {admin}): every later run would fail until a new admin token is set. \
                 Act with another admin credential (a person's admin token, or an admin system user this policy does not manage), or accept it with --allow-admin-invalidation"
            ),
            Some(_) => return,
            None => format!(
                "graphform could not tell which system user holds the admin token of business `{business_name}`: invalidating the tokens of {user} may kill it. \
                 Act with another admin credential, or accept the risk with --allow-admin-invalidation"
            ),
        };
        self.notice(
            NoticeLevel::Warning,
            NoticeKind::AdminCredential,
            user,
            message,
        );
    }

    pub(super) fn business(&mut self, business: &Business) {
        let observed = self.state.businesses.get(&business.name);
        let listed: &[ObservedSystemUser] = observed.map_or(&[], |b| b.system_users.as_slice());
        for user in &business.system_users {
            self.system_user(business, user, listed);
        }
        let named: BTreeSet<&str> = business
            .system_users
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        for other in listed.iter().filter(|u| !named.contains(u.name.as_str())) {
            let address = SystemUserAddress::new(&business.name, &other.name);
            let removed = self.state.document.system_users.get(&address) == Some(&other.id);
            let (level, kind, message) = if removed {
                (
                    NoticeLevel::Warning,
                    NoticeKind::Manual,
                    format!(
                        "removed from the policy, but Meta cannot delete system users: remove it in Business Settings if it is no longer needed (ID {})",
                        other.id
                    ),
                )
            } else {
                (
                    NoticeLevel::Info,
                    NoticeKind::Unmanaged,
                    format!(
                        "not in the policy; graphform leaves it alone ({}, ID {})",
                        role_name(other.role.as_ref()),
                        other.id
                    ),
                )
            };
            self.notice(level, kind, address, message);
        }
    }

    pub(super) fn system_user(
        &mut self,
        business: &Business,
        user: &SystemUser,
        listed: &'s [ObservedSystemUser],
    ) {
        let address = SystemUserAddress::new(&business.name, &user.name);
        if let Some((old, id, still_old)) = self.renames.users.get(&address) {
            let reason = if *still_old {
                format!(
                    "renamed from `{}`: Meta's system user {id} gets the new name, its records and tokens move; no token is revoked or issued",
                    old.name()
                )
            } else {
                format!(
                    "renamed from `{}` (Meta has the new name already): its records and tokens move",
                    old.name()
                )
            };
            let change = self.change(&address, Action::Rename, reason);
            change.system_user_id = Some(id.clone());
            change.before = Some(Snapshot {
                id: Some(id.clone()),
                ..Snapshot::default()
            });
            change.moved_from = Some(old.into());
        }
        let found = self.match_system_user(&address, user, listed);
        if !matches!(found, Match::Unknown) {
            let found_id = match found {
                Match::Found(observed) => Some(observed.id.as_str()),
                _ => None,
            };
            self.recorded_elsewhere(&address, found_id, listed);
        }
        let id = match found {
            Match::Found(observed) => {
                if !self.state.document.system_users.contains_key(&address) {
                    self.adopted(&address, user, &observed.id);
                }
                if observed.role.as_ref() != Some(&user.role) {
                    self.notice(
                        NoticeLevel::Warning,
                        NoticeKind::Manual,
                        &address,
                        format!(
                            "role is {} in Meta but {} in the policy; the API cannot change a role: change it in Business Settings",
                            role_name(observed.role.as_ref()),
                            user.role
                        ),
                    );
                }
                Some(observed.id.as_str())
            }
            Match::Missing => {
                if let Some(old) = &user.renamed_from {
                    let unnamed = self.state.businesses.get(&business.name).map(|listed| {
                        listed
                            .system_users
                            .iter()
                            .map(|u| u.name.as_str())
                            .filter(|name| !business.system_users.iter().any(|p| p.name == *name))
                    });
                    self.unmatched_rename(
                        &address,
                        old,
                        unnamed.into_iter().flatten(),
                        "this plan creates a new system user instead of renaming one",
                    );
                }
                let change = self.change(
                    &address,
                    Action::Create,
                    format!(
                        "no system user named `{}` in business {}",
                        user.name, business.id
                    ),
                );
                change.after = Some(Snapshot {
                    role: Some(user.role.clone()),
                    ..Snapshot::default()
                });
                None
            }
            Match::Unknown => {
                // Hands off, but its stored tokens are still the policy's:
                // they must not be taken for removed ones and revoked.
                for token in &user.tokens {
                    let address = TokenAddress::new(&business.name, &user.name, &token.name);
                    self.managed_tokens.insert(address.clone());
                }
                return;
            }
        };
        for app in &user.apps {
            self.install(business, user, app, id);
        }
        self.forgotten_installs(business, user);
        for token in &user.tokens {
            self.token(business, user, token, id);
        }
    }

    /// Says that the system user at `address`, listed by Meta as `id` and
    /// not in graphform's records, is adopted by name, and that its tokens
    /// made outside graphform are invisible to it: each keeps working
    /// unmanaged unless `graphform import` adopts it. Nothing to say for a
    /// system user the policy gives no token.
    fn adopted(&mut self, address: &SystemUserAddress, user: &SystemUser, id: &str) {
        let token = match user.tokens.as_slice() {
            [] => return,
            [one] => address.token(&one.name).to_string(),
            _ => format!("{address}/token/NAME"),
        };
        self.notice(
            NoticeLevel::Info,
            NoticeKind::Adopted,
            address,
            format!(
                "exists in Meta (ID {id}) and is not in graphform's records: graphform adopts it by name. \
                 It cannot see the tokens this system user already has; they keep working, unmanaged. \
                 To have graphform manage one of them instead of issuing a new one: `graphform import {token} --token-env VAR`"
            ),
        );
    }

    /// Says so when the ID recorded for `address` is not the one this plan
    /// acts on (`found`, or a user it creates): the recorded user was
    /// renamed or removed outside graphform.
    pub(super) fn recorded_elsewhere(
        &mut self,
        address: &SystemUserAddress,
        found: Option<&str>,
        listed: &[ObservedSystemUser],
    ) {
        let Some(recorded) = self.state.document.system_users.get(address) else {
            return;
        };
        if Some(recorded.as_str()) == found {
            return;
        }
        let acting_on = found.map_or_else(
            || "a new system user with the policy's name".to_owned(),
            |id| format!("system user {id}, which has the policy's name"),
        );
        let what = match listed.iter().find(|u| &u.id == recorded) {
            Some(other) => format!(
                "system user {recorded}, recorded for this address, is now named `{}` in Meta (renamed outside graphform)",
                other.name
            ),
            None => format!(
                "system user {recorded}, recorded for this address, is no longer listed by Meta"
            ),
        };
        self.notice(
            NoticeLevel::Warning,
            NoticeKind::Renamed,
            address,
            format!(
                "{what}; graphform now acts on {acting_on}: tokens stored for {recorded} are replaced, then revoked after their grace. To keep managing {recorded}, rename it back in Business Settings"
            ),
        );
    }

    pub(super) fn match_system_user(
        &mut self,
        address: &SystemUserAddress,
        user: &SystemUser,
        listed: &'s [ObservedSystemUser],
    ) -> Match<'s> {
        let recorded = self.state.document.system_users.get(address);
        match by_name(listed, &user.name, recorded.map(String::as_str)) {
            ByName::Missing => Match::Missing,
            ByName::Found(one) => Match::Found(one),
            ByName::Ambiguous(several) => {
                let ids: Vec<&str> = several.iter().map(|u| u.id.as_str()).collect();
                self.notice(
                    NoticeLevel::Warning,
                    NoticeKind::Ambiguous,
                    address,
                    format!(
                        "{} system users are named `{}` (IDs {}); graphform will not guess which one it manages: rename the others in Business Settings",
                        several.len(),
                        user.name,
                        ids.join(", ")
                    ),
                );
                Match::Unknown
            }
        }
    }

    pub(super) fn install(
        &mut self,
        business: &Business,
        user: &SystemUser,
        app: &str,
        id: Option<&str>,
    ) {
        let address = SystemUserAddress::new(&business.name, &user.name).install(app);
        let app_id = &business.apps[app].id;
        let recorded = self.state.document.installs.get(&address);
        let uninstalled = user.tokens.iter().filter(|t| t.app == app).any(|t| {
            let token = TokenAddress::new(&business.name, &user.name, &t.name);
            self.state.tokens.get(&token).is_some_and(|observed| {
                matches!(
                    observed.current.health,
                    Health::Dead {
                        cause: DeadCause::AppUninstalled,
                        ..
                    }
                )
            })
        });
        let (reason, drift) = match (id, recorded) {
            (None, _) => (format!("new system user needs app `{app}`"), None),
            (Some(_), None) => ("not recorded as installed".to_owned(), None),
            (Some(id), Some(record)) if record.system_user_id != id => (
                format!(
                    "recorded for system user {}, which is now {id}",
                    record.system_user_id
                ),
                None,
            ),
            (Some(_), Some(record)) if &record.app_id != app_id => (
                format!("app ID changed: {} → {app_id}", record.app_id),
                None,
            ),
            (Some(_), Some(_)) if uninstalled => (
                "uninstalled outside graphform".to_owned(),
                Some("its tokens fail with 190/458 (app not installed)".to_owned()),
            ),
            (Some(_), Some(_)) => return,
        };
        let change = self.change(&address, Action::Install, reason);
        change.drift = drift;
        change.system_user_id = id.map(str::to_owned);
        change.after = Some(Snapshot {
            app: Some(app.to_owned()),
            app_id: Some(app_id.clone()),
            ..Snapshot::default()
        });
    }

    /// Installs graphform made for apps the policy no longer lists.
    pub(super) fn forgotten_installs(&mut self, business: &Business, user: &SystemUser) {
        let owner = SystemUserAddress::new(&business.name, &user.name);
        let removed: Vec<InstallAddress> = self
            .state
            .document
            .installs
            .keys()
            .filter(|address| *address.system_user() == owner && !user.apps.contains(address.app()))
            .cloned()
            .collect();
        for address in removed {
            self.notice(
                NoticeLevel::Warning,
                NoticeKind::Manual,
                &address,
                "removed from the policy, but the API cannot uninstall apps: remove it in Business Settings".to_owned(),
            );
        }
    }
}

/// Which of the system users Meta lists is the policy's system user
/// `name`: the one of that name; among several of that name, the one
/// graphform `recorded` for the address. Observed system users, matched as
/// the planner matches them (`graphform import` matches the same way).
pub(crate) fn by_name<'s>(
    listed: &'s [ObservedSystemUser],
    name: &str,
    recorded: Option<&str>,
) -> ByName<'s> {
    let same_name: Vec<&ObservedSystemUser> = listed.iter().filter(|u| u.name == name).collect();
    match same_name.as_slice() {
        [] => ByName::Missing,
        [one] => ByName::Found(one),
        several => match several.iter().find(|u| Some(u.id.as_str()) == recorded) {
            Some(one) => ByName::Found(one),
            None => ByName::Ambiguous(same_name),
        },
    }
}

/// What [`by_name`] found.
pub(crate) enum ByName<'s> {
    /// The system user.
    Found(&'s ObservedSystemUser),
    /// None has the name.
    Missing,
    /// Several have it and none is recorded.
    Ambiguous(Vec<&'s ObservedSystemUser>),
}
