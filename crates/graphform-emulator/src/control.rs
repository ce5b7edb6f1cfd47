//! The control API under `/_emulator/` (documented in docs/emulator.md):
//! clock, faults (random and queued), throttling, quirks, drift, inspection
//! and counters. It is JSON in and out; errors are `{"error": "…"}` with
//! status 400 or 404. The operations that [`crate::Emulator`]'s methods
//! also offer are functions on the state here, shared by both.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::counters::Counters;
use crate::error::Error;
use crate::faults::{FaultConfig, ThrottleConfig};
use crate::inspect::StateSnapshot;
use crate::network::{NetworkFault, NextFaultRequest};
use crate::quirks::Quirks;
use crate::server::Shared;
use crate::state::{Kill, Liveness, State, Subject};
use crate::summary::WorldSummary;

type SharedState = AxumState<Arc<Shared>>;

/// The control routes, to be nested under `/_emulator`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/health", get(health))
        .route("/clock", get(clock).post(set_clock))
        .route(
            "/faults",
            get(faults).post(set_faults).delete(delete_faults),
        )
        .route(
            "/faults/next",
            get(next_faults)
                .post(push_next_fault)
                .delete(delete_next_faults),
        )
        .route(
            "/throttle",
            get(faults).post(set_throttle).delete(clear_throttle),
        )
        .route("/quirks", get(quirks).post(set_quirks).delete(clear_quirks))
        .route("/drift/revoke", post(post_drift_revoke))
        .route("/drift/uninstall", post(post_drift_uninstall))
        .route("/drift/invalidate", post(post_drift_invalidate))
        .route("/drift/rename", post(post_drift_rename))
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

/// A control request's JSON body; an empty body is `{}`. A body that does
/// not parse is answered 400 before the handler runs.
struct JsonBody<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
        serde_json::from_slice(body).map(JsonBody).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("invalid request body: {e}"),
            )
        })
    }
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

async fn set_clock(
    AxumState(shared): SharedState,
    JsonBody(request): JsonBody<ClockRequest>,
) -> Response {
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
        "next": st.faults.next.list(),
    })
}

/// A refused control request as an HTTP answer: 404 for something
/// missing, else 400.
fn refused(e: &Error) -> Response {
    let status = match e {
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    let message = match e {
        Error::NotFound { message } | Error::InvalidControl { message } => message.clone(),
        other => other.to_string(),
    };
    error(status, message)
}

// --- The operations, shared by the routes and `Emulator`'s methods. ---

/// `POST /_emulator/faults`: replaces the random faults and reseeds.
pub(crate) fn configure_faults(st: &mut State, config: FaultConfig) -> Result<(), Error> {
    st.faults
        .configure(config)
        .map_err(|message| Error::InvalidControl { message })?;
    tracing::info!(faults = ?st.faults.config, "faults configured");
    Ok(())
}

/// `DELETE /_emulator/faults`: every random fault off, the queue emptied.
pub(crate) fn clear_faults(st: &mut State) {
    st.faults.clear();
    tracing::info!("faults cleared");
}

/// `POST /_emulator/faults/next`: queues `fault` for the next `count`
/// requests of `endpoint`.
pub(crate) fn inject_next(
    st: &mut State,
    endpoint: &str,
    fault: NetworkFault,
    count: u32,
) -> Result<(), Error> {
    let kind = fault.kind();
    st.faults
        .next
        .push(endpoint, fault, count)
        .map_err(|message| Error::InvalidControl { message })?;
    tracing::info!(endpoint, fault = kind, count, "network fault queued");
    Ok(())
}

/// `DELETE /_emulator/faults/next`.
pub(crate) fn clear_next(st: &mut State) {
    st.faults.next.clear();
    tracing::info!("queued network faults cleared");
}

/// `POST /_emulator/drift/revoke`: the token dies with 467.
pub(crate) fn drift_revoke(st: &mut State, fingerprint: &str) -> Result<(), Error> {
    let index = st
        .find_fingerprint(fingerprint)
        .ok_or_else(|| Error::NotFound {
            message: format!("no token has fingerprint {fingerprint}"),
        })?;
    st.kill(index, Kill::RevokedOutOfBand);
    tracing::info!(token = %fingerprint, "token revoked out of band");
    Ok(())
}

/// Kills every token of a system user (of one app, if given) and returns
/// how many were alive.
fn kill_tokens_of(st: &mut State, system_user_id: &str, app_id: Option<&str>, how: Kill) -> usize {
    let now = st.now();
    let subject = Subject::SystemUser(system_user_id.to_owned());
    let doomed: Vec<usize> = st
        .tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.subject == subject && app_id.is_none_or(|app| t.app_id == app))
        .map(|(i, _)| i)
        .collect();
    let alive = doomed
        .iter()
        .filter(|i| st.tokens[**i].liveness(now) == Liveness::Valid)
        .count();
    for index in doomed {
        st.kill(index, how);
    }
    alive
}

/// `POST /_emulator/drift/uninstall`: the app is uninstalled and its
/// tokens for the system user die with 458. Returns how many were alive.
pub(crate) fn drift_uninstall(
    st: &mut State,
    system_user_id: &str,
    app_id: &str,
) -> Result<usize, Error> {
    let key = (system_user_id.to_owned(), app_id.to_owned());
    if !st.installs.remove(&key) {
        return Err(Error::NotFound {
            message: format!("app {app_id} is not installed for system user {system_user_id}"),
        });
    }
    let killed = kill_tokens_of(st, system_user_id, Some(app_id), Kill::AppUninstalled);
    tracing::info!(
        system_user = %system_user_id,
        app = %app_id,
        tokens = killed,
        "app uninstalled out of band"
    );
    Ok(killed)
}

/// `POST /_emulator/drift/invalidate`: every token of the system user
/// dies with 460. Returns how many were alive.
pub(crate) fn drift_invalidate(st: &mut State, system_user_id: &str) -> Result<usize, Error> {
    if !st.system_users.contains_key(system_user_id) {
        return Err(Error::NotFound {
            message: format!("no system user {system_user_id}"),
        });
    }
    let killed = kill_tokens_of(st, system_user_id, None, Kill::InvalidatedOutOfBand);
    tracing::info!(
        system_user = %system_user_id,
        tokens = killed,
        "tokens invalidated out of band"
    );
    Ok(killed)
}

/// `POST /_emulator/drift/rename`: the system user gets a new name.
/// Returns the previous one.
pub(crate) fn drift_rename(
    st: &mut State,
    system_user_id: &str,
    name: &str,
) -> Result<String, Error> {
    if name.trim().is_empty() {
        return Err(Error::InvalidControl {
            message: "name must not be empty".to_owned(),
        });
    }
    let su = st
        .system_users
        .get_mut(system_user_id)
        .ok_or_else(|| Error::NotFound {
            message: format!("no system user {system_user_id}"),
        })?;
    let previous = std::mem::replace(&mut su.name, name.to_owned());
    tracing::info!(
        system_user = %system_user_id,
        from = %previous,
        to = %name,
        "system user renamed out of band"
    );
    Ok(previous)
}

// --- The routes. ---

async fn faults(AxumState(shared): SharedState) -> Response {
    ok(faults_json(&shared.lock()))
}

async fn set_faults(
    AxumState(shared): SharedState,
    JsonBody(config): JsonBody<FaultConfig>,
) -> Response {
    let mut st = shared.lock();
    match configure_faults(&mut st, config) {
        Ok(()) => ok(faults_json(&st)),
        Err(e) => refused(&e),
    }
}

async fn delete_faults(AxumState(shared): SharedState) -> Response {
    let mut st = shared.lock();
    clear_faults(&mut st);
    ok(faults_json(&st))
}

fn next_json(st: &State) -> Value {
    json!({ "next": st.faults.next.list() })
}

async fn next_faults(AxumState(shared): SharedState) -> Response {
    ok(next_json(&shared.lock()))
}

async fn push_next_fault(
    AxumState(shared): SharedState,
    JsonBody(request): JsonBody<NextFaultRequest>,
) -> Response {
    let (endpoint, fault, count) = match request.into_parts() {
        Ok(parts) => parts,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let mut st = shared.lock();
    match inject_next(&mut st, &endpoint, fault, count) {
        Ok(()) => ok(next_json(&st)),
        Err(e) => refused(&e),
    }
}

async fn delete_next_faults(AxumState(shared): SharedState) -> Response {
    let mut st = shared.lock();
    clear_next(&mut st);
    ok(next_json(&st))
}

async fn set_throttle(
    AxumState(shared): SharedState,
    JsonBody(config): JsonBody<ThrottleConfig>,
) -> Response {
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

async fn set_quirks(
    AxumState(shared): SharedState,
    JsonBody(quirks): JsonBody<Quirks>,
) -> Response {
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

async fn post_drift_revoke(
    AxumState(shared): SharedState,
    JsonBody(request): JsonBody<RevokeRequest>,
) -> Response {
    match drift_revoke(&mut shared.lock(), &request.fingerprint) {
        Ok(()) => ok(json!({ "success": true, "fingerprint": request.fingerprint })),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UninstallRequest {
    system_user_id: String,
    app_id: String,
}

async fn post_drift_uninstall(
    AxumState(shared): SharedState,
    JsonBody(request): JsonBody<UninstallRequest>,
) -> Response {
    match drift_uninstall(&mut shared.lock(), &request.system_user_id, &request.app_id) {
        Ok(killed) => ok(json!({ "success": true, "tokens_killed": killed })),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidateRequest {
    system_user_id: String,
}

async fn post_drift_invalidate(
    AxumState(shared): SharedState,
    JsonBody(request): JsonBody<InvalidateRequest>,
) -> Response {
    match drift_invalidate(&mut shared.lock(), &request.system_user_id) {
        Ok(killed) => ok(json!({ "success": true, "tokens_killed": killed })),
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameRequest {
    system_user_id: String,
    name: String,
}

async fn post_drift_rename(
    AxumState(shared): SharedState,
    JsonBody(request): JsonBody<RenameRequest>,
) -> Response {
    match drift_rename(&mut shared.lock(), &request.system_user_id, &request.name) {
        Ok(previous) => ok(json!({
            "success": true,
            "system_user_id": request.system_user_id,
            "name": request.name,
            "previous_name": previous,
        })),
        Err(e) => refused(&e),
    }
}

async fn state(AxumState(shared): SharedState) -> Response {
    ok(json!(StateSnapshot::of(&shared.lock())))
}

async fn counters(AxumState(shared): SharedState) -> Response {
    ok(json!(shared.lock().counters))
}

async fn reset_counters(AxumState(shared): SharedState) -> Response {
    let mut st = shared.lock();
    st.counters = Counters::default();
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
