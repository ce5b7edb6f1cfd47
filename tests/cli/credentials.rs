//! What `plan` tells of its dealings with Meta (issue 14), against the
//! emulator: it warns of an admin token that expires within two weeks, a
//! credential Meta refuses is reported as the environment variable to fix,
//! each retried call is one line on stderr, and on a terminal a spinner
//! and a bar of changes show progress.

use std::path::Path;
use std::process::Command;

use crate::common::{EmulatorProcess, request, run};
use crate::world::World;

/// The emulator's clock at start, Unix seconds (2027-01-15T08:00:00Z).
const START: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

/// The demo world (the IDs of examples/quickstart.yaml) at [`START`], its
/// admin token expiring `admin_expires_in` seconds later.
fn world(dir: &Path, admin_expires_in: i64) -> std::path::PathBuf {
    let path = dir.join("world.yaml");
    let expires_at = START + admin_expires_in;
    std::fs::write(
        &path,
        format!(
            "clock_start: {START}
seed: 3
businesses:
  - {{ id: \"100000000000001\", name: Acme }}
apps:
  - {{ id: \"200000000000001\", name: reporting, business: \"100000000000001\", access_level: advanced }}
  - {{ id: \"200000000000002\", name: publisher, business: \"100000000000001\" }}
system_users:
  - {{ id: \"300000000000001\", name: graphform-admin, business: \"100000000000001\", role: ADMIN }}
admin_tokens:
  - {{ system_user: \"300000000000001\", app: \"200000000000001\", expires_at: {expires_at}, env: ACME_ADMIN_TOKEN }}
"
        ),
    )
    .expect("write the world");
    path
}

/// The quickstart world; with `admin_expires_in`, the emulator starts
/// from [`world`] with the admin token expiring that many seconds after
/// [`START`].
fn case(admin_expires_in: Option<i64>) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = match admin_expires_in {
        Some(seconds) => {
            let world = world(dir.path(), seconds);
            EmulatorProcess::start_with(&["--world".as_ref(), world.as_os_str()])
        }
        None => EmulatorProcess::start(),
    };
    World::with(dir, emulator)
}

/// The credentials the emulator exports: none may appear in any output.
const CREDENTIALS: [&str; 3] = [
    "ACME_ADMIN_TOKEN",
    "REPORTING_APP_SECRET",
    "PUBLISHER_APP_SECRET",
];

/// Runs `command`; its exit code and output, checked to hold no
/// credential.
fn checked(case: &World, command: &mut Command) -> (i32, String) {
    let (code, text) = run(command);
    for name in CREDENTIALS {
        assert!(
            !text.contains(case.exported(name)),
            "{name}'s value leaked:\n{text}"
        );
    }
    (code, text)
}

#[test]
fn an_admin_token_expiring_within_two_weeks_is_warned_of_by_plan() {
    let case = case(Some(10 * DAY));
    let (code, text) = checked(&case, &mut case.command(&["plan"]));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Credentials:\n  warning: business acme: the admin token in `ACME_ADMIN_TOKEN` expires at 2027-01-25 08:00 UTC (in 10 days)"), "{text}");

    let output = case
        .command(&["plan", "--format", "json"])
        .output()
        .expect("runs");
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a plan");
    assert_eq!(plan["credentials"][0]["business"], "acme");
    assert_eq!(plan["credentials"][0]["variable"], "ACME_ADMIN_TOKEN");

    let (code, text) = checked(&case, &mut case.command(&["plan", "--format", "markdown"]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("**Admin credential** of business <code>acme</code>"),
        "{text}"
    );
}

#[test]
fn an_admin_token_with_more_than_two_weeks_left_gets_no_warning() {
    let case = case(Some(15 * DAY));
    let (code, text) = checked(&case, &mut case.command(&["plan"]));
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("Credentials:"), "{text}");
}

#[test]
fn an_expired_admin_token_is_named_by_its_variable() {
    let case = case(Some(DAY));
    request(
        case.emulator.port,
        "POST",
        "/_emulator/clock",
        &format!("{{\"advance_seconds\":{}}}", 2 * DAY),
    );
    let (code, text) = checked(&case, &mut case.command(&["plan"]));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "caused by: the admin token in `ACME_ADMIN_TOKEN` (business `acme`) has expired"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "hint: set `ACME_ADMIN_TOKEN` to a token of an admin system user of business `acme`"
        ),
        "{text}"
    );
}

#[test]
fn a_token_meta_cannot_parse_is_named_by_its_variable() {
    let case = case(None);
    let (code, text) = checked(
        &case,
        case.command(&["plan"])
            .env("ACME_ADMIN_TOKEN", "EAAnot-a-token-meta-issued"),
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "caused by: the admin token in `ACME_ADMIN_TOKEN` (business `acme`) is not valid"
        ),
        "{text}"
    );
    assert!(!text.contains("EAAnot-a-token-meta-issued"), "{text}");
}

#[test]
fn an_app_secret_that_is_not_the_apps_is_named_by_its_variable() {
    let case = case(None);
    let (code, text) = checked(
        &case,
        case.command(&["plan"])
            .env("REPORTING_APP_SECRET", "0123456789abcdef0123456789abcdef"),
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Meta refused the admin token in `ACME_ADMIN_TOKEN` with the secret in `REPORTING_APP_SECRET`"),
        "{text}"
    );
    assert!(
        text.contains("hint: set `REPORTING_APP_SECRET` to app `reporting`'s secret"),
        "{text}"
    );
    assert!(!text.contains("0123456789abcdef0123456789abcdef"), "{text}");
}

#[test]
fn a_retried_graph_call_is_one_line_on_stderr() {
    let case = case(None);
    request(
        case.emulator.port,
        "POST",
        "/_emulator/faults/next",
        r#"{"endpoint":"*","fault":"gateway_error","count":1,"status":503}"#,
    );
    let (code, text) = checked(&case, &mut case.command(&["plan"]));
    assert_eq!(code, 0, "{text}");
    let stderr = text.split("----- stderr -----\n").nth(1).expect("stderr");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0]
            .starts_with("a Graph API call failed (HTTP 503 without Meta's answer); retrying in ")
            && lines[0].ends_with(" s, attempt 2 of 5"),
        "{stderr}"
    );
}

#[test]
fn status_check_warns_of_the_admin_token_and_fails_within() {
    let case = case(Some(10 * DAY));
    let (code, text) = checked(&case, &mut case.command(&["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{text}");
    // The store alone says nothing of the admin token.
    let (code, text) = checked(&case, &mut case.command(&["status", "--fail-within", "1d"]));
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("ACME_ADMIN_TOKEN"), "{text}");
    // Asked, Meta says it expires in 10 days: a warning, and exit 2.
    let (code, text) = checked(
        &case,
        &mut case.command(&["status", "--check", "--fail-within", "1d"]),
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("Credentials:\n  warning: business acme: the admin token in `ACME_ADMIN_TOKEN` expires at 2027-01-25 08:00 UTC (in 10 days)"),
        "{text}"
    );
    let (code, text) = checked(
        &case,
        &mut case.command(&["status", "--check", "--format", "prometheus"]),
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("graphform_admin_credential_warnings{business=\"acme\"} 1\n"),
        "{text}"
    );
}

/// `args` run on a terminal (util-linux's `script` gives the command a
/// pseudo-terminal): what the terminal showed.
fn on_a_terminal(case: &World, args: &str) -> String {
    let command = case.command(&[]);
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_graphform"));
    let output = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(case.dir())
        .envs(
            command
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .env_remove("RUST_LOG")
        .env("TERM", "xterm-256color")
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}");
    for name in CREDENTIALS {
        assert!(
            !text.contains(case.exported(name)),
            "{name}'s value leaked:\n{text}"
        );
    }
    text
}

#[test]
fn on_a_terminal_reading_and_applying_show_progress_and_a_pipe_gets_none() {
    let case = case(None);
    // Two failed calls: reading takes long enough for the spinner to draw.
    request(
        case.emulator.port,
        "POST",
        "/_emulator/faults/next",
        r#"{"endpoint":"*","fault":"gateway_error","count":2,"status":503}"#,
    );
    let shown = on_a_terminal(&case, "plan");
    assert!(shown.contains("Reading Meta and the store"), "{shown:?}");
    assert!(
        shown.contains("\u{1b}[2K"),
        "the spinner is cleared: {shown:?}"
    );
    assert!(shown.contains("retrying in"), "{shown:?}");
    assert!(
        shown.contains("graphform will make these changes:"),
        "{shown:?}"
    );

    let shown = on_a_terminal(&case, "apply --auto-approve");
    assert!(shown.contains("/3 changes"), "a bar of changes: {shown:?}");
    assert!(
        shown.contains("Apply complete: 3 changes made."),
        "{shown:?}"
    );

    // Through a pipe: only the lines.
    let (code, text) = checked(&case, &mut case.command(&["plan"]));
    assert_eq!(code, 0, "{text}");
    assert!(
        !text.contains("Reading Meta") && !text.contains('\u{1b}'),
        "{text}"
    );
}
