//! Request counters, as Meta counts them: a batch is one HTTP request and
//! one API call per operation (graph-api.md §8).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::routes::Endpoint;

/// What `GET /_emulator/counters` returns.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Counters {
    /// Graph API HTTP requests (the control API is not counted).
    pub(crate) http_requests: u64,
    /// API calls: one per plain request, one per batch operation.
    pub(crate) api_calls: u64,
    /// HTTP requests that were batches.
    pub(crate) batch_requests: u64,
    /// API calls per endpoint name (e.g. `POST /{system-user-id}/access_tokens`).
    pub(crate) by_endpoint: BTreeMap<String, u64>,
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
}
