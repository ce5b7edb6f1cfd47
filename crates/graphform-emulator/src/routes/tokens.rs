//! `POST /{system-user-id}/access_tokens` (issue) and
//! `DELETE /{system-user-id}/access_tokens` (invalidate all), graph-api.md
//! §3.

use serde_json::json;

use super::Answer;
use super::apps::business_app;
use super::visible_system_user;
use crate::auth::Caller;
use crate::graph_error::GraphError;
use crate::request::ApiRequest;
use crate::state::{Kill, Origin, State, Subject};
use crate::vocabulary::is_system_user_scope;

/// Issues a token: the app must be the business's and installed for the
/// system user; every scope must be a system-user scope (else 3962). A
/// missing or empty `scope` gives a token with no scopes: graph-api.md §3
/// marks only `business_app` as required.
pub(super) fn issue(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let su = visible_system_user(st, req, caller)?;
    let app = business_app(st, req, su)?;
    let scopes = req.params.list("scope")?.unwrap_or_default();
    if scopes.iter().any(|s| !is_system_user_scope(s)) {
        return Err(GraphError::bad_scope());
    }
    let expiring = req
        .params
        .bool("set_token_expires_in_60_days")?
        .unwrap_or(false);
    let requires_expiring = st
        .businesses
        .get(&su.business_id)
        .is_some_and(|b| b.requires_expiring_tokens);
    if requires_expiring && !expiring {
        return Err(GraphError::param(
            "This business must use expiring tokens: set set_token_expires_in_60_days=true",
        ));
    }
    if !st.installs.contains(&(su.id.clone(), app.id.clone())) {
        return Err(GraphError::param(format!(
            "App {} must be installed for system user {} before a token can be generated",
            app.id, su.id
        )));
    }
    let (su_id, app_id) = (su.id.clone(), app.id.clone());
    let index = st.issue_token(
        Subject::SystemUser(su_id.clone()),
        &app_id,
        scopes,
        expiring,
        Origin::Issued,
    );
    let token = &st.tokens[index];
    tracing::info!(
        system_user = %su_id,
        app = %app_id,
        token = %token.fingerprint,
        expires_at = token.expires_at,
        "token issued"
    );
    Ok(json!({ "access_token": token.value.expose() }))
}

/// Invalidates every token of a system user (graph-api.md §3: "returns
/// true"; the wire body is `{"success":true}`). The caller is an admin of
/// the business or the system user itself.
pub(super) fn invalidate(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let su = visible_system_user(st, req, caller)?;
    if !caller.admin_of(st, &su.business_id) && !caller.is_system_user(&su.id) {
        return Err(GraphError::permission(
            "only an admin or the system user itself can invalidate its tokens",
        ));
    }
    let su_id = su.id.clone();
    let doomed = st.tokens_of(&su_id, None);
    for index in &doomed {
        st.kill(*index, Kill::Invalidated);
    }
    tracing::info!(system_user = %su_id, tokens = doomed.len(), "tokens invalidated");
    Ok(json!({ "success": true }))
}
