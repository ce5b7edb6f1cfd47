//! `graphform lock status` and `graphform unlock ID`: the apply lock (the
//! store's lease), shown and broken by its ID.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use graphform_engine::lock::LockStatus;
use graphform_store::{LeaseBreak, LeaseId, LeaseInfo, Store as _, Timestamp};

use crate::cli::{Format, LockStatusArgs, UnlockArgs};
use crate::output::{Hinted, Printer};
use crate::render;
use crate::settings;

pub(crate) fn status(args: &LockStatusArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let spec = settings::load_policy(&args.policy.policy, printer)?;
    let now = settings::now()?;
    let store = settings::open_store(&spec, &args.policy.policy, printer)?;
    let lease = settings::runtime()?
        .block_on(store.read_lease())
        .context("cannot read the lock")?;
    match args.format {
        Format::Json => printer.data(&graphform_engine::plan_file::safe_json(&LockStatus::new(
            store.describe(),
            lease.as_ref(),
            now,
        ))),
        Format::Text => printer.data(&match &lease {
            None => format!("{} is not locked.\n", store.describe()),
            Some(lease) => status_text(&store.describe(), lease, now),
        }),
    }
    Ok(ExitCode::SUCCESS)
}

/// The text of `lock status` for a held lock.
fn status_text(store: &str, lease: &LeaseInfo, now: Timestamp) -> String {
    let state = if now < lease.expires_at {
        "held (not expired)".to_owned()
    } else if lease.may_be_taken_over_at(now) {
        "expired: the next apply takes it over".to_owned()
    } else {
        format!(
            "expired: the next apply takes it over from {} (a margin for clock skew)",
            lease.takeover_at().utc()
        )
    };
    format!(
        "{store} is locked.\n\
         \x20 lock ID   {}\n\
         \x20 holder    {}\n\
         \x20 pid       {}\n\
         \x20 host      {}\n\
         \x20 acquired  {}\n\
         \x20 expires   {}\n\
         \x20 state     {state}\n\
         If its holder is not running any more: graphform unlock {}\n",
        lease.id,
        render::escape_text(&lease.holder),
        lease.pid,
        render::escape_text(&lease.host),
        lease.acquired_at.utc(),
        lease.expires_at.utc(),
        lease.id,
    )
}

pub(crate) fn unlock(args: &UnlockArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let spec = settings::load_policy(&args.policy.policy, printer)?;
    let store = settings::open_store(&spec, &args.policy.policy, printer)?;
    let id = LeaseId::new(args.id.trim());
    let outcome = settings::runtime()?
        .block_on(store.break_lease(&id))
        .context("cannot break the lock")?;
    match outcome {
        LeaseBreak::Broken(info) => printer.data(&format!(
            "Removed the lock {} held by {} (pid {} on host {}) since {}.\n",
            info.id,
            render::escape_text(&info.holder),
            info.pid,
            render::escape_text(&info.host),
            info.acquired_at.utc()
        )),
        LeaseBreak::NotHeld => printer.data(&format!(
            "{} is not locked; nothing to remove.\n",
            store.describe()
        )),
        LeaseBreak::Damaged => printer.data(
            "Removed a damaged lock: its lease entry was unreadable (it had no holder or ID to show).\n",
        ),
        LeaseBreak::OtherHolder(info) => bail!(Hinted::new(
            format!(
                "the lock has ID {}, not {id}: it is held by {} (pid {} on host {}) since {}, \
                 lease expires {}; nothing was removed",
                info.id,
                render::escape_text(&info.holder),
                info.pid,
                render::escape_text(&info.host),
                info.acquired_at.utc(),
                info.expires_at.utc()
            ),
            format!(
                "another run holds the lock now, or the ID is mistyped: check with `graphform lock status`; \
                 if that holder is not running any more, `graphform unlock {}` removes it",
                info.id
            ),
        )),
    }
    Ok(ExitCode::SUCCESS)
}
