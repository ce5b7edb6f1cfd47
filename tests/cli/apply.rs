//! `graphform apply`, against the emulator.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use crate::common::{EmulatorProcess, graphform, run, with_env, workspace};

#[test]
fn apply_converges_and_a_second_plan_is_empty() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Apply complete: 3 changes made."), "{text}");
    assert!(
        text.contains("+ create acme/ci-reporting: done (ID "),
        "{text}"
    );
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["plan", "--detailed-exitcode"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("No changes. Everything matches the policy."),
        "{text}"
    );
}

#[test]
fn apply_reports_json_for_pipelines() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let output = with_env(
        graphform(dir.path()).args(["apply", "--auto-approve", "--format", "json"]),
        &emulator,
        &key,
    )
    .output()
    .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_eq!(report["succeeded"], true);
    let statuses: Vec<(&str, &str)> = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("create", "done"), ("install", "done"), ("issue", "done")]
    );
}

#[test]
fn apply_without_a_terminal_or_auto_approve_refuses() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let (code, text) = run(with_env(
        graphform(dir.path()).arg("apply").stdin(Stdio::null()),
        &emulator,
        &key,
    ));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("there is no terminal to confirm on"),
        "{text}"
    );
    assert!(text.contains("hint: pass --auto-approve"), "{text}");
}

#[test]
fn a_saved_plan_is_refused_when_the_world_changed_and_names_the_addresses() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["plan", "--out", "plan.json"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    // Someone else applies in between.
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "plan.json"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("the plan computed now differs from the saved plan at: acme/ci-reporting, acme/ci-reporting/app/reporting, acme/ci-reporting/token/insights-read"),
        "{text}"
    );
    assert!(
        text.contains("hint: the plan file is a review record"),
        "{text}"
    );
}

#[test]
fn a_saved_plan_is_refused_when_the_policy_changed() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["plan", "--out", "plan.json"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    let policy = dir.path().join("graphform.yaml");
    let edited = std::fs::read_to_string(&policy)
        .expect("read")
        .replace("[ads_read, read_insights]", "[ads_read]");
    std::fs::write(&policy, edited).expect("write");
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "plan.json"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("the policy changed since the plan was made"),
        "{text}"
    );
}

#[test]
fn a_second_concurrent_apply_is_refused_by_the_lock() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    // The first apply stops (holding the lease) before its first mutation.
    let mut first = with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    )
    .env("GRAPHFORM_FAILPOINT", "1")
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("starts");
    let mut stderr = BufReader::new(first.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("failpoint 1 reached") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("reads") > 0,
            "the first apply ended early"
        );
    }
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    ));
    first.kill().expect("kill");
    first.wait().expect("reaped");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("the store is locked by graphform apply (pid"),
        "{text}"
    );
    // Once the holder is gone, the next apply breaks its lease and goes on.
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("which is no longer running"), "{text}");
}
