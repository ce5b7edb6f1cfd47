//! `--color`: decided once per stream, from the flag and anstream's reading
//! of the environment; logs follow stderr's choice.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use crate::common::{graphform, repo_root, run};

const ESC: char = '\u{1b}';

#[test]
fn color_always_paints_errors_and_never_wins_over_clicolor_force() {
    let (code, text) =
        run(graphform(&repo_root()).args(["--color", "always", "validate", "missing.yaml"]));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(ESC), "{text:?}");
    // `auto` on a pipe: no colour, unless CLICOLOR_FORCE says so.
    let (_, text) = run(graphform(&repo_root())
        .args(["validate", "missing.yaml"])
        .env_remove("NO_COLOR"));
    assert!(!text.contains(ESC), "{text:?}");
    let (_, text) = run(graphform(&repo_root())
        .args(["validate", "missing.yaml"])
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1"));
    assert!(text.contains(ESC), "{text:?}");
    let (_, text) = run(graphform(&repo_root())
        .args(["--color", "never", "validate", "missing.yaml"])
        .env("CLICOLOR_FORCE", "1"));
    assert!(!text.contains(ESC), "{text:?}");
}

#[test]
fn log_lines_carry_no_escape_codes_when_stderr_is_not_coloured() {
    // NO_COLOR unset and stderr a pipe: colour is off, and the log
    // subscriber is told so.
    let mut child = graphform(&repo_root())
        .arg("emulator")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let line = stderr
        .lines()
        .map(|line| line.expect("a line"))
        .find(|line| line.contains("INFO"))
        .expect("an INFO log line");
    child.kill().expect("stop");
    child.wait().expect("reaped");
    assert!(!line.contains(ESC), "{line:?}");
}
