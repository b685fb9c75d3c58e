//! Rate-limited and flaky upstreams (issue 15): first the fronts of `testing::front` themselves, on
//! real sockets; then the issue's acceptance tests, one per pattern: a scan through the front must
//! find exactly what a scan of the server behind it finds, with nothing inconclusive and exit code 0.

use crate::common;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use cipher_test::testing::front::{self, Limit, LimitedFront};
use cipher_test::testing::server::{ServerConfig, TlsServer};
use cipher_test::util::Xorshift;
use serde_json::Value;

/// The inner server and a front with `limit` before it (the front is dropped first).
fn fronted(limit: Limit) -> (LimitedFront, TlsServer) {
    let inner = TlsServer::start(ServerConfig::six_suites()).expect("start the inner TLS server");
    let front = LimitedFront::start(inner.addr(), limit).expect("start the front");
    (front, inner)
}

/// Waits up to 5 s for `done`; whether it came true.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// Whether a full TLS handshake through `addr` succeeds (3 s at most).
fn handshake(addr: SocketAddr) -> bool {
    let Ok(tcp) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(3)));
    let client = common::lenient_client(|_| Ok(()));
    client.connect("localhost", tcp).is_ok()
}

/// How a connection that sent nothing ended within `wait`.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// Closed or reset by the front.
    Closed,
    /// Nothing happened within the wait.
    Silent,
    /// The peer sent bytes.
    Data,
}

fn ending(tcp: &mut TcpStream, wait: Duration) -> Ending {
    tcp.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    match tcp.read(&mut buf) {
        Ok(0) => Ending::Closed,
        Ok(_) => Ending::Data,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ending::Silent,
        Err(_) => Ending::Closed,
    }
}

/// Handshakes one after another through `limit`'s front: which succeeded, and the front.
fn handshakes(limit: Limit, n: usize) -> (Vec<bool>, LimitedFront, TlsServer) {
    let (front, inner) = fronted(limit);
    let results = (0..n).map(|_| handshake(front.addr())).collect();
    (results, front, inner)
}

// --- the fronts ---------------------------------------------------------------------------------

#[test]
fn dropping_every_nth_connection_relays_exactly_the_others() {
    let (ok, front, _inner) = handshakes(Limit::DropEveryNth(2), 8);
    assert_eq!(ok, [true, false, true, false, true, false, true, false]);
    assert_eq!(
        (front.accepted(), front.proxied(), front.dropped()),
        (8, 4, 4)
    );

    let (ok, front, _inner) = handshakes(Limit::DropEveryNth(3), 9);
    assert_eq!(ok, [true, true, false].repeat(3));
    assert_eq!((front.proxied(), front.dropped()), (6, 3));

    let (ok, front, _inner) = handshakes(Limit::KeepEveryNth(3), 6);
    assert_eq!(ok, [true, false, false, true, false, false]);
    assert_eq!((front.proxied(), front.dropped()), (2, 4));
}

#[test]
fn a_third_connection_beside_two_open_ones_is_reset_at_once() {
    let (front, _inner) = fronted(Limit::MaxConcurrent(2));
    // Two connections that send nothing: relayed, and held open by the server waiting for a hello.
    let first = TcpStream::connect(front.addr()).unwrap();
    let _second = TcpStream::connect(front.addr()).unwrap();
    assert!(eventually(|| front.proxied() == 2), "{front:?}");
    let mut third = TcpStream::connect(front.addr()).unwrap();
    let started = Instant::now();
    assert_eq!(ending(&mut third, Duration::from_secs(3)), Ending::Closed);
    assert!(started.elapsed() < Duration::from_secs(2), "not at once");
    assert_eq!((front.dropped(), front.peak_concurrent()), (1, 2));
    // Once one of the two closes (and the server behind it), a connection is relayed again.
    drop(first);
    assert!(eventually(|| front.open() == 1), "{front:?}");
    assert!(handshake(front.addr()), "{front:?}");
    assert_eq!((front.proxied(), front.peak_concurrent()), (3, 2));
}

#[test]
fn a_rate_of_20_per_second_lets_20_of_60_through() {
    let (front, _inner) = fronted(Limit::PerSecond(20));
    let started = Instant::now();
    let clients: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(front.addr()).unwrap())
        .collect();
    assert!(eventually(|| front.accepted() == 60), "{front:?}");
    let elapsed = started.elapsed();
    if elapsed < Duration::from_millis(900) {
        assert_eq!(front.proxied(), 20, "{front:?} in {elapsed:?}");
    } else {
        // A very slow machine: the window moved on during the connects.
        assert!((20..=60).contains(&front.proxied()), "{front:?}");
    }
    assert_eq!(front.proxied() + front.dropped(), 60);
    drop(clients);
    // A second later the window has room again.
    thread::sleep(Duration::from_millis(1100));
    assert!(handshake(front.addr()), "{front:?}");
}

#[test]
fn random_resets_are_the_seeded_ones() {
    let limit: Limit = "random-reset=20:seed=9".parse().unwrap();
    let (front, _inner) = fronted(limit);
    for _ in 0..50 {
        drop(TcpStream::connect(front.addr()).unwrap());
    }
    assert!(
        eventually(|| front.proxied() + front.dropped() == 50),
        "{front:?}"
    );
    // One draw per connection in accept order, as Limit::RandomReset documents.
    let mut rng = Xorshift::new(9);
    let expected = (0..50).filter(|_| rng.below(100) < 20).count();
    assert!((3..=20).contains(&expected), "{expected}");
    assert_eq!(front.dropped(), expected, "{front:?}");
}

#[test]
fn a_burst_is_followed_by_a_silent_pause_then_resets() {
    let (front, _inner) = fronted("pause-after-burst=5:window=1s:pause=1s".parse().unwrap());
    let mut burst: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(front.addr()).unwrap())
        .collect();
    let fifth = Instant::now();
    burst.push(TcpStream::connect(front.addr()).unwrap());
    assert!(eventually(|| front.pauses() == 1), "{front:?}");
    assert_eq!(front.proxied(), 5);
    // During the pause: accepted, then nothing at all, until the pause ends with a reset.
    let mut held = TcpStream::connect(front.addr()).unwrap();
    assert_eq!(
        ending(&mut held, Duration::from_millis(200)),
        Ending::Silent
    );
    assert_eq!(ending(&mut held, Duration::from_secs(5)), Ending::Closed);
    let after = fifth.elapsed();
    assert!(
        (Duration::from_millis(950)..Duration::from_secs(4)).contains(&after),
        "reset {after:?} after the burst's last connection"
    );
    assert!(eventually(|| front.dropped() == 1), "{front:?}");
    assert_eq!(front.accepted(), 6);
    drop(burst);
    // After the pause the front relays again, and counts afresh.
    assert!(handshake(front.addr()), "{front:?}");
    assert_eq!((front.proxied(), front.pauses()), (6, 1));
}

#[test]
fn a_front_survives_peers_that_reset_and_closes_everything_when_dropped() {
    let (front, _inner) = fronted(Limit::Unlimited);
    for _ in 0..20 {
        front::reset(TcpStream::connect(front.addr()).unwrap());
    }
    assert!(eventually(|| front.accepted() == 20 && front.open() == 0));
    assert!(handshake(front.addr()), "{front:?}");
    // A relayed connection still open, and one held through a long pause, end with the front.
    let mut relayed = TcpStream::connect(front.addr()).unwrap();
    assert!(eventually(|| front.open() == 1));
    let (paused, _inner2) = fronted("pause-after-burst=1:pause=30s".parse().unwrap());
    let _trigger = TcpStream::connect(paused.addr()).unwrap();
    let mut held = TcpStream::connect(paused.addr()).unwrap();
    assert!(eventually(|| paused.accepted() == 2 && paused.open() == 2));
    let (addr, paused_addr) = (front.addr(), paused.addr());
    let started = Instant::now();
    drop(front);
    drop(paused);
    assert!(started.elapsed() < Duration::from_secs(3), "drop waited");
    assert_eq!(ending(&mut relayed, Duration::from_secs(2)), Ending::Closed);
    assert_eq!(ending(&mut held, Duration::from_secs(2)), Ending::Closed);
    for addr in [addr, paused_addr] {
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    }
}

// --- acceptance: the scanner against each front ---------------------------------------------------

/// The accepted (protocol, suite) pairs of a scan report.
fn accepted(doc: &Value) -> BTreeSet<(String, String)> {
    common::accepted(doc)
}

/// Scans `port` with the binary at default settings; the exit code and the JSON report.
fn scan(port: u16) -> (i32, Value, String) {
    let target = format!("127.0.0.1:{port}");
    let out = common::run(&[&target, "--format", "json", "--quiet"]);
    let doc = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "exit {}: stdout is no JSON report ({e}); stderr: {}",
            out.code, out.stderr
        )
    });
    (out.code, doc, out.stderr)
}

/// The issue's acceptance check: through `limit`'s front, the scan finds exactly what a scan of the
/// server behind it finds, nothing stays inconclusive, and it exits 0; with no more than about
/// twice the connections; and the report names the limit: one of `kinds` (none: no limit
/// reported), with its `value` in `values` when given.
fn scan_through(limit: Limit, kinds: &[&str], values: Option<std::ops::RangeInclusive<u64>>) {
    // One at a time: what the drops show depends on timing, which six scans at once on two cores
    // would blur.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (front, inner) = fronted(limit);
    let (code, direct, stderr) = scan(inner.port());
    assert_eq!(code, 0, "the direct scan: {stderr}");
    assert_eq!(accepted(&direct).len(), 6, "{:?}", accepted(&direct));

    let (code, doc, stderr) = scan(front.port());
    let inconclusive: Vec<String> = doc["ciphers"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["status"] == "inconclusive")
                .map(|r| format!("{} {}: {}", r["protocol"], r["openssl_name"], r["reason"]))
                .collect()
        })
        .unwrap_or_default();
    let groups: Vec<String> = doc["groups"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|g| g["status"] == "inconclusive")
                .map(|g| format!("{} {}: {}", g["protocol"], g["name"], g["reason"]))
                .collect()
        })
        .unwrap_or_default();
    let context = format!(
        "{limit}: exit {code}, {front:?}\nnetwork: {:#}\nenumeration: {:#}\ninconclusive ({}): \
         {:#?}\ninconclusive groups: {groups:#?}\nEnvoy verdict inconclusive: {}\nstderr: {stderr}",
        doc["network"],
        doc["enumeration"],
        inconclusive.len(),
        &inconclusive[..inconclusive.len().min(8)],
        doc["envoy"]["inconclusive"],
    );
    assert_eq!(accepted(&doc), accepted(&direct), "{context}");
    assert_eq!(doc["summary"]["inconclusive"], 0, "{context}");
    assert_eq!(code, 0, "{context}");
    // Connections: the front counts every one, the preflight included. The answered share of a
    // scan varies by a few from run to run (how elimination splits its sets), hence the margin.
    let clean = direct["network"]["connections"].as_u64().unwrap() + 1;
    assert!(
        (front.accepted() as u64) <= 2 * clean + 8,
        "{} connections, {clean} on the clean server: {context}",
        front.accepted()
    );
    let found = &doc["network"]["limit"];
    match found["kind"].as_str() {
        None => assert!(
            kinds.is_empty() || kinds.contains(&"none"),
            "no limit reported: {context}"
        ),
        Some(kind) => assert!(kinds.contains(&kind), "{kind}: {context}"),
    }
    // The value is checked for the first (expected) kind; the others are what a loaded machine
    // may read instead.
    if let (Some(values), Some(kind)) = (values, found["kind"].as_str()) {
        if kinds.first() == Some(&kind) {
            let v = found["value"].as_u64().unwrap_or_default();
            assert!(values.contains(&v), "{v}: {context}");
        }
    }
}

#[test]
fn a_scan_through_a_front_that_limits_nothing_is_the_scan_of_the_server() {
    scan_through(Limit::Unlimited, &[], None);
}

// Issue 15's acceptance tests. Before the gate learned limits, cipher-test retried what a limit
// turned away in up to --retries passes (halving the concurrency, 100 ms between starts), one
// dropped elimination hello sent the whole version to per-suite probing (17 to 28 times the
// connections), and the Envoy handshake was never retried; how each ended then is noted on the
// test (`cargo bench --bench limits` prints the figures now).

// Before: exit 2 after about 60 s and 1,100 connections: every version falls back to per-suite
// probing, and each pass halves what is left (311, 155, 78 inconclusive), so about 78 suites stay
// inconclusive and an accepted TLS 1.3 suite can be among them.
#[test]
fn issue_15_drop_every_2nd_connection() {
    scan_through(
        Limit::DropEveryNth(2),
        &["every_nth_connection"],
        Some(2..=2),
    );
}

// Before: exit 2 after about 30 s and 800 connections: per-suite fallback at most versions, a third
// of each pass fails again (178, 59, 20 inconclusive), so about 20 stay inconclusive.
#[test]
fn issue_15_drop_every_3rd_connection() {
    scan_through(
        Limit::DropEveryNth(3),
        // Connections started together may reach the front out of order: on a loaded machine the
        // gaps between drops blur into random loss.
        &["every_nth_connection", "random_loss"],
        Some(3..=3),
    );
}

// Before: the debug binary is killed by the 60 s run limit; the release binary takes about 70 s
// and 1,200 connections (per-suite fallback everywhere, all suites settled in the second pass at
// concurrency 4) and still exits 2 in most runs, the unretried Envoy handshake having been reset.
// With `-c 1` the same scan is complete in 0.1 s.
#[test]
fn issue_15_at_most_2_concurrent_connections() {
    // The kind, but not the count: it is read from how many connections were open when the front
    // dropped one, and the front's count lags the closes it has not yet seen, the more so on a
    // loaded machine (the release binary on an idle one reads 2; `cargo bench --bench limits`).
    scan_through(Limit::MaxConcurrent(2), &["concurrent_connections"], None);
}

// Before: flaky. The scan spends the second's budget on elimination, so every first-pass probe is
// reset (337 of 337, so throttling is not even suspected); the paced retry passes (under 10 per
// second) then settle every suite in about 45 s and 700 connections, but a group or the Envoy
// verdict stays inconclusive in some runs (exit 2). It passed with the debug binary.
#[test]
fn issue_15_at_most_20_new_connections_per_second() {
    scan_through(
        Limit::PerSecond(20),
        &["new_connections_per_second"],
        Some(15..=22),
    );
}

// Before: with the default seed, connection 0 (the preflight) is among the resets. The reset
// usually beats tokio's connect and surfaces as "connection failed: Connection reset by peer",
// which the preflight does not retry: exit 2 at once with no report. When it surfaces as a reset
// instead, the preflight retries; then each version falls back to per-suite probing at its first
// reset, and a few suites (0.2 cubed of some 300 probes) stay inconclusive after three attempts
// (once of five runs the scan was complete).
#[test]
fn issue_15_20_percent_of_connections_reset_at_random() {
    scan_through(
        Limit::RandomReset {
            percent: 20,
            seed: front::DEFAULT_SEED,
        },
        &["random_loss"],
        None,
    );
}

// Before: passes. A scan takes about 42 connections; the 30th starts the pause, the three held
// connections are reset after 2 s, and the per-suite fallback or retry settles them: complete, in
// about 2.1 s instead of 0.08 s.
#[test]
fn issue_15_silent_for_2s_after_a_burst_of_30() {
    scan_through(
        Limit::PauseAfterBurst {
            burst: 30,
            window: Duration::from_secs(1),
            pause: Duration::from_secs(2),
        },
        // A pause after a burst is a limit on new connections when enough of the burst was
        // dropped to show it; with a handful of drops it cannot be told from random loss or from
        // a limit on connections at once (the held connections were all open together), and
        // with one or two it is not named at all. What is asserted is the complete answer.
        &[
            "new_connections_per_second",
            "random_loss",
            "concurrent_connections",
            "none",
        ],
        None,
    );
}

#[test]
fn when_the_budget_runs_out_what_is_left_is_inconclusive_and_says_why() {
    let (front, _inner) = fronted(Limit::DropEveryNth(2));
    let target = format!("127.0.0.1:{}", front.port());
    let out = common::run(&[&target, "-o", "json", "--quiet", "--budget", "0s"]);
    let doc: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    let net = &doc["network"];
    assert_eq!(net["budget_exhausted"], true, "{net:#}");
    assert_eq!(net["retried"], 0, "{net:#}");
    assert!(
        net["detail"].as_str().unwrap().contains("--budget"),
        "{net:#}"
    );
    // Half the connections dropped and none sent again: something stays unsettled.
    assert!(
        doc["summary"]["inconclusive"].as_u64().unwrap() > 0
            || doc["envoy"]["inconclusive"] == true,
        "{net:#}"
    );
    assert_eq!(out.code, 2);
}
