//! The `aws-secrets-manager` backend: every object is a secret in AWS
//! Secrets Manager, written through the JSON API with SigV4-signed requests
//! (`aws/sigv4.rs`, `aws/client.rs`).
//!
//! # Layout
//!
//! ```text
//! <prefix>/tokens/<address>   one secret per token address
//! <prefix>/state              the state document
//! <prefix>/state/<business>/<system-user>
//!                             the state document of that system user
//! <prefix>/lease              the apply lease (exists only while held)
//! ```
//!
//! Each system user's state document is a secret of its own so that a
//! large apply writes each secret only a few times: AWS refuses more than
//! about 100 versions of one secret younger than 24 hours (issue 12).
//! `list_tokens` asks `ListSecrets` for names under `<prefix>/tokens/`
//! only, and skips any other name it is given, so it never sees them.
//!
//! Every version's `SecretString` is a JSON document with `format` and
//! `kind`:
//!
//! * `token` (under `AWSCURRENT`): `address`, `value` (the token),
//!   `metadata` (no secret), and `previous` (`value`, `metadata`,
//!   `revoke_after`) or `null`. The whole record is in this one version,
//!   so one `GetSecretValue` reads it consistently.
//! * `previous` (under `AWSPREVIOUS`, while a record has a previous
//!   token): `address`, `value` (the replaced token), `metadata`,
//!   `revoke_after`, so that consumers find the old token where AWS tools
//!   look for it. It is a mirror, kept up to date after each write.
//! * `state` (the root state document and each system user's): `document`
//!   (the engine's JSON, verbatim) or, when that would not fit in a secret,
//!   `gzip_base64`.
//! * `lease`: `lease` (id, holder, pid, host, `acquired_at`, `expires_at`).
//! * `deleted`: a tombstone (see delete below).
//!
//! # Compare-and-set
//!
//! Secrets Manager has no conditional write, but it has a conditional
//! label move: `UpdateSecretVersionStage` with `RemoveFromVersionId` fails
//! unless the label is on that version. A [`Version`] is a secret's
//! `AWSCURRENT` `VersionId`. A write against version `E`:
//!
//! 1. reads `AWSCURRENT` (`GetSecretValue`); not `E`: conflict, nothing
//!    written;
//! 2. `PutSecretValue` of the new document as version `N` with only the
//!    label `GRAPHFORM_PENDING` (not current: readers do not see it);
//! 3. `UpdateSecretVersionStage` moves `AWSCURRENT` from `E` to `N`: the
//!    one atomic step. If `AWSCURRENT` is no longer on `E`, it fails and
//!    `N` stays an unused version; a re-read tells a conflict from our own
//!    earlier attempt (the answer to a retried request lost on the way).
//!
//! A create is `CreateSecret`, which fails if the name exists. A delete
//! against `E` moves `AWSCURRENT` from `E` to a tombstone version (so a
//! racing writer or deleter loses at step 3), then `DeleteSecret` with
//! `ForceDeleteWithoutRecovery`.
//!
//! `N` is the `ClientRequestToken` of the `PutSecretValue`/`CreateSecret`
//! (it becomes the `VersionId`): a UUID-shaped hash of the secret name,
//! `E`, the document and a random nonce drawn once per store call. A
//! request retried within the call (throttling, a lost answer) therefore
//! carries the same token and cannot create a second version; two calls
//! never share one, not even with identical content (two workers that
//! both add 1 to the same counter must not both succeed), and a secret
//! deleted and created again never gets a version of its earlier life.
//!
//! What is not atomic, and is documented in docs/stores.md: the
//! `AWSPREVIOUS` mirror (moved after step 3), the final `DeleteSecret` of
//! a delete, and `list_tokens` (`ListSecrets` pages). `break_lease` is a
//! compare-and-set delete against the lease version whose ID it compared;
//! a lease secret left as a tombstone (a release whose `DeleteSecret` did
//! not happen) is no lease, and only a claim writes over it.

mod client;
#[cfg_attr(
    not(feature = "conformance"),
    expect(
        unreachable_pub,
        reason = "public only with the `conformance` feature, for test harnesses"
    )
)]
pub mod sigv4;

pub(crate) mod documents;
mod protocol;
mod settings;
mod store;
use self::settings::{MAX_PREFIX_LEN, check_prefix, check_region, endpoint_url};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use self::client::Client;
use crate::{Secret, StateKey, StoreError, SystemUserAddress, TokenAddress};
use graphform_types::address::MAX_SEGMENT_LEN;

/// The name prefix used unless the policy sets `store.prefix`.
pub const DEFAULT_AWS_PREFIX: &str = "graphform";

/// The largest `SecretString` Secrets Manager accepts (bytes).
pub const AWS_MAX_SECRET_BYTES: usize = 65_536;

/// The longest secret name Secrets Manager accepts.
pub const AWS_MAX_NAME_LEN: usize = 512;

/// The longest token address as text: three names and `token`.
const MAX_TOKEN_ADDRESS_LEN: usize = 3 * MAX_SEGMENT_LEN + "//token/".len();

/// The longest system-user address as text: two names.
const MAX_SYSTEM_USER_ADDRESS_LEN: usize = 2 * MAX_SEGMENT_LEN + "/".len();

/// The state document's secret is `<prefix>/state`, a system user's
/// `<prefix>/state/<business>/<system-user>`.
const STATE_NAME: &str = "state";

// Every token's and every system user's secret name fits, whatever the
// prefix and the address.
const _: () =
    assert!(MAX_PREFIX_LEN + "/tokens/".len() + MAX_TOKEN_ADDRESS_LEN <= AWS_MAX_NAME_LEN);
const _: () = assert!(
    MAX_PREFIX_LEN + "/".len() + STATE_NAME.len() + "/".len() + MAX_SYSTEM_USER_ADDRESS_LEN
        <= AWS_MAX_NAME_LEN
);

/// The document format this code writes and reads.
const FORMAT: u32 = 1;

/// The label of a version written but not (yet) made current.
const PENDING_STAGE: &str = "GRAPHFORM_PENDING";

/// The label of a tombstone version (see the module docs).
const DELETED_STAGE: &str = "GRAPHFORM_DELETED";

const CURRENT_STAGE: &str = "AWSCURRENT";
const PREVIOUS_STAGE: &str = "AWSPREVIOUS";

const TOMBSTONE: &str = r#"{"format":1,"kind":"deleted"}"#;

/// How long a writer that finds a tombstone waits for its deleter to
/// finish (`DeleteSecret` follows the tombstone within one round trip)
/// before taking it for a crashed delete and writing over it.
const TOMBSTONE_WAITS: [Duration; 4] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// How long a create waits for the name of a secret deleted for good to
/// become reusable (AWS: "use appropriate back off and retry logic").
const NAME_REUSE_WAITS: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Rounds of create / read / take over before giving up on an object that
/// keeps changing under us.
const ROUNDS: usize = 8;

/// Largest state document accepted back from `gzip_base64`.
const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// Settings of an [`AwsSecretsManagerStore`]: the policy's `store:`
/// section for `type: aws-secrets-manager`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSecretsManagerConfig {
    /// The region, e.g. `eu-west-1`. [`AwsSecretsManagerStore::from_env`]
    /// falls back to `AWS_REGION`, then `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// What every secret name starts with (default [`DEFAULT_AWS_PREFIX`]):
    /// segments of `[A-Za-z0-9_+=.@-]` joined by `/`.
    pub prefix: String,
    /// Another endpoint than `https://secretsmanager.<region>.amazonaws.com`
    /// (a VPC endpoint, moto). Plain `http` only to a loopback address.
    pub endpoint_url: Option<String>,
}

impl Default for AwsSecretsManagerConfig {
    fn default() -> Self {
        Self {
            region: None,
            prefix: DEFAULT_AWS_PREFIX.to_owned(),
            endpoint_url: None,
        }
    }
}

/// AWS credentials: an access key, and a session token for temporary ones.
/// `Debug` shows none of them.
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: Secret,
    secret_access_key: Secret,
    session_token: Option<Secret>,
}

impl AwsCredentials {
    /// Credentials given explicitly.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    ) -> Self {
        Self {
            access_key_id: Secret::new(access_key_id),
            secret_access_key,
            session_token,
        }
    }

    /// Credentials from the standard variables `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and (optional) `AWS_SESSION_TOKEN`. A
    /// missing one is a [`StoreError::Config`] naming it.
    pub fn from_env() -> Result<Self, StoreError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    fn from_lookup(
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Self, StoreError> {
        let mut missing = Vec::new();
        let mut read = |name: &'static str, required: bool| -> Result<Option<Secret>, StoreError> {
            match lookup(name) {
                Some(value) if !value.is_empty() => value
                    .into_string()
                    .map(|value| Some(Secret::new(value)))
                    .map_err(|_| StoreError::Config {
                        message: format!("`{name}` is not UTF-8"),
                        hint: Some(CREDENTIALS_HINT.to_owned()),
                    }),
                _ => {
                    if required {
                        missing.push(name);
                    }
                    Ok(None)
                }
            }
        };
        let access_key_id = read("AWS_ACCESS_KEY_ID", true)?;
        let secret_access_key = read("AWS_SECRET_ACCESS_KEY", true)?;
        let session_token = read("AWS_SESSION_TOKEN", false)?;
        match (access_key_id, secret_access_key) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Self {
                access_key_id,
                secret_access_key,
                session_token,
            }),
            _ => Err(StoreError::Config {
                message: format!(
                    "the AWS credentials for the aws-secrets-manager store are missing: {} {} not set",
                    missing
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(" and "),
                    if missing.len() == 1 { "is" } else { "are" }
                ),
                hint: Some(CREDENTIALS_HINT.to_owned()),
            }),
        }
    }
}

const CREDENTIALS_HINT: &str = "set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and \
     `AWS_SESSION_TOKEN` for temporary credentials), e.g. from your CI's secret store, or with \
     `eval \"$(aws configure export-credentials --format env)\"`";

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

/// The `aws-secrets-manager` store. Cheap to clone; safe to use from
/// several tasks and processes at once (see the module docs for what
/// compare-and-set means here). Its methods need a tokio runtime.
#[derive(Clone)]
pub struct AwsSecretsManagerStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    prefix: String,
    region: String,
}

impl fmt::Debug for AwsSecretsManagerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSecretsManagerStore")
            .field("prefix", &self.inner.prefix)
            .field("region", &self.inner.region)
            .field("endpoint", &self.inner.client.endpoint())
            .finish_non_exhaustive()
    }
}

impl AwsSecretsManagerStore {
    /// A store with `credentials`. The region must be in `config` here.
    pub fn new(
        config: &AwsSecretsManagerConfig,
        credentials: AwsCredentials,
    ) -> Result<Self, StoreError> {
        Self::build(config, config.region.clone(), credentials)
    }

    /// A store with the credentials of the standard environment variables
    /// (see [`AwsCredentials::from_env`]); the region from `config`, else
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub fn from_env(config: &AwsSecretsManagerConfig) -> Result<Self, StoreError> {
        let region = config.region.clone().or_else(|| {
            ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        });
        Self::build(config, region, AwsCredentials::from_env()?)
    }

    fn build(
        config: &AwsSecretsManagerConfig,
        region: Option<String>,
        credentials: AwsCredentials,
    ) -> Result<Self, StoreError> {
        let region = check_region(region)?;
        check_prefix(&config.prefix)?;
        let (url, loopback) = endpoint_url(config.endpoint_url.as_deref(), &region)?;
        let client = Client::new(url, region.clone(), credentials, loopback).map_err(|error| {
            StoreError::Config {
                message: format!("cannot set up the HTTP client for AWS Secrets Manager: {error}"),
                hint: None,
            }
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                prefix: config.prefix.clone(),
                region,
            }),
        })
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// The name prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The endpoint, `scheme://host[:port]`.
    pub fn endpoint(&self) -> &str {
        self.inner.client.endpoint()
    }

    /// The secret that holds `address`: `<prefix>/tokens/<address>`
    /// (within [`AWS_MAX_NAME_LEN`], as prefixes and addresses are
    /// bounded).
    pub fn token_secret_name(&self, address: &TokenAddress) -> String {
        format!("{}/tokens/{address}", self.inner.prefix)
    }

    /// The secret that holds the state document: `<prefix>/state`.
    pub fn state_secret_name(&self) -> String {
        self.state_name(&StateKey::Root)
    }

    /// The secret that holds the state document of `user`:
    /// `<prefix>/state/<business>/<system-user>` (within
    /// [`AWS_MAX_NAME_LEN`], as prefixes and names are bounded).
    pub fn system_user_state_secret_name(&self, user: &SystemUserAddress) -> String {
        self.state_name(&StateKey::SystemUser(user.clone()))
    }

    /// The secret of the state document `key`.
    fn state_name(&self, key: &StateKey) -> String {
        match key {
            StateKey::Root => format!("{}/{STATE_NAME}", self.inner.prefix),
            StateKey::SystemUser(user) => format!("{}/{STATE_NAME}/{user}", self.inner.prefix),
        }
    }

    /// The secret that holds the lease: `<prefix>/lease`.
    pub fn lease_secret_name(&self) -> String {
        format!("{}/lease", self.inner.prefix)
    }
}

// ---------------------------------------------------------------------------
#[cfg(test)]
mod tests;
