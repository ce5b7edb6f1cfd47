//! `graphform store init` and `graphform store rekey`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use graphform_spec::{Spec, StoreSettings};
use graphform_store::{
    FileStore, InitTarget, LeaseInfo, RekeyOptions, Store as _, StoreError, generate_identity,
    identity_from_env,
};

use crate::cli::{StoreInitArgs, StoreRekeyArgs};
use crate::output::{Hinted, Printer};
use crate::settings;

/// How long `store rekey` holds the apply lease (it does not renew it):
/// far longer than re-encrypting any store takes.
const REKEY_LEASE_SECONDS: i64 = 3_600;

/// The file store's directory and key variable, or an error naming the
/// command (`what`) for another backend.
fn file_store<'s>(spec: &'s Spec, policy: &Path, what: &str) -> anyhow::Result<(PathBuf, &'s str)> {
    let StoreSettings::File { path, key_env } = &spec.store else {
        bail!(Hinted::new(
            format!("`{what}` works on `file` stores; this policy's store is not one"),
            "Vault and AWS Secrets Manager stores are created and encrypted by their own servers: \
             manage their keys there",
        ));
    };
    Ok((settings::policy_dir(policy).join(path), key_env))
}

pub(crate) fn init(args: &StoreInitArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let policy = &args.policy.policy;
    let spec = settings::load_policy(policy, printer)?;
    let (dir, key_env) = file_store(&spec, policy, "store init")?;
    // Check everything before writing anything: no key file for a store
    // that is not created.
    let target = FileStore::inspect_init_target(&dir)
        .with_context(|| format!("cannot create the store `{}`", dir.display()))?;
    let env_key = if std::env::var_os(key_env).is_some() {
        Some(
            identity_from_env(key_env)
                .with_context(|| format!("the key in `{key_env}` is not usable"))?,
        )
    } else {
        None
    };
    if let InitTarget::Store { recipient } = &target {
        let same_key = env_key
            .as_ref()
            .and_then(|key| FileStore::with_identity(&dir, key).ok())
            .is_some_and(|store| store.recipient() == recipient);
        if same_key && args.key_file.is_none() {
            printer.data(&format!(
                "{} is already a file store for the key in `{key_env}` (recipient {recipient}); nothing to do.\n",
                dir.display()
            ));
            return Ok(ExitCode::SUCCESS);
        }
        bail!(Hinted::new(
            format!(
                "{} is already a store (recipient {recipient}); nothing was written",
                dir.display()
            ),
            format!(
                "it is ready: set `{key_env}` to the key it was created with (the file the first \
                 `store init --key-file` wrote, e.g. `export {key_env}=\"$(cat store.key)\"`) and \
                 run `graphform plan`; to change its key, `graphform store rekey --key-file NEW_FILE`"
            ),
        ));
    }
    let (identity, written) = match (env_key, &args.key_file) {
        (Some(_), Some(_)) => bail!(Hinted::new(
            format!(
                "`{key_env}` is set and --key-file was given: which key should the store have?"
            ),
            format!(
                "unset `{key_env}` to have a new key written to the file, or drop --key-file to use the key in `{key_env}`"
            ),
        )),
        (Some(key), None) => (key, None),
        (None, None) => bail!(Hinted::new(
            format!("`{key_env}` is not set and no --key-file was given"),
            format!(
                "`graphform store init --key-file FILE` writes a new key to FILE; then `export {key_env}=\"$(cat FILE)\"`"
            ),
        )),
        (None, Some(key_file)) => {
            if key_file.symlink_metadata().is_ok() {
                bail!(Hinted::new(
                    format!("{} exists; nothing was written", key_file.display()),
                    "graphform never overwrites a key file: name a new one",
                ));
            }
            let (identity, recipient) = generate_identity();
            settings::write_private(key_file, identity.expose())?;
            (identity, Some((key_file, recipient)))
        }
    };
    // The key file is written first and removed again if the store cannot
    // be created: the other order could leave a store whose key was never
    // written anywhere, unreadable for good.
    let store = match FileStore::init(&dir, &identity) {
        Ok(store) => store,
        Err(error) => {
            let error = anyhow::Error::new(error)
                .context(format!("cannot create the store `{}`", dir.display()));
            return Err(match written {
                Some((key_file, recipient)) => unused_key(error, &dir, &recipient, key_file),
                None => error,
            });
        }
    };
    if let Some((key_file, _)) = written {
        key_written(
            printer,
            key_file,
            key_env,
            "keep a copy in your secret manager: without it the store cannot be read",
        );
    }
    printer.data(&format!(
        "Initialized the file store {} (recipient {}).\n",
        dir.display(),
        store.recipient()
    ));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn rekey(args: &StoreRekeyArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let policy = &args.policy.policy;
    let spec = settings::load_policy(policy, printer)?;
    let (dir, key_env) = file_store(&spec, policy, "store rekey")?;
    let key_file = &args.key_file;
    if key_file.symlink_metadata().is_ok() {
        bail!(Hinted::new(
            format!("{} exists; nothing was changed", key_file.display()),
            "graphform never overwrites a key file: name a new one (if it is the key of an \
             interrupted rekey, the store's recipient in store.json tells which key it uses)",
        ));
    }
    if !matches!(
        FileStore::inspect_init_target(&dir),
        Ok(InitTarget::Store { .. })
    ) {
        bail!(Hinted::new(
            format!("{} is not a file store; nothing was changed", dir.display()),
            "`graphform store init` creates one",
        ));
    }
    let store = FileStore::open(&dir, key_env)
        .with_context(|| format!("cannot open the file store `{}`", dir.display()))?;
    for warning in store.warnings() {
        printer.warning(warning);
    }
    let runtime = settings::runtime()?;
    let now = settings::now()?;
    let request = LeaseInfo::for_current_process("graphform store rekey", now, REKEY_LEASE_SECONDS);
    let lease = match runtime.block_on(store.acquire_lease(&request)) {
        Ok(lease) => lease,
        Err(StoreError::Locked(holder)) => bail!(Hinted::new(
            StoreError::Locked(holder.clone()).to_string(),
            format!(
                "rekeying holds the apply lock: wait for the apply to finish. If it is not running any \
                 more (it was killed), `graphform unlock {}` removes the lock",
                holder.id
            ),
        )),
        Err(error) => return Err(anyhow::Error::new(error).context("cannot take the lock")),
    };
    let (identity, recipient) = generate_identity();
    // Durable before the store switches to it.
    if let Err(error) = settings::write_private(key_file, identity.expose()) {
        let _ = runtime.block_on(store.release_lease(&lease));
        return Err(error.context("the store was not changed"));
    }
    let result = runtime.block_on(store.rekey(&lease, &identity, RekeyOptions::default()));
    drop(identity);
    // The lease needs no key: released through the old handle either way.
    let released = runtime.block_on(store.release_lease(&lease));
    let rekeyed = match result {
        Ok(rekeyed) => rekeyed,
        Err(error) => {
            let error = anyhow::Error::new(error).context("the rekey failed");
            return Err(unused_key(error, &dir, &recipient, key_file));
        }
    };
    if let Err(error) = released {
        printer.warning(&format!(
            "could not release the lock ({error}); `graphform lock status` shows it"
        ));
    }
    if let Some(leftover) = &rekeyed.removed_leftover {
        printer.warning(&format!(
            "removed {}, left by an interrupted rekey (the store itself was complete)",
            leftover.display()
        ));
    }
    if let Some(old) = &rekeyed.old_store_left {
        printer.warning(&format!(
            "could not remove the old store, now at {} (encrypted with the old key): delete it",
            old.display()
        ));
    }
    key_written(
        printer,
        key_file,
        key_env,
        "replace the old key wherever it is kept (CI secrets, your secret manager): it no longer reads the store",
    );
    printer.data(&format!(
        "Re-encrypted the file store {} ({} token{}) for the new key (recipient {recipient}).\n",
        dir.display(),
        rekeyed.tokens,
        if rekeyed.tokens == 1 { "" } else { "s" }
    ));
    Ok(ExitCode::SUCCESS)
}

/// Tells where the new key is, how to load it into `key_env`, and `then`.
fn key_written(printer: &Printer, key_file: &Path, key_env: &str, then: &str) {
    printer.message(&format!(
        "Wrote the new store key to {} (mode 0600). Load it with\n  export {key_env}=\"$(cat {})\"\nand {then}.\n",
        key_file.display(),
        key_file.display()
    ));
}

/// After `error` in `store init` or `store rekey`, which wrote a new key
/// (of `recipient`) to `key_file`: the file is removed only when the store
/// at `dir` provably does not use that key (there is no store, or its
/// store.json names another recipient). When it names this one (a rekey
/// switched before failing), or when the store cannot be read to tell,
/// the file is kept and the error says so: deleting the only key of a
/// store would lose it for good.
fn unused_key(error: anyhow::Error, dir: &Path, recipient: &str, key_file: &Path) -> anyhow::Error {
    match FileStore::inspect_init_target(dir) {
        Ok(InitTarget::Store {
            recipient: recorded,
        }) if recorded == recipient => {
            return error.context(format!(
                "the store uses the new key in {} (keep that file), but did not finish",
                key_file.display()
            ));
        }
        Ok(InitTarget::Missing | InitTarget::Empty | InitTarget::Store { .. }) => {}
        Err(_) => {
            return error.context(format!(
                "could not tell which key the store uses: keep the new key in {} and the old one until `graphform plan` reads the store with one of them",
                key_file.display()
            ));
        }
    }
    match std::fs::remove_file(key_file) {
        Ok(()) => error.context(format!(
            "nothing uses the new key: removed {} again",
            key_file.display()
        )),
        Err(_) => error.context(format!(
            "nothing uses the new key in {}: delete it",
            key_file.display()
        )),
    }
}
