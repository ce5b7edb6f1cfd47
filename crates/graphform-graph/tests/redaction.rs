//! Redaction: the client runs at TRACE level through a full cycle — create,
//! install, issue, debug, refresh, revoke, invalidate, errors and retries —
//! and nothing captured (logs of the client and its HTTP stack, error
//! messages, `Debug` output) holds a token, a secret or a proof.
//!
//! Its own test binary: it installs the process-wide subscriber (and the
//! `log` bridge), which must not leak into other tests.

use std::sync::Arc;

use graphform_emulator::{Emulator, World};
use graphform_graph::{
    AppCredentials, ClientSettings, GraphClient, IssueToken, ListOptions, NewSystemUser, Secret,
    SystemUserRole, UserToken, VirtualClock, appsecret_proof,
};
use graphform_testkit::logs::Capture;

const BUSINESS: &str = "100000000000001";
const APP: &str = "200000000000001";
const APP_SECRET: &str = "reporting-app-secret-4f1d2c3b5a69";
const ADMIN_TOKEN: &str = "EAAGadminTokenForGraphformClientTests0123456789abcdefXYZ";
const WORLD: &str = r#"
clock_start: 1750000000
businesses: [{id: "100000000000001", name: Acme}]
apps:
  - {id: "200000000000001", name: reporting, business: "100000000000001",
     secret: "reporting-app-secret-4f1d2c3b5a69", access_level: advanced}
system_users:
  - {id: "300000000000001", name: graphform-admin, business: "100000000000001", role: ADMIN}
admin_tokens:
  - {system_user: "300000000000001", app: "200000000000001",
     token: "EAAGadminTokenForGraphformClientTests0123456789abcdefXYZ"}
"#;

/// Runs the emulator on a thread of its own whose events go nowhere, so
/// that the capture holds only the client's side.
struct EmulatorThread {
    base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmulatorThread {
    fn start() -> Self {
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _quiet =
                tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the emulator");
            runtime.block_on(async move {
                let world = World::from_yaml_str(WORLD).expect("the test world is valid");
                let emulator = Emulator::start(world).await.expect("the emulator starts");
                url_tx
                    .send(emulator.base_url())
                    .expect("the test waits for the url");
                let _ = stopped.await;
                emulator.shutdown().await;
            });
        });
        Self {
            base_url: url_rx.recv().expect("the emulator thread sends its url"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for EmulatorThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The forms a secret could take in output: as is, percent-encoded, and
/// (for long ones) its first 24 characters.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned(), secret.replace('|', "%7C")];
    if secret.len() > 32 {
        forms.push(secret[..24].to_owned());
    }
    forms
}

#[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_output_of_a_full_cycle_holds_no_secret() {
    let capture = Capture::new();
    capture.init_global();
    let emulator = EmulatorThread::start();
    let control = reqwest::Client::new();
    let faults = |body: serde_json::Value| {
        control
            .post(format!("{}/_emulator/faults", emulator.base_url))
            .json(&body)
            .send()
    };

    let mut settings = ClientSettings::for_base_url(&emulator.base_url).unwrap();
    settings.jitter_seed = Some(5);
    settings.retry.max_attempts = 10;
    let client = GraphClient::with_clock(settings, Arc::new(VirtualClock::new())).unwrap();
    let app = AppCredentials::new(APP, Secret::new(APP_SECRET));
    let admin = UserToken::new(Secret::new(ADMIN_TOKEN), app.clone());
    let mut shown = Vec::new(); // errors and Debug output, checked too

    faults(serde_json::json!({"transient_error_rate": 0.3, "batch_null_rate": 0.3, "seed": 3}))
        .await
        .unwrap();
    let system_user = client
        .create_system_user(
            &admin,
            BUSINESS,
            &NewSystemUser {
                name: "ci-reporting".into(),
                role: SystemUserRole::Employee,
            },
        )
        .await
        .unwrap();
    let client = client.labeled("acme/ci-reporting");
    client.install_app(&admin, &system_user, APP).await.unwrap();
    let issued = client
        .issue_token(&admin, &system_user, &IssueToken::new(APP, ["ads_read"]))
        .await
        .unwrap();
    let second = client
        .issue_token(&admin, &system_user, &IssueToken::new(APP, ["ads_read"]))
        .await
        .unwrap();
    client.debug_token(&app, &issued).await.unwrap();
    let infos = client
        .debug_tokens(&app, &[issued.clone(), second.clone()])
        .await;
    shown.push(format!("{infos:?}"));
    client
        .list_system_users(&admin, BUSINESS, &ListOptions::default())
        .await
        .unwrap();
    let refreshed = client.refresh_token(&app, &issued).await.unwrap();
    shown.push(format!("{refreshed:?}"));
    let caller = UserToken::new(refreshed.token.clone(), app.clone());
    client.revoke_token(&caller, &issued).await.unwrap();
    faults(serde_json::json!({})).await.unwrap();

    // Errors: the revoked token, a wrong proof, a bad client secret.
    let dead = UserToken::new(issued.clone(), app.clone());
    let error = client
        .read_system_user(&dead, &system_user)
        .await
        .unwrap_err();
    shown.push(format!(
        "{error} {error:?} {:?}",
        std::error::Error::source(&error)
    ));
    let other_app = AppCredentials::new(APP, Secret::new("another-app-secret-00000000"));
    let wrong = UserToken::new(refreshed.token.clone(), other_app.clone());
    let error = client
        .read_system_user(&wrong, &system_user)
        .await
        .unwrap_err();
    shown.push(format!("{error} {error:?}"));
    let error = client
        .refresh_token(&other_app, &refreshed.token)
        .await
        .unwrap_err();
    shown.push(format!("{error} {error:?}"));
    client
        .invalidate_all_tokens(&admin, &system_user)
        .await
        .unwrap();
    shown.push(format!("{client:?} {admin:?} {app:?} {caller:?} {wrong:?}"));

    let logs = capture.text();
    let everything = format!("{logs}\n{}", shown.join("\n"));
    let mut secrets = vec![
        ADMIN_TOKEN.to_owned(),
        APP_SECRET.to_owned(),
        "another-app-secret-00000000".to_owned(),
        app.app_token().expose().to_owned(),
    ];
    for token in [&issued, &second, &refreshed.token] {
        secrets.push(token.expose().to_owned());
        secrets.push(
            appsecret_proof(token.expose(), APP_SECRET)
                .expose()
                .to_owned(),
        );
        secrets.push(
            appsecret_proof(token.expose(), "another-app-secret-00000000")
                .expose()
                .to_owned(),
        );
    }
    secrets.push(admin.appsecret_proof().expose().to_owned());
    for secret in &secrets {
        for form in forms(secret) {
            assert!(
                !everything.contains(&form),
                "a secret ({}) appears in the output",
                graphform_graph::fingerprint(secret)
            );
        }
    }
    // The capture is real: TRACE output of the client and the retries
    // that the injected faults caused are there.
    assert!(logs.contains("sending graph request"), "{logs}");
    assert!(logs.contains("retrying graph call"), "{logs}");
    assert!(
        logs.contains("POST /{system-user}/access_tokens for acme/ci-reporting"),
        "{logs}"
    );
    assert!(logs.lines().count() > 50, "{logs}");
    drop(emulator);
}
