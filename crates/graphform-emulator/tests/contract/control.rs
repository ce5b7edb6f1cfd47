//! The control API under `/_emulator/`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn health_and_unknown_routes() {
    let h = Harness::start().await;
    assert_eq!(h.control_get("/health").await["status"], "ok");
    let nope = h.http.get(format!("{}/_emulator/nope", h.base));
    assert_eq!(nope.send().await.unwrap().status(), 404);
    for (path, body) in [
        ("/clock", json!({ "advance_seconds": 1, "set": 2 })),
        ("/faults", json!({ "transient_error_rate": 2.0 })),
        ("/faults", json!({ "typo": 1 })),
    ] {
        h.control_refused(path, body, 400).await;
    }
}

#[tokio::test]
async fn clock_can_be_read_advanced_and_set() {
    let h = Harness::start().await;
    assert_eq!(
        h.control_get("/clock").await,
        json!({ "now": T0, "ticking": false })
    );
    let body = h
        .control_post_ok("/clock", json!({ "advance_seconds": 90 }))
        .await;
    assert_eq!(body["now"], T0 + 90);
    let body = h
        .control_post_ok("/clock", json!({ "set": T0 + 5 * DAY }))
        .await;
    assert_eq!(body["now"], T0 + 5 * DAY);
    // New tokens are issued at emulator time.
    let id = h.employee("ci").await;
    let token = h.reporting_token(&id, "ads_read", true).await;
    let data = h.debug(REPORTING, REPORTING_SECRET, &token).await;
    assert_eq!(data["issued_at"], T0 + 5 * DAY);
}

#[tokio::test]
async fn transient_errors_follow_rate_endpoint_filter_and_seed() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    h.control_post_ok(
        "/faults",
        json!({ "transient_error_rate": 1.0, "endpoints": ["system_users"], "seed": 1 }),
    )
    .await;
    let reply = acme_admin.get(&system_users(ACME), &[]).await;
    reply.assert_error(500, 2, None);
    assert_eq!(reply.body["error"]["is_transient"], true);
    assert_eq!(
        reply.message(),
        "An unexpected error has occurred. Please retry your request later."
    );
    // Other endpoints are untouched.
    acme_admin.get(&node(ACME_ADMIN_SU), &[]).await.assert_ok();

    // A rate of one half with a seed gives a repeatable pattern.
    let mut patterns = Vec::new();
    for _ in 0..2 {
        h.control_post(
            "/faults",
            json!({ "transient_error_rate": 0.5, "seed": 99, "transient_code": 1 }),
        )
        .await;
        let mut pattern = Vec::new();
        for _ in 0..16 {
            let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
            if reply.status == 500 {
                assert_eq!(reply.code(), 1);
            }
            pattern.push(reply.status);
        }
        patterns.push(pattern);
    }
    assert_eq!(patterns[0], patterns[1]);
    assert!(
        patterns[0].contains(&500) && patterns[0].contains(&200),
        "{:?}",
        patterns[0]
    );
    h.control_delete("/faults").await;
    acme_admin.get(&system_users(ACME), &[]).await.assert_ok();
}

#[tokio::test]
async fn latency_is_added_to_matching_requests() {
    let h = Harness::start().await;
    h.control_post(
        "/faults",
        json!({ "latency_ms": 150, "endpoints": ["GET /{id}"] }),
    )
    .await;
    let started = Instant::now();
    h.acme().get(&node(ACME_ADMIN_SU), &[]).await.assert_ok();
    // A lower bound only: the delay is at least what was asked.
    assert!(started.elapsed() >= Duration::from_millis(150));
    let faults = h.control_get("/faults").await;
    assert_eq!(faults["faults"]["latency_ms"], 150);
}

fn header_json(reply: &Reply, name: &str) -> Option<serde_json::Value> {
    reply
        .headers
        .get(name)
        .map(|v| serde_json::from_str(v.to_str().unwrap()).unwrap())
}

#[tokio::test]
async fn throttle_fails_the_next_calls_with_x_app_usage_only() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    h.control_post_ok(
        "/throttle",
        json!({ "code": 17, "calls": 2, "estimated_time_to_regain_access": 7 }),
    )
    .await;
    for _ in 0..2 {
        let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
        reply.assert_error_message(400, 17, Some(2_446_079), "(#17) User request limit reached");
        assert_eq!(reply.body["error"]["is_transient"], true);
        let app = header_json(&reply, "x-app-usage").unwrap();
        assert_eq!(app["call_count"], 100);
        // A user-level code says nothing about Business Use Case usage.
        assert!(
            reply.headers.get("x-business-use-case-usage").is_none(),
            "{:?}",
            reply.headers
        );
    }
    let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
    reply.assert_ok();
    // No usage header unless configured ("absence ≠ zero usage").
    assert!(reply.headers.get("x-app-usage").is_none());
}

#[tokio::test]
async fn app_level_throttles_leave_a_configured_buc_header_as_it_is() {
    let h = Harness::start().await;
    let configured =
        json!({ "type": "ads_insights", "call_count": 40, "total_time": 3, "total_cputime": 2 });
    for code in [4, 17, 32, 341, 613] {
        h.control_post(
            "/throttle",
            json!({ "code": code, "business_use_case_usage": configured }),
        )
        .await;
        let reply = h.acme().get(&node(ACME_ADMIN_SU), &[]).await;
        assert_eq!((reply.status, reply.code()), (400, code), "{}", reply.body);
        assert_eq!(
            header_json(&reply, "x-app-usage").unwrap()["call_count"],
            100
        );
        let buc = header_json(&reply, "x-business-use-case-usage").unwrap();
        assert_eq!(buc[ACME][0]["type"], "ads_insights", "code {code}");
        assert_eq!(buc[ACME][0]["call_count"], 40, "code {code}");
    }
}

#[tokio::test]
async fn buc_throttles_add_only_business_use_case_usage_with_the_estimate() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    h.control_post_ok(
        "/throttle",
        json!({ "code": 80_004, "calls": 2, "estimated_time_to_regain_access": 7 }),
    )
    .await;
    let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
    reply.assert_error(400, 80_004, None);
    let buc = header_json(&reply, "x-business-use-case-usage").unwrap();
    let entry = &buc[ACME][0];
    assert_eq!(entry["estimated_time_to_regain_access"], 7);
    assert_eq!(entry["type"], "ads_management");
    assert_eq!(entry["call_count"], 100);
    assert!(entry["total_cputime"].is_u64() && entry["total_time"].is_u64());
    // A Business Use Case code says nothing about app usage.
    assert!(
        reply.headers.get("x-app-usage").is_none(),
        "{:?}",
        reply.headers
    );
    // A configured X-App-Usage is sent as configured, not at 100%.
    h.control_post(
        "/throttle",
        json!({ "code": 80_000, "app_usage": { "call_count": 30, "total_time": 5, "total_cputime": 4 } }),
    )
    .await;
    let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
    reply.assert_error(400, 80_000, None);
    assert_eq!(
        header_json(&reply, "x-app-usage").unwrap(),
        json!({ "call_count": 30, "total_time": 5, "total_cputime": 4 })
    );
    let buc = header_json(&reply, "x-business-use-case-usage").unwrap();
    assert_eq!(buc[ACME][0]["type"], "ads_insights");
    assert_eq!(buc[ACME][0]["call_count"], 100);
}

#[tokio::test]
async fn each_throttle_code_has_its_message() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let cases = [
        (4, Some(1_504_022), "(#4) Application request limit reached"),
        (
            613,
            Some(1_487_742),
            "(#613) Calls to this api have exceeded the rate limit.",
        ),
        (
            80_004,
            None,
            "(#80004) There have been too many calls to this ad-account.",
        ),
    ];
    for (code, subcode, message) in cases {
        h.control_post("/throttle", json!({ "code": code })).await;
        let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
        reply.assert_error(400, code, subcode);
        assert!(reply.message().starts_with(message), "{}", reply.message());
        acme_admin.get(&node(ACME_ADMIN_SU), &[]).await.assert_ok();
    }
    h.control_refused("/throttle", json!({ "code": 190 }), 400)
        .await;
}

#[tokio::test]
async fn throttles_hit_batch_items_one_by_one() {
    let h = Harness::start().await;
    h.control_post("/throttle", json!({ "code": 80_004, "calls": 2 }))
        .await;
    let ops = json!([
        { "method": "GET", "relative_url": ACME_ADMIN_SU },
        { "method": "GET", "relative_url": ACME_ADMIN_SU },
        { "method": "GET", "relative_url": ACME_ADMIN_SU },
    ])
    .to_string();
    let reply = h.acme().post("", &[("batch", &ops)]).await;
    assert_eq!(batch_codes(reply.assert_ok()), [400, 400, 200]);
    let headers = reply.body[0]["headers"].as_array().unwrap();
    assert!(
        headers
            .iter()
            .any(|h| h["name"] == "X-Business-Use-Case-Usage")
    );
}

#[tokio::test]
async fn usage_headers_can_be_set_for_normal_calls() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    h.control_post(
        "/throttle",
        json!({
            "app_usage": { "call_count": 80, "total_time": 12, "total_cputime": 9 },
            "business_use_case_usage": { "type": "ads_management", "call_count": 76, "total_time": 5, "total_cputime": 4 },
        }),
    )
    .await;
    let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
    reply.assert_ok();
    assert_eq!(
        header_json(&reply, "x-app-usage").unwrap(),
        json!({ "call_count": 80, "total_time": 12, "total_cputime": 9 })
    );
    let buc = header_json(&reply, "x-business-use-case-usage").unwrap();
    assert_eq!(buc[ACME][0]["call_count"], 76);
    assert_eq!(buc[ACME][0]["ads_api_access_tier"], "standard_access");
    h.control_delete("/throttle").await;
    let reply = acme_admin.get(&node(ACME_ADMIN_SU), &[]).await;
    assert!(reply.headers.get("x-app-usage").is_none());
}

#[tokio::test]
async fn drift_revoke_by_fingerprint() {
    let (h, id, token) = Harness::with_token().await;
    let fingerprint = graphform_types::fingerprint(&token);
    h.control_post_ok(
        "/drift/revoke",
        json!({ "fingerprint": fingerprint.as_str() }),
    )
    .await;
    h.reporting(&token)
        .get(&node(&id), &[])
        .await
        .assert_error(400, 190, Some(467));
    let state = h.control_get("/state").await;
    let entry = &state["tokens"][fingerprint.as_str()];
    assert_eq!(entry["valid"], false);
    assert_eq!(entry["status"], "revoked");
    assert!(entry["why"].as_str().unwrap().contains("out of band"));
    let unknown = json!({ "fingerprint": "sha256:000000000000" });
    h.control_refused("/drift/revoke", unknown, 404).await;
}

#[tokio::test]
async fn state_lists_everything_without_secrets() {
    let (h, id, token) = Harness::with_token().await;
    let state = h.control_get("/state").await;
    let text = state.to_string();
    for secret in [
        REPORTING_SECRET,
        PUBLISHER_SECRET,
        ACME_ADMIN_TOKEN,
        ADA_TOKEN,
        token.as_str(),
    ] {
        assert!(!text.contains(secret), "state leaks a secret");
    }
    assert_eq!(state["now"], T0);
    assert_eq!(state["businesses"].as_array().unwrap().len(), 4);
    assert!(
        state["apps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a.get("secret").is_none())
    );
    assert!(
        state["system_users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str())
    );
    assert!(
        state["installs"]
            .as_array()
            .unwrap()
            .contains(&json!({ "system_user_id": id, "app_id": REPORTING }))
    );
    let fingerprint = graphform_types::fingerprint(&token);
    assert_eq!(
        state["tokens"][fingerprint.as_str()],
        json!({
            "fingerprint": fingerprint.as_str(),
            "type": "SYSTEM_USER",
            "app_id": REPORTING,
            "system_user_id": id,
            "scopes": ["ads_read"],
            "issued_at": T0,
            "expires_at": T0 + 60 * DAY,
            "valid": true,
            "status": "valid",
            "why": null,
            "origin": "issued",
            "refreshed_from": null,
        })
    );
    h.advance(60 * DAY).await;
    let state = h.control_get("/state").await;
    assert_eq!(state["tokens"][fingerprint.as_str()]["status"], "expired");
}

#[tokio::test]
async fn counters_count_http_requests_and_api_calls_by_endpoint() {
    let h = Harness::start().await;
    h.control_post("/counters/reset", json!({})).await;
    h.acme().get(&system_users(ACME), &[]).await;
    h.anonymous().get(&system_users(ACME), &[]).await;
    h.debug_token("x", &app_token(REPORTING, REPORTING_SECRET))
        .await;
    let counters = h.control_get("/counters").await;
    assert_eq!(
        counters,
        json!({
            "http_requests": 3,
            "api_calls": 3,
            "batch_requests": 0,
            "by_endpoint": { "GET /{business-id}/system_users": 2, "GET /debug_token": 1 },
            "injected_faults": 0,
            "injected_faults_by_endpoint": {},
        })
    );
    // The Rust view is the same.
    assert_eq!(
        serde_json::to_value(h.emulator.counters()).unwrap(),
        counters
    );
    let (_, reset) = h.control_post("/counters/reset", json!({})).await;
    assert_eq!(reset["api_calls"], 0);
}

#[tokio::test]
async fn credentials_route_gives_the_world_credentials() {
    let h = Harness::start().await;
    let credentials = h.control_get("/credentials").await;
    assert_eq!(credentials["base_url"], h.base.as_str());
    assert_eq!(credentials["env"]["ACME_ADMIN_TOKEN"], ACME_ADMIN_TOKEN);
    assert_eq!(credentials["env"]["REPORTING_APP_SECRET"], REPORTING_SECRET);
}

#[tokio::test]
async fn quirks_switch_on_the_documented_variants_of_refresh_and_revoke() {
    let h = Harness::start().await;
    let off = json!({ "omit_expires_in": false, "revoke_success_as_string": false });
    assert_eq!(h.control_get("/quirks").await, off);
    let body = h
        .control_post_ok(
            "/quirks",
            json!({ "omit_expires_in": true, "revoke_success_as_string": true }),
        )
        .await;
    assert_eq!(
        body,
        json!({ "omit_expires_in": true, "revoke_success_as_string": true })
    );
    assert_eq!(h.control_get("/quirks").await, body);

    let id = h.employee("ci").await;
    let old = h.reporting_token(&id, "ads_read", true).await;
    // The refresh answer lacks `expires_in` (graph-api.md §3, field report).
    let reply = h.exchange(REPORTING, REPORTING_SECRET, &old, &[]).await;
    let body = reply.assert_ok().clone();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["access_token", "token_type"]
    );
    let new = body["access_token"].as_str().unwrap().to_owned();
    // The token still expires in 60 days: only the answer changed.
    let data = h.debug(REPORTING, REPORTING_SECRET, &new).await;
    assert_eq!(data["expires_at"], T0 + 60 * DAY);
    // Revoke answers the documented string form.
    let revoke = [
        ("client_id", REPORTING),
        ("client_secret", REPORTING_SECRET),
        ("revoke_token", old.as_str()),
    ];
    let reply = h.reporting(&new).get("/oauth/revoke", &revoke).await;
    assert_eq!(reply.assert_ok(), &json!({ "success": "true" }));
    // Other `{"success":true}` answers are unaffected.
    h.install(&acme(), &id, REPORTING).await;

    // A POST replaces the set: what it leaves out is off.
    let (_, body) = h
        .control_post("/quirks", json!({ "omit_expires_in": true }))
        .await;
    assert_eq!(
        body,
        json!({ "omit_expires_in": true, "revoke_success_as_string": false })
    );
    // DELETE turns every quirk off.
    assert_eq!(h.control_delete("/quirks").await, off);
    let reply = h.exchange(REPORTING, REPORTING_SECRET, &new, &[]).await;
    assert_eq!(reply.assert_ok()["expires_in"], 60 * DAY);
    // Unknown quirks are refused.
    h.control_refused("/quirks", json!({ "typo": true }), 400)
        .await;
}
