//! First mistakes setting up: the store's key, the store's prefix, the
//! clock, and what `--help` tells of the environment.

use std::path::Path;

use graphform_testkit::moto::Moto;

use super::{quickstart, write};
use crate::common::{graphform, run};

/// A directory with the quickstart policy and, when `key_file` is given,
/// a file store initialized with its key written there.
fn workspace(key_file: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "graphform.yaml", &quickstart());
    if let Some(file) = key_file {
        let (code, text) = run(graphform(dir.path())
            .args(["store", "init", "--key-file", file])
            .env_remove("GRAPHFORM_STORE_KEY"));
        assert_eq!(code, 0, "{text}");
    }
    dir
}

#[test]
fn a_garbage_key_for_a_store_that_exists_asks_for_the_key_it_was_created_with() {
    let dir = workspace(Some("store.key"));
    transcript!(
        "garbage_key_existing_store",
        graphform(dir.path())
            .arg("status")
            .env("GRAPHFORM_STORE_KEY", "hunter2")
    );
}

#[test]
fn another_stores_key_asks_for_the_key_file_init_wrote() {
    let dir = workspace(Some("store.key"));
    let other = workspace(Some("other.key"));
    let key = std::fs::read_to_string(other.path().join("other.key")).expect("key");
    transcript!(
        "another_stores_key",
        graphform(dir.path())
            .args(["lock", "status"])
            .env("GRAPHFORM_STORE_KEY", key.trim())
    );
}

/// `lock status` in a store whose directory has mode `mode`, snapshotted
/// as `name`.
#[cfg(unix)]
fn with_store_mode(name: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = workspace(Some("store.key"));
    let key = std::fs::read_to_string(dir.path().join("store.key")).expect("key");
    std::fs::set_permissions(
        dir.path().join(".graphform/store"),
        std::fs::Permissions::from_mode(mode),
    )
    .expect("chmod");
    transcript!(
        name,
        graphform(dir.path())
            .args(["lock", "status"])
            .env("GRAPHFORM_STORE_KEY", key.trim())
    );
}

#[cfg(unix)]
#[test]
fn a_store_others_can_read_is_warned_of_once_with_the_chmod() {
    with_store_mode("store_readable_by_others", 0o755);
}

#[cfg(unix)]
#[test]
fn a_store_others_can_write_is_refused_with_the_chmod() {
    with_store_mode("store_writable_by_others", 0o775);
}

#[test]
fn no_key_and_no_store_says_to_run_store_init() {
    let dir = workspace(None);
    transcript!(
        "no_key_no_store",
        graphform(dir.path())
            .arg("status")
            .env_remove("GRAPHFORM_STORE_KEY")
    );
}

#[test]
fn store_init_on_an_existing_store_writes_no_key_file() {
    let dir = workspace(Some("store.key"));
    transcript!(
        "store_init_again",
        graphform(dir.path())
            .args(["store", "init", "--key-file", "second.key"])
            .env_remove("GRAPHFORM_STORE_KEY")
    );
    assert!(!dir.path().join("second.key").exists());
    // Nor over an existing key file, nor into a directory holding other things.
    let other = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        dir.path().join("graphform.yaml"),
        other.path().join("graphform.yaml"),
    )
    .expect("copy");
    std::fs::write(other.path().join("kept.key"), "mine\n").expect("write");
    let (code, text) = run(graphform(other.path())
        .args(["store", "init", "--key-file", "kept.key"])
        .env_remove("GRAPHFORM_STORE_KEY"));
    assert_eq!(code, 1, "{text}");
    assert_eq!(
        std::fs::read_to_string(other.path().join("kept.key")).expect("kept"),
        "mine\n"
    );
    std::fs::create_dir_all(other.path().join(".graphform/store")).expect("mkdir");
    std::fs::write(other.path().join(".graphform/store/notes.txt"), "x").expect("write");
    let (code, text) = run(graphform(other.path())
        .args(["store", "init", "--key-file", "new.key"])
        .env_remove("GRAPHFORM_STORE_KEY"));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("is not empty and is not a graphform store"),
        "{text}"
    );
    assert!(!other.path().join("new.key").exists());
}

/// The quickstart policy on the AWS Secrets Manager store at `endpoint`,
/// with `prefix` written as given.
fn aws_policy(dir: &Path, endpoint: &str, prefix: &str) {
    let store = format!(
        "store:\n  type: aws-secrets-manager\n  region: us-east-1\n  prefix: {prefix}\n  endpoint_url: {endpoint}\n"
    );
    write(
        dir,
        "graphform.yaml",
        &quickstart().replacen("version: 1\n", &format!("version: 1\n{store}"), 1),
    );
}

#[test]
fn an_aws_prefix_written_with_a_trailing_slash_is_accepted() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().expect("tempdir");
    aws_policy(dir.path(), &moto.endpoint(), "graphform/");
    transcript!(
        "aws_prefix_trailing_slash",
        graphform(dir.path())
            .args(["lock", "status"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
    );
}

#[test]
fn a_prefix_of_only_slashes_is_pointed_at() {
    let dir = tempfile::tempdir().expect("tempdir");
    aws_policy(dir.path(), "http://127.0.0.1:5000", "/");
    transcript!("prefix_only_slashes", graphform(dir.path()).arg("validate"));
}

/// `lock status` (it reads only the store) with `GRAPHFORM_NOW=value`,
/// snapshotted as `name`.
fn with_clock(name: &str, value: &str) {
    let dir = workspace(Some("store.key"));
    let key = std::fs::read_to_string(dir.path().join("store.key")).expect("key");
    transcript!(
        name,
        graphform(dir.path())
            .args(["lock", "status"])
            .env("GRAPHFORM_STORE_KEY", key.trim())
            .env("GRAPHFORM_NOW", value)
    );
}

#[test]
fn a_clock_that_is_not_unix_seconds_is_refused() {
    with_clock("clock_not_a_number", "tomorrow");
}

#[test]
fn a_clock_before_2010_is_refused() {
    with_clock("clock_before_2010", "1");
}

#[test]
fn a_clock_in_milliseconds_is_refused_with_the_seconds() {
    with_clock("clock_in_milliseconds", "1798000000000");
}

#[test]
fn an_empty_clock_variable_is_the_system_clock() {
    with_clock("clock_empty", "");
}

#[test]
fn plan_help_lists_the_environment_it_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, text) = run(graphform(dir.path()).args(["plan", "--help"]));
    assert_eq!(code, 0, "{text}");
    let environment = &text[text.find("Environment:").expect("an Environment section")..];
    let _in_snapshots = super::transcripts().bind_to_scope();
    insta::assert_snapshot!("plan_help_environment", environment);
}

#[test]
fn an_address_without_its_kind_gets_the_one_it_meant() {
    let dir = workspace(None);
    transcript!(
        "import_address_without_token",
        graphform(dir.path()).args([
            "import",
            "--token-env",
            "HANDMADE_TOKEN",
            "acme/ci-reporting/insights-read",
        ])
    );
}
