//! Request counters, as Meta counts them: a batch is one HTTP request and
//! one API call per operation (graph-api.md §8); plus the faults the
//! emulator injected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::routes::Endpoint;

/// What `GET /_emulator/counters` (and [`crate::Emulator::counters`])
/// returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counters {
    /// Graph API HTTP requests (the control API is not counted), faulted
    /// ones included.
    pub http_requests: u64,
    /// API calls: one per plain request, one per batch operation. A request
    /// stopped by a network fault before its call ran (`gateway_page`,
    /// `gateway_error`, `custom` without `run_call`) is no API call.
    pub api_calls: u64,
    /// HTTP requests that were batches.
    pub batch_requests: u64,
    /// API calls per endpoint name (e.g. `POST /{system-user-id}/access_tokens`).
    pub by_endpoint: BTreeMap<String, u64>,
    /// Faults injected: network faults, transient errors, throttled calls
    /// and `null` batch items.
    #[serde(default)]
    pub injected_faults: u64,
    /// Injected faults by endpoint name, then by kind (`gateway_page`,
    /// `gateway_error`, `gateway_error_after_call`, `lost_answer`, `custom`,
    /// `transient_error`, `throttle`, `batch_null`).
    #[serde(default)]
    pub injected_faults_by_endpoint: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Counters {
    pub(crate) fn count_http(&mut self, endpoint: Endpoint) {
        self.http_requests += 1;
        if endpoint == Endpoint::Batch {
            self.batch_requests += 1;
        }
    }

    pub(crate) fn count_call(&mut self, endpoint: Endpoint) {
        self.api_calls += 1;
        *self
            .by_endpoint
            .entry(endpoint.name().to_owned())
            .or_insert(0) += 1;
    }

    pub(crate) fn count_fault(&mut self, endpoint: Endpoint, kind: &str) {
        self.injected_faults += 1;
        *self
            .injected_faults_by_endpoint
            .entry(endpoint.name().to_owned())
            .or_default()
            .entry(kind.to_owned())
            .or_insert(0) += 1;
    }
}
