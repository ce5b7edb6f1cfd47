//! Moments and durations, to the second, in UTC: one type each, on `jiff`.
//!
//! [`Timestamp`] is a `jiff::Timestamp` that graphform keeps to whole
//! seconds and writes as Unix seconds (stores, state documents and plan
//! files keep the format they always had). [`Duration`] is a
//! `jiff::SignedDuration` that reads and prints the policy's durations
//! (`20d`, `36h`, `90m`). Calendar arithmetic and formatting are jiff's; no
//! clock is read here (callers inject "now").

use std::borrow::Cow;
use std::fmt;
use std::ops::{Add, Sub};

use jiff::SignedDuration;

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A moment in UTC, to the second.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

impl Timestamp {
    /// The moment `seconds` after 1970-01-01 00:00 UTC (negative: before).
    /// Moments outside jiff's range (years -9999 to 9999) are clamped to it:
    /// Meta's and the stores' numbers are never that far out, and a clamped
    /// moment still compares correctly with every real one.
    pub fn from_unix(seconds: i64) -> Self {
        let clamped = seconds.clamp(
            jiff::Timestamp::MIN.as_second(),
            jiff::Timestamp::MAX.as_second(),
        );
        Self(jiff::Timestamp::from_second(clamped).expect("clamped into jiff's range"))
    }

    /// Seconds since 1970-01-01 00:00 UTC.
    pub fn unix(self) -> i64 {
        self.0.as_second()
    }

    /// The jiff timestamp.
    pub fn as_jiff(self) -> jiff::Timestamp {
        self.0
    }

    /// The moment from a jiff timestamp (sub-second part dropped).
    pub fn from_jiff(at: jiff::Timestamp) -> Self {
        Self::from_unix(at.as_second())
    }

    /// `2026-11-22`: the UTC date.
    pub fn date(self) -> impl fmt::Display {
        self.0.strftime("%Y-%m-%d")
    }

    /// `2026-11-22T15:20:05Z`: RFC 3339, as Vault and AWS write times.
    pub fn rfc3339(self) -> impl fmt::Display {
        self.0.strftime("%Y-%m-%dT%H:%M:%SZ")
    }

    /// `2026-11-22 15:20:05 UTC`: for people (lock holders and expiries in
    /// messages).
    pub fn utc(self) -> impl fmt::Display {
        self.0.strftime("%Y-%m-%d %H:%M:%S UTC")
    }

    /// Formats with a `strftime` pattern (`%Y%m%dT%H%M%SZ`, …), in UTC.
    pub fn strftime(self, format: &str) -> impl fmt::Display + '_ {
        self.0.strftime(format)
    }

    /// Parses an RFC 3339 time with an offset (`2026-11-22T15:20:05.123Z`);
    /// fractions of a second are dropped.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        text.parse::<jiff::Timestamp>().ok().map(Self::from_jiff)
    }

    /// How long after `earlier` this moment is (negative if before).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::seconds(self.unix().saturating_sub(earlier.unix()))
    }

    /// `self + duration`, clamped to the representable range.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self::from_unix(self.unix().saturating_add(duration.as_secs()))
    }

    /// `self - duration`, clamped to the representable range.
    #[must_use]
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self::from_unix(self.unix().saturating_sub(duration.as_secs()))
    }
}

impl fmt::Display for Timestamp {
    /// `2026-11-22 15:20 UTC`: how plans and messages show a moment.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.strftime("%Y-%m-%d %H:%M UTC"))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.rfc3339(), self.unix())
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturating, like [`Timestamp::saturating_add`].
    fn add(self, duration: Duration) -> Timestamp {
        self.saturating_add(duration)
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturating, like [`Timestamp::saturating_sub`].
    fn sub(self, duration: Duration) -> Timestamp {
        self.saturating_sub(duration)
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;

    fn sub(self, earlier: Timestamp) -> Duration {
        self.since(earlier)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.unix())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(Self::from_unix)
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "int64".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        i64::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

/// A span of time, to the second; negative spans exist (a moment in the
/// past minus now).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(SignedDuration);

impl Duration {
    /// `days` days of 24 hours.
    pub const fn days(days: i64) -> Self {
        Self(SignedDuration::from_secs(days * DAY))
    }

    /// `hours` hours.
    pub const fn hours(hours: i64) -> Self {
        Self(SignedDuration::from_secs(hours * HOUR))
    }

    /// `minutes` minutes.
    pub const fn minutes(minutes: i64) -> Self {
        Self(SignedDuration::from_secs(minutes * MINUTE))
    }

    /// `seconds` seconds.
    pub const fn seconds(seconds: i64) -> Self {
        Self(SignedDuration::from_secs(seconds))
    }

    /// The span in whole seconds.
    pub const fn as_secs(self) -> i64 {
        self.0.as_secs()
    }

    /// The jiff duration.
    pub fn as_jiff(self) -> SignedDuration {
        self.0
    }

    /// Whether the span is zero or negative.
    pub fn is_zero_or_negative(self) -> bool {
        self.as_secs() <= 0
    }

    /// Parses the policy's durations: a whole number and `d`, `h` or `m`
    /// (`20d`, `36h`, `90m`), nothing else. (jiff's friendly format reads
    /// far more — `1 day 2h`, fractions, weeks — which the policy does not
    /// allow, so the few lines of this grammar are graphform's own.)
    pub fn parse_policy(text: &str) -> Option<Self> {
        let unit = text.chars().last()?;
        let number = text.get(..text.len() - unit.len_utf8())?;
        if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let value: i64 = number.parse().ok()?;
        let per = match unit {
            'd' => DAY,
            'h' => HOUR,
            'm' => MINUTE,
            _ => return None,
        };
        let seconds = value.checked_mul(per)?;
        // jiff's spans reach far beyond any policy; keep within them.
        (seconds <= SignedDuration::MAX.as_secs()).then(|| Self::seconds(seconds))
    }

    /// A short rounded-down form for messages: `12d` (from two days),
    /// `25h` (from two hours), else minutes; negative spans read `0m`.
    pub fn human(self) -> String {
        let seconds = self.as_secs().max(0);
        if seconds >= 2 * DAY {
            format!("{}d", seconds / DAY)
        } else if seconds >= 2 * HOUR {
            format!("{}h", seconds / HOUR)
        } else {
            format!("{}m", seconds / MINUTE)
        }
    }
}

impl fmt::Display for Duration {
    /// The largest unit that divides it evenly, as the policy writes it:
    /// `20d`, `36h`, `90m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.as_secs();
        if seconds != 0 && seconds % DAY == 0 {
            write!(f, "{}d", seconds / DAY)
        } else if seconds != 0 && seconds % HOUR == 0 {
            write!(f, "{}h", seconds / HOUR)
        } else if seconds % MINUTE == 0 {
            write!(f, "{}m", seconds / MINUTE)
        } else {
            write!(f, "{seconds}s")
        }
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Duration {
    /// As the policy writes it: `20d`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_moments() {
        // date -u -d @1795361405 → Sun Nov 22 15:30:05 UTC 2026
        let at = Timestamp::from_unix(1_795_361_405);
        assert_eq!(at.to_string(), "2026-11-22 15:30 UTC");
        assert_eq!(at.date().to_string(), "2026-11-22");
        assert_eq!(at.rfc3339().to_string(), "2026-11-22T15:30:05Z");
        assert_eq!(
            at.strftime("%Y%m%dT%H%M%SZ").to_string(),
            "20261122T153005Z"
        );
        assert_eq!(
            Timestamp::from_unix(951_782_400).date().to_string(),
            "2000-02-29"
        );
        assert_eq!(Timestamp::from_unix(0).to_string(), "1970-01-01 00:00 UTC");
        assert_eq!(
            Timestamp::from_unix(-86_400).date().to_string(),
            "1969-12-31"
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-22T15:30:05.123456Z"),
            Some(at)
        );
    }

    #[test]
    fn arithmetic_saturates_and_serializes_as_seconds() {
        let at = Timestamp::from_unix(1_000);
        assert_eq!((at + Duration::minutes(1)).unix(), 1_060);
        assert_eq!((at - Duration::seconds(10)).unix(), 990);
        assert_eq!((at - Timestamp::from_unix(400)).as_secs(), 600);
        assert_eq!(
            (Timestamp::from_unix(i64::MAX) + Duration::days(1)).unix(),
            jiff::Timestamp::MAX.as_second()
        );
        assert_eq!(serde_json::to_string(&at).unwrap(), "1000");
        assert_eq!(serde_json::from_str::<Timestamp>("1000").unwrap(), at);
    }

    #[test]
    fn policy_durations_parse_and_print_in_their_largest_unit() {
        assert_eq!(Duration::parse_policy("20d"), Some(Duration::days(20)));
        for (text, shown) in [("36h", "36h"), ("48h", "2d"), ("0m", "0m"), ("90m", "90m")] {
            assert_eq!(
                Duration::parse_policy(text)
                    .map(|d| d.to_string())
                    .as_deref(),
                Some(shown)
            );
        }
        for bad in [
            "",
            "d",
            "20",
            "20 d",
            "-1d",
            "1.5d",
            "20w",
            "+3d",
            "99999999999999999999d",
            "2é",
        ] {
            assert_eq!(Duration::parse_policy(bad), None, "{bad}");
        }
    }

    #[test]
    fn human_durations_round_down() {
        assert_eq!(Duration::seconds(12 * DAY + 5).human(), "12d");
        assert_eq!(Duration::seconds(DAY + HOUR).human(), "25h");
        assert_eq!(Duration::minutes(90).human(), "90m");
        assert_eq!(Duration::seconds(-5).human(), "0m");
    }
}
