//! `GET /debug_token` (graph-api.md §4): what Meta knows of a token, asked
//! with the app token; one at a time or many in batches.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::Secret;
use crate::auth::AppCredentials;
use crate::batch::BatchGet;
use crate::client::GraphClient;
use crate::error::{GraphError, TokenInvalidReason};
use crate::redact::Redactor;
use crate::retry::Repeat;
use crate::transport::{Auth, Endpoint};
use crate::wire;

/// When a token expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// `expires_at: 0`: a permanent token (never refresh it).
    Never,
    /// Unix time, seconds.
    At(i64),
}

/// A granted permission and the objects it is limited to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GranularScope {
    /// The permission.
    pub scope: String,
    /// The object IDs it applies to; empty when it applies to all.
    #[serde(default, deserialize_with = "wire::string_list")]
    pub target_ids: Vec<String>,
}

/// `data.error` of an invalid token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenInfoError {
    /// `code`, e.g. 190.
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub code: Option<i64>,
    /// `subcode` (not `error_subcode` here), e.g. 463.
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub subcode: Option<i64>,
    /// `message`.
    #[serde(default)]
    pub message: String,
}

impl TokenInfoError {
    /// Why the token is invalid.
    pub fn reason(&self) -> TokenInvalidReason {
        TokenInvalidReason::from_subcode(self.subcode)
    }
}

/// `debug_token`'s `data`. Every field is optional: an invalid token comes
/// back with little more than `error`. Read it strictly: only
/// `is_valid: true` says the token works, and only a token error (code 190
/// or 102, see [`TokenInfo::is_token_error`]) says it does not; anything
/// else is no verdict.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenInfo {
    /// `is_valid`: `true`/`false` (or `"true"`, `1`, …); `None` when absent
    /// or unreadable — no verdict.
    #[serde(default, deserialize_with = "wire::opt_lenient_bool")]
    pub is_valid: Option<bool>,
    /// `app_id`.
    #[serde(default, deserialize_with = "wire::opt_string_or_number")]
    pub app_id: Option<String>,
    /// `application`, the app's name.
    #[serde(default)]
    pub application: Option<String>,
    /// `type`, e.g. `SYSTEM_USER`.
    #[serde(default, rename = "type")]
    pub token_type: Option<String>,
    /// `expires_at`, unix seconds; 0 = never (see [`expiry`](Self::expiry)).
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub expires_at: Option<i64>,
    /// `data_access_expires_at`, unix seconds; 0 = never.
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub data_access_expires_at: Option<i64>,
    /// `issued_at`, unix seconds.
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub issued_at: Option<i64>,
    /// `scopes`.
    #[serde(default, deserialize_with = "wire::string_list")]
    pub scopes: Vec<String>,
    /// `granular_scopes`.
    #[serde(default)]
    pub granular_scopes: Vec<GranularScope>,
    /// `user_id`: the (system) user the token acts as.
    #[serde(default, deserialize_with = "wire::opt_string_or_number")]
    pub user_id: Option<String>,
    /// `profile_id`.
    #[serde(default, deserialize_with = "wire::opt_string_or_number")]
    pub profile_id: Option<String>,
    /// `metadata`, as sent.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// `error`, for an invalid token.
    #[serde(default)]
    pub error: Option<TokenInfoError>,
}

impl TokenInfo {
    /// Whether `data.error` is a token error: code 190 (invalid or expired
    /// token) or 102 (session), the only answers that say the token itself
    /// is dead (graph-api.md §6).
    pub fn is_token_error(&self) -> bool {
        self.error
            .as_ref()
            .is_some_and(|error| matches!(error.code, Some(190 | 102)))
    }

    /// When the token expires, if Meta said.
    pub fn expiry(&self) -> Option<Expiry> {
        self.expires_at.map(|at| {
            if at == 0 {
                Expiry::Never
            } else {
                Expiry::At(at)
            }
        })
    }
}

#[derive(Deserialize)]
struct DebugBody {
    data: TokenInfo,
}

const DEBUG_TOKEN: Endpoint = Endpoint::new(Method::GET, "/debug_token", Repeat::Safe);

impl GraphClient {
    /// `GET /debug_token?input_token=…` with `app`'s app token (sent in
    /// the `Authorization` header). An invalid token is not an error: it
    /// comes back with `is_valid: false`.
    pub async fn debug_token(
        &self,
        app: &AppCredentials,
        input_token: &Secret,
    ) -> Result<TokenInfo, GraphError> {
        let call = self
            .request(
                &DEBUG_TOKEN,
                input_token.fingerprint().as_str(),
                &["debug_token"],
            )
            .secret_param("input_token", input_token)
            .auth(Auth::App(app.clone()));
        let body: DebugBody = self.transport.call(&call).await?;
        Ok(body.data)
    }

    /// `debug_token` for many tokens of `app`, in batches of up to 50 (the
    /// tokens travel in the POST body, not in a URL); one result per token,
    /// in order. Errors name each token by its fingerprint.
    pub async fn debug_tokens(
        &self,
        app: &AppCredentials,
        input_tokens: &[Secret],
    ) -> Vec<Result<TokenInfo, GraphError>> {
        let items = input_tokens
            .iter()
            .map(|token| {
                BatchGet::new(
                    DEBUG_TOKEN.operation(token.fingerprint().to_string()),
                    &["debug_token"],
                    &[("input_token", token.expose())],
                    Redactor::new(vec![token.clone()]),
                )
            })
            .collect();
        self.transport
            .batch_get::<DebugBody>(&Auth::App(app.clone()), items)
            .await
            .into_iter()
            .map(|result| result.map(|body| body.data))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_system_user_sample() {
        let body: DebugBody = serde_json::from_str(
            r#"{"data":{"app_id":"634974688087057","type":"SYSTEM_USER","application":"Lucky Shrub",
               "data_access_expires_at":0,"expires_at":0,"is_valid":true,"issued_at":1712099387,
               "scopes":["whatsapp_business_management"],
               "granular_scopes":[{"scope":"whatsapp_business_management"},{"scope":"ads_read","target_ids":[123,"456"]}],
               "user_id":"104169029247128","new_field":{}}}"#,
        )
        .unwrap();
        let info = body.data;
        assert!(info.is_valid == Some(true));
        assert_eq!(info.expiry(), Some(Expiry::Never));
        assert_eq!(info.token_type.as_deref(), Some("SYSTEM_USER"));
        assert_eq!(info.granular_scopes[1].target_ids, ["123", "456"]);
        assert!(info.granular_scopes[0].target_ids.is_empty());
        assert_eq!(info.user_id.as_deref(), Some("104169029247128"));
    }

    #[test]
    fn reads_an_invalid_token_with_almost_nothing() {
        let body: DebugBody = serde_json::from_str(
            r#"{"data":{"is_valid":false,"scopes":[],"error":{"code":190,"subcode":463,"message":"expired"}}}"#,
        )
        .unwrap();
        let info = body.data;
        assert!(info.is_valid == Some(false));
        assert_eq!(info.expiry(), None);
        assert_eq!(info.error.unwrap().reason(), TokenInvalidReason::Expired);
        let body: DebugBody =
            serde_json::from_str(r#"{"data":{"expires_at":1800000000}}"#).unwrap();
        assert_eq!(body.data.expiry(), Some(Expiry::At(1_800_000_000)));
        assert_eq!(body.data.is_valid, None, "no verdict without is_valid");
    }
}
