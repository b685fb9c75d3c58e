//! `kubectl cipher-test`: installed as `kubectl-cipher_test`, the binary answers to the name kubectl
//! runs it by, and `check -n NS` / `-A` read the Upstreams with kubectl itself (a stand-in kubectl
//! here, printing a manifest; the upstream behind it is a real TLS server).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common;
use cipher_test::testing::server::{ServerConfig, TlsServer};
use serde_json::Value;

/// The binary under the plugin name, and a `kubectl` that logs its arguments and prints `yaml`.
fn plugin_dir(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        common::cipher_test_bin(),
        dir.path().join("kubectl-cipher_test"),
    )
    .unwrap();
    std::fs::write(dir.path().join("upstreams.yaml"), yaml).unwrap();
    let kubectl = dir.path().join("kubectl");
    std::fs::write(
        &kubectl,
        format!(
            "#!/bin/sh\necho \"$@\" >> {log}\ncat {yaml}\n",
            log = dir.path().join("kubectl.log").display(),
            yaml = dir.path().join("upstreams.yaml").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn plugin(dir: &tempfile::TempDir, args: &[&str]) -> common::Output {
    let mut cmd = Command::new(dir.path().join("kubectl-cipher_test"));
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.args(args).env("PATH", path).env_remove("KUBECTL");
    common::run_command(cmd)
}

fn upstream(name: &str, namespace: &str, port: u16) -> String {
    format!(
        "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  static:\n    hosts: [{{addr: 127.0.0.1, port: {port}}}]\n  sslConfig: {{}}\n"
    )
}

#[test]
fn check_reads_the_upstreams_of_a_namespace_with_kubectl() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let dir = plugin_dir(&upstream("api", "gloo-system", server.port()));
    let out = plugin(
        &dir,
        &[
            "check",
            "-n",
            "gloo-system",
            "--envoy-bin",
            "off",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["targets"][0]["upstream"]["name"], "api");
    assert_eq!(doc["targets"][0]["result"], "pass");
    let log = std::fs::read_to_string(dir.path().join("kubectl.log")).unwrap();
    assert!(log.contains("get upstreams.gloo.solo.io -o yaml"), "{log}");
    assert!(log.contains("-n gloo-system"), "{log}");

    let all = plugin(&dir, &["check", "-A", "--envoy-bin", "off", "-o", "json"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let log = std::fs::read_to_string(dir.path().join("kubectl.log")).unwrap();
    assert!(log.contains("--all-namespaces"), "{log}");
}

#[test]
fn a_namespace_picks_upstreams_from_a_file_too() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let yaml = format!(
        "{}---\n{}",
        upstream("api", "gloo-system", server.port()),
        upstream("other", "team-b", server.port())
    );
    let dir = plugin_dir(&yaml);
    let file = dir.path().join("upstreams.yaml");
    let out = common::run(&[
        "check",
        "--upstreams",
        file.to_str().unwrap(),
        "-n",
        "team-b",
        "--envoy-bin",
        "off",
        "-o",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["upstream"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other"]);
}

#[test]
fn the_plugin_says_kubectl_cipher_test_and_a_missing_kubectl_is_one_line() {
    let dir = plugin_dir("");
    let help = plugin(&dir, &["check", "--help"]);
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("kubectl cipher-test check"),
        "{}",
        help.stdout
    );
    let mut cmd = Command::new(dir.path().join("kubectl-cipher_test"));
    cmd.args(["check", "-A"])
        .env("KUBECTL", dir.path().join("no-such-kubectl"));
    let out = common::run_command(cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = common::one_error_line(&out.stderr);
    assert!(line.contains("--upstreams FILE"), "{line}");
}

#[test]
fn kubectl_failing_gives_its_error_line_not_its_first_warning() {
    let dir = plugin_dir("");
    let kubectl = dir.path().join("kubectl");
    std::fs::write(
        &kubectl,
        "#!/bin/sh\necho \"W1203 memcache.go:265] couldn't get current server API group list\" >&2\n\
         echo 'error: You must be logged in to the server (Unauthorized)' >&2\nexit 1\n",
    )
    .unwrap();
    let out = plugin(&dir, &["check", "-n", "gloo-system"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = common::one_error_line(&out.stderr);
    assert!(line.contains("You must be logged in"), "{line}");
}
