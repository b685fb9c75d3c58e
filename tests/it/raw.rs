// The raw ClientHello engine against real servers on loopback: it must agree with the OpenSSL engine
// wherever both can offer a suite, see suites the local OpenSSL cannot offer (3DES via gnutls-serv),
// call every network fault inconclusive, and survive any bytes a server sends back.

use crate::common;

use common::Rng;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cipher_test::probe::openssl::OpensslProber;
use cipher_test::probe::raw::RawProber;
use cipher_test::probe::{Inconclusive, ProbeOutcome, Refusal};
use cipher_test::testing::pki::{self, CertSpec};
use cipher_test::testing::server::{ClientAuth, KeyKind, ServerConfig, TlsServer};
use cipher_test::tls::catalog::{catalog, SuiteCode};
use cipher_test::tls::protocol::Protocol;
use cipher_test::tls::server_hello::{self, ServerReply};
use common::{closed_port, CloseAfterHello, HttpPlaintext, ResetAfterHello, Silent};
use openssl::ssl::SslVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const TIMEOUT: Duration = Duration::from_secs(5);
/// Probes in flight at once: enough to keep two cores busy on loopback.
const CONCURRENCY: usize = 16;

fn sni() -> Option<String> {
    Some("localhost".to_string())
}

/// A server profile and the (protocol, OpenSSL name) pairs it must accept.
struct Profile {
    name: &'static str,
    config: ServerConfig,
    accepts: &'static [(Protocol, &'static str)],
}

fn profiles() -> Vec<Profile> {
    use Protocol::*;
    vec![
        Profile {
            name: "TLS 1.2, one ECDHE-RSA suite",
            config: ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA"),
            accepts: &[(Tls12, "ECDHE-RSA-AES256-SHA")],
        },
        Profile {
            name: "TLS 1.2, RSA key exchange and GCM",
            config: ServerConfig::tls12_only("AES256-SHA:AES128-GCM-SHA256"),
            accepts: &[(Tls12, "AES256-SHA"), (Tls12, "AES128-GCM-SHA256")],
        },
        Profile {
            name: "TLS 1.2, DHE only",
            config: ServerConfig::tls12_only("DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA"),
            accepts: &[
                (Tls12, "DHE-RSA-AES128-GCM-SHA256"),
                (Tls12, "DHE-RSA-AES256-SHA"),
            ],
        },
        Profile {
            name: "TLS 1.3 only, CCM suites",
            config: ServerConfig::tls13_only(
                "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256:TLS_CHACHA20_POLY1305_SHA256",
            ),
            accepts: &[
                (Tls13, "TLS_AES_128_CCM_SHA256"),
                (Tls13, "TLS_AES_128_CCM_8_SHA256"),
                (Tls13, "TLS_CHACHA20_POLY1305_SHA256"),
            ],
        },
        Profile {
            name: "TLS 1.2, ECDSA P-256 certificate",
            config: ServerConfig::tls12_only(
                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-CHACHA20-POLY1305",
            )
            .with_key(KeyKind::EcdsaP256),
            accepts: &[
                (Tls12, "ECDHE-ECDSA-AES128-GCM-SHA256"),
                (Tls12, "ECDHE-ECDSA-AES256-SHA"),
                (Tls12, "ECDHE-ECDSA-CHACHA20-POLY1305"),
            ],
        },
        Profile {
            name: "TLS 1.0 and 1.1",
            config: ServerConfig::default()
                .with_versions(SslVersion::TLS1, SslVersion::TLS1_1)
                .with_cipher_list("ECDHE-RSA-AES128-SHA:AES256-SHA"),
            accepts: &[
                (Tls10, "ECDHE-RSA-AES128-SHA"),
                (Tls10, "AES256-SHA"),
                (Tls11, "ECDHE-RSA-AES128-SHA"),
                (Tls11, "AES256-SHA"),
            ],
        },
        Profile {
            name: "TLS 1.0 to 1.3, client certificate required",
            config: ServerConfig::default()
                .with_cipher_list("ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA")
                .with_ciphersuites("TLS_AES_256_GCM_SHA384")
                .with_client_auth(ClientAuth::Required),
            accepts: &[
                (Tls10, "AES128-SHA"),
                (Tls11, "AES128-SHA"),
                (Tls12, "AES128-SHA"),
                (Tls12, "ECDHE-RSA-AES128-GCM-SHA256"),
                (Tls13, "TLS_AES_256_GCM_SHA384"),
            ],
        },
    ]
}

/// What the two engines are compared on: the status, and for an acceptance what was chosen.
fn verdict(o: &ProbeOutcome) -> Result<String, String> {
    match o {
        ProbeOutcome::Accepted(a) => Ok(format!("accepted {} {}", a.protocol, a.code)),
        ProbeOutcome::Rejected(_) => Ok("rejected".to_string()),
        ProbeOutcome::Inconclusive(why) => Err(format!("inconclusive: {why}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_engine_agrees_with_the_openssl_engine() {
    let start = Instant::now();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut set = JoinSet::new();
    let mut servers = Vec::new();
    for (index, profile) in profiles().into_iter().enumerate() {
        let server = TlsServer::start(profile.config).expect("start TLS server");
        let openssl = Arc::new(OpensslProber::new(server.addr(), sni(), TIMEOUT).unwrap());
        let raw = Arc::new(RawProber::new(server.addr(), sni(), TIMEOUT));
        for protocol in [
            Protocol::Tls10,
            Protocol::Tls11,
            Protocol::Tls12,
            Protocol::Tls13,
        ] {
            for suite in catalog().suites() {
                if !suite.applies_to(protocol) || !openssl.can_offer(protocol, suite) {
                    continue;
                }
                let (openssl, raw, permits) = (openssl.clone(), raw.clone(), permits.clone());
                set.spawn(async move {
                    let _permit = permits.acquire_owned().await.unwrap();
                    let by_openssl = openssl.probe(protocol, suite).await;
                    let by_raw = raw.probe(protocol, &[suite.code.0]).await;
                    (index, protocol, suite, by_openssl, by_raw)
                });
            }
        }
        servers.push((profile.name, profile.accepts, server));
    }

    let mut probes = 0;
    let mut disagreements = Vec::new();
    let mut accepted: Vec<BTreeSet<(Protocol, String)>> = vec![BTreeSet::new(); servers.len()];
    while let Some(joined) = set.join_next().await {
        let (index, protocol, suite, by_openssl, by_raw) = joined.expect("probe task");
        probes += 1;
        let (o, r) = (verdict(&by_openssl), verdict(&by_raw));
        if o.is_err() || r.is_err() || o != r {
            disagreements.push(format!(
                "{}: {protocol} {} ({}): openssl {by_openssl:?}, raw {by_raw:?}",
                servers[index].0, suite.openssl_name, suite.code
            ));
        }
        if let ProbeOutcome::Accepted(a) = &by_raw {
            assert_eq!(a.code, suite.code);
            accepted[index].insert((protocol, suite.openssl_name.clone()));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {probes} probes disagree or are inconclusive:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    for ((name, accepts, _), got) in servers.iter().zip(&accepted) {
        let want: BTreeSet<(Protocol, String)> =
            accepts.iter().map(|(p, n)| (*p, n.to_string())).collect();
        assert_eq!(got, &want, "{name}");
    }
    eprintln!(
        "{probes} suite/protocol pairs, each probed by both engines, in {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_tls13_server_wanting_another_group_answers_with_a_hello_retry() {
    let server =
        TlsServer::start(ServerConfig::tls13_only("TLS_AES_256_GCM_SHA384").with_groups("P-384"))
            .unwrap();
    let raw = RawProber::new(server.addr(), sni(), TIMEOUT);
    let o = raw.probe(Protocol::Tls13, &[0x1301, 0x1302]).await;
    let ProbeOutcome::Accepted(a) = o else {
        panic!("{o:?}")
    };
    assert_eq!(
        (a.code, a.hello_retry, a.group),
        (SuiteCode(0x1302), true, Some(0x0018))
    );
    // With the share the server wants, a plain ServerHello.
    let spec = raw
        .hello_spec(Protocol::Tls13, &[0x1302])
        .with_key_share_groups(vec![0x0018]);
    let o = raw.probe_with(spec).await;
    assert!(
        matches!(o, ProbeOutcome::Accepted(a) if !a.hello_retry && a.group == Some(0x0018)),
        "{o:?}"
    );
}

#[tokio::test]
async fn a_tls13_hello_is_pinned_to_tls13() {
    let server = TlsServer::start(ServerConfig::tls12_only("AES128-SHA")).unwrap();
    let raw = RawProber::new(server.addr(), sni(), TIMEOUT);
    // A TLS 1.3 hello that also lists a TLS 1.2 suite: supported_versions names 1.3 alone, so a
    // 1.2-only server that knows the extension refuses rather than falling back.
    let o = raw.probe(Protocol::Tls13, &[0x1301, 0x002F]).await;
    assert!(
        matches!(o, ProbeOutcome::Rejected(Refusal::Alert(a)) if a.description.0 == 70),
        "{o:?}"
    );
}

/// A `gnutls-serv` child process on 127.0.0.1, killed on drop.
struct GnutlsServer {
    child: Child,
    addr: SocketAddr,
}

impl GnutlsServer {
    /// `None` when gnutls-serv is not installed (outside CI); in CI a missing binary fails the test.
    fn start(dir: &Path, priority: &str) -> Option<GnutlsServer> {
        if Command::new("gnutls-serv")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "gnutls-serv not found: CI must install it (apt-get install -y gnutls-bin)"
            );
            eprintln!("SKIPPED: gnutls-serv not found (apt-get install gnutls-bin)");
            return None;
        }
        let leaf = pki::self_signed(&CertSpec::leaf("localhost")).unwrap();
        let (cert, key) = pki::write_pem(dir, "gnutls", &[&leaf.cert], Some(&leaf.key)).unwrap();
        // gnutls-serv cannot report a port chosen by the kernel: take a free one and retry if
        // another process grabbed it first.
        for _ in 0..5 {
            let port = closed_port();
            let mut child = Command::new("gnutls-serv")
                .arg("--port")
                .arg(port.to_string())
                .arg("--x509certfile")
                .arg(&cert)
                .arg("--x509keyfile")
                .arg(key.as_ref().unwrap())
                .arg("--priority")
                .arg(priority)
                .args(["--disable-client-cert", "--nodb", "--quiet"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn gnutls-serv");
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Some(GnutlsServer { child, addr });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("gnutls-serv did not start listening (priority {priority})");
    }
}

impl Drop for GnutlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn raw_engine_sees_suites_the_local_openssl_cannot_offer() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = GnutlsServer::start(
        dir.path(),
        "NONE:+VERS-TLS1.2:+3DES-CBC:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-ALL",
    ) else {
        return;
    };
    let des_cbc3 = catalog().by_name("DES-CBC3-SHA").unwrap();
    let rc4 = catalog().by_name("RC4-SHA").unwrap();
    let openssl = OpensslProber::new(server.addr, sni(), TIMEOUT).unwrap();
    if openssl.can_offer(Protocol::Tls12, des_cbc3) {
        eprintln!("note: this OpenSSL can offer DES-CBC3-SHA too (weak ciphers compiled in)");
    }

    let raw = RawProber::new(server.addr, sni(), TIMEOUT);
    let o = raw.probe(Protocol::Tls12, &[des_cbc3.code.0]).await;
    assert!(
        matches!(o, ProbeOutcome::Accepted(a) if a.code == SuiteCode(0x000A) && a.protocol == Protocol::Tls12),
        "{o:?}"
    );
    let o = raw.probe(Protocol::Tls12, &[rc4.code.0]).await;
    assert!(matches!(o, ProbeOutcome::Rejected(_)), "{o:?}");
    // Several suites in one hello: the server picks the one it has.
    let o = raw
        .probe(Protocol::Tls12, &[rc4.code.0, 0xC02F, des_cbc3.code.0])
        .await;
    assert!(
        matches!(o, ProbeOutcome::Accepted(a) if a.code == SuiteCode(0x000A)),
        "{o:?}"
    );
    // The server speaks TLS 1.2 only.
    let o = raw.probe(Protocol::Tls11, &[des_cbc3.code.0]).await;
    assert!(matches!(o, ProbeOutcome::Rejected(_)), "{o:?}");
}

#[tokio::test]
async fn network_faults_are_inconclusive_with_the_right_reason() {
    let suites = [0xC02F, 0x1301];
    let http = HttpPlaintext::start();
    let o = RawProber::new(http.addr(), sni(), TIMEOUT)
        .probe(Protocol::Tls12, &suites)
        .await;
    assert!(
        matches!(&o, ProbeOutcome::Inconclusive(Inconclusive::NotTls(s)) if s.contains("HTTP/1.1 400 Bad Request")),
        "{o:?}"
    );

    let silent = Silent::start();
    let short = Duration::from_millis(300);
    let started = Instant::now();
    let o = RawProber::new(silent.addr(), sni(), short)
        .probe(Protocol::Tls13, &suites)
        .await;
    assert_eq!(
        o,
        ProbeOutcome::Inconclusive(Inconclusive::Timeout {
            after: short,
            bytes: 0
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let closer = CloseAfterHello::start();
    let o = RawProber::new(closer.addr(), sni(), TIMEOUT)
        .probe(Protocol::Tls12, &suites)
        .await;
    assert_eq!(
        o,
        ProbeOutcome::Inconclusive(Inconclusive::Closed { bytes: 0 })
    );

    let reset = ResetAfterHello::start();
    let o = RawProber::new(reset.addr(), sni(), TIMEOUT)
        .probe(Protocol::Tls12, &suites)
        .await;
    assert_eq!(o, ProbeOutcome::Inconclusive(Inconclusive::Reset));

    let refused = SocketAddr::from((Ipv4Addr::LOCALHOST, closed_port()));
    let o = RawProber::new(refused, sni(), TIMEOUT)
        .probe(Protocol::Tls12, &suites)
        .await;
    assert_eq!(o, ProbeOutcome::Inconclusive(Inconclusive::ConnectRefused));
}

/// A TLS record of `content` type.
fn record(content: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A TLS 1.2 ServerHello record choosing `cipher`, with a session id and renegotiation_info.
fn server_hello(cipher: u16) -> Vec<u8> {
    cipher_test::tls::server_hello::ServerHello {
        version: 0x0303,
        cipher,
        hello_retry: false,
        group: None,
    }
    .to_record(&[0x17; 32], &[0xff, 0x01, 0, 1, 0])
}

/// How a canned server sends its answer.
#[derive(Clone)]
enum Reply {
    /// These bytes in one write, then FIN.
    Bytes(Vec<u8>),
    /// These bytes one per write, then FIN.
    Trickle(Vec<u8>),
    /// A ServerHello header announcing 64 KiB, then handshake records that never complete it.
    Endless,
    /// These bytes in one write, then silence for 3 s before the FIN.
    Held(Vec<u8>),
}

/// A TLS 1.2 raw probe offering `suites` to a one-connection server that answers with `reply`,
/// and how long it took.
async fn timed_probe(reply: Reply, timeout: Duration, suites: &[u16]) -> (ProbeOutcome, Duration) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_once(listener, reply));
    let started = Instant::now();
    let outcome = RawProber::new(addr, None, timeout)
        .probe(Protocol::Tls12, suites)
        .await;
    let elapsed = started.elapsed();
    server.abort();
    (outcome, elapsed)
}

/// Serves one connection: reads the ClientHello record, answers with `reply`, closes.
async fn serve_once(listener: TcpListener, reply: Reply) {
    let Ok((mut s, _)) = listener.accept().await else {
        return;
    };
    let _ = s.set_nodelay(true);
    let mut header = [0u8; 5];
    if s.read_exact(&mut header).await.is_err() {
        return;
    }
    let mut hello = vec![0u8; u16::from_be_bytes([header[3], header[4]]) as usize];
    if s.read_exact(&mut hello).await.is_err() {
        return;
    }
    match reply {
        Reply::Bytes(b) => {
            let _ = s.write_all(&b).await;
        }
        Reply::Trickle(b) => {
            for byte in b {
                if s.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        }
        Reply::Held(b) => {
            let _ = s.write_all(&b).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        Reply::Endless => {
            let mut first = vec![2, 0x01, 0x00, 0x00];
            first.resize(16_000, 0x33);
            if s.write_all(&record(22, &first)).await.is_err() {
                return;
            }
            for _ in 0..8 {
                if s.write_all(&record(22, &[0x33; 16_000])).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown().await;
    let mut sink = [0u8; 1024];
    while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_bytes_from_the_server_end_in_a_verdict_without_panic() {
    const OFFERED: u16 = 0xC02F;
    let valid = server_hello(OFFERED);
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    let mut cases: Vec<(String, Reply)> = Vec::new();
    for i in 0..200 {
        let len = rng.below(300) as usize;
        let mut bytes = rng.bytes(len);
        // Half of them look like TLS for the first bytes, to get past the first-byte check.
        if i % 2 == 0 && len >= 3 {
            bytes[0] = [20, 21, 22, 23][rng.below(4) as usize];
            bytes[1] = 3;
            bytes[2] = rng.below(5) as u8;
        }
        cases.push((format!("random #{i}"), Reply::Bytes(bytes)));
    }
    for n in 0..=valid.len() {
        cases.push((
            format!("ServerHello truncated to {n}"),
            Reply::Bytes(valid[..n].to_vec()),
        ));
    }
    let mut followed = valid.clone();
    followed.extend_from_slice(&record(22, &[11, 0, 0, 3, 0, 0, 0]));
    cases.push((
        "ServerHello then Certificate".into(),
        Reply::Bytes(followed),
    ));
    cases.push((
        "ServerHello byte by byte".into(),
        Reply::Trickle(valid.clone()),
    ));
    let mut unoffered = valid.clone();
    let at = unoffered.len() - 10;
    unoffered[at..at + 2].copy_from_slice(&0x0035u16.to_be_bytes());
    cases.push((
        "ServerHello for an unoffered suite".into(),
        Reply::Bytes(unoffered),
    ));
    for header in [
        [22, 3, 3, 0xFF, 0xFF],
        [22, 3, 3, 0x48, 0x01],
        [21, 3, 3, 0xFF, 0xFF],
        [22, 3, 1, 0, 0],
    ] {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(&[0x16; 64]);
        cases.push((format!("record header {header:?}"), Reply::Bytes(bytes)));
    }
    cases.push((
        "ServerHello of 16 MiB".into(),
        Reply::Bytes(record(22, &[2, 0xFF, 0xFF, 0xFF, 3, 3])),
    ));
    cases.push(("handshake that never completes".into(), Reply::Endless));

    let timeout = Duration::from_secs(3);
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut set = JoinSet::new();
    let count = cases.len();
    for (name, reply) in cases {
        let permits = permits.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let (outcome, elapsed) = timed_probe(reply.clone(), timeout, &[OFFERED, 0x1301]).await;
            (name, reply, outcome, elapsed)
        });
    }
    let mut seen = 0;
    while let Some(joined) = set.join_next().await {
        let (name, reply, outcome, elapsed) = joined.expect("a probe task panicked");
        seen += 1;
        assert!(
            elapsed < timeout + Duration::from_millis(500),
            "{name}: {elapsed:?}"
        );
        let sent = match &reply {
            Reply::Bytes(b) | Reply::Trickle(b) | Reply::Held(b) => b.clone(),
            Reply::Endless => Vec::new(),
        };
        let complete_hello = matches!(
            server_hello::parse_server_reply(&sent),
            ServerReply::Hello(h) if h.cipher == OFFERED && h.version == 0x0303
        );
        match &outcome {
            ProbeOutcome::Accepted(a) => {
                assert!(complete_hello, "{name}: accepted {a:?}");
                assert_eq!(a.code, SuiteCode(OFFERED));
            }
            // Random bytes can spell an alert; only then is a rejection right.
            ProbeOutcome::Rejected(r) => assert!(
                matches!(
                    server_hello::parse_server_reply(&sent),
                    ServerReply::Alert(_)
                ),
                "{name}: rejected {r:?}"
            ),
            ProbeOutcome::Inconclusive(_) => {
                assert!(
                    !complete_hello,
                    "{name}: a valid ServerHello was missed: {outcome:?}"
                )
            }
        }
        if let Some(n) = name.strip_prefix("ServerHello truncated to ") {
            let n: usize = n.parse().unwrap();
            if n < valid.len() {
                assert_eq!(
                    outcome,
                    ProbeOutcome::Inconclusive(Inconclusive::Closed { bytes: n }),
                    "{name}"
                );
            }
        }
        if name == "handshake that never completes" {
            assert!(
                matches!(&outcome, ProbeOutcome::Inconclusive(Inconclusive::Malformed(m)) if m.contains("64 KiB")),
                "{outcome:?}"
            );
        }
    }
    assert_eq!(seen, count);
}

/// Rough per-probe cost of both engines on loopback, one probe at a time (both stop reading at the
/// ServerHello): `cargo test --release --test raw -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn per_probe_cost() {
    let server = TlsServer::start(
        ServerConfig::default().with_cipher_list("ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA"),
    )
    .unwrap();
    let openssl = OpensslProber::new(server.addr(), sni(), TIMEOUT).unwrap();
    let raw = RawProber::new(server.addr(), sni(), TIMEOUT);
    const N: u32 = 1000;
    for (protocol, name) in [
        (Protocol::Tls12, "ECDHE-RSA-AES128-GCM-SHA256"),
        (Protocol::Tls12, "AES128-SHA"),
        (Protocol::Tls12, "CAMELLIA128-SHA"),
        (Protocol::Tls13, "TLS_AES_128_GCM_SHA256"),
    ] {
        let suite = catalog().by_name(name).unwrap();
        let (mut by_openssl, mut by_raw) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..N {
            let t = Instant::now();
            openssl.probe(protocol, suite).await;
            by_openssl += t.elapsed();
            let t = Instant::now();
            raw.probe(protocol, &[suite.code.0]).await;
            by_raw += t.elapsed();
        }
        eprintln!(
            "{protocol} {name:<28} openssl {:>10.2?}   raw {:>10.2?}",
            by_openssl / N,
            by_raw / N
        );
    }
}

/// Before TLS 1.3 an ECDHE ServerHello is followed by the ServerKeyExchange that names the curve:
/// the raw prober reads on for it and reports the group. A server that stalls after its
/// ServerHello is waited for only a moment: the suite is accepted all the same, long before the
/// probe's timeout, with no group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curve_is_read_from_the_flight_and_a_stalled_flight_keeps_its_server_hello() {
    const ECDHE: u16 = 0xC02F;
    let mut flight = server_hello(ECDHE);
    let mut messages = vec![11, 0, 0, 3, 0, 0, 0];
    // ServerKeyExchange: named_curve (3), secp256r1 (0x0017), then a key and signature.
    messages.extend_from_slice(&[12, 0, 0, 5, 3, 0x00, 0x17, 1, 4]);
    messages.extend_from_slice(&[14, 0, 0, 0]);
    flight.extend_from_slice(&record(22, &messages));
    let cases = [
        ("whole flight", Reply::Held(flight), Some(0x0017)),
        (
            "ServerHello, then silence",
            Reply::Held(server_hello(ECDHE)),
            None,
        ),
    ];
    for (name, reply, group) in cases {
        let (outcome, elapsed) = timed_probe(reply, TIMEOUT, &[ECDHE, 0x002F]).await;
        match outcome {
            ProbeOutcome::Accepted(a) => {
                assert_eq!(a.code.0, ECDHE, "{name}");
                assert_eq!(a.group, group, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(elapsed < Duration::from_secs(1), "{name}: {elapsed:?}");
    }
}

/// A GnuTLS server (another TLS 1.3 stack than OpenSSL's) that has P-384 alone: the raw engine's
/// TLS 1.3 hellos without a key share (the server answers with a HelloRetryRequest) find the suites
/// and the one group that OpenSSL's hellos with key shares find.
#[test]
fn a_gnutls_tls13_server_reads_the_same_without_key_shares() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = GnutlsServer::start(
        dir.path(),
        "NORMAL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-SECP384R1",
    ) else {
        return;
    };
    let read = |extra: &[&str]| {
        let mut args = vec!["--protocols", "tls1.3"];
        args.extend_from_slice(extra);
        let r = common::scan_json(server.addr.port(), &args);
        assert_eq!(r["summary"]["inconclusive"], 0, "{r:#}");
        let field = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_string();
        let suites: BTreeSet<String> = r["ciphers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "accepted")
            .map(|c| field(c, "openssl_name"))
            .collect();
        let groups: Vec<(String, String)> = r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (field(g, "name"), field(g, "status")))
            .collect();
        (suites, groups)
    };
    let (raw_suites, raw_groups) = read(&[]);
    let (key_share_suites, key_share_groups) = read(&["--engine", "openssl"]);
    assert!(
        raw_suites.contains("TLS_AES_128_GCM_SHA256"),
        "{raw_suites:?}"
    );
    assert_eq!(raw_suites, key_share_suites);
    assert_eq!(raw_groups, key_share_groups);
    let accepted: Vec<&str> = raw_groups
        .iter()
        .filter(|(_, s)| s == "accepted")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(accepted, ["P-384"], "{raw_groups:?}");
}
