//! Certificates, trust and mTLS end to end: one real server per problem. Each finding id must come
//! from the server that has the problem, and from no server that does not: every test asserts the
//! exact set of finding ids.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cipher_test::testing::pki::{self, CertSpec, Issued, KeyKind, SigDigest};
use cipher_test::testing::server::{ClientAuth, ServerConfig, TlsServer};
use openssl::ssl::SslVersion;
use serde_json::Value;

/// A root, an intermediate it signs, and a good `localhost` leaf from the intermediate.
struct Pki {
    root: Issued,
    inter: Issued,
}

impl Pki {
    fn new() -> Pki {
        let root = pki::self_signed(&CertSpec::ca("cipher-test root")).unwrap();
        let inter = pki::issue(&CertSpec::ca("cipher-test intermediate"), &root).unwrap();
        Pki { root, inter }
    }

    fn leaf(&self, spec: CertSpec) -> Issued {
        pki::issue(&spec, &self.inter).unwrap()
    }

    /// The root as a PEM file, for `--ca-file`.
    fn root_file(&self, dir: &Path) -> PathBuf {
        pki::write_pem(dir, "root", &[&self.root.cert], None)
            .unwrap()
            .0
    }
}

fn serve(chain: Vec<&Issued>, key: &Issued) -> TlsServer {
    let certs = chain.iter().map(|i| i.cert.clone()).collect();
    TlsServer::start(
        ServerConfig::default()
            .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
            .with_certificate(certs, key.key.clone()),
    )
    .unwrap()
}

fn scan(server: &TlsServer, extra: &[&str]) -> Value {
    let mut args = vec!["--sni", "localhost", "--protocols", "tls1.2,tls1.3"];
    args.extend_from_slice(extra);
    common::scan_json(server.port(), &args)
}

fn ids(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn severity(report: &Value, id: &str) -> String {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .map(|f| f["severity"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn a_good_chain_from_a_private_ca() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let leaf = pki.leaf(CertSpec::leaf("localhost"));
    let server = serve(vec![&leaf, &pki.inter], &leaf);
    let ca = pki.root_file(dir.path());
    let trusted = scan(&server, &["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(ids(&trusted), set(&["gloo.root_ca"]));
    let c = &trusted["certificate"];
    assert_eq!(c["trusted"], true);
    assert_eq!(c["hostname_match"], true);
    assert_eq!(c["chain"].as_array().unwrap().len(), 2);
    assert_eq!(c["chain"][0]["subject"], "CN=localhost");
    assert_eq!(c["chain"][0]["sans"][0], "DNS:localhost");
    assert_eq!(c["chain"][0]["key"], "RSA 2048");
    assert_eq!(c["chain"][0]["signature"], "ecdsa-with-SHA256");
    assert_eq!(c["chain"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(trusted["client_auth"]["requested"], false);
    // The same server against the system store: untrusted (a warning: Envoy without rootCa does not
    // verify), and the chain is complete, so no chain_incomplete.
    let system = scan(&server, &[]);
    assert_eq!(ids(&system), set(&["cert.untrusted"]));
    assert_eq!(severity(&system, "cert.untrusted"), "warning");
    assert_eq!(system["certificate"]["trusted"], false);
}

/// The system store is OpenSSL's default paths: the CA bundle file (`SSL_CERT_FILE`) and the
/// hashed CA directory (`SSL_CERT_DIR`). cipher-test reads the directory first and the whole file
/// only when it could matter; wherever the root sits, the verdict must be `openssl verify`'s with
/// the same file and directory, including when the file holds another certificate with the root's
/// name (which OpenSSL finds before the directory's).
#[test]
fn the_system_store_trusts_as_openssl_does_wherever_the_root_sits() {
    let pki = Pki::new();
    let leaf = pki.leaf(CertSpec::leaf("localhost"));
    let server = serve(vec![&leaf, &pki.inter], &leaf);
    let other = pki::self_signed(&CertSpec::ca("an unrelated root")).unwrap();
    let impostor = pki::self_signed(&CertSpec::ca("cipher-test root")).unwrap();
    let verdicts = |file: &[&Issued], in_dir: bool| {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        let mut in_file: Vec<&openssl::x509::X509> = vec![&other.cert];
        in_file.extend(file.iter().map(|i| &i.cert));
        let bundle = pki::write_pem(dir.path(), "bundle", &in_file, None)
            .unwrap()
            .0;
        if in_dir {
            let hash = format!("{:08x}.0", pki.root.cert.subject_name_hash());
            std::fs::write(certs.join(hash), pki.root.cert.to_pem().unwrap()).unwrap();
        }
        let mut command = std::process::Command::new(common::cipher_test_bin());
        command
            .args([
                "--sni",
                "localhost",
                "--protocols",
                "tls1.2",
                "--format",
                "json",
                "--quiet",
            ])
            .arg(format!("127.0.0.1:{}", server.port()))
            .env("SSL_CERT_FILE", &bundle)
            .env("SSL_CERT_DIR", &certs)
            .env_remove("SSL_CERT_URI");
        let out = common::run_command(command);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        // The oracle: OpenSSL's own verify with exactly that file and directory.
        let (leaf_pem, inter_pem) = (dir.path().join("leaf.pem"), dir.path().join("inter.pem"));
        std::fs::write(&leaf_pem, leaf.cert.to_pem().unwrap()).unwrap();
        std::fs::write(&inter_pem, pki.inter.cert.to_pem().unwrap()).unwrap();
        let openssl = std::process::Command::new("openssl")
            .args([
                "verify",
                "-no_check_time",
                "-purpose",
                "sslserver",
                "-no-CAstore",
            ])
            .arg("-CAfile")
            .arg(&bundle)
            .arg("-CApath")
            .arg(&certs)
            .arg("-untrusted")
            .arg(&inter_pem)
            .arg(&leaf_pem)
            .output()
            .expect("openssl runs");
        (
            report["certificate"]["trusted"].as_bool().unwrap(),
            openssl.status.success(),
        )
    };
    // (what, the bundle file's certificates besides an unrelated root, the root in the directory,
    // trusted: known, or `None` for whatever OpenSSL says)
    let cases: [(&str, Vec<&Issued>, bool, Option<bool>); 5] = [
        ("the root in the directory", vec![], true, Some(true)),
        (
            "the root in the bundle file",
            vec![&pki.root],
            false,
            Some(true),
        ),
        ("in both", vec![&pki.root], true, Some(true)),
        ("in neither", vec![], false, Some(false)),
        (
            "another certificate with the root's name in the file",
            vec![&impostor],
            true,
            None,
        ),
    ];
    for (what, file, in_dir, trusted) in cases {
        let (ours, openssl) = verdicts(&file, in_dir);
        assert_eq!(
            ours, openssl,
            "{what}: cipher-test {ours}, openssl verify {openssl}"
        );
        if let Some(trusted) = trusted {
            assert_eq!(ours, trusted, "{what}");
        }
    }
}

#[test]
fn validity_problems() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.root_file(dir.path());
    for (spec, want, sev) in [
        (
            CertSpec::leaf("localhost").valid_days(-60, -1),
            "cert.expired",
            "error",
        ),
        (
            CertSpec::leaf("localhost").valid_days(5, 400),
            "cert.not_yet_valid",
            "error",
        ),
        (
            CertSpec::leaf("localhost").valid_days(-1, 10),
            "cert.expires_soon",
            "warning",
        ),
    ] {
        let leaf = pki.leaf(spec);
        let server = serve(vec![&leaf, &pki.inter], &leaf);
        let r = scan(&server, &["--ca-file", ca.to_str().unwrap()]);
        // "Put this CA in ca.crt" is advice only for a chain Envoy would accept, dates included.
        let expected = if want == "cert.expires_soon" {
            set(&[want, "gloo.root_ca"])
        } else {
            set(&[want])
        };
        assert_eq!(ids(&r), expected, "{want}: {:#}", r["findings"]);
        assert_eq!(severity(&r, want), sev);
    }
    // --warn-days moves the threshold.
    let leaf = pki.leaf(CertSpec::leaf("localhost").valid_days(-1, 10));
    let server = serve(vec![&leaf, &pki.inter], &leaf);
    let r = scan(
        &server,
        &["--ca-file", ca.to_str().unwrap(), "--warn-days", "5"],
    );
    assert_eq!(ids(&r), set(&["gloo.root_ca"]));
}

#[test]
fn self_signed_leaf() {
    let leaf = pki::self_signed(&CertSpec::leaf("localhost")).unwrap();
    let server = serve(vec![&leaf], &leaf);
    let r = scan(&server, &[]);
    assert_eq!(ids(&r), set(&["cert.self_signed", "cert.untrusted"]));
}

#[test]
fn wrong_host() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.root_file(dir.path());
    let leaf = pki.leaf(CertSpec::leaf("other.example.com"));
    let server = serve(vec![&leaf, &pki.inter], &leaf);
    let r = scan(&server, &["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(ids(&r), set(&["cert.hostname_mismatch", "gloo.root_ca"]));
    assert_eq!(severity(&r, "cert.hostname_mismatch"), "error");
    assert_eq!(r["certificate"]["hostname_match"], false);
    // A wildcard certificate matches one label, per RFC 6125.
    let wild = pki.leaf(CertSpec::leaf("*.example.com").sans(&["*.example.com"]));
    let server = serve(vec![&wild, &pki.inter], &wild);
    let ok = common::scan_json(
        server.port(),
        &[
            "--sni",
            "api.example.com",
            "--protocols",
            "tls1.3",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(ok["certificate"]["hostname_match"], true);
    let bad = common::scan_json(
        server.port(),
        &[
            "--sni",
            "a.b.example.com",
            "--protocols",
            "tls1.3",
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(bad["certificate"]["hostname_match"], false);
}

#[test]
fn missing_intermediate_and_wrong_order() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.root_file(dir.path());
    let leaf = pki.leaf(CertSpec::leaf("localhost"));
    let alone = serve(vec![&leaf], &leaf);
    let r = scan(&alone, &["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(ids(&r), set(&["cert.chain_incomplete", "cert.untrusted"]));
    let shuffled = serve(vec![&leaf, &pki.root, &pki.inter], &leaf);
    let r = scan(&shuffled, &["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(ids(&r), set(&["cert.chain_order", "gloo.root_ca"]));
}

#[test]
fn weak_signature_and_weak_key() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.root_file(dir.path());
    let sha1 = pki.leaf(CertSpec::leaf("localhost").digest(SigDigest::Sha1));
    let server = serve(vec![&sha1, &pki.inter], &sha1);
    let r = scan(&server, &["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(ids(&r), set(&["cert.weak_signature", "gloo.root_ca"]));
    let small = pki.leaf(CertSpec::leaf("localhost").key(KeyKind::Rsa1024));
    let server = serve(vec![&small, &pki.inter], &small);
    let r = scan(&server, &["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(ids(&r), set(&["cert.weak_key", "gloo.root_ca"]));
    assert_eq!(r["certificate"]["chain"][0]["key"], "RSA 1024");
}

#[test]
fn ocsp_staple_is_reported() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.root_file(dir.path());
    let leaf = pki.leaf(CertSpec::leaf("localhost"));
    let server = TlsServer::start(
        ServerConfig::default()
            .with_certificate(
                vec![leaf.cert.clone(), pki.inter.cert.clone()],
                leaf.key.clone(),
            )
            .with_ocsp_staple(pki::ocsp_response_der()),
    )
    .unwrap();
    let r = scan(&server, &["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(ids(&r), set(&["ocsp.stapled", "gloo.root_ca"]));
}

/// A server asking for client certificates, TLS 1.2 up to `max`: the certificate handshake runs at
/// `max` (so both TLS 1.2 and TLS 1.3 client-auth paths are tested), Envoy's at TLS 1.2.
fn mtls_server(auth: ClientAuth, max: SslVersion) -> TlsServer {
    TlsServer::start(
        ServerConfig::default()
            .with_versions(SslVersion::TLS1_2, max)
            .with_cipher_list("ECDHE-RSA-AES128-GCM-SHA256")
            .with_client_auth(auth),
    )
    .unwrap()
}

#[test]
fn client_certificate_required_in_tls12_and_tls13() {
    for version in [SslVersion::TLS1_2, SslVersion::TLS1_3] {
        let server = mtls_server(ClientAuth::Required, version);
        let r = common::scan_json(server.port(), &["--sni", "localhost"]);
        let auth = &r["client_auth"];
        assert_eq!(auth["requested"], true, "{version:?}");
        assert_eq!(auth["required"], true, "{version:?}");
        let cas: Vec<&str> = auth["acceptable_cas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(
            cas.iter().any(|c| c.contains("cipher-test client CA")),
            "{cas:?}"
        );
        assert_eq!(
            ids(&r),
            set(&["client_auth.required", "cert.self_signed", "cert.untrusted"]),
            "{version:?}"
        );
        // The cipher verdict still holds; the missing certificate is named as its own problem.
        let kinds: Vec<&str> = r["envoy"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["kind"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"client_certificate"),
            "{version:?}: {kinds:?}"
        );
        assert!(
            !kinds.contains(&"no_shared_cipher"),
            "{version:?}: {kinds:?}"
        );
    }
}

#[test]
fn client_certificate_optional() {
    let server = mtls_server(ClientAuth::Optional, SslVersion::TLS1_2);
    let r = common::scan_json(server.port(), &["--sni", "localhost"]);
    assert_eq!(r["client_auth"]["requested"], true);
    assert_eq!(r["client_auth"]["required"], false);
    assert_eq!(
        ids(&r),
        set(&["client_auth.optional", "cert.self_signed", "cert.untrusted"])
    );
    assert_eq!(r["envoy"]["verdict"], "compatible");
}

#[test]
fn presenting_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    for version in [SslVersion::TLS1_2, SslVersion::TLS1_3] {
        let server = mtls_server(ClientAuth::Required, version);
        let (cert, key) = server.issue_client_cert("envoy-client").unwrap();
        let (cert_file, key_file) =
            pki::write_pem(dir.path(), "client", &[&cert], Some(&key)).unwrap();
        let key_file = key_file.unwrap();
        let args = [
            "--sni",
            "localhost",
            "--cert",
            cert_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ];
        let r = common::scan_json(server.port(), &args);
        assert_eq!(
            r["client_auth"]["client_certificate"]["accepted"], true,
            "{version:?}: {:#}",
            r["client_auth"]
        );
        assert_eq!(
            ids(&r),
            set(&[
                "client_auth.required",
                "client_auth.accepted",
                "cert.self_signed",
                "cert.untrusted"
            ])
        );
        // Envoy with that certificate in its secret connects.
        assert_eq!(
            r["envoy"]["verdict"], "compatible",
            "{version:?}: {:#}",
            r["envoy"]
        );

        // A certificate from another CA is refused.
        let stranger_ca = pki::self_signed(&CertSpec::ca("stranger CA")).unwrap();
        let stranger = pki::issue(&CertSpec::leaf("envoy-client"), &stranger_ca).unwrap();
        let (c2, k2) = pki::write_pem(
            dir.path(),
            "stranger",
            &[&stranger.cert],
            Some(&stranger.key),
        )
        .unwrap();
        let k2 = k2.unwrap();
        let args = [
            "--sni",
            "localhost",
            "--cert",
            c2.to_str().unwrap(),
            "--key",
            k2.to_str().unwrap(),
        ];
        let r = common::scan_json(server.port(), &args);
        assert_eq!(r["client_auth"]["client_certificate"]["accepted"], false);
        assert!(
            ids(&r).contains("client_auth.rejected"),
            "{:#}",
            r["findings"]
        );
    }
}

#[test]
fn a_key_that_does_not_match_is_refused_before_connecting() {
    let server = mtls_server(ClientAuth::Required, SslVersion::TLS1_2);
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = server.issue_client_cert("a").unwrap();
    // A fresh key, not one from the test PKI's pool (another test may have drawn the same one).
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let other_key =
        openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    let (cert_file, _) = pki::write_pem(dir.path(), "a", &[&cert], None).unwrap();
    let (_, key_file) = pki::write_pem(dir.path(), "b", &[], Some(&other_key)).unwrap();
    let key_file = key_file.unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[
        &target,
        "--cert",
        cert_file.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("does not belong to the certificate"),
        "{}",
        out.stderr
    );
    assert_eq!(server.connections(), 0, "no connection may be made");
    // No key material on any output.
    let key_pem = String::from_utf8(other_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for window in body.as_bytes().chunks(24).filter(|c| c.len() == 24) {
        let w = std::str::from_utf8(window).unwrap();
        assert!(!out.stderr.contains(w) && !out.stdout.contains(w));
    }
}

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: upstream-tls
  namespace: gloo-system
type: TYPE
data:
  tls.crt: CRT
  tls.key: KEY
";

fn b64(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
}

#[test]
fn secret_command_on_manifests() {
    let leaf = pki::self_signed(&CertSpec::leaf("client")).unwrap();
    let other = pki::self_signed(&CertSpec::leaf("other")).unwrap();
    let crt = b64(&leaf.cert.to_pem().unwrap());
    let key_pem = leaf.key.private_key_to_pem_pkcs8().unwrap();
    let key = b64(&key_pem);
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "good",
            SECRET
                .replace("TYPE", "kubernetes.io/tls")
                .replace("CRT", &crt)
                .replace("KEY", &key),
            0,
            None,
        ),
        (
            "opaque",
            SECRET
                .replace("TYPE", "Opaque")
                .replace("CRT", &crt)
                .replace("KEY", &key),
            1,
            Some("secret.type"),
        ),
        (
            "mismatch",
            SECRET
                .replace("TYPE", "kubernetes.io/tls")
                .replace("CRT", &crt)
                .replace("KEY", &b64(&other.key.private_key_to_pem_pkcs8().unwrap())),
            1,
            Some("secret.key_mismatch"),
        ),
    ];
    for (name, manifest, code, id) in cases {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &manifest).unwrap();
        let out = common::run(&["secret", "-f", path.to_str().unwrap(), "--format", "json"]);
        assert_eq!(out.code, code, "{name}: {}{}", out.stdout, out.stderr);
        let r: Value = serde_json::from_str(&out.stdout).unwrap();
        let errors: Vec<&str> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        match id {
            Some(id) => assert_eq!(errors, [id], "{name}"),
            None => assert!(errors.is_empty(), "{name}: {errors:?}"),
        }
        let text = common::run(&["secret", "-f", path.to_str().unwrap()]);
        for window in key.as_bytes().chunks(24).filter(|c| c.len() == 24) {
            let w = std::str::from_utf8(window).unwrap();
            assert!(
                !text.stdout.contains(w) && !out.stdout.contains(w),
                "{name}: key bytes printed"
            );
        }
    }
    // Broken base64 is a clear error naming the key.
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        SECRET
            .replace("TYPE", "kubernetes.io/tls")
            .replace("CRT", "not-base64!!")
            .replace("KEY", &key),
    )
    .unwrap();
    let out = common::run(&["secret", "-f", path.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("tls.crt"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn remediate_writes_secret_ref_and_subject_alt_names_for_a_private_ca() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.root_file(dir.path());
    let leaf = pki.leaf(CertSpec::leaf("localhost"));
    let server = TlsServer::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA").with_certificate(
            vec![leaf.cert.clone(), pki.inter.cert.clone()],
            leaf.key.clone(),
        ),
    )
    .unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[
        "remediate",
        &target,
        "--sni",
        "localhost",
        "--ca-file",
        ca.to_str().unwrap(),
        "--secret",
        "upstream-ca",
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("glooctl create secret tls upstream-ca"),
        "{}",
        out.stderr
    );
    let Some(docs) = common::yaml11(&out.stdout) else {
        return;
    };
    let ssl = &docs[0]["spec"]["sslConfig"];
    assert_eq!(ssl["secretRef"]["name"], "upstream-ca");
    assert_eq!(
        ssl["verifySubjectAltName"],
        serde_json::json!(["localhost"])
    );
    assert_eq!(ssl["sni"], "localhost");
}
