//! Network faults: a refused port, a plaintext service, a black hole, a server that hangs up, and
//! servers that turn hostile after the preflight. None of them may ever produce a `rejected` probe,
//! and every scan ends within its timeout bounds.

use crate::common;

use std::time::Duration;

use cipher_test::testing::server::ServerConfig;
use common::{
    closed_port, CloseAfterHello, HttpPlaintext, ResetAfterHello, Silent, TlsThenClose,
    TlsThenSilent,
};
use serde_json::Value;

use common::one_error_line;

#[test]
fn closed_port_is_an_error_not_a_scan() {
    let target = format!("127.0.0.1:{}", closed_port());
    let out = common::run(&[&target, "--format", "json"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.is_empty(),
        "nothing half-written: {}",
        out.stdout
    );
    assert!(
        one_error_line(&out.stderr).contains("connection refused"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_host_is_an_error() {
    let out = common::run(&["no-such-host.invalid:443", "--format", "json"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        one_error_line(&out.stderr).contains("cannot resolve host 'no-such-host.invalid'"),
        "{}",
        out.stderr
    );
}

#[test]
fn plaintext_http_is_named_as_such() {
    let http = HttpPlaintext::start();
    let target = format!("127.0.0.1:{}", http.port());
    let out = common::run(&[&target]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    let line = one_error_line(&out.stderr);
    assert!(line.contains("does not speak TLS"), "{line}");
    assert!(line.contains("HTTP/1.1 400 Bad Request"), "{line}");
    // The scan stops at the preflight's answer: beside it only the first round of hellos went
    // out (at most the default concurrency of 16, the preflight among them), and nothing after.
    assert!(
        (1..=16).contains(&http.connections()),
        "the preflight's round only: {} connections",
        http.connections()
    );
}

#[test]
fn silent_listener_ends_within_the_timeout() {
    let silent = Silent::start();
    let target = format!("127.0.0.1:{}", silent.port());
    let out = common::run(&[&target, "--timeout", "400ms", "--retries", "0"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        one_error_line(&out.stderr).contains("no answer within 400 ms"),
        "{}",
        out.stderr
    );
    assert!(
        out.elapsed < Duration::from_secs(3),
        "took {:?}",
        out.elapsed
    );
}

#[test]
fn close_after_client_hello_is_not_a_rejection() {
    let closer = CloseAfterHello::start();
    let target = format!("127.0.0.1:{}", closer.port());
    let out = common::run(&[&target, "--retries", "1"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    let line = one_error_line(&out.stderr);
    assert!(
        line.contains("closed by the server without a TLS answer"),
        "{line}"
    );
    assert!(line.contains("2 attempts"), "{line}");
}

#[test]
fn reset_after_client_hello_is_not_a_rejection() {
    let reset = ResetAfterHello::start();
    let target = format!("127.0.0.1:{}", reset.port());
    let out = common::run(&[&target, "--retries", "0"]);
    assert_eq!(out.code, 2);
    assert!(
        one_error_line(&out.stderr).contains("reset"),
        "{}",
        out.stderr
    );
}

fn probe_rows(stdout: &str) -> Vec<Value> {
    let r: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    r["ciphers"].as_array().unwrap().clone()
}

#[test]
fn server_that_hangs_up_after_the_preflight_gives_inconclusive_probes() {
    let server = TlsThenClose::start(ServerConfig::tls13_only("TLS_AES_128_GCM_SHA256"));
    let target = format!("127.0.0.1:{}", server.port());
    let out = tls13_scan(&target, &["--retries", "1", "--format", "json", "--quiet"]);
    assert_eq!(out.code, 2, "an inconclusive probe is exit code 2");
    let rows = probe_rows(&out.stdout);
    assert_eq!(rows.len(), 5);
    for row in &rows {
        assert_eq!(row["status"], "inconclusive", "{row}");
        assert!(
            row["reason"]
                .as_str()
                .unwrap()
                .contains("closed by the server"),
            "{row}"
        );
        assert_eq!(row["attempts"], 2, "retried once: {row}");
    }
    // The version fell back from elimination to one probe per suite, and the report says why.
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let tls13 = &report["enumeration"][0];
    assert_eq!(tls13["method"], "per-suite", "{tls13}");
    assert!(
        tls13["fallback"]
            .as_str()
            .unwrap()
            .contains("no TLS answer to a 5-suite TLSv1.3 hello"),
        "{tls13}"
    );
    // Preflight; the 5-suite elimination hello and the one-suite hello that checks it; 5 probes
    // tried twice each; one handshake as Envoy's client, its raw twin, and one to read the
    // certificate: 16 pieces of work. A server that never answers through the gate gets each
    // sent again a few times at most (4 connections each), and the report counts every
    // connection but the preflight.
    let net = &report["network"];
    let connections = net["connections"].as_u64().unwrap() as usize;
    assert_eq!(server.connections(), 1 + connections, "{net:#}");
    assert!((16..=64).contains(&connections), "{net:#}");
    assert_eq!(
        net["dropped"].as_u64().unwrap() as usize,
        connections,
        "{net:#}"
    );
    // The table says it too (a fresh server: this one only ever answers its first connection).
    let server = TlsThenClose::start(ServerConfig::tls13_only("TLS_AES_128_GCM_SHA256"));
    let target = format!("127.0.0.1:{}", server.port());
    let table = tls13_scan(&target, &["--retries", "0", "--quiet"]);
    assert!(
        table
            .stdout
            .contains("Method: TLSv1.3 was probed one suite per hello: no TLS answer"),
        "{}",
        table.stdout
    );
}

#[test]
fn server_that_goes_silent_after_the_preflight_times_out_within_bounds() {
    let server = TlsThenSilent::start(ServerConfig::tls13_only("TLS_AES_128_GCM_SHA256"));
    let target = format!("127.0.0.1:{}", server.port());
    let out = tls13_scan(
        &target,
        &[
            "--timeout",
            "300ms",
            "--retries",
            "0",
            "--format",
            "json",
            "--quiet",
        ],
    );
    assert_eq!(out.code, 2);
    let rows = probe_rows(&out.stdout);
    assert!(
        rows.iter().all(|r| r["status"] == "inconclusive"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r["reason"] == "no answer within 300 ms"),
        "{rows:?}"
    );
    // 5 probes at concurrency 8 run in parallel: about one timeout in all.
    assert!(
        out.elapsed < Duration::from_secs(3),
        "took {:?}",
        out.elapsed
    );
}

#[test]
fn table_output_explains_an_incomplete_scan() {
    let server = TlsThenClose::start(ServerConfig::tls13_only("TLS_AES_128_GCM_SHA256"));
    let target = format!("127.0.0.1:{}", server.port());
    let out = tls13_scan(&target, &["--retries", "0", "--quiet"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.contains("inconclusive"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("closed by the server without a TLS answer"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("may be incomplete"), "{}", out.stdout);
    assert!(!out.stdout.contains("| rejected"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("0 accepted, 0 rejected, 5 inconclusive"),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_flags_get_exit_code_2_and_no_backtrace() {
    for args in [
        vec!["127.0.0.1:443", "--protocols", "tls9"],
        vec!["127.0.0.1:99999"],
        vec!["127.0.0.1:443", "--timeout", "soon"],
        vec!["127.0.0.1:443", "--concurrency", "0"],
        vec!["[::1:443"],
        vec![],
    ] {
        let out = common::run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("backtrace"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

/// A run of the binary against `target` at TLS 1.3 only (the fault servers here speak only that),
/// with `extra` flags.
fn tls13_scan(target: &str, extra: &[&str]) -> common::Output {
    let mut args = vec![target, "--protocols", "tls1.3"];
    args.extend_from_slice(extra);
    common::run(&args)
}
