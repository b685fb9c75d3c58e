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

use crate::tls::codec::{
    content, handshake, handshake_message, put_u16, put_vec16, ExtensionType, Reader, TooLong,
    MAX_FRAGMENT,
};
use crate::tls::enums::{NamedGroup, SignatureScheme};
use crate::tls::protocol::Protocol;

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3): added to every hello up to TLS 1.2.
pub const RENEGOTIATION_INFO_SCSV: u16 = 0x00FF;

/// The most suites one hello may carry (the protocol allows 32,767; no server needs more).
pub const MAX_SUITES: usize = 8192;

/// The chunk size a planner should not exceed: nmap's ssl-enum-ciphers `CHUNK_SIZE`.
pub const SUITES_PER_HELLO: usize = 64;

/// How many of [`DEFAULT_GROUPS`], from the first, are elliptic curves (X25519 … X448); the
/// finite-field groups follow.
pub const ELLIPTIC_CURVES: usize = 5;

/// Every group the scanner knows, strongest-and-commonest first.
pub const DEFAULT_GROUPS: [u16; 10] = [
    NamedGroup::X25519.0,
    NamedGroup::P256.0,
    NamedGroup::P384.0,
    NamedGroup::P521.0,
    NamedGroup::X448.0,
    NamedGroup::FFDHE2048.0,
    NamedGroup::FFDHE3072.0,
    NamedGroup::FFDHE4096.0,
    NamedGroup::FFDHE6144.0,
    NamedGroup::FFDHE8192.0,
];

/// A broad list, so no server refuses for want of a signature scheme: the TLS 1.3 schemes, then the
/// TLS 1.2 pairs old servers still sign with (SHA-1 and DSA included: DHE-DSS suites need DSA).
pub const DEFAULT_SIGNATURE_ALGORITHMS: [u16; 23] = [
    SignatureScheme::ECDSA_SECP256R1_SHA256.0,
    SignatureScheme::ECDSA_SECP384R1_SHA384.0,
    SignatureScheme::ECDSA_SECP521R1_SHA512.0,
    SignatureScheme::ED25519.0,
    SignatureScheme::ED448.0,
    SignatureScheme::RSA_PSS_RSAE_SHA256.0,
    SignatureScheme::RSA_PSS_RSAE_SHA384.0,
    SignatureScheme::RSA_PSS_RSAE_SHA512.0,
    SignatureScheme::RSA_PSS_PSS_SHA256.0,
    SignatureScheme::RSA_PSS_PSS_SHA384.0,
    SignatureScheme::RSA_PSS_PSS_SHA512.0,
    SignatureScheme::RSA_PKCS1_SHA256.0,
    SignatureScheme::RSA_PKCS1_SHA384.0,
    SignatureScheme::RSA_PKCS1_SHA512.0,
    SignatureScheme::ECDSA_SHA224.0,
    SignatureScheme::RSA_PKCS1_SHA224.0,
    SignatureScheme::DSA_SHA224.0,
    SignatureScheme::DSA_SHA256.0,
    SignatureScheme::DSA_SHA384.0,
    SignatureScheme::DSA_SHA512.0,
    SignatureScheme::ECDSA_SHA1.0,
    SignatureScheme::RSA_PKCS1_SHA1.0,
    SignatureScheme::DSA_SHA1.0,
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
            key_share_groups: vec![NamedGroup::X25519.0],
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

impl From<TooLong> for HelloError {
    fn from(e: TooLong) -> Self {
        HelloError::TooLong {
            what: e.what,
            len: e.len,
        }
    }
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
    let hello = handshake_message(handshake::CLIENT_HELLO, &body);

    // The record version: 0x0301 for any TLS hello, as OpenSSL and BoringSSL send it, since some
    // servers reject a higher one (RFC 8446 §5.1 allows 0x0301 for the initial ClientHello).
    let record_version: u16 = if spec.version == Protocol::Ssl3 {
        0x0300
    } else {
        0x0301
    };
    let mut out = Vec::with_capacity(hello.len() + 5);
    for fragment in hello.chunks(MAX_FRAGMENT) {
        out.push(content::HANDSHAKE);
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
        extension(&mut ext, ExtensionType::SERVER_NAME, |b| {
            put_vec16(b, "server_name", |list| {
                list.push(0);
                put_vec16(list, "host_name", |n| n.extend_from_slice(name.as_bytes()))
            })
            .and_then(|r| r)
        })?;
    }
    if !spec.groups.is_empty() {
        extension(&mut ext, ExtensionType::SUPPORTED_GROUPS, |b| {
            put_vec16(b, "supported_groups", |g| {
                spec.groups.iter().for_each(|&x| put_u16(g, x))
            })
        })?;
    }
    if !tls13 {
        // uncompressed only (RFC 8422 §5.1.2); TLS 1.3 dropped the extension.
        extension(&mut ext, ExtensionType::EC_POINT_FORMATS, |b| {
            b.extend_from_slice(&[1, 0]);
            Ok::<(), HelloError>(())
        })?;
    }
    // RFC 5246 §7.4.1.4.1: a client offering an older version must not send signature_algorithms.
    if spec.version >= Protocol::Tls12 && !spec.signature_algorithms.is_empty() {
        extension(&mut ext, ExtensionType::SIGNATURE_ALGORITHMS, |b| {
            put_vec16(b, "signature_algorithms", |s| {
                spec.signature_algorithms
                    .iter()
                    .for_each(|&x| put_u16(s, x))
            })
        })?;
    }
    if !tls13 {
        extension(&mut ext, ExtensionType::EXTENDED_MASTER_SECRET, |_| {
            Ok::<(), HelloError>(())
        })?;
    }
    if tls13 {
        extension(&mut ext, ExtensionType::SUPPORTED_VERSIONS, |b| {
            b.extend_from_slice(&[2, 0x03, 0x04]);
            Ok::<(), HelloError>(())
        })?;
        // psk_dhe_ke only; no PSK is ever offered, but servers expect the extension from 1.3 clients.
        extension(&mut ext, ExtensionType::PSK_KEY_EXCHANGE_MODES, |b| {
            b.extend_from_slice(&[1, 1]);
            Ok::<(), HelloError>(())
        })?;
        let mut shares = Vec::new();
        for &g in &spec.key_share_groups {
            let public = key_share(g)?;
            put_u16(&mut shares, g);
            put_vec16(&mut shares, "key_exchange", |k| {
                k.extend_from_slice(&public)
            })?;
        }
        extension(&mut ext, ExtensionType::KEY_SHARE, |b| {
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
    match NamedGroup(group) {
        NamedGroup::X25519 => Ok(PKey::generate_x25519()?.raw_public_key()?),
        NamedGroup::X448 => Ok(PKey::generate_x448()?.raw_public_key()?),
        NamedGroup::P256 => nist(Nid::X9_62_PRIME256V1),
        NamedGroup::P384 => nist(Nid::SECP384R1),
        NamedGroup::P521 => nist(Nid::SECP521R1),
        NamedGroup(other) => Err(HelloError::UnsupportedKeyShare(other)),
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

/// Writes one extension: type, then the length-prefixed data `fill` writes.
fn extension<E: Into<HelloError>>(
    out: &mut Vec<u8>,
    ty: ExtensionType,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), HelloError> {
    put_u16(out, ty.0);
    put_vec16(out, "extension", fill)?.map_err(Into::into)
}

/// A ClientHello as read back from the wire: what a scripted server needs to answer it, and what
/// tests check a built hello against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHelloFields {
    pub record_version: u16,
    /// How many records carried it.
    pub records: usize,
    pub legacy_version: u16,
    pub session_id: Vec<u8>,
    pub suites: Vec<u16>,
    pub compression: Vec<u8>,
    /// `None`: no extensions block at all (SSLv3).
    pub extensions: Option<Vec<(u16, Vec<u8>)>>,
}

impl ClientHelloFields {
    /// The data of the first extension of type `ty`.
    pub fn ext(&self, ty: ExtensionType) -> Option<&[u8]> {
        self.extensions
            .as_ref()?
            .iter()
            .find(|(t, _)| *t == ty.0)
            .map(|(_, d)| d.as_slice())
    }
}

/// Reads a ClientHello from the records in `bytes` (all of them, and nothing else). Strict:
/// every length must add up exactly, every record must carry the same version.
pub fn parse_client_hello(bytes: &[u8]) -> Result<ClientHelloFields, String> {
    let mut flight = Vec::new();
    let mut records = 0;
    let mut r = Reader::new(bytes);
    let mut record_version = None;
    while !r.is_empty() {
        let kind = r.u8().ok_or("truncated record header")?;
        let version = r.u16().ok_or("truncated record header")?;
        let fragment = r.vec16().ok_or("truncated record")?;
        if kind != content::HANDSHAKE {
            return Err(format!("record type {kind}, not handshake"));
        }
        if *record_version.get_or_insert(version) != version {
            return Err("records carry different versions".into());
        }
        if fragment.is_empty() || fragment.len() > MAX_FRAGMENT {
            return Err(format!("fragment of {} bytes", fragment.len()));
        }
        flight.extend_from_slice(fragment);
        records += 1;
    }
    let mut h = Reader::new(&flight);
    if h.u8() != Some(handshake::CLIENT_HELLO) {
        return Err("the first handshake message is not a ClientHello".into());
    }
    let len = h.u24().ok_or("truncated handshake header")?;
    if h.rest().len() != len {
        return Err(format!(
            "handshake length {len}, but {} bytes follow",
            h.rest().len()
        ));
    }
    let legacy_version = h.u16().ok_or("truncated version")?;
    h.take(32).ok_or("truncated random")?;
    let session_id = h.vec8().ok_or("truncated session id")?.to_vec();
    let suite_bytes = h.vec16().ok_or("truncated cipher suites")?;
    if suite_bytes.len() % 2 != 0 {
        return Err("odd cipher-suite length".into());
    }
    let suites = suite_bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let compression = h.vec8().ok_or("truncated compression methods")?.to_vec();
    let extensions = if h.is_empty() {
        None
    } else {
        let mut e = Reader::new(h.vec16().ok_or("truncated extensions")?);
        if !h.is_empty() {
            return Err("bytes after the extensions".into());
        }
        let mut exts = Vec::new();
        while !e.is_empty() {
            let ty = e.u16().ok_or("truncated extension type")?;
            let data = e.vec16().ok_or("truncated extension")?;
            exts.push((ty, data.to_vec()));
        }
        Some(exts)
    };
    Ok(ClientHelloFields {
        record_version: record_version.unwrap_or(0),
        records,
        legacy_version,
        session_id,
        suites,
        compression,
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_groups_open_with_the_elliptic_curves() {
        let curves = [
            NamedGroup::X25519,
            NamedGroup::P256,
            NamedGroup::P384,
            NamedGroup::P521,
            NamedGroup::X448,
        ];
        let head: Vec<u16> = DEFAULT_GROUPS[..ELLIPTIC_CURVES].to_vec();
        assert_eq!(head, curves.map(|g| g.0).to_vec());
        assert!(DEFAULT_GROUPS[ELLIPTIC_CURVES..]
            .iter()
            .all(|&g| g >= 0x0100));
    }

    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_be_bytes([b[i], b[i + 1]])
    }

    /// The hello read back by [`parse_client_hello`]; any framing error fails the test.
    fn parse(bytes: &[u8]) -> ClientHelloFields {
        let h = parse_client_hello(bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(h.records > 0);
        h
    }

    fn build(spec: &HelloSpec) -> ClientHelloFields {
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
        let types: Vec<ExtensionType> = h
            .extensions
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| ExtensionType(e.0))
            .collect();
        assert_eq!(
            types,
            [
                ExtensionType::SERVER_NAME,
                ExtensionType::SUPPORTED_GROUPS,
                ExtensionType::EC_POINT_FORMATS,
                ExtensionType::SIGNATURE_ALGORITHMS,
                ExtensionType::EXTENDED_MASTER_SECRET
            ]
        );
        let groups = h.ext(ExtensionType::SUPPORTED_GROUPS).unwrap();
        assert_eq!(u16_at(groups, 0) as usize, 2 * DEFAULT_GROUPS.len());
        assert_eq!(u16_at(groups, 2), NamedGroup::X25519.0);
        let sigalgs = h.ext(ExtensionType::SIGNATURE_ALGORITHMS).unwrap();
        assert!(sigalgs[2..]
            .chunks(2)
            .any(|c| u16_at(c, 0) == SignatureScheme::RSA_PKCS1_SHA1.0));
        assert_eq!(h.ext(ExtensionType::EC_POINT_FORMATS), Some(&[1u8, 0][..]));
        assert_eq!(h.ext(ExtensionType::EXTENDED_MASTER_SECRET), Some(&[][..]));
        assert!(h.ext(ExtensionType::SUPPORTED_VERSIONS).is_none());
        assert!(h.ext(ExtensionType::KEY_SHARE).is_none());
    }

    #[test]
    fn sni_present_and_absent() {
        let with = build(
            &HelloSpec::new(Protocol::Tls12, vec![0x002F]).with_sni(Some("a-b.example".into())),
        );
        let sni = with.ext(ExtensionType::SERVER_NAME).unwrap();
        // list length, type host_name, name length, name
        assert_eq!(u16_at(sni, 0) as usize, sni.len() - 2);
        assert_eq!(sni[2], 0);
        assert_eq!(u16_at(sni, 3), 11);
        assert_eq!(&sni[5..], b"a-b.example");
        let without = build(&HelloSpec::new(Protocol::Tls12, vec![0x002F]));
        assert!(without.ext(ExtensionType::SERVER_NAME).is_none());
    }

    #[test]
    fn tls13_has_supported_versions_and_a_real_key_share() {
        let h = build(
            &HelloSpec::new(Protocol::Tls13, vec![0x1301, 0x1305])
                .with_key_share_groups(vec![NamedGroup::X25519.0, NamedGroup::P256.0]),
        );
        assert_eq!((h.record_version, h.legacy_version), (0x0301, 0x0303));
        assert_eq!(h.session_id.len(), 32, "middlebox compatibility session id");
        assert_eq!(h.suites, [0x1301, 0x1305], "no SCSV in a TLS 1.3 hello");
        assert_eq!(
            h.ext(ExtensionType::SUPPORTED_VERSIONS),
            Some(&[2u8, 3, 4][..])
        );
        assert_eq!(
            h.ext(ExtensionType::PSK_KEY_EXCHANGE_MODES),
            Some(&[1u8, 1][..])
        );
        assert!(h.ext(ExtensionType::SIGNATURE_ALGORITHMS).is_some());
        assert!(h.ext(ExtensionType::EC_POINT_FORMATS).is_none());
        let ks = h.ext(ExtensionType::KEY_SHARE).unwrap();
        assert_eq!(u16_at(ks, 0) as usize, ks.len() - 2);
        assert_eq!((u16_at(ks, 2), u16_at(ks, 4)), (NamedGroup::X25519.0, 32));
        let p256 = &ks[6 + 32..];
        assert_eq!((u16_at(p256, 0), u16_at(p256, 2)), (NamedGroup::P256.0, 65));
        assert_eq!(p256[4], 4, "uncompressed point");
        // The point really is on the curve.
        let ec = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        openssl::ec::EcPoint::from_bytes(&ec, &p256[4..], &mut ctx).unwrap();
    }

    #[test]
    fn every_key_share_group_has_the_right_size() {
        for (g, len) in [
            (NamedGroup::X25519.0, 32),
            (NamedGroup::X448.0, 56),
            (NamedGroup::P256.0, 65),
            (NamedGroup::P384.0, 97),
            (NamedGroup::P521.0, 133),
        ] {
            assert_eq!(key_share(g).unwrap().len(), len, "0x{g:04x}");
        }
        assert_eq!(
            key_share(NamedGroup::FFDHE2048.0),
            Err(HelloError::UnsupportedKeyShare(NamedGroup::FFDHE2048.0))
        );
    }

    #[test]
    fn an_empty_key_share_list_is_valid() {
        let h = build(&HelloSpec::new(Protocol::Tls13, vec![0x1301]).with_key_share_groups(vec![]));
        assert_eq!(h.ext(ExtensionType::KEY_SHARE), Some(&[0u8, 0][..]));
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
            assert!(h.ext(ExtensionType::SIGNATURE_ALGORITHMS).is_none());
            assert!(h.ext(ExtensionType::SUPPORTED_GROUPS).is_some());
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
            client_hello(&base.clone().with_groups(vec![NamedGroup::P256.0])),
            Err(HelloError::KeyShareNotOffered(NamedGroup::X25519.0))
        );
        assert_eq!(
            client_hello(&base.with_key_share_groups(vec![NamedGroup::FFDHE2048.0])),
            Err(HelloError::UnsupportedKeyShare(NamedGroup::FFDHE2048.0))
        );
    }

    #[test]
    fn every_hello_is_fresh() {
        let spec = HelloSpec::new(Protocol::Tls13, vec![0x1301]);
        assert_ne!(client_hello(&spec).unwrap(), client_hello(&spec).unwrap());
    }
}
