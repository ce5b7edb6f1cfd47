//! `GET /debug_token?input_token=…` (graph-api.md §4): only with an app
//! token; dead tokens answer HTTP 200 with `is_valid: false` and
//! `data.error {code, message, subcode}`.

use serde_json::json;

use super::Answer;
use crate::auth::Caller;
use crate::clock::DAY;
use crate::graph_error::GraphError;
use crate::request::ApiRequest;
use crate::state::{State, Subject};

/// `GET /debug_token`.
pub(super) fn debug(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let Caller::App { app_id } = caller else {
        return Err(GraphError::app_token_required());
    };
    let input = req.params.required("input_token")?;
    if input.contains('|') {
        return debug_app_token(st, app_id, input);
    }
    let Some(index) = st.find_token(input) else {
        return Ok(json!({ "data": {
            "error": GraphError::cannot_parse_token().debug_token_error(),
            "is_valid": false,
            "scopes": [],
        }}));
    };
    let token = &st.tokens[index];
    if token.app_id != *app_id {
        return Err(GraphError::debug_app_mismatch());
    }
    let application = st.apps.get(&token.app_id).map_or("", |a| a.name.as_str());
    let data_access_expires_at = match token.subject {
        Subject::SystemUser(_) => 0,
        Subject::AdminUser(_) => token.issued_at + 90 * DAY,
    };
    let mut data = json!({
        "app_id": token.app_id,
        "type": token.subject.token_type(),
        "application": application,
        "data_access_expires_at": data_access_expires_at,
        "expires_at": token.expires_at,
        "is_valid": true,
        "issued_at": token.issued_at,
        "scopes": token.scopes,
        "granular_scopes": token
            .scopes
            .iter()
            .map(|s| json!({ "scope": s }))
            .collect::<Vec<_>>(),
        "user_id": token.subject.id(),
    });
    if let Some(error) = token.error(st.now()) {
        data["is_valid"] = json!(false);
        data["scopes"] = json!([]);
        data["granular_scopes"] = json!([]);
        data["error"] = error.debug_token_error();
    }
    Ok(json!({ "data": data }))
}

fn debug_app_token(st: &State, viewer: &str, input: &str) -> Answer {
    let Some(app) = st.app_token(input) else {
        return Ok(json!({ "data": {
            "error": GraphError::bad_app_token().debug_token_error(),
            "is_valid": false,
            "scopes": [],
        }}));
    };
    if app.id != viewer {
        return Err(GraphError::debug_app_mismatch());
    }
    Ok(json!({ "data": {
        "app_id": app.id,
        "type": "APP",
        "application": app.name,
        "is_valid": true,
        "scopes": [],
    }}))
}
