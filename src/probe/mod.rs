//! One connection = one probe. This module owns the outcome of a probe and how the bytes a server
//! sent (or failed to send) are classified, and the gate every connection to a target passes
//! ([`gate`]: when one may start, and whether a dropped one is made again); what to probe is the
//! scan's. A network error is never a rejection: only a TLS alert or a ServerHello refusal is.

pub mod gate;
pub mod handshake;
pub mod openssl;
pub mod raw;
mod tap;

use std::fmt;
use std::time::Duration;

use crate::tls::catalog::SuiteCode;
use crate::tls::protocol::Protocol;
use crate::tls::server_hello::{self, Alert, ServerReply};

/// What one probe established, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The server chose an offered suite in its ServerHello (or HelloRetryRequest).
    Accepted(Accepted),
    /// The server refused the offer with a TLS answer.
    Rejected(Refusal),
    /// The probe did not get a TLS answer that settles the question.
    Inconclusive(Inconclusive),
}

impl ProbeOutcome {
    pub fn is_inconclusive(&self) -> bool {
        matches!(self, ProbeOutcome::Inconclusive(_))
    }

    /// Whether the server answered at all: a reset, a close or a refusal before any byte is a
    /// drop, silence until the timeout is silence; anything else is an answer.
    pub fn reply(&self) -> gate::Reply {
        match self {
            ProbeOutcome::Inconclusive(
                Inconclusive::Reset
                | Inconclusive::Closed { bytes: 0 }
                | Inconclusive::ConnectRefused
                | Inconclusive::ConnectFailed(_),
            ) => gate::Reply::Dropped,
            ProbeOutcome::Inconclusive(Inconclusive::Timeout { bytes: 0, .. }) => {
                gate::Reply::Silent
            }
            _ => gate::Reply::Answered,
        }
    }
}

/// The server chose `code` at `protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub protocol: Protocol,
    pub code: SuiteCode,
    /// Seen in a TLS 1.3 HelloRetryRequest (the suite is chosen, a key share was asked for).
    pub hello_retry: bool,
    /// The group the server chose: a TLS 1.3 key share, or (raw hellos before TLS 1.3, ECDHE) the
    /// curve its ServerKeyExchange names.
    pub group: Option<u16>,
}

/// A TLS-level refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server answered the ClientHello with an alert.
    Alert(Alert),
    /// The server answered with a ServerHello for an older version than the one offered.
    OlderVersion { chosen: u16 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Alert(a) => write!(f, "server sent {a}"),
            Refusal::OlderVersion { chosen } => write!(
                f,
                "server answered with {} instead",
                Protocol::from_wire(*chosen)
                    .map(|p| p.name().to_string())
                    .unwrap_or_else(|| format!("version 0x{chosen:04x}"))
            ),
        }
    }
}

/// Why a probe settled nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inconclusive {
    /// No complete answer within the probe timeout.
    Timeout { after: Duration, bytes: usize },
    /// The TCP connection was refused.
    ConnectRefused,
    /// The TCP connection failed otherwise (unreachable, ...).
    ConnectFailed(String),
    /// The server reset the connection.
    Reset,
    /// The server closed the connection without a TLS answer.
    Closed { bytes: usize },
    /// The server answered with something that is not TLS.
    NotTls(String),
    /// The server's TLS framing made no sense.
    Malformed(String),
    /// The server chose a suite that was not offered (a protocol violation).
    UnofferedSuite(u16),
    /// The server chose a newer version than the one offered (a protocol violation).
    NewerVersion(u16),
    /// A local failure before anything was sent.
    Local(String),
}

impl fmt::Display for Inconclusive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inconclusive::Timeout { after, bytes: 0 } => {
                write!(
                    f,
                    "no answer within {}",
                    crate::util::human_duration(*after)
                )
            }
            Inconclusive::Timeout { after, bytes } => write!(
                f,
                "incomplete answer ({bytes} bytes) within {}",
                crate::util::human_duration(*after)
            ),
            Inconclusive::ConnectRefused => f.write_str("connection refused"),
            Inconclusive::ConnectFailed(e) => write!(f, "connection failed: {e}"),
            Inconclusive::Reset => f.write_str("connection reset by the server"),
            Inconclusive::Closed { bytes: 0 } => {
                f.write_str("connection closed by the server without a TLS answer")
            }
            Inconclusive::Closed { bytes } => {
                write!(
                    f,
                    "connection closed after {bytes} bytes of an incomplete TLS answer"
                )
            }
            Inconclusive::NotTls(what) => write!(f, "not a TLS answer: {what}"),
            Inconclusive::Malformed(what) => write!(f, "malformed TLS answer: {what}"),
            Inconclusive::UnofferedSuite(c) => {
                write!(f, "server chose suite 0x{c:04X}, which was not offered")
            }
            Inconclusive::NewerVersion(v) => {
                write!(f, "server chose version 0x{v:04x}, newer than offered")
            }
            Inconclusive::Local(e) => write!(f, "local error: {e}"),
        }
    }
}

/// How the connection ended, as seen from the socket (the bytes are judged separately).
#[derive(Debug)]
pub enum Termination {
    /// The probe stopped itself once the server's answer was complete, or the handshake finished.
    Answered,
    TimedOut(Duration),
    Io(std::io::Error),
    /// OpenSSL failed without an I/O error after the ClientHello went out (the peer closed).
    Tls(String),
    /// OpenSSL failed before anything was sent.
    Local(String),
}

/// Opens a probe's TCP connection (with Nagle off) by `deadline`. A failure is already the probe's
/// outcome, and always an inconclusive one: a refused or unreachable port is not a TLS refusal.
pub(crate) async fn connect(
    addr: std::net::SocketAddr,
    deadline: tokio::time::Instant,
    timeout: Duration,
) -> Result<tokio::net::TcpStream, ProbeOutcome> {
    match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await {
        Err(_) => Err(ProbeOutcome::Inconclusive(Inconclusive::Timeout {
            after: timeout,
            bytes: 0,
        })),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(ProbeOutcome::Inconclusive(Inconclusive::ConnectRefused))
        }
        Ok(Err(e)) => Err(ProbeOutcome::Inconclusive(Inconclusive::ConnectFailed(
            e.to_string(),
        ))),
        Ok(Ok(tcp)) => {
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        }
    }
}

/// What a probe offered.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The lowest and highest version offered (equal when pinned).
    pub min: Protocol,
    pub max: Protocol,
    /// The suite code points offered (signalling values such as 0x00FF are ignored by `classify`).
    pub suites: Vec<u16>,
}

/// Classifies a probe from the bytes the server sent and how the connection ended.
pub fn classify(offer: &Offer, received: &[u8], end: Termination) -> ProbeOutcome {
    match server_hello::parse_server_reply(received) {
        ServerReply::Hello(h) => {
            let Some(version) = Protocol::from_wire(h.version) else {
                return ProbeOutcome::Inconclusive(Inconclusive::Malformed(format!(
                    "ServerHello with unknown version 0x{:04x}",
                    h.version
                )));
            };
            if version < offer.min {
                return ProbeOutcome::Rejected(Refusal::OlderVersion { chosen: h.version });
            }
            if version > offer.max {
                return ProbeOutcome::Inconclusive(Inconclusive::NewerVersion(h.version));
            }
            if !offer.suites.contains(&h.cipher) {
                return ProbeOutcome::Inconclusive(Inconclusive::UnofferedSuite(h.cipher));
            }
            ProbeOutcome::Accepted(Accepted {
                protocol: version,
                code: SuiteCode(h.cipher),
                hello_retry: h.hello_retry,
                group: h.group,
            })
        }
        ServerReply::Alert(a) => ProbeOutcome::Rejected(Refusal::Alert(a)),
        ServerReply::NotTls(what) => ProbeOutcome::Inconclusive(Inconclusive::NotTls(what)),
        ServerReply::Malformed(what) => ProbeOutcome::Inconclusive(Inconclusive::Malformed(what)),
        ServerReply::Incomplete => {
            let bytes = received.len();
            let why = match end {
                Termination::TimedOut(after) => Inconclusive::Timeout { after, bytes },
                Termination::Io(e) => match e.kind() {
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                        Inconclusive::Reset
                    }
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe => {
                        Inconclusive::Closed { bytes }
                    }
                    std::io::ErrorKind::ConnectionRefused => Inconclusive::ConnectRefused,
                    _ => Inconclusive::ConnectFailed(e.to_string()),
                },
                // OpenSSL reports a clean EOF as an SSL_ERROR_SYSCALL/ZERO_RETURN without an io::Error.
                Termination::Tls(_) => Inconclusive::Closed { bytes },
                Termination::Local(e) => Inconclusive::Local(e),
                Termination::Answered => Inconclusive::Closed { bytes },
            };
            ProbeOutcome::Inconclusive(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(p: Protocol, suites: &[u16]) -> Offer {
        Offer {
            min: p,
            max: p,
            suites: suites.to_vec(),
        }
    }

    fn hello(version: u16, cipher: u16) -> Vec<u8> {
        crate::tls::server_hello::ServerHello {
            version,
            cipher,
            hello_retry: false,
            group: None,
        }
        .to_record(&[], &[])
    }

    #[test]
    fn a_chosen_suite_is_accepted() {
        let o = classify(
            &offer(Protocol::Tls12, &[0xC014]),
            &hello(0x0303, 0xC014),
            Termination::Answered,
        );
        assert!(matches!(o, ProbeOutcome::Accepted(a) if a.code == SuiteCode(0xC014)));
    }

    #[test]
    fn only_tls_answers_are_rejections() {
        let alert = [21, 3, 3, 0, 2, 2, 40];
        let o = classify(
            &offer(Protocol::Tls12, &[0xC014]),
            &alert,
            Termination::Answered,
        );
        assert!(
            matches!(o, ProbeOutcome::Rejected(Refusal::Alert(a)) if a.description == crate::tls::enums::AlertDescription::HANDSHAKE_FAILURE)
        );
        let older = classify(
            &offer(Protocol::Tls12, &[0xC014]),
            &hello(0x0301, 0xC014),
            Termination::Answered,
        );
        assert!(matches!(
            older,
            ProbeOutcome::Rejected(Refusal::OlderVersion { chosen: 0x0301 })
        ));

        let network_errors = [
            Termination::TimedOut(Duration::from_secs(1)),
            Termination::Io(std::io::ErrorKind::ConnectionReset.into()),
            Termination::Io(std::io::ErrorKind::UnexpectedEof.into()),
            Termination::Tls("unexpected eof while reading".into()),
            Termination::Answered,
        ];
        for end in network_errors {
            let o = classify(&offer(Protocol::Tls12, &[0xC014]), &[], end);
            assert!(o.is_inconclusive(), "{o:?}");
        }
        let http = classify(
            &offer(Protocol::Tls12, &[0xC014]),
            b"HTTP/1.1 400 Bad",
            Termination::Answered,
        );
        assert!(http.is_inconclusive());
    }

    #[test]
    fn protocol_violations_are_inconclusive() {
        let unoffered = classify(
            &offer(Protocol::Tls12, &[0xC014]),
            &hello(0x0303, 0xC013),
            Termination::Answered,
        );
        assert_eq!(
            unoffered,
            ProbeOutcome::Inconclusive(Inconclusive::UnofferedSuite(0xC013))
        );
        let newer = classify(
            &offer(Protocol::Tls11, &[0xC014]),
            &hello(0x0303, 0xC014),
            Termination::Answered,
        );
        assert!(newer.is_inconclusive());
    }
}
