//! Who is calling: the token (parameter or `Authorization` header), its
//! `appsecret_proof` in both forms (graph-api.md §5), and whether the token
//! is still alive (§6: 190 with its subcode).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::graph_error::GraphError;
use crate::params::Params;
use crate::request::ApiRequest;
use crate::state::{State, Subject};

/// How long an `appsecret_time` proof stays valid.
const PROOF_TIME_WINDOW: i64 = 5 * 60;

/// The authenticated caller of one call.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// An app access token, `app_id|secret`.
    App { app_id: String },
    /// A system-user or admin-user token.
    Token { subject: Subject, app_id: String },
}

impl Caller {
    /// Whether the caller belongs to the business (any role).
    pub(crate) fn member_of(&self, st: &State, business_id: &str) -> bool {
        match self {
            Caller::App { .. } => false,
            Caller::Token { subject, .. } => match subject {
                Subject::SystemUser(id) => st
                    .system_users
                    .get(id)
                    .is_some_and(|su| su.business_id == business_id),
                Subject::AdminUser(id) => st
                    .admin_users
                    .get(id)
                    .is_some_and(|u| u.businesses.iter().any(|b| b == business_id)),
            },
        }
    }

    /// Whether the caller is an admin (admin user or admin system user) of
    /// the business.
    pub(crate) fn admin_of(&self, st: &State, business_id: &str) -> bool {
        match self {
            Caller::Token {
                subject: Subject::SystemUser(id),
                ..
            } => st
                .system_users
                .get(id)
                .is_some_and(|su| su.business_id == business_id && su.role.is_admin()),
            other => other.member_of(st, business_id),
        }
    }

    /// Whether the caller is this system user.
    pub(crate) fn is_system_user(&self, system_user_id: &str) -> bool {
        matches!(self, Caller::Token { subject: Subject::SystemUser(id), .. } if id == system_user_id)
    }

    /// `(id, name)` for a new object's `created_by`.
    pub(crate) fn creator(&self, st: &State) -> Option<(String, String)> {
        match self {
            Caller::App { .. } => None,
            Caller::Token { subject, .. } => {
                Some((subject.id().to_owned(), st.subject_name(subject)))
            }
        }
    }

    /// The app the caller's token belongs to.
    pub(crate) fn app_id(&self) -> &str {
        match self {
            Caller::App { app_id } | Caller::Token { app_id, .. } => app_id,
        }
    }
}

/// Authenticates the token a request carries.
pub(crate) fn authenticate(st: &State, req: &ApiRequest) -> Result<Caller, GraphError> {
    authenticate_token(st, req.token(), &req.params)
}

/// Authenticates a token with the proof parameters of its request:
/// 104 without a token, 190 for an unknown one, the §5 errors for a
/// missing or wrong proof, then 190/subcode for a dead token.
pub(crate) fn authenticate_token(
    st: &State,
    token: Option<&str>,
    params: &Params,
) -> Result<Caller, GraphError> {
    let token = token.ok_or_else(GraphError::access_token_required)?;
    if token.contains('|') {
        let app = st.app_token(token).ok_or_else(GraphError::bad_app_token)?;
        return Ok(Caller::App {
            app_id: app.id.clone(),
        });
    }
    let index = st
        .find_token(token)
        .ok_or_else(GraphError::cannot_parse_token)?;
    let record = &st.tokens[index];
    if let Some(app) = st.apps.get(&record.app_id) {
        check_proof(
            st.now(),
            token,
            app.secret.expose(),
            app.require_appsecret_proof,
            params,
        )?;
    }
    if let Some(error) = record.error(st.now()) {
        return Err(error);
    }
    Ok(Caller::Token {
        subject: record.subject.clone(),
        app_id: record.app_id.clone(),
    })
}

/// Checks `appsecret_proof` (and `appsecret_time`, when present) for a
/// token of an app with this secret.
fn check_proof(
    now: i64,
    token: &str,
    secret: &str,
    required: bool,
    params: &Params,
) -> Result<(), GraphError> {
    let Some(proof) = params.get("appsecret_proof") else {
        return if required {
            Err(GraphError::proof_required())
        } else {
            Ok(())
        };
    };
    let expected = match params.get("appsecret_time") {
        None => appsecret_proof(secret, token),
        Some(time) => {
            let time: i64 = time.parse().map_err(|_| GraphError::invalid_proof())?;
            if (now - time).abs() > PROOF_TIME_WINDOW {
                return Err(GraphError::invalid_proof());
            }
            appsecret_proof(secret, &format!("{token}|{time}"))
        }
    };
    if proof == expected {
        Ok(())
    } else {
        Err(GraphError::invalid_proof())
    }
}

/// HMAC-SHA256 keyed by the app secret over `message`, lowercase hex.
pub(crate) fn appsecret_proof(secret: &str, message: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 accepts a key of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_matches_the_python_sdk() {
        // Known answer: hmac.new(b"secret", b"EAAtoken", sha256).hexdigest()
        assert_eq!(
            appsecret_proof("secret", "EAAtoken"),
            "61b5257ec5c5a53e992ae4d93afa0975e1f1be671788f65a476b0689ad5d5dd5"
        );
    }

    #[test]
    fn time_form_expires_after_five_minutes() {
        let mut params = Params::default();
        params.insert("appsecret_time", "1000");
        params.insert("appsecret_proof", appsecret_proof("s", "EAAt|1000"));
        assert!(check_proof(1000, "EAAt", "s", true, &params).is_ok());
        assert!(check_proof(1300, "EAAt", "s", true, &params).is_ok());
        assert_eq!(
            check_proof(1301, "EAAt", "s", true, &params),
            Err(GraphError::invalid_proof())
        );
        params.insert("appsecret_time", "1000.5");
        assert_eq!(
            check_proof(1000, "EAAt", "s", true, &params),
            Err(GraphError::invalid_proof())
        );
    }

    #[test]
    fn missing_proof_only_fails_when_required() {
        let params = Params::default();
        assert_eq!(
            check_proof(0, "EAAt", "s", true, &params),
            Err(GraphError::proof_required())
        );
        assert!(check_proof(0, "EAAt", "s", false, &params).is_ok());
    }
}
