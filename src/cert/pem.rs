//! PEM input: splitting blocks, telling certificates from keys, and loading a CA file; never
//! echoes file contents.

use openssl::x509::X509;
use std::io::Read as _;
use std::path::Path;

use super::parse::*;
use super::*;

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
pub(super) fn safe_label(label: &str) -> String {
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

/// Certificates as one PEM text, in order (as Envoy reads an inline `trusted_ca` or chain).
pub fn certificates_pem(certs: &[X509]) -> String {
    certs
        .iter()
        .filter_map(|c| c.to_pem().ok())
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .collect()
}
