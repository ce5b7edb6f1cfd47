//! Loopback HTTP servers that answer every request the same way.
//!
//! * [`RedirectTrap`]: answers with a redirect (307, 308, …) to a second
//!   loopback listener, which records whether anything reached it. A
//!   client that follows the redirect would resend its credentials (a
//!   Vault token, an AWS session token) and request body (token values) to
//!   the second address.
//! * [`CannedServer`]: answers with one status and body, for errors a real
//!   test server does not produce (moto does not enforce IAM).
//!
//! Plain blocking sockets on threads, so that they work under any runtime;
//! the listeners stop when the server is dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the listeners look for a connection or for being stopped.
const POLL: Duration = Duration::from_millis(5);
/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a request that is read (headers and body).
const MAX_REQUEST: usize = 1024 * 1024;

/// The redirecting server and the listener it redirects to.
pub struct RedirectTrap {
    redirector: Listener,
    target: Listener,
}

impl std::fmt::Debug for RedirectTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectTrap")
            .field("url", &self.url())
            .field("redirects", &self.redirects())
            .field("target_contacted", &self.target_contacted())
            .finish()
    }
}

impl RedirectTrap {
    /// Starts both: every request to [`RedirectTrap::url`] is answered
    /// with `status` (e.g. 307), a `Location` on the second listener and
    /// `body` as JSON.
    ///
    /// # Panics
    ///
    /// When a loopback port cannot be bound.
    pub fn start(status: u16, body: &str) -> Self {
        let target = Listener::start(|| {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
             Connection: close\r\n\r\n{}"
                .to_owned()
        });
        let location = format!("http://127.0.0.1:{}/redirected", target.port);
        let body = body.to_owned();
        let redirector = Listener::start(move || {
            format!(
                "HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
        });
        Self { redirector, target }
    }

    /// The redirecting server's address, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.redirector.port)
    }

    /// How many requests the redirecting server answered.
    pub fn redirects(&self) -> usize {
        self.redirector.requests.load(Ordering::SeqCst)
    }

    /// Whether anything connected to the listener redirected to.
    pub fn target_contacted(&self) -> bool {
        self.target.connections.load(Ordering::SeqCst) > 0
    }
}

/// A server that answers every request with the same status and body.
pub struct CannedServer {
    listener: Listener,
}

impl std::fmt::Debug for CannedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CannedServer")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl CannedServer {
    /// Starts a server whose every answer is `status` with `body` of
    /// `content_type`.
    ///
    /// # Panics
    ///
    /// When a loopback port cannot be bound.
    pub fn start(status: u16, content_type: &str, body: &str) -> Self {
        let answer = format!(
            "HTTP/1.1 {status} Canned\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        Self {
            listener: Listener::start(move || answer.clone()),
        }
    }

    /// Its address, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.listener.port)
    }
}

struct Listener {
    port: u16,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
    /// Requests read whole and answered.
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn start(answer: impl Fn() -> String + Send + 'static) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (connections, requests, stop) = (
                Arc::clone(&connections),
                Arc::clone(&requests),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            connections.fetch_add(1, Ordering::SeqCst);
                            if read_request(&stream).is_some() {
                                requests.fetch_add(1, Ordering::SeqCst);
                                let _ = (&stream).write_all(answer().as_bytes());
                                let _ = (&stream).flush();
                            }
                        }
                        Err(error) if error.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(POLL);
                        }
                        Err(_) => std::thread::sleep(POLL),
                    }
                }
            })
        };
        Self {
            port,
            connections,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one HTTP/1.1 request: the headers and a `Content-Length` body
/// (`None`: cut off or too large).
fn read_request(stream: &TcpStream) -> Option<Vec<u8>> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    let mut request = Vec::new();
    let mut buffer = [0_u8; 8192];
    loop {
        if let Some(end) = find(&request, b"\r\n\r\n") {
            let headers = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = headers
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return Some(request);
            }
        }
        if request.len() > MAX_REQUEST {
            return None;
        }
        let read = (&*stream).read(&mut buffer).ok()?;
        if read == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
