//! Certificates over parsed DER: chain parsing, trust and hostname evaluation, and the
//! certificate findings (`cert.*`, `ocsp.stapled`). It knows nothing about sockets: callers hand
//! it the chain as the server sent it (or as a secret holds it), the trust anchors and the clock.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use openssl::error::ErrorStack;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509PurposeId, X509StoreContext, X509};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// Largest CA file [`load_ca_file`] reads (8 MiB; the Mozilla bundle is about 220 KiB).
pub const MAX_CA_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// OpenSSL `X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT`: the issuer of a certificate is nowhere.
const V_ERR_UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
/// OpenSSL `X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY`: the top has no issuer in the store.
const V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
/// OpenSSL `X509_V_ERR_INVALID_CA`: an issuing certificate is not a CA.
const V_ERR_INVALID_CA: i32 = 24;
/// OpenSSL `X509_V_ERR_INVALID_PURPOSE`: the leaf may not be used for the purpose (serverAuth).
const V_ERR_INVALID_PURPOSE: i32 = 26;

const SECONDS_PER_DAY: i64 = 86_400;

/// How bad a finding is. The order is the display order: errors first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Envoy (in the configuration being modelled) fails, or Gloo rejects the input.
    Error,
    /// Works today but is fragile, weak, or fails under a stricter configuration.
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
}

impl Severity {
    /// The lowercase name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One problem (or fact) about a certificate or secret; the message says what is wrong and what
/// to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Stable identifier, e.g. `cert.expired`.
    pub id: String,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl Finding {
    /// A finding with the given id, severity and message.
    pub fn new(id: &str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            id: id.to_string(),
            severity,
            message: message.into(),
        }
    }
}

/// What a person wants to know about one certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertInfo {
    /// Subject DN, e.g. `CN=api.example.com, O=Example`.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Subject alternative names with their type: `DNS:a.example.com`, `IP:10.0.0.1`, `URI:…`.
    pub sans: Vec<String>,
    /// Serial number as lowercase hex without separators or sign padding.
    pub serial: String,
    /// Start of validity, RFC 3339 UTC (`2026-11-26T17:00:00Z`).
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// Public key: `RSA 2048`, `EC P-256`, `EC P-384`, `Ed25519`, …
    pub key: String,
    /// Signature algorithm, OpenSSL long name: `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, …
    pub signature: String,
    /// SHA-256 of the DER, lowercase hex, no separators.
    pub sha256: String,
}

/// Where trust comes from.
#[derive(Debug, Clone)]
pub enum TrustAnchors {
    /// The system store (OpenSSL's default paths; `SSL_CERT_FILE`/`SSL_CERT_DIR` override them).
    System,
    /// Exactly the CAs of a PEM file, as Gloo's `rootCa` (Envoy `trusted_ca`).
    Pem(Vec<X509>),
}

/// Everything [`evaluate`] needs.
#[derive(Debug, Clone, Copy)]
pub struct CertCheck<'a> {
    /// DER certificates as the server sent them, leaf first.
    pub chain: &'a [Vec<u8>],
    /// Trust anchors to verify against.
    pub anchors: &'a TrustAnchors,
    /// SNI if sent, else the target host name.
    pub host: Option<&'a str>,
    /// The target IP when the host is an IP address.
    pub ip: Option<IpAddr>,
    /// The time to check validity at, unix seconds.
    pub now: i64,
    /// Warn when a certificate expires within this many days.
    pub warn_days: u32,
    /// The server stapled an OCSP response.
    pub ocsp_stapled: bool,
}

/// The certificate part of a scan report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertificateReport {
    /// The sent chain, leaf first.
    pub chain: Vec<CertInfo>,
    /// The chain verifies against the anchors (validity dates are not part of this; see
    /// `cert.expired`).
    pub trusted: bool,
    /// The leaf matches the host/IP; `None` when there was no name to match.
    pub hostname_match: Option<bool>,
    /// OpenSSL's verify error when `trusted` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
}

/// Errors a caller handles: the input cannot be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// No certificate to check.
    #[error("no certificate to check: the chain is empty")]
    EmptyChain,
    /// A certificate is not valid DER X.509.
    #[error(
        "certificate {} of the chain is not a valid X.509 certificate ({reason}); the server or file \
         sends something that is not a DER certificate",
        index + 1
    )]
    InvalidDer {
        /// 0-based position in the chain.
        index: usize,
        /// The parser's reason (never the certificate bytes).
        reason: String,
    },
    /// The CA file cannot be read.
    #[error("cannot read the CA file {}: {source}; check the path and its permissions", path.display())]
    CaFileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA file is over [`MAX_CA_FILE_BYTES`].
    #[error(
        "the CA file {} is larger than {limit} bytes; a CA bundle is normally well under 1 MiB, so \
         check that this is the right file",
        path.display()
    )]
    CaFileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// The CA file has no certificate in it.
    #[error(
        "the CA file {} holds no PEM certificate{detail}; it must contain one or more blocks starting \
         with -----BEGIN CERTIFICATE-----",
        path.display()
    )]
    CaFileNoCertificate {
        /// The file.
        path: PathBuf,
        /// What was found instead, starting with "; " or empty.
        detail: String,
    },
    /// The CA file is not valid PEM, or a certificate in it does not parse.
    #[error("the CA file {} is not usable: {problem}", path.display())]
    CaFileInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (never the file content).
        problem: String,
    },
    /// OpenSSL failed while setting up verification (out of memory, broken system store).
    #[error("OpenSSL failed while checking the certificate chain: {0}")]
    OpenSsl(#[from] ErrorStack),
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/// Identity names of a certificate, normalised for matching.
#[derive(Debug, Default)]
struct Names {
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    common_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    Ec,
    Dsa,
    Other,
}

/// One certificate, parsed once by x509-parser (fields) and once by OpenSSL (signatures, trust).
struct Parsed {
    x509: X509,
    info: CertInfo,
    not_before: i64,
    not_after: i64,
    key_type: KeyType,
    key_bits: usize,
    weak_digest: Option<&'static str>,
    self_signed: bool,
    names: Names,
}

impl Parsed {
    /// "the leaf certificate (CN=…)" or "certificate 2 of the chain (CN=…)".
    fn describe(&self, index: usize) -> String {
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

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn display_dn(dn: &str) -> &str {
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

fn parse_all(ders: &[Vec<u8>]) -> Result<Vec<Parsed>, CertError> {
    ders.iter()
        .enumerate()
        .map(|(i, der)| parse_one(i, der))
        .collect()
}

fn parse_one(index: usize, der: &[u8]) -> Result<Parsed, CertError> {
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

fn openssl_reason(e: &ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|e| e.reason())
        .unwrap_or("unknown OpenSSL error")
        .to_string()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// `issuer` issued `subject`: the names match and the signature verifies with the issuer's key.
fn signed_by(subject: &X509, issuer: &X509) -> bool {
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
fn describe_key(cert: &X509Certificate, x509: &X509) -> (KeyType, usize, String) {
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

fn unsigned_bits(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
        None => 0,
    }
}

fn curve_name(oid: &str) -> Option<(&'static str, usize)> {
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
fn signature_name(oid: &str) -> (String, Option<&'static str>) {
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

fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex(&raw[start..])
}

fn hex(bytes: &[u8]) -> String {
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

// ---------------------------------------------------------------------------------------------
// PEM.

/// One PEM block: its label and decoded bytes, and the line its BEGIN is on.
#[derive(Debug, Clone)]
pub struct PemBlock {
    /// The label between `BEGIN ` and `-----`, e.g. `CERTIFICATE`, `PRIVATE KEY`.
    pub label: String,
    /// The decoded body.
    pub der: Vec<u8>,
    /// 1-based line of the BEGIN line.
    pub line: usize,
    /// The block has a legacy `Proc-Type: 4,ENCRYPTED` header.
    pub encrypted: bool,
}

/// PEM text that cannot be split into blocks. Messages name lines and labels, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// A BEGIN line without its END line.
    #[error("the {label} block that begins on line {line} has no END line (the PEM is cut off)")]
    Unterminated {
        /// Block label.
        label: String,
        /// BEGIN line.
        line: usize,
    },
    /// END label differs from the BEGIN label.
    #[error("the {label} block that begins on line {line} ends with a different label")]
    EndMismatch {
        /// Block label.
        label: String,
        /// BEGIN line.
        line: usize,
    },
    /// The body is not valid base64.
    #[error("the body of the {label} block that begins on line {line} is not valid base64 (a damaged copy and paste?)")]
    Base64 {
        /// Block label.
        label: String,
        /// BEGIN line.
        line: usize,
    },
}

/// Splits PEM text into blocks; text outside blocks (comments, `openssl x509 -text`) is skipped.
pub fn pem_blocks(data: &[u8]) -> Result<Vec<PemBlock>, PemError> {
    let text = String::from_utf8_lossy(data);
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, String, bool)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        match open.take() {
            None => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    open = Some((safe_label(label), i + 1, String::new(), false));
                }
            }
            Some((label, start, mut body, mut encrypted)) => {
                if let Some(end) = line.strip_prefix("-----END ") {
                    if safe_label(end.trim_end_matches('-')) != label {
                        return Err(PemError::EndMismatch { label, line: start });
                    }
                    let der =
                        openssl::base64::decode_block(&body).map_err(|_| PemError::Base64 {
                            label: label.clone(),
                            line: start,
                        })?;
                    blocks.push(PemBlock {
                        label,
                        der,
                        line: start,
                        encrypted,
                    });
                } else if line.starts_with("-----BEGIN ") {
                    return Err(PemError::Unterminated { label, line: start });
                } else {
                    // RFC 1421 headers (Proc-Type, DEK-Info) precede the body; base64 has no ':'.
                    if line.contains(':') {
                        encrypted |= line.starts_with("Proc-Type:") && line.contains("ENCRYPTED");
                    } else {
                        body.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
                    }
                    open = Some((label, start, body, encrypted));
                }
            }
        }
    }
    if let Some((label, line, _, _)) = open {
        return Err(PemError::Unterminated { label, line });
    }
    Ok(blocks)
}

/// A label that is safe to print: the usual upper-case words, or a placeholder.
fn safe_label(label: &str) -> String {
    let ok = label.len() <= 40
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-' || c == '_');
    if ok {
        label.to_string()
    } else {
        "(unusual label)".to_string()
    }
}

/// Certificate blocks are labelled `CERTIFICATE` (or `TRUSTED CERTIFICATE`, OpenSSL's form with
/// trust settings after the certificate).
pub fn is_certificate_label(label: &str) -> bool {
    matches!(
        label,
        "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE"
    )
}

/// Loads the CAs of a PEM file, as Gloo's `rootCa` / a secret's `ca.crt` would be read.
pub fn load_ca_file(path: &Path) -> Result<Vec<X509>, CertError> {
    let unreadable = |source| CertError::CaFileUnreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut data = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(unreadable)?;
    if data.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(CertError::CaFileTooLarge {
            path: path.to_path_buf(),
            limit: MAX_CA_FILE_BYTES,
        });
    }
    let invalid = |problem: String| CertError::CaFileInvalid {
        path: path.to_path_buf(),
        problem,
    };
    let blocks = pem_blocks(&data).map_err(|e| invalid(e.to_string()))?;
    let mut cas = Vec::new();
    for block in blocks.iter().filter(|b| is_certificate_label(&b.label)) {
        let cert = X509::from_der(&block.der).map_err(|e| {
            invalid(format!(
                "the {} block that begins on line {} is not a valid X.509 certificate ({})",
                block.label,
                block.line,
                openssl_reason(&e)
            ))
        })?;
        cas.push(cert);
    }
    if cas.is_empty() {
        let detail = if blocks.is_empty() {
            if data.first() == Some(&0x30) {
                "; it looks like binary DER, so convert it with \
                 `openssl x509 -inform der -in FILE -out ca.pem`"
                    .to_string()
            } else {
                "; it has no PEM block at all".to_string()
            }
        } else {
            let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
            format!("; it only has {} block(s)", labels.join(", "))
        };
        return Err(CertError::CaFileNoCertificate {
            path: path.to_path_buf(),
            detail,
        });
    }
    Ok(cas)
}

// ---------------------------------------------------------------------------------------------
// Trust and names.

/// Verifies `chain` (leaf first, the rest as untrusted intermediates) against `anchors`: plain
/// path building, for any purpose. Validity dates are ignored (`NO_CHECK_TIME`): expiry is
/// reported by `cert.expired`, not as distrust. Returns `None` when trusted, else OpenSSL's verify
/// error code and string. [`evaluate`] checks a server chain the way Envoy does instead.
pub fn verify_chain(
    chain: &[Vec<u8>],
    anchors: &TrustAnchors,
) -> Result<Option<(i32, String)>, CertError> {
    let parsed = chain
        .iter()
        .enumerate()
        .map(|(i, der)| {
            X509::from_der(der).map_err(|e| CertError::InvalidDer {
                index: i,
                reason: openssl_reason(&e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    verify_x509(&parsed, anchors, Purpose::Any)
}

/// The subject alternative names of one certificate, by type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SanNames {
    pub dns: Vec<String>,
    pub uri: Vec<String>,
    pub email: Vec<String>,
    pub ip: Vec<IpAddr>,
}

/// The SANs of `der` (the leaf), by type; the subject CN is not among them.
pub fn leaf_names(der: &[u8]) -> Result<SanNames, CertError> {
    let parsed = parse_one(0, der)?;
    let mut out = SanNames {
        dns: parsed.names.dns.clone(),
        ip: parsed.names.ips.clone(),
        ..SanNames::default()
    };
    for san in &parsed.info.sans {
        if let Some(u) = san.strip_prefix("URI:") {
            out.uri.push(u.to_string());
        } else if let Some(m) = san.strip_prefix("email:") {
            out.email.push(m.to_string());
        }
    }
    Ok(out)
}

/// Verifies `chain` as Envoy does with a `trusted_ca` of `cas`: path, purpose serverAuth, partial
/// chains allowed, and the validity dates at `now` (unix seconds). `None` when Envoy accepts it,
/// else why it refuses, e.g. `certificate has expired (CN=api, until 2026-01-01T00:00:00Z)`.
pub fn envoy_verify(
    chain: &[Vec<u8>],
    cas: &[X509],
    now: i64,
) -> Result<Option<String>, CertError> {
    let parsed = parse_all(chain)?;
    let x509s: Vec<X509> = parsed.iter().map(|p| p.x509.clone()).collect();
    let anchors = TrustAnchors::Pem(cas.to_vec());
    if let Some((_, reason)) = verify_x509_at(&x509s, &anchors, Purpose::EnvoyUpstream, Some(now))?
    {
        let leaf = display_dn(&parsed[0].info.subject);
        return Ok(Some(format!(
            "{reason} (leaf {leaf}, valid {} to {})",
            parsed[0].info.not_before, parsed[0].info.not_after
        )));
    }
    Ok(None)
}

/// What the verified chain is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Only the path matters.
    Any,
    /// An upstream server as Envoy verifies it (`default_validator.cc`): purpose `ssl_server`
    /// (serverAuth), and with a `trusted_ca`, `X509_V_FLAG_PARTIAL_CHAIN`, so a CA file holding an
    /// intermediate (or the leaf itself) is enough (Envoy ≥ 1.24, envoyproxy/envoy#22350).
    EnvoyUpstream,
}

fn verify_x509(
    chain: &[X509],
    anchors: &TrustAnchors,
    purpose: Purpose,
) -> Result<Option<(i32, String)>, CertError> {
    verify_x509_at(chain, anchors, purpose, None)
}

/// As [`verify_x509`]; with `at` (unix seconds), validity dates are checked at that time too.
fn verify_x509_at(
    chain: &[X509],
    anchors: &TrustAnchors,
    purpose: Purpose,
    at: Option<i64>,
) -> Result<Option<(i32, String)>, CertError> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(CertError::EmptyChain);
    };
    let mut builder = X509StoreBuilder::new()?;
    let mut flags = if at.is_some() {
        X509VerifyFlags::empty()
    } else {
        X509VerifyFlags::NO_CHECK_TIME
    };
    if let Some(t) = at {
        let mut param = openssl::x509::verify::X509VerifyParam::new()?;
        param.set_time(t);
        builder.set_param(&param)?;
    }
    match anchors {
        TrustAnchors::System => builder.set_default_paths()?,
        TrustAnchors::Pem(cas) => {
            for ca in cas {
                builder.add_cert(ca.clone())?;
            }
            if purpose == Purpose::EnvoyUpstream {
                flags |= X509VerifyFlags::PARTIAL_CHAIN;
            }
        }
    }
    builder.set_flags(flags)?;
    if purpose == Purpose::EnvoyUpstream {
        builder.set_purpose(X509PurposeId::SSL_SERVER)?;
    }
    let store = builder.build();
    let mut untrusted = Stack::new()?;
    for cert in rest {
        untrusted.push(cert.clone())?;
    }
    let mut ctx = X509StoreContext::new()?;
    let outcome = ctx.init(&store, leaf, &untrusted, |c| {
        if c.verify_cert()? {
            Ok(None)
        } else {
            let err = c.error();
            Ok(Some((err.as_raw(), err.error_string().to_string())))
        }
    })?;
    Ok(outcome)
}

/// RFC 6125 name check of a certificate against a host name and/or IP address.
///
/// DNS-IDs match exactly (ASCII case-insensitive, one trailing dot ignored); a wildcard counts only
/// as the whole left-most label of a name with at least three labels (`*.example.com` matches
/// `a.example.com`, not `example.com`, not `a.b.example.com`; partial wildcards such as
/// `f*.example.com` or `xn--*.example.com` never match). An IP address (given as `ip`, or as
/// `host` in text) matches iPAddress SANs only. The subject CN is a DNS-ID only when the
/// certificate has no DNS or IP SAN at all.
/// The result is true when `host` or `ip` matches; false when neither is given.
pub fn hostname_matches(
    cert_der: &[u8],
    host: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<bool, CertError> {
    Ok(names_match(&parse_one(0, cert_der)?.names, host, ip))
}

fn names_match(names: &Names, host: Option<&str>, ip: Option<IpAddr>) -> bool {
    let host_ok = host.is_some_and(|h| {
        let bare = h
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h);
        match bare.parse::<IpAddr>() {
            Ok(addr) => names.ips.contains(&addr),
            Err(_) => {
                let ids = if names.dns.is_empty() && names.ips.is_empty() {
                    &names.common_names
                } else {
                    &names.dns
                };
                ids.iter().any(|pattern| dns_id_matches(pattern, h))
            }
        }
    });
    host_ok || ip.is_some_and(|addr| names.ips.contains(&addr))
}

fn dns_id_matches(pattern: &str, host: &str) -> bool {
    let norm = |s: &str| s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let (pattern, host) = (norm(pattern), norm(host));
    if pattern.is_empty() || host.is_empty() || host.contains('*') {
        return false;
    }
    if let Some(rest) = pattern.strip_prefix("*.") {
        // The wildcard must stand for one whole label, and above at least two fixed labels.
        if rest.contains('*') || !rest.contains('.') || rest.split('.').any(str::is_empty) {
            return false;
        }
        return match host.split_once('.') {
            Some((first, host_rest)) => !first.is_empty() && host_rest == rest,
            None => false,
        };
    }
    !pattern.contains('*') && pattern == host
}

// ---------------------------------------------------------------------------------------------
// Findings.

/// `cert.expired`, `cert.not_yet_valid` for every certificate, and `cert.expires_soon` for the
/// earliest expiry within `warn_days`.
pub fn validity_findings(
    chain: &[Vec<u8>],
    now: i64,
    warn_days: u32,
) -> Result<Vec<Finding>, CertError> {
    Ok(validity(&parse_all(chain)?, now, warn_days))
}

fn validity(chain: &[Parsed], now: i64, warn_days: u32) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, c) in chain.iter().enumerate() {
        if now > c.not_after {
            out.push(Finding::new(
                "cert.expired",
                Severity::Error,
                format!(
                    "{} expired on {}; TLS clients, Envoy included, reject it. Renew it and deploy the new \
                     certificate{}",
                    capitalize(&c.describe(i)),
                    c.info.not_after,
                    if i == 0 {
                        ""
                    } else {
                        " (for an intermediate: install the current one from your CA)"
                    }
                ),
            ));
        }
        if now < c.not_before {
            out.push(Finding::new(
                "cert.not_yet_valid",
                Severity::Error,
                format!(
                    "{} is not valid until {}; clients reject it until then. Check the clock of the \
                     machine that issued it, or reissue it with a start date in the past",
                    capitalize(&c.describe(i)),
                    c.info.not_before
                ),
            ));
        }
    }
    let horizon = now.saturating_add(i64::from(warn_days) * SECONDS_PER_DAY);
    let soonest = chain
        .iter()
        .enumerate()
        .filter(|(_, c)| c.not_after >= now)
        .min_by_key(|(_, c)| c.not_after);
    if let Some((i, c)) = soonest {
        if c.not_after <= horizon {
            let days = (c.not_after - now) / SECONDS_PER_DAY;
            out.push(Finding::new(
                "cert.expires_soon",
                Severity::Warning,
                format!(
                    "{} expires on {} (in {days} day{}, within the {warn_days}-day warning window); \
                     renew it before then",
                    capitalize(&c.describe(i)),
                    c.info.not_after,
                    if days == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    out
}

/// `cert.chain_order`: a certificate is not followed by its issuer although the issuer is elsewhere
/// in the chain, or certificates belong to no path from the leaf.
pub fn chain_order_findings(chain: &[Vec<u8>]) -> Result<Vec<Finding>, CertError> {
    Ok(chain_order(&parse_all(chain)?))
}

fn chain_order(chain: &[Parsed]) -> Vec<Finding> {
    let n = chain.len();
    let issued = |issuer: usize, subject: usize| {
        issuer != subject && signed_by(&chain[subject].x509, &chain[issuer].x509)
    };
    let mut problems = Vec::new();
    for (i, cert) in chain.iter().enumerate().take(n.saturating_sub(1)) {
        if cert.self_signed || issued(i + 1, i) {
            continue;
        }
        if let Some(j) = (0..n).find(|&j| j != i + 1 && issued(j, i)) {
            problems.push(format!(
                "{} is followed by certificate {}, not by its issuer, which is certificate {}",
                cert.describe(i),
                i + 2,
                j + 1
            ));
        }
    }
    let path = path_from_leaf(chain);
    let on_path: Vec<bool> = (0..n).map(|j| path.contains(&j)).collect();
    let strays: Vec<String> = (0..n)
        .filter(|&j| !on_path[j])
        .map(|j| chain[j].describe(j))
        .collect();
    if !strays.is_empty() {
        problems.push(format!(
            "{} belong{} to no path from the leaf",
            strays.join(" and "),
            if strays.len() == 1 { "s" } else { "" }
        ));
    }
    if problems.is_empty() {
        return Vec::new();
    }
    vec![Finding::new(
        "cert.chain_order",
        Severity::Warning,
        format!(
            "The certificate chain is out of order: {}. Strict clients fail to build the path. Serve the \
             leaf first, then each intermediate followed by the certificate that issued it (for a \
             Kubernetes secret: the same order in tls.crt), and drop certificates that do not belong",
            problems.join("; ")
        ),
    )]
}

/// Indexes of the certificates on the issuer path from the leaf (index 0) through the sent chain,
/// preferring the next certificate when several could have issued the current one.
fn path_from_leaf(chain: &[Parsed]) -> Vec<usize> {
    let n = chain.len();
    let mut path = Vec::new();
    if n == 0 {
        return path;
    }
    path.push(0);
    let mut current = 0;
    while !chain[current].self_signed {
        let next = (current + 1..n)
            .chain(0..current)
            .find(|&j| !path.contains(&j) && signed_by(&chain[current].x509, &chain[j].x509));
        match next {
            Some(j) => {
                path.push(j);
                current = j;
            }
            None => break,
        }
    }
    path
}

/// The last certificate on the leaf's path, with its index.
fn path_top(chain: &[Parsed]) -> (usize, &Parsed) {
    let top = path_from_leaf(chain).last().copied().unwrap_or(0);
    (top, &chain[top])
}

/// Where the path ends: "the chain's root is CN=X" or "the sent chain ends at …, issued by CN=Y".
fn root_hint(chain: &[Parsed]) -> String {
    let (i, top) = path_top(chain);
    if top.self_signed {
        format!("the chain's root is {}", display_dn(&top.info.subject))
    } else {
        format!(
            "the sent chain ends at {}, issued by {}",
            top.describe(i),
            display_dn(&top.info.issuer)
        )
    }
}

/// `cert.weak_key` and `cert.weak_signature` for every certificate that is not self-signed
/// (a root's own key and self-signature are not what clients rely on).
pub fn strength_findings(chain: &[Vec<u8>]) -> Result<Vec<Finding>, CertError> {
    Ok(strength(&parse_all(chain)?))
}

fn strength(chain: &[Parsed]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, c) in chain.iter().enumerate().filter(|(_, c)| !c.self_signed) {
        let weak = match c.key_type {
            KeyType::Rsa => c.key_bits < 2048,
            KeyType::Ec => c.key_bits < 256,
            KeyType::Dsa => true,
            KeyType::Other => false,
        };
        if weak {
            let extra = match c.key_type {
                KeyType::Dsa => {
                    " BoringSSL, Envoy's TLS library, cannot use DSA certificates at all."
                        .to_string()
                }
                _ => String::new(),
            };
            out.push(Finding::new(
                "cert.weak_key",
                Severity::Warning,
                format!(
                    "{} has a weak {} key; clients at OpenSSL security level 2 (the default on Debian and \
                     RHEL) reject it, and Envoy FIPS builds refuse RSA certificates whose key is not \
                     2048, 3072 or 4096 bits when they have to load them (e.g. a client certificate in \
                     tls.crt).{extra} Reissue it with RSA 2048 or more, or EC P-256 or P-384",
                    capitalize(&c.describe(i)),
                    c.info.key
                ),
            ));
        }
        if let Some(digest) = c.weak_digest {
            out.push(Finding::new(
                "cert.weak_signature",
                Severity::Warning,
                format!(
                    "{} is signed with {} ({digest}), which can be forged with collisions; OpenSSL 3 clients \
                     at the default security level reject SHA-1 and MD5 certificate signatures. Have it \
                     reissued with SHA-256",
                    capitalize(&c.describe(i)),
                    c.info.signature
                ),
            ));
        }
    }
    out
}

/// The checks that need only the chain: validity, order, key and signature strength.
pub fn chain_findings(
    chain: &[Vec<u8>],
    now: i64,
    warn_days: u32,
) -> Result<Vec<Finding>, CertError> {
    let parsed = parse_all(chain)?;
    let mut out = validity(&parsed, now, warn_days);
    out.extend(chain_order(&parsed));
    out.extend(strength(&parsed));
    Ok(out)
}

/// Parses, verifies and name-checks a chain; returns the report and its findings, errors first.
pub fn evaluate(check: &CertCheck) -> Result<(CertificateReport, Vec<Finding>), CertError> {
    let parsed = parse_all(check.chain)?;
    let Some(leaf) = parsed.first() else {
        return Err(CertError::EmptyChain);
    };
    let pinned = matches!(check.anchors, TrustAnchors::Pem(_));
    let x509s: Vec<X509> = parsed.iter().map(|p| p.x509.clone()).collect();
    let verify = verify_x509(&x509s, check.anchors, Purpose::EnvoyUpstream)?;

    let mut findings = validity(&parsed, check.now, check.warn_days);

    if let Some((code, reason)) = &verify {
        let missing_issuer = *code == V_ERR_UNABLE_TO_GET_ISSUER_CERT
            || *code == V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
        if missing_issuer && (pinned || (parsed.len() == 1 && !leaf.self_signed)) {
            findings.push(chain_incomplete(&parsed, pinned));
        }
        if parsed.len() == 1 && leaf.self_signed {
            findings.push(Finding::new(
                "cert.self_signed",
                Severity::Warning,
                format!(
                    "The server sends a single self-signed certificate ({}). Envoy verifies nothing \
                     without rootCa, so any certificate would be accepted; to verify this one, put this \
                     certificate in the secret's ca.crt (Gloo sslConfig rootCa)",
                    display_dn(&leaf.info.subject)
                ),
            ));
        }
        findings.push(untrusted(&parsed, pinned, *code, reason));
    }
    findings.extend(chain_order(&parsed));

    let hostname_match = if check.host.is_some() || check.ip.is_some() {
        Some(names_match(&leaf.names, check.host, check.ip))
    } else {
        None
    };
    let san_less = leaf.names.dns.is_empty() && leaf.names.ips.is_empty();
    if hostname_match == Some(false) {
        findings.push(hostname_mismatch(leaf, check, pinned));
    } else if hostname_match == Some(true) && pinned && san_less {
        // RFC 6125 lets the CN stand in, but Envoy's verifySubjectAltName looks at SANs only
        // (`DefaultCertValidator::verifySubjectAltName`): a SAN-less certificate never matches.
        findings.push(cn_only_match(leaf, check));
    }
    findings.extend(strength(&parsed));
    if check.ocsp_stapled {
        findings.push(Finding::new(
            "ocsp.stapled",
            Severity::Info,
            "The server staples an OCSP response to its certificate; nothing to do",
        ));
    }
    findings.sort_by_key(|f| f.severity);

    let report = CertificateReport {
        chain: parsed.into_iter().map(|p| p.info).collect(),
        trusted: verify.is_none(),
        hostname_match,
        verify_error: verify.map(|(_, reason)| reason),
    };
    Ok((report, findings))
}

fn chain_incomplete(chain: &[Parsed], pinned: bool) -> Finding {
    let (i, top) = path_top(chain);
    let issuer = display_dn(&top.info.issuer);
    let message = if pinned {
        format!(
            "The chain is incomplete: {} was issued by {issuer}, which the server does not send and \
             which is not in the CA file either. The server must send its intermediate certificates: \
             serve the leaf, then the intermediates in order (or put {issuer} itself in the CA file, \
             the secret's ca.crt: Envoy accepts any CA of the chain there)",
            top.describe(i)
        )
    } else {
        format!(
            "The chain is incomplete: the server sends only its leaf certificate, and its issuer \
             ({issuer}) is not in the trust store. Servers must send their intermediate certificates: \
             serve the leaf, then the intermediates in order. If {issuer} is a private root, the chain is \
             complete and the fix is rootCa instead (put it in the secret's ca.crt)"
        )
    };
    Finding::new("cert.chain_incomplete", Severity::Error, message)
}

fn untrusted(chain: &[Parsed], pinned: bool, code: i32, reason: &str) -> Finding {
    // Errors that a different CA file cannot fix get their own advice.
    let certificate_fix = match code {
        V_ERR_INVALID_PURPOSE => Some(
            "The leaf certificate is not allowed for TLS servers: its extended key usage lacks \
             serverAuth, and Envoy verifies upstream certificates for that purpose. Reissue it with \
             extendedKeyUsage serverAuth",
        ),
        V_ERR_INVALID_CA => Some(
            "A certificate that issues another one in the chain is not a CA (basicConstraints \
             CA:TRUE is missing). Reissue the intermediate as a CA certificate, or serve the right one",
        ),
        _ => None,
    };
    let root = root_hint(chain);
    let (severity, message) = match (pinned, certificate_fix) {
        (true, Some(fix)) => (
            Severity::Error,
            format!(
                "The chain does not verify against the given CA file ({reason}); Envoy with this \
                 rootCa rejects the server. {fix}"
            ),
        ),
        (true, None) => (
            Severity::Error,
            format!(
                "The chain does not verify against the given CA file ({reason}); Envoy with this \
                 rootCa rejects the server. Put the root CA of the server's chain in the secret's \
                 ca.crt (Gloo sslConfig rootCa; {root}), or fix the chain the server sends"
            ),
        ),
        (false, Some(fix)) => (
            Severity::Warning,
            format!(
                "The chain does not verify against the system trust store ({reason}). Envoy without \
                 rootCa does not verify upstream certificates at all, so this does not break Envoy \
                 today, but it will with rootCa. {fix}"
            ),
        ),
        (false, None) => (
            Severity::Warning,
            format!(
                "The chain does not verify against the system trust store ({reason}). Envoy without \
                 rootCa does not verify upstream certificates at all, so this does not break Envoy \
                 today; to verify it, put the root CA of this chain in the secret's ca.crt (Gloo \
                 sslConfig rootCa; {root})"
            ),
        ),
    };
    Finding::new("cert.untrusted", severity, message)
}

fn hostname_mismatch(leaf: &Parsed, check: &CertCheck, pinned: bool) -> Finding {
    let wanted = match (check.host, check.ip) {
        (Some(h), Some(ip)) if h != ip.to_string() => format!("{h} (or {ip})"),
        (Some(h), _) => h.to_string(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => String::new(),
    };
    let names = if leaf.names.dns.is_empty() && leaf.names.ips.is_empty() {
        let mut names = format!(
            "it has no DNS or IP subject alternative names, and its subject ({}) does not match either",
            display_dn(&leaf.info.subject)
        );
        if !leaf.info.sans.is_empty() {
            names.push_str(&format!(" (other names: {})", leaf.info.sans.join(", ")));
        }
        names
    } else {
        format!("its names are {}", leaf.info.sans.join(", "))
    };
    if pinned {
        Finding::new(
            "cert.hostname_mismatch",
            Severity::Error,
            format!(
                "The leaf certificate does not match {wanted}: {names}. With rootCa and verifySubjectAltName: \
                 [{wanted}] Envoy rejects the server. Reissue the certificate with a SAN for {wanted}, or set \
                 verifySubjectAltName (and sni) to a name the certificate has"
            ),
        )
    } else {
        Finding::new(
            "cert.hostname_mismatch",
            Severity::Warning,
            format!(
                "The leaf certificate does not match {wanted}: {names}. Envoy does not check upstream names \
                 unless sslConfig.verifySubjectAltName is set (which also needs rootCa), so this does not \
                 break Envoy today; if you set it, list a name the certificate has, or reissue the \
                 certificate with a SAN for {wanted}"
            ),
        )
    }
}

fn cn_only_match(leaf: &Parsed, check: &CertCheck) -> Finding {
    let host = check.host.unwrap_or_default();
    Finding::new(
        "cert.hostname_mismatch",
        Severity::Error,
        format!(
            "The leaf certificate names {host} only in its subject ({}) and has no subject alternative \
             names. Envoy's verifySubjectAltName checks SANs only, never the CN, so with rootCa and \
             verifySubjectAltName: [{host}] Envoy rejects the server (\"verify cert failed: verify SAN \
             list\"). Reissue the certificate with a DNS SAN for {host}",
            display_dn(&leaf.info.subject)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_712_400), "2026-11-26T17:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn wildcard_rules() {
        assert!(dns_id_matches("*.example.com", "a.example.com"));
        assert!(!dns_id_matches("*.example.com", "example.com"));
        assert!(!dns_id_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_id_matches("*.com", "example.com"));
        assert!(!dns_id_matches("f*.example.com", "foo.example.com"));
        assert!(!dns_id_matches(
            "xn--*.example.com",
            "xn--bcher-kva.example.com"
        ));
        assert!(dns_id_matches("Example.COM.", "example.com"));
    }

    #[test]
    fn serial_strips_sign_padding() {
        assert_eq!(serial_hex(&[0x00, 0x80, 0x01]), "8001");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(unsigned_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(unsigned_bits(&[0x01, 0, 0]), 17);
    }

    #[test]
    fn pem_errors_name_lines_not_content() {
        let cut = b"junk\n-----BEGIN CERTIFICATE-----\nTUlJQ\n";
        assert_eq!(
            pem_blocks(cut).unwrap_err(),
            PemError::Unterminated {
                label: "CERTIFICATE".into(),
                line: 2
            }
        );
        let bad = b"-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----\n";
        let err = pem_blocks(bad).unwrap_err();
        assert!(!err.to_string().contains("not*base64"));
    }
}
