//! Calendar dates of Unix times, in UTC, without a date library: plans,
//! store metadata, `SigV4` signing and the emulator all print dates, and they must
//! agree.

/// A Unix time broken down into its UTC calendar date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    /// The (proleptic Gregorian) year.
    pub year: i64,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
    /// 0–23.
    pub hour: u32,
    /// 0–59.
    pub minute: u32,
    /// 0–59.
    pub second: u32,
}

impl Utc {
    /// The calendar date and time of `unix` (seconds since 1970-01-01
    /// 00:00 UTC; negative is before).
    pub fn from_unix(unix: i64) -> Self {
        let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
        let seconds = u32::try_from(unix.rem_euclid(86_400)).expect("less than a day fits");
        Self {
            year,
            month,
            day,
            hour: seconds / 3_600,
            minute: seconds % 3_600 / 60,
            second: seconds % 60,
        }
    }
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("a day of the month");
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("a month");
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // date -u -d @0, @951782400, @1795361405, @-86400
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(
            Utc::from_unix(951_782_400),
            Utc {
                year: 2000,
                month: 2,
                day: 29,
                hour: 0,
                minute: 0,
                second: 0
            }
        );
        assert_eq!(
            Utc::from_unix(1_795_361_405),
            Utc {
                year: 2026,
                month: 11,
                day: 22,
                hour: 15,
                minute: 30,
                second: 5
            }
        );
    }
}
