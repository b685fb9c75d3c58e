//! One module per command. Each runs its request and returns how it ended ([`Status`]) or why it
//! could not ([`CmdError`]); none reaches back to `app` or `cli`, and only `app` turns either into
//! an exit code and an error line.

pub mod check;
pub mod demo;
pub mod explain;
pub mod merge;
pub mod remediate;
pub mod rule;
pub mod sarif;
pub mod scan;
pub mod secret;

/// How a command that did its job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done; nothing to report against the upstream (or the report is complete).
    Ok,
    /// Done, and the result is a finding: `check` failed a target, `remediate` found no Envoy
    /// setting that works, `secret` found an error.
    Findings,
    /// Done, but the answer is incomplete or contradicted: a probe stayed inconclusive, or a real
    /// Envoy disagreed with the simulation.
    Incomplete,
}

/// Why a command could not do its job, in one line for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CmdError(pub String);

impl From<String> for CmdError {
    fn from(s: String) -> Self {
        CmdError(s)
    }
}

impl From<&str> for CmdError {
    fn from(s: &str) -> Self {
        CmdError(s.to_string())
    }
}

/// A report file that could not be written, as a command error.
pub fn file_error(path: &std::path::Path, e: std::io::Error) -> CmdError {
    CmdError(format!("cannot write {}: {e}", path.display()))
}

/// A failed write to stdout, as a command error.
pub fn stdout_error(e: std::io::Error) -> CmdError {
    CmdError(format!("cannot write to stdout: {e}"))
}
