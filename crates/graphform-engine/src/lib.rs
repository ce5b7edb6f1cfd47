//! graphform's engine: observe the live world, plan (a pure function) and
//! apply (design.md §1).
//!
//! - [`state`]: what is true now ([`State`]), as observed.
//! - [`plan()`]: `plan(&Spec, &State, now, &PlanOptions) -> Plan`, pure and
//!   deterministic; every rule of design.md §3 lives there.
//! - [`document`]: graphform's own records kept in the store.
//!
//! - [`observe`]: builds the [`State`] from the Graph API and the store;
//!   read-only.
//!
//! - [`apply`]: executes a plan's changes, journaled and crash-safe, under
//!   the store's lease.

pub mod apply;
pub mod document;
pub mod observe;
mod plan;
pub mod plan_file;
pub mod provider;
pub mod state;

pub use plan::{
    Action, Change, Notice, NoticeKind, NoticeLevel, PLAN_FORMAT_VERSION, Plan, PlanOptions,
    Snapshot, TimelineEntry, TokenStatus, plan, plan_schema, policy_hash, state_hash,
};
pub use provider::Provider;
pub use state::State;
