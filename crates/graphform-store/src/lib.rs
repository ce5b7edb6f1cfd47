//! Token stores for graphform (design.md §4).
//!
//! A store holds, per managed token address, the **current** token value and
//! its metadata and at most one **previous** value waiting to be revoked;
//! **state documents** (graphform's own bookkeeping: IDs, installs, the
//! journal — never a secret): a root one, and one per system user so that
//! a large apply writes each object only a few times (issue 12); and a
//! **lease** that serializes `apply` runs.
//! Every write is compare-and-set against the [`Version`] that was read, so
//! two writers can never silently overwrite each other.
//!
//! [`Store`] is the one interface; backends implement it: [`FileStore`]
//! (`file`, the embedded default, values encrypted with `age`),
//! [`VaultStore`] (`vault`: HashiCorp Vault / OpenBao KV v2) and
//! [`AwsSecretsManagerStore`] (`aws-secrets-manager`). The engine is generic
//! over `Store`; [`AnyStore`] opens the backend that [`BackendSettings`]
//! name, which is how the CLI picks the one the policy names. One
//! conformance suite (feature `conformance`) runs against all three, the
//! latter two on real servers (OpenBao, moto).
//!
//! This crate knows nothing of Meta's API or of the engine's state
//! document format: it stores what it is given, and guarantees atomicity and
//! conflict detection.
//!
//! # Addresses
//!
//! A store keeps tokens by [`TokenAddress`]
//! (`business/system-user/token/name`, e.g.
//! `acme/ci-reporting/token/insights-read`): every method takes one, and
//! [`Store::list_tokens`] returns them, parsed and in their tree order.
//! A `TokenAddress` is four segments of `[a-z0-9][a-z0-9-]*`, so no
//! address can become `..`, an absolute path or another backend's key
//! syntax; each backend stores it under its text, as it always has.
//!
//! An entry where a backend keeps its tokens whose key is not a token
//! address (written by hand or by another tool, or damaged) is never
//! skipped in silence: [`Store::list_tokens`] fails with
//! [`StoreError::ForeignEntry`], naming the entry, with a hint. (Before
//! addresses were typed, such keys reached the engine, which refused them
//! the same way; names a backend never writes, such as the file backend's
//! temporary files, are not entries and stay ignored.)
//!
//! # The file backend
//!
//! [`FileStore`] keeps everything in one directory (the policy's
//! `store.path`, by default `.graphform/store`):
//!
//! ```text
//! .graphform/store/     0700
//!   store.json          {"format":1,"recipient":"age1…"}: which key (public)
//!   sequence            the last version handed out (a number)
//!   state.json          {"format":1,"version":7,"document":{…}}: no secret
//!   state/acme/ci-reporting.json
//!                       the state document of system user acme/ci-reporting,
//!                       in the format of state.json
//!   lease.json          {"format":1,"version":9,"lease":{"id":…,"holder":…,"pid":…,
//!                        "host":…,"acquired_at":…,"expires_at":…}}
//!   .lock               empty; locked (flock) around every read-compare-write
//!   tokens/acme/ci-reporting/token/insights-read.age
//!                       age (X25519) ciphertext of the whole record: current
//!                       value and metadata, previous value and metadata and
//!                       revoke_after, the address and the version
//! ```
//!
//! Files are 0600 and directories 0700. The identity comes from the
//! environment variable the policy names (`GRAPHFORM_STORE_KEY` by default);
//! see [`FileStore::open`] and [`generate_identity`]. docs/stores.md is the
//! user-facing description.
//!
//! # Conformance
//!
//! With the `conformance` feature, the `conformance` module holds the checks
//! every backend must pass (this crate's tests run them against
//! [`FileStore`]).

use std::collections::BTreeSet;
use std::fmt;

pub use graphform_types::{
    ExpiryMode, Fingerprint, Secret, SystemUserAddress, Timestamp, TokenAddress,
};

/// The [`Store`] methods of the state documents (the root one and each
/// system user's) for a backend whose own `read_state_document(&StateKey)`
/// and `write_state_document(&StateKey, document, expected)` do the work,
/// so that both kinds of document go down one code path. Documents are
/// checked ([`check_state_document`]) before the backend sees them.
/// Used inside an `impl Store for …` block; defined before the backends'
/// modules so that they see it.
macro_rules! state_document_methods {
    () => {
        async fn read_state(
            &self,
        ) -> Result<Option<$crate::Versioned<Vec<u8>>>, $crate::StoreError> {
            self.read_state_document(&$crate::StateKey::Root).await
        }

        async fn write_state(
            &self,
            document: &[u8],
            expected: Option<&$crate::Version>,
        ) -> Result<$crate::Version, $crate::StoreError> {
            let key = $crate::StateKey::Root;
            $crate::check_state_document(&key, document)?;
            self.write_state_document(&key, document, expected).await
        }

        async fn read_system_user_state(
            &self,
            user: &$crate::SystemUserAddress,
        ) -> Result<Option<$crate::Versioned<Vec<u8>>>, $crate::StoreError> {
            self.read_state_document(&$crate::StateKey::SystemUser(user.clone()))
                .await
        }

        async fn write_system_user_state(
            &self,
            user: &$crate::SystemUserAddress,
            document: &[u8],
            expected: Option<&$crate::Version>,
        ) -> Result<$crate::Version, $crate::StoreError> {
            let key = $crate::StateKey::SystemUser(user.clone());
            $crate::check_state_document(&key, document)?;
            self.write_state_document(&key, document, expected).await
        }
    };
}

mod any;
mod aws;
mod file;
mod lease;
mod record;
mod vault;

#[cfg(feature = "conformance")]
pub mod conformance;
/// AWS Signature Version 4 as this crate signs Secrets Manager requests,
/// for test harnesses that call moto directly (`graphform-testkit`).
#[cfg(feature = "conformance")]
pub use aws::sigv4;

pub use any::{AnyStore, BackendSettings};
pub use aws::{
    AWS_MAX_NAME_LEN, AWS_MAX_SECRET_BYTES, AwsCredentials, AwsSecretsManagerConfig,
    AwsSecretsManagerStore, DEFAULT_AWS_PREFIX,
};
pub use file::{
    DEFAULT_KEY_ENV, FileStore, InitTarget, RekeyFailpoint, RekeyOptions, RekeyStep, Rekeyed,
    generate_identity, identity_from_env,
};
pub use lease::{
    LEASE_CLOCK_SKEW_SECONDS, Lease, LeaseBreak, LeaseClaim, LeaseId, LeaseInfo, local_host_name,
};
pub use vault::{
    DEFAULT_VAULT_MOUNT, DEFAULT_VAULT_PREFIX, DEFAULT_VAULT_TOKEN_ENV, VaultSettings, VaultStore,
};

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

/// What graphform records about a token value (no secret in it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenMetadata {
    /// The token's address, e.g. `acme/ci-reporting/token/insights-read`.
    pub address: TokenAddress,
    /// Meta's app ID the token was issued for.
    pub app_id: String,
    /// Meta's (app-scoped) system-user ID.
    pub system_user_id: String,
    /// The scopes it was issued with, sorted.
    pub scopes: BTreeSet<String>,
    /// 60-day or never-expiring.
    pub expiry: ExpiryMode,
    /// When it was issued or refreshed.
    pub issued_at: Timestamp,
    /// When it expires; `None` for never-expiring tokens.
    pub expires_at: Option<Timestamp>,
    /// The value's fingerprint.
    pub fingerprint: Fingerprint,
    /// The journal entry (intent ID) of the call that produced this value,
    /// so a later run can tell that call's answer was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<String>,
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
    pub revoke_after: Timestamp,
}

/// Everything stored for one token address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token consumers should use.
    pub current: StoredToken,
    /// The token it replaced, until revoked.
    pub previous: Option<PreviousToken>,
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
    /// The lease is held by someone else (and has not expired, counting
    /// [`LEASE_CLOCK_SKEW_SECONDS`]; or is not the one a
    /// [take-over](Store::take_over_lease) named). The message shows its
    /// times in UTC.
    #[error(
        "the store is locked by {} (pid {} on host {}) since {}, lease expires {} (lock ID {})",
        .0.holder,
        .0.pid,
        .0.host,
        utc(.0.acquired_at),
        utc(.0.expires_at),
        .0.id
    )]
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
    /// The caller asked for something no backend may store: a record whose
    /// metadata contradicts its address, a state document that is not
    /// JSON, an object too large for the backend. Nothing was read or
    /// written.
    #[error("{what} cannot be stored: {reason}")]
    Invalid {
        /// What was given, e.g. `token acme/ci/token/read` (never a value).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Where the store keeps its tokens there is an entry whose key is not
    /// a token address: written by hand or by another tool, or damaged.
    /// graphform never writes one; it is reported rather than skipped so
    /// that no token goes unseen. Remove or move the entry (see
    /// [`StoreError::hint`]).
    #[error("{location} is not a token graphform wrote: `{key}` is not a token address ({reason})")]
    ForeignEntry {
        /// The entry's key where an address would be, e.g. `acme/ci`.
        key: String,
        /// Where the entry is: a file, a KV path, a secret name.
        location: String,
        /// Why the key is not a token address.
        reason: String,
    },
}

/// How to get past a [`StoreError::ForeignEntry`].
const FOREIGN_ENTRY_HINT: &str = "graphform keeps each token under its address, \
     business/system-user/token/name; move or remove this entry, which graphform did not write";

impl StoreError {
    /// How to fix it, when the store knows: shown by the CLI after the
    /// error, apart from its message (which never includes it).
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::Config { hint, .. } => hint.as_deref(),
            Self::ForeignEntry { .. } => Some(FOREIGN_ENTRY_HINT),
            _ => None,
        }
    }
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
    async fn read_token(
        &self,
        address: &TokenAddress,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError>;

    /// Every token address the store holds, sorted ([`TokenAddress`]'s
    /// order: a tree). An entry whose key is not a token address is
    /// [`StoreError::ForeignEntry`], never skipped.
    async fn list_tokens(&self) -> Result<Vec<TokenAddress>, StoreError>;

    /// Writes a token record if the stored version is `expected` (`None`:
    /// only if there is none). Durable when it returns `Ok`. The record must
    /// pass [`validate_record`] for `address`. An `Err` other than
    /// [`StoreError::Conflict`] or [`StoreError::Invalid`] does not prove
    /// that nothing was written: re-read before deciding again.
    async fn write_token(
        &self,
        address: &TokenAddress,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError>;

    /// Deletes a token record if the stored version is `expected`.
    async fn delete_token(
        &self,
        address: &TokenAddress,
        expected: &Version,
    ) -> Result<(), StoreError>;

    /// Reads the state document (opaque JSON bytes; the engine owns its
    /// format), byte for byte as written.
    async fn read_state(&self) -> Result<Option<Versioned<Vec<u8>>>, StoreError>;

    /// Writes the state document if the stored version is `expected`
    /// (`None`: only if there is none). `document` must be one JSON text
    /// (UTF-8, no whitespace around it); anything else is
    /// [`StoreError::Invalid`] in every backend.
    async fn write_state(
        &self,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError>;

    /// Reads the state document of one system user (opaque JSON bytes,
    /// byte for byte as written); `None` if none was written. It is an
    /// object of its own, apart from the root document
    /// ([`Store::read_state`]) and every other system user's, so that a
    /// large apply writes each object a constant number of times (issue
    /// 12: AWS keeps at most about 100 versions of a secret younger than a
    /// day).
    async fn read_system_user_state(
        &self,
        user: &SystemUserAddress,
    ) -> Result<Option<Versioned<Vec<u8>>>, StoreError>;

    /// Writes the state document of one system user if its stored version
    /// is `expected` (`None`: only if there is none). The same contract as
    /// [`Store::write_state`]: one JSON text ([`validate_state_document`],
    /// else [`StoreError::Invalid`] and nothing written), compare-and-set,
    /// durable when it returns `Ok`. Writing it changes no other state
    /// document.
    async fn write_system_user_state(
        &self,
        user: &SystemUserAddress,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError>;

    /// Takes the apply lease described by `holder` (its `acquired_at` is
    /// "now", its `expires_at` the lease's end), or fails with
    /// [`StoreError::Locked`] naming the current holder.
    ///
    /// A lease held by someone else is taken over only once it has expired
    /// by a margin for clock skew between hosts: when
    /// `held.expires_at + LEASE_CLOCK_SKEW_SECONDS <= holder.acquired_at`
    /// ([`LeaseInfo::may_be_taken_over_at`]). A holder whose clock runs up to
    /// [`LEASE_CLOCK_SKEW_SECONDS`] behind ours, renewing its lease in time
    /// by its own clock, therefore never loses it to us.
    async fn acquire_lease(&self, holder: &LeaseInfo) -> Result<Lease, StoreError> {
        self.claim_lease(&LeaseClaim::acquire(holder)).await
    }

    /// Takes over the lease `stale`, whose holder the caller knows is gone
    /// (e.g. a process of this host that no longer runs), expired or not,
    /// for `holder`.
    ///
    /// Compare-and-set: the stored lease is replaced only if it is exactly
    /// `stale` (every field equal). Otherwise this fails with
    /// [`StoreError::Locked`] naming the current holder: another run took
    /// the lease meanwhile, or `stale`'s holder renewed it (its
    /// `expires_at` changed). If the lease is free, it is taken as
    /// [`Store::acquire_lease`] would. Of several concurrent take-overs of
    /// the same `stale` lease exactly one wins; the others get `Locked`
    /// naming the winner. The former holder's [`Lease`] then no longer
    /// renews it ([`StoreError::LeaseLost`]) nor releases it.
    async fn take_over_lease(
        &self,
        stale: &LeaseInfo,
        holder: &LeaseInfo,
    ) -> Result<Lease, StoreError> {
        self.claim_lease(&LeaseClaim::take_over(stale, holder))
            .await
    }

    /// What [`Store::acquire_lease`] and [`Store::take_over_lease`] do, the
    /// one lease primitive a backend implements: writes the claim's
    /// [holder](LeaseClaim::holder) as the lease if there is none, or over
    /// the lease held if [`LeaseClaim::replace`] allows it (which fails
    /// with [`StoreError::Locked`] otherwise), compare-and-set against the
    /// lease read, and returns [`LeaseClaim::won`]. Of concurrent claims
    /// exactly one wins; the conformance suite checks it.
    ///
    /// A wrapper must delegate this: it cannot be made atomic from the
    /// other methods. Callers use the two methods above.
    async fn claim_lease(&self, claim: &LeaseClaim) -> Result<Lease, StoreError>;

    /// Extends a held lease to `expires_at`; [`StoreError::LeaseLost`] if it
    /// is no longer ours. Returns the lease to use from then on: its version
    /// changes, and the one given no longer renews or releases it.
    async fn renew_lease(&self, lease: &Lease, expires_at: Timestamp) -> Result<Lease, StoreError>;

    /// Releases a held lease (no error if it is already gone; a lease taken
    /// over or broken is left to its new holder).
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Who holds the lease, if anyone (expired or not), with its ID
    /// (`graphform lock status`).
    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError>;

    /// Removes the lease if it is the one with ID `id`, whatever its
    /// holder and expiry (`graphform unlock ID`): [`LeaseBreak::Broken`]
    /// with what was removed. Compare-and-set against the lease read: a
    /// lease taken over or acquired anew in between (another ID) is never
    /// removed, [`LeaseBreak::OtherHolder`] names it; a renewal in between
    /// keeps the ID, and the lease is then read again and removed. No lease:
    /// [`LeaseBreak::NotHeld`]. An unreadable lease entry has no ID to
    /// compare; it is removed whatever `id` is, [`LeaseBreak::Damaged`].
    async fn break_lease(&self, id: &LeaseId) -> Result<LeaseBreak, StoreError>;
}

/// Checks that a record may be written at `address`: the metadata of the
/// current and the previous token name that address, and each metadata's
/// fingerprint is its value's. Every backend calls this in
/// [`Store::write_token`]; a mismatch is a bug in the caller that would
/// otherwise be stored for good.
pub fn validate_record(address: &TokenAddress, record: &TokenRecord) -> Result<(), StoreError> {
    let tokens = std::iter::once(("current", &record.current)).chain(
        record
            .previous
            .as_ref()
            .map(|previous| ("previous", &previous.token)),
    );
    for (which, token) in tokens {
        let invalid = |reason: String| StoreError::Invalid {
            what: format!("token {address}"),
            reason,
        };
        if token.metadata.address != *address {
            return Err(invalid(format!(
                "the {which} token's metadata names address {:?}",
                token.metadata.address.to_string()
            )));
        }
        let fingerprint = token.value.fingerprint();
        if token.metadata.fingerprint != fingerprint {
            return Err(invalid(format!(
                "the {which} token's metadata has fingerprint {}, its value has {fingerprint}",
                token.metadata.fingerprint
            )));
        }
    }
    Ok(())
}

/// The address under which a backend found a token entry, `key` (its key
/// where an address would be), or [`StoreError::ForeignEntry`] naming
/// `location` (the file, KV path or secret that holds it). Every backend's
/// [`Store::list_tokens`] reads keys through this, so none is skipped.
pub(crate) fn token_key(
    key: &str,
    location: impl FnOnce() -> String,
) -> Result<TokenAddress, StoreError> {
    key.parse().map_err(
        |error: graphform_types::AddressError| StoreError::ForeignEntry {
            key: key.to_owned(),
            location: location(),
            reason: error.reason,
        },
    )
}

/// Checks a state document for [`Store::write_state`] and
/// [`Store::write_system_user_state`]: one JSON text in UTF-8 with no
/// whitespace around it (so that every backend can return it byte for
/// byte, the file backend embedding it in its own JSON).
pub fn validate_state_document(document: &[u8]) -> Result<(), StoreError> {
    check_state_document(&StateKey::Root, document)
}

/// Which state document: the root one or a system user's. Each is an
/// object of its own in every backend; its `Display` names it in messages
/// (`the state document`, `the state document of acme/ci-reporting`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StateKey {
    /// The root document ([`Store::read_state`]).
    Root,
    /// A system user's ([`Store::read_system_user_state`]).
    SystemUser(SystemUserAddress),
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("the state document"),
            Self::SystemUser(user) => write!(f, "the state document of {user}"),
        }
    }
}

/// [`validate_state_document`] for the document `key`, which its errors
/// name.
pub(crate) fn check_state_document(key: &StateKey, document: &[u8]) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::Invalid {
        what: key.to_string(),
        reason,
    };
    let text = std::str::from_utf8(document).map_err(|_| invalid("it is not UTF-8".to_owned()))?;
    if text.trim() != text {
        return Err(invalid(
            "it has whitespace around the JSON value".to_owned(),
        ));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|error| invalid(format!("it is not JSON: {}", json_error_reason(&error))))?;
    Ok(())
}

/// Where a credential came from (the file store's key, a Vault token), to
/// say so in messages and `Debug` without its value: ``the key in
/// `GRAPHFORM_STORE_KEY` ``, `the Vault token given`.
#[derive(Clone, Debug)]
pub(crate) struct CredentialSource {
    /// What the credential is, e.g. `the key`.
    what: &'static str,
    /// The environment variable it was read from; `None`: given in code.
    env: Option<String>,
}

impl CredentialSource {
    /// `what`, read from the environment variable `name`.
    pub(crate) fn env(what: &'static str, name: &str) -> Self {
        Self {
            what,
            env: Some(name.to_owned()),
        }
    }

    /// `what`, given in code.
    pub(crate) fn given(what: &'static str) -> Self {
        Self { what, env: None }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.env {
            Some(name) => write!(f, "{} in `{name}`", self.what),
            None => write!(f, "{} given", self.what),
        }
    }
}

/// Texts [`validate_state_document`] refuses, for its tests and the
/// conformance suite's: empty, whitespace around the value, truncated,
/// two values, not UTF-8, not JSON.
#[cfg(any(test, feature = "conformance"))]
pub(crate) const NOT_STATE_DOCUMENTS: &[&[u8]] = &[
    b"",
    b" {}",
    b"{}\n",
    b"{",
    b"{\"a\":",
    b"{} {}",
    b"\xff\xfe",
    b"not json",
];

/// Describes a JSON error by kind and position only: serde's messages may
/// quote the offending input, which can be a token value.
pub(crate) fn json_error_reason(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{kind} at line {}, column {}", error.line(), error.column())
}

/// A Unix time for people: `2026-01-01 00:00:00 UTC`.
fn utc(time: Timestamp) -> String {
    time.utc().to_string()
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Backends turn an address into a path or a key as it is: what makes
    /// that safe is that no `TokenAddress` holds anything but four plain
    /// names (no `..`, no separator, no leading `-`, nothing hidden).
    #[test]
    fn a_token_address_cannot_escape_a_path() {
        let long = format!("acme/{}/token/x", "a".repeat(65));
        for bad in [
            "",
            "../x/token/y",
            "acme/../token/y",
            "acme/x/token/..",
            "/acme/x/token/y",
            "acme/x/token/y/",
            "acme//x/token/y",
            "acme/x/token/.hidden",
            "acme/x/token/y.age",
            "acme\\x/su/token/y",
            "acme/x/token/-y",
            "Acme/x/token/y",
            "acme/x/token/y\0",
            "acme/x/token/y\n",
            "acme/é/token/y",
            "acme/x",
            long.as_str(),
        ] {
            assert!(bad.parse::<TokenAddress>().is_err(), "{bad:?}");
        }
        let address: TokenAddress = "acme/ci-reporting/token/insights-read".parse().unwrap();
        let text = address.to_string();
        let components: Vec<_> = std::path::Path::new(&text).components().collect();
        assert_eq!(components.len(), 4, "{components:?}");
        assert!(
            components
                .iter()
                .all(|part| matches!(part, std::path::Component::Normal(name)
                    if !name.to_string_lossy().starts_with(['.', '-']))),
            "{components:?}"
        );
    }

    #[test]
    fn state_documents_are_one_json_text_without_surrounding_whitespace() {
        for good in [
            &b"{}"[..],
            b"[1,2]",
            b"{\n  \"a\": 1\n}",
            b"\"text\"",
            b"42",
        ] {
            assert!(validate_state_document(good).is_ok(), "{good:?}");
        }
        for bad in NOT_STATE_DOCUMENTS {
            assert!(
                matches!(
                    validate_state_document(bad),
                    Err(StoreError::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn state_document_errors_name_the_document() {
        let user = StateKey::SystemUser(SystemUserAddress::new("acme", "ci-reporting"));
        for (key, what) in [
            (StateKey::Root, "the state document"),
            (user, "the state document of acme/ci-reporting"),
        ] {
            match check_state_document(&key, b"{") {
                Err(StoreError::Invalid { what: named, .. }) => assert_eq!(named, what),
                other => panic!("{other:?}"),
            }
            assert!(check_state_document(&key, b"{}").is_ok());
        }
    }

    #[test]
    fn json_error_reasons_quote_no_input() {
        let error = serde_json::from_str::<u64>("\"EAAsecret\"").unwrap_err();
        assert!(error.to_string().contains("EAAsecret"), "serde quotes it");
        let reason = json_error_reason(&error);
        assert!(!reason.contains("EAAsecret"), "{reason}");
        assert!(reason.contains("line 1"), "{reason}");
    }

    #[test]
    fn locked_shows_the_holder_and_utc_times() {
        let error = StoreError::Locked(LeaseInfo {
            id: LeaseId::new("0123456789abcdef"),
            holder: "graphform apply".to_owned(),
            pid: 4242,
            host: "ci-runner-1".to_owned(),
            acquired_at: Timestamp::from_unix(1_767_225_600),
            expires_at: Timestamp::from_unix(1_767_229_265),
        });
        assert_eq!(
            error.to_string(),
            "the store is locked by graphform apply (pid 4242 on host ci-runner-1) since \
             2026-01-01 00:00:00 UTC, lease expires 2026-01-01 01:01:05 UTC (lock ID \
             0123456789abcdef)"
        );
    }
}
