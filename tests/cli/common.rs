//! Running the binary and snapshotting what it did.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The repository's root (for `examples/`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `PATH` with the directory of the `graphform` under test first: for
/// shell lines (the README's, a suggested command) that run `graphform`.
pub(crate) fn path_with_graphform() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_graphform"))
        .parent()
        .expect("the binary's directory");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A `graphform` command with a clean, deterministic environment: no colour,
/// no inherited log filter or policy path.
pub(crate) fn graphform(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_graphform"));
    command
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("GRAPHFORM_POLICY")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100");
    command
}

/// Runs a command and renders its exit code, stdout and stderr as one text,
/// the way uv's `uv_snapshot!` does.
pub(crate) fn run(command: &mut Command) -> (i32, String) {
    let output = command.output().expect("the binary runs");
    let code = output.status.code().unwrap_or(-1);
    let text = format!(
        "exit_code: {code}\n----- stdout -----\n{}----- stderr -----\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    (code, text)
}

/// Runs a command whose stdout is one JSON document: its exit code and
/// the document (a test fails, showing both streams, on anything else).
pub(crate) fn json_of(command: &mut Command) -> (i32, serde_json::Value) {
    let output = command.output().expect("the binary runs");
    let code = output.status.code().unwrap_or(-1);
    let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: stdout {}\nstderr {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, value)
}

/// Asserts that `document` is valid against the committed
/// `schemas/<name>`, and against that schema closed (no property it does
/// not name: the committed schemas leave objects open, as a version may
/// add fields), so the schema describes every field printed. Returns the
/// committed schema's validator, for the test to show a broken document
/// fails it.
pub(crate) fn assert_matches_schema(
    name: &str,
    document: &serde_json::Value,
) -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("schemas").join(name)).expect("schema"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let closed = jsonschema::validator_for(&closed(schema)).expect("a valid schema");
    for (validator, which) in [(&validator, "schema"), (&closed, "closed schema")] {
        let errors: Vec<String> = validator
            .iter_errors(document)
            .map(|error| error.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "not valid against the {which} schemas/{name}: {errors:#?}\n{document:#}"
        );
    }
    validator
}

/// `schema` with `"additionalProperties": false` on every object schema
/// that lists its properties and says nothing of others.
fn closed(mut schema: serde_json::Value) -> serde_json::Value {
    fn close(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(object) => {
                if object.contains_key("properties") {
                    object
                        .entry("additionalProperties")
                        .or_insert(serde_json::Value::Bool(false));
                }
                object.values_mut().for_each(close);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(close),
            _ => {}
        }
    }
    close(&mut schema);
    schema
}

/// Runs the command and snapshots exit code, stdout and stderr together,
/// through [`filters`]: inline, in a `.snap` file named after the test, or
/// in one with the given name (for a test's second snapshot).
macro_rules! graphform_snapshot {
    ($command:expr, @$snapshot:literal) => {{
        let (_, text) = $crate::common::run($command);
        let _filters = $crate::common::filters().bind_to_scope();
        insta::assert_snapshot!(text, @$snapshot);
    }};
    ($command:expr) => {{
        let (_, text) = $crate::common::run($command);
        let _filters = $crate::common::filters().bind_to_scope();
        insta::assert_snapshot!(text);
    }};
    ($name:expr, $command:expr) => {{
        let (_, text) = $crate::common::run($command);
        let _filters = $crate::common::filters().bind_to_scope();
        insta::assert_snapshot!($name, text);
    }};
}

/// Snapshot settings that replace what changes from run to run: the
/// per-test temporary directory, loopback ports, token fingerprints, the
/// IDs the emulator gives new system users, dates and times, the pid and
/// host and ID of a lease, a store's recipient, graphform's version in a
/// plan's header.
pub(crate) fn filters() -> insta::Settings {
    let temp = std::env::temp_dir().display().to_string();
    let temp = regex_escape(temp.trim_end_matches('/'));
    let mut settings = insta::Settings::clone_current();
    let dir = format!(r"{temp}/\.tmp[0-9A-Za-z_]+");
    for (regex, replacement) in [
        (dir.as_str(), "[DIR]"),
        (r"sha256:[0-9a-f]+", "sha256:[FP]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        ("615500000000001", "[SU1]"),
        ("615500000000002", "[SU2]"),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z",
            "[TIMESTAMP]",
        ),
        (r"\d{4}-\d{2}-\d{2}", "[DATE]"),
        (r"\d{2}:\d{2}(:\d{2})? UTC", "[TIME] UTC"),
        (
            r"\*\*graphform\*\* \d+\.\d+\.\d+\S*",
            "**graphform** [VERSION]",
        ),
        (r"pid \d+", "pid [PID]"),
        (r"on host [^ )]+", "on host [HOST]"),
        (r"on [^ ,()]+, pid", "on [HOST], pid"),
        (
            r"(lock ID +|has ID |unlock |the lock )[0-9a-f]{16}",
            "${1}[LOCK-ID]",
        ),
        (r"age1[0-9a-z]{58}", "age1[RECIPIENT]"),
    ] {
        settings.add_filter(regex, replacement);
    }
    settings
}

/// `text` as a regular expression that matches exactly it.
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A `graphform emulator` child process serving the demo world, and the
/// environment (URL and credentials) it printed.
pub(crate) struct EmulatorProcess {
    child: std::process::Child,
    /// `GRAPHFORM_GRAPH_URL` and the world's credentials.
    pub(crate) env: Vec<(String, String)>,
    /// The port it listens on (for the control API).
    pub(crate) port: u16,
}

impl EmulatorProcess {
    /// Starts the emulator on a free loopback port and waits until it
    /// listens (it prints once it does).
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with more arguments, e.g. `--world FILE`.
    pub(crate) fn start_with(args: &[&std::ffi::OsStr]) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_graphform"))
            .arg("emulator")
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the emulator starts");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut env = Vec::new();
        for line in stdout.lines() {
            let line = line.expect("a line");
            if let Some(export) = line.strip_prefix("export ") {
                let (name, value) = export.split_once('=').expect("NAME=value");
                env.push((name.to_owned(), value.trim_matches('\'').to_owned()));
                if env.len() == 4 {
                    break;
                }
            }
        }
        let url = &env
            .iter()
            .find(|(name, _)| name == "GRAPHFORM_GRAPH_URL")
            .expect("url")
            .1;
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        Self { child, env, port }
    }

    /// The emulator's clock now, Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        control(self.port, "clock")["now"]
            .as_i64()
            .expect("the emulator's clock")
    }

    /// Points `command` at this emulator (its URL and credentials) with
    /// graphform's clock (`GRAPHFORM_NOW`) set to the emulator's.
    pub(crate) fn at_its_clock<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.env("GRAPHFORM_NOW", self.now().to_string());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` from 127.0.0.1:`port` with a bare HTTP/1.1 request; the whole
/// response, head and body.
pub(crate) fn get(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// The JSON body of a control-API GET.
pub(crate) fn control(port: u16, path: &str) -> serde_json::Value {
    let response = get(port, &format!("/_emulator/{path}"));
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).expect("JSON")
}

/// A workspace with the quickstart policy (it matches the emulator's demo
/// world) and an initialized store; returns the store key.
pub(crate) fn workspace(dir: &Path) -> String {
    std::fs::copy(
        repo_root().join("examples/quickstart.yaml"),
        dir.join("graphform.yaml"),
    )
    .expect("copy");
    let (code, text) = run(graphform(dir)
        .args(["store", "init", "--key-file", "store.key"])
        .env_remove("GRAPHFORM_STORE_KEY"));
    assert_eq!(code, 0, "{text}");
    std::fs::read_to_string(dir.join("store.key"))
        .expect("key")
        .trim()
        .to_owned()
}

pub(crate) fn with_env<'c>(
    command: &'c mut std::process::Command,
    emulator: &EmulatorProcess,
    key: &str,
) -> &'c mut std::process::Command {
    for (name, value) in &emulator.env {
        command.env(name, value);
    }
    command.env("GRAPHFORM_STORE_KEY", key)
}

/// How a `graphform apply` run with `GRAPHFORM_FAILPOINT=n` ended.
pub(crate) struct FailpointRun {
    /// It reported the failpoint and was killed (SIGKILL) there.
    pub(crate) reached: bool,
    /// Its exit status (reaped: its pid is gone, so the next apply sees
    /// its lease's holder is gone).
    pub(crate) status: ExitStatus,
    /// What it printed on stderr.
    pub(crate) lines: Vec<String>,
}

/// Runs `command` (an apply) with `GRAPHFORM_FAILPOINT=n` and kills it when
/// it reports the failpoint. `Err` with what it printed when it neither
/// reached the failpoint nor ended within `timeout` (it is killed then).
pub(crate) fn run_until_failpoint(
    command: &mut Command,
    n: u64,
    timeout: Duration,
) -> Result<FailpointRun, Vec<String>> {
    let mut child = command
        .env("GRAPHFORM_FAILPOINT", n.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply starts");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let marker = format!("graphform: failpoint {n} reached");
    let started = Instant::now();
    let mut lines = Vec::new();
    let reached = loop {
        match receiver.recv_timeout(timeout.saturating_sub(started.elapsed())) {
            Ok(line) => {
                let line = line.expect("stderr is text");
                let found = line == marker;
                lines.push(line);
                if found {
                    child.kill().expect("kill");
                    break true;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(lines);
            }
        }
    };
    let status = child.wait().expect("wait");
    reader.join().expect("the reader ends with the process");
    Ok(FailpointRun {
        reached,
        status,
        lines,
    })
}

/// An HTTP/1.1 request to 127.0.0.1:`port`; status and body.
pub(crate) fn raw_request(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

/// A control-API request with a JSON body, which must succeed; the JSON
/// answer.
pub(crate) fn request(port: u16, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, answer) = raw_request(port, method, path, "application/json", body);
    assert_eq!(status, 200, "{method} {path}: {answer}");
    serde_json::from_str(&answer).expect("JSON")
}
