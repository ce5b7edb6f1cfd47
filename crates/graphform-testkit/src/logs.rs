//! What a `tracing` subscriber writes, kept in memory for a test to read.
//!
//! Tests that prove "no secret in any log line" install a subscriber at
//! `TRACE` and look through its output. Two ways to install it:
//!
//! * [`Capture::scoped`] for the calling thread only (a current-thread
//!   runtime inside it is covered);
//! * [`Capture::init_global`] for the whole test binary, which also takes in
//!   the `log` records of libraries that use `log` (reqwest, hyper,
//!   rustls); then keep that test alone in its binary.
//!
//! Either way, keep such a test in a binary of its own: `tracing` caches per
//! call site whether anyone listens, and another test hitting the same call
//! sites concurrently without a subscriber can make this one miss events.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;

/// A writer into a shared in-memory buffer, and a `MakeWriter` of itself:
/// clones write into the same buffer.
#[derive(Clone, Debug, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// A subscriber that writes every event, down to `TRACE`, without
    /// colours, into this capture.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish()
    }

    /// Installs [`Capture::subscriber`] as the global default (and the `log`
    /// bridge).
    ///
    /// # Panics
    ///
    /// When a global subscriber is installed already: one per test binary.
    pub fn init_global(&self) {
        self.subscriber()
            .try_init()
            .expect("the only global subscriber of this test binary");
    }

    /// Runs `work` with [`Capture::subscriber`] as this thread's default.
    pub fn scoped<T>(&self, work: impl FnOnce() -> T) -> T {
        tracing::subscriber::with_default(self.subscriber(), work)
    }

    /// Everything written so far (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Checks that the logs hold each of `expected`.
    ///
    /// # Panics
    ///
    /// Naming the first one missing, with the end of the logs.
    pub fn assert_contains(&self, expected: &[&str]) {
        let logs = self.text();
        for expected in expected {
            assert!(
                logs.contains(expected),
                "{expected:?} missing from the logs, which end with:\n{}",
                tail(&logs)
            );
        }
    }

    /// Checks that the logs hold none of `secrets`; the panic message
    /// names the secret by its position in `secrets`, never by its value.
    ///
    /// # Panics
    ///
    /// When one is found.
    pub fn assert_free_of<S: AsRef<str>>(&self, secrets: &[S]) {
        let logs = self.text();
        for (index, secret) in secrets.iter().enumerate() {
            assert!(
                !logs.contains(secret.as_ref()),
                "secret #{index} of {} is in the logs",
                secrets.len()
            );
        }
    }
}

/// The last few thousand bytes of `logs`, at a character boundary.
fn tail(logs: &str) -> &str {
    let mut start = logs.len().saturating_sub(4_000);
    while !logs.is_char_boundary(start) {
        start += 1;
    }
    &logs[start..]
}

impl io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scoped_capture_sees_events_at_trace_level() {
        let capture = Capture::new();
        capture.scoped(|| tracing::trace!(answer = 42, "deep detail"));
        tracing::info!("not captured: outside the scope");
        capture.assert_contains(&["TRACE", "deep detail", "answer=42"]);
        capture.assert_free_of(&["not captured"]);
    }

    #[test]
    #[should_panic(expected = "secret #1 of 2 is in the logs")]
    fn a_secret_found_is_named_by_position_only() {
        let capture = Capture::new();
        capture.scoped(|| tracing::info!("value EAAGsecret"));
        capture.assert_free_of(&["absent", "EAAGsecret"]);
    }
}
