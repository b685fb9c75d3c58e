//! The scan report: the Serialize types of the JSON contract, [`SCHEMA_VERSION`], and what differs
//! between the reports of one name's addresses ([`differences`]).

use crate::cert::{CertificateReport, Finding};
use crate::envoy::verdict::{Problem, Verdict};
use crate::envoy::TlsParams;
use crate::probe::openssl::Negotiated;
use crate::tls::catalog::Strength;
use crate::tls::catalog::SuiteCode;
use crate::tls::protocol::Protocol;
use serde::Serialize;

use super::*;

/// The JSON schema version; it changes only when a field is removed or changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

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

/// The engine that probed one suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Openssl,
    Raw,
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
    /// The suite's strength grade, A (best) to F (broken): see `Strength`.
    pub strength: Strength,
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
    /// Rows left out of `ciphers` (`check` keeps only the accepted and inconclusive ones unless
    /// `--all`); their statuses are counted in `summary`.
    #[serde(skip_serializing_if = "is_zero")]
    pub ciphers_omitted: usize,
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
    /// Why the trust Envoy applies could not be judged, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
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
    /// The SNI fix belongs in `hosts[].sniAddr` (a static Upstream), not `sslConfig.sni`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub static_upstream: bool,
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
    /// Connections made besides the preflight's.
    pub connections: usize,
    /// Of them, dropped by the server: reset, closed or refused before any answer, or silent.
    pub dropped: usize,
    /// Of them, made again for a probe whose connection was dropped.
    pub retried: usize,
    /// What the drops show, when there were enough to tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitReport>,
    /// The time budget (`--budget`) ran out while probes were still being sent again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub budget_exhausted: bool,
}

/// A limit the server showed by what it dropped, and what the scan kept to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitReport {
    /// `concurrent_connections`, `new_connections_per_second`, `every_nth_connection` or
    /// `random_loss` (percent).
    pub kind: &'static str,
    pub value: usize,
    /// Connections at once the scan settled at.
    pub concurrency: usize,
    /// Milliseconds between starts the scan settled at (0: none).
    pub spacing_ms: u64,
    /// What it means for Envoy, in one line.
    pub advice: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ScanReport {
    /// Keeps only the accepted and inconclusive rows (what a gate's reader needs), counting the rest
    /// in `ciphers_omitted`.
    pub fn keep_interesting_rows(&mut self) {
        let before = self.ciphers.len();
        self.ciphers.retain(|c| {
            matches!(
                c.status,
                CipherStatus::Accepted | CipherStatus::Inconclusive
            )
        });
        self.ciphers_omitted += before - self.ciphers.len();
        // The capacity of ~600 rows would stay behind otherwise: ~75 KB a target in a fleet.
        self.ciphers.shrink_to_fit();
    }
}

/// What differs between the reports of one name's addresses: accepted suites, certificates,
/// Envoy verdicts, or whether they answer at all (`None`: no report). Empty when they agree, or
/// when the first address gave nothing to compare with.
pub fn differences(reports: &[Option<&ScanReport>]) -> Vec<&'static str> {
    type Fingerprint = (
        Vec<String>,
        Option<String>,
        Option<crate::envoy::verdict::Verdict>,
    );
    let fingerprint = |report: &ScanReport| -> Fingerprint {
        let accepted = report
            .ciphers
            .iter()
            .filter(|c| c.status == CipherStatus::Accepted)
            .map(|c| format!("{} {}", c.protocol, c.openssl_name))
            .collect();
        let leaf = report
            .certificate
            .as_ref()
            .and_then(|c| c.chain.first())
            .map(|c| c.sha256.clone());
        (accepted, leaf, report.envoy.as_ref().map(|e| e.verdict))
    };
    let prints: Vec<Option<Fingerprint>> = reports.iter().map(|r| r.map(fingerprint)).collect();
    let Some(Some(first)) = prints.first() else {
        return Vec::new();
    };
    let answered: Vec<&Fingerprint> = prints.iter().flatten().collect();
    let mut what = Vec::new();
    if answered.iter().any(|p| p.0 != first.0) {
        what.push("accepted suites");
    }
    if answered.iter().any(|p| p.1 != first.1) {
        what.push("certificates");
    }
    if answered.iter().any(|p| p.2 != first.2) {
        what.push("Envoy verdicts");
    }
    if answered.len() < prints.len() {
        what.push("whether they answer at all");
    }
    what
}
