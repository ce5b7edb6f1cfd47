//! Secrets Manager's version limit (issue 12): AWS refuses a write that
//! would leave more than about 100 versions of one secret younger than 24
//! hours (docs/stores.md, "Versions, quotas and cost"). So the versions
//! one apply adds to any one secret must not grow with the apply's size.
//!
//! Against moto (the real Secrets Manager API, emulated), with Meta
//! modelled in memory: issue, refresh 45 days later and revoke after the
//! grace, for a small and a larger policy; then the versions of every
//! secret under the prefix are counted (`ListSecretVersionIds`).

mod support;

use std::collections::BTreeMap;

use graphform_engine::apply::{ApplyContext, Outcome};
use graphform_graph::Secret;
use graphform_testkit::meta::Meta;
use graphform_testkit::moto::Moto;
use graphform_types::Timestamp;
use serde_json::json;
use std::fmt::Write as _;

use support::{ADMIN_TOKEN, BUSINESS, NOW};

const DAY: i64 = 24 * 60 * 60;
const PREFIX: &str = "graphform";

/// `users` system users with `tokens` tokens each.
fn policy(users: usize, tokens: usize) -> graphform_spec::Spec {
    let mut text = String::new();
    for u in 0..users {
        writeln!(
            text,
            "      - name: worker-{u}\n        apps: [app]\n        tokens:"
        )
        .expect("a String takes any text");
        for t in 0..tokens {
            writeln!(
                text,
                "          - {{ name: t{t}, app: app, scopes: [ads_read] }}"
            )
            .expect("a String takes any text");
        }
    }
    support::policy(&text)
}

/// Issues, refreshes and revokes for the policy; returns the number of
/// versions of each secret under the prefix, by name.
async fn versions_after_three_applies(
    moto: &Moto,
    users: usize,
    tokens: usize,
) -> BTreeMap<String, usize> {
    moto.reset();
    let store = moto.store(PREFIX);
    let meta = Meta::new(Timestamp::from_unix(NOW));
    meta.add_admin(BUSINESS, &Secret::new(ADMIN_TOKEN));
    let spec = policy(users, tokens);
    let credentials = support::credentials();
    for (phase, at) in [
        ("issue", NOW),
        ("refresh", NOW + 45 * DAY),
        ("revoke", NOW + 46 * DAY + 3600),
    ] {
        meta.set_now(Timestamp::from_unix(at));
        let context = ApplyContext {
            spec: &spec,
            client: &meta,
            store: &store,
            credentials: &credentials,
            now: Timestamp::from_unix(at),
        };
        let outcomes = support::apply_auto(&context).await;
        assert!(
            !outcomes.is_empty()
                && outcomes
                    .iter()
                    .all(|(_, outcome)| matches!(outcome, Outcome::Done { .. })),
            "{phase}: {outcomes:?}"
        );
    }
    let (status, listed) = moto.call("ListSecrets", &json!({"MaxResults": 100}));
    assert_eq!(status, 200, "{listed}");
    let mut versions = BTreeMap::new();
    for secret in listed["SecretList"].as_array().expect("secrets") {
        let name = secret["Name"].as_str().expect("name").to_owned();
        let (status, answer) = moto.call(
            "ListSecretVersionIds",
            &json!({"SecretId": name, "IncludeDeprecated": true}),
        );
        assert_eq!(status, 200, "{answer}");
        versions.insert(name, answer["Versions"].as_array().expect("versions").len());
    }
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_versions_an_apply_adds_to_a_secret_do_not_grow_with_its_size() {
    let moto = Moto::start();
    let small = versions_after_three_applies(&moto, 1, 2).await;
    let large = versions_after_three_applies(&moto, 4, 6).await;
    eprintln!(
        "versions per secret after issue, refresh and revoke:\nsmall: {small:?}\nlarge: {large:?}"
    );
    let most = |versions: &BTreeMap<String, usize>, kind: &str| {
        versions
            .iter()
            .filter(|(name, _)| name.starts_with(&format!("{PREFIX}/{kind}")))
            .map(|(_, count)| *count)
            .max()
            .unwrap_or(0)
    };
    for kind in ["state", "tokens/", "lease"] {
        assert_eq!(
            most(&small, kind),
            most(&large, kind),
            "{kind}: the most versions of one secret, 2 tokens vs 24\nsmall: {small:#?}\nlarge: {large:#?}"
        );
    }
    // The root names the system users once. A user's document: 3 writes
    // to issue (its creation's batch, the next batch, the last write), 2
    // to refresh and 2 to revoke. A token: one version per apply.
    assert_eq!(most(&large, "state"), 7, "{large:#?}");
    assert_eq!(most(&large, "tokens/"), 3, "{large:#?}");
    assert_eq!(
        large.len(),
        1 + 4 + 24,
        "root, 4 users, 24 tokens (the lease is released): {large:#?}"
    );
}
