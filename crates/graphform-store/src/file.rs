//! The `file` backend: one directory, token records encrypted with `age`,
//! every write atomic and compare-and-set under a store-wide file lock.
//!
//! The layout is in the crate docs and docs/stores.md. Invariants this file
//! keeps:
//!
//! * Every mutation takes the exclusive lock on `.lock` (`flock`, so it
//!   excludes other processes and other open handles in this process), reads
//!   the current version, compares, then writes. Reads take no lock: files
//!   are only ever replaced by `rename`, so a reader sees the old or the new
//!   file, never a mix; a read-only store suffices for `plan`.
//! * Versions come from one store-wide counter (`sequence`), so a version is
//!   never handed out twice, even to an object deleted and created again.
//! * A write goes to `.<name>.tmp` in the target's directory, is fsynced,
//!   renamed over the target, and the directory is fsynced. A leftover
//!   temporary file (a crash) is ignored by readers and replaced by the next
//!   write; no name of the store starts with `.` except these and `.lock`.
//! * No value reaches a log, an error or a plaintext file: token records are
//!   encrypted whole (value and metadata), errors name files and addresses,
//!   JSON errors are reduced to their kind and position.

mod disk;
mod init;
mod lease;
mod rekey;
pub(crate) use self::disk::token_plaintext;
use self::disk::{
    StateFileIn, StateFileOut, StoreFile, TokenFileIn, check_dir_permissions, check_format,
    compare, create_private_dir, identity_line, io_error, malformed, parse_identity, parse_json,
    private_open_options, read_json_file, read_optional, set_private_dir_permissions, sync_dir,
    to_json, version, write_atomically,
};
pub use self::init::InitTarget;
pub use self::rekey::{RekeyFailpoint, RekeyOptions, RekeyStep, Rekeyed};
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use age::x25519;
use secrecy::zeroize::Zeroizing;
use serde_json::value::RawValue;

use crate::{
    CredentialSource, Lease, LeaseBreak, LeaseClaim, LeaseId, LeaseInfo, Secret, StateKey, Store,
    StoreError, Timestamp, TokenAddress, TokenRecord, Version, Versioned, token_key,
    validate_record,
};

/// The environment variable that holds the file store's identity unless the
/// policy names another (`store.key_env`).
pub const DEFAULT_KEY_ENV: &str = "GRAPHFORM_STORE_KEY";

/// What the file store's credential is, in messages.
const KEY: &str = "the key";

/// The on-disk format this code writes and reads.
const FORMAT: u32 = 1;

const STORE_FILE: &str = "store.json";
const SEQUENCE_FILE: &str = "sequence";
const STATE_FILE: &str = "state.json";
const STATE_DIR: &str = "state";
const STATE_SUFFIX: &str = ".json";
const LEASE_FILE: &str = "lease.json";
const LOCK_FILE: &str = ".lock";
const TOKENS_DIR: &str = "tokens";
const TOKEN_SUFFIX: &str = ".age";

const IDENTITY_PREFIX: &str = "AGE-SECRET-KEY-1";
const RECIPIENT_PREFIX: &str = "age1";

/// What to tell someone whose key is missing or malformed, when it is not
/// known whether the store exists.
const INIT_HINT: &str = "run `graphform store init` to create a store and its key, \
     or set the variable to the `AGE-SECRET-KEY-1…` key the store was created with";

/// What to tell someone whose key is not the store's.
const WRONG_KEY_HINT: &str = "use the key the store was created with (the file `graphform store \
     init --key-file` wrote, or the key that was in the variable when it ran), or the one \
     `graphform store rekey` last wrote to its --key-file (a rekey that was interrupted may have \
     switched the store already); its recipient is the one recorded in store.json. If the key is \
     lost, docs/stores.md (\"If the key is lost\") says how to start over";

/// What to tell someone whose key is missing or malformed for the
/// store in `dir`: a store that exists needs the key it was created with
/// (`store init` would refuse it), one that does not needs `store init`.
fn key_hint(dir: &Path, key_env: &str) -> String {
    match read_json_file::<StoreFile>(&dir.join(STORE_FILE), "the store description") {
        Ok(Some(store)) => format!(
            "{} is a store already (created for recipient {}): set `{key_env}` to the \
             `AGE-SECRET-KEY-1…` key it was created with (`graphform store init` wrote it to \
             its --key-file), e.g. `export {key_env}=\"$(cat store.key)\"`; `graphform store \
             init` is only for a new store. If the key is lost, docs/stores.md (\"If the key is \
             lost\") says how to start over",
            dir.display(),
            store.recipient
        ),
        _ => format!(
            "no store exists in {} yet: `graphform store init --key-file store.key` creates it \
             and its key, then `export {key_env}=\"$(cat store.key)\"`",
            dir.display()
        ),
    }
}

/// Creates a new X25519 identity for a file store: the secret key
/// (`AGE-SECRET-KEY-1…`, to keep in the environment variable the policy
/// names) and its public recipient (`age1…`, safe to print).
pub fn generate_identity() -> (Secret, String) {
    let identity = x25519::Identity::generate();
    let secret = Secret::new(identity.to_string().expose_secret());
    (secret, identity.to_public().to_string())
}

/// Reads and checks the identity held by the environment variable
/// `key_env`. The value is an `AGE-SECRET-KEY-1…` line, or the contents of
/// an `age-keygen` key file (`#` comment lines are skipped). Errors are
/// [`StoreError::Config`] with a hint, and never quote the value.
pub fn identity_from_env(key_env: &str) -> Result<Secret, StoreError> {
    let source = CredentialSource::env(KEY, key_env);
    match std::env::var(key_env) {
        Ok(value) => {
            let value = Zeroizing::new(value);
            let line = identity_line(&value, &source)?;
            // Validate now so that the error names the variable.
            parse_identity(line, &source)?;
            Ok(Secret::new(line))
        }
        Err(std::env::VarError::NotPresent) => Err(StoreError::Config {
            message: format!("the file store's key is missing: `{key_env}` is not set"),
            hint: Some(INIT_HINT.to_owned()),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(malformed(&source, "it is not UTF-8")),
    }
}

/// The embedded default store: a directory on the local file system.
///
/// Cheap to clone (the state is shared). Safe to use from several tasks,
/// threads and processes at once: mutations are serialized by a lock file.
/// Its methods run their file I/O on tokio's blocking pool, so they must be
/// called inside a tokio runtime (any flavour).
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    identity: x25519::Identity,
    recipient: x25519::Recipient,
    recipient_text: String,
    key_source: CredentialSource,
    warnings: Vec<String>,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .field("recipient", &self.inner.recipient_text)
            .field("key", &self.inner.key_source)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens the store in `dir` with the identity held by the environment
    /// variable `key_env` (the policy's `store.key_env`, by default
    /// [`DEFAULT_KEY_ENV`]).
    ///
    /// The directory need not exist: a missing store reads as empty and is
    /// created (0700) by the first write. An existing one is refused when
    /// other users may write to it, and warned about (see
    /// [`FileStore::warnings`]) when they may read it. When the store
    /// records a recipient that is not the identity's, this fails with
    /// [`StoreError::Config`] at once rather than on the first read.
    pub fn open(dir: impl Into<PathBuf>, key_env: &str) -> Result<Self, StoreError> {
        let dir = dir.into();
        let identity = identity_from_env(key_env).map_err(|error| match error {
            StoreError::Config { message, .. } => StoreError::Config {
                message,
                hint: Some(key_hint(&dir, key_env)),
            },
            other => other,
        })?;
        Self::open_with(dir, &identity, CredentialSource::env(KEY, key_env))
    }

    /// Opens the store in `dir` with `identity` (an `AGE-SECRET-KEY-1…`
    /// string), otherwise as [`FileStore::open`].
    pub fn with_identity(dir: impl Into<PathBuf>, identity: &Secret) -> Result<Self, StoreError> {
        Self::open_with(dir.into(), identity, CredentialSource::given(KEY))
    }

    /// Creates the store in `dir` for `identity` (what `graphform store
    /// init` does): the directory (0700, also when it exists already) and
    /// `store.json` recording the identity's recipient. Running it again
    /// with the same identity changes nothing; with another identity it
    /// fails, as the store's tokens could not be read with it.
    pub fn init(dir: impl Into<PathBuf>, identity: &Secret) -> Result<Self, StoreError> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        set_private_dir_permissions(&dir)?;
        let store = Self::open_with(dir, identity, CredentialSource::given(KEY))?;
        let _lock = store.inner.lock()?;
        store.inner.ensure_store_file()?;
        tracing::debug!(
            dir = %store.inner.dir.display(),
            recipient = %store.inner.recipient_text,
            "file store initialized"
        );
        Ok(store)
    }

    fn open_with(
        dir: PathBuf,
        identity: &Secret,
        key_source: CredentialSource,
    ) -> Result<Self, StoreError> {
        let line = identity_line(identity.expose(), &key_source)?;
        let identity = parse_identity(line, &key_source)?;
        let recipient = identity.to_public();
        let recipient_text = recipient.to_string();
        // Not logged: the caller shows them (`warnings`), once.
        let warnings = check_dir_permissions(&dir)?;
        let inner = Inner {
            dir,
            identity,
            recipient,
            recipient_text,
            key_source,
            warnings,
        };
        if let Some(recorded) = inner.read_store_file()?
            && recorded.recipient != inner.recipient_text
        {
            return Err(StoreError::Config {
                message: format!(
                    "{} is not the key of the file store {}: the store was created for \
                     recipient {}, the key's recipient is {}",
                    inner.key_source,
                    inner.dir.display(),
                    recorded.recipient,
                    inner.recipient_text
                ),
                hint: Some(WRONG_KEY_HINT.to_owned()),
            });
        }
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The identity's public recipient (`age1…`), safe to print.
    pub fn recipient(&self) -> &str {
        &self.inner.recipient_text
    }

    /// Problems found when opening that do not prevent using the store
    /// (e.g. a directory other users can read), for the CLI to show: they
    /// are not logged, so that they show once.
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Runs `work` on tokio's blocking pool.
    ///
    /// Why not plain synchronous I/O inside the async fns: a write fsyncs
    /// several times (files and directories), which can take tens of
    /// milliseconds on a slow disk, and waits for the store lock, which another process may
    /// hold; on a current-thread runtime that would stall every other task
    /// (the concurrent Graph calls of `observe` and `apply`). The blocking
    /// pool keeps them running. The caller's tracing dispatcher and span are
    /// carried over so events land where the caller's would. If the future
    /// is dropped, the work still runs to completion: a write is never left
    /// half-done.
    async fn blocking<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, || span.in_scope(|| work(&inner)))
        });
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => Err(StoreError::Io {
                operation: operation.to_owned(),
                source: Box::new(error),
            }),
        }
    }

    /// [`Store::read_state`] and [`Store::read_system_user_state`]: the
    /// state document `key`.
    async fn read_state_document(
        &self,
        key: &StateKey,
    ) -> Result<Option<Versioned<Vec<u8>>>, StoreError> {
        let key = key.clone();
        self.blocking("reading a state document", move |inner| {
            Ok(inner.read_state_file(&key)?.map(|state| Versioned {
                value: state.document.get().as_bytes().to_vec(),
                version: version(state.version),
            }))
        })
        .await
    }

    /// [`Store::write_state`] and [`Store::write_system_user_state`] of a
    /// checked document: the
    /// state document `key`.
    async fn write_state_document(
        &self,
        key: &StateKey,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        let key = key.clone();
        let document = document.to_vec();
        let expected = expected.cloned();
        self.blocking("writing a state document", move |inner| {
            inner.write_state(&key, &document, expected.as_ref())
        })
        .await
    }
}

impl Store for FileStore {
    fn describe(&self) -> String {
        format!("file store {}", self.inner.dir.display())
    }

    async fn read_token(
        &self,
        address: &TokenAddress,
    ) -> Result<Option<Versioned<TokenRecord>>, StoreError> {
        let address = address.clone();
        self.blocking("reading a token", move |inner| {
            Ok(inner
                .read_token_file(&address)?
                .map(TokenFileIn::into_versioned))
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenAddress>, StoreError> {
        self.blocking("listing tokens", Inner::list_tokens).await
    }

    async fn write_token(
        &self,
        address: &TokenAddress,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        validate_record(address, record)?;
        let address = address.clone();
        let record = record.clone();
        let expected = expected.cloned();
        self.blocking("writing a token", move |inner| {
            inner.write_token(&address, &record, expected.as_ref())
        })
        .await
    }

    async fn delete_token(
        &self,
        address: &TokenAddress,
        expected: &Version,
    ) -> Result<(), StoreError> {
        let address = address.clone();
        let expected = expected.clone();
        self.blocking("deleting a token", move |inner| {
            inner.delete_token(&address, &expected)
        })
        .await
    }

    state_document_methods!();

    async fn claim_lease(&self, claim: &LeaseClaim) -> Result<Lease, StoreError> {
        let claim = claim.clone();
        self.blocking(claim.action(), move |inner| inner.claim_lease(&claim))
            .await
    }

    async fn renew_lease(&self, lease: &Lease, expires_at: Timestamp) -> Result<Lease, StoreError> {
        let lease = lease.clone();
        self.blocking("renewing the lease", move |inner| {
            inner.renew_lease(&lease, expires_at)
        })
        .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.blocking("releasing the lease", move |inner| {
            inner.release_lease(&lease)
        })
        .await
    }

    async fn read_lease(&self) -> Result<Option<LeaseInfo>, StoreError> {
        self.blocking("reading the lease", |inner| {
            Ok(inner.read_lease_file()?.map(|file| file.lease))
        })
        .await
    }

    async fn break_lease(&self, id: &LeaseId) -> Result<LeaseBreak, StoreError> {
        let id = id.clone();
        self.blocking("breaking the lease", move |inner| inner.break_lease(&id))
            .await
    }
}

// ---------------------------------------------------------------------------
// The synchronous implementation, run on the blocking pool.

impl Inner {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Takes the store-wide lock, creating the store directory if needed.
    /// Released when the returned file is dropped (closed).
    fn lock(&self) -> Result<File, StoreError> {
        if !self.dir.is_dir() {
            create_private_dir(&self.dir)?;
            if let Some(parent) = self
                .dir
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                sync_dir(parent)?;
            }
        }
        let path = self.path(LOCK_FILE);
        // `store rekey` swaps the whole directory while holding the lock:
        // a lock won on the lock file of the directory swapped out guards
        // nothing, so it is taken again on the one now in place.
        loop {
            let file = private_open_options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|error| io_error(format!("opening {}", path.display()), error))?;
            file.lock()
                .map_err(|error| io_error(format!("locking {}", path.display()), error))?;
            let locked = file
                .metadata()
                .map_err(|error| io_error(format!("reading {}", path.display()), error))?;
            match fs::metadata(&path) {
                Ok(current) if current.dev() == locked.dev() && current.ino() == locked.ino() => {
                    return Ok(file);
                }
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(io_error(format!("reading {}", path.display()), error));
                }
            }
        }
    }

    /// Takes the lock unless the store does not exist (nothing to change
    /// then; don't create a store to find that out).
    fn lock_existing(&self) -> Result<Option<File>, StoreError> {
        match fs::symlink_metadata(&self.dir) {
            Ok(_) => self.lock().map(Some),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error(format!("reading {}", self.dir.display()), error)),
        }
    }

    /// Creates `dir`, a directory inside the store, and its missing parents
    /// (0700), and makes their entries durable: the entry of a file written
    /// into a new directory is only durable once the directories' own
    /// entries are. Under the lock.
    fn create_dirs(&self, dir: &Path) -> Result<(), StoreError> {
        if dir.is_dir() {
            return Ok(());
        }
        create_private_dir(dir)?;
        for ancestor in dir.ancestors().skip(1) {
            sync_dir(ancestor)?;
            if ancestor == self.dir {
                break;
            }
        }
        Ok(())
    }

    fn read_store_file(&self) -> Result<Option<StoreFile>, StoreError> {
        read_json_file(&self.path(STORE_FILE), "the store description")
    }

    /// Records the recipient in `store.json` unless it is there. Under the
    /// lock.
    fn ensure_store_file(&self) -> Result<(), StoreError> {
        if self.read_store_file()?.is_some() {
            return Ok(());
        }
        let file = StoreFile {
            format: FORMAT,
            recipient: self.recipient_text.clone(),
        };
        write_atomically(
            &self.dir,
            STORE_FILE,
            &to_json(&file, "the store description")?,
        )
    }

    /// Hands out the next version: one more than both the last one handed
    /// out and the object's current one (in case `sequence` was lost, so
    /// that an object's versions still only grow). Under the lock.
    fn next_version(&self, current: Option<u64>) -> Result<u64, StoreError> {
        self.ensure_store_file()?;
        let path = self.path(SEQUENCE_FILE);
        let last = match read_optional(&path)? {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    what: format!("the version counter {}", path.display()),
                    reason: "it does not hold a number".to_owned(),
                })?,
        };
        let next = last
            .max(current.unwrap_or(0))
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("the version counter {}", path.display()),
                reason: "it is at its maximum".to_owned(),
            })?;
        write_atomically(&self.dir, SEQUENCE_FILE, format!("{next}\n").as_bytes())?;
        Ok(next)
    }

    // --- tokens -----------------------------------------------------------

    /// The directory and file name of an address's record:
    /// `tokens/<address>.age` (an address is four plain names, so this
    /// stays inside `tokens/`).
    fn token_location(&self, address: &TokenAddress) -> (PathBuf, String) {
        let relative = PathBuf::from(address.to_string());
        let dir = match relative.parent() {
            Some(parent) => self.path(TOKENS_DIR).join(parent),
            None => self.path(TOKENS_DIR),
        };
        (dir, format!("{}{TOKEN_SUFFIX}", address.name()))
    }

    fn read_token_file(&self, address: &TokenAddress) -> Result<Option<TokenFileIn>, StoreError> {
        let (dir, name) = self.token_location(address);
        let path = dir.join(name);
        let Some(ciphertext) = read_optional(&path)? else {
            return Ok(None);
        };
        let plaintext = self.decrypt_token_file(address, &path, &ciphertext)?;
        Self::parse_token_plaintext(address, &path, &plaintext).map(Some)
    }

    /// The plaintext of the token file of `address` at `path`, whose bytes
    /// are `ciphertext`.
    fn decrypt_token_file(
        &self,
        address: &TokenAddress,
        path: &Path,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let what = || format!("token {address} ({})", path.display());
        match age::decrypt(&self.identity, ciphertext) {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            Err(age::DecryptError::NoMatchingKeys) => Err(StoreError::Config {
                message: format!(
                    "token {address} cannot be decrypted with {}: {} was encrypted for \
                         another key",
                    self.key_source,
                    path.display()
                ),
                hint: Some(WRONG_KEY_HINT.to_owned()),
            }),
            Err(error) => Err(StoreError::Corrupt {
                what: what(),
                reason: format!("it is not a readable age file ({error})"),
            }),
        }
    }

    /// The record in the decrypted token file of `address` at `path`,
    /// checked: of this code's format, and of that address.
    fn parse_token_plaintext(
        address: &TokenAddress,
        path: &Path,
        plaintext: &[u8],
    ) -> Result<TokenFileIn, StoreError> {
        let what = || format!("token {address} ({})", path.display());
        check_format(plaintext, what)?;
        let file: TokenFileIn = parse_json(plaintext, what)?;
        if file.address != address.to_string() {
            return Err(StoreError::Corrupt {
                what: what(),
                reason: format!("it holds the record of {:?}", file.address),
            });
        }
        Ok(file)
    }

    fn write_token(
        &self,
        address: &TokenAddress,
        record: &TokenRecord,
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        let _lock = self.lock()?;
        // A rekey since this handle was opened moved the store to another
        // key: a file written for the old one would leave it readable under
        // two keys, none whole.
        if let Some(recorded) = self.read_store_file()?
            && recorded.recipient != self.recipient_text
        {
            return Err(StoreError::Config {
                message: format!(
                    "the file store {} was re-encrypted for another key since it was opened",
                    self.dir.display()
                ),
                hint: Some("run again with the store's new key".to_owned()),
            });
        }
        let found = self.read_token_file(address)?.map(|file| file.version);
        compare(|| format!("token {address}"), expected, found)?;
        let new_version = self.next_version(found)?;
        let plaintext = token_plaintext(address, new_version, record)?;
        let ciphertext =
            age::encrypt(&self.recipient, &plaintext).map_err(|error| StoreError::Io {
                operation: format!("encrypting token {address}"),
                source: Box::new(error),
            })?;
        let (dir, name) = self.token_location(address);
        self.create_dirs(&dir)?;
        write_atomically(&dir, &name, &ciphertext)?;
        tracing::debug!(
            %address,
            fingerprint = %record.current.metadata.fingerprint,
            previous = ?record
                .previous
                .as_ref()
                .map(|previous| &previous.token.metadata.fingerprint),
            version = new_version,
            "token written"
        );
        Ok(version(new_version))
    }

    fn delete_token(&self, address: &TokenAddress, expected: &Version) -> Result<(), StoreError> {
        let what = || format!("token {address}");
        let Some(_lock) = self.lock_existing()? else {
            return compare(what, Some(expected), None);
        };
        let file = self.read_token_file(address)?;
        compare(what, Some(expected), file.as_ref().map(|file| file.version))?;
        let (dir, name) = self.token_location(address);
        let path = dir.join(&name);
        fs::remove_file(&path)
            .map_err(|error| io_error(format!("removing {}", path.display()), error))?;
        sync_dir(&dir)?;
        self.remove_empty_dirs(&dir);
        tracing::debug!(
            %address,
            fingerprint = ?file.map(|file| file.current.metadata.fingerprint),
            "token deleted"
        );
        Ok(())
    }

    /// Removes `dir` and its parents up to `tokens/` while they are empty
    /// (best effort: a non-empty directory simply stays). Under the lock.
    fn remove_empty_dirs(&self, dir: &Path) {
        let tokens = self.path(TOKENS_DIR);
        let mut dir = dir.to_path_buf();
        while dir.starts_with(&tokens) && dir != tokens {
            if fs::remove_dir(&dir).is_err() {
                break;
            }
            if !dir.pop() {
                break;
            }
        }
    }

    /// Every token file's address, sorted. Only what this backend writes
    /// is looked at: directories and `*.age` files that are neither hidden
    /// (temporary files of an interrupted write start with `.`) nor
    /// symbolic links. A token file whose path is not a token address is
    /// [`StoreError::ForeignEntry`].
    fn list_tokens(&self) -> Result<Vec<TokenAddress>, StoreError> {
        let tokens = self.path(TOKENS_DIR);
        let mut addresses = Vec::new();
        let mut pending = vec![tokens.clone()];
        while let Some(dir) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                // Gone: the store is empty, or a concurrent delete removed it.
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(io_error(format!("listing {}", dir.display()), error)),
            };
            for entry in entries {
                let entry =
                    entry.map_err(|error| io_error(format!("listing {}", dir.display()), error))?;
                if entry.file_name().as_encoded_bytes().starts_with(b".") {
                    continue;
                }
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if kind.is_dir() {
                    pending.push(path);
                } else if kind.is_file()
                    && let Some(key) = path.strip_prefix(&tokens).ok().and_then(|relative| {
                        relative
                            .to_string_lossy()
                            .strip_suffix(TOKEN_SUFFIX)
                            .map(str::to_owned)
                    })
                {
                    addresses.push(token_key(&key, || format!("the file {}", path.display()))?);
                }
            }
        }
        addresses.sort();
        Ok(addresses)
    }

    // --- the state documents ----------------------------------------------

    /// The directory and file name of the state document `key`:
    /// `state.json` for the root one, `state/<business>/<system-user>.json`
    /// for a system user's (two plain names, so this stays inside
    /// `state/`).
    fn state_location(&self, key: &StateKey) -> (PathBuf, String) {
        match key {
            StateKey::Root => (self.dir.clone(), STATE_FILE.to_owned()),
            StateKey::SystemUser(user) => (
                self.path(STATE_DIR).join(user.business()),
                format!("{}{STATE_SUFFIX}", user.name()),
            ),
        }
    }

    fn read_state_file(&self, key: &StateKey) -> Result<Option<StateFileIn>, StoreError> {
        let (dir, name) = self.state_location(key);
        read_json_file(&dir.join(name), &key.to_string())
    }

    fn write_state(
        &self,
        key: &StateKey,
        document: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, StoreError> {
        // Checked by the caller (check_state_document); a failure here
        // would be a bug, reported as such rather than panicking.
        let document: &RawValue = std::str::from_utf8(document)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| StoreError::Invalid {
                what: key.to_string(),
                reason: "it is not JSON".to_owned(),
            })?;
        let _lock = self.lock()?;
        let found = self.read_state_file(key)?.map(|state| state.version);
        compare(|| key.to_string(), expected, found)?;
        let new_version = self.next_version(found)?;
        let file = StateFileOut {
            format: FORMAT,
            version: new_version,
            document,
        };
        let (dir, name) = self.state_location(key);
        self.create_dirs(&dir)?;
        write_atomically(&dir, &name, &to_json(&file, &key.to_string())?)?;
        tracing::debug!(
            state = %key,
            version = new_version,
            bytes = document.get().len(),
            "state document written"
        );
        Ok(version(new_version))
    }
}

// ---------------------------------------------------------------------------
#[cfg(test)]
mod tests;
