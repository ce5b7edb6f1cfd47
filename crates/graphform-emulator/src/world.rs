//! The world an emulator starts from: businesses, apps, system users,
//! installs and admin tokens, loadable from a YAML or JSON file.

use std::collections::BTreeSet;
use std::path::Path;

use graphform_types::Secret;
use serde::{Deserialize, Deserializer};

use crate::error::Error;
use crate::vocabulary::{Role, is_system_user_scope};

/// The starting state of an emulator. See `docs/emulator.md` for the file
/// format; every list may be empty or absent.
///
/// `Debug` shows secrets as fingerprints only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct World {
    /// The emulated clock's start, unix seconds. Absent: the real time at
    /// start. When set, the clock is frozen unless `clock_frozen: false`.
    pub clock_start: Option<i64>,
    /// Whether the clock stands still between control-API moves. Default:
    /// frozen when `clock_start` is set, ticking otherwise.
    pub clock_frozen: Option<bool>,
    /// Seed of the emulator's random generator (token strings, generated
    /// secrets, `fbtrace_id`s). Default 0: the same world always yields the
    /// same values for the same sequence of requests.
    pub seed: Option<u64>,
    /// Business Managers.
    pub businesses: Vec<WorldBusiness>,
    /// Apps, each owned by one business.
    pub apps: Vec<WorldApp>,
    /// System users, each in one business.
    pub system_users: Vec<WorldSystemUser>,
    /// Real people who are admins of businesses (their tokens are `USER`
    /// tokens); needed to create a business's first system user.
    pub admin_users: Vec<WorldAdminUser>,
    /// Apps installed for system users.
    pub installs: Vec<WorldInstall>,
    /// Tokens that exist from the start: an admin system user's (or an admin
    /// user's) token for one app.
    pub admin_tokens: Vec<WorldAdminToken>,
}

/// A Business Manager.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldBusiness {
    /// Numeric ID, e.g. `"100000000000001"`.
    pub id: String,
    /// Display name, e.g. `Acme`.
    pub name: String,
    /// When true, `POST /{system-user-id}/access_tokens` without
    /// `set_token_expires_in_60_days=true` fails ("some businesses must use
    /// expiring tokens", graph-api.md §3).
    #[serde(default)]
    pub requires_expiring_tokens: bool,
}

/// The app's level on the Ads Management Standard Access feature, which
/// sets the business's system-user limits (graph-api.md §9).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// 1 system user + 1 admin system user.
    #[default]
    Standard,
    /// 10 system users + 1 admin system user.
    Advanced,
}

impl AccessLevel {
    /// How many non-admin system users a business may have.
    pub fn system_user_limit(self) -> usize {
        match self {
            AccessLevel::Standard => 1,
            AccessLevel::Advanced => 10,
        }
    }

    /// How many admin system users a business may have (always 1).
    pub fn admin_system_user_limit(self) -> usize {
        1
    }

    /// `standard` or `advanced`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Standard => "standard",
            AccessLevel::Advanced => "advanced",
        }
    }
}

/// An app owned by a business.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldApp {
    /// Numeric app ID.
    pub id: String,
    /// App name (`debug_token`'s `application`).
    pub name: String,
    /// ID of the owning business.
    pub business: String,
    /// The app secret; generated (32 hex digits) when absent.
    #[serde(default, deserialize_with = "optional_secret")]
    pub secret: Option<Secret>,
    /// Access level; default `standard`.
    #[serde(default)]
    pub access_level: AccessLevel,
    /// Whether calls with this app's user/system-user tokens must carry an
    /// `appsecret_proof` (App Settings > Advanced > Require App Secret).
    /// Default true.
    #[serde(default = "default_true")]
    pub require_appsecret_proof: bool,
    /// Environment variable name the summary uses for the secret; default
    /// `<APP NAME>_APP_SECRET`.
    #[serde(default)]
    pub secret_env: Option<String>,
}

/// A system user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSystemUser {
    /// Numeric (app-scoped) system-user ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// ID of its business.
    pub business: String,
    /// Role; default `EMPLOYEE`.
    #[serde(default)]
    pub role: Role,
    /// Creation time, unix seconds; default the clock start.
    #[serde(default)]
    pub created_time: Option<i64>,
}

/// A real person who administers businesses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldAdminUser {
    /// Numeric user ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// IDs of the businesses this person is an admin of.
    pub businesses: Vec<String>,
}

/// An app installed for a system user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldInstall {
    /// System-user ID.
    pub system_user: String,
    /// App ID (owned by the system user's business).
    pub app: String,
}

/// A token that exists from the start. Exactly one of `system_user` (an
/// `ADMIN` system user; the app is installed for it implicitly) and `user`
/// (an admin user) is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldAdminToken {
    /// ID of the admin system user the token belongs to.
    #[serde(default)]
    pub system_user: Option<String>,
    /// ID of the admin user the token belongs to.
    #[serde(default)]
    pub user: Option<String>,
    /// ID of the app the token was issued for.
    pub app: String,
    /// The token string; generated (`EAA…`) when absent.
    #[serde(default, deserialize_with = "optional_secret")]
    pub token: Option<Secret>,
    /// Scopes; default `[business_management]`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Issue time, unix seconds; default the clock start.
    #[serde(default)]
    pub issued_at: Option<i64>,
    /// Expiry, unix seconds; 0 or absent: never.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Environment variable name the summary uses; default
    /// `<BUSINESS NAME>_ADMIN_TOKEN`.
    #[serde(default)]
    pub env: Option<String>,
}

fn default_true() -> bool {
    true
}

fn optional_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(Secret::new))
}

/// The scopes an admin token gets when the world names none.
pub(crate) const DEFAULT_ADMIN_SCOPES: [&str; 1] = ["business_management"];

impl World {
    /// Reads a world from a `.json` file (JSON) or any other file (YAML),
    /// and validates it.
    pub fn from_file(path: &Path) -> Result<World, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadWorld {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        let world = if is_json {
            serde_json::from_str(&text).map_err(|e| parse_error(path, &e))?
        } else {
            parse_yaml(&text).map_err(|message| parse_error(path, &message))?
        };
        World::validated(world)
    }

    /// Parses and validates a world written in YAML (or JSON, a subset).
    pub fn from_yaml_str(text: &str) -> Result<World, Error> {
        let world =
            parse_yaml(text).map_err(|message| parse_error(Path::new("<string>"), &message))?;
        World::validated(world)
    }

    fn validated(world: World) -> Result<World, Error> {
        world.validate()?;
        Ok(world)
    }

    /// The default world of `graphform demo` and `graphform emulator`
    /// without `--world`: business "Acme" (`100000000000001`) owning the
    /// apps `reporting` (`200000000000001`, advanced access) and `publisher`
    /// (`200000000000002`, standard access), and the admin system user
    /// `graphform-admin` (`300000000000001`) with a never-expiring
    /// `business_management` token for `reporting` (`ACME_ADMIN_TOKEN`).
    /// The IDs match the example policy; secrets and the token are
    /// generated from seed 0; the clock is the real time.
    pub fn demo() -> World {
        World {
            clock_start: None,
            clock_frozen: None,
            seed: Some(0),
            businesses: vec![WorldBusiness {
                id: "100000000000001".into(),
                name: "Acme".into(),
                requires_expiring_tokens: false,
            }],
            apps: vec![
                WorldApp {
                    id: "200000000000001".into(),
                    name: "reporting".into(),
                    business: "100000000000001".into(),
                    secret: None,
                    access_level: AccessLevel::Advanced,
                    require_appsecret_proof: true,
                    secret_env: None,
                },
                WorldApp {
                    id: "200000000000002".into(),
                    name: "publisher".into(),
                    business: "100000000000001".into(),
                    secret: None,
                    access_level: AccessLevel::Standard,
                    require_appsecret_proof: true,
                    secret_env: None,
                },
            ],
            system_users: vec![WorldSystemUser {
                id: "300000000000001".into(),
                name: "graphform-admin".into(),
                business: "100000000000001".into(),
                role: Role::Admin,
                created_time: None,
            }],
            admin_users: Vec::new(),
            installs: Vec::new(),
            admin_tokens: vec![WorldAdminToken {
                system_user: Some("300000000000001".into()),
                user: None,
                app: "200000000000001".into(),
                token: None,
                scopes: None,
                issued_at: None,
                expires_at: None,
                env: Some("ACME_ADMIN_TOKEN".into()),
            }],
        }
    }

    /// Checks the world's consistency, reporting every problem at once.
    pub fn validate(&self) -> Result<(), Error> {
        let problems = Validator::default().run(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidWorld { problems })
        }
    }

    pub(crate) fn business(&self, id: &str) -> Option<&WorldBusiness> {
        self.businesses.iter().find(|b| b.id == id)
    }

    pub(crate) fn app(&self, id: &str) -> Option<&WorldApp> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub(crate) fn system_user(&self, id: &str) -> Option<&WorldSystemUser> {
        self.system_users.iter().find(|s| s.id == id)
    }
}

/// Parses YAML into a world; on failure, the parser's message with its line
/// and column (`… at line 2, column 1`).
///
/// The error is rendered without serde-saphyr's source snippet: the snippet
/// quotes the offending line, which may hold a token or an app secret.
fn parse_yaml(text: &str) -> Result<World, String> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        e.render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        })
    })
}

/// [`Error::ParseWorld`] for `path`, with the values the message quotes
/// elided.
fn parse_error(path: &Path, message: &dyn std::fmt::Display) -> Error {
    Error::ParseWorld {
        path: path.to_path_buf(),
        message: elide_values(&message.to_string()),
    }
}

/// Elides the values a serde message quotes: every `"…"` string, and
/// `` `…` `` spans that look like a token or secret (long, `EAA…`, or with a
/// `|`), keeping field names and positions.
fn elide_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find(quote) else {
            rest = after;
            continue;
        };
        let inner = &after[..end];
        let secret_like =
            quote == '"' || inner.len() > 32 || inner.starts_with("EAA") || inner.contains('|');
        out.push_str(if secret_like { "…" } else { inner });
        out.push(quote);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[derive(Default)]
struct Validator {
    problems: Vec<String>,
    ids: BTreeSet<String>,
}

impl Validator {
    fn run(mut self, world: &World) -> Vec<String> {
        for (i, b) in world.businesses.iter().enumerate() {
            self.identity(&format!("businesses[{i}]"), &b.id, &b.name);
        }
        for (i, app) in world.apps.iter().enumerate() {
            let at = format!("apps[{i}]");
            self.identity(&at, &app.id, &app.name);
            self.business(world, &at, &app.business);
            if app.secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
                self.problem(format!("{at}.secret: must not be empty"));
            }
        }
        for (i, su) in world.system_users.iter().enumerate() {
            let at = format!("system_users[{i}]");
            self.identity(&at, &su.id, &su.name);
            self.business(world, &at, &su.business);
        }
        for (i, user) in world.admin_users.iter().enumerate() {
            let at = format!("admin_users[{i}]");
            self.identity(&at, &user.id, &user.name);
            for business in &user.businesses {
                if world.business(business).is_none() {
                    self.problem(format!("{at}.businesses: no business has ID {business:?}"));
                }
            }
        }
        for (i, install) in world.installs.iter().enumerate() {
            let at = format!("installs[{i}]");
            match (
                world.system_user(&install.system_user),
                world.app(&install.app),
            ) {
                (None, _) => self.problem(format!(
                    "{at}.system_user: no system user has ID {:?}",
                    install.system_user
                )),
                (_, None) => self.problem(format!("{at}.app: no app has ID {:?}", install.app)),
                (Some(su), Some(app)) if su.business != app.business => self.problem(format!(
                    "{at}: app {} belongs to business {}, system user {} to business {}",
                    app.id, app.business, su.id, su.business
                )),
                _ => {}
            }
        }
        self.admin_tokens(world);
        self.problems
    }

    fn admin_tokens(&mut self, world: &World) {
        let mut values = BTreeSet::new();
        for (i, token) in world.admin_tokens.iter().enumerate() {
            let at = format!("admin_tokens[{i}]");
            let app = world.app(&token.app);
            if app.is_none() {
                self.problem(format!("{at}.app: no app has ID {:?}", token.app));
            }
            match (&token.system_user, &token.user) {
                (Some(id), None) => match world.system_user(id) {
                    None => self.problem(format!("{at}.system_user: no system user has ID {id:?}")),
                    Some(su) if !su.role.is_admin() => self.problem(format!(
                        "{at}.system_user: system user {id} has role {}, not ADMIN",
                        su.role
                    )),
                    Some(su) => {
                        if let Some(app) = app.filter(|app| app.business != su.business) {
                            self.problem(format!(
                                "{at}: app {} belongs to business {}, system user {} to business {}",
                                app.id, app.business, su.id, su.business
                            ));
                        }
                    }
                },
                (None, Some(id)) => {
                    if !world.admin_users.iter().any(|u| &u.id == id) {
                        self.problem(format!("{at}.user: no admin user has ID {id:?}"));
                    }
                }
                _ => self.problem(format!("{at}: set exactly one of system_user and user")),
            }
            for scope in token.scopes.iter().flatten() {
                if !is_system_user_scope(scope) {
                    self.problem(format!("{at}.scopes: {scope:?} is not a system-user scope"));
                }
            }
            if let Some(value) = &token.token {
                // Report by position only: the value is a secret.
                if !value.expose().starts_with("EAA") || value.expose().contains('|') {
                    self.problem(format!(
                        "{at}.token: must look like a user token (start with EAA, no '|')"
                    ));
                }
                if !values.insert(value.fingerprint()) {
                    self.problem(format!("{at}.token: the same token is listed twice"));
                }
            }
            if token.expires_at.is_some_and(|t| t < 0) {
                self.problem(format!("{at}.expires_at: must be 0 (never) or a unix time"));
            }
        }
    }

    /// The object at `at` has a numeric ID no other object has, and a name.
    fn identity(&mut self, at: &str, id: &str, name: &str) {
        self.id(&format!("{at}.id"), id);
        self.name(&format!("{at}.name"), name);
    }

    /// `{at}.business` names a business of the world.
    fn business(&mut self, world: &World, at: &str, business: &str) {
        if world.business(business).is_none() {
            self.problem(format!("{at}.business: no business has ID {business:?}"));
        }
    }

    fn id(&mut self, at: &str, id: &str) {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            self.problem(format!("{at}: {id:?} is not a numeric ID"));
        } else if !self.ids.insert(id.to_owned()) {
            self.problem(format!("{at}: ID {id} is used twice"));
        }
    }

    fn name(&mut self, at: &str, name: &str) {
        if name.trim().is_empty() {
            self.problem(format!("{at}: must not be empty"));
        }
    }

    fn problem(&mut self, text: String) {
        self.problems.push(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_world_is_valid() {
        World::demo().validate().expect("demo world is valid");
    }

    #[test]
    fn every_problem_is_reported() {
        let yaml = r#"
businesses: [{id: "1", name: Acme}, {id: "1", name: Twice}]
apps: [{id: "x2", name: app, business: "9"}]
system_users: [{id: "3", name: emp, business: "1", role: EMPLOYEE}]
admin_tokens: [{system_user: "3", app: "4", scopes: [ads_reed], token: "EAAsecretvalue"}]
"#;
        let Err(Error::InvalidWorld { problems }) = World::from_yaml_str(yaml) else {
            panic!("expected an invalid world");
        };
        let text = problems.join("\n");
        assert!(text.contains("ID 1 is used twice"), "{text}");
        assert!(text.contains("\"x2\" is not a numeric ID"), "{text}");
        assert!(text.contains("apps[0].business"), "{text}");
        assert!(text.contains("not ADMIN"), "{text}");
        assert!(text.contains("no app has ID \"4\""), "{text}");
        assert!(text.contains("ads_reed"), "{text}");
        assert!(!text.contains("EAAsecretvalue"), "{text}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = World::from_yaml_str("businesses: []\nbusinesess: []\n").expect_err("typo");
        assert!(matches!(err, Error::ParseWorld { .. }));
        let text = err.to_string();
        assert!(text.contains("unknown field `businesess`"), "{text}");
        assert!(text.contains("at line 2, column 1"), "{text}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let world = World::from_yaml_str(
            r#"
businesses: [{id: "1", name: Acme}]
apps: [{id: "2", name: app, business: "1", secret: "s3cr3tvalue"}]
system_users: [{id: "3", name: admin, business: "1", role: ADMIN}]
admin_tokens: [{system_user: "3", app: "2", token: "EAAtokenvalue123"}]
"#,
        )
        .expect("valid");
        let shown = format!("{world:?}");
        assert!(!shown.contains("s3cr3tvalue"), "{shown}");
        assert!(!shown.contains("EAAtokenvalue123"), "{shown}");
    }

    #[test]
    fn parse_errors_do_not_quote_values() {
        let yaml = r#"
apps: [{id: "2", name: x, business: "1", access_level: EAAsecretlevelvalue}]
admin_tokens: [{app: "2", token: [EAAsecrettokenvalue]}]
"#;
        let err = World::from_yaml_str(yaml)
            .expect_err("bad values")
            .to_string();
        assert!(!err.contains("EAAsecret"), "{err}");
        // The parser could show the offending line; that line holds a token.
        let err = World::from_yaml_str(
            "admin_tokens: [{app: \"2\", token: \"EAAsecretvalue\", bogus: 1}]\n",
        )
        .expect_err("unknown field")
        .to_string();
        assert!(err.contains("unknown field `bogus`"), "{err}");
        assert!(err.contains("at line 1, column"), "{err}");
        assert!(!err.contains("EAAsecret"), "{err}");
        let json_err = elide_values("invalid type: string \"s3cr3t\", expected u64 at line 3");
        assert_eq!(
            json_err,
            "invalid type: string \"…\", expected u64 at line 3"
        );
    }
}
