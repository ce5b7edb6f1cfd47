//! `graphform demo`: the story, and that no token value leaks anywhere.

use std::path::Path;

use crate::common::{graphform, run};

#[test]
fn the_demo_tells_the_whole_story() {
    let dir = tempfile::tempdir().expect("tempdir");
    graphform_snapshot!(graphform(dir.path()).arg("demo"));
    // The policy it wrote validates, and its modeline's schema is beside it.
    let demo = dir.path().join("graphform-demo");
    let policy = std::fs::read_to_string(demo.join("graphform.yaml")).expect("policy");
    assert!(policy.starts_with("# yaml-language-server: $schema=graphform.schema.json"));
    assert_eq!(
        std::fs::read_to_string(demo.join("graphform.schema.json")).expect("schema"),
        graphform_spec::json_schema()
    );
    let (code, text) = run(graphform(&demo).arg("validate"));
    assert_eq!(code, 0, "{text}");
    // Running it again starts afresh.
    let (code, text) = run(graphform(dir.path()).arg("demo"));
    assert_eq!(code, 0, "{text}");
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");
    graphform_snapshot!(graphform(dir.path()).args(["demo", "--dir", "."]));
    assert!(dir.path().join("notes.txt").exists());
}

/// Every file below `dir` except the store's own directory.
fn files_outside_the_store(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.ends_with(".graphform/store") {
            continue;
        }
        if path.is_dir() {
            files_outside_the_store(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// Token-shaped strings: `EAA` and at least 20 more letters or digits.
fn token_like(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("EAA") {
        let run: String = rest[at..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        if run.len() >= 23 {
            found.push(run.clone());
        }
        rest = &rest[at + 3..];
    }
    found
}

#[test]
fn the_demo_at_trace_level_writes_no_token_value_outside_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = graphform(dir.path())
        .arg("demo")
        .env("RUST_LOG", "trace")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TRACE"), "trace logging was on");
    assert!(token_like(&stdout).is_empty(), "{:?}", token_like(&stdout));
    assert!(token_like(&stderr).is_empty(), "{:?}", token_like(&stderr));
    // The world's app secrets (32 hex digits) never appear either.
    for text in [&stdout, &stderr] {
        let secrets: Vec<&str> = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|word| word.len() == 32)
            .collect();
        assert!(secrets.is_empty(), "{secrets:?}");
    }
    let mut files = Vec::new();
    files_outside_the_store(&dir.path().join("graphform-demo"), &mut files);
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(&file).expect("readable")).into_owned();
        assert!(
            token_like(&text).is_empty(),
            "{}: {:?}",
            file.display(),
            token_like(&text)
        );
    }
    // The store does hold tokens, and the search above finds them there:
    // the check can fail.
    let key = std::fs::read_to_string(dir.path().join("graphform-demo/store.key")).expect("key");
    let store = graphform_store::FileStore::with_identity(
        dir.path().join("graphform-demo/.graphform/store"),
        &graphform_store::Secret::new(key.trim()),
    )
    .expect("store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let record = runtime
        .block_on(graphform_store::Store::read_token(
            &store,
            &"acme/ci-reporting/token/insights-read"
                .parse()
                .expect("an address"),
        ))
        .expect("readable")
        .expect("stored");
    assert_eq!(token_like(record.value.current.value.expose()).len(), 1);
}
