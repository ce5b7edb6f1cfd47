//! Injected faults: latency, transient errors, `null` batch items,
//! throttling with usage headers (graph-api.md §6-§8), all decided by a
//! seeded generator so a sequential test sees the same faults every run.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::graph_error::GraphError;
use crate::routes::Endpoint;

/// `POST /_emulator/faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultConfig {
    /// Delay added to each matching HTTP request.
    #[serde(default)]
    pub(crate) latency_ms: u64,
    /// Probability that a matching API call fails with a transient error.
    #[serde(default)]
    pub(crate) transient_error_rate: f64,
    /// Probability that a matching batch operation comes back as `null`
    /// (not executed).
    #[serde(default)]
    pub(crate) batch_null_rate: f64,
    /// Endpoint filter; empty = every endpoint. An entry matches an
    /// endpoint whose name equals or contains it.
    #[serde(default)]
    pub(crate) endpoints: Vec<String>,
    /// Seed of the fault generator.
    #[serde(default)]
    pub(crate) seed: u64,
    /// Code of the transient error: 2 (default, "unexpected error") or 1.
    #[serde(default)]
    pub(crate) transient_code: Option<i64>,
}

/// `X-App-Usage` values, percentages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppUsage {
    #[serde(default)]
    pub(crate) call_count: u64,
    #[serde(default)]
    pub(crate) total_time: u64,
    #[serde(default)]
    pub(crate) total_cputime: u64,
}

/// One `X-Business-Use-Case-Usage` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BusinessUseCaseUsage {
    /// BUC type; default `ads_management`.
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) call_count: u64,
    #[serde(default)]
    pub(crate) total_time: u64,
    #[serde(default)]
    pub(crate) total_cputime: u64,
    #[serde(default)]
    pub(crate) estimated_time_to_regain_access: u64,
}

/// `POST /_emulator/throttle`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThrottleConfig {
    /// 4, 17, 32, 341, 613 or 80000-80014; absent: only set usage headers.
    #[serde(default)]
    pub(crate) code: Option<i64>,
    /// How many API calls to throttle; default 1 when `code` is set.
    #[serde(default)]
    pub(crate) calls: Option<u64>,
    /// Minutes, reported in `X-Business-Use-Case-Usage` by a Business Use
    /// Case throttle (80000-80014); app-level codes do not report it.
    #[serde(default)]
    pub(crate) estimated_time_to_regain_access: Option<u64>,
    /// Overrides the default subcode of the code.
    #[serde(default)]
    pub(crate) subcode: Option<i64>,
    /// Endpoint filter, as for faults.
    #[serde(default)]
    pub(crate) endpoints: Vec<String>,
    /// `X-App-Usage` sent on every (unthrottled) API response from now on.
    #[serde(default)]
    pub(crate) app_usage: Option<AppUsage>,
    /// `X-Business-Use-Case-Usage` entry sent on every (unthrottled) API
    /// response from now on.
    #[serde(default)]
    pub(crate) business_use_case_usage: Option<BusinessUseCaseUsage>,
}

/// The throttle in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ActiveThrottle {
    pub(crate) code: i64,
    pub(crate) subcode: Option<i64>,
    pub(crate) remaining: u64,
    pub(crate) estimated_time_to_regain_access: u64,
    pub(crate) endpoints: Vec<String>,
}

/// Whether `code` is a throttling code the emulator can inject.
pub(crate) fn is_throttle_code(code: i64) -> bool {
    is_app_level_code(code) || is_buc_code(code)
}

/// App-, user-, page- and custom-level throttling: reported in
/// `X-App-Usage`.
fn is_app_level_code(code: i64) -> bool {
    matches!(code, 4 | 17 | 32 | 341 | 613)
}

/// Business Use Case throttling: reported in `X-Business-Use-Case-Usage`.
fn is_buc_code(code: i64) -> bool {
    matches!(code, 80_000..=80_014)
}

/// The subcode Meta documents for a throttling code ([MRL]).
fn default_subcode(code: i64) -> Option<i64> {
    match code {
        4 => Some(1_504_022),
        17 => Some(2_446_079),
        613 => Some(1_487_742),
        _ => None,
    }
}

/// The Business Use Case type of an 800xx code (graph-api.md §6, INFERRED).
fn buc_type(code: i64) -> &'static str {
    match code {
        80_000 => "ads_insights",
        80_001 => "pages",
        80_002 => "instagram",
        80_003 => "custom_audience",
        80_005 => "leadgen",
        80_006 => "messenger",
        80_008 => "whatsapp",
        80_009 => "catalog_management",
        80_014 => "catalog_batch",
        _ => "ads_management",
    }
}

fn matches(filters: &[String], endpoint: Endpoint) -> bool {
    let name = endpoint.name();
    filters.is_empty()
        || filters
            .iter()
            .any(|f| name == f || name.contains(f.as_str()))
}

/// The faults in force.
pub(crate) struct Faults {
    pub(crate) config: FaultConfig,
    rng: StdRng,
    pub(crate) throttle: Option<ActiveThrottle>,
    pub(crate) app_usage: Option<AppUsage>,
    pub(crate) business_use_case_usage: Option<BusinessUseCaseUsage>,
}

/// What a throttled call reports in its headers.
#[derive(Clone, Copy)]
pub(crate) struct ThrottleHit {
    pub(crate) code: i64,
    pub(crate) minutes: u64,
}

impl Faults {
    pub(crate) fn new() -> Self {
        Self {
            config: FaultConfig::default(),
            rng: StdRng::seed_from_u64(0),
            throttle: None,
            app_usage: None,
            business_use_case_usage: None,
        }
    }

    /// Replaces the fault configuration.
    pub(crate) fn configure(&mut self, config: FaultConfig) -> Result<(), String> {
        for (name, rate) in [
            ("transient_error_rate", config.transient_error_rate),
            ("batch_null_rate", config.batch_null_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if config.transient_code.is_some_and(|c| c != 1 && c != 2) {
            return Err("transient_code must be 1 or 2".to_owned());
        }
        self.rng = StdRng::seed_from_u64(config.seed);
        self.config = config;
        Ok(())
    }

    /// Removes latency, transient errors and null items (not throttles).
    pub(crate) fn clear(&mut self) {
        self.config = FaultConfig::default();
        self.rng = StdRng::seed_from_u64(0);
    }

    /// Sets a throttle and/or usage headers.
    pub(crate) fn throttle(&mut self, config: ThrottleConfig) -> Result<(), String> {
        if let Some(code) = config.code {
            if !is_throttle_code(code) {
                return Err(format!(
                    "code {code} is not a throttling code (4, 17, 32, 341, 613, 80000-80014)"
                ));
            }
            self.throttle = Some(ActiveThrottle {
                code,
                subcode: config.subcode.or_else(|| default_subcode(code)),
                remaining: config.calls.unwrap_or(1),
                estimated_time_to_regain_access: config
                    .estimated_time_to_regain_access
                    .unwrap_or(0),
                endpoints: config.endpoints,
            });
        } else if config.calls.is_some() {
            return Err("calls needs a code".to_owned());
        }
        if config.app_usage.is_some() {
            self.app_usage = config.app_usage;
        }
        if config.business_use_case_usage.is_some() {
            self.business_use_case_usage = config.business_use_case_usage;
        }
        Ok(())
    }

    /// Removes the throttle and the usage headers.
    pub(crate) fn clear_throttle(&mut self) {
        self.throttle = None;
        self.app_usage = None;
        self.business_use_case_usage = None;
    }

    pub(crate) fn latency_ms(&self, endpoint: Endpoint) -> u64 {
        if matches(&self.config.endpoints, endpoint) {
            self.config.latency_ms
        } else {
            0
        }
    }

    /// Consumes one throttled call, if a throttle applies to `endpoint`.
    pub(crate) fn take_throttle(
        &mut self,
        endpoint: Endpoint,
    ) -> Option<(GraphError, ThrottleHit)> {
        let throttle = self.throttle.as_mut()?;
        if throttle.remaining == 0 || !matches(&throttle.endpoints, endpoint) {
            return None;
        }
        throttle.remaining -= 1;
        let hit = ThrottleHit {
            code: throttle.code,
            minutes: throttle.estimated_time_to_regain_access,
        };
        let error = GraphError::throttled(throttle.code, throttle.subcode);
        if throttle.remaining == 0 {
            self.throttle = None;
        }
        Some((error, hit))
    }

    /// Rolls for a transient error.
    pub(crate) fn roll_transient(&mut self, endpoint: Endpoint) -> Option<GraphError> {
        let rate = self.config.transient_error_rate;
        if rate <= 0.0 || !matches(&self.config.endpoints, endpoint) {
            return None;
        }
        (self.rng.random::<f64>() < rate)
            .then(|| GraphError::transient(self.config.transient_code.unwrap_or(2)))
    }

    /// Rolls for a `null` batch item.
    pub(crate) fn roll_batch_null(&mut self, endpoint: Endpoint) -> bool {
        let rate = self.config.batch_null_rate;
        rate > 0.0 && matches(&self.config.endpoints, endpoint) && self.rng.random::<f64>() < rate
    }

    /// The usage headers of one API response: those configured; on a
    /// throttled call, the family that matches its code is at 100%
    /// (`X-App-Usage` for 4, 17, 32, 341, 613; `X-Business-Use-Case-Usage`,
    /// with the configured `estimated_time_to_regain_access`, for
    /// 80000-80014) and the other family stays as configured (or absent).
    pub(crate) fn usage_headers(
        &self,
        business_id: Option<&str>,
        hit: Option<ThrottleHit>,
    ) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        let app = match hit {
            Some(hit) if is_app_level_code(hit.code) => Some(AppUsage {
                call_count: 100,
                ..self.app_usage.clone().unwrap_or_default()
            }),
            _ => self.app_usage.clone(),
        };
        if let Some(app) = app {
            headers.push((
                "x-app-usage".to_owned(),
                json!({
                    "call_count": app.call_count,
                    "total_time": app.total_time,
                    "total_cputime": app.total_cputime,
                })
                .to_string(),
            ));
        }
        let buc = match hit {
            Some(hit) if is_buc_code(hit.code) => Some(BusinessUseCaseUsage {
                kind: Some(buc_type(hit.code).to_owned()),
                call_count: 100,
                estimated_time_to_regain_access: hit.minutes,
                ..self.business_use_case_usage.clone().unwrap_or_default()
            }),
            _ => self.business_use_case_usage.clone(),
        };
        if let (Some(buc), Some(business_id)) = (buc, business_id) {
            let entry = json!({
                "type": buc.kind.as_deref().unwrap_or("ads_management"),
                "call_count": buc.call_count,
                "total_cputime": buc.total_cputime,
                "total_time": buc.total_time,
                "estimated_time_to_regain_access": buc.estimated_time_to_regain_access,
                "ads_api_access_tier": "standard_access",
            });
            headers.push((
                "x-business-use-case-usage".to_owned(),
                json!({ business_id: [entry] }).to_string(),
            ));
        }
        headers
    }
}
