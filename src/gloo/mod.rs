//! Gloo Edge `Upstream` YAML: writes manifests, merge patches and Service annotations that set
//! `sslConfig` (secretRef, sni, parameters), patches existing Upstream manifests and reads Upstreams back.
//! The only module that knows Gloo's schema; it knows nothing about probes, catalogues or verdicts.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::envoy::view::EnvoySni;
use crate::envoy::{self, TlsParams};
use crate::target::HostPort;
use crate::tls::protocol::Protocol;

/// Largest YAML input accepted by [`patch_manifest`] and [`read_upstreams`] (8 MiB).
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;

/// Most YAML documents accepted in one input stream.
pub const MAX_DOCUMENTS: usize = 10_000;

/// The Upstream API group and version this module writes and accepts.
const UPSTREAM_API_VERSION: &str = "gloo.solo.io/v1";

/// Canonical key orders used when a key has to be added to an existing mapping (proto field order,
/// which is also the order people write them in).
const SPEC_ORDER: &[&str] = &["sslConfig", "static", "kube"];
const SSL_CONFIG_ORDER: &[&str] = &[
    "secretRef",
    "sslFiles",
    "sds",
    "sni",
    "verifySubjectAltName",
    "parameters",
    "alpnProtocols",
    "allowRenegotiation",
    "oneWayTls",
];
const PARAMETERS_ORDER: &[&str] = &[
    "minimumProtocolVersion",
    "maximumProtocolVersion",
    "cipherSuites",
    "ecdhCurves",
];
const HOST_ORDER: &[&str] = &[
    "addr",
    "port",
    "sniAddr",
    "loadBalancingWeight",
    "healthCheckConfig",
    "metadata",
];

/// Gloo `sslConfig.parameters` (SslParameters): only the fields that are set are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslParameters {
    /// Envoy cipher entries as-is, e.g. `[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]`;
    /// empty means not set. A list replaces Envoy's whole default list, it does not add to it.
    pub cipher_suites: Vec<String>,
    /// ECDH curve names, e.g. `["X25519", "P-256", "P-384"]`; empty means not set.
    pub ecdh_curves: Vec<String>,
    /// `minimumProtocolVersion`; `None` means not set. SSLv3 is written as `TLSv1_0`, the lowest
    /// version Gloo can express (Envoy has no SSLv3).
    pub minimum_protocol_version: Option<Protocol>,
    /// `maximumProtocolVersion`; `None` means not set. SSLv3 is written as `TLSv1_0`, as above.
    pub maximum_protocol_version: Option<Protocol>,
}

impl SslParameters {
    /// True when no field is set, so no `parameters` block is written at all.
    pub fn is_empty(&self) -> bool {
        self.cipher_suites.is_empty()
            && self.ecdh_curves.is_empty()
            && self.minimum_protocol_version.is_none()
            && self.maximum_protocol_version.is_none()
    }

    /// The fields that are set, in the order people write them.
    fn to_node(&self) -> Node {
        let mut entries = Vec::new();
        if let Some(p) = self.minimum_protocol_version {
            entries.push(("minimumProtocolVersion".to_string(), version_node(p)));
        }
        if let Some(p) = self.maximum_protocol_version {
            entries.push(("maximumProtocolVersion".to_string(), version_node(p)));
        }
        if !self.cipher_suites.is_empty() {
            entries.push(("cipherSuites".to_string(), string_seq(&self.cipher_suites)));
        }
        if !self.ecdh_curves.is_empty() {
            entries.push(("ecdhCurves".to_string(), string_seq(&self.ecdh_curves)));
        }
        Node::Map(entries)
    }
}

/// Gloo's `SslParameters.ProtocolVersion` name for a version: `TLSv1_0` … `TLSv1_3`.
/// `None` for SSLv3, which Gloo and Envoy cannot express.
pub fn gloo_version_name(p: Protocol) -> Option<&'static str> {
    match p {
        Protocol::Ssl3 => None,
        Protocol::Tls10 => Some("TLSv1_0"),
        Protocol::Tls11 => Some("TLSv1_1"),
        Protocol::Tls12 => Some("TLSv1_2"),
        Protocol::Tls13 => Some("TLSv1_3"),
    }
}

/// Parses a Gloo protocol version name: `TLS_AUTO` gives `None` (Envoy's default), `TLSv1_2` gives
/// `Some(Tls12)`. Names are case-sensitive, as in Gloo's proto enum.
pub fn parse_gloo_version(s: &str) -> Result<Option<Protocol>, GlooError> {
    match s {
        "TLS_AUTO" => Ok(None),
        "TLSv1_0" => Ok(Some(Protocol::Tls10)),
        "TLSv1_1" => Ok(Some(Protocol::Tls11)),
        "TLSv1_2" => Ok(Some(Protocol::Tls12)),
        "TLSv1_3" => Ok(Some(Protocol::Tls13)),
        other => Err(GlooError::UnknownVersion(other.to_string())),
    }
}

/// Gloo parameters → the Envoy model's overrides; unknown names are reported as Envoy would.
pub fn tls_params(p: &SslParameters) -> Result<TlsParams, String> {
    let cipher_entries = if p.cipher_suites.is_empty() {
        None
    } else {
        Some(
            envoy::parse_cipher_entries(&p.cipher_suites)
                .map_err(|e| format!("cipherSuites: {e}"))?,
        )
    };
    Ok(TlsParams {
        cipher_entries,
        ecdh_curves: (!p.ecdh_curves.is_empty()).then(|| p.ecdh_curves.clone()),
        min_version: p.minimum_protocol_version,
        max_version: p.maximum_protocol_version,
    })
}

/// The Envoy model's overrides → Gloo parameters.
pub fn ssl_parameters(p: &TlsParams) -> SslParameters {
    SslParameters {
        cipher_suites: p
            .cipher_entries
            .as_ref()
            .map(|e| e.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default(),
        ecdh_curves: p.ecdh_curves.clone().unwrap_or_default(),
        minimum_protocol_version: p.min_version,
        maximum_protocol_version: p.max_version,
    }
}

/// A Kubernetes-safe default name for an Upstream: `host-port`, lower-case, dashes.
pub fn default_upstream_name(hp: &HostPort) -> String {
    let mut name: String = hp
        .host
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').to_string();
    format!(
        "{}-{}",
        if name.is_empty() { "upstream" } else { &name },
        hp.port
    )
}

/// One host of a static Upstream (`spec.static.hosts[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticHost {
    /// Host name or IP address Envoy connects to.
    pub addr: String,
    /// TCP port.
    pub port: u16,
    /// Per-host SNI (`sniAddr`); Gloo sends it instead of `sslConfig.sni`
    /// (`projects/gloo/pkg/plugins/static/plugin.go`, `mutateSni`).
    pub sni_addr: Option<String>,
}

/// What an Upstream points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTarget {
    /// `spec.static.hosts`.
    Static(Vec<StaticHost>),
    /// `spec.kube`: a Kubernetes Service port.
    Kube {
        /// `serviceName`.
        service_name: String,
        /// `serviceNamespace`.
        service_namespace: String,
        /// `servicePort`.
        service_port: u16,
    },
}

/// A reference to a TLS secret (`sslConfig.secretRef`), and the names to verify the upstream's
/// certificate against when that secret carries a `ca.crt` (Gloo requires a root CA for
/// `verifySubjectAltName`, so the two travel together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRef {
    /// Secret name.
    pub name: String,
    /// Secret namespace.
    pub namespace: String,
    /// `sslConfig.verifySubjectAltName`; empty = not set.
    pub verify_subject_alt_name: Vec<String>,
}

/// Everything [`upstream_manifest`] needs apart from the TLS parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamOptions {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// Static hosts or a Kubernetes Service.
    pub target: UpstreamTarget,
    /// `sslConfig.sni`; for static hosts whose addr differs, also written as each host's `sniAddr`.
    pub sni: Option<String>,
    /// `sslConfig.secretRef`; `None` means one-way TLS without certificate verification
    /// (Gloo `ResolveCommonSslConfig` with `mustHaveCert=false`).
    pub secret: Option<SecretRef>,
}

/// A complete gloo.solo.io/v1 Upstream manifest (YAML) with sslConfig (sni, secretRef, parameters).
///
/// Static hosts get `sniAddr` set to the SNI when their addr differs from it (an IP, or another
/// name): Gloo's `autoSniRewrite` (default on) otherwise replaces `sslConfig.sni` with the host's
/// addr (`projects/gloo/pkg/plugins/static/plugin.go`). A host's own `sni_addr` is kept as given.
pub fn upstream_manifest(opts: &UpstreamOptions, params: &SslParameters) -> String {
    let target = match &opts.target {
        UpstreamTarget::Static(hosts) => {
            let hosts = hosts
                .iter()
                .map(|h| {
                    let mut entries = vec![
                        ("addr".to_string(), Node::Str(h.addr.clone())),
                        ("port".to_string(), Node::UInt(u64::from(h.port))),
                    ];
                    let sni_addr = h
                        .sni_addr
                        .as_deref()
                        .or(opts.sni.as_deref().filter(|sni| *sni != h.addr.as_str()));
                    if let Some(sni) = sni_addr {
                        entries.push(("sniAddr".to_string(), Node::Str(sni.to_string())));
                    }
                    Node::Map(entries)
                })
                .collect();
            ("static", map(vec![("hosts", Node::Seq(hosts))]))
        }
        UpstreamTarget::Kube {
            service_name,
            service_namespace,
            service_port,
        } => (
            "kube",
            map(vec![
                ("serviceName", Node::Str(service_name.clone())),
                ("serviceNamespace", Node::Str(service_namespace.clone())),
                ("servicePort", Node::UInt(u64::from(*service_port))),
            ]),
        ),
    };
    let doc = map(vec![
        ("apiVersion", Node::Str(UPSTREAM_API_VERSION.to_string())),
        ("kind", Node::Str("Upstream".to_string())),
        (
            "metadata",
            map(vec![
                ("name", Node::Str(opts.name.clone())),
                ("namespace", Node::Str(opts.namespace.clone())),
            ]),
        ),
        (
            "spec",
            map(vec![
                (
                    "sslConfig",
                    ssl_config_node(params, opts.sni.as_deref(), opts.secret.as_ref()),
                ),
                target,
            ]),
        ),
    ]);
    to_yaml(&doc)
}

/// The merge patch for an existing Upstream: YAML and JSON forms plus the kubectl line:
/// `kubectl patch upstream NAME -n NS --type merge -p '{"spec":{"sslConfig":{"parameters":{...}}}}'`.
///
/// A merge patch merges mappings and replaces lists, so the other `parameters` and `sslConfig`
/// fields stay and the given lists replace the old ones whole. It cannot reach into
/// `static.hosts[]`: for a static Upstream whose host addr differs from the SNI, use
/// [`patch_manifest`], which also sets each host's `sniAddr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergePatch {
    /// The patch as YAML (for `kubectl patch --type merge --patch-file`).
    pub yaml: String,
    /// The patch as compact JSON.
    pub json: String,
    /// A ready-to-run `kubectl patch` command line (POSIX shell quoting).
    pub kubectl: String,
}

/// Builds the [`MergePatch`] that sets the given `sslConfig` fields of Upstream `namespace/name`.
/// Always contains `spec.sslConfig`, so applying it turns TLS on for a plaintext Upstream.
pub fn merge_patch(
    name: &str,
    namespace: &str,
    params: &SslParameters,
    sni: Option<&str>,
    secret: Option<&SecretRef>,
) -> MergePatch {
    let patch = map(vec![(
        "spec",
        map(vec![("sslConfig", ssl_config_node(params, sni, secret))]),
    )]);
    let json = to_json(&patch);
    let kubectl = format!(
        "kubectl patch upstream {} -n {} --type merge -p {}",
        shell_word(name),
        shell_word(namespace),
        shell_single_quote(&json)
    );
    MergePatch {
        yaml: to_yaml(&patch),
        json,
        kubectl,
    }
}

/// The Kubernetes Service annotation form (`gloo.solo.io/upstream_config`, read by Gloo's
/// `general_annotation_converter.go`), as a YAML snippet of `metadata.annotations` ready to paste,
/// with `gloo.solo.io/upstream_config.deep_merge: "true"` and a YAML comment saying why.
///
/// The `gloo.solo.io/sslService.*` annotations cannot set parameters or SNI, so `upstream_config`
/// is the only annotation that can. Gloo applies it after `sslService.*`; without deep merge its
/// `sslConfig` replaces the whole sslConfig those annotations built (for example the secretRef
/// from `sslService.secret`). With deep merge, the fields given here win and the rest stay.
pub fn service_annotation(
    params: &SslParameters,
    sni: Option<&str>,
    secret: Option<&SecretRef>,
) -> String {
    let config = map(vec![("sslConfig", ssl_config_node(params, sni, secret))]);
    let snippet = map(vec![(
        "metadata",
        map(vec![(
            "annotations",
            map(vec![
                (
                    "gloo.solo.io/upstream_config",
                    Node::SingleQuoted(to_json(&config)),
                ),
                (
                    "gloo.solo.io/upstream_config.deep_merge",
                    Node::Str("true".to_string()),
                ),
            ]),
        )]),
    )]);
    let mut out = String::from(
        "# Annotations for the Kubernetes Service; Gloo discovery applies them to the Upstream of every\n\
         # port of the Service. deep_merge \"true\" merges this sslConfig into the one built from\n\
         # gloo.solo.io/sslService.* annotations and Settings globalAnnotations (e.g. keeps the secretRef\n\
         # from sslService.secret); without it this sslConfig would replace that one whole.\n",
    );
    out.push_str(&to_yaml(&snippet));
    out
}

/// Patches an existing Upstream manifest (one YAML document): sets only the given parameters fields
/// (and sni / secretRef when given), keeping every other field, the other parameters fields and the
/// manifest's key order. Creates `sslConfig` if it is missing.
///
/// With an SNI, hosts of a static Upstream also get `sniAddr` (an existing `sniAddr` is replaced; a
/// host whose addr equals the SNI is left alone), unless `autoSniRewrite: false` makes
/// `sslConfig.sni` apply as it is. Comments in the input are not kept.
///
/// Refuses a document that is not a gloo.solo.io Upstream, more than one document, a secret when
/// `sslFiles` or `sds` is already set (Gloo allows only one), and a result whose minimum protocol
/// version is above its maximum.
pub fn patch_manifest(
    yaml: &str,
    params: &SslParameters,
    sni: Option<&str>,
    secret: Option<&SecretRef>,
) -> Result<String, GlooError> {
    let mut docs = parse_stream(yaml)?;
    if docs.len() != 1 {
        return Err(GlooError::NotOneDocument { found: docs.len() });
    }
    let mut doc = docs.remove(0);
    check_is_upstream(&doc)?;
    let context = upstream_context(&doc, None);

    let spec = child_map(&mut doc, "spec", &[], &context, "spec")?;
    let ssl = child_map(spec, "sslConfig", SPEC_ORDER, &context, "spec.sslConfig")?;
    if let Some(secret) = secret {
        for existing in ["sslFiles", "sds"] {
            if ssl.get(existing).is_some() {
                return Err(GlooError::SecretConflict {
                    context,
                    existing: existing.to_string(),
                });
            }
        }
        ssl.set_ordered("secretRef", secret_node(secret), SSL_CONFIG_ORDER);
        if let Some(names) = san_node(secret) {
            ssl.set_ordered("verifySubjectAltName", names, SSL_CONFIG_ORDER);
        }
    }
    if let Some(sni) = sni {
        ssl.set_ordered("sni", Node::Str(sni.to_string()), SSL_CONFIG_ORDER);
    }
    if !params.is_empty() {
        let parameters = child_map(
            ssl,
            "parameters",
            SSL_CONFIG_ORDER,
            &context,
            "spec.sslConfig.parameters",
        )?;
        if let Node::Map(given) = params.to_node() {
            for (key, value) in given {
                parameters.set_ordered(&key, value, PARAMETERS_ORDER);
            }
        }
        check_version_order(parameters, &context)?;
    }
    if let Some(sni) = sni {
        set_static_sni_addrs(spec, sni, &context)?;
    }
    Ok(to_yaml(&doc))
}

/// One Upstream as read by [`read_upstreams`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; empty when the manifest does not say.
    pub namespace: String,
    /// Whether Envoy talks TLS to it (Gloo's static plugin): `sslConfig` present, or
    /// `static.useTls: true`, or `useTls` unset and any static host on port 443. In the last two
    /// cases Gloo uses Settings' default parameters and the first host name as SNI.
    pub uses_tls: bool,
    /// Static hosts (with their `sniAddr`) or the Kubernetes Service.
    pub target: UpstreamTarget,
    /// `sslConfig.sni`.
    pub sni: Option<String>,
    /// `sslConfig.parameters` (empty when not set).
    pub parameters: SslParameters,
    /// `sslConfig.secretRef`.
    pub secret: Option<SecretRef>,
    /// `sslConfig.verifySubjectAltName`.
    pub verify_subject_alt_name: Vec<String>,
    /// `spec.static.autoSniRewrite` (default true): a static host's name replaces `sslConfig.sni`.
    pub auto_sni_rewrite: bool,
}

impl UpstreamInfo {
    /// The SNI Envoy sends to `host` of this Upstream (`None` for a Kubernetes Upstream). Gloo's
    /// static plugin sends a host's `sniAddr`, else its `addr` when that is a name and
    /// `autoSniRewrite` is not false; otherwise the cluster's `sslConfig.sni`, if any
    /// (`projects/gloo/pkg/plugins/static/plugin.go`; `ciphers/SOURCES.md`).
    pub fn envoy_sni(&self, host: Option<&StaticHost>) -> EnvoySni {
        if let Some(h) = host {
            if let Some(n) = &h.sni_addr {
                return EnvoySni::Known {
                    name: Some(n.clone()),
                    source: "the static host's sniAddr".into(),
                };
            }
            if self.auto_sni_rewrite && h.addr.parse::<std::net::IpAddr>().is_err() {
                return EnvoySni::Known {
                    name: Some(h.addr.clone()),
                    source: "a static Upstream: autoSniRewrite sends the host's addr".into(),
                };
            }
        }
        match (&self.sni, host.is_some()) {
            (Some(n), _) => EnvoySni::Known {
                name: Some(n.clone()),
                source: "sslConfig.sni".into(),
            },
            (None, true) => EnvoySni::Known {
                name: None,
                source: "a static Upstream whose host is an IP address, without sniAddr or sslConfig.sni".into(),
            },
            (None, false) => EnvoySni::kube_default(false),
        }
    }
}

/// Reading Upstreams (for a later fleet audit): a single document, a multi-document stream, or a
/// `kind: List` (as printed by `kubectl get upstreams -A -o yaml`). Non-Upstream documents are
/// skipped, and so are Upstreams that are neither static nor kube (AWS, Azure, Consul…), which have
/// no host to scan. A missing `kube.serviceNamespace` is taken as the Upstream's own namespace.
pub fn read_upstreams(yaml: &str) -> Result<Vec<UpstreamInfo>, GlooError> {
    let docs = parse_stream(yaml)?;
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let doc_no = i + 1;
        if doc.get("kind").and_then(Node::as_str) == Some("List") {
            if let Some(items) = doc.get("items") {
                let Node::Seq(items) = items else {
                    return Err(GlooError::InvalidField {
                        context: format!("document {doc_no} (kind: List)"),
                        path: "items".to_string(),
                        problem: format!("expected a list, found {}", items.describe()),
                    });
                };
                for (j, item) in items.iter().enumerate() {
                    if is_upstream(item) {
                        let place = format!("document {doc_no}, items[{j}]");
                        if let Some(info) = read_upstream(item, &place)? {
                            out.push(info);
                        }
                    }
                }
            }
        } else if is_upstream(doc) {
            if let Some(info) = read_upstream(doc, &format!("document {doc_no}"))? {
                out.push(info);
            }
        }
    }
    Ok(out)
}

/// Errors from reading or patching Gloo YAML.
#[derive(Debug, thiserror::Error)]
pub enum GlooError {
    /// The input is over [`MAX_INPUT_BYTES`].
    #[error(
        "the YAML input is {size} bytes, over the limit of {limit} bytes; split it into smaller files \
         (for example one namespace at a time: kubectl get upstreams -n NAMESPACE -o yaml)"
    )]
    TooLarge {
        /// Input size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input has more than [`MAX_DOCUMENTS`] documents.
    #[error("the YAML input has more than {limit} documents; split it into smaller files")]
    TooManyDocuments {
        /// The limit.
        limit: usize,
    },
    /// The input goes over a parser safety limit (nesting depth, alias expansion, node count).
    #[error(
        "the YAML input goes over a safety limit{}: {message}; expand its anchors and aliases, \
         reduce the nesting or split it into smaller files",
        at_location(*line, *column)
    )]
    OverLimit {
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// Which limit, as the parser reports it.
        message: String,
    },
    /// The input is not valid YAML.
    #[error("invalid YAML{}: {message}; fix the YAML and try again", at_location(*line, *column))]
    Yaml {
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// The parser's message.
        message: String,
    },
    /// The document is not a gloo.solo.io/v1 Upstream.
    #[error("{}", not_upstream_message(kind, api_version))]
    NotAnUpstream {
        /// The document's `kind` (empty if none).
        kind: String,
        /// The document's `apiVersion` (empty if none).
        api_version: String,
    },
    /// [`patch_manifest`] needs exactly one document.
    #[error(
        "expected exactly one YAML document holding a gloo.solo.io/v1 Upstream, found {found}; \
         pass one Upstream (kubectl get upstream NAME -n NAMESPACE -o yaml)"
    )]
    NotOneDocument {
        /// How many non-empty documents the input has.
        found: usize,
    },
    /// A field has the wrong type or value.
    #[error("{context}: {path}: {problem}")]
    InvalidField {
        /// Which Upstream or document.
        context: String,
        /// Dotted path of the field, e.g. `spec.static.hosts[0].port`.
        path: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A protocol version name Gloo does not know.
    #[error(
        "unknown Gloo TLS version '{0}' (expected TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3)"
    )]
    UnknownVersion(String),
    /// A secretRef was asked for while `sslFiles` or `sds` is set.
    #[error(
        "{context}: spec.sslConfig already has {existing}, and Gloo allows only one of secretRef, \
         sslFiles and sds; remove {existing} from the manifest first, or patch without a secret"
    )]
    SecretConflict {
        /// Which Upstream.
        context: String,
        /// The field already set (`sslFiles` or `sds`).
        existing: String,
    },
    /// The patched parameters would have minimum > maximum.
    #[error(
        "{context}: minimumProtocolVersion {min} would be above maximumProtocolVersion {max}, which \
         Envoy rejects; also set a maximum protocol version, or choose a lower minimum"
    )]
    VersionOrder {
        /// Which Upstream.
        context: String,
        /// Gloo name of the minimum.
        min: String,
        /// Gloo name of the maximum.
        max: String,
    },
}

impl GlooError {
    /// Maps a serde-saphyr error, keeping its line and column and naming our own limits.
    fn from_yaml(err: serde_saphyr::Error) -> GlooError {
        use serde_saphyr::budget::BudgetBreach;
        let (line, column) = match err.location() {
            Some(l) if l.line() > 0 => (Some(l.line()), Some(l.column())),
            _ => (None, None),
        };
        // Errors met while replaying an alias come wrapped; the inner one says what went wrong.
        let mut inner = &err;
        while let serde_saphyr::Error::AliasError { error, .. }
        | serde_saphyr::Error::WithSnippet { error, .. } = inner
        {
            inner = error;
        }
        if let serde_saphyr::Error::Budget { breach, .. } = inner {
            let message = match breach {
                BudgetBreach::Documents { .. } => {
                    return GlooError::TooManyDocuments {
                        limit: MAX_DOCUMENTS,
                    }
                }
                BudgetBreach::Depth { .. } => "nested too deeply".to_string(),
                BudgetBreach::Nodes { nodes } => {
                    format!("more than {} nodes", nodes.saturating_sub(1))
                }
                BudgetBreach::Events { events } => {
                    format!("more than {} YAML events", events.saturating_sub(1))
                }
                BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => {
                    "too many anchors or aliases".to_string()
                }
                _ => "anchors and aliases expand to too much data (an alias bomb?)".to_string(),
            };
            return GlooError::OverLimit {
                line,
                column,
                message,
            };
        }
        if matches!(
            inner,
            serde_saphyr::Error::AliasReplayLimitExceeded { .. }
                | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
                | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
                | serde_saphyr::Error::AliasReplayCounterOverflow { .. }
        ) {
            return GlooError::OverLimit {
                line,
                column,
                message: "aliases expand to too much data (an alias bomb?)".to_string(),
            };
        }
        let mut message = inner.to_string();
        // serde-saphyr appends " at line L, column C" (and alias sites); we print the place up front.
        if let Some(cut) = message.find(" at line ") {
            message.truncate(cut);
        }
        // Hints meant for callers of serde-saphyr, not for the person fixing the YAML.
        message = message.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
        if message.contains("recursive references") {
            message = "an alias refers to the node that defines its own anchor".to_string();
        }
        GlooError::Yaml {
            line,
            column,
            message,
        }
    }
}

fn at_location(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

fn not_upstream_message(kind: &str, api_version: &str) -> String {
    let article = |word: &str| {
        if word.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        }
    };
    let what = if kind.is_empty() {
        "the document has no kind, so it is not".to_string()
    } else if kind == "Upstream" {
        let version = if api_version.is_empty() {
            "no apiVersion".to_string()
        } else {
            format!("apiVersion {api_version}")
        };
        format!("the document is an Upstream with {version}, not")
    } else {
        format!("the document is {} {kind}, not", article(kind))
    };
    let hint = if kind == "Service" {
        "for a Kubernetes Service, use the gloo.solo.io/upstream_config annotation instead, or \
         patch the Upstream Gloo discovered for it (kubectl get upstreams -A)"
    } else {
        "export the Upstream with kubectl get upstream NAME -n NAMESPACE -o yaml and patch that"
    };
    format!("{what} a {UPSTREAM_API_VERSION} Upstream; {hint}")
}

// ---------------------------------------------------------------------------------------------
// Building blocks of the written YAML.

fn map(entries: Vec<(&str, Node)>) -> Node {
    Node::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn string_seq(items: &[String]) -> Node {
    Node::Seq(items.iter().map(|s| Node::Str(s.clone())).collect())
}

/// SSLv3 cannot be expressed in Gloo; TLSv1_0 is the lowest version it can (see [`SslParameters`]).
fn version_node(p: Protocol) -> Node {
    Node::Str(gloo_version_name(p).unwrap_or("TLSv1_0").to_string())
}

fn secret_node(secret: &SecretRef) -> Node {
    map(vec![
        ("name", Node::Str(secret.name.clone())),
        ("namespace", Node::Str(secret.namespace.clone())),
    ])
}

/// `verifySubjectAltName` of a secret reference, when it names any.
fn san_node(secret: &SecretRef) -> Option<Node> {
    if secret.verify_subject_alt_name.is_empty() {
        return None;
    }
    Some(Node::Seq(
        secret
            .verify_subject_alt_name
            .iter()
            .map(|n| Node::Str(n.clone()))
            .collect(),
    ))
}

/// `sslConfig` with `sni` (when given) and `parameters`, as YAML, for showing a patch.
pub fn ssl_config_yaml(params: &SslParameters, sni: Option<&str>) -> String {
    to_yaml(&map(vec![(
        "sslConfig",
        ssl_config_node(params, sni, None),
    )]))
}

/// `sslConfig` with the given fields, in the order secretRef, sni, verifySubjectAltName, parameters.
fn ssl_config_node(params: &SslParameters, sni: Option<&str>, secret: Option<&SecretRef>) -> Node {
    let mut entries = Vec::new();
    if let Some(secret) = secret {
        entries.push(("secretRef", secret_node(secret)));
    }
    if let Some(sni) = sni {
        entries.push(("sni", Node::Str(sni.to_string())));
    }
    if let Some(names) = secret.and_then(san_node) {
        entries.push(("verifySubjectAltName", names));
    }
    if !params.is_empty() {
        entries.push(("parameters", params.to_node()));
    }
    map(entries)
}

/// YAML as kubectl reads it: serde-saphyr quotes every string a YAML 1.1 reader would take for a
/// bool, null, number or timestamp (`yes`, `on`, `n`, `~`, `1.10`, `0755`, `2001-12-14`) and every
/// string that needs it syntactically (`a: b`, `[a|b]`). Long single-line strings stay on one line.
fn to_yaml(node: &Node) -> String {
    let options = serde_saphyr::ser_options! {
        yaml_12: false,
        folded_wrap_chars: usize::MAX,
    };
    match serde_saphyr::to_string_with_options(node, options) {
        Ok(yaml) => yaml,
        // Not expected for a tree of plain strings, numbers and mappings; JSON is valid YAML,
        // so the output stays usable rather than panicking.
        Err(_) => format!("{}\n", to_json_pretty(node)),
    }
}

fn to_json(node: &Node) -> String {
    serde_json::to_string(node).unwrap_or_else(|_| "{}".to_string())
}

fn to_json_pretty(node: &Node) -> String {
    serde_json::to_string_pretty(node).unwrap_or_else(|_| "{}".to_string())
}

/// A word for a POSIX shell: bare when it has only safe characters, else single-quoted.
fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/=@%+,".contains(&b));
    if safe {
        s.to_string()
    } else {
        shell_single_quote(s)
    }
}

fn shell_single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------------------------------------
// Reading.

fn parse_stream(yaml: &str) -> Result<Vec<Node>, GlooError> {
    if yaml.len() > MAX_INPUT_BYTES {
        return Err(GlooError::TooLarge {
            size: yaml.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    // Read as kubectl does (YAML 1.1: `0755` is octal), with serde-saphyr's budget guarding
    // against alias bombs and deep nesting. Sized for a large `kubectl get upstreams -A` export,
    // which uses no anchors at all; hand-written manifests use a few small ones.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS,
            max_nodes: 2_000_000,
            max_events: 4_000_000,
            max_recorded_anchor_events: 100_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
        },
        with_snippet: false,
        legacy_octal_numbers: true,
        emit_comments: false,
    };
    serde_saphyr::from_multiple_with_options::<Node>(yaml, options).map_err(GlooError::from_yaml)
}

fn is_upstream(doc: &Node) -> bool {
    doc.get("kind").and_then(Node::as_str) == Some("Upstream")
        && doc.get("apiVersion").and_then(Node::as_str) == Some(UPSTREAM_API_VERSION)
}

fn check_is_upstream(doc: &Node) -> Result<(), GlooError> {
    if is_upstream(doc) {
        return Ok(());
    }
    let text = |key| {
        doc.get(key)
            .map(|n| n.as_str().map_or_else(|| n.describe(), str::to_string))
            .unwrap_or_default()
    };
    Err(GlooError::NotAnUpstream {
        kind: text("kind"),
        api_version: text("apiVersion"),
    })
}

/// "Upstream NAMESPACE/NAME (document N, items[M])", for error messages; N counts the non-empty
/// documents, as serde-saphyr skips empty ones.
fn upstream_context(doc: &Node, place: Option<&str>) -> String {
    let meta = doc.get("metadata");
    let field = |k| meta.and_then(|m| m.get(k)).and_then(Node::as_str);
    let mut out = match (field("namespace"), field("name")) {
        (Some(ns), Some(name)) => format!("Upstream {ns}/{name}"),
        (None, Some(name)) => format!("Upstream {name}"),
        _ => "Upstream without a name".to_string(),
    };
    if let Some(place) = place {
        out.push_str(&format!(" ({place})"));
    }
    out
}

fn read_upstream(doc: &Node, place: &str) -> Result<Option<UpstreamInfo>, GlooError> {
    let r = Reader {
        context: upstream_context(doc, Some(place)),
    };
    let metadata = match doc.get("metadata") {
        Some(m) => {
            r.expect_map(m, "metadata")?;
            m
        }
        None => return Err(r.missing("metadata.name")),
    };
    let name = r.required_str(metadata, "metadata", "name")?;
    let namespace = match metadata.get("namespace") {
        Some(n) => r.string(n, "metadata.namespace")?,
        None => String::new(),
    };
    let spec = doc.get("spec");
    let ssl = spec.and_then(|s| s.get("sslConfig"));
    if let Some(ssl) = ssl {
        r.expect_map(ssl, "spec.sslConfig")?;
    }

    let (target, static_tls) = if let Some(st) = spec.and_then(|s| s.get("static")) {
        r.expect_map(st, "spec.static")?;
        let mut hosts = Vec::new();
        if let Some(list) = st.get("hosts") {
            let Node::Seq(list) = list else {
                return Err(r.invalid("spec.static.hosts", "a list", list));
            };
            for (i, host) in list.iter().enumerate() {
                let path = format!("spec.static.hosts[{i}]");
                r.expect_map(host, &path)?;
                let addr = match host.get("addr") {
                    Some(n) => r.string(n, &format!("{path}.addr"))?,
                    None => return Err(r.missing(&format!("{path}.addr"))),
                };
                let port = match host.get("port") {
                    Some(n) => r.port(n, &format!("{path}.port"))?,
                    None => return Err(r.missing(&format!("{path}.port"))),
                };
                let sni_addr = host
                    .get("sniAddr")
                    .map(|n| r.string(n, &format!("{path}.sniAddr")))
                    .transpose()?;
                hosts.push(StaticHost {
                    addr,
                    port,
                    sni_addr,
                });
            }
        }
        let use_tls = match st.get("useTls") {
            Some(Node::Bool(b)) => Some(*b),
            Some(other) => return Err(r.invalid("spec.static.useTls", "true or false", other)),
            None => None,
        };
        let tls = use_tls.unwrap_or_else(|| hosts.iter().any(|h| h.port == 443));
        (UpstreamTarget::Static(hosts), tls)
    } else if let Some(kube) = spec.and_then(|s| s.get("kube")) {
        r.expect_map(kube, "spec.kube")?;
        let service_name = r.required_str(kube, "spec.kube", "serviceName")?;
        let service_namespace = match kube.get("serviceNamespace") {
            Some(n) => r.string(n, "spec.kube.serviceNamespace")?,
            None => namespace.clone(),
        };
        let service_port = match kube.get("servicePort") {
            Some(n) => r.port(n, "spec.kube.servicePort")?,
            None => return Err(r.missing("spec.kube.servicePort")),
        };
        let target = UpstreamTarget::Kube {
            service_name,
            service_namespace,
            service_port,
        };
        (target, false)
    } else {
        return Ok(None);
    };

    let sni = ssl
        .and_then(|s| s.get("sni"))
        .map(|n| r.string(n, "spec.sslConfig.sni"))
        .transpose()?;
    let secret = match ssl.and_then(|s| s.get("secretRef")) {
        Some(sr) => {
            r.expect_map(sr, "spec.sslConfig.secretRef")?;
            let name = r.required_str(sr, "spec.sslConfig.secretRef", "name")?;
            let namespace = match sr.get("namespace") {
                Some(n) => r.string(n, "spec.sslConfig.secretRef.namespace")?,
                None => String::new(),
            };
            Some(SecretRef {
                name,
                namespace,
                ..SecretRef::default()
            })
        }
        None => None,
    };
    let parameters = match ssl.and_then(|s| s.get("parameters")) {
        Some(p) => r.parameters(p)?,
        None => SslParameters::default(),
    };
    let verify_subject_alt_name = match ssl.and_then(|s| s.get("verifySubjectAltName")) {
        Some(n) => r.string_list(n, "spec.sslConfig.verifySubjectAltName")?,
        None => Vec::new(),
    };
    let auto_sni_rewrite = match spec
        .and_then(|s| s.get("static"))
        .and_then(|s| s.get("autoSniRewrite"))
    {
        Some(Node::Bool(b)) => *b,
        Some(other) => return Err(r.invalid("spec.static.autoSniRewrite", "true or false", other)),
        None => true,
    };
    Ok(Some(UpstreamInfo {
        name,
        namespace,
        uses_tls: ssl.is_some() || static_tls,
        target,
        sni,
        parameters,
        secret,
        verify_subject_alt_name,
        auto_sni_rewrite,
    }))
}

/// Typed field access with errors that name the Upstream and the field path.
struct Reader {
    context: String,
}

impl Reader {
    fn invalid(&self, path: &str, expected: &str, found: &Node) -> GlooError {
        let mut problem = format!("expected {expected}, found {}", found.describe());
        if expected == "a string"
            && matches!(
                found,
                Node::Bool(_) | Node::Int(_) | Node::UInt(_) | Node::Float(_)
            )
        {
            problem.push_str(" (quote the value, YAML 1.1 reads it as a bool or number)");
        }
        GlooError::InvalidField {
            context: self.context.clone(),
            path: path.to_string(),
            problem,
        }
    }

    fn missing(&self, path: &str) -> GlooError {
        GlooError::InvalidField {
            context: self.context.clone(),
            path: path.to_string(),
            problem: "missing; Gloo needs this field".to_string(),
        }
    }

    fn expect_map(&self, node: &Node, path: &str) -> Result<(), GlooError> {
        match node {
            Node::Map(_) => Ok(()),
            other => Err(self.invalid(path, "a mapping", other)),
        }
    }

    fn string(&self, node: &Node, path: &str) -> Result<String, GlooError> {
        node.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.invalid(path, "a string", node))
    }

    fn required_str(
        &self,
        parent: &Node,
        parent_path: &str,
        key: &str,
    ) -> Result<String, GlooError> {
        let path = format!("{parent_path}.{key}");
        match parent.get(key) {
            Some(n) => self.string(n, &path),
            None => Err(self.missing(&path)),
        }
    }

    fn port(&self, node: &Node, path: &str) -> Result<u16, GlooError> {
        let value = match node {
            Node::UInt(v) => u16::try_from(*v).ok(),
            Node::Int(v) => u16::try_from(*v).ok(),
            _ => None,
        };
        value
            .filter(|p| *p > 0)
            .ok_or_else(|| self.invalid(path, "a port number 1-65535", node))
    }

    fn string_list(&self, node: &Node, path: &str) -> Result<Vec<String>, GlooError> {
        let Node::Seq(items) = node else {
            return Err(self.invalid(path, "a list of strings", node));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
            .collect()
    }

    fn version(&self, node: &Node, path: &str) -> Result<Option<Protocol>, GlooError> {
        let problem = |e: GlooError| GlooError::InvalidField {
            context: self.context.clone(),
            path: path.to_string(),
            problem: e.to_string(),
        };
        match node {
            Node::Str(s) => parse_gloo_version(s).map_err(problem),
            // protojson also accepts the enum number: 0 = TLS_AUTO, 1 = TLSv1_0 … 4 = TLSv1_3.
            Node::UInt(n) => match n {
                0 => Ok(None),
                1 => Ok(Some(Protocol::Tls10)),
                2 => Ok(Some(Protocol::Tls11)),
                3 => Ok(Some(Protocol::Tls12)),
                4 => Ok(Some(Protocol::Tls13)),
                _ => Err(problem(GlooError::UnknownVersion(n.to_string()))),
            },
            other => Err(self.invalid(path, "a version name such as TLSv1_2", other)),
        }
    }

    fn parameters(&self, node: &Node) -> Result<SslParameters, GlooError> {
        const P: &str = "spec.sslConfig.parameters";
        self.expect_map(node, P)?;
        let mut out = SslParameters::default();
        if let Some(n) = node.get("cipherSuites") {
            out.cipher_suites = self.string_list(n, &format!("{P}.cipherSuites"))?;
        }
        if let Some(n) = node.get("ecdhCurves") {
            out.ecdh_curves = self.string_list(n, &format!("{P}.ecdhCurves"))?;
        }
        if let Some(n) = node.get("minimumProtocolVersion") {
            out.minimum_protocol_version =
                self.version(n, &format!("{P}.minimumProtocolVersion"))?;
        }
        if let Some(n) = node.get("maximumProtocolVersion") {
            out.maximum_protocol_version =
                self.version(n, &format!("{P}.maximumProtocolVersion"))?;
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Patching.

/// The mapping under `key`, created (in canonical position) when missing or null.
fn child_map<'a>(
    parent: &'a mut Node,
    key: &str,
    order: &[&str],
    context: &str,
    path: &str,
) -> Result<&'a mut Node, GlooError> {
    let Node::Map(entries) = parent else {
        return Err(GlooError::InvalidField {
            context: context.to_string(),
            path: path
                .rsplit_once('.')
                .map_or("document", |(p, _)| p)
                .to_string(),
            problem: format!("expected a mapping, found {}", parent.describe()),
        });
    };
    let needs_new = match entries.iter().find(|(k, _)| k == key) {
        None => true,
        Some((_, Node::Null)) => true,
        Some((_, Node::Map(_))) => false,
        Some((_, other)) => {
            return Err(GlooError::InvalidField {
                context: context.to_string(),
                path: path.to_string(),
                problem: format!("expected a mapping, found {}", other.describe()),
            })
        }
    };
    if needs_new {
        parent.set_ordered(key, Node::Map(Vec::new()), order);
    }
    match parent.get_mut(key) {
        Some(child) => Ok(child),
        // set_ordered just inserted it; keep the no-panic promise anyway.
        None => Err(GlooError::InvalidField {
            context: context.to_string(),
            path: path.to_string(),
            problem: "could not be created".to_string(),
        }),
    }
}

/// Refuses a patched `parameters` block whose explicit minimum is above its explicit maximum.
fn check_version_order(parameters: &Node, context: &str) -> Result<(), GlooError> {
    let version = |key| {
        parameters
            .get(key)
            .and_then(Node::as_str)
            .and_then(|s| parse_gloo_version(s).ok().flatten())
    };
    if let (Some(min), Some(max)) = (
        version("minimumProtocolVersion"),
        version("maximumProtocolVersion"),
    ) {
        if min > max {
            return Err(GlooError::VersionOrder {
                context: context.to_string(),
                min: gloo_version_name(min).unwrap_or("TLSv1_0").to_string(),
                max: gloo_version_name(max).unwrap_or("TLSv1_0").to_string(),
            });
        }
    }
    Ok(())
}

/// Makes each static host send `sni`: with `autoSniRewrite` on (the default), Gloo sends a host's
/// `sniAddr`, else its addr, instead of `sslConfig.sni` (Gloo `plugins/static/plugin.go`).
fn set_static_sni_addrs(spec: &mut Node, sni: &str, context: &str) -> Result<(), GlooError> {
    let Some(st) = spec.get_mut("static") else {
        return Ok(());
    };
    let auto_rewrite = !matches!(st.get("autoSniRewrite"), Some(Node::Bool(false)));
    let Some(hosts) = st.get_mut("hosts") else {
        return Ok(());
    };
    let Node::Seq(hosts) = hosts else {
        return Err(GlooError::InvalidField {
            context: context.to_string(),
            path: "spec.static.hosts".to_string(),
            problem: format!("expected a list, found {}", hosts.describe()),
        });
    };
    for host in hosts.iter_mut() {
        let has_sni_addr = host.get("sniAddr").is_some();
        let addr_differs = host.get("addr").and_then(Node::as_str) != Some(sni);
        if has_sni_addr || (auto_rewrite && addr_differs) {
            if let Node::Map(_) = host {
                host.set_ordered("sniAddr", Node::Str(sni.to_string()), HOST_ORDER);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// An order-preserving YAML value. serde_json::Value (built here without `preserve_order`) would
// sort keys, and serde-saphyr has no value type of its own; this keeps the user's key order.

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// A string written in single quotes (JSON inside an annotation reads best that way).
    SingleQuoted(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key` of a mapping; a null value counts as absent.
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .filter(|v| !v.is_null()),
            _ => None,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .filter(|v| !v.is_null()),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) | Node::SingleQuoted(s) => Some(s),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    /// Sets `key` in a mapping. An existing key keeps its place. A new key goes where it sorts when
    /// the mapping has three or more keys, all sorted (as `kubectl get -o yaml` prints them);
    /// otherwise before the first key that comes after it in `order`, otherwise at the end.
    fn set_ordered(&mut self, key: &str, value: Node, order: &[&str]) {
        let Node::Map(entries) = self else {
            return;
        };
        if let Some(slot) = entries.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
            return;
        }
        let sorted = entries.len() >= 3 && entries.windows(2).all(|w| w[0].0 <= w[1].0);
        let rank = |k: &str| order.iter().position(|o| *o == k);
        let index = if sorted {
            entries.partition_point(|(k, _)| k.as_str() < key)
        } else {
            match rank(key) {
                Some(new_rank) => entries
                    .iter()
                    .position(|(k, _)| rank(k).is_some_and(|r| r > new_rank))
                    .unwrap_or(entries.len()),
                None => entries.len(),
            }
        };
        entries.insert(index, (key.to_string(), value));
    }

    /// A short description for error messages.
    fn describe(&self) -> String {
        match self {
            Node::Null => "null".to_string(),
            Node::Bool(b) => format!("the bool {b}"),
            Node::Int(n) => format!("the number {n}"),
            Node::UInt(n) => format!("the number {n}"),
            Node::Float(n) => format!("the number {n}"),
            Node::Str(s) | Node::SingleQuoted(s) => {
                let short: String = s.chars().take(60).collect();
                format!("the string {short:?}")
            }
            Node::Seq(_) => "a list".to_string(),
            Node::Map(_) => "a mapping".to_string(),
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Int(n) => s.serialize_i64(*n),
            Node::UInt(n) => s.serialize_u64(*n),
            Node::Float(n) => s.serialize_f64(*n),
            Node::Str(v) => s.serialize_str(v),
            // Single quotes cannot carry control characters; those fall back to the default style.
            Node::SingleQuoted(v) if v.chars().any(char::is_control) => s.serialize_str(v),
            Node::SingleQuoted(v) => serde_saphyr::SingleQuoted(v.as_str()).serialize(s),
            Node::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        i64::try_from(v)
            .map(Node::Int)
            .or_else(|_| u64::try_from(v).map(Node::UInt))
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v)
            .map(Node::UInt)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        String::from_utf8(v.to_vec())
            .map(Node::Str)
            .map_err(|_| E::custom("binary (!!binary) values that are not UTF-8 are not supported"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = access.next_key::<Node>()? {
            // Kubernetes objects are JSON: keys are strings. Scalars keep their YAML text form.
            let key = match key {
                Node::Str(s) | Node::SingleQuoted(s) => s,
                Node::Bool(b) => b.to_string(),
                Node::Int(n) => n.to_string(),
                Node::UInt(n) => n.to_string(),
                Node::Float(n) => n.to_string(),
                Node::Null => "null".to_string(),
                Node::Seq(_) | Node::Map(_) => {
                    return Err(de::Error::custom(
                        "a list or mapping as a mapping key is not supported (Kubernetes needs string keys)",
                    ))
                }
            };
            let value = access.next_value::<Node>()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate mapping key: {key}")));
            }
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip() {
        for p in Protocol::ALL {
            match gloo_version_name(p) {
                Some(name) => assert_eq!(parse_gloo_version(name).unwrap(), Some(p)),
                None => assert_eq!(p, Protocol::Ssl3),
            }
        }
        assert_eq!(parse_gloo_version("TLS_AUTO").unwrap(), None);
        let err = parse_gloo_version("TLSv1.2").unwrap_err().to_string();
        assert!(err.contains("unknown Gloo TLS version 'TLSv1.2'"), "{err}");
    }

    #[test]
    fn set_ordered_follows_canonical_or_sorted_order() {
        let mut m = map(vec![("sni", Node::Null), ("alpnProtocols", Node::Null)]);
        m.set_ordered("secretRef", Node::Null, SSL_CONFIG_ORDER);
        m.set_ordered("parameters", Node::Null, SSL_CONFIG_ORDER);
        let keys: Vec<_> = match &m {
            Node::Map(e) => e.iter().map(|(k, _)| k.as_str()).collect(),
            _ => unreachable!(),
        };
        assert_eq!(keys, ["secretRef", "sni", "parameters", "alpnProtocols"]);

        let mut sorted = map(vec![
            ("discoveryMetadata", Node::Null),
            ("kube", Node::Null),
            ("useHttp2", Node::Null),
        ]);
        sorted.set_ordered("sslConfig", Node::Null, SPEC_ORDER);
        let keys: Vec<_> = match &sorted {
            Node::Map(e) => e.iter().map(|(k, _)| k.as_str()).collect(),
            _ => unreachable!(),
        };
        assert_eq!(keys, ["discoveryMetadata", "kube", "sslConfig", "useHttp2"]);

        // Two keys in sorted order are no sign of kubectl output: canonical order wins.
        let mut two = map(vec![("secretRef", Node::Null), ("sni", Node::Null)]);
        two.set_ordered("parameters", Node::Null, SSL_CONFIG_ORDER);
        let keys: Vec<_> = match &two {
            Node::Map(e) => e.iter().map(|(k, _)| k.as_str()).collect(),
            _ => unreachable!(),
        };
        assert_eq!(keys, ["secretRef", "sni", "parameters"]);
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("gloo-system"), "gloo-system");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_single_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn odd_input_gives_errors_not_panics() {
        for input in [
            "",
            "---\n---\n",
            "- a\n- b\n",
            "just a string",
            "? [a, b]\n: c\n",
            "a: &x [*x]\n",
            "kind: Upstream\napiVersion: gloo.solo.io/v1\nspec: 3\n",
            "kind: Upstream\napiVersion: gloo.solo.io/v1\nspec: {sslConfig: [1]}\n",
            "kind: Upstream\napiVersion: gloo.solo.io/v1\nmetadata: {name: a}\nspec: {static: {hosts: 5}}\n",
            "kind: Upstream\napiVersion: gloo.solo.io/v1\nmetadata: {name: a}\nspec: {static: {hosts: [{addr: x, port: 70000}]}}\n",
            "kind: List\nitems: 4\n",
            "\u{0}",
            "a: !!binary AAAA\n",
            "a: 99999999999999999999999999\n",
            "a: .nan\n",
        ] {
            let _ = read_upstreams(input);
            let _ = patch_manifest(input, &SslParameters::default(), Some("x"), None);
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(read_upstreams(&deep).is_err());
        let deep_block: String = (0..500).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert!(read_upstreams(&deep_block).is_err());
    }
}
