//! `graphform apply`, against the emulator.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use crate::common::{
    EmulatorProcess, assert_matches_schema, filters, graphform, run, with_env, workspace,
};

#[test]
fn apply_converges_and_a_second_plan_is_empty() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    graphform_snapshot!(
        "apply_converges",
        with_env(
            graphform(dir.path()).args(["apply", "--auto-approve"]),
            &emulator,
            &key,
        )
    );
    let (_, text) = run(with_env(
        graphform(dir.path()).args(["plan", "--detailed-exitcode"]),
        &emulator,
        &key,
    ));
    let mut settings = filters();
    // The token was issued a moment ago for 60 days: 60d in the second it
    // was issued, 59d (and some hours) after.
    settings.add_filter(r"\(in (59|60)d\)", "(in 60d, give or take a second)");
    settings.bind(|| insta::assert_snapshot!("apply_converges_then_plan", text));
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
    let issued = &report["changes"][2];
    assert!(
        issued["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("sha256:"))
            && issued["expiry"] == "60d"
            && issued["expires_at"].as_i64() > report["applied_at"].as_i64(),
        "{report:#}"
    );

    // The document is the one schemas/apply-report.schema.json describes,
    // and the schema can fail.
    let validator = assert_matches_schema("apply-report.schema.json", &report);
    let mut broken = report.clone();
    broken["changes"][0]["status"] = serde_json::json!("maybe");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn apply_without_a_terminal_or_auto_approve_refuses() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    graphform_snapshot!(with_env(
        graphform(dir.path()).arg("apply").stdin(Stdio::null()),
        &emulator,
        &key,
    ));
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
    // The default policy: the suggested apply names none.
    assert!(
        text.contains("Saved the plan to plan.json; apply it with `graphform apply plan.json`."),
        "{text}"
    );
    // Someone else applies another version of the policy in between.
    let policy = dir.path().join("graphform.yaml");
    let reviewed = std::fs::read_to_string(&policy).expect("read");
    let other = reviewed.replace("[ads_read, read_insights]", "[ads_read]");
    assert_ne!(other, reviewed);
    std::fs::write(&policy, other).expect("write");
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    std::fs::write(&policy, reviewed).expect("write");
    graphform_snapshot!(with_env(
        graphform(dir.path()).args(["apply", "plan.json"]),
        &emulator,
        &key,
    ));
}

/// A plan file applied a second time (a re-run deploy job), or whose
/// changes another apply made: nothing is left to do, which is what it
/// asks now; exit 0, and the run is recorded as a success.
#[test]
fn a_saved_plan_applied_again_has_nothing_to_do() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let graphform_run =
        |args: &[&str]| run(with_env(graphform(dir.path()).args(args), &emulator, &key));
    let (code, text) = graphform_run(&["plan", "--out", "plan.json"]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = graphform_run(&["apply", "plan.json"]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = graphform_run(&["apply", "plan.json"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(
            "No changes. Everything matches the policy: the changes of plan.json are made already."
        ),
        "{text}"
    );
    let (code, text) = graphform_run(&["status"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("succeeded"), "{text}");
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
    graphform_snapshot!(with_env(
        graphform(dir.path()).args(["apply", "plan.json"]),
        &emulator,
        &key,
    ));
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
    let refused = run(with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    ));
    first.kill().expect("kill");
    first.wait().expect("reaped");
    {
        let _filters = filters().bind_to_scope();
        insta::assert_snapshot!("a_second_concurrent_apply_is_refused", refused.1);
    }
    // Once the holder is gone, the next apply breaks its lease and goes on.
    graphform_snapshot!(
        "a_second_apply_after_the_holder_died",
        with_env(
            graphform(dir.path()).args(["apply", "--auto-approve"]),
            &emulator,
            &key,
        )
    );
}

/// Every `--only KINDS` command written in `text` (not `--only <KINDS>`
/// nor prose), its whitespace (a wrapped help line) taken as one space.
fn only_kinds(text: &str) -> Vec<String> {
    const KINDS: [&str; 5] = [
        "refresh",
        "rotate",
        "revoke-superseded",
        "revoke-removed",
        "forget-dead",
    ];
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[0].trim_start_matches('`') == "--only")
        .map(|pair| pair[1].trim_end_matches(['`', '.']))
        .filter(|kinds| kinds.split(',').all(|kind| KINDS.contains(&kind)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_nightly_maintenance_kinds_are_the_same_in_help_docs_and_recipes() {
    let (code, help) = run(graphform(&crate::common::repo_root()).args(["apply", "--help"]));
    assert_eq!(code, 0, "{help}");
    let root = crate::common::repo_root();
    let mut written = vec![("apply --help".to_owned(), only_kinds(&help))];
    for file in [
        "docs/ci.md",
        "docs/operations.md",
        "examples/ci/github/nightly.yml",
        "examples/ci/gitlab/.gitlab-ci.yml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect(file);
        written.push((file.to_owned(), only_kinds(&text)));
    }
    let nightly = "refresh,rotate,revoke-superseded,revoke-removed";
    for (place, kinds) in &written {
        assert!(!kinds.is_empty(), "no `--only KINDS` in {place}");
        for found in kinds {
            assert_eq!(found, nightly, "in {place}");
        }
    }
}
