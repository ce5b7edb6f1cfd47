//! [`GraphClient`], the entry point. The endpoint methods are defined in
//! `endpoints/`, the machinery in `transport.rs` and `batch.rs`.

use std::fmt;
use std::sync::Arc;

use crate::clock::{Clock, TokioClock};
use crate::config::{ClientSettings, ConfigError};
use crate::counters::CounterSnapshot;
use crate::transport::{Call, Endpoint, Transport};
use crate::wait::WaitObserver;

/// A Graph API client. Cheap to clone: clones share the connection pool,
/// usage readings and counters.
///
/// It holds no credential: each call takes the token it is made with.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) transport: Arc<Transport>,
    label: Option<Arc<str>>,
}

impl GraphClient {
    /// A client with `settings` and the real clock.
    pub fn new(settings: ClientSettings) -> Result<Self, ConfigError> {
        Self::with_clock(settings, Arc::new(TokioClock::default()))
    }

    /// A client sleeping on `clock` (tests pass a
    /// [`VirtualClock`](crate::VirtualClock)).
    pub fn with_clock(
        settings: ClientSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            transport: Arc::new(Transport::new(settings, clock)?),
            label: None,
        })
    }

    /// Tells `observer` of every wait before a retry or a pause (a
    /// throttled call, a failure tried again, usage at the limit), e.g. to
    /// print one line each. Shared by this client's clones; set once:
    /// `false` if an observer was already set.
    pub fn on_wait(&self, observer: WaitObserver) -> bool {
        self.transport.waits.set(observer)
    }

    /// This client, naming `label` (e.g. `acme/ci-reporting`) as the object
    /// of its calls in errors and logs instead of Meta's ID.
    #[must_use]
    pub fn labeled(&self, label: impl Into<String>) -> Self {
        Self {
            transport: Arc::clone(&self.transport),
            label: Some(label.into().into()),
        }
    }

    /// The label set by [`labeled`](Self::labeled).
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The settings the client was built with.
    pub fn settings(&self) -> &ClientSettings {
        &self.transport.settings
    }

    /// What the client (and its clones) did so far.
    pub fn counters(&self) -> CounterSnapshot {
        self.transport.counters.snapshot()
    }

    /// The client's current load: the highest usage percentage among the
    /// rate-limit headers (`X-App-Usage`, `X-Business-Use-Case-Usage`,
    /// `X-Ad-Account-Usage`) its calls (and its clones') received within
    /// [`UsagePolicy::reading_ttl`](crate::UsagePolicy::reading_ttl).
    ///
    /// `None` when there is no such reading: Meta sends the headers only
    /// once enough calls were made, so their absence says nothing
    /// (graph-api.md §7). Apply reads this to pace itself; the client's
    /// own slow-down and pause are unaffected.
    pub fn usage_percent(&self) -> Option<f64> {
        self.transport.governor.percent(self.transport.clock.now())
    }

    /// Sets every counter to zero.
    pub fn reset_counters(&self) {
        self.transport.counters.reset();
    }

    /// The object named in errors: the label, or else `object`.
    pub(crate) fn target(&self, object: &str) -> String {
        self.label.as_deref().unwrap_or(object).to_owned()
    }

    /// A call to `endpoint` at `path`, about `object` (named by the label
    /// when there is one).
    pub(crate) fn request(&self, endpoint: &Endpoint, object: &str, path: &[&str]) -> Call {
        endpoint.call(self.target(object), path)
    }
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.transport.settings.base_url)
            .field("api_version", &self.transport.settings.api_version)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}
