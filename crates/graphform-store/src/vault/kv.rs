//! Talking to the server: KV v2 reads, check-and-set writes, listings and metadata, and the errors made of its answers.

use super::settings::malformed_token;
use super::wire::{
    Envelope, KeyMetadata, KvList, KvRead, KvWritten, LeaseEntry, MountInfo, is_tombstone,
    parse_entry, server_errors,
};
use super::{CAS_ROUNDS, FORMAT, Inner, LIST_CONCURRENCY, kv_version, parse_version, to_json};
use crate::{
    Lease, LeaseClaim, LeaseInfo, StateKey, StoreError, TokenAddress, Version, json_error_reason,
    token_key,
};
use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use graphform_types::address::is_name;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::zeroize::Zeroizing;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

// Talking to the server.

const STATE_REL: &str = "state";
pub(super) const LEASE_REL: &str = "lease";
pub(super) const TOKENS_REL: &str = "tokens";

/// `tokens/<key>`: where the token `key` (an address, or a key found
/// there) is under the prefix.
pub(super) fn token_rel(key: &impl std::fmt::Display) -> String {
    format!("{TOKENS_REL}/{key}")
}

/// Where the state document `key` is under the prefix: `state` for the
/// root one, `state/<business>/<system-user>` for a system user's (a KV v2
/// key may be a folder of other keys as well; listing tokens looks under
/// `tokens/` only).
pub(super) fn state_rel(key: &StateKey) -> String {
    match key {
        StateKey::Root => STATE_REL.to_owned(),
        StateKey::SystemUser(user) => format!("{STATE_REL}/{user}"),
    }
}

/// What a KV v2 data read found.
pub(super) enum Entry {
    /// No entry: never written (`version: None`), or its current version
    /// is graphform's tombstone, live or soft-deleted (`version: Some`, the
    /// version to check-and-set against to write it again).
    Absent { version: Option<u64> },
    /// A live entry: its version and its data (the KV `data` object).
    Present { version: u64, data: Box<RawValue> },
}

/// What a KV v2 data read found, before a delete by someone else is
/// turned into an error.
pub(super) enum Read {
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
pub(super) enum Written {
    Version(u64),
    /// The entry's version was not the one given.
    Mismatch,
}

/// The lease entry, interpreted.
pub(super) enum LeaseState {
    Missing { version: Option<u64> },
    Free { version: u64 },
    Held { version: u64, info: LeaseInfo },
}

/// A server reply. Its body may hold token values: it is wiped when
/// dropped.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Zeroizing<Vec<u8>>,
}

impl Inner {
    pub(super) fn describe(&self) -> String {
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
    pub(super) fn data_path(&self, rel: &str) -> String {
        self.kv_path("data", rel)
    }

    pub(super) fn kv_path(&self, kind: &str, rel: &str) -> String {
        format!(
            "{}/{kind}/{}/{rel}",
            self.settings.mount, self.settings.prefix
        )
    }

    pub(super) fn operation(&self, action: &str) -> String {
        format!("{action} in {}", self.describe())
    }

    /// Sends one request to `/v1/<path>` (a query string may follow).
    pub(super) async fn send(
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

    /// The `data` of a reply from `path` (Vault wraps every answer in
    /// `{"data": …}`); a body that is not that is an unexpected reply.
    pub(super) fn reply_data<T: DeserializeOwned>(
        &self,
        reply: &Reply,
        action: &str,
        path: &str,
    ) -> Result<Option<T>, StoreError> {
        serde_json::from_slice::<Envelope<T>>(&reply.body)
            .map(|envelope| envelope.data)
            .map_err(|error| self.unexpected_reply(action, path, &json_error_reason(&error)))
    }

    /// Checks once per store that the mount is a KV version 2 engine, so
    /// that nothing is written into a version 1 mount (which would accept
    /// the writes under other keys). A token that may not look (403) is let
    /// through: the real request then says what is wrong.
    pub(super) async fn ensure_mount(&self, action: &str) -> Result<(), StoreError> {
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
                let Some(mount) = self.reply_data::<MountInfo>(&reply, action, &path)? else {
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
    pub(super) async fn read_entry(&self, rel: &str, action: &str) -> Result<Entry, StoreError> {
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
    pub(super) async fn read_version(
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
                let Some(KvRead {
                    data,
                    metadata: Some(metadata),
                }) = self.reply_data(&reply, action, &path)?
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
    pub(super) async fn write_entry(
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
                let written = self.reply_data::<KvWritten>(&reply, action, &path)?;
                match written.and_then(|data| data.version) {
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
    pub(super) async fn put(
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
    pub(super) async fn metadata_version(
        &self,
        rel: &str,
        action: &str,
    ) -> Result<u64, StoreError> {
        #[derive(Deserialize)]
        struct Current {
            #[serde(default)]
            current_version: u64,
        }
        let path = self.kv_path("metadata", rel);
        let reply = self.send(Method::GET, &path, None, action).await?;
        match reply.status {
            StatusCode::OK => Ok(self
                .reply_data::<Current>(&reply, action, &path)?
                .map_or(0, |data| data.current_version)),
            StatusCode::NOT_FOUND if server_errors(&reply.body).is_empty() => Ok(0),
            _ => Err(self.api_error(action, &path, &reply, &[])),
        }
    }

    /// Writes the claim's holder as the lease, by check-and-set against the
    /// version read: over a free lease, or over a held one if the claim may
    /// replace it (else [`StoreError::Locked`]). A lost race reads again.
    pub(super) async fn claim_lease(&self, claim: &LeaseClaim) -> Result<Lease, StoreError> {
        let action = claim.action();
        self.ensure_mount(action).await?;
        for _ in 0..CAS_ROUNDS {
            let cas = match self.read_lease_entry(action).await? {
                LeaseState::Missing { version } => version.unwrap_or(0),
                LeaseState::Free { version } => version,
                LeaseState::Held { version, info } => {
                    claim.replace(&info)?;
                    version
                }
            };
            match self.write_lease(Some(claim.holder()), cas, action).await? {
                Written::Version(version) => {
                    return Ok(claim.won(kv_version(LEASE_REL, version)));
                }
                // Someone else changed it in between: look again.
                Written::Mismatch => {}
            }
        }
        Err(self.kept_changing(action, "the lease"))
    }

    /// Writes the lease entry: `lease` held, or free (`None`), by
    /// check-and-set against KV version `cas`.
    pub(super) async fn write_lease(
        &self,
        lease: Option<&LeaseInfo>,
        cas: u64,
        action: &str,
    ) -> Result<Written, StoreError> {
        let entry = LeaseEntry {
            format: FORMAT,
            lease: lease.cloned(),
        };
        self.write_entry(LEASE_REL, &entry, cas, action, &[]).await
    }

    pub(super) async fn read_lease_entry(&self, action: &str) -> Result<LeaseState, StoreError> {
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

    /// The address of every key under `<prefix>/tokens/` (deleted ones
    /// included), by a recursive LIST on the metadata. A key (or a folder)
    /// that is not (part of) a token address is
    /// [`StoreError::ForeignEntry`].
    pub(super) async fn list_token_keys(
        &self,
        action: &str,
    ) -> Result<Vec<TokenAddress>, StoreError> {
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
                    match key.strip_suffix('/') {
                        Some(name) if is_name(name) => folders.push(format!("{folder}{key}")),
                        // A folder no address can lie in: its key fails.
                        _ => {
                            let key = format!("{folder}{}", key.trim_end_matches('/'));
                            let location = || self.data_path(&token_rel(&key));
                            found.push(token_key(&key, location)?);
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// The keys directly under `<prefix>/tokens/<folder>` (`folder` empty or
    /// ending in `/`); names of sub-folders end in `/`.
    pub(super) async fn list_keys(
        &self,
        folder: &str,
        action: &str,
    ) -> Result<Vec<String>, StoreError> {
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
                let listed = self.reply_data::<KvList>(&reply, action, &path)?;
                Ok(listed.map(|data| data.keys).unwrap_or_default())
            }
            // Nothing there (a concurrent delete may have emptied it).
            StatusCode::NOT_FOUND if server_errors(&reply.body).is_empty() => Ok(Vec::new()),
            _ => Err(self.api_error(action, &path, &reply, &[])),
        }
    }

    /// Replaces the key's `custom_metadata` (and requires check-and-set
    /// for every later write when `cas_required`).
    pub(super) async fn write_custom_metadata(
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
    pub(super) async fn clean_up_deleted(
        &self,
        rel: &str,
        address: &TokenAddress,
        tombstone: u64,
    ) -> Result<(), StoreError> {
        #[derive(Serialize)]
        struct Versions {
            versions: Vec<u64>,
        }
        let mirror = BTreeMap::from([
            ("address", address.to_string()),
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
        let doomed: Vec<u64> = self
            .reply_data::<KeyMetadata>(&reply, action, &metadata_path)?
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
}
