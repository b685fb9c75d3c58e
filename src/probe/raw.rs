//! The raw probe engine: writes ClientHello bytes itself (`crate::tls::client_hello`), so any code point can be
//! offered whatever the local OpenSSL supports, and reads only up to the ServerHello or alert (before TLS
//! 1.3, when the server chose an ECDHE suite, on to the ServerKeyExchange that names the curve, for
//! a moment at most).
//! It never completes a handshake and holds no key material beyond a throwaway key share.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::{classify, Accepted, Inconclusive, Offer, ProbeOutcome, Termination};
use crate::probe::gate::Gate;
use crate::tls::catalog::{catalog, SuiteCode};
use crate::tls::client_hello::{client_hello, HelloSpec, ELLIPTIC_CURVES};
use crate::tls::protocol::Protocol;
use crate::tls::server_hello::{self, KeyExchange, ServerReply};

/// Enough for any ServerHello the wire parser accepts; a server that sends more without
/// completing one is not answering a ClientHello.
const READ_LIMIT: usize = 64 * 1024;

/// How long to wait for the rest of a plaintext service's first line, so the report can quote it.
const NOT_TLS_GRACE: Duration = Duration::from_millis(200);

/// Beyond twice the ServerHello's own time, how long to wait for the ServerKeyExchange that names
/// the curve.
const CURVE_GRACE: Duration = Duration::from_millis(20);

/// Probes one target with hand-built ClientHellos. Cheap to create; one connection per probe.
#[derive(Debug, Clone)]
pub struct RawProber {
    addr: SocketAddr,
    sni: Option<String>,
    timeout: Duration,
    /// When set, every probe waits at this gate before connecting.
    gate: Option<Arc<Gate>>,
    /// Which curve the hellos before TLS 1.3 put first (shared by clones), so that a server that
    /// takes the client's favourite curve shows, over a scan, every curve it accepts.
    curves: Arc<CurveTurns>,
}

/// The curve turns of [`RawProber::hello_spec`]: each hello puts first a curve the server has not
/// yet been seen to choose at its version, in turn (in turn among all when it has chosen them all).
#[derive(Debug, Default)]
struct CurveTurns {
    hellos: AtomicUsize,
    /// (version, group) the server chose in an answer to one of these hellos.
    chosen: std::sync::Mutex<Vec<(Protocol, u16)>>,
}

impl RawProber {
    /// A prober for `addr`, sending `sni` (if any), allowing `timeout` per probe (connect included).
    pub fn new(addr: SocketAddr, sni: Option<String>, timeout: Duration) -> Self {
        RawProber {
            addr,
            sni,
            timeout,
            gate: None,
            curves: Arc::default(),
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
    /// [`probe_with`](Self::probe_with): the prober's SNI and the builder's defaults, except that a
    /// TLS 1.3 hello carries no key share. The server then names the suite (and group) it chose in
    /// a HelloRetryRequest, before it generates a key or signs anything: a probe reads no further.
    pub fn hello_spec(&self, protocol: Protocol, suites: &[u16]) -> HelloSpec {
        let mut spec = HelloSpec::new(protocol, suites.to_vec()).with_sni(self.sni.clone());
        if protocol == Protocol::Tls13 {
            spec = spec.with_key_share_groups(Vec::new());
        }
        if protocol <= Protocol::Tls12 {
            let n = self.curves.hellos.fetch_add(1, Ordering::Relaxed);
            let n_curves = ELLIPTIC_CURVES.min(spec.groups.len());
            let curves = &mut spec.groups[..n_curves];
            let unseen: Vec<usize> = match self.curves.chosen.lock() {
                Ok(chosen) => (0..curves.len())
                    .filter(|&i| !chosen.contains(&(protocol, curves[i])))
                    .collect(),
                Err(_) => Vec::new(),
            };
            let first = match unseen.len() {
                0 => n % curves.len().max(1),
                k => unseen[n % k],
            };
            curves.rotate_left(first);
        }
        spec
    }

    /// Offers `suites` at `protocol` in one ClientHello and classifies the server's answer.
    pub async fn probe(&self, protocol: Protocol, suites: &[u16]) -> ProbeOutcome {
        let outcome = self.probe_with(self.hello_spec(protocol, suites)).await;
        // The curve a hello before TLS 1.3 drew from the server's ServerKeyExchange.
        let curve = match &outcome {
            ProbeOutcome::Accepted(Accepted {
                group: Some(group), ..
            }) if protocol <= Protocol::Tls12 => Some(*group),
            _ => None,
        };
        if let Some(group) = curve {
            if let Ok(mut chosen) = self.curves.chosen.lock() {
                if !chosen.contains(&(protocol, group)) {
                    chosen.push((protocol, group));
                }
            }
        }
        outcome
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
        let mut outcome = classify(offer, &received, end);
        if let ProbeOutcome::Accepted(a) = &mut outcome {
            if names_a_curve(a.protocol, a.code) {
                if let KeyExchange::Curve(g) = server_hello::key_exchange(&received) {
                    a.group = Some(g);
                }
            }
        }
        outcome
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
        let sent = Instant::now();
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
                ServerReply::Hello(h)
                    if Protocol::from_wire(h.version)
                        .is_some_and(|p| names_a_curve(p, SuiteCode(h.cipher))) =>
                {
                    // The ServerKeyExchange follows in the same flight: read on for the curve, for
                    // at most twice the ServerHello's round trip and 20 ms more.
                    let until = deadline.min(Instant::now() + 2 * sent.elapsed() + CURVE_GRACE);
                    read_key_exchange(tcp, &mut received, until).await;
                    return (received, Termination::Answered);
                }
                _ => return (received, Termination::Answered),
            }
        }
    }
}

/// Whether the flight answering a hello at `protocol` with `suite` opens its ServerKeyExchange
/// with the curve: ECDHE before TLS 1.3 (ECDHE-PSK puts the PSK identity hint first).
fn names_a_curve(protocol: Protocol, suite: SuiteCode) -> bool {
    protocol <= Protocol::Tls12
        && catalog()
            .by_code(suite)
            .is_some_and(|s| s.is_ecdhe() && !s.is_psk())
}

/// Reads on until the flight in `received` shows its key exchange, the server stops sending, or
/// `until`; whatever happens, the ServerHello already read stands.
async fn read_key_exchange(tcp: &mut TcpStream, received: &mut Vec<u8>, until: Instant) {
    let mut buf = vec![0u8; 16 * 1024];
    while server_hello::key_exchange(received) == KeyExchange::Incomplete
        && received.len() < READ_LIMIT
    {
        let want = buf.len().min(READ_LIMIT - received.len());
        match timeout_at(until, tcp.read(&mut buf[..want])).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buf[..n]),
            _ => return,
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
    use crate::tls::client_hello::DEFAULT_GROUPS;

    #[test]
    fn hellos_before_tls13_take_turns_putting_each_curve_first() {
        let prober = RawProber::new("192.0.2.1:9".parse().unwrap(), None, Duration::from_secs(1));
        let gated = prober.gated(Arc::new(Gate::new(1, None, Duration::ZERO)));
        let mut firsts: Vec<u16> = (0..ELLIPTIC_CURVES)
            .map(|i| {
                // A gated copy shares the turn.
                let p = if i % 2 == 0 { &prober } else { &gated };
                let spec = p.hello_spec(Protocol::Tls12, &[0xC02F]);
                // The same groups, only in another order.
                let mut sorted = spec.groups.clone();
                sorted.sort();
                let mut all = DEFAULT_GROUPS.to_vec();
                all.sort();
                assert_eq!(sorted, all);
                spec.groups[0]
            })
            .collect();
        firsts.sort();
        let mut curves = DEFAULT_GROUPS[..ELLIPTIC_CURVES].to_vec();
        curves.sort();
        assert_eq!(firsts, curves);
        // TLS 1.3 hellos keep the builder's order, and carry no key share.
        let spec = prober.hello_spec(Protocol::Tls13, &[0x1301]);
        assert_eq!(spec.groups, DEFAULT_GROUPS.to_vec());
        assert!(spec.key_share_groups.is_empty());
        // Once the server has chosen a curve at a version, that version's hellos put the others
        // first; other versions still take every curve in turn.
        let seen = DEFAULT_GROUPS[1];
        gated
            .curves
            .chosen
            .lock()
            .unwrap()
            .push((Protocol::Tls12, seen));
        let firsts = |p: Protocol| -> Vec<u16> {
            let mut f: Vec<u16> = (0..2 * ELLIPTIC_CURVES)
                .map(|_| prober.hello_spec(p, &[0xC02F]).groups[0])
                .collect();
            f.sort();
            f.dedup();
            f
        };
        assert_eq!(firsts(Protocol::Tls12).len(), ELLIPTIC_CURVES - 1);
        assert!(!firsts(Protocol::Tls12).contains(&seen));
        assert_eq!(firsts(Protocol::Tls11).len(), ELLIPTIC_CURVES);
    }

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
