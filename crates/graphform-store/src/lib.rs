//! Token stores for graphform (design.md §4).
//!
//! A store holds, per managed token address, the **current** token value and
//! its metadata and at most one **previous** value waiting to be revoked;
//! one **state document** (graphform's own bookkeeping: IDs, installs, the
//! journal — never a secret); and a **lease** that serializes `apply` runs.
//! Every write is compare-and-set against the [`Version`] that was read, so
//! two writers can never silently overwrite each other.
//!
//! [`Store`] is the one interface; backends implement it: `file` (the
//! embedded default, values encrypted with `age`), and later `vault` and
//! `aws-secrets-manager`. The engine is generic over `Store`; the CLI picks
//! the backend the policy names.
//!
//! This crate knows nothing of Meta's API or of the engine's state
//! document format: it stores what it is given, and guarantees atomicity and
//! conflict detection.

use std::collections::BTreeSet;
use std::fmt;

pub use graphform_types::{Fingerprint, Secret};

/// Seconds since the Unix epoch, UTC. Callers inject "now"; no store reads
/// the clock to make a decision.
pub type UnixTime = i64;

/// An opaque version of a stored object, for compare-and-set. Each backend
/// defines its own (a counter, a KV version, a `VersionId`); callers only
/// compare and pass them back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Version(pub String);

/// A value read from the store with the version to write against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version.
    pub version: Version,
}

/// How a token expires, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryMode {
    /// A 60-day token.
    #[serde(rename = "60d")]
    SixtyDays,
    /// A never-expiring token.
    Never,
}

/// What graphform records about a token value (no secret in it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenMetadata {
    /// The token's address, e.g. `acme/ci-reporting/token/insights-read`.
    pub address: String,
    /// Meta's app ID the token was issued for.
    pub app_id: String,
    /// Meta's (app-scoped) system-user ID.
    pub system_user_id: String,
    /// The scopes it was issued with, sorted.
    pub scopes: BTreeSet<String>,
    /// 60-day or never-expiring.
    pub expiry: ExpiryMode,
    /// When it was issued or refreshed.
    pub issued_at: UnixTime,
    /// When it expires; `None` for never-expiring tokens.
    pub expires_at: Option<UnixTime>,
    /// The value's fingerprint.
    pub fingerprint: Fingerprint,
}

/// A token value and its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredToken {
    /// The token itself.
    pub value: Secret,
    /// What graphform knows of it.
    pub metadata: TokenMetadata,
}

/// A replaced token, kept working until `revoke_after` so consumers can
/// pick up the new one (zero-downtime rotation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousToken {
    /// The replaced token.
    pub token: StoredToken,
    /// When graphform may revoke it.
    pub revoke_after: UnixTime,
}

/// Everything stored for one token address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token consumers should use.
    pub current: StoredToken,
    /// The token it replaced, until revoked.
    pub previous: Option<PreviousToken>,
}

/// Who holds (or asks for) the apply lease.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseInfo {
    /// A free-form description of the holder (e.g. `graphform apply`, a CI job id).
    pub holder: String,
    /// The holder's process ID.
    pub pid: u32,
    /// The holder's host name.
    pub host: String,
    /// When the lease was taken.
    pub acquired_at: UnixTime,
    /// When it expires unless renewed; an expired lease may be taken over.
    pub expires_at: UnixTime,
}

/// Proof of holding the lease, needed to renew or release it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What was recorded.
    pub info: LeaseInfo,
    /// The lease entry's version.
    pub version: Version,
}

/// Errors of every backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A compare-and-set write found another version than expected: someone
    /// else wrote in between. Re-read and decide again.
    #[error("{what} changed since it was read (expected version {expected:?}, found {found:?})")]
    Conflict {
        /// What was written, e.g. `token acme/ci-reporting/token/insights-read`.
        what: String,
        /// The version the writer expected (`None`: that it did not exist).
        expected: Option<Version>,
        /// The version found (`None`: it does not exist).
        found: Option<Version>,
    },
    /// The lease is held by someone else and has not expired.
    #[error("the store is locked by {} (pid {}, host {}) since {}, until {}", .0.holder, .0.pid, .0.host, .0.acquired_at, .0.expires_at)]
    Locked(LeaseInfo),
    /// The lease presented is not the one in the store (expired and taken
    /// over, or broken).
    #[error("the lease was lost: it expired and was taken over, or was broken")]
    LeaseLost,
    /// Reading or writing failed.
    #[error("{operation} failed")]
    Io {
        /// What was being done, naming the object (never a value).
        operation: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Stored data could not be understood (corrupt, or written by a newer
    /// graphform).
    #[error("{what} is unreadable: {reason}")]
    Corrupt {
        /// What was read.
        what: String,
        /// Why it could not be read (never includes a value).
        reason: String,
    },
    /// The store is not usable as configured (missing key, permissions…).
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
}

/// The interface every backend implements. All writes are compare-and-set;
/// all methods are safe to call concurrently from several processes.
///
/// `now` parameters are the caller's clock (injected, for tests).
#[allow(
    async_fn_in_trait,
    reason = "used through generics, not dyn; Send-ness is the backend's"
)]
pub trait Store {
    /// A short description for messages, e.g. `file store .graphform/store`.
    fn describe(&self) -> String;

    /// Reads the record of one token address.
    async fn read_token(&self, address: &str)
    -> Result<Option<Versioned<TokenRecord>>, StoreError>;

    /// Every token address the store holds, sorted.
    async fn list_tokens(&self) -> Result<Vec<String>, StoreError>;

    /// Writes a token record if the stored version is `expected` (`None`:
    /// only if there is none). Durable when it returns `Ok`.
    async fn write_token(
        &self,
        address: &str,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError>;

    /// Deletes a token record if the stored version is `expected`.
    async fn delete_token(&self, address: &str, expected: &Version) -> Result<(), StoreError>;

    /// Reads the state document (opaque JSON bytes; the engine owns its
    /// format).
    async fn read_state(&self) -> Result<Option<Versioned<Vec<u8>>>, StoreError>;

    /// Writes the state document if the stored version is `expected`.
    async fn write_state(
        &self,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError>;

    /// Takes the apply lease described by `holder` (its `acquired_at` is
    /// "now", its `expires_at` the lease's end), or fails with
    /// [`StoreError::Locked`] naming the current holder. A lease whose
    /// `expires_at` is before `holder.acquired_at` has expired and is taken
    /// over.
    async fn acquire_lease(&self, holder: &LeaseInfo) -> Result<Lease, StoreError>;

    /// Extends a held lease to `expires_at`; [`StoreError::LeaseLost`] if it
    /// is no longer ours.
    async fn renew_lease(&self, lease: &Lease, expires_at: UnixTime) -> Result<Lease, StoreError>;

    /// Releases a held lease (no error if it is already gone).
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Who holds the lease, if anyone (expired or not).
    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError>;

    /// Removes the lease whoever holds it (`graphform unlock`); returns what
    /// was removed.
    async fn break_lease(&self) -> Result<Option<LeaseInfo>, StoreError>;
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
