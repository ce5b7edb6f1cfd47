//! Batches: sizes 1, 50 and 51, request counts for 1,000 `debug_token`s,
//! per-item failures, and `null` items retried.

use graphform_graph::{ErrorClass, Secret, UserToken};
use serde_json::json;

use crate::support::{
    ADMIN_SYSTEM_USER, CI_SYSTEM_USER, Harness, admin, ads_read, assert_failed, assert_validity,
    reporting,
};

/// Issues `n` tokens for `ci-reporting` (one request each), then sets the
/// counters to zero so that a test counts only what follows.
async fn issue_tokens(h: &Harness, n: usize) -> Vec<Secret> {
    let admin = admin();
    let request = ads_read();
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        tokens.push(
            h.client
                .issue_token(&admin, CI_SYSTEM_USER, &request)
                .await
                .expect("a token is issued"),
        );
    }
    h.reset_counters().await;
    tokens
}

#[tokio::test]
async fn batches_of_1_50_and_51_items() {
    let h = Harness::start().await;
    let tokens = issue_tokens(&h, 51).await;
    for (size, requests) in [(1, 1), (50, 1), (51, 2)] {
        h.reset_counters().await;
        let infos = h.client.debug_tokens(&reporting(), &tokens[..size]).await;
        assert_eq!(infos.len(), size);
        for info in &infos {
            let info = info.as_ref().unwrap();
            assert!(info.is_valid == Some(true));
            assert_eq!(info.user_id.as_deref(), Some(CI_SYSTEM_USER));
        }
        assert_eq!(h.emulator_http_requests().await, requests, "{size} items");
        let counters = h.emulator_counters().await;
        assert_eq!(
            counters["api_calls"],
            json!(size),
            "{size} items: {counters}"
        );
        assert_eq!(h.client.counters().http_requests, requests);
        assert_eq!(h.client.counters().api_calls, size as u64);
    }
    // An empty list makes no request.
    h.reset_counters().await;
    assert!(h.client.debug_tokens(&reporting(), &[]).await.is_empty());
    assert_eq!(h.emulator_http_requests().await, 0);
    h.shutdown().await;
}

#[tokio::test]
async fn debug_token_of_1000_tokens_takes_at_most_25_requests() {
    let h = Harness::start().await;
    let tokens = issue_tokens(&h, 1000).await;
    let infos = h.client.debug_tokens(&reporting(), &tokens).await;
    assert_eq!(infos.len(), 1000);
    assert_validity(&infos, true);
    // Results come back in input order.
    let one = h
        .client
        .debug_token(&reporting(), &tokens[999])
        .await
        .unwrap();
    assert_eq!(infos[999].as_ref().unwrap(), &one);
    let requests = h.emulator_http_requests().await - 1;
    assert!(requests <= 25, "{requests} requests");
    assert_eq!(requests, 20);
    h.shutdown().await;
}

#[tokio::test]
async fn batching_makes_fewer_requests_than_one_call_per_token() {
    let h = Harness::start().await;
    let tokens = issue_tokens(&h, 120).await;
    for token in &tokens {
        h.client.debug_token(&reporting(), token).await.unwrap();
    }
    let one_by_one = h.emulator_http_requests().await;
    h.reset_counters().await;
    h.client.debug_tokens(&reporting(), &tokens).await;
    let batched = h.emulator_http_requests().await;
    assert_eq!((one_by_one, batched), (120, 3));
    h.shutdown().await;
}

#[tokio::test]
async fn item_failures_stay_with_their_item() {
    let h = Harness::start().await;
    let ids = vec![
        ADMIN_SYSTEM_USER.to_owned(),
        "399999999999999".to_owned(),
        CI_SYSTEM_USER.to_owned(),
    ];
    let reads = h.client.read_system_users(&admin(), &ids).await;
    assert_eq!(reads[0].as_ref().unwrap().name, "graphform-admin");
    let error = reads[1].as_ref().unwrap_err();
    assert_failed(error, ErrorClass::InvalidParameter, Some(110), 1);
    assert_eq!(error.operation().target(), "399999999999999");
    assert_eq!(reads[2].as_ref().unwrap().name, "ci-reporting");
    assert_eq!(h.client.counters().http_requests, 1, "not retried");

    // A dead token is not an error of debug_token: it is data.
    let token = issue_tokens(&h, 1).await.remove(0);
    let caller = UserToken::new(token.clone(), reporting());
    h.client.revoke_token(&caller, &token).await.unwrap();
    let infos = h
        .client
        .debug_tokens(&reporting(), &[token, Secret::new("EAAnotatokenatall")])
        .await;
    assert_validity(&infos, false);
    h.shutdown().await;
}

#[tokio::test]
async fn null_and_transient_items_are_retried_item_by_item() {
    let h = Harness::start_with(|settings| settings.retry.max_attempts = 10).await;
    let tokens = issue_tokens(&h, 120).await;
    h.inject_faults(json!({"batch_null_rate": 0.2, "transient_error_rate": 0.2, "seed": 99}))
        .await;
    let infos = h.client.debug_tokens(&reporting(), &tokens).await;
    h.clear_faults().await;
    assert_validity(&infos, true);
    let counters = h.client.counters();
    assert!(counters.retries > 0, "{counters:?}");
    assert!(counters.http_requests > 3, "{counters:?}");
    // Retried items go out again, and only they: far fewer calls than
    // sending everything again.
    assert!(counters.api_calls < 2 * 120, "{counters:?}");
    h.shutdown().await;
}
