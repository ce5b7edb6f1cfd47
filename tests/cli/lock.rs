//! `graphform lock status`, `graphform unlock ID`, and the store commands
//! around the key: `store init` checks before it writes a key, `store
//! rekey` (issue 14).

use std::path::Path;

use graphform_store::conformance::lease_request;
use graphform_store::{FileStore, LeaseInfo, Secret, Store as _};

use crate::common::{EmulatorProcess, assert_matches_schema, graphform, run, with_env, workspace};

/// 2026-01-01 00:00:00 UTC, when the test leases are taken.
const NOW: i64 = 1_767_225_600;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The workspace's file store, opened with `key`.
fn store(dir: &Path, key: &str) -> FileStore {
    FileStore::with_identity(dir.join(".graphform/store"), &Secret::new(key)).expect("open")
}

/// Takes the lease for a holder that is not running: an apply killed on
/// `ci-runner-1`, taken at [`NOW`] for an hour.
fn lock(dir: &Path, key: &str) -> LeaseInfo {
    lock_at(dir, key, NOW)
}

/// [`lock`], taken at `now`.
fn lock_at(dir: &Path, key: &str, now: i64) -> LeaseInfo {
    let request = lease_request("graphform apply", now, 3_600);
    runtime()
        .block_on(store(dir, key).acquire_lease(&request))
        .expect("acquire");
    request
}

/// `graphform` in `dir` with the store key and the clock at `now`.
fn at(dir: &Path, key: &str, now: i64) -> std::process::Command {
    let mut command = graphform(dir);
    command
        .env("GRAPHFORM_STORE_KEY", key)
        .env("GRAPHFORM_NOW", now.to_string());
    command
}

fn json(command: &mut std::process::Command) -> serde_json::Value {
    let output = command.output().expect("runs");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("one JSON document")
}

#[test]
fn lock_status_shows_no_lock_then_the_holder_its_id_and_whether_it_may_be_taken_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    graphform_snapshot!(
        "lock_status_unlocked",
        at(dir.path(), &key, NOW).args(["lock", "status"])
    );
    let unlocked = json(at(dir.path(), &key, NOW).args(["lock", "status", "--format", "json"]));
    assert_eq!(
        (&unlocked["locked"], &unlocked["lease"]),
        (&false.into(), &serde_json::Value::Null)
    );
    // Versioned, as every JSON document graphform prints.
    assert_eq!(unlocked["format_version"], 1, "{unlocked:#}");
    assert_matches_schema("lock-status.schema.json", &unlocked);

    let held = lock(dir.path(), &key);
    graphform_snapshot!(
        "lock_status_locked",
        at(dir.path(), &key, NOW + 60).args(["lock", "status"])
    );
    // Held, expired within the clock-skew margin, expired past it.
    for (now, expired, may_be_taken_over) in [
        (NOW + 60, false, false),
        (NOW + 3_600 + 60, true, false),
        (NOW + 3_600 + 120, true, true),
    ] {
        let status = json(at(dir.path(), &key, now).args(["lock", "status", "--format", "json"]));
        // The document is the one schemas/lock-status.schema.json
        // describes, and the schema can fail.
        let validator = assert_matches_schema("lock-status.schema.json", &status);
        let mut broken = status.clone();
        broken["lease"]["pid"] = serde_json::json!("4242");
        assert!(!validator.is_valid(&broken));
        let lease = &status["lease"];
        assert_eq!(status["locked"], true);
        assert_eq!(status["now"], now);
        assert_eq!(lease["id"], held.id.as_str());
        assert_eq!(
            (&lease["holder"], &lease["pid"], &lease["host"]),
            (
                &"graphform apply".into(),
                &4242.into(),
                &"ci-runner-1".into()
            )
        );
        assert_eq!(
            (&lease["acquired_at"], &lease["expires_at"]),
            (&NOW.into(), &(NOW + 3_600).into())
        );
        assert_eq!(lease["may_be_taken_over_at"], NOW + 3_600 + 120);
        assert_eq!(
            (
                lease["expired"].as_bool(),
                lease["may_be_taken_over"].as_bool()
            ),
            (Some(expired), Some(may_be_taken_over)),
            "at {now}"
        );
    }
    let (code, text) = run(at(dir.path(), &key, NOW + 3_600 + 60).args(["lock", "status"]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("expired: the next apply takes it over from 2026-01-01 01:02:00 UTC"),
        "{text}"
    );
}

#[test]
fn unlock_removes_the_lock_with_its_id_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    // No ID: a usage error.
    let (code, text) = run(at(dir.path(), &key, NOW).arg("unlock"));
    assert_eq!(code, 64, "{text}");
    assert!(text.contains("<ID>"), "{text}");
    // No lock: said so, exit 0.
    graphform_snapshot!(
        "unlock_without_a_lock",
        at(dir.path(), &key, NOW).args(["unlock", "0123456789abcdef"])
    );

    let held = lock(dir.path(), &key);
    // Another ID: refused, naming the holder and the ID; nothing removed.
    graphform_snapshot!(
        "unlock_with_another_id",
        at(dir.path(), &key, NOW).args(["unlock", "0000000000000000"])
    );
    let still = runtime()
        .block_on(store(dir.path(), &key).read_lease())
        .expect("read");
    assert_eq!(still.as_ref(), Some(&held));
    // Its own ID: removed.
    graphform_snapshot!(
        "unlock_with_its_id",
        at(dir.path(), &key, NOW).args(["unlock", held.id.as_str()])
    );
    let gone = runtime()
        .block_on(store(dir.path(), &key).read_lease())
        .expect("read");
    assert_eq!(gone, None);
}

#[test]
fn a_refused_apply_names_the_lock_id_to_unlock() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    // Taken now by the real clock, which apply uses with the emulator.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let held = lock_at(dir.path(), &key, i64::try_from(now).expect("in range"));
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(&format!("(lock ID {})", held.id)), "{text}");
    assert!(
        text.contains(&format!("`graphform unlock {}`", held.id)),
        "{text}"
    );
}

#[test]
fn store_rekey_then_plan_reads_with_the_new_key_and_not_the_old() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["apply", "--auto-approve"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 0, "{text}");
    graphform_snapshot!(
        "store_rekey",
        graphform(dir.path())
            .args(["store", "rekey", "--key-file", "new.key"])
            .env("GRAPHFORM_STORE_KEY", &key)
    );
    let new_key = std::fs::read_to_string(dir.path().join("new.key")).expect("the new key");
    let new_key = new_key.trim();
    assert_ne!(new_key, key);
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["plan", "--detailed-exitcode"]),
        &emulator,
        new_key,
    ));
    assert_eq!(code, 0, "the new key reads every token: {text}");
    let (code, text) = run(with_env(
        graphform(dir.path()).args(["plan", "--detailed-exitcode"]),
        &emulator,
        &key,
    ));
    assert_eq!(code, 1, "the old key reads nothing: {text}");
    assert!(text.contains("is not the key of the file store"), "{text}");
    // The lock was released, and the key file is never overwritten.
    let status = json(at(dir.path(), new_key, NOW).args(["lock", "status", "--format", "json"]));
    assert_eq!(status["locked"], false);
    let (code, text) = run(graphform(dir.path())
        .args(["store", "rekey", "--key-file", "new.key"])
        .env("GRAPHFORM_STORE_KEY", new_key));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("new.key exists; nothing was changed"),
        "{text}"
    );
}

#[test]
fn store_rekey_refuses_a_vault_store_and_a_locked_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("graphform.yaml"),
        std::fs::read_to_string(crate::common::repo_root().join("examples/quickstart.yaml"))
            .expect("read")
            .replacen(
                "version: 1\n",
                "version: 1\nstore:\n  type: vault\n  address: http://127.0.0.1:1\n",
                1,
            ),
    )
    .expect("write");
    let (code, text) = run(graphform(dir.path())
        .args(["store", "rekey", "--key-file", "new.key"])
        .env("VAULT_TOKEN", "x"));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("works on `file` stores"), "{text}");
    assert!(!dir.path().join("new.key").exists());

    let locked = tempfile::tempdir().expect("tempdir");
    let key = workspace(locked.path());
    let held = lock(locked.path(), &key);
    let (code, text) =
        run(at(locked.path(), &key, NOW + 60).args(["store", "rekey", "--key-file", "new.key"]));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("graphform unlock {}", held.id)),
        "{text}"
    );
    assert!(!locked.path().join("new.key").exists());
}
