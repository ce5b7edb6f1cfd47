//! The health of the credentials graphform acts with: each business's
//! admin token and each app's secret (issue 14).
//!
//! Two things live here, both in the words of the environment variable a
//! person has to fix:
//!
//! - [`credential_warnings`]: what `debug_token` said of each admin token
//!   at observation (valid, of the business's `admin.app`, holding
//!   `business_management`, not expiring within
//!   [`ADMIN_EXPIRY_WARNING`]), for `plan` and `status --check`.
//! - [`CredentialError`]: a Graph error that blames a credential
//!   ([`GraphError::credential_fault`]) turned into the variable to set
//!   and how, rather than Meta's `(#190) OAuthException` text alone.

use graphform_graph::{CredentialFault, GraphError, TokenInvalidReason};
use graphform_spec::{Business, Spec};
use graphform_types::{Duration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::state::{AdminToken, Health};

/// How long before an admin token expires `plan` and `status --check`
/// start warning: two weeks leaves room to issue and roll out a new one.
pub const ADMIN_EXPIRY_WARNING: Duration = Duration::days(14);

/// The scope an admin token needs to manage system users and their
/// tokens.
pub const ADMIN_SCOPE: &str = "business_management";

/// A business's admin credential that needs a person's attention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CredentialWarning {
    /// The business (its policy name).
    pub business: String,
    /// The environment variable holding the credential to fix.
    pub variable: String,
    /// What is wrong and what to do, in one line.
    pub message: String,
}

/// What `debug_token` said of each business's admin token
/// (`admin_of(business name)`: observation's [`State`](crate::state::State) for `plan`, the
/// checks of `status --check`), as warnings. A business whose admin token
/// was not checked (a state built in code) gets none.
pub fn credential_warnings<'a>(
    spec: &Spec,
    admin_of: impl Fn(&str) -> Option<&'a AdminToken>,
    now: Timestamp,
) -> Vec<CredentialWarning> {
    let mut warnings = Vec::new();
    for business in &spec.businesses {
        let Some(admin) = admin_of(&business.name) else {
            continue;
        };
        let variable = &business.admin.token_env;
        let app = &business.apps[&business.admin.app];
        let mut warn = |message: String| {
            warnings.push(CredentialWarning {
                business: business.name.clone(),
                variable: variable.clone(),
                message: format!("the admin token in `{variable}` {message}"),
            });
        };
        match &admin.health {
            Health::Valid {
                expires_at,
                scopes,
                app_id,
            } => {
                if *app_id != app.id {
                    warn(format!(
                        "is a token of app {app_id}, not of `{}` ({}), the business's `admin.app`: set `{variable}` to a token issued for `{}`, or name its app in `admin.app`",
                        business.admin.app, app.id, business.admin.app
                    ));
                }
                if !scopes.contains(ADMIN_SCOPE) {
                    warn(format!(
                        "lacks `{ADMIN_SCOPE}`: graphform cannot create system users or issue tokens with it. Generate one with `{ADMIN_SCOPE}` for an admin system user"
                    ));
                }
                if let Some(expires_at) = expires_at
                    && *expires_at <= now + ADMIN_EXPIRY_WARNING
                {
                    let days = (expires_at.since(now).as_jiff().as_secs() / 86_400).max(0);
                    warn(format!(
                        "expires at {expires_at} (in {days} day{}): generate a new one (a never-expiring token of an admin system user does not need this) and set `{variable}` before then",
                        if days == 1 { "" } else { "s" }
                    ));
                }
            }
            Health::Dead { cause, .. } => warn(format!(
                "is dead ({}): set `{variable}` to a new admin token",
                cause.describe()
            )),
            Health::NoVerdict { reason } => warn(format!(
                "could not be checked: {reason}. If plans keep failing, set `{variable}` to a new admin token"
            )),
            Health::Unknown { .. } => {}
        }
    }
    warnings
}

/// A Graph error that blames a credential the policy names, with the
/// variable to fix.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CredentialError {
    /// What is wrong, naming the variable.
    pub message: String,
    /// What to do.
    pub hint: String,
    /// Meta's answer.
    #[source]
    pub source: Box<GraphError>,
}

impl CredentialError {
    /// The error of a call made with `business`'s admin token (and its
    /// `admin.app`'s secret, for the `appsecret_proof`), if Meta's answer
    /// blames one of them.
    pub fn of_admin(business: &Business, error: GraphError) -> Result<Self, GraphError> {
        let Some(fault) = error.credential_fault(false) else {
            return Err(error);
        };
        let token = &business.admin.token_env;
        let app_name = &business.admin.app;
        let app = &business.apps[app_name];
        let secret = &app.secret_env;
        let name = &business.name;
        let new_token = format!(
            "set `{token}` to a token of an admin system user of business `{name}` ({}) with `{ADMIN_SCOPE}`, issued for app `{app_name}` (Business Settings → Users → System users → Generate new token)",
            business.id
        );
        let (message, hint) = match fault {
            CredentialFault::TokenExpired => (
                format!("the admin token in `{token}` (business `{name}`) has expired"),
                new_token,
            ),
            CredentialFault::TokenInvalid(reason) => (
                format!(
                    "the admin token in `{token}` (business `{name}`) is not valid: {}",
                    invalid_reason(reason)
                ),
                new_token,
            ),
            CredentialFault::ProofMismatch | CredentialFault::OtherAppsToken => (
                format!(
                    "Meta refused the admin token in `{token}` with the secret in `{secret}`: they are not of the same app (business `{name}`'s `admin.app` is `{app_name}`, {})",
                    app.id
                ),
                format!(
                    "set `{secret}` to app `{app_name}`'s secret (App Dashboard → App settings → Basic), and check that `{token}` holds a token issued for `{app_name}`"
                ),
            ),
            CredentialFault::AppCredentials => (
                format!(
                    "Meta refused app `{app_name}`'s credentials: the secret in `{secret}` is not its secret"
                ),
                format!(
                    "set `{secret}` to app `{app_name}`'s secret (App Dashboard → App settings → Basic)"
                ),
            ),
            CredentialFault::Permission => (
                format!(
                    "the admin token in `{token}` may not manage business `{name}`: it lacks `{ADMIN_SCOPE}` or admin rights"
                ),
                new_token,
            ),
            _ => return Err(error),
        };
        Ok(Self {
            message,
            hint,
            source: Box::new(error),
        })
    }

    /// The error of a `debug_token` call made with the app token of app
    /// `app_id`, if Meta's answer blames that app's credentials.
    pub fn of_app(spec: &Spec, app_id: &str, error: GraphError) -> Result<Self, GraphError> {
        let Some(CredentialFault::AppCredentials) = error.credential_fault(true) else {
            return Err(error);
        };
        let Some((app_name, app)) = spec
            .businesses
            .iter()
            .flat_map(|business| &business.apps)
            .find(|(_, app)| app.id == app_id)
        else {
            return Err(error);
        };
        let secret = &app.secret_env;
        Ok(Self {
            message: format!(
                "Meta refused app `{app_name}`'s credentials ({app_id}): the secret in `{secret}` is not its secret"
            ),
            hint: format!(
                "set `{secret}` to app `{app_name}`'s secret (App Dashboard → App settings → Basic)"
            ),
            source: Box::new(error),
        })
    }
}

/// Why a token is invalid, in a few words.
fn invalid_reason(reason: TokenInvalidReason) -> &'static str {
    match reason {
        TokenInvalidReason::Expired => "it expired",
        TokenInvalidReason::PasswordChanged => {
            "its session was invalidated (all tokens of its user were invalidated, or Meta reset them)"
        }
        TokenInvalidReason::InvalidToken | TokenInvalidReason::InvalidSession => "it was revoked",
        TokenInvalidReason::AppNotInstalled => "its app is no longer installed for its user",
        _ => "Meta does not accept it (mistyped, cut short, or not a token Meta issued)",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use graphform_types::Timestamp;

    use super::*;
    use crate::state::{DeadCause, ObservedBusiness, State};

    const POLICY: &str = r#"
version: 1
businesses:
  - name: acme
    id: "100000000000001"
    admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }
    apps:
      reporting: { id: "200000000000001", secret_env: REPORTING_SECRET }
    system_users: []
"#;

    fn spec() -> Spec {
        graphform_spec::load_texts(vec![("p.yaml".into(), POLICY.to_owned())])
            .spec
            .expect("a valid policy")
    }

    fn state(health: Health) -> State {
        State {
            businesses: BTreeMap::from([(
                "acme".to_owned(),
                ObservedBusiness {
                    id: "100000000000001".to_owned(),
                    system_users: Vec::new(),
                    admin_system_user_id: None,
                    admin: Some(AdminToken {
                        health,
                        user_id: Some("300000000000001".to_owned()),
                    }),
                },
            )]),
            ..State::default()
        }
    }

    fn valid(expires_at: Option<i64>, scopes: &[&str], app_id: &str) -> Health {
        Health::Valid {
            expires_at: expires_at.map(Timestamp::from_unix),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            app_id: app_id.to_owned(),
        }
    }

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn messages(health: Health) -> Vec<String> {
        let state = state(health);
        let admin_of = |name: &str| state.businesses.get(name)?.admin.as_ref();
        credential_warnings(&spec(), admin_of, Timestamp::from_unix(NOW))
            .into_iter()
            .map(|w| {
                assert_eq!(
                    (w.business.as_str(), w.variable.as_str()),
                    ("acme", "ACME_ADMIN_TOKEN")
                );
                w.message
            })
            .collect()
    }

    #[test]
    fn a_healthy_admin_token_gets_no_warning() {
        assert!(messages(valid(None, &[ADMIN_SCOPE], "200000000000001")).is_empty());
        let later = valid(Some(NOW + 14 * DAY + 1), &[ADMIN_SCOPE], "200000000000001");
        assert!(messages(later).is_empty());
    }

    #[test]
    fn an_admin_token_expiring_within_two_weeks_is_warned_of() {
        let soon = messages(valid(
            Some(NOW + 14 * DAY),
            &[ADMIN_SCOPE],
            "200000000000001",
        ));
        assert_eq!(soon.len(), 1, "{soon:?}");
        assert!(
            soon[0].starts_with("the admin token in `ACME_ADMIN_TOKEN` expires at"),
            "{soon:?}"
        );
        assert!(soon[0].contains("(in 14 days)"), "{soon:?}");
        let tomorrow = messages(valid(Some(NOW + DAY), &[ADMIN_SCOPE], "200000000000001"));
        assert!(tomorrow[0].contains("(in 1 day)"), "{tomorrow:?}");
    }

    #[test]
    fn a_wrong_app_a_missing_scope_and_a_dead_token_are_named() {
        let wrong = messages(valid(None, &["ads_read"], "999"));
        assert_eq!(wrong.len(), 2, "{wrong:?}");
        assert!(
            wrong[0].contains("is a token of app 999, not of `reporting`"),
            "{wrong:?}"
        );
        assert!(
            wrong[1].contains("lacks `business_management`"),
            "{wrong:?}"
        );
        let dead = messages(Health::Dead {
            cause: DeadCause::Expired,
            code: Some(190),
            subcode: Some(463),
        });
        assert_eq!(dead.len(), 1);
        assert!(dead[0].contains("is dead ("), "{dead:?}");
    }

    #[test]
    fn a_credential_error_names_the_variable_to_fix() {
        let spec = spec();
        let business = &spec.businesses[0];
        let error = |code: i64, subcode: Option<i64>, message: &str| {
            GraphError::from_answer(
                "GET",
                "/{business}/system_users",
                "acme",
                400,
                &serde_json::json!({"error": {"message": message, "type": "OAuthException", "code": code, "error_subcode": subcode}}),
            )
        };
        let expired = CredentialError::of_admin(
            business,
            error(
                190,
                Some(463),
                "Error validating access token: Session has expired",
            ),
        )
        .expect("blames the admin token");
        assert_eq!(
            expired.to_string(),
            "the admin token in `ACME_ADMIN_TOKEN` (business `acme`) has expired"
        );
        assert!(
            expired
                .hint
                .starts_with("set `ACME_ADMIN_TOKEN` to a token of an admin system user")
        );
        let proof = CredentialError::of_admin(
            business,
            error(
                100,
                None,
                "Invalid appsecret_proof provided in the API argument",
            ),
        )
        .expect("blames the pair");
        assert!(
            proof
                .to_string()
                .contains("with the secret in `REPORTING_SECRET`"),
            "{proof}"
        );
        let secret = CredentialError::of_app(
            &spec,
            "200000000000001",
            error(190, None, "Invalid OAuth access token signature."),
        )
        .expect("blames the app secret");
        assert_eq!(
            secret.to_string(),
            "Meta refused app `reporting`'s credentials (200000000000001): the secret in `REPORTING_SECRET` is not its secret"
        );
        // An error that blames no credential stays Meta's.
        assert!(
            CredentialError::of_admin(business, error(100, Some(33), "Unsupported get request."))
                .is_err()
        );
    }
}
