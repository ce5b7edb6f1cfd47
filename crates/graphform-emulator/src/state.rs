//! The emulated world as it changes: businesses, apps, system users,
//! installs and tokens, plus the clock, random generators, faults and
//! counters. One `State` sits behind one mutex; handlers never await while
//! holding it.

use std::collections::{BTreeMap, BTreeSet};

use graphform_types::{Fingerprint, Secret, fingerprint};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::clock::{Clock, DAY};
use crate::counters::Counters;
use crate::faults::Faults;
use crate::graph_error::GraphError;
use crate::quirks::Quirks;
use crate::vocabulary::Role;
use crate::world::{AccessLevel, DEFAULT_ADMIN_SCOPES, World};

/// Lifetime of an expiring token: 60 days.
pub(crate) const SIXTY_DAYS: i64 = 60 * DAY;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub(crate) struct Business {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) requires_expiring_tokens: bool,
    /// System-user IDs in creation order (the list order).
    pub(crate) system_users: Vec<String>,
}

pub(crate) struct App {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) business_id: String,
    pub(crate) secret: Secret,
    pub(crate) secret_env: String,
    pub(crate) access_level: AccessLevel,
    pub(crate) require_appsecret_proof: bool,
}

pub(crate) struct SystemUser {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) business_id: String,
    pub(crate) role: Role,
    pub(crate) created_time: i64,
    /// `(id, name)` of the creator, when created through the API.
    pub(crate) created_by: Option<(String, String)>,
}

pub(crate) struct AdminUser {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) businesses: Vec<String>,
}

/// Whose token it is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    SystemUser(String),
    AdminUser(String),
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.token_type(), self.id())
    }
}

impl Subject {
    pub(crate) fn id(&self) -> &str {
        match self {
            Subject::SystemUser(id) | Subject::AdminUser(id) => id,
        }
    }

    /// `debug_token`'s `type`.
    pub(crate) fn token_type(&self) -> &'static str {
        match self {
            Subject::SystemUser(_) => "SYSTEM_USER",
            Subject::AdminUser(_) => "USER",
        }
    }
}

/// What happened to a token, apart from expiring.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    /// `GET /oauth/revoke`.
    Revoked,
    /// `POST /_emulator/drift/revoke`.
    RevokedOutOfBand,
    /// `DELETE /{system-user-id}/access_tokens`.
    Invalidated,
    /// `POST /_emulator/drift/invalidate`.
    InvalidatedOutOfBand,
    /// `POST /_emulator/drift/uninstall`.
    AppUninstalled,
}

/// How a token came to be.
#[derive(Clone)]
pub(crate) enum Origin {
    World,
    Issued,
    Refreshed(Fingerprint),
}

pub(crate) struct Token {
    pub(crate) value: Secret,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) subject: Subject,
    pub(crate) app_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: i64,
    /// 0 = never.
    pub(crate) expires_at: i64,
    pub(crate) killed: Option<(Kill, i64)>,
    pub(crate) origin: Origin,
}

/// A token's state at some instant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Liveness {
    Valid,
    Expired,
    Revoked,
    Invalidated,
    AppUninstalled,
}

impl Token {
    pub(crate) fn liveness(&self, now: i64) -> Liveness {
        match self.killed {
            Some((Kill::Revoked | Kill::RevokedOutOfBand, _)) => Liveness::Revoked,
            Some((Kill::Invalidated | Kill::InvalidatedOutOfBand, _)) => Liveness::Invalidated,
            Some((Kill::AppUninstalled, _)) => Liveness::AppUninstalled,
            None if self.expires_at != 0 && now >= self.expires_at => Liveness::Expired,
            None => Liveness::Valid,
        }
    }

    /// The 190 error a call made with this token gets, if it is dead.
    pub(crate) fn error(&self, now: i64) -> Option<GraphError> {
        match self.liveness(now) {
            Liveness::Valid => None,
            Liveness::Expired => Some(GraphError::token_expired(self.expires_at, now)),
            Liveness::Revoked => Some(GraphError::token_revoked()),
            Liveness::Invalidated => Some(GraphError::token_invalidated()),
            Liveness::AppUninstalled => Some(GraphError::app_not_installed(
                self.subject.id(),
                &self.app_id,
            )),
        }
    }

    /// A one-line reason for the inspection API.
    pub(crate) fn why(&self, now: i64) -> Option<String> {
        match self.killed {
            Some((Kill::Revoked, at)) => Some(format!("revoked via /oauth/revoke at {at}")),
            Some((Kill::RevokedOutOfBand, at)) => Some(format!("revoked out of band at {at}")),
            Some((Kill::Invalidated, at)) => Some(format!(
                "invalidated by DELETE /{{system-user-id}}/access_tokens at {at}"
            )),
            Some((Kill::InvalidatedOutOfBand, at)) => {
                Some(format!("invalidated out of band at {at}"))
            }
            Some((Kill::AppUninstalled, at)) => Some(format!("app uninstalled at {at}")),
            None if self.liveness(now) == Liveness::Expired => {
                Some(format!("expired at {}", self.expires_at))
            }
            None => None,
        }
    }
}

/// A token of the world, remembered for the summary.
pub(crate) struct WorldToken {
    pub(crate) index: usize,
    pub(crate) env: String,
}

pub(crate) struct State {
    pub(crate) clock: Clock,
    rng: StdRng,
    trace_rng: StdRng,
    pub(crate) businesses: BTreeMap<String, Business>,
    pub(crate) apps: BTreeMap<String, App>,
    pub(crate) system_users: BTreeMap<String, SystemUser>,
    pub(crate) admin_users: BTreeMap<String, AdminUser>,
    /// `(system-user ID, app ID)`.
    pub(crate) installs: BTreeSet<(String, String)>,
    pub(crate) tokens: Vec<Token>,
    token_index: BTreeMap<Fingerprint, usize>,
    pub(crate) world_tokens: Vec<WorldToken>,
    next_id: u64,
    pub(crate) faults: Faults,
    /// Documented answer variants switched on by the control API.
    pub(crate) quirks: Quirks,
    pub(crate) counters: Counters,
    /// `http://127.0.0.1:PORT`, for `paging.next`.
    pub(crate) base_url: String,
}

impl State {
    /// Builds the state of a validated world.
    pub(crate) fn from_world(world: &World, base_url: String) -> Self {
        let seed = world.seed.unwrap_or(0);
        let clock = Clock::new(world.clock_start, world.clock_frozen);
        let start = clock.now();
        let mut state = State {
            clock,
            rng: StdRng::seed_from_u64(seed),
            trace_rng: StdRng::seed_from_u64(seed ^ 0x5eed_f00d_cafe_0001),
            businesses: BTreeMap::new(),
            apps: BTreeMap::new(),
            system_users: BTreeMap::new(),
            admin_users: BTreeMap::new(),
            installs: BTreeSet::new(),
            tokens: Vec::new(),
            token_index: BTreeMap::new(),
            world_tokens: Vec::new(),
            next_id: 615_500_000_000_001,
            faults: Faults::new(),
            quirks: Quirks::default(),
            counters: Counters::default(),
            base_url,
        };
        for b in &world.businesses {
            state.businesses.insert(
                b.id.clone(),
                Business {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    requires_expiring_tokens: b.requires_expiring_tokens,
                    system_users: Vec::new(),
                },
            );
        }
        let secret_envs = app_secret_envs(world);
        for (app, secret_env) in world.apps.iter().zip(secret_envs) {
            let secret = app
                .secret
                .clone()
                .unwrap_or_else(|| state.generate_secret());
            state.apps.insert(
                app.id.clone(),
                App {
                    id: app.id.clone(),
                    name: app.name.clone(),
                    business_id: app.business.clone(),
                    secret,
                    secret_env,
                    access_level: app.access_level,
                    require_appsecret_proof: app.require_appsecret_proof,
                },
            );
        }
        for su in &world.system_users {
            state.add_system_user(SystemUser {
                id: su.id.clone(),
                name: su.name.clone(),
                business_id: su.business.clone(),
                role: su.role,
                created_time: su.created_time.unwrap_or(start),
                created_by: None,
            });
        }
        for user in &world.admin_users {
            state.admin_users.insert(
                user.id.clone(),
                AdminUser {
                    id: user.id.clone(),
                    name: user.name.clone(),
                    businesses: user.businesses.clone(),
                },
            );
        }
        for install in &world.installs {
            state
                .installs
                .insert((install.system_user.clone(), install.app.clone()));
        }
        state.add_world_tokens(world, start);
        state
    }

    fn add_world_tokens(&mut self, world: &World, start: i64) {
        let mut env_counts: BTreeMap<String, usize> = BTreeMap::new();
        for token in &world.admin_tokens {
            let subject = match (&token.system_user, &token.user) {
                (Some(id), _) => Subject::SystemUser(id.clone()),
                (None, Some(id)) => Subject::AdminUser(id.clone()),
                (None, None) => continue,
            };
            if let Subject::SystemUser(id) = &subject {
                self.installs.insert((id.clone(), token.app.clone()));
            }
            let business_name = self
                .business_of(&subject)
                .and_then(|id| self.businesses.get(id))
                .map(|b| b.name.clone())
                .unwrap_or_default();
            let env = token.env.clone().unwrap_or_else(|| {
                let base = format!("{}_ADMIN_TOKEN", env_name(&business_name));
                let n = env_counts.entry(base.clone()).or_insert(0);
                *n += 1;
                if *n == 1 { base } else { format!("{base}_{n}") }
            });
            let value = token.token.clone().unwrap_or_else(|| self.generate_token());
            let scopes = token.scopes.clone().unwrap_or_else(|| {
                DEFAULT_ADMIN_SCOPES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            });
            let index = self.insert_token(Token {
                fingerprint: value.fingerprint(),
                value,
                subject,
                app_id: token.app.clone(),
                scopes,
                issued_at: token.issued_at.unwrap_or(start),
                expires_at: token.expires_at.unwrap_or(0),
                killed: None,
                origin: Origin::World,
            });
            self.world_tokens.push(WorldToken { index, env });
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    pub(crate) fn add_system_user(&mut self, su: SystemUser) {
        if let Some(business) = self.businesses.get_mut(&su.business_id) {
            business.system_users.push(su.id.clone());
        }
        self.system_users.insert(su.id.clone(), su);
    }

    /// A fresh numeric ID no object uses.
    pub(crate) fn new_id(&mut self) -> String {
        loop {
            let id = self.next_id.to_string();
            self.next_id += 1;
            let taken = self.businesses.contains_key(&id)
                || self.apps.contains_key(&id)
                || self.system_users.contains_key(&id)
                || self.admin_users.contains_key(&id);
            if !taken {
                return id;
            }
        }
    }

    /// A fresh token string: `EAA` + base62, 150 to 250 characters in all.
    pub(crate) fn generate_token(&mut self) -> Secret {
        loop {
            let len = self.rng.random_range(150..=250);
            let mut value = String::with_capacity(len);
            value.push_str("EAA");
            while value.len() < len {
                value.push(char::from(BASE62[self.rng.random_range(0..BASE62.len())]));
            }
            if !self.token_index.contains_key(&fingerprint(&value)) {
                return Secret::new(value);
            }
        }
    }

    fn generate_secret(&mut self) -> Secret {
        let bytes: [u8; 16] = self.rng.random();
        Secret::new(hex::encode(bytes))
    }

    /// A fresh `fbtrace_id`, 11 characters like Meta's.
    pub(crate) fn fbtrace_id(&mut self) -> String {
        (0..11)
            .map(|_| char::from(BASE62[self.trace_rng.random_range(0..BASE62.len())]))
            .collect()
    }

    pub(crate) fn insert_token(&mut self, token: Token) -> usize {
        let index = self.tokens.len();
        self.token_index.insert(token.fingerprint.clone(), index);
        self.tokens.push(token);
        index
    }

    /// Issues a new token and returns its index.
    pub(crate) fn issue_token(
        &mut self,
        subject: Subject,
        app_id: &str,
        scopes: Vec<String>,
        expiring: bool,
        origin: Origin,
    ) -> usize {
        let now = self.now();
        let value = self.generate_token();
        self.insert_token(Token {
            fingerprint: value.fingerprint(),
            value,
            subject,
            app_id: app_id.to_owned(),
            scopes,
            issued_at: now,
            expires_at: if expiring { now + SIXTY_DAYS } else { 0 },
            killed: None,
            origin,
        })
    }

    /// The token with this exact value.
    pub(crate) fn find_token(&self, value: &str) -> Option<usize> {
        let index = *self.token_index.get(&fingerprint(value))?;
        (self.tokens[index].value.expose() == value).then_some(index)
    }

    /// The token with this fingerprint.
    pub(crate) fn find_fingerprint(&self, fingerprint: &str) -> Option<usize> {
        self.token_index
            .iter()
            .find(|(fp, _)| fp.as_str() == fingerprint)
            .map(|(_, index)| *index)
    }

    /// The indexes of a system user's tokens (of one app, if given), dead
    /// or alive.
    pub(crate) fn tokens_of(&self, system_user_id: &str, app_id: Option<&str>) -> Vec<usize> {
        let subject = Subject::SystemUser(system_user_id.to_owned());
        self.tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.subject == subject && app_id.is_none_or(|app| t.app_id == app))
            .map(|(i, _)| i)
            .collect()
    }

    /// Marks a token dead, unless it already is.
    pub(crate) fn kill(&mut self, index: usize, how: Kill) {
        let now = self.now();
        let token = &mut self.tokens[index];
        if token.killed.is_none() {
            token.killed = Some((how, now));
        }
    }

    /// The app of an app token `app_id|secret`, if it is valid.
    pub(crate) fn app_token(&self, value: &str) -> Option<&App> {
        let (app_id, secret) = value.split_once('|')?;
        self.apps
            .get(app_id)
            .filter(|app| app.secret.expose() == secret)
    }

    /// The highest access level among the apps a business owns.
    pub(crate) fn business_access_level(&self, business_id: &str) -> Option<AccessLevel> {
        self.apps
            .values()
            .filter(|app| app.business_id == business_id)
            .map(|app| app.access_level)
            .max()
    }

    /// The ID of the business a subject acts in: a system user's own, an
    /// admin user's first.
    pub(crate) fn business_of(&self, subject: &Subject) -> Option<&str> {
        match subject {
            Subject::SystemUser(id) => self.system_users.get(id).map(|su| su.business_id.as_str()),
            Subject::AdminUser(id) => self
                .admin_users
                .get(id)
                .and_then(|u| u.businesses.first())
                .map(String::as_str),
        }
    }

    /// The display name of a token's subject.
    pub(crate) fn subject_name(&self, subject: &Subject) -> String {
        match subject {
            Subject::SystemUser(id) => self.system_users.get(id).map(|su| su.name.clone()),
            Subject::AdminUser(id) => self.admin_users.get(id).map(|u| u.name.clone()),
        }
        .unwrap_or_default()
    }
}

/// `Acme Corp` → `ACME_CORP`.
pub(crate) fn env_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "APP".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Each app's secret variable: `secret_env`, else `<APP>_APP_SECRET`, else
/// (when two apps share a name) `<BUSINESS>_<APP>_APP_SECRET`.
fn app_secret_envs(world: &World) -> Vec<String> {
    let plain: Vec<String> = world
        .apps
        .iter()
        .map(|app| format!("{}_APP_SECRET", env_name(&app.name)))
        .collect();
    world
        .apps
        .iter()
        .zip(&plain)
        .map(|(app, name)| {
            if let Some(explicit) = &app.secret_env {
                explicit.clone()
            } else if plain.iter().filter(|n| *n == name).count() > 1 {
                let business = world
                    .business(&app.business)
                    .map_or("", |b| b.name.as_str());
                format!("{}_{name}", env_name(business))
            } else {
                name.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_look_real_and_vary_in_length() {
        let mut state = State::from_world(&World::demo(), String::new());
        let mut lengths = BTreeSet::new();
        for _ in 0..50 {
            let token = state.generate_token();
            let value = token.expose();
            assert!(value.starts_with("EAA"));
            assert!((150..=250).contains(&value.len()), "{}", value.len());
            assert!(value.bytes().all(|b| b.is_ascii_alphanumeric()));
            lengths.insert(value.len());
        }
        assert!(lengths.len() > 10);
    }

    #[test]
    fn same_seed_same_world() {
        let a = State::from_world(&World::demo(), String::new());
        let b = State::from_world(&World::demo(), String::new());
        assert_eq!(a.tokens[0].value, b.tokens[0].value);
        assert_eq!(
            a.apps["200000000000001"].secret,
            b.apps["200000000000001"].secret
        );
    }

    #[test]
    fn env_names_are_shell_friendly() {
        assert_eq!(env_name("Acme Corp."), "ACME_CORP");
        assert_eq!(env_name("reporting"), "REPORTING");
        assert_eq!(env_name("--"), "APP");
    }
}
