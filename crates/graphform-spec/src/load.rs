//! Loading a policy from a file or a directory of `*.yaml` / `*.yml` files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::de::{Collected, Collector, from_node};
use crate::diagnostic::{Code, Diagnostic, Location, Sources};
use crate::raw::RawPolicy;
use crate::spec::Spec;
use crate::validate::{Document, validate};
use crate::yaml::{self, Kind, Node, Problem, Scalar, Span};

/// The outcome of loading a policy: the [`Spec`] when it is valid, and every
/// diagnostic (errors and warnings) either way.
#[derive(Debug)]
pub struct Loaded {
    /// The validated policy, when there was no error.
    pub spec: Option<Spec>,
    /// Every problem found, sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
    /// The text of each file read, for rendering diagnostics.
    pub sources: Sources,
    /// The files the policy was read from, in order.
    pub files: Vec<PathBuf>,
}

impl Loaded {
    /// How many diagnostics are errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// How many diagnostics are warnings.
    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    /// Whether the policy failed only because it could not be read: every
    /// error is that a file or directory could not be read (`io`) or that a
    /// directory holds no policy file (`no-policy-files`). Such a policy is
    /// not "invalid": nothing (or not all of it) was there to validate.
    pub fn unreadable(&self) -> bool {
        let mut errors = self.diagnostics.iter().filter(|d| d.is_error()).peekable();
        errors.peek().is_some() && errors.all(|d| matches!(d.code, Code::Io | Code::NoPolicyFiles))
    }
}

/// Loads and validates the policy at `path`: a YAML file, or a directory
/// whose `*.yaml` and `*.yml` files are one policy (their `businesses`
/// merged).
///
/// Never panics and never stops at the first problem.
pub fn load(path: &Path) -> Loaded {
    let mut diagnostics = Vec::new();
    let files = if path.is_dir() {
        match policy_files(path) {
            Ok(files) if files.is_empty() => {
                diagnostics.push(
                    Diagnostic::error(
                        Code::NoPolicyFiles,
                        format!("no `*.yaml` or `*.yml` files in `{}`", path.display()),
                    )
                    .help(
                        "a policy directory holds one or more `*.yaml` or `*.yml` files, \
                         e.g. one per business",
                    ),
                );
                files
            }
            Ok(files) => files,
            Err(error) => {
                diagnostics.push(io_error(path, &error));
                Vec::new()
            }
        }
    } else {
        vec![path.to_path_buf()]
    };
    let mut texts = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => texts.push((file.clone(), text)),
            Err(error) => diagnostics.push(io_error(file, &error)),
        }
    }
    let mut loaded = load_texts(texts);
    if diagnostics.iter().any(Diagnostic::is_error) {
        loaded.spec = None;
    }
    loaded.diagnostics.splice(0..0, diagnostics);
    loaded.files = files;
    loaded
}

/// Loads a policy from in-memory files (`(name, text)` pairs, in order), as
/// [`load`] does from disk.
pub fn load_texts(texts: Vec<(PathBuf, String)>) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut sources = Sources::default();
    let mut trees = Vec::new();
    let files: Vec<PathBuf> = texts.iter().map(|(file, _)| file.clone()).collect();
    for (file, text) in texts {
        let mut problems = Vec::new();
        match yaml::parse(&text, &mut problems) {
            Ok(tree) => trees.push((file.clone(), tree, text.trim().is_empty())),
            Err(problem) => problems.push(problem),
        }
        diagnostics.extend(
            problems
                .into_iter()
                .map(|problem| diagnostic(&file, problem)),
        );
        sources.insert(file, text);
    }
    let mut documents = Vec::new();
    let mut complete = true;
    // Where a value of the wrong type was read as an empty stand-in: what
    // validation says there is about the stand-in, not the file.
    let mut recovered = BTreeSet::new();
    for (file, tree, blank) in trees {
        if is_empty(&tree) {
            complete = false;
            diagnostics.push(diagnostic(&file, empty_file(tree.span, blank)));
            continue;
        }
        let collector = Collector::default();
        let raw: Result<RawPolicy, _> = from_node(&tree, &collector);
        let Collected {
            mut problems,
            recovered: spans,
        } = collector.into_collected();
        recovered.extend(spans.into_iter().map(|span| {
            let at = location(&file, span);
            (at.file, at.line, at.column)
        }));
        match raw {
            Ok(raw) => documents.push(Document {
                file: file.clone(),
                tree,
                raw,
            }),
            Err(problem) => {
                complete = false;
                problems.push(problem);
            }
        }
        diagnostics.extend(
            problems
                .into_iter()
                .map(|problem| diagnostic(&file, problem)),
        );
    }
    let mut found = Vec::new();
    let spec = validate(&documents, &mut found);
    // A secret is reported wherever it is: its report masks the line in
    // every diagnostic that quotes it, the type error's too.
    diagnostics.extend(found.into_iter().filter(|diagnostic| {
        diagnostic.code == Code::SecretInPolicy
            || diagnostic
                .location
                .as_ref()
                .is_none_or(|at| !recovered.contains(&(at.file.clone(), at.line, at.column)))
    }));
    diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
    // A value reported as a secret need not look like one (a passphrase,
    // a number): every diagnostic quoting its line masks it, and one that
    // quotes the value itself (the type error of an unquoted number) masks
    // it there too (issue 10).
    let mut secrets = Vec::new();
    for diagnostic in &diagnostics {
        if let (Code::SecretInPolicy, Some(location)) = (diagnostic.code, &diagnostic.location) {
            sources.mark_secret(location);
            secrets.extend(written_at(&sources, location));
        }
    }
    for diagnostic in &mut diagnostics {
        for secret in &secrets {
            mask_in(&mut diagnostic.message, secret);
            for text in [&mut diagnostic.label, &mut diagnostic.help]
                .into_iter()
                .flatten()
            {
                mask_in(text, secret);
            }
        }
    }
    let failed = !complete || diagnostics.iter().any(Diagnostic::is_error);
    Loaded {
        spec: spec.filter(|_| !failed),
        diagnostics,
        sources,
        files,
    }
}

/// The value written at `location`, without its quotes.
fn written_at(sources: &Sources, location: &Location) -> Option<String> {
    let line = sources
        .get(&location.file)?
        .lines()
        .nth(location.line.checked_sub(1)?)?;
    let written: String = line
        .chars()
        .skip(location.column.saturating_sub(1))
        .take(location.len)
        .collect();
    let value = written.trim_matches(['"', '\'']);
    (!value.is_empty()).then(|| value.to_owned())
}

/// `text` with every occurrence of `secret` masked.
fn mask_in(text: &mut String, secret: &str) {
    if text.contains(secret) {
        *text = text.replace(secret, &crate::secret::mask(secret));
    }
}

/// Whether a file's tree holds nothing: the file is empty, or only
/// comments (or only `---`, or `null`).
fn is_empty(tree: &Node) -> bool {
    matches!(&tree.kind, Kind::Scalar(Scalar::Null, _))
}

/// The problem of a policy file that holds nothing (`blank`: not even a
/// comment): what a policy starts with, rather than "expected a mapping".
fn empty_file(span: Span, blank: bool) -> Problem {
    let message = if blank {
        "the policy file is empty"
    } else {
        "the policy file holds no policy, only comments"
    };
    Problem::new(Code::EmptyPolicy, message, span).help(
        "a policy starts with `version: 1` and a list of `businesses:`; \
         start from `examples/quickstart.yaml` (or see `graphform schema`)",
    )
}

fn policy_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // Both spellings are common for YAML; a file of either is read.
        if path.is_file()
            && path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A problem found reading `file`, as a diagnostic there.
fn diagnostic(file: &Path, problem: Problem) -> Diagnostic {
    let mut diagnostic =
        Diagnostic::error(problem.code, problem.message).at(location(file, problem.span));
    if let Some(label) = problem.label {
        diagnostic = diagnostic.label(label);
    }
    if let Some(help) = problem.help {
        diagnostic = diagnostic.help(help);
    }
    diagnostic
}

fn location(file: &Path, span: Span) -> Location {
    Location {
        file: file.to_path_buf(),
        line: span.line.max(1),
        column: span.column.max(1),
        len: span.len.max(1),
    }
}

fn io_error(path: &Path, error: &std::io::Error) -> Diagnostic {
    let help = match error.kind() {
        std::io::ErrorKind::NotFound => {
            "pass the policy's path (`graphform validate PATH`, or `GRAPHFORM_POLICY`); \
             without one, graphform reads `graphform.yaml` in the current directory"
                .to_owned()
        }
        std::io::ErrorKind::InvalidData => "policy files are UTF-8 text".to_owned(),
        _ => "check the path and its permissions".to_owned(),
    };
    Diagnostic::error(
        Code::Io,
        format!("cannot read `{}`: {error}", path.display()),
    )
    .help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy `text` as one file: each diagnostic as
    /// `line:column code: message`.
    fn diagnostics(text: &str) -> Vec<String> {
        let loaded = load_texts(vec![(PathBuf::from("p.yaml"), text.to_owned())]);
        assert!(loaded.spec.is_none(), "{text} is invalid");
        loaded
            .diagnostics
            .iter()
            .map(|d| {
                let at = d.location.as_ref().expect("located");
                format!("{}:{} {}: {}", at.line, at.column, d.code, d.message)
            })
            .collect()
    }

    const POLICY: &str = "\
version: 1
businesses:
  - name: acme
    id: \"100000000000001\"
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: \"200000000000001\", secret_env: REPORTING_APP_SECRET }
    system_users:
      - name: ci-reporting
        apps: [reporting]
        tokens:
          - name: insights-read
            app: reporting
            scopes: [ads_read]
";

    #[test]
    fn a_type_error_does_not_hide_the_rules_broken_elsewhere() {
        let text = POLICY
            .replace("id: \"100000000000001\"", "id: 100000000000001")
            .replace("[ads_read]", "[ads_read, read_insight]")
            + "            grace: 1 day\n";
        assert_eq!(
            diagnostics(&text),
            [
                "4:9 invalid-type: expected a string, found the number `100000000000001`",
                "14:32 unknown-scope: unknown scope `read_insight`",
                "15:20 invalid-duration: invalid duration `1 day`",
            ]
        );
    }

    #[test]
    fn a_value_read_as_a_stand_in_adds_no_follow_on_errors() {
        for (from, to, expected) in [
            (
                "admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }",
                "admin: [ACME_ADMIN_TOKEN, reporting]",
                "5:12 invalid-type: expected a mapping, found a list",
            ),
            (
                "app: reporting\n",
                "app: { name: reporting }\n",
                "13:18 invalid-type: expected a string, found a mapping",
            ),
            (
                "version: 1",
                "version: \"1\"",
                "1:10 invalid-type: expected a whole number, found the string `1`",
            ),
            (
                "scopes: [ads_read]",
                "scopes: ads_read",
                "14:21 invalid-type: expected a list, found the string `ads_read`",
            ),
            (
                "      - name: ci-reporting\n",
                "      - ci-reporting\n      - name: other\n",
                "9:9 invalid-type: expected a mapping, found the string `ci-reporting`",
            ),
        ] {
            let text = POLICY.replace(from, to);
            assert_ne!(text, POLICY, "{from}");
            assert_eq!(diagnostics(&text), [expected], "{to}");
        }
    }

    #[test]
    fn a_secret_written_as_a_number_is_masked_in_its_type_error_too() {
        let secret = "12345678901234567890123456789012";
        let text = POLICY.replace(
            "secret_env: REPORTING_APP_SECRET",
            &format!("secret_env: {secret}"),
        );
        let loaded = load_texts(vec![(PathBuf::from("p.yaml"), text)]);
        let codes: Vec<_> = loaded.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, [Code::InvalidType, Code::SecretInPolicy]);
        for diagnostic in &loaded.diagnostics {
            let shown = crate::render(diagnostic, &loaded.sources, false);
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("1234…(redacted, 32 characters)"), "{shown}");
        }
    }

    #[test]
    fn any_other_version_number_is_answered_with_the_one_read() {
        for version in ["2", "0", "-1", "99999999999"] {
            let text = POLICY.replace("version: 1", &format!("version: {version}"));
            assert_eq!(
                diagnostics(&text),
                [format!(
                    "1:10 unsupported-version: unsupported policy version {version}"
                )]
            );
            let loaded = load_texts(vec![(PathBuf::from("p.yaml"), text)]);
            assert_eq!(
                loaded.diagnostics[0].help.as_deref(),
                Some("this graphform reads policy version 1")
            );
        }
    }

    #[test]
    fn an_empty_file_says_what_a_policy_starts_with() {
        for text in ["", "# a policy, some day\n", "---\n", "~\n"] {
            let loaded = load_texts(vec![(PathBuf::from("p.yaml"), text.to_owned())]);
            assert!(loaded.spec.is_none());
            let [diagnostic] = loaded.diagnostics.as_slice() else {
                panic!("{:?}", loaded.diagnostics);
            };
            assert_eq!(diagnostic.code, Code::EmptyPolicy, "{text:?}");
            assert!(
                diagnostic
                    .help
                    .as_deref()
                    .is_some_and(|help| help.contains("`version: 1`")),
                "{diagnostic:?}"
            );
        }
    }

    #[test]
    fn a_directory_reads_yaml_and_yml_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["a.yaml", "b.yml", "c.txt", "d.yaml.bak"] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let files = policy_files(dir.path()).expect("readable");
        let names: Vec<_> = files.iter().filter_map(|f| f.file_name()).collect();
        assert_eq!(names, ["a.yaml", "b.yml"]);
    }
}
