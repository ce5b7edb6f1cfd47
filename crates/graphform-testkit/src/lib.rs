//! Test support for graphform's crates; a dev-dependency only, never
//! published.
//!
//! * Real servers: [`openbao::OpenBao`] (Vault KV v2) and [`moto::Moto`]
//!   (AWS Secrets Manager), installed by `./scripts/test` (or `scripts/services
//!   install`) into the project's `.venv` and started on free loopback
//!   ports, one per test, stopped on drop.
//! * [`redirect::RedirectTrap`]: a server that answers every request with a
//!   redirect, to prove a client does not follow it.
//! * [`logs::Capture`]: everything a `tracing` subscriber writes, kept in
//!   memory, for tests that check what the logs hold (and do not hold).
//! * [`store`]: what the store backends' tests share: a run of operations
//!   that makes a backend log all it logs, and how errors are shown and
//!   checked.
//! * [`counting::Counting`]: a store wrapper that counts every call (the
//!   benchmark's writes per token) and may see, or refuse, every token
//!   write first.
//! * [`meta::Meta`]: an in-memory model of the Graph API operations
//!   graphform uses (the engine's `Provider`), with faults placed exactly.
//!
//! Nothing here depends on what happens to be installed on the machine:
//! the binaries come from the project's own virtual environment, and a
//! missing one is a clear failure saying how to install it, never a skip.
//!
//! The backend-independent conformance suite is not here: it is part of
//! `graphform-store` (feature `conformance`), the contract every backend
//! must pass.

use std::path::PathBuf;

pub mod counting;
pub mod logs;
pub mod meta;
pub mod moto;
pub mod openbao;
pub mod redirect;
pub mod store;

/// The path of `name` in the project's `.venv/bin`, installed by
/// `./scripts/test` (or `scripts/services install`).
///
/// # Panics
///
/// When it is not there: the test cannot run without it, and says how to
/// get it.
pub fn venv_bin(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `./scripts/test` (or `scripts/services install`) once; it installs \
         OpenBao and moto into the project's .venv",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (and, when `with_next` is set, one whose
/// successor looked free too — OpenBao also binds PORT+1).
pub fn free_port(with_next: bool) -> u16 {
    loop {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        if !with_next || std::net::TcpListener::bind(("127.0.0.1", port.wrapping_add(1))).is_ok() {
            return port;
        }
    }
}
