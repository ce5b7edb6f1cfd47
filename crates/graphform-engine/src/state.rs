//! What is true now: the observed [`State`] the planner compares the policy
//! with.
//!
//! `observe` builds it from the Graph API, the store and the state
//! document; tests build it in code. It holds no secret: tokens appear only
//! as their stored metadata and fingerprints.

use std::collections::{BTreeMap, BTreeSet};

use graphform_store::TokenMetadata;
use graphform_types::{Role, Timestamp, TokenAddress};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::document::StateDocument;

/// Everything the planner needs to know about the live world.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Per business *name* (as in the policy): what Meta lists.
    pub businesses: BTreeMap<String, ObservedBusiness>,
    /// Per token address: what the store holds, and what Meta says of it.
    pub tokens: BTreeMap<TokenAddress, ObservedToken>,
    /// graphform's own records (IDs, installs, journal).
    pub document: StateDocument,
}

/// A business as Meta lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedBusiness {
    /// Meta's business ID.
    pub id: String,
    /// Every system user of the business, managed or not, sorted by ID.
    pub system_users: Vec<ObservedSystemUser>,
    /// The system user whose token graphform acts with as the business's
    /// admin (`user_id` of the admin token's `debug_token`); `None` when
    /// Meta did not say (or the admin is a person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_system_user_id: Option<String>,
    /// What `debug_token` said of the admin token graphform acts with;
    /// `None` when it was not asked (a state built in code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminToken>,
}

/// What `debug_token` said of a business's admin token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminToken {
    /// Its health: [`Health::NoVerdict`] when the call itself failed, with
    /// why.
    pub health: Health,
    /// The user it acts as (`user_id`), when Meta said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// A system user as Meta lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObservedSystemUser {
    /// Its (app-scoped) ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `ADMIN`, `EMPLOYEE`, … (`None` when Meta did not say).
    pub role: Option<Role>,
}

/// A stored token record and the health of its values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedToken {
    /// The current value.
    pub current: ObservedValue,
    /// The replaced value waiting for revocation, if any.
    pub previous: Option<ObservedPrevious>,
}

/// A replaced value and when it may be revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedPrevious {
    /// The value.
    pub value: ObservedValue,
    /// When graphform may revoke it.
    pub revoke_after: Timestamp,
}

/// One stored token value: its record, and what `debug_token` said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedValue {
    /// What graphform recorded when it stored the value.
    pub metadata: TokenMetadata,
    /// What Meta says now.
    pub health: Health,
}

/// What `debug_token` says of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Health {
    /// The token works.
    Valid {
        /// When it expires; `None` = never (`expires_at: 0`).
        expires_at: Option<Timestamp>,
        /// The scopes Meta says it has.
        scopes: BTreeSet<String>,
        /// The app Meta says it belongs to.
        app_id: String,
    },
    /// The token no longer works.
    Dead {
        /// Why.
        cause: DeadCause,
        /// Meta's error code and subcode, when given (e.g. 190/463).
        code: Option<i64>,
        /// Meta's subcode.
        subcode: Option<i64>,
    },
    /// `debug_token` answered, but gave no verdict (no `is_valid`, or
    /// `is_valid: false` without a token error): the token may still work.
    /// It is neither trusted nor replaced; the plan warns.
    NoVerdict {
        /// What the answer lacked, for the warning.
        reason: String,
    },
    /// Not checked: the value's app is not in the policy, so graphform
    /// has no app secret to ask `debug_token` with.
    Unknown {
        /// The value's app.
        app_id: String,
    },
}

/// Why a token is dead.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeadCause {
    /// It reached its expiry (190/463).
    Expired,
    /// Its app was uninstalled for the system user (190/458).
    AppUninstalled,
    /// It was revoked or invalidated (by graphform or anyone else).
    Revoked,
    /// Meta says it is invalid and gives no more detail.
    Invalid,
}

impl DeadCause {
    /// The cause from a `debug_token` error subcode.
    pub fn from_subcode(subcode: Option<i64>) -> Self {
        match subcode {
            Some(463) => Self::Expired,
            Some(458) => Self::AppUninstalled,
            Some(460 | 467 | 492) => Self::Revoked,
            _ => Self::Invalid,
        }
    }

    /// A short phrase for plan reasons, read after "the current token
    /// was" and after "the current token is dead:" alike.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::AppUninstalled => "killed by uninstalling its app for the system user",
            Self::Revoked => "revoked or invalidated outside graphform",
            Self::Invalid => "reported invalid by Meta",
        }
    }
}

impl Health {
    /// Whether the token works.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}
