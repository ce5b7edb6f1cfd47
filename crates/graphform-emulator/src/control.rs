//! The control API under `/_emulator/` (documented in docs/emulator.md):
//! clock, faults, throttling, quirks, drift, inspection and counters. It is JSON in
//! and out; errors are `{"error": "…"}` with status 400 or 404.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::faults::{FaultConfig, ThrottleConfig};
use crate::quirks::Quirks;
use crate::server::Shared;
use crate::state::{Kill, Origin, State, Subject};
use crate::summary::WorldSummary;

type SharedState = AxumState<Arc<Shared>>;

/// The control routes, to be nested under `/_emulator`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/health", get(health))
        .route("/clock", get(clock).post(set_clock))
        .route("/faults", get(faults).post(set_faults).delete(clear_faults))
        .route(
            "/throttle",
            get(faults).post(set_throttle).delete(clear_throttle),
        )
        .route("/quirks", get(quirks).post(set_quirks).delete(clear_quirks))
        .route("/drift/revoke", post(drift_revoke))
        .route("/drift/uninstall", post(drift_uninstall))
        .route("/state", get(state))
        .route("/counters", get(counters))
        .route("/counters/reset", post(reset_counters))
        .route("/credentials", get(credentials))
        .fallback(not_found)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn ok(value: Value) -> Response {
    axum::Json(value).into_response()
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}"),
        ))
    })
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such control route; see docs/emulator.md",
    )
}

async fn health() -> Response {
    ok(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

fn clock_json(st: &State) -> Value {
    json!({ "now": st.now(), "ticking": st.clock.is_ticking() })
}

async fn clock(AxumState(shared): SharedState) -> Response {
    ok(clock_json(&shared.lock()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    #[serde(default)]
    advance_seconds: Option<i64>,
    #[serde(default)]
    set: Option<i64>,
}

async fn set_clock(AxumState(shared): SharedState, body: Bytes) -> Response {
    let request: ClockRequest = match parse(&body) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let mut st = shared.lock();
    match (request.advance_seconds, request.set) {
        (Some(seconds), None) => st.clock.advance(seconds),
        (None, Some(unix)) => st.clock.set(unix),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give exactly one of advance_seconds and set",
            );
        }
    }
    tracing::info!(now = st.now(), "emulator clock moved");
    ok(clock_json(&st))
}

fn faults_json(st: &State) -> Value {
    json!({
        "faults": st.faults.config,
        "throttle": st.faults.throttle,
        "app_usage": st.faults.app_usage,
        "business_use_case_usage": st.faults.business_use_case_usage,
    })
}

async fn faults(AxumState(shared): SharedState) -> Response {
    ok(faults_json(&shared.lock()))
}

async fn set_faults(AxumState(shared): SharedState, body: Bytes) -> Response {
    let config: FaultConfig = match parse(&body) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let mut st = shared.lock();
    if let Err(message) = st.faults.configure(config) {
        return error(StatusCode::BAD_REQUEST, message);
    }
    tracing::info!(faults = ?st.faults.config, "faults configured");
    ok(faults_json(&st))
}

async fn clear_faults(AxumState(shared): SharedState) -> Response {
    let mut st = shared.lock();
    st.faults.clear();
    ok(faults_json(&st))
}

async fn set_throttle(AxumState(shared): SharedState, body: Bytes) -> Response {
    let config: ThrottleConfig = match parse(&body) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let mut st = shared.lock();
    if let Err(message) = st.faults.throttle(config) {
        return error(StatusCode::BAD_REQUEST, message);
    }
    tracing::info!(throttle = ?st.faults.throttle, "throttle configured");
    ok(faults_json(&st))
}

async fn clear_throttle(AxumState(shared): SharedState) -> Response {
    let mut st = shared.lock();
    st.faults.clear_throttle();
    ok(faults_json(&st))
}

async fn quirks(AxumState(shared): SharedState) -> Response {
    ok(json!(shared.lock().quirks))
}

async fn set_quirks(AxumState(shared): SharedState, body: Bytes) -> Response {
    let quirks: Quirks = match parse(&body) {
        Ok(q) => q,
        Err(response) => return *response,
    };
    let mut st = shared.lock();
    st.quirks = quirks;
    tracing::info!(quirks = ?st.quirks, "quirks configured");
    ok(json!(st.quirks))
}

async fn clear_quirks(AxumState(shared): SharedState) -> Response {
    let mut st = shared.lock();
    st.quirks = Quirks::default();
    ok(json!(st.quirks))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    fingerprint: String,
}

async fn drift_revoke(AxumState(shared): SharedState, body: Bytes) -> Response {
    let request: RevokeRequest = match parse(&body) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let mut st = shared.lock();
    let Some(index) = st.find_fingerprint(&request.fingerprint) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no token has fingerprint {}", request.fingerprint),
        );
    };
    st.kill(index, Kill::RevokedOutOfBand);
    tracing::info!(token = %request.fingerprint, "token revoked out of band");
    ok(json!({ "success": true, "fingerprint": request.fingerprint }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UninstallRequest {
    system_user_id: String,
    app_id: String,
}

async fn drift_uninstall(AxumState(shared): SharedState, body: Bytes) -> Response {
    let request: UninstallRequest = match parse(&body) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let mut st = shared.lock();
    let key = (request.system_user_id.clone(), request.app_id.clone());
    if !st.installs.remove(&key) {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "app {} is not installed for system user {}",
                request.app_id, request.system_user_id
            ),
        );
    }
    let subject = Subject::SystemUser(request.system_user_id.clone());
    let doomed: Vec<usize> = st
        .tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.subject == subject && t.app_id == request.app_id)
        .map(|(i, _)| i)
        .collect();
    let before = doomed
        .iter()
        .filter(|i| st.tokens[**i].killed.is_none())
        .count();
    for index in &doomed {
        st.kill(*index, Kill::AppUninstalled);
    }
    tracing::info!(
        system_user = %request.system_user_id,
        app = %request.app_id,
        tokens = before,
        "app uninstalled out of band"
    );
    ok(json!({ "success": true, "tokens_killed": before }))
}

async fn state(AxumState(shared): SharedState) -> Response {
    ok(state_json(&shared.lock()))
}

/// Everything the emulator holds, secrets excepted: tokens appear by
/// fingerprint only, apps without their secret.
fn state_json(st: &State) -> Value {
    let now = st.now();
    let businesses: Vec<Value> = st
        .businesses
        .values()
        .map(|b| {
            json!({
                "id": b.id,
                "name": b.name,
                "requires_expiring_tokens": b.requires_expiring_tokens,
                "system_user_ids": b.system_users,
            })
        })
        .collect();
    let apps: Vec<Value> = st
        .apps
        .values()
        .map(|a| {
            json!({
                "id": a.id,
                "name": a.name,
                "business_id": a.business_id,
                "access_level": a.access_level,
                "require_appsecret_proof": a.require_appsecret_proof,
            })
        })
        .collect();
    let system_users: Vec<Value> = st
        .system_users
        .values()
        .map(|su| {
            json!({
                "id": su.id,
                "name": su.name,
                "business_id": su.business_id,
                "role": su.role,
                "created_time": su.created_time,
                "created_by": su.created_by.as_ref().map(|(id, _)| id),
            })
        })
        .collect();
    let admin_users: Vec<Value> = st
        .admin_users
        .values()
        .map(|u| json!({ "id": u.id, "name": u.name, "businesses": u.businesses }))
        .collect();
    let installs: Vec<Value> = st
        .installs
        .iter()
        .map(|(su, app)| json!({ "system_user_id": su, "app_id": app }))
        .collect();
    let mut tokens = Map::new();
    for token in &st.tokens {
        let liveness = token.liveness(now);
        let mut entry = json!({
            "type": token.subject.token_type(),
            "app_id": token.app_id,
            "scopes": token.scopes,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
            "valid": liveness == crate::state::Liveness::Valid,
            "status": liveness.as_str(),
            "why": token.why(now),
        });
        match &token.subject {
            Subject::SystemUser(id) => entry["system_user_id"] = json!(id),
            Subject::AdminUser(id) => entry["user_id"] = json!(id),
        }
        let (origin, from) = match &token.origin {
            Origin::World => ("world", None),
            Origin::Issued => ("issued", None),
            Origin::Refreshed(from) => ("refreshed", Some(from.as_str())),
        };
        entry["origin"] = json!(origin);
        entry["refreshed_from"] = json!(from);
        tokens.insert(token.fingerprint.as_str().to_owned(), entry);
    }
    json!({
        "now": now,
        "businesses": businesses,
        "apps": apps,
        "system_users": system_users,
        "admin_users": admin_users,
        "installs": installs,
        "tokens": tokens,
    })
}

async fn counters(AxumState(shared): SharedState) -> Response {
    ok(json!(shared.lock().counters))
}

async fn reset_counters(AxumState(shared): SharedState) -> Response {
    let mut st = shared.lock();
    st.counters = crate::counters::Counters::default();
    ok(json!(st.counters))
}

/// The world's credentials, for scripts that start `graphform emulator`
/// and need its (emulated) admin tokens and app secrets.
async fn credentials(AxumState(shared): SharedState) -> Response {
    let summary = WorldSummary::of(&shared.lock());
    let businesses: Vec<Value> = summary
        .businesses
        .iter()
        .map(|b| {
            json!({
                "id": b.id,
                "name": b.name,
                "apps": b.apps.iter().map(|a| json!({
                    "id": a.id,
                    "name": a.name,
                    "secret": a.secret.expose(),
                    "secret_env": a.secret_env,
                })).collect::<Vec<_>>(),
                "admin_tokens": b.admin_tokens.iter().map(|t| json!({
                    "subject_id": t.subject_id,
                    "app_id": t.app_id,
                    "token": t.token.expose(),
                    "token_env": t.token_env,
                    "fingerprint": t.token.fingerprint(),
                    "expires_at": t.expires_at,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let env: Map<String, Value> = summary
        .env_vars()
        .into_iter()
        .map(|(name, value)| (name, json!(value.expose())))
        .collect();
    ok(json!({ "base_url": summary.base_url, "businesses": businesses, "env": env }))
}
