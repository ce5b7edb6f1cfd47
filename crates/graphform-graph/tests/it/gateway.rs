//! Answers the emulator cannot give: a gateway's 502/503 page and a 2xx
//! body that is not JSON, from a minimal HTTP responder on 127.0.0.1. They
//! decide between "retry" and "outcome unknown".

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use graphform_graph::{ErrorClass, ErrorKind, GraphClient, VirtualClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{
    CI_SYSTEM_USER, admin, ads_read, assert_failed, client_on, read_ci_reporting,
};

/// Serves `status` and `body` to every request; counts the requests.
struct Responder {
    base_url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Responder {
    async fn start(status: &'static str, body: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base_url = format!("http://{}", listener.local_addr().expect("an address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    // Read the head and the announced body, then answer once.
                    let mut seen = Vec::new();
                    let mut buffer = [0_u8; 4096];
                    loop {
                        let Ok(n) = socket.read(&mut buffer).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buffer[..n]);
                        let text = String::from_utf8_lossy(&seen).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|line| {
                                    let (name, value) = line.split_once(':')?;
                                    name.eq_ignore_ascii_case("content-length")
                                        .then(|| value.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if seen.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            base_url,
            requests,
            task,
        }
    }

    fn client(&self) -> (GraphClient, VirtualClock) {
        client_on(&self.base_url, 9, |settings| {
            settings.retry.max_attempts = 3;
        })
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a read comes to when every answer is the same.
enum Read {
    /// A gateway's error page: retried until the attempts (3) run out.
    Retried,
    /// A success status with a body that is not JSON: an invalid
    /// response, not retried.
    Invalid,
}

/// The status line and body given to every request, and what a read
/// comes to.
const CASES: [(&str, &str, Read); 3] = [
    ("502 Bad Gateway", "<html>bad gateway</html>", Read::Retried),
    // See: issue 10, defect 7. A gateway's 503 page does not prove that
    // the request never reached Meta: a token may have been minted behind
    // it. A read is repeated: repeating it is harmless.
    (
        "503 Service Unavailable",
        "Service Unavailable",
        Read::Retried,
    ),
    ("200 OK", "<html>not json</html>", Read::Invalid),
];

/// Against a responder giving each case's answer to everything: an
/// issuance is sent once and is "outcome unknown", without a wait; a read
/// ends as the case says.
#[tokio::test]
async fn gateway_errors_and_unreadable_successes_are_outcome_unknown_for_issuance() {
    for (status, body, read) in &CASES {
        let code: u16 = status[..3].parse().expect("a status code");
        let responder = Responder::start(status, body).await;
        let (client, clock) = responder.client();
        let error = client
            .issue_token(&admin(), CI_SYSTEM_USER, &ads_read())
            .await
            .unwrap_err();
        assert_failed(&error, ErrorClass::OutcomeUnknown, None, 1);
        let says = match read {
            Read::Retried => format!("http {code}"),
            Read::Invalid => "the body is not the expected json".to_owned(),
        };
        assert!(error.to_string().contains(&says), "{error}");
        assert!(clock.sleeps().is_empty(), "{status}");
        assert_eq!(
            responder.requests(),
            1,
            "{status}: issuance was not repeated"
        );

        let error = read_ci_reporting(&client).await.unwrap_err();
        let attempts = match read {
            Read::Retried => {
                assert!(
                    matches!(error.kind(), ErrorKind::Http { status, .. } if *status == code),
                    "{error:?}"
                );
                assert_failed(&error, ErrorClass::Transient, None, 3);
                3
            }
            Read::Invalid => {
                assert!(
                    matches!(error.kind(), ErrorKind::InvalidResponse { status: 200, .. }),
                    "{error:?}"
                );
                assert_failed(&error, ErrorClass::Other, None, 1);
                1
            }
        };
        assert_eq!(
            responder.requests(),
            1 + attempts,
            "{status}: each attempt of the read was one request"
        );
    }
}

// See: issue 10, defect 2. Only Meta's documented success answer means
// done: a proxy's HTML page with status 200, `{}`, `null` or a 200 that
// carries an error object say nothing of whether the token was revoked.
#[tokio::test]
async fn a_revoke_is_done_only_on_the_documented_success_answer() {
    use graphform_graph::Secret;
    for body in [
        "<html><body>Please sign in to the proxy</body></html>",
        "{}",
        "null",
        "{\"error\":{\"message\":\"x\",\"code\":1}}",
        "{\"id\":\"1\"}",
        "",
    ] {
        let responder = Responder::start("200 OK", body).await;
        let (client, _clock) = responder.client();
        let error = client
            .revoke_token(&admin(), &Secret::new("EAAtargettokenvalue0000"))
            .await
            .expect_err(body);
        assert_eq!(error.class(), ErrorClass::OutcomeUnknown, "{body}: {error}");
        assert_eq!(
            responder.requests(),
            1,
            "{body}: a revoke is never repeated"
        );
    }
    for body in ["true", "{\"success\":true}", "{\"success\":\"true\",}"] {
        let responder = Responder::start("200 OK", body).await;
        let (client, _clock) = responder.client();
        client
            .revoke_token(&admin(), &Secret::new("EAAtargettokenvalue0000"))
            .await
            .expect(body);
    }
}
