//! Throttling errors and usage headers: the client waits as Meta asks
//! (on a virtual clock), and gives up when asked to wait too long.

use std::time::Duration;

use graphform_graph::{ErrorClass, Secret};
use serde_json::json;

use crate::support::{
    ADMIN_TOKEN, Harness, assert_failed, list_acme, read_ci_reporting, reporting,
};

const MINUTE: Duration = Duration::from_mins(1);

#[tokio::test]
async fn throttling_waits_for_the_estimated_time_to_regain_access() {
    let h = Harness::start().await;
    h.throttle(json!({"code": 80004, "calls": 2, "estimated_time_to_regain_access": 3}))
        .await;
    let list = list_acme(&h.client).await.unwrap();
    assert_eq!(list.users.len(), 2);
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    for sleep in &sleeps {
        assert!(
            *sleep >= 3 * MINUTE && *sleep <= 3 * MINUTE + 18 * Duration::from_secs(1),
            "{sleep:?}"
        );
    }
    let counters = h.client.counters();
    assert_eq!(counters.throttle_waits, 2);
    assert_eq!(counters.http_requests, 3);
    assert_eq!(
        counters.usage_delays, 0,
        "the throttle wait is not doubled by the usage headers"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn throttling_without_an_estimate_backs_off_from_a_minute() {
    let h = Harness::start().await;
    h.throttle(json!({"code": 4, "calls": 1})).await;
    read_ci_reporting(&h.client).await.unwrap();
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 1, "{sleeps:?}");
    assert!(sleeps[0] >= MINUTE / 2 && sleeps[0] <= MINUTE, "{sleeps:?}");
    h.shutdown().await;
}

#[tokio::test]
async fn a_throttle_longer_than_max_throttle_wait_is_returned_at_once() {
    let h = Harness::start_with(|settings| settings.retry.max_throttle_wait = 2 * MINUTE).await;
    // Meta gives `estimated_time_to_regain_access` only for Business Use
    // Case throttling (80000-80014), in `X-Business-Use-Case-Usage`.
    h.throttle(json!({"code": 80004, "calls": 5, "estimated_time_to_regain_access": 30}))
        .await;
    let error = read_ci_reporting(&h.client).await.unwrap_err();
    assert_failed(&error, ErrorClass::Throttled, Some(80004), 1);
    assert!(h.clock.sleeps().is_empty());
    assert_eq!(h.client.counters().throttle_waits, 0);
    assert_eq!(h.emulator_http_requests().await, 1);
    h.shutdown().await;
}

#[tokio::test]
async fn a_throttle_backoff_longer_than_max_throttle_wait_is_not_waited() {
    // App-level throttling (17) comes without an estimate: the client backs
    // off 1, 2, 4… minutes (ceilings). With max_throttle_wait = 2 min it
    // makes the waits of 1 and 2 min, then returns the error instead of
    // waiting up to 4 min.
    let h = Harness::start_with(|settings| settings.retry.max_throttle_wait = 2 * MINUTE).await;
    h.throttle(json!({"code": 17, "calls": 5})).await;
    let error = read_ci_reporting(&h.client).await.unwrap_err();
    assert_failed(&error, ErrorClass::Throttled, Some(17), 3);
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(sleeps[0] >= MINUTE / 2 && sleeps[0] <= MINUTE, "{sleeps:?}");
    assert!(sleeps[1] >= MINUTE && sleeps[1] <= 2 * MINUTE, "{sleeps:?}");
    assert_eq!(h.client.counters().throttle_waits, 2);
    assert_eq!(h.emulator_http_requests().await, 3);

    // A throttle that ends within the waits the client accepts is ridden
    // out. (The last answer reported `X-App-Usage` at 100 %, so the usage
    // governor first pauses a minute: a usage delay, not a throttle wait.)
    h.throttle(json!({"code": 4, "calls": 2})).await;
    read_ci_reporting(&h.client).await.unwrap();
    assert_eq!(h.client.counters().throttle_waits, 4);
    assert_eq!(h.client.counters().usage_delays, 1);
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 5, "{sleeps:?}");
    assert_eq!(sleeps[2], MINUTE, "the usage pause: {sleeps:?}");
    assert!(
        sleeps.iter().all(|sleep| *sleep <= 2 * MINUTE),
        "{sleeps:?}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_batch_throttle_backoff_longer_than_max_throttle_wait_is_not_waited() {
    let h = Harness::start_with(|settings| settings.retry.max_throttle_wait = 2 * MINUTE).await;
    // Throttles the first five API calls: the batch's only operation, in
    // each round.
    h.throttle(json!({"code": 4, "calls": 5})).await;
    let infos = h
        .client
        .debug_tokens(&reporting(), &[Secret::new(ADMIN_TOKEN)])
        .await;
    let error = infos[0].as_ref().unwrap_err();
    assert_failed(error, ErrorClass::Throttled, Some(4), 3);
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(
        sleeps.iter().all(|sleep| *sleep <= 2 * MINUTE),
        "{sleeps:?}"
    );
    assert_eq!(h.client.counters().throttle_waits, 2);
    assert_eq!(h.client.counters().http_requests, 3);
    h.shutdown().await;
}

#[tokio::test]
async fn usage_near_the_limit_slows_the_client_down_before_it_is_throttled() {
    let h = Harness::start().await;
    h.throttle(json!({"app_usage": {"call_count": 85, "total_time": 10, "total_cputime": 10}}))
        .await;
    for _ in 0..4 {
        read_ci_reporting(&h.client).await.unwrap();
    }
    // The first call sees the header; the next three wait 10 s × (85-75)/20.
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(5); 3]);
    assert_eq!(h.client.counters().usage_delays, 3);

    // At 97 % the client pauses a minute before the next call.
    h.throttle(json!({"app_usage": {"call_count": 97}})).await;
    read_ci_reporting(&h.client).await.unwrap();
    read_ci_reporting(&h.client).await.unwrap();
    assert_eq!(h.clock.sleeps().last(), Some(&MINUTE));
    h.shutdown().await;
}

#[tokio::test]
async fn usage_percent_is_the_highest_fresh_usage_header() {
    let h = Harness::start().await;
    read_ci_reporting(&h.client).await.unwrap();
    assert_eq!(h.client.usage_percent(), None, "no header: no reading");

    h.throttle(json!({
        "app_usage": {"call_count": 20, "total_time": 35, "total_cputime": 5},
        "business_use_case_usage": {"call_count": 40, "total_time": 10},
    }))
    .await;
    list_acme(&h.client).await.unwrap();
    // Both headers, highest of all their percentages; clones share it.
    assert_eq!(h.client.labeled("acme").usage_percent(), Some(40.0));
    assert!(h.clock.sleeps().is_empty(), "below the slow-down threshold");

    // Readings older than the policy's `reading_ttl` (5 min) say nothing.
    h.clock.advance(5 * MINUTE);
    assert_eq!(h.client.usage_percent(), None);
    h.shutdown().await;
}

#[tokio::test]
async fn each_throttle_wait_is_told_to_the_observer_before_it_starts() {
    use std::sync::{Arc, Mutex};

    use graphform_graph::{Wait, WaitReason};

    let h = Harness::start().await;
    let seen: Arc<Mutex<Vec<Wait>>> = Arc::default();
    let record = Arc::clone(&seen);
    assert!(h.client.on_wait(Arc::new(move |wait: &Wait| {
        record.lock().expect("not poisoned").push(wait.clone());
    })));
    assert!(
        !h.client.on_wait(Arc::new(|_: &Wait| {})),
        "an observer is set once"
    );
    h.throttle(json!({"code": 17, "calls": 2, "estimated_time_to_regain_access": 1}))
        .await;
    list_acme(&h.client).await.unwrap();
    let seen = seen.lock().expect("not poisoned").clone();
    let sleeps = h.clock.sleeps();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (n, (wait, sleep)) in seen.iter().zip(&sleeps).enumerate() {
        assert_eq!(wait.reason, WaitReason::Throttled { code: Some(17) });
        assert_eq!(wait.delay, *sleep, "the wait told is the wait made");
        assert_eq!(wait.attempt, Some(u32::try_from(n).unwrap() + 2));
        let line = wait.to_string();
        assert!(
            line.starts_with("Meta asked to slow down (code 17); waiting ")
                && line.ends_with(&format!(", attempt {} of 5", n + 2)),
            "{line}"
        );
    }
    h.shutdown().await;
}
