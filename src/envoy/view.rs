//! Envoy's view of one Upstream: what the UpstreamTlsContext that Gloo builds from an `sslConfig`
//! decides about a handshake (client parameters, the SNI sent, the trust applied, the names checked,
//! the client certificate). The simulation, the raw twin, the verdict and the real Envoy all judge
//! against this one value; how a manifest or the command line fills it is decided above this layer.

use openssl::x509::X509;

use super::{EnvoyClient, EnvoyProfile, TlsParams};
use crate::probe::handshake::ClientCertificate;

/// Which SNI Envoy sends, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvoySni {
    /// This name, or none at all; `source` says where that comes from, for the report.
    Known {
        name: Option<String>,
        source: String,
    },
    /// The name the scan sends: the Upstream cipher-test writes carries it in `sslConfig.sni`.
    AsScanned { source: String },
    /// A static Upstream with Gloo's defaults: `autoSniRewrite` sends the host's address when it is
    /// a name, nothing for an IP address.
    StaticHostAddr,
}

impl EnvoySni {
    /// A Kubernetes Upstream without `sslConfig.sni`: Envoy sends no SNI.
    pub fn kube_default(assumed: bool) -> EnvoySni {
        EnvoySni::Known {
            name: None,
            source: if assumed {
                "a Kubernetes Upstream without sslConfig.sni, assumed: choose with --upstream-kind or --envoy-sni"
                    .into()
            } else {
                "a Kubernetes Upstream without sslConfig.sni".into()
            },
        }
    }

    /// The name Envoy sends to `host` when the scan sends `scanned`, and the reason.
    pub fn resolve(&self, host: &str, scanned: Option<&str>) -> (Option<String>, String) {
        match self {
            EnvoySni::Known { name, source } => (name.clone(), source.clone()),
            EnvoySni::AsScanned { source } => (scanned.map(str::to_string), source.clone()),
            EnvoySni::StaticHostAddr => {
                if host.parse::<std::net::IpAddr>().is_ok() {
                    (
                        None,
                        "a static Upstream whose host is an IP address (autoSniRewrite sends no name)"
                            .into(),
                    )
                } else {
                    (
                        Some(host.to_string()),
                        "a static Upstream: autoSniRewrite sends the host's addr".into(),
                    )
                }
            }
        }
    }
}

/// The CAs Envoy verifies the upstream against (`validation_context.trusted_ca`).
#[derive(Debug, Clone)]
pub struct RootCa {
    pub certificates: Vec<X509>,
    /// Where they come from: `--ca-file ca.pem`, the secret's `ca.crt`, …
    pub source: String,
}

impl RootCa {
    /// The CAs as one PEM text, as Envoy reads an inline `trusted_ca`.
    pub fn pem(&self) -> String {
        crate::cert::certificates_pem(&self.certificates)
    }
}

/// Everything in an Upstream's TLS context that decides whether Envoy's handshake succeeds.
#[derive(Debug, Clone)]
pub struct UpstreamView {
    pub profile: &'static EnvoyProfile,
    /// `sslConfig.parameters` (empty: Envoy's defaults).
    pub params: TlsParams,
    pub sni: EnvoySni,
    /// `None`: Envoy verifies nothing about the server certificate.
    pub root_ca: Option<RootCa>,
    /// `sslConfig.verifySubjectAltName` (checked only with a root CA).
    pub verify_subject_alt_name: Vec<String>,
    /// The client certificate Envoy presents (`secretRef` `tls.crt`/`tls.key`, unless `oneWayTls`).
    pub client_certificate: Option<ClientCertificate>,
    /// A static Upstream: an SNI fix goes to `hosts[].sniAddr`, as `autoSniRewrite` replaces
    /// `sslConfig.sni`.
    pub static_upstream: bool,
    /// Why the trust Envoy applies is not known (a secret whose `ca.crt` cipher-test cannot read).
    pub trust_unknown: Option<String>,
}

impl UpstreamView {
    /// Envoy's defaults for `profile`, sending no SNI, verifying nothing.
    pub fn new(profile: &'static EnvoyProfile) -> UpstreamView {
        UpstreamView {
            profile,
            params: TlsParams::default(),
            sni: EnvoySni::kube_default(true),
            root_ca: None,
            verify_subject_alt_name: Vec::new(),
            client_certificate: None,
            static_upstream: false,
            trust_unknown: None,
        }
    }

    /// The TLS client these parameters make.
    pub fn client(&self) -> EnvoyClient {
        EnvoyClient::with_params(self.profile, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_hosts_send_their_name_but_never_an_ip() {
        let s = EnvoySni::StaticHostAddr;
        assert_eq!(
            s.resolve("api.example.com", None).0.as_deref(),
            Some("api.example.com")
        );
        assert_eq!(s.resolve("10.0.0.5", Some("api.example.com")).0, None);
        let k = EnvoySni::kube_default(true);
        assert_eq!(
            k.resolve("api.example.com", Some("api.example.com")).0,
            None
        );
        assert!(k.resolve("x", None).1.contains("assumed"));
        let a = EnvoySni::AsScanned {
            source: "sslConfig.sni".into(),
        };
        assert_eq!(a.resolve("10.0.0.5", Some("n")).0.as_deref(), Some("n"));
    }
}
