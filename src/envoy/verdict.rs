//! The Envoy verdict and the patch plan: from what the upstream accepted (suites per version, groups per
//! version) and an Envoy client (profile plus the Upstream's own parameters), decide whether Envoy
//! connects as configured, and if not, the smallest strong `tls_params` change that makes it connect.
//! Pure logic over scan results: the handshakes that verify a plan are made by `scan`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::envoy::{CipherEntry, EnvoyClient, TlsParams, CONFIGURABLE_CURVES};
use crate::tls::catalog::{BoringSsl, CipherSuite};
use crate::tls::enums::NamedGroup;
use crate::tls::protocol::Protocol;

/// Can Envoy talk to the upstream?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Envoy connects as configured.
    Compatible,
    /// Envoy connects once the Upstream's `sslConfig` changes (parameters, SNI, secret or names).
    NeedsPatch,
    /// No Envoy/Gloo setting can make it connect: the upstream must change.
    Incompatible,
}

/// What keeps the configured client from connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    NoSharedCipher,
    NoSharedCurve,
    ProtocolVersion,
    /// A real handshake failed although the scan found shared parameters.
    HandshakeFailure,
    /// The upstream requires a client certificate (mTLS) and Envoy would present none.
    ClientCertificate,
    /// The upstream refuses the handshake without the SNI name Envoy does not send.
    SniRequired,
    /// With a root CA, Envoy verifies the chain and its dates, and the chain fails.
    CertificateVerify,
    /// `verifySubjectAltName` does not match the certificate's SANs under Envoy's rules.
    CertificateSan,
}

impl ProblemKind {
    /// The problem as the table and the gate name it.
    pub fn label(self) -> &'static str {
        match self {
            ProblemKind::NoSharedCipher => "no shared cipher suite",
            ProblemKind::NoSharedCurve => "no shared curve",
            ProblemKind::ProtocolVersion => "no shared protocol version",
            ProblemKind::HandshakeFailure => "handshake failure",
            ProblemKind::ClientCertificate => "client certificate required",
            ProblemKind::SniRequired => "SNI required",
            ProblemKind::CertificateVerify => "certificate not verified",
            ProblemKind::CertificateSan => "certificate name not matched",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
}

/// What the upstream was seen to accept.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Accepted suites per protocol version.
    pub suites: BTreeMap<Protocol, Vec<&'static CipherSuite>>,
    /// Accepted groups per protocol version, where groups were enumerated.
    pub groups: BTreeMap<Protocol, Vec<String>>,
}

/// The plan: a verdict from the scan data, and the parameters that would fix it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub verdict: Verdict,
    pub problems: Vec<Problem>,
    /// Only the fields that must change; empty when compatible or incompatible.
    pub params: TlsParams,
    /// What to do, in one or two sentences.
    pub advice: String,
    /// The (protocol, suite) the plan expects Envoy to negotiate.
    pub expected: Option<(Protocol, &'static CipherSuite)>,
}

/// A connection the client could make: a suite at a version with a group, and what it needs changed.
#[derive(Debug, Clone)]
struct Candidate {
    protocol: Protocol,
    suite: &'static CipherSuite,
    curve: Option<String>,
    add_suite: bool,
    add_curve: bool,
}

impl Candidate {
    fn changes(&self, client: &EnvoyClient) -> usize {
        usize::from(self.add_suite)
            + usize::from(self.add_curve)
            + usize::from(self.protocol < client.min_version || self.protocol > client.max_version)
    }
}

/// Security class (lower is stronger): ECDHE before RSA key transport, AEAD before CBC, SHA-2 before
/// SHA-1, 3DES last. TLS 1.3 suites count as ECDHE with AEAD.
pub fn strength(suite: &CipherSuite) -> (u8, u8, u8, u8) {
    let des = u8::from(suite.enc.starts_with("3DES"));
    let kx = u8::from(!suite.is_ecdhe() && suite.kx != "any");
    let aead = u8::from(suite.mac != "AEAD");
    let sha1 = u8::from(suite.mac == "SHA1");
    (des, kx, aead, sha1)
}

fn needs_group(suite: &CipherSuite) -> bool {
    suite.is_tls13() || suite.is_ecdhe()
}

/// Whether BoringSSL lets Envoy name the suite in `cipher_suites` and offer it.
fn configurable(suite: &CipherSuite) -> bool {
    matches!(
        suite.boringssl,
        BoringSsl::Yes | BoringSsl::Explicit | BoringSsl::Recent
    )
}

fn candidates(observed: &Observed, client: &EnvoyClient) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (&protocol, suites) in &observed.suites {
        if protocol < Protocol::Tls10 {
            continue; // BoringSSL has no SSLv3.
        }
        for &suite in suites {
            let usable = if suite.is_tls13() {
                client
                    .profile
                    .tls13_suites
                    .iter()
                    .any(|s| s.code == suite.code)
            } else {
                configurable(suite)
            };
            if !usable {
                continue;
            }
            let (curve, add_curve) = if needs_group(suite) {
                let accepted = observed.groups.get(&protocol).cloned().unwrap_or_default();
                if let Some(shared) = accepted.iter().find(|g| client.ecdh_curves.contains(g)) {
                    (Some(shared.clone()), false)
                } else {
                    // Prefer the curves BoringSSL names, P-384 before P-521 (`ciphers/SOURCES.md` §2.1).
                    let order = [
                        NamedGroup::P384.name(),
                        NamedGroup::P521.name(),
                        NamedGroup::X25519.name(),
                        NamedGroup::P256.name(),
                    ];
                    match order.iter().find(|c| accepted.iter().any(|a| a == *c)) {
                        Some(c) => (Some(c.to_string()), true),
                        None => continue,
                    }
                }
            } else {
                (None, false)
            };
            let add_suite =
                !suite.is_tls13() && !client.tls12_suites().iter().any(|s| s.code == suite.code);
            out.push(Candidate {
                protocol,
                suite,
                curve,
                add_suite,
                add_curve,
            });
        }
    }
    // Strongest class first; within a class the smallest change, then the newest version.
    out.sort_by_key(|c| {
        (
            strength(c.suite),
            c.changes(client),
            std::cmp::Reverse(c.protocol),
            c.suite.code,
        )
    });
    out
}

fn versions(observed: &Observed) -> Vec<Protocol> {
    observed
        .suites
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(p, _)| *p)
        .collect()
}

fn list(names: impl IntoIterator<Item = String>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

fn range(client: &EnvoyClient) -> String {
    if client.min_version == client.max_version {
        format!("{} only", client.min_version)
    } else {
        format!("{} to {}", client.min_version, client.max_version)
    }
}

/// What is wrong with the configured client, from the scan data.
fn problems(observed: &Observed, client: &EnvoyClient) -> Vec<Problem> {
    let supported = versions(observed);
    let in_range: Vec<Protocol> = supported
        .iter()
        .copied()
        .filter(|p| *p >= client.min_version && *p <= client.max_version)
        .collect();
    if in_range.is_empty() {
        let detail = if supported.is_empty() {
            "the upstream accepted no cipher suite at any version cipher-test could test"
                .to_string()
        } else {
            format!(
                "the upstream speaks {}; this Envoy client offers {}",
                list(supported.iter().map(|p| p.name().to_string())),
                range(client)
            )
        };
        return vec![Problem {
            kind: ProblemKind::ProtocolVersion,
            detail,
        }];
    }
    let shared: Vec<(Protocol, &'static CipherSuite)> = in_range
        .iter()
        .flat_map(|p| observed.suites[p].iter().map(move |s| (*p, *s)))
        .filter(|(p, s)| client.offers(*p, s))
        .collect();
    if shared.is_empty() {
        let accepted: BTreeSet<String> = in_range
            .iter()
            .flat_map(|p| observed.suites[p].iter().map(|s| s.openssl_name.clone()))
            .collect();
        return vec![Problem {
            kind: ProblemKind::NoSharedCipher,
            detail: format!(
                "at {} the upstream accepts {}; none of them is in Envoy's list ({})",
                list(in_range.iter().map(|p| p.name().to_string())),
                list(accepted),
                list(client.cipher_entries.iter().map(|e| e.to_string()))
            ),
        }];
    }
    let curve_ok = shared.iter().any(|(p, s)| {
        !needs_group(s)
            || observed
                .groups
                .get(p)
                .is_none_or(|g| g.iter().any(|c| client.ecdh_curves.contains(c)))
    });
    if !curve_ok {
        let accepted: BTreeSet<String> = shared
            .iter()
            .flat_map(|(p, _)| observed.groups.get(p).cloned().unwrap_or_default())
            .collect();
        return vec![Problem {
            kind: ProblemKind::NoSharedCurve,
            detail: format!(
                "the upstream accepts {} for ECDHE; Envoy offers {}",
                if accepted.is_empty() {
                    "no group Envoy knows".into()
                } else {
                    list(accepted)
                },
                list(client.ecdh_curves.clone())
            ),
        }];
    }
    Vec::new()
}

fn weakness(suite: &CipherSuite) -> Option<&'static str> {
    if suite.enc.starts_with("3DES") {
        Some("insecure (3DES has 64-bit blocks: Sweet32)")
    } else if !suite.is_ecdhe() {
        Some("weak (RSA key transport: no forward secrecy)")
    } else if suite.mac == "SHA1" {
        Some("weak (CBC mode with a SHA-1 MAC)")
    } else if suite.mac != "AEAD" {
        Some("not ideal (CBC mode)")
    } else {
        None
    }
}

/// Decides the verdict and plans the patch. `add_all` appends every configurable accepted suite
/// instead of only the strongest.
pub fn plan(observed: &Observed, client: &EnvoyClient, add_all: bool) -> Plan {
    let problems = problems(observed, client);
    let cands = candidates(observed, client);
    if problems.is_empty() {
        let expected = cands
            .iter()
            .find(|c| c.changes(client) == 0)
            .map(|c| (c.protocol, c.suite));
        return Plan {
            verdict: Verdict::Compatible,
            problems,
            params: TlsParams::default(),
            advice: "Envoy connects with its current settings; no patch is needed.".into(),
            expected,
        };
    }
    let Some(best) = cands.first().cloned() else {
        return Plan {
            verdict: Verdict::Incompatible,
            advice: incompatible_advice(observed, client),
            problems,
            params: TlsParams::default(),
            expected: None,
        };
    };
    let mut params = TlsParams::default();
    let mut notes = Vec::new();
    if best.protocol < client.min_version {
        params.min_version = Some(best.protocol);
    }
    if best.protocol > client.max_version {
        params.max_version = Some(best.protocol);
    }
    if best.add_curve {
        let mut curves = client.ecdh_curves.clone();
        for c in [NamedGroup::X25519.name(), NamedGroup::P256.name()] {
            if !curves.iter().any(|x| x == c) && client.profile.name != "fips" {
                curves.push(c.into());
            }
        }
        if let Some(c) = &best.curve {
            curves.push(c.clone());
        }
        params.ecdh_curves = Some(curves);
    }
    if best.add_suite {
        let mut entries: Vec<CipherEntry> = client.cipher_entries.clone();
        let mut added: Vec<&'static CipherSuite> = vec![best.suite];
        if add_all {
            let lo = params.min_version.unwrap_or(client.min_version);
            let hi = params.max_version.unwrap_or(client.max_version);
            for c in &cands {
                let in_range = c.protocol >= lo && c.protocol <= hi;
                if c.add_suite && in_range && !added.iter().any(|s| s.code == c.suite.code) {
                    added.push(c.suite);
                }
            }
        }
        for s in &added {
            entries.push(CipherEntry::One(s));
            if let Some(w) = weakness(s) {
                notes.push(format!("{} is {w}", s.openssl_name));
            }
            if s.boringssl == BoringSsl::Recent {
                notes.push(format!(
                    "{} is accepted only by Envoy builds whose BoringSSL is from 2023 or later; older ones reject the name",
                    s.openssl_name
                ));
            }
        }
        params.cipher_entries = Some(entries);
    }
    let mut advice = format!(
        "Set these parameters in the Upstream's sslConfig; Envoy should then negotiate {} at {}.",
        best.suite.openssl_name, best.protocol
    );
    if !notes.is_empty() {
        advice.push_str(&format!(
            " Note: {}. Better still, enable an ECDHE-AES-GCM suite or TLS 1.3 on the upstream.",
            notes.join("; ")
        ));
    }
    Plan {
        verdict: Verdict::NeedsPatch,
        problems,
        params,
        advice,
        expected: Some((best.protocol, best.suite)),
    }
}

fn incompatible_advice(observed: &Observed, client: &EnvoyClient) -> String {
    let defaults = list(
        client
            .profile
            .cipher_entries
            .iter()
            .flat_map(|e| e.suites())
            .map(|s| s.openssl_name.clone()),
    );
    let tls13 = list(
        client
            .profile
            .tls13_suites
            .iter()
            .map(|s| s.openssl_name.clone()),
    );
    let has_ecdhe = observed
        .suites
        .values()
        .flatten()
        .any(|s| configurable(s) && needs_group(s));
    let mut advice = format!(
        "No Envoy setting can work: the upstream must change. Enable any of {defaults} at TLS 1.2, or TLS 1.3 with {tls13}"
    );
    if has_ecdhe {
        advice.push_str(&format!(
            ", and a curve Envoy supports ({})",
            CONFIGURABLE_CURVES.join(", ")
        ));
    }
    advice.push('.');
    advice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::profile;
    use crate::tls::catalog::catalog;

    fn observed(suites: &[(Protocol, &str)], groups: &[(Protocol, &[&str])]) -> Observed {
        let mut o = Observed::default();
        for (p, n) in suites {
            o.suites
                .entry(*p)
                .or_default()
                .push(catalog().by_name(n).unwrap());
        }
        for (p, g) in groups {
            o.groups
                .insert(*p, g.iter().map(|s| s.to_string()).collect());
        }
        o
    }

    fn current() -> EnvoyClient {
        EnvoyClient::new(profile("current").unwrap())
    }

    #[test]
    fn ecdhe_aead_is_compatible() {
        let o = observed(
            &[(Protocol::Tls12, "ECDHE-RSA-AES128-GCM-SHA256")],
            &[(Protocol::Tls12, &["X25519"])],
        );
        let p = plan(&o, &current(), false);
        assert_eq!(p.verdict, Verdict::Compatible);
        assert!(p.params.is_empty());
    }

    #[test]
    fn cbc_sha1_needs_the_suite_appended_to_the_defaults() {
        let o = observed(
            &[(Protocol::Tls12, "ECDHE-RSA-AES256-SHA")],
            &[(Protocol::Tls12, &["X25519", "P-256"])],
        );
        let p = plan(&o, &current(), false);
        assert_eq!(p.verdict, Verdict::NeedsPatch);
        assert_eq!(p.problems[0].kind, ProblemKind::NoSharedCipher);
        let entries: Vec<String> = p
            .params
            .cipher_entries
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[4], "ECDHE-RSA-AES256-SHA");
        assert_eq!(
            entries[0],
            "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]"
        );
        assert!(p.params.ecdh_curves.is_none() && p.params.max_version.is_none());
        // Envoy 1.16 offered it by default.
        let old = EnvoyClient::new(profile("1.16").unwrap());
        assert_eq!(plan(&o, &old, false).verdict, Verdict::Compatible);
    }

    #[test]
    fn strongest_configurable_suite_wins_and_add_all_adds_every_one() {
        let o = observed(
            &[
                (Protocol::Tls12, "AES256-SHA"),
                (Protocol::Tls12, "AES128-GCM-SHA256"),
            ],
            &[],
        );
        let p = plan(&o, &current(), false);
        let entries = p.params.cipher_entries.clone().unwrap();
        assert_eq!(entries.last().unwrap().to_string(), "AES128-GCM-SHA256");
        assert_eq!(entries.len(), 5);
        let all = plan(&o, &current(), true).params.cipher_entries.unwrap();
        let tail: Vec<String> = all[4..].iter().map(|e| e.to_string()).collect();
        assert_eq!(tail, ["AES128-GCM-SHA256", "AES256-SHA"]);
    }

    #[test]
    fn dhe_only_is_incompatible() {
        let o = observed(&[(Protocol::Tls12, "DHE-RSA-AES256-GCM-SHA384")], &[]);
        let p = plan(&o, &current(), false);
        assert_eq!(p.verdict, Verdict::Incompatible);
        assert!(p.params.is_empty());
        assert!(
            p.advice.contains("ECDHE-RSA-AES128-GCM-SHA256"),
            "{}",
            p.advice
        );
    }

    #[test]
    fn tls13_only_raises_the_maximum() {
        let o = observed(
            &[(Protocol::Tls13, "TLS_AES_256_GCM_SHA384")],
            &[(Protocol::Tls13, &["X25519"])],
        );
        let p = plan(&o, &current(), false);
        assert_eq!(p.verdict, Verdict::NeedsPatch);
        assert_eq!(p.problems[0].kind, ProblemKind::ProtocolVersion);
        assert_eq!(p.params.max_version, Some(Protocol::Tls13));
        assert!(p.params.cipher_entries.is_none());
        // CCM-only TLS 1.3 cannot work: BoringSSL has no CCM.
        let ccm = observed(
            &[(Protocol::Tls13, "TLS_AES_128_CCM_SHA256")],
            &[(Protocol::Tls13, &["X25519"])],
        );
        assert_eq!(plan(&ccm, &current(), false).verdict, Verdict::Incompatible);
    }

    #[test]
    fn p384_only_adds_the_curve() {
        let o = observed(
            &[(Protocol::Tls12, "ECDHE-RSA-AES128-GCM-SHA256")],
            &[(Protocol::Tls12, &["P-384"])],
        );
        let p = plan(&o, &current(), false);
        assert_eq!(p.problems[0].kind, ProblemKind::NoSharedCurve);
        assert_eq!(p.params.ecdh_curves.unwrap(), ["X25519", "P-256", "P-384"]);
        assert!(p.params.cipher_entries.is_none());
    }

    #[test]
    fn tls10_only_lowers_the_minimum_and_adds_a_suite() {
        let o = observed(
            &[
                (Protocol::Tls10, "ECDHE-RSA-AES128-SHA"),
                (Protocol::Tls10, "AES256-SHA"),
            ],
            &[(Protocol::Tls10, &["X25519"])],
        );
        let p = plan(&o, &current(), false);
        assert_eq!(p.problems[0].kind, ProblemKind::ProtocolVersion);
        assert_eq!(p.params.min_version, Some(Protocol::Tls10));
        assert_eq!(
            p.params.cipher_entries.unwrap().last().unwrap().to_string(),
            "ECDHE-RSA-AES128-SHA"
        );
    }
}
