//! The Envoy judgement of a scan: the handshake as Envoy (with the SNI Envoy sends) and its raw
//! twin, the verdict checked against them, the trust Envoy applies, and the verified patch.

use crate::cert::{self};
use crate::envoy::verdict::{self, Observed, Problem, ProblemKind, Verdict};
use crate::envoy::view::{RootCa, UpstreamView};
use crate::envoy::{self, EnvoyClient, TlsParams};
use crate::probe::gate::Gate;
use crate::probe::handshake::{ClientCertificate, ClientSpec, Simulation};
use crate::probe::openssl::OpensslProber;
use crate::probe::raw::RawProber;
use crate::probe::ProbeOutcome;
use crate::target::Target;
use crate::tls::catalog::catalog;
use crate::tls::protocol::Protocol;
use std::sync::Arc;

use super::*;
use super::{report::*, suites::*};

/// The patch as Gloo field values.
pub fn parameters_report(params: &TlsParams) -> ParametersReport {
    ParametersReport {
        minimum_protocol_version: params
            .min_version
            .map(|p| crate::gloo::written_version(p).to_string()),
        maximum_protocol_version: params
            .max_version
            .map(|p| crate::gloo::written_version(p).to_string()),
        cipher_suites: params
            .cipher_entries
            .as_ref()
            .map(|e| e.iter().map(|x| x.to_string()).collect()),
        ecdh_curves: params.ecdh_curves.clone(),
    }
}

/// Whether a simulated handshake agreed on version and suite (it connected, or it got as far as a
/// ServerHello and then stopped only because the upstream wanted a client certificate).
pub(super) fn agreed(sim: &Simulation, presented: bool) -> Option<(Protocol, String)> {
    match sim {
        Simulation::Connected { negotiated: n, .. } => Some((n.protocol, n.cipher.clone())),
        Simulation::Failed {
            server_hello: Some((p, code)),
            certificate_requested,
            ended_by_alert,
            ..
        } if *certificate_requested || (presented && ended_by_alert.is_some()) => {
            Some((*p, catalog().name_of(*code)))
        }
        Simulation::Failed { .. } => None,
    }
}

/// Whether a failed simulation got a TLS answer (an alert or a ServerHello): only then may it
/// change a verdict. A timeout, reset or EOF settles nothing.
pub(super) fn answered(sim: &Simulation) -> bool {
    match sim {
        Simulation::Connected { .. } => true,
        Simulation::Failed {
            alert,
            server_hello,
            ended_by_alert,
            ..
        } => alert.is_some() || server_hello.is_some() || ended_by_alert.is_some(),
    }
}

/// The Envoy-exact raw hello's outcome, compared with the OpenSSL simulation.
pub(super) fn raw_second_opinion(outcome: ProbeOutcome, sim: &Simulation) -> RawHelloReport {
    let (status, detail, _) = judged(outcome.clone(), 1);
    let (protocol, cipher) = match &outcome {
        ProbeOutcome::Accepted(a) => (Some(a.protocol), Some(catalog().name_of(a.code))),
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

pub(super) fn failure_text(sim: &Simulation) -> Option<String> {
    match sim {
        Simulation::Connected { .. } => None,
        Simulation::Failed { alert: Some(a), .. } => Some(format!("server sent {a}")),
        Simulation::Failed { error, .. } => Some(error.text.clone()),
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
    pub(super) fn new(
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

/// One simulated handshake through the gate: sent again when the server drops it.
async fn simulate(
    gate: &Arc<Gate>,
    prober: &OpensslProber,
    spec: &ClientSpec,
    certificate: Option<&ClientCertificate>,
) -> Simulation {
    gate.attempt(|| prober.simulate(spec, certificate), Simulation::reply)
        .await
}

pub(super) async fn first_look(
    side: &EnvoySide,
    gate: &Arc<Gate>,
    req: &EnvoyRequest,
) -> FirstLook {
    let client = req.view.client();
    let certificate = req.view.client_certificate.as_ref();
    let spec = client.spec();
    let simulate = simulate(gate, &side.prober, &spec, certificate);
    let raw = side.raw.gated(Arc::clone(gate));
    let (simulation, outcome) =
        tokio::join!(simulate, crate::scan::eliminate::envoy_hello(&raw, &client));
    let second_opinion = raw_second_opinion(outcome, &simulation);
    FirstLook {
        simulation,
        second_opinion,
    }
}

/// What the trust Envoy applies makes of a chain.
#[derive(Default)]
pub(super) struct TrustJudgement {
    pub(super) problems: Vec<Problem>,
    /// What to do about them, a sentence each.
    pub(super) advice: Vec<&'static str>,
    /// The chain is refused only for its dates: the upstream must renew it.
    pub(super) out_of_date: bool,
    pub(super) chain_verified: Option<bool>,
    pub(super) san_matched: Option<bool>,
}

/// What the trust Envoy applies (none without a root CA) makes of `chain`.
pub(super) fn judge_trust(view: &UpstreamView, chain: &[Vec<u8>]) -> TrustJudgement {
    let mut out = TrustJudgement::default();
    let Some(root) = &view.root_ca else {
        return out;
    };
    if chain.is_empty() {
        return out;
    }
    let refused = |detail: String| Problem {
        kind: ProblemKind::CertificateVerify,
        detail,
    };
    out.chain_verified = Some(false);
    match cert::envoy_verify(chain, &root.certificates, crate::util::now_unix()) {
        Ok(None) => out.chain_verified = Some(true),
        Ok(Some(failure)) => {
            out.problems.push(refused(format!(
                "with the root CA from {}, Envoy verifies the server's chain and refuses it: {}",
                root.source, failure.reason
            )));
            out.out_of_date = failure.out_of_date;
            out.advice.push(if failure.out_of_date {
                "Renew the upstream's certificate: Envoy with a root CA refuses a chain outside its dates."
            } else {
                "Put the CA that issued the upstream's chain in the secret's ca.crt (glooctl create secret tls NAME --rootca CA.pem), or serve a chain the configured CA signed."
            });
        }
        Err(e) => out.problems.push(refused(format!(
            "the server's certificate cannot be parsed: {e}"
        ))),
    }
    if !view.verify_subject_alt_name.is_empty() {
        let names = cert::leaf_names(&chain[0]).unwrap_or_default();
        let cert_names = envoy::san::CertificateNames {
            dns: &names.dns,
            uri: &names.uri,
            email: &names.email,
            ip: &names.ip,
        };
        let ok = envoy::san::verify_subject_alt_name(&view.verify_subject_alt_name, &cert_names);
        if !ok {
            out.problems.push(Problem {
                kind: ProblemKind::CertificateSan,
                detail: format!(
                    "verifySubjectAltName is {}, and Envoy refuses the server: {}",
                    view.verify_subject_alt_name.join(", "),
                    envoy::san::explain_mismatch(&view.verify_subject_alt_name, &cert_names)
                ),
            });
            out.advice.push(
                "List a name the certificate has in sslConfig.verifySubjectAltName, or reissue the certificate with a DNS SAN for the configured name.",
            );
        }
        out.san_matched = Some(ok);
    }
    out
}

/// The verdict for `req`: the plan from the scan data, checked by a real handshake as that Envoy
/// client (with the SNI Envoy sends), the trust Envoy applies to the chain it sees, and the patch
/// verified by a second handshake with the patched parameters (and SNI).
pub(super) async fn judge(
    side: &EnvoySide,
    gate: &Arc<Gate>,
    scan_prober: &Arc<OpensslProber>,
    req: &EnvoyRequest,
    rows: &[CipherResult],
    groups: &[GroupResult],
    first: FirstLook,
) -> (EnvoyReport, Option<Remediation>) {
    let mut observed = Observed::default();
    for r in rows.iter().filter(|r| r.status == CipherStatus::Accepted) {
        if let Some(s) = catalog().by_code(r.code) {
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
    // The handshake with the scan's name, and the parameters it used: the patch's own check when
    // those are the patch's.
    let mut with_name_sim: Option<(TlsParams, Simulation)> = None;
    let sni_fix = match (&side.scanned_sni, &simulation) {
        (Some(name), Simulation::Failed { .. }) if answered(&simulation) && !needs_certificate => {
            let with_name = simulate(gate, scan_prober, &client.spec(), certificate).await;
            let fixed = match &with_name {
                Simulation::Connected { chain, .. } => {
                    named_chain = chain.clone();
                    with_name_sim = Some((view.params.clone(), with_name.clone()));
                    true
                }
                // The suites do not match either: does the name matter once they do?
                Simulation::Failed { .. } if plan.verdict != Verdict::Compatible => {
                    let params = merged(&view.params, &plan.params);
                    let patched = EnvoyClient::with_params(view.profile, &params).spec();
                    let (without, with) = tokio::join!(
                        simulate(gate, &side.prober, &patched, certificate),
                        simulate(gate, scan_prober, &patched, certificate)
                    );
                    let fixed = answered(&without)
                        && agreed(&without, presented).is_none()
                        && matches!(with, Simulation::Connected { .. });
                    with_name_sim = Some((params, with));
                    fixed
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
        let sni_advice = if view.static_upstream {
            format!(
                "Set hosts[].sniAddr: {name} on the Upstream's host so that Envoy sends the name the \
                 upstream needs (on a static Upstream, autoSniRewrite replaces sslConfig.sni with the \
                 host's addr unless it is false)."
            )
        } else {
            format!(
                "Set sslConfig.sni: {name} so that Envoy sends the name the upstream needs (on a \
                 static Upstream, set hosts[].sniAddr instead: autoSniRewrite replaces sslConfig.sni)."
            )
        };
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
        } else if let Some((_, sim)) = with_name_sim
            .as_ref()
            .filter(|(params, _)| sni_fix.is_some() && *params == patched)
        {
            // The SNI check already made this very handshake.
            sim.clone()
        } else {
            let prober = if sni_fix.is_some() {
                scan_prober
            } else {
                &side.prober
            };
            let spec = EnvoyClient::with_params(view.profile, &patched).spec();
            simulate(gate, prober, &spec, certificate).await
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
            static_upstream: sni_fix.is_some() && view.static_upstream,
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
    let trust = judge_trust(view, chain);
    let mut remediation = remediation;
    if !trust.problems.is_empty() {
        let expired = trust.out_of_date;
        let advice = trust.advice.join(" ");
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
                        static_upstream: false,
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
        plan.problems.extend(trust.problems);
    }

    let report = EnvoyReport {
        profile: view.profile.name.clone(),
        verdict: plan.verdict,
        sni: side.sni.clone(),
        trust: EnvoyTrustReport {
            root_ca: view.root_ca.as_ref().map(|r: &RootCa| r.source.clone()),
            verify_subject_alt_name: view.verify_subject_alt_name.clone(),
            chain_verified: trust.chain_verified,
            san_matched: trust.san_matched,
            unknown: view.trust_unknown.clone(),
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
pub(super) fn merged(base: &TlsParams, patch: &TlsParams) -> TlsParams {
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
