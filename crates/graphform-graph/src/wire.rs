//! Lenient serde helpers for where Meta's JSON varies (IDs as strings or
//! numbers, numbers as strings, booleans as strings).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::lenient_i64;

/// A string, or a number written as one (IDs).
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, found {}",
            type_name(&other)
        ))),
    }
}

/// An optional string, or a number written as one; `null` is `None`.
pub(crate) fn opt_string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(text)) => Some(text),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    })
}

/// An optional integer, or a string holding one; anything else is `None`.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Value>::deserialize(deserializer)?
        .as_ref()
        .and_then(lenient_i64))
}

/// `true`/`false` in their lenient forms (`"true"`, `1`, `"0"`, …);
/// `None` when absent, `null` or anything else.
pub(crate) fn opt_lenient_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Bool(flag)) => Some(flag),
        Some(Value::String(text)) => match text.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Some(Value::Number(number)) => match number.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// A list of strings, or of numbers written as strings; `null` is empty.
pub(crate) fn string_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(text) => Some(text),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            })
            .collect(),
        // Some endpoints answer a comma-separated string.
        Some(Value::String(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "string_or_number")]
        id: String,
        #[serde(default, deserialize_with = "opt_i64")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "opt_lenient_bool")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "string_list")]
        list: Vec<String>,
        #[serde(default, deserialize_with = "opt_string_or_number")]
        other: Option<String>,
    }

    #[test]
    fn accepts_the_forms_meta_uses() {
        let sample: Sample =
            serde_json::from_str(r#"{"id":123,"n":"7","flag":"true","list":[1,"a"],"other":5}"#)
                .unwrap();
        assert_eq!(sample.id, "123");
        assert_eq!(sample.n, Some(7));
        assert_eq!(sample.flag, Some(true));
        assert_eq!(sample.list, ["1", "a"]);
        assert_eq!(sample.other.as_deref(), Some("5"));
        let sample: Sample = serde_json::from_str(r#"{"id":"9","n":null,"list":"a, b"}"#).unwrap();
        assert_eq!((sample.n, sample.flag), (None, None));
        assert_eq!(sample.list, ["a", "b"]);
        assert!(serde_json::from_str::<Sample>(r#"{"id":[1]}"#).is_err());
    }
}
