//! Batch requests (graph-api.md §8): `POST /` with `batch=[…]`, at most 50
//! operations run in order, each counted as an API call, answered as
//! `[{"code","headers","body":"<JSON string>"}]` with `null` for operations
//! that did not complete (or whose response is omitted), per-item errors,
//! `depends_on` and `{result=name:$.path}` references.

use std::collections::BTreeSet;

use axum::http::Method;
use serde_json::{Value, json};

use super::{Endpoint, api_call};
use crate::auth::authenticate_token;
use crate::graph_error::GraphError;
use crate::request::{ApiRequest, ApiResponse};
use crate::state::State;

/// The most operations one batch may hold.
pub(crate) const MAX_OPERATIONS: usize = 50;

/// One parsed operation.
struct Operation {
    method: Method,
    relative_url: String,
    body: String,
    name: Option<String>,
    depends_on: Option<String>,
    omit_response_on_success: Option<bool>,
    access_token: Option<String>,
}

/// What an earlier operation produced, for references.
enum Outcome {
    Succeeded(Value),
    Failed,
}

/// Runs a batch request.
pub(crate) fn execute(st: &mut State, req: &ApiRequest) -> ApiResponse {
    match prepare(st, req) {
        Ok((operations, include_headers)) => run(st, req, &operations, include_headers),
        Err(error) => {
            st.counters.count_call(Endpoint::Batch);
            let trace = st.fbtrace_id();
            tracing::debug!(code = error.code, "batch refused");
            ApiResponse::error(&error, &trace)
        }
    }
}

/// Top-level checks: the `batch` array, its size, the operations' shape,
/// the top-level token.
fn prepare(st: &State, req: &ApiRequest) -> Result<(Vec<Operation>, bool), GraphError> {
    let raw = req.params.required("batch")?;
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return Err(GraphError::param(
            "The parameter batch must be a JSON array",
        ));
    };
    if items.len() > MAX_OPERATIONS {
        return Err(GraphError::batch_too_large());
    }
    if items.is_empty() {
        return Err(GraphError::param("The parameter batch must not be empty"));
    }
    let operations = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_operation(i, item))
        .collect::<Result<Vec<_>, _>>()?;
    if req.token().is_some() {
        authenticate_token(st, req.token(), &req.params)?;
    }
    let include_headers = req.params.bool("include_headers")?.unwrap_or(true);
    Ok((operations, include_headers))
}

fn parse_operation(index: usize, item: &Value) -> Result<Operation, GraphError> {
    let shape = || {
        GraphError::param(format!(
            "batch[{index}] must be an object with a method and a relative_url"
        ))
    };
    let text = |key: &str| -> Result<Option<String>, GraphError> {
        match item.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(GraphError::param(format!(
                "batch[{index}].{key} must be a string"
            ))),
        }
    };
    if !item.is_object() {
        return Err(shape());
    }
    let method = text("method")?.ok_or_else(shape)?;
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| shape())?;
    let relative_url = text("relative_url")?.ok_or_else(shape)?;
    let omit_response_on_success = match item.get("omit_response_on_success") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "true" || s == "1" => Some(true),
        Some(Value::String(s)) if s == "false" || s == "0" => Some(false),
        Some(_) => {
            return Err(GraphError::param(format!(
                "batch[{index}].omit_response_on_success must be a boolean"
            )));
        }
    };
    Ok(Operation {
        method,
        relative_url,
        body: text("body")?.unwrap_or_default(),
        name: text("name")?,
        depends_on: text("depends_on")?,
        omit_response_on_success,
        access_token: text("access_token")?,
    })
}

fn run(
    st: &mut State,
    req: &ApiRequest,
    operations: &[Operation],
    include_headers: bool,
) -> ApiResponse {
    let referenced: BTreeSet<String> = operations
        .iter()
        .flat_map(|op| {
            let mut names = references(&op.relative_url);
            names.extend(references(&op.body));
            names.extend(op.depends_on.clone());
            names
        })
        .collect();
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(operations.len());
    let mut results = Vec::with_capacity(operations.len());
    for op in operations {
        let (outcome, result) = run_one(st, req, op, operations, &outcomes, include_headers);
        let omit = op
            .omit_response_on_success
            .unwrap_or_else(|| op.name.as_ref().is_some_and(|n| referenced.contains(n)));
        let shown = match (&outcome, omit) {
            (Some(Outcome::Succeeded(_)), true) => Value::Null,
            _ => result,
        };
        outcomes.push(outcome);
        results.push(shown);
    }
    tracing::debug!(operations = operations.len(), "batch executed");
    ApiResponse::ok(Value::Array(results))
}

/// Runs one operation; returns its outcome (`None` = did not complete) and
/// its result entry.
fn run_one(
    st: &mut State,
    req: &ApiRequest,
    op: &Operation,
    operations: &[Operation],
    outcomes: &[Option<Outcome>],
    include_headers: bool,
) -> (Option<Outcome>, Value) {
    let prepared = substitute(op, operations, outcomes).and_then(|(url, body)| {
        ApiRequest::parse(op.method.clone(), &slash(&url), body.as_bytes(), None, None)
    });
    let mut op_req = match prepared {
        Ok(op_req) => op_req,
        Err(error) => {
            let url = slash(&op.relative_url);
            let endpoint = ApiRequest::parse(op.method.clone(), &url, b"", None, None)
                .map_or(Endpoint::Unsupported, |r| {
                    Endpoint::classify(&r.method, &r.path)
                });
            st.counters.count_call(endpoint);
            let trace = st.fbtrace_id();
            let response = ApiResponse::error(&error, &trace);
            return (Some(Outcome::Failed), item(&response, include_headers));
        }
    };
    let endpoint = Endpoint::classify(&op_req.method, &op_req.path);
    if st.faults.roll_batch_null(endpoint) {
        st.counters.count_call(endpoint);
        st.counters.count_fault(endpoint, "batch_null");
        return (None, Value::Null);
    }
    inherit_token(&mut op_req, op, req);
    // An operation without a version prefix runs at the batch's version.
    if op_req.version.is_none() {
        op_req.version.clone_from(&req.version);
    }
    // The endpoint name, never the path: `{result=…}` may have put a
    // token into it.
    tracing::trace!(
        method = %op_req.method,
        endpoint = endpoint.name(),
        params = ?op_req.params,
        "batch operation"
    );
    let response = api_call(st, &op_req);
    let outcome = if response.error.is_none() {
        Outcome::Succeeded(response.body.clone())
    } else {
        Outcome::Failed
    };
    (Some(outcome), item(&response, include_headers))
}

/// A relative URL with a leading slash.
fn slash(url: &str) -> String {
    if url.starts_with('/') {
        url.to_owned()
    } else {
        format!("/{url}")
    }
}

/// Gives an operation without its own token the batch's token and proof.
fn inherit_token(op_req: &mut ApiRequest, op: &Operation, req: &ApiRequest) {
    if op_req.params.get("access_token").is_some() {
        return;
    }
    if let Some(token) = &op.access_token {
        op_req.params.insert("access_token", token.clone());
        return;
    }
    if let Some(token) = req.token() {
        op_req.params.insert("access_token", token);
        for key in ["appsecret_proof", "appsecret_time"] {
            match req.params.get(key) {
                Some(value) if !op_req.params.contains(key) => op_req.params.insert(key, value),
                _ => {}
            }
        }
    }
}

/// One result entry: `{"code","headers","body"}`.
fn item(response: &ApiResponse, include_headers: bool) -> Value {
    let mut entry = json!({
        "code": response.status,
        "body": response.body.to_string(),
    });
    if include_headers {
        let mut headers = vec![
            json!({ "name": "Content-Type", "value": "text/javascript; charset=UTF-8" }),
            json!({ "name": "Cache-Control", "value": "private, no-cache, no-store, must-revalidate" }),
        ];
        for (name, value) in &response.headers {
            headers.push(json!({ "name": title_case(name), "value": value }));
        }
        entry["headers"] = Value::Array(headers);
    }
    entry
}

/// `x-app-usage` → `X-App-Usage`.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The names a text references with `{result=name:…}`.
fn references(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{result=") {
        let after = &rest[start + "{result=".len()..];
        if let Some(colon) = after.find(':') {
            names.push(after[..colon].to_owned());
        }
        rest = after;
    }
    names
}

/// Checks `depends_on` and replaces each `{result=name:$.path}` in the
/// operation's URL and body with the referenced result's values, joined by
/// commas.
fn substitute(
    op: &Operation,
    operations: &[Operation],
    outcomes: &[Option<Outcome>],
) -> Result<(String, String), GraphError> {
    let earlier = |name: &str| -> Result<&Value, GraphError> {
        let index = operations[..outcomes.len()]
            .iter()
            .position(|o| o.name.as_deref() == Some(name))
            .ok_or_else(|| {
                GraphError::param(format!(
                    "No earlier operation in this batch is named {name}"
                ))
            })?;
        match &outcomes[index] {
            Some(Outcome::Succeeded(body)) => Ok(body),
            _ => Err(GraphError::batch_dependency_failed(name)),
        }
    };
    if let Some(name) = &op.depends_on {
        earlier(name)?;
    }
    let replace = |text: &str| -> Result<String, GraphError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{result=") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "{result=".len()..];
            let end = after
                .find('}')
                .ok_or_else(|| GraphError::param("Unterminated {result=…} reference"))?;
            let (name, path) = after[..end]
                .split_once(':')
                .ok_or_else(|| GraphError::param("A {result=…} reference needs name:$.path"))?;
            let values = json_path(earlier(name)?, path)?;
            if values.is_empty() {
                return Err(GraphError::param(format!(
                    "The JSONPath {path} matched nothing in the result of {name}"
                )));
            }
            out.push_str(&values.join(","));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    };
    Ok((replace(&op.relative_url)?, replace(&op.body)?))
}

/// A small `JSONPath`: `$`, `.name`, `[N]`, `.N`, `.*`, `[*]`. Scalars are
/// returned as text (strings without quotes).
fn json_path(root: &Value, path: &str) -> Result<Vec<String>, GraphError> {
    let bad = || GraphError::param(format!("Unsupported JSONPath {path}"));
    let rest = path.strip_prefix('$').ok_or_else(bad)?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        let mut step = String::new();
        match c {
            '.' => {
                while let Some(&next) = chars.peek() {
                    if next == '.' || next == '[' {
                        break;
                    }
                    step.push(next);
                    chars.next();
                }
            }
            '[' => {
                for next in chars.by_ref() {
                    if next == ']' {
                        break;
                    }
                    step.push(next);
                }
                step = step.trim_matches(|c| c == '\'' || c == '"').to_string();
            }
            _ => return Err(bad()),
        }
        if step.is_empty() {
            return Err(bad());
        }
        steps.push(step);
    }
    let mut current = vec![root];
    for step in &steps {
        current = current
            .into_iter()
            .flat_map(|value| -> Vec<&Value> {
                match (step.as_str(), value) {
                    ("*", Value::Array(items)) => items.iter().collect(),
                    ("*", Value::Object(members)) => members.values().collect(),
                    (key, Value::Array(items)) => key
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| items.get(i))
                        .into_iter()
                        .collect(),
                    (key, Value::Object(members)) => members.get(key).into_iter().collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    Ok(current
        .into_iter()
        .map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_subset() {
        let body = json!({"id": "7", "data": [{"id": "1"}, {"id": "2"}], "n": 3});
        assert_eq!(json_path(&body, "$.id").unwrap(), ["7"]);
        assert_eq!(json_path(&body, "$.data[1].id").unwrap(), ["2"]);
        assert_eq!(json_path(&body, "$.data.0.id").unwrap(), ["1"]);
        assert_eq!(json_path(&body, "$.data.*.id").unwrap(), ["1", "2"]);
        assert_eq!(json_path(&body, "$.data[*].id").unwrap(), ["1", "2"]);
        assert_eq!(json_path(&body, "$.n").unwrap(), ["3"]);
        assert!(json_path(&body, "$.missing").unwrap().is_empty());
        assert!(json_path(&body, "id").is_err());
    }

    #[test]
    fn references_are_found() {
        assert_eq!(
            references("/{result=a:$.id}/x?y={result=b:$.data.*.id}"),
            ["a", "b"]
        );
    }

    #[test]
    fn header_names_are_title_cased() {
        assert_eq!(
            title_case("x-business-use-case-usage"),
            "X-Business-Use-Case-Usage"
        );
    }
}
