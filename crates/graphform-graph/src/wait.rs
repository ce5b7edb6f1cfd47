//! Waits the client makes before trying again, told to whoever runs it
//! (issue 14: "Meta asked to slow down (code 17); waiting 58 s, attempt 2
//! of 5"), so a long throttle is not mistaken for a hang.
//!
//! The client calls the observer set with
//! [`GraphClient::on_wait`](crate::GraphClient::on_wait) right before each
//! such wait: a throttled call or batch round, a retried failure, a pause
//! because usage reached the limit. A [`Wait`] names no token, secret or
//! object ID: only what happened, how long, and which attempt is next.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::error::ErrorKind;

/// Told of each wait before it starts.
pub type WaitObserver = Arc<dyn Fn(&Wait) + Send + Sync>;

/// Where a client keeps its observer: set at most once, shared by its
/// clones.
#[derive(Default)]
pub(crate) struct WaitSlot(OnceLock<WaitObserver>);

impl WaitSlot {
    /// Sets the observer; `false` if one was set already.
    pub(crate) fn set(&self, observer: WaitObserver) -> bool {
        self.0.set(observer).is_ok()
    }

    /// Tells the observer, if any, of `wait`.
    pub(crate) fn notify(&self, wait: &Wait) {
        if let Some(observer) = self.0.get() {
            observer(wait);
        }
    }
}

impl fmt::Debug for WaitSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.0.get().is_some() {
            "observed"
        } else {
            "unobserved"
        };
        f.write_str(state)
    }
}

/// A wait before a call (or a batch round) is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Why.
    pub reason: WaitReason,
    /// How long.
    pub delay: Duration,
    /// The attempt (or batch round) that follows the wait, 2 for the
    /// first retry; `None` for a pause before a call's first attempt.
    pub attempt: Option<u32>,
    /// The most attempts (or rounds) a call is given.
    pub max_attempts: u32,
}

/// Why the client waits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitReason {
    /// Meta answered with a throttling error (codes 4, 17, 32, 613, …);
    /// `code` is `None` for throttled batch items (their code is per item).
    Throttled {
        /// Meta's error code.
        code: Option<i64>,
    },
    /// A call failed in a way that may pass when repeated: `what` says
    /// how (`Meta answered code 2`, `HTTP 503`, …).
    Failed {
        /// How it failed, in a few words.
        what: String,
    },
    /// The Graph API could not be reached, or sent no complete answer:
    /// `problem` says where and what happened in the words of the error
    /// the call ends with if every attempt fails (`cannot connect to the
    /// Graph API at http://127.0.0.1:9/: connection refused …`), without
    /// where the URL was set. It names the base URL only, never a query.
    Network {
        /// Where and what, as [`NetworkError::summary`](crate::NetworkError::summary) says it.
        problem: String,
    },
    /// Batch items failed and are sent again in another round.
    BatchItems {
        /// How many.
        items: usize,
        /// Whether Meta throttled them.
        throttled: bool,
    },
    /// Meta's rate-limit headers reached the pause threshold: the client
    /// stops calling until usage should have come down.
    UsagePause {
        /// The highest usage percentage read.
        percent: u32,
    },
}

impl WaitReason {
    /// The reason for a failure of `kind`.
    pub(crate) fn failed(kind: &ErrorKind) -> Self {
        let what = match kind {
            ErrorKind::Api(api) => format!("Meta answered code {}", api.code),
            ErrorKind::Http { status, .. } => format!("HTTP {status} without Meta's answer"),
            ErrorKind::InvalidResponse { status, .. } => {
                format!("an unreadable answer (HTTP {status})")
            }
            ErrorKind::Connect(connect) => {
                return Self::Network {
                    problem: connect.summary(),
                };
            }
            ErrorKind::NoAnswer(answer) => {
                return Self::Network {
                    problem: answer.summary(),
                };
            }
            _ => "a failure".to_owned(),
        };
        Self::Failed { what }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let delay = Seconds(self.delay);
        match &self.reason {
            WaitReason::Throttled { code: Some(code) } => {
                write!(f, "Meta asked to slow down (code {code}); waiting {delay}")?;
            }
            WaitReason::Throttled { code: None } => {
                write!(f, "Meta asked to slow down; waiting {delay}")?;
            }
            WaitReason::Failed { what } => {
                write!(f, "a Graph API call failed ({what}); retrying in {delay}")?;
            }
            WaitReason::Network { problem } => write!(f, "{problem}; retrying in {delay}")?,
            WaitReason::BatchItems { items, throttled } => {
                let noun = if *items == 1 { "item" } else { "items" };
                if *throttled {
                    write!(
                        f,
                        "Meta asked to slow down for {items} batch {noun}; waiting {delay}"
                    )?;
                } else {
                    write!(f, "{items} batch {noun} failed; retrying in {delay}")?;
                }
            }
            WaitReason::UsagePause { percent } => write!(
                f,
                "Meta's rate-limit usage is at {percent} %; pausing {delay} before the next call"
            )?,
        }
        if let Some(attempt) = self.attempt {
            let word = if matches!(self.reason, WaitReason::BatchItems { .. }) {
                "round"
            } else {
                "attempt"
            };
            write!(f, ", {word} {attempt} of {}", self.max_attempts)?;
        }
        Ok(())
    }
}

/// A delay as people read it: `0.4 s`, `58 s`, `4 min 10 s`.
pub(crate) struct Seconds(pub(crate) Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs_f64();
        if seconds < 10.0 {
            write!(f, "{seconds:.1} s")
        } else if seconds < 120.0 {
            write!(f, "{} s", seconds.round())
        } else {
            let whole = self.0.as_secs();
            match whole % 60 {
                0 => write!(f, "{} min", whole / 60),
                rest => write!(f, "{} min {rest} s", whole / 60),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(reason: WaitReason, millis: u64, attempt: Option<u32>) -> String {
        Wait {
            reason,
            delay: Duration::from_millis(millis),
            attempt,
            max_attempts: 5,
        }
        .to_string()
    }

    #[test]
    fn each_wait_is_one_line_people_read() {
        assert_eq!(
            wait(WaitReason::Throttled { code: Some(17) }, 58_300, Some(2)),
            "Meta asked to slow down (code 17); waiting 58 s, attempt 2 of 5"
        );
        assert_eq!(
            wait(
                WaitReason::Failed {
                    what: "HTTP 503 without Meta's answer".to_owned()
                },
                420,
                Some(3)
            ),
            "a Graph API call failed (HTTP 503 without Meta's answer); retrying in 0.4 s, attempt 3 of 5"
        );
        assert_eq!(
            wait(
                WaitReason::BatchItems {
                    items: 12,
                    throttled: true
                },
                250_000,
                Some(2)
            ),
            "Meta asked to slow down for 12 batch items; waiting 4 min 10 s, round 2 of 5"
        );
        assert_eq!(
            wait(
                WaitReason::Network {
                    problem: "cannot connect to the Graph API at http://127.0.0.1:9/: connection refused (nothing listens at that address and port)".to_owned()
                },
                420,
                Some(2)
            ),
            "cannot connect to the Graph API at http://127.0.0.1:9/: connection refused (nothing listens at that address and port); retrying in 0.4 s, attempt 2 of 5"
        );
        assert_eq!(
            wait(WaitReason::UsagePause { percent: 96 }, 300_000, None),
            "Meta's rate-limit usage is at 96 %; pausing 5 min before the next call"
        );
    }
}
