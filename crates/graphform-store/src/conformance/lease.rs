//! Checks of the apply lease: its whole life, and take-overs of a holder
//! that is gone.

use super::{NOW, assert_lease, assert_lease_lost, at, lease_request};
use crate::{LEASE_CLOCK_SKEW_SECONDS, Lease, LeaseBreak, LeaseId, LeaseInfo, Store, StoreError};

/// The lease: exclusive until it expires and [`LEASE_CLOCK_SKEW_SECONDS`]
/// more (a holder is refused with [`StoreError::Locked`] naming the
/// current one, with its times in UTC), renewable, taken over once expired
/// by that margin (the old holder then gets [`StoreError::LeaseLost`]),
/// released, and broken explicitly.
pub async fn lease_lifecycle<S: Store>(store: &S) {
    let a = lease_request("graphform apply (job 1)", NOW, 300);
    let lease_a = store.acquire_lease(&a).await.expect("acquire a free lease");
    assert_eq!(lease_a.info, a);
    assert_lease(store, Some(&a), "acquired").await;

    for moment in [
        NOW,
        NOW + 10,
        NOW + 300,
        NOW + 301,
        NOW + 300 + LEASE_CLOCK_SKEW_SECONDS - 1,
    ] {
        let b = lease_request("graphform apply (job 2)", moment, 300);
        let refused = store.acquire_lease(&b).await;
        assert_locked_by(&refused, &a, &format!("a held lease at {moment}"));
        let message = refused.expect_err("refused").to_string();
        assert_eq!(
            message,
            format!(
                "the store is locked by graphform apply (job 1) (pid 4242 on host \
                 ci-runner-1) since 2026-01-01 00:00:00 UTC, lease expires 2026-01-01 \
                 00:05:00 UTC (lock ID {})",
                a.id
            )
        );
    }

    let renewed_until = at(NOW + 600);
    let lease_a = store
        .renew_lease(&lease_a, renewed_until)
        .await
        .expect("renew");
    assert_eq!(lease_a.info.expires_at, renewed_until);
    assert_eq!(lease_a.info.holder, a.holder);
    assert_lease(store, Some(&lease_a.info), "renewal is stored").await;
    for moment in [NOW + 500, NOW + 600 + LEASE_CLOCK_SKEW_SECONDS - 1] {
        let b = lease_request("graphform apply (job 2)", moment, 300);
        let refused = store.acquire_lease(&b).await;
        assert_locked_by(
            &refused,
            &lease_a.info,
            &format!("renewal honoured at {moment}"),
        );
    }

    let b = lease_request(
        "graphform apply (job 2)",
        NOW + 600 + LEASE_CLOCK_SKEW_SECONDS,
        300,
    );
    let lease_b = store
        .acquire_lease(&b)
        .await
        .expect("take over a lease expired by the clock-skew margin");
    assert_lease(store, Some(&b), "taken over").await;
    assert_lease_lost(store, &lease_a, "the old holder lost it").await;
    store
        .release_lease(&lease_a)
        .await
        .expect("releasing a lost lease is no error");
    assert_lease(store, Some(&b), "and does not free the new holder's").await;

    store.release_lease(&lease_b).await.expect("release");
    assert_lease(store, None, "released").await;
    store.release_lease(&lease_b).await.expect("release twice");
    assert_lease_lost(store, &lease_b, "a released lease").await;

    let c = lease_request("graphform apply (crashed)", NOW + 1_000, 3_600);
    let lease_c: Lease = store
        .acquire_lease(&c)
        .await
        .expect("acquire after release");
    assert_eq!(
        store.break_lease(&LeaseId::random()).await.expect("break"),
        LeaseBreak::OtherHolder(c.clone()),
        "another ID breaks nothing and names the holder"
    );
    assert_lease(store, Some(&c), "a break with another ID changes nothing").await;
    assert_eq!(
        store.break_lease(&c.id).await.expect("break"),
        LeaseBreak::Broken(c.clone()),
        "break returns what it removed"
    );
    assert_lease(store, None, "broken").await;
    assert_eq!(
        store.break_lease(&c.id).await.expect("break again"),
        LeaseBreak::NotHeld
    );
    assert_lease_lost(store, &lease_c, "a broken lease").await;
    store
        .release_lease(&lease_c)
        .await
        .expect("release a broken lease");

    let d = lease_request("graphform apply (job 3)", NOW + 1_100, 300);
    let lease_d = store.acquire_lease(&d).await.expect("acquire after break");
    assert_ne!(lease_d.version, lease_c.version);
    store.release_lease(&lease_d).await.expect("release");
}

/// `result` must be [`StoreError::Locked`] naming `holder`.
fn assert_locked_by<T: std::fmt::Debug>(
    result: &Result<T, StoreError>,
    holder: &LeaseInfo,
    context: &str,
) {
    match result {
        Err(StoreError::Locked(current)) => {
            assert_eq!(current, holder, "{context}: Locked names the holder");
        }
        other => panic!("{context}: expected Locked, got {other:?}"),
    }
}

/// `stale` with one field changed, each way (the last: `before_renewal`,
/// differing in `expires_at`).
fn other_leases(stale: &LeaseInfo, before_renewal: &LeaseInfo) -> [(&'static str, LeaseInfo); 6] {
    [
        (
            "id",
            LeaseInfo {
                id: LeaseId::random(),
                ..stale.clone()
            },
        ),
        (
            "holder",
            LeaseInfo {
                holder: "graphform apply (other)".to_owned(),
                ..stale.clone()
            },
        ),
        (
            "pid",
            LeaseInfo {
                pid: stale.pid + 1,
                ..stale.clone()
            },
        ),
        (
            "host",
            LeaseInfo {
                host: "ci-runner-2".to_owned(),
                ..stale.clone()
            },
        ),
        (
            "acquired_at",
            LeaseInfo {
                acquired_at: at(stale.acquired_at.unix() + 1),
                ..stale.clone()
            },
        ),
        ("expires_at (before the renewal)", before_renewal.clone()),
    ]
}

/// For [`lease_take_over`]: a lease acquired and renewed twice (renewing
/// keeps it ours; the [`Lease`] before a renewal no longer renews). The
/// lease as first acquired, and as renewed.
async fn acquire_and_renew<S: Store>(store: &S) -> (LeaseInfo, Lease) {
    let first = lease_request("graphform apply (killed)", NOW, 3_600);
    let lease_first = store.acquire_lease(&first).await.expect("acquire");
    let renewed = store
        .renew_lease(&lease_first, at(NOW + 7_200))
        .await
        .expect("renew keeps it ours");
    assert_eq!(
        renewed.info,
        LeaseInfo {
            expires_at: at(NOW + 7_200),
            ..first.clone()
        }
    );
    assert_lease(store, Some(&renewed.info), "renewed").await;
    assert_lease_lost(
        store,
        &lease_first,
        "the lease before a renewal no longer renews",
    )
    .await;
    let renewed = store
        .renew_lease(&renewed, at(NOW + 7_300))
        .await
        .expect("the renewed lease renews again");
    (first, renewed)
}

/// [`Store::take_over_lease`]: a lease whose holder is gone is taken over
/// though it has not expired, only if it is exactly the one named (any
/// field differing, e.g. after a renewal, is [`StoreError::Locked`] and
/// changes nothing); the former holder then gets
/// [`StoreError::LeaseLost`] and its release leaves the new holder's
/// lease alone; a free lease is taken as `acquire_lease` would. Renewing
/// keeps a lease ours, and a renewed lease's earlier [`Lease`] no longer
/// renews it.
pub async fn lease_take_over<S: Store>(store: &S) {
    let (first, renewed) = acquire_and_renew(store).await;
    let stale = renewed.info.clone();

    // Not exactly the stored lease: refused, whichever field differs.
    let next = lease_request("graphform apply (next)", NOW + 60, 3_600);
    for (field, other) in &other_leases(&stale, &first) {
        assert_locked_by(
            &store.take_over_lease(other, &next).await,
            &stale,
            &format!("a take-over naming another {field}"),
        );
    }
    assert_lease(store, Some(&stale), "a refused take-over changes nothing").await;

    // The exact lease: taken over, though it has not expired.
    let lease_next = store
        .take_over_lease(&stale, &next)
        .await
        .expect("take over the exact stale lease");
    assert_eq!(lease_next.info, next);
    assert_ne!(lease_next.version, renewed.version);
    assert_lease(store, Some(&next), "taken over").await;
    assert_lease_lost(
        store,
        &renewed,
        "renewing after a take-over: the former holder lost it",
    )
    .await;
    store
        .release_lease(&renewed)
        .await
        .expect("releasing a lease taken over is no error");
    assert_lease(
        store,
        Some(&next),
        "and leaves the new holder's lease alone",
    )
    .await;

    // The same take-over again, and an acquire: the new holder has it.
    let third = lease_request("graphform apply (third)", NOW + 120, 600);
    assert_locked_by(
        &store.take_over_lease(&stale, &third).await,
        &next,
        "a second take-over of the same stale lease",
    );
    assert_locked_by(
        &store.acquire_lease(&third).await,
        &next,
        "an acquire after a take-over",
    );
    let lease_next = store
        .renew_lease(&lease_next, at(NOW + 3_700))
        .await
        .expect("the new holder renews");

    // A free lease (released, or broken) is taken as acquire would.
    store.release_lease(&lease_next).await.expect("release");
    let lease_third = store
        .take_over_lease(&lease_next.info, &third)
        .await
        .expect("a free lease is taken");
    assert_eq!(lease_third.info, third);
    assert_lease(store, Some(&third), "a released lease taken").await;
    assert_eq!(
        store.break_lease(&third.id).await.expect("break"),
        LeaseBreak::Broken(third.clone())
    );
    let fourth = lease_request("graphform apply (fourth)", NOW + 180, 600);
    let lease_fourth = store
        .take_over_lease(&third, &fourth)
        .await
        .expect("a broken lease is free");
    assert_lease_lost(store, &lease_third, "a broken lease").await;
    store.release_lease(&lease_fourth).await.expect("release");
    assert_lease(store, None, "released").await;
}

/// Lease IDs and [`Store::break_lease`]'s compare-and-set: the ID is
/// stored and read back as acquired, kept by renewals (a break by ID then
/// still removes the renewed lease), new after a take-over; a break naming
/// the ID of a lease taken over since leaves the new holder's lease alone
/// and names it ([`LeaseBreak::OtherHolder`]).
pub async fn lease_break_compare_and_set<S: Store>(store: &S) {
    let a = lease_request("graphform apply (job 1)", NOW, 3_600);
    let lease_a = store.acquire_lease(&a).await.expect("acquire");
    assert_eq!(lease_a.info.id, a.id, "the lease carries the ID asked for");
    let held = store.read_lease().await.expect("read").expect("held");
    assert_eq!(held.id, a.id, "the ID round-trips through the store");

    // Renewed after its ID was read: the ID still names it.
    let renewed = store
        .renew_lease(&lease_a, at(NOW + 7_200))
        .await
        .expect("renew");
    assert_eq!(renewed.info.id, a.id, "a renewal keeps the ID");
    assert_lease(store, Some(&renewed.info), "renewed").await;
    assert_eq!(
        store.break_lease(&held.id).await.expect("break"),
        LeaseBreak::Broken(renewed.info.clone()),
        "the renewed lease is broken by its ID"
    );
    assert_lease(store, None, "broken").await;
    assert_lease_lost(store, &renewed, "a broken lease").await;

    // Taken over after its ID was read: a break by the old ID is refused.
    let b = lease_request("graphform apply (job 2)", NOW + 60, 3_600);
    let lease_b = store.acquire_lease(&b).await.expect("acquire");
    let seen = store.read_lease().await.expect("read").expect("held");
    let c = lease_request("graphform apply (job 3)", NOW + 120, 3_600);
    let lease_c = store.take_over_lease(&seen, &c).await.expect("take over");
    assert_ne!(lease_c.info.id, seen.id, "a take-over brings a new ID");
    assert_eq!(
        store.break_lease(&seen.id).await.expect("break"),
        LeaseBreak::OtherHolder(c.clone()),
        "a stale ID breaks nothing and names the current holder"
    );
    assert_lease(store, Some(&c), "the new holder keeps it").await;
    let lease_c = store
        .renew_lease(&lease_c, at(NOW + 7_300))
        .await
        .expect("the new holder still renews");
    assert_lease_lost(store, &lease_b, "the holder taken over").await;
    store.release_lease(&lease_c).await.expect("release");
    assert_lease(store, None, "released").await;
}
