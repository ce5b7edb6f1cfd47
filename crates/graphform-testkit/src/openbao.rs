//! An OpenBao server for tests: the real `bao` binary from the project's
//! `.venv` (see [`super::venv_bin`]), on a free loopback port, stopped when
//! the [`OpenBao`] is dropped.
//!
//! Three kinds (facts in ../shared/docs/components.md):
//!
//! * [`OpenBao::start`]: a dev server (`bao server -dev`, in memory, KV v2
//!   at `secret/`, a random root token, `-dev-no-store-token` so that no
//!   `~/.vault-token` is written). Ready in about 0.3 s.
//! * [`OpenBao::start_tls`]: the same over HTTPS, with its CA certificate in
//!   a scratch directory ([`OpenBao::ca_file`]).
//! * [`OpenBao::start_persistent`]: a real server on integrated (raft)
//!   storage in a scratch directory, initialized with one unseal key, KV v2
//!   mounted at `secret/`. It can be [killed](OpenBao::kill) and
//!   [restarted](OpenBao::restart) on the same data, which a dev server
//!   (in memory) cannot. About 2 s to start the first time.
//!
//! Readiness is a successful KV write to `secret/` (the health endpoint
//! answers before the KV mount is there). A port found taken when the
//! server binds it (it also binds PORT+1) is retried with another.
//!
//! The server runs under a small `sh` watchdog that kills it (SIGKILL) when
//! its standard input closes: on drop, and also when the test process dies
//! without running destructors (a timeout, a signal), so that no test leaves
//! a server behind.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{free_port, venv_bin};
use graphform_store::{Secret, VaultSettings, VaultStore};

/// How long a server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_mins(1);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(20);
/// How many ports are tried when the one picked is taken meanwhile.
const PORT_ATTEMPTS: usize = 8;
/// How much of the server's output is kept for failure messages.
const OUTPUT_KEPT: usize = 64 * 1024;

/// The watchdog: runs the command given as arguments with stdin from
/// /dev/null, kills it when this shell's stdin closes (or a line arrives),
/// and exits with its status when it exits.
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null &
pid=$!
( read -r _ <&3; kill -9 "$pid" 2>/dev/null ) &
watcher=$!
wait "$pid"
status=$?
kill "$watcher" 2>/dev/null
exit "$status""#;

/// A running OpenBao server.
pub struct OpenBao {
    kind: Kind,
    port: u16,
    address: String,
    root_token: String,
    scratch: Option<ScratchDir>,
    client: reqwest::Client,
    process: Option<Process>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Dev,
    DevTls,
    Persistent,
}

struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for OpenBao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBao")
            .field("kind", &self.kind)
            .field("address", &self.address)
            .field("running", &self.process.is_some())
            .finish_non_exhaustive()
    }
}

impl OpenBao {
    /// Starts a dev server over HTTP.
    pub async fn start() -> Self {
        Self::start_dev(Kind::Dev).await
    }

    /// Starts a dev server over HTTPS; its CA is [`OpenBao::ca_file`].
    pub async fn start_tls() -> Self {
        Self::start_dev(Kind::DevTls).await
    }

    async fn start_dev(kind: Kind) -> Self {
        let root_token = format!("gf-test-{:016x}{:016x}", random(), random());
        let scratch = (kind == Kind::DevTls).then(ScratchDir::new);
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port(true);
            let mut args = vec![
                "server".to_owned(),
                "-dev".to_owned(),
                "-dev-no-store-token".to_owned(),
                format!("-dev-root-token-id={root_token}"),
                format!("-dev-listen-address=127.0.0.1:{port}"),
                "-log-level=warn".to_owned(),
            ];
            if let Some(scratch) = &scratch {
                args.push("-dev-tls".to_owned());
                args.push(format!("-dev-tls-cert-dir={}", scratch.path.display()));
            }
            let scheme = if kind == Kind::DevTls {
                "https"
            } else {
                "http"
            };
            let mut server = Self {
                kind,
                port,
                address: format!("{scheme}://127.0.0.1:{port}"),
                root_token: root_token.clone(),
                scratch: None,
                client: reqwest::Client::new(),
                process: Some(Process::spawn(&args)),
            };
            if let Some(scratch) = &scratch {
                let ca = scratch.path.join("vault-ca.pem");
                // Whole, not merely there: a client built from a file read
                // while OpenBao was still writing it trusted nothing, and
                // every KV write failed until the minute was up.
                let whole = || {
                    std::fs::read_to_string(&ca)
                        .is_ok_and(|pem| pem.trim_end().ends_with("-----END CERTIFICATE-----"))
                };
                if !server.wait_for(whole).await {
                    server.retry_or_fail(attempt, "the dev CA certificate never appeared");
                    continue;
                }
                server.client = client_with_ca(&ca);
            }
            if server.wait_until_kv_writable().await {
                server.scratch = scratch;
                return server;
            }
            server.retry_or_fail(attempt, "no successful KV write");
        }
        unreachable!("retry_or_fail panics on the last attempt")
    }

    /// Starts a server on raft storage in a scratch directory, initializes
    /// it with one unseal key, unseals it and mounts KV v2 at `secret/`.
    pub async fn start_persistent() -> Self {
        let scratch = ScratchDir::new();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port(true);
            let mut server = Self {
                kind: Kind::Persistent,
                port,
                address: format!("http://127.0.0.1:{port}"),
                root_token: String::new(),
                scratch: None,
                client: reqwest::Client::new(),
                process: None,
            };
            write_persistent_config(&scratch.path, port);
            server.process = Some(Process::spawn(&persistent_args(&scratch.path)));
            if !server.wait_until_answering().await {
                server.retry_or_fail(attempt, "no answer on the port");
                continue;
            }
            let (status, init) = server
                .call(
                    Method::PUT,
                    "sys/init",
                    Some(json!({"secret_shares": 1, "secret_threshold": 1})),
                    None,
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "initializing OpenBao: {init}");
            let key = init["keys_base64"][0]
                .as_str()
                .expect("an unseal key")
                .to_owned();
            server.root_token = init["root_token"]
                .as_str()
                .expect("a root token")
                .to_owned();
            std::fs::write(scratch.path.join("unseal-key"), &key).expect("keep the unseal key");
            server.scratch = Some(scratch);
            server.unseal_only().await;
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                let (status, body) = server
                    .admin(
                        Method::POST,
                        "sys/mounts/secret",
                        Some(json!({"type": "kv", "options": {"version": "2"}})),
                    )
                    .await;
                if status.is_success() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "mounting KV v2 at secret/: {status} {body}\n{}",
                    server.output()
                );
                tokio::time::sleep(POLL).await;
            }
            assert!(
                server.wait_until_kv_writable().await,
                "the persistent server never took a KV write:\n{}",
                server.output()
            );
            return server;
        }
        unreachable!("retry_or_fail panics on the last attempt")
    }

    /// The server's address, e.g. `http://127.0.0.1:41234`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The root token.
    pub fn root_token(&self) -> Secret {
        Secret::new(self.root_token.as_str())
    }

    /// The CA certificate of a TLS server.
    pub fn ca_file(&self) -> Option<PathBuf> {
        (self.kind == Kind::DevTls)
            .then_some(self.scratch.as_ref())
            .flatten()
            .map(|scratch| scratch.path.join("vault-ca.pem"))
    }

    /// Store settings for this server: its address (and CA), mount
    /// `secret`, the given prefix.
    pub fn settings(&self, prefix: &str) -> VaultSettings {
        VaultSettings {
            prefix: prefix.to_owned(),
            ca_file: self.ca_file(),
            ..VaultSettings::new(self.address.clone())
        }
    }

    /// A store on this server with the root token under `prefix`.
    pub fn store(&self, prefix: &str) -> VaultStore {
        VaultStore::with_token(self.settings(prefix), &self.root_token())
            .expect("a store for the test server")
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|process| matches!(process.child.try_wait(), Ok(None)))
    }

    /// Kills the server (SIGKILL: no chance to flush anything) and waits
    /// for it to be gone.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.stop();
        }
    }

    /// Starts a killed persistent server again on the same data and port,
    /// and unseals it.
    ///
    /// # Panics
    ///
    /// For a dev server (its data was in memory).
    pub async fn restart(&mut self) {
        self.restart_sealed().await;
        self.unseal().await;
    }

    /// Starts a killed persistent server again, sealed (as a real server
    /// comes up after a restart); [`OpenBao::unseal`] opens it.
    pub async fn restart_sealed(&mut self) {
        assert_eq!(
            self.kind,
            Kind::Persistent,
            "only a persistent server keeps its data"
        );
        self.kill();
        let dir = self.scratch.as_ref().expect("scratch dir").path.clone();
        for attempt in 1..=PORT_ATTEMPTS {
            self.process = Some(Process::spawn(&persistent_args(&dir)));
            if self.wait_until_answering().await {
                return;
            }
            // The port may linger briefly after the kill: same port again.
            let output = self.output();
            self.kill();
            assert!(
                attempt < PORT_ATTEMPTS && output.contains("address already in use"),
                "OpenBao did not restart:\n{output}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Unseals a persistent server with its key and waits until it takes
    /// KV writes.
    pub async fn unseal(&mut self) {
        self.unseal_only().await;
        assert!(
            self.wait_until_kv_writable().await,
            "the unsealed server never took a KV write:\n{}",
            self.output()
        );
    }

    async fn unseal_only(&self) {
        let dir = &self.scratch.as_ref().expect("scratch dir").path;
        let key = std::fs::read_to_string(dir.join("unseal-key")).expect("the unseal key");
        let (status, body) = self
            .call(
                Method::PUT,
                "sys/unseal",
                Some(json!({ "key": key })),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "unsealing: {body}");
        assert_eq!(body["sealed"], json!(false), "unsealed: {body}");
    }

    /// Seals the server (`bao operator seal`).
    pub async fn seal(&self) {
        self.admin_ok(Method::PUT, "sys/seal", None).await;
    }

    /// A request to `/v1/<path>` with the root token: the status and the
    /// JSON body (`null` when empty or not JSON).
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, body, Some(&self.root_token), None)
            .await
    }

    /// An [`OpenBao::admin`] request that must succeed (2xx): the JSON
    /// body of the answer.
    ///
    /// # Panics
    ///
    /// When the answer is another status.
    pub async fn admin_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.admin(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        answer
    }

    /// [`OpenBao::admin_ok`] for a `GET`.
    pub async fn admin_get(&self, path: &str) -> Value {
        self.admin_ok(Method::GET, path, None).await
    }

    /// [`OpenBao::admin`] in a namespace (`X-Vault-Namespace`).
    pub async fn admin_in_namespace(
        &self,
        namespace: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, body, Some(&self.root_token), Some(namespace))
            .await
    }

    /// Writes the ACL policy `name` with `hcl` and creates a token that has
    /// only it.
    pub async fn token_with_policy(&self, name: &str, hcl: &str) -> Secret {
        let (status, body) = self
            .admin(
                Method::PUT,
                &format!("sys/policies/acl/{name}"),
                Some(json!({ "policy": hcl })),
            )
            .await;
        assert!(
            status.is_success(),
            "writing policy {name}: {status} {body}"
        );
        let (status, body) = self
            .admin(
                Method::POST,
                "auth/token/create",
                Some(json!({ "policies": [name], "no_default_policy": true })),
            )
            .await;
        assert!(status.is_success(), "creating a token: {status} {body}");
        Secret::new(
            body["auth"]["client_token"]
                .as_str()
                .expect("a client token"),
        )
    }

    /// The `bao` CLI, pointed at this server with the root token
    /// (`VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_CACERT` and their `BAO_` twins).
    pub fn cli(&self) -> Command {
        let mut command = Command::new(venv_bin("bao"));
        for prefix in ["VAULT", "BAO"] {
            command
                .env(format!("{prefix}_ADDR"), &self.address)
                .env(format!("{prefix}_TOKEN"), &self.root_token)
                .env_remove(format!("{prefix}_NAMESPACE"));
            match self.ca_file() {
                Some(ca) => command.env(format!("{prefix}_CACERT"), ca),
                None => command.env_remove(format!("{prefix}_CACERT")),
            };
        }
        command.stdin(Stdio::null());
        command
    }

    /// What the server printed so far (the tail), for failure messages.
    pub fn output(&self) -> String {
        self.process
            .as_ref()
            .map(|process| {
                String::from_utf8_lossy(&process.output.lock().expect("output lock")).into_owned()
            })
            .unwrap_or_default()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        namespace: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/v1/{path}", self.address));
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(namespace) = namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}\n{}", self.output()));
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Polls `ready` until it holds or the server exits or times out.
    async fn wait_for(&mut self, mut ready: impl FnMut() -> bool) -> bool {
        self.poll_until(|| std::future::ready(ready())).await
    }

    /// Waits until the server answers HTTP at all (sealed or not).
    async fn wait_until_answering(&mut self) -> bool {
        let client = self.client.clone();
        let url = format!("{}/v1/sys/health", self.address);
        self.poll_until(|| {
            let request = client.get(&url).send();
            async move { request.await.is_ok() }
        })
        .await
    }

    /// Waits until a KV write to `secret/` succeeds (not merely the health
    /// endpoint: the KV mount comes a few milliseconds later).
    async fn wait_until_kv_writable(&mut self) -> bool {
        let client = self.client.clone();
        let url = format!("{}/v1/secret/data/openbao-test/ready", self.address);
        let token = self.root_token.clone();
        self.poll_until(|| {
            let request = client
                .post(&url)
                .header("X-Vault-Token", &token)
                .json(&json!({"data": {"ready": true}}))
                .send();
            async move {
                request
                    .await
                    .is_ok_and(|response| response.status() == StatusCode::OK)
            }
        })
        .await
    }

    /// Runs `check` until it says yes (`true`), or the server exits or
    /// [`READY_TIMEOUT`] passes (`false`).
    async fn poll_until<F: Future<Output = bool>>(&mut self, mut check: impl FnMut() -> F) -> bool {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if check().await {
                return true;
            }
            if !self.is_running() {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
        false
    }

    /// After a failed start: stops the process; panics with its output
    /// unless the port was taken and attempts are left.
    fn retry_or_fail(&mut self, attempt: usize, what: &str) {
        let output = self.output();
        self.kill();
        assert!(
            attempt < PORT_ATTEMPTS && output.contains("address already in use"),
            "OpenBao did not start on port {} ({what}):\n{output}",
            self.port
        );
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Process {
    fn spawn(args: &[String]) -> Self {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(venv_bin("bao"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sh (the watchdog of bao)");
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|stream| Box::new(stream) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|stream| Box::new(stream) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            std::thread::spawn(move || drain(stream, &output));
        }
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            output,
        }
    }

    /// Tells the watchdog to kill the server, and waits for both.
    fn stop(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.child.wait();
    }
}

/// Copies a stream into `output`, keeping the last [`OUTPUT_KEPT`] bytes.
fn drain(mut stream: Box<dyn Read + Send>, output: &Mutex<Vec<u8>>) {
    let mut buffer = [0_u8; 8192];
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        let mut output = output.lock().expect("output lock");
        output.extend_from_slice(&buffer[..read]);
        if output.len() > OUTPUT_KEPT {
            let excess = output.len() - OUTPUT_KEPT;
            output.drain(..excess);
        }
    }
}

fn persistent_args(dir: &Path) -> Vec<String> {
    vec![
        "server".to_owned(),
        format!("-config={}", dir.join("config.hcl").display()),
        "-log-level=warn".to_owned(),
    ]
}

fn write_persistent_config(dir: &Path, port: u16) {
    let data = dir.join("data");
    // A first attempt on a port found taken may have left some.
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("create the raft directory");
    let cluster_port = port + 1;
    let config = format!(
        r#"storage "raft" {{
  path = "{}"
  node_id = "graphform-test"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
"#,
        data.display()
    );
    std::fs::write(dir.join("config.hcl"), config).expect("write the OpenBao config");
}

fn client_with_ca(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("read the dev CA");
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).expect("the dev CA is PEM");
    reqwest::Client::builder()
        .tls_certs_only(certificates)
        .build()
        .expect("an HTTPS client")
}

/// 64 random bits (from the standard library's randomly keyed hasher).
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// A directory under the system's temporary directory, removed on drop.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        remove_stale_scratch_dirs();
        let path = std::env::temp_dir().join(format!(
            "graphform-openbao-{}-{}-{:016x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            random()
        ));
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        Self { path }
    }
}

/// Removes the scratch directories of test processes that are gone (killed
/// before their destructors ran). Linux only (it asks `/proc`).
fn remove_stale_scratch_dirs() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("graphform-openbao-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
