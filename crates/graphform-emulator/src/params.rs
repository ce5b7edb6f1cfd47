//! Request parameters: from the query string, a URL-encoded form body or a
//! JSON body, merged into one map; booleans as `true`/`1`, lists as CSV or a
//! JSON array (graph-api.md §3 and "Emulator notes").

use std::collections::BTreeMap;
use std::fmt;

use graphform_types::fingerprint;
use serde_json::Value;

use crate::graph_error::GraphError;

/// The parameters of one Graph call. `Debug` redacts secret values.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses `a=1&b=2` (URL-encoded) into a new map.
    pub(crate) fn from_urlencoded(text: &[u8]) -> Self {
        let mut params = Self::default();
        params.merge_urlencoded(text);
        params
    }

    /// Adds `a=1&b=2` (URL-encoded); later values win.
    pub(crate) fn merge_urlencoded(&mut self, text: &[u8]) {
        for (key, value) in form_urlencoded::parse(text) {
            self.0.insert(key.into_owned(), value.into_owned());
        }
    }

    /// Adds the members of a JSON object body. Strings are taken as they
    /// are; other values as their compact JSON text (so `true`, `5`,
    /// `["a","b"]`), as the Python SDK sends them.
    pub(crate) fn merge_json(&mut self, body: &[u8]) -> Result<(), GraphError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| GraphError::param("The request body is not valid JSON"))?;
        let Value::Object(members) = value else {
            return Err(GraphError::param("The request body must be a JSON object"));
        };
        for (key, value) in members {
            let text = match value {
                Value::Null => continue,
                Value::String(text) => text,
                other => other.to_string(),
            };
            self.0.insert(key, text);
        }
        Ok(())
    }

    /// A parameter's value; an empty value counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether the parameter is present (even empty).
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// A required parameter, or 100 "The parameter X is required".
    pub(crate) fn required(&self, key: &str) -> Result<&str, GraphError> {
        self.get(key).ok_or_else(|| GraphError::required(key))
    }

    /// Sets a parameter.
    pub(crate) fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), value.into());
    }

    /// A boolean: `true`/`1` or `false`/`0`; absent → `None`.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, GraphError> {
        match self.get(key) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(_) => Err(GraphError::param(format!("Param {key} must be a boolean"))),
        }
    }

    /// A list: a JSON array of strings (`["a","b"]`) or CSV (`a,b`);
    /// entries are trimmed, empty ones dropped, duplicates removed (first
    /// kept). Absent → `None`.
    pub(crate) fn list(&self, key: &str) -> Result<Option<Vec<String>>, GraphError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        let items: Vec<String> = if raw.trim_start().starts_with('[') {
            let parsed: Vec<Value> = serde_json::from_str(raw).map_err(|_| {
                GraphError::param(format!(
                    "Param {key} must be a JSON array or a comma-separated list"
                ))
            })?;
            parsed
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    _ => Err(GraphError::param(format!(
                        "Param {key} must be an array of strings"
                    ))),
                })
                .collect::<Result<_, _>>()?
        } else {
            raw.split(',').map(str::to_owned).collect()
        };
        let mut seen = Vec::new();
        for item in items {
            let item = item.trim();
            if !item.is_empty() && !seen.iter().any(|s| s == item) {
                seen.push(item.to_owned());
            }
        }
        Ok(Some(seen))
    }

    /// The parameters as `(key, value)` pairs.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Whether a parameter's value must never be shown (tokens, secrets,
/// proofs, and the batch, whose operations may carry tokens). Keys match
/// whatever their case: `ACCESS_TOKEN` is as secret as `access_token`.
pub(crate) fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "batch"
        || key.ends_with("token")
        || key.ends_with("secret")
        || key.ends_with("proof")
        || key.contains("password")
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.0 {
            if is_secret_param(key) {
                map.entry(key, &format_args!("<{}>", fingerprint(value)));
            } else {
                map.entry(key, value);
            }
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_as_csv_or_json() {
        let csv = Params::from_urlencoded(b"scope=ads_read,%20read_insights,,ads_read");
        assert_eq!(
            csv.list("scope").unwrap(),
            Some(vec!["ads_read".to_owned(), "read_insights".to_owned()])
        );
        let json = Params::from_urlencoded(b"scope=%5B%22ads_read%22%2C%22read_insights%22%5D");
        assert_eq!(
            json.list("scope").unwrap(),
            Some(vec!["ads_read".to_owned(), "read_insights".to_owned()])
        );
        assert!(
            Params::from_urlencoded(b"scope=%5B1%5D")
                .list("scope")
                .is_err()
        );
    }

    #[test]
    fn booleans_accept_true_and_one() {
        let p = Params::from_urlencoded(b"a=true&b=1&c=false&d=0&e=yes");
        assert_eq!(p.bool("a").unwrap(), Some(true));
        assert_eq!(p.bool("b").unwrap(), Some(true));
        assert_eq!(p.bool("c").unwrap(), Some(false));
        assert_eq!(p.bool("d").unwrap(), Some(false));
        assert!(p.bool("e").is_err());
        assert_eq!(p.bool("zzz").unwrap(), None);
    }

    #[test]
    fn json_bodies_keep_strings_and_encode_the_rest() {
        let mut p = Params::default();
        p.merge_json(br#"{"name":"ci","n":5,"flag":true,"scope":["a","b"],"x":null}"#)
            .unwrap();
        assert_eq!(p.get("name"), Some("ci"));
        assert_eq!(p.get("n"), Some("5"));
        assert_eq!(p.bool("flag").unwrap(), Some(true));
        assert_eq!(
            p.list("scope").unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(!p.contains("x"));
    }

    #[test]
    fn secret_keys_match_in_any_case() {
        for key in ["ACCESS_TOKEN", "Client_Secret", "AppSecret_Proof", "BATCH"] {
            assert!(is_secret_param(key), "{key}");
        }
        assert!(!is_secret_param("NAME"));
    }

    #[test]
    fn debug_redacts_secrets() {
        let p = Params::from_urlencoded(b"access_token=EAAsecret&client_secret=abc&name=ci");
        let shown = format!("{p:?}");
        assert!(!shown.contains("EAAsecret"), "{shown}");
        assert!(!shown.contains("abc\""), "{shown}");
        assert!(shown.contains("\"ci\""), "{shown}");
    }
}
