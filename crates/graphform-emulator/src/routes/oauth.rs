//! `GET /oauth/access_token` (refresh by `fb_exchange_token`, and the app
//! token by `client_credentials`) and `GET /oauth/revoke`, graph-api.md §3.

use serde_json::json;

use super::Answer;
use crate::auth::authenticate_token;
use crate::graph_error::GraphError;
use crate::request::ApiRequest;
use crate::state::{App, Kill, Origin, SIXTY_DAYS, State};

/// `client_id` + `client_secret`: 101 for an unknown app, 1 for a wrong
/// secret.
fn client_app<'a>(st: &'a State, req: &ApiRequest) -> Result<&'a App, GraphError> {
    let client_id = req.params.required("client_id")?;
    let app = st
        .apps
        .get(client_id)
        .ok_or_else(GraphError::invalid_client_id)?;
    let secret = req.params.required("client_secret")?;
    if app.secret.expose() != secret {
        return Err(GraphError::invalid_client_secret());
    }
    Ok(app)
}

/// Exchanges a live token for a new 60-day token; the answer omits
/// `expires_in` under the `omit_expires_in` quirk. The old token keeps
/// working until its own expiry ("Access Token Rotation"). A never-expiring
/// token is exchanged too, as graph-api.md says the real API does: the
/// result is a 60-day token (which is why graphform never refreshes one);
/// the permanent token stays valid.
pub(super) fn refresh(st: &mut State, req: &ApiRequest) -> Answer {
    let grant_type = req.params.required("grant_type")?;
    let app_id = client_app(st, req)?.id.clone();
    match grant_type {
        "fb_exchange_token" => {}
        "client_credentials" => {
            let app = &st.apps[&app_id];
            return Ok(json!({
                "access_token": format!("{}|{}", app.id, app.secret.expose()),
                "token_type": "bearer",
            }));
        }
        _ => {
            return Err(GraphError::param(
                "grant_type must be fb_exchange_token or client_credentials",
            ));
        }
    }
    let old = req.params.required("fb_exchange_token")?;
    let index = st
        .find_token(old)
        .ok_or_else(GraphError::cannot_parse_token)?;
    let token = &st.tokens[index];
    if token.app_id != app_id {
        return Err(GraphError::param(format!(
            "fb_exchange_token was not issued for application {app_id}"
        )));
    }
    if let Some(error) = token.error(st.now()) {
        return Err(error);
    }
    let (subject, scopes, from) = (
        token.subject.clone(),
        token.scopes.clone(),
        token.fingerprint.clone(),
    );
    let new = st.issue_token(
        subject,
        &app_id,
        scopes,
        true,
        Origin::Refreshed(from.clone()),
    );
    let token = &st.tokens[new];
    tracing::info!(from = %from, to = %token.fingerprint, "token refreshed");
    let mut body = json!({
        "access_token": token.value.expose(),
        "token_type": "bearer",
    });
    if !st.quirks.omit_expires_in {
        body["expires_in"] = json!(SIXTY_DAYS);
    }
    Ok(body)
}

/// Revokes `revoke_token`. `client_id`, the app of `revoke_token` and the
/// app of `access_token` must all be the same; the caller's token needs its
/// `appsecret_proof` like any call. The answer is `{"success":true}`, or
/// `{"success":"true"}` under the `revoke_success_as_string` quirk.
pub(super) fn revoke(st: &mut State, req: &ApiRequest) -> Answer {
    let app_id = client_app(st, req)?.id.clone();
    let target = req.params.required("revoke_token")?;
    let caller = authenticate_token(st, req.token(), &req.params)?;
    let index = st
        .find_token(target)
        .ok_or_else(GraphError::cannot_parse_token)?;
    let target_app = st.tokens[index].app_id.clone();
    if target_app != app_id || caller.app_id() != app_id {
        return Err(GraphError::param(
            "client_id, the app of revoke_token and the app of access_token must all be the same",
        ));
    }
    st.kill(index, Kill::Revoked);
    tracing::info!(token = %st.tokens[index].fingerprint, "token revoked");
    if st.quirks.revoke_success_as_string {
        Ok(json!({ "success": "true" }))
    } else {
        Ok(json!({ "success": true }))
    }
}
