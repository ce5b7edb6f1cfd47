//! Why apply did not run ([`ApplyError`]) and why one change failed
//! ([`ChangeError`]); each names objects and fingerprints, never a secret.

use std::sync::Arc;

use graphform_graph::GraphError;
use graphform_store::{Fingerprint, StoreError};
use graphform_types::{Address, Chain, SystemUserAddress, Timestamp, TokenAddress};

use crate::observe::ObserveError;
use crate::plan::Change;

use super::BoxError;

/// Why apply did not run (a failed change is reported in the
/// [`ApplyReport`](super::ApplyReport) instead). Nothing was changed, except where a variant
/// says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The store failed (including: it is locked by someone else).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Observation under the lease failed.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// graphform's records could not be prepared for this run: settling
    /// the journal an interrupted apply left, naming new system users'
    /// documents at the root, or moving a format-1 document's records.
    #[error("preparing the state documents failed")]
    Journal(#[source] Box<ChangeError>),
    /// The saved plan has expired: a time-driven decision changed.
    #[error(
        "the plan expired at {}: a time-driven decision in it has changed since (a refresh window opened, a grace period ended, a token expired)",
        .0
    )]
    PlanExpired(Timestamp),
    /// The policy is not the one the saved plan was made from.
    #[error("the policy changed since the plan was made")]
    PolicyChanged,
    /// The plan computed under the lease does not make the saved plan's
    /// changes.
    #[error("the plan computed now differs from the saved plan at: {}", .0.join(", "))]
    PlanDiffers(Vec<String>),
    /// `--revoke-now` names a token it cannot revoke (a typo, or one the
    /// policy still names): nothing is planned.
    #[error(transparent)]
    RevokeNow(#[from] crate::plan::RevokeNowError),
    /// The person declined.
    #[error("apply cancelled; nothing was changed")]
    Declined,
    /// The approver failed (no terminal, …).
    #[error("{0}")]
    Approval(#[source] BoxError),
    /// The plan would invalidate the admin credential graphform acts with.
    #[error(
        "the plan invalidates the tokens of {}, which would kill the admin token graphform acts with (see the plan's warning)",
        .0.join(", ")
    )]
    AdminInvalidation(Vec<String>),
    /// The lease was lost while apply ran (it expired and was taken over,
    /// or was broken): apply stopped at once. What it did so far is
    /// journaled; the next plan shows where things stand.
    #[error("the lease was lost while apply ran; it stopped at once")]
    LeaseLost,
}

impl ApplyError {
    /// What to do about it, when graphform knows.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Store(StoreError::Locked(holder)) => format!(
                "another apply holds the lock ({} on {}, pid {}); wait for it to finish. \
                 If it is not running any more (it was killed), `graphform unlock {}` removes the lock \
                 (`graphform lock status` shows it)",
                holder.holder, holder.host, holder.pid, holder.id
            ),
            Self::Store(error) => return error.hint().map(str::to_owned),
            Self::Observe(error) => return error.hint().map(str::to_owned),
            Self::PlanExpired(_) | Self::PolicyChanged | Self::PlanDiffers(_) => {
                "the plan file is a review record, not a program: make a new plan with `graphform plan --out FILE`, review it, and apply that".to_owned()
            }
            Self::AdminInvalidation(_) => {
                "act with another admin credential (a person's admin token, or an admin system user this policy does not manage), \
                 or accept that the admin token dies with --allow-admin-invalidation (then set a new one before the next run)".to_owned()
            }
            Self::RevokeNow(error) => error.hint(),
            Self::LeaseLost => {
                "run `graphform plan` to see where things stand: every change made so far is journaled".to_owned()
            }
            _ => return None,
        })
    }
}

/// Why one change failed, or why its outcome could not be verified. It
/// names objects and fingerprints, never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// The lease was lost: another apply may be running.
    #[error("the lease was lost; apply stopped before this change")]
    LeaseLost,
    /// The state document could not be encoded.
    #[error("cannot encode the state document")]
    EncodeDocument(#[source] serde_json::Error),
    /// A system user's state document could not be read.
    #[error(transparent)]
    ReadDocument(Box<ObserveError>),
    /// A system user's state document could not be written.
    #[error("cannot write the state document of {user}")]
    WriteDocument {
        /// Whose.
        user: SystemUserAddress,
        /// The store's error.
        #[source]
        source: Box<StoreError>,
    },
    /// The root state document could not be written.
    #[error("cannot write the state document")]
    WriteRoot(#[source] Box<StoreError>),
    /// The store failed reading or writing a token.
    #[error(transparent)]
    Store(Box<StoreError>),
    /// A Graph call failed.
    #[error(transparent)]
    Graph(Box<GraphError>),
    /// The plan names a business the policy does not have.
    #[error("business `{0}` is not in the policy")]
    UnknownBusiness(String),
    /// The plan names a token the policy does not have.
    #[error("{0} is not in the policy")]
    UnknownToken(TokenAddress),
    /// No admin token was given for the business.
    #[error("no admin token for business `{0}`")]
    NoAdmin(String),
    /// No app secret was given for the app.
    #[error("no secret for app {0}: it is not in the policy")]
    NoAppSecret(String),
    /// The system user this plan creates was not created (its creation
    /// failed earlier in this run).
    #[error("{0}: the system user this plan creates was not created")]
    NotCreated(SystemUserAddress),
    /// The change does not carry what its action needs (a plan file
    /// edited by hand, or a bug).
    #[error("{address}: {problem}")]
    Malformed {
        /// The change's address.
        address: Address,
        /// What is missing, e.g. "the plan names no token".
        problem: &'static str,
    },
    /// A current token cannot be revoked while its record still holds a
    /// replaced one.
    #[error("{0}: the replaced token must be revoked before the current one")]
    RevokeOrder(TokenAddress),
    /// Meta refused to issue a token as an invalid request: the app may
    /// have been uninstalled outside graphform, so its install record is
    /// dropped with the system user's next document write.
    #[error(
        "{}; the app may no longer be installed for the system user: the next plan installs it again",
        Chain(&**.0)
    )]
    InstallGone(Box<ChangeError>),
    /// Meta minted a token that could not be stored.
    #[error(
        "Meta issued {fingerprint} for {address}, but storing it failed ({}){}",
        Chain(&**error),
        match revoked {
            Ok(()) => "; it was revoked, and debug_token confirms it no longer works".to_owned(),
            Err(why) => format!(", and revoking it failed too ({}); it is journaled as possibly orphaned: the next plan warns of it, and plan with --invalidate-orphaned makes sure it cannot be used", Chain(&**why)),
        }
    )]
    Unstored {
        /// The token's address.
        address: TokenAddress,
        /// The minted token's fingerprint.
        fingerprint: Fingerprint,
        /// Why storing it failed.
        error: Box<StoreError>,
        /// `Ok` if it was revoked; `Err` if revoking it failed.
        revoked: Result<(), Box<ChangeError>>,
    },
    /// A revoke was not confirmed: the token stays in the store.
    #[error(
        "revoking {fingerprint} failed ({}){}",
        failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        match verdict {
            Some(why) => format!(" and debug_token could not tell whether it still works ({}); it stays in the store", Chain(&**why)),
            None => "; debug_token says it still works, so it stays in the store".to_owned(),
        }
    )]
    NotRevoked {
        /// The token's fingerprint.
        fingerprint: Fingerprint,
        /// Each caller's failure.
        failures: Vec<GraphError>,
        /// Why `debug_token` gave no verdict; `None` when it said the
        /// token still works.
        verdict: Option<Box<ChangeError>>,
    },
    /// The change was made, but recording it in its system user's state
    /// document failed: the journal entry stays, and the next apply
    /// settles it.
    #[error("it was made, but recording it failed ({}); the next apply settles it", Chain(&**.0))]
    Unrecorded(Arc<ChangeError>),
    /// `debug_token` gave no verdict on a token.
    #[error("{0}")]
    NoVerdict(String),
}

impl From<StoreError> for ChangeError {
    fn from(error: StoreError) -> Self {
        Self::Store(Box::new(error))
    }
}

impl From<GraphError> for ChangeError {
    fn from(error: GraphError) -> Self {
        Self::Graph(Box::new(error))
    }
}

impl ChangeError {
    pub(super) fn malformed(address: impl Into<Address>, problem: &'static str) -> Self {
        Self::Malformed {
            address: address.into(),
            problem,
        }
    }
}

/// The token a token change is for, or why the change is malformed.
pub(super) fn token_of(change: &Change) -> Result<&TokenAddress, ChangeError> {
    change
        .address
        .as_token()
        .ok_or_else(|| ChangeError::malformed(&change.address, "not a token"))
}

/// The stored value a revoke or forget removes (its `before`
/// fingerprint), or why the change is malformed.
pub(super) fn removed_by(change: &Change) -> Result<Fingerprint, ChangeError> {
    change
        .before
        .as_ref()
        .and_then(|b| b.fingerprint.clone())
        .ok_or_else(|| ChangeError::malformed(&change.address, "the plan names no token"))
}
