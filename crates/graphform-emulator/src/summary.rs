//! What `graphform emulator` and `graphform demo` print about a running
//! emulator: its URL, the world's businesses and apps, and the credentials
//! (app secrets, admin tokens) under environment-variable names.

use std::fmt::{self, Write as _};

use graphform_types::Secret;

use crate::state::State;
use crate::world::AccessLevel;

/// A running emulator's world, as a user needs it to point graphform at it.
///
/// `Debug` and `Display` show secrets as fingerprints; only
/// [`WorldSummary::shell_exports`] and [`WorldSummary::env_vars`] give the
/// values (they are emulated credentials, printed for the demo on purpose).
#[derive(Debug, Clone)]
pub struct WorldSummary {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The businesses, in ID order.
    pub businesses: Vec<BusinessSummary>,
}

/// One business of a [`WorldSummary`].
#[derive(Debug, Clone)]
pub struct BusinessSummary {
    /// Numeric ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Apps the business owns.
    pub apps: Vec<AppSummary>,
    /// System users (ID, name, role), in creation order.
    pub system_users: Vec<SystemUserSummary>,
    /// The world's admin tokens acting in this business.
    pub admin_tokens: Vec<AdminTokenSummary>,
}

/// One app of a [`BusinessSummary`].
#[derive(Debug, Clone)]
pub struct AppSummary {
    /// Numeric ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Access level.
    pub access_level: AccessLevel,
    /// The app secret.
    pub secret: Secret,
    /// Environment variable for the secret, e.g. `REPORTING_APP_SECRET`.
    pub secret_env: String,
}

/// One system user of a [`BusinessSummary`].
#[derive(Debug, Clone)]
pub struct SystemUserSummary {
    /// Numeric ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role, e.g. `ADMIN`.
    pub role: String,
}

/// One admin token of a [`BusinessSummary`].
#[derive(Debug, Clone)]
pub struct AdminTokenSummary {
    /// ID of the admin system user (or admin user) it belongs to.
    pub subject_id: String,
    /// Its name.
    pub subject_name: String,
    /// ID of the app it was issued for (its secret signs `appsecret_proof`).
    pub app_id: String,
    /// The token.
    pub token: Secret,
    /// Environment variable for the token, e.g. `ACME_ADMIN_TOKEN`.
    pub token_env: String,
    /// Expiry, unix seconds; 0 = never.
    pub expires_at: i64,
}

impl WorldSummary {
    pub(crate) fn of(st: &State) -> Self {
        let businesses = st
            .businesses
            .values()
            .map(|b| BusinessSummary {
                id: b.id.clone(),
                name: b.name.clone(),
                apps: st
                    .apps
                    .values()
                    .filter(|a| a.business_id == b.id)
                    .map(|a| AppSummary {
                        id: a.id.clone(),
                        name: a.name.clone(),
                        access_level: a.access_level,
                        secret: a.secret.clone(),
                        secret_env: a.secret_env.clone(),
                    })
                    .collect(),
                system_users: b
                    .system_users
                    .iter()
                    .filter_map(|id| st.system_users.get(id))
                    .map(|su| SystemUserSummary {
                        id: su.id.clone(),
                        name: su.name.clone(),
                        role: su.role.as_str().to_owned(),
                    })
                    .collect(),
                admin_tokens: st
                    .world_tokens
                    .iter()
                    .filter(|wt| {
                        st.business_of(&st.tokens[wt.index].subject) == Some(b.id.as_str())
                    })
                    .map(|wt| {
                        let token = &st.tokens[wt.index];
                        AdminTokenSummary {
                            subject_id: token.subject.id().to_owned(),
                            subject_name: st.subject_name(&token.subject),
                            app_id: token.app_id.clone(),
                            token: token.value.clone(),
                            token_env: wt.env.clone(),
                            expires_at: token.expires_at,
                        }
                    })
                    .collect(),
            })
            .collect();
        Self {
            base_url: st.base_url.clone(),
            businesses,
        }
    }

    /// Every credential as `(variable name, value)`: app secrets, then
    /// admin tokens, business by business.
    pub fn env_vars(&self) -> Vec<(String, Secret)> {
        let mut vars = Vec::new();
        for business in &self.businesses {
            for app in &business.apps {
                vars.push((app.secret_env.clone(), app.secret.clone()));
            }
            for token in &business.admin_tokens {
                vars.push((token.token_env.clone(), token.token.clone()));
            }
        }
        vars
    }

    /// `export NAME='value'` lines for a POSIX shell: `GRAPHFORM_GRAPH_URL`
    /// and every credential. Contains secret values.
    pub fn shell_exports(&self) -> String {
        let mut out = format!("export GRAPHFORM_GRAPH_URL='{}'\n", self.base_url);
        for (name, value) in self.env_vars() {
            let _ = writeln!(out, "export {name}='{}'", value.expose());
        }
        out
    }
}

impl fmt::Display for WorldSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Graph API emulator at {}", self.base_url)?;
        for business in &self.businesses {
            writeln!(f, "business {} ({})", business.name, business.id)?;
            for app in &business.apps {
                writeln!(
                    f,
                    "  app {} ({}, {} access), secret in {} [{}]",
                    app.name,
                    app.id,
                    app.access_level.as_str(),
                    app.secret_env,
                    app.secret.fingerprint()
                )?;
            }
            for su in &business.system_users {
                writeln!(f, "  system user {} ({}, {})", su.name, su.id, su.role)?;
            }
            for token in &business.admin_tokens {
                writeln!(
                    f,
                    "  admin token of {} ({}) for app {} in {} [{}]",
                    token.subject_name,
                    token.subject_id,
                    token.app_id,
                    token.token_env,
                    token.token.fingerprint()
                )?;
            }
        }
        Ok(())
    }
}
