//! The domain vocabulary every graphform crate speaks (style.md §2: a
//! shared type gets its own small crate rather than an edge between leaves).
//!
//! - [`Secret`] and [`Fingerprint`]: how a token or app secret travels, and
//!   the only form in which it is shown.
//! - [`Address`] and its kinds ([`SystemUserAddress`], [`InstallAddress`],
//!   [`TokenAddress`]): the stable names of managed objects, parsed once.
//! - [`Timestamp`] and [`Duration`]: moments and spans to the second, on
//!   `jiff`.
//! - [`Role`], [`ExpiryMode`], [`SIXTY_DAYS`]: Meta's terms for system users
//!   and tokens; [`scope::is_high_privilege`]: which scopes a reviewer must
//!   not miss.
//! - [`url::check_transport`]: the one https-or-loopback rule.
//! - [`json_schema`]: the JSON Schema of one of graphform's documents, as
//!   `schemas/*.schema.json` holds it.
//! - [`style`]: the one palette every renderer paints with; [`Chain`]: an
//!   error and its causes on one line.

pub mod address;
mod chain;
mod schema;
pub mod scope;
mod secret;
pub mod style;
pub mod time;
mod token;
pub mod url;

pub use address::{Address, AddressError, InstallAddress, SystemUserAddress, TokenAddress};
pub use chain::Chain;
pub use schema::json_schema;
pub use secret::{Fingerprint, Secret, fingerprint};
pub use time::{Duration, Timestamp};
pub use token::{ExpiryMode, Role, SIXTY_DAYS};
