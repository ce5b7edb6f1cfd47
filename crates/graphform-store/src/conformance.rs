//! The conformance suite: what every [`Store`] backend must do, as checks
//! that run against any of them (issue 7: file, vault and
//! aws-secrets-manager all pass the same suite).
//!
//! Each check takes a fresh, empty store and panics (with a message naming
//! what broke) on the first deviation; they are test code. [`run_all`] runs
//! every check, each on its own store from `make()`; a backend's tests may
//! instead call the checks one by one, one `#[test]` each, to see failures
//! separately. Checks that race use several concurrent operations on the
//! one store handle; they need a runtime whose blocking or I/O work really
//! runs in parallel to prove anything (tokio's multi-thread runtime).
//!
//! Time is injected: the checks use [`NOW`] and offsets from it.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::{
    ExpiryMode, LEASE_CLOCK_SKEW_SECONDS, Lease, LeaseInfo, PreviousToken, Secret, Store,
    StoreError, StoredToken, Timestamp, TokenAddress, TokenMetadata, TokenRecord, Version,
    Versioned,
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
            lease_lifecycle,
            large_and_odd_values,
            racing_writers_one_wins,
            no_lost_updates,
            racing_lease_one_wins,
            lease_take_over,
            racing_take_over_one_wins,
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

// ---------------------------------------------------------------------------
// The checks.

/// A new store holds nothing, and reading it changes nothing.
pub async fn empty_store_reads_as_empty<S: Store>(store: &S) {
    assert!(!store.describe().is_empty(), "describe() says something");
    let token = store
        .read_token(&token("acme/ci/token/read"))
        .await
        .expect("read a missing token");
    assert!(token.is_none(), "a missing token reads as None");
    assert_eq!(
        store.list_tokens().await.expect("list"),
        Vec::<TokenAddress>::new()
    );
    assert!(store.read_state().await.expect("read state").is_none());
    assert!(store.read_lease().await.expect("read lease").is_none());
    assert!(store.break_lease().await.expect("break no lease").is_none());
}

/// A record with a previous token and its `revoke_after` reads back equal,
/// with the version the write returned; nothing shows a value.
pub async fn token_round_trip<S: Store>(store: &S) {
    let rotated_address = &token("acme/ci-reporting/token/insights-read");
    let rotated = sample_rotated_record(
        rotated_address,
        "EAAcurrent0001",
        "EAAprevious0001",
        NOW + 86_400,
    );
    let version = store
        .write_token(rotated_address, &rotated, None)
        .await
        .expect("create a rotated record");
    let read = store
        .read_token(rotated_address)
        .await
        .expect("read it back")
        .expect("it exists");
    assert_eq!(
        read,
        Versioned {
            value: rotated.clone(),
            version: version.clone()
        }
    );
    let previous = read.value.previous.as_ref().expect("previous kept");
    assert_eq!(previous.revoke_after, at(NOW + 86_400));
    assert_eq!(previous.token.value.expose(), "EAAprevious0001");

    let plain_address = &token("acme/ci-reporting/token/ads-write");
    let plain = sample_record(plain_address, "EAAplain0001");
    let plain_version = store
        .write_token(plain_address, &plain, None)
        .await
        .expect("create");
    assert_ne!(plain_version, version, "two objects' versions differ");
    let read_plain = store
        .read_token(plain_address)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read_plain.value, plain);
    assert!(read_plain.value.previous.is_none());

    let conflict = store
        .write_token(rotated_address, &rotated, None)
        .await
        .expect_err("create-only on an existing record");
    let shown = format!("{read:?} {read:#?} {read_plain:?} {conflict} {conflict:?}");
    assert_no_value(
        &shown,
        &["EAAcurrent0001", "EAAprevious0001", "EAAplain0001"],
        "Debug and errors",
    );
}

/// Writing with the version read replaces the record, with a new version:
/// a rotation (previous added), then the revocation (previous dropped).
pub async fn token_update_replaces_record<S: Store>(store: &S) {
    let address = &token("acme/ci/token/read");
    let first = sample_record(address, "EAAfirst");
    let v1 = store
        .write_token(address, &first, None)
        .await
        .expect("create");

    let rotated = TokenRecord {
        current: sample_token(address, "EAAsecond", NOW + 100),
        previous: Some(PreviousToken {
            token: first.current.clone(),
            revoke_after: at(NOW + 3_600),
        }),
    };
    let v2 = store
        .write_token(address, &rotated, Some(&v1))
        .await
        .expect("rotate");
    assert_ne!(v2, v1, "a write changes the version");
    let read = store
        .read_token(address)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        read,
        Versioned {
            value: rotated.clone(),
            version: v2.clone()
        }
    );

    let revoked = TokenRecord {
        current: rotated.current.clone(),
        previous: None,
    };
    let v3 = store
        .write_token(address, &revoked, Some(&v2))
        .await
        .expect("drop previous");
    assert!(v3 != v1 && v3 != v2, "versions are never reused");
    let read = store
        .read_token(address)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        read,
        Versioned {
            value: revoked,
            version: v3
        }
    );
}

/// `list_tokens` returns every address in [`TokenAddress`]'s order (a
/// tree: a system user's tokens before those of a system user whose name
/// it is a prefix of, which is not the order of the text), including a
/// name next to one it is a prefix of; deleted ones disappear.
pub async fn list_tokens_sorted<S: Store>(store: &S) {
    let addresses = [
        "zeta/su/token/a",
        "acme/ci/token/b",
        "acme/ci/token/a",
        "acme/ci-reporting/token/a",
        "acme/ci/token/a-b",
        "acme/ci2/token/x",
        "acme/c/token/z",
        "0/1/token/7",
        "acme/ci-reporting/token/0",
    ];
    for (index, address) in addresses.iter().enumerate() {
        let address = &token(address);
        store
            .write_token(
                address,
                &sample_record(address, &format!("EAAlist{index}")),
                None,
            )
            .await
            .expect("create");
    }
    let mut sorted: Vec<TokenAddress> = [
        "0/1/token/7",
        "acme/c/token/z",
        "acme/ci/token/a",
        "acme/ci/token/a-b",
        "acme/ci/token/b",
        "acme/ci-reporting/token/0",
        "acme/ci-reporting/token/a",
        "acme/ci2/token/x",
        "zeta/su/token/a",
    ]
    .map(token)
    .into();
    assert_eq!(store.list_tokens().await.expect("list"), sorted);

    for doomed in ["acme/ci/token/a", "0/1/token/7"].map(token) {
        let version = store
            .read_token(&doomed)
            .await
            .expect("read")
            .expect("exists")
            .version;
        store.delete_token(&doomed, &version).await.expect("delete");
        sorted.retain(|address| *address != doomed);
        assert_eq!(
            store.list_tokens().await.expect("list after delete"),
            sorted
        );
    }
}

/// Compare-and-set: stale versions, create-only on an existing record,
/// updates and deletes of a missing one, and a record deleted and created
/// again never accepting a version of its earlier life.
pub async fn token_conflicts<S: Store>(store: &S) {
    let address = &token("acme/ci/token/read");
    let record = sample_record(address, "EAAconflict1");
    let v1 = store
        .write_token(address, &record, None)
        .await
        .expect("create");

    let result = store.write_token(address, &record, None).await;
    assert_conflict(result, None, Some(&v1), "create-only on an existing record");

    let updated = sample_record(address, "EAAconflict2");
    let v2 = store
        .write_token(address, &updated, Some(&v1))
        .await
        .expect("update");

    let stale = sample_record(address, "EAAconflict3");
    let result = store.write_token(address, &stale, Some(&v1)).await;
    assert_conflict(result, Some(&v1), Some(&v2), "write with a stale version");
    let result = store.delete_token(address, &v1).await;
    assert_conflict(result, Some(&v1), Some(&v2), "delete with a stale version");
    let read = store
        .read_token(address)
        .await
        .expect("read")
        .expect("still there");
    assert_eq!(
        read,
        Versioned {
            value: updated,
            version: v2.clone()
        },
        "a refused write changes nothing"
    );

    let missing = &token("acme/ci/token/missing");
    let result = store
        .write_token(missing, &sample_record(missing, "EAAx"), Some(&v2))
        .await;
    assert_conflict(result, Some(&v2), None, "update of a missing record");
    let result = store.delete_token(missing, &v2).await;
    assert_conflict(result, Some(&v2), None, "delete of a missing record");
    assert!(
        store.read_token(missing).await.expect("read").is_none(),
        "a refused write creates nothing"
    );

    store.delete_token(address, &v2).await.expect("delete");
    assert!(
        store.read_token(address).await.expect("read").is_none(),
        "deleted"
    );
    let result = store.delete_token(address, &v2).await;
    assert_conflict(result, Some(&v2), None, "delete twice");
    let result = store.write_token(address, &record, Some(&v2)).await;
    assert_conflict(result, Some(&v2), None, "update after delete");

    let v3 = store
        .write_token(address, &record, None)
        .await
        .expect("create again");
    assert!(
        v3 != v1 && v3 != v2,
        "a re-created record has a version never seen before"
    );
    for old in [&v1, &v2] {
        let result = store.write_token(address, &record, Some(old)).await;
        assert_conflict(
            result,
            Some(old),
            Some(&v3),
            "a version from the record's earlier life",
        );
    }
    let result = store
        .write_token(
            address,
            &record,
            Some(&Version("no-such-version".to_owned())),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "a made-up version: {result:?}"
    );
}

/// Records contradicting their address and state documents that are not
/// JSON are refused, and nothing is written. (An address outside the
/// syntax cannot be given: a [`TokenAddress`] is parsed.)
pub async fn invalid_input_rejected<S: Store>(store: &S) {
    let address = &token("acme/ci/token/read");
    let elsewhere = sample_record(&token("acme/ci/token/other"), "EAAinvalid");
    assert_invalid(
        &store.write_token(address, &elsewhere, None).await,
        "metadata naming another address",
    );
    let mut wrong_fingerprint = sample_record(address, "EAAinvalid");
    wrong_fingerprint.current.metadata.fingerprint = Secret::new("EAAother").fingerprint();
    assert_invalid(
        &store.write_token(address, &wrong_fingerprint, None).await,
        "a fingerprint not the value's",
    );
    let mut previous_elsewhere = sample_rotated_record(address, "EAAinvalid", "EAAinvalid0", NOW);
    if let Some(previous) = &mut previous_elsewhere.previous {
        previous.token.metadata.address = token("acme/ci/token/other");
    }
    assert_invalid(
        &store.write_token(address, &previous_elsewhere, None).await,
        "previous naming another address",
    );
    let mut previous_fingerprint = sample_rotated_record(address, "EAAinvalid", "EAAinvalid0", NOW);
    if let Some(previous) = &mut previous_fingerprint.previous {
        previous.token.metadata.fingerprint = Secret::new("EAAother").fingerprint();
    }
    assert_invalid(
        &store
            .write_token(address, &previous_fingerprint, None)
            .await,
        "previous fingerprint",
    );

    for document in [
        &b""[..],
        b"not json",
        b"{\"a\":",
        b" {}",
        b"{}\n",
        b"\xff\xfe",
        b"{} {}",
    ] {
        assert_invalid(
            &store.write_state(document, None).await,
            &format!("state document {document:?}"),
        );
    }

    assert_eq!(
        store.list_tokens().await.expect("list"),
        Vec::<TokenAddress>::new(),
        "nothing written"
    );
    assert!(
        store.read_state().await.expect("read state").is_none(),
        "no state written"
    );
}

/// The key [`foreign_entries_are_reported`] plants: an install's address,
/// where only token addresses belong.
pub const FOREIGN_KEY: &str = "acme/ci-reporting/app/reporting";

/// An entry where the backend keeps its tokens whose key is not a token
/// address (planted by `plant`, given [`FOREIGN_KEY`], the way a person or
/// another tool would: outside the [`Store`] API) makes `list_tokens` fail
/// with [`StoreError::ForeignEntry`] naming it, with a hint: it is never
/// skipped in silence. Tokens are still read and written by address.
///
/// Not in [`run_all`]: planting is particular to each backend, so each
/// backend's tests call this with their own `plant`.
pub async fn foreign_entries_are_reported<S: Store, F: Future<Output = ()>>(
    store: &S,
    plant: impl FnOnce(&'static str) -> F,
) {
    let address = &token("acme/ci-reporting/token/insights-read");
    let record = sample_record(address, "EAAforeign1");
    let version = store
        .write_token(address, &record, None)
        .await
        .expect("create");
    plant(FOREIGN_KEY).await;

    let error = store
        .list_tokens()
        .await
        .expect_err("a foreign entry is reported");
    match &error {
        StoreError::ForeignEntry {
            key,
            location,
            reason,
        } => {
            assert_eq!(key, FOREIGN_KEY, "ForeignEntry names the key");
            assert!(!location.is_empty() && !reason.is_empty(), "{error:?}");
        }
        other => panic!("expected StoreError::ForeignEntry, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains(FOREIGN_KEY), "{message}");
    assert!(
        error
            .hint()
            .is_some_and(|hint| hint.contains("business/system-user/token/name")),
        "{:?}",
        error.hint()
    );
    assert_no_value(
        &format!("{message} {error:?}"),
        &["EAAforeign1"],
        "ForeignEntry",
    );

    let read = store
        .read_token(address)
        .await
        .expect("a token is still read by address")
        .expect("exists");
    assert_eq!(
        read,
        Versioned {
            value: record,
            version
        }
    );
    store
        .write_token(
            address,
            &sample_record(address, "EAAforeign2"),
            Some(&read.version),
        )
        .await
        .expect("and written");
}

/// The state document reads back byte for byte, with compare-and-set like
/// tokens, and its versions are independent of the tokens'.
pub async fn state_document_round_trip<S: Store>(store: &S) {
    let first = br#"{"businesses":{"acme":{"id":"100000000000001"}},"journal":[]}"#;
    let v1 = store
        .write_state(first, None)
        .await
        .expect("create the state");
    let read = store.read_state().await.expect("read").expect("exists");
    assert_eq!(
        read,
        Versioned {
            value: first.to_vec(),
            version: v1.clone()
        }
    );

    let odd = concat!(
        "{\n",
        "  \"name\": \"名前 \\\"quoted\\\" \\\\ \\u0000\",\n",
        "  \"n\": 1.50e3,\n",
        "  \"list\": [ 1 , 2 ]\n",
        "}"
    );
    let v2 = store
        .write_state(odd.as_bytes(), Some(&v1))
        .await
        .expect("update");
    let read = store.read_state().await.expect("read").expect("exists");
    assert_eq!(
        String::from_utf8_lossy(&read.value),
        odd,
        "byte for byte, whitespace inside kept"
    );
    assert_eq!(read.version, v2);

    let result = store.write_state(first, Some(&v1)).await;
    assert_conflict(
        result,
        Some(&v1),
        Some(&v2),
        "state write with a stale version",
    );
    let result = store.write_state(first, None).await;
    assert_conflict(result, None, Some(&v2), "state create-only when it exists");

    // A token write does not move the state's version.
    let address = &token("acme/ci/token/read");
    store
        .write_token(address, &sample_record(address, "EAAstate"), None)
        .await
        .expect("token");

    let entries: Vec<String> = (0..4_000)
        .map(|index| format!("{{\"entry\":{index},\"note\":\"journal line {index}\"}}"))
        .collect();
    let large = format!("{{\"journal\":[{}]}}", entries.join(","));
    assert!(large.len() > 100_000);
    let v3 = store
        .write_state(large.as_bytes(), Some(&v2))
        .await
        .expect("a large document");
    let read = store.read_state().await.expect("read").expect("exists");
    assert!(
        read.value == large.as_bytes(),
        "a large document reads back equal"
    );
    assert_eq!(read.version, v3);
}

/// The lease: exclusive until it expires and [`LEASE_CLOCK_SKEW_SECONDS`]
/// more (a holder is refused with [`StoreError::Locked`] naming the
/// current one, with its times in UTC), renewable, taken over once expired
/// by that margin (the old holder then gets [`StoreError::LeaseLost`]),
/// released, and broken explicitly.
#[expect(
    clippy::too_many_lines,
    reason = "one lease's whole life, read top to bottom"
)]
pub async fn lease_lifecycle<S: Store>(store: &S) {
    let a = lease_request("graphform apply (job 1)", NOW, 300);
    let lease_a = store.acquire_lease(&a).await.expect("acquire a free lease");
    assert_eq!(lease_a.info, a);
    assert_eq!(store.read_lease().await.expect("read").as_ref(), Some(&a));

    for moment in [
        NOW,
        NOW + 10,
        NOW + 300,
        NOW + 301,
        NOW + 300 + LEASE_CLOCK_SKEW_SECONDS - 1,
    ] {
        let b = lease_request("graphform apply (job 2)", moment, 300);
        match store.acquire_lease(&b).await {
            Err(StoreError::Locked(holder)) => {
                assert_eq!(holder, a, "Locked names the current holder");
                let message = StoreError::Locked(holder).to_string();
                assert_eq!(
                    message,
                    "the store is locked by graphform apply (job 1) (pid 4242 on host \
                     ci-runner-1) since 2026-01-01 00:00:00 UTC, lease expires 2026-01-01 \
                     00:05:00 UTC"
                );
            }
            other => panic!("a held lease must be refused at {moment}: {other:?}"),
        }
    }

    let renewed_until = at(NOW + 600);
    let lease_a = store
        .renew_lease(&lease_a, renewed_until)
        .await
        .expect("renew");
    assert_eq!(lease_a.info.expires_at, renewed_until);
    assert_eq!(lease_a.info.holder, a.holder);
    let read = store.read_lease().await.expect("read").expect("held");
    assert_eq!(read.expires_at, renewed_until, "renewal is stored");
    for moment in [NOW + 500, NOW + 600 + LEASE_CLOCK_SKEW_SECONDS - 1] {
        let b = lease_request("graphform apply (job 2)", moment, 300);
        assert!(
            matches!(store.acquire_lease(&b).await, Err(StoreError::Locked(_))),
            "renewal honoured at {moment}"
        );
    }

    let b = lease_request(
        "graphform apply (job 2)",
        NOW + 600 + LEASE_CLOCK_SKEW_SECONDS,
        300,
    );
    let lease_b = store
        .acquire_lease(&b)
        .await
        .expect("take over a lease expired by the clock-skew margin");
    assert_eq!(store.read_lease().await.expect("read").as_ref(), Some(&b));
    assert!(
        matches!(
            store.renew_lease(&lease_a, at(NOW + 900)).await,
            Err(StoreError::LeaseLost)
        ),
        "the old holder lost it"
    );
    store
        .release_lease(&lease_a)
        .await
        .expect("releasing a lost lease is no error");
    assert_eq!(
        store.read_lease().await.expect("read").as_ref(),
        Some(&b),
        "and does not free the new holder's"
    );

    store.release_lease(&lease_b).await.expect("release");
    assert!(
        store.read_lease().await.expect("read").is_none(),
        "released"
    );
    store.release_lease(&lease_b).await.expect("release twice");
    assert!(matches!(
        store.renew_lease(&lease_b, at(NOW + 900)).await,
        Err(StoreError::LeaseLost)
    ));

    let c = lease_request("graphform apply (crashed)", NOW + 1_000, 3_600);
    let lease_c: Lease = store
        .acquire_lease(&c)
        .await
        .expect("acquire after release");
    assert_eq!(
        store.break_lease().await.expect("break"),
        Some(c),
        "break returns what it removed"
    );
    assert!(store.read_lease().await.expect("read").is_none(), "broken");
    assert_eq!(store.break_lease().await.expect("break again"), None);
    assert!(matches!(
        store.renew_lease(&lease_c, at(NOW + 1_100)).await,
        Err(StoreError::LeaseLost)
    ));
    store
        .release_lease(&lease_c)
        .await
        .expect("release a broken lease");

    let d = lease_request("graphform apply (job 3)", NOW + 1_100, 300);
    let lease_d = store.acquire_lease(&d).await.expect("acquire after break");
    assert_ne!(lease_d.version, lease_c.version);
    store.release_lease(&lease_d).await.expect("release");
}

fn assert_locked_by<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    holder: &LeaseInfo,
    context: &str,
) {
    match result {
        Err(StoreError::Locked(current)) => {
            assert_eq!(&current, holder, "{context}: Locked names the holder");
        }
        other => panic!("{context}: expected Locked, got {other:?}"),
    }
}

/// `stale` with one field changed, each way (the last: `before_renewal`,
/// differing in `expires_at`).
fn other_leases(stale: &LeaseInfo, before_renewal: &LeaseInfo) -> [(&'static str, LeaseInfo); 5] {
    [
        (
            "holder",
            LeaseInfo {
                holder: "graphform apply (other)".to_owned(),
                ..stale.clone()
            },
        ),
        (
            "pid",
            LeaseInfo {
                pid: stale.pid + 1,
                ..stale.clone()
            },
        ),
        (
            "host",
            LeaseInfo {
                host: "ci-runner-2".to_owned(),
                ..stale.clone()
            },
        ),
        (
            "acquired_at",
            LeaseInfo {
                acquired_at: at(stale.acquired_at.unix() + 1),
                ..stale.clone()
            },
        ),
        ("expires_at (before the renewal)", before_renewal.clone()),
    ]
}

/// For [`lease_take_over`]: a lease acquired and renewed twice (renewing
/// keeps it ours; the [`Lease`] before a renewal no longer renews). The
/// lease as first acquired, and as renewed.
async fn acquire_and_renew<S: Store>(store: &S) -> (LeaseInfo, Lease) {
    let first = lease_request("graphform apply (killed)", NOW, 3_600);
    let lease_first = store.acquire_lease(&first).await.expect("acquire");
    let renewed = store
        .renew_lease(&lease_first, at(NOW + 7_200))
        .await
        .expect("renew keeps it ours");
    assert_eq!(
        renewed.info,
        LeaseInfo {
            expires_at: at(NOW + 7_200),
            ..first.clone()
        }
    );
    assert_eq!(
        store.read_lease().await.expect("read").as_ref(),
        Some(&renewed.info)
    );
    assert!(
        matches!(
            store.renew_lease(&lease_first, at(NOW + 9_000)).await,
            Err(StoreError::LeaseLost)
        ),
        "the lease before a renewal no longer renews"
    );
    let renewed = store
        .renew_lease(&renewed, at(NOW + 7_300))
        .await
        .expect("the renewed lease renews again");
    (first, renewed)
}

/// [`Store::take_over_lease`]: a lease whose holder is gone is taken over
/// though it has not expired, only if it is exactly the one named (any
/// field differing, e.g. after a renewal, is [`StoreError::Locked`] and
/// changes nothing); the former holder then gets
/// [`StoreError::LeaseLost`] and its release leaves the new holder's
/// lease alone; a free lease is taken as `acquire_lease` would. Renewing
/// keeps a lease ours, and a renewed lease's earlier [`Lease`] no longer
/// renews it.
pub async fn lease_take_over<S: Store>(store: &S) {
    let (first, renewed) = acquire_and_renew(store).await;
    let stale = renewed.info.clone();

    // Not exactly the stored lease: refused, whichever field differs.
    let next = lease_request("graphform apply (next)", NOW + 60, 3_600);
    let wrong = other_leases(&stale, &first);
    for (field, other) in &wrong {
        assert_locked_by(
            store.take_over_lease(other, &next).await,
            &stale,
            &format!("a take-over naming another {field}"),
        );
    }
    assert_eq!(
        store.read_lease().await.expect("read").as_ref(),
        Some(&stale),
        "a refused take-over changes nothing"
    );

    // The exact lease: taken over, though it has not expired.
    let lease_next = store
        .take_over_lease(&stale, &next)
        .await
        .expect("take over the exact stale lease");
    assert_eq!(lease_next.info, next);
    assert_ne!(lease_next.version, renewed.version);
    assert_eq!(
        store.read_lease().await.expect("read").as_ref(),
        Some(&next)
    );
    assert!(
        matches!(
            store.renew_lease(&renewed, at(NOW + 9_000)).await,
            Err(StoreError::LeaseLost)
        ),
        "renewing after a take-over: the former holder lost it"
    );
    store
        .release_lease(&renewed)
        .await
        .expect("releasing a lease taken over is no error");
    assert_eq!(
        store.read_lease().await.expect("read").as_ref(),
        Some(&next),
        "and leaves the new holder's lease alone"
    );

    // The same take-over again, and an acquire: the new holder has it.
    let third = lease_request("graphform apply (third)", NOW + 120, 600);
    assert_locked_by(
        store.take_over_lease(&stale, &third).await,
        &next,
        "a second take-over of the same stale lease",
    );
    assert_locked_by(
        store.acquire_lease(&third).await,
        &next,
        "an acquire after a take-over",
    );
    let lease_next = store
        .renew_lease(&lease_next, at(NOW + 3_700))
        .await
        .expect("the new holder renews");

    // A free lease (released, or broken) is taken as acquire would.
    store.release_lease(&lease_next).await.expect("release");
    let lease_third = store
        .take_over_lease(&lease_next.info, &third)
        .await
        .expect("a free lease is taken");
    assert_eq!(lease_third.info, third);
    assert_eq!(
        store.read_lease().await.expect("read").as_ref(),
        Some(&third)
    );
    store.break_lease().await.expect("break");
    let fourth = lease_request("graphform apply (fourth)", NOW + 180, 600);
    let lease_fourth = store
        .take_over_lease(&third, &fourth)
        .await
        .expect("a broken lease is free");
    assert!(matches!(
        store.renew_lease(&lease_third, at(NOW + 900)).await,
        Err(StoreError::LeaseLost)
    ));
    store.release_lease(&lease_fourth).await.expect("release");
    assert!(store.read_lease().await.expect("read").is_none());
}

/// Long tokens, tokens with every printable ASCII character (quotes,
/// backslashes, slashes, braces), control characters and non-ASCII text,
/// and many scopes survive the round trip.
pub async fn large_and_odd_values<S: Store>(store: &S) {
    let long: String = "EAA"
        .chars()
        .chain((0..4_093).map(|index| {
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            char::from(alphabet[index % alphabet.len()])
        }))
        .collect();
    assert_eq!(long.len(), 4_096);
    let printable: String = (0x20_u8..=0x7e).map(char::from).collect();
    let odd_values = [
        long.clone(),
        printable.clone(),
        format!("{printable}{printable}"),
        "line one\nline two\ttab\r\u{7f}".to_owned(),
        "ünïcödé 🔑 トークン".to_owned(),
        "x".to_owned(),
    ];
    for (index, value) in odd_values.iter().enumerate() {
        let address = &token(&format!("odd/values/token/v{index}"));
        let mut record = sample_rotated_record(address, value, &printable, NOW + 60);
        record.current.metadata.scopes = (0..60).map(|scope| format!("scope_{scope:02}")).collect();
        record.current.metadata.app_id = "9".repeat(40);
        let version = store
            .write_token(address, &record, None)
            .await
            .expect("write an odd value");
        let read = store
            .read_token(address)
            .await
            .expect("read")
            .expect("exists");
        assert!(read.value == record, "value {index} reads back equal");
        assert_eq!(read.version, version);
        assert_eq!(read.value.current.value.expose(), value.as_str());
    }
    assert_eq!(
        store.list_tokens().await.expect("list").len(),
        odd_values.len()
    );
}

/// [`RACERS`] writers race with the same expected version: exactly one
/// wins each round (create, update, delete), the others get a conflict, and
/// the record is the winner's.
pub async fn racing_writers_one_wins<S: Store>(store: &S) {
    let address = &token("race/writers/token/one");

    let creates = (0..RACERS).map(|racer| {
        let record = sample_record(address, &format!("EAArace-create-{racer}"));
        async move { store.write_token(address, &record, None).await }
    });
    let results = join_all(creates.collect()).await;
    let winner = exactly_one_winner(&results, "racing creates");
    let read = store
        .read_token(address)
        .await
        .expect("read")
        .expect("created");
    assert_eq!(
        read.value.current.value.expose(),
        format!("EAArace-create-{winner}")
    );
    assert_eq!(Some(&read.version), results[winner].as_ref().ok());

    let base = read.version;
    let updates = (0..RACERS).map(|racer| {
        let record = sample_record(address, &format!("EAArace-update-{racer}"));
        let base = base.clone();
        async move { store.write_token(address, &record, Some(&base)).await }
    });
    let results = join_all(updates.collect()).await;
    let winner = exactly_one_winner(&results, "racing updates");
    let read = store
        .read_token(address)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        read.value.current.value.expose(),
        format!("EAArace-update-{winner}")
    );

    let base = read.version;
    let deletes = (0..RACERS).map(|_| {
        let base = base.clone();
        async move { store.delete_token(address, &base).await }
    });
    let results = join_all(deletes.collect()).await;
    exactly_one_winner(&results, "racing deletes");
    assert!(store.read_token(address).await.expect("read").is_none());
}

fn exactly_one_winner<T: std::fmt::Debug>(
    results: &[Result<T, StoreError>],
    context: &str,
) -> usize {
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter_map(|(index, result)| result.is_ok().then_some(index))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{context}: exactly one must win: {results:?}"
    );
    for result in results {
        assert!(
            matches!(result, Ok(_) | Err(StoreError::Conflict { .. })),
            "{context}: losers get a conflict: {result:?}"
        );
    }
    winners[0]
}

/// Four workers each add 1 to a counter (the record's `issued_at`) eight
/// times with read, modify, compare-and-set, retry: the counter ends at 32,
/// so no update was lost.
pub async fn no_lost_updates<S: Store>(store: &S) {
    const WORKERS: i64 = 4;
    const INCREMENTS: i64 = 8;
    let address = &token("race/counter/token/one");
    let mut record = sample_record(address, "EAAcounter");
    record.current.metadata.issued_at = at(0);
    store
        .write_token(address, &record, None)
        .await
        .expect("create the counter");

    let workers = (0..WORKERS).map(|_| async move {
        let mut conflicts = 0_u32;
        for _ in 0..INCREMENTS {
            loop {
                let read = store
                    .read_token(address)
                    .await
                    .expect("read")
                    .expect("exists");
                let mut record = read.value;
                record.current.metadata.issued_at =
                    at(record.current.metadata.issued_at.unix() + 1);
                match store
                    .write_token(address, &record, Some(&read.version))
                    .await
                {
                    Ok(_) => break,
                    Err(StoreError::Conflict { .. }) => {
                        conflicts += 1;
                        assert!(conflicts < 10_000, "no progress");
                    }
                    Err(other) => panic!("an increment failed: {other:?}"),
                }
            }
        }
        conflicts
    });
    join_all(workers.collect()).await;
    let read = store
        .read_token(address)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        read.value.current.metadata.issued_at.unix(),
        WORKERS * INCREMENTS,
        "no lost update"
    );
}

/// [`RACERS`] holders race for a free lease: exactly one gets it, every
/// other is refused with [`StoreError::Locked`] naming the winner.
pub async fn racing_lease_one_wins<S: Store>(store: &S) {
    let attempts = (0..RACERS).map(|racer| async move {
        let request = lease_request(&format!("racer {racer}"), NOW, 300);
        store.acquire_lease(&request).await
    });
    let results = join_all(attempts.collect()).await;
    let winners: Vec<&Lease> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one holder: {results:?}");
    let winner = &winners[0].info;
    for result in &results {
        match result {
            Ok(_) => {}
            Err(StoreError::Locked(holder)) => {
                assert_eq!(holder, winner, "Locked names the winner");
            }
            Err(other) => panic!("a losing racer gets Locked, not {other:?}"),
        }
    }
    assert_eq!(
        store.read_lease().await.expect("read").as_ref(),
        Some(winner)
    );
}

/// [`RACERS`] runs race to take over the same stale lease: exactly one
/// wins, every other is refused with [`StoreError::Locked`] naming the
/// winner, and the former holder's lease no longer renews.
pub async fn racing_take_over_one_wins<S: Store>(store: &S) {
    let stale = lease_request("graphform apply (killed)", NOW, 3_600);
    let lease_stale = store.acquire_lease(&stale).await.expect("acquire");
    let attempts = (0..RACERS).map(|racer| {
        let stale = &stale;
        async move {
            let request = lease_request(&format!("racer {racer}"), NOW + 60, 300);
            store.take_over_lease(stale, &request).await
        }
    });
    let results = join_all(attempts.collect()).await;
    let winners: Vec<&Lease> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one takes it over: {results:?}");
    let winner = &winners[0].info;
    for result in &results {
        match result {
            Ok(_) => {}
            Err(StoreError::Locked(holder)) => {
                assert_eq!(holder, winner, "Locked names the winner");
            }
            Err(other) => panic!("a losing racer gets Locked, not {other:?}"),
        }
    }
    assert_eq!(
        store.read_lease().await.expect("read").as_ref(),
        Some(winner)
    );
    assert!(matches!(
        store.renew_lease(&lease_stale, at(NOW + 7_200)).await,
        Err(StoreError::LeaseLost)
    ));
}
