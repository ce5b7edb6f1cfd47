//! Every error class, produced by the emulator over HTTP: what the client
//! reports, how often it tried, and that it never retries what it must not.

use std::time::Duration;

use graphform_graph::{
    AnswerFailure, AppCredentials, ConnectFailure, ErrorClass, ErrorKind, GraphClient, GraphError,
    IssueToken, ListOptions, RetryPolicy, Secret, SystemUserRole, TokenInvalidReason, UserToken,
};
use serde_json::json;

use crate::support::{
    ADMIN_TOKEN, BUSINESS, CI_SYSTEM_USER, Failing, Harness, PUBLISHER_APP, REPORTING_APP, admin,
    ads_read, assert_failed, client_on, create_system_user, failing, issue_must_fail, list_acme,
    publisher, read_ci_reporting, reporting,
};

async fn issue(h: &Harness, app: &str, scopes: &[&str]) -> Secret {
    h.client
        .issue_token(
            &admin(),
            CI_SYSTEM_USER,
            &IssueToken::new(app, scopes.iter().copied()),
        )
        .await
        .expect("a token is issued")
}

/// Reads `ci-reporting` with `token` of `app`, which must fail.
async fn read_with_dead_token(
    client: &GraphClient,
    token: Secret,
    app: AppCredentials,
) -> GraphError {
    client
        .read_system_user(&UserToken::new(token, app), CI_SYSTEM_USER)
        .await
        .expect_err("the token is dead")
}

#[tokio::test]
async fn dead_tokens_are_token_invalid_with_their_reason_and_never_retried() {
    let h = Harness::start().await;
    h.client
        .install_app(&admin(), CI_SYSTEM_USER, PUBLISHER_APP)
        .await
        .unwrap();
    let revoked = issue(&h, REPORTING_APP, &["ads_read"]).await;
    let expired = issue(&h, REPORTING_APP, &["ads_read"]).await;
    let uninstalled = issue(&h, PUBLISHER_APP, &["pages_show_list"]).await;

    h.control_post(
        "drift/revoke",
        json!({"fingerprint": revoked.fingerprint().to_string()}),
    )
    .await;
    h.control_post(
        "drift/uninstall",
        json!({"system_user_id": CI_SYSTEM_USER, "app_id": PUBLISHER_APP}),
    )
    .await;
    let before = h.client.counters();
    let labeled = h.client.labeled("acme/ci-reporting");
    let error = read_with_dead_token(&labeled, revoked, reporting()).await;
    assert_failed(&error, ErrorClass::TokenInvalid, Some(190), 1);
    assert_eq!(
        error.token_invalid_reason(),
        Some(TokenInvalidReason::InvalidToken)
    );
    assert_eq!(error.http_status(), Some(400));
    assert_eq!(error.error_type(), Some("OAuthException"));
    assert!(error.fbtrace_id().is_some());
    assert!(!error.is_transient());
    assert!(
        error
            .to_string()
            .starts_with("GET /{system-user} for acme/ci-reporting: (#190/467) OAuthException: "),
        "{error}"
    );

    let error = read_with_dead_token(&h.client, uninstalled, publisher()).await;
    assert_eq!(
        error.token_invalid_reason(),
        Some(TokenInvalidReason::AppNotInstalled)
    );

    h.advance_clock(61 * 86_400).await;
    let error = read_with_dead_token(&h.client, expired, reporting()).await;
    assert_eq!(
        error.token_invalid_reason(),
        Some(TokenInvalidReason::Expired)
    );
    assert!(error.message().unwrap().contains("Session has expired"));

    let after = h.client.counters();
    assert_eq!(
        after.http_requests - before.http_requests,
        3,
        "one attempt each"
    );
    assert_eq!(after.retries, before.retries);
    assert!(h.clock.sleeps().is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn permission_errors_are_not_retried() {
    let h = Harness::start().await;
    let employee = UserToken::new(
        issue(&h, REPORTING_APP, &["business_management"]).await,
        reporting(),
    );
    let error = h
        .client
        .list_system_users(&employee, BUSINESS, &ListOptions::default())
        .await
        .unwrap_err();
    assert_failed(&error, ErrorClass::Permission, Some(200), 1);
    assert_eq!(error.http_status(), Some(403));
    h.shutdown().await;
}

#[tokio::test]
async fn invalid_parameters_bad_scope_unknown_user_wrong_proof() {
    let h = Harness::start().await;
    let admin = admin();
    let misspelled = IssueToken::new(REPORTING_APP, ["ads_reed"]);
    let admin_token = Secret::new(ADMIN_TOKEN);
    let publisher = publisher();
    // The admin token is reporting's: signing it with publisher's secret
    // gives the documented proof error.
    let mismatched = UserToken::new(admin_token.clone(), publisher.clone());
    let wrong_secret = AppCredentials::new(REPORTING_APP, Secret::new("not-the-secret"));
    let cases: [(&str, Failing<'_>, ErrorClass, i64, Option<&str>); 5] = [
        (
            "a misspelled scope",
            failing(h.client.issue_token(&admin, CI_SYSTEM_USER, &misspelled)),
            ErrorClass::InvalidParameter,
            3962,
            None,
        ),
        (
            "an unknown system user",
            failing(h.client.read_system_user(&admin, "399999999999999")),
            ErrorClass::InvalidParameter,
            110,
            None,
        ),
        (
            "a proof made with another app's secret",
            failing(h.client.read_system_user(&mismatched, CI_SYSTEM_USER)),
            ErrorClass::InvalidParameter,
            100,
            Some("Invalid appsecret_proof provided in the API argument"),
        ),
        (
            // The app token of another app cannot inspect reporting's token.
            "debug_token with another app's app token",
            failing(h.client.debug_token(&publisher, &admin_token)),
            ErrorClass::InvalidParameter,
            100,
            None,
        ),
        (
            // Code 1 "Error validating client secret", marked not
            // transient, so not retried.
            "a refresh with a wrong client secret",
            failing(h.client.refresh_token(&wrong_secret, &admin_token)),
            ErrorClass::Other,
            1,
            None,
        ),
    ];
    for (case, call, class, code, message) in cases {
        let error = call.await;
        assert_eq!(
            (error.class(), error.code(), error.attempts()),
            (class, Some(code), 1),
            "{case}: {error}"
        );
        if let Some(message) = message {
            assert_eq!(error.message(), Some(message), "{case}");
        }
    }
    h.shutdown().await;
}

#[tokio::test]
async fn business_limits_are_other_errors() {
    let h = Harness::start().await;
    let error = create_system_user(&h.client, "second-admin", SystemUserRole::Admin)
        .await
        .unwrap_err();
    assert_failed(&error, ErrorClass::Other, Some(3965), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn transient_errors_are_retried_until_the_attempts_run_out() {
    let h = Harness::start().await;
    h.inject_faults(json!({"transient_error_rate": 1.0, "endpoints": ["system_users"], "seed": 1}))
        .await;
    let error = list_acme(&h.client).await.unwrap_err();
    let policy = RetryPolicy::default();
    assert_failed(&error, ErrorClass::Transient, Some(2), policy.max_attempts);
    assert!(error.is_transient());
    assert_eq!(error.http_status(), Some(500));
    assert!(error.to_string().ends_with("(after 5 attempts)"), "{error}");
    // Four backoffs, each within its full-jitter ceiling.
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 4);
    for (retry, sleep) in (1..).zip(&sleeps) {
        assert!(
            *sleep <= policy.backoff_ceiling(retry),
            "{retry}: {sleep:?}"
        );
    }
    assert_eq!(h.emulator_http_requests().await, 5);

    // An unsafe mutation is retried too: Meta's error answer proves it was
    // not done.
    h.inject_faults(
        json!({"transient_error_rate": 1.0, "endpoints": ["access_tokens"], "seed": 1}),
    )
    .await;
    let error = h
        .client
        .issue_token(&admin(), CI_SYSTEM_USER, &ads_read())
        .await
        .unwrap_err();
    assert_failed(&error, ErrorClass::Transient, Some(2), 5);
    h.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_to_a_mutation_is_outcome_unknown_and_not_retried() {
    let h = Harness::start().await;
    let (client, clock) = h.client_with(|settings| {
        settings.request_timeout = Duration::from_millis(300);
    });
    h.inject_faults(json!({"latency_ms": 1500, "endpoints": ["access_tokens"], "seed": 1}))
        .await;
    let error = issue_must_fail(&client).await;
    assert_failed(&error, ErrorClass::OutcomeUnknown, None, 1);
    assert!(error.is_outcome_unknown());
    assert!(clock.sleeps().is_empty());
    assert!(
        error.to_string().starts_with(
            "POST /{system-user}/access_tokens for acme/ci-reporting: outcome unknown"
        ),
        "{error}"
    );
    assert_eq!(client.counters().http_requests, 1);

    // A read in the same situation is retried (and times out each time).
    h.inject_faults(json!({"latency_ms": 1500, "endpoints": ["GET /{id}"], "seed": 1}))
        .await;
    let (client, _clock) = h.client_with(|settings| {
        settings.request_timeout = Duration::from_millis(300);
        settings.retry.max_attempts = 2;
    });
    let error = read_ci_reporting(&client).await.unwrap_err();
    assert!(
        matches!(
            error.answer_failure(),
            Some((AnswerFailure::TimedOut { .. }, _))
        ),
        "{error:?}"
    );
    assert_failed(&error, ErrorClass::Transient, None, 2);
    h.clear_faults().await;
    h.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_retried_even_for_mutations() {
    // A port nobody listens on: bind, note it, close. On 127.0.0.2, so
    // that no emulator of a parallel test (they bind 127.0.0.1) takes it.
    let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (client, clock) = client_on(&format!("http://127.0.0.2:{port}"), 1, |settings| {
        settings.retry.max_attempts = 3;
    });
    let error = client
        .issue_token(&admin(), CI_SYSTEM_USER, &ads_read())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Connect(connect) if connect.failure == ConnectFailure::Refused
        ),
        "{error:?}"
    );
    assert_failed(&error, ErrorClass::Transient, None, 3);
    assert_eq!(clock.sleeps().len(), 2);
    assert!(!format!("{error} {error:?}").contains(ADMIN_TOKEN));
}
