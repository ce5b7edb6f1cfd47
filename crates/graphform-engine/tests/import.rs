//! `import` against the in-memory model of Meta and a file store: an
//! accepted token is stored as Meta describes it and the planner acts on
//! what differs from the policy; a refused one leaves the store as it was;
//! a token stored before is kept as the previous one for its grace.

mod support;

use std::fmt::Write as _;

use support::{ADMIN_TOKEN, APP, BUSINESS, NOW, Quiet};

use graphform_engine::Action;
use graphform_engine::apply::ApplyContext;
use graphform_engine::import::{Difference, ImportError, ImportOutcome, Refusal, import};
use graphform_engine::observe::read_document;
use graphform_engine::provider::Provider as _;
use graphform_graph::{IssueToken, Secret, UserToken};
use graphform_store::{ExpiryMode, FileStore, Store};
use graphform_testkit::meta::Meta;
use graphform_types::{Duration, Timestamp, TokenAddress};

const TOKEN: &str = "acme/worker/token/reads";

struct Fixture {
    meta: Meta,
    spec: graphform_spec::Spec,
    store: FileStore,
    credentials: graphform_engine::observe::Credentials,
    worker: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A policy with one 60-day `ads_read` token (grace 2h); the worker
    /// exists in Meta with the app installed, made outside graphform.
    async fn new() -> Self {
        let meta = Meta::new(Timestamp::from_unix(NOW));
        meta.add_admin(BUSINESS, &Secret::new(ADMIN_TOKEN));
        let worker = meta.add_system_user(BUSINESS, "worker");
        let credentials = support::credentials();
        meta.install_app(&credentials.admins["acme"], &worker, APP)
            .await
            .expect("installed");
        let (store, dir) = support::file_store();
        Self {
            meta,
            spec: support::policy(
                "      - name: worker\n        apps: [app]\n        tokens:\n          - { name: reads, app: app, scopes: [ads_read], grace: 2h }\n",
            ),
            store,
            credentials,
            worker,
            _dir: dir,
        }
    }

    fn context(&self) -> ApplyContext<'_, FileStore, Meta> {
        support::context(&self.spec, &self.meta, &self.store, &self.credentials)
    }

    fn admin(&self) -> &UserToken {
        &self.credentials.admins["acme"]
    }

    /// A token made by hand for the worker.
    async fn mint(&self, scopes: &[&str], expiring: bool) -> Secret {
        let request = IssueToken {
            app_id: APP.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expiring,
        };
        self.meta
            .issue_token(self.admin(), &self.worker, &request)
            .await
            .expect("issued")
    }

    async fn import(
        &self,
        value: &Secret,
    ) -> Result<graphform_engine::import::Imported, ImportError> {
        import(&self.context(), &address(), value, &Quiet).await
    }

    async fn plan(&self) -> graphform_engine::Plan {
        support::observe_and_plan(&self.spec, &self.meta, &self.store, &self.credentials).await
    }

    /// The record at [`TOKEN`].
    async fn stored(&self) -> graphform_store::TokenRecord {
        let record = self.store.read_token(&address()).await.expect("read");
        record.expect("stored").value
    }

    /// Everything the store holds but the lease: token records and
    /// documents.
    async fn contents(&self) -> String {
        let mut text = format!("{:?}\n", self.store.read_state().await.expect("read"));
        for address in self.store.list_tokens().await.expect("list") {
            let record = self.store.read_token(&address).await.expect("read");
            let _ = writeln!(text, "{address}: {record:?}");
        }
        text
    }
}

fn address() -> TokenAddress {
    TOKEN.parse().expect("an address")
}

#[tokio::test]
async fn a_token_is_stored_as_meta_describes_it_and_the_next_plan_rotates_what_differs() {
    let fixture = Fixture::new().await;
    let value = fixture.mint(&["ads_read", "read_insights"], false).await;
    let imported = fixture.import(&value).await.expect("imported");
    assert_eq!(imported.outcome, ImportOutcome::Stored);
    assert_eq!(imported.system_user_id, fixture.worker);
    assert_eq!(
        imported.differences,
        [
            Difference::Scopes {
                token: ["ads_read", "read_insights"].map(str::to_owned).into(),
                policy: ["ads_read".to_owned()].into(),
            },
            Difference::Expiry {
                token: ExpiryMode::Never,
                policy: ExpiryMode::SixtyDays,
            },
        ]
    );
    let record = fixture.stored().await;
    let metadata = &record.current.metadata;
    assert_eq!(record.current.value, value);
    assert_eq!(
        (
            metadata.expiry,
            metadata.expires_at,
            metadata.issued_by.as_deref()
        ),
        (ExpiryMode::Never, None, None)
    );
    assert_eq!(metadata.scopes, imported.scopes);
    assert_eq!(metadata.system_user_id, fixture.worker);

    // The system user is recorded, with an audit entry of the import.
    let document = read_document(&fixture.store).await.expect("records");
    let user = address().system_user().clone();
    assert_eq!(document.system_users.get(&user), Some(&fixture.worker));
    let audit = document.audit.last().expect("an audit entry");
    assert_eq!(
        (
            audit.action.as_str(),
            audit.after.as_ref(),
            audit.before.as_ref()
        ),
        ("import", Some(&value.fingerprint()), None)
    );

    let plan = fixture.plan().await;
    let change = plan
        .changes
        .iter()
        .find(|c| c.address == address().into())
        .expect("a change of the token");
    assert_eq!(change.action, Action::Rotate, "{plan:#?}");
    assert_eq!(change.reason, "scopes changed: -read_insights");
    assert_eq!(
        change.before.as_ref().and_then(|b| b.fingerprint.clone()),
        Some(value.fingerprint())
    );
}

#[tokio::test]
async fn a_token_like_the_policys_is_left_alone_by_the_next_plan() {
    let fixture = Fixture::new().await;
    let value = fixture.mint(&["ads_read"], true).await;
    let imported = fixture.import(&value).await.expect("imported");
    assert!(imported.differences.is_empty(), "{imported:?}");
    // Nothing at all: the token is the policy's, and a valid token of the
    // app proves the app installed (no idempotent `install` either).
    let plan = fixture.plan().await;
    assert_eq!(plan.changes, Vec::new(), "{plan:#?}");
    assert_eq!(plan.timeline[0].fingerprint, value.fingerprint());
    // Again: nothing is written.
    let before = fixture.contents().await;
    let again = fixture.import(&value).await.expect("imported");
    assert_eq!(again.outcome, ImportOutcome::AlreadyStored);
    assert_eq!(fixture.contents().await, before);
}

#[tokio::test]
async fn a_refused_token_leaves_the_store_as_it_was() {
    let fixture = Fixture::new().await;
    let before = fixture.contents().await;

    let revoked = fixture.mint(&["ads_read"], true).await;
    let caller = UserToken::new(revoked.clone(), fixture.admin().app().clone());
    fixture
        .meta
        .revoke_token(&caller, &revoked)
        .await
        .expect("revoked");
    let error = fixture.import(&revoked).await.expect_err("refused");
    assert!(
        matches!(&error, ImportError::Refused { refusal, .. } if matches!(**refusal, Refusal::Dead(_))),
        "{error:?}"
    );

    // The right app, another system user's.
    let other = fixture.meta.add_system_user(BUSINESS, "other");
    fixture
        .meta
        .install_app(fixture.admin(), &other, APP)
        .await
        .expect("installed");
    let request = IssueToken {
        app_id: APP.to_owned(),
        scopes: vec!["ads_read".to_owned()],
        expiring: true,
    };
    let others = fixture
        .meta
        .issue_token(fixture.admin(), &other, &request)
        .await
        .expect("issued");
    let error = fixture.import(&others).await.expect_err("refused");
    assert!(
        matches!(&error, ImportError::Refused { refusal, .. } if matches!(**refusal, Refusal::WrongSystemUser { .. })),
        "{error:?}"
    );
    assert!(
        !format!("{error:?} {error}").contains(others.expose()),
        "no value in the error"
    );

    let unknown: TokenAddress = "acme/worker/token/read".parse().expect("an address");
    let error = import(&fixture.context(), &unknown, &revoked, &Quiet)
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, ImportError::NotInPolicy { close, .. } if close == &[address()]),
        "{error:?}"
    );
    // The admin token graphform acts with: never managed, so never
    // rotated and revoked out from under graphform.
    let admin = fixture.admin().token().clone();
    let error = fixture.import(&admin).await.expect_err("refused");
    assert!(
        matches!(&error, ImportError::AdminToken { business, .. } if business == "acme"),
        "{error:?}"
    );
    assert_eq!(fixture.contents().await, before);
}

#[tokio::test]
async fn a_stored_token_becomes_the_previous_one_for_the_tokens_grace() {
    let fixture = Fixture::new().await;
    let first = fixture.mint(&["ads_read"], true).await;
    fixture.import(&first).await.expect("imported");
    let second = fixture.mint(&["ads_read"], true).await;
    let imported = fixture.import(&second).await.expect("imported");
    let replaced = imported.replaced.expect("replaced the first");
    let revoke_after = Timestamp::from_unix(NOW) + Duration::hours(2);
    assert_eq!(
        (replaced.fingerprint, replaced.revoke_after),
        (first.fingerprint(), revoke_after)
    );
    let record = fixture.stored().await;
    let previous = record.previous.expect("a previous token");
    assert_eq!(
        (previous.token.value, previous.revoke_after),
        (first.clone(), revoke_after)
    );

    // A third would drop the second's predecessor while it works.
    let before = fixture.contents().await;
    let third = fixture.mint(&["ads_read"], true).await;
    let error = fixture.import(&third).await.expect_err("refused");
    assert!(
        matches!(&error, ImportError::PreviousPending { previous, .. } if *previous == first.fingerprint()),
        "{error:?}"
    );
    assert!(error.hint().is_some_and(|h| h.contains("graphform apply")));
    // As is the value waiting for its revocation.
    let error = fixture.import(&first).await.expect_err("refused");
    assert!(
        matches!(&error, ImportError::StoredAsPrevious { .. }),
        "{error:?}"
    );
    assert_eq!(fixture.contents().await, before);
}
