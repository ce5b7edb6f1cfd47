//! Every rule of the policy format (policy.md), turning [`RawPolicy`]
//! documents into a [`Spec`].
//!
//! Validation never stops at the first problem: each rule that fails adds a
//! [`Diagnostic`] (with the file, line and column of the offending node) and
//! validation goes on with the next. Defaults are applied here and nowhere
//! else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic, Location};
use crate::raw::{
    RawApp, RawBusiness, RawDefaults, RawGraph, RawPolicy, RawStore, RawSystemUser, RawToken,
};
use crate::scopes::{SYSTEM_USER_SCOPES, is_system_user_scope, unavailable_scope_reason};
use crate::secret::{Context, is_env_name, looks_like_secret, mask};
use crate::spec::{
    Admin, App, Business, DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, Duration, Expiry, GraphSettings,
    Role, SIXTY_DAYS, Spec, StoreSettings, SystemUser, Token,
};
use crate::suggest::closest;
use crate::yaml::{Kind, Node, Span};
use graphform_types::url::{TransportError, check_transport};

/// One parsed policy file.
pub(crate) struct Document {
    pub(crate) file: PathBuf,
    pub(crate) tree: Node,
    pub(crate) raw: RawPolicy,
}

/// The defaults of policy.md.
const DEFAULT_REFRESH_BEFORE: Duration = Duration::days(20);
const DEFAULT_GRACE: Duration = Duration::hours(24);
const DEFAULT_STORE_PATH: &str = ".graphform/store";
const DEFAULT_STORE_KEY_ENV: &str = "GRAPHFORM_STORE_KEY";
const DEFAULT_VAULT_MOUNT: &str = "secret";
const DEFAULT_VAULT_TOKEN_ENV: &str = "VAULT_TOKEN";
const DEFAULT_PREFIX: &str = "graphform";

/// Validates the documents of one policy (one file, or the files of a
/// directory, in name order). Returns the [`Spec`] when no error was found;
/// every problem, errors and warnings, is appended to `diagnostics`.
pub(crate) fn validate(documents: &[Document], diagnostics: &mut Vec<Diagnostic>) -> Option<Spec> {
    let mut v = Validator {
        diagnostics: Vec::new(),
    };
    for document in documents {
        v.version(document);
    }
    let graph = v.shared(documents, "graph", |raw| raw.graph.as_ref());
    let store = v.shared(documents, "store", |raw| raw.store.as_ref());
    let defaults = v.shared(documents, "defaults", |raw| raw.defaults.as_ref());

    let graph = v.graph(graph);
    let store = v.store(store);
    let defaults = v.defaults(defaults);

    let mut businesses = Vec::new();
    let mut seen_names: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
    let mut seen_ids: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
    for document in documents {
        let here = At::root(document);
        let Some(raw_businesses) = &document.raw.businesses else {
            continue;
        };
        let list = here.field("businesses");
        for (index, raw) in raw_businesses.iter().enumerate() {
            let at = list.item(index);
            if let Some(business) = v.business(&at, raw, &defaults) {
                if let Some((file, line)) = seen_names.get(&business.name) {
                    let name_at = at.field("name");
                    v.push(
                        Diagnostic::error(
                            Code::DuplicateAddress,
                            format!("business `{}` is defined twice", business.name),
                        )
                        .at(name_at.location())
                        .label("already defined")
                        .help(format!(
                            "the first is at {}:{line}; business names must be unique across the whole policy",
                            file.display()
                        )),
                    );
                    continue;
                }
                if let Some((file, line)) = seen_ids.get(&business.id) {
                    let id_at = at.field("id");
                    v.push(
                        Diagnostic::error(
                            Code::DuplicateId,
                            format!("business ID {} is used twice", business.id),
                        )
                        .at(id_at.location())
                        .help(format!(
                            "the first is at {}:{line}; manage each business under one name",
                            file.display()
                        )),
                    );
                }
                let line = at.node.map_or(0, |node| node.span.line);
                seen_names.insert(business.name.clone(), (document.file.clone(), line));
                seen_ids.insert(business.id.clone(), (document.file.clone(), line));
                businesses.push(business);
            }
        }
    }

    let failed = v.diagnostics.iter().any(Diagnostic::is_error);
    diagnostics.append(&mut v.diagnostics);
    if failed {
        return None;
    }
    Some(Spec {
        graph: graph?,
        store: store?,
        businesses,
    })
}

/// A place in a document: the file and, when present, the node.
#[derive(Clone, Copy)]
struct At<'a> {
    file: &'a Path,
    node: Option<&'a Node>,
    /// Where to point when `node` is absent: the nearest existing parent.
    parent: Option<&'a Node>,
}

impl<'a> At<'a> {
    fn root(document: &'a Document) -> Self {
        Self {
            file: &document.file,
            node: Some(&document.tree),
            parent: None,
        }
    }

    fn field(&self, key: &str) -> At<'a> {
        At {
            file: self.file,
            node: self.node.and_then(|node| node.get(key)),
            parent: self.node.or(self.parent),
        }
    }

    fn key(&self, key: &str) -> At<'a> {
        At {
            file: self.file,
            node: self
                .node
                .and_then(|node| node.entry(key))
                .map(|(key, _)| key),
            parent: self.node.or(self.parent),
        }
    }

    fn item(&self, index: usize) -> At<'a> {
        At {
            file: self.file,
            node: self.node.and_then(|node| node.item(index)),
            parent: self.node.or(self.parent),
        }
    }

    /// The key node of the mapping entry whose key is `key` (for map-typed
    /// fields like `apps`, whose keys are names).
    fn map_key(&self, key: &str) -> At<'a> {
        self.key(key)
    }

    fn location(&self) -> Location {
        let span = self.node.or(self.parent).map_or(
            Span {
                line: 1,
                column: 1,
                len: 1,
            },
            |node| match &node.kind {
                // Point at the start of a collection, not its whole extent.
                Kind::Seq(_) | Kind::Map(_) => Span {
                    len: 1,
                    ..node.span
                },
                Kind::Scalar(..) => node.span,
            },
        );
        Location {
            file: self.file.to_path_buf(),
            line: span.line,
            column: span.column,
            len: span.len,
        }
    }
}

struct Validator {
    diagnostics: Vec<Diagnostic>,
}

/// A resolved duration and where it was written, for messages.
#[derive(Clone, Copy)]
struct Placed<'a, T> {
    value: T,
    at: Option<At<'a>>,
}

struct Defaults<'a> {
    expiry: Placed<'a, Option<&'a str>>,
    refresh_before: Placed<'a, Duration>,
    grace: Placed<'a, Duration>,
    rotate_every: Placed<'a, Option<Duration>>,
}

impl Validator {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn version(&mut self, document: &Document) {
        let at = At::root(document);
        match document.raw.version {
            None => self.push(
                Diagnostic::error(Code::MissingField, "missing `version`")
                    .at(at.location())
                    .help("every policy file starts with `version: 1`"),
            ),
            Some(1) => {}
            Some(other) => self.push(
                Diagnostic::error(
                    Code::UnsupportedVersion,
                    format!("unsupported policy version {other}"),
                )
                .at(at.field("version").location())
                .label("expected 1")
                .help("this graphform reads policy version 1"),
            ),
        }
    }

    /// A section that may appear in several files of a policy directory and
    /// must then be identical. Returns the first definition and its place.
    fn shared<'a, T: PartialEq>(
        &mut self,
        documents: &'a [Document],
        key: &str,
        get: impl Fn(&'a RawPolicy) -> Option<&'a T>,
    ) -> Option<(&'a T, At<'a>)> {
        let mut first: Option<(&'a T, At<'a>)> = None;
        for document in documents {
            let Some(value) = get(&document.raw) else {
                continue;
            };
            let at = At::root(document).field(key);
            match &first {
                None => first = Some((value, at)),
                Some((kept, kept_at)) if *kept != value => {
                    let origin = kept_at.location();
                    self.push(
                        Diagnostic::error(
                            Code::ConflictingSetting,
                            format!("`{key}` differs from the one in {}", origin.file.display()),
                        )
                        .at(At::root(document).key(key).location())
                        .help(format!(
                            "files of one policy directory must agree on `{key}` (first defined at {}:{}); \
                             keep it in one file",
                            origin.file.display(),
                            origin.line
                        )),
                    );
                }
                Some(_) => {}
            }
        }
        first
    }

    fn graph(&mut self, raw: Option<(&RawGraph, At<'_>)>) -> Option<GraphSettings> {
        let (graph, at) = match raw {
            Some((graph, at)) => (graph.clone(), Some(at)),
            None => (RawGraph::default(), None),
        };
        let mut ok = true;
        let url = graph.url.unwrap_or_else(|| DEFAULT_GRAPH_URL.to_owned());
        if let Some(at) = at
            && let Err((message, help)) = check_url(&url)
        {
            ok = false;
            self.push(
                Diagnostic::error(Code::InvalidValue, message)
                    .at(at.field("url").location())
                    .help(help),
            );
        }
        let api_version = graph
            .api_version
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        if !is_api_version(&api_version) {
            ok = false;
            if let Some(at) = at {
                self.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!("invalid Graph API version `{api_version}`"),
                    )
                    .at(at.field("api_version").location())
                    .label("expected `vMAJOR.MINOR`")
                    .help(format!("for example `{DEFAULT_API_VERSION}`")),
                );
            }
        }
        ok.then(|| GraphSettings {
            url: url.trim_end_matches('/').to_owned(),
            api_version,
        })
    }

    fn store(&mut self, raw: Option<(&RawStore, At<'_>)>) -> Option<StoreSettings> {
        let Some((store, at)) = raw else {
            return Some(StoreSettings::File {
                path: DEFAULT_STORE_PATH.to_owned(),
                key_env: DEFAULT_STORE_KEY_ENV.to_owned(),
            });
        };
        let kinds = ["file", "vault", "aws-secrets-manager"];
        let kind = store.kind.as_deref().unwrap_or("file");
        if !kinds.contains(&kind) {
            self.push(
                Diagnostic::error(Code::InvalidValue, format!("unknown store type `{kind}`"))
                    .at(at.field("type").location())
                    .label("expected `file`, `vault` or `aws-secrets-manager`")
                    .help(
                        did_you_mean(kind, kinds)
                            .unwrap_or_else(|| "the default is `file`".to_owned()),
                    ),
            );
            return None;
        }
        let mut ok = self.store_fields_apply(store, kind, at);
        ok &= self.store_urls(store, at);
        for (name, value) in [("key_env", &store.key_env), ("token_env", &store.token_env)] {
            if let Some(value) = value {
                ok &= self.env_name(value, at.field(name));
            }
        }
        let mut required = |name: &str, value: &Option<String>| -> Option<String> {
            if value.is_none() {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::MissingField,
                        format!("a `{kind}` store needs `{name}`"),
                    )
                    .at(at.location())
                    .help(match name {
                        "address" => "for example `address: https://vault.example.com:8200`",
                        _ => "for example `region: eu-west-1`",
                    }),
                );
            }
            value.clone()
        };
        let settings = match kind {
            "vault" => {
                let address = required("address", &store.address);
                address.map(|address| StoreSettings::Vault {
                    address,
                    mount: store
                        .mount
                        .clone()
                        .unwrap_or_else(|| DEFAULT_VAULT_MOUNT.to_owned()),
                    prefix: store
                        .prefix
                        .clone()
                        .unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
                    token_env: store
                        .token_env
                        .clone()
                        .unwrap_or_else(|| DEFAULT_VAULT_TOKEN_ENV.to_owned()),
                    namespace: store.namespace.clone(),
                    ca_file: store.ca_file.clone(),
                })
            }
            "aws-secrets-manager" => {
                let region = required("region", &store.region);
                region.map(|region| StoreSettings::AwsSecretsManager {
                    region,
                    prefix: store
                        .prefix
                        .clone()
                        .unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
                    endpoint_url: store.endpoint_url.clone(),
                })
            }
            _ => Some(StoreSettings::File {
                path: store
                    .path
                    .clone()
                    .unwrap_or_else(|| DEFAULT_STORE_PATH.to_owned()),
                key_env: store
                    .key_env
                    .clone()
                    .unwrap_or_else(|| DEFAULT_STORE_KEY_ENV.to_owned()),
            }),
        };
        settings.filter(|_| ok)
    }

    /// A Vault address or AWS endpoint carries credentials: https, or http
    /// to loopback only.
    fn store_urls(&mut self, store: &RawStore, at: At<'_>) -> bool {
        let mut ok = true;
        for (name, value) in [
            ("address", &store.address),
            ("endpoint_url", &store.endpoint_url),
        ] {
            if let Some(url) = value
                && let Err((message, help)) = check_url(url)
            {
                ok = false;
                self.push(
                    Diagnostic::error(Code::InvalidValue, message)
                        .at(at.field(name).location())
                        .help(help),
                );
            }
        }
        ok
    }

    /// Each store field belongs to some store types only.
    fn store_fields_apply(&mut self, store: &RawStore, kind: &str, at: At<'_>) -> bool {
        let mut ok = true;
        let fields: [(&str, &Option<String>, &[&str]); 10] = [
            ("path", &store.path, &["file"]),
            ("key_env", &store.key_env, &["file"]),
            ("address", &store.address, &["vault"]),
            ("mount", &store.mount, &["vault"]),
            ("token_env", &store.token_env, &["vault"]),
            ("namespace", &store.namespace, &["vault"]),
            ("ca_file", &store.ca_file, &["vault"]),
            ("prefix", &store.prefix, &["vault", "aws-secrets-manager"]),
            ("region", &store.region, &["aws-secrets-manager"]),
            (
                "endpoint_url",
                &store.endpoint_url,
                &["aws-secrets-manager"],
            ),
        ];
        for (name, value, applies) in fields {
            if value.is_some() && !applies.contains(&kind) {
                ok = false;
                let types = applies
                    .iter()
                    .map(|t| format!("`type: {t}`"))
                    .collect::<Vec<_>>()
                    .join(" and ");
                self.push(
                    Diagnostic::error(
                        Code::NotApplicable,
                        format!("`{name}` does not apply to a `{kind}` store"),
                    )
                    .at(at.key(name).location())
                    .help(format!(
                        "`{name}` is for {types}; remove it or change `type`"
                    )),
                );
            }
        }
        ok
    }

    fn defaults<'a>(&mut self, raw: Option<(&'a RawDefaults, At<'a>)>) -> Defaults<'a> {
        let (defaults, at) = match raw {
            Some((defaults, at)) => (Some(defaults), Some(at)),
            None => (None, None),
        };
        let field = |name: &str| at.map(|at| at.field(name));
        let expiry = defaults.and_then(|d| d.expiry.as_deref());
        if let (Some(expiry), Some(at)) = (expiry, field("expiry")) {
            self.expiry_mode(expiry, at);
        }
        let mut duration = |value: Option<&String>, name: &str, default: Option<Duration>| {
            let parsed = value.and_then(|text| {
                self.duration(text, field(name).expect("a value implies a place"))
            });
            Placed {
                value: parsed.or(default),
                at: value.and(field(name)),
            }
        };
        let refresh_before = duration(
            defaults.and_then(|d| d.refresh_before.as_ref()),
            "refresh_before",
            Some(DEFAULT_REFRESH_BEFORE),
        );
        let grace = duration(
            defaults.and_then(|d| d.grace.as_ref()),
            "grace",
            Some(DEFAULT_GRACE),
        );
        let rotate_every = duration(
            defaults.and_then(|d| d.rotate_every.as_ref()),
            "rotate_every",
            None,
        );
        Defaults {
            expiry: Placed {
                value: expiry,
                at: field("expiry"),
            },
            refresh_before: Placed {
                value: refresh_before.value.unwrap_or(DEFAULT_REFRESH_BEFORE),
                at: refresh_before.at,
            },
            grace: Placed {
                value: grace.value.unwrap_or(DEFAULT_GRACE),
                at: grace.at,
            },
            rotate_every: Placed {
                value: rotate_every.value,
                at: rotate_every.at,
            },
        }
    }

    fn business(
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

    fn token(
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

    /// A token's expiry and grace: its own values, else the defaults, and
    /// the rules that tie them together.
    fn token_expiry(
        &mut self,
        at: &At<'_>,
        raw: &RawToken,
        defaults: &Defaults<'_>,
    ) -> Option<(Expiry, Duration)> {
        let mode_at = at.field("expiry");
        let never = match raw.expiry.as_deref() {
            Some(text) => self.expiry_mode(text, mode_at),
            // An invalid default was reported at `defaults.expiry`.
            None => Some(defaults.expiry.value == Some("never")),
        };
        let refresh_before = self.own_duration(
            at,
            "refresh_before",
            raw.refresh_before.as_ref(),
            defaults.refresh_before,
        );
        let grace = self.own_duration(at, "grace", raw.grace.as_ref(), defaults.grace);
        let rotate_every = match raw.rotate_every.as_ref() {
            Some(text) => {
                let field = at.field("rotate_every");
                Some(Placed {
                    value: Some(self.duration(text, field)?),
                    at: Some(field),
                })
            }
            None => None,
        };
        let (never, refresh_before, grace) = (never?, refresh_before?, grace?);
        if !never {
            return self
                .sixty_day_rules(at, raw, refresh_before, grace)
                .then_some((
                    Expiry::SixtyDays {
                        refresh_before: refresh_before.value,
                    },
                    grace.value,
                ));
        }
        let rotate_every = rotate_every.unwrap_or(defaults.rotate_every);
        if raw.refresh_before.is_some() {
            self.push(
                Diagnostic::warning(Code::NotApplicable, "`refresh_before` has no effect on a never-expiring token")
                    .at(at.key("refresh_before").location())
                    .help("never-expiring tokens are never refreshed; use `rotate_every` to re-issue them on a period"),
            );
        }
        match rotate_every.value {
            None => self.push(
                Diagnostic::warning(Code::Risky, "never-expiring token without `rotate_every`")
                    .at(mode_at.node.map_or(*at, |_| mode_at).location())
                    .label("stays valid until someone revokes it")
                    .help("set `rotate_every` (for example `90d`) so a leaked copy stops working in time"),
            ),
            Some(period) if period <= grace.value => {
                self.push(
                    Diagnostic::error(
                        Code::DurationOrder,
                        format!("`rotate_every` ({period}) must be longer than `grace` ({})", grace.value),
                    )
                    .at(rotate_every.at.unwrap_or(*at).location())
                    .help("otherwise a new rotation starts before the previous token is revoked"),
                );
                return None;
            }
            Some(_) => {}
        }
        Some((
            Expiry::Never {
                rotate_every: rotate_every.value,
            },
            grace.value,
        ))
    }

    /// The rules of 60-day tokens; false when one is broken.
    fn sixty_day_rules(
        &mut self,
        at: &At<'_>,
        raw: &RawToken,
        refresh_before: Placed<'_, Duration>,
        grace: Placed<'_, Duration>,
    ) -> bool {
        if raw.rotate_every.is_some() {
            self.push(
                Diagnostic::error(Code::NotApplicable, "`rotate_every` applies only to never-expiring tokens")
                    .at(at.key("rotate_every").location())
                    .help("60-day tokens are refreshed before they expire; remove `rotate_every`, or set `expiry: never`"),
            );
            return false;
        }
        if refresh_before.value >= SIXTY_DAYS || refresh_before.value == Duration::days(0) {
            self.push(
                Diagnostic::error(
                    Code::DurationOrder,
                    format!(
                        "`refresh_before` is {}, but must be between 1m and 60d",
                        refresh_before.value
                    ),
                )
                .at(refresh_before.at.unwrap_or(*at).location())
                .label("a 60-day token could never be refreshed in time")
                .help(format!(
                    "the default is {DEFAULT_REFRESH_BEFORE}: refresh when less than 20 days remain"
                )),
            );
            return false;
        }
        if grace.value >= refresh_before.value {
            self.push(
                Diagnostic::error(
                    Code::DurationOrder,
                    format!("`grace` ({}) must be shorter than `refresh_before` ({})", grace.value, refresh_before.value),
                )
                .at(grace.at.or(refresh_before.at).unwrap_or(*at).location())
                .label("the old token would outlive the refresh window")
                .help("a refreshed token's predecessor is revoked after `grace`; keep it well inside `refresh_before`"),
            );
            return false;
        }
        true
    }

    /// A token's own duration when it sets one (`None` if that is invalid),
    /// else the default.
    fn own_duration<'a>(
        &mut self,
        at: &At<'a>,
        name: &str,
        value: Option<&String>,
        default: Placed<'a, Duration>,
    ) -> Option<Placed<'a, Duration>> {
        match value {
            None => Some(default),
            Some(text) => {
                let field = at.field(name);
                self.duration(text, field).map(|value| Placed {
                    value,
                    at: Some(field),
                })
            }
        }
    }

    /// A required field: reports it when absent.
    fn required<'v>(
        &mut self,
        at: &At<'_>,
        key: &str,
        value: Option<&'v String>,
        what: &str,
    ) -> Option<&'v String> {
        if value.is_none() {
            self.push(
                Diagnostic::error(Code::MissingField, format!("missing `{key}`"))
                    .at(at.location())
                    .help(format!("add `{key}`: {what}")),
            );
        }
        value
    }

    fn name(&mut self, name: &str, at: At<'_>, what: &str) -> bool {
        if is_name(name) {
            return true;
        }
        let suggestion = suggest_name(name);
        let mut diagnostic =
            Diagnostic::error(Code::InvalidName, format!("invalid {what} name `{name}`"))
                .at(at.location())
                .label("expected lowercase letters, digits and `-`");
        diagnostic = match suggestion {
            Some(suggestion) => diagnostic.help(format!(
                "names match `[a-z0-9][a-z0-9-]*`: try `{suggestion}`"
            )),
            None => diagnostic.help("names match `[a-z0-9][a-z0-9-]*`"),
        };
        self.push(diagnostic);
        false
    }

    fn id(&mut self, id: &str, at: At<'_>) -> bool {
        if !id.is_empty() && id.bytes().all(|byte| byte.is_ascii_digit()) {
            return true;
        }
        self.push(
            Diagnostic::error(Code::InvalidId, format!("invalid Meta ID `{id}`"))
                .at(at.location())
                .label("expected a string of digits")
                .help("copy the numeric ID from Business Manager, e.g. \"100000000000001\""),
        );
        false
    }

    fn app_ref(&mut self, app: &str, at: At<'_>, app_names: &[&str]) -> bool {
        if app_names.contains(&app) {
            return true;
        }
        let help = did_you_mean(app, app_names.iter().copied()).unwrap_or_else(|| {
            if app_names.is_empty() {
                "declare it under the business's `apps`".to_owned()
            } else {
                format!(
                    "the business's apps are {}",
                    app_names
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        });
        self.push(
            Diagnostic::error(Code::UnknownApp, format!("unknown app `{app}`"))
                .at(at.location())
                .label("not in the business's `apps`")
                .help(help),
        );
        false
    }

    fn env_name(&mut self, value: &str, at: At<'_>) -> bool {
        // Never quote the value itself: CI logs keep what validate prints
        // (issue 10).
        if looks_like_secret(value, Context::EnvName) {
            self.push(
                Diagnostic::error(
                    Code::SecretInPolicy,
                    format!(
                        "`{}` is not an environment variable name",
                        mask(value)
                    ),
                )
                .at(at.location())
                .label("never write secrets in the policy")
                .help(
                    "this looks like a secret, not an environment variable name: put the value in an \
                     environment variable and write its name here; treat the value as leaked and rotate it",
                ),
            );
            return false;
        }
        if is_env_name(value) {
            return true;
        }
        self.push(
            Diagnostic::error(
                Code::InvalidEnvName,
                format!("`{value}` is not an environment variable name"),
            )
            .at(at.location())
            .label("expected letters, digits and `_`, not starting with a digit")
            .help(format!("for example `{}`", suggest_env_name(value))),
        );
        false
    }

    fn expiry_mode(&mut self, text: &str, at: At<'_>) -> Option<bool> {
        match text {
            "60d" => Some(false),
            "never" => Some(true),
            other => {
                let help = if Duration::parse_policy(other).is_some() {
                    "Meta issues 60-day or never-expiring system-user tokens only".to_owned()
                } else {
                    did_you_mean(other, ["60d", "never"])
                        .unwrap_or_else(|| "use `60d` (the default) or `never`".to_owned())
                };
                self.push(
                    Diagnostic::error(Code::InvalidValue, format!("unknown expiry `{other}`"))
                        .at(at.location())
                        .label("expected `60d` or `never`")
                        .help(help),
                );
                None
            }
        }
    }

    fn duration(&mut self, text: &str, at: At<'_>) -> Option<Duration> {
        let parsed = Duration::parse_policy(text);
        if parsed.is_none() {
            self.push(
                Diagnostic::error(Code::InvalidDuration, format!("invalid duration `{text}`"))
                    .at(at.location())
                    .label("expected `<n>d`, `<n>h` or `<n>m`")
                    .help(duration_hint(text)),
            );
        }
        parsed
    }
}

fn did_you_mean<'c>(input: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    closest(input, candidates).map(|best| format!("did you mean `{best}`?"))
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// A valid name close to an invalid one: `CI_Reporting` → `ci-reporting`.
fn suggest_name(name: &str) -> Option<String> {
    let mapped: String = name
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            '_' | ' ' | '.' => '-',
            c => c,
        })
        .collect();
    let trimmed = mapped.trim_start_matches('-').to_owned();
    (is_name(&trimmed) && trimmed != name).then_some(trimmed)
}

fn suggest_env_name(value: &str) -> String {
    let mapped: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if mapped.starts_with(|c: char| c.is_ascii_digit()) || mapped.is_empty() {
        format!("_{mapped}")
    } else {
        mapped
    }
}

fn duration_hint(text: &str) -> String {
    let trimmed = text.trim();
    let long_units = [
        ("days", 'd'),
        ("day", 'd'),
        ("hours", 'h'),
        ("hour", 'h'),
        ("minutes", 'm'),
        ("minute", 'm'),
        ("mins", 'm'),
        ("min", 'm'),
    ];
    for (word, unit) in long_units {
        if let Some(number) = trimmed.strip_suffix(word) {
            let number = number.trim();
            if !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()) {
                return format!("write `{number}{unit}`");
            }
        }
    }
    for suffix in ["weeks", "week", "w"] {
        if let Some(Ok(weeks)) = trimmed
            .strip_suffix(suffix)
            .map(|number| number.trim().parse::<u64>())
        {
            return format!("weeks are not a unit: write `{}d`", weeks.saturating_mul(7));
        }
    }
    if !trimmed.is_empty() && trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        return format!("add a unit: `{trimmed}d`, `{trimmed}h` or `{trimmed}m`");
    }
    "for example `20d`, `36h` or `90m`".to_owned()
}

fn is_api_version(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let numeric = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
}

/// `https://` anywhere; `http://` only to loopback (design.md §8): the
/// rule of [`graphform_types::url`], with the policy's wording.
fn check_url(url: &str) -> Result<(), (String, String)> {
    let not_a_url = || {
        (
            format!("`{url}` is not a URL"),
            "write it with its scheme, e.g. `https://graph.facebook.com`".to_owned(),
        )
    };
    let no_host = || {
        (
            format!("`{url}` has no host"),
            "e.g. `https://graph.facebook.com`".to_owned(),
        )
    };
    if !url.contains("://") {
        return Err(not_a_url());
    }
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(url::ParseError::EmptyHost) => return Err(no_host()),
        Err(_) => return Err(not_a_url()),
    };
    check_transport(&parsed).map_err(|err| match err {
        TransportError::NoHost => no_host(),
        other => (other.to_string(), other.hint().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http() {
        assert!(check_url("https://graph.facebook.com").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://[::1]:8080/").is_ok());
        assert!(check_url("http://localhost").is_ok());
        assert!(check_url("http://10.0.0.1").is_err());
        assert!(check_url("http://127.0.0.1.evil.example").is_err());
        assert!(check_url("graph.facebook.com").is_err());
    }

    #[test]
    fn names_and_env_names() {
        assert!(is_name("ci-reporting"));
        assert!(is_name("0day"));
        assert!(!is_name("-x"));
        assert!(!is_name("CI"));
        assert_eq!(
            suggest_name("CI_Reporting").as_deref(),
            Some("ci-reporting")
        );
        assert!(is_env_name("ACME_ADMIN_TOKEN"));
        assert!(!is_env_name("1TOKEN"));
        assert_eq!(suggest_env_name("acme-admin-token"), "ACME_ADMIN_TOKEN");
    }

    #[test]
    fn api_versions() {
        assert!(is_api_version("v26.0"));
        assert!(!is_api_version("26.0"));
        assert!(!is_api_version("v26"));
        assert!(!is_api_version("v26.0.1"));
    }
}
