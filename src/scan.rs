//! Plans the probes for one target, runs them under a per-host concurrency bound, and gathers the
//! `ScanReport`. Owns retries, pacing and the preflight; the probe itself lives in `probe/`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::catalog::{catalog, CipherSuite, SuiteCode};
use crate::probe::openssl::OpensslProber;
use crate::probe::{Inconclusive, ProbeOutcome, Refusal};
use crate::protocol::Protocol;
use crate::target::Target;
use crate::util::human_duration;

/// The JSON schema version; it changes only when a field is removed or changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub protocols: Vec<Protocol>,
    /// Probes in flight at once against this host.
    pub concurrency: usize,
    /// Per-probe limit, TCP connect included.
    pub timeout: Duration,
    /// Pause between probe starts.
    pub delay: Duration,
    /// Extra attempts for a probe that stayed inconclusive.
    pub retries: u32,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            protocols: Protocol::ALL.to_vec(),
            concurrency: 8,
            timeout: Duration::from_secs(5),
            delay: Duration::ZERO,
            retries: 2,
            progress: false,
        }
    }
}

/// The scan could not start: the target is unreachable or does not speak TLS.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{target}: connection refused: nothing is listening there")]
    Refused { target: String },
    #[error("{target}: {why}")]
    Unreachable { target: String, why: String },
    #[error("{target} does not speak TLS: it answered a ClientHello with {answer}")]
    NotTls { target: String, answer: String },
    #[error("{target}: no TLS answer: {why}")]
    NoTlsAnswer { target: String, why: String },
    #[error("local OpenSSL error: {0}")]
    Local(String),
}

/// The status of one suite at one protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CipherStatus {
    Accepted,
    Rejected,
    Inconclusive,
    Untestable,
}

/// The status of a protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolStatus {
    Supported,
    NotSupported,
    /// No suite was accepted and some probes stayed inconclusive.
    Inconclusive,
    Untestable,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    pub host: String,
    pub port: u16,
    pub sni: Option<String>,
    pub address: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtocolResult {
    pub version: Protocol,
    pub status: ProtocolStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct CipherResult {
    pub protocol: Protocol,
    pub openssl_name: String,
    pub iana_name: String,
    pub code: SuiteCode,
    pub status: CipherStatus,
    pub reason: String,
    /// The alert description number, when the server refused with an alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<u8>,
    /// Connections used for this probe (0 when untestable).
    pub attempts: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub accepted: usize,
    pub rejected: usize,
    pub inconclusive: usize,
    pub untestable: usize,
    pub elapsed_ms: u64,
}

/// What the scanner itself is, so a report says how it was produced.
#[derive(Debug, Clone, Serialize)]
pub struct ScannerInfo {
    pub engine: &'static str,
    pub openssl: String,
}

/// Everything one scan found, in a deterministic order (protocol, then code point).
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub schema_version: u32,
    pub tool_version: &'static str,
    pub target: TargetInfo,
    pub scanner: ScannerInfo,
    pub protocols: Vec<ProtocolResult>,
    pub ciphers: Vec<CipherResult>,
    pub summary: Summary,
}

impl ScanReport {
    /// Whether any probe stayed inconclusive (the scan is then incomplete).
    pub fn has_inconclusive(&self) -> bool {
        self.summary.inconclusive > 0
    }

    /// The rows of one protocol version.
    pub fn ciphers_for(&self, p: Protocol) -> impl Iterator<Item = &CipherResult> {
        self.ciphers.iter().filter(move |c| c.protocol == p)
    }
}

fn untestable_reason(protocol: Protocol, suite: &CipherSuite, protocol_offerable: bool) -> String {
    let lib = crate::util::tls_library();
    if !protocol_offerable {
        format!("{lib} cannot offer {protocol} at all")
    } else if suite.is_srp() {
        "SRP suites need an SRP user name; the OpenSSL engine does not offer them".into()
    } else {
        format!("{lib} cannot offer this suite (compiled out or unknown to it)")
    }
}

/// Checks that the target speaks TLS before fanning out. Refused, plaintext and silent targets end the
/// scan here with one clear error instead of hundreds of inconclusive probes.
async fn preflight(prober: &OpensslProber, target: &str, retries: u32) -> Result<(), ScanError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = prober.preflight().await;
        let why = match outcome {
            ProbeOutcome::Accepted(_) | ProbeOutcome::Rejected(_) => return Ok(()),
            ProbeOutcome::Inconclusive(why) => why,
        };
        let target = target.to_string();
        let transient = matches!(why, Inconclusive::Reset | Inconclusive::Closed { .. });
        if transient && attempt <= retries {
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            continue;
        }
        return Err(match why {
            Inconclusive::ConnectRefused => ScanError::Refused { target },
            Inconclusive::ConnectFailed(why) => ScanError::Unreachable { target, why },
            Inconclusive::NotTls(answer) => ScanError::NotTls { target, answer },
            Inconclusive::Local(e) => ScanError::Local(e),
            other => ScanError::NoTlsAnswer {
                target,
                why: if attempt > 1 {
                    format!("{other} ({attempt} attempts)")
                } else {
                    other.to_string()
                },
            },
        });
    }
}

type Job = (Protocol, &'static CipherSuite);

/// Scans `target`: preflight, then one probe per (protocol, suite) the local OpenSSL can offer.
pub async fn scan(target: &Target, cfg: &ScanConfig) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    let shown = target.host_port.display();
    let prober = OpensslProber::new(target.address, target.sni.clone(), cfg.timeout)
        .map_err(|e| ScanError::Local(e.to_string()))?;
    preflight(&prober, &shown, cfg.retries).await?;
    let prober = Arc::new(prober);

    let mut rows: Vec<CipherResult> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    for &p in &cfg.protocols {
        let applicable: Vec<&'static CipherSuite> = catalog()
            .suites()
            .iter()
            .filter(|s| s.applies_to(p))
            .collect();
        let offerable: Vec<bool> = applicable.iter().map(|s| prober.can_offer(p, s)).collect();
        let any = offerable.iter().any(|&o| o);
        for (suite, ok) in applicable.into_iter().zip(offerable) {
            if ok {
                jobs.push((p, suite));
            } else {
                rows.push(row(
                    p,
                    suite,
                    CipherStatus::Untestable,
                    untestable_reason(p, suite, any),
                    None,
                    0,
                ));
            }
        }
    }

    let bar = progress_bar(jobs.len(), cfg.progress);
    let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let mut set = JoinSet::new();
    for (i, (p, suite)) in jobs.into_iter().enumerate() {
        if i > 0 && !cfg.delay.is_zero() {
            tokio::time::sleep(cfg.delay).await;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let prober = Arc::clone(&prober);
        let retries = cfg.retries;
        set.spawn(async move {
            let _permit = permit;
            let mut attempts = 0;
            loop {
                attempts += 1;
                let outcome = prober.probe(p, suite).await;
                if !outcome.is_inconclusive() || attempts > retries {
                    return (p, suite, outcome, attempts);
                }
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempts))).await;
            }
        });
        while let Some(done) = set.try_join_next() {
            rows.push(finished(done));
            bar.inc(1);
        }
    }
    while let Some(done) = set.join_next().await {
        rows.push(finished(done));
        bar.inc(1);
    }
    bar.finish_and_clear();

    rows.sort_by_key(|r| (r.protocol, r.code));
    let protocols = cfg
        .protocols
        .iter()
        .map(|&p| ProtocolResult {
            version: p,
            status: protocol_status(rows.iter().filter(|r| r.protocol == p)),
        })
        .collect();
    let count = |s: CipherStatus| rows.iter().filter(|r| r.status == s).count();
    let summary = Summary {
        accepted: count(CipherStatus::Accepted),
        rejected: count(CipherStatus::Rejected),
        inconclusive: count(CipherStatus::Inconclusive),
        untestable: count(CipherStatus::Untestable),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    Ok(ScanReport {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        target: TargetInfo {
            host: target.host_port.host.clone(),
            port: target.host_port.port,
            sni: target.sni.clone(),
            address: target.address.to_string(),
        },
        scanner: ScannerInfo {
            engine: "openssl",
            openssl: crate::util::tls_library(),
        },
        protocols,
        ciphers: rows,
        summary,
    })
}

fn row(
    protocol: Protocol,
    suite: &CipherSuite,
    status: CipherStatus,
    reason: String,
    alert: Option<u8>,
    attempts: u32,
) -> CipherResult {
    CipherResult {
        protocol,
        openssl_name: suite.openssl_name.clone(),
        iana_name: suite.iana_name.clone(),
        code: suite.code,
        status,
        reason,
        alert,
        attempts,
    }
}

fn finished(
    done: Result<(Protocol, &'static CipherSuite, ProbeOutcome, u32), tokio::task::JoinError>,
) -> CipherResult {
    let (p, suite, outcome, attempts) = match done {
        Ok(d) => d,
        // A probe task cannot panic by design; if one does, the suite is still reported, honestly.
        Err(e) => {
            return CipherResult {
                protocol: Protocol::Tls12,
                openssl_name: String::new(),
                iana_name: String::new(),
                code: SuiteCode(0),
                status: CipherStatus::Inconclusive,
                reason: format!("internal error: {e}"),
                alert: None,
                attempts: 1,
            }
        }
    };
    match outcome {
        ProbeOutcome::Accepted(a) => {
            let how = if a.hello_retry {
                "chosen by the server in a HelloRetryRequest"
            } else {
                "chosen by the server in its ServerHello"
            };
            row(p, suite, CipherStatus::Accepted, how.into(), None, attempts)
        }
        ProbeOutcome::Rejected(r) => {
            let alert = match r {
                Refusal::Alert(a) => Some(a.description),
                Refusal::OlderVersion { .. } => None,
            };
            row(
                p,
                suite,
                CipherStatus::Rejected,
                r.to_string(),
                alert,
                attempts,
            )
        }
        ProbeOutcome::Inconclusive(why) => {
            let reason = if attempts > 1 {
                format!("{why} ({attempts} attempts)")
            } else {
                why.to_string()
            };
            row(p, suite, CipherStatus::Inconclusive, reason, None, attempts)
        }
    }
}

fn protocol_status<'a>(rows: impl Iterator<Item = &'a CipherResult>) -> ProtocolStatus {
    let (mut accepted, mut rejected, mut inconclusive) = (false, false, false);
    for r in rows {
        match r.status {
            CipherStatus::Accepted => accepted = true,
            CipherStatus::Rejected => rejected = true,
            CipherStatus::Inconclusive => inconclusive = true,
            CipherStatus::Untestable => {}
        }
    }
    if accepted {
        ProtocolStatus::Supported
    } else if inconclusive {
        ProtocolStatus::Inconclusive
    } else if rejected {
        ProtocolStatus::NotSupported
    } else {
        ProtocolStatus::Untestable
    }
}

fn progress_bar(len: usize, visible: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} probing {pos}/{len} {wide_bar} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// One line for the end of a report: `1 accepted, 222 rejected, 0 inconclusive, 72 untestable in 210 ms`.
pub fn summary_line(s: &Summary) -> String {
    format!(
        "{} accepted, {} rejected, {} inconclusive, {} untestable in {}",
        s.accepted,
        s.rejected,
        s.inconclusive,
        s.untestable,
        human_duration(Duration::from_millis(s.elapsed_ms))
    )
}
