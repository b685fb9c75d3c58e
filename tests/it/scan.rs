//! End-to-end: `cipher-test 127.0.0.1:PORT --format json` against real in-process OpenSSL servers, each
//! with a known configuration; the accepted set must be exactly what the server was configured with.

use crate::common;

use cipher_test::testing::server::{ClientAuth, KeyKind, ServerConfig, TlsServer};
use openssl::ssl::SslVersion;
use serde_json::Value;

use common::{accepted, pairs as set};

fn scan(port: u16, extra: &[&str]) -> Value {
    common::scan_json(port, extra)
}

fn protocol_status(report: &Value, version: &str) -> String {
    report["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["version"] == version)
        .map(|p| p["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {version} in protocols"))
}

fn assert_clean(report: &Value) {
    assert_eq!(report["summary"]["inconclusive"], 0, "{report:#}");
    let summary = &report["summary"];
    let total = ["accepted", "rejected", "inconclusive", "untestable"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(total as usize, report["ciphers"].as_array().unwrap().len());
}

#[test]
fn ecdhe_aead_server_with_tls12_and_tls13() {
    let server = TlsServer::start(
        ServerConfig::default()
            .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
            .with_cipher_list("ECDHE+AESGCM:ECDHE+CHACHA20"),
    )
    .unwrap();
    let r = scan(server.port(), &[]);
    assert_clean(&r);
    assert_eq!(
        accepted(&r),
        set(&[
            ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
            ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"),
            ("TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305"),
            ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
            ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
            ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"),
        ])
    );
    assert_eq!(protocol_status(&r, "TLSv1.0"), "not_supported");
    assert_eq!(protocol_status(&r, "TLSv1.1"), "not_supported");
    assert_eq!(protocol_status(&r, "TLSv1.2"), "supported");
    assert_eq!(protocol_status(&r, "TLSv1.3"), "supported");
}

#[test]
fn single_suite_server_like_the_gloo_example() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let r = scan(server.port(), &[]);
    assert_clean(&r);
    assert_eq!(accepted(&r), set(&[("TLSv1.2", "ECDHE-RSA-AES256-SHA")]));
    // The JSON contract: names, code point, status, reason.
    let row = r["ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "accepted")
        .unwrap();
    assert_eq!(row["iana_name"], "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA");
    assert_eq!(row["code"], "0xC014");
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["target"]["host"], "127.0.0.1");
    assert_eq!(r["target"]["port"], server.port());
    assert_eq!(r["target"]["sni"], Value::Null);
    // A refusal records the server's alert.
    let refused = r["ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["protocol"] == "TLSv1.2" && c["openssl_name"] == "AES128-SHA")
        .unwrap();
    assert_eq!(refused["status"], "rejected");
    assert_eq!(refused["alert"], 40, "{refused}");
    // Every connection is accounted for: the preflight, the hellos the report counts for the suites
    // (elimination by default), the groups not already chosen in those hellos, the two Envoy
    // handshakes (as configured, and with the patch), the certificate handshake, and the
    // Envoy-exact raw hello.
    let enumeration = r["enumeration"].as_array().unwrap();
    assert_eq!(enumeration.len(), 5, "one entry per version");
    assert!(
        enumeration
            .iter()
            .all(|e| e["method"] == "split-elimination" && e.get("fallback").is_none()),
        "{enumeration:?}"
    );
    let hellos: u64 = enumeration
        .iter()
        .map(|e| e["hellos"].as_u64().unwrap())
        .sum();
    let groups = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "untestable")
        .count();
    assert_eq!(groups, 5);
    let chosen = chosen_in_enumeration(&r);
    // The hello that found the suite read the curve of its ServerKeyExchange.
    assert_eq!(chosen, 1, "{}", r["groups"]);
    assert_eq!(
        server.connections() as u64,
        1 + hellos + (groups - chosen) as u64 + 2 + 1 + 1
    );
    // One hello per chunk where nothing was accepted, one more where the one suite was chosen and
    // one for the rest of its chunk: far fewer than one per suite.
    let probed = r["ciphers"].as_array().unwrap().len() as u64;
    assert!(hellos * 10 < probed, "{hellos} hellos for {probed} suites");
}

/// Hellos the report counts for TLS 1.2's suites.
fn tls12_hellos(r: &Value) -> u64 {
    r["enumeration"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["protocol"] == "TLSv1.2")
        .unwrap()["hellos"]
        .as_u64()
        .unwrap()
}

/// `server` (one TLS 1.2 suite) scanned through the front on `front_port` counts as far: the rest
/// of the chunk the server chose from is split in two parts asked at once, so TLS 1.2 takes one
/// hello more than elimination in sequence (one hello per chunk and one per accepted suite), and
/// finds the same.
fn assert_read_as_far(server: &TlsServer, front_port: u16) {
    let sequence = scan(server.port(), &["--method", "elimination"]);
    let far = scan(front_port, &[]);
    assert_clean(&sequence);
    assert_clean(&far);
    assert_eq!(accepted(&far), accepted(&sequence));
    assert_eq!(accepted(&far), set(&[("TLSv1.2", "ECDHE-RSA-AES256-SHA")]));
    assert_eq!(
        tls12_hellos(&far),
        tls12_hellos(&sequence) + 1,
        "sequence {sequence:#}\nfar {far:#}"
    );
}

/// A far server gets split sets: through a front that holds each answer 5 ms (past the 3 ms within
/// which a near server answers the preflight). (Whether loopback itself counts as near depends on
/// the machine's load; `most_parts` is unit-tested.)
#[test]
fn a_far_server_gets_the_rest_of_a_set_split_in_parts() {
    use cipher_test::testing::front::{Limit, LimitedFront};
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let front = LimitedFront::start_with_delay(
        server.addr(),
        Limit::Unlimited,
        std::time::Duration::from_millis(5),
    )
    .unwrap();
    assert_read_as_far(&server, front.addr().port());
}

/// The preflight's answer time says how near the server is only when its first attempt was
/// answered: after a reset and a retry it says nothing, and the server counts as far (sets split).
#[test]
fn a_preflight_that_had_to_try_again_counts_the_server_as_far() {
    use cipher_test::testing::front::{Limit, LimitedFront};
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let front = LimitedFront::start(server.addr(), Limit::DropFirst(1)).unwrap();
    assert_read_as_far(&server, front.addr().port());
    assert_eq!(
        front.dropped(),
        1,
        "the preflight's first connection was reset"
    );
}

#[test]
fn rsa_key_transport_only() {
    let server =
        TlsServer::start(ServerConfig::tls12_only("AES256-SHA:AES128-GCM-SHA256")).unwrap();
    let r = scan(server.port(), &["--protocols", "tls1.2,tls1.3"]);
    assert_clean(&r);
    assert_eq!(
        accepted(&r),
        set(&[("TLSv1.2", "AES256-SHA"), ("TLSv1.2", "AES128-GCM-SHA256")])
    );
    assert_eq!(
        r["protocols"].as_array().unwrap().len(),
        2,
        "only the protocols asked for"
    );
}

#[test]
fn dhe_only() {
    let server = TlsServer::start(ServerConfig::tls12_only(
        "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA",
    ))
    .unwrap();
    let r = scan(server.port(), &["--protocols", "tls1.2"]);
    assert_clean(&r);
    assert_eq!(
        accepted(&r),
        set(&[
            ("TLSv1.2", "DHE-RSA-AES256-GCM-SHA384"),
            ("TLSv1.2", "DHE-RSA-AES128-SHA")
        ])
    );
}

#[test]
fn tls13_only() {
    let server = TlsServer::start(ServerConfig::tls13_only(
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
    ))
    .unwrap();
    let r = scan(server.port(), &[]);
    assert_clean(&r);
    assert_eq!(
        accepted(&r),
        set(&[
            ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
            ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
            ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"),
        ])
    );
    assert_eq!(protocol_status(&r, "TLSv1.2"), "not_supported");
    // The raw ClientHello engine tests what the local OpenSSL cannot offer: SSLv3 and RC4 are probed
    // and refused, not left untestable.
    assert_eq!(protocol_status(&r, "SSLv3"), "not_supported");
    assert_eq!(r["summary"]["untestable"], 0);
    let rc4 = r["ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["protocol"] == "TLSv1.2" && c["openssl_name"] == "RC4-SHA")
        .unwrap();
    assert_eq!(
        (&rc4["status"], &rc4["engine"]),
        (&"rejected".into(), &"raw".into()),
        "{rc4}"
    );
}

#[test]
fn tls13_ccm_suites_only() {
    let server = TlsServer::start(ServerConfig::tls13_only(
        "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256",
    ))
    .unwrap();
    let r = scan(server.port(), &["--protocols", "tls1.3"]);
    assert_clean(&r);
    assert_eq!(
        accepted(&r),
        set(&[
            ("TLSv1.3", "TLS_AES_128_CCM_SHA256"),
            ("TLSv1.3", "TLS_AES_128_CCM_8_SHA256")
        ])
    );
}

#[test]
fn ecdsa_certificate() {
    let server = TlsServer::start(
        ServerConfig::tls12_only(
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256",
        )
        .with_key(KeyKind::EcdsaP256),
    )
    .unwrap();
    let r = scan(server.port(), &["--protocols", "tls1.2"]);
    assert_clean(&r);
    // The ECDHE-RSA suite is configured but unusable with an ECDSA key: the server refuses it.
    assert_eq!(
        accepted(&r),
        set(&[
            ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"),
            ("TLSv1.2", "ECDHE-ECDSA-AES256-SHA")
        ])
    );
}

#[test]
fn client_certificate_required_still_shows_accepted_suites() {
    let server = TlsServer::start(
        ServerConfig::default()
            .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
            .with_cipher_list("ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA")
            .with_ciphersuites("TLS_AES_256_GCM_SHA384")
            .with_client_auth(ClientAuth::Required),
    )
    .unwrap();
    let r = scan(server.port(), &["--protocols", "tls1.2,tls1.3"]);
    assert_clean(&r);
    assert_eq!(
        accepted(&r),
        set(&[
            ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
            ("TLSv1.2", "AES256-SHA"),
            ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        ])
    );
}

#[test]
fn tls10_and_tls11_with_legacy_suites() {
    let server = TlsServer::start(
        ServerConfig::default()
            .with_versions(SslVersion::TLS1, SslVersion::TLS1_1)
            .with_cipher_list("ECDHE-RSA-AES128-SHA:AES256-SHA:CAMELLIA128-SHA:DHE-RSA-AES256-SHA"),
    )
    .unwrap();
    let r = scan(server.port(), &[]);
    assert_clean(&r);
    let mut want = Vec::new();
    for p in ["TLSv1.0", "TLSv1.1"] {
        for n in [
            "ECDHE-RSA-AES128-SHA",
            "AES256-SHA",
            "CAMELLIA128-SHA",
            "DHE-RSA-AES256-SHA",
        ] {
            want.push((p, n));
        }
    }
    assert_eq!(accepted(&r), set(&want));
    assert_eq!(protocol_status(&r, "TLSv1.2"), "not_supported");
    // Offered TLS 1.2 with a suite it has, the server answers with a TLS 1.1 ServerHello: a refusal of
    // the version, not a network error and not an acceptance.
    let tls12 = r["ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["protocol"] == "TLSv1.2" && c["openssl_name"] == "AES256-SHA")
        .unwrap();
    assert_eq!(tls12["status"], "rejected", "{tls12}");
    assert!(
        tls12["reason"].as_str().unwrap().contains("TLSv1.1"),
        "{tls12}"
    );
    // TLS 1.3 is refused with an alert.
    let tls13 = r["ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["protocol"] == "TLSv1.3")
        .unwrap();
    assert_eq!(tls13["status"], "rejected", "{tls13}");
    assert!(tls13["alert"].is_u64(), "{tls13}");
}

#[test]
fn sni_is_sent_when_asked() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let r = scan(
        server.port(),
        &["--sni", "upstream.example", "--protocols", "tls1.2"],
    );
    assert_eq!(r["target"]["sni"], "upstream.example");
    let localhost = format!("localhost:{}", server.port());
    let out = common::run(&[
        &localhost,
        "--format",
        "json",
        "--quiet",
        "--protocols",
        "tls1.3",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["target"]["sni"], "localhost");
    let out = common::run(&[
        &localhost,
        "--no-sni",
        "--format",
        "json",
        "--quiet",
        "--protocols",
        "tls1.3",
    ]);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["target"]["sni"], Value::Null);
}

#[test]
fn table_output_lists_accepted_suites_and_a_summary() {
    let server =
        TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA:AES128-SHA")).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[&target, "--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("ECDHE-RSA-AES256-SHA"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("TLSv1.2  supported"), "{}", out.stdout);
    assert!(out.stdout.contains("2 accepted"), "{}", out.stdout);
    // The server follows the client's order (s_server's default), and the summary counts the hellos.
    assert!(
        out.stdout
            .contains("Order    TLSv1.2  follows the client's"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(" hellos for the suites)"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("\u{1b}["),
        "no escape codes when piped"
    );
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
}

#[test]
fn demo_scans_its_own_server() {
    let out = common::run(&["demo", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(accepted(&r), set(&[("TLSv1.2", "ECDHE-RSA-AES256-SHA")]));
    assert_eq!(r["target"]["sni"], "localhost");
}

#[test]
fn engines_agree_and_openssl_alone_leaves_legacy_suites_untestable() {
    let server =
        TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA:AES128-SHA")).unwrap();
    let args = |engine: &'static str| vec!["--protocols", "ssl3,tls1.2", "--engine", engine];
    let auto = scan(server.port(), &args("auto"));
    let raw = scan(server.port(), &args("raw"));
    let openssl = scan(server.port(), &args("openssl"));
    let want = set(&[
        ("TLSv1.2", "ECDHE-RSA-AES256-SHA"),
        ("TLSv1.2", "AES128-SHA"),
    ]);
    assert_eq!(accepted(&auto), want);
    assert_eq!(accepted(&raw), want);
    assert_eq!(accepted(&openssl), want);
    assert_eq!(raw["scanner"]["engine"], "raw");
    assert_eq!(raw["summary"]["untestable"], 0);
    assert_eq!(protocol_status(&raw, "SSLv3"), "not_supported");
    assert_eq!(protocol_status(&openssl, "SSLv3"), "untestable");
    assert!(openssl["summary"]["untestable"].as_u64().unwrap() > 80);
    // Elimination needs raw hellos: with the OpenSSL engine alone, auto probes one suite per hello,
    // and asking for elimination outright is a usage error.
    let methods: Vec<&Value> = openssl["enumeration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["method"])
        .collect();
    assert!(methods.iter().all(|m| *m == "per-suite"), "{methods:?}");
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[&target, "--engine", "openssl", "--method", "elimination"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot run with --engine openssl"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn elimination_finds_the_same_set_in_fewer_connections_and_the_server_order() {
    let server = TlsServer::start(
        ServerConfig::default()
            .with_cipher_list(
                "AES128-SHA:ECDHE-RSA-AES256-SHA:AES256-SHA:DHE-RSA-AES128-GCM-SHA256",
            )
            .with_server_preference(),
    )
    .unwrap();
    let per_suite = scan(server.port(), &["--method", "per-suite"]);
    let before = server.connections();
    let eliminated = scan(server.port(), &["--method", "elimination"]);
    let used = server.connections() - before;
    let auto = scan(server.port(), &[]);
    let used_auto = server.connections() - before - used;
    // 4 suites at TLS 1.2, 3 at 1.0 and 1.1, and the 3 default TLS 1.3 suites.
    assert_eq!(accepted(&per_suite).len(), 13);
    for (name, r) in [("elimination", &eliminated), ("auto", &auto)] {
        assert_eq!(accepted(r), accepted(&per_suite), "{name}");
        assert_eq!(r["summary"]["inconclusive"], 0, "{name}");
        assert_eq!(
            r["summary"]["rejected"], per_suite["summary"]["rejected"],
            "{name}"
        );
    }
    assert!(
        used * 5 < before && used_auto * 5 < before,
        "elimination used {used} connections, auto {used_auto}, per-suite {before}"
    );
    // Every connection of the default scan is accounted for: the report counts all but the
    // preflight's, and its stages tell them apart: the hellos of the enumeration and of the
    // server-order probes, the groups not chosen in those hellos, the Envoy handshake and its raw
    // twin, the certificate handshake, and the handshake that verifies the patch. (A loaded
    // machine can make loopback look far; then work begun ahead of a version's end may add a few
    // connections that no stage keeps, which only the total counts.)
    let sum = |key: &str| -> u64 {
        auto[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["hellos"].as_u64().unwrap())
            .sum()
    };
    let groups = (auto["groups"].as_array().unwrap().len() - chosen_in_enumeration(&auto)) as u64;
    assert_eq!(auto["envoy"]["verdict"], "needs_patch");
    let connections = auto["network"]["connections"].as_u64().unwrap();
    assert_eq!(used_auto as u64, 1 + connections);
    let stages = sum("enumeration") + sum("server_preference") + groups + 2 + 1 + 1;
    assert!(
        (stages..=stages + 12).contains(&connections),
        "stages {stages}, connections {connections}"
    );
    let method = |r: &Value| r["enumeration"][3]["method"].clone();
    assert_eq!(method(&per_suite), "per-suite");
    assert_eq!(method(&eliminated), "elimination");
    assert_eq!(method(&auto), "split-elimination");
    // The table says the same.
    let out = common::run(&[&format!("127.0.0.1:{}", server.port()), "--quiet"]);
    assert!(
        out.stdout.contains(
            "Order    TLSv1.0  the server's: AES128-SHA, ECDHE-RSA-AES256-SHA, AES256-SHA\n"
        ),
        "{}",
        out.stdout
    );
    // Every method learns the server's order from the suites it accepted.
    for r in [&per_suite, &eliminated, &auto] {
        let prefs = r["server_preference"].as_array().unwrap();
        let versions: Vec<&Value> = prefs.iter().map(|p| &p["protocol"]).collect();
        assert_eq!(
            versions,
            ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"],
            "one entry per version with two or more accepted suites"
        );
        let tls12 = prefs.iter().find(|p| p["protocol"] == "TLSv1.2").unwrap();
        assert_eq!(tls12["enforced"], true, "{tls12}");
        assert_eq!(
            tls12["order"],
            serde_json::json!([
                "AES128-SHA",
                "ECDHE-RSA-AES256-SHA",
                "AES256-SHA",
                "DHE-RSA-AES128-GCM-SHA256"
            ])
        );
    }
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `cipher-test … --format json | head -c 100`: the JSON (streamed, far larger than a pipe's
    // buffer) meets a closed pipe mid-document. That is the reader's choice: the scan's own exit
    // code, no error line, no panic.
    use std::io::Read;
    use std::process::{Command, Stdio};
    for format in ["json", "table"] {
        let mut child = Command::new(common::cipher_test_bin())
            .args(["demo", "--format", format, "--all"].iter().filter(|a| {
                // --all only widens the table; JSON always lists every row.
                format == "table" || **a != "--all"
            }))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut head).unwrap();
        // The pipe's read end is dropped here.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        // Only demo's own line about its server; no error, no panic.
        assert!(
            !stderr.contains("error") && !stderr.contains("panicked"),
            "{format}: {stderr}"
        );
    }
}

/// Two servers on one port of 127.0.0.2 and 127.0.0.3, serving `first` and `second`.
fn two_addresses(first: &str, second: &str) -> (TlsServer, TlsServer) {
    let a = common::tls12_server_at([127, 0, 0, 2], 0, first);
    let b = common::tls12_server_at([127, 0, 0, 3], a.port(), second);
    (a, b)
}

#[test]
fn every_address_of_a_name_gets_a_report_and_a_mixed_fleet_is_named() {
    let (a, b) = two_addresses("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-SHA");
    let name = format!("api.example.test:{}", a.port());
    let resolve = format!("{name}=127.0.0.2,127.0.0.3");
    let args = |extra: &[&str]| {
        let mut v = vec![
            name.as_str(),
            "--resolve",
            resolve.as_str(),
            "--protocols",
            "tls1.2",
        ];
        v.extend_from_slice(extra);
        common::run(&v)
    };
    let out = args(&["--addresses", "all", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "addresses");
    assert_eq!(doc["agree"], false);
    assert_eq!(
        doc["differ"],
        serde_json::json!(["accepted suites", "Envoy verdicts"])
    );
    let reports = doc["reports"].as_array().unwrap();
    let seen: Vec<(String, Vec<String>)> = reports
        .iter()
        .map(|r| {
            let accepted = r["ciphers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["status"] == "accepted")
                .map(|c| c["openssl_name"].as_str().unwrap().to_string())
                .collect();
            (
                r["target"]["address"].as_str().unwrap().to_string(),
                accepted,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                format!("127.0.0.2:{}", a.port()),
                vec!["ECDHE-RSA-AES128-GCM-SHA256".to_string()]
            ),
            (
                format!("127.0.0.3:{}", a.port()),
                vec!["ECDHE-RSA-AES256-SHA".to_string()]
            ),
        ]
    );

    let table = args(&["--addresses", "all"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert_eq!(table.stdout.matches("Target   api.example.test").count(), 2);
    assert!(
        table
            .stdout
            .contains("The 2 addresses of api.example.test:")
            && table
                .stdout
                .contains("disagree (accepted suites, Envoy verdicts)"),
        "{}",
        table.stdout
    );

    // The default scans the first address only, as one plain report.
    let first = args(&["-o", "json"]);
    let doc: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(doc["target"]["address"], format!("127.0.0.2:{}", a.port()));

    // --resolve must name the target.
    let wrong = common::run(&[&name, "--resolve", "other.test:443=127.0.0.2"]);
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.contains("not the target"), "{}", wrong.stderr);
    drop(b);
}

#[test]
fn addresses_that_serve_alike_agree() {
    let (a, _b) = two_addresses("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256");
    let out = common::scan_both_addresses(a.port(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("serve alike"), "{}", out.stdout);
}

#[test]
fn an_address_that_cannot_be_scanned_is_part_of_the_answer() {
    // Nothing listens on 127.0.0.3 at that port.
    let a = common::tls12_server_at([127, 0, 0, 2], 0, "ECDHE-RSA-AES128-GCM-SHA256");
    let out = common::scan_both_addresses(a.port(), &["-o", "json"]);
    assert_eq!(out.code, 2, "incomplete: one address could not be scanned");
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["reports"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["unscanned"][0]["address"],
        format!("127.0.0.3:{}", a.port())
    );
    assert!(doc["unscanned"][0]["error"]
        .as_str()
        .unwrap()
        .contains("refused"));
    assert_eq!(
        doc["differ"],
        serde_json::json!(["whether they answer at all"])
    );
}

/// Groups the report shows as chosen by the server in an enumeration hello (no probe of their own).
fn chosen_in_enumeration(report: &Value) -> usize {
    chosen_in_enumeration_at(report, None)
}

/// [`chosen_in_enumeration`] at one version (`None`: at every version).
fn chosen_in_enumeration_at(report: &Value, protocol: Option<&str>) -> usize {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| protocol.is_none_or(|p| g["protocol"] == p))
        .filter(|g| {
            g["status"] == "accepted"
                && g["reason"]
                    .as_str()
                    .unwrap()
                    .contains("while its suites were enumerated")
        })
        .count()
}

/// Before TLS 1.3 each raw hello puts first a curve the server has not yet chosen at its version,
/// and reads the curve the server's ServerKeyExchange names; a group the server chose that way
/// needs no probe of its own.
/// The groups must come out exactly as when every group is probed alone (`--engine openssl
/// --method per-suite` reads no curve before TLS 1.3), whether the server takes the client's
/// favourite curve or its own. (At TLS 1.3 both runs count the key share the server chose; the
/// group tests in eliminate.rs and servers.rs check TLS 1.3 groups against the server's own list.)
#[test]
fn groups_chosen_during_enumeration_are_the_groups_probed_alone() {
    let configs = [
        ServerConfig::default().with_groups("X25519:P-384"),
        ServerConfig::default()
            .with_groups("P-521:X448:P-256")
            .with_server_preference(),
        ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA:AES128-SHA")
            .with_groups("P-256:P-384:P-521"),
    ];
    for config in configs {
        let server = TlsServer::start(config.clone()).unwrap();
        let groups = |extra: &[&str]| {
            let mut args = vec!["--protocols", "tls1.2,tls1.3", "--max-rate", "10000"];
            args.extend_from_slice(extra);
            let r = common::scan_json(server.port(), &args);
            (
                group_rows(&r),
                chosen_in_enumeration_at(&r, Some("TLSv1.2")),
            )
        };
        let (fast, chosen) = groups(&[]);
        let (alone, none) = groups(&["--engine", "openssl", "--method", "per-suite"]);
        assert_eq!(fast, alone, "{config:?}");
        assert_eq!(none, 0, "{config:?}");
        assert!(chosen >= 1, "{config:?}: {fast:?}");
        assert!(fast.iter().any(|(_, _, s)| s == "rejected"), "{fast:?}");
    }
}

/// Far from a server, a version near its end has its groups and order asked on the suites it has
/// accepted so far, before its last refusal is in: what stands of that must read the same as a
/// near scan, which asks once every suite is in. A server with its own order and two groups of
/// five, so that groups refused with the first suite are asked again with all of them.
#[test]
fn a_far_server_reads_the_same_groups_and_order_as_a_near_one() {
    use cipher_test::testing::front::{Limit, LimitedFront};
    let server = TlsServer::start(
        ServerConfig::default()
            .with_cipher_list(
                "ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256",
            )
            .with_groups("P-384:X25519")
            .with_server_preference(),
    )
    .unwrap();
    let front = LimitedFront::start_with_delay(
        server.addr(),
        Limit::Unlimited,
        std::time::Duration::from_millis(5),
    )
    .unwrap();
    let near = scan(server.port(), &[]);
    let far = scan(front.addr().port(), &[]);
    assert_clean(&near);
    assert_clean(&far);
    // Work begun ahead, what stood and what did not, is in the report's count: every connection
    // but the preflight's.
    assert_eq!(
        front.accepted() as u64,
        1 + far["network"]["connections"].as_u64().unwrap()
    );
    assert_eq!(accepted(&far), accepted(&near));
    assert_eq!(group_rows(&far), group_rows(&near));
    assert!(
        group_rows(&near).contains(&("TLSv1.2".into(), "P-256".into(), "rejected".into())),
        "{:?}",
        group_rows(&near)
    );
    let order = |r: &Value| -> Vec<(Value, Value, Value)> {
        r["server_preference"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["protocol"].clone(),
                    p["enforced"].clone(),
                    p["order"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(order(&far), order(&near));
    let tls12 = order(&near)
        .into_iter()
        .find(|(p, _, _)| p == "TLSv1.2")
        .unwrap();
    assert_eq!(tls12.1, true, "{tls12:?}");
    assert_eq!(
        tls12.2,
        serde_json::json!([
            "ECDHE-RSA-AES256-GCM-SHA384",
            "AES128-SHA",
            "ECDHE-RSA-CHACHA20-POLY1305",
            "ECDHE-RSA-AES128-GCM-SHA256"
        ])
    );
}

/// A report's group rows: (protocol, name, status).
fn group_rows(r: &Value) -> Vec<(String, String, String)> {
    r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let s = |k: &str| g[k].as_str().unwrap().to_string();
            (s("protocol"), s("name"), s("status"))
        })
        .collect()
}
