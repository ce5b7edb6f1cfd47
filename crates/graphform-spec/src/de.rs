//! serde deserialization from a [`Node`] tree, keeping locations.
//!
//! Two things `serde_yaml` cannot do are done here: every error carries the
//! line and column of the node it is about, and unknown keys are *collected*
//! (each with a "did you mean") instead of aborting at the first one, so one
//! run of `graphform validate` reports all of them.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::diagnostic::Code;
use crate::suggest::{backticked, did_you_mean, secret_key_hint};
use crate::yaml::{Kind, Node, Problem, Scalar, Span};

/// Collects the non-fatal problems (unknown keys) of one deserialization.
#[derive(Default)]
pub(crate) struct Collector {
    problems: RefCell<Vec<Problem>>,
}

impl Collector {
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems.into_inner()
    }

    /// A deserializer of `node` that reports unknown keys here.
    fn de<'a>(&'a self, node: &'a Node) -> De<'a> {
        De {
            node,
            collector: self,
        }
    }
}

/// Deserializes `T` from `node`. A fatal problem (wrong type, missing field)
/// is returned as `Err`; unknown keys go to `collector` either way.
pub(crate) fn from_node<'de, T: de::Deserialize<'de>>(
    node: &'de Node,
    collector: &'de Collector,
) -> Result<T, Problem> {
    T::deserialize(collector.de(node)).map_err(|error| error.into_problem(node.span))
}

/// The error type serde sees. `span` is filled in by the innermost
/// deserializer that knows its node.
#[derive(Debug)]
pub(crate) struct Error {
    code: Code,
    message: String,
    span: Option<Span>,
    help: Option<String>,
}

impl Error {
    /// An error not yet located.
    fn new(code: Code, message: String) -> Self {
        Self {
            code,
            message,
            span: None,
            help: None,
        }
    }

    fn into_problem(self, fallback: Span) -> Problem {
        Problem {
            help: self.help,
            ..Problem::new(self.code, self.message, self.span.unwrap_or(fallback))
        }
    }

    /// Gives the error the location of `node` unless a deeper node already
    /// did, and adds a hint where the node explains the problem.
    fn located(mut self, node: &Node) -> Self {
        if self.span.is_none() {
            self.span = Some(node.span);
            if self.code == Code::InvalidType && self.help.is_none() {
                self.help = type_hint(node, &self.message);
            }
        }
        self
    }
}

fn type_hint(node: &Node, message: &str) -> Option<String> {
    let wants_string = message.contains("expected a string");
    match &node.kind {
        Kind::Scalar(Scalar::Int(_) | Scalar::Float(_) | Scalar::Bool(_), text) if wants_string => {
            Some(format!("quote it to make it a string: \"{text}\""))
        }
        Kind::Scalar(_, text) if message.contains("expected a list") => {
            Some(format!("write a list, even of one item: `[{text}]`"))
        }
        Kind::Scalar(Scalar::Null, _) => {
            Some("the value is empty; write one after the colon, or remove the key".to_owned())
        }
        _ => None,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self::new(Code::InvalidType, message.to_string())
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        // Rewritten by `De` with the node's own words; this is the fallback.
        Self::custom(format_args!("expected {expected}, found {unexpected}"))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(Code::MissingField, format!("missing field `{field}`"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let help = did_you_mean(variant, expected.iter().copied())
            .unwrap_or_else(|| format!("expected one of {}", backticked(expected.iter().copied())));
        Self {
            help: Some(help),
            ..Self::new(Code::InvalidValue, format!("unknown value `{variant}`"))
        }
    }
}

#[derive(Clone, Copy)]
struct De<'a> {
    node: &'a Node,
    collector: &'a Collector,
}

impl<'a> De<'a> {
    fn mismatch(self, expected: &str) -> Error {
        let found = self.node.describe();
        Error::new(
            Code::InvalidType,
            format!("expected {expected}, found {found}"),
        )
        .located(self.node)
    }

    fn visit<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error>
    where
        'a: 'de,
    {
        let result = match &self.node.kind {
            Kind::Scalar(Scalar::Null, _) => visitor.visit_unit(),
            Kind::Scalar(Scalar::Bool(value), _) => visitor.visit_bool(*value),
            Kind::Scalar(Scalar::Int(value), _) => visitor.visit_i64(*value),
            Kind::Scalar(Scalar::Float(value), _) => visitor.visit_f64(*value),
            Kind::Scalar(Scalar::Str(value), _) => visitor.visit_borrowed_str(value),
            Kind::Seq(items) => visitor.visit_seq(Seq {
                items: items.iter(),
                collector: self.collector,
            }),
            Kind::Map(entries) => visitor.visit_map(self.map(entries, None)),
        };
        self.located(result)
    }

    /// Visits the node when it is what the caller asked for (`fits`), else
    /// reports that `expected` was.
    fn visit_if<'de, V: Visitor<'de>>(
        self,
        fits: bool,
        expected: &str,
        visitor: V,
    ) -> Result<V::Value, Error>
    where
        'a: 'de,
    {
        if fits {
            self.visit(visitor)
        } else {
            Err(self.mismatch(expected))
        }
    }

    /// `result`, with an error located at this node unless a deeper one
    /// already was.
    fn located<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|error| error.located(self.node))
    }

    /// The entries of this mapping; of a struct's, only its `fields` (the
    /// others are reported and skipped).
    fn map(self, entries: &'a [(Node, Node)], fields: Option<&'static [&'static str]>) -> Map<'a> {
        Map {
            entries: entries.iter(),
            value: None,
            fields,
            collector: self.collector,
        }
    }
}

impl<'de, 'a: 'de> de::Deserializer<'de> for De<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let fits = matches!(self.node.kind, Kind::Scalar(Scalar::Str(_), _));
        self.visit_if(fits, "a string", visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            Kind::Scalar(Scalar::Null, _) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let fits = matches!(self.node.kind, Kind::Seq(_));
        self.visit_if(fits, "a list", visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let fits = matches!(self.node.kind, Kind::Map(_));
        self.visit_if(fits, "a mapping", visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Kind::Map(entries) = &self.node.kind else {
            return Err(self.mismatch("a mapping"));
        };
        self.located(visitor.visit_map(self.map(entries, Some(fields))))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Kind::Scalar(Scalar::Str(value), _) = &self.node.kind else {
            return Err(self.mismatch("a string"));
        };
        self.located(visitor.visit_enum(value.as_str().into_deserializer()))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct tuple tuple_struct identifier
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Node>,
    collector: &'a Collector,
}

impl<'de, 'a: 'de> SeqAccess<'de> for Seq<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some(node) => seed.deserialize(self.collector.de(node)).map(Some),
        }
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
    /// The struct's fields, when deserializing a struct: other keys are
    /// reported and skipped.
    fields: Option<&'static [&'static str]>,
    collector: &'a Collector,
}

impl<'de, 'a: 'de> MapAccess<'de> for Map<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for (key, value) in self.entries.by_ref() {
            if let Some(fields) = self.fields {
                let Kind::Scalar(Scalar::Str(name), _) = &key.kind else {
                    let found = key.describe();
                    return Err(Error {
                        span: Some(key.span),
                        ..Error::new(
                            Code::InvalidType,
                            format!("expected a key name, found {found}"),
                        )
                    });
                };
                if !fields.contains(&name.as_str()) {
                    self.collector
                        .problems
                        .borrow_mut()
                        .push(unknown_key(name, key.span, fields));
                    continue;
                }
            }
            self.value = Some(value);
            return seed.deserialize(self.collector.de(key)).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let node = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value without a key"))?;
        seed.deserialize(self.collector.de(node))
    }
}

fn unknown_key(name: &str, span: Span, fields: &[&str]) -> Problem {
    let help = secret_key_hint(name)
        .or_else(|| did_you_mean(name, fields.iter().copied()))
        .unwrap_or_else(|| {
            format!(
                "the keys allowed here are {}",
                backticked(fields.iter().copied())
            )
        });
    let span = Span {
        len: name.chars().count().max(span.len),
        ..span
    };
    Problem {
        label: Some("not a key of the policy format".to_owned()),
        ..Problem::new(Code::UnknownKey, format!("unknown key `{name}`"), span)
    }
    .help(help)
}
