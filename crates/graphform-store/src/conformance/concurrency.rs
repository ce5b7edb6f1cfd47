//! Checks of compare-and-set and races: stale and made-up versions,
//! versions never reused, and concurrent writers (of tokens, of state
//! documents) and lease holders of which exactly one wins.

use super::{
    NOW, RACERS, StateDoc, assert_conflict, assert_lease, assert_lease_lost, at, create, join_all,
    lease_request, read_existing, sample_record, system_user, token,
};
use crate::{Lease, LeaseInfo, Store, StoreError, TokenAddress, TokenRecord, Version, Versioned};

/// Compare-and-set: stale versions, create-only on an existing record,
/// updates and deletes of a missing one, and a record deleted and created
/// again never accepting a version of its earlier life.
pub async fn token_conflicts<S: Store>(store: &S) {
    let address = &token("acme/ci/token/read");
    let record = sample_record(address, "EAAconflict1");
    let v1 = create(store, address, &record).await;

    let result = store.write_token(address, &record, None).await;
    assert_conflict(result, None, Some(&v1), "create-only on an existing record");

    let updated = sample_record(address, "EAAconflict2");
    let v2 = store
        .write_token(address, &updated, Some(&v1))
        .await
        .expect("update");

    let stale = sample_record(address, "EAAconflict3");
    let result = store.write_token(address, &stale, Some(&v1)).await;
    assert_conflict(result, Some(&v1), Some(&v2), "write with a stale version");
    let result = store.delete_token(address, &v1).await;
    assert_conflict(result, Some(&v1), Some(&v2), "delete with a stale version");
    let read = read_existing(store, address).await;
    assert_eq!(
        read,
        Versioned {
            value: updated,
            version: v2.clone()
        },
        "a refused write changes nothing"
    );

    let missing = &token("acme/ci/token/missing");
    let result = store
        .write_token(missing, &sample_record(missing, "EAAx"), Some(&v2))
        .await;
    assert_conflict(result, Some(&v2), None, "update of a missing record");
    let result = store.delete_token(missing, &v2).await;
    assert_conflict(result, Some(&v2), None, "delete of a missing record");
    assert!(
        store.read_token(missing).await.expect("read").is_none(),
        "a refused write creates nothing"
    );

    store.delete_token(address, &v2).await.expect("delete");
    assert!(
        store.read_token(address).await.expect("read").is_none(),
        "deleted"
    );
    let result = store.delete_token(address, &v2).await;
    assert_conflict(result, Some(&v2), None, "delete twice");
    let result = store.write_token(address, &record, Some(&v2)).await;
    assert_conflict(result, Some(&v2), None, "update after delete");

    let v3 = create(store, address, &record).await;
    assert!(
        v3 != v1 && v3 != v2,
        "a re-created record has a version never seen before"
    );
    for old in [&v1, &v2] {
        let result = store.write_token(address, &record, Some(old)).await;
        assert_conflict(
            result,
            Some(old),
            Some(&v3),
            "a version from the record's earlier life",
        );
    }
    let result = store
        .write_token(
            address,
            &record,
            Some(&Version("no-such-version".to_owned())),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "a made-up version: {result:?}"
    );
}

/// [`RACERS`] writers race with the same expected version: exactly one
/// wins each round (create, update, delete), the others get a conflict, and
/// the record is the winner's.
pub async fn racing_writers_one_wins<S: Store>(store: &S) {
    let address = &token("race/writers/token/one");
    let created = race_writes(store, address, None, "create").await;
    let updated = race_writes(store, address, Some(&created.version), "update").await;

    let base = updated.version;
    let deletes = (0..RACERS).map(|_| {
        let base = base.clone();
        async move { store.delete_token(address, &base).await }
    });
    let results = join_all(deletes.collect()).await;
    exactly_one_winner(&results, "racing deletes");
    assert!(store.read_token(address).await.expect("read").is_none());
}

/// [`RACERS`] writers race to create a state document, then to update it
/// against the version read: exactly one wins each round, the others get a
/// conflict, and the document is the winner's. For the root document and
/// a system user's.
pub async fn racing_state_writers_one_wins<S: Store>(store: &S) {
    let user = system_user("race/state-writers");
    for doc in [StateDoc::Root, StateDoc::SystemUser(&user)] {
        let created = race_state_writes(store, doc, None, "create").await;
        race_state_writes(store, doc, Some(&created), "update").await;
    }
}

/// [`RACERS`] writers each write `doc` with a document naming them against
/// `base` (`None`: a create): exactly one wins, and the document read back
/// is the winner's, at the version it got; that version.
async fn race_state_writes<S: Store>(
    store: &S,
    doc: StateDoc<'_>,
    base: Option<&Version>,
    kind: &str,
) -> Version {
    let documents: Vec<Vec<u8>> = (0..RACERS)
        .map(|racer| format!("{{\"{kind}\":{racer}}}").into_bytes())
        .collect();
    let writes = documents
        .iter()
        .map(|document| doc.write(store, document, base));
    let results = join_all(writes.collect()).await;
    let context = format!("{doc:?}: racing {kind}s");
    let winner = exactly_one_winner(&results, &context);
    let read = doc.read_existing(store).await;
    assert!(
        read.value == documents[winner],
        "{context}: the document is the winner's"
    );
    assert_eq!(
        Some(&read.version),
        results[winner].as_ref().ok(),
        "{context}: at the version the winner got"
    );
    read.version
}

/// [`RACERS`] writers each write a record of `address` whose value names
/// them against `base` (`None`: a create): exactly one wins, and the record
/// read back is the winner's, at the version it got.
async fn race_writes<S: Store>(
    store: &S,
    address: &TokenAddress,
    base: Option<&Version>,
    kind: &str,
) -> Versioned<TokenRecord> {
    let writes = (0..RACERS).map(|racer| {
        let record = sample_record(address, &format!("EAArace-{kind}-{racer}"));
        async move { store.write_token(address, &record, base).await }
    });
    let results = join_all(writes.collect()).await;
    let context = format!("racing {kind}s");
    let winner = exactly_one_winner(&results, &context);
    let read = read_existing(store, address).await;
    assert_eq!(
        read.value.current.value.expose(),
        format!("EAArace-{kind}-{winner}"),
        "{context}: the record is the winner's"
    );
    assert_eq!(
        Some(&read.version),
        results[winner].as_ref().ok(),
        "{context}: at the version the winner got"
    );
    read
}

/// The index of the one `Ok` of `results` (there must be exactly one);
/// every other must be a conflict.
fn exactly_one_winner<T: std::fmt::Debug>(
    results: &[Result<T, StoreError>],
    context: &str,
) -> usize {
    let winner = sole_success(results, context);
    for result in results {
        assert!(
            matches!(result, Ok(_) | Err(StoreError::Conflict { .. })),
            "{context}: losers get a conflict: {result:?}"
        );
    }
    winner
}

/// The index of the one `Ok` of `results`; there must be exactly one.
fn sole_success<T: std::fmt::Debug, E: std::fmt::Debug>(
    results: &[Result<T, E>],
    context: &str,
) -> usize {
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter_map(|(index, result)| result.is_ok().then_some(index))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{context}: exactly one must win: {results:?}"
    );
    winners[0]
}

/// Four workers each add 1 to a counter (the record's `issued_at`) eight
/// times with read, modify, compare-and-set, retry ([`increment`]): the
/// counter ends at 32, so no update was lost.
pub async fn no_lost_updates<S: Store>(store: &S) {
    const WORKERS: i64 = 4;
    const INCREMENTS: i64 = 8;
    let address = &token("race/counter/token/one");
    let mut record = sample_record(address, "EAAcounter");
    record.current.metadata.issued_at = at(0);
    create(store, address, &record).await;

    let workers = (0..WORKERS).map(|_| async move {
        for _ in 0..INCREMENTS {
            increment(store, address).await;
        }
    });
    join_all(workers.collect()).await;
    let read = read_existing(store, address).await;
    assert_eq!(
        read.value.current.metadata.issued_at.unix(),
        WORKERS * INCREMENTS,
        "no lost update"
    );
}

/// Adds 1 to the counter held in the `issued_at` of `address`'s record
/// with read, modify, compare-and-set and retry on conflict; how many
/// conflicts it met.
///
/// # Panics
///
/// On any other error, or when it makes no progress.
pub async fn increment<S: Store>(store: &S, address: &TokenAddress) -> u32 {
    let mut conflicts = 0_u32;
    loop {
        let read = read_existing(store, address).await;
        let mut record = read.value;
        record.current.metadata.issued_at = at(record.current.metadata.issued_at.unix() + 1);
        match store
            .write_token(address, &record, Some(&read.version))
            .await
        {
            Ok(_) => return conflicts,
            Err(StoreError::Conflict { .. }) => {
                conflicts += 1;
                assert!(conflicts < 10_000, "no progress");
            }
            Err(other) => panic!("an increment failed: {other:?}"),
        }
    }
}

/// [`RACERS`] holders race for a free lease: exactly one gets it, every
/// other is refused with [`StoreError::Locked`] naming the winner.
pub async fn racing_lease_one_wins<S: Store>(store: &S) {
    let attempts = (0..RACERS).map(|racer| async move {
        let request = lease_request(&format!("racer {racer}"), NOW, 300);
        store.acquire_lease(&request).await
    });
    let results = join_all(attempts.collect()).await;
    let winner = exactly_one_holder(&results, "racing acquires");
    assert_lease(store, Some(winner), "the winner holds it").await;
}

/// [`RACERS`] runs race to take over the same stale lease: exactly one
/// wins, every other is refused with [`StoreError::Locked`] naming the
/// winner, and the former holder's lease no longer renews.
pub async fn racing_take_over_one_wins<S: Store>(store: &S) {
    let stale = lease_request("graphform apply (killed)", NOW, 3_600);
    let lease_stale = store.acquire_lease(&stale).await.expect("acquire");
    let attempts = (0..RACERS).map(|racer| {
        let stale = &stale;
        async move {
            let request = lease_request(&format!("racer {racer}"), NOW + 60, 300);
            store.take_over_lease(stale, &request).await
        }
    });
    let results = join_all(attempts.collect()).await;
    let winner = exactly_one_holder(&results, "racing take-overs");
    assert_lease(store, Some(winner), "the winner holds it").await;
    assert_lease_lost(store, &lease_stale, "the former holder").await;
}

/// The lease of the one racer of `results` that got it; every other must
/// be refused with [`StoreError::Locked`] naming it.
fn exactly_one_holder<'r>(
    results: &'r [Result<Lease, StoreError>],
    context: &str,
) -> &'r LeaseInfo {
    let winner = match &results[sole_success(results, context)] {
        Ok(lease) => &lease.info,
        Err(error) => unreachable!("{context}: the winner failed: {error:?}"),
    };
    for result in results {
        match result {
            Ok(_) => {}
            Err(StoreError::Locked(holder)) => {
                assert_eq!(holder, winner, "{context}: Locked names the winner");
            }
            Err(other) => panic!("{context}: a losing racer gets Locked, not {other:?}"),
        }
    }
    winner
}
