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

    /// `graphform ARGS` against this case's emulator and store, with the
    /// emulator's clock, no terminal.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = graphform(self.dir.path());
        command
            .args(args)
            .env("GRAPHFORM_STORE_KEY", self.identity.expose())
            .env_remove("GRAPHFORM_FAILPOINT")
            .stdin(Stdio::null());
        self.emulator.at_its_clock(&mut command);
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
            // The root and every system user's document, as one view.
            let document = graphform_engine::observe::read_document(&store)
                .await
                .map(|document| serde_json::to_value(document).expect("JSON"))
                .expect("state documents");
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

mod defects;
