// Elimination against real servers on loopback: it must find exactly what one-suite-per-hello probing
// finds, in the number of hellos its formula promises; learn an enforced server order (also across
// chunks); send an Envoy-exact hello that agrees with the OpenSSL simulation of Envoy; and hand a
// misbehaving server back for per-suite probing instead of calling its suites rejected.

use crate::common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cipher_test::envoy::{profile, EnvoyClient, TlsParams};
use cipher_test::probe::gate::Gate;
use cipher_test::probe::handshake::Simulation;
use cipher_test::probe::openssl::OpensslProber;
use cipher_test::probe::raw::RawProber;
use cipher_test::probe::{ProbeOutcome, Refusal};
use cipher_test::scan::eliminate::{
    eliminate, eliminate_split, envoy_hello, server_preference, Elimination,
};
use cipher_test::testing::server::{ServerConfig, TlsServer};
use cipher_test::tls::catalog::catalog;
use cipher_test::tls::protocol::Protocol;
use common::ResetAfterHello;
use openssl::ssl::SslVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const TIMEOUT: Duration = Duration::from_secs(5);
/// Per-suite probes in flight at once.
const CONCURRENCY: usize = 16;

fn sni() -> Option<String> {
    Some("localhost".to_string())
}

fn code(name: &str) -> u16 {
    catalog()
        .by_name(name)
        .unwrap_or_else(|| panic!("{name} is in the catalogue"))
        .code
        .0
}

/// Every catalogue suite a hello at `protocol` may offer, in code-point order.
fn suites_for(protocol: Protocol) -> Vec<u16> {
    catalog()
        .suites()
        .iter()
        .filter(|s| s.applies_to(protocol))
        .map(|s| s.code.0)
        .collect()
}

/// The hellos elimination promises without a fallback: per chunk, one per chosen suite and one for
/// the refusal (none when every suite of the chunk was chosen).
fn expected_hellos(offered: &[u16], e: &Elimination) -> usize {
    offered
        .chunks(e.chunk_size)
        .map(|chunk| {
            let chosen = chunk.iter().filter(|s| e.chosen().contains(s)).count();
            chosen + usize::from(chosen < chunk.len())
        })
        .sum()
}

/// The suites one-suite probing found accepted for one profile and version.
fn accepted_at(
    accepted: &BTreeSet<(usize, Protocol, u16)>,
    index: usize,
    protocol: Protocol,
) -> BTreeSet<u16> {
    accepted
        .iter()
        .filter(|(i, p, _)| *i == index && *p == protocol)
        .map(|(_, _, s)| *s)
        .collect()
}

/// `e` chose exactly `want`, each once, and settled every offered suite by a TLS answer: chosen ones
/// accepted, the rest refused with an ordinary refusal.
fn check_settled(name: &str, offered: &[u16], e: &Elimination, want: &BTreeSet<u16>) {
    let protocol = e.protocol;
    assert_eq!(e.fallback, None, "{name}: {protocol}");
    let found: BTreeSet<u16> = e.chosen().iter().copied().collect();
    assert_eq!(
        found.len(),
        e.chosen().len(),
        "{name}: {protocol}: chosen twice"
    );
    assert_eq!(&found, want, "{name}: {protocol}");
    assert_eq!(
        e.outcomes.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        offered
    );
    for (suite, outcome) in &e.outcomes {
        match outcome {
            ProbeOutcome::Accepted(a) => {
                assert!(found.contains(suite) && a.code.0 == *suite && a.protocol == protocol)
            }
            ProbeOutcome::Rejected(r) => {
                assert!(!found.contains(suite));
                // Only the ordinary refusals: no one-suite check hello was needed.
                assert!(
                    matches!(r, Refusal::OlderVersion { .. })
                        || matches!(r, Refusal::Alert(a) if [40, 70, 71].contains(&a.description.0)),
                    "{name}: {protocol} 0x{suite:04X}: {r}"
                );
            }
            ProbeOutcome::Inconclusive(why) => {
                panic!("{name}: {protocol} 0x{suite:04X}: inconclusive: {why}")
            }
        }
    }
    assert_eq!(e.chunks, offered.len().div_ceil(e.chunk_size));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elimination_finds_what_per_suite_probing_finds() {
    use Protocol::*;
    let start = Instant::now();
    let profiles = [
        (
            "TLS 1.2, ECDHE-RSA-AES256-SHA:AES128-SHA",
            ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA:AES128-SHA"),
        ),
        (
            "wide: TLS 1.0-1.3, ALL:@SECLEVEL=0, RSA key",
            ServerConfig::default().with_cipher_list("ALL:@SECLEVEL=0"),
        ),
        (
            "TLS 1.2, DHE only",
            ServerConfig::tls12_only("DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA"),
        ),
        (
            "TLS 1.3 only, CCM suites",
            ServerConfig::tls13_only(
                "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256:TLS_CHACHA20_POLY1305_SHA256",
            ),
        ),
        (
            "TLS 1.0 only",
            ServerConfig::version_only(SslVersion::TLS1, "ECDHE-RSA-AES128-SHA:AES256-SHA"),
        ),
    ];
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut eliminations = JoinSet::new();
    let mut splits = JoinSet::new();
    let mut per_suite = JoinSet::new();
    let mut servers = Vec::new();
    for (index, (name, config)) in profiles.into_iter().enumerate() {
        let server = TlsServer::start(config).expect("start TLS server");
        let raw = Arc::new(RawProber::new(server.addr(), sni(), TIMEOUT));
        let versions: Vec<(Protocol, Vec<u16>)> = [Ssl3, Tls10, Tls11, Tls12, Tls13]
            .into_iter()
            .map(|p| (p, suites_for(p)))
            .collect();
        let gated = raw.gated(Arc::new(Gate::new(8, None, Duration::ZERO)));
        splits.spawn(async move {
            let found = eliminate_split(&gated, &versions, 8, 8).await;
            // Sets asked whole, as on a near network.
            let whole = eliminate_split(&gated, &versions, 8, 1).await;
            (index, versions, found, whole)
        });
        for protocol in [Ssl3, Tls10, Tls11, Tls12, Tls13] {
            let offered = suites_for(protocol);
            for &suite in &offered {
                let (raw, permits) = (raw.clone(), permits.clone());
                per_suite.spawn(async move {
                    let _permit = permits.acquire_owned().await.unwrap();
                    (index, protocol, suite, raw.probe(protocol, &[suite]).await)
                });
            }
            let raw = raw.clone();
            eliminations.spawn(async move {
                let e = eliminate(&raw, protocol, &offered).await;
                (index, offered, e)
            });
        }
        servers.push((name, server));
    }

    // What one suite per hello finds: (profile, protocol) -> accepted suites.
    let mut accepted: BTreeSet<(usize, Protocol, u16)> = BTreeSet::new();
    let mut probes = vec![0usize; servers.len()];
    while let Some(joined) = per_suite.join_next().await {
        let (index, protocol, suite, outcome) = joined.expect("probe task");
        probes[index] += 1;
        match outcome {
            ProbeOutcome::Accepted(a) => {
                assert_eq!(a.code.0, suite);
                accepted.insert((index, protocol, suite));
            }
            ProbeOutcome::Rejected(_) => {}
            ProbeOutcome::Inconclusive(why) => panic!(
                "{}: {protocol} 0x{suite:04X} per suite: inconclusive: {why}",
                servers[index].0
            ),
        }
    }

    let mut hellos = vec![0usize; servers.len()];
    let mut lines = Vec::new();
    while let Some(joined) = eliminations.join_next().await {
        let (index, offered, e) = joined.expect("elimination task");
        let name = servers[index].0;
        check_settled(
            name,
            &offered,
            &e,
            &accepted_at(&accepted, index, e.protocol),
        );
        assert_eq!(
            e.hellos,
            expected_hellos(&offered, &e),
            "{name}: {}: {} chosen in {} chunks of {}",
            e.protocol,
            e.chosen().len(),
            e.chunks,
            e.chunk_size
        );
        hellos[index] += e.hellos;
        lines.push(format!(
            "{name}: {}: {} accepted, {} hellos ({} chunks of <= {}) vs {} per-suite probes",
            e.protocol,
            e.chosen().len(),
            e.hellos,
            e.chunks,
            e.chunk_size,
            offered.len()
        ));
    }
    // Split elimination settles the same, in at least as many hellos as elimination in sequence and
    // at most eight per accepted suite (a choice splits the rest in up to eight sets) plus one per
    // chunk; with sets asked whole, in exactly as many as in sequence.
    while let Some(joined) = splits.join_next().await {
        let (index, versions, found, whole) = joined.expect("split elimination task");
        let name = servers[index].0;
        assert_eq!(found.len(), versions.len());
        assert_eq!(whole.len(), versions.len());
        for ((protocol, offered), e) in versions.iter().zip(&whole) {
            assert_eq!(e.protocol, *protocol);
            check_settled(name, offered, e, &accepted_at(&accepted, index, *protocol));
            assert_eq!(
                e.hellos,
                expected_hellos(offered, e),
                "{name}: {protocol}: whole sets"
            );
        }
        for ((protocol, offered), e) in versions.iter().zip(&found) {
            assert_eq!(e.protocol, *protocol);
            check_settled(name, offered, e, &accepted_at(&accepted, index, *protocol));
            let least = expected_hellos(offered, e);
            let most = 8 * e.chosen().len() + e.chunks;
            assert!(
                (least..=most).contains(&e.hellos),
                "{name}: {protocol}: split: {} hellos, not in {least}..={most}",
                e.hellos
            );
            lines.push(format!(
                "{name}: {protocol}: split: {} hellos (sequence: {least})",
                e.hellos
            ));
        }
    }
    lines.sort();
    for line in lines {
        eprintln!("{line}");
    }
    for (index, (name, _)) in servers.iter().enumerate() {
        eprintln!(
            "{name}: all versions: {} hellos vs {} per-suite probes",
            hellos[index], probes[index]
        );
    }
    eprintln!("done in {:?}", start.elapsed());
}

#[tokio::test]
async fn an_enforced_server_order_is_found_and_a_client_order_is_recognised() {
    let list = "AES128-SHA:ECDHE-RSA-AES256-SHA:AES256-SHA";
    let want = vec![
        code("AES128-SHA"),
        code("ECDHE-RSA-AES256-SHA"),
        code("AES256-SHA"),
    ];
    let offered = suites_for(Protocol::Tls12);

    let enforcing =
        TlsServer::start(ServerConfig::tls12_only(list).with_server_preference()).unwrap();
    let raw = RawProber::new(enforcing.addr(), sni(), TIMEOUT);
    let e = eliminate(&raw, Protocol::Tls12, &offered).await;
    assert_eq!(e.chosen().len(), 3, "{e:?}");
    // AES128-SHA and AES256-SHA share the first chunk, ECDHE-RSA-AES256-SHA (0xC014) comes in a
    // later one: the elimination order is the server's only within a chunk.
    assert_eq!(
        e.chosen(),
        [
            code("AES128-SHA"),
            code("AES256-SHA"),
            code("ECDHE-RSA-AES256-SHA")
        ]
    );
    let pref = server_preference(&raw, Protocol::Tls12, &e.chosen(), &e.choices).await;
    assert_eq!(pref.error, None);
    assert_eq!(pref.enforced, Some(true));
    assert_eq!(pref.order, want);
    // The reversed hello names the favourite (the pair sent beside it is not needed), one more
    // hello the second; the third is what is left.
    assert_eq!(pref.hellos, 3);

    let following = TlsServer::start(ServerConfig::tls12_only(list)).unwrap();
    let raw = RawProber::new(following.addr(), sni(), TIMEOUT);
    let e = eliminate(&raw, Protocol::Tls12, &offered).await;
    // AES256-SHA and ECDHE-RSA-AES256-SHA, the pair, never shared a hello: it is sent.
    let pref = server_preference(&raw, Protocol::Tls12, &e.chosen(), &e.choices).await;
    assert_eq!(pref.error, None);
    assert_eq!(pref.enforced, Some(false));
    assert!(pref.order.is_empty());
    assert_eq!(pref.hellos, 2);
    // Whatever order the caller passes, the answer is the same.
    let pref = server_preference(&raw, Protocol::Tls12, &want, &[]).await;
    assert_eq!((pref.enforced, pref.hellos), (Some(false), 2));

    // When elimination already saw the pair's first chosen with its second offered (one chunk),
    // the reversed hello alone tells a server that follows the client...
    let (aes128, aes256) = (code("AES128-SHA"), code("AES256-SHA"));
    let following = TlsServer::start(ServerConfig::tls12_only("AES128-SHA:AES256-SHA")).unwrap();
    let raw = RawProber::new(following.addr(), sni(), TIMEOUT);
    let e = eliminate(&raw, Protocol::Tls12, &offered).await;
    assert_eq!(e.chosen(), [aes128, aes256]);
    let pref = server_preference(&raw, Protocol::Tls12, &e.chosen(), &e.choices).await;
    assert_eq!((pref.enforced, pref.hellos), (Some(false), 1));
    // ...and never stands in for the pair where it is not that evidence: a server whose favourite
    // is the client's first in the reversed hello (the suites in code-point order, as the scan
    // passes them) chose it from every hello that offered it.
    let enforcing = TlsServer::start(
        ServerConfig::tls12_only("AES256-SHA:AES128-SHA").with_server_preference(),
    )
    .unwrap();
    let raw = RawProber::new(enforcing.addr(), sni(), TIMEOUT);
    let e = eliminate(&raw, Protocol::Tls12, &offered).await;
    assert_eq!(e.chosen(), [aes256, aes128]);
    let pref = server_preference(&raw, Protocol::Tls12, &[aes128, aes256], &e.choices).await;
    assert_eq!(
        (pref.enforced, pref.order.clone(), pref.hellos),
        (Some(true), vec![aes256, aes128], 2)
    );

    // TLS 1.3: OpenSSL applies its preference option to the TLS 1.3 suites too.
    let tls13 = TlsServer::start(
        ServerConfig::tls13_only(
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
        )
        .with_server_preference(),
    )
    .unwrap();
    let raw = RawProber::new(tls13.addr(), sni(), TIMEOUT);
    let e = eliminate(&raw, Protocol::Tls13, &suites_for(Protocol::Tls13)).await;
    assert_eq!(
        e.chosen(),
        [0x1303, 0x1301, 0x1302],
        "one chunk: the server's order"
    );
    let pref = server_preference(&raw, Protocol::Tls13, &e.chosen(), &e.choices).await;
    assert_eq!(
        (pref.enforced, pref.order),
        (Some(true), vec![0x1303, 0x1301, 0x1302])
    );

    // One accepted suite: nothing to order, no hello sent.
    let single = TlsServer::start(ServerConfig::tls12_only("AES128-SHA")).unwrap();
    let raw = RawProber::new(single.addr(), sni(), TIMEOUT);
    let pref = server_preference(&raw, Protocol::Tls12, &[code("AES128-SHA")], &[]).await;
    assert_eq!((pref.enforced, pref.order.len(), pref.hellos), (None, 0, 0));
}

#[tokio::test]
async fn an_enforced_order_spanning_chunks_is_merged() {
    // Every suite a wide server accepts at TLS 1.2, in a scrambled order (an odd multiplier permutes
    // the code points), served with server preference: the suites fill several chunks, so the
    // elimination order is the server's only within each.
    let offered = suites_for(Protocol::Tls12);
    let wide = TlsServer::start(ServerConfig::tls12_only("ALL:@SECLEVEL=0")).unwrap();
    let raw = RawProber::new(wide.addr(), sni(), TIMEOUT);
    let mut order = eliminate(&raw, Protocol::Tls12, &offered).await.chosen();
    order.sort_by_key(|c| c.wrapping_mul(0x9E37));
    let names: Vec<&str> = order
        .iter()
        .map(|&c| catalog().by_code(c).unwrap().openssl_name.as_str())
        .collect();
    let server = TlsServer::start(
        ServerConfig::tls12_only(&format!("{}:@SECLEVEL=0", names.join(":")))
            .with_server_preference(),
    )
    .unwrap();
    let raw = RawProber::new(server.addr(), sni(), TIMEOUT);
    let e = eliminate(&raw, Protocol::Tls12, &offered).await;
    assert_eq!(e.fallback, None);
    assert!(
        order.len() > e.chunk_size,
        "{} suites, chunks of {}",
        order.len(),
        e.chunk_size
    );
    assert_ne!(
        e.chosen(),
        order,
        "several chunks: elimination alone cannot know the order"
    );
    let pref = server_preference(&raw, Protocol::Tls12, &e.chosen(), &e.choices).await;
    assert_eq!(pref.error, None);
    assert_eq!(pref.enforced, Some(true));
    assert_eq!(pref.order, order);
    eprintln!(
        "{} suites in server order: {} elimination hellos, then {} to order them",
        order.len(),
        e.hellos,
        pref.hellos
    );
}

/// What an Envoy-like client gets: the version and suite (OpenSSL name), or `None` for a refusal.
type Agreed = Option<(Protocol, &'static str)>;

/// The (protocol, suite) both engines agree on, or `None` for a refusal; panics on anything else.
fn raw_result(o: &ProbeOutcome) -> Option<(Protocol, u16)> {
    match o {
        ProbeOutcome::Accepted(a) => Some((a.protocol, a.code.0)),
        ProbeOutcome::Rejected(_) => None,
        ProbeOutcome::Inconclusive(why) => panic!("Envoy-exact hello inconclusive: {why}"),
    }
}

fn simulated(s: &Simulation) -> Option<(Protocol, u16)> {
    match s {
        Simulation::Connected { negotiated: n, .. } => Some((n.protocol, n.code)),
        Simulation::Failed { .. } => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_envoy_exact_hello_agrees_with_the_openssl_simulation() {
    let current = profile("current").unwrap();
    let default = EnvoyClient::new(current);
    let with_p384 = EnvoyClient::with_params(
        current,
        &TlsParams {
            ecdh_curves: Some(vec!["X25519".into(), "P-256".into(), "P-384".into()]),
            ..TlsParams::default()
        },
    );
    let up_to_13 = EnvoyClient::with_params(
        current,
        &TlsParams {
            max_version: Some(Protocol::Tls13),
            ..TlsParams::default()
        },
    );
    let hrr_client = EnvoyClient::with_params(
        current,
        &TlsParams {
            max_version: Some(Protocol::Tls13),
            ecdh_curves: Some(vec!["X25519".into(), "P-384".into()]),
            ..TlsParams::default()
        },
    );
    let aead =
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305";
    // (case, server, client, what both must negotiate: None for a refusal)
    let cases: Vec<(&str, ServerConfig, &EnvoyClient, Agreed)> = vec![
        (
            "ECDHE AEAD, client order",
            ServerConfig::tls12_only(aead),
            &default,
            Some((Protocol::Tls12, "ECDHE-RSA-AES128-GCM-SHA256")),
        ),
        (
            "ECDHE AEAD, server order",
            ServerConfig::tls12_only(aead).with_server_preference(),
            &default,
            Some((Protocol::Tls12, "ECDHE-RSA-AES256-GCM-SHA384")),
        ),
        (
            "CBC only",
            ServerConfig::tls12_only("ECDHE-RSA-AES128-SHA:AES256-SHA"),
            &default,
            None,
        ),
        (
            "P-384 only, default curves",
            ServerConfig::tls12_only(aead).with_groups("P-384"),
            &default,
            None,
        ),
        (
            "P-384 only, ecdh_curves X25519,P-256,P-384",
            ServerConfig::tls12_only(aead).with_groups("P-384"),
            &with_p384,
            Some((Protocol::Tls12, "ECDHE-RSA-AES128-GCM-SHA256")),
        ),
        (
            "TLS 1.3 only, default client",
            ServerConfig::tls13_only("TLS_AES_256_GCM_SHA384"),
            &default,
            None,
        ),
        (
            "TLS 1.3 only, max_version TLS 1.3",
            ServerConfig::tls13_only("TLS_AES_256_GCM_SHA384"),
            &up_to_13,
            Some((Protocol::Tls13, "TLS_AES_256_GCM_SHA384")),
        ),
        (
            "TLS 1.2 only, max_version TLS 1.3 (the version range ends at 1.2)",
            ServerConfig::tls12_only(aead),
            &up_to_13,
            Some((Protocol::Tls12, "ECDHE-RSA-AES128-GCM-SHA256")),
        ),
        (
            "TLS 1.3 with P-384 only: a HelloRetryRequest for the client's second curve",
            ServerConfig::tls13_only("TLS_AES_128_GCM_SHA256").with_groups("P-384"),
            &hrr_client,
            Some((Protocol::Tls13, "TLS_AES_128_GCM_SHA256")),
        ),
    ];
    for (name, config, client, want) in cases {
        let server = TlsServer::start(config).unwrap();
        let raw = RawProber::new(server.addr(), sni(), TIMEOUT);
        let openssl = OpensslProber::new(server.addr(), sni(), TIMEOUT).unwrap();
        let by_raw = envoy_hello(&raw, client).await;
        let by_openssl = openssl.simulate(&client.spec(), None).await;
        let want = want.map(|(p, n)| (p, code(n)));
        assert_eq!(raw_result(&by_raw), want, "{name}: raw {by_raw:?}");
        assert_eq!(
            simulated(&by_openssl),
            want,
            "{name}: simulation {by_openssl:?}"
        );
        if let ProbeOutcome::Accepted(a) = &by_raw {
            if a.protocol == Protocol::Tls13 {
                assert!(
                    a.group.is_some(),
                    "{name}: a TLS 1.3 answer names its group"
                );
            }
        }
    }
}

/// A listener that resets any connection whose first TLS record is longer than `limit` bytes and
/// proxies the others to `upstream`: a terminator intolerant of large ClientHellos.
struct BigHelloResetter {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl BigHelloResetter {
    fn start(upstream: SocketAddr, limit: usize) -> BigHelloResetter {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    thread::spawn(move || Self::handle(stream, upstream, limit));
                }
            }
        });
        BigHelloResetter { addr, stop }
    }

    fn handle(mut client: TcpStream, upstream: SocketAddr, limit: usize) {
        let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
        let mut header = [0u8; 5];
        if client.read_exact(&mut header).is_err() {
            return;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if 5 + len > limit {
            // Closing with the rest of the hello unread makes the kernel answer with a RST.
            let mut most = vec![0u8; len.saturating_sub(1)];
            let _ = client.read_exact(&mut most);
            return;
        }
        let mut body = vec![0u8; len];
        if client.read_exact(&mut body).is_err() {
            return;
        }
        let Ok(mut server) = TcpStream::connect(upstream) else {
            return;
        };
        if server
            .write_all(&header)
            .and_then(|_| server.write_all(&body))
            .is_err()
        {
            return;
        }
        let _ = client.set_read_timeout(None);
        let (Ok(mut client_read), Ok(mut server_read)) = (client.try_clone(), server.try_clone())
        else {
            return;
        };
        let back = thread::spawn(move || {
            let _ = std::io::copy(&mut server_read, &mut client);
            let _ = client.shutdown(Shutdown::Write);
        });
        let _ = std::io::copy(&mut client_read, &mut server);
        let _ = server.shutdown(Shutdown::Write);
        let _ = back.join();
    }
}

impl Drop for BigHelloResetter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

#[tokio::test]
async fn a_misbehaving_server_is_handed_back_for_per_suite_probing() {
    let offered = suites_for(Protocol::Tls12);
    let no_rejections = |e: &Elimination| {
        for (suite, o) in &e.outcomes {
            assert!(
                o.is_inconclusive(),
                "0x{suite:04X} must stay unsettled, not {o:?}"
            );
        }
        assert!(e.chosen().is_empty());
    };

    // Every connection reset after its hello: no TLS answer to a large hello nor to a small one.
    let reset = ResetAfterHello::start();
    let raw = RawProber::new(reset.addr(), sni(), TIMEOUT);
    let e = eliminate(&raw, Protocol::Tls12, &offered).await;
    let why = e.fallback.clone().expect("fallback");
    assert!(why.contains("nor to a one-suite hello"), "{why}");
    no_rejections(&e);
    assert_eq!(e.hellos, 2, "the failed hello and the one-suite check");

    // Hellos over 200 bytes reset, smaller ones reach a real server: intolerance to large hellos.
    let server =
        TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA:AES128-SHA")).unwrap();
    let resetter = BigHelloResetter::start(server.addr(), 200);
    let raw = RawProber::new(resetter.addr, sni(), TIMEOUT);
    let e = eliminate(&raw, Protocol::Tls12, &offered).await;
    let why = e.fallback.clone().expect("fallback");
    assert!(
        why.contains("does not tolerate large ClientHellos"),
        "{why}"
    );
    assert!(why.contains(&format!("{}-suite", e.chunk_size)), "{why}");
    no_rejections(&e);
    assert_eq!(e.hellos, 2);
    eprintln!("fallback: {why}");
    // The fallback works: one suite per hello gets through.
    for name in ["ECDHE-RSA-AES256-SHA", "AES128-SHA"] {
        let o = raw.probe(Protocol::Tls12, &[code(name)]).await;
        assert!(matches!(o, ProbeOutcome::Accepted(_)), "{name}: {o:?}");
    }
    let o = raw.probe(Protocol::Tls12, &[code("AES256-SHA")]).await;
    assert!(matches!(o, ProbeOutcome::Rejected(_)), "{o:?}");
}

/// What a scripted server does with one ClientHello.
enum Reply {
    Alert(u8),
    /// A TLS 1.2 ServerHello choosing this suite, whatever was offered.
    Choose(u16),
    /// A RST.
    Reset,
}

/// A server that answers each ClientHello as `script(connection index, suites offered)` says.
async fn scripted(script: impl Fn(usize, &[u16]) -> Reply + Send + Sync + 'static) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(script);
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let index = count.fetch_add(1, Ordering::SeqCst);
            let script = script.clone();
            tokio::spawn(async move {
                let mut header = [0u8; 5];
                if stream.read_exact(&mut header).await.is_err() {
                    return;
                }
                let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
                if stream.read_exact(&mut body).await.is_err() {
                    return;
                }
                let mut record = header.to_vec();
                record.extend_from_slice(&body);
                let bytes = match script(index, &offered_suites(&record)) {
                    Reply::Reset => {
                        let _ = stream.set_zero_linger();
                        return;
                    }
                    Reply::Alert(d) => cipher_test::tls::server_hello::alert_record(
                        2,
                        cipher_test::tls::enums::AlertDescription(d),
                    ),
                    Reply::Choose(suite) => server_hello(suite),
                };
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                let mut sink = [0u8; 512];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// The suites of one ClientHello record, the SCSV left out.
fn offered_suites(record: &[u8]) -> Vec<u16> {
    cipher_test::tls::client_hello::parse_client_hello(record)
        .map(|h| h.suites)
        .unwrap_or_default()
        .into_iter()
        .filter(|&s| s != cipher_test::tls::client_hello::RENEGOTIATION_INFO_SCSV)
        .collect()
}

/// A TLS 1.2 ServerHello record choosing `suite`, without extensions.
fn server_hello(suite: u16) -> Vec<u8> {
    cipher_test::tls::server_hello::ServerHello {
        version: 0x0303,
        cipher: suite,
        hello_retry: false,
        group: None,
    }
    .to_record(&[], &[])
}

#[tokio::test]
async fn scripted_misbehaviour_is_told_apart_from_refusals() {
    let offered = suites_for(Protocol::Tls12);
    let tls12 = |addr| RawProber::new(addr, sni(), TIMEOUT);

    // A suite chosen that was never offered: a protocol violation, no check hello needed.
    let addr = scripted(|_, _| Reply::Choose(0x1301)).await;
    let e = eliminate(&tls12(addr), Protocol::Tls12, &offered).await;
    let why = e.fallback.clone().expect("fallback");
    assert!(why.contains("0x1301, which was not offered"), "{why}");
    assert_eq!((e.hellos, e.chosen().len()), (1, 0));
    assert!(e.outcomes.iter().all(|(_, o)| o.is_inconclusive()));

    // Accepts on the first connection, then resets everything: a failure mid-way.
    let addr = scripted(|i, suites| {
        if i == 0 {
            Reply::Choose(suites[1])
        } else {
            Reply::Reset
        }
    })
    .await;
    let e = eliminate(&tls12(addr), Protocol::Tls12, &offered).await;
    assert_eq!(e.chosen(), [offered[1]]);
    assert!(matches!(
        e.outcome(offered[1]),
        Some(ProbeOutcome::Accepted(_))
    ));
    assert!(e
        .fallback
        .expect("fallback")
        .contains("nor to a one-suite hello"));
    assert_eq!(
        e.hellos, 3,
        "the acceptance, the reset, the one-suite check"
    );

    // An unusual alert to a large hello that a one-suite hello confirms: an ordinary refusal, at the
    // cost of one check hello per chunk.
    let addr = scripted(|_, suites| Reply::Alert(if suites.len() > 1 { 50 } else { 40 })).await;
    let e = eliminate(&tls12(addr), Protocol::Tls12, &offered).await;
    assert_eq!(e.fallback, None);
    assert_eq!(e.hellos, 2 * e.chunks);
    for (i, (suite, o)) in e.outcomes.iter().enumerate() {
        // The first suite of each chunk was last offered alone, and refused with 40.
        let alert = if i % e.chunk_size == 0 { 40 } else { 50 };
        assert!(
            matches!(o, ProbeOutcome::Rejected(Refusal::Alert(a)) if a.description.0 == alert),
            "0x{suite:04X}: {o:?}"
        );
    }

    // The same alert contradicted by a one-suite hello the server accepts: intolerance, not refusal.
    let addr = scripted(|_, suites| {
        if suites.len() > 1 {
            Reply::Alert(50)
        } else {
            Reply::Choose(suites[0])
        }
    })
    .await;
    let e = eliminate(&tls12(addr), Protocol::Tls12, &offered).await;
    let why = e.fallback.clone().expect("fallback");
    assert!(
        why.contains("decode_error") && why.contains("large ClientHellos"),
        "{why}"
    );
    assert_eq!(e.hellos, 2);
    assert!(e.outcomes.iter().all(|(_, o)| o.is_inconclusive()));
}

#[tokio::test]
async fn split_elimination_reads_misbehaviour_as_elimination_does() {
    let offered = suites_for(Protocol::Tls12);
    let split_counted = |addr| async move {
        let gate = Arc::new(Gate::new(8, None, Duration::ZERO));
        let raw = RawProber::new(addr, sni(), TIMEOUT).gated(Arc::clone(&gate));
        let mut found = eliminate_split(
            &raw,
            &[(Protocol::Tls12, suites_for(Protocol::Tls12))],
            8,
            8,
        )
        .await;
        (found.pop().expect("one version in, one out"), gate.stats())
    };
    let split = |addr| async move { split_counted(addr).await.0 };

    // Every connection reset: the version is handed back, and every hello sent is counted, also
    // those of chunks still under way when the first reset came back.
    let reset = ResetAfterHello::start();
    let (e, stats) = split_counted(reset.addr()).await;
    assert!(e
        .fallback
        .clone()
        .expect("fallback")
        .contains("nor to a one-suite hello"));
    assert!(e.outcomes.iter().all(|(_, o)| o.is_inconclusive()));
    assert!(e.chunks > 1, "several chunks under way at once");
    // The gate sent hellos again a few times at most, the server never having answered one.
    assert_eq!(stats.connections, reset.connections());
    assert!(stats.connections <= 4 * e.hellos, "{stats:?}");
    assert_eq!(
        e.hellos,
        e.chunks + 1,
        "each chunk's hello and the one-suite check"
    );

    // A suite chosen that was never offered: a protocol violation; nothing is settled as rejected.
    let e = split(scripted(|_, _| Reply::Choose(0x1301)).await).await;
    let why = e.fallback.clone().expect("fallback");
    assert!(why.contains("0x1301, which was not offered"), "{why}");
    assert!(e.chosen().is_empty());
    assert!(e.outcomes.iter().all(|(_, o)| o.is_inconclusive()));

    // Accepts a hello offering one suite, resets every other: the version is handed back, and no
    // suite is called rejected (the acceptance stands if it came in before the first reset).
    let favourite = offered[1];
    let e = split(
        scripted(move |_, suites| {
            if suites.contains(&favourite) {
                Reply::Choose(favourite)
            } else {
                Reply::Reset
            }
        })
        .await,
    )
    .await;
    assert!(e
        .fallback
        .as_deref()
        .expect("fallback")
        .contains("no TLS answer"));
    assert!(
        e.chosen().iter().all(|&s| s == favourite),
        "{:?}",
        e.chosen()
    );
    for (suite, o) in &e.outcomes {
        match o {
            ProbeOutcome::Accepted(_) => assert_eq!(*suite, favourite),
            ProbeOutcome::Rejected(_) => panic!("0x{suite:04X} called rejected after resets"),
            ProbeOutcome::Inconclusive(_) => {}
        }
    }

    // An unusual alert to every many-suite hello is not trusted: the sets are halved down to one
    // suite each, and the one-suite answers settle every suite (2n - 1 hellos for a chunk of n).
    let e = split(scripted(|_, suites| Reply::Alert(if suites.len() > 1 { 50 } else { 40 })).await)
        .await;
    assert_eq!(e.fallback, None);
    let chunks: usize = offered.chunks(e.chunk_size).map(|c| 2 * c.len() - 1).sum();
    assert_eq!(e.hellos, chunks);
    for (suite, o) in &e.outcomes {
        assert!(
            matches!(o, ProbeOutcome::Rejected(Refusal::Alert(a)) if a.description.0 == 40),
            "0x{suite:04X}: {o:?}"
        );
    }

    // The same alert from a server that takes any one-suite hello: each suite is read as one-suite
    // probing reads it (accepted), where elimination in sequence gave up on the version.
    let e = split(
        scripted(|_, suites| {
            if suites.len() > 1 {
                Reply::Alert(50)
            } else {
                Reply::Choose(suites[0])
            }
        })
        .await,
    )
    .await;
    assert_eq!(e.fallback, None);
    assert_eq!(e.chosen().len(), offered.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elimination_that_contradicts_the_preflight_is_not_trusted() {
    // The first connection (the preflight, OpenSSL offering everything) gets a ServerHello for
    // ECDHE-RSA-AES128-GCM-SHA256; every later hello is refused. Elimination alone would call that
    // suite rejected; since the preflight negotiated it, the version is probed one suite per hello
    // instead, and the report says why.
    let favourite = code("ECDHE-RSA-AES128-GCM-SHA256");
    let addr = scripted(move |i, suites| {
        if i == 0 && suites.contains(&favourite) {
            Reply::Choose(favourite)
        } else {
            Reply::Alert(40)
        }
    })
    .await;
    let target = format!("127.0.0.1:{}", addr.port());
    let out = tokio::task::spawn_blocking(move || {
        common::run(&[
            &target,
            "--protocols",
            "tls1.2",
            "--format",
            "json",
            "--quiet",
        ])
    })
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect(&out.stderr);
    let tls12 = &report["enumeration"][0];
    assert_eq!(tls12["method"], "per-suite", "{tls12}");
    let why = tls12["fallback"].as_str().unwrap();
    assert!(
        why.contains("did not get ECDHE-RSA-AES128-GCM-SHA256")
            && why.contains("which the preflight handshake negotiated"),
        "{why}"
    );
    // Probed on its own, the suite gets the server's refusal: that is what the report says now.
    let row = report["ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["openssl_name"] == "ECDHE-RSA-AES128-GCM-SHA256")
        .unwrap();
    assert_eq!(row["status"], "rejected", "{row}");
    assert!(
        !row["reason"].as_str().unwrap().contains("elimination"),
        "{row}"
    );
}
