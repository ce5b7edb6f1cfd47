//! No token value and no Vault token in any log line at trace level, over a
//! full conformance run against a real OpenBao server plus the error paths
//! (a refused write, a sealed server, a server gone).
//!
//! A test binary of its own with one test: it installs a global subscriber
//! (which also takes in the `log` records of the HTTP stack: reqwest,
//! hyper, rustls), and `tracing` caches per call site whether anyone
//! listens.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

use std::sync::{Arc, Mutex};

use graphform_store::conformance::{self, sample_record, token};
use graphform_store::{Secret, Store, StoreError, TokenAddress, TokenRecord, VaultStore};
use graphform_testkit::counting::Counting;
use graphform_testkit::logs::Capture;
use graphform_testkit::openbao::OpenBao;
use graphform_testkit::store::{assert_exercise_logged, exercise};

/// The values [`exercise`] writes.
const CURRENT: &str = "EAAGexerciseCURRENT1";
const PREVIOUS: &str = "EAAGexercisePREVIOUS1";

/// A Vault store that remembers every token value written through it.
fn recording(
    store: VaultStore,
    values: &Arc<Mutex<Vec<String>>>,
) -> Counting<VaultStore, impl Fn(&TokenAddress, &TokenRecord) -> Result<(), StoreError>> {
    let values = Arc::clone(values);
    Counting::before_write(store, move |_, record: &TokenRecord| {
        let mut values = values.lock().unwrap();
        values.push(record.current.value.expose().to_owned());
        if let Some(previous) = &record.previous {
            values.push(previous.token.value.expose().to_owned());
        }
        Ok(())
    })
}

#[test]
fn logs_at_trace_level_hold_no_token_value_and_no_vault_token() {
    let capture = Capture::new();
    capture.init_global();
    let values = Arc::new(Mutex::new(Vec::<String>::new()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (root_token, read_only_token) = runtime.block_on(async {
        let mut bao = OpenBao::start().await;
        conformance::run_all_numbered(|index| {
            recording(bao.store(&format!("logs/{index}")), &values)
        })
        .await;

        // Everything a backend logs, through one store.
        let store = recording(bao.store("graphform"), &values);
        exercise(&store, CURRENT, PREVIOUS).await;

        // Error paths: a refused write, a sealed server, no server.
        let address = &token("acme/ci/token/read");
        let read_only = bao
            .token_with_policy(
                "read-only",
                r#"path "secret/data/graphform/*" { capabilities = ["read"] }"#,
            )
            .await;
        let refused = recording(
            VaultStore::with_token(bao.settings("graphform"), &read_only).unwrap(),
            &values,
        );
        let _ = refused
            .write_token(address, &sample_record(address, "EAAGrefusedTOKEN77"), None)
            .await
            .unwrap_err();
        bao.seal().await;
        let _ = store
            .write_token(address, &sample_record(address, "EAAGsealedTOKEN88"), None)
            .await
            .unwrap_err();
        bao.kill();
        let _ = store
            .write_token(address, &sample_record(address, "EAAGgoneTOKEN99"), None)
            .await
            .unwrap_err();
        (bao.root_token(), read_only)
    });
    drop(runtime);

    assert_exercise_logged(&capture, CURRENT, PREVIOUS);
    capture.assert_contains(&[
        "vault request",
        "vault response",
        // The HTTP stack's own `log` records are captured too.
        "hyper_util::client",
        "reqwest::",
        Secret::new("EAAcurrent0001").fingerprint().as_str(),
        Secret::new("EAAprevious0001").fingerprint().as_str(),
    ]);
    let values = values.lock().unwrap();
    let checked: Vec<&str> = values
        .iter()
        .map(String::as_str)
        .filter(|value| value.chars().count() >= 4)
        .collect();
    assert!(checked.len() > 100, "the run wrote many values");
    capture.assert_free_of(&checked);
    capture.assert_free_of(&[root_token.expose(), read_only_token.expose()]);
}
