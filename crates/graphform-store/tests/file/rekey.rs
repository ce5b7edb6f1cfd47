//! `FileStore::rekey`: every record re-encrypted for the new key, and at
//! every step of the way (a failpoint stops it as `kill -9` would) a store
//! that reads completely under exactly one key.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use graphform_store::{RekeyFailpoint, RekeyOptions, RekeyStep};

use super::*;

/// Everything a store holds, read through the API: every token record and
/// both state documents (what must survive a rekey unchanged).
async fn contents(store: &FileStore) -> Result<Vec<String>, StoreError> {
    let mut seen = Vec::new();
    for address in store.list_tokens().await? {
        let record = store.read_token(&address).await?.expect("listed");
        seen.push(format!(
            "{address} {} {} {:?}",
            record.version,
            record.value.current.value.expose(),
            record
                .value
                .previous
                .as_ref()
                .map(|previous| previous.token.value.expose().to_owned())
        ));
    }
    let state = store.read_state().await?.expect("state");
    seen.push(String::from_utf8(state.value).unwrap());
    let user = store
        .read_system_user_state(ADDRESS.system_user())
        .await?
        .expect("user state");
    seen.push(String::from_utf8(user.value).unwrap());
    Ok(seen)
}

/// [`filled`], with the lease held by the rekey: the filled store's own
/// lease is broken first.
async fn filled_and_locked() -> (Fixture, Vec<String>, Lease) {
    let (fixture, values) = filled().await;
    let held = fixture.store.read_lease().await.unwrap().unwrap();
    fixture.store.break_lease(&held.id).await.unwrap();
    let lease = fixture
        .store
        .acquire_lease(&lease_request("graphform store rekey", NOW, 3_600))
        .await
        .unwrap();
    (fixture, values, lease)
}

#[tokio::test]
async fn rekey_reencrypts_every_record_for_the_new_key_and_the_old_key_reads_nothing() {
    let (fixture, values, lease) = filled_and_locked().await;
    let before = contents(&fixture.store).await.unwrap();
    let (new_key, new_recipient) = generate_identity();
    let rekeyed = fixture
        .store
        .rekey(&lease, &new_key, RekeyOptions::default())
        .await
        .unwrap();
    assert_eq!(rekeyed.recipient, new_recipient);
    assert_eq!(rekeyed.tokens, 2);
    assert_eq!(
        (rekeyed.removed_leftover, rekeyed.old_store_left),
        (None, None)
    );

    let reopened = FileStore::with_identity(fixture.dir(), &new_key).unwrap();
    assert_eq!(reopened.recipient(), new_recipient);
    assert_eq!(contents(&reopened).await.unwrap(), before, "versions kept");
    // The old key opens nothing, and decrypts no token file.
    assert!(matches!(fixture.reopen(), Err(StoreError::Config { .. })));
    let old = age::x25519::Identity::from_str(fixture.key.expose()).unwrap();
    for file in files_under(&fixture.dir().join("tokens")) {
        let ciphertext = fs::read(&file).unwrap();
        assert!(
            age::decrypt(&old, &ciphertext).is_err(),
            "{}",
            file.display()
        );
        for value in &values {
            assert!(!contains(&ciphertext, value));
        }
    }
    // Private as before, and no staging directory left.
    assert_eq!(mode(&fixture.dir()), 0o700);
    for file in files_under(&fixture.dir()) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert!(!fixture.root.path().join(".store.rekey").exists());
    // The lease is still the rekey's: released through the old handle.
    assert_eq!(
        reopened.read_lease().await.unwrap(),
        Some(lease.info.clone())
    );
    fixture.store.release_lease(&lease).await.unwrap();
    assert_eq!(reopened.read_lease().await.unwrap(), None);
    // And the store works on: a write, read back.
    let other = token("acme/x/token/after-rekey");
    create(&reopened, &other, &sample_record(&other, "EAAafterREKEY")).await;
    assert!(reopened.read_token(&other).await.unwrap().is_some());
}

/// A handle opened with the old key before the rekey cannot write a new
/// token afterwards: the store stays readable under one key.
#[tokio::test]
async fn a_handle_opened_before_a_rekey_writes_nothing_under_the_old_key() {
    let (fixture, _, lease) = filled_and_locked().await;
    let stale = fixture.reopen().unwrap();
    let (new_key, _) = generate_identity();
    fixture
        .store
        .rekey(&lease, &new_key, RekeyOptions::default())
        .await
        .unwrap();
    let other = token("acme/x/token/stale-writer");
    let error = stale
        .write_token(&other, &sample_record(&other, "EAAstaleWRITER"), None)
        .await
        .expect_err("refused");
    assert!(matches!(error, StoreError::Config { .. }), "{error:?}");
    let reopened = FileStore::with_identity(fixture.dir(), &new_key).unwrap();
    assert!(reopened.read_token(&other).await.unwrap().is_none());
    contents(&reopened)
        .await
        .expect("everything reads with the new key");
}

/// A link where the staging directory of an interrupted rekey would be is
/// removed as a link: what it points to is left alone.
#[tokio::test]
async fn a_link_in_place_of_a_leftover_staging_directory_is_removed_not_followed() {
    let (fixture, _, lease) = filled_and_locked().await;
    let elsewhere = fixture.root.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join("keep-me"), "not the store's").unwrap();
    std::os::unix::fs::symlink(&elsewhere, fixture.root.path().join(".store.rekey")).unwrap();
    let (new_key, _) = generate_identity();
    let rekeyed = fixture
        .store
        .rekey(&lease, &new_key, RekeyOptions::default())
        .await
        .unwrap();
    assert!(rekeyed.removed_leftover.is_some());
    assert_eq!(
        fs::read_to_string(elsewhere.join("keep-me")).unwrap(),
        "not the store's"
    );
    assert!(!fixture.root.path().join(".store.rekey").exists());
}

#[tokio::test]
async fn rekey_refuses_a_lease_it_does_not_hold_and_the_same_key() {
    let (fixture, _, lease) = filled_and_locked().await;
    let before = contents(&fixture.store).await.unwrap();
    let (new_key, _) = generate_identity();
    let stale = Lease {
        version: Version("999".to_owned()),
        ..lease.clone()
    };
    assert!(matches!(
        fixture
            .store
            .rekey(&stale, &new_key, RekeyOptions::default())
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        fixture
            .store
            .rekey(&lease, &fixture.key, RekeyOptions::default())
            .await,
        Err(StoreError::Config { .. })
    ));
    assert_eq!(contents(&fixture.reopen().unwrap()).await.unwrap(), before);
    assert!(!fixture.root.path().join(".store.rekey").exists());
}

/// Options with `failpoint`.
fn stopping(failpoint: RekeyFailpoint) -> RekeyOptions {
    RekeyOptions {
        failpoint: Some(failpoint),
    }
}

/// The failpoint that stops at the `n`th step (counting from 0), and the
/// steps seen.
fn stop_at(n: usize) -> (RekeyFailpoint, Arc<std::sync::Mutex<Vec<RekeyStep>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let record = Arc::clone(&seen);
    let hook: RekeyFailpoint = Arc::new(move |step: &RekeyStep| {
        record.lock().unwrap().push(step.clone());
        count.fetch_add(1, Ordering::SeqCst) == n
    });
    (hook, seen)
}

#[tokio::test]
async fn a_rekey_stopped_at_any_step_leaves_a_store_readable_under_exactly_one_key() {
    let mut switched_at = None;
    for n in 0.. {
        let (fixture, _, lease) = filled_and_locked().await;
        let before = contents(&fixture.store).await.unwrap();
        let (new_key, _) = generate_identity();
        let (failpoint, seen) = stop_at(n);
        let result = fixture
            .store
            .rekey(&lease, &new_key, stopping(failpoint))
            .await;
        let last = seen.lock().unwrap().last().cloned();
        if result.is_ok() {
            assert!(n > 10, "only {n} steps");
            assert!(switched_at.is_some(), "the exchange was a step");
            break;
        }
        let step = last.expect("stopped at a step");
        if step == RekeyStep::Exchanged {
            switched_at = Some(n);
        }
        // Exactly one key reads the store, and reads all of it.
        let old = fixture.reopen().ok();
        let new = FileStore::with_identity(fixture.dir(), &new_key).ok();
        let store = match (old, new) {
            (Some(store), None) => {
                assert!(
                    switched_at.is_none(),
                    "{step:?}: the old key after the switch"
                );
                store
            }
            (None, Some(store)) => {
                assert!(
                    switched_at.is_some(),
                    "{step:?}: the new key before the switch"
                );
                store
            }
            (old, new) => panic!(
                "{step:?}: old key opens: {}, new key opens: {}",
                old.is_some(),
                new.is_some()
            ),
        };
        assert_eq!(contents(&store).await.unwrap(), before, "{step:?}");
        // The next rekey, with the key that reads the store, removes the
        // leftover and finishes.
        let staging = fixture.root.path().join(".store.rekey");
        let leftover = staging.exists();
        let (third_key, _) = generate_identity();
        let rekeyed = store
            .rekey(&lease, &third_key, RekeyOptions::default())
            .await
            .unwrap_or_else(|error| panic!("{step:?}: the next rekey: {error}"));
        assert_eq!(
            rekeyed.removed_leftover,
            leftover.then_some(staging.clone()),
            "{step:?}"
        );
        assert!(!staging.exists(), "{step:?}");
        let third = FileStore::with_identity(fixture.dir(), &third_key).unwrap();
        assert_eq!(contents(&third).await.unwrap(), before, "{step:?}");
    }
}

/// A writer that waits for the store lock while the rekey swaps the
/// directories gets the lock of the store in place afterwards (not of the
/// old one, swapped out), and its write lands in the new store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waiting_during_the_swap_writes_into_the_new_store() {
    let (fixture, _, lease) = filled_and_locked().await;
    let state = fixture.store.read_state().await.unwrap().unwrap();
    let (new_key, _) = generate_identity();
    let writer = fixture.reopen().unwrap();
    let started = Arc::new(std::sync::Mutex::new(None));
    let handle = Arc::clone(&started);
    let failpoint: RekeyFailpoint = Arc::new(move |step: &RekeyStep| {
        if *step == RekeyStep::StagingReady {
            // The rekey holds the lock: this write waits for it.
            let writer = writer.clone();
            let expected = state.version.clone();
            let thread = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
                    .block_on(
                        writer.write_state(b"{\"written\":\"during the swap\"}", Some(&expected)),
                    )
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            *handle.lock().unwrap() = Some(thread);
        }
        false
    });
    fixture
        .store
        .rekey(&lease, &new_key, stopping(failpoint))
        .await
        .unwrap();
    let thread = started.lock().unwrap().take().expect("the writer started");
    thread
        .join()
        .unwrap()
        .expect("the write went through after the swap");
    let reopened = FileStore::with_identity(fixture.dir(), &new_key).unwrap();
    let state = reopened.read_state().await.unwrap().unwrap();
    assert_eq!(state.value, b"{\"written\":\"during the swap\"}");
    assert!(fixture.dir().join(".lock").exists());
}
