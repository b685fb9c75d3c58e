//! `cipher-test scan`: resolve one target, scan it, let a real Envoy judge when asked, and print the
//! report. `check`, `remediate` and `demo` scan their targets through here too.

use std::net::SocketAddr;

use super::{stdout_error, CmdError, Status};
use crate::envoy::real::RealEnvoyError;
use crate::output::{print, print_json, write_json_file, Output};
use crate::render::color::Painter;
use crate::render::{table, Format};
use crate::scan::{self, ScanConfig, ScanError, ScanReport};
use crate::target::{effective_sni, resolve, HostPort, SniChoice, Target};

/// Why one target could not be scanned (or judged by the real Envoy).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The host name did not resolve.
    #[error("{0}")]
    Resolve(String),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    RealEnvoy(#[from] RealEnvoyError),
}

impl From<TargetError> for CmdError {
    fn from(e: TargetError) -> Self {
        CmdError(e.to_string())
    }
}

/// Resolves and scans one target.
pub async fn scan_target(
    hp: &HostPort,
    sni: &SniChoice,
    config: &ScanConfig,
) -> Result<ScanReport, TargetError> {
    scan_target_at(hp, sni, config, None).await
}

/// Scans one target, connecting to `address` instead of resolving the host when given (`--resolve`),
/// and has the real Envoy of the request (if any) judge the verdict.
pub async fn scan_target_at(
    hp: &HostPort,
    sni: &SniChoice,
    config: &ScanConfig,
    address: Option<SocketAddr>,
) -> Result<ScanReport, TargetError> {
    let address = match address {
        Some(a) => a,
        None => resolve(hp)
            .await
            .map_err(|e| TargetError::Resolve(e.to_string()))?,
    };
    let target = Target {
        host_port: hp.clone(),
        sni: effective_sni(hp, sni),
        address,
    };
    let mut report = scan::scan(&target, config).await?;
    if let Some(req) = &config.envoy {
        if let Some(bin) = &req.real {
            let mut items = [(&mut report, req)];
            scan::real::confirm(&mut items, bin, config.timeout * 2).await?;
        }
    }
    Ok(report)
}

/// Prints `report` in the chosen format; an inconclusive probe or a contradicting real Envoy make
/// the scan incomplete.
pub fn emit(report: &ScanReport, output: Output) -> Result<Status, CmdError> {
    // The file first: a run whose report file cannot be written prints nothing.
    if let Some(path) = &output.json_out {
        write_json_file(path, report).map_err(|e| super::file_error(path, e))?;
    }
    match output.format {
        Format::Json => print_json(report),
        Format::Table => print(&table::render_with(
            report,
            output.rows,
            Painter::new(output.color),
        )),
    }
    .map_err(stdout_error)?;
    Ok(if report.has_inconclusive() || report.real_disagrees() {
        Status::Incomplete
    } else {
        Status::Ok
    })
}

/// `cipher-test scan`.
pub async fn run(
    target: &HostPort,
    sni: &SniChoice,
    config: &ScanConfig,
    output: Output,
) -> Result<Status, CmdError> {
    let report = scan_target(target, sni, config).await?;
    emit(&report, output)
}
