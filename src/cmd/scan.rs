//! `cipher-test scan`: resolve one target, scan it (or each of its addresses), let a real Envoy
//! judge when asked, and print the report. `check`, `remediate` and `demo` scan their targets
//! through here too.

use std::net::SocketAddr;

use super::{stdout_error, CmdError, Status};
use crate::envoy::real::RealEnvoyError;
use crate::output::{print, print_json, write_json_file, Output};
use crate::render::color::Painter;
use crate::render::{table, Format};
use crate::scan::{self, differences, ScanConfig, ScanError, ScanReport, SCHEMA_VERSION};
use crate::target::{effective_sni, resolve, resolve_all, HostPort, SniChoice, Target};

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

/// Which addresses of the target's name `scan` scans.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    /// Every address (`--addresses all`), not only the first.
    pub every: bool,
    /// The name's addresses from `--resolve`, instead of DNS.
    pub given: Vec<SocketAddr>,
}

/// `cipher-test scan`: one report, or one per address with `--addresses all` when the name has
/// several.
pub async fn run(
    target: &HostPort,
    sni: &SniChoice,
    config: &ScanConfig,
    addresses: &Addresses,
    output: Output,
) -> Result<Status, CmdError> {
    let mut addrs = if !addresses.given.is_empty() {
        addresses.given.clone()
    } else if addresses.every {
        resolve_all(target)
            .await
            .map_err(|e| TargetError::Resolve(e.to_string()))?
    } else {
        Vec::new()
    };
    if !addresses.every {
        addrs.truncate(1);
    }
    if addrs.len() <= 1 {
        let report = scan_target_at(target, sni, config, addrs.first().copied()).await?;
        return emit(&report, output);
    }
    // One address after another: each scan already keeps --concurrency connections to the host.
    let mut scanned = Vec::new();
    for addr in &addrs {
        scanned.push((
            *addr,
            scan_target_at(target, sni, config, Some(*addr)).await,
        ));
    }
    // An address that cannot be scanned is part of the answer, unless none can be.
    if scanned.iter().all(|(_, r)| r.is_err()) {
        if let (_, Err(e)) = scanned.swap_remove(0) {
            return Err(e.into());
        }
    }
    emit_addresses(target, scanned, output)
}

/// The `scan --addresses all` document for a name with several addresses.
#[derive(Debug, serde::Serialize)]
pub struct AddressesReport {
    pub schema_version: u32,
    pub tool_version: &'static str,
    pub kind: &'static str,
    /// `HOST:PORT` as given.
    pub target: String,
    /// Every address serves the same accepted suites, certificate and verdict.
    pub agree: bool,
    /// What differs when they do not.
    pub differ: Vec<&'static str>,
    /// One scan report per address that could be scanned, in the resolver's order.
    pub reports: Vec<ScanReport>,
    /// The addresses that could not be scanned, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unscanned: Vec<Unscanned>,
}

/// An address of the name that could not be scanned.
#[derive(Debug, serde::Serialize)]
pub struct Unscanned {
    pub address: String,
    pub error: String,
}

impl AddressesReport {
    /// One line: whether the addresses agree, and what Envoy makes of it when they do not.
    pub fn summary(&self) -> String {
        let n = self.reports.len() + self.unscanned.len();
        if self.agree {
            format!("The {n} addresses of {} serve alike.", self.target)
        } else {
            format!(
                "The {n} addresses of {} disagree ({}): a mixed fleet behind one name, and Envoy \
                 may connect to any of them; make them serve alike.",
                self.target,
                self.differ.join(", ")
            )
        }
    }
}

/// Prints one report per address and whether they agree; any incomplete report makes the run
/// incomplete.
fn emit_addresses(
    target: &HostPort,
    scanned: Vec<(SocketAddr, Result<ScanReport, TargetError>)>,
    output: Output,
) -> Result<Status, CmdError> {
    let differ = differences(
        &scanned
            .iter()
            .map(|(_, r)| r.as_ref().ok())
            .collect::<Vec<_>>(),
    );
    let mut reports = Vec::new();
    let mut unscanned = Vec::new();
    for (addr, result) in scanned {
        match result {
            Ok(r) => reports.push(r),
            Err(e) => unscanned.push(Unscanned {
                address: addr.to_string(),
                error: e.to_string(),
            }),
        }
    }
    let doc = AddressesReport {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        kind: "addresses",
        target: target.display(),
        agree: differ.is_empty(),
        differ,
        reports,
        unscanned,
    };
    if let Some(path) = &output.json_out {
        write_json_file(path, &doc).map_err(|e| super::file_error(path, e))?;
    }
    match output.format {
        Format::Json => print_json(&doc),
        Format::Table => {
            let painter = Painter::new(output.color);
            let mut text = String::new();
            for report in &doc.reports {
                text.push_str(&table::render_with(report, output.rows, painter));
                text.push('\n');
            }
            for u in &doc.unscanned {
                text.push_str(&format!(
                    "Address {} could not be scanned: {}\n",
                    u.address, u.error
                ));
            }
            text.push_str(&doc.summary());
            text.push('\n');
            print(&text)
        }
    }
    .map_err(stdout_error)?;
    let incomplete = !doc.unscanned.is_empty()
        || doc
            .reports
            .iter()
            .any(|r| r.has_inconclusive() || r.real_disagrees());
    Ok(if incomplete {
        Status::Incomplete
    } else {
        Status::Ok
    })
}
