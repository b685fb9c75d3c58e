//! `cipher-test check` over a mixed fleet of real local servers: on the command line, from a targets
//! file, and as a Gloo Upstream List reached with --resolve. Exit codes are asserted exactly: 0 all
//! pass, 1 a policy failure, 2 an error, and an error beats a failure.

use crate::common;

use cipher_test::testing::pki::{self, CertSpec};
use cipher_test::testing::server::{ServerConfig, TlsServer};
use openssl::ssl::SslVersion;
use serde_json::Value;

struct Fleet {
    compatible: TlsServer,
    needs_patch: TlsServer,
    incompatible: TlsServer,
    expired: TlsServer,
    closed: u16,
}

impl Fleet {
    fn start() -> Fleet {
        let expired = pki::self_signed(&CertSpec::leaf("localhost").valid_days(-30, -1)).unwrap();
        Fleet {
            compatible: TlsServer::start(
                ServerConfig::default()
                    .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
                    .with_cipher_list("ECDHE+AESGCM"),
            )
            .unwrap(),
            needs_patch: TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA"))
                .unwrap(),
            incompatible: TlsServer::start(ServerConfig::tls12_only("DHE-RSA-AES256-GCM-SHA384"))
                .unwrap(),
            expired: TlsServer::start(
                ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")
                    .with_certificate(vec![expired.cert.clone()], expired.key.clone()),
            )
            .unwrap(),
            closed: common::closed_port(),
        }
    }
}

fn target(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn check(args: &[&str]) -> (i32, Value, String) {
    let mut all = vec![
        "check",
        "--format",
        "json",
        "--timeout",
        "2s",
        "--retries",
        "0",
    ];
    all.extend_from_slice(args);
    let out = common::run(&all);
    let doc = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    (out.code, doc, out.stderr)
}

fn results(doc: &Value) -> Vec<(String, String)> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn exit_codes_follow_the_worst_result() {
    let f = Fleet::start();
    let (ok, bad, dead) = (
        target(f.compatible.port()),
        target(f.needs_patch.port()),
        target(f.closed),
    );
    let (code, doc, _) = check(&[&ok]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(results(&doc), [(ok.clone(), "pass".to_string())]);

    let (code, doc, _) = check(&[&ok, &bad]);
    assert_eq!(code, 1);
    assert_eq!(doc["summary"]["failed"], 1);
    let reasons = doc["targets"][1]["reasons"][0].as_str().unwrap();
    assert!(
        reasons.contains("no shared cipher suite")
            && reasons.contains("append ECDHE-RSA-AES256-SHA"),
        "{reasons}"
    );

    // An error beats a failure.
    let (code, doc, _) = check(&[&ok, &bad, &dead]);
    assert_eq!(code, 2);
    assert_eq!(
        results(&doc),
        [
            (ok, "pass".into()),
            (bad, "fail".into()),
            (dead.clone(), "error".into())
        ]
    );
    assert!(doc["targets"][2]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("connection refused"));
    assert_eq!(doc["targets"][2]["report"], Value::Null);
}

#[test]
fn policy_failures_name_what_to_change() {
    let f = Fleet::start();
    let (incompatible, expired) = (target(f.incompatible.port()), target(f.expired.port()));
    let (code, doc, _) = check(&[&incompatible, &expired]);
    assert_eq!(code, 1, "{doc:#}");
    let r0 = doc["targets"][0]["reasons"].to_string();
    assert!(r0.contains("upstream must change"), "{r0}");
    let r1 = doc["targets"][1]["reasons"].to_string();
    assert!(r1.contains("certificate has expired"), "{r1}");
    // --forbid weak fails a server that accepts ECDHE-RSA-AES256-SHA (CBC with SHA-1).
    let weak = target(f.needs_patch.port());
    let (code, doc, _) = check(&[
        &weak,
        "--envoy",
        "1.16",
        "--forbid",
        "weak",
        "--min-cert-days",
        "0",
    ]);
    assert_eq!(code, 1, "{doc:#}");
    let reasons = doc["targets"][0]["reasons"].to_string();
    assert!(
        reasons.contains("weak suites (TLSv1.2 ECDHE-RSA-AES256-SHA)"),
        "{reasons}"
    );
    assert!(
        !reasons.contains("would not connect"),
        "Envoy 1.16 connects: {reasons}"
    );
    // --require-trusted fails a self-signed certificate.
    let ok = target(f.compatible.port());
    let (code, doc, _) = check(&[&ok, "--require-trusted"]);
    assert_eq!(code, 1);
    assert!(doc["targets"][0]["reasons"]
        .to_string()
        .contains("not trusted"));
}

#[test]
fn targets_file_and_junit() {
    let f = Fleet::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.txt");
    std::fs::write(
        &file,
        format!(
            "# the fleet\n127.0.0.1:{} sni=localhost\n127.0.0.1:{}\n\n127.0.0.1:{} # dead\n",
            f.compatible.port(),
            f.needs_patch.port(),
            f.closed
        ),
    )
    .unwrap();
    let junit = dir.path().join("report.xml");
    let out = common::run(&[
        "check",
        "--targets",
        file.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--retries",
        "0",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("3 targets: 1 passed, 1 failed, 1 errors"),
        "{}",
        out.stdout
    );
    // The JUnit file parses and has one testcase per target, with a failure and an error.
    let script = "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); \
                  cs = r.findall('.//testcase'); \
                  print(len(cs), len(r.findall('.//failure')), len(r.findall('.//error')), r.get('tests'))";
    let parsed = std::process::Command::new("python3")
        .args(["-c", script, junit.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&parsed.stdout).trim(), "3 1 1 3");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("append ECDHE-RSA-AES256-SHA to cipherSuites"),
        "{xml}"
    );
}

const UPSTREAMS: &str = r#"apiVersion: v1
kind: List
items:
- apiVersion: gloo.solo.io/v1
  kind: Upstream
  metadata: {name: legacy-default, namespace: gloo-system}
  spec:
    static:
      hosts:
      - addr: legacy.internal
        port: 443
- apiVersion: gloo.solo.io/v1
  kind: Upstream
  metadata: {name: legacy-patched, namespace: gloo-system}
  spec:
    sslConfig:
      sni: legacy.internal
      parameters:
        cipherSuites:
        - "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]"
        - ECDHE-RSA-AES256-SHA
    static:
      hosts:
      - addr: legacy.internal
        port: 443
- apiVersion: gloo.solo.io/v1
  kind: Upstream
  metadata: {name: modern, namespace: apps}
  spec:
    sslConfig: {sni: modern.apps}
    kube:
      serviceName: modern
      serviceNamespace: apps
      servicePort: 443
- apiVersion: gloo.solo.io/v1
  kind: Upstream
  metadata: {name: plaintext, namespace: apps}
  spec:
    static:
      hosts:
      - addr: plain.internal
        port: 80
"#;

#[test]
fn upstreams_are_judged_with_their_own_parameters() {
    let f = Fleet::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upstreams.yaml");
    std::fs::write(&file, UPSTREAMS).unwrap();
    let legacy = format!("legacy.internal:443=127.0.0.1:{}", f.needs_patch.port());
    let modern = format!(
        "modern.apps.svc.cluster.local:443=127.0.0.1:{}",
        f.compatible.port()
    );
    let (code, doc, stderr) = check(&[
        "--upstreams",
        file.to_str().unwrap(),
        "--resolve",
        &legacy,
        "--resolve",
        &modern,
        "--min-cert-days",
        "0",
    ]);
    assert_eq!(code, 1, "{stderr}\n{doc:#}");
    assert_eq!(
        results(&doc),
        [
            (
                "gloo-system/legacy-default legacy.internal:443".to_string(),
                "fail".to_string()
            ),
            (
                "gloo-system/legacy-patched legacy.internal:443".to_string(),
                "pass".to_string()
            ),
            (
                "apps/modern modern.apps.svc.cluster.local:443".to_string(),
                "pass".to_string()
            ),
        ],
        "the port-80 Upstream is not TLS and is skipped"
    );
    // Gloo sends the static host's name as SNI.
    assert_eq!(
        doc["targets"][0]["report"]["target"]["sni"],
        "legacy.internal"
    );
    assert_eq!(
        doc["targets"][0]["report"]["target"]["address"],
        format!("127.0.0.1:{}", f.needs_patch.port())
    );
    // --format yaml prints the merge patch for the failing Upstream only.
    let out = common::run(&[
        "check",
        "--upstreams",
        file.to_str().unwrap(),
        "--resolve",
        &legacy,
        "--resolve",
        &modern,
        "--min-cert-days",
        "0",
        "--format",
        "yaml",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("kubectl patch upstream legacy-default -n gloo-system --type merge"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("legacy-patched"), "{}", out.stdout);
    if let Some(docs) = common::yaml11(&out.stdout) {
        assert_eq!(docs.len(), 1);
        let suites = &docs[0]["spec"]["sslConfig"]["parameters"]["cipherSuites"];
        assert_eq!(
            suites.as_array().unwrap().last().unwrap(),
            "ECDHE-RSA-AES256-SHA"
        );
    }
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: List\nitems: [unclosed\n").unwrap();
    let bad_targets = dir.path().join("targets.txt");
    std::fs::write(&bad_targets, "ok.example:443\nbad:port:x\n").unwrap();
    for args in [
        vec!["check", "--upstreams", broken.to_str().unwrap()],
        vec!["check", "--targets", bad_targets.to_str().unwrap()],
        vec!["check", "--targets", "/nonexistent/fleet.txt"],
    ] {
        let out = common::run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    }
    let out = common::run(&["check"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no targets"), "{}", out.stderr);
}

#[test]
fn every_accepted_suite_has_a_grade_and_the_gate_can_forbid_grades() {
    let cbc = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let aead = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let (code, doc, _) = check(&[
        &target(cbc.port()),
        &target(aead.port()),
        "--envoy",
        "1.16",
        "--forbid",
        "grade-c",
        "--envoy-bin",
        "off",
    ]);
    assert_eq!(code, 1, "{doc:#}");
    let grades = |t: &Value| -> Vec<String> {
        t["report"]["ciphers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "accepted")
            .map(|c| c["strength"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(grades(&doc["targets"][0]), ["C"]);
    assert_eq!(grades(&doc["targets"][1]), ["A"]);
    assert_eq!(doc["targets"][0]["result"], "fail");
    assert!(doc["targets"][0]["reasons"]
        .to_string()
        .contains("grade C or worse suites (TLSv1.2 ECDHE-RSA-AES256-SHA)"));
    assert_eq!(
        doc["targets"][1]["result"], "pass",
        "{:#}",
        doc["targets"][1]
    );
    assert_eq!(doc["policy"]["forbid"], serde_json::json!(["grade-c"]));
}

#[test]
fn a_gate_report_lists_the_rows_its_reader_needs_and_counts_the_rest() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let (_, doc, _) = check(&[&target(server.port()), "--envoy-bin", "off"]);
    let report = &doc["targets"][0]["report"];
    let rows = report["ciphers"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["status"], "accepted");
    let s = &report["summary"];
    let counted = ["accepted", "rejected", "inconclusive", "untestable"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(report["ciphers_omitted"].as_u64().unwrap() + 1, counted);
    let (_, all, _) = check(&[&target(server.port()), "--envoy-bin", "off", "--all-rows"]);
    let all_rows = all["targets"][0]["report"]["ciphers"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(all_rows, counted);
    assert!(all["targets"][0]["report"].get("ciphers_omitted").is_none());
}

#[test]
fn every_address_of_a_name_is_checked_and_a_mixed_fleet_fails() {
    let first = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let port = first.port();
    let second = TlsServer::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")
            .with_listen(std::net::SocketAddr::from(([127, 0, 0, 2], port))),
    )
    .unwrap();
    let same = TlsServer::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")
            .with_listen(std::net::SocketAddr::from(([127, 0, 0, 3], port))),
    )
    .unwrap();
    let name = format!("api.example.test:{port}");
    let mixed = format!("{name}=127.0.0.1,127.0.0.2");
    let (code, doc, _) = check(&[&name, "--resolve", &mixed, "--envoy-bin", "off"]);
    assert_eq!(code, 1, "{doc:#}");
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0]["target"], format!("{name} (127.0.0.1)"));
    assert_eq!(targets[1]["target"], format!("{name} (127.0.0.2)"));
    for t in targets {
        assert_eq!(t["result"], "fail", "{t:#}");
        assert!(
            t["reasons"]
                .to_string()
                .contains("addresses of this name disagree (accepted suites, Envoy verdicts)"),
            "{}",
            t["reasons"]
        );
    }
    // Addresses that serve alike pass; --addresses first checks one.
    let alike = format!("{name}=127.0.0.1,127.0.0.3");
    let (code, doc, _) = check(&[&name, "--resolve", &alike, "--envoy-bin", "off"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["targets"].as_array().unwrap().len(), 2);
    let (code, doc, _) = check(&[
        &name,
        "--resolve",
        &mixed,
        "--addresses",
        "first",
        "--envoy-bin",
        "off",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["targets"].as_array().unwrap().len(), 1);
    drop((second, same));
}
