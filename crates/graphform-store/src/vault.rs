//! The `vault` backend: HashiCorp Vault or OpenBao, KV version 2, over HTTP.
//!
//! Layout under the KV v2 mount (`secret` by default) and the prefix
//! (`graphform` by default), described for users in docs/stores.md:
//!
//! ```text
//! <prefix>/tokens/<address>   one entry per token address. Data:
//!                             {"format":1,"value":"EAAG…","metadata":{…},
//!                              "previous":{"value":…,"metadata":…,"revoke_after":…}|null}
//!                             custom_metadata: address, version, fingerprints,
//!                             app and system-user IDs, scopes, times (no value)
//! <prefix>/state              {"format":1,"document":"<the state document, as text>"}
//! <prefix>/state/<business>/<system-user>
//!                             the state document of that system user, in the
//!                             format of <prefix>/state
//! <prefix>/lease              {"format":1,"lease":{"holder":…,"pid":…,"host":…,
//!                              "acquired_at":…,"expires_at":…}|null}
//! ```
//!
//! Invariants this file keeps:
//!
//! * **Versions are KV versions**, and every write is a KV check-and-set
//!   (`options.cas`) against the version the caller read, so the server
//!   decides atomically which of two writers wins. A [`Version`] names its
//!   entry too (`tokens/acme/x@3`, `state@7`, `state/acme/x@2`): KV
//!   versions start at 1 for every key, and a version of one entry must
//!   not match another's.
//! * **An entry's metadata is never deleted.** Deleting the metadata of a
//!   KV v2 key resets its version counter: a token deleted and issued
//!   again would start at version 1, and a writer still holding version 1
//!   of the earlier token would overwrite the new one (for the lease: two
//!   holders). So a token is deleted by a check-and-set write of a
//!   *tombstone* (`{"format":1,"deleted":true}`), after which its earlier
//!   versions are destroyed (the values are gone for good) and the
//!   tombstone is soft-deleted; a released or broken lease is a
//!   check-and-set write of `"lease": null`. Versions of a key only grow.
//! * **A delete by someone else is not absence.** An entry whose latest
//!   version was soft-deleted (`bao kv delete`, an expired
//!   `delete_version_after`) or destroyed by anyone but graphform is an
//!   error on every read, listing and write, never taken for "no token"
//!   (graphform would issue a replacement over it) nor written over.
//!   graphform's own soft-deleted tombstone is told apart by
//!   `custom_metadata` (`deleted: true` and the tombstone's version,
//!   recorded before the soft delete), which Vault returns with the 404 of
//!   a deleted version. A live version whose `delete_version_after` lies
//!   ahead (Vault answers 200 with a `deletion_time`) is simply live.
//! * **`previous` is a field, not an older KV version**: the record is read
//!   and written as one unit with one version, and KV history is pruned by
//!   the mount's `max_versions` and destroyed on delete.
//! * **No value or Vault token in an error, a log line or `Debug`.** Errors
//!   name addresses and KV paths; the server's error text is included with
//!   any value of the request and the token removed; JSON errors are
//!   reduced to their kind and position. The token travels only in the
//!   `X-Vault-Token` header, marked sensitive.

mod errors;
mod kv;
mod settings;
mod wire;
use self::errors::with_context;
use self::kv::{Entry, LEASE_REL, LeaseState, Read, Written, state_rel, token_rel};
use self::settings::{check_token, normalize_settings, read_ca_file, token_from_var};
pub(crate) use self::wire::token_entry;
use self::wire::{
    LeaseEntry, StateEntryIn, StateEntryOut, Tombstone, custom_metadata_for, parse_entry,
    parse_token_entry, truncate_to,
};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use crate::{
    CredentialSource, Lease, LeaseBreak, LeaseClaim, LeaseId, LeaseInfo, Secret, StateKey, Store,
    StoreError, SystemUserAddress, Timestamp, TokenAddress, TokenRecord, Version, Versioned,
    json_error_reason, validate_record,
};

/// The KV v2 mount used unless the policy names another (`store.mount`).
pub const DEFAULT_VAULT_MOUNT: &str = "secret";

/// The path prefix under the mount unless the policy names another
/// (`store.prefix`).
pub const DEFAULT_VAULT_PREFIX: &str = "graphform";

/// The environment variable holding the Vault token unless the policy names
/// another (`store.token_env`).
pub const DEFAULT_VAULT_TOKEN_ENV: &str = "VAULT_TOKEN";

/// What the vault store's credential is, in messages.
const TOKEN: &str = "the Vault token";

/// The format of the entries this code writes and reads.
const FORMAT: u32 = 1;

/// How long to wait for a TCP (and TLS) connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_mins(1);
/// How many check-and-set rounds a create, an acquire or a break retries
/// when the entry keeps changing under it (each round is a real change by
/// someone else, so this only bounds a pathological race).
const CAS_ROUNDS: usize = 16;
/// How many entries `list_tokens` reads at once.
const LIST_CONCURRENCY: usize = 8;
/// Vault's limit on one `custom_metadata` value, in bytes.
const CUSTOM_METADATA_VALUE_MAX: usize = 512;
/// Server error text longer than this is cut (it is for people).
const SERVER_MESSAGE_MAX: usize = 400;

/// Where and how to reach the Vault server: the policy's `store:` section
/// for `type: vault`, with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultSettings {
    /// The server's address, e.g. `https://vault.example.com:8200` (no
    /// credentials in it; a path is kept as a prefix of `/v1/…`).
    pub address: String,
    /// The KV version 2 mount, e.g. `secret` or `kv/teams`.
    pub mount: String,
    /// The path under the mount that graphform owns, e.g. `graphform`.
    pub prefix: String,
    /// The Vault Enterprise / OpenBao namespace (`X-Vault-Namespace`), if
    /// any.
    pub namespace: Option<String>,
    /// A PEM file of the CA certificate(s) to trust for an `https` address
    /// instead of the system's roots (like `VAULT_CACERT`).
    pub ca_file: Option<PathBuf>,
}

impl VaultSettings {
    /// Settings for `address` with the default mount and prefix, no
    /// namespace and the system's CA roots.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            mount: DEFAULT_VAULT_MOUNT.to_owned(),
            prefix: DEFAULT_VAULT_PREFIX.to_owned(),
            namespace: None,
            ca_file: None,
        }
    }
}

/// The `vault` store: Vault or OpenBao KV version 2 over HTTP(S).
///
/// Cheap to clone (the HTTP client and settings are shared). Its methods
/// must run inside a tokio runtime. See the module documentation for the
/// layout and docs/stores.md for the policy it needs.
#[derive(Clone)]
pub struct VaultStore {
    inner: Arc<Inner>,
}

struct Inner {
    settings: VaultSettings,
    /// `address` without a trailing `/`.
    base: String,
    client: reqwest::Client,
    token: Secret,
    token_source: CredentialSource,
    /// Set once the mount was found to be KV v2 (or could not be checked).
    mount_checked: tokio::sync::OnceCell<()>,
}

impl fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("VaultStore")
            .field("address", &settings.address)
            .field("mount", &settings.mount)
            .field("prefix", &settings.prefix)
            .field("namespace", &settings.namespace)
            .field("ca_file", &settings.ca_file)
            .field("token", &self.inner.token_source)
            .finish_non_exhaustive()
    }
}

impl VaultStore {
    /// Opens the store described by `settings` with the Vault token held by
    /// the environment variable `token_env` (the policy's
    /// `store.token_env`, by default [`DEFAULT_VAULT_TOKEN_ENV`]).
    ///
    /// Nothing is sent to the server yet. Errors are
    /// [`StoreError::Config`]: the variable unset or empty, malformed
    /// settings, an unreadable CA file.
    pub fn open(settings: VaultSettings, token_env: &str) -> Result<Self, StoreError> {
        let token = token_from_var(token_env, std::env::var(token_env))?;
        Self::build(settings, token, CredentialSource::env(TOKEN, token_env))
    }

    /// Opens the store described by `settings` with `token`, otherwise as
    /// [`VaultStore::open`].
    pub fn with_token(settings: VaultSettings, token: &Secret) -> Result<Self, StoreError> {
        let token = Secret::new(token.expose().trim());
        check_token(&token, &CredentialSource::given(TOKEN))?;
        Self::build(settings, token, CredentialSource::given(TOKEN))
    }

    fn build(
        settings: VaultSettings,
        token: Secret,
        token_source: CredentialSource,
    ) -> Result<Self, StoreError> {
        let settings = normalize_settings(settings)?;
        let base = settings.address.trim_end_matches('/').to_owned();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // Vault answers where it is asked; a redirect would carry the
            // token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("graphform/", env!("CARGO_PKG_VERSION")));
        if let Some(ca_file) = &settings.ca_file {
            builder = builder.tls_certs_only(read_ca_file(ca_file)?);
        }
        let client = builder.build().map_err(|error| StoreError::Config {
            message: format!(
                "cannot set up the HTTP client for Vault at {}: {}",
                settings.address,
                error_chain(&error)
            ),
            hint: None,
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                base,
                client,
                token,
                token_source,
                mount_checked: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The settings in use (normalized: no surrounding `/` in the mount and
    /// prefix).
    pub fn settings(&self) -> &VaultSettings {
        &self.inner.settings
    }

    /// The KV path of a token address under the mount, e.g.
    /// `graphform/tokens/acme/ci-reporting/token/insights-read`: what
    /// consumers pass to `bao kv get -mount=secret`.
    pub fn token_path(&self, address: &TokenAddress) -> String {
        format!("{}/{}", self.inner.settings.prefix, token_rel(address))
    }

    /// The KV path of a system user's state document under the mount,
    /// e.g. `graphform/state/acme/ci-reporting`.
    pub fn system_user_state_path(&self, user: &SystemUserAddress) -> String {
        let rel = state_rel(&StateKey::SystemUser(user.clone()));
        format!("{}/{rel}", self.inner.settings.prefix)
    }

    /// [`Store::read_state`] and [`Store::read_system_user_state`]: the
    /// entry of the state document `key`.
    async fn read_state_document(
        &self,
        key: &StateKey,
    ) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        let inner = &self.inner;
        let action = format!("reading {key}");
        inner.ensure_mount(&action).await?;
        let rel = state_rel(key);
        match inner.read_entry(&rel, &action).await? {
            Entry::Absent { .. } => Ok(None),
            Entry::Present { version, data } => {
                let what = || format!("{key} {}", inner.data_path(&rel));
                let state: StateEntryIn = parse_entry(&data, what)?;
                Ok(Some(Versioned {
                    value: state.document.into_bytes(),
                    version: kv_version(&rel, version),
                }))
            }
        }
    }

    /// [`Store::write_state`] and [`Store::write_system_user_state`] of a
    /// checked document: a
    /// check-and-set write of the entry of the state document `key`.
    async fn write_state_document(
        &self,
        key: &StateKey,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        let document = std::str::from_utf8(document).map_err(|_| StoreError::Invalid {
            what: key.to_string(),
            reason: "it is not UTF-8".to_owned(),
        })?;
        let inner = &self.inner;
        let action = format!("writing {key}");
        inner.ensure_mount(&action).await?;
        let rel = state_rel(key);
        let entry = StateEntryOut {
            format: FORMAT,
            document,
        };
        let what = || key.to_string();
        let version = inner
            .put(&rel, &entry, expected, what, &action, &[])
            .await?;
        tracing::debug!(state = %key, version, bytes = document.len(), "state document written");
        Ok(kv_version(&rel, version))
    }
}

impl Store for VaultStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn read_token(
        &self,
        address: &TokenAddress,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        let inner = &self.inner;
        let action = format!("reading token {address}");
        inner.ensure_mount(&action).await?;
        let rel = token_rel(address);
        match inner.read_entry(&rel, &action).await? {
            Entry::Absent { .. } => Ok(None),
            Entry::Present { version, data } => {
                let record = parse_token_entry(&data, address, &inner.data_path(&rel))?;
                Ok(Some(Versioned {
                    value: record,
                    version: kv_version(&rel, version),
                }))
            }
        }
    }

    async fn list_tokens(&self) -> Result<Vec<TokenAddress>, StoreError> {
        let inner = &self.inner;
        let action = "listing tokens";
        inner.ensure_mount(action).await?;
        let candidates = inner.list_token_keys(action).await?;
        // The keys include deleted tokens (their tombstones): keep live ones.
        let live: Vec<Option<TokenAddress>> = stream::iter(candidates)
            .map(|address| async move {
                let action = format!("listing tokens (reading {address})");
                match inner.read_entry(&token_rel(&address), &action).await? {
                    Entry::Present { .. } => Ok(Some(address)),
                    Entry::Absent { .. } => Ok::<_, StoreError>(None),
                }
            })
            .buffered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut addresses: Vec<TokenAddress> = live.into_iter().flatten().collect();
        addresses.sort();
        tracing::trace!(count = addresses.len(), "tokens listed");
        Ok(addresses)
    }

    async fn write_token(
        &self,
        address: &TokenAddress,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        validate_record(address, record)?;
        let inner = &self.inner;
        let action = format!("writing token {address}");
        inner.ensure_mount(&action).await?;
        let rel = token_rel(address);
        let entry = token_entry(record);
        let mut secrets = vec![record.current.value.expose()];
        if let Some(previous) = &record.previous {
            secrets.push(previous.token.value.expose());
        }
        let what = || format!("token {address}");
        let version = inner
            .put(&rel, &entry, expected, what, &action, &secrets)
            .await?;
        tracing::debug!(
            %address,
            version,
            fingerprint = %record.current.metadata.fingerprint,
            previous_fingerprint = ?record.previous.as_ref().map(|previous| &previous.token.metadata.fingerprint),
            "token written"
        );
        let mirror = custom_metadata_for(address, version, record);
        inner
            .write_custom_metadata(&rel, &mirror, true)
            .await
            .map_err(|error| {
                with_context(error, &format!(
                    "recording the metadata of token {address} in custom_metadata (its value was \
                     written as version {version})"
                ))
            })?;
        Ok(kv_version(&rel, version))
    }

    async fn delete_token(
        &self,
        address: &TokenAddress,
        expected: &Version,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let action = format!("deleting token {address}");
        inner.ensure_mount(&action).await?;
        let rel = token_rel(address);
        let what = || format!("token {address}");
        let tombstone = Tombstone {
            format: FORMAT,
            deleted: true,
        };
        let version = inner
            .put(&rel, &tombstone, Some(expected), what, &action, &[])
            .await?;
        // The check-and-set write of the tombstone decided: the token is
        // deleted. What follows removes the values for good and tells
        // operators; a failure is reported but does not undo the delete.
        inner
            .clean_up_deleted(&rel, address, version)
            .await
            .map_err(|error| {
                with_context(
                    error,
                    &format!(
                        "destroying the earlier versions of token {address} (the token is deleted, \
                     but its earlier values may still be in the KV history)"
                    ),
                )
            })?;
        tracing::debug!(%address, tombstone_version = version, "token deleted");
        Ok(())
    }

    state_document_methods!();

    async fn claim_lease(&self, claim: &LeaseClaim) -> Result<Lease, StoreError> {
        self.inner.claim_lease(claim).await
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: Timestamp) -> Result<Lease, StoreError> {
        let inner = &self.inner;
        let action = "renewing the lease";
        inner.ensure_mount(action).await?;
        let Some(cas) = parse_version(&lease.version, LEASE_REL) else {
            return Err(StoreError::LeaseLost);
        };
        let info = LeaseInfo {
            expires_at,
            ..lease.info.clone()
        };
        match inner.write_lease(Some(&info), cas, action).await? {
            Written::Version(version) => {
                tracing::debug!(holder = %info.holder, expires_at = expires_at.unix(), "lease renewed");
                Ok(Lease {
                    info,
                    version: kv_version(LEASE_REL, version),
                })
            }
            Written::Mismatch => Err(StoreError::LeaseLost),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let inner = &self.inner;
        let action = "releasing the lease";
        inner.ensure_mount(action).await?;
        let Some(cas) = parse_version(&lease.version, LEASE_REL) else {
            return Ok(());
        };
        match inner.write_lease(None, cas, action).await? {
            Written::Version(_) => tracing::debug!(holder = %lease.info.holder, "lease released"),
            // Already gone, or someone else's now: leave it alone.
            Written::Mismatch => {
                tracing::debug!(holder = %lease.info.holder, "lease already gone at release");
            }
        }
        Ok(())
    }

    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        let inner = &self.inner;
        let action = "reading the lease";
        inner.ensure_mount(action).await?;
        Ok(match inner.read_lease_entry(action).await? {
            LeaseState::Held { info, .. } => Some(info),
            LeaseState::Missing { .. } | LeaseState::Free { .. } => None,
        })
    }

    async fn break_lease(&self, id: &LeaseId) -> Result<LeaseBreak, StoreError> {
        let inner = &self.inner;
        let action = "breaking the lease";
        inner.ensure_mount(action).await?;
        // Read, compare the ID, then free the entry by check-and-set
        // against the version read: a renewal in between (same ID) is read
        // again, a new holder (another ID) is left alone.
        for _ in 0..CAS_ROUNDS {
            let (version, outcome) = match inner.read_version(LEASE_REL, None, action).await? {
                Read::Entry(Entry::Absent { .. }) => return Ok(LeaseBreak::NotHeld),
                // Deleted by someone else: `graphform unlock` is how a user
                // gets out of that too (the lease holds no secret).
                Read::DeletedElsewhere { version, .. } => {
                    tracing::warn!(
                        "replacing the lease {}, whose latest version {version} was deleted \
                         outside graphform",
                        inner.data_path(LEASE_REL)
                    );
                    (version, LeaseBreak::Damaged)
                }
                Read::Entry(Entry::Present { version, data }) => {
                    let what = || format!("the lease {}", inner.data_path(LEASE_REL));
                    match parse_entry::<LeaseEntry>(&data, what) {
                        Ok(LeaseEntry { lease: None, .. }) => return Ok(LeaseBreak::NotHeld),
                        Ok(LeaseEntry {
                            lease: Some(info), ..
                        }) if info.id != *id => return Ok(LeaseBreak::OtherHolder(info)),
                        Ok(LeaseEntry {
                            lease: Some(info), ..
                        }) => (version, LeaseBreak::Broken(info)),
                        // `graphform unlock` is how a user gets out of a
                        // damaged lease entry, so replace it; there is no
                        // holder to report.
                        Err(StoreError::Corrupt { what, reason }) => {
                            tracing::warn!("replacing {what}, which is unreadable: {reason}");
                            (version, LeaseBreak::Damaged)
                        }
                        Err(error) => return Err(error),
                    }
                }
            };
            match inner.write_lease(None, version, action).await? {
                Written::Version(_) => return Ok(outcome.logged()),
                Written::Mismatch => {}
            }
        }
        Err(inner.kept_changing(action, "the lease"))
    }
}

// ---------------------------------------------------------------------------
// ---------------------------------------------------------------------------
// Helpers.

/// The [`Version`] of KV version `number` of the entry `<prefix>/<rel>`:
/// `<rel>@<number>`, e.g. `tokens/acme/ci/token/read@3`, `state@7`. The
/// entry is part of it so that versions of different entries differ (KV
/// versions start at 1 for every key), and a version of one entry can never
/// match another's.
fn kv_version(rel: &str, number: u64) -> Version {
    Version(format!("{rel}@{number}"))
}

/// The KV version in a [`Version`] of the entry `rel`, if it is one this
/// store handed out for that entry (a positive integer in canonical form).
fn parse_version(version: &Version, rel: &str) -> Option<u64> {
    let (entry, number) = version.0.rsplit_once('@')?;
    let parsed = number.parse::<u64>().ok()?;
    (entry == rel && parsed > 0 && parsed.to_string() == number).then_some(parsed)
}

fn to_json(value: &impl Serialize, path: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Io {
        operation: format!("encoding the request for {path}"),
        source: json_error_reason(&error).into(),
    })
}

/// Removes every occurrence of each secret (of four or more characters)
/// from server text.
fn redact(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        if secret.chars().count() >= 4 {
            text = text.replace(secret, "[redacted]");
        }
    }
    text
}

/// One line, at most [`SERVER_MESSAGE_MAX`] bytes.
fn squash(text: &str) -> String {
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > SERVER_MESSAGE_MAX {
        truncate_to(&mut line, SERVER_MESSAGE_MAX);
        line.push('…');
    }
    line
}

/// An error and its causes, joined by `: ` (reqwest's own message only
/// says "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn has_io_kind(error: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == kind
        {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests;
