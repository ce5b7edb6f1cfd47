//! The CI recipes of `examples/ci/`, run: each job's shell steps, exactly as
//! the files write them and in their order, against the Graph API emulator
//! (see docs/ci.md).
//!
//! What stands in for the CI service:
//!
//! * **A runner.** Each job gets a fresh directory (a checkout holds only the
//!   repository's policy: `examples/ci/graphform.yaml`, plus the tokens a
//!   scenario's pull requests add) and runs its shell steps with `bash --noprofile
//!   --norc -eo pipefail` (GitHub's default shell; GitLab's bash sets the
//!   same), with nothing in the environment but `PATH` (the `graphform` under
//!   test first), `HOME`, the service's own variables, the recipe's `env:` or
//!   `variables:` with each secret replaced by the test's value, and
//!   `GRAPHFORM_GRAPH_URL` pointing at the emulator (in production the
//!   policy's `graph.url`). Files reach a later job only as artifacts.
//! * **The store.** OpenBao (the policy's `vault` store): it outlives a job,
//!   as the store of a pipeline must (a file store on a runner would not).
//! * **GitHub's actions** (`uses:`): each one the recipes use is simulated
//!   (checkout writes the policy, artifacts are copied, the plan comment is
//!   checked for size and kept, the reviewed plan's run is the scenario's);
//!   any other action fails the test. A step's `if:` is evaluated for the
//!   status functions and `steps.ID.outcome` comparisons; anything else
//!   fails the test, and so does `${{ … }}` inside `run:`.
//! * **GitLab's API**: a fake on loopback ([`FakeGitLab`]) serving merge
//!   request notes, pipelines, jobs and job artifacts, which the recipe's
//!   `curl` lines call for real.
//!
//! What is not run, by one explicit rule each, and asserted to be exactly
//! the runner setup so that the rule cannot swallow a real step: GitHub
//! steps whose `id` starts with `runner-only-`, and GitLab's `before_script`
//! under `default:`. Both install graphform (and jq), which the test
//! provides.
//!
//! The nightly and scheduled jobs use `apply --only`; the clock is moved 45
//! days (then 25 hours) on, through the emulator and `GRAPHFORM_NOW`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use graphform_testkit::openbao::OpenBao;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::common::{EmulatorProcess, graphform, repo_root, request, run};

/// GitHub refuses comments longer than this many characters.
const GITHUB_COMMENT_LIMIT: usize = 65_536;
/// The prefix of the GitHub steps the test does not run.
const RUNNER_ONLY: &str = "runner-only-";
/// Those steps, in every GitHub job: caching and installing graphform.
const RUNNER_ONLY_STEPS: [&str; 2] = ["runner-only-cache", "runner-only-install"];
/// GitLab's `default: before_script:` lines the test does not run, by
/// their beginning: installing jq, installing graphform, putting it on PATH.
const GITLAB_SETUP: [&str; 3] = [
    "apt-get update -qq && apt-get install -y -qq jq",
    "test -x .graphform-bin/bin/graphform || cargo install --locked",
    "export PATH=\"$CI_PROJECT_DIR/.graphform-bin/bin:$PATH\"",
];
/// The GitHub plan job's condition: pull requests from this repository.
const SAME_REPOSITORY: &str = "github.event.pull_request.head.repo.full_name == github.repository";
/// 45 days: the quickstart's 60-day tokens are due for a refresh.
const REFRESH_DUE: i64 = 45 * 86_400;
/// 25 hours: the refreshed tokens' predecessors are past their grace.
const GRACE_PASSED: i64 = 25 * 3_600;
/// Two tokens pull requests add to the quickstart's system user.
const ADS_READ: &str = "ads-read";
const INSIGHTS_WEEKLY: &str = "insights-weekly";
/// A token merged to main whose apply waits for review while the nightly
/// runs: maintenance holds its issue.
const HELD: &str = "reports-daily";

// ---------------------------------------------------------------------------
// The recipes' shape: only the keys the test understands; any other key
// (`shell:`, `working-directory:`, `defaults:`, `after_script:`, …) fails
// the test rather than being silently ignored.

/// A GitHub Actions workflow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Workflow {
    #[serde(rename = "name")]
    _name: IgnoredAny,
    #[serde(rename = "on")]
    _on: IgnoredAny,
    #[serde(rename = "permissions")]
    _permissions: IgnoredAny,
    #[serde(rename = "concurrency")]
    _concurrency: IgnoredAny,
    #[serde(default)]
    env: BTreeMap<String, String>,
    jobs: BTreeMap<String, GithubJob>,
}

/// A job of a workflow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GithubJob {
    #[serde(rename = "if")]
    condition: Option<String>,
    #[serde(rename = "runs-on")]
    _runs_on: IgnoredAny,
    #[serde(rename = "timeout-minutes")]
    _timeout: IgnoredAny,
    /// A protected environment: its secrets win over the repository's.
    environment: Option<String>,
    #[serde(rename = "permissions")]
    _permissions: IgnoredAny,
    #[serde(default)]
    env: BTreeMap<String, String>,
    steps: Vec<GithubStep>,
}

/// A step of a job: `run:` or `uses:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GithubStep {
    id: Option<String>,
    name: Option<String>,
    #[serde(rename = "if")]
    condition: Option<String>,
    uses: Option<String>,
    run: Option<String>,
    #[serde(default)]
    with: BTreeMap<String, Value>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// A GitLab CI job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitlabJob {
    #[serde(rename = "stage")]
    _stage: IgnoredAny,
    #[serde(rename = "rules")]
    _rules: IgnoredAny,
    #[serde(rename = "interruptible", default)]
    _interruptible: Option<IgnoredAny>,
    #[serde(rename = "resource_group", default)]
    _resource_group: Option<IgnoredAny>,
    /// A protected environment: its variables win over the project's.
    environment: Option<GitlabEnvironment>,
    script: Vec<String>,
    artifacts: GitlabArtifacts,
}

/// A GitLab job's artifacts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitlabArtifacts {
    paths: Vec<String>,
    when: Option<String>,
    #[serde(rename = "expire_in")]
    _expire_in: IgnoredAny,
}

/// A GitLab job's environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitlabEnvironment {
    #[serde(rename = "name")]
    _name: IgnoredAny,
}

/// `.gitlab-ci.yml`'s `default:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitlabDefault {
    #[serde(rename = "image")]
    _image: IgnoredAny,
    #[serde(rename = "cache")]
    _cache: IgnoredAny,
    before_script: Vec<String>,
}

/// `.gitlab-ci.yml`: its variables, default and jobs.
struct GitlabCi {
    variables: BTreeMap<String, String>,
    default: GitlabDefault,
    jobs: BTreeMap<String, GitlabJob>,
}

fn read_recipe(path: &str) -> String {
    std::fs::read_to_string(repo_root().join("examples/ci").join(path))
        .unwrap_or_else(|e| panic!("examples/ci/{path}: {e}"))
}

fn workflow(name: &str) -> Workflow {
    let path = format!("github/{name}");
    serde_saphyr::from_str(&read_recipe(&path)).unwrap_or_else(|e| {
        panic!("examples/ci/{path} is not a workflow the test understands: {e}")
    })
}

fn gitlab_ci() -> GitlabCi {
    let text = read_recipe("gitlab/.gitlab-ci.yml");
    let document: BTreeMap<String, Value> =
        serde_saphyr::from_str(&text).expect(".gitlab-ci.yml is YAML");
    let mut variables = None;
    let mut default = None;
    let mut jobs = BTreeMap::new();
    for (key, value) in document {
        match key.as_str() {
            "stages" => {}
            "variables" => variables = Some(serde_json::from_value(value).expect("variables")),
            "default" => default = Some(serde_json::from_value(value).expect("default")),
            job => {
                let parsed: GitlabJob = serde_json::from_value(value)
                    .unwrap_or_else(|e| panic!("job `{job}` is not one the test understands: {e}"));
                jobs.insert(job.to_owned(), parsed);
            }
        }
    }
    GitlabCi {
        variables: variables.expect("variables:"),
        default: default.expect("default:"),
        jobs,
    }
}

// ---------------------------------------------------------------------------
// The service around the jobs.

/// Meta (the emulator), the store (OpenBao), the clock, and a log of every
/// step run, for failure messages.
struct Ci {
    emulator: EmulatorProcess,
    bao: OpenBao,
    runtime: tokio::runtime::Runtime,
    /// The store credential of jobs without an environment (plan): it may
    /// only read, as docs/stores.md says plan needs.
    read_token: String,
    /// The credential of the jobs in a protected environment (apply,
    /// maintenance): docs/stores.md's minimal policy.
    write_token: String,
    root: tempfile::TempDir,
    /// The store's prefix in OpenBao.
    prefix: String,
    /// `GRAPHFORM_NOW`, once the emulator's clock was moved.
    now: Option<i64>,
    /// How many directories were handed out.
    dirs: u64,
    /// How many steps ran.
    steps: u64,
    log: String,
}

impl Ci {
    fn start(prefix: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let bao = runtime.block_on(OpenBao::start());
        let read = format!(
            r#"path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}
path "secret/metadata/{prefix}/*" {{ capabilities = ["list"] }}"#
        );
        let write = format!(
            r#"path "secret/data/{prefix}/*" {{ capabilities = ["create", "read", "update"] }}
path "secret/metadata/{prefix}/*" {{ capabilities = ["read", "update", "list"] }}
path "secret/delete/{prefix}/*" {{ capabilities = ["update"] }}
path "secret/destroy/{prefix}/*" {{ capabilities = ["update"] }}"#
        );
        let read_token = runtime.block_on(bao.token_with_policy("graphform-plan", &read));
        let write_token = runtime.block_on(bao.token_with_policy("graphform", &write));
        Self {
            emulator: EmulatorProcess::start(),
            bao,
            runtime,
            read_token: read_token.expose().to_owned(),
            write_token: write_token.expose().to_owned(),
            root: tempfile::tempdir().expect("tempdir"),
            prefix: prefix.to_owned(),
            now: None,
            dirs: 0,
            steps: 0,
            log: String::new(),
        }
    }

    /// The repository's policy: examples/ci/graphform.yaml, its store
    /// this test's OpenBao, with `extra` tokens for its system user.
    fn policy(&self, extra: &[&str]) -> String {
        let example =
            std::fs::read_to_string(repo_root().join("examples/ci/graphform.yaml")).expect("read");
        let store = "  address: https://vault.example.com:8200\n  prefix: graphform\n";
        assert!(example.contains(store), "the example's store: {example}");
        let mut policy = example.replacen(
            store,
            &format!(
                "  address: {}\n  prefix: {}\n",
                self.bao.address(),
                self.prefix
            ),
            1,
        );
        assert!(policy.ends_with("scopes: [ads_read, read_insights]\n"));
        for token in extra {
            let _ = write!(
                policy,
                "          - name: {token}\n            app: reporting\n            scopes: [ads_read]\n"
            );
        }
        policy
    }

    /// The value of the CI secret `name` for a job in a protected
    /// environment (`writes`: the environment's secret wins) or not.
    fn secret(&self, name: &str, writes: bool) -> String {
        match name {
            "VAULT_TOKEN" if writes => self.write_token.clone(),
            "VAULT_TOKEN" => self.read_token.clone(),
            "GRAPHFORM_GITLAB_TOKEN" => "glpat-ci-recipes-test".to_owned(),
            "ACME_ADMIN_TOKEN" | "REPORTING_APP_SECRET" => self.emulator_env(name),
            _ => panic!("no test value for the secret {name}"),
        }
    }

    /// A variable the emulator printed: its URL and the world's
    /// credentials.
    fn emulator_env(&self, name: &str) -> String {
        self.emulator
            .env
            .iter()
            .find(|(variable, _)| variable == name)
            .map_or_else(
                || panic!("the emulator printed no {name}"),
                |(_, value)| value.clone(),
            )
    }

    /// A new empty directory.
    fn dir(&mut self, label: &str) -> PathBuf {
        self.dirs += 1;
        let dir = self.root.path().join(format!("{:02}-{label}", self.dirs));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    /// What every step's environment starts with.
    fn base_env(&self, home: &Path) -> Vec<(String, String)> {
        let path = crate::common::path_with_graphform();
        let url = self.emulator_env("GRAPHFORM_GRAPH_URL");
        let mut env = vec![
            ("PATH".to_owned(), path),
            ("HOME".to_owned(), home.display().to_string()),
            ("CI".to_owned(), "true".to_owned()),
            ("GRAPHFORM_GRAPH_URL".to_owned(), url),
        ];
        if let Some(now) = self.now {
            env.push(("GRAPHFORM_NOW".to_owned(), now.to_string()));
        }
        env
    }

    /// Runs `script` as a step in `workspace`; whether it succeeded.
    fn shell(
        &mut self,
        label: &str,
        workspace: &Path,
        script: &str,
        env: &[(String, String)],
    ) -> bool {
        let file = workspace
            .parent()
            .expect("a job directory")
            .join(format!("step-{}.sh", self.steps));
        self.steps += 1;
        std::fs::write(&file, script).expect("write the step");
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(workspace)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("bash runs");
        let _ = write!(
            self.log,
            "--- {label}: {}\n$ {}\n{}{}",
            output.status,
            script.trim_end(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output.status.success()
    }

    /// `graphform plan --detailed-exitcode` on `policy`, from outside any
    /// job.
    fn plan_exit_code(&mut self, policy: &str) -> i32 {
        let dir = self.dir("check");
        std::fs::write(dir.join("graphform.yaml"), policy).expect("write");
        let mut command = graphform(&dir);
        command
            .args(["plan", "--detailed-exitcode"])
            .env("VAULT_TOKEN", &self.read_token);
        for (name, value) in &self.emulator.env {
            command.env(name, value);
        }
        if let Some(now) = self.now {
            command.env("GRAPHFORM_NOW", now.to_string());
        }
        let (code, text) = run(&mut command);
        let _ = writeln!(
            self.log,
            "--- graphform plan --detailed-exitcode: {code}\n{text}"
        );
        code
    }

    /// Moves Meta's clock and graphform's on by `seconds`.
    fn advance_clock(&mut self, seconds: i64) {
        request(
            self.emulator.port,
            "POST",
            "/_emulator/clock",
            &json!({ "advance_seconds": seconds }).to_string(),
        );
        self.now = Some(self.emulator.now());
    }

    /// The stored value of the token `name` of the quickstart's system user.
    fn stored_token(&self, name: &str) -> String {
        let entry = self.runtime.block_on(self.bao.admin_get(&format!(
            "secret/data/{}/tokens/acme/ci-reporting/token/{name}",
            self.prefix
        )));
        entry["data"]["data"]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no value stored for {name}"))
            .to_owned()
    }

    /// No credential and no stored token value appears in any file the
    /// jobs left (artifacts included) or in anything they printed.
    fn assert_no_secret_anywhere(&self, tokens: &[&str]) {
        let mut secrets: Vec<(String, String)> = vec![
            ("the read token".to_owned(), self.read_token.clone()),
            ("the write token".to_owned(), self.write_token.clone()),
            (
                "the root token".to_owned(),
                self.bao.root_token().expose().to_owned(),
            ),
        ];
        for name in ["ACME_ADMIN_TOKEN", "REPORTING_APP_SECRET"] {
            secrets.push((name.to_owned(), self.secret(name, false)));
        }
        for token in tokens {
            secrets.push(((*token).to_owned(), self.stored_token(token)));
        }
        let mut texts = vec![("the log".to_owned(), self.log.clone())];
        collect_files(self.root.path(), &mut texts);
        for (name, value) in &secrets {
            assert!(value.len() >= 16, "{name} is too short to search for");
            for (file, text) in &texts {
                assert!(
                    !text.contains(value.as_str()),
                    "{file} contains the value of {name}"
                );
            }
        }
    }
}

/// Every file below `dir`, as text.
fn collect_files(dir: &Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_files(&path, found);
        } else {
            let text =
                String::from_utf8_lossy(&std::fs::read(&path).expect("readable")).into_owned();
            found.push((path.display().to_string(), text));
        }
    }
}

/// Replaces `${{ secrets.NAME }}` in an `env:` value (`writes`: in a
/// protected environment); any other expression fails the test.
fn env_value(ci: &Ci, value: &str, writes: bool) -> String {
    if !value.contains("${{") {
        return value.to_owned();
    }
    let name = value
        .trim()
        .strip_prefix("${{")
        .and_then(|v| v.strip_suffix("}}"))
        .map(str::trim)
        .and_then(|v| v.strip_prefix("secrets."))
        .unwrap_or_else(|| panic!("an env: value the test cannot evaluate: {value}"));
    ci.secret(name, writes)
}

/// Copies the named files of `from` into `to`; the names missing.
fn copy_files(from: &Path, to: &Path, names: &[String]) -> Vec<String> {
    std::fs::create_dir_all(to).expect("mkdir");
    let mut missing = Vec::new();
    for name in names {
        assert!(
            !name.contains(['*', '?', '[', '/']),
            "artifact paths are plain file names here: {name}"
        );
        match std::fs::copy(from.join(name), to.join(name)) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(name.clone()),
            Err(e) => panic!("{name}: {e}"),
        }
    }
    missing
}

/// All files of `from`, copied into `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, to.join(path.file_name().expect("a name"))).expect("copy");
    }
    Ok(())
}

fn report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// `(action, status)` of each change of an apply report.
fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A maintenance run's report: it parses, it made at least one `action`,
/// nothing failed, and the one change held for review is the issue of
/// [`HELD`], which the policy has and no reviewed apply made yet.
fn assert_maintained(report: &Value, action: &str) {
    let held = format!("acme/ci-reporting/token/{HELD}");
    let changes = report["changes"].as_array().expect("changes");
    let (skipped, done): (Vec<&Value>, Vec<&Value>) =
        changes.iter().partition(|c| c["status"] == "skipped");
    assert!(
        done.iter().all(|c| c["status"] == "done")
            && done.iter().any(|c| c["action"] == action)
            && skipped.len() == 1
            && skipped[0]["address"] == held.as_str()
            && skipped[0]["action"] == "issue"
            && skipped[0]["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("held for review")),
        "{report:#}"
    );
}

// ---------------------------------------------------------------------------
// GitHub Actions.

/// What started a workflow run.
enum Event {
    /// A pull request from this repository.
    PullRequest(u64),
    /// A merge to main; the reviewed plan is that run's artifact.
    Push { reviewed_run: u64 },
    /// Run by hand with `plan-run-id`.
    Dispatch { plan_run: u64 },
    /// The nightly schedule.
    Schedule,
}

/// A step's outcome, as `steps.ID.outcome` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Skipped,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Skipped => "skipped",
        }
    }
}

/// What a GitHub job did.
struct GithubRun {
    id: u64,
    succeeded: bool,
    /// Each step's label and outcome, in order (the runner-only ones left
    /// out).
    outcomes: Vec<(String, Outcome)>,
    /// `$GITHUB_STEP_SUMMARY`.
    summary: String,
    workspace: PathBuf,
}

impl GithubRun {
    fn outcome(&self, label: &str) -> Outcome {
        self.outcomes
            .iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("no step {label}"))
            .1
    }
}

/// GitHub: runs, their artifacts and the pull requests' comments.
struct GitHub {
    ci: Ci,
    runs: u64,
    artifacts: PathBuf,
    /// The plan comment of each pull request: one each, updated in place.
    comments: BTreeMap<u64, String>,
}

/// A job's state while it runs.
struct Job<'a> {
    event: &'a Event,
    policy: &'a str,
    /// In a protected environment.
    writes: bool,
    run_id: u64,
    workspace: PathBuf,
    failed: bool,
    steps: BTreeMap<String, Outcome>,
    outputs: BTreeMap<String, String>,
}

impl GitHub {
    fn start() -> Self {
        let mut ci = Ci::start("graphform/github");
        let artifacts = ci.dir("github-artifacts");
        Self {
            ci,
            runs: 0,
            artifacts,
            comments: BTreeMap::new(),
        }
    }

    /// Runs the single job of `workflow` for `event`, the repository at
    /// `policy`.
    fn run(&mut self, workflow: &Workflow, event: &Event, policy: &str) -> GithubRun {
        assert_eq!(workflow.jobs.len(), 1, "one job per workflow");
        let (name, job) = workflow.jobs.iter().next().expect("a job");
        if let Some(condition) = &job.condition {
            assert_eq!(
                condition, SAME_REPOSITORY,
                "a job condition the test cannot evaluate"
            );
            assert!(matches!(event, Event::PullRequest(_)));
        }
        self.runs += 1;
        let dir = self.ci.dir(&format!("github-run-{}-{name}", self.runs));
        let (workspace, temp) = (dir.join("workspace"), dir.join("temp"));
        let mut env = self.runner_env(&dir, event);
        let writes = job.environment.is_some();
        for (name, value) in workflow.env.iter().chain(&job.env) {
            env.push((name.clone(), env_value(&self.ci, value, writes)));
        }
        let mut state = Job {
            event,
            policy,
            writes,
            run_id: self.runs,
            workspace,
            failed: false,
            steps: BTreeMap::new(),
            outputs: BTreeMap::new(),
        };
        let mut outcomes = Vec::new();
        let mut runner_only = Vec::new();
        for (index, step) in job.steps.iter().enumerate() {
            let label = step
                .id
                .clone()
                .or_else(|| step.name.clone())
                .or_else(|| step.uses.clone())
                .unwrap_or_else(|| format!("step {index}"));
            if step
                .id
                .as_deref()
                .is_some_and(|id| id.starts_with(RUNNER_ONLY))
            {
                runner_only.push(label);
                continue;
            }
            let outcome = if condition(step.condition.as_deref(), &state) {
                let succeeded = match (&step.uses, &step.run) {
                    (Some(uses), None) => self.action(uses, step, &mut state),
                    (None, Some(script)) => self.run_step(&label, script, step, &env, &state),
                    _ => panic!("{label}: a step has either `uses:` or `run:`"),
                };
                if succeeded {
                    Outcome::Success
                } else {
                    Outcome::Failure
                }
            } else {
                Outcome::Skipped
            };
            state.failed |= outcome == Outcome::Failure;
            if let Some(id) = &step.id {
                state.steps.insert(id.clone(), outcome);
            }
            let _ = writeln!(self.ci.log, "=== {label}: {}", outcome.name());
            outcomes.push((label, outcome));
        }
        assert_eq!(
            runner_only, RUNNER_ONLY_STEPS,
            "the steps the test does not run"
        );
        GithubRun {
            id: state.run_id,
            succeeded: !state.failed,
            outcomes,
            summary: std::fs::read_to_string(temp.join("github_step_summary")).expect("summary"),
            workspace: state.workspace,
        }
    }

    /// [`GitHub::run`], which must succeed.
    fn run_ok(&mut self, workflow: &Workflow, event: &Event, policy: &str) -> GithubRun {
        let run = self.run(workflow, event, policy);
        assert!(run.succeeded, "run {} failed:\n{}", run.id, self.ci.log);
        run
    }

    /// A runner's environment for run `self.runs` in `dir`: its
    /// `workspace` and `temp` directories, the files steps write to, the
    /// event's variables.
    fn runner_env(&self, dir: &Path, event: &Event) -> Vec<(String, String)> {
        let (workspace, temp) = (dir.join("workspace"), dir.join("temp"));
        for d in [&workspace, &temp] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let mut env = self.ci.base_env(dir);
        for file in [
            "GITHUB_STEP_SUMMARY",
            "GITHUB_OUTPUT",
            "GITHUB_ENV",
            "GITHUB_PATH",
        ] {
            let path = temp.join(file.to_lowercase());
            std::fs::write(&path, "").expect("write");
            env.push((file.to_owned(), path.display().to_string()));
        }
        let (event_name, ref_name) = match event {
            Event::PullRequest(number) => ("pull_request", format!("{number}/merge")),
            Event::Push { .. } => ("push", "main".to_owned()),
            Event::Dispatch { .. } => ("workflow_dispatch", "main".to_owned()),
            Event::Schedule => ("schedule", "main".to_owned()),
        };
        for (name, value) in [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_EVENT_NAME", event_name.to_owned()),
            ("GITHUB_REF_NAME", ref_name),
            ("GITHUB_RUN_ID", self.runs.to_string()),
            ("GITHUB_REPOSITORY", "acme/policies".to_owned()),
            ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
            ("GITHUB_WORKSPACE", workspace.display().to_string()),
            ("RUNNER_TEMP", temp.display().to_string()),
        ] {
            env.push((name.to_owned(), value));
        }
        env
    }

    /// A `run:` step; whether it succeeded.
    fn run_step(
        &mut self,
        label: &str,
        script: &str,
        step: &GithubStep,
        job_env: &[(String, String)],
        state: &Job<'_>,
    ) -> bool {
        assert!(
            !script.contains("${{"),
            "{label}: an expression inside `run:` (pass it through `env:`)"
        );
        let mut env = job_env.to_vec();
        for (name, value) in &step.env {
            env.push((name.clone(), env_value(&self.ci, value, state.writes)));
        }
        let succeeded = self.ci.shell(label, &state.workspace, script, &env);
        let temp = state
            .workspace
            .parent()
            .expect("a job directory")
            .join("temp");
        for unsupported in ["github_env", "github_path", "github_output"] {
            let text = std::fs::read_to_string(temp.join(unsupported)).expect("read");
            assert!(
                text.is_empty(),
                "{label} wrote ${unsupported}, which the test does not support"
            );
        }
        succeeded
    }

    /// A `uses:` step, simulated; whether it succeeded.
    fn action(&mut self, uses: &str, step: &GithubStep, state: &mut Job<'_>) -> bool {
        let with = |key: &str| -> Option<String> {
            step.with.get(key).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let result = match uses {
            "actions/checkout@v4" => {
                std::fs::write(state.workspace.join("graphform.yaml"), state.policy)
                    .expect("write");
                Ok(())
            }
            "actions/upload-artifact@v4" => {
                let name = with("name").expect("name");
                let paths: Vec<String> = with("path")
                    .expect("path")
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                let to = self.artifacts.join(state.run_id.to_string()).join(&name);
                assert!(
                    !to.exists(),
                    "artifact {name} uploaded twice in run {}",
                    state.run_id
                );
                let missing = copy_files(&state.workspace, &to, &paths);
                match with("if-no-files-found").as_deref() {
                    Some("error") if !missing.is_empty() => {
                        Err(format!("no {missing:?} to upload"))
                    }
                    Some("error" | "ignore") => Ok(()),
                    other => panic!("if-no-files-found: {other:?}: say `error` or `ignore`"),
                }
            }
            "actions/download-artifact@v4" => {
                assert_eq!(with("github-token").as_deref(), Some("${{ github.token }}"));
                let run_id = expression(&with("run-id").expect("run-id"), &state.outputs);
                let name = with("name").expect("name");
                copy_dir(&self.artifacts.join(run_id).join(&name), &state.workspace)
            }
            "actions/github-script@v7" => self.script(step, state),
            other => panic!("an action the test does not simulate: {other}"),
        };
        result
            .map_err(|e| {
                let _ = writeln!(self.ci.log, "--- {uses}: {e}");
            })
            .is_ok()
    }

    /// The recipes' `actions/github-script` steps, by id.
    fn script(&mut self, step: &GithubStep, state: &mut Job<'_>) -> Result<(), String> {
        let script = step
            .with
            .get("script")
            .and_then(Value::as_str)
            .expect("script");
        match (step.id.as_deref(), state.event) {
            (Some("comment"), Event::PullRequest(number)) => {
                // One comment per pull request, found by its marker.
                let marker = "<!-- graphform-plan -->";
                assert!(script.contains(marker) && script.contains("updateComment"));
                let plan = std::fs::read_to_string(state.workspace.join("plan.md"))
                    .map_err(|e| format!("plan.md: {e}"))?;
                let footer = 200;
                assert!(!plan.trim().is_empty(), "plan.md is empty");
                assert!(
                    marker.len() + plan.chars().count() + footer < GITHUB_COMMENT_LIMIT,
                    "plan.md does not fit in a comment: {} characters",
                    plan.chars().count()
                );
                self.comments.insert(*number, format!("{marker}\n{plan}"));
                Ok(())
            }
            (
                Some("reviewed-plan"),
                Event::Push { reviewed_run: run } | Event::Dispatch { plan_run: run },
            ) => {
                // The run the script would find (a push) or is given.
                assert!(
                    script.contains("listPullRequestsAssociatedWithCommit")
                        && script.contains("context.payload.inputs['plan-run-id']")
                );
                state
                    .outputs
                    .insert("reviewed-plan.run-id".to_owned(), run.to_string());
                Ok(())
            }
            (id, _) => panic!("a github-script step the test does not simulate: {id:?}"),
        }
    }
}

/// `${{ steps.ID.outputs.NAME }}`, evaluated.
fn expression(value: &str, outputs: &BTreeMap<String, String>) -> String {
    let key = value
        .trim()
        .strip_prefix("${{")
        .and_then(|v| v.strip_suffix("}}"))
        .map(str::trim)
        .and_then(|v| v.strip_prefix("steps."))
        .map_or_else(
            || panic!("an expression the test cannot evaluate: {value}"),
            |v| v.replacen(".outputs.", ".", 1),
        );
    outputs
        .get(&key)
        .cloned()
        .unwrap_or_else(|| panic!("no output {key}"))
}

/// A step's `if:`: `&&` of `always()`, `success()`, `failure()` and
/// `steps.ID.outcome == 'x'` (or `!=`). Without a status function,
/// `success()` is implied, as GitHub does.
fn condition(expression: Option<&str>, job: &Job<'_>) -> bool {
    let Some(expression) = expression else {
        return !job.failed;
    };
    let mut status_function = false;
    let mut result = true;
    for term in expression.split("&&").map(str::trim) {
        let value = match term {
            "always()" => true,
            "success()" => !job.failed,
            "failure()" => job.failed,
            _ => {
                let (left, right, equal) = if let Some((l, r)) = term.split_once("==") {
                    (l, r, true)
                } else if let Some((l, r)) = term.split_once("!=") {
                    (l, r, false)
                } else {
                    panic!("an if: the test cannot evaluate: {expression}");
                };
                let id = left
                    .trim()
                    .strip_prefix("steps.")
                    .and_then(|l| l.strip_suffix(".outcome"))
                    .unwrap_or_else(|| panic!("an if: the test cannot evaluate: {expression}"));
                let expected = right.trim().trim_matches('\'');
                let outcome = job.steps.get(id).map_or("skipped", |o| o.name());
                result &= (outcome == expected) == equal;
                continue;
            }
        };
        status_function = true;
        result &= value;
    }
    result && (status_function || !job.failed)
}

#[test]
fn the_github_actions_recipes_run_against_the_emulator() {
    let (plan, apply, nightly) = (
        workflow("plan.yml"),
        workflow("apply.yml"),
        workflow("nightly.yml"),
    );
    let mut github = GitHub::start();
    let main = github.ci.policy(&[]);

    // A pull request adds the policy: the plan has changes (exit 2), is
    // commented and kept.
    let planned = github.run_ok(&plan, &Event::PullRequest(1), &main);
    assert!(
        github.comments[&1].contains("to create"),
        "{}",
        github.comments[&1]
    );
    let artifact = github
        .artifacts
        .join(planned.id.to_string())
        .join("graphform-plan");
    let document = report(&artifact.join("plan.json"));
    assert!(
        document["changes"].as_array().is_some_and(|c| c.len() == 3),
        "{document:#}"
    );

    // Merged: the reviewed plan is applied.
    let applied = github.run_ok(
        &apply,
        &Event::Push {
            reviewed_run: planned.id,
        },
        &main,
    );
    assert_eq!(applied.outcome("replan"), Outcome::Skipped);
    let outcome = outcomes(&report(&applied.workspace.join("apply-report.json")));
    assert_eq!(outcome.len(), 3, "{outcome:?}");
    assert_eq!(github.ci.plan_exit_code(&main), 0, "{}", github.ci.log);

    // A pull request that changes only a comment: no changes (exit 0),
    // which passes the plan step too.
    let unchanged = github.run_ok(
        &plan,
        &Event::PullRequest(4),
        &format!("{main}# reviewed\n"),
    );
    let document = report(
        &github
            .artifacts
            .join(unchanged.id.to_string())
            .join("graphform-plan/plan.json"),
    );
    assert_eq!(document["changes"], json!([]), "{document:#}");
    assert!(github.comments.contains_key(&4));

    github_stale_plan(&mut github, &apply, &plan);
    github_nightly(&mut github, &nightly);
    github
        .ci
        .assert_no_secret_anywhere(&["insights-read", ADS_READ, INSIGHTS_WEEKLY]);
}

/// Two pull requests planned against the same main; the second merged
/// after the first was applied: its plan is stale, apply refuses it, plans
/// again for review, and the dispatch of that run applies it.
fn github_stale_plan(github: &mut GitHub, apply: &Workflow, plan: &Workflow) {
    let first = github.ci.policy(&[INSIGHTS_WEEKLY]);
    let second = github.ci.policy(&[ADS_READ]);
    let both = github.ci.policy(&[INSIGHTS_WEEKLY, ADS_READ]);
    let first_plan = github.run_ok(plan, &Event::PullRequest(2), &first);
    let second_plan = github.run_ok(plan, &Event::PullRequest(3), &second);
    github.run_ok(
        apply,
        &Event::Push {
            reviewed_run: first_plan.id,
        },
        &first,
    );

    let refused = github.run(
        apply,
        &Event::Push {
            reviewed_run: second_plan.id,
        },
        &both,
    );
    assert!(
        !refused.succeeded,
        "a stale plan was applied:\n{}",
        github.ci.log
    );
    assert_eq!(refused.outcome("apply"), Outcome::Failure);
    assert_eq!(
        refused.outcome("replan"),
        Outcome::Success,
        "{}",
        github.ci.log
    );
    assert!(
        refused
            .summary
            .contains(&format!("`plan-run-id` = `{}`", refused.id))
            && refused.summary.contains(ADS_READ),
        "{}",
        refused.summary
    );
    let replanned = github
        .artifacts
        .join(refused.id.to_string())
        .join("graphform-plan");
    assert!(replanned.join("plan.json").exists() && replanned.join("plan.md").exists());
    assert_eq!(github.ci.plan_exit_code(&both), 2);

    github.run_ok(
        apply,
        &Event::Dispatch {
            plan_run: refused.id,
        },
        &both,
    );
    assert_eq!(github.ci.plan_exit_code(&both), 0, "{}", github.ci.log);
}

/// 45 days later the nightly run refreshes the 60-day tokens; 25 hours
/// after that it revokes their predecessors. Both times it holds the issue
/// of [`HELD`] (apply exits 2), and the run passes with a warning.
fn github_nightly(github: &mut GitHub, nightly: &Workflow) {
    let main = github.ci.policy(&[INSIGHTS_WEEKLY, ADS_READ, HELD]);
    let warning = format!(
        "::warning title=graphform: needs review::acme/ci-reporting/token/{HELD} issue: held for review"
    );
    for (advance, action) in [(REFRESH_DUE, "refresh"), (GRACE_PASSED, "revoke")] {
        github.ci.advance_clock(advance);
        let log = github.ci.log.len();
        let maintained = github.run_ok(nightly, &Event::Schedule, &main);
        let artifact = github
            .artifacts
            .join(maintained.id.to_string())
            .join("graphform-maintenance-report/apply-report.json");
        assert_maintained(&report(&artifact), action);
        assert!(
            maintained.summary.contains(&format!("| {action} | done |"))
                && maintained.summary.contains("| issue | skipped |"),
            "{}",
            maintained.summary
        );
        assert!(github.ci.log[log..].contains(&warning), "{}", github.ci.log);
    }
    // All but the held change is done.
    let reviewed = github.ci.policy(&[INSIGHTS_WEEKLY, ADS_READ]);
    assert_eq!(github.ci.plan_exit_code(&reviewed), 0, "{}", github.ci.log);
}

// ---------------------------------------------------------------------------
// GitLab CI.

/// The fake's state: merge requests' notes, pipelines, jobs and artifacts.
#[derive(Default)]
struct GitLabState {
    /// Notes of each merge request: (id, body).
    notes: BTreeMap<u64, Vec<(u64, String)>>,
    /// Which merge request each merge commit came from.
    merges: BTreeMap<String, u64>,
    /// Each merge request's pipelines: (id, status), oldest first.
    pipelines: BTreeMap<u64, Vec<(u64, &'static str)>>,
    /// Each pipeline's jobs: (id, name, status).
    jobs: BTreeMap<u64, Vec<(u64, String, &'static str)>>,
    /// Each job's artifacts directory.
    artifacts: BTreeMap<u64, PathBuf>,
    /// Every request: method and path.
    requests: Vec<String>,
    next_note: u64,
}

/// A fake of the GitLab REST API endpoints the recipe calls, on a loopback
/// port, for one project; requests without the token are refused (401).
struct FakeGitLab {
    port: u16,
    state: Arc<Mutex<GitLabState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The fake's project ID.
const PROJECT: u64 = 42;

impl FakeGitLab {
    fn start(token: String) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(GitLabState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &state, &token);
                    }
                }
            })
        };
        Self {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn api(&self) -> String {
        format!("http://127.0.0.1:{}/api/v4", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GitLabState> {
        self.state.lock().expect("the fake's state")
    }
}

impl Drop for FakeGitLab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one HTTP/1.1 request.
fn serve(stream: TcpStream, state: &Mutex<GitLabState>, token: &str) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).expect("a header");
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_lowercase(), value.trim().to_owned());
        }
    }
    let mut writer = stream;
    if headers
        .get("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .expect("write");
    }
    let length: usize = headers
        .get("content-length")
        .map_or(0, |l| l.parse().expect("a length"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    let (status, answer) = if headers.get("private-token").map(String::as_str) == Some(token) {
        let mut state = state.lock().expect("the fake's state");
        state.requests.push(format!("{method} {target}"));
        route(&mut state, &method, &target, &body)
    } else {
        (
            401,
            json!({ "message": "401 Unauthorized" })
                .to_string()
                .into_bytes(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    );
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(&answer);
}

/// The endpoints, below `/api/v4/projects/42/`.
fn route(state: &mut GitLabState, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let path = target.split('?').next().unwrap_or_default();
    let Some(rest) = path.strip_prefix(&format!("/api/v4/projects/{PROJECT}/")) else {
        return not_found();
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let number = |s: &str| s.parse::<u64>().ok();
    let note_body = || -> String {
        let value: Value = serde_json::from_slice(body).expect("a JSON body");
        value["body"].as_str().expect("body").to_owned()
    };
    let answer = match (method, parts.as_slice()) {
        ("GET", ["merge_requests", iid, "notes"]) => {
            let notes = state
                .notes
                .get(&number(iid).expect("iid"))
                .cloned()
                .unwrap_or_default();
            json!(
                notes
                    .iter()
                    .map(|(id, body)| json!({ "id": id, "body": body }))
                    .collect::<Vec<_>>()
            )
        }
        ("POST", ["merge_requests", iid, "notes"]) => {
            state.next_note += 1;
            let id = state.next_note;
            let body = note_body();
            state
                .notes
                .entry(number(iid).expect("iid"))
                .or_default()
                .push((id, body.clone()));
            json!({ "id": id, "body": body })
        }
        ("PUT", ["merge_requests", iid, "notes", id]) => {
            let body = note_body();
            let notes = state.notes.entry(number(iid).expect("iid")).or_default();
            let Some(note) = notes.iter_mut().find(|(n, _)| Some(*n) == number(id)) else {
                return not_found();
            };
            note.1.clone_from(&body);
            json!({ "id": note.0, "body": body })
        }
        ("GET", ["repository", "commits", sha, "merge_requests"]) => match state.merges.get(*sha) {
            Some(iid) => json!([{ "iid": iid, "state": "merged" }]),
            None => json!([]),
        },
        ("GET", ["merge_requests", iid, "pipelines"]) => {
            let pipelines = state
                .pipelines
                .get(&number(iid).expect("iid"))
                .cloned()
                .unwrap_or_default();
            // Newest first, as GitLab lists them.
            json!(
                pipelines
                    .iter()
                    .rev()
                    .map(|(id, status)| json!({ "id": id, "status": status }))
                    .collect::<Vec<_>>()
            )
        }
        ("GET", ["pipelines", id, "jobs"]) => {
            let jobs = state
                .jobs
                .get(&number(id).expect("id"))
                .cloned()
                .unwrap_or_default();
            json!(
                jobs.iter()
                    .map(|(id, name, status)| json!({ "id": id, "name": name, "status": status }))
                    .collect::<Vec<_>>()
            )
        }
        ("GET", ["jobs", id, "artifacts", file]) => {
            let Some(dir) = number(id).and_then(|id| state.artifacts.get(&id)) else {
                return not_found();
            };
            return match std::fs::read(dir.join(file)) {
                Ok(bytes) => (200, bytes),
                Err(_) => not_found(),
            };
        }
        _ => return not_found(),
    };
    (200, answer.to_string().into_bytes())
}

fn not_found() -> (u16, Vec<u8>) {
    (
        404,
        json!({ "message": "404 Not Found" })
            .to_string()
            .into_bytes(),
    )
}

/// What started a GitLab pipeline.
enum Source {
    /// A merge request's pipeline.
    MergeRequest(u64),
    /// The merge commit of a merge request, pushed to the default branch.
    Merge(u64),
    /// Run pipeline, with `GRAPHFORM_PLAN_JOB`.
    Web { plan_job: u64 },
    /// A pipeline schedule.
    Schedule,
}

/// What a GitLab job did.
struct GitlabRun {
    job: u64,
    succeeded: bool,
    workspace: PathBuf,
}

/// GitLab: the fake API and the jobs run.
struct GitLab {
    ci: Ci,
    api: FakeGitLab,
    pipelines: u64,
}

impl GitLab {
    fn start() -> Self {
        let ci = Ci::start("graphform/gitlab");
        let api = FakeGitLab::start(ci.secret("GRAPHFORM_GITLAB_TOKEN", false));
        Self {
            ci,
            api,
            pipelines: 0,
        }
    }

    /// Runs job `name` of `file` in a new pipeline from `source`, the
    /// repository at `policy`.
    fn run(&mut self, file: &GitlabCi, name: &str, source: &Source, policy: &str) -> GitlabRun {
        let job = &file.jobs[name];
        self.pipelines += 1;
        let (pipeline, job_id) = (100 + self.pipelines, 1000 + self.pipelines);
        let dir = self.ci.dir(&format!("gitlab-job-{job_id}-{name}"));
        let workspace = dir.join("workspace");
        std::fs::create_dir_all(&workspace).expect("mkdir");
        std::fs::write(workspace.join("graphform.yaml"), policy).expect("write");
        let mut env = self.ci.base_env(&dir);
        let (pipeline_source, commit) = match source {
            Source::MergeRequest(iid) => ("merge_request_event", format!("head-{iid}-{pipeline}")),
            Source::Merge(iid) => {
                let sha = format!("merge-{iid}");
                self.api.state().merges.insert(sha.clone(), *iid);
                ("push", sha)
            }
            Source::Web { plan_job } => {
                env.push(("GRAPHFORM_PLAN_JOB".to_owned(), plan_job.to_string()));
                ("web", "main-head".to_owned())
            }
            Source::Schedule => ("schedule", "main-head".to_owned()),
        };
        for (variable, value) in [
            ("GITLAB_CI", "true".to_owned()),
            ("CI_API_V4_URL", self.api.api()),
            ("CI_PROJECT_ID", PROJECT.to_string()),
            ("CI_PROJECT_DIR", workspace.display().to_string()),
            ("CI_JOB_ID", job_id.to_string()),
            (
                "CI_JOB_URL",
                format!("https://gitlab.example.com/acme/policies/-/jobs/{job_id}"),
            ),
            ("CI_PIPELINE_SOURCE", pipeline_source.to_owned()),
            ("CI_COMMIT_SHA", commit),
            ("CI_DEFAULT_BRANCH", "main".to_owned()),
        ] {
            env.push((variable.to_owned(), value));
        }
        match source {
            Source::MergeRequest(iid) => {
                env.push(("CI_MERGE_REQUEST_IID".to_owned(), iid.to_string()));
            }
            _ => env.push(("CI_COMMIT_BRANCH".to_owned(), "main".to_owned())),
        }
        for secret in [
            "ACME_ADMIN_TOKEN",
            "REPORTING_APP_SECRET",
            "VAULT_TOKEN",
            "GRAPHFORM_GITLAB_TOKEN",
        ] {
            env.push((
                secret.to_owned(),
                self.ci.secret(secret, job.environment.is_some()),
            ));
        }
        for (variable, value) in &file.variables {
            env.push((variable.clone(), value.clone()));
        }
        let script = job.script.join("\n");
        let succeeded = self.ci.shell(name, &workspace, &script, &env);
        if succeeded || job.artifacts.when.as_deref() == Some("always") {
            let kept = dir.join("artifacts");
            copy_files(&workspace, &kept, &job.artifacts.paths);
            self.api.state().artifacts.insert(job_id, kept);
        }
        let status = if succeeded { "success" } else { "failed" };
        if let Source::MergeRequest(iid) = source {
            let mut state = self.api.state();
            state
                .pipelines
                .entry(*iid)
                .or_default()
                .push((pipeline, status));
            state
                .jobs
                .insert(pipeline, vec![(job_id, name.to_owned(), status)]);
        }
        GitlabRun {
            job: job_id,
            succeeded,
            workspace,
        }
    }

    /// [`GitLab::run`], which must succeed.
    fn run_ok(&mut self, file: &GitlabCi, name: &str, source: &Source, policy: &str) -> GitlabRun {
        let run = self.run(file, name, source, policy);
        assert!(run.succeeded, "job {} failed:\n{}", run.job, self.ci.log);
        run
    }

    /// The marked notes of merge request `iid`.
    fn plan_notes(&self, iid: u64) -> Vec<String> {
        self.api
            .state()
            .notes
            .get(&iid)
            .into_iter()
            .flatten()
            .filter(|(_, body)| body.starts_with("<!-- graphform-plan -->\n"))
            .map(|(_, body)| body.clone())
            .collect()
    }
}

#[test]
fn the_gitlab_ci_recipe_runs_against_the_emulator() {
    let file = gitlab_ci();
    // The rule for what is not run: `default: before_script:`, and it is
    // exactly the runner setup.
    assert_eq!(file.default.before_script.len(), GITLAB_SETUP.len());
    for (line, setup) in file.default.before_script.iter().zip(GITLAB_SETUP) {
        assert!(line.starts_with(setup), "{line}");
    }
    let mut names: Vec<&str> = file.jobs.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["apply", "maintenance", "plan"]);
    let mut gitlab = GitLab::start();
    let main = gitlab.ci.policy(&[]);

    // A merge request: planned, noted; planned again after a push: the same
    // note, edited in place.
    for round in 0..2 {
        gitlab.run_ok(&file, "plan", &Source::MergeRequest(7), &main);
        let notes = gitlab.plan_notes(7);
        assert_eq!(notes.len(), 1, "{notes:#?}");
        assert!(notes[0].contains("to create"), "{}", notes[0]);
        let edits = gitlab
            .api
            .state()
            .requests
            .iter()
            .filter(|r| r.starts_with("PUT "))
            .count();
        assert_eq!(edits, round);
    }
    // Merged: the plan of its last pipeline is applied.
    let applied = gitlab.run_ok(&file, "apply", &Source::Merge(7), &main);
    let outcome = outcomes(&report(&applied.workspace.join("apply-report.json")));
    assert_eq!(outcome.len(), 3, "{outcome:?}");
    assert!(
        gitlab
            .api
            .state()
            .requests
            .iter()
            .any(|r| r.contains("/jobs/1002/artifacts/plan.json"))
    );
    assert_eq!(gitlab.ci.plan_exit_code(&main), 0, "{}", gitlab.ci.log);

    gitlab_stale_plan(&mut gitlab, &file);
    // As on GitHub, with a change held for review: listed, the job passes.
    let main = gitlab.ci.policy(&[INSIGHTS_WEEKLY, ADS_READ, HELD]);
    let listed = format!("needs review: acme/ci-reporting/token/{HELD} issue: held for review");
    for (advance, action) in [(REFRESH_DUE, "refresh"), (GRACE_PASSED, "revoke")] {
        gitlab.ci.advance_clock(advance);
        let log = gitlab.ci.log.len();
        let maintained = gitlab.run_ok(&file, "maintenance", &Source::Schedule, &main);
        assert_maintained(
            &report(&maintained.workspace.join("apply-report.json")),
            action,
        );
        assert!(gitlab.ci.log[log..].contains(&listed), "{}", gitlab.ci.log);
    }
    let reviewed = gitlab.ci.policy(&[INSIGHTS_WEEKLY, ADS_READ]);
    assert_eq!(gitlab.ci.plan_exit_code(&reviewed), 0, "{}", gitlab.ci.log);
    gitlab
        .ci
        .assert_no_secret_anywhere(&["insights-read", ADS_READ, INSIGHTS_WEEKLY]);
}

/// As on GitHub: the second of two merge requests is stale at its merge;
/// the apply job plans again, and a web pipeline applies that plan.
fn gitlab_stale_plan(gitlab: &mut GitLab, file: &GitlabCi) {
    let first = gitlab.ci.policy(&[INSIGHTS_WEEKLY]);
    let second = gitlab.ci.policy(&[ADS_READ]);
    let both = gitlab.ci.policy(&[INSIGHTS_WEEKLY, ADS_READ]);
    gitlab.run_ok(file, "plan", &Source::MergeRequest(8), &first);
    gitlab.run_ok(file, "plan", &Source::MergeRequest(9), &second);
    gitlab.run_ok(file, "apply", &Source::Merge(8), &first);

    let refused = gitlab.run(file, "apply", &Source::Merge(9), &both);
    assert!(
        !refused.succeeded,
        "a stale plan was applied:\n{}",
        gitlab.ci.log
    );
    assert!(
        gitlab
            .ci
            .log
            .contains(&format!("GRAPHFORM_PLAN_JOB={}", refused.job)),
        "{}",
        gitlab.ci.log
    );
    let replanned = std::fs::read_to_string(refused.workspace.join("plan.md")).expect("plan.md");
    assert!(replanned.contains(ADS_READ), "{replanned}");

    gitlab.run_ok(
        file,
        "apply",
        &Source::Web {
            plan_job: refused.job,
        },
        &both,
    );
    assert_eq!(gitlab.ci.plan_exit_code(&both), 0, "{}", gitlab.ci.log);
}
