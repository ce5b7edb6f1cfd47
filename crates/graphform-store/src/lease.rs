//! The apply lease as every backend keeps it: who holds it
//! ([`LeaseInfo`]), the proof of holding it ([`Lease`]), and what a claim
//! of it may replace ([`LeaseClaim`]: the one decision, and its log
//! lines, that [`Store::acquire_lease`](crate::Store::acquire_lease) and
//! [`Store::take_over_lease`](crate::Store::take_over_lease) share in every
//! backend), and the outcome of breaking it ([`LeaseBreak`]).
//!
//! Every lease has an ID ([`LeaseId`]): 16 hex digits drawn from a CSPRNG
//! when it is acquired or taken over, kept by its renewals. `graphform lock
//! status` shows it, `graphform unlock ID` needs it, so that a lock is
//! broken only if it is still the one the user looked at. A lease written
//! by a graphform from before IDs has none on disk; it reads with an ID
//! derived from its holder, pid, host and `acquired_at`
//! ([`LeaseId::derived`]), stable across its renewals, so it shows and
//! breaks like any other.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::{StoreError, Timestamp, Version};

/// The ID of one holding of the apply lease: 16 lowercase hex digits,
/// random when the lease is acquired or taken over, the same through its
/// renewals. Not a secret: it names a lease, it grants nothing (anyone who
/// can read the store can read it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct LeaseId(String);

impl LeaseId {
    /// A new random ID (64 bits from the thread-local CSPRNG).
    pub fn random() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()))
    }

    /// The ID given (e.g. on the command line); any text, compared as is.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The ID of a lease written without one (by a graphform from before
    /// lease IDs): the first 16 hex digits of the SHA-256 of its holder,
    /// pid, host and `acquired_at`. Its renewals (which change only
    /// `expires_at`) keep it; another holder's lease gets another.
    pub fn derived(holder: &str, pid: u32, host: &str, acquired_at: Timestamp) -> Self {
        let mut hasher = Sha256::new();
        for part in [
            holder,
            &pid.to_string(),
            host,
            &acquired_at.unix().to_string(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        Self(hex::encode(&hasher.finalize()[..8]))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who holds (or asks for) the apply lease.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "LeaseInfoIn")]
pub struct LeaseInfo {
    /// This holding's ID ([`LeaseId`]): new for each acquire or take-over,
    /// kept by renewals.
    pub id: LeaseId,
    /// A free-form description of the holder (e.g. `graphform apply`, a CI job id).
    pub holder: String,
    /// The holder's process ID.
    pub pid: u32,
    /// The holder's host name.
    pub host: String,
    /// When the lease was taken.
    pub acquired_at: Timestamp,
    /// When it expires unless renewed; an expired lease may be taken over.
    pub expires_at: Timestamp,
}

/// [`LeaseInfo`] as read: the ID may be missing (a lease written before
/// lease IDs), and is then [derived](LeaseId::derived).
#[derive(serde::Deserialize)]
struct LeaseInfoIn {
    #[serde(default)]
    id: Option<LeaseId>,
    holder: String,
    pid: u32,
    host: String,
    acquired_at: Timestamp,
    expires_at: Timestamp,
}

impl From<LeaseInfoIn> for LeaseInfo {
    fn from(read: LeaseInfoIn) -> Self {
        let id = read.id.unwrap_or_else(|| {
            LeaseId::derived(&read.holder, read.pid, &read.host, read.acquired_at)
        });
        Self {
            id,
            holder: read.holder,
            pid: read.pid,
            host: read.host,
            acquired_at: read.acquired_at,
            expires_at: read.expires_at,
        }
    }
}

/// What [`Store::break_lease`](crate::Store::break_lease) found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseBreak {
    /// The lease with the ID given was removed: this one.
    Broken(LeaseInfo),
    /// No lease was held; nothing changed.
    NotHeld,
    /// The lease is held under another ID (this one): nothing changed.
    OtherHolder(LeaseInfo),
    /// The lease entry was unreadable (damaged; it has no ID to compare)
    /// and was removed, compare-and-set against the entry read: breaking
    /// is how a user gets out of it.
    Damaged,
}

impl LeaseBreak {
    /// Logs a lease broken (the one log line of every backend), and
    /// returns the outcome.
    pub(crate) fn logged(self) -> Self {
        if let Self::Broken(info) = &self {
            tracing::debug!(
                id = %info.id,
                holder = %info.holder,
                pid = info.pid,
                host = %info.host,
                "lease broken"
            );
        }
        self
    }
}

/// Proof of holding the lease, needed to renew or release it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What was recorded.
    pub info: LeaseInfo,
    /// The lease entry's version.
    pub version: Version,
}

/// How long past its `expires_at` a lease is still honoured, for clocks
/// that disagree between hosts: [`Store::acquire_lease`](crate::Store::acquire_lease)
/// takes over a lease only once `expires_at + LEASE_CLOCK_SKEW_SECONDS <=
/// now`. (Renew a lease well before it expires: the margin covers clocks,
/// not slow renewals.)
pub const LEASE_CLOCK_SKEW_SECONDS: i64 = 120;

impl LeaseInfo {
    /// Whether this lease has expired at `now` by the clock-skew margin
    /// ([`LEASE_CLOCK_SKEW_SECONDS`]), so that
    /// [`Store::acquire_lease`](crate::Store::acquire_lease) may take it
    /// over.
    pub fn may_be_taken_over_at(&self, now: Timestamp) -> bool {
        now.unix().saturating_sub(self.expires_at.unix()) >= LEASE_CLOCK_SKEW_SECONDS
    }

    /// The first moment [`may_be_taken_over_at`](Self::may_be_taken_over_at)
    /// holds: its expiry plus the clock-skew margin.
    pub fn takeover_at(&self) -> Timestamp {
        self.expires_at
            .saturating_add(graphform_types::Duration::seconds(LEASE_CLOCK_SKEW_SECONDS))
    }

    /// A lease request for this process: `holder`, this process's ID and
    /// host name, taken at `now` for `duration_seconds`.
    pub fn for_current_process(
        holder: impl Into<String>,
        now: Timestamp,
        duration_seconds: i64,
    ) -> Self {
        Self {
            id: LeaseId::random(),
            holder: holder.into(),
            pid: std::process::id(),
            host: local_host_name(),
            acquired_at: now,
            expires_at: now + graphform_types::Duration::seconds(duration_seconds),
        }
    }
}

/// This machine's host name, for [`LeaseInfo::host`]: the kernel's (Linux),
/// else `/etc/hostname`, else `$HOSTNAME`, else `unknown`. Best effort, for
/// people reading a lock message; nothing depends on it.
pub fn local_host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A claim of the lease for a [holder](LeaseClaim::holder), as
/// [`Store::claim_lease`](crate::Store::claim_lease) carries it out: the
/// holder takes a free lease, and replaces a held one only if the claim
/// allows it ([`LeaseClaim::replace`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseClaim {
    holder: LeaseInfo,
    /// `Some`: a take-over of exactly this lease; `None`: an acquire.
    stale: Option<LeaseInfo>,
}

impl LeaseClaim {
    /// [`Store::acquire_lease`](crate::Store::acquire_lease): a held lease
    /// is replaced only once it
    /// [may be taken over](LeaseInfo::may_be_taken_over_at) at the holder's
    /// `acquired_at`.
    pub fn acquire(holder: &LeaseInfo) -> Self {
        Self {
            holder: holder.clone(),
            stale: None,
        }
    }

    /// [`Store::take_over_lease`](crate::Store::take_over_lease): a held
    /// lease is replaced only if it is exactly `stale`, expired or not.
    pub fn take_over(stale: &LeaseInfo, holder: &LeaseInfo) -> Self {
        Self {
            holder: holder.clone(),
            stale: Some(stale.clone()),
        }
    }

    /// Who claims the lease: what is written.
    pub fn holder(&self) -> &LeaseInfo {
        &self.holder
    }

    /// What the claim does, for messages: `acquiring the lease` or
    /// `taking over the lease`.
    pub fn action(&self) -> &'static str {
        match self.stale {
            None => "acquiring the lease",
            Some(_) => "taking over the lease",
        }
    }

    /// Whether this claim may replace the lease `held`: `Ok` (logged,
    /// naming the holder replaced), or [`StoreError::Locked`] naming it.
    pub fn replace(&self, held: &LeaseInfo) -> Result<(), StoreError> {
        let (may, why) = match &self.stale {
            None => (
                held.may_be_taken_over_at(self.holder.acquired_at),
                "taking over an expired lease",
            ),
            Some(stale) => (
                held == stale,
                "taking over the lease of a holder that is gone",
            ),
        };
        if !may {
            return Err(StoreError::Locked(held.clone()));
        }
        tracing::info!(
            previous_holder = %held.holder,
            previous_pid = held.pid,
            previous_host = %held.host,
            expired_at = held.expires_at.unix(),
            "{why}"
        );
        Ok(())
    }

    /// The lease won by this claim, written at `version` (logged).
    pub fn won(&self, version: Version) -> Lease {
        let holder = &self.holder;
        tracing::debug!(
            holder = %holder.holder,
            pid = holder.pid,
            host = %holder.host,
            expires_at = holder.expires_at.unix(),
            "lease acquired"
        );
        Lease {
            info: holder.clone(),
            version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix(seconds)
    }

    #[test]
    fn a_lease_expires_for_others_after_the_clock_skew_margin() {
        let lease = LeaseInfo::for_current_process("graphform apply", at(1_000), 300);
        assert!(!lease.may_be_taken_over_at(at(1_300)));
        assert!(!lease.may_be_taken_over_at(at(1_300 + LEASE_CLOCK_SKEW_SECONDS - 1)));
        assert!(lease.may_be_taken_over_at(at(1_300 + LEASE_CLOCK_SKEW_SECONDS)));
        let forever = LeaseInfo {
            expires_at: at(i64::MAX),
            ..lease
        };
        assert!(!forever.may_be_taken_over_at(at(i64::MAX - 1)));
    }

    #[test]
    fn lease_ids_are_random_hex_and_round_trip() {
        let (a, b) = (LeaseId::random(), LeaseId::random());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), 16, "{id}");
            assert!(
                id.as_str()
                    .bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
        let info = LeaseInfo::for_current_process("graphform apply", at(1_000), 300);
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains(&format!("\"id\":\"{}\"", info.id)), "{json}");
        assert_eq!(serde_json::from_str::<LeaseInfo>(&json).unwrap(), info);
    }

    /// A lease written before lease IDs reads with an ID derived from its
    /// holder, pid, host and `acquired_at`: the same after a renewal (only
    /// `expires_at` changes), another for another holder.
    #[test]
    fn a_lease_without_an_id_reads_with_a_derived_stable_one() {
        let old = |holder: &str, expires_at: i64| {
            serde_json::from_str::<LeaseInfo>(&format!(
                r#"{{"holder":"{holder}","pid":4242,"host":"ci-runner-1","acquired_at":1000,"expires_at":{expires_at}}}"#
            ))
            .unwrap()
        };
        let first = old("graphform apply", 1_300);
        assert_eq!(
            first.id,
            LeaseId::derived("graphform apply", 4242, "ci-runner-1", at(1_000))
        );
        assert_eq!(first.id.as_str().len(), 16);
        assert_eq!(old("graphform apply", 9_999).id, first.id, "renewed");
        assert_ne!(old("graphform apply (other)", 1_300).id, first.id);
    }

    #[test]
    fn a_lease_for_this_process_names_it() {
        let info = LeaseInfo::for_current_process("graphform apply", at(1_000), 300);
        assert_eq!(info.pid, std::process::id());
        assert!(!info.host.is_empty());
        assert_eq!(
            (info.acquired_at.unix(), info.expires_at.unix()),
            (1_000, 1_300)
        );
    }

    #[test]
    fn an_acquire_replaces_an_expired_lease_and_a_take_over_the_stale_one_only() {
        let held = LeaseInfo::for_current_process("graphform apply", at(1_000), 300);
        let early = LeaseInfo::for_current_process("next", at(1_300), 300);
        let late =
            LeaseInfo::for_current_process("next", at(1_300 + LEASE_CLOCK_SKEW_SECONDS), 300);
        let locked = |result: Result<(), StoreError>| matches!(result, Err(StoreError::Locked(holder)) if holder == held);
        assert!(locked(LeaseClaim::acquire(&early).replace(&held)));
        assert!(LeaseClaim::acquire(&late).replace(&held).is_ok());
        assert!(LeaseClaim::take_over(&held, &early).replace(&held).is_ok());
        let renewed = LeaseInfo {
            expires_at: at(2_000),
            ..held.clone()
        };
        assert!(locked(
            LeaseClaim::take_over(&renewed, &late).replace(&held)
        ));
        let claim = LeaseClaim::take_over(&held, &early);
        assert_eq!(claim.action(), "taking over the lease");
        assert_eq!(LeaseClaim::acquire(&early).action(), "acquiring the lease");
        let lease = claim.won(Version("7".to_owned()));
        assert_eq!((&lease.info, lease.version.0.as_str()), (&early, "7"));
    }
}
