//! Real servers for tests: OpenBao (Vault) and moto (AWS Secrets Manager),
//! installed by `./scripts/test` into the project's `.venv` and started
//! here on free loopback ports, one per test, stopped on drop.
//!
//! Nothing here depends on what happens to be installed on the machine:
//! the binaries come from the project's own virtual environment, and a
//! missing one is a clear failure saying how to install it, never a skip.

use std::path::PathBuf;

pub mod moto;
pub mod openbao;
pub mod redirect;

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
