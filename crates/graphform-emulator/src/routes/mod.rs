//! The Graph API itself: which endpoint a call is, the per-call pipeline
//! (counters, throttles, transient faults, usage headers) and the dispatch
//! to each endpoint's handler.

mod apps;
pub(crate) mod batch;
mod debug_token;
mod nodes;
mod oauth;
mod paging;
mod system_users;
mod tokens;

use axum::http::Method;
use serde_json::Value;

use crate::auth::{self, Caller};
use crate::graph_error::GraphError;
use crate::request::{ApiRequest, ApiResponse};
use crate::state::{Business, State, SystemUser};

/// What an endpoint's handler answers: the JSON body of a 200, or the
/// Graph error.
type Answer = Result<Value, GraphError>;

/// The endpoints graphform uses, named as in graph-api.md. The name keys
/// the counters and the fault filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Batch,
    ListSystemUsers,
    CreateSystemUser,
    OwnedApps,
    ReadNode,
    DeleteNode,
    InstallApp,
    AssignedApps,
    IssueToken,
    InvalidateTokens,
    Refresh,
    Revoke,
    DebugToken,
    Unsupported,
}

impl Endpoint {
    /// Every endpoint, in the order of docs/emulator.md's table.
    pub(crate) const ALL: [Endpoint; 14] = [
        Endpoint::ListSystemUsers,
        Endpoint::CreateSystemUser,
        Endpoint::OwnedApps,
        Endpoint::ReadNode,
        Endpoint::DeleteNode,
        Endpoint::InstallApp,
        Endpoint::AssignedApps,
        Endpoint::IssueToken,
        Endpoint::InvalidateTokens,
        Endpoint::Refresh,
        Endpoint::Revoke,
        Endpoint::DebugToken,
        Endpoint::Batch,
        Endpoint::Unsupported,
    ];

    /// Classifies a call by method and path shape alone.
    pub(crate) fn classify(method: &Method, path: &[String]) -> Self {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", []) => Endpoint::Batch,
            ("GET", ["debug_token"]) => Endpoint::DebugToken,
            ("GET", ["oauth", "access_token"]) => Endpoint::Refresh,
            ("GET", ["oauth", "revoke"]) => Endpoint::Revoke,
            ("GET", ["debug_token" | "oauth", ..]) => Endpoint::Unsupported,
            ("GET", [_]) => Endpoint::ReadNode,
            ("DELETE", [_]) => Endpoint::DeleteNode,
            ("GET", [_, "system_users"]) => Endpoint::ListSystemUsers,
            ("POST", [_, "system_users"]) => Endpoint::CreateSystemUser,
            ("GET", [_, "owned_apps"]) => Endpoint::OwnedApps,
            ("POST", [_, "applications"]) => Endpoint::InstallApp,
            ("GET", [_, "assigned_applications"]) => Endpoint::AssignedApps,
            ("POST", [_, "access_tokens"]) => Endpoint::IssueToken,
            ("DELETE", [_, "access_tokens"]) => Endpoint::InvalidateTokens,
            _ => Endpoint::Unsupported,
        }
    }

    /// The endpoint's name, e.g. `POST /{system-user-id}/access_tokens`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::Batch => "POST /",
            Endpoint::ListSystemUsers => "GET /{business-id}/system_users",
            Endpoint::CreateSystemUser => "POST /{business-id}/system_users",
            Endpoint::OwnedApps => "GET /{business-id}/owned_apps",
            Endpoint::ReadNode => "GET /{id}",
            Endpoint::DeleteNode => "DELETE /{id}",
            Endpoint::InstallApp => "POST /{system-user-id}/applications",
            Endpoint::AssignedApps => "GET /{system-user-id}/assigned_applications",
            Endpoint::IssueToken => "POST /{system-user-id}/access_tokens",
            Endpoint::InvalidateTokens => "DELETE /{system-user-id}/access_tokens",
            Endpoint::Refresh => "GET /oauth/access_token",
            Endpoint::Revoke => "GET /oauth/revoke",
            Endpoint::DebugToken => "GET /debug_token",
            Endpoint::Unsupported => "unsupported",
        }
    }
}

/// One API call (a plain request or one batch operation): counted, maybe
/// throttled or failed by an injected fault, else dispatched.
pub(crate) fn api_call(st: &mut State, req: &ApiRequest) -> ApiResponse {
    let endpoint = Endpoint::classify(&req.method, &req.path);
    st.counters.count_call(endpoint);
    let business = request_business(st, req);
    let (result, hit) = if let Some((error, hit)) = st.faults.take_throttle(endpoint) {
        st.counters.count_fault(endpoint, "throttle");
        (Err(error), Some(hit))
    } else if let Some(error) = st.faults.roll_transient(endpoint) {
        st.counters.count_fault(endpoint, "transient_error");
        (Err(error), None)
    } else {
        (dispatch(st, req, endpoint), None)
    };
    let mut response = match result {
        Ok(body) => ApiResponse::ok(body),
        Err(error) => {
            let trace = st.fbtrace_id();
            ApiResponse::error(&error, &trace)
        }
    };
    response.headers = st.faults.usage_headers(business.as_deref(), hit);
    tracing::debug!(
        method = %req.method,
        endpoint = endpoint.name(),
        status = response.status,
        code = ?response.error.map(|e| e.0),
        subcode = ?response.error.and_then(|e| e.1),
        "graph api call"
    );
    response
}

/// The business whose usage a call counts against: the token's business,
/// else the first business.
fn request_business(st: &State, req: &ApiRequest) -> Option<String> {
    let from_token = req.token().and_then(|token| {
        if let Some(app) = st.app_token(token) {
            return Some(app.business_id.clone());
        }
        let index = st.find_token(token)?;
        st.business_of(&st.tokens[index].subject).map(str::to_owned)
    });
    from_token.or_else(|| st.businesses.keys().next().cloned())
}

fn dispatch(st: &mut State, req: &ApiRequest, endpoint: Endpoint) -> Answer {
    // The OAuth endpoints authenticate with client credentials.
    match endpoint {
        Endpoint::Refresh => return oauth::refresh(st, req),
        Endpoint::Revoke => return oauth::revoke(st, req),
        _ => {}
    }
    if req.path.first().is_some_and(|s| s == "oauth") {
        return Err(unsupported(req));
    }
    let caller = auth::authenticate(st, req)?;
    match endpoint {
        Endpoint::ListSystemUsers => system_users::list(st, req, &caller),
        Endpoint::CreateSystemUser => system_users::create(st, req, &caller),
        Endpoint::OwnedApps => apps::owned(st, req, &caller),
        Endpoint::ReadNode => nodes::read(st, req, &caller),
        Endpoint::InstallApp => apps::install(st, req, &caller),
        Endpoint::AssignedApps => apps::assigned(st, req, &caller),
        Endpoint::IssueToken => tokens::issue(st, req, &caller),
        Endpoint::InvalidateTokens => tokens::invalidate(st, req, &caller),
        Endpoint::DebugToken => debug_token::debug(st, req, &caller),
        // No delete of system users (graph-api.md §1); nested batches and
        // everything else are unsupported too.
        Endpoint::DeleteNode
        | Endpoint::Batch
        | Endpoint::Refresh
        | Endpoint::Revoke
        | Endpoint::Unsupported => Err(unsupported(req)),
    }
}

/// 100/33 for this request, naming its object when the path starts with an ID.
fn unsupported(req: &ApiRequest) -> GraphError {
    let object = req
        .path
        .first()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()));
    GraphError::unsupported(req.method.as_str(), object.map(String::as_str))
}

/// The first path segment (the object ID of an edge or node call).
fn object_id(req: &ApiRequest) -> &str {
    req.path.first().map_or("", String::as_str)
}

/// The `fields` a caller asked for, checked against a node type's fields;
/// `default` when absent.
fn fields(
    req: &ApiRequest,
    allowed: &[&str],
    default: &[&str],
    node_type: &str,
) -> Result<Vec<String>, GraphError> {
    let fields = req
        .params
        .list("fields")?
        .unwrap_or_else(|| default.iter().map(|f| (*f).to_owned()).collect());
    if let Some(bad) = fields.iter().find(|f| !allowed.contains(&f.as_str())) {
        return Err(GraphError::nonexisting_field(bad, node_type));
    }
    Ok(fields)
}

/// The preamble of every edge call on a business object: the caller acts
/// with a user token, and `find` sees the object the path starts with;
/// otherwise 100/33, as for any object the caller cannot see.
fn visible<'a, T>(
    req: &ApiRequest,
    caller: &Caller,
    find: impl FnOnce(&str) -> Option<&'a T>,
) -> Result<&'a T, GraphError> {
    require_user_token(caller)?;
    let id = object_id(req);
    find(id).ok_or_else(|| GraphError::unsupported(req.method.as_str(), Some(id)))
}

/// The business of a `/{business-id}/…` call, if the caller is in it.
fn visible_business<'a>(
    st: &'a State,
    req: &ApiRequest,
    caller: &Caller,
) -> Result<&'a Business, GraphError> {
    visible(req, caller, |id| {
        st.businesses
            .get(id)
            .filter(|b| caller.member_of(st, &b.id))
    })
}

/// The system user of a `/{system-user-id}/…` call, if the caller is in
/// its business.
fn visible_system_user<'a>(
    st: &'a State,
    req: &ApiRequest,
    caller: &Caller,
) -> Result<&'a SystemUser, GraphError> {
    visible(req, caller, |id| {
        st.system_users
            .get(id)
            .filter(|su| caller.member_of(st, &su.business_id))
    })
}

/// Callers acting through an app token cannot manage business objects.
fn require_user_token(caller: &Caller) -> Result<(), GraphError> {
    match caller {
        Caller::App { .. } => Err(GraphError::permission(
            "an app access token cannot be used for this call",
        )),
        Caller::Token { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn endpoints_are_classified_by_shape() {
        let cases = [
            (Method::POST, "/", Endpoint::Batch),
            (Method::GET, "/debug_token", Endpoint::DebugToken),
            (Method::POST, "/debug_token", Endpoint::Unsupported),
            (Method::GET, "/oauth/access_token", Endpoint::Refresh),
            (Method::GET, "/1/system_users", Endpoint::ListSystemUsers),
            (Method::POST, "/1/access_tokens", Endpoint::IssueToken),
            (
                Method::DELETE,
                "/1/access_tokens",
                Endpoint::InvalidateTokens,
            ),
            (Method::DELETE, "/1", Endpoint::DeleteNode),
            (Method::GET, "/1/applications", Endpoint::Unsupported),
        ];
        for (method, p, expected) in cases {
            assert_eq!(
                Endpoint::classify(&method, &path(p)),
                expected,
                "{method} {p}"
            );
        }
    }
}
