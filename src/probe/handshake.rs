//! Full handshakes for what only a completed (or client-authenticated) handshake shows: the server's
//! certificate chain, its OCSP staple, whether it asks for or requires a client certificate and which
//! CAs it names, whether a given client certificate is accepted, what a given client ([`ClientSpec`])
//! negotiates, and which group a server picks before TLS 1.3.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{Ssl, SslContextBuilder, SslRef, StatusType};
use openssl::x509::{X509NameRef, X509};
use tokio::io::AsyncReadExt;

use super::gate::Reply;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::openssl::{
    negotiated_group, offer_suites, set_groups, set_sigalgs, Negotiated, OpensslProber,
};
use super::tap::Tap;
use crate::tls::catalog::catalog;
use crate::tls::enums::AlertDescription;
use crate::tls::protocol::Protocol;
use crate::tls::server_hello::{parse_server_reply, Alert, ServerReply};

/// A client certificate to present (`--cert`/`--key`).
#[derive(Clone)]
pub struct ClientCertificate {
    /// Leaf first, then any intermediates, as in the PEM file.
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
}

impl std::fmt::Debug for ClientCertificate {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClientCertificate({} certificates, key hidden)",
            self.chain.len()
        )
    }
}

/// A TLS client to imitate in a full handshake: what it offers, in its order. Policy (whose client
/// this is) is decided by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    pub min_version: Protocol,
    pub max_version: Protocol,
    /// TLS 1.2-and-older suites in preference order.
    pub tls12_suites: Vec<&'static crate::tls::catalog::CipherSuite>,
    /// TLS 1.3 suites (empty unless `max_version` is TLS 1.3).
    pub tls13_suites: Vec<&'static crate::tls::catalog::CipherSuite>,
    /// Supported groups by their OpenSSL/Envoy names (`X25519`, `P-256`).
    pub groups: Vec<String>,
    /// Signature algorithms by their IANA names.
    pub signature_algorithms: Vec<String>,
}

/// What the server's CertificateRequest said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateRequest {
    pub requested: bool,
    /// The distinguished names of the acceptable CAs, e.g. `CN=Upstream Client CA,O=Example`.
    pub acceptable_cas: Vec<String>,
}

/// What a full handshake showed.
#[derive(Debug, Clone)]
pub struct HandshakeInfo {
    /// What was negotiated, when the handshake (and, in TLS 1.3, the first read) succeeded.
    pub negotiated: Option<Negotiated>,
    /// The version and suite of the server's ServerHello, when one arrived (also on later failure).
    pub server_hello: Option<(Protocol, u16)>,
    /// The certificate chain as the server sent it, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    pub ocsp_staple: Option<Vec<u8>>,
    pub request: CertificateRequest,
    /// `None` when the handshake (and the first read, in TLS 1.3) succeeded; else what failed.
    pub failure: Option<HandshakeFailure>,
    /// The server's alert, when it refused the ClientHello with one.
    pub alert: Option<Alert>,
    /// The alert the server ended the handshake with, before or after its ServerHello (`None`:
    /// it completed, or ended without a TLS answer).
    pub ended_by_alert: Option<AlertDescription>,
}

/// The outcome of an Envoy-client simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Simulation {
    /// The handshake completed; `chain` is the server's certificate chain, leaf first (DER).
    Connected {
        negotiated: Negotiated,
        chain: Vec<Vec<u8>>,
    },
    /// The handshake failed.
    Failed {
        /// The server's alert, when it refused the ClientHello with one.
        alert: Option<Alert>,
        error: HandshakeFailure,
        /// The server answered with a ServerHello (version and suite were agreed) before it failed.
        server_hello: Option<(Protocol, u16)>,
        /// The server asked for a client certificate and the client had none to send.
        certificate_requested: bool,
        /// The alert that ended the handshake, before or after the ServerHello.
        ended_by_alert: Option<AlertDescription>,
    },
}

/// Why a handshake did not complete: its text for the report, and how the gate counts it when no
/// TLS answer came (a TLS answer, which the other fields of the outcome show, counts as answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeFailure {
    pub text: String,
    pub reply: Reply,
}

impl HandshakeFailure {
    /// The client could not be set up: nothing reached the server, and trying again would not help.
    fn local(text: String) -> HandshakeFailure {
        HandshakeFailure {
            text,
            reply: Reply::Answered,
        }
    }

    /// [`local`](Self::local): OpenSSL refused the client's settings.
    fn unconfigured(e: ErrorStack) -> HandshakeFailure {
        HandshakeFailure::local(format!("cannot configure the client: {e}"))
    }

    /// No answer until the timeout.
    fn silent(text: String) -> HandshakeFailure {
        HandshakeFailure {
            text,
            reply: Reply::Silent,
        }
    }

    /// The connection failed or ended, with or without a TLS answer.
    fn ended(text: String) -> HandshakeFailure {
        HandshakeFailure {
            text,
            reply: Reply::Dropped,
        }
    }
}

impl std::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// How a simulated client that could not be set up fails, before any connection.
const LOCAL_FAILURE: &str = "cannot configure the simulated client";

impl Simulation {
    /// Whether the server answered this handshake at all (for [`Gate::attempt`](super::gate::Gate::attempt)).
    pub fn reply(&self) -> Reply {
        match self {
            Simulation::Failed {
                alert: None,
                error,
                server_hello: None,
                certificate_requested: false,
                ended_by_alert: None,
            } => error.reply,
            _ => Reply::Answered,
        }
    }
}

/// Whether the server answered a [`OpensslProber::full_handshake`] at all.
pub fn handshake_reply(result: &Result<HandshakeInfo, HandshakeFailure>) -> Reply {
    match result {
        Err(e) => e.reply,
        Ok(info)
            if info.chain.is_empty()
                && info.server_hello.is_none()
                && info.alert.is_none()
                && info.ended_by_alert.is_none() =>
        {
            info.failure.as_ref().map_or(Reply::Answered, |f| f.reply)
        }
        Ok(_) => Reply::Answered,
    }
}

extern "C" {
    // Not bound by openssl-sys: `SSL_CTX_set_client_cert_cb(3)` and `SSL_get_client_CA_list(3)`.
    fn SSL_CTX_set_client_cert_cb(
        ctx: *mut openssl_sys::SSL_CTX,
        cb: Option<
            unsafe extern "C" fn(
                *mut openssl_sys::SSL,
                *mut *mut openssl_sys::X509,
                *mut *mut openssl_sys::EVP_PKEY,
            ) -> std::os::raw::c_int,
        >,
    );
    fn SSL_get_client_CA_list(s: *const openssl_sys::SSL) -> *mut openssl_sys::OPENSSL_STACK;
}

/// Per-connection record of a CertificateRequest, shared with the OpenSSL callback.
type RequestSlot = Arc<Mutex<CertificateRequest>>;

fn request_index() -> Result<Index<Ssl, RequestSlot>, ErrorStack> {
    static INDEX: OnceLock<Result<Index<Ssl, RequestSlot>, ErrorStack>> = OnceLock::new();
    INDEX.get_or_init(Ssl::new_ex_index).clone()
}

fn name_text(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={}", crate::util::printable(&value))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn client_ca_names(ssl: &SslRef) -> Vec<String> {
    let mut out = Vec::new();
    // SAFETY: the stack (or NULL) is owned by the SSL and valid for this call; we only read it.
    unsafe {
        let stack = SSL_get_client_CA_list(ssl.as_ptr());
        if stack.is_null() {
            return out;
        }
        for i in 0..openssl_sys::OPENSSL_sk_num(stack) {
            let name = openssl_sys::OPENSSL_sk_value(stack, i) as *mut openssl_sys::X509_NAME;
            if !name.is_null() {
                out.push(name_text(X509NameRef::from_ptr(name)));
            }
        }
    }
    out
}

/// Called by OpenSSL only when the server sends a CertificateRequest; we record it and send no
/// certificate (return 0).
unsafe extern "C" fn on_certificate_request(
    ssl: *mut openssl_sys::SSL,
    _x509: *mut *mut openssl_sys::X509,
    _pkey: *mut *mut openssl_sys::EVP_PKEY,
) -> std::os::raw::c_int {
    // SAFETY: OpenSSL passes the live SSL of this handshake.
    let ssl = unsafe { SslRef::from_ptr(ssl) };
    if let Ok(idx) = request_index() {
        if let Some(seen) = ssl.ex_data(idx) {
            if let Ok(mut seen) = seen.lock() {
                seen.requested = true;
                seen.acceptable_cas = client_ca_names(ssl);
            }
        }
    }
    0
}

fn protocol_of(ssl: &SslRef) -> Option<Protocol> {
    use openssl::ssl::SslVersion;
    let v = ssl.version2()?;
    Some(if v == SslVersion::TLS1_3 {
        Protocol::Tls13
    } else if v == SslVersion::TLS1_2 {
        Protocol::Tls12
    } else if v == SslVersion::TLS1_1 {
        Protocol::Tls11
    } else if v == SslVersion::TLS1 {
        Protocol::Tls10
    } else {
        Protocol::Ssl3
    })
}

/// The alert an OpenSSL error reports the server sent (`… SSL alert number 48`).
fn received_alert(text: &str) -> Option<AlertDescription> {
    text.rsplit("SSL alert number ")
        .next()
        .filter(|_| text.contains("SSL alert number "))
        .and_then(|n| n.trim().parse::<u8>().ok())
        .map(AlertDescription)
}

/// OpenSSL's error text without its codes and source locations: `error:0A000418:SSL routines:
/// ssl3_read_bytes:tlsv1 alert unknown ca:../ssl/record/rec_layer_s3.c:1601:SSL alert number 48`
/// becomes `server sent alert unknown_ca (48)`.
pub fn tidy_error(text: &str) -> String {
    if let Some(alert) = received_alert(text) {
        return format!("server sent alert {alert}");
    }
    // error:CODE:LIBRARY:FUNCTION:REASON:FILE:LINE[:DATA]
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() >= 5 && parts[0].trim_start().ends_with("error") {
        return parts[4].trim().to_string();
    }
    text.to_string()
}

/// What one full handshake offers, set on its own `SSL`. `None` keeps the shared context's
/// setting: every suite, every group, OpenSSL's signature algorithms.
#[derive(Debug)]
struct HandshakeOffer {
    min: Protocol,
    max: Protocol,
    /// TLS 1.2-and-older suites by OpenSSL name, `:`-separated.
    tls12: Option<String>,
    /// TLS 1.3 suites by name, `:`-separated (empty: none).
    tls13: Option<String>,
    groups: Option<String>,
    sigalgs: Option<String>,
}

/// An `SSL` for one full handshake offering `offer`. Without a client certificate it comes from the
/// context every probe and handshake shares (`openssl.rs`); with one, from a context of its own.
fn handshake_ssl(
    offer: &HandshakeOffer,
    certificate: Option<&ClientCertificate>,
) -> Result<Ssl, ErrorStack> {
    let mut ssl = match certificate {
        None => super::openssl::ssl_without_psk()?,
        Some(_) => {
            let mut b = super::openssl::base_context()?;
            OpensslProber::configure_client_auth(&mut b, certificate)?;
            Ssl::new(&b.build())?
        }
    };
    ssl.set_min_proto_version(Some(offer.min.openssl()))?;
    ssl.set_max_proto_version(Some(offer.max.openssl()))?;
    if let Some(list) = &offer.tls12 {
        offer_suites(&mut ssl, false, list)?;
    }
    if let Some(list) = &offer.tls13 {
        offer_suites(&mut ssl, true, list)?;
    }
    if let Some(list) = &offer.groups {
        set_groups(&mut ssl, list)?;
    }
    if let Some(list) = &offer.sigalgs {
        set_sigalgs(&mut ssl, list)?;
    }
    Ok(ssl)
}

impl OpensslProber {
    pub(super) fn configure_client_auth(
        b: &mut SslContextBuilder,
        client: Option<&ClientCertificate>,
    ) -> Result<(), ErrorStack> {
        match client {
            Some(c) => {
                if let Some(leaf) = c.chain.first() {
                    b.set_certificate(leaf)?;
                }
                for extra in c.chain.iter().skip(1) {
                    b.add_extra_chain_cert(extra.clone())?;
                }
                b.set_private_key(&c.key)?;
                b.check_private_key()?;
            }
            None => {
                // SAFETY: installs a plain function pointer on a context we own.
                unsafe { SSL_CTX_set_client_cert_cb(b.as_ptr(), Some(on_certificate_request)) };
            }
        }
        Ok(())
    }

    /// One full handshake offering everything, with or without a client certificate.
    pub async fn full_handshake(
        &self,
        client: Option<&ClientCertificate>,
    ) -> Result<HandshakeInfo, HandshakeFailure> {
        let offer = HandshakeOffer {
            min: Protocol::Tls10,
            max: Protocol::Tls13,
            tls12: None,
            tls13: None,
            groups: None,
            sigalgs: None,
        };
        let ssl = handshake_ssl(&offer, client).map_err(HandshakeFailure::unconfigured)?;
        self.handshake(ssl, client.is_some()).await
    }

    /// One full handshake pinned to `protocol`, offering `suites` and `groups` (in that order of
    /// preference): the group the server chose, or why it chose none. Before TLS 1.3 the server names
    /// its group only in the ServerKeyExchange, past where a probe stops, so this needs a handshake.
    pub async fn group_choice(
        &self,
        protocol: Protocol,
        groups: &[&str],
        suites: &[&crate::tls::catalog::CipherSuite],
    ) -> Result<HandshakeInfo, HandshakeFailure> {
        let names = suites
            .iter()
            .map(|s| s.openssl_name.as_str())
            .collect::<Vec<_>>()
            .join(":");
        let (tls12, tls13) = if protocol == Protocol::Tls13 {
            (None, Some(names))
        } else {
            (Some(names), None)
        };
        let offer = HandshakeOffer {
            min: protocol,
            max: protocol,
            tls12,
            tls13,
            groups: Some(groups.join(":")),
            sigalgs: None,
        };
        let ssl = handshake_ssl(&offer, None).map_err(HandshakeFailure::unconfigured)?;
        self.handshake(ssl, false).await
    }

    /// One full handshake configured as `client` (suites in its order, curves, versions, signature
    /// algorithms), presenting `certificate` if given, as Envoy does with an `sslConfig.secretRef`.
    pub async fn simulate(
        &self,
        client: &ClientSpec,
        certificate: Option<&ClientCertificate>,
    ) -> Simulation {
        let failed = |error: HandshakeFailure| Simulation::Failed {
            alert: None,
            error,
            server_hello: None,
            certificate_requested: false,
            ended_by_alert: None,
        };
        let tls12: Vec<&str> = client
            .tls12_suites
            .iter()
            .map(|s| s.openssl_name.as_str())
            .collect();
        let tls13: Vec<&str> = client
            .tls13_suites
            .iter()
            .map(|s| s.openssl_name.as_str())
            .collect();
        if tls12.is_empty() && tls13.is_empty() {
            return failed(HandshakeFailure::local(format!(
                "{LOCAL_FAILURE}: it has no cipher suite for its protocol versions"
            )));
        }
        let offer = HandshakeOffer {
            min: client.min_version,
            max: client.max_version,
            tls12: (!tls12.is_empty()).then(|| tls12.join(":")),
            tls13: Some(tls13.join(":")),
            groups: Some(client.groups.join(":")),
            sigalgs: Some(client.signature_algorithms.join(":")),
        };
        let ssl = match handshake_ssl(&offer, certificate) {
            Ok(ssl) => ssl,
            Err(e) => return failed(HandshakeFailure::local(format!("{LOCAL_FAILURE}: {e}"))),
        };
        match self.handshake(ssl, certificate.is_some()).await {
            Err(e) => failed(e),
            Ok(info) => match (info.negotiated, info.failure) {
                (Some(negotiated), None) => Simulation::Connected {
                    negotiated,
                    chain: info.chain,
                },
                (_, failure) => Simulation::Failed {
                    alert: info.alert,
                    error: failure
                        .unwrap_or_else(|| HandshakeFailure::ended("handshake failed".into())),
                    server_hello: info.server_hello,
                    certificate_requested: info.request.requested,
                    ended_by_alert: info.ended_by_alert,
                },
            },
        }
    }

    /// Runs the handshake of `ssl` (from [`handshake_ssl`]) to completion. A TLS 1.3 server that
    /// requires a client certificate says so only after the handshake, so when one was requested (or
    /// presented) the first read, up to one second, is part of the check.
    async fn handshake(
        &self,
        ssl: Ssl,
        presented: bool,
    ) -> Result<HandshakeInfo, HandshakeFailure> {
        let seen: RequestSlot = Arc::new(Mutex::new(CertificateRequest::default()));
        let setup = |mut ssl: Ssl| -> Result<Ssl, ErrorStack> {
            ssl.set_ex_data(request_index()?, Arc::clone(&seen));
            ssl.set_status_type(StatusType::OCSP)?;
            self.finish(ssl)
        };
        let ssl = setup(ssl).map_err(|e| HandshakeFailure::local(e.to_string()))?;
        // One deadline for connect, handshake and the post-handshake read.
        let deadline = tokio::time::Instant::now() + self.timeout();
        let tcp = match tokio::time::timeout_at(deadline, TcpStream::connect(self.addr())).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Err(HandshakeFailure::ended(format!("connection failed: {e}"))),
            Err(_) => return Err(HandshakeFailure::silent("connection timed out".into())),
        };
        let mut stream = SslStream::new(ssl, Tap::new(tcp, false))
            .map_err(|e| HandshakeFailure::local(e.to_string()))?;
        let result = tokio::time::timeout_at(deadline, Pin::new(&mut stream).connect()).await;
        let mut ended_by_alert = None;
        let mut failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                ended_by_alert = received_alert(&e.to_string());
                Some(HandshakeFailure::ended(tidy_error(&e.to_string())))
            }
            Err(_) => Some(HandshakeFailure::silent(format!(
                "no complete handshake within {}",
                crate::util::human_duration(self.timeout())
            ))),
        };
        let requested = seen.lock().map(|s| s.requested).unwrap_or(false);
        if failure.is_none()
            && (requested || presented)
            && protocol_of(stream.ssl()) == Some(Protocol::Tls13)
        {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let wait = left.min(Duration::from_secs(1));
            let mut buf = [0u8; 512];
            if let Ok(Err(e)) = tokio::time::timeout(wait, stream.read(&mut buf)).await {
                ended_by_alert = received_alert(&e.to_string());
                failure = Some(HandshakeFailure::ended(tidy_error(&e.to_string())));
            }
        }
        let (server_hello, alert) = match parse_server_reply(stream.get_ref().received()) {
            ServerReply::Hello(h) => (Protocol::from_wire(h.version).map(|p| (p, h.cipher)), None),
            ServerReply::Alert(a) => (None, Some(a)),
            _ => (None, None),
        };
        let ssl = stream.ssl();
        let negotiated = match (&failure, ssl.current_cipher(), protocol_of(ssl)) {
            (None, Some(cipher), Some(protocol)) => {
                let code = u16::from_be_bytes(cipher.protocol_id());
                Some(Negotiated {
                    protocol,
                    code,
                    cipher: catalog()
                        .by_code(code)
                        .map(|s| s.openssl_name.clone())
                        .unwrap_or_else(|| cipher.name().to_string()),
                    group: negotiated_group(ssl),
                })
            }
            _ => None,
        };
        let chain = ssl
            .peer_cert_chain()
            .map(|c| c.iter().filter_map(|x| x.to_der().ok()).collect())
            .unwrap_or_default();
        let request = seen.lock().map(|s| s.clone()).unwrap_or_default();
        Ok(HandshakeInfo {
            negotiated,
            server_hello,
            chain,
            ocsp_staple: ssl.ocsp_status().map(|s| s.to_vec()),
            request,
            failure,
            alert,
            ended_by_alert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{handshake_ssl, tidy_error, HandshakeOffer};
    use crate::probe::openssl::offered_suites;
    use crate::tls::protocol::Protocol;

    fn offer(min: Protocol, max: Protocol) -> HandshakeOffer {
        HandshakeOffer {
            min,
            max,
            tls12: None,
            tls13: None,
            groups: None,
            sigalgs: None,
        }
    }

    #[test]
    fn each_handshake_offers_its_own_settings_over_the_shared_context() {
        let pinned = HandshakeOffer {
            tls12: Some("ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA".into()),
            tls13: Some(String::new()),
            groups: Some("P-384:X25519".into()),
            sigalgs: Some("rsa_pss_rsae_sha256:ecdsa_secp256r1_sha256".into()),
            ..offer(Protocol::Tls12, Protocol::Tls12)
        };
        let ssl = handshake_ssl(&pinned, None).unwrap();
        let names: Vec<String> = offered_suites(&ssl).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["ECDHE-RSA-AES128-GCM-SHA256", "AES256-SHA"]);
        // The next handshake from the same context is not narrowed by the first.
        let broad = handshake_ssl(&offer(Protocol::Tls10, Protocol::Tls13), None).unwrap();
        let all = offered_suites(&broad);
        assert!(all.len() > 40, "{} suites", all.len());
        assert!(all.iter().any(|(_, n)| n == "TLS_AES_128_GCM_SHA256"));
        // The context's PSK callback is the probes'; a full handshake offers no PSK suite (nor, at
        // TLS 1.3, a pre_shared_key extension).
        assert!(!all.iter().any(|(_, n)| n.contains("PSK")), "{all:?}");
        // Groups and signature algorithms reach OpenSSL: names it does not know are refused.
        for bad in [
            HandshakeOffer {
                groups: Some("no-such-group".into()),
                ..offer(Protocol::Tls12, Protocol::Tls12)
            },
            HandshakeOffer {
                sigalgs: Some("no_such_scheme".into()),
                ..offer(Protocol::Tls12, Protocol::Tls12)
            },
        ] {
            assert!(handshake_ssl(&bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn openssl_errors_are_tidied() {
        assert_eq!(
            tidy_error("error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../ssl/record/rec_layer_s3.c:1601:SSL alert number 48"),
            "server sent alert unknown_ca (48)"
        );
        assert_eq!(
            tidy_error("error:0A000126:SSL routines::unexpected eof while reading:../ssl/record/rec_layer_s3.c:317:"),
            "unexpected eof while reading"
        );
        assert_eq!(tidy_error("connection timed out"), "connection timed out");
    }

    /// How the gate counts a full handshake that did not complete, over real sockets: a client that
    /// cannot be set up never reached the server (no retry helps), a refused port dropped it, a
    /// listener that never answers was silent.
    #[tokio::test]
    async fn a_failed_handshake_says_whether_the_server_was_reached() {
        use super::{handshake_reply, ClientCertificate, OpensslProber};
        use crate::probe::gate::Reply;
        use crate::testing::pki::{self_signed, CertSpec};
        use std::time::Duration;

        let timeout = Duration::from_millis(300);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let prober = OpensslProber::new(closed_addr, None, timeout).unwrap();
        // A certificate whose key is another certificate's: OpenSSL refuses the pair.
        let (a, b) = (
            self_signed(&CertSpec::leaf("a.example")).unwrap(),
            self_signed(&CertSpec::leaf("b.example")).unwrap(),
        );
        let mismatched = ClientCertificate {
            chain: vec![a.cert],
            key: b.key,
        };
        let local = prober.full_handshake(Some(&mismatched)).await;
        assert!(
            local
                .as_ref()
                .is_err_and(|e| e.text.starts_with("cannot configure the client")),
            "{local:?}"
        );
        assert_eq!(handshake_reply(&local), Reply::Answered);

        let refused = prober.full_handshake(None).await;
        assert_eq!(handshake_reply(&refused), Reply::Dropped, "{refused:?}");

        // Accepted by the kernel's backlog, never read: the handshake times out.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let prober = OpensslProber::new(silent.local_addr().unwrap(), None, timeout).unwrap();
        let quiet = prober.full_handshake(None).await;
        assert_eq!(handshake_reply(&quiet), Reply::Silent, "{quiet:?}");
        drop(silent);
    }
}
