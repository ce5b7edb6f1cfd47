//! One business: its `name` and `id`, its `apps` (valid names, each ID
//! used once), its `admin` identity, and its `system_users` (unique names,
//! a known role, apps the business declares, and their tokens).

use std::collections::{BTreeMap, BTreeSet};

use super::Validator;
use super::expiry::Defaults;
use super::fields::{Named, Required};
use super::place::At;
use super::token::TOKEN;
use crate::diagnostic::Code;
use crate::raw::{RawAdmin, RawApp, RawBusiness, RawSystemUser, RawToken};
use crate::spec::{Admin, App, Business, Role, SystemUser};
use crate::suggest::did_you_mean;

const BUSINESS: Named = Named::new("business", "a business label such as `name: acme`");
const SYSTEM_USER: Named = Named::new(
    "system user",
    "the system user's name, e.g. `name: ci-reporting`",
);

impl Validator {
    pub(super) fn business(
        &mut self,
        at: &At<'_>,
        raw: &RawBusiness,
        defaults: &Defaults<'_>,
    ) -> Option<Business> {
        const ID: Required = Required::new(
            "id",
            "the business ID from Business Manager, quoted: `id: \"1234567890\"`",
        );
        let name = self.entry_name(at, raw.name.as_ref(), &BUSINESS);
        let id = self.required(at, &ID, raw.id.as_ref(), Self::id);

        // Apps first: the admin, system users and tokens refer to them.
        let apps = self.apps(at, raw.apps.as_ref());
        let app_names: Vec<&str> = raw
            .apps
            .iter()
            .flat_map(|apps| apps.keys().map(String::as_str))
            .collect();
        let admin = self.admin(at, raw.admin.as_ref(), &app_names);
        let system_users = self.named_entries(
            at.field("system_users"),
            raw.system_users.as_deref(),
            |user: &RawSystemUser| (user.name.as_ref(), user.renamed_from.as_ref()),
            (&SYSTEM_USER, "a business"),
            |v, user_at, user| v.system_user(user_at, user, &app_names, defaults),
        );

        Some(Business {
            name: name?.clone(),
            id: id?.clone(),
            admin: admin?,
            apps: apps?,
            system_users: system_users?,
            grace: defaults.grace(),
        })
    }

    /// A business's apps: valid names and IDs, each ID used once.
    fn apps(
        &mut self,
        at: &At<'_>,
        raw_apps: Option<&BTreeMap<String, RawApp>>,
    ) -> Option<BTreeMap<String, App>> {
        const ID: Required = Required::new("id", "the Meta app ID, quoted");
        const SECRET_ENV: Required = Required::new(
            "secret_env",
            "the environment variable holding the app secret, e.g. `secret_env: REPORTING_APP_SECRET`",
        );
        let Some(raw_apps) = raw_apps else {
            self.push(
                at.error(Code::MissingField, "missing `apps`")
                    .help("list the business's apps: `apps: { reporting: { id: \"…\", secret_env: REPORTING_APP_SECRET } }`"),
            );
            return None;
        };
        let mut ok = true;
        let apps_at = at.field("apps");
        let mut apps = BTreeMap::new();
        let mut app_ids: BTreeMap<&str, &str> = BTreeMap::new();
        for (app_name, app) in raw_apps {
            let app_at = apps_at.field(app_name);
            ok &= self.name(app_name, apps_at.map_key(app_name), "app");
            let id = self.required(&app_at, &ID, app.id.as_ref(), |v, id, id_at| {
                let valid = v.id(id, id_at);
                let Some(other) = app_ids.insert(id, app_name) else {
                    return valid;
                };
                v.push(
                    id_at
                        .error(
                            Code::DuplicateId,
                            format!("app ID {id} is used by both `{other}` and `{app_name}`"),
                        )
                        .help("give each app one name"),
                );
                false
            });
            let secret_env = self.required(
                &app_at,
                &SECRET_ENV,
                app.secret_env.as_ref(),
                Self::env_name,
            );
            match (id, secret_env) {
                (Some(id), Some(secret_env)) => {
                    let app = App {
                        id: id.clone(),
                        secret_env: secret_env.clone(),
                    };
                    apps.insert(app_name.clone(), app);
                }
                _ => ok = false,
            }
        }
        ok.then_some(apps)
    }

    /// The identity graphform acts as: an environment variable's name and
    /// one of the business's apps.
    fn admin(&mut self, at: &At<'_>, raw: Option<&RawAdmin>, app_names: &[&str]) -> Option<Admin> {
        const TOKEN_ENV: Required = Required::new(
            "token_env",
            "the environment variable holding an admin system user's token",
        );
        const APP: Required = Required::new("app", "the app the admin token was issued for");
        let Some(admin) = raw else {
            self.push(at.error(Code::MissingField, "missing `admin`").help(
                "name the admin identity: `admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }`",
            ));
            return None;
        };
        let admin_at = at.field("admin");
        let token_env = self.required(
            &admin_at,
            &TOKEN_ENV,
            admin.token_env.as_ref(),
            Self::env_name,
        );
        let app = self.required(&admin_at, &APP, admin.app.as_ref(), |v, app, at| {
            v.app_ref(app, at, app_names)
        });
        Some(Admin {
            token_env: token_env?.clone(),
            app: app?.clone(),
        })
    }

    fn system_user(
        &mut self,
        at: &At<'_>,
        raw: &RawSystemUser,
        app_names: &[&str],
        defaults: &Defaults<'_>,
    ) -> Option<SystemUser> {
        let name = self.entry_name(at, raw.name.as_ref(), &SYSTEM_USER);
        let role = self.role(at, raw.role.as_deref());

        let apps_at = at.field("apps");
        let mut apps_ok = true;
        let mut apps = BTreeSet::new();
        for (index, app) in raw.apps.iter().flatten().enumerate() {
            let app_at = apps_at.item(index);
            if !self.app_ref(app, app_at, app_names) {
                apps_ok = false;
            } else if !apps.insert(app.clone()) {
                self.repeated_entry(app_at, Code::DuplicateName, "app", app);
            }
        }

        let tokens = self.named_entries(
            at.field("tokens"),
            raw.tokens.as_deref(),
            |token: &RawToken| (token.name.as_ref(), token.renamed_from.as_ref()),
            (&TOKEN, "a system user"),
            |v, token_at, token| v.token(token_at, token, &apps, app_names, defaults),
        );

        Some(SystemUser {
            name: name?.clone(),
            role: role?,
            apps: apps_ok.then_some(apps)?,
            tokens: tokens?,
            renamed_from: raw.renamed_from.clone(),
        })
    }

    /// `EMPLOYEE` (the default) or `ADMIN`.
    fn role(&mut self, at: &At<'_>, raw: Option<&str>) -> Option<Role> {
        let other = match raw {
            None | Some("EMPLOYEE") => return Some(Role::Employee),
            Some("ADMIN") => return Some(Role::Admin),
            Some(other) => other,
        };
        let upper = other.to_ascii_uppercase();
        let help = if upper == "EMPLOYEE" || upper == "ADMIN" {
            format!("roles are upper case: `{upper}`")
        } else {
            did_you_mean(&upper, ["EMPLOYEE", "ADMIN"]).unwrap_or_else(|| {
                "graphform manages `EMPLOYEE` (the default) and `ADMIN` system users".to_owned()
            })
        };
        self.push(
            at.field("role")
                .error(Code::InvalidValue, format!("unknown role `{other}`"))
                .label("expected `EMPLOYEE` or `ADMIN`")
                .help(help),
        );
        None
    }
}
