//! Running the binary and snapshotting what it did.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root (for `examples/`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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

/// Runs the command and snapshots exit code, stdout and stderr together.
macro_rules! graphform_snapshot {
    ($command:expr, @$snapshot:literal) => {{
        let (_, text) = $crate::common::run($command);
        insta::assert_snapshot!(text, @$snapshot);
    }};
    ($command:expr) => {{
        let (_, text) = $crate::common::run($command);
        insta::assert_snapshot!(text);
    }};
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
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_graphform"))
            .arg("emulator")
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
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces what changes from run to run (the temporary directory, token
/// fingerprints) so snapshots are stable.
pub(crate) fn stable(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "[DIR]");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(index) = rest.find("sha256:") {
        out.push_str(&rest[..index]);
        out.push_str("sha256:[FP]");
        rest = &rest[index + "sha256:".len()..];
        rest = rest.trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
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
