//! What is particular to the file backend: no value in plaintext on disk,
//! permissions, keys (missing, malformed, wrong), corrupt and leftover
//! files, the lock across threads and processes, and no secret in `Debug`
//! output. (Logs are checked in `logs.rs`, a binary of their own.)

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;

use graphform_store::conformance::{
    self, NOW, at, create, lease_request, sample_record, sample_rotated_record, token,
};
use graphform_store::{
    FileStore, Lease, LeaseBreak, LeaseId, Secret, Store, StoreError, TokenAddress, Version,
    Versioned, generate_identity,
};

static ADDRESS: LazyLock<TokenAddress> =
    LazyLock::new(|| token("acme/ci-reporting/token/insights-read"));

/// A store in a fresh temporary directory, with its key.
struct Fixture {
    root: tempfile::TempDir,
    key: Secret,
    store: FileStore,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let (key, _) = generate_identity();
        let store = FileStore::with_identity(root.path().join("store"), &key).unwrap();
        Self { root, key, store }
    }

    fn dir(&self) -> PathBuf {
        self.root.path().join("store")
    }

    fn reopen(&self) -> Result<FileStore, StoreError> {
        FileStore::with_identity(self.dir(), &self.key)
    }

    fn token_file(&self, address: &TokenAddress) -> PathBuf {
        self.dir().join("tokens").join(format!("{address}.age"))
    }

    /// Encrypts `plaintext` to the store's recipient, as a token file would be.
    fn encrypt(&self, plaintext: &str) -> Vec<u8> {
        let recipient = age::x25519::Recipient::from_str(self.store.recipient()).unwrap();
        age::encrypt(&recipient, plaintext.as_bytes()).unwrap()
    }
}

/// Every file under `dir`, hidden ones included.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

fn dirs_under(dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_path_buf()];
    let mut index = 0;
    while index < dirs.len() {
        for entry in fs::read_dir(&dirs[index]).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            }
        }
        index += 1;
    }
    dirs
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// A store filled with two tokens (one mid-rotation), the state document,
/// a system user's state document and the lease, and the values written.
async fn filled() -> (Fixture, Vec<String>) {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let values = vec![
        "EAAGcurrentTOKENvalue0123456789".to_owned(),
        "EAAGpreviousTOKENvalue9876543210".to_owned(),
        "EAAGotherTOKENvalue5555555555".to_owned(),
    ];
    let rotated = sample_rotated_record(&ADDRESS, &values[0], &values[1], NOW + 3_600);
    store.write_token(&ADDRESS, &rotated, None).await.unwrap();
    let other = &token("acme/publisher/token/ads-write");
    create(store, other, &sample_record(other, &values[2])).await;
    store
        .write_state(br#"{"businesses":{"acme":{"id":"100000000000001"}}}"#, None)
        .await
        .unwrap();
    store
        .write_system_user_state(ADDRESS.system_user(), br#"{"id":"61550000000001"}"#, None)
        .await
        .unwrap();
    store
        .acquire_lease(&lease_request("graphform apply", NOW, 300))
        .await
        .unwrap();
    (fixture, values)
}

#[tokio::test]
async fn files_on_disk_hold_no_token_value_and_no_key() {
    let (fixture, values) = filled().await;
    let files = files_under(&fixture.dir());
    let names: Vec<String> = files
        .iter()
        .map(|path| {
            path.strip_prefix(fixture.dir())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            ".lock",
            "lease.json",
            "sequence",
            "state/acme/ci-reporting.json",
            "state.json",
            "store.json",
            "tokens/acme/ci-reporting/token/insights-read.age",
            "tokens/acme/publisher/token/ads-write.age",
        ]
    );
    let key_data = &fixture.key.expose()["AGE-SECRET-KEY-1".len()..];
    for file in &files {
        let bytes = fs::read(file).unwrap();
        for value in &values {
            assert!(
                !contains(&bytes, value),
                "{} holds a token value",
                file.display()
            );
        }
        assert!(
            !contains(&bytes.to_ascii_uppercase(), key_data),
            "{} holds the key",
            file.display()
        );
        // Metadata is encrypted too: the token files name no scope.
        if file.extension().is_some_and(|extension| extension == "age") {
            assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
            assert!(!contains(&bytes, "read_insights"));
        }
    }
    let store_json = fs::read_to_string(fixture.dir().join("store.json")).unwrap();
    assert!(
        store_json.contains(fixture.store.recipient()),
        "{store_json}"
    );
}

#[tokio::test]
async fn files_are_0600_and_directories_0700() {
    let (fixture, _) = filled().await;
    for dir in dirs_under(&fixture.dir()) {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    let files = files_under(&fixture.dir());
    assert_eq!(files.len(), 8);
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[test]
fn a_store_others_can_write_is_refused_and_one_they_can_read_is_warned_about() {
    let fixture = Fixture::new();
    fs::create_dir(fixture.dir()).unwrap();

    fs::set_permissions(fixture.dir(), fs::Permissions::from_mode(0o770)).unwrap();
    match fixture.reopen() {
        Err(StoreError::Config {
            message,
            hint: Some(hint),
        }) => {
            assert!(message.contains("writable by other users"), "{message}");
            assert!(message.contains("0770"), "{message}");
            assert!(hint.contains("chmod 700"), "{hint}");
        }
        other => panic!("a group-writable store must be refused: {other:?}"),
    }

    fs::set_permissions(fixture.dir(), fs::Permissions::from_mode(0o755)).unwrap();
    let store = fixture.reopen().unwrap();
    assert_eq!(store.warnings().len(), 1);
    assert!(
        store.warnings()[0].contains("readable by other users"),
        "{:?}",
        store.warnings()
    );

    fs::set_permissions(fixture.dir(), fs::Permissions::from_mode(0o700)).unwrap();
    assert!(fixture.reopen().unwrap().warnings().is_empty());

    // `init` repairs the permissions of an existing directory.
    fs::set_permissions(fixture.dir(), fs::Permissions::from_mode(0o777)).unwrap();
    let store = FileStore::init(fixture.dir(), &fixture.key).unwrap();
    assert!(store.warnings().is_empty());
    assert_eq!(mode(&fixture.dir()), 0o700);
}

#[test]
fn init_creates_a_private_store_for_one_key() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(".graphform").join("store");
    let (key, recipient) = generate_identity();
    assert!(key.expose().starts_with("AGE-SECRET-KEY-1"));
    assert!(recipient.starts_with("age1"));

    let store = FileStore::init(&dir, &key).unwrap();
    assert_eq!(store.recipient(), recipient);
    assert_eq!(store.dir(), dir);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&root.path().join(".graphform")), 0o700);
    assert_eq!(mode(&dir.join("store.json")), 0o600);
    let recorded: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("store.json")).unwrap()).unwrap();
    assert_eq!(
        recorded,
        serde_json::json!({"format": 1, "recipient": recipient})
    );

    // Again with the same key: nothing changes.
    FileStore::init(&dir, &key).unwrap();
    // With another key: refused, as with opening.
    let (other, other_recipient) = generate_identity();
    for result in [
        FileStore::init(&dir, &other),
        FileStore::with_identity(&dir, &other),
    ] {
        match result {
            Err(StoreError::Config {
                message,
                hint: Some(_),
            }) => {
                assert!(message.contains(&recipient), "{message}");
                assert!(message.contains(&other_recipient), "{message}");
                assert!(!message.contains(&other.expose()[16..]), "{message}");
            }
            other => panic!("another key must be refused: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_wrong_key_is_a_clear_error_not_a_panic() {
    let (fixture, _) = filled().await;
    let (wrong, _) = generate_identity();

    // store.json names the recipient: refused when opening.
    let error = FileStore::with_identity(fixture.dir(), &wrong).unwrap_err();
    assert!(
        matches!(
            &error,
            StoreError::Config { message, .. }
                if message.contains("is not the key of the file store")
        ),
        "{error:?}"
    );

    // Without store.json (an older copy, a hand-made one): each token read
    // says it cannot be decrypted.
    fs::remove_file(fixture.dir().join("store.json")).unwrap();
    let store = FileStore::with_identity(fixture.dir(), &wrong).unwrap();
    assert_eq!(store.list_tokens().await.unwrap().len(), 2);
    let record = sample_record(&ADDRESS, "EAAnew");
    for error in [
        store.read_token(&ADDRESS).await.unwrap_err(),
        store
            .write_token(&ADDRESS, &record, None)
            .await
            .unwrap_err(),
    ] {
        match &error {
            StoreError::Config {
                message,
                hint: Some(hint),
            } => {
                assert!(message.contains("cannot be decrypted"), "{message}");
                assert!(message.contains(&ADDRESS.to_string()), "{message}");
                assert!(hint.contains("graphform store init"), "{hint}");
            }
            other => panic!("expected a key error, got {other:?}"),
        }
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(&wrong.expose()[16..]), "{shown}");
        assert!(!shown.contains(&fixture.key.expose()[16..]), "{shown}");
    }
}

#[test]
fn a_missing_key_variable_says_how_to_make_one() {
    let root = tempfile::tempdir().unwrap();
    let error =
        FileStore::open(root.path(), "GRAPHFORM_STORE_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
    match error {
        StoreError::Config {
            message,
            hint: Some(hint),
        } => {
            assert!(
                message.contains("`GRAPHFORM_STORE_TEST_SURELY_UNSET_VARIABLE` is not set"),
                "{message}"
            );
            assert!(hint.contains("graphform store init"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn corrupt_files_are_reported_as_corrupt() {
    let (fixture, _) = filled().await;
    let store = &fixture.store;
    let token_file = fixture.token_file(&ADDRESS);
    let good = fs::read(&token_file).unwrap();
    let record = sample_record(&ADDRESS, "EAAnew");

    let assert_corrupt = |error: StoreError, names: &str, context: &str| match error {
        StoreError::Corrupt { what, reason } => {
            assert!(what.contains(names), "{context}: {what}");
            assert!(!reason.is_empty());
        }
        other => panic!("{context}: expected Corrupt, got {other:?}"),
    };

    let other_file = fixture.token_file(&token("acme/publisher/token/ads-write"));
    let bad_token_files: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"this is not age".to_vec()),
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("not JSON inside", fixture.encrypt("not json")),
        ("no fields", fixture.encrypt("{\"format\":1}")),
        ("a newer format", fixture.encrypt("{\"format\":2}")),
        ("another address's record", fs::read(&other_file).unwrap()),
    ];
    for (context, bytes) in bad_token_files {
        fs::write(&token_file, bytes).unwrap();
        assert_corrupt(
            store.read_token(&ADDRESS).await.unwrap_err(),
            &ADDRESS.to_string(),
            context,
        );
        assert_corrupt(
            store
                .write_token(&ADDRESS, &record, None)
                .await
                .unwrap_err(),
            &ADDRESS.to_string(),
            context,
        );
    }
    fs::write(&token_file, fixture.encrypt("{\"format\":2}")).unwrap();
    let newer = store.read_token(&ADDRESS).await.unwrap_err().to_string();
    assert!(newer.contains("newer graphform"), "{newer}");
    fs::write(&token_file, &good).unwrap();
    store.read_token(&ADDRESS).await.unwrap();

    fs::write(
        fixture.dir().join("state.json"),
        b"{\"format\":1,\"version\":",
    )
    .unwrap();
    assert_corrupt(store.read_state().await.unwrap_err(), "state.json", "state");
    assert_corrupt(
        store.write_state(b"{}", None).await.unwrap_err(),
        "state.json",
        "state",
    );

    // filled() wrote the state document of ADDRESS's system user.
    let user = ADDRESS.system_user();
    fs::write(
        fixture.dir().join("state/acme/ci-reporting.json"),
        b"{\"format\":2}",
    )
    .unwrap();
    let error = store.read_system_user_state(user).await.unwrap_err();
    assert!(error.to_string().contains("newer graphform"), "{error}");
    assert_corrupt(
        error,
        "the state document of acme/ci-reporting",
        "a system user's state",
    );
    assert_corrupt(
        store
            .write_system_user_state(user, b"{}", None)
            .await
            .unwrap_err(),
        "state/acme/ci-reporting.json",
        "a system user's state",
    );

    fs::write(fixture.dir().join("lease.json"), b"[]").unwrap();
    assert_corrupt(store.read_lease().await.unwrap_err(), "lease.json", "lease");
    let request = lease_request("graphform apply", NOW, 60);
    assert_corrupt(
        store.acquire_lease(&request).await.unwrap_err(),
        "lease.json",
        "lease",
    );
    // `graphform unlock` clears a damaged lease file.
    assert_eq!(
        store.break_lease(&LeaseId::random()).await.unwrap(),
        LeaseBreak::Damaged
    );
    store.acquire_lease(&request).await.unwrap();

    fs::write(fixture.dir().join("sequence"), b"seven").unwrap();
    let other = &token("acme/x/token/y");
    assert_corrupt(
        store
            .write_token(other, &sample_record(other, "EAAy"), None)
            .await
            .unwrap_err(),
        "sequence",
        "sequence",
    );

    fs::write(fixture.dir().join("store.json"), b"{").unwrap();
    assert_corrupt(fixture.reopen().unwrap_err(), "store.json", "store.json");
}

/// A token file whose path is not a token address (the conformance
/// check, and one in upper case) is reported by listing; what the backend
/// never writes there (hidden files, files not named `*.age`) is not an
/// entry and is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_files_that_are_not_token_addresses_are_reported() {
    let plant = |tokens: PathBuf, name: String| {
        let path = tokens.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"not written by graphform").unwrap();
    };
    let fixture = Fixture::new();
    let tokens = fixture.dir().join("tokens");
    conformance::foreign_entries_are_reported(&fixture.store, |key| async move {
        plant(tokens, format!("{key}.age"));
    })
    .await;

    let (fixture, _) = filled().await;
    let tokens = fixture.dir().join("tokens");
    for ignored in ["README.md", "acme/.hidden.age", ".acme/x/token/y.age"] {
        plant(tokens.clone(), ignored.to_owned());
    }
    assert_eq!(fixture.store.list_tokens().await.unwrap().len(), 2);
    plant(tokens, "Acme/x/token/y.age".to_owned());
    match fixture.store.list_tokens().await {
        Err(StoreError::ForeignEntry { key, location, .. }) => {
            assert_eq!(key, "Acme/x/token/y");
            assert!(
                location.ends_with("tokens/Acme/x/token/y.age"),
                "{location}"
            );
        }
        other => panic!("expected ForeignEntry, got {other:?}"),
    }
}

#[tokio::test]
async fn leftover_temporary_files_do_not_corrupt_the_store() {
    let (fixture, _) = filled().await;
    let store = &fixture.store;
    let before = store.read_token(&ADDRESS).await.unwrap().unwrap();
    let state_before = store.read_state().await.unwrap().unwrap();

    // What a crash between "create the temporary file" and "rename" leaves.
    let token_dir = fixture.dir().join("tokens/acme/ci-reporting/token");
    let good = fs::read(fixture.token_file(&ADDRESS)).unwrap();
    let leftovers = [
        (
            token_dir.join(".insights-read.age.tmp"),
            good[..good.len() / 3].to_vec(),
        ),
        (
            fixture.dir().join(".state.json.tmp"),
            b"{\"format\":1,\"ver".to_vec(),
        ),
        (fixture.dir().join(".sequence.tmp"), b"9".to_vec()),
        (fixture.dir().join(".lease.json.tmp"), Vec::new()),
    ];
    for (path, bytes) in &leftovers {
        fs::write(path, bytes).unwrap();
    }

    let reopened = fixture.reopen().unwrap();
    assert_eq!(
        reopened.read_token(&ADDRESS).await.unwrap().unwrap(),
        before
    );
    assert_eq!(reopened.read_state().await.unwrap().unwrap(), state_before);
    assert_eq!(
        reopened.list_tokens().await.unwrap(),
        [ADDRESS.clone(), token("acme/publisher/token/ads-write")]
    );

    // The next writes succeed and replace the leftovers.
    let updated = sample_record(&ADDRESS, "EAAafter-crash");
    let version = reopened
        .write_token(&ADDRESS, &updated, Some(&before.version))
        .await
        .unwrap();
    reopened
        .write_state(b"{\"after\":\"crash\"}", Some(&state_before.version))
        .await
        .unwrap();
    let held = reopened
        .read_lease()
        .await
        .unwrap()
        .expect("the crashed run's lease");
    reopened.break_lease(&held.id).await.unwrap();
    reopened
        .acquire_lease(&lease_request("next run", NOW, 60))
        .await
        .unwrap();
    assert_eq!(
        reopened.read_token(&ADDRESS).await.unwrap().unwrap(),
        Versioned {
            value: updated,
            version
        }
    );
    for (path, _) in &leftovers {
        assert!(!path.exists(), "{} was not cleaned up", path.display());
    }
}

#[tokio::test]
async fn a_missing_store_reads_as_empty_and_the_first_write_creates_it_private() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    assert!(store.list_tokens().await.unwrap().is_empty());
    assert!(store.read_token(&ADDRESS).await.unwrap().is_none());
    assert!(store.read_state().await.unwrap().is_none());
    assert!(store.read_lease().await.unwrap().is_none());
    assert_eq!(
        store.break_lease(&LeaseId::random()).await.unwrap(),
        LeaseBreak::NotHeld
    );
    let lease = Lease {
        info: lease_request("x", NOW, 1),
        version: Version("1".to_owned()),
    };
    store.release_lease(&lease).await.unwrap();
    assert!(matches!(
        store.renew_lease(&lease, at(NOW)).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store.delete_token(&ADDRESS, &lease.version).await,
        Err(StoreError::Conflict { found: None, .. })
    ));
    assert!(
        !fixture.dir().exists(),
        "reading (plan) never creates the store"
    );

    create(store, &ADDRESS, &sample_record(&ADDRESS, "EAAfirst")).await;
    assert_eq!(mode(&fixture.dir()), 0o700);
    assert!(fixture.dir().join("store.json").exists());
}

#[tokio::test]
async fn deleting_the_last_token_of_a_directory_removes_the_empty_directories() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let kept = &token("acme/kept/token/a");
    for address in [&ADDRESS, kept] {
        create(store, address, &sample_record(address, "EAAx")).await;
    }
    let version = store.read_token(&ADDRESS).await.unwrap().unwrap().version;
    store.delete_token(&ADDRESS, &version).await.unwrap();
    assert!(!fixture.dir().join("tokens/acme/ci-reporting").exists());
    assert!(fixture.dir().join("tokens/acme/kept/token/a.age").exists());
    assert_eq!(store.list_tokens().await.unwrap(), vec![kept.clone()]);
}

#[tokio::test]
async fn versions_keep_growing_when_the_counter_file_is_lost() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let record = sample_record(&ADDRESS, "EAAx");
    let v1 = store.write_token(&ADDRESS, &record, None).await.unwrap();
    let v2 = store
        .write_token(&ADDRESS, &record, Some(&v1))
        .await
        .unwrap();
    fs::remove_file(fixture.dir().join("sequence")).unwrap();
    let v3 = store
        .write_token(&ADDRESS, &record, Some(&v2))
        .await
        .unwrap();
    assert!(v3 != v1 && v3 != v2, "{v1} {v2} {v3}");
    assert!(matches!(
        store.write_token(&ADDRESS, &record, Some(&v1)).await,
        Err(StoreError::Conflict { .. })
    ));
}

#[path = "file/processes.rs"]
mod processes;

#[path = "file/rekey.rs"]
mod rekey;

// --- No secret in Debug output or logs -------------------------------------

#[tokio::test]
async fn debug_of_every_public_type_shows_no_secret() {
    let (fixture, values) = filled().await;
    let store = &fixture.store;
    let read = store.read_token(&ADDRESS).await.unwrap().unwrap();
    let record = &read.value;
    let previous = record.previous.as_ref().unwrap();
    let lease = store.read_lease().await.unwrap().unwrap();
    let conflict = store.write_token(&ADDRESS, record, None).await.unwrap_err();
    let (wrong, _) = generate_identity();
    let wrong_key = FileStore::with_identity(fixture.dir(), &wrong).unwrap_err();
    let locked = store
        .acquire_lease(&lease_request("other", NOW, 1))
        .await
        .unwrap_err();
    let (fresh_key, _) = generate_identity();

    let shown = [
        format!("{store:?} {store:#?}"),
        format!("{read:?} {read:#?}"),
        format!("{record:?} {:?} {previous:?}", record.current),
        format!("{:?} {}", record.current.value, record.current.value),
        format!("{:?}", record.current.metadata),
        format!("{lease:?}"),
        format!("{conflict} {conflict:?} {wrong_key} {wrong_key:?} {locked} {locked:?}"),
        format!("{fresh_key:?} {fresh_key} {:?}", fixture.key),
    ]
    .join("\n");
    for value in &values {
        assert!(!shown.contains(value.as_str()), "{shown}");
    }
    for key in [&fixture.key, &wrong, &fresh_key] {
        assert!(!shown.contains(&key.expose()[16..]), "{shown}");
    }
    assert!(shown.contains(record.current.value.fingerprint().as_str()));
    assert!(shown.contains(fixture.store.recipient()));
}
