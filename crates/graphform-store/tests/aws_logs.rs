//! No token value or credential in any log line of the
//! `aws-secrets-manager` backend, at trace level, over a full run against
//! moto.
//!
//! A test binary of its own: `tracing` caches per call site whether anyone
//! listens, and another test hitting the same call sites concurrently
//! without a subscriber can make this one miss events.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

use graphform_store::conformance::{NOW, at, sample_record, sample_rotated_record, token};
use graphform_store::{
    AwsCredentials, AwsSecretsManagerStore, Secret, Store, StoreError, TokenRecord,
};
use graphform_testkit::logs::Capture;
use graphform_testkit::moto::{Moto, SECRET_ACCESS_KEY};
use graphform_testkit::store::{ADDRESS, assert_exercise_logged, exercise, run_captured};

#[test]
fn logs_at_trace_level_hold_names_and_fingerprints_never_values() {
    let capture = Capture::new();
    let mut moto = Moto::start();
    let session_token = "FwoGZXIvYXdzSESSIONtokenVALUE0123456789";
    let credentials = AwsCredentials::new(
        "AKIDMOTOTEST",
        Secret::new(SECRET_ACCESS_KEY),
        Some(Secret::new(session_token)),
    );
    let store = AwsSecretsManagerStore::new(&moto.config("graphform"), credentials).unwrap();
    let current = "EAAGcurrentTOKENvalue0123456789";
    let previous = "EAAGpreviousTOKENvalue9876543210";
    let third = "EAAGthirdTOKENvalue5555555555";
    run_captured(&capture, async {
        let other = exercise(&store, current, previous).await;
        rotate(&store, [current, previous, third]).await;
        // And with the server gone: errors, retries.
        moto.stop();
        let _ = store.read_token(&other).await;
        let _ = store
            .write_token(&other, &sample_record(&other, third), None)
            .await;
    });
    assert_exercise_logged(&capture, current, previous);
    capture.assert_contains(&[
        "token read",
        "secretsmanager call succeeded",
        "secretsmanager call failed",
        "secretsmanager call got no answer",
        "PutSecretValue",
        "UpdateSecretVersionStage",
        Secret::new(third).fingerprint().as_str(),
    ]);
    capture.assert_free_of(&[third, SECRET_ACCESS_KEY, session_token, "AKIDMOTOTEST"]);
}

/// A token created mid-rotation (the `AWSPREVIOUS` mirror), rotated and
/// revoked, and a write with a stale version refused.
async fn rotate(store: &AwsSecretsManagerStore, values: [&str; 3]) {
    let [current, previous, third] = values;
    let address = &token(ADDRESS);
    let rotated = sample_rotated_record(address, current, previous, NOW + 60);
    let v1 = store.write_token(address, &rotated, None).await.unwrap();
    let mut next = sample_rotated_record(address, third, current, NOW + 120);
    next.current.metadata.issued_at = at(NOW + 1);
    let v2 = store.write_token(address, &next, Some(&v1)).await.unwrap();
    let revoked = TokenRecord {
        current: next.current.clone(),
        previous: None,
    };
    store
        .write_token(address, &revoked, Some(&v2))
        .await
        .unwrap();
    let conflict = store.write_token(address, &rotated, Some(&v1)).await;
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })));
}
