//! Where every managed token stands, for `graphform status` and
//! monitoring: the [`Status`] model.
//!
//! It is read from the store and the state documents only
//! ([`read_status`]): no Graph call, so a monitoring job needs the store's
//! read credential and nothing of Meta's. Without a check, a token is
//! dead once its recorded `expires_at` has passed. With a check
//! ([`Check`], `status --check`), every stored value is also asked about
//! through `debug_token` (observation's batched `check_tokens`), and what
//! Meta says that differs from the record is reported as drift.
//!
//! The timing of the next refresh or rotation is the planner's own
//! ([`next_time_driven`]); what is "wrong enough to page someone" is
//! [`Status::problems`]. The model holds no secret: values appear as
//! fingerprints. It is the JSON output (`status --format json`,
//! docs/monitoring.md), versioned by [`STATUS_FORMAT_VERSION`], whose JSON
//! Schema is [`status_schema`] (`schemas/status.schema.json`).

use std::collections::{BTreeMap, BTreeSet};

use graphform_spec::Spec;
use graphform_store::{Fingerprint, Store, TokenMetadata, TokenRecord};
use graphform_types::{Address, Duration, ExpiryMode, SystemUserAddress, Timestamp, TokenAddress};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::admin::{CredentialWarning, credential_warnings};
use crate::document::{IntentKind, LastApply, StateDocument, StoredOrigins, unverified_issue};
use crate::observe::{
    Credentials, ObserveError, admin_tokens, check_tokens, read_document, read_records,
};
use crate::plan::{Action, next_time_driven, scope_diff, stored_moves};
use crate::provider::Provider;
use crate::state::{AdminToken, DeadCause, Health};

/// The status format version (`status --format json`); bumped when a
/// field changes meaning or goes away, not when one is added.
pub const STATUS_FORMAT_VERSION: u32 = 1;

/// The JSON Schema of `status --format json`
/// (`schemas/status.schema.json`).
pub fn status_schema() -> String {
    graphform_types::json_schema::<Status>()
}

/// How long after a replaced or retired token's `revoke_after` its
/// revocation counts as overdue: a nightly maintenance job
/// (`apply --only revoke-superseded,revoke-removed`) has a day to make it.
pub const REVOKE_OVERDUE_AFTER: Duration = Duration::days(1);

/// How far Meta's `expires_at` may be from the recorded one before it is
/// drift: the record is graphform's clock plus Meta's `expires_in` when
/// the token was issued, so the two differ by the request's latency and
/// the clocks' skew.
pub const EXPIRY_DRIFT_TOLERANCE: Duration = Duration::hours(1);

/// Where every managed token stands, at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    /// The status format's version (1): it changes when a field changes
    /// meaning or goes away, not when one is added.
    pub format_version: u32,
    /// The moment the status is of (graphform's clock).
    pub now: Timestamp,
    /// Whether `debug_token` was asked about every stored value
    /// (`--check`); without it, what is reported is the store's record.
    pub checked: bool,
    /// Every token the policy names, in policy order.
    pub tokens: Vec<ManagedToken>,
    /// Tokens stored that the policy no longer names, by address: retired
    /// (revoked once their grace ends) or to be retired by the next apply.
    pub retiring: Vec<RetiringToken>,
    /// The last apply run, when one was recorded.
    pub last_apply: Option<LastApply>,
    /// When the last apply whose every change was made ended.
    pub last_successful_apply: Option<Timestamp>,
    /// Admin credentials that need attention (`--check` only; absent when
    /// none does): expiring within two weeks, of the wrong app, without
    /// `business_management`, dead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialWarning>,
    /// Calls of an apply that issue a token and got no verified outcome
    /// (the apply was interrupted, or Meta's answer was lost): Meta may
    /// have issued a token that is in no store. Each stays until
    /// `plan --invalidate-orphaned` is applied for its system user.
    #[serde(default)]
    pub possibly_orphaned: Vec<PossiblyOrphaned>,
}

/// A token Meta may have issued that nobody stored: a journaled call that
/// issues a token whose answer no stored value records
/// ([`StateDocument::possibly_orphaned`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PossiblyOrphaned {
    /// The system user the token would be for.
    pub system_user: SystemUserAddress,
    /// Its Meta ID: invalidating its tokens kills the unknown one.
    pub system_user_id: String,
    /// The address the call was for.
    pub address: Address,
    /// The change the call was for: `issue`, `refresh` or `rotate`.
    pub action: String,
    /// When the apply started the call (graphform's clock).
    pub started_at: Timestamp,
}

impl PossiblyOrphaned {
    /// One line for people: what happened and what to do.
    pub fn describe(&self) -> String {
        format!(
            "system user {} ({}): {}: Meta may have issued a token that nobody stored; to make sure it cannot be used, run `graphform plan --invalidate-orphaned` and apply it (all of the system user's tokens are invalidated and the managed ones re-issued)",
            self.system_user,
            self.system_user_id,
            unverified_issue(self.started_at)
        )
    }
}

/// A token the policy names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManagedToken {
    /// Its address.
    pub address: TokenAddress,
    /// How it stands, in one word.
    pub state: TokenState,
    /// The expiry mode the policy wants: `60d` or `never`.
    pub expiry: ExpiryMode,
    /// The stored current value; `None` when nothing is stored.
    pub current: Option<TokenValue>,
    /// The next time-driven work on it and from when it is due.
    pub next: Option<NextAction>,
    /// The replaced value waiting for its revocation.
    pub superseded: Option<Superseded>,
    /// What `debug_token` said of the current value (`--check` only).
    pub check: Option<Verdict>,
    /// Where its record is stored while a `renamed_from` (of the token or
    /// its system user) is not applied yet: the next apply moves it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moving_from: Option<TokenAddress>,
}

/// How a managed token stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// A value is stored and not known to be dead.
    Ok,
    /// The stored value is dead: its `expires_at` has passed, or (with a
    /// check) `debug_token` says it does not work.
    Dead,
    /// The policy names it and nothing is stored.
    Missing,
}

impl TokenState {
    /// Every state, for a stateset-like metric.
    pub const ALL: [TokenState; 3] = [Self::Ok, Self::Dead, Self::Missing];

    /// `ok`, `dead` or `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Dead => "dead",
            Self::Missing => "missing",
        }
    }
}

/// A stored value, as recorded (no secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenValue {
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// `60d` or `never`.
    pub expiry: ExpiryMode,
    /// When it was issued or refreshed.
    pub issued_at: Timestamp,
    /// When it expires; `None`: never.
    pub expires_at: Option<Timestamp>,
    /// The scopes it was issued with.
    pub scopes: BTreeSet<String>,
}

/// The next time-driven work on a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NextAction {
    /// `refresh` or `rotate`.
    pub action: Action,
    /// From when it is due, as the planner decides it.
    pub from: Timestamp,
}

/// A replaced value kept working until its revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Superseded {
    /// The value.
    pub value: TokenValue,
    /// When graphform may revoke it.
    pub revoke_after: Timestamp,
    /// Whether its revocation is more than a day late (a nightly
    /// maintenance apply should have made it).
    pub revoke_overdue: bool,
    /// What `debug_token` said of it (`--check` only).
    pub check: Option<Verdict>,
}

/// A stored token the policy no longer names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetiringToken {
    /// Its address.
    pub address: TokenAddress,
    /// The stored current value.
    pub value: TokenValue,
    /// When graphform may revoke it; `None`: no apply has retired it yet
    /// (the next one schedules its revocation, after the business's
    /// grace).
    pub revoke_after: Option<Timestamp>,
    /// Whether its revocation is more than a day late (a nightly
    /// maintenance apply should have made it).
    pub revoke_overdue: bool,
    /// A replaced value of it, also waiting for its revocation.
    pub superseded: Option<Superseded>,
    /// What `debug_token` said of its value (`--check` only).
    pub check: Option<Verdict>,
}

/// What `debug_token` said of a stored value, and what differs from the
/// record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// Meta's verdict.
    pub health: CheckedHealth,
    /// What Meta reports that differs from the record (scopes, expiry,
    /// app), one line each; empty when nothing does.
    pub drift: Vec<String>,
}

/// Meta's verdict on a stored value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CheckedHealth {
    /// It works.
    Valid,
    /// It does not.
    Dead {
        /// Why.
        cause: DeadCause,
    },
    /// `debug_token` answered without a verdict.
    NoVerdict {
        /// What the answer lacked.
        reason: String,
    },
    /// Not asked: its app is not in the policy (no secret to ask with).
    Unchecked,
}

/// Something a monitoring job should page about ([`Status::problems`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// A managed token expires within the window asked about.
    Expiring {
        /// The token.
        address: TokenAddress,
        /// When.
        expires_at: Timestamp,
    },
    /// A managed token is dead.
    Dead {
        /// The token.
        address: TokenAddress,
    },
    /// A managed token has nothing stored.
    Missing {
        /// The token.
        address: TokenAddress,
    },
    /// A revocation is more than [`REVOKE_OVERDUE_AFTER`] late.
    RevokeOverdue {
        /// The token whose value waits.
        address: TokenAddress,
        /// Since when it may be revoked.
        revoke_after: Timestamp,
    },
    /// Meta may have issued a token that nobody stored.
    PossiblyOrphaned(PossiblyOrphaned),
}

impl Problem {
    /// The token or system user it is about.
    pub fn address(&self) -> Address {
        match self {
            Self::Expiring { address, .. }
            | Self::Dead { address }
            | Self::Missing { address }
            | Self::RevokeOverdue { address, .. } => Address::Token(address.clone()),
            Self::PossiblyOrphaned(orphan) => Address::SystemUser(orphan.system_user.clone()),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Self::Expiring {
                address,
                expires_at,
            } => {
                format!("{address} expires at {expires_at}")
            }
            Self::Dead { address } => format!("{address} is dead"),
            Self::Missing { address } => format!("{address} is missing: nothing is stored"),
            Self::RevokeOverdue {
                address,
                revoke_after,
            } => format!(
                "{address}: a revocation due since {revoke_after} is more than {REVOKE_OVERDUE_AFTER} late"
            ),
            Self::PossiblyOrphaned(orphan) => orphan.describe(),
        }
    }
}

impl Status {
    /// What a monitoring job should page about, with `within` as the
    /// expiry horizon: every managed token that is dead, missing, or
    /// expires at or before `now + within`, every revocation more than
    /// [`REVOKE_OVERDUE_AFTER`] late, and every token Meta may have issued
    /// that nobody stored.
    pub fn problems(&self, within: Duration) -> Vec<Problem> {
        let horizon = self.now.saturating_add(within);
        let mut problems = Vec::new();
        for token in &self.tokens {
            let address = token.address.clone();
            match token.state {
                TokenState::Dead => problems.push(Problem::Dead { address }),
                TokenState::Missing => problems.push(Problem::Missing { address }),
                TokenState::Ok => {
                    if let Some(expires_at) = token
                        .current
                        .as_ref()
                        .and_then(|value| value.expires_at)
                        .filter(|at| *at <= horizon)
                    {
                        problems.push(Problem::Expiring {
                            address,
                            expires_at,
                        });
                    }
                }
            }
        }
        let waiting = self
            .tokens
            .iter()
            .filter_map(|token| Some((&token.address, token.superseded.as_ref()?)))
            .map(|(address, superseded)| {
                (address, superseded.revoke_overdue, superseded.revoke_after)
            });
        let retiring = self.retiring.iter().flat_map(|token| {
            let own = token
                .revoke_after
                .map(|at| (&token.address, token.revoke_overdue, at));
            let superseded = token
                .superseded
                .as_ref()
                .map(|s| (&token.address, s.revoke_overdue, s.revoke_after));
            own.into_iter().chain(superseded)
        });
        for (address, overdue, revoke_after) in waiting.chain(retiring) {
            if overdue {
                problems.push(Problem::RevokeOverdue {
                    address: address.clone(),
                    revoke_after,
                });
            }
        }
        problems.extend(
            self.possibly_orphaned
                .iter()
                .cloned()
                .map(Problem::PossiblyOrphaned),
        );
        problems
    }
}

/// What `status --check` asks Meta with: the Graph client and the app
/// secrets.
pub struct Check<'a, P> {
    /// The Graph API.
    pub client: &'a P,
    /// The app secrets (`debug_token` is asked with each value's app).
    pub credentials: &'a Credentials,
}

/// Reads the status from the store and the state documents; with `check`,
/// also asks `debug_token` about every stored value (batched per app).
/// Read-only: takes no lock and changes nothing.
pub async fn read_status<S: Store, P: Provider>(
    spec: &Spec,
    store: &S,
    check: Option<Check<'_, P>>,
    now: Timestamp,
) -> Result<Status, ObserveError> {
    let document = read_document(store).await?;
    let records = read_records(store).await?;
    let (health, admins) = match check {
        Some(check) => {
            let (admins, health) = futures_util::join!(
                admin_tokens(spec, check.client, check.credentials),
                check_tokens(spec, check.client, check.credentials, &records)
            );
            (Some(health?), admins?)
        }
        None => (None, Vec::new()),
    };
    let values: BTreeMap<TokenAddress, StoredValues> = records
        .iter()
        .map(|(address, record)| (address.clone(), StoredValues::of(record, health.as_ref())))
        .collect();
    let mut status = status(spec, &values, &document, health.is_some(), now);
    let admins: BTreeMap<String, AdminToken> = admins.into_iter().collect();
    status.credentials = credential_warnings(spec, |name| admins.get(name), now);
    Ok(status)
}

/// A stored record's values, each with `debug_token`'s verdict when it
/// was asked: what [`status`] reads (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredValues {
    /// The current value's record and verdict.
    pub current: (TokenMetadata, Option<Health>),
    /// The replaced value's, and when it may be revoked.
    pub previous: Option<(TokenMetadata, Option<Health>, Timestamp)>,
}

impl StoredValues {
    /// The values of `record`, with their health from `health` (by the
    /// values' fingerprints) when a check was made.
    pub fn of(record: &TokenRecord, health: Option<&BTreeMap<Fingerprint, Health>>) -> Self {
        let verdict = |token: &graphform_store::StoredToken| {
            health.map(|health| {
                health
                    .get(&token.value.fingerprint())
                    .cloned()
                    .unwrap_or_else(|| Health::Unknown {
                        app_id: token.metadata.app_id.clone(),
                    })
            })
        };
        Self {
            current: (record.current.metadata.clone(), verdict(&record.current)),
            previous: record.previous.as_ref().map(|previous| {
                (
                    previous.token.metadata.clone(),
                    verdict(&previous.token),
                    previous.revoke_after,
                )
            }),
        }
    }
}

/// The status at `now` of the tokens `spec` names and of those stored that
/// it no longer names. Pure: no I/O, no clock.
pub fn status(
    spec: &Spec,
    stored: &BTreeMap<TokenAddress, StoredValues>,
    document: &StateDocument,
    checked: bool,
    now: Timestamp,
) -> Status {
    // Records a `renamed_from` not applied yet will move: new address →
    // where they are stored. They are the managed tokens' own.
    let moves = stored_moves(spec, stored.keys(), &document.system_users);
    let mut managed = BTreeSet::new();
    let mut tokens = Vec::new();
    for business in &spec.businesses {
        for user in &business.system_users {
            for token in &user.tokens {
                let address = TokenAddress::new(&business.name, &user.name, &token.name);
                managed.insert(address.clone());
                let moving_from = moves
                    .get(&address)
                    .filter(|from| stored.contains_key(*from));
                if let Some(from) = moving_from {
                    managed.insert(from.clone());
                }
                let Some(values) = stored.get(moving_from.unwrap_or(&address)) else {
                    tokens.push(ManagedToken {
                        address,
                        state: TokenState::Missing,
                        expiry: token.expiry.mode(),
                        current: None,
                        next: None,
                        superseded: None,
                        check: None,
                        moving_from: None,
                    });
                    continue;
                };
                let (metadata, health) = &values.current;
                let check = health.as_ref().map(|health| verdict(metadata, health));
                // Meta's verdict, when asked, over the record's expiry.
                let dead = match health {
                    Some(Health::Valid { .. }) => false,
                    Some(Health::Dead { .. }) => true,
                    _ => metadata.expires_at.is_some_and(|at| at <= now),
                };
                let next = next_time_driven(token.expiry, metadata.issued_at, metadata.expires_at)
                    .map(|(action, from)| NextAction { action, from });
                tokens.push(ManagedToken {
                    address,
                    state: if dead {
                        TokenState::Dead
                    } else {
                        TokenState::Ok
                    },
                    expiry: token.expiry.mode(),
                    current: Some(TokenValue::of(metadata)),
                    next,
                    superseded: superseded(values, now),
                    check,
                    moving_from: moving_from.cloned(),
                });
            }
        }
    }
    // A value stored at a managed address and again elsewhere: the copy an
    // interrupted rename left behind, which the next apply forgets (the
    // planner's rule); it is not a token retiring.
    let kept: BTreeSet<&Fingerprint> = tokens
        .iter()
        .filter_map(|token| token.current.as_ref())
        .map(|value| &value.fingerprint)
        .collect();
    let retiring = stored
        .iter()
        .filter(|(address, _)| !managed.contains(*address))
        .filter(|(_, values)| !kept.contains(&values.current.0.fingerprint))
        .map(|(address, values)| {
            let (metadata, health) = &values.current;
            let revoke_after = document.retiring.get(address).copied();
            RetiringToken {
                address: address.clone(),
                value: TokenValue::of(metadata),
                revoke_after,
                revoke_overdue: revoke_after.is_some_and(|at| overdue(at, now)),
                superseded: superseded(values, now),
                check: health.as_ref().map(|health| verdict(metadata, health)),
            }
        })
        .collect();
    Status {
        format_version: STATUS_FORMAT_VERSION,
        now,
        checked,
        tokens,
        retiring,
        last_apply: document.last_apply.clone(),
        last_successful_apply: document.last_successful_apply,
        credentials: Vec::new(),
        possibly_orphaned: possibly_orphaned(document, stored),
    }
}

/// The planner's possibly orphaned tokens
/// ([`StateDocument::possibly_orphaned`]), judged from the stored values.
fn possibly_orphaned(
    document: &StateDocument,
    stored: &BTreeMap<TokenAddress, StoredValues>,
) -> Vec<PossiblyOrphaned> {
    document
        .possibly_orphaned(stored)
        .filter_map(|intent| {
            let IntentKind::NewToken {
                system_user_id,
                action,
                ..
            } = &intent.kind
            else {
                return None;
            };
            Some(PossiblyOrphaned {
                system_user: intent.address.system_user().clone(),
                system_user_id: system_user_id.clone(),
                address: intent.address.clone(),
                action: action.clone(),
                started_at: intent.started_at,
            })
        })
        .collect()
}

impl StoredOrigins for BTreeMap<TokenAddress, StoredValues> {
    fn records_origin(&self, address: &TokenAddress, intent_id: &str) -> bool {
        self.get(address).is_some_and(|values| {
            std::iter::once(&values.current.0)
                .chain(values.previous.as_ref().map(|(metadata, ..)| metadata))
                .any(|metadata| metadata.issued_by.as_deref() == Some(intent_id))
        })
    }
}

impl TokenValue {
    fn of(metadata: &TokenMetadata) -> Self {
        Self {
            fingerprint: metadata.fingerprint.clone(),
            expiry: metadata.expiry,
            issued_at: metadata.issued_at,
            expires_at: metadata.expires_at,
            scopes: metadata.scopes.clone(),
        }
    }
}

fn superseded(values: &StoredValues, now: Timestamp) -> Option<Superseded> {
    let (metadata, health, revoke_after) = values.previous.as_ref()?;
    Some(Superseded {
        value: TokenValue::of(metadata),
        revoke_after: *revoke_after,
        revoke_overdue: overdue(*revoke_after, now),
        check: health.as_ref().map(|health| verdict(metadata, health)),
    })
}

/// Whether a revocation due at `revoke_after` is more than
/// [`REVOKE_OVERDUE_AFTER`] late at `now`.
fn overdue(revoke_after: Timestamp, now: Timestamp) -> bool {
    now - revoke_after > REVOKE_OVERDUE_AFTER
}

/// Meta's verdict on a value, and what it reports that differs from the
/// value's record.
fn verdict(metadata: &TokenMetadata, health: &Health) -> Verdict {
    let mut drift = Vec::new();
    let health = match health {
        Health::Valid {
            expires_at,
            scopes,
            app_id,
        } => {
            if *scopes != metadata.scopes {
                drift.push(format!(
                    "Meta reports scopes {}",
                    scope_diff(&metadata.scopes, scopes)
                ));
            }
            let expiry_differs = match (*expires_at, metadata.expires_at) {
                (Some(live), Some(recorded)) => {
                    (live - recorded).as_secs().abs() > EXPIRY_DRIFT_TOLERANCE.as_secs()
                }
                (live, recorded) => live != recorded,
            };
            if expiry_differs {
                let at = |at: Option<Timestamp>| {
                    at.map_or_else(|| "never".to_owned(), |at| at.to_string())
                };
                drift.push(format!(
                    "Meta reports it expires {}, the record {}",
                    at(*expires_at),
                    at(metadata.expires_at)
                ));
            }
            if !app_id.is_empty() && *app_id != metadata.app_id {
                drift.push(format!(
                    "Meta reports app {app_id}, the record {}",
                    metadata.app_id
                ));
            }
            CheckedHealth::Valid
        }
        Health::Dead { cause, .. } => {
            if *cause != DeadCause::Expired {
                drift.push(format!("the token was {}", cause.describe()));
            }
            CheckedHealth::Dead { cause: *cause }
        }
        Health::NoVerdict { reason } => CheckedHealth::NoVerdict {
            reason: reason.clone(),
        },
        Health::Unknown { .. } => CheckedHealth::Unchecked,
    };
    Verdict { health, drift }
}

#[cfg(test)]
mod tests {
    use graphform_types::ExpiryMode;

    use super::*;

    const NOW: i64 = 1_795_361_405;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix(NOW + seconds)
    }

    fn metadata(address: &TokenAddress, expires_at: Option<Timestamp>) -> TokenMetadata {
        TokenMetadata {
            address: address.clone(),
            app_id: "200000000000001".to_owned(),
            system_user_id: "615500000000001".to_owned(),
            scopes: BTreeSet::from(["ads_read".to_owned()]),
            expiry: ExpiryMode::SixtyDays,
            issued_at: at(-DAY * 30),
            expires_at,
            fingerprint: graphform_types::fingerprint(&address.to_string()),
            issued_by: None,
        }
    }

    const DAY: i64 = 86_400;

    /// Meta's expiry a few seconds off the record is not drift; an hour
    /// and more, or scopes that differ, are.
    #[test]
    fn drift_is_what_meta_reports_beyond_the_record() {
        let address: TokenAddress = "acme/ci/token/reads".parse().expect("address");
        let recorded = metadata(&address, Some(at(DAY)));
        let valid = |expires_at: Timestamp, scopes: &[&str]| Health::Valid {
            expires_at: Some(expires_at),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            app_id: recorded.app_id.clone(),
        };
        assert_eq!(
            verdict(&recorded, &valid(at(DAY + 3), &["ads_read"])).drift,
            Vec::<String>::new()
        );
        assert_eq!(
            verdict(
                &recorded,
                &valid(at(2 * DAY), &["ads_read", "read_insights"])
            )
            .drift
            .len(),
            2
        );
        let revoked = Health::Dead {
            cause: DeadCause::Revoked,
            code: Some(190),
            subcode: Some(467),
        };
        let check = verdict(&recorded, &revoked);
        assert_eq!(
            check.health,
            CheckedHealth::Dead {
                cause: DeadCause::Revoked
            }
        );
        assert_eq!(check.drift.len(), 1);
    }
}
