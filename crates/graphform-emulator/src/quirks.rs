//! Quirks: variants of Meta's answers that graph-api.md documents besides
//! the form the emulator gives by default, switched on through
//! `/_emulator/quirks` so that a client's leniency can be tested.

use serde::{Deserialize, Serialize};

/// The quirks in force; all off by default. `POST /_emulator/quirks`
/// replaces the whole set (what it leaves out is off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Quirks {
    /// `GET /oauth/access_token` (`fb_exchange_token`) answers without
    /// `expires_in`, as reported in the field (graph-api.md, "What people
    /// report in the field": `expires_in` is sometimes missing).
    pub(crate) omit_expires_in: bool,
    /// `GET /oauth/revoke` answers `{"success":"true"}`, the string form of
    /// Meta's documented sample (graph-api.md §3), instead of
    /// `{"success":true}`.
    pub(crate) revoke_success_as_string: bool,
}
