// The certificate factory and the server's ability to serve any chain, checked with a plain
// blocking OpenSSL client: every broken certificate really reaches the client with its flaw, and
// the chain arrives exactly as configured. The certificate checks are only as good as these servers.

use crate::common;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use cipher_test::testing::pki::{
    issue, ocsp_response_der, ocsp_response_for, self_signed, write_pem, CertSpec, Issued, KeyKind,
    SigDigest,
};
use cipher_test::testing::server::{ClientAuth, ServerConfig, TlsServer, RESPONSE};
use openssl::asn1::Asn1Time;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus};
use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslConnectorBuilder, SslStream, SslVerifyMode, StatusType};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509VerifyResult, X509};

/// A client at security level 0 that completes the handshake whatever the certificate;
/// `configure` adds trust anchors or a client certificate.
fn client(
    configure: impl FnOnce(&mut SslConnectorBuilder) -> Result<(), ErrorStack>,
) -> SslConnector {
    common::lenient_client(configure)
}

/// Handshakes with `server` sending SNI `host`, optionally asking for an OCSP staple. With verify
/// mode NONE OpenSSL still verifies the chain and records the result in `verify_result()`.
fn connect(
    server: &TlsServer,
    connector: &SslConnector,
    host: &str,
    ocsp: bool,
) -> SslStream<TcpStream> {
    let tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut config = connector.configure().unwrap();
    if ocsp {
        config.set_status_type(StatusType::OCSP).unwrap();
    }
    config
        .connect(host, tcp)
        .unwrap_or_else(|e| panic!("handshake with {host} failed: {e}"))
}

/// The certificates the client received, in the order the server sent them.
fn received_chain(tls: &SslStream<TcpStream>) -> Vec<X509> {
    tls.ssl()
        .peer_cert_chain()
        .expect("the server sent a certificate chain")
        .iter()
        .map(|cert| cert.to_owned())
        .collect()
}

fn cn(cert: &X509) -> String {
    let entry = cert
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .unwrap();
    entry.data().to_string().unwrap()
}

/// A root, an intermediate it issued, and a leaf for `host` the intermediate issued.
fn three_level(host: &str) -> (Issued, Issued, Issued) {
    let root = self_signed(&CertSpec::ca("Test Root")).unwrap();
    let intermediate = issue(&CertSpec::ca("Test Intermediate"), &root).unwrap();
    let leaf = issue(&CertSpec::leaf(host), &intermediate).unwrap();
    (root, intermediate, leaf)
}

/// Serves `leaf` alone (self-signed or with its issuer missing) and returns what the client saw.
fn serve_leaf(leaf: &Issued) -> X509 {
    let config =
        ServerConfig::default().with_certificate(vec![leaf.cert.clone()], leaf.key.clone());
    let server = TlsServer::start(config).unwrap();
    let tls = connect(&server, &client(|_| Ok(())), "localhost", false);
    let chain = received_chain(&tls);
    assert_eq!(chain.len(), 1);
    chain.into_iter().next().unwrap()
}

fn signature_nid(cert: &X509) -> Nid {
    cert.signature_algorithm().object().nid()
}

#[test]
fn chain_of_leaf_and_intermediate_arrives_in_order_and_verifies_against_the_root() {
    let (root, intermediate, leaf) = three_level("localhost");
    let config = ServerConfig::default()
        .with_certificate(vec![leaf.cert.clone(), intermediate.cert.clone()], leaf.key);
    let server = TlsServer::start(config).unwrap();
    assert_eq!(cn(server.certificate()), "localhost");

    let trusting = client(|c| c.cert_store_mut().add_cert(root.cert.clone()));
    let tls = connect(&server, &trusting, "localhost", false);
    let names: Vec<_> = received_chain(&tls).iter().map(cn).collect();
    assert_eq!(names, ["localhost", "Test Intermediate"]);
    assert_eq!(tls.ssl().verify_result(), X509VerifyResult::OK);
}

#[test]
fn out_of_order_chain_is_sent_as_given() {
    let (root, intermediate, leaf) = three_level("localhost");
    let chain = vec![leaf.cert, root.cert, intermediate.cert];
    let server =
        TlsServer::start(ServerConfig::default().with_certificate(chain, leaf.key)).unwrap();
    let tls = connect(&server, &client(|_| Ok(())), "localhost", false);
    let names: Vec<_> = received_chain(&tls).iter().map(cn).collect();
    assert_eq!(names, ["localhost", "Test Root", "Test Intermediate"]);
}

#[test]
fn missing_intermediate_is_not_filled_in_and_fails_verification() {
    let (root, intermediate, leaf) = three_level("localhost");
    // With the intermediate in the server's trust store (as a client CA), OpenSSL would complete
    // the chain on its own unless told not to.
    let config = ServerConfig::default()
        .with_client_auth(ClientAuth::Optional)
        .with_client_ca(intermediate.cert)
        .with_certificate(vec![leaf.cert.clone()], leaf.key);
    let server = TlsServer::start(config).unwrap();
    let trusting = client(|c| c.cert_store_mut().add_cert(root.cert.clone()));
    let tls = connect(&server, &trusting, "localhost", false);
    assert_eq!(received_chain(&tls).len(), 1);
    assert_eq!(
        tls.ssl().verify_result().as_raw(),
        openssl_sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    );
}

#[test]
fn self_signed_leaf_is_reported_as_such() {
    let leaf = self_signed(&CertSpec::leaf("localhost")).unwrap();
    let config = ServerConfig::default().with_certificate(vec![leaf.cert.clone()], leaf.key);
    let server = TlsServer::start(config).unwrap();
    let tls = connect(&server, &client(|_| Ok(())), "localhost", false);
    assert_eq!(
        tls.ssl().verify_result().as_raw(),
        openssl_sys::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    );
    let received = received_chain(&tls).remove(0);
    assert_eq!(
        received.issuer_name().to_der().unwrap(),
        received.subject_name().to_der().unwrap()
    );
}

#[test]
fn expired_and_not_yet_valid_leaves_are_served() {
    let now = Asn1Time::days_from_now(0).unwrap();
    let expired = self_signed(&CertSpec::leaf("localhost").valid_days(-30, -1)).unwrap();
    let received = serve_leaf(&expired);
    assert!(received.not_after() < now);

    let future = self_signed(&CertSpec::leaf("localhost").valid_days(30, 365)).unwrap();
    let received = serve_leaf(&future);
    assert!(received.not_before() > now);
    assert!(received.not_after() > now);
}

#[test]
fn sha1_and_md5_signed_leaves_are_served() {
    let root = self_signed(&CertSpec::ca("RSA Root").key(KeyKind::Rsa2048)).unwrap();
    for (digest, nid, name) in [
        (
            SigDigest::Sha1,
            Nid::SHA1WITHRSAENCRYPTION,
            "sha1WithRSAEncryption",
        ),
        (
            SigDigest::Md5,
            Nid::MD5WITHRSAENCRYPTION,
            "md5WithRSAEncryption",
        ),
        (
            SigDigest::Sha256,
            Nid::SHA256WITHRSAENCRYPTION,
            "sha256WithRSAEncryption",
        ),
    ] {
        let leaf = issue(&CertSpec::leaf("localhost").digest(digest), &root).unwrap();
        let received = serve_leaf(&leaf);
        assert_eq!(signature_nid(&received), nid, "{digest:?}");
        assert_eq!(received.signature_algorithm().object().to_string(), name);
        assert!(received.verify(&root.key).unwrap());
    }
    // ECDSA issuers sign SHA-1 too (ecdsa-with-SHA1), but there is no ECDSA-with-MD5.
    let ec_root = self_signed(&CertSpec::ca("EC Root")).unwrap();
    let sha1 = issue(
        &CertSpec::leaf("localhost").digest(SigDigest::Sha1),
        &ec_root,
    )
    .unwrap();
    assert_eq!(signature_nid(&sha1.cert), Nid::ECDSA_WITH_SHA1);
    let md5 = issue(
        &CertSpec::leaf("localhost").digest(SigDigest::Md5),
        &ec_root,
    )
    .unwrap_err();
    assert!(
        format!("{md5:#}").contains("needs an RSA signing key"),
        "{md5:#}"
    );
}

#[test]
fn rsa_1024_leaf_is_served() {
    let leaf = self_signed(&CertSpec::leaf("localhost").key(KeyKind::Rsa1024)).unwrap();
    let received = serve_leaf(&leaf);
    assert_eq!(received.public_key().unwrap().bits(), 1024);
    // The generated-certificate path takes the weak key too.
    let server = TlsServer::start(ServerConfig::default().with_key(KeyKind::Rsa1024)).unwrap();
    let tls = connect(&server, &client(|_| Ok(())), "localhost", false);
    let received = tls.ssl().peer_certificate().unwrap();
    assert_eq!(received.public_key().unwrap().bits(), 1024);
}

#[test]
fn ocsp_staple_arrives_only_when_asked_for() {
    let config = ServerConfig::default().with_ocsp_staple(ocsp_response_der());
    let server = TlsServer::start(config).unwrap();
    let tls = connect(&server, &client(|_| Ok(())), "localhost", true);
    let staple = tls.ssl().ocsp_status().expect("a stapled OCSP response");
    let response = OcspResponse::from_der(staple).unwrap();
    assert_eq!(response.status(), OcspResponseStatus::TRY_LATER);

    let tls = connect(&server, &client(|_| Ok(())), "localhost", false);
    assert!(tls.ssl().ocsp_status().is_none());
    let plain = TlsServer::start(ServerConfig::default()).unwrap();
    let tls = connect(&plain, &client(|_| Ok(())), "localhost", true);
    assert!(tls.ssl().ocsp_status().is_none());
}

#[test]
fn signed_ocsp_response_verifies_and_names_the_leaf() {
    let ca = self_signed(&CertSpec::ca("OCSP Root")).unwrap();
    let leaf = issue(&CertSpec::leaf("localhost"), &ca).unwrap();
    for status in [OcspCertStatus::GOOD, OcspCertStatus::REVOKED] {
        let der = ocsp_response_for(&leaf.cert, &ca, status).unwrap();
        let config = ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")
            .with_certificate(vec![leaf.cert.clone(), ca.cert.clone()], leaf.key.clone())
            .with_ocsp_staple(der);
        let server = TlsServer::start(config).unwrap();
        let tls = connect(&server, &client(|_| Ok(())), "localhost", true);
        let response = OcspResponse::from_der(tls.ssl().ocsp_status().unwrap()).unwrap();
        assert_eq!(response.status(), OcspResponseStatus::SUCCESSFUL);
        let basic = response.basic().unwrap();
        let mut store = X509StoreBuilder::new().unwrap();
        store.add_cert(ca.cert.clone()).unwrap();
        let store = store.build();
        basic
            .verify(&Stack::new().unwrap(), &store, OcspFlag::empty())
            .unwrap();
        let id = OcspCertId::from_cert(MessageDigest::sha1(), &leaf.cert, &ca.cert).unwrap();
        let single = basic.find_status(&id).unwrap();
        assert_eq!(single.status, status);
        single.check_validity(60, None).unwrap();
    }
}

#[test]
fn wildcard_certificate_verifies_for_a_matching_host_only() {
    let root = self_signed(&CertSpec::ca("Wildcard Root")).unwrap();
    let leaf = issue(&CertSpec::leaf("*.example.com"), &root).unwrap();
    let san = leaf.cert.subject_alt_names().unwrap();
    assert_eq!(san.get(0).unwrap().dnsname(), Some("*.example.com"));
    let config = ServerConfig::default().with_certificate(vec![leaf.cert.clone()], leaf.key);
    let server = TlsServer::start(config).unwrap();
    let verifying = client(|c| {
        c.set_verify(SslVerifyMode::PEER);
        c.cert_store_mut().add_cert(root.cert.clone())
    });
    connect(&server, &verifying, "api.example.com", false);
    let tcp = TcpStream::connect(server.addr()).unwrap();
    assert!(verifying.connect("example.com", tcp).is_err());
}

#[test]
fn ip_sans_and_no_sans() {
    let ip = self_signed(&CertSpec::leaf("127.0.0.1")).unwrap();
    let san = ip.cert.subject_alt_names().unwrap();
    assert_eq!(san.get(0).unwrap().ipaddress(), Some(&[127, 0, 0, 1][..]));
    let none = self_signed(&CertSpec::leaf("localhost").sans(&[])).unwrap();
    assert!(none.cert.subject_alt_names().is_none());
}

#[test]
fn client_ca_accepts_its_own_certificates_and_rejects_others() {
    let trusted = self_signed(&CertSpec::ca("Trusted Client CA")).unwrap();
    let other = self_signed(&CertSpec::ca("Other Client CA")).unwrap();
    let server =
        TlsServer::start(ServerConfig::default().with_client_ca(trusted.cert.clone())).unwrap();
    assert_eq!(server.config().client_auth, ClientAuth::Required);
    assert!(server.client_ca().is_none());
    assert!(server.issue_client_cert("x").is_err());

    // In TLS 1.3 the server's verdict on the client certificate arrives with the first read.
    let fetch = |ca: &Issued| {
        let client_leaf = issue(&CertSpec::leaf("client").key(KeyKind::EcdsaP256), ca).unwrap();
        let with_cert = client(|c| {
            c.set_certificate(&client_leaf.cert)?;
            c.set_private_key(&client_leaf.key)
        });
        let mut tls = connect(&server, &with_cert, "localhost", false);
        let mut response = Vec::new();
        tls.read_to_end(&mut response).map(|_| response)
    };
    assert_eq!(fetch(&trusted).unwrap(), RESPONSE);
    let error = fetch(&other).unwrap_err();
    assert!(format!("{error:?}").contains("unknown ca"), "{error:?}");
}

#[test]
fn issued_certificates_never_share_the_issuer_key() {
    let root = self_signed(&CertSpec::ca("Root")).unwrap();
    for _ in 0..8 {
        let child = issue(&CertSpec::ca("Child"), &root).unwrap();
        assert!(!child.key.public_eq(&root.key));
        assert!(child.cert.verify(&root.key).unwrap());
        assert_eq!(root.cert.issued(&child.cert), X509VerifyResult::OK);
        assert_eq!(child.cert.serial_number().to_bn().unwrap().num_bytes(), 16);
    }
}

#[test]
fn write_pem_round_trips() {
    let (root, intermediate, leaf) = three_level("localhost");
    let dir = tempfile::tempdir().unwrap();
    let (certs, key) = write_pem(
        dir.path(),
        "server",
        &[&leaf.cert, &intermediate.cert, &root.cert],
        Some(&leaf.key),
    )
    .unwrap();
    let read = X509::stack_from_pem(&std::fs::read(&certs).unwrap()).unwrap();
    let names: Vec<_> = read.iter().map(cn).collect();
    assert_eq!(names, ["localhost", "Test Intermediate", "Test Root"]);
    let key = PKey::private_key_from_pem(&std::fs::read(key.unwrap()).unwrap()).unwrap();
    assert!(key.public_eq(&leaf.key));

    let (_, no_key) = write_pem(dir.path(), "ca", &[&root.cert], None).unwrap();
    assert!(no_key.is_none());
}
