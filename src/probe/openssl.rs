//! The OpenSSL probe engine: the local libssl builds the ClientHello (one suite, one pinned version),
//! the tap reads the server's answer, and the connection is dropped as soon as that answer is in.
//! Suites the local OpenSSL cannot put in a ClientHello are reported untestable, never probed.

use crate::util::TryOnce;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslContext, SslMethod, SslOptions, SslRef, SslVerifyMode};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::tap::{AnswerComplete, Tap};
use super::{classify, Inconclusive, Offer, ProbeOutcome, Termination};
use crate::tls::catalog::CipherSuite;
use crate::tls::enums::NamedGroup;
use crate::tls::protocol::Protocol;

/// Every suite the local OpenSSL defines for TLS 1.2 and older, at security level 0.
const EVERYTHING: &str = "ALL:COMPLEMENTOFALL:@SECLEVEL=0";
/// All five TLS 1.3 suites (OpenSSL leaves the CCM ones out by default).
const ALL_TLS13: &str = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";

extern "C" {
    // Not bound by openssl-sys; exported by libssl 3.0 (`SSL_get1_supported_ciphers(3)`): the suites
    // this SSL would really put in its ClientHello, after version, security-level and PSK filtering.
    fn SSL_get1_supported_ciphers(s: *mut openssl_sys::SSL) -> *mut openssl_sys::OPENSSL_STACK;
}

/// The code points `ssl` would offer.
fn offered_codes(ssl: &SslRef) -> Vec<u16> {
    offered_suites(ssl)
        .into_iter()
        .map(|(code, _)| code)
        .collect()
}

/// The suites `ssl` would offer: code point and OpenSSL name.
pub(super) fn offered_suites(ssl: &SslRef) -> Vec<(u16, String)> {
    let mut suites = Vec::new();
    // SAFETY: `ssl` is a valid SSL for the call; the returned stack (or NULL) is ours to free, and its
    // elements are borrowed SSL_CIPHER pointers owned by the library, whose names are static strings.
    unsafe {
        let stack = SSL_get1_supported_ciphers(ssl.as_ptr());
        if stack.is_null() {
            return suites;
        }
        let n = openssl_sys::OPENSSL_sk_num(stack);
        for i in 0..n {
            let c = openssl_sys::OPENSSL_sk_value(stack, i) as *const openssl_sys::SSL_CIPHER;
            if c.is_null() {
                continue;
            }
            let name = openssl_sys::SSL_CIPHER_get_name(c);
            let name = if name.is_null() {
                String::new()
            } else {
                std::ffi::CStr::from_ptr(name)
                    .to_string_lossy()
                    .into_owned()
            };
            suites.push((openssl_sys::SSL_CIPHER_get_protocol_id(c), name));
        }
        openssl_sys::OPENSSL_sk_free(stack);
    }
    suites
}

/// Probes one target with the local OpenSSL.
pub struct OpensslProber {
    addr: SocketAddr,
    sni: Option<String>,
    timeout: Duration,
}

/// The client context every probe and full handshake shares, built once per process (with the
/// legacy provider's loading): a context costs OpenSSL 3.0 about a millisecond of CPU, so there is
/// one. Each `SSL` sets its own versions, suites, groups and SNI. The context's PSK callback lets an
/// `SSL` offer the PSK suites before TLS 1.3 (the server picks the suite before it sees the identity,
/// so a dummy key is enough to learn whether it accepts the suite); [`ssl_without_psk`] takes it off
/// an `SSL` that may speak TLS 1.3, where OpenSSL would turn its key into a pre_shared_key extension
/// and change the hello. The client-certificate callback records a CertificateRequest for the full
/// handshakes (`handshake.rs`); a probe stops before it would answer one.
fn shared_context() -> Result<&'static SslContext, ErrorStack> {
    static SHARED: TryOnce<SslContext> = TryOnce::new();
    SHARED.get_or_try_init(|| {
        let mut b = base_context()?;
        b.set_psk_client_callback(|_ssl, _hint, identity, psk| {
            const ID: &[u8] = b"cipher-test\0";
            if identity.len() < ID.len() || psk.len() < 32 {
                return Ok(0);
            }
            identity[..ID.len()].copy_from_slice(ID);
            psk[..32].fill(0);
            Ok(32)
        });
        OpensslProber::configure_client_auth(&mut b, None)?;
        Ok(b.build())
    })
}

extern "C" {
    // openssl-sys binds the context's setter only; libssl 3.0 exports the per-SSL one too
    // (`SSL_set_psk_client_callback(3)`). NULL takes the callback off that SSL alone.
    fn SSL_set_psk_client_callback(
        ssl: *mut openssl_sys::SSL,
        cb: Option<
            unsafe extern "C" fn(
                *mut openssl_sys::SSL,
                *const std::os::raw::c_char,
                *mut std::os::raw::c_char,
                std::os::raw::c_uint,
                *mut std::os::raw::c_uchar,
                std::os::raw::c_uint,
            ) -> std::os::raw::c_uint,
        >,
    );
}

/// An `SSL` from the shared context that offers no PSK: neither the PSK suites nor, at TLS 1.3, a
/// pre_shared_key extension.
pub(super) fn ssl_without_psk() -> Result<Ssl, ErrorStack> {
    let ssl = Ssl::new(shared_context()?)?;
    // SAFETY: `ssl` is a live SSL we own; NULL is the documented "no callback".
    unsafe { SSL_set_psk_client_callback(ssl.as_ptr(), None) };
    Ok(ssl)
}

/// Loads OpenSSL's legacy provider (SEED suites) next to the default one, once per process.
/// A system without the legacy module simply reports the SEED suites untestable.
pub fn load_legacy_provider() {
    use std::sync::OnceLock;
    // The scan's first OpenSSL call, and loading a provider initialises OpenSSL with its defaults,
    // atexit cleanup included (about half a millisecond at every exit, freeing nothing a process
    // that is ending needs freed): initialise it first as the openssl crate does, without one.
    openssl::init();
    static LEGACY: OnceLock<Option<openssl::provider::Provider>> = OnceLock::new();
    LEGACY.get_or_init(|| openssl::provider::Provider::try_load(None, "legacy", true).ok());
}

pub(crate) fn base_context() -> Result<openssl::ssl::SslContextBuilder, ErrorStack> {
    load_legacy_provider();
    let mut b = SslContext::builder(SslMethod::tls_client())?;
    b.set_verify(SslVerifyMode::NONE);
    // Level 0: legacy suites and TLS 1.0/1.1 must be offered as asked (openssl-notes §2.4).
    b.set_security_level(0);
    b.clear_options(SslOptions::NO_SSLV3 | SslOptions::NO_TLSV1 | SslOptions::NO_TLSV1_1);
    b.set_cipher_list(EVERYTHING)?;
    b.set_ciphersuites(ALL_TLS13)?;
    Ok(b)
}

impl OpensslProber {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A prober for `addr`, sending `sni` (if any), waiting at most `timeout` per probe.
    pub fn new(
        addr: SocketAddr,
        sni: Option<String>,
        timeout: Duration,
    ) -> Result<OpensslProber, ErrorStack> {
        shared_context()?;
        Ok(OpensslProber { addr, sni, timeout })
    }

    /// An `SSL` that offers `protocol` only, and every suite of it.
    fn pinned_ssl(&self, protocol: Protocol) -> Result<Ssl, ErrorStack> {
        let mut ssl = if protocol == Protocol::Tls13 {
            ssl_without_psk()?
        } else {
            Ssl::new(shared_context()?)?
        };
        ssl.set_min_proto_version(Some(protocol.openssl()))?;
        ssl.set_max_proto_version(Some(protocol.openssl()))?;
        Ok(ssl)
    }

    fn suite_ssl(&self, protocol: Protocol, suite: &CipherSuite) -> Result<Ssl, ErrorStack> {
        let mut ssl = self.pinned_ssl(protocol)?;
        offer_suites(&mut ssl, suite.is_tls13(), &suite.openssl_name)?;
        self.finish(ssl)
    }

    pub(crate) fn finish(&self, mut ssl: Ssl) -> Result<Ssl, ErrorStack> {
        if let Some(sni) = &self.sni {
            ssl.set_hostname(sni)?;
        }
        ssl.set_connect_state();
        Ok(ssl)
    }

    /// Whether the local OpenSSL can put `suite` in a ClientHello pinned to `protocol`: an `SSL`
    /// pinned to that version ([`pinned_ssl`](Self::pinned_ssl)), which enables every suite, offers
    /// the suite's code point under the suite's OpenSSL name (so a name OpenSSL reads as another
    /// suite is never probed).
    ///
    /// The answer depends only on the library: one `SSL` per version, once per process.
    pub fn can_offer(&self, protocol: Protocol, suite: &CipherSuite) -> bool {
        static OFFERABLE: OnceLock<HashMap<(Protocol, u16), String>> = OnceLock::new();
        OFFERABLE
            .get_or_init(|| {
                let mut offerable = HashMap::new();
                for p in Protocol::ALL {
                    if let Ok(ssl) = self.pinned_ssl(p) {
                        for (code, name) in offered_suites(&ssl) {
                            offerable.insert((p, code), name);
                        }
                    }
                }
                offerable
            })
            .get(&(protocol, suite.code.0))
            .is_some_and(|name| *name == suite.openssl_name)
    }

    /// Offers exactly `suite`, pinned to `protocol`.
    pub async fn probe(&self, protocol: Protocol, suite: &CipherSuite) -> ProbeOutcome {
        let ssl = match self.suite_ssl(protocol, suite) {
            Ok(ssl) => ssl,
            Err(e) => return ProbeOutcome::Inconclusive(Inconclusive::Local(e.to_string())),
        };
        let offer = Offer {
            min: protocol,
            max: protocol,
            suites: vec![suite.code.0],
        };
        self.run(ssl, offer).await
    }

    /// Offers everything the local OpenSSL can, TLS 1.0 to 1.3: does the target speak TLS at all?
    pub async fn preflight(&self) -> ProbeOutcome {
        let start = Instant::now();
        match self.open(start).await {
            Ok(tcp) => self.preflight_over(tcp, start).await,
            Err(outcome) => outcome,
        }
    }

    /// [`preflight`](Self::preflight) over `tcp`, a connection to the target opened at `start` (the
    /// probe's timeout counts from then).
    pub async fn preflight_over(&self, tcp: TcpStream, start: Instant) -> ProbeOutcome {
        let setup = || {
            let mut ssl = ssl_without_psk()?;
            ssl.set_min_proto_version(Some(Protocol::Tls10.openssl()))?;
            ssl.set_max_proto_version(Some(Protocol::Tls13.openssl()))?;
            self.finish(ssl)
        };
        let ssl = match setup() {
            Ok(ssl) => ssl,
            Err(e) => return ProbeOutcome::Inconclusive(Inconclusive::Local(e.to_string())),
        };
        let offer = Offer {
            min: Protocol::Tls10,
            max: Protocol::Tls13,
            suites: offered_codes(&ssl),
        };
        self.exchange(ssl, offer, tcp, start).await
    }

    /// Opens a connection to the target by `start` + the timeout.
    async fn open(&self, start: Instant) -> Result<TcpStream, ProbeOutcome> {
        let deadline = tokio::time::Instant::from_std(start) + self.timeout;
        super::connect(self.addr, deadline, self.timeout).await
    }

    async fn run(&self, ssl: Ssl, offer: Offer) -> ProbeOutcome {
        let start = Instant::now();
        match self.open(start).await {
            Ok(tcp) => self.exchange(ssl, offer, tcp, start).await,
            Err(outcome) => outcome,
        }
    }

    /// Sends `ssl`'s ClientHello over `tcp` and reads the server's answer, by `start` + the timeout.
    async fn exchange(
        &self,
        ssl: Ssl,
        offer: Offer,
        tcp: TcpStream,
        start: Instant,
    ) -> ProbeOutcome {
        let mut stream = match SslStream::new(ssl, Tap::new(tcp, true)) {
            Ok(s) => s,
            Err(e) => return ProbeOutcome::Inconclusive(Inconclusive::Local(e.to_string())),
        };
        let remaining = self.timeout.saturating_sub(start.elapsed());
        let result = tokio::time::timeout(remaining, Pin::new(&mut stream).connect()).await;
        if matches!(
            crate::tls::server_hello::parse_server_reply(stream.get_ref().received()),
            crate::tls::server_hello::ServerReply::NotTls(_)
        ) {
            // Within the probe's own deadline, never past it.
            let left = self.timeout.saturating_sub(start.elapsed());
            stream
                .get_mut()
                .read_more(left.min(Duration::from_millis(200)))
                .await;
        }
        let tap = stream.get_ref();
        let end = match result {
            Err(_) => Termination::TimedOut(self.timeout),
            Ok(Ok(())) => Termination::Answered,
            Ok(Err(_)) if tap.answered() => Termination::Answered,
            Ok(Err(e)) => match e.io_error() {
                Some(io)
                    if io
                        .get_ref()
                        .is_some_and(|inner| inner.is::<AnswerComplete>()) =>
                {
                    Termination::Answered
                }
                Some(io) => Termination::Io(std::io::Error::new(io.kind(), io.to_string())),
                None if tap.sent() == 0 => Termination::Local(e.to_string()),
                None => Termination::Tls(e.to_string()),
            },
        };
        classify(&offer, tap.received(), end)
    }
}

/// A key-exchange group by the name Envoy and Gloo use (`ecdh_curves`), with its TLS code point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub name: &'static str,
    pub id: u16,
}

/// The groups cipher-test enumerates: BoringSSL's four (`ciphers/SOURCES.md` §2.1) and X448, which BoringSSL lacks.
pub const GROUPS: [Group; 5] = [
    Group::of(NamedGroup::X25519),
    Group::of(NamedGroup::P256),
    Group::of(NamedGroup::P384),
    Group::of(NamedGroup::P521),
    Group::of(NamedGroup::X448),
];

impl Group {
    const fn of(g: NamedGroup) -> Group {
        Group {
            name: g.name(),
            id: g.0,
        }
    }
}

/// Envoy's name for an OpenSSL group NID short name (`prime256v1` → `P-256`).
fn envoy_group_name(short: &str) -> String {
    NamedGroup::from_name(short)
        .map(|g| g.name().to_string())
        .unwrap_or_else(|| short.to_string())
}

/// What a full handshake configured as Envoy's client negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub protocol: Protocol,
    pub code: u16,
    pub cipher: String,
    pub group: Option<String>,
}

/// The suites `ssl` offers, by OpenSSL name, `:`-separated: TLS 1.3 suites (`tls13`), or the
/// suites before TLS 1.3, at security level 0 so that legacy ones are offered as asked.
pub(super) fn offer_suites(ssl: &mut SslRef, tls13: bool, names: &str) -> Result<(), ErrorStack> {
    if tls13 {
        ssl.set_ciphersuites(names)
    } else {
        ssl.set_cipher_list(&format!("{names}:@SECLEVEL=0"))
    }
}

/// `SSL_set1_groups_list`: the groups `ssl` offers, by name, `:`-separated.
pub(super) fn set_groups(ssl: &mut SslRef, groups: &str) -> Result<(), ErrorStack> {
    set_list(ssl, openssl_sys::SSL_CTRL_SET_GROUPS_LIST, groups)
}

/// `SSL_set1_sigalgs_list`: the signature algorithms `ssl` offers, by name, `:`-separated.
pub(super) fn set_sigalgs(ssl: &mut SslRef, sigalgs: &str) -> Result<(), ErrorStack> {
    set_list(ssl, openssl_sys::SSL_CTRL_SET_SIGALGS_LIST, sigalgs)
}

fn set_list(ssl: &mut SslRef, ctrl: std::os::raw::c_int, list: &str) -> Result<(), ErrorStack> {
    let c = std::ffi::CString::new(list).map_err(|_| ErrorStack::get())?;
    // SAFETY: valid SSL and NUL-terminated string for the duration of the call; OpenSSL copies it.
    let ok = unsafe { openssl_sys::SSL_ctrl(ssl.as_ptr(), ctrl, 0, c.as_ptr() as *mut _) };
    if ok == 1 {
        Ok(())
    } else {
        Err(ErrorStack::get())
    }
}

pub(crate) fn negotiated_group(ssl: &SslRef) -> Option<String> {
    // SSL_get_negotiated_group is a macro over SSL_ctrl(ssl, SSL_CTRL_GET_NEGOTIATED_GROUP = 134).
    // SAFETY: a read-only control call on a valid, connected SSL.
    let nid = unsafe { openssl_sys::SSL_ctrl(ssl.as_ptr(), 134, 0, std::ptr::null_mut()) };
    if nid <= 0 {
        return None;
    }
    let nid = openssl::nid::Nid::from_raw((nid & 0xFFFF) as i32);
    nid.short_name().ok().map(envoy_group_name)
}

impl OpensslProber {
    /// Offers `suites` at `protocol` with `group` as the only supported group (and TLS 1.3 key share).
    pub async fn probe_group(
        &self,
        protocol: Protocol,
        group: Group,
        suites: &[&CipherSuite],
    ) -> ProbeOutcome {
        let setup = || -> Result<Ssl, ErrorStack> {
            let mut ssl = self.pinned_ssl(protocol)?;
            let names: Vec<&str> = suites.iter().map(|s| s.openssl_name.as_str()).collect();
            offer_suites(&mut ssl, protocol == Protocol::Tls13, &names.join(":"))?;
            set_groups(&mut ssl, group.name)?;
            self.finish(ssl)
        };
        let ssl = match setup() {
            Ok(ssl) => ssl,
            Err(e) => return ProbeOutcome::Inconclusive(Inconclusive::Local(e.to_string())),
        };
        let offer = Offer {
            min: protocol,
            max: protocol,
            suites: suites.iter().map(|s| s.code.0).collect(),
        };
        self.run(ssl, offer).await
    }

    /// Whether the local OpenSSL can offer `group` at all.
    pub fn can_offer_group(&self, group: Group) -> bool {
        self.pinned_ssl(Protocol::Tls12)
            .and_then(|mut ssl| set_groups(&mut ssl, group.name))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::catalog::catalog;

    /// `can_offer` reads one SSL per version; it must say what building a ClientHello for each
    /// suite on its own says (one SSL per suite and version, as the probe does).
    #[test]
    fn can_offer_agrees_with_a_hello_built_for_each_suite() {
        let prober =
            OpensslProber::new("127.0.0.1:9".parse().unwrap(), None, Duration::from_secs(1))
                .unwrap();
        let (mut offerable, mut checked) = (0, 0);
        for p in Protocol::ALL {
            for suite in catalog().suites().iter().filter(|s| s.applies_to(p)) {
                let alone = prober
                    .suite_ssl(p, suite)
                    .is_ok_and(|ssl| offered_codes(&ssl).contains(&suite.code.0));
                assert_eq!(
                    prober.can_offer(p, suite),
                    alone,
                    "{p} {}",
                    suite.openssl_name
                );
                offerable += usize::from(alone);
                checked += 1;
            }
        }
        // Any OpenSSL offers dozens of suites; the catalogue has hundreds per version.
        assert!(offerable > 30 && checked > 500, "{offerable} of {checked}");
        // PSK suites need the shared context's callback before TLS 1.3; each SSL offers its own
        // version only.
        let psk = catalog()
            .suites()
            .iter()
            .find(|s| s.openssl_name == "PSK-AES128-CBC-SHA")
            .unwrap();
        assert!(prober.can_offer(Protocol::Tls12, psk));
        let tls13 = |ssl: &Ssl| {
            offered_codes(ssl)
                .iter()
                .filter(|&&c| c >> 8 == 0x13)
                .count()
        };
        assert_eq!(tls13(&prober.pinned_ssl(Protocol::Tls12).unwrap()), 0);
        let at13 = prober.pinned_ssl(Protocol::Tls13).unwrap();
        assert!(tls13(&at13) > 0 && tls13(&at13) == offered_codes(&at13).len());
    }
}
