//! A YAML document as a tree of nodes that remember where they came from.
//!
//! `serde_yaml` cannot say where a *value* is, only where parsing failed, and it
//! stops at the first problem. graphform's diagnostics need the line and
//! column of every offending value, so the loader parses events with
//! `saphyr-parser` into this tree, and [`crate::de`] deserializes from it.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::diagnostic::Code;

/// Where a node is: 1-based line and column (characters) and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) len: usize,
}

/// A scalar resolved with the YAML 1.2 core schema.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    /// A scalar, with its source text (for messages).
    Scalar(Scalar, String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML node and where it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) span: Span,
}

/// A problem found while reading a file, building its tree here or
/// deserializing it ([`crate::de`]), with the span it is about. The loader
/// makes each a [`crate::Diagnostic`] in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) code: Code,
    pub(crate) message: String,
    pub(crate) span: Span,
    pub(crate) label: Option<String>,
    pub(crate) help: Option<String>,
}

impl Problem {
    pub(crate) fn new(code: Code, message: impl Into<String>, span: Span) -> Self {
        Self {
            code,
            message: message.into(),
            span,
            label: None,
            help: None,
        }
    }

    /// Sets the hint.
    #[must_use]
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Upper bound on nodes after alias expansion: a policy has hundreds, and
/// this stops "billion laughs" documents from exhausting memory.
const MAX_NODES: usize = 200_000;

/// Parses one YAML document. Fatal problems (syntax) return `Err`;
/// recoverable ones (duplicate keys) are appended to `problems` and the tree
/// is still returned.
pub(crate) fn parse(text: &str, problems: &mut Vec<Problem>) -> Result<Node, Problem> {
    let mut builder = Builder {
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        nodes: 0,
        documents: 0,
        problems,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| {
            let at = Span {
                line: error.marker().line(),
                column: error.marker().col() + 1,
                len: 1,
            };
            syntax_problem(text, error.info(), at)
        })?;
        let start = span.start;
        let here = Span {
            line: start.line(),
            column: start.col() + 1,
            len: if span.end.line() == start.line() {
                span.end.index().saturating_sub(start.index())
            } else {
                1
            },
        };
        builder.event(event, here)?;
    }
    Ok(builder.root.unwrap_or(Node {
        kind: Kind::Scalar(Scalar::Null, String::new()),
        span: Span {
            line: 1,
            column: 1,
            len: 0,
        },
    }))
}

/// The problem of a syntax error the parser reported at `at`.
///
/// The parser trips on a tab in the indentation only after it, often at
/// the end of the line before (issue 15): such a problem points at the
/// tab itself and says what to do.
fn syntax_problem(text: &str, info: &str, at: Span) -> Problem {
    if !info.contains("tab") {
        return Problem::new(Code::YamlSyntax, info, at);
    }
    let problem = match indenting_tab(text, at.line) {
        Some(tab) => Problem {
            label: Some("a tab".to_owned()),
            ..Problem::new(Code::YamlSyntax, "a tab in the indentation", tab)
        },
        None => Problem::new(Code::YamlSyntax, info, at),
    };
    problem.help("YAML indents with spaces; replace the tab with spaces")
}

/// The first tab in the indentation of line `from` (1-based) or a later
/// line.
fn indenting_tab(text: &str, from: usize) -> Option<Span> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find_map(|(index, line)| {
            let mut indentation = line.chars().take_while(|c| *c == ' ' || *c == '\t');
            let column = indentation.position(|c| c == '\t')?;
            Some(Span {
                line: index + 1,
                column: column + 1,
                len: 1,
            })
        })
}

enum Open {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

struct Builder<'p> {
    anchors: HashMap<usize, Node>,
    stack: Vec<Open>,
    root: Option<Node>,
    nodes: usize,
    documents: usize,
    problems: &'p mut Vec<Problem>,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Problem> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Problem::new(
                        Code::YamlSyntax,
                        "more than one YAML document in one file",
                        span,
                    )
                    .help(
                        "a policy file holds one document; put each part in its own \
                         `*.yaml` file of a policy directory",
                    ));
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let text = value.into_owned();
                let is_plain = style == ScalarStyle::Plain;
                let forced_str = tag
                    .as_ref()
                    .is_some_and(|tag| tag.is_yaml_core_schema() && tag.suffix == "str");
                let scalar = if is_plain && !forced_str {
                    resolve(&text)
                } else {
                    Scalar::Str(text.clone())
                };
                self.push(
                    Node {
                        kind: Kind::Scalar(scalar, text),
                        span,
                    },
                    anchor,
                )?;
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| {
                    Problem::new(Code::YamlSyntax, "alias to an unknown anchor", span)
                })?;
                self.nodes += count(&node);
                self.push(node, 0)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(Vec::new(), span, anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(Vec::new(), None, span, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Seq(items, span, anchor)) => (
                        Node {
                            kind: Kind::Seq(items),
                            span,
                        },
                        anchor,
                    ),
                    Some(Open::Map(entries, _, span, anchor)) => (
                        Node {
                            kind: Kind::Map(entries),
                            span,
                        },
                        anchor,
                    ),
                    None => return Ok(()),
                };
                self.push(node.0, node.1)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), Problem> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Problem::new(
                Code::YamlSyntax,
                format!("document has more than {MAX_NODES} nodes after expanding aliases"),
                node.span,
            )
            .help("a policy this large is almost certainly an alias loop"));
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(items, ..)) => items.push(node),
            Some(Open::Map(entries, pending, ..)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    let duplicate = entries
                        .iter()
                        .find(|(existing, _)| existing.kind == key.kind);
                    if let Some((first, _)) = duplicate {
                        let problem = Problem::new(
                            Code::DuplicateKey,
                            format!("duplicate key `{}`", key.text()),
                            key.span,
                        );
                        self.problems.push(problem.help(format!(
                            "the first `{}` is on line {}; keep one of them",
                            key.text(),
                            first.span.line
                        )));
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
        Ok(())
    }
}

fn count(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar(..) => 1,
        Kind::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Kind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(key, value)| count(key) + count(value))
                .sum::<usize>()
        }
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve(text: &str) -> Scalar {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        _ => {}
    }
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let radix = if let Some(hex) = digits.strip_prefix("0x") {
        Some((hex, 16))
    } else {
        digits.strip_prefix("0o").map(|octal| (octal, 8))
    };
    if let Some((body, radix)) = radix {
        if sign == 1
            && !body.is_empty()
            && let Ok(value) = i64::from_str_radix(body, radix)
        {
            return Scalar::Int(value);
        }
    } else if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        if let Ok(value) = text.parse::<i64>() {
            return Scalar::Int(value);
        }
        // Too large for i64: still a number to YAML, never a string.
        if let Ok(value) = text.parse::<f64>() {
            return Scalar::Float(value);
        }
    }
    let lower = text.to_ascii_lowercase();
    if matches!(lower.as_str(), ".inf" | "+.inf" | "-.inf" | ".nan") {
        return Scalar::Float(if lower == ".nan" {
            f64::NAN
        } else if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let looks_float = text
        .bytes()
        .all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'e' | b'E' | b'+' | b'-'))
        && text.bytes().any(|byte| byte.is_ascii_digit());
    if looks_float && let Ok(value) = text.parse::<f64>() {
        return Scalar::Float(value);
    }
    Scalar::Str(text.to_owned())
}

impl Node {
    /// The node's source text for messages: the scalar's text, or a short
    /// description of a collection.
    pub(crate) fn text(&self) -> &str {
        match &self.kind {
            Kind::Scalar(_, text) => text,
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// What the node is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Scalar(Scalar::Null, _) => "nothing (null)".to_owned(),
            Kind::Scalar(Scalar::Bool(value), _) => format!("the boolean `{value}`"),
            Kind::Scalar(Scalar::Int(_) | Scalar::Float(_), text) => format!("the number `{text}`"),
            Kind::Scalar(Scalar::Str(value), _) => format!("the string `{value}`"),
            Kind::Seq(_) => "a list".to_owned(),
            Kind::Map(_) => "a mapping".to_owned(),
        }
    }

    /// The value under `key`, if this is a mapping that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key node and value node under `key`.
    pub(crate) fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, Kind::Scalar(Scalar::Str(s), _) if s == key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The item at `index`, if this is a sequence that long.
    pub(crate) fn item(&self, index: usize) -> Option<&Node> {
        match &self.kind {
            Kind::Seq(items) => items.get(index),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn tree(text: &str) -> Node {
        let mut problems = Vec::new();
        let node = parse(text, &mut problems).expect("valid yaml");
        assert!(problems.is_empty(), "{problems:?}");
        node
    }

    #[test]
    fn resolves_scalars_with_the_core_schema() {
        assert_eq!(resolve("~"), Scalar::Null);
        assert_eq!(resolve("true"), Scalar::Bool(true));
        assert_eq!(resolve("42"), Scalar::Int(42));
        assert_eq!(resolve("-7"), Scalar::Int(-7));
        assert_eq!(resolve("0x1F"), Scalar::Int(31));
        assert_eq!(resolve("1.5"), Scalar::Float(1.5));
        assert_eq!(resolve("60d"), Scalar::Str("60d".to_owned()));
        assert_eq!(resolve("yes"), Scalar::Str("yes".to_owned()));
        assert_eq!(resolve("v26.0"), Scalar::Str("v26.0".to_owned()));
    }

    #[test]
    fn remembers_lines_and_columns() {
        let node = tree("a: 1\nb:\n  c: [x, yy]\n");
        let yy = node
            .get("b")
            .and_then(|b| b.get("c"))
            .and_then(|c| c.item(1));
        let yy = yy.expect("b.c[1]");
        assert_eq!(
            yy.span,
            Span {
                line: 3,
                column: 10,
                len: 2
            }
        );
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let node = tree("id: \"100\"\n");
        let id = node.get("id").expect("id");
        assert_eq!(
            id.kind,
            Kind::Scalar(Scalar::Str("100".to_owned()), "100".to_owned())
        );
    }

    #[test]
    fn reports_duplicate_keys_and_keeps_the_first() {
        let mut problems = Vec::new();
        let node = parse("a: 1\na: 2\n", &mut problems).expect("parses");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, Code::DuplicateKey);
        assert_eq!(problems[0].span.line, 2);
        assert_eq!(node.get("a").map(Node::text), Some("1"));
    }

    #[test]
    fn expands_aliases_but_refuses_alias_bombs() {
        let node = tree("a: &x [1, 2]\nb: *x\n");
        assert_eq!(
            node.get("b").and_then(|b| b.item(1)).map(Node::text),
            Some("2")
        );
        let mut bomb = String::from("a: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..8 {
            let prev = level - 1;
            let items = vec![format!("*a{prev}"); 10].join(", ");
            let _ = writeln!(bomb, "a{level}: &a{level} [{items}]");
        }
        let mut problems = Vec::new();
        assert!(parse(&bomb, &mut problems).is_err());
    }

    #[test]
    fn points_at_a_tab_in_the_indentation() {
        let mut problems = Vec::new();
        let text = "version: 1\nbusinesses:\n  - name: acme\n\tid: \"1\"\n";
        let error = parse(text, &mut problems).expect_err("a tab");
        assert_eq!((error.span.line, error.span.column), (4, 1), "{error:?}");
        assert_eq!(
            error.help.as_deref(),
            Some("YAML indents with spaces; replace the tab with spaces")
        );
        let error = parse("a:\n  b:\n  \tc: 2\n", &mut problems).expect_err("a tab");
        assert_eq!((error.span.line, error.span.column), (3, 3), "{error:?}");
        assert_eq!(indenting_tab("a: \"x\ty\"\n", 1), None);
    }

    #[test]
    fn refuses_several_documents() {
        let mut problems = Vec::new();
        let error = parse("a: 1\n---\nb: 2\n", &mut problems).expect_err("two documents");
        assert_eq!(error.span.line, 2);
    }
}
