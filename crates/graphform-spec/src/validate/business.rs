//! One business: its `name` and `id`, its `apps` (valid names, each ID
//! used once), its `admin` identity, and its `system_users` (unique names,
//! a known role, apps the business declares, and their tokens).

use std::collections::{BTreeMap, BTreeSet};

use super::Validator;
use super::expiry::Defaults;
use super::fields::did_you_mean;
use super::place::At;
use crate::diagnostic::{Code, Diagnostic};
use crate::raw::{RawApp, RawBusiness, RawSystemUser};
use crate::spec::{Admin, App, Business, Role, SystemUser};

impl Validator {
    pub(super) fn business(
        &mut self,
        at: &At<'_>,
        raw: &RawBusiness,
        defaults: &Defaults<'_>,
    ) -> Option<Business> {
        let mut ok = true;
        let name = self.required(
            at,
            "name",
            raw.name.as_ref(),
            "a business label such as `name: acme`",
        );
        if let Some(name) = name {
            ok &= self.name(name, at.field("name"), "business");
        }
        let id = self.required(
            at,
            "id",
            raw.id.as_ref(),
            "the business ID from Business Manager, quoted: `id: \"1234567890\"`",
        );
        if let Some(id) = id {
            ok &= self.id(id, at.field("id"));
        }

        // Apps first: the admin, system users and tokens refer to them.
        let apps = self.apps(at, raw.apps.as_ref());
        ok &= apps.is_some();
        let apps = apps.unwrap_or_default();
        let app_names: Vec<&str> = raw
            .apps
            .iter()
            .flat_map(|apps| apps.keys().map(String::as_str))
            .collect();

        let admin_at = at.field("admin");
        let admin = match &raw.admin {
            None => {
                self.push(
                    Diagnostic::error(Code::MissingField, "missing `admin`")
                        .at(at.location())
                        .help("name the admin identity: `admin: { token_env: ACME_ADMIN_TOKEN, app: reporting }`"),
                );
                None
            }
            Some(admin) => {
                let token_env = self.required(
                    &admin_at,
                    "token_env",
                    admin.token_env.as_ref(),
                    "the environment variable holding an admin system user's token",
                );
                let app = self.required(
                    &admin_at,
                    "app",
                    admin.app.as_ref(),
                    "the app the admin token was issued for",
                );
                let env_ok =
                    token_env.is_none_or(|env| self.env_name(env, admin_at.field("token_env")));
                let app_ok =
                    app.is_none_or(|app| self.app_ref(app, admin_at.field("app"), &app_names));
                match (token_env, app) {
                    (Some(token_env), Some(app)) if env_ok && app_ok => Some(Admin {
                        token_env: token_env.clone(),
                        app: app.clone(),
                    }),
                    _ => None,
                }
            }
        };

        let users_at = at.field("system_users");
        let mut system_users = Vec::new();
        let mut user_names: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, user) in raw.system_users.iter().flatten().enumerate() {
            let user_at = users_at.item(index);
            if let Some(name) = &user.name
                && let Some(line) = user_names.insert(name, user_at.node.map_or(0, |n| n.span.line))
            {
                ok = false;
                self.push(
                        Diagnostic::error(Code::DuplicateName, format!("system user `{name}` is listed twice"))
                            .at(user_at.field("name").location())
                            .help(format!("the first is on line {line}; system user names are unique within a business")),
                    );
                continue;
            }
            match self.system_user(&user_at, user, &app_names, defaults) {
                Some(user) => system_users.push(user),
                None => ok = false,
            }
        }

        match (name, id, admin) {
            (Some(name), Some(id), Some(admin)) if ok => Some(Business {
                name: name.clone(),
                id: id.clone(),
                admin,
                apps,
                system_users,
            }),
            _ => None,
        }
    }

    /// A business's apps: valid names and IDs, each ID used once.
    fn apps(
        &mut self,
        at: &At<'_>,
        raw_apps: Option<&BTreeMap<String, RawApp>>,
    ) -> Option<BTreeMap<String, App>> {
        let mut ok = true;
        let apps_at = at.field("apps");
        let mut apps = BTreeMap::new();
        let mut app_ids: BTreeMap<&str, &str> = BTreeMap::new();
        match raw_apps {
            None => {
                ok = false;
                self.push(
                    Diagnostic::error(Code::MissingField, "missing `apps`")
                        .at(at.location())
                        .help("list the business's apps: `apps: { reporting: { id: \"…\", secret_env: REPORTING_APP_SECRET } }`"),
                );
            }
            Some(raw_apps) => {
                for (app_name, app) in raw_apps {
                    let key_at = apps_at.map_key(app_name);
                    let app_at = apps_at.field(app_name);
                    ok &= self.name(app_name, key_at, "app");
                    let id =
                        self.required(&app_at, "id", app.id.as_ref(), "the Meta app ID, quoted");
                    let secret_env = self.required(&app_at, "secret_env", app.secret_env.as_ref(), "the environment variable holding the app secret, e.g. `secret_env: REPORTING_APP_SECRET`");
                    if let Some(id) = id {
                        ok &= self.id(id, app_at.field("id"));
                        if let Some(other) = app_ids.insert(id, app_name) {
                            ok = false;
                            self.push(
                                Diagnostic::error(
                                    Code::DuplicateId,
                                    format!(
                                        "app ID {id} is used by both `{other}` and `{app_name}`"
                                    ),
                                )
                                .at(app_at.field("id").location())
                                .help("give each app one name"),
                            );
                        }
                    }
                    if let Some(secret_env) = secret_env {
                        ok &= self.env_name(secret_env, app_at.field("secret_env"));
                    }
                    if let (Some(id), Some(secret_env)) = (id, secret_env) {
                        apps.insert(
                            app_name.clone(),
                            App {
                                id: id.clone(),
                                secret_env: secret_env.clone(),
                            },
                        );
                    } else {
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(apps)
    }

    fn system_user(
        &mut self,
        at: &At<'_>,
        raw: &RawSystemUser,
        app_names: &[&str],
        defaults: &Defaults<'_>,
    ) -> Option<SystemUser> {
        let mut ok = true;
        let name = self.required(
            at,
            "name",
            raw.name.as_ref(),
            "the system user's name, e.g. `name: ci-reporting`",
        );
        if let Some(name) = name {
            ok &= self.name(name, at.field("name"), "system user");
        }
        let role = match raw.role.as_deref() {
            None | Some("EMPLOYEE") => Some(Role::Employee),
            Some("ADMIN") => Some(Role::Admin),
            Some(other) => {
                let upper = other.to_ascii_uppercase();
                let help = if upper == "EMPLOYEE" || upper == "ADMIN" {
                    format!("roles are upper case: `{upper}`")
                } else {
                    did_you_mean(&upper, ["EMPLOYEE", "ADMIN"]).unwrap_or_else(|| {
                        "graphform manages `EMPLOYEE` (the default) and `ADMIN` system users"
                            .to_owned()
                    })
                };
                self.push(
                    Diagnostic::error(Code::InvalidValue, format!("unknown role `{other}`"))
                        .at(at.field("role").location())
                        .label("expected `EMPLOYEE` or `ADMIN`")
                        .help(help),
                );
                None
            }
        };

        let apps_at = at.field("apps");
        let mut apps = BTreeSet::new();
        for (index, app) in raw.apps.iter().flatten().enumerate() {
            let app_at = apps_at.item(index);
            if self.app_ref(app, app_at, app_names) {
                if !apps.insert(app.clone()) {
                    self.push(
                        Diagnostic::warning(
                            Code::DuplicateName,
                            format!("app `{app}` is listed twice"),
                        )
                        .at(app_at.location())
                        .help("remove the repeated entry"),
                    );
                }
            } else {
                ok = false;
            }
        }

        let tokens_at = at.field("tokens");
        let mut tokens = Vec::new();
        let mut token_names: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, token) in raw.tokens.iter().flatten().enumerate() {
            let token_at = tokens_at.item(index);
            if let Some(token_name) = &token.name
                && let Some(line) =
                    token_names.insert(token_name, token_at.node.map_or(0, |n| n.span.line))
            {
                ok = false;
                self.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        format!("token `{token_name}` is listed twice"),
                    )
                    .at(token_at.field("name").location())
                    .help(format!(
                        "the first is on line {line}; token names are unique within a system user"
                    )),
                );
                continue;
            }
            match self.token(&token_at, token, &apps, app_names, defaults) {
                Some(token) => tokens.push(token),
                None => ok = false,
            }
        }

        match (name, role) {
            (Some(name), Some(role)) if ok => Some(SystemUser {
                name: name.clone(),
                role,
                apps,
                tokens,
            }),
            _ => None,
        }
    }
}
