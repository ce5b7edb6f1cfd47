//! One run: the emulator at a latency, a counted store, and the five
//! phases measured one after another.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use graphform_emulator::{Emulator, FaultConfig};
use graphform_engine::apply::{ApplyContext, ApplyOptions, Approval, Outcome, Progress, apply};
use graphform_engine::observe::{Credentials, observe};
use graphform_engine::{Action, Change, PlanOptions, plan};
use graphform_graph::{ClientSettings, CounterSnapshot, GraphClient};
use graphform_store::{FileStore, Store, generate_identity};
use graphform_testkit::counting::{Counting, StoreCounts};
use graphform_testkit::{moto::Moto, openbao::OpenBao};
use graphform_types::Timestamp;

use crate::world::{DAY, Shape, credentials, policy, world};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    File,
    Vault,
    Aws,
}

impl Backend {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "file" => Ok(Self::File),
            "vault" => Ok(Self::Vault),
            "aws" => Ok(Self::Aws),
            other => Err(format!("unknown store `{other}`: file, vault or aws")),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Vault => "vault",
            Self::Aws => "aws",
        }
    }
}

/// Tracks how many changes are in flight, to tell how much of apply's
/// parallelism is used.
#[derive(Default)]
struct Tracker {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    started: Mutex<HashMap<String, Instant>>,
    busy: Mutex<Duration>,
}

impl Progress for Tracker {
    fn started(&self, change: &Change) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        lock(&self.started).insert(change.address.to_string(), Instant::now());
    }

    fn finished(&self, change: &Change, _outcome: &Outcome) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(started) = lock(&self.started).remove(&change.address.to_string()) {
            *lock(&self.busy) += started.elapsed();
        }
    }

    fn note(&self, _message: &str) {}
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One measured phase.
pub(crate) struct Phase {
    pub(crate) name: &'static str,
    /// The per-token denominator: the tokens an apply issued, refreshed
    /// or revoked; for a plan, the policy's tokens.
    pub(crate) tokens: usize,
    pub(crate) changes: usize,
    pub(crate) wall: Duration,
    /// The shortest and longest wall time over the runs (see [`median`]).
    pub(crate) wall_range: (Duration, Duration),
    pub(crate) http: CounterSnapshot,
    pub(crate) store: StoreCounts,
    /// API calls per endpoint, from the emulator.
    pub(crate) endpoints: BTreeMap<String, u64>,
    /// Changes in flight: peak and time-weighted mean (apply phases).
    pub(crate) peak_in_flight: usize,
    pub(crate) mean_in_flight: f64,
}

struct Run<'a, S: Store> {
    emulator: &'a Emulator,
    client: &'a GraphClient,
    store: Counting<S>,
    spec: graphform_spec::Spec,
    credentials: Credentials,
    options: ApplyOptions,
    /// The policy's tokens.
    tokens: usize,
}

impl<S: Store> Run<'_, S> {
    fn start_counting(&self) -> Instant {
        self.client.reset_counters();
        self.emulator.reset_counters();
        self.store.reset();
        Instant::now()
    }

    fn phase(&self, name: &'static str, started: Instant, changes: &[&Change]) -> Phase {
        let wall = started.elapsed();
        let tokens = changes
            .iter()
            .filter(|change| {
                matches!(
                    change.action,
                    Action::Issue | Action::Refresh | Action::Revoke
                )
            })
            .count();
        Phase {
            name,
            tokens,
            changes: changes.len(),
            wall,
            wall_range: (wall, wall),
            http: self.client.counters(),
            store: self.store.counts(),
            endpoints: self.emulator.counters().by_endpoint,
            peak_in_flight: 0,
            mean_in_flight: 0.0,
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.emulator.now())
    }

    async fn plan(&self, name: &'static str, expected: usize) -> Result<Phase, String> {
        let started = self.start_counting();
        let state = observe(&self.spec, self.client, &self.store, &self.credentials)
            .await
            .map_err(|error| format!("{name}: observe: {}", chain(&error)))?;
        let plan = plan(&self.spec, &state, self.now(), &PlanOptions::default());
        let mut phase = self.phase(name, started, &plan.changes.iter().collect::<Vec<_>>());
        phase.tokens = self.tokens;
        if phase.changes != expected {
            return Err(format!(
                "{name}: {} changes planned, {expected} expected",
                phase.changes
            ));
        }
        Ok(phase)
    }

    async fn apply(
        &self,
        name: &'static str,
        expected: &[(Action, usize)],
    ) -> Result<Phase, String> {
        let tracker = Tracker::default();
        let context = ApplyContext {
            spec: &self.spec,
            client: self.client,
            store: &self.store,
            credentials: &self.credentials,
            now: self.now(),
        };
        let started = self.start_counting();
        let report = apply(&context, Approval::Auto, &self.options, &tracker)
            .await
            .map_err(|error| format!("{name}: {}", chain(&error)))?;
        let changes: Vec<&Change> = report.outcomes.iter().map(|(change, _)| change).collect();
        let mut phase = self.phase(name, started, &changes);
        if let Some((change, outcome)) = report
            .outcomes
            .iter()
            .find(|(_, outcome)| !matches!(outcome, Outcome::Done { .. }))
        {
            return Err(format!(
                "{name}: {} {}: {outcome:?}",
                change.action.as_str(),
                change.address
            ));
        }
        for (action, count) in expected {
            let made = changes
                .iter()
                .filter(|change| change.action == *action)
                .count();
            if made != *count {
                return Err(format!(
                    "{name}: {made} {} changes, {count} expected",
                    action.as_str()
                ));
            }
        }
        phase.peak_in_flight = tracker.peak.load(Ordering::SeqCst);
        phase.mean_in_flight = lock(&tracker.busy).as_secs_f64() / phase.wall.as_secs_f64();
        Ok(phase)
    }

    /// The five phases, one after another.
    async fn phases(&self, shape: Shape) -> Result<Vec<Phase>, String> {
        let n = shape.total();
        let users = shape.businesses * shape.users;
        let mut phases = vec![self.plan("plan (empty)", 2 * users + n).await?];
        phases.push(
            self.apply(
                "issue",
                &[
                    (Action::Create, users),
                    (Action::Install, users),
                    (Action::Issue, n),
                ],
            )
            .await?,
        );
        phases.push(self.plan("plan (steady)", 0).await?);
        self.emulator.advance_clock(45 * DAY);
        phases.push(self.apply("refresh", &[(Action::Refresh, n)]).await?);
        self.emulator.advance_clock(DAY + 60 * 60);
        phases.push(self.apply("revoke", &[(Action::Revoke, n)]).await?);
        Ok(phases)
    }
}

/// Each phase of the run whose wall time was the median among `runs`
/// (the same configuration measured several times), with the range of
/// wall times.
pub(crate) fn median(runs: Vec<Vec<Phase>>) -> Vec<Phase> {
    let count = runs.first().map_or(0, Vec::len);
    let mut by_phase: Vec<Vec<Phase>> = (0..count).map(|_| Vec::new()).collect();
    for run in runs {
        for (index, phase) in run.into_iter().enumerate() {
            by_phase[index].push(phase);
        }
    }
    by_phase
        .into_iter()
        .filter_map(|mut phases| {
            phases.sort_by_key(|phase| phase.wall);
            let range = (phases.first()?.wall, phases.last()?.wall);
            let mut median = phases.swap_remove(phases.len() / 2);
            median.wall_range = range;
            Some(median)
        })
        .collect()
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// Runs the phases for one latency, size and store.
pub(crate) async fn measure(
    parallelism: usize,
    max_parallelism: usize,
    latency_ms: u64,
    shape: Shape,
    backend: Backend,
) -> Result<Vec<Phase>, String> {
    let emulator = Emulator::start(world(shape))
        .await
        .map_err(|error| chain(&error))?;
    emulator
        .configure_faults(FaultConfig {
            latency_ms,
            ..FaultConfig::default()
        })
        .map_err(|error| chain(&error))?;
    let client = ClientSettings::for_base_url(&emulator.base_url())
        .and_then(GraphClient::new)
        .map_err(|error| chain(&error))?;
    let options = ApplyOptions {
        parallelism,
        max_parallelism,
        ..ApplyOptions::default()
    };
    let phases = match backend {
        Backend::File => {
            let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
            let (key, _recipient) = generate_identity();
            let store =
                FileStore::with_identity(dir.path(), &key).map_err(|error| chain(&error))?;
            phases_on(&emulator, &client, store, shape, &options).await
        }
        Backend::Vault => {
            let server = OpenBao::start().await;
            phases_on(&emulator, &client, server.store("bench"), shape, &options).await
        }
        Backend::Aws => {
            // moto's launcher blocks while it waits for the server.
            let server = tokio::task::block_in_place(Moto::start);
            phases_on(&emulator, &client, server.store("bench"), shape, &options).await
        }
    };
    emulator.shutdown().await;
    phases
}

async fn phases_on<S: Store>(
    emulator: &Emulator,
    client: &GraphClient,
    store: S,
    shape: Shape,
    options: &ApplyOptions,
) -> Result<Vec<Phase>, String> {
    let run = Run {
        emulator,
        client,
        store: Counting::new(store),
        spec: policy(shape),
        credentials: credentials(shape),
        options: options.clone(),
        tokens: shape.total(),
    };
    run.phases(shape).await
}
