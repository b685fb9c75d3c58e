//! `cipher-test remediate`: scan, judge against an Envoy profile (and the Upstream's own parameters
//! when `-f` gives one), then print the Gloo YAML that makes Envoy connect, in the form asked for.

use super::scan::scan_target;
use super::{CmdError, Status};
use crate::envoy::verdict::{ProblemKind, Verdict};
use crate::envoy::view::EnvoySni;
use crate::gloo::{
    self, default_upstream_name, ssl_parameters, tls_params, SecretRef, StaticHost,
    UpstreamOptions, UpstreamTarget,
};
use crate::scan::ScanConfig;
use crate::target::{HostPort, SniChoice};

/// The YAML forms `remediate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// A complete gloo.solo.io/v1 Upstream.
    Upstream,
    /// A merge patch and the `kubectl patch` command that applies it.
    Patch,
    /// The Kubernetes Service annotation (gloo.solo.io/upstream_config).
    Annotation,
}

/// A validated `remediate` request.
#[derive(Debug)]
pub struct Request {
    pub target: HostPort,
    pub sni: SniChoice,
    pub config: ScanConfig,
    pub emit: Emit,
    pub upstream_name: Option<String>,
    pub namespace: String,
    pub kube_service: Option<(String, String, u16)>,
    pub secret: Option<SecretRef>,
    /// An existing Upstream manifest to patch (its path and text).
    pub manifest: Option<(String, String)>,
    /// Also write the scan's JSON report here (`--json-out`).
    pub json_out: Option<std::path::PathBuf>,
}

/// Runs the request; prints YAML on stdout and the verdict on stderr.
pub async fn run(mut req: Request) -> Result<Status, CmdError> {
    let mut existing: Option<gloo::UpstreamInfo> = None;
    if let Some((path, text)) = &req.manifest {
        match gloo::read_upstreams(text) {
            Ok(mut ups) if ups.len() == 1 => existing = ups.pop(),
            Ok(ups) if ups.is_empty() => {
                return Err(format!("{path} holds no gloo.solo.io/v1 Upstream").into());
            }
            Ok(ups) => {
                return Err(CmdError(format!(
                    "{path} holds {} Upstreams; remediate patches one at a time (use `check --upstreams` for many)",
                    ups.len()
                )))
            }
            Err(e) => return Err(format!("{path}: {e}").into()),
        }
    }
    if let Some(envoy_req) = req.config.envoy.as_mut().filter(|e| !e.sni_chosen) {
        envoy_req.view.sni = match existing.as_ref() {
            // Envoy sends what the manifest makes it send: for a static Upstream, what Gloo sends
            // to the host being scanned (or the first host).
            Some(up) => match &up.target {
                UpstreamTarget::Static(hosts) => {
                    let matching = hosts
                        .iter()
                        .find(|h| h.addr.eq_ignore_ascii_case(&req.target.host));
                    if matching.is_none() {
                        eprintln!(
                            "cipher-test: note: no static host of the Upstream is {}; judging the SNI \
                             Envoy sends to its first host",
                            req.target.host
                        );
                    }
                    envoy_req.view.static_upstream = true;
                    up.envoy_sni(matching.or(hosts.first()))
                }
                UpstreamTarget::Kube { .. } => up.envoy_sni(None),
            },
            // The Upstream printed here carries the scan's name as sslConfig.sni (and sniAddr).
            None => EnvoySni::AsScanned {
                source: "the Upstream cipher-test prints (sslConfig.sni)".into(),
            },
        };
    }
    if let (Some(envoy_req), Some(up)) = (req.config.envoy.as_mut(), existing.as_ref()) {
        match tls_params(&up.parameters) {
            Ok(p) => envoy_req.view.params = p,
            Err(e) => {
                return Err(CmdError(format!(
                    "the Upstream's sslConfig.parameters would fail in Envoy: {e}"
                )))
            }
        }
        if !up.verify_subject_alt_name.is_empty() && envoy_req.view.root_ca.is_some() {
            envoy_req.view.verify_subject_alt_name = up.verify_subject_alt_name.clone();
        }
        if up.secret.is_some() && envoy_req.view.root_ca.is_none() {
            envoy_req.view.trust_unknown = Some(
                "the Upstream names a secret, which may hold a ca.crt: then Envoy verifies the chain and \
                         verifySubjectAltName; pass that CA with --ca-file to judge it"
                    .into(),
            );
        }
    }
    let report = match scan_target(&req.target, &req.sni, &req.config).await {
        Ok(r) => r,
        Err(e) => return Err(e.into()),
    };
    // The evidence is written even when no patch can be trusted: that is when it is wanted.
    if let Some(path) = &req.json_out {
        crate::output::write_json_file(path, &report).map_err(|e| super::file_error(path, e))?;
    }
    if report.has_inconclusive() {
        return Err(CmdError(format!(
            "{}: some probes or handshakes got no TLS answer, so no patch can be trusted; rerun with a longer --timeout or more --retries",
            req.target.display()
        )));
    }
    let Some(envoy) = &report.envoy else {
        return Err("no Envoy analysis was made".into());
    };
    if let Some(real) = envoy.real.as_ref().filter(|r| !r.agrees) {
        return Err(CmdError(format!(
            "{}: a real {} disagrees with cipher-test's simulation ({}); nothing printed, as no patch \
             can be trusted: rerun with --format json on `cipher-test scan --envoy-bin auto` for both outcomes",
            req.target.display(),
            real.envoy,
            real.disagreement.as_deref().unwrap_or("no detail")
        )));
    }
    let by_envoy = envoy
        .real
        .as_ref()
        .map(|r| format!(", confirmed by a real {}", r.envoy))
        .unwrap_or_default();
    let params = report
        .remediation
        .as_ref()
        .map(|r| ssl_parameters(&r.params))
        .unwrap_or_default();
    // Only trust is wrong (the root CA or the names): no sslConfig patch fixes that.
    let trust_only = report.remediation.as_ref().is_some_and(|r| {
        r.params.is_empty()
            && r.sni.is_none()
            && envoy.problems.iter().any(|p| {
                matches!(
                    p.kind,
                    ProblemKind::CertificateVerify | ProblemKind::CertificateSan
                )
            })
    });
    if trust_only {
        return Ok(no_patch(
            &format!(
                "{}: Envoy ({}) would refuse the upstream's certificate{by_envoy}; no parameter \
                 change helps",
                req.target.display(),
                envoy.profile
            ),
            envoy,
        ));
    }
    let mut note = match envoy.verdict {
        Verdict::Compatible => format!(
            "cipher-test: {} is compatible with Envoy ({}){by_envoy}: no parameter change is needed",
            req.target.display(),
            envoy.profile
        ),
        Verdict::NeedsPatch => {
            let rem = report.remediation.as_ref();
            match rem.and_then(|r| r.negotiated_after.as_ref()) {
                Some(n) => format!(
                    "cipher-test: patch verified: Envoy ({}) then negotiates {} at {}{by_envoy}",
                    envoy.profile, n.cipher, n.protocol
                ),
                None => format!(
                    "cipher-test: warning: the patch could NOT be verified by a handshake as Envoy ({})",
                    envoy.profile
                ),
            }
        }
        Verdict::Incompatible => {
            return Ok(no_patch(
                &format!(
                    "{} is incompatible with Envoy ({})",
                    req.target.display(),
                    envoy.profile
                ),
                envoy,
            ));
        }
    };
    if report.has_inconclusive() {
        note.push_str(" (some probes were inconclusive: the scan may be incomplete)");
    }

    // The name Envoy must send: the fix; else, in an Upstream written here, what it was judged
    // sending (a manifest given with -f keeps its own).
    let fix = report.remediation.as_ref().and_then(|r| r.sni.clone());
    let sni = match &req.manifest {
        Some(_) => fix,
        None => fix.or_else(|| envoy.sni.name.clone()),
    };
    let private_ca = matches!(
        req.config.certs.as_ref().map(|c| &c.anchors),
        Some(crate::cert::TrustAnchors::Pem(_))
    );
    let mut notes = Vec::new();
    if let Some(secret) = req.secret.as_mut() {
        // The chain verifies against --ca-file: Envoy can verify it the same way with that CA as the
        // secret's ca.crt, and the names it should insist on.
        if let (true, Some(c)) = (private_ca, report.certificate.as_ref()) {
            if c.trusted && envoy.trust.chain_verified != Some(false) {
                secret.verify_subject_alt_name = match (&sni, c.hostname_match) {
                    (Some(name), Some(true)) => vec![name.clone()],
                    _ => c
                        .chain
                        .first()
                        .map(|leaf| {
                            leaf.sans
                                .iter()
                                .map(|s| {
                                    s.split_once(':')
                                        .map(|(_, v)| v.to_string())
                                        .unwrap_or_else(|| s.clone())
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                notes.push(format!(
                    "the secret {} must carry the CA as ca.crt (kubectl cannot add it to a tls secret): \
                     glooctl create secret tls {} --namespace {} --rootca CA.pem [--certchain tls.crt --privatekey tls.key]",
                    secret.name, secret.name, secret.namespace
                ));
            }
        }
        if report.client_auth.as_ref().and_then(|a| a.required) == Some(true) {
            notes.push(format!(
                "the upstream requires a client certificate: the secret {} needs tls.crt and tls.key: \
                 kubectl create secret tls {} -n {} --cert=client.crt --key=client.key",
                secret.name, secret.name, secret.namespace
            ));
        }
    } else if report.client_auth.as_ref().and_then(|a| a.required) == Some(true) {
        notes.push(
            "the upstream requires a client certificate: pass --secret NAME to add sslConfig.secretRef".into(),
        );
    }
    let yaml = match (&req.manifest, req.emit) {
        (Some((path, text)), _) => {
            let comments = gloo::comment_lines(text);
            if !comments.is_empty() {
                let lines: Vec<String> = comments.iter().map(usize::to_string).collect();
                notes.push(format!(
                    "{path}'s comments (line{} {}) are not in the patched manifest: it is written \
                     anew from the parsed values, with every field and the key order kept",
                    if lines.len() == 1 { "" } else { "s" },
                    lines.join(", ")
                ));
            }
            match gloo::patch_manifest(text, &params, sni.as_deref(), req.secret.as_ref()) {
                Ok(y) => y,
                Err(e) => return Err(CmdError(format!("{path}: {e}"))),
            }
        }
        (None, Emit::Upstream) => {
            let target = match &req.kube_service {
                Some((name, ns, port)) => UpstreamTarget::Kube {
                    service_name: name.clone(),
                    service_namespace: ns.clone(),
                    service_port: *port,
                },
                None => UpstreamTarget::Static(vec![StaticHost {
                    addr: req.target.host.clone(),
                    port: req.target.port,
                    sni_addr: None,
                }]),
            };
            let opts = UpstreamOptions {
                name: req
                    .upstream_name
                    .clone()
                    .unwrap_or_else(|| default_upstream_name(&req.target)),
                namespace: req.namespace.clone(),
                target,
                sni: sni.clone(),
                secret: req.secret.clone(),
            };
            gloo::upstream_manifest(&opts, &params)
        }
        (None, Emit::Patch) => {
            let name = req
                .upstream_name
                .clone()
                .unwrap_or_else(|| default_upstream_name(&req.target));
            let p = gloo::merge_patch(
                &name,
                &req.namespace,
                &params,
                sni.as_deref(),
                req.secret.as_ref(),
            );
            format!("{}\n# Apply with:\n# {}\n", p.yaml.trim_end(), p.kubectl)
        }
        (None, Emit::Annotation) => {
            gloo::service_annotation(&params, sni.as_deref(), req.secret.as_ref())
        }
    };
    eprintln!("{note}");
    for n in &notes {
        eprintln!("cipher-test: note: {n}");
    }
    let mut yaml = yaml;
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    crate::output::print(&yaml).map_err(super::stdout_error)?;
    if report.has_inconclusive() {
        Ok(Status::Incomplete)
    } else {
        Ok(Status::Ok)
    }
}

/// Says on stderr why no YAML is printed (the headline, then each problem and the advice): the
/// verdict is a finding, stdout stays empty.
fn no_patch(headline: &str, envoy: &crate::scan::EnvoyReport) -> Status {
    eprintln!("cipher-test: {headline}");
    for p in &envoy.problems {
        eprintln!("  {}", p.detail);
    }
    eprintln!("  {}", envoy.advice);
    Status::Findings
}
