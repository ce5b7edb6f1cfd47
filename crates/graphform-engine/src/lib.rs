//! graphform's engine: observe the live world, plan (a pure function) and
//! apply (design.md §1).
//!
//! - [`state`]: what is true now ([`State`]), as observed.
//! - [`plan()`]: `plan(&Spec, &State, now, &PlanOptions) -> Plan`, pure and
//!   deterministic; every rule of design.md §3 lives there.
//! - [`document`]: graphform's own records kept in the store.
//!
//! Observation and apply (the only parts that do I/O) arrive with their
//! issues; nothing here talks to Meta or a store yet.

pub mod document;
mod plan;
pub mod state;
pub mod time;

pub use plan::{
    Action, Change, Notice, NoticeKind, NoticeLevel, PLAN_FORMAT_VERSION, Plan, PlanOptions,
    Snapshot, TimelineEntry, plan, policy_hash, state_hash,
};
pub use state::State;
