//! End-to-end reproductions of the defects of issue 10, as tests of the
//! fixed behaviour: each runs `graphform` (the binary) against a
//! `graphform emulator` child process and a file store.
//!
//! One accounting check is shared by all of them ([`Case::accounting`]):
//!
//! - every valid token of a managed system user (one the policy names,
//!   found by name in the emulator, or any ID recorded in the state
//!   document or in a stored token's metadata) is held by the store
//!   (current or previous), or is named by a warning of the next plan:
//!   by its fingerprint and its system user's ID, or (for a token nobody
//!   ever saw, which has no fingerprint to name) by a warning naming the
//!   system user's ID and no fingerprint, one such warning per token;
//! - no token was revoked while it was the store's current value: every
//!   stored current value is valid in Meta, unless the next plan replaces
//!   or forgets it.
//!
//! The admin credentials graphform is given (`ACME_ADMIN_TOKEN`) are held
//! by the operator, not the store, and are left out of the first rule.
//!
//! graphform reads "now" from `GRAPHFORM_NOW` (Unix seconds) or else the
//! system clock, never from the emulator: every command here sets
//! `GRAPHFORM_NOW` to the emulator's clock (`GET /_emulator/clock`), which
//! ticks in real time from the real time unless moved.
//!
//! `apply_crash.rs` has a similar check (`Observed::check`), which accounts
//! for unstored tokens with the journal rather than with the plan's
//! warnings; this one is written on its own so that it holds whatever the
//! rewrite does with the journal.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use graphform_store::{FileStore, Secret, Store as _, generate_identity};
use serde_json::{Value, json};

use crate::common::{
    EmulatorProcess, control, graphform, raw_request, request, run, run_until_failpoint,
};

/// The demo world's business, apps and admin system user.
const BUSINESS: &str = "100000000000001";
const REPORTING: &str = "200000000000001";
const ADMIN_SYSTEM_USER: &str = "300000000000001";
/// How long one `graphform` run may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_mins(1);
/// More kill points than this, looking for an orphan, is a runaway loop.
const MAX_KILL_POINTS: u64 = 30;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// One system user, one 60-day token.
const ONE_TOKEN: &str = r#"version: 1
businesses:
  - name: acme
    id: "100000000000001"
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: "200000000000001", secret_env: REPORTING_APP_SECRET }
    system_users:
      - name: ci-reporting
        apps: [reporting]
        tokens:
          - { name: insights-read, app: reporting, scopes: [ads_read, read_insights] }
"#;
const ONE_TOKEN_ADDRESS: &str = "acme/ci-reporting/token/insights-read";

/// A world of its own: an emulator child, a workspace with a policy and an
/// initialized file store.
struct Case {
    emulator: EmulatorProcess,
    dir: tempfile::TempDir,
    identity: Secret,
    runtime: tokio::runtime::Runtime,
    /// The system users the policy names.
    managed_names: Vec<String>,
    /// Everything that happened, for failure messages.
    log: String,
}

/// A value the store holds.
#[derive(Clone, Debug)]
struct Held {
    address: String,
    /// The current value (else the previous one).
    current: bool,
    system_user_id: String,
}

/// What the emulator and the store say at one moment, and the plan made
/// then.
struct Books {
    /// Meta's tokens (`GET /_emulator/state`), by fingerprint.
    tokens: serde_json::Map<String, Value>,
    /// The store's values, by fingerprint.
    held: BTreeMap<String, Held>,
    /// The IDs of the managed system users.
    managed: BTreeSet<String>,
    /// The fingerprints of the admin tokens graphform is given.
    credentials: BTreeSet<String>,
    /// The plan's warnings, as `address: message`.
    warnings: Vec<String>,
    /// The plan's changes that act on a stored value: (address, fingerprint).
    replaced: BTreeSet<(String, String)>,
}

impl Books {
    fn is_valid(&self, fingerprint: &str) -> bool {
        self.tokens
            .get(fingerprint)
            .is_some_and(|t| t["valid"] == Value::Bool(true))
    }

    /// Valid tokens of managed system users that the store does not hold
    /// and no warning names.
    fn unaccounted(&self) -> Vec<String> {
        let mut unnamed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (fingerprint, token) in &self.tokens {
            let Some(user) = token["system_user_id"].as_str() else {
                continue;
            };
            if !self.is_valid(fingerprint)
                || !self.managed.contains(user)
                || self.credentials.contains(fingerprint)
                || self.held.contains_key(fingerprint)
            {
                continue;
            }
            let named = self
                .warnings
                .iter()
                .any(|w| w.contains(fingerprint.as_str()) && w.contains(user));
            if !named {
                unnamed.entry(user).or_default().push(fingerprint);
            }
        }
        let mut problems = Vec::new();
        for (user, fingerprints) in unnamed {
            // A token nobody saw has no fingerprint to name: a warning
            // naming its system user and no fingerprint stands for one.
            let orphan_warnings = self
                .warnings
                .iter()
                .filter(|w| w.contains(user) && !w.contains("sha256:"))
                .count();
            if fingerprints.len() > orphan_warnings {
                problems.push(format!(
                    "system user {user} has {} valid token(s) the store does not hold and no warning of the next plan names \
                     ({fingerprints:?}; {orphan_warnings} warning(s) name the system user without a fingerprint)",
                    fingerprints.len()
                ));
            }
        }
        problems
    }

    /// Stored current values that are dead and that the plan does not
    /// replace: revoked while current, or dead unnoticed.
    fn dead_currents(&self) -> Vec<String> {
        self.held
            .iter()
            .filter(|(fingerprint, held)| {
                held.current
                    && !self.is_valid(fingerprint)
                    && !self
                        .replaced
                        .contains(&(held.address.clone(), (*fingerprint).clone()))
            })
            .map(|(fingerprint, held)| {
                format!(
                    "the store's current value {fingerprint} of {} is dead in Meta, and the next plan does not replace it",
                    held.address
                )
            })
            .collect()
    }

    /// A readable account, for failure messages.
    fn describe(&self) -> String {
        let mut text = format!("managed system users: {:?}\nMeta's tokens:\n", self.managed);
        for (fingerprint, token) in &self.tokens {
            let held = self
                .held
                .get(fingerprint)
                .map_or("not stored".to_owned(), |h| {
                    format!(
                        "{} of {}",
                        if h.current { "current" } else { "previous" },
                        h.address
                    )
                });
            let _ = writeln!(
                text,
                "  {fingerprint} su={} app={} status={} origin={} why={} ({held})",
                token["system_user_id"],
                token["app_id"],
                token["status"],
                token["origin"],
                token["why"]
            );
        }
        let _ = writeln!(text, "warnings of the next plan: {:#?}", self.warnings);
        text
    }
}

impl Case {
    fn new(policy: &str, managed_names: &[&str]) -> Self {
        let emulator = EmulatorProcess::start();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("graphform.yaml"), policy).expect("policy");
        let (identity, _) = generate_identity();
        FileStore::init(dir.path().join(".graphform/store"), &identity).expect("store init");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            emulator,
            dir,
            identity,
            runtime,
            managed_names: managed_names.iter().map(ToString::to_string).collect(),
            log: String::new(),
        }
    }

    fn port(&self) -> u16 {
        self.emulator.port
    }

    fn env(&self, name: &str) -> String {
        self.emulator
            .env
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the emulator prints {name}"))
            .1
            .clone()
    }

    fn set_policy(&mut self, policy: &str) {
        std::fs::write(self.dir.path().join("graphform.yaml"), policy).expect("policy");
        let _ = writeln!(self.log, "(policy replaced)");
    }

    /// The emulator's clock.
    fn now(&self) -> i64 {
        control(self.port(), "clock")["now"]
            .as_i64()
            .expect("the emulator's clock")
    }

    /// `graphform ARGS` against this case's emulator and store, with the
    /// emulator's clock, no terminal.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = graphform(self.dir.path());
        command
            .args(args)
            .env("GRAPHFORM_STORE_KEY", self.identity.expose())
            .env("GRAPHFORM_NOW", self.now().to_string())
            .env_remove("GRAPHFORM_FAILPOINT")
            .stdin(Stdio::null());
        for (name, value) in &self.emulator.env {
            command.env(name, value);
        }
        command
    }

    /// Runs `graphform ARGS` to completion; exit code and output.
    fn run(&mut self, args: &[&str]) -> (i32, String) {
        let (code, text) = run(&mut self.command(args));
        let _ = writeln!(self.log, "$ graphform {}\n{text}", args.join(" "));
        (code, text)
    }

    /// `graphform apply --auto-approve EXTRA`, which must succeed (setup).
    fn apply(&mut self, extra: &[&str]) -> String {
        let mut args = vec!["apply", "--auto-approve"];
        args.extend_from_slice(extra);
        let (code, text) = self.run(&args);
        assert_eq!(code, 0, "setup: apply failed:\n{text}\n{}", self.log);
        text
    }

    /// `graphform plan --format json EXTRA`: the plan, or what went wrong.
    fn try_plan(&mut self, extra: &[&str]) -> Result<Value, String> {
        let mut args = vec!["plan", "--format", "json"];
        args.extend_from_slice(extra);
        let output = self.command(&args).output().expect("plan runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let _ = writeln!(
            self.log,
            "$ graphform {}   [exit {:?}]\n{stderr}",
            args.join(" "),
            output.status.code()
        );
        if !output.status.success() {
            return Err(format!(
                "`graphform {}` failed ({}):\n{stdout}{stderr}",
                args.join(" "),
                output.status
            ));
        }
        serde_json::from_str(&stdout).map_err(|e| format!("not a JSON plan ({e}):\n{stdout}"))
    }

    fn plan(&mut self, extra: &[&str]) -> Value {
        match self.try_plan(extra) {
            Ok(plan) => plan,
            Err(error) => panic!("setup: {error}\n{}", self.log),
        }
    }

    /// Moves the emulator's clock.
    fn advance(&mut self, seconds: i64) {
        let answer = request(
            self.port(),
            "POST",
            "/_emulator/clock",
            &json!({ "advance_seconds": seconds }).to_string(),
        );
        let _ = writeln!(self.log, "(emulator clock advanced {seconds}s: {answer})");
    }

    /// Revokes a token out of band.
    fn drift_revoke(&mut self, fingerprint: &str) {
        let answer = request(
            self.port(),
            "POST",
            "/_emulator/drift/revoke",
            &json!({ "fingerprint": fingerprint }).to_string(),
        );
        let _ = writeln!(self.log, "(revoked {fingerprint} out of band: {answer})");
    }

    /// `GET /_emulator/state`.
    fn meta(&self) -> Value {
        control(self.port(), "state")
    }

    /// The IDs of the business's system users named `name`.
    fn system_user_ids(&self, name: &str) -> Vec<String> {
        self.meta()["system_users"]
            .as_array()
            .expect("system users")
            .iter()
            .filter(|u| u["business_id"] == BUSINESS && u["name"] == name)
            .map(|u| u["id"].as_str().expect("id").to_owned())
            .collect()
    }

    fn system_user_id(&self, name: &str) -> String {
        let ids = self.system_user_ids(name);
        assert_eq!(ids.len(), 1, "setup: system users named {name}: {ids:?}");
        ids[0].clone()
    }

    /// A Graph API call made as the business's admin (with its
    /// `appsecret_proof`), as a person in Business Manager would.
    fn graph_post(&mut self, path: &str, params: &[(&str, &str)]) -> Value {
        let token = self.env("ACME_ADMIN_TOKEN");
        let secret = self.env("REPORTING_APP_SECRET");
        let proof = graphform_graph::appsecret_proof(&token, &secret);
        let mut body: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect();
        body.push(format!("access_token={}", form_encode(&token)));
        body.push(format!("appsecret_proof={}", proof.expose()));
        let (status, answer) = raw_request(
            self.port(),
            "POST",
            &format!("/v26.0/{path}"),
            "application/x-www-form-urlencoded",
            &body.join("&"),
        );
        assert_eq!(status, 200, "setup: POST {path}: {answer}");
        let _ = writeln!(self.log, "(Graph API: POST {path} {params:?})");
        serde_json::from_str(&answer).expect("JSON")
    }

    /// Every value the store holds, by fingerprint, and the state document
    /// as JSON.
    fn store(&self) -> (BTreeMap<String, Held>, Value) {
        let store = FileStore::with_identity(self.store_dir(), &self.identity).expect("store");
        self.runtime.block_on(async {
            let mut held = BTreeMap::new();
            for address in store.list_tokens().await.expect("list") {
                let Some(record) = store.read_token(&address).await.expect("read") else {
                    continue;
                };
                let record = record.value;
                let mut values = vec![(&record.current, true)];
                if let Some(previous) = &record.previous {
                    values.push((&previous.token, false));
                }
                for (stored, current) in values {
                    held.insert(
                        stored.value.fingerprint().to_string(),
                        Held {
                            address: address.to_string(),
                            current,
                            system_user_id: stored.metadata.system_user_id.clone(),
                        },
                    );
                }
            }
            let document = match store.read_state().await.expect("state") {
                Some(versioned) => serde_json::from_slice(&versioned.value).expect("document"),
                None => Value::Null,
            };
            (held, document)
        })
    }

    fn store_dir(&self) -> PathBuf {
        self.dir.path().join(".graphform/store")
    }

    /// The fingerprint of the current (or previous) value stored at
    /// `address`.
    fn stored(&self, address: &str, current: bool) -> Option<String> {
        self.store()
            .0
            .into_iter()
            .find(|(_, held)| held.address == address && held.current == current)
            .map(|(fingerprint, _)| fingerprint)
    }

    /// The accounting check (see the module's documentation), with the next
    /// plan; `extra_managed` are IDs to count as managed besides those the
    /// policy and the state document name. Returns every violation.
    fn accounting(&mut self, extra_managed: &[&str]) -> Result<(), String> {
        let books = self.books(extra_managed)?;
        let mut problems = books.unaccounted();
        problems.extend(books.dead_currents());
        if problems.is_empty() {
            return Ok(());
        }
        Err(format!("{}\n{}", problems.join("\n"), books.describe()))
    }

    /// What the emulator and the store say now, and the next plan.
    fn books(&mut self, extra_managed: &[&str]) -> Result<Books, String> {
        let plan = self.try_plan(&[])?;
        let meta = self.meta();
        let (held, document) = self.store();

        let mut managed: BTreeSet<String> = extra_managed.iter().map(ToString::to_string).collect();
        for user in meta["system_users"].as_array().expect("system users") {
            let name = user["name"].as_str().unwrap_or_default();
            if user["business_id"] == BUSINESS && self.managed_names.iter().any(|n| n == name) {
                managed.insert(user["id"].as_str().expect("id").to_owned());
            }
        }
        recorded_system_user_ids(&document, &mut managed);
        managed.extend(held.values().map(|h| h.system_user_id.clone()));
        let credentials = self
            .emulator
            .env
            .iter()
            .filter(|(name, _)| name.ends_with("_ADMIN_TOKEN"))
            .map(|(_, value)| graphform_types::fingerprint(value).to_string())
            .collect();
        let list = |key: &str| plan[key].as_array().cloned().unwrap_or_default();
        let warnings = list("notices")
            .iter()
            .filter(|n| n["level"] == "warning")
            .map(|n| {
                format!(
                    "{}: {}",
                    n["address"].as_str().unwrap_or(""),
                    n["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        let replaced = list("changes")
            .iter()
            .filter_map(|c| {
                Some((
                    c["address"].as_str()?.to_owned(),
                    c["before"]["fingerprint"].as_str()?.to_owned(),
                ))
            })
            .collect();
        Ok(Books {
            tokens: meta["tokens"].as_object().expect("tokens").clone(),
            held,
            managed,
            credentials,
            warnings,
            replaced,
        })
    }

    /// Runs `graphform apply --auto-approve` with `GRAPHFORM_FAILPOINT=n`
    /// and kills it (SIGKILL) when it reports the failpoint. Returns whether
    /// it did (else apply finished, successfully).
    fn apply_until_failpoint(&mut self, n: u64) -> bool {
        let mut command = self.command(&["apply", "--auto-approve"]);
        let run = run_until_failpoint(&mut command, n, RUN_TIMEOUT).unwrap_or_else(|lines| {
            panic!(
                "apply with failpoint {n} hangs:\n{}\n{}",
                lines.join("\n"),
                self.log
            )
        });
        let _ = writeln!(
            self.log,
            "$ GRAPHFORM_FAILPOINT={n} graphform apply --auto-approve   [{}]\n{}",
            if run.reached { "killed" } else { "finished" },
            run.lines.join("\n")
        );
        assert!(
            run.reached || run.status.success(),
            "setup: apply failed:\n{}",
            self.log
        );
        run.reached
    }

    /// Valid tokens of `system_user_id` that Meta issued and the store does
    /// not hold.
    fn unstored_tokens_of(&self, system_user_id: &str) -> Vec<String> {
        let (held, _) = self.store();
        self.meta()["tokens"]
            .as_object()
            .expect("tokens")
            .iter()
            .filter(|(fingerprint, t)| {
                t["system_user_id"] == system_user_id
                    && t["valid"] == Value::Bool(true)
                    && t["origin"] != "world"
                    && !held.contains_key(*fingerprint)
            })
            .map(|(fingerprint, _)| fingerprint.clone())
            .collect()
    }
}

/// A world in which an apply was killed after Meta issued a token for the
/// system user `target` and before graphform stored it: a possibly
/// orphaned token. Kill points are tried in turn, each in a new world, so
/// that the test does not depend on how apply numbers its mutations.
fn orphaned(policy: &str, managed: &[&str], target: &str) -> Case {
    for n in 1..=MAX_KILL_POINTS {
        let mut case = Case::new(policy, managed);
        assert!(
            case.apply_until_failpoint(n),
            "setup: apply never stopped between issuing a token for {target} and storing it:\n{}",
            case.log
        );
        let ids = case.system_user_ids(target);
        if let [id] = ids.as_slice()
            && !case.unstored_tokens_of(id).is_empty()
        {
            let _ = writeln!(
                case.log,
                "(an issued token of {target} is unstored after kill point {n})"
            );
            return case;
        }
    }
    panic!(
        "setup: no kill point up to {MAX_KILL_POINTS} leaves an issued token of {target} unstored"
    );
}

/// The system-user IDs a state document records: the values of its
/// `system_users` map and every `system_user_id` anywhere in it (installs,
/// journal).
fn recorded_system_user_ids(document: &Value, ids: &mut BTreeSet<String>) {
    match document {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("system_user_id", Value::String(id)) => {
                        ids.insert(id.clone());
                    }
                    ("system_users", Value::Object(users)) => {
                        ids.extend(
                            users
                                .values()
                                .filter_map(|v| v.as_str().map(ToOwned::to_owned)),
                        );
                    }
                    _ => recorded_system_user_ids(value, ids),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                recorded_system_user_ids(item, ids);
            }
        }
        _ => {}
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The lines of an apply's output that report `action` of `fingerprint`
/// as done.
fn reported_done<'t>(text: &'t str, action: &str, fingerprint: &str) -> Vec<&'t str> {
    text.lines()
        .filter(|l| l.contains(action) && l.contains("done") && l.contains(fingerprint))
        .collect()
}

// ---------------------------------------------------------------------------

/// A never-expiring token rotated every 2 days, its predecessor revoked an
/// hour after.
const ROTATING: &str = r#"version: 1
businesses:
  - name: acme
    id: "100000000000001"
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: "200000000000001", secret_env: REPORTING_APP_SECRET }
    system_users:
      - name: ci-reporting
        apps: [reporting]
        tokens:
          - { name: insights-read, app: reporting, scopes: [ads_read], expiry: never, rotate_every: 2d, grace: 1h }
"#;

#[test]
fn a_rotated_out_token_is_not_forgotten_when_the_revoke_caller_is_dead() {
    // See: issue 10, defect 1
    let mut case = Case::new(ROTATING, &["ci-reporting"]);
    case.apply(&[]);
    let first = case.stored(ONE_TOKEN_ADDRESS, true).expect("setup: issued");
    case.advance(2 * DAY + 60);
    case.apply(&[]);
    let second = case
        .stored(ONE_TOKEN_ADDRESS, true)
        .expect("setup: rotated");
    assert_eq!(
        case.stored(ONE_TOKEN_ADDRESS, false).as_deref(),
        Some(first.as_str()),
        "setup: the rotated-out token is kept as previous\n{}",
        case.log
    );
    // The replacement dies out of band; the grace of its predecessor ends.
    case.drift_revoke(&second);
    case.advance(HOUR + 60);
    let (_, text) = case.run(&["apply", "--auto-approve"]);

    let mut problems = Vec::new();
    let first_valid = case.meta()["tokens"][&first]["valid"] == Value::Bool(true);
    let claims = reported_done(&text, "revoke", &first);
    if first_valid && !claims.is_empty() {
        problems.push(format!(
            "apply reports the revoke of {first} done, but Meta says it is valid: {claims:?}"
        ));
    }
    if let Err(error) = case.accounting(&[]) {
        problems.push(error);
    }
    assert!(problems.is_empty(), "{}\n{}", problems.join("\n"), case.log);
}

/// `ONE_TOKEN` with a second token.
fn two_tokens() -> String {
    ONE_TOKEN.replace(
        "          - { name: insights-read",
        "          - { name: ads-manage, app: reporting, scopes: [ads_management] }\n          - { name: insights-read",
    )
}

/// Runs two `graphform apply --auto-approve`, the second `offset` after
/// the first; their exit codes and outputs.
fn race(case: &mut Case, offset: Duration) -> Vec<(i32, String)> {
    let spawn = |case: &Case| -> Child {
        case.command(&["apply", "--auto-approve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("apply starts")
    };
    let first = spawn(case);
    std::thread::sleep(offset);
    let second = spawn(case);
    let deadline = Instant::now() + RUN_TIMEOUT;
    [first, second]
        .into_iter()
        .map(|mut child| {
            while child.try_wait().expect("wait").is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let output = child.wait_with_output().expect("output");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (output.status.code().unwrap_or(-1), text)
        })
        .collect()
}

#[test]
fn two_unattended_applies_started_together_lose_no_token() {
    // See: issue 10, defect 3
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for offset_ms in (0..=400).step_by(25) {
        let mut case = Case::new(ONE_TOKEN, &["ci-reporting"]);
        case.apply(&[]);
        // A token is added: both applies plan to issue it.
        case.set_policy(&two_tokens());
        request(
            case.port(),
            "POST",
            "/_emulator/faults",
            r#"{"latency_ms":40}"#,
        );
        let results = race(&mut case, Duration::from_millis(offset_ms));
        request(case.port(), "DELETE", "/_emulator/faults", "");
        for (i, (code, text)) in results.iter().enumerate() {
            let _ = writeln!(
                case.log,
                "$ graphform apply --auto-approve   [#{i}, exit {code}]\n{text}"
            );
            assert!(
                *code == 0 || text.contains("locked"),
                "offset {offset_ms} ms: apply #{i} failed for another reason than the lock:\n{}",
                case.log
            );
        }
        let codes: Vec<i32> = results.iter().map(|(code, _)| *code).collect();
        outcomes.push((offset_ms, codes.clone()));
        if let Err(error) = case.accounting(&[]) {
            panic!(
                "offset {offset_ms} ms (exit codes {codes:?}): {error}\nearlier offsets: {outcomes:?}\n{}",
                case.log
            );
        }
    }
    eprintln!("{outcomes:?} in {:?}", started.elapsed());
}

#[test]
fn an_edited_plan_file_is_refused() {
    // See: issue 10, defect 4
    let mut case = orphaned(ONE_TOKEN, &["ci-reporting"], "ci-reporting");
    // A bystander the policy does not manage, with a token of its own.
    let bystander = case.graph_post(
        &format!("{BUSINESS}/system_users"),
        &[("name", "bystander"), ("role", "EMPLOYEE")],
    )["id"]
        .as_str()
        .expect("an ID")
        .to_owned();
    case.graph_post(
        &format!("{bystander}/applications"),
        &[("business_app", REPORTING)],
    );
    case.graph_post(
        &format!("{bystander}/access_tokens"),
        &[("business_app", REPORTING), ("scope", "ads_read")],
    );

    let (code, text) = case.run(&["plan", "--invalidate-orphaned", "--out", "plan.json"]);
    assert_eq!(code, 0, "setup: {text}");
    let path = case.dir.path().join("plan.json");
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("plan file")).expect("JSON");
    let invalidate = plan["changes"]
        .as_array_mut()
        .expect("changes")
        .iter_mut()
        .find(|c| c["action"] == "invalidate")
        .unwrap_or_else(|| panic!("setup: the plan invalidates nothing: {text}"));
    invalidate["before"]["id"] = json!(bystander);
    std::fs::write(&path, serde_json::to_string_pretty(&plan).expect("JSON")).expect("write");

    let tokens_before = case.meta()["tokens"].clone();
    let (code, text) = case.run(&["apply", "plan.json", "--auto-approve"]);
    let tokens_after = case.meta()["tokens"].clone();

    let mut problems = Vec::new();
    if code == 0 {
        problems.push(format!("apply of the edited plan succeeded:\n{text}"));
    }
    for (fingerprint, token) in tokens_after.as_object().expect("tokens") {
        if token["system_user_id"] == bystander.as_str() && token["valid"] != Value::Bool(true) {
            problems.push(format!(
                "the bystander {bystander}'s token {fingerprint} is {} now ({})",
                token["status"], token["why"]
            ));
        }
    }
    if tokens_after != tokens_before {
        problems.push("Meta's tokens changed".to_owned());
    }
    assert!(problems.is_empty(), "{}\n{}", problems.join("\n"), case.log);
}

/// The policy manages the admin system user whose token graphform acts
/// with.
const MANAGES_ADMIN: &str = r#"version: 1
businesses:
  - name: acme
    id: "100000000000001"
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: "200000000000001", secret_env: REPORTING_APP_SECRET }
    system_users:
      - name: graphform-admin
        role: ADMIN
        apps: [reporting]
        tokens:
          - { name: ops, app: reporting, scopes: [business_management] }
"#;

#[test]
fn invalidating_orphans_of_the_admin_system_user_is_refused() {
    // See: issue 10, defect 8
    let mut case = orphaned(MANAGES_ADMIN, &["graphform-admin"], "graphform-admin");
    let admin = graphform_types::fingerprint(&case.env("ACME_ADMIN_TOKEN")).to_string();
    let mut problems = Vec::new();

    let plan = case.plan(&["--invalidate-orphaned"]);
    let address = "acme/graphform-admin";
    let invalidates = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .any(|c| c["action"] == "invalidate" && c["address"] == address);
    assert!(
        invalidates,
        "setup: the plan invalidates nothing: {plan:#}\n{}",
        case.log
    );
    let said: String = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["address"] == address)
        .map(|c| format!("{} {}", c["reason"], c["drift"]))
        .chain(
            plan["notices"]
                .as_array()
                .expect("notices")
                .iter()
                .map(|n| n["message"].to_string()),
        )
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    if !["acme_admin_token", "admin token", "admin credential"]
        .iter()
        .any(|words| said.contains(words))
    {
        problems.push(format!(
            "the plan does not say that invalidating {address} ({ADMIN_SYSTEM_USER}) kills graphform's admin token (ACME_ADMIN_TOKEN): {said}"
        ));
    }

    let (code, text) = case.run(&["apply", "--invalidate-orphaned", "--auto-approve"]);
    if code == 0 {
        problems.push(format!("apply --invalidate-orphaned succeeded:\n{text}"));
    }
    let claims: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("invalidate") && l.contains("done"))
        .collect();
    if !claims.is_empty() {
        problems.push(format!("apply reports the invalidation done: {claims:?}"));
    }
    let token = &case.meta()["tokens"][&admin];
    if token["valid"] != Value::Bool(true) {
        problems.push(format!(
            "the admin token {admin} (ACME_ADMIN_TOKEN) is {} ({})",
            token["status"], token["why"]
        ));
        let (code, text) = case.run(&["plan"]);
        problems.push(format!("and the next plan exits {code}:\n{text}"));
    } else if let Err(error) = case.accounting(&[]) {
        problems.push(error);
    }
    assert!(problems.is_empty(), "{}\n{}", problems.join("\n"), case.log);
}

/// What must hold once apply ran after the system user `old` (the one the
/// state document records for `ci-reporting`) was renamed in Business
/// Manager: a system user named `ci-reporting` holds the policy's install
/// and token, the next plan is empty, and `old`'s tokens are accounted for.
fn converged_on_the_named_system_user(
    case: &mut Case,
    old: &str,
    apply: (i32, String),
) -> Vec<String> {
    let (code, text) = apply;
    let mut problems = Vec::new();
    if code != 0 {
        problems.push(format!("apply failed:\n{text}"));
    }
    let ids = case.system_user_ids("ci-reporting");
    match ids.as_slice() {
        [new] if new != old => {
            let meta = case.meta();
            let installed = meta["installs"]
                .as_array()
                .expect("installs")
                .iter()
                .any(|i| i["system_user_id"] == new.as_str() && i["app_id"] == REPORTING);
            if !installed {
                problems.push(format!(
                    "the new ci-reporting ({new}) has no install of reporting"
                ));
            }
            let current = case.stored(ONE_TOKEN_ADDRESS, true);
            let owner = current
                .as_ref()
                .map(|fp| meta["tokens"][fp]["system_user_id"].clone());
            if owner != Some(json!(new)) {
                problems.push(format!(
                    "the stored current value of {ONE_TOKEN_ADDRESS} ({current:?}) belongs to system user {owner:?}, \
                     not to the ci-reporting of Business Manager ({new}; the renamed one is {old})"
                ));
            }
        }
        other => problems.push(format!(
            "system users named ci-reporting: {other:?} (the renamed one is {old})"
        )),
    }
    let (code, text) = case.run(&["plan", "--detailed-exitcode"]);
    if code != 0 {
        problems.push(format!("the next plan is not empty (exit {code}):\n{text}"));
    }
    if let Err(error) = case.accounting(&[old]) {
        problems.push(error);
    }
    problems
}

#[test]
fn a_system_user_renamed_in_business_manager_gets_its_tokens_on_the_new_one() {
    // See: issue 10, defect 9
    let mut case = Case::new(ONE_TOKEN, &["ci-reporting"]);
    case.apply(&[]);
    let old = case.system_user_id("ci-reporting");
    case.graph_post(
        &format!("{BUSINESS}/system_users"),
        &[
            ("system_user_id", old.as_str()),
            ("name", "ci-reporting-old"),
        ],
    );
    assert!(
        case.system_user_ids("ci-reporting").is_empty(),
        "setup: renamed"
    );

    let applied = case.run(&["apply", "--auto-approve"]);
    let problems = converged_on_the_named_system_user(&mut case, &old, applied);
    assert!(problems.is_empty(), "{}\n{}", problems.join("\n"), case.log);
}

#[test]
fn a_system_user_renamed_and_recreated_in_business_manager_gets_its_tokens_on_the_new_one() {
    // See: issue 10, defect 9
    // The same, when a person also created a new `ci-reporting` by hand:
    // the plan acts on it (found by name), not on the ID recorded earlier.
    let mut case = Case::new(ONE_TOKEN, &["ci-reporting"]);
    case.apply(&[]);
    let old = case.system_user_id("ci-reporting");
    case.graph_post(
        &format!("{BUSINESS}/system_users"),
        &[
            ("system_user_id", old.as_str()),
            ("name", "ci-reporting-old"),
        ],
    );
    case.graph_post(
        &format!("{BUSINESS}/system_users"),
        &[("name", "ci-reporting"), ("role", "EMPLOYEE")],
    );

    let applied = case.run(&["apply", "--auto-approve"]);
    let problems = converged_on_the_named_system_user(&mut case, &old, applied);
    assert!(problems.is_empty(), "{}\n{}", problems.join("\n"), case.log);
}

// See: issue 10, defect 12. Apply's progress lines and its errors quote
// Meta (an error message, a name): a terminal shows them, never obeys them.
#[test]
fn meta_error_text_in_apply_output_is_escaped_not_obeyed() {
    let mut case = Case::new(ONE_TOKEN, &["ci-reporting"]);
    let hostile = r#"{\"error\":{\"message\":\"\\u001b]0;pwned\\u0007\\u001b[2J\\rgone\",\"type\":\"OAuthException\",\"code\":100}}"#;
    request(
        case.port(),
        "POST",
        "/_emulator/faults/next",
        &format!(
            r#"{{"endpoint":"POST /{{system-user-id}}/access_tokens","fault":"custom","status":400,"content_type":"application/json","body":"{hostile}","run_call":false}}"#
        ),
    );
    let (code, text) = case.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "the issue fails with Meta's error\n{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'),
        "raw control characters reached the terminal:\n{text:?}"
    );
    assert!(text.contains(r"\u{1b}]0;pwned"), "{text}");
}
