//! The state document: graphform's own records, kept in the store beside
//! the token values. It holds no secret.
//!
//! In the store the records are sharded: each system user's records (its
//! ID, installs, journal and recent audit trail) are a
//! [`SystemUserDocument`] of their own, and the root document (the store's
//! state document) names the system users that have one. A large apply
//! thus writes each object a few times rather than one object thousands of
//! times: each write stays small, and no object reaches a backend's
//! per-object version limits (Secrets Manager's, docs/stores.md). A root
//! document of format 1 holds everything itself; it is read as it is, and
//! the next apply moves its records into system-user documents
//! ([`StateDocument::take_records`]).
//!
//! [`StateDocument`] is also what observation assembles from all of them:
//! the one view of graphform's records the planner reads.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use graphform_types::{Address, InstallAddress, SystemUserAddress, Timestamp, TokenAddress};

use crate::state::{ObservedToken, ObservedValue};

/// The state document's format version: 2 since system users' records
/// live in documents of their own.
pub const DOCUMENT_FORMAT_VERSION: u32 = 2;

/// How many audit entries a system user's document keeps: the most
/// recent. The full record of a run is its JSON report (`apply --json`),
/// which pipelines keep as an artifact; a bounded trail keeps every write
/// of the document small however long graphform runs.
pub const AUDIT_KEPT: usize = 200;

/// What graphform remembers between runs: as stored at the root, or as
/// observation assembles it from the root and every system user's
/// document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDocument {
    /// Format version, for upgrades.
    pub format_version: u32,
    /// The system users whose records are in a [`SystemUserDocument`] of
    /// their own. A system user is named here before its document is
    /// first written, so observation finds every journal entry.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub documents: BTreeSet<SystemUserAddress>,
    /// System users graphform created or adopted: address → Meta ID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub system_users: BTreeMap<SystemUserAddress, String>,
    /// App installs graphform made: install address → what was installed.
    /// The Graph API cannot list installs, so this is the only record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub installs: BTreeMap<InstallAddress, InstallRecord>,
    /// Tokens removed from the policy and kept working until their grace
    /// ends: address → when they may be revoked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retiring: BTreeMap<TokenAddress, Timestamp>,
    /// Mutations started and not yet known to be finished (design.md §1:
    /// every Graph mutation is journaled before it is sent). An entry left
    /// by an interrupted apply is resolved by the next one, or, for a token
    /// that may have been issued and never stored, kept and reported until
    /// the system user's tokens are invalidated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journal: Vec<Intent>,
    /// Mutations graphform made, oldest first (each system user's most
    /// recent [`AUDIT_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditEntry>,
    /// The last apply run that held the lease, whatever it did (root
    /// document only; `graphform status`, monitoring). The audit trail
    /// records mutations; this records runs, a run with nothing to do
    /// included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_apply: Option<LastApply>,
    /// When the last apply whose every change was made finished
    /// ([`ApplyOutcome::Succeeded`] or [`ApplyOutcome::Held`]; root
    /// document only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_apply: Option<Timestamp>,
}

impl Default for StateDocument {
    fn default() -> Self {
        Self {
            format_version: DOCUMENT_FORMAT_VERSION,
            documents: BTreeSet::new(),
            system_users: BTreeMap::new(),
            installs: BTreeMap::new(),
            retiring: BTreeMap::new(),
            journal: Vec::new(),
            audit: Vec::new(),
            last_apply: None,
            last_successful_apply: None,
        }
    }
}

/// One apply run, as the root document records it at its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LastApply {
    /// When it started (graphform's clock: the time its plan was made at).
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// How it ended.
    pub outcome: ApplyOutcome,
    /// How many changes it planned, made, failed and skipped.
    pub changes: ChangeCounts,
}

impl LastApply {
    /// Records the end of a run on the root document: `last_apply`, and
    /// `last_successful_apply` unless it failed.
    pub fn record(self, root: &mut StateDocument) {
        if self.outcome != ApplyOutcome::Failed {
            root.last_successful_apply = Some(self.finished_at);
        }
        root.last_apply = Some(self);
    }
}

/// How an apply run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// Every change of the plan was made (none, for a run with nothing to
    /// do).
    Succeeded,
    /// Every change it was allowed to make was made, and others were held
    /// for review (`apply --only`).
    Held,
    /// A change failed, or the run stopped before changing anything
    /// (observation failed, the saved plan no longer matched, …).
    Failed,
}

impl ApplyOutcome {
    /// `succeeded`, `held` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Held => "held",
            Self::Failed => "failed",
        }
    }
}

/// The changes of an apply run, by what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeCounts {
    /// In the plan computed under the lease.
    pub planned: usize,
    /// Made, and their outcome verified.
    pub done: usize,
    /// Failed or unverified.
    pub failed: usize,
    /// Not attempted (held for review, or after a failure).
    pub skipped: usize,
}

/// One system user's records, stored apart from everyone else's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemUserDocument {
    /// Format version ([`DOCUMENT_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Its Meta ID, once graphform created or adopted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// App installs graphform made for it, or saw proven by an imported
    /// token of the app (`installed_at` is then the import's time).
    #[serde(default)]
    pub installs: BTreeMap<InstallAddress, InstallRecord>,
    /// Its tokens removed from the policy and kept working until their
    /// grace ends: address → when they may be revoked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retiring: BTreeMap<TokenAddress, Timestamp>,
    /// Its mutations started and not yet known to be finished.
    #[serde(default)]
    pub journal: Vec<Intent>,
    /// Its most recent mutations, oldest first, at most [`AUDIT_KEPT`].
    #[serde(default)]
    pub audit: Vec<AuditEntry>,
}

impl Default for SystemUserDocument {
    fn default() -> Self {
        Self {
            format_version: DOCUMENT_FORMAT_VERSION,
            id: None,
            installs: BTreeMap::new(),
            retiring: BTreeMap::new(),
            journal: Vec::new(),
            audit: Vec::new(),
        }
    }
}

impl SystemUserDocument {
    /// Appends to the audit trail, keeping the most recent [`AUDIT_KEPT`].
    pub fn record(&mut self, entries: impl IntoIterator<Item = AuditEntry>) {
        self.audit.extend(entries);
        let excess = self.audit.len().saturating_sub(AUDIT_KEPT);
        self.audit.drain(..excess);
    }
}

impl StateDocument {
    /// Adds one system user's records to this view (observation).
    pub fn merge(&mut self, user: &SystemUserAddress, document: SystemUserDocument) {
        if let Some(id) = document.id {
            self.system_users.insert(user.clone(), id);
        }
        self.installs.extend(document.installs);
        self.retiring.extend(document.retiring);
        self.journal.extend(document.journal);
        self.audit.extend(document.audit);
    }

    /// Takes the records a root document of format 1 holds itself, per
    /// system user, leaving the root with only its index: what the next
    /// apply writes into system-user documents.
    pub fn take_records(&mut self) -> BTreeMap<SystemUserAddress, SystemUserDocument> {
        let mut records: BTreeMap<SystemUserAddress, SystemUserDocument> = BTreeMap::new();
        for (user, id) in std::mem::take(&mut self.system_users) {
            records.entry(user).or_default().id = Some(id);
        }
        for (install, record) in std::mem::take(&mut self.installs) {
            records
                .entry(install.system_user().clone())
                .or_default()
                .installs
                .insert(install, record);
        }
        for (token, revoke_after) in std::mem::take(&mut self.retiring) {
            records
                .entry(token.system_user().clone())
                .or_default()
                .retiring
                .insert(token, revoke_after);
        }
        for intent in std::mem::take(&mut self.journal) {
            let user = intent.address.system_user().clone();
            records.entry(user).or_default().journal.push(intent);
        }
        for entry in std::mem::take(&mut self.audit) {
            let user = entry.address.system_user().clone();
            records.entry(user).or_default().record([entry]);
        }
        records
    }

    /// What became of a journaled intent, judged from the whole journal
    /// and the stored tokens.
    ///
    /// Only token-creating calls can leave something nobody holds: a
    /// system-user creation is found by name, an install is idempotent, a
    /// revoke or invalidation is checked through `debug_token` of the
    /// stored tokens. A token-creating call is settled when a value stored
    /// at its address records this intent as its origin (its answer was
    /// stored). One journaled [`after`](IntentKind::NewToken::after) another
    /// was sent only once the other's answer was stored: while the other
    /// is in the journal and unstored, this one was never sent.
    pub fn resolution(&self, intent: &Intent, tokens: &impl StoredOrigins) -> Resolution {
        let IntentKind::NewToken { after, .. } = &intent.kind else {
            return Resolution::Settled;
        };
        if intent.stored(tokens) {
            return Resolution::Settled;
        }
        let before = after
            .as_ref()
            .and_then(|id| self.journal.iter().find(|i| i.id == *id));
        match before {
            Some(before) if !before.stored(tokens) => Resolution::NeverSent,
            _ => Resolution::PossiblyOrphaned,
        }
    }

    /// The journaled token-creating calls whose token may exist at Meta
    /// and be in no store ([`Resolution::PossiblyOrphaned`]): what `plan`
    /// warns about and `status` reports.
    pub fn possibly_orphaned<'a>(
        &'a self,
        tokens: &'a impl StoredOrigins,
    ) -> impl Iterator<Item = &'a Intent> + 'a {
        self.journal
            .iter()
            .filter(move |intent| self.resolution(intent, tokens) == Resolution::PossiblyOrphaned)
    }
}

/// The stored tokens as [`StateDocument::resolution`] reads them: which
/// intent produced each stored value.
pub trait StoredOrigins {
    /// Whether a value stored at `address` (current or replaced) records
    /// the intent `intent_id` as its origin.
    fn records_origin(&self, address: &TokenAddress, intent_id: &str) -> bool;
}

impl StoredOrigins for BTreeMap<TokenAddress, ObservedToken> {
    fn records_origin(&self, address: &TokenAddress, intent_id: &str) -> bool {
        let produced =
            |value: &ObservedValue| value.metadata.issued_by.as_deref() == Some(intent_id);
        self.get(address).is_some_and(|token| {
            produced(&token.current) || token.previous.as_ref().is_some_and(|p| produced(&p.value))
        })
    }
}

/// One app install graphform made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// The system user's ID at install time.
    pub system_user_id: String,
    /// The installed app's ID.
    pub app_id: String,
    /// When.
    pub installed_at: Timestamp,
}

/// A mutation about to be sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Unique: `<started_at>-<pid>-<random>-<n>`.
    pub id: String,
    /// The address the mutation is for.
    pub address: Address,
    /// What is being done.
    pub kind: IntentKind,
    /// When it started (graphform's clock).
    pub started_at: Timestamp,
}

/// The kinds of journaled mutation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntentKind {
    /// `POST /{business}/system_users`.
    CreateSystemUser {
        /// The business.
        business_id: String,
        /// The name.
        name: String,
    },
    /// `POST /{business}/system_users` with `system_user_id`: a rename.
    RenameSystemUser {
        /// The system user.
        system_user_id: String,
        /// Its new name.
        name: String,
    },
    /// `POST /{su}/applications`.
    Install {
        /// The system user.
        system_user_id: String,
        /// The app.
        app_id: String,
    },
    /// A call that creates a token: issue or refresh. If it was sent and
    /// its answer never stored, a valid token exists that nobody holds.
    NewToken {
        /// The system user the token is for.
        system_user_id: String,
        /// The token's app.
        app_id: String,
        /// The change it is for: `issue`, `refresh` or `rotate` (for the
        /// audit trail when a later run settles it).
        #[serde(default = "issue")]
        action: String,
        /// The intent journaled with this one whose token had to be stored
        /// before this call was sent (the previous token change of the
        /// same system user in the same journal write).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// `GET /oauth/revoke` of a stored token.
    Revoke {
        /// The revoked token's fingerprint.
        fingerprint: graphform_store::Fingerprint,
    },
    /// `DELETE /{su}/access_tokens`.
    InvalidateAll {
        /// The system user.
        system_user_id: String,
    },
}

fn issue() -> String {
    "issue".to_owned()
}

/// One mutation made, for the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: Timestamp,
    /// The address.
    pub address: Address,
    /// `create`, `install`, `issue`, `refresh`, `rotate`, `revoke`, `forget`,
    /// `invalidate`.
    pub action: String,
    /// The token acted on (revoke, forget) or replaced (refresh, rotate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<graphform_store::Fingerprint>,
    /// The token produced (issue, refresh, rotate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<graphform_store::Fingerprint>,
    /// The Meta ID involved (system user, app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What became of a journaled intent, judged from the observed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Nothing is left to do or check: the next apply drops the entry.
    Settled,
    /// A token-creating call that was never sent (the one it waited for
    /// never finished): the next apply drops the entry.
    NeverSent,
    /// A token may have been issued and never stored.
    PossiblyOrphaned,
}

impl Intent {
    /// Whether a value stored at the intent's address records this intent
    /// as its origin.
    fn stored(&self, tokens: &impl StoredOrigins) -> bool {
        self.address
            .as_token()
            .is_some_and(|address| tokens.records_origin(address, &self.id))
    }

    /// What a token-creating call whose outcome is unknown leaves behind,
    /// for people: the one wording of `plan`'s warning and invalidation
    /// and of `status`'s problem. The call may have been cut off by a
    /// killed run, or sent and its answer lost (a 502, a dropped
    /// connection): either way graphform cannot tell whether Meta issued
    /// a token.
    pub fn unverified_issue(&self) -> String {
        unverified_issue(self.started_at)
    }
}

/// The words of [`Intent::unverified_issue`] for a call started at
/// `started_at`.
pub fn unverified_issue(started_at: Timestamp) -> String {
    format!(
        "an apply at {started_at} got no verified outcome for a call that issues a token (interrupted, or Meta's answer was lost)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root document written before runs were recorded reads with none;
    /// one with a record writes as a valid state document and reads back.
    #[test]
    fn the_last_apply_record_is_optional_and_round_trips() {
        let old: StateDocument =
            serde_json::from_str(r#"{"format_version":2,"documents":["acme/ci"]}"#)
                .expect("an older root document");
        assert_eq!(
            (old.last_apply.as_ref(), old.last_successful_apply),
            (None, None)
        );
        assert!(
            !serde_json::to_string(&old)
                .expect("json")
                .contains("last_apply"),
            "nothing is written for no record"
        );

        let mut root = old;
        let run = |outcome, finished_at| LastApply {
            started_at: Timestamp::from_unix(1_000),
            finished_at: Timestamp::from_unix(finished_at),
            outcome,
            changes: ChangeCounts {
                planned: 2,
                done: 1,
                failed: 1,
                skipped: 0,
            },
        };
        run(ApplyOutcome::Succeeded, 1_010).record(&mut root);
        run(ApplyOutcome::Failed, 1_020).record(&mut root);
        assert_eq!(
            root.last_successful_apply,
            Some(Timestamp::from_unix(1_010)),
            "a failed run leaves the last success alone"
        );
        let bytes = serde_json::to_vec(&root).expect("json");
        graphform_store::validate_state_document(&bytes).expect("a valid state document");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains(r#""last_apply":{"started_at":1000,"finished_at":1020,"outcome":"failed","changes":{"planned":2,"done":1,"failed":1,"skipped":0}}"#),
            "{text}"
        );
        let back: StateDocument = serde_json::from_slice(&bytes).expect("reads back");
        assert_eq!(back, root);
    }
}
