//! The planner: a pure function from (policy, observed state, now) to the
//! ordered list of changes that makes the world match the policy.
//!
//! No I/O and no clock: `now` is a parameter, and the same inputs give a
//! byte-identical [`Plan`]. Every rule of design.md §3 is here and only
//! here; `apply` executes a plan and never re-diffs.

use std::collections::{BTreeMap, BTreeSet};

use graphform_spec::Spec;
use graphform_store::Fingerprint;
use graphform_types::{Address, ExpiryMode, Role, Timestamp, TokenAddress};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::admin::CredentialWarning;
use crate::state::{DeadCause, Health, ObservedSystemUser, ObservedValue, State};

mod policy;
mod rename;
mod tokens;

pub(crate) use policy::{ByName, by_name};
pub(crate) use rename::stored_moves;
pub use tokens::next_time_driven;

/// The plan format version (`graphform plan --format json`, plan files).
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Knobs of the planner. None changes a decision silently: each is an
/// explicit choice that shows in the plan a reviewer reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// For each system user for which an apply may have issued
    /// a token nobody stored: invalidate all its tokens
    /// (`DELETE /{su}/access_tokens`) and re-issue the managed ones.
    pub invalidate_orphaned: bool,
    /// Tokens removed from the policy to revoke in this plan rather than
    /// after their grace (a compromised token). Each must be one the
    /// policy no longer names and the store holds: [`check_options`]
    /// refuses any other.
    pub revoke_now: BTreeSet<TokenAddress>,
}

impl PlanOptions {
    /// These options with those a saved plan was made with, so that
    /// applying the plan file plans the same changes: `--invalidate-orphaned`
    /// when it invalidates, and its `--revoke-now` tokens.
    #[must_use]
    pub fn with_saved(&self, saved: &Plan) -> Self {
        let mut options = self.clone();
        options.invalidate_orphaned |= saved
            .changes
            .iter()
            .any(|change| change.action == Action::Invalidate);
        options.revoke_now.extend(saved.revoke_now.iter().cloned());
        options
    }
}

/// Why `--revoke-now` cannot do what it asks: a leaked token must not be
/// left working because of a typo, so a plan or apply naming one of these
/// is refused whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RevokeNowError {
    /// The policy still names the token (perhaps as a rename's old name):
    /// it is managed, not removed.
    #[error("`--revoke-now {0}`: the policy still names this token, so nothing would revoke it")]
    StillManaged(TokenAddress),
    /// Nothing is stored at the address.
    #[error("`--revoke-now {address}`: no token is stored there, so nothing would be revoked")]
    NotStored {
        /// The address given.
        address: TokenAddress,
        /// Stored tokens the policy no longer names, closest first.
        close: Vec<TokenAddress>,
    },
}

impl RevokeNowError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::StillManaged(_) => "remove the token from the policy first, then plan or apply with `--revoke-now` (it is revoked in that run); to replace a token that stays, change its scopes and it is rotated".to_owned(),
            Self::NotStored { close, .. } if !close.is_empty() => {
                let names: Vec<String> = close.iter().map(|a| format!("`{a}`")).collect();
                format!("did you mean {}? `graphform status` lists the stored tokens the policy no longer names, under \"Removed from the policy\"", names.join(" or "))
            }
            Self::NotStored { .. } => "only a token removed from the policy and still stored can be revoked now: `graphform status` lists them, under \"Removed from the policy\"".to_owned(),
        }
    }
}

/// Refuses options that cannot do what they ask (see [`RevokeNowError`]):
/// checked by `plan` and by `apply` (under the lease, against what it
/// observed) before anything is planned.
///
/// # Errors
///
/// The first `--revoke-now` address that names a token the policy still
/// has, or one not stored.
pub fn check_options(
    spec: &Spec,
    state: &State,
    options: &PlanOptions,
) -> Result<(), RevokeNowError> {
    let managed: BTreeSet<TokenAddress> = spec.token_addresses().collect();
    // A record a rename moves is the renamed token's: still managed.
    let renamed = rename::view(spec, state);
    let view = renamed.as_ref().map_or(state, |(view, _)| view);
    let removed: Vec<&TokenAddress> = view
        .tokens
        .keys()
        .filter(|address| !managed.contains(*address))
        .collect();
    for address in &options.revoke_now {
        if managed.contains(address)
            || !view.tokens.contains_key(address) && state.tokens.contains_key(address)
        {
            return Err(RevokeNowError::StillManaged(address.clone()));
        }
        if !view.tokens.contains_key(address) {
            return Err(RevokeNowError::NotStored {
                address: address.clone(),
                close: close_addresses(address, removed.iter().copied()),
            });
        }
    }
    Ok(())
}

/// The addresses of `candidates` closest to `address`, closest first (at
/// most three), for a "did you mean" hint.
pub(crate) fn close_addresses<'a>(
    address: &TokenAddress,
    candidates: impl IntoIterator<Item = &'a TokenAddress>,
) -> Vec<TokenAddress> {
    let all: Vec<(String, &TokenAddress)> = candidates
        .into_iter()
        .map(|candidate| (candidate.to_string(), candidate))
        .collect();
    graphform_spec::suggest::close_matches(
        &address.to_string(),
        all.iter().map(|(text, _)| text.as_str()),
    )
    .into_iter()
    .take(3)
    .filter_map(|close| all.iter().find(|(text, _)| text == close))
    .map(|(_, address)| (*address).clone())
    .collect()
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
    /// Admin credentials that need a person's attention: expiring within
    /// two weeks, of the wrong app, without `business_management`, dead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialWarning>,
    /// Every stored managed token and what happens to it next.
    pub timeline: Vec<TimelineEntry>,
    /// The tokens `--revoke-now` named when the plan was made: applying
    /// the plan file revokes them the same way.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub revoke_now: BTreeSet<TokenAddress>,
    /// With what and against what the plan was made, for its reviewer.
    /// The planner leaves it empty (it sees no settings); the command
    /// line fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// With what and against what a plan was made: the header of a review.
/// Contains no secret (a Graph base URL has no user info; a store's
/// description names its location only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Origin {
    /// The graphform version that made the plan.
    pub graphform_version: String,
    /// The Graph API base URL and version: `https://graph.facebook.com/v23.0`.
    pub graph: String,
    /// The token store, as it describes itself.
    pub store: String,
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
    /// For time-driven work a person need not review again, which kind it
    /// is (`apply --only`); `None` for a change a person must review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
    /// For `rename` and `move`: the address the object had (the policy's
    /// `renamed_from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Address>,
}

/// The kinds of time-driven work: what the policy, once reviewed, already
/// decided will happen when the clock gets there. `apply --only` makes
/// changes of the kinds it names and no other.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Maintenance {
    /// A 60-day token inside its `refresh_before` window is refreshed.
    Refresh,
    /// A never-expiring token is rotated on its `rotate_every` period.
    Rotate,
    /// A replaced token is revoked once its grace ends.
    RevokeSuperseded,
    /// A token removed from the policy is revoked once its grace ends.
    RevokeRemoved,
    /// The record of a replaced token that is already dead is dropped.
    ForgetDead,
}

impl Maintenance {
    /// Every kind.
    pub const ALL: [Maintenance; 5] = [
        Self::Refresh,
        Self::Rotate,
        Self::RevokeSuperseded,
        Self::RevokeRemoved,
        Self::ForgetDead,
    ];

    /// The kind's name, as `apply --only` takes it: `revoke-superseded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::Rotate => "rotate",
            Self::RevokeSuperseded => "revoke-superseded",
            Self::RevokeRemoved => "revoke-removed",
            Self::ForgetDead => "forget-dead",
        }
    }
}

/// A name that is not a [`Maintenance`] kind.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a kind of maintenance (refresh, rotate, revoke-superseded, revoke-removed, forget-dead)"
)]
pub struct UnknownMaintenance(String);

impl std::str::FromStr for Maintenance {
    type Err = UnknownMaintenance;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownMaintenance(name.to_owned()))
    }
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
    /// Schedule the revocation of a token removed from the policy for when
    /// its grace ends, counted from the apply: consumers keep a working
    /// token meanwhile. Nothing is sent to Meta.
    Retire,
    /// Cancel the scheduled revocation of a token that is back in the
    /// policy. Nothing is sent to Meta.
    Reinstate,
    /// Rename a system user in Meta (`renamed_from`) and move its records
    /// to the new name; its tokens stay valid.
    Rename,
    /// Move a stored token to its new address (`renamed_from`, or its
    /// system user's rename); the token is neither revoked nor re-issued.
    Move,
}

impl Action {
    /// Every action, in summary order.
    pub const ALL: [Action; 12] = [
        Self::Create,
        Self::Rename,
        Self::Move,
        Self::Install,
        Self::Issue,
        Self::Refresh,
        Self::Rotate,
        Self::Retire,
        Self::Reinstate,
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
            Self::Retire => "retire",
            Self::Reinstate => "reinstate",
            Self::Rename => "rename",
            Self::Move => "move",
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
    /// An apply got no verified outcome for a call that issues a token
    /// (interrupted, or Meta's answer was lost): Meta may have issued a
    /// token that nobody stored.
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
    /// A system user the policy names exists in Meta and graphform has no
    /// record of it: graphform adopts it by name, and cannot see the tokens
    /// it already has (`graphform import` adopts one of them).
    Adopted,
    /// A `renamed_from` names nothing graphform can find (a typo, or a
    /// rename made already): the plan issues or creates instead of
    /// moving.
    UnmatchedRename,
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
    graphform_types::json_schema::<Plan>()
}

/// Plans the changes that make `state` match `spec` at time `now`.
///
/// Pure and deterministic: no I/O, no clock, and the same inputs give the
/// same plan.
pub fn plan(spec: &Spec, state: &State, now: Timestamp, options: &PlanOptions) -> Plan {
    let renamed = rename::view(spec, state);
    let none = rename::Renames::default();
    let (view, renames) = renamed
        .as_ref()
        .map_or((state, &none), |(view, renames)| (view, renames));
    let mut planner = Planner {
        state: view,
        renames,
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
    planner.removed_tokens(spec, &options.revoke_now);
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        created_at: now,
        valid_until: planner.valid_until,
        policy_hash: policy_hash(spec),
        state_hash: state_hash(state),
        changes: planner.changes,
        notices: planner.notices,
        credentials: crate::admin::credential_warnings(
            spec,
            |name| state.businesses.get(name)?.admin.as_ref(),
            now,
        ),
        timeline: planner.timeline,
        revoke_now: options.revoke_now.clone(),
        origin: None,
    }
}

struct Planner<'s> {
    /// The state as it will be once the policy's renames are made.
    state: &'s State,
    /// Those renames.
    renames: &'s rename::Renames,
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

/// A dead current token is replaced by a new one at once (no grace: it no
/// longer works). Expiry is not drift; anything else is.
fn dead_replacement(
    cause: DeadCause,
    code: Option<i64>,
    subcode: Option<i64>,
    expires_at: Option<Timestamp>,
) -> Replacement {
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
    Replacement::new(Action::Issue, reason, drift)
}

/// Why and how the current value of a token is replaced.
struct Replacement {
    action: Action,
    reason: String,
    drift: Option<String>,
    maintenance: Option<Maintenance>,
}

impl Replacement {
    /// A replacement a person reviews.
    fn new(action: Action, reason: String, drift: Option<String>) -> Self {
        Self {
            action,
            reason,
            drift,
            maintenance: None,
        }
    }

    /// Time-driven work the reviewed policy already decided.
    fn time(action: Action, reason: String, maintenance: Maintenance) -> Self {
        Self {
            action,
            reason,
            drift: None,
            maintenance: Some(maintenance),
        }
    }
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
pub(crate) fn scope_diff(from: &BTreeSet<String>, to: &BTreeSet<String>) -> String {
    let added = to.difference(from).map(|s| format!("+{s}"));
    let removed = from.difference(to).map(|s| format!("-{s}"));
    added.chain(removed).collect::<Vec<_>>().join(" ")
}
