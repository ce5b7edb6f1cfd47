//! Every error class, produced by the emulator over HTTP: what the client
//! reports, how often it tried, and that it never retries what it must not.

use std::time::Duration;

use graphform_graph::{
    ErrorClass, ErrorKind, IssueToken, ListOptions, NewSystemUser, RetryPolicy, Secret,
    SystemUserRole, TokenInvalidReason, UserToken,
};
use serde_json::json;

use crate::support::{
    ADMIN_TOKEN, BUSINESS, CI_SYSTEM_USER, Harness, PUBLISHER_APP, REPORTING_APP, admin, publisher,
    reporting,
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
    let error = h
        .client
        .labeled("acme/ci-reporting")
        .read_system_user(&UserToken::new(revoked, reporting()), CI_SYSTEM_USER)
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::TokenInvalid);
    assert_eq!(error.code(), Some(190));
    assert_eq!(
        error.token_invalid_reason(),
        Some(TokenInvalidReason::InvalidToken)
    );
    assert_eq!(error.http_status(), Some(400));
    assert_eq!(error.error_type(), Some("OAuthException"));
    assert!(error.fbtrace_id().is_some());
    assert!(!error.is_transient());
    assert_eq!(error.attempts(), 1);
    assert!(
        error
            .to_string()
            .starts_with("GET /{system-user} for acme/ci-reporting: (#190/467) OAuthException: "),
        "{error}"
    );

    let error = h
        .client
        .read_system_user(&UserToken::new(uninstalled, publisher()), CI_SYSTEM_USER)
        .await
        .unwrap_err();
    assert_eq!(
        error.token_invalid_reason(),
        Some(TokenInvalidReason::AppNotInstalled)
    );

    h.advance_clock(61 * 86_400).await;
    let error = h
        .client
        .read_system_user(&UserToken::new(expired, reporting()), CI_SYSTEM_USER)
        .await
        .unwrap_err();
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
    assert_eq!(error.class(), ErrorClass::Permission, "{error}");
    assert_eq!(error.code(), Some(200));
    assert_eq!(error.http_status(), Some(403));
    assert_eq!(error.attempts(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn invalid_parameters_bad_scope_unknown_user_wrong_proof() {
    let h = Harness::start().await;
    let error = h
        .client
        .issue_token(
            &admin(),
            CI_SYSTEM_USER,
            &IssueToken::new(REPORTING_APP, ["ads_reed"]),
        )
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::InvalidParameter);
    assert_eq!(error.code(), Some(3962));
    assert_eq!(error.attempts(), 1);

    let error = h
        .client
        .read_system_user(&admin(), "399999999999999")
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::InvalidParameter);
    assert_eq!(error.code(), Some(110));

    // The admin token is reporting's: signing it with publisher's secret
    // gives the documented proof error.
    let mismatched = UserToken::new(Secret::new(ADMIN_TOKEN), publisher());
    let error = h
        .client
        .read_system_user(&mismatched, CI_SYSTEM_USER)
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::InvalidParameter);
    assert_eq!(error.code(), Some(100));
    assert_eq!(
        error.message(),
        Some("Invalid appsecret_proof provided in the API argument")
    );

    // The app token of another app cannot inspect reporting's token.
    let error = h
        .client
        .debug_token(&publisher(), &Secret::new(ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::InvalidParameter);

    // Refresh with a wrong client secret: code 1 "Error validating client
    // secret", marked not transient, so not retried.
    let wrong = graphform_graph::AppCredentials::new(REPORTING_APP, Secret::new("not-the-secret"));
    let error = h
        .client
        .refresh_token(&wrong, &Secret::new(ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(1));
    assert_eq!(error.class(), ErrorClass::Other);
    assert_eq!(error.attempts(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn business_limits_are_other_errors() {
    let h = Harness::start().await;
    let error = h
        .client
        .create_system_user(
            &admin(),
            BUSINESS,
            &NewSystemUser {
                name: "second-admin".into(),
                role: SystemUserRole::Admin,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(3965));
    assert_eq!(error.class(), ErrorClass::Other);
    assert_eq!(error.attempts(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn transient_errors_are_retried_until_the_attempts_run_out() {
    let h = Harness::start().await;
    h.control_post(
        "faults",
        json!({"transient_error_rate": 1.0, "endpoints": ["system_users"], "seed": 1}),
    )
    .await;
    let error = h
        .client
        .list_system_users(&admin(), BUSINESS, &ListOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.code(), Some(2));
    assert!(error.is_transient());
    assert_eq!(error.http_status(), Some(500));
    let policy = RetryPolicy::default();
    assert_eq!(error.attempts(), policy.max_attempts);
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
    h.control_post(
        "faults",
        json!({"transient_error_rate": 1.0, "endpoints": ["access_tokens"], "seed": 1}),
    )
    .await;
    let error = h
        .client
        .issue_token(
            &admin(),
            CI_SYSTEM_USER,
            &IssueToken::new(REPORTING_APP, ["ads_read"]),
        )
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.attempts(), 5);
    h.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_to_a_mutation_is_outcome_unknown_and_not_retried() {
    let h = Harness::start().await;
    let (client, clock) = h.client_with(|settings| {
        settings.request_timeout = Duration::from_millis(300);
    });
    h.control_post(
        "faults",
        json!({"latency_ms": 1500, "endpoints": ["access_tokens"], "seed": 1}),
    )
    .await;
    let error = client
        .labeled("acme/ci-reporting")
        .issue_token(
            &admin(),
            CI_SYSTEM_USER,
            &IssueToken::new(REPORTING_APP, ["ads_read"]),
        )
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::OutcomeUnknown, "{error}");
    assert!(error.is_outcome_unknown());
    assert_eq!(error.attempts(), 1);
    assert!(clock.sleeps().is_empty());
    assert!(
        error.to_string().starts_with(
            "POST /{system-user}/access_tokens for acme/ci-reporting: outcome unknown"
        ),
        "{error}"
    );
    assert_eq!(client.counters().http_requests, 1);

    // A read in the same situation is retried (and times out each time).
    h.control_post(
        "faults",
        json!({"latency_ms": 1500, "endpoints": ["GET /{id}"], "seed": 1}),
    )
    .await;
    let (client, _clock) = h.client_with(|settings| {
        settings.request_timeout = Duration::from_millis(300);
        settings.retry.max_attempts = 2;
    });
    let error = client
        .read_system_user(&admin(), CI_SYSTEM_USER)
        .await
        .unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Timeout(_)), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.attempts(), 2);
    h.control_delete("faults").await;
    h.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_retried_even_for_mutations() {
    // A port nobody listens on: bind, note it, close. On 127.0.0.2, so
    // that no emulator of a parallel test (they bind 127.0.0.1) takes it.
    let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut settings =
        graphform_graph::ClientSettings::for_base_url(&format!("http://127.0.0.2:{port}")).unwrap();
    settings.jitter_seed = Some(1);
    settings.retry.max_attempts = 3;
    let clock = graphform_graph::VirtualClock::new();
    let client =
        graphform_graph::GraphClient::with_clock(settings, std::sync::Arc::new(clock.clone()))
            .unwrap();
    let error = client
        .issue_token(
            &admin(),
            CI_SYSTEM_USER,
            &IssueToken::new(REPORTING_APP, ["ads_read"]),
        )
        .await
        .unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Connect(_)), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.attempts(), 3);
    assert_eq!(clock.sleeps().len(), 2);
    assert!(!format!("{error} {error:?}").contains(ADMIN_TOKEN));
}
