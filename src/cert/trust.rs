//! Trust and names: path verification against the system store or a pinned CA file (as Envoy's
//! `trusted_ca`), and RFC 6125 host name matching.

use crate::util::TryOnce;
use openssl::ssl::SslFiletype;
use openssl::stack::Stack;
use openssl::x509::store::{X509Lookup, X509Store, X509StoreBuilder, X509StoreRef};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509PurposeId, X509StoreContext, X509};
use std::net::IpAddr;
use std::sync::OnceLock;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::parse::*;
use super::*;

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

/// Why Envoy, verifying with a `trusted_ca`, refuses a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvoyVerifyFailure {
    /// OpenSSL's reason with the leaf and its dates, e.g. `certificate has expired (leaf CN=api,
    /// valid … to …)`.
    pub reason: String,
    /// The chain is outside its validity dates (the path itself holds): renewing fixes it.
    pub out_of_date: bool,
}

/// Verifies `chain` as Envoy does with a `trusted_ca` of `cas`: path, purpose serverAuth, partial
/// chains allowed, and the validity dates at `now` (unix seconds). `None` when Envoy accepts it.
pub fn envoy_verify(
    chain: &[Vec<u8>],
    cas: &[X509],
    now: i64,
) -> Result<Option<EnvoyVerifyFailure>, CertError> {
    let parsed = parse_all(chain)?;
    let x509s: Vec<X509> = parsed.iter().map(|p| p.x509.clone()).collect();
    let anchors = TrustAnchors::Pem(cas.to_vec());
    let failure = verify_x509_at(&x509s, &anchors, Purpose::EnvoyUpstream, Some(now))?;
    Ok(failure.map(|(code, reason)| EnvoyVerifyFailure {
        reason: format!(
            "{reason} (leaf {}, valid {} to {})",
            display_dn(&parsed[0].info.subject),
            parsed[0].info.not_before,
            parsed[0].info.not_after
        ),
        out_of_date: code == V_ERR_CERT_HAS_EXPIRED || code == V_ERR_CERT_NOT_YET_VALID,
    }))
}

/// What the verified chain is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Only the path matters.
    Any,
    /// An upstream server as Envoy verifies it (`default_validator.cc`): purpose `ssl_server`
    /// (serverAuth), and with a `trusted_ca`, `X509_V_FLAG_PARTIAL_CHAIN`, so a CA file holding an
    /// intermediate (or the leaf itself) is enough (Envoy ≥ 1.24, envoyproxy/envoy#22350).
    EnvoyUpstream,
}

pub(super) fn verify_x509(
    chain: &[X509],
    anchors: &TrustAnchors,
    purpose: Purpose,
) -> Result<Refusal, CertError> {
    verify_x509_at(chain, anchors, purpose, None)
}

/// As [`verify_x509`]; with `at` (unix seconds), validity dates are checked at that time too.
pub(super) fn verify_x509_at(
    chain: &[X509],
    anchors: &TrustAnchors,
    purpose: Purpose,
    at: Option<i64>,
) -> Result<Refusal, CertError> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(CertError::EmptyChain);
    };
    let lookup = match (anchors, at) {
        (TrustAnchors::System, None) => return verify_system(leaf, rest, purpose),
        (TrustAnchors::System, Some(_)) => Lookup::System(Source::Everything),
        (TrustAnchors::Pem(cas), _) => Lookup::Pinned(cas),
    };
    let store = build_store(lookup, purpose, at)?;
    Ok(verify_in(&store, leaf, rest)?.0)
}

/// OpenSSL's verify error code and string, when a chain is refused.
type Refusal = Option<(i32, String)>;

/// Verifies `leaf` with `rest` as untrusted intermediates against `store`: OpenSSL's verify error
/// code and string when refused, and the certificates of the path OpenSSL built (DER), the ones it
/// took from the store included.
fn verify_in(
    store: &X509StoreRef,
    leaf: &X509,
    rest: &[X509],
) -> Result<(Refusal, Vec<Vec<u8>>), CertError> {
    let mut untrusted = Stack::new()?;
    for cert in rest {
        untrusted.push(cert.clone())?;
    }
    let mut ctx = X509StoreContext::new()?;
    let outcome = ctx.init(store, leaf, &untrusted, |c| {
        let verified = c.verify_cert()?;
        let path = c
            .chain()
            .map(|chain| chain.iter().filter_map(|x| x.to_der().ok()).collect())
            .unwrap_or_default();
        if verified {
            Ok((None, path))
        } else {
            let err = c.error();
            Ok((Some((err.as_raw(), err.error_string().to_string())), path))
        }
    })?;
    Ok(outcome)
}

/// Verification against the system store, as `set_default_paths` sets it up (the CA bundle file
/// and the hashed CA directory), without loading the whole bundle when it cannot matter: first
/// against the directory alone, which OpenSSL reads one issuer at a time. OpenSSL looks an issuer
/// up among the bundle's certificates first and in the directory only when none has its name, so
/// the directory's answer stands only when the bundle has no certificate that could be the issuer
/// of one on the path (names compared loosely, so that no candidate is missed) other than the very
/// certificates the path already holds; else the whole store decides. Loading the bundle parses all
/// of it, about 20 ms, and slows every other OpenSSL call of the process meanwhile. With
/// `SSL_CERT_URI` set the whole store decides too.
fn verify_system(leaf: &X509, rest: &[X509], purpose: Purpose) -> Result<Refusal, CertError> {
    if std::env::var_os("SSL_CERT_URI").is_some() {
        return Ok(verify_in(system_store(purpose, Source::Everything)?, leaf, rest)?.0);
    }
    let (quick, mut path) = verify_in(system_store(purpose, Source::Directory)?, leaf, rest)?;
    for cert in std::iter::once(leaf).chain(rest) {
        path.push(cert.to_der()?);
    }
    if !bundle_may_differ(&path) {
        return Ok(quick);
    }
    Ok(verify_in(system_store(purpose, Source::Everything)?, leaf, rest)?.0)
}

/// Which part of the system store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The hashed CA directory only.
    Directory,
    /// The CA bundle file and the directory (`set_default_paths`).
    Everything,
}

/// The system trust store for `purpose` without date checks, set up once per process.
fn system_store(purpose: Purpose, source: Source) -> Result<&'static X509Store, CertError> {
    static STORES: [TryOnce<X509Store>; 4] = [const { TryOnce::new() }; 4];
    STORES[purpose as usize * 2 + source as usize]
        .get_or_try_init(|| build_store(Lookup::System(source), purpose, None))
}

/// The CA bundle file OpenSSL's default paths name: `SSL_CERT_FILE`, else the library's default.
fn default_file() -> Option<String> {
    // SAFETY: both return pointers to static NUL-terminated strings inside libcrypto.
    unsafe {
        default_path(
            openssl_sys::X509_get_default_cert_file_env(),
            openssl_sys::X509_get_default_cert_file(),
        )
    }
}

/// The hashed CA directory OpenSSL's default paths name: `SSL_CERT_DIR`, else the library's
/// default.
fn default_dir() -> Option<String> {
    // SAFETY: as in `default_file`.
    unsafe {
        default_path(
            openssl_sys::X509_get_default_cert_dir_env(),
            openssl_sys::X509_get_default_cert_dir(),
        )
    }
}

/// The value of the environment variable named `env`, else `default`.
///
/// # Safety
/// Both must be null or point to NUL-terminated strings that outlive the call.
unsafe fn default_path(
    env: *const std::os::raw::c_char,
    default: *const std::os::raw::c_char,
) -> Option<String> {
    let text = |p: *const std::os::raw::c_char| {
        // SAFETY: the caller's promise.
        (!p.is_null()).then(|| {
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        })
    };
    text(env)
        .and_then(|name| std::env::var(name).ok())
        .or_else(|| text(default))
}

/// Whether the system CA bundle file holds a certificate whose subject could be the issuer of one
/// of `path` (DER) and that is not itself on `path`. A certificate or name that cannot be read
/// counts as such a candidate.
fn bundle_may_differ(path: &[Vec<u8>]) -> bool {
    let issuers: Vec<Option<String>> = path
        .iter()
        .map(|der| {
            X509Certificate::from_der(der)
                .ok()
                .and_then(|(_, c)| loose_name(c.issuer()))
        })
        .collect();
    bundle().iter().any(|(subject, der)| {
        let named = issuers
            .iter()
            .any(|issuer| subject.is_none() || issuer.is_none() || subject == issuer);
        named && !path.contains(der)
    })
}

/// The certificates in the system CA bundle file, read once per process: each one's subject
/// (`None`: one that cannot be read, or a `TRUSTED CERTIFICATE` with trust settings of its own)
/// and its DER. No file, no certificates: `set_default_paths` ignores a missing file too.
fn bundle() -> &'static [(Option<String>, Vec<u8>)] {
    static BUNDLE: OnceLock<Vec<(Option<String>, Vec<u8>)>> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let Some(data) = default_file().and_then(|f| std::fs::read(f).ok()) else {
            return Vec::new();
        };
        x509_parser::pem::Pem::iter_from_buffer(&data)
            .filter_map(|pem| match pem {
                Ok(pem) if pem.label == "CERTIFICATE" => {
                    let subject = X509Certificate::from_der(&pem.contents)
                        .ok()
                        .and_then(|(_, c)| loose_name(c.subject()));
                    Some((subject, pem.contents))
                }
                // A key or a CRL is no issuer; anything else may be.
                Ok(pem) if pem.label.contains("KEY") || pem.label == "X509 CRL" => None,
                Ok(pem) => Some((None, pem.contents)),
                Err(_) => Some((None, Vec::new())),
            })
            .collect()
    })
}

/// A distinguished name compared loosely: per RDN its attributes' texts, lower-cased and without
/// white space, sorted (OpenSSL sorts a multi-valued RDN too); looser than OpenSSL's canonical
/// form, so names OpenSSL finds equal are equal here too. `None` when an attribute is not text.
fn loose_name(name: &x509_parser::x509::X509Name) -> Option<String> {
    let mut out = String::new();
    for rdn in name.iter() {
        let mut values = Vec::new();
        for attr in rdn.iter() {
            let text = attribute_text(attr)?;
            let loose: String = text
                .chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect();
            values.push(loose);
        }
        values.sort();
        out.push_str(&values.join("\u{1e}"));
        out.push('\u{1f}');
    }
    Some(out)
}

/// An attribute's text, as OpenSSL reads it for its canonical form: UTF8String as UTF-8, the
/// one-byte string types as Latin-1, BMPString as UTF-16 and UniversalString as UTF-32.
fn attribute_text(attr: &x509_parser::x509::AttributeTypeAndValue) -> Option<String> {
    let value = attr.attr_value();
    let data: &[u8] = value.data;
    match value.header.tag().0 {
        // UTF8String.
        12 => std::str::from_utf8(data).ok().map(str::to_string),
        // NumericString, PrintableString, TeletexString, IA5String, VisibleString: one byte a
        // character, read as Latin-1 as OpenSSL does.
        18 | 19 | 20 | 22 | 26 => Some(data.iter().map(|&b| char::from(b)).collect()),
        30 => char::decode_utf16(
            data.chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]])),
        )
        .collect::<Result<String, _>>()
        .ok(),
        28 => data
            .chunks_exact(4)
            .map(|q| char::from_u32(u32::from_be_bytes([q[0], q[1], q[2], q[3]])))
            .collect(),
        _ => None,
    }
}

/// Where a store looks for trust anchors.
enum Lookup<'a> {
    /// Exactly these CAs (`--ca-file`, Gloo's `rootCa`).
    Pinned(&'a [X509]),
    /// The system store, or the part of it `Source` names.
    System(Source),
}

/// A store of `lookup`'s anchors for `purpose`, checking dates at `at` (unix seconds) when given.
fn build_store(lookup: Lookup, purpose: Purpose, at: Option<i64>) -> Result<X509Store, CertError> {
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
    match lookup {
        Lookup::System(Source::Everything) => builder.set_default_paths()?,
        Lookup::System(Source::Directory) => {
            if let Some(dir) = default_dir() {
                builder
                    .add_lookup(X509Lookup::hash_dir())?
                    .add_dir(&dir, SslFiletype::PEM)?;
            }
        }
        Lookup::Pinned(cas) => {
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
    Ok(builder.build())
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

pub(super) fn names_match(names: &Names, host: Option<&str>, ip: Option<IpAddr>) -> bool {
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

pub(super) fn dns_id_matches(pattern: &str, host: &str) -> bool {
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
