//! Certificate checks (`cipher_test::cert`) over chains from the test PKI: every finding is shown
//! on a chain that has the problem and shown absent on a good chain; RFC 6125 name matching; the
//! fields of `parse_chain`; loading CA files. No network.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use cipher_test::cert::{
    self, evaluate, hostname_matches, load_ca_file, parse_chain, CertCheck, CertError,
    CertificateReport, Finding, Severity, TrustAnchors,
};
use cipher_test::testing::pki::{issue, self_signed, CertSpec, Issued, KeyKind, SigDigest};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;

const HOST: &str = "api.example.com";
const WARN_DAYS: u32 = 30;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn der(issued: &Issued) -> Vec<u8> {
    issued.cert.to_der().unwrap()
}

/// Root → intermediate → leaf, all as in the good chain unless the leaf spec says otherwise.
struct Pki {
    root: Issued,
    inter: Issued,
    leaf: Issued,
}

fn pki_with_leaf(leaf: CertSpec) -> Pki {
    let root = self_signed(&CertSpec::ca("Test Root")).unwrap();
    let inter = issue(&CertSpec::ca("Test Intermediate"), &root).unwrap();
    let leaf = issue(&leaf, &inter).unwrap();
    Pki { root, inter, leaf }
}

/// The good chain: leaf SHA-256 RSA-2048 with a SAN for HOST, valid -1..365 days, issued by an
/// intermediate issued by a root.
fn good() -> Pki {
    pki_with_leaf(CertSpec::leaf(HOST))
}

fn pinned(root: &Issued) -> TrustAnchors {
    TrustAnchors::Pem(vec![root.cert.clone()])
}

fn check_with(
    chain: &[&Issued],
    anchors: &TrustAnchors,
    host: Option<&str>,
    stapled: bool,
) -> (CertificateReport, Vec<Finding>) {
    let ders: Vec<Vec<u8>> = chain.iter().map(|c| der(c)).collect();
    evaluate(&CertCheck {
        chain: &ders,
        anchors,
        host,
        ip: None,
        now: now(),
        warn_days: WARN_DAYS,
        ocsp_stapled: stapled,
    })
    .unwrap()
}

fn check(chain: &[&Issued], anchors: &TrustAnchors) -> (CertificateReport, Vec<Finding>) {
    check_with(chain, anchors, Some(HOST), false)
}

fn find<'a>(findings: &'a [Finding], id: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.id == id)
}

#[track_caller]
fn expect<'a>(findings: &'a [Finding], id: &str, severity: Severity) -> &'a Finding {
    let f = find(findings, id).unwrap_or_else(|| panic!("no {id} in {findings:#?}"));
    assert_eq!(f.severity, severity, "{f:#?}");
    f
}

#[track_caller]
fn absent(findings: &[Finding], id: &str) {
    assert!(
        find(findings, id).is_none(),
        "unexpected {id} in {findings:#?}"
    );
}

#[test]
fn good_chain_has_no_findings() {
    let p = good();
    let (report, findings) = check(&[&p.leaf, &p.inter], &pinned(&p.root));
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(report.trusted);
    assert_eq!(report.hostname_match, Some(true));
    assert_eq!(report.verify_error, None);
    assert_eq!(report.chain.len(), 2);
    let json = serde_json::to_value(&report).unwrap();
    assert!(
        json.get("verify_error").is_none(),
        "skipped when None: {json}"
    );
}

#[test]
fn sending_the_root_too_is_fine() {
    let p = good();
    let (report, findings) = check(&[&p.leaf, &p.inter, &p.root], &pinned(&p.root));
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(report.trusted);
}

#[test]
fn expired_leaf_and_intermediate() {
    let p = pki_with_leaf(CertSpec::leaf(HOST).valid_days(-30, -1));
    let (report, findings) = check(&[&p.leaf, &p.inter], &pinned(&p.root));
    let f = expect(&findings, "cert.expired", Severity::Error);
    assert!(f.message.contains("leaf"), "{}", f.message);
    assert!(
        f.message.contains(&report.chain[0].not_after),
        "{}",
        f.message
    );
    // Expiry is not distrust: the chain still verifies, and only cert.expired says so.
    assert!(report.trusted, "{report:#?}");
    absent(&findings, "cert.untrusted");
    absent(&findings, "cert.expires_soon");

    let root = self_signed(&CertSpec::ca("Test Root")).unwrap();
    let inter = issue(
        &CertSpec::ca("Old Intermediate").valid_days(-400, -2),
        &root,
    )
    .unwrap();
    let leaf = issue(&CertSpec::leaf(HOST), &inter).unwrap();
    let (_, findings) = check(&[&leaf, &inter], &pinned(&root));
    let f = expect(&findings, "cert.expired", Severity::Error);
    assert!(f.message.contains("CN=Old Intermediate"), "{}", f.message);
    assert!(
        f.message.contains("Certificate 2 of the chain"),
        "{}",
        f.message
    );

    absent(
        &check(&[&good().leaf], &TrustAnchors::System).1,
        "cert.expired",
    );
}

#[test]
fn not_yet_valid_leaf() {
    let p = pki_with_leaf(CertSpec::leaf(HOST).valid_days(2, 365));
    let (report, findings) = check(&[&p.leaf, &p.inter], &pinned(&p.root));
    let f = expect(&findings, "cert.not_yet_valid", Severity::Error);
    assert!(
        f.message.contains(&report.chain[0].not_before),
        "{}",
        f.message
    );
    let p = good();
    absent(
        &check(&[&p.leaf, &p.inter], &pinned(&p.root)).1,
        "cert.not_yet_valid",
    );
}

#[test]
fn expires_soon_within_the_window_only() {
    let p = pki_with_leaf(CertSpec::leaf(HOST).valid_days(-1, 10));
    let ders = vec![der(&p.leaf), der(&p.inter)];
    let anchors = pinned(&p.root);
    let run = |warn_days| {
        evaluate(&CertCheck {
            chain: &ders,
            anchors: &anchors,
            host: Some(HOST),
            ip: None,
            now: now(),
            warn_days,
            ocsp_stapled: false,
        })
        .unwrap()
        .1
    };
    let findings = run(30);
    let f = expect(&findings, "cert.expires_soon", Severity::Warning);
    assert!(
        f.message.contains("in 9 days") || f.message.contains("in 10 days"),
        "{}",
        f.message
    );
    assert!(run(5).is_empty(), "{:#?}", run(5));
}

#[test]
fn hostname_mismatch_is_an_error_only_with_a_root_ca() {
    let p = good();
    let (report, findings) = check_with(
        &[&p.leaf, &p.inter],
        &pinned(&p.root),
        Some("other.example.com"),
        false,
    );
    assert_eq!(report.hostname_match, Some(false));
    let f = expect(&findings, "cert.hostname_mismatch", Severity::Error);
    assert!(f.message.contains("DNS:api.example.com"), "{}", f.message);
    assert!(f.message.contains("verifySubjectAltName"), "{}", f.message);

    let (_, findings) = check_with(
        &[&p.leaf, &p.inter],
        &TrustAnchors::System,
        Some("other.example.com"),
        false,
    );
    let f = expect(&findings, "cert.hostname_mismatch", Severity::Warning);
    assert!(f.message.contains("does not check"), "{}", f.message);

    // A SAN-less certificate matches through its CN (RFC 6125), but Envoy's verifySubjectAltName
    // checks SANs only: an error when modelling rootCa, nothing without it.
    let cn_only = pki_with_leaf(CertSpec::leaf(HOST).sans(&[]));
    let (report, findings) = check(&[&cn_only.leaf, &cn_only.inter], &pinned(&cn_only.root));
    assert_eq!(report.hostname_match, Some(true));
    let f = expect(&findings, "cert.hostname_mismatch", Severity::Error);
    assert!(f.message.contains("SANs only"), "{}", f.message);
    let (_, findings) = check(&[&cn_only.leaf, &cn_only.inter], &TrustAnchors::System);
    absent(&findings, "cert.hostname_mismatch");

    // No name to check: no verdict and no finding.
    let (report, findings) = check_with(&[&p.leaf, &p.inter], &pinned(&p.root), None, false);
    assert_eq!(report.hostname_match, None);
    absent(&findings, "cert.hostname_mismatch");
}

#[test]
fn single_self_signed_leaf() {
    let leaf = self_signed(&CertSpec::leaf(HOST)).unwrap();
    let (report, findings) = check(&[&leaf], &TrustAnchors::System);
    assert!(!report.trusted);
    let f = expect(&findings, "cert.self_signed", Severity::Warning);
    assert!(f.message.contains("ca.crt"), "{}", f.message);
    assert!(f.message.contains("rootCa"), "{}", f.message);
    // Nothing is missing: the server sent its only certificate.
    absent(&findings, "cert.chain_incomplete");

    // Pinned in the CA file: verified, so nothing to say.
    let (report, findings) = check(&[&leaf], &pinned(&leaf));
    assert!(report.trusted);
    assert!(findings.is_empty(), "{findings:#?}");

    let p = good();
    absent(
        &check(&[&p.leaf, &p.inter], &pinned(&p.root)).1,
        "cert.self_signed",
    );
}

#[test]
fn untrusted_error_with_a_root_ca_warning_with_the_system_store() {
    let p = good();
    let other_root = self_signed(&CertSpec::ca("Some Other Root")).unwrap();
    let (report, findings) = check(&[&p.leaf, &p.inter], &pinned(&other_root));
    assert!(!report.trusted);
    let reason = report.verify_error.clone().unwrap();
    let f = expect(&findings, "cert.untrusted", Severity::Error);
    assert!(f.message.contains(&reason), "{}", f.message);
    assert!(f.message.contains("ca.crt"), "{}", f.message);

    // A complete chain from a private root that the system store does not know.
    let (report, findings) = check(&[&p.leaf, &p.inter], &TrustAnchors::System);
    assert!(!report.trusted);
    assert_eq!(
        report.verify_error.as_deref(),
        Some("unable to get local issuer certificate")
    );
    let f = expect(&findings, "cert.untrusted", Severity::Warning);
    assert!(
        f.message.contains("unable to get local issuer certificate"),
        "{}",
        f.message
    );
    assert!(f.message.contains("rootCa"), "{}", f.message);
    absent(&findings, "cert.chain_incomplete");

    absent(
        &check(&[&p.leaf, &p.inter], &pinned(&p.root)).1,
        "cert.untrusted",
    );
}

#[test]
fn system_store_trusts_its_own_roots() {
    // OpenSSL's default paths; where the machine has no bundle there is nothing to check.
    let bundle = openssl::x509::X509::stack_from_pem(
        &std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default(),
    )
    .unwrap_or_default();
    let Some(root) = bundle.first() else {
        eprintln!("no system CA bundle; skipped");
        return;
    };
    // A root alone is not a server certificate (evaluate checks the serverAuth purpose, as Envoy
    // does), so this checks plain path building against the system store.
    let ders = vec![root.to_der().unwrap()];
    assert_eq!(
        cert::verify_chain(&ders, &TrustAnchors::System).unwrap(),
        None
    );
    let stranger = self_signed(&CertSpec::ca("Not In The Store")).unwrap();
    let (code, reason) = cert::verify_chain(&[der(&stranger)], &TrustAnchors::System)
        .unwrap()
        .unwrap();
    assert_eq!((code, reason.as_str()), (18, "self-signed certificate"));
}

/// A leaf for HOST whose extended key usage is clientAuth only, signed by `issuer`.
fn client_only_leaf(issuer: &Issued) -> Vec<u8> {
    use openssl::asn1::Asn1Integer;
    use openssl::bn::BigNum;
    use openssl::x509::extension::{ExtendedKeyUsage, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};

    let key = self_signed(&CertSpec::leaf("key donor")).unwrap().key;
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", HOST).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = Asn1Integer::from_bn(&BigNum::from_u32(7).unwrap()).unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.cert.subject_name()).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.set_pubkey(&key).unwrap();
    let san = SubjectAlternativeName::new()
        .dns(HOST)
        .build(&b.x509v3_context(Some(&issuer.cert), None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.append_extension(ExtendedKeyUsage::new().client_auth().build().unwrap())
        .unwrap();
    b.sign(&issuer.key, MessageDigest::sha256()).unwrap();
    b.build().to_der().unwrap()
}

#[test]
fn a_client_only_certificate_is_not_a_server_certificate() {
    // Envoy verifies upstream chains with purpose ssl_server, so serverAuth must be allowed.
    let p = good();
    let ders = vec![client_only_leaf(&p.inter), der(&p.inter)];
    let (report, findings) = evaluate(&CertCheck {
        chain: &ders,
        anchors: &pinned(&p.root),
        host: Some(HOST),
        ip: None,
        now: now(),
        warn_days: WARN_DAYS,
        ocsp_stapled: false,
    })
    .unwrap();
    assert!(!report.trusted);
    assert_eq!(
        report.verify_error.as_deref(),
        Some("unsuitable certificate purpose")
    );
    let f = expect(&findings, "cert.untrusted", Severity::Error);
    assert!(f.message.contains("serverAuth"), "{}", f.message);
    absent(&findings, "cert.chain_incomplete");
    // Plain path building does not care about the purpose.
    assert_eq!(cert::verify_chain(&ders, &pinned(&p.root)).unwrap(), None);
}

#[test]
fn chain_incomplete_when_the_intermediate_is_missing() {
    let p = good();
    let (_, findings) = check(&[&p.leaf], &pinned(&p.root));
    let f = expect(&findings, "cert.chain_incomplete", Severity::Error);
    assert!(f.message.contains("CN=Test Intermediate"), "{}", f.message);
    expect(&findings, "cert.untrusted", Severity::Error);

    // The server sends only a leaf that is not self-signed, and the store does not know its issuer.
    let (_, findings) = check(&[&p.leaf], &TrustAnchors::System);
    expect(&findings, "cert.chain_incomplete", Severity::Error);

    absent(
        &check(&[&p.leaf, &p.inter], &pinned(&p.root)).1,
        "cert.chain_incomplete",
    );

    // The CA file holds the intermediate instead of the root: Envoy sets X509_V_FLAG_PARTIAL_CHAIN
    // with a trusted_ca, so any CA of the chain (or the leaf itself) is a trust anchor.
    for (chain, anchor) in [
        (vec![&p.leaf], &p.inter),
        (vec![&p.leaf, &p.inter], &p.inter),
        (vec![&p.leaf], &p.leaf),
    ] {
        let (report, findings) = check(&chain, &pinned(anchor));
        assert!(report.trusted, "{report:#?}");
        assert!(findings.is_empty(), "{findings:#?}");
    }

    // Leaf issued straight by the pinned root: nothing is missing.
    let root = self_signed(&CertSpec::ca("Direct Root")).unwrap();
    let leaf = issue(&CertSpec::leaf(HOST), &root).unwrap();
    let (report, findings) = check(&[&leaf], &pinned(&root));
    assert!(report.trusted);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn chain_order_out_of_order_or_stray_certificates() {
    let root = self_signed(&CertSpec::ca("Test Root")).unwrap();
    let inter1 = issue(&CertSpec::ca("Intermediate One"), &root).unwrap();
    let inter2 = issue(&CertSpec::ca("Intermediate Two"), &inter1).unwrap();
    let leaf = issue(&CertSpec::leaf(HOST), &inter2).unwrap();
    let anchors = pinned(&root);

    let (report, findings) = check(&[&leaf, &inter1, &inter2], &anchors);
    let f = expect(&findings, "cert.chain_order", Severity::Warning);
    assert!(f.message.contains("leaf first"), "{}", f.message);
    assert!(f.message.contains("certificate 3"), "{}", f.message);
    // OpenSSL still builds the path from the unordered pool.
    assert!(report.trusted);

    let stranger = self_signed(&CertSpec::ca("Unrelated CA")).unwrap();
    let (_, findings) = check(&[&leaf, &inter2, &inter1, &stranger], &anchors);
    let f = expect(&findings, "cert.chain_order", Severity::Warning);
    assert!(f.message.contains("CN=Unrelated CA"), "{}", f.message);
    assert!(f.message.contains("no path"), "{}", f.message);

    let (_, findings) = check(&[&leaf, &inter2, &inter1], &anchors);
    assert!(findings.is_empty(), "{findings:#?}");
    let (_, findings) = check(&[&leaf, &inter2, &inter1, &root], &anchors);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn weak_key_on_non_root_certificates() {
    let p = pki_with_leaf(CertSpec::leaf(HOST).key(KeyKind::Rsa1024));
    let (_, findings) = check(&[&p.leaf, &p.inter], &pinned(&p.root));
    let f = expect(&findings, "cert.weak_key", Severity::Warning);
    assert!(f.message.contains("RSA 1024"), "{}", f.message);
    assert!(f.message.contains("FIPS"), "{}", f.message);
    assert!(f.message.contains("2048, 3072 or 4096"), "{}", f.message);

    // A weak self-signed root is what the trust store vouches for, not something the server uses.
    let root = self_signed(&CertSpec::ca("Weak Root").key(KeyKind::Rsa1024)).unwrap();
    let inter = issue(&CertSpec::ca("Test Intermediate"), &root).unwrap();
    let leaf = issue(&CertSpec::leaf(HOST), &inter).unwrap();
    let (_, findings) = check(&[&leaf, &inter, &root], &pinned(&root));
    assert!(findings.is_empty(), "{findings:#?}");

    let p = good();
    absent(
        &check(&[&p.leaf, &p.inter], &pinned(&p.root)).1,
        "cert.weak_key",
    );
}

#[test]
fn weak_signature_sha1_and_md5_but_not_on_a_self_signed_root() {
    let root = self_signed(&CertSpec::ca("RSA Root").key(KeyKind::Rsa2048)).unwrap();
    let inter = issue(
        &CertSpec::ca("RSA Intermediate").key(KeyKind::Rsa2048),
        &root,
    )
    .unwrap();
    for (digest, name) in [
        (SigDigest::Sha1, "sha1WithRSAEncryption"),
        (SigDigest::Md5, "md5WithRSAEncryption"),
    ] {
        let leaf = issue(&CertSpec::leaf(HOST).digest(digest), &inter).unwrap();
        let (_, findings) = check(&[&leaf, &inter], &pinned(&root));
        let f = expect(&findings, "cert.weak_signature", Severity::Warning);
        assert!(f.message.contains(name), "{}", f.message);
        assert!(f.message.contains("SHA-256"), "{}", f.message);
    }

    let sha1_root = self_signed(&CertSpec::ca("SHA1 Root").digest(SigDigest::Sha1)).unwrap();
    let inter = issue(&CertSpec::ca("Test Intermediate"), &sha1_root).unwrap();
    let leaf = issue(&CertSpec::leaf(HOST), &inter).unwrap();
    let (_, findings) = check(&[&leaf, &inter, &sha1_root], &pinned(&sha1_root));
    assert!(findings.is_empty(), "{findings:#?}");

    let p = good();
    absent(
        &check(&[&p.leaf, &p.inter], &pinned(&p.root)).1,
        "cert.weak_signature",
    );
}

#[test]
fn ocsp_stapled_is_info() {
    let p = good();
    let (_, findings) = check_with(&[&p.leaf, &p.inter], &pinned(&p.root), Some(HOST), true);
    expect(&findings, "ocsp.stapled", Severity::Info);
    absent(
        &check(&[&p.leaf, &p.inter], &pinned(&p.root)).1,
        "ocsp.stapled",
    );
}

#[test]
fn findings_are_sorted_errors_first() {
    let p = pki_with_leaf(
        CertSpec::leaf(HOST)
            .valid_days(-30, -1)
            .key(KeyKind::Rsa1024),
    );
    let (_, findings) = check_with(
        &[&p.leaf],
        &pinned(&p.root),
        Some("other.example.com"),
        true,
    );
    let severities: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort();
    assert_eq!(severities, sorted);
    assert_eq!(severities.first(), Some(&Severity::Error));
    assert_eq!(severities.last(), Some(&Severity::Info));
    assert_eq!(
        serde_json::to_value(Severity::Warning).unwrap(),
        serde_json::json!("warning")
    );
}

#[test]
fn empty_and_garbage_chains_are_errors() {
    let empty: Vec<Vec<u8>> = Vec::new();
    let err = evaluate(&CertCheck {
        chain: &empty,
        anchors: &TrustAnchors::System,
        host: Some(HOST),
        ip: None,
        now: now(),
        warn_days: WARN_DAYS,
        ocsp_stapled: false,
    })
    .unwrap_err();
    assert!(matches!(err, CertError::EmptyChain), "{err}");
    let err = parse_chain(&[der(&good().leaf), b"not a certificate".to_vec()]).unwrap_err();
    assert!(
        matches!(err, CertError::InvalidDer { index: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("certificate 2"), "{err}");
}

// --- RFC 6125 name matching -------------------------------------------------------------------

fn leaf_der(spec: CertSpec) -> Vec<u8> {
    let root = self_signed(&CertSpec::ca("Name Root")).unwrap();
    der(&issue(&spec, &root).unwrap())
}

fn host_ok(cert: &[u8], host: &str) -> bool {
    hostname_matches(cert, Some(host), None).unwrap()
}

#[test]
fn exact_dns_names_ignore_case_and_a_trailing_dot() {
    let cert = leaf_der(CertSpec::leaf(HOST));
    assert!(host_ok(&cert, "api.example.com"));
    assert!(host_ok(&cert, "API.Example.COM"));
    assert!(host_ok(&cert, "api.example.com."));
    assert!(!host_ok(&cert, "example.com"));
    assert!(!host_ok(&cert, "www.api.example.com"));
    assert!(!host_ok(&cert, "api.example.co"));
    assert!(!hostname_matches(&cert, None, None).unwrap());
}

#[test]
fn wildcard_only_as_the_whole_left_most_label() {
    let cert = leaf_der(CertSpec::leaf("wild").sans(&["*.example.com"]));
    assert!(host_ok(&cert, "a.example.com"));
    assert!(host_ok(&cert, "A.EXAMPLE.com."));
    assert!(host_ok(&cert, "xn--bcher-kva.example.com"));
    assert!(!host_ok(&cert, "example.com"), "bare domain");
    assert!(!host_ok(&cert, "a.b.example.com"), "two labels");
    assert!(!host_ok(&cert, ".example.com"));

    let partial = leaf_der(CertSpec::leaf("wild").sans(&["f*.example.com", "xn--*.example.org"]));
    assert!(!host_ok(&partial, "foo.example.com"));
    assert!(!host_ok(&partial, "xn--bcher-kva.example.org"));

    let too_wide = leaf_der(CertSpec::leaf("wild").sans(&["*.com"]));
    assert!(!host_ok(&too_wide, "example.com"));
}

#[test]
fn ip_addresses_match_ip_sans_only() {
    let ip: IpAddr = "10.1.2.3".parse().unwrap();
    let cert = leaf_der(CertSpec::leaf("10.1.2.3"));
    assert!(hostname_matches(&cert, None, Some(ip)).unwrap());
    assert!(host_ok(&cert, "10.1.2.3"));
    assert!(!hostname_matches(&cert, None, Some("10.1.2.4".parse().unwrap())).unwrap());

    let v6 = leaf_der(CertSpec::leaf("2001:db8::1"));
    assert!(hostname_matches(&v6, None, Some("2001:db8::1".parse().unwrap())).unwrap());
    assert!(host_ok(&v6, "[2001:db8::1]"));

    // A DNS SAN never matches an IP, and the CN is not consulted for IPs.
    let dns = leaf_der(CertSpec::leaf(HOST));
    assert!(!hostname_matches(&dns, None, Some(ip)).unwrap());
    let cn_only = leaf_der(CertSpec::leaf("10.1.2.3").sans(&[]));
    assert!(!hostname_matches(&cn_only, None, Some(ip)).unwrap());

    // SNI sent for an IP target: either name may match.
    assert!(hostname_matches(&cert, Some("other.example.com"), Some(ip)).unwrap());
}

#[test]
fn common_name_only_without_sans() {
    let cn_only = leaf_der(CertSpec::leaf(HOST).sans(&[]));
    assert!(host_ok(&cn_only, HOST));
    assert!(!host_ok(&cn_only, "other.example.com"));

    let with_san = leaf_der(CertSpec {
        common_name: HOST.to_string(),
        ..CertSpec::leaf("other.example.com")
    });
    assert!(
        !host_ok(&with_san, HOST),
        "CN ignored when a DNS SAN exists"
    );
    assert!(host_ok(&with_san, "other.example.com"));

    let ip_san = leaf_der(CertSpec {
        common_name: HOST.to_string(),
        ..CertSpec::leaf("10.1.2.3")
    });
    assert!(!host_ok(&ip_san, HOST), "CN ignored when an IP SAN exists");
}

// --- parse_chain ------------------------------------------------------------------------------

fn openssl_time(t: &openssl::asn1::Asn1TimeRef) -> i64 {
    let diff = Asn1Time::from_unix(0).unwrap().diff(t).unwrap();
    i64::from(diff.days) * 86_400 + i64::from(diff.secs)
}

#[test]
fn parse_chain_fields() {
    let rsa_root = self_signed(&CertSpec::ca("RSA Root").key(KeyKind::Rsa2048)).unwrap();
    let p = good();
    let p384 = issue(
        &CertSpec::leaf("p384.example.com").key(KeyKind::EcdsaP384),
        &p.inter,
    )
    .unwrap();
    let sha1 = issue(
        &CertSpec::leaf("old.example.com").digest(SigDigest::Sha1),
        &rsa_root,
    )
    .unwrap();
    let md5 = issue(
        &CertSpec::leaf("older.example.com").digest(SigDigest::Md5),
        &rsa_root,
    )
    .unwrap();
    let weak = issue(
        &CertSpec::leaf("weak.example.com").key(KeyKind::Rsa1024),
        &rsa_root,
    )
    .unwrap();
    let all = [&p.leaf, &p.inter, &p384, &sha1, &md5, &weak, &rsa_root];
    let ders: Vec<Vec<u8>> = all.iter().map(|c| der(c)).collect();
    let infos = parse_chain(&ders).unwrap();

    let keys: Vec<&str> = infos.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["RSA 2048", "EC P-256", "EC P-384", "RSA 2048", "RSA 2048", "RSA 1024", "RSA 2048"]
    );
    let sigs: Vec<&str> = infos.iter().map(|i| i.signature.as_str()).collect();
    assert_eq!(
        sigs,
        [
            "ecdsa-with-SHA256",
            "ecdsa-with-SHA256",
            "ecdsa-with-SHA256",
            "sha1WithRSAEncryption",
            "md5WithRSAEncryption",
            "sha256WithRSAEncryption",
            "sha256WithRSAEncryption",
        ]
    );

    let leaf = &infos[0];
    assert_eq!(leaf.subject, "CN=api.example.com");
    assert_eq!(leaf.issuer, "CN=Test Intermediate");
    assert_eq!(leaf.sans, ["DNS:api.example.com"]);
    assert_eq!(infos[1].sans, Vec::<String>::new());
    assert_eq!(
        parse_chain(&[leaf_der(CertSpec::leaf("10.1.2.3"))]).unwrap()[0].sans,
        ["IP:10.1.2.3"]
    );

    for (info, issued) in infos.iter().zip(all) {
        let cert = &issued.cert;
        let serial = cert.serial_number().to_bn().unwrap().to_hex_str().unwrap();
        assert_eq!(info.serial, serial.to_lowercase());
        let digest = cert.digest(MessageDigest::sha256()).unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(info.sha256, hex);
        assert_eq!(
            info.not_before,
            cert::rfc3339(openssl_time(cert.not_before()))
        );
        assert_eq!(
            info.not_after,
            cert::rfc3339(openssl_time(cert.not_after()))
        );
        for date in [&info.not_before, &info.not_after] {
            let b = date.as_bytes();
            assert_eq!(b.len(), 20, "{date}");
            assert_eq!(
                (b[4], b[7], b[10], b[13], b[16], b[19]),
                (b'-', b'-', b'T', b':', b':', b'Z')
            );
        }
    }
}

// --- load_ca_file -----------------------------------------------------------------------------

#[test]
fn load_ca_file_reads_pem_and_explains_failures() {
    let dir = tempfile::tempdir().unwrap();
    let p = good();
    let path = dir.path().join("ca.pem");
    let mut pem = b"# bundle\n".to_vec();
    pem.extend(p.root.cert.to_pem().unwrap());
    pem.extend(p.inter.cert.to_pem().unwrap());
    std::fs::write(&path, &pem).unwrap();
    let cas = load_ca_file(&path).unwrap();
    assert_eq!(cas.len(), 2);
    let (report, _) = check(&[&p.leaf, &p.inter], &TrustAnchors::Pem(cas));
    assert!(report.trusted);

    let missing = load_ca_file(&dir.path().join("nope.pem")).unwrap_err();
    assert!(
        matches!(missing, CertError::CaFileUnreadable { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("nope.pem"), "{missing}");

    let key_only = dir.path().join("key.pem");
    std::fs::write(&key_only, p.leaf.key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let err = load_ca_file(&key_only).unwrap_err();
    assert!(
        matches!(err, CertError::CaFileNoCertificate { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("PRIVATE KEY"), "{err}");

    let text = dir.path().join("text.pem");
    std::fs::write(&text, "secret-looking text without PEM\n").unwrap();
    let err = load_ca_file(&text).unwrap_err();
    assert!(!err.to_string().contains("secret-looking"), "{err}");

    let der_file = dir.path().join("ca.der");
    std::fs::write(&der_file, der(&p.root)).unwrap();
    let err = load_ca_file(&der_file).unwrap_err();
    assert!(err.to_string().contains("-inform der"), "{err}");

    let broken = dir.path().join("broken.pem");
    let body = "A".repeat(63);
    std::fs::write(
        &broken,
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"),
    )
    .unwrap();
    let err = load_ca_file(&broken).unwrap_err();
    assert!(matches!(err, CertError::CaFileInvalid { .. }), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
    assert!(!err.to_string().contains(&body), "{err}");

    let cut = dir.path().join("cut.pem");
    let root_pem = String::from_utf8(p.root.cert.to_pem().unwrap()).unwrap();
    std::fs::write(&cut, &root_pem[..root_pem.len() - 30]).unwrap();
    let err = load_ca_file(&cut).unwrap_err();
    assert!(err.to_string().contains("no END line"), "{err}");
}
