//! Nothing the emulator logs, at any level, contains a full token, app
//! secret or `appsecret_proof`: a whole session runs with a TRACE
//! subscriber capturing every event, then the capture is searched.
//!
//! Its own binary, because it installs a global subscriber.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns panic on failure by design"
)]

#[allow(dead_code, reason = "the harness is shared with the contract tests")]
#[path = "contract/support.rs"]
mod support;

use graphform_testkit::logs::Capture;
use reqwest::Method;
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_never_contain_tokens_secrets_or_proofs() {
    let capture = Capture::new();
    capture.init_global();

    let h = Harness::start().await;
    let secrets = run_session(&h).await;
    h.emulator.shutdown().await;

    let logs = capture.text();
    // The capture is real: it saw the calls, at TRACE, with fingerprints.
    assert!(logs.contains("graph api call"), "{logs}");
    assert!(logs.contains("TRACE"), "{logs}");
    assert!(
        logs.contains(graphform_types::fingerprint(ACME_ADMIN_TOKEN).as_str()),
        "{logs}"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret ({}) appears in the logs",
            graphform_types::fingerprint(secret)
        );
    }
}

/// A whole lifecycle, including errors that involve the secrets; returns
/// every secret value the session used or obtained.
async fn run_session(h: &Harness) -> Vec<String> {
    let mut secrets: Vec<String> = vec![
        REPORTING_SECRET.into(),
        PUBLISHER_SECRET.into(),
        ACME_ADMIN_TOKEN.into(),
        ADA_TOKEN.into(),
        proof(REPORTING_SECRET, ACME_ADMIN_TOKEN),
        app_token(REPORTING, REPORTING_SECRET),
    ];

    let id = h.employee("ci").await;
    let token = h.reporting_token(&id, "ads_read", true).await;
    secrets.push(token.clone());
    secrets.push(proof(REPORTING_SECRET, &token));
    h.debug(REPORTING, REPORTING_SECRET, &token).await;
    let refreshed = h.exchange(REPORTING, REPORTING_SECRET, &token, &[]).await;
    let new = refreshed.string("access_token");
    secrets.push(new.clone());
    secrets.push(proof(REPORTING_SECRET, &new));
    h.reporting(&new)
        .get(
            "/oauth/revoke",
            &[
                ("client_id", REPORTING),
                ("client_secret", REPORTING_SECRET),
                ("revoke_token", &token),
            ],
        )
        .await
        .assert_ok();
    // Failures: wrong proof, wrong client secret, dead token, bearer header.
    h.caller(&Creds::new(&new, PUBLISHER_SECRET))
        .get(&node(&id), &[])
        .await;
    secrets.push(proof(PUBLISHER_SECRET, &new));
    h.exchange(REPORTING, "wrong-client-secret-value", &new, &[])
        .await;
    secrets.push("wrong-client-secret-value".into());
    h.reporting(&token).get(&node(&id), &[]).await;
    let time = T0.to_string();
    let timed = timed_proof(REPORTING_SECRET, ACME_ADMIN_TOKEN, T0);
    secrets.push(timed.clone());
    let bearer = format!("Bearer {ACME_ADMIN_TOKEN}");
    let params = [
        ("appsecret_proof", timed.as_str()),
        ("appsecret_time", &time),
    ];
    h.get_authorized(&system_users(ACME), &bearer, &params)
        .await;
    tokens_in_paths_and_odd_keys(h, &id, &mut secrets).await;
    batch_and_control(h, &id, &new, &mut secrets).await;
    secrets
}

/// A token where no parameter name says so: in a path segment (plainly,
/// and put there by a batch `{result=…}` reference), and under upper- or
/// mixed-case secret keys.
async fn tokens_in_paths_and_odd_keys(h: &Harness, id: &str, secrets: &mut Vec<String>) {
    let acme_admin = h.acme();
    let token = h.reporting_token(id, "ads_read", true).await;
    secrets.push(token.clone());
    acme_admin.get(&node(&token), &[]).await;
    acme_admin.get(&system_users(&token), &[]).await;
    h.anonymous()
        .get(&node(id), &[("ACCESS_TOKEN", &token)])
        .await;
    acme_admin
        .post(
            &applications(id),
            &[
                ("business_app", REPORTING),
                ("Client_Secret", REPORTING_SECRET),
            ],
        )
        .await;
    let ops = json!([
        { "method": "POST", "name": "issue", "omit_response_on_success": false,
          "relative_url": format!("{id}/access_tokens"),
          "body": format!("business_app={REPORTING}&scope=ads_read") },
        { "method": "GET", "relative_url": "{result=issue:$.access_token}" },
        { "method": "GET", "relative_url": "{result=issue:$.access_token}/system_users" },
    ])
    .to_string();
    let batch = acme_admin.post("", &[("batch", &ops)]).await;
    let issued: serde_json::Value =
        serde_json::from_str(batch.body[0]["body"].as_str().unwrap()).unwrap();
    secrets.push(issued["access_token"].as_str().unwrap().to_owned());
}

/// A batch whose operations carry a token, then drift and inspection.
async fn batch_and_control(h: &Harness, id: &str, new: &str, secrets: &mut Vec<String>) {
    // A batch whose operations carry a token in their bodies.
    let ops = json!([
        { "method": "GET", "relative_url": format!("{id}?access_token={new}") },
        { "method": "POST", "relative_url": format!("{id}/access_tokens"),
          "body": format!("business_app={REPORTING}&scope=ads_read") },
    ])
    .to_string();
    let batch = h.acme().post("", &[("batch", &ops)]).await;
    let issued_in_batch: serde_json::Value =
        serde_json::from_str(batch.body[1]["body"].as_str().unwrap()).unwrap();
    secrets.push(issued_in_batch["access_token"].as_str().unwrap().to_owned());
    // Network faults on calls that mint tokens; a custom answer holding
    // a token.
    let fake = "EAAcustomAnswerTokenValue0000000000000000000000000000000000000000";
    secrets.push(fake.to_owned());
    for fault in [
        json!({ "fault": "gateway_error_after_call" }),
        json!({ "fault": "lost_answer" }),
        json!({ "fault": "custom", "run_call": true,
                "body": format!("{{\"access_token\":\"{fake}\"}}") }),
    ] {
        let mut body = fault;
        body["endpoint"] = json!("POST /{system-user-id}/access_tokens");
        h.control_post("/faults/next", body).await;
        let issue = [("business_app", REPORTING)];
        let request = h.acme().request(Method::POST, &access_tokens(id), &issue);
        let _ = request.send().await.unwrap().text().await;
    }
    h.control_get("/faults/next").await;
    h.control_post(
        "/faults",
        json!({ "custom_rate": 0.5, "custom": { "body": fake }, "seed": 1 }),
    )
    .await;
    h.control_delete("/faults").await;
    // Control API: drift and state.
    let fingerprint = graphform_types::fingerprint(new);
    h.control_post(
        "/drift/revoke",
        json!({ "fingerprint": fingerprint.as_str() }),
    )
    .await;
    h.control_post(
        "/drift/rename",
        json!({ "system_user_id": id, "name": "renamed" }),
    )
    .await;
    h.control_post("/drift/invalidate", json!({ "system_user_id": id }))
        .await;
    h.control_get("/state").await;
    h.control_get("/counters").await;
}
