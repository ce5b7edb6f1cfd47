//! One token of a system user: its `name`, an `app` installed for that
//! system user, and `scopes` that system-user tokens can have (at least
//! one); its expiry is checked in [`super::expiry`].

use std::collections::BTreeSet;

use super::Validator;
use super::expiry::Defaults;
use super::fields::did_you_mean;
use super::place::At;
use crate::diagnostic::{Code, Diagnostic};
use crate::raw::RawToken;
use crate::scopes::{SYSTEM_USER_SCOPES, is_system_user_scope, unavailable_scope_reason};
use crate::spec::Token;

impl Validator {
    pub(super) fn token(
        &mut self,
        at: &At<'_>,
        raw: &RawToken,
        user_apps: &BTreeSet<String>,
        business_apps: &[&str],
        defaults: &Defaults<'_>,
    ) -> Option<Token> {
        let mut ok = true;
        let name = self.required(
            at,
            "name",
            raw.name.as_ref(),
            "the token's label, e.g. `name: insights-read`",
        );
        if let Some(name) = name {
            ok &= self.name(name, at.field("name"), "token");
        }
        let app = self.required(
            at,
            "app",
            raw.app.as_ref(),
            "one of this system user's `apps`",
        );
        if let Some(app) = app {
            ok &= self.token_app(app, at.field("app"), user_apps, business_apps);
        }
        let scopes = self.scopes(at, raw.scopes.as_deref());
        let expiry = self.token_expiry(at, raw, defaults);
        match (name, app, scopes, expiry) {
            (Some(name), Some(app), Some(scopes), Some((expiry, grace))) if ok => Some(Token {
                name: name.clone(),
                app: app.clone(),
                scopes,
                expiry,
                grace,
            }),
            _ => None,
        }
    }

    /// A token's app must be installed for its system user.
    fn token_app(
        &mut self,
        app: &str,
        at: At<'_>,
        user_apps: &BTreeSet<String>,
        business_apps: &[&str],
    ) -> bool {
        if user_apps.contains(app) {
            return true;
        }
        if !business_apps.contains(&app) {
            return self.app_ref(app, at, business_apps);
        }
        self.push(
            Diagnostic::error(Code::AppNotInstalled, format!("app `{app}` is not installed for this system user"))
                .at(at.location())
                .label("not in this system user's `apps`")
                .help(format!("add `{app}` to the system user's `apps`: tokens can only be issued for installed apps")),
        );
        false
    }

    /// A token's scopes: present, not empty, each a system-user scope.
    fn scopes(&mut self, at: &At<'_>, scopes: Option<&[String]>) -> Option<BTreeSet<String>> {
        let scopes_at = at.field("scopes");
        let Some(list) = scopes else {
            self.push(
                Diagnostic::error(Code::MissingField, "missing `scopes`")
                    .at(at.location())
                    .help("list the token's permissions, e.g. `scopes: [ads_read]`"),
            );
            return None;
        };
        if list.is_empty() {
            self.push(
                Diagnostic::error(Code::EmptyScopes, "a token needs at least one scope")
                    .at(scopes_at.location())
                    .help("list the token's permissions, e.g. `scopes: [ads_read]`"),
            );
            return None;
        }
        let mut ok = true;
        let mut set = BTreeSet::new();
        for (index, scope) in list.iter().enumerate() {
            let scope_at = scopes_at.item(index);
            if !is_system_user_scope(scope) {
                ok = false;
                let help = unavailable_scope_reason(scope)
                    .map(str::to_owned)
                    .or_else(|| did_you_mean(scope, SYSTEM_USER_SCOPES.iter().copied()))
                    .unwrap_or_else(|| {
                        "see docs/policy.md for the system-user scope list".to_owned()
                    });
                self.push(
                    Diagnostic::error(Code::UnknownScope, format!("unknown scope `{scope}`"))
                        .at(scope_at.location())
                        .label("not a system-user scope")
                        .help(help),
                );
            } else if !set.insert(scope.clone()) {
                self.push(
                    Diagnostic::warning(
                        Code::DuplicateScope,
                        format!("scope `{scope}` is listed twice"),
                    )
                    .at(scope_at.location())
                    .help("remove the repeated entry"),
                );
            }
        }
        ok.then_some(set)
    }
}
