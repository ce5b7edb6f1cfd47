//! Re-encrypting the file store under a new key (`graphform store rekey`),
//! atomically: at every instant the store directory holds a complete store
//! under exactly one key, the old or the new.
//!
//! How: under the store lock, and only while the caller holds the apply
//! lease, the whole store is rebuilt beside itself in a staging directory
//! `.<name>.rekey` (token files decrypted with the old identity and
//! encrypted to the new recipient, `store.json` naming the new recipient,
//! every other file copied as is), every file and directory fsynced and
//! the copy read back with the new key. Then one `renameat2` with
//! `RENAME_EXCHANGE` swaps the two directories: the one atomic step (the
//! kernel exchanges both names at once; there is no moment with neither or
//! a mix). The parent directory is fsynced, and the old store, now under
//! the staging name, is removed.
//!
//! A kill leaves at most the staging directory: before the exchange it
//! holds a partial copy under the new key (the store is still the old
//! one), after it the old store (the store is the new one). Either way the
//! store directory itself is complete, so the next rekey removes the
//! leftover and says so. The new key must be durable (the caller writes it)
//! before this runs: from the exchange on, only it reads the store.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::x25519;

use super::disk::{
    StoreFile, check_format, identity_line, io_error, parse_identity, private_open_options,
    sync_dir, to_json, version,
};
use super::{FORMAT, FileStore, Inner, STORE_FILE, TOKEN_SUFFIX, TOKENS_DIR};
use crate::{CredentialSource, Lease, Secret, StoreError, token_key};

/// A step of [`FileStore::rekey`], as its failpoint sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RekeyStep {
    /// The staging directory was created, empty.
    StagingCreated,
    /// A file of the store was written into the staging directory (its path
    /// relative to the store).
    Copied(PathBuf),
    /// The staging directory is complete, durable and reads with the new
    /// key; the store is still the old one.
    StagingReady,
    /// The directories were exchanged (and the parent fsynced): the store
    /// is under the new key; the staging name holds the old store.
    Exchanged,
    /// An entry of the old store (its path relative to it) was removed.
    OldRemoved(PathBuf),
}

/// A test hook for [`FileStore::rekey`]: called after each
/// [`RekeyStep`]; `true` stops the rekey right there, as `kill -9` would
/// (nothing cleaned up, an error returned).
pub type RekeyFailpoint = Arc<dyn Fn(&RekeyStep) -> bool + Send + Sync>;

/// How [`FileStore::rekey`] runs.
#[derive(Clone, Default)]
pub struct RekeyOptions {
    /// The test hook; `None` in production.
    pub failpoint: Option<RekeyFailpoint>,
}

impl std::fmt::Debug for RekeyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RekeyOptions")
            .field("failpoint", &self.failpoint.is_some())
            .finish()
    }
}

/// What [`FileStore::rekey`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rekeyed {
    /// The new recipient (`age1…`), recorded in `store.json`.
    pub recipient: String,
    /// How many token records were re-encrypted.
    pub tokens: usize,
    /// The staging directory of an earlier, interrupted rekey, found and
    /// removed first.
    pub removed_leftover: Option<PathBuf>,
    /// Where the old store (under the old key) is still, if removing it
    /// failed after the switch; the store itself is the new one.
    pub old_store_left: Option<PathBuf>,
}

/// What the new key is, in messages.
const NEW_KEY: &str = "the new key";

impl FileStore {
    /// Re-encrypts every record of the store for `new_identity` (an
    /// `AGE-SECRET-KEY-1…` string), atomically (see the module docs), while
    /// the caller holds `lease` (the apply lease: no apply runs meanwhile;
    /// [`StoreError::LeaseLost`] if it is not the one stored). The new key
    /// must already be kept durably by the caller: once this returns `Ok`,
    /// or fails after [`RekeyStep::Exchanged`], only it reads the store.
    ///
    /// An `Err` before the exchange leaves the store as it was, under the
    /// old key (the staging directory is removed, best effort). This handle
    /// keeps the old identity: open the store again with the new one to
    /// read it. Lease calls through it still work (they need no key).
    pub async fn rekey(
        &self,
        lease: &Lease,
        new_identity: &Secret,
        options: RekeyOptions,
    ) -> Result<Rekeyed, StoreError> {
        let source = CredentialSource::given(NEW_KEY);
        let new_identity = parse_identity(identity_line(new_identity.expose(), &source)?, &source)?;
        let lease = lease.clone();
        self.blocking("rekeying the store", move |inner| {
            inner.rekey(&lease, &new_identity, &options)
        })
        .await
    }

    /// Where [`FileStore::rekey`] builds the new store: `.<name>.rekey`
    /// beside the store directory.
    pub fn rekey_staging_dir(&self) -> Result<PathBuf, StoreError> {
        staging_dir(&self.inner.dir)
    }
}

/// `.<name>.rekey` beside `dir`.
fn staging_dir(dir: &Path) -> Result<PathBuf, StoreError> {
    let Some(name) = dir.file_name() else {
        return Err(StoreError::Config {
            message: format!(
                "the file store {} has no directory name to build its new copy beside",
                dir.display()
            ),
            hint: Some("name the store's directory in `store.path` (e.g. `.graphform/store`), not `.` or `/`".to_owned()),
        });
    };
    let mut staging = std::ffi::OsString::from(".");
    staging.push(name);
    staging.push(".rekey");
    Ok(parent_of(dir).join(staging))
}

/// The directory `dir` is in (`.` for a bare name).
fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The failpoint stopped the rekey after this step.
#[derive(Debug, thiserror::Error)]
#[error("stopped at the failpoint after {0:?}")]
struct Stopped(RekeyStep);

/// Stops with an error when the failpoint says so after `step`.
fn step(options: &RekeyOptions, step: &RekeyStep) -> Result<(), StoreError> {
    match &options.failpoint {
        Some(hook) if hook(step) => Err(StoreError::Io {
            operation: "rekeying the store".to_owned(),
            source: Box::new(Stopped(step.clone())),
        }),
        _ => Ok(()),
    }
}

impl Inner {
    fn rekey(
        &self,
        lease: &Lease,
        new_identity: &x25519::Identity,
        options: &RekeyOptions,
    ) -> Result<Rekeyed, StoreError> {
        let recipient_text = new_identity.to_public().to_string();
        if recipient_text == self.recipient_text {
            return Err(StoreError::Config {
                message: format!(
                    "the new key is the store's current key (recipient {recipient_text})"
                ),
                hint: Some("rekeying needs a new key".to_owned()),
            });
        }
        let staging = staging_dir(&self.dir)?;
        // The exchange swaps names: a symbolic link would be swapped, not
        // the store it points to.
        if fs::symlink_metadata(&self.dir).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
            return Err(StoreError::Config {
                message: format!(
                    "the file store {} is a symbolic link; rekey swaps the directory itself",
                    self.dir.display()
                ),
                hint: Some("point `store.path` at the real directory, then rekey".to_owned()),
            });
        }
        let _lock = self.lock()?;
        match self.read_store_file()? {
            Some(recorded) if recorded.recipient == self.recipient_text => {}
            Some(_) => {
                return Err(StoreError::Config {
                    message: format!(
                        "the file store {} changed its key since it was opened",
                        self.dir.display()
                    ),
                    hint: None,
                });
            }
            None => {
                return Err(StoreError::Config {
                    message: format!(
                        "{} is not a file store (it has no store.json)",
                        self.dir.display()
                    ),
                    hint: Some("run `graphform store init` to create one".to_owned()),
                });
            }
        }
        match self.read_lease_file()? {
            Some(file) if version(file.version) == lease.version => {}
            _ => return Err(StoreError::LeaseLost),
        }
        let removed_leftover = if fs::symlink_metadata(&staging).is_ok() {
            tracing::warn!(
                staging = %staging.display(),
                "removing the staging directory of an interrupted rekey"
            );
            remove_tree(&staging, &mut |_| Ok(()))?;
            sync_dir(&parent_of(&self.dir))?;
            Some(staging.clone())
        } else {
            None
        };

        let copied = self.build_staging(&staging, new_identity, options);
        let tokens = match copied {
            Ok(tokens) => tokens,
            Err(error) => {
                if !is_failpoint(&error) {
                    // Best effort: the next rekey removes it anyway.
                    let _ = remove_tree(&staging, &mut |_| Ok(()));
                }
                return Err(error);
            }
        };

        exchange(&staging, &self.dir)?;
        sync_dir(&parent_of(&self.dir))?;
        tracing::info!(
            dir = %self.dir.display(),
            recipient = %recipient_text,
            tokens,
            "file store switched to the new key"
        );
        step(options, &RekeyStep::Exchanged)?;

        let old_store_left = match remove_tree(&staging, &mut |relative| {
            step(options, &RekeyStep::OldRemoved(relative.to_path_buf()))
        })
        .and_then(|()| sync_dir(&parent_of(&self.dir)))
        {
            Ok(()) => None,
            Err(error) if is_failpoint(&error) => return Err(error),
            Err(error) => {
                tracing::warn!(%error, "could not remove the old store after the switch");
                Some(staging)
            }
        };
        Ok(Rekeyed {
            recipient: recipient_text,
            tokens,
            removed_leftover,
            old_store_left,
        })
    }

    /// Builds the re-encrypted copy of the store in `staging` (which must
    /// not exist), durably, and reads every token of it back with the new
    /// key. The number of token records.
    fn build_staging(
        &self,
        staging: &Path,
        new_identity: &x25519::Identity,
        options: &RekeyOptions,
    ) -> Result<usize, StoreError> {
        let recipient = &new_identity.to_public();
        let recipient_text = &recipient.to_string();
        create_new_dir(staging)?;
        sync_dir(&parent_of(staging))?;
        step(options, &RekeyStep::StagingCreated)?;
        let mut tokens = 0;
        self.copy_dir(
            Path::new(""),
            staging,
            &mut |relative, bytes: &[u8]| -> Result<Option<Vec<u8>>, StoreError> {
                if relative == Path::new(STORE_FILE) {
                    check_format(bytes, || {
                        format!("the store description {}", relative.display())
                    })?;
                    let file = StoreFile {
                        format: FORMAT,
                        recipient: recipient_text.to_owned(),
                    };
                    return to_json(&file, "the store description").map(Some);
                }
                let Some(key) = token_key_of(relative) else {
                    return Ok(None);
                };
                let path = self.dir.join(relative);
                let address = token_key(&key, || format!("the file {}", path.display()))?;
                let plaintext = self.decrypt_token_file(&address, &path, bytes)?;
                Self::parse_token_plaintext(&address, &path, &plaintext)?;
                let ciphertext =
                    age::encrypt(recipient, &plaintext).map_err(|error| StoreError::Io {
                        operation: format!("encrypting token {address}"),
                        source: Box::new(error),
                    })?;
                tokens += 1;
                Ok(Some(ciphertext))
            },
            options,
        )?;
        sync_dir(staging)?;
        sync_dir(&parent_of(staging))?;
        // Read the copy back as the store will be read, with the new key.
        let copy = Inner {
            dir: staging.to_path_buf(),
            identity: new_identity.clone(),
            recipient: recipient.clone(),
            recipient_text: recipient_text.to_owned(),
            key_source: CredentialSource::given(NEW_KEY),
            warnings: Vec::new(),
        };
        let addresses = copy.list_tokens()?;
        for address in &addresses {
            copy.read_token_file(address)?;
        }
        if addresses.len() != tokens
            || copy
                .read_store_file()?
                .map(|file| file.recipient)
                .as_deref()
                != Some(recipient_text)
        {
            return Err(StoreError::Corrupt {
                what: format!("the new copy {}", staging.display()),
                reason: "it does not read back as written".to_owned(),
            });
        }
        step(options, &RekeyStep::StagingReady)?;
        Ok(tokens)
    }

    /// Copies the directory `relative` of the store into `staging`,
    /// recursively: hidden names (the lock file, temporary files) are
    /// skipped; each file's bytes go through `transform` (`None`: as they
    /// are), are written 0600 and fsynced; each directory is created 0700
    /// and fsynced once full. Anything but files and directories is
    /// refused.
    fn copy_dir(
        &self,
        relative: &Path,
        staging: &Path,
        transform: &mut Transform<'_>,
        options: &RekeyOptions,
    ) -> Result<(), StoreError> {
        let source = self.dir.join(relative);
        let target = staging.join(relative);
        let mut entries = list_dir(&source)?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let relative = relative.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(|error| io_error(format!("reading {}", entry.path().display()), error))?;
            if kind.is_dir() {
                let dir = staging.join(&relative);
                create_new_dir(&dir)?;
                self.copy_dir(&relative, staging, transform, options)?;
                sync_dir(&dir)?;
            } else if kind.is_file() {
                let path = entry.path();
                let bytes = fs::read(&path)
                    .map_err(|error| io_error(format!("reading {}", path.display()), error))?;
                let written = transform(&relative, &bytes)?;
                write_new(
                    &staging.join(&relative),
                    written.as_deref().unwrap_or(&bytes),
                )?;
                step(options, &RekeyStep::Copied(relative))?;
            } else {
                return Err(StoreError::Config {
                    message: format!(
                        "{} is neither a file nor a directory; the store holds only those",
                        entry.path().display()
                    ),
                    hint: Some("move it out of the store, then rekey".to_owned()),
                });
            }
        }
        sync_dir(&target)
    }
}

/// What [`Inner::copy_dir`] writes for a file of the store at a relative
/// path with these bytes: `None`, the bytes as they are.
type Transform<'a> = dyn FnMut(&Path, &[u8]) -> Result<Option<Vec<u8>>, StoreError> + 'a;

/// The entries of the directory `dir`.
pub(super) fn list_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, StoreError> {
    fs::read_dir(dir)
        .and_then(Iterator::collect::<io::Result<Vec<_>>>)
        .map_err(|error| io_error(format!("listing {}", dir.display()), error))
}

/// The token address text of a store file at `relative`
/// (`tokens/<address>.age`), if it is a token file.
fn token_key_of(relative: &Path) -> Option<String> {
    let inside = relative.strip_prefix(TOKENS_DIR).ok()?;
    inside
        .to_str()?
        .strip_suffix(TOKEN_SUFFIX)
        .map(str::to_owned)
}

/// Creates the directory `dir` (0700), which must not exist.
fn create_new_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|error| io_error(format!("creating {}", dir.display()), error))
}

/// Writes `bytes` to the new file `path` (0600) and fsyncs it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let attempt = || -> io::Result<()> {
        let mut file: File = private_open_options()
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    attempt().map_err(|error| io_error(format!("writing {}", path.display()), error))
}

/// Removes the directory `root` and everything in it, deepest first,
/// calling `removed` with each entry's path relative to `root` after it
/// is gone (the failpoint). A missing `root` is fine.
fn remove_tree(
    root: &Path,
    removed: &mut dyn FnMut(&Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    fn remove(
        root: &Path,
        relative: &Path,
        removed: &mut dyn FnMut(&Path) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let dir = root.join(relative);
        let entries = list_dir(&dir)?;
        for entry in entries {
            let path = entry.path();
            let child = relative.join(entry.file_name());
            let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
            if is_dir {
                remove(root, &child, removed)?;
                fs::remove_dir(&path)
            } else {
                fs::remove_file(&path)
            }
            .map_err(|error| io_error(format!("removing {}", path.display()), error))?;
            removed(&child)?;
        }
        Ok(())
    }
    match fs::symlink_metadata(root) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(format!("reading {}", root.display()), error)),
        // A link (or a file) where the staging directory should be: remove
        // the link itself, never what it points to.
        Ok(metadata) if !metadata.is_dir() => {
            return fs::remove_file(root)
                .map_err(|error| io_error(format!("removing {}", root.display()), error));
        }
        Ok(_) => {}
    }
    remove(root, Path::new(""), removed)?;
    fs::remove_dir(root).map_err(|error| io_error(format!("removing {}", root.display()), error))
}

/// Whether `error` is the failpoint's stop (then nothing is cleaned up).
fn is_failpoint(error: &StoreError) -> bool {
    matches!(error, StoreError::Io { source, .. } if source.is::<Stopped>())
}

/// Exchanges the directories `a` and `b` in one atomic step.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn exchange(a: &Path, b: &Path) -> Result<(), StoreError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|errno| {
        io_error(
            format!("exchanging {} and {}", a.display(), b.display()),
            io::Error::from(errno),
        )
    })
}

/// Exchanges the directories `a` and `b` in one atomic step: not
/// available here.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn exchange(a: &Path, b: &Path) -> Result<(), StoreError> {
    let _ = (a, b);
    Err(StoreError::Config {
        message: "store rekey needs an atomic exchange of two directories (renameat2 \
                  RENAME_EXCHANGE), which this system lacks"
            .to_owned(),
        hint: Some("rekey on Linux or macOS".to_owned()),
    })
}
