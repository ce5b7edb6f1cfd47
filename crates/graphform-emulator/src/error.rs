//! The crate's own error: loading a world, starting the server, and
//! control requests made from Rust ([`crate::Emulator`]'s methods).
//!
//! Errors the emulated Graph API returns to its clients are not these: they
//! live in [`crate::graph_error`].

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a world could not be loaded, the emulator could not start, or a
/// control request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The world file could not be read.
    #[error("cannot read world file {path}")]
    ReadWorld {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The world file is not valid YAML or JSON of the expected shape.
    ///
    /// The parser's message is kept as text (with its line and column) but
    /// with quoted values elided, since a misplaced value may be a secret.
    #[error("cannot parse world file {path}: {message}")]
    ParseWorld {
        /// The file (`<string>` when parsed from text).
        path: PathBuf,
        /// What the parser said, values elided.
        message: String,
    },
    /// The world parsed but is inconsistent; every problem is listed.
    #[error("invalid world: {}", problems.join("; "))]
    InvalidWorld {
        /// One line per problem, naming the object involved.
        problems: Vec<String>,
    },
    /// The emulator only listens on loopback addresses.
    #[error("refusing to listen on {addr}: the emulator binds loopback addresses only")]
    NotLoopback {
        /// The address that was asked for.
        addr: SocketAddr,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A control request names something the emulator does not have (a
    /// token, system user or install); the control API answers 404.
    #[error("not found: {message}")]
    NotFound {
        /// What is missing (IDs and fingerprints only).
        message: String,
    },
    /// A control request is invalid (an unknown endpoint or fault kind, a
    /// bad status or rate); the control API answers 400.
    #[error("invalid control request: {message}")]
    InvalidControl {
        /// What is wrong.
        message: String,
    },
}
