//! graph-api.md §3: refresh by `fb_exchange_token` and `/oauth/revoke`.

use serde_json::json;

use crate::support::*;

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
    let old_caller = reporting_caller(&old);
    h.caller(&old_caller).get(&node(&id), &[]).await.assert_ok();
    h.advance(10 * DAY).await;
    h.caller(&old_caller)
        .get(&node(&id), &[])
        .await
        .assert_error(400, 190, Some(463));
    // … and cannot be refreshed once expired.
    refresh(&h, &old, REPORTING_SECRET)
        .await
        .assert_error(400, 190, Some(463));
    h.caller(&reporting_caller(&new))
        .get(&node(&id), &[])
        .await
        .assert_ok();
    let state = h.control_get("/state").await;
    let entry = state["tokens"]
        .as_object()
        .unwrap()
        .values()
        .find(|t| t["origin"] == "refreshed")
        .unwrap()
        .clone();
    assert!(
        entry["refreshed_from"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    h.stop().await;
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
    h.stop().await;
}

#[tokio::test]
async fn refresh_checks_client_credentials_and_the_token() {
    let (h, id) = Harness::with_employee("ci").await;
    let token = h.reporting_token(&id, "ads_read", true).await;
    let wrong_secret = refresh(&h, &token, "not-the-secret").await;
    wrong_secret.assert_error_message(400, 1, None, "Error validating client secret.");
    let unknown_app = h.exchange("999", "x", &token, &[]).await;
    unknown_app.assert_error(400, 101, None);
    refresh(&h, "EAAnotatoken", REPORTING_SECRET)
        .await
        .assert_error(400, 190, None);
    // A token of another app cannot be exchanged with this app's credentials.
    h.install(&acme(), &id, PUBLISHER).await;
    let publisher = h.issue(&acme(), &id, PUBLISHER, "ads_read", true).await;
    refresh(&h, &publisher, REPORTING_SECRET)
        .await
        .assert_error(400, 100, None);
    // POST is not the documented method.
    let post = h
        .post(
            "/oauth/access_token",
            None,
            &[("grant_type", "fb_exchange_token")],
        )
        .await;
    post.assert_error(400, 100, Some(33));
    h.stop().await;
}

#[tokio::test]
async fn client_credentials_grant_returns_the_app_token() {
    let h = Harness::start().await;
    let reply = h
        .get(
            "/oauth/access_token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", REPORTING),
                ("client_secret", REPORTING_SECRET),
            ],
        )
        .await;
    assert_eq!(
        reply.assert_ok(),
        &json!({ "access_token": app_token(REPORTING, REPORTING_SECRET), "token_type": "bearer" })
    );
    h.stop().await;
}

async fn revoke(h: &Harness, client_id: &str, secret: &str, target: &str, caller: &Creds) -> Reply {
    h.get(
        "/oauth/revoke",
        Some(caller),
        &[
            ("client_id", client_id),
            ("client_secret", secret),
            ("revoke_token", target),
        ],
    )
    .await
}

#[tokio::test]
async fn revoke_kills_the_token_at_once_with_467() {
    let (h, id) = Harness::with_employee("ci").await;
    let old = h.reporting_token(&id, "ads_read", true).await;
    let new = h.reporting_token(&id, "ads_read", true).await;
    // Revoke the old token with the replacement as the caller.
    let reply = revoke(
        &h,
        REPORTING,
        REPORTING_SECRET,
        &old,
        &reporting_caller(&new),
    )
    .await;
    assert_eq!(reply.assert_ok(), &json!({ "success": true }));
    let dead = h.caller(&reporting_caller(&old)).get(&node(&id), &[]).await;
    dead.assert_error(400, 190, Some(467));
    let data = h.debug(REPORTING, REPORTING_SECRET, &old).await;
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["error"]["code"], 190);
    assert_eq!(data["error"]["subcode"], 467);
    // A token may revoke itself.
    let caller = reporting_caller(&new);
    revoke(&h, REPORTING, REPORTING_SECRET, &new, &caller)
        .await
        .assert_ok();
    h.caller(&caller)
        .get(&node(&id), &[])
        .await
        .assert_error(400, 190, Some(467));
    let state = h.control_get("/state").await;
    let revoked = state["tokens"]
        .as_object()
        .unwrap()
        .values()
        .filter(|t| t["status"] == "revoked")
        .count();
    assert_eq!(revoked, 2);
    h.stop().await;
}

#[tokio::test]
async fn revoke_requires_one_app_for_client_target_and_caller() {
    let (h, id) = Harness::with_employee("ci").await;
    h.install(&acme(), &id, PUBLISHER).await;
    let reporting = h.reporting_token(&id, "ads_read", true).await;
    let publisher = h.issue(&acme(), &id, PUBLISHER, "ads_read", true).await;
    let publisher_caller = Creds::new(&publisher, PUBLISHER_SECRET);
    let reporting_caller = reporting_caller(&reporting);
    // Caller's app differs from client_id and the target's.
    revoke(
        &h,
        REPORTING,
        REPORTING_SECRET,
        &reporting,
        &publisher_caller,
    )
    .await
    .assert_error(400, 100, None);
    // Target's app differs.
    revoke(
        &h,
        REPORTING,
        REPORTING_SECRET,
        &publisher,
        &reporting_caller,
    )
    .await
    .assert_error(400, 100, None);
    // client_id differs from both.
    revoke(
        &h,
        PUBLISHER,
        PUBLISHER_SECRET,
        &reporting,
        &reporting_caller,
    )
    .await
    .assert_error(400, 100, None);
    // Wrong secret, unknown target, missing proof.
    revoke(&h, REPORTING, "wrong", &reporting, &reporting_caller)
        .await
        .assert_error(400, 1, None);
    revoke(
        &h,
        REPORTING,
        REPORTING_SECRET,
        "EAAnope",
        &reporting_caller,
    )
    .await
    .assert_error(400, 190, None);
    let no_proof = h
        .get(
            "/oauth/revoke",
            None,
            &[
                ("client_id", REPORTING),
                ("client_secret", REPORTING_SECRET),
                ("revoke_token", &reporting),
                ("access_token", &reporting),
            ],
        )
        .await;
    no_proof.assert_error(400, 100, None);
    // Nothing was revoked by the failures.
    h.caller(&reporting_caller)
        .get(&node(&id), &[])
        .await
        .assert_ok();
    h.caller(&publisher_caller)
        .get(&node(&id), &[])
        .await
        .assert_ok();
    h.stop().await;
}
