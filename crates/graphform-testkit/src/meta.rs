//! [`Meta`]: an in-memory model of the Graph API operations graphform uses,
//! implementing the engine's [`Provider`], so observe, plan and apply can
//! be tested in milliseconds without HTTP.
//!
//! It keeps Meta's documented rules (graph-api.md) that the engine's
//! safety depends on, and no more:
//!
//! - an admin token acts for its business only; a dead caller gets 190;
//! - an issue needs the app installed for the system user (else 100);
//! - a refresh returns a new 60-day token and the old one keeps working
//!   until its own expiry (§3 "Old token after refresh");
//! - a revoke kills the token, called as a live token of the same app;
//!   invalidation kills every token of a system user;
//! - `debug_token` answers `is_valid` with a 190 token error for a dead
//!   or unknown token.
//!
//! Faults are placed exactly with [`Meta::fail_next`]: an error answer, or
//! an answer lost before or after the change was made. The HTTP behaviour
//! of the real API (batching, retries, HTML bodies) is the emulator's and
//! the graph client's business, tested over HTTP elsewhere.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use graphform_engine::Provider;
use graphform_graph::{
    AppCredentials, GraphError, IssueToken, NewSystemUser, RefreshedToken, Secret, SystemUserEntry,
    TokenInfo, UserToken,
};
use graphform_types::{Role, SIXTY_DAYS, Timestamp};
use serde_json::json;

/// A Graph operation, to place a fault on or count calls of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `GET /{business}/system_users`.
    List,
    /// `POST /{business}/system_users`.
    Create,
    /// `POST /{business}/system_users` with `system_user_id`.
    Rename,
    /// `POST /{system-user}/applications`.
    Install,
    /// `POST /{system-user}/access_tokens`.
    Issue,
    /// `GET /oauth/access_token`.
    Refresh,
    /// `POST /oauth/revoke`.
    Revoke,
    /// `DELETE /{system-user}/access_tokens`.
    Invalidate,
    /// `GET /debug_token` (each token counts once).
    Debug,
}

impl Op {
    fn method_and_endpoint(self) -> (&'static str, &'static str) {
        match self {
            Self::List => ("GET", "/{business}/system_users"),
            Self::Create | Self::Rename => ("POST", "/{business}/system_users"),
            Self::Install => ("POST", "/{system-user}/applications"),
            Self::Issue => ("POST", "/{system-user}/access_tokens"),
            Self::Refresh => ("GET", "/oauth/access_token"),
            Self::Revoke => ("POST", "/oauth/revoke"),
            Self::Invalidate => ("DELETE", "/{system-user}/access_tokens"),
            Self::Debug => ("GET", "/debug_token"),
        }
    }
}

/// What goes wrong with the next call of an operation.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Meta answers HTTP `status` with `body` (e.g. its error envelope, or
    /// an HTML page), and changes nothing.
    Answer(u16, serde_json::Value),
    /// The answer is lost after Meta made the change.
    LostAfter,
    /// The answer is lost before Meta made the change.
    LostBefore,
}

#[derive(Clone, Debug)]
struct Token {
    app_id: String,
    system_user_id: String,
    scopes: Vec<String>,
    issued_at: i64,
    /// `None`: never expires.
    expires_at: Option<i64>,
    alive: bool,
}

#[derive(Debug)]
struct SystemUser {
    business_id: String,
    name: String,
    role: Role,
    apps: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct World {
    now: i64,
    /// Admin token value → business ID.
    admins: BTreeMap<String, String>,
    /// System user ID → system user.
    system_users: BTreeMap<String, SystemUser>,
    /// Token value → token.
    tokens: BTreeMap<String, Token>,
    faults: BTreeMap<Op, VecDeque<Fault>>,
    calls: BTreeMap<Op, u64>,
    next_id: u64,
}

/// The model; clones share one world. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Meta {
    world: Arc<Mutex<World>>,
    label: Option<String>,
}

impl Meta {
    /// An empty world at `now`.
    pub fn new(now: Timestamp) -> Self {
        let meta = Self::default();
        meta.world().now = now.unix();
        meta
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("the model's lock")
    }

    /// Moves Meta's clock (token expiry is judged against it).
    pub fn set_now(&self, now: Timestamp) {
        self.world().now = now.unix();
    }

    /// Makes `admin` a valid admin token of the business `business_id`.
    pub fn add_admin(&self, business_id: &str, admin: &Secret) {
        self.world()
            .admins
            .insert(admin.expose().to_owned(), business_id.to_owned());
    }

    /// Adds a system user made outside graphform; returns its ID.
    pub fn add_system_user(&self, business_id: &str, name: &str) -> String {
        let mut world = self.world();
        let id = world.new_id();
        world.system_users.insert(
            id.clone(),
            SystemUser {
                business_id: business_id.to_owned(),
                name: name.to_owned(),
                role: Role::Employee,
                apps: BTreeSet::new(),
            },
        );
        id
    }

    /// The next call of `op` fails with `fault`.
    pub fn fail_next(&self, op: Op, fault: Fault) {
        self.world().faults.entry(op).or_default().push_back(fault);
    }

    /// How many times `op` was called (faulty calls included).
    pub fn calls(&self, op: Op) -> u64 {
        self.world().calls.get(&op).copied().unwrap_or(0)
    }

    /// The values of every token of `system_user_id` that still works now.
    pub fn live_tokens(&self, system_user_id: &str) -> Vec<Secret> {
        let world = self.world();
        world
            .tokens
            .iter()
            .filter(|(_, t)| t.system_user_id == system_user_id && world.works(t))
            .map(|(value, _)| Secret::new(value.clone()))
            .collect()
    }

    /// The ID of the system user named `name` in `business_id`, if any.
    pub fn system_user_id(&self, business_id: &str, name: &str) -> Option<String> {
        self.world()
            .system_users
            .iter()
            .find(|(_, u)| u.business_id == business_id && u.name == name)
            .map(|(id, _)| id.clone())
    }

    fn target(&self, fallback: &str) -> String {
        self.label.clone().unwrap_or_else(|| fallback.to_owned())
    }

    /// Counts a call of `op` and runs `change` unless a fault says
    /// otherwise.
    fn call<T>(
        &self,
        op: Op,
        about: &str,
        change: impl FnOnce(&mut World) -> Result<T, (u16, serde_json::Value)>,
    ) -> Result<T, GraphError> {
        let (method, endpoint) = op.method_and_endpoint();
        let target = self.target(about);
        let mut world = self.world();
        *world.calls.entry(op).or_default() += 1;
        tracing::debug!(method, endpoint, %target, "model call");
        let fault = world.faults.get_mut(&op).and_then(VecDeque::pop_front);
        let lost = || {
            GraphError::answer_lost(
                method,
                endpoint,
                target.clone(),
                "the model lost the answer",
            )
        };
        match fault {
            Some(Fault::Answer(status, body)) => Err(GraphError::from_answer(
                method,
                endpoint,
                target.clone(),
                status,
                &body,
            )),
            Some(Fault::LostBefore) => Err(lost()),
            Some(Fault::LostAfter) => {
                let _ = change(&mut world);
                Err(lost())
            }
            None => change(&mut world).map_err(|(status, body)| {
                GraphError::from_answer(method, endpoint, target.clone(), status, &body)
            }),
        }
    }
}

/// Meta's answer for a dead or unknown token (graph-api.md §6).
fn invalid_token() -> (u16, serde_json::Value) {
    (
        400,
        json!({"error": {"message": "Error validating access token: The session has been invalidated", "type": "OAuthException", "code": 190, "error_subcode": 467}}),
    )
}

fn invalid_parameter(message: &str) -> (u16, serde_json::Value) {
    (
        400,
        json!({"error": {"message": message, "type": "OAuthException", "code": 100}}),
    )
}

impl World {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}", 100_000 + self.next_id)
    }

    fn works(&self, token: &Token) -> bool {
        token.alive && token.expires_at.is_none_or(|at| at > self.now)
    }

    /// The business an admin token acts for.
    fn admin(&self, admin: &UserToken, business_id: &str) -> Result<(), (u16, serde_json::Value)> {
        match self.admins.get(admin.token().expose()) {
            Some(id) if id == business_id => Ok(()),
            Some(_) => Err((
                403,
                json!({"error": {"message": "(#200) Requires business_management permission to manage the object", "type": "OAuthException", "code": 200}}),
            )),
            None => Err(invalid_token()),
        }
    }

    fn admin_of_user(
        &self,
        admin: &UserToken,
        system_user_id: &str,
    ) -> Result<(), (u16, serde_json::Value)> {
        let user = self
            .system_users
            .get(system_user_id)
            .ok_or_else(|| invalid_parameter("Unsupported request: the object does not exist"))?;
        self.admin(admin, &user.business_id.clone())
    }

    fn mint(
        &mut self,
        app_id: &str,
        system_user_id: &str,
        scopes: Vec<String>,
        expiring: bool,
    ) -> Secret {
        let value = format!("EAAmodel{}", self.new_id());
        self.tokens.insert(
            value.clone(),
            Token {
                app_id: app_id.to_owned(),
                system_user_id: system_user_id.to_owned(),
                scopes,
                issued_at: self.now,
                expires_at: expiring.then(|| self.now + SIXTY_DAYS.as_secs()),
                alive: true,
            },
        );
        Secret::new(value)
    }
}

impl Provider for Meta {
    fn labeled(&self, label: String) -> Self {
        Self {
            world: Arc::clone(&self.world),
            label: Some(label),
        }
    }

    async fn list_system_users(
        &self,
        admin: &UserToken,
        business_id: &str,
    ) -> Result<Vec<SystemUserEntry>, GraphError> {
        self.call(Op::List, business_id, |world| {
            world.admin(admin, business_id)?;
            Ok(world
                .system_users
                .iter()
                .filter(|(_, u)| u.business_id == business_id)
                .map(|(id, u)| SystemUserEntry {
                    id: id.clone(),
                    name: u.name.clone(),
                    role: Some(u.role.clone()),
                })
                .collect())
        })
    }

    async fn create_system_user(
        &self,
        admin: &UserToken,
        business_id: &str,
        request: &NewSystemUser,
    ) -> Result<String, GraphError> {
        self.call(Op::Create, business_id, |world| {
            world.admin(admin, business_id)?;
            let id = world.new_id();
            world.system_users.insert(
                id.clone(),
                SystemUser {
                    business_id: business_id.to_owned(),
                    name: request.name.clone(),
                    role: request.role.clone(),
                    apps: BTreeSet::new(),
                },
            );
            Ok(id)
        })
    }

    async fn rename_system_user(
        &self,
        admin: &UserToken,
        business_id: &str,
        system_user_id: &str,
        name: &str,
    ) -> Result<(), GraphError> {
        self.call(Op::Rename, business_id, |world| {
            world.admin(admin, business_id)?;
            world.admin_of_user(admin, system_user_id)?;
            if let Some(user) = world.system_users.get_mut(system_user_id) {
                name.clone_into(&mut user.name);
            }
            Ok(())
        })
    }

    async fn install_app(
        &self,
        admin: &UserToken,
        system_user_id: &str,
        app_id: &str,
    ) -> Result<(), GraphError> {
        self.call(Op::Install, system_user_id, |world| {
            world.admin_of_user(admin, system_user_id)?;
            if let Some(user) = world.system_users.get_mut(system_user_id) {
                user.apps.insert(app_id.to_owned());
            }
            Ok(())
        })
    }

    async fn issue_token(
        &self,
        admin: &UserToken,
        system_user_id: &str,
        request: &IssueToken,
    ) -> Result<Secret, GraphError> {
        self.call(Op::Issue, system_user_id, |world| {
            world.admin_of_user(admin, system_user_id)?;
            if !world.system_users[system_user_id]
                .apps
                .contains(&request.app_id)
            {
                return Err(invalid_parameter(
                    "(#100) The app is not installed for the system user",
                ));
            }
            Ok(world.mint(
                &request.app_id,
                system_user_id,
                request.scopes.clone(),
                request.expiring,
            ))
        })
    }

    async fn refresh_token(
        &self,
        app: &AppCredentials,
        token: &Secret,
    ) -> Result<RefreshedToken, GraphError> {
        self.call(Op::Refresh, "", |world| {
            let old = world
                .tokens
                .get(token.expose())
                .filter(|t| world.works(t) && t.app_id == app.app_id())
                .cloned()
                .ok_or_else(invalid_token)?;
            let new = world.mint(&old.app_id, &old.system_user_id, old.scopes, true);
            Ok(RefreshedToken {
                token: new,
                token_type: Some("bearer".to_owned()),
                expires_in: Some(std::time::Duration::from_secs(
                    u64::try_from(SIXTY_DAYS.as_secs()).unwrap_or(0),
                )),
            })
        })
    }

    async fn revoke_token(&self, caller: &UserToken, token: &Secret) -> Result<(), GraphError> {
        self.call(Op::Revoke, "", |world| {
            let caller_ok = world
                .tokens
                .get(caller.token().expose())
                .is_some_and(|t| world.works(t) && t.app_id == caller.app().app_id());
            if !caller_ok {
                return Err(invalid_token());
            }
            if let Some(target) = world.tokens.get_mut(token.expose()) {
                target.alive = false;
            }
            Ok(())
        })
    }

    async fn invalidate_all_tokens(
        &self,
        admin: &UserToken,
        system_user_id: &str,
    ) -> Result<(), GraphError> {
        self.call(Op::Invalidate, system_user_id, |world| {
            world.admin_of_user(admin, system_user_id)?;
            for token in world.tokens.values_mut() {
                if token.system_user_id == system_user_id {
                    token.alive = false;
                }
            }
            Ok(())
        })
    }

    async fn debug_tokens(
        &self,
        app: &AppCredentials,
        tokens: &[Secret],
    ) -> Vec<Result<TokenInfo, GraphError>> {
        tokens
            .iter()
            .map(|token| {
                self.call(Op::Debug, "", |world| {
                    let info = match world.tokens.get(token.expose()) {
                        Some(t) if world.works(t) => json!({
                            "is_valid": true,
                            "app_id": t.app_id,
                            "type": "SYSTEM_USER",
                            "issued_at": t.issued_at,
                            "expires_at": t.expires_at.unwrap_or(0),
                            "scopes": t.scopes,
                            "user_id": t.system_user_id,
                        }),
                        other => json!({
                            "is_valid": false,
                            "app_id": other.map_or(app.app_id(), |t| t.app_id.as_str()),
                            "error": {"code": 190, "subcode": 467, "message": "Error validating access token: The session has been invalidated"},
                        }),
                    };
                    Ok(serde_json::from_value(info).expect("TokenInfo reads Meta's answer"))
                })
            })
            .collect()
    }
}
