//! Safe removal (a removed token is retired, then revoked after its grace),
//! `renamed_from` (records move; nothing is revoked or issued) and
//! unattended maintenance (`apply --only`), against the emulator with its
//! clock moved.

use crate::common::{control, run};
use crate::world::{World, fingerprints, row, rows};

/// A second token for the quickstart policy.
const SPARE: &str = "          - name: spare
            app: reporting
            scopes: [ads_read]
";

const SPARE_ADDRESS: &str = "acme/ci-reporting/token/spare";
const TOKEN_ADDRESS: &str = "acme/ci-reporting/token/insights-read";

#[test]
fn a_removed_token_keeps_working_for_its_grace_then_is_revoked() {
    let world = World::new();
    world.add_token(SPARE);
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");

    // Removed: retired, not revoked. The token stays in the store.
    world.remove_token(SPARE);
    let plan = world.plan();
    assert_eq!(
        rows(&plan, "maintenance"),
        [row(SPARE_ADDRESS, "retire", "")]
    );
    let reason = plan["changes"][0]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("grace 1d after this apply"), "{reason}");
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        rows(&report, "status"),
        [row(SPARE_ADDRESS, "retire", "done")]
    );
    assert!(
        world.dir().join(".graphform/store").exists(),
        "the file store is where it was"
    );

    // Within the grace: nothing to do; the plan says when it goes.
    world.advance(23 * 3600);
    let plan = world.plan();
    assert_eq!(plan["changes"], serde_json::json!([]), "{plan:#}");
    let deferred: Vec<&str> = plan["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .filter(|n| n["kind"] == "deferred")
        .filter_map(|n| n["address"].as_str())
        .collect();
    assert_eq!(deferred, [SPARE_ADDRESS], "{plan:#}");

    // After it: revoked, as unattended maintenance may do.
    world.advance(3600 + 1);
    let plan = world.plan();
    assert_eq!(
        rows(&plan, "maintenance"),
        [row(SPARE_ADDRESS, "revoke", "revoke-removed")]
    );
    let (code, report) = world.apply(&["--only", "revoke-removed"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        rows(&report, "status"),
        [row(SPARE_ADDRESS, "revoke", "done")]
    );
    let (code, text) = run(&mut world.command(&["plan", "--detailed-exitcode"]));
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("spare"), "{text}");
}

#[test]
fn revoke_now_revokes_a_removed_token_without_grace() {
    let world = World::new();
    world.add_token(SPARE);
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    world.remove_token(SPARE);
    let (code, report) = world.apply(&["--revoke-now", SPARE_ADDRESS]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        rows(&report, "status"),
        [row(SPARE_ADDRESS, "revoke", "done")]
    );
}

/// The reviewed path for a leaked token: the plan file made with
/// `--revoke-now` applies as it is (the file carries the addresses); a
/// typo in the address is refused with the closest stored token, and
/// nothing is changed.
#[test]
fn a_reviewed_revoke_now_plan_applies_and_a_typo_is_refused() {
    let world = World::new();
    world.add_token(SPARE);
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    world.remove_token(SPARE);

    let typo = "acme/ci-reporting/token/sprae";
    for command in [
        vec!["plan", "--revoke-now", typo],
        vec!["apply", "--auto-approve", "--revoke-now", typo],
    ] {
        let (code, text) = run(&mut world.command(&command));
        assert_eq!(code, 1, "{command:?}: {text}");
        assert!(
            text.contains(&format!("`--revoke-now {typo}`: no token is stored there"))
                && text.contains(&format!("did you mean `{SPARE_ADDRESS}`?")),
            "{command:?}: {text}"
        );
    }
    let (code, text) = run(&mut world.command(&["plan", "--revoke-now", TOKEN_ADDRESS]));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("the policy still names this token"), "{text}");
    // Refused whole: the spare is not even retired.
    let plan = world.plan();
    assert_eq!(
        rows(&plan, "reason")
            .into_iter()
            .map(|(address, action, _)| (address, action))
            .collect::<Vec<_>>(),
        [(SPARE_ADDRESS.to_owned(), "retire".to_owned())],
        "{plan:#}"
    );

    let file = world.dir().join("revoke.json");
    let file = file.to_str().expect("UTF-8 path");
    let (code, text) =
        run(&mut world.command(&["plan", "--revoke-now", SPARE_ADDRESS, "--out", file]));
    assert_eq!(code, 0, "{text}");
    let (code, report) = world.json(&["apply", file, "--format", "json"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        rows(&report, "status"),
        [row(SPARE_ADDRESS, "revoke", "done")]
    );
}

#[test]
fn apply_only_does_time_driven_work_and_holds_the_rest_for_review() {
    let world = World::new();
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    // 45 days on, the 60-day token is inside its 20-day refresh window;
    // and a new token waits for review.
    world.advance(45 * 86_400);
    world.add_token(SPARE);
    let plan = world.plan();
    assert_eq!(
        rows(&plan, "maintenance"),
        [
            row(
                "acme/ci-reporting/token/insights-read",
                "refresh",
                "refresh"
            ),
            row(SPARE_ADDRESS, "issue", ""),
        ]
    );

    let (code, report) = world.apply(&["--only", "refresh,rotate,revoke-superseded"]);
    assert_eq!(code, 2, "held changes exit 2: {report:#}");
    assert_eq!(
        rows(&report, "status"),
        [
            row("acme/ci-reporting/token/insights-read", "refresh", "done"),
            row(SPARE_ADDRESS, "issue", "skipped"),
        ]
    );
    let held = report["changes"][1]["error"].as_str().unwrap_or("");
    assert!(held.contains("held for review"), "{report:#}");

    // What was held is still planned; what was done is not.
    let plan = world.plan();
    assert_eq!(
        rows(&plan, "maintenance"),
        [row(SPARE_ADDRESS, "issue", "")]
    );

    // Nothing left that --only may do: exit 2 again, nothing done.
    let (code, report) = world.apply(&["--only", "refresh"]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(
        rows(&report, "status"),
        [row(SPARE_ADDRESS, "issue", "skipped")]
    );
}

#[test]
fn apply_only_refuses_a_plan_file() {
    let world = World::new();
    let (code, text) = run(&mut world.command(&["apply", "plan.json", "--only", "refresh"]));
    assert_eq!(code, 64, "{text}");
    assert!(text.contains("--only"), "{text}");
}

#[test]
fn renamed_tokens_and_system_users_move_without_revoking_or_issuing() {
    let world = World::new();
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    let before = fingerprints(&world.plan());
    let (_, fingerprint) = before[0].clone();

    // The token is renamed in the policy: its record moves.
    let text = std::fs::read_to_string(world.policy()).expect("policy");
    let renamed = text.replace(
        "          - name: insights-read\n",
        "          - name: insights\n            renamed_from: insights-read\n",
    );
    assert_ne!(text, renamed);
    std::fs::write(world.policy(), &renamed).expect("write");
    let plan = world.plan();
    assert_eq!(
        rows(&plan, "moved_from"),
        [row(
            "acme/ci-reporting/token/insights",
            "move",
            "acme/ci-reporting/token/insights-read"
        )]
    );
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        rows(&report, "status"),
        [row("acme/ci-reporting/token/insights", "move", "done")]
    );
    let plan = world.plan();
    assert_eq!(plan["changes"], serde_json::json!([]), "{plan:#}");
    assert_eq!(
        fingerprints(&plan),
        [(
            "acme/ci-reporting/token/insights".to_owned(),
            fingerprint.clone()
        )],
        "the same token, at its new address"
    );

    // The system user is renamed: in Meta, and its records move with it.
    let renamed = renamed.replace(
        "      - name: ci-reporting\n",
        "      - name: reporting\n        renamed_from: ci-reporting\n",
    );
    std::fs::write(world.policy(), &renamed).expect("write");
    let plan = world.plan();
    assert_eq!(
        rows(&plan, "moved_from"),
        [
            row("acme/reporting", "rename", "acme/ci-reporting"),
            row(
                "acme/reporting/token/insights",
                "move",
                "acme/ci-reporting/token/insights"
            ),
        ]
    );
    // Until the apply, status shows the token at its new address with the
    // value stored at the old one, and the old one is not "removed".
    let (code, status) = world.json(&["status", "--format", "json"]);
    assert_eq!(code, 0, "{status:#}");
    let seen: Vec<_> = status["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|token| {
            serde_json::json!([
                token["address"],
                token["state"],
                token["moving_from"],
                token["current"]["fingerprint"]
            ])
        })
        .collect();
    assert_eq!(
        seen,
        [serde_json::json!([
            "acme/reporting/token/insights",
            "ok",
            "acme/ci-reporting/token/insights",
            fingerprint
        ])],
        "{status:#}"
    );
    assert_eq!(status["retiring"], serde_json::json!([]), "{status:#}");
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    let plan = world.plan();
    assert_eq!(plan["changes"], serde_json::json!([]), "{plan:#}");
    assert_eq!(
        fingerprints(&plan),
        [("acme/reporting/token/insights".to_owned(), fingerprint)]
    );
    let listed = control(world.emulator.port, "state");
    let names = listed.to_string();
    assert!(
        names.contains("\"reporting\"") && !names.contains("\"ci-reporting\""),
        "Meta has the new name: {listed:#}"
    );

    // With `renamed_from` left in the policy, nothing more happens.
    let (code, text) = run(&mut world.command(&["plan", "--detailed-exitcode"]));
    assert_eq!(code, 0, "{text}");
}

/// A system user renamed while one of its tokens leaves the policy: that
/// token's record moves with the others, is retired at its new address,
/// and is revoked from there once its grace ends.
#[test]
fn a_token_dropped_in_a_system_user_rename_moves_then_is_retired_and_revoked() {
    let world = World::new();
    world.add_token(SPARE);
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    world.remove_token(SPARE);
    let text = std::fs::read_to_string(world.policy()).expect("policy");
    std::fs::write(
        world.policy(),
        text.replace(
            "      - name: ci-reporting\n",
            "      - name: reporting\n        renamed_from: ci-reporting\n",
        ),
    )
    .expect("write");
    let (code, report) = world.apply(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        rows(&report, "status"),
        [
            row("acme/reporting", "rename", "done"),
            row("acme/reporting/token/insights-read", "move", "done"),
            row("acme/reporting/token/spare", "move", "done"),
            row("acme/reporting/token/spare", "retire", "done"),
        ]
    );
    world.advance(86_400 + 1);
    assert_eq!(
        rows(&world.plan(), "maintenance"),
        [row(
            "acme/reporting/token/spare",
            "revoke",
            "revoke-removed"
        )]
    );
    let (code, report) = world.apply(&["--only", "revoke-removed"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        rows(&report, "status"),
        [row("acme/reporting/token/spare", "revoke", "done")]
    );
    let (code, text) = run(&mut world.command(&["plan", "--detailed-exitcode"]));
    assert_eq!(code, 0, "{text}");
}
