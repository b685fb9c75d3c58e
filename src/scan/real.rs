//! A real Envoy as the judge of a scan's verdict: the Upstream as configured, and as patched, are
//! tried as clusters of one Envoy process, and its outcome is set beside the simulation's. Where they
//! disagree the report says so and Envoy's outcome stands.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::{EnvoyRequest, ScanReport};
use crate::envoy::real::{self, ClusterSpec, EnvoyBinary, Failure, Outcome, RealEnvoyError};
use crate::envoy::verdict::{Problem, ProblemKind, Verdict};
use crate::envoy::view::UpstreamView;
use crate::envoy::TlsParams;

/// Which configuration of the Upstream a cluster stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Configuration {
    /// The Upstream's sslConfig as given.
    AsConfigured,
    /// With the remediation applied (parameters and SNI).
    Patched,
}

/// What a real Envoy did with one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct RealOutcome {
    pub configuration: Configuration,
    pub connected: bool,
    pub protocol: Option<String>,
    pub cipher: Option<String>,
    pub curve: Option<String>,
    /// The stat that counted the failure (`ssl.connection_error`, `ssl.fail_verify_error`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A real Envoy's outcomes, and whether they agree with the simulated verdict and patch.
#[derive(Debug, Clone, Serialize)]
pub struct RealReport {
    /// `Envoy 1.40.0 (BoringSSL)`.
    pub envoy: String,
    pub version: String,
    pub outcomes: Vec<RealOutcome>,
    /// The verdict (and the patch, when there is one) match what the real Envoy did.
    pub agrees: bool,
    /// What differed, in a sentence, when `agrees` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disagreement: Option<String>,
}

/// The cluster Gloo would build for `view` with `params`, sending `sni`.
fn cluster(
    upstream: SocketAddr,
    view: &UpstreamView,
    params: &TlsParams,
    sni: Option<String>,
) -> ClusterSpec {
    // The real Envoy has its own defaults; another profile's (1.16, fips) are spelled out, so the
    // cluster offers what that Envoy would have offered.
    let explicit;
    let params = if view.profile.name == "current" {
        params
    } else {
        let c = crate::envoy::EnvoyClient::with_params(view.profile, params);
        explicit = TlsParams {
            cipher_entries: Some(c.cipher_entries),
            ecdh_curves: Some(c.ecdh_curves),
            min_version: Some(c.min_version),
            max_version: Some(c.max_version),
        };
        &explicit
    };
    ClusterSpec {
        upstream,
        sni,
        cipher_suites: params
            .cipher_entries
            .as_ref()
            .map(|e| e.iter().map(|x| x.to_string()).collect()),
        ecdh_curves: params.ecdh_curves.clone(),
        min_version: params
            .min_version
            .map(|p| crate::gloo::written_version(p).to_string()),
        max_version: params
            .max_version
            .map(|p| crate::gloo::written_version(p).to_string()),
        trusted_ca_pem: view.root_ca.as_ref().map(|r| r.pem()),
        verify_subject_alt_name: view.verify_subject_alt_name.clone(),
        client_certificate: view.client_certificate.as_ref().and_then(|c| {
            let chain = crate::cert::certificates_pem(&c.chain);
            let key = c.key.private_key_to_pem_pkcs8().ok()?;
            Some((chain, String::from_utf8_lossy(&key).into_owned()))
        }),
    }
}

/// The clusters to try for one scanned target: as configured, and as patched when there is a patch.
pub fn clusters(report: &ScanReport, req: &EnvoyRequest) -> Vec<(Configuration, ClusterSpec)> {
    let (Some(envoy), Ok(upstream)) = (&report.envoy, report.target.address.parse::<SocketAddr>())
    else {
        return Vec::new();
    };
    let view = &req.view;
    let mut out = vec![(
        Configuration::AsConfigured,
        cluster(upstream, view, &view.params, envoy.sni.name.clone()),
    )];
    if let Some(r) = &report.remediation {
        if !r.params.is_empty() || r.sni.is_some() {
            let params = super::merged(&view.params, &r.params);
            let sni = r.sni.clone().or_else(|| envoy.sni.name.clone());
            out.push((
                Configuration::Patched,
                cluster(upstream, view, &params, sni),
            ));
        }
    }
    out
}

fn outcome(configuration: Configuration, o: &Outcome) -> RealOutcome {
    RealOutcome {
        configuration,
        connected: o.connected,
        protocol: o.protocol.clone(),
        cipher: o.cipher.clone(),
        curve: o.curve.clone(),
        failure: o.failure.as_ref().map(|f| f.stat().to_string()),
        detail: o.failure.as_ref().map(Failure::describe),
    }
}

/// Sets the real Envoy's outcomes on `report`; where they contradict the simulation, Envoy's stand.
pub fn apply(report: &mut ScanReport, bin: &EnvoyBinary, tried: &[(Configuration, Outcome)]) {
    let Some(envoy) = report.envoy.as_mut() else {
        return;
    };
    // A connection that never reached TLS (refused, or no outcome in time) settles nothing: the
    // scan is incomplete, and the verdict stands as the simulation left it.
    let unsettled = |c: Configuration| {
        tried.iter().any(|(x, o)| {
            *x == c && matches!(o.failure, Some(Failure::Connect) | Some(Failure::Timeout))
        })
    };
    let outcomes: Vec<RealOutcome> = tried.iter().map(|(c, o)| outcome(*c, o)).collect();
    if unsettled(Configuration::AsConfigured) || unsettled(Configuration::Patched) {
        envoy.inconclusive = true;
    }
    let mut disagreements = Vec::new();
    let as_configured = outcomes
        .iter()
        .find(|o| o.configuration == Configuration::AsConfigured)
        .filter(|_| !unsettled(Configuration::AsConfigured));
    let patched = outcomes
        .iter()
        .find(|o| o.configuration == Configuration::Patched)
        .filter(|_| !unsettled(Configuration::Patched));
    if let Some(real) = as_configured {
        let said = envoy.verdict == Verdict::Compatible;
        if real.connected != said {
            disagreements.push(if real.connected {
                format!(
                    "cipher-test said {}, but a real Envoy connects as configured ({} at {})",
                    verdict_name(envoy.verdict),
                    real.cipher.as_deref().unwrap_or("?"),
                    real.protocol.as_deref().unwrap_or("?")
                )
            } else {
                format!(
                    "cipher-test said compatible, but a real Envoy fails as configured ({})",
                    real.detail.as_deref().unwrap_or("no detail")
                )
            });
        } else if let (true, Some(n)) = (real.connected, &envoy.negotiated) {
            if real.cipher.as_deref() != Some(n.cipher.as_str()) {
                disagreements.push(format!(
                    "the simulation negotiated {}, a real Envoy {}",
                    n.cipher,
                    real.cipher.as_deref().unwrap_or("?")
                ));
            }
        }
        // Envoy's outcome stands.
        if real.connected && envoy.verdict != Verdict::Compatible {
            envoy.verdict = Verdict::Compatible;
            envoy.problems.clear();
            envoy.advice =
                "A real Envoy connects with the current settings; no patch is needed.".into();
            report.remediation = None;
        } else if !real.connected && envoy.verdict == Verdict::Compatible {
            envoy.verdict = Verdict::Incompatible;
            envoy.problems.push(Problem {
                kind: ProblemKind::HandshakeFailure,
                detail: format!(
                    "a real Envoy fails this handshake ({}), which the simulation did not foresee",
                    real.detail.as_deref().unwrap_or("no detail")
                ),
            });
            envoy.advice =
                "cipher-test cannot explain this failure; the real Envoy's failure stat \
                            names the step (envoy.real.outcomes)."
                    .into();
        }
    }
    if let (Some(real), Some(rem)) = (patched, report.remediation.as_mut()) {
        let claimed = rem.negotiated_after.as_ref().map(|n| n.cipher.clone());
        if rem.verified && !real.connected {
            disagreements.push(format!(
                "the patch was verified by the simulation, but a real Envoy with it fails ({})",
                real.detail.as_deref().unwrap_or("no detail")
            ));
            rem.verified = false;
        } else if rem.verified && real.cipher != claimed {
            disagreements.push(format!(
                "with the patch the simulation negotiated {}, a real Envoy {}",
                claimed.as_deref().unwrap_or("?"),
                real.cipher.as_deref().unwrap_or("?")
            ));
        } else if !rem.verified && real.connected {
            disagreements.push(format!(
                "the simulation could not verify the patch, but a real Envoy connects with it ({})",
                real.cipher.as_deref().unwrap_or("?")
            ));
            rem.verified = true;
        }
    }
    envoy.real = Some(RealReport {
        envoy: bin.describe(),
        version: bin.version.clone(),
        outcomes,
        agrees: disagreements.is_empty(),
        disagreement: (!disagreements.is_empty()).then(|| disagreements.join("; ")),
    });
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Compatible => "compatible",
        Verdict::NeedsPatch => "needs patch",
        Verdict::Incompatible => "incompatible",
    }
}

/// Tries every report's configurations in one Envoy process and applies the outcomes (reports
/// with inconclusive probes are left alone).
/// `timeout` bounds each handshake; Envoy's startup has its own bound.
pub async fn confirm(
    items: &mut [(&mut ScanReport, &EnvoyRequest)],
    bin: &EnvoyBinary,
    timeout: Duration,
) -> Result<(), RealEnvoyError> {
    let mut index = Vec::new();
    let mut specs = Vec::new();
    for (i, (report, req)) in items.iter().enumerate() {
        // An unsettled scan has no verdict to confirm.
        if report.has_inconclusive() {
            continue;
        }
        for (c, spec) in clusters(report, req) {
            index.push((i, c));
            specs.push(spec);
        }
    }
    if specs.is_empty() {
        return Ok(());
    }
    let owned = bin.clone();
    let outcomes = tokio::task::spawn_blocking(move || real::run(&owned, &specs, timeout))
        .await
        .map_err(|e| RealEnvoyError::Io(std::io::Error::other(e.to_string())))??;
    let mut per_item: Vec<Vec<(Configuration, Outcome)>> = vec![Vec::new(); items.len()];
    for ((i, c), o) in index.into_iter().zip(outcomes) {
        per_item[i].push((c, o));
    }
    for ((report, _), tried) in items.iter_mut().zip(per_item) {
        if !tried.is_empty() {
            apply(report, bin, &tried);
        }
    }
    Ok(())
}
