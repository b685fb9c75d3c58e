//! Plans the probes for one target, runs them under a per-host concurrency bound, and gathers the
//! `ScanReport`. Owns retries, pacing and the preflight; the probe itself lives in `probe/`.

mod certs;
pub mod eliminate;
mod judge;
pub mod real;
mod report;
mod suites;

use certs::*;
use judge::*;
pub use report::*;
use suites::*;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::cert::TrustAnchors;
use crate::envoy::real::EnvoyBinary;
use crate::envoy::view::UpstreamView;
use crate::envoy::{self};
use crate::probe::gate::Gate;
use crate::probe::handshake::ClientCertificate;
use crate::probe::openssl::OpensslProber;
use crate::probe::raw::RawProber;
use crate::target::Target;
use crate::tls::catalog::{catalog, CipherSuite};
use crate::tls::protocol::Protocol;
use crate::util::human_duration;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub protocols: Vec<Protocol>,
    /// Connections open at once to this host.
    pub concurrency: usize,
    /// New connections to this host in any one second, at most.
    pub max_rate: usize,
    /// Per-probe limit, TCP connect included.
    pub timeout: Duration,
    /// Pause between probe starts.
    pub delay: Duration,
    /// Extra attempts for a probe that stayed inconclusive.
    pub retries: u32,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Judge the upstream as this Envoy client would see it (`None`: no Envoy analysis).
    pub envoy: Option<EnvoyRequest>,
    /// Check the certificate chain and client authentication (`None`: skip).
    pub certs: Option<CertConfig>,
    /// A bound on connections shared by every target of a run (`check`), on top of `concurrency`.
    pub global_permits: Option<Arc<Semaphore>>,
    /// Which engine builds the ClientHellos.
    pub engine: EngineChoice,
    /// One probe per suite, or elimination (offer everything, remove the server's choice, repeat).
    pub method: Method,
    /// After this long, probes whose connections the server dropped are not sent again (`None`:
    /// no bound but the retries').
    pub budget: Option<Duration>,
}

/// How suites are enumerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Elimination with the rest split into parts asked concurrently (few round trips), falling back to
    /// one probe per suite for a version whose server misbehaves; per-suite with `--engine openssl`.
    Auto,
    /// One connection per (version, suite): the exhaustive mode.
    PerSuite,
    /// Raw ClientHellos offering every remaining suite (in chunks), accepted + 1 hellos per chunk in
    /// sequence (the fewest hellos); falls back to per-suite probing for a version whose server
    /// misbehaves.
    Elimination,
}

/// Which probe engine offers each suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// The local OpenSSL where it can offer the suite, the raw ClientHello engine for the rest.
    Auto,
    /// The local OpenSSL only: suites it cannot offer are untestable.
    Openssl,
    /// The raw ClientHello engine for every suite.
    Raw,
}

/// How to judge certificates.
#[derive(Debug, Clone)]
pub struct CertConfig {
    /// The system store, or exactly the CAs of `--ca-file` (as Gloo's `rootCa`).
    pub anchors: TrustAnchors,
    /// Warn when a certificate expires within this many days.
    pub warn_days: u32,
    /// A client certificate to present in an mTLS check (`--cert`/`--key`).
    pub client_certificate: Option<ClientCertificate>,
}

impl Default for CertConfig {
    fn default() -> Self {
        CertConfig {
            anchors: TrustAnchors::System,
            warn_days: 30,
            client_certificate: None,
        }
    }
}

/// Which Envoy to judge the upstream against: Envoy's view of the Upstream, and the patch policy.
#[derive(Debug, Clone)]
pub struct EnvoyRequest {
    pub view: UpstreamView,
    /// Append every configurable accepted suite to a patch, not only the strongest.
    pub add_all: bool,
    /// A real Envoy to confirm the verdict with (`None`: the simulation alone).
    pub real: Option<EnvoyBinary>,
    /// The SNI Envoy sends was chosen on the command line (`--envoy-sni`, `--upstream-kind`), so a
    /// manifest does not override it.
    pub sni_chosen: bool,
}

impl EnvoyRequest {
    /// Envoy's current defaults, as a Kubernetes Upstream without `sslConfig.sni` (no SNI).
    pub fn current() -> Self {
        EnvoyRequest {
            view: UpstreamView::new(
                envoy::profile("current").expect("the current profile is embedded"),
            ),
            add_all: false,
            real: None,
            sni_chosen: false,
        }
    }
}

/// `--budget`'s default: long enough for a server that takes a few connections a second.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(180);

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            protocols: Protocol::ALL.to_vec(),
            concurrency: 16,
            max_rate: 200,
            timeout: Duration::from_secs(5),
            delay: Duration::ZERO,
            retries: 2,
            progress: false,
            envoy: Some(EnvoyRequest::current()),
            certs: Some(CertConfig::default()),
            global_permits: None,
            engine: EngineChoice::Auto,
            method: Method::Auto,
            budget: Some(DEFAULT_BUDGET),
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
    #[error("{target} refused the ClientHello with alert unrecognized_name (112): it wants an SNI name it serves ({sent}); pass --sni NAME")]
    SniRequired { target: String, sent: String },
    #[error("local OpenSSL error: {0}")]
    Local(String),
}

/// Scans `target`: the preflight, and beside it the suites of every version (elimination or one
/// probe per suite, then the groups and the server's order); once the preflight has its answer, at
/// once the certificate and a handshake as the Envoy client; last the Envoy verdict with the
/// handshake that verifies its patch. A failed preflight ends the scan with its error.
pub async fn scan(target: &Target, cfg: &ScanConfig) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    let shown = target.host_port.display();
    // The preflight's connection opens first; the shared client context (built once per process) is
    // made meanwhile.
    let opening = tokio::spawn(crate::probe::connect(
        target.address,
        tokio::time::Instant::from_std(started) + cfg.timeout,
        cfg.timeout,
    ));
    let prober = match OpensslProber::new(target.address, target.sni.clone(), cfg.timeout) {
        Ok(prober) => prober,
        Err(e) => {
            opening.abort();
            return Err(ScanError::Local(e.to_string()));
        }
    };
    let prober = Arc::new(prober);
    let raw = Arc::new(RawProber::new(
        target.address,
        target.sni.clone(),
        cfg.timeout,
    ));

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
            match (cfg.engine, ok) {
                (EngineChoice::Raw, _) | (EngineChoice::Auto, false) => {
                    jobs.push((p, suite, Engine::Raw))
                }
                (_, true) => jobs.push((p, suite, Engine::Openssl)),
                (EngineChoice::Openssl, false) => {
                    let reason = untestable_reason(p, suite, any);
                    rows.push(row(p, suite, CipherStatus::Untestable, reason, None, 0));
                }
            }
        }
    }

    // Every connection from here to the verdict passes one gate: --concurrency, --max-rate,
    // --delay, and the run-wide bound of `check`.
    let gate = Arc::new(
        Gate::new(cfg.concurrency, cfg.global_permits.clone(), cfg.delay)
            .with_max_rate(cfg.max_rate)
            .with_budget(cfg.budget),
    );
    let side = match &cfg.envoy {
        Some(req) => Some(EnvoySide::new(target, cfg, req, &prober)?),
        None => None,
    };
    let bar = progress_bar(jobs.len(), cfg.progress);
    // The preflight's round trip is also the first of the suites': their first hellos go out
    // beside it (the gate counts it among the connections in flight), and elimination reads
    // their answers once the preflight has its own.
    let (tell, told) = tokio::sync::watch::channel(None);
    let pending = PendingReply(told);
    let checked = async {
        let opened = (opening, started);
        let reply = preflight(
            &prober,
            &shown,
            target.sni.as_deref(),
            cfg.retries,
            opened,
            &gate,
        );
        let reply = reply.await?;
        tell.send_replace(Some(reply));
        Ok::<_, ScanError>(())
    };
    let suites = enumerate(&prober, &raw, &gate, cfg, jobs, pending.clone(), &bar);
    let envoy_handshake = async {
        pending.get().await;
        match (&cfg.envoy, &side) {
            (Some(req), Some(side)) => Some(first_look(side, &gate, req).await),
            _ => None,
        }
    };
    let certificates = async {
        pending.get().await;
        match &cfg.certs {
            // One connection at a time (with --cert/--key, a second after the first).
            Some(c) => inspect_certificates(&prober, &gate, target, c).await,
            None => (None, None, Vec::new()),
        }
    };
    let without_sni = async {
        pending.get().await;
        match &target.sni {
            Some(name) => Some(handshake_without_sni(&gate, target, cfg, name).await),
            None => None,
        }
    };
    // The verdict needs the suites and Envoy's handshake, not the certificate check: it starts
    // as soon as they are in.
    let verdict = async {
        let (mut found, first) = tokio::join!(suites, envoy_handshake);
        rows.append(&mut found.rows);
        rows.sort_by_key(|r| (r.protocol, r.code));
        let judged = match (&cfg.envoy, &side, first) {
            (Some(req), Some(side), Some(first)) => {
                let (e, r) = judge(side, &gate, &prober, req, &rows, &found.groups, first).await;
                (Some(e), r)
            }
            _ => (None, None),
        };
        (found, rows, judged)
    };
    let scanned = async { Ok(tokio::join!(verdict, certificates, without_sni)) };
    let joined = tokio::try_join!(checked, scanned);
    bar.finish_and_clear();
    let (
        _,
        ((found, rows, (envoy, remediation)), (certificate, client_auth, findings), without_sni),
    ) = joined?;
    let mut network = found.network;
    let groups = found.groups;
    let sni = without_sni.map(|w| w.report(certificate.as_ref()));

    let protocols = cfg
        .protocols
        .iter()
        .map(|&p| ProtocolResult {
            version: p,
            status: protocol_status(rows.iter().filter(|r| r.protocol == p)),
        })
        .collect();
    suites::add_gate_stats(&mut network, gate.stats());
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
            engine: match cfg.engine {
                EngineChoice::Auto => "openssl+raw",
                EngineChoice::Openssl => "openssl",
                EngineChoice::Raw => "raw",
            },
            openssl: crate::util::tls_library(),
        },
        protocols,
        ciphers: rows,
        groups,
        envoy,
        remediation,
        certificate,
        client_auth,
        sni,
        findings,
        network,
        enumeration: found.enumeration,
        server_preference: found.server_preference,
        summary,
        ciphers_omitted: 0,
    })
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
