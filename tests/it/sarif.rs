//! SARIF 2.1.0 (`check --sarif`, `merge --sarif`): the log validates against the OASIS schema
//! (`scripts/fetch-sarif-schema.sh` puts it in tests/fixtures), each finding of a failed or
//! errored target is one result with its rule, its fix and the line of the file it came from, and
//! merged shards give the log of an unsharded run.
//!
//! Outside CI a missing schema file, python3 or jsonschema skips the schema check with a SKIPPED
//! line; in CI (`CI` set) it fails.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common;
use cipher_test::testing::server::{ServerConfig, TlsServer};
use serde_json::Value;

/// Validates the JSON document on stdin against the Draft 4 schema in argv[1]: prints `OK` and
/// nothing else when valid, else one line per error.
const VALIDATE: &str = r##"
import json, sys
try:
    import jsonschema
except ImportError:
    print("NO_JSONSCHEMA")
    sys.exit(0)
with open(sys.argv[1]) as f:
    schema = json.load(f)
jsonschema.Draft4Validator.check_schema(schema)
errors = list(jsonschema.Draft4Validator(schema).iter_errors(json.load(sys.stdin)))
print("OK" if not errors else "INVALID")
for e in errors:
    print("/".join(str(p) for p in e.absolute_path), e.message.replace("\n", " "))
"##;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif-schema-2.1.0.json")
}

/// The schema errors of `doc` (empty: valid); `None` when the schema or validator is missing
/// outside CI.
fn schema_errors(doc: &Value) -> Option<Vec<String>> {
    let skip = |why: &str| {
        common::unavailable(why, "scripts/fetch-sarif-schema.sh; pip install jsonschema")
    };
    if !schema_path().exists() {
        return skip("no SARIF schema in tests/fixtures");
    }
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
        Err(e) => return skip(&format!("cannot run python3: {e}")),
    };
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "validator failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    match lines.next() {
        Some("OK") => Some(Vec::new()),
        Some("INVALID") => Some(lines.map(str::to_string).collect()),
        Some("NO_JSONSCHEMA") => skip("python3 has no jsonschema module"),
        other => panic!("unexpected validator output {other:?}"),
    }
}

/// Runs the binary in `dir`, so the input paths it is given stay relative.
fn run_in(dir: &Path, args: &[&str]) -> common::Output {
    let mut command = Command::new(common::cipher_test_bin());
    command.args(args).current_dir(dir);
    common::run_command(command)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// (ruleId, level, uri, startLine, message) of every result.
type Row = (String, String, Option<String>, Option<u64>, String);

fn results(sarif: &Value) -> BTreeSet<Row> {
    sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let phys = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["level"].as_str().unwrap().to_string(),
                phys["artifactLocation"]["uri"].as_str().map(str::to_string),
                phys["region"]["startLine"].as_u64(),
                r["message"]["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every result names a described rule at its index, and every rule has help.
fn assert_rules_described(sarif: &Value) {
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for rule in rules {
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty(), "{rule}");
    }
    for r in sarif["runs"][0]["results"].as_array().unwrap() {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"], "{r}");
    }
}

fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

#[test]
fn a_targets_file_gives_one_located_result_per_finding() {
    let good = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let legacy = TlsServer::start(ServerConfig::tls12_only("AES256-SHA")).unwrap();
    let closed = common::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let list = format!(
        "# the fleet\n127.0.0.1:{}\n\n127.0.0.1:{}   # legacy\n127.0.0.1:{closed}\n",
        good.port(),
        legacy.port()
    );
    std::fs::write(dir.path().join("fleet.txt"), &list).unwrap();
    let out = run_in(
        dir.path(),
        &[
            "check",
            "--targets",
            "fleet.txt",
            "--envoy-bin",
            "off",
            "--sarif",
            "out.sarif",
        ],
    );
    assert_eq!(
        out.code, 2,
        "an unreachable target is an error: {}",
        out.stderr
    );
    let sarif = read_json(&dir.path().join("out.sarif"));
    assert_eq!(sarif["version"], "2.1.0");
    if let Some(errors) = schema_errors(&sarif) {
        assert!(errors.is_empty(), "{errors:#?}");
    }
    assert_rules_described(&sarif);
    let rows = results(&sarif);
    let located: BTreeSet<(String, String, Option<u64>)> = rows
        .iter()
        .map(|(rule, level, uri, line, _)| {
            assert_eq!(uri.as_deref(), Some("fleet.txt"));
            (rule.clone(), level.clone(), *line)
        })
        .collect();
    let legacy_line = line_of(&list, "# legacy");
    let closed_line = line_of(&list, &format!(":{closed}"));
    assert_eq!(
        located,
        BTreeSet::from([
            (
                "cipher-test/no_shared_cipher".to_string(),
                "error".to_string(),
                Some(legacy_line)
            ),
            (
                "cipher-test/scan_failed".to_string(),
                "warning".to_string(),
                Some(closed_line)
            ),
        ]),
        "the passing target has no result: {rows:#?}"
    );
    let fix = rows
        .iter()
        .find(|r| r.0 == "cipher-test/no_shared_cipher")
        .unwrap();
    assert!(
        fix.4.contains("fix: "),
        "the message holds the fix: {}",
        fix.4
    );
    assert!(fix.4.contains("AES256-SHA"), "{}", fix.4);
}

#[test]
fn an_upstream_result_points_at_its_first_line() {
    let legacy = TlsServer::start(ServerConfig::tls12_only("AES256-SHA")).unwrap();
    let good = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let upstream = |name: &str, port: u16| {
        format!(
            "- apiVersion: gloo.solo.io/v1\n  kind: Upstream\n  metadata:\n    name: {name}\n    \
             namespace: gloo-system\n  spec:\n    sslConfig: {{}}\n    static:\n      hosts:\n      \
             - addr: 127.0.0.1\n        port: {port}\n"
        )
    };
    let yaml = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}{}",
        upstream("fine", good.port()),
        upstream("legacy", legacy.port())
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("upstreams.yaml"), &yaml).unwrap();
    let out = run_in(
        dir.path(),
        &[
            "check",
            "--upstreams",
            "upstreams.yaml",
            "--envoy-bin",
            "off",
            "--sarif",
            "out.sarif",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let sarif = read_json(&dir.path().join("out.sarif"));
    if let Some(errors) = schema_errors(&sarif) {
        assert!(errors.is_empty(), "{errors:#?}");
    }
    let rows: Vec<Row> = results(&sarif).into_iter().collect();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let start = line_of(&yaml, "name: legacy") - 3;
    assert!(yaml
        .lines()
        .nth(start as usize - 1)
        .unwrap()
        .starts_with("- apiVersion"));
    assert_eq!(rows[0].0, "cipher-test/no_shared_cipher");
    assert_eq!(rows[0].2.as_deref(), Some("upstreams.yaml"));
    assert_eq!(rows[0].3, Some(start));
    assert!(
        rows[0].4.starts_with("gloo-system/legacy "),
        "{}",
        rows[0].4
    );
}

#[test]
fn merged_shards_give_the_unsharded_log() {
    let servers: Vec<TlsServer> = ["ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA", "AES256-SHA"]
        .iter()
        .cycle()
        .take(6)
        .map(|c| TlsServer::start(ServerConfig::tls12_only(c)).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let list: String = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}\n", s.port()))
        .collect();
    std::fs::write(dir.path().join("fleet.txt"), list).unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--targets", "fleet.txt", "--envoy-bin", "off"];
        args.extend_from_slice(extra);
        run_in(dir.path(), &args)
    };
    assert_eq!(check(&["--sarif", "whole.sarif"]).code, 1);
    for i in 0..2 {
        let shard = format!("{i}/2");
        let json = format!("shard-{i}.json");
        check(&["--shard", &shard, "--json-out", &json]);
    }
    let merged = run_in(
        dir.path(),
        &[
            "merge",
            "shard-0.json",
            "shard-1.json",
            "--sarif",
            "merged.sarif",
        ],
    );
    assert_eq!(merged.code, 1, "{}", merged.stderr);
    let whole = read_json(&dir.path().join("whole.sarif"));
    let joined = read_json(&dir.path().join("merged.sarif"));
    assert_eq!(results(&whole).len(), 4, "four targets need a patch");
    assert_eq!(results(&joined), results(&whole));
}

#[test]
fn the_schema_check_is_not_vacuous() {
    let mut doc = serde_json::json!({
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "cipher-test"}}, "results": [
            {"ruleId": "cipher-test/x", "message": {"text": "m"},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.txt"}, "region": {"startLine": 1}}}]}
        ]}]
    });
    let Some(errors) = schema_errors(&doc) else {
        return;
    };
    assert!(errors.is_empty(), "{errors:#?}");
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        0.into();
    doc["runs"][0]["results"][0]["level"] = "fatal".into();
    let errors = schema_errors(&doc).unwrap();
    assert!(
        errors.iter().any(|e| e.contains("startLine"))
            && errors.iter().any(|e| e.contains("level")),
        "{errors:#?}"
    );
}
