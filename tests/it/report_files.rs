//! Report files beside the screen: `--json-out` (scan, remediate, check) and `--junit` are written
//! whole or not at all, while stdout keeps the format asked for; `-o` is `--format`.

use crate::common;
use cipher_test::testing::server::{ServerConfig, TlsServer};
use serde_json::Value;

fn accepted(report: &Value) -> Vec<String> {
    report["ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "accepted")
        .map(|c| format!("{} {}", c["protocol"], c["openssl_name"]))
        .collect()
}

#[test]
fn scan_writes_the_json_report_to_a_file_and_the_table_to_stdout() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&["scan", &target, "--json-out", file.to_str().unwrap(), "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("Target "), "{}", out.stdout);
    let from_file: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let on_stdout: Value =
        serde_json::from_str(&common::run(&["scan", &target, "-o", "json", "-q"]).stdout).unwrap();
    assert_eq!(accepted(&from_file), accepted(&on_stdout));
    assert_eq!(
        accepted(&from_file),
        ["\"TLSv1.2\" \"ECDHE-RSA-AES256-SHA\""]
    );
    assert_eq!(from_file["envoy"]["verdict"], "needs_patch");
    // Nothing but the report is left in the directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn check_writes_json_and_junit_files_and_a_table() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (json, junit) = (dir.path().join("check.json"), dir.path().join("check.xml"));
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[
        "check",
        &target,
        "--envoy-bin",
        "off",
        "--json-out",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "-o",
        "table",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("pass"), "{}", out.stdout);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["summary"]["passed"], 1);
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("<testsuite"));
}

#[test]
fn a_report_file_that_cannot_be_written_leaves_nothing_behind() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    // A directory where the file should go: the temporary file is written, the rename fails.
    let taken = dir.path().join("report.json");
    std::fs::create_dir(&taken).unwrap();
    for command in ["scan", "remediate"] {
        let out = common::run(&[
            command,
            &target,
            "--json-out",
            taken.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(out.code, 2, "{command}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{command}: {}", out.stdout);
        let line = common::one_error_line(&out.stderr);
        assert!(line.contains("cannot write"), "{line}");
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        [std::ffi::OsString::from("report.json")],
        "a partial file was left"
    );
}

#[test]
fn a_report_file_is_written_through_a_link_and_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    std::fs::write(&real, "old").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&["scan", &target, "--json-out", link.to_str().unwrap(), "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    assert_eq!(doc["envoy"]["verdict"], "needs_patch");
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
