//! Scrubbing of secrets out of text that came back from Meta (error
//! messages, bodies) before it is kept in an error or logged.

use crate::Secret;

/// The secrets one request carried; anything echoed back is replaced by the
/// secret's fingerprint.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<Secret>,
}

/// Secrets shorter than this are not searched for: they would match
/// ordinary text, and no real token, secret or proof is that short.
const MIN_SECRET_LEN: usize = 6;

impl Redactor {
    pub(crate) fn new(secrets: Vec<Secret>) -> Self {
        Self { secrets }
    }

    /// Adds the secrets of `other`.
    pub(crate) fn extend(&mut self, other: &Redactor) {
        self.secrets.extend(other.secrets.iter().cloned());
    }

    /// `text` with every secret of the request replaced by
    /// `<redacted sha256:…>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            let value = secret.expose();
            if value.len() >= MIN_SECRET_LEN && out.contains(value) {
                out = out.replace(value, &format!("<redacted {}>", secret.fingerprint()));
            }
        }
        out
    }

    /// Scrubs every string inside a JSON value.
    pub(crate) fn scrub_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => *text = self.scrub(text),
            serde_json::Value::Array(items) => {
                for item in items {
                    self.scrub_json(item);
                }
            }
            serde_json::Value::Object(map) => {
                for item in map.values_mut() {
                    self.scrub_json(item);
                }
            }
            _ => {}
        }
    }
}

/// At most `max` characters of `text`, on one line, with an ellipsis if
/// cut: for quoting an unexpected body in an error.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_each_secret_by_its_fingerprint() {
        let token = Secret::new("EAAsecrettoken123");
        let redactor = Redactor::new(vec![token.clone(), Secret::new("abc")]);
        let text = redactor.scrub("bad token EAAsecrettoken123 (abc)");
        assert_eq!(
            text,
            format!("bad token <redacted {}> (abc)", token.fingerprint())
        );
        let mut json = serde_json::json!({"a": ["x EAAsecrettoken123"], "b": 1});
        redactor.scrub_json(&mut json);
        assert!(!json.to_string().contains("EAAsecrettoken123"));
    }

    #[test]
    fn excerpt_cuts_and_flattens() {
        assert_eq!(excerpt("a\nb", 10), "a b");
        assert_eq!(excerpt("abcdef", 3), "abc…");
    }
}
