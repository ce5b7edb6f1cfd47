//! The README's tour, run as written: the "Plan and apply, against the
//! emulator" commands from the repository's root with only the `graphform`
//! under test on `PATH`, and the plan they print is the one the README
//! shows.

use std::process::Command;

use crate::common::{path_with_graphform, repo_root};

/// The body of the first fenced block tagged `tag` after the heading
/// `heading` in `text`.
fn block_after<'t>(text: &'t str, heading: &str, tag: &str) -> &'t str {
    let section = &text[text.find(heading).expect("the heading") + heading.len()..];
    let fence = format!("```{tag}\n");
    let body = &section[section.find(&fence).expect("the block") + fence.len()..];
    &body[..body.find("```\n").expect("the block's end")]
}

#[test]
fn the_readmes_plan_and_apply_runs_as_written_and_prints_the_plan_it_shows() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let heading = "### Plan and apply, against the emulator\n";
    let commands = block_after(&readme, heading, "sh");
    let plan = block_after(&readme, heading, "text");
    let scratch = tempfile::tempdir().expect("tempdir");
    // The emulator the block leaves running is stopped however it ends;
    // `timeout` ends a block that hangs.
    let script = format!("trap 'kill \"$!\" 2>/dev/null' EXIT\ntrap 'exit 1' TERM\n{commands}");
    let output = Command::new("timeout")
        .args([
            "120",
            "bash",
            "--noprofile",
            "--norc",
            "-eo",
            "pipefail",
            "-c",
        ])
        .arg(&script)
        .current_dir(repo_root())
        .env_clear()
        .env("PATH", path_with_graphform())
        .env("HOME", scratch.path())
        .env("TMPDIR", scratch.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{:?}\n{commands}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(plan),
        "the README shows another plan than the one printed:\n{stdout}"
    );
    assert!(
        stdout.contains("Apply complete: 3 changes made."),
        "{stdout}"
    );
}
