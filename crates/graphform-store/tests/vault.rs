//! The `vault` backend against a real OpenBao server (from the project's
//! `.venv`, see `graphform_testkit`): the whole conformance suite, one
//! test and one dev server per check, and what is particular to Vault: the
//! layout and `custom_metadata`, entries deleted outside graphform
//! (`vault/deleted.rs`), policies (the documented one, a read-only one), a
//! missing or KV v1 mount, a sealed server, namespaces, TLS with a
//! CA file, the `bao` CLI reading a token back, and a server killed in the
//! middle of a run and restarted on the same data. (Logs are checked in
//! `vault_logs.rs`, a binary of its own.)

use std::sync::LazyLock;

use graphform_store::conformance::{
    self, NOW, at, create, join_all, lease_request, sample_record, sample_rotated_record, token,
};
use graphform_store::{
    LEASE_CLOCK_SKEW_SECONDS, Secret, Store, StoreError, TokenAddress, VaultSettings, VaultStore,
    Versioned,
};
use graphform_testkit::openbao::OpenBao;
use graphform_testkit::redirect::RedirectTrap;
use graphform_testkit::store::{
    assert_redirect_refused, assert_shows_none, consumer_output, shown,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

static ADDRESS: LazyLock<TokenAddress> =
    LazyLock::new(|| token("acme/ci-reporting/token/insights-read"));

graphform_store::conformance_tests! {
    fixture: bao = OpenBao::start().await,
    store: bao.store("graphform"),
}

/// `run_all` once, every check on its own prefix of one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes_on_fresh_prefixes() {
    let bao = OpenBao::start().await;
    conformance::run_all_numbered(|index| bao.store(&format!("run-all/{index}"))).await;
}

/// A key under `tokens/` that is not a token address, written past the
/// store (as a person with `bao kv put` would), is reported by listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_entries_are_reported() {
    let bao = OpenBao::start().await;
    let bao = &bao;
    conformance::foreign_entries_are_reported(&bao.store("graphform"), |key| async move {
        let path = format!("secret/data/graphform/tokens/{key}");
        bao.admin_ok(
            Method::POST,
            &path,
            Some(json!({"data": {"note": "by hand"}})),
        )
        .await;
    })
    .await;
}

/// The documented layout: values in `data`, no value in `custom_metadata`
/// (fingerprints only), `cas_required` set, the state documents as text
/// (the root one and a system user's), the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_have_the_documented_layout_and_custom_metadata_holds_no_value() {
    let bao = OpenBao::start().await;
    let store = bao.store("graphform");
    let record = sample_rotated_record(
        &ADDRESS,
        "EAAcurrentLAYOUT1",
        "EAApreviousLAYOUT1",
        NOW + 60,
    );
    let version = store.write_token(&ADDRESS, &record, None).await.unwrap();
    store.write_state(br#"{"b":1, "a":2}"#, None).await.unwrap();
    let user_version = store
        .write_system_user_state(ADDRESS.system_user(), br#"{"id": "6155"}"#, None)
        .await
        .unwrap();
    store
        .acquire_lease(&lease_request("graphform apply", NOW, 300))
        .await
        .unwrap();

    let path = format!("secret/data/graphform/tokens/{}", *ADDRESS);
    let read = bao.admin_get(&path).await;
    let data = &read["data"]["data"];
    assert_eq!(data["format"], json!(1));
    assert_eq!(data["value"], json!("EAAcurrentLAYOUT1"));
    assert_eq!(data["metadata"]["address"], json!(*ADDRESS));
    assert_eq!(data["previous"]["value"], json!("EAApreviousLAYOUT1"));
    assert_eq!(data["previous"]["revoke_after"], json!(NOW + 60));
    assert_eq!(
        format!(
            "tokens/{}@{}",
            *ADDRESS, read["data"]["metadata"]["version"]
        ),
        version.0
    );

    let metadata = bao
        .admin_get(&format!("secret/metadata/graphform/tokens/{}", *ADDRESS))
        .await;
    let custom = &metadata["data"]["custom_metadata"];
    let fingerprint = Secret::new("EAAcurrentLAYOUT1").fingerprint();
    let previous_fingerprint = Secret::new("EAApreviousLAYOUT1").fingerprint();
    assert_eq!(custom["address"], json!(*ADDRESS));
    assert_eq!(
        format!(
            "tokens/{}@{}",
            *ADDRESS,
            custom["version"].as_str().unwrap()
        ),
        version.0
    );
    assert_eq!(custom["fingerprint"], json!(fingerprint.as_str()));
    assert_eq!(
        custom["previous_fingerprint"],
        json!(previous_fingerprint.as_str())
    );
    assert_eq!(custom["scopes"], json!("ads_read,read_insights"));
    assert_eq!(custom["issued_at"], json!("2026-01-01T00:00:00Z"));
    assert_eq!(custom["expires_at"], json!("2026-03-02T00:00:00Z"));
    assert_eq!(
        custom["previous_revoke_after"],
        json!("2026-01-01T00:01:00Z")
    );
    assert_eq!(metadata["data"]["cas_required"], json!(true));
    assert_shows_none(
        &metadata.to_string(),
        &["EAAcurrentLAYOUT1", "EAApreviousLAYOUT1"],
    );

    let state = bao.admin_get("secret/data/graphform/state").await;
    assert_eq!(
        state["data"]["data"]["document"],
        json!(r#"{"b":1, "a":2}"#)
    );
    assert_eq!(
        store.system_user_state_path(ADDRESS.system_user()),
        "graphform/state/acme/ci-reporting"
    );
    let user_state = bao
        .admin_get("secret/data/graphform/state/acme/ci-reporting")
        .await;
    assert_eq!(
        user_state["data"]["data"],
        json!({"format": 1, "document": r#"{"id": "6155"}"#})
    );
    assert_eq!(user_version.0, "state/acme/ci-reporting@1");
    let lease = bao.admin_get("secret/data/graphform/lease").await;
    assert_eq!(
        lease["data"]["data"]["lease"]["holder"],
        json!("graphform apply")
    );
}

/// Deleting destroys every earlier version (no value left in the KV
/// history), marks the entry deleted for operators, and a concurrent write
/// with the same version loses against it (or wins, and the delete loses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_destroys_the_history_and_races_safely_with_writes() {
    let bao = OpenBao::start().await;
    let store = bao.store("graphform");
    let v1 = create(&store, &ADDRESS, &sample_record(&ADDRESS, "EAAhistory1")).await;
    let v2 = store
        .write_token(&ADDRESS, &sample_record(&ADDRESS, "EAAhistory2"), Some(&v1))
        .await
        .unwrap();
    store.delete_token(&ADDRESS, &v2).await.unwrap();
    let metadata = bao
        .admin_get(&format!("secret/metadata/graphform/tokens/{}", *ADDRESS))
        .await;
    assert_eq!(
        metadata["data"]["custom_metadata"]["deleted"],
        json!("true")
    );
    let versions = metadata["data"]["versions"].as_object().unwrap();
    for (number, state) in versions {
        let (_, read) = bao
            .admin(
                Method::GET,
                &format!("secret/data/graphform/tokens/{}?version={number}", *ADDRESS),
                None,
            )
            .await;
        assert_shows_none(&read.to_string(), &["EAAhistory1", "EAAhistory2"]);
        let tombstone = number == &metadata["data"]["current_version"].to_string();
        assert!(
            if tombstone {
                state["deletion_time"] != json!("")
            } else {
                state["destroyed"] == json!(true)
            },
            "version {number}: {state}"
        );
    }
    let output = bao
        .cli()
        .args([
            "kv",
            "get",
            "-mount=secret",
            "-field=value",
            &format!("graphform/tokens/{}", *ADDRESS),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success(), "a deleted token has no value");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("No data found"),
        "{output:?}"
    );

    // A write and a delete racing with the same version: exactly one wins.
    for round in 0..6 {
        let base = create(
            &store,
            &ADDRESS,
            &sample_record(&ADDRESS, &format!("EAArace{round}")),
        )
        .await;
        let update = sample_record(&ADDRESS, &format!("EAAraceupdate{round}"));
        let write = async {
            store
                .write_token(&ADDRESS, &update, Some(&base))
                .await
                .map(|_| ())
        };
        let delete = async { store.delete_token(&ADDRESS, &base).await };
        let results = join_all(vec![
            Box::pin(write) as std::pin::Pin<Box<dyn Future<Output = Result<(), StoreError>>>>,
            Box::pin(delete),
        ])
        .await;
        let winners = results.iter().filter(|result| result.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .all(|result| matches!(result, Ok(()) | Err(StoreError::Conflict { .. }))),
            "{results:?}"
        );
        let read = store.read_token(&ADDRESS).await.unwrap();
        if results[0].is_ok() {
            assert_eq!(read.unwrap().value, update, "the write won");
            let version = store.read_token(&ADDRESS).await.unwrap().unwrap().version;
            store.delete_token(&ADDRESS, &version).await.unwrap();
        } else {
            assert!(read.is_none(), "the delete won");
        }
    }
}

#[path = "vault/deleted.rs"]
mod deleted;

/// The policy in docs/stores.md, and nothing more, is enough for every
/// operation (checked with conformance checks on prefixes of their own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_policy_suffices() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/stores.md"))
            .unwrap();
    let vault_section = docs.split("\n## vault\n").nth(1).unwrap();
    let hcl = vault_section
        .split("```hcl\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```hcl block in the vault section of docs/stores.md");
    assert!(hcl.contains("secret/data/graphform/*"), "{hcl}");
    let prefixes = [
        "policy-a", "policy-b", "policy-c", "policy-d", "policy-e", "policy-f",
    ];
    let policy: String = prefixes
        .iter()
        .map(|prefix| hcl.replace("/graphform/", &format!("/{prefix}/")))
        .collect();
    let bao = OpenBao::start().await;
    let token = bao.token_with_policy("graphform", &policy).await;
    let store = |prefix: &str| VaultStore::with_token(bao.settings(prefix), &token).unwrap();
    conformance::token_conflicts(&store("policy-a")).await;
    conformance::list_tokens_sorted(&store("policy-b")).await;
    conformance::lease_lifecycle(&store("policy-c")).await;
    conformance::state_document_round_trip(&store("policy-d")).await;
    conformance::token_update_replaces_record(&store("policy-e")).await;
    conformance::state_documents_are_independent(&store("policy-f")).await;
    // The prefix next door is out of bounds.
    let outside = store("graphform");
    let error = outside
        .write_token(&ADDRESS, &sample_record(&ADDRESS, "EAAoutside"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Config { .. }),
        "{}",
        shown(&error)
    );
}

/// A token that may only read gets a 403 that names the path refused and
/// the capabilities to grant, and shows neither the value nor the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_gets_a_clear_error_naming_the_path() {
    let bao = OpenBao::start().await;
    create(
        &bao.store("graphform"),
        &ADDRESS,
        &sample_record(&ADDRESS, "EAAreadable"),
    )
    .await;
    let read_only = bao
        .token_with_policy(
            "read-only",
            r#"path "secret/data/graphform/*" { capabilities = ["read"] }"#,
        )
        .await;
    let store = VaultStore::with_token(bao.settings("graphform"), &read_only).unwrap();
    let read = store.read_token(&ADDRESS).await.unwrap().unwrap();
    assert_eq!(read.value.current.value.expose(), "EAAreadable");

    let address = &token("acme/ci/token/read");
    let error = store
        .write_token(address, &sample_record(address, "EAAnotallowed"), None)
        .await
        .unwrap_err();
    let text = shown(&error);
    assert!(matches!(error, StoreError::Config { .. }), "{text}");
    assert!(
        text.contains(
            "the Vault token lacks a policy for secret/data/graphform/tokens/acme/ci/token/read"
        ),
        "{text}"
    );
    assert!(text.contains("403"), "{text}");
    assert!(text.contains("secret/metadata/graphform/*"), "{text}");
    assert_shows_none(
        &text,
        &[
            "EAAnotallowed",
            read_only.expose(),
            bao.root_token().expose(),
        ],
    );

    let error = store.list_tokens().await.unwrap_err();
    let text = shown(&error);
    assert!(
        text.contains("lacks a policy for secret/metadata/graphform/tokens/"),
        "{text}"
    );

    // What docs/stores.md says a `plan` needs: read on data, list on
    // metadata.
    let plan_token = bao
        .token_with_policy(
            "plan",
            r#"path "secret/data/graphform/*" { capabilities = ["read"] }
path "secret/metadata/graphform/*" { capabilities = ["list"] }"#,
        )
        .await;
    let plan = VaultStore::with_token(bao.settings("graphform"), &plan_token).unwrap();
    assert_eq!(plan.list_tokens().await.unwrap(), vec![ADDRESS.clone()]);
    assert!(plan.read_token(&ADDRESS).await.unwrap().is_some());
    assert!(plan.read_state().await.unwrap().is_none());
    assert!(plan.read_lease().await.unwrap().is_none());
    let error = plan
        .acquire_lease(&lease_request("plan", NOW, 60))
        .await
        .unwrap_err();
    assert!(
        shown(&error).contains("lacks a policy for secret/data/graphform/lease"),
        "{}",
        shown(&error)
    );

    let bad =
        VaultStore::with_token(bao.settings("graphform"), &Secret::new("s.not-a-token")).unwrap();
    let error = bad.read_token(&ADDRESS).await.unwrap_err();
    let text = shown(&error);
    assert!(text.contains("403"), "{text}");
    assert!(text.contains("invalid or expired"), "{text}");
    assert_shows_none(&text, &["s.not-a-token"]);
}

/// A mount that does not exist, and a KV version 1 mount, are named, and
/// nothing is written into the version 1 mount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_version_1_mount_is_named() {
    let bao = OpenBao::start().await;
    let settings = VaultSettings {
        mount: "nosuch".to_owned(),
        ..bao.settings("graphform")
    };
    let store = VaultStore::with_token(settings, &bao.root_token()).unwrap();
    let error = store.read_token(&ADDRESS).await.unwrap_err();
    let text = shown(&error);
    assert!(matches!(error, StoreError::Config { .. }), "{text}");
    assert!(text.contains("no KV mount `nosuch`"), "{text}");
    assert!(
        text.contains("bao secrets enable -path=nosuch kv-v2"),
        "{text}"
    );

    bao.admin_ok(
        Method::POST,
        "sys/mounts/kv1",
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    )
    .await;
    let settings = VaultSettings {
        mount: "kv1".to_owned(),
        ..bao.settings("graphform")
    };
    let store = VaultStore::with_token(settings, &bao.root_token()).unwrap();
    let error = store
        .write_token(&ADDRESS, &sample_record(&ADDRESS, "EAAkv1"), None)
        .await
        .unwrap_err();
    let text = shown(&error);
    assert!(matches!(error, StoreError::Config { .. }), "{text}");
    assert!(text.contains("not KV version 2"), "{text}");
    let (status, listed) = bao.admin(Method::GET, "kv1/?list=true", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing written: {listed}");
}

/// A sealed server is named as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_server_is_named() {
    let bao = OpenBao::start().await;
    let store = bao.store("graphform");
    create(&store, &ADDRESS, &sample_record(&ADDRESS, "EAAsealed")).await;
    bao.seal().await;
    let error = store.read_token(&ADDRESS).await.unwrap_err();
    let text = shown(&error);
    assert!(matches!(error, StoreError::Io { .. }), "{text}");
    assert!(text.contains("is sealed"), "{text}");
    assert!(text.contains(bao.address()), "{text}");
}

/// No server at the address: an I/O error naming the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_is_a_clear_io_error() {
    let port = graphform_testkit::free_port(false);
    let address = format!("http://127.0.0.1:{port}");
    let store = VaultStore::with_token(
        VaultSettings::new(address.clone()),
        &Secret::new("s.unused-token"),
    )
    .unwrap();
    let error = store
        .write_token(&ADDRESS, &sample_record(&ADDRESS, "EAAnowhere"), None)
        .await
        .unwrap_err();
    let text = shown(&error);
    match &error {
        StoreError::Io { operation, .. } => {
            assert!(operation.contains(&address), "{text}");
            assert!(operation.contains(&ADDRESS.to_string()), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("connection refused"), "{text}");
    assert_shows_none(&text, &["EAAnowhere", "s.unused-token"]);
}

/// A redirect (a standby node's 307, a proxy's 308) is never followed: it
/// would send the Vault token, and the token values of a write, to another
/// address. The request fails with an error naming the status, not the
/// redirect's body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    for status in [307, 308, 301] {
        let trap = RedirectTrap::start(status, r#"{"errors":["REDIRECT-BODY-MARKER"]}"#);
        let store = VaultStore::with_token(
            VaultSettings::new(trap.url()),
            &Secret::new("hvs.redirectVAULTtoken"),
        )
        .unwrap();
        assert_redirect_refused(
            &store,
            &trap,
            &format!("answered {status}"),
            &["REDIRECT-BODY-MARKER", "hvs.redirectVAULTtoken"],
        )
        .await;
    }
}

/// A server killed in the middle of a run: the next requests fail with an
/// error naming the address (no panic); after a restart on the same data
/// the server is sealed (named as such), then everything written before is
/// there, and the next run takes over the lease and carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_loses_nothing_and_the_next_run_recovers() {
    let mut bao = OpenBao::start_persistent().await;
    let store = bao.store("graphform");
    let lease = store
        .acquire_lease(&lease_request("graphform apply (killed)", NOW, 300))
        .await
        .unwrap();
    let record = sample_rotated_record(&ADDRESS, "EAAbeforekill", "EAAolder", NOW + 600);
    let version = store.write_token(&ADDRESS, &record, None).await.unwrap();
    let state_version = store
        .write_state(br#"{"journal":[1]}"#, None)
        .await
        .unwrap();

    bao.kill();
    let next = sample_record(&ADDRESS, "EAAduringoutage");
    let errors = [
        store
            .write_token(&ADDRESS, &next, Some(&version))
            .await
            .map(|_| ())
            .unwrap_err(),
        store.read_token(&ADDRESS).await.map(|_| ()).unwrap_err(),
        store
            .renew_lease(&lease, at(NOW + 900))
            .await
            .map(|_| ())
            .unwrap_err(),
        store.list_tokens().await.map(|_| ()).unwrap_err(),
    ];
    for error in &errors {
        let text = shown(error);
        match error {
            StoreError::Io { operation, .. } => {
                assert!(operation.contains(bao.address()), "{text}");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert_shows_none(&text, &["EAAbeforekill", "EAAduringoutage", "EAAolder"]);
    }

    bao.restart_sealed().await;
    let error = store.read_token(&ADDRESS).await.unwrap_err();
    assert!(shown(&error).contains("is sealed"), "{}", shown(&error));
    bao.unseal().await;

    // Nothing lost.
    let read = store.read_token(&ADDRESS).await.unwrap().unwrap();
    assert_eq!(
        read,
        Versioned {
            value: record.clone(),
            version: version.clone()
        }
    );
    let state = store.read_state().await.unwrap().unwrap();
    assert_eq!(state.value, br#"{"journal":[1]}"#);
    assert_eq!(state.version, state_version);
    assert_eq!(
        store.read_lease().await.unwrap().unwrap().holder,
        "graphform apply (killed)"
    );

    // The next run: refused while the lease lasts (and the clock-skew
    // margin after it), takes it over once it has expired by that margin,
    // and writes against the versions it reads.
    for at in [NOW + 100, NOW + 301] {
        let refused = store
            .acquire_lease(&lease_request("graphform apply (next)", at, 300))
            .await;
        assert!(matches!(refused, Err(StoreError::Locked(_))), "{refused:?}");
    }
    let next_lease = store
        .acquire_lease(&lease_request(
            "graphform apply (next)",
            NOW + 300 + LEASE_CLOCK_SKEW_SECONDS,
            300,
        ))
        .await
        .unwrap();
    let read = store.read_token(&ADDRESS).await.unwrap().unwrap();
    let new_version = store
        .write_token(&ADDRESS, &next, Some(&read.version))
        .await
        .unwrap();
    assert_ne!(new_version, version);
    store.release_lease(&next_lease).await.unwrap();
    assert_eq!(
        store.read_token(&ADDRESS).await.unwrap().unwrap().value,
        next
    );
}

/// What consumers do: the `bao` CLI reads the current token (and the
/// previous one) that the store wrote, as docs/stores.md says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bao_cli_reads_back_the_current_token() {
    let bao = OpenBao::start().await;
    let store = bao.store("graphform");
    let record = sample_rotated_record(&ADDRESS, "EAAcliCURRENT42", "EAAcliPREVIOUS41", NOW + 60);
    store.write_token(&ADDRESS, &record, None).await.unwrap();
    let path = store.token_path(&ADDRESS);
    assert_eq!(path, format!("graphform/tokens/{}", *ADDRESS));

    let value =
        consumer_output(
            bao.cli()
                .args(["kv", "get", "-mount=secret", "-field=value", &path]),
        );
    assert_eq!(value, "EAAcliCURRENT42");

    let output =
        consumer_output(
            bao.cli()
                .args(["kv", "get", "-mount=secret", "-format=json", &path]),
        );
    let read: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(
        read["data"]["data"]["previous"]["value"],
        json!("EAAcliPREVIOUS41")
    );
    assert_eq!(
        read["data"]["metadata"]["custom_metadata"]["fingerprint"],
        json!(Secret::new("EAAcliCURRENT42").fingerprint().as_str())
    );

    // And over HTTP, as the curl example does.
    let body = bao.admin_get(&format!("secret/data/{path}")).await;
    assert_eq!(body["data"]["data"]["value"], json!("EAAcliCURRENT42"));
}

/// With a namespace, everything goes to the namespace's mount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_is_used_and_a_missing_one_named() {
    let bao = OpenBao::start().await;
    bao.admin_ok(Method::POST, "sys/namespaces/team-a", Some(json!({})))
        .await;
    let (status, body) = bao
        .admin_in_namespace(
            "team-a",
            Method::POST,
            "sys/mounts/secret",
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await;
    assert!(status.is_success(), "{body}");

    let settings = VaultSettings {
        namespace: Some("team-a".to_owned()),
        ..bao.settings("graphform")
    };
    let store = VaultStore::with_token(settings.clone(), &bao.root_token()).unwrap();
    assert!(store.describe().contains("namespace team-a"));
    conformance::token_round_trip(&store).await;
    conformance::lease_lifecycle(&store).await;
    // Not in the root namespace.
    assert!(
        bao.store("graphform")
            .read_token(&ADDRESS)
            .await
            .unwrap()
            .is_none()
    );

    let missing = VaultStore::with_token(
        VaultSettings {
            namespace: Some("team-b".to_owned()),
            ..settings
        },
        &bao.root_token(),
    )
    .unwrap();
    let error = missing.read_token(&ADDRESS).await.unwrap_err();
    let text = shown(&error);
    assert!(text.contains("team-b"), "{text}");
}

/// HTTPS with a private CA: trusted with the CA file, a clear error without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file() {
    let bao = OpenBao::start_tls().await;
    assert!(bao.address().starts_with("https://"));
    let store = bao.store("graphform");
    conformance::token_round_trip(&store).await;

    let untrusted = VaultStore::with_token(
        VaultSettings {
            ca_file: None,
            ..bao.settings("graphform")
        },
        &bao.root_token(),
    )
    .unwrap();
    let error = untrusted.read_token(&ADDRESS).await.unwrap_err();
    let text = shown(&error);
    assert!(matches!(error, StoreError::Io { .. }), "{text}");
    assert!(text.contains("not trusted"), "{text}");
    assert!(text.contains("CA file"), "{text}");

    let error = VaultStore::with_token(
        VaultSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..bao.settings("graphform")
        },
        &bao.root_token(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, StoreError::Config { message, .. } if message.contains("/nonexistent/ca.pem")),
        "{error:?}"
    );
}

/// The token from an environment variable: a missing one is named; `Debug`
/// shows where the token came from, never the token.
#[test]
fn the_token_variable_is_named_and_the_token_never_shown() {
    let error = VaultStore::open(
        VaultSettings::new("http://127.0.0.1:8200"),
        "GRAPHFORM_TEST_SURELY_UNSET_VAULT_TOKEN",
    )
    .unwrap_err();
    assert!(
        matches!(&error, StoreError::Config { message, hint: Some(_) }
            if message.contains("`GRAPHFORM_TEST_SURELY_UNSET_VAULT_TOKEN` is not set")),
        "{error:?}"
    );
    let store = VaultStore::with_token(
        VaultSettings::new("http://127.0.0.1:8200"),
        &Secret::new("hvs.debugSECRETtoken"),
    )
    .unwrap();
    let debug = format!("{store:?} {store:#?} {}", store.describe());
    assert!(!debug.contains("debugSECRETtoken"), "{debug}");
    assert!(debug.contains("127.0.0.1:8200"), "{debug}");
}
