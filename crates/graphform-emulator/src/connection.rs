//! Connections that can be cut on purpose, for the `lost_answer` network
//! fault: the listener wraps each accepted TCP stream in a [`Connection`]
//! whose [`Cutter`] a request handler reaches through `ConnectInfo`. Armed,
//! the cutter lets the answer's status line and headers through (with
//! their full `Content-Length`), then the given number of body bytes, then
//! fails every write, so that hyper drops the connection half-way through
//! the answer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The emulator's listener: a TCP listener whose connections can be cut.
pub(crate) struct Listener(pub(crate) TcpListener);

impl axum::serve::Listener for Listener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (
            Connection {
                stream,
                cutter: Cutter::default(),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// One accepted connection.
pub(crate) struct Connection {
    stream: TcpStream,
    cutter: Cutter,
}

/// The handle a request handler uses to cut its own connection.
#[derive(Clone, Default)]
pub(crate) struct Cutter(Arc<Mutex<Plan>>);

impl Connected<IncomingStream<'_, Listener>> for Cutter {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        stream.io().cutter.clone()
    }
}

/// What the next writes may send.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
enum Plan {
    /// Everything.
    #[default]
    Pass,
    /// The head of the next answer, then `keep` more bytes.
    Armed {
        keep: usize,
        /// How much of `\r\n\r\n` the bytes so far end with (4 = the head
        /// is complete).
        matched: u8,
        /// Body bytes sent so far.
        sent: usize,
    },
    /// Nothing: the connection is cut.
    Cut,
}

impl Plan {
    /// How many of `bytes` may be written now, and the plan after writing
    /// them.
    fn allow(self, bytes: &[u8]) -> (usize, Plan) {
        let Plan::Armed {
            keep,
            mut matched,
            mut sent,
        } = self
        else {
            return match self {
                Plan::Cut => (0, Plan::Cut),
                _ => (bytes.len(), self),
            };
        };
        for (i, byte) in bytes.iter().enumerate() {
            if matched == 4 {
                if sent == keep {
                    return (
                        i,
                        Plan::Armed {
                            keep,
                            matched,
                            sent,
                        },
                    );
                }
                sent += 1;
                continue;
            }
            matched = match (matched, byte) {
                (2, b'\r') => 3,
                (_, b'\r') => 1,
                (1, b'\n') => 2,
                (3, b'\n') => 4,
                _ => 0,
            };
        }
        (
            bytes.len(),
            Plan::Armed {
                keep,
                matched,
                sent,
            },
        )
    }
}

impl Cutter {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next answer on this connection is lost before any of it is
    /// sent.
    pub(crate) fn cut_before_headers(&self) {
        *self.plan() = Plan::Cut;
    }

    /// The next answer on this connection is sent up to its headers and
    /// `keep` bytes of its body, then the connection is cut.
    pub(crate) fn cut_after_body_bytes(&self, keep: usize) {
        *self.plan() = Plan::Armed {
            keep,
            matched: 0,
            sent: 0,
        };
    }
}

fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by the emulator (lost_answer fault)",
    )
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let plan = *this.cutter.plan();
        let (allowed, _) = plan.allow(buf);
        if allowed == 0 && !buf.is_empty() {
            *this.cutter.plan() = Plan::Cut;
            return Poll::Ready(Err(lost()));
        }
        match Pin::new(&mut this.stream).poll_write(cx, &buf[..allowed]) {
            Poll::Ready(Ok(written)) => {
                let (_, after) = plan.allow(&buf[..written]);
                *this.cutter.plan() = after;
                Poll::Ready(Ok(written))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armed(keep: usize) -> Plan {
        Plan::Armed {
            keep,
            matched: 0,
            sent: 0,
        }
    }

    #[test]
    fn passes_everything_unless_armed() {
        assert_eq!(Plan::Pass.allow(b"abc"), (3, Plan::Pass));
        assert_eq!(Plan::Cut.allow(b"abc"), (0, Plan::Cut));
    }

    #[test]
    fn lets_the_head_and_some_body_through() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789";
        let head = answer.len() - 10;
        let (allowed, after) = armed(4).allow(answer);
        assert_eq!(allowed, head + 4);
        assert_eq!(after.allow(b"x").0, 0);
        // Split across writes, in the middle of `\r\n\r\n`.
        let (first, plan) = armed(4).allow(&answer[..head - 2]);
        assert_eq!(first, head - 2);
        let (second, plan) = plan.allow(&answer[head - 2..]);
        assert_eq!(second, 6);
        assert_eq!(plan.allow(b"5").0, 0);
        // Nothing of the body.
        assert_eq!(armed(0).allow(answer).0, head);
    }
}
