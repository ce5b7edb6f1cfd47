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
//! <prefix>/lease              {"format":1,"lease":{"holder":…,"pid":…,"host":…,
//!                              "acquired_at":…,"expires_at":…}|null}
//! ```
//!
//! Invariants this file keeps:
//!
//! * **Versions are KV versions**, and every write is a KV check-and-set
//!   (`options.cas`) against the version the caller read, so the server
//!   decides atomically which of two writers wins. A [`Version`] names its
//!   entry too (`tokens/acme/x@3`, `state@7`): KV versions start at 1 for
//!   every key, and a version of one entry must not match another's.
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

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::zeroize::Zeroizing;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{
    Lease, LeaseInfo, Secret, Store, StoreError, TokenRecord, UnixTime, Version, Versioned,
    json_error_reason, record, validate_address, validate_record, validate_state_document,
};

/// The KV v2 mount used unless the policy names another (`store.mount`).
pub const DEFAULT_VAULT_MOUNT: &str = "secret";

/// The path prefix under the mount unless the policy names another
/// (`store.prefix`).
pub const DEFAULT_VAULT_PREFIX: &str = "graphform";

/// The environment variable holding the Vault token unless the policy names
/// another (`store.token_env`).
pub const DEFAULT_VAULT_TOKEN_ENV: &str = "VAULT_TOKEN";

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
    token_source: TokenSource,
    /// Set once the mount was found to be KV v2 (or could not be checked).
    mount_checked: tokio::sync::OnceCell<()>,
}

/// Where the Vault token came from, to say so in messages.
#[derive(Clone, Debug)]
enum TokenSource {
    Env(String),
    Given,
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "the Vault token in `{name}`"),
            Self::Given => f.write_str("the Vault token given"),
        }
    }
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
        Self::build(settings, token, TokenSource::Env(token_env.to_owned()))
    }

    /// Opens the store described by `settings` with `token`, otherwise as
    /// [`VaultStore::open`].
    pub fn with_token(settings: VaultSettings, token: &Secret) -> Result<Self, StoreError> {
        let token = Secret::new(token.expose().trim());
        check_token(&token, &TokenSource::Given)?;
        Self::build(settings, token, TokenSource::Given)
    }

    fn build(
        settings: VaultSettings,
        token: Secret,
        token_source: TokenSource,
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
    pub fn token_path(&self, address: &str) -> Result<String, StoreError> {
        validate_address(address)?;
        Ok(format!(
            "{}/{}",
            self.inner.settings.prefix,
            token_rel(address)
        ))
    }
}

impl Store for VaultStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn read_token(
        &self,
        address: &str,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        validate_address(address)?;
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

    async fn list_tokens(&self) -> Result<Vec<String>, StoreError> {
        let inner = &self.inner;
        let action = "listing tokens";
        inner.ensure_mount(action).await?;
        let candidates = inner.list_token_keys(action).await?;
        // The keys include deleted tokens (their tombstones): keep live ones.
        let live: Vec<Option<String>> = stream::iter(candidates)
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
        let mut addresses: Vec<String> = live.into_iter().flatten().collect();
        addresses.sort();
        tracing::trace!(count = addresses.len(), "tokens listed");
        Ok(addresses)
    }

    async fn write_token(
        &self,
        address: &str,
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
            address,
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

    async fn delete_token(&self, address: &str, expected: &Version) -> Result<(), StoreError> {
        validate_address(address)?;
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
        tracing::debug!(address, tombstone_version = version, "token deleted");
        Ok(())
    }

    async fn read_state(&self) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        let inner = &self.inner;
        let action = "reading the state document";
        inner.ensure_mount(action).await?;
        match inner.read_entry(STATE_REL, action).await? {
            Entry::Absent { .. } => Ok(None),
            Entry::Present { version, data } => {
                let what = || format!("the state document {}", inner.data_path(STATE_REL));
                let state: StateEntryIn = parse_entry(&data, what)?;
                Ok(Some(Versioned {
                    value: state.document.into_bytes(),
                    version: kv_version(STATE_REL, version),
                }))
            }
        }
    }

    async fn write_state(
        &self,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        validate_state_document(document)?;
        let document = std::str::from_utf8(document).map_err(|_| StoreError::Invalid {
            what: "the state document".to_owned(),
            reason: "it is not UTF-8".to_owned(),
        })?;
        let inner = &self.inner;
        let action = "writing the state document";
        inner.ensure_mount(action).await?;
        let entry = StateEntryOut {
            format: FORMAT,
            document,
        };
        let what = || "the state document".to_owned();
        let version = inner
            .put(STATE_REL, &entry, expected, what, action, &[])
            .await?;
        tracing::debug!(version, bytes = document.len(), "state document written");
        Ok(kv_version(STATE_REL, version))
    }

    async fn acquire_lease(&self, holder: &LeaseInfo) -> Result<Lease, StoreError> {
        self.inner
            .claim_lease(
                holder,
                |held| held.may_be_taken_over_at(holder.acquired_at),
                "taking over an expired lease",
                "acquiring the lease",
            )
            .await
    }

    async fn take_over_lease(
        &self,
        stale: &LeaseInfo,
        holder: &LeaseInfo,
    ) -> Result<Lease, StoreError> {
        self.inner
            .claim_lease(
                holder,
                |held| held == stale,
                "taking over the lease of a holder that is gone",
                "taking over the lease",
            )
            .await
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: UnixTime) -> Result<Lease, StoreError> {
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
        let entry = LeaseEntry {
            format: FORMAT,
            lease: Some(info.clone()),
        };
        match inner
            .write_entry(LEASE_REL, &entry, cas, action, &[])
            .await?
        {
            Written::Version(version) => {
                tracing::debug!(holder = %info.holder, expires_at, "lease renewed");
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
        match inner
            .write_entry(LEASE_REL, &LeaseEntry::FREE, cas, action, &[])
            .await?
        {
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

    async fn break_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        let inner = &self.inner;
        let action = "breaking the lease";
        inner.ensure_mount(action).await?;
        for _ in 0..CAS_ROUNDS {
            let (version, info) = match inner.read_version(LEASE_REL, None, action).await? {
                Read::Entry(Entry::Absent { .. }) => return Ok(None),
                // Deleted by someone else: `graphform unlock` is how a user
                // gets out of that too (the lease holds no secret).
                Read::DeletedElsewhere { version, .. } => {
                    tracing::warn!(
                        "replacing the lease {}, whose latest version {version} was deleted \
                         outside graphform",
                        inner.data_path(LEASE_REL)
                    );
                    (version, None)
                }
                Read::Entry(Entry::Present { version, data }) => {
                    let what = || format!("the lease {}", inner.data_path(LEASE_REL));
                    match parse_entry::<LeaseEntry>(&data, what) {
                        Ok(LeaseEntry { lease: None, .. }) => return Ok(None),
                        Ok(LeaseEntry {
                            lease: Some(info), ..
                        }) => (version, Some(info)),
                        // `graphform unlock` is how a user gets out of a
                        // damaged lease entry, so replace it; there is no
                        // holder to report.
                        Err(StoreError::Corrupt { what, reason }) => {
                            tracing::warn!("replacing {what}, which is unreadable: {reason}");
                            (version, None)
                        }
                        Err(error) => return Err(error),
                    }
                }
            };
            match inner
                .write_entry(LEASE_REL, &LeaseEntry::FREE, version, action, &[])
                .await?
            {
                Written::Version(_) => {
                    if let Some(info) = &info {
                        tracing::debug!(
                            holder = %info.holder,
                            pid = info.pid,
                            host = %info.host,
                            "lease broken"
                        );
                    }
                    return Ok(info);
                }
                Written::Mismatch => {}
            }
        }
        Err(inner.kept_changing(action, "the lease"))
    }
}

// ---------------------------------------------------------------------------
// Talking to the server.

const STATE_REL: &str = "state";
const LEASE_REL: &str = "lease";
const TOKENS_REL: &str = "tokens";

fn token_rel(address: &str) -> String {
    format!("{TOKENS_REL}/{address}")
}

/// What a KV v2 data read found.
enum Entry {
    /// No entry: never written (`version: None`), or its current version
    /// is graphform's tombstone, live or soft-deleted (`version: Some`, the
    /// version to check-and-set against to write it again).
    Absent { version: Option<u64> },
    /// A live entry: its version and its data (the KV `data` object).
    Present { version: u64, data: Box<RawValue> },
}

/// What a KV v2 data read found, before a delete by someone else is
/// turned into an error.
enum Read {
    Entry(Entry),
    /// The version read was deleted (`kv delete`, `delete_version_after`)
    /// or destroyed by someone else than graphform: what it held is not
    /// known, and it must not be taken for absent (nor written over).
    DeletedElsewhere {
        version: u64,
        destroyed: bool,
    },
}

/// The outcome of a check-and-set write.
enum Written {
    Version(u64),
    /// The entry's version was not the one given.
    Mismatch,
}

/// The lease entry, interpreted.
enum LeaseState {
    Missing { version: Option<u64> },
    Free { version: u64 },
    Held { version: u64, info: LeaseInfo },
}

/// A server reply. Its body may hold token values: it is wiped when
/// dropped.
struct Reply {
    status: StatusCode,
    body: Zeroizing<Vec<u8>>,
}

impl Inner {
    fn describe(&self) -> String {
        let settings = &self.settings;
        let namespace = settings
            .namespace
            .as_ref()
            .map(|namespace| format!(" (namespace {namespace})"))
            .unwrap_or_default();
        format!(
            "vault store {}/{} at {}{namespace}",
            settings.mount, settings.prefix, settings.address
        )
    }

    /// `<mount>/data/<prefix>/<rel>`: the path a policy names.
    fn data_path(&self, rel: &str) -> String {
        self.kv_path("data", rel)
    }

    fn kv_path(&self, kind: &str, rel: &str) -> String {
        format!(
            "{}/{kind}/{}/{rel}",
            self.settings.mount, self.settings.prefix
        )
    }

    fn operation(&self, action: &str) -> String {
        format!("{action} in {}", self.describe())
    }

    /// Sends one request to `/v1/<path>` (a query string may follow).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        action: &str,
    ) -> Result<Reply, StoreError> {
        let url = format!("{}/v1/{path}", self.base);
        let mut token = HeaderValue::from_str(self.token.expose())
            .map_err(|_| malformed_token(&self.token_source))?;
        token.set_sensitive(true);
        let mut request = self
            .client
            .request(method.clone(), &url)
            .header("X-Vault-Token", token);
        if let Some(namespace) = &self.settings.namespace {
            request = request.header("X-Vault-Namespace", namespace.as_str());
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        tracing::trace!(%method, path, "vault request");
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_error(action, &error))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| self.transport_error(action, &error))?;
        tracing::trace!(%method, path, status = status.as_u16(), "vault response");
        Ok(Reply {
            status,
            body: Zeroizing::new(body.to_vec()),
        })
    }

    /// Checks once per store that the mount is a KV version 2 engine, so
    /// that nothing is written into a version 1 mount (which would accept
    /// the writes under other keys). A token that may not look (403) is let
    /// through: the real request then says what is wrong.
    async fn ensure_mount(&self, action: &str) -> Result<(), StoreError> {
        self.mount_checked
            .get_or_try_init(|| async {
                let path = format!("sys/internal/ui/mounts/{}", self.settings.mount);
                let reply = self.send(Method::GET, &path, None, action).await?;
                if reply.status == StatusCode::FORBIDDEN || reply.status == StatusCode::NOT_FOUND {
                    return Ok(());
                }
                if !reply.status.is_success() {
                    return Err(self.api_error(action, &path, &reply, &[]));
                }
                let mount: Envelope<MountInfo> =
                    serde_json::from_slice(&reply.body).map_err(|error| {
                        self.unexpected_reply(action, &path, &json_error_reason(&error))
                    })?;
                let Some(mount) = mount.data else {
                    return Ok(());
                };
                let version = mount
                    .options
                    .as_ref()
                    .and_then(|options| options.get("version"));
                if mount.kind == "kv" && version.map(String::as_str) == Some("2") {
                    Ok(())
                } else {
                    let found = match version {
                        Some(version) => format!("{} version {version}", mount.kind),
                        None => mount.kind.clone(),
                    };
                    Err(StoreError::Config {
                        message: format!(
                            "the mount `{}` of Vault at {} is a `{found}` engine, not KV version 2",
                            self.settings.mount, self.settings.address
                        ),
                        hint: Some(format!(
                            "set `store.mount` to a KV version 2 mount, or upgrade this one \
                             (`bao kv enable-versioning {}`)",
                            self.settings.mount
                        )),
                    })
                }
            })
            .await?;
        Ok(())
    }

    /// Reads the current version of `<prefix>/<rel>`. graphform's own
    /// tombstone reads as absent; a latest version deleted or destroyed by
    /// someone else is an error (see [`Inner::deleted_elsewhere`]).
    async fn read_entry(&self, rel: &str, action: &str) -> Result<Entry, StoreError> {
        match self.read_version(rel, None, action).await? {
            Read::Entry(entry) => Ok(entry),
            Read::DeletedElsewhere { version, destroyed } => {
                Err(self.deleted_elsewhere(rel, version, destroyed))
            }
        }
    }

    /// Reads version `version` of `<prefix>/<rel>` (`None`: the current
    /// one) and tells what it is.
    ///
    /// Vault answers 200 only for a live version: its data is there even
    /// when `deletion_time` is set (a `delete_version_after` still in the
    /// future). A version deleted (`kv delete`, an expired
    /// `delete_version_after`) or destroyed is a 404 whose body still has
    /// the version's metadata, `custom_metadata` included: that tells
    /// graphform's own soft-deleted tombstone (`deleted: true` and its
    /// version recorded there before the soft delete, see
    /// [`Inner::clean_up_deleted`]) from anyone else's delete. A 404
    /// without metadata is a key that does not exist.
    async fn read_version(
        &self,
        rel: &str,
        version: Option<u64>,
        action: &str,
    ) -> Result<Read, StoreError> {
        let path = self.data_path(rel);
        let url = match version {
            Some(version) => format!("{path}?version={version}"),
            None => path.clone(),
        };
        let reply = self.send(Method::GET, &url, None, action).await?;
        match reply.status {
            StatusCode::OK => {
                let read: Envelope<KvRead> =
                    serde_json::from_slice(&reply.body).map_err(|error| {
                        self.unexpected_reply(action, &path, &json_error_reason(&error))
                    })?;
                let Some(KvRead {
                    data,
                    metadata: Some(metadata),
                }) = read.data
                else {
                    return Err(self.not_kv2(action, &path));
                };
                Ok(match data {
                    Some(data) if is_tombstone(&data) => Read::Entry(Entry::Absent {
                        version: Some(metadata.version),
                    }),
                    Some(data) => Read::Entry(Entry::Present {
                        version: metadata.version,
                        data,
                    }),
                    // Not an answer Vault gives for a live version: take it
                    // for a deleted one.
                    None => metadata.classify_deleted(),
                })
            }
            StatusCode::NOT_FOUND if server_errors(&reply.body).is_empty() => {
                let metadata = serde_json::from_slice::<Envelope<KvRead>>(&reply.body)
                    .ok()
                    .and_then(|read| read.data)
                    .and_then(|read| read.metadata);
                Ok(match metadata {
                    Some(metadata) => metadata.classify_deleted(),
                    None => Read::Entry(Entry::Absent { version: None }),
                })
            }
            _ => Err(self.api_error(action, &path, &reply, &[])),
        }
    }

    /// Writes `data` to `<prefix>/<rel>` if its KV version is `cas` (0: if
    /// it does not exist).
    async fn write_entry(
        &self,
        rel: &str,
        data: &impl Serialize,
        cas: u64,
        action: &str,
        secrets: &[&str],
    ) -> Result<Written, StoreError> {
        #[derive(Serialize)]
        struct Request<'a, T> {
            options: Options,
            data: &'a T,
        }
        #[derive(Serialize)]
        struct Options {
            cas: u64,
        }
        let path = self.data_path(rel);
        let body = to_json(
            &Request {
                options: Options { cas },
                data,
            },
            &path,
        )?;
        let reply = self.send(Method::POST, &path, Some(body), action).await?;
        match reply.status {
            StatusCode::OK => {
                let written: Envelope<KvWritten> =
                    serde_json::from_slice(&reply.body).map_err(|error| {
                        self.unexpected_reply(action, &path, &json_error_reason(&error))
                    })?;
                match written.data.and_then(|data| data.version) {
                    Some(version) => Ok(Written::Version(version)),
                    None => Err(self.not_kv2(action, &path)),
                }
            }
            // A KV version 1 mount accepts the write without a version.
            StatusCode::NO_CONTENT => Err(self.not_kv2(action, &path)),
            StatusCode::BAD_REQUEST
                if server_errors(&reply.body)
                    .iter()
                    .any(|error| error.contains("check-and-set parameter did not match")) =>
            {
                Ok(Written::Mismatch)
            }
            _ => Err(self.api_error(action, &path, &reply, secrets)),
        }
    }

    /// Compare-and-set write of `data` at `<prefix>/<rel>` where the
    /// caller expects version `expected` (`None`: no live entry); the new
    /// version, or [`StoreError::Conflict`] naming the version found.
    ///
    /// An entry whose latest version someone else deleted or destroyed is
    /// never written over (the error of [`Inner::deleted_elsewhere`]):
    /// neither by a create, which would otherwise take it for absent, nor
    /// by an update against the version it had, which is why an update
    /// reads the entry first. (Vault's check-and-set compares version
    /// numbers only; a delete in the moment between that read and the
    /// write is not seen, and then the deleted version stays in the KV
    /// history, recoverable.)
    async fn put(
        &self,
        rel: &str,
        data: &impl Serialize,
        expected: Option<&Version>,
        what: impl Fn() -> String,
        action: &str,
        secrets: &[&str],
    ) -> Result<u64, StoreError> {
        let conflict = |found: &Entry| StoreError::Conflict {
            what: what(),
            expected: expected.cloned(),
            found: match found {
                Entry::Present { version, .. } => Some(kv_version(rel, *version)),
                Entry::Absent { .. } => None,
            },
        };
        let Some(expected) = expected else {
            // Create: check-and-set against "does not exist" (0) or the
            // version of graphform's tombstone found in its place.
            let mut cas = 0;
            for _ in 0..CAS_ROUNDS {
                match self.write_entry(rel, data, cas, action, secrets).await? {
                    Written::Version(version) => return Ok(version),
                    Written::Mismatch => match self.read_entry(rel, action).await? {
                        found @ Entry::Present { .. } => return Err(conflict(&found)),
                        Entry::Absent {
                            version: Some(version),
                        } => cas = version,
                        // Vault did not say which version is there: ask the
                        // key's metadata, then what that version is.
                        Entry::Absent { version: None } => {
                            let current = self.metadata_version(rel, action).await?;
                            if current == 0 {
                                cas = 0;
                                continue;
                            }
                            match self.read_version(rel, Some(current), action).await? {
                                Read::Entry(found @ Entry::Present { .. }) => {
                                    return Err(conflict(&found));
                                }
                                Read::Entry(Entry::Absent {
                                    version: Some(version),
                                }) => cas = version,
                                // Gone meanwhile: look again.
                                Read::Entry(Entry::Absent { version: None }) => cas = 0,
                                Read::DeletedElsewhere { version, destroyed } => {
                                    return Err(self.deleted_elsewhere(rel, version, destroyed));
                                }
                            }
                        }
                    },
                }
            }
            return Err(self.kept_changing(action, &what()));
        };
        let Some(cas) = parse_version(expected, rel) else {
            // Not a version this store hands out: it cannot match.
            let found = self.read_entry(rel, action).await?;
            return Err(conflict(&found));
        };
        match self.read_entry(rel, action).await? {
            Entry::Present { version, .. } if version == cas => {}
            found => return Err(conflict(&found)),
        }
        match self.write_entry(rel, data, cas, action, secrets).await? {
            Written::Version(version) => Ok(version),
            Written::Mismatch => {
                let found = self.read_entry(rel, action).await?;
                Err(conflict(&found))
            }
        }
    }

    /// The key's `current_version` from its metadata (0: no key).
    async fn metadata_version(&self, rel: &str, action: &str) -> Result<u64, StoreError> {
        #[derive(Deserialize)]
        struct Current {
            #[serde(default)]
            current_version: u64,
        }
        let path = self.kv_path("metadata", rel);
        let reply = self.send(Method::GET, &path, None, action).await?;
        match reply.status {
            StatusCode::OK => serde_json::from_slice::<Envelope<Current>>(&reply.body)
                .map(|metadata| metadata.data.map_or(0, |data| data.current_version))
                .map_err(|error| self.unexpected_reply(action, &path, &json_error_reason(&error))),
            StatusCode::NOT_FOUND if server_errors(&reply.body).is_empty() => Ok(0),
            _ => Err(self.api_error(action, &path, &reply, &[])),
        }
    }

    /// Writes `holder` as the lease, by check-and-set against the version
    /// read: over a free lease, or over a held one if `may_replace` says
    /// so (else [`StoreError::Locked`]). A lost race reads again.
    async fn claim_lease(
        &self,
        holder: &LeaseInfo,
        may_replace: impl Fn(&LeaseInfo) -> bool,
        why: &str,
        action: &str,
    ) -> Result<Lease, StoreError> {
        self.ensure_mount(action).await?;
        for _ in 0..CAS_ROUNDS {
            let cas = match self.read_lease_entry(action).await? {
                LeaseState::Missing { version } => version.unwrap_or(0),
                LeaseState::Free { version } => version,
                LeaseState::Held { version, info } => {
                    if !may_replace(&info) {
                        return Err(StoreError::Locked(info));
                    }
                    tracing::info!(
                        previous_holder = %info.holder,
                        previous_pid = info.pid,
                        previous_host = %info.host,
                        expired_at = info.expires_at,
                        "{why}"
                    );
                    version
                }
            };
            let entry = LeaseEntry {
                format: FORMAT,
                lease: Some(holder.clone()),
            };
            match self
                .write_entry(LEASE_REL, &entry, cas, action, &[])
                .await?
            {
                Written::Version(version) => {
                    tracing::debug!(
                        holder = %holder.holder,
                        pid = holder.pid,
                        host = %holder.host,
                        expires_at = holder.expires_at,
                        "lease acquired"
                    );
                    return Ok(Lease {
                        info: holder.clone(),
                        version: kv_version(LEASE_REL, version),
                    });
                }
                // Someone else changed it in between: look again.
                Written::Mismatch => {}
            }
        }
        Err(self.kept_changing(action, "the lease"))
    }

    async fn read_lease_entry(&self, action: &str) -> Result<LeaseState, StoreError> {
        Ok(match self.read_entry(LEASE_REL, action).await? {
            Entry::Absent { version } => LeaseState::Missing { version },
            Entry::Present { version, data } => {
                let what = || format!("the lease {}", self.data_path(LEASE_REL));
                match parse_entry::<LeaseEntry>(&data, what)?.lease {
                    Some(info) => LeaseState::Held { version, info },
                    None => LeaseState::Free { version },
                }
            }
        })
    }

    /// Every key under `<prefix>/tokens/` that is a valid address (deleted
    /// ones included), by a recursive LIST on the metadata.
    async fn list_token_keys(&self, action: &str) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        let mut folders = vec![String::new()];
        while !folders.is_empty() {
            let listed: Vec<(String, Vec<String>)> = stream::iter(std::mem::take(&mut folders))
                .map(|folder| async move {
                    let keys = self.list_keys(&folder, action).await?;
                    Ok::<_, StoreError>((folder, keys))
                })
                .buffered(LIST_CONCURRENCY)
                .try_collect()
                .await?;
            for (folder, keys) in listed {
                for key in keys {
                    if let Some(name) = key.strip_suffix('/') {
                        if validate_address(name).is_ok() {
                            folders.push(format!("{folder}{name}/"));
                        }
                    } else if validate_address(&key).is_ok() {
                        found.push(format!("{folder}{key}"));
                    }
                }
            }
        }
        Ok(found)
    }

    /// The keys directly under `<prefix>/tokens/<folder>` (`folder` empty or
    /// ending in `/`); names of sub-folders end in `/`.
    async fn list_keys(&self, folder: &str, action: &str) -> Result<Vec<String>, StoreError> {
        let path = self.kv_path("metadata", &format!("{TOKENS_REL}/{folder}"));
        let path = if path.ends_with('/') {
            path
        } else {
            format!("{path}/")
        };
        let reply = self
            .send(Method::GET, &format!("{path}?list=true"), None, action)
            .await?;
        match reply.status {
            StatusCode::OK => {
                let listed: Envelope<KvList> =
                    serde_json::from_slice(&reply.body).map_err(|error| {
                        self.unexpected_reply(action, &path, &json_error_reason(&error))
                    })?;
                Ok(listed.data.map(|data| data.keys).unwrap_or_default())
            }
            // Nothing there (a concurrent delete may have emptied it).
            StatusCode::NOT_FOUND if server_errors(&reply.body).is_empty() => Ok(Vec::new()),
            _ => Err(self.api_error(action, &path, &reply, &[])),
        }
    }

    /// Replaces the key's `custom_metadata` (and requires check-and-set
    /// for every later write when `cas_required`).
    async fn write_custom_metadata(
        &self,
        rel: &str,
        custom_metadata: &BTreeMap<&'static str, String>,
        cas_required: bool,
    ) -> Result<(), StoreError> {
        #[derive(Serialize)]
        struct Request<'a> {
            custom_metadata: &'a BTreeMap<&'static str, String>,
            cas_required: bool,
        }
        let path = self.kv_path("metadata", rel);
        let action = "recording custom_metadata";
        let body = to_json(
            &Request {
                custom_metadata,
                cas_required,
            },
            &path,
        )?;
        let reply = self.send(Method::POST, &path, Some(body), action).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(self.api_error(action, &path, &reply, &[]))
        }
    }

    /// After the tombstone (version `tombstone`) of a token was written:
    /// records the deletion in `custom_metadata` (`deleted: true` and the
    /// tombstone's version: how a read tells graphform's own soft-deleted
    /// tombstone from someone else's delete, so it comes first), destroys
    /// every earlier version (the values are gone for good) and
    /// soft-deletes the tombstone (so `bao kv get` says "deleted").
    async fn clean_up_deleted(
        &self,
        rel: &str,
        address: &str,
        tombstone: u64,
    ) -> Result<(), StoreError> {
        #[derive(Serialize)]
        struct Versions {
            versions: Vec<u64>,
        }
        let mirror = BTreeMap::from([
            ("address", address.to_owned()),
            ("deleted", "true".to_owned()),
            ("version", tombstone.to_string()),
            ("written_by", "graphform".to_owned()),
        ]);
        self.write_custom_metadata(rel, &mirror, true).await?;
        let action = "destroying earlier versions";
        let metadata_path = self.kv_path("metadata", rel);
        let reply = self.send(Method::GET, &metadata_path, None, action).await?;
        if !reply.status.is_success() {
            return Err(self.api_error(action, &metadata_path, &reply, &[]));
        }
        let metadata: Envelope<KeyMetadata> =
            serde_json::from_slice(&reply.body).map_err(|error| {
                self.unexpected_reply(action, &metadata_path, &json_error_reason(&error))
            })?;
        let doomed: Vec<u64> = metadata
            .data
            .map(|data| data.versions)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, state)| !state.destroyed)
            .filter_map(|(version, _)| version.parse::<u64>().ok())
            .filter(|version| *version < tombstone)
            .collect();
        if !doomed.is_empty() {
            let path = self.kv_path("destroy", rel);
            let body = to_json(&Versions { versions: doomed }, &path)?;
            let reply = self.send(Method::POST, &path, Some(body), action).await?;
            if !reply.status.is_success() {
                return Err(self.api_error(action, &path, &reply, &[]));
            }
        }
        let path = self.kv_path("delete", rel);
        let body = to_json(
            &Versions {
                versions: vec![tombstone],
            },
            &path,
        )?;
        let reply = self.send(Method::POST, &path, Some(body), action).await?;
        if !reply.status.is_success() {
            return Err(self.api_error(action, &path, &reply, &[]));
        }
        Ok(())
    }

    // --- errors -------------------------------------------------------------

    /// The error for an entry whose latest version someone else deleted
    /// (`bao kv delete`, an expired `delete_version_after`) or destroyed:
    /// graphform cannot tell what it held, so it neither reads it as
    /// absent nor writes over it. Says how to restore it or remove it on
    /// purpose.
    fn deleted_elsewhere(&self, rel: &str, version: u64, destroyed: bool) -> StoreError {
        let namespace = self
            .settings
            .namespace
            .as_ref()
            .map(|namespace| format!("-namespace={namespace} "))
            .unwrap_or_default();
        let key = format!(
            "{namespace}-mount={} {}/{rel}",
            self.settings.mount, self.settings.prefix
        );
        let remove = if rel == LEASE_REL {
            "or replace it with `graphform unlock`".to_owned()
        } else {
            format!(
                "or remove it on purpose with `bao kv metadata delete {key}` (graphform then \
                 takes it for absent)"
            )
        };
        let reason = if destroyed {
            format!(
                "its latest version {version} was destroyed (`bao kv destroy`): what it held is \
                 gone, and graphform will not take it for absent nor write over it; write back an \
                 earlier version with `bao kv rollback -version=<N> {key}` (`bao kv metadata get \
                 {key}` lists them), {remove}"
            )
        } else {
            format!(
                "its latest version {version} was deleted (`bao kv delete`, or the \
                 `delete_version_after` of the key or mount), not by graphform: graphform will \
                 not take it for absent nor write over it; restore it with `bao kv undelete \
                 -versions={version} {key}`, {remove}"
            )
        };
        StoreError::Corrupt {
            what: format!("vault entry {}", self.data_path(rel)),
            reason,
        }
    }

    fn kept_changing(&self, action: &str, what: &str) -> StoreError {
        StoreError::Io {
            operation: self.operation(action),
            source: format!(
                "{what} changed {CAS_ROUNDS} times while graphform tried to write it; is another \
                 program writing there?"
            )
            .into(),
        }
    }

    fn not_kv2(&self, action: &str, path: &str) -> StoreError {
        StoreError::Config {
            message: format!(
                "{action}: {path} at Vault {} did not answer like a KV version 2 engine",
                self.settings.address
            ),
            hint: Some(format!(
                "check that `{}` is a KV version 2 mount (`bao secrets list -detailed`)",
                self.settings.mount
            )),
        }
    }

    fn unexpected_reply(&self, action: &str, path: &str, reason: &str) -> StoreError {
        StoreError::Io {
            operation: self.operation(action),
            source: format!("unexpected reply from Vault for {path}: {reason}").into(),
        }
    }

    fn transport_error(&self, action: &str, error: &reqwest::Error) -> StoreError {
        let address = &self.settings.address;
        let chain = error_chain(error);
        let message = if has_io_kind(error, std::io::ErrorKind::ConnectionRefused) {
            format!("connection refused: is the Vault server running at {address}?")
        } else if error.is_timeout() {
            format!("no answer from Vault at {address} in time")
        } else if chain.contains("certificate") || chain.contains("Certificate") {
            let hint = if self.settings.ca_file.is_some() {
                "check that the CA file is the one that signed the server's certificate"
            } else {
                "if the server uses a private CA, give its certificate as the store's CA file"
            };
            format!("the TLS certificate of Vault at {address} is not trusted ({chain}); {hint}")
        } else if error.is_connect() {
            format!("cannot connect to Vault at {address}: {chain}")
        } else {
            format!("the request to Vault at {address} failed: {chain}")
        };
        StoreError::Io {
            operation: self.operation(action),
            source: Box::new(Transport { message }),
        }
    }

    /// The error for a reply this code does not handle itself.
    fn api_error(&self, action: &str, path: &str, reply: &Reply, secrets: &[&str]) -> StoreError {
        let address = &self.settings.address;
        let mut redacted: Vec<&str> = secrets.to_vec();
        redacted.push(self.token.expose());
        let errors = server_errors(&reply.body)
            .iter()
            .map(|error| squash(&redact(error, &redacted)))
            .collect::<Vec<_>>()
            .join("; ");
        let said = if errors.is_empty() {
            String::new()
        } else {
            format!(": {errors}")
        };
        let status = reply.status;
        let path = path.split('?').next().unwrap_or(path);
        if status.is_redirection() {
            // Not followed (see `build`), and its body is not shown: it is
            // not Vault's answer to the request.
            return StoreError::Io {
                operation: self.operation(action),
                source: Box::new(Transport {
                    message: format!(
                        "Vault at {address} answered {} for {path}: a redirect (a standby node \
                         sends clients to the active one), which graphform does not follow, as \
                         it would send the Vault token elsewhere; set the store's address to the \
                         active node, or to a load balancer that forwards requests",
                        status.as_u16()
                    ),
                }),
            };
        }
        if status == StatusCode::FORBIDDEN {
            return StoreError::Config {
                message: format!(
                    "the Vault token lacks a policy for {path}: Vault at {address} answered 403 \
                     permission denied while {action}"
                ),
                hint: Some(self.policy_hint()),
            };
        }
        if errors.contains("sealed") {
            return StoreError::Io {
                operation: self.operation(action),
                source: Box::new(Transport {
                    message: format!(
                        "the Vault server at {address} is sealed: unseal it (`bao operator \
                         unseal`) and run again"
                    ),
                }),
            };
        }
        if status == StatusCode::NOT_FOUND && errors.contains("no handler for route") {
            return StoreError::Config {
                message: format!(
                    "there is no KV mount `{}` at Vault {address}{} (no handler for route {path})",
                    self.settings.mount,
                    self.namespace_text()
                ),
                hint: Some(format!(
                    "enable a KV version 2 engine there (`bao secrets enable -path={} kv-v2`) or \
                     set `store.mount` to an existing one",
                    self.settings.mount
                )),
            };
        }
        if status == StatusCode::NOT_FOUND && errors.contains("namespace not found") {
            return StoreError::Config {
                message: format!(
                    "Vault at {address} has no namespace `{}`",
                    self.settings.namespace.as_deref().unwrap_or("")
                ),
                hint: Some("check the store's namespace".to_owned()),
            };
        }
        StoreError::Io {
            operation: self.operation(action),
            source: Box::new(Transport {
                message: format!(
                    "Vault at {address} answered {} for {path}{said}",
                    status.as_u16()
                ),
            }),
        }
    }

    fn namespace_text(&self) -> String {
        self.settings
            .namespace
            .as_ref()
            .map(|namespace| format!(" in namespace `{namespace}`"))
            .unwrap_or_default()
    }

    fn policy_hint(&self) -> String {
        let mount = &self.settings.mount;
        let prefix = &self.settings.prefix;
        format!(
            "grant {} a policy with create, read, update on {mount}/data/{prefix}/*; read, \
             update, list on {mount}/metadata/{prefix}/*; update on {mount}/delete/{prefix}/* \
             and {mount}/destroy/{prefix}/* (docs/stores.md has it). An invalid or expired token \
             gets the same answer, and so does a mount that does not exist{}",
            self.token_source,
            self.namespace_text()
        )
    }
}

/// Puts `context` in front of what an error says was being done.
fn with_context(error: StoreError, context: &str) -> StoreError {
    match error {
        StoreError::Io { operation, source } => StoreError::Io {
            operation: format!("{context}: {operation}"),
            source,
        },
        StoreError::Config { message, hint } => StoreError::Config {
            message: format!("{context}: {message}"),
            hint,
        },
        other => other,
    }
}

/// A transport or server failure, described for people (no value in it).
#[derive(Debug)]
struct Transport {
    message: String,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Transport {}

// ---------------------------------------------------------------------------
// Vault's JSON.

/// Vault wraps every answer in `{"data": …}`.
#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct ServerErrors {
    #[serde(default)]
    errors: Vec<String>,
}

#[derive(Deserialize)]
struct KvRead {
    data: Option<Box<RawValue>>,
    metadata: Option<VersionMetadata>,
}

#[derive(Deserialize)]
struct VersionMetadata {
    version: u64,
    #[serde(default)]
    destroyed: bool,
    /// The key's `custom_metadata` (Vault 1.9 and later, and OpenBao,
    /// return it with every read).
    #[serde(default)]
    custom_metadata: Option<BTreeMap<String, String>>,
}

impl VersionMetadata {
    /// A version Vault says is deleted or destroyed: graphform's own
    /// tombstone (absent), or someone else's delete.
    fn classify_deleted(&self) -> Read {
        if self.is_graphform_tombstone() {
            Read::Entry(Entry::Absent {
                version: Some(self.version),
            })
        } else {
            Read::DeletedElsewhere {
                version: self.version,
                destroyed: self.destroyed,
            }
        }
    }

    /// Whether `custom_metadata` records that graphform deleted the token
    /// at this very version (written before the tombstone is soft-deleted).
    fn is_graphform_tombstone(&self) -> bool {
        self.custom_metadata.as_ref().is_some_and(|custom| {
            custom.get("deleted").map(String::as_str) == Some("true")
                && custom.get("version") == Some(&self.version.to_string())
        })
    }
}

#[derive(Deserialize)]
struct KvWritten {
    version: Option<u64>,
}

#[derive(Deserialize)]
struct KvList {
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct KeyMetadata {
    #[serde(default)]
    versions: BTreeMap<String, VersionState>,
}

#[derive(Deserialize)]
struct VersionState {
    #[serde(default)]
    destroyed: bool,
}

#[derive(Deserialize)]
struct MountInfo {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    options: Option<BTreeMap<String, String>>,
}

/// The `errors` of a Vault error reply (empty when there are none or the
/// body is not one).
fn server_errors(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<ServerErrors>(body)
        .map(|errors| errors.errors)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Graphform's entries.

/// A token entry's data, as written.
#[derive(Serialize)]
struct TokenEntryOut<'a> {
    format: u32,
    #[serde(flatten)]
    record: record::FlatOut<'a>,
}

/// A token entry's data.
pub(crate) fn token_entry(record: &TokenRecord) -> impl Serialize + '_ {
    TokenEntryOut {
        format: FORMAT,
        record: record.into(),
    }
}

/// What a deleted token's entry holds.
#[derive(Serialize)]
struct Tombstone {
    format: u32,
    deleted: bool,
}

#[derive(Serialize)]
struct StateEntryOut<'a> {
    format: u32,
    /// The document as text, so that it reads back byte for byte.
    document: &'a str,
}

#[derive(Deserialize)]
struct StateEntryIn {
    document: String,
}

#[derive(Serialize, Deserialize)]
struct LeaseEntry {
    format: u32,
    /// `None`: released or broken.
    lease: Option<LeaseInfo>,
}

impl LeaseEntry {
    const FREE: Self = Self {
        format: FORMAT,
        lease: None,
    };
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
    #[serde(default)]
    deleted: bool,
}

fn is_tombstone(data: &RawValue) -> bool {
    serde_json::from_str::<FormatOnly>(data.get()).is_ok_and(|entry| entry.deleted)
}

/// Parses an entry's data after checking its format.
fn parse_entry<T: DeserializeOwned>(
    data: &RawValue,
    what: impl Fn() -> String,
) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        what: what(),
        reason,
    };
    let format = serde_json::from_str::<FormatOnly>(data.get())
        .map_err(|error| corrupt(json_error_reason(&error)))?
        .format;
    if format != FORMAT {
        return Err(corrupt(format!(
            "it has format {format}, this graphform reads format {FORMAT} (written by a newer \
             graphform?)"
        )));
    }
    serde_json::from_str(data.get()).map_err(|error| corrupt(json_error_reason(&error)))
}

fn parse_token_entry(
    data: &RawValue,
    address: &str,
    path: &str,
) -> Result<TokenRecord, StoreError> {
    let what = || format!("token {address} ({path})");
    let record = parse_entry::<record::FlatIn>(data, what)?.into_record();
    validate_record(address, &record).map_err(|error| match error {
        StoreError::Invalid { reason, .. } => StoreError::Corrupt {
            what: what(),
            reason,
        },
        other => other,
    })?;
    Ok(record)
}

/// The operators' view of a token in `custom_metadata`: strings only, each
/// at most 512 bytes, no value (fingerprints only).
fn custom_metadata_for(
    address: &str,
    version: u64,
    record: &TokenRecord,
) -> BTreeMap<&'static str, String> {
    let metadata = &record.current.metadata;
    let mut mirror = BTreeMap::from([
        ("address", address.to_owned()),
        ("version", version.to_string()),
        ("written_by", "graphform".to_owned()),
        ("fingerprint", metadata.fingerprint.to_string()),
        ("app_id", metadata.app_id.clone()),
        ("system_user_id", metadata.system_user_id.clone()),
        ("scopes", join_limited(&metadata.scopes)),
        (
            "expiry",
            match metadata.expiry {
                crate::ExpiryMode::SixtyDays => "60d".to_owned(),
                crate::ExpiryMode::Never => "never".to_owned(),
            },
        ),
        ("issued_at", rfc3339(metadata.issued_at)),
        (
            "expires_at",
            metadata
                .expires_at
                .map_or_else(|| "never".to_owned(), rfc3339),
        ),
    ]);
    if let Some(issued_by) = &metadata.issued_by {
        mirror.insert("issued_by", issued_by.clone());
    }
    if let Some(previous) = &record.previous {
        mirror.insert(
            "previous_fingerprint",
            previous.token.metadata.fingerprint.to_string(),
        );
        mirror.insert("previous_revoke_after", rfc3339(previous.revoke_after));
    }
    // Vault refuses empty values and values over 512 bytes.
    mirror.retain(|_, value| !value.is_empty());
    for value in mirror.values_mut() {
        truncate_to(value, CUSTOM_METADATA_VALUE_MAX);
    }
    mirror
}

/// Scopes joined by `,`, cut at a scope boundary to fit a `custom_metadata`
/// value, saying how many were left out.
fn join_limited(scopes: &std::collections::BTreeSet<String>) -> String {
    let all = scopes
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",");
    if all.len() <= CUSTOM_METADATA_VALUE_MAX {
        return all;
    }
    let mut joined = String::new();
    for (index, scope) in scopes.iter().enumerate() {
        let separator = if index == 0 { "" } else { "," };
        let tail = format!("{separator}…(+{} more)", scopes.len() - index);
        if joined.len() + separator.len() + scope.len() + tail.len() > CUSTOM_METADATA_VALUE_MAX {
            joined.push_str(&tail);
            break;
        }
        joined.push_str(separator);
        joined.push_str(scope);
    }
    joined
}

/// Cuts `text` to at most `max` bytes at a character boundary.
fn truncate_to(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// `2026-01-01T00:00:00Z` for a Unix time (proleptic Gregorian, UTC).
fn rfc3339(time: UnixTime) -> String {
    crate::format_utc(time, "%Y-%m-%dT%H:%M:%SZ")
}

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

fn token_from_var(
    name: &str,
    value: Result<String, std::env::VarError>,
) -> Result<Secret, StoreError> {
    let source = TokenSource::Env(name.to_owned());
    match value {
        Ok(value) => {
            let token = Secret::new(value.trim());
            drop(Zeroizing::new(value));
            check_token(&token, &source)?;
            Ok(token)
        }
        Err(std::env::VarError::NotPresent) => Err(StoreError::Config {
            message: format!("the Vault token is missing: `{name}` is not set"),
            hint: Some(format!(
                "set `{name}` to a Vault token whose policy allows graphform's paths \
                 (docs/stores.md), or name another variable in `store.token_env`"
            )),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(malformed_token(&source)),
    }
}

fn check_token(token: &Secret, source: &TokenSource) -> Result<(), StoreError> {
    if token.expose().is_empty() {
        return Err(StoreError::Config {
            message: format!("{source} is empty"),
            hint: Some("set it to a Vault token (e.g. `hvs.…` or `s.…`)".to_owned()),
        });
    }
    if HeaderValue::from_str(token.expose()).is_err()
        || token.expose().chars().any(char::is_whitespace)
    {
        return Err(malformed_token(source));
    }
    Ok(())
}

fn malformed_token(source: &TokenSource) -> StoreError {
    StoreError::Config {
        message: format!("{source} is not a Vault token: it has characters a token cannot have"),
        hint: Some("set it to the token alone, on one line".to_owned()),
    }
}

/// Checks and normalizes the settings: an `http(s)` address without
/// credentials, query or fragment; mount, prefix and namespace made of
/// `[A-Za-z0-9_.-]` segments joined by `/`, surrounding `/` removed.
fn normalize_settings(settings: VaultSettings) -> Result<VaultSettings, StoreError> {
    let config = |message: String, hint: &str| StoreError::Config {
        message,
        hint: Some(hint.to_owned()),
    };
    let address = settings.address.trim().to_owned();
    let url = reqwest::Url::parse(&address).map_err(|error| {
        config(
            format!("the Vault address is not a URL ({error})"),
            "write it like `https://vault.example.com:8200`",
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not quoted: it holds credentials.
        return Err(config(
            "the Vault address has credentials in it".to_owned(),
            "remove them: graphform authenticates with the Vault token only",
        ));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config(
            format!("the Vault address {address} is not an http or https URL"),
            "write it like `https://vault.example.com:8200`",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config(
            format!("the Vault address {address} has a query or fragment"),
            "write it like `https://vault.example.com:8200`",
        ));
    }
    let mount = kv_segments("mount", &settings.mount, false)?;
    let prefix = kv_segments("prefix", &settings.prefix, false)?;
    let namespace = settings
        .namespace
        .map(|namespace| kv_segments("namespace", &namespace, true))
        .transpose()?
        .filter(|namespace| !namespace.is_empty());
    Ok(VaultSettings {
        address,
        mount,
        prefix,
        namespace,
        ca_file: settings.ca_file,
    })
}

fn kv_segments(what: &str, value: &str, allow_empty: bool) -> Result<String, StoreError> {
    let trimmed = value.trim().trim_matches('/');
    if trimmed.is_empty() {
        return if allow_empty {
            Ok(String::new())
        } else {
            Err(StoreError::Config {
                message: format!("the Vault store's {what} is empty"),
                hint: Some(format!("set `store.{what}`, e.g. `graphform`")),
            })
        };
    }
    let good_segment = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if trimmed.split('/').all(good_segment) {
        Ok(trimmed.to_owned())
    } else {
        Err(StoreError::Config {
            message: format!("the Vault store's {what} {value:?} is not a KV path"),
            hint: Some(
                "use segments of letters, digits, `_`, `-` and `.` joined by `/`".to_owned(),
            ),
        })
    }
}

fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, StoreError> {
    let config = |message: String| StoreError::Config {
        message,
        hint: Some("point the store's CA file at a PEM file of CA certificates".to_owned()),
    };
    let pem = std::fs::read(path).map_err(|error| {
        config(format!(
            "cannot read the Vault CA file {}: {error}",
            path.display()
        ))
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
        config(format!(
            "the Vault CA file {} is not PEM: {}",
            path.display(),
            error_chain(&error)
        ))
    })?;
    if certificates.is_empty() {
        return Err(config(format!(
            "the Vault CA file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_772_409_600), "2026-03-02T00:00:00Z");
        assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn versions_are_canonical_positive_integers() {
        let version = kv_version("tokens/a/b", 7);
        assert_eq!(version.0, "tokens/a/b@7");
        assert_eq!(parse_version(&version, "tokens/a/b"), Some(7));
        assert_eq!(parse_version(&version, "tokens/a"), None, "another entry's");
        for bad in [
            "0",
            "7",
            "@7",
            "tokens/a/b@0",
            "tokens/a/b@07",
            "tokens/a/b@-1",
            "tokens/a/b@",
            "tokens/a/b@x",
            "tokens/a/b@1.0",
            "tokens/a/b@ 1",
        ] {
            assert_eq!(
                parse_version(&Version(bad.to_owned()), "tokens/a/b"),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn settings_are_checked_and_normalized() {
        let settings = VaultSettings {
            mount: "/kv/teams/".to_owned(),
            prefix: "graphform/prod/".to_owned(),
            namespace: Some("/".to_owned()),
            ..VaultSettings::new("https://vault.example.com:8200/")
        };
        let normalized = normalize_settings(settings).unwrap();
        assert_eq!(normalized.mount, "kv/teams");
        assert_eq!(normalized.prefix, "graphform/prod");
        assert_eq!(normalized.namespace, None);

        for (address, mount, prefix) in [
            ("vault.example.com", "secret", "graphform"),
            ("ftp://vault.example.com", "secret", "graphform"),
            ("https://vault.example.com?x=1", "secret", "graphform"),
            ("https://vault.example.com", "", "graphform"),
            ("https://vault.example.com", "secret", "a/../b"),
            ("https://vault.example.com", "secret", "a b"),
            ("https://vault.example.com", "se?cret", "graphform"),
        ] {
            let settings = VaultSettings {
                mount: mount.to_owned(),
                prefix: prefix.to_owned(),
                ..VaultSettings::new(address)
            };
            assert!(
                matches!(normalize_settings(settings), Err(StoreError::Config { .. })),
                "{address} {mount} {prefix}"
            );
        }
    }

    #[test]
    fn credentials_in_the_address_are_refused_unquoted() {
        let settings = VaultSettings::new("https://user:hunter2@vault.example.com");
        let error = normalize_settings(settings).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(shown.contains("credentials"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn tokens_from_the_environment_are_checked_without_quoting_them() {
        let missing = token_from_var("GF_VAULT", Err(std::env::VarError::NotPresent));
        match missing {
            Err(StoreError::Config {
                message,
                hint: Some(hint),
            }) => {
                assert!(message.contains("`GF_VAULT` is not set"), "{message}");
                assert!(hint.contains("store.token_env"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            token_from_var("GF_VAULT", Ok("  \n".to_owned())),
            Err(StoreError::Config { .. })
        ));
        let error = token_from_var("GF_VAULT", Ok("hvs.abc def".to_owned())).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("hvs.abc"));
        let error = token_from_var("GF_VAULT", Ok("hvs.abc\u{7}".to_owned())).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("hvs.abc"));
        let token = token_from_var("GF_VAULT", Ok("hvs.secret-token\n".to_owned())).unwrap();
        assert_eq!(token.expose(), "hvs.secret-token");
    }

    #[test]
    fn custom_metadata_fits_vault_limits_and_holds_no_value() {
        let mut record = crate::TokenRecord {
            current: crate::StoredToken {
                value: Secret::new("EAAsecretvalue"),
                metadata: crate::TokenMetadata {
                    address: "a/b".to_owned(),
                    app_id: "1".to_owned(),
                    system_user_id: String::new(),
                    scopes: (0..80).map(|index| format!("scope_{index:02}")).collect(),
                    expiry: crate::ExpiryMode::Never,
                    issued_at: 1_767_225_600,
                    expires_at: None,
                    fingerprint: Secret::new("EAAsecretvalue").fingerprint(),
                    issued_by: Some("intent-1".to_owned()),
                },
            },
            previous: None,
        };
        record.current.metadata.app_id = "9".repeat(600);
        let mirror = custom_metadata_for("a/b", 3, &record);
        assert!(
            !mirror.contains_key("system_user_id"),
            "empty values left out"
        );
        for (key, value) in &mirror {
            assert!(!value.is_empty() && value.len() <= 512, "{key}: {value}");
            assert!(!value.contains("EAAsecretvalue"), "{key}");
        }
        let scopes = &mirror["scopes"];
        assert!(scopes.starts_with("scope_00,scope_01,"), "{scopes}");
        assert!(scopes.ends_with(" more)"), "{scopes}");
        assert_eq!(mirror["expires_at"], "never");
        assert_eq!(mirror["issued_at"], "2026-01-01T00:00:00Z");
        assert_eq!(mirror["version"], "3");
    }

    #[test]
    fn join_limited_keeps_short_lists_whole() {
        let scopes = ["ads_read", "read_insights"].map(str::to_owned).into();
        assert_eq!(join_limited(&scopes), "ads_read,read_insights");
        assert_eq!(join_limited(&std::collections::BTreeSet::new()), "");
    }

    #[test]
    fn server_text_is_redacted_and_squashed() {
        let text = "1 error occurred:\n\t* bad value EAAsecret here\n\n";
        assert_eq!(
            squash(&redact(text, &["EAAsecret", "x"])),
            "1 error occurred: * bad value [redacted] here"
        );
        let long = "y".repeat(1_000);
        assert!(squash(&long).len() <= SERVER_MESSAGE_MAX + '…'.len_utf8());
    }

    #[test]
    fn only_graphform_s_own_deleted_tombstone_reads_as_absent() {
        let deleted = |custom: &str, destroyed: bool| {
            serde_json::from_str::<VersionMetadata>(&format!(
                r#"{{"version":4,"destroyed":{destroyed},"deletion_time":"2026-01-01T00:00:00Z",
                    "custom_metadata":{custom}}}"#
            ))
            .unwrap()
            .classify_deleted()
        };
        assert!(matches!(
            deleted(r#"{"deleted":"true","version":"4"}"#, false),
            Read::Entry(Entry::Absent { version: Some(4) })
        ));
        for custom in [
            "null",
            r#"{"version":"4"}"#,
            r#"{"deleted":"true","version":"3"}"#,
            r#"{"deleted":"false","version":"4"}"#,
        ] {
            assert!(
                matches!(
                    deleted(custom, false),
                    Read::DeletedElsewhere {
                        version: 4,
                        destroyed: false
                    }
                ),
                "{custom}"
            );
        }
        assert!(matches!(
            deleted("null", true),
            Read::DeletedElsewhere {
                version: 4,
                destroyed: true
            }
        ));
    }

    #[test]
    fn tombstones_are_recognized() {
        let tombstone = RawValue::from_string(r#"{"format":1,"deleted":true}"#.to_owned()).unwrap();
        assert!(is_tombstone(&tombstone));
        let live = RawValue::from_string(r#"{"format":1,"value":"x"}"#.to_owned()).unwrap();
        assert!(!is_tombstone(&live));
    }
}
