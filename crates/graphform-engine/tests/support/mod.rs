//! The world most engine tests run in: one business with one app and an
//! admin system user whose token is fixed, on the emulator's frozen clock;
//! a policy for it, its credentials, a client whose waits take no time,
//! and a silent progress.

#![allow(dead_code, reason = "each test binary uses a part of it")]

use std::sync::Arc;

use graphform_emulator::World;
use graphform_engine::apply::{ApplyContext, ApplyOptions, Approval, Outcome, Progress, apply};
use graphform_engine::observe::Credentials;
use graphform_engine::observe::observe;
use graphform_engine::{Change, Plan, PlanOptions, Provider, plan};
use graphform_graph::{
    AppCredentials, ClientSettings, GraphClient, RetryPolicy, Secret, UserToken, VirtualClock,
};
use graphform_store::Store;

/// 2026-01-01 00:00 UTC, the emulator's frozen clock.
pub(crate) const NOW: i64 = 1_767_225_600;
pub(crate) const BUSINESS: &str = "100000000000001";
pub(crate) const APP: &str = "200000000000001";
pub(crate) const SECRET: &str = "secret-of-the-app-0001";
pub(crate) const ADMIN_USER: &str = "300000000000001";
pub(crate) const ADMIN_TOKEN: &str = "EAAadmin0001xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// The world, its generator seeded with `seed`.
pub(crate) fn world(seed: u64) -> World {
    let yaml = format!(
        "clock_start: {NOW}\nseed: {seed}\n\
         businesses:\n  - {{ id: \"{BUSINESS}\", name: Acme }}\n\
         apps:\n  - {{ id: \"{APP}\", name: app, business: \"{BUSINESS}\", secret: \"{SECRET}\", access_level: advanced }}\n\
         system_users:\n  - {{ id: \"{ADMIN_USER}\", name: admin, business: \"{BUSINESS}\", role: ADMIN }}\n\
         admin_tokens:\n  - {{ system_user: \"{ADMIN_USER}\", app: \"{APP}\", token: \"{ADMIN_TOKEN}\" }}\n"
    );
    World::from_yaml_str(&yaml).expect("valid world")
}

/// A policy for the world's business `acme`, with `system_users` (YAML
/// list items, indented by six spaces).
pub(crate) fn policy(system_users: &str) -> graphform_spec::Spec {
    let text = format!(
        "version: 1\nbusinesses:\n  - name: acme\n    id: \"{BUSINESS}\"\n    admin: {{ token_env: ADMIN, app: app }}\n    apps:\n      app: {{ id: \"{APP}\", secret_env: SECRET }}\n    system_users:\n{system_users}"
    );
    graphform_spec::load_texts(vec![("policy.yaml".into(), text)])
        .spec
        .expect("valid policy")
}

/// The admin token and the app's secret.
pub(crate) fn credentials() -> Credentials {
    let app = AppCredentials::new(APP, Secret::new(SECRET));
    let mut credentials = Credentials::default();
    credentials.admins.insert(
        "acme".to_owned(),
        UserToken::new(Secret::new(ADMIN_TOKEN), app.clone()),
    );
    credentials.apps.insert(APP.to_owned(), app);
    credentials
}

/// A file store in a new temporary directory (kept while the directory
/// lives).
pub(crate) fn file_store() -> (graphform_store::FileStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (identity, _) = graphform_store::generate_identity();
    let store =
        graphform_store::FileStore::init(dir.path().join("store"), &identity).expect("store");
    (store, dir)
}

/// The context apply (and import) work in, at [`NOW`].
pub(crate) fn context<'a, S, P>(
    spec: &'a graphform_spec::Spec,
    client: &'a P,
    store: &'a S,
    credentials: &'a Credentials,
) -> ApplyContext<'a, S, P> {
    ApplyContext {
        spec,
        client,
        store,
        credentials,
        now: graphform_types::Timestamp::from_unix(NOW),
    }
}

/// A client of `base_url` whose retry waits take no real time.
pub(crate) fn client(base_url: &str, retry: RetryPolicy) -> GraphClient {
    let mut settings = ClientSettings::for_base_url(base_url).expect("loopback url");
    settings.retry = retry;
    settings.jitter_seed = Some(3);
    GraphClient::with_clock(settings, Arc::new(VirtualClock::new())).expect("client")
}

/// Progress that says nothing.
pub(crate) struct Quiet;

impl Progress for Quiet {
    fn started(&self, _change: &Change) {}
    fn finished(&self, _change: &Change, _outcome: &Outcome) {}
    fn note(&self, _message: &str) {}
}

/// Applies with default options, approved without asking, saying nothing:
/// every change with its outcome.
pub(crate) async fn apply_auto<S: Store, P: Provider>(
    context: &ApplyContext<'_, S, P>,
) -> Vec<(Change, Outcome)> {
    apply(context, Approval::Auto, &ApplyOptions::default(), &Quiet)
        .await
        .expect("apply runs")
        .outcomes
}

/// Observes through `client` and plans at [`NOW`] with default options.
pub(crate) async fn observe_and_plan<S: Store, P: Provider>(
    spec: &graphform_spec::Spec,
    client: &P,
    store: &S,
    credentials: &Credentials,
) -> Plan {
    let state = observe(spec, client, store, credentials)
        .await
        .expect("observe");
    plan(
        spec,
        &state,
        graphform_types::Timestamp::from_unix(NOW),
        &PlanOptions::default(),
    )
}
