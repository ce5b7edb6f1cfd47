//! Several threads and processes on one file store: the lease and
//! compare-and-set hold across them, and the key comes from the variable
//! the store is opened with.

use std::io::Write as _;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use graphform_store::conformance::{increment, sample_token};
use graphform_store::{LeaseInfo, TokenRecord};

use super::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
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
        runtime()
            .block_on(fixture.store.break_lease(&winner.id))
            .unwrap();
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

// Several processes.
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
            "processes::child_process",
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
