//! `cipher-test merge`: joins the JSON reports of `check --shard` runs into the one gate result an
//! unsharded run would give (table or JSON, JUnit, exit code). Reads reports; connects to nothing.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::check::{render_junit, render_table, CheckReport, CheckSummary, Policy, TargetResult};
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
    pub junit: Option<std::path::PathBuf>,
    pub json_out: Option<std::path::PathBuf>,
}

/// A `check` report as read back from its JSON.
#[derive(Debug, Deserialize)]
struct Stored {
    kind: String,
    policy: Policy,
    targets: Vec<TargetResult<Value>>,
    summary: CheckSummary,
}

/// The reports joined: every target once, the shards' policy, the longest shard's time.
pub fn join(reports: &[(String, String)]) -> Result<CheckReport<Value>, CmdError> {
    let mut policy: Option<(String, Policy)> = None;
    let mut targets: Vec<TargetResult<Value>> = Vec::new();
    let mut elapsed = 0;
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
        targets.extend(stored.targets);
    }
    let Some((_, policy)) = policy else {
        return Err("no report to merge".into());
    };
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
    if let Some(path) = &req.junit {
        crate::output::write_file_atomically(path, |out| {
            std::io::Write::write_all(out, render_junit(&report).as_bytes())
        })
        .map_err(|e| CmdError(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(path) = &req.json_out {
        crate::output::write_json_file(path, &report)
            .map_err(|e| CmdError(format!("cannot write {}: {e}", path.display())))?;
    }
    if req.json {
        crate::output::print_json(&report)
    } else {
        crate::output::print(&crate::render::color::check_table(
            &render_table(&report),
            crate::render::color::Painter::new(req.color),
        ))
    }
    .map_err(stdout_error)?;
    Ok(report.status())
}
