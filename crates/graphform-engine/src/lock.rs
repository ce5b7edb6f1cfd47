//! The apply lock as `graphform lock status` reports it: the store's
//! lease, who holds it, and whether the next apply may take it over
//! ([`LockStatus`], the document of `lock status --format json`).

use graphform_store::{LeaseId, LeaseInfo};
use graphform_types::Timestamp;
use schemars::JsonSchema;
use serde::Serialize;

/// The lock status format version (`lock status --format json`); bumped
/// when a field changes meaning or goes away, not when one is added.
pub const LOCK_STATUS_FORMAT_VERSION: u32 = 1;

/// What `graphform lock status --format json` prints
/// (`schemas/lock-status.schema.json`, docs/operations.md). Holds no
/// secret: the lock's ID names a lease, it grants nothing.
// The fields are in alphabetical order: the order the document has had
// since it was first printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LockStatus {
    /// The lock status format's version (1): it changes when a field
    /// changes meaning or goes away, not when one is added.
    pub format_version: u32,
    /// The lease held on the store, expired or not; `null` when the store
    /// is not locked.
    pub lease: Option<HeldLease>,
    /// Whether the store is locked (`lease` is not `null`).
    pub locked: bool,
    /// The moment the status is of (graphform's clock, Unix seconds).
    pub now: Timestamp,
    /// The store, as it describes itself: `file store .graphform/store`.
    pub store: String,
}

/// The lease on the store and its holder.
// Alphabetical, as `LockStatus`'s fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HeldLease {
    /// When it was taken (Unix seconds).
    pub acquired_at: Timestamp,
    /// Whether `now` is past its expiry.
    pub expired: bool,
    /// When it expires unless its holder renews it (Unix seconds).
    pub expires_at: Timestamp,
    /// Its holder's description: `graphform apply`, a CI job.
    pub holder: String,
    /// Its holder's host name.
    pub host: String,
    /// The lock's ID: what `graphform unlock ID` takes.
    #[schemars(with = "String")]
    pub id: LeaseId,
    /// Whether the next apply takes it over (it expired more than the
    /// clock-skew margin ago).
    pub may_be_taken_over: bool,
    /// From when the next apply takes it over: its expiry plus the margin
    /// for clock skew between hosts (Unix seconds).
    pub may_be_taken_over_at: Timestamp,
    /// Its holder's process ID.
    pub pid: u32,
}

impl LockStatus {
    /// The status of `store` (its description) at `now`, with `lease` as
    /// read from it.
    pub fn new(store: String, lease: Option<&LeaseInfo>, now: Timestamp) -> Self {
        Self {
            format_version: LOCK_STATUS_FORMAT_VERSION,
            lease: lease.map(|lease| HeldLease {
                acquired_at: lease.acquired_at,
                expired: now >= lease.expires_at,
                expires_at: lease.expires_at,
                holder: lease.holder.clone(),
                host: lease.host.clone(),
                id: lease.id.clone(),
                may_be_taken_over: lease.may_be_taken_over_at(now),
                may_be_taken_over_at: lease.takeover_at(),
                pid: lease.pid,
            }),
            locked: lease.is_some(),
            now,
            store,
        }
    }
}

/// The JSON Schema of `lock status --format json`
/// (`schemas/lock-status.schema.json`).
pub fn lock_status_schema() -> String {
    graphform_types::json_schema::<LockStatus>()
}
