//! Rate-limit usage headers (`X-App-Usage`, `X-Business-Use-Case-Usage`,
//! `X-Ad-Account-Usage`) and the governor that slows the client down
//! before Meta's limit is reached (graph-api.md §7).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

/// How usage readings slow the client down. Percentages are Meta's (the
/// largest of `call_count`, `total_time` and `total_cputime`).
#[derive(Debug, Clone, PartialEq)]
pub struct UsagePolicy {
    /// From this usage on, each request is delayed (default 75 %).
    pub slow_down_at_percent: f64,
    /// From this usage on, the client pauses as if throttled (default
    /// 95 %): for Meta's `estimated_time_to_regain_access` when given,
    /// otherwise for [`pause`](Self::pause).
    pub pause_at_percent: f64,
    /// The delay just below `pause_at_percent`; it grows linearly from zero
    /// at `slow_down_at_percent` (default 10 s).
    pub max_slow_down: Duration,
    /// The pause when Meta gives no estimate (default 60 s).
    pub pause: Duration,
    /// How long a reading counts (default 5 min): headers appear only once
    /// enough calls were made, so their absence says nothing, and an old
    /// reading must not slow the client forever.
    pub reading_ttl: Duration,
}

impl Default for UsagePolicy {
    fn default() -> Self {
        Self {
            slow_down_at_percent: 75.0,
            pause_at_percent: 95.0,
            max_slow_down: Duration::from_secs(10),
            pause: Duration::from_mins(1),
            reading_ttl: Duration::from_mins(5),
        }
    }
}

/// `X-App-Usage`: `{"call_count":x,"total_time":y,"total_cputime":z}`,
/// percentages of the app's hourly allowance.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AppUsage {
    /// Calls, percent.
    pub call_count: f64,
    /// Total time, percent.
    pub total_time: f64,
    /// CPU time, percent.
    pub total_cputime: f64,
}

impl AppUsage {
    /// The largest of the three percentages.
    pub fn percent(&self) -> f64 {
        self.call_count.max(self.total_time).max(self.total_cputime)
    }
}

/// One entry of `X-Business-Use-Case-Usage`.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessUseCaseUsage {
    /// The business object the usage is counted for.
    pub object_id: String,
    /// The use case (`type`), e.g. `ads_management`.
    pub use_case: String,
    /// Calls, percent.
    pub call_count: f64,
    /// Total time, percent.
    pub total_time: f64,
    /// CPU time, percent.
    pub total_cputime: f64,
    /// How long until calls are allowed again (Meta sends minutes).
    pub estimated_time_to_regain_access: Option<Duration>,
}

impl BusinessUseCaseUsage {
    /// The largest of the three percentages.
    pub fn percent(&self) -> f64 {
        self.call_count.max(self.total_time).max(self.total_cputime)
    }
}

/// The usage headers of one response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageReport {
    /// `X-App-Usage`.
    pub app: Option<AppUsage>,
    /// `X-Business-Use-Case-Usage`, every entry.
    pub business: Vec<BusinessUseCaseUsage>,
    /// `X-Ad-Account-Usage` `acc_id_util_pct`.
    pub ad_account_percent: Option<f64>,
}

impl UsageReport {
    /// Reads the headers; malformed ones are ignored.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        Self {
            app: header("x-app-usage").and_then(parse_app_usage),
            business: header("x-business-use-case-usage")
                .map(parse_business_use_case_usage)
                .unwrap_or_default(),
            ad_account_percent: header("x-ad-account-usage")
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .and_then(|value| value.get("acc_id_util_pct").and_then(lenient_f64)),
        }
    }

    /// Whether no usage header was present.
    pub fn is_empty(&self) -> bool {
        self.app.is_none() && self.business.is_empty() && self.ad_account_percent.is_none()
    }

    /// The highest percentage reported.
    pub fn max_percent(&self) -> Option<f64> {
        let business = self.business.iter().map(BusinessUseCaseUsage::percent);
        self.app
            .map(|app| app.percent())
            .into_iter()
            .chain(business)
            .chain(self.ad_account_percent)
            .reduce(f64::max)
    }

    /// The longest `estimated_time_to_regain_access` reported.
    pub fn regain_access(&self) -> Option<Duration> {
        self.business
            .iter()
            .filter_map(|entry| entry.estimated_time_to_regain_access)
            .max()
    }
}

fn lenient_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn field(object: &Value, key: &str) -> f64 {
    object.get(key).and_then(lenient_f64).unwrap_or(0.0)
}

/// Parses an `X-App-Usage` value.
pub fn parse_app_usage(text: &str) -> Option<AppUsage> {
    let value: Value = serde_json::from_str(text).ok()?;
    value.as_object()?;
    Some(AppUsage {
        call_count: field(&value, "call_count"),
        total_time: field(&value, "total_time"),
        total_cputime: field(&value, "total_cputime"),
    })
}

/// Parses an `X-Business-Use-Case-Usage` value:
/// `{"<object-id>":[{"type":…,"call_count":…,…,"estimated_time_to_regain_access":MINUTES}]}`.
pub fn parse_business_use_case_usage(text: &str) -> Vec<BusinessUseCaseUsage> {
    let Ok(Value::Object(objects)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (object_id, list) in objects {
        // One entry, or a list of them.
        let items = match list {
            Value::Array(items) => items,
            item @ Value::Object(_) => vec![item],
            _ => continue,
        };
        for item in items.iter().filter(|item| item.is_object()) {
            let minutes = item
                .get("estimated_time_to_regain_access")
                .and_then(lenient_f64);
            entries.push(BusinessUseCaseUsage {
                object_id: object_id.clone(),
                use_case: item
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                call_count: field(item, "call_count"),
                total_time: field(item, "total_time"),
                total_cputime: field(item, "total_cputime"),
                estimated_time_to_regain_access: minutes
                    .filter(|minutes| minutes.is_finite() && *minutes > 0.0)
                    .map(|minutes| Duration::from_secs_f64(minutes.min(24.0 * 60.0) * 60.0)),
            });
        }
    }
    entries
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    percent: f64,
    regain: Option<Duration>,
    at: Duration,
}

/// A decision of the governor: wait before the next request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct UsageDelay {
    pub(crate) delay: Duration,
    pub(crate) percent: f64,
    pub(crate) pause: bool,
}

/// Keeps the latest reading per bucket (the app, each business object and
/// use case) and turns the highest into a delay.
#[derive(Debug)]
pub(crate) struct UsageGovernor {
    policy: UsagePolicy,
    readings: Mutex<BTreeMap<String, Reading>>,
}

impl UsageGovernor {
    pub(crate) fn new(policy: UsagePolicy) -> Self {
        Self {
            policy,
            readings: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records a response's headers, read at `now` (clock time), for a call
    /// made with `app_id`'s token.
    pub(crate) fn observe(&self, report: &UsageReport, app_id: Option<&str>, now: Duration) {
        if report.is_empty() {
            return;
        }
        let mut readings = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(app) = report.app {
            readings.insert(
                format!("app:{}", app_id.unwrap_or("?")),
                Reading {
                    percent: app.percent(),
                    regain: None,
                    at: now,
                },
            );
        }
        for entry in &report.business {
            readings.insert(
                format!("business:{}:{}", entry.object_id, entry.use_case),
                Reading {
                    percent: entry.percent(),
                    regain: entry.estimated_time_to_regain_access,
                    at: now,
                },
            );
        }
        if let Some(percent) = report.ad_account_percent {
            readings.insert(
                "ad_account".to_owned(),
                Reading {
                    percent,
                    regain: None,
                    at: now,
                },
            );
        }
    }

    /// Drops the readings at or over the pause threshold: the caller has
    /// just waited out a throttling error, which is the same wait.
    pub(crate) fn forget_blocked(&self) {
        let policy = &self.policy;
        self.readings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, reading| {
                reading.percent < policy.pause_at_percent && reading.regain.is_none()
            });
    }

    /// The highest percentage among the readings still fresh at `now`
    /// (younger than [`UsagePolicy::reading_ttl`]), or `None` when there is
    /// none: no header seen yet says nothing about the usage (graph-api.md
    /// §7). Readings a pause consumed no longer count.
    pub(crate) fn percent(&self, now: Duration) -> Option<f64> {
        self.readings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|reading| self.is_fresh(reading, now))
            .map(|reading| reading.percent)
            .reduce(f64::max)
    }

    fn is_fresh(&self, reading: &Reading, now: Duration) -> bool {
        now.saturating_sub(reading.at) < self.policy.reading_ttl
    }

    /// How long to wait before the next request, if at all. A pause
    /// consumes the readings that caused it: after waiting out Meta's
    /// estimate, the next response tells the new usage.
    pub(crate) fn delay(&self, now: Duration) -> Option<UsageDelay> {
        let policy = &self.policy;
        let mut readings = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        readings.retain(|_, reading| self.is_fresh(reading, now));
        let blocked = |reading: &Reading| {
            reading.percent >= policy.pause_at_percent || reading.regain.is_some()
        };
        let percent = readings
            .values()
            .map(|reading| reading.percent)
            .reduce(f64::max)?;
        if readings.values().any(blocked) {
            let regain = readings
                .values()
                .filter(|reading| blocked(reading))
                .filter_map(|reading| reading.regain)
                .max();
            readings.retain(|_, reading| !blocked(reading));
            return Some(UsageDelay {
                delay: regain.unwrap_or(policy.pause),
                percent,
                pause: true,
            });
        }
        if percent < policy.slow_down_at_percent {
            return None;
        }
        let span = policy.pause_at_percent - policy.slow_down_at_percent;
        let fraction = ((percent - policy.slow_down_at_percent) / span).clamp(0.0, 1.0);
        Some(UsageDelay {
            delay: policy.max_slow_down.mul_f64(fraction),
            percent,
            pause: false,
        })
    }
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    reason = "the percentages compared are small integers, exact in f64"
)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn parses_app_usage() {
        let usage =
            parse_app_usage(r#"{"call_count":28,"total_time":25,"total_cputime":"40"}"#).unwrap();
        assert_eq!(usage.percent(), 40.0);
        assert_eq!(
            parse_app_usage(r#"{"call_count":5}"#).unwrap().percent(),
            5.0
        );
        assert!(parse_app_usage("nonsense").is_none());
        assert!(parse_app_usage("[1]").is_none());
    }

    #[test]
    fn parses_business_use_case_usage() {
        let entries = parse_business_use_case_usage(
            r#"{"112233":[{"type":"ads_management","call_count":95,"total_cputime":20,"total_time":20,
                "estimated_time_to_regain_access":3,"ads_api_access_tier":"standard_access"},
               {"type":"ads_insights","call_count":1,"total_cputime":1,"total_time":1,
                "estimated_time_to_regain_access":0}],
               "445566":{"type":"pages","call_count":"12"}}"#,
        );
        assert_eq!(entries.len(), 3);
        let ads = &entries[0];
        assert_eq!(
            (ads.object_id.as_str(), ads.use_case.as_str()),
            ("112233", "ads_management")
        );
        assert_eq!(ads.percent(), 95.0);
        assert_eq!(ads.estimated_time_to_regain_access, Some(3 * 60 * SECOND));
        assert_eq!(entries[1].estimated_time_to_regain_access, None);
        assert_eq!(entries[2].percent(), 12.0);
        assert!(parse_business_use_case_usage("[]").is_empty());
        assert!(parse_business_use_case_usage("{").is_empty());
    }

    #[test]
    fn report_from_headers() {
        let mut headers = HeaderMap::new();
        assert!(UsageReport::from_headers(&headers).is_empty());
        headers.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":80,"total_time":1,"total_cputime":1}"#),
        );
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(r#"{"1":[{"type":"ads_management","call_count":10,"estimated_time_to_regain_access":2}]}"#),
        );
        headers.insert(
            "x-ad-account-usage",
            HeaderValue::from_static(r#"{"acc_id_util_pct":9.5}"#),
        );
        let report = UsageReport::from_headers(&headers);
        assert_eq!(report.max_percent(), Some(80.0));
        assert_eq!(report.regain_access(), Some(120 * SECOND));
        assert_eq!(report.ad_account_percent, Some(9.5));
    }

    fn app_report(percent: f64) -> UsageReport {
        UsageReport {
            app: Some(AppUsage {
                call_count: percent,
                ..AppUsage::default()
            }),
            ..UsageReport::default()
        }
    }

    #[test]
    fn governor_slows_down_linearly_then_pauses() {
        let governor = UsageGovernor::new(UsagePolicy::default());
        assert_eq!(governor.delay(Duration::ZERO), None);
        governor.observe(&app_report(50.0), Some("1"), Duration::ZERO);
        assert_eq!(governor.delay(Duration::ZERO), None);
        governor.observe(&app_report(85.0), Some("1"), Duration::ZERO);
        let slow = governor.delay(Duration::ZERO).unwrap();
        assert_eq!(slow.delay, 5 * SECOND);
        assert!(!slow.pause);
        // A slow-down does not consume the reading.
        assert_eq!(governor.delay(Duration::ZERO).unwrap().delay, 5 * SECOND);
        governor.observe(&app_report(97.0), Some("1"), Duration::ZERO);
        let pause = governor.delay(Duration::ZERO).unwrap();
        assert_eq!((pause.delay, pause.pause), (60 * SECOND, true));
        // The pause consumed the reading: the next response tells.
        assert_eq!(governor.delay(Duration::ZERO), None);
    }

    #[test]
    fn governor_waits_for_the_regain_estimate_and_forgets_old_readings() {
        let governor = UsageGovernor::new(UsagePolicy::default());
        let report = UsageReport {
            business: parse_business_use_case_usage(
                r#"{"9":[{"type":"ads_management","call_count":40,"estimated_time_to_regain_access":4}]}"#,
            ),
            ..UsageReport::default()
        };
        governor.observe(&report, None, Duration::ZERO);
        let pause = governor.delay(SECOND).unwrap();
        assert_eq!((pause.delay, pause.pause), (240 * SECOND, true));
        governor.observe(&app_report(90.0), Some("1"), Duration::ZERO);
        assert!(governor.delay(SECOND).is_some());
        assert_eq!(governor.delay(Duration::from_secs(301)), None, "expired");
    }

    #[test]
    fn governor_percent_is_the_highest_fresh_reading() {
        let governor = UsageGovernor::new(UsagePolicy::default());
        assert_eq!(governor.percent(Duration::ZERO), None, "no header yet");
        governor.observe(&UsageReport::default(), Some("1"), Duration::ZERO);
        assert_eq!(
            governor.percent(Duration::ZERO),
            None,
            "absence says nothing"
        );
        governor.observe(&app_report(30.0), Some("1"), Duration::ZERO);
        let report = UsageReport {
            business: parse_business_use_case_usage(
                r#"{"9":[{"type":"ads_management","call_count":45}]}"#,
            ),
            ..UsageReport::default()
        };
        governor.observe(&report, None, 60 * SECOND);
        assert_eq!(governor.percent(60 * SECOND), Some(45.0));
        // A later reading of the same bucket replaces the earlier one.
        governor.observe(&app_report(50.0), Some("1"), 120 * SECOND);
        assert_eq!(governor.percent(120 * SECOND), Some(50.0));
        governor.observe(&app_report(10.0), Some("1"), 120 * SECOND);
        assert_eq!(governor.percent(120 * SECOND), Some(45.0));
        // The business reading (60 s) expires before the app's (120 s).
        assert_eq!(governor.percent(361 * SECOND), Some(10.0));
        assert_eq!(
            governor.percent(420 * SECOND),
            None,
            "every reading expired"
        );
    }
}
