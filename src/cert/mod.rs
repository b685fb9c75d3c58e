//! Certificates over parsed DER: chain parsing, trust and hostname evaluation, and the
//! certificate findings (`cert.*`, `ocsp.stapled`). It knows nothing about sockets: callers hand
//! it the chain as the server sent it (or as a secret holds it), the trust anchors and the clock.

mod findings;
mod parse;
mod pem;
mod trust;

pub use findings::*;
pub use parse::*;
pub use pem::*;
pub use trust::*;

use std::net::IpAddr;
use std::path::PathBuf;

use openssl::error::ErrorStack;
use openssl::x509::X509;

/// Largest CA file [`load_ca_file`] reads (8 MiB; the Mozilla bundle is about 220 KiB).
pub const MAX_CA_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// OpenSSL `X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT`: the issuer of a certificate is nowhere.
const V_ERR_UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
/// OpenSSL `X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY`: the top has no issuer in the store.
const V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
/// OpenSSL `X509_V_ERR_INVALID_CA`: an issuing certificate is not a CA.
const V_ERR_INVALID_CA: i32 = 24;
/// `X509_V_ERR_CERT_NOT_YET_VALID`.
const V_ERR_CERT_NOT_YET_VALID: i32 = 9;
/// `X509_V_ERR_CERT_HAS_EXPIRED`.
const V_ERR_CERT_HAS_EXPIRED: i32 = 10;
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
    /// End of validity, unix seconds (for code; the report shows `not_after`).
    #[serde(skip)]
    pub not_after_unix: i64,
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
