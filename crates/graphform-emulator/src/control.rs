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
use axum::routing::{MethodRouter, get, post};
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
use crate::state::{Kill, Liveness, State};
use crate::summary::WorldSummary;

type SharedState = AxumState<Arc<Shared>>;

/// The control routes, to be nested under `/_emulator`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/health", get(health))
        .route("/clock", show(clock_json).post(set_clock))
        .route(
            "/faults",
            resource(faults_json, clear_faults).post(set_faults),
        )
        .route(
            "/faults/next",
            resource(next_json, clear_next).post(push_next_fault),
        )
        .route(
            "/throttle",
            resource(faults_json, |st| st.faults.clear_throttle()).post(set_throttle),
        )
        .route(
            "/quirks",
            resource(quirks_json, |st| st.quirks = Quirks::default()).post(set_quirks),
        )
        .route("/drift/revoke", post(post_drift_revoke))
        .route("/drift/uninstall", post(post_drift_uninstall))
        .route("/drift/invalidate", post(post_drift_invalidate))
        .route("/drift/rename", post(post_drift_rename))
        .route("/state", show(|st| json!(StateSnapshot::of(st))))
        .route("/counters", show(counters_json))
        .route("/counters/reset", post(reset_counters))
        .route("/credentials", get(credentials))
        .fallback(not_found)
}

/// A route whose `GET` answers `view` of the state.
fn show(view: fn(&State) -> Value) -> MethodRouter<Arc<Shared>> {
    get(move |AxumState(shared): SharedState| async move { ok(view(&shared.lock())) })
}

/// A control resource: `GET` answers `view` of the state, `DELETE` runs
/// `reset` first. Its `POST` is the caller's to add.
fn resource(view: fn(&State) -> Value, reset: fn(&mut State)) -> MethodRouter<Arc<Shared>> {
    show(view)
        .delete(move |AxumState(shared): SharedState| async move { change(&shared, reset, view) })
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

fn faults_json(st: &State) -> Value {
    json!({
        "faults": st.faults.config,
        "throttle": st.faults.throttle,
        "app_usage": st.faults.app_usage,
        "business_use_case_usage": st.faults.business_use_case_usage,
        "next": st.faults.next.list(),
    })
}

fn next_json(st: &State) -> Value {
    json!({ "next": st.faults.next.list() })
}

fn quirks_json(st: &State) -> Value {
    json!(st.quirks)
}

fn counters_json(st: &State) -> Value {
    json!(st.counters)
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

/// The answer to an operation: `body` of what it returned, or its refusal.
fn answer<T>(result: Result<T, Error>, body: impl FnOnce(T) -> Value) -> Response {
    match result {
        Ok(value) => ok(body(value)),
        Err(e) => refused(&e),
    }
}

/// Runs `operation` under one lock, then answers `view` of the state it
/// left, or its refusal.
fn try_change(
    shared: &Shared,
    operation: impl FnOnce(&mut State) -> Result<(), Error>,
    view: fn(&State) -> Value,
) -> Response {
    let mut st = shared.lock();
    let result = operation(&mut st);
    answer(result, |()| view(&st))
}

/// [`try_change`] for an operation that cannot be refused.
fn change(
    shared: &Shared,
    operation: impl FnOnce(&mut State),
    view: fn(&State) -> Value,
) -> Response {
    try_change(
        shared,
        |st| {
            operation(st);
            Ok(())
        },
        view,
    )
}

fn invalid(message: String) -> Error {
    Error::InvalidControl { message }
}

// --- The operations, shared by the routes and `Emulator`'s methods. ---

/// `POST /_emulator/faults`: replaces the random faults and reseeds.
pub(crate) fn configure_faults(st: &mut State, config: FaultConfig) -> Result<(), Error> {
    st.faults.configure(config).map_err(invalid)?;
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
        .map_err(invalid)?;
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
    let doomed = st.tokens_of(system_user_id, app_id);
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
        return Err(invalid("name must not be empty".to_owned()));
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
    try_change(&shared, |st| move_clock(st, &request), clock_json)
}

/// Moves the clock by `advance_seconds` or to `set`, whichever is given.
fn move_clock(st: &mut State, request: &ClockRequest) -> Result<(), Error> {
    match (request.advance_seconds, request.set) {
        (Some(seconds), None) => st.clock.advance(seconds),
        (None, Some(unix)) => st.clock.set(unix),
        _ => {
            let message = "give exactly one of advance_seconds and set";
            return Err(invalid(message.to_owned()));
        }
    }
    tracing::info!(now = st.now(), "emulator clock moved");
    Ok(())
}

async fn set_faults(
    AxumState(shared): SharedState,
    JsonBody(config): JsonBody<FaultConfig>,
) -> Response {
    try_change(&shared, |st| configure_faults(st, config), faults_json)
}

async fn push_next_fault(
    AxumState(shared): SharedState,
    JsonBody(request): JsonBody<NextFaultRequest>,
) -> Response {
    let operation = |st: &mut State| {
        let (endpoint, fault, count) = request.into_parts().map_err(invalid)?;
        inject_next(st, &endpoint, fault, count)
    };
    try_change(&shared, operation, next_json)
}

async fn set_throttle(
    AxumState(shared): SharedState,
    JsonBody(config): JsonBody<ThrottleConfig>,
) -> Response {
    let operation = |st: &mut State| {
        st.faults.throttle(config).map_err(invalid)?;
        tracing::info!(throttle = ?st.faults.throttle, "throttle configured");
        Ok(())
    };
    try_change(&shared, operation, faults_json)
}

async fn set_quirks(
    AxumState(shared): SharedState,
    JsonBody(quirks): JsonBody<Quirks>,
) -> Response {
    let operation = |st: &mut State| {
        st.quirks = quirks;
        tracing::info!(quirks = ?st.quirks, "quirks configured");
    };
    change(&shared, operation, quirks_json)
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
    let revoked = drift_revoke(&mut shared.lock(), &request.fingerprint);
    answer(
        revoked,
        |()| json!({ "success": true, "fingerprint": request.fingerprint }),
    )
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
    let killed = drift_uninstall(&mut shared.lock(), &request.system_user_id, &request.app_id);
    answer(killed, tokens_killed)
}

/// The answer of a drift that killed tokens.
fn tokens_killed(killed: usize) -> Value {
    json!({ "success": true, "tokens_killed": killed })
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
    let killed = drift_invalidate(&mut shared.lock(), &request.system_user_id);
    answer(killed, tokens_killed)
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
    let renamed = drift_rename(&mut shared.lock(), &request.system_user_id, &request.name);
    answer(renamed, |previous| {
        json!({
            "success": true,
            "system_user_id": request.system_user_id,
            "name": request.name,
            "previous_name": previous,
        })
    })
}

async fn reset_counters(AxumState(shared): SharedState) -> Response {
    change(
        &shared,
        |st| st.counters = Counters::default(),
        counters_json,
    )
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
