//! The Store implementation over the compare-and-set protocol.

use super::documents::{
    AddressOnly, LeaseDoc, StateDocIn, lease_document, state_document, token_document,
};
use super::protocol::{Doc, Nonce, Object, kept_changing};
use super::{
    AwsSecretsManagerStore, CURRENT_STAGE, DELETED_STAGE, MAX_STATE_BYTES, PENDING_STAGE, ROUNDS,
};
use crate::{
    Lease, LeaseBreak, LeaseClaim, LeaseId, LeaseInfo, StateKey, Store, StoreError, Timestamp,
    TokenAddress, TokenRecord, Version, Versioned, record, token_key, validate_record,
};
use base64::Engine;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Read;

// The Store implementation.

/// The description of the lease secret.
const LEASE_DESCRIPTION: &str = "graphform apply lease (no secret)";

impl Store for AwsSecretsManagerStore {
    fn describe(&self) -> String {
        format!(
            "aws-secrets-manager store {}/ in {} ({})",
            self.inner.prefix,
            self.inner.region,
            self.inner.client.endpoint()
        )
    }

    async fn read_token(
        &self,
        address: &TokenAddress,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        let name = self.token_secret_name(address);
        let what = format!("token {address}");
        let Some(current) = self.inner.read_current(&name).await? else {
            return Ok(None);
        };
        if current.is_tombstone() {
            return Ok(None);
        }
        let document: record::FlatIn = current.parse("token", &what)?;
        let held: AddressOnly = current.parse("token", &what)?;
        if held.address != address.to_string() {
            return Err(StoreError::Corrupt {
                what: format!("{what} (secret {name})"),
                reason: format!("it holds the record of {:?}", held.address),
            });
        }
        let record = document.into_record();
        tracing::trace!(%address, version = %current.id, "token read");
        Ok(Some(Versioned {
            value: record,
            version: Version(current.id.clone()),
        }))
    }

    async fn list_tokens(&self) -> Result<Vec<TokenAddress>, StoreError> {
        let prefix = format!("{}/tokens/", self.inner.prefix);
        let label = format!("{prefix}*");
        let mut addresses = BTreeSet::new();
        let mut next_token: Option<String> = None;
        loop {
            let mut body = json!({
                "Filters": [{"Key": "name", "Values": [prefix]}],
                "MaxResults": 100,
            });
            if let Some(token) = &next_token {
                body["NextToken"] = json!(token);
            }
            let answer = self
                .inner
                .client
                .call("ListSecrets", &label, &body, &[])
                .await
                .map_err(|error| self.inner.error(error, "ListSecrets", &label))?;
            let entries = answer
                .get("SecretList")
                .and_then(serde_json::Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for entry in entries {
                let Some((name, key)) = entry
                    .get("Name")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|name| Some((name, name.strip_prefix(&prefix)?)))
                else {
                    continue;
                };
                let address = token_key(key, || format!("the secret {name}"))?;
                if !current_is_tombstone(entry) {
                    addresses.insert(address);
                }
            }
            next_token = answer
                .get("NextToken")
                .and_then(serde_json::Value::as_str)
                .filter(|token| !token.is_empty())
                .map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        Ok(addresses.into_iter().collect())
    }

    async fn write_token(
        &self,
        address: &TokenAddress,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        validate_record(address, record)?;
        let name = self.token_secret_name(address);
        let what = format!("token {address}");
        let text = token_document(address, record)?;
        let mut sensitive = vec![record.current.value.expose()];
        if let Some(previous) = &record.previous {
            sensitive.push(previous.token.value.expose());
        }
        let description = format!(
            "graphform token {address}: JSON, the token is `.value` (AWSCURRENT); the replaced \
             one, until revoked, is `.value` of AWSPREVIOUS"
        );
        let nonce = Nonce::new();
        let object = Object {
            name: &name,
            what: &what,
        };
        let doc = Doc {
            text: &text,
            sensitive: &sensitive,
        };
        let written = self
            .inner
            .write(object, doc, expected, &description, &nonce)
            .await?;
        if let Err(error) = self
            .inner
            .mirror_previous(&name, address, record, &written, &nonce)
            .await
        {
            tracing::warn!(
                secret = name,
                "AWSPREVIOUS of {name} was not updated (the next write will): {error}"
            );
        }
        tracing::debug!(
            %address,
            version = %written.version,
            fingerprint = %record.current.metadata.fingerprint,
            previous = ?record.previous.as_ref().map(|previous| &previous.token.metadata.fingerprint),
            "token written"
        );
        Ok(Version(written.version))
    }

    async fn delete_token(
        &self,
        address: &TokenAddress,
        expected: &Version,
    ) -> Result<(), StoreError> {
        let name = self.token_secret_name(address);
        let what = format!("token {address}");
        self.inner
            .delete(
                Object {
                    name: &name,
                    what: &what,
                },
                expected,
            )
            .await?;
        tracing::debug!(%address, version = %expected, "token deleted");
        Ok(())
    }

    state_document_methods!();

    /// Creates the lease secret for the claim's holder, or replaces the
    /// lease held if the claim may (else [`StoreError::Locked`]) with the
    /// label move of the module docs. A lost race reads again.
    async fn claim_lease(&self, claim: &LeaseClaim) -> Result<Lease, StoreError> {
        let name = self.lease_secret_name();
        let what = "the lease";
        let object = Object { name: &name, what };
        let text = lease_document(claim.holder())?;
        let doc = Doc {
            text: &text,
            sensitive: &[],
        };
        let nonce = Nonce::new();
        for _ in 0..ROUNDS {
            let written = match self
                .inner
                .create(object, doc, LEASE_DESCRIPTION, &nonce)
                .await
            {
                Err(StoreError::Conflict { .. }) => {
                    let Some(current) = self.inner.read_current(&name).await? else {
                        continue;
                    };
                    if current.is_tombstone() {
                        continue;
                    }
                    let held: LeaseDoc =
                        current.parse("lease", what).map_err(|error| match error {
                            StoreError::Corrupt { what, reason } => StoreError::Corrupt {
                                what,
                                reason: format!(
                                    "{reason}; `graphform unlock ANY-ID` removes it (a damaged lease has no ID: any one does)"
                                ),
                            },
                            other => other,
                        })?;
                    claim.replace(&held.lease)?;
                    let expected = Version(current.id.clone());
                    self.inner
                        .replace(object, current, doc, Some(&expected), PENDING_STAGE, &nonce)
                        .await
                }
                created => created,
            };
            match written {
                Ok(written) => return Ok(claim.won(Version(written.version))),
                // Someone else was quicker: look again.
                Err(StoreError::Conflict { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Err(kept_changing(what))
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: Timestamp) -> Result<Lease, StoreError> {
        let name = self.lease_secret_name();
        let info = LeaseInfo {
            expires_at,
            ..lease.info.clone()
        };
        let text = lease_document(&info)?;
        match self
            .inner
            .write(
                Object {
                    name: &name,
                    what: "the lease",
                },
                Doc {
                    text: &text,
                    sensitive: &[],
                },
                Some(&lease.version),
                LEASE_DESCRIPTION,
                &Nonce::new(),
            )
            .await
        {
            Ok(written) => {
                tracing::debug!(holder = %info.holder, expires_at = expires_at.unix(), "lease renewed");
                Ok(Lease {
                    info,
                    version: Version(written.version),
                })
            }
            Err(StoreError::Conflict { .. }) => Err(StoreError::LeaseLost),
            Err(error) => Err(error),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let name = self.lease_secret_name();
        let object = Object {
            name: &name,
            what: "the lease",
        };
        match self.inner.delete(object, &lease.version).await {
            Ok(()) => {
                tracing::debug!(holder = %lease.info.holder, "lease released");
                Ok(())
            }
            // Already gone, or someone else's now: leave it alone.
            Err(StoreError::Conflict { .. }) => {
                tracing::debug!(holder = %lease.info.holder, "lease already gone at release");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        let name = self.lease_secret_name();
        match self.inner.read_current(&name).await? {
            Some(current) if !current.is_tombstone() => {
                Ok(Some(current.parse::<LeaseDoc>("lease", "the lease")?.lease))
            }
            _ => Ok(None),
        }
    }

    async fn break_lease(&self, id: &LeaseId) -> Result<LeaseBreak, StoreError> {
        let name = self.lease_secret_name();
        let object = Object {
            name: &name,
            what: "the lease",
        };
        // Read, compare the ID, then delete compare-and-set against the
        // version read (the tombstone's label move fails if the lease
        // changed): a renewal in between (same ID) is read again, a new
        // holder (another ID) is left alone.
        for _ in 0..ROUNDS {
            let Some(current) = self.inner.read_current(&name).await? else {
                return Ok(LeaseBreak::NotHeld);
            };
            if current.is_tombstone() {
                // A delete that did not finish: no lease. Left alone: it
                // has no ID to compare, and a delete by name could remove
                // a lease created once the releaser's delete finishes.
                // The next claim writes over it (`Inner::create`).
                return Ok(LeaseBreak::NotHeld);
            }
            let outcome = match current.parse::<LeaseDoc>("lease", "the lease") {
                Ok(document) if document.lease.id != *id => {
                    return Ok(LeaseBreak::OtherHolder(document.lease));
                }
                Ok(document) => LeaseBreak::Broken(document.lease),
                // `graphform unlock` is how a user gets out of a damaged
                // lease, so remove it; there is no holder to report.
                Err(StoreError::Corrupt { what, reason }) => {
                    tracing::warn!("removing {what}, which is unreadable: {reason}");
                    LeaseBreak::Damaged
                }
                Err(error) => return Err(error),
            };
            match self
                .inner
                .delete(object, &Version(current.id.clone()))
                .await
            {
                Ok(()) => return Ok(outcome.logged()),
                // Changed since it was read: look again.
                Err(StoreError::Conflict { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Err(kept_changing("the lease"))
    }
}

impl AwsSecretsManagerStore {
    /// [`Store::read_state`] and [`Store::read_system_user_state`]: the
    /// secret of the state document `key`.
    async fn read_state_document(
        &self,
        key: &StateKey,
    ) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        let name = self.state_name(key);
        let what = key.to_string();
        let Some(current) = self.inner.read_current(&name).await? else {
            return Ok(None);
        };
        if current.is_tombstone() {
            return Ok(None);
        }
        let document: StateDocIn = current.parse("state", &what)?;
        let bytes = match (document.document, document.gzip_base64) {
            (Some(document), _) => document.get().as_bytes().to_vec(),
            (None, Some(packed)) => {
                unpack_state(&packed, &format!("{what} (version {})", current.id))?
            }
            (None, None) => {
                return Err(StoreError::Corrupt {
                    what: format!("{what} (version {})", current.id),
                    reason: "it has neither `document` nor `gzip_base64`".to_owned(),
                });
            }
        };
        Ok(Some(Versioned {
            value: bytes,
            version: Version(current.id.clone()),
        }))
    }

    /// [`Store::write_state`] and [`Store::write_system_user_state`] of a
    /// checked document: a
    /// compare-and-set write of the secret of the state document `key`.
    async fn write_state_document(
        &self,
        key: &StateKey,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        let name = self.state_name(key);
        let what = key.to_string();
        let text = state_document(document, &what)?;
        let description = match key {
            StateKey::Root => "graphform state document (no secret)".to_owned(),
            StateKey::SystemUser(user) => {
                format!("graphform state document of system user {user} (no secret)")
            }
        };
        let written = self
            .inner
            .write(
                Object {
                    name: &name,
                    what: &what,
                },
                Doc {
                    text: &text,
                    sensitive: &[],
                },
                expected,
                &description,
                &Nonce::new(),
            )
            .await?;
        tracing::debug!(state = %key, version = %written.version, bytes = document.len(), "state document written");
        Ok(Version(written.version))
    }
}

/// Whether a `ListSecrets` entry's current version is a tombstone.
pub(super) fn current_is_tombstone(entry: &serde_json::Value) -> bool {
    entry
        .get("SecretVersionsToStages")
        .and_then(serde_json::Value::as_object)
        .is_some_and(|versions| {
            versions.values().any(|stages| {
                let has = |label: &str| {
                    stages
                        .as_array()
                        .is_some_and(|stages| stages.iter().any(|stage| stage == label))
                };
                has(CURRENT_STAGE) && has(DELETED_STAGE)
            })
        })
}

/// The state document packed as `gzip_base64` in the secret `what`.
pub(super) fn unpack_state(packed: &str, what: &str) -> Result<Vec<u8>, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        what: what.to_owned(),
        reason,
    };
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .map_err(|_| corrupt("`gzip_base64` is not base64".to_owned()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| corrupt("`gzip_base64` is not gzip".to_owned()))?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(corrupt(format!(
            "it unpacks to more than {MAX_STATE_BYTES} bytes"
        )));
    }
    Ok(bytes)
}
