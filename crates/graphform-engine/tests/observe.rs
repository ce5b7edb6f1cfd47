//! Observation against the emulator over HTTP and a real file store.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use graphform_emulator::{Emulator, World};
use graphform_engine::document::{InstallRecord, StateDocument};
use graphform_engine::observe::{Credentials, observe};
use graphform_engine::state::{DeadCause, Health};
use graphform_engine::{Action, PlanOptions, plan};
use graphform_graph::{
    AppCredentials, ClientSettings, GraphClient, IssueToken, NewSystemUser, Secret, SystemUserRole,
    UserToken,
};
use graphform_store::{
    ExpiryMode, FileStore, Store as _, StoredToken, TokenMetadata, TokenRecord, generate_identity,
};
use graphform_types::{Role, Timestamp, TokenAddress};

/// 2026-01-01 00:00 UTC, the emulator's frozen clock.
const NOW: i64 = 1_767_225_600;

/// A world of `businesses` businesses, each with one app and an admin
/// system user whose token is fixed.
fn world(businesses: usize) -> (World, String) {
    let mut yaml = format!("clock_start: {NOW}\nseed: 7\nbusinesses:\n");
    for b in 0..businesses {
        let _ = writeln!(yaml, "  - {{ id: \"1{b:014}\", name: B{b} }}");
    }
    yaml.push_str("apps:\n");
    for b in 0..businesses {
        let _ = writeln!(
            yaml,
            "  - {{ id: \"2{b:014}\", name: app{b}, business: \"1{b:014}\", secret: \"secret-of-app-{b:04}\", access_level: advanced }}"
        );
    }
    yaml.push_str("system_users:\n");
    for b in 0..businesses {
        let _ = writeln!(
            yaml,
            "  - {{ id: \"3{b:014}\", name: admin, business: \"1{b:014}\", role: ADMIN }}"
        );
    }
    yaml.push_str("admin_tokens:\n");
    for b in 0..businesses {
        let _ = writeln!(
            yaml,
            "  - {{ system_user: \"3{b:014}\", app: \"2{b:014}\", token: \"EAAadmin{b:04}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" }}"
        );
    }
    let mut policy = String::from("version: 1\nbusinesses:\n");
    for b in 0..businesses {
        let _ = write!(
            policy,
            "  - name: b{b}\n    id: \"1{b:014}\"\n    admin: {{ token_env: A{b}, app: app }}\n    apps:\n      app: {{ id: \"2{b:014}\", secret_env: S{b} }}\n    system_users:\n      - name: worker\n        apps: [app]\n        tokens:\n"
        );
        for t in 0..(1000 / businesses.max(1)) {
            let _ = writeln!(
                policy,
                "          - {{ name: t{t}, app: app, scopes: [ads_read] }}"
            );
        }
    }
    (World::from_yaml_str(&yaml).expect("valid world"), policy)
}

fn credentials(businesses: usize) -> Credentials {
    let mut credentials = Credentials::default();
    for b in 0..businesses {
        let app = AppCredentials::new(
            format!("2{b:014}"),
            Secret::new(format!("secret-of-app-{b:04}")),
        );
        credentials.admins.insert(
            format!("b{b}"),
            UserToken::new(
                Secret::new(format!("EAAadmin{b:04}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")),
                app.clone(),
            ),
        );
        credentials.apps.insert(format!("2{b:014}"), app);
    }
    credentials
}

fn client(emulator: &Emulator) -> GraphClient {
    GraphClient::new(ClientSettings::for_base_url(&emulator.base_url()).expect("loopback url"))
        .expect("client")
}

/// Creates the `worker` system user of business `b`, installs the app and
/// issues `count` tokens, storing each as graphform would.
async fn provision(
    client: &GraphClient,
    store: &FileStore,
    credentials: &Credentials,
    b: usize,
    count: usize,
) -> String {
    let admin = &credentials.admins[&format!("b{b}")];
    let app_id = format!("2{b:014}");
    let user: String = client
        .create_system_user(
            admin,
            &format!("1{b:014}"),
            &NewSystemUser {
                name: "worker".to_owned(),
                role: SystemUserRole::Employee,
            },
        )
        .await
        .expect("create");
    client
        .install_app(admin, &user, &app_id)
        .await
        .expect("install");
    for t in 0..count {
        let token = client
            .issue_token(
                admin,
                &user,
                &IssueToken::new(&app_id, ["ads_read"]).clone(),
            )
            .await
            .expect("issue");
        let address = TokenAddress::new(&format!("b{b}"), "worker", &format!("t{t}"));
        let record = TokenRecord {
            current: StoredToken {
                metadata: TokenMetadata {
                    address: address.clone(),
                    app_id: app_id.clone(),
                    system_user_id: user.clone(),
                    scopes: BTreeSet::from(["ads_read".to_owned()]),
                    expiry: ExpiryMode::SixtyDays,
                    issued_at: Timestamp::from_unix(NOW),
                    expires_at: Some(Timestamp::from_unix(NOW + 60 * 86_400)),
                    fingerprint: token.fingerprint(),
                    issued_by: None,
                },
                value: token,
            },
            previous: None,
        };
        store
            .write_token(&address, &record, None)
            .await
            .expect("store");
    }
    user
}

fn store() -> (tempfile::TempDir, FileStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (identity, _) = generate_identity();
    let store = FileStore::init(dir.path().join("store"), &identity).expect("store");
    (dir, store)
}

async fn control(emulator: &Emulator, path: &str, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}/_emulator/{path}", emulator.base_url()))
        .json(&body)
        .send()
        .await
        .expect("control call")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn observation_sees_users_tokens_and_drift() {
    let (world, policy) = world(1);
    let emulator = Emulator::start(world).await.expect("emulator");
    let client = client(&emulator);
    let credentials = credentials(1);
    let (_dir, store) = store();
    let _ = provision(&client, &store, &credentials, 0, 2).await;
    let spec = graphform_spec::load_texts(vec![("p.yaml".into(), policy)])
        .spec
        .expect("valid policy");

    let state = observe(&spec, &client, &store, &credentials)
        .await
        .expect("observe");
    let users: Vec<(&str, &str)> = state.businesses["b0"]
        .system_users
        .iter()
        .map(|u| (u.name.as_str(), u.role.as_ref().map_or("", Role::as_str)))
        .collect();
    assert_eq!(users, [("admin", "ADMIN"), ("worker", "EMPLOYEE")]);
    let t0 = &state.tokens[&"b0/worker/token/t0"
        .parse::<TokenAddress>()
        .expect("an address")];
    assert_eq!(
        t0.current.health,
        Health::Valid {
            expires_at: Some(Timestamp::from_unix(NOW + 60 * 86_400)),
            scopes: BTreeSet::from(["ads_read".to_owned()]),
            app_id: "200000000000000".to_owned()
        }
    );

    // Someone revokes t1 behind graphform's back.
    let fingerprint = state.tokens[&"b0/worker/token/t1"
        .parse::<TokenAddress>()
        .expect("an address")]
        .current
        .metadata
        .fingerprint
        .to_string();
    control(
        &emulator,
        "drift/revoke",
        serde_json::json!({ "fingerprint": fingerprint }),
    )
    .await;
    let state = observe(&spec, &client, &store, &credentials)
        .await
        .expect("observe");
    assert!(matches!(
        state.tokens[&"b0/worker/token/t1"
            .parse::<TokenAddress>()
            .expect("an address")]
            .current
            .health,
        Health::Dead {
            cause: DeadCause::Revoked,
            ..
        }
    ));
    let plan = plan(
        &spec,
        &state,
        Timestamp::from_unix(NOW),
        &PlanOptions::default(),
    );
    let t1 = plan
        .changes
        .iter()
        .find(|c| c.address.to_string() == "b0/worker/token/t1")
        .expect("t1 is replaced");
    assert_eq!(t1.action, Action::Issue);
    assert!(t1.drift.is_some());
    // Observation changed nothing: the store holds the same records and no lease.
    assert!(store.read_lease().await.expect("lease").is_none());
    emulator.shutdown().await;
}

#[tokio::test]
async fn observing_1000_tokens_across_20_businesses_takes_at_most_65_requests() {
    let (world, policy) = world(20);
    let emulator = Emulator::start(world).await.expect("emulator");
    let client = client(&emulator);
    let credentials = credentials(20);
    let (_dir, store) = store();
    let mut document = StateDocument::default();
    for b in 0..20 {
        let user = provision(&client, &store, &credentials, b, 50).await;
        document.system_users.insert(
            format!("b{b}/worker").parse().expect("an address"),
            user.clone(),
        );
        document.installs.insert(
            format!("b{b}/worker/app/app").parse().expect("an address"),
            InstallRecord {
                system_user_id: user,
                app_id: format!("2{b:014}"),
                installed_at: Timestamp::from_unix(NOW),
            },
        );
    }
    let bytes = serde_json::to_vec(&document).expect("json");
    store
        .write_state(&bytes, None)
        .await
        .expect("state document");
    let spec = graphform_spec::load_texts(vec![("p.yaml".into(), policy)])
        .spec
        .expect("valid policy");
    client.reset_counters();
    let state = observe(&spec, &client, &store, &credentials)
        .await
        .expect("observe");
    assert_eq!(state.tokens.len(), 1000);
    assert!(state.tokens.values().all(|t| t.current.health.is_valid()));
    let counters = client.counters();
    assert!(counters.http_requests <= 65, "{counters:?}");
    // 20 listings + 20 batches of 50 debug_token calls + each business's
    // admin token checked (its own app here, so one call each).
    assert_eq!(counters.http_requests, 60, "{counters:?}");
    assert_eq!(counters.api_calls, 1040, "{counters:?}");
    assert!(
        state.businesses.values().all(|b| b
            .admin
            .as_ref()
            .is_some_and(|admin| admin.health.is_valid())),
        "every admin token is checked and valid"
    );
    // The plan of a converged world is empty.
    assert!(
        !plan(
            &spec,
            &state,
            Timestamp::from_unix(NOW),
            &PlanOptions::default()
        )
        .has_changes()
    );
    emulator.shutdown().await;
}

// See: issue 10, defect 5. Only `is_valid: true` makes a token valid and
// only a token error (the 190 family) makes it dead: an answer without
// `is_valid`, or `is_valid: false` without a token error, is no verdict,
// and a token with no verdict must not be replaced and dropped.
#[test]
fn debug_token_answers_without_a_verdict_are_neither_valid_nor_dead() {
    use graphform_engine::observe::health_of;
    use graphform_graph::TokenInfo;
    let info = |json: &str| -> TokenInfo { serde_json::from_str(json).expect("parses") };
    for json in [
        r#"{"scopes":["ads_read"],"app_id":"1"}"#,
        r#"{"is_valid":false}"#,
        r#"{"is_valid":false,"error":{"code":100,"message":"Invalid parameter"}}"#,
        r#"{"is_valid":"maybe"}"#,
    ] {
        let health = health_of(&info(json));
        assert!(
            !matches!(health, Health::Dead { .. } | Health::Valid { .. }),
            "{json}: {health:?}"
        );
    }
    assert!(matches!(
        health_of(&info(
            r#"{"is_valid":false,"error":{"code":190,"subcode":463,"message":"expired"}}"#
        )),
        Health::Dead {
            cause: DeadCause::Expired,
            ..
        }
    ));
    assert!(matches!(
        health_of(&info(r#"{"is_valid":true,"app_id":"1","expires_at":0}"#)),
        Health::Valid { .. }
    ));
}
