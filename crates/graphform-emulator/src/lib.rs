//! A faithful emulator of the Meta Graph API endpoints graphform uses:
//! system users, app installs, access tokens, `debug_token` and batch
//! requests, with the paths, parameters, JSON shapes, error codes and token
//! semantics of `graph-api.md`, plus a control API (`/_emulator/…`) for the
//! clock, fault injection (Graph errors, throttling, and network faults:
//! gateway pages and errors, lost answers, custom answers), quirks
//! (documented answer variants), drift and inspection, also offered as
//! methods of [`Emulator`] for Rust tests.
//!
//! It is a product feature (`graphform emulator`, `graphform demo`), not a
//! test mock. It is not a general Graph API: it serves only the endpoints
//! in `docs/emulator.md`, and it listens on loopback addresses only.
//!
//! Entry point: [`Emulator::start`] with a [`World`] (from
//! [`World::from_file`] or [`World::demo`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), graphform_emulator::Error> {
//! use graphform_emulator::{Emulator, World};
//!
//! let emulator = Emulator::start(World::demo()).await?;
//! println!("{}", emulator.world_summary());
//! // … point GRAPHFORM_GRAPH_URL at emulator.base_url() …
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod auth;
mod clock;
mod connection;
mod control;
mod counters;
mod error;
mod faults;
mod graph_error;
mod inspect;
mod network;
mod params;
mod quirks;
mod request;
mod routes;
mod server;
mod state;
mod summary;
mod vocabulary;
mod world;

pub use counters::Counters;
pub use error::Error;
pub use faults::FaultConfig;
pub use inspect::{
    AdminUserSnapshot, AppSnapshot, BusinessSnapshot, InstallSnapshot, StateSnapshot,
    SystemUserSnapshot, TokenOrigin, TokenSnapshot, TokenStatus,
};
pub use network::{ANY_ENDPOINT, CustomAnswer, Cut, GatewayAnswer, NetworkFault, PendingFault};
pub use server::Emulator;
pub use summary::{
    AdminTokenSummary, AppSummary, BusinessSummary, SystemUserSummary, WorldSummary,
};
pub use vocabulary::{Role, SYSTEM_USER_SCOPES, is_system_user_scope};
pub use world::{
    AccessLevel, World, WorldAdminToken, WorldAdminUser, WorldApp, WorldBusiness, WorldInstall,
    WorldSystemUser,
};
