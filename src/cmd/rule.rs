//! The gate's rules: each way a `check` target fails or errs, with a stable name (JSON `rules`,
//! SARIF `ruleId` `cipher-test/NAME`), a SARIF level, and the help a code-scanning page shows.

use serde::{Deserialize, Serialize};

use crate::envoy::verdict::ProblemKind;

/// One way a target breaks the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Envoy and the upstream share no cipher suite.
    NoSharedCipher,
    /// Envoy and the upstream share no curve.
    NoSharedCurve,
    /// Envoy and the upstream share no protocol version.
    ProtocolVersion,
    /// A handshake as Envoy failed although the scan found shared parameters.
    HandshakeFailure,
    /// The upstream wants a client certificate Envoy would not present.
    ClientCertificate,
    /// The upstream refuses a handshake without the SNI name Envoy does not send.
    SniRequired,
    /// Envoy's root CA does not verify the upstream's chain.
    CertificateVerify,
    /// `verifySubjectAltName` does not match the certificate.
    CertificateSan,
    /// The Upstream's `sslConfig.parameters` would fail Envoy's config load.
    ParametersRejected,
    /// The certificate has expired.
    CertificateExpired,
    /// The certificate expires sooner than `--min-cert-days`.
    CertificateExpiring,
    /// `--require-trusted`: the chain does not verify.
    CertificateUntrusted,
    /// `--require-trusted`: the certificate does not name the host.
    CertificateName,
    /// `--require-trusted`: no certificate could be read.
    CertificateUnreadable,
    /// The upstream accepts suites `--forbid` names.
    ForbiddenSuites,
    /// The addresses of one name answer differently.
    AddressesDisagree,
    /// The scan could not run (unreachable, not TLS, a timeout).
    ScanFailed,
    /// Probes stayed inconclusive, so the result cannot be trusted.
    Inconclusive,
    /// A real Envoy disagreed with the simulation, or could not judge.
    RealEnvoy,
}

impl Rule {
    /// Every rule, in the order SARIF lists them.
    pub const ALL: [Rule; 19] = [
        Rule::NoSharedCipher,
        Rule::NoSharedCurve,
        Rule::ProtocolVersion,
        Rule::HandshakeFailure,
        Rule::ClientCertificate,
        Rule::SniRequired,
        Rule::CertificateVerify,
        Rule::CertificateSan,
        Rule::ParametersRejected,
        Rule::CertificateExpired,
        Rule::CertificateExpiring,
        Rule::CertificateUntrusted,
        Rule::CertificateName,
        Rule::CertificateUnreadable,
        Rule::ForbiddenSuites,
        Rule::AddressesDisagree,
        Rule::ScanFailed,
        Rule::Inconclusive,
        Rule::RealEnvoy,
    ];

    /// The rule's place in [`Rule::ALL`] (SARIF's `ruleIndex`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The rule's name, as JSON spells it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::NoSharedCipher => "no_shared_cipher",
            Rule::NoSharedCurve => "no_shared_curve",
            Rule::ProtocolVersion => "protocol_version",
            Rule::HandshakeFailure => "handshake_failure",
            Rule::ClientCertificate => "client_certificate",
            Rule::SniRequired => "sni_required",
            Rule::CertificateVerify => "certificate_verify",
            Rule::CertificateSan => "certificate_san",
            Rule::ParametersRejected => "parameters_rejected",
            Rule::CertificateExpired => "certificate_expired",
            Rule::CertificateExpiring => "certificate_expiring",
            Rule::CertificateUntrusted => "certificate_untrusted",
            Rule::CertificateName => "certificate_name",
            Rule::CertificateUnreadable => "certificate_unreadable",
            Rule::ForbiddenSuites => "forbidden_suites",
            Rule::AddressesDisagree => "addresses_disagree",
            Rule::ScanFailed => "scan_failed",
            Rule::Inconclusive => "inconclusive",
            Rule::RealEnvoy => "real_envoy",
        }
    }

    /// SARIF's `level`: a broken gate is an error; a target that could not be judged is a warning
    /// (the gate still fails, with exit code 2).
    pub fn level(self) -> &'static str {
        match self {
            Rule::ScanFailed | Rule::Inconclusive | Rule::RealEnvoy => "warning",
            _ => "error",
        }
    }

    /// One line: what the rule finds.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::NoSharedCipher => "Envoy and the upstream share no cipher suite",
            Rule::NoSharedCurve => "Envoy and the upstream share no ECDHE curve",
            Rule::ProtocolVersion => "Envoy and the upstream share no TLS version",
            Rule::HandshakeFailure => "A handshake as Envoy fails",
            Rule::ClientCertificate => "The upstream requires a client certificate",
            Rule::SniRequired => "The upstream requires an SNI name Envoy does not send",
            Rule::CertificateVerify => "Envoy's root CA does not verify the upstream's certificate",
            Rule::CertificateSan => "verifySubjectAltName does not match the certificate",
            Rule::ParametersRejected => {
                "The Upstream's sslConfig.parameters fail Envoy's config load"
            }
            Rule::CertificateExpired => "The upstream's certificate has expired",
            Rule::CertificateExpiring => "The upstream's certificate expires soon",
            Rule::CertificateUntrusted => "The upstream's certificate is not trusted",
            Rule::CertificateName => "The upstream's certificate does not name the host",
            Rule::CertificateUnreadable => "No certificate could be read to check trust",
            Rule::ForbiddenSuites => "The upstream accepts forbidden cipher suites",
            Rule::AddressesDisagree => "The addresses of one name answer differently",
            Rule::ScanFailed => "The upstream could not be scanned",
            Rule::Inconclusive => "The scan stayed inconclusive",
            Rule::RealEnvoy => "A real Envoy disagreed with the simulation or could not judge",
        }
    }

    /// What to do about it, in a few sentences.
    pub fn help(self) -> &'static str {
        match self {
            Rule::NoSharedCipher => {
                "Envoy offers only the suites in sslConfig.parameters.cipherSuites (six ECDHE+AEAD \
                 suites by default). Add a suite the upstream accepts (`cipher-test remediate` prints \
                 the patch), or enable a modern suite on the upstream."
            }
            Rule::NoSharedCurve => {
                "Envoy offers only the curves in sslConfig.parameters.ecdhCurves (X25519 and P-256 by \
                 default). Add a curve the upstream accepts, or enable X25519 or P-256 on it."
            }
            Rule::ProtocolVersion => {
                "Envoy speaks TLS 1.2 only by default. Set minimumProtocolVersion or \
                 maximumProtocolVersion to a version the upstream speaks, or enable TLS 1.2 on it."
            }
            Rule::HandshakeFailure => {
                "The scan found shared parameters but a handshake as Envoy still fails. Run \
                 `cipher-test remediate` with --envoy-bin to let a real Envoy try."
            }
            Rule::ClientCertificate => {
                "The upstream asks for a client certificate (mTLS). Point sslConfig.secretRef at a \
                 kubernetes.io/tls secret holding one."
            }
            Rule::SniRequired => {
                "Envoy sends only the SNI Gloo gives it: sslConfig.sni, or on a static Upstream \
                 hosts[].sniAddr. Set it to a name the upstream serves."
            }
            Rule::CertificateVerify => {
                "With a root CA (the secret's ca.crt), Envoy verifies the chain. Put the CA that \
                 issued the upstream's certificate in ca.crt, or have the upstream serve its full chain."
            }
            Rule::CertificateSan => {
                "Envoy matches verifySubjectAltName against the certificate's SANs. List a name the \
                 certificate holds, or reissue the certificate."
            }
            Rule::ParametersRejected => {
                "Envoy refuses the whole cluster when a parameter names something BoringSSL does not \
                 know. Use the names `cipher-test explain` and the README list."
            }
            Rule::CertificateExpired => "Renew the upstream's certificate.",
            Rule::CertificateExpiring => {
                "Renew the upstream's certificate before it expires (policy: --min-cert-days)."
            }
            Rule::CertificateUntrusted => {
                "Serve a chain that verifies against the CA Envoy uses (rootCa)."
            }
            Rule::CertificateName => {
                "Serve a certificate whose SANs name the host Envoy connects to."
            }
            Rule::CertificateUnreadable => {
                "No handshake returned a certificate; check that the upstream completes a handshake."
            }
            Rule::ForbiddenSuites => {
                "Disable the named suites on the upstream (policy: --forbid)."
            }
            Rule::AddressesDisagree => {
                "Envoy may connect to any address of the name. Make every address serve the same \
                 suites, certificate and verdict."
            }
            Rule::ScanFailed => {
                "Check that the host resolves, the port is open and speaks TLS, from where the gate runs."
            }
            Rule::Inconclusive => {
                "Some probes got no answer. Rerun with a longer --timeout or more --retries."
            }
            Rule::RealEnvoy => {
                "A real Envoy's outcome stands over the simulation. Read the disagreement in the \
                 report, and report it if the simulation is wrong."
            }
        }
    }
}

impl From<ProblemKind> for Rule {
    fn from(kind: ProblemKind) -> Self {
        match kind {
            ProblemKind::NoSharedCipher => Rule::NoSharedCipher,
            ProblemKind::NoSharedCurve => Rule::NoSharedCurve,
            ProblemKind::ProtocolVersion => Rule::ProtocolVersion,
            ProblemKind::HandshakeFailure => Rule::HandshakeFailure,
            ProblemKind::ClientCertificate => Rule::ClientCertificate,
            ProblemKind::SniRequired => Rule::SniRequired,
            ProblemKind::CertificateVerify => Rule::CertificateVerify,
            ProblemKind::CertificateSan => Rule::CertificateSan,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_json_names_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for (i, rule) in Rule::ALL.into_iter().enumerate() {
            assert_eq!(rule.index(), i, "{} out of place in ALL", rule.name());
            let json = serde_json::to_value(rule).unwrap();
            assert_eq!(json, rule.name());
            assert!(seen.insert(rule.name()), "{} twice", rule.name());
        }
    }
}
