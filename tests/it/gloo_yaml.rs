//! Gloo Upstream YAML through the public API of `cipher_test::gloo`: exact snapshots of what we
//! write, a YAML 1.1 (PyYAML) read-back that stands in for kubectl, patching a realistic Upstream
//! without touching anything else, and reading Upstreams from a `kind: List` and a mixed stream.

use crate::common;

use cipher_test::gloo::{
    merge_patch, parse_gloo_version, patch_manifest, read_upstreams, service_annotation,
    upstream_manifest, GlooError, SecretRef, SslParameters, StaticHost, UpstreamOptions,
    UpstreamTarget, MAX_DOCUMENTS, MAX_INPUT_BYTES,
};
use cipher_test::tls::protocol::Protocol;
use serde_json::{json, Value};

const STATIC_UPSTREAM: &str = include_str!("fixtures/gloo/upstream-static.yaml");
const UPSTREAM_LIST: &str = include_str!("fixtures/gloo/upstreams-list.yaml");

fn remediation() -> SslParameters {
    SslParameters {
        cipher_suites: vec![
            "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]".into(),
            "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]".into(),
            "ECDHE-RSA-AES256-SHA".into(),
        ],
        ecdh_curves: vec!["X25519".into(), "P-256".into(), "P-384".into()],
        minimum_protocol_version: Some(Protocol::Tls12),
        maximum_protocol_version: Some(Protocol::Tls13),
    }
}

fn secret() -> SecretRef {
    SecretRef {
        name: "legacy-ca".into(),
        namespace: "gloo-system".into(),
        ..SecretRef::default()
    }
}

fn static_ip_upstream() -> UpstreamOptions {
    UpstreamOptions {
        name: "legacy-api".into(),
        namespace: "gloo-system".into(),
        target: UpstreamTarget::Static(vec![StaticHost {
            addr: "10.0.0.5".into(),
            port: 443,
            sni_addr: None,
        }]),
        sni: Some("legacy.example.com".into()),
        secret: Some(secret()),
    }
}

/// Parses with serde-saphyr (YAML 1.2 reader) into JSON values.
fn saphyr_docs(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(yaml).expect("our own output must parse")
}

/// Parses with PyYAML, a YAML 1.1 reader like go-yaml behind kubectl (see `common::yaml11`).
fn pyyaml_docs(yaml: &str) -> Option<Value> {
    common::yaml11(yaml).map(Value::Array)
}

/// The JSON a YAML 1.1 reader (kubectl) gets from `yaml` must be exactly `want`.
fn assert_yaml11_reads(yaml: &str, want: Value) {
    if let Some(got) = pyyaml_docs(yaml) {
        assert_eq!(got, want, "YAML 1.1 reading of:\n{yaml}");
    }
}

const MANIFEST_SNAPSHOT: &str = r#"apiVersion: gloo.solo.io/v1
kind: Upstream
metadata:
  name: legacy-api
  namespace: gloo-system
spec:
  sslConfig:
    secretRef:
      name: legacy-ca
      namespace: gloo-system
    sni: legacy.example.com
    parameters:
      minimumProtocolVersion: TLSv1_2
      maximumProtocolVersion: TLSv1_3
      cipherSuites:
      - "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]"
      - "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]"
      - ECDHE-RSA-AES256-SHA
      ecdhCurves:
      - X25519
      - P-256
      - P-384
  static:
    hosts:
    - addr: "10.0.0.5"
      port: 443
      sniAddr: legacy.example.com
"#;

fn manifest_json() -> Value {
    json!({
        "apiVersion": "gloo.solo.io/v1",
        "kind": "Upstream",
        "metadata": {"name": "legacy-api", "namespace": "gloo-system"},
        "spec": {
            "sslConfig": {
                "secretRef": {"name": "legacy-ca", "namespace": "gloo-system"},
                "sni": "legacy.example.com",
                "parameters": {
                    "minimumProtocolVersion": "TLSv1_2",
                    "maximumProtocolVersion": "TLSv1_3",
                    "cipherSuites": [
                        "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
                        "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]",
                        "ECDHE-RSA-AES256-SHA"
                    ],
                    "ecdhCurves": ["X25519", "P-256", "P-384"]
                }
            },
            "static": {"hosts": [{"addr": "10.0.0.5", "port": 443, "sniAddr": "legacy.example.com"}]}
        }
    })
}

#[test]
fn static_ip_upstream_manifest_snapshot_and_round_trip() {
    // serde-saphyr quotes 10.0.0.5 because YAML 1.1's float pattern allows extra dots; harmless.
    let yaml = upstream_manifest(&static_ip_upstream(), &remediation());
    assert_eq!(yaml, MANIFEST_SNAPSHOT);
    assert_eq!(saphyr_docs(&yaml), vec![manifest_json()]);

    // And our own reader gets back what we wrote.
    let read = read_upstreams(&yaml).unwrap();
    assert_eq!(read.len(), 1);
    let up = &read[0];
    assert_eq!(
        (up.name.as_str(), up.namespace.as_str()),
        ("legacy-api", "gloo-system")
    );
    assert!(up.uses_tls);
    assert_eq!(up.parameters, remediation());
    assert_eq!(up.sni.as_deref(), Some("legacy.example.com"));
    assert_eq!(up.secret, Some(secret()));
    assert_eq!(
        up.target,
        UpstreamTarget::Static(vec![StaticHost {
            addr: "10.0.0.5".into(),
            port: 443,
            sni_addr: Some("legacy.example.com".into()),
        }])
    );
}

#[test]
fn kube_upstream_manifest_without_secret_or_parameters() {
    let opts = UpstreamOptions {
        name: "petstore".into(),
        namespace: "gloo-system".into(),
        target: UpstreamTarget::Kube {
            service_name: "petstore".into(),
            service_namespace: "default".into(),
            service_port: 8443,
        },
        sni: None,
        secret: None,
    };
    let yaml = upstream_manifest(&opts, &SslParameters::default());
    assert_eq!(
        yaml,
        "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata:\n  name: petstore\n  namespace: gloo-system\n\
         spec:\n  sslConfig: {}\n  kube:\n    serviceName: petstore\n    serviceNamespace: default\n    servicePort: 8443\n"
    );
}

#[test]
fn yaml11_readers_see_strings_where_we_wrote_strings() {
    // Every value here is a YAML 1.1 bool, null, number or flow trap when written bare.
    let tricky = SslParameters {
        cipher_suites: vec![
            "[A|B]".into(),
            "1.10".into(),
            "0755".into(),
            "a: b".into(),
            "~".into(),
            "2001-12-14".into(),
            "1:20".into(),
        ],
        ecdh_curves: vec!["y".into(), "n".into(), "off".into(), "NO".into()],
        minimum_protocol_version: Some(Protocol::Tls10),
        maximum_protocol_version: None,
    };
    let opts = UpstreamOptions {
        name: "yes".into(),
        namespace: "on".into(),
        target: UpstreamTarget::Static(vec![
            StaticHost {
                addr: "10.0.0.5".into(),
                port: 443,
                sni_addr: None,
            },
            StaticHost {
                addr: "true".into(),
                port: 8443,
                sni_addr: Some("null".into()),
            },
        ]),
        sni: Some("no".into()),
        secret: Some(SecretRef {
            name: "n".into(),
            namespace: "Off".into(),
            ..SecretRef::default()
        }),
    };
    let yaml = upstream_manifest(&opts, &tricky);
    let strings = |v: &[String]| v.iter().map(|s| json!(s)).collect::<Vec<_>>();
    let want = json!([{
        "apiVersion": "gloo.solo.io/v1",
        "kind": "Upstream",
        "metadata": {"name": "yes", "namespace": "on"},
        "spec": {
            "sslConfig": {
                "secretRef": {"name": "n", "namespace": "Off"},
                "sni": "no",
                "parameters": {
                    "minimumProtocolVersion": "TLSv1_0",
                    "cipherSuites": strings(&tricky.cipher_suites),
                    "ecdhCurves": strings(&tricky.ecdh_curves)
                }
            },
            "static": {"hosts": [
                {"addr": "10.0.0.5", "port": 443, "sniAddr": "no"},
                {"addr": "true", "port": 8443, "sniAddr": "null"}
            ]}
        }
    }]);
    assert_eq!(Value::Array(saphyr_docs(&yaml)), want);
    assert_yaml11_reads(&yaml, want);
    // PyYAML leaves bare y/n as strings, but go-yaml v2 (kubectl) reads them as bools: check the
    // text too. Ports stay bare integers.
    for quoted in [
        "name: \"n\"\n",
        "- \"y\"\n",
        "- \"n\"\n",
        "- \"1:20\"\n",
        "- \"[A|B]\"\n",
        "port: 443\n",
    ] {
        assert!(yaml.contains(quoted), "{quoted:?} missing in:\n{yaml}");
    }

    // The realistic manifest (labels "on"/"yes") after a patch.
    let patched = patch_manifest(STATIC_UPSTREAM, &remediation(), None, None).unwrap();
    let want = Value::Array(saphyr_docs(&patched));
    assert_eq!(want[0]["metadata"]["labels"]["tls"], json!("on"));
    assert_eq!(want[0]["metadata"]["labels"]["canary"], json!("yes"));
    assert_yaml11_reads(&patched, want);

    // The merge patch and the Service annotation, including the JSON-in-a-string annotation.
    let p = merge_patch("yes", "on", &tricky, Some("no"), None);
    let want: Value = serde_json::from_str(&p.json).unwrap();
    assert_yaml11_reads(&p.yaml, json!([want]));

    let snippet = service_annotation(&tricky, Some("on"), Some(&secret()));
    let want = json!([{"metadata": {"annotations": {
        // Key order as written: secretRef, sni, parameters (min, max, ciphers, curves).
        "gloo.solo.io/upstream_config": concat!(
            r#"{"sslConfig":{"secretRef":{"name":"legacy-ca","namespace":"gloo-system"},"sni":"on","#,
            r#""parameters":{"minimumProtocolVersion":"TLSv1_0","#,
            r#""cipherSuites":["[A|B]","1.10","0755","a: b","~","2001-12-14","1:20"],"#,
            r#""ecdhCurves":["y","n","off","NO"]}}}"#
        ),
        "gloo.solo.io/upstream_config.deep_merge": "true"
    }}}]);
    assert_eq!(Value::Array(saphyr_docs(&snippet)), want);
    assert_yaml11_reads(&snippet, want);
}

#[test]
fn merge_patch_json_and_kubectl_line() {
    let params = SslParameters {
        maximum_protocol_version: Some(Protocol::Tls13),
        ..remediation()
    };
    let p = merge_patch(
        "legacy-api",
        "gloo-system",
        &params,
        Some("legacy.example.com"),
        None,
    );
    let json = r#"{"spec":{"sslConfig":{"sni":"legacy.example.com","parameters":{"minimumProtocolVersion":"TLSv1_2","maximumProtocolVersion":"TLSv1_3","cipherSuites":["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]","[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]","ECDHE-RSA-AES256-SHA"],"ecdhCurves":["X25519","P-256","P-384"]}}}}"#;
    assert_eq!(p.json, json);
    assert_eq!(
        p.kubectl,
        format!("kubectl patch upstream legacy-api -n gloo-system --type merge -p '{json}'")
    );
    assert_eq!(
        p.yaml,
        r#"spec:
  sslConfig:
    sni: legacy.example.com
    parameters:
      minimumProtocolVersion: TLSv1_2
      maximumProtocolVersion: TLSv1_3
      cipherSuites:
      - "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]"
      - "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]"
      - ECDHE-RSA-AES256-SHA
      ecdhCurves:
      - X25519
      - P-256
      - P-384
"#
    );

    // Only what is given; a secret comes first, and an apostrophe survives shell quoting.
    let only_ciphers = SslParameters {
        cipher_suites: vec!["ECDHE-RSA-AES128-SHA".into()],
        ..SslParameters::default()
    };
    let s = SecretRef {
        name: "o'brien".into(),
        namespace: "team a".into(),
        ..SecretRef::default()
    };
    let p = merge_patch("api", "team a", &only_ciphers, None, Some(&s));
    assert_eq!(
        p.json,
        r#"{"spec":{"sslConfig":{"secretRef":{"name":"o'brien","namespace":"team a"},"parameters":{"cipherSuites":["ECDHE-RSA-AES128-SHA"]}}}}"#
    );
    assert_eq!(
        p.kubectl,
        r#"kubectl patch upstream api -n 'team a' --type merge -p '{"spec":{"sslConfig":{"secretRef":{"name":"o'\''brien","namespace":"team a"},"parameters":{"cipherSuites":["ECDHE-RSA-AES128-SHA"]}}}}'"#
    );
}

#[test]
fn service_annotation_snippet() {
    let params = SslParameters {
        cipher_suites: vec!["ECDHE-RSA-AES256-SHA".into()],
        ..SslParameters::default()
    };
    let snippet = service_annotation(&params, Some("petstore.default.svc"), None);
    let body: Vec<&str> = snippet.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        [
            "metadata:",
            "  annotations:",
            r#"    gloo.solo.io/upstream_config: '{"sslConfig":{"sni":"petstore.default.svc","parameters":{"cipherSuites":["ECDHE-RSA-AES256-SHA"]}}}'"#,
            r#"    gloo.solo.io/upstream_config.deep_merge: "true""#,
        ]
    );
    assert!(
        snippet.starts_with('#'),
        "explains deep_merge first:\n{snippet}"
    );
    assert!(snippet.contains("sslService"), "{snippet}");
}

#[test]
fn patch_manifest_changes_only_the_given_parameters() {
    let params = SslParameters {
        cipher_suites: vec![
            "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]".into(),
            "ECDHE-RSA-AES128-SHA".into(),
        ],
        ecdh_curves: vec!["X25519".into(), "P-256".into(), "P-384".into()],
        minimum_protocol_version: None,
        maximum_protocol_version: Some(Protocol::Tls13),
    };
    let patched = patch_manifest(STATIC_UPSTREAM, &params, None, None).unwrap();

    // Structure: the input plus exactly the three new parameters fields.
    let mut want = saphyr_docs(STATIC_UPSTREAM).remove(0);
    let p = &mut want["spec"]["sslConfig"]["parameters"];
    p["maximumProtocolVersion"] = json!("TLSv1_3");
    p["cipherSuites"] = json!(params.cipher_suites);
    p["ecdhCurves"] = json!(params.ecdh_curves);
    assert_eq!(saphyr_docs(&patched), vec![want]);

    // Text: the user's key order stays (metadata before spec, static before healthChecks,
    // sni before secretRef); the comment is the only thing lost; IPs get quoted for YAML 1.1.
    assert_eq!(
        patched,
        r#"apiVersion: gloo.solo.io/v1
kind: Upstream
metadata:
  name: payments-api
  namespace: gloo-system
  labels:
    app: payments
    tls: "on"
    canary: "yes"
  annotations:
    owner: platform@example.com
    note: "legacy: CBC only"
spec:
  static:
    hosts:
    - addr: "10.20.30.40"
      port: 443
    - addr: payments.internal.example.com
      port: 8443
      loadBalancingWeight: 2
  healthChecks:
  - timeout: 5s
    interval: 10s
    unhealthyThreshold: 3
    healthyThreshold: 1
    httpHealthCheck:
      path: /healthz
  loadBalancerConfig:
    roundRobin: {}
  connectionConfig:
    maxRequestsPerConnection: 100
  sslConfig:
    sni: payments.example.com
    secretRef:
      name: payments-ca
      namespace: gloo-system
    parameters:
      minimumProtocolVersion: TLSv1_2
      maximumProtocolVersion: TLSv1_3
      cipherSuites:
      - "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]"
      - ECDHE-RSA-AES128-SHA
      ecdhCurves:
      - X25519
      - P-256
      - P-384
"#
    );

    // Patching the result again with the same values changes nothing.
    assert_eq!(
        patch_manifest(&patched, &params, None, None).unwrap(),
        patched
    );
}

#[test]
fn patch_manifest_sets_sni_and_secret_and_host_sni_addrs() {
    let mtls = SecretRef {
        name: "payments-mtls".into(),
        namespace: "gloo-system".into(),
        ..SecretRef::default()
    };
    let patched = patch_manifest(
        STATIC_UPSTREAM,
        &SslParameters::default(),
        Some("api.payments.example.com"),
        Some(&mtls),
    )
    .unwrap();
    let mut want = saphyr_docs(STATIC_UPSTREAM).remove(0);
    let ssl = &mut want["spec"]["sslConfig"];
    ssl["sni"] = json!("api.payments.example.com");
    ssl["secretRef"] = json!({"name": "payments-mtls", "namespace": "gloo-system"});
    // autoSniRewrite would send each host's addr; sniAddr makes both hosts send the asked SNI.
    for host in want["spec"]["static"]["hosts"].as_array_mut().unwrap() {
        host["sniAddr"] = json!("api.payments.example.com");
    }
    assert_eq!(saphyr_docs(&patched), vec![want]);
    assert!(
        patched.contains(
            "    - addr: payments.internal.example.com\n      port: 8443\n      sniAddr: api.payments.example.com\n      loadBalancingWeight: 2\n"
        ),
        "sniAddr goes right after port:\n{patched}"
    );
}

#[test]
fn patch_manifest_adds_ssl_config_in_kubectl_key_order() {
    // `kubectl get -o yaml` prints keys sorted; a new key is put where it sorts.
    let exported = "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata:\n  name: petstore\n  namespace: gloo-system\n\
                    spec:\n  discoveryMetadata: {}\n  kube:\n    serviceName: petstore\n    serviceNamespace: default\n    servicePort: 8443\n  useHttp2: false\n";
    let params = SslParameters {
        maximum_protocol_version: Some(Protocol::Tls13),
        ..SslParameters::default()
    };
    let patched = patch_manifest(exported, &params, None, None).unwrap();
    assert!(
        patched.contains(
            "    servicePort: 8443\n  sslConfig:\n    parameters:\n      maximumProtocolVersion: TLSv1_3\n  useHttp2: false\n"
        ),
        "{patched}"
    );
}

#[test]
fn patch_manifest_refuses_what_it_cannot_patch() {
    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: petstore\nspec:\n  ports:\n  - port: 443\n";
    let err = patch_manifest(service, &remediation(), None, None).unwrap_err();
    assert!(matches!(err, GlooError::NotAnUpstream { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("is a Service, not a gloo.solo.io/v1 Upstream"),
        "{msg}"
    );
    assert!(msg.contains("gloo.solo.io/upstream_config"), "{msg}");

    let broken =
        "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata:\n  name: [broken\n  namespace: x\n";
    let err = patch_manifest(broken, &remediation(), None, None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            GlooError::Yaml {
                line: Some(_),
                column: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(msg.starts_with("invalid YAML at line "), "{msg}");

    let two = format!("{STATIC_UPSTREAM}---\n{STATIC_UPSTREAM}");
    let err = patch_manifest(&two, &remediation(), None, None).unwrap_err();
    assert!(
        matches!(err, GlooError::NotOneDocument { found: 2 }),
        "{err:?}"
    );

    let err = patch_manifest("", &remediation(), None, None).unwrap_err();
    assert!(
        matches!(err, GlooError::NotOneDocument { found: 0 }),
        "{err:?}"
    );

    // Gloo allows one of secretRef / sslFiles / sds.
    let files = STATIC_UPSTREAM.replace(
        "    secretRef:\n      name: payments-ca\n      namespace: gloo-system\n",
        "    sslFiles:\n      rootCa: /etc/ssl/ca.pem\n",
    );
    let err = patch_manifest(&files, &SslParameters::default(), None, Some(&secret())).unwrap_err();
    assert!(err.to_string().contains("already has sslFiles"), "{err}");

    // The fixture has minimumProtocolVersion TLSv1_2; a maximum below it is refused.
    let low_max = SslParameters {
        maximum_protocol_version: Some(Protocol::Tls11),
        ..SslParameters::default()
    };
    let err = patch_manifest(STATIC_UPSTREAM, &low_max, None, None).unwrap_err();
    assert!(
        err.to_string().contains(
            "minimumProtocolVersion TLSv1_2 would be above maximumProtocolVersion TLSv1_1"
        ),
        "{err}"
    );
}

#[test]
fn read_upstreams_from_a_kubectl_list() {
    let ups = read_upstreams(UPSTREAM_LIST).unwrap();
    let names: Vec<_> = ups.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["default-petstore-8443", "legacy-billing", "metrics-http"]
    );

    let kube = &ups[0];
    assert!(kube.uses_tls, "sslConfig present");
    assert_eq!(
        kube.target,
        UpstreamTarget::Kube {
            service_name: "petstore".into(),
            service_namespace: "default".into(),
            service_port: 8443,
        }
    );
    assert_eq!(kube.sni.as_deref(), Some("petstore.default.svc"));
    assert_eq!(
        kube.secret,
        Some(SecretRef {
            name: "petstore-ca".into(),
            namespace: "default".into(),
            ..SecretRef::default()
        })
    );
    assert_eq!(kube.parameters.cipher_suites.len(), 3);
    assert_eq!(kube.parameters.minimum_protocol_version, None, "TLS_AUTO");
    assert_eq!(
        kube.parameters.maximum_protocol_version,
        Some(Protocol::Tls13)
    );

    let billing = &ups[1];
    assert!(
        billing.uses_tls,
        "static host on 443 without useTls: Gloo adds TLS"
    );
    assert_eq!(billing.sni, None);
    assert!(billing.parameters.is_empty());

    let metrics = &ups[2];
    assert!(!metrics.uses_tls, "static host on 80");
    assert_eq!(metrics.namespace, "monitoring");
}

#[test]
fn read_upstreams_from_a_mixed_stream() {
    let stream = r#"
# exported by hand
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata:
  name: plain-443
  namespace: edge
spec:
  static:
    useTls: false
    hosts:
    - addr: plain.example.com
      port: 443
---
apiVersion: v1
kind: Service
metadata:
  name: petstore
  namespace: default
  annotations:
    gloo.solo.io/sslService.secret: petstore-tls
spec:
  ports:
  - port: 443
---
---
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata:
  name: forced-tls
  namespace: edge
spec:
  static:
    useTls: true
    hosts:
    - addr: 192.0.2.10
      port: 8443
      sniAddr: secure.example.com
"#;
    let ups = read_upstreams(stream).unwrap();
    assert_eq!(
        ups.len(),
        2,
        "the Service and the empty document are skipped"
    );
    assert_eq!(ups[0].name, "plain-443");
    assert!(!ups[0].uses_tls, "useTls: false turns off auto-TLS on 443");
    assert_eq!(ups[1].name, "forced-tls");
    assert!(ups[1].uses_tls);
    assert_eq!(
        ups[1].target,
        UpstreamTarget::Static(vec![StaticHost {
            addr: "192.0.2.10".into(),
            port: 8443,
            sni_addr: Some("secure.example.com".into()),
        }])
    );
}

#[test]
fn read_upstreams_names_the_bad_field() {
    let bad = "apiVersion: gloo.solo.io/v1\nkind: Upstream\nmetadata:\n  name: a\n  namespace: b\n\
               spec:\n  static:\n    hosts:\n    - addr: x.example.com\n      port: https\n";
    let msg = read_upstreams(bad).unwrap_err().to_string();
    assert!(
        msg.contains(
            "Upstream b/a (document 1): spec.static.hosts[0].port: expected a port number"
        ),
        "{msg}"
    );

    let bad_version = UPSTREAM_LIST.replace("TLSv1_3", "TLSv1.3");
    let msg = read_upstreams(&bad_version).unwrap_err().to_string();
    assert!(msg.contains("items[0]"), "{msg}");
    assert!(msg.contains("unknown Gloo TLS version 'TLSv1.3'"), "{msg}");
}

#[test]
fn input_limits() {
    let huge = "#".repeat(MAX_INPUT_BYTES + 1);
    let err = read_upstreams(&huge).unwrap_err();
    assert!(matches!(err, GlooError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("split it"), "{err}");

    let many = "a: 1\n---\n".repeat(MAX_DOCUMENTS + 1);
    let err = read_upstreams(&many).unwrap_err();
    assert!(matches!(err, GlooError::TooManyDocuments { .. }), "{err:?}");

    // Ten levels of ten aliases each: 10^7 nodes from a few hundred bytes.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let err = read_upstreams(&bomb).unwrap_err();
    assert!(matches!(err, GlooError::OverLimit { .. }), "{err:?}");

    // One big anchor replayed many times.
    let flat = format!(
        "a: &a [{}]\nb: [{}]\n",
        vec!["x"; 1000].join(","),
        vec!["*a"; 200].join(",")
    );
    let err = read_upstreams(&flat).unwrap_err();
    assert!(matches!(err, GlooError::OverLimit { .. }), "{err:?}");
    assert!(err.to_string().contains("alias"), "{err}");
}

#[test]
fn gloo_version_names() {
    assert_eq!(
        parse_gloo_version("TLSv1_2").unwrap(),
        Some(Protocol::Tls12)
    );
    assert_eq!(parse_gloo_version("TLS_AUTO").unwrap(), None);
    assert!(parse_gloo_version("tlsv1_2").is_err());
}

#[test]
fn mangled_input_gives_errors_not_panics() {
    // Prefixes of two realistic inputs, and each with a byte swapped for a YAML indicator;
    // strided to keep the test near a second in a debug build.
    fn patch(yaml: &str) {
        let _ = patch_manifest(yaml, &remediation(), Some("x.example.com"), Some(&secret()));
    }
    fn read(yaml: &str) {
        let _ = read_upstreams(yaml);
    }
    type Run = fn(&str);
    let cases: [(&str, Run); 2] = [(STATIC_UPSTREAM, patch), (UPSTREAM_LIST, read)];
    for (input, run) in cases {
        let cuts = (0..=input.len()).filter(|i| input.is_char_boundary(*i));
        for cut in cuts.step_by(11) {
            run(&input[..cut]);
        }
        for (i, ch) in input.char_indices().step_by(23) {
            if !ch.is_ascii() {
                continue;
            }
            for indicator in [":", "- ", "[", "{", "&a ", "*a", "!!int ", "|", "\"", "\t"] {
                let mut mangled = input.to_string();
                mangled.replace_range(i..i + 1, indicator);
                run(&mangled);
            }
        }
    }
}
