//! The randomized model-based test of apply's safety (issue 10).
//!
//! A seeded sequence of steps runs against the in-process emulator and a
//! real file store: applies (alone, two at once, or killed before a
//! mutation), out-of-band revokes, uninstalls and renames, clock moves,
//! and network faults on the next mutation (a gateway's 200 page, a
//! gateway's 5xx before or after the call ran, a lost answer, a transient
//! Graph error). After every step the accounting invariant is checked:
//!
//! - every valid token of a managed system user is in the store (current
//!   or previous), or is covered by a warning of the next plan naming its
//!   system user (one possibly orphaned token per warning);
//! - no stored current token was revoked by graphform (`/oauth/revoke`):
//!   nothing is revoked before its replacement is stored.
//!
//! `GRAPHFORM_MODEL_SEED=<n>` replays one run (the seed is printed on
//! failure); `GRAPHFORM_MODEL_STEPS` changes the number of steps (200 by
//! default). A kill parks the applying thread for good before its n-th
//! mutation, exactly like a SIGKILL there: nothing after that point runs.

mod support;

use support::{ADMIN_USER, APP, Quiet, client, credentials};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use graphform_emulator::Emulator;
use graphform_engine::apply::{ApplyContext, ApplyOptions, Approval, Failpoint, Outcome, apply};
use graphform_engine::observe::observe;
use graphform_engine::{NoticeKind, NoticeLevel, PlanOptions, plan};
use graphform_graph::{RetryPolicy, Secret};
use graphform_store::{FileStore, Store as _, generate_identity};
use graphform_types::Timestamp;
use serde_json::{Value, json};

const USERS: [&str; 2] = ["alpha", "beta"];
const MUTATION_ENDPOINTS: [&str; 5] = [
    "POST /{system-user-id}/access_tokens",
    "GET /oauth/access_token",
    "GET /oauth/revoke",
    "POST /{system-user-id}/applications",
    "POST /{business-id}/system_users",
];

/// `SplitMix64`: a seeded generator, so a seed replays the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let index = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        &items[index]
    }
}

/// Two system users, each with a 60-day token and a rotated never-expiring
/// one.
fn spec() -> graphform_spec::Spec {
    let mut users = String::new();
    for user in USERS {
        let _ = write!(
            users,
            "      - name: {user}\n        apps: [app]\n        tokens:\n\
             \x20         - {{ name: reads, app: app, scopes: [ads_read], refresh_before: 20d, grace: 1d }}\n\
             \x20         - {{ name: ops, app: app, scopes: [ads_management], expiry: never, rotate_every: 7d, grace: 1d }}\n"
        );
    }
    support::policy(&users)
}

/// How one apply ended.
#[derive(Debug)]
#[expect(
    dead_code,
    reason = "the fields are read through Debug, in the step history"
)]
enum Ended {
    Ran { failed: usize },
    Refused(String),
    Killed,
}

struct Model {
    runtime: tokio::runtime::Runtime,
    emulator: Emulator,
    base_url: String,
    http: reqwest::Client,
    spec: Arc<graphform_spec::Spec>,
    store_dir: tempfile::TempDir,
    key: Secret,
    renames: u64,
}

impl Model {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let emulator = runtime
            .block_on(Emulator::start(support::world(5)))
            .expect("emulator");
        let store_dir = tempfile::tempdir().expect("tempdir");
        let (key, _recipient) = generate_identity();
        Self {
            base_url: emulator.base_url(),
            runtime,
            emulator,
            http: reqwest::Client::new(),
            spec: Arc::new(spec()),
            store_dir,
            key,
            renames: 0,
        }
    }

    fn store(&self) -> FileStore {
        FileStore::with_identity(self.store_dir.path(), &self.key).expect("store")
    }

    fn control(&self, method: reqwest::Method, path: &str, body: &Value) -> Value {
        let url = format!("{}/_emulator/{path}", self.base_url);
        self.runtime.block_on(async {
            let response = self
                .http
                .request(method, url)
                .json(body)
                .send()
                .await
                .expect("control call");
            let status = response.status();
            let value: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{path}: {status} {value}");
            value
        })
    }

    /// Starts an apply on its own thread; `kill_at` parks that thread for
    /// good right before its n-th mutation.
    fn start_apply(&self, kill_at: Option<u64>, invalidate: bool) -> mpsc::Receiver<Ended> {
        let (sender, receiver) = mpsc::channel();
        let spec = Arc::clone(&self.spec);
        let base_url = self.base_url.clone();
        let dir = self.store_dir.path().to_owned();
        let key = self.key.clone();
        let now = self.emulator.now();
        let killed = sender.clone();
        std::thread::spawn(move || {
            let failpoint: Option<(u64, Failpoint)> = kill_at.map(|n| {
                let hook: Failpoint = Arc::new(move |_| {
                    let _ = killed.send(Ended::Killed);
                    loop {
                        std::thread::park();
                    }
                });
                (n, hook)
            });
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let store = FileStore::with_identity(&dir, &key).expect("store");
            let client = client(&base_url, RetryPolicy::default());
            let credentials = credentials();
            let context = ApplyContext {
                spec: &spec,
                client: &client,
                store: &store,
                credentials: &credentials,
                now: Timestamp::from_unix(now),
            };
            let options = ApplyOptions {
                failpoint,
                plan: PlanOptions {
                    invalidate_orphaned: invalidate,
                    ..PlanOptions::default()
                },
                ..ApplyOptions::default()
            };
            let ended = match runtime.block_on(apply(&context, Approval::Auto, &options, &Quiet)) {
                Ok(report) => Ended::Ran {
                    failed: report
                        .outcomes
                        .iter()
                        .filter(|(_, o)| !matches!(o, Outcome::Done { .. }))
                        .count(),
                },
                Err(error) => Ended::Refused(error.to_string()),
            };
            let _ = sender.send(ended);
        });
        receiver
    }

    fn wait(receiver: &mpsc::Receiver<Ended>) -> Ended {
        receiver
            .recv_timeout(Duration::from_mins(2))
            .expect("apply ended or was killed within 2 minutes")
    }

    /// After a kill the lease is left behind by a thread that never runs
    /// again: the operator's `graphform unlock`.
    fn unlock(&self) {
        self.runtime.block_on(async {
            let held = self.store().read_lease().await.expect("read the lease");
            if let Some(held) = held {
                self.store().break_lease(&held.id).await.expect("unlock");
            }
        });
    }

    fn inject_next(&self, rng: &mut Rng) -> String {
        let endpoint = *rng.pick(&MUTATION_ENDPOINTS);
        let fault = match rng.below(5) {
            0 => json!({ "fault": "gateway_page" }),
            1 => json!({ "fault": "gateway_error", "status": 503 }),
            2 => json!({ "fault": "gateway_error_after_call", "status": 504 }),
            3 => json!({ "fault": "lost_answer" }),
            _ => {
                json!({ "fault": "custom", "status": 200, "content_type": "application/json", "body": "{}", "run_call": true })
            }
        };
        let mut request = fault.clone();
        request["endpoint"] = json!(endpoint);
        self.control(reqwest::Method::POST, "faults/next", &request);
        format!("{} on {endpoint}", fault["fault"])
    }

    fn tokens(&self) -> serde_json::Map<String, Value> {
        self.control(reqwest::Method::GET, "state", &Value::Null)["tokens"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// The accounting invariant (see the module's doc).
    fn check(&self, step: usize, what: &str) {
        self.control(reqwest::Method::DELETE, "faults/next", &Value::Null);
        self.control(reqwest::Method::DELETE, "faults", &Value::Null);
        let store = self.store();
        let reader = client(&self.base_url, RetryPolicy::default());
        let credentials = credentials();
        let (state, stored_current, stored_all) = self.runtime.block_on(async {
            let state = observe(&self.spec, &reader, &store, &credentials)
                .await
                .expect("observe");
            let mut current = BTreeSet::new();
            let mut all = BTreeSet::new();
            for address in store.list_tokens().await.expect("list") {
                let record = store
                    .read_token(&address)
                    .await
                    .expect("read")
                    .expect("record")
                    .value;
                current.insert(record.current.metadata.fingerprint.to_string());
                all.insert(record.current.metadata.fingerprint.to_string());
                if let Some(previous) = record.previous {
                    all.insert(previous.token.metadata.fingerprint.to_string());
                }
            }
            (state, current, all)
        });
        let plan = plan(
            &self.spec,
            &state,
            Timestamp::from_unix(self.emulator.now()),
            &PlanOptions::default(),
        );
        let meta = self.control(reqwest::Method::GET, "state", &Value::Null);
        let mut managed: BTreeSet<String> = state.document.system_users.values().cloned().collect();
        for user in meta["system_users"].as_array().into_iter().flatten() {
            if USERS.contains(&user["name"].as_str().unwrap_or_default()) {
                managed.insert(user["id"].as_str().unwrap_or_default().to_owned());
            }
        }
        for token in state.tokens.values() {
            managed.insert(token.current.metadata.system_user_id.clone());
        }
        managed.remove(ADMIN_USER);
        let warnings: Vec<&str> = plan
            .notices
            .iter()
            .filter(|n| n.level == NoticeLevel::Warning && n.kind == NoticeKind::PossiblyOrphaned)
            .map(|n| n.message.as_str())
            .collect();
        let mut unstored: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let tokens = meta["tokens"].as_object().cloned().unwrap_or_default();
        for (fingerprint, token) in &tokens {
            let user = token["system_user_id"].as_str().unwrap_or_default();
            if token["valid"] == Value::Bool(true)
                && managed.contains(user)
                && !stored_all.contains(fingerprint)
            {
                unstored
                    .entry(user.to_owned())
                    .or_default()
                    .push(fingerprint.clone());
            }
            let why = token["why"].as_str().unwrap_or_default();
            assert!(
                !(stored_current.contains(fingerprint)
                    && why.starts_with("revoked via /oauth/revoke")),
                "step {step} ({what}): graphform revoked {fingerprint}, the store's current token"
            );
        }
        for (user, fingerprints) in &unstored {
            let covered = warnings
                .iter()
                .filter(|w| w.contains(user.as_str()))
                .count();
            assert!(
                fingerprints.len() <= covered,
                "step {step} ({what}): system user {user} has {} valid token(s) the store does not hold and only {covered} warning(s) name it: {fingerprints:?}\nwarnings: {warnings:#?}\njournal: {:#?}\ntokens: {:#?}",
                fingerprints.len(),
                state.document.journal,
                fingerprints.iter().map(|f| &tokens[f]).collect::<Vec<_>>()
            );
        }
    }

    fn step(&mut self, rng: &mut Rng) -> String {
        match rng.below(12) {
            0..=2 => {
                let ended = Self::wait(&self.start_apply(None, false));
                format!("apply: {ended:?}")
            }
            3 => {
                let fault = self.inject_next(rng);
                let ended = Self::wait(&self.start_apply(None, false));
                format!("apply with {fault}: {ended:?}")
            }
            4 => {
                let first = self.start_apply(None, false);
                let second = self.start_apply(None, false);
                let (a, b) = (Self::wait(&first), Self::wait(&second));
                format!("two applies at once: {a:?}, {b:?}")
            }
            5 => {
                let at = 1 + rng.below(12);
                let ended = Self::wait(&self.start_apply(Some(at), false));
                if matches!(ended, Ended::Killed) {
                    self.unlock();
                }
                format!("apply killed before mutation {at}: {ended:?}")
            }
            6 => {
                let ended = Self::wait(&self.start_apply(None, true));
                format!("apply --invalidate-orphaned: {ended:?}")
            }
            7 => {
                let valid: Vec<String> = self
                    .tokens()
                    .into_iter()
                    .filter(|(_, t)| {
                        t["valid"] == Value::Bool(true) && t["system_user_id"] != ADMIN_USER
                    })
                    .map(|(fingerprint, _)| fingerprint)
                    .collect();
                if valid.is_empty() {
                    return "revoke out of band: nothing to revoke".to_owned();
                }
                let fingerprint = rng.pick(&valid).clone();
                self.control(
                    reqwest::Method::POST,
                    "drift/revoke",
                    &json!({ "fingerprint": fingerprint }),
                );
                format!("revoked {fingerprint} out of band")
            }
            8 => {
                let Some(id) = self.managed_user(rng) else {
                    return "uninstall: no system user yet".to_owned();
                };
                let installed =
                    self.control(reqwest::Method::GET, "state", &Value::Null)["installs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|i| i["system_user_id"] == id.as_str() && i["app_id"] == APP);
                if installed {
                    self.control(
                        reqwest::Method::POST,
                        "drift/uninstall",
                        &json!({ "system_user_id": id, "app_id": APP }),
                    );
                }
                format!("uninstalled the app of {id} out of band")
            }
            // At most 4 renames: each one makes apply create a system
            // user, and the app's access level allows 10.
            9 if self.renames < 4 => {
                let Some(id) = self.managed_user(rng) else {
                    return "rename: no system user yet".to_owned();
                };
                self.renames += 1;
                let name = format!("renamed-{}", self.renames);
                self.control(
                    reqwest::Method::POST,
                    "drift/rename",
                    &json!({ "system_user_id": id, "name": name }),
                );
                format!("renamed {id} to {name} out of band")
            }
            _ => {
                let seconds: i64 = match rng.below(4) {
                    0 => 3_600,
                    1 => 86_400 + 60,
                    2 => 7 * 86_400,
                    _ => 41 * 86_400,
                };
                self.emulator.advance_clock(seconds);
                format!("clock +{seconds}s")
            }
        }
    }

    /// The changes a plan would make now: address, action and reason.
    fn pending_changes(&self) -> Vec<String> {
        let state = self
            .runtime
            .block_on(observe(
                &self.spec,
                &client(&self.base_url, RetryPolicy::default()),
                &self.store(),
                &credentials(),
            ))
            .expect("observe");
        plan(
            &self.spec,
            &state,
            Timestamp::from_unix(self.emulator.now()),
            &PlanOptions::default(),
        )
        .changes
        .iter()
        .map(|c| format!("{} {}: {}", c.action.as_str(), c.address, c.reason))
        .collect()
    }

    /// A system user of the policy's names, as Meta lists them now.
    fn managed_user(&self, rng: &mut Rng) -> Option<String> {
        let meta = self.control(reqwest::Method::GET, "state", &Value::Null);
        let ids: Vec<String> = meta["system_users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| USERS.contains(&u["name"].as_str().unwrap_or_default()))
            .filter_map(|u| u["id"].as_str().map(str::to_owned))
            .collect();
        (!ids.is_empty()).then(|| rng.pick(&ids).clone())
    }
}

/// Checks the invariant after `history`'s last step; on failure, says
/// the seed and the last steps.
#[expect(clippy::print_stderr, reason = "the seed to replay a failure with")]
fn checked(model: &Model, history: &[String], step: usize, seed: u64) {
    let what = history.last().map_or("", String::as_str);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.check(step, what)));
    if let Err(panic) = result {
        let recent = &history[history.len().saturating_sub(12)..];
        eprintln!(
            "model test FAILED at step {step} with seed {seed} (replay: GRAPHFORM_MODEL_SEED={seed}); the last steps:\n{recent:#?}"
        );
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn apply_keeps_every_valid_token_accounted_for_under_random_faults_kills_and_drift() {
    let seed = std::env::var("GRAPHFORM_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_secs())
        });
    let steps: usize = std::env::var("GRAPHFORM_MODEL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    eprintln!("model test: seed {seed}, {steps} steps (replay with GRAPHFORM_MODEL_SEED={seed})");
    let mut rng = Rng(seed);
    let mut model = Model::start();
    let mut history = Vec::new();
    let mut outcome_kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for step in 0..steps {
        let what = model.step(&mut rng);
        let kind = what.split(':').next().unwrap_or_default();
        let kind = if kind.starts_with("apply") || kind.starts_with("two") {
            "apply"
        } else {
            "world"
        };
        *outcome_kinds.entry(kind).or_default() += 1;
        history.push(what.clone());
        checked(&model, &history, step, seed);
    }
    // The run must have exercised apply, not only drift.
    assert!(
        outcome_kinds.get("apply").copied().unwrap_or(0) > steps / 4,
        "{outcome_kinds:?}"
    );
    // Once the world stops moving (faults off, orphans invalidated, then
    // plain applies) the invariant still holds, and graphform converges:
    // a few rounds leave nothing to change.
    let mut last = Vec::new();
    for round in 0..5 {
        let ended = Model::wait(&model.start_apply(None, round == 0));
        history.push(format!("after the world stopped moving, apply: {ended:?}"));
        checked(&model, &history, steps + round, seed);
        last = model.pending_changes();
        if last.is_empty() {
            break;
        }
    }
    assert!(
        last.is_empty(),
        "seed {seed}: not converged after 5 applies in a still world: {last:#?}"
    );
}
