//! A gate result as a SARIF 2.1.0 log, for GitHub and GitLab code scanning: one result per finding
//! of each failed or errored target, with the rule it breaks (`cipher-test/RULE`), its fix in the
//! message, and the line of the input file the target came from.

use serde_json::{json, Value};

use super::check::{CheckReport, Outcome, Source, TargetResult};
use super::rule::Rule;

/// The log: one run, every rule described, one result per finding.
pub fn render<R>(report: &CheckReport<R>) -> Value {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|rule| {
            json!({
                "id": rule_id(*rule),
                "name": rule.name(),
                "shortDescription": { "text": rule.summary() },
                "fullDescription": { "text": format!("{}. {}", rule.summary(), rule.help()) },
                "help": { "text": rule.help() },
                "defaultConfiguration": { "level": rule.level() },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .targets
        .iter()
        .filter(|t| t.result != Outcome::Pass)
        .flat_map(|t| {
            // A rule a target breaks twice (two forbidden classes) gets two fingerprints.
            let mut seen: Vec<Rule> = Vec::new();
            t.findings
                .iter()
                .map(|(rule, reason)| {
                    let nth = seen.iter().filter(|r| **r == rule).count();
                    seen.push(rule);
                    result(t, rule, reason, nth)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "cipher-test",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn rule_id(rule: Rule) -> String {
    format!("cipher-test/{}", rule.name())
}

fn result<R>(target: &TargetResult<R>, rule: Rule, reason: &str, nth: usize) -> Value {
    let mut location = json!({
        "logicalLocations": [{
            "name": target.target,
            "fullyQualifiedName": target.target,
            "kind": "resource",
        }]
    });
    if let Some(physical) = target.source.as_ref().and_then(physical_location) {
        location["physicalLocation"] = physical;
    }
    // Stable across runs and line moves: GitHub keeps one alert per target, rule and occurrence.
    let fingerprint =
        crate::util::stable_hash(format!("{}\n{}\n{nth}", target.target, rule.name()).as_bytes());
    json!({
        "ruleId": rule_id(rule),
        "ruleIndex": rule.index(),
        "level": rule.level(),
        "message": { "text": format!("{}: {reason}", target.target) },
        "locations": [location],
        "partialFingerprints": { "cipherTestTarget/v1": format!("{fingerprint:016x}") },
        "properties": { "target": target.target, "result": target.result },
    })
}

/// A file and line, when the target came from a file (not standard input).
fn physical_location(source: &Source) -> Option<Value> {
    if source.file == "-" {
        return None;
    }
    Some(json!({
        "artifactLocation": { "uri": file_uri(&source.file) },
        "region": { "startLine": source.line },
    }))
}

/// A path as a URI reference: relative paths stay relative (code scanning resolves them against
/// the repository root), absolute ones become `file://` URIs; characters a URI cannot hold are
/// percent-encoded.
fn file_uri(path: &str) -> String {
    let segments: Vec<String> = path.split('/').map(crate::util::percent_encode).collect();
    let joined = segments.join("/");
    if path.starts_with('/') {
        format!("file://{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(file_uri("deploy/up.yaml"), "deploy/up.yaml");
        assert_eq!(file_uri("/srv/my fleet.txt"), "file:///srv/my%20fleet.txt");
        assert_eq!(file_uri("a#b"), "a%23b");
    }
}
