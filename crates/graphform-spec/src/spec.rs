//! The validated policy: what the engine accepts.
//!
//! A [`Spec`] can only be built by [`crate::load`] (or
//! [`crate::validate::validate`]), so holding one means every rule of the
//! policy format holds and every default has been applied.

use std::collections::{BTreeMap, BTreeSet};

pub use graphform_types::{Duration, ExpiryMode, Role, SIXTY_DAYS};

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

impl Spec {
    /// The address of every token the policy names, in policy order.
    pub fn token_addresses(&self) -> impl Iterator<Item = graphform_types::TokenAddress> + '_ {
        self.businesses.iter().flat_map(|business| {
            business.system_users.iter().flat_map(move |user| {
                user.tokens.iter().map(move |token| {
                    graphform_types::TokenAddress::new(&business.name, &user.name, &token.name)
                })
            })
        })
    }
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
    /// `defaults.grace`: how long a token removed from the policy keeps
    /// working after the apply that retires it, before it is revoked.
    pub grace: Duration,
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
    /// The name it had before (`renamed_from`): its records move to this
    /// name and Meta's system user is renamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
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
    /// `60d` or `never`.
    pub fn mode(self) -> ExpiryMode {
        match self {
            Self::SixtyDays { .. } => ExpiryMode::SixtyDays,
            Self::Never { .. } => ExpiryMode::Never,
        }
    }

    /// `60d` or `never`, as in the policy.
    pub fn as_str(self) -> &'static str {
        self.mode().as_str()
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
    /// The name it had before (`renamed_from`): its stored record moves
    /// to this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
}
