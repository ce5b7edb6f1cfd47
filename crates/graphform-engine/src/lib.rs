//! graphform's engine: observe the live world, plan (a pure function) and
//! apply (design.md §1).
//!
//! - [`state`]: what is true now ([`State`]), as observed.
//! - [`observe`]: builds the [`State`] from the Graph API and the store;
//!   read-only.
//! - [`plan()`] (`src/plan/`): `plan(&Spec, &State, now, &PlanOptions) ->
//!   Plan`, pure and deterministic; every rule of design.md §3 lives there
//!   (`policy.rs`: businesses, system users, installs; `tokens.rs`: the
//!   token rules).
//! - [`plan_file`]: the plan a reviewer approved, written atomically and
//!   read back with its format version checked.
//! - [`apply`] (`src/apply/`): executes a plan's changes, journaled and
//!   crash-safe, under the store's lease; typed errors ([`apply::ApplyError`],
//!   [`apply::ChangeError`]) and the JSON report.
//! - [`provider`]: the seam to Meta ([`Provider`]): the Graph client over
//!   HTTP, or an in-memory model in tests.
//! - [`admin`]: the health of the admin credentials, and Graph errors
//!   that blame one turned into the environment variable to fix.
//! - [`document`]: graphform's own records kept in the store (journal,
//!   audit trail, system user and install records, the last apply).
//! - [`import`]: adopts a token made outside graphform (`graphform
//!   import`), checked with `debug_token`, stored under the apply lease.
//! - [`lock`]: the apply lock as `graphform lock status` reports it.
//! - [`status`]: where every managed token stands, read from the store
//!   (and, on request, `debug_token`) for `graphform status` and
//!   monitoring.

pub mod admin;
pub mod apply;
pub mod document;
pub mod import;
pub mod lock;
pub mod observe;
mod plan;
pub mod plan_file;
pub mod provider;
pub mod state;
pub mod status;

pub use plan::{
    Action, Change, Maintenance, Notice, NoticeKind, NoticeLevel, Origin, PLAN_FORMAT_VERSION,
    Plan, PlanOptions, RevokeNowError, Snapshot, TimelineEntry, TokenStatus, check_options,
    next_time_driven, plan, plan_schema, policy_hash, state_hash,
};
pub use provider::Provider;
pub use state::State;
