//! First mistakes: reaching the Graph API. An unreachable or mistyped
//! URL, a server whose TLS graphform refuses, and credentials Meta
//! refuses: each error names the URL (never its query) or the variable,
//! where it was set, why, and what to do.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{quickstart, write};
use crate::common::{EmulatorProcess, control, graphform, run, with_env, workspace};

/// A command in a quickstart workspace with an initialized store (made
/// on first use), with credentials that are never sent anywhere but
/// loopback.
fn offline(dir: &Path) -> Command {
    let key = match std::fs::read_to_string(dir.join("store.key")) {
        Ok(key) => key.trim().to_owned(),
        Err(_) => workspace(dir),
    };
    let mut command = graphform(dir);
    command
        .env("GRAPHFORM_STORE_KEY", key)
        .env("ACME_ADMIN_TOKEN", "EAAadmintokenneverprinted")
        .env("REPORTING_APP_SECRET", "appsecretneverprinted");
    command
}

/// Snapshot settings for this module's transcripts: retry delays are random, ports of
/// 127.0.0.2 change, Meta's trace IDs are the emulator's random ones.
fn settings() -> insta::Settings {
    let mut settings = super::transcripts();
    settings.add_filter(r"retrying in \d+\.\d s", "retrying in [DELAY]");
    settings.add_filter(r"127\.0\.0\.2:\d+", "127.0.0.2:[PORT]");
    settings.add_filter(r"fbtrace_id [A-Za-z0-9_-]+", "fbtrace_id [TRACE]");
    settings
}

/// A loopback port nobody listens on: bound, noted, closed. On 127.0.0.2,
/// so that no emulator of a parallel test (they bind 127.0.0.1) takes it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.2:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[test]
fn an_unreachable_graph_url_names_the_url_where_it_was_set_and_the_emulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.2:{}", closed_port());
    let _settings = settings().bind_to_scope();
    let started = std::time::Instant::now();
    graphform_snapshot!(
        offline(dir.path())
            .arg("plan")
            .env("GRAPHFORM_GRAPH_URL", &url)
    );
    // Five attempts, with backoffs of at most 0.5 + 1 + 2 + 4 s.
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

#[test]
fn the_policys_graph_url_is_named_with_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = offline(dir.path());
    let url = format!("http://127.0.0.2:{}", closed_port());
    let policy = quickstart().replace("version: 1", &format!("version: 1\ngraph:\n  url: {url}"));
    assert!(
        policy.contains("graph:"),
        "quickstart starts with `version: 1`"
    );
    write(dir.path(), "graphform.yaml", &policy);
    let _settings = settings().bind_to_scope();
    graphform_snapshot!(command.arg("plan"));
}

#[test]
fn a_graph_url_without_scheme_gets_one_suggested() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _settings = settings().bind_to_scope();
    graphform_snapshot!(
        "graph_url_without_scheme",
        offline(dir.path())
            .arg("plan")
            .env("GRAPHFORM_GRAPH_URL", "graph.facebook.com")
    );
    graphform_snapshot!(
        "graph_url_plain_http",
        offline(dir.path())
            .arg("plan")
            .env("GRAPHFORM_GRAPH_URL", "http://graph.facebook.com")
    );
    // A query can carry `access_token` or `appsecret_proof`: never shown.
    let (_, text) = run(offline(dir.path()).arg("plan").env(
        "GRAPHFORM_GRAPH_URL",
        "https://graph.facebook.com/?access_token=EAAquerysecret",
    ));
    assert!(!text.contains("EAAquerysecret"), "{text}");
    graphform_snapshot!(
        "graph_url_with_query",
        offline(dir.path()).arg("plan").env(
            "GRAPHFORM_GRAPH_URL",
            "https://graph.facebook.com/?access_token=EAAquerysecret",
        )
    );
    // The policy's `graph.url` is checked by `validate`, before any client.
    let policy = quickstart().replace(
        "version: 1",
        "version: 1\ngraph:\n  url: graph.facebook.com",
    );
    write(dir.path(), "graphform.yaml", &policy);
    graphform_snapshot!(
        "policy_graph_url_without_scheme",
        graphform(dir.path()).arg("validate")
    );
}

/// A TCP server on 127.0.0.2 that answers every connection with bytes that
/// are not TLS; counts the connections.
fn not_tls_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.2:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(b"HTTP/1.1 400 not tls\r\n\r\ngarbage");
        }
    });
    (port, count)
}

#[test]
fn a_tls_failure_is_not_retried_and_says_what_to_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, connections) = not_tls_server();
    let _settings = settings().bind_to_scope();
    graphform_snapshot!(
        offline(dir.path())
            .arg("plan")
            .env("GRAPHFORM_GRAPH_URL", format!("https://127.0.0.2:{port}"))
    );
    assert_eq!(connections.load(Ordering::SeqCst), 1, "one attempt only");
}

/// What a misbehaving server does with each connection, once the
/// request's head has arrived.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Holds the connection open and never answers.
    Silent,
    /// Closes its side without a byte of answer.
    Close,
}

/// A server on 127.0.0.2 that accepts every connection and misbehaves so;
/// its port.
fn misbehaving(misbehaviour: Misbehaviour) -> u16 {
    let listener = TcpListener::bind("127.0.0.2:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            read_head(&mut stream);
            match misbehaviour {
                Misbehaviour::Silent => held.push(stream),
                Misbehaviour::Close => {
                    // A FIN, then whatever the client still sends, so that
                    // closing is not a reset.
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                    let _ = std::io::copy(&mut stream, &mut std::io::sink());
                }
            }
        }
    });
    port
}

/// Reads until the end of a request's head.
fn read_head(stream: &mut std::net::TcpStream) {
    let mut seen = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !seen.windows(4).any(|window| window == b"\r\n\r\n") {
        match std::io::Read::read(stream, &mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => seen.extend_from_slice(&buffer[..read]),
        }
    }
}

/// That `text` shows no credential and no request query (which carries
/// `access_token` and `appsecret_proof`).
#[track_caller]
fn assert_no_secret(text: &str) {
    for secret in [
        "EAAadmintokenneverprinted",
        "appsecretneverprinted",
        "access_token",
        "appsecret_proof",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

/// A server that accepts the connection and then never answers, or
/// closes it: the error and each retry line name the URL and what
/// happened.
#[test]
fn a_server_that_accepts_and_fails_names_the_url_and_what_happened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _settings = settings().bind_to_scope();
    for (misbehaviour, name) in [
        (Misbehaviour::Silent, "server_never_answers"),
        (Misbehaviour::Close, "server_closes_the_connection"),
    ] {
        let port = misbehaving(misbehaviour);
        let (code, text) = run(offline(dir.path())
            .arg("plan")
            .env("GRAPHFORM_GRAPH_URL", format!("http://127.0.0.2:{port}"))
            .env("GRAPHFORM_REQUEST_TIMEOUT_MS", "300"));
        assert_eq!(code, 1, "{text}");
        assert_no_secret(&text);
        let _filters = crate::common::filters().bind_to_scope();
        insta::assert_snapshot!(name, text);
    }
}

/// A refused connection is retried for seconds: its first line shows at
/// once, while graphform still works (printed before the wait, not
/// buffered until the end).
#[test]
fn the_first_retry_line_shows_at_once() {
    use std::io::BufRead as _;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = offline(dir.path())
        .arg("plan")
        .env(
            "GRAPHFORM_GRAPH_URL",
            format!("http://127.0.0.2:{}", closed_port()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("a line");
    // Four more attempts and their backoffs are still ahead.
    let running = child.try_wait().expect("waitable").is_none();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    let status = child.wait().expect("exits");
    assert!(
        running,
        "the first line came only at the end: {first}{rest}"
    );
    assert!(
        first.starts_with("cannot connect to the Graph API at http://127.0.0.2:")
            && first.contains(
                ": connection refused (nothing listens at that address and port); retrying in "
            )
            && first.ends_with(", attempt 2 of 5\n"),
        "{first}"
    );
    assert_eq!(status.code(), Some(1), "{first}{rest}");
    assert_no_secret(&format!("{first}{rest}"));
}

const ESC: &str = "\u{1b}[";

#[test]
fn third_party_logs_follow_color_never_and_show_no_secret() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let secrets: Vec<String> = emulator
        .env
        .iter()
        .filter(|(name, _)| name != "GRAPHFORM_GRAPH_URL")
        .map(|(_, value)| value.clone())
        .chain([key.clone()])
        .collect();
    let runs: [(&str, &[&str], Option<&str>); 4] = [
        ("-vvv", &["--color", "never", "-vvv", "plan"], None),
        ("RUST_LOG", &["--color", "never", "plan"], Some("trace")),
        (
            "apply",
            &["--color", "never", "-vvv", "apply", "--auto-approve"],
            None,
        ),
        ("status", &["-vvv", "status", "--check"], Some("trace")),
    ];
    for (what, args, log) in runs {
        let mut command = graphform(dir.path());
        with_env(&mut command, &emulator, &key)
            .args(args)
            .env_remove("NO_COLOR")
            .env("CLICOLOR_FORCE", "1");
        if let Some(filter) = log {
            command.env("RUST_LOG", filter);
        }
        if what == "status" {
            // `auto` on a pipe, without CLICOLOR_FORCE: no colour either.
            command.env_remove("CLICOLOR_FORCE");
        }
        let (code, text) = run(&mut command);
        assert_eq!(code, 0, "{what}: {text}");
        assert!(
            text.contains("TRACE") && text.contains("hyper_util::"),
            "{what}: third-party trace lines: {text}"
        );
        assert!(!text.contains(ESC), "{what}: {text}");
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what}: a secret in {text}"
            );
        }
    }
    // Refused credentials at trace level: neither the garbage values
    // nor the real ones appear.
    for variable in ["ACME_ADMIN_TOKEN", "REPORTING_APP_SECRET"] {
        let mut command = graphform(dir.path());
        with_env(&mut command, &emulator, &key)
            .args(["--color", "never", "-vvv", "plan"])
            .env(variable, "garbagecredential");
        let (code, text) = run(&mut command);
        assert_eq!(code, 1, "{text}");
        assert!(!text.contains(ESC), "{text}");
        assert!(!text.contains("garbagecredential"), "{variable}: {text}");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{variable}: {text}");
        }
    }
}

/// Every command that talks to Meta, with a garbage admin token and with a
/// garbage app secret: each names the variable and says what to do.
#[test]
fn refused_credentials_name_their_variable_in_every_command() {
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = workspace(dir.path());
    let _settings = settings().bind_to_scope();
    let commands: [(&str, &[&str]); 4] = [
        ("plan", &["plan"]),
        ("apply", &["apply", "--auto-approve"]),
        ("status_check", &["status", "--check"]),
        (
            "import",
            &[
                "import",
                "--token-env",
                "HANDMADE_TOKEN",
                "acme/ci-reporting/token/insights-read",
            ],
        ),
    ];
    // Once with no system user yet, once after an apply made it (status
    // and import then ask debug_token about the stored and the given
    // token).
    // Every run a minute after the one apply that succeeds, so that
    // `status` tells them apart whatever the seconds.
    let now = control(emulator.port, "clock")["now"]
        .as_i64()
        .expect("the emulator's clock");
    for round in ["fresh", "applied"] {
        if round == "applied" {
            let mut apply = graphform(dir.path());
            let (code, text) = run(with_env(&mut apply, &emulator, &key)
                .args(["apply", "--auto-approve"])
                .env("GRAPHFORM_NOW", now.to_string()));
            assert_eq!(code, 0, "{text}");
        }
        for (variable, short) in [
            ("ACME_ADMIN_TOKEN", "admin_token"),
            ("REPORTING_APP_SECRET", "app_secret"),
        ] {
            for (name, args) in commands {
                let mut command = graphform(dir.path());
                with_env(&mut command, &emulator, &key)
                    .args(args)
                    .env("GRAPHFORM_NOW", (now + 60).to_string())
                    .env(variable, "garbage")
                    .env("HANDMADE_TOKEN", "EAAhandmadetoken");
                graphform_snapshot!(format!("{round}_{name}_garbage_{short}"), &mut command);
            }
        }
    }
}

/// The API version belongs in `graph.api_version`: a base URL that ends
/// in one would have it twice in every request, which Meta refuses with
/// an "unsupported get request".
#[test]
fn a_graph_url_with_the_api_version_is_refused_where_it_was_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _settings = settings().bind_to_scope();
    graphform_snapshot!(
        "graph_url_with_version",
        offline(dir.path()).arg("plan").env(
            "GRAPHFORM_GRAPH_URL",
            format!("http://127.0.0.2:{}/v26.0", closed_port())
        )
    );
    let policy = quickstart().replace(
        "version: 1",
        "version: 1\ngraph:\n  url: https://graph.facebook.com/v26.0/",
    );
    write(dir.path(), "graphform.yaml", &policy);
    graphform_snapshot!(
        "policy_graph_url_with_version",
        graphform(dir.path()).arg("validate")
    );
}

/// An empty variable, as CI leaves one it does not set, is no URL: it
/// is read as unset, and the policy's `graph.url` applies (a server that
/// is not TLS, so that the one attempt names it).
#[test]
fn an_empty_graph_url_variable_is_unset() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Before the policy: the first `offline` writes the quickstart's.
    let mut command = offline(dir.path());
    let (port, _) = not_tls_server();
    let url = format!("https://127.0.0.2:{port}");
    let policy = quickstart().replace("version: 1", &format!("version: 1\ngraph:\n  url: {url}"));
    write(dir.path(), "graphform.yaml", &policy);
    let _settings = settings().bind_to_scope();
    graphform_snapshot!(
        "empty_graph_url_variable",
        command.arg("plan").env("GRAPHFORM_GRAPH_URL", "")
    );
}
