//! Human-readable times and durations for reasons and renderings. No clock
//! is read here.

use graphform_types::date::civil_from_days;

use crate::state::UnixTime;

/// `2026-11-22 15:20 UTC`.
pub fn format_time(at: UnixTime) -> String {
    let days = at.div_euclid(86_400);
    let seconds = at.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60
    )
}

/// `2026-11-22`.
pub fn format_date(at: UnixTime) -> String {
    let (year, month, day) = civil_from_days(at.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

/// A short duration, rounded down to its largest sensible unit: `12d`,
/// `5h`, `30m`, `0m`. Negative durations read as `0m`.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    if seconds >= 2 * 86_400 {
        format!("{}d", seconds / 86_400)
    } else if seconds >= 2 * 3600 {
        format!("{}h", seconds / 3600)
    } else {
        format!("{}m", seconds / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        // date -u -d @1795361400 → Sun Nov 22 15:30:00 UTC 2026
        assert_eq!(format_time(1_795_361_400), "2026-11-22 15:30 UTC");
        assert_eq!(format_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn durations_round_down() {
        assert_eq!(human_duration(12 * 86_400 + 5), "12d");
        assert_eq!(human_duration(86_400 + 3600), "25h");
        assert_eq!(human_duration(90 * 60), "90m");
        assert_eq!(human_duration(-5), "0m");
    }
}
