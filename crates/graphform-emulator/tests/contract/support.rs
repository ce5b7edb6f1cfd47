//! Shared harness: a test world with fixed clock, seed, secrets and
//! tokens, an emulator on 127.0.0.1:0, and a small reqwest-based caller
//! that signs calls with `appsecret_proof`.

use std::fmt::Display;

use graphform_emulator::{Emulator, World};
use hmac::{Hmac, Mac};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha2::Sha256;

/// 2026-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_767_225_600;
pub(crate) const DAY: i64 = 86_400;

pub(crate) const ACME: &str = "100000000000001";
pub(crate) const GLOBEX: &str = "100000000000002";
pub(crate) const EMPTY: &str = "100000000000003";
pub(crate) const STRICT: &str = "100000000000004";

pub(crate) const REPORTING: &str = "200000000000001";
pub(crate) const PUBLISHER: &str = "200000000000002";
pub(crate) const GLOBEX_APP: &str = "200000000000003";
pub(crate) const STRICT_APP: &str = "200000000000004";

pub(crate) const ACME_ADMIN_SU: &str = "300000000000001";
pub(crate) const GLOBEX_ADMIN_SU: &str = "300000000000002";
pub(crate) const STRICT_ADMIN_SU: &str = "300000000000003";
pub(crate) const ADA: &str = "400000000000001";

pub(crate) const REPORTING_SECRET: &str = "reportingsecret0001reportingsecret";
pub(crate) const PUBLISHER_SECRET: &str = "publishersecret0002publishersecret";
pub(crate) const GLOBEX_SECRET: &str = "globexsecret00003globexsecret00003";
pub(crate) const STRICT_SECRET: &str = "strictsecret00004strictsecret00004";

pub(crate) const ACME_ADMIN_TOKEN: &str = "EAAacmeAdminToken0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
pub(crate) const GLOBEX_ADMIN_TOKEN: &str = "EAAglobexAdminToken00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
pub(crate) const STRICT_ADMIN_TOKEN: &str = "EAAstrictAdminToken00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
pub(crate) const ADA_TOKEN: &str = "EAAadaUserToken000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn test_world_yaml() -> String {
    format!(
        r#"
clock_start: {T0}
seed: 42
businesses:
  - {{ id: "{ACME}", name: Acme }}
  - {{ id: "{GLOBEX}", name: Globex }}
  - {{ id: "{EMPTY}", name: Empty }}
  - {{ id: "{STRICT}", name: Strict, requires_expiring_tokens: true }}
apps:
  - {{ id: "{REPORTING}", name: reporting, business: "{ACME}", secret: "{REPORTING_SECRET}", access_level: advanced }}
  - {{ id: "{PUBLISHER}", name: publisher, business: "{ACME}", secret: "{PUBLISHER_SECRET}", access_level: advanced }}
  - {{ id: "{GLOBEX_APP}", name: globex-app, business: "{GLOBEX}", secret: "{GLOBEX_SECRET}", access_level: standard }}
  - {{ id: "{STRICT_APP}", name: strict-app, business: "{STRICT}", secret: "{STRICT_SECRET}" }}
system_users:
  - {{ id: "{ACME_ADMIN_SU}", name: acme-admin, business: "{ACME}", role: ADMIN, created_time: 1704164645 }}
  - {{ id: "{GLOBEX_ADMIN_SU}", name: globex-admin, business: "{GLOBEX}", role: ADMIN }}
  - {{ id: "{STRICT_ADMIN_SU}", name: strict-admin, business: "{STRICT}", role: ADMIN }}
admin_users:
  - {{ id: "{ADA}", name: Ada Admin, businesses: ["{EMPTY}"] }}
admin_tokens:
  - {{ system_user: "{ACME_ADMIN_SU}", app: "{REPORTING}", token: "{ACME_ADMIN_TOKEN}", scopes: [business_management, ads_management] }}
  - {{ system_user: "{GLOBEX_ADMIN_SU}", app: "{GLOBEX_APP}", token: "{GLOBEX_ADMIN_TOKEN}" }}
  - {{ system_user: "{STRICT_ADMIN_SU}", app: "{STRICT_APP}", token: "{STRICT_ADMIN_TOKEN}" }}
  - {{ user: "{ADA}", app: "{REPORTING}", token: "{ADA_TOKEN}" }}
"#
    )
}

pub(crate) fn test_world() -> World {
    World::from_yaml_str(&test_world_yaml()).expect("test world is valid")
}

/// Who makes a call: a token and the secret of its app (for the proof).
#[derive(Clone)]
pub(crate) struct Creds {
    pub(crate) token: String,
    pub(crate) secret: String,
}

impl Creds {
    pub(crate) fn new(token: &str, secret: &str) -> Self {
        Self {
            token: token.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// `access_token` and `appsecret_proof`.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        vec![
            ("access_token".to_owned(), self.token.clone()),
            (
                "appsecret_proof".to_owned(),
                proof(&self.secret, &self.token),
            ),
        ]
    }
}

/// A token issued for `reporting`, signed with its secret.
pub(crate) fn reporting_caller(token: &str) -> Creds {
    Creds::new(token, REPORTING_SECRET)
}

/// `/{business}/system_users`.
pub(crate) fn system_users(business: impl Display) -> String {
    format!("/{business}/system_users")
}

/// `/{system_user}/access_tokens`.
pub(crate) fn access_tokens(system_user: impl Display) -> String {
    format!("/{system_user}/access_tokens")
}

/// `/{system_user}/applications`.
pub(crate) fn applications(system_user: impl Display) -> String {
    format!("/{system_user}/applications")
}

/// `/{id}`, a node.
pub(crate) fn node(id: impl Display) -> String {
    format!("/{id}")
}

/// The fields `issue` sends: the app, the scopes, and the 60-day flag when
/// `expiring`.
pub(crate) fn issue_params<'a>(
    app: &'a str,
    scope: &'a str,
    expiring: bool,
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![("business_app", app), ("scope", scope)];
    if expiring {
        params.push(("set_token_expires_in_60_days", "true"));
    }
    params
}

/// The message of a wrong `appsecret_proof` (graph-api.md §5), also used
/// for an expired time-stamped one.
pub(crate) const INVALID_PROOF: &str = "Invalid appsecret_proof provided in the API argument";

/// The `code` of every item of a batch answer.
#[track_caller]
pub(crate) fn batch_codes(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|item| item["code"].as_i64().unwrap())
        .collect()
}

/// `key` of every item of a JSON array, as strings.
#[track_caller]
pub(crate) fn strings<'a>(items: &'a Value, key: &str) -> Vec<&'a str> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|item| {
            item[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key}: {item}"))
        })
        .collect()
}

pub(crate) fn acme() -> Creds {
    Creds::new(ACME_ADMIN_TOKEN, REPORTING_SECRET)
}

pub(crate) fn globex() -> Creds {
    Creds::new(GLOBEX_ADMIN_TOKEN, GLOBEX_SECRET)
}

pub(crate) fn ada() -> Creds {
    Creds::new(ADA_TOKEN, REPORTING_SECRET)
}

pub(crate) fn app_token(app: &str, secret: &str) -> String {
    format!("{app}|{secret}")
}

/// The time-stamped `appsecret_proof` of `token` at `time`: the proof of
/// `{token}|{time}`.
pub(crate) fn timed_proof(secret: &str, token: &str, time: i64) -> String {
    proof(secret, &format!("{token}|{time}"))
}

/// HMAC-SHA256(key = secret, message), lowercase hex.
pub(crate) fn proof(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn code(&self) -> i64 {
        self.body["error"]["code"].as_i64().unwrap_or(0)
    }

    pub(crate) fn subcode(&self) -> Option<i64> {
        self.body["error"]["error_subcode"].as_i64()
    }

    pub(crate) fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// Asserts an error with this HTTP status, code and subcode.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: i64, subcode: Option<i64>) {
        assert_eq!(
            (self.status, self.code(), self.subcode()),
            (status, code, subcode),
            "{}",
            self.body
        );
        let error = &self.body["error"];
        assert!(error["type"].is_string(), "{}", self.body);
        assert!(error["fbtrace_id"].is_string(), "{}", self.body);
        assert!(error["is_transient"].is_boolean(), "{}", self.body);
    }

    /// Asserts an error as [`Reply::assert_error`] does, with exactly this
    /// message.
    #[track_caller]
    pub(crate) fn assert_error_message(
        &self,
        status: u16,
        code: i64,
        subcode: Option<i64>,
        message: &str,
    ) {
        self.assert_error(status, code, subcode);
        assert_eq!(self.message(), message, "{}", self.body);
    }

    #[track_caller]
    pub(crate) fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.body.get("error").is_none(), "{}", self.body);
        &self.body
    }

    /// Asserts success and returns the body's string field `key` (e.g.
    /// `access_token`).
    #[track_caller]
    pub(crate) fn string(&self, key: &str) -> String {
        self.assert_ok()[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key}: {}", self.body))
            .to_owned()
    }
}

/// One caller's view of a [`Harness`]: its calls carry the caller's token
/// and `appsecret_proof`, if it has them.
pub(crate) struct Caller<'h> {
    harness: &'h Harness,
    creds: Option<Creds>,
}

impl Caller<'_> {
    /// `method` on `path` with `params` and the caller's credentials, to
    /// send as it is or to change first.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut all = owned(params);
        if let Some(creds) = &self.creds {
            all.extend(creds.params());
        }
        self.harness.request(method, path, &all)
    }

    /// Sends [`Caller::request`] and reads the JSON answer.
    pub(crate) async fn call(&self, method: Method, path: &str, params: &[(&str, &str)]) -> Reply {
        Harness::send(self.request(method, path, params)).await
    }

    pub(crate) async fn get(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.call(Method::GET, path, params).await
    }

    pub(crate) async fn post(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.call(Method::POST, path, params).await
    }

    /// POST with `body` as JSON, the caller's credentials added to it.
    pub(crate) async fn post_json(&self, path: &str, mut body: Value) -> Reply {
        for (key, value) in self.creds.iter().flat_map(Creds::params) {
            body[key] = Value::String(value);
        }
        Harness::send(self.harness.http.post(self.harness.url(path)).json(&body)).await
    }
}

/// An emulator on the test world, and a client for it. The emulator stops
/// when the harness is dropped.
pub(crate) struct Harness {
    pub(crate) emulator: Emulator,
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
}

fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Harness {
    pub(crate) async fn start() -> Self {
        Self::start_with(test_world()).await
    }

    pub(crate) async fn start_with(world: World) -> Self {
        let emulator = Emulator::start(world).await.expect("emulator starts");
        let base = emulator.base_url();
        Self {
            emulator,
            http: reqwest::Client::new(),
            base,
        }
    }

    /// A harness on the test world, and a fresh EMPLOYEE system user of
    /// Acme named `name` with `reporting` installed.
    pub(crate) async fn with_employee(name: &str) -> (Self, String) {
        let h = Self::start().await;
        let id = h.employee(name).await;
        (h, id)
    }

    /// A harness, a fresh EMPLOYEE system user of Acme named `ci` with
    /// `reporting` installed, and a 60-day `ads_read` token of `reporting`
    /// for it: where most token tests start.
    pub(crate) async fn with_token() -> (Self, String, String) {
        let (h, id) = Self::with_employee("ci").await;
        let token = h.reporting_token(&id, "ads_read", true).await;
        (h, id, token)
    }

    /// Calls as `creds`.
    pub(crate) fn caller(&self, creds: &Creds) -> Caller<'_> {
        Caller {
            harness: self,
            creds: Some(creds.clone()),
        }
    }

    /// Calls with a token of `reporting`.
    pub(crate) fn reporting(&self, token: &str) -> Caller<'_> {
        self.caller(&reporting_caller(token))
    }

    /// Calls with no credentials but those the parameters hold.
    pub(crate) fn anonymous(&self) -> Caller<'_> {
        Caller {
            harness: self,
            creds: None,
        }
    }

    /// Calls as Acme's admin system user (the `reporting` app).
    pub(crate) fn acme(&self) -> Caller<'_> {
        self.caller(&acme())
    }

    /// `{base}/v26.0{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/v26.0{path}", self.base)
    }

    /// `method` on `path` with exactly `params`: a form body for POST, the
    /// query string otherwise.
    fn request(
        &self,
        method: Method,
        path: &str,
        params: &[(String, String)],
    ) -> reqwest::RequestBuilder {
        let is_post = method == Method::POST;
        let request = self.http.request(method, self.url(path));
        if is_post {
            request.form(params)
        } else {
            request.query(params)
        }
    }

    /// Sends `request` and reads the answer as JSON.
    pub(crate) async fn send(request: reqwest::RequestBuilder) -> Reply {
        Self::reply(request.send().await.unwrap()).await
    }

    pub(crate) async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// GET with this `Authorization` header (`Bearer …`, `OAuth …`).
    pub(crate) async fn get_authorized(
        &self,
        path: &str,
        authorization: &str,
        params: &[(&str, &str)],
    ) -> Reply {
        let request = self.anonymous().request(Method::GET, path, params);
        Self::send(request.header("Authorization", authorization)).await
    }

    /// GET of a URL exactly as given (a page's `next`, say).
    pub(crate) async fn get_url(&self, url: &str) -> Reply {
        Self::send(self.http.get(url)).await
    }

    pub(crate) async fn control_get(&self, path: &str) -> Value {
        self.control_ok(Method::GET, path).await
    }

    pub(crate) async fn control_post(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/_emulator{path}", self.base);
        let response = self.http.post(url).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// `control_post` that must answer 200; its body.
    pub(crate) async fn control_post_ok(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.control_post(path, body).await;
        assert_eq!(status, 200, "{reply}");
        reply
    }

    /// `control_post` that must be refused with `status` and an
    /// `{"error": "…"}` body.
    pub(crate) async fn control_refused(&self, path: &str, body: Value, status: u16) {
        let (actual, reply) = self.control_post(path, body).await;
        assert_eq!(actual, status, "{reply}");
        assert!(reply["error"].is_string(), "{reply}");
    }

    pub(crate) async fn control_delete(&self, path: &str) -> Value {
        self.control_ok(Method::DELETE, path).await
    }

    async fn control_ok(&self, method: Method, path: &str) -> Value {
        let url = format!("{}/_emulator{path}", self.base);
        let response = self.http.request(method, url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub(crate) async fn advance(&self, seconds: i64) {
        self.control_post_ok("/clock", serde_json::json!({ "advance_seconds": seconds }))
            .await;
    }

    // --- domain helpers (each asserts success) ---

    pub(crate) async fn create_system_user(
        &self,
        creds: &Creds,
        business: &str,
        name: &str,
        role: &str,
    ) -> String {
        self.caller(creds)
            .post(&system_users(business), &[("name", name), ("role", role)])
            .await
            .string("id")
    }

    pub(crate) async fn install(&self, creds: &Creds, system_user: &str, app: &str) {
        let reply = self
            .caller(creds)
            .post(&applications(system_user), &[("business_app", app)])
            .await;
        assert_eq!(reply.assert_ok(), &serde_json::json!({ "success": true }));
    }

    pub(crate) async fn issue(
        &self,
        creds: &Creds,
        system_user: &str,
        app: &str,
        scope: &str,
        expiring: bool,
    ) -> String {
        let params = issue_params(app, scope, expiring);
        self.caller(creds)
            .post(&access_tokens(system_user), &params)
            .await
            .string("access_token")
    }

    /// `debug_token`'s `data`, asking with the app token of `app`.
    pub(crate) async fn debug(&self, app: &str, secret: &str, input: &str) -> Value {
        let reply = self.debug_token(input, &app_token(app, secret)).await;
        reply.assert_ok()["data"].clone()
    }

    /// A token of `reporting` for `system_user`, issued by Acme's admin.
    pub(crate) async fn reporting_token(
        &self,
        system_user: &str,
        scope: &str,
        expiring: bool,
    ) -> String {
        self.issue(&acme(), system_user, REPORTING, scope, expiring)
            .await
    }

    /// Installs `publisher` for `system_user` and returns a 60-day
    /// `ads_read` token of it, issued by Acme's admin.
    pub(crate) async fn publisher_token(&self, system_user: &str) -> String {
        self.install(&acme(), system_user, PUBLISHER).await;
        self.issue(&acme(), system_user, PUBLISHER, "ads_read", true)
            .await
    }

    /// `GET /debug_token` for `input`, asked with `access_token`.
    pub(crate) async fn debug_token(&self, input: &str, access_token: &str) -> Reply {
        let params = [("input_token", input), ("access_token", access_token)];
        self.anonymous().get("/debug_token", &params).await
    }

    /// `GET /oauth/access_token` exchanging `token` with the credentials of
    /// `app`, plus `extra` parameters.
    pub(crate) async fn exchange(
        &self,
        app: &str,
        secret: &str,
        token: &str,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut params = vec![
            ("grant_type", "fb_exchange_token"),
            ("client_id", app),
            ("client_secret", secret),
        ];
        params.extend_from_slice(extra);
        params.push(("fb_exchange_token", token));
        self.anonymous().get("/oauth/access_token", &params).await
    }

    /// Renames a system user of Acme through Graph (`system_user_id` and
    /// `name`); the answer is its ID.
    pub(crate) async fn rename(&self, system_user: &str, name: &str) {
        let params = [("system_user_id", system_user), ("name", name)];
        let reply = self.acme().post(&system_users(ACME), &params).await;
        assert_eq!(reply.assert_ok(), &serde_json::json!({ "id": system_user }));
    }

    /// A fresh EMPLOYEE system user of Acme with `reporting` installed.
    pub(crate) async fn employee(&self, name: &str) -> String {
        let id = self
            .create_system_user(&acme(), ACME, name, "EMPLOYEE")
            .await;
        self.install(&acme(), &id, REPORTING).await;
        id
    }
}
