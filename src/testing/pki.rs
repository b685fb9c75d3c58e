//! Certificates on demand, for the tests and `cipher-test demo`: roots, intermediates and leaves
//! with exactly the flaw a certificate check looks for (expired, wrong host, SHA-1/MD5, RSA-1024…).
//! Never used on a real connection; keys are pooled and reused across certificates for speed.

use std::collections::HashMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use foreign_types::ForeignType;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ocsp::{
    OcspBasicResponse, OcspCertId, OcspCertStatus, OcspResponse, OcspResponseStatus,
};
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Name, X509Ref, X509};

pub use crate::testing::server::KeyKind;

/// The digest a certificate is signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigDigest {
    /// sha256WithRSAEncryption / ecdsa-with-SHA256.
    Sha256,
    /// sha1WithRSAEncryption / ecdsa-with-SHA1: rejected by browsers since 2017.
    Sha1,
    /// md5WithRSAEncryption: RSA keys only (there is no ECDSA-with-MD5 algorithm).
    Md5,
}

impl SigDigest {
    fn message_digest(self) -> MessageDigest {
        match self {
            SigDigest::Sha256 => MessageDigest::sha256(),
            SigDigest::Sha1 => MessageDigest::sha1(),
            SigDigest::Md5 => MessageDigest::md5(),
        }
    }
}

/// What to put in a certificate. Build one with [`CertSpec::leaf`] or [`CertSpec::ca`] and adjust it.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Subject CN.
    pub common_name: String,
    /// Subject alternative names: DNS names (`*.example.com` allowed) or IP literals. Empty means no
    /// SAN extension at all (hostname checks then fall back to the CN, or fail).
    pub sans: Vec<String>,
    /// Key type of the subject key.
    pub key: KeyKind,
    /// Start of validity in days from now: `-1` is yesterday, `30` in a month (not yet valid).
    pub not_before_days: i64,
    /// End of validity in days from now: `365` a year from now, `-1` expired yesterday.
    pub not_after_days: i64,
    /// Digest of the issuer's signature.
    pub digest: SigDigest,
    /// basicConstraints CA:TRUE and keyUsage keyCertSign, for roots and intermediates.
    pub is_ca: bool,
}

impl CertSpec {
    /// A server certificate: CN and SAN `host` (DNS, or IP if it parses), RSA 2048, valid from
    /// yesterday for a year, SHA-256, not a CA.
    pub fn leaf(host: &str) -> Self {
        CertSpec {
            common_name: host.to_string(),
            sans: vec![host.to_string()],
            key: KeyKind::Rsa2048,
            not_before_days: -1,
            not_after_days: 365,
            digest: SigDigest::Sha256,
            is_ca: false,
        }
    }

    /// A root or intermediate CA: CN `name`, no SAN, ECDSA P-256 (fast to generate), valid from
    /// yesterday for ten years, SHA-256.
    pub fn ca(name: &str) -> Self {
        CertSpec {
            common_name: name.to_string(),
            sans: Vec::new(),
            key: KeyKind::EcdsaP256,
            not_before_days: -1,
            not_after_days: 3650,
            digest: SigDigest::Sha256,
            is_ca: true,
        }
    }

    /// Replaces the subject alternative names (an empty slice drops the extension).
    pub fn sans(mut self, sans: &[&str]) -> Self {
        self.sans = sans.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets the key type.
    pub fn key(mut self, key: KeyKind) -> Self {
        self.key = key;
        self
    }

    /// Sets the validity window in days from now, e.g. `(-30, -1)` for a certificate that expired yesterday.
    pub fn valid_days(mut self, not_before: i64, not_after: i64) -> Self {
        self.not_before_days = not_before;
        self.not_after_days = not_after;
        self
    }

    /// Sets the signature digest.
    pub fn digest(mut self, digest: SigDigest) -> Self {
        self.digest = digest;
        self
    }
}

/// A certificate and its private key; the issuer for further certificates when it is a CA.
#[derive(Clone)]
pub struct Issued {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is deliberately left out.
        f.debug_struct("Issued")
            .field("subject", &self.cert.subject_name())
            .field("issuer", &self.cert.issuer_name())
            .finish_non_exhaustive()
    }
}

/// A certificate for `spec` signed by its own key (issuer = subject).
pub fn self_signed(spec: &CertSpec) -> Result<Issued> {
    let key = pooled_key(spec.key, None)?;
    let cert = build(spec, &key, None, &key)
        .with_context(|| format!("self-signing a certificate for {:?}", spec.common_name))?;
    Ok(Issued { cert, key })
}

/// A certificate for `spec` signed by `issuer`: issuer name = the issuer's subject, authority key
/// identifier = the issuer's key, and a subject key different from the issuer's.
pub fn issue(spec: &CertSpec, issuer: &Issued) -> Result<Issued> {
    let key = pooled_key(spec.key, Some(&issuer.key))?;
    let cert = build(spec, &key, Some(&issuer.cert), &issuer.key).with_context(|| {
        format!(
            "issuing a certificate for {:?} from {:?}",
            spec.common_name,
            common_name(&issuer.cert)
        )
    })?;
    Ok(Issued { cert, key })
}

/// Writes `certs` as one PEM file `<name>.pem` (in the given order) and, if given, `key` as PKCS#8
/// PEM `<name>.key` into `dir`, for CLI tests; returns their paths.
pub fn write_pem(
    dir: &Path,
    name: &str,
    certs: &[&X509],
    key: Option<&PKey<Private>>,
) -> Result<(PathBuf, Option<PathBuf>)> {
    let mut pem = Vec::new();
    for cert in certs {
        pem.extend(cert.to_pem()?);
    }
    let cert_path = dir.join(format!("{name}.pem"));
    fs::write(&cert_path, pem).with_context(|| format!("writing {}", cert_path.display()))?;
    let key_path = match key {
        None => None,
        Some(key) => {
            let path = dir.join(format!("{name}.key"));
            fs::write(&path, key.private_key_to_pem_pkcs8()?)
                .with_context(|| format!("writing {}", path.display()))?;
            Some(path)
        }
    };
    Ok((cert_path, key_path))
}

/// A syntactically valid OCSP response without a certificate status (responseStatus tryLater), for
/// checks that only need to see that something was stapled.
pub fn ocsp_response_der() -> Vec<u8> {
    OcspResponse::create(OcspResponseStatus::TRY_LATER, None)
        .and_then(|response| response.to_der())
        .expect("encoding a body-less OCSP response cannot fail")
}

/// A signed, successful OCSP response saying `cert` (issued by `issuer`) is `status` (`GOOD`,
/// `REVOKED` since yesterday, or `UNKNOWN`), produced now and valid for a week. The issuer signs it
/// directly, so a client that trusts the issuer can verify it.
pub fn ocsp_response_for(cert: &X509, issuer: &Issued, status: OcspCertStatus) -> Result<Vec<u8>> {
    // OCSP_basic_add1_status and OCSP_basic_sign are in libcrypto but not declared by openssl-sys.
    extern "C" {
        fn OCSP_basic_add1_status(
            rsp: *mut openssl_sys::OCSP_BASICRESP,
            cid: *mut openssl_sys::OCSP_CERTID,
            status: std::ffi::c_int,
            reason: std::ffi::c_int,
            revtime: *mut openssl_sys::ASN1_TIME,
            thisupd: *mut openssl_sys::ASN1_TIME,
            nextupd: *mut openssl_sys::ASN1_TIME,
        ) -> *mut std::ffi::c_void;
        fn OCSP_basic_sign(
            brsp: *mut openssl_sys::OCSP_BASICRESP,
            signer: *mut openssl_sys::X509,
            key: *mut openssl_sys::EVP_PKEY,
            dgst: *const openssl_sys::EVP_MD,
            certs: *mut openssl_sys::stack_st_X509,
            flags: std::ffi::c_ulong,
        ) -> std::ffi::c_int;
    }
    /// RFC 6960 CRLReason unspecified.
    const REASON_UNSPECIFIED: std::ffi::c_int = 0;

    let id = OcspCertId::from_cert(MessageDigest::sha1(), cert, &issuer.cert)?;
    let this_update = Asn1Time::from_unix(days_from_now(0)?)?;
    let next_update = Asn1Time::from_unix(days_from_now(7)?)?;
    let revoked_at = Asn1Time::from_unix(days_from_now(-1)?)?;
    let revoked = status == OcspCertStatus::REVOKED;
    // SAFETY: OCSP_BASICRESP_new returns an owned object (null checked) that `basic` frees on drop.
    // add1_status copies the certificate id and times; basic_sign only reads the signer and key,
    // which outlive the calls. Both return 0 / null on failure, with the reason on the error stack.
    let basic = unsafe {
        let raw = openssl_sys::OCSP_BASICRESP_new();
        if raw.is_null() {
            return Err(openssl::error::ErrorStack::get().into());
        }
        let basic = OcspBasicResponse::from_ptr(raw);
        let single = OCSP_basic_add1_status(
            basic.as_ptr(),
            id.as_ptr(),
            status.as_raw(),
            REASON_UNSPECIFIED,
            if revoked {
                revoked_at.as_ptr()
            } else {
                std::ptr::null_mut()
            },
            this_update.as_ptr(),
            next_update.as_ptr(),
        );
        if single.is_null() {
            return Err(openssl::error::ErrorStack::get()).context("adding the OCSP status");
        }
        let signed = OCSP_basic_sign(
            basic.as_ptr(),
            issuer.cert.as_ptr(),
            issuer.key.as_ptr(),
            MessageDigest::sha256().as_ptr(),
            std::ptr::null_mut(),
            0,
        );
        if signed != 1 {
            return Err(openssl::error::ErrorStack::get()).context("signing the OCSP response");
        }
        basic
    };
    let response = OcspResponse::create(OcspResponseStatus::SUCCESSFUL, Some(&basic))?;
    Ok(response.to_der()?)
}

/// Builds and signs the certificate; `issuer` is `None` for a self-signed one.
fn build(
    spec: &CertSpec,
    key: &PKey<Private>,
    issuer: Option<&X509>,
    signing_key: &PKey<Private>,
) -> Result<X509> {
    let issuer: Option<&X509Ref> = issuer.map(|issuer| &**issuer);
    if spec.digest == SigDigest::Md5 && signing_key.id() != Id::RSA {
        bail!(
            "an MD5 signature needs an RSA signing key: there is no ECDSA-with-MD5 algorithm \
             (give the issuer an RSA key, e.g. CertSpec::ca(..).key(KeyKind::Rsa2048))"
        );
    }
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COMMONNAME, &spec.common_name)?;
    let name = name.build();
    // 127 random bits with the top one set: exactly 16 bytes in DER, positive, never zero.
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::ONE, false)?;

    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    let not_before = Asn1Time::from_unix(days_from_now(spec.not_before_days)?)?;
    let not_after = Asn1Time::from_unix(days_from_now(spec.not_after_days)?)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(issuer.map_or(&*name, |issuer| issuer.subject_name()))?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.set_pubkey(key)?;

    if spec.is_ca {
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        let mut usage = KeyUsage::new();
        usage.critical().digital_signature();
        if key.id() == Id::RSA {
            // RSA key transport suites (AES256-SHA) encrypt the premaster secret to this key.
            usage.key_encipherment();
        }
        builder.append_extension(usage.build()?)?;
        // Both purposes, so the same factory makes client certificates for mTLS tests.
        builder.append_extension(
            ExtendedKeyUsage::new()
                .server_auth()
                .client_auth()
                .build()?,
        )?;
    }
    if !spec.sans.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for entry in &spec.sans {
            if entry.parse::<IpAddr>().is_ok() {
                san.ip(entry);
            } else {
                san.dns(entry);
            }
        }
        let san = san.build(&builder.x509v3_context(issuer, None))?;
        builder.append_extension(san)?;
    }
    let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(issuer, None))?;
    builder.append_extension(ski)?;
    if let Some(issuer) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(issuer), None))?;
        builder.append_extension(aki)?;
    }
    builder
        .sign(signing_key, spec.digest.message_digest())
        .with_context(|| format!("signing with {:?}", spec.digest))?;
    Ok(builder.build())
}

/// Unix time `days` days from now (negative: in the past).
fn days_from_now(days: i64) -> Result<i64> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    Ok(i64::try_from(now)? + days * 86_400)
}

fn common_name(cert: &X509) -> String {
    cert.subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|entry| entry.data().to_string().ok())
        .unwrap_or_default()
}

/// Keys kept per kind; consecutive requests rotate through them, so a chain rarely repeats a key.
const POOL_SIZE: usize = 4;

/// A key of `kind` from the process-wide pool, generated on first use of its slot and never equal
/// to `avoid` (an issuer's key, so no certificate looks signed by itself by accident).
fn pooled_key(kind: KeyKind, avoid: Option<&PKey<Private>>) -> Result<PKey<Private>> {
    type Slot = Arc<Mutex<Option<PKey<Private>>>>;
    static SLOTS: OnceLock<Mutex<HashMap<(KeyKind, usize), Slot>>> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..POOL_SIZE {
        let index = NEXT.fetch_add(1, Ordering::Relaxed) % POOL_SIZE;
        let slot = {
            let mut slots = SLOTS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            Arc::clone(slots.entry((kind, index)).or_default())
        };
        // Different slots generate in parallel; callers of the same slot wait for one generation.
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        let key = match slot.as_ref() {
            Some(key) => key.clone(),
            None => {
                let key = crate::testing::server::generate_key(kind)
                    .with_context(|| format!("generating a {kind:?} key"))?;
                *slot = Some(key.clone());
                key
            }
        };
        if !avoid.is_some_and(|avoid| avoid.public_eq(&key)) {
            return Ok(key);
        }
    }
    // Only reachable if every slot holds the avoided key, which distinct generations rule out.
    bail!("the {kind:?} key pool holds no key other than the issuer's")
}
