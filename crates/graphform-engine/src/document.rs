//! The state document: graphform's own records, kept in the store beside
//! the token values. It holds no secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use graphform_types::{Address, InstallAddress, SystemUserAddress, Timestamp};

use crate::state::{ObservedToken, ObservedValue};

/// The state document's format version.
pub const DOCUMENT_FORMAT_VERSION: u32 = 1;

/// What graphform remembers between runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDocument {
    /// Format version, for upgrades.
    pub format_version: u32,
    /// System users graphform created or adopted: address → Meta ID.
    #[serde(default)]
    pub system_users: BTreeMap<SystemUserAddress, String>,
    /// App installs graphform made: install address → what was installed.
    /// The Graph API cannot list installs, so this is the only record.
    #[serde(default)]
    pub installs: BTreeMap<InstallAddress, InstallRecord>,
    /// Mutations started and not yet known to be finished (design.md §1:
    /// every Graph mutation is journaled before it is sent). An entry left
    /// by an interrupted apply is resolved by the next one, or, for a token
    /// that may have been issued and never stored, kept and reported until
    /// the system user's tokens are invalidated.
    #[serde(default)]
    pub journal: Vec<Intent>,
    /// Every mutation graphform made, oldest first; append-only.
    #[serde(default)]
    pub audit: Vec<AuditEntry>,
}

impl Default for StateDocument {
    fn default() -> Self {
        Self {
            format_version: DOCUMENT_FORMAT_VERSION,
            system_users: BTreeMap::new(),
            installs: BTreeMap::new(),
            journal: Vec::new(),
            audit: Vec::new(),
        }
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
    /// A token may have been issued and never stored.
    PossiblyOrphaned,
}

impl Intent {
    /// Whether the intent is settled, or a token may have leaked.
    ///
    /// Only token-creating calls can leave something nobody holds: a
    /// system-user creation is found by name, an install is idempotent, a
    /// revoke or invalidation is checked through `debug_token` of the
    /// stored tokens. A token-creating call is settled when a value stored
    /// at its address records this intent as its origin (its answer was
    /// stored).
    pub fn resolution(&self, stored: Option<&ObservedToken>) -> Resolution {
        let IntentKind::NewToken { .. } = self.kind else {
            return Resolution::Settled;
        };
        let produced =
            |value: &ObservedValue| value.metadata.issued_by.as_deref() == Some(self.id.as_str());
        let stored_it = stored.is_some_and(|token| {
            produced(&token.current) || token.previous.as_ref().is_some_and(|p| produced(&p.value))
        });
        if stored_it {
            Resolution::Settled
        } else {
            Resolution::PossiblyOrphaned
        }
    }
}
