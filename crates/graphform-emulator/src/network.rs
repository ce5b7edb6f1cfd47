//! Network faults: what a proxy, gateway or broken connection between a
//! client and Meta can do to one HTTP request, as opposed to the Graph
//! errors Meta itself returns. They are injected per endpoint, from a
//! one-shot queue (`/_emulator/faults/next`) or at seeded random rates
//! (`/_emulator/faults`), and apply to top-level HTTP requests only.

use std::collections::VecDeque;
use std::fmt;

use axum::http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use crate::routes::Endpoint;

/// The `endpoint` of a queued fault that matches every endpoint.
pub const ANY_ENDPOINT: &str = "*";

/// Where [`NetworkFault::LostAnswer`] cuts the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// The status line, the headers (with the full `Content-Length`) and
    /// the first half of the body are sent, then the connection closes:
    /// the client has a status but reading the body fails.
    #[default]
    MidBody,
    /// Nothing of the answer is sent; the connection closes: the client's
    /// request fails before any status.
    BeforeHeaders,
}

/// A custom answer: any status, content type and body, with or without
/// running the Graph call first. `Debug` shows the body's length and
/// fingerprint only, since it may hold a (test) token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomAnswer {
    /// HTTP status, 200-599; default 200.
    #[serde(default = "default_custom_status")]
    pub status: u16,
    /// `Content-Type`; default `application/json; charset=UTF-8`.
    #[serde(default = "default_custom_content_type")]
    pub content_type: String,
    /// The body, sent exactly as given (`{}`, `null`, `{"success":false}`…).
    pub body: String,
    /// Whether the Graph call runs (and changes state) before this answer
    /// replaces its own; default false.
    #[serde(default)]
    pub run_call: bool,
}

impl fmt::Debug for CustomAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomAnswer")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body", &Redacted(&self.body))
            .field("run_call", &self.run_call)
            .finish()
    }
}

/// A body in logs: its length and fingerprint.
struct Redacted<'a>(&'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{} bytes, {}>",
            self.0.len(),
            graphform_types::fingerprint(self.0)
        )
    }
}

fn default_custom_status() -> u16 {
    200
}

fn default_custom_content_type() -> String {
    JSON_CONTENT_TYPE.to_owned()
}

const JSON_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// A gateway's error answer: 502, 503 or 504, HTML or plain text, no Graph
/// error JSON. `Debug` shows the body's length and fingerprint only.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayAnswer {
    /// 502, 503 or 504.
    pub status: u16,
    /// Default `text/html; charset=utf-8`.
    pub content_type: Option<String>,
    /// Default: nginx's page for the status (or its status line, for a
    /// non-HTML content type).
    pub body: Option<String>,
}

impl fmt::Debug for GatewayAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayAnswer")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body", &self.body.as_deref().map(Redacted))
            .finish()
    }
}

impl GatewayAnswer {
    /// `status` (502, 503 or 504) with nginx's HTML page.
    pub fn nginx(status: u16) -> Self {
        GatewayAnswer {
            status,
            content_type: None,
            body: None,
        }
    }

    /// Checks the status and the content type; `kind` names the fault.
    fn validate(&self, kind: &str) -> Result<(), String> {
        if !matches!(self.status, 502..=504) {
            return Err(format!(
                "{kind}: status must be 502, 503 or 504, not {}",
                self.status
            ));
        }
        check_content_type(self.content_type.as_deref())
    }

    /// Status, content type and body, defaults filled in.
    fn answer(&self) -> (StatusCode, String, String) {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let content_type = self
            .content_type
            .clone()
            .unwrap_or_else(|| HTML_CONTENT_TYPE.to_owned());
        let body = self.body.clone().unwrap_or_else(|| {
            if content_type.starts_with("text/html") {
                nginx_page(status)
            } else {
                format!("{status}\n")
            }
        });
        (status, content_type, body)
    }
}

/// A content type given for an answer must be a non-empty, valid header
/// value.
fn check_content_type(content_type: Option<&str>) -> Result<(), String> {
    match content_type {
        Some(ct) if HeaderValue::from_str(ct).is_err() || ct.is_empty() => {
            Err(format!("content_type {ct:?} is not a valid header value"))
        }
        _ => Ok(()),
    }
}

/// One network fault (docs/emulator.md, "Network faults"). `Debug` shows
/// bodies by length and fingerprint only.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkFault {
    /// HTTP 200 with an HTML page (a proxy's login or maintenance page);
    /// the Graph call is not run.
    GatewayPage {
        /// The page; default: a proxy's "Please log in" page.
        body: Option<String>,
    },
    /// A gateway answers 502, 503 or 504; the Graph call is not run.
    GatewayError(GatewayAnswer),
    /// The Graph call runs (its state changes stay), then a gateway
    /// answers 502, 503 or 504 instead of it (a proxy timing out on the
    /// upstream).
    GatewayErrorAfterCall(GatewayAnswer),
    /// The Graph call runs, then its answer is lost: the connection is cut.
    LostAnswer {
        /// Where the connection is cut.
        cut: Cut,
    },
    /// Any answer, with or without running the call.
    Custom(CustomAnswer),
}

impl fmt::Debug for NetworkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkFault::GatewayPage { body } => f
                .debug_struct("GatewayPage")
                .field("body", &body.as_deref().map(Redacted))
                .finish(),
            NetworkFault::GatewayError(gateway) => {
                f.debug_tuple("GatewayError").field(gateway).finish()
            }
            NetworkFault::GatewayErrorAfterCall(gateway) => f
                .debug_tuple("GatewayErrorAfterCall")
                .field(gateway)
                .finish(),
            NetworkFault::LostAnswer { cut } => {
                f.debug_struct("LostAnswer").field("cut", cut).finish()
            }
            NetworkFault::Custom(custom) => f.debug_tuple("Custom").field(custom).finish(),
        }
    }
}

impl NetworkFault {
    /// A proxy's login page, HTTP 200 `text/html`.
    pub fn gateway_page() -> Self {
        NetworkFault::GatewayPage { body: None }
    }

    /// A gateway error (502, 503 or 504) with nginx's HTML page; the call
    /// is not run.
    pub fn gateway_error(status: u16) -> Self {
        NetworkFault::GatewayError(GatewayAnswer::nginx(status))
    }

    /// The call runs, then a gateway answers `status` (502, 503 or 504)
    /// with nginx's HTML page.
    pub fn gateway_error_after_call(status: u16) -> Self {
        NetworkFault::GatewayErrorAfterCall(GatewayAnswer::nginx(status))
    }

    /// The call runs, then the connection is cut after the headers and half
    /// the body.
    pub fn lost_answer() -> Self {
        NetworkFault::LostAnswer { cut: Cut::MidBody }
    }

    /// The call runs, then the connection is cut before anything of the
    /// answer is sent.
    pub fn lost_answer_before_headers() -> Self {
        NetworkFault::LostAnswer {
            cut: Cut::BeforeHeaders,
        }
    }

    /// `status`, `content_type` and `body` as given; `run_call` says
    /// whether the Graph call runs first.
    pub fn custom(status: u16, content_type: &str, body: &str, run_call: bool) -> Self {
        NetworkFault::Custom(CustomAnswer {
            status,
            content_type: content_type.to_owned(),
            body: body.to_owned(),
            run_call,
        })
    }

    /// A JSON body (`application/json; charset=UTF-8`) with HTTP 200, the
    /// call not run, e.g. `NetworkFault::json("{}")`.
    pub fn json(body: &str) -> Self {
        Self::custom(200, JSON_CONTENT_TYPE, body, false)
    }

    /// The kind, as named in the control API: `gateway_page`,
    /// `gateway_error`, `gateway_error_after_call`, `lost_answer`, `custom`.
    pub fn kind(&self) -> &'static str {
        match self {
            NetworkFault::GatewayPage { .. } => "gateway_page",
            NetworkFault::GatewayError(_) => "gateway_error",
            NetworkFault::GatewayErrorAfterCall(_) => "gateway_error_after_call",
            NetworkFault::LostAnswer { .. } => "lost_answer",
            NetworkFault::Custom(_) => "custom",
        }
    }

    /// Whether the Graph call runs before the fault strikes.
    pub fn runs_call(&self) -> bool {
        match self {
            NetworkFault::GatewayPage { .. } | NetworkFault::GatewayError(_) => false,
            NetworkFault::GatewayErrorAfterCall(_) | NetworkFault::LostAnswer { .. } => true,
            NetworkFault::Custom(custom) => custom.run_call,
        }
    }

    /// Checks statuses and content types.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            NetworkFault::GatewayPage { .. } | NetworkFault::LostAnswer { .. } => Ok(()),
            NetworkFault::GatewayError(gateway) | NetworkFault::GatewayErrorAfterCall(gateway) => {
                gateway.validate(self.kind())
            }
            NetworkFault::Custom(custom) => {
                if !(200..=599).contains(&custom.status) {
                    return Err(format!(
                        "custom: status must be between 200 and 599, not {}",
                        custom.status
                    ));
                }
                check_content_type(Some(&custom.content_type))
            }
        }
    }

    /// The answer a fault that does not cut the connection sends:
    /// status, content type, body. `None` for [`NetworkFault::LostAnswer`].
    pub(crate) fn answer(&self) -> Option<(StatusCode, String, String)> {
        match self {
            NetworkFault::GatewayPage { body } => Some((
                StatusCode::OK,
                HTML_CONTENT_TYPE.to_owned(),
                body.clone().unwrap_or_else(|| LOGIN_PAGE.to_owned()),
            )),
            NetworkFault::GatewayError(gateway) | NetworkFault::GatewayErrorAfterCall(gateway) => {
                Some(gateway.answer())
            }
            NetworkFault::LostAnswer { .. } => None,
            NetworkFault::Custom(custom) => Some((
                StatusCode::from_u16(custom.status).unwrap_or(StatusCode::OK),
                custom.content_type.clone(),
                custom.body.clone(),
            )),
        }
    }

    /// The control API's flat JSON form (without `endpoint`).
    pub(crate) fn to_fields(&self) -> FaultFields {
        let mut fields = FaultFields {
            fault: self.kind().to_owned(),
            ..FaultFields::default()
        };
        match self {
            NetworkFault::GatewayPage { body } => fields.body.clone_from(body),
            NetworkFault::GatewayError(gateway) | NetworkFault::GatewayErrorAfterCall(gateway) => {
                fields.status = Some(gateway.status);
                fields.content_type.clone_from(&gateway.content_type);
                fields.body.clone_from(&gateway.body);
            }
            NetworkFault::LostAnswer { cut } => fields.cut = Some(*cut),
            NetworkFault::Custom(custom) => {
                fields.status = Some(custom.status);
                fields.content_type = Some(custom.content_type.clone());
                fields.body = Some(custom.body.clone());
                fields.run_call = Some(custom.run_call);
            }
        }
        fields
    }

    /// Builds a fault from the control API's flat JSON form, refusing
    /// fields the kind does not take.
    pub(crate) fn from_fields(fields: FaultFields) -> Result<Self, String> {
        let FaultFields {
            fault,
            status,
            content_type,
            body,
            run_call,
            cut,
        } = fields;
        let refuse = |name: &str, given: bool| {
            if given {
                Err(format!("{fault}: {name} does not apply"))
            } else {
                Ok(())
            }
        };
        let built = match fault.as_str() {
            "gateway_page" => {
                refuse("status", status.is_some())?;
                refuse("content_type", content_type.is_some())?;
                refuse("run_call", run_call.is_some())?;
                refuse("cut", cut.is_some())?;
                NetworkFault::GatewayPage { body }
            }
            "gateway_error" | "gateway_error_after_call" => {
                refuse("run_call", run_call.is_some())?;
                refuse("cut", cut.is_some())?;
                let after_call = fault == "gateway_error_after_call";
                let gateway = GatewayAnswer {
                    status: status.unwrap_or(if after_call { 504 } else { 502 }),
                    content_type,
                    body,
                };
                if after_call {
                    NetworkFault::GatewayErrorAfterCall(gateway)
                } else {
                    NetworkFault::GatewayError(gateway)
                }
            }
            "lost_answer" => {
                refuse("status", status.is_some())?;
                refuse("content_type", content_type.is_some())?;
                refuse("body", body.is_some())?;
                refuse("run_call", run_call.is_some())?;
                NetworkFault::LostAnswer {
                    cut: cut.unwrap_or_default(),
                }
            }
            "custom" => {
                refuse("cut", cut.is_some())?;
                NetworkFault::Custom(CustomAnswer {
                    status: status.unwrap_or_else(default_custom_status),
                    content_type: content_type.unwrap_or_else(default_custom_content_type),
                    body: body.ok_or("custom: body is required")?,
                    run_call: run_call.unwrap_or(false),
                })
            }
            other => {
                return Err(format!(
                    "unknown fault {other:?}: use gateway_page, gateway_error, \
                     gateway_error_after_call, lost_answer or custom"
                ));
            }
        };
        built.validate()?;
        Ok(built)
    }
}

/// A network fault as the control API writes it: `fault` and the fields
/// of its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FaultFields {
    pub(crate) fault: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) run_call: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cut: Option<Cut>,
}

/// `POST /_emulator/faults/next`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NextFaultRequest {
    pub(crate) endpoint: String,
    #[serde(default)]
    pub(crate) count: Option<u32>,
    pub(crate) fault: String,
    #[serde(default)]
    pub(crate) status: Option<u16>,
    #[serde(default)]
    pub(crate) content_type: Option<String>,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) run_call: Option<bool>,
    #[serde(default)]
    pub(crate) cut: Option<Cut>,
}

impl NextFaultRequest {
    /// Splits the request into endpoint, fault and count.
    pub(crate) fn into_parts(self) -> Result<(String, NetworkFault, u32), String> {
        let fault = NetworkFault::from_fields(FaultFields {
            fault: self.fault,
            status: self.status,
            content_type: self.content_type,
            body: self.body,
            run_call: self.run_call,
            cut: self.cut,
        })?;
        Ok((self.endpoint, fault, self.count.unwrap_or(1)))
    }
}

/// A queued fault waiting for its endpoint (`GET /_emulator/faults/next`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFault {
    /// The endpoint name (as in the counters), or `*` for any.
    pub endpoint: String,
    /// The fault.
    pub fault: NetworkFault,
    /// How many more requests of the endpoint it will hit.
    pub remaining: u32,
}

impl Serialize for PendingFault {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            endpoint: &'a str,
            remaining: u32,
            #[serde(flatten)]
            fields: FaultFields,
        }
        Flat {
            endpoint: &self.endpoint,
            remaining: self.remaining,
            fields: self.fault.to_fields(),
        }
        .serialize(serializer)
    }
}

/// The one-shot queue: faults for the next requests of given endpoints,
/// taken first come, first served.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    pending: VecDeque<PendingFault>,
}

impl FaultQueue {
    /// Queues `fault` for the next `count` requests of `endpoint` (an
    /// endpoint name, or `*`).
    pub(crate) fn push(
        &mut self,
        endpoint: &str,
        fault: NetworkFault,
        count: u32,
    ) -> Result<(), String> {
        if endpoint != ANY_ENDPOINT && !Endpoint::ALL.iter().any(|e| e.name() == endpoint) {
            let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            return Err(format!(
                "unknown endpoint {endpoint:?}: use \"*\" or one of {}",
                names.join(", ")
            ));
        }
        if count == 0 {
            return Err("count must be at least 1".to_owned());
        }
        fault.validate()?;
        self.pending.push_back(PendingFault {
            endpoint: endpoint.to_owned(),
            fault,
            remaining: count,
        });
        Ok(())
    }

    /// Takes the first queued fault for `endpoint`, if any.
    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<NetworkFault> {
        let index = self
            .pending
            .iter()
            .position(|p| p.endpoint == ANY_ENDPOINT || p.endpoint == endpoint.name())?;
        let entry = &mut self.pending[index];
        entry.remaining -= 1;
        let fault = entry.fault.clone();
        if entry.remaining == 0 {
            self.pending.remove(index);
        }
        Some(fault)
    }

    pub(crate) fn list(&self) -> Vec<PendingFault> {
        self.pending.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }
}

/// A proxy's "please log in" page, as a corporate proxy or captive portal
/// serves it in place of the upstream answer.
const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Sign in to continue</title></head>\n<body>\n<h1>Please log in</h1>\n<p>Your session with the network proxy has expired. Sign in to continue to graph.facebook.com.</p>\n<form method=\"post\" action=\"/login\"><input name=\"username\"><input name=\"password\" type=\"password\"><button>Sign in</button></form>\n</body>\n</html>\n";

/// nginx's error page for a status.
fn nginx_page(status: StatusCode) -> String {
    let title = match status.as_u16() {
        503 => "503 Service Temporarily Unavailable".to_owned(),
        504 => "504 Gateway Time-out".to_owned(),
        _ => status.to_string(),
    };
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_body() {
        let fault =
            NetworkFault::custom(200, "application/json", "{\"access_token\":\"EAAx\"}", true);
        let shown = format!("{fault:?}");
        assert!(!shown.contains("EAAx"), "{shown}");
        assert!(shown.contains("sha256:"), "{shown}");
        let page = NetworkFault::GatewayPage {
            body: Some("EAAy".to_owned()),
        };
        assert!(!format!("{page:?}").contains("EAAy"));
    }

    #[test]
    fn fields_round_trip_and_are_checked() {
        for fault in [
            NetworkFault::gateway_page(),
            NetworkFault::gateway_error(503),
            NetworkFault::gateway_error_after_call(502),
            NetworkFault::lost_answer(),
            NetworkFault::lost_answer_before_headers(),
            NetworkFault::custom(200, "application/json", "null", true),
        ] {
            assert_eq!(NetworkFault::from_fields(fault.to_fields()).unwrap(), fault);
        }
        let bad = |fields: FaultFields| NetworkFault::from_fields(fields).unwrap_err();
        bad(FaultFields {
            fault: "gateway_error".into(),
            status: Some(500),
            ..FaultFields::default()
        });
        bad(FaultFields {
            fault: "gateway_page".into(),
            run_call: Some(true),
            ..FaultFields::default()
        });
        bad(FaultFields {
            fault: "custom".into(),
            ..FaultFields::default()
        });
        bad(FaultFields {
            fault: "nope".into(),
            ..FaultFields::default()
        });
    }

    #[test]
    fn the_queue_serves_first_come_first_served_per_endpoint() {
        let mut queue = FaultQueue::default();
        queue
            .push("GET /oauth/revoke", NetworkFault::gateway_page(), 2)
            .unwrap();
        queue
            .push("*", NetworkFault::gateway_error(502), 1)
            .unwrap();
        assert!(
            queue
                .push("GET /nope", NetworkFault::gateway_page(), 1)
                .is_err()
        );
        assert!(queue.push("*", NetworkFault::gateway_page(), 0).is_err());
        assert_eq!(
            queue.take(Endpoint::DebugToken),
            Some(NetworkFault::gateway_error(502))
        );
        assert_eq!(queue.take(Endpoint::DebugToken), None);
        assert_eq!(
            queue.take(Endpoint::Revoke),
            Some(NetworkFault::gateway_page())
        );
        assert_eq!(queue.list()[0].remaining, 1);
        queue.take(Endpoint::Revoke);
        assert!(queue.list().is_empty());
    }
}
