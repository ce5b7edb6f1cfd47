//! The records apply keeps while it works on one system user: its
//! [`SystemUserDocument`] as last written, and the edits waiting for the
//! next write.
//!
//! A system user's changes run in plan order, in batches: a creation or an
//! invalidation is a batch of its own (what follows depends on its
//! outcome), and everything between them is one batch. One write of the
//! document both settles the batch before (its records, audit entries and
//! finished journal entries) and journals every Graph mutation of the
//! batch after, before any of them is sent; a last write settles the last
//! batch. So a system user's document is written once per batch plus once,
//! however many tokens it has, while every mutation is still journaled
//! before it is sent.
//!
//! The token changes of a batch are journaled as a chain (each names the
//! one before it, [`IntentKind::NewToken::after`]) and sent one after
//! another, each only once the one before it has its answer stored: after
//! a kill, an entry whose predecessor is unstored was never sent
//! ([`Resolution::NeverSent`](crate::document::Resolution::NeverSent)), so
//! at most one token per system user is in doubt, as when each entry was
//! written alone.

use std::collections::BTreeSet;

use graphform_store::{Store, Version};
use graphform_types::{InstallAddress, SystemUserAddress};

use crate::document::{AuditEntry, InstallRecord, Intent, IntentKind, SystemUserDocument};
use crate::provider::Provider;

use super::{Applier, ChangeError};

/// One system user's document and what its next write adds.
pub(super) struct Ledger {
    user: SystemUserAddress,
    document: SystemUserDocument,
    /// The version last read or written; `None`: none is stored yet.
    version: Option<Version>,
    pending: Pending,
    /// Journal entries whose call was sent (or was about to be).
    sent: BTreeSet<String>,
}

/// Edits waiting for the next write of a system user's document.
#[derive(Default)]
pub(super) struct Pending {
    /// Journal entries to drop: their outcome is recorded, or they were
    /// never sent, or they failed with nothing done.
    settled: Vec<String>,
    /// The system user's Meta ID, once created or adopted.
    id: Option<String>,
    /// Install records to add (`Some`) or drop (`None`).
    installs: Vec<(InstallAddress, Option<InstallRecord>)>,
    /// Audit entries to append.
    audit: Vec<AuditEntry>,
}

impl Ledger {
    /// Starts from `document`, stored at `version`.
    pub(super) fn new(
        user: SystemUserAddress,
        document: SystemUserDocument,
        version: Option<Version>,
    ) -> Self {
        Self {
            user,
            document,
            version,
            pending: Pending::default(),
            sent: BTreeSet::new(),
        }
    }

    /// Marks the call of journal entry `intent_id` as sent.
    pub(super) fn mark_sent(&mut self, intent_id: &str) {
        self.sent.insert(intent_id.to_owned());
    }

    /// Whether the call of journal entry `intent_id` was sent.
    pub(super) fn was_sent(&self, intent_id: &str) -> bool {
        self.sent.contains(intent_id)
    }

    /// Adds records found elsewhere (a format-1 root document's) to the
    /// document; the next write stores them.
    pub(super) fn absorb(&mut self, records: SystemUserDocument) {
        let document = &mut self.document;
        if records.id.is_some() {
            document.id = records.id;
        }
        document.installs.extend(records.installs);
        document.journal.extend(records.journal);
        document.record(records.audit);
    }

    /// Whether the next write has anything to settle.
    pub(super) fn has_pending(&self) -> bool {
        let Pending {
            settled,
            id,
            installs,
            audit,
        } = &self.pending;
        !(settled.is_empty() && id.is_none() && installs.is_empty() && audit.is_empty())
    }

    /// The journal entry `intent_id` is finished: its outcome is recorded
    /// (or nothing was done).
    pub(super) fn settle(&mut self, intent_id: &str) {
        self.pending.settled.push(intent_id.to_owned());
    }

    /// Records the system user's Meta ID.
    pub(super) fn set_id(&mut self, id: String) {
        self.pending.id = Some(id);
    }

    /// Records an install (`Some`) or drops its record (`None`).
    pub(super) fn set_install(&mut self, install: InstallAddress, record: Option<InstallRecord>) {
        self.pending.installs.push((install, record));
    }

    /// Appends to the audit trail.
    pub(super) fn audit(&mut self, entry: AuditEntry) {
        self.pending.audit.push(entry);
    }

    /// Settles the journal entries of token-creating calls for the
    /// system user `system_user_id` made before this batch: an
    /// invalidation killed whatever token they may have made.
    pub(super) fn settle_invalidated(&mut self, system_user_id: &str, except: &str) {
        let invalidated: Vec<String> = self
            .document
            .journal
            .iter()
            .filter(|intent| intent.id != except)
            .filter(|intent| {
                matches!(&intent.kind, IntentKind::NewToken { system_user_id: id, .. } if id == system_user_id)
            })
            .map(|intent| intent.id.clone())
            .collect();
        self.pending.settled.extend(invalidated);
    }

    /// Writes the document: what is pending is applied, and `journal` is
    /// added to the journal. Compare-and-set against the version last
    /// read or written; counted as a mutation. On failure nothing pending
    /// is lost: a later write may carry it.
    pub(super) async fn write<S: Store, P: Provider>(
        &mut self,
        applier: &Applier<'_, S, P>,
        journal: Vec<Intent>,
    ) -> Result<(), ChangeError> {
        let mut next = self.document.clone();
        let Pending {
            settled,
            id,
            installs,
            audit,
        } = &self.pending;
        next.journal.retain(|intent| !settled.contains(&intent.id));
        next.journal.extend(journal);
        if let Some(id) = id {
            next.id = Some(id.clone());
        }
        for (install, record) in installs {
            match record {
                Some(record) => next.installs.insert(install.clone(), record.clone()),
                None => next.installs.remove(install),
            };
        }
        next.record(audit.iter().cloned());
        let bytes = serde_json::to_vec(&next).map_err(ChangeError::EncodeDocument)?;
        applier.mutation()?;
        let version = applier
            .store
            .write_system_user_state(&self.user, &bytes, self.version.as_ref())
            .await
            .map_err(|error| ChangeError::WriteDocument {
                user: self.user.clone(),
                source: Box::new(error),
            })?;
        self.document = next;
        self.version = Some(version);
        self.pending = Pending::default();
        Ok(())
    }
}
