//! One world for the end-to-end tests that drive graphform through time:
//! the quickstart workspace (policy and initialized file store) against an
//! emulator child, every command run at the emulator's clock.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{EmulatorProcess, graphform, json_of, request, workspace};

/// The quickstart workspace against an emulator, every command run at the
/// emulator's clock.
pub(crate) struct World {
    pub(crate) emulator: EmulatorProcess,
    dir: tempfile::TempDir,
    key: String,
}

impl World {
    /// The quickstart workspace against the emulator's default world.
    pub(crate) fn new() -> Self {
        Self::with(
            tempfile::tempdir().expect("tempdir"),
            EmulatorProcess::start(),
        )
    }

    /// The quickstart workspace in `dir` against `emulator` (started with
    /// a world file written in `dir`, say).
    pub(crate) fn with(dir: tempfile::TempDir, emulator: EmulatorProcess) -> Self {
        let key = workspace(dir.path());
        Self { emulator, dir, key }
    }

    /// The value the emulator exports as `name` (a credential: tests
    /// check that it never appears in output).
    pub(crate) fn exported(&self, name: &str) -> &str {
        self.emulator
            .env
            .iter()
            .find(|(exported, _)| exported == name)
            .map_or_else(|| panic!("the emulator exports {name}"), |(_, value)| value)
    }

    pub(crate) fn policy(&self) -> PathBuf {
        self.dir.path().join("graphform.yaml")
    }

    /// Appends `token` (YAML lines) to the system user's tokens.
    pub(crate) fn add_token(&self, token: &str) {
        let mut text = std::fs::read_to_string(self.policy()).expect("policy");
        text.push_str(token);
        std::fs::write(self.policy(), text).expect("write policy");
    }

    pub(crate) fn remove_token(&self, token: &str) {
        let text = std::fs::read_to_string(self.policy()).expect("policy");
        assert!(text.contains(token));
        std::fs::write(self.policy(), text.replace(token, "")).expect("write policy");
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = graphform(self.dir.path());
        command.args(args).env("GRAPHFORM_STORE_KEY", &self.key);
        self.emulator.at_its_clock(&mut command);
        command
    }

    /// Runs a command whose stdout is JSON; its exit code and document.
    pub(crate) fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        json_of(&mut self.command(args))
    }

    pub(crate) fn plan(&self) -> serde_json::Value {
        let (code, plan) = self.json(&["plan", "--format", "json"]);
        assert_eq!(code, 0, "{plan:#}");
        plan
    }

    pub(crate) fn apply(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut args = vec!["apply", "--auto-approve", "--format", "json"];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    pub(crate) fn advance(&self, seconds: i64) {
        request(
            self.emulator.port,
            "POST",
            "/_emulator/clock",
            &format!("{{\"advance_seconds\":{seconds}}}"),
        );
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `(address, action, status)` of each change of an apply report, or
/// `(address, action, maintenance)` of each change of a plan.
pub(crate) fn rows(document: &serde_json::Value, third: &str) -> Vec<(String, String, String)> {
    document["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| {
            let text = |key: &str| change[key].as_str().unwrap_or("").to_owned();
            (text("address"), text("action"), text(third))
        })
        .collect()
}

pub(crate) fn row(address: &str, action: &str, third: &str) -> (String, String, String) {
    (address.to_owned(), action.to_owned(), third.to_owned())
}

/// The fingerprint of each token in a plan's timeline, by address.
pub(crate) fn fingerprints(plan: &serde_json::Value) -> Vec<(String, String)> {
    plan["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|entry| {
            let text = |key: &str| entry[key].as_str().unwrap_or("").to_owned();
            (text("address"), text("fingerprint"))
        })
        .collect()
}
