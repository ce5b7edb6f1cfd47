//! The HTTP server: binding (loopback only), the Graph API entry point that
//! turns HTTP into [`ApiRequest`]s, and the running [`Emulator`] handle.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, State as AxumState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::connection::{Cutter, Listener};
use crate::control;
use crate::counters::Counters;
use crate::error::Error;
use crate::faults::FaultConfig;
use crate::inspect::StateSnapshot;
use crate::network::{Cut, NetworkFault, PendingFault};
use crate::request::{ApiRequest, ApiResponse, header_token};
use crate::routes::{Endpoint, api_call, batch};
use crate::state::State;
use crate::summary::WorldSummary;
use crate::world::World;

/// How long [`Emulator::shutdown`] waits for open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The state shared by every request.
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// Locks the state. A panic while holding the lock cannot leave it
    /// half-updated in a way later calls care about, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running emulator. It stops when dropped or on [`Emulator::shutdown`].
pub struct Emulator {
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator of `world` on `127.0.0.1` and a free port.
    pub async fn start(world: World) -> Result<Emulator, Error> {
        Self::start_on(world, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts an emulator of `world` on `addr` (port 0 = any free port).
    /// Refuses any address that is not loopback.
    pub async fn start_on(world: World, addr: SocketAddr) -> Result<Emulator, Error> {
        if !addr.ip().is_loopback() {
            return Err(Error::NotLoopback { addr });
        }
        world.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let base_url = format!("http://{local}");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::from_world(&world, base_url.clone())),
        });
        let app = Router::new()
            .nest("/_emulator", control::router())
            .fallback(graph)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(
                Listener(listener),
                app.into_make_service_with_connect_info::<Cutter>(),
            )
            .with_graceful_shutdown(async {
                // A dropped sender means the handle is gone: stop too.
                let _ = stopped.await;
            })
            .await
        });
        tracing::info!(%base_url, "graph api emulator listening");
        Ok(Emulator {
            addr: local,
            base_url,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`: no version, no trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The world as it is now: IDs, and the credentials under their
    /// environment-variable names.
    pub fn world_summary(&self) -> WorldSummary {
        WorldSummary::of(&self.shared.lock())
    }

    /// The emulator's clock, Unix seconds (what `GET /_emulator/clock`
    /// answers).
    pub fn now(&self) -> i64 {
        self.shared.lock().now()
    }

    /// Moves the emulator's clock by `seconds` (what `POST /_emulator/clock`
    /// with `advance_seconds` does) and returns the new time.
    pub fn advance_clock(&self, seconds: i64) -> i64 {
        let mut state = self.shared.lock();
        state.clock.advance(seconds);
        tracing::info!(now = state.now(), "emulator clock moved");
        state.now()
    }

    /// Everything the emulator holds, secrets excepted: what
    /// `GET /_emulator/state` answers.
    pub fn inspect(&self) -> StateSnapshot {
        StateSnapshot::of(&self.shared.lock())
    }

    /// The request and fault counters (`GET /_emulator/counters`).
    pub fn counters(&self) -> Counters {
        self.shared.lock().counters.clone()
    }

    /// Zeroes the counters (`POST /_emulator/counters/reset`).
    pub fn reset_counters(&self) {
        self.shared.lock().counters = Counters::default();
    }

    /// Replaces the random faults and reseeds their generator
    /// (`POST /_emulator/faults`); the one-shot queue stays.
    /// [`Error::InvalidControl`] for a rate outside 0..=1, network rates
    /// adding up to more than 1, or a bad custom answer.
    pub fn configure_faults(&self, config: FaultConfig) -> Result<(), Error> {
        control::configure_faults(&mut self.shared.lock(), config)
    }

    /// Switches every random fault off and empties the one-shot queue
    /// (`DELETE /_emulator/faults`); throttles stay.
    pub fn clear_faults(&self) {
        control::clear_faults(&mut self.shared.lock());
    }

    /// Queues `fault` for the next HTTP request of `endpoint`
    /// (`POST /_emulator/faults/next` with `count` 1). `endpoint` is an
    /// endpoint name as in the counters (`GET /oauth/revoke`, `POST /`…)
    /// or `*` for any. [`Error::InvalidControl`] for an unknown endpoint or
    /// a bad status.
    pub fn inject_next(&self, endpoint: &str, fault: NetworkFault) -> Result<(), Error> {
        self.inject_next_times(endpoint, fault, 1)
    }

    /// Queues `fault` for the next `count` HTTP requests of `endpoint`
    /// (`POST /_emulator/faults/next`).
    pub fn inject_next_times(
        &self,
        endpoint: &str,
        fault: NetworkFault,
        count: u32,
    ) -> Result<(), Error> {
        control::inject_next(&mut self.shared.lock(), endpoint, fault, count)
    }

    /// The queued faults not yet used (`GET /_emulator/faults/next`).
    pub fn pending_faults(&self) -> Vec<PendingFault> {
        self.shared.lock().faults.next.list()
    }

    /// Empties the one-shot queue (`DELETE /_emulator/faults/next`).
    pub fn clear_pending_faults(&self) {
        control::clear_next(&mut self.shared.lock());
    }

    /// Revokes a token out of band, by fingerprint (`sha256:…`): it
    /// answers 190/467 from now on (`POST /_emulator/drift/revoke`).
    /// [`Error::NotFound`] for an unknown fingerprint.
    pub fn drift_revoke(&self, fingerprint: &str) -> Result<(), Error> {
        control::drift_revoke(&mut self.shared.lock(), fingerprint)
    }

    /// Uninstalls an app from a system user out of band: its tokens answer
    /// 190/458 (`POST /_emulator/drift/uninstall`). Returns how many valid
    /// tokens died. [`Error::NotFound`] if the app is not installed.
    pub fn drift_uninstall(&self, system_user_id: &str, app_id: &str) -> Result<usize, Error> {
        control::drift_uninstall(&mut self.shared.lock(), system_user_id, app_id)
    }

    /// Invalidates every token of a system user out of band (as if
    /// someone did it in Business Manager): they answer 190/460
    /// (`POST /_emulator/drift/invalidate`). Returns how many valid tokens
    /// died. [`Error::NotFound`] for an unknown system user.
    pub fn drift_invalidate(&self, system_user_id: &str) -> Result<usize, Error> {
        control::drift_invalidate(&mut self.shared.lock(), system_user_id)
    }

    /// Renames a system user out of band (as if someone did it in Business
    /// Manager; `POST /_emulator/drift/rename`). Returns its previous name.
    /// [`Error::NotFound`] for an unknown system user,
    /// [`Error::InvalidControl`] for an empty name.
    pub fn drift_rename(&self, system_user_id: &str, name: &str) -> Result<String, Error> {
        control::drift_rename(&mut self.shared.lock(), system_user_id, name)
    }

    /// Stops the server and waits (up to 5 s) for open connections to
    /// finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
        tracing::info!(base_url = %self.base_url, "graph api emulator stopped");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Every request outside `/_emulator/` is a Graph API request.
async fn graph(
    AxumState(shared): AxumState<Arc<Shared>>,
    ConnectInfo(cutter): ConnectInfo<Cutter>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let parsed = ApiRequest::parse(
        method,
        path_and_query,
        &body,
        content_type,
        header_token(&headers),
    );
    let endpoint = parsed.as_ref().map_or(Endpoint::Unsupported, |r| {
        Endpoint::classify(&r.method, &r.path)
    });
    // The endpoint name, never the raw path: a path segment may hold a
    // token (e.g. after a `{result=…}` substitution, or by mistake).
    if let Ok(req) = &parsed {
        tracing::trace!(
            method = %req.method,
            endpoint = endpoint.name(),
            version = ?req.version,
            params = ?req.params,
            header_token = ?req.header_token,
            "graph api request"
        );
    }
    let (latency, fault) = {
        let mut st = shared.lock();
        st.counters.count_http(endpoint);
        let fault = st.faults.take_network(endpoint);
        if let Some(fault) = &fault {
            st.counters.count_fault(endpoint, fault.kind());
            tracing::debug!(
                endpoint = endpoint.name(),
                fault = fault.kind(),
                runs_call = fault.runs_call(),
                "network fault injected"
            );
        }
        (st.faults.latency_ms(endpoint), fault)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(fault) = fault.as_ref().filter(|f| !f.runs_call()) {
        return fault_answer(fault);
    }
    let version = parsed.as_ref().ok().and_then(|r| r.version.clone());
    let response = {
        let mut st = shared.lock();
        match parsed {
            Ok(req) if endpoint == Endpoint::Batch => batch::execute(&mut st, &req),
            Ok(req) => api_call(&mut st, &req),
            Err(error) => {
                st.counters.count_call(endpoint);
                let trace = st.fbtrace_id();
                ApiResponse::error(&error, &trace)
            }
        }
    };
    match fault {
        None => into_http(response, version.as_deref()),
        Some(NetworkFault::LostAnswer { cut }) => {
            let http = into_http(response, version.as_deref());
            match cut {
                Cut::BeforeHeaders => cutter.cut_before_headers(),
                // Half the body, so that the client sees a status and a
                // truncated body, never the whole of it.
                Cut::MidBody => {
                    let length = HttpBody::size_hint(http.body()).exact().unwrap_or(0);
                    cutter.cut_after_body_bytes(usize::try_from(length / 2).unwrap_or(0));
                }
            }
            http
        }
        // The call ran; its answer is replaced.
        Some(fault) => fault_answer(&fault),
    }
}

/// The answer of a network fault that does not cut the connection: a
/// gateway's or a custom one, without Graph headers.
fn fault_answer(fault: &NetworkFault) -> Response {
    let Some((status, content_type, body)) = fault.answer() else {
        // Lost answers are handled by the caller; never reached.
        return Response::new(Body::empty());
    };
    let mut http = Response::new(Body::from(body));
    *http.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        http.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    http
}

fn into_http(response: ApiResponse, version: Option<&str>) -> Response {
    let mut http = Response::new(Body::from(response.body.to_string()));
    *http.status_mut() = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = http.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    if let Some(version) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(HeaderName::from_static("facebook-api-version"), version);
    }
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    http
}
