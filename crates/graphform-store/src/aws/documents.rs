//! The JSON documents each secret holds (token, previous mirror, state, lease, tombstone), as written and read.

use super::{AWS_MAX_SECRET_BYTES, FORMAT};
use crate::{
    LeaseInfo, PreviousToken, StoreError, TokenAddress, TokenRecord, Version, json_error_reason,
    record,
};
use base64::Engine;
use secrecy::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::io::Write;

// Documents.

#[derive(Deserialize)]
pub(super) struct Head {
    pub(super) format: u32,
    pub(super) kind: String,
}

/// A document about a token, as written: `token` (`body` a
/// [`record::FlatOut`]) or its `AWSPREVIOUS` mirror `previous` (`body` a
/// [`record::PreviousOut`]).
#[derive(Serialize)]
struct TokenDocOut<'a, T> {
    format: u32,
    kind: &'static str,
    address: &'a TokenAddress,
    #[serde(flatten)]
    body: T,
}

impl<'a, T: Serialize> TokenDocOut<'a, T> {
    /// The document of `kind` about `address` that holds `body`, as text
    /// (`what` it is, for an error).
    fn encode(
        kind: &'static str,
        address: &'a TokenAddress,
        body: T,
        what: &str,
    ) -> Result<Zeroizing<String>, StoreError> {
        let document = Self {
            format: FORMAT,
            kind,
            address,
            body,
        };
        to_json(&document, what)
    }
}

/// The address a token document names (its record is read as a
/// [`record::FlatIn`]).
#[derive(Deserialize)]
pub(super) struct AddressOnly {
    pub(super) address: String,
}

#[derive(Serialize)]
pub(super) struct StateDocOut<'a> {
    pub(super) format: u32,
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) document: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) gzip_base64: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct StateDocIn {
    pub(super) document: Option<Box<RawValue>>,
    pub(super) gzip_base64: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct LeaseDoc {
    pub(super) format: u32,
    pub(super) kind: String,
    pub(super) lease: LeaseInfo,
}

/// The version under `AWSCURRENT`: its ID and its document.
pub(super) struct Current {
    pub(super) id: String,
    pub(super) text: Zeroizing<String>,
}

impl Current {
    /// The document's kind; `None` when it is not one of ours.
    pub(super) fn kind(&self) -> Option<String> {
        serde_json::from_str::<Head>(&self.text)
            .ok()
            .map(|head| head.kind)
    }

    pub(super) fn is_tombstone(&self) -> bool {
        self.kind().as_deref() == Some("deleted")
    }

    /// The document as `T`, checking its format and kind.
    pub(super) fn parse<T: for<'de> Deserialize<'de>>(
        &self,
        kind: &str,
        what: &str,
    ) -> Result<T, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            what: format!("{what} (version {})", self.id),
            reason,
        };
        let head: Head = serde_json::from_str(&self.text).map_err(|error| {
            corrupt(format!(
                "not graphform's JSON: {}",
                json_error_reason(&error)
            ))
        })?;
        if head.format != FORMAT {
            return Err(corrupt(format!(
                "it has format {}, this graphform reads format {FORMAT} (written by a newer \
                 graphform?)",
                head.format
            )));
        }
        if head.kind != kind {
            return Err(corrupt(format!(
                "it holds a {:?}, not a {kind:?}",
                head.kind
            )));
        }
        serde_json::from_str(&self.text).map_err(|error| corrupt(json_error_reason(&error)))
    }
}

/// What a conflict reports as found: a tombstone is "nothing".
pub(super) fn found(current: Option<&Current>) -> Option<Version> {
    current
        .filter(|current| !current.is_tombstone())
        .map(|current| Version(current.id.clone()))
}

pub(super) fn conflict(
    what: &str,
    expected: Option<&Version>,
    found: Option<Version>,
) -> StoreError {
    StoreError::Conflict {
        what: what.to_owned(),
        expected: expected.cloned(),
        found,
    }
}

pub(super) fn too_large(what: &str, bytes: usize) -> StoreError {
    StoreError::Invalid {
        what: what.to_owned(),
        reason: format!(
            "it is {bytes} bytes as stored; a Secrets Manager secret holds at most \
             {AWS_MAX_SECRET_BYTES}"
        ),
    }
}

pub(super) fn to_json(value: &impl Serialize, what: &str) -> Result<Zeroizing<String>, StoreError> {
    serde_json::to_string(value)
        .map(Zeroizing::new)
        .map_err(|error| StoreError::Io {
            operation: format!("encoding {what}"),
            source: json_error_reason(&error).into(),
        })
}

pub(crate) fn token_document(
    address: &TokenAddress,
    record: &TokenRecord,
) -> Result<Zeroizing<String>, StoreError> {
    let body = record::FlatOut::from(record);
    TokenDocOut::encode("token", address, body, &format!("token {address}"))
}

/// The `AWSPREVIOUS` mirror of `previous`, the previous token of `address`.
pub(crate) fn previous_document(
    address: &TokenAddress,
    previous: &PreviousToken,
) -> Result<Zeroizing<String>, StoreError> {
    let body = record::PreviousOut::from(previous);
    let what = format!("the previous token of {address}");
    TokenDocOut::encode("previous", address, body, &what)
}

/// The secret's text for the state document `document` (`what` it is, for
/// messages): embedded, or packed as `gzip_base64` when it would not fit.
pub(super) fn state_document(document: &[u8], what: &str) -> Result<Zeroizing<String>, StoreError> {
    // Validated by the caller: UTF-8 JSON.
    let text = std::str::from_utf8(document).map_err(|_| StoreError::Invalid {
        what: what.to_owned(),
        reason: "it is not UTF-8".to_owned(),
    })?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|error| StoreError::Invalid {
        what: what.to_owned(),
        reason: json_error_reason(&error),
    })?;
    let plain = to_json(
        &StateDocOut {
            format: FORMAT,
            kind: "state",
            document: Some(raw),
            gzip_base64: None,
        },
        what,
    )?;
    if plain.len() <= AWS_MAX_SECRET_BYTES {
        return Ok(plain);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let compressed = encoder
        .write_all(document)
        .and_then(|()| encoder.finish())
        .map_err(|error| StoreError::Io {
            operation: format!("compressing {what}"),
            source: Box::new(error),
        })?;
    let packed = to_json(
        &StateDocOut {
            format: FORMAT,
            kind: "state",
            document: None,
            gzip_base64: Some(base64::engine::general_purpose::STANDARD.encode(compressed)),
        },
        what,
    )?;
    if packed.len() > AWS_MAX_SECRET_BYTES {
        return Err(StoreError::Invalid {
            what: what.to_owned(),
            reason: format!(
                "it is {} bytes, {} compressed and encoded; a Secrets Manager secret holds at \
                 most {AWS_MAX_SECRET_BYTES}",
                document.len(),
                packed.len()
            ),
        });
    }
    Ok(packed)
}

pub(super) fn lease_document(info: &LeaseInfo) -> Result<Zeroizing<String>, StoreError> {
    to_json(
        &LeaseDoc {
            format: FORMAT,
            kind: "lease".to_owned(),
            lease: info.clone(),
        },
        "the lease",
    )
}
