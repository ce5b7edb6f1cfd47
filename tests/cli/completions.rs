//! `graphform completions` and `graphform man` (issue 14): both are
//! generated from the one clap definition, so the tests take the commands
//! and shells from it too, and check that what comes out is something the
//! shell (or groff) accepts, where that program is on the machine.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};

use clap::CommandFactory as _;
use graphform_cli::{Cli, EXIT_USAGE};

use crate::common::graphform;

/// The subcommands' names, `help` aside.
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .filter(|name| name != "help")
        .collect()
}

/// The shells `completions` offers, from its argument's possible values.
fn shells() -> Vec<String> {
    let command = Cli::command();
    let completions = command
        .find_subcommand("completions")
        .expect("a completions subcommand");
    let shell = completions
        .get_positionals()
        .next()
        .expect("a SHELL argument");
    shell
        .get_possible_values()
        .iter()
        .map(|value| value.get_name().to_owned())
        .collect()
}

/// Runs graphform with `args` in an empty temporary directory.
fn graphform_in_temp_dir(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    graphform(dir.path())
        .args(args)
        .output()
        .expect("graphform runs")
}

/// `graphform completions SHELL`'s script; it must succeed.
fn script(shell: &str) -> String {
    let output = graphform_in_temp_dir(&["completions", shell]);
    assert_eq!(output.status.code(), Some(0), "completions {shell}");
    assert!(output.stderr.is_empty(), "completions {shell}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Runs `program` with `args` then the file, or `None` when `program` is
/// not installed (the caller skips and says so).
fn check_with(program: &str, args: &[&str], file: &Path) -> Option<Output> {
    match Command::new(program).args(args).arg(file).output() {
        Ok(output) => Some(output),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => panic!("{program} did not run: {error}"),
    }
}

#[test]
fn every_shell_is_offered_including_the_four_of_the_issue() {
    let shells = shells();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.iter().any(|s| s == shell), "{shell} in {shells:?}");
    }
}

#[test]
fn each_shell_s_script_names_every_subcommand_and_their_flags() {
    let subcommands = subcommands();
    assert!(subcommands.len() > 8, "{subcommands:?}");
    for shell in shells() {
        let script = script(&shell);
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        // Long flags without their dashes: fish writes `-l detailed-exitcode`.
        for name in subcommands.iter().map(String::as_str).chain([
            "detailed-exitcode",
            "auto-approve",
            "revoke-now",
            "invalidate-orphaned",
        ]) {
            assert!(script.contains(name), "the {shell} script lacks {name}");
        }
    }
}

#[test]
fn the_bash_script_parses_and_completes_commands_and_choices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("graphform.bash");
    std::fs::write(&file, script("bash")).expect("written");
    let output = check_with("bash", &["-n"], &file).expect("bash is on the machine");
    assert!(
        output.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // What bash's completion would offer after `graphform pl`,
    // `graphform plan --format ` and `graphform completions `: the
    // function the script registers, called as `complete -F` calls it.
    let complete = r#"source "$1"
offer() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  _graphform graphform "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "${COMPREPLY[*]}"; }
offer graphform pl
offer graphform plan --format ''
offer graphform completions ''"#;
    let output = Command::new("bash")
        .args(["-c", complete, "bash"])
        .arg(&file)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], "plan");
    assert_eq!(lines[1], "text markdown json");
    for shell in shells() {
        assert!(
            lines[2].split(' ').any(|word| word == shell),
            "{shell} in {}",
            lines[2]
        );
    }
}

#[test]
fn the_zsh_and_fish_scripts_parse_where_those_shells_are_installed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (shell, program, args) in [
        ("zsh", "zsh", &["-n"][..]),
        ("fish", "fish", &["--no-execute"][..]),
    ] {
        let file = dir.path().join(format!("graphform.{shell}"));
        std::fs::write(&file, script(shell)).expect("written");
        // Not installed for the test's sake: where the shell is missing,
        // the script's content is still checked by the test above.
        let Some(output) = check_with(program, args, &file) else {
            eprintln!("{program} is not installed: the {shell} script's syntax is not checked");
            continue;
        };
        assert!(
            output.status.success(),
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let output = graphform_in_temp_dir(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(i32::from(EXIT_USAGE)));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid value 'tcsh'"), "{stderr}");
    assert!(stderr.contains("bash"), "{stderr}");
}

#[test]
fn completions_help_says_where_each_shell_finds_the_script() {
    let output = graphform_in_temp_dir(&["completions", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for shell in shells() {
        assert!(
            help.contains(&format!("graphform completions {shell}")),
            "how to install for {shell}: {help}"
        );
    }
    for place in [
        "~/.local/share/bash-completion/completions/graphform",
        "fpath=",
        "~/.config/fish/completions/graphform.fish",
        "$PROFILE",
    ] {
        assert!(help.contains(place), "{place}: {help}");
    }
}

/// Every page `man --out` writes: `graphform.1`, then one per
/// subcommand at any depth (`graphform-store-init.1`), `help` aside.
fn expected_pages() -> Vec<String> {
    fn walk(command: &clap::Command, prefix: &str, pages: &mut Vec<String>) {
        pages.push(format!("{prefix}.1"));
        for sub in command.get_subcommands() {
            if sub.get_name() != "help" {
                walk(sub, &format!("{prefix}-{}", sub.get_name()), pages);
            }
        }
    }
    let mut pages = Vec::new();
    walk(&Cli::command(), "graphform", &mut pages);
    pages.sort();
    pages
}

/// The page's `.TH` line.
fn title_line(page: &str) -> &str {
    page.lines()
        .find(|line| line.starts_with(".TH "))
        .expect("a .TH line")
}

#[test]
fn man_prints_graphform_1_with_its_subcommands_and_examples() {
    let output = graphform_in_temp_dir(&["man"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty());
    let page = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        title_line(&page).starts_with(".TH GRAPHFORM 1 "),
        "{}",
        title_line(&page)
    );
    assert!(title_line(&page).contains("graphform 0."), "the version");
    for name in subcommands() {
        // roff escapes the hyphen.
        assert!(
            page.contains(&format!("graphform\\-{name}(1)")),
            "graphform.1 names graphform-{name}(1)"
        );
    }
    // The help's closing is laid out as written (no filling), in sections
    // of its own, not clap_mangen's EXTRA.
    assert!(!page.contains(".SH EXTRA"), "{page}");
    let examples = &page[page.find(".SH EXAMPLES\n.nf\n").expect("EXAMPLES")..];
    assert!(
        examples.contains("graphform apply plan.json "),
        "{examples}"
    );
    assert!(page.contains(".SH NOTES\n.nf\nEnvironment:\n"), "{page}");
    assert!(page.contains("GRAPHFORM_GRAPH_URL"), "{page}");
    assert!(
        page.find(".SH EXAMPLES") < page.find(".SH VERSION"),
        "the version closes the page"
    );
}

#[test]
fn man_out_writes_a_page_per_command_into_a_new_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("share/man/man1");
    let output = graphform(dir.path())
        .args(["man", "--out"])
        .arg(&out)
        .output()
        .expect("graphform runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = expected_pages();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with(&format!("Wrote {} man pages to ", expected.len())),
        "{stdout}"
    );
    let mut written: Vec<OsString> = std::fs::read_dir(&out)
        .expect("the directory was created")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    written.sort();
    assert_eq!(
        written,
        expected.iter().map(OsString::from).collect::<Vec<_>>()
    );
    assert!(expected.contains(&"graphform-store-init.1".to_owned()));
    for name in &expected {
        let page = std::fs::read_to_string(out.join(name)).expect("readable");
        let title = name.trim_end_matches(".1").to_uppercase();
        assert!(
            title_line(&page).starts_with(&format!(".TH {title} 1 ")),
            "{name}: {}",
            title_line(&page)
        );
        // Every footer names graphform, not the subcommand, in the
        // source's place: the date before it is blank, not missing.
        assert!(
            title_line(&page).contains(" 1 \" \" \"graphform 0."),
            "{name}: {}",
            title_line(&page)
        );
        // groff accepts it without a warning (preconv for `…`), where
        // groff is installed; `man` itself is not needed.
        if let Some(output) = check_with(
            "groff",
            &["-k", "-man", "-Tutf8", "-ww", "-z"],
            &out.join(name),
        ) {
            assert!(
                output.status.success() && output.stderr.is_empty(),
                "groff on {name}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    let plan = std::fs::read_to_string(out.join("graphform-plan.1")).expect("readable");
    assert!(plan.contains("\\-\\-detailed\\-exitcode"), "{plan}");
    assert!(plan.contains("GRAPHFORM_POLICY"), "env names, as --help");
}

#[test]
fn man_out_replaces_its_own_pages_and_leaves_other_files_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("graphform-plan.1"), "stale").expect("written");
    std::fs::write(dir.path().join("other.1"), "not ours").expect("written");
    let output = graphform(dir.path())
        .args(["man", "--out", "."])
        .output()
        .expect("graphform runs");
    assert_eq!(output.status.code(), Some(0));
    let plan = std::fs::read_to_string(dir.path().join("graphform-plan.1")).expect("readable");
    assert!(plan.contains(".TH GRAPHFORM-PLAN 1"), "{plan}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("other.1")).expect("readable"),
        "not ours"
    );
}

#[test]
fn man_out_onto_a_file_fails_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("taken"), "a file").expect("written");
    let output = graphform(dir.path())
        .args(["man", "--out", "taken"])
        .output()
        .expect("graphform runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot create the directory `taken`"),
        "{stderr}"
    );
}
