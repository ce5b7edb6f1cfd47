//! A whole reconcile-like sequence under 20 % injected transient errors:
//! every call succeeds, and nothing is issued twice.

use graphform_graph::{Secret, SystemUserRole, UserToken};
use serde_json::{Value, json};

use crate::support::{
    Harness, REPORTING_APP, admin, ads_read, assert_validity, create_system_user, list_acme,
    reporting,
};

/// The tokens the emulator holds (fingerprint → record), from its
/// inspection API.
fn tokens(state: &Value) -> serde_json::Map<String, Value> {
    state["tokens"].as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn every_call_succeeds_under_20_percent_transient_errors_and_nothing_is_issued_twice() {
    let h = Harness::start_with(|settings| settings.retry.max_attempts = 10).await;
    let admin = admin();
    let tokens_before = tokens(&h.state().await).len();
    h.inject_faults(json!({"transient_error_rate": 0.2, "seed": 2024}))
        .await;

    let mut users = Vec::new();
    for n in 0..3 {
        let name = format!("worker-{n}");
        let id = create_system_user(&h.client, &name, SystemUserRole::Employee)
            .await
            .unwrap();
        h.client
            .install_app(&admin, &id, REPORTING_APP)
            .await
            .unwrap();
        users.push(id);
    }
    let mut issued = Vec::new();
    for id in &users {
        for _ in 0..5 {
            let token = h.client.issue_token(&admin, id, &ads_read()).await.unwrap();
            issued.push(token);
        }
    }
    let infos = h.client.debug_tokens(&reporting(), &issued).await;
    assert_validity(&infos, true);

    let mut refreshed = Vec::new();
    for token in &issued {
        refreshed.push(
            h.client
                .refresh_token(&reporting(), token)
                .await
                .unwrap()
                .token,
        );
    }
    for (old, new) in issued.iter().zip(&refreshed) {
        let caller = UserToken::new(new.clone(), reporting());
        h.client.revoke_token(&caller, old).await.unwrap();
    }
    let list = list_acme(&h.client).await.unwrap();
    assert_eq!(list.users.len(), 5);
    let reads = h.client.read_system_users(&admin, &users).await;
    assert!(reads.iter().all(Result::is_ok));

    let counters = h.client.counters();
    assert!(counters.retries > 0, "faults were injected: {counters:?}");
    // Issuance itself met injected errors and was retried (15 tokens, more
    // calls), yet issued each token once (below).
    let emulated = h.emulator_counters().await;
    let issue_calls = emulated["by_endpoint"]["POST /{system-user-id}/access_tokens"]
        .as_u64()
        .unwrap();
    assert!(issue_calls > 15, "{emulated}");
    h.clear_faults().await;

    // Exactly what was asked for exists: 3 new system users, 15 issued and
    // 15 refreshed tokens, each one we hold; the originals are revoked.
    let state = h.state().await;
    assert_eq!(state["system_users"].as_array().unwrap().len(), 2 + 3);
    let all = tokens(&state);
    assert_eq!(all.len() - tokens_before, 30, "no token was issued twice");
    let held: std::collections::BTreeSet<String> = issued
        .iter()
        .chain(&refreshed)
        .map(|t| t.fingerprint().to_string())
        .collect();
    let made: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|(_, token)| token["origin"] != "world")
        .map(|(fingerprint, _)| fingerprint.clone())
        .collect();
    assert_eq!(
        made, held,
        "every token the emulator made is one the client returned"
    );
    for (fingerprint, token) in &all {
        if token["origin"] == "issued" {
            assert_eq!(token["status"], "revoked", "{fingerprint}");
        }
    }
    let infos = h.client.debug_tokens(&reporting(), &issued).await;
    assert_validity(&infos, false);
    let infos = h.client.debug_tokens(&reporting(), &refreshed).await;
    assert_validity(&infos, true);
    let distinct: std::collections::BTreeSet<_> = issued
        .iter()
        .chain(&refreshed)
        .map(Secret::fingerprint)
        .collect();
    assert_eq!(distinct.len(), 30);
    h.shutdown().await;
}
