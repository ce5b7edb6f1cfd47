//! Apply: execute a [`Plan`]'s changes against the Graph API and the store,
//! in dependency order, safely (design.md §3–§4).
//!
//! Apply never re-diffs: it carries out the changes it is given. Its
//! guarantees:
//!
//! - It holds the store's lease for its whole run.
//! - Every Graph mutation is journaled in the state document before it is
//!   sent, and the entry is removed once its result is recorded.
//! - A token Meta hands out is written to the store before anything else
//!   happens, and a replaced token is kept as `previous` until its grace
//!   period ends; nothing is revoked before its replacement is stored.
//! - It always leaves a consistent store: each change either completes, or
//!   fails with its journal entry left for the next run to settle, and the
//!   report says which.
//!
//! Changes of one system user run in plan order (create → install →
//! tokens); different system users run concurrently, up to a limit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt as _;
use graphform_graph::{
    AppCredentials, ErrorClass, GraphClient, GraphError, IssueToken, NewSystemUser, Secret,
    SystemUserRole, UserToken,
};
use graphform_spec::{Expiry, Role, Spec, Token};
use graphform_store::{
    ExpiryMode, Fingerprint, LeaseInfo, PreviousToken, Store, StoreError, StoredToken,
    TokenMetadata, TokenRecord, Version, Versioned,
};
use tokio::sync::Mutex;

use crate::document::{AuditEntry, InstallRecord, Intent, IntentKind, Resolution, StateDocument};
use crate::observe::Credentials;
use crate::plan::{Action, Change, Plan, system_user_address};
use crate::state::{State, UnixTime};

/// The lifetime of a 60-day token, in seconds.
const SIXTY_DAYS: i64 = 60 * 86_400;

/// How apply runs.
#[derive(Clone)]
pub struct ApplyOptions {
    /// How many system users are worked on at once.
    pub parallelism: usize,
    /// Who holds the lease (shown to anyone who finds the store locked).
    pub holder: String,
    /// How long the lease lasts, in seconds.
    pub lease_seconds: i64,
    /// Test hook: called with the mutation's number right before the n-th
    /// mutation (Graph call, token write or document write), when n equals
    /// the first value. The crash tests stop the process there.
    pub failpoint: Option<(u64, Failpoint)>,
}

/// A failpoint hook: called with the number of the mutation about to be
/// made.
pub type Failpoint = Arc<dyn Fn(u64) + Send + Sync>;

/// What apply works with: the policy, the state the plan was made from,
/// the Graph client, the store, the credentials and the clock.
pub struct ApplyContext<'a, S> {
    /// The validated policy.
    pub spec: &'a Spec,
    /// The observed state the plan was made from.
    pub state: &'a State,
    /// The Graph API client.
    pub client: &'a GraphClient,
    /// The token store.
    pub store: &'a S,
    /// Admin tokens and app secrets.
    pub credentials: &'a Credentials,
    /// graphform's clock.
    pub now: UnixTime,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            parallelism: 8,
            holder: "graphform apply".to_owned(),
            lease_seconds: 3600,
            failpoint: None,
        }
    }
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("parallelism", &self.parallelism)
            .field("holder", &self.holder)
            .field("lease_seconds", &self.lease_seconds)
            .field("failpoint", &self.failpoint.as_ref().map(|(n, _)| n))
            .finish()
    }
}

/// What apply reports as it goes (the CLI prints progress lines).
pub trait Progress: Sync {
    /// A change starts.
    fn started(&self, change: &Change);
    /// A change ended.
    fn finished(&self, change: &Change, outcome: &Outcome);
    /// Something to tell the user (a stale lease broken, journal entries
    /// settled).
    fn note(&self, message: &str);
}

/// The result of one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It was made.
    Done {
        /// The token it produced (issue, refresh, rotate) or removed
        /// (revoke, forget), if any.
        token: Option<Fingerprint>,
        /// The Meta ID it produced or acted on, if any.
        id: Option<String>,
    },
    /// It failed; nothing after it for the same system user was attempted.
    Failed {
        /// Why, naming the object, never a secret.
        error: String,
    },
    /// It was not attempted.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// Every change of the plan and what became of it, in plan order.
#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    /// The changes with their outcomes.
    pub outcomes: Vec<(Change, Outcome)>,
}

impl ApplyReport {
    /// Whether every change was made.
    pub fn succeeded(&self) -> bool {
        self.outcomes
            .iter()
            .all(|(_, outcome)| matches!(outcome, Outcome::Done { .. }))
    }
}

/// Why apply could not run at all (a failed change is reported in the
/// [`ApplyReport`] instead).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The store failed (including: it is locked by someone else).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state document could not be read.
    #[error("the state document is unreadable: {0}")]
    Document(String),
}

/// Applies `plan` (made from `context.state`), with the lease held
/// throughout. Returns what became of every change; an `Err` means apply
/// could not start (the store is locked or unreadable) and nothing was done.
pub async fn apply<S: Store>(
    context: &ApplyContext<'_, S>,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    let lease = acquire_lease(context.store, options, context.now, progress).await?;
    let result = run(context, plan, options, progress).await;
    if let Err(error) = context.store.release_lease(&lease).await {
        progress.note(&format!("could not release the lease: {error}"));
    }
    result
}

async fn run<S: Store>(
    context: &ApplyContext<'_, S>,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    let ApplyContext {
        spec,
        state,
        client,
        store,
        credentials,
        now,
    } = *context;
    let document = match store.read_state().await? {
        None => (StateDocument::default(), None),
        Some(Versioned { value, version }) => (
            serde_json::from_slice(&value).map_err(|e| ApplyError::Document(e.to_string()))?,
            Some(version),
        ),
    };
    let applier = Applier {
        spec,
        state,
        client,
        store,
        credentials,
        now,
        options,
        document: Mutex::new(document),
        mutations: AtomicU64::new(0),
        intents: AtomicU64::new(0),
    };
    applier.settle_journal(progress).await?;

    // Changes grouped by system user, in plan order within each group.
    let mut groups: Vec<(String, Vec<(usize, &Change)>)> = Vec::new();
    for (index, change) in plan.changes.iter().enumerate() {
        let owner = system_user_address(&change.address).to_owned();
        match groups.iter_mut().find(|(key, _)| *key == owner) {
            Some((_, changes)) => changes.push((index, change)),
            None => groups.push((owner, vec![(index, change)])),
        }
    }
    let applier = &applier;
    let results: Vec<Vec<(usize, Outcome)>> = futures_util::stream::iter(groups)
        .map(|(_, changes)| async move {
            let mut outcomes = Vec::new();
            let mut failed = false;
            for (index, change) in changes {
                if failed {
                    let outcome = Outcome::Skipped {
                        reason: "an earlier change of this system user failed".to_owned(),
                    };
                    progress.finished(change, &outcome);
                    outcomes.push((index, outcome));
                    continue;
                }
                progress.started(change);
                let outcome = match applier.change(change).await {
                    Ok(outcome) => outcome,
                    Err(error) => Outcome::Failed { error },
                };
                failed = matches!(outcome, Outcome::Failed { .. });
                progress.finished(change, &outcome);
                outcomes.push((index, outcome));
            }
            outcomes
        })
        .buffer_unordered(options.parallelism.max(1))
        .collect()
        .await;
    let mut outcomes: Vec<(usize, Outcome)> = results.into_iter().flatten().collect();
    outcomes.sort_by_key(|(index, _)| *index);
    Ok(ApplyReport {
        outcomes: outcomes
            .into_iter()
            .map(|(index, outcome)| (plan.changes[index].clone(), outcome))
            .collect(),
    })
}

/// Takes the lease. A lease left by a process of this host that no longer
/// runs (a killed apply) is broken, and said so; any other holder is an
/// error naming it.
async fn acquire_lease<S: Store>(
    store: &S,
    options: &ApplyOptions,
    now: UnixTime,
    progress: &dyn Progress,
) -> Result<graphform_store::Lease, ApplyError> {
    let request = LeaseInfo::for_current_process(&options.holder, now, options.lease_seconds);
    match store.acquire_lease(&request).await {
        Err(StoreError::Locked(holder)) if holder_is_gone(&holder) => {
            progress.note(&format!(
                "breaking the lock of {} (pid {} on this host), which is no longer running",
                holder.holder, holder.pid
            ));
            store.break_lease().await?;
            Ok(store.acquire_lease(&request).await?)
        }
        other => Ok(other?),
    }
}

/// Whether a lease holder is a process of this host that has exited.
fn holder_is_gone(holder: &LeaseInfo) -> bool {
    holder.host == graphform_store::local_host_name()
        && holder.pid != std::process::id()
        && cfg!(target_os = "linux")
        && !std::path::Path::new(&format!("/proc/{}", holder.pid)).exists()
}

/// The audit entry of a mutation an interrupted apply made, recorded
/// when a later run settles its journal entry.
fn settled_audit(intent: &Intent, action: &str) -> AuditEntry {
    AuditEntry {
        at: intent.started_at,
        address: intent.address.clone(),
        action: action.to_owned(),
        before: None,
        after: None,
        id: None,
    }
}

struct Applier<'a, S> {
    spec: &'a Spec,
    state: &'a State,
    client: &'a GraphClient,
    store: &'a S,
    credentials: &'a Credentials,
    now: UnixTime,
    options: &'a ApplyOptions,
    /// The state document and the version it was last written at.
    document: Mutex<(StateDocument, Option<Version>)>,
    mutations: AtomicU64,
    intents: AtomicU64,
}

/// What the policy says of a token address.
struct TokenTarget<'a> {
    business: &'a graphform_spec::Business,
    token: &'a Token,
}

impl<S: Store> Applier<'_, S> {
    /// Counts a mutation about to happen, and stops at the failpoint.
    fn mutation(&self) {
        let number = self.mutations.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((at, hook)) = &self.options.failpoint
            && *at == number
        {
            hook(number);
        }
    }

    /// Changes the state document, compare-and-set against the version last
    /// written.
    async fn update_document(&self, edit: impl FnOnce(&mut StateDocument)) -> Result<(), String> {
        let mut guard = self.document.lock().await;
        let mut next = guard.0.clone();
        edit(&mut next);
        let bytes = serde_json::to_vec(&next)
            .map_err(|e| format!("cannot encode the state document: {e}"))?;
        self.mutation();
        let version = self
            .store
            .write_state(&bytes, guard.1.as_ref())
            .await
            .map_err(|e| format!("cannot write the state document: {e}"))?;
        *guard = (next, Some(version));
        Ok(())
    }

    fn intent(&self, address: &str, kind: IntentKind) -> Intent {
        let n = self.intents.fetch_add(1, Ordering::SeqCst) + 1;
        Intent {
            id: format!("{}-{}-{n}", self.now, std::process::id()),
            address: address.to_owned(),
            kind,
            started_at: self.now,
        }
    }

    fn audit(&self, address: &str, action: Action) -> AuditEntry {
        AuditEntry {
            at: self.now,
            address: address.to_owned(),
            action: action.as_str().to_owned(),
            before: None,
            after: None,
            id: None,
        }
    }

    /// Drops the journal entries an interrupted apply left that are
    /// settled; keeps those whose token may be orphaned (plans warn of them
    /// until the user opts in to invalidation).
    async fn settle_journal(&self, progress: &dyn Progress) -> Result<(), ApplyError> {
        let journal = self.document.lock().await.0.journal.clone();
        let mut settled = Vec::new();
        let mut adopted = BTreeMap::new();
        let mut audit = Vec::new();
        for intent in &journal {
            let stored = self.state.tokens.get(&intent.address);
            if intent.resolution(stored) != Resolution::Settled {
                continue;
            }
            match &intent.kind {
                IntentKind::CreateSystemUser { .. } => {
                    if let Some(id) = self.observed_system_user_id(&intent.address) {
                        audit.push(AuditEntry {
                            id: Some(id.clone()),
                            ..settled_audit(intent, "create")
                        });
                        adopted.insert(intent.address.clone(), id);
                    }
                }
                // Its answer was stored (that is what settles it): the
                // token it produced belongs in the audit trail.
                IntentKind::NewToken { action, .. } => {
                    let produced = stored.and_then(|token| {
                        std::iter::once(&token.current)
                            .chain(token.previous.as_ref().map(|p| &p.value))
                            .find(|v| v.metadata.issued_by.as_deref() == Some(intent.id.as_str()))
                    });
                    audit.push(AuditEntry {
                        after: produced.map(|v| v.metadata.fingerprint.clone()),
                        ..settled_audit(intent, action)
                    });
                }
                // Whether these happened is read from Meta by the planner;
                // the change is made again if it did not.
                IntentKind::Install { .. }
                | IntentKind::Revoke { .. }
                | IntentKind::InvalidateAll { .. } => {}
            }
            settled.push(intent.id.clone());
        }
        if settled.is_empty() {
            return Ok(());
        }
        progress.note(&format!(
            "settled {} journal entr{} left by an interrupted apply",
            settled.len(),
            if settled.len() == 1 { "y" } else { "ies" }
        ));
        self.update_document(|document| {
            document
                .journal
                .retain(|intent| !settled.contains(&intent.id));
            document.system_users.extend(adopted);
            document.audit.extend(audit);
        })
        .await
        .map_err(ApplyError::Document)
    }

    async fn change(&self, change: &Change) -> Result<Outcome, String> {
        match change.action {
            Action::Create => self.create(change).await,
            Action::Install => self.install(change).await,
            Action::Issue | Action::Refresh | Action::Rotate => self.new_token(change).await,
            Action::Revoke | Action::Forget => self.remove_token(change).await,
            Action::Invalidate => self.invalidate(change).await,
        }
    }

    fn business(&self, address: &str) -> Result<&graphform_spec::Business, String> {
        let name = address.split('/').next().unwrap_or_default();
        self.spec
            .businesses
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| format!("business `{name}` is not in the policy"))
    }

    fn admin(&self, business: &graphform_spec::Business) -> Result<&UserToken, String> {
        self.credentials
            .admins
            .get(&business.name)
            .ok_or_else(|| format!("no admin token for business `{}`", business.name))
    }

    fn app(&self, app_id: &str) -> Result<&AppCredentials, String> {
        self.credentials
            .apps
            .get(app_id)
            .ok_or_else(|| format!("no secret for app {app_id}: it is not in the policy"))
    }

    fn token_target(&self, address: &str) -> Result<TokenTarget<'_>, String> {
        let mut parts = address.split('/');
        let (business, user, _, token) = (parts.next(), parts.next(), parts.next(), parts.next());
        let business = self.business(business.unwrap_or_default())?;
        let token = business
            .system_users
            .iter()
            .find(|u| Some(u.name.as_str()) == user)
            .and_then(|u| u.tokens.iter().find(|t| Some(t.name.as_str()) == token))
            .ok_or_else(|| format!("{address} is not in the policy"))?;
        Ok(TokenTarget { business, token })
    }

    /// The ID of the system user at `address`: recorded by this or an
    /// earlier apply, or found by name in what was observed.
    async fn system_user_id(&self, user_address: &str) -> Result<String, String> {
        if let Some(id) = self.document.lock().await.0.system_users.get(user_address) {
            return Ok(id.clone());
        }
        self.observed_system_user_id(user_address)
            .ok_or_else(|| format!("system user {user_address} was not found in Meta"))
    }

    fn observed_system_user_id(&self, user_address: &str) -> Option<String> {
        let (business, name) = user_address.split_once('/')?;
        let mut found = self
            .state
            .businesses
            .get(business)?
            .system_users
            .iter()
            .filter(|u| u.name == name);
        let first = found.next()?;
        found.next().is_none().then(|| first.id.clone())
    }

    /// Runs a Graph mutation journaled as `intent`. On a definite failure
    /// the entry is removed (nothing happened); when the outcome is unknown
    /// it stays for the next run to settle or report.
    async fn journaled<T>(
        &self,
        intent: Intent,
        call: impl Future<Output = Result<T, GraphError>>,
    ) -> Result<(T, String), String> {
        let id = intent.id.clone();
        self.update_document(|document| document.journal.push(intent))
            .await?;
        self.mutation();
        match call.await {
            Ok(value) => Ok((value, id)),
            Err(error) => {
                if error.class() != ErrorClass::OutcomeUnknown {
                    self.update_document(|document| document.journal.retain(|i| i.id != id))
                        .await?;
                }
                Err(error.to_string())
            }
        }
    }

    async fn create(&self, change: &Change) -> Result<Outcome, String> {
        let business = self.business(&change.address)?;
        let name = change
            .address
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let role = business
            .system_users
            .iter()
            .find(|u| u.name == name)
            .map_or(Role::Employee, |u| u.role);
        let request = NewSystemUser {
            name: name.clone(),
            role: match role {
                Role::Admin => SystemUserRole::Admin,
                Role::Employee => SystemUserRole::Employee,
            },
        };
        let admin = self.admin(business)?;
        let intent = self.intent(
            &change.address,
            IntentKind::CreateSystemUser {
                business_id: business.id.clone(),
                name,
            },
        );
        let client = self.client.labeled(change.address.clone());
        let (id, intent_id) = self
            .journaled(
                intent,
                client.create_system_user(admin, &business.id, &request),
            )
            .await?;
        let mut audit = self.audit(&change.address, Action::Create);
        audit.id = Some(id.clone());
        self.update_document(|document| {
            document
                .system_users
                .insert(change.address.clone(), id.clone());
            document.journal.retain(|i| i.id != intent_id);
            document.audit.push(audit);
        })
        .await?;
        Ok(Outcome::Done {
            token: None,
            id: Some(id),
        })
    }

    async fn install(&self, change: &Change) -> Result<Outcome, String> {
        let business = self.business(&change.address)?;
        let admin = self.admin(business)?;
        let user_address = system_user_address(&change.address);
        let system_user_id = self.system_user_id(user_address).await?;
        let app_id = change
            .after
            .as_ref()
            .and_then(|a| a.app_id.clone())
            .ok_or_else(|| format!("{}: the plan names no app", change.address))?;
        let intent = self.intent(
            &change.address,
            IntentKind::Install {
                system_user_id: system_user_id.clone(),
                app_id: app_id.clone(),
            },
        );
        let client = self.client.labeled(change.address.clone());
        let ((), intent_id) = self
            .journaled(intent, client.install_app(admin, &system_user_id, &app_id))
            .await?;
        let mut audit = self.audit(&change.address, Action::Install);
        audit.id = Some(app_id.clone());
        let record = InstallRecord {
            system_user_id,
            app_id: app_id.clone(),
            installed_at: self.now,
        };
        self.update_document(|document| {
            document.installs.insert(change.address.clone(), record);
            document.journal.retain(|i| i.id != intent_id);
            document.audit.push(audit);
        })
        .await?;
        Ok(Outcome::Done {
            token: None,
            id: Some(app_id),
        })
    }

    /// Issue, refresh or rotate: get a new token from Meta and store it at
    /// once, keeping the one it replaces as `previous` for its grace.
    async fn new_token(&self, change: &Change) -> Result<Outcome, String> {
        let address = &change.address;
        let TokenTarget { business, token } = self.token_target(address)?;
        let admin = self.admin(business)?;
        let app_id = business.apps[&token.app].id.clone();
        let app = self.app(&app_id)?.clone();
        let system_user_id = self.system_user_id(system_user_address(address)).await?;
        let stored = self
            .store
            .read_token(address)
            .await
            .map_err(|e| e.to_string())?;
        let expiring = matches!(token.expiry, Expiry::SixtyDays { .. });
        let intent = self.intent(
            address,
            IntentKind::NewToken {
                system_user_id: system_user_id.clone(),
                app_id: app_id.clone(),
                action: change.action.as_str().to_owned(),
            },
        );
        let client = self.client.labeled(address.clone());
        let (value, lifetime, intent_id) = if change.action == Action::Refresh {
            let current = stored
                .as_ref()
                .ok_or_else(|| format!("{address}: no stored token to refresh"))?;
            let (refreshed, id) = self
                .journaled(
                    intent,
                    client.refresh_token(&app, &current.value.current.value),
                )
                .await?;
            let lifetime = refreshed
                .expires_in
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .unwrap_or(SIXTY_DAYS);
            (refreshed.token, Some(lifetime), id)
        } else {
            let request = IssueToken {
                app_id: app_id.clone(),
                scopes: token.scopes.iter().cloned().collect(),
                expiring,
            };
            let (issued, id) = self
                .journaled(intent, client.issue_token(admin, &system_user_id, &request))
                .await?;
            (issued, expiring.then_some(SIXTY_DAYS), id)
        };
        let fingerprint = value.fingerprint();
        let metadata = TokenMetadata {
            address: address.clone(),
            app_id,
            system_user_id,
            scopes: token.scopes.clone(),
            expiry: if expiring {
                ExpiryMode::SixtyDays
            } else {
                ExpiryMode::Never
            },
            issued_at: self.now,
            expires_at: lifetime.map(|seconds| self.now.saturating_add(seconds)),
            fingerprint: fingerprint.clone(),
            issued_by: Some(intent_id.clone()),
        };
        let grace = i64::try_from(token.grace.as_secs()).unwrap_or(i64::MAX);
        let (record, replaced, expected) = self.replacement_record(
            change.action,
            StoredToken { value, metadata },
            stored,
            grace,
        );
        self.mutation();
        self.store
            .write_token(address, &record, expected.as_ref())
            .await
            .map_err(|e| {
                format!(
                    "Meta issued {fingerprint} for {address}, but storing it failed ({e}); \
                     it is journaled as possibly orphaned: plan with --invalidate-orphaned to make sure it cannot be used"
                )
            })?;
        let mut audit = self.audit(address, change.action);
        audit.before = replaced;
        audit.after = Some(fingerprint.clone());
        self.update_document(|document| {
            document.journal.retain(|i| i.id != intent_id);
            document.audit.push(audit);
        })
        .await?;
        Ok(Outcome::Done {
            token: Some(fingerprint),
            id: None,
        })
    }

    /// The record that stores `new`: the replaced value is kept as
    /// `previous` for `grace` (refresh, rotate), or dropped when it is dead
    /// (issue), keeping what was pending. Also returns the replaced value's
    /// fingerprint and the version to write against.
    fn replacement_record(
        &self,
        action: Action,
        new: StoredToken,
        stored: Option<Versioned<TokenRecord>>,
        grace: i64,
    ) -> (TokenRecord, Option<Fingerprint>, Option<Version>) {
        let Some(Versioned {
            value: old,
            version,
        }) = stored
        else {
            let record = TokenRecord {
                current: new,
                previous: None,
            };
            return (record, None, None);
        };
        let replaced = Some(old.current.metadata.fingerprint.clone());
        let previous = match action {
            Action::Issue => old.previous,
            _ => Some(PreviousToken {
                token: old.current,
                revoke_after: self.now.saturating_add(grace),
            }),
        };
        let record = TokenRecord {
            current: new,
            previous,
        };
        (record, replaced, Some(version))
    }

    /// Revoke (a live token) or forget (a dead one): the token is the
    /// change's `before` fingerprint, as the store holds it now.
    async fn remove_token(&self, change: &Change) -> Result<Outcome, String> {
        let address = &change.address;
        let fingerprint = change
            .before
            .as_ref()
            .and_then(|b| b.fingerprint.clone())
            .ok_or_else(|| format!("{address}: the plan names no token"))?;
        let Some(Versioned {
            value: record,
            version,
        }) = self
            .store
            .read_token(address)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(Outcome::Skipped {
                reason: "no token is stored there any more".to_owned(),
            });
        };
        let is_previous = record
            .previous
            .as_ref()
            .is_some_and(|p| p.token.metadata.fingerprint == fingerprint);
        let is_current = record.current.metadata.fingerprint == fingerprint;
        if !is_previous && !is_current {
            return Ok(Outcome::Skipped {
                reason: format!("{fingerprint} is no longer stored there"),
            });
        }
        if is_current && record.previous.is_some() {
            return Err(format!(
                "{address}: the replaced token must be revoked before the current one"
            ));
        }
        let target = if is_previous {
            record.previous.as_ref().map(|p| &p.token)
        } else {
            Some(&record.current)
        }
        .expect("the fingerprint was found in one of the two slots");
        if change.action == Action::Revoke {
            self.revoke(address, target, &record.current).await?;
        }
        self.mutation();
        if is_previous {
            let kept = TokenRecord {
                current: record.current.clone(),
                previous: None,
            };
            self.store
                .write_token(address, &kept, Some(&version))
                .await
                .map_err(|e| e.to_string())?;
        } else {
            self.store
                .delete_token(address, &version)
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut audit = self.audit(address, change.action);
        audit.before = Some(fingerprint.clone());
        self.update_document(|document| document.audit.push(audit))
            .await?;
        Ok(Outcome::Done {
            token: Some(fingerprint),
            id: None,
        })
    }

    /// Revokes `target`. The caller must be a token of the same app: the
    /// current token when it is (the replacement of a previous one),
    /// otherwise the token itself. A token already dead counts as revoked.
    async fn revoke(
        &self,
        address: &str,
        target: &StoredToken,
        current: &StoredToken,
    ) -> Result<(), String> {
        let app = self.app(&target.metadata.app_id)?.clone();
        let caller: &Secret =
            if current.metadata.app_id == target.metadata.app_id && current.value != target.value {
                &current.value
            } else {
                &target.value
            };
        let caller = UserToken::new(caller.clone(), app);
        let intent = self.intent(
            address,
            IntentKind::Revoke {
                fingerprint: target.metadata.fingerprint.clone(),
            },
        );
        let client = self.client.labeled(address.to_owned());
        // A token that is already dead counts as revoked.
        let call = async {
            match client.revoke_token(&caller, &target.value).await {
                Err(error) if error.class() == ErrorClass::TokenInvalid => Ok(()),
                other => other,
            }
        };
        let ((), intent_id) = self.journaled(intent, call).await?;
        self.update_document(|document| document.journal.retain(|i| i.id != intent_id))
            .await
    }

    async fn invalidate(&self, change: &Change) -> Result<Outcome, String> {
        let business = self.business(&change.address)?;
        let admin = self.admin(business)?;
        let system_user_id = match change.before.as_ref().and_then(|b| b.id.clone()) {
            Some(id) => id,
            None => self.system_user_id(&change.address).await?,
        };
        let intent = self.intent(
            &change.address,
            IntentKind::InvalidateAll {
                system_user_id: system_user_id.clone(),
            },
        );
        let client = self.client.labeled(change.address.clone());
        let ((), intent_id) = self
            .journaled(intent, client.invalidate_all_tokens(admin, &system_user_id))
            .await?;
        let mut audit = self.audit(&change.address, Action::Invalidate);
        audit.id = Some(system_user_id.clone());
        self.update_document(|document| {
            document.journal.retain(|i| {
                i.id != intent_id
                    && !matches!(&i.kind, IntentKind::NewToken { system_user_id: id, .. } if *id == system_user_id)
            });
            document.audit.push(audit);
        })
        .await?;
        Ok(Outcome::Done {
            token: None,
            id: Some(system_user_id),
        })
    }
}
