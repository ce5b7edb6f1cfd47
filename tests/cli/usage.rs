//! Usage errors (issue 13): a command line graphform cannot run exits 64
//! (`EX_USAGE`), never 0 and never 2, which `plan --detailed-exitcode`
//! means "changes present": a CI step `plan --detailed-exitcode … || test
//! $? -eq 2` must not pass on a mistyped flag.
//!
//! The cases are generated from the command definition, so a new command,
//! flag or choice is covered without editing this file: every command and
//! subcommand with an unknown flag, every flag with a fixed set of values
//! given one outside it, a first positional argument with a fixed set
//! (`completions SHELL`) given one outside it, plus hand-picked ones (a
//! missing command, an unknown one, the mistyped flag of issue 13, a
//! number out of range).

use clap::CommandFactory as _;
use graphform_cli::{Cli, EXIT_USAGE};

use crate::common::graphform;

/// Every command path: `[]`, `["plan"]`, `["emulator", …]`, …
fn command_paths(command: &clap::Command, path: &[String], paths: &mut Vec<Vec<String>>) {
    paths.push(path.to_vec());
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut next = path.to_vec();
        next.push(sub.get_name().to_owned());
        command_paths(sub, &next, paths);
    }
}

/// The command at `path`.
fn command_at<'c>(root: &'c clap::Command, path: &[String]) -> &'c clap::Command {
    path.iter().fold(root, |command, name| {
        command
            .find_subcommand(name)
            .expect("a path from command_paths")
    })
}

/// Usage errors generated from the command definition, and hand-picked
/// ones.
fn usage_errors() -> Vec<Vec<String>> {
    let root = Cli::command();
    let mut paths = Vec::new();
    command_paths(&root, &[], &mut paths);
    let mut cases = Vec::new();
    for path in &paths {
        let mut unknown = path.clone();
        unknown.push("--no-such-flag".to_owned());
        cases.push(unknown);
        let command = command_at(&root, path);
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let takes_a_choice =
                arg.get_action().takes_values() && !arg.get_possible_values().is_empty();
            if !takes_a_choice || arg.is_global_set() && !path.is_empty() {
                continue;
            }
            let mut invalid = path.clone();
            invalid.extend([format!("--{long}"), "not-a-choice".to_owned()]);
            cases.push(invalid);
        }
        // Only the first positional: a later one would need valid values
        // before it.
        if let Some(first) = command.get_positionals().next()
            && !first.get_possible_values().is_empty()
        {
            let mut invalid = path.clone();
            invalid.push("not-a-choice".to_owned());
            cases.push(invalid);
        }
    }
    let by_hand: [&[&str]; 5] = [
        &[],
        &["no-such-command"],
        &["plan", "--detailed-exitcod"],
        &["apply", "--parallelism", "0"],
        &["plan", "--out"],
    ];
    cases.extend(
        by_hand
            .iter()
            .map(|case| case.iter().map(|word| (*word).to_owned()).collect()),
    );
    cases
}

#[test]
fn every_usage_error_exits_64_never_0_or_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = usage_errors();
    assert!(
        cases.len() > 20,
        "the command definition yields cases: {cases:?}"
    );
    let mut wrong = Vec::new();
    for case in &cases {
        let output = graphform(dir.path())
            .args(case)
            .output()
            .expect("graphform runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(i32::from(EXIT_USAGE)) || stderr.trim().is_empty() {
            wrong.push(format!(
                "graphform {} exited {:?}: {}",
                case.join(" "),
                output.status.code(),
                stderr.lines().next().unwrap_or("(nothing on stderr)")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn help_and_version_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    for case in [
        &["--help"][..],
        &["plan", "--help"],
        &["help", "apply"],
        &["--version"],
    ] {
        let output = graphform(dir.path())
            .args(case)
            .output()
            .expect("graphform runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "graphform {}",
            case.join(" ")
        );
        assert!(!output.stdout.is_empty(), "graphform {}", case.join(" "));
    }
}
