//! What `graphform store init` checks before it writes anything (a key
//! file included): the directory it is to create a store in.

use std::fs;
use std::io;
use std::path::Path;

use super::disk::{StoreFile, io_error, private_open_options, read_json_file};
use super::rekey::list_dir;
use super::{FileStore, LOCK_FILE, STORE_FILE};
use crate::StoreError;

/// What is where a store is to be created ([`FileStore::inspect_init_target`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitTarget {
    /// Nothing yet; its nearest existing parent is writable.
    Missing,
    /// An empty directory (or one holding only a lock file) we may write in.
    Empty,
    /// Already a file store, created for this recipient (`age1…`).
    Store {
        /// The recipient `store.json` records.
        recipient: String,
    },
}

impl FileStore {
    /// Inspects `dir` before a store is created there, writing nothing
    /// that stays: an existing store is [`InitTarget::Store`]; a directory
    /// that holds anything else, a file, or a place this process cannot
    /// write to is [`StoreError::Config`] with a hint. Writability is
    /// tried (a probe file created and removed), not guessed from modes.
    pub fn inspect_init_target(dir: &Path) -> Result<InitTarget, StoreError> {
        let metadata = match fs::metadata(dir) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let existing = dir
                    .ancestors()
                    .skip(1)
                    .map(|parent| {
                        if parent.as_os_str().is_empty() {
                            Path::new(".")
                        } else {
                            parent
                        }
                    })
                    .find(|parent| parent.is_dir())
                    .unwrap_or(Path::new("."));
                probe_writable(existing, dir)?;
                return Ok(InitTarget::Missing);
            }
            Err(error) => return Err(io_error(format!("reading {}", dir.display()), error)),
        };
        if !metadata.is_dir() {
            return Err(StoreError::Config {
                message: format!("{} is not a directory", dir.display()),
                hint: Some(
                    "point `store.path` at a directory (it is created if missing)".to_owned(),
                ),
            });
        }
        if let Some(store) =
            read_json_file::<StoreFile>(&dir.join(STORE_FILE), "the store description")?
        {
            return Ok(InitTarget::Store {
                recipient: store.recipient,
            });
        }
        let foreign: Vec<String> = list_dir(dir)?
            .into_iter()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name != LOCK_FILE)
            .collect();
        if let Some(first) = foreign.iter().min() {
            return Err(StoreError::Config {
                message: format!(
                    "{} is not empty and is not a graphform store (it has no store.json, and holds \
                     `{first}`{})",
                    dir.display(),
                    if foreign.len() > 1 {
                        format!(" and {} more", foreign.len() - 1)
                    } else {
                        String::new()
                    }
                ),
                hint: Some(
                    "point `store.path` at a new or empty directory, or move what is there away"
                        .to_owned(),
                ),
            });
        }
        probe_writable(dir, dir)?;
        Ok(InitTarget::Empty)
    }
}

/// Fails unless a file can be created in `dir` (where the store `store`
/// would go): creates and removes a hidden probe file.
fn probe_writable(dir: &Path, store: &Path) -> Result<(), StoreError> {
    let probe = dir.join(format!(".graphform-init-probe-{}", std::process::id()));
    match private_open_options()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(file) => {
            drop(file);
            fs::remove_file(&probe)
                .map_err(|error| io_error(format!("removing {}", probe.display()), error))
        }
        Err(error) => Err(StoreError::Config {
            message: format!(
                "cannot create the store {}: {} is not writable ({error})",
                store.display(),
                dir.display()
            ),
            hint: Some("choose a `store.path` you can write to, or fix its permissions".to_owned()),
        }),
    }
}
