//! The errors the emulated Graph API returns, in the envelope of
//! graph-api.md §6, with the documented codes, subcodes and messages.

use serde_json::{Value, json};

use crate::clock::pacific_datetime;

/// One Graph API error, before it gets its `fbtrace_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphError {
    /// HTTP status of a top-level response (and `code` of a batch item).
    pub(crate) status: u16,
    pub(crate) code: i64,
    pub(crate) subcode: Option<i64>,
    /// The `type`, e.g. `OAuthException`.
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) user_title: Option<String>,
    pub(crate) user_msg: Option<String>,
    pub(crate) transient: bool,
}

const OAUTH: &str = "OAuthException";
const METHOD: &str = "GraphMethodException";
const DOCS: &str =
    "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api";

impl GraphError {
    fn new(status: u16, code: i64, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            subcode: None,
            kind,
            message: message.into(),
            user_title: None,
            user_msg: None,
            transient: false,
        }
    }

    fn subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    fn user(mut self, title: &str, msg: impl Into<String>) -> Self {
        self.user_title = Some(title.to_owned());
        self.user_msg = Some(msg.into());
        self
    }

    /// The `{"error":{…}}` body.
    pub(crate) fn body(&self, fbtrace_id: &str) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "is_transient": self.transient,
            "fbtrace_id": fbtrace_id,
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        if let Some(title) = &self.user_title {
            error["error_user_title"] = json!(title);
        }
        if let Some(msg) = &self.user_msg {
            error["error_user_msg"] = json!(msg);
        }
        json!({ "error": error })
    }

    /// The `error` object of a `debug_token` answer: `{code, message, subcode}`.
    pub(crate) fn debug_token_error(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(subcode) = self.subcode {
            error["subcode"] = json!(subcode);
        }
        error
    }

    // --- authentication (§5, §6) ---

    /// 104: no token at all.
    pub(crate) fn access_token_required() -> Self {
        Self::new(
            400,
            104,
            OAUTH,
            "An access token is required to request this resource.",
        )
    }

    /// 190: a token the emulator never issued.
    pub(crate) fn cannot_parse_token() -> Self {
        Self::new(
            400,
            190,
            OAUTH,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// 190: an app token (`app_id|secret`) with a wrong secret or app.
    pub(crate) fn bad_app_token() -> Self {
        Self::new(400, 190, OAUTH, "Invalid OAuth access token signature.")
    }

    /// 100: `appsecret_proof` missing on a call that requires it (CONFIRMED message).
    pub(crate) fn proof_required() -> Self {
        Self::new(
            400,
            100,
            METHOD,
            "API calls from the server require an appsecret_proof argument",
        )
    }

    /// 100: `appsecret_proof` wrong, or its `appsecret_time` expired (CONFIRMED message).
    pub(crate) fn invalid_proof() -> Self {
        Self::new(
            400,
            100,
            METHOD,
            "Invalid appsecret_proof provided in the API argument",
        )
    }

    /// 190/463: expired, with the real message format.
    pub(crate) fn token_expired(expires_at: i64, now: i64) -> Self {
        Self::new(
            400,
            190,
            OAUTH,
            format!(
                "Error validating access token: Session has expired on {}. The current time is {}.",
                pacific_datetime(expires_at),
                pacific_datetime(now)
            ),
        )
        .subcode(463)
    }

    /// 190/460: invalidated by `DELETE /{system-user-id}/access_tokens`
    /// (CONFIRMED message of subcode 460).
    pub(crate) fn token_invalidated() -> Self {
        Self::new(
            400,
            190,
            OAUTH,
            "Error validating access token: The session has been invalidated because the user \
             changed their password or Facebook has changed the session for security reasons.",
        )
        .subcode(460)
    }

    /// 190/467 "Invalid Access Token": revoked by `/oauth/revoke` or out of band.
    pub(crate) fn token_revoked() -> Self {
        Self::new(
            400,
            190,
            OAUTH,
            "Error validating access token: The session is invalid because the user logged out.",
        )
        .subcode(467)
    }

    /// 190/458 "App Not Installed": the app was uninstalled for the token's user.
    pub(crate) fn app_not_installed(subject_id: &str, app_id: &str) -> Self {
        Self::new(
            400,
            190,
            OAUTH,
            format!(
                "Error validating access token: User {subject_id} has not authorized application {app_id}."
            ),
        )
        .subcode(458)
    }

    // --- requests and parameters ---

    /// 100/33: unsupported method on a path, or an object the caller cannot see.
    pub(crate) fn unsupported(method: &str, object_id: Option<&str>) -> Self {
        let method = method.to_ascii_lowercase();
        let message = match object_id {
            Some(id) => format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation. {DOCS}"
            ),
            None => format!("Unsupported {method} request. {DOCS}"),
        };
        Self::new(400, 100, METHOD, message).subcode(33)
    }

    /// 100: a required parameter is missing.
    pub(crate) fn required(param: &str) -> Self {
        Self::new(
            400,
            100,
            OAUTH,
            format!("(#100) The parameter {param} is required"),
        )
    }

    /// 100: a parameter has the wrong form.
    pub(crate) fn param(message: impl Into<String>) -> Self {
        Self::new(400, 100, OAUTH, format!("(#100) {}", message.into()))
    }

    /// 100 "Invalid parameter" with a user-facing explanation.
    pub(crate) fn invalid_parameter(title: &str, msg: impl Into<String>) -> Self {
        Self::new(400, 100, OAUTH, "Invalid parameter").user(title, msg)
    }

    /// 100: a `fields` entry the node type does not have.
    pub(crate) fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::param(format!(
            "Tried accessing nonexisting field ({field}) on node type ({node_type})"
        ))
    }

    /// 110: `GET /{id}` of an ID that is no (visible) system user.
    pub(crate) fn invalid_user_id() -> Self {
        Self::new(400, 110, OAUTH, "(#110) Invalid user id")
    }

    /// 200: the caller may see the object but not do this.
    pub(crate) fn permission(detail: &str) -> Self {
        Self::new(
            403,
            200,
            OAUTH,
            format!("(#200) Permissions error: {detail}"),
        )
    }

    // --- system users (§1, §9) ---

    /// 104001: the business owns no app.
    pub(crate) fn business_has_no_app() -> Self {
        Self::new(
            400,
            104_001,
            OAUTH,
            "In order to create a system user, an app must be part of this business. Please add \
             an app and then try again.",
        )
    }

    /// 3949: system-user limit reached.
    pub(crate) fn system_user_limit() -> Self {
        Self::new(
            400,
            3949,
            OAUTH,
            "This Business Manager has reached maximum number of system user limit.",
        )
    }

    /// 3965: admin system-user limit reached.
    pub(crate) fn admin_system_user_limit() -> Self {
        Self::new(
            400,
            3965,
            OAUTH,
            "This Business Manager has reached maximum number of admin system user limit.",
        )
    }

    // --- tokens (§3, §4) ---

    /// 3962: a scope that is not a system-user permission.
    pub(crate) fn bad_scope() -> Self {
        Self::new(
            400,
            3962,
            OAUTH,
            "Provided permission is not valid. Check your spelling and syntax.",
        )
    }

    /// 100: `debug_token` called without an app token (CONFIRMED wording).
    pub(crate) fn app_token_required() -> Self {
        Self::param(
            "You must provide an app access token, or a user access token that is an owner or \
             developer of the app",
        )
    }

    /// 100: `debug_token` of another app's token.
    pub(crate) fn debug_app_mismatch() -> Self {
        Self::param("The App_id in the input_token did not match the Viewing App")
    }

    /// 101: `client_id` names no app.
    pub(crate) fn invalid_client_id() -> Self {
        Self::new(
            400,
            101,
            OAUTH,
            "Error validating application. Invalid application ID.",
        )
    }

    /// 1: `client_secret` is not the app's secret.
    pub(crate) fn invalid_client_secret() -> Self {
        Self::new(400, 1, OAUTH, "Error validating client secret.")
    }

    // --- batch (§8) ---

    /// More than 50 operations in one batch.
    pub(crate) fn batch_too_large() -> Self {
        Self::new(
            400,
            100,
            "GraphBatchException",
            "Too many requests in batch message. Maximum batch size is 50",
        )
    }

    /// An operation whose `depends_on` or `{result=…}` operation failed or
    /// did not complete.
    pub(crate) fn batch_dependency_failed(name: &str) -> Self {
        Self::param(format!(
            "The operation this request depends on ({name}) failed or did not complete"
        ))
    }

    // --- faults (§6, §7) ---

    /// A transient server error (code 1 or 2), HTTP 500.
    pub(crate) fn transient(code: i64) -> Self {
        let message = if code == 1 {
            "An unknown error occurred"
        } else {
            "An unexpected error has occurred. Please retry your request later."
        };
        let mut error = Self::new(500, code, OAUTH, message);
        error.transient = true;
        error
    }

    /// A throttling error of the given code, with the message Meta uses.
    pub(crate) fn throttled(code: i64, subcode: Option<i64>) -> Self {
        let message = match code {
            4 => "(#4) Application request limit reached".to_owned(),
            17 => "(#17) User request limit reached".to_owned(),
            32 => "(#32) Page request limit reached".to_owned(),
            341 => "(#341) Application limit reached".to_owned(),
            613 => "(#613) Calls to this api have exceeded the rate limit.".to_owned(),
            80_004 => "(#80004) There have been too many calls to this ad-account. Wait a bit \
                       and try again. For more info, please refer to \
                       https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management."
                .to_owned(),
            other => format!(
                "(#{other}) There have been too many calls from this business. Wait a bit and try \
                 again. For more info, please refer to \
                 https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
            ),
        };
        let mut error = Self::new(400, code, OAUTH, message);
        error.subcode = subcode;
        error.transient = true;
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_documented_fields() {
        let body = GraphError::token_expired(1_594_141_200, 1_594_143_890).body("AbCdEf12345");
        assert_eq!(body["error"]["code"], 190);
        assert_eq!(body["error"]["error_subcode"], 463);
        assert_eq!(body["error"]["type"], "OAuthException");
        assert_eq!(body["error"]["is_transient"], false);
        assert_eq!(body["error"]["fbtrace_id"], "AbCdEf12345");
        assert_eq!(
            body["error"]["message"],
            "Error validating access token: Session has expired on Tuesday, 07-Jul-20 10:00:00 \
             PDT. The current time is Tuesday, 07-Jul-20 10:44:50 PDT."
        );
    }

    #[test]
    fn optional_fields_are_omitted() {
        let body = GraphError::invalid_proof().body("x");
        assert!(body["error"].get("error_subcode").is_none());
        assert!(body["error"].get("error_user_msg").is_none());
    }
}
