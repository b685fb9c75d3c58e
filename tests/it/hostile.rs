//! Hostile networks: slow, throttling, truncating, lying and SNI-strict servers, a 100-certificate
//! chain and IPv6 loopback. Nothing is reported `rejected` unless the server really refused, every
//! scan ends within its timeout bounds, and failing targets give one line and exit code 2.

use crate::common;

use std::time::Duration;

use cipher_test::testing::front::{Limit, LimitedFront};
use cipher_test::testing::pki::{self, CertSpec};
use cipher_test::testing::server::{ServerConfig, TlsServer};
use common::{Front, Fronted};
use serde_json::Value;

fn rows(doc: &Value) -> &Vec<Value> {
    doc["ciphers"].as_array().unwrap()
}

fn statuses(doc: &Value, status: &str) -> Vec<String> {
    rows(doc)
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| {
            format!(
                "{} {}",
                c["protocol"].as_str().unwrap(),
                c["openssl_name"].as_str().unwrap()
            )
        })
        .collect()
}

use common::one_error_line;

#[test]
fn a_throttling_server_is_detected_and_retried_not_misreported() {
    // Only every third connection gets through; the rest are reset.
    let inner = TlsServer::start(ServerConfig::default()).unwrap();
    let front = LimitedFront::start(inner.addr(), Limit::KeepEveryNth(3)).unwrap();
    let target = format!("127.0.0.1:{}", front.port());
    let out = common::run(&[
        &target,
        "--protocols",
        "tls1.3",
        "--format",
        "json",
        "--quiet",
        "--retries",
        "4",
    ]);
    let doc: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    // Whatever the luck of the retries, a reset is never a rejection: every rejected row carries an
    // alert the server really sent, and nothing is accepted that the server does not accept.
    for row in rows(&doc).iter().filter(|r| r["status"] == "rejected") {
        assert!(row["alert"].is_u64(), "{row}");
    }
    let default_tls13 = [
        "TLSv1.3 TLS_AES_128_GCM_SHA256",
        "TLSv1.3 TLS_AES_256_GCM_SHA384",
        "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256",
    ];
    // Each dropped connection's probe is sent again until the server answers it: the scan is
    // complete, and the network section says what was dropped and what that means.
    let accepted = statuses(&doc, "accepted");
    assert_eq!(accepted, default_tls13, "{:#}", doc["network"]);
    assert_eq!(doc["summary"]["inconclusive"], 0);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let net = &doc["network"];
    assert_eq!(net["throttling_suspected"], true, "{net:#}");
    let (dropped, retried) = (
        net["dropped"].as_u64().unwrap(),
        net["retried"].as_u64().unwrap(),
    );
    assert!(dropped > 0 && retried > 0, "{net:#}");
    assert_eq!(
        front.accepted() as u64,
        1 + net["connections"].as_u64().unwrap(),
        "the preflight and every connection the report counts"
    );
    assert!(
        net["detail"].as_str().unwrap().contains("dropped"),
        "{net:#}"
    );
    assert!(net["limit"]["advice"].is_string(), "{net:#}");
}

#[test]
fn a_slow_server_is_waited_for_within_the_timeout() {
    let front = Fronted::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA"),
        Front::Delay(Duration::from_millis(300)),
    );
    let target = format!("127.0.0.1:{}", front.port());
    let out = common::run(&[
        &target,
        "--protocols",
        "tls1.3",
        "--timeout",
        "2s",
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["inconclusive"], 0);
    // The same server with a timeout shorter than its delay: inconclusive, never rejected, bounded.
    let out = common::run(&[
        &target,
        "--protocols",
        "tls1.3",
        "--timeout",
        "100ms",
        "--retries",
        "0",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        one_error_line(&out.stderr).contains("no answer within 100 ms"),
        "{}",
        out.stderr
    );
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
}

#[test]
fn a_server_that_closes_after_the_server_hello_still_shows_what_it_chose() {
    let front = Fronted::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA"),
        Front::CloseAfterServerHello,
    );
    let target = format!("127.0.0.1:{}", front.port());
    let out = common::run(&[
        &target,
        "--protocols",
        "tls1.2",
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(statuses(&doc, "accepted"), ["TLSv1.2 ECDHE-RSA-AES256-SHA"]);
    // No full handshake was possible: said, not hidden.
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"cert.unavailable"), "{ids:?}");
}

#[test]
fn garbage_truncated_and_oversized_answers_end_the_scan_with_one_line() {
    for (front, needle) in [
        (Front::RandomBytes(7), "TLS"),
        (Front::TruncatedRecord, "closed after 15 bytes"),
        (Front::OversizedRecord, "exceeds the TLS limit"),
    ] {
        let f = Fronted::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA"), front);
        let target = format!("127.0.0.1:{}", f.port());
        let out = common::run(&[&target, "--retries", "0", "--timeout", "1s"]);
        assert_eq!(out.code, 2, "{front:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{front:?}");
        assert!(
            one_error_line(&out.stderr).contains(needle),
            "{front:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"));
        // check gives the same one line and exit code 2.
        let out = common::run(&["check", &target, "--retries", "0", "--timeout", "1s"]);
        assert_eq!(out.code, 2, "{front:?}");
        assert!(out.stdout.contains("ERROR"), "{}", out.stdout);
    }
}

#[test]
fn a_server_that_requires_sni_says_so() {
    let mut config = ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA");
    config.require_sni = true;
    let server = TlsServer::start(config).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[&target]);
    assert_eq!(out.code, 2);
    let line = one_error_line(&out.stderr);
    assert!(
        line.contains("unrecognized_name") && line.contains("--sni"),
        "{line}"
    );
    assert!(
        (1..=16).contains(&server.connections()),
        "stopped at the preflight's answer, after one round at most: {} connections",
        server.connections()
    );
    let doc = common::scan_json(
        server.port(),
        &["--sni", "localhost", "--protocols", "tls1.2"],
    );
    assert_eq!(statuses(&doc, "accepted"), ["TLSv1.2 ECDHE-RSA-AES256-SHA"]);
}

#[test]
fn a_hundred_certificate_chain() {
    let root = pki::self_signed(&CertSpec::ca("root")).unwrap();
    let mut issuers = vec![root];
    for i in 0..98 {
        let next = pki::issue(
            &CertSpec::ca(&format!("intermediate {i}")),
            issuers.last().unwrap(),
        )
        .unwrap();
        issuers.push(next);
    }
    let leaf = pki::issue(&CertSpec::leaf("localhost"), issuers.last().unwrap()).unwrap();
    let mut chain = vec![leaf.cert.clone()];
    chain.extend(issuers.iter().rev().map(|i| i.cert.clone()));
    assert_eq!(chain.len(), 100);
    let server = TlsServer::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA").with_certificate(chain, leaf.key.clone()),
    )
    .unwrap();
    let doc = common::scan_json(
        server.port(),
        &["--sni", "localhost", "--protocols", "tls1.2"],
    );
    assert_eq!(statuses(&doc, "accepted"), ["TLSv1.2 ECDHE-RSA-AES256-SHA"]);
    // Either the whole chain is read, or its absence is a finding: never a crash or a hang.
    let chain_len = doc["certificate"]["chain"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    let ids = doc["findings"].to_string();
    assert!(
        chain_len == 100 || ids.contains("cert.unavailable"),
        "{chain_len} {ids}"
    );
}

#[test]
fn ipv6_loopback() {
    let mut config = ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA");
    config.ipv6 = true;
    let server = TlsServer::start(config).unwrap();
    let target = format!("[::1]:{}", server.port());
    let out = common::run(&[
        &target,
        "--protocols",
        "tls1.2",
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["target"]["host"], "::1");
    assert_eq!(doc["target"]["address"], format!("[::1]:{}", server.port()));
    assert_eq!(doc["target"]["sni"], Value::Null);
    assert_eq!(statuses(&doc, "accepted"), ["TLSv1.2 ECDHE-RSA-AES256-SHA"]);
}

#[test]
fn remediate_prints_no_patch_when_handshakes_go_unanswered() {
    // A server that answers only the preflight: no probe is settled, so no patch can be trusted.
    let server = common::TlsThenClose::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA"));
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[
        "remediate",
        &target,
        "--protocols",
        "tls1.2",
        "--retries",
        "0",
        "-q",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        one_error_line(&out.stderr).contains("no patch can be trusted"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_overlong_chain_is_checked_up_to_a_bound() {
    let root = pki::self_signed(&CertSpec::ca("root")).unwrap();
    let mut issuers = vec![root];
    for i in 0..159 {
        let next = pki::issue(
            &CertSpec::ca(&format!("intermediate {i}")),
            issuers.last().unwrap(),
        )
        .unwrap();
        issuers.push(next);
    }
    let leaf = pki::issue(&CertSpec::leaf("localhost"), issuers.last().unwrap()).unwrap();
    let mut chain = vec![leaf.cert.clone()];
    chain.extend(issuers.iter().rev().map(|i| i.cert.clone()));
    let server = TlsServer::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA").with_certificate(chain, leaf.key.clone()),
    )
    .unwrap();
    let doc = common::scan_json(
        server.port(),
        &["--sni", "localhost", "--protocols", "tls1.2"],
    );
    let ids = doc["findings"].to_string();
    assert!(ids.contains("cert.chain_too_long"), "{ids}");
    assert_eq!(doc["certificate"]["chain"].as_array().unwrap().len(), 150);
}

#[test]
fn every_stage_keeps_within_the_concurrency_bound() {
    // Elimination, the groups, the server-order hellos, the certificate and the Envoy handshakes run
    // side by side; together they must never hold more than --concurrency connections open.
    let front = Fronted::start(
        ServerConfig::default()
            .with_cipher_list("AES128-SHA:ECDHE-RSA-AES256-SHA:AES256-SHA")
            .with_server_preference(),
        Front::Delay(Duration::from_millis(15)),
    );
    let target = format!("127.0.0.1:{}", front.port());
    let out = common::run(&[&target, "-c", "3", "--format", "json", "--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        doc["summary"]["accepted"], 12,
        "3 suites at TLS 1.0-1.2, 3 at 1.3"
    );
    let peak = front.peak_waiting();
    assert!(
        (2..=3).contains(&peak),
        "{peak} connections waited for an answer at once with --concurrency 3"
    );
}
