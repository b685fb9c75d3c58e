//! The certificate chain and client authentication as a full handshake shows them, and whether
//! the server needs SNI.

use crate::cert::{self, CertCheck, CertificateReport, Finding, Severity, TrustAnchors};
use crate::probe::handshake::handshake_reply;
use crate::probe::openssl::OpensslProber;
use crate::target::Target;

use super::report::*;
use super::*;

/// A full handshake without SNI, beside the scan's named ones.
pub(super) struct WithoutSni {
    pub(super) name: String,
    pub(super) outcome: Result<crate::probe::handshake::HandshakeInfo, String>,
}

pub(super) async fn handshake_without_sni(
    gate: &Arc<Gate>,
    target: &Target,
    cfg: &ScanConfig,
    name: &str,
) -> WithoutSni {
    let outcome = match OpensslProber::new(target.address, None, cfg.timeout) {
        Ok(p) => gate
            .attempt(|| p.full_handshake(None), handshake_reply)
            .await
            .map_err(|e| e.text),
        Err(e) => Err(e.to_string()),
    };
    WithoutSni {
        name: name.to_string(),
        outcome,
    }
}

impl WithoutSni {
    pub(super) fn report(self, named: Option<&CertificateReport>) -> SniReport {
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
                Some(e) if info.alert.is_some() || info.ended_by_alert.is_some() => (
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
pub(super) async fn inspect_certificates(
    prober: &OpensslProber,
    gate: &Arc<Gate>,
    target: &Target,
    cfg: &CertConfig,
) -> (
    Option<CertificateReport>,
    Option<ClientAuthReport>,
    Vec<Finding>,
) {
    let mut findings = Vec::new();
    let info = match gate
        .attempt(|| prober.full_handshake(None), handshake_reply)
        .await
    {
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
        let chain = info.chain[..info.chain.len().min(MAX_CHAIN)].to_vec();
        let anchors = cfg.anchors.clone();
        let (warn_days, ocsp_stapled) = (cfg.warn_days, info.ocsp_staple.is_some());
        // Parsing and path building are CPU work (the system store's first load too): off the
        // scan's task, so that its probes keep going meanwhile.
        let evaluated = tokio::task::spawn_blocking(move || {
            let now = crate::util::now_unix();
            let check = CertCheck {
                chain: &chain,
                anchors: &anchors,
                host: host.as_deref(),
                ip,
                now,
                warn_days,
                ocsp_stapled,
            };
            let evaluated = cert::evaluate(&check).map_err(|e| e.to_string());
            // Envoy also checks the dates: an expired chain is no example to follow.
            let envoy_accepts = match &anchors {
                TrustAnchors::Pem(cas) => {
                    cert::envoy_verify(&chain, cas, now).is_ok_and(|failure| failure.is_none())
                }
                TrustAnchors::System => false,
            };
            (evaluated, envoy_accepts)
        })
        .await;
        let (evaluated, envoy_accepts) = match evaluated {
            Ok(done) => done,
            Err(e) => (
                Err(format!("the certificate check stopped unexpectedly: {e}")),
                false,
            ),
        };
        match evaluated {
            Ok((report, mut f)) => {
                findings.append(&mut f);
                if report.trusted && envoy_accepts {
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
        (Some(_), true) if info.ended_by_alert.is_some() => Some(true),
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
            let result = gate
                .attempt(|| prober.full_handshake(Some(cc)), handshake_reply)
                .await;
            let (accepted, error) = match result {
                Ok(i) => (i.failure.is_none(), i.failure.map(|f| f.text)),
                Err(e) => (false, Some(e.text)),
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
