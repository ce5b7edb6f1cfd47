//! A store wrapper that counts every call by kind, with the time spent in
//! it and the size of the state documents written (the root one and the
//! system users'): what the benchmark reports as store writes per token
//! (issue 12).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use graphform_store::{
    Lease, LeaseBreak, LeaseClaim, LeaseId, LeaseInfo, Store, StoreError, SystemUserAddress,
    Timestamp, TokenAddress, TokenRecord, Version, Versioned,
};

/// How many kinds of store call [`Counting`] tells apart.
const KINDS: usize = 10;

/// The kinds of store call [`Counting`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallKind {
    /// [`Store::write_token`].
    WriteToken,
    /// [`Store::write_state`].
    WriteState,
    /// [`Store::write_system_user_state`].
    WriteSystemUserState,
    /// [`Store::delete_token`].
    DeleteToken,
    /// Any write of the lease: acquire, take over, renew, release, break.
    WriteLease,
    /// [`Store::read_token`].
    ReadToken,
    /// [`Store::list_tokens`].
    ListTokens,
    /// [`Store::read_state`].
    ReadState,
    /// [`Store::read_system_user_state`].
    ReadSystemUserState,
    /// [`Store::read_lease`].
    ReadLease,
}

impl CallKind {
    /// Every kind, writes first.
    pub const ALL: [CallKind; KINDS] = [
        Self::WriteToken,
        Self::WriteState,
        Self::WriteSystemUserState,
        Self::DeleteToken,
        Self::WriteLease,
        Self::ReadToken,
        Self::ListTokens,
        Self::ReadState,
        Self::ReadSystemUserState,
        Self::ReadLease,
    ];

    /// Whether a call of this kind changes the store.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::WriteToken
                | Self::WriteState
                | Self::WriteSystemUserState
                | Self::DeleteToken
                | Self::WriteLease
        )
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|kind| *kind == self)
            .expect("every kind is in ALL")
    }
}

/// Calls of one kind: how many, and the time spent in them (summed over
/// calls, so concurrent calls can add up to more than the wall time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls made, whether they succeeded or not.
    pub calls: u64,
    /// Time from each call's start to its end, summed.
    pub time: Duration,
}

/// What [`Counting`] has seen since it was built or last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Per kind, in [`CallKind::ALL`]'s order.
    pub tallies: [Tally; KINDS],
    /// Bytes of every state document given to [`Store::write_state`] and
    /// [`Store::write_system_user_state`].
    pub state_bytes_written: u64,
    /// The largest state document given to either.
    pub largest_state: u64,
}

impl StoreCounts {
    /// The tally of one kind.
    pub fn of(&self, kind: CallKind) -> Tally {
        self.tallies[kind.index()]
    }

    /// Every write, of any kind.
    pub fn writes(&self) -> u64 {
        CallKind::ALL
            .iter()
            .filter(|kind| kind.is_write())
            .map(|kind| self.of(*kind).calls)
            .sum()
    }
}

#[derive(Debug, Default)]
struct Counter {
    calls: AtomicU64,
    nanos: AtomicU64,
}

/// Wraps a store and counts every call by [`CallKind`]; each method is the
/// wrapped store's, unchanged, except that a hook may see (and refuse)
/// every token write first ([`Counting::before_write`]).
///
/// Uses: count writes per token (the benchmark), remember every value
/// written (to look for it in logs later), or make writes fail while a
/// flag is set (a store outage).
#[derive(Debug)]
pub struct Counting<S, F = NoHook> {
    inner: S,
    before_write: F,
    counters: [Counter; KINDS],
    state_bytes_written: AtomicU64,
    largest_state: AtomicU64,
}

/// The hook of a [`Counting`] that lets every write through.
pub type NoHook = fn(&TokenAddress, &TokenRecord) -> Result<(), StoreError>;

impl<S: Store> Counting<S> {
    /// `inner`, counted.
    pub fn new(inner: S) -> Self {
        Self::before_write(inner, |_, _| Ok(()))
    }
}

impl<S, F> Counting<S, F>
where
    S: Store,
    F: Fn(&TokenAddress, &TokenRecord) -> Result<(), StoreError>,
{
    /// `inner`, counted, with `hook` called before each token write: an
    /// `Err` from it is the write's result, and nothing is written.
    pub fn before_write(inner: S, hook: F) -> Self {
        Self {
            inner,
            before_write: hook,
            counters: Default::default(),
            state_bytes_written: AtomicU64::new(0),
            largest_state: AtomicU64::new(0),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// What was counted so far.
    pub fn counts(&self) -> StoreCounts {
        let mut counts = StoreCounts {
            state_bytes_written: self.state_bytes_written.load(Ordering::Relaxed),
            largest_state: self.largest_state.load(Ordering::Relaxed),
            ..StoreCounts::default()
        };
        for (tally, counter) in counts.tallies.iter_mut().zip(&self.counters) {
            *tally = Tally {
                calls: counter.calls.load(Ordering::Relaxed),
                time: Duration::from_nanos(counter.nanos.load(Ordering::Relaxed)),
            };
        }
        counts
    }

    /// Starts counting from zero again.
    pub fn reset(&self) {
        for counter in &self.counters {
            counter.calls.store(0, Ordering::Relaxed);
            counter.nanos.store(0, Ordering::Relaxed);
        }
        self.state_bytes_written.store(0, Ordering::Relaxed);
        self.largest_state.store(0, Ordering::Relaxed);
    }

    /// Adds a state document given to a write to the sizes.
    fn count_state_bytes(&self, document: &[u8]) {
        let size = document.len() as u64;
        self.state_bytes_written.fetch_add(size, Ordering::Relaxed);
        self.largest_state.fetch_max(size, Ordering::Relaxed);
    }

    /// Runs `call`, counting it as `kind`.
    async fn count<T>(&self, kind: CallKind, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let result = call.await;
        let counter = &self.counters[kind.index()];
        counter.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counter.nanos.fetch_add(nanos, Ordering::Relaxed);
        result
    }
}

impl<S, F> Store for Counting<S, F>
where
    S: Store,
    F: Fn(&TokenAddress, &TokenRecord) -> Result<(), StoreError>,
{
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn read_token(
        &self,
        address: &TokenAddress,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        self.count(CallKind::ReadToken, self.inner.read_token(address))
            .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenAddress>, StoreError> {
        self.count(CallKind::ListTokens, self.inner.list_tokens())
            .await
    }

    async fn write_token(
        &self,
        address: &TokenAddress,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        (self.before_write)(address, record)?;
        self.count(
            CallKind::WriteToken,
            self.inner.write_token(address, record, expected),
        )
        .await
    }

    async fn delete_token(
        &self,
        address: &TokenAddress,
        expected: &Version,
    ) -> Result<(), StoreError> {
        self.count(
            CallKind::DeleteToken,
            self.inner.delete_token(address, expected),
        )
        .await
    }

    async fn read_state(&self) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        self.count(CallKind::ReadState, self.inner.read_state())
            .await
    }

    async fn write_state(
        &self,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        self.count_state_bytes(document);
        self.count(
            CallKind::WriteState,
            self.inner.write_state(document, expected),
        )
        .await
    }

    async fn read_system_user_state(
        &self,
        user: &SystemUserAddress,
    ) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        self.count(
            CallKind::ReadSystemUserState,
            self.inner.read_system_user_state(user),
        )
        .await
    }

    async fn write_system_user_state(
        &self,
        user: &SystemUserAddress,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        self.count_state_bytes(document);
        self.count(
            CallKind::WriteSystemUserState,
            self.inner.write_system_user_state(user, document, expected),
        )
        .await
    }

    async fn claim_lease(&self, claim: &LeaseClaim) -> Result<Lease, StoreError> {
        self.count(CallKind::WriteLease, self.inner.claim_lease(claim))
            .await
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: Timestamp) -> Result<Lease, StoreError> {
        self.count(
            CallKind::WriteLease,
            self.inner.renew_lease(lease, expires_at),
        )
        .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.count(CallKind::WriteLease, self.inner.release_lease(lease))
            .await
    }

    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        self.count(CallKind::ReadLease, self.inner.read_lease())
            .await
    }

    async fn break_lease(&self, id: &LeaseId) -> Result<LeaseBreak, StoreError> {
        self.count(CallKind::WriteLease, self.inner.break_lease(id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graphform_store::{FileStore, generate_identity};

    #[test]
    fn kinds_are_indexed_in_order_and_writes_come_first() {
        for (index, kind) in CallKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), index);
            assert_eq!(kind.is_write(), index < 5, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn counts_each_call_by_kind_with_the_state_sizes() {
        let dir = std::env::temp_dir().join(format!(
            "graphform-counting-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let (key, _recipient) = generate_identity();
        let store = Counting::new(FileStore::with_identity(&dir, &key).expect("store"));
        let now = Timestamp::from_unix(1_767_225_600);
        let lease = store
            .acquire_lease(&LeaseInfo::for_current_process("test", now, 60))
            .await
            .expect("lease");
        let first = store.write_state(b"{}", None).await.expect("write");
        store
            .write_state(br#"{"a":1}"#, Some(&first))
            .await
            .expect("write");
        assert!(store.write_state(b"{}", None).await.is_err(), "a conflict");
        store.read_state().await.expect("read");
        let user = SystemUserAddress::new("acme", "ci-reporting");
        store
            .write_system_user_state(&user, br#"{"user":"acme/ci-reporting"}"#, None)
            .await
            .expect("write");
        store.read_system_user_state(&user).await.expect("read");
        store.read_system_user_state(&user).await.expect("read");
        store.release_lease(&lease).await.expect("release");
        let counts = store.counts();
        std::fs::remove_dir_all(&dir).expect("remove the store");

        assert_eq!(counts.of(CallKind::WriteState).calls, 3, "{counts:?}");
        assert_eq!(counts.of(CallKind::WriteLease).calls, 2, "{counts:?}");
        assert_eq!(counts.of(CallKind::ReadState).calls, 1, "{counts:?}");
        assert_eq!(counts.of(CallKind::WriteToken).calls, 0, "{counts:?}");
        assert_eq!(
            counts.of(CallKind::WriteSystemUserState).calls,
            1,
            "{counts:?}"
        );
        assert_eq!(
            counts.of(CallKind::ReadSystemUserState).calls,
            2,
            "{counts:?}"
        );
        assert_eq!(counts.writes(), 6);
        assert_eq!(counts.state_bytes_written, 2 + 7 + 2 + 28);
        assert_eq!(counts.largest_state, 28);
        store.reset();
        assert_eq!(store.counts(), StoreCounts::default());
    }
}
