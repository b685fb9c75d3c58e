//! The cipher-suite catalogue: `ciphers/suites.csv`, embedded at build time.
//! Owns lookups by OpenSSL name, IANA name or code point; knows nothing about probing or servers.
//! The data is checked against the local OpenSSL by `tests/it/catalog.rs`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Serialize, Serializer};

use crate::tls::protocol::Protocol;

const SUITES_CSV: &str = include_str!("../../ciphers/suites.csv");

/// A cipher suite's two-byte code point (IANA registry value), printed as `0xC02F`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SuiteCode(pub u16);

impl From<u16> for SuiteCode {
    fn from(code: u16) -> Self {
        SuiteCode(code)
    }
}

impl fmt::Display for SuiteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04X}", self.0)
    }
}

impl Serialize for SuiteCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for SuiteCode {
    type Err = String;

    /// Accepts `0xC02F`, `C02F`, `0xC0,0x2F` (OpenSSL's `-V` form) and `c02f`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s
            .trim()
            .to_ascii_lowercase()
            .replace("0x", "")
            .chars()
            .filter(|c| !matches!(c, ',' | ' '))
            .collect();
        if hex.is_empty() || hex.len() > 4 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "'{s}' is not a cipher suite code point (expected e.g. 0xC02F)"
            ));
        }
        u16::from_str_radix(&hex, 16)
            .map(SuiteCode)
            .map_err(|e| format!("'{s}': {e}"))
    }
}

/// Whether BoringSSL, hence an Envoy/Gloo `cipherSuites` entry, can name this suite
/// (`ciphers/SOURCES.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoringSsl {
    /// Configurable in any Envoy since 2017.
    Yes,
    /// Accepted only when named explicitly (DES-CBC3-SHA, deprecated in BoringSSL since 2023-04).
    Explicit,
    /// Re-added to BoringSSL recently and named explicitly only; older Envoy builds reject the name.
    Recent,
    /// Configurable, but a client never offers it without a PSK callback, which Envoy does not install.
    Psk,
    /// Envoy rejects the name at config load.
    No,
}

/// One cipher suite of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipherSuite {
    pub code: SuiteCode,
    pub openssl_name: String,
    pub iana_name: String,
    /// The oldest protocol version the suite can be used with.
    pub min_version: Protocol,
    /// Key exchange: RSA, DHE, ECDHE, DH, ECDH, PSK, DHE-PSK, ECDHE-PSK, RSA-PSK, SRP, any.
    pub kx: String,
    /// Authentication: RSA, ECDSA, DSS, None, PSK, SRP, any.
    pub auth: String,
    /// Bulk cipher as OpenSSL prints it, e.g. `AESGCM(128)`.
    pub enc: String,
    /// MAC: AEAD, SHA1, SHA256, SHA384, MD5.
    pub mac: String,
    pub boringssl: BoringSsl,
}

impl CipherSuite {
    /// A TLS 1.3 suite (usable with TLS 1.3 only, configured with `set_ciphersuites`).
    pub fn is_tls13(&self) -> bool {
        self.min_version == Protocol::Tls13
    }

    /// Whether a client may offer this suite in a hello pinned to `protocol`.
    pub fn applies_to(&self, protocol: Protocol) -> bool {
        if self.is_tls13() {
            protocol == Protocol::Tls13
        } else {
            protocol != Protocol::Tls13 && protocol >= self.min_version
        }
    }

    /// PSK suites need a pre-shared-key callback before OpenSSL offers them.
    pub fn is_psk(&self) -> bool {
        self.kx.contains("PSK")
    }

    /// Insecure: 3DES (Sweet32), RC4, NULL encryption, anonymous key exchange, EXPORT strength.
    pub fn is_insecure(&self) -> bool {
        self.enc.starts_with("3DES")
            || self.enc.starts_with("RC4")
            || self.enc == "None"
            || self.auth == "None"
            || self.openssl_name.starts_with("EXP")
    }

    /// Weak: RSA key transport (no forward secrecy), or CBC with a SHA-1 MAC.
    pub fn is_weak(&self) -> bool {
        !self.is_tls13() && (self.kx == "RSA" || (self.mac == "SHA1" && self.enc != "None"))
    }

    /// An ephemeral elliptic-curve key exchange (ECDHE, ECDHE-PSK): the client's groups decide its
    /// curve.
    pub fn is_ecdhe(&self) -> bool {
        self.kx.starts_with("ECDHE")
    }

    /// Whether the key exchange gives forward secrecy: ephemeral (EC)DH, and every TLS 1.3 suite.
    pub fn forward_secret(&self) -> bool {
        self.is_tls13() || self.is_ecdhe() || self.kx.starts_with("DHE")
    }

    /// The suite's strength grade; the rule is [`Strength`]'s.
    pub fn strength(&self) -> Strength {
        let broken = self.is_insecure()
            || self.enc.starts_with("DES(")
            || self.enc.starts_with("IDEA")
            || self.enc.starts_with("RC2")
            || self.mac == "MD5";
        let aead = self.mac == "AEAD";
        match (broken, self.forward_secret(), aead, self.mac == "SHA1") {
            (true, ..) => Strength::F,
            (false, true, true, _) => Strength::A,
            (false, true, false, false) => Strength::B,
            (false, true, false, true) | (false, false, true, _) => Strength::C,
            (false, false, false, false) => Strength::C,
            (false, false, false, true) => Strength::D,
        }
    }

    /// SRP suites need an SRP user name before OpenSSL offers them.
    pub fn is_srp(&self) -> bool {
        self.kx == "SRP"
    }
}

/// A cipher suite's strength, as nmap grades ciphers A to F. The rule, first match wins:
/// - **F**: broken: NULL or EXPORT encryption, anonymous key exchange, RC4, single DES, 3DES
///   (Sweet32), IDEA, RC2, or an MD5 MAC.
/// - **A**: forward secrecy (ECDHE, DHE, any TLS 1.3 suite) with an AEAD cipher (GCM, CCM,
///   ChaCha20-Poly1305).
/// - **B**: forward secrecy with CBC and a SHA-2 MAC (sound, but CBC's padding has a long
///   history of attacks and Envoy's defaults leave it out).
/// - **C**: forward secrecy with CBC and a SHA-1 MAC, or no forward secrecy (RSA key transport,
///   static DH/ECDH, plain PSK) with AEAD or a SHA-2 MAC.
/// - **D**: no forward secrecy and CBC with a SHA-1 MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Strength {
    A,
    B,
    C,
    D,
    F,
}

impl fmt::Display for Strength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strength::A => "A",
            Strength::B => "B",
            Strength::C => "C",
            Strength::D => "D",
            Strength::F => "F",
        })
    }
}

/// The data file is malformed (a build defect caught by the tests).
#[derive(Debug, thiserror::Error)]
#[error("ciphers/suites.csv line {line}: {message}")]
pub struct CatalogError {
    pub line: usize,
    pub message: String,
}

/// Every cipher suite the scanner knows, in code-point order.
#[derive(Debug)]
pub struct Catalog {
    suites: Vec<CipherSuite>,
    by_code: HashMap<u16, usize>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    /// Parses the CSV form of `ciphers/suites.csv`.
    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let mut suites = Vec::new();
        let mut header_seen = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let err = |message: String| CatalogError {
                line: i + 1,
                message,
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !header_seen {
                header_seen = true;
                if line != "code,openssl_name,iana_name,min_version,kx,auth,enc,mac,boringssl" {
                    return Err(err(format!("unexpected header '{line}'")));
                }
                continue;
            }
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 9 {
                return Err(err(format!("expected 9 fields, found {}", f.len())));
            }
            let code = f[0].parse::<SuiteCode>().map_err(err)?;
            let min_version = f[3].parse::<Protocol>().map_err(|e| err(e.to_string()))?;
            let boringssl = match f[8] {
                "yes" => BoringSsl::Yes,
                "explicit" => BoringSsl::Explicit,
                "recent" => BoringSsl::Recent,
                "psk" => BoringSsl::Psk,
                "no" => BoringSsl::No,
                other => return Err(err(format!("unknown boringssl value '{other}'"))),
            };
            suites.push(CipherSuite {
                code,
                openssl_name: f[1].to_string(),
                iana_name: f[2].to_string(),
                min_version,
                kx: f[4].to_string(),
                auth: f[5].to_string(),
                enc: f[6].to_string(),
                mac: f[7].to_string(),
                boringssl,
            });
        }
        suites.sort_by_key(|s| s.code);
        let mut by_code = HashMap::new();
        let mut by_name = HashMap::new();
        for (i, s) in suites.iter().enumerate() {
            let dup = |what: &str| CatalogError {
                line: 0,
                message: format!("duplicate {what} for {}", s.openssl_name),
            };
            if by_code.insert(s.code.0, i).is_some() {
                return Err(dup("code point"));
            }
            if by_name
                .insert(s.openssl_name.to_ascii_uppercase(), i)
                .is_some()
            {
                return Err(dup("OpenSSL name"));
            }
            // TLS 1.3 suites carry the IANA name as their OpenSSL name.
            if s.iana_name != s.openssl_name
                && by_name
                    .insert(s.iana_name.to_ascii_uppercase(), i)
                    .is_some()
            {
                return Err(dup("IANA name"));
            }
        }
        Ok(Catalog {
            suites,
            by_code,
            by_name,
        })
    }

    /// All suites, in code-point order.
    pub fn suites(&self) -> &[CipherSuite] {
        &self.suites
    }

    /// The suite with this code point.
    pub fn by_code(&self, code: impl Into<SuiteCode>) -> Option<&CipherSuite> {
        self.by_code.get(&code.into().0).map(|&i| &self.suites[i])
    }

    /// The OpenSSL name of the suite with this code point, or the code point itself (`0x1301`)
    /// for one the catalogue does not know.
    pub fn name_of(&self, code: impl Into<SuiteCode>) -> String {
        let code = code.into();
        self.by_code(code)
            .map(|s| s.openssl_name.clone())
            .unwrap_or_else(|| code.to_string())
    }

    /// The suite with this OpenSSL or IANA name (case-insensitive).
    pub fn by_name(&self, name: &str) -> Option<&CipherSuite> {
        self.by_name
            .get(&name.trim().to_ascii_uppercase())
            .map(|&i| &self.suites[i])
    }

    /// Looks a suite up by OpenSSL name, IANA name or code point (`0xC02F`, `C02F`, `0xC0,0x2F`).
    pub fn lookup(&self, key: &str) -> Option<&CipherSuite> {
        self.by_name(key).or_else(|| {
            let k = key.trim();
            let looks_like_code = k.starts_with("0x") || k.starts_with("0X") || k.len() == 4;
            if looks_like_code {
                k.parse::<SuiteCode>().ok().and_then(|c| self.by_code(c.0))
            } else {
                None
            }
        })
    }
}

/// The embedded catalogue.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        // The file is part of the build and checked by tests; a parse failure is a build defect.
        Catalog::parse(SUITES_CSV).unwrap_or_else(|e| panic!("embedded catalogue is invalid: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_grades_follow_the_rule() {
        let grade = |name: &str| catalog().by_name(name).unwrap().strength();
        assert_eq!(grade("ECDHE-RSA-AES128-GCM-SHA256"), Strength::A);
        assert_eq!(grade("TLS_AES_128_GCM_SHA256"), Strength::A);
        assert_eq!(grade("DHE-RSA-CHACHA20-POLY1305"), Strength::A);
        assert_eq!(grade("ECDHE-RSA-AES128-SHA256"), Strength::B);
        assert_eq!(grade("ECDHE-RSA-AES256-SHA"), Strength::C);
        assert_eq!(grade("AES128-GCM-SHA256"), Strength::C);
        assert_eq!(grade("AES256-SHA256"), Strength::C);
        assert_eq!(grade("AES128-SHA"), Strength::D);
        for broken in [
            "DES-CBC3-SHA",
            "RC4-SHA",
            "NULL-SHA",
            "ADH-AES128-SHA",
            "EXP-RC4-MD5",
        ] {
            assert_eq!(grade(broken), Strength::F, "{broken}");
        }
        // Every weak suite (the old `--forbid weak` class) grades C or worse.
        for s in catalog().suites().iter().filter(|s| s.is_weak()) {
            assert!(
                s.strength() >= Strength::C,
                "{} is weak but graded {}",
                s.openssl_name,
                s.strength()
            );
        }
    }

    #[test]
    fn code_points_parse_in_every_spelling() {
        for s in ["0xC02F", "C02F", "0xC0,0x2F", "c02f", "0xc02f"] {
            assert_eq!(s.parse::<SuiteCode>().unwrap(), SuiteCode(0xC02F), "{s}");
        }
        assert!("0xG02F".parse::<SuiteCode>().is_err());
        assert!("0x12345".parse::<SuiteCode>().is_err());
        assert_eq!(SuiteCode(0x2F).to_string(), "0x002F");
    }

    #[test]
    fn lookup_by_any_key() {
        let c = catalog();
        let by_openssl = c.lookup("ECDHE-RSA-AES256-SHA").unwrap();
        assert_eq!(by_openssl.code, SuiteCode(0xC014));
        assert_eq!(
            c.lookup("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA").unwrap(),
            by_openssl
        );
        assert_eq!(c.lookup("0xC014").unwrap(), by_openssl);
        assert_eq!(c.lookup("ecdhe-rsa-aes256-sha").unwrap(), by_openssl);
        assert!(c.lookup("NOT-A-CIPHER").is_none());
    }

    #[test]
    fn rejects_malformed_rows() {
        let head = "code,openssl_name,iana_name,min_version,kx,auth,enc,mac,boringssl\n";
        assert!(
            Catalog::parse(&format!("{head}0xC014,A,B,TLSv1.0,ECDHE,RSA,AES(256),SHA1")).is_err()
        );
        assert!(Catalog::parse(&format!(
            "{head}0xC014,A,B,TLSv9,ECDHE,RSA,AES(256),SHA1,yes"
        ))
        .is_err());
        let dup = format!(
            "{head}0xC014,A,B,TLSv1.0,ECDHE,RSA,AES(256),SHA1,yes\n0xC014,C,D,TLSv1.0,ECDHE,RSA,AES(256),SHA1,yes"
        );
        assert!(Catalog::parse(&dup).is_err());
    }
}
