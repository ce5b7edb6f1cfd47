//! App installs (graph-api.md §2): `POST /{system-user-id}/applications`,
//! and the read-only lists `GET /{system-user-id}/assigned_applications`
//! and `GET /{business-id}/owned_apps`.

use serde_json::{Value, json};

use super::Answer;
use super::paging::paginate;
use super::{visible_business, visible_system_user};
use crate::auth::Caller;
use crate::graph_error::GraphError;
use crate::request::ApiRequest;
use crate::state::{App, State, SystemUser};

/// The `business_app` parameter: an app owned by the system user's business.
pub(super) fn business_app<'a>(
    st: &'a State,
    req: &ApiRequest,
    su: &SystemUser,
) -> Result<&'a App, GraphError> {
    let app_id = req.params.required("business_app")?;
    st.apps
        .get(app_id)
        .filter(|app| app.business_id == su.business_id)
        .ok_or_else(|| {
            GraphError::invalid_parameter(
                "App not owned by this business",
                format!(
                    "The app {app_id} is not owned by business {}, the business of system user {}.",
                    su.business_id, su.id
                ),
            )
        })
}

/// `POST /{system-user-id}/applications` with `business_app`.
pub(super) fn install(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let su = visible_system_user(st, req, caller)?;
    let app = business_app(st, req, su)?;
    let key = (su.id.clone(), app.id.clone());
    tracing::info!(system_user = %key.0, app = %key.1, "app installed");
    st.installs.insert(key);
    Ok(json!({ "success": true }))
}

/// `GET /{system-user-id}/assigned_applications`.
pub(super) fn assigned(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let su = visible_system_user(st, req, caller)?;
    let ids: Vec<String> = st
        .installs
        .iter()
        .filter(|(s, _)| *s == su.id)
        .map(|(_, app)| app.clone())
        .collect();
    app_page(st, req, &ids)
}

/// `GET /{business-id}/owned_apps`.
pub(super) fn owned(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let business = visible_business(st, req, caller)?;
    let ids: Vec<String> = st
        .apps
        .values()
        .filter(|app| app.business_id == business.id)
        .map(|app| app.id.clone())
        .collect();
    app_page(st, req, &ids)
}

fn app_page(st: &State, req: &ApiRequest, ids: &[String]) -> Answer {
    let page = paginate(st, req, ids)?;
    let data: Vec<Value> = ids[page.range.clone()]
        .iter()
        .filter_map(|id| st.apps.get(id))
        .map(|app| json!({ "id": app.id, "name": app.name }))
        .collect();
    let mut body = json!({ "data": data });
    if let Some(paging) = page.paging {
        body["paging"] = paging;
    }
    Ok(body)
}
