//! A transparent stream wrapper that keeps the first bytes the server sends, so a probe can read the
//! ServerHello or alert itself, and can stop the handshake as soon as that answer is complete.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::tls::server_hello::{self, ServerReply};

/// Enough for a ServerHello plus a certificate chain; later bytes are not needed.
const CAPTURE_LIMIT: usize = 64 * 1024;

/// The error a tap returns to stop the TLS library once the server's answer is in.
#[derive(Debug)]
pub struct AnswerComplete;

impl std::fmt::Display for AnswerComplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("probe answer complete")
    }
}

impl std::error::Error for AnswerComplete {}

pub struct Tap<S> {
    inner: S,
    received: Vec<u8>,
    sent: usize,
    stop_on_answer: bool,
    answered: bool,
}

impl<S> Tap<S> {
    /// Wraps `inner`; with `stop_on_answer`, reads fail with [`AnswerComplete`] once the server's
    /// first answer (ServerHello, HelloRetryRequest, alert or non-TLS bytes) is complete.
    pub fn new(inner: S, stop_on_answer: bool) -> Self {
        Tap {
            inner,
            received: Vec::new(),
            sent: 0,
            stop_on_answer,
            answered: false,
        }
    }

    /// The bytes received so far (up to the capture limit).
    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// How many bytes were written to the server.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Reads a little more of a non-TLS answer straight from the socket, so an error can quote the
    /// service's first line rather than the 5 bytes the TLS library read as a record header.
    pub async fn read_more(&mut self, wait: std::time::Duration)
    where
        S: AsyncRead + Unpin,
    {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        let deadline = tokio::time::Instant::now() + wait;
        while self.received.len() < 256 {
            match tokio::time::timeout_at(deadline, self.inner.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.received.extend_from_slice(&buf[..n]),
                _ => break,
            }
            if self.received.contains(&b'\n') {
                break;
            }
        }
    }

    /// Whether the read side stopped because the answer was complete.
    pub fn answered(&self) -> bool {
        self.answered
    }
}

fn stop() -> io::Error {
    io::Error::other(AnswerComplete)
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.answered {
            return Poll::Ready(Err(stop()));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                let room = CAPTURE_LIMIT.saturating_sub(this.received.len());
                this.received.extend_from_slice(&new[..new.len().min(room)]);
                if this.stop_on_answer
                    && !new.is_empty()
                    && !matches!(
                        server_hello::parse_server_reply(&this.received),
                        ServerReply::Incomplete
                    )
                {
                    this.answered = true;
                    return Poll::Ready(Err(stop()));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r {
            self.sent += n;
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
