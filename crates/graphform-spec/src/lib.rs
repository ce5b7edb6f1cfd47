//! graphform's policy: the types of the YAML policy file, loading from a
//! file or a directory, validation into a [`Spec`], and the JSON Schema.
//!
//! The entry point is [`load`]: it returns a [`Loaded`] with the validated
//! [`Spec`] (when there is no error) and every [`Diagnostic`] found, each
//! with its file, line and column. This crate does no network I/O and knows
//! nothing of Meta's API beyond the list of scopes.
//!
//! Raw types ([`raw`]) mirror the YAML and produce the JSON Schema; the
//! validated types ([`spec`]) are what the engine accepts. [`report`] is
//! `graphform validate --format json`.

mod de;
pub mod diagnostic;
mod load;
pub mod raw;
pub mod report;
pub mod scopes;
pub mod secret;
pub mod spec;
pub mod suggest;
mod validate;
mod yaml;

pub use diagnostic::{Code, Diagnostic, Location, Severity, Sources, render};
pub use load::{Loaded, load, load_texts};
pub use spec::{Business, Duration, Expiry, Role, Spec, StoreSettings, SystemUser, Token};
pub use validate::DEFAULT_GRACE;

/// The JSON Schema of the policy file, as pretty-printed JSON with a
/// trailing newline (the content of `schemas/graphform.schema.json`).
pub fn json_schema() -> String {
    graphform_types::json_schema::<raw::RawPolicy>()
}
