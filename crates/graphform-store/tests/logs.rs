//! No token value or key in any log line, at trace level.
//!
//! A test binary of its own: `tracing` caches per call site whether anyone
//! listens, and another test hitting the same call sites concurrently
//! without a subscriber can make this one miss events.

use graphform_store::{FileStore, Store, generate_identity};
use graphform_testkit::logs::Capture;
use graphform_testkit::store::{assert_exercise_logged, exercise, run_captured};

#[test]
fn logs_at_trace_level_hold_addresses_and_fingerprints_never_values() {
    let capture = Capture::new();
    let root = tempfile::tempdir().unwrap();
    let (key, _) = generate_identity();
    let (wrong_key, _) = generate_identity();
    let current = "EAAGcurrentTOKENvalue0123456789";
    let previous = "EAAGpreviousTOKENvalue9876543210";
    run_captured(&capture, async {
        let dir = root.path().join("store");
        let store = FileStore::init(&dir, &key).unwrap();
        let other = exercise(&store, current, previous).await;
        // Errors are not logged by the store, but try the paths anyway.
        let _ = FileStore::with_identity(&dir, &wrong_key);
        std::fs::remove_file(dir.join("store.json")).unwrap();
        let wrong = FileStore::with_identity(&dir, &wrong_key).unwrap();
        let _ = wrong.read_token(&other).await;
    });
    assert_exercise_logged(&capture, current, previous);
    capture.assert_contains(&["file store initialized"]);
    capture.assert_free_of(&[&key.expose()[16..], &wrong_key.expose()[16..]]);
}
