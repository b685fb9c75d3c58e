//! `cipher-test secret` linting (`cipher_test::secret`): manifests (data and stringData), PEM
//! files, Gloo's type rule, key pairs, broken input, and that no private key material ever reaches
//! a report, a rendering or an error message. No network.

use std::time::{SystemTime, UNIX_EPOCH};

use cipher_test::cert::{Finding, Severity};
use cipher_test::cmd::secret::{
    from_files, from_manifest, lint, render_text, SecretError, SecretInput, SecretReport,
};
use cipher_test::testing::pki::{issue, self_signed, CertSpec, Issued, KeyKind};
use openssl::base64::encode_block;
use openssl::symm::Cipher;

const WARN_DAYS: u32 = 30;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A client certificate chain (leaf, intermediate), its key, and the CA of an upstream server.
struct Material {
    root: Issued,
    inter: Issued,
    leaf: Issued,
    upstream_ca: Issued,
}

fn material_with_leaf(leaf: CertSpec) -> Material {
    let root = self_signed(&CertSpec::ca("Client Root")).unwrap();
    let inter = issue(&CertSpec::ca("Client Intermediate"), &root).unwrap();
    let leaf = issue(&leaf, &inter).unwrap();
    let upstream_ca = self_signed(&CertSpec::ca("Upstream Root")).unwrap();
    Material {
        root,
        inter,
        leaf,
        upstream_ca,
    }
}

fn material() -> Material {
    material_with_leaf(CertSpec::leaf("client.example.com"))
}

fn pem(certs: &[&Issued]) -> String {
    certs
        .iter()
        .map(|c| String::from_utf8(c.cert.to_pem().unwrap()).unwrap())
        .collect()
}

fn key_pem(issued: &Issued) -> String {
    String::from_utf8(issued.key.private_key_to_pem_pkcs8().unwrap()).unwrap()
}

/// A Secret manifest with base64 `data`; `None` type leaves the field out.
fn manifest(secret_type: Option<&str>, entries: &[(&str, &str)]) -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: upstream-tls\n  namespace: gloo-system\n",
    );
    if let Some(t) = secret_type {
        yaml.push_str(&format!("type: {t}\n"));
    }
    yaml.push_str("data:\n");
    for (key, value) in entries {
        yaml.push_str(&format!("  {key}: {}\n", encode_block(value.as_bytes())));
    }
    yaml
}

fn good_manifest(m: &Material, secret_type: Option<&str>) -> String {
    manifest(
        secret_type,
        &[
            ("tls.crt", &pem(&[&m.leaf, &m.inter])),
            ("tls.key", &key_pem(&m.leaf)),
            ("ca.crt", &pem(&[&m.root])),
        ],
    )
}

fn lint_yaml(yaml: &str) -> SecretReport {
    lint(
        &from_manifest(yaml, "secret.yaml").unwrap(),
        now(),
        WARN_DAYS,
    )
}

fn find<'a>(report: &'a SecretReport, id: &str) -> Option<&'a Finding> {
    report.findings.iter().find(|f| f.id == id)
}

#[track_caller]
fn expect<'a>(report: &'a SecretReport, id: &str, severity: Severity) -> &'a Finding {
    let f = find(report, id).unwrap_or_else(|| panic!("no {id} in {:#?}", report.findings));
    assert_eq!(f.severity, severity, "{f:#?}");
    f
}

#[track_caller]
fn no_errors(report: &SecretReport) {
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Error),
        "{:#?}",
        report.findings
    );
}

/// 24-character windows of the key's base64 body, and of the base64 of the whole PEM (the form
/// a manifest's `data` holds): none of them may appear in `text`.
#[track_caller]
fn assert_no_key_material(text: &str, key_pem: &str) {
    let body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let data_form = encode_block(key_pem.as_bytes());
    for source in [&body, &data_form] {
        let chars: Vec<char> = source.chars().collect();
        for start in (0..chars.len().saturating_sub(24)).step_by(12) {
            let window: String = chars[start..start + 24].iter().collect();
            assert!(
                !text.contains(&window),
                "key material {window:?} leaked into:\n{text}"
            );
        }
    }
}

#[track_caller]
fn assert_report_has_no_key_material(report: &SecretReport, key_pem: &str) {
    assert_no_key_material(&render_text(report), key_pem);
    assert_no_key_material(&serde_json::to_string(report).unwrap(), key_pem);
    assert_no_key_material(&format!("{report:?}"), key_pem);
}

#[test]
fn good_tls_secret_has_no_findings() {
    let m = material();
    let report = lint_yaml(&good_manifest(&m, Some("kubernetes.io/tls")));
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.secret_type.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(report.chain.len(), 2);
    assert_eq!(report.chain[0].subject, "CN=client.example.com");
    assert_eq!(report.ca.len(), 1);
    assert!(
        report.source.contains("gloo-system/upstream-tls"),
        "{}",
        report.source
    );
    let text = render_text(&report);
    assert!(text.contains("No problems found."), "{text}");
    assert!(text.contains("CN=client.example.com"), "{text}");
    assert!(text.contains("RSA 2048"), "{text}");
    assert_report_has_no_key_material(&report, &key_pem(&m.leaf));
}

#[test]
fn opaque_secret_is_an_error_with_the_fix() {
    let m = material();
    for (t, shown) in [
        (Some("Opaque"), "Opaque"),
        (None, "Opaque"),
        (Some("generic"), "generic"),
    ] {
        let report = lint_yaml(&good_manifest(&m, t));
        assert_eq!(report.secret_type.as_deref(), Some(shown));
        let f = expect(&report, "secret.type", Severity::Error);
        for needle in [
            "kubernetes.io/tls",
            "ignores generic",
            "kubectl create secret tls NAME --cert=tls.crt --key=tls.key",
            "kubectl cannot add ca.crt",
            "glooctl create secret tls NAME --certchain tls.crt --privatekey tls.key --rootca ca.crt",
        ] {
            assert!(f.message.contains(needle), "{needle:?} not in {}", f.message);
        }
        let text = render_text(&report);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("error   secret.type: "),
            "{text}"
        );
    }
}

#[test]
fn key_that_does_not_belong_to_the_certificate() {
    let m = material();
    let stranger = issue(
        &CertSpec::leaf("other.example.com").key(KeyKind::EcdsaP256),
        &m.inter,
    )
    .unwrap();
    let yaml = manifest(
        Some("kubernetes.io/tls"),
        &[
            ("tls.crt", &pem(&[&m.leaf, &m.inter])),
            ("tls.key", &key_pem(&stranger)),
        ],
    );
    let report = lint_yaml(&yaml);
    let f = expect(&report, "secret.key_mismatch", Severity::Error);
    assert!(f.message.contains("CN=client.example.com"), "{}", f.message);
    assert_report_has_no_key_material(&report, &key_pem(&stranger));

    // The leaf's key with the intermediate first: the key matches certificate 2.
    let yaml = manifest(
        Some("kubernetes.io/tls"),
        &[
            ("tls.crt", &pem(&[&m.inter, &m.leaf])),
            ("tls.key", &key_pem(&m.leaf)),
        ],
    );
    let report = lint_yaml(&yaml);
    let f = expect(&report, "secret.key_mismatch", Severity::Error);
    assert!(
        f.message.contains("leaf certificate first"),
        "{}",
        f.message
    );
    expect(&report, "cert.chain_order", Severity::Warning);
    assert_report_has_no_key_material(&report, &key_pem(&m.leaf));
}

#[test]
fn broken_base64_names_the_key_and_hides_the_value() {
    let m = material();
    let good = good_manifest(&m, Some("kubernetes.io/tls"));
    let key_data = encode_block(key_pem(&m.leaf).as_bytes());
    let broken = good.replace(
        &key_data,
        &format!("{}!!{}", &key_data[..40], &key_data[40..]),
    );
    let err = from_manifest(&broken, "secret.yaml").unwrap_err();
    assert!(
        matches!(&err, SecretError::Base64 { key, .. } if key == "tls.key"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("data.tls.key"), "{text}");
    assert_no_key_material(&text, &key_pem(&m.leaf));

    // PEM text pasted under data instead of stringData.
    let raw = format!(
        "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {{name: x}}\ndata:\n  tls.key: |\n{}",
        key_pem(&m.leaf).lines().map(|l| format!("    {l}\n")).collect::<String>()
    );
    let err = from_manifest(&raw, "secret.yaml").unwrap_err();
    assert!(err.to_string().contains("stringData"), "{err}");
    assert_no_key_material(&err.to_string(), &key_pem(&m.leaf));
}

#[test]
fn string_data_form_reads_like_data() {
    let m = material();
    let indent = |text: &str| {
        text.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: upstream-tls\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}  ca.crt: |\n{}",
        indent(&pem(&[&m.leaf, &m.inter])),
        indent(&key_pem(&m.leaf)),
        indent(&pem(&[&m.root]))
    );
    let input = from_manifest(&yaml, "secret.yaml").unwrap();
    assert_eq!(input.source, "secret.yaml (Secret upstream-tls)");
    let report = lint(&input, now(), WARN_DAYS);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.chain.len(), 2);

    // stringData wins over data for the same key, as the API server merges them.
    let mut merged = manifest(
        Some("kubernetes.io/tls"),
        &[("tls.crt", "garbage"), ("tls.key", &key_pem(&m.leaf))],
    );
    merged.push_str(&format!(
        "stringData:\n  tls.crt: |\n{}",
        indent(&pem(&[&m.leaf]))
    ));
    let report = lint_yaml(&merged);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn files_form() {
    let m = material();
    let dir = tempfile::tempdir().unwrap();
    let crt = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    let ca = dir.path().join("ca.crt");
    std::fs::write(&crt, pem(&[&m.leaf, &m.inter])).unwrap();
    std::fs::write(&key, key_pem(&m.leaf)).unwrap();
    std::fs::write(&ca, pem(&[&m.upstream_ca])).unwrap();

    let input = from_files(&crt, Some(&key), Some(&ca)).unwrap();
    assert_eq!(input.secret_type, None);
    assert!(input.source.contains("tls.key="), "{}", input.source);
    let report = lint(&input, now(), WARN_DAYS);
    no_errors(&report);
    // ca.crt verifies the upstream, not this client certificate: info only.
    let f = expect(&report, "secret.ca_not_issuer", Severity::Info);
    assert!(f.message.contains("normal"), "{}", f.message);
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    assert_report_has_no_key_material(&report, &key_pem(&m.leaf));
    assert_no_key_material(&format!("{input:?}"), &key_pem(&m.leaf));

    let input = from_files(&crt, None, None).unwrap();
    let report = lint(&input, now(), WARN_DAYS);
    expect(&report, "secret.missing_key", Severity::Error);

    let err = from_files(&dir.path().join("missing.crt"), None, None).unwrap_err();
    assert!(matches!(err, SecretError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.crt"), "{err}");
}

#[test]
fn only_ca_crt_is_valid_for_root_ca_use() {
    let m = material();
    let yaml = manifest(
        Some("kubernetes.io/tls"),
        &[
            ("tls.crt", ""),
            ("tls.key", ""),
            ("ca.crt", &pem(&[&m.upstream_ca])),
        ],
    );
    let report = lint_yaml(&yaml);
    no_errors(&report);
    expect(&report, "secret.ca_only", Severity::Info);
    assert_eq!(report.ca.len(), 1);
    assert!(report.chain.is_empty());

    // Without the (empty) keys, the API server would refuse a kubernetes.io/tls Secret: say so.
    let yaml = manifest(
        Some("kubernetes.io/tls"),
        &[("ca.crt", &pem(&[&m.upstream_ca]))],
    );
    let report = lint_yaml(&yaml);
    let f = expect(&report, "secret.ca_only", Severity::Info);
    assert!(f.message.contains("empty values"), "{}", f.message);

    let empty = manifest(Some("kubernetes.io/tls"), &[]);
    let report = lint_yaml(&empty);
    expect(&report, "secret.missing_cert", Severity::Error);
    expect(&report, "secret.missing_key", Severity::Error);
}

#[test]
fn missing_cert_or_key() {
    let m = material();
    let report = lint_yaml(&manifest(
        Some("kubernetes.io/tls"),
        &[("tls.key", &key_pem(&m.leaf))],
    ));
    expect(&report, "secret.missing_cert", Severity::Error);
    assert!(find(&report, "secret.missing_key").is_none());
    let report = lint_yaml(&manifest(
        Some("kubernetes.io/tls"),
        &[("tls.crt", &pem(&[&m.leaf]))],
    ));
    let f = expect(&report, "secret.missing_key", Severity::Error);
    assert!(f.message.contains("both or none"), "{}", f.message);
    assert!(find(&report, "secret.missing_cert").is_none());
}

#[test]
fn broken_pem_is_named_never_echoed() {
    let m = material();
    let key = key_pem(&m.leaf);
    let crt = pem(&[&m.leaf, &m.inter]);
    let lines: Vec<&str> = key.lines().collect();
    let truncated_key = lines[..lines.len() / 2].join("\n");
    let damaged_key = key.replacen(&lines[3][..10], "#########~", 1);
    let encrypted = String::from_utf8(
        m.leaf
            .key
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"pw")
            .unwrap(),
    )
    .unwrap();
    let traditional = String::from_utf8(
        m.leaf
            .key
            .rsa()
            .unwrap()
            .private_key_to_pem_passphrase(Cipher::aes_128_cbc(), b"pw")
            .unwrap(),
    )
    .unwrap();
    let cases: Vec<(&str, String, String, &str)> = vec![
        ("cut-off key", crt.clone(), truncated_key, "no END line"),
        ("damaged key", crt.clone(), damaged_key, "not valid base64"),
        (
            "encrypted PKCS#8",
            crt.clone(),
            encrypted.clone(),
            "encrypted",
        ),
        (
            "encrypted traditional",
            crt.clone(),
            traditional.clone(),
            "encrypted",
        ),
        ("swapped", key.clone(), crt.clone(), "swapped"),
        ("key is a certificate", crt.clone(), crt.clone(), "swapped"),
        ("not PEM", crt.clone(), "hello".to_string(), "no PEM block"),
    ];
    for (name, tls_crt, tls_key, needle) in cases {
        let input = SecretInput {
            source: name.to_string(),
            secret_type: Some("kubernetes.io/tls".to_string()),
            tls_crt: Some(tls_crt.into_bytes()),
            tls_key: Some(tls_key.into_bytes()),
            ca_crt: None,
        };
        let report = lint(&input, now(), WARN_DAYS);
        let f = expect(&report, "pem.invalid", Severity::Error);
        assert!(f.message.contains(needle), "{name}: {}", f.message);
        assert!(
            f.message.contains("tls.key") || f.message.contains("tls.crt"),
            "{name}: {}",
            f.message
        );
        for secret in [&key, &encrypted, &traditional] {
            assert_report_has_no_key_material(&report, secret);
        }
    }

    // A certificate block whose body is base64 but not a certificate.
    let bogus = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        encode_block(b"definitely not DER")
    );
    let input = SecretInput {
        source: "bogus".to_string(),
        secret_type: None,
        tls_crt: Some(bogus.into_bytes()),
        tls_key: Some(key.clone().into_bytes()),
        ca_crt: None,
    };
    let report = lint(&input, now(), WARN_DAYS);
    let f = expect(&report, "pem.invalid", Severity::Error);
    assert!(f.message.contains("line 1 of tls.crt"), "{}", f.message);
    assert!(f.message.contains("not a valid X.509"), "{}", f.message);
}

#[test]
fn double_base64_is_recognised() {
    let m = material();
    let once = encode_block(pem(&[&m.leaf]).as_bytes());
    let yaml = manifest(
        Some("kubernetes.io/tls"),
        &[("tls.crt", &once), ("tls.key", &key_pem(&m.leaf))],
    );
    let report = lint_yaml(&yaml);
    let f = expect(&report, "pem.invalid", Severity::Error);
    assert!(f.message.contains("twice"), "{}", f.message);
}

#[test]
fn invalid_ca_crt() {
    let m = material();
    let yaml = manifest(
        Some("kubernetes.io/tls"),
        &[
            ("tls.crt", &pem(&[&m.leaf, &m.inter])),
            ("tls.key", &key_pem(&m.leaf)),
            ("ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n"),
        ],
    );
    let report = lint_yaml(&yaml);
    let f = expect(&report, "ca.invalid", Severity::Error);
    assert!(f.message.contains("ca.crt"), "{}", f.message);
    assert!(f.message.contains("no END line"), "{}", f.message);
    assert!(find(&report, "secret.ca_not_issuer").is_none());
}

#[test]
fn chain_checks_from_cert_apply_to_tls_crt() {
    let m = material_with_leaf(
        CertSpec::leaf("client.example.com")
            .valid_days(-30, -1)
            .key(KeyKind::Rsa1024),
    );
    let yaml = manifest(
        Some("kubernetes.io/tls"),
        &[
            ("tls.crt", &pem(&[&m.leaf, &m.inter])),
            ("tls.key", &key_pem(&m.leaf)),
        ],
    );
    let report = lint_yaml(&yaml);
    expect(&report, "cert.expired", Severity::Error);
    let f = expect(&report, "cert.weak_key", Severity::Warning);
    assert!(f.message.contains("FIPS"), "{}", f.message);
    // Errors first in the report and in the text.
    let text = render_text(&report);
    let first = text.lines().nth(1).unwrap();
    assert!(first.starts_with("error"), "{text}");
    assert_report_has_no_key_material(&report, &key_pem(&m.leaf));
}

#[test]
fn manifests_that_are_not_one_secret() {
    let upstream = "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata: {name: u}\n";
    let err = from_manifest(upstream, "u.yaml").unwrap_err();
    assert!(matches!(err, SecretError::NotASecret { .. }), "{err}");
    assert!(
        err.to_string().contains("Upstream gloo.solo.io/v1"),
        "{err}"
    );
    assert!(err.to_string().contains("kubectl get secret"), "{err}");

    let m = material();
    let one = good_manifest(&m, Some("kubernetes.io/tls"));
    let err = from_manifest(&format!("{one}---\n{one}"), "two.yaml").unwrap_err();
    assert!(
        matches!(err, SecretError::MultipleSecrets { count: 2, .. }),
        "{err}"
    );

    // A `kubectl get secret -o yaml` List with one item, next to an Upstream, is fine.
    let indented: String = one.lines().map(|l| format!("  {l}\n")).collect();
    let list = format!("{upstream}---\napiVersion: v1\nkind: List\nitems:\n-\n{indented}");
    assert!(from_manifest(&list, "list.yaml").is_ok());

    // A YAML error must not quote the input, which holds the key.
    let key = key_pem(&m.leaf);
    let bad = format!(
        "{one}  tls.extra: \"{}\n  [unclosed: {{\n",
        encode_block(key.as_bytes())
    );
    let err = from_manifest(&bad, "bad.yaml").unwrap_err();
    assert!(matches!(err, SecretError::Yaml { .. }), "{err}");
    assert_no_key_material(&err.to_string(), &key);
}
