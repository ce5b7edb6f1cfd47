//! Time as the client sees it: a [`Clock`] to read and sleep on, injectable
//! so that retry, throttle and usage waits run instantly and
//! deterministically in tests ([`VirtualClock`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The future returned by [`Clock::sleep`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A monotonic clock the client reads (to bound the total time spent on a
/// call) and sleeps on (backoff, throttling, usage slow-down).
///
/// Per-attempt HTTP timeouts are not taken from this clock: they are real
/// time, enforced by the HTTP client.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Time since an arbitrary, fixed origin.
    fn now(&self) -> Duration;

    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Sleep<'_>;
}

/// The real clock (tokio's, so `tokio::time::pause` also applies).
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when slept on: `sleep` returns at once and
/// advances the time. Every sleep is recorded, so a test can assert what
/// the client waited for without waiting.
#[derive(Debug, Clone, Default)]
pub struct VirtualClock {
    state: Arc<Mutex<VirtualState>>,
}

#[derive(Debug, Default)]
struct VirtualState {
    now: Duration,
    sleeps: Vec<Duration>,
}

impl VirtualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut VirtualState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Moves the time forward without recording a sleep.
    pub fn advance(&self, duration: Duration) {
        self.with(|state| state.now += duration);
    }

    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.with(|state| state.sleeps.clone())
    }

    /// The sum of every sleep so far.
    pub fn total_slept(&self) -> Duration {
        self.with(|state| state.sleeps.iter().sum())
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        self.with(|state| state.now)
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        self.with(|state| {
            state.now += duration;
            state.sleeps.push(duration);
        });
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_clock_records_and_advances() {
        let clock = VirtualClock::new();
        clock.sleep(Duration::from_secs(3)).await;
        clock.advance(Duration::from_secs(1));
        clock.sleep(Duration::from_millis(500)).await;
        assert_eq!(clock.now(), Duration::from_millis(4500));
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_secs(3), Duration::from_millis(500)]
        );
        assert_eq!(clock.total_slept(), Duration::from_millis(3500));
    }
}
