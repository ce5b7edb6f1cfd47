//! graph-api.md §5-§6 and the emulator notes: tokens, `appsecret_proof`
//! in both forms, parameter sources, versions, the error envelope.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn missing_token_is_104_and_unknown_token_is_190() {
    let h = Harness::start().await;
    let reply = h.get(&system_users(ACME), None, &[]).await;
    reply.assert_error_message(
        400,
        104,
        None,
        "An access token is required to request this resource.",
    );
    let reply = h
        .caller(&reporting_caller("EAAunknown"))
        .get(&system_users(ACME), &[])
        .await;
    reply.assert_error(400, 190, None);
    assert_eq!(reply.body["error"]["type"], "OAuthException");
    h.stop().await;
}

#[tokio::test]
async fn missing_and_wrong_appsecret_proof_have_the_real_messages() {
    let h = Harness::start().await;
    let path = format!("/{ACME}/system_users");
    let missing = h
        .get(&path, None, &[("access_token", ACME_ADMIN_TOKEN)])
        .await;
    missing.assert_error_message(
        400,
        100,
        None,
        "API calls from the server require an appsecret_proof argument",
    );
    assert_eq!(missing.body["error"]["type"], "GraphMethodException");

    let wrong = h
        .get(
            &path,
            None,
            &[
                ("access_token", ACME_ADMIN_TOKEN),
                ("appsecret_proof", "00ff"),
            ],
        )
        .await;
    wrong.assert_error_message(
        400,
        100,
        None,
        "Invalid appsecret_proof provided in the API argument",
    );
    assert_eq!(wrong.body["error"]["type"], "GraphMethodException");

    // Mixing one app's token with another app's secret (facebook-node-sdk#111).
    let mixed = h
        .get(
            &path,
            Some(&Creds::new(ACME_ADMIN_TOKEN, PUBLISHER_SECRET)),
            &[],
        )
        .await;
    assert_eq!(
        mixed.message(),
        "Invalid appsecret_proof provided in the API argument"
    );
    // Upper-case hex is not the documented form.
    let upper = proof(REPORTING_SECRET, ACME_ADMIN_TOKEN).to_uppercase();
    h.get(
        &path,
        None,
        &[
            ("access_token", ACME_ADMIN_TOKEN),
            ("appsecret_proof", &upper),
        ],
    )
    .await
    .assert_error(400, 100, None);
    h.stop().await;
}

#[tokio::test]
async fn timestamped_proof_works_for_five_minutes_of_emulator_time() {
    let h = Harness::start().await;
    let path = format!("/{ACME}/system_users");
    let time = T0.to_string();
    let timed = proof(REPORTING_SECRET, &format!("{ACME_ADMIN_TOKEN}|{time}"));
    let params = [
        ("access_token", ACME_ADMIN_TOKEN),
        ("appsecret_proof", timed.as_str()),
        ("appsecret_time", time.as_str()),
    ];
    h.get(&path, None, &params).await.assert_ok();
    h.advance(300).await;
    h.get(&path, None, &params).await.assert_ok();
    h.advance(1).await;
    let expired = h.get(&path, None, &params).await;
    expired.assert_error_message(
        400,
        100,
        None,
        "Invalid appsecret_proof provided in the API argument",
    );
    // The plain proof with an appsecret_time does not match the time form.
    let now = (T0 + 301).to_string();
    let plain = proof(REPORTING_SECRET, ACME_ADMIN_TOKEN);
    h.get(
        &path,
        None,
        &[
            ("access_token", ACME_ADMIN_TOKEN),
            ("appsecret_proof", &plain),
            ("appsecret_time", &now),
        ],
    )
    .await
    .assert_error(400, 100, None);
    h.stop().await;
}

#[tokio::test]
async fn token_may_come_in_a_bearer_or_oauth_header() {
    let h = Harness::start().await;
    let proof = proof(REPORTING_SECRET, ACME_ADMIN_TOKEN);
    for scheme in ["Bearer", "OAuth"] {
        let response = h
            .http
            .get(h.url(&system_users(ACME)))
            .query(&[("appsecret_proof", proof.as_str())])
            .header("Authorization", format!("{scheme} {ACME_ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        Harness::reply(response).await.assert_ok();
    }
    h.stop().await;
}

#[tokio::test]
async fn params_come_from_query_form_or_json() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let path = format!("/{ACME}/system_users");
    // Query string on a POST.
    let mut query = acme().params();
    query.push(("name".into(), "from-query".into()));
    let response = h
        .http
        .post(h.url(&path))
        .query(&query)
        .send()
        .await
        .unwrap();
    Harness::reply(response).await.assert_ok();
    // Form body.
    acme_admin
        .post(&path, &[("name", "from-form")])
        .await
        .assert_ok();
    // JSON body, with the SDK's JSON-encoded list and boolean.
    let mut body = json!({ "name": "from-json", "role": "EMPLOYEE" });
    for (key, value) in acme().params() {
        body[key] = json!(value);
    }
    let response = h.http.post(h.url(&path)).json(&body).send().await.unwrap();
    let id = Harness::reply(response).await.string("id");
    h.install(&acme(), &id, REPORTING).await;
    let mut issue = json!({
        "business_app": REPORTING,
        "scope": ["ads_read", "read_insights"],
        "set_token_expires_in_60_days": true,
    });
    for (key, value) in acme().params() {
        issue[key] = json!(value);
    }
    let response = h
        .http
        .post(h.url(&access_tokens(&id)))
        .json(&issue)
        .send()
        .await
        .unwrap();
    let token = Harness::reply(response).await.string("access_token");
    let data = h.debug(REPORTING, REPORTING_SECRET, &token).await;
    assert_eq!(data["scopes"], json!(["ads_read", "read_insights"]));
    assert_eq!(data["expires_at"], T0 + 60 * DAY);
    let list = acme_admin.get(&path, &[("summary", "total_count")]).await;
    assert_eq!(list.body["summary"]["total_count"], 4);
    // A malformed JSON body is a 100.
    let response = h
        .http
        .post(h.url(&path))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    Harness::reply(response).await.assert_error(400, 100, None);
    h.stop().await;
}

#[tokio::test]
async fn any_version_prefix_and_no_prefix_are_served() {
    let h = Harness::start().await;
    let query = acme().params();
    for prefix in ["/v26.0", "/v25.0", "/v2.10", ""] {
        let url = format!("{}{prefix}/{ACME}/system_users", h.base);
        let response = h.http.get(&url).query(&query).send().await.unwrap();
        let version = response.headers().get("facebook-api-version").cloned();
        Harness::reply(response).await.assert_ok();
        if prefix.is_empty() {
            assert!(version.is_none());
        } else {
            assert_eq!(version.unwrap(), &prefix[1..]);
        }
    }
    // `v26` is not a version: it is read as an object ID.
    let url = format!("{}/v26/{ACME}/system_users", h.base);
    let response = h.http.get(&url).query(&query).send().await.unwrap();
    Harness::reply(response)
        .await
        .assert_error(400, 100, Some(33));
    h.stop().await;
}

#[tokio::test]
async fn error_envelope_and_content_type() {
    let h = Harness::start().await;
    let response = h
        .http
        .get(h.url("/999999999999999"))
        .query(&acme().params())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=UTF-8"
    );
    let reply = Harness::reply(response).await;
    let error = reply.body["error"].as_object().unwrap();
    let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "fbtrace_id", "is_transient", "message", "type"]
    );
    let trace = error["fbtrace_id"].as_str().unwrap();
    assert_eq!(trace.len(), 11);
    h.stop().await;
}

#[tokio::test]
async fn app_tokens_cannot_manage_business_objects() {
    let h = Harness::start().await;
    let reply = h
        .get(
            &system_users(ACME),
            None,
            &[("access_token", &app_token(REPORTING, REPORTING_SECRET))],
        )
        .await;
    reply.assert_error(403, 200, None);
    h.stop().await;
}
