//! The `aws-secrets-manager` backend: every object is a secret in AWS
//! Secrets Manager, written through the JSON API with SigV4-signed requests
//! (`aws/sigv4.rs`, `aws/client.rs`).
//!
//! # Layout
//!
//! ```text
//! <prefix>/tokens/<address>   one secret per token address
//! <prefix>/state              the state document
//! <prefix>/lease              the apply lease (exists only while held)
//! ```
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
//! * `state`: `document` (the engine's JSON, verbatim) or, when that would
//!   not fit in a secret, `gzip_base64`.
//! * `lease`: `lease` (holder, pid, host, `acquired_at`, `expires_at`).
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
//! a delete, `break_lease`, and `list_tokens` (`ListSecrets` pages).

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
mod settings;
mod store;
use self::documents::{Current, conflict, found, previous_document, too_large};
use self::settings::{MAX_PREFIX_LEN, check_prefix, check_region, endpoint_url};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::zeroize::Zeroizing;
use serde_json::json;
use sha2::{Digest, Sha256};

use self::client::{ApiError, CallError, Client};
use crate::{Secret, StoreError, TokenAddress, TokenRecord, Version, record};
use graphform_types::address::MAX_SEGMENT_LEN;

/// The name prefix used unless the policy sets `store.prefix`.
pub const DEFAULT_AWS_PREFIX: &str = "graphform";

/// The largest `SecretString` Secrets Manager accepts (bytes).
pub const AWS_MAX_SECRET_BYTES: usize = 65_536;

/// The longest secret name Secrets Manager accepts.
pub const AWS_MAX_NAME_LEN: usize = 512;

/// The longest token address as text: three names and `token`.
const MAX_TOKEN_ADDRESS_LEN: usize = 3 * MAX_SEGMENT_LEN + "//token/".len();

// Every token's secret name fits, whatever the prefix and the address.
const _: () =
    assert!(MAX_PREFIX_LEN + "/tokens/".len() + MAX_TOKEN_ADDRESS_LEN <= AWS_MAX_NAME_LEN);

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
        format!("{}/state", self.inner.prefix)
    }

    /// The secret that holds the lease: `<prefix>/lease`.
    pub fn lease_secret_name(&self) -> String {
        format!("{}/lease", self.inner.prefix)
    }
}

// ---------------------------------------------------------------------------
// ---------------------------------------------------------------------------
// Request tokens.

/// Randomness drawn once per store call (see the module docs).
struct Nonce([u8; 16]);

impl Nonce {
    fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = Sha256::new();
        hasher.update(std::process::id().to_le_bytes());
        hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        hasher.update(nanos.to_le_bytes());
        // std seeds each RandomState from the OS's randomness.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        hasher.update(random.to_le_bytes());
        let digest = hasher.finalize();
        let mut nonce = [0; 16];
        nonce.copy_from_slice(&digest[..16]);
        Self(nonce)
    }
}

/// The `ClientRequestToken` (and so the `VersionId`) of one intended
/// write: the version to be replaced (`None`: a create), the document and
/// the call's nonce, shaped as a UUID (version 4 bits set).
fn request_token(name: &str, replaces: Option<&str>, document: &str, nonce: &Nonce) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"graphform/aws-secrets-manager/request-token/v1\0");
    hasher.update(nonce.0);
    for part in [name, replaces.unwrap_or(""), document] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&hasher.finalize()[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

// ---------------------------------------------------------------------------
// The protocol.

/// A secret and what it holds, for messages (`token acme/x`, `the lease`).
#[derive(Clone, Copy)]
struct Object<'a> {
    name: &'a str,
    what: &'a str,
}

/// A document to write and the values in it no message may repeat.
#[derive(Clone, Copy)]
struct Doc<'a> {
    text: &'a str,
    sensitive: &'a [&'a str],
}

/// The outcome of a compare-and-set write.
struct Written {
    /// The new current version.
    version: String,
    /// The version it replaced (`None`: the secret was created).
    replaced: Option<Current>,
}

impl Inner {
    async fn call(
        &self,
        action: &'static str,
        name: &str,
        body: &serde_json::Value,
        sensitive: &[&str],
    ) -> Result<serde_json::Value, CallError> {
        self.client.call(action, name, body, sensitive).await
    }

    /// A failed call as a [`StoreError`] naming the action, the secret and
    /// the endpoint.
    fn error(&self, error: CallError, action: &str, name: &str) -> StoreError {
        let operation = format!(
            "secretsmanager:{action} on {name} at {}",
            self.client.endpoint()
        );
        match error {
            CallError::Transport(source) => StoreError::Io { operation, source },
            CallError::Api(error) => self.api_error(error, action, name, operation),
        }
    }

    fn api_error(
        &self,
        error: ApiError,
        action: &str,
        name: &str,
        operation: String,
    ) -> StoreError {
        let detail = error
            .message
            .as_deref()
            .map(|message| format!(": {message}"))
            .unwrap_or_default();
        match error.kind.as_str() {
            "AccessDeniedException" | "AccessDenied" => StoreError::Config {
                message: format!(
                    "AWS denied secretsmanager:{action} on secret {name} (region {}){detail}",
                    self.region
                ),
                hint: Some(format!(
                    "allow `secretsmanager:{action}` on `arn:aws:secretsmanager:{}:ACCOUNT:secret:{}/*` \
                     for the identity graphform runs as; docs/stores.md has a minimal IAM policy",
                    self.region, self.prefix
                )),
            },
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "ExpiredTokenException"
            | "ExpiredToken"
            | "MissingAuthenticationToken"
            | "AuthFailure" => StoreError::Config {
                message: format!(
                    "AWS rejected the credentials ({}) for secretsmanager:{action} at {}{detail}",
                    error.kind,
                    self.client.endpoint()
                ),
                hint: Some(CREDENTIALS_HINT.to_owned()),
            },
            _ => StoreError::Io {
                operation,
                source: Box::new(error),
            },
        }
    }

    /// The version under `AWSCURRENT`; `None` when the secret does not
    /// exist (or is scheduled for deletion).
    async fn read_current(&self, name: &str) -> Result<Option<Current>, StoreError> {
        let body = json!({"SecretId": name, "VersionStage": CURRENT_STAGE});
        match self.call("GetSecretValue", name, &body, &[]).await {
            Ok(serde_json::Value::Object(mut answer)) => {
                let id = answer
                    .get("VersionId")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned);
                let text = match answer.remove("SecretString") {
                    Some(serde_json::Value::String(text)) => Some(Zeroizing::new(text)),
                    _ => None,
                };
                match (id, text) {
                    (Some(id), Some(text)) => Ok(Some(Current { id, text })),
                    (_, None) => Err(StoreError::Corrupt {
                        what: format!("secret {name}"),
                        reason: "its current version has no SecretString (graphform writes text)"
                            .to_owned(),
                    }),
                    (None, Some(_)) => Err(StoreError::Corrupt {
                        what: format!("secret {name}"),
                        reason: "GetSecretValue answered without a VersionId".to_owned(),
                    }),
                }
            }
            Ok(_) => Err(StoreError::Corrupt {
                what: format!("secret {name}"),
                reason: "GetSecretValue answered something other than a JSON object".to_owned(),
            }),
            Err(CallError::Api(error))
                if error.is("ResourceNotFoundException") || error.is("InvalidRequestException") =>
            {
                Ok(None)
            }
            Err(error) => Err(self.error(error, "GetSecretValue", name)),
        }
    }

    /// The current version if it is `expected` (and not a tombstone), else
    /// the conflict.
    async fn expect_current(
        &self,
        object: Object<'_>,
        expected: &Version,
    ) -> Result<Current, StoreError> {
        match self.read_current(object.name).await? {
            Some(current) if current.id == expected.0 && !current.is_tombstone() => Ok(current),
            other => Err(conflict(object.what, Some(expected), found(other.as_ref()))),
        }
    }

    /// Compare-and-set: creates `name` with `text` (`expected` `None`) or
    /// replaces the version `expected`.
    async fn write(
        &self,
        object: Object<'_>,
        doc: Doc<'_>,
        expected: Option<&Version>,
        description: &str,
        nonce: &Nonce,
    ) -> Result<Written, StoreError> {
        if doc.text.len() > AWS_MAX_SECRET_BYTES {
            return Err(too_large(object.what, doc.text.len()));
        }
        match expected {
            Some(expected) => {
                let base = self.expect_current(object, expected).await?;
                self.replace(object, base, doc, Some(expected), PENDING_STAGE, nonce)
                    .await
            }
            None => self.create(object, doc, description, nonce).await,
        }
    }

    /// `CreateSecret`; over a tombstone left by a crashed delete, a
    /// replacement of it.
    async fn create(
        &self,
        object: Object<'_>,
        doc: Doc<'_>,
        description: &str,
        nonce: &Nonce,
    ) -> Result<Written, StoreError> {
        let Object { name, what } = object;
        let token = request_token(name, None, doc.text, nonce);
        let body = json!({
            "Name": name,
            "SecretString": doc.text,
            "ClientRequestToken": token,
            "Description": description,
        });
        let mut name_waits = NAME_REUSE_WAITS.iter();
        for _ in 0..ROUNDS {
            match self.call("CreateSecret", name, &body, doc.sensitive).await {
                Ok(_) => {
                    return Ok(Written {
                        version: token,
                        replaced: None,
                    });
                }
                Err(CallError::Api(error)) if error.is("ResourceExistsException") => {}
                // The name of a secret just deleted for good is reusable
                // only after a short delay (AWS deletes in the background);
                // one scheduled for deletion, not until it is restored or
                // deleted for good.
                Err(CallError::Api(error)) if error.is("InvalidRequestException") => {
                    let Some(wait) = name_waits.next() else {
                        return Err(scheduled_for_deletion(name, &error));
                    };
                    tracing::debug!(secret = name, "the name is not free yet; retrying");
                    tokio::time::sleep(*wait).await;
                    continue;
                }
                Err(error) => return Err(self.error(error, "CreateSecret", name)),
            }
            match self.read_current(name).await? {
                // Deleted in between: create again.
                None => {}
                // Our own create, answered on an earlier attempt.
                Some(current) if current.id == token => {
                    return Ok(Written {
                        version: token,
                        replaced: None,
                    });
                }
                Some(current) if current.is_tombstone() => {
                    match self.await_deletion(name, current).await? {
                        None => {}
                        Some(current) if current.is_tombstone() => {
                            return self
                                .replace(object, current, doc, None, PENDING_STAGE, nonce)
                                .await;
                        }
                        Some(current) => return Err(conflict(what, None, found(Some(&current)))),
                    }
                }
                Some(current) => return Err(conflict(what, None, found(Some(&current)))),
            }
        }
        Err(kept_changing(what))
    }

    /// Waits a little for the deleter of `tombstone` to finish; what is
    /// current then (the tombstone itself if it stayed: a crashed delete).
    async fn await_deletion(
        &self,
        name: &str,
        tombstone: Current,
    ) -> Result<Option<Current>, StoreError> {
        for wait in TOMBSTONE_WAITS {
            tokio::time::sleep(wait).await;
            match self.read_current(name).await? {
                Some(current) if current.id == tombstone.id => {}
                other => return Ok(other),
            }
        }
        tracing::debug!(
            secret = name,
            "writing over the tombstone of an unfinished delete"
        );
        Ok(Some(tombstone))
    }

    /// Steps 2 and 3 of the module docs: `PutSecretValue` of `text` as a
    /// new version labelled `stage`, then `AWSCURRENT` moved to it from
    /// `base` if it is still there.
    async fn replace(
        &self,
        object: Object<'_>,
        base: Current,
        doc: Doc<'_>,
        expected: Option<&Version>,
        stage: &str,
        nonce: &Nonce,
    ) -> Result<Written, StoreError> {
        let Object { name, what } = object;
        let token = request_token(name, Some(&base.id), doc.text, nonce);
        let put = json!({
            "SecretId": name,
            "ClientRequestToken": token,
            "SecretString": doc.text,
            "VersionStages": [stage],
        });
        match self.call("PutSecretValue", name, &put, doc.sensitive).await {
            Ok(_) => {}
            Err(CallError::Api(error))
                if error.is("ResourceNotFoundException") || error.is("InvalidRequestException") =>
            {
                return Err(conflict(what, expected, None));
            }
            Err(error) => return Err(self.error(error, "PutSecretValue", name)),
        }
        let promote = json!({
            "SecretId": name,
            "VersionStage": CURRENT_STAGE,
            "MoveToVersionId": token,
            "RemoveFromVersionId": base.id,
        });
        match self
            .call("UpdateSecretVersionStage", name, &promote, &[])
            .await
        {
            Ok(_) => Ok(Written {
                version: token,
                replaced: Some(base),
            }),
            Err(CallError::Api(error))
                if error.is("InvalidParameterException")
                    || error.is("InvalidRequestException")
                    || error.is("ResourceNotFoundException") =>
            {
                // AWSCURRENT was not on `base`: someone else's write, or
                // ours (a retried request whose first answer was lost).
                match self.read_current(name).await? {
                    Some(current) if current.id == token => Ok(Written {
                        version: token,
                        replaced: Some(base),
                    }),
                    other => Err(conflict(what, expected, found(other.as_ref()))),
                }
            }
            Err(error) => Err(self.error(error, "UpdateSecretVersionStage", name)),
        }
    }

    /// `DeleteSecret` without recovery window; a missing secret is fine.
    async fn delete_secret(&self, name: &str) -> Result<(), StoreError> {
        let body = json!({"SecretId": name, "ForceDeleteWithoutRecovery": true});
        match self.call("DeleteSecret", name, &body, &[]).await {
            Ok(_) => Ok(()),
            Err(CallError::Api(error)) if error.is("ResourceNotFoundException") => Ok(()),
            Err(error) => Err(self.error(error, "DeleteSecret", name)),
        }
    }

    /// A compare-and-set delete: `AWSCURRENT` moved from `expected` to a
    /// tombstone, then the secret deleted.
    async fn delete(&self, object: Object<'_>, expected: &Version) -> Result<(), StoreError> {
        let base = self.expect_current(object, expected).await?;
        let tombstone = Doc {
            text: TOMBSTONE,
            sensitive: &[],
        };
        self.replace(
            object,
            base,
            tombstone,
            Some(expected),
            DELETED_STAGE,
            &Nonce::new(),
        )
        .await?;
        self.delete_secret(object.name).await
    }

    /// Points `AWSPREVIOUS` at a version whose `value` is the record's
    /// previous token, or at nothing when it has none. Best effort: the
    /// record itself is already written; a failure is logged and mended by
    /// the next write.
    async fn mirror_previous(
        &self,
        name: &str,
        address: &TokenAddress,
        record: &TokenRecord,
        written: &Written,
        nonce: &Nonce,
    ) {
        if let Err(error) = self
            .try_mirror_previous(name, address, record, written, nonce)
            .await
        {
            tracing::warn!(
                secret = name,
                "AWSPREVIOUS of {name} was not updated (the next write will): {error}"
            );
        }
    }

    async fn try_mirror_previous(
        &self,
        name: &str,
        address: &TokenAddress,
        record: &TokenRecord,
        written: &Written,
        nonce: &Nonce,
    ) -> Result<(), StoreError> {
        let replaced = written.replaced.as_ref().map(|current| current.id.as_str());
        let body = match &record.previous {
            None => {
                // AWS moved AWSPREVIOUS to the replaced version: take it off.
                let Some(replaced) = replaced else {
                    return Ok(());
                };
                json!({
                    "SecretId": name,
                    "VersionStage": PREVIOUS_STAGE,
                    "RemoveFromVersionId": replaced,
                })
            }
            Some(previous) => {
                let replaced_record = written
                    .replaced
                    .as_ref()
                    .and_then(|current| current.parse::<record::FlatIn>("token", name).ok())
                    .map(record::FlatIn::into_record);
                if replaced_record
                    .as_ref()
                    .map(|record| record.current.value.expose())
                    == Some(previous.token.value.expose())
                {
                    // The usual rotation: AWS moved AWSPREVIOUS to the
                    // version whose value is now the previous one.
                    return Ok(());
                }
                let text = previous_document(address, previous)?;
                let token = request_token(name, Some(&written.version), &text, nonce);
                let put = json!({
                    "SecretId": name,
                    "ClientRequestToken": token,
                    "SecretString": *text,
                    "VersionStages": [PENDING_STAGE],
                });
                self.call(
                    "PutSecretValue",
                    name,
                    &put,
                    &[previous.token.value.expose()],
                )
                .await
                .map_err(|error| self.error(error, "PutSecretValue", name))?;
                let mut body = json!({
                    "SecretId": name,
                    "VersionStage": PREVIOUS_STAGE,
                    "MoveToVersionId": token,
                });
                if let Some(replaced) = replaced {
                    body["RemoveFromVersionId"] = json!(replaced);
                }
                body
            }
        };
        match self
            .call("UpdateSecretVersionStage", name, &body, &[])
            .await
        {
            Ok(_) => Ok(()),
            // AWSPREVIOUS is no longer where this write left it: a later
            // write owns it now.
            Err(CallError::Api(error))
                if error.is("InvalidParameterException")
                    || error.is("ResourceNotFoundException") =>
            {
                Ok(())
            }
            Err(error) => Err(self.error(error, "UpdateSecretVersionStage", name)),
        }
    }
}

fn scheduled_for_deletion(name: &str, error: &ApiError) -> StoreError {
    StoreError::Config {
        message: format!(
            "the secret {name} cannot be created: {error} (it is probably scheduled for deletion)"
        ),
        hint: Some(format!(
            "restore it (`aws secretsmanager restore-secret --secret-id {name}`) or delete it for \
             good (`aws secretsmanager delete-secret --secret-id {name} \
             --force-delete-without-recovery`); a name deleted for good can be reused after a \
             few seconds"
        )),
    }
}

fn kept_changing(what: &str) -> StoreError {
    StoreError::Io {
        operation: format!("writing {what}"),
        source: format!("it kept changing during {ROUNDS} attempts").into(),
    }
}

// ---------------------------------------------------------------------------
#[cfg(test)]
mod tests;
