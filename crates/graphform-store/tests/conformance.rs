//! The backend-independent conformance suite (`graphform_store::conformance`)
//! run against the file backend: one test per check, each on a store in its
//! own temporary directory (not created beforehand: the first write creates
//! it), plus `run_all` once.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use graphform_store::{FileStore, conformance, generate_identity};

/// A file store in a fresh temporary directory, removed when dropped.
struct Fixture {
    _dir: tempfile::TempDir,
    store: FileStore,
}

fn fresh() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = generate_identity();
    let store = FileStore::with_identity(dir.path().join("store"), &key).unwrap();
    Fixture { _dir: dir, store }
}

macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture = fresh();
                conformance::$check(&fixture.store).await;
            }
        )*

        #[test]
        fn every_check_has_a_test() {
            assert_eq!([$(stringify!($check)),*].as_slice(), conformance::CHECKS);
        }
    };
}

checks!(
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
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes() {
    let root = tempfile::tempdir().unwrap();
    let (key, _) = generate_identity();
    let next = AtomicUsize::new(0);
    conformance::run_all(|| {
        let index = next.fetch_add(1, Ordering::Relaxed);
        FileStore::with_identity(root.path().join(format!("store-{index}")), &key).unwrap()
    })
    .await;
    assert_eq!(next.load(Ordering::Relaxed), conformance::CHECKS.len());
}
