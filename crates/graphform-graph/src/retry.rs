//! When a failed call is tried again and how long to wait first:
//! [`RetryPolicy`] (attempts, total time, exponential backoff with full
//! jitter, throttle waits) and which operations may be repeated at all
//! ([`Repeat`]).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Bounds and delays for retries. Every wait goes through the client's
/// [`Clock`](crate::Clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (default 5). For a batch,
    /// rounds per item.
    pub max_attempts: u32,
    /// Ceiling of the first backoff (default 500 ms); it doubles with each
    /// retry up to [`max_backoff`](Self::max_backoff). The actual delay is
    /// uniform in `[0, ceiling]` ("full jitter").
    pub initial_backoff: Duration,
    /// Largest backoff ceiling (default 30 s).
    pub max_backoff: Duration,
    /// Total time one call may take, waits included (default 20 min). A
    /// retry whose wait would end past it is not made.
    pub max_elapsed: Duration,
    /// Wait after a throttling error that gives no
    /// `estimated_time_to_regain_access` (default 60 s, doubling with each
    /// throttled retry up to [`throttle_max_backoff`](Self::throttle_max_backoff);
    /// graph-api.md §7). The actual wait is in `[ceiling/2, ceiling]`.
    pub throttle_initial_backoff: Duration,
    /// Largest throttle backoff (default 15 min).
    pub throttle_max_backoff: Duration,
    /// Longest single throttle wait the client accepts (default 15 min).
    /// When a throttled call would have to wait longer — Meta's estimate is
    /// above it, or, without an estimate, the ceiling of the next throttle
    /// backoff is — the throttling error is returned instead, so the caller
    /// can decide. The jitter added to an estimate never takes the wait
    /// past it.
    pub max_throttle_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_mins(20),
            throttle_initial_backoff: Duration::from_mins(1),
            throttle_max_backoff: Duration::from_mins(15),
            max_throttle_wait: Duration::from_mins(15),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The ceiling of the backoff before retry number `retry` (1 = the first
    /// retry): `min(max_backoff, initial_backoff × 2^(retry-1))`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        exponential(self.initial_backoff, self.max_backoff, retry)
    }

    /// The ceiling of the wait before throttled retry number `retry` when
    /// Meta gave no estimate.
    pub fn throttle_ceiling(&self, retry: u32) -> Duration {
        exponential(
            self.throttle_initial_backoff,
            self.throttle_max_backoff,
            retry,
        )
    }
}

fn exponential(initial: Duration, max: Duration, retry: u32) -> Duration {
    let doublings = retry.saturating_sub(1).min(31);
    initial
        .checked_mul(1_u32 << doublings)
        .map_or(max, |delay| delay.min(max))
}

/// Whether an operation may be sent again when its first attempt's outcome
/// is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads, and mutations whose repetition has the same effect (install,
    /// rename, invalidate all): retried after timeouts and lost
    /// connections too.
    Safe,
    /// Mutations that create something (system user, token, refreshed
    /// token) or whose repetition misleads (revoke): retried only when the
    /// request provably did not take effect — the connection was never
    /// made, or Meta answered with an error. Otherwise the call fails with
    /// an "outcome unknown" error.
    Unsafe,
}

/// The random part of waits: full jitter, reproducible with a seed.
#[derive(Debug)]
pub(crate) struct Jitter {
    rng: Mutex<StdRng>,
}

impl Jitter {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        Self {
            rng: Mutex::new(rng),
        }
    }

    /// Uniform in `[0, ceiling]`.
    pub(crate) fn full(&self, ceiling: Duration) -> Duration {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let picked = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_range(0..=nanos);
        Duration::from_nanos(picked)
    }

    /// Uniform in `[ceiling/2, ceiling]` ("equal jitter": a throttle wait
    /// is never short).
    pub(crate) fn equal(&self, ceiling: Duration) -> Duration {
        let half = ceiling / 2;
        half + self.full(ceiling.saturating_sub(half))
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` of a transient failure.
    pub(crate) fn backoff(&self, retry: u32, jitter: &Jitter) -> Duration {
        jitter.full(self.backoff_ceiling(retry))
    }

    /// The wait before retry number `retry` of a throttled call: Meta's
    /// estimate plus up to 10 % jitter (at most
    /// [`max_throttle_wait`](Self::max_throttle_wait)), or the throttle
    /// backoff. `None` when the wait would exceed `max_throttle_wait`: the
    /// estimate is above it, or, without an estimate, the backoff ceiling
    /// is (decided on the ceiling, not on the random draw, so that whether
    /// the client gives up does not depend on the jitter).
    pub(crate) fn throttle_wait(
        &self,
        retry: u32,
        estimate: Option<Duration>,
        jitter: &Jitter,
    ) -> Option<Duration> {
        match estimate {
            Some(estimate) if !estimate.is_zero() => (estimate <= self.max_throttle_wait)
                .then(|| (estimate + jitter.full(estimate / 10)).min(self.max_throttle_wait)),
            _ => {
                let ceiling = self.throttle_ceiling(retry);
                (ceiling <= self.max_throttle_wait).then(|| jitter.equal(ceiling))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<_> = (1..=9).map(|n| policy.backoff_ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000].map(|ms| ms * MS)
        );
        assert_eq!(policy.backoff_ceiling(1000), Duration::from_secs(30));
        assert_eq!(policy.throttle_ceiling(1), Duration::from_mins(1));
        assert_eq!(policy.throttle_ceiling(4), Duration::from_mins(8));
        assert_eq!(policy.throttle_ceiling(5), Duration::from_mins(15));
        assert_eq!(policy.throttle_ceiling(u32::MAX), Duration::from_mins(15));
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling_and_is_reproducible() {
        let policy = RetryPolicy::default();
        let delays = |seed| {
            let jitter = Jitter::new(Some(seed));
            (1..=200)
                .map(|n| policy.backoff(n % 8 + 1, &jitter))
                .collect::<Vec<_>>()
        };
        let first = delays(7);
        assert_eq!(first, delays(7), "same seed, same delays");
        assert_ne!(first, delays(8), "another seed, other delays");
        for (n, delay) in (1..=200).zip(&first) {
            assert!(
                *delay <= policy.backoff_ceiling(n % 8 + 1),
                "{n}: {delay:?}"
            );
        }
        // Full jitter spreads over the whole range, not just near the top.
        let jitter = Jitter::new(Some(1));
        let ceiling = Duration::from_secs(10);
        let samples: Vec<_> = (0..1000).map(|_| jitter.full(ceiling)).collect();
        assert!(samples.iter().any(|d| *d < ceiling / 10));
        assert!(samples.iter().any(|d| *d > ceiling * 9 / 10));
        assert_eq!(jitter.full(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn throttle_waits_honour_the_estimate() {
        let policy = RetryPolicy::default();
        let jitter = Jitter::new(Some(3));
        for retry in 1..50 {
            let estimate = Duration::from_mins(2);
            let wait = policy
                .throttle_wait(retry, Some(estimate), &jitter)
                .unwrap();
            assert!(
                wait >= estimate && wait <= estimate + estimate / 10,
                "{wait:?}"
            );
            let wait = policy.throttle_wait(retry, None, &jitter).unwrap();
            let ceiling = policy.throttle_ceiling(retry);
            assert!(wait >= ceiling / 2 && wait <= ceiling, "{wait:?}");
            let wait = policy
                .throttle_wait(retry, Some(Duration::ZERO), &jitter)
                .unwrap();
            assert!(wait >= ceiling / 2 && wait <= ceiling, "{wait:?}");
        }
    }

    #[test]
    fn no_throttle_wait_exceeds_max_throttle_wait() {
        let max = Duration::from_mins(2);
        let policy = RetryPolicy {
            max_throttle_wait: max,
            ..RetryPolicy::default()
        };
        let jitter = Jitter::new(Some(5));
        let second = Duration::from_secs(1);
        for _ in 0..200 {
            // Without an estimate: ceilings of 1 and 2 min are waited, the
            // 4 min one (and every later one) is not.
            let first = policy.throttle_wait(1, None, &jitter).unwrap();
            assert!(first >= max / 4 && first <= max / 2, "{first:?}");
            let second_wait = policy.throttle_wait(2, None, &jitter).unwrap();
            assert!(
                second_wait >= max / 2 && second_wait <= max,
                "{second_wait:?}"
            );
            for retry in [3, 4, 5, 50, u32::MAX] {
                assert_eq!(policy.throttle_wait(retry, None, &jitter), None, "{retry}");
                assert_eq!(
                    policy.throttle_wait(retry, Some(Duration::ZERO), &jitter),
                    None,
                    "{retry}"
                );
            }
            // An estimate within the limit is waited, its jitter clipped
            // at the limit; one above it is not waited at all.
            let estimate = 110 * second;
            let wait = policy.throttle_wait(3, Some(estimate), &jitter).unwrap();
            assert!(wait >= estimate && wait <= max, "{wait:?}");
            assert_eq!(policy.throttle_wait(1, Some(max), &jitter), Some(max));
            assert_eq!(policy.throttle_wait(1, Some(max + second), &jitter), None);
        }
        // A limit below the first backoff: only estimates are waited.
        let policy = RetryPolicy {
            max_throttle_wait: 30 * second,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.throttle_wait(1, None, &jitter), None);
        assert!(
            policy
                .throttle_wait(1, Some(20 * second), &jitter)
                .is_some_and(|wait| wait <= 30 * second)
        );
    }
}
