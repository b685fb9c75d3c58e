//! Building blocks of the YAML cipher-test writes: sslConfig nodes, YAML 1.1-safe output, shell quoting.

use crate::tls::protocol::Protocol;

use super::node::*;
use super::*;

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

pub(super) fn map(entries: Vec<(&str, Node)>) -> Node {
    Node::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

pub(super) fn string_seq(items: &[String]) -> Node {
    Node::Seq(items.iter().map(|s| Node::Str(s.clone())).collect())
}

/// SSLv3 cannot be expressed in Gloo; TLSv1_0 is the lowest version it can (see [`SslParameters`]).
pub(super) fn version_node(p: Protocol) -> Node {
    Node::Str(written_version(p).to_string())
}

pub(super) fn secret_node(secret: &SecretRef) -> Node {
    map(vec![
        ("name", Node::Str(secret.name.clone())),
        ("namespace", Node::Str(secret.namespace.clone())),
    ])
}

/// `verifySubjectAltName` of a secret reference, when it names any.
pub(super) fn san_node(secret: &SecretRef) -> Option<Node> {
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
pub(super) fn ssl_config_node(
    params: &SslParameters,
    sni: Option<&str>,
    secret: Option<&SecretRef>,
) -> Node {
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
pub(super) fn to_yaml(node: &Node) -> String {
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

pub(super) fn to_json(node: &Node) -> String {
    serde_json::to_string(node).unwrap_or_else(|_| "{}".to_string())
}

pub(super) fn to_json_pretty(node: &Node) -> String {
    serde_json::to_string_pretty(node).unwrap_or_else(|_| "{}".to_string())
}

/// A word for a POSIX shell: bare when it has only safe characters, else single-quoted.
pub(super) fn shell_word(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/=@%+,".contains(&b));
    if safe {
        s.to_string()
    } else {
        shell_single_quote(s)
    }
}

pub(super) fn shell_single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
