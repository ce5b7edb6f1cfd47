//! Apply under injected faults (issue 6): with 20 % of the emulator's API
//! calls failing transiently, repeated observe → plan → apply rounds make
//! 200 tokens for 4 system users, and leave no duplicate: exactly the 200
//! stored tokens are valid in Meta, and the journal is empty.

mod support;

use support::{NOW, Quiet, client, credentials};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use graphform_emulator::Emulator;
use graphform_engine::apply::{ApplyContext, ApplyError, ApplyOptions, Approval, Outcome, apply};
use graphform_engine::observe::{Credentials, observe};
use graphform_engine::{PlanOptions, plan};
use graphform_graph::{GraphClient, RetryPolicy};
use graphform_store::{FileStore, Store as _, generate_identity};
use graphform_types::Timestamp;
use serde_json::{Value, json};

const USERS: usize = 4;
const TOKENS_PER_USER: usize = 50;
/// Rounds of observe → plan → apply before the test gives up.
const MAX_ROUNDS: usize = 60;

/// 4 system users × 50 tokens, all of the one app.
fn policy() -> graphform_spec::Spec {
    let mut users = String::new();
    for u in 0..USERS {
        let _ = write!(
            users,
            "      - name: worker-{u}\n        apps: [app]\n        tokens:\n"
        );
        for t in 0..TOKENS_PER_USER {
            let _ = writeln!(
                users,
                "          - {{ name: t{t}, app: app, scopes: [ads_read] }}"
            );
        }
    }
    support::policy(&users)
}

async fn control(emulator: &Emulator, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("{}/_emulator/{path}", emulator.base_url()))
        .json(&body)
        .send()
        .await
        .expect("control call");
    assert!(response.status().is_success(), "{path}: {response:?}");
    response.json().await.expect("json")
}

/// What a converging run took.
#[derive(Debug, Default)]
struct Run {
    /// Rounds of observe → plan → apply until the plan was empty (the last,
    /// empty plan's observation not counted).
    rounds: usize,
    /// Observations that failed (a read exhausted its retries) and were
    /// tried again.
    failed_observations: usize,
    /// Changes that failed, over all rounds.
    failed_changes: usize,
    /// Changes skipped after an earlier change of their system user failed.
    skipped_changes: usize,
    /// HTTP requests the clients sent (retries included).
    http_requests: u64,
    /// Of those, retries.
    retries: u64,
    /// HTTP requests the emulator counted.
    emulator_http_requests: u64,
    /// API calls the emulator counted (batch operations one by one).
    emulator_api_calls: u64,
}

/// An emulator with the test world, the policy, a file store, and two
/// clients: `reader` for observation (default retries: it is read-only and
/// simply run again when it fails) and `writer` for apply.
struct Fixture {
    emulator: Emulator,
    reader: GraphClient,
    writer: GraphClient,
    credentials: Credentials,
    spec: graphform_spec::Spec,
    store: FileStore,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn start(apply_retry: RetryPolicy) -> Self {
        let emulator = Emulator::start(support::world(11)).await.expect("emulator");
        let reader = client(&emulator.base_url(), RetryPolicy::default());
        let writer = client(&emulator.base_url(), apply_retry);
        let dir = tempfile::tempdir().expect("tempdir");
        let (identity, _) = generate_identity();
        let store = FileStore::init(dir.path().join("store"), &identity).expect("store");
        Self {
            emulator,
            reader,
            writer,
            credentials: credentials(),
            spec: policy(),
            store,
            _dir: dir,
        }
    }

    /// Observe → plan → apply until the plan is empty.
    async fn rounds(&self) -> Run {
        let mut run = Run::default();
        let mut attempts = 0;
        let mut last_error = String::new();
        loop {
            attempts += 1;
            assert!(
                attempts <= MAX_ROUNDS,
                "not converged after {MAX_ROUNDS} rounds: {run:?}; last observation error: {last_error}"
            );
            let state =
                match observe(&self.spec, &self.reader, &self.store, &self.credentials).await {
                    Ok(state) => state,
                    Err(error) => {
                        run.failed_observations += 1;
                        last_error = format!("{error:?}");
                        continue;
                    }
                };
            let plan = plan(
                &self.spec,
                &state,
                Timestamp::from_unix(NOW),
                &PlanOptions::default(),
            );
            assert!(
                plan.notices
                    .iter()
                    .all(|n| n.kind != graphform_engine::NoticeKind::PossiblyOrphaned),
                "a transient error (nothing executed) left a possibly orphaned token: {:?}",
                plan.notices
            );
            if !plan.has_changes() {
                break;
            }
            run.rounds += 1;
            let context = ApplyContext {
                spec: &self.spec,
                client: &self.writer,
                store: &self.store,
                credentials: &self.credentials,
                now: Timestamp::from_unix(NOW),
            };
            // Apply observes and plans again under its lease.
            let report =
                match apply(&context, Approval::Auto, &ApplyOptions::default(), &Quiet).await {
                    Ok(report) => report,
                    Err(ApplyError::Observe(error)) => {
                        run.failed_observations += 1;
                        last_error = format!("{error:?}");
                        continue;
                    }
                    Err(error) => panic!("apply did not run: {error}"),
                };
            for (_, outcome) in &report.outcomes {
                match outcome {
                    Outcome::Done { .. } => {}
                    Outcome::Failed { .. } => run.failed_changes += 1,
                    Outcome::Skipped { .. } => run.skipped_changes += 1,
                }
            }
        }
        for counters in [self.reader.counters(), self.writer.counters()] {
            run.http_requests += counters.http_requests;
            run.retries += counters.retries;
        }
        let counted = control(
            &self.emulator,
            reqwest::Method::GET,
            "counters",
            Value::Null,
        )
        .await;
        run.emulator_http_requests = counted["http_requests"].as_u64().expect("count");
        run.emulator_api_calls = counted["api_calls"].as_u64().expect("count");
        run
    }

    /// The store's tokens, checked: 200 records, one value each; their
    /// fingerprints.
    async fn stored(&self) -> BTreeSet<String> {
        let addresses = self.store.list_tokens().await.expect("list");
        assert_eq!(addresses.len(), USERS * TOKENS_PER_USER);
        let mut stored = BTreeSet::new();
        for address in &addresses {
            let record = self
                .store
                .read_token(address)
                .await
                .expect("read")
                .expect("a record")
                .value;
            assert!(record.previous.is_none(), "{address} has a previous value");
            stored.insert(record.current.value.fingerprint().to_string());
        }
        assert_eq!(
            stored.len(),
            USERS * TOKENS_PER_USER,
            "a value stored twice"
        );
        stored
    }

    /// With the faults off: the plan is empty, the journal too, and Meta
    /// holds exactly the stored tokens for the managed system users.
    async fn check_exactly_the_policy(&self) {
        control(
            &self.emulator,
            reqwest::Method::DELETE,
            "faults",
            Value::Null,
        )
        .await;
        let state = observe(&self.spec, &self.reader, &self.store, &self.credentials)
            .await
            .expect("observe without faults");
        assert!(
            !plan(
                &self.spec,
                &state,
                Timestamp::from_unix(NOW),
                &PlanOptions::default()
            )
            .has_changes()
        );
        assert!(
            state.document.journal.is_empty(),
            "journal left: {:?}",
            state.document.journal
        );
        let stored = self.stored().await;

        let meta = control(&self.emulator, reqwest::Method::GET, "state", Value::Null).await;
        let mut users: BTreeMap<String, String> = BTreeMap::new();
        for user in meta["system_users"].as_array().expect("system users") {
            let name = user["name"].as_str().expect("name");
            if name.starts_with("worker-") {
                let id = user["id"].as_str().expect("id").to_owned();
                assert!(
                    users.insert(name.to_owned(), id).is_none(),
                    "system user {name} created twice"
                );
            }
        }
        assert_eq!(users.len(), USERS);
        let managed: BTreeSet<&str> = users.values().map(String::as_str).collect();
        let tokens = meta["tokens"].as_object().expect("tokens");
        let valid: BTreeSet<String> = tokens
            .iter()
            .filter(|(_, token)| {
                token["valid"] == Value::Bool(true)
                    && token["system_user_id"]
                        .as_str()
                        .is_some_and(|id| managed.contains(id))
            })
            .map(|(fingerprint, _)| fingerprint.clone())
            .collect();
        let unheld: Vec<&String> = valid.difference(&stored).collect();
        assert!(
            unheld.is_empty(),
            "{} valid token(s) of managed system users that the store does not hold (duplicates): {unheld:?}",
            unheld.len()
        );
        let dead: Vec<&String> = stored.difference(&valid).collect();
        assert!(
            dead.is_empty(),
            "stored tokens that are not valid: {dead:?}"
        );
        let issued = tokens
            .values()
            .filter(|token| token["origin"] == "issued")
            .count();
        assert_eq!(issued, USERS * TOKENS_PER_USER, "tokens issued in all");
    }
}

/// Loops observe → plan → apply under 20 % transient errors until the plan
/// is empty, apply's Graph calls retried per `apply_retry`; then checks,
/// with the faults off, that exactly the policy's 200 tokens exist.
/// `endpoints` filters the faults (empty: every endpoint).
async fn converge(apply_retry: RetryPolicy, endpoints: &[&str]) -> Run {
    let fixture = Fixture::start(apply_retry).await;
    control(
        &fixture.emulator,
        reqwest::Method::POST,
        "faults",
        json!({ "transient_error_rate": 0.2, "seed": 42, "endpoints": endpoints }),
    )
    .await;
    let run = fixture.rounds().await;
    fixture.check_exactly_the_policy().await;
    fixture.emulator.shutdown().await;
    run
}

#[tokio::test]
async fn apply_of_200_tokens_converges_under_20_percent_transient_errors() {
    let run = converge(RetryPolicy::default(), &[]).await;
    eprintln!("with the default retries: {run:?}");
    assert!(run.retries > 0, "no fault was injected: {run:?}");
}

/// Without retries in apply's client every fault fails its change (and the
/// rest of its system user's changes), so convergence rests on the rounds.
/// The faults hit the mutations only: apply's own observation, made with
/// the same client, would otherwise almost never get through 200 reads.
#[tokio::test]
async fn apply_of_200_tokens_converges_under_20_percent_transient_errors_without_retries() {
    let run = converge(
        RetryPolicy::never(),
        &[
            "POST /{business-id}/system_users",
            "POST /{system-user-id}/applications",
            "POST /{system-user-id}/access_tokens",
        ],
    )
    .await;
    eprintln!("without apply retries: {run:?}");
    assert!(run.failed_changes > 0, "no change failed: {run:?}");
    assert!(run.rounds > 1, "{run:?}");
}
