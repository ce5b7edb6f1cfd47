//! `GET /{id}`: a system user (graph-api.md §1: 110 "Invalid user id" for
//! an ID that is none the caller can see), or a business or app node.

use serde_json::{Map, Value, json};

use super::Answer;
use super::system_users::{NODE_FIELDS, render};
use super::{fields, object_id};
use crate::auth::Caller;
use crate::graph_error::GraphError;
use crate::request::ApiRequest;
use crate::state::State;

/// `GET /{id}`.
pub(super) fn read(st: &mut State, req: &ApiRequest, caller: &Caller) -> Answer {
    let id = object_id(req);
    if let Some(su) = st.system_users.get(id) {
        if !caller.member_of(st, &su.business_id) {
            return Err(GraphError::invalid_user_id());
        }
        let fields = fields(req, NODE_FIELDS, &["id", "name"], "SystemUser")?;
        return Ok(render(su, &fields));
    }
    if let Some(business) = st.businesses.get(id) {
        if !caller.member_of(st, id) {
            return Err(GraphError::unsupported("GET", Some(id)));
        }
        let fields = fields(req, &["id", "name"], &["id", "name"], "Business")?;
        return Ok(simple(&fields, &business.id, &business.name));
    }
    if let Some(app) = st.apps.get(id) {
        let fields = fields(req, &["id", "name"], &["id", "name"], "Application")?;
        return Ok(simple(&fields, &app.id, &app.name));
    }
    Err(GraphError::invalid_user_id())
}

fn simple(fields: &[String], id: &str, name: &str) -> Value {
    let mut out = Map::new();
    for field in fields {
        let value = if field == "id" { id } else { name };
        out.insert(field.clone(), json!(value));
    }
    Value::Object(out)
}
