// The test servers themselves, checked with a plain blocking OpenSSL client: every configuration
// negotiates what it promises and every fault listener misbehaves as documented. If these fail,
// every end-to-end test built on them is suspect.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use cipher_test::testing::server::{
    ClientAuth, KeyKind, ServerConfig, TlsServer, CLIENT_CA_NAME, RESPONSE,
};
use common::{
    closed_port, CloseAfterHello, HttpPlaintext, ResetAfterHello, Silent, TlsThenClose,
    TlsThenSilent,
};
use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::ssl::{
    HandshakeError, SslConnector, SslConnectorBuilder, SslRef, SslStream, SslVerifyMode, SslVersion,
};
use openssl::stack::StackRef;
use openssl::x509::X509Name;

/// A client at security level 0 that accepts any certificate and offers every suite (`ALL`);
/// `configure` narrows what it offers.
fn client(
    configure: impl FnOnce(&mut SslConnectorBuilder) -> Result<(), ErrorStack>,
) -> SslConnector {
    common::lenient_client(|b| {
        b.set_cipher_list("ALL")?;
        configure(b)
    })
}

/// Connects to `addr` and runs the handshake with a 5 s I/O timeout.
fn handshake(
    addr: SocketAddr,
    connector: &SslConnector,
) -> Result<SslStream<TcpStream>, HandshakeError<TcpStream>> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    connector
        .configure()
        .unwrap()
        .verify_hostname(false)
        .connect("localhost", tcp)
}

/// Handshakes, checks the HTTP response, and returns (suite, version) as OpenSSL names them.
fn negotiate(server: &TlsServer, connector: &SslConnector) -> (String, String) {
    let mut tls = handshake(server.addr(), connector)
        .unwrap_or_else(|e| panic!("handshake with {:?} failed: {e}", server.config()));
    let suite = tls.ssl().current_cipher().unwrap().name().to_string();
    let version = tls.ssl().version_str().to_string();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).unwrap();
    assert_eq!(response, RESPONSE);
    (suite, version)
}

/// Key type and size of the server's ephemeral key-exchange share.
fn ephemeral_key(ssl: &SslRef) -> (Id, u32) {
    let key = ssl.peer_tmp_key().unwrap();
    (key.id(), key.bits())
}

/// CN of every CA named in the server's CertificateRequest, as the client received them.
fn requested_ca_names(ssl: &SslRef) -> Vec<String> {
    // Not wrapped by the openssl crate; for a client it returns the CertificateRequest's CA list.
    extern "C" {
        fn SSL_get_client_CA_list(
            ssl: *const openssl_sys::SSL,
        ) -> *mut openssl_sys::stack_st_X509_NAME;
    }
    // SAFETY: the returned stack is owned by `ssl` and outlives this borrow.
    let names = unsafe {
        let list = SSL_get_client_CA_list(ssl.as_ptr());
        if list.is_null() {
            return Vec::new();
        }
        StackRef::<X509Name>::from_ptr(list)
    };
    names
        .iter()
        .flat_map(|name| name.entries_by_nid(Nid::COMMONNAME))
        .map(|cn| cn.data().to_string().unwrap())
        .collect()
}

#[test]
fn tls12_server_negotiates_exactly_its_suite() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")).unwrap();
    let (suite, version) = negotiate(&server, &client(|_| Ok(())));
    assert_eq!(
        (suite.as_str(), version.as_str()),
        ("ECDHE-RSA-AES256-SHA", "TLSv1.2")
    );
    let only_aes128 = client(|c| c.set_cipher_list("AES128-SHA"));
    assert!(handshake(server.addr(), &only_aes128).is_err());
    assert_eq!(server.connections(), 2);
}

#[test]
fn rsa_key_works_with_rsa_key_transport() {
    let server = TlsServer::start(ServerConfig::tls12_only("AES256-SHA")).unwrap();
    let (suite, _) = negotiate(&server, &client(|_| Ok(())));
    assert_eq!(suite, "AES256-SHA");
}

#[test]
fn dhe_server_uses_ffdhe2048() {
    let server = TlsServer::start(ServerConfig::tls12_only("DHE-RSA-AES256-GCM-SHA384")).unwrap();
    let tls = handshake(server.addr(), &client(|_| Ok(()))).unwrap();
    assert_eq!(
        tls.ssl().current_cipher().unwrap().name(),
        "DHE-RSA-AES256-GCM-SHA384"
    );
    assert_eq!(ephemeral_key(tls.ssl()), (Id::DH, 2048));
}

#[test]
fn tls13_server_negotiates_ccm() {
    let server = TlsServer::start(ServerConfig::tls13_only("TLS_AES_128_CCM_SHA256")).unwrap();
    let ccm = client(|c| c.set_ciphersuites("TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256"));
    let (suite, version) = negotiate(&server, &ccm);
    assert_eq!(
        (suite.as_str(), version.as_str()),
        ("TLS_AES_128_CCM_SHA256", "TLSv1.3")
    );
    // OpenSSL clients do not offer CCM by default.
    assert!(handshake(server.addr(), &client(|_| Ok(()))).is_err());
}

#[test]
fn ecdsa_servers_negotiate_ecdhe_ecdsa() {
    for (key, bits) in [(KeyKind::EcdsaP256, 256), (KeyKind::EcdsaP384, 384)] {
        let config = ServerConfig::tls12_only("ECDHE-ECDSA-AES128-GCM-SHA256").with_key(key);
        let server = TlsServer::start(config).unwrap();
        let tls = handshake(server.addr(), &client(|_| Ok(()))).unwrap();
        assert_eq!(
            tls.ssl().current_cipher().unwrap().name(),
            "ECDHE-ECDSA-AES128-GCM-SHA256"
        );
        let cert_key = tls.ssl().peer_certificate().unwrap().public_key().unwrap();
        assert_eq!((cert_key.id(), cert_key.bits()), (Id::EC, bits), "{key:?}");
    }
}

#[test]
fn restricted_groups_are_enforced_in_tls12_and_tls13() {
    let configs = [
        ServerConfig::default().with_groups("P-384"),
        ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256").with_groups("P-384"),
    ];
    for config in configs {
        let server = TlsServer::start(config).unwrap();
        let p384 = client(|c| c.set_groups_list("P-384"));
        let tls = handshake(server.addr(), &p384).unwrap();
        assert_eq!(ephemeral_key(tls.ssl()), (Id::EC, 384));
        let others = client(|c| c.set_groups_list("X25519:P-256"));
        assert!(
            handshake(server.addr(), &others).is_err(),
            "{:?}",
            server.config()
        );
    }
}

#[test]
fn default_groups_give_x25519() {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let tls = handshake(server.addr(), &client(|_| Ok(()))).unwrap();
    assert_eq!(ephemeral_key(tls.ssl()).0, Id::X25519);
}

#[test]
fn required_client_auth_fails_without_a_certificate_after_requesting_one() {
    let config = ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")
        .with_client_auth(ClientAuth::Required);
    let server = TlsServer::start(config).unwrap();
    let Err(HandshakeError::Failure(failed)) = handshake(server.addr(), &client(|_| Ok(()))) else {
        panic!("handshake without a client certificate should fail");
    };
    // The client got as far as the ServerHello and a CertificateRequest naming the CA.
    assert!(failed.ssl().current_cipher().is_some());
    assert_eq!(requested_ca_names(failed.ssl()), [CLIENT_CA_NAME]);

    let (cert, key) = server.issue_client_cert("test client").unwrap();
    let with_cert = client(|c| {
        c.set_certificate(&cert)?;
        c.set_private_key(&key)
    });
    negotiate(&server, &with_cert);
}

#[test]
fn required_client_auth_in_tls13_fails_on_first_read() {
    // In TLS 1.3 the client finishes its handshake before the server checks the certificate, so
    // the rejection (alert certificate_required) only surfaces on the first read.
    let server =
        TlsServer::start(ServerConfig::default().with_client_auth(ClientAuth::Required)).unwrap();
    let mut tls = handshake(server.addr(), &client(|_| Ok(()))).unwrap();
    assert_eq!(tls.ssl().version_str(), "TLSv1.3");
    let mut buf = Vec::new();
    let error = tls.read_to_end(&mut buf).unwrap_err();
    assert!(
        format!("{error:?}").contains("certificate required"),
        "{error:?}"
    );
}

#[test]
fn optional_client_auth_accepts_clients_without_a_certificate() {
    let server =
        TlsServer::start(ServerConfig::default().with_client_auth(ClientAuth::Optional)).unwrap();
    negotiate(&server, &client(|_| Ok(())));
    assert!(server.client_ca().is_some());
}

#[test]
fn tls10_server_negotiates_tls10() {
    let config = ServerConfig::version_only(SslVersion::TLS1, "ECDHE-RSA-AES128-SHA");
    let server = TlsServer::start(config).unwrap();
    let (suite, version) = negotiate(&server, &client(|_| Ok(())));
    assert_eq!(
        (suite.as_str(), version.as_str()),
        ("ECDHE-RSA-AES128-SHA", "TLSv1")
    );
}

#[test]
fn certificate_verifies_for_its_hostname() {
    let server = TlsServer::start(ServerConfig::default()).unwrap();
    let verifying = client(|c| {
        c.set_verify(SslVerifyMode::PEER);
        c.cert_store_mut().add_cert(server.certificate().clone())
    });
    let tcp = TcpStream::connect(server.addr()).unwrap();
    let tls = verifying.connect("localhost", tcp).unwrap();
    assert_eq!(tls.ssl().verify_result().as_raw(), 0);
    let tcp = TcpStream::connect(server.addr()).unwrap();
    assert!(verifying.connect("example.com", tcp).is_err());
}

#[test]
fn server_handles_150_connections_quickly_and_stops_on_drop() {
    let server = TlsServer::start(ServerConfig::default()).unwrap();
    let connector = client(|_| Ok(()));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                for _ in 0..25 {
                    negotiate(&server, &connector);
                }
            });
        }
    });
    let elapsed = start.elapsed();
    eprintln!("150 TLS connections in {elapsed:?}");
    assert_eq!(server.connections(), 150);
    // Generous bound: the target is < 1 s on 2 cores, but other test binaries may share the CPU.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    let addr = server.addr();
    let start = Instant::now();
    drop(server);
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn http_plaintext_answers_400() {
    let listener = HttpPlaintext::start();
    let mut tcp = TcpStream::connect(listener.addr()).unwrap();
    tcp.write_all(b"\x16\x03\x01\x00\x05hello").unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response:?}");
    assert_eq!(listener.connections(), 1);
}

#[test]
fn fault_listeners_break_the_handshake_as_documented() {
    let connector = client(|_| Ok(()));

    let close = CloseAfterHello::start();
    let Err(HandshakeError::Failure(failed)) = handshake(close.addr(), &connector) else {
        panic!("CloseAfterHello should fail the handshake");
    };
    assert!(failed.ssl().current_cipher().is_none());

    let reset = ResetAfterHello::start();
    let Err(HandshakeError::Failure(failed)) = handshake(reset.addr(), &connector) else {
        panic!("ResetAfterHello should fail the handshake");
    };
    let kind = failed.error().io_error().map(|e| e.kind());
    assert_eq!(kind, Some(ErrorKind::ConnectionReset), "{}", failed.error());

    let silent = Silent::start();
    let tcp = TcpStream::connect(silent.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let result = connector.configure().unwrap().connect("localhost", tcp);
    assert!(matches!(result, Err(HandshakeError::WouldBlock(_))));

    assert!(TcpStream::connect(("127.0.0.1", closed_port())).is_err());
    assert_eq!(
        (
            close.connections(),
            reset.connections(),
            silent.connections()
        ),
        (1, 1, 1)
    );
}

#[test]
fn tls_then_faults_serve_only_the_first_connection() {
    let connector = client(|_| Ok(()));

    let then_close = TlsThenClose::start(ServerConfig::default());
    let tls = handshake(then_close.addr(), &connector).unwrap();
    drop(tls);
    assert!(handshake(then_close.addr(), &connector).is_err());
    assert_eq!(then_close.connections(), 2);
    assert_eq!(then_close.inner().connections(), 1);

    let then_silent = TlsThenSilent::start(ServerConfig::default());
    handshake(then_silent.addr(), &connector).unwrap();
    let tcp = TcpStream::connect(then_silent.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let result = connector.configure().unwrap().connect("localhost", tcp);
    assert!(matches!(result, Err(HandshakeError::WouldBlock(_))));
}
