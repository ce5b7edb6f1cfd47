//! Every rule of the policy format (policy.md), turning [`RawPolicy`]
//! documents into a [`Spec`].
//!
//! Validation never stops at the first problem: each rule that fails adds a
//! [`Diagnostic`] (with the file, line and column of the offending node) and
//! validation goes on with the next. Defaults are applied here and nowhere
//! else.
//!
//! This module holds the entry point, [`validate`]: it checks each file's
//! `version`, that the sections several files of a policy directory may
//! share agree, and walks the businesses of every file, refusing a business
//! name or ID used twice. The rules of each part live beside it:
//! [`settings`] (`graph` and `store`), [`expiry`] (`defaults` and a token's
//! durations), [`business`] (businesses, apps and system users), [`token`]
//! (tokens and scopes) and [`fields`] (names, IDs, environment variable
//! names and app references, wherever they appear); [`place`] says where in
//! a file each value is.

mod business;
mod expiry;
mod fields;
mod place;
mod settings;
mod token;

pub use expiry::DEFAULT_GRACE;
pub(crate) use expiry::scalar_hint;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic};
use crate::raw::RawPolicy;
use crate::spec::Spec;
use crate::yaml::Node;
use place::At;

/// One parsed policy file.
pub(crate) struct Document {
    pub(crate) file: PathBuf,
    pub(crate) tree: Node,
    pub(crate) raw: RawPolicy,
}

/// Validates the documents of one policy (one file, or the files of a
/// directory, in name order). Returns the [`Spec`] when no error was found;
/// every problem, errors and warnings, is appended to `diagnostics`.
pub(crate) fn validate(documents: &[Document], diagnostics: &mut Vec<Diagnostic>) -> Option<Spec> {
    let mut v = Validator {
        diagnostics: Vec::new(),
    };
    for document in documents {
        v.version(document);
    }
    let graph = v.shared(documents, "graph", |raw| raw.graph.as_ref());
    let store = v.shared(documents, "store", |raw| raw.store.as_ref());
    let defaults = v.shared(documents, "defaults", |raw| raw.defaults.as_ref());

    let graph = v.graph(graph);
    let store = v.store(store);
    let defaults = v.defaults(defaults);

    // Business names and IDs are unique across the files of a policy.
    let mut businesses = Vec::new();
    let mut names = FirstSeen::default();
    let mut ids = FirstSeen::default();
    let listed = documents.iter().flat_map(|document| {
        let list = At::root(document).field("businesses");
        let raw_businesses = document.raw.businesses.iter().flatten();
        raw_businesses
            .enumerate()
            .map(move |(index, raw)| (&document.file, list.item(index), raw))
    });
    for (file, at, raw) in listed {
        let Some(business) = v.business(&at, raw, &defaults) else {
            continue;
        };
        let rule = "business names must be unique across the whole policy";
        if let Some(help) = names.repeated(&business.name, rule) {
            let message = format!("business `{}` is defined twice", business.name);
            v.push(
                at.field("name")
                    .error(Code::DuplicateAddress, message)
                    .label("already defined")
                    .help(help),
            );
            continue;
        }
        if let Some(help) = ids.repeated(&business.id, "manage each business under one name") {
            let message = format!("business ID {} is used twice", business.id);
            v.push(at.field("id").error(Code::DuplicateId, message).help(help));
        }
        names.insert(&business.name, file, at.line());
        ids.insert(&business.id, file, at.line());
        businesses.push(business);
    }

    let failed = v.diagnostics.iter().any(Diagnostic::is_error);
    diagnostics.append(&mut v.diagnostics);
    if failed {
        return None;
    }
    Some(Spec {
        graph: graph?,
        store: store?,
        businesses,
    })
}

/// Where each of a set of values (business names, business IDs) was
/// first defined: file and line.
#[derive(Default)]
struct FirstSeen(BTreeMap<String, (PathBuf, usize)>);

impl FirstSeen {
    /// When `value` was seen before, the hint "the first is at `file:line`;
    /// `rule`".
    fn repeated(&self, value: &str, rule: &str) -> Option<String> {
        let (file, line) = self.0.get(value)?;
        Some(format!("the first is at {}:{line}; {rule}", file.display()))
    }

    fn insert(&mut self, value: &str, file: &Path, line: usize) {
        self.0.insert(value.to_owned(), (file.to_path_buf(), line));
    }
}

/// One validation run: the diagnostics found so far. Its methods, one per
/// part of the policy, live in the submodules beside the rules they apply.
struct Validator {
    diagnostics: Vec<Diagnostic>,
}

impl Validator {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn version(&mut self, document: &Document) {
        let at = At::root(document);
        match document.raw.version {
            None => self.push(
                at.error(Code::MissingField, "missing `version`")
                    .help("every policy file starts with `version: 1`"),
            ),
            Some(1) => {}
            Some(other) => self.push(
                at.field("version")
                    .error(
                        Code::UnsupportedVersion,
                        format!("unsupported policy version {other}"),
                    )
                    .label("expected 1")
                    .help("this graphform reads policy version 1"),
            ),
        }
    }

    /// A section that may appear in several files of a policy directory and
    /// must then be identical. Returns the first definition and its place.
    fn shared<'a, T: PartialEq>(
        &mut self,
        documents: &'a [Document],
        key: &str,
        get: impl Fn(&'a RawPolicy) -> Option<&'a T>,
    ) -> Option<(&'a T, At<'a>)> {
        let mut first: Option<(&'a T, At<'a>)> = None;
        for document in documents {
            let Some(value) = get(&document.raw) else {
                continue;
            };
            let at = At::root(document).field(key);
            match &first {
                None => first = Some((value, at)),
                Some((kept, kept_at)) if *kept != value => {
                    let origin = kept_at.location();
                    self.push(
                        At::root(document).key(key).error(
                            Code::ConflictingSetting,
                            format!("`{key}` differs from the one in {}", origin.file.display()),
                        )
                        .help(format!(
                            "files of one policy directory must agree on `{key}` (first defined at {}:{}); \
                             keep it in one file",
                            origin.file.display(),
                            origin.line
                        )),
                    );
                }
                Some(_) => {}
            }
        }
        first
    }
}
