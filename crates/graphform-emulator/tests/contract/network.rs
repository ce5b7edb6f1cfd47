//! Network faults (issue 10): gateway pages and errors, answers lost after
//! the call ran, custom answers; from the one-shot queue and at seeded
//! rates. Each test checks what a reqwest client sees AND whether the Graph
//! call ran, through the inspection API.

use graphform_emulator::{
    CustomAnswer, Error, FaultConfig, GatewayAnswer, NetworkFault, TokenStatus,
};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::support::*;

/// An answer read as text, whatever its content type.
struct Raw {
    status: u16,
    content_type: String,
    body: String,
}

impl Raw {
    fn parts(&self) -> (u16, &str, &str) {
        (self.status, &self.content_type, &self.body)
    }
}

/// Sends `request` and reads the answer as text.
async fn raw(request: RequestBuilder) -> Raw {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.unwrap();
    Raw {
        status,
        content_type,
        body,
    }
}

/// `POST /{id}/access_tokens` by the Acme admin: a 60-day `ads_read` token
/// of `reporting`.
fn issue_request(h: &Harness, id: &str) -> RequestBuilder {
    let params = issue_params(REPORTING, "ads_read", true);
    h.acme().request(Method::POST, &access_tokens(id), &params)
}

/// `GET /oauth/revoke` of `token`, with the token itself as the caller.
fn revoke_request(h: &Harness, token: &str) -> RequestBuilder {
    let params = [
        ("client_id", REPORTING),
        ("client_secret", REPORTING_SECRET),
        ("revoke_token", token),
    ];
    h.reporting(token)
        .request(Method::GET, "/oauth/revoke", &params)
}

/// How many tokens the system user has, and how many of them are valid.
fn tokens_of(h: &Harness, id: &str) -> (usize, usize) {
    let state = h.emulator.inspect();
    (
        state.tokens_of(id).count(),
        state.valid_tokens_of(id).count(),
    )
}

fn status_of(h: &Harness, token: &str) -> TokenStatus {
    let fingerprint = graphform_types::fingerprint(token);
    h.emulator
        .inspect()
        .token(fingerprint.as_str())
        .unwrap()
        .status
}

async fn queue(h: &Harness, body: Value) -> Value {
    let (status, answer) = h.control_post("/faults/next", body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok()
}

#[tokio::test]
async fn gateway_page_is_200_html_and_the_call_does_not_run() {
    let (h, _, token) = Harness::with_token().await;
    h.emulator.reset_counters();
    queue(
        &h,
        json!({ "endpoint": "GET /oauth/revoke", "fault": "gateway_page", "count": 1 }),
    )
    .await;
    let page = raw(revoke_request(&h, &token)).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(page.body.contains("Please log in"), "{}", page.body);
    assert!(!is_json(&page.body));
    // Not run: the token lives.
    assert_eq!(status_of(&h, &token), TokenStatus::Valid);
    let counters = h.emulator.counters();
    assert_eq!(counters.http_requests, 1);
    assert_eq!(
        counters.api_calls, 0,
        "a request stopped at the gateway is no API call"
    );
    assert_eq!(
        serde_json::to_value(&counters.injected_faults_by_endpoint).unwrap(),
        json!({ "GET /oauth/revoke": { "gateway_page": 1 } })
    );
    // One shot: the next revoke is served.
    let again = Harness::send(revoke_request(&h, &token)).await;
    assert_eq!(again.assert_ok(), &json!({ "success": true }));
    assert_eq!(status_of(&h, &token), TokenStatus::Revoked);
    // A custom page.
    queue(
        &h,
        json!({ "endpoint": "*", "fault": "gateway_page", "body": "<h1>Maintenance</h1>" }),
    )
    .await;
    let page = raw(h.acme().request(Method::GET, &system_users(ACME), &[])).await;
    assert_eq!(
        (page.status, page.body.as_str()),
        (200, "<h1>Maintenance</h1>")
    );
}

#[tokio::test]
async fn gateway_errors_are_502_503_504_without_graph_json_and_the_call_does_not_run() {
    let (h, id) = Harness::with_employee("ci").await;
    for (status, title) in [
        (502, "502 Bad Gateway"),
        (503, "503 Service Temporarily Unavailable"),
        (504, "504 Gateway Time-out"),
    ] {
        queue(
            &h,
            json!({
                "endpoint": "POST /{system-user-id}/access_tokens",
                "fault": "gateway_error",
                "status": status,
            }),
        )
        .await;
        let answer = raw(issue_request(&h, &id)).await;
        assert_eq!(answer.status, status);
        assert_eq!(answer.content_type, "text/html; charset=utf-8");
        assert!(answer.body.contains(title), "{}", answer.body);
        assert!(!is_json(&answer.body));
    }
    // A plain-text one, from Rust.
    h.emulator
        .inject_next(
            "POST /{system-user-id}/access_tokens",
            NetworkFault::GatewayError(GatewayAnswer {
                status: 503,
                content_type: Some("text/plain".to_owned()),
                body: Some("upstream connect error or disconnect/reset before headers".to_owned()),
            }),
        )
        .unwrap();
    let answer = raw(issue_request(&h, &id)).await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (503, "text/plain")
    );
    assert!(answer.body.starts_with("upstream connect error"));
    // Without a body: the status line.
    queue(
        &h,
        json!({ "endpoint": "*", "fault": "gateway_error", "content_type": "text/plain" }),
    )
    .await;
    let answer = raw(issue_request(&h, &id)).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (502, "502 Bad Gateway\n")
    );
    // None of the five ran: no token was minted.
    assert_eq!(tokens_of(&h, &id), (0, 0));
    let counters = h.emulator.counters();
    assert_eq!(
        counters.injected_faults_by_endpoint["POST /{system-user-id}/access_tokens"]["gateway_error"],
        5
    );
    assert!(
        !counters
            .by_endpoint
            .contains_key("POST /{system-user-id}/access_tokens")
    );
}

#[tokio::test]
async fn gateway_error_after_call_runs_the_call_then_answers_a_gateway_error() {
    let (h, id) = Harness::with_employee("ci").await;
    h.emulator.reset_counters();
    queue(
        &h,
        json!({ "endpoint": "POST /{system-user-id}/access_tokens", "fault": "gateway_error_after_call" }),
    )
    .await;
    let answer = raw(issue_request(&h, &id)).await;
    assert_eq!(answer.status, 504, "the default is a gateway timeout");
    assert!(answer.body.contains("504 Gateway Time-out"));
    assert!(!answer.body.contains("EAA"), "the token must not leak out");
    // The token was minted all the same, and works.
    assert_eq!(tokens_of(&h, &id), (1, 1));
    let counters = h.emulator.counters();
    assert_eq!(
        counters.by_endpoint["POST /{system-user-id}/access_tokens"],
        1
    );
    assert_eq!(counters.injected_faults, 1);
    // A revoke that ran, answered 502.
    let token = h.reporting_token(&id, "ads_read", true).await;
    queue(
        &h,
        json!({ "endpoint": "GET /oauth/revoke", "fault": "gateway_error_after_call", "status": 502 }),
    )
    .await;
    let answer = raw(revoke_request(&h, &token)).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.content_type, "text/html; charset=utf-8");
    assert_eq!(status_of(&h, &token), TokenStatus::Revoked);
}

#[tokio::test]
async fn lost_answer_cuts_the_connection_mid_body_after_the_call_ran() {
    let (h, id) = Harness::with_employee("ci").await;
    queue(
        &h,
        json!({ "endpoint": "POST /{system-user-id}/access_tokens", "fault": "lost_answer" }),
    )
    .await;
    let response = issue_request(&h, &id).send().await.unwrap();
    // The headers arrive, with the full length…
    assert_eq!(response.status(), 200);
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length > 150, "{length}");
    // …the body does not.
    let error = response.text().await.unwrap_err();
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    assert!(error.status().is_none());
    // The call ran: a token exists that the client never saw.
    assert_eq!(tokens_of(&h, &id), (1, 1));
    assert_eq!(
        h.emulator.counters().injected_faults_by_endpoint["POST /{system-user-id}/access_tokens"]["lost_answer"],
        1
    );
    // Only that connection was cut: the same client goes on.
    let token = h.reporting_token(&id, "ads_read", true).await;
    assert_eq!(tokens_of(&h, &id), (2, 2));
    // A revoke whose answer is lost before its headers: the request fails
    // without a status, and the token is revoked.
    queue(
        &h,
        json!({ "endpoint": "GET /oauth/revoke", "fault": "lost_answer", "cut": "before_headers" }),
    )
    .await;
    let error = revoke_request(&h, &token).send().await.unwrap_err();
    assert!(error.status().is_none(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(status_of(&h, &token), TokenStatus::Revoked);
    assert_eq!(h.emulator.counters().by_endpoint["GET /oauth/revoke"], 1);
}

#[tokio::test]
async fn lost_answers_work_on_fresh_and_reused_connections_alike() {
    let (h, id) = Harness::with_employee("ci").await;
    // Several in a row on one pooled client, then normal calls again.
    h.emulator
        .inject_next_times(
            "POST /{system-user-id}/access_tokens",
            NetworkFault::lost_answer(),
            3,
        )
        .unwrap();
    for _ in 0..3 {
        let response = issue_request(&h, &id).send().await.unwrap();
        assert!(response.text().await.is_err());
    }
    assert_eq!(tokens_of(&h, &id), (3, 3));
    h.reporting_token(&id, "ads_read", true).await;
    assert_eq!(tokens_of(&h, &id), (4, 4));
}

#[tokio::test]
async fn custom_answers_give_any_status_type_and_body_with_or_without_the_call() {
    let (h, id) = Harness::with_employee("ci").await;
    let endpoint = "POST /{system-user-id}/access_tokens";
    // `{}` with 200, not run.
    queue(
        &h,
        json!({ "endpoint": endpoint, "fault": "custom", "body": "{}" }),
    )
    .await;
    let answer = raw(issue_request(&h, &id)).await;
    assert_eq!(
        answer.parts(),
        (200, "application/json; charset=UTF-8", "{}")
    );
    assert_eq!(tokens_of(&h, &id), (0, 0));
    // `null` with 200, run.
    queue(
        &h,
        json!({ "endpoint": endpoint, "fault": "custom", "body": "null", "run_call": true }),
    )
    .await;
    let answer = raw(issue_request(&h, &id)).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "null"));
    assert_eq!(tokens_of(&h, &id), (1, 1));
    // A Graph error envelope with 200, run (from Rust).
    let envelope = r#"{"error":{"message":"An unknown error occurred","type":"OAuthException","code":1,"is_transient":true}}"#;
    h.emulator
        .inject_next(
            endpoint,
            NetworkFault::custom(200, "application/json", envelope, true),
        )
        .unwrap();
    let answer = raw(issue_request(&h, &id)).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, envelope));
    assert_eq!(tokens_of(&h, &id), (2, 2));
    // `{"success":false}` for a revoke that did not run.
    let token = h.reporting_token(&id, "ads_read", true).await;
    h.emulator
        .inject_next(
            "GET /oauth/revoke",
            NetworkFault::json(r#"{"success":false}"#),
        )
        .unwrap();
    let answer = Harness::send(revoke_request(&h, &token)).await;
    assert_eq!(answer.body, json!({ "success": false }));
    assert_eq!(status_of(&h, &token), TokenStatus::Valid);
    // Any status and content type.
    queue(
        &h,
        json!({
            "endpoint": "GET /oauth/revoke",
            "fault": "custom",
            "status": 429,
            "content_type": "text/plain",
            "body": "Too Many Requests",
        }),
    )
    .await;
    let answer = raw(revoke_request(&h, &token)).await;
    assert_eq!(answer.parts(), (429, "text/plain", "Too Many Requests"));
    assert_eq!(status_of(&h, &token), TokenStatus::Valid);
    assert_eq!(
        serde_json::to_value(&h.emulator.counters().injected_faults_by_endpoint).unwrap(),
        json!({ endpoint: { "custom": 3 }, "GET /oauth/revoke": { "custom": 2 } })
    );
}

#[tokio::test]
async fn the_queue_is_listed_served_in_order_and_cleared() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let answer = queue(
        &h,
        json!({ "endpoint": "GET /oauth/revoke", "fault": "gateway_error", "status": 503, "count": 2 }),
    )
    .await;
    assert_eq!(
        answer,
        json!({ "next": [
            { "endpoint": "GET /oauth/revoke", "fault": "gateway_error", "status": 503, "remaining": 2 },
        ] })
    );
    queue(
        &h,
        json!({ "endpoint": "GET /{id}", "fault": "custom", "body": "null", "run_call": true }),
    )
    .await;
    queue(
        &h,
        json!({ "endpoint": "GET /{id}", "fault": "lost_answer" }),
    )
    .await;
    let listed = h.control_get("/faults/next").await;
    assert_eq!(
        listed["next"],
        json!([
            { "endpoint": "GET /oauth/revoke", "fault": "gateway_error", "status": 503, "remaining": 2 },
            { "endpoint": "GET /{id}", "fault": "custom", "status": 200,
              "content_type": "application/json; charset=UTF-8", "body": "null", "run_call": true,
              "remaining": 1 },
            { "endpoint": "GET /{id}", "fault": "lost_answer", "cut": "mid_body", "remaining": 1 },
        ])
    );
    // The Rust view is the same, and so is GET /faults's `next`.
    assert_eq!(
        serde_json::to_value(h.emulator.pending_faults()).unwrap(),
        listed["next"]
    );
    assert_eq!(h.control_get("/faults").await["next"], listed["next"]);
    // Other endpoints are untouched; `GET /{id}` gets its faults in order.
    acme_admin.get(&system_users(ACME), &[]).await.assert_ok();
    let admin = acme_admin.request(Method::GET, &node(ACME_ADMIN_SU), &[]);
    let first = raw(admin.try_clone().unwrap()).await;
    assert_eq!(first.body, "null");
    let second = admin.send().await.unwrap();
    assert!(second.text().await.is_err());
    acme_admin.get(&node(ACME_ADMIN_SU), &[]).await.assert_ok();
    assert_eq!(h.emulator.pending_faults().len(), 1);
    // DELETE empties the queue.
    assert_eq!(
        h.control_delete("/faults/next").await,
        json!({ "next": [] })
    );
    assert!(h.emulator.pending_faults().is_empty());
    // DELETE /faults empties it too.
    h.emulator
        .inject_next("*", NetworkFault::gateway_page())
        .unwrap();
    h.control_delete("/faults").await;
    assert!(h.emulator.pending_faults().is_empty());
}

#[tokio::test]
async fn bad_queue_requests_are_400() {
    let h = Harness::start().await;
    for body in [
        json!({ "endpoint": "GET /nope", "fault": "gateway_page" }),
        json!({ "endpoint": "revoke", "fault": "gateway_page" }),
        json!({ "endpoint": "*", "fault": "teapot" }),
        json!({ "endpoint": "*", "fault": "gateway_error", "status": 500 }),
        json!({ "endpoint": "*", "fault": "gateway_error_after_call", "status": 200 }),
        json!({ "endpoint": "*", "fault": "gateway_page", "run_call": true }),
        json!({ "endpoint": "*", "fault": "lost_answer", "body": "x" }),
        json!({ "endpoint": "*", "fault": "lost_answer", "cut": "sideways" }),
        json!({ "endpoint": "*", "fault": "custom" }),
        json!({ "endpoint": "*", "fault": "custom", "body": "{}", "status": 99 }),
        json!({ "endpoint": "*", "fault": "custom", "body": "{}", "content_type": "a\nb" }),
        json!({ "endpoint": "*", "fault": "gateway_page", "count": 0 }),
        json!({ "endpoint": "*", "fault": "gateway_page", "typo": 1 }),
        json!({ "fault": "gateway_page" }),
    ] {
        let (status, answer) = h.control_post("/faults/next", body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert!(h.emulator.pending_faults().is_empty());
    // The Rust method refuses the same way.
    let error = h
        .emulator
        .inject_next("GET /nope", NetworkFault::gateway_page())
        .unwrap_err();
    assert!(matches!(error, Error::InvalidControl { .. }), "{error:?}");
    assert!(
        h.emulator
            .inject_next("*", NetworkFault::gateway_error(418))
            .is_err()
    );
}

/// The statuses `debug_token` calls get under a configuration.
async fn pattern(h: &Harness, calls: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..calls {
        let app = app_token(REPORTING, REPORTING_SECRET);
        let params = [("input_token", ACME_ADMIN_TOKEN), ("access_token", &app)];
        let request = h.anonymous().request(Method::GET, "/debug_token", &params);
        let response = request.send().await;
        statuses.push(match response {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(_) => status,
                    Err(_) => 1, // lost mid-body
                }
            }
            Err(_) => 0,
        });
    }
    statuses
}

#[tokio::test]
async fn random_network_faults_follow_rates_endpoint_filter_and_seed() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let config = json!({
        "gateway_page_rate": 0.2,
        "gateway_error_rate": 0.2,
        "gateway_error_after_call_rate": 0.2,
        "lost_answer_rate": 0.2,
        "endpoints": ["debug_token"],
        "seed": 7,
    });
    let (status, answer) = h.control_post("/faults", config.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["faults"]["lost_answer_rate"], 0.2);
    let first = pattern(&h, 40).await;
    // Other endpoints are untouched.
    for _ in 0..5 {
        acme_admin.get(&node(ACME_ADMIN_SU), &[]).await.assert_ok();
    }
    // The same seed gives the same pattern.
    h.control_post("/faults", config).await;
    let second = pattern(&h, 40).await;
    assert_eq!(first, second);
    // Every kind appears, and some calls pass.
    for status in [200, 502, 1] {
        assert!(first.contains(&status), "{status} missing from {first:?}");
    }
    assert!(first.iter().any(|s| matches!(s, 503 | 504)), "{first:?}");
    let counters = h.emulator.counters();
    let kinds = &counters.injected_faults_by_endpoint["GET /debug_token"];
    for kind in [
        "gateway_page",
        "gateway_error",
        "gateway_error_after_call",
        "lost_answer",
    ] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "{kinds:?}");
    }
    assert!(
        !counters
            .injected_faults_by_endpoint
            .contains_key("GET /{id}")
    );
    // A custom answer at a rate, from Rust.
    let rust = FaultConfig {
        custom_rate: 1.0,
        custom: Some(CustomAnswer {
            status: 200,
            content_type: "application/json".to_owned(),
            body: "{}".to_owned(),
            run_call: false,
        }),
        ..FaultConfig::default()
    };
    h.emulator.configure_faults(rust).unwrap();
    let answer = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
    assert_eq!(answer.body, json!({}));
    h.emulator.clear_faults();
    acme_admin.get(&node(ACME_ADMIN_SU), &[]).await.assert_ok();
}

#[tokio::test]
async fn bad_rates_are_400() {
    let h = Harness::start().await;
    for body in [
        json!({ "gateway_page_rate": 1.5 }),
        json!({ "gateway_error_rate": 0.6, "lost_answer_rate": 0.6 }),
        json!({ "custom_rate": 0.1 }),
        json!({ "custom_rate": 0.1, "custom": { "status": 700, "body": "{}" } }),
        json!({ "custom_rate": 0.1, "custom": { "status": 200 } }),
    ] {
        let (status, answer) = h.control_post("/faults", body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
    }
    let config = FaultConfig {
        lost_answer_rate: -0.1,
        ..FaultConfig::default()
    };
    assert!(matches!(
        h.emulator.configure_faults(config),
        Err(Error::InvalidControl { .. })
    ));
}

#[tokio::test]
async fn a_batch_is_faulted_as_post_slash_once() {
    let (h, id) = Harness::with_employee("ci").await;
    h.emulator.reset_counters();
    h.emulator
        .inject_next("POST /", NetworkFault::gateway_error_after_call(502))
        .unwrap();
    let op = json!({
        "method": "POST",
        "relative_url": format!("{id}/access_tokens"),
        "body": format!("business_app={REPORTING}&scope=ads_read&set_token_expires_in_60_days=true"),
    });
    let batch = json!([op, op]).to_string();
    let request = h.acme().request(Method::POST, "/", &[("batch", &batch)]);
    let answer = raw(request.try_clone().unwrap()).await;
    assert_eq!(answer.status, 502);
    // Both operations ran.
    assert_eq!(tokens_of(&h, &id), (2, 2));
    let counters = h.emulator.counters();
    assert_eq!((counters.http_requests, counters.api_calls), (1, 2));
    assert_eq!(
        serde_json::to_value(&counters.injected_faults_by_endpoint).unwrap(),
        json!({ "POST /": { "gateway_error_after_call": 1 } })
    );
    // A gateway error before the batch: nothing runs.
    h.emulator
        .inject_next("POST /", NetworkFault::gateway_error(503))
        .unwrap();
    let answer = raw(request).await;
    assert_eq!(answer.status, 503);
    assert_eq!(tokens_of(&h, &id), (2, 2));
}

#[tokio::test]
async fn graph_faults_are_counted_too() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    h.control_post("/throttle", json!({ "code": 17, "calls": 1 }))
        .await;
    acme_admin
        .get(&node(ACME_ADMIN_SU), &[])
        .await
        .assert_error(400, 17, Some(2_446_079));
    h.control_post(
        "/faults",
        json!({ "transient_error_rate": 1.0, "endpoints": ["GET /{id}"] }),
    )
    .await;
    acme_admin
        .get(&node(ACME_ADMIN_SU), &[])
        .await
        .assert_error(500, 2, None);
    let counters = h.emulator.counters();
    assert_eq!(counters.injected_faults, 2);
    assert_eq!(
        serde_json::to_value(&counters.injected_faults_by_endpoint).unwrap(),
        json!({ "GET /{id}": { "throttle": 1, "transient_error": 1 } })
    );
}
