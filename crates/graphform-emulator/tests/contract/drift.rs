//! Drift (changes made out of band, e.g. in Business Manager) and the
//! inspection API an accounting check reads.

use graphform_emulator::{Error, StateSnapshot, TokenOrigin, TokenStatus};
use serde_json::{Value, json};

use crate::support::*;

/// Acme's system users, as `GET /{business-id}/system_users` lists them.
async fn acme_list(h: &Harness) -> Vec<Value> {
    let reply = h.acme().get(&system_users(ACME), &[]).await;
    reply.assert_ok()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn drift_rename_changes_what_graph_answers() {
    let h = Harness::start().await;
    let id = h.employee("old-name").await;
    let answer = h
        .control_post_ok(
            "/drift/rename",
            json!({ "system_user_id": id, "name": "renamed-in-bm" }),
        )
        .await;
    assert_eq!(
        answer,
        json!({ "success": true, "system_user_id": id, "name": "renamed-in-bm", "previous_name": "old-name" })
    );
    let node = h.acme().get(&node(&id), &[]).await;
    assert_eq!(node.assert_ok()["name"], "renamed-in-bm");
    let listed = json!({ "id": id, "name": "renamed-in-bm", "role": "EMPLOYEE" });
    assert!(acme_list(&h).await.contains(&listed));
    // From Rust, and seen in the inspection.
    assert_eq!(
        h.emulator.drift_rename(&id, "again").unwrap(),
        "renamed-in-bm"
    );
    assert_eq!(h.emulator.inspect().system_user(&id).unwrap().name, "again");
    // Unknown system user: 404; empty name: 400.
    let unknown = json!({ "system_user_id": "999999999999999", "name": "x" });
    h.control_refused("/drift/rename", unknown, 404).await;
    let empty = json!({ "system_user_id": id, "name": " " });
    h.control_refused("/drift/rename", empty, 400).await;
    assert!(matches!(
        h.emulator.drift_rename("999999999999999", "x"),
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn graph_rename_shows_in_the_list_and_the_inspection() {
    let (h, id) = Harness::with_employee("before").await;
    h.rename(&id, "after").await;
    let listed = json!({ "id": id, "name": "after", "role": "EMPLOYEE" });
    assert!(acme_list(&h).await.contains(&listed));
    let state = h.emulator.inspect();
    assert_eq!(state.system_user(&id).unwrap().name, "after");
    // Renaming needs a name.
    h.acme()
        .post(&system_users(ACME), &[("system_user_id", &id)])
        .await
        .assert_error(400, 100, None);
}

#[tokio::test]
async fn drift_invalidate_kills_every_token_of_the_system_user_with_460() {
    let (h, id) = Harness::with_employee("ci").await;
    let other = h.employee("other").await;
    let a = h.reporting_token(&id, "ads_read", true).await;
    let b = h.reporting_token(&id, "ads_read", false).await;
    let dead = h.reporting_token(&id, "ads_read", true).await;
    let kept = h.reporting_token(&other, "ads_read", true).await;
    h.emulator
        .drift_revoke(graphform_types::fingerprint(&dead).as_str())
        .unwrap();
    let answer = h
        .control_post_ok("/drift/invalidate", json!({ "system_user_id": id }))
        .await;
    assert_eq!(answer, json!({ "success": true, "tokens_killed": 2 }));
    for token in [&a, &b] {
        let reply = h.reporting(token).get(&node(&id), &[]).await;
        reply.assert_error(400, 190, Some(460));
    }
    let state = h.emulator.inspect();
    assert_eq!(state.valid_tokens_of(&id).count(), 0);
    let entry = state
        .token(graphform_types::fingerprint(&a).as_str())
        .unwrap();
    assert_eq!(entry.status, TokenStatus::Invalidated);
    assert!(entry.why.as_deref().unwrap().contains("out of band"));
    // The revoked one stays revoked; the other system user is untouched.
    assert_eq!(
        state
            .token(graphform_types::fingerprint(&dead).as_str())
            .unwrap()
            .status,
        TokenStatus::Revoked
    );
    assert_eq!(state.valid_tokens_of(&other).count(), 1);
    h.reporting(&kept).get(&node(&other), &[]).await.assert_ok();
    // New tokens can be issued afterwards; from Rust, the count is 1.
    h.reporting_token(&id, "ads_read", true).await;
    assert_eq!(h.emulator.drift_invalidate(&id).unwrap(), 1);
    let unknown = json!({ "system_user_id": "999999999999999" });
    h.control_refused("/drift/invalidate", unknown, 404).await;
}

#[tokio::test]
async fn drift_methods_mirror_revoke_and_uninstall() {
    let (h, id, token) = Harness::with_token().await;
    let fingerprint = graphform_types::fingerprint(&token);
    h.emulator.drift_revoke(fingerprint.as_str()).unwrap();
    assert_eq!(
        h.emulator
            .inspect()
            .token(fingerprint.as_str())
            .unwrap()
            .status,
        TokenStatus::Revoked
    );
    assert!(matches!(
        h.emulator.drift_revoke("sha256:000000000000"),
        Err(Error::NotFound { .. })
    ));
    h.reporting_token(&id, "ads_read", true).await;
    assert_eq!(h.emulator.drift_uninstall(&id, REPORTING).unwrap(), 1);
    assert!(matches!(
        h.emulator.drift_uninstall(&id, REPORTING),
        Err(Error::NotFound { .. })
    ));
    let state = h.emulator.inspect();
    assert_eq!(state.tokens_of(&id).count(), 2);
    assert_eq!(state.valid_tokens_of(&id).count(), 0);
    assert!(
        state
            .tokens_of(&id)
            .any(|t| t.status == TokenStatus::AppUninstalled)
    );
}

#[tokio::test]
async fn inspect_lists_every_token_for_an_accounting_check() {
    let (h, id, first) = Harness::with_token().await;
    let refreshed = h.exchange(REPORTING, REPORTING_SECRET, &first, &[]).await;
    let second = refreshed.string("access_token");
    let state = h.emulator.inspect();
    // Every token, in the order they came to be: the world's four, then
    // the issued and the refreshed one.
    assert_eq!(state.tokens.len(), 6);
    let fingerprints: Vec<&str> = state
        .valid_tokens_of(&id)
        .map(|t| t.fingerprint.as_str())
        .collect();
    assert_eq!(
        fingerprints,
        vec![
            graphform_types::fingerprint(&first).as_str(),
            graphform_types::fingerprint(&second).as_str()
        ]
    );
    let new = &state.tokens[5];
    assert_eq!(new.origin, TokenOrigin::Refreshed);
    assert_eq!(
        new.refreshed_from.as_ref(),
        Some(&graphform_types::fingerprint(&first))
    );
    assert_eq!(new.app_id, REPORTING);
    assert_eq!(new.system_user_id.as_deref(), Some(id.as_str()));
    assert_eq!(new.token_type, "SYSTEM_USER");
    let ada = state
        .token(graphform_types::fingerprint(ADA_TOKEN).as_str())
        .unwrap();
    assert_eq!(
        (ada.user_id.as_deref(), ada.system_user_id.as_deref()),
        (Some(ADA), None)
    );
    // GET /_emulator/state is the same data; it reads back into the type
    // (its tokens then in fingerprint order).
    let http = h.control_get("/state").await;
    assert_eq!(serde_json::to_value(&state).unwrap(), http);
    let mut back: StateSnapshot = serde_json::from_value(http).unwrap();
    let mut tokens = state.tokens.clone();
    tokens.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    assert_eq!(back.tokens, tokens);
    back.tokens = state.tokens.clone();
    assert_eq!(back, state);
    // Status follows the clock.
    h.emulator.advance_clock(60 * DAY);
    assert_eq!(h.emulator.inspect().valid_tokens_of(&id).count(), 0);
}
