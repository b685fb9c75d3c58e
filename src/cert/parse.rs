//! Parsing a chain once: x509-parser for the fields a person reads, OpenSSL for signatures and
//! trust, and the names a certificate answers to.

use openssl::error::ErrorStack;
use openssl::x509::X509;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::net::IpAddr;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::*;

/// Identity names of a certificate, normalised for matching.
#[derive(Debug, Default)]
pub(super) struct Names {
    pub(super) dns: Vec<String>,
    pub(super) ips: Vec<IpAddr>,
    pub(super) common_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyType {
    Rsa,
    Ec,
    Dsa,
    Other,
}

/// One certificate, parsed once by x509-parser (fields) and once by OpenSSL (signatures, trust).
pub(super) struct Parsed {
    pub(super) x509: X509,
    pub(super) info: CertInfo,
    pub(super) not_before: i64,
    pub(super) not_after: i64,
    pub(super) key_type: KeyType,
    pub(super) key_bits: usize,
    pub(super) weak_digest: Option<&'static str>,
    pub(super) self_signed: bool,
    pub(super) names: Names,
}

impl Parsed {
    /// "the leaf certificate (CN=…)" or "certificate 2 of the chain (CN=…)".
    pub(super) fn describe(&self, index: usize) -> String {
        if index == 0 {
            format!("the leaf certificate ({})", display_dn(&self.info.subject))
        } else {
            format!(
                "certificate {} of the chain ({})",
                index + 1,
                display_dn(&self.info.subject)
            )
        }
    }
}

pub(super) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn display_dn(dn: &str) -> &str {
    if dn.is_empty() {
        "empty subject"
    } else {
        dn
    }
}

/// Parses DER certificates (leaf first) into what a report shows.
pub fn parse_chain(ders: &[Vec<u8>]) -> Result<Vec<CertInfo>, CertError> {
    Ok(parse_all(ders)?.into_iter().map(|p| p.info).collect())
}

pub(super) fn parse_all(ders: &[Vec<u8>]) -> Result<Vec<Parsed>, CertError> {
    ders.iter()
        .enumerate()
        .map(|(i, der)| parse_one(i, der))
        .collect()
}

pub(super) fn parse_one(index: usize, der: &[u8]) -> Result<Parsed, CertError> {
    let invalid = |reason: String| CertError::InvalidDer { index, reason };
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| invalid(e.to_string()))?;
    let x509 = X509::from_der(der).map_err(|e| invalid(openssl_reason(&e)))?;

    let mut names = Names::default();
    let mut sans = Vec::new();
    let san_ext = cert
        .subject_alternative_name()
        .map_err(|e| invalid(format!("subjectAltName: {e}")))?;
    if let Some(ext) = san_ext {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => {
                    sans.push(format!("DNS:{d}"));
                    names.dns.push(d.to_string());
                }
                GeneralName::IPAddress(bytes) => match ip_from_bytes(bytes) {
                    Some(ip) => {
                        sans.push(format!("IP:{ip}"));
                        names.ips.push(ip);
                    }
                    None => sans.push("IP:<malformed>".to_string()),
                },
                GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                GeneralName::RFC822Name(m) => sans.push(format!("email:{m}")),
                GeneralName::DirectoryName(n) => sans.push(format!("DirName:{n}")),
                GeneralName::OtherName(oid, _) => sans.push(format!("othername:{oid}")),
                GeneralName::RegisteredID(oid) => sans.push(format!("RID:{oid}")),
                _ => sans.push("<unsupported name>".to_string()),
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            names.common_names.push(s.to_string());
        }
    }

    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let (key_type, key_bits, key) = describe_key(&cert, &x509);
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    let (signature, weak_digest) = signature_name(&sig_oid);

    let self_signed = x509
        .issuer_name()
        .try_cmp(x509.subject_name())
        .is_ok_and(|o| o == Ordering::Equal)
        && signed_by(&x509, &x509);

    let info = CertInfo {
        // Names are chosen by whoever made the certificate: no control characters reach a terminal.
        subject: crate::util::printable(&cert.subject().to_string()),
        issuer: crate::util::printable(&cert.issuer().to_string()),
        sans: sans.iter().map(|s| crate::util::printable(s)).collect(),
        serial: serial_hex(cert.raw_serial()),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        not_after_unix: not_after,
        key,
        signature,
        sha256: hex(&openssl::sha::sha256(der)),
    };
    Ok(Parsed {
        x509,
        info,
        not_before,
        not_after,
        key_type,
        key_bits,
        weak_digest,
        self_signed,
        names,
    })
}

pub(super) fn openssl_reason(e: &ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|e| e.reason())
        .unwrap_or("unknown OpenSSL error")
        .to_string()
}

pub(super) fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// `issuer` issued `subject`: the names match and the signature verifies with the issuer's key.
pub(super) fn signed_by(subject: &X509, issuer: &X509) -> bool {
    let names_match = subject
        .issuer_name()
        .try_cmp(issuer.subject_name())
        .is_ok_and(|o| o == Ordering::Equal);
    names_match
        && issuer
            .public_key()
            .and_then(|k| subject.verify(&k))
            .unwrap_or(false)
}

/// Key type, size in bits and display name ("RSA 2048", "EC P-256", "Ed25519").
pub(super) fn describe_key(cert: &X509Certificate, x509: &X509) -> (KeyType, usize, String) {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        // rsaEncryption; x509-parser's own key_size() miscounts moduli with the top bit set.
        "1.2.840.113549.1.1.1" => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => unsigned_bits(rsa.modulus),
                _ => 0,
            };
            (KeyType::Rsa, bits, format!("RSA {bits}"))
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let named = curve.as_deref().and_then(curve_name);
            match named {
                Some((name, bits)) => (KeyType::Ec, bits, format!("EC {name}")),
                None => {
                    let bits = match spki.parsed() {
                        Ok(PublicKey::EC(point)) => point.key_size(),
                        _ => 0,
                    };
                    let what = curve.unwrap_or_else(|| "explicit parameters".to_string());
                    (KeyType::Ec, bits, format!("EC {bits}-bit ({what})"))
                }
            }
        }
        "1.3.101.112" => (KeyType::Other, 256, "Ed25519".to_string()),
        "1.3.101.113" => (KeyType::Other, 456, "Ed448".to_string()),
        "1.2.840.10040.4.1" => {
            let bits = x509
                .public_key()
                .map(|k| k.bits() as usize)
                .unwrap_or_default();
            (KeyType::Dsa, bits, format!("DSA {bits}"))
        }
        "1.2.840.113549.1.1.10" => {
            let bits = x509
                .public_key()
                .map(|k| k.bits() as usize)
                .unwrap_or_default();
            (KeyType::Rsa, bits, format!("RSA-PSS {bits}"))
        }
        other => (KeyType::Other, 0, format!("unknown key type ({other})")),
    }
}

pub(super) fn unsigned_bits(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
        None => 0,
    }
}

pub(super) fn curve_name(oid: &str) -> Option<(&'static str, usize)> {
    Some(match oid {
        "1.2.840.10045.3.1.7" => ("P-256", 256),
        "1.3.132.0.34" => ("P-384", 384),
        "1.3.132.0.35" => ("P-521", 521),
        "1.3.132.0.33" => ("P-224", 224),
        "1.2.840.10045.3.1.1" => ("P-192", 192),
        "1.3.132.0.10" => ("secp256k1", 256),
        "1.3.36.3.3.2.8.1.1.7" => ("brainpoolP256r1", 256),
        "1.3.36.3.3.2.8.1.1.11" => ("brainpoolP384r1", 384),
        "1.3.36.3.3.2.8.1.1.13" => ("brainpoolP512r1", 512),
        _ => return None,
    })
}

/// OpenSSL's long name for a signature algorithm OID, and the broken digest in it, if any.
pub(super) fn signature_name(oid: &str) -> (String, Option<&'static str>) {
    let (name, weak) = match oid {
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", Some("MD2")),
        "1.2.840.113549.1.1.3" => ("md4WithRSAEncryption", Some("MD4")),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", Some("MD5")),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", Some("SHA-1")),
        "1.3.14.3.2.29" => ("sha1WithRSA", Some("SHA-1")),
        "1.2.840.113549.1.1.10" => ("rsassaPss", None),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", None),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", None),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", None),
        "1.2.840.113549.1.1.14" => ("sha224WithRSAEncryption", None),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", Some("SHA-1")),
        "1.2.840.10045.4.3.1" => ("ecdsa-with-SHA224", None),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", None),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", None),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", None),
        "1.3.101.112" => ("ED25519", None),
        "1.3.101.113" => ("ED448", None),
        "1.2.840.10040.4.3" => ("dsaWithSHA1", Some("SHA-1")),
        "2.16.840.1.101.3.4.3.2" => ("dsa_with_SHA256", None),
        other => return (other.to_string(), None),
    };
    (name.to_string(), weak)
}

pub(super) fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex(&raw[start..])
}

pub(super) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Unix seconds as RFC 3339 UTC, e.g. `2026-11-26T17:00:00Z`.
pub fn rfc3339(ts: i64) -> String {
    let days = ts.div_euclid(SECONDS_PER_DAY);
    let secs = ts.rem_euclid(SECONDS_PER_DAY);
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
