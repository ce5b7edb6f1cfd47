//! The defects of issue 10, each reproduced end to end and checked with
//! the shared accounting ([`super::Case::accounting`]).

use super::*;

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
