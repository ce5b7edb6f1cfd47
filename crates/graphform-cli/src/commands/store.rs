//! `graphform store init` and `graphform unlock`.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use graphform_spec::StoreSettings;
use graphform_store::{FileStore, Store as _, generate_identity, identity_from_env};

use crate::cli::{PolicyArgs, StoreInitArgs};
use crate::output::{Hinted, Printer};
use crate::settings;

pub(crate) fn init(args: &StoreInitArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let policy = &args.policy.policy;
    let spec = settings::load_policy(policy, printer)?;
    let StoreSettings::File { path, key_env } = &spec.store else {
        bail!(
            "`store init` creates `file` stores; Vault and AWS Secrets Manager stores are created by their own tools"
        );
    };
    let dir = settings::policy_dir(policy).join(path);
    let identity = if std::env::var_os(key_env).is_some() {
        identity_from_env(key_env)
            .with_context(|| format!("the key in `{key_env}` is not usable"))?
    } else {
        let Some(key_file) = &args.key_file else {
            bail!(Hinted::new(
                format!("`{key_env}` is not set and no --key-file was given"),
                format!(
                    "`graphform store init --key-file FILE` writes a new key to FILE; then `export {key_env}=\"$(cat FILE)\"`"
                ),
            ));
        };
        let (identity, _) = generate_identity();
        settings::write_private(key_file, identity.expose())?;
        printer.message(&format!(
            "Wrote a new store key to {} (mode 0600). Load it with\n  export {key_env}=\"$(cat {})\"\nand keep a copy in your secret manager: without it the store cannot be read.\n",
            key_file.display(),
            key_file.display()
        ));
        identity
    };
    let store = FileStore::init(&dir, &identity)
        .with_context(|| format!("cannot create the store `{}`", dir.display()))?;
    printer.data(&format!(
        "Initialized the file store {} (recipient {}).\n",
        dir.display(),
        store.recipient()
    ));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn unlock(args: &PolicyArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let spec = settings::load_policy(&args.policy, printer)?;
    let store = settings::open_store(&spec, &args.policy)?;
    let broken = settings::runtime()?
        .block_on(store.break_lease())
        .context("cannot break the lease")?;
    match broken {
        Some(info) => printer.data(&format!(
            "Removed the lock held by {} (pid {} on {}) since {}.\n",
            info.holder, info.pid, info.host, info.acquired_at
        )),
        None => printer.data("The store was not locked.\n"),
    }
    Ok(ExitCode::SUCCESS)
}
