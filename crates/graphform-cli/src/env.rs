//! Every environment variable graphform reads, in one place.

/// The policy path when none is given (a file or a directory).
pub(crate) const GRAPHFORM_POLICY: &str = "GRAPHFORM_POLICY";
/// Disables colour when set to anything (<https://no-color.org>).
pub(crate) const NO_COLOR: &str = "NO_COLOR";
/// Log filter, e.g. `graphform=debug` (tracing-subscriber's `EnvFilter`).
pub(crate) const RUST_LOG: &str = "RUST_LOG";
