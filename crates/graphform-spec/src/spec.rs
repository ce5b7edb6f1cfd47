//! The validated policy: what the engine accepts.
//!
//! A [`Spec`] can only be built by [`crate::load`] (or
//! [`crate::validate::validate`]), so holding one means every rule of the
//! policy format holds and every default has been applied.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The default Graph API base URL.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
/// The default Graph API version.
pub const DEFAULT_API_VERSION: &str = "v26.0";

/// A validated policy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Spec {
    /// Graph API settings.
    pub graph: GraphSettings,
    /// The token store.
    pub store: StoreSettings,
    /// The businesses, in policy order (files of a directory in name order).
    pub businesses: Vec<Business>,
}

/// Where the Graph API is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GraphSettings {
    /// Base URL, without a trailing slash.
    pub url: String,
    /// `vMAJOR.MINOR`.
    pub api_version: String,
}

/// The token store, by kind, with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StoreSettings {
    /// A local directory, values encrypted with `age`.
    File {
        /// The directory, as written (relative to the policy's directory).
        path: String,
        /// The environment variable holding the `age` identity.
        key_env: String,
    },
    /// Vault / OpenBao KV v2.
    Vault {
        /// The server's address.
        address: String,
        /// The KV v2 mount.
        mount: String,
        /// Path prefix.
        prefix: String,
        /// The environment variable holding the Vault token.
        token_env: String,
        /// The namespace, if any.
        namespace: Option<String>,
        /// A CA file (PEM), as written (relative to the policy's directory).
        ca_file: Option<String>,
    },
    /// AWS Secrets Manager.
    AwsSecretsManager {
        /// The region.
        region: String,
        /// Secret name prefix.
        prefix: String,
        /// Another endpoint, e.g. a local test server.
        endpoint_url: Option<String>,
    },
}

/// A Meta business.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Business {
    /// The business's label.
    pub name: String,
    /// Meta's business ID.
    pub id: String,
    /// The identity graphform acts as.
    pub admin: Admin,
    /// Apps by local name.
    pub apps: BTreeMap<String, App>,
    /// Managed system users, in policy order.
    pub system_users: Vec<SystemUser>,
}

/// The admin identity of a business.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Admin {
    /// The environment variable holding the admin token.
    pub token_env: String,
    /// The local name of the app that token belongs to.
    pub app: String,
}

/// An app of a business.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct App {
    /// Meta's app ID.
    pub id: String,
    /// The environment variable holding the app secret.
    pub secret_env: String,
}

/// A system-user role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// A regular system user.
    Employee,
    /// An admin system user.
    Admin,
}

impl Role {
    /// The name Meta uses: `EMPLOYEE` or `ADMIN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "EMPLOYEE",
            Self::Admin => "ADMIN",
        }
    }
}

/// A managed system user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SystemUser {
    /// Its name in Business Manager.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Local names of the apps installed for it.
    pub apps: BTreeSet<String>,
    /// Its tokens, in policy order.
    pub tokens: Vec<Token>,
}

/// How a token expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Expiry {
    /// 60 days after issue or refresh; refreshed `refresh_before` ahead.
    SixtyDays {
        /// Refresh once less than this remains.
        refresh_before: Duration,
    },
    /// Never; re-issued every `rotate_every` when set.
    Never {
        /// The rotation period.
        rotate_every: Option<Duration>,
    },
}

impl Expiry {
    /// `60d` or `never`, as in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SixtyDays { .. } => "60d",
            Self::Never { .. } => "never",
        }
    }
}

/// A managed token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Token {
    /// Its label.
    pub name: String,
    /// The local name of its app.
    pub app: String,
    /// Its scopes, sorted.
    pub scopes: BTreeSet<String>,
    /// How it expires.
    pub expiry: Expiry,
    /// How long a replaced token lives before it is revoked.
    pub grace: Duration,
}

/// A whole number of minutes, written `<n>d`, `<n>h` or `<n>m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct Duration {
    minutes: u64,
}

impl Duration {
    /// `days` days.
    pub const fn days(days: u64) -> Self {
        Self {
            minutes: days * 24 * 60,
        }
    }

    /// `hours` hours.
    pub const fn hours(hours: u64) -> Self {
        Self {
            minutes: hours * 60,
        }
    }

    /// The duration in seconds.
    pub const fn as_secs(self) -> u64 {
        self.minutes * 60
    }

    /// Parses `<n>d`, `<n>h` or `<n>m` (n a whole number).
    pub fn parse(text: &str) -> Option<Self> {
        let unit = text.chars().last()?;
        let number = text.get(..text.len() - 1)?;
        if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let value: u64 = number.parse().ok()?;
        let per = match unit {
            'd' => 24 * 60,
            'h' => 60,
            'm' => 1,
            _ => return None,
        };
        Some(Self {
            minutes: value.checked_mul(per)?,
        })
    }
}

impl From<Duration> for String {
    fn from(duration: Duration) -> Self {
        duration.to_string()
    }
}

impl fmt::Display for Duration {
    /// The largest unit that divides it evenly: `20d`, `36h`, `90m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minutes = self.minutes;
        if minutes != 0 && minutes.is_multiple_of(24 * 60) {
            write!(f, "{}d", minutes / (24 * 60))
        } else if minutes != 0 && minutes.is_multiple_of(60) {
            write!(f, "{}h", minutes / 60)
        } else {
            write!(f, "{minutes}m")
        }
    }
}

/// The lifetime of an expiring system-user token.
pub const SIXTY_DAYS: Duration = Duration::days(60);

/// The stable name of a managed object: `acme/ci-reporting`,
/// `acme/ci-reporting/app/reporting`, `acme/ci-reporting/token/insights-read`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    /// A system user's address.
    pub fn system_user(business: &str, system_user: &str) -> Self {
        Self(format!("{business}/{system_user}"))
    }

    /// An app install's address.
    pub fn install(business: &str, system_user: &str, app: &str) -> Self {
        Self(format!("{business}/{system_user}/app/{app}"))
    }

    /// A token's address.
    pub fn token(business: &str, system_user: &str, token: &str) -> Self {
        Self(format!("{business}/{system_user}/token/{token}"))
    }

    /// An address from its text (an address read back from a store or a
    /// journal).
    pub fn from_text(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_in_their_largest_unit() {
        assert_eq!(Duration::parse("20d"), Some(Duration::days(20)));
        assert_eq!(
            Duration::parse("36h").map(|d| d.to_string()),
            Some("36h".to_owned())
        );
        assert_eq!(
            Duration::parse("48h").map(|d| d.to_string()),
            Some("2d".to_owned())
        );
        assert_eq!(
            Duration::parse("0m").map(|d| d.to_string()),
            Some("0m".to_owned())
        );
        for bad in [
            "",
            "d",
            "20",
            "20 d",
            "-1d",
            "1.5d",
            "20w",
            "+3d",
            "99999999999999999999d",
        ] {
            assert_eq!(Duration::parse(bad), None, "{bad}");
        }
    }
}
