//! `graphform emulator`: serve the Graph API emulator until stopped.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
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
        let summary = emulator.world_summary();
        announce(
            &format!(
                "{summary}\n# The world's emulated credentials (not Meta's), for your shell:\n{}",
                summary.shell_exports()
            ),
            args.portfile.as_deref(),
            emulator.local_addr().port(),
            |text| printer.data(text),
        )?;
        printer.message(&format!(
            "graphform emulator listening on {} (Ctrl-C to stop)\n",
            emulator.base_url()
        ));
        stopped().await;
        emulator.shutdown().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Prints the world and its `export` lines (`print`), then writes `port`
/// to `portfile`: a script that waits for the port file (`until [ -s
/// port ]`) finds the exports complete, whatever it redirected them to.
fn announce(
    text: &str,
    portfile: Option<&Path>,
    port: u16,
    print: impl FnOnce(&str),
) -> anyhow::Result<()> {
    print(text);
    if let Some(path) = portfile {
        write_portfile(path, port)
            .with_context(|| format!("cannot write the port file `{}`", path.display()))?;
    }
    Ok(())
}

/// Writes `port` to `path` whole: to a temporary file beside it, renamed
/// over it, so that a reader never sees it empty or half-written.
fn write_portfile(path: &Path, port: u16) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, port.to_string())?;
    std::fs::rename(&partial, path)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_file_is_written_after_the_exports_are_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let portfile = dir.path().join("port");
        let mut printed = false;
        announce("export A='b'\n", Some(&portfile), 4242, |_| {
            assert!(
                !portfile.exists(),
                "a script waiting for the port file would read the exports before they are printed"
            );
            printed = true;
        })
        .expect("announced");
        assert!(printed);
        assert_eq!(
            std::fs::read_to_string(&portfile).expect("port file"),
            "4242"
        );
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["port"], "no temporary file is left behind");
    }
}
