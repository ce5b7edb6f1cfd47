//! Loading a policy from a file or a directory of `*.yaml` files.

use std::path::{Path, PathBuf};

use crate::de::{Collector, from_node};
use crate::diagnostic::{Code, Diagnostic, Location, Sources};
use crate::raw::RawPolicy;
use crate::spec::Spec;
use crate::validate::{Document, validate};
use crate::yaml::{self, Problem, Span};

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
}

/// Loads and validates the policy at `path`: a YAML file, or a directory
/// whose `*.yaml` files are one policy (their `businesses` merged).
///
/// Never panics and never stops at the first problem.
pub fn load(path: &Path) -> Loaded {
    let mut diagnostics = Vec::new();
    let files = if path.is_dir() {
        match policy_files(path) {
            Ok(files) if files.is_empty() => {
                diagnostics.push(
                    Diagnostic::error(Code::NoPolicyFiles, format!("no `*.yaml` files in `{}`", path.display()))
                        .help("a policy directory holds one or more `*.yaml` files, e.g. one per business"),
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
            Ok(tree) => trees.push((file.clone(), tree)),
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
    for (file, tree) in trees {
        let collector = Collector::default();
        let raw: Result<RawPolicy, _> = from_node(&tree, &collector);
        let mut problems = collector.into_problems();
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
    let spec = validate(&documents, &mut diagnostics);
    diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
    // A value reported as a secret need not look like one (a passphrase):
    // every diagnostic quoting its line masks it (issue 10).
    for diagnostic in &diagnostics {
        if let (Code::SecretInPolicy, Some(location)) = (diagnostic.code, &diagnostic.location) {
            sources.mark_secret(location);
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

fn policy_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "yaml") {
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
            "pass the policy's path (`graphform validate PATH`), or run where `graphform.yaml` is"
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
