//! [`GraphError`]: every way a Graph call can fail, Meta's error object
//! ([`ApiError`]) parsed leniently, and the [`ErrorClass`] that decides
//! whether a call may be retried.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use graphform_types::url;
use serde_json::Value;

use crate::config::BaseUrl;
use crate::redact::{Redactor, excerpt};
use crate::wait::Seconds;

/// What a call was, for messages and logs: the method, the endpoint as a
/// template (`/{system-user}/access_tokens`) and the object it was about —
/// the caller's label (e.g. `acme/ci-reporting`) or Meta's ID. Never a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    method: &'static str,
    endpoint: &'static str,
    target: String,
}

impl Operation {
    pub(crate) fn new(method: &'static str, endpoint: &'static str, target: String) -> Self {
        Self {
            method,
            endpoint,
            target,
        }
    }

    /// The HTTP method, e.g. `POST`.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The endpoint template, e.g. `/{system-user}/access_tokens`.
    pub fn endpoint(&self) -> &'static str {
        self.endpoint
    }

    /// What the call was about: a label such as `acme/ci-reporting`, an
    /// object ID, or empty.
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.endpoint)?;
        if !self.target.is_empty() {
            write!(f, " for {}", self.target)?;
        }
        Ok(())
    }
}

/// What kind of failure an error is, which decides what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Temporary (codes 1 and 2, `is_transient`, HTTP 5xx, timeouts,
    /// connection failures): retry with backoff.
    Transient,
    /// Rate limited (codes 4, 17, 32, 341, 613, 80000–80014, HTTP 429):
    /// wait, then retry.
    Throttled,
    /// The token is dead (codes 190 and 102; see
    /// [`TokenInvalidReason`]): never retried, it needs a new token.
    TokenInvalid,
    /// Not allowed (codes 10 and 200–299): never retried.
    Permission,
    /// A parameter or object is wrong or missing (codes 100, 110, 3962):
    /// never retried.
    InvalidParameter,
    /// A mutation was sent and no answer came back: it may or may not have
    /// been made. Never retried automatically (see the crate README); the
    /// caller should journal it and check.
    OutcomeUnknown,
    /// Anything else (e.g. 3949 "maximum number of system users",
    /// 104001): never retried.
    Other,
}

impl ErrorClass {
    /// Whether a call failing this way may succeed if repeated later.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Transient | Self::Throttled)
    }
}

/// Why a token is invalid: the `error_subcode` of a 190/102 error
/// (graph-api.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenInvalidReason {
    /// 458: the app is no longer installed for the user.
    AppNotInstalled,
    /// 459: the user is checkpointed.
    UserCheckpointed,
    /// 460: password changed, or Meta invalidated the session for security.
    PasswordChanged,
    /// 463: the token expired.
    Expired,
    /// 464: unconfirmed user.
    UnconfirmedUser,
    /// 467: invalid access token (e.g. revoked).
    InvalidToken,
    /// 492: invalid session.
    InvalidSession,
    /// 493: the user has not engaged the app for 90 days.
    NotEngaged,
    /// No subcode, or one not listed here.
    Unspecified(Option<i64>),
}

impl TokenInvalidReason {
    /// The reason for a subcode.
    pub fn from_subcode(subcode: Option<i64>) -> Self {
        match subcode {
            Some(458) => Self::AppNotInstalled,
            Some(459) => Self::UserCheckpointed,
            Some(460) => Self::PasswordChanged,
            Some(463) => Self::Expired,
            Some(464) => Self::UnconfirmedUser,
            Some(467) => Self::InvalidToken,
            Some(492) => Self::InvalidSession,
            Some(493) => Self::NotEngaged,
            other => Self::Unspecified(other),
        }
    }
}

/// What a failed call says is wrong with the credentials it was made
/// with (graph-api.md §4, §6): what graphform turns into the environment
/// variable to fix. Only Meta's own error object is read; a gateway page
/// says nothing about credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialFault {
    /// 190/463: the access token expired.
    TokenExpired,
    /// 190 or 102 for another reason: the access token is revoked,
    /// invalidated or not a token at all.
    TokenInvalid(TokenInvalidReason),
    /// 100 `Invalid appsecret_proof`: the app secret the proof was made
    /// with is not the secret of the token's app (or the token is of
    /// another app).
    ProofMismatch,
    /// 100 `The App_id in the input_token did not match the Viewing App`:
    /// `debug_token` of a token of another app.
    OtherAppsToken,
    /// An app token (`{app-id}|{secret}`) was refused: 190 "Invalid OAuth
    /// access token signature.", 1 "Error validating client secret", 101
    /// "Invalid application ID".
    AppCredentials,
    /// 10 or 200–299: the token lacks a permission (e.g.
    /// `business_management`).
    Permission,
}

/// Meta's error object (`{"error":{…}}`), with the HTTP status it came
/// with. Text fields were scrubbed of the request's secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status of the response (or of the batch item).
    pub http_status: u16,
    /// `code`, e.g. 190.
    pub code: i64,
    /// `error_subcode` (or `subcode`, as `debug_token` names it).
    pub error_subcode: Option<i64>,
    /// `type`, e.g. `OAuthException`.
    pub error_type: Option<String>,
    /// `message`.
    pub message: String,
    /// `error_user_title` (localised).
    pub error_user_title: Option<String>,
    /// `error_user_msg` (localised).
    pub error_user_msg: Option<String>,
    /// `fbtrace_id`, for Meta support (short-lived).
    pub fbtrace_id: Option<String>,
    /// `is_transient`, when Meta sent it.
    pub is_transient: Option<bool>,
    /// `error_data`, parsed when Meta sent it as a JSON string.
    pub error_data: Option<Value>,
}

impl ApiError {
    /// The error's class (graph-api.md §6 and design.md §5).
    pub fn class(&self) -> ErrorClass {
        match self.code {
            4 | 17 | 32 | 341 | 613 | 80_000..=80_014 => ErrorClass::Throttled,
            _ if self.is_transient == Some(true) => ErrorClass::Transient,
            // "API Unknown" and "API Service" are retried unless Meta says
            // otherwise: code 1 also comes as "Error validating client
            // secret", with `is_transient: false`.
            1 | 2 if self.is_transient.is_none() => ErrorClass::Transient,
            102 | 190 => ErrorClass::TokenInvalid,
            10 | 200..=299 => ErrorClass::Permission,
            100 | 110 | 3962 => ErrorClass::InvalidParameter,
            _ if self.http_status == 429 => ErrorClass::Throttled,
            _ if self.http_status >= 500 => ErrorClass::Transient,
            _ => ErrorClass::Other,
        }
    }

    /// For a token-invalid error, why.
    pub fn token_invalid_reason(&self) -> Option<TokenInvalidReason> {
        (self.class() == ErrorClass::TokenInvalid)
            .then(|| TokenInvalidReason::from_subcode(self.error_subcode))
    }

    /// Parses `{"error":{…}}`; `None` if the body is not Meta's envelope.
    /// Lenient: numbers may come as strings, `is_transient` as a string,
    /// `error_data` as an object or a JSON string, and unknown fields are
    /// ignored.
    pub(crate) fn from_body(http_status: u16, body: &[u8], redactor: &Redactor) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        Self::from_error_object(http_status, value.get("error")?, redactor)
    }

    /// Parses the inside of the envelope (also used for `debug_token`'s
    /// `data.error`).
    pub(crate) fn from_error_object(
        http_status: u16,
        error: &Value,
        redactor: &Redactor,
    ) -> Option<Self> {
        let object = error.as_object()?;
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .map(|text| redactor.scrub(text))
        };
        let code = object.get("code").and_then(lenient_i64)?;
        let mut error_data = object
            .get("error_data")
            .cloned()
            .and_then(|data| match data {
                Value::Null => None,
                Value::String(text) => {
                    Some(serde_json::from_str(&text).unwrap_or(Value::String(text)))
                }
                other => Some(other),
            });
        if let Some(data) = &mut error_data {
            redactor.scrub_json(data);
        }
        Some(Self {
            http_status,
            code,
            error_subcode: object
                .get("error_subcode")
                .or_else(|| object.get("subcode"))
                .and_then(lenient_i64),
            error_type: text("type"),
            message: text("message").unwrap_or_default(),
            error_user_title: text("error_user_title"),
            error_user_msg: text("error_user_msg"),
            fbtrace_id: text("fbtrace_id"),
            is_transient: object.get("is_transient").map(lenient_true),
            error_data,
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(#{}", self.code)?;
        if let Some(subcode) = self.error_subcode {
            write!(f, "/{subcode}")?;
        }
        f.write_str(") ")?;
        if let Some(kind) = &self.error_type {
            write!(f, "{kind}: ")?;
        }
        write!(f, "{} [http {}", self.message, self.http_status)?;
        if let Some(trace) = &self.fbtrace_id {
            write!(f, ", fbtrace_id {trace}")?;
        }
        f.write_str("]")
    }
}

/// A number, or a string holding one.
pub(crate) fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// `true`, `"true"`, `1` or `"1"`.
pub(crate) fn lenient_true(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::String(text) => matches!(text.trim(), "true" | "1"),
        Value::Number(number) => number.as_i64() == Some(1),
        _ => false,
    }
}

/// Why a connection to the Graph API could not be made, in plain words.
/// Read from the transport error's kind, not its text where a kind
/// exists; it decides whether the call is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// Connection refused: nothing listens at that address and port.
    /// Retried (a server or proxy may be restarting).
    Refused,
    /// The host name could not be resolved. Retried (a resolver may fail
    /// for a moment).
    HostNotFound,
    /// No connection within the connect timeout. Retried.
    TimedOut,
    /// The server's TLS certificate was not accepted (unknown issuer,
    /// expired, another host's name). Never retried: it will not change.
    UntrustedCertificate,
    /// The TLS handshake failed otherwise (e.g. the server does not speak
    /// TLS at that port). Never retried.
    TlsHandshake,
    /// Anything else. Retried.
    Other,
}

impl ConnectFailure {
    /// Whether TLS refused the connection (never retried).
    pub fn is_tls(self) -> bool {
        matches!(self, Self::UntrustedCertificate | Self::TlsHandshake)
    }

    /// The failure behind a connect error of reqwest, and the innermost
    /// cause's text where it says more than the failure's words.
    pub(crate) fn of(error: &reqwest::Error) -> (Self, Option<String>) {
        let causes = Causes::of(error);
        let failure = match causes.tls {
            Some(true) => Self::UntrustedCertificate,
            Some(false) => Self::TlsHandshake,
            None if causes.has(std::io::ErrorKind::ConnectionRefused) => Self::Refused,
            None if causes.timed_out => Self::TimedOut,
            // hyper-util's connector names the resolver's failure so; the
            // resolver's own error is an uncategorized io::Error.
            None if causes.says("dns error") => Self::HostNotFound,
            None => Self::Other,
        };
        let detail = match failure {
            Self::Refused | Self::TimedOut => None,
            _ => Some(causes.innermost),
        };
        (failure, detail)
    }
}

/// What a transport error's chain of causes says, read once for
/// [`ConnectFailure`] and [`AnswerFailure`].
struct Causes {
    /// The kinds of every `io::Error` in the chain.
    io: Vec<std::io::ErrorKind>,
    /// The text of every cause.
    texts: Vec<String>,
    /// Whether rustls refused the connection: `Some(true)` for a
    /// certificate it does not accept, `Some(false)` for another TLS
    /// failure.
    tls: Option<bool>,
    /// Whether reqwest or the socket says it timed out.
    timed_out: bool,
    /// The innermost cause's text.
    innermost: String,
}

impl Causes {
    fn of(error: &reqwest::Error) -> Self {
        let mut causes = Self {
            io: Vec::new(),
            texts: Vec::new(),
            tls: None,
            timed_out: error.is_timeout(),
            innermost: error.to_string(),
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = cause {
            // An io::Error's `source` skips the error it wraps (tokio-rustls
            // wraps the rustls error in one, hyper-util that in another):
            // look inside each.
            let mut inner: Option<&(dyn std::error::Error + 'static)> = Some(current);
            let mut rustls = None;
            while let Some(error) = inner {
                rustls = rustls.or_else(|| error.downcast_ref::<rustls::Error>());
                let Some(io) = error.downcast_ref::<std::io::Error>() else {
                    break;
                };
                causes.io.push(io.kind());
                inner = io.get_ref().map(|wrapped| wrapped as _);
            }
            if let Some(rustls) = rustls {
                causes.tls.get_or_insert(matches!(
                    rustls,
                    rustls::Error::InvalidCertificate(_)
                        | rustls::Error::InvalidCertRevocationList(_)
                ));
            }
            causes.innermost = current.to_string();
            causes.texts.push(causes.innermost.clone());
            cause = current.source();
        }
        causes.timed_out |= causes.has(std::io::ErrorKind::TimedOut);
        causes
    }

    /// Whether an `io::Error` of `kind` is in the chain.
    fn has(&self, kind: std::io::ErrorKind) -> bool {
        self.io.contains(&kind)
    }

    /// Whether a cause's text is `text`.
    fn says(&self, text: &str) -> bool {
        self.texts.iter().any(|cause| cause == text)
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Refused => "connection refused (nothing listens at that address and port)",
            Self::HostNotFound => "the host name could not be resolved",
            Self::TimedOut => "no connection within the connect timeout",
            Self::UntrustedCertificate => "the server's TLS certificate is not trusted",
            Self::TlsHandshake => "the TLS handshake failed (does the server speak https there?)",
            Self::Other => "the connection failed",
        })
    }
}

/// Why a call that reached the Graph API's address got no complete
/// answer: the connection was made, the request (maybe) sent, and then
/// nothing usable came back. Read from the transport error's kind, not
/// its text where a kind exists. Reads are retried; a mutation that may
/// have been made is not (see [`ErrorClass::OutcomeUnknown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnswerFailure {
    /// The server accepted the connection but sent no complete answer
    /// within the request timeout: a server that hangs, or a proxy or
    /// firewall that holds the connection.
    TimedOut {
        /// The request timeout.
        after: Duration,
    },
    /// The server closed the connection before its answer was complete
    /// (before its first byte, or half-way through).
    Closed,
    /// The connection was reset (by the server, or by something between).
    Reset,
    /// Anything else.
    Other,
}

impl AnswerFailure {
    /// The failure behind a reqwest error after the connection was made
    /// (`timeout`: the request timeout), and the innermost cause's text
    /// where it says more than the failure's words.
    pub(crate) fn of(error: &reqwest::Error, timeout: Duration) -> (Self, Option<String>) {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};

        let causes = Causes::of(error);
        let failure = if causes.timed_out {
            Self::TimedOut { after: timeout }
        } else if [ConnectionReset, ConnectionAborted, BrokenPipe]
            .into_iter()
            .any(|kind| causes.has(kind))
        {
            Self::Reset
        } else if causes.has(UnexpectedEof)
            // hyper's words for a connection closed before the answer's
            // head was complete (`is_incomplete_message`).
            || causes.says("connection closed before message completed")
        {
            Self::Closed
        } else {
            Self::Other
        };
        let detail = (failure == Self::Other).then_some(causes.innermost);
        (failure, detail)
    }
}

impl fmt::Display for AnswerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut { after } => write!(
                f,
                "the server accepted the connection but sent no complete answer within {} (the request timeout)",
                Seconds(*after)
            ),
            Self::Closed => {
                f.write_str("the server closed the connection before its answer was complete")
            }
            Self::Reset => f.write_str("the connection was reset before the answer was complete"),
            Self::Other => f.write_str("the connection broke before the answer was complete"),
        }
    }
}

/// A kind of failure of the network: [`ConnectFailure`] (no connection)
/// or [`AnswerFailure`] (no complete answer), each with the words that
/// lead its message.
pub trait NetworkFailure: fmt::Display + fmt::Debug + Copy + Send + Sync + 'static {
    /// What the call came to, before the URL: `cannot connect to`.
    const LEAD: &'static str;
}

impl NetworkFailure for ConnectFailure {
    const LEAD: &'static str = "cannot connect to";
}

impl NetworkFailure for AnswerFailure {
    const LEAD: &'static str = "no answer from";
}

/// A call that got no answer from the Graph API, because of the network:
/// to where (and where that was set), and what happened, in plain words.
/// Reads like `cannot connect to the Graph API at http://127.0.0.1:9/
/// (from GRAPHFORM_GRAPH_URL): connection refused (nothing listens at
/// that address and port)`; the URL is the base URL, never the request's
/// (whose query carries the proof).
#[derive(Debug, Clone)]
pub struct NetworkError<F> {
    /// The base URL (never a query: [`BaseUrl`] has none).
    pub url: BaseUrl,
    /// Where the URL was set, as the client's settings say
    /// ([`ClientSettings::base_url_origin`](crate::ClientSettings::base_url_origin)).
    pub origin: Option<String>,
    /// What happened, in plain words; it decides whether to retry.
    pub failure: F,
    /// The innermost cause as the TLS, DNS or HTTP layer put it (e.g.
    /// `invalid peer certificate: UnknownIssuer`), when it adds to
    /// [`failure`](Self::failure).
    pub detail: Option<String>,
    /// The transport error (its URL removed). Not a `source`: the message
    /// says it in plain words, and debug logs have the chain.
    pub error: Arc<reqwest::Error>,
}

/// A connection to the Graph API that could not be made: the request
/// never left this machine.
pub type ConnectError = NetworkError<ConnectFailure>;

/// A connection that was made, but no complete answer came back: the
/// request may have been executed.
pub type AnswerError = NetworkError<AnswerFailure>;

impl<F: NetworkFailure> NetworkError<F> {
    /// What happened and where, without where the URL was set or the
    /// cause's detail: the words of the line told before a retry
    /// ([`WaitReason::Network`](crate::WaitReason::Network)).
    pub fn summary(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.describe(&mut text, false);
        text
    }

    /// The one wording of a network failure, for the error (`full`: with
    /// the URL's origin and the cause's detail) and for a wait line. The
    /// URL is shown by [`url::shown`], as every URL is.
    fn describe(&self, out: &mut impl fmt::Write, full: bool) -> fmt::Result {
        let url = url::shown(self.url.as_url().as_str());
        write!(out, "{} the Graph API at {url}", F::LEAD)?;
        if let Some(origin) = self.origin.as_deref().filter(|_| full) {
            write!(out, " ({origin})")?;
        }
        write!(out, ": {}", self.failure)?;
        if let Some(detail) = self.detail.as_deref().filter(|_| full) {
            write!(out, " ({detail})")?;
        }
        Ok(())
    }
}

impl<F: NetworkFailure> fmt::Display for NetworkError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, true)
    }
}

impl<F: NetworkFailure> std::error::Error for NetworkError<F> {}

/// What went wrong, without the operation (see [`GraphError`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Meta answered with its error object.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// A non-success HTTP status without Meta's error object (e.g. a proxy's
    /// 502 page).
    #[error(
        "http {status} without a graph error object{}: {excerpt}",
        content_type.as_ref().map(|kind| format!(" ({kind})")).unwrap_or_default()
    )]
    Http {
        /// The HTTP status.
        status: u16,
        /// The body's media type (`text/html`), when the answer said.
        content_type: Option<String>,
        /// What the body says, in a few words ([`summary`]): an HTML
        /// page's title or a text's first line, quoted and scrubbed of the
        /// request's secrets, never the whole body.
        excerpt: String,
    },
    /// Meta answered `{"success":false}`.
    #[error("meta answered success=false")]
    Unsuccessful,
    /// A mutation was sent but no usable answer came back (timeout,
    /// connection lost, unreadable 2xx body, gateway error): it may or may
    /// not have been made, so it was not retried.
    #[error("outcome unknown, the change may or may not have been made: {reason}")]
    OutcomeUnknown {
        /// What happened, e.g. `no answer from the Graph API at …: the
        /// server closed the connection before its answer was complete`.
        reason: String,
        /// The transport error, if any (its URL removed).
        #[source]
        source: Option<Arc<reqwest::Error>>,
    },
    /// Could not connect: the request never left this machine.
    #[error("{0}")]
    Connect(Box<ConnectError>),
    /// Connected, but no complete answer came back (a timeout, a closed
    /// or reset connection): for a read, or a mutation that is safe to
    /// repeat.
    #[error("{0}")]
    NoAnswer(Box<AnswerError>),
    /// A success status with a body that is not what the endpoint returns.
    #[error("unexpected response (http {status}): {detail}")]
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong, scrubbed of secrets.
        detail: String,
    },
    /// A batch operation came back `null` (did not complete) on every try.
    #[error("the batch operation did not complete")]
    BatchItemIncomplete,
}

impl ErrorKind {
    /// The class of this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api(api) => api.class(),
            Self::Http { status, .. } => match status {
                429 => ErrorClass::Throttled,
                408 | 500..=599 => ErrorClass::Transient,
                _ => ErrorClass::Other,
            },
            Self::OutcomeUnknown { .. } => ErrorClass::OutcomeUnknown,
            Self::Connect(connect) if connect.failure.is_tls() => ErrorClass::Other,
            Self::Connect(_) | Self::NoAnswer(_) | Self::BatchItemIncomplete => {
                ErrorClass::Transient
            }
            Self::Unsuccessful | Self::InvalidResponse { .. } => ErrorClass::Other,
        }
    }

    /// The error of a non-success answer (`status`, the `Content-Type`
    /// header's value if any, `body`) that is not Meta's error object.
    pub(crate) fn http(
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
        redactor: &Redactor,
    ) -> Self {
        let content_type = content_type.and_then(media_type);
        let excerpt = summary(body, content_type.as_deref(), redactor);
        Self::Http {
            status,
            content_type,
            excerpt,
        }
    }
}

/// The most a [`summary`] quotes of a body, in characters.
const SUMMARY_MAX: usize = 80;

/// The media type of a `Content-Type` value (`text/html; charset=utf-8`
/// → `text/html`), when it is one: a gateway's header is shown only in
/// that form.
fn media_type(content_type: &str) -> Option<String> {
    let media = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let token = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    };
    let (kind, subtype) = media.split_once('/')?;
    (token(kind) && token(subtype) && media.len() <= 64).then_some(media)
}

/// A body that is not Meta's error object, in a few words: the title of
/// an HTML page (a gateway's `502 Bad Gateway`), else the first line of
/// text that is not blank (an HTML page's with its tags removed), quoted,
/// at most [`SUMMARY_MAX`] characters, scrubbed of the request's secrets;
/// or `empty body`.
fn summary(body: &[u8], content_type: Option<&str>, redactor: &Redactor) -> String {
    let text = String::from_utf8_lossy(body);
    let html = content_type.is_some_and(|kind| kind.contains("html"))
        || text.trim_start().starts_with('<');
    let said = if html {
        html_title(&text).unwrap_or_else(|| without_tags(&text))
    } else {
        text.into_owned()
    };
    match said.lines().map(str::trim).find(|line| !line.is_empty()) {
        Some(line) => {
            let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("\"{}\"", excerpt(&redactor.scrub(&line), SUMMARY_MAX))
        }
        None if body.is_empty() => "empty body".to_owned(),
        None => "a body without text".to_owned(),
    }
}

/// The text of an HTML page's `<title>`, if it has one that is not blank.
fn html_title(page: &str) -> Option<String> {
    let lower = page.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = page
        .get(start..end)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!title.is_empty()).then_some(title)
}

/// `page` with its tags (`<…>`) removed.
fn without_tags(page: &str) -> String {
    let mut text = String::with_capacity(page.len());
    let mut in_tag = false;
    for c in page.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// A failed Graph call: which operation, what went wrong, and after how many
/// attempts.
///
/// `Display` reads like `POST /{system-user}/access_tokens for
/// acme/ci-reporting: (#190/463) OAuthException: Error validating access
/// token… [http 400, fbtrace_id A1b2]`. No token, secret, proof or URL with
/// a query ever appears in it: messages from Meta are scrubbed of the
/// request's secrets, and transport errors lose their URL.
#[derive(Debug, Clone)]
pub struct GraphError {
    operation: Operation,
    kind: ErrorKind,
    attempts: u32,
}

impl GraphError {
    pub(crate) fn new(operation: Operation, kind: ErrorKind, attempts: u32) -> Self {
        Self {
            operation,
            kind,
            attempts,
        }
    }

    /// The error of a call (`method` `endpoint`, about `target`) that Meta
    /// answered with HTTP `status` and `body`, classified exactly as a
    /// real answer is: Meta's `{"error":{…}}` envelope gives an
    /// [`ErrorKind::Api`], anything else an [`ErrorKind::Http`]. For
    /// stand-ins of the Graph API (an in-memory provider in tests); the
    /// client builds its errors from the wire itself.
    pub fn from_answer(
        method: &'static str,
        endpoint: &'static str,
        target: impl Into<String>,
        status: u16,
        body: &Value,
    ) -> Self {
        let redactor = Redactor::default();
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let kind = match ApiError::from_body(status, &bytes, &redactor) {
            Some(api) => ErrorKind::Api(Box::new(api)),
            None => ErrorKind::http(status, Some("application/json"), &bytes, &redactor),
        };
        Self::new(Operation::new(method, endpoint, target.into()), kind, 1)
    }

    /// The error of a mutation whose answer was lost (`reason`, e.g.
    /// `the connection closed before the response`): it may or may not
    /// have been made. For stand-ins of the Graph API, like
    /// [`from_answer`](Self::from_answer).
    pub fn answer_lost(
        method: &'static str,
        endpoint: &'static str,
        target: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        let kind = ErrorKind::OutcomeUnknown {
            reason: reason.into(),
            source: None,
        };
        Self::new(Operation::new(method, endpoint, target.into()), kind, 1)
    }

    /// The operation that failed.
    pub fn operation(&self) -> &Operation {
        &self.operation
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// How many HTTP attempts were made (1 = not retried).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The class that decides what to do about it.
    pub fn class(&self) -> ErrorClass {
        self.kind.class()
    }

    /// Whether the mutation may or may not have happened.
    pub fn is_outcome_unknown(&self) -> bool {
        self.class() == ErrorClass::OutcomeUnknown
    }

    /// Meta's error object, if Meta sent one.
    pub fn api(&self) -> Option<&ApiError> {
        match &self.kind {
            ErrorKind::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The HTTP status, if a response came back.
    pub fn http_status(&self) -> Option<u16> {
        match &self.kind {
            ErrorKind::Api(api) => Some(api.http_status),
            ErrorKind::Http { status, .. } | ErrorKind::InvalidResponse { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// For a call that could not connect: why, and the base URL it tried.
    pub fn connect_failure(&self) -> Option<(ConnectFailure, &BaseUrl)> {
        match &self.kind {
            ErrorKind::Connect(connect) => Some((connect.failure, &connect.url)),
            _ => None,
        }
    }

    /// For a call that connected but got no complete answer: what
    /// happened, and the base URL it went to.
    pub fn answer_failure(&self) -> Option<(AnswerFailure, &BaseUrl)> {
        match &self.kind {
            ErrorKind::NoAnswer(answer) => Some((answer.failure, &answer.url)),
            _ => None,
        }
    }

    /// Meta's `code`.
    pub fn code(&self) -> Option<i64> {
        self.api().map(|api| api.code)
    }

    /// Meta's `error_subcode`.
    pub fn error_subcode(&self) -> Option<i64> {
        self.api().and_then(|api| api.error_subcode)
    }

    /// Meta's `type`.
    pub fn error_type(&self) -> Option<&str> {
        self.api().and_then(|api| api.error_type.as_deref())
    }

    /// Meta's `message` (scrubbed).
    pub fn message(&self) -> Option<&str> {
        self.api().map(|api| api.message.as_str())
    }

    /// Meta's `fbtrace_id`.
    pub fn fbtrace_id(&self) -> Option<&str> {
        self.api().and_then(|api| api.fbtrace_id.as_deref())
    }

    /// Meta's `is_transient` flag.
    pub fn is_transient(&self) -> bool {
        self.api().is_some_and(|api| api.is_transient == Some(true))
    }

    /// For a token-invalid error, why.
    pub fn token_invalid_reason(&self) -> Option<TokenInvalidReason> {
        self.api().and_then(ApiError::token_invalid_reason)
    }

    /// What the error says is wrong with the call's credentials, if
    /// anything. `app_token` says whether the call was authenticated by an
    /// app token (`debug_token`), whose refusals blame the app's ID or
    /// secret rather than a user token.
    pub fn credential_fault(&self, app_token: bool) -> Option<CredentialFault> {
        let api = self.api()?;
        let says = |text: &str| api.message.contains(text);
        match api.code {
            190 if app_token && says("signature") => Some(CredentialFault::AppCredentials),
            1 if says("client secret") => Some(CredentialFault::AppCredentials),
            101 => Some(CredentialFault::AppCredentials),
            102 | 190 => Some(match TokenInvalidReason::from_subcode(api.error_subcode) {
                TokenInvalidReason::Expired => CredentialFault::TokenExpired,
                reason => CredentialFault::TokenInvalid(reason),
            }),
            100 if says("appsecret_proof") => Some(CredentialFault::ProofMismatch),
            100 if says("did not match the Viewing App") => Some(CredentialFault::OtherAppsToken),
            10 | 200..=299 => Some(CredentialFault::Permission),
            _ => None,
        }
    }

    /// The same error for another operation (batch items share a batch's
    /// failure).
    pub(crate) fn for_operation(&self, operation: Operation) -> Self {
        Self {
            operation,
            ..self.clone()
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.kind)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The kind's message is already part of ours; continue the chain
        // with its cause.
        std::error::Error::source(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Secret;

    fn parse(status: u16, body: &Value) -> ApiError {
        ApiError::from_body(status, body.to_string().as_bytes(), &Redactor::default()).unwrap()
    }

    fn class_of(status: u16, code: i64) -> ErrorClass {
        parse(status, &json!({"error": {"message": "m", "code": code}})).class()
    }

    #[test]
    fn a_stand_in_answer_is_classified_as_a_real_one() {
        let dead = GraphError::from_answer(
            "POST",
            "/oauth/revoke",
            "acme/su",
            400,
            &json!({"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190, "error_subcode": 467}}),
        );
        assert_eq!(dead.class(), ErrorClass::TokenInvalid);
        assert_eq!(dead.code(), Some(190));
        assert_eq!(
            dead.to_string(),
            "POST /oauth/revoke for acme/su: (#190/467) OAuthException: Invalid OAuth access token [http 400]"
        );
        let html = GraphError::from_answer("GET", "/debug_token", "", 502, &json!("<html>"));
        assert_eq!(html.class(), ErrorClass::Transient);
        let lost = GraphError::answer_lost("POST", "/{system-user}/access_tokens", "x", "closed");
        assert!(lost.is_outcome_unknown());
    }

    #[test]
    fn credential_faults_are_read_from_metas_answers() {
        let fault = |status: u16, body: Value, app_token: bool| {
            GraphError::from_answer("GET", "/x", "acme", status, &body).credential_fault(app_token)
        };
        let error = |code: i64, subcode: Option<i64>, message: &str| json!({"error": {"message": message, "type": "OAuthException", "code": code, "error_subcode": subcode}});
        let expired = error(
            190,
            Some(463),
            "Error validating access token: Session has expired on Tuesday.",
        );
        assert_eq!(
            fault(400, expired, false),
            Some(CredentialFault::TokenExpired)
        );
        assert_eq!(
            fault(
                400,
                error(190, Some(467), "Error validating access token"),
                false
            ),
            Some(CredentialFault::TokenInvalid(
                TokenInvalidReason::InvalidToken
            ))
        );
        let proof = error(
            100,
            None,
            "Invalid appsecret_proof provided in the API argument",
        );
        assert_eq!(
            fault(400, proof, false),
            Some(CredentialFault::ProofMismatch)
        );
        let mismatch = error(
            100,
            None,
            "The App_id in the input_token did not match the Viewing App",
        );
        assert_eq!(
            fault(400, mismatch, true),
            Some(CredentialFault::OtherAppsToken)
        );
        let signature = error(190, None, "Invalid OAuth access token signature.");
        assert_eq!(
            fault(400, signature.clone(), true),
            Some(CredentialFault::AppCredentials)
        );
        assert_eq!(
            fault(400, signature, false),
            Some(CredentialFault::TokenInvalid(
                TokenInvalidReason::Unspecified(None)
            ))
        );
        let secret = error(1, None, "Error validating client secret.");
        assert_eq!(
            fault(400, secret, true),
            Some(CredentialFault::AppCredentials)
        );
        assert_eq!(
            fault(403, error(200, None, "Permissions error"), false),
            Some(CredentialFault::Permission)
        );
        // Not about credentials: a missing parameter, a transient error, a gateway page.
        assert_eq!(
            fault(400, error(100, Some(33), "Unsupported get request."), false),
            None
        );
        assert_eq!(
            fault(
                500,
                error(2, None, "Service temporarily unavailable"),
                false
            ),
            None
        );
        assert_eq!(fault(502, json!("<html>bad gateway</html>"), true), None);
    }

    #[test]
    fn parses_the_documented_envelope() {
        let api = parse(
            400,
            &json!({"error": {
                "message": "Error validating access token: Session has expired on Tuesday.",
                "type": "OAuthException", "code": 190, "error_subcode": 463,
                "error_user_title": "t", "error_user_msg": "u",
                "fbtrace_id": "AbC123", "is_transient": false, "extra": [1]
            }}),
        );
        assert_eq!(api.code, 190);
        assert_eq!(api.error_subcode, Some(463));
        assert_eq!(api.error_type.as_deref(), Some("OAuthException"));
        assert_eq!(api.fbtrace_id.as_deref(), Some("AbC123"));
        assert_eq!(api.error_user_title.as_deref(), Some("t"));
        assert_eq!(api.is_transient, Some(false));
        assert_eq!(api.class(), ErrorClass::TokenInvalid);
        assert_eq!(
            api.token_invalid_reason(),
            Some(TokenInvalidReason::Expired)
        );
        assert_eq!(
            api.to_string(),
            "(#190/463) OAuthException: Error validating access token: Session has expired on Tuesday. [http 400, fbtrace_id AbC123]"
        );
    }

    #[test]
    fn parses_leniently() {
        let api = parse(
            500,
            &json!({"error": {"code": "2", "error_subcode": "99", "is_transient": "true",
                "error_data": "{\"blame_field_specs\":[[\"name\"]]}"}}),
        );
        assert_eq!((api.code, api.error_subcode), (2, Some(99)));
        assert_eq!(api.is_transient, Some(true));
        assert_eq!(
            api.error_data,
            Some(json!({"blame_field_specs": [["name"]]}))
        );
        assert_eq!(api.message, "");
        let api = parse(
            400,
            &json!({"error": {"code": 100, "error_data": {"k": "v"}}}),
        );
        assert_eq!(api.error_data, Some(json!({"k": "v"})));
        let api = parse(
            400,
            &json!({"error": {"code": 100, "error_data": "not json"}}),
        );
        assert_eq!(api.error_data, Some(json!("not json")));
        // debug_token's error object says `subcode`.
        let api = ApiError::from_error_object(
            200,
            &json!({"code": 190, "subcode": 458, "message": "m"}),
            &Redactor::default(),
        )
        .unwrap();
        assert_eq!(
            api.token_invalid_reason(),
            Some(TokenInvalidReason::AppNotInstalled)
        );
    }

    #[test]
    fn non_envelopes_are_not_api_errors() {
        for body in [
            "<html>502</html>",
            "{}",
            "{\"error\":\"x\"}",
            "{\"error\":{\"message\":\"no code\"}}",
        ] {
            assert!(
                ApiError::from_body(502, body.as_bytes(), &Redactor::default()).is_none(),
                "{body}"
            );
        }
    }

    #[test]
    fn classification_follows_the_documented_codes() {
        for code in [1, 2] {
            assert_eq!(class_of(500, code), ErrorClass::Transient, "{code}");
        }
        for code in [4, 17, 32, 341, 613, 80_000, 80_004, 80_014] {
            assert_eq!(class_of(400, code), ErrorClass::Throttled, "{code}");
        }
        for code in [190, 102] {
            assert_eq!(class_of(400, code), ErrorClass::TokenInvalid, "{code}");
        }
        for code in [10, 200, 250, 299] {
            assert_eq!(class_of(403, code), ErrorClass::Permission, "{code}");
        }
        for code in [100, 110, 3962] {
            assert_eq!(class_of(400, code), ErrorClass::InvalidParameter, "{code}");
        }
        for code in [3949, 3965, 104_001, 368, 80_015, 300] {
            assert_eq!(class_of(400, code), ErrorClass::Other, "{code}");
        }
        assert_eq!(class_of(503, 12345), ErrorClass::Transient);
        // Code 1 that Meta marks as not transient ("Error validating client
        // secret") is not retried.
        let api = parse(400, &json!({"error": {"code": 1, "is_transient": false}}));
        assert_eq!(api.class(), ErrorClass::Other);
        let api = parse(500, &json!({"error": {"code": 1, "is_transient": true}}));
        assert_eq!(api.class(), ErrorClass::Transient);
        assert_eq!(class_of(429, 12345), ErrorClass::Throttled);
        // is_transient wins over an ordinary code, not over throttling.
        let api = parse(400, &json!({"error": {"code": 100, "is_transient": true}}));
        assert_eq!(api.class(), ErrorClass::Transient);
        let api = parse(400, &json!({"error": {"code": 17, "is_transient": true}}));
        assert_eq!(api.class(), ErrorClass::Throttled);
        assert!(ErrorClass::Transient.is_retryable());
        assert!(ErrorClass::Throttled.is_retryable());
        for class in [
            ErrorClass::TokenInvalid,
            ErrorClass::Permission,
            ErrorClass::InvalidParameter,
            ErrorClass::OutcomeUnknown,
            ErrorClass::Other,
        ] {
            assert!(!class.is_retryable(), "{class:?}");
        }
    }

    #[test]
    fn other_kinds_classify_by_status() {
        let http = |status| ErrorKind::http(status, None, b"<html/>", &Redactor::default()).class();
        assert_eq!(http(502), ErrorClass::Transient);
        assert_eq!(http(429), ErrorClass::Throttled);
        assert_eq!(http(404), ErrorClass::Other);
        let unknown = ErrorKind::OutcomeUnknown {
            reason: "x".into(),
            source: None,
        };
        assert_eq!(unknown.class(), ErrorClass::OutcomeUnknown);
        assert_eq!(
            ErrorKind::BatchItemIncomplete.class(),
            ErrorClass::Transient
        );
    }

    /// A network error of `failure` at the emulator's usual address, set
    /// by `GRAPHFORM_GRAPH_URL`.
    fn network<F>(failure: F, detail: Option<&str>) -> NetworkError<F> {
        let transport = reqwest::Client::new()
            .get("not a url")
            .build()
            .expect_err("no URL");
        NetworkError {
            url: "http://127.0.0.1:9".parse().unwrap(),
            origin: Some("from `GRAPHFORM_GRAPH_URL`".to_owned()),
            failure,
            detail: detail.map(str::to_owned),
            error: Arc::new(transport),
        }
    }

    #[test]
    fn a_network_failure_reads_the_same_in_the_error_and_the_wait_line() {
        let refused = network(ConnectFailure::Refused, None);
        assert_eq!(
            refused.to_string(),
            "cannot connect to the Graph API at http://127.0.0.1:9/ (from `GRAPHFORM_GRAPH_URL`): connection refused (nothing listens at that address and port)"
        );
        assert_eq!(
            refused.summary(),
            "cannot connect to the Graph API at http://127.0.0.1:9/: connection refused (nothing listens at that address and port)"
        );
        let dns = network(
            ConnectFailure::HostNotFound,
            Some("failed to lookup address"),
        );
        assert_eq!(
            dns.to_string(),
            "cannot connect to the Graph API at http://127.0.0.1:9/ (from `GRAPHFORM_GRAPH_URL`): the host name could not be resolved (failed to lookup address)"
        );
        assert_eq!(
            dns.summary(),
            "cannot connect to the Graph API at http://127.0.0.1:9/: the host name could not be resolved"
        );
        let cases = [
            (
                AnswerFailure::TimedOut {
                    after: std::time::Duration::from_secs(30),
                },
                "the server accepted the connection but sent no complete answer within 30 s (the request timeout)",
            ),
            (
                AnswerFailure::Closed,
                "the server closed the connection before its answer was complete",
            ),
            (
                AnswerFailure::Reset,
                "the connection was reset before the answer was complete",
            ),
            (
                AnswerFailure::Other,
                "the connection broke before the answer was complete",
            ),
        ];
        for (failure, words) in cases {
            let lost = network(failure, None);
            assert_eq!(
                lost.to_string(),
                format!(
                    "no answer from the Graph API at http://127.0.0.1:9/ (from `GRAPHFORM_GRAPH_URL`): {words}"
                )
            );
            assert_eq!(
                lost.summary(),
                format!("no answer from the Graph API at http://127.0.0.1:9/: {words}")
            );
            let kind = ErrorKind::NoAnswer(Box::new(lost));
            assert_eq!(kind.class(), ErrorClass::Transient);
            let error = GraphError::new(
                Operation::new("GET", "/{business}/system_users", "acme".into()),
                kind,
                5,
            );
            assert_eq!(
                error.answer_failure().map(|(found, _)| found),
                Some(failure)
            );
            assert_eq!(error.connect_failure(), None);
        }
        // Without an origin, nothing stands for it.
        let mut unset = network(AnswerFailure::Closed, None);
        unset.origin = None;
        assert_eq!(unset.to_string(), unset.summary());
    }

    #[test]
    fn display_names_the_operation_and_never_a_secret() {
        let token = Secret::new("EAAverysecrettoken");
        let redactor = Redactor::new(vec![token.clone()]);
        let body = json!({"error": {"message": "Malformed access token EAAverysecrettoken",
            "type": "OAuthException", "code": 190, "fbtrace_id": "Fx"}});
        let api = ApiError::from_body(400, body.to_string().as_bytes(), &redactor).unwrap();
        let error = GraphError::new(
            Operation::new(
                "POST",
                "/{system-user}/access_tokens",
                "acme/ci-reporting".into(),
            ),
            ErrorKind::Api(Box::new(api)),
            3,
        );
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("EAAverysecrettoken"), "{shown}");
        assert!(
            error
                .to_string()
                .starts_with("POST /{system-user}/access_tokens for acme/ci-reporting: (#190) OAuthException: Malformed access token <redacted sha256:"),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .ends_with("[http 400, fbtrace_id Fx] (after 3 attempts)"),
            "{error}"
        );
        assert_eq!(error.code(), Some(190));
        assert_eq!(error.http_status(), Some(400));
        assert_eq!(error.fbtrace_id(), Some("Fx"));
        assert_eq!(error.error_type(), Some("OAuthException"));
        assert_eq!(
            error.token_invalid_reason(),
            Some(TokenInvalidReason::Unspecified(None))
        );
        let body = ErrorKind::http(502, None, b"proxy saw EAAverysecrettoken", &redactor);
        assert!(!body.to_string().contains("EAAverysecrettoken"));
    }

    #[test]
    fn a_gateway_page_is_summarised_by_its_title_never_pasted_whole() {
        let redactor = Redactor::new(vec![Secret::new("EAAverysecrettoken")]);
        let nginx = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
            <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n\
            </body>\r\n</html>\r\n";
        let shown = |content_type, body: &[u8]| {
            ErrorKind::http(502, content_type, body, &redactor).to_string()
        };
        assert_eq!(
            shown(Some("text/html; charset=utf-8"), nginx.as_bytes()),
            "http 502 without a graph error object (text/html): \"502 Bad Gateway\""
        );
        // No title: the page's first text; no content type: not said.
        assert_eq!(
            shown(
                None,
                b"<html><body>\n<h1>Service\n Unavailable</h1><p>later</p>"
            ),
            "http 502 without a graph error object: \"Service\""
        );
        assert_eq!(
            shown(
                Some("text/plain"),
                b"\n\n  upstream timed out\nsecond line EAAverysecrettoken"
            ),
            "http 502 without a graph error object (text/plain): \"upstream timed out\""
        );
        assert_eq!(
            shown(Some("text/plain"), b""),
            "http 502 without a graph error object (text/plain): empty body"
        );
        // A long line is cut; a secret in it is scrubbed; a header that
        // is not a media type is not shown.
        let long = format!("EAAverysecrettoken {}", "x".repeat(500));
        let text = shown(Some("text/plain\u{1b}[31m evil"), long.as_bytes());
        assert!(!text.contains("EAAverysecrettoken"), "{text}");
        assert!(!text.contains("evil"), "{text}");
        assert!(text.chars().count() < 160, "{text}");
        let title = format!("<title>{}</title>", "y".repeat(500));
        assert!(shown(Some("text/html"), title.as_bytes()).chars().count() < 160);
    }
}
