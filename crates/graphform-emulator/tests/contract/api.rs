//! The Rust API the CLI and other crates use: starting, loopback only,
//! world files, the summary, shutdown.

use std::net::SocketAddr;

use graphform_emulator::{Emulator, Error, World};

use crate::support::*;

#[tokio::test]
async fn start_binds_loopback_and_reports_its_base_url() {
    let emulator = Emulator::start(test_world()).await.unwrap();
    let base = emulator.base_url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with('/'));
    assert_eq!(base, format!("http://{}", emulator.local_addr()));
    let health = reqwest::get(format!("{base}/_emulator/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    emulator.shutdown().await;
    assert!(
        reqwest::get(format!("{base}/_emulator/health"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn start_on_refuses_non_loopback_addresses() {
    let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let err = Emulator::start_on(test_world(), addr).await.unwrap_err();
    assert!(matches!(err, Error::NotLoopback { .. }));
    assert_eq!(
        err.to_string(),
        "refusing to listen on 0.0.0.0:0: the emulator binds loopback addresses only"
    );
    let ok = Emulator::start_on(test_world(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    ok.shutdown().await;
}

#[tokio::test]
async fn dropping_the_emulator_stops_it() {
    let emulator = Emulator::start(test_world()).await.unwrap();
    let base = emulator.base_url();
    drop(emulator);
    let mut stopped = false;
    // Shutdown is asynchronous after a drop: wait for it (bounded).
    for _ in 0..500 {
        if reqwest::get(format!("{base}/_emulator/health"))
            .await
            .is_err()
        {
            stopped = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(stopped);
}

#[tokio::test]
async fn worlds_load_from_yaml_and_json_files() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("world.yaml");
    std::fs::write(&yaml, test_world_yaml()).unwrap();
    let world = World::from_file(&yaml).unwrap();
    assert_eq!(world.businesses.len(), 4);

    let json = dir.path().join("world.json");
    std::fs::write(
        &json,
        r#"{"clock_start": 1767225600, "businesses": [{"id": "1", "name": "Solo"}],
            "apps": [{"id": "2", "name": "only", "business": "1"}]}"#,
    )
    .unwrap();
    let world = World::from_file(&json).unwrap();
    assert_eq!(world.apps[0].name, "only");

    let missing = World::from_file(&dir.path().join("nope.yaml")).unwrap_err();
    assert!(
        missing.to_string().starts_with("cannot read world file"),
        "{missing}"
    );
    std::fs::write(&json, "{").unwrap();
    let broken = World::from_file(&json).unwrap_err();
    assert!(matches!(broken, Error::ParseWorld { .. }), "{broken}");
    std::fs::write(&yaml, "businesses: [{id: abc, name: X}]").unwrap();
    let invalid = World::from_file(&yaml).unwrap_err();
    assert_eq!(
        invalid.to_string(),
        "invalid world: businesses[0].id: \"abc\" is not a numeric ID"
    );
}

#[tokio::test]
async fn world_summary_lists_ids_and_credentials() {
    let emulator = Emulator::start(World::demo()).await.unwrap();
    let summary = emulator.world_summary();
    assert_eq!(summary.base_url, emulator.base_url());
    let acme = &summary.businesses[0];
    assert_eq!(
        (acme.id.as_str(), acme.name.as_str()),
        ("100000000000001", "Acme")
    );
    let apps: Vec<(&str, &str)> = acme
        .apps
        .iter()
        .map(|a| (a.id.as_str(), a.secret_env.as_str()))
        .collect();
    assert_eq!(
        apps,
        [
            ("200000000000001", "REPORTING_APP_SECRET"),
            ("200000000000002", "PUBLISHER_APP_SECRET")
        ]
    );
    let token = &acme.admin_tokens[0];
    assert_eq!(token.token_env, "ACME_ADMIN_TOKEN");
    assert_eq!(token.app_id, "200000000000001");
    assert_eq!(token.expires_at, 0);

    // Display and Debug show fingerprints; the shell exports show values.
    let shown = format!("{summary} {summary:?}");
    assert!(!shown.contains(token.token.expose()));
    assert!(!shown.contains(acme.apps[0].secret.expose()));
    assert!(shown.contains(token.token.fingerprint().as_str()));
    let exports = summary.shell_exports();
    assert!(exports.contains(&format!(
        "export GRAPHFORM_GRAPH_URL='{}'",
        emulator.base_url()
    )));
    assert!(exports.contains(&format!(
        "export ACME_ADMIN_TOKEN='{}'",
        token.token.expose()
    )));

    // The demo admin token works against the demo world.
    let http = reqwest::Client::new();
    let value = token.token.expose();
    let response = http
        .get(format!(
            "{}/v26.0/100000000000001/system_users",
            emulator.base_url()
        ))
        .query(&[
            ("access_token", value),
            (
                "appsecret_proof",
                &proof(acme.apps[0].secret.expose(), value),
            ),
        ])
        .send()
        .await
        .unwrap();
    let reply = Harness::reply(response).await;
    assert_eq!(reply.assert_ok()["data"][0]["name"], "graphform-admin");
    // The demo clock follows real time.
    let clock: serde_json::Value = http
        .get(format!("{}/_emulator/clock", emulator.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["ticking"], true);
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_same_world_yields_the_same_generated_values() {
    let a = Emulator::start(World::demo()).await.unwrap();
    let b = Emulator::start(World::demo()).await.unwrap();
    let (sa, sb) = (a.world_summary(), b.world_summary());
    assert_eq!(sa.env_vars(), sb.env_vars());
    a.shutdown().await;
    b.shutdown().await;
}
