//! One Graph call over HTTP: where the credentials go, sending, the retry
//! loop (backoff, throttling, usage slow-down, the "outcome unknown" rule)
//! and reading the answer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{Instrument, debug, debug_span};

use crate::Secret;
use crate::auth::{AppCredentials, UserToken};
use crate::clock::Clock;
use crate::config::{ClientSettings, ConfigError};
use crate::counters::Counters;
use crate::error::{
    AnswerFailure, ApiError, ConnectFailure, ErrorClass, ErrorKind, GraphError, NetworkError,
    Operation,
};
use crate::redact::Redactor;
use crate::retry::{Jitter, Repeat};
use crate::usage::{UsageGovernor, UsageReport};
use crate::wait::{Wait, WaitReason, WaitSlot};
use graphform_types::Chain;

/// The credential a call is made with.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    /// None (refresh: authenticated by `client_secret`).
    None,
    /// A user or system-user token: sent with its `appsecret_proof`.
    User(UserToken),
    /// The app token `{app-id}|{app-secret}` (`debug_token`).
    App(AppCredentials),
}

/// An endpoint as this client calls it: the method, the template that names
/// it in errors and logs (`/{system-user}/access_tokens`), and whether a
/// repeat after a lost answer is safe. Each endpoint module declares its
/// endpoints as constants, so that the three are stated once.
#[derive(Debug)]
pub(crate) struct Endpoint {
    method: Method,
    template: &'static str,
    repeat: Repeat,
}

impl Endpoint {
    pub(crate) const fn new(method: Method, template: &'static str, repeat: Repeat) -> Self {
        Self {
            method,
            template,
            repeat,
        }
    }

    /// The operation of a call to this endpoint about `target`.
    pub(crate) fn operation(&self, target: impl Into<String>) -> Operation {
        Operation::new(method_name(&self.method), self.template, target.into())
    }

    /// A call to this endpoint about `target`, at `path` (the segments after
    /// the version).
    pub(crate) fn call(&self, target: impl Into<String>, path: &[&str]) -> Call {
        Call {
            operation: self.operation(target),
            method: self.method.clone(),
            path: path.iter().map(|segment| (*segment).to_owned()).collect(),
            params: Vec::new(),
            auth: Auth::None,
            repeat: self.repeat,
            api_calls: 1,
            redactor: Redactor::default(),
        }
    }
}

/// One API call to make: everything needed to send it and to describe it.
/// `Debug` shows parameter names, not values (some are secrets).
#[derive(Clone)]
pub(crate) struct Call {
    pub(crate) operation: Operation,
    pub(crate) method: Method,
    /// Path segments after the version; empty for the root (batch).
    pub(crate) path: Vec<String>,
    /// Query parameters for GET and DELETE, form fields for POST.
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) auth: Auth,
    pub(crate) repeat: Repeat,
    /// API calls this request makes (operations in a batch).
    pub(crate) api_calls: u64,
    /// Every secret the request carries, to scrub from anything echoed.
    pub(crate) redactor: Redactor,
}

impl Call {
    pub(crate) fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    /// A parameter whose value is a secret (scrubbed from echoes).
    pub(crate) fn secret_param(mut self, name: &'static str, value: &Secret) -> Self {
        self.redactor = {
            let mut redactor = Redactor::new(vec![value.clone()]);
            redactor.extend(&self.redactor);
            redactor
        };
        self.params.push((name, value.expose().to_owned()));
        self
    }

    pub(crate) fn auth(mut self, auth: Auth) -> Self {
        let secrets = match &auth {
            Auth::None => Vec::new(),
            Auth::User(token) => vec![
                token.token().clone(),
                token.appsecret_proof(),
                token.app().secret().clone(),
            ],
            Auth::App(app) => vec![app.app_token(), app.secret().clone()],
        };
        self.redactor.extend(&Redactor::new(secrets));
        self.auth = auth;
        self
    }

    /// This call's failure: `kind`, after `attempts` attempts.
    pub(crate) fn error(&self, kind: ErrorKind, attempts: u32) -> GraphError {
        GraphError::new(self.operation.clone(), kind, attempts)
    }

    pub(crate) fn app_id(&self) -> Option<&str> {
        match &self.auth {
            Auth::None => None,
            Auth::User(token) => Some(token.app().app_id()),
            Auth::App(app) => Some(app.app_id()),
        }
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.params.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Call")
            .field("operation", &self.operation.to_string())
            .field("params", &names)
            .field("auth", &self.auth)
            .field("repeat", &self.repeat)
            .field("api_calls", &self.api_calls)
            .finish_non_exhaustive()
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        _ => "?",
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) attempts: u32,
}

/// What one attempt came to.
enum Attempt {
    Answered {
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    /// The connection could not be made: nothing was sent.
    NotSent(reqwest::Error),
    /// Sent, but no complete answer.
    Lost(reqwest::Error),
}

/// A failed attempt, with what the retry decision needs.
struct Failure {
    kind: ErrorKind,
    /// Whether the request provably did not take effect: no connection, or
    /// Meta's own error answer (or a 429/503, which refuse the request).
    not_executed: bool,
    /// Meta's estimate of when throttling ends.
    regain: Option<Duration>,
}

/// The shared machinery behind every [`GraphClient`](crate::GraphClient).
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    pub(crate) settings: ClientSettings,
    api_root: Url,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) jitter: Jitter,
    pub(crate) governor: UsageGovernor,
    pub(crate) counters: Counters,
    /// Told of each wait before a retry or a pause (set once).
    pub(crate) waits: WaitSlot,
}

impl Transport {
    pub(crate) fn new(
        settings: ClientSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        settings.validate()?;
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            // A redirect could carry the token's proof to another host.
            .redirect(reqwest::redirect::Policy::none())
            // Every attempt is this crate's decision (and is counted).
            .retry(reqwest::retry::never())
            .user_agent(concat!("graphform/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| ConfigError::HttpClient(err.without_url().to_string()))?;
        let api_root = settings
            .base_url
            .as_url()
            .join(&format!("{}/", settings.api_version))
            .map_err(|err| ConfigError::BaseUrl {
                url: settings.base_url.to_string(),
                reason: err.to_string(),
            })?;
        Ok(Self {
            http,
            jitter: Jitter::new(settings.jitter_seed),
            governor: UsageGovernor::new(settings.usage.clone()),
            settings,
            api_root,
            clock,
            counters: Counters::default(),
            waits: WaitSlot::default(),
        })
    }

    fn url(&self, path: &[String]) -> Url {
        let mut url = self.api_root.clone();
        if !path.is_empty()
            && let Ok(mut segments) = url.path_segments_mut()
        {
            segments.pop_if_empty().extend(path);
        }
        url
    }

    /// Builds the HTTP request. Credentials: for GET and DELETE the token
    /// goes in the `Authorization: Bearer` header (marked sensitive) and the
    /// proof in the query; for POST both go in the form body.
    fn build(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut params = call.params.clone();
        let mut bearer: Option<Secret> = None;
        let in_body = call.method == Method::POST;
        match &call.auth {
            Auth::None => {}
            Auth::User(token) => {
                if in_body {
                    params.push(("access_token", token.token().expose().to_owned()));
                } else {
                    bearer = Some(token.token().clone());
                }
                params.push((
                    "appsecret_proof",
                    token.appsecret_proof().expose().to_owned(),
                ));
            }
            Auth::App(app) => {
                let token = app.app_token();
                if in_body {
                    params.push(("access_token", token.expose().to_owned()));
                } else {
                    bearer = Some(token);
                }
            }
        }
        let mut request = self.http.request(call.method.clone(), self.url(&call.path));
        if in_body {
            request = request.form(&params);
        } else if !params.is_empty() {
            request = request.query(&params);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token.expose());
        }
        request
    }

    async fn send_once(&self, call: &Call) -> Attempt {
        let response = match self.build(call).send().await {
            Ok(response) => response,
            Err(error) if error.is_connect() => return Attempt::NotSent(error.without_url()),
            Err(error) => return Attempt::Lost(error.without_url()),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        match response.bytes().await {
            Ok(body) => Attempt::Answered {
                status,
                headers,
                body: body.to_vec(),
            },
            Err(error) => Attempt::Lost(error.without_url()),
        }
    }

    /// Tells the observer, if any, of a wait about to start.
    pub(crate) fn notify(&self, wait: &Wait) {
        self.waits.notify(wait);
    }

    /// Waits as the usage headers seen so far require.
    async fn pace(&self) {
        if let Some(delay) = self.governor.delay(self.clock.now()) {
            self.counters.usage_delay();
            if delay.pause {
                self.notify(&Wait {
                    reason: WaitReason::UsagePause {
                        percent: whole_percent(delay.percent),
                    },
                    delay: delay.delay,
                    attempt: None,
                    max_attempts: self.settings.retry.max_attempts,
                });
            }
            debug!(
                usage_percent = delay.percent,
                delay_ms = millis(delay.delay),
                pause = delay.pause,
                "usage near the limit, slowing down"
            );
            self.clock.sleep(delay.delay).await;
        }
    }

    /// Sends `call`, retrying as the policy and the call's [`Repeat`] allow,
    /// and returns the 2xx answer or the final error.
    pub(crate) async fn execute(&self, call: &Call) -> Result<Answer, GraphError> {
        let span = debug_span!("graph_call", operation = %call.operation);
        self.execute_inner(call).instrument(span).await
    }

    /// One attempt: the 2xx answer, or the failure with what the retry
    /// decision needs.
    async fn attempt(&self, call: &Call, attempt: u32) -> Result<Answer, Failure> {
        Err(match self.send_once(call).await {
            Attempt::Answered {
                status,
                headers,
                body,
            } => {
                let report = UsageReport::from_headers(&headers);
                self.governor
                    .observe(&report, call.app_id(), self.clock.now());
                if (200..300).contains(&status) {
                    debug!(attempt, status, "graph answered");
                    return Ok(Answer {
                        status,
                        body,
                        attempts: attempt,
                    });
                }
                let kind = if let Some(api) = ApiError::from_body(status, &body, &call.redactor) {
                    ErrorKind::Api(Box::new(api))
                } else {
                    let content_type = headers
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|value| value.to_str().ok());
                    ErrorKind::http(status, content_type, &body, &call.redactor)
                };
                Failure {
                    // Only Meta's own error answer proves the request was
                    // refused. A 429 or 5xx page from a gateway does not:
                    // the request may have reached Meta behind it.
                    not_executed: matches!(kind, ErrorKind::Api(_)),
                    kind,
                    regain: report.regain_access(),
                }
            }
            Attempt::NotSent(error) => Failure {
                kind: {
                    let (failure, detail) = ConnectFailure::of(&error);
                    debug!(attempt, ?failure, error = %Chain(&error), "cannot connect");
                    ErrorKind::Connect(Box::new(self.network_error(failure, detail, error)))
                },
                not_executed: true,
                regain: None,
            },
            Attempt::Lost(error) => Failure {
                kind: {
                    let (failure, detail) =
                        AnswerFailure::of(&error, self.settings.request_timeout);
                    debug!(attempt, ?failure, error = %Chain(&error), "no answer");
                    ErrorKind::NoAnswer(Box::new(self.network_error(failure, detail, error)))
                },
                not_executed: false,
                regain: None,
            },
        })
    }

    /// A network failure of a call to this client's base URL.
    fn network_error<F>(
        &self,
        failure: F,
        detail: Option<String>,
        error: reqwest::Error,
    ) -> NetworkError<F> {
        NetworkError {
            url: self.settings.base_url.clone(),
            origin: self.settings.base_url_origin.clone(),
            failure,
            detail,
            error: Arc::new(error),
        }
    }

    async fn execute_inner(&self, call: &Call) -> Result<Answer, GraphError> {
        let policy = &self.settings.retry;
        let started = self.clock.now();
        let mut throttled_retries = 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                self.counters.retry();
            }
            self.pace().await;
            self.counters.request(call.api_calls);
            debug!(attempt, api_calls = call.api_calls, "sending graph request");
            let failure = match self.attempt(call, attempt).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            let class = failure.kind.class();
            debug!(
                attempt,
                class = ?class,
                code = failure_code(&failure.kind),
                "graph call failed"
            );
            let give_up = |kind| Err(call.error(kind, attempt));
            if !class.is_retryable() {
                return give_up(failure.kind);
            }
            if call.repeat == Repeat::Unsafe && !failure.not_executed {
                return give_up(outcome_unknown(failure.kind));
            }
            let delay = if class == ErrorClass::Throttled {
                throttled_retries += 1;
                let Some(wait) =
                    policy.throttle_wait(throttled_retries, failure.regain, &self.jitter)
                else {
                    debug!(
                        attempt,
                        estimate_ms = failure.regain.map(millis),
                        "throttled for longer than max_throttle_wait"
                    );
                    return give_up(failure.kind);
                };
                wait
            } else {
                policy.backoff(attempt, &self.jitter)
            };
            let elapsed = self.clock.now().saturating_sub(started);
            if attempt >= policy.max_attempts || elapsed + delay > policy.max_elapsed {
                debug!(attempt, "retry budget exhausted");
                return give_up(failure.kind);
            }
            if class == ErrorClass::Throttled {
                self.counters.throttle_wait();
            }
            debug!(
                attempt,
                delay_ms = millis(delay),
                class = ?class,
                "retrying graph call"
            );
            self.notify(&Wait {
                reason: if class == ErrorClass::Throttled {
                    WaitReason::Throttled {
                        code: failure_code(&failure.kind),
                    }
                } else {
                    WaitReason::failed(&failure.kind)
                },
                delay,
                attempt: Some(attempt + 1),
                max_attempts: policy.max_attempts,
            });
            self.clock.sleep(delay).await;
            if class == ErrorClass::Throttled {
                // The wait was the throttle's: the usage readings that came
                // with the error must not make the client wait again.
                self.governor.forget_blocked();
            }
        }
    }

    /// [`execute`](Self::execute), then decode the JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: &Call) -> Result<T, GraphError> {
        let answer = self.execute(call).await?;
        decode(call, &answer)
    }

    /// [`execute`](Self::execute) for a mutation answering
    /// `{"success":true}`. Done only on the documented success answer (see
    /// [`success_answer`]); Meta's explicit `false` is
    /// [`ErrorKind::Unsuccessful`]; anything else (a proxy's HTML page, `{}`,
    /// `null`, an error object with status 200) says nothing of whether the
    /// change was made: [`ErrorKind::OutcomeUnknown`].
    pub(crate) async fn call_success(&self, call: &Call) -> Result<(), GraphError> {
        let answer = self.execute(call).await?;
        let kind = match success_answer(&answer.body) {
            Some(true) => return Ok(()),
            Some(false) => ErrorKind::Unsuccessful,
            None => ErrorKind::OutcomeUnknown {
                reason: format!(
                    "http {} with a body that is not the documented success answer ({})",
                    answer.status,
                    describe_body(&answer.body)
                ),
                source: None,
            },
        };
        Err(call.error(kind, answer.attempts))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A usage percentage as a whole number for people.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "rounded and clamped to 0..=1000 first"
)]
fn whole_percent(percent: f64) -> u32 {
    percent.round().clamp(0.0, 1000.0) as u32
}

fn failure_code(kind: &ErrorKind) -> Option<i64> {
    match kind {
        ErrorKind::Api(api) => Some(api.code),
        _ => None,
    }
}

fn outcome_unknown(kind: ErrorKind) -> ErrorKind {
    match kind {
        ErrorKind::NoAnswer(answer) => ErrorKind::OutcomeUnknown {
            reason: answer.to_string(),
            source: Some(answer.error),
        },
        ErrorKind::Connect(connect) => ErrorKind::OutcomeUnknown {
            reason: connect.to_string(),
            source: Some(connect.error),
        },
        ErrorKind::Http {
            status, excerpt, ..
        } => ErrorKind::OutcomeUnknown {
            reason: format!("http {status} from a gateway, not from the Graph API: {excerpt}"),
            source: None,
        },
        other => ErrorKind::OutcomeUnknown {
            reason: other.to_string(),
            source: None,
        },
    }
}

/// Decodes a 2xx JSON answer. A body that does not decode is an
/// "outcome unknown" for an unsafe mutation (it happened, and its result —
/// maybe a new token — is lost), an invalid response otherwise. The serde
/// message is not kept: it can quote a value from the body.
pub(crate) fn decode<T: DeserializeOwned>(call: &Call, answer: &Answer) -> Result<T, GraphError> {
    serde_json::from_slice(&answer.body).map_err(|error| {
        let detail = format!(
            "the body is not the expected json ({:?} error at line {} column {})",
            error.classify(),
            error.line(),
            error.column()
        )
        .to_lowercase();
        let kind = if call.repeat == Repeat::Unsafe {
            ErrorKind::OutcomeUnknown {
                reason: detail,
                source: None,
            }
        } else {
            ErrorKind::InvalidResponse {
                status: answer.status,
                detail,
            }
        };
        call.error(kind, answer.attempts)
    })
}

/// What a success-style body says: `Some(true)` for the documented
/// answers (`true`, `{"success":true}`, `{"success":"true"}`, even the
/// documented `{"success":"true",}` with its stray comma), `Some(false)` for
/// Meta's explicit `false` in the same forms, and `None` for anything else,
/// which proves nothing either way.
pub(crate) fn success_answer(body: &[u8]) -> Option<bool> {
    let text = String::from_utf8_lossy(body);
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    // The documented sample's trailing comma is the only repair made.
    let compact = compact
        .strip_suffix(",}")
        .map_or(compact.clone(), |head| format!("{head}}}"));
    let flag = |value: &Value| match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    };
    match serde_json::from_str::<Value>(&compact).ok()? {
        Value::Bool(flag) => Some(flag),
        Value::Object(map) if map.len() == 1 => map.get("success").and_then(flag),
        _ => None,
    }
}

/// A short description of a body for an error, never its content (it can
/// quote a parameter): `html page`, `empty`, `json object with keys [...]`.
fn describe_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return "empty".to_owned();
    }
    if trimmed.starts_with('<') {
        return "an html page".to_owned();
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(map)) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).take(5).collect();
            format!("a json object with keys [{}]", keys.join(", "))
        }
        Ok(Value::Null) => "json null".to_owned(),
        Ok(_) => "another json value".to_owned(),
        Err(_) => format!("{} bytes that are not json", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_only_the_documented_answer() {
        let cases: [(Option<bool>, &[&str]); 3] = [
            (
                Some(true),
                &[
                    "true",
                    "{\"success\":true}",
                    "{\"success\":\"true\"}",
                    "{\"success\":\"true\",}",
                    " { \"success\" : true } ",
                ],
            ),
            (
                Some(false),
                &[
                    "false",
                    "{\"success\":false}",
                    "{\"success\":\"false\"}",
                    "{ \"success\" : false , }",
                ],
            ),
            (
                None,
                &[
                    "",
                    "{}",
                    "null",
                    "<html>Service Unavailable</html>",
                    "{\"id\":\"1\"}",
                    "{\"success\": 1}",
                    "{\"success\":true,\"error\":{\"code\":1}}",
                    "{\"error\":{\"message\":\"m\",\"code\":2}}",
                    "[true]",
                ],
            ),
        ];
        for (expected, bodies) in cases {
            for body in bodies {
                assert_eq!(success_answer(body.as_bytes()), expected, "{body}");
            }
        }
    }

    #[test]
    fn debug_of_a_call_shows_no_secret() {
        use crate::auth::{AppCredentials, UserToken};

        let app = AppCredentials::new("1", Secret::new("app-secret-value"));
        let token = UserToken::new(Secret::new("EAAcallertokenvalue"), app.clone());
        let call = Endpoint::new(Method::GET, "/oauth/revoke", Repeat::Unsafe)
            .call("x", &["oauth", "revoke"])
            .secret_param("client_secret", app.secret())
            .secret_param("revoke_token", &Secret::new("EAArevokedtokenvalue"))
            .auth(Auth::User(token.clone()));
        let shown = format!("{call:?} {call:#?}");
        for secret in [
            "app-secret-value",
            "EAAcallertokenvalue",
            "EAArevokedtokenvalue",
            token.appsecret_proof().expose(),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("client_secret"), "{shown}");
    }

    #[test]
    fn outcome_unknown_keeps_the_cause() {
        let kind = outcome_unknown(ErrorKind::Http {
            status: 504,
            content_type: None,
            excerpt: "gateway timeout".into(),
        });
        assert_eq!(kind.class(), ErrorClass::OutcomeUnknown);
        assert!(kind.to_string().contains("504"), "{kind}");
    }
}
