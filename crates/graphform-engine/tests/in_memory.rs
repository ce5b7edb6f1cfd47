//! Apply against the in-memory model of Meta (`graphform_testkit::meta`)
//! through the engine's `Provider` seam: the safety rules checked in
//! milliseconds, with faults placed exactly. The same rules are checked
//! over HTTP against the emulator by `apply_faults`, `apply_recovery` and the
//! model test; these run without a network and show the seam works.

mod support;

use support::{ADMIN_TOKEN, BUSINESS, NOW};

use std::fmt::Write as _;
use std::sync::Arc;

use graphform_engine::apply::{ApplyContext, ApplyOptions, Approval, Failpoint, Outcome, apply};
use graphform_engine::document::{DOCUMENT_FORMAT_VERSION, Intent, IntentKind, StateDocument};
use graphform_engine::observe::read_document;
use graphform_engine::{Action, NoticeKind};
use graphform_graph::Secret;
use graphform_store::{FileStore, Store};
use graphform_testkit::counting::{CallKind, Counting};
use graphform_testkit::meta::{Fault, Meta, Op};
use graphform_types::{Timestamp, TokenAddress};

const TOKEN: &str = "acme/worker/token/reads";

struct Fixture {
    meta: Meta,
    spec: graphform_spec::Spec,
    store: FileStore,
    credentials: graphform_engine::observe::Credentials,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let meta = Meta::new(Timestamp::from_unix(NOW));
        meta.add_admin(BUSINESS, &Secret::new(ADMIN_TOKEN));
        let (store, dir) = support::file_store();
        Self {
            meta,
            spec: support::policy(
                "      - name: worker\n        apps: [app]\n        tokens:\n          - { name: reads, app: app, scopes: [ads_read] }\n",
            ),
            store,
            credentials: support::credentials(),
            _dir: dir,
        }
    }

    fn context(&self) -> ApplyContext<'_, FileStore, Meta> {
        support::context(&self.spec, &self.meta, &self.store, &self.credentials)
    }

    async fn apply(&self) -> Vec<(Action, Outcome)> {
        support::apply_auto(&self.context())
            .await
            .into_iter()
            .map(|(change, outcome)| (change.action, outcome))
            .collect()
    }

    async fn plan(&self) -> graphform_engine::Plan {
        support::observe_and_plan(&self.spec, &self.meta, &self.store, &self.credentials).await
    }

    /// The fingerprints of the worker's tokens that work at Meta.
    fn live(&self) -> Vec<String> {
        let worker = self
            .meta
            .system_user_id(BUSINESS, "worker")
            .expect("the worker exists");
        self.meta
            .live_tokens(&worker)
            .iter()
            .map(|token| token.fingerprint().to_string())
            .collect()
    }

    /// The addresses the next plan warns may have a token nobody stored.
    async fn orphan_warnings(&self) -> Vec<String> {
        self.plan()
            .await
            .notices
            .into_iter()
            .filter(|n| n.kind == NoticeKind::PossiblyOrphaned)
            .map(|n| n.address.to_string())
            .collect()
    }

    async fn stored(&self) -> Option<String> {
        let address: TokenAddress = TOKEN.parse().expect("an address");
        self.store
            .read_token(&address)
            .await
            .expect("read")
            .map(|record| record.value.current.metadata.fingerprint.to_string())
    }
}

fn done(outcomes: &[(Action, Outcome)]) -> Vec<Action> {
    outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Outcome::Done { .. }))
        .map(|(action, _)| *action)
        .collect()
}

#[tokio::test]
async fn apply_converges_and_stores_exactly_the_token_meta_minted() {
    let fixture = Fixture::new();
    let outcomes = fixture.apply().await;
    assert_eq!(
        done(&outcomes),
        [Action::Create, Action::Install, Action::Issue],
        "{outcomes:?}"
    );
    let stored = fixture.stored().await.expect("a token is stored");
    assert_eq!(
        fixture.live(),
        [stored],
        "the one live token is the stored one"
    );
    assert_eq!(fixture.meta.calls(Op::Issue), 1);
    assert!(!fixture.plan().await.has_changes(), "converged");
}

#[tokio::test]
async fn a_lost_answer_to_an_issue_is_journaled_and_the_next_plan_names_the_token() {
    let fixture = Fixture::new();
    fixture.meta.fail_next(Op::Issue, Fault::LostAfter);
    let outcomes = fixture.apply().await;
    assert!(
        matches!(
            outcomes.last(),
            Some((Action::Issue, Outcome::Failed { .. }))
        ),
        "{outcomes:?}"
    );
    assert_eq!(fixture.stored().await, None, "nothing came back to store");
    assert_eq!(fixture.live().len(), 1, "Meta minted one token");
    let next = fixture.plan().await;
    assert!(
        next.notices
            .iter()
            .any(|n| n.kind == NoticeKind::PossiblyOrphaned),
        "the accounting invariant: the next plan warns of the token: {:?}",
        next.notices
    );
}

#[tokio::test]
async fn an_error_answer_changes_nothing_and_the_next_apply_converges() {
    let fixture = Fixture::new();
    fixture.meta.fail_next(
        Op::Issue,
        Fault::Answer(
            500,
            serde_json::json!({"error": {"message": "An unknown error occurred", "code": 1, "is_transient": true}}),
        ),
    );
    let first = fixture.apply().await;
    assert_eq!(done(&first), [Action::Create, Action::Install], "{first:?}");
    assert!(fixture.live().is_empty(), "nothing was minted");
    assert!(
        fixture
            .plan()
            .await
            .notices
            .iter()
            .all(|n| n.kind != NoticeKind::PossiblyOrphaned),
        "a definite failure leaves no journal entry"
    );
    let status = graphform_engine::status::read_status::<_, Meta>(
        &fixture.spec,
        &fixture.store,
        None,
        Timestamp::from_unix(NOW),
    )
    .await
    .expect("status");
    assert!(status.possibly_orphaned.is_empty(), "nor a status problem");
    let second = fixture.apply().await;
    assert_eq!(done(&second), [Action::Issue], "{second:?}");
    assert_eq!(fixture.live(), [fixture.stored().await.expect("stored")]);
}

/// The accounting invariant holds for monitoring too: a token Meta may
/// have minted that nobody stored is in `status` (and a problem) exactly
/// when `plan` warns of it (a definite error leaves none: above).
#[tokio::test]
async fn status_reports_the_token_a_lost_answer_may_have_left_as_plan_does() {
    use graphform_engine::status::{Problem, read_status};
    use graphform_types::Duration;

    let now = Timestamp::from_unix(NOW);
    let fixture = Fixture::new();
    fixture.meta.fail_next(Op::Issue, Fault::LostAfter);
    fixture.apply().await;
    let status = read_status::<_, Meta>(&fixture.spec, &fixture.store, None, now)
        .await
        .expect("status");
    let worker = fixture
        .meta
        .system_user_id(BUSINESS, "worker")
        .expect("the worker exists");
    let reported: Vec<(String, String, String)> = status
        .possibly_orphaned
        .iter()
        .map(|o| {
            (
                o.address.to_string(),
                o.system_user.to_string(),
                o.system_user_id.clone(),
            )
        })
        .collect();
    assert_eq!(
        reported,
        [(TOKEN.to_owned(), "acme/worker".to_owned(), worker.clone())]
    );
    assert_eq!(
        status
            .possibly_orphaned
            .iter()
            .map(|o| o.address.to_string())
            .collect::<Vec<_>>(),
        fixture.orphan_warnings().await,
        "status and plan derive it the same way"
    );
    let problems = status.problems(Duration::days(0));
    let orphan = problems
        .iter()
        .find(|p| matches!(p, Problem::PossiblyOrphaned(_)))
        .expect("a problem to page about");
    let line = orphan.describe();
    assert!(
        line.contains("acme/worker")
            && line.contains(&worker)
            && line.contains("--invalidate-orphaned"),
        "{line}"
    );
}

/// A worker with `tokens` tokens of one app.
fn worker_with(tokens: usize) -> graphform_spec::Spec {
    let mut list = String::new();
    for n in 0..tokens {
        writeln!(
            list,
            "          - {{ name: t{n}, app: app, scopes: [ads_read] }}"
        )
        .expect("a String takes any text");
    }
    support::policy(&format!(
        "      - name: worker\n        apps: [app]\n        tokens:\n{list}"
    ))
}

#[tokio::test]
async fn a_system_users_tokens_cost_one_store_write_each_plus_one_per_batch() {
    let mut fixture = Fixture::new();
    fixture.spec = worker_with(10);
    let store = Counting::new(fixture.store.clone());
    let context = ApplyContext {
        spec: &fixture.spec,
        client: &fixture.meta,
        store: &store,
        credentials: &fixture.credentials,
        now: Timestamp::from_unix(NOW),
    };
    let outcomes = support::apply_auto(&context).await;
    assert!(
        outcomes
            .iter()
            .all(|(_, outcome)| matches!(outcome, Outcome::Done { .. })),
        "{outcomes:?}"
    );
    let counts = store.counts();
    let writes = |kind| counts.of(kind).calls;
    assert_eq!(writes(CallKind::WriteToken), 10, "one write per token");
    // The creation's batch, the install's and tokens' batch (recording
    // the creation), and the last write recording them.
    assert_eq!(writes(CallKind::WriteSystemUserState), 3, "{counts:?}");
    assert_eq!(
        writes(CallKind::WriteState),
        2,
        "the worker named at the root, and the run recorded there"
    );
    assert!(!fixture.plan().await.has_changes(), "converged");

    // Nothing to do: only the lease and the run's record are written (a
    // nightly job with nothing to do is still an apply that succeeded).
    let before = store.counts().writes();
    support::apply_auto(&context).await;
    assert_eq!(
        store.counts().writes() - before,
        3,
        "the lease, taken and released, and the run recorded at the root"
    );
}

#[tokio::test]
async fn a_lost_answer_in_a_batch_is_one_warning_and_the_unsent_rest_none() {
    let mut fixture = Fixture::new();
    fixture.spec = worker_with(4);
    // The four issues are journaled in one write; the first one's answer
    // is lost, so the three after it are never sent.
    fixture.meta.fail_next(Op::Issue, Fault::LostAfter);
    let outcomes = fixture.apply().await;
    let issues: Vec<&Outcome> = outcomes
        .iter()
        .filter(|(action, _)| *action == Action::Issue)
        .map(|(_, outcome)| outcome)
        .collect();
    assert!(
        matches!(
            issues.as_slice(),
            [
                Outcome::Failed { .. },
                Outcome::Skipped { .. },
                Outcome::Skipped { .. },
                Outcome::Skipped { .. }
            ]
        ),
        "{outcomes:?}"
    );
    assert_eq!(
        fixture.meta.calls(Op::Issue),
        1,
        "nothing after it was sent"
    );
    assert_eq!(
        fixture.orphan_warnings().await,
        ["acme/worker/token/t0"],
        "one warning, for the one token minted"
    );
    let second = fixture.apply().await;
    assert_eq!(
        done(&second),
        [Action::Issue, Action::Issue, Action::Issue, Action::Issue],
        "{second:?}"
    );
}

#[tokio::test]
async fn a_kill_amid_a_batch_leaves_one_token_in_doubt_not_every_unsent_one() {
    let mut fixture = Fixture::new();
    fixture.spec = worker_with(3);
    // Mutations into an empty world: 1 names the worker at the root, 2
    // journals its creation, 3 creates it, 4 records it and journals the
    // install and the three issues, 5 installs, 6 issues t0, 7 stores it,
    // 8 issues t1. Killed right before 8: t1 may or may not have been
    // sent; t2 waited for t1's token, so it was not.
    let (killed, kill) = std::sync::mpsc::channel();
    let failpoint: Failpoint = Arc::new(move |_| {
        let _ = killed.send(());
        loop {
            std::thread::park();
        }
    });
    let (spec, meta, store, credentials) = (
        fixture.spec.clone(),
        fixture.meta.clone(),
        fixture.store.clone(),
        fixture.credentials.clone(),
    );
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let context = ApplyContext {
            spec: &spec,
            client: &meta,
            store: &store,
            credentials: &credentials,
            now: Timestamp::from_unix(NOW),
        };
        let options = ApplyOptions {
            failpoint: Some((8, failpoint)),
            ..ApplyOptions::default()
        };
        let _ = runtime.block_on(apply(&context, Approval::Auto, &options, &support::Quiet));
    });
    kill.recv_timeout(std::time::Duration::from_secs(30))
        .expect("apply reached mutation 8");
    assert_eq!(
        fixture.meta.calls(Op::Issue),
        1,
        "killed before the second issue"
    );

    assert_eq!(
        fixture.orphan_warnings().await,
        ["acme/worker/token/t1"],
        "t2 was never sent"
    );

    // The parked apply holds the lease; it is gone for good.
    let held = fixture.store.read_lease().await.expect("read the lease");
    let held = held.expect("the parked apply's lease");
    fixture.store.break_lease(&held.id).await.expect("unlock");
    let second = fixture.apply().await;
    // The install's record was to be written with the batch's last
    // write: installing again is harmless (it is idempotent).
    assert_eq!(
        done(&second),
        [Action::Install, Action::Issue, Action::Issue],
        "t1 and t2 issued: {second:?}"
    );
    assert!(!fixture.plan().await.has_changes(), "converged");
}

#[tokio::test]
async fn a_format_1_state_document_is_read_as_it_is_and_moved_by_the_next_apply() {
    let fixture = Fixture::new();
    fixture.apply().await;
    // The records as graphform kept them before system users had documents
    // of their own: all in the root, with an entry an interrupted apply
    // left whose token may be orphaned.
    let mut legacy = read_document(&fixture.store).await.expect("records");
    let worker_id = legacy.system_users.values().next().expect("worker").clone();
    legacy.journal.push(Intent {
        id: format!("{NOW}-old-1"),
        address: TOKEN.parse::<TokenAddress>().expect("address").into(),
        kind: IntentKind::NewToken {
            system_user_id: worker_id,
            app_id: support::APP.to_owned(),
            action: "refresh".to_owned(),
            after: None,
        },
        started_at: Timestamp::from_unix(NOW - 60),
    });
    legacy.documents.clear();
    legacy.format_version = 1;
    let version = fixture
        .store
        .read_state()
        .await
        .expect("read")
        .map(|v| v.version);
    fixture
        .store
        .write_state(
            &serde_json::to_vec(&legacy).expect("json"),
            version.as_ref(),
        )
        .await
        .expect("write");
    assert_eq!(
        fixture.orphan_warnings().await,
        [TOKEN],
        "read from the root as it is"
    );

    // Nothing to change, but the journal is not empty: apply runs, and
    // moves the records into the worker's document.
    fixture.apply().await;
    let root: StateDocument = serde_json::from_slice(
        &fixture
            .store
            .read_state()
            .await
            .expect("read")
            .expect("root")
            .value,
    )
    .expect("root");
    assert_eq!(root.format_version, DOCUMENT_FORMAT_VERSION);
    assert!(
        root.system_users.is_empty() && root.installs.is_empty() && root.journal.is_empty(),
        "{root:?}"
    );
    let moved = read_document(&fixture.store).await.expect("records");
    assert_eq!(
        (&moved.system_users, &moved.installs, &moved.journal),
        (&legacy.system_users, &legacy.installs, &legacy.journal),
        "nothing lost in the move"
    );
    assert_eq!(fixture.orphan_warnings().await, [TOKEN], "still warned of");
}

/// The root document records every apply run that held the lease: when,
/// how it ended and how many changes, a run with nothing to do included;
/// a failed run leaves the last successful one's time alone.
#[tokio::test]
async fn every_apply_records_its_run_at_the_root() {
    use graphform_engine::document::{ApplyOutcome, ChangeCounts};

    let fixture = Fixture::new();
    assert_eq!(
        read_document(&fixture.store)
            .await
            .expect("records")
            .last_apply,
        None
    );

    fixture.meta.fail_next(
        Op::Issue,
        Fault::Answer(
            500,
            serde_json::json!({"error": {"message": "An unknown error occurred", "code": 1, "is_transient": true}}),
        ),
    );
    fixture.apply().await;
    let failed = read_document(&fixture.store).await.expect("records");
    let run = failed.last_apply.expect("the failed run is recorded");
    assert_eq!(run.outcome, ApplyOutcome::Failed);
    assert_eq!(
        run.changes,
        ChangeCounts {
            planned: 3,
            done: 2,
            failed: 1,
            skipped: 0
        }
    );
    assert_eq!(run.started_at, Timestamp::from_unix(NOW));
    assert!(run.finished_at >= run.started_at, "{run:?}");
    assert_eq!(failed.last_successful_apply, None);

    fixture.apply().await;
    let done = read_document(&fixture.store).await.expect("records");
    let run = done.last_apply.expect("recorded");
    assert_eq!(
        (run.outcome, run.changes.done),
        (ApplyOutcome::Succeeded, 1)
    );
    assert_eq!(done.last_successful_apply, Some(run.finished_at));

    // A nightly run a day later with nothing to do still succeeded.
    let later = Timestamp::from_unix(NOW + 86_400);
    let context = ApplyContext {
        now: later,
        ..fixture.context()
    };
    assert!(support::apply_auto(&context).await.is_empty());
    let idle = read_document(&fixture.store).await.expect("records");
    let run = idle.last_apply.expect("recorded");
    assert_eq!(
        (run.outcome, run.started_at, run.changes),
        (ApplyOutcome::Succeeded, later, ChangeCounts::default())
    );
    assert_eq!(idle.last_successful_apply, Some(run.finished_at));
}

/// `status` reads the store alone: the managed token with its next
/// refresh (the planner's timing), then dead once its expiry passed; a
/// token the policy adds is missing until an apply issues it.
#[tokio::test]
async fn status_reads_the_store_and_the_planners_timing() {
    use graphform_engine::status::{Problem, TokenState, read_status};
    use graphform_types::Duration;

    let mut fixture = Fixture::new();
    fixture.apply().await;
    let now = Timestamp::from_unix(NOW);
    let status = read_status::<_, Meta>(&fixture.spec, &fixture.store, None, now)
        .await
        .expect("status");
    let plan = fixture.plan().await;
    let token = &status.tokens[0];
    assert_eq!(token.address.to_string(), TOKEN);
    assert_eq!(token.state, TokenState::Ok);
    let expires_at = token
        .current
        .as_ref()
        .and_then(|value| value.expires_at)
        .expect("a 60-day token");
    assert_eq!(
        token.next.map(|next| (next.action, next.from)),
        plan.timeline[0].next,
        "the planner's timeline and the status agree"
    );
    assert_eq!(
        status.last_apply.as_ref().map(|run| run.changes.done),
        Some(3)
    );
    let within = Duration::days(14);
    assert!(status.problems(within).is_empty());

    // At the boundary (expires_at == now + within) it is a problem.
    let edge = read_status::<_, Meta>(&fixture.spec, &fixture.store, None, expires_at - within)
        .await
        .expect("status");
    assert!(
        matches!(edge.problems(within).as_slice(), [Problem::Expiring { .. }]),
        "{:?}",
        edge.problems(within)
    );
    let outside = read_status::<_, Meta>(
        &fixture.spec,
        &fixture.store,
        None,
        expires_at - within - Duration::seconds(1),
    )
    .await
    .expect("status");
    assert!(outside.problems(within).is_empty());
    let dead = read_status::<_, Meta>(&fixture.spec, &fixture.store, None, expires_at)
        .await
        .expect("status");
    assert_eq!(dead.tokens[0].state, TokenState::Dead);

    fixture.spec = worker_with(2);
    let grown = read_status::<_, Meta>(&fixture.spec, &fixture.store, None, now)
        .await
        .expect("status");
    let states: Vec<TokenState> = grown.tokens.iter().map(|t| t.state).collect();
    assert_eq!(states, [TokenState::Missing, TokenState::Missing]);
    let retiring: Vec<_> = grown
        .retiring
        .iter()
        .map(|t| (t.address.to_string(), t.revoke_after))
        .collect();
    assert_eq!(
        retiring,
        [(TOKEN.to_owned(), None)],
        "the next apply retires it"
    );
}

/// A `renamed_from` not applied yet: `status` shows the renamed token ok,
/// stored at its old address (`moving_from`), not missing with the old
/// address retiring; once the apply moved it, it is simply stored there.
/// Both renames: the token's and its system user's.
#[tokio::test]
async fn status_follows_a_rename_the_next_apply_makes() {
    use graphform_engine::status::{TokenState, read_status};

    let mut fixture = Fixture::new();
    fixture.apply().await;
    let fingerprint = fixture.stored().await.expect("stored");
    let now = Timestamp::from_unix(NOW);
    fixture.spec = support::policy(
        "      - name: crawler\n        renamed_from: worker\n        apps: [app]\n        tokens:\n          - { name: insights, renamed_from: reads, app: app, scopes: [ads_read] }\n",
    );
    let status = read_status::<_, Meta>(&fixture.spec, &fixture.store, None, now)
        .await
        .expect("status");
    let seen: Vec<_> = status
        .tokens
        .iter()
        .map(|token| {
            (
                token.address.to_string(),
                token.state,
                token.current.as_ref().map(|v| v.fingerprint.to_string()),
                token.moving_from.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(
            "acme/crawler/token/insights".to_owned(),
            TokenState::Ok,
            Some(fingerprint.clone()),
            Some(TOKEN.to_owned()),
        )]
    );
    assert!(status.retiring.is_empty(), "{:?}", status.retiring);
    assert!(
        status
            .problems(graphform_types::Duration::days(14))
            .is_empty()
    );

    fixture.apply().await;
    let moved = read_status::<_, Meta>(&fixture.spec, &fixture.store, None, now)
        .await
        .expect("status");
    let token = &moved.tokens[0];
    assert_eq!(
        (token.state, token.moving_from.as_ref()),
        (TokenState::Ok, None)
    );
    assert_eq!(
        token.current.as_ref().map(|v| v.fingerprint.to_string()),
        Some(fingerprint)
    );
    assert!(moved.retiring.is_empty(), "{:?}", moved.retiring);
}

/// `status` over records built in code: a revocation is overdue only once
/// more than `REVOKE_OVERDUE_AFTER` has passed since its time.
mod overdue {
    use std::collections::{BTreeMap, BTreeSet};

    use graphform_engine::Action;
    use graphform_engine::document::{ApplyOutcome, ChangeCounts, LastApply, StateDocument};
    use graphform_engine::status::{Problem, StoredValues, status};
    use graphform_store::TokenMetadata;
    use graphform_types::{Duration, ExpiryMode, Timestamp, TokenAddress};

    use super::{Fixture, NOW, TOKEN};

    const DAY: i64 = 86_400;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix(NOW + seconds)
    }

    fn metadata(address: &TokenAddress, expires_at: Option<Timestamp>) -> TokenMetadata {
        TokenMetadata {
            address: address.clone(),
            app_id: super::support::APP.to_owned(),
            system_user_id: "615500000000001".to_owned(),
            scopes: BTreeSet::from(["ads_read".to_owned()]),
            expiry: ExpiryMode::SixtyDays,
            issued_at: at(-DAY * 30),
            expires_at,
            fingerprint: graphform_types::fingerprint(&address.to_string()),
            issued_by: None,
        }
    }

    /// A revocation is overdue only once more than a day has passed since
    /// its time: exactly a day late is not yet.
    #[test]
    fn a_revocation_is_overdue_only_past_a_day() {
        let spec = Fixture::new().spec;
        let address: TokenAddress = TOKEN.parse().expect("address");
        let removed: TokenAddress = "acme/worker/token/old".parse().expect("address");
        let document = StateDocument {
            retiring: BTreeMap::from([(removed.clone(), at(-DAY - 1))]),
            last_apply: Some(LastApply {
                started_at: at(-60),
                finished_at: at(-50),
                outcome: ApplyOutcome::Held,
                changes: ChangeCounts::default(),
            }),
            last_successful_apply: Some(at(-50)),
            ..StateDocument::default()
        };
        let stored = |revoke_after: Timestamp| {
            BTreeMap::from([
                (
                    address.clone(),
                    StoredValues {
                        current: (metadata(&address, Some(at(DAY * 30))), None),
                        previous: Some((metadata(&address, Some(at(DAY))), None, revoke_after)),
                    },
                ),
                (
                    removed.clone(),
                    StoredValues {
                        current: (metadata(&removed, Some(at(DAY * 40))), None),
                        previous: None,
                    },
                ),
            ])
        };
        let now = Timestamp::from_unix(NOW);
        let on_time = status(&spec, &stored(at(-DAY)), &document, false, now);
        let superseded = on_time.tokens[0].superseded.as_ref().expect("superseded");
        assert!(
            !superseded.revoke_overdue,
            "exactly a day late is not overdue"
        );
        assert!(on_time.retiring[0].revoke_overdue, "a day and a second is");
        assert_eq!(
            on_time.problems(Duration::days(14)),
            [Problem::RevokeOverdue {
                address: removed.clone(),
                revoke_after: at(-DAY - 1),
            }]
        );
        let late = status(&spec, &stored(at(-DAY - 1)), &document, false, now);
        assert_eq!(late.problems(Duration::days(14)).len(), 2);
        assert_eq!(late.last_successful_apply, Some(at(-50)));
        assert_eq!(
            late.tokens[0].next.map(|next| (next.action, next.from)),
            Some((Action::Refresh, at(DAY * 30) - Duration::days(20))),
            "the policy's default refresh_before"
        );
    }

    /// A kill between a move's two writes leaves the value at both
    /// addresses: the copy at the old one is not a token retiring (the
    /// next apply forgets it, revoking nothing), and a record of the same
    /// name with another value still is.
    #[test]
    fn a_copy_left_by_an_interrupted_move_is_not_retiring() {
        let spec = Fixture::new().spec;
        let address: TokenAddress = TOKEN.parse().expect("address");
        let copy: TokenAddress = "acme/worker/token/old-name".parse().expect("address");
        let values = |metadata: TokenMetadata| StoredValues {
            current: (metadata, None),
            previous: None,
        };
        let now = Timestamp::from_unix(NOW);
        let current = metadata(&address, Some(at(DAY * 30)));
        let mut stored = BTreeMap::from([
            (address.clone(), values(current.clone())),
            (
                copy.clone(),
                values(TokenMetadata {
                    address: copy.clone(),
                    ..current
                }),
            ),
        ]);
        let left = status(&spec, &stored, &StateDocument::default(), false, now);
        assert_eq!(left.tokens.len(), 1);
        assert!(left.retiring.is_empty(), "{:?}", left.retiring);

        stored.insert(copy.clone(), values(metadata(&copy, Some(at(DAY)))));
        let other = status(&spec, &stored, &StateDocument::default(), false, now);
        let retiring: Vec<_> = other.retiring.iter().map(|t| &t.address).collect();
        assert_eq!(retiring, [&copy]);
    }
}

/// Waits at the "prompt" for `wait` (tokio's clock), then approves; the
/// lease before and after.
struct WaitingApprover<'a> {
    store: &'a FileStore,
    wait: std::time::Duration,
    seen: std::sync::Mutex<Vec<Option<graphform_store::LeaseInfo>>>,
}

impl graphform_engine::apply::Approver for WaitingApprover<'_> {
    fn approve<'a>(
        &'a self,
        _plan: &'a graphform_engine::Plan,
    ) -> graphform_engine::apply::BoxFuture<'a, Result<bool, graphform_engine::apply::BoxError>>
    {
        Box::pin(async move {
            let before = self.store.read_lease().await?;
            tokio::time::sleep(self.wait).await;
            let after = self.store.read_lease().await?;
            self.seen.lock().expect("lock").extend([before, after]);
            Ok(true)
        })
    }
}

// See: issue 10, "the lease holds while apply runs". With tokio's clock
// paused, an hour at the prompt takes no time, and the lease's expiry
// follows the apply's clock (the time it was given, moved on by tokio's)
// to the renewal interval.
#[tokio::test(start_paused = true)]
async fn the_lease_follows_the_apply_clock_while_it_waits_for_approval() {
    let fixture = Fixture::new();
    let approver = WaitingApprover {
        store: &fixture.store,
        wait: std::time::Duration::from_hours(1),
        seen: std::sync::Mutex::new(Vec::new()),
    };
    let options = ApplyOptions {
        lease_seconds: 300,
        lease_renew_every: std::time::Duration::from_mins(2),
        ..ApplyOptions::default()
    };
    let report = apply(
        &fixture.context(),
        Approval::Ask(&approver),
        &options,
        &support::Quiet,
    )
    .await
    .expect("apply runs");
    assert!(report.succeeded(), "{:?}", report.outcomes);
    let seen = approver.seen.lock().expect("lock").clone();
    let [Some(before), Some(after)] = seen.as_slice() else {
        panic!("the lease was held at the prompt: {seen:?}");
    };
    assert_eq!(before.expires_at, Timestamp::from_unix(NOW + 300), "taken");
    let last_renewal = after.expires_at.unix() - 300 - NOW;
    assert!(
        (3_600 - 120..=3_600).contains(&last_renewal),
        "renewed every 2 minutes through the hour: the last at {last_renewal} s"
    );
    assert_eq!(before.id, after.id, "the same lease");
    assert_eq!(
        fixture.store.read_lease().await.expect("read"),
        None,
        "released"
    );
    let run = read_document(&fixture.store)
        .await
        .expect("records")
        .last_apply
        .expect("recorded");
    assert_eq!(
        run.finished_at.unix() - NOW,
        3_600,
        "the run's record is on the same clock"
    );
}
