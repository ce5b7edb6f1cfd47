//! Every environment variable graphform reads, in one place. The colour
//! variables (`NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`) are read by
//! anstream, for `--color auto` (see `output::Colors`).

/// The policy path when none is given (a file or a directory).
pub(crate) const GRAPHFORM_POLICY: &str = "GRAPHFORM_POLICY";
/// Log filter, e.g. `graphform=debug` (tracing-subscriber's `EnvFilter`).
pub(crate) const RUST_LOG: &str = "RUST_LOG";
/// Overrides the policy's `graph.url` (e.g. to point at the emulator).
pub(crate) const GRAPHFORM_GRAPH_URL: &str = "GRAPHFORM_GRAPH_URL";
/// The clock graphform plans with, as Unix seconds. For demos and tests
/// against the emulator, whose clock can be moved; never set it in
/// production.
pub(crate) const GRAPHFORM_NOW: &str = "GRAPHFORM_NOW";
/// Test hook: `apply` stops (prints and waits to be killed) right before
/// its n-th mutation. Used by the crash tests; never set it otherwise.
pub(crate) const GRAPHFORM_FAILPOINT: &str = "GRAPHFORM_FAILPOINT";
