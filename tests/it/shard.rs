//! Sharding a gate: `check --shard I/N` takes a stable share of the targets, the N shards cover
//! every target exactly once, and `merge` gives the result, exit code and JUnit an unsharded run
//! gives.

use std::collections::BTreeSet;

use crate::common;
use cipher_test::testing::server::{ServerConfig, TlsServer};
use serde_json::Value;

fn check(targets: &[String], extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<&str> = vec!["check", "-o", "json", "--envoy-bin", "off"];
    args.extend(targets.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let out = common::run(&args);
    let doc = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    (out.code, doc)
}

/// (target, result, reasons) of every target of a report.
fn verdicts(doc: &Value) -> BTreeSet<(String, String, String)> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["result"].as_str().unwrap().to_string(),
                t["reasons"].to_string(),
            )
        })
        .collect()
}

#[test]
fn shards_cover_every_target_once_and_merge_to_the_unsharded_result() {
    let servers: Vec<TlsServer> = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-SHA"]
        .iter()
        .cycle()
        .take(6)
        .map(|c| TlsServer::start(ServerConfig::tls12_only(c)).unwrap())
        .collect();
    let targets: Vec<String> = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();

    let (code, whole) = check(
        &targets,
        &["--require", "no-patch", "--junit", &path("all.xml")],
    );
    assert_eq!(code, 1, "three of six need a patch: {whole:#}");

    let mut seen = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let (_, part) = check(
            &targets,
            &[
                "--require",
                "no-patch",
                "--shard",
                &shard,
                "--json-out",
                &path(&format!("shard-{i}.json")),
            ],
        );
        seen.extend(verdicts(&part));
    }
    assert_eq!(seen.len(), 6, "every target in exactly one shard: {seen:?}");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), verdicts(&whole));

    let out = common::run(&[
        "merge",
        &path("shard-0.json"),
        &path("shard-1.json"),
        &path("shard-2.json"),
        "-o",
        "json",
        "--junit",
        &path("merged.xml"),
    ]);
    assert_eq!(out.code, code, "{}", out.stderr);
    let merged: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(verdicts(&merged), verdicts(&whole));
    assert_eq!(merged["summary"]["failed"], whole["summary"]["failed"]);
    assert_eq!(merged["policy"], whole["policy"]);
    let junit = |p: &str| {
        let x = std::fs::read_to_string(p).unwrap();
        (
            x.matches("<testcase").count(),
            x.matches("<failure").count(),
        )
    };
    assert_eq!(junit(&path("merged.xml")), junit(&path("all.xml")));
}

#[test]
fn shards_of_different_policies_do_not_merge() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let targets = vec![format!("127.0.0.1:{}", server.port())];
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json").display().to_string();
    let b = dir.path().join("b.json").display().to_string();
    check(&targets, &["--json-out", &a]);
    check(&targets, &["--json-out", &b, "--forbid", "weak"]);
    let out = common::run(&["merge", &a, &b]);
    assert_eq!(out.code, 2);
    assert!(
        common::one_error_line(&out.stderr).contains("another policy"),
        "{}",
        out.stderr
    );
    // Judged alike in policy, but not in how (which addresses): no merge either.
    let c = dir.path().join("c.json").display().to_string();
    check(&targets, &["--json-out", &c, "--addresses", "first"]);
    let out = common::run(&["merge", &a, &c]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let bad = common::run(&["check", &targets[0], "--shard", "3/3"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn a_missing_or_repeated_shard_does_not_merge() {
    let servers: Vec<TlsServer> = (0..4)
        .map(|_| TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap())
        .collect();
    let targets: Vec<String> = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    for i in 0..2 {
        let shard = format!("{i}/2");
        check(
            &targets,
            &[
                "--shard",
                &shard,
                "--json-out",
                &path(&format!("s{i}.json")),
            ],
        );
    }
    let missing = common::run(&["merge", &path("s0.json")]);
    assert_eq!(missing.code, 2);
    assert!(
        common::one_error_line(&missing.stderr).contains("shard 1/2 missing"),
        "{}",
        missing.stderr
    );
    let twice = common::run(&[
        "merge",
        &path("s0.json"),
        &path("s0.json"),
        &path("s1.json"),
    ]);
    assert_eq!(twice.code, 2);
    assert!(
        common::one_error_line(&twice.stderr).contains("are both shard 0/2"),
        "{}",
        twice.stderr
    );
    let whole = common::run(&["merge", &path("s0.json"), &path("s1.json")]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
}

#[test]
fn merge_reads_only_check_reports() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan.json");
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&["scan", &target, "--json-out", scan.to_str().unwrap(), "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = common::run(&["merge", scan.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        common::one_error_line(&out.stderr).contains("not a cipher-test check report"),
        "{}",
        out.stderr
    );
}

#[test]
fn one_server_under_several_names_is_several_targets() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list: String = (0..8)
        .map(|i| format!("127.0.0.1:{} sni=host-{i}.example\n", server.port()))
        .collect();
    let file = dir.path().join("fleet.txt");
    std::fs::write(&file, list).unwrap();
    let file = file.display().to_string();
    let mut reports = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..2 {
        let shard = format!("{i}/2");
        let (code, doc) = check(&[], &["--targets", &file, "--shard", &shard]);
        assert_eq!(code, 0, "{doc:#}");
        sizes.push(doc["targets"].as_array().unwrap().len());
        let path = dir.path().join(format!("s{i}.json"));
        std::fs::write(&path, doc.to_string()).unwrap();
        reports.push(path.display().to_string());
    }
    assert_eq!(sizes.iter().sum::<usize>(), 8);
    assert!(
        sizes.iter().all(|&n| n > 0),
        "names spread over the shards: {sizes:?}"
    );
    let out = common::run(&["merge", &reports[0], &reports[1], "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let merged: Value = serde_json::from_str(&out.stdout).unwrap();
    let labels: BTreeSet<String> = merged["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels.len(), 8);
    assert!(labels.contains(&format!("127.0.0.1:{} sni=host-3.example", server.port())));
}
