//! `cipher-test secret`: lints a TLS secret (a Kubernetes Secret manifest or PEM files) the way
//! Gloo reads it. Owns reading manifests and files, private keys, and the `secret.*`, `pem.invalid`
//! and `ca.invalid` findings; certificate checks come from `cert`. Never prints key material.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use openssl::ec::EcKey;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use serde_json::Value;

use crate::cert::{self, CertError, CertInfo, Finding, PemBlock, Severity, TrustAnchors};

/// Largest input read per file or manifest (8 MiB), as for Gloo YAML.
pub const MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// The only Secret type Gloo converts into a TLS secret (`TLSSecretConverter`).
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// A TLS secret as Gloo sees it: the three keys it maps (tls.crt → CertChain, tls.key → PrivateKey,
/// ca.crt → RootCa). `None` means the key is absent; an empty value counts as not set, as in Gloo.
#[derive(Clone)]
pub struct SecretInput {
    /// File names or manifest path (and Secret name), for messages.
    pub source: String,
    /// The manifest's `type` (`Opaque` when the manifest has none); `None` for files.
    pub secret_type: Option<String>,
    /// PEM certificate chain, leaf first.
    pub tls_crt: Option<Vec<u8>>,
    /// PEM private key.
    pub tls_key: Option<Vec<u8>>,
    /// PEM CA certificates used to verify the upstream (Gloo rootCa).
    pub ca_crt: Option<Vec<u8>>,
}

/// Shows sizes only, so that a stray `{:?}` never prints key material.
impl fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = |v: &Option<Vec<u8>>| v.as_ref().map(|b| format!("{} bytes", b.len()));
        f.debug_struct("SecretInput")
            .field("source", &self.source)
            .field("secret_type", &self.secret_type)
            .field("tls_crt", &size(&self.tls_crt))
            .field("tls_key", &size(&self.tls_key).map(|_| "<redacted>"))
            .field("ca_crt", &size(&self.ca_crt))
            .finish()
    }
}

/// The result of [`lint`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecretReport {
    /// Where the secret came from.
    pub source: String,
    /// The Secret type, when read from a manifest.
    pub secret_type: Option<String>,
    /// tls.crt, leaf first (empty when absent or unparsable).
    pub chain: Vec<CertInfo>,
    /// ca.crt (empty when absent or unparsable).
    pub ca: Vec<CertInfo>,
    /// Findings, errors first.
    pub findings: Vec<Finding>,
}

impl SecretReport {
    /// True when any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Errors that stop the secret from being read at all. Messages never contain secret content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A file cannot be read.
    #[error("cannot read {}: {source}; check the path and its permissions", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file or manifest is over [`MAX_INPUT_BYTES`].
    #[error("{what} is larger than {limit} bytes, far more than any certificate, key or Secret; check that it is the right input")]
    TooLarge {
        /// The file or manifest.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// The manifest is not valid YAML, or goes over a parser safety limit.
    #[error("{source_name} is not valid YAML{}: {message}; fix the YAML and try again", at_location(*line, *column))]
    Yaml {
        /// The manifest.
        source_name: String,
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// The parser's message, with any quoted input removed.
        message: String,
    },
    /// No v1 Secret in the manifest.
    #[error(
        "{source_name} holds no Kubernetes Secret ({found}); pass a v1 Secret manifest, for example the \
         output of kubectl get secret NAME -n NAMESPACE -o yaml"
    )]
    NotASecret {
        /// The manifest.
        source_name: String,
        /// What it holds instead.
        found: String,
    },
    /// More than one Secret in the manifest.
    #[error(
        "{source_name} holds {count} Secrets; pass one at a time (kubectl get secret NAME -n NAMESPACE -o yaml)"
    )]
    MultipleSecrets {
        /// The manifest.
        source_name: String,
        /// How many.
        count: usize,
    },
    /// A `data` value is not base64.
    #[error(
        "data.{key} in {source_name} is not valid base64; values under `data` must be base64-encoded \
         (base64 -w0 FILE). If it holds PEM text, move it under stringData instead"
    )]
    Base64 {
        /// The manifest.
        source_name: String,
        /// The Secret key, e.g. `tls.crt`.
        key: String,
    },
    /// A field has the wrong shape.
    #[error("{source_name}: {path} {problem}")]
    InvalidField {
        /// The manifest.
        source_name: String,
        /// The field, e.g. `data.tls.crt`.
        path: String,
        /// What is wrong and what was expected.
        problem: String,
    },
}

fn at_location(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// Reads PEM files: the certificate chain, and optionally the key and the CA (8 MiB limit each).
pub fn from_files(
    cert: &Path,
    key: Option<&Path>,
    ca: Option<&Path>,
) -> Result<SecretInput, SecretError> {
    let mut source = format!("tls.crt={}", cert.display());
    if let Some(k) = key {
        source.push_str(&format!(", tls.key={}", k.display()));
    }
    if let Some(c) = ca {
        source.push_str(&format!(", ca.crt={}", c.display()));
    }
    Ok(SecretInput {
        source,
        secret_type: None,
        tls_crt: Some(read_limited(cert)?),
        tls_key: key.map(read_limited).transpose()?,
        ca_crt: ca.map(read_limited).transpose()?,
    })
}

fn read_limited(path: &Path) -> Result<Vec<u8>, SecretError> {
    let err = |source| SecretError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let mut data = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(err)?;
    if data.len() as u64 > MAX_INPUT_BYTES {
        return Err(SecretError::TooLarge {
            what: path.display().to_string(),
            limit: MAX_INPUT_BYTES,
        });
    }
    Ok(data)
}

/// Reads a v1 Secret manifest (one Secret; a `kind: List` of one Secret is fine). Values come from
/// `stringData` (plain text) over `data` (base64), as the API server merges them. A Secret without
/// `type` is `Opaque`, as Kubernetes defaults it.
pub fn from_manifest(yaml: &str, source: &str) -> Result<SecretInput, SecretError> {
    if yaml.len() as u64 > MAX_INPUT_BYTES {
        return Err(SecretError::TooLarge {
            what: source.to_string(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let docs = parse_yaml(yaml, source)?;
    let mut secrets = Vec::new();
    let mut others = Vec::new();
    for doc in &docs {
        let items = match (str_field(doc, "kind"), doc.get("items")) {
            (Some("List"), Some(Value::Array(items))) => items.iter().collect(),
            _ => vec![doc],
        };
        for item in items {
            if item.is_null() {
                continue;
            }
            let kind = str_field(item, "kind").unwrap_or("");
            let api_version = str_field(item, "apiVersion").unwrap_or("");
            if kind == "Secret" && api_version == "v1" {
                secrets.push(item);
            } else if kind.is_empty() {
                others.push("a document without kind".to_string());
            } else {
                others.push(format!("{kind} {api_version}").trim_end().to_string());
            }
        }
    }
    let secret = match secrets.as_slice() {
        [one] => *one,
        [] => {
            let found = if others.is_empty() {
                "it is empty".to_string()
            } else {
                format!("found: {}", others.join(", "))
            };
            return Err(SecretError::NotASecret {
                source_name: source.to_string(),
                found,
            });
        }
        many => {
            return Err(SecretError::MultipleSecrets {
                source_name: source.to_string(),
                count: many.len(),
            })
        }
    };

    let meta = secret.get("metadata");
    let meta_str = |k| meta.and_then(|m| str_field(m, k));
    let described = match (meta_str("namespace"), meta_str("name")) {
        (Some(ns), Some(name)) => format!("{source} (Secret {ns}/{name})"),
        (None, Some(name)) => format!("{source} (Secret {name})"),
        _ => source.to_string(),
    };
    let secret_type = match secret.get("type") {
        None | Some(Value::Null) => "Opaque".to_string(),
        Some(Value::String(t)) => t.clone(),
        Some(_) => {
            return Err(SecretError::InvalidField {
                source_name: source.to_string(),
                path: "type".to_string(),
                problem: "must be a string such as kubernetes.io/tls".to_string(),
            })
        }
    };
    let data = mapping(secret, "data", source)?;
    let string_data = mapping(secret, "stringData", source)?;
    let value = |key: &str| -> Result<Option<Vec<u8>>, SecretError> {
        if let Some(v) = string_data.and_then(|m| m.get(key)) {
            return string_value(v, "stringData", key, source).map(|s| s.map(String::into_bytes));
        }
        let Some(v) = data.and_then(|m| m.get(key)) else {
            return Ok(None);
        };
        let Some(text) = string_value(v, "data", key, source)? else {
            return Ok(None);
        };
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        openssl::base64::decode_block(&compact)
            .map(Some)
            .map_err(|_| SecretError::Base64 {
                source_name: source.to_string(),
                key: key.to_string(),
            })
    };
    Ok(SecretInput {
        source: described,
        secret_type: Some(secret_type),
        tls_crt: value("tls.crt")?,
        tls_key: value("tls.key")?,
        ca_crt: value("ca.crt")?,
    })
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn mapping<'a>(
    secret: &'a Value,
    key: &str,
    source: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, SecretError> {
    match secret.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(SecretError::InvalidField {
            source_name: source.to_string(),
            path: key.to_string(),
            problem: "must be a mapping of key names to values".to_string(),
        }),
    }
}

fn string_value(
    v: &Value,
    section: &str,
    key: &str,
    source: &str,
) -> Result<Option<String>, SecretError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(SecretError::InvalidField {
            source_name: source.to_string(),
            path: format!("{section}.{key}"),
            problem: "must be a string".to_string(),
        }),
    }
}

fn parse_yaml(yaml: &str, source: &str) -> Result<Vec<Value>, SecretError> {
    serde_saphyr::from_multiple_with_options::<Value>(yaml, crate::gloo::yaml_options()).map_err(
        |err| {
            let (line, column) = match err.location() {
                Some(l) if l.line() > 0 => (Some(l.line()), Some(l.column())),
                _ => (None, None),
            };
            let mut inner = &err;
            while let serde_saphyr::Error::AliasError { error, .. }
            | serde_saphyr::Error::WithSnippet { error, .. } = inner
            {
                inner = error;
            }
            let message = match inner {
            serde_saphyr::Error::Budget { .. }
            | serde_saphyr::Error::AliasReplayLimitExceeded { .. }
            | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
            | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
            | serde_saphyr::Error::AliasReplayCounterOverflow { .. } => {
                "it goes over a parser safety limit (document count, nesting, anchors or aliases)"
                    .to_string()
            }
            other => {
                let mut m = other.to_string();
                if let Some(cut) = m.find(" at line ") {
                    m.truncate(cut);
                }
                let m = without_quoted(&m);
                if quotes_input(&m, yaml) {
                    "syntax error".to_string()
                } else {
                    m
                }
            }
        };
            SecretError::Yaml {
                source_name: source.to_string(),
                line,
                column,
                message,
            }
        },
    )
}

/// True when a long word of `message` also occurs in `input`: the parser quoted the input.
fn quotes_input(message: &str, input: &str) -> bool {
    message
        .split(|c: char| c.is_whitespace() || "'\"`,;:()[]{}".contains(c))
        .any(|word| word.len() >= 12 && input.contains(word))
}

/// Drops quoted parts of a parser message (`invalid value "…"`), which could quote key material.
fn without_quoted(message: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => {
                out.push(c);
                quote = Some(c);
            }
            None => out.push(c),
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Linting.

/// Lints a secret: Gloo's rules for TLS secrets, PEM syntax, the key pair, and the certificate
/// checks of `cert` on tls.crt, at `now` (unix seconds).
pub fn lint(input: &SecretInput, now: i64, warn_days: u32) -> SecretReport {
    let mut findings = Vec::new();
    if let Some(t) = input.secret_type.as_deref() {
        if t != TLS_SECRET_TYPE {
            findings.push(type_finding(t));
        }
    }
    let present = |v: &Option<Vec<u8>>| {
        v.as_deref()
            .filter(|b| b.iter().any(|c| !c.is_ascii_whitespace()))
            .map(<[u8]>::to_vec)
    };
    let (crt, key, ca) = (
        present(&input.tls_crt),
        present(&input.tls_key),
        present(&input.ca_crt),
    );

    match (&crt, &key) {
        (None, None) if ca.is_some() => findings.push(ca_only_finding(input)),
        (None, None) => {
            findings.push(Finding::new(
                "secret.missing_cert",
                Severity::Error,
                "The secret has no tls.crt (and no tls.key or ca.crt either): there is nothing for Gloo \
                 to use. Add tls.crt and tls.key for a client certificate, and/or ca.crt to verify the \
                 upstream",
            ));
            findings.push(Finding::new(
                "secret.missing_key",
                Severity::Error,
                "The secret has no tls.key. Gloo needs both or none of tls.crt and tls.key; add the \
                 private key that belongs to tls.crt",
            ));
        }
        (Some(_), None) => findings.push(Finding::new(
            "secret.missing_key",
            Severity::Error,
            "The secret has tls.crt but no tls.key; Gloo rejects it (\"both or none of cert chain and \
             private key must be provided\"). Add the private key of the first certificate in tls.crt, \
             or remove tls.crt if you only need ca.crt",
        )),
        (None, Some(_)) => findings.push(Finding::new(
            "secret.missing_cert",
            Severity::Error,
            "The secret has tls.key but no tls.crt; Gloo rejects it (\"both or none of cert chain and \
             private key must be provided\"). Add the certificate chain (leaf first) as tls.crt",
        )),
        (Some(_), Some(_)) => {}
    }

    // tls.crt: the chain, and the chain checks of cert.rs.
    let mut chain_ders = Vec::new();
    let mut chain = Vec::new();
    if let Some(data) = &crt {
        match read_certs(data, "tls.crt", "a certificate chain, leaf first") {
            Ok((ders, infos)) => {
                match cert::chain_findings(&ders, now, warn_days) {
                    Ok(f) => findings.extend(f),
                    Err(e) => findings.push(pem_invalid(format!("tls.crt cannot be checked: {e}"))),
                }
                chain_ders = ders;
                chain = infos;
            }
            Err(message) => findings.push(pem_invalid(message)),
        }
    }

    // tls.key: parse it and compare it with the leaf.
    if let Some(data) = &key {
        match private_key(data) {
            Ok(pkey) => {
                if let Some(f) = key_mismatch(&pkey, &chain_ders, &chain) {
                    findings.push(f);
                }
            }
            Err(message) => findings.push(pem_invalid(message)),
        }
    }

    // ca.crt: parse it; that tls.crt does not chain to it is normal, so info only.
    let mut ca_infos = Vec::new();
    if let Some(data) = &ca {
        match read_certs(data, "ca.crt", "one or more CA certificates") {
            Ok((ders, infos)) => {
                if !chain_ders.is_empty() {
                    if let Some(f) = ca_not_issuer(&chain_ders, &ders) {
                        findings.push(f);
                    }
                }
                ca_infos = infos;
            }
            Err(message) => findings.push(Finding::new(
                "ca.invalid",
                Severity::Error,
                format!(
                    "{message}. Envoy cannot load the rootCa, so the upstream cluster fails; put the PEM \
                     CA certificate(s) of the upstream server in ca.crt"
                ),
            )),
        }
    }

    findings.sort_by_key(|f| f.severity);
    SecretReport {
        source: input.source.clone(),
        secret_type: input.secret_type.clone(),
        chain,
        ca: ca_infos,
        findings,
    }
}

fn type_finding(t: &str) -> Finding {
    let defaulted = if t == "Opaque" {
        " (also the type of a Secret without a type field)"
    } else {
        ""
    };
    Finding::new(
        "secret.type",
        Severity::Error,
        format!(
            "The Secret's type is {t}{defaulted}, not {TLS_SECRET_TYPE}. Gloo converts only {TLS_SECRET_TYPE} \
             Secrets into TLS secrets and silently ignores generic ones, even with tls.crt, tls.key and \
             ca.crt keys, so a secretRef to it fails. Recreate it as a TLS secret: kubectl create secret \
             tls NAME --cert=tls.crt --key=tls.key (kubectl cannot add ca.crt), or glooctl create secret \
             tls NAME --certchain tls.crt --privatekey tls.key --rootca ca.crt, or apply a \
             type: {TLS_SECRET_TYPE} manifest with ca.crt under data"
        ),
    )
}

fn ca_only_finding(input: &SecretInput) -> Finding {
    let mut message =
        "The secret has only ca.crt: valid for rootCa-only use (Envoy verifies the upstream \
                       with it and presents no client certificate)"
            .to_string();
    let tls_type = input.secret_type.as_deref() == Some(TLS_SECRET_TYPE);
    if tls_type && (input.tls_crt.is_none() || input.tls_key.is_none()) {
        message.push_str(
            ". Note that the API server requires the tls.crt and tls.key keys in a kubernetes.io/tls \
             Secret; keep them with empty values",
        );
    }
    Finding::new("secret.ca_only", Severity::Info, message)
}

fn pem_invalid(message: String) -> Finding {
    Finding::new("pem.invalid", Severity::Error, message)
}

/// Certificates of a PEM value, as DER and as parsed info; the error says which key and what was
/// expected, never the content.
fn read_certs(
    data: &[u8],
    key: &str,
    expected: &str,
) -> Result<(Vec<Vec<u8>>, Vec<CertInfo>), String> {
    let blocks = cert::pem_blocks(data)
        .map_err(|e| format!("{key} is not valid PEM: {e}; expected {expected}"))?;
    let certs: Vec<&PemBlock> = blocks
        .iter()
        .filter(|b| cert::is_certificate_label(&b.label))
        .collect();
    if certs.is_empty() {
        return Err(no_pem_of_kind(data, &blocks, key, "certificate", expected));
    }
    let ders: Vec<Vec<u8>> = certs.iter().map(|b| b.der.clone()).collect();
    match cert::parse_chain(&ders) {
        Ok(infos) => Ok((ders, infos)),
        Err(CertError::InvalidDer { index, reason }) => Err(format!(
            "the {} block on line {} of {key} is not a valid X.509 certificate ({reason}); expected {expected}",
            certs[index].label, certs[index].line
        )),
        Err(e) => Err(format!("{key} cannot be read: {e}")),
    }
}

/// Why a value holds no block of the wanted kind, with the likely mistake.
fn no_pem_of_kind(
    data: &[u8],
    blocks: &[PemBlock],
    key: &str,
    kind: &str,
    expected: &str,
) -> String {
    let trimmed = data.trim_ascii_start();
    if blocks.is_empty() {
        if trimmed.starts_with(b"LS0tLS1") {
            // "-----" base64-encoded: the value was encoded once more than needed.
            return format!(
                "{key} holds base64 text instead of PEM: it was base64-encoded twice (encode the PEM file \
                 once under data, or put the PEM text under stringData); expected {expected}"
            );
        }
        if trimmed.first() == Some(&0x30) {
            return format!(
                "{key} looks like binary DER, not PEM; convert it to PEM (openssl x509 -inform der, or \
                 openssl pkey -inform der); expected {expected}"
            );
        }
        return format!("{key} holds no PEM block; expected {expected}");
    }
    let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
    let other_kind = |l: &&str| match kind {
        "certificate" => l.ends_with("PRIVATE KEY"),
        _ => cert::is_certificate_label(l),
    };
    let swapped = if labels.iter().any(other_kind) {
        " (are tls.crt and tls.key swapped?)"
    } else {
        ""
    };
    format!(
        "{key} holds no {kind}, only {} block(s){swapped}; expected {expected}",
        labels.join(", ")
    )
}

const KEY_EXPECTED: &str =
    "an unencrypted PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)";

/// The first private key in tls.key, as Gloo (Go `tls.X509KeyPair`) takes it.
fn private_key(data: &[u8]) -> Result<PKey<Private>, String> {
    let blocks = cert::pem_blocks(data)
        .map_err(|e| format!("tls.key is not valid PEM: {e}; expected {KEY_EXPECTED}"))?;
    let Some(block) = blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY")) else {
        return Err(no_pem_of_kind(
            data,
            &blocks,
            "tls.key",
            "private key",
            KEY_EXPECTED,
        ));
    };
    let at = format!(
        "the {} block on line {} of tls.key",
        block.label, block.line
    );
    if block.encrypted || block.label == "ENCRYPTED PRIVATE KEY" {
        return Err(format!(
            "{at} is encrypted with a passphrase; Gloo and Envoy need an unencrypted key. Decrypt it \
             with openssl pkey -in KEY -out tls.key"
        ));
    }
    let parsed = match block.label.as_str() {
        "PRIVATE KEY" => PKey::private_key_from_pkcs8(&block.der),
        "RSA PRIVATE KEY" => Rsa::private_key_from_der(&block.der).and_then(PKey::from_rsa),
        "EC PRIVATE KEY" => EcKey::private_key_from_der(&block.der).and_then(PKey::from_ec_key),
        "OPENSSH PRIVATE KEY" => {
            return Err(format!(
                "{at} is an OpenSSH key, which TLS cannot use; expected {KEY_EXPECTED}"
            ))
        }
        _ => {
            return Err(format!(
                "{at} is a key type Gloo cannot use; expected {KEY_EXPECTED}"
            ))
        }
    };
    parsed.map_err(|e| {
        let reason = e
            .errors()
            .first()
            .and_then(|e| e.reason())
            .unwrap_or("it does not parse");
        format!("{at} is not a valid private key ({reason}); expected {KEY_EXPECTED}")
    })
}

fn key_mismatch(key: &PKey<Private>, ders: &[Vec<u8>], infos: &[CertInfo]) -> Option<Finding> {
    let matches = |der: &Vec<u8>| {
        X509::from_der(der)
            .and_then(|c| c.public_key())
            .is_ok_and(|pk| pk.public_eq(key))
    };
    let leaf = ders.first()?;
    if matches(leaf) {
        return None;
    }
    let other = ders.iter().position(matches);
    let hint = match other {
        Some(i) => format!(
            "; it belongs to certificate {} ({}), so put the leaf certificate first in tls.crt",
            i + 1,
            infos[i].subject
        ),
        None => {
            "; use the key the certificate was issued for, or reissue the certificate for this key"
                .to_string()
        }
    };
    Some(Finding::new(
        "secret.key_mismatch",
        Severity::Error,
        format!(
            "tls.key does not belong to the first certificate of tls.crt ({}): Gloo rejects the secret \
             (tls: private key does not match public key){hint}",
            infos[0].subject
        ),
    ))
}

fn ca_not_issuer(chain: &[Vec<u8>], ca_ders: &[Vec<u8>]) -> Option<Finding> {
    let cas = ca_ders
        .iter()
        .map(|d| X509::from_der(d))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let reason = match cert::verify_chain(chain, &TrustAnchors::Pem(cas)) {
        Ok(None) => return None,
        Ok(Some((_, reason))) => reason,
        Err(e) => e.to_string(),
    };
    Some(Finding::new(
        "secret.ca_not_issuer",
        Severity::Info,
        format!(
            "tls.crt does not chain to ca.crt ({reason}). That is normal when they serve different \
             purposes: ca.crt is the CA Envoy uses to verify the upstream server (rootCa), tls.crt is \
             the client certificate Envoy presents. Check that ca.crt is the CA of the upstream's \
             certificate"
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// Plain text: findings (errors first), one per line with severity, id and message; then the
/// certificates. Never any key material.
pub fn render_text(report: &SecretReport) -> String {
    let mut out = format!("Secret {}", report.source);
    if let Some(t) = &report.secret_type {
        out.push_str(&format!(" (type {t})"));
    }
    out.push('\n');
    if report.findings.is_empty() {
        out.push_str("No problems found.\n");
    }
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    findings.sort_by_key(|f| f.severity);
    for f in findings {
        out.push_str(&format!(
            "{:<7} {}: {}\n",
            f.severity.as_str(),
            f.id,
            f.message
        ));
    }
    render_certs(&mut out, "tls.crt", "leaf first", &report.chain);
    render_certs(&mut out, "ca.crt", "CA", &report.ca);
    out
}

fn render_certs(out: &mut String, key: &str, what: &str, certs: &[CertInfo]) {
    if certs.is_empty() {
        return;
    }
    let plural = if certs.len() == 1 { "" } else { "s" };
    out.push_str(&format!(
        "\n{key}: {} certificate{plural} ({what})\n",
        certs.len()
    ));
    for (i, c) in certs.iter().enumerate() {
        out.push_str(&format!("  {}. {}\n", i + 1, c.subject));
        out.push_str(&format!("     issuer:   {}\n", c.issuer));
        if !c.sans.is_empty() {
            out.push_str(&format!("     names:    {}\n", c.sans.join(", ")));
        }
        out.push_str(&format!(
            "     valid:    {} to {}\n",
            c.not_before, c.not_after
        ));
        out.push_str(&format!(
            "     key:      {}, signed {}\n",
            c.key, c.signature
        ));
        out.push_str(&format!("     serial:   {}\n", c.serial));
        out.push_str(&format!("     sha256:   {}\n", c.sha256));
    }
}

/// `cipher-test secret`: an error finding is [`super::Status::Findings`].
pub fn run(
    input: &SecretInput,
    warn_days: u32,
    format: crate::render::Format,
) -> Result<super::Status, super::CmdError> {
    let report = lint(input, crate::util::now_unix(), warn_days);
    match format {
        crate::render::Format::Table => crate::output::print(&render_text(&report)),
        crate::render::Format::Json => crate::output::print_json(&report),
    }
    .map_err(super::stdout_error)?;
    Ok(if report.has_errors() {
        super::Status::Findings
    } else {
        super::Status::Ok
    })
}
