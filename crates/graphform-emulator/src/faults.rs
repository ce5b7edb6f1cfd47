//! Injected faults: latency, transient errors, `null` batch items,
//! throttling with usage headers (graph-api.md §6-§8), and network faults
//! (gateway pages and errors, lost answers, custom answers: see
//! [`crate::network`]), at rates decided by a seeded generator, so a
//! sequential test sees the same faults every run, or from a one-shot
//! queue.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::graph_error::GraphError;
use crate::network::{CustomAnswer, FaultQueue, NetworkFault};
use crate::routes::Endpoint;

/// The random faults in force: `POST /_emulator/faults` (and
/// [`crate::Emulator::configure_faults`]). Every rate is a probability
/// between 0 and 1; decisions come from a generator seeded with `seed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Delay added to each matching HTTP request, in milliseconds.
    pub latency_ms: u64,
    /// Probability that a matching API call fails with a transient Graph
    /// error (HTTP 500, code 2 or `transient_code`).
    pub transient_error_rate: f64,
    /// Probability that a matching batch operation comes back as `null`
    /// (not executed).
    pub batch_null_rate: f64,
    /// Probability that a matching HTTP request gets a proxy's HTML page
    /// with HTTP 200, the call not run.
    pub gateway_page_rate: f64,
    /// Probability that a matching HTTP request gets a gateway's 502, 503
    /// or 504 (chosen by the generator), the call not run.
    pub gateway_error_rate: f64,
    /// Probability that a matching HTTP request runs, then gets a
    /// gateway's 502 or 504 instead of its answer.
    pub gateway_error_after_call_rate: f64,
    /// Probability that a matching HTTP request runs, then loses its
    /// answer: the connection is cut after the headers and half the body.
    pub lost_answer_rate: f64,
    /// Probability that a matching HTTP request gets the `custom` answer.
    pub custom_rate: f64,
    /// The answer `custom_rate` sends.
    pub custom: Option<CustomAnswer>,
    /// Endpoint filter; empty = every endpoint. An entry matches an
    /// endpoint whose name equals or contains it.
    pub endpoints: Vec<String>,
    /// Seed of the fault generator.
    pub seed: u64,
    /// Code of the transient error: 2 (default, "unexpected error") or 1.
    pub transient_code: Option<i64>,
}

impl FaultConfig {
    /// The network-fault rates, in the order a roll walks them.
    fn network_rates(&self) -> [(&'static str, f64); 5] {
        [
            ("gateway_page_rate", self.gateway_page_rate),
            ("gateway_error_rate", self.gateway_error_rate),
            (
                "gateway_error_after_call_rate",
                self.gateway_error_after_call_rate,
            ),
            ("lost_answer_rate", self.lost_answer_rate),
            ("custom_rate", self.custom_rate),
        ]
    }
}

/// `X-App-Usage` values, percentages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AppUsage {
    pub(crate) call_count: u64,
    pub(crate) total_time: u64,
    pub(crate) total_cputime: u64,
}

/// One `X-Business-Use-Case-Usage` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct BusinessUseCaseUsage {
    /// BUC type; default `ads_management`.
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) call_count: u64,
    pub(crate) total_time: u64,
    pub(crate) total_cputime: u64,
    pub(crate) estimated_time_to_regain_access: u64,
}

/// `POST /_emulator/throttle`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ThrottleConfig {
    /// 4, 17, 32, 341, 613 or 80000-80014; absent: only set usage headers.
    pub(crate) code: Option<i64>,
    /// How many API calls to throttle; default 1 when `code` is set.
    pub(crate) calls: Option<u64>,
    /// Minutes, reported in `X-Business-Use-Case-Usage` by a Business Use
    /// Case throttle (80000-80014); app-level codes do not report it.
    pub(crate) estimated_time_to_regain_access: Option<u64>,
    /// Overrides the default subcode of the code.
    pub(crate) subcode: Option<i64>,
    /// Endpoint filter, as for faults.
    pub(crate) endpoints: Vec<String>,
    /// `X-App-Usage` sent on every (unthrottled) API response from now on.
    pub(crate) app_usage: Option<AppUsage>,
    /// `X-Business-Use-Case-Usage` entry sent on every (unthrottled) API
    /// response from now on.
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
    /// The one-shot queue of network faults.
    pub(crate) next: FaultQueue,
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
            next: FaultQueue::default(),
        }
    }

    /// Replaces the fault configuration (the one-shot queue stays).
    pub(crate) fn configure(&mut self, config: FaultConfig) -> Result<(), String> {
        let network = config.network_rates();
        for (name, rate) in [
            ("transient_error_rate", config.transient_error_rate),
            ("batch_null_rate", config.batch_null_rate),
        ]
        .into_iter()
        .chain(network)
        {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if network.iter().map(|(_, rate)| rate).sum::<f64>() > 1.0 {
            return Err("the network fault rates must add up to at most 1".to_owned());
        }
        match &config.custom {
            Some(custom) => NetworkFault::Custom(custom.clone()).validate()?,
            None if config.custom_rate > 0.0 => {
                return Err("custom_rate needs a custom answer".to_owned());
            }
            None => {}
        }
        if config.transient_code.is_some_and(|c| c != 1 && c != 2) {
            return Err("transient_code must be 1 or 2".to_owned());
        }
        self.rng = StdRng::seed_from_u64(config.seed);
        self.config = config;
        Ok(())
    }

    /// Removes every random fault (latency, transient errors, null items,
    /// network faults) and the one-shot queue; throttles stay.
    pub(crate) fn clear(&mut self) {
        self.config = FaultConfig::default();
        self.rng = StdRng::seed_from_u64(0);
        self.next.clear();
    }

    /// The network fault for one top-level HTTP request of `endpoint`: the
    /// first queued one for it, else a roll of the configured rates.
    pub(crate) fn take_network(&mut self, endpoint: Endpoint) -> Option<NetworkFault> {
        if let Some(fault) = self.next.take(endpoint) {
            return Some(fault);
        }
        let rates = self.config.network_rates();
        if rates.iter().all(|(_, rate)| *rate <= 0.0) || !matches(&self.config.endpoints, endpoint)
        {
            return None;
        }
        let roll = self.rng.random::<f64>();
        let mut threshold = 0.0;
        let (name, _) = rates.into_iter().find(|(_, rate)| {
            threshold += rate;
            roll < threshold
        })?;
        Some(match name {
            "gateway_page_rate" => NetworkFault::gateway_page(),
            "gateway_error_rate" => {
                NetworkFault::gateway_error([502, 503, 504][self.rng.random_range(0..3)])
            }
            "gateway_error_after_call_rate" => {
                NetworkFault::gateway_error_after_call([502, 504][self.rng.random_range(0..2)])
            }
            "lost_answer_rate" => NetworkFault::lost_answer(),
            _ => NetworkFault::Custom(self.config.custom.clone()?),
        })
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
