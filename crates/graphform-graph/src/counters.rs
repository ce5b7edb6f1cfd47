//! Counters of what the client did (HTTP requests, API calls, retries,
//! waits), for tests, benchmarks and `--verbose` summaries.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a client has done since it was built (or last reset). Batch
/// operations count one API call each, as Meta counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// HTTP requests sent (attempts, retries included).
    pub http_requests: u64,
    /// API calls: one per plain request, one per operation in a batch.
    pub api_calls: u64,
    /// Requests that were retries of a failed attempt (batch rounds
    /// included).
    pub retries: u64,
    /// Waits caused by throttling errors.
    pub throttle_waits: u64,
    /// Waits caused by usage headers near the limit.
    pub usage_delays: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    http_requests: AtomicU64,
    api_calls: AtomicU64,
    retries: AtomicU64,
    throttle_waits: AtomicU64,
    usage_delays: AtomicU64,
}

impl Counters {
    pub(crate) fn request(&self, api_calls: u64) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
        self.api_calls.fetch_add(api_calls, Ordering::Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn throttle_wait(&self) {
        self.throttle_waits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn usage_delay(&self) {
        self.usage_delays.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            http_requests: self.http_requests.load(Ordering::Relaxed),
            api_calls: self.api_calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttle_waits: self.throttle_waits.load(Ordering::Relaxed),
            usage_delays: self.usage_delays.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for counter in [
            &self.http_requests,
            &self.api_calls,
            &self.retries,
            &self.throttle_waits,
            &self.usage_delays,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}
