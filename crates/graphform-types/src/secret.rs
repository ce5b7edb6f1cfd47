//! [`Secret`], the only way a token, app secret or `appsecret_proof`
//! travels through graphform, and [`Fingerprint`], the only form in which
//! such a value may be shown: in logs, errors, plan files, snapshots and the
//! emulator's inspection API.

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// A secret value (access token, app secret, `appsecret_proof`).
///
/// `Debug` and `Display` print only its [`Fingerprint`]; the value is wiped
/// from memory on drop. Reading it is explicit: [`Secret::expose`].
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret value itself. Call this only where the value must leave
    /// the process: an HTTP request to Meta, or the token store.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The value's fingerprint, safe to print.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(self.expose())
    }
}

impl Clone for Secret {
    fn clone(&self) -> Self {
        Self::new(self.expose())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        // Length-independent comparison is not needed here: both sides are
        // ours, and equality is used for bookkeeping, not authentication.
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.fingerprint())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fingerprint(), f)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// A short keyed hash of a secret: `sha256:` and 12 lowercase hex digits.
///
/// It is HMAC-SHA256 keyed by a fixed, public domain-separation key, so the
/// same token has the same fingerprint on every machine and in every tool
/// (store, plan file, emulator). Tokens carry far more entropy than a
/// fingerprint reveals, so a fingerprint cannot be turned back into a token,
/// and the key keeps it from matching a plain SHA-256 of the token found
/// elsewhere.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

/// The domain-separation key of [`fingerprint`]. Changing it changes every
/// fingerprint graphform has ever written: don't.
const FINGERPRINT_KEY: &[u8] = b"graphform/fingerprint/v1";

/// How many hex digits of the HMAC a fingerprint keeps (48 bits).
const FINGERPRINT_HEX_DIGITS: usize = 12;

/// Computes the [`Fingerprint`] of a secret value.
pub fn fingerprint(value: &str) -> Fingerprint {
    let mut mac = Hmac::<Sha256>::new_from_slice(FINGERPRINT_KEY)
        .expect("HMAC-SHA256 accepts a key of any length");
    mac.update(value.as_bytes());
    let digest = hex::encode(mac.finalize().into_bytes());
    Fingerprint(format!("sha256:{}", &digest[..FINGERPRINT_HEX_DIGITS]))
}

impl Fingerprint {
    /// The fingerprint as text, e.g. `sha256:3f9a0c12d4e5`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fingerprint in a JSON Schema: `sha256:` and 12 lowercase hex digits.
impl schemars::JsonSchema for Fingerprint {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Fingerprint".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^sha256:[0-9a-f]{12}$"
        })
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_show_only_the_fingerprint() {
        let token = Secret::new("EAAGsecretvalue1234567890");
        let shown = format!("{token:?} {token} {token:#?}");
        assert!(!shown.contains("EAAGsecretvalue"), "{shown}");
        assert!(shown.contains(token.fingerprint().as_str()));
    }

    #[test]
    fn fingerprint_is_stable_short_and_keyed() {
        // Known answer, computed independently with Python:
        // hmac.new(b"graphform/fingerprint/v1", b"EAAtoken", sha256).hexdigest()[:12]
        assert_eq!(fingerprint("EAAtoken").as_str(), "sha256:e4c64a5aa838");
        assert_eq!(fingerprint("EAAtoken"), fingerprint("EAAtoken"));
        assert_ne!(fingerprint("EAAtoken"), fingerprint("EAAtoken2"));
        assert_eq!(fingerprint("x").as_str().len(), "sha256:".len() + 12);
    }
}
