//! graph-api.md §3: refresh by `fb_exchange_token` and `/oauth/revoke`.

use serde_json::{Value, json};

use crate::support::*;

/// The tokens `GET /_emulator/state` lists.
async fn state_tokens(h: &Harness) -> Vec<Value> {
    let state = h.control_get("/state").await;
    state["tokens"]
        .as_object()
        .unwrap()
        .values()
        .cloned()
        .collect()
}

async fn refresh(h: &Harness, token: &str, secret: &str) -> Reply {
    h.exchange(
        REPORTING,
        secret,
        token,
        &[("set_token_expires_in_60_days", "true")],
    )
    .await
}

#[tokio::test]
async fn refresh_returns_a_new_bearer_token_and_the_old_one_lives_on() {
    let (h, id) = Harness::with_employee("ci").await;
    let old = h.reporting_token(&id, "ads_read,read_insights", true).await;
    h.advance(50 * DAY).await;
    let reply = refresh(&h, &old, REPORTING_SECRET).await;
    let body = reply.assert_ok().clone();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 60 * DAY);
    let new = body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(new.starts_with("EAA"));
    let data = h.debug(REPORTING, REPORTING_SECRET, &new).await;
    assert_eq!(data["issued_at"], T0 + 50 * DAY);
    assert_eq!(data["expires_at"], T0 + 110 * DAY);
    assert_eq!(data["scopes"], json!(["ads_read", "read_insights"]));
    assert_eq!(data["user_id"], id);

    // The old token works until its own expiry (creation + 60 days) …
    let old_caller = h.reporting(&old);
    old_caller.get(&node(&id), &[]).await.assert_ok();
    h.advance(10 * DAY).await;
    old_caller
        .get(&node(&id), &[])
        .await
        .assert_error(400, 190, Some(463));
    // … and cannot be refreshed once expired.
    refresh(&h, &old, REPORTING_SECRET)
        .await
        .assert_error(400, 190, Some(463));
    h.reporting(&new).get(&node(&id), &[]).await.assert_ok();
    let tokens = state_tokens(&h).await;
    let entry = tokens.iter().find(|t| t["origin"] == "refreshed").unwrap();
    let from = entry["refreshed_from"].as_str().unwrap();
    assert!(from.starts_with("sha256:"), "{from}");
}

#[tokio::test]
async fn exchanging_a_permanent_token_yields_a_sixty_day_token() {
    // graph-api.md §3 (INFERRED, mureo PR #744): the exchange turns a
    // never-expiring token into a 60-day one; the permanent one stays.
    let (h, id) = Harness::with_employee("ci").await;
    let permanent = h.reporting_token(&id, "ads_read", false).await;
    let reply = refresh(&h, &permanent, REPORTING_SECRET).await;
    let new = reply.string("access_token");
    assert_eq!(
        h.debug(REPORTING, REPORTING_SECRET, &new).await["expires_at"],
        T0 + 60 * DAY
    );
    let old = h.debug(REPORTING, REPORTING_SECRET, &permanent).await;
    assert_eq!(
        (old["expires_at"].clone(), old["is_valid"].clone()),
        (json!(0), json!(true))
    );
}

#[tokio::test]
async fn refresh_checks_client_credentials_and_the_token() {
    let (h, id, token) = Harness::with_token().await;
    let wrong_secret = refresh(&h, &token, "not-the-secret").await;
    wrong_secret.assert_error_message(400, 1, None, "Error validating client secret.");
    let unknown_app = h.exchange("999", "x", &token, &[]).await;
    unknown_app.assert_error(400, 101, None);
    refresh(&h, "EAAnotatoken", REPORTING_SECRET)
        .await
        .assert_error(400, 190, None);
    // A token of another app cannot be exchanged with this app's credentials.
    let publisher = h.publisher_token(&id).await;
    refresh(&h, &publisher, REPORTING_SECRET)
        .await
        .assert_error(400, 100, None);
    // POST is not the documented method.
    let post = h
        .anonymous()
        .post(
            "/oauth/access_token",
            &[("grant_type", "fb_exchange_token")],
        )
        .await;
    post.assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn client_credentials_grant_returns_the_app_token() {
    let h = Harness::start().await;
    let params = [
        ("grant_type", "client_credentials"),
        ("client_id", REPORTING),
        ("client_secret", REPORTING_SECRET),
    ];
    let reply = h.anonymous().get("/oauth/access_token", &params).await;
    assert_eq!(
        reply.assert_ok(),
        &json!({ "access_token": app_token(REPORTING, REPORTING_SECRET), "token_type": "bearer" })
    );
}

/// `reporting`'s client credentials: its ID and secret.
const REPORTING_CLIENT: (&str, &str) = (REPORTING, REPORTING_SECRET);

/// `GET /oauth/revoke` of `target` with the client credentials
/// `(client_id, client_secret)`, called by `caller`.
async fn revoke(h: &Harness, client: (&str, &str), target: &str, caller: &Creds) -> Reply {
    let params = [
        ("client_id", client.0),
        ("client_secret", client.1),
        ("revoke_token", target),
    ];
    h.caller(caller).get("/oauth/revoke", &params).await
}

#[tokio::test]
async fn revoke_kills_the_token_at_once_with_467() {
    let (h, id, old) = Harness::with_token().await;
    let new = h.reporting_token(&id, "ads_read", true).await;
    // Revoke the old token with the replacement as the caller.
    let caller = reporting_caller(&new);
    let reply = revoke(&h, REPORTING_CLIENT, &old, &caller).await;
    assert_eq!(reply.assert_ok(), &json!({ "success": true }));
    let dead = h.reporting(&old).get(&node(&id), &[]).await;
    dead.assert_error(400, 190, Some(467));
    let data = h.debug(REPORTING, REPORTING_SECRET, &old).await;
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["error"]["code"], 190);
    assert_eq!(data["error"]["subcode"], 467);
    // A token may revoke itself.
    revoke(&h, REPORTING_CLIENT, &new, &caller)
        .await
        .assert_ok();
    h.caller(&caller)
        .get(&node(&id), &[])
        .await
        .assert_error(400, 190, Some(467));
    let tokens = state_tokens(&h).await;
    let revoked = tokens.iter().filter(|t| t["status"] == "revoked").count();
    assert_eq!(revoked, 2);
}

#[tokio::test]
async fn revoke_requires_one_app_for_client_target_and_caller() {
    let (h, id, reporting) = Harness::with_token().await;
    let publisher = h.publisher_token(&id).await;
    let publisher_caller = Creds::new(&publisher, PUBLISHER_SECRET);
    let reporting_caller = reporting_caller(&reporting);
    for (client, target, caller, code) in [
        // Caller's app differs from client_id and the target's.
        (REPORTING_CLIENT, reporting.as_str(), &publisher_caller, 100),
        // Target's app differs.
        (REPORTING_CLIENT, &publisher, &reporting_caller, 100),
        // client_id differs from both.
        (
            (PUBLISHER, PUBLISHER_SECRET),
            &reporting,
            &reporting_caller,
            100,
        ),
        // Wrong secret, unknown target.
        ((REPORTING, "wrong"), &reporting, &reporting_caller, 1),
        (REPORTING_CLIENT, "EAAnope", &reporting_caller, 190),
    ] {
        let reply = revoke(&h, client, target, caller).await;
        reply.assert_error(400, code, None);
    }
    // Missing proof.
    let no_proof = [
        ("client_id", REPORTING),
        ("client_secret", REPORTING_SECRET),
        ("revoke_token", &reporting),
        ("access_token", &reporting),
    ];
    let reply = h.anonymous().get("/oauth/revoke", &no_proof).await;
    reply.assert_error(400, 100, None);
    // Nothing was revoked by the failures.
    h.caller(&reporting_caller)
        .get(&node(&id), &[])
        .await
        .assert_ok();
    h.caller(&publisher_caller)
        .get(&node(&id), &[])
        .await
        .assert_ok();
}
