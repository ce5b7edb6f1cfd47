//! A moto server (AWS Secrets Manager emulation) for tests: `moto_server
//! -H 127.0.0.1 -p PORT` from the project's `.venv`, on a free loopback
//! port, ready when `GET /moto-api/` answers 200, killed on drop.
//!
//! moto routes a request by the credential scope of its `SigV4`
//! `Authorization` header and does not check the signature; its state
//! lives in memory and is lost when it stops. See
//! `../shared/docs/components.md` for its other quirks.
//!
//! moto serves each request on a thread of its own, with no lock around
//! its in-memory backend: under load, two `CreateSecret` calls for one name
//! can both pass the "does it exist" check and both succeed (seen here
//! twice in 40 runs of the racing checks, 4 tests at a time on 2 cores).
//! AWS performs each call atomically, and the store relies on that. So the
//! server is started with a `sitecustomize.py` (on `PYTHONPATH`) that sets
//! Python's thread switch interval to 60 s: its threads then switch only
//! where they block on I/O, and each call's work on the backend runs
//! uninterrupted, as on AWS. Requests are still served concurrently, and
//! the command is still `moto_server -H 127.0.0.1 -p PORT`.
//!
//! Talking to it here uses plain `std::net` HTTP/1.1 (one request per
//! connection), so that starting, resetting and inspecting work without a
//! runtime, also from `Drop`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, venv_bin};
use graphform_store::sigv4;
use graphform_store::{AwsCredentials, AwsSecretsManagerConfig, AwsSecretsManagerStore, Secret};

/// How long moto may take to answer after starting (about 0.4 s on an idle
/// machine; much more when several start at once on 2 cores).
const READY_TIMEOUT: Duration = Duration::from_mins(1);

/// The credentials tests sign with (moto accepts any).
pub const ACCESS_KEY_ID: &str = "AKIDMOTOTEST";
/// The secret access key tests sign with.
pub const SECRET_ACCESS_KEY: &str = "motoSECRETaccessKEYforTESTSonly0123456789";
/// The region tests use.
pub const REGION: &str = "us-east-1";

/// What makes each moto call atomic (see the module docs).
const SITECUSTOMIZE: &str = "\
# Written by graphform's test harness (crates/graphform-testkit/src/moto.rs):
# switch threads only where they block on I/O, so that each Secrets Manager
# call runs atomically, as on AWS.
import sys
sys.setswitchinterval(60.0)
";

/// A running moto server, killed when dropped.
pub struct Moto {
    child: Option<Child>,
    address: SocketAddr,
    /// Holds `sitecustomize.py` and the server's log; removed on drop.
    dir: PathBuf,
}

impl Moto {
    /// Starts a server on a free port of 127.0.0.1 and waits until it
    /// answers.
    ///
    /// # Panics
    ///
    /// When moto is not installed (see [`venv_bin`]) or does not come up.
    pub fn start() -> Self {
        let binary = venv_bin("moto_server");
        let mut failures = Vec::new();
        // A port found free may be taken before moto binds it: try again.
        for _ in 0..3 {
            let port = free_port(false);
            let address = SocketAddr::from(([127, 0, 0, 1], port));
            let dir =
                std::env::temp_dir().join(format!("graphform-moto-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create moto's directory");
            std::fs::write(dir.join("sitecustomize.py"), SITECUSTOMIZE)
                .expect("write sitecustomize.py");
            let mut python_path = std::ffi::OsString::from(&dir);
            if let Some(existing) = std::env::var_os("PYTHONPATH") {
                python_path.push(":");
                python_path.push(existing);
            }
            let log_file =
                std::fs::File::create(dir.join("moto.log")).expect("create moto's log file");
            let child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("PYTHONPATH", python_path)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("clone the log file"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
            let mut moto = Self {
                child: Some(child),
                address,
                dir,
            };
            match moto.wait_until_ready() {
                Ok(()) => return moto,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("moto did not start:\n{}", failures.join("\n"));
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
            {
                return Err(format!(
                    "moto_server exited with {status} before answering; its log:\n{}",
                    std::fs::read_to_string(self.dir.join("moto.log")).unwrap_or_default()
                ));
            }
            if matches!(self.http("GET", "/moto-api/", &[], b""), Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "moto_server did not answer on {} within {READY_TIMEOUT:?}",
                    self.address
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `http://127.0.0.1:PORT`, for the store's `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Settings for a store on this server with `prefix`.
    pub fn config(&self, prefix: &str) -> AwsSecretsManagerConfig {
        AwsSecretsManagerConfig {
            region: Some(REGION.to_owned()),
            prefix: prefix.to_owned(),
            endpoint_url: Some(self.endpoint()),
        }
    }

    /// The credentials tests use ([`ACCESS_KEY_ID`], [`SECRET_ACCESS_KEY`]).
    pub fn credentials() -> AwsCredentials {
        AwsCredentials::new(ACCESS_KEY_ID, Secret::new(SECRET_ACCESS_KEY), None)
    }

    /// A store on this server whose secrets are named `<prefix>/…`.
    ///
    /// # Panics
    ///
    /// When `prefix` is not a valid prefix.
    pub fn store(&self, prefix: &str) -> AwsSecretsManagerStore {
        AwsSecretsManagerStore::new(&self.config(prefix), Self::credentials())
            .expect("a store on moto")
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Wipes every secret (`POST /moto-api/reset`).
    ///
    /// # Panics
    ///
    /// When moto does not answer 200.
    pub fn reset(&self) {
        match self.http("POST", "/moto-api/reset", &[], b"") {
            Ok((200, _)) => {}
            other => panic!("moto reset failed: {other:?}"),
        }
    }

    /// Kills the server now (to test a store whose server went away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Calls a Secrets Manager action the way any AWS client does: a
    /// `POST /` signed with `SigV4` (the tests' credentials, region
    /// [`REGION`]), `X-Amz-Target: secretsmanager.<action>`, a JSON body.
    /// Returns the HTTP status and the JSON answer.
    ///
    /// # Panics
    ///
    /// When moto cannot be reached or answers something other than JSON.
    pub fn call(&self, action: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let body = serde_json::to_vec(body).expect("JSON");
        let amz_date = sigv4::amz_date_now();
        let target = format!("secretsmanager.{action}");
        let host = self.address.to_string();
        let headers = [
            ("content-type", sigv4::CONTENT_TYPE),
            ("host", host.as_str()),
            ("x-amz-date", amz_date.as_str()),
            ("x-amz-target", target.as_str()),
        ];
        let authorization = sigv4::authorization(&sigv4::Request {
            method: "POST",
            headers: &headers,
            body: &body,
            amz_date: &amz_date,
            region: REGION,
            service: sigv4::SERVICE,
            access_key_id: ACCESS_KEY_ID,
            secret_access_key: SECRET_ACCESS_KEY,
        });
        let mut all: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(name, _)| *name != "host")
            .copied()
            .collect();
        all.push(("authorization", &authorization));
        let (status, answer) = self
            .http("POST", "/", &all, &body)
            .unwrap_or_else(|error| panic!("moto {action}: {error}"));
        let json = serde_json::from_slice(&answer).unwrap_or_else(|error| {
            panic!("moto {action} answered HTTP {status} with something other than JSON: {error}")
        });
        (status, json)
    }

    /// `GetSecretValue` of `name` at `stage` (`AWSCURRENT`, `AWSPREVIOUS`):
    /// the HTTP status and the answer.
    pub fn get_secret_value(&self, name: &str, stage: &str) -> (u16, serde_json::Value) {
        self.call(
            "GetSecretValue",
            &serde_json::json!({"SecretId": name, "VersionStage": stage}),
        )
    }

    /// One HTTP/1.1 exchange on a fresh connection: status and body.
    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        let mut stream = TcpStream::connect_timeout(&self.address, Duration::from_secs(2))
            .map_err(|error| format!("connect to {}: {error}", self.address))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|error| error.to_string())?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.address,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.write_all(body))
            .map_err(|error| format!("send to {}: {error}", self.address))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .map_err(|error| format!("read from {}: {error}", self.address))?;
        parse_response(&answer)
    }
}

/// Status and body of an HTTP/1.x response read to the end of the
/// connection (moto sends `Content-Length`, or closes; chunked is decoded).
fn parse_response(answer: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let body = &answer[split + 4..];
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut decoded = Vec::new();
    let mut rest = body;
    loop {
        let end = rest
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("truncated chunk")?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16)
            .map_err(|error| format!("bad chunk size: {error}"))?;
        if size == 0 {
            return Ok((status, decoded));
        }
        let start = end + 2;
        decoded.extend_from_slice(rest.get(start..start + size).ok_or("truncated chunk")?);
        rest = rest.get(start + size + 2..).ok_or("truncated chunk")?;
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
