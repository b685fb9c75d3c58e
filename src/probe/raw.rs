//! The raw probe engine: writes ClientHello bytes itself (`crate::tls::client_hello`), so any code point can be
//! offered whatever the local OpenSSL supports, and reads only up to the ServerHello or alert.
//! It never completes a handshake and holds no key material beyond a throwaway key share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::{classify, Inconclusive, Offer, ProbeOutcome, Termination};
use crate::probe::gate::Gate;
use crate::tls::client_hello::{client_hello, HelloSpec};
use crate::tls::protocol::Protocol;
use crate::tls::server_hello::{self, ServerReply};

/// Enough for any ServerHello the wire parser accepts; a server that sends more without
/// completing one is not answering a ClientHello.
const READ_LIMIT: usize = 64 * 1024;

/// How long to wait for the rest of a plaintext service's first line, so the report can quote it.
const NOT_TLS_GRACE: Duration = Duration::from_millis(200);

/// Probes one target with hand-built ClientHellos. Cheap to create; one connection per probe.
#[derive(Debug, Clone)]
pub struct RawProber {
    addr: SocketAddr,
    sni: Option<String>,
    timeout: Duration,
    /// When set, every probe waits at this gate before connecting.
    gate: Option<Arc<Gate>>,
}

impl RawProber {
    /// A prober for `addr`, sending `sni` (if any), allowing `timeout` per probe (connect included).
    pub fn new(addr: SocketAddr, sni: Option<String>, timeout: Duration) -> Self {
        RawProber {
            addr,
            sni,
            timeout,
            gate: None,
        }
    }

    /// This prober, with every connection passing `gate` first (for stages that run several
    /// probes at once outside the scan's own job runner).
    pub fn gated(&self, gate: Arc<Gate>) -> Self {
        RawProber {
            gate: Some(gate),
            ..self.clone()
        }
    }

    /// Whether the server has been dropping this prober's connections (through its gate).
    pub fn dropping(&self) -> bool {
        self.gate.as_ref().is_some_and(|g| g.dropping())
    }

    /// The hello [`probe`](Self::probe) sends, for adjusting (groups, key shares) and passing to
    /// [`probe_with`](Self::probe_with): the prober's SNI and the builder's defaults.
    pub fn hello_spec(&self, protocol: Protocol, suites: &[u16]) -> HelloSpec {
        HelloSpec::new(protocol, suites.to_vec()).with_sni(self.sni.clone())
    }

    /// Offers `suites` at `protocol` in one ClientHello and classifies the server's answer.
    pub async fn probe(&self, protocol: Protocol, suites: &[u16]) -> ProbeOutcome {
        self.probe_with(self.hello_spec(protocol, suites)).await
    }

    /// Sends exactly the hello `spec` describes (its SNI included: the prober's is not added).
    pub async fn probe_with(&self, spec: HelloSpec) -> ProbeOutcome {
        let hello = match client_hello(&spec) {
            Ok(bytes) => bytes,
            Err(e) => return ProbeOutcome::Inconclusive(Inconclusive::Local(e.to_string())),
        };
        let offer = Offer {
            min: spec.version,
            max: spec.version,
            suites: spec.suites,
        };
        match &self.gate {
            Some(gate) => {
                gate.attempt(|| self.send(&hello, &offer), ProbeOutcome::reply)
                    .await
            }
            None => self.send(&hello, &offer).await,
        }
    }

    /// One connection: sends `hello` and classifies the answer.
    async fn send(&self, hello: &[u8], offer: &Offer) -> ProbeOutcome {
        let deadline = Instant::now() + self.timeout;
        let mut tcp = match super::connect(self.addr, deadline, self.timeout).await {
            Ok(tcp) => tcp,
            Err(outcome) => return outcome,
        };
        let (received, end) = self.exchange(&mut tcp, hello, deadline).await;
        // No alert on the way out: in TLS 1.3 it would have to be encrypted under handshake keys
        // this engine never derives, and the close tells the server just as much. Dropping the
        // socket ends the probe as the OpenSSL engine's does (a RST if the server's Certificate
        // flight is still unread).
        drop(tcp);
        if received.len() >= READ_LIMIT
            && matches!(
                server_hello::parse_server_reply(&received),
                ServerReply::Incomplete
            )
        {
            return ProbeOutcome::Inconclusive(Inconclusive::Malformed(format!(
                "no complete ServerHello in the first {} KiB",
                READ_LIMIT / 1024
            )));
        }
        classify(offer, &received, end)
    }

    /// Writes the hello and reads until the answer is complete, the server hangs up, or the
    /// deadline passes; returns the bytes and how the exchange ended.
    async fn exchange(
        &self,
        tcp: &mut TcpStream,
        hello: &[u8],
        deadline: Instant,
    ) -> (Vec<u8>, Termination) {
        let mut received = Vec::new();
        // A write error is not final: a server may refuse early and hang up while the hello is
        // still being written, so whatever it sent (an alert) is read before judging the socket.
        if timeout_at(deadline, tcp.write_all(hello)).await.is_err() {
            return (received, Termination::TimedOut(self.timeout));
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let room = READ_LIMIT - received.len();
            let want = buf.len().min(room);
            match timeout_at(deadline, tcp.read(&mut buf[..want])).await {
                Err(_) => return (received, Termination::TimedOut(self.timeout)),
                Ok(Ok(0)) => {
                    let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                    return (received, Termination::Io(eof));
                }
                Ok(Err(e)) => return (received, Termination::Io(e)),
                Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            }
            match server_hello::parse_server_reply(&received) {
                ServerReply::Incomplete if received.len() < READ_LIMIT => continue,
                ServerReply::NotTls(_) => {
                    read_first_line(tcp, &mut received, deadline).await;
                    return (received, Termination::Answered);
                }
                _ => return (received, Termination::Answered),
            }
        }
    }
}

/// Reads a little more of a plaintext answer, so the report can quote its first line.
async fn read_first_line(tcp: &mut TcpStream, received: &mut Vec<u8>, deadline: Instant) {
    let until = deadline.min(Instant::now() + NOT_TLS_GRACE);
    let mut buf = [0u8; 256];
    while received.len() < 256 && !received.contains(&b'\n') {
        match timeout_at(until, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invalid_hello_is_a_local_error_not_a_probe() {
        // Nothing listens on port 9 of the documentation range; no connection is attempted.
        let prober = RawProber::new(
            "192.0.2.1:9".parse().unwrap(),
            Some("10.0.0.1".into()),
            Duration::from_millis(50),
        );
        let o = prober.probe(Protocol::Tls12, &[0x002F]).await;
        assert!(
            matches!(&o, ProbeOutcome::Inconclusive(Inconclusive::Local(e)) if e.contains("IP address")),
            "{o:?}"
        );
        let o = prober.probe(Protocol::Tls12, &[]).await;
        assert!(
            matches!(o, ProbeOutcome::Inconclusive(Inconclusive::Local(_))),
            "{o:?}"
        );
    }
}
