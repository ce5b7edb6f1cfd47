//! Where a value is: the file and YAML node behind each part of a policy,
//! so every diagnostic points at the line and column of what it is about,
//! or at the nearest parent when the value is missing.

use std::path::Path;

use super::Document;
use crate::diagnostic::{Code, Diagnostic, Location};
use crate::yaml::{Kind, Node, Span};

/// A place in a document: the file and, when present, the node.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    file: &'a Path,
    pub(super) node: Option<&'a Node>,
    /// Where to point when `node` is absent: the nearest existing parent.
    parent: Option<&'a Node>,
}

impl<'a> At<'a> {
    pub(super) fn root(document: &'a Document) -> Self {
        Self {
            file: &document.file,
            node: Some(&document.tree),
            parent: None,
        }
    }

    pub(super) fn field(&self, key: &str) -> At<'a> {
        At {
            file: self.file,
            node: self.node.and_then(|node| node.get(key)),
            parent: self.node.or(self.parent),
        }
    }

    pub(super) fn key(&self, key: &str) -> At<'a> {
        At {
            file: self.file,
            node: self
                .node
                .and_then(|node| node.entry(key))
                .map(|(key, _)| key),
            parent: self.node.or(self.parent),
        }
    }

    pub(super) fn item(&self, index: usize) -> At<'a> {
        At {
            file: self.file,
            node: self.node.and_then(|node| node.item(index)),
            parent: self.node.or(self.parent),
        }
    }

    /// The key node of the mapping entry whose key is `key` (for map-typed
    /// fields like `apps`, whose keys are names).
    pub(super) fn map_key(&self, key: &str) -> At<'a> {
        self.key(key)
    }

    /// The line of the node, 0 when it is absent.
    pub(super) fn line(&self) -> usize {
        self.node.map_or(0, |node| node.span.line)
    }

    /// An error about what is here.
    pub(super) fn error(&self, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, message).at(self.location())
    }

    /// A warning about what is here.
    pub(super) fn warning(&self, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(code, message).at(self.location())
    }

    pub(super) fn location(&self) -> Location {
        let span = self.node.or(self.parent).map_or(
            Span {
                line: 1,
                column: 1,
                len: 1,
            },
            |node| match &node.kind {
                // Point at the start of a collection, not its whole extent.
                Kind::Seq(_) | Kind::Map(_) => Span {
                    len: 1,
                    ..node.span
                },
                Kind::Scalar(..) => node.span,
            },
        );
        Location {
            file: self.file.to_path_buf(),
            line: span.line,
            column: span.column,
            len: span.len,
        }
    }
}

/// A resolved duration and where it was written, for messages.
#[derive(Clone, Copy)]
pub(super) struct Placed<'a, T> {
    pub(super) value: T,
    pub(super) at: Option<At<'a>>,
}

impl<'a, T> Placed<'a, T> {
    /// The value turned into another, in the same place.
    pub(super) fn map<U>(self, f: impl FnOnce(T) -> U) -> Placed<'a, U> {
        Placed {
            value: f(self.value),
            at: self.at,
        }
    }
}
