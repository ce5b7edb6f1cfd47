//! The HTTP side of the `aws-secrets-manager` backend: one signed `POST /`
//! per Secrets Manager action (`X-Amz-Target: secretsmanager.<Action>`,
//! JSON in and out), retried on throttling, server errors and transport
//! failures, and errors classified by their `__type` (moto answers a
//! missing secret with HTTP 404, AWS with 400: the type is what counts).
//!
//! No request or response body is logged, and an error message from the
//! service is dropped when it quotes one of the values sent. Redirects are
//! not followed: a 3xx is an error naming its status.

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};

use super::AwsCredentials;
use super::sigv4;
use crate::Secret;

/// Attempts per call: the first and two retries.
const ATTEMPTS: u32 = 3;

/// The first retry's delay; each further one doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Longest service message kept in an error.
const MAX_MESSAGE_CHARS: usize = 500;

/// A signed Secrets Manager client for one endpoint and region.
pub(crate) struct Client {
    http: reqwest::Client,
    url: reqwest::Url,
    /// `scheme://host[:port]`, for messages.
    endpoint: String,
    /// The `Host` header as signed.
    host: String,
    region: String,
    credentials: AwsCredentials,
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The service answered with an error.
    Api(ApiError),
    /// No usable answer: not connected, timed out, cut off, not JSON.
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

/// An error answer of the service.
#[derive(Debug)]
pub(crate) struct ApiError {
    /// The error type without namespace, e.g. `ResourceNotFoundException`.
    pub(crate) kind: String,
    /// The HTTP status.
    pub(crate) status: u16,
    /// The service's message, unless it was withheld (it quoted a value
    /// that was sent, or the type is one that may).
    pub(crate) message: Option<String>,
}

impl ApiError {
    /// Whether this is `kind`.
    pub(crate) fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }

    fn retryable(&self) -> bool {
        self.status == 429
            || self.status >= 500
            || matches!(
                self.kind.as_str(),
                "ThrottlingException"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "InternalServiceError"
                    | "InternalFailure"
                    | "ServiceUnavailable"
            )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {})", self.kind, self.status)?;
        match &self.message {
            Some(message) => write!(f, ": {message}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

impl Client {
    /// A client for `url` (`scheme://host[:port]/`). `direct`: bypass any
    /// proxy configured in the environment (for a loopback endpoint).
    pub(crate) fn new(
        url: reqwest::Url,
        region: String,
        credentials: AwsCredentials,
        direct: bool,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("graphform/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // Secrets Manager answers where it is asked. A redirect (307
            // and 308 keep the method and body) would resend the session
            // token and a write's token values to another address.
            .redirect(reqwest::redirect::Policy::none());
        if direct {
            builder = builder.no_proxy();
        }
        let http = builder.build()?;
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let endpoint = format!("{}://{host}", url.scheme());
        Ok(Self {
            http,
            url,
            endpoint,
            host,
            region,
            credentials,
        })
    }

    /// `scheme://host[:port]`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Calls `action` with `body`; `secret` names what it is about (for
    /// logs), `sensitive` lists the values in `body` that no message may
    /// repeat. Retries throttling, server errors and transport failures
    /// (every action this backend uses is safe to repeat: see aws.rs).
    pub(crate) async fn call(
        &self,
        action: &'static str,
        secret: &str,
        body: &serde_json::Value,
        sensitive: &[&str],
    ) -> Result<serde_json::Value, CallError> {
        let body = serde_json::to_vec(body)
            .map_err(|error| CallError::Transport(crate::json_error_reason(&error).into()))?;
        let mut attempt = 1;
        loop {
            let result = self.attempt(action, &body, sensitive).await;
            let retry = match &result {
                Ok(_) => false,
                Err(CallError::Api(error)) => error.retryable(),
                Err(CallError::Transport(_)) => true,
            };
            match &result {
                Ok(_) => tracing::trace!(action, secret, attempt, "secretsmanager call succeeded"),
                Err(CallError::Api(error)) => tracing::trace!(
                    action,
                    secret,
                    attempt,
                    kind = %error.kind,
                    status = error.status,
                    "secretsmanager call failed"
                ),
                Err(CallError::Transport(error)) => tracing::trace!(
                    action,
                    secret,
                    attempt,
                    error = %error,
                    "secretsmanager call got no answer"
                ),
            }
            if !retry || attempt >= ATTEMPTS {
                return result;
            }
            tokio::time::sleep(FIRST_BACKOFF * 2_u32.pow(attempt - 1)).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        action: &str,
        body: &[u8],
        sensitive: &[&str],
    ) -> Result<serde_json::Value, CallError> {
        let headers = self.signed_headers(action, body)?;
        let response = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|error| CallError::Transport(Box::new(error)))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            // Not followed, and its body is not read: it is not the
            // service's answer.
            return Err(CallError::Api(redirect_error(status)));
        }
        let type_header = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|error| CallError::Transport(Box::new(error)))?;
        if (200..300).contains(&status) {
            if bytes.is_empty() {
                return Ok(serde_json::Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|error| {
                CallError::Transport(
                    format!(
                        "the answer (HTTP {status}) is not JSON: {}",
                        crate::json_error_reason(&error)
                    )
                    .into(),
                )
            });
        }
        Err(CallError::Api(parse_error(
            status,
            &bytes,
            type_header.as_deref(),
            sensitive,
        )))
    }

    /// The headers of one request, signed now.
    fn signed_headers(&self, action: &str, body: &[u8]) -> Result<HeaderMap, CallError> {
        let target = format!("secretsmanager.{action}");
        let amz_date = sigv4::amz_date_now();
        let session_token = self.credentials.session_token.as_ref().map(Secret::expose);
        let mut signed: Vec<(&str, &str)> = vec![
            ("content-type", sigv4::CONTENT_TYPE),
            ("host", &self.host),
            ("x-amz-date", &amz_date),
            ("x-amz-target", &target),
        ];
        if let Some(token) = session_token {
            signed.push(("x-amz-security-token", token));
        }
        let authorization = sigv4::authorization(&sigv4::Request {
            method: "POST",
            headers: &signed,
            body,
            amz_date: &amz_date,
            region: &self.region,
            service: sigv4::SERVICE,
            access_key_id: self.credentials.access_key_id.expose(),
            secret_access_key: self.credentials.secret_access_key.expose(),
        });
        let invalid = |what: &str| {
            CallError::Transport(format!("{what} is not a valid HTTP header value").into())
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(sigv4::CONTENT_TYPE));
        headers.insert(
            HOST,
            HeaderValue::from_str(&self.host).map_err(|_| invalid("the endpoint's host"))?,
        );
        headers.insert(
            HeaderName::from_static("x-amz-date"),
            HeaderValue::from_str(&amz_date).map_err(|_| invalid("the date"))?,
        );
        headers.insert(
            HeaderName::from_static("x-amz-target"),
            HeaderValue::from_str(&target).map_err(|_| invalid("the action"))?,
        );
        if let Some(token) = session_token {
            let mut value =
                HeaderValue::from_str(token).map_err(|_| invalid("AWS_SESSION_TOKEN"))?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-amz-security-token"), value);
        }
        let mut value =
            HeaderValue::from_str(&authorization).map_err(|_| invalid("AWS_ACCESS_KEY_ID"))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
        Ok(headers)
    }
}

/// The error for a redirect: named by its status, never retried.
fn redirect_error(status: u16) -> ApiError {
    ApiError {
        kind: "Redirect".to_owned(),
        status,
        message: Some(
            "the endpoint answered with a redirect, which graphform does not follow (it would \
             send the credentials and token values to another address); check `endpoint_url`"
                .to_owned(),
        ),
    }
}

/// Reads an error answer: `{"__type": "…#Kind", "message": "…"}` (or the
/// `x-amzn-ErrorType` header).
fn parse_error(
    status: u16,
    body: &[u8],
    type_header: Option<&str>,
    sensitive: &[&str],
) -> ApiError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|json| json.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let kind = field("__type")
        .or_else(|| field("code"))
        .or_else(|| type_header.map(str::to_owned))
        .map_or_else(|| format!("HTTP{status}"), |kind| normalize_kind(&kind));
    let message = field("message")
        .or_else(|| field("Message"))
        .filter(|message| !message.is_empty())
        .filter(|message| {
            // Validation messages may quote a parameter; other types may
            // too in ways we cannot foresee, so check what was sent.
            kind != "ValidationException"
                && !sensitive
                    .iter()
                    .any(|value| !value.is_empty() && message.contains(value))
        })
        .map(|message| message.chars().take(MAX_MESSAGE_CHARS).collect());
    ApiError {
        kind,
        status,
        message,
    }
}

/// `com.amazonaws.secretsmanager#ResourceNotFoundException` and
/// `ResourceNotFoundException:http://…` to `ResourceNotFoundException`.
fn normalize_kind(kind: &str) -> String {
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let kind = kind.split(':').next().unwrap_or(kind);
    kind.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_read_without_namespace() {
        let error = parse_error(
            404,
            br#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#,
            None,
            &[],
        );
        assert!(error.is("ResourceNotFoundException"));
        assert_eq!(
            error.to_string(),
            "ResourceNotFoundException (HTTP 404): Secrets Manager can't find the specified secret."
        );
        let error = parse_error(
            400,
            b"",
            Some("AccessDeniedException:http://internal.amazon.com/coral/"),
            &[],
        );
        assert!(error.is("AccessDeniedException"));
        assert_eq!(error.message, None);
        assert!(parse_error(502, b"<html>", None, &[]).retryable());
        assert!(parse_error(502, b"<html>", None, &[]).is("HTTP502"));
    }

    #[test]
    fn redirects_are_named_and_not_retried() {
        let error = redirect_error(307);
        assert!(!error.retryable());
        assert!(
            error
                .to_string()
                .starts_with("Redirect (HTTP 307): the endpoint answered with a redirect"),
            "{error}"
        );
    }

    #[test]
    fn messages_quoting_a_value_sent_are_withheld() {
        let body = br#"{"__type":"InvalidRequestException","message":"bad EAAsecret0123"}"#;
        let error = parse_error(400, body, None, &["EAAsecret0123"]);
        assert_eq!(error.message, None);
        assert!(!error.to_string().contains("EAAsecret0123"));
        let error = parse_error(400, body, None, &["other"]);
        assert_eq!(error.message.as_deref(), Some("bad EAAsecret0123"));
        let validation =
            br#"{"__type":"ValidationException","message":"Value 'x' at 'secretString' failed"}"#;
        assert_eq!(parse_error(400, validation, None, &[]).message, None);
    }
}
