//! The emulator's clock and the two date formats the Graph API prints.
//!
//! The clock is virtual: token expiry, `appsecret_time` and `issued_at` all
//! read it, and the control API moves it. A world with a fixed
//! `clock_start` gets a frozen clock (it moves only when told), so tests are
//! deterministic; without one the clock starts at the real time and ticks.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;

/// The emulator's notion of "now", in unix seconds.
#[derive(Debug)]
pub(crate) struct Clock {
    start: i64,
    ticking_since: Option<Instant>,
    offset: i64,
}

impl Clock {
    /// A clock starting at `start` (default: the real time) that ticks in
    /// real time only when `frozen` is false (default: frozen exactly when
    /// `start` is given).
    pub(crate) fn new(start: Option<i64>, frozen: Option<bool>) -> Self {
        let frozen = frozen.unwrap_or(start.is_some());
        Self {
            start: start.unwrap_or_else(real_now),
            ticking_since: (!frozen).then(Instant::now),
            offset: 0,
        }
    }

    /// The current emulated time.
    pub(crate) fn now(&self) -> i64 {
        let elapsed = self.ticking_since.map_or(0, |since| {
            i64::try_from(since.elapsed().as_secs()).unwrap_or(i64::MAX / 4)
        });
        self.start
            .saturating_add(elapsed)
            .saturating_add(self.offset)
    }

    /// Moves the clock by `seconds` (may be negative).
    pub(crate) fn advance(&mut self, seconds: i64) {
        self.offset = self.offset.saturating_add(seconds);
    }

    /// Sets the clock to `unix`.
    pub(crate) fn set(&mut self, unix: i64) {
        let delta = unix.saturating_sub(self.now());
        self.advance(delta);
    }

    /// Whether the clock follows real time.
    pub(crate) fn is_ticking(&self) -> bool {
        self.ticking_since.is_some()
    }
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The Graph API datetime form, e.g. `2024-01-02T03:04:05+0000`
/// (graph-api.md §1, INFERRED).
pub(crate) fn graph_datetime(unix: i64) -> String {
    timestamp(unix).strftime("%Y-%m-%dT%H:%M:%S%z").to_string()
}

/// The date form of the 463 "Session has expired on …" message, e.g.
/// `Tuesday, 07-Jul-20 10:00:00 PDT`: Meta prints US Pacific time.
pub(crate) fn pacific_datetime(unix: i64) -> String {
    timestamp(unix)
        .to_zoned(pacific())
        .strftime("%A, %d-%b-%y %H:%M:%S %Z")
        .to_string()
}

/// US Pacific time under the US daylight-saving rule since 2007: from the
/// second Sunday of March, 02:00, to the first Sunday of November, 02:00.
///
/// A POSIX rule rather than `America/Los_Angeles` from the system's time
/// zone database, so the messages do not depend on the machine the
/// emulator runs on.
fn pacific() -> TimeZone {
    TimeZone::posix("PST8PDT,M3.2.0,M11.1.0").expect("a valid POSIX time zone rule")
}

/// `unix` as a timestamp, clamped to jiff's range (years -9999 to 9999).
fn timestamp(unix: i64) -> Timestamp {
    let unix = unix.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_datetime_matches_the_documented_form() {
        // 2024-01-02T03:04:05Z
        assert_eq!(graph_datetime(1_704_164_645), "2024-01-02T03:04:05+0000");
        assert_eq!(graph_datetime(0), "1970-01-01T00:00:00+0000");
    }

    #[test]
    fn pacific_datetime_follows_daylight_saving() {
        // 2020-07-07T17:00:00Z is 10:00 PDT, a Tuesday (the facy#15 sample).
        assert_eq!(
            pacific_datetime(1_594_141_200),
            "Tuesday, 07-Jul-20 10:00:00 PDT"
        );
        // 2026-01-01T00:00:00Z is 16:00 PST the day before.
        assert_eq!(
            pacific_datetime(1_767_225_600),
            "Wednesday, 31-Dec-25 16:00:00 PST"
        );
        // DST 2026 starts 2026-03-08 10:00 UTC and ends 2026-11-01 09:00 UTC.
        assert_eq!(
            pacific_datetime(1_772_963_999),
            "Sunday, 08-Mar-26 01:59:59 PST"
        );
        assert_eq!(
            pacific_datetime(1_772_964_000),
            "Sunday, 08-Mar-26 03:00:00 PDT"
        );
        assert_eq!(
            pacific_datetime(1_793_523_599),
            "Sunday, 01-Nov-26 01:59:59 PDT"
        );
        assert_eq!(
            pacific_datetime(1_793_523_600),
            "Sunday, 01-Nov-26 01:00:00 PST"
        );
    }

    #[test]
    fn times_outside_the_calendar_are_clamped_not_panicked_on() {
        assert!(graph_datetime(i64::MAX).starts_with("9999-12-"));
        assert!(graph_datetime(i64::MIN).starts_with("-9999-01-"));
        assert!(pacific_datetime(i64::MAX).contains("-Dec-99 "));
    }

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let mut clock = Clock::new(Some(1000), None);
        assert!(!clock.is_ticking());
        assert_eq!(clock.now(), 1000);
        clock.advance(60);
        assert_eq!(clock.now(), 1060);
        clock.set(5);
        assert_eq!(clock.now(), 5);
    }
}
