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

use std::sync::LazyLock;

use graphform_store::conformance::{
    NOW, at, lease_request, sample_record, sample_rotated_record, token,
};
use graphform_store::{
    AwsCredentials, AwsSecretsManagerStore, Secret, Store, StoreError, TokenAddress, TokenRecord,
};
use graphform_testkit::logs::Capture;
use graphform_testkit::moto::{Moto, SECRET_ACCESS_KEY};

static ADDRESS: LazyLock<TokenAddress> =
    LazyLock::new(|| token("acme/ci-reporting/token/insights-read"));

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    capture.scoped(|| {
        runtime.block_on(exercise(&store, &mut moto, [current, previous, third]));
    });
    capture.assert_contains(&[
        "token written",
        "token read",
        "token deleted",
        "state document written",
        "lease acquired",
        "taking over an expired lease",
        "taking over the lease of a holder that is gone",
        "lease renewed",
        "lease released",
        "lease broken",
        "secretsmanager call succeeded",
        "secretsmanager call failed",
        "secretsmanager call got no answer",
        "PutSecretValue",
        "UpdateSecretVersionStage",
        &ADDRESS.to_string(),
        Secret::new(current).fingerprint().as_str(),
        Secret::new(third).fingerprint().as_str(),
    ]);
    capture.assert_free_of(&[
        current,
        previous,
        third,
        SECRET_ACCESS_KEY,
        session_token,
        "AKIDMOTOTEST",
    ]);
}

/// Every operation, successes and failures, ending with the server gone.
async fn exercise(store: &AwsSecretsManagerStore, moto: &mut Moto, values: [&str; 3]) {
    let [current, previous, third] = values;
    // Create mid-rotation (AWSPREVIOUS mirror), rotate, revoke.
    let rotated = sample_rotated_record(&ADDRESS, current, previous, NOW + 60);
    let v1 = store.write_token(&ADDRESS, &rotated, None).await.unwrap();
    let mut next = sample_rotated_record(&ADDRESS, third, current, NOW + 120);
    next.current.metadata.issued_at = at(NOW + 1);
    let v2 = store.write_token(&ADDRESS, &next, Some(&v1)).await.unwrap();
    let revoked = TokenRecord {
        current: next.current.clone(),
        previous: None,
    };
    let v3 = store
        .write_token(&ADDRESS, &revoked, Some(&v2))
        .await
        .unwrap();
    // A conflict, and the failed calls behind it.
    let conflict = store.write_token(&ADDRESS, &rotated, Some(&v1)).await;
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })));
    let conflict = store.write_token(&ADDRESS, &rotated, None).await;
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })));
    let other = &token("acme/x/token/y");
    store
        .write_token(other, &sample_record(other, current), None)
        .await
        .unwrap();
    store.read_token(&ADDRESS).await.unwrap().unwrap();
    store.list_tokens().await.unwrap();
    store.delete_token(&ADDRESS, &v3).await.unwrap();
    store.write_state(b"{}", None).await.unwrap();
    store.read_state().await.unwrap();
    let first = store
        .acquire_lease(&lease_request("first", NOW, 1))
        .await
        .unwrap();
    // An expired lease taken over is logged with its old holder.
    let second = store
        .acquire_lease(&lease_request("second", NOW + 200, 1))
        .await
        .unwrap();
    assert!(matches!(
        store.renew_lease(&first, at(NOW + 210)).await,
        Err(StoreError::LeaseLost)
    ));
    let second = store.renew_lease(&second, at(NOW + 230)).await.unwrap();
    store.release_lease(&second).await.unwrap();
    let third_lease = store
        .acquire_lease(&lease_request("third", NOW + 240, 1))
        .await
        .unwrap();
    // A lease taken over from a holder that is gone.
    store
        .take_over_lease(&third_lease.info, &lease_request("fourth", NOW + 250, 60))
        .await
        .unwrap();
    store.break_lease().await.unwrap();
    // And with the server gone: errors, retries.
    moto.stop();
    let _ = store.read_token(other).await;
    let _ = store
        .write_token(other, &sample_record(other, third), None)
        .await;
}
