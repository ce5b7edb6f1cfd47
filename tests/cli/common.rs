//! Running the binary and snapshotting what it did.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root (for `examples/`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `graphform` command with a clean, deterministic environment: no colour,
/// no inherited log filter or policy path.
pub(crate) fn graphform(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_graphform"));
    command
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("GRAPHFORM_POLICY")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100");
    command
}

/// Runs a command and renders its exit code, stdout and stderr as one text,
/// the way uv's `uv_snapshot!` does.
pub(crate) fn run(command: &mut Command) -> (i32, String) {
    let output = command.output().expect("the binary runs");
    let code = output.status.code().unwrap_or(-1);
    let text = format!(
        "exit_code: {code}\n----- stdout -----\n{}----- stderr -----\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    (code, text)
}

/// Runs the command and snapshots exit code, stdout and stderr together.
macro_rules! graphform_snapshot {
    ($command:expr, @$snapshot:literal) => {{
        let (_, text) = $crate::common::run($command);
        insta::assert_snapshot!(text, @$snapshot);
    }};
    ($command:expr) => {{
        let (_, text) = $crate::common::run($command);
        insta::assert_snapshot!(text);
    }};
}
