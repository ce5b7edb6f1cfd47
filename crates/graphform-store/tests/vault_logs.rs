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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use graphform_store::conformance::{self, NOW, lease_request, sample_record};
use graphform_store::testing::openbao::OpenBao;
use graphform_store::{
    Lease, LeaseInfo, Secret, Store, StoreError, TokenRecord, UnixTime, VaultStore, Version,
    Versioned,
};
use tracing_subscriber::util::SubscriberInitExt as _;

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A store that remembers every token value written through it.
struct Recording {
    store: VaultStore,
    values: Arc<Mutex<Vec<String>>>,
}

impl Store for Recording {
    fn describe(&self) -> String {
        self.store.describe()
    }

    async fn read_token(
        &self,
        address: &str,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        self.store.read_token(address).await
    }

    async fn list_tokens(&self) -> Result<Vec<String>, StoreError> {
        self.store.list_tokens().await
    }

    async fn write_token(
        &self,
        address: &str,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        {
            let mut values = self.values.lock().unwrap();
            values.push(record.current.value.expose().to_owned());
            if let Some(previous) = &record.previous {
                values.push(previous.token.value.expose().to_owned());
            }
        }
        self.store.write_token(address, record, expected).await
    }

    async fn delete_token(&self, address: &str, expected: &Version) -> Result<(), StoreError> {
        self.store.delete_token(address, expected).await
    }

    async fn read_state(&self) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        self.store.read_state().await
    }

    async fn write_state(
        &self,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        self.store.write_state(document, expected).await
    }

    async fn acquire_lease(&self, holder: &LeaseInfo) -> Result<Lease, StoreError> {
        self.store.acquire_lease(holder).await
    }

    async fn take_over_lease(
        &self,
        stale: &LeaseInfo,
        holder: &LeaseInfo,
    ) -> Result<Lease, StoreError> {
        self.store.take_over_lease(stale, holder).await
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: UnixTime) -> Result<Lease, StoreError> {
        self.store.renew_lease(lease, expires_at).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.store.release_lease(lease).await
    }

    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        self.store.read_lease().await
    }

    async fn break_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        self.store.break_lease().await
    }
}

#[test]
fn logs_at_trace_level_hold_no_token_value_and_no_vault_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .try_init()
        .unwrap();
    let values = Arc::new(Mutex::new(Vec::<String>::new()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (root_token, read_only_token) = runtime.block_on(async {
        let mut bao = OpenBao::start().await;
        let next = AtomicUsize::new(0);
        conformance::run_all(|| Recording {
            store: bao.store(&format!("logs/{}", next.fetch_add(1, Ordering::Relaxed))),
            values: Arc::clone(&values),
        })
        .await;

        // An expired lease taken over, and a lease broken, are logged.
        let store = Recording {
            store: bao.store("graphform"),
            values: Arc::clone(&values),
        };
        store
            .acquire_lease(&lease_request("first", NOW, 1))
            .await
            .unwrap();
        let second = store
            .acquire_lease(&lease_request("second", NOW + 200, 1))
            .await
            .unwrap();
        store
            .take_over_lease(&second.info, &lease_request("third", NOW + 210, 60))
            .await
            .unwrap();
        store.break_lease().await.unwrap();

        // Error paths: a refused write, a sealed server, no server.
        let address = "acme/ci/token/read";
        let read_only = bao
            .token_with_policy(
                "read-only",
                r#"path "secret/data/graphform/*" { capabilities = ["read"] }"#,
            )
            .await;
        let refused = Recording {
            store: VaultStore::with_token(bao.settings("graphform"), &read_only).unwrap(),
            values: Arc::clone(&values),
        };
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

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "token written",
        "token deleted",
        "state document written",
        "lease acquired",
        "lease renewed",
        "lease released",
        "taking over an expired lease",
        "taking over the lease of a holder that is gone",
        "lease broken",
        "vault request",
        "vault response",
        // The HTTP stack's own `log` records are captured too.
        "hyper_util::client",
        "reqwest::",
        "acme/ci-reporting/token/insights-read",
        Secret::new("EAAcurrent0001").fingerprint().as_str(),
        Secret::new("EAAprevious0001").fingerprint().as_str(),
    ] {
        assert!(
            logs.contains(expected),
            "{expected:?} missing from the logs"
        );
    }
    let values = values.lock().unwrap();
    assert!(values.len() > 100, "the run wrote many values");
    let mut checked = 0;
    for value in values.iter().filter(|value| value.chars().count() >= 4) {
        assert!(
            !logs.contains(value.as_str()),
            "a token value ({}) is in the logs",
            Secret::new(value.as_str()).fingerprint()
        );
        checked += 1;
    }
    assert!(checked > 100);
    for token in [&root_token, &read_only_token] {
        assert!(
            !logs.contains(token.expose()),
            "a Vault token is in the logs"
        );
    }
}
