//! `cipher-test check`: a CI gate and fleet audit. Turns targets (command line, a targets file, Gloo
//! Upstream manifests) into scans run concurrently under one connection bound, judges each report
//! against a policy, and renders the verdicts (table, JSON, JUnit, remediation YAML).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::rule::Rule;
use super::scan::TargetError;
use crate::envoy::verdict::{ProblemKind, Verdict};
use crate::envoy::view::{EnvoySni, RootCa};
use crate::envoy::TlsParams;
use crate::gloo::{self, SecretRef, UpstreamInfo, UpstreamTarget};
use crate::scan::ScanError;
use crate::scan::{CipherStatus, ScanConfig, ScanReport, SCHEMA_VERSION};
use crate::target::{parse_host_port, HostPort, SniChoice};
use crate::tls::catalog::catalog;

/// The most targets one run accepts.
pub const MAX_TARGETS: usize = 10_000;

/// What "Envoy connects" means for the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requirement {
    /// Envoy with the Upstream's own parameters (or the defaults) connects.
    Compatible,
    /// Envoy connects with its default parameters: no Upstream customisation needed.
    NoPatch,
}

/// Suite classes a policy can forbid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Forbid {
    /// CBC with a SHA-1 MAC, and RSA key transport.
    Weak,
    /// 3DES, RC4, NULL, anonymous and EXPORT suites.
    Insecure,
    /// Grade B or worse: anything but forward secrecy with AEAD.
    GradeB,
    /// Grade C or worse: no forward secrecy, or CBC with SHA-1.
    GradeC,
    /// Grade D or worse: no forward secrecy and CBC with SHA-1.
    GradeD,
    /// Grade F: broken ciphers.
    GradeF,
}

impl Forbid {
    /// Whether `suite` falls in this class.
    fn covers(self, suite: &crate::tls::catalog::CipherSuite) -> bool {
        use crate::tls::catalog::Strength;
        match self {
            Forbid::Weak => suite.is_weak(),
            Forbid::Insecure => suite.is_insecure(),
            Forbid::GradeB => suite.strength() >= Strength::B,
            Forbid::GradeC => suite.strength() >= Strength::C,
            Forbid::GradeD => suite.strength() >= Strength::D,
            Forbid::GradeF => suite.strength() >= Strength::F,
        }
    }

    /// The class as the failure names it.
    fn name(self) -> &'static str {
        match self {
            Forbid::Weak => "weak",
            Forbid::Insecure => "insecure",
            Forbid::GradeB => "grade B or worse",
            Forbid::GradeC => "grade C or worse",
            Forbid::GradeD => "grade D or worse",
            Forbid::GradeF => "grade F",
        }
    }
}

/// The policy every target must meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub envoy: String,
    pub require: Requirement,
    pub min_cert_days: u32,
    pub forbid: Vec<Forbid>,
    pub require_trusted: bool,
    /// Everything else that decides a verdict (the root CA, the SNI Envoy is assumed to send,
    /// which addresses, the versions, whether a real Envoy judged), so that `merge` only joins
    /// shards judged alike. Empty in reports written before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub judged_with: String,
}

/// The Upstream a target comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamRef {
    pub name: String,
    pub namespace: String,
    /// The Upstream names a TLS secret (so Envoy presents a client certificate, if it holds one).
    pub has_secret: bool,
}

/// One thing to check.
#[derive(Debug, Clone)]
pub struct CheckTarget {
    pub host_port: HostPort,
    pub sni: SniChoice,
    /// Where to connect instead of resolving the host (`--resolve`, or one address of several).
    pub address: Option<SocketAddr>,
    /// The addresses `--resolve` gives the name (all of them are checked with `--addresses all`).
    pub resolved: Vec<SocketAddr>,
    /// Which address of how many this target is, when its name has several.
    pub of_addresses: Option<(usize, usize)>,
    pub upstream: Option<UpstreamRef>,
    /// The Upstream's own `sslConfig.parameters`.
    pub params: TlsParams,
    /// The Upstream's parameters cannot work in Envoy at all (e.g. a name BoringSSL rejects).
    pub params_error: Option<String>,
    /// The SNI Envoy sends, when the Upstream says (`None`: as the command line says).
    pub envoy_sni: Option<EnvoySni>,
    /// The Upstream's `sslConfig.verifySubjectAltName`.
    pub verify_subject_alt_name: Vec<String>,
    /// A host of a static Upstream (an SNI fix goes to its `sniAddr`).
    pub static_host: bool,
    /// Where the target was written (a targets-file line, an Upstream's first line).
    pub source: Option<Source>,
}

/// A place in an input file: its path as given (`-`: standard input) and a line, from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub file: String,
    pub line: u64,
}

impl CheckTarget {
    /// A plain target as a targets file writes it: `host:port`, and `sni=NAME` (`sni=-`: none) when
    /// it is not the host's own, so that one server scanned under several names is several targets.
    fn name(&self) -> String {
        let hp = self.host_port.display();
        match &self.sni {
            SniChoice::Name(n) if !n.eq_ignore_ascii_case(&self.host_port.host) => {
                format!("{hp} sni={n}")
            }
            SniChoice::None if !self.host_port.is_ip() => format!("{hp} sni=-"),
            _ => hp,
        }
    }

    /// `namespace/name host:port` for Upstreams, [`Self::name`] otherwise, and the address when the
    /// name has several.
    pub fn label(&self) -> String {
        let base = match &self.upstream {
            Some(u) => format!("{}/{} {}", u.namespace, u.name, self.host_port.display()),
            None => self.name(),
        };
        match (self.of_addresses, self.address) {
            (Some((_, n)), Some(a)) if n > 1 => format!("{base} ({})", a.ip()),
            _ => base,
        }
    }
}

/// One target per address of each name (`--addresses all`; the first only otherwise), from
/// `--resolve` or DNS; and, per expanded target, the index of the name it came from. A name that
/// does not resolve stays one target, whose scan reports why.
async fn expand_addresses(
    targets: Vec<CheckTarget>,
    every: bool,
) -> (Vec<CheckTarget>, Vec<usize>) {
    let mut out = Vec::new();
    let mut groups = Vec::new();
    for (i, t) in targets.into_iter().enumerate() {
        let mut addrs: Vec<SocketAddr> = if !t.resolved.is_empty() {
            t.resolved.clone()
        } else {
            crate::target::resolve_all(&t.host_port)
                .await
                .unwrap_or_default()
        };
        if !every {
            addrs.truncate(1);
        }
        if addrs.is_empty() {
            out.push(t);
            groups.push(i);
            continue;
        }
        let n = addrs.len();
        for (k, a) in addrs.into_iter().enumerate() {
            let mut one = t.clone();
            one.address = Some(a);
            one.of_addresses = Some((k, n));
            out.push(one);
            groups.push(i);
        }
    }
    (out, groups)
}

/// What must be the same at every address of one name for Envoy to meet the same upstream: the
/// accepted suites, the leaf certificate, the verdict.
/// A name whose addresses answer differently is a mixed fleet: Envoy may reach any of them, so
/// every one of its targets fails, saying what differs.
fn flag_disagreeing_addresses(targets: &mut [TargetResult], groups: &[usize]) {
    let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        by_group.entry(*g).or_default().push(i);
    }
    for members in by_group.values().filter(|m| m.len() > 1) {
        let reports: Vec<Option<&ScanReport>> = members
            .iter()
            .map(|&i| targets[i].report.as_ref())
            .collect();
        let what = crate::scan::differences(&reports);
        if what.is_empty() {
            continue;
        }
        let reason = format!(
            "the {} addresses of this name disagree ({}): a mixed fleet behind one name, and Envoy \
             may connect to any of them; make them serve alike",
            members.len(),
            what.join(", ")
        );
        for &i in members {
            targets[i]
                .findings
                .push(Rule::AddressesDisagree, reason.clone());
            if targets[i].result == Outcome::Pass {
                targets[i].result = Outcome::Fail;
            }
        }
    }
}

/// A target from the command line or a targets file.
pub fn plain_target(hp: HostPort, sni: SniChoice) -> CheckTarget {
    CheckTarget {
        host_port: hp,
        sni,
        address: None,
        resolved: Vec::new(),
        of_addresses: None,
        upstream: None,
        params: TlsParams::default(),
        params_error: None,
        envoy_sni: None,
        verify_subject_alt_name: Vec::new(),
        static_host: false,
        source: None,
    }
}

/// Parses a targets file: one `HOST[:PORT] [sni=NAME]` per line; blank lines and `#` comments skipped.
pub fn parse_targets_file(text: &str, source: &str) -> Result<Vec<CheckTarget>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |m: String| format!("{source} line {}: {m}", i + 1);
        let mut words = line.split_whitespace();
        let hp =
            parse_host_port(words.next().unwrap_or_default()).map_err(|e| err(e.to_string()))?;
        let mut sni = SniChoice::Auto;
        for w in words {
            match w.split_once('=') {
                Some(("sni", "")) | Some(("sni", "-")) => sni = SniChoice::None,
                Some(("sni", name)) => sni = SniChoice::Name(name.to_string()),
                _ => return Err(err(format!("unexpected '{w}' (expected sni=NAME)"))),
            }
        }
        out.push(CheckTarget {
            source: Some(Source {
                file: source.to_string(),
                line: i as u64 + 1,
            }),
            ..plain_target(hp, sni)
        });
        if out.len() > MAX_TARGETS {
            return Err(format!("{source}: more than {MAX_TARGETS} targets"));
        }
    }
    Ok(out)
}

/// Parses `--resolve NAME:PORT=ADDR` (ADDR is an IP, `IP:PORT` or `[IPV6]:PORT`; without a port the
/// target's own port is used).
pub fn parse_resolve(text: &str) -> Result<((String, u16), Vec<SocketAddr>), String> {
    let bad = || {
        format!("--resolve '{text}': expected NAME:PORT=ADDR, e.g. api.default.svc.cluster.local:443=127.0.0.1:8443")
    };
    let (from, to) = text.split_once('=').ok_or_else(bad)?;
    let hp = parse_host_port(from).map_err(|_| bad())?;
    if !from.contains(':') {
        return Err(bad());
    }
    let addrs = to
        .split(',')
        .map(|one| match one.trim().parse::<IpAddr>() {
            Ok(ip) => Ok(SocketAddr::new(ip, hp.port)),
            Err(_) => one.trim().parse::<SocketAddr>().map_err(|_| bad()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(((hp.host.to_ascii_lowercase(), hp.port), addrs))
}

/// The targets of Gloo Upstreams that use TLS: each static host with the SNI Envoy would send, or
/// the Kubernetes Service's cluster DNS name, judged against the Upstream's own parameters.
pub fn upstream_targets(infos: &[UpstreamInfo], file: Option<&str>) -> Vec<CheckTarget> {
    let mut out = Vec::new();
    for u in infos.iter().filter(|u| u.uses_tls) {
        let (params, params_error) = match crate::gloo::tls_params(&u.parameters) {
            Ok(p) => (p, None),
            Err(e) => (TlsParams::default(), Some(e)),
        };
        let upstream = UpstreamRef {
            name: u.name.clone(),
            namespace: u.namespace.clone(),
            has_secret: u.secret.is_some(),
        };
        // Static hosts are scanned with the name Envoy sends; a Kubernetes Service with
        // sslConfig.sni, else its cluster DNS name, whatever Envoy sends (the verdict tells).
        let hosts: Vec<(String, u16, Option<String>, EnvoySni)> = match &u.target {
            UpstreamTarget::Static(hosts) => hosts
                .iter()
                .map(|h| {
                    let envoy_sni = u.envoy_sni(Some(h));
                    let (name, _) = envoy_sni.resolve(&h.addr, None);
                    // Scanned with sslConfig.sni when it is set and Envoy sends another name, so
                    // that a server that needs it can still be scanned (the verdict tells).
                    let scanned = u.sni.clone().or(name);
                    (h.addr.clone(), h.port, scanned, envoy_sni)
                })
                .collect(),
            UpstreamTarget::Kube {
                service_name,
                service_namespace,
                service_port,
            } => {
                let dns = format!("{service_name}.{service_namespace}.svc.cluster.local");
                let scanned = u.sni.clone().unwrap_or_else(|| dns.clone());
                vec![(dns, *service_port, Some(scanned), u.envoy_sni(None))]
            }
        };
        for (host, port, sni, envoy_sni) in hosts {
            out.push(CheckTarget {
                host_port: HostPort { host, port },
                sni: sni.map(SniChoice::Name).unwrap_or(SniChoice::None),
                address: None,
                resolved: Vec::new(),
                of_addresses: None,
                upstream: Some(upstream.clone()),
                params: params.clone(),
                params_error: params_error.clone(),
                envoy_sni: Some(envoy_sni),
                verify_subject_alt_name: u.verify_subject_alt_name.clone(),
                static_host: matches!(u.target, UpstreamTarget::Static(_)),
                source: file.zip(u.line).map(|(file, line)| Source {
                    file: file.to_string(),
                    line,
                }),
            });
        }
    }
    out
}

/// Why a target failed or erred: each reason says what to change, and `rules[i]` names the rule
/// `reasons[i]` breaks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    pub reasons: Vec<String>,
    pub rules: Vec<Rule>,
}

impl Findings {
    /// One finding.
    pub fn one(rule: Rule, reason: impl Into<String>) -> Self {
        let mut f = Findings::default();
        f.push(rule, reason);
        f
    }

    pub fn push(&mut self, rule: Rule, reason: impl Into<String>) {
        self.reasons.push(reason.into());
        self.rules.push(rule);
    }

    pub fn append(&mut self, other: Findings) {
        self.reasons.extend(other.reasons);
        self.rules.extend(other.rules);
    }

    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }

    /// Each reason with its rule.
    pub fn iter(&self) -> impl Iterator<Item = (Rule, &str)> {
        self.rules
            .iter()
            .copied()
            .zip(self.reasons.iter().map(String::as_str))
    }
}

/// pass, fail or error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Error,
}

/// One target's result. `R` is the scan report: typed when made here, plain JSON when read back
/// from a file (`merge`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetResult<R = ScanReport> {
    pub target: String,
    pub host: String,
    pub port: u16,
    pub upstream: Option<UpstreamRef>,
    /// Where the target was written, when it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub result: Outcome,
    /// Why it failed or erred (empty when it passed).
    #[serde(flatten)]
    pub findings: Findings,
    /// The full scan report (`null` when the scan could not run).
    pub report: Option<R>,
    /// How long this target took, scan and judgement.
    #[serde(default)]
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckSummary {
    pub targets: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub elapsed_ms: u64,
}

/// Which share of a sharded run a report holds (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// The `check --format json` document.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport<R = ScanReport> {
    pub schema_version: u32,
    pub tool_version: &'static str,
    pub kind: &'static str,
    pub policy: Policy,
    /// The share of a sharded run (absent for a whole run, and for a merged one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub targets: Vec<TargetResult<R>>,
    pub summary: CheckSummary,
}

impl<R> CheckReport<R> {
    /// A report of `targets` judged against `policy`, counted.
    pub fn new(policy: Policy, targets: Vec<TargetResult<R>>, elapsed: Duration) -> Self {
        let count = |o: Outcome| targets.iter().filter(|t| t.result == o).count();
        let summary = CheckSummary {
            targets: targets.len(),
            passed: count(Outcome::Pass),
            failed: count(Outcome::Fail),
            errors: count(Outcome::Error),
            elapsed_ms: elapsed.as_millis() as u64,
        };
        CheckReport {
            schema_version: SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION"),
            kind: "check",
            policy,
            shard: None,
            targets,
            summary,
        }
    }

    /// All pass, a policy failure, or an error or inconclusive result (an error beats a failure).
    pub fn status(&self) -> super::Status {
        if self.summary.errors > 0 {
            super::Status::Incomplete
        } else if self.summary.failed > 0 {
            super::Status::Findings
        } else {
            super::Status::Ok
        }
    }
}

fn problem_label(kind: ProblemKind) -> &'static str {
    kind.label()
}

/// A one-line summary of a patch: what it adds or sets.
fn describe_patch(params: &TlsParams, report: &ScanReport) -> String {
    let mut parts = Vec::new();
    if let Some(v) = params.min_version {
        parts.push(format!(
            "minimumProtocolVersion {}",
            gloo::gloo_version_name(v).unwrap_or("?")
        ));
    }
    if let Some(v) = params.max_version {
        parts.push(format!(
            "maximumProtocolVersion {}",
            gloo::gloo_version_name(v).unwrap_or("?")
        ));
    }
    if let Some(entries) = &params.cipher_entries {
        let defaults = report
            .envoy
            .as_ref()
            .and_then(|e| crate::envoy::profile(&e.profile))
            .map(|p| p.cipher_entries.len())
            .unwrap_or(0);
        let added: Vec<String> = entries
            .iter()
            .skip(defaults)
            .map(|e| e.to_string())
            .collect();
        parts.push(format!("append {} to cipherSuites", added.join(", ")));
    }
    if let Some(curves) = &params.ecdh_curves {
        parts.push(format!("ecdhCurves {}", curves.join(", ")));
    }
    parts.join("; ")
}

/// Judges one scan report against the policy.
pub fn evaluate(
    policy: &Policy,
    target: &CheckTarget,
    report: &ScanReport,
    now: i64,
) -> (Outcome, Findings) {
    let mut errors = Findings::default();
    let mut fails = Findings::default();
    if report.has_inconclusive() {
        let examples: Vec<String> = report
            .ciphers
            .iter()
            .filter(|c| c.status == CipherStatus::Inconclusive)
            .take(3)
            .map(|c| format!("{} {}: {}", c.protocol, c.openssl_name, c.reason))
            .collect();
        let what = if examples.is_empty() {
            "a group probe or a handshake as Envoy got no TLS answer".to_string()
        } else {
            format!(
                "{} probes stayed inconclusive (e.g. {})",
                report.summary.inconclusive,
                examples.join("; ")
            )
        };
        errors.push(
            Rule::Inconclusive,
            format!(
            "{what}, so the result cannot be trusted; rerun with a longer --timeout or more --retries"
        ),
        );
    }
    if let Some(real) = report
        .envoy
        .as_ref()
        .and_then(|e| e.real.as_ref())
        .filter(|r| !r.agrees)
    {
        errors.push(
            Rule::RealEnvoy,
            format!(
                "a real {} disagrees with cipher-test's simulation ({}); its outcome stands",
                real.envoy,
                real.disagreement.as_deref().unwrap_or("no detail")
            ),
        );
    }
    if let Some(e) = &target.params_error {
        fails.push(
            Rule::ParametersRejected,
            format!("the Upstream's sslConfig.parameters would fail Envoy's config load: {e}"),
        );
    }
    if let Some(envoy) = &report.envoy {
        let mut problems: Vec<_> = envoy.problems.iter().collect();
        // The Upstream names a TLS secret: assume it carries the client certificate the upstream wants.
        if target.upstream.as_ref().is_some_and(|u| u.has_secret) {
            problems.retain(|p| p.kind != ProblemKind::ClientCertificate);
        }
        let connects = envoy.verdict == Verdict::Compatible
            || (envoy.verdict == Verdict::NeedsPatch
                && problems.is_empty()
                && report
                    .remediation
                    .as_ref()
                    .is_some_and(|r| r.params.is_empty()));
        if !connects {
            let how = match policy.require {
                Requirement::Compatible if target.upstream.is_some() => {
                    "with the Upstream's own parameters"
                }
                Requirement::Compatible => "with its default parameters",
                Requirement::NoPatch => "with its default parameters (--require no-patch)",
            };
            let what: Vec<&str> = problems.iter().map(|p| problem_label(p.kind)).collect();
            let fix = match (&report.remediation, envoy.verdict) {
                (Some(r), _) if !r.params.is_empty() || r.sni.is_some() => {
                    let mut parts = Vec::new();
                    if let Some(n) = &r.sni {
                        parts.push(format!("set sslConfig.sni: {n}"));
                    }
                    if !r.params.is_empty() {
                        parts.push(describe_patch(&r.params, report));
                    }
                    format!(
                        "{} (cipher-test remediate {} prints the patch)",
                        parts.join("; "),
                        target.host_port.display()
                    )
                }
                _ if problems
                    .iter()
                    .all(|p| p.kind == ProblemKind::ClientCertificate) =>
                {
                    "add sslConfig.secretRef to a kubernetes.io/tls secret with the client certificate"
                        .into()
                }
                _ => envoy.advice.clone(),
            };
            let rule = problems
                .first()
                .map_or(Rule::HandshakeFailure, |p| p.kind.into());
            fails.push(
                rule,
                format!(
                    "Envoy ({}) would not connect {how}: {}; fix: {fix}",
                    envoy.profile,
                    if what.is_empty() {
                        "handshake failure".to_string()
                    } else {
                        what.join(", ")
                    }
                ),
            );
        }
    }
    if let Some(cert) = &report.certificate {
        let earliest = cert.chain.iter().map(|c| c.not_after_unix).min();
        if let Some(t) = earliest {
            let days = (t - now).div_euclid(86_400);
            if t <= now {
                fails.push(
                    Rule::CertificateExpired,
                    "the certificate has expired: renew it",
                );
            } else if days < i64::from(policy.min_cert_days) {
                fails.push(
                    Rule::CertificateExpiring,
                    format!(
                        "the certificate expires in {days} day{} (policy: at least {}): renew it",
                        if days == 1 { "" } else { "s" },
                        policy.min_cert_days
                    ),
                );
            }
        }
        if policy.require_trusted {
            if !cert.trusted {
                fails.push(Rule::CertificateUntrusted, format!(
                    "the certificate is not trusted ({}): serve a chain that verifies against the CA Envoy uses (rootCa)",
                    cert.verify_error.as_deref().unwrap_or("verification failed")
                ));
            }
            if cert.hostname_match == Some(false) {
                fails.push(Rule::CertificateName, "the certificate does not match the host name (verifySubjectAltName would fail)");
            }
        }
    } else if policy.require_trusted {
        fails.push(
            Rule::CertificateUnreadable,
            "no certificate could be read to check trust",
        );
    }
    for class in &policy.forbid {
        let bad: Vec<String> = report
            .ciphers
            .iter()
            .filter(|c| c.status == CipherStatus::Accepted)
            .filter_map(|c| catalog().by_code(c.code).map(|s| (c.protocol, s)))
            .filter(|(_, s)| class.covers(s))
            .map(|(p, s)| format!("{} {}", p.name(), s.openssl_name))
            .collect();
        if !bad.is_empty() {
            let name = class.name();
            fails.push(
                Rule::ForbiddenSuites,
                format!(
                    "the upstream accepts {name} suites ({}): disable them on the upstream",
                    bad.join(", ")
                ),
            );
        }
    }
    if !errors.is_empty() {
        errors.append(fails);
        (Outcome::Error, errors)
    } else if !fails.is_empty() {
        (Outcome::Fail, fails)
    } else {
        (Outcome::Pass, Findings::default())
    }
}

/// Scans every target concurrently (at most `max_connections` probe connections in flight across
/// all of them, and `base.concurrency` per host) and judges each.
pub async fn run(
    targets: Vec<CheckTarget>,
    policy: Policy,
    mut base: ScanConfig,
    max_connections: usize,
    all_rows: bool,
    every_address: bool,
) -> CheckReport {
    let started = Instant::now();
    let (targets, groups) = expand_addresses(targets, every_address).await;
    base.global_permits = Some(Arc::new(Semaphore::new(max_connections.max(1))));
    base.progress = false;
    let policy = Arc::new(policy);
    // At most `max_connections` targets in flight: their preflight, certificate and Envoy handshakes
    // are connections too, and each target holds a few sockets at once.
    let targets_in_flight = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut set = tokio::task::JoinSet::new();
    // Every target starts as an error: one whose task dies stays one, since a gate must never pass
    // by omission.
    let mut results: Vec<TargetResult> = targets
        .iter()
        .map(|t| TargetResult {
            target: t.label(),
            host: t.host_port.host.clone(),
            port: t.host_port.port,
            upstream: t.upstream.clone(),
            source: t.source.clone(),
            result: Outcome::Error,
            findings: Findings::one(
                Rule::ScanFailed,
                "internal error: the scan of this target stopped unexpectedly",
            ),
            report: None,
            elapsed_ms: 0,
        })
        .collect();
    for (i, target) in targets.into_iter().enumerate() {
        let mut cfg = base.clone();
        if let Some(envoy) = cfg.envoy.as_mut() {
            envoy.view.params = match policy.require {
                Requirement::Compatible => target.params.clone(),
                Requirement::NoPatch => TlsParams::default(),
            };
            if let Some(sni) = &target.envoy_sni {
                envoy.view.sni = sni.clone();
            }
            if let Some(up) = &target.upstream {
                // Envoy verifies only with a root CA, which lives in the Upstream's secret
                // (ca.crt): --ca-file stands in for it there, and nowhere else.
                envoy.view.root_ca = match (&envoy.view.root_ca, up.has_secret) {
                    (Some(ca), true) => Some(RootCa {
                        certificates: ca.certificates.clone(),
                        source: format!("{}, standing in for the secret's ca.crt", ca.source),
                    }),
                    _ => None,
                };
                envoy.view.static_upstream = target.static_host;
                if up.has_secret && envoy.view.root_ca.is_none() {
                    envoy.view.trust_unknown = Some(
                        "the Upstream names a secret, which may hold a ca.crt: then Envoy verifies the chain and \
                         verifySubjectAltName; pass that CA with --ca-file to judge it"
                            .into(),
                    );
                }
                // Gloo refuses verifySubjectAltName without a root CA.
                envoy.view.verify_subject_alt_name = if envoy.view.root_ca.is_some() {
                    target.verify_subject_alt_name.clone()
                } else {
                    Vec::new()
                };
            }
            // One real Envoy judges every target at the end, not one per target.
            envoy.real = None;
        }
        let slots = Arc::clone(&targets_in_flight);
        set.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let t0 = Instant::now();
            let mut scanned =
                super::scan::scan_target_at(&target.host_port, &target.sni, &cfg, target.address)
                    .await;
            // A fleet's report holds what its reader needs: a gate over a thousand targets
            // would otherwise carry some 600 rows each.
            if let (Ok(report), false) = (scanned.as_mut(), all_rows) {
                report.keep_interesting_rows();
            }
            (i, target, cfg.envoy, scanned, t0.elapsed())
        });
    }
    let mut scanned = BTreeMap::new();
    while let Some(r) = set.join_next().await {
        if let Ok((i, target, envoy, result, elapsed)) = r {
            scanned.insert(i, (target, envoy, result, elapsed));
        }
    }
    let mut real_error = None;
    if let Some(bin) = base.envoy.as_ref().and_then(|e| e.real.as_ref()) {
        let mut items: Vec<(&mut ScanReport, &crate::scan::EnvoyRequest)> = scanned
            .values_mut()
            .filter_map(|(_, envoy, result, _)| match (result, envoy.as_ref()) {
                (Ok(report), Some(req)) => Some((report, req)),
                _ => None,
            })
            .collect();
        if let Err(e) = crate::scan::real::confirm(&mut items, bin, base.timeout * 2).await {
            real_error = Some(e.to_string());
        }
    }
    for (i, (target, _, result, elapsed)) in scanned {
        let (outcome, findings, report) = match result {
            Ok(report) => {
                let (o, mut r) = evaluate(&policy, &target, &report, crate::util::now_unix());
                match &real_error {
                    Some(e) => {
                        r.push(
                            Rule::RealEnvoy,
                            format!("the real Envoy could not judge: {e}"),
                        );
                        (Outcome::Error, r, Some(report))
                    }
                    None => (o, r, Some(report)),
                }
            }
            // An Upstream whose server refuses a hello without the name Envoy does not send
            // fails the gate: that is the finding, not a scan error.
            Err(TargetError::Scan(ScanError::SniRequired { sent, .. }))
                if target.upstream.is_some() =>
            {
                (
                    Outcome::Fail,
                    Findings::one(
                        Rule::SniRequired,
                        format!(
                        "Envoy would not connect: SNI required: the upstream refuses a handshake \
                         with SNI {sent}, which is what Envoy sends; fix: set sslConfig.sni (on a \
                         static Upstream, hosts[].sniAddr) to a name the upstream serves"
                    ),
                    ),
                    None,
                )
            }
            Err(e) => (
                Outcome::Error,
                Findings::one(Rule::ScanFailed, e.to_string()),
                None,
            ),
        };
        let done = &mut results[i];
        done.result = outcome;
        done.findings = findings;
        done.report = report;
        done.elapsed_ms = elapsed.as_millis() as u64;
    }
    flag_disagreeing_addresses(&mut results, &groups);
    CheckReport::new((*policy).clone(), results, started.elapsed())
}

/// The summary table for people.
pub fn render_table<R>(report: &CheckReport<R>) -> String {
    use tabled::builder::Builder;
    use tabled::settings::Style;
    let mut b = Builder::default();
    b.push_record(["Target", "Result", "Reasons"]);
    for t in &report.targets {
        let result = match t.result {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Error => "ERROR",
        };
        let reasons: String = t
            .findings
            .reasons
            .iter()
            .map(|r| {
                let wrapped = crate::render::table::wrap(&format!("- {r}"), 2, 90);
                wrapped.trim_start().to_string()
            })
            .collect();
        b.push_record([
            t.target.clone(),
            result.to_string(),
            reasons.trim_end().to_string(),
        ]);
    }
    let mut table = b.build();
    table.with(Style::psql());
    let s = &report.summary;
    format!(
        "{table}\n\n{} targets: {} passed, {} failed, {} errors in {}\n",
        s.targets,
        s.passed,
        s.failed,
        s.errors,
        crate::util::human_duration(Duration::from_millis(s.elapsed_ms))
    )
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// JUnit XML: one testcase per target; failures and errors say what to change.
pub fn render_junit<R>(report: &CheckReport<R>) -> String {
    let s = &report.summary;
    let secs = s.elapsed_ms as f64 / 1000.0;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"cipher-test check\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{secs:.3}\">\n",
        s.targets, s.failed, s.errors
    ));
    out.push_str(&format!(
        "  <testsuite name=\"cipher-test check (envoy {})\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{secs:.3}\">\n",
        xml_escape(&report.policy.envoy),
        s.targets,
        s.failed,
        s.errors
    ));
    for t in &report.targets {
        out.push_str(&format!(
            "    <testcase classname=\"cipher-test.check\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&t.target),
            t.elapsed_ms as f64 / 1000.0
        ));
        let body = xml_escape(&t.findings.reasons.join("\n"));
        let first = xml_escape(t.findings.reasons.first().map(String::as_str).unwrap_or(""));
        match t.result {
            Outcome::Pass => out.push_str("/>\n"),
            Outcome::Fail => out.push_str(&format!(
                ">\n      <failure message=\"{first}\" type=\"policy\">{body}</failure>\n    </testcase>\n"
            )),
            Outcome::Error => out.push_str(&format!(
                ">\n      <error message=\"{first}\" type=\"error\">{body}</error>\n    </testcase>\n"
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// The remediation of every failing target as YAML documents: a merge patch (with its kubectl line)
/// for Upstreams, a complete Upstream for plain targets, a comment where no setting can work.
pub fn render_yaml(report: &CheckReport) -> String {
    let mut docs = Vec::new();
    for t in report.targets.iter().filter(|t| t.result == Outcome::Fail) {
        let Some(r) = &t.report else { continue };
        let Some(rem) = &r.remediation else {
            if let Some(e) = &r.envoy {
                if e.verdict == Verdict::Incompatible {
                    docs.push(format!(
                        "# {}: no Envoy setting can work. {}\n",
                        t.target, e.advice
                    ));
                }
            }
            continue;
        };
        let params = crate::gloo::ssl_parameters(&rem.params);
        match &t.upstream {
            Some(u) => {
                let p = gloo::merge_patch(&u.name, &u.namespace, &params, None, None);
                docs.push(format!("# {}\n# {}\n{}", t.target, p.kubectl, p.yaml));
            }
            None => {
                let hp = HostPort {
                    host: t.host.clone(),
                    port: t.port,
                };
                let opts = gloo::UpstreamOptions {
                    name: crate::gloo::default_upstream_name(&hp),
                    namespace: gloo::DEFAULT_NAMESPACE.into(),
                    target: UpstreamTarget::Static(vec![gloo::StaticHost {
                        addr: t.host.clone(),
                        port: t.port,
                        sni_addr: None,
                    }]),
                    sni: r.target.sni.clone(),
                    secret: None::<SecretRef>,
                };
                docs.push(format!(
                    "# {}\n{}",
                    t.target,
                    gloo::upstream_manifest(&opts, &params)
                ));
            }
        }
    }
    if docs.is_empty() {
        return "# every target passed or needs no parameter change: nothing to patch\n".into();
    }
    docs.join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_files_take_sni_and_comments() {
        let t = parse_targets_file(
            "# fleet\napi.example.com:8443 sni=api.internal\n\n10.0.0.1 # db\n[::1]:4433 sni=-\n",
            "t",
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].sni, SniChoice::Name("api.internal".into()));
        assert_eq!(t[1].host_port.port, 443);
        assert_eq!(t[2].sni, SniChoice::None);
        let e = parse_targets_file("ok:1\nbad:port\n", "targets.txt").unwrap_err();
        assert!(e.starts_with("targets.txt line 2:"), "{e}");
        assert!(parse_targets_file("a:1 foo=bar", "t").is_err());
    }

    #[test]
    fn resolve_maps_names_to_addresses() {
        let ((h, p), a) =
            parse_resolve("api.default.svc.cluster.local:443=127.0.0.1:8443").unwrap();
        assert_eq!(
            (h.as_str(), p, a[0].to_string().as_str()),
            ("api.default.svc.cluster.local", 443, "127.0.0.1:8443")
        );
        let (_, a) = parse_resolve("x:443=127.0.0.2,127.0.0.3").unwrap();
        assert_eq!(
            a.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            ["127.0.0.2:443", "127.0.0.3:443"]
        );
        assert!(parse_resolve("x=127.0.0.1").is_err());
        assert!(parse_resolve("x:443=nowhere").is_err());
    }

    #[test]
    fn suite_classes() {
        let c = catalog();
        assert!(c.by_name("AES128-SHA").unwrap().is_weak());
        assert!(c.by_name("ECDHE-RSA-AES256-SHA").unwrap().is_weak());
        assert!(!c.by_name("ECDHE-RSA-AES128-GCM-SHA256").unwrap().is_weak());
        assert!(c.by_name("DES-CBC3-SHA").unwrap().is_insecure());
        assert!(c.by_name("RC4-SHA").unwrap().is_insecure());
        assert!(c.by_name("ADH-AES128-SHA").unwrap().is_insecure());
        assert!(c.by_name("NULL-SHA").unwrap().is_insecure());
        assert!(!c.by_name("AES128-SHA").unwrap().is_insecure());
    }
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFormat {
    /// A summary table: target, result, reasons.
    Table,
    /// One JSON document: every target's report and a summary.
    Json,
    /// The remediation YAML for every failing target.
    Yaml,
}

/// A validated `check` run.
#[derive(Debug)]
pub struct CheckRequest {
    pub targets: Vec<CheckTarget>,
    pub policy: Policy,
    pub config: ScanConfig,
    pub max_connections: usize,
    pub format: CheckFormat,
    pub files: ReportFiles,
    /// Colour the summary table.
    pub color: bool,
    /// Keep every suite row in the reports (`--all`), not only the accepted and inconclusive ones.
    pub all_rows: bool,
    /// Check every address of a name (`--addresses all`), not only the first.
    pub every_address: bool,
    /// The share of a sharded run (`--shard I/N`).
    pub shard: Option<Shard>,
}

/// Runs the request, prints the result and writes the JUnit file. A failed target is a finding;
/// a target that could not be judged makes the run incomplete.
pub async fn execute(req: CheckRequest) -> Result<super::Status, super::CmdError> {
    let report = run(
        req.targets,
        req.policy,
        req.config,
        req.max_connections,
        req.all_rows,
        req.every_address,
    )
    .await;
    let report = CheckReport {
        shard: req.shard,
        ..report
    };
    req.files.write(&report)?;
    match req.format {
        CheckFormat::Table => crate::output::print(&coloured_table(&report, req.color)),
        CheckFormat::Json => crate::output::print_json(&report),
        CheckFormat::Yaml => crate::output::print(&render_yaml(&report)),
    }
    .map_err(super::stdout_error)?;
    Ok(report.status())
}

/// Where a gate result's report files go (`--junit`, `--json-out`, `--sarif`).
#[derive(Debug, Default)]
pub struct ReportFiles {
    pub junit: Option<std::path::PathBuf>,
    pub json: Option<std::path::PathBuf>,
    pub sarif: Option<std::path::PathBuf>,
}

impl ReportFiles {
    /// Writes each file whole or not at all, before anything is printed: a run that cannot write
    /// them prints nothing.
    pub fn write<R: Serialize>(&self, report: &CheckReport<R>) -> Result<(), super::CmdError> {
        if let Some(path) = &self.junit {
            crate::output::write_file_atomically(path, |out| {
                out.write_all(render_junit(report).as_bytes())
            })
            .map_err(|e| super::file_error(path, e))?;
        }
        if let Some(path) = &self.json {
            crate::output::write_json_file(path, report).map_err(|e| super::file_error(path, e))?;
        }
        if let Some(path) = &self.sarif {
            crate::output::write_json_file(path, &super::sarif::render(report))
                .map_err(|e| super::file_error(path, e))?;
        }
        Ok(())
    }
}

/// The summary table, coloured when `color`.
pub fn coloured_table<R>(report: &CheckReport<R>, color: bool) -> String {
    crate::render::color::check_table(
        &render_table(report),
        crate::render::color::Painter::new(color),
    )
}

/// The Upstreams of namespace `ns` (every namespace for `None`), as `kubectl get upstreams -o yaml`
/// prints them (`$KUBECTL` names another kubectl).
pub fn kubectl_upstreams(ns: Option<&str>) -> Result<String, String> {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let mut cmd = std::process::Command::new(&kubectl);
    cmd.args([
        "get",
        "upstreams.gloo.solo.io",
        "-o",
        "yaml",
        "--request-timeout=30s",
    ]);
    match ns {
        Some(ns) => cmd.args(["-n", ns]),
        None => cmd.arg("--all-namespaces"),
    };
    let out = cmd.output().map_err(|e| {
        format!("cannot run {kubectl}: {e}; install kubectl, or pass the Upstreams with --upstreams FILE")
    })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        // kubectl often prints warnings and client-side log lines before the error itself.
        let lines: Vec<&str> = why.lines().filter(|l| !l.trim().is_empty()).collect();
        let why = lines
            .iter()
            .find(|l| l.starts_with("error") || l.starts_with("Error"))
            .or(lines.last())
            .copied()
            .unwrap_or("no message");
        return Err(format!(
            "{kubectl} get upstreams failed ({}): {why}",
            out.status
        ));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| format!("{kubectl} get upstreams printed no UTF-8 YAML"))
}

/// Parses `I/N` (0-based shard I of N).
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard '{text}': expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: usize = i.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The shard (of `count`) a target belongs to: every host of one Upstream goes together, keyed by
/// its namespace/name; a plain target by its [`CheckTarget::name`]. FNV-1a, so the split is the same everywhere.
pub fn shard_of(target: &CheckTarget, count: usize) -> usize {
    let key = match &target.upstream {
        Some(u) => format!("{}/{}", u.namespace, u.name),
        None => target.name(),
    };
    (crate::util::stable_hash(key.as_bytes()) % count as u64) as usize
}
