//! `graphform status`, against the emulator and the file store: every
//! format after an apply (text and JSON snapshotted, OpenMetrics read by a
//! real parser, the HTML page parsed), `--check` finding a token revoked
//! behind graphform's back, `--fail-within` around its boundary, the last
//! apply recorded, and no token value in any output.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use graphform_store::Store as _;

use crate::common::{
    EmulatorProcess, assert_matches_schema, control, filters, graphform, json_of, repo_root,
    request, run, workspace,
};

const TOKEN: &str = "acme/ci-reporting/token/insights-read";
const DAY: i64 = 86_400;

/// The quickstart workspace against an emulator. Commands run at a fixed
/// `GRAPHFORM_NOW` (the emulator's clock when the world was made, unless
/// a test says otherwise), so relative dates in snapshots are stable.
struct World {
    emulator: EmulatorProcess,
    dir: tempfile::TempDir,
    key: String,
    now: i64,
}

impl World {
    fn new() -> Self {
        let emulator = EmulatorProcess::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let key = workspace(dir.path());
        let now = control(emulator.port, "clock")["now"]
            .as_i64()
            .expect("the emulator's clock");
        Self {
            emulator,
            dir,
            key,
            now,
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command with the store key and Meta's credentials, at `now`.
    fn command_at(&self, now: i64, args: &[&str]) -> Command {
        let mut command = self.store_only_at(now, args);
        for (name, value) in &self.emulator.env {
            command.env(name, value);
        }
        command
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_at(self.now, args)
    }

    /// A command with the store key only: no Graph URL, no admin token,
    /// no app secret.
    fn store_only_at(&self, now: i64, args: &[&str]) -> Command {
        let mut command = graphform(self.dir());
        command
            .args(args)
            .env("GRAPHFORM_STORE_KEY", &self.key)
            .env("GRAPHFORM_NOW", now.to_string());
        command
    }

    fn apply(&self) {
        let (code, text) = run(&mut self.command(&["apply", "--auto-approve"]));
        assert_eq!(code, 0, "{text}");
    }

    /// `status --format json` (store only) at `now`.
    fn status_json_at(&self, now: i64, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut args = vec!["status", "--format", "json"];
        args.extend_from_slice(extra);
        json_of(&mut self.command_at(now, &args))
    }

    /// Every token value the store holds (current and previous).
    fn stored_values(&self) -> Vec<String> {
        let identity = graphform_graph::Secret::new(self.key.clone());
        let store = graphform_store::FileStore::with_identity(
            self.dir().join(".graphform/store"),
            &identity,
        )
        .expect("the store opens");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let mut values = Vec::new();
            for address in store.list_tokens().await.expect("list") {
                let record = store
                    .read_token(&address)
                    .await
                    .expect("read")
                    .expect("a record");
                values.push(record.value.current.value.expose().to_owned());
                if let Some(previous) = &record.value.previous {
                    values.push(previous.token.value.expose().to_owned());
                }
            }
            values
        })
    }
}

/// Asserts that no stored token value appears in `outputs`.
fn assert_no_value(world: &World, outputs: &[&str]) {
    let values = world.stored_values();
    assert!(!values.is_empty(), "the store holds tokens");
    for value in &values {
        for output in outputs {
            assert!(
                !output.contains(value.as_str()),
                "a token value was printed"
            );
        }
    }
}

/// The filters of every snapshot, and Unix times in JSON.
fn status_filters() -> insta::Settings {
    let mut settings = filters();
    settings.add_filter(r"\b1[0-9]{9}\b", "[UNIX]");
    settings
}

#[test]
fn status_after_an_apply_in_every_format_and_no_value_anywhere() {
    let world = World::new();
    world.apply();
    // Store only: no Meta credential is needed for it.
    let (code, text) = run(&mut world.store_only_at(world.now, &["status"]));
    assert_eq!(code, 0, "{text}");
    status_filters().bind(|| insta::assert_snapshot!("status_text", text));

    let (code, json_text) =
        run(&mut world.store_only_at(world.now, &["status", "--format", "json"]));
    assert_eq!(code, 0, "{json_text}");
    status_filters().bind(|| insta::assert_snapshot!("status_json", json_text));

    let (_, json) = world.status_json_at(world.now, &[]);
    assert_eq!(json["format_version"], 1);
    // The document is the one schemas/status.schema.json describes, and
    // the schema can fail.
    let validator = assert_matches_schema("status.schema.json", &json);
    let mut broken = json.clone();
    broken["tokens"][0]["state"] = serde_json::json!("fine");
    assert!(!validator.is_valid(&broken));
    let token = &json["tokens"][0];
    let expires_at = token["current"]["expires_at"].as_i64().expect("60-day");
    assert!(
        (60 * DAY..60 * DAY + 60).contains(&(expires_at - world.now)),
        "issued for 60 days: {json:#}"
    );
    assert_eq!(
        token["next"]["from"].as_i64(),
        Some(expires_at - 20 * DAY),
        "refresh_before (20d) ahead"
    );

    let prometheus = world
        .store_only_at(world.now, &["status", "--format", "prometheus"])
        .output()
        .expect("runs");
    assert_eq!(prometheus.status.code(), Some(0));
    let prometheus = String::from_utf8(prometheus.stdout).expect("UTF-8");
    let html = world
        .store_only_at(world.now, &["status", "--format", "html"])
        .output()
        .expect("runs");
    assert_eq!(html.status.code(), Some(0));
    let html = String::from_utf8(html.stdout).expect("UTF-8");
    assert_no_value(&world, &[&text, &json_text, &prometheus, &html]);
}

/// The OpenMetrics exposition, read by `prometheus_client`'s OpenMetrics
/// parser (installed into .venv by `scripts/services install`).
#[test]
fn prometheus_output_parses_as_openmetrics() {
    let world = World::new();
    world.apply();
    let output = world
        .store_only_at(world.now, &["status", "--format", "prometheus"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let families = parse_openmetrics(&output.stdout);
    let (_, json) = world.status_json_at(world.now, &[]);
    let expires_at = json["tokens"][0]["current"]["expires_at"]
        .as_f64()
        .expect("expires");
    let next = json["tokens"][0]["next"]["from"].as_f64().expect("next");
    let finished = json["last_apply"]["finished_at"]
        .as_f64()
        .expect("finished");

    let family = |name: &str| {
        families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}: {families:#?}"))
    };
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        family(name)["samples"]
            .as_array()?
            .iter()
            .find_map(|sample| {
                let matches = labels
                    .iter()
                    .all(|(k, v)| sample["labels"][*k].as_str() == Some(*v));
                matches.then(|| sample["value"].as_f64()).flatten()
            })
    };
    assert_families(&families);
    let address = [("address", TOKEN)];
    assert_eq!(
        value("graphform_token_expiration_timestamp_seconds", &address),
        Some(expires_at)
    );
    assert_eq!(
        value(
            "graphform_token_next_action_timestamp_seconds",
            &[("address", TOKEN), ("action", "refresh")]
        ),
        Some(next)
    );
    assert_eq!(
        value(
            "graphform_token_state",
            &[("address", TOKEN), ("state", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "graphform_token_state",
            &[("address", TOKEN), ("state", "missing")]
        ),
        Some(0.0)
    );
    assert_eq!(value("graphform_token_never_expires", &address), None);
    assert_eq!(value("graphform_last_apply_success", &[]), Some(1.0));
    assert_eq!(
        value("graphform_last_apply_timestamp_seconds", &[]),
        Some(finished)
    );
    assert_eq!(
        value("graphform_last_successful_apply_timestamp_seconds", &[]),
        Some(finished)
    );
}

/// Every family the exposition must have, with its type, unit and help.
fn assert_families(families: &BTreeMap<String, serde_json::Value>) {
    for (name, kind, unit) in [
        (
            "graphform_token_expiration_timestamp_seconds",
            "gauge",
            "seconds",
        ),
        ("graphform_token_never_expires", "gauge", ""),
        (
            "graphform_token_next_action_timestamp_seconds",
            "gauge",
            "seconds",
        ),
        (
            "graphform_token_revoke_after_timestamp_seconds",
            "gauge",
            "seconds",
        ),
        ("graphform_token_state", "gauge", ""),
        ("graphform_last_apply_timestamp_seconds", "gauge", "seconds"),
        ("graphform_last_apply_success", "gauge", ""),
        (
            "graphform_last_successful_apply_timestamp_seconds",
            "gauge",
            "seconds",
        ),
    ] {
        let family = families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}: {families:#?}"));
        assert_eq!(family["type"], kind, "{name}");
        assert_eq!(family["unit"], unit, "{name}");
        assert!(
            family["documentation"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name} has help"
        );
    }
}

/// Families by name: type, unit, help and samples (name, labels, value),
/// as `prometheus_client.openmetrics.parser` reads `exposition`. It
/// refuses what is not valid OpenMetrics (a missing `# EOF`, a unit that
/// does not end the name, a bad escape), and the test fails with its error.
fn parse_openmetrics(exposition: &[u8]) -> BTreeMap<String, serde_json::Value> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out[family.name] = {
        "type": family.type,
        "unit": family.unit,
        "documentation": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    }
print(json.dumps(out))
"#;
    use std::io::Write as _;
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/services install`",
        python.display()
    );
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition)
        .expect("write");
    let output = child.wait_with_output().expect("python ends");
    assert!(
        output.status.success(),
        "not valid OpenMetrics: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(exposition)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

/// The page parses as XML, has one timeline row per token, the today
/// marker, and nothing loaded from anywhere.
#[test]
fn html_is_one_self_contained_page_with_a_row_per_token() {
    let world = World::new();
    world.apply();
    let output = world
        .store_only_at(world.now, &["status", "--format", "html"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let page = String::from_utf8(output.stdout).expect("UTF-8");
    for network in ["http://", "https://", "<script", "@import", "<link", "<img"] {
        assert!(!page.contains(network), "{network} in the page");
    }
    // roxmltree reads XML; the doctype line is HTML's.
    let xml = page.replacen("<!DOCTYPE html>", "", 1);
    let document = roxmltree::Document::parse(&xml).expect("well-formed XHTML");
    let class_of =
        |node: &roxmltree::Node<'_, '_>| node.attribute("class").unwrap_or("").to_owned();
    let rows: Vec<String> = document
        .descendants()
        .filter(|node| node.has_tag_name("g") && class_of(node).split(' ').any(|c| c == "token"))
        .map(|node| node.attribute("data-address").unwrap_or("").to_owned())
        .collect();
    assert_eq!(rows, [TOKEN]);
    assert!(
        document
            .descendants()
            .any(|node| node.has_tag_name("line") && class_of(&node) == "today"),
        "today is marked"
    );
    for node in document.descendants().filter(roxmltree::Node::is_element) {
        for attribute in ["src", "href", "xlink:href"] {
            assert!(
                node.attribute(attribute).is_none(),
                "{attribute} on {node:?}"
            );
        }
    }
    assert_eq!(
        document
            .descendants()
            .filter(|node| node.has_tag_name("svg"))
            .count(),
        1
    );
}

/// Revoked behind graphform's back: the store alone still says ok, the
/// check says dead with the drift, and `--fail-within` exits 2 on it.
#[test]
fn check_reports_a_token_revoked_outside_graphform() {
    let world = World::new();
    world.apply();
    let (code, before) = world.status_json_at(world.now, &["--check"]);
    assert_eq!(code, 0, "{before:#}");
    assert_eq!(before["checked"], true);
    assert_eq!(before["tokens"][0]["check"]["health"]["status"], "valid");
    assert_eq!(before["tokens"][0]["check"]["drift"], serde_json::json!([]));

    let fingerprint = before["tokens"][0]["current"]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    request(
        world.emulator.port,
        "POST",
        "/_emulator/drift/revoke",
        &serde_json::json!({ "fingerprint": fingerprint }).to_string(),
    );

    let (_, unchecked) = world.status_json_at(world.now, &[]);
    assert_eq!(
        unchecked["tokens"][0]["state"], "ok",
        "the store cannot know"
    );
    let (code, checked) = world.status_json_at(world.now, &["--check", "--fail-within", "1d"]);
    assert_eq!(code, 2, "{checked:#}");
    // With a verdict and its drift, still the documented document.
    assert_matches_schema("status.schema.json", &checked);
    let token = &checked["tokens"][0];
    assert_eq!(token["state"], "dead");
    assert_eq!(token["check"]["health"]["status"], "dead");
    assert_eq!(token["check"]["health"]["cause"], "revoked");
    assert!(
        token["check"]["drift"][0]
            .as_str()
            .is_some_and(|d| d.contains("revoked or invalidated outside graphform")),
        "{token:#}"
    );
    let (_, text) = run(&mut world.command(&["status", "--check"]));
    let mut settings = status_filters();
    settings.add_filter(r"\(in (59|60)d\)", "(in 60d)");
    settings.bind(|| insta::assert_snapshot!("status_check_revoked", text));
}

/// `--fail-within 14d` exits 2 exactly when `expires_at <= now + 14d`:
/// at the boundary and one second inside, not one second outside; the
/// report is printed either way.
#[test]
fn fail_within_exits_2_from_the_boundary_on() {
    let world = World::new();
    world.apply();
    let (_, json) = world.status_json_at(world.now, &[]);
    let expires_at = json["tokens"][0]["current"]["expires_at"]
        .as_i64()
        .expect("expires");
    let boundary = expires_at - 14 * DAY;
    for (now, expected) in [(boundary - 1, 0), (boundary, 2), (boundary + 1, 2)] {
        let output = world
            .store_only_at(now, &["status", "--fail-within", "14d"])
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(expected),
            "at {now}: {stdout}{stderr}"
        );
        assert!(stdout.contains(TOKEN), "the report is printed: {stdout}");
        assert_eq!(
            stderr.contains(&format!("{TOKEN} expires at")),
            expected == 2,
            "{stderr}"
        );
    }
    // A missing token fails it too, however far the horizon.
    let policy = world.dir().join("graphform.yaml");
    let mut text = std::fs::read_to_string(&policy).expect("policy");
    text.push_str(
        "          - name: spare\n            app: reporting\n            scopes: [ads_read]\n",
    );
    std::fs::write(&policy, text).expect("write");
    let (code, json) = world.status_json_at(world.now, &["--fail-within", "0m"]);
    assert_eq!(code, 2);
    assert_eq!(json["tokens"][1]["state"], "missing");
    // A bad duration is a usage error.
    let (code, text) = run(&mut world.store_only_at(world.now, &["status", "--fail-within", "2w"]));
    assert_eq!(code, 64, "{text}");
}

/// A 502 to the token issue after Meta minted it: the token may exist and
/// is in no store. `status` says so in every format and `--fail-within`
/// pages about it (naming the system user and the fix) until an apply
/// with `--invalidate-orphaned` kills it.
#[test]
fn a_token_issue_without_a_verified_outcome_is_a_problem_until_invalidated() {
    let world = World::new();
    request(
        world.emulator.port,
        "POST",
        "/_emulator/faults/next",
        r#"{"endpoint":"POST /{system-user-id}/access_tokens","fault":"gateway_error_after_call","status":502}"#,
    );
    let (code, text) = run(&mut world.command(&["apply", "--auto-approve"]));
    assert_eq!(code, 1, "the issue failed: {text}");

    let output = world
        .store_only_at(world.now, &["status", "--fail-within", "14d"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("system user acme/ci-reporting")
            && stderr.contains("graphform plan --invalidate-orphaned"),
        "{stderr}"
    );
    status_filters().bind(|| insta::assert_snapshot!("status_possibly_orphaned", stdout));

    let (code, json) = world.status_json_at(world.now, &[]);
    assert_eq!(code, 0);
    assert_matches_schema("status.schema.json", &json);
    let orphan = &json["possibly_orphaned"][0];
    assert_eq!(orphan["system_user"], "acme/ci-reporting", "{json:#}");
    assert_eq!(orphan["address"], TOKEN);
    assert_eq!(orphan["action"], "issue");

    let prometheus = world
        .store_only_at(world.now, &["status", "--format", "prometheus"])
        .output()
        .expect("runs");
    let prometheus = String::from_utf8(prometheus.stdout).expect("UTF-8");
    assert!(
        prometheus
            .contains("graphform_possibly_orphaned_tokens{system_user=\"acme/ci-reporting\"} 1"),
        "{prometheus}"
    );

    // The plan's warning says the same, without claiming an interruption.
    let (_, plan) = run(&mut world.command(&["plan"]));
    assert!(
        plan.contains("got no verified outcome for a call that issues a token (interrupted, or Meta's answer was lost)"),
        "{plan}"
    );

    let (code, text) =
        run(&mut world.command(&["apply", "--auto-approve", "--invalidate-orphaned"]));
    assert_eq!(code, 0, "{text}");
    let (code, json) = world.status_json_at(world.now, &["--fail-within", "14d"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["possibly_orphaned"], serde_json::json!([]));
}

/// Every apply records itself at the root, a run with nothing to do too.
#[test]
fn the_last_apply_is_recorded_and_reported() {
    let world = World::new();
    let (_, json) = world.status_json_at(world.now, &[]);
    assert_eq!(json["last_apply"], serde_json::Value::Null);
    assert_eq!(json["tokens"][0]["state"], "missing");
    world.apply();
    let (_, json) = world.status_json_at(world.now, &[]);
    let last = &json["last_apply"];
    assert_eq!(last["outcome"], "succeeded");
    assert_eq!(last["started_at"].as_i64(), Some(world.now));
    assert_eq!(
        last["changes"],
        serde_json::json!({"planned": 3, "done": 3, "failed": 0, "skipped": 0})
    );
    assert_eq!(json["last_successful_apply"], last["finished_at"]);

    // The next day, nothing to do: still an apply, and it succeeded.
    let later = world.now + DAY;
    let (code, text) = run(&mut world.command_at(later, &["apply", "--auto-approve"]));
    assert_eq!(code, 0, "{text}");
    let (_, json) = world.status_json_at(later, &[]);
    assert_eq!(json["last_apply"]["started_at"].as_i64(), Some(later));
    assert_eq!(
        json["last_apply"]["changes"],
        serde_json::json!({"planned": 0, "done": 0, "failed": 0, "skipped": 0})
    );
    assert!(json["last_successful_apply"].as_i64() >= Some(later));
}

/// `status --help` says what it reads and needs per store, and how it
/// exits, with examples.
#[test]
fn help_teaches_what_status_needs() {
    graphform_snapshot!(
        "status_help",
        graphform(&repo_root()).args(["status", "--help"])
    );
}
