//! The Meta Graph API client: every call graphform makes to Meta goes through
//! this crate (design.md §5).
//!
//! Secrets and fingerprints come from [`graphform_types`] and are re-exported
//! here for the client's users.

pub use graphform_types::{Secret, fingerprint};
