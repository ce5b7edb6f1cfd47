//! `graphform emulator`: serve the Graph API emulator until stopped.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context as _;
use graphform_emulator::{Emulator, World};

use crate::cli::EmulatorArgs;
use crate::output::Printer;

pub(crate) fn run(args: &EmulatorArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let world = match &args.world {
        Some(path) => World::from_file(path)
            .with_context(|| format!("cannot load the world `{}`", path.display()))?,
        None => World::demo(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
        let emulator = Emulator::start_on(world, addr)
            .await
            .with_context(|| format!("cannot start the emulator on {addr}"))?;
        if let Some(path) = &args.portfile {
            std::fs::write(path, emulator.local_addr().port().to_string())
                .with_context(|| format!("cannot write the port file `{}`", path.display()))?;
        }
        let summary = emulator.world_summary();
        printer.data(&format!(
            "{summary}\n# The world's emulated credentials (not Meta's), for your shell:\n{}",
            summary.shell_exports()
        ));
        printer.message(&format!(
            "graphform emulator listening on {} (Ctrl-C to stop)\n",
            emulator.base_url()
        ));
        stopped().await;
        emulator.shutdown().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = async {
                match terminate.as_mut() {
                    Some(signal) => { signal.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
