//! One token of a system user: its `name`, an `app` installed for that
//! system user, and `scopes` that system-user tokens can have (at least
//! one); its expiry is checked in [`super::expiry`].

use std::collections::BTreeSet;

use super::Validator;
use super::expiry::Defaults;
use super::fields::{Named, Required};
use super::place::At;
use crate::diagnostic::Code;
use crate::raw::RawToken;
use crate::scopes::{SYSTEM_USER_SCOPES, is_system_user_scope, unavailable_scope_reason};
use crate::spec::Token;
use crate::suggest::did_you_mean;

pub(super) const TOKEN: Named =
    Named::new("token", "the token's label, e.g. `name: insights-read`");
/// The hint for a token without scopes.
const LIST_SCOPES: &str = "list the token's permissions, e.g. `scopes: [ads_read]`";

impl Validator {
    pub(super) fn token(
        &mut self,
        at: &At<'_>,
        raw: &RawToken,
        user_apps: &BTreeSet<String>,
        business_apps: &[&str],
        defaults: &Defaults<'_>,
    ) -> Option<Token> {
        const APP: Required = Required::new("app", "one of this system user's `apps`");
        let name = self.entry_name(at, raw.name.as_ref(), &TOKEN);
        let app = self.required(at, &APP, raw.app.as_ref(), |v, app, at| {
            v.token_app(app, at, user_apps, business_apps)
        });
        let scopes = self.scopes(at, raw.scopes.as_deref());
        let (expiry, grace) = self.token_expiry(at, raw, defaults)?;
        Some(Token {
            name: name?.clone(),
            app: app?.clone(),
            scopes: scopes?,
            expiry,
            grace,
            renamed_from: raw.renamed_from.clone(),
        })
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
            at.error(Code::AppNotInstalled, format!("app `{app}` is not installed for this system user"))
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
                at.error(Code::MissingField, "missing `scopes`")
                    .help(LIST_SCOPES),
            );
            return None;
        };
        if list.is_empty() {
            self.push(
                scopes_at
                    .error(Code::EmptyScopes, "a token needs at least one scope")
                    .help(LIST_SCOPES),
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
                    scope_at
                        .error(Code::UnknownScope, format!("unknown scope `{scope}`"))
                        .label("not a system-user scope")
                        .help(help),
                );
            } else if !set.insert(scope.clone()) {
                self.repeated_entry(scope_at, Code::DuplicateScope, "scope", scope);
            }
        }
        ok.then_some(set)
    }
}
