//! `cipher-test merge`: joins the JSON reports of `check --shard` runs into the one gate result an
//! unsharded run would give (table or JSON, JUnit, exit code). Reads reports; connects to nothing.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::check::{
    coloured_table, CheckReport, CheckSummary, Policy, ReportFiles, Shard, TargetResult,
};
use super::{stdout_error, CmdError, Status};

/// A validated `merge` request.
#[derive(Debug)]
pub struct MergeRequest {
    /// Each report's name (a path, or `-`) and text.
    pub reports: Vec<(String, String)>,
    /// JSON on stdout instead of the table.
    pub json: bool,
    /// Colour the table.
    pub color: bool,
    pub files: ReportFiles,
}

/// A `check` report as read back from its JSON.
#[derive(Debug, Deserialize)]
struct Stored {
    kind: String,
    policy: Policy,
    #[serde(default)]
    shard: Option<Shard>,
    targets: Vec<TargetResult<Value>>,
    summary: CheckSummary,
}

/// The reports joined: every target once, the shards' policy, the longest shard's time.
pub fn join(reports: &[(String, String)]) -> Result<CheckReport<Value>, CmdError> {
    let mut policy: Option<(String, Policy)> = None;
    let mut targets: Vec<TargetResult<Value>> = Vec::new();
    let mut elapsed = 0;
    let mut shards: Vec<(String, Option<Shard>)> = Vec::new();
    for (name, text) in reports {
        let stored: Stored = serde_json::from_str(text)
            .map_err(|e| CmdError(format!("{name}: not a cipher-test check report ({e})")))?;
        if stored.kind != "check" {
            return Err(CmdError(format!(
                "{name}: a '{}' report, not a check report",
                stored.kind
            )));
        }
        match &policy {
            Some((first, p)) if *p != stored.policy => {
                return Err(CmdError(format!(
                    "{name} was judged against another policy than {first}; merge shards of one run"
                )))
            }
            Some(_) => {}
            None => policy = Some((name.clone(), stored.policy)),
        }
        elapsed = elapsed.max(stored.summary.elapsed_ms);
        shards.push((name.clone(), stored.shard));
        targets.extend(stored.targets);
    }
    let Some((_, policy)) = policy else {
        return Err("no report to merge".into());
    };
    check_shards(&shards)?;
    // A target twice means a shard (or a whole run) was given twice.
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = targets.iter().find(|t| !seen.insert(t.target.clone())) {
        return Err(CmdError(format!(
            "{} is in more than one report: give each shard's report once",
            twice.target
        )));
    }
    // The shards ran in parallel, so the merged run took as long as the longest one; the targets
    // come in label order (an unsharded run keeps its input order, which shards cannot know).
    targets.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(CheckReport::new(
        policy,
        targets,
        Duration::from_millis(elapsed),
    ))
}

/// Joins, writes the files, prints the result.
pub fn run(req: MergeRequest) -> Result<Status, CmdError> {
    let report = join(&req.reports)?;
    req.files.write(&report)?;
    if req.json {
        crate::output::print_json(&report)
    } else {
        crate::output::print(&coloured_table(&report, req.color))
    }
    .map_err(stdout_error)?;
    Ok(report.status())
}

/// Shard reports must be every share of one split, each once: a missing shard would pass its
/// targets by omission.
fn check_shards(shards: &[(String, Option<Shard>)]) -> Result<(), CmdError> {
    let sharded: Vec<&(String, Option<Shard>)> =
        shards.iter().filter(|(_, s)| s.is_some()).collect();
    if sharded.is_empty() {
        return Ok(());
    }
    if sharded.len() != shards.len() {
        return Err(
            "some reports are shards and some are whole runs: merge the shards of one run".into(),
        );
    }
    let count = sharded[0].1.map(|s| s.count).unwrap_or(0);
    let mut found = vec![None; count];
    for (name, shard) in &sharded {
        let Some(shard) = shard else { continue };
        if shard.count != count {
            return Err(CmdError(format!(
                "{name} is shard {}/{} of another split than {}/{count}",
                shard.index,
                shard.count,
                sharded[0].1.map(|s| s.index).unwrap_or(0)
            )));
        }
        if let Some(first) = found[shard.index].replace(name.clone()) {
            return Err(CmdError(format!(
                "{first} and {name} are both shard {}/{count}",
                shard.index
            )));
        }
    }
    let missing: Vec<String> = found
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(CmdError(format!(
            "shard {} missing: its targets would pass by omission; give every shard's report",
            missing.join(", ")
        )));
    }
    Ok(())
}
