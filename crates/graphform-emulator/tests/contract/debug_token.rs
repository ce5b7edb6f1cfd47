//! graph-api.md §4: `debug_token`.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn valid_system_user_token_has_the_documented_fields_and_types() {
    let (h, id) = Harness::with_employee("ci").await;
    let token = h
        .reporting_token(&id, "ads_read,read_insights", false)
        .await;
    let data = h.debug(REPORTING, REPORTING_SECRET, &token).await;
    assert_eq!(
        data,
        json!({
            "app_id": REPORTING,
            "type": "SYSTEM_USER",
            "application": "reporting",
            "data_access_expires_at": 0,
            "expires_at": 0,
            "is_valid": true,
            "issued_at": T0,
            "scopes": ["ads_read", "read_insights"],
            "granular_scopes": [{ "scope": "ads_read" }, { "scope": "read_insights" }],
            "user_id": id,
        })
    );
}

#[tokio::test]
async fn the_app_token_may_come_in_the_authorization_header() {
    let h = Harness::start().await;
    let bearer = format!("Bearer {}", app_token(REPORTING, REPORTING_SECRET));
    let params = [("input_token", ACME_ADMIN_TOKEN)];
    let reply = h.get_authorized("/debug_token", &bearer, &params).await;
    assert_eq!(reply.assert_ok()["data"]["user_id"], ACME_ADMIN_SU);
    assert_eq!(
        reply.body["data"]["scopes"],
        json!(["business_management", "ads_management"])
    );
}

#[tokio::test]
async fn a_system_user_token_cannot_call_debug_token() {
    let h = Harness::start().await;
    let reply = h
        .acme()
        .get("/debug_token", &[("input_token", ACME_ADMIN_TOKEN)])
        .await;
    reply.assert_error_message(
        400,
        100,
        None,
        "(#100) You must provide an app access token, or a user access token that is an owner or \
         developer of the app",
    );
}

#[tokio::test]
async fn post_debug_token_is_unsupported() {
    let h = Harness::start().await;
    let app = app_token(REPORTING, REPORTING_SECRET);
    let params = [("input_token", ACME_ADMIN_TOKEN), ("access_token", &app)];
    let reply = h.anonymous().post("/debug_token", &params).await;
    reply.assert_error(400, 100, Some(33));
    assert!(
        reply
            .message()
            .starts_with("Unsupported post request. Please read the Graph API documentation")
    );
}

#[tokio::test]
async fn dead_tokens_are_200_with_is_valid_false_and_an_error() {
    let (h, _, token) = Harness::with_token().await;
    h.advance(61 * DAY).await;
    let data = h.debug(REPORTING, REPORTING_SECRET, &token).await;
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["scopes"], json!([]));
    assert_eq!(data["expires_at"], T0 + 60 * DAY);
    assert_eq!(data["type"], "SYSTEM_USER");
    let error = &data["error"];
    assert_eq!(error["code"], 190);
    assert_eq!(error["subcode"], 463);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Error validating access token: Session has expired on")
    );
    assert!(error.get("error_subcode").is_none());

    // A token the emulator never issued.
    let data = h.debug(REPORTING, REPORTING_SECRET, "EAAnotatoken").await;
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["error"]["code"], 190);
}

#[tokio::test]
async fn debug_token_checks_its_app_token_and_parameters() {
    let h = Harness::start().await;
    // Wrong secret in the app token.
    let reply = h
        .debug_token(ACME_ADMIN_TOKEN, &app_token(REPORTING, "wrong"))
        .await;
    reply.assert_error(400, 190, None);
    // Another app's token.
    let reply = h
        .debug_token(ACME_ADMIN_TOKEN, &app_token(PUBLISHER, PUBLISHER_SECRET))
        .await;
    reply.assert_error(400, 100, None);
    // No input_token.
    let app = app_token(REPORTING, REPORTING_SECRET);
    h.anonymous()
        .get("/debug_token", &[("access_token", &app)])
        .await
        .assert_error(400, 100, None);
    // The app token itself.
    let data = h
        .debug(
            REPORTING,
            REPORTING_SECRET,
            &app_token(REPORTING, REPORTING_SECRET),
        )
        .await;
    assert_eq!(
        (data["type"].clone(), data["is_valid"].clone()),
        (json!("APP"), json!(true))
    );
    // A human admin's token is a USER token.
    let data = h.debug(REPORTING, REPORTING_SECRET, ADA_TOKEN).await;
    assert_eq!(data["type"], "USER");
    assert_eq!(data["user_id"], ADA);
}
