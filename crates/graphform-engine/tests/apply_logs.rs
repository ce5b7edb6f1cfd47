//! What apply logs, read through a capturing subscriber. Alone in its test
//! binary (see `graphform_testkit::logs`): `tracing` caches per call site
//! whether anyone listens, and another test's thread reaching the same
//! call sites meanwhile made this one miss the change span under
//! `cargo test`.

mod support;

use support::{ADMIN_TOKEN, BUSINESS, NOW};

use graphform_graph::Secret;
use graphform_testkit::logs::Capture;
use graphform_testkit::meta::Meta;
use graphform_types::Timestamp;

#[test]
fn every_log_line_of_a_change_names_its_action_and_address() {
    let meta = Meta::new(Timestamp::from_unix(NOW));
    meta.add_admin(BUSINESS, &Secret::new(ADMIN_TOKEN));
    let (store, _dir) = support::file_store();
    let spec = support::policy(
        "      - name: worker\n        apps: [app]\n        tokens:\n          - { name: reads, app: app, scopes: [ads_read] }\n",
    );
    let credentials = support::credentials();
    let capture = Capture::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    capture.scoped(|| {
        runtime.block_on(support::apply_auto(&support::context(
            &spec,
            &meta,
            &store,
            &credentials,
        )))
    });
    capture.assert_contains(&[
        "change{action=\"issue\" address=acme/worker/token/reads}",
        "model call",
    ]);
    let worker = meta.system_user_id(BUSINESS, "worker").expect("worker");
    let minted: Vec<String> = meta
        .live_tokens(&worker)
        .iter()
        .map(|token| token.expose().to_owned())
        .collect();
    assert_eq!(minted.len(), 1);
    capture.assert_free_of(&[ADMIN_TOKEN, support::SECRET, minted[0].as_str()]);
}
