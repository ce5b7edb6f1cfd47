//! The backend-independent conformance suite (`graphform_store::conformance`)
//! run against the file backend: one test per check, each on a store in its
//! own temporary directory (not created beforehand: the first write creates
//! it), plus `run_all` once.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

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

graphform_store::conformance_tests! {
    fixture: fixture = fresh(),
    store: fixture.store,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes() {
    let root = tempfile::tempdir().unwrap();
    let (key, _) = generate_identity();
    conformance::run_all_numbered(|index| {
        FileStore::with_identity(root.path().join(format!("store-{index}")), &key).unwrap()
    })
    .await;
}
