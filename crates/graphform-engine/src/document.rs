//! The state document: graphform's own records, kept in the store beside
//! the token values. It holds no secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::state::UnixTime;

/// The state document's format version.
pub const DOCUMENT_FORMAT_VERSION: u32 = 1;

/// What graphform remembers between runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDocument {
    /// Format version, for upgrades.
    pub format_version: u32,
    /// System users graphform created or adopted: address → Meta ID.
    #[serde(default)]
    pub system_users: BTreeMap<String, String>,
    /// App installs graphform made: install address → what was installed.
    /// The Graph API cannot list installs, so this is the only record.
    #[serde(default)]
    pub installs: BTreeMap<String, InstallRecord>,
}

impl Default for StateDocument {
    fn default() -> Self {
        Self {
            format_version: DOCUMENT_FORMAT_VERSION,
            system_users: BTreeMap::new(),
            installs: BTreeMap::new(),
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
    pub installed_at: UnixTime,
}
