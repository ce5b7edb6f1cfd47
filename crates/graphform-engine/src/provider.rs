//! The seam between the engine and Meta: [`Provider`] is every Graph API
//! operation observe and apply use, and nothing else.
//!
//! [`GraphClient`] implements it over HTTP (batched, retried, rate-limit
//! aware: see the graph crate). An in-memory model of Meta implements it
//! for tests (`graphform_testkit::meta`), so the planner and apply can be
//! exercised in milliseconds, with faults placed exactly, while the
//! end-to-end tests still run the real client against the emulator over
//! HTTP.
//!
//! Errors are the graph crate's [`GraphError`] whichever side answers: the
//! engine's safety decisions read its [`ErrorClass`](graphform_graph::ErrorClass)
//! (a lost answer is journaled, a token error is a verdict), and a
//! stand-in builds them with [`GraphError::from_answer`] from the answer
//! Meta documents, so they are classified exactly as real ones.

use graphform_graph::{
    AppCredentials, GraphClient, GraphError, IssueToken, ListOptions, NewSystemUser,
    RefreshedToken, Secret, SystemUserEntry, TokenInfo, UserToken,
};

/// The Graph API operations graphform uses.
///
/// Calls about one object go through [`labeled`](Self::labeled), which
/// names the object (`acme/ci-reporting`) in errors and logs.
#[allow(
    async_fn_in_trait,
    reason = "used through generics, not dyn; Send-ness is the implementation's"
)]
pub trait Provider: Sync {
    /// This provider, naming `label` as the object its calls are about.
    #[must_use]
    fn labeled(&self, label: String) -> Self
    where
        Self: Sized;

    /// `GET /{business}/system_users`, every page.
    async fn list_system_users(
        &self,
        admin: &UserToken,
        business_id: &str,
    ) -> Result<Vec<SystemUserEntry>, GraphError>;

    /// `POST /{business}/system_users`: the new system user's ID.
    async fn create_system_user(
        &self,
        admin: &UserToken,
        business_id: &str,
        request: &NewSystemUser,
    ) -> Result<String, GraphError>;

    /// `POST /{business}/system_users` with `system_user_id`: a rename.
    async fn rename_system_user(
        &self,
        admin: &UserToken,
        business_id: &str,
        system_user_id: &str,
        name: &str,
    ) -> Result<(), GraphError>;

    /// `POST /{system-user}/applications`.
    async fn install_app(
        &self,
        admin: &UserToken,
        system_user_id: &str,
        app_id: &str,
    ) -> Result<(), GraphError>;

    /// `POST /{system-user}/access_tokens`: a new token.
    async fn issue_token(
        &self,
        admin: &UserToken,
        system_user_id: &str,
        request: &IssueToken,
    ) -> Result<Secret, GraphError>;

    /// `GET /oauth/access_token` with `fb_exchange_token`: a fresh 60-day
    /// token for `token`.
    async fn refresh_token(
        &self,
        app: &AppCredentials,
        token: &Secret,
    ) -> Result<RefreshedToken, GraphError>;

    /// `POST /oauth/revoke` of `token`, called as `caller`.
    async fn revoke_token(&self, caller: &UserToken, token: &Secret) -> Result<(), GraphError>;

    /// `DELETE /{system-user}/access_tokens`: every token of the system
    /// user stops working.
    async fn invalidate_all_tokens(
        &self,
        admin: &UserToken,
        system_user_id: &str,
    ) -> Result<(), GraphError>;

    /// `GET /debug_token` of each token, as `app` (batched by the client).
    async fn debug_tokens(
        &self,
        app: &AppCredentials,
        tokens: &[Secret],
    ) -> Vec<Result<TokenInfo, GraphError>>;

    /// `GET /debug_token` of one token.
    async fn debug_token(
        &self,
        app: &AppCredentials,
        token: &Secret,
    ) -> Result<TokenInfo, GraphError> {
        self.debug_tokens(app, std::slice::from_ref(token))
            .await
            .pop()
            .expect("one answer per token")
    }

    /// How close to Meta's rate limits the calls made so far are: the
    /// highest usage percentage of the rate-limit headers still fresh, or
    /// `None` when nothing says (no header yet, or a stand-in that does not
    /// model usage). Apply raises its parallelism while this is low or
    /// absent and lowers it as this climbs.
    fn usage_percent(&self) -> Option<f64> {
        None
    }
}

impl Provider for GraphClient {
    fn labeled(&self, label: String) -> Self {
        GraphClient::labeled(self, label)
    }

    async fn list_system_users(
        &self,
        admin: &UserToken,
        business_id: &str,
    ) -> Result<Vec<SystemUserEntry>, GraphError> {
        let list =
            GraphClient::list_system_users(self, admin, business_id, &ListOptions::default())
                .await?;
        Ok(list.users)
    }

    async fn create_system_user(
        &self,
        admin: &UserToken,
        business_id: &str,
        request: &NewSystemUser,
    ) -> Result<String, GraphError> {
        GraphClient::create_system_user(self, admin, business_id, request).await
    }

    async fn rename_system_user(
        &self,
        admin: &UserToken,
        business_id: &str,
        system_user_id: &str,
        name: &str,
    ) -> Result<(), GraphError> {
        GraphClient::rename_system_user(self, admin, business_id, system_user_id, name).await
    }

    async fn install_app(
        &self,
        admin: &UserToken,
        system_user_id: &str,
        app_id: &str,
    ) -> Result<(), GraphError> {
        GraphClient::install_app(self, admin, system_user_id, app_id).await
    }

    async fn issue_token(
        &self,
        admin: &UserToken,
        system_user_id: &str,
        request: &IssueToken,
    ) -> Result<Secret, GraphError> {
        GraphClient::issue_token(self, admin, system_user_id, request).await
    }

    async fn refresh_token(
        &self,
        app: &AppCredentials,
        token: &Secret,
    ) -> Result<RefreshedToken, GraphError> {
        GraphClient::refresh_token(self, app, token).await
    }

    async fn revoke_token(&self, caller: &UserToken, token: &Secret) -> Result<(), GraphError> {
        GraphClient::revoke_token(self, caller, token).await
    }

    async fn invalidate_all_tokens(
        &self,
        admin: &UserToken,
        system_user_id: &str,
    ) -> Result<(), GraphError> {
        GraphClient::invalidate_all_tokens(self, admin, system_user_id).await
    }

    async fn debug_tokens(
        &self,
        app: &AppCredentials,
        tokens: &[Secret],
    ) -> Vec<Result<TokenInfo, GraphError>> {
        GraphClient::debug_tokens(self, app, tokens).await
    }

    async fn debug_token(
        &self,
        app: &AppCredentials,
        token: &Secret,
    ) -> Result<TokenInfo, GraphError> {
        GraphClient::debug_token(self, app, token).await
    }

    fn usage_percent(&self) -> Option<f64> {
        GraphClient::usage_percent(self)
    }
}
