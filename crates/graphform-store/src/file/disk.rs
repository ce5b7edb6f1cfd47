//! The store's files: the JSON documents, the token plaintext, and the helpers that read, write (atomically, durably) and check them.

use super::{FORMAT, IDENTITY_PREFIX, INIT_HINT, RECIPIENT_PREFIX};
use crate::{
    CredentialSource, LeaseInfo, StoreError, TokenAddress, TokenRecord, Version, Versioned,
    json_error_reason, record,
};
use age::x25519;
use secrecy::zeroize::Zeroizing;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::str::FromStr;

// On-disk documents.

/// `store.json`.
#[derive(Serialize, Deserialize)]
pub(super) struct StoreFile {
    pub(super) format: u32,
    pub(super) recipient: String,
}

/// Just the format number of any of the store's JSON documents, read before
/// the rest so that a newer format is reported as such.
#[derive(Deserialize)]
pub(super) struct FormatOnly {
    pub(super) format: u32,
}

/// A token file's plaintext, as written.
#[derive(Serialize)]
pub(super) struct TokenFileOut<'a> {
    pub(super) format: u32,
    pub(super) address: &'a TokenAddress,
    pub(super) version: u64,
    #[serde(flatten)]
    pub(super) record: record::NestedOut<'a>,
}

/// A token file's plaintext, as read.
#[derive(Deserialize)]
pub(super) struct TokenFileIn {
    pub(super) address: String,
    pub(super) version: u64,
    pub(super) current: record::TokenIn,
    pub(super) previous: Option<record::PreviousIn>,
}

impl TokenFileIn {
    pub(super) fn into_versioned(self) -> Versioned<TokenRecord> {
        Versioned {
            value: self.current.into_record(self.previous),
            version: version(self.version),
        }
    }
}

/// The plaintext of the token file of `address` at `version`, then
/// encrypted whole. It holds the values: it is one buffer, wiped when
/// dropped.
pub(crate) fn token_plaintext(
    address: &TokenAddress,
    version: u64,
    record: &TokenRecord,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let file = TokenFileOut {
        format: FORMAT,
        address,
        version,
        record: record.into(),
    };
    let mut plaintext = Zeroizing::new(Vec::with_capacity(1024));
    serde_json::to_writer(&mut *plaintext, &file).map_err(|error| StoreError::Io {
        operation: format!("encoding token {address}"),
        source: json_error_reason(&error).into(),
    })?;
    Ok(plaintext)
}

/// `state.json`: the engine's document embedded verbatim.
#[derive(Serialize)]
pub(super) struct StateFileOut<'a> {
    pub(super) format: u32,
    pub(super) version: u64,
    pub(super) document: &'a RawValue,
}

#[derive(Deserialize)]
pub(super) struct StateFileIn {
    pub(super) version: u64,
    pub(super) document: Box<RawValue>,
}

/// `lease.json`.
#[derive(Serialize, Deserialize)]
pub(super) struct LeaseFile {
    pub(super) format: u32,
    pub(super) version: u64,
    pub(super) lease: LeaseInfo,
}

// ---------------------------------------------------------------------------
// Helpers.

pub(super) fn version(number: u64) -> Version {
    Version(number.to_string())
}

/// Compare-and-set: `expected` must be what is there (`None`: nothing).
pub(super) fn compare(
    what: impl FnOnce() -> String,
    expected: Option<&Version>,
    found: Option<u64>,
) -> Result<(), StoreError> {
    let found = found.map(version);
    if expected == found.as_ref() {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            what: what(),
            expected: expected.cloned(),
            found,
        })
    }
}

pub(super) fn io_error(operation: String, error: io::Error) -> StoreError {
    StoreError::Io {
        operation,
        source: Box::new(error),
    }
}

pub(super) fn malformed(source: &CredentialSource, why: &str) -> StoreError {
    StoreError::Config {
        message: format!(
            "{source} is not an age identity: {why} (expected one line `{IDENTITY_PREFIX}…`)"
        ),
        hint: Some(INIT_HINT.to_owned()),
    }
}

/// The one identity line of a key: surrounding whitespace and `#` comment
/// lines (as `age-keygen` writes them) are ignored.
pub(super) fn identity_line<'a>(
    text: &'a str,
    source: &CredentialSource,
) -> Result<&'a str, StoreError> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    match (lines.next(), lines.next()) {
        (None, _) => Err(malformed(source, "it is empty")),
        (Some(_), Some(_)) => Err(malformed(source, "it has more than one line")),
        (Some(line), None) => Ok(line),
    }
}

pub(super) fn parse_identity(
    line: &str,
    source: &CredentialSource,
) -> Result<x25519::Identity, StoreError> {
    if line.starts_with(RECIPIENT_PREFIX) {
        return Err(malformed(
            source,
            "it holds a recipient (a public `age1…` key), not the secret key",
        ));
    }
    if !line.starts_with(IDENTITY_PREFIX) {
        return Err(malformed(
            source,
            &format!("it does not start with `{IDENTITY_PREFIX}`"),
        ));
    }
    // age's own error text names no part of the key, but ours says enough.
    x25519::Identity::from_str(line).map_err(|_| malformed(source, "it is not a valid X25519 key"))
}

/// Fails with [`StoreError::Corrupt`] unless `bytes` is a JSON object of
/// this code's format.
pub(super) fn check_format(bytes: &[u8], what: impl Fn() -> String) -> Result<(), StoreError> {
    let format = parse_json::<FormatOnly>(bytes, &what)?.format;
    if format == FORMAT {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            what: what(),
            reason: format!(
                "it has format {format}, this graphform reads format {FORMAT} (written by a newer \
                 graphform?)"
            ),
        })
    }
}

pub(super) fn parse_json<'de, T: Deserialize<'de>>(
    bytes: &'de [u8],
    what: impl Fn() -> String,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt {
        what: what(),
        reason: json_error_reason(&error),
    })
}

pub(super) fn to_json(value: &impl Serialize, what: &str) -> Result<Vec<u8>, StoreError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|error| StoreError::Io {
        operation: format!("encoding {what}"),
        source: json_error_reason(&error).into(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The store's JSON file at `path` (`what` it is, for messages), of this
/// code's format; `None` when there is none.
pub(super) fn read_json_file<T: DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<Option<T>, StoreError> {
    let Some(bytes) = read_optional(path)? else {
        return Ok(None);
    };
    let what = || format!("{what} {}", path.display());
    check_format(&bytes, what)?;
    parse_json(&bytes, what).map(Some)
}

pub(super) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_error(format!("reading {}", path.display()), error)),
    }
}

pub(super) fn private_open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    options.mode(0o600);
    options
}

/// Creates `dir` and its missing parents, each 0700.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder
        .create(dir)
        .map_err(|error| io_error(format!("creating {}", dir.display()), error))
}

pub(super) fn set_private_dir_permissions(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|error| {
        io_error(
            format!("setting the permissions of {}", dir.display()),
            error,
        )
    })?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Refuses a store directory other users can write to (they could replace
/// an encrypted token with one of their own: the recipient is public), and
/// warns about one they can read (token values stay encrypted, but the
/// addresses and the state document are visible). Returns the warnings.
pub(super) fn check_dir_permissions(dir: &Path) -> Result<Vec<String>, StoreError> {
    let metadata = match fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(format!("reading {}", dir.display()), error)),
    };
    if !metadata.is_dir() {
        return Err(StoreError::Config {
            message: format!("the file store {} is not a directory", dir.display()),
            hint: Some("point `store.path` at a directory (it is created if missing)".to_owned()),
        });
    }
    let mut warnings = Vec::new();
    #[cfg(unix)]
    {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(StoreError::Config {
                message: format!(
                    "the file store {} is writable by other users (mode {mode:04o})",
                    dir.display()
                ),
                hint: Some(format!(
                    "run `chmod 700 {}`: only its owner needs it",
                    dir.display()
                )),
            });
        }
        if mode & 0o044 != 0 {
            warnings.push(format!(
                "the file store {} is readable by other users (mode {mode:04o}): token values \
                 are encrypted, but token addresses and the state document are not; run \
                 `chmod 700 {}`",
                dir.display(),
                dir.display()
            ));
        }
    }
    Ok(warnings)
}

/// Replaces `dir/name` with `bytes` atomically and durably: write
/// `dir/.name.tmp` (0600), fsync it, rename it over the target, fsync the
/// directory. Called under the store lock, so the temporary name is ours;
/// one left by a crash is removed first.
pub(super) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let target = dir.join(name);
    let temp = dir.join(format!(".{name}.tmp"));
    let attempt = || -> io::Result<()> {
        match fs::remove_file(&temp) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let mut file = private_open_options()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &target)
    };
    if let Err(error) = attempt() {
        // Best effort: the next write removes it anyway.
        let _ = fs::remove_file(&temp);
        return Err(io_error(format!("writing {}", target.display()), error));
    }
    sync_dir(dir)
}

/// Makes a rename or removal in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| io_error(format!("syncing {}", dir.display()), error))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
