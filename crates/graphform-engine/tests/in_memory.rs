//! Apply against the in-memory model of Meta (`graphform_testkit::meta`)
//! through the engine's `Provider` seam: the safety rules checked in
//! milliseconds, with faults placed exactly. The same rules are checked
//! over HTTP against the emulator by `apply_faults`, `apply_recovery` and the
//! model test; these run without a network and show the seam works.

mod support;

use support::{ADMIN_TOKEN, BUSINESS, NOW};

use graphform_engine::apply::{ApplyContext, Outcome};
use graphform_engine::{Action, NoticeKind};
use graphform_graph::Secret;
use graphform_store::{FileStore, Store, generate_identity};
use graphform_testkit::logs::Capture;
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
        let dir = tempfile::tempdir().expect("tempdir");
        let (identity, _) = generate_identity();
        let store = FileStore::init(dir.path().join("store"), &identity).expect("store");
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
        ApplyContext {
            spec: &self.spec,
            client: &self.meta,
            store: &self.store,
            credentials: &self.credentials,
            now: Timestamp::from_unix(NOW),
        }
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
    let second = fixture.apply().await;
    assert_eq!(done(&second), [Action::Issue], "{second:?}");
    assert_eq!(fixture.live(), [fixture.stored().await.expect("stored")]);
}

#[test]
fn every_log_line_of_a_change_names_its_action_and_address() {
    let fixture = Fixture::new();
    let capture = Capture::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    capture.scoped(|| runtime.block_on(fixture.apply()));
    capture.assert_contains(&[
        "change{action=\"issue\" address=acme/worker/token/reads}",
        "model call",
    ]);
    let worker = fixture
        .meta
        .system_user_id(BUSINESS, "worker")
        .expect("worker");
    let minted: Vec<String> = fixture
        .meta
        .live_tokens(&worker)
        .iter()
        .map(|token| token.expose().to_owned())
        .collect();
    assert_eq!(minted.len(), 1);
    capture.assert_free_of(&[ADMIN_TOKEN, support::SECRET, minted[0].as_str()]);
}
