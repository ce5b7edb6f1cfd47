//! App installs (graph-api.md §2): `POST /{system-user}/applications`.
//! There is no list and no uninstall in the API.

use reqwest::Method;

use crate::auth::UserToken;
use crate::client::GraphClient;
use crate::error::GraphError;
use crate::retry::Repeat;
use crate::transport::{Auth, Endpoint};

/// Installing twice is harmless, so it is retried like a read.
const INSTALL_APP: Endpoint =
    Endpoint::new(Method::POST, "/{system-user}/applications", Repeat::Safe);

impl GraphClient {
    /// `POST /{system-user}/applications` with `business_app`: installs the
    /// app for the system user. Repeating it is harmless, so it is retried
    /// like a read.
    pub async fn install_app(
        &self,
        token: &UserToken,
        system_user_id: &str,
        app_id: &str,
    ) -> Result<(), GraphError> {
        let path = [system_user_id, "applications"];
        let call = self
            .request(&INSTALL_APP, system_user_id, &path)
            .param("business_app", app_id)
            .auth(Auth::User(token.clone()));
        self.transport.call_success(&call).await
    }
}
