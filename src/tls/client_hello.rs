//! Builds ClientHello bytes for the raw probe engine: any code point at any version from SSLv3 to
//! TLS 1.3, whatever the local OpenSSL can offer. Owns the ClientHello layout only: no I/O, no
//! policy about what to offer; its only outside inputs are random bytes and fresh key shares.
//!
//! Size limits, for whoever plans the hellos (the elimination mode):
//! - One record carries at most 2^14 bytes of handshake (RFC 8446 §5.1); with the default
//!   extensions that is about 8,000 suites. A larger hello is fragmented across records, which the
//!   RFCs allow and some servers and middleboxes mishandle, so planners should stay far below.
//! - nmap's ssl-enum-ciphers offers at most 64 suites per hello (`CHUNK_SIZE`, because some servers
//!   fail on long suite lists) and shrinks the chunk to keep the whole hello under 256 bytes where it
//!   can (SSL Labs' "long handshake intolerance"; some F5 terminators also hang on hellos of
//!   256–511 bytes, the reason for RFC 7685 padding). [`SUITES_PER_HELLO`] records that limit.
//!   Sizes with the defaults and no SNI: TLS 1.2 is 140 bytes + 2 per suite (64 suites: 268),
//!   TLS 1.3 is 215 + 2 per suite; an SNI adds its length + 9.

use std::net::IpAddr;

use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::nid::Nid;
use openssl::pkey::PKey;

use crate::tls::protocol::Protocol;

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3): added to every hello up to TLS 1.2.
pub const RENEGOTIATION_INFO_SCSV: u16 = 0x00FF;

/// The most suites one hello may carry (the protocol allows 32,767; no server needs more).
pub const MAX_SUITES: usize = 8192;

/// The chunk size a planner should not exceed: nmap's ssl-enum-ciphers `CHUNK_SIZE`.
pub const SUITES_PER_HELLO: usize = 64;

/// The largest plaintext fragment of one record (RFC 5246 §6.2.1, RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_EXTENDED_MASTER_SECRET: u16 = 23;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_PSK_KEY_EXCHANGE_MODES: u16 = 45;
const EXT_KEY_SHARE: u16 = 51;

/// Named groups (IANA "TLS Supported Groups" registry).
pub mod group {
    /// secp256r1 (RFC 8422).
    pub const P256: u16 = 0x0017;
    /// secp384r1 (RFC 8422).
    pub const P384: u16 = 0x0018;
    /// secp521r1 (RFC 8422).
    pub const P521: u16 = 0x0019;
    /// X25519 (RFC 8422, RFC 7748).
    pub const X25519: u16 = 0x001D;
    /// X448 (RFC 8422, RFC 7748).
    pub const X448: u16 = 0x001E;
    /// ffdhe2048 (RFC 7919).
    pub const FFDHE2048: u16 = 0x0100;
    /// ffdhe3072 (RFC 7919).
    pub const FFDHE3072: u16 = 0x0101;
    /// ffdhe4096 (RFC 7919).
    pub const FFDHE4096: u16 = 0x0102;
    /// ffdhe6144 (RFC 7919).
    pub const FFDHE6144: u16 = 0x0103;
    /// ffdhe8192 (RFC 7919).
    pub const FFDHE8192: u16 = 0x0104;
}

/// Signature schemes (RFC 8446 §4.2.3; the 0xHHSS values are RFC 5246 hash/signature pairs).
pub mod sigalg {
    pub const ECDSA_SECP256R1_SHA256: u16 = 0x0403;
    pub const ECDSA_SECP384R1_SHA384: u16 = 0x0503;
    pub const ECDSA_SECP521R1_SHA512: u16 = 0x0603;
    pub const ED25519: u16 = 0x0807;
    pub const ED448: u16 = 0x0808;
    pub const RSA_PSS_RSAE_SHA256: u16 = 0x0804;
    pub const RSA_PSS_RSAE_SHA384: u16 = 0x0805;
    pub const RSA_PSS_RSAE_SHA512: u16 = 0x0806;
    pub const RSA_PSS_PSS_SHA256: u16 = 0x0809;
    pub const RSA_PSS_PSS_SHA384: u16 = 0x080A;
    pub const RSA_PSS_PSS_SHA512: u16 = 0x080B;
    pub const RSA_PKCS1_SHA256: u16 = 0x0401;
    pub const RSA_PKCS1_SHA384: u16 = 0x0501;
    pub const RSA_PKCS1_SHA512: u16 = 0x0601;
    /// RFC 5246 pairs kept for old servers: SHA-224 and DSA.
    pub const ECDSA_SHA224: u16 = 0x0303;
    pub const RSA_PKCS1_SHA224: u16 = 0x0301;
    pub const DSA_SHA224: u16 = 0x0302;
    pub const DSA_SHA256: u16 = 0x0402;
    pub const DSA_SHA384: u16 = 0x0502;
    pub const DSA_SHA512: u16 = 0x0602;
    pub const ECDSA_SHA1: u16 = 0x0203;
    pub const RSA_PKCS1_SHA1: u16 = 0x0201;
    pub const DSA_SHA1: u16 = 0x0202;
}

/// Every group the scanner knows, strongest-and-commonest first.
pub const DEFAULT_GROUPS: [u16; 10] = [
    group::X25519,
    group::P256,
    group::P384,
    group::P521,
    group::X448,
    group::FFDHE2048,
    group::FFDHE3072,
    group::FFDHE4096,
    group::FFDHE6144,
    group::FFDHE8192,
];

/// A broad list, so no server refuses for want of a signature scheme: the TLS 1.3 schemes, then the
/// TLS 1.2 pairs old servers still sign with (SHA-1 and DSA included: DHE-DSS suites need DSA).
pub const DEFAULT_SIGNATURE_ALGORITHMS: [u16; 23] = [
    sigalg::ECDSA_SECP256R1_SHA256,
    sigalg::ECDSA_SECP384R1_SHA384,
    sigalg::ECDSA_SECP521R1_SHA512,
    sigalg::ED25519,
    sigalg::ED448,
    sigalg::RSA_PSS_RSAE_SHA256,
    sigalg::RSA_PSS_RSAE_SHA384,
    sigalg::RSA_PSS_RSAE_SHA512,
    sigalg::RSA_PSS_PSS_SHA256,
    sigalg::RSA_PSS_PSS_SHA384,
    sigalg::RSA_PSS_PSS_SHA512,
    sigalg::RSA_PKCS1_SHA256,
    sigalg::RSA_PKCS1_SHA384,
    sigalg::RSA_PKCS1_SHA512,
    sigalg::ECDSA_SHA224,
    sigalg::RSA_PKCS1_SHA224,
    sigalg::DSA_SHA224,
    sigalg::DSA_SHA256,
    sigalg::DSA_SHA384,
    sigalg::DSA_SHA512,
    sigalg::ECDSA_SHA1,
    sigalg::RSA_PKCS1_SHA1,
    sigalg::DSA_SHA1,
];

/// What one ClientHello offers. Start from [`HelloSpec::new`] and adjust with the `with_` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloSpec {
    /// The one version offered: SSLv3 … TLS 1.2 in `legacy_version`; TLS 1.3 as `legacy_version`
    /// 0x0303 plus `supported_versions` = [0x0304] (RFC 8446 §4.1.2, §4.2.1).
    pub version: Protocol,
    /// Suite code points, in preference order. The renegotiation SCSV is appended for TLS <= 1.2.
    pub suites: Vec<u16>,
    /// The server_name to send (none: no extension).
    pub sni: Option<String>,
    /// supported_groups (called elliptic_curves before TLS 1.3), in preference order.
    pub groups: Vec<u16>,
    /// signature_algorithms, sent at TLS 1.2 and 1.3 (earlier versions have no such extension).
    pub signature_algorithms: Vec<u16>,
    /// TLS 1.3: the groups that get a key share; a server wanting another group from `groups` asks
    /// for it with a HelloRetryRequest, which already names the suite it chose.
    pub key_share_groups: Vec<u16>,
}

impl HelloSpec {
    /// Offers `suites` at `version` with no SNI, every known group, a broad signature list and an
    /// X25519 key share.
    pub fn new(version: Protocol, suites: Vec<u16>) -> Self {
        HelloSpec {
            version,
            suites,
            sni: None,
            groups: DEFAULT_GROUPS.to_vec(),
            signature_algorithms: DEFAULT_SIGNATURE_ALGORITHMS.to_vec(),
            key_share_groups: vec![group::X25519],
        }
    }

    /// Sends `sni` as server_name (`None`: no extension).
    pub fn with_sni(mut self, sni: Option<String>) -> Self {
        self.sni = sni;
        self
    }

    /// Replaces supported_groups.
    pub fn with_groups(mut self, groups: Vec<u16>) -> Self {
        self.groups = groups;
        self
    }

    /// Replaces signature_algorithms.
    pub fn with_signature_algorithms(mut self, schemes: Vec<u16>) -> Self {
        self.signature_algorithms = schemes;
        self
    }

    /// Replaces the TLS 1.3 key-share groups (each must be in `groups`; empty asks for an HRR).
    pub fn with_key_share_groups(mut self, groups: Vec<u16>) -> Self {
        self.key_share_groups = groups;
        self
    }
}

/// A ClientHello that cannot be built as specified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("no cipher suite to offer: a ClientHello needs at least one")]
    NoSuites,
    #[error(
        "{0} cipher suites in one ClientHello; at most {MAX_SUITES} (offer them in chunks, e.g. {SUITES_PER_HELLO} per hello)"
    )]
    TooManySuites(usize),
    #[error("invalid SNI '{name}': {why}")]
    InvalidSni { name: String, why: String },
    #[error("a TLS 1.3 ClientHello needs {0}; the list is empty")]
    MissingForTls13(&'static str),
    #[error("key share for group 0x{0:04x}, which is not in supported_groups")]
    KeyShareNotOffered(u16),
    #[error(
        "no key share can be made for group 0x{0:04x} (only X25519, X448, P-256, P-384, P-521); \
         leave it out of the key shares and the server asks for it with a HelloRetryRequest"
    )]
    UnsupportedKeyShare(u16),
    #[error("the {what} list is too long for its length field ({len} bytes)")]
    TooLong { what: &'static str, len: usize },
    #[error("local crypto failure while building the ClientHello: {0}")]
    Crypto(String),
}

impl From<openssl::error::ErrorStack> for HelloError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        HelloError::Crypto(e.to_string())
    }
}

/// The complete TLS plaintext record(s) carrying a ClientHello for `spec`: one record unless the
/// hello exceeds 2^14 bytes, then as many as needed (see the module notes on size).
pub fn client_hello(spec: &HelloSpec) -> Result<Vec<u8>, HelloError> {
    if spec.suites.is_empty() {
        return Err(HelloError::NoSuites);
    }
    if spec.suites.len() > MAX_SUITES {
        return Err(HelloError::TooManySuites(spec.suites.len()));
    }
    if let Some(name) = &spec.sni {
        check_sni(name)?;
    }
    let tls13 = spec.version == Protocol::Tls13;
    if tls13 {
        if spec.groups.is_empty() {
            return Err(HelloError::MissingForTls13("supported_groups"));
        }
        if spec.signature_algorithms.is_empty() {
            return Err(HelloError::MissingForTls13("signature_algorithms"));
        }
        if let Some(&g) = spec
            .key_share_groups
            .iter()
            .find(|g| !spec.groups.contains(g))
        {
            return Err(HelloError::KeyShareNotOffered(g));
        }
    }

    let mut body = Vec::with_capacity(512);
    let legacy_version = if tls13 { 0x0303 } else { spec.version.wire() };
    put_u16(&mut body, legacy_version);
    body.extend_from_slice(&random::<32>()?);
    // TLS 1.3 middlebox compatibility mode (RFC 8446 §D.4): a non-empty legacy_session_id.
    if tls13 {
        body.push(32);
        body.extend_from_slice(&random::<32>()?);
    } else {
        body.push(0);
    }
    let mut suites = spec.suites.clone();
    if !tls13 && !suites.contains(&RENEGOTIATION_INFO_SCSV) {
        suites.push(RENEGOTIATION_INFO_SCSV);
    }
    put_vec16(&mut body, "cipher suite", |b| {
        suites.iter().for_each(|&s| put_u16(b, s))
    })?;
    body.extend_from_slice(&[1, 0]); // compression_methods: null only

    // SSLv3 predates extensions (RFC 6101): nothing follows the compression methods.
    if spec.version != Protocol::Ssl3 {
        let extensions = extensions(spec)?;
        put_vec16(&mut body, "extensions", |b| {
            b.extend_from_slice(&extensions)
        })?;
    }

    if body.len() >= 1 << 24 {
        return Err(HelloError::TooLong {
            what: "ClientHello",
            len: body.len(),
        });
    }
    let mut handshake = Vec::with_capacity(body.len() + 4);
    handshake.push(HANDSHAKE_CLIENT_HELLO);
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);

    // The record version: 0x0301 for any TLS hello, as OpenSSL and BoringSSL send it, since some
    // servers reject a higher one (RFC 8446 §5.1 allows 0x0301 for the initial ClientHello).
    let record_version: u16 = if spec.version == Protocol::Ssl3 {
        0x0300
    } else {
        0x0301
    };
    let mut out = Vec::with_capacity(handshake.len() + 5);
    for fragment in handshake.chunks(MAX_FRAGMENT) {
        out.push(CONTENT_HANDSHAKE);
        put_u16(&mut out, record_version);
        put_u16(&mut out, fragment.len() as u16);
        out.extend_from_slice(fragment);
    }
    Ok(out)
}

/// The extensions block for TLS 1.0 and later.
fn extensions(spec: &HelloSpec) -> Result<Vec<u8>, HelloError> {
    let tls13 = spec.version == Protocol::Tls13;
    let mut ext = Vec::with_capacity(256);
    if let Some(name) = &spec.sni {
        // ServerNameList with one host_name entry (RFC 6066 §3).
        extension(&mut ext, EXT_SERVER_NAME, |b| {
            put_vec16(b, "server_name", |list| {
                list.push(0);
                put_vec16(list, "host_name", |n| n.extend_from_slice(name.as_bytes()))
            })
            .and_then(|r| r)
        })?;
    }
    if !spec.groups.is_empty() {
        extension(&mut ext, EXT_SUPPORTED_GROUPS, |b| {
            put_vec16(b, "supported_groups", |g| {
                spec.groups.iter().for_each(|&x| put_u16(g, x))
            })
        })?;
    }
    if !tls13 {
        // uncompressed only (RFC 8422 §5.1.2); TLS 1.3 dropped the extension.
        extension(&mut ext, EXT_EC_POINT_FORMATS, |b| {
            b.extend_from_slice(&[1, 0]);
            Ok(())
        })?;
    }
    // RFC 5246 §7.4.1.4.1: a client offering an older version must not send signature_algorithms.
    if spec.version >= Protocol::Tls12 && !spec.signature_algorithms.is_empty() {
        extension(&mut ext, EXT_SIGNATURE_ALGORITHMS, |b| {
            put_vec16(b, "signature_algorithms", |s| {
                spec.signature_algorithms
                    .iter()
                    .for_each(|&x| put_u16(s, x))
            })
        })?;
    }
    if !tls13 {
        extension(&mut ext, EXT_EXTENDED_MASTER_SECRET, |_| Ok(()))?;
    }
    if tls13 {
        extension(&mut ext, EXT_SUPPORTED_VERSIONS, |b| {
            b.extend_from_slice(&[2, 0x03, 0x04]);
            Ok(())
        })?;
        // psk_dhe_ke only; no PSK is ever offered, but servers expect the extension from 1.3 clients.
        extension(&mut ext, EXT_PSK_KEY_EXCHANGE_MODES, |b| {
            b.extend_from_slice(&[1, 1]);
            Ok(())
        })?;
        let mut shares = Vec::new();
        for &g in &spec.key_share_groups {
            let public = key_share(g)?;
            put_u16(&mut shares, g);
            put_vec16(&mut shares, "key_exchange", |k| {
                k.extend_from_slice(&public)
            })?;
        }
        extension(&mut ext, EXT_KEY_SHARE, |b| {
            put_vec16(b, "key_share", |k| k.extend_from_slice(&shares))
        })?;
    }
    Ok(ext)
}

/// A fresh public key for `group`, encoded as a TLS 1.3 KeyShareEntry.key_exchange (RFC 8446
/// §4.2.8.2): raw bytes for X25519/X448, an uncompressed point for the NIST curves (servers check
/// that the point is on the curve, so random bytes would not do).
fn key_share(group: u16) -> Result<Vec<u8>, HelloError> {
    let nist = |nid: Nid| -> Result<Vec<u8>, HelloError> {
        let ec = EcGroup::from_curve_name(nid)?;
        let key = EcKey::generate(&ec)?;
        let mut ctx = BigNumContext::new()?;
        Ok(key
            .public_key()
            .to_bytes(&ec, PointConversionForm::UNCOMPRESSED, &mut ctx)?)
    };
    match group {
        group::X25519 => Ok(PKey::generate_x25519()?.raw_public_key()?),
        group::X448 => Ok(PKey::generate_x448()?.raw_public_key()?),
        group::P256 => nist(Nid::X9_62_PRIME256V1),
        group::P384 => nist(Nid::SECP384R1),
        group::P521 => nist(Nid::SECP521R1),
        other => Err(HelloError::UnsupportedKeyShare(other)),
    }
}

/// A host_name must be a DNS name (RFC 6066 §3): ASCII, no trailing dot, no IP literal.
fn check_sni(name: &str) -> Result<(), HelloError> {
    let bad = |why: &str| {
        Err(HelloError::InvalidSni {
            name: name.to_string(),
            why: why.to_string(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 253 {
        return bad("longer than the 253 characters a DNS name may have");
    }
    if name.parse::<IpAddr>().is_ok() {
        return bad("an IP address is not allowed in SNI (RFC 6066 §3); send no SNI instead");
    }
    if name.ends_with('.') {
        return bad("SNI is sent without the trailing dot (RFC 6066 §3)");
    }
    // Underscores are not LDH, but real internal names have them and servers accept them.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return bad(
            "only ASCII letters, digits, '-', '_' and '.' are allowed (use the A-label of an IDN)",
        );
    }
    if name
        .split('.')
        .any(|label| label.is_empty() || label.len() > 63)
    {
        return bad("each dot-separated label must have 1 to 63 characters");
    }
    Ok(())
}

fn random<const N: usize>() -> Result<[u8; N], HelloError> {
    let mut buf = [0u8; N];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(buf)
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes what `fill` writes, prefixed with its 16-bit length; fails if it does not fit.
fn put_vec16<T>(
    out: &mut Vec<u8>,
    what: &'static str,
    fill: impl FnOnce(&mut Vec<u8>) -> T,
) -> Result<T, HelloError> {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    let result = fill(out);
    let len = out.len() - at - 2;
    if len > usize::from(u16::MAX) {
        return Err(HelloError::TooLong { what, len });
    }
    out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
    Ok(result)
}

/// Writes one extension: type, then the length-prefixed data `fill` writes.
fn extension(
    out: &mut Vec<u8>,
    ty: u16,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), HelloError>,
) -> Result<(), HelloError> {
    put_u16(out, ty);
    put_vec16(out, "extension", fill)?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello read back from the bytes, by a parser written for these tests only.
    #[derive(Debug)]
    struct Parsed {
        record_version: u16,
        records: usize,
        legacy_version: u16,
        session_id: Vec<u8>,
        suites: Vec<u16>,
        compression: Vec<u8>,
        /// `None`: no extensions block at all.
        extensions: Option<Vec<(u16, Vec<u8>)>>,
    }

    impl Parsed {
        fn ext(&self, ty: u16) -> Option<&[u8]> {
            self.extensions
                .as_ref()?
                .iter()
                .find(|(t, _)| *t == ty)
                .map(|(_, d)| d.as_slice())
        }
    }

    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_be_bytes([b[i], b[i + 1]])
    }

    /// Panics (failing the test) on any framing error: every length must add up exactly.
    fn parse(bytes: &[u8]) -> Parsed {
        let mut handshake = Vec::new();
        let mut rest = bytes;
        let mut records = 0;
        let record_version = u16_at(rest, 1);
        while !rest.is_empty() {
            assert_eq!(rest[0], 22, "handshake record");
            assert_eq!(
                u16_at(rest, 1),
                record_version,
                "same version in every record"
            );
            let len = u16_at(rest, 3) as usize;
            assert!(len <= MAX_FRAGMENT && len > 0, "fragment of {len}");
            handshake.extend_from_slice(&rest[5..5 + len]);
            rest = &rest[5 + len..];
            records += 1;
        }
        assert_eq!(handshake[0], 1, "ClientHello");
        let len = u32::from_be_bytes([0, handshake[1], handshake[2], handshake[3]]) as usize;
        let b = &handshake[4..];
        assert_eq!(b.len(), len, "handshake length");
        let legacy_version = u16_at(b, 0);
        let mut i = 2 + 32;
        let sid_len = b[i] as usize;
        let session_id = b[i + 1..i + 1 + sid_len].to_vec();
        i += 1 + sid_len;
        let suites_len = u16_at(b, i) as usize;
        assert_eq!(suites_len % 2, 0);
        let suites = (0..suites_len / 2)
            .map(|k| u16_at(b, i + 2 + 2 * k))
            .collect();
        i += 2 + suites_len;
        let comp_len = b[i] as usize;
        let compression = b[i + 1..i + 1 + comp_len].to_vec();
        i += 1 + comp_len;
        let extensions = if i == b.len() {
            None
        } else {
            let ext_len = u16_at(b, i) as usize;
            i += 2;
            assert_eq!(i + ext_len, b.len(), "extensions end the hello");
            let mut exts = Vec::new();
            while i < b.len() {
                let ty = u16_at(b, i);
                let len = u16_at(b, i + 2) as usize;
                exts.push((ty, b[i + 4..i + 4 + len].to_vec()));
                i += 4 + len;
            }
            assert_eq!(i, b.len(), "last extension ends the hello");
            Some(exts)
        };
        Parsed {
            record_version,
            records,
            legacy_version,
            session_id,
            suites,
            compression,
            extensions,
        }
    }

    fn build(spec: &HelloSpec) -> Parsed {
        parse(&client_hello(spec).unwrap())
    }

    #[test]
    fn a_tls12_hello_reads_back() {
        let h = build(
            &HelloSpec::new(Protocol::Tls12, vec![0xC02F, 0x000A])
                .with_sni(Some("api.example".into())),
        );
        assert_eq!((h.record_version, h.records), (0x0301, 1));
        assert_eq!(h.legacy_version, 0x0303);
        assert!(h.session_id.is_empty());
        assert_eq!(h.suites, [0xC02F, 0x000A, RENEGOTIATION_INFO_SCSV]);
        assert_eq!(h.compression, [0]);
        let types: Vec<u16> = h.extensions.as_ref().unwrap().iter().map(|e| e.0).collect();
        assert_eq!(
            types,
            [
                EXT_SERVER_NAME,
                EXT_SUPPORTED_GROUPS,
                EXT_EC_POINT_FORMATS,
                EXT_SIGNATURE_ALGORITHMS,
                EXT_EXTENDED_MASTER_SECRET
            ]
        );
        let groups = h.ext(EXT_SUPPORTED_GROUPS).unwrap();
        assert_eq!(u16_at(groups, 0) as usize, 2 * DEFAULT_GROUPS.len());
        assert_eq!(u16_at(groups, 2), group::X25519);
        let sigalgs = h.ext(EXT_SIGNATURE_ALGORITHMS).unwrap();
        assert!(sigalgs[2..]
            .chunks(2)
            .any(|c| u16_at(c, 0) == sigalg::RSA_PKCS1_SHA1));
        assert_eq!(h.ext(EXT_EC_POINT_FORMATS), Some(&[1u8, 0][..]));
        assert_eq!(h.ext(EXT_EXTENDED_MASTER_SECRET), Some(&[][..]));
        assert!(h.ext(EXT_SUPPORTED_VERSIONS).is_none());
        assert!(h.ext(EXT_KEY_SHARE).is_none());
    }

    #[test]
    fn sni_present_and_absent() {
        let with = build(
            &HelloSpec::new(Protocol::Tls12, vec![0x002F]).with_sni(Some("a-b.example".into())),
        );
        let sni = with.ext(EXT_SERVER_NAME).unwrap();
        // list length, type host_name, name length, name
        assert_eq!(u16_at(sni, 0) as usize, sni.len() - 2);
        assert_eq!(sni[2], 0);
        assert_eq!(u16_at(sni, 3), 11);
        assert_eq!(&sni[5..], b"a-b.example");
        let without = build(&HelloSpec::new(Protocol::Tls12, vec![0x002F]));
        assert!(without.ext(EXT_SERVER_NAME).is_none());
    }

    #[test]
    fn tls13_has_supported_versions_and_a_real_key_share() {
        let h = build(
            &HelloSpec::new(Protocol::Tls13, vec![0x1301, 0x1305])
                .with_key_share_groups(vec![group::X25519, group::P256]),
        );
        assert_eq!((h.record_version, h.legacy_version), (0x0301, 0x0303));
        assert_eq!(h.session_id.len(), 32, "middlebox compatibility session id");
        assert_eq!(h.suites, [0x1301, 0x1305], "no SCSV in a TLS 1.3 hello");
        assert_eq!(h.ext(EXT_SUPPORTED_VERSIONS), Some(&[2u8, 3, 4][..]));
        assert_eq!(h.ext(EXT_PSK_KEY_EXCHANGE_MODES), Some(&[1u8, 1][..]));
        assert!(h.ext(EXT_SIGNATURE_ALGORITHMS).is_some());
        assert!(h.ext(EXT_EC_POINT_FORMATS).is_none());
        let ks = h.ext(EXT_KEY_SHARE).unwrap();
        assert_eq!(u16_at(ks, 0) as usize, ks.len() - 2);
        assert_eq!((u16_at(ks, 2), u16_at(ks, 4)), (group::X25519, 32));
        let p256 = &ks[6 + 32..];
        assert_eq!((u16_at(p256, 0), u16_at(p256, 2)), (group::P256, 65));
        assert_eq!(p256[4], 4, "uncompressed point");
        // The point really is on the curve.
        let ec = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        openssl::ec::EcPoint::from_bytes(&ec, &p256[4..], &mut ctx).unwrap();
    }

    #[test]
    fn every_key_share_group_has_the_right_size() {
        for (g, len) in [
            (group::X25519, 32),
            (group::X448, 56),
            (group::P256, 65),
            (group::P384, 97),
            (group::P521, 133),
        ] {
            assert_eq!(key_share(g).unwrap().len(), len, "0x{g:04x}");
        }
        assert_eq!(
            key_share(group::FFDHE2048),
            Err(HelloError::UnsupportedKeyShare(group::FFDHE2048))
        );
    }

    #[test]
    fn an_empty_key_share_list_is_valid() {
        let h = build(&HelloSpec::new(Protocol::Tls13, vec![0x1301]).with_key_share_groups(vec![]));
        assert_eq!(h.ext(EXT_KEY_SHARE), Some(&[0u8, 0][..]));
    }

    #[test]
    fn sslv3_has_no_extensions() {
        let h = build(
            &HelloSpec::new(Protocol::Ssl3, vec![0x000A, 0x0005])
                .with_sni(Some("x.example".into())),
        );
        assert_eq!((h.record_version, h.legacy_version), (0x0300, 0x0300));
        assert_eq!(h.suites, [0x000A, 0x0005, RENEGOTIATION_INFO_SCSV]);
        assert!(h.extensions.is_none());
    }

    #[test]
    fn versions_below_12_carry_no_signature_algorithms() {
        for (p, wire) in [(Protocol::Tls10, 0x0301), (Protocol::Tls11, 0x0302)] {
            let h = build(&HelloSpec::new(p, vec![0xC013]));
            assert_eq!((h.record_version, h.legacy_version), (0x0301, wire));
            assert!(h.ext(EXT_SIGNATURE_ALGORITHMS).is_none());
            assert!(h.ext(EXT_SUPPORTED_GROUPS).is_some());
        }
    }

    #[test]
    fn the_scsv_is_not_doubled() {
        let h = build(&HelloSpec::new(Protocol::Tls12, vec![0x00FF, 0x002F]));
        assert_eq!(h.suites, [0x00FF, 0x002F]);
    }

    #[test]
    fn size_limits() {
        assert_eq!(
            client_hello(&HelloSpec::new(Protocol::Tls12, vec![])),
            Err(HelloError::NoSuites)
        );
        let too_many: Vec<u16> = (0..=MAX_SUITES as u16).collect();
        assert_eq!(
            client_hello(&HelloSpec::new(Protocol::Tls12, too_many)),
            Err(HelloError::TooManySuites(MAX_SUITES + 1))
        );
        // 64 suites (nmap's chunk) stay far inside one record.
        let chunk: Vec<u16> = (0..SUITES_PER_HELLO as u16).collect();
        let bytes = client_hello(&HelloSpec::new(Protocol::Tls12, chunk)).unwrap();
        assert!(bytes.len() < 512, "{} bytes", bytes.len());
        // The maximum is fragmented across records and reassembles exactly.
        let max: Vec<u16> = (0..MAX_SUITES as u16).collect();
        let h = build(&HelloSpec::new(Protocol::Tls12, max.clone()));
        assert_eq!(h.records, 2);
        assert_eq!(&h.suites[..MAX_SUITES], &max[..]);
    }

    #[test]
    fn sni_must_be_a_dns_name() {
        for bad in [
            "",
            "10.0.0.1",
            "::1",
            "a.example.",
            "a..example",
            "bücher.example",
            "a b.example",
            &"a".repeat(64),
            &format!("{}.example", ["abc"; 70].join(".")),
        ] {
            let spec = HelloSpec::new(Protocol::Tls12, vec![0x002F]).with_sni(Some(bad.into()));
            assert!(
                matches!(client_hello(&spec), Err(HelloError::InvalidSni { .. })),
                "{bad:?}"
            );
        }
        for good in [
            "localhost",
            "a_b.internal",
            "xn--bcher-kva.example",
            "A1-x.EXAMPLE",
        ] {
            let spec = HelloSpec::new(Protocol::Tls12, vec![0x002F]).with_sni(Some(good.into()));
            assert!(client_hello(&spec).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn tls13_needs_groups_signatures_and_consistent_key_shares() {
        let base = HelloSpec::new(Protocol::Tls13, vec![0x1301]);
        assert_eq!(
            client_hello(&base.clone().with_groups(vec![])),
            Err(HelloError::MissingForTls13("supported_groups"))
        );
        assert_eq!(
            client_hello(&base.clone().with_signature_algorithms(vec![])),
            Err(HelloError::MissingForTls13("signature_algorithms"))
        );
        assert_eq!(
            client_hello(&base.clone().with_groups(vec![group::P256])),
            Err(HelloError::KeyShareNotOffered(group::X25519))
        );
        assert_eq!(
            client_hello(&base.with_key_share_groups(vec![group::FFDHE2048])),
            Err(HelloError::UnsupportedKeyShare(group::FFDHE2048))
        );
    }

    #[test]
    fn every_hello_is_fresh() {
        let spec = HelloSpec::new(Protocol::Tls13, vec![0x1301]);
        assert_ne!(client_hello(&spec).unwrap(), client_hello(&spec).unwrap());
    }
}
