//! The Envoy client model: default profiles per Envoy version (`ciphers/envoy-profiles.yaml`), the
//! BoringSSL cipher-string syntax with `[a|b]` groups, and the client a profile plus Gloo parameters make.
//! The model touches no network (the simulation handshake lives in `probe/`); [`real`] runs a real
//! Envoy process as the judge, [`view`] is Envoy's view of an Upstream, [`verdict`] decides.

pub mod real;
pub mod san;
pub mod verdict;
pub mod view;

use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::probe::handshake::ClientSpec;
use crate::tls::catalog::{catalog, BoringSsl, CipherSuite};
use crate::tls::enums::NamedGroup;
use crate::tls::protocol::Protocol;

const PROFILES_YAML: &str = include_str!("../../ciphers/envoy-profiles.yaml");

/// The curve names BoringSSL accepts in `ecdh_curves` (`ciphers/SOURCES.md` §2.1), strongest-compatible first.
pub const CONFIGURABLE_CURVES: [&str; 4] = [
    NamedGroup::X25519.name(),
    NamedGroup::P256.name(),
    NamedGroup::P384.name(),
    NamedGroup::P521.name(),
];

/// One entry of an Envoy cipher list: a suite, or an equal-preference group `[a|b]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CipherEntry {
    One(&'static CipherSuite),
    Group(Vec<&'static CipherSuite>),
}

impl CipherEntry {
    /// The suites of the entry, in order.
    pub fn suites(&self) -> Vec<&'static CipherSuite> {
        match self {
            CipherEntry::One(s) => vec![*s],
            CipherEntry::Group(g) => g.clone(),
        }
    }
}

impl fmt::Display for CipherEntry {
    /// The entry as Envoy/Gloo write it: `NAME` or `[A|B]`, with OpenSSL names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CipherEntry::One(s) => f.write_str(&s.openssl_name),
            CipherEntry::Group(g) => {
                let names: Vec<&str> = g.iter().map(|s| s.openssl_name.as_str()).collect();
                write!(f, "[{}]", names.join("|"))
            }
        }
    }
}

/// The supported_groups code point for an `ecdh_curves` name Envoy can load and cipher-test can
/// offer: BoringSSL's X25519, P-256, P-384 and P-521 under the names and aliases of its
/// `kNamedGroups` table, as `ciphers/SOURCES.md` cites it (`P-256`/`prime256v1`: not `secp256r1`).
pub fn curve_code(name: &str) -> Option<u16> {
    let group = match name {
        "X25519" | "x25519" => NamedGroup::X25519,
        "P-256" | "prime256v1" => NamedGroup::P256,
        "P-384" | "secp384r1" => NamedGroup::P384,
        "P-521" | "secp521r1" => NamedGroup::P521,
        _ => return None,
    };
    Some(group.0)
}

/// Why a cipher string cannot be used by Envoy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherStringError {
    #[error("empty cipher list")]
    Empty,
    #[error("'{0}' is not a cipher suite name cipher-test knows (use OpenSSL or IANA names, e.g. ECDHE-RSA-AES128-GCM-SHA256)")]
    Unknown(String),
    #[error("'{0}': BoringSSL does not implement this suite, so Envoy rejects the whole list at config load (\"Failed to initialize cipher suites\")")]
    NotInBoringSsl(String),
    #[error("'{0}': operators and aliases are not supported here; list suite names only")]
    Operator(String),
    #[error("'{0}': Envoy's strict parser accepts only ':' between entries (no spaces or commas)")]
    Separator(String),
    #[error("unbalanced or nested '[' ']' in '{0}'")]
    Brackets(String),
    #[error("the list names only TLS 1.3 suites, which cipher_suites cannot configure: Envoy fails config load")]
    OnlyTls13,
}

/// Parses an Envoy/BoringSSL cipher string: `:`-separated entries, `[a|b]` equal-preference groups,
/// OpenSSL or IANA names. Names BoringSSL does not implement are errors, as they are for Envoy.
pub fn parse_cipher_string(text: &str) -> Result<Vec<CipherEntry>, CipherStringError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CipherStringError::Empty);
    }
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || *c == ',' || *c == ';')
    {
        return Err(CipherStringError::Separator(format!(
            "{text} (found {bad:?})"
        )));
    }
    let mut entries = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (token, after) = if let Some(inner) = rest.strip_prefix('[') {
            let end = inner
                .find(']')
                .ok_or_else(|| CipherStringError::Brackets(text.into()))?;
            let body = &inner[..end];
            if body.contains('[') || body.is_empty() {
                return Err(CipherStringError::Brackets(text.into()));
            }
            let group = body
                .split('|')
                .map(resolve_name)
                .collect::<Result<Vec<_>, _>>()?;
            (CipherEntry::Group(group), &inner[end + 1..])
        } else {
            let end = rest.find(':').unwrap_or(rest.len());
            let name = &rest[..end];
            if name.contains(['[', ']', '|']) {
                return Err(CipherStringError::Brackets(text.into()));
            }
            (CipherEntry::One(resolve_name(name)?), &rest[end..])
        };
        entries.push(token);
        rest = match after.strip_prefix(':') {
            Some(r) => r,
            None if after.is_empty() => after,
            None => return Err(CipherStringError::Brackets(text.into())),
        };
    }
    if entries
        .iter()
        .all(|e| e.suites().iter().all(|s| s.is_tls13()))
    {
        return Err(CipherStringError::OnlyTls13);
    }
    Ok(entries)
}

fn resolve_name(name: &str) -> Result<&'static CipherSuite, CipherStringError> {
    if name.is_empty() {
        return Err(CipherStringError::Empty);
    }
    if name.starts_with(['!', '+', '-', '@']) || name.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(CipherStringError::Operator(name.into()));
    }
    let suite = catalog()
        .by_name(name)
        .ok_or_else(|| CipherStringError::Unknown(name.into()))?;
    if suite.boringssl == BoringSsl::No {
        return Err(CipherStringError::NotInBoringSsl(name.into()));
    }
    Ok(suite)
}

/// Joins Gloo `cipherSuites` elements the way Envoy does (with `:`) and parses the result.
pub fn parse_cipher_entries(entries: &[String]) -> Result<Vec<CipherEntry>, CipherStringError> {
    parse_cipher_string(&entries.join(":"))
}

#[derive(Debug, Deserialize)]
struct RawProfile {
    name: String,
    description: String,
    source: String,
    cipher_suites: String,
    ecdh_curves: Vec<String>,
    min_version: String,
    max_version: String,
    tls13_suites: Vec<String>,
    signature_algorithms: Vec<String>,
}

/// Envoy's client defaults for one Envoy version line.
#[derive(Debug, Clone)]
pub struct EnvoyProfile {
    pub name: String,
    pub description: String,
    pub source: String,
    pub cipher_entries: Vec<CipherEntry>,
    pub ecdh_curves: Vec<String>,
    pub min_version: Protocol,
    pub max_version: Protocol,
    /// BoringSSL's fixed TLS 1.3 suites, offered only when the maximum version is TLS 1.3.
    pub tls13_suites: Vec<&'static CipherSuite>,
    pub signature_algorithms: Vec<String>,
}

fn load_profiles() -> Result<Vec<EnvoyProfile>, String> {
    let raw: Vec<RawProfile> =
        serde_saphyr::from_str(PROFILES_YAML).map_err(|e| format!("envoy-profiles.yaml: {e}"))?;
    raw.into_iter()
        .map(|r| {
            let err = |what: String| format!("envoy-profiles.yaml, profile {}: {what}", r.name);
            let tls13_suites = r
                .tls13_suites
                .iter()
                .map(|n| {
                    catalog()
                        .by_name(n)
                        .filter(|s| s.is_tls13())
                        .ok_or_else(|| err(format!("{n} is not a TLS 1.3 suite")))
                })
                .collect::<Result<_, _>>()?;
            Ok(EnvoyProfile {
                cipher_entries: parse_cipher_string(&r.cipher_suites)
                    .map_err(|e| err(e.to_string()))?,
                min_version: r.min_version.parse().map_err(|e| err(format!("{e}")))?,
                max_version: r.max_version.parse().map_err(|e| err(format!("{e}")))?,
                tls13_suites,
                name: r.name,
                description: r.description,
                source: r.source,
                ecdh_curves: r.ecdh_curves,
                signature_algorithms: r.signature_algorithms,
            })
        })
        .collect()
}

/// The embedded profiles (`current`, `1.16`, `fips`).
pub fn profiles() -> &'static [EnvoyProfile] {
    static PROFILES: OnceLock<Vec<EnvoyProfile>> = OnceLock::new();
    PROFILES.get_or_init(|| {
        // Embedded data checked by tests; a failure here is a build defect.
        load_profiles().unwrap_or_else(|e| panic!("embedded Envoy profiles are invalid: {e}"))
    })
}

/// The profile called `name`.
pub fn profile(name: &str) -> Option<&'static EnvoyProfile> {
    profiles().iter().find(|p| p.name == name)
}

/// Gloo/Envoy `tls_params` overrides; `None` keeps the profile's default (Envoy replaces, never merges).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsParams {
    pub cipher_entries: Option<Vec<CipherEntry>>,
    pub ecdh_curves: Option<Vec<String>>,
    pub min_version: Option<Protocol>,
    pub max_version: Option<Protocol>,
}

impl TlsParams {
    pub fn is_empty(&self) -> bool {
        *self == TlsParams::default()
    }
}

/// An Envoy upstream TLS client: a profile with parameters applied.
#[derive(Debug, Clone)]
pub struct EnvoyClient {
    pub profile: &'static EnvoyProfile,
    pub cipher_entries: Vec<CipherEntry>,
    pub ecdh_curves: Vec<String>,
    pub min_version: Protocol,
    pub max_version: Protocol,
}

impl EnvoyClient {
    /// The client `profile` configures by default.
    pub fn new(profile: &'static EnvoyProfile) -> Self {
        EnvoyClient {
            profile,
            cipher_entries: profile.cipher_entries.clone(),
            ecdh_curves: profile.ecdh_curves.clone(),
            min_version: profile.min_version,
            max_version: profile.max_version,
        }
    }

    /// The client with Gloo `parameters` applied: each set field replaces the default.
    pub fn with_params(profile: &'static EnvoyProfile, params: &TlsParams) -> Self {
        let mut c = EnvoyClient::new(profile);
        if let Some(e) = &params.cipher_entries {
            c.cipher_entries = e.clone();
        }
        if let Some(curves) = &params.ecdh_curves {
            c.ecdh_curves = curves.clone();
        }
        if let Some(v) = params.min_version {
            c.min_version = v;
        }
        if let Some(v) = params.max_version {
            c.max_version = v;
        }
        c
    }

    /// The client as the probes imitate it in a full handshake.
    pub fn spec(&self) -> ClientSpec {
        ClientSpec {
            min_version: self.min_version,
            max_version: self.max_version,
            tls12_suites: self.tls12_suites(),
            tls13_suites: self.tls13_suites(),
            groups: self.ecdh_curves.clone(),
            signature_algorithms: self.profile.signature_algorithms.clone(),
        }
    }

    /// The TLS 1.2-and-older suites in the order the client sends them (TLS 1.3 names are no-ops).
    pub fn tls12_suites(&self) -> Vec<&'static CipherSuite> {
        self.cipher_entries
            .iter()
            .flat_map(|e| e.suites())
            .filter(|s| !s.is_tls13())
            .collect()
    }

    /// The TLS 1.3 suites the client offers (none unless the maximum version is TLS 1.3).
    pub fn tls13_suites(&self) -> Vec<&'static CipherSuite> {
        if self.max_version >= Protocol::Tls13 {
            self.profile.tls13_suites.clone()
        } else {
            Vec::new()
        }
    }

    /// Whether the client would offer `suite` at `protocol`.
    pub fn offers(&self, protocol: Protocol, suite: &CipherSuite) -> bool {
        if protocol < self.min_version || protocol > self.max_version || !suite.applies_to(protocol)
        {
            return false;
        }
        if suite.is_tls13() {
            self.tls13_suites().iter().any(|s| s.code == suite.code)
        } else {
            // PSK suites are never offered: Envoy installs no PSK callback (`ciphers/SOURCES.md` §3.2).
            !suite.is_psk() && self.tls12_suites().iter().any(|s| s.code == suite.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[CipherEntry]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn parses_groups_and_iana_names() {
        let e = parse_cipher_string(
            "[ECDHE-ECDSA-AES128-GCM-SHA256|TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]:AES128-SHA",
        )
        .unwrap();
        assert_eq!(
            names(&e),
            [
                "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
                "AES128-SHA"
            ]
        );
    }

    #[test]
    fn refuses_what_envoy_refuses() {
        use CipherStringError as E;
        assert_eq!(parse_cipher_string(""), Err(E::Empty));
        assert!(matches!(
            parse_cipher_string("NOPE-CIPHER"),
            Err(E::Unknown(_))
        ));
        assert!(matches!(
            parse_cipher_string("DHE-RSA-AES128-GCM-SHA256"),
            Err(E::NotInBoringSsl(_))
        ));
        assert!(matches!(
            parse_cipher_string("AES128-SHA, AES256-SHA"),
            Err(E::Separator(_))
        ));
        assert!(matches!(
            parse_cipher_string("[AES128-SHA|AES256-SHA"),
            Err(E::Brackets(_))
        ));
        assert!(matches!(
            parse_cipher_string("[AES128-SHA|[AES256-SHA]]"),
            Err(E::Brackets(_))
        ));
        assert!(matches!(parse_cipher_string("[]"), Err(E::Brackets(_))));
        assert!(matches!(
            parse_cipher_string("AES128-SHA::AES256-SHA"),
            Err(E::Empty)
        ));
        assert!(matches!(parse_cipher_string("!aNULL"), Err(E::Operator(_))));
        assert!(matches!(parse_cipher_string("ALL"), Err(E::Operator(_))));
        assert_eq!(
            parse_cipher_string("TLS_AES_128_GCM_SHA256"),
            Err(E::OnlyTls13)
        );
    }

    #[test]
    fn profiles_load_with_the_documented_defaults() {
        let current = profile("current").unwrap();
        assert_eq!(current.cipher_entries.len(), 4);
        let wire: Vec<u16> = EnvoyClient::new(current)
            .tls12_suites()
            .iter()
            .map(|s| s.code.0)
            .collect();
        assert_eq!(wire, [0xC02B, 0xCCA9, 0xC02F, 0xCCA8, 0xC02C, 0xC030]);
        assert_eq!(current.ecdh_curves, ["X25519", "P-256"]);
        assert_eq!(
            (current.min_version, current.max_version),
            (Protocol::Tls12, Protocol::Tls12)
        );
        assert_eq!(profile("1.16").unwrap().cipher_entries.len(), 12);
        assert_eq!(profile("fips").unwrap().ecdh_curves, ["P-256"]);
        for p in profiles() {
            for s in p.cipher_entries.iter().flat_map(|e| e.suites()) {
                assert_eq!(
                    s.boringssl,
                    BoringSsl::Yes,
                    "{} in {}",
                    s.openssl_name,
                    p.name
                );
            }
            assert_eq!(p.signature_algorithms.len(), 9);
        }
    }

    #[test]
    fn parameters_replace_defaults() {
        let p = profile("current").unwrap();
        let params = TlsParams {
            cipher_entries: Some(parse_cipher_string("AES256-SHA").unwrap()),
            max_version: Some(Protocol::Tls13),
            ..TlsParams::default()
        };
        let c = EnvoyClient::with_params(p, &params);
        assert_eq!(c.tls12_suites().len(), 1);
        assert_eq!(c.tls13_suites().len(), 3);
        assert_eq!(c.ecdh_curves, ["X25519", "P-256"]);
        assert!(c.offers(Protocol::Tls12, catalog().by_name("AES256-SHA").unwrap()));
        assert!(!c.offers(
            Protocol::Tls12,
            catalog().by_name("ECDHE-RSA-AES128-GCM-SHA256").unwrap()
        ));
    }
}
