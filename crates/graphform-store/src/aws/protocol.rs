//! The compare-and-set protocol of the module docs over the Secrets
//! Manager API: reading `AWSCURRENT`, creating, replacing (a new version
//! made current by a label move), deleting, the `AWSPREVIOUS` mirror, the
//! request tokens that make retries safe, and the errors made of AWS's
//! answers.

use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::zeroize::Zeroizing;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client::{ApiError, CallError};
use super::documents::{Current, conflict, found, previous_document, too_large};
use super::{
    AWS_MAX_SECRET_BYTES, CREDENTIALS_HINT, CURRENT_STAGE, DELETED_STAGE, Inner, NAME_REUSE_WAITS,
    PENDING_STAGE, PREVIOUS_STAGE, ROUNDS, TOMBSTONE, TOMBSTONE_WAITS,
};
use crate::{StoreError, TokenAddress, TokenRecord, Version, record};

// Request tokens.

/// Randomness drawn once per store call (see the module docs).
pub(super) struct Nonce([u8; 16]);

impl Nonce {
    pub(super) fn new() -> Self {
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
pub(super) fn request_token(
    name: &str,
    replaces: Option<&str>,
    document: &str,
    nonce: &Nonce,
) -> String {
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
pub(super) struct Object<'a> {
    pub(super) name: &'a str,
    pub(super) what: &'a str,
}

/// A document to write and the values in it no message may repeat.
#[derive(Clone, Copy)]
pub(super) struct Doc<'a> {
    pub(super) text: &'a str,
    pub(super) sensitive: &'a [&'a str],
}

/// The outcome of a compare-and-set write.
pub(super) struct Written {
    /// The new current version.
    pub(super) version: String,
    /// The version it replaced (`None`: the secret was created).
    pub(super) replaced: Option<Current>,
}

impl Inner {
    /// A failed call as a [`StoreError`] naming the action, the secret and
    /// the endpoint.
    pub(super) fn error(&self, error: CallError, action: &str, name: &str) -> StoreError {
        let operation = format!(
            "secretsmanager:{action} on {name} at {}",
            self.client.endpoint()
        );
        match error {
            CallError::Transport(source) => StoreError::Io { operation, source },
            CallError::Api(error) => self.api_error(error, action, name, operation),
        }
    }

    pub(super) fn api_error(
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
    pub(super) async fn read_current(&self, name: &str) -> Result<Option<Current>, StoreError> {
        let body = json!({"SecretId": name, "VersionStage": CURRENT_STAGE});
        match self.client.call("GetSecretValue", name, &body, &[]).await {
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
    pub(super) async fn expect_current(
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
    pub(super) async fn write(
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
    pub(super) async fn create(
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
            match self
                .client
                .call("CreateSecret", name, &body, doc.sensitive)
                .await
            {
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
    pub(super) async fn await_deletion(
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
    pub(super) async fn replace(
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
        match self
            .client
            .call("PutSecretValue", name, &put, doc.sensitive)
            .await
        {
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
            .client
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
    pub(super) async fn delete_secret(&self, name: &str) -> Result<(), StoreError> {
        let body = json!({"SecretId": name, "ForceDeleteWithoutRecovery": true});
        match self.client.call("DeleteSecret", name, &body, &[]).await {
            Ok(_) => Ok(()),
            Err(CallError::Api(error)) if error.is("ResourceNotFoundException") => Ok(()),
            Err(error) => Err(self.error(error, "DeleteSecret", name)),
        }
    }

    /// A compare-and-set delete: `AWSCURRENT` moved from `expected` to a
    /// tombstone, then the secret deleted.
    pub(super) async fn delete(
        &self,
        object: Object<'_>,
        expected: &Version,
    ) -> Result<(), StoreError> {
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
    /// record itself is already written; the caller logs a failure, which
    /// the next write mends.
    pub(super) async fn mirror_previous(
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
                self.client
                    .call(
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
            .client
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

pub(super) fn kept_changing(what: &str) -> StoreError {
    StoreError::Io {
        operation: format!("writing {what}"),
        source: format!("it kept changing during {ROUNDS} attempts").into(),
    }
}
