//! Plans the probes for one target, runs them under a per-host concurrency bound, and gathers the
//! `ScanReport`. Owns retries, pacing and the preflight; the probe itself lives in `probe/`.

pub mod eliminate;
pub mod real;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cert::{self, CertCheck, CertificateReport, Finding, Severity, TrustAnchors};
use crate::envoy::real::{EnvoyBin, EnvoyBinary};
use crate::envoy::verdict::{self, Observed, Problem, ProblemKind, Verdict};
use crate::envoy::view::{RootCa, UpstreamView};
use crate::envoy::{self, EnvoyClient, TlsParams};
use crate::probe::gate::Gate;
use crate::probe::handshake::{ClientCertificate, Simulation};
use crate::probe::openssl::{Group, Negotiated, OpensslProber, GROUPS};
use crate::probe::raw::RawProber;
use crate::probe::{Inconclusive, ProbeOutcome, Refusal};
use crate::scan::eliminate::Elimination;
use crate::target::Target;
use crate::tls::catalog::{catalog, CipherSuite, SuiteCode};
use crate::tls::protocol::Protocol;
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
}

/// How suites are enumerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
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

/// How one version's suites were settled, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnumerationMethod {
    /// One hello per suite.
    PerSuite,
    /// Elimination in sequence.
    Elimination,
    /// Elimination with the rest split into parts asked concurrently.
    SplitElimination,
}

/// How the suites of one version were enumerated.
#[derive(Debug, Clone, Serialize)]
pub struct EnumerationReport {
    pub protocol: Protocol,
    pub method: EnumerationMethod,
    /// ClientHellos sent for this version's suites (retries included).
    pub hellos: usize,
    /// Why elimination was abandoned for per-suite probing at this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Whether the server enforces its own suite order at one version.
#[derive(Debug, Clone, Serialize)]
pub struct ServerPreferenceReport {
    pub protocol: Protocol,
    /// `null` when fewer than two suites were accepted or the probes failed.
    pub enforced: Option<bool>,
    /// The server's order (OpenSSL names), most preferred first; empty unless enforced.
    pub order: Vec<String>,
    /// Hellos sent to learn this.
    pub hellos: usize,
    /// Why `enforced` is `null` or `order` incomplete, when a hello got no choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Which probe engine offers each suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// The local OpenSSL where it can offer the suite, the raw ClientHello engine for the rest.
    Auto,
    /// The local OpenSSL only: suites it cannot offer are untestable.
    Openssl,
    /// The raw ClientHello engine for every suite.
    Raw,
}

/// The engine that probed one suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Openssl,
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
    /// What `--envoy-bin` asked for, to say why no real Envoy was used.
    pub real_choice: EnvoyBin,
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
            real_choice: EnvoyBin::Off,
        }
    }
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
            envoy: Some(EnvoyRequest::current()),
            certs: Some(CertConfig::default()),
            global_permits: None,
            engine: EngineChoice::Auto,
            method: Method::Auto,
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
    /// The engine that probed it (absent when untestable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
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
    /// Key-exchange groups per protocol version (where the server accepted (EC)DHE suites).
    pub groups: Vec<GroupResult>,
    pub envoy: Option<EnvoyReport>,
    pub remediation: Option<Remediation>,
    pub certificate: Option<CertificateReport>,
    pub client_auth: Option<ClientAuthReport>,
    /// Whether the server needs SNI: a handshake without SNI beside the named one (`null` when the
    /// scan sent no SNI).
    pub sni: Option<SniReport>,
    /// Certificate and client-authentication findings, errors first.
    pub findings: Vec<Finding>,
    /// How the network behaved during the scan (throttling, retries).
    pub network: NetworkReport,
    /// Per version, how its suites were enumerated.
    pub enumeration: Vec<EnumerationReport>,
    /// Per version with two or more accepted suites, whether the server enforces its own order
    /// (raw hellos; empty with `--engine openssl`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_preference: Vec<ServerPreferenceReport>,
    pub summary: Summary,
}

/// Whether the server asks for a client certificate, and what happened when one was presented.
#[derive(Debug, Clone, Serialize)]
pub struct ClientAuthReport {
    pub requested: bool,
    /// Whether the handshake fails without a certificate (`null` when that could not be told).
    pub required: Option<bool>,
    /// The CA names the server sent in its CertificateRequest.
    pub acceptable_cas: Vec<String>,
    /// The outcome of presenting `--cert`/`--key`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<PresentedCertificate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PresentedCertificate {
    pub subject: String,
    pub accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupResult {
    pub protocol: Protocol,
    pub name: &'static str,
    pub status: CipherStatus,
    pub reason: String,
}

/// What an Envoy client negotiated in a real handshake.
#[derive(Debug, Clone, Serialize)]
pub struct NegotiatedReport {
    pub protocol: Protocol,
    pub cipher: String,
    pub group: Option<String>,
}

impl From<&Negotiated> for NegotiatedReport {
    fn from(n: &Negotiated) -> Self {
        NegotiatedReport {
            protocol: n.protocol,
            cipher: n.cipher.clone(),
            group: n.group.clone(),
        }
    }
}

/// What a handshake without SNI got, beside the named one.
#[derive(Debug, Clone, Serialize)]
pub struct SniReport {
    /// The name the scan sent.
    pub name: String,
    /// `accepted` (the handshake completed without SNI), `rejected` (the server refused it) or
    /// `inconclusive` (no TLS answer).
    pub without_sni: CipherStatus,
    /// Whether the server sent the same leaf certificate without SNI (`null` unless both completed).
    pub same_certificate: Option<bool>,
    pub detail: String,
}

/// The SNI Envoy sends for this Upstream, and why.
#[derive(Debug, Clone, Serialize)]
pub struct EnvoySniReport {
    /// `null`: no SNI at all.
    pub name: Option<String>,
    pub source: String,
}

/// The trust Envoy applies to the server certificate.
#[derive(Debug, Clone, Serialize)]
pub struct EnvoyTrustReport {
    /// Where the root CA comes from; `null` means Envoy verifies nothing.
    pub root_ca: Option<String>,
    /// `sslConfig.verifySubjectAltName` (checked only with a root CA).
    pub verify_subject_alt_name: Vec<String>,
    /// The chain Envoy would see verifies against the root CA, dates included (`null` without a
    /// root CA, or without a chain to check).
    pub chain_verified: Option<bool>,
    /// The leaf matches `verify_subject_alt_name` under Envoy's rules (`null` when not checked).
    pub san_matched: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvoyReport {
    pub profile: String,
    pub verdict: Verdict,
    pub sni: EnvoySniReport,
    pub trust: EnvoyTrustReport,
    /// What the simulated Envoy client negotiated as configured (null: it did not connect).
    pub negotiated: Option<NegotiatedReport>,
    pub problems: Vec<Problem>,
    /// Why the simulated handshake failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_error: Option<String>,
    /// What to do, in a sentence or two (also when no patch can help).
    pub advice: String,
    /// A handshake as Envoy got no TLS answer (timeout, reset, EOF): the verdict is not settled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inconclusive: bool,
    /// A second opinion: a raw ClientHello with exactly Envoy's suites, groups, signature
    /// algorithms and versions, read up to the ServerHello.
    pub raw_hello: RawHelloReport,
    /// A real Envoy's outcome per configuration, when one was run (`--envoy-bin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real: Option<real::RealReport>,
}

/// What the Envoy-exact raw ClientHello got, and whether it agrees with the OpenSSL simulation.
#[derive(Debug, Clone, Serialize)]
pub struct RawHelloReport {
    /// `accepted` (the server chose a suite), `rejected` or `inconclusive`.
    pub outcome: CipherStatus,
    pub protocol: Option<Protocol>,
    pub cipher: Option<String>,
    /// Both chose the same version and suite, or both were refused (`null` when either got no answer).
    pub agrees: Option<bool>,
    pub detail: String,
}

/// The `sslConfig.parameters` fields to change, as Gloo names them.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParametersReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_protocol_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher_suites: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecdh_curves: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Remediation {
    pub parameters: ParametersReport,
    /// The `sslConfig.sni` to set, when Envoy must send a name it does not send today.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// A handshake as Envoy with the patched parameters succeeded.
    pub verified: bool,
    pub negotiated_after: Option<NegotiatedReport>,
    pub advice: String,
    /// The patch as `TlsParams`, for renderers that write Gloo YAML.
    #[serde(skip)]
    pub params: TlsParams,
}

impl ScanReport {
    /// Whether a real Envoy contradicted the simulated verdict or patch (its outcome then stands).
    pub fn real_disagrees(&self) -> bool {
        self.envoy
            .as_ref()
            .and_then(|e| e.real.as_ref())
            .is_some_and(|r| !r.agrees)
    }

    /// Whether any probe stayed inconclusive (the scan is then incomplete).
    pub fn has_inconclusive(&self) -> bool {
        self.summary.inconclusive > 0
            || self
                .groups
                .iter()
                .any(|g| g.status == CipherStatus::Inconclusive)
            || self.envoy.as_ref().is_some_and(|e| e.inconclusive)
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
async fn preflight(
    prober: &OpensslProber,
    target: &str,
    sni: Option<&str>,
    retries: u32,
) -> Result<Option<(Protocol, u16)>, ScanError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = prober.preflight().await;
        let why = match outcome {
            // Every probe would get the same refusal: say what the server wants instead.
            ProbeOutcome::Rejected(Refusal::Alert(a)) if a.description == 112 => {
                return Err(ScanError::SniRequired {
                    target: target.to_string(),
                    sent: match sni {
                        Some(name) => format!("cipher-test sent '{name}'"),
                        None => "cipher-test sent none".into(),
                    },
                })
            }
            ProbeOutcome::Accepted(a) => return Ok(Some((a.protocol, a.code.0))),
            ProbeOutcome::Rejected(_) => return Ok(None),
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

/// One pass of probes: how it was paced and how many stayed without an answer.
#[derive(Debug, Clone, Serialize)]
pub struct Pass {
    pub probes: usize,
    pub concurrency: usize,
    pub delay_ms: u64,
    pub inconclusive: usize,
}

/// How the network behaved, and how the scan adapted to it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetworkReport {
    /// Failures clustered: some probes got no TLS answer while others to the same server did.
    pub throttling_suspected: bool,
    /// The passes over the cipher probes: the first, then one per retry round.
    pub passes: Vec<Pass>,
    /// What happened and what the scan did, in a sentence or two.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A small xorshift generator for jitter (no cryptographic use).
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Jitter(seed | 1)
    }
    fn upto(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let ms = max.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { self.0 % (ms + 1) })
    }
}

/// Runs `probe` over `jobs`, each connection through `gate` (at most `cfg.concurrency` in flight,
/// `cfg.delay` between starts, and the run-wide bound, shared with the scan's other stages).
/// Probes that get no TLS answer are not reported as such at once: they are retried in up to
/// `cfg.retries` further passes, each at half the previous concurrency with at least 100 ms (plus
/// jitter) between starts, since clustered failures usually mean a rate-limiting server or middlebox.
/// Returns (job, outcome, attempts) in any order, and the passes made.
async fn run_bounded<J, F, Fut>(
    jobs: Vec<J>,
    cfg: &ScanConfig,
    gate: &Arc<Gate>,
    bar: &indicatif::ProgressBar,
    probe: F,
) -> (Vec<(J, ProbeOutcome, u32)>, Vec<Pass>)
where
    J: Clone + Send + 'static,
    F: Fn(J) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ProbeOutcome> + Send + 'static,
{
    let probe = Arc::new(probe);
    let mut pending: Vec<(J, u32)> = jobs.into_iter().map(|j| (j, 0)).collect();
    let mut finished: Vec<(J, ProbeOutcome, u32)> = Vec::with_capacity(pending.len());
    let mut passes = Vec::new();
    let mut concurrency = cfg.concurrency.max(1);
    let mut delay = cfg.delay;
    let mut jitter = Jitter::new();
    for round in 0..=cfg.retries {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            concurrency = (concurrency / 2).max(1);
            delay = delay.max(Duration::from_millis(100));
            bar.inc_length(pending.len() as u64);
        }
        let permits = Arc::new(Semaphore::new(concurrency));
        let mut set = JoinSet::new();
        let mut results = Vec::with_capacity(pending.len());
        let count = pending.len();
        let round_jobs = std::mem::take(&mut pending);
        let mut returned = vec![false; count];
        for (i, (job, attempts)) in round_jobs.iter().cloned().enumerate() {
            // The gate keeps --delay between starts; retry rounds add their own pause on top.
            if i > 0 && round > 0 {
                tokio::time::sleep(delay + jitter.upto(delay / 2)).await;
            }
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break;
            };
            let probe = Arc::clone(&probe);
            let gate = Arc::clone(gate);
            set.spawn(async move {
                let _permit = permit;
                let _ticket = gate.enter().await;
                let outcome = probe(job.clone()).await;
                (i, job, outcome, attempts + 1)
            });
            while let Some(done) = set.try_join_next() {
                if let Ok((i, job, outcome, attempts)) = done {
                    returned[i] = true;
                    results.push((job, outcome, attempts));
                }
                bar.inc(1);
            }
        }
        while let Some(done) = set.join_next().await {
            if let Ok((i, job, outcome, attempts)) = done {
                returned[i] = true;
                results.push((job, outcome, attempts));
            }
            bar.inc(1);
        }
        // A probe task that died (it cannot by design) still gets a row: never a silent gap.
        for (i, (job, attempts)) in round_jobs.into_iter().enumerate() {
            if !returned[i] {
                let why =
                    Inconclusive::Local("internal error: the probe stopped unexpectedly".into());
                results.push((job, ProbeOutcome::Inconclusive(why), attempts + 1));
            }
        }
        let mut inconclusive = 0;
        for (job, outcome, attempts) in results {
            if outcome.is_inconclusive() {
                inconclusive += 1;
                if round < cfg.retries {
                    pending.push((job, attempts));
                    continue;
                }
            }
            finished.push((job, outcome, attempts));
        }
        passes.push(Pass {
            probes: count,
            concurrency,
            delay_ms: delay.as_millis() as u64,
            inconclusive,
        });
    }
    (finished, passes)
}

/// Whether failures clustered, and what the passes did about it.
fn network_report(passes: &[Pass]) -> NetworkReport {
    let Some(first) = passes.first() else {
        return NetworkReport::default();
    };
    let answered = first.probes - first.inconclusive;
    let suspected = first.inconclusive >= 3 && answered > 0;
    let mut detail = String::new();
    if first.inconclusive > 0 {
        let last = passes.last().map(|p| p.inconclusive).unwrap_or(0);
        let left = if passes.len() > 1 {
            last
        } else {
            first.inconclusive
        };
        detail = format!(
            "{} of {} probes got no TLS answer in the first pass{}",
            first.inconclusive,
            first.probes,
            if suspected {
                " while others did: the server (or something in front of it) appears to rate-limit or drop connections"
            } else {
                ""
            }
        );
        if passes.len() > 1 {
            let lowest = passes.iter().map(|p| p.concurrency).min().unwrap_or(1);
            detail.push_str(&format!(
                ". cipher-test retried them in {} more pass{}, down to concurrency {lowest} with at least 100 ms between starts; {left} stayed inconclusive",
                passes.len() - 1,
                if passes.len() > 2 { "es" } else { "" },
            ));
        }
        detail.push('.');
    }
    NetworkReport {
        throttling_suspected: suspected,
        passes: passes.to_vec(),
        detail,
    }
}

/// Scans `target`: preflight; then at once the suites of every version (elimination or one probe
/// per suite, then the groups and the server's order), the certificate, and a handshake as the Envoy
/// client; last the Envoy verdict with the handshake that verifies its patch.
pub async fn scan(target: &Target, cfg: &ScanConfig) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    let shown = target.host_port.display();
    let prober = OpensslProber::new(target.address, target.sni.clone(), cfg.timeout)
        .map_err(|e| ScanError::Local(e.to_string()))?;
    let first_choice = preflight(&prober, &shown, target.sni.as_deref(), cfg.retries).await?;
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

    // Every connection from here to the verdict passes one gate: --concurrency, --delay, and the
    // run-wide bound of `check`.
    let gate = Arc::new(Gate::new(
        cfg.concurrency,
        cfg.global_permits.clone(),
        cfg.delay,
    ));
    let bar = progress_bar(jobs.len(), cfg.progress);
    let side = match &cfg.envoy {
        Some(req) => Some(EnvoySide::new(target, cfg, req, &prober)?),
        None => None,
    };
    let suites = enumerate(&prober, &raw, &gate, cfg, jobs, first_choice, &bar);
    let envoy_handshake = async {
        match (&cfg.envoy, &side) {
            (Some(req), Some(side)) => Some(first_look(side, &gate, req).await),
            _ => None,
        }
    };
    let certificates = async {
        match &cfg.certs {
            Some(c) => {
                // One connection at a time (with --cert/--key, a second after the first).
                let _ticket = gate.enter().await;
                inspect_certificates(&prober, target, c).await
            }
            None => (None, None, Vec::new()),
        }
    };
    let without_sni = async {
        match &target.sni {
            Some(name) => {
                let _ticket = gate.enter().await;
                Some(handshake_without_sni(target, cfg, name).await)
            }
            None => None,
        }
    };
    let (found, first, (certificate, client_auth, findings), without_sni) =
        tokio::join!(suites, envoy_handshake, certificates, without_sni);
    bar.finish_and_clear();
    rows.extend(found.rows);
    rows.sort_by_key(|r| (r.protocol, r.code));
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
    let (envoy, remediation) = match (&cfg.envoy, &side, first) {
        (Some(req), Some(side), Some(first)) => {
            let (e, r) = judge(side, &prober, req, &rows, &groups, first).await;
            (Some(e), r)
        }
        _ => (None, None),
    };
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
        network: found.network,
        enumeration: found.enumeration,
        server_preference: found.server_preference,
        summary,
    })
}

/// One (version, suite) to settle, and the engine that would probe it on its own.
type Job = (Protocol, &'static CipherSuite, Engine);

/// What the suite stage found.
struct Enumerated {
    rows: Vec<CipherResult>,
    groups: Vec<GroupResult>,
    network: NetworkReport,
    enumeration: Vec<EnumerationReport>,
    server_preference: Vec<ServerPreferenceReport>,
}

/// The method a version is enumerated with when `cfg.method` is asked for: elimination needs the
/// raw engine, so `auto` with `--engine openssl` probes one suite per hello.
fn effective_method(cfg: &ScanConfig) -> Method {
    match (cfg.method, cfg.engine) {
        (Method::Auto, EngineChoice::Openssl) => Method::PerSuite,
        (m, _) => m,
    }
}

/// Settles every job: by elimination per version where the method asks for it and the server
/// behaves, one probe per suite for the rest; then the groups and, with raw hellos, whether the
/// server enforces its order (both at once).
async fn enumerate(
    prober: &Arc<OpensslProber>,
    raw: &Arc<RawProber>,
    gate: &Arc<Gate>,
    cfg: &ScanConfig,
    mut jobs: Vec<Job>,
    first_choice: Option<(Protocol, u16)>,
    bar: &indicatif::ProgressBar,
) -> Enumerated {
    let gated = raw.gated(Arc::clone(gate));
    let mut rows: Vec<CipherResult> = Vec::new();
    let mut enumeration: Vec<EnumerationReport> = Vec::new();
    // A version's groups and server order, started as soon as its suites are settled; both need
    // only its accepted rows.
    let mut follow_ups = JoinSet::new();
    let follow_up = |tasks: &mut JoinSet<_>, settled: &[CipherResult]| {
        let version_rows: Vec<CipherResult> = settled
            .iter()
            .filter(|r| r.status == CipherStatus::Accepted)
            .cloned()
            .collect();
        let (prober, gate, gated) = (Arc::clone(prober), Arc::clone(gate), gated.clone());
        let (cfg, bar) = (cfg.clone(), bar.clone());
        tasks.spawn(async move {
            let order = async {
                if cfg.engine == EngineChoice::Openssl {
                    Vec::new()
                } else {
                    preferences(&gated, &version_rows).await
                }
            };
            tokio::join!(
                scan_groups(&prober, &version_rows, &gate, &cfg, &bar),
                order
            )
        });
    };
    let method = effective_method(cfg);
    if method != Method::PerSuite {
        let mut versions: Vec<(Protocol, Vec<u16>)> = Vec::new();
        for (p, suite, _) in &jobs {
            match versions.iter_mut().find(|(q, _)| q == p) {
                Some((_, codes)) => codes.push(suite.code.0),
                None => versions.push((*p, vec![suite.code.0])),
            }
        }
        let name = if method == Method::Elimination {
            EnumerationMethod::Elimination
        } else {
            EnumerationMethod::SplitElimination
        };
        // Rows of a version elimination settled; a version it gave up on stays in `jobs`.
        let mut settled = |mut e: Elimination| {
            let p = e.protocol;
            if e.fallback.is_none() {
                e.fallback = contradiction(&e, first_choice);
            }
            if let Some(why) = e.fallback {
                enumeration.push(EnumerationReport {
                    protocol: p,
                    method: EnumerationMethod::PerSuite,
                    hellos: e.hellos,
                    fallback: Some(why),
                });
                return;
            }
            let mut version_rows = Vec::new();
            for (q, suite, _) in jobs.iter().filter(|(q, _, _)| *q == p) {
                let Some(outcome) = e.outcome(suite.code.0) else {
                    continue;
                };
                let mut r = finished(*q, suite, outcome.clone(), 1);
                r.engine = Some(Engine::Raw);
                if r.status == CipherStatus::Rejected {
                    r.reason = format!(
                        "{} (elimination: offered with the suites the server did not choose)",
                        r.reason
                    );
                }
                version_rows.push(r);
            }
            bar.inc(version_rows.len() as u64);
            enumeration.push(EnumerationReport {
                protocol: p,
                method: name,
                hellos: e.hellos,
                fallback: None,
            });
            jobs.retain(|(q, _, _)| *q != p);
            follow_up(&mut follow_ups, &version_rows);
            rows.extend(version_rows);
        };
        match method {
            Method::Elimination => {
                let mut set = JoinSet::new();
                for (p, codes) in versions.iter().cloned() {
                    let raw = gated.clone();
                    set.spawn(
                        async move { crate::scan::eliminate::eliminate(&raw, p, &codes).await },
                    );
                }
                // A lost task leaves its version to per-suite probing below.
                while let Some(joined) = set.join_next().await {
                    if let Ok(e) = joined {
                        settled(e);
                    }
                }
            }
            _ => {
                crate::scan::eliminate::eliminate_split_each(
                    &gated,
                    &versions,
                    cfg.concurrency,
                    settled,
                )
                .await
            }
        }
    }

    let suite_prober = Arc::clone(prober);
    let suite_raw = Arc::clone(raw);
    let (done, passes) = run_bounded(jobs, cfg, gate, bar, move |(p, suite, engine): Job| {
        let prober = Arc::clone(&suite_prober);
        let raw = Arc::clone(&suite_raw);
        async move {
            match engine {
                Engine::Openssl => prober.probe(p, suite).await,
                Engine::Raw => raw.probe(p, &[suite.code.0]).await,
            }
        }
    })
    .await;
    let mut probed: Vec<CipherResult> = Vec::new();
    for ((p, suite, engine), outcome, attempts) in done {
        let mut r = finished(p, suite, outcome, attempts);
        r.engine = Some(engine);
        match enumeration.iter_mut().find(|e| e.protocol == p) {
            Some(e) if e.method == EnumerationMethod::PerSuite => e.hellos += attempts as usize,
            Some(_) => {}
            None => enumeration.push(EnumerationReport {
                protocol: p,
                method: EnumerationMethod::PerSuite,
                hellos: attempts as usize,
                fallback: None,
            }),
        }
        probed.push(r);
    }
    if !probed.is_empty() {
        probed.sort_by_key(|r| (r.protocol, r.code));
        follow_up(&mut follow_ups, &probed);
        rows.extend(probed);
    }
    enumeration.sort_by_key(|e| e.protocol);
    rows.sort_by_key(|r| (r.protocol, r.code));
    let network = network_report(&passes);

    let mut groups = Vec::new();
    let mut server_preference = Vec::new();
    while let Some(joined) = follow_ups.join_next().await {
        // A follow-up task cannot panic by design; if one did, its versions would simply have no
        // group rows, and the Envoy plan would count their groups as not enumerated.
        if let Ok((g, o)) = joined {
            groups.extend(g);
            server_preference.extend(o);
        }
    }
    groups.sort_by_key(|g| (g.protocol, group_rank(g.name)));
    server_preference.sort_by_key(|r| r.protocol);
    Enumerated {
        rows,
        groups,
        network,
        enumeration,
        server_preference,
    }
}

/// Why `e` cannot stand although the server answered every hello: it refused the suite the
/// preflight handshake (OpenSSL offering everything) negotiated at this version. A server whose
/// choice depends on more than the offered suites (the raw hello's extensions, its size) is then
/// probed one suite per hello, as without elimination.
fn contradiction(e: &Elimination, first_choice: Option<(Protocol, u16)>) -> Option<String> {
    let (protocol, code) = first_choice?;
    if protocol != e.protocol {
        return None;
    }
    match e.outcome(code) {
        Some(ProbeOutcome::Accepted(_)) | None => None,
        Some(other) => {
            let name = catalog().name_of(code);
            let why = match other {
                ProbeOutcome::Rejected(r) => r.to_string(),
                ProbeOutcome::Inconclusive(i) => i.to_string(),
                ProbeOutcome::Accepted(_) => String::new(),
            };
            Some(format!(
                "elimination at {protocol} did not get {name} ({why}), which the preflight \
                 handshake negotiated there; probe {protocol} one suite per hello"
            ))
        }
    }
}

/// Where a group stands in [`GROUPS`], for a stable report order.
fn group_rank(name: &str) -> usize {
    GROUPS
        .iter()
        .position(|g| g.name == name)
        .unwrap_or(usize::MAX)
}

/// Per version with two or more accepted suites, whether the server enforces its own order and
/// which (all versions at once).
async fn preferences(raw: &RawProber, rows: &[CipherResult]) -> Vec<ServerPreferenceReport> {
    let mut set = JoinSet::new();
    let mut versions: Vec<Protocol> = rows.iter().map(|r| r.protocol).collect();
    versions.sort();
    versions.dedup();
    for p in versions {
        let accepted: Vec<u16> = rows
            .iter()
            .filter(|r| r.protocol == p && r.status == CipherStatus::Accepted)
            .map(|r| r.code.0)
            .collect();
        if accepted.len() < 2 {
            continue;
        }
        let raw = raw.clone();
        set.spawn(async move {
            let pref = crate::scan::eliminate::server_preference(&raw, p, &accepted).await;
            (p, pref)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok((p, pref)) = joined {
            out.push(ServerPreferenceReport {
                protocol: p,
                enforced: pref.enforced,
                order: pref.order.iter().map(|&c| catalog().name_of(c)).collect(),
                hellos: pref.hellos,
                error: pref.error,
            });
        }
    }
    out.sort_by_key(|r| r.protocol);
    out
}

/// For every version where the server accepted ECDHE suites (TLS 1.0 to 1.2) or any TLS 1.3 suite,
/// offers those suites with one group at a time.
async fn scan_groups(
    prober: &Arc<OpensslProber>,
    rows: &[CipherResult],
    gate: &Arc<Gate>,
    cfg: &ScanConfig,
    bar: &indicatif::ProgressBar,
) -> Vec<GroupResult> {
    let mut jobs: Vec<(Protocol, Group, Vec<&'static CipherSuite>)> = Vec::new();
    let mut out = Vec::new();
    for &p in &cfg.protocols {
        let suites: Vec<&'static CipherSuite> = rows
            .iter()
            .filter(|r| r.protocol == p && r.status == CipherStatus::Accepted)
            .filter_map(|r| catalog().by_code(r.code.0))
            .filter(|s| s.is_tls13() || s.kx.starts_with("ECDHE"))
            .collect();
        if suites.is_empty() || p == Protocol::Ssl3 {
            continue;
        }
        for g in GROUPS {
            if prober.can_offer_group(g) {
                jobs.push((p, g, suites.clone()));
            } else {
                out.push(GroupResult {
                    protocol: p,
                    name: g.name,
                    status: CipherStatus::Untestable,
                    reason: format!("{} cannot offer {}", crate::util::tls_library(), g.name),
                });
            }
        }
    }
    bar.inc_length(jobs.len() as u64);
    let group_prober = Arc::clone(prober);
    let (done, _) = run_bounded(
        jobs,
        cfg,
        gate,
        bar,
        move |(p, g, suites): (Protocol, Group, Vec<&'static CipherSuite>)| {
            let prober = Arc::clone(&group_prober);
            async move {
                let outcome = prober.probe_group(p, g, &suites).await;
                if !matches!(outcome, ProbeOutcome::Rejected(_)) || p == Protocol::Tls13 {
                    return outcome;
                }
                // Before TLS 1.3 the client's groups also name the curves an ECDSA certificate may
                // use: a server whose certificate is on another curve refuses a hello offering `g`
                // alone, whatever it accepts for the key exchange. Offer `g` first beside the other
                // NIST curves and see which one the server takes.
                if !suites.iter().any(|s| s.auth == "ECDSA") {
                    return outcome;
                }
                let mut offered = vec![g.name];
                offered.extend(
                    ["P-256", "P-384", "P-521"]
                        .into_iter()
                        .filter(|c| *c != g.name),
                );
                match prober.group_choice(p, &offered, &suites).await {
                    Ok(info) => match info.negotiated {
                        Some(n) if n.group.as_deref() == Some(g.name) => {
                            ProbeOutcome::Accepted(crate::probe::Accepted {
                                protocol: n.protocol,
                                code: SuiteCode(n.code),
                                hello_retry: false,
                                group: None,
                            })
                        }
                        _ => outcome,
                    },
                    Err(_) => outcome,
                }
            }
        },
    )
    .await;
    for ((p, g, _), outcome, attempts) in done {
        let (status, reason, _) = judged(outcome, attempts);
        out.push(GroupResult {
            protocol: p,
            name: g.name,
            status,
            reason: if status == CipherStatus::Accepted {
                "the server accepted it for the key exchange".into()
            } else {
                reason
            },
        });
    }
    out.sort_by_key(|g| (g.protocol, group_rank(g.name)));
    out
}

fn gloo_version(p: Protocol) -> String {
    // Gloo has no SSLv3; the lowest version it can express is TLSv1_0.
    crate::gloo::gloo_version_name(p)
        .unwrap_or("TLSv1_0")
        .to_string()
}

/// The patch as Gloo field values.
pub fn parameters_report(params: &TlsParams) -> ParametersReport {
    ParametersReport {
        minimum_protocol_version: params.min_version.map(gloo_version),
        maximum_protocol_version: params.max_version.map(gloo_version),
        cipher_suites: params
            .cipher_entries
            .as_ref()
            .map(|e| e.iter().map(|x| x.to_string()).collect()),
        ecdh_curves: params.ecdh_curves.clone(),
    }
}

/// Whether a simulated handshake agreed on version and suite (it connected, or it got as far as a
/// ServerHello and then stopped only because the upstream wanted a client certificate).
fn agreed(sim: &Simulation, presented: bool) -> Option<(Protocol, String)> {
    match sim {
        Simulation::Connected { negotiated: n, .. } => Some((n.protocol, n.cipher.clone())),
        Simulation::Failed {
            server_hello: Some((p, code)),
            certificate_requested,
            error,
            ..
        } if *certificate_requested || (presented && is_server_alert(error)) => {
            Some((*p, catalog().name_of(*code)))
        }
        Simulation::Failed { .. } => None,
    }
}

/// Whether a (tidied) handshake error is a TLS alert from the server, not a network failure.
fn is_server_alert(error: &str) -> bool {
    error.starts_with("server sent")
}

/// Whether a failed simulation got a TLS answer (an alert or a ServerHello): only then may it
/// change a verdict. A timeout, reset or EOF settles nothing.
fn answered(sim: &Simulation) -> bool {
    match sim {
        Simulation::Connected { .. } => true,
        Simulation::Failed {
            alert,
            server_hello,
            error,
            ..
        } => alert.is_some() || server_hello.is_some() || is_server_alert(error),
    }
}

/// The Envoy-exact raw hello's outcome, compared with the OpenSSL simulation.
fn raw_second_opinion(outcome: ProbeOutcome, sim: &Simulation) -> RawHelloReport {
    let (status, detail, _) = judged(outcome.clone(), 1);
    let (protocol, cipher) = match &outcome {
        ProbeOutcome::Accepted(a) => (Some(a.protocol), Some(catalog().name_of(a.code.0))),
        _ => (None, None),
    };
    let sim_choice = agreed(sim, false).or(match sim {
        Simulation::Failed {
            server_hello: Some((p, c)),
            ..
        } => Some((*p, catalog().name_of(*c))),
        _ => None,
    });
    let agrees = match (&outcome, answered(sim)) {
        (ProbeOutcome::Inconclusive(_), _) | (_, false) => None,
        (ProbeOutcome::Accepted(_), true) => Some(sim_choice == protocol.zip(cipher.clone())),
        (ProbeOutcome::Rejected(_), true) => Some(sim_choice.is_none()),
    };
    RawHelloReport {
        outcome: status,
        protocol,
        cipher,
        agrees,
        detail,
    }
}

fn failure_text(sim: &Simulation) -> Option<String> {
    match sim {
        Simulation::Connected { .. } => None,
        Simulation::Failed { alert: Some(a), .. } => Some(format!("server sent {a}")),
        Simulation::Failed { error, .. } => Some(error.clone()),
    }
}

/// The probers that speak as Envoy: they send the SNI Envoy sends, which may differ from the scan's.
pub struct EnvoySide {
    prober: Arc<OpensslProber>,
    raw: RawProber,
    /// The SNI Envoy sends and why.
    sni: EnvoySniReport,
    /// The name the scan sent, when Envoy sends another (or none).
    scanned_sni: Option<String>,
}

impl EnvoySide {
    fn new(
        target: &Target,
        cfg: &ScanConfig,
        req: &EnvoyRequest,
        scan_prober: &Arc<OpensslProber>,
    ) -> Result<EnvoySide, ScanError> {
        let (name, source) = req
            .view
            .sni
            .resolve(&target.host_port.host, target.sni.as_deref());
        let prober = if name == target.sni {
            Arc::clone(scan_prober)
        } else {
            Arc::new(
                OpensslProber::new(target.address, name.clone(), cfg.timeout)
                    .map_err(|e| ScanError::Local(e.to_string()))?,
            )
        };
        Ok(EnvoySide {
            prober,
            raw: RawProber::new(target.address, name.clone(), cfg.timeout),
            scanned_sni: target.sni.clone().filter(|s| Some(s) != name.as_ref()),
            sni: EnvoySniReport { name, source },
        })
    }
}

/// The handshake as the Envoy client of `req` with its parameters as given, and the Envoy-exact raw
/// hello beside it (both at once); independent of the scan, so it runs beside it.
pub struct FirstLook {
    simulation: Simulation,
    second_opinion: RawHelloReport,
}

async fn first_look(side: &EnvoySide, gate: &Arc<Gate>, req: &EnvoyRequest) -> FirstLook {
    let client = req.view.client();
    let certificate = req.view.client_certificate.as_ref();
    let simulate = async {
        let _ticket = gate.enter().await;
        side.prober.simulate(&client.spec(), certificate).await
    };
    let raw = side.raw.gated(Arc::clone(gate));
    let (simulation, outcome) =
        tokio::join!(simulate, crate::scan::eliminate::envoy_hello(&raw, &client));
    let second_opinion = raw_second_opinion(outcome, &simulation);
    FirstLook {
        simulation,
        second_opinion,
    }
}

/// What the trust Envoy applies makes of `chain`: problems, and whether the chain and names passed.
fn trust_problems(
    view: &UpstreamView,
    chain: &[Vec<u8>],
) -> (Vec<Problem>, Option<bool>, Option<bool>) {
    let Some(root) = &view.root_ca else {
        return (Vec::new(), None, None);
    };
    if chain.is_empty() {
        return (Vec::new(), None, None);
    }
    let mut problems = Vec::new();
    let chain_ok = match cert::envoy_verify(chain, &root.certificates, crate::util::now_unix()) {
        Ok(None) => Some(true),
        Ok(Some(failure)) => {
            problems.push(Problem {
                kind: ProblemKind::CertificateVerify,
                detail: format!(
                    "with the root CA from {}, Envoy verifies the server's chain and refuses it: {failure}",
                    root.source
                ),
            });
            Some(false)
        }
        Err(e) => {
            problems.push(Problem {
                kind: ProblemKind::CertificateVerify,
                detail: format!("the server's certificate cannot be parsed: {e}"),
            });
            Some(false)
        }
    };
    let san_ok = if view.verify_subject_alt_name.is_empty() {
        None
    } else {
        let names = cert::leaf_names(&chain[0]).unwrap_or_default();
        let cert_names = envoy::san::CertificateNames {
            dns: &names.dns,
            uri: &names.uri,
            email: &names.email,
            ip: &names.ip,
        };
        let ok = envoy::san::verify_subject_alt_name(&view.verify_subject_alt_name, &cert_names);
        if !ok {
            problems.push(Problem {
                kind: ProblemKind::CertificateSan,
                detail: format!(
                    "verifySubjectAltName is {}, and Envoy refuses the server: {}",
                    view.verify_subject_alt_name.join(", "),
                    envoy::san::explain_mismatch(&view.verify_subject_alt_name, &cert_names)
                ),
            });
        }
        Some(ok)
    };
    (problems, chain_ok, san_ok)
}

fn trust_advice(problems: &[Problem]) -> Option<String> {
    let mut out = Vec::new();
    for p in problems {
        match p.kind {
            ProblemKind::CertificateVerify if p.detail.contains("expired") || p.detail.contains("not yet valid") => out.push(
                "Renew the upstream's certificate: Envoy with a root CA refuses a chain outside its dates.",
            ),
            ProblemKind::CertificateVerify => out.push(
                "Put the CA that issued the upstream's chain in the secret's ca.crt (glooctl create secret tls NAME --rootca CA.pem), or serve a chain the configured CA signed.",
            ),
            ProblemKind::CertificateSan => out.push(
                "List a name the certificate has in sslConfig.verifySubjectAltName, or reissue the certificate with a DNS SAN for the configured name.",
            ),
            _ => {}
        }
    }
    (!out.is_empty()).then(|| out.join(" "))
}

/// The verdict for `req`: the plan from the scan data, checked by a real handshake as that Envoy
/// client (with the SNI Envoy sends), the trust Envoy applies to the chain it sees, and the patch
/// verified by a second handshake with the patched parameters (and SNI).
async fn judge(
    side: &EnvoySide,
    scan_prober: &Arc<OpensslProber>,
    req: &EnvoyRequest,
    rows: &[CipherResult],
    groups: &[GroupResult],
    first: FirstLook,
) -> (EnvoyReport, Option<Remediation>) {
    let mut observed = Observed::default();
    for r in rows.iter().filter(|r| r.status == CipherStatus::Accepted) {
        if let Some(s) = catalog().by_code(r.code.0) {
            observed.suites.entry(r.protocol).or_default().push(s);
        }
    }
    // Groups count as enumerated for a version only when at least one group probe settled.
    for g in groups
        .iter()
        .filter(|g| matches!(g.status, CipherStatus::Accepted | CipherStatus::Rejected))
    {
        let accepted = observed.groups.entry(g.protocol).or_default();
        if g.status == CipherStatus::Accepted {
            accepted.push(g.name.to_string());
        }
    }
    let view = &req.view;
    let certificate = view.client_certificate.as_ref();
    let client = view.client();
    let mut plan = verdict::plan(&observed, &client, req.add_all);
    let FirstLook {
        simulation,
        second_opinion,
    } = first;
    let negotiated = match &simulation {
        Simulation::Connected { negotiated, .. } => Some(NegotiatedReport::from(negotiated)),
        Simulation::Failed { .. } => None,
    };
    let handshake_error = failure_text(&simulation);
    let mut inconclusive = !answered(&simulation);
    let presented = certificate.is_some();
    let needs_certificate =
        agreed(&simulation, presented).is_some() && matches!(simulation, Simulation::Failed { .. });

    // SNI: when Envoy's handshake is refused and the scan's name differs from what Envoy sends,
    // the same client with the scan's name tells whether the name is what is missing.
    let mut named_chain = Vec::new();
    let sni_fix = match (&side.scanned_sni, &simulation) {
        (Some(name), Simulation::Failed { .. }) if answered(&simulation) && !needs_certificate => {
            let with_name = scan_prober.simulate(&client.spec(), certificate).await;
            let fixed = match &with_name {
                Simulation::Connected { chain, .. } => {
                    named_chain = chain.clone();
                    true
                }
                // The suites do not match either: does the name matter once they do?
                Simulation::Failed { .. } if plan.verdict != Verdict::Compatible => {
                    let patched =
                        EnvoyClient::with_params(view.profile, &merged(&view.params, &plan.params))
                            .spec();
                    let (without, with) = tokio::join!(
                        side.prober.simulate(&patched, certificate),
                        scan_prober.simulate(&patched, certificate)
                    );
                    answered(&without)
                        && agreed(&without, presented).is_none()
                        && matches!(with, Simulation::Connected { .. })
                }
                Simulation::Failed { .. } => false,
            };
            fixed.then(|| name.clone())
        }
        _ => None,
    };
    if let Some(name) = &sni_fix {
        plan.problems.push(Problem {
            kind: ProblemKind::SniRequired,
            detail: format!(
                "the upstream refuses a handshake {}, and completes one with SNI {name}; Envoy sends {} ({})",
                match &side.sni.name {
                    Some(n) => format!("with SNI {n}"),
                    None => "without SNI".into(),
                },
                side.sni.name.as_deref().unwrap_or("none"),
                side.sni.source
            ),
        });
    }

    // The real handshake has the last word on "are version and suite agreed as configured".
    match (agreed(&simulation, presented), plan.verdict) {
        (Some(_), Verdict::NeedsPatch | Verdict::Incompatible) => {
            plan.verdict = Verdict::Compatible;
            plan.params = TlsParams::default();
            plan.problems.clear();
            plan.advice = "Envoy connects with its current settings; no patch is needed.".into();
        }
        (None, Verdict::Compatible) if sni_fix.is_some() => {
            plan.verdict = Verdict::NeedsPatch;
            plan.advice = String::new();
        }
        (None, Verdict::Compatible) if answered(&simulation) => {
            plan.verdict = Verdict::Incompatible;
            plan.problems.push(Problem {
                kind: ProblemKind::HandshakeFailure,
                detail: format!(
                    "the scan found shared parameters, but a handshake as this Envoy client failed: {}",
                    handshake_error.clone().unwrap_or_default()
                ),
            });
            plan.advice =
                "cipher-test knows no parameter change that fixes this handshake; check the \
                           upstream's certificate and signature algorithms."
                    .into();
        }
        _ => {}
    }
    if let Some(name) = &sni_fix {
        let sni_advice = format!(
            "Set sslConfig.sni: {name} so that Envoy sends the name the upstream needs (on a static \
             Upstream, hosts[].sniAddr does the same per host, and autoSniRewrite: false keeps \
             sslConfig.sni from being replaced by the host's addr)."
        );
        plan.advice = if plan.advice.is_empty() {
            sni_advice
        } else {
            format!("{sni_advice} {}", plan.advice)
        };
    }
    if needs_certificate {
        let detail = if presented {
            format!(
                "the upstream refused the client certificate given with --cert ({}); Envoy would \
                 fail the same way with it in its secret",
                handshake_error.clone().unwrap_or_default()
            )
        } else {
            "the upstream requires a client certificate (mTLS); Envoy presents one only when \
             sslConfig.secretRef names a kubernetes.io/tls secret with tls.crt and tls.key"
                .into()
        };
        plan.problems.push(Problem {
            kind: ProblemKind::ClientCertificate,
            detail,
        });
        if plan.verdict == Verdict::Compatible {
            plan.verdict = Verdict::NeedsPatch;
            plan.advice = if presented {
                "Use a client certificate issued by a CA the upstream trusts (see \
                 client_auth.acceptable_cas)."
                    .into()
            } else {
                "Add sslConfig.secretRef naming a kubernetes.io/tls secret with the client \
                 certificate (kubectl create secret tls NAME --cert=client.crt --key=client.key), \
                 then rerun with --cert/--key to verify the whole handshake."
                    .into()
            };
        }
    }

    let remediation = if plan.verdict == Verdict::NeedsPatch {
        let patched = merged(&view.params, &plan.params);
        let after = if plan.params.is_empty() && sni_fix.is_none() {
            simulation.clone()
        } else {
            let prober = if sni_fix.is_some() {
                scan_prober
            } else {
                &side.prober
            };
            prober
                .simulate(
                    &EnvoyClient::with_params(view.profile, &patched).spec(),
                    certificate,
                )
                .await
        };
        if !answered(&after) {
            inconclusive = true;
        }
        let (verified, negotiated_after) = match &after {
            Simulation::Connected { negotiated, .. } => {
                (true, Some(NegotiatedReport::from(negotiated)))
            }
            Simulation::Failed { .. } => (false, None),
        };
        if let Simulation::Connected { chain, .. } = &after {
            if named_chain.is_empty() {
                named_chain = chain.clone();
            }
        }
        let mut advice = plan.advice.clone();
        if needs_certificate && !presented {
            if let Some((p, cipher)) = agreed(&after, presented) {
                advice.push_str(&format!(
                    " With these parameters Envoy agrees {cipher} at {p} with the upstream, which then \
                     asks for a client certificate: create a kubernetes.io/tls secret (kubectl create \
                     secret tls NAME --cert=client.crt --key=client.key -n NAMESPACE) and reference it \
                     in sslConfig.secretRef (cipher-test remediate --secret NAME); pass --cert/--key to \
                     verify the whole handshake."
                ));
            }
        } else if let Some(e) = failure_text(&after) {
            advice.push_str(&format!(
                " Warning: a handshake with the patched parameters still failed ({e})."
            ));
        }
        Some(Remediation {
            parameters: parameters_report(&plan.params),
            sni: sni_fix.clone(),
            verified,
            negotiated_after,
            advice: advice.trim().to_string(),
            params: plan.params.clone(),
        })
    } else {
        None
    };

    // Trust: the chain Envoy would see (as configured, else with the fix) against the root CA.
    let chain: &[Vec<u8>] = match &simulation {
        Simulation::Connected { chain, .. } => chain,
        Simulation::Failed { .. } => &named_chain,
    };
    let (trust_issues, chain_verified, san_matched) = trust_problems(view, chain);
    let mut remediation = remediation;
    if !trust_issues.is_empty() {
        let expired = trust_issues.iter().any(|p| {
            p.kind == ProblemKind::CertificateVerify
                && (p.detail.contains("expired") || p.detail.contains("not yet valid"))
        });
        let advice = trust_advice(&trust_issues).unwrap_or_default();
        match plan.verdict {
            Verdict::Compatible => {
                plan.verdict = if expired {
                    Verdict::Incompatible
                } else {
                    Verdict::NeedsPatch
                };
                plan.advice = advice.clone();
                if !expired {
                    remediation = Some(Remediation {
                        parameters: ParametersReport::default(),
                        sni: None,
                        verified: false,
                        negotiated_after: None,
                        advice: advice.clone(),
                        params: TlsParams::default(),
                    });
                }
            }
            Verdict::NeedsPatch if expired => {
                plan.verdict = Verdict::Incompatible;
                plan.advice = format!("{advice} {}", plan.advice);
                remediation = None;
            }
            _ => {
                plan.advice = format!("{advice} {}", plan.advice);
                if let Some(r) = remediation.as_mut() {
                    r.verified = false;
                    r.advice = format!("{advice} {}", r.advice);
                }
            }
        }
        plan.problems.extend(trust_issues);
    }

    let report = EnvoyReport {
        profile: view.profile.name.clone(),
        verdict: plan.verdict,
        sni: side.sni.clone(),
        trust: EnvoyTrustReport {
            root_ca: view.root_ca.as_ref().map(|r: &RootCa| r.source.clone()),
            verify_subject_alt_name: view.verify_subject_alt_name.clone(),
            chain_verified,
            san_matched,
        },
        negotiated,
        problems: plan.problems,
        handshake_error,
        advice: plan.advice.trim().to_string(),
        inconclusive,
        raw_hello: second_opinion,
        real: None,
    };
    (report, remediation)
}

/// `base` with every field `patch` sets replaced.
fn merged(base: &TlsParams, patch: &TlsParams) -> TlsParams {
    TlsParams {
        cipher_entries: patch
            .cipher_entries
            .clone()
            .or_else(|| base.cipher_entries.clone()),
        ecdh_curves: patch
            .ecdh_curves
            .clone()
            .or_else(|| base.ecdh_curves.clone()),
        min_version: patch.min_version.or(base.min_version),
        max_version: patch.max_version.or(base.max_version),
    }
}

/// A full handshake without SNI, beside the scan's named ones.
struct WithoutSni {
    name: String,
    outcome: Result<crate::probe::handshake::HandshakeInfo, String>,
}

async fn handshake_without_sni(target: &Target, cfg: &ScanConfig, name: &str) -> WithoutSni {
    let outcome = match OpensslProber::new(target.address, None, cfg.timeout) {
        Ok(p) => p.full_handshake(None).await,
        Err(e) => Err(e.to_string()),
    };
    WithoutSni {
        name: name.to_string(),
        outcome,
    }
}

impl WithoutSni {
    fn report(self, named: Option<&CertificateReport>) -> SniReport {
        let named_leaf = named
            .and_then(|c| c.chain.first())
            .map(|c| c.sha256.clone());
        let (without_sni, same_certificate, detail) = match self.outcome {
            Ok(info) if info.failure.is_none() || !info.chain.is_empty() => {
                let leaf = cert::parse_chain(&info.chain[..info.chain.len().min(1)])
                    .ok()
                    .and_then(|mut c| c.pop())
                    .map(|c| c.sha256);
                let same = named_leaf.zip(leaf).map(|(a, b)| a == b);
                let detail = match same {
                    Some(false) => "the server completes a handshake without SNI, with a different certificate than for the name".to_string(),
                    _ => "the server completes a handshake without SNI".to_string(),
                };
                (CipherStatus::Accepted, same, detail)
            }
            Ok(info) => match info.failure {
                Some(e) if info.alert.is_some() || is_server_alert(&e) => (
                    CipherStatus::Rejected,
                    None,
                    format!("the server refuses a handshake without SNI: {e}"),
                ),
                Some(e) => (
                    CipherStatus::Inconclusive,
                    None,
                    format!("no TLS answer without SNI: {e}"),
                ),
                None => (
                    CipherStatus::Accepted,
                    None,
                    "the server completes a handshake without SNI".into(),
                ),
            },
            Err(e) => (
                CipherStatus::Inconclusive,
                None,
                format!("no TLS answer without SNI: {e}"),
            ),
        };
        SniReport {
            name: self.name,
            without_sni,
            same_certificate,
            detail,
        }
    }
}

/// The certificate chain and client authentication: one full handshake without a client certificate
/// (what Envoy without a secret sees), and one with `--cert`/`--key` when given.
async fn inspect_certificates(
    prober: &OpensslProber,
    target: &Target,
    cfg: &CertConfig,
) -> (
    Option<CertificateReport>,
    Option<ClientAuthReport>,
    Vec<Finding>,
) {
    let mut findings = Vec::new();
    let info = match prober.full_handshake(None).await {
        Ok(i) => i,
        Err(e) => {
            findings.push(Finding::new(
                "cert.unavailable",
                Severity::Warning,
                format!("cipher-test could not complete a handshake to read the certificate: {e}"),
            ));
            return (None, None, findings);
        }
    };
    let ip = target.host_port.host.parse::<std::net::IpAddr>().ok();
    let host = target
        .sni
        .clone()
        .or_else(|| ip.is_none().then(|| target.host_port.host.clone()));
    let certificate = if info.chain.is_empty() {
        findings.push(Finding::new(
            "cert.unavailable",
            Severity::Warning,
            match &info.failure {
                Some(e) => {
                    format!("the server sent no certificate before the handshake failed: {e}")
                }
                None => {
                    "the server sent no certificate (an anonymous or PSK suite was chosen)".into()
                }
            },
        ));
        None
    } else {
        // Path checks are quadratic in the chain length: judge at most 150 certificates.
        const MAX_CHAIN: usize = 150;
        if info.chain.len() > MAX_CHAIN {
            findings.push(Finding::new(
                "cert.chain_too_long",
                Severity::Warning,
                format!(
                    "The server sent {} certificates; only the first {MAX_CHAIN} were checked. Serve the leaf and its intermediates only.",
                    info.chain.len()
                ),
            ));
        }
        let chain = &info.chain[..info.chain.len().min(MAX_CHAIN)];
        let check = CertCheck {
            chain,
            anchors: &cfg.anchors,
            host: host.as_deref(),
            ip,
            now: crate::util::now_unix(),
            warn_days: cfg.warn_days,
            ocsp_stapled: info.ocsp_staple.is_some(),
        };
        match cert::evaluate(&check) {
            Ok((report, mut f)) => {
                findings.append(&mut f);
                if report.trusted && matches!(cfg.anchors, TrustAnchors::Pem(_)) {
                    findings.push(Finding::new(
                        "gloo.root_ca",
                        Severity::Info,
                        "The chain verifies against the --ca-file CAs. To have Envoy verify it the same way, \
                         put that file in the secret's ca.crt (glooctl create secret tls NAME --rootca CA.pem) \
                         and set sslConfig.verifySubjectAltName: `cipher-test remediate --ca-file CA.pem \
                         --secret NAME` writes both.",
                    ));
                }
                Some(report)
            }
            Err(e) => {
                findings.push(Finding::new("cert.invalid", Severity::Error, e.to_string()));
                None
            }
        }
    };

    let request = &info.request;
    // Required only when the server refused with an alert after asking; a network failure tells
    // nothing either way.
    let required = match (&info.failure, request.requested) {
        (None, _) => Some(false),
        (Some(e), true) if is_server_alert(e) => Some(true),
        _ => None,
    };
    let cas = if request.acceptable_cas.is_empty() {
        String::new()
    } else {
        format!(
            " It accepts certificates issued by: {}.",
            request.acceptable_cas.join("; ")
        )
    };
    match required {
        Some(true) => findings.push(Finding::new(
            "client_auth.required",
            Severity::Error,
            format!(
                "The upstream requires a client certificate (mTLS) and refuses the handshake without one.{cas} \
                 Envoy presents one only when sslConfig.secretRef names a kubernetes.io/tls secret with tls.crt \
                 and tls.key: kubectl create secret tls NAME --cert=client.crt --key=client.key -n NAMESPACE \
                 (or glooctl create secret tls NAME --certchain client.crt --privatekey client.key), then \
                 cipher-test remediate --secret NAME. Check the certificate first with --cert/--key."
            ),
        )),
        Some(false) if request.requested => findings.push(Finding::new(
            "client_auth.optional",
            Severity::Info,
            format!("The upstream asks for a client certificate but also accepts connections without one.{cas}"),
        )),
        _ => {}
    }
    let presented = match &cfg.client_certificate {
        None => None,
        Some(cc) => {
            let subject = cc
                .chain
                .first()
                .and_then(|c| cert::parse_chain(&[c.to_der().unwrap_or_default()]).ok())
                .and_then(|mut v| v.pop())
                .map(|c| c.subject)
                .unwrap_or_default();
            let result = prober.full_handshake(Some(cc)).await;
            let (accepted, error) = match result {
                Ok(i) => (i.failure.is_none(), i.failure),
                Err(e) => (false, Some(e)),
            };
            if accepted {
                findings.push(Finding::new(
                    "client_auth.accepted",
                    Severity::Info,
                    format!("The upstream accepts the client certificate {subject}: put it and its key in the kubernetes.io/tls secret that sslConfig.secretRef names."),
                ));
            } else {
                findings.push(Finding::new(
                    "client_auth.rejected",
                    Severity::Error,
                    format!(
                        "The upstream refused the client certificate {subject}: {}. Use a certificate issued by a CA the upstream trusts{}.",
                        error.clone().unwrap_or_default(),
                        if request.acceptable_cas.is_empty() { String::new() } else { format!(" ({})", request.acceptable_cas.join("; ")) }
                    ),
                ));
            }
            Some(PresentedCertificate {
                subject,
                accepted,
                error,
            })
        }
    };
    findings.sort_by_key(|f| f.severity);
    let client_auth = ClientAuthReport {
        requested: request.requested,
        required,
        acceptable_cas: request.acceptable_cas.clone(),
        client_certificate: presented,
    };
    (certificate, Some(client_auth), findings)
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
        engine: None,
    }
}

/// Status, reason and alert of a probe outcome.
fn judged(outcome: ProbeOutcome, attempts: u32) -> (CipherStatus, String, Option<u8>) {
    match outcome {
        ProbeOutcome::Accepted(a) => {
            let how = if a.hello_retry {
                "chosen by the server in a HelloRetryRequest"
            } else {
                "chosen by the server in its ServerHello"
            };
            (CipherStatus::Accepted, how.into(), None)
        }
        ProbeOutcome::Rejected(r) => {
            let alert = match r {
                Refusal::Alert(a) => Some(a.description),
                Refusal::OlderVersion { .. } => None,
            };
            (CipherStatus::Rejected, r.to_string(), alert)
        }
        ProbeOutcome::Inconclusive(why) => {
            let reason = if attempts > 1 {
                format!("{why} ({attempts} attempts)")
            } else {
                why.to_string()
            };
            (CipherStatus::Inconclusive, reason, None)
        }
    }
}

fn finished(
    p: Protocol,
    suite: &CipherSuite,
    outcome: ProbeOutcome,
    attempts: u32,
) -> CipherResult {
    let (status, reason, alert) = judged(outcome, attempts);
    row(p, suite, status, reason, alert, attempts)
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
