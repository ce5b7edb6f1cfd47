//! graph-api.md §5-§6 and the emulator notes: tokens, `appsecret_proof`
//! in both forms, parameter sources, versions, the error envelope.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn missing_token_is_104_and_unknown_token_is_190() {
    let h = Harness::start().await;
    let reply = h.anonymous().get(&system_users(ACME), &[]).await;
    reply.assert_error_message(
        400,
        104,
        None,
        "An access token is required to request this resource.",
    );
    let reply = h
        .reporting("EAAunknown")
        .get(&system_users(ACME), &[])
        .await;
    reply.assert_error(400, 190, None);
    assert_eq!(reply.body["error"]["type"], "OAuthException");
}

#[tokio::test]
async fn missing_and_wrong_appsecret_proof_have_the_real_messages() {
    let h = Harness::start().await;
    let missing = "API calls from the server require an appsecret_proof argument";
    // Mixing one app's token with another app's secret (facebook-node-sdk#111).
    let mixed = proof(PUBLISHER_SECRET, ACME_ADMIN_TOKEN);
    // Upper-case hex is not the documented form.
    let upper = proof(REPORTING_SECRET, ACME_ADMIN_TOKEN).to_uppercase();
    for (appsecret_proof, message) in [
        (None, missing),
        (Some("00ff"), INVALID_PROOF),
        (Some(mixed.as_str()), INVALID_PROOF),
        (Some(upper.as_str()), INVALID_PROOF),
    ] {
        let mut params = vec![("access_token", ACME_ADMIN_TOKEN)];
        params.extend(appsecret_proof.map(|p| ("appsecret_proof", p)));
        let reply = h.anonymous().get(&system_users(ACME), &params).await;
        reply.assert_error_message(400, 100, None, message);
        assert_eq!(reply.body["error"]["type"], "GraphMethodException");
    }
}

/// Acme's admin token with this `appsecret_proof` and `appsecret_time`.
fn proof_at<'a>(appsecret_proof: &'a str, time: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("access_token", ACME_ADMIN_TOKEN),
        ("appsecret_proof", appsecret_proof),
        ("appsecret_time", time),
    ]
}

#[tokio::test]
async fn timestamped_proof_works_for_five_minutes_of_emulator_time() {
    let h = Harness::start().await;
    let path = system_users(ACME);
    let time = T0.to_string();
    let timed = timed_proof(REPORTING_SECRET, ACME_ADMIN_TOKEN, T0);
    let params = proof_at(&timed, &time);
    h.anonymous().get(&path, &params).await.assert_ok();
    h.advance(300).await;
    h.anonymous().get(&path, &params).await.assert_ok();
    h.advance(1).await;
    let expired = h.anonymous().get(&path, &params).await;
    expired.assert_error_message(400, 100, None, INVALID_PROOF);
    // The plain proof with an appsecret_time does not match the time form.
    let now = (T0 + 301).to_string();
    let plain = proof(REPORTING_SECRET, ACME_ADMIN_TOKEN);
    h.anonymous()
        .get(&path, &proof_at(&plain, &now))
        .await
        .assert_error(400, 100, None);
}

#[tokio::test]
async fn token_may_come_in_a_bearer_or_oauth_header() {
    let h = Harness::start().await;
    let proof = proof(REPORTING_SECRET, ACME_ADMIN_TOKEN);
    for scheme in ["Bearer", "OAuth"] {
        let authorization = format!("{scheme} {ACME_ADMIN_TOKEN}");
        let params = [("appsecret_proof", proof.as_str())];
        h.get_authorized(&system_users(ACME), &authorization, &params)
            .await
            .assert_ok();
    }
}

#[tokio::test]
async fn params_come_from_query_form_or_json() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let path = system_users(ACME);
    // Query string on a POST.
    let mut query = acme().params();
    query.push(("name".into(), "from-query".into()));
    Harness::send(h.http.post(h.url(&path)).query(&query))
        .await
        .assert_ok();
    // Form body.
    acme_admin
        .post(&path, &[("name", "from-form")])
        .await
        .assert_ok();
    // JSON body, with the SDK's JSON-encoded list and boolean.
    let body = json!({ "name": "from-json", "role": "EMPLOYEE" });
    let id = acme_admin.post_json(&path, body).await.string("id");
    h.install(&acme(), &id, REPORTING).await;
    let issue = json!({
        "business_app": REPORTING,
        "scope": ["ads_read", "read_insights"],
        "set_token_expires_in_60_days": true,
    });
    let token = acme_admin
        .post_json(&access_tokens(&id), issue)
        .await
        .string("access_token");
    let data = h.debug(REPORTING, REPORTING_SECRET, &token).await;
    assert_eq!(data["scopes"], json!(["ads_read", "read_insights"]));
    assert_eq!(data["expires_at"], T0 + 60 * DAY);
    let list = acme_admin.get(&path, &[("summary", "total_count")]).await;
    assert_eq!(list.body["summary"]["total_count"], 4);
    // A malformed JSON body is a 100.
    let malformed = h
        .http
        .post(h.url(&path))
        .header("Content-Type", "application/json")
        .body("{not json");
    Harness::send(malformed).await.assert_error(400, 100, None);
}

#[tokio::test]
async fn any_version_prefix_and_no_prefix_are_served() {
    let h = Harness::start().await;
    let query = acme().params();
    for prefix in ["/v26.0", "/v25.0", "/v2.10", ""] {
        let url = format!("{}{prefix}/{ACME}/system_users", h.base);
        let reply = Harness::send(h.http.get(&url).query(&query)).await;
        reply.assert_ok();
        let version = reply.headers.get("facebook-api-version");
        if prefix.is_empty() {
            assert!(version.is_none());
        } else {
            assert_eq!(version.unwrap(), &prefix[1..]);
        }
    }
    // `v26` is not a version: it is read as an object ID.
    let url = format!("{}/v26/{ACME}/system_users", h.base);
    Harness::send(h.http.get(&url).query(&query))
        .await
        .assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn error_envelope_and_content_type() {
    let h = Harness::start().await;
    let reply = h.acme().get("/999999999999999", &[]).await;
    assert_eq!(
        reply.headers["content-type"],
        "application/json; charset=UTF-8"
    );
    let error = reply.body["error"].as_object().unwrap();
    let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "fbtrace_id", "is_transient", "message", "type"]
    );
    let trace = error["fbtrace_id"].as_str().unwrap();
    assert_eq!(trace.len(), 11);
}

#[tokio::test]
async fn app_tokens_cannot_manage_business_objects() {
    let h = Harness::start().await;
    let app = app_token(REPORTING, REPORTING_SECRET);
    h.anonymous()
        .get(&system_users(ACME), &[("access_token", &app)])
        .await
        .assert_error(403, 200, None);
}
