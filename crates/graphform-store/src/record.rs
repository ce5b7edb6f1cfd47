//! The one encoding of a [`TokenRecord`] that every backend stores: the
//! current token's `value` and `metadata`, and `previous` (`value`,
//! `metadata`, `revoke_after`) or `null`.
//!
//! Each backend wraps it in its own envelope (a `format` number, and the
//! `address`, `version` or `kind` it needs) and places the current token
//! either nested (`"current": {"value": …, "metadata": …}`, the file
//! backend: [`NestedOut`], [`TokenIn`]) or flat at the top level (`"value": …,
//! "metadata": …`, vault and aws-secrets-manager: [`FlatOut`],
//! [`FlatIn`]). What reaches disk or a server is pinned byte for byte by
//! this module's tests: stores written by earlier versions must still read.

use serde::{Deserialize, Serialize};

use crate::{PreviousToken, Secret, StoredToken, Timestamp, TokenMetadata, TokenRecord};

/// A token as written: its value and metadata.
#[derive(Serialize)]
pub(crate) struct TokenOut<'a> {
    value: &'a str,
    metadata: &'a TokenMetadata,
}

impl<'a> From<&'a StoredToken> for TokenOut<'a> {
    fn from(token: &'a StoredToken) -> Self {
        Self {
            value: token.value.expose(),
            metadata: &token.metadata,
        }
    }
}

/// A previous token as written: value, metadata and `revoke_after`, all at
/// one level.
#[derive(Serialize)]
pub(crate) struct PreviousOut<'a> {
    #[serde(flatten)]
    token: TokenOut<'a>,
    revoke_after: Timestamp,
}

impl<'a> From<&'a PreviousToken> for PreviousOut<'a> {
    fn from(previous: &'a PreviousToken) -> Self {
        Self {
            token: (&previous.token).into(),
            revoke_after: previous.revoke_after,
        }
    }
}

/// A record as written: the current token, placed by `C`, and the
/// previous one. `C` is [`TokenOut`] for its fields at the top level
/// ([`FlatOut`]) or [`CurrentOut`] for them under `current`
/// ([`NestedOut`]).
#[derive(Serialize)]
pub(crate) struct RecordOut<'a, C> {
    #[serde(flatten)]
    current: C,
    previous: Option<PreviousOut<'a>>,
}

impl<'a, C: From<&'a StoredToken>> From<&'a TokenRecord> for RecordOut<'a, C> {
    fn from(record: &'a TokenRecord) -> Self {
        Self {
            current: (&record.current).into(),
            previous: record.previous.as_ref().map(PreviousOut::from),
        }
    }
}

/// The current token under `current`.
#[derive(Serialize)]
pub(crate) struct CurrentOut<'a> {
    current: TokenOut<'a>,
}

impl<'a> From<&'a StoredToken> for CurrentOut<'a> {
    fn from(token: &'a StoredToken) -> Self {
        Self {
            current: token.into(),
        }
    }
}

/// A record with the current token under `current` (the file backend).
pub(crate) type NestedOut<'a> = RecordOut<'a, CurrentOut<'a>>;

/// A record with the current token's fields at the top level (vault,
/// aws-secrets-manager); flatten it into the backend's envelope.
pub(crate) type FlatOut<'a> = RecordOut<'a, TokenOut<'a>>;

/// A token as read.
#[derive(Deserialize)]
pub(crate) struct TokenIn {
    value: String,
    /// What graphform recorded of it.
    pub(crate) metadata: TokenMetadata,
}

/// A previous token as read.
#[derive(Deserialize)]
pub(crate) struct PreviousIn {
    value: String,
    metadata: TokenMetadata,
    revoke_after: Timestamp,
}

impl TokenIn {
    /// The record of this current token and `previous`.
    pub(crate) fn into_record(self, previous: Option<PreviousIn>) -> TokenRecord {
        TokenRecord {
            current: StoredToken {
                value: Secret::new(self.value),
                metadata: self.metadata,
            },
            previous: previous.map(|previous| PreviousToken {
                token: StoredToken {
                    value: Secret::new(previous.value),
                    metadata: previous.metadata,
                },
                revoke_after: previous.revoke_after,
            }),
        }
    }
}

/// A record written by [`FlatOut`], read (other fields of the envelope are
/// ignored).
#[derive(Deserialize)]
pub(crate) struct FlatIn {
    value: String,
    metadata: TokenMetadata,
    previous: Option<PreviousIn>,
}

impl FlatIn {
    /// The record.
    pub(crate) fn into_record(self) -> TokenRecord {
        TokenIn {
            value: self.value,
            metadata: self.metadata,
        }
        .into_record(self.previous)
    }
}

#[cfg(test)]
mod tests;
