//! The Envoy verdict and patch, end to end against real servers: each case's verdict and patch are
//! asserted exactly, and every patch must be verified by a real handshake as the patched Envoy client.

use crate::common;

use cipher_test::testing::server::{KeyKind, ServerConfig, TlsServer};
use openssl::ssl::SslVersion;
use serde_json::{json, Value};

/// Scans, and checks the second opinion: the Envoy-exact raw ClientHello agrees with the OpenSSL
/// handshake configured as Envoy (same version and suite, or both refused).
fn scan(server: &TlsServer, extra: &[&str]) -> Value {
    let r = common::scan_json(server.port(), extra);
    assert_eq!(r["envoy"]["raw_hello"]["agrees"], true, "{:#}", r["envoy"]);
    r
}

const DEFAULTS: [&str; 4] = [
    "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
    "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
];

fn defaults_plus(extra: &[&str]) -> Value {
    let mut v: Vec<&str> = DEFAULTS.to_vec();
    v.extend_from_slice(extra);
    json!(v)
}

fn assert_verified(r: &Value, protocol: &str, cipher: &str) {
    let rem = &r["remediation"];
    assert_eq!(rem["verified"], true, "{rem:#}");
    assert_eq!(rem["negotiated_after"]["protocol"], protocol, "{rem:#}");
    assert_eq!(rem["negotiated_after"]["cipher"], cipher, "{rem:#}");
}

fn problem_kinds(r: &Value) -> Vec<String> {
    r["envoy"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ecdhe_aead_server_is_compatible() {
    let server = TlsServer::start(
        ServerConfig::default()
            .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
            .with_cipher_list("ECDHE+AESGCM:ECDHE+CHACHA20"),
    )
    .unwrap();
    let r = scan(&server, &[]);
    assert_eq!(r["envoy"]["profile"], "current");
    assert_eq!(r["envoy"]["verdict"], "compatible");
    assert_eq!(r["envoy"]["negotiated"]["protocol"], "TLSv1.2");
    assert_eq!(
        r["envoy"]["negotiated"]["cipher"],
        "ECDHE-RSA-AES128-GCM-SHA256"
    );
    assert_eq!(r["envoy"]["negotiated"]["group"], "X25519");
    assert_eq!(r["envoy"]["problems"], json!([]));
    assert_eq!(r["remediation"], Value::Null);
}

#[test]
fn cbc_sha1_only_server_needs_the_suite_added() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let r = scan(&server, &[]);
    assert_eq!(r["envoy"]["verdict"], "needs_patch");
    assert_eq!(problem_kinds(&r), ["no_shared_cipher"]);
    assert_eq!(r["envoy"]["negotiated"], Value::Null);
    assert_eq!(
        r["remediation"]["parameters"],
        json!({ "cipherSuites": defaults_plus(&["ECDHE-RSA-AES256-SHA"]) })
    );
    assert_verified(&r, "TLSv1.2", "ECDHE-RSA-AES256-SHA");
    // Envoy 1.16 still offered it by default.
    let old = scan(&server, &["--envoy", "1.16"]);
    assert_eq!(old["envoy"]["profile"], "1.16");
    assert_eq!(old["envoy"]["verdict"], "compatible");
    assert_eq!(old["envoy"]["negotiated"]["cipher"], "ECDHE-RSA-AES256-SHA");
}

#[test]
fn rsa_key_transport_server_gets_the_strongest_suite() {
    let server =
        TlsServer::start(ServerConfig::tls12_only("AES256-SHA:AES128-GCM-SHA256")).unwrap();
    let r = scan(&server, &[]);
    assert_eq!(r["envoy"]["verdict"], "needs_patch");
    assert_eq!(
        r["remediation"]["parameters"],
        json!({ "cipherSuites": defaults_plus(&["AES128-GCM-SHA256"]) })
    );
    assert_verified(&r, "TLSv1.2", "AES128-GCM-SHA256");
    let all = scan(&server, &["--add", "all"]);
    assert_eq!(
        all["remediation"]["parameters"]["cipherSuites"],
        defaults_plus(&["AES128-GCM-SHA256", "AES256-SHA"])
    );
}

#[test]
fn dhe_only_server_is_incompatible() {
    let server = TlsServer::start(ServerConfig::tls12_only(
        "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA",
    ))
    .unwrap();
    let r = scan(&server, &[]);
    assert_eq!(r["envoy"]["verdict"], "incompatible");
    assert_eq!(problem_kinds(&r), ["no_shared_cipher"]);
    assert_eq!(r["remediation"], Value::Null);
    let advice = r["envoy"]["advice"].as_str().unwrap();
    assert!(advice.contains("upstream must change"), "{advice}");
    assert!(advice.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{advice}");
}

#[test]
fn tls13_only_server_needs_the_maximum_raised() {
    let server = TlsServer::start(ServerConfig::tls13_only(
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
    ))
    .unwrap();
    let r = scan(&server, &[]);
    assert_eq!(r["envoy"]["verdict"], "needs_patch");
    assert_eq!(problem_kinds(&r), ["protocol_version"]);
    assert_eq!(
        r["remediation"]["parameters"],
        json!({ "maximumProtocolVersion": "TLSv1_3" })
    );
    assert_verified(&r, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
}

#[test]
fn p384_only_server_needs_the_curve_added() {
    let server = TlsServer::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256").with_groups("P-384"),
    )
    .unwrap();
    let r = scan(&server, &[]);
    let accepted: Vec<&str> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["status"] == "accepted")
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(accepted, ["P-384"]);
    assert_eq!(r["envoy"]["verdict"], "needs_patch");
    assert_eq!(problem_kinds(&r), ["no_shared_curve"]);
    assert_eq!(
        r["remediation"]["parameters"],
        json!({ "ecdhCurves": ["X25519", "P-256", "P-384"] })
    );
    assert_verified(&r, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256");
    assert_eq!(r["remediation"]["negotiated_after"]["group"], "P-384");
}

#[test]
fn ecdsa_only_server() {
    let server = TlsServer::start(
        ServerConfig::tls12_only("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA")
            .with_key(KeyKind::EcdsaP256),
    )
    .unwrap();
    let r = scan(&server, &[]);
    assert_eq!(r["envoy"]["verdict"], "compatible");
    assert_eq!(
        r["envoy"]["negotiated"]["cipher"],
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    );
    // The FIPS profile offers only P-256 and the same AES-GCM suite: still compatible.
    let fips = scan(&server, &["--envoy", "fips"]);
    assert_eq!(fips["envoy"]["verdict"], "compatible");
    assert_eq!(fips["envoy"]["negotiated"]["group"], "P-256");
}

#[test]
fn tls10_only_server_needs_the_minimum_lowered_and_a_suite() {
    let server = TlsServer::start(ServerConfig::version_only(
        SslVersion::TLS1,
        "ECDHE-RSA-AES128-SHA:AES256-SHA",
    ))
    .unwrap();
    let r = scan(&server, &[]);
    assert_eq!(r["envoy"]["verdict"], "needs_patch");
    assert_eq!(problem_kinds(&r), ["protocol_version"]);
    assert_eq!(
        r["remediation"]["parameters"],
        json!({
            "minimumProtocolVersion": "TLSv1_0",
            "cipherSuites": defaults_plus(&["ECDHE-RSA-AES128-SHA"]),
        })
    );
    assert_verified(&r, "TLSv1.0", "ECDHE-RSA-AES128-SHA");
}

#[test]
fn table_shows_the_verdict_and_the_patch() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[&target, "--quiet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("profile current: NEEDS PATCH"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("verified: Envoy then negotiates ECDHE-RSA-AES256-SHA at TLSv1.2"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("- ECDHE-RSA-AES256-SHA\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("cipher-test remediate"),
        "{}",
        out.stdout
    );
}
