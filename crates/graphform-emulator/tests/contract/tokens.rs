//! graph-api.md §2-§3: installing apps, issuing tokens, invalidating all
//! tokens, and tokens dying by expiry or uninstall.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn install_is_idempotent_and_listed() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let id = h.create_system_user(&acme(), ACME, "ci", "EMPLOYEE").await;
    h.install(&acme(), &id, REPORTING).await;
    h.install(&acme(), &id, REPORTING).await;
    h.install(&acme(), &id, PUBLISHER).await;
    let reply = acme_admin
        .get(&format!("/{id}/assigned_applications"), &[])
        .await;
    let ids = strings(&reply.assert_ok()["data"], "id");
    assert_eq!(ids, [REPORTING, PUBLISHER]);
    let owned = acme_admin.get(&format!("/{ACME}/owned_apps"), &[]).await;
    assert_eq!(owned.assert_ok()["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn install_requires_an_app_of_the_same_business() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let id = h.create_system_user(&acme(), ACME, "ci", "EMPLOYEE").await;
    let reply = acme_admin
        .post(&applications(&id), &[("business_app", GLOBEX_APP)])
        .await;
    reply.assert_error(400, 100, None);
    acme_admin
        .post(&applications(&id), &[])
        .await
        .assert_error(400, 100, None);
    // A caller of another business does not see the system user at all.
    h.caller(&globex())
        .post(&applications(&id), &[("business_app", GLOBEX_APP)])
        .await
        .assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn issue_needs_the_app_installed_first() {
    let h = Harness::start().await;
    let acme_admin = h.acme();
    let id = h.create_system_user(&acme(), ACME, "ci", "EMPLOYEE").await;
    let params = [("business_app", REPORTING), ("scope", "ads_read")];
    let reply = acme_admin.post(&access_tokens(&id), &params).await;
    reply.assert_error(400, 100, None);
    assert!(
        reply.message().contains("must be installed"),
        "{}",
        reply.message()
    );
    h.install(&acme(), &id, REPORTING).await;
    let reply = acme_admin.post(&access_tokens(&id), &params).await;
    let token = reply.assert_ok()["access_token"].as_str().unwrap();
    assert_eq!(reply.body.as_object().unwrap().len(), 1);
    assert!(token.starts_with("EAA"));
}

#[tokio::test]
async fn tokens_look_real() {
    let (h, id) = Harness::with_employee("ci").await;
    let mut lengths = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let token = h.reporting_token(&id, "ads_read", true).await;
        assert!(token.starts_with("EAA"), "{token}");
        assert!((150..=250).contains(&token.len()), "{}", token.len());
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        lengths.insert(token.len());
    }
    assert!(lengths.len() > 5, "{lengths:?}");
}

#[tokio::test]
async fn scope_is_csv_or_json_and_checked() {
    let (h, id) = Harness::with_employee("ci").await;
    let acme_admin = h.acme();
    let csv = h
        .reporting_token(&id, "ads_read, read_insights", false)
        .await;
    let json_list = h
        .issue(
            &acme(),
            &id,
            REPORTING,
            r#"["ads_read","read_insights"]"#,
            false,
        )
        .await;
    for token in [&csv, &json_list] {
        let data = h.debug(REPORTING, REPORTING_SECRET, token).await;
        assert_eq!(data["scopes"], json!(["ads_read", "read_insights"]));
    }
    let bad = acme_admin
        .post(
            &access_tokens(&id),
            &[("business_app", REPORTING), ("scope", "ads_read,ads_reed")],
        )
        .await;
    bad.assert_error_message(
        400,
        3962,
        None,
        "Provided permission is not valid. Check your spelling and syntax.",
    );
    // Deprecated and capability-gated permissions are refused too.
    for scope in ["publish_actions", "business_creative_management"] {
        acme_admin
            .post(
                &access_tokens(&id),
                &[("business_app", REPORTING), ("scope", scope)],
            )
            .await
            .assert_error(400, 3962, None);
    }
}

#[tokio::test]
async fn issue_without_scope_gives_a_token_with_no_scopes() {
    let (h, id) = Harness::with_employee("ci").await;
    let acme_admin = h.acme();
    // graph-api.md §3: only `business_app` is required; `scope` may be
    // absent, empty, or an empty list.
    for params in [
        vec![("business_app", REPORTING)],
        vec![("business_app", REPORTING), ("scope", "")],
        vec![("business_app", REPORTING), ("scope", "[]")],
    ] {
        let reply = acme_admin.post(&access_tokens(&id), &params).await;
        let token = reply.assert_ok()["access_token"].as_str().unwrap();
        let data = h.debug(REPORTING, REPORTING_SECRET, token).await;
        assert_eq!(data["is_valid"], true, "{params:?}");
        assert_eq!(data["scopes"], json!([]), "{params:?}");
        assert_eq!(data["granular_scopes"], json!([]), "{params:?}");
        // The token works for calls that need no permission.
        h.reporting(token).get(&node(&id), &[]).await.assert_ok();
    }
    // `business_app` is still required.
    acme_admin
        .post(&access_tokens(&id), &[("scope", "ads_read")])
        .await
        .assert_error(400, 100, None);
}

#[tokio::test]
async fn sixty_day_tokens_expire_and_permanent_ones_do_not() {
    let (h, id) = Harness::with_employee("ci").await;
    for flag in ["true", "1"] {
        let reply = h
            .acme()
            .post(
                &access_tokens(&id),
                &[
                    ("business_app", REPORTING),
                    ("scope", "ads_read"),
                    ("set_token_expires_in_60_days", flag),
                ],
            )
            .await;
        let token = reply.string("access_token");
        let data = h.debug(REPORTING, REPORTING_SECRET, &token).await;
        assert_eq!(data["expires_at"], T0 + 60 * DAY);
        assert_eq!(data["issued_at"], T0);
    }
    let permanent = h.reporting_token(&id, "ads_read", false).await;
    let expiring = h.reporting_token(&id, "ads_read", true).await;
    assert_eq!(
        h.debug(REPORTING, REPORTING_SECRET, &permanent).await["expires_at"],
        0
    );

    // One second before expiry it works; at expiry it is 190/463.
    h.advance(60 * DAY - 1).await;
    let caller = h.reporting(&expiring);
    caller.get(&node(&id), &[]).await.assert_ok();
    h.advance(1).await;
    let reply = caller.get(&node(&id), &[]).await;
    reply.assert_error_message(
        400,
        190,
        Some(463),
        "Error validating access token: Session has expired on Sunday, 01-Mar-26 16:00:00 PST. \
         The current time is Sunday, 01-Mar-26 16:00:00 PST.",
    );
    assert_eq!(reply.body["error"]["type"], "OAuthException");
    h.reporting(&permanent)
        .get(&node(&id), &[])
        .await
        .assert_ok();
}

#[tokio::test]
async fn businesses_that_require_expiring_tokens_refuse_permanent_ones() {
    let h = Harness::start().await;
    let strict = Creds::new(STRICT_ADMIN_TOKEN, STRICT_SECRET);
    let path = format!("/{STRICT_ADMIN_SU}/access_tokens");
    let base = [("business_app", STRICT_APP), ("scope", "ads_read")];
    h.caller(&strict)
        .post(&path, &base)
        .await
        .assert_error(400, 100, None);
    let mut expiring = base.to_vec();
    expiring.push(("set_token_expires_in_60_days", "false"));
    h.caller(&strict)
        .post(&path, &expiring)
        .await
        .assert_error(400, 100, None);
    expiring.pop();
    expiring.push(("set_token_expires_in_60_days", "true"));
    h.caller(&strict).post(&path, &expiring).await.assert_ok();
}

#[tokio::test]
async fn caller_and_system_user_must_share_a_business() {
    let (h, id) = Harness::with_employee("ci").await;
    let reply = h
        .caller(&globex())
        .post(
            &access_tokens(&id),
            &[("business_app", REPORTING), ("scope", "ads_read")],
        )
        .await;
    reply.assert_error(400, 100, Some(33));
    // An employee system user of the same business may issue.
    let worker = h.reporting_token(&id, "ads_read", true).await;
    h.issue(&reporting_caller(&worker), &id, REPORTING, "ads_read", true)
        .await;
}

#[tokio::test]
async fn invalidate_all_kills_every_token_of_the_user_with_460() {
    let (h, id, a) = Harness::with_token().await;
    let b = h.reporting_token(&id, "read_insights", false).await;
    let other = h.employee("other").await;
    let c = h.reporting_token(&other, "ads_read", true).await;

    let reply = h
        .acme()
        .call(Method::DELETE, &access_tokens(&id), &[])
        .await;
    assert_eq!(reply.assert_ok(), &json!({ "success": true }));
    for token in [&a, &b] {
        let reply = h.reporting(token).get(&node(&id), &[]).await;
        reply.assert_error(400, 190, Some(460));
        assert!(
            reply.message().contains("The session has been invalidated"),
            "{}",
            reply.message()
        );
        let data = h.debug(REPORTING, REPORTING_SECRET, token).await;
        assert_eq!(data["is_valid"], false);
        assert_eq!(data["error"]["subcode"], 460);
    }
    h.reporting(&c).get(&node(&other), &[]).await.assert_ok();
    // Issuing again works: the system user is not deleted.
    h.reporting_token(&id, "ads_read", true).await;
    // An employee cannot invalidate someone else's tokens.
    h.reporting(&c)
        .call(Method::DELETE, &access_tokens(&id), &[])
        .await
        .assert_error(403, 200, None);
}

#[tokio::test]
async fn uninstalling_the_app_kills_its_tokens_with_458() {
    let (h, id, reporting) = Harness::with_token().await;
    let publisher = h.publisher_token(&id).await;
    let body = h
        .control_post_ok(
            "/drift/uninstall",
            json!({ "system_user_id": id, "app_id": REPORTING }),
        )
        .await;
    assert_eq!(body, json!({ "success": true, "tokens_killed": 1 }));
    let reply = h.reporting(&reporting).get(&node(&id), &[]).await;
    reply.assert_error(400, 190, Some(458));
    assert_eq!(
        reply.message(),
        format!(
            "Error validating access token: User {id} has not authorized application {REPORTING}."
        )
    );
    h.caller(&Creds::new(&publisher, PUBLISHER_SECRET))
        .get(&node(&id), &[])
        .await
        .assert_ok();
    // Re-installing does not revive the old token; a new one can be issued.
    h.install(&acme(), &id, REPORTING).await;
    h.reporting(&reporting)
        .get(&node(&id), &[])
        .await
        .assert_error(400, 190, Some(458));
    h.reporting_token(&id, "ads_read", true).await;
    // Uninstalling what is not installed is a 404 of the control API.
    let not_installed = json!({ "system_user_id": id, "app_id": GLOBEX_APP });
    h.control_refused("/drift/uninstall", not_installed, 404)
        .await;
}
