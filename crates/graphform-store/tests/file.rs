//! What is particular to the file backend: no value in plaintext on disk,
//! permissions, keys (missing, malformed, wrong), corrupt and leftover
//! files, the lock across threads and processes, and no secret in `Debug`
//! output. (Logs are checked in `logs.rs`, a binary of their own.)

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::{Arc, Barrier, LazyLock};
use std::time::{Duration, Instant};

use graphform_store::conformance::{
    self, NOW, at, create, lease_request, sample_record, sample_rotated_record, sample_token, token,
};
use graphform_store::{
    FileStore, Lease, LeaseInfo, Secret, Store, StoreError, TokenAddress, TokenRecord, Version,
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
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

/// A store filled with two tokens (one mid-rotation), the state document
/// and the lease, and the values written.
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
    assert_eq!(files.len(), 7);
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

    fs::write(fixture.dir().join("lease.json"), b"[]").unwrap();
    assert_corrupt(store.read_lease().await.unwrap_err(), "lease.json", "lease");
    let request = lease_request("graphform apply", NOW, 60);
    assert_corrupt(
        store.acquire_lease(&request).await.unwrap_err(),
        "lease.json",
        "lease",
    );
    // `graphform unlock` clears a damaged lease file.
    assert_eq!(store.break_lease().await.unwrap(), None);
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
    reopened.break_lease().await.unwrap();
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
    assert!(store.break_lease().await.unwrap().is_none());
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

/// Runs `work` on `threads` threads at once, each with its own `FileStore`
/// on `dir` and its own runtime; their results in order.
fn on_threads<T: Send + 'static>(
    dir: &Path,
    key: &Secret,
    threads: usize,
    work: impl Fn(usize, FileStore) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(threads));
    let work = Arc::new(work);
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let store = FileStore::with_identity(dir, key).unwrap();
            let barrier = Arc::clone(&barrier);
            let work = Arc::clone(&work);
            std::thread::spawn(move || {
                barrier.wait();
                work(index, store)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect()
}

#[test]
fn instances_on_other_threads_cannot_both_take_the_lease() {
    let fixture = Fixture::new();
    for round in 0..5 {
        let results = on_threads(&fixture.dir(), &fixture.key, 6, move |index, store| {
            let request = lease_request(&format!("thread {index}"), NOW + round, 300);
            runtime().block_on(store.acquire_lease(&request))
        });
        let winners: Vec<&Lease> = results
            .iter()
            .filter_map(|result| result.as_ref().ok())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let winner = winners[0].info.clone();
        for result in &results {
            match result {
                Ok(_) => {}
                Err(StoreError::Locked(holder)) => assert_eq!(*holder, winner, "round {round}"),
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        runtime().block_on(fixture.store.break_lease()).unwrap();
    }
}

/// Adds 1 to the counter in `address`'s `issued_at` with read, modify,
/// compare-and-set, retry.
async fn increment(store: &FileStore, address: &TokenAddress) {
    loop {
        let read = store.read_token(address).await.unwrap().unwrap();
        let mut record = read.value;
        record.current.metadata.issued_at = at(record.current.metadata.issued_at.unix() + 1);
        match store
            .write_token(address, &record, Some(&read.version))
            .await
        {
            Ok(_) => return,
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
}

fn counter_record(address: &TokenAddress) -> TokenRecord {
    TokenRecord {
        current: sample_token(address, "EAAcounter", 0),
        previous: None,
    }
}

#[test]
fn instances_on_other_threads_lose_no_update() {
    let fixture = Fixture::new();
    let main_runtime = runtime();
    main_runtime
        .block_on(
            fixture
                .store
                .write_token(&ADDRESS, &counter_record(&ADDRESS), None),
        )
        .unwrap();
    on_threads(&fixture.dir(), &fixture.key, 4, |_, store| {
        runtime().block_on(async {
            for _ in 0..10 {
                increment(&store, &ADDRESS).await;
            }
        });
    });
    let read = main_runtime
        .block_on(fixture.store.read_token(&ADDRESS))
        .unwrap()
        .unwrap();
    assert_eq!(read.value.current.metadata.issued_at.unix(), 40);
}

// --- Several processes -----------------------------------------------------
//
// The test binary runs itself as the child: `child_process` does nothing
// unless GRAPHFORM_STORE_TEST_CHILD names a role.

const CHILD_ROLE: &str = "GRAPHFORM_STORE_TEST_CHILD";
const CHILD_DIR: &str = "GRAPHFORM_STORE_TEST_DIR";
const CHILD_KEY: &str = "GRAPHFORM_STORE_TEST_KEY";
const CHILD_GO: &str = "GRAPHFORM_STORE_TEST_GO";

fn child(role: &str, dir: &Path, key: Option<&str>, go: &Path) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ROLE, role)
        .env(CHILD_DIR, dir)
        .env(CHILD_GO, go)
        .env_remove(CHILD_KEY);
    if let Some(key) = key {
        command.env(CHILD_KEY, key);
    }
    command
}

/// The `RESULT:` lines a child printed.
fn results_of(output: &std::process::Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        // libtest prints `test child_process ... ` before the test's own
        // output, on the same line.
        .filter_map(|line| line.split_once("RESULT: "))
        .map(|(_, result)| result.to_owned())
        .collect()
}

#[test]
fn child_process() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let go = PathBuf::from(std::env::var(CHILD_GO).unwrap());
    let store = match FileStore::open(&dir, CHILD_KEY) {
        Ok(store) => store,
        Err(error) => {
            let hint = match &error {
                StoreError::Config { hint, .. } => hint.clone().unwrap_or_default(),
                _ => String::new(),
            };
            println!("RESULT: error: {error} | hint: {hint} | debug: {error:?}");
            return;
        }
    };
    println!("RESULT: opened");
    if role == "open" {
        return;
    }
    // Start together: wait for the parent's signal.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no go signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let runtime = runtime();
    let request = LeaseInfo::for_current_process(format!("process {role}"), at(NOW), 300);
    match runtime.block_on(store.acquire_lease(&request)) {
        Ok(_) => println!("RESULT: acquired"),
        Err(StoreError::Locked(holder)) => println!("RESULT: locked by {}", holder.holder),
        Err(other) => println!("RESULT: failed {other:?}"),
    }
    runtime.block_on(async {
        for _ in 0..10 {
            increment(&store, &ADDRESS).await;
        }
    });
    println!("RESULT: incremented");
}

#[test]
fn processes_cannot_both_take_the_lease_and_lose_no_update() {
    const PROCESSES: usize = 4;
    let fixture = Fixture::new();
    runtime()
        .block_on(
            fixture
                .store
                .write_token(&ADDRESS, &counter_record(&ADDRESS), None),
        )
        .unwrap();
    let go = fixture.root.path().join("go");
    let children: Vec<_> = (0..PROCESSES)
        .map(|index| {
            child(
                &index.to_string(),
                &fixture.dir(),
                Some(fixture.key.expose()),
                &go,
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    // Let them all start and wait, then release them at once.
    std::thread::sleep(Duration::from_millis(300));
    fs::File::create(&go).unwrap().flush().unwrap();
    let results: Vec<Vec<String>> = children
        .into_iter()
        .map(|child| results_of(&child.wait_with_output().unwrap()))
        .collect();

    let acquired: Vec<usize> = (0..PROCESSES)
        .filter(|index| results[*index].contains(&"acquired".to_owned()))
        .collect();
    assert_eq!(acquired.len(), 1, "{results:?}");
    let winner = format!("locked by process {}", acquired[0]);
    for (index, lines) in results.iter().enumerate() {
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], "opened");
        if index != acquired[0] {
            assert_eq!(lines[1], winner, "{results:?}");
        }
        assert_eq!(lines[2], "incremented");
    }
    let lease = runtime()
        .block_on(fixture.store.read_lease())
        .unwrap()
        .unwrap();
    assert_eq!(lease.holder, format!("process {}", acquired[0]));
    assert_ne!(lease.pid, std::process::id());
    let read = runtime()
        .block_on(fixture.store.read_token(&ADDRESS))
        .unwrap()
        .unwrap();
    assert_eq!(
        read.value.current.metadata.issued_at.unix(),
        i64::try_from(PROCESSES * 10).unwrap()
    );
}

#[test]
fn the_key_comes_from_the_named_environment_variable() {
    let fixture = Fixture::new();
    let go = fixture.root.path().join("unused");
    let (other, _) = generate_identity();
    let key_file = format!(
        "# created: 2026-01-01T00:00:00Z\n# public key: {}\n{}\n",
        fixture.store.recipient(),
        fixture.key.expose()
    );
    let garbage = "AGE-SECRET-KEY-1THISISNOTAVALIDKEYATALLBUTLOOKSLIKEONE";
    let cases: [(Option<&str>, &str); 7] = [
        (Some(fixture.key.expose()), "opened"),
        (Some(&key_file), "opened"),
        (None, "`GRAPHFORM_STORE_TEST_KEY` is not set"),
        (Some(""), "it is empty"),
        (Some(garbage), "not a valid X25519 key"),
        (Some(fixture.store.recipient()), "holds a recipient"),
        (Some(other.expose()), "opened"),
    ];
    // The store exists for the key: `other` is refused when store.json
    // names the recipient, which `init` writes.
    FileStore::init(fixture.dir(), &fixture.key).unwrap();
    for (key, expected) in cases {
        let output = child("open", &fixture.dir(), key, &go).output().unwrap();
        let results = results_of(&output);
        assert_eq!(results.len(), 1, "{results:?}");
        let line = &results[0];
        if key == Some(other.expose()) {
            assert!(line.contains("is not the key of the file store"), "{line}");
        } else {
            assert!(line.contains(expected), "{key:?}: {line}");
        }
        if line.starts_with("error") {
            assert!(line.contains("graphform store init"), "{line}");
            assert!(!line.contains(&fixture.key.expose()[16..]), "{line}");
            assert!(!line.contains(&other.expose()[16..]), "{line}");
            assert!(!line.contains(&garbage[16..]), "{line}");
        }
    }
}

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
