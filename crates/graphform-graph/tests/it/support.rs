//! The test harness: an emulator on 127.0.0.1:0 seeded with a known world,
//! a client on a virtual clock, and the emulator's control API.

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;

use graphform_emulator::{Emulator, World};
use graphform_graph::{
    AppCredentials, ClientSettings, ErrorClass, GraphClient, GraphError, IssueToken, ListOptions,
    NewSystemUser, Secret, SystemUser, SystemUserList, SystemUserRole, TokenInfo, UserToken,
    VirtualClock,
};
use serde_json::Value;

pub(crate) const BUSINESS: &str = "100000000000001";
pub(crate) const REPORTING_APP: &str = "200000000000001";
pub(crate) const REPORTING_SECRET: &str = "reporting-app-secret-4f1d2c3b5a69";
pub(crate) const PUBLISHER_APP: &str = "200000000000002";
pub(crate) const PUBLISHER_SECRET: &str = "publisher-app-secret-9a8b7c6d5e4f";
pub(crate) const ADMIN_SYSTEM_USER: &str = "300000000000001";
pub(crate) const CI_SYSTEM_USER: &str = "300000000000002";
pub(crate) const ADMIN_TOKEN: &str = "EAAGadminTokenForGraphformClientTests0123456789abcdefXYZ";
/// The emulator's clock start (frozen): 2025-06-15.
pub(crate) const CLOCK_START: i64 = 1_750_000_000;

/// One business with two apps (`reporting` advanced: 10 system users;
/// `publisher` standard), its admin system user with a permanent token for
/// `reporting`, and the employee system user `ci-reporting` with
/// `reporting` installed.
pub(crate) const WORLD: &str = r#"
clock_start: 1750000000
seed: 11
businesses:
  - {id: "100000000000001", name: Acme}
apps:
  - {id: "200000000000001", name: reporting, business: "100000000000001",
     secret: "reporting-app-secret-4f1d2c3b5a69", access_level: advanced}
  - {id: "200000000000002", name: publisher, business: "100000000000001",
     secret: "publisher-app-secret-9a8b7c6d5e4f", access_level: standard}
system_users:
  - {id: "300000000000001", name: graphform-admin, business: "100000000000001", role: ADMIN}
  - {id: "300000000000002", name: ci-reporting, business: "100000000000001", role: EMPLOYEE}
installs:
  - {system_user: "300000000000002", app: "200000000000001"}
admin_tokens:
  - {system_user: "300000000000001", app: "200000000000001",
     token: "EAAGadminTokenForGraphformClientTests0123456789abcdefXYZ",
     scopes: [business_management], env: ACME_ADMIN_TOKEN}
"#;

pub(crate) fn reporting() -> AppCredentials {
    AppCredentials::new(REPORTING_APP, Secret::new(REPORTING_SECRET))
}

pub(crate) fn publisher() -> AppCredentials {
    AppCredentials::new(PUBLISHER_APP, Secret::new(PUBLISHER_SECRET))
}

pub(crate) fn admin() -> UserToken {
    UserToken::new(Secret::new(ADMIN_TOKEN), reporting())
}

/// The token most tests issue: 60 days of `ads_read` on `reporting`.
pub(crate) fn ads_read() -> IssueToken {
    IssueToken::new(REPORTING_APP, ["ads_read"])
}

/// `POST /{business}/system_users` on the test business, made by the admin.
pub(crate) async fn create_system_user(
    client: &GraphClient,
    name: &str,
    role: SystemUserRole,
) -> Result<String, GraphError> {
    let request = NewSystemUser {
        name: name.to_owned(),
        role,
    };
    client
        .create_system_user(&admin(), BUSINESS, &request)
        .await
}

/// `GET /{system-user}` of `ci-reporting`, made by the admin.
pub(crate) async fn read_ci_reporting(client: &GraphClient) -> Result<SystemUser, GraphError> {
    client.read_system_user(&admin(), CI_SYSTEM_USER).await
}

/// `GET /{business}/system_users` of the test business, every page, made
/// by the admin.
pub(crate) async fn list_acme(client: &GraphClient) -> Result<SystemUserList, GraphError> {
    client
        .list_system_users(&admin(), BUSINESS, &ListOptions::default())
        .await
}

/// That every `debug_token` answer came back and says `is_valid` is
/// `valid`.
#[track_caller]
pub(crate) fn assert_validity(infos: &[Result<TokenInfo, GraphError>], valid: bool) {
    for (index, info) in infos.iter().enumerate() {
        let info = info.as_ref().expect("debug_token answers");
        assert_eq!(info.is_valid, Some(valid), "token {index}: {info:?}");
    }
}

/// A client on a virtual clock for the Graph API at `base_url`, with
/// jitter seeded by `jitter_seed` and settings adjusted by `configure`.
pub(crate) fn client_on(
    base_url: &str,
    jitter_seed: u64,
    configure: impl FnOnce(&mut ClientSettings),
) -> (GraphClient, VirtualClock) {
    let mut settings = ClientSettings::for_base_url(base_url).expect("a loopback url");
    settings.jitter_seed = Some(jitter_seed);
    configure(&mut settings);
    let clock = VirtualClock::new();
    let client =
        GraphClient::with_clock(settings, Arc::new(clock.clone())).expect("valid settings");
    (client, clock)
}

/// Issues an `ads_read` token of `reporting` for `ci-reporting` (labeled
/// `acme/ci-reporting`) with `client`: a mutation that must fail.
pub(crate) async fn issue_must_fail(client: &GraphClient) -> GraphError {
    client
        .labeled("acme/ci-reporting")
        .issue_token(&admin(), CI_SYSTEM_USER, &ads_read())
        .await
        .expect_err("the issue fails")
}

/// A call that must fail, boxed so that calls of different endpoints fit
/// one table of cases.
pub(crate) type Failing<'a> = Pin<Box<dyn Future<Output = GraphError> + 'a>>;

/// `call`, which must fail (futures are lazy: it runs when awaited).
pub(crate) fn failing<'a, T: Debug>(
    call: impl Future<Output = Result<T, GraphError>> + 'a,
) -> Failing<'a> {
    Box::pin(async move { call.await.expect_err("the call fails") })
}

/// That `error` has `class`, Meta's `code` (`None`: no graph error object)
/// and was given up after `attempts` attempts.
#[track_caller]
pub(crate) fn assert_failed(
    error: &GraphError,
    class: ErrorClass,
    code: Option<i64>,
    attempts: u32,
) {
    assert_eq!(
        (error.class(), error.code(), error.attempts()),
        (class, code, attempts),
        "{error}"
    );
}

/// A running emulator and a client pointed at it.
pub(crate) struct Harness {
    pub(crate) emulator: Emulator,
    pub(crate) client: GraphClient,
    pub(crate) clock: VirtualClock,
    control: reqwest::Client,
    base: String,
}

impl Harness {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with client settings adjusted by `configure`.
    pub(crate) async fn start_with(configure: impl FnOnce(&mut ClientSettings)) -> Self {
        let world = World::from_yaml_str(WORLD).expect("the test world is valid");
        let emulator = Emulator::start(world).await.expect("the emulator starts");
        let base = emulator.base_url();
        let (client, clock) = client_on(&base, 42, configure);
        Self {
            emulator,
            client,
            clock,
            control: reqwest::Client::new(),
            base,
        }
    }

    /// Another client on the same emulator, with its own settings and clock.
    pub(crate) fn client_with(
        &self,
        configure: impl FnOnce(&mut ClientSettings),
    ) -> (GraphClient, VirtualClock) {
        client_on(&self.base, 43, configure)
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    async fn control(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request.send().await.expect("the control api answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert!(status.is_success(), "control api: {status} {text}");
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
    }

    pub(crate) async fn control_get(&self, path: &str) -> Value {
        self.control(self.control.get(format!("{}/_emulator/{path}", self.base)))
            .await
    }

    pub(crate) async fn control_post(&self, path: &str, body: Value) -> Value {
        self.control(
            self.control
                .post(format!("{}/_emulator/{path}", self.base))
                .json(&body),
        )
        .await
    }

    pub(crate) async fn control_delete(&self, path: &str) -> Value {
        self.control(
            self.control
                .delete(format!("{}/_emulator/{path}", self.base)),
        )
        .await
    }

    /// Makes the emulator inject `faults` (errors, latency, `null` batch
    /// items) until [`clear_faults`](Self::clear_faults).
    pub(crate) async fn inject_faults(&self, faults: Value) {
        self.control_post("faults", faults).await;
    }

    pub(crate) async fn clear_faults(&self) {
        self.control_delete("faults").await;
    }

    /// Makes the emulator throttle calls, or report usage, as `rule` says.
    pub(crate) async fn throttle(&self, rule: Value) {
        self.control_post("throttle", rule).await;
    }

    /// `{"http_requests","api_calls","by_endpoint"}`.
    pub(crate) async fn emulator_counters(&self) -> Value {
        self.control_get("counters").await
    }

    pub(crate) async fn emulator_http_requests(&self) -> u64 {
        self.emulator_counters().await["http_requests"]
            .as_u64()
            .expect("http_requests is a number")
    }

    pub(crate) async fn reset_counters(&self) {
        self.control_post("counters/reset", serde_json::json!({}))
            .await;
        self.client.reset_counters();
    }

    pub(crate) async fn advance_clock(&self, seconds: i64) {
        self.control_post("clock", serde_json::json!({ "advance_seconds": seconds }))
            .await;
    }

    pub(crate) async fn state(&self) -> Value {
        self.control_get("state").await
    }

    pub(crate) async fn shutdown(self) {
        self.emulator.shutdown().await;
    }
}
