//! Apply's pace: how many system users are worked on at once, raised while
//! Meta's rate-limit headers say there is room and lowered as they climb
//! (issue 12, graph-api.md §7).
//!
//! Apply works in groups, one per system user, each running its changes in
//! plan order (create → install → tokens). A group takes a [`Permit`]
//! before its first change and holds it until its last one ends; after
//! each change it reports the client's usage reading
//! ([`Provider::usage_percent`](crate::Provider::usage_percent)) to
//! [`Pace::observe`]. The limit on permits follows the classic additive
//! increase, multiplicative decrease rule (TCP's congestion window), the
//! usual answer for a shared capacity whose size is unknown: Meta's budget
//! is shared with every other caller of the same app and business, and
//! Meta only tells how much of it is used.
//!
//! - **Start** at `ApplyOptions::parallelism` (8); never go above
//!   `ApplyOptions::max_parallelism` (32), nor below 1.
//! - **Raise** the limit by one each time a group completes while the
//!   latest reading is below [`RAISE_BELOW_PERCENT`] (50 %) or absent.
//!   Absent counts as room: Meta sends the headers only once enough calls
//!   were made (absence says nothing, so it cannot be taken as a warning
//!   either), and the first header that does arrive is seen after the next
//!   change. Stopping at half the budget leaves room for the calls already
//!   in flight to land before usage reaches the point where the client
//!   slows down.
//! - **Hold** between the two thresholds.
//! - **Halve** the limit when a reading is at or above
//!   [`LOWER_FROM_PERCENT`] (75 %, where the client's governor starts to
//!   delay each request by default: more requests in flight from there
//!   would only queue on those delays and spend the rest of the budget
//!   faster). Once per burst: after a halving, the next high report of
//!   each other group already in flight is forgiven, since it tells of the
//!   same usage, and counting it would drop the limit to 1 from one burst.
//!
//! The pace only decides when a group *starts*. Lowering the limit never
//! cancels or interrupts work: a group in flight runs its remaining
//! changes in order (the safety model relies on that order: a token is
//! stored before its predecessor is revoked), and only new groups wait
//! until fewer than the limit are in flight. Different system users are
//! independent, so letting more or fewer of them run at once loses no
//! ordering.
//!
//! The client's own governor still delays every request from 75 % and
//! pauses at 95 % (`graphform_graph::UsagePolicy`), whatever the pace: the
//! pace keeps apply from piling requests onto those waits, the governor
//! keeps each request from reaching the limit. The reading is the highest
//! of every fresh header (app and every business), so a business near its
//! own limit slows the whole apply: cautious, and simple.

use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

/// Below this usage, in percent (or with no reading at all), each group
/// that completes raises the limit by one.
pub(crate) const RAISE_BELOW_PERCENT: f64 = 50.0;

/// From this usage on, in percent, the limit is halved (the default
/// `slow_down_at_percent` of the client's `UsagePolicy`).
pub(crate) const LOWER_FROM_PERCENT: f64 = 75.0;

/// An adaptive limit on the groups in flight. See the module docs for the
/// policy.
#[derive(Debug)]
pub(crate) struct Pace {
    ceiling: usize,
    state: Mutex<State>,
    /// Notified when a permit is released.
    released: Notify,
}

#[derive(Debug)]
struct State {
    /// How many permits may be out at once.
    limit: usize,
    /// How many permits are out. It may exceed `limit` after a halving,
    /// until the groups in flight end.
    in_flight: usize,
    /// Whether the latest reading leaves room to raise the limit (below
    /// [`RAISE_BELOW_PERCENT`], or none).
    room: bool,
    /// High readings still to forgive: the other groups in flight at the
    /// last halving report the same burst once more.
    forgive: usize,
}

/// Leave to run one group; released when dropped.
#[must_use = "the permit is released as soon as it is dropped"]
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    pace: &'a Pace,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.pace.release();
    }
}

impl Pace {
    /// A limit starting at `start`, raised up to `ceiling` at most. Both
    /// are at least 1; the ceiling is a promise, so a start above it is
    /// taken down to it.
    pub(crate) fn new(start: usize, ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        let start = start.clamp(1, ceiling);
        Self {
            ceiling,
            state: Mutex::new(State {
                limit: start,
                in_flight: 0,
                room: true,
                forgive: 0,
            }),
            released: Notify::new(),
        }
    }

    /// The most groups that may ever run at once (the width to poll the
    /// groups with).
    pub(crate) fn ceiling(&self) -> usize {
        self.ceiling
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent under a panic: every update is a few
        // assignments with nothing that can panic in between.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until fewer groups than the limit are in flight, and takes a
    /// permit. Cancel-safe: a dropped wait takes nothing.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before the check, so a release between the check
            // and the wait is not missed.
            let released = self.released.notified();
            let mut released = std::pin::pin!(released);
            released.as_mut().enable();
            {
                let mut state = self.state();
                if state.in_flight < state.limit {
                    state.in_flight += 1;
                    return Permit { pace: self };
                }
            }
            released.await;
        }
    }

    /// Takes a usage reading (`None`: no fresh reading) into account:
    /// halves the limit when it is high, and records whether the next
    /// completed group may raise it.
    pub(crate) fn observe(&self, usage: Option<f64>) {
        let mut state = self.state();
        state.room = usage.is_none_or(|percent| percent < RAISE_BELOW_PERCENT);
        let Some(percent) = usage.filter(|percent| *percent >= LOWER_FROM_PERCENT) else {
            // The burst is over: the next high reading halves at once.
            state.forgive = 0;
            return;
        };
        if state.forgive > 0 {
            state.forgive -= 1;
            return;
        }
        let limit = (state.limit / 2).max(1);
        if limit < state.limit {
            tracing::debug!(
                usage_percent = percent,
                limit,
                in_flight = state.in_flight,
                "usage high, fewer system users at once"
            );
        }
        state.limit = limit;
        state.forgive = state.in_flight.saturating_sub(1);
    }

    fn release(&self) {
        {
            let mut state = self.state();
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.room && state.limit < self.ceiling {
                state.limit += 1;
                tracing::debug!(limit = state.limit, "usage low, more system users at once");
            }
        }
        self.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt as _;

    use super::*;

    /// A permit if one is free right now.
    fn try_acquire(pace: &Pace) -> Option<Permit<'_>> {
        pace.acquire().now_or_never()
    }

    fn in_flight(pace: &Pace) -> usize {
        pace.state().in_flight
    }

    impl Pace {
        /// How many groups may be in flight now.
        fn limit(&self) -> usize {
            self.state().limit
        }
    }

    #[test]
    fn starts_at_parallelism_and_raises_by_one_per_completed_group_while_usage_is_low() {
        let pace = Pace::new(2, 32);
        let first = try_acquire(&pace).unwrap();
        let _second = try_acquire(&pace).unwrap();
        assert!(try_acquire(&pace).is_none(), "two at once to start with");
        pace.observe(Some(10.0));
        drop(first);
        assert_eq!(pace.limit(), 3);
        let _third = try_acquire(&pace).unwrap();
        let _fourth = try_acquire(&pace).unwrap();
        assert!(try_acquire(&pace).is_none());
    }

    #[test]
    fn no_reading_counts_as_room() {
        let pace = Pace::new(1, 32);
        drop(try_acquire(&pace).unwrap());
        assert_eq!(pace.limit(), 2, "before any reading");
        pace.observe(None);
        drop(try_acquire(&pace).unwrap());
        assert_eq!(pace.limit(), 3);
    }

    #[test]
    fn holds_between_the_thresholds() {
        let pace = Pace::new(4, 32);
        pace.observe(Some(60.0));
        drop(try_acquire(&pace).unwrap());
        assert_eq!(pace.limit(), 4);
        pace.observe(Some(RAISE_BELOW_PERCENT));
        drop(try_acquire(&pace).unwrap());
        assert_eq!(pace.limit(), 4, "50 % is not below 50 %");
    }

    #[test]
    fn never_rises_above_the_ceiling() {
        let pace = Pace::new(2, 5);
        for _ in 0..10 {
            drop(try_acquire(&pace).unwrap());
        }
        assert_eq!(pace.limit(), 5);
        let permits: Vec<_> = std::iter::from_fn(|| try_acquire(&pace)).collect();
        assert_eq!(permits.len(), 5);
    }

    #[test]
    fn the_start_is_never_above_the_ceiling_and_both_are_at_least_one() {
        assert_eq!(
            (Pace::new(40, 32).ceiling(), Pace::new(40, 32).limit()),
            (32, 32)
        );
        assert_eq!((Pace::new(0, 0).ceiling(), Pace::new(0, 0).limit()), (1, 1));
    }

    #[test]
    fn halves_when_usage_is_high_and_never_goes_below_one() {
        let pace = Pace::new(8, 32);
        pace.observe(Some(LOWER_FROM_PERCENT));
        assert_eq!(pace.limit(), 4);
        pace.observe(Some(90.0));
        assert_eq!(pace.limit(), 2, "nothing in flight: nothing to forgive");
        pace.observe(Some(99.0));
        pace.observe(Some(100.0));
        pace.observe(Some(100.0));
        assert_eq!(pace.limit(), 1);
        // High usage: a completed group does not raise it again.
        drop(try_acquire(&pace).unwrap());
        assert_eq!(pace.limit(), 1);
        // Once usage is low again, it climbs back one group at a time.
        pace.observe(Some(20.0));
        drop(try_acquire(&pace).unwrap());
        drop(try_acquire(&pace).unwrap());
        assert_eq!(pace.limit(), 3);
    }

    #[test]
    fn halves_once_for_the_groups_in_flight_reporting_the_same_burst() {
        let pace = Pace::new(8, 32);
        let permits: Vec<_> = std::iter::from_fn(|| try_acquire(&pace)).collect();
        assert_eq!(permits.len(), 8);
        // Eight groups see the same high usage after their change: one
        // halving, the seven others are forgiven.
        for _ in 0..8 {
            pace.observe(Some(80.0));
        }
        assert_eq!(pace.limit(), 4);
        // Their next report of high usage halves again.
        pace.observe(Some(80.0));
        assert_eq!(pace.limit(), 2);
        // A reading below the threshold ends the burst.
        pace.observe(Some(60.0));
        pace.observe(Some(80.0));
        assert_eq!(pace.limit(), 1);
    }

    #[test]
    fn lowering_the_limit_keeps_the_permits_in_flight_and_stops_new_ones() {
        let pace = Pace::new(4, 4);
        let mut permits: Vec<_> = std::iter::from_fn(|| try_acquire(&pace)).collect();
        assert_eq!(permits.len(), 4);
        pace.observe(Some(90.0));
        assert_eq!(pace.limit(), 2);
        assert_eq!(in_flight(&pace), 4, "nothing is taken back");
        permits.pop();
        assert!(try_acquire(&pace).is_none(), "three in flight, limit two");
        permits.pop();
        assert!(try_acquire(&pace).is_none(), "two in flight, limit two");
        permits.pop();
        let _next = try_acquire(&pace).unwrap();
        assert_eq!(in_flight(&pace), 2);
    }

    #[test]
    fn dropping_permits_releases_them() {
        let pace = Pace::new(3, 3);
        let permits: Vec<_> = std::iter::from_fn(|| try_acquire(&pace)).collect();
        assert_eq!(in_flight(&pace), 3);
        // A wait that is dropped (here, after one poll) takes nothing.
        assert!(try_acquire(&pace).is_none());
        assert_eq!(in_flight(&pace), 3);
        drop(permits);
        assert_eq!(in_flight(&pace), 0);
    }

    #[tokio::test]
    async fn a_waiting_group_starts_when_a_permit_is_released() {
        let pace = std::sync::Arc::new(Pace::new(1, 1));
        let held = try_acquire(&pace).unwrap();
        let waiter = {
            let pace = std::sync::Arc::clone(&pace);
            tokio::spawn(async move {
                let _permit = pace.acquire().await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        // A lost wake-up would hang here; the guard turns it into a failure.
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiting group was woken")
            .unwrap();
        assert_eq!(in_flight(&pace), 0);
    }

    #[tokio::test]
    async fn many_groups_finish_while_the_limit_moves_and_never_exceed_it_when_starting() {
        let pace = Pace::new(4, 8);
        let groups = (0..64_u32).map(|group| {
            let pace = &pace;
            async move {
                let _permit = pace.acquire().await;
                {
                    // Nothing ran since the permit was taken (one thread).
                    let state = pace.state();
                    assert!(state.in_flight <= state.limit, "{state:?}");
                }
                for change in 0..3 {
                    tokio::task::yield_now().await;
                    // Usage swings between low, middling and high.
                    let usage = match (group + change) % 5 {
                        0 => None,
                        1 | 2 => Some(30.0),
                        3 => Some(60.0),
                        _ => Some(85.0),
                    };
                    pace.observe(usage);
                }
            }
        });
        tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::future::join_all(groups),
        )
        .await
        .expect("every group ran: no deadlock");
        assert_eq!(in_flight(&pace), 0);
        assert!((1..=8).contains(&pace.limit()));
    }
}
