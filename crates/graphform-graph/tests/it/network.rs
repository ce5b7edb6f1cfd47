//! A server that accepts the connection and then fails the call: it never
//! answers, it closes the connection, it resets it. Each error names the
//! base URL (never the request's query, which carries the proof), where it
//! was set and what happened in plain words; each wait line says the same;
//! reads are retried, a mutation is not (its outcome is unknown).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use graphform_graph::{
    AnswerFailure, ConnectFailure, ErrorClass, ErrorKind, GraphClient, GraphError, VirtualClock,
    Wait, WaitReason,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{
    ADMIN_TOKEN, BUSINESS, CI_SYSTEM_USER, REPORTING_SECRET, admin, ads_read, assert_failed,
    client_on, issue_must_fail, list_acme,
};

/// What the test server does with each connection, once the request's
/// head has arrived.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Nothing: holds the connection open and never answers.
    Silent,
    /// Closes its side (a FIN) without a byte of answer.
    Close,
    /// Starts an answer, then closes half-way through its body.
    CloseMidAnswer,
    /// Resets the connection (an RST).
    Reset,
}

/// A server on 127.0.0.2 (no emulator of a parallel test binds it) that
/// misbehaves so with every connection; its base URL.
async fn misbehaving(misbehaviour: Misbehaviour) -> String {
    let listener = TcpListener::bind("127.0.0.2:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            read_head(&mut stream).await;
            match misbehaviour {
                Misbehaviour::Silent => held.push(stream),
                Misbehaviour::Close => drop(stream.shutdown().await),
                Misbehaviour::CloseMidAnswer => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"data\":";
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
                Misbehaviour::Reset => {
                    let _ = stream.set_zero_linger();
                    drop(stream);
                }
            }
        }
    });
    format!("http://127.0.0.2:{port}")
}

/// Reads until the end of the request's head (a GET has no body).
async fn read_head(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !seen.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => seen.extend_from_slice(&buffer[..read]),
        }
    }
}

/// A client of `base_url` with a short request timeout, its wait lines
/// recorded.
fn observed_client(
    base_url: &str,
    attempts: u32,
) -> (GraphClient, VirtualClock, Arc<Mutex<Vec<Wait>>>) {
    let (client, clock) = client_on(base_url, 7, |settings| {
        settings.request_timeout = Duration::from_millis(200);
        settings.retry.max_attempts = attempts;
        settings.base_url_origin = Some("from `GRAPHFORM_GRAPH_URL`".to_owned());
    });
    let waits: Arc<Mutex<Vec<Wait>>> = Arc::default();
    let record = Arc::clone(&waits);
    client.on_wait(Arc::new(move |wait: &Wait| {
        record.lock().expect("not poisoned").push(wait.clone());
    }));
    (client, clock, waits)
}

/// That nothing secret is in `error` (shown or debugged) or the wait
/// lines.
#[track_caller]
fn assert_no_secret(error: &GraphError, waits: &[Wait]) {
    let shown = format!("{error} {error:?} {waits:?}")
        + &waits.iter().map(ToString::to_string).collect::<String>();
    let proof = admin().appsecret_proof();
    for secret in [ADMIN_TOKEN, REPORTING_SECRET, proof.expose()] {
        assert!(!shown.contains(secret), "a secret in {shown}");
    }
    assert!(!shown.contains("appsecret_proof"), "a query in {shown}");
}

/// The failure after connecting, if `error` is one.
fn answer_failure(error: &GraphError) -> Option<AnswerFailure> {
    match error.kind() {
        ErrorKind::NoAnswer(answer) => Some(answer.failure),
        _ => None,
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout_naming_the_url_and_retried_for_reads() {
    let url = misbehaving(Misbehaviour::Silent).await;
    let (client, clock, waits) = observed_client(&url, 3);
    let error = list_acme(&client).await.unwrap_err();
    assert_failed(&error, ErrorClass::Transient, None, 3);
    assert_eq!(
        answer_failure(&error),
        Some(AnswerFailure::TimedOut {
            after: Duration::from_millis(200)
        })
    );
    assert_eq!(
        error.to_string(),
        format!(
            "GET /{{business}}/system_users for {BUSINESS}: no answer from the Graph API at {url}/ (from `GRAPHFORM_GRAPH_URL`): the server accepted the connection but sent no complete answer within 0.2 s (the request timeout) (after 3 attempts)"
        )
    );
    assert_eq!(
        error.answer_failure().map(|(_, at)| at.to_string()),
        Some(format!("{url}/"))
    );
    let waits = waits.lock().expect("not poisoned").clone();
    assert_eq!(clock.sleeps().len(), 2);
    let lines: Vec<String> = waits.iter().map(ToString::to_string).collect();
    for (n, line) in lines.iter().enumerate() {
        let expected = format!(
            "no answer from the Graph API at {url}/: the server accepted the connection but sent no complete answer within 0.2 s (the request timeout); retrying in "
        );
        assert!(line.starts_with(&expected), "{line}");
        assert!(
            line.ends_with(&format!(", attempt {} of 3", n + 2)),
            "{line}"
        );
    }
    assert_no_secret(&error, &waits);
}

#[tokio::test]
async fn a_mutation_whose_server_never_answers_is_outcome_unknown_naming_the_url() {
    let url = misbehaving(Misbehaviour::Silent).await;
    let (client, clock, waits) = observed_client(&url, 3);
    let error = issue_must_fail(&client).await;
    assert_failed(&error, ErrorClass::OutcomeUnknown, None, 1);
    assert!(clock.sleeps().is_empty(), "never retried");
    assert_eq!(
        error.to_string(),
        format!(
            "POST /{{system-user}}/access_tokens for acme/ci-reporting: outcome unknown, the change may or may not have been made: no answer from the Graph API at {url}/ (from `GRAPHFORM_GRAPH_URL`): the server accepted the connection but sent no complete answer within 0.2 s (the request timeout)"
        )
    );
    assert_no_secret(&error, &waits.lock().expect("not poisoned"));
}

#[tokio::test]
async fn a_closed_or_reset_connection_names_the_url_and_what_happened() {
    let cases = [
        (
            Misbehaviour::Close,
            AnswerFailure::Closed,
            "the server closed the connection before its answer was complete",
        ),
        (
            Misbehaviour::CloseMidAnswer,
            AnswerFailure::Closed,
            "the server closed the connection before its answer was complete",
        ),
        (
            Misbehaviour::Reset,
            AnswerFailure::Reset,
            "the connection was reset before the answer was complete",
        ),
    ];
    for (misbehaviour, failure, words) in cases {
        let url = misbehaving(misbehaviour).await;
        let (client, clock, waits) = observed_client(&url, 2);
        let error = list_acme(&client).await.unwrap_err();
        assert_failed(&error, ErrorClass::Transient, None, 2);
        assert_eq!(answer_failure(&error), Some(failure), "{error}");
        assert_eq!(
            error.to_string(),
            format!(
                "GET /{{business}}/system_users for {BUSINESS}: no answer from the Graph API at {url}/ (from `GRAPHFORM_GRAPH_URL`): {words} (after 2 attempts)"
            )
        );
        assert_eq!(clock.sleeps().len(), 1);
        let waits = waits.lock().expect("not poisoned").clone();
        assert_eq!(waits.len(), 1);
        let line = waits[0].to_string();
        assert!(
            line.starts_with(&format!(
                "no answer from the Graph API at {url}/: {words}; retrying in "
            )) && line.ends_with(", attempt 2 of 2"),
            "{line}"
        );
        assert_no_secret(&error, &waits);

        // A mutation is not sent again: its outcome is unknown.
        let (client, clock, _) = observed_client(&url, 3);
        let error = client
            .issue_token(&admin(), CI_SYSTEM_USER, &ads_read())
            .await
            .unwrap_err();
        assert_failed(&error, ErrorClass::OutcomeUnknown, None, 1);
        assert!(clock.sleeps().is_empty());
        assert!(
            error
                .to_string()
                .contains(&format!("at {url}/ (from `GRAPHFORM_GRAPH_URL`): {words}")),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_says_so_in_each_wait_line_before_the_wait() {
    let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.2:{port}");
    let (client, clock) = client_on(&url, 7, |settings| {
        settings.retry.max_attempts = 3;
    });
    // Each line, and how many waits the clock had made when it was told:
    // the line before the n-th wait comes when n - 1 were made.
    let told: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let (record, observed) = (Arc::clone(&told), clock.clone());
    client.on_wait(Arc::new(move |wait: &Wait| {
        assert!(
            matches!(wait.reason, WaitReason::Network { .. }),
            "{wait:?}"
        );
        let slept = observed.sleeps().len();
        record
            .lock()
            .expect("not poisoned")
            .push((wait.to_string(), slept));
    }));
    let error = list_acme(&client).await.unwrap_err();
    assert_eq!(
        error.connect_failure().map(|(failure, _)| failure),
        Some(ConnectFailure::Refused)
    );
    assert_eq!(clock.sleeps().len(), 2);
    let told = told.lock().expect("not poisoned").clone();
    assert_eq!(told.len(), 2);
    for (n, (line, slept)) in told.iter().enumerate() {
        assert_eq!(*slept, n, "told before its wait: {line}");
        assert!(
            line.starts_with(&format!(
                "cannot connect to the Graph API at {url}/: connection refused (nothing listens at that address and port); retrying in "
            )) && line.ends_with(&format!(", attempt {} of 3", n + 2)),
            "{line}"
        );
        assert!(
            !line.contains(ADMIN_TOKEN) && !line.contains("appsecret_proof"),
            "{line}"
        );
    }
}
