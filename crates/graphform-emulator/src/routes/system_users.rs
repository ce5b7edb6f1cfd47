//! `GET` and `POST /{business-id}/system_users` (graph-api.md §1, §9):
//! list with pagination and `summary=total_count`, create with the role
//! enum and the 104001/3949/3965 rules, rename via `system_user_id`.

use serde_json::{Map, Value, json};

use super::Answer;
use super::paging::paginate;
use super::{fields, visible_business};
use crate::auth::Caller;
use crate::clock::graph_datetime;
use crate::graph_error::GraphError;
use crate::request::ApiRequest;
use crate::state::{Business, State, SystemUser};
use crate::vocabulary::Role;

/// Fields of an item of the `system_users` edge: the node's, then `role`.
const EDGE_FIELDS: [&str; 7] = [
    "id",
    "name",
    "created_by",
    "created_time",
    "finance_permission",
    "ip_permission",
    "role",
];

/// Fields of a `SystemUser` node: the edge's but `role` (graph-api.md §1:
/// `role` exists only on the edge).
pub(super) const NODE_FIELDS: &[&str] = EDGE_FIELDS.split_last().expect("not empty").1;

/// The JSON of a system user with the requested fields; fields without a
/// value are left out, as Meta does.
pub(super) fn render(su: &SystemUser, fields: &[String]) -> Value {
    let mut out = Map::new();
    for field in fields {
        let value = match field.as_str() {
            "id" => Some(json!(su.id)),
            "name" => Some(json!(su.name)),
            "created_time" => Some(json!(graph_datetime(su.created_time))),
            "created_by" => su
                .created_by
                .as_ref()
                .map(|(id, name)| json!({ "id": id, "name": name })),
            "finance_permission" => su.role.finance_permission().map(|p| json!(p)),
            "ip_permission" => su.role.ip_permission().map(|p| json!(p)),
            "role" => Some(json!(su.role.base_role())),
            _ => None,
        };
        if let Some(value) = value {
            out.insert(field.clone(), value);
        }
    }
    Value::Object(out)
}

/// The business of the call, if the caller administers it.
fn admin_business<'a>(
    st: &'a State,
    req: &ApiRequest,
    caller: &Caller,
) -> Result<&'a Business, GraphError> {
    let business = visible_business(st, req, caller)?;
    if !caller.admin_of(st, &business.id) {
        return Err(GraphError::permission(
            "managing system users needs an admin user or admin system user token",
        ));
    }
    Ok(business)
}

/// `GET /{business-id}/system_users`.
pub(super) fn list(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let business = admin_business(st, req, caller)?;
    let fields = fields(req, &EDGE_FIELDS, &["id", "name", "role"], "SystemUser")?;
    let ids = &business.system_users;
    let page = paginate(st, req, ids)?;
    let data: Vec<Value> = ids[page.range.clone()]
        .iter()
        .filter_map(|id| st.system_users.get(id))
        .map(|su| render(su, &fields))
        .collect();
    let mut body = json!({ "data": data });
    if let Some(paging) = page.paging {
        body["paging"] = paging;
    }
    if wants_total_count(req)? {
        body["summary"] = json!({ "total_count": ids.len() });
    }
    Ok(body)
}

/// `summary=total_count` (also `true`/`1`, or a list holding `total_count`).
fn wants_total_count(req: &ApiRequest) -> Result<bool, GraphError> {
    match req.params.get("summary") {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(_) => Ok(req
            .params
            .list("summary")?
            .is_some_and(|items| items.iter().any(|i| i == "total_count"))),
    }
}

/// `POST /{business-id}/system_users`: create, or rename with `system_user_id`.
pub(super) fn create(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let business_id = admin_business(st, req, caller)?.id.clone();
    if let Some(system_user_id) = req.params.get("system_user_id") {
        return rename(st, req, &business_id, system_user_id);
    }
    let name = req.params.required("name")?.to_owned();
    let role = match req.params.get("role") {
        None => Role::Employee,
        Some(text) => Role::parse(text).ok_or_else(|| {
            let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            GraphError::param(format!(
                "role must be one of the following values: {}",
                all.join(", ")
            ))
        })?,
    };
    let level = st
        .business_access_level(&business_id)
        .ok_or_else(GraphError::business_has_no_app)?;
    let (admins, others) = st
        .businesses
        .get(&business_id)
        .map(|b| {
            b.system_users
                .iter()
                .filter_map(|id| st.system_users.get(id))
                .partition::<Vec<_>, _>(|su| su.role.is_admin())
        })
        .unwrap_or_default();
    if role.is_admin() && admins.len() >= level.admin_system_user_limit() {
        return Err(GraphError::admin_system_user_limit());
    }
    if !role.is_admin() && others.len() >= level.system_user_limit() {
        return Err(GraphError::system_user_limit());
    }
    let id = st.new_id();
    let created_by = caller.creator(st);
    let created_time = st.now();
    st.add_system_user(SystemUser {
        id: id.clone(),
        name,
        business_id,
        role,
        created_time,
        created_by,
    });
    tracing::info!(system_user = %id, role = %role, "system user created");
    Ok(json!({ "id": id }))
}

fn rename(st: &mut State, req: &ApiRequest, business_id: &str, system_user_id: &str) -> Answer {
    let name = req.params.required("name")?.to_owned();
    let su = st
        .system_users
        .get_mut(system_user_id)
        .filter(|su| su.business_id == business_id)
        .ok_or_else(|| {
            GraphError::invalid_parameter(
                "Invalid system user",
                format!("{system_user_id} is not a system user of business {business_id}."),
            )
        })?;
    su.name = name;
    Ok(json!({ "id": su.id }))
}
