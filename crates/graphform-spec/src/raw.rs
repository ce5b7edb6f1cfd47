//! The policy as written: serde types that mirror the YAML one to one.
//!
//! These types are the source of `schemas/graphform.schema.json` (their doc
//! comments become the descriptions editors show). They accept anything of
//! the right *shape*; every rule beyond shape lives in [`crate::validate`],
//! which turns a [`RawPolicy`] into a [`crate::Spec`]. Fields that have
//! defaults or are checked there are `Option`s, so one run can report all
//! their problems instead of stopping at the first.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// A graphform policy (version 1): which system users exist in which Meta
/// business, which apps each has installed, and which access tokens each
/// holds, with which scopes and how they expire.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "graphform policy")]
pub struct RawPolicy {
    /// The policy format version. Always `1`.
    // Any whole number is read, so that `version: 2` or `-1` is answered
    // by validation ("this graphform reads policy version 1"), not by a
    // type error about the range of a u32.
    #[schemars(required, range(min = 1, max = 1))]
    pub version: Option<i64>,
    /// Where the Graph API is. Optional: the defaults are Meta's.
    pub graph: Option<RawGraph>,
    /// Where token values and graphform's state document live.
    pub store: Option<RawStore>,
    /// Defaults for every token; each token may override them.
    pub defaults: Option<RawDefaults>,
    /// The Meta businesses this policy manages.
    pub businesses: Option<Vec<RawBusiness>>,
}

/// Graph API settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGraph {
    /// Base URL of the Graph API. Default `https://graph.facebook.com`; the
    /// `GRAPHFORM_GRAPH_URL` environment variable overrides it (for example to
    /// point at `graphform emulator`). Plain `http://` is allowed only to
    /// loopback addresses.
    pub url: Option<String>,
    /// Graph API version, `vMAJOR.MINOR`. Default `v26.0`.
    #[schemars(pattern(r"^v[0-9]+\.[0-9]+$"))]
    pub api_version: Option<String>,
}

/// The store kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// A local directory, values encrypted with `age` (the default).
    File,
    /// HashiCorp Vault or OpenBao, KV version 2.
    Vault,
    /// AWS Secrets Manager.
    AwsSecretsManager,
}

/// Where token values and the state document live. Which fields apply
/// depends on `type`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// `file` (default), `vault` or `aws-secrets-manager`.
    #[serde(rename = "type")]
    #[schemars(with = "Option<StoreKind>")]
    pub kind: Option<String>,
    /// file: the store directory, relative to the policy's directory.
    /// Default `.graphform/store`.
    pub path: Option<String>,
    /// file: the environment variable holding the `age` identity that
    /// encrypts values. Default `GRAPHFORM_STORE_KEY`.
    pub key_env: Option<String>,
    /// vault: the server's address, e.g. `https://vault.example.com:8200`.
    pub address: Option<String>,
    /// vault: the KV v2 mount. Default `secret`.
    pub mount: Option<String>,
    /// vault, aws-secrets-manager: a path or name prefix for everything
    /// graphform writes. Default `graphform`.
    pub prefix: Option<String>,
    /// vault: the environment variable holding the Vault token. Default
    /// `VAULT_TOKEN`.
    pub token_env: Option<String>,
    /// vault: the Vault Enterprise / OpenBao namespace (`X-Vault-Namespace`).
    pub namespace: Option<String>,
    /// vault: a PEM file of the CA that signed the server's certificate,
    /// relative to the policy's directory.
    pub ca_file: Option<String>,
    /// aws-secrets-manager: the AWS region, e.g. `eu-west-1`.
    pub region: Option<String>,
    /// aws-secrets-manager: another endpoint (e.g. a local test server).
    pub endpoint_url: Option<String>,
}

/// Token expiry modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum ExpiryMode {
    /// Expires 60 days after issue or refresh; graphform refreshes it ahead
    /// of time.
    #[serde(rename = "60d")]
    SixtyDays,
    /// Never expires; optionally rotated every `rotate_every`.
    #[serde(rename = "never")]
    Never,
}

/// Defaults applied to every token that does not set its own.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// `60d` (default) or `never`.
    #[schemars(with = "Option<ExpiryMode>")]
    pub expiry: Option<String>,
    /// Refresh a 60-day token once less than this remains. Default `20d`.
    #[schemars(pattern(r"^[0-9]+[dhm]$"))]
    pub refresh_before: Option<String>,
    /// How long a replaced token keeps working before graphform revokes it.
    /// Default `24h`.
    #[schemars(pattern(r"^[0-9]+[dhm]$"))]
    pub grace: Option<String>,
    /// Re-issue never-expiring tokens on this period. Off by default.
    #[schemars(pattern(r"^[0-9]+[dhm]$"))]
    pub rotate_every: Option<String>,
}

/// A Meta business (Business Manager) and what graphform manages in it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBusiness {
    /// A label used in addresses and store paths: `[a-z0-9][a-z0-9-]*`.
    #[schemars(required, pattern(r"^[a-z0-9][a-z0-9-]*$"))]
    pub name: Option<String>,
    /// The Meta business ID, a string of digits (quote it in YAML).
    #[schemars(required, pattern(r"^[0-9]+$"))]
    pub id: Option<String>,
    /// The identity graphform acts as in this business.
    #[schemars(required)]
    pub admin: Option<RawAdmin>,
    /// The business's apps, by a local name.
    #[schemars(required)]
    pub apps: Option<BTreeMap<String, RawApp>>,
    /// The system users graphform manages in this business.
    pub system_users: Option<Vec<RawSystemUser>>,
}

/// The admin identity graphform acts as in a business.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The environment variable holding the token of an admin system user.
    /// The token itself is never written in the policy.
    #[schemars(required)]
    pub token_env: Option<String>,
    /// The app that token was issued for (its secret signs every call).
    #[schemars(required)]
    pub app: Option<String>,
}

/// An app owned by the business.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    /// The Meta app ID, a string of digits (quote it in YAML).
    #[schemars(required, pattern(r"^[0-9]+$"))]
    pub id: Option<String>,
    /// The environment variable holding the app secret.
    #[schemars(required)]
    pub secret_env: Option<String>,
}

/// System-user roles graphform can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum RoleName {
    /// A regular system user (the default).
    #[serde(rename = "EMPLOYEE")]
    Employee,
    /// An admin system user.
    #[serde(rename = "ADMIN")]
    Admin,
}

/// A system user, matched by name with the business's system users.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSystemUser {
    /// Its name in Business Manager, and its label in addresses.
    #[schemars(required, pattern(r"^[a-z0-9][a-z0-9-]*$"))]
    pub name: Option<String>,
    /// `EMPLOYEE` (default) or `ADMIN`.
    #[schemars(with = "Option<RoleName>")]
    pub role: Option<String>,
    /// Apps (names from the business's `apps`) to install for this user.
    pub apps: Option<Vec<String>>,
    /// The tokens this system user holds.
    pub tokens: Option<Vec<RawToken>>,
    /// The name it had before, as in Terraform's `moved`: graphform renames
    /// the system user in Meta and moves its records and tokens to the new
    /// name, revoking and issuing nothing. Remove it once applied.
    #[schemars(pattern(r"^[a-z0-9][a-z0-9-]*$"))]
    pub renamed_from: Option<String>,
}

/// An access token of a system user.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// The token's label in addresses and store paths.
    #[schemars(required, pattern(r"^[a-z0-9][a-z0-9-]*$"))]
    pub name: Option<String>,
    /// The app the token is issued for: one of this system user's `apps`.
    #[schemars(required)]
    pub app: Option<String>,
    /// Permissions, from the system-user scope list (e.g. `ads_read`).
    #[schemars(required, length(min = 1), with = "Option<Vec<ScopeName>>")]
    pub scopes: Option<Vec<String>>,
    /// `60d` or `never`; default from `defaults.expiry`.
    #[schemars(with = "Option<ExpiryMode>")]
    pub expiry: Option<String>,
    /// Overrides `defaults.refresh_before`.
    #[schemars(pattern(r"^[0-9]+[dhm]$"))]
    pub refresh_before: Option<String>,
    /// Overrides `defaults.grace`.
    #[schemars(pattern(r"^[0-9]+[dhm]$"))]
    pub grace: Option<String>,
    /// Overrides `defaults.rotate_every` (never-expiring tokens only).
    #[schemars(pattern(r"^[0-9]+[dhm]$"))]
    pub rotate_every: Option<String>,
    /// The name it had before, as in Terraform's `moved`: graphform moves
    /// the stored token to the new name, revoking and issuing nothing.
    /// Remove it once applied.
    #[schemars(pattern(r"^[a-z0-9][a-z0-9-]*$"))]
    pub renamed_from: Option<String>,
}

/// A system-user scope: the schema lists them so editors can complete them.
pub struct ScopeName;

impl JsonSchema for ScopeName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scope".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = schemars::json_schema!({
            "type": "string",
            "description": "A permission a system-user token can be issued with (graph-api.md §10).",
        });
        schema.insert("enum".to_owned(), crate::scopes::SYSTEM_USER_SCOPES.into());
        schema
    }
}
