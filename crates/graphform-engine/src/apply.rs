//! Apply: take the lease, observe and plan under it, get the plan
//! approved, and execute its changes against the Graph API and the store,
//! in dependency order, safely (design.md §3–§4, docs/operations.md).
//!
//! The accounting invariant apply keeps, at every moment (after a kill at
//! any point, against any answer a network can give): every valid token of
//! a managed system user is in the store (current or previous) or is named,
//! with its system user, by a warning of the next `plan`; no token is
//! revoked before its replacement is durably stored; no change is reported
//! done unless its outcome was verified. How:
//!
//! - **Lock first.** The lease is taken before anything is read, renewed
//!   while apply runs, and released at the end; the plan that is approved
//!   and executed is the one computed under it. A saved plan file is a
//!   review record: it runs only if the plan recomputed under the lease
//!   makes the same changes.
//! - Every Graph mutation is journaled in the state document before it is
//!   sent; the entry is removed once its verified result is recorded. A
//!   token-minting call whose answer is lost stays journaled, and the next
//!   plan warns of the token it may have minted.
//! - A token Meta hands out is written to the store before anything else
//!   happens; if that write fails, the token is revoked with itself as the
//!   caller. A replaced token is kept as `previous` until its grace ends.
//! - A change is done only on Meta's documented success answer. A revoke
//!   that does not get it is settled by asking `debug_token` about the
//!   revoked token itself, never from an error about the caller.
//!
//! Changes of one system user run in plan order (create → install →
//! tokens); different system users run concurrently, up to a limit.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use graphform_graph::{
    AppCredentials, ErrorClass, GraphClient, GraphError, IssueToken, NewSystemUser, Secret,
    SystemUserRole, UserToken,
};
use graphform_spec::{Expiry, Spec, Token};
use graphform_store::{
    ExpiryMode, Fingerprint, Lease, LeaseInfo, PreviousToken, Store, StoreError, StoredToken,
    TokenMetadata, TokenRecord, Version, Versioned,
};
use graphform_types::{
    Address, InstallAddress, SIXTY_DAYS, SystemUserAddress, Timestamp, TokenAddress,
};
use tokio::sync::Mutex;

use crate::document::{AuditEntry, InstallRecord, Intent, IntentKind, Resolution, StateDocument};
use crate::observe::{Credentials, ObserveError, health_of, observe};
use crate::plan::{Action, Change, NoticeKind, Plan, PlanOptions, plan as make_plan};
use crate::state::{Health, State};

/// How apply runs.
#[derive(Clone)]
pub struct ApplyOptions {
    /// How many system users are worked on at once.
    pub parallelism: usize,
    /// Who holds the lease (shown to anyone who finds the store locked).
    pub holder: String,
    /// How long the lease lasts, in seconds, unless renewed.
    pub lease_seconds: i64,
    /// How often the lease is renewed while apply runs (well before it
    /// expires: a third of its length by default).
    pub lease_renew_every: Duration,
    /// How the plan is made under the lease.
    pub plan: PlanOptions,
    /// Allow an invalidation that kills the admin credential graphform
    /// acts with (`--allow-admin-invalidation`).
    pub allow_admin_invalidation: bool,
    /// Test hook: called with the mutation's number right before the n-th
    /// mutation (Graph call, token write or document write), when n equals
    /// the first value. The crash tests stop the process there.
    pub failpoint: Option<(u64, Failpoint)>,
}

/// A failpoint hook: called with the number of the mutation about to be
/// made.
pub type Failpoint = Arc<dyn Fn(u64) + Send + Sync>;

/// What apply works with: the policy, the Graph client, the store, the
/// credentials and the clock.
pub struct ApplyContext<'a, S> {
    /// The validated policy.
    pub spec: &'a Spec,
    /// The Graph API client.
    pub client: &'a GraphClient,
    /// The token store.
    pub store: &'a S,
    /// Admin tokens and app secrets.
    pub credentials: &'a Credentials,
    /// graphform's clock: the time the plan is made at.
    pub now: Timestamp,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            parallelism: 8,
            holder: "graphform apply".to_owned(),
            lease_seconds: 3600,
            lease_renew_every: Duration::from_mins(20),
            plan: PlanOptions::default(),
            allow_admin_invalidation: false,
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
            .field("lease_renew_every", &self.lease_renew_every)
            .field("plan", &self.plan)
            .field("allow_admin_invalidation", &self.allow_admin_invalidation)
            .field("failpoint", &self.failpoint.as_ref().map(|(n, _)| n))
            .finish()
    }
}

/// What apply reports as it goes (the CLI prints progress lines).
pub trait Progress: Sync {
    /// The plan computed under the lease, before it is approved (once).
    fn planned(&self, _plan: &Plan) {}
    /// A change starts.
    fn started(&self, change: &Change);
    /// A change ended.
    fn finished(&self, change: &Change, outcome: &Outcome);
    /// Something to tell the user (a stale lease broken, journal entries
    /// settled).
    fn note(&self, message: &str);
}

/// A boxed future, for [`Approver`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Asks a person whether to make the changes of a plan.
pub trait Approver: Sync {
    /// `Ok(true)` to go ahead. Called once, with the plan computed under
    /// the lease, only when it has changes. The lease is renewed while it
    /// waits.
    fn approve<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<bool, String>>;
}

/// How the plan computed under the lease is approved.
#[derive(Clone, Copy)]
pub enum Approval<'a> {
    /// Without asking (`--auto-approve`, pipelines, tests).
    Auto,
    /// A reviewed plan file: the plan computed under the lease must make
    /// exactly its changes (addresses, actions, system users, before and
    /// after), and it must not have expired.
    Saved(&'a Plan),
    /// Ask.
    Ask(&'a dyn Approver),
}

/// The result of one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It was made, and its outcome verified.
    Done {
        /// The token it produced (issue, refresh, rotate) or removed
        /// (revoke, forget), if any.
        token: Option<Fingerprint>,
        /// The Meta ID it produced or acted on, if any.
        id: Option<String>,
    },
    /// It failed, or its outcome could not be verified; nothing after it
    /// for the same system user was attempted.
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

/// The plan apply made under the lease, and what became of every change.
#[derive(Clone, Debug)]
pub struct ApplyReport {
    /// The plan computed under the lease (the one executed).
    pub plan: Plan,
    /// The changes with their outcomes, in plan order.
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

/// Why apply did not run (a failed change is reported in the
/// [`ApplyReport`] instead). Nothing was changed, except where a variant
/// says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The store failed (including: it is locked by someone else).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Observation under the lease failed.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// The state document could not be read.
    #[error("the state document is unreadable: {0}")]
    Document(String),
    /// The saved plan has expired: a time-driven decision changed.
    #[error(
        "the plan expired at {}: a time-driven decision in it has changed since (a refresh window opened, a grace period ended, a token expired)",
        .0
    )]
    PlanExpired(Timestamp),
    /// The policy is not the one the saved plan was made from.
    #[error("the policy changed since the plan was made")]
    PolicyChanged,
    /// The plan computed under the lease does not make the saved plan's
    /// changes.
    #[error("the plan computed now differs from the saved plan at: {}", .0.join(", "))]
    PlanDiffers(Vec<String>),
    /// The person declined.
    #[error("apply cancelled; nothing was changed")]
    Declined,
    /// The approver failed (no terminal, …).
    #[error("{0}")]
    Approval(String),
    /// The plan would invalidate the admin credential graphform acts with.
    #[error(
        "the plan invalidates the tokens of {}, which would kill the admin token graphform acts with (see the plan's warning)",
        .0.join(", ")
    )]
    AdminInvalidation(Vec<String>),
    /// The lease was lost while apply ran (it expired and was taken over,
    /// or was broken): apply stopped at once. What it did so far is
    /// journaled; the next plan shows where things stand.
    #[error("the lease was lost while apply ran; it stopped at once")]
    LeaseLost,
}

/// Takes the lease, observes and plans under it, gets the plan approved
/// and executes it. Returns the plan and what became of every change; an
/// `Err` means apply did not start changing anything (the store is
/// locked, observation failed, the saved plan does not match, the person
/// declined, …), except [`ApplyError::LeaseLost`].
pub async fn apply<S: Store>(
    context: &ApplyContext<'_, S>,
    approval: Approval<'_>,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    let started = Instant::now();
    let lease = acquire_lease(context.store, options, context.now, progress).await?;
    let keeper = LeaseKeeper {
        lease: Mutex::new(lease),
        lost: AtomicBool::new(false),
    };
    let work = plan_and_run(context, approval, options, progress, &keeper);
    let renewal = keeper.renew(context.store, options, context.now, started);
    let result = tokio::select! {
        result = work => result,
        error = renewal => Err(error),
    };
    if !keeper.lost.load(Ordering::SeqCst) {
        let lease = keeper.lease.lock().await.clone();
        if let Err(error) = context.store.release_lease(&lease).await {
            progress.note(&format!("could not release the lease: {error}"));
        }
    }
    result
}

/// The held lease, renewed in the background of the apply.
struct LeaseKeeper {
    lease: Mutex<Lease>,
    lost: AtomicBool,
}

impl LeaseKeeper {
    /// Renews the lease every `lease_renew_every`; returns only when it is
    /// lost.
    async fn renew<S: Store>(
        &self,
        store: &S,
        options: &ApplyOptions,
        now: Timestamp,
        started: Instant,
    ) -> ApplyError {
        loop {
            tokio::time::sleep(options.lease_renew_every).await;
            let elapsed = i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
            let expires_at = now
                + graphform_types::Duration::seconds(elapsed.saturating_add(options.lease_seconds));
            let mut lease = self.lease.lock().await;
            match store.renew_lease(&lease, expires_at).await {
                Ok(renewed) => *lease = renewed,
                Err(StoreError::LeaseLost) => {
                    self.lost.store(true, Ordering::SeqCst);
                    return ApplyError::LeaseLost;
                }
                // A passing store failure: the lease still runs until its
                // expiry, well after the next try.
                Err(error) => tracing::warn!(%error, "could not renew the lease; trying again"),
            }
        }
    }
}

async fn plan_and_run<S: Store>(
    context: &ApplyContext<'_, S>,
    approval: Approval<'_>,
    options: &ApplyOptions,
    progress: &dyn Progress,
    keeper: &LeaseKeeper,
) -> Result<ApplyReport, ApplyError> {
    let state = observe(
        context.spec,
        context.client,
        context.store,
        context.credentials,
    )
    .await?;
    let plan = make_plan(context.spec, &state, context.now, &options.plan);
    progress.planned(&plan);
    match approval {
        Approval::Auto => {}
        Approval::Saved(saved) => check_saved(saved, &plan, context.now)?,
        Approval::Ask(approver) => {
            if plan.has_changes()
                && !approver
                    .approve(&plan)
                    .await
                    .map_err(ApplyError::Approval)?
            {
                return Err(ApplyError::Declined);
            }
        }
    }
    let hits_admin: Vec<String> = plan
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::AdminCredential)
        .map(|n| n.address.to_string())
        .collect();
    if !hits_admin.is_empty() && !options.allow_admin_invalidation {
        return Err(ApplyError::AdminInvalidation(hits_admin));
    }
    // An empty plan still runs when an interrupted apply left journal
    // entries: apply settles them.
    if !plan.has_changes() && state.document.journal.is_empty() {
        return Ok(ApplyReport {
            plan,
            outcomes: Vec::new(),
        });
    }
    let outcomes = run(context, &state, &plan, options, progress, keeper).await?;
    Ok(ApplyReport { plan, outcomes })
}

/// Refuses a saved plan that is not what the plan computed under the lease
/// would do. The file is a review record, not a program: only its
/// agreement with the fresh plan lets apply go ahead, and what runs is the
/// fresh plan.
pub fn check_saved(saved: &Plan, fresh: &Plan, now: Timestamp) -> Result<(), ApplyError> {
    if let Some(valid_until) = saved.valid_until.filter(|until| now >= *until) {
        return Err(ApplyError::PlanExpired(valid_until));
    }
    if saved.policy_hash != fresh.policy_hash {
        return Err(ApplyError::PolicyChanged);
    }
    // The reason is prose (it can say "expires in 12d"); everything else
    // of a change must be the same, in the same order.
    let key = |c: &Change| {
        (
            c.address.clone(),
            c.action,
            c.system_user_id.clone(),
            c.drift.clone(),
            c.before.clone(),
            c.after.clone(),
        )
    };
    let old: Vec<_> = saved.changes.iter().map(key).collect();
    let new: Vec<_> = fresh.changes.iter().map(key).collect();
    if old == new {
        return Ok(());
    }
    let mut addresses: Vec<String> = old
        .iter()
        .filter(|c| !new.contains(c))
        .chain(new.iter().filter(|c| !old.contains(c)))
        .map(|c| c.0.to_string())
        .collect();
    addresses.sort();
    addresses.dedup();
    if addresses.is_empty() {
        addresses.push("(the same changes, in another order)".to_owned());
    }
    Err(ApplyError::PlanDiffers(addresses))
}

async fn run<S: Store>(
    context: &ApplyContext<'_, S>,
    state: &State,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &dyn Progress,
    keeper: &LeaseKeeper,
) -> Result<Vec<(Change, Outcome)>, ApplyError> {
    let ApplyContext {
        spec,
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
        keeper,
        document: Mutex::new(document),
        created: Mutex::new(BTreeMap::new()),
        mutations: AtomicU64::new(0),
        intents: AtomicU64::new(0),
        run_id: run_id(),
    };
    applier.settle_journal(progress).await?;

    // Changes grouped by system user, in plan order within each group.
    let mut groups: Vec<(&SystemUserAddress, Vec<(usize, &Change)>)> = Vec::new();
    for (index, change) in plan.changes.iter().enumerate() {
        let owner = change.address.system_user();
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
    if keeper.lost.load(Ordering::SeqCst) {
        return Err(ApplyError::LeaseLost);
    }
    let mut outcomes: Vec<(usize, Outcome)> = results.into_iter().flatten().collect();
    outcomes.sort_by_key(|(index, _)| *index);
    Ok(outcomes
        .into_iter()
        .map(|(index, outcome)| (plan.changes[index].clone(), outcome))
        .collect())
}

/// Takes the lease. A lease left by a process of this host that no longer
/// runs (a killed apply) is taken over, compare-and-set on exactly the
/// lease that was read (another apply may take it meanwhile), and said so;
/// any other holder is an error naming it.
async fn acquire_lease<S: Store>(
    store: &S,
    options: &ApplyOptions,
    now: Timestamp,
    progress: &dyn Progress,
) -> Result<Lease, ApplyError> {
    let request = LeaseInfo::for_current_process(&options.holder, now, options.lease_seconds);
    match store.acquire_lease(&request).await {
        Err(StoreError::Locked(holder)) if holder_is_gone(&holder) => {
            let lease = store.take_over_lease(&holder, &request).await?;
            progress.note(&format!(
                "took over the lock of {} (pid {} on this host), which is no longer running",
                holder.holder, holder.pid
            ));
            Ok(lease)
        }
        other => Ok(other?),
    }
}

/// A random run identifier (64 bits from the standard library's randomly
/// seeded hasher: no dependency needed for an ID that only must not
/// repeat).
fn run_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{}-{:016x}", std::process::id(), hasher.finish())
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
    now: Timestamp,
    options: &'a ApplyOptions,
    keeper: &'a LeaseKeeper,
    /// The state document and the version it was last written at.
    document: Mutex<(StateDocument, Option<Version>)>,
    /// System users this run created: address → ID.
    created: Mutex<BTreeMap<SystemUserAddress, String>>,
    mutations: AtomicU64,
    intents: AtomicU64,
    /// Unique to this run: intent IDs must never repeat, or a later
    /// run's intent could be taken as settled by an earlier run's stored
    /// token (two applies of one process, or a reused pid, at one `now`).
    run_id: String,
}

/// What the policy says of a token address.
struct TokenTarget<'a> {
    business: &'a graphform_spec::Business,
    token: &'a Token,
    /// The install of the token's app for its system user.
    install: InstallAddress,
}

impl<S: Store> Applier<'_, S> {
    /// Counts a mutation about to happen, and stops at the failpoint.
    /// Refuses once the lease is lost: another apply may be running.
    fn mutation(&self) -> Result<(), String> {
        if self.keeper.lost.load(Ordering::SeqCst) {
            return Err("the lease was lost; apply stopped before this change".to_owned());
        }
        let number = self.mutations.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((at, hook)) = &self.options.failpoint
            && *at == number
        {
            hook(number);
        }
        Ok(())
    }

    /// Changes the state document, compare-and-set against the version last
    /// written.
    async fn update_document(&self, edit: impl FnOnce(&mut StateDocument)) -> Result<(), String> {
        let mut guard = self.document.lock().await;
        let mut next = guard.0.clone();
        edit(&mut next);
        let bytes = serde_json::to_vec(&next)
            .map_err(|e| format!("cannot encode the state document: {e}"))?;
        self.mutation()?;
        let version = self
            .store
            .write_state(&bytes, guard.1.as_ref())
            .await
            .map_err(|e| format!("cannot write the state document: {e}"))?;
        *guard = (next, Some(version));
        Ok(())
    }

    fn intent(&self, address: impl Into<Address>, kind: IntentKind) -> Intent {
        let n = self.intents.fetch_add(1, Ordering::SeqCst) + 1;
        Intent {
            id: format!("{}-{}-{n}", self.now.unix(), self.run_id),
            address: address.into(),
            kind,
            started_at: self.now,
        }
    }

    fn audit(&self, address: impl Into<Address>, action: Action) -> AuditEntry {
        AuditEntry {
            at: self.now,
            address: address.into(),
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
            let stored = intent
                .address
                .as_token()
                .and_then(|token| self.state.tokens.get(token));
            if intent.resolution(stored) != Resolution::Settled {
                continue;
            }
            match &intent.kind {
                IntentKind::CreateSystemUser { .. } => {
                    if let Some(id) = self.observed_system_user_id(intent.address.system_user()) {
                        audit.push(AuditEntry {
                            id: Some(id.clone()),
                            ..settled_audit(intent, "create")
                        });
                        adopted.insert(intent.address.system_user().clone(), id);
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

    fn business(&self, address: &Address) -> Result<&graphform_spec::Business, String> {
        let name = address.business();
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

    fn token_target(&self, address: &TokenAddress) -> Result<TokenTarget<'_>, String> {
        let business = self.business(&address.into())?;
        let user = address.system_user();
        let token = business
            .system_users
            .iter()
            .find(|u| u.name == user.name())
            .and_then(|u| u.tokens.iter().find(|t| t.name == address.name()))
            .ok_or_else(|| format!("{address} is not in the policy"))?;
        let install = user.install(&token.app);
        Ok(TokenTarget {
            business,
            token,
            install,
        })
    }

    /// The ID of the system user a change acts on: the one the plan
    /// observed, or the one this run's creation returned. Never an older
    /// record: a user renamed outside graphform is not acted on.
    async fn target_user(&self, change: &Change) -> Result<String, String> {
        if let Some(id) = &change.system_user_id {
            return Ok(id.clone());
        }
        let user = change.address.system_user();
        self.created
            .lock()
            .await
            .get(user)
            .cloned()
            .ok_or_else(|| format!("{user}: the system user this plan creates was not created"))
    }

    fn observed_system_user_id(&self, user: &SystemUserAddress) -> Option<String> {
        let mut found = self
            .state
            .businesses
            .get(user.business())?
            .system_users
            .iter()
            .filter(|u| u.name == user.name());
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
        self.mutation()?;
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
        let user = change.address.system_user();
        let name = user.name().to_owned();
        let role = business
            .system_users
            .iter()
            .find(|u| u.name == name)
            .map_or(SystemUserRole::Employee, |u| u.role.clone());
        let request = NewSystemUser {
            name: name.clone(),
            role,
        };
        let admin = self.admin(business)?;
        let intent = self.intent(
            &change.address,
            IntentKind::CreateSystemUser {
                business_id: business.id.clone(),
                name,
            },
        );
        let client = self.client.labeled(change.address.to_string());
        let (id, intent_id) = self
            .journaled(
                intent,
                client.create_system_user(admin, &business.id, &request),
            )
            .await?;
        self.created.lock().await.insert(user.clone(), id.clone());
        let mut audit = self.audit(&change.address, Action::Create);
        audit.id = Some(id.clone());
        self.update_document(|document| {
            document.system_users.insert(user.clone(), id.clone());
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
        let user_address = change.address.system_user();
        let install_address = change
            .address
            .as_install()
            .ok_or_else(|| format!("{}: not an app install", change.address))?;
        let system_user_id = self.target_user(change).await?;
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
        let client = self.client.labeled(change.address.to_string());
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
            document
                .system_users
                .insert(user_address.clone(), record.system_user_id.clone());
            document.installs.insert(install_address.clone(), record);
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
        let address = change
            .address
            .as_token()
            .ok_or_else(|| format!("{}: not a token", change.address))?;
        let TokenTarget {
            business,
            token,
            install,
        } = self.token_target(address)?;
        let admin = self.admin(business)?;
        let app_id = business.apps[&token.app].id.clone();
        let app = self.app(&app_id)?.clone();
        let system_user_id = self.target_user(change).await?;
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
        let (value, lifetime, intent_id) = if change.action == Action::Refresh {
            let current = stored
                .as_ref()
                .ok_or_else(|| format!("{address}: no stored token to refresh"))?;
            self.refresh(address, intent, &app, &current.value.current.value)
                .await?
        } else {
            let request = IssueToken {
                app_id: app_id.clone(),
                scopes: token.scopes.iter().cloned().collect(),
                expiring,
            };
            let (issued, id) = self
                .issue(address, &install, intent, admin, &system_user_id, &request)
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
            expires_at: lifetime.map(|lifetime| self.now + lifetime),
            fingerprint: fingerprint.clone(),
            issued_by: Some(intent_id.clone()),
        };
        let grace = token.grace;
        let (record, replaced, expected) = self.replacement_record(
            change.action,
            StoredToken { value, metadata },
            stored,
            grace,
        );
        self.mutation()?;
        if let Err(error) = self
            .store
            .write_token(address, &record, expected.as_ref())
            .await
        {
            // An error other than a conflict does not prove nothing was
            // written: look before deciding.
            if !self.holds(address, &fingerprint).await {
                return Err(self
                    .revoke_unstored(address, &record.current, &app, &intent_id, &error)
                    .await);
            }
        }
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

    /// `GET /oauth/access_token` (`fb_exchange_token`), journaled as
    /// `intent`: the new token, its lifetime and the intent's ID.
    async fn refresh(
        &self,
        address: &TokenAddress,
        intent: Intent,
        app: &AppCredentials,
        current: &Secret,
    ) -> Result<(Secret, Option<graphform_types::Duration>, String), String> {
        let client = self.client.labeled(address.to_string());
        let (refreshed, id) = self
            .journaled(intent, client.refresh_token(app, current))
            .await?;
        let lifetime = refreshed
            .expires_in
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map_or(SIXTY_DAYS, graphform_types::Duration::seconds);
        Ok((refreshed.token, Some(lifetime), id))
    }

    /// `POST /{system-user}/access_tokens`, journaled as `intent`.
    ///
    /// Meta refuses an issue for an app the system user lacks with an
    /// invalid-parameter error (100). The Graph API cannot list installs,
    /// so an uninstall is otherwise seen only through the tokens it kills:
    /// a token already dead for another reason hides it, and the issue
    /// would fail on every run. Such a refusal drops the install's record.
    async fn issue(
        &self,
        address: &TokenAddress,
        install: &InstallAddress,
        intent: Intent,
        admin: &UserToken,
        system_user_id: &str,
        request: &IssueToken,
    ) -> Result<(Secret, String), String> {
        let client = self.client.labeled(address.to_string());
        let refused_as_invalid = AtomicBool::new(false);
        let call = async {
            let answer = client.issue_token(admin, system_user_id, request).await;
            if answer.as_ref().is_err_and(|e| e.code() == Some(100)) {
                refused_as_invalid.store(true, Ordering::SeqCst);
            }
            answer
        };
        match self.journaled(intent, call).await {
            Err(error) if refused_as_invalid.load(Ordering::SeqCst) => {
                Err(self.forget_install(install, error).await)
            }
            other => other,
        }
    }

    /// After Meta refused to issue a token as an invalid request, drops the
    /// record of the `install` it needs: the app may have been uninstalled
    /// outside graphform. The next plan installs it again (installing is
    /// idempotent) before issuing.
    async fn forget_install(&self, install: &InstallAddress, error: String) -> String {
        let forgotten = self
            .update_document(|document| {
                document.installs.remove(install);
            })
            .await;
        match forgotten {
            Ok(()) => format!(
                "{error}; the app may no longer be installed for the system user: the next plan installs it again"
            ),
            Err(why) => format!("{error} (and the install record could not be updated: {why})"),
        }
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
        grace: graphform_types::Duration,
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
                revoke_after: self.now + grace,
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
        let address = change
            .address
            .as_token()
            .ok_or_else(|| format!("{}: not a token", change.address))?;
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
        self.mutation()?;
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

    /// Whether the store holds `fingerprint` as the current value at
    /// `address` (read back after a write that reported an error).
    async fn holds(&self, address: &TokenAddress, fingerprint: &Fingerprint) -> bool {
        matches!(
            self.store.read_token(address).await,
            Ok(Some(Versioned { value, .. })) if value.current.metadata.fingerprint == *fingerprint
        )
    }

    /// A token Meta minted could not be stored: revoke it with itself as
    /// the caller (journaled first), so nothing valid is left that nobody
    /// holds. Returns the error to report. If the revoke cannot be
    /// verified, the minting call's journal entry stays, and the next plan
    /// warns of the token.
    async fn revoke_unstored(
        &self,
        address: &TokenAddress,
        minted: &StoredToken,
        app: &AppCredentials,
        intent_id: &str,
        error: &StoreError,
    ) -> String {
        let fingerprint = &minted.metadata.fingerprint;
        let caller = UserToken::new(minted.value.clone(), app.clone());
        match self.revoke_with(address, minted, &[caller]).await {
            Ok(()) => {
                let settled = self
                    .update_document(|document| document.journal.retain(|i| i.id != intent_id))
                    .await;
                let left = match settled {
                    Ok(()) => String::new(),
                    Err(why) => format!(" (its journal entry stays: {why})"),
                };
                format!(
                    "Meta issued {fingerprint} for {address}, but storing it failed ({error}); \
                     it was revoked, and debug_token confirms it no longer works{left}"
                )
            }
            Err(why) => format!(
                "Meta issued {fingerprint} for {address}, but storing it failed ({error}), and revoking it failed too ({why}); \
                 it is journaled as possibly orphaned: the next plan warns of it, and plan with --invalidate-orphaned makes sure it cannot be used"
            ),
        }
    }

    /// Revokes `target`, the stored token at `address` whose record's
    /// current value is `current`. The caller must be a token of the same
    /// app: the current token when it is (the replacement of a previous
    /// one), then the token itself.
    async fn revoke(
        &self,
        address: &TokenAddress,
        target: &StoredToken,
        current: &StoredToken,
    ) -> Result<(), String> {
        let app = self.app(&target.metadata.app_id)?.clone();
        let mut callers = Vec::new();
        if current.metadata.app_id == target.metadata.app_id && current.value != target.value {
            callers.push(UserToken::new(current.value.clone(), app.clone()));
        }
        callers.push(UserToken::new(target.value.clone(), app));
        self.revoke_with(address, target, &callers).await
    }

    /// Revokes `target` with the first caller that works. Done only on
    /// Meta's documented success answer, or when `debug_token` of the
    /// target itself says it no longer works: an error about a caller (a
    /// 190 because the caller is dead) is no fact about the target.
    async fn revoke_with(
        &self,
        address: &TokenAddress,
        target: &StoredToken,
        callers: &[UserToken],
    ) -> Result<(), String> {
        let fingerprint = &target.metadata.fingerprint;
        let app = self.app(&target.metadata.app_id)?.clone();
        let client = self.client.labeled(address.to_string());
        let mut failures = Vec::new();
        for caller in callers {
            let intent = self.intent(
                address,
                IntentKind::Revoke {
                    fingerprint: fingerprint.clone(),
                },
            );
            let intent_id = intent.id.clone();
            self.update_document(|document| document.journal.push(intent))
                .await?;
            self.mutation()?;
            let answer = client.revoke_token(caller, &target.value).await;
            let verdict = match answer {
                Ok(()) => Ok(true),
                Err(error) => {
                    failures.push(error.to_string());
                    self.is_dead(&app, &target.value).await
                }
            };
            // A revoke leaves nothing untracked whatever its outcome: the
            // token stays stored until this proves it dead.
            self.update_document(|document| document.journal.retain(|i| i.id != intent_id))
                .await?;
            match verdict {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(why) => {
                    return Err(format!(
                        "revoking {fingerprint} failed ({}) and debug_token could not tell whether it still works ({why}); it stays in the store",
                        failures.join("; ")
                    ));
                }
            }
        }
        Err(format!(
            "revoking {fingerprint} failed ({}); debug_token says it still works, so it stays in the store",
            failures.join("; ")
        ))
    }

    /// Whether `debug_token` says `token` no longer works: `Ok(true)` on a
    /// token error, `Ok(false)` when it is valid, `Err` when there is no
    /// verdict.
    async fn is_dead(&self, app: &AppCredentials, token: &Secret) -> Result<bool, String> {
        let info = self
            .client
            .debug_token(app, token)
            .await
            .map_err(|e| e.to_string())?;
        match health_of(&info) {
            Health::Dead { .. } => Ok(true),
            Health::Valid { .. } => Ok(false),
            Health::NoVerdict { reason } => Err(reason),
            Health::Unknown { app_id } => Err(format!("app {app_id} cannot be checked")),
        }
    }

    async fn invalidate(&self, change: &Change) -> Result<Outcome, String> {
        let business = self.business(&change.address)?;
        let admin = self.admin(business)?;
        let system_user_id = match change.before.as_ref().and_then(|b| b.id.clone()) {
            Some(id) => id,
            None => self.target_user(change).await?,
        };
        let intent = self.intent(
            &change.address,
            IntentKind::InvalidateAll {
                system_user_id: system_user_id.clone(),
            },
        );
        let client = self.client.labeled(change.address.to_string());
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
