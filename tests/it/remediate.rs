//! `cipher-test remediate`: the YAML it prints for real servers, read back by a YAML 1.1 parser
//! (PyYAML, as kubectl's go-yaml reads YAML 1.1) as exactly the intended document.

use crate::common;

use cipher_test::testing::server::{ServerConfig, TlsServer};
use serde_json::{json, Value};

use common::yaml11;

const DEFAULTS: [&str; 4] = [
    "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
    "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
];

fn patched_suites() -> Value {
    let mut v: Vec<&str> = DEFAULTS.to_vec();
    v.push("ECDHE-RSA-AES256-SHA");
    json!(v)
}

#[test]
fn upstream_manifest_is_complete_and_reads_the_same_in_yaml_1_1() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[
        "remediate",
        &target,
        "--sni",
        "api.internal",
        "--upstream",
        "on",
        "--namespace",
        "payments",
        "--secret",
        "api-tls",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "patch verified: Envoy (current) then negotiates ECDHE-RSA-AES256-SHA at TLSv1.2"
        ),
        "{}",
        out.stderr
    );
    let want = json!({
        "apiVersion": "gloo.solo.io/v1",
        "kind": "Upstream",
        "metadata": { "name": "on", "namespace": "payments" },
        "spec": {
            "sslConfig": {
                "secretRef": { "name": "api-tls", "namespace": "payments" },
                "sni": "api.internal",
                "parameters": { "cipherSuites": patched_suites() }
            },
            "static": { "hosts": [ { "addr": "127.0.0.1", "port": server.port(), "sniAddr": "api.internal" } ] }
        }
    });
    let parsed: Value =
        serde_json::to_value(serde_saphyr::from_str::<Value>(&out.stdout).unwrap()).unwrap();
    assert_eq!(parsed, want, "{}", out.stdout);
    if let Some(docs) = yaml11(&out.stdout) {
        assert_eq!(
            docs,
            vec![want],
            "YAML 1.1 reads a different document:\n{}",
            out.stdout
        );
    }
}

#[test]
fn merge_patch_and_kubectl_line() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[
        "remediate",
        &target,
        "--emit",
        "patch",
        "--upstream",
        "api",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want =
        json!({ "spec": { "sslConfig": { "parameters": { "cipherSuites": patched_suites() } } } });
    if let Some(docs) = yaml11(&out.stdout) {
        assert_eq!(docs, vec![want.clone()]);
    }
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("kubectl patch"))
        .expect("kubectl line");
    let json_arg = line.split_once(" -p '").unwrap().1.trim_end_matches('\'');
    assert!(
        line.starts_with("# kubectl patch upstream api -n gloo-system --type merge -p '"),
        "{line}"
    );
    assert_eq!(serde_json::from_str::<Value>(json_arg).unwrap(), want);
}

#[test]
fn service_annotation_form() {
    let server = TlsServer::start(ServerConfig::tls13_only("TLS_AES_128_GCM_SHA256")).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&["remediate", &target, "--emit", "annotation", "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let Some(docs) = yaml11(&out.stdout) else {
        return;
    };
    let annotations = &docs[0]["metadata"]["annotations"];
    let config: Value = serde_json::from_str(
        annotations["gloo.solo.io/upstream_config"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        config,
        json!({ "sslConfig": { "parameters": { "maximumProtocolVersion": "TLSv1_3" } } })
    );
}

const EXISTING: &str = r#"apiVersion: gloo.solo.io/v1
kind: Upstream
metadata:
  name: legacy-api
  namespace: gloo-system
  labels:
    team: payments
    discovered: "yes"
spec:
  healthChecks:
  - timeout: 1s
    interval: 10s
    unhealthyThreshold: 3
    healthyThreshold: 1
    httpHealthCheck:
      path: /healthz
  sslConfig:
    sni: legacy.internal
    secretRef:
      name: legacy-tls
      namespace: gloo-system
    parameters:
      minimumProtocolVersion: TLSv1_2
  static:
    hosts:
    - addr: 127.0.0.1
      port: PORT
"#;

#[test]
fn file_patch_keeps_every_other_field() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upstream.yaml");
    std::fs::write(&path, EXISTING.replace("PORT", &server.port().to_string())).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[
        "remediate",
        &target,
        "--sni",
        "legacy.internal",
        "-f",
        path.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let Some(before) = yaml11(&EXISTING.replace("PORT", &server.port().to_string())) else {
        return;
    };
    let after = yaml11(&out.stdout).unwrap();
    let mut want = before[0].clone();
    want["spec"]["sslConfig"]["parameters"]["cipherSuites"] = patched_suites();
    // The host is an IP address, so Gloo does not rewrite the SNI: sslConfig.sni already reaches
    // Envoy, and no sniAddr is added (`ciphers/SOURCES.md` §4.4).
    assert_eq!(after[0], want, "{}", out.stdout);
    // User key order is kept: labels before spec, healthChecks first in spec.
    assert!(out.stdout.find("labels:").unwrap() < out.stdout.find("spec:").unwrap());
    assert!(out.stdout.find("healthChecks:").unwrap() < out.stdout.find("sslConfig:").unwrap());
}

#[test]
fn an_upstream_whose_own_parameters_already_work_needs_no_change() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upstream.yaml");
    let manifest = EXISTING.replace("PORT", &server.port().to_string()).replace(
        "      minimumProtocolVersion: TLSv1_2\n",
        "      minimumProtocolVersion: TLSv1_2\n      cipherSuites:\n      - ECDHE-RSA-AES128-GCM-SHA256\n      - ECDHE-RSA-AES256-SHA\n",
    );
    std::fs::write(&path, &manifest).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&["remediate", &target, "-f", path.to_str().unwrap(), "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("no parameter change is needed"),
        "{}",
        out.stderr
    );
    if let (Some(a), Some(b)) = (yaml11(&manifest), yaml11(&out.stdout)) {
        assert_eq!(a, b, "the manifest must come back unchanged");
    }
}

#[test]
fn incompatible_upstream_prints_no_yaml_and_exits_1() {
    let server = TlsServer::start(ServerConfig::tls12_only("DHE-RSA-AES256-GCM-SHA384")).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&["remediate", &target, "-q"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("incompatible with Envoy"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("upstream must change"),
        "{}",
        out.stderr
    );
}

#[test]
fn file_that_is_not_an_upstream_is_refused() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    for (name, text, needle) in [
        (
            "service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n",
            "no gloo.solo.io/v1 Upstream",
        ),
        (
            "broken.yaml",
            "apiVersion: gloo.solo.io/v1\nkind: Upstream\nspec: [unclosed\n",
            "broken.yaml",
        ),
        // A curve Envoy cannot load is named as such, not mistaken for a silent server.
        (
            "curve.yaml",
            "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {name: x, namespace: gloo-system}\n\
             spec:\n  static: {hosts: [{addr: 127.0.0.1, port: 443}]}\n  sslConfig:\n    \
             parameters: {ecdhCurves: [X25519, P-999]}\n",
            "ecdhCurves: 'P-999'",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = common::run(&["remediate", &target, "-f", path.to_str().unwrap(), "-q"]);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(out.stdout.is_empty());
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{name}: {}", out.stderr);
    }
    let out = common::run(&["remediate", &target, "-f", "/nonexistent/upstream.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot read /nonexistent/upstream.yaml"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_patched_manifest_says_which_comments_it_cannot_keep() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upstream.yaml");
    let manifest = format!(
        "# owned by team payments\n{}",
        EXISTING
            .replace("PORT", &server.port().to_string())
            .replace("  name: legacy-api\n", "  name: legacy-api # the old API\n")
    );
    std::fs::write(&path, &manifest).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&["remediate", &target, "-f", path.to_str().unwrap(), "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("comments (lines 1, 5) are not in the patched manifest"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains('#'), "{}", out.stdout);
}
