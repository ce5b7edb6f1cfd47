//! `graphform plan` and `graphform show`, against the emulator.

use std::path::Path;

use crate::common::{
    EmulatorProcess, control, graphform, path_with_graphform, repo_root, run, with_env, workspace,
};

#[test]
fn plan_on_an_empty_world_creates_installs_and_issues() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    graphform_snapshot!(with_env(
        graphform(dir.path()).args(["plan", "--detailed-exitcode"]),
        &emulator,
        &key,
    ), @r"
    exit_code: 2
    ----- stdout -----
    graphform will make these changes:

    acme
      ci-reporting
        + create  acme/ci-reporting
                  no system user named `ci-reporting` in business 100000000000001
                  role EMPLOYEE
        + install acme/ci-reporting/app/reporting
                  new system user needs app `reporting`
                  app ID 200000000000001
        + issue   acme/ci-reporting/token/insights-read
                  new system user
                  new token (ads_read, read_insights; expiry 60d)

    Noticed, not changed:
      info: acme/graphform-admin: not in the policy; graphform leaves it alone (ADMIN, ID 300000000000001)

    Plan: 1 to create, 1 to install, 1 to issue, 0 to refresh, 0 to rotate, 0 to revoke.
    ----- stderr -----
    ");
}

#[test]
fn plan_saves_a_plan_that_show_renders_and_that_holds_no_secret() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["plan", "--out", "plan.json", "--format", "json"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    let saved = std::fs::read_to_string(dir.path().join("plan.json")).expect("plan file");
    let plan: serde_json::Value = serde_json::from_str(&saved).expect("json");
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["changes"].as_array().map(Vec::len), Some(3));
    for (name, value) in &emulator.env {
        if name != "GRAPHFORM_GRAPH_URL" {
            assert!(
                !saved.contains(value.as_str()) && !text.contains(value.as_str()),
                "{name} leaked"
            );
        }
    }
    assert!(!saved.contains(&key));
    graphform_snapshot!(graphform(dir.path()).args(["show", "plan.json", "--format", "markdown"]));
}

#[test]
fn plan_names_every_missing_credential() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo_root().join("examples/quickstart.yaml"),
        dir.path().join("graphform.yaml"),
    )
    .expect("copy");
    graphform_snapshot!(
        graphform(dir.path())
            .arg("plan")
            .env_remove("ACME_ADMIN_TOKEN")
            .env_remove("REPORTING_APP_SECRET")
    );
}

#[test]
fn show_refuses_what_is_not_a_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("x.json"), "{\"format_version\": 99}").expect("write");
    graphform_snapshot!(graphform(dir.path()).args(["show", "x.json"]));
    std::fs::write(dir.path().join("x.json"), "plan: yes\n").expect("write");
    graphform_snapshot!(
        "show_refuses_what_is_not_json",
        graphform(dir.path()).args(["show", "x.json"])
    );
}

/// Every file below `dir` with its bytes, to prove nothing was written.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("readable");
                found.push((path, bytes));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn plan_changes_nothing_takes_no_lock_and_only_reads_from_meta() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let store = dir.path().join(".graphform/store");
    let before = files(&store);
    let meta_before = control(emulator.port, "state");
    let (code, text) = run(with_env(graphform(dir.path()).arg("plan"), &emulator, &key));
    assert_eq!(code, 0, "{text}");
    assert_eq!(files(&store), before, "plan wrote to the store");
    assert!(!store.join("lease.json").exists());
    assert_eq!(
        control(emulator.port, "state"),
        meta_before,
        "plan changed Meta"
    );
    let counters = control(emulator.port, "counters");
    let endpoints = counters["by_endpoint"].as_object().expect("by endpoint");
    assert!(!endpoints.is_empty());
    for name in endpoints.keys() {
        assert!(
            name.starts_with("GET ") || name == "POST /",
            "plan called {name}"
        );
    }
}

#[test]
fn plan_without_the_store_key_says_how_to_get_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo_root().join("examples/quickstart.yaml"),
        dir.path().join("graphform.yaml"),
    )
    .expect("copy");
    graphform_snapshot!(
        graphform(dir.path())
            .arg("plan")
            .env("ACME_ADMIN_TOKEN", "EAAnot-used")
            .env("REPORTING_APP_SECRET", "not-used")
            .env_remove("GRAPHFORM_STORE_KEY")
    );
}

/// The policy, named with `--policy` rather than read as the default
/// `graphform.yaml`: in a subdirectory whose name a shell splits.
const NAMED_POLICY: &str = "policies/acme team.yaml";

/// The command in `text` quoted as `` `graphform WHAT…` ``, run as a shell
/// would run it pasted, in `dir`, with the `graphform` under test first on
/// `PATH` and `env` set: its exit code and output.
fn run_suggested(text: &str, what: &str, dir: &Path, env: &[(String, String)]) -> (i32, String) {
    let start = text
        .find(&format!("`graphform {what}"))
        .unwrap_or_else(|| panic!("no `graphform {what}` suggested:\n{text}"));
    let command = &text[start + 1..];
    let command = &command[..command.find('`').expect("the suggestion's end")];
    let mut shell = std::process::Command::new("sh");
    shell
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path_with_graphform())
        .env("NO_COLOR", "1")
        .env_remove("GRAPHFORM_POLICY")
        .env_remove("GRAPHFORM_STORE_KEY")
        .envs(env.iter().map(|(name, value)| (name, value)));
    run(&mut shell)
}

#[test]
fn hints_name_the_policy_the_user_named_and_work_when_pasted() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join(NAMED_POLICY);
    std::fs::create_dir_all(policy.parent().expect("its directory")).expect("mkdir");
    std::fs::copy(repo_root().join("examples/quickstart.yaml"), &policy).expect("copy");
    // No store yet: the hint's `store init` names the policy.
    let (code, text) = run(graphform(dir.path())
        .args(["plan", "--policy", NAMED_POLICY])
        .envs(emulator.env.iter().map(|(name, value)| (name, value)))
        .env_remove("GRAPHFORM_STORE_KEY"));
    assert_eq!(code, 1, "{text}");
    {
        let _filters = crate::common::filters().bind_to_scope();
        insta::assert_snapshot!("no_store_hint_names_the_policy", text);
    }
    let (code, init) = run_suggested(&text, "store init", dir.path(), &[]);
    assert_eq!(code, 0, "{init}");
    let key = std::fs::read_to_string(dir.path().join("store.key"))
        .expect("the suggestion wrote the key")
        .trim()
        .to_owned();
    // `-p` or `GRAPHFORM_POLICY`: the line after `plan --out` names it.
    graphform_snapshot!(
        "saved_plan_line_names_the_policy",
        with_env(
            graphform(dir.path())
                .args(["plan", "--out", "plan.json"])
                .env("GRAPHFORM_POLICY", NAMED_POLICY),
            &emulator,
            &key,
        )
    );
    let (_, text) = run(with_env(
        graphform(dir.path()).args(["plan", "-p", NAMED_POLICY, "--out", "plan.json"]),
        &emulator,
        &key,
    ));
    let mut env = emulator.env.clone();
    env.push(("GRAPHFORM_STORE_KEY".to_owned(), key));
    let (code, applied) = run_suggested(&text, "apply", dir.path(), &env);
    assert_eq!(code, 0, "{applied}");
    assert!(
        applied.contains("Apply complete: 3 changes made."),
        "{applied}"
    );
}
