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
use graphform_types::{InstallAddress, SystemUserAddress, Timestamp, TokenAddress};

use crate::document::{AuditEntry, InstallRecord, Intent, IntentKind, SystemUserDocument};
use crate::provider::Provider;

use super::{Applier, ChangeError};

/// One system user's document as last written, and as its next write
/// will store it.
pub(super) struct Ledger {
    user: SystemUserAddress,
    /// The document as last read or written.
    written: SystemUserDocument,
    /// The document with every edit since: what the next write stores
    /// (with that write's new journal entries).
    next: SystemUserDocument,
    /// The version last read or written; `None`: none is stored yet.
    version: Option<Version>,
    /// Journal entries whose call was sent (or was about to be).
    sent: BTreeSet<String>,
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
            next: document.clone(),
            written: document,
            version,
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
        let next = &mut self.next;
        if records.id.is_some() {
            next.id = records.id;
        }
        next.installs.extend(records.installs);
        next.retiring.extend(records.retiring);
        next.journal.extend(records.journal);
        next.record(records.audit);
    }

    /// Whether the next write has anything to settle.
    pub(super) fn has_pending(&self) -> bool {
        self.next != self.written
    }

    /// The journal entry `intent_id` is finished: its outcome is recorded
    /// (or nothing was done).
    pub(super) fn settle(&mut self, intent_id: &str) {
        self.next.journal.retain(|intent| intent.id != intent_id);
    }

    /// Records the system user's Meta ID.
    pub(super) fn set_id(&mut self, id: String) {
        self.next.id = Some(id);
    }

    /// Records an install (`Some`) or drops its record (`None`).
    pub(super) fn set_install(&mut self, install: InstallAddress, record: Option<InstallRecord>) {
        match record {
            Some(record) => self.next.installs.insert(install, record),
            None => self.next.installs.remove(&install),
        };
    }

    /// Schedules the revocation of a token the policy no longer names
    /// (`Some`: when it may be revoked), or cancels it (`None`).
    pub(super) fn set_retiring(&mut self, token: &TokenAddress, revoke_after: Option<Timestamp>) {
        match revoke_after {
            Some(at) => self.next.retiring.insert(token.clone(), at),
            None => self.next.retiring.remove(token),
        };
    }

    /// Appends to the audit trail.
    pub(super) fn audit(&mut self, entry: AuditEntry) {
        self.next.record([entry]);
    }

    /// Settles the journal entries of token-creating calls for the
    /// system user `system_user_id`, but `except`: an invalidation killed
    /// whatever token they may have made.
    pub(super) fn settle_invalidated(&mut self, system_user_id: &str, except: &str) {
        self.next.journal.retain(|intent| {
            intent.id == except
                || !matches!(&intent.kind, IntentKind::NewToken { system_user_id: id, .. } if id == system_user_id)
        });
    }

    /// Writes the document with every edit since the last write, and
    /// `journal` added to its journal. Compare-and-set against the version
    /// last read or written; counted as a mutation. On failure no edit is
    /// lost (a later write may carry it) and `journal` is not kept: its
    /// calls are not sent.
    pub(super) async fn write<S: Store, P: Provider>(
        &mut self,
        applier: &Applier<'_, S, P>,
        journal: Vec<Intent>,
    ) -> Result<(), ChangeError> {
        let mut next = self.next.clone();
        next.journal.extend(journal);
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
        self.written = next.clone();
        self.next = next;
        self.version = Some(version);
        Ok(())
    }
}
