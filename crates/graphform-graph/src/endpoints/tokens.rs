//! Tokens (graph-api.md §3): issue (`POST /{system-user}/access_tokens`),
//! refresh (`GET /oauth/access_token` with `fb_exchange_token`), revoke
//! (`GET /oauth/revoke`) and invalidate all (`DELETE
//! /{system-user}/access_tokens`).

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use crate::Secret;
use crate::auth::{AppCredentials, UserToken};
use crate::client::GraphClient;
use crate::error::GraphError;
use crate::retry::Repeat;
use crate::transport::{Auth, Endpoint};
use crate::wire;

/// `POST /{system-user}/access_tokens`: what token to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueToken {
    /// The app the token is for (`business_app`); the system user must
    /// have it installed.
    pub app_id: String,
    /// Permissions (`scope`), fixed for the token's life.
    pub scopes: Vec<String>,
    /// A 60-day token (`set_token_expires_in_60_days=true`, the default and
    /// the norm) rather than a permanent one.
    pub expiring: bool,
}

impl IssueToken {
    /// A 60-day token for `app_id` with `scopes`.
    pub fn new(
        app_id: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            app_id: app_id.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            expiring: true,
        }
    }
}

/// The answer of a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshedToken {
    /// The new token (the old one keeps working until its own expiry).
    pub token: Secret,
    /// `token_type`, usually `bearer`.
    pub token_type: Option<String>,
    /// `expires_in`, when sent (it is sometimes missing: confirm with
    /// `debug_token`).
    pub expires_in: Option<Duration>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    expires_in: Option<i64>,
}

/// A repeat could issue a second token nobody records.
const ISSUE_TOKEN: Endpoint =
    Endpoint::new(Method::POST, "/{system-user}/access_tokens", Repeat::Unsafe);
/// A repeat would mint another token.
const REFRESH_TOKEN: Endpoint = Endpoint::new(Method::GET, "/oauth/access_token", Repeat::Unsafe);
/// A repeat after a lost answer would fail with "invalid token" if the first
/// one worked, which would mislead.
const REVOKE_TOKEN: Endpoint = Endpoint::new(Method::GET, "/oauth/revoke", Repeat::Unsafe);
/// Invalidating twice is harmless.
const INVALIDATE_ALL_TOKENS: Endpoint =
    Endpoint::new(Method::DELETE, "/{system-user}/access_tokens", Repeat::Safe);

impl GraphClient {
    /// `POST /{system-user}/access_tokens`: issues a new token for the
    /// system user, made with `token` (an admin's, or the system user's
    /// own).
    ///
    /// Never repeated unless the request provably did not take effect: a
    /// repeat after a lost answer could issue a second token nobody
    /// records. Such a failure is
    /// [`ErrorClass::OutcomeUnknown`](crate::ErrorClass::OutcomeUnknown), for
    /// the caller to journal.
    pub async fn issue_token(
        &self,
        token: &UserToken,
        system_user_id: &str,
        request: &IssueToken,
    ) -> Result<Secret, GraphError> {
        let path = [system_user_id, "access_tokens"];
        let mut call = self
            .request(&ISSUE_TOKEN, system_user_id, &path)
            .param("business_app", request.app_id.clone())
            .param("scope", request.scopes.join(","))
            .auth(Auth::User(token.clone()));
        if request.expiring {
            call = call.param("set_token_expires_in_60_days", "true");
        }
        let body: TokenBody = self.transport.call(&call).await?;
        Ok(Secret::new(body.access_token))
    }

    /// `GET /oauth/access_token` with `grant_type=fb_exchange_token`:
    /// exchanges a 60-day `token` of `app` for a new 60-day token. Never do
    /// this to a permanent token (it would become a 60-day one).
    ///
    /// Repeated only when provably not done (a repeat would mint another
    /// token). The parameters are query parameters as the API documents;
    /// the URL is never logged or put in an error.
    pub async fn refresh_token(
        &self,
        app: &AppCredentials,
        token: &Secret,
    ) -> Result<RefreshedToken, GraphError> {
        let path = ["oauth", "access_token"];
        let call = self
            .request(&REFRESH_TOKEN, token.fingerprint().as_str(), &path)
            .param("grant_type", "fb_exchange_token")
            .param("client_id", app.app_id())
            .secret_param("client_secret", app.secret())
            .param("set_token_expires_in_60_days", "true")
            .secret_param("fb_exchange_token", token);
        let body: TokenBody = self.transport.call(&call).await?;
        Ok(RefreshedToken {
            token: Secret::new(body.access_token),
            token_type: body.token_type,
            expires_in: body
                .expires_in
                .and_then(|seconds| u64::try_from(seconds).ok())
                .map(Duration::from_secs),
        })
    }

    /// `GET /oauth/revoke`: revokes `token`, calling with `caller` (a token
    /// of the same app — the replacement, or `token` itself). The app's ID
    /// and secret are the caller's app's.
    ///
    /// Repeated only when provably not done: after a lost answer a repeat
    /// would fail with "invalid token" if the first one worked (and the
    /// caller may be the revoked token), which would mislead. Check with
    /// `debug_token` instead.
    pub async fn revoke_token(&self, caller: &UserToken, token: &Secret) -> Result<(), GraphError> {
        let app = caller.app();
        let path = ["oauth", "revoke"];
        let call = self
            .request(&REVOKE_TOKEN, token.fingerprint().as_str(), &path)
            .param("client_id", app.app_id())
            .secret_param("client_secret", app.secret())
            .secret_param("revoke_token", token)
            .auth(Auth::User(caller.clone()));
        self.transport.call_success(&call).await
    }

    /// `DELETE /{system-user}/access_tokens`: invalidates every token of the
    /// system user (the closest the API has to deleting one). Repeating it
    /// is harmless.
    pub async fn invalidate_all_tokens(
        &self,
        token: &UserToken,
        system_user_id: &str,
    ) -> Result<(), GraphError> {
        let path = [system_user_id, "access_tokens"];
        let call = self
            .request(&INVALIDATE_ALL_TOKENS, system_user_id, &path)
            .auth(Auth::User(token.clone()));
        self.transport.call_success(&call).await
    }
}
