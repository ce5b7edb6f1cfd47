//! The emulator's clock and the two date formats the Graph API prints.
//!
//! The clock is virtual: token expiry, `appsecret_time` and `issued_at` all
//! read it, and the control API moves it. A world with a fixed
//! `clock_start` gets a frozen clock (it moves only when told), so tests are
//! deterministic; without one the clock starts at the real time and ticks.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The UTC date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let date = jiff::Timestamp::from_second(days.saturating_mul(DAY))
        .unwrap_or(jiff::Timestamp::MAX)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let small = |n: i8| u32::try_from(n).unwrap_or_default();
    (
        i64::from(date.year()),
        small(date.month()),
        small(date.day()),
    )
}

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

/// A calendar date and time of day.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: usize,
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// 0 = Sunday.
#[expect(clippy::cast_possible_truncation, reason = "in 0..7")]
fn weekday(days: i64) -> usize {
    (days + 4).rem_euclid(7) as usize
}

fn civil(unix: i64) -> Civil {
    let days = unix.div_euclid(DAY);
    let secs = unix.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs % 3600 / 60,
        second: secs % 60,
        weekday: weekday(days),
    }
}

/// The Graph API datetime form, e.g. `2024-01-02T03:04:05+0000`
/// (graph-api.md §1, INFERRED).
pub(crate) fn graph_datetime(unix: i64) -> String {
    let c = civil(unix);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The date form of the 463 "Session has expired on …" message, e.g.
/// `Tuesday, 07-Jul-20 10:00:00 PDT`: Meta prints US Pacific time.
pub(crate) fn pacific_datetime(unix: i64) -> String {
    const WEEKDAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let dst = is_pacific_daylight_time(unix);
    let local = unix - if dst { 7 * 3600 } else { 8 * 3600 };
    let c = civil(local);
    format!(
        "{}, {:02}-{}-{:02} {:02}:{:02}:{:02} {}",
        WEEKDAYS[c.weekday],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year.rem_euclid(100),
        c.hour,
        c.minute,
        c.second,
        if dst { "PDT" } else { "PST" }
    )
}

/// US daylight saving time (since 2007): from the second Sunday of March,
/// 02:00 PST (10:00 UTC), to the first Sunday of November, 02:00 PDT
/// (09:00 UTC).
fn is_pacific_daylight_time(unix: i64) -> bool {
    let year = civil(unix).year;
    let nth_sunday = |month: u32, n: i64| {
        let first = days_from_civil(year, month, 1);
        let to_sunday = i64::try_from((7 - weekday(first)) % 7).unwrap_or(0);
        first + to_sunday + 7 * (n - 1)
    };
    let start = nth_sunday(3, 2) * DAY + 10 * 3600;
    let end = nth_sunday(11, 1) * DAY + 9 * 3600;
    (start..end).contains(&unix)
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
        // DST 2026 starts 2026-03-08 10:00 UTC.
        assert!(!is_pacific_daylight_time(1_772_963_999));
        assert!(is_pacific_daylight_time(1_772_964_000));
    }

    #[test]
    fn civil_round_trips() {
        for days in [-1000, 0, 59, 60, 10_957, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
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
