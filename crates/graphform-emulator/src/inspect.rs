//! The inspection view of the emulator: everything it holds, secrets
//! excepted (tokens by fingerprint only, apps without their secret). It is
//! what `GET /_emulator/state` serialises and [`crate::Emulator::inspect`]
//! returns.

use std::collections::BTreeMap;

use graphform_types::Fingerprint;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::state::{Liveness, Origin, State, Subject};
use crate::vocabulary::Role;
use crate::world::AccessLevel;

/// The emulator's state at one instant (`GET /_emulator/state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StateSnapshot {
    /// Emulator time, Unix seconds; `valid` and `status` are as of then.
    pub now: i64,
    /// Businesses, by ID.
    pub businesses: Vec<BusinessSnapshot>,
    /// Apps, by ID, without secrets.
    pub apps: Vec<AppSnapshot>,
    /// System users, by ID.
    pub system_users: Vec<SystemUserSnapshot>,
    /// Admin users (people), by ID.
    pub admin_users: Vec<AdminUserSnapshot>,
    /// App installs.
    pub installs: Vec<InstallSnapshot>,
    /// Every token the emulator knows, dead ones included, in the order
    /// they came to be. On the wire it is an object keyed by fingerprint
    /// (each entry repeats its `fingerprint`); read back from JSON, the
    /// list is in fingerprint order.
    #[serde(serialize_with = "tokens_as_map", deserialize_with = "tokens_from_map")]
    pub tokens: Vec<TokenSnapshot>,
}

/// A business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BusinessSnapshot {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it refuses tokens that never expire.
    pub requires_expiring_tokens: bool,
    /// Its system users, in creation order.
    pub system_user_ids: Vec<String>,
}

/// An app, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppSnapshot {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The business that owns it.
    pub business_id: String,
    /// Its access level.
    pub access_level: AccessLevel,
    /// Whether calls with its user tokens need `appsecret_proof`.
    pub require_appsecret_proof: bool,
}

/// A system user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SystemUserSnapshot {
    /// Its ID.
    pub id: String,
    /// Its name now (after any rename).
    pub name: String,
    /// Its business.
    pub business_id: String,
    /// Its role.
    pub role: Role,
    /// Unix seconds.
    pub created_time: i64,
    /// The ID of its creator, when created through the API.
    pub created_by: Option<String>,
}

/// An admin user (a person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminUserSnapshot {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The businesses it administers.
    pub businesses: Vec<String>,
}

/// An app installed for a system user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstallSnapshot {
    /// The system user.
    pub system_user_id: String,
    /// The app.
    pub app_id: String,
}

/// Whether a token works, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenStatus {
    /// It works.
    Valid,
    /// Past its `expires_at` (190/463).
    Expired,
    /// Revoked by `GET /oauth/revoke` or drift (190/467).
    Revoked,
    /// Killed by `DELETE /{su}/access_tokens` or drift (190/460).
    Invalidated,
    /// Its app was uninstalled (190/458).
    AppUninstalled,
}

/// How a token came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenOrigin {
    /// From the world file.
    World,
    /// `POST /{su}/access_tokens`.
    Issued,
    /// `GET /oauth/access_token` (`fb_exchange_token`).
    Refreshed,
}

/// A token, by fingerprint (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenSnapshot {
    /// `graphform_types::fingerprint` of the token: the same keyed
    /// fingerprint graphform's store, plans and logs use.
    pub fingerprint: Fingerprint,
    /// `SYSTEM_USER` or `USER` (an admin user's token).
    #[serde(rename = "type")]
    pub token_type: String,
    /// The app it was issued for.
    pub app_id: String,
    /// Its system user (for `SYSTEM_USER` tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_user_id: Option<String>,
    /// Its admin user (for `USER` tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Its scopes, fixed at issue.
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; 0 = never.
    pub expires_at: i64,
    /// `status == valid`.
    pub valid: bool,
    /// Whether it works now, and if not, why.
    pub status: TokenStatus,
    /// A one-line reason when it does not work.
    pub why: Option<String>,
    /// How it came to be.
    pub origin: TokenOrigin,
    /// The token it was refreshed from.
    pub refreshed_from: Option<Fingerprint>,
}

impl StateSnapshot {
    /// The token with this fingerprint (`sha256:…`).
    pub fn token(&self, fingerprint: &str) -> Option<&TokenSnapshot> {
        self.tokens
            .iter()
            .find(|t| t.fingerprint.as_str() == fingerprint)
    }

    /// Every token of a system user, dead ones included.
    pub fn tokens_of<'a>(
        &'a self,
        system_user_id: &'a str,
    ) -> impl Iterator<Item = &'a TokenSnapshot> + 'a {
        self.tokens
            .iter()
            .filter(move |t| t.system_user_id.as_deref() == Some(system_user_id))
    }

    /// Every token of a system user that works now.
    pub fn valid_tokens_of<'a>(
        &'a self,
        system_user_id: &'a str,
    ) -> impl Iterator<Item = &'a TokenSnapshot> + 'a {
        self.tokens_of(system_user_id).filter(|t| t.valid)
    }

    /// The system user with this ID.
    pub fn system_user(&self, id: &str) -> Option<&SystemUserSnapshot> {
        self.system_users.iter().find(|su| su.id == id)
    }

    /// Takes the snapshot.
    pub(crate) fn of(st: &State) -> Self {
        let now = st.now();
        StateSnapshot {
            now,
            businesses: st
                .businesses
                .values()
                .map(|b| BusinessSnapshot {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    requires_expiring_tokens: b.requires_expiring_tokens,
                    system_user_ids: b.system_users.clone(),
                })
                .collect(),
            apps: st
                .apps
                .values()
                .map(|a| AppSnapshot {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    business_id: a.business_id.clone(),
                    access_level: a.access_level,
                    require_appsecret_proof: a.require_appsecret_proof,
                })
                .collect(),
            system_users: st
                .system_users
                .values()
                .map(|su| SystemUserSnapshot {
                    id: su.id.clone(),
                    name: su.name.clone(),
                    business_id: su.business_id.clone(),
                    role: su.role,
                    created_time: su.created_time,
                    created_by: su.created_by.as_ref().map(|(id, _)| id.clone()),
                })
                .collect(),
            admin_users: st
                .admin_users
                .values()
                .map(|u| AdminUserSnapshot {
                    id: u.id.clone(),
                    name: u.name.clone(),
                    businesses: u.businesses.clone(),
                })
                .collect(),
            installs: st
                .installs
                .iter()
                .map(|(su, app)| InstallSnapshot {
                    system_user_id: su.clone(),
                    app_id: app.clone(),
                })
                .collect(),
            tokens: st
                .tokens
                .iter()
                .map(|token| {
                    let liveness = token.liveness(now);
                    let (system_user_id, user_id) = match &token.subject {
                        Subject::SystemUser(id) => (Some(id.clone()), None),
                        Subject::AdminUser(id) => (None, Some(id.clone())),
                    };
                    let (origin, refreshed_from) = match &token.origin {
                        Origin::World => (TokenOrigin::World, None),
                        Origin::Issued => (TokenOrigin::Issued, None),
                        Origin::Refreshed(from) => (TokenOrigin::Refreshed, Some(from.clone())),
                    };
                    TokenSnapshot {
                        fingerprint: token.fingerprint.clone(),
                        token_type: token.subject.token_type().to_owned(),
                        app_id: token.app_id.clone(),
                        system_user_id,
                        user_id,
                        scopes: token.scopes.clone(),
                        issued_at: token.issued_at,
                        expires_at: token.expires_at,
                        valid: liveness == Liveness::Valid,
                        status: match liveness {
                            Liveness::Valid => TokenStatus::Valid,
                            Liveness::Expired => TokenStatus::Expired,
                            Liveness::Revoked => TokenStatus::Revoked,
                            Liveness::Invalidated => TokenStatus::Invalidated,
                            Liveness::AppUninstalled => TokenStatus::AppUninstalled,
                        },
                        why: token.why(now),
                        origin,
                        refreshed_from,
                    }
                })
                .collect(),
        }
    }
}

fn tokens_as_map<S: Serializer>(
    tokens: &[TokenSnapshot],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(tokens.iter().map(|t| (t.fingerprint.as_str(), t)))
}

fn tokens_from_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<TokenSnapshot>, D::Error> {
    let map = BTreeMap::<String, TokenSnapshot>::deserialize(deserializer)?;
    Ok(map.into_values().collect())
}
