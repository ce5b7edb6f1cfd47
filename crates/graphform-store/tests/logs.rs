//! No token value or key in any log line, at trace level.
//!
//! A test binary of its own: `tracing` caches per call site whether anyone
//! listens, and another test hitting the same call sites concurrently
//! without a subscriber can make this one miss events.

use std::sync::LazyLock;

use graphform_store::conformance::{
    NOW, lease_request, sample_record, sample_rotated_record, token,
};
use graphform_store::{FileStore, Secret, Store, TokenAddress, generate_identity};
use graphform_testkit::logs::Capture;

static ADDRESS: LazyLock<TokenAddress> =
    LazyLock::new(|| token("acme/ci-reporting/token/insights-read"));

#[test]
fn logs_at_trace_level_hold_addresses_and_fingerprints_never_values() {
    let capture = Capture::new();
    let root = tempfile::tempdir().unwrap();
    let (key, _) = generate_identity();
    let (wrong_key, _) = generate_identity();
    let current = "EAAGcurrentTOKENvalue0123456789";
    let previous = "EAAGpreviousTOKENvalue9876543210";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    capture.scoped(|| {
        runtime.block_on(async {
            let dir = root.path().join("store");
            let store = FileStore::init(&dir, &key).unwrap();
            let rotated = sample_rotated_record(&ADDRESS, current, previous, NOW + 60);
            let version = store.write_token(&ADDRESS, &rotated, None).await.unwrap();
            let other = &token("acme/x/token/y");
            store
                .write_token(other, &sample_record(other, current), None)
                .await
                .unwrap();
            store.read_token(&ADDRESS).await.unwrap().unwrap();
            store.list_tokens().await.unwrap();
            store.delete_token(&ADDRESS, &version).await.unwrap();
            store.write_state(b"{}", None).await.unwrap();
            store
                .acquire_lease(&lease_request("first", NOW, 1))
                .await
                .unwrap();
            // An expired lease taken over is logged with its old holder,
            // and so is a lease taken over from a holder that is gone.
            let second = store
                .acquire_lease(&lease_request("second", NOW + 200, 1))
                .await
                .unwrap();
            store
                .take_over_lease(&second.info, &lease_request("third", NOW + 210, 60))
                .await
                .unwrap();
            store.break_lease().await.unwrap();
            // Errors are not logged by the store, but try the paths anyway.
            let _ = FileStore::with_identity(&dir, &wrong_key);
            std::fs::remove_file(dir.join("store.json")).unwrap();
            let wrong = FileStore::with_identity(&dir, &wrong_key).unwrap();
            let _ = wrong.read_token(other).await;
        });
    });
    capture.assert_contains(&[
        "file store initialized",
        "token written",
        "token deleted",
        "state document written",
        "lease acquired",
        "taking over an expired lease",
        "taking over the lease of a holder that is gone",
        "lease broken",
        &ADDRESS.to_string(),
        Secret::new(current).fingerprint().as_str(),
        Secret::new(previous).fingerprint().as_str(),
    ]);
    capture.assert_free_of(&[
        current,
        previous,
        &key.expose()[16..],
        &wrong_key.expose()[16..],
    ]);
}
