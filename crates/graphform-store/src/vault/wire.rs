//! Vault's JSON and the entries graphform writes under its prefix.

use super::{CUSTOM_METADATA_VALUE_MAX, Entry, FORMAT, Read};
use crate::{
    LeaseInfo, StoreError, TokenAddress, TokenRecord, json_error_reason, record, validate_record,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

// Vault's JSON.

/// Vault wraps every answer in `{"data": …}`.
#[derive(Deserialize)]
pub(super) struct Envelope<T> {
    pub(super) data: Option<T>,
}

#[derive(Deserialize)]
pub(super) struct ServerErrors {
    #[serde(default)]
    pub(super) errors: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct KvRead {
    pub(super) data: Option<Box<RawValue>>,
    pub(super) metadata: Option<VersionMetadata>,
}

#[derive(Deserialize)]
pub(super) struct VersionMetadata {
    pub(super) version: u64,
    #[serde(default)]
    pub(super) destroyed: bool,
    /// The key's `custom_metadata` (Vault 1.9 and later, and OpenBao,
    /// return it with every read).
    #[serde(default)]
    pub(super) custom_metadata: Option<BTreeMap<String, String>>,
}

impl VersionMetadata {
    /// A version Vault says is deleted or destroyed: graphform's own
    /// tombstone (absent), or someone else's delete.
    pub(super) fn classify_deleted(&self) -> Read {
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
    pub(super) fn is_graphform_tombstone(&self) -> bool {
        self.custom_metadata.as_ref().is_some_and(|custom| {
            custom.get("deleted").map(String::as_str) == Some("true")
                && custom.get("version") == Some(&self.version.to_string())
        })
    }
}

#[derive(Deserialize)]
pub(super) struct KvWritten {
    pub(super) version: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct KvList {
    #[serde(default)]
    pub(super) keys: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct KeyMetadata {
    #[serde(default)]
    pub(super) versions: BTreeMap<String, VersionState>,
}

#[derive(Deserialize)]
pub(super) struct VersionState {
    #[serde(default)]
    pub(super) destroyed: bool,
}

#[derive(Deserialize)]
pub(super) struct MountInfo {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) options: Option<BTreeMap<String, String>>,
}

/// The `errors` of a Vault error reply (empty when there are none or the
/// body is not one).
pub(super) fn server_errors(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<ServerErrors>(body)
        .map(|errors| errors.errors)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Graphform's entries.

/// A token entry's data, as written.
#[derive(Serialize)]
pub(super) struct TokenEntryOut<'a> {
    pub(super) format: u32,
    #[serde(flatten)]
    pub(super) record: record::FlatOut<'a>,
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
pub(super) struct Tombstone {
    pub(super) format: u32,
    pub(super) deleted: bool,
}

#[derive(Serialize)]
pub(super) struct StateEntryOut<'a> {
    pub(super) format: u32,
    /// The document as text, so that it reads back byte for byte.
    pub(super) document: &'a str,
}

#[derive(Deserialize)]
pub(super) struct StateEntryIn {
    pub(super) document: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct LeaseEntry {
    pub(super) format: u32,
    /// `None`: released or broken.
    pub(super) lease: Option<LeaseInfo>,
}

#[derive(Deserialize)]
pub(super) struct FormatOnly {
    pub(super) format: u32,
    #[serde(default)]
    pub(super) deleted: bool,
}

pub(super) fn is_tombstone(data: &RawValue) -> bool {
    serde_json::from_str::<FormatOnly>(data.get()).is_ok_and(|entry| entry.deleted)
}

/// Parses an entry's data after checking its format.
pub(super) fn parse_entry<T: DeserializeOwned>(
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

pub(super) fn parse_token_entry(
    data: &RawValue,
    address: &TokenAddress,
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
pub(super) fn custom_metadata_for(
    address: &TokenAddress,
    version: u64,
    record: &TokenRecord,
) -> BTreeMap<&'static str, String> {
    let metadata = &record.current.metadata;
    let mut mirror = BTreeMap::from([
        ("address", address.to_string()),
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
        ("issued_at", metadata.issued_at.rfc3339().to_string()),
        (
            "expires_at",
            metadata
                .expires_at
                .map_or_else(|| "never".to_owned(), |at| at.rfc3339().to_string()),
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
        mirror.insert(
            "previous_revoke_after",
            previous.revoke_after.rfc3339().to_string(),
        );
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
pub(super) fn join_limited(scopes: &std::collections::BTreeSet<String>) -> String {
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
pub(super) fn truncate_to(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

// ---------------------------------------------------------------------------
