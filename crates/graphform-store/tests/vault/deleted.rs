//! Entries deleted outside graphform (`bao kv delete`, `kv destroy`, an
//! expired `delete_version_after`) are refused on every read, listing and
//! write, never taken for absent nor written over, and the errors say how
//! to restore or remove them.

use super::*;
use graphform_store::{LeaseBreak, LeaseId};

/// What a refused read or write of an entry deleted outside graphform must
/// say: the KV path, the version, that it was deleted (or destroyed), how
/// to restore it or remove it on purpose; never a value.
fn assert_deleted_outside(error: &StoreError, path: &str, version: u64, how: &str) {
    let text = shown(error);
    assert!(
        matches!(error, StoreError::Corrupt { .. }),
        "expected StoreError::Corrupt, got {text}"
    );
    assert!(text.contains(path), "names {path}: {text}");
    assert!(
        text.contains(&format!("latest version {version} was {how}")),
        "says version {version} was {how}: {text}"
    );
    if how == "deleted" {
        assert!(
            text.contains(&format!("kv undelete -versions={version}")),
            "says how to restore it: {text}"
        );
    }
    let remove = if path.ends_with("/lease") {
        "graphform unlock"
    } else {
        "kv metadata delete"
    };
    assert!(
        text.contains(remove),
        "says how to remove it on purpose ({remove}): {text}"
    );
}

/// The latest KV version of an entry deleted by someone else (`bao kv
/// delete`, the HTTP `DELETE`) or destroyed does not read as absent:
/// graphform would issue a replacement over it and a token value or the
/// journal would be lost. Reads, listing and writes (create or update)
/// refuse with an error naming the path, nothing is written over it, and
/// `bao kv undelete` brings it back as it was. A soft-deleted lease is
/// refused too, and `graphform unlock` (break) clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_deleted_outside_graphform_are_refused_never_overwritten() {
    let bao = OpenBao::start().await;
    let store = bao.store("graphform");
    let record = sample_rotated_record(&ADDRESS, "EAAsoftDELETED1", "EAAsoftPREVIOUS1", NOW + 60);
    let version = store.write_token(&ADDRESS, &record, None).await.unwrap();
    let state = br#"{"journal":[{"intent":"i-1"}]}"#;
    let state_version = store.write_state(state, None).await.unwrap();
    let other = &token("acme/ci/token/other");
    create(&store, other, &sample_record(other, "EAAotherLIVE1")).await;
    let secrets = ["EAAsoftDELETED1", "EAAsoftPREVIOUS1", "EAAreplacement1"];

    let token_path = format!("secret/data/graphform/tokens/{}", *ADDRESS);
    let state_path = "secret/data/graphform/state";
    for path in [token_path.as_str(), state_path] {
        bao.admin_ok(Method::DELETE, path, None).await;
    }

    let error = store.read_token(&ADDRESS).await.map(|_| ()).unwrap_err();
    assert_deleted_outside(&error, &token_path, 1, "deleted");
    assert_shows_none(&shown(&error), &secrets);
    let error = store.list_tokens().await.unwrap_err();
    assert_deleted_outside(&error, &token_path, 1, "deleted");
    let replacement = sample_record(&ADDRESS, "EAAreplacement1");
    for expected in [None, Some(&version)] {
        let error = store
            .write_token(&ADDRESS, &replacement, expected)
            .await
            .unwrap_err();
        assert_deleted_outside(&error, &token_path, 1, "deleted");
        assert_shows_none(&shown(&error), &secrets);
    }
    let error = store.delete_token(&ADDRESS, &version).await.unwrap_err();
    assert_deleted_outside(&error, &token_path, 1, "deleted");

    let error = store.read_state().await.map(|_| ()).unwrap_err();
    assert_deleted_outside(&error, state_path, 1, "deleted");
    for expected in [None, Some(&state_version)] {
        let error = store.write_state(b"{}", expected).await.unwrap_err();
        assert_deleted_outside(&error, state_path, 1, "deleted");
    }

    // Nothing was written over them.
    for path in [
        format!("secret/metadata/graphform/tokens/{}", *ADDRESS),
        "secret/metadata/graphform/state".to_owned(),
    ] {
        let metadata = bao.admin_get(&path).await;
        assert_eq!(metadata["data"]["current_version"], json!(1), "{path}");
    }

    // The hint works: undeleted, both read back as they were.
    for path in [
        format!("graphform/tokens/{}", *ADDRESS),
        "graphform/state".to_owned(),
    ] {
        consumer_output(
            bao.cli()
                .args(["kv", "undelete", "-versions=1", "-mount=secret", &path]),
        );
    }
    assert_eq!(
        store.read_token(&ADDRESS).await.unwrap(),
        Some(Versioned {
            value: record,
            version
        })
    );
    let read = store.read_state().await.unwrap().unwrap();
    assert_eq!(
        (read.value.as_slice(), read.version),
        (&state[..], state_version)
    );
    assert_eq!(
        store.list_tokens().await.unwrap(),
        [other.clone(), ADDRESS.clone()]
    );
}

/// A destroyed latest version (`bao kv destroy`): refused the same way,
/// its data being gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroyed_latest_version_is_refused() {
    let bao = OpenBao::start().await;
    let store = bao.store("graphform");
    let other = &token("acme/ci/token/other");
    create(&store, other, &sample_record(other, "EAAotherLIVE1")).await;
    let destroyed_path = format!("secret/data/graphform/tokens/{other}");
    bao.admin_ok(
        Method::POST,
        &format!("secret/destroy/graphform/tokens/{other}"),
        Some(json!({"versions": [1]})),
    )
    .await;
    let error = store.read_token(other).await.map(|_| ()).unwrap_err();
    assert_deleted_outside(&error, &destroyed_path, 1, "destroyed");
    let error = store
        .write_token(other, &sample_record(other, "EAAotherNEW1"), None)
        .await
        .unwrap_err();
    assert_deleted_outside(&error, &destroyed_path, 1, "destroyed");
}

/// A soft-deleted lease: refused; `graphform unlock` (break) clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_deleted_lease_is_refused_and_unlock_clears_it() {
    let bao = OpenBao::start().await;
    let store = bao.store("graphform");
    let lease = store
        .acquire_lease(&lease_request("graphform apply", NOW, 300))
        .await
        .unwrap();
    store.release_lease(&lease).await.unwrap();
    bao.admin_ok(Method::DELETE, "secret/data/graphform/lease", None)
        .await;
    let error = store
        .acquire_lease(&lease_request("graphform apply", NOW + 10, 300))
        .await
        .unwrap_err();
    assert_deleted_outside(&error, "secret/data/graphform/lease", 2, "deleted");
    assert!(store.read_lease().await.is_err());
    assert_eq!(
        store.break_lease(&LeaseId::random()).await.unwrap(),
        LeaseBreak::Damaged
    );
    store
        .acquire_lease(&lease_request("graphform apply", NOW + 20, 300))
        .await
        .unwrap();
}

/// A key with `delete_version_after`: while its latest version lives (its
/// deletion time is in the future) it reads normally and a create-only
/// write is a conflict, not an overwrite; once that time has passed it is
/// refused like a soft-deleted entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_version_after_is_not_absence() {
    let bao = OpenBao::start().await;
    let store = bao.store("graphform");
    bao.admin_ok(
        Method::POST,
        "secret/metadata/graphform/state",
        Some(json!({"delete_version_after": "3s"})),
    )
    .await;
    let version = store.write_state(br#"{"journal":[]}"#, None).await.unwrap();
    let read = store.read_state().await.unwrap();
    assert_eq!(
        read.map(|read| read.version),
        Some(version.clone()),
        "a live version with a deletion time ahead is there"
    );
    let result = store.write_state(b"{}", None).await;
    assert!(
        matches!(&result, Err(StoreError::Conflict { found: Some(found), .. }) if *found == version),
        "create-only over a live entry: {result:?}"
    );

    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    let error = store.read_state().await.map(|_| ()).unwrap_err();
    assert_deleted_outside(&error, "secret/data/graphform/state", 1, "deleted");
    let error = store.write_state(b"{}", None).await.unwrap_err();
    assert_deleted_outside(&error, "secret/data/graphform/state", 1, "deleted");
}
