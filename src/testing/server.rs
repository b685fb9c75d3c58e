//! In-process OpenSSL TLS servers with a known configuration, for the tests and `cipher-test demo`.
//! Owns certificate generation (cached per process) and a blocking accept loop on std threads; it
//! must not use tokio, so it works both inside and outside a runtime, and it never panics on a bad
//! peer. Any certificate chain (broken ones included, see [`super::pki`]) is served exactly as given.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::testing::pki::{self, CertSpec};
use openssl::dh::Dh;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslVerifyMode, SslVersion,
};
use openssl::x509::X509;

/// RFC 7919 ffdhe2048, the group a well-configured DHE server uses (as printed by
/// `openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048`).
const FFDHE2048_PEM: &[u8] = b"-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
";

/// What the server sends after a successful handshake, before closing.
pub const RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\nConnection: close\r\n\r\ncipher-test ok\n";

/// Per-connection read/write timeout, so no connection thread outlives a vanished client for long.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection waits for the client's FIN after the server has closed its side.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Common name of the throwaway CA that client certificates are verified against.
pub const CLIENT_CA_NAME: &str = "cipher-test client CA";

/// A certificate and its private key.
pub type Credentials = (X509, PKey<Private>);

/// Key type of a server certificate (the generated one is self-signed with SHA-256) or of a
/// `testpki` certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyKind {
    /// RSA 2048: usable with RSA key transport, ECDHE-RSA and DHE-RSA suites.
    #[default]
    Rsa2048,
    /// RSA 1024: a weak key (below the 2048 bits CAs have required since 2014), for weak-key checks.
    Rsa1024,
    /// ECDSA on P-256 (secp256r1): usable with ECDHE-ECDSA suites.
    EcdsaP256,
    /// ECDSA on P-384 (secp384r1): usable with ECDHE-ECDSA suites.
    EcdsaP384,
}

/// Whether the server asks for a client certificate (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No CertificateRequest is sent.
    #[default]
    None,
    /// CertificateRequest is sent; a client without a certificate is still accepted.
    Optional,
    /// CertificateRequest is sent; the handshake fails without a certificate (VERIFY_PEER | FAIL_IF_NO_PEER_CERT).
    Required,
}

/// A server's TLS configuration; `None` fields keep OpenSSL's defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Lowest protocol version accepted (`None`: OpenSSL's default, which a system openssl.cnf may raise).
    pub min_version: Option<SslVersion>,
    /// Highest protocol version accepted (`None`: the highest OpenSSL supports).
    pub max_version: Option<SslVersion>,
    /// TLS 1.2-and-below suites in OpenSSL syntax; the server runs at security level 0 so legacy suites work.
    pub cipher_list: Option<String>,
    /// TLS 1.3 suites (`set_ciphersuites`); `Some("")` disables all of them.
    pub ciphersuites: Option<String>,
    /// Key-exchange groups (`set_groups_list`), e.g. `"P-384"` or `"X25519:P-256"`.
    pub groups: Option<String>,
    /// Key type of the server certificate.
    pub key: KeyKind,
    /// Whether a client certificate is requested or required.
    pub client_auth: ClientAuth,
    /// Pick the suite in the server's order instead of the client's (`SSL_OP_CIPHER_SERVER_PREFERENCE`).
    pub server_preference: bool,
    /// Certificate CN and SAN (a DNS name, or an IP address if it parses as one).
    pub hostname: String,
    /// A chain to serve instead of the generated self-signed certificate (`key` and `hostname` are
    /// then unused).
    pub certificate: Option<ServerCertificate>,
    /// A DER OCSP response stapled when the client asks for one (status_request).
    pub ocsp_staple: Option<Vec<u8>>,
    /// The CA client certificates are verified against, instead of the built-in [`client_ca`].
    pub client_ca: Option<X509>,
    /// Refuse a ClientHello without SNI with a fatal `unrecognized_name` alert, as some
    /// multi-tenant front ends do.
    pub require_sni: bool,
    /// Listen on the IPv6 loopback `[::1]` instead of 127.0.0.1.
    pub ipv6: bool,
    /// Listen on exactly this address (e.g. 127.0.0.2 on another server's port), overriding `ipv6`.
    pub listen: Option<SocketAddr>,
}

/// A certificate chain and the leaf's private key, served exactly as given.
#[derive(Debug, Clone)]
pub struct ServerCertificate {
    /// `chain[0]` is the leaf; the rest are sent after it in this order, even when that order is
    /// wrong, and nothing is added or removed.
    pub chain: Vec<X509>,
    /// The private key of `chain[0]`.
    pub key: PKey<Private>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            min_version: Some(SslVersion::TLS1),
            max_version: Some(SslVersion::TLS1_3),
            cipher_list: None,
            ciphersuites: None,
            groups: None,
            key: KeyKind::Rsa2048,
            client_auth: ClientAuth::None,
            server_preference: false,
            hostname: "localhost".to_string(),
            certificate: None,
            ocsp_staple: None,
            client_ca: None,
            require_sni: false,
            ipv6: false,
            listen: None,
        }
    }
}

impl ServerConfig {
    /// Six suites: three ECDHE-RSA AEAD suites at TLS 1.2 and the three default TLS 1.3 suites, so a
    /// scan is quick but still has suites to eliminate at two versions (the limiting fronts' server
    /// in the tests and the bench).
    pub fn six_suites() -> Self {
        ServerConfig::default()
            .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
            .with_cipher_list(
                "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305",
            )
            .with_ciphersuites(
                "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
            )
    }

    /// TLS 1.2 only, with the given OpenSSL cipher list.
    pub fn tls12_only(cipher_list: &str) -> Self {
        Self::version_only(SslVersion::TLS1_2, cipher_list)
    }

    /// TLS 1.3 only, with the given TLS 1.3 suites (e.g. `"TLS_AES_128_CCM_SHA256"`).
    pub fn tls13_only(ciphersuites: &str) -> Self {
        ServerConfig {
            min_version: Some(SslVersion::TLS1_3),
            max_version: Some(SslVersion::TLS1_3),
            ciphersuites: Some(ciphersuites.to_string()),
            ..Self::default()
        }
    }

    /// Exactly one protocol version up to TLS 1.2 (e.g. `SslVersion::TLS1`), with the given cipher list.
    pub fn version_only(version: SslVersion, cipher_list: &str) -> Self {
        ServerConfig {
            min_version: Some(version),
            max_version: Some(version),
            cipher_list: Some(cipher_list.to_string()),
            ..Self::default()
        }
    }

    /// Sets the protocol version range.
    pub fn with_versions(mut self, min: SslVersion, max: SslVersion) -> Self {
        self.min_version = Some(min);
        self.max_version = Some(max);
        self
    }

    /// Sets the TLS 1.2-and-below cipher list.
    pub fn with_cipher_list(mut self, cipher_list: &str) -> Self {
        self.cipher_list = Some(cipher_list.to_string());
        self
    }

    /// Sets the TLS 1.3 suites (`""` disables TLS 1.3 suites).
    pub fn with_ciphersuites(mut self, ciphersuites: &str) -> Self {
        self.ciphersuites = Some(ciphersuites.to_string());
        self
    }

    /// Restricts the key-exchange groups.
    pub fn with_groups(mut self, groups: &str) -> Self {
        self.groups = Some(groups.to_string());
        self
    }

    /// Sets the certificate key type.
    pub fn with_key(mut self, key: KeyKind) -> Self {
        self.key = key;
        self
    }

    /// Sets whether a client certificate is requested or required.
    /// Listens on `addr` instead of 127.0.0.1:0.
    pub fn with_listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Refuses a ClientHello without SNI (`unrecognized_name`), as multi-tenant front ends do.
    pub fn with_sni_required(mut self) -> Self {
        self.require_sni = true;
        self
    }

    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Makes the server choose the suite in its own order.
    pub fn with_server_preference(mut self) -> Self {
        self.server_preference = true;
        self
    }

    /// Sets the certificate CN and SAN.
    pub fn with_hostname(mut self, hostname: &str) -> Self {
        self.hostname = hostname.to_string();
        self
    }

    /// Serves `chain` (leaf first, then exactly these certificates in this order) with the leaf's `key`.
    pub fn with_certificate(mut self, chain: Vec<X509>, key: PKey<Private>) -> Self {
        self.certificate = Some(ServerCertificate { chain, key });
        self
    }

    /// Staples `der` (an OCSP response) for clients that send status_request.
    pub fn with_ocsp_staple(mut self, der: Vec<u8>) -> Self {
        self.ocsp_staple = Some(der);
        self
    }

    /// Verifies client certificates against `ca` instead of the built-in client CA, and names it in
    /// the CertificateRequest. Turns client auth on as [`ClientAuth::Required`] unless it is already on.
    pub fn with_client_ca(mut self, ca: X509) -> Self {
        self.client_ca = Some(ca);
        if self.client_auth == ClientAuth::None {
            self.client_auth = ClientAuth::Required;
        }
        self
    }
}

/// A running TLS server on 127.0.0.1; dropping it stops the accept loop.
pub struct TlsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    accept_thread: Option<JoinHandle<()>>,
    config: ServerConfig,
    certificate: X509,
    client_ca: Option<Credentials>,
}

impl TlsServer {
    /// Builds the TLS context, binds 127.0.0.1:0 and returns once the socket is listening.
    pub fn start(config: ServerConfig) -> Result<TlsServer> {
        let (context, certificate, client_ca) = build_context(&config)?;
        let listener = if let Some(addr) = config.listen {
            TcpListener::bind(addr)
                .with_context(|| format!("binding a TLS test server to {addr}"))?
        } else if config.ipv6 {
            TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0))
                .context("binding a TLS test server to [::1]:0")?
        } else {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .context("binding a TLS test server to 127.0.0.1:0")?
        };
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let accept_thread = {
            let (stop, accepted) = (Arc::clone(&stop), Arc::clone(&accepted));
            thread::Builder::new()
                .name(format!("tls-server-{}", addr.port()))
                .spawn(move || accept_loop(listener, context, stop, accepted))
                .context("spawning the TLS test server's accept thread")?
        };
        Ok(TlsServer {
            addr,
            stop,
            accepted,
            accept_thread: Some(accept_thread),
            config,
            certificate,
            client_ca,
        })
    }

    /// The listening address (127.0.0.1, or [::1] with `ipv6`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many TCP connections were accepted so far (successful handshakes or not).
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The configuration the server was started with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The server's leaf certificate: the generated self-signed one (its own trust anchor), or
    /// `chain[0]` of a configured [`ServerCertificate`].
    pub fn certificate(&self) -> &X509 {
        &self.certificate
    }

    /// The built-in CA that client certificates are verified against, when client auth is on and no
    /// CA was configured with [`ServerConfig::with_client_ca`] (the caller already holds that one).
    pub fn client_ca(&self) -> Option<Credentials> {
        self.client_ca.clone()
    }

    /// A fresh client certificate (ECDSA P-256) issued by this server's built-in client CA.
    pub fn issue_client_cert(&self, common_name: &str) -> Result<Credentials> {
        let (ca, ca_key) = self.client_ca.as_ref().with_context(|| {
            if self.config.client_ca.is_some() {
                "this server trusts a CA set with with_client_ca; issue client certificates from \
                 that CA (pki::issue)"
            } else {
                "this server was started without client auth, so it has no client CA"
            }
        })?;
        issue_client_cert(ca, ca_key, common_name)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // `accept` blocks; a throwaway connection wakes it so it sees the flag. Only join if the
        // wake-up connection got through, so drop never hangs.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(thread) = self.accept_thread.take() {
            if woke {
                let _ = thread.join();
            }
        }
    }
}

/// The cached self-signed certificate and key for `(key, hostname)`: valid from yesterday for 365 days,
/// SAN `DNS:hostname` (or `IP:` for an address), SHA-256 (made by [`crate::testing::pki`]).
pub fn self_signed(key: &KeyKind, hostname: &str) -> Result<Credentials> {
    let kind = *key;
    cached(CacheKey::Server(kind, hostname.to_string()), || {
        let issued = pki::self_signed(&CertSpec::leaf(hostname).key(kind))?;
        Ok((issued.cert, issued.key))
    })
    .with_context(|| format!("generating a self-signed {kind:?} certificate for {hostname}"))
}

/// The process-wide throwaway CA (ECDSA P-256) that servers with client auth trust.
pub fn client_ca() -> Result<Credentials> {
    cached(CacheKey::ClientCa, || {
        let issued = pki::self_signed(&CertSpec::ca(CLIENT_CA_NAME))?;
        Ok((issued.cert, issued.key))
    })
    .context("generating the client CA")
}

/// A fresh client certificate (ECDSA P-256, extendedKeyUsage clientAuth) signed by `ca`.
pub fn issue_client_cert(
    ca: &X509,
    ca_key: &PKey<Private>,
    common_name: &str,
) -> Result<Credentials> {
    let issuer = pki::Issued {
        cert: ca.clone(),
        key: ca_key.clone(),
    };
    let issued = pki::issue(
        &CertSpec::leaf(common_name).key(KeyKind::EcdsaP256),
        &issuer,
    )?;
    Ok((issued.cert, issued.key))
}

/// Builds the OpenSSL context for `config`; returns it with the leaf certificate and, when the
/// built-in one is used, the client CA.
fn build_context(config: &ServerConfig) -> Result<(SslContext, X509, Option<Credentials>)> {
    let mut ctx = SslContext::builder(SslMethod::tls_server())?;
    // Level 0 so that TLS 1.0/1.1 (MD5-SHA1 signatures), RSA key transport and 3DES stay available.
    ctx.set_security_level(0);
    if config.require_sni {
        ctx.set_servername_callback(|ssl, alert| {
            if ssl.servername(openssl::ssl::NameType::HOST_NAME).is_some() {
                Ok(())
            } else {
                *alert = openssl::ssl::SslAlert::UNRECOGNIZED_NAME;
                Err(openssl::ssl::SniError::ALERT_FATAL)
            }
        });
    }
    ctx.set_min_proto_version(config.min_version)
        .with_context(|| format!("setting minimum version {:?}", config.min_version))?;
    ctx.set_max_proto_version(config.max_version)
        .with_context(|| format!("setting maximum version {:?}", config.max_version))?;
    if let Some(list) = &config.cipher_list {
        ctx.set_cipher_list(list).with_context(|| {
            format!("cipher list {list:?} names no suite this OpenSSL supports")
        })?;
    }
    if let Some(suites) = &config.ciphersuites {
        ctx.set_ciphersuites(suites)
            .with_context(|| format!("TLS 1.3 ciphersuites {suites:?} are not valid"))?;
    }
    if let Some(groups) = &config.groups {
        ctx.set_groups_list(groups)
            .with_context(|| format!("groups {groups:?} are not valid"))?;
    }
    // Without DH parameters OpenSSL silently skips every DHE suite.
    let dh = Dh::params_from_pem(FFDHE2048_PEM)?;
    ctx.set_tmp_dh(&dh)?;
    if config.server_preference {
        ctx.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
    }

    let cert = match &config.certificate {
        None => {
            let (cert, key) = self_signed(&config.key, &config.hostname)?;
            ctx.set_certificate(&cert)?;
            ctx.set_private_key(&key)?;
            cert
        }
        Some(certificate) => use_chain(&mut ctx, certificate)?,
    };
    ctx.check_private_key()
        .context("the server certificate does not match its private key")?;

    if let Some(der) = &config.ocsp_staple {
        let der = der.clone();
        // Only called when the client sent status_request; `true` means "a response was set".
        ctx.set_status_callback(move |ssl| {
            ssl.set_ocsp_status(&der)?;
            Ok(true)
        })?;
    }

    let client_ca = match (config.client_auth, &config.client_ca) {
        (ClientAuth::None, _) => None,
        (mode, Some(ca)) => {
            enable_client_auth(&mut ctx, ca, mode)?;
            None
        }
        (mode, None) => {
            let (ca, ca_key) = client_ca()?;
            enable_client_auth(&mut ctx, &ca, mode)?;
            Some((ca, ca_key))
        }
    };
    Ok((ctx.build(), cert, client_ca))
}

/// Installs a configured chain so that it is sent exactly as given; returns the leaf.
fn use_chain(ctx: &mut SslContextBuilder, certificate: &ServerCertificate) -> Result<X509> {
    let (leaf, rest) = certificate
        .chain
        .split_first()
        .context("a server certificate chain needs at least the leaf certificate")?;
    // At security level 0 OpenSSL accepts RSA-1024 keys and MD5/SHA-1 signatures here.
    ctx.set_certificate(leaf)
        .context("loading the server's leaf certificate")?;
    ctx.set_private_key(&certificate.key)?;
    for cert in rest {
        ctx.add_extra_chain_cert(cert.clone())
            .context("adding a certificate to the server's chain")?;
    }
    // Without this OpenSSL completes a leaf-only chain from the trust store (which holds the client
    // CA), so a "missing intermediate" server would not be missing it.
    ctx.set_mode(SslMode::NO_AUTO_CHAIN);
    Ok(leaf.clone())
}

/// Trusts `ca` for client certificates, names it in the CertificateRequest and sets the verify mode.
fn enable_client_auth(ctx: &mut SslContextBuilder, ca: &X509, mode: ClientAuth) -> Result<()> {
    ctx.cert_store_mut().add_cert(ca.clone())?;
    ctx.add_client_ca(ca)?;
    // Session resumption with client verification fails without a session id context.
    ctx.set_session_id_context(b"cipher-test")?;
    let verify = match mode {
        ClientAuth::Required => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        _ => SslVerifyMode::PEER,
    };
    ctx.set_verify(verify);
    Ok(())
}

/// Accepts until `stop` is set; one short-lived thread per connection.
fn accept_loop(
    listener: TcpListener,
    context: SslContext,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors or similar: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        let context = context.clone();
        // If the thread cannot be spawned the connection is dropped, like an overloaded server would.
        let _ = thread::Builder::new().spawn(move || serve(stream, &context));
    }
}

/// One connection: handshake, a small HTTP response, close. Every error is the client's business.
fn serve(stream: TcpStream, context: &SslContext) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(ssl) = Ssl::new(context) else {
        return;
    };
    // Scanners drop most connections right after the ServerHello; that is an ordinary failure here.
    let Ok(mut tls) = ssl.accept(stream) else {
        return;
    };
    let _ = tls.write_all(RESPONSE);
    let _ = tls.shutdown();
    let tcp = tls.get_mut();
    let _ = tcp.shutdown(Shutdown::Write);
    drain(tcp);
}

/// Reads until the client closes, so closing our socket sends a FIN rather than a RST.
fn drain(tcp: &mut TcpStream) {
    let _ = tcp.set_read_timeout(Some(DRAIN_TIMEOUT));
    let mut buf = [0u8; 4096];
    while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
}

/// Keys of the process-wide credential cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CacheKey {
    Server(KeyKind, String),
    ClientCa,
}

/// Returns the cached credentials for `key`, generating them once; concurrent callers of the same
/// key wait for one generation, different keys generate in parallel.
fn cached(key: CacheKey, generate: impl FnOnce() -> Result<Credentials>) -> Result<Credentials> {
    type Slot = Arc<Mutex<Option<Credentials>>>;
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Slot>>> = OnceLock::new();
    let slot = {
        let mut map = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(key).or_default())
    };
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(credentials) = slot.as_ref() {
        return Ok(credentials.clone());
    }
    let credentials = generate()?;
    *slot = Some(credentials.clone());
    Ok(credentials)
}

/// A fresh private key of the given kind.
pub(crate) fn generate_key(kind: KeyKind) -> Result<PKey<Private>> {
    let ec = |nid| -> Result<PKey<Private>> {
        let group = EcGroup::from_curve_name(nid)?;
        Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
    };
    match kind {
        KeyKind::Rsa2048 => Ok(PKey::from_rsa(Rsa::generate(2048)?)?),
        KeyKind::Rsa1024 => Ok(PKey::from_rsa(Rsa::generate(1024)?)?),
        KeyKind::EcdsaP256 => ec(Nid::X9_62_PRIME256V1),
        KeyKind::EcdsaP384 => ec(Nid::SECP384R1),
    }
}
