//! The planner: a pure function from (policy, observed state, now) to the
//! ordered list of changes that makes the world match the policy.
//!
//! No I/O and no clock: `now` is a parameter, and the same inputs give a
//! byte-identical [`Plan`]. Every rule of design.md §3 is here and only
//! here; `apply` executes a plan and never re-diffs.

use std::collections::{BTreeMap, BTreeSet};

use graphform_spec::{Business, Expiry, Spec, SystemUser, Token};
use graphform_store::Fingerprint;
use graphform_types::{
    Address, Duration, ExpiryMode, InstallAddress, Role, SystemUserAddress, Timestamp, TokenAddress,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::document::{IntentKind, Resolution};
use crate::state::{DeadCause, Health, ObservedSystemUser, ObservedToken, ObservedValue, State};

/// The plan format version (`graphform plan --format json`, plan files).
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Knobs of the planner. None changes a decision silently: each is an
/// explicit choice that shows in the plan a reviewer reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// For each system user for which an interrupted apply may have issued
    /// a token nobody stored: invalidate all its tokens
    /// (`DELETE /{su}/access_tokens`) and re-issue the managed ones.
    pub invalidate_orphaned: bool,
}

/// What must change, and why. Contains no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// The plan format's version (see [`PLAN_FORMAT_VERSION`]); readers
    /// refuse versions they do not know.
    pub format_version: u32,
    /// When the plan was made (the `now` it was made with).
    pub created_at: Timestamp,
    /// The first moment a time-driven decision in this plan would change
    /// (a refresh window opens, a grace period ends, a token expires);
    /// `None` when nothing is time-driven.
    pub valid_until: Option<Timestamp>,
    /// SHA-256 of the validated policy.
    pub policy_hash: String,
    /// SHA-256 of the observed state.
    pub state_hash: String,
    /// The changes, in a valid execution order.
    pub changes: Vec<Change>,
    /// What graphform noticed but will not change.
    pub notices: Vec<Notice>,
    /// Every stored managed token and what happens to it next.
    pub timeline: Vec<TimelineEntry>,
}

/// One change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// What it is about: `acme/ci-reporting/token/insights-read`.
    pub address: Address,
    /// What happens.
    pub action: Action,
    /// Why, in one line.
    pub reason: String,
    /// When the change is caused by drift (something changed outside
    /// graphform), what drifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
    /// The Meta ID of the system user the change acts on, as this plan
    /// observed it (installs, tokens, invalidations). `None` for a system
    /// user this plan creates: apply uses the ID the creation returns.
    /// Apply acts on exactly this ID, never on an older record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_user_id: Option<String>,
    /// The object before (for tokens: the value replaced or revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Snapshot>,
    /// The object after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Snapshot>,
}

/// What a change does.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a system user.
    Create,
    /// Install an app for a system user.
    Install,
    /// Issue a new token (none stored, or the stored one is dead).
    Issue,
    /// Exchange a 60-day token for a new 60-day token; the old one is kept
    /// for the grace period.
    Refresh,
    /// Issue a replacement; the old one is kept for the grace period.
    Rotate,
    /// Revoke a token.
    Revoke,
    /// Drop the record of a token that is already dead.
    Forget,
    /// Invalidate every token of a system user (opt-in, for tokens an
    /// interrupted apply may have issued and never stored).
    Invalidate,
}

impl Action {
    /// Every action, in summary order.
    pub const ALL: [Action; 8] = [
        Self::Create,
        Self::Install,
        Self::Issue,
        Self::Refresh,
        Self::Rotate,
        Self::Revoke,
        Self::Forget,
        Self::Invalidate,
    ];

    /// The action's name: `create`, `install`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Install => "install",
            Self::Issue => "issue",
            Self::Refresh => "refresh",
            Self::Rotate => "rotate",
            Self::Revoke => "revoke",
            Self::Forget => "forget",
            Self::Invalidate => "invalidate",
        }
    }
}

/// An object's attributes before or after a change (only those that apply).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    /// Meta's ID (system users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Role (system users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub role: Option<Role>,
    /// The app's local name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The app's ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Token scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<BTreeSet<String>>,
    /// Token expiry mode: `60d` or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub expiry: Option<ExpiryMode>,
    /// The token value's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub fingerprint: Option<Fingerprint>,
    /// When the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Something graphform noticed and will not change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notice {
    /// How much it matters.
    pub level: NoticeLevel,
    /// What kind of thing it is.
    pub kind: NoticeKind,
    /// What it is about.
    pub address: Address,
    /// What to know or do, in one line.
    pub message: String,
}

/// How much a [`Notice`] matters.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    /// For information.
    Info,
    /// Needs a person's attention.
    Warning,
}

/// The kinds of [`Notice`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A system user in Meta that the policy does not name.
    Unmanaged,
    /// A change the API cannot make; a person must make it.
    Manual,
    /// A change that waits for an earlier one to finish (a grace period).
    Deferred,
    /// Several system users share a name and none is recorded.
    Ambiguous,
    /// An interrupted apply may have issued a token that nobody stored.
    PossiblyOrphaned,
    /// An interrupted apply left a journal entry that the next apply
    /// settles.
    Interrupted,
    /// `debug_token` gave no verdict on a stored token: it is kept as it
    /// is, neither trusted nor replaced.
    NoVerdict,
    /// The system user recorded for an address is no longer the one Meta
    /// lists under the policy's name (renamed or removed outside
    /// graphform).
    Renamed,
    /// A change in this plan would invalidate the admin credential
    /// graphform acts with; apply refuses it unless explicitly allowed.
    AdminCredential,
}

/// A managed token and what happens to it next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TimelineEntry {
    /// The token's address.
    pub address: TokenAddress,
    /// The current value's fingerprint.
    #[schemars(with = "String")]
    pub fingerprint: Fingerprint,
    /// `60d` or `never`.
    #[schemars(with = "String")]
    pub expiry: ExpiryMode,
    /// When it expires (`None`: never).
    pub expires_at: Option<Timestamp>,
    /// What Meta says of it.
    pub status: TokenStatus,
    /// The next time-driven action and when it becomes due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<(Action, Timestamp)>,
}

/// A token's health in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    /// `debug_token` says it works.
    Valid,
    /// `debug_token` says it does not.
    Dead,
    /// Not checked (its app is not in the policy), or `debug_token` gave
    /// no verdict.
    Unchecked,
}

impl TokenStatus {
    fn of(health: &Health) -> Self {
        match health {
            Health::Valid { .. } => Self::Valid,
            Health::Dead { .. } => Self::Dead,
            Health::Unknown { .. } | Health::NoVerdict { .. } => Self::Unchecked,
        }
    }
}

impl Plan {
    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// How many changes of each action.
    pub fn counts(&self) -> BTreeMap<Action, usize> {
        let mut counts: BTreeMap<Action, usize> = Action::ALL.iter().map(|a| (*a, 0)).collect();
        for change in &self.changes {
            *counts.entry(change.action).or_default() += 1;
        }
        counts
    }
}

/// SHA-256 (hex) of the validated policy, as the plan records it.
pub fn policy_hash(spec: &Spec) -> String {
    sha256_json(spec)
}

/// SHA-256 (hex) of an observed state, as the plan records it.
pub fn state_hash(state: &State) -> String {
    sha256_json(state)
}

fn sha256_json<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).expect("plain data serializes to JSON");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The JSON Schema of a plan document (`schemas/plan.schema.json`).
pub fn plan_schema() -> String {
    let schema = schemars::schema_for!(Plan);
    let mut text = serde_json::to_string_pretty(&schema).expect("a JSON Schema serializes to JSON");
    text.push('\n');
    text
}

/// Plans the changes that make `state` match `spec` at time `now`.
///
/// Pure and deterministic: no I/O, no clock, and the same inputs give the
/// same plan.
pub fn plan(spec: &Spec, state: &State, now: Timestamp, options: &PlanOptions) -> Plan {
    let mut planner = Planner {
        state,
        now,
        changes: Vec::new(),
        notices: Vec::new(),
        timeline: Vec::new(),
        valid_until: None,
        managed_tokens: BTreeSet::new(),
        invalidated: BTreeSet::new(),
    };
    planner.journal(spec, options);
    for business in &spec.businesses {
        planner.business(business);
    }
    planner.removed_tokens();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        created_at: now,
        valid_until: planner.valid_until,
        policy_hash: policy_hash(spec),
        state_hash: state_hash(state),
        changes: planner.changes,
        notices: planner.notices,
        timeline: planner.timeline,
    }
}

struct Planner<'s> {
    state: &'s State,
    now: Timestamp,
    changes: Vec<Change>,
    notices: Vec<Notice>,
    timeline: Vec<TimelineEntry>,
    valid_until: Option<Timestamp>,
    managed_tokens: BTreeSet<TokenAddress>,
    /// System users (Meta IDs) whose tokens this plan invalidates.
    invalidated: BTreeSet<String>,
}

/// Where a system user stands after matching the policy with Meta.
enum Match<'s> {
    /// It exists in Meta.
    Found(&'s ObservedSystemUser),
    /// It will be created by this plan.
    Missing,
    /// It cannot be decided; a notice says why.
    Unknown,
}

impl<'s> Planner<'s> {
    fn change(
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
        });
        self.changes.last_mut().expect("just pushed")
    }

    fn notice(
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

    /// Records a moment at which a decision of this plan changes.
    fn decision_changes_at(&mut self, at: Timestamp) {
        if at > self.now {
            self.valid_until = Some(self.valid_until.map_or(at, |current| current.min(at)));
        }
    }

    /// Entries an interrupted apply left in the journal: settled ones are
    /// reported and dropped by the next apply; a possibly orphaned token is
    /// a warning until its system user's tokens are invalidated, which the
    /// user opts in to.
    fn journal(&mut self, spec: &Spec, options: &PlanOptions) {
        let state = self.state;
        for intent in &state.document.journal {
            let stored = intent.address.as_token().and_then(|t| state.tokens.get(t));
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
            if intent.resolution(stored) == Resolution::Settled {
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
                        "an apply interrupted at {} may have issued a token nobody stored",
                        intent.started_at
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
                        "an apply interrupted at {} may have issued a token for system user {system_user_id} that nobody stored; \
                         to make sure it cannot be used, plan and apply with --invalidate-orphaned (all of the system user's tokens are invalidated and the managed ones re-issued)",
                        intent.started_at
                    ),
                );
            }
        }
    }

    /// Whether an invalidation in this plan kills `value`.
    fn dies(&self, value: &ObservedValue) -> bool {
        self.invalidated.contains(&value.metadata.system_user_id)
    }

    /// Warns when invalidating the tokens of `system_user_id` (at `user`)
    /// would kill the admin token graphform acts with for the business.
    fn admin_credential_warning(&mut self, user: &SystemUserAddress, system_user_id: &str) {
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

    fn business(&mut self, business: &Business) {
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

    fn system_user(
        &mut self,
        business: &Business,
        user: &SystemUser,
        listed: &'s [ObservedSystemUser],
    ) {
        let address = SystemUserAddress::new(&business.name, &user.name);
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

    /// Says so when the ID recorded for `address` is not the one this plan
    /// acts on (`found`, or a user it creates): the recorded user was
    /// renamed or removed outside graphform.
    fn recorded_elsewhere(
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

    fn match_system_user(
        &mut self,
        address: &SystemUserAddress,
        user: &SystemUser,
        listed: &'s [ObservedSystemUser],
    ) -> Match<'s> {
        let same_name: Vec<&ObservedSystemUser> =
            listed.iter().filter(|u| u.name == user.name).collect();
        match same_name.as_slice() {
            [] => Match::Missing,
            [one] => Match::Found(one),
            several => {
                let recorded = self.state.document.system_users.get(address);
                if let Some(one) = several.iter().find(|u| Some(&u.id) == recorded) {
                    return Match::Found(one);
                }
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

    fn install(&mut self, business: &Business, user: &SystemUser, app: &str, id: Option<&str>) {
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
    fn forgotten_installs(&mut self, business: &Business, user: &SystemUser) {
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

    /// Plans the token's changes; each acts on the system user `id` (or
    /// the one this plan creates).
    fn token(&mut self, business: &Business, user: &SystemUser, token: &Token, id: Option<&str>) {
        let first = self.changes.len();
        self.token_changes(business, user, token, id);
        for change in &mut self.changes[first..] {
            change.system_user_id = id.map(str::to_owned);
        }
    }

    fn token_changes(
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
            let reason = if id.is_none() {
                "new system user".to_owned()
            } else {
                "no token stored".to_owned()
            };
            self.change(&address, Action::Issue, reason).after = Some(after);
            return;
        };
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
        let Some((action, reason, drift)) = self.replacement(token, &observed.current, app_id, id)
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
        change.before = Some(value_snapshot(&observed.current));
        change.after = Some(after);
    }

    /// Plans the revocation of a replaced value whose grace has ended.
    /// Returns when a still-pending previous value may be revoked.
    fn previous(&mut self, address: &TokenAddress, observed: &ObservedToken) -> Option<Timestamp> {
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
            return None;
        }
        self.decision_changes_at(previous.revoke_after);
        Some(previous.revoke_after)
    }

    /// Whether (and why) the current value must be replaced.
    fn replacement(
        &mut self,
        token: &Token,
        current: &ObservedValue,
        app_id: &str,
        id: Option<&str>,
    ) -> Option<(Action, String, Option<String>)> {
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
            return Some((
                Action::Rotate,
                format!(
                    "the system user is created by this plan; the stored token belongs to system user {}",
                    metadata.system_user_id
                ),
                None,
            ));
        };
        if id != metadata.system_user_id {
            return Some((
                Action::Rotate,
                format!(
                    "system user was re-created (ID {} → {id})",
                    metadata.system_user_id
                ),
                None,
            ));
        }
        if metadata.app_id != app_id {
            return Some((
                Action::Rotate,
                format!(
                    "app changed: {} → {app_id} (`{}`)",
                    metadata.app_id, token.app
                ),
                None,
            ));
        }
        if metadata.scopes != token.scopes {
            return Some((
                Action::Rotate,
                format!(
                    "scopes changed: {}",
                    scope_diff(&metadata.scopes, &token.scopes)
                ),
                None,
            ));
        }
        if *live_scopes != metadata.scopes {
            return Some((
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
            return Some((
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

    /// Refresh inside `refresh_before`, rotation on `rotate_every`.
    fn time_driven(
        &mut self,
        token: &Token,
        current: &ObservedValue,
        expires_at: Option<Timestamp>,
    ) -> Option<(Action, String, Option<String>)> {
        match token.expiry {
            Expiry::SixtyDays { refresh_before } => {
                let Some(expires_at) = expires_at else {
                    return Some((
                        Action::Rotate,
                        "the policy wants a 60-day token".to_owned(),
                        Some("Meta reports the token never expires".to_owned()),
                    ));
                };
                let window = refresh_before;
                let left = expires_at - self.now;
                if left < window {
                    return Some((
                        Action::Refresh,
                        format!(
                            "expires in {}, refresh_before is {refresh_before}",
                            (left).human()
                        ),
                        None,
                    ));
                }
                self.decision_changes_at(expires_at - window + Duration::seconds(1));
                None
            }
            Expiry::Never { rotate_every } => {
                let period = rotate_every?;
                let issued_at = current.metadata.issued_at;
                let due = issued_at.saturating_add(period);
                if self.now >= due {
                    return Some((
                        Action::Rotate,
                        format!(
                            "issued {} ago, rotate_every is {period}",
                            (self.now - issued_at).human()
                        ),
                        None,
                    ));
                }
                self.decision_changes_at(due);
                None
            }
        }
    }

    fn timeline_entry(&mut self, address: &TokenAddress, token: &Token, current: &ObservedValue) {
        let metadata = &current.metadata;
        let expires_at = match &current.health {
            Health::Valid { expires_at, .. } => *expires_at,
            Health::Dead { .. } | Health::Unknown { .. } | Health::NoVerdict { .. } => {
                metadata.expires_at
            }
        };
        let next = match token.expiry {
            Expiry::SixtyDays { refresh_before } => {
                expires_at.map(|at| (Action::Refresh, at.saturating_sub(refresh_before)))
            }
            Expiry::Never { rotate_every } => rotate_every
                .map(|period| (Action::Rotate, metadata.issued_at.saturating_add(period))),
        };
        self.timeline.push(TimelineEntry {
            address: address.clone(),
            fingerprint: metadata.fingerprint.clone(),
            expiry: metadata.expiry,
            expires_at,
            status: TokenStatus::of(&current.health),
            next,
        });
    }

    /// Tokens in the store that the policy no longer names: revoke what
    /// still works, forget what does not.
    fn removed_tokens(&mut self) {
        let state = self.state;
        for (address, observed) in &state.tokens {
            if self.managed_tokens.contains(address) {
                continue;
            }
            // The previous value first: revoking the current one drops
            // the record.
            let values = observed
                .previous
                .as_ref()
                .map(|p| &p.value)
                .into_iter()
                .chain(std::iter::once(&observed.current));
            for value in values {
                let (action, reason) = match &value.health {
                    // The invalidation in this plan kills it.
                    _ if self.dies(value) => (
                        Action::Forget,
                        "removed from the policy; the invalidation of its system user kills it"
                            .to_owned(),
                    ),
                    Health::Valid { .. } => (Action::Revoke, "removed from the policy".to_owned()),
                    Health::Dead { .. } => (
                        Action::Forget,
                        "removed from the policy; the token is already dead".to_owned(),
                    ),
                    Health::NoVerdict { reason } => {
                        self.notices.push(Notice {
                            level: NoticeLevel::Warning,
                            kind: NoticeKind::NoVerdict,
                            address: address.into(),
                            message: format!(
                                "removed from the policy, but Meta gave no verdict on {} ({reason}): graphform neither revokes nor forgets it until debug_token says whether it works",
                                value.metadata.fingerprint
                            ),
                        });
                        continue;
                    }
                    Health::Unknown { app_id } => {
                        self.notices.push(Notice {
                            level: NoticeLevel::Warning,
                            kind: NoticeKind::Manual,
                            address: address.into(),
                            message: format!(
                                "removed from the policy with its app {app_id}: graphform has no secret to check or revoke {}; add the app back to revoke it, or revoke it by hand",
                                value.metadata.fingerprint
                            ),
                        });
                        continue;
                    }
                };
                self.changes.push(Change {
                    address: address.into(),
                    action,
                    reason,
                    drift: None,
                    system_user_id: Some(value.metadata.system_user_id.clone()),
                    before: Some(value_snapshot(value)),
                    after: None,
                });
            }
        }
    }
}

/// A dead current token is replaced by a new one at once (no grace: it no
/// longer works). Expiry is not drift; anything else is.
fn dead_replacement(
    cause: DeadCause,
    code: Option<i64>,
    subcode: Option<i64>,
    expires_at: Option<Timestamp>,
) -> (Action, String, Option<String>) {
    let code = match (code, subcode) {
        (Some(code), Some(subcode)) => format!(" ({code}/{subcode})"),
        (Some(code), None) => format!(" ({code})"),
        _ => String::new(),
    };
    let drift = (cause != DeadCause::Expired)
        .then(|| format!("the current token was {}{code}", cause.describe()));
    let reason = match (cause, expires_at) {
        (DeadCause::Expired, Some(at)) => {
            format!("the current token expired at {at}")
        }
        _ => format!("the current token is dead: {}", cause.describe()),
    };
    (Action::Issue, reason, drift)
}

/// A role as Meta listed it, or nothing when it did not say.
fn role_name(role: Option<&Role>) -> &str {
    role.map_or("", Role::as_str)
}

fn value_snapshot(value: &ObservedValue) -> Snapshot {
    let metadata = &value.metadata;
    Snapshot {
        app_id: Some(metadata.app_id.clone()),
        scopes: Some(metadata.scopes.clone()),
        expiry: Some(metadata.expiry),
        fingerprint: Some(metadata.fingerprint.clone()),
        expires_at: metadata.expires_at,
        ..Snapshot::default()
    }
}

/// `+ads_management -ads_read`.
fn scope_diff(from: &BTreeSet<String>, to: &BTreeSet<String>) -> String {
    let added = to.difference(from).map(|s| format!("+{s}"));
    let removed = from.difference(to).map(|s| format!("-{s}"));
    added.chain(removed).collect::<Vec<_>>().join(" ")
}
