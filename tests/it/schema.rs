//! The JSON contract: `schema/report.schema.json` must accept what the binary really prints (scan
//! reports of several kinds of server, the demo, and a `check` run with a pass, a failure and an
//! error), and must reject documents that break it (so it is not vacuous).
//!
//! Validation uses Python's `jsonschema` (Draft 2020-12). Outside CI a missing python3 or jsonschema
//! skips these tests with a SKIPPED line; in CI (`CI` set) it fails.

use crate::common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use cipher_test::testing::pki::{self, CertSpec};
use cipher_test::testing::server::{ClientAuth, ServerConfig, TlsServer};
use openssl::ssl::SslVersion;
use serde_json::{json, Value};

/// Validates a JSON array of documents on stdin against the schema named in argv[1]. Prints `OK`,
/// then for each document `DOC i` and one line per error: the path in the document, the message, and
/// the failing schema keyword. When the full schema (the top-level `oneOf`) rejects a document, the
/// errors shown are those of its intended branch (`$defs/check` for `"kind": "check"`, else
/// `$defs/scan`) rather than a bare "not valid under any of the given schemas".
const VALIDATE: &str = r##"
import json, sys
try:
    import jsonschema
except ImportError:
    print("NO_JSONSCHEMA")
    sys.exit(0)
with open(sys.argv[1]) as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
full = jsonschema.Draft202012Validator(schema)
branches = {
    kind: jsonschema.Draft202012Validator({"$ref": "#/$defs/" + kind, "$defs": schema["$defs"]})
    for kind in ("scan", "check")
}

def leaves(e):
    if e.context:
        for c in e.context:
            yield from leaves(c)
    elif not (e.validator == "type" and e.validator_value == "null"):
        yield e

def line(e):
    path = "/" + "/".join(str(p) for p in e.absolute_path)
    keyword = "/".join(str(p) for p in e.absolute_schema_path)
    message = e.message if len(e.message) <= 240 else e.message[:240] + "..."
    return f"{path}: {message} [schema {keyword}]".replace("\n", " ")

print("OK")
for i, doc in enumerate(json.load(sys.stdin)):
    print(f"DOC {i}")
    errors = [line(e) for e in full.iter_errors(doc)]
    if errors:
        kind = "check" if isinstance(doc, dict) and doc.get("kind") == "check" else "scan"
        detail = [line(l) for e in branches[kind].iter_errors(doc) for l in leaves(e)]
        errors = detail or errors
    for e in sorted(set(errors)):
        print(e)
"##;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json")
}

/// Python or jsonschema is missing: SKIPPED outside CI, a failure in CI.
fn unavailable<T>(why: &str) -> Option<T> {
    common::unavailable(why, "pip install jsonschema")
}

/// The schema errors of each document, one line per error (empty: valid), from one python3 run.
/// `None` when the validator is not available outside CI.
fn schema_errors(docs: &[&Value]) -> Option<Vec<Vec<String>>> {
    let child = Command::new("python3")
        .arg("-c")
        .arg(VALIDATE)
        .arg(schema_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return unavailable(&format!("cannot run python3: {e}")),
    };
    // A write error (python3 exited early) shows up below as its exit status.
    let input = serde_json::to_vec(docs).expect("documents serialise");
    let _ = child.stdin.take().expect("piped stdin").write_all(&input);
    let out = child.wait_with_output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the validator failed (is the schema itself valid?):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    match lines.next() {
        Some("OK") => {}
        Some("NO_JSONSCHEMA") => return unavailable("python3 has no jsonschema module"),
        other => panic!("unexpected validator output {other:?}:\n{stdout}"),
    }
    let mut result: Vec<Vec<String>> = Vec::new();
    for l in lines {
        if l.starts_with("DOC ") {
            result.push(Vec::new());
        } else {
            result
                .last_mut()
                .unwrap_or_else(|| panic!("validator output without DOC:\n{stdout}"))
                .push(l.to_string());
        }
    }
    assert_eq!(
        result.len(),
        docs.len(),
        "one result per document:\n{stdout}"
    );
    Some(result)
}

/// Asserts that every labelled document matches the schema, printing every error path otherwise.
fn assert_valid(docs: &[(&str, &Value)]) {
    let values: Vec<&Value> = docs.iter().map(|(_, d)| *d).collect();
    let Some(errors) = schema_errors(&values) else {
        return;
    };
    let mut failures = String::new();
    for ((label, doc), errors) in docs.iter().zip(errors) {
        if !errors.is_empty() {
            failures.push_str(&format!(
                "{label}: {} schema error(s):\n  {}\n--- document ---\n{doc:#}\n",
                errors.len(),
                errors.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// `cipher-test demo --format json`, run once for every test that needs it.
fn demo() -> &'static Value {
    static DEMO: OnceLock<Value> = OnceLock::new();
    DEMO.get_or_init(|| {
        let out = common::run(&["demo", "--format", "json", "--quiet"]);
        assert_eq!(out.code, 0, "demo exit code; stderr: {}", out.stderr);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("demo stdout is not one JSON document: {e}\n{}", out.stdout))
    })
}

/// A scan of `server` restricted to TLS 1.2 and 1.3, SNI localhost.
fn scan(server: &TlsServer, extra: &[&str]) -> Value {
    let mut args = vec!["--sni", "localhost", "--protocols", "tls1.2,tls1.3"];
    args.extend_from_slice(extra);
    common::scan_json(server.port(), &args)
}

fn ecdhe_aead_server() -> TlsServer {
    TlsServer::start(
        ServerConfig::default()
            .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
            .with_cipher_list("ECDHE+AESGCM"),
    )
    .unwrap()
}

fn dhe_only_server() -> TlsServer {
    TlsServer::start(ServerConfig::tls12_only("DHE-RSA-AES256-GCM-SHA384")).unwrap()
}

fn mtls_server() -> TlsServer {
    TlsServer::start(
        ServerConfig::default()
            .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
            .with_cipher_list("ECDHE-RSA-AES128-GCM-SHA256")
            .with_client_auth(ClientAuth::Required),
    )
    .unwrap()
}

fn finding_ids(doc: &Value) -> Vec<&str> {
    doc["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .map(|f| f["id"].as_str().unwrap_or_default())
        .collect()
}

#[test]
fn the_demo_report_matches() {
    let doc = demo();
    assert_eq!(doc["envoy"]["verdict"], "needs_patch", "{:#}", doc["envoy"]);
    assert!(doc["remediation"].is_object(), "{:#}", doc["remediation"]);
    assert_valid(&[("demo", doc)]);
}

#[test]
fn a_compatible_ecdhe_aead_scan_matches() {
    let server = ecdhe_aead_server();
    let doc = scan(&server, &[]);
    assert_eq!(doc["envoy"]["verdict"], "compatible", "{:#}", doc["envoy"]);
    assert!(doc["remediation"].is_null());
    assert!(doc["envoy"]["negotiated"].is_object());
    assert!(!doc["groups"].as_array().unwrap().is_empty());
    assert_valid(&[("compatible ECDHE-AEAD server", &doc)]);
}

#[test]
fn an_incompatible_dhe_only_scan_matches() {
    let server = dhe_only_server();
    let doc = scan(&server, &[]);
    assert_eq!(
        doc["envoy"]["verdict"], "incompatible",
        "{:#}",
        doc["envoy"]
    );
    assert!(doc["remediation"].is_null(), "{:#}", doc["remediation"]);
    assert!(doc["envoy"]["negotiated"].is_null());
    assert_valid(&[("DHE-only server", &doc)]);
}

#[test]
fn client_certificate_scans_match() {
    let server = mtls_server();
    let without = scan(&server, &[]);
    assert_eq!(
        without["client_auth"]["required"], true,
        "{:#}",
        without["client_auth"]
    );
    assert!(finding_ids(&without).contains(&"client_auth.required"));
    assert!(without["client_auth"].get("client_certificate").is_none());

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = server.issue_client_cert("envoy-client").unwrap();
    let (cert_file, key_file) = pki::write_pem(dir.path(), "client", &[&cert], Some(&key)).unwrap();
    let key_file = key_file.unwrap();
    let with = scan(
        &server,
        &[
            "--cert",
            cert_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
    );
    let presented = &with["client_auth"]["client_certificate"];
    assert_eq!(presented["accepted"], true, "{presented:#}");
    assert_valid(&[
        ("client certificate required", &without),
        ("--cert/--key accepted", &with),
    ]);
}

#[test]
fn a_refused_client_certificate_scan_matches() {
    let server = mtls_server();
    let dir = tempfile::tempdir().unwrap();
    let stranger_ca = pki::self_signed(&CertSpec::ca("stranger CA")).unwrap();
    let stranger = pki::issue(&CertSpec::leaf("envoy-client"), &stranger_ca).unwrap();
    let (cert_file, key_file) = pki::write_pem(
        dir.path(),
        "stranger",
        &[&stranger.cert],
        Some(&stranger.key),
    )
    .unwrap();
    let key_file = key_file.unwrap();
    let doc = scan(
        &server,
        &[
            "--cert",
            cert_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
    );
    let presented = &doc["client_auth"]["client_certificate"];
    assert_eq!(presented["accepted"], false, "{presented:#}");
    assert!(presented["error"].is_string(), "{presented:#}");
    assert_valid(&[("--cert/--key refused", &doc)]);
}

#[test]
fn a_check_report_with_pass_fail_and_error_matches() {
    let pass = ecdhe_aead_server();
    let fail = dhe_only_server();
    let closed = common::closed_port();
    let targets: Vec<String> = [pass.port(), fail.port(), closed]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let mut args = vec![
        "check",
        "--format",
        "json",
        "--timeout",
        "2s",
        "--retries",
        "0",
        "--sni",
        "localhost",
        "--protocols",
        "tls1.2,tls1.3",
    ];
    args.extend(targets.iter().map(String::as_str));
    let out = common::run(&args);
    assert_eq!(
        out.code, 2,
        "an error beats a failure; stderr: {}",
        out.stderr
    );
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("check stdout is not one JSON document: {e}\n{}", out.stdout));
    let results: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(results, ["pass", "fail", "error"], "{doc:#}");
    assert!(doc["targets"][0]["report"].is_object());
    assert!(doc["targets"][2]["report"].is_null());
    assert_valid(&[("check", &doc)]);
}

/// A minimal check document around a real scan report, valid as it stands.
fn check_doc(report: &Value) -> Value {
    json!({
        "schema_version": 1,
        "tool_version": report["tool_version"],
        "kind": "check",
        "policy": {
            "envoy": "current",
            "require": "compatible",
            "min_cert_days": 14,
            "forbid": ["weak"],
            "require_trusted": false
        },
        "targets": [{
            "target": "127.0.0.1:443",
            "host": "127.0.0.1",
            "port": 443,
            "upstream": { "name": "api", "namespace": "gloo-system", "has_secret": false },
            "result": "fail",
            "reasons": ["Envoy (current) would not connect"],
            "rules": ["no_shared_cipher"],
            "source": { "file": "upstreams.yaml", "line": 3 },
            "report": report
        }],
        "summary": { "targets": 1, "passed": 0, "failed": 1, "errors": 0, "elapsed_ms": 5 }
    })
}

/// Applies `change` to a copy of `doc`.
fn changed(doc: &Value, change: impl FnOnce(&mut Value)) -> Value {
    let mut doc = doc.clone();
    change(&mut doc);
    doc
}

#[test]
fn the_schema_rejects_broken_documents() {
    // The demo report cut to a few cipher rows (still valid: the schema does not count rows), so
    // that validating a dozen variants stays fast.
    let demo = &changed(demo(), |d| {
        d["ciphers"].as_array_mut().unwrap().truncate(4);
    });
    let check = check_doc(demo);
    let rejected: Vec<(&str, Value, &str)> = vec![
        (
            "an unknown cipher status",
            changed(demo, |d| d["ciphers"][0]["status"] = json!("maybe")),
            "/ciphers/0/status",
        ),
        (
            "schema_version 2",
            changed(demo, |d| d["schema_version"] = json!(2)),
            "/schema_version",
        ),
        (
            "a lower-case code point",
            changed(demo, |d| d["ciphers"][0]["code"] = json!("0xc02f")),
            "/ciphers/0/code",
        ),
        (
            "an unknown protocol version",
            changed(demo, |d| d["protocols"][0]["version"] = json!("TLSv1.4")),
            "/protocols/0/version",
        ),
        (
            "a missing summary",
            changed(demo, |d| {
                d.as_object_mut().unwrap().remove("summary");
            }),
            "/:",
        ),
        (
            "an unknown verdict",
            changed(demo, |d| d["envoy"]["verdict"] = json!("maybe")),
            "/envoy/verdict",
        ),
        (
            "an unknown Gloo version name",
            changed(demo, |d| {
                d["remediation"]["parameters"]["minimumProtocolVersion"] = json!("TLSv1.2")
            }),
            "/remediation/parameters/minimumProtocolVersion",
        ),
        (
            "needs_patch without a remediation",
            changed(demo, |d| d["remediation"] = Value::Null),
            "/remediation",
        ),
        (
            "an unknown severity",
            changed(demo, |d| d["findings"][0]["severity"] = json!("fatal")),
            "/findings/0/severity",
        ),
        (
            "an unknown check result",
            changed(&check, |d| d["targets"][0]["result"] = json!("maybe")),
            "/targets/0/result",
        ),
        (
            "an unknown gate rule",
            changed(&check, |d| d["targets"][0]["rules"][0] = json!("too_slow")),
            "/targets/0/rules/0",
        ),
        (
            "a source line 0",
            changed(&check, |d| d["targets"][0]["source"]["line"] = json!(0)),
            "/targets/0/source/line",
        ),
        (
            "a broken report inside a check",
            changed(&check, |d| {
                d["targets"][0]["report"]["ciphers"][0]["status"] = json!("maybe")
            }),
            "/targets/0/report/ciphers/0/status",
        ),
        (
            "a check without kind",
            changed(&check, |d| {
                d.as_object_mut().unwrap().remove("kind");
            }),
            "/",
        ),
    ];
    // Added properties are not a breaking change: the schema does not forbid them.
    let extended = changed(demo, |d| {
        d["future_field"] = json!({ "anything": true });
        d["ciphers"][0]["future_field"] = json!(1);
        d["envoy"]["future_field"] = json!("x");
    });
    assert_valid(&[
        ("synthetic check document", &check),
        ("demo with added properties", &extended),
    ]);
    let docs: Vec<&Value> = rejected.iter().map(|(_, d, _)| d).collect();
    let Some(errors) = schema_errors(&docs) else {
        return;
    };
    for ((label, _, path), errors) in rejected.iter().zip(errors) {
        assert!(
            errors.iter().any(|e| e.starts_with(path)),
            "{label}: expected a schema error at {path}, got {errors:#?}"
        );
    }
}

#[test]
fn the_schema_names_every_gate_rule() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let listed = &schema["$defs"]["targetResult"]["properties"]["rules"]["items"]["enum"];
    let names: Vec<&str> = cipher_test::cmd::rule::Rule::ALL
        .iter()
        .map(|r| r.name())
        .collect();
    assert_eq!(listed, &serde_json::json!(names));
}

#[test]
fn a_report_per_address_matches() {
    let a = common::tls12_server_at([127, 0, 0, 2], 0, "ECDHE-RSA-AES128-GCM-SHA256");
    let _b = common::tls12_server_at([127, 0, 0, 3], a.port(), "AES128-SHA");
    let out = common::scan_both_addresses(a.port(), &["-o", "json"]);
    let doc: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    assert_eq!(doc["agree"], false);
    assert_valid(&[("a report per address", &doc)]);
    let broken = changed(&doc, |d| d["differ"][0] = json!("colours"));
    let errors = schema_errors(&[&broken]);
    if let Some(errors) = errors {
        assert!(!errors[0].is_empty(), "an unknown difference is refused");
    }
}

#[test]
fn a_scan_of_a_server_that_drops_connections_matches() {
    use cipher_test::testing::front::{Limit, LimitedFront};
    let inner = ecdhe_aead_server();
    let front = LimitedFront::start(inner.addr(), Limit::DropEveryNth(2)).unwrap();
    let out = common::run(&[
        &format!("127.0.0.1:{}", front.port()),
        "-o",
        "json",
        "--quiet",
    ]);
    let doc: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    assert!(doc["network"]["limit"].is_object(), "{:#}", doc["network"]);
    assert_valid(&[("a server that drops every second connection", &doc)]);
}
