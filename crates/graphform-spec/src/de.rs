//! serde deserialization from a [`Node`] tree, keeping locations.
//!
//! Two things `serde_yaml` cannot do are done here: every error carries the
//! line and column of the node it is about, and problems are *collected*
//! instead of aborting at the first one, so one run of `graphform validate`
//! reports all of them: unknown keys (each with a "did you mean"), and
//! values of the wrong type (a number where a string belongs, a list where
//! a mapping does). A value of the wrong type is reported and replaced by
//! a stand-in of the right type (a scalar's text, or `""`, `[]`, `{}`,
//! `0`) so the rest of the document is still read; its node is remembered
//! as *recovered*, and the loader drops what validation says about the
//! stand-in (issue 15).

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::diagnostic::Code;
use crate::suggest::{backticked, did_you_mean, secret_key_hint};
use crate::yaml::{Kind, Node, Problem, Scalar, Span};

/// Collects the non-fatal problems (unknown keys, values of the wrong type)
/// of one deserialization, and where a value was replaced by a stand-in.
#[derive(Default)]
pub(crate) struct Collector {
    problems: RefCell<Vec<Problem>>,
    recovered: RefCell<Vec<Span>>,
}

/// What one deserialization found: its problems, and the spans of the
/// values it replaced by an empty stand-in of the right type.
pub(crate) struct Collected {
    pub(crate) problems: Vec<Problem>,
    /// Nothing said about a value at one of these places is about what
    /// the user wrote: it is about the stand-in.
    pub(crate) recovered: Vec<Span>,
}

impl Collector {
    pub(crate) fn into_collected(self) -> Collected {
        Collected {
            problems: self.problems.into_inner(),
            recovered: self.recovered.into_inner(),
        }
    }

    fn push(&self, problem: Problem) {
        self.problems.borrow_mut().push(problem);
    }

    /// Reports `error`, about the value at `span`, which is then read as
    /// a stand-in.
    fn recover(&self, error: Error, span: Span) {
        self.push(error.into_problem(span));
        self.recovered.borrow_mut().push(span);
    }

    /// A deserializer of `node` that reports unknown keys here.
    fn de<'a>(&'a self, node: &'a Node) -> De<'a> {
        De {
            node,
            field: None,
            collector: self,
        }
    }
}

/// Deserializes `T` from `node`. Unknown keys and values of the wrong shape
/// go to `collector`, and reading goes on; a problem that cannot be read
/// past (an unknown enum variant, a missing field of a type without a
/// default) is returned as `Err`.
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

    /// Gives the error the location of `node`, the value of the struct
    /// field `field` if known, unless a deeper node already did, and adds
    /// a hint where the node explains the problem.
    fn located(mut self, node: &Node, field: Option<&str>) -> Self {
        if self.span.is_none() {
            self.span = Some(node.span);
            if self.code == Code::InvalidType && self.help.is_none() {
                self.help = type_hint(node, field, &self.message);
            }
        }
        self
    }
}

/// What to do about a value of the wrong type: `node`, the value of the
/// struct field `field` when it is one, refused with `message`.
fn type_hint(node: &Node, field: Option<&str>, message: &str) -> Option<String> {
    let wants_string = message.contains("expected a string");
    let wants_number = message.contains("expected a whole number");
    match &node.kind {
        Kind::Scalar(Scalar::Int(_) | Scalar::Float(_) | Scalar::Bool(_), text) if wants_string => {
            // A field with a format of its own says how to write the
            // value; quoting it would only trade this error for that one.
            Some(
                field
                    .and_then(|field| crate::validate::scalar_hint(field, text))
                    .unwrap_or_else(|| format!("quote it to make it a string: \"{text}\"")),
            )
        }
        Kind::Scalar(Scalar::Str(value), _)
            if wants_number && value.trim().parse::<i64>().is_ok() =>
        {
            Some(format!("remove the quotes: `{}`", value.trim()))
        }
        Kind::Scalar(_, text) if message.contains("expected a list") => {
            Some(format!("write a list, even of one item: `[{text}]`"))
        }
        Kind::Map(_) if wants_string => Some(
            "write one value after the colon; lines indented below a key make its value a mapping"
                .to_owned(),
        ),
        Kind::Seq(_) if wants_string => Some("write one value, not a list".to_owned()),
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
    /// The struct field whose value `node` is, if it is one: its hints
    /// can then say how that field is written.
    field: Option<&'a str>,
    collector: &'a Collector,
}

impl<'a> De<'a> {
    fn mismatch(self, expected: &str) -> Error {
        let found = self.node.describe();
        Error::new(
            Code::InvalidType,
            format!("expected {expected}, found {found}"),
        )
        .located(self.node, self.field)
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
    /// reports that `expected` was and visits `placeholder` instead.
    fn visit_if<'de, V: Visitor<'de>>(
        self,
        fits: bool,
        expected: &str,
        visitor: V,
        placeholder: impl FnOnce(V) -> Result<V::Value, Error>,
    ) -> Result<V::Value, Error>
    where
        'a: 'de,
    {
        if fits {
            self.visit(visitor)
        } else {
            self.collector
                .recover(self.mismatch(expected), self.node.span);
            self.located(placeholder(visitor))
        }
    }

    /// Visits an integer node whose value `fits` the type asked for; any
    /// other node is reported and read as 0.
    fn integer<'de, V: Visitor<'de>>(
        self,
        fits: impl FnOnce(i64) -> bool,
        range: fmt::Arguments<'_>,
        visitor: V,
    ) -> Result<V::Value, Error>
    where
        'a: 'de,
    {
        match self.node.kind {
            Kind::Scalar(Scalar::Int(value), _) if fits(value) => self.visit(visitor),
            Kind::Scalar(Scalar::Int(_), _) => {
                self.visit_if(false, &format!("a whole number {range}"), visitor, |v| {
                    v.visit_u8(0)
                })
            }
            _ => self.visit_if(false, "a whole number", visitor, |v| v.visit_u8(0)),
        }
    }

    /// `result`, with an error located at this node unless a deeper one
    /// already was.
    fn located<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|error| error.located(self.node, self.field))
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

/// An empty list, the stand-in for a value that should have been one.
fn empty_seq(collector: &Collector) -> Seq<'_> {
    Seq {
        items: [].iter(),
        collector,
    }
}

/// An empty mapping (of a struct, when `fields` are given), the stand-in
/// for a value that should have been one.
fn empty_map<'a>(collector: &'a Collector, fields: Option<&'static [&'static str]>) -> Map<'a> {
    Map {
        entries: [].iter(),
        value: None,
        fields,
        collector,
    }
}

/// `deserialize_<int>` for each integer type: only an integer in the
/// type's range fits.
macro_rules! integers {
    ($($method:ident: $type:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.integer(
                |value| <$type>::try_from(value).is_ok(),
                format_args!("from {} to {}", <$type>::MIN, <$type>::MAX),
                visitor,
            )
        }
    )*};
}

impl<'de, 'a: 'de> de::Deserializer<'de> for De<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let fits = matches!(self.node.kind, Kind::Scalar(Scalar::Str(_), _));
        // A number or boolean stands in as its text: what validation then
        // says of other values (`unknown app`) names it as written.
        let text = match &self.node.kind {
            Kind::Scalar(Scalar::Null, _) | Kind::Seq(_) | Kind::Map(_) => "",
            Kind::Scalar(_, text) => text.as_str(),
        };
        self.visit_if(fits, "a string", visitor, |v| v.visit_borrowed_str(text))
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
        let collector = self.collector;
        self.visit_if(fits, "a list", visitor, |v| {
            v.visit_seq(empty_seq(collector))
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let fits = matches!(self.node.kind, Kind::Map(_));
        let collector = self.collector;
        self.visit_if(fits, "a mapping", visitor, |v| {
            v.visit_map(empty_map(collector, None))
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Kind::Map(entries) = &self.node.kind else {
            let mut error = self.mismatch("a mapping");
            if error.help.is_none() {
                error.help = Some(format!(
                    "write a mapping of `key: value` lines; its keys are {}",
                    backticked(fields.iter().copied())
                ));
            }
            self.collector.recover(error, self.node.span);
            let placeholder = visitor.visit_map(empty_map(self.collector, Some(fields)));
            return self.located(placeholder);
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

    integers! {
        deserialize_i8: i8,
        deserialize_i16: i16,
        deserialize_i32: i32,
        deserialize_i64: i64,
        deserialize_u8: u8,
        deserialize_u16: u16,
        deserialize_u32: u32,
        deserialize_u64: u64,
    }

    serde::forward_to_deserialize_any! {
        bool i128 u128 f32 f64 char
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
    /// The value of the key just read, and the key when it is a struct's
    /// field.
    value: Option<(&'a Node, Option<&'a str>)>,
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
                    // Reported, and the entry skipped like an unknown key's.
                    let found = key.describe();
                    let problem = Problem::new(
                        Code::InvalidType,
                        format!("expected a key name, found {found}"),
                        key.span,
                    );
                    self.collector.push(problem.help(format!(
                        "the keys allowed here are {}",
                        backticked(fields.iter().copied())
                    )));
                    continue;
                };
                if !fields.contains(&name.as_str()) {
                    self.collector.push(unknown_key(name, key.span, fields));
                    continue;
                }
            }
            let field = match (&key.kind, self.fields) {
                (Kind::Scalar(Scalar::Str(name), _), Some(_)) => Some(name.as_str()),
                _ => None,
            };
            self.value = Some((value, field));
            return seed.deserialize(self.collector.de(key)).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (node, field) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value without a key"))?;
        seed.deserialize(De {
            field,
            ..self.collector.de(node)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::{RawAdmin, RawPolicy};
    use crate::yaml::parse;

    /// Reads `text` as a policy: the result and what was collected.
    fn read(text: &str) -> (Result<RawPolicy, Problem>, Collected) {
        let mut problems = Vec::new();
        let tree = parse(text, &mut problems).expect("valid YAML");
        let collector = Collector::default();
        let raw = from_node(&tree, &collector);
        (raw, collector.into_collected())
    }

    /// Each problem as `line:column message`.
    fn problems(collected: &Collected) -> Vec<String> {
        collected
            .problems
            .iter()
            .map(|p| format!("{}:{} {}", p.span.line, p.span.column, p.message))
            .collect()
    }

    #[test]
    fn values_of_the_wrong_type_are_all_reported_and_read_as_empty() {
        let (raw, collected) = read(
            "\
version: 1
businesses:
  - name: acme
    id: 100000000000001
    admin: [ACME_ADMIN_TOKEN, reporting]
    system_users:
      - name: ci
        tokens:
          - name: t
            scopes: ads_read
",
        );
        assert_eq!(
            problems(&collected),
            [
                "4:9 expected a string, found the number `100000000000001`",
                "5:12 expected a mapping, found a list",
                "10:21 expected a list, found the string `ads_read`",
            ]
        );
        assert_eq!(collected.recovered.len(), 3);
        assert_eq!(
            collected.problems[1].help.as_deref(),
            Some("write a mapping of `key: value` lines; its keys are `token_env`, `app`")
        );
        let raw = raw.expect("read past every wrong type");
        let business = &raw.businesses.expect("businesses")[0];
        assert_eq!(business.id.as_deref(), Some("100000000000001"));
        assert_eq!(business.admin, Some(RawAdmin::default()));
        let users = business.system_users.as_ref().expect("system users");
        let tokens = users[0].tokens.as_ref().expect("tokens");
        assert_eq!(tokens[0].scopes, Some(Vec::new()));
        assert_eq!(tokens[0].name.as_deref(), Some("t"));
    }

    #[test]
    fn a_type_error_keeps_its_hint() {
        let (_, collected) = read("version: 1\nbusinesses:\n  - name: acme\n    id: 42\n");
        let hints: Vec<_> = collected.problems.iter().map(|p| p.help.clone()).collect();
        assert_eq!(
            hints,
            [Some("quote it to make it a string: \"42\"".to_owned())]
        );
    }

    #[test]
    fn a_number_for_an_expiry_or_a_duration_gets_its_format_not_quotes() {
        let (_, collected) = read(
            "version: 1\ndefaults:\n  expiry: 60\n  grace: 24\n  rotate_every: 1.5\n\
             businesses:\n  - name: acme\n    apps:\n      grace: { id: 7 }\n",
        );
        let hints: Vec<_> = collected.problems.iter().map(|p| p.help.clone()).collect();
        assert_eq!(
            hints,
            [
                Some("use `60d` (the default) or `never`".to_owned()),
                Some("add a unit: `24d`, `24h` or `24m`".to_owned()),
                Some("for example `20d`, `36h` or `90m`".to_owned()),
                // An app named `grace` is no duration; its `id` is a string.
                Some("quote it to make it a string: \"7\"".to_owned()),
            ]
        );
    }

    #[test]
    fn a_whole_number_is_asked_for_in_words() {
        let (raw, collected) = read("version: \"1\"\n");
        assert_eq!(
            problems(&collected),
            ["1:10 expected a whole number, found the string `1`"]
        );
        assert_eq!(
            collected.problems[0].help.as_deref(),
            Some("remove the quotes: `1`")
        );
        assert_eq!(raw.expect("read on").version, Some(0));
    }

    #[test]
    fn a_number_out_of_its_types_range_says_the_range() {
        let tree = parse("-1\n", &mut Vec::new()).expect("valid YAML");
        let collector = Collector::default();
        let read: u32 = from_node(&tree, &collector).expect("read on");
        assert_eq!(read, 0, "the stand-in");
        assert_eq!(
            problems(&collector.into_collected()),
            ["1:1 expected a whole number from 0 to 4294967295, found the number `-1`"]
        );
    }

    #[test]
    fn a_key_that_is_not_a_name_is_reported_and_skipped() {
        let (raw, collected) = read("version: 1\n5: x\n[a]: y\n");
        assert_eq!(
            problems(&collected),
            [
                "2:1 expected a key name, found the number `5`",
                "3:1 expected a key name, found a list",
            ]
        );
        assert!(collected.recovered.is_empty());
        assert_eq!(raw.expect("read on").version, Some(1));
    }

    #[test]
    fn an_unknown_value_of_an_enum_stays_fatal() {
        #[derive(Debug, serde::Deserialize)]
        enum Mode {
            On,
        }
        let mut problems = Vec::new();
        let tree = parse("Off", &mut problems).expect("valid YAML");
        let collector = Collector::default();
        let error = from_node::<Mode>(&tree, &collector).expect_err("unknown variant");
        assert_eq!(error.message, "unknown value `Off`");
    }
}
