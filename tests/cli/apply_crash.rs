//! The crash test of issue 6: `graphform apply` is killed (SIGKILL) right
//! before each of its mutations in turn (`GRAPHFORM_FAILPOINT=N`), then run
//! again. After the kill and after the re-run, the emulator's inspection
//! and the store must agree:
//!
//! - every valid token of a managed system user is held by the store
//!   (current, or previous pending revocation), or is one of the tokens a
//!   `new_token` journal entry of that system user and app may have
//!   produced and nobody stored (one token per entry at most);
//! - no token was revoked while it was the store's current value: every
//!   stored current value is valid, and so is every current value that was
//!   valid before;
//! - no system user was created twice.
//!
//! Then, if `plan` warns of possibly orphaned tokens, the opt-in
//! invalidation (`apply --invalidate-orphaned`) leaves no valid token
//! unaccounted for, and the final `plan --detailed-exitcode` exits 0.
//!
//! Four phases, each a test of its own (they run in parallel): issuing
//! into an empty world, refreshing 45 days later, revoking the replaced
//! tokens once their grace period has ended, and renaming a system user and
//! a token (`renamed_from`) after issuing. Every kill point starts from a
//! world built afresh: a new emulator and store, the earlier phases applied
//! in full.
//!
//! The three tests at the end are regressions of bugs these tests found:
//! a dead `previous` kept after an invalidation, a journal never settled
//! when the plan is empty, and settled mutations missing from the audit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use graphform_engine::document::{IntentKind, StateDocument};
use graphform_engine::observe::read_document;
use graphform_store::{FileStore, Secret, Store as _, generate_identity};
use serde_json::Value;

use crate::common::{EmulatorProcess, control, graphform, request, run, run_until_failpoint};

/// Two system users, two apps, three 60-day tokens, on the emulator's demo
/// world.
const POLICY: &str = r#"version: 1
businesses:
  - name: acme
    id: "100000000000001"
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: "200000000000001", secret_env: REPORTING_APP_SECRET }
      publisher: { id: "200000000000002", secret_env: PUBLISHER_APP_SECRET }
    system_users:
      - name: ci-reporting
        apps: [reporting]
        tokens:
          - { name: insights-read, app: reporting, scopes: [ads_read, read_insights] }
          - { name: ads-manage, app: reporting, scopes: [ads_management] }
      - name: publisher-bot
        apps: [publisher]
        tokens:
          - { name: pages, app: publisher, scopes: [pages_show_list, pages_read_engagement] }
"#;

/// The demo world's business.
const BUSINESS: &str = "100000000000001";
/// The system users the policy manages (`reporting` is `ci-reporting`
/// once renamed).
const MANAGED: [&str; 3] = ["ci-reporting", "reporting", "publisher-bot"];
/// More kill points than this is a runaway loop, not a plan.
const MAX_KILL_POINTS: u64 = 60;
/// How long one `graphform` run may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_mins(1);
const DAY: i64 = 86_400;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// An empty world: create, install, issue.
    Issue,
    /// 45 days later: refresh.
    Refresh,
    /// Past the grace period: revoke the replaced tokens.
    Revoke,
    /// After issuing, the policy renames `ci-reporting` and one of its
    /// tokens (`renamed_from`): rename in Meta, move both records.
    Rename,
}

impl Phase {
    /// The actions of the phase's plan and how many of each.
    fn expected_actions(self) -> BTreeMap<&'static str, usize> {
        match self {
            Self::Issue => BTreeMap::from([("create", 2), ("install", 2), ("issue", 3)]),
            Self::Refresh => BTreeMap::from([("refresh", 3)]),
            Self::Revoke => BTreeMap::from([("revoke", 3)]),
            Self::Rename => BTreeMap::from([("rename", 1), ("move", 2)]),
        }
    }
}

/// One world: an emulator child, a workspace with the policy and an
/// initialized store.
struct Case {
    emulator: EmulatorProcess,
    dir: tempfile::TempDir,
    identity: Secret,
    runtime: tokio::runtime::Runtime,
    /// What happened, for failure messages.
    log: String,
}

/// What the emulator and the store say at one moment.
struct Observed {
    /// `GET /_emulator/state`.
    meta: Value,
    /// Stored values: fingerprint → (address, whether it is the current one).
    held: BTreeMap<String, (String, bool)>,
    /// The intent IDs that produced stored values.
    stored_intents: BTreeSet<String>,
    /// The state document.
    document: StateDocument,
}

impl Observed {
    fn meta_token(&self, fingerprint: &str) -> Option<&Value> {
        self.meta["tokens"].get(fingerprint)
    }

    fn is_valid(&self, fingerprint: &str) -> bool {
        self.meta_token(fingerprint)
            .is_some_and(|t| t["valid"] == Value::Bool(true))
    }

    /// The stored current values Meta says are valid.
    fn valid_currents(&self) -> BTreeSet<String> {
        self.held
            .iter()
            .filter(|(fingerprint, (_, current))| *current && self.is_valid(fingerprint))
            .map(|(fingerprint, _)| fingerprint.clone())
            .collect()
    }

    /// The IDs of the managed system users, by name (several if one was
    /// created twice).
    fn managed_users(&self) -> BTreeMap<String, Vec<String>> {
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for user in self.meta["system_users"].as_array().expect("system users") {
            let name = user["name"].as_str().expect("name");
            if user["business_id"] == BUSINESS && MANAGED.contains(&name) {
                users
                    .entry(name.to_owned())
                    .or_default()
                    .push(user["id"].as_str().expect("id").to_owned());
            }
        }
        users
    }

    /// Valid tokens of managed system users that the store does not hold,
    /// counted by (system user, app), with their fingerprints.
    fn unheld(&self) -> BTreeMap<(String, String), Vec<String>> {
        let ids: BTreeSet<String> = self.managed_users().into_values().flatten().collect();
        let mut unheld: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (fingerprint, token) in self.meta["tokens"].as_object().expect("tokens") {
            let Some(user) = token["system_user_id"].as_str() else {
                continue;
            };
            if token["valid"] == Value::Bool(true)
                && ids.contains(user)
                && !self.held.contains_key(fingerprint)
            {
                let app = token["app_id"].as_str().expect("app").to_owned();
                unheld
                    .entry((user.to_owned(), app))
                    .or_default()
                    .push(fingerprint.clone());
            }
        }
        unheld
    }

    /// Journal entries of token-creating calls whose answer was never
    /// stored and that may have been sent, by (system user, app): each may
    /// account for one token. An entry journaled after another (`after`)
    /// is sent only once the other's token is stored: while the other is
    /// journaled and unstored, it was never sent and accounts for nothing.
    fn possibly_orphaned(&self) -> BTreeMap<(String, String), usize> {
        let journal = &self.document.journal;
        let unstored = |id: &String| !self.stored_intents.contains(id);
        let mut orphaned = BTreeMap::new();
        for intent in journal {
            if let IntentKind::NewToken {
                system_user_id,
                app_id,
                after,
                ..
            } = &intent.kind
                && unstored(&intent.id)
            {
                let never_sent = after.as_ref().is_some_and(|before| {
                    unstored(before) && journal.iter().any(|i| i.id == *before)
                });
                if !never_sent {
                    *orphaned
                        .entry((system_user_id.clone(), app_id.clone()))
                        .or_default() += 1;
                }
            }
        }
        orphaned
    }

    /// A readable account of the world, for failure messages.
    fn describe(&self) -> String {
        let mut text = String::from("Meta's tokens:\n");
        for (fingerprint, token) in self.meta["tokens"].as_object().expect("tokens") {
            let held =
                self.held
                    .get(fingerprint)
                    .map_or("not stored".to_owned(), |(address, current)| {
                        format!(
                            "{} of {address}",
                            if *current { "current" } else { "previous" }
                        )
                    });
            let _ = writeln!(
                text,
                "  {fingerprint} su={} app={} status={} origin={} ({held})",
                token["system_user_id"], token["app_id"], token["status"], token["origin"]
            );
        }
        let _ = writeln!(
            text,
            "journal: {}",
            serde_json::to_string(&self.document.journal).expect("json")
        );
        text
    }
}

impl Case {
    /// A new emulator and a workspace with `policy` and an empty store.
    fn new(policy: &str) -> Self {
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
            log: String::new(),
        }
    }

    fn store_dir(&self) -> PathBuf {
        self.dir.path().join(".graphform/store")
    }

    /// `graphform ARGS` against this case's emulator and store, its clock
    /// set to the emulator's.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = graphform(self.dir.path());
        command
            .args(args)
            .env("GRAPHFORM_STORE_KEY", self.identity.expose())
            .env_remove("GRAPHFORM_FAILPOINT");
        self.emulator.at_its_clock(&mut command);
        command
    }

    /// Runs `graphform ARGS` to completion; its exit code and output.
    fn run(&mut self, args: &[&str]) -> (i32, String) {
        let (code, text) = run(&mut self.command(args));
        let _ = writeln!(self.log, "$ graphform {}\n{text}", args.join(" "));
        (code, text)
    }

    /// `graphform apply --auto-approve`, which must succeed.
    fn apply(&mut self, extra: &[&str]) {
        let mut args = vec!["apply", "--auto-approve"];
        args.extend_from_slice(extra);
        let (code, text) = self.run(&args);
        assert_eq!(code, 0, "apply failed:\n{text}\n{}", self.log);
    }

    /// The plan as JSON.
    fn plan(&mut self) -> Value {
        let (code, text) = run(&mut self.command(&["plan", "--format", "json"]));
        assert_eq!(code, 0, "plan failed:\n{text}\n{}", self.log);
        let json = text
            .split("----- stdout -----\n")
            .nth(1)
            .and_then(|rest| rest.split("----- stderr -----").next())
            .expect("stdout");
        serde_json::from_str(json).expect("a JSON plan")
    }

    /// Moves the emulator's clock.
    fn advance(&mut self, seconds: i64) {
        let answer = request(
            self.emulator.port,
            "POST",
            "/_emulator/clock",
            &format!("{{\"advance_seconds\":{seconds}}}"),
        );
        let _ = writeln!(self.log, "(emulator clock advanced {seconds}s: {answer})");
    }

    /// Builds the world a phase starts from: the earlier phases applied in
    /// full, the clock moved.
    fn prepare(&mut self, phase: Phase) {
        match phase {
            Phase::Issue => {}
            Phase::Refresh => {
                self.prepare(Phase::Issue);
                self.apply(&[]);
                self.advance(45 * DAY);
            }
            Phase::Revoke => {
                self.prepare(Phase::Refresh);
                self.apply(&[]);
                self.advance(DAY + 3600);
            }
            Phase::Rename => {
                self.prepare(Phase::Issue);
                self.apply(&[]);
                let renamed = POLICY
                    .replace(
                        "      - name: ci-reporting\n",
                        "      - name: reporting\n        renamed_from: ci-reporting\n",
                    )
                    .replace(
                        "{ name: insights-read,",
                        "{ name: insights, renamed_from: insights-read,",
                    );
                assert_ne!(renamed, POLICY);
                std::fs::write(self.dir.path().join("graphform.yaml"), renamed).expect("policy");
            }
        }
    }

    /// Runs `graphform apply --auto-approve` with `GRAPHFORM_FAILPOINT=n`;
    /// kills it when it reports the failpoint. Returns whether it did (else
    /// it finished, successfully).
    fn apply_until_failpoint(&mut self, n: u64) -> bool {
        let mut command = self.command(&["apply", "--auto-approve"]);
        let run = run_until_failpoint(&mut command, n, RUN_TIMEOUT).unwrap_or_else(|lines| {
            panic!(
                "apply with failpoint {n} neither reached it nor finished in {RUN_TIMEOUT:?}:\n{}\n{}",
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
        if !run.reached {
            assert!(
                run.status.success(),
                "apply with an unreached failpoint failed ({}):\n{}",
                run.status,
                self.log
            );
        }
        run.reached
    }

    /// Reads the emulator's state and every record of the store.
    fn observe(&self) -> Observed {
        let meta = control(self.emulator.port, "state");
        let store = FileStore::with_identity(self.store_dir(), &self.identity).expect("store");
        self.runtime.block_on(async {
            let mut held = BTreeMap::new();
            let mut stored_intents = BTreeSet::new();
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
                        (address.to_string(), current),
                    );
                    stored_intents.extend(stored.metadata.issued_by.clone());
                }
            }
            // The root and every system user's document, as one view.
            let document = read_document(&store).await.expect("state documents");
            Observed {
                meta,
                held,
                stored_intents,
                document,
            }
        })
    }

    /// The invariants of a crash; `kept` are current values that were
    /// valid earlier and must still be.
    fn check(&self, observed: &Observed, kept: &BTreeSet<String>, when: &str) {
        let context = || format!("{when}\n{}\n{}", observed.describe(), self.log);
        for (name, ids) in observed.managed_users() {
            assert!(
                ids.len() == 1,
                "system user {name} exists {} times: {ids:?}; {}",
                ids.len(),
                context()
            );
        }
        for (fingerprint, (address, current)) in &observed.held {
            assert!(
                observed.meta_token(fingerprint).is_some(),
                "the store holds {fingerprint} ({address}), which Meta never issued; {}",
                context()
            );
            assert!(
                !*current || observed.is_valid(fingerprint),
                "the current value {fingerprint} of {address} is dead: revoked before a replacement was stored; {}",
                context()
            );
        }
        for fingerprint in kept {
            assert!(
                observed.is_valid(fingerprint),
                "{fingerprint}, a valid current value before, is dead now; {}",
                context()
            );
        }
        let orphaned = observed.possibly_orphaned();
        for (key, fingerprints) in observed.unheld() {
            let covered = orphaned.get(&key).copied().unwrap_or(0);
            assert!(
                fingerprints.len() <= covered,
                "system user {} has {} valid token(s) of app {} that the store does not hold ({fingerprints:?}), \
                 and only {covered} journal entr(y/ies) that may account for them; {}",
                key.0,
                fingerprints.len(),
                key.1,
                context()
            );
        }
    }

    /// After the re-run: invalidate what may be orphaned if the plan says
    /// so; then every valid token of a managed system user is stored, and
    /// the plan is empty. Returns what it took.
    fn finish(&mut self, when: &str) -> Finish {
        let plan = self.plan();
        let orphan_warnings = plan["notices"]
            .as_array()
            .expect("notices")
            .iter()
            .filter(|n| n["kind"] == "possibly_orphaned")
            .count();
        let before = self.observe();
        assert_eq!(
            orphan_warnings > 0,
            !before.possibly_orphaned().is_empty(),
            "{when}: the plan's orphan warnings do not match the journal: {plan}\n{}\n{}",
            before.describe(),
            self.log
        );
        if orphan_warnings == 0 {
            self.check_converged(when);
            return Finish::Clean;
        }
        self.apply(&["--invalidate-orphaned"]);
        let after = self.observe();
        let unheld = after.unheld();
        assert!(
            unheld.is_empty(),
            "{when}: after the opt-in invalidation, valid tokens are not stored: {unheld:?}\n{}\n{}",
            after.describe(),
            self.log
        );
        self.check(&after, &BTreeSet::new(), when);
        self.check_converged(when);
        Finish::Invalidated
    }

    /// Every valid token of a managed system user is stored, no journal
    /// entry may stand for an orphan, and the plan is empty.
    fn check_converged(&mut self, when: &str) {
        let observed = self.observe();
        let unheld = observed.unheld();
        assert!(
            unheld.is_empty(),
            "{when}: valid tokens of managed system users are not stored: {unheld:?}\n{}\n{}",
            observed.describe(),
            self.log
        );
        assert!(
            observed.possibly_orphaned().is_empty(),
            "{when}: possibly orphaned entries are left in the journal\n{}\n{}",
            observed.describe(),
            self.log
        );
        self.check(&observed, &BTreeSet::new(), when);
        let (code, text) = self.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(
            code,
            0,
            "{when}: the final plan is not empty:\n{text}\n{}\n{}",
            observed.describe(),
            self.log
        );
    }
}

/// How a kill point's world was brought to convergence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    /// Nothing was possibly orphaned.
    Clean,
    /// The opt-in invalidation was needed.
    Invalidated,
}

/// What a phase's crash loop went through.
#[derive(Debug, Default)]
struct Summary {
    /// Mutations apply made, each a kill point.
    kill_points: u64,
    /// Kill points after which the plan warned of a possibly orphaned
    /// token and the opt-in invalidation ran.
    invalidations: usize,
    /// How long the loop took.
    elapsed: Duration,
}

/// Kills apply before each of its mutations in turn, each time in a world
/// built afresh.
fn crash_at_every_mutation(phase: Phase) -> Summary {
    let started = Instant::now();
    let mut summary = Summary::default();
    for n in 1..=MAX_KILL_POINTS {
        let mut case = Case::new(POLICY);
        case.prepare(phase);
        if n == 1 {
            let plan = case.plan();
            let mut actions: BTreeMap<&str, usize> = BTreeMap::new();
            for change in plan["changes"].as_array().expect("changes") {
                *actions
                    .entry(change["action"].as_str().expect("action"))
                    .or_default() += 1;
            }
            assert_eq!(actions, phase.expected_actions(), "{phase:?}: {plan}");
        }
        let before = case.observe();
        case.check(
            &before,
            &BTreeSet::new(),
            &format!("{phase:?}: before apply"),
        );
        let mut kept = before.valid_currents();

        let killed = case.apply_until_failpoint(n);
        let crashed = case.observe();
        let when = if killed {
            format!("{phase:?}: killed before mutation {n}")
        } else {
            format!("{phase:?}: apply with failpoint {n} finished")
        };
        case.check(&crashed, &kept, &when);
        if !killed {
            assert!(
                crashed.document.journal.is_empty(),
                "{when}: a complete apply left journal entries\n{}",
                crashed.describe()
            );
            case.check_converged(&when);
            summary.kill_points = n - 1;
            summary.elapsed = started.elapsed();
            let changes: usize = phase.expected_actions().values().sum();
            assert!(
                summary.kill_points >= u64::try_from(changes).expect("small"),
                "{phase:?}: every change makes at least one mutation: {summary:?}"
            );
            return summary;
        }
        kept.extend(crashed.valid_currents());

        case.apply(&[]);
        let rerun = case.observe();
        let when = format!("{when}, then applied again");
        case.check(&rerun, &kept, &when);
        match case.finish(&when) {
            Finish::Clean => {}
            Finish::Invalidated => summary.invalidations += 1,
        }
    }
    panic!(
        "{phase:?}: apply still reached failpoint {MAX_KILL_POINTS}; more mutations than this test expects"
    );
}

#[test]
fn apply_killed_while_issuing_into_an_empty_world_loses_no_token() {
    let summary = crash_at_every_mutation(Phase::Issue);
    eprintln!("{summary:?}");
}

#[test]
fn apply_killed_while_refreshing_loses_no_token() {
    let summary = crash_at_every_mutation(Phase::Refresh);
    eprintln!("{summary:?}");
    assert!(summary.invalidations > 0, "{summary:?}");
}

#[test]
fn apply_killed_while_renaming_revokes_and_loses_nothing() {
    // A rename creates no token and revokes none: a copy left by a kill
    // between writing a moved record and deleting the old one is forgotten.
    let summary = crash_at_every_mutation(Phase::Rename);
    eprintln!("{summary:?}");
    assert_eq!(summary.invalidations, 0, "{summary:?}");
}

#[test]
fn apply_killed_while_revoking_replaced_tokens_revokes_no_current_one() {
    // Revocation creates no token: nothing can be orphaned.
    let summary = crash_at_every_mutation(Phase::Revoke);
    eprintln!("{summary:?}");
    assert_eq!(summary.invalidations, 0, "{summary:?}");
}

/// One system user, one token (the quickstart): its apply is one chain of
/// mutations, so a kill point names the same step on every run. Issuing
/// into an empty world: 1 names the system user in the root document, 2
/// journals its creation, 3 creates it, 4 records it and journals the
/// install and the issue, 5 installs, 6 issues, 7 stores the token, 8
/// records both. A refresh: 1 journals it, 2 refreshes, 3 stores the
/// token, 4 records it.
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

#[test]
fn the_plan_is_empty_right_after_the_opt_in_invalidation() {
    let mut case = Case::new(ONE_TOKEN);
    case.prepare(Phase::Refresh);
    // Killed right before the refresh call: its journal entry stays
    // possibly orphaned, and the re-run refreshes, keeping the old value as
    // previous for its grace period.
    assert!(case.apply_until_failpoint(2));
    case.apply(&[]);
    assert_eq!(
        case.finish("Refresh: killed before mutation 2, then applied again"),
        Finish::Invalidated
    );
}

#[test]
fn an_apply_with_nothing_to_do_still_settles_the_journal() {
    // A system user and nothing else: creating it is the whole apply.
    let policy = ONE_TOKEN
        .replace("        apps: [reporting]\n", "")
        .replace(
            "        tokens:\n          - { name: insights-read, app: reporting, scopes: [ads_read, read_insights] }\n",
            "",
        );
    let mut case = Case::new(&policy);
    // Killed before recording the created system user (mutation 4: 1
    // names it at the root, 2 journals, 3 creates): the plan then has
    // nothing to do, and says "the next apply settles it".
    assert!(case.apply_until_failpoint(4));
    case.apply(&[]);
    let plan = case.plan();
    let observed = case.observe();
    assert!(
        observed.document.journal.is_empty()
            && plan["notices"]
                .as_array()
                .expect("notices")
                .iter()
                .all(|n| n["kind"] != "interrupted"),
        "the entry outlives the next apply: {}\n{}\n{}",
        plan["notices"],
        observed.describe(),
        case.log
    );
}

#[test]
fn every_token_a_killed_apply_stored_is_in_the_audit_trail() {
    // Two tokens, issued in one batch.
    let policy = ONE_TOKEN.replace(
        "          - { name: insights-read",
        "          - { name: ads-manage, app: reporting, scopes: [ads_management] }\n          - { name: insights-read",
    );
    let mut case = Case::new(&policy);
    // Killed before the batch's last write (journal entries removed,
    // audit entries added; 6-9 issued and stored both tokens): the tokens
    // are stored, their intents left behind, and the re-run settles them.
    assert!(case.apply_until_failpoint(10));
    case.apply(&[]);
    let observed = case.observe();
    assert!(observed.document.journal.is_empty());
    let audited: BTreeSet<String> = observed
        .document
        .audit
        .iter()
        .filter_map(|entry| entry.after.as_ref().map(ToString::to_string))
        .collect();
    let missing: Vec<&String> = observed
        .held
        .keys()
        .filter(|fingerprint| !audited.contains(*fingerprint))
        .collect();
    assert!(
        missing.is_empty(),
        "stored tokens with no audit entry: {missing:?}\naudit: {:?}\n{}",
        observed.document.audit,
        case.log
    );
}
