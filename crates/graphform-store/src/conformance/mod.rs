//! The conformance suite: what every [`Store`] backend must do, as checks
//! that run against any of them (issue 7: file, vault and
//! aws-secrets-manager all pass the same suite).
//!
//! Each check takes a fresh, empty store and panics (with a message naming
//! what broke) on the first deviation; they are test code. [`run_all`] runs
//! every check, each on its own store from `make()`; a backend's tests may
//! instead call the checks one by one, one `#[test]` each, to see failures
//! separately ([`conformance_tests!`](crate::conformance_tests) writes
//! them). Checks that race use several concurrent operations on the one
//! store handle; they need a runtime whose blocking or I/O work really runs
//! in parallel to prove anything (tokio's multi-thread runtime).
//! [`foreign_entries_are_reported`] needs an entry planted past the
//! [`Store`] API, so each backend's tests call it with their own means.
//!
//! The checks, by area: `tokens` (records, listing, refused input),
//! `state` (the state documents: the root one and the system users'),
//! `lease` (the apply lease) and
//! `concurrency` (compare-and-set and races); here, the list of checks,
//! the harness and the building blocks they share.
//!
//! Time is injected: the checks use [`NOW`] and offsets from it.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::{
    ExpiryMode, Lease, LeaseId, LeaseInfo, PreviousToken, Secret, Store, StoreError, StoredToken,
    SystemUserAddress, Timestamp, TokenAddress, TokenMetadata, TokenRecord, Version, Versioned,
};

mod concurrency;
mod lease;
mod state;
mod tokens;

pub use self::concurrency::{
    increment, no_lost_updates, racing_lease_one_wins, racing_state_writers_one_wins,
    racing_take_over_one_wins, racing_writers_one_wins, token_conflicts,
};
pub use self::lease::{lease_break_compare_and_set, lease_lifecycle, lease_take_over};
pub use self::state::{
    state_document_round_trip, state_documents_are_independent, system_user_state_round_trip,
};
pub use self::tokens::{
    FOREIGN_KEY, empty_store_reads_as_empty, foreign_entries_are_reported, invalid_input_rejected,
    large_and_odd_values, list_tokens_sorted, token_round_trip, token_update_replaces_record,
};

/// "Now" for every check, in Unix seconds: 2026-01-01T00:00:00Z. The
/// building blocks take seconds (`NOW + 600`); [`at`] makes a [`Timestamp`]
/// for the store's own API.
pub const NOW: i64 = 1_767_225_600;

/// The moment `seconds` after the Unix epoch.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(seconds)
}

/// How many writers race in the racing checks.
pub const RACERS: usize = 8;

/// Calls `$callback!` with the name of every check, in [`run_all`]'s order:
/// the one list that [`run_all`], [`CHECKS`] and [`conformance_tests!`]
/// are made from.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_check {
    ($callback:ident ! $($args:tt)*) => {
        $callback! {
            ($($args)*)
            empty_store_reads_as_empty,
            token_round_trip,
            token_update_replaces_record,
            list_tokens_sorted,
            token_conflicts,
            invalid_input_rejected,
            state_document_round_trip,
            system_user_state_round_trip,
            state_documents_are_independent,
            lease_lifecycle,
            large_and_odd_values,
            racing_writers_one_wins,
            racing_state_writers_one_wins,
            no_lost_updates,
            racing_lease_one_wins,
            lease_take_over,
            racing_take_over_one_wins,
            lease_break_compare_and_set,
        }
    };
}

macro_rules! run_checks {
    (($make:ident) $($check:ident,)*) => {
        $($check(&$make()).await;)*
    };
}

macro_rules! check_names {
    (() $($check:ident,)*) => {
        &[$(stringify!($check)),*]
    };
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S: Store>(make: impl Fn() -> S) {
    crate::__for_each_check! { run_checks! make }
}

/// [`run_all`], passing `make` the number of the store it makes (0, 1, …;
/// e.g. for a prefix or directory of its own), and checking that it was
/// asked for one store per check.
pub async fn run_all_numbered<S: Store>(make: impl Fn(usize) -> S) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    run_all(|| make(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))).await;
    assert_eq!(next.into_inner(), CHECKS.len(), "one store per check");
}

/// The names of the checks [`run_all`] runs, in order.
pub const CHECKS: &[&str] = crate::__for_each_check! { check_names! };

/// One `#[tokio::test]` per check (multi-thread runtime, 2 workers), each
/// on a fresh fixture: `fixture` is evaluated in the test (it may
/// `.await`), bound to the name given, and `store` (an expression using
/// that name) is the store the check runs on. The fixture lives until the
/// check ends, so it may own the server or directory behind the store.
///
/// ```ignore
/// graphform_store::conformance_tests! {
///     fixture: bao = OpenBao::start().await,
///     store: bao.store("graphform"),
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    (fixture: $name:ident = $fixture:expr, store: $store:expr $(,)?) => {
        use $crate::__conformance_test;
        $crate::__for_each_check! { __conformance_test! $name, $fixture, $store }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    (($name:ident, $fixture:expr, $store:expr) $($check:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let $name = $fixture;
                $crate::conformance::$check(&$store).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------
// Building blocks, public for backends' own tests.

/// The token address `text` (`business/system-user/token/name`).
///
/// # Panics
///
/// When `text` is not one: test code.
pub fn token(text: &str) -> TokenAddress {
    text.parse()
        .unwrap_or_else(|error| panic!("a token address in a test: {error}"))
}

/// The system-user address `text` (`business/system-user`).
///
/// # Panics
///
/// When `text` is not one: test code.
pub fn system_user(text: &str) -> SystemUserAddress {
    text.parse()
        .unwrap_or_else(|error| panic!("a system-user address in a test: {error}"))
}

/// A state document of a store: the root one or a system user's. The
/// state checks run the same way on each.
#[derive(Clone, Copy)]
enum StateDoc<'a> {
    /// [`Store::read_state`], [`Store::write_state`].
    Root,
    /// [`Store::read_system_user_state`],
    /// [`Store::write_system_user_state`].
    SystemUser(&'a SystemUserAddress),
}

/// For messages: `the root state document`, `the state document of acme/ci`.
impl std::fmt::Debug for StateDoc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Root => f.write_str("the root state document"),
            Self::SystemUser(user) => write!(f, "the state document of {user}"),
        }
    }
}

impl StateDoc<'_> {
    async fn read<S: Store>(self, store: &S) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        match self {
            Self::Root => store.read_state().await,
            Self::SystemUser(user) => store.read_system_user_state(user).await,
        }
    }

    async fn write<S: Store>(
        self,
        store: &S,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        match self {
            Self::Root => store.write_state(document, expected).await,
            Self::SystemUser(user) => {
                store
                    .write_system_user_state(user, document, expected)
                    .await
            }
        }
    }

    /// The document, which must exist.
    async fn read_existing<S: Store>(self, store: &S) -> Versioned<Vec<u8>> {
        self.read(store)
            .await
            .unwrap_or_else(|error| panic!("read {self:?}: {error}"))
            .unwrap_or_else(|| panic!("{self:?} exists"))
    }
}

/// A token with plausible metadata for `address` and `value`.
pub fn sample_token(address: &TokenAddress, value: &str, issued_at: i64) -> StoredToken {
    let value = Secret::new(value);
    StoredToken {
        metadata: TokenMetadata {
            address: address.clone(),
            app_id: "200000000000001".to_owned(),
            system_user_id: "61550000000001".to_owned(),
            scopes: ["ads_read", "read_insights"].map(str::to_owned).into(),
            expiry: ExpiryMode::SixtyDays,
            issued_at: at(issued_at),
            expires_at: Some(at(issued_at + 60 * 86_400)),
            fingerprint: value.fingerprint(),
            issued_by: None,
        },
        value,
    }
}

/// A record with only a current token.
pub fn sample_record(address: &TokenAddress, value: &str) -> TokenRecord {
    TokenRecord {
        current: sample_token(address, value, NOW),
        previous: None,
    }
}

/// A record in the middle of a rotation: `value` current, `previous_value`
/// kept until `revoke_after`.
pub fn sample_rotated_record(
    address: &TokenAddress,
    value: &str,
    previous_value: &str,
    revoke_after: i64,
) -> TokenRecord {
    TokenRecord {
        current: sample_token(address, value, NOW),
        previous: Some(PreviousToken {
            token: StoredToken {
                metadata: TokenMetadata {
                    expiry: ExpiryMode::Never,
                    expires_at: None,
                    ..sample_token(address, previous_value, NOW - 90 * 86_400).metadata
                },
                value: Secret::new(previous_value),
            },
            revoke_after: at(revoke_after),
        }),
    }
}

/// A lease request by `holder`, taken at `now` for `seconds`.
pub fn lease_request(holder: &str, now: i64, seconds: i64) -> LeaseInfo {
    LeaseInfo {
        id: LeaseId::random(),
        holder: holder.to_owned(),
        pid: 4242,
        host: "ci-runner-1".to_owned(),
        acquired_at: at(now),
        expires_at: at(now + seconds),
    }
}

/// Polls all `futures` concurrently on the current task until every one
/// has finished; their outputs in order. (No `Send` or `'static` needed,
/// unlike spawning: `Store`'s futures are neither, in general.)
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("every future finished"))
        .collect()
}

fn assert_conflict(
    result: Result<impl std::fmt::Debug, StoreError>,
    expected: Option<&Version>,
    found: Option<&Version>,
    context: &str,
) {
    match result {
        Err(StoreError::Conflict {
            expected: reported_expected,
            found: reported_found,
            what,
        }) => {
            assert_eq!(
                reported_expected.as_ref(),
                expected,
                "{context}: `expected` of the conflict ({what})"
            );
            assert_eq!(
                reported_found.as_ref(),
                found,
                "{context}: `found` of the conflict ({what})"
            );
        }
        other => panic!("{context}: expected a conflict, got {other:?}"),
    }
}

fn assert_invalid<T: std::fmt::Debug>(result: &Result<T, StoreError>, context: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid { .. })),
        "{context}: expected StoreError::Invalid, got {result:?}"
    );
}

fn assert_no_value(shown: &str, values: &[&str], context: &str) {
    for value in values {
        assert!(
            !shown.contains(value),
            "{context}: a token value is shown: {shown}"
        );
    }
}

/// The record of `address`, which must exist.
///
/// # Panics
///
/// When the read fails or finds nothing.
pub async fn read_existing<S: Store>(store: &S, address: &TokenAddress) -> Versioned<TokenRecord> {
    store
        .read_token(address)
        .await
        .expect("read a token")
        .expect("the token exists")
}

/// Creates the record of `address`, which must not exist; its version.
///
/// # Panics
///
/// When the write fails.
pub async fn create<S: Store>(store: &S, address: &TokenAddress, record: &TokenRecord) -> Version {
    store
        .write_token(address, record, None)
        .await
        .expect("create a token")
}

/// The lease the store holds must be `expected`.
async fn assert_lease<S: Store>(store: &S, expected: Option<&LeaseInfo>, context: &str) {
    let held = store.read_lease().await.expect("read the lease");
    assert_eq!(held.as_ref(), expected, "{context}");
}

/// `lease` must no longer renew: it was released, taken over or broken.
async fn assert_lease_lost<S: Store>(store: &S, lease: &Lease, context: &str) {
    let renewed = store.renew_lease(lease, at(NOW + 9_999)).await;
    assert!(
        matches!(renewed, Err(StoreError::LeaseLost)),
        "{context}: expected LeaseLost, got {renewed:?}"
    );
}
