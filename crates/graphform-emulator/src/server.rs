//! The HTTP server: binding (loopback only), the Graph API entry point that
//! turns HTTP into [`ApiRequest`]s, and the running [`Emulator`] handle.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::control;
use crate::error::Error;
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
            axum::serve(listener, app)
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
    let latency = {
        let mut st = shared.lock();
        st.counters.count_http(endpoint);
        st.faults.latency_ms(endpoint)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
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
    into_http(response, version.as_deref())
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
