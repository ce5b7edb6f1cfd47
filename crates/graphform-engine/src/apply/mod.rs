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
//! - Every Graph mutation is journaled in its system user's state document
//!   before it is sent, a batch at a time (`apply/ledger.rs`); the entry is
//!   removed once its verified result is recorded. A token-minting call
//!   whose answer is lost stays journaled, and the next plan warns of the
//!   token it may have minted.
//! - A token Meta hands out is written to the store before anything else
//!   happens; if that write fails, the token is revoked with itself as the
//!   caller. A replaced token is kept as `previous` until its grace ends.
//! - A change is done only on Meta's documented success answer. A revoke
//!   that does not get it is settled by asking `debug_token` about the
//!   revoked token itself, never from an error about the caller.
//!
//! Changes of one system user run in plan order (create → install →
//! tokens, `apply/group.rs`); different system users run concurrently,
//! up to a limit that follows Meta's usage headers (`apply/pace.rs`).
//! Before the first change, apply settles what an interrupted apply left
//! and names every system user this run changes in the root state
//! document. At its end, still under the lease, it records the run itself
//! there (`last_apply`: when, how it ended, how many changes; a run with
//! nothing to do too) for `graphform status`; a failure to record it is a
//! warning, never the run's failure.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use graphform_graph::GraphClient;
use graphform_spec::{Spec, Token};
use graphform_store::{Fingerprint, Store};
use graphform_types::{InstallAddress, SystemUserAddress, Timestamp, TokenAddress};
use tokio::sync::Mutex;

use crate::document::{ApplyOutcome, AuditEntry, ChangeCounts, Intent, LastApply};
use crate::observe::{Credentials, observe, read_root};
use crate::plan::{Change, Maintenance, NoticeKind, Plan, PlanOptions, plan as make_plan};
use crate::provider::Provider;
use crate::state::State;

mod applier;
mod error;
mod group;
mod lease;
mod ledger;
mod pace;
mod report;
mod saved;
mod tokens;

pub use error::{ApplyError, ChangeError};
pub use report::apply_report_schema;
pub use saved::check_saved;

use lease::LeaseKeeper;
pub(crate) use lease::acquire_lease;
use pace::Pace;

/// How apply runs.
#[derive(Clone)]
pub struct ApplyOptions {
    /// How many system users are worked on at once to start with. Apply
    /// raises it while Meta's usage headers are low or absent and halves
    /// it as they climb (see `apply/pace.rs`).
    pub parallelism: usize,
    /// The most system users worked on at once, however low the usage; a
    /// `parallelism` above it is taken down to it.
    pub max_parallelism: usize,
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
    /// Unattended maintenance (`--only`): make only the changes of these
    /// [`Maintenance`] kinds; every other change is reported
    /// [`Outcome::Skipped`] as held for review. `None`: every change.
    pub only: Option<BTreeSet<Maintenance>>,
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
pub struct ApplyContext<'a, S, P = GraphClient> {
    /// The validated policy.
    pub spec: &'a Spec,
    /// The Graph API (the client, or a stand-in in tests).
    pub client: &'a P,
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
            max_parallelism: 32,
            holder: "graphform apply".to_owned(),
            lease_seconds: 3600,
            lease_renew_every: Duration::from_mins(20),
            plan: PlanOptions::default(),
            allow_admin_invalidation: false,
            only: None,
            failpoint: None,
        }
    }
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("parallelism", &self.parallelism)
            .field("max_parallelism", &self.max_parallelism)
            .field("holder", &self.holder)
            .field("lease_seconds", &self.lease_seconds)
            .field("lease_renew_every", &self.lease_renew_every)
            .field("plan", &self.plan)
            .field("allow_admin_invalidation", &self.allow_admin_invalidation)
            .field("only", &self.only)
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

/// Any error, boxed: what an [`Approver`] may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed future, for [`Approver`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Asks a person whether to make the changes of a plan.
pub trait Approver: Sync {
    /// `Ok(true)` to go ahead. Called once, with the plan computed under
    /// the lease, only when it has changes. The lease is renewed while it
    /// waits.
    fn approve<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<bool, BoxError>>;
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
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It was made, and its outcome verified.
    Done {
        /// The token it produced (issue, refresh, rotate) or removed
        /// (revoke, forget), if any.
        token: Option<Fingerprint>,
        /// The Meta ID it produced or acted on, if any.
        id: Option<String>,
        /// When the token it produced expires (issue, refresh, rotate of
        /// a 60-day token).
        expires_at: Option<Timestamp>,
    },
    /// It failed, or its outcome could not be verified; nothing after it
    /// for the same system user was attempted.
    Failed {
        /// Why, naming the object, never a secret.
        error: Arc<ChangeError>,
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

/// Takes the lease, observes and plans under it, gets the plan approved
/// and executes it. Returns the plan and what became of every change; an
/// `Err` means apply did not start changing anything (the store is
/// locked, observation failed, the saved plan does not match, the person
/// declined, …), except [`ApplyError::LeaseLost`].
pub async fn apply<S: Store, P: Provider>(
    context: &ApplyContext<'_, S, P>,
    approval: Approval<'_>,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    let clock = RunClock::start(context.now);
    let lease = acquire_lease(context.store, options, context.now, progress).await?;
    let keeper = LeaseKeeper {
        lease: Mutex::new(lease),
        lost: AtomicBool::new(false),
        stop: tokio::sync::Notify::new(),
    };
    let work = async {
        let result = plan_and_run(context, approval, options, progress, &keeper).await;
        // Under the lease, before it is released: the run's record.
        if !keeper.lost.load(Ordering::SeqCst)
            && let Some(run) = last_apply(&result, &clock)
            && let Err(error) = record_last_apply(context.store, run).await
        {
            let error = graphform_types::Chain(&error);
            tracing::warn!(%error, "could not record this apply in the state document");
            progress.note(&format!(
                "could not record this apply in the state document ({error}); `graphform status` shows the one before"
            ));
        }
        result
    };
    let renewal = keeper.renew(context.store, options, &clock);
    tokio::pin!(renewal);
    let mut renewal_ended = false;
    let result = tokio::select! {
        result = work => result,
        lost = &mut renewal => {
            renewal_ended = true;
            Err(lost.unwrap_or(ApplyError::LeaseLost))
        }
    };
    if !renewal_ended {
        // Let a renewal in flight finish before the lease is released.
        keeper.stop.notify_one();
        if let Some(error) = renewal.await {
            progress.note(&format!("the lease was lost as apply ended: {error}"));
        }
    }
    if !keeper.lost.load(Ordering::SeqCst) {
        let lease = keeper.lease.lock().await.clone();
        if let Err(error) = context.store.release_lease(&lease).await {
            progress.note(&format!("could not release the lease: {error}"));
        }
    }
    result
}

/// An apply's clock: the time it was given ([`ApplyContext::now`]) moved
/// on by tokio's clock since it started (so a test that pauses tokio's
/// time controls it whole). Whole seconds, as every recorded time.
pub(crate) struct RunClock {
    started_at: Timestamp,
    started: tokio::time::Instant,
}

impl RunClock {
    fn start(started_at: Timestamp) -> Self {
        Self {
            started_at,
            started: tokio::time::Instant::now(),
        }
    }

    /// The time now, by this clock.
    pub(crate) fn now(&self) -> Timestamp {
        let elapsed = i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX);
        self.started_at
            .saturating_add(graphform_types::Duration::seconds(elapsed))
    }
}

/// The record of a run that held the lease, as it ended; `None` when a
/// person declined (nothing was attempted, nothing failed).
fn last_apply(result: &Result<ApplyReport, ApplyError>, clock: &RunClock) -> Option<LastApply> {
    let started_at = clock.started_at;
    let finished_at = clock.now();
    let (outcome, changes) = match result {
        Err(ApplyError::Declined) => return None,
        Err(_) => (ApplyOutcome::Failed, ChangeCounts::default()),
        Ok(report) => {
            let mut changes = ChangeCounts {
                planned: report.plan.changes.len(),
                ..ChangeCounts::default()
            };
            for (_, outcome) in &report.outcomes {
                match outcome {
                    Outcome::Done { .. } => changes.done += 1,
                    Outcome::Failed { .. } => changes.failed += 1,
                    Outcome::Skipped { .. } => changes.skipped += 1,
                }
            }
            // Without a failure, only `--only` skips a change.
            let outcome = if changes.failed > 0 {
                ApplyOutcome::Failed
            } else if changes.skipped > 0 {
                ApplyOutcome::Held
            } else {
                ApplyOutcome::Succeeded
            };
            (outcome, changes)
        }
    };
    Some(LastApply {
        started_at,
        finished_at,
        outcome,
        changes,
    })
}

/// Writes `run` into the root state document: read, then compare-and-set
/// against the version read (only apply writes the root, under the lease
/// this run holds). Not counted as a mutation: nothing depends on it.
async fn record_last_apply<S: Store>(store: &S, run: LastApply) -> Result<(), ChangeError> {
    let (mut root, version) = read_root(store)
        .await
        .map_err(|error| ChangeError::ReadDocument(Box::new(error)))?;
    run.record(&mut root);
    let bytes = serde_json::to_vec(&root).map_err(ChangeError::EncodeDocument)?;
    store
        .write_state(&bytes, version.as_ref())
        .await
        .map_err(|error| ChangeError::WriteRoot(Box::new(error)))?;
    Ok(())
}

async fn plan_and_run<S: Store, P: Provider>(
    context: &ApplyContext<'_, S, P>,
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
    // A plan file is applied with the options it was made with.
    let plan_options = match approval {
        Approval::Saved(saved) => options.plan.with_saved(saved),
        _ => options.plan.clone(),
    };
    crate::plan::check_options(context.spec, &state, &plan_options)?;
    let plan = make_plan(context.spec, &state, context.now, &plan_options);
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
    let Some(only) = &options.only else {
        let outcomes = run_unless_empty(context, &state, &plan, options, progress, keeper).await?;
        return Ok(ApplyReport { plan, outcomes });
    };
    // Unattended: run the time-driven changes of the kinds allowed, and
    // hold every other change for a person to review.
    let allowed = |change: &Change| change.maintenance.is_some_and(|kind| only.contains(&kind));
    let runnable = Plan {
        changes: plan
            .changes
            .iter()
            .filter(|c| allowed(c))
            .cloned()
            .collect(),
        ..plan.clone()
    };
    let mut done = run_unless_empty(context, &state, &runnable, options, progress, keeper)
        .await?
        .into_iter();
    let kinds: Vec<&str> = only.iter().map(|kind| kind.as_str()).collect();
    let outcomes = plan
        .changes
        .iter()
        .filter_map(|change| {
            if allowed(change) {
                return done.next();
            }
            let outcome = Outcome::Skipped {
                reason: format!(
                    "held for review: `--only {}` makes only that time-driven work",
                    kinds.join(",")
                ),
            };
            Some((change.clone(), outcome))
        })
        .collect();
    Ok(ApplyReport { plan, outcomes })
}

/// Runs `plan`; an empty plan runs only when an interrupted apply left
/// journal entries (apply settles them).
async fn run_unless_empty<S: Store, P: Provider>(
    context: &ApplyContext<'_, S, P>,
    state: &State,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &dyn Progress,
    keeper: &LeaseKeeper,
) -> Result<Vec<(Change, Outcome)>, ApplyError> {
    if !plan.has_changes() && state.document.journal.is_empty() {
        return Ok(Vec::new());
    }
    run(context, state, plan, options, progress, keeper).await
}

async fn run<S: Store, P: Provider>(
    context: &ApplyContext<'_, S, P>,
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
    let applier = Applier {
        spec,
        state,
        client,
        store,
        credentials,
        now,
        options,
        keeper,
        created: Mutex::new(BTreeMap::new()),
        mutations: AtomicU64::new(0),
        intents: AtomicU64::new(0),
        run_id: run_id(),
        pace: Pace::new(options.parallelism, options.max_parallelism),
    };

    // Changes grouped by system user, in plan order within each group.
    let mut groups: BTreeMap<&SystemUserAddress, Vec<(usize, &Change)>> = BTreeMap::new();
    for (index, change) in plan.changes.iter().enumerate() {
        groups
            .entry(change.address.system_user())
            .or_default()
            .push((index, change));
    }
    let users = groups.keys().map(|user| (*user).clone()).collect();
    applier.prepare(&users, progress).await?;
    let applier = &applier;
    let results: Vec<Vec<(usize, Outcome)>> = futures_util::stream::iter(groups)
        .map(|(user, changes)| async move {
            // Held until the group's last change ends: lowering the pace
            // only keeps new groups from starting.
            let _permit = applier.pace.acquire().await;
            applier.group(user, &changes, progress).await
        })
        .buffer_unordered(applier.pace.ceiling())
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

/// A random run identifier (64 bits from the standard library's randomly
/// seeded hasher: no dependency needed for an ID that only must not
/// repeat).
fn run_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{}-{:016x}", std::process::id(), hasher.finish())
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

struct Applier<'a, S, P> {
    spec: &'a Spec,
    state: &'a State,
    client: &'a P,
    store: &'a S,
    credentials: &'a Credentials,
    now: Timestamp,
    options: &'a ApplyOptions,
    keeper: &'a LeaseKeeper,
    /// System users this run created: address → ID.
    created: Mutex<BTreeMap<SystemUserAddress, String>>,
    mutations: AtomicU64,
    intents: AtomicU64,
    /// Unique to this run: intent IDs must never repeat, or a later
    /// run's intent could be taken as settled by an earlier run's stored
    /// token (two applies of one process, or a reused pid, at one `now`).
    run_id: String,
    /// How many system users are worked on at once.
    pace: Pace,
}

/// The policy's token at `address`, with its business and system user;
/// `None` when the policy names no such token.
pub(crate) fn policy_token<'s>(
    spec: &'s Spec,
    address: &TokenAddress,
) -> Option<(
    &'s graphform_spec::Business,
    &'s graphform_spec::SystemUser,
    &'s Token,
)> {
    let user = address.system_user();
    let business = spec.businesses.iter().find(|b| b.name == user.business())?;
    let system_user = business
        .system_users
        .iter()
        .find(|u| u.name == user.name())?;
    let token = system_user
        .tokens
        .iter()
        .find(|t| t.name == address.name())?;
    Some((business, system_user, token))
}

/// What the policy says of a token address.
struct TokenTarget<'a> {
    business: &'a graphform_spec::Business,
    token: &'a Token,
    /// The install of the token's app for its system user.
    install: InstallAddress,
}
