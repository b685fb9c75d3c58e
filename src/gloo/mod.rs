//! Gloo Edge `Upstream` YAML: writes manifests, merge patches and Service annotations that set
//! `sslConfig` (secretRef, sni, parameters), patches existing Upstream manifests and reads Upstreams back.
//! The only module that knows Gloo's schema. It speaks Envoy's terms (`TlsParams`, `EnvoySni`) and
//! knows nothing about probes or verdicts.

mod node;
mod params;
mod patch;
mod read;
mod write;

use node::*;
pub use params::*;
pub use patch::*;
pub use read::*;
pub use write::*;

use crate::envoy::view::EnvoySni;
use crate::tls::protocol::Protocol;

/// The namespace Gloo Edge installs into, and where an Upstream goes unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "gloo-system";

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

/// The version name Gloo writes for `p`; SSLv3, which Gloo cannot express, as its lowest, TLSv1_0.
pub fn written_version(p: Protocol) -> &'static str {
    gloo_version_name(p).unwrap_or("TLSv1_0")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_found_but_not_inside_strings_or_block_scalars() {
        let yaml = "# head\nkind: Upstream # trailing\nmetadata:\n  name: \"a#b\"\n  note: |\n    # content\n    more\nspec: {} #x\nurl: http://h/#frag\n";
        assert_eq!(comment_lines(yaml), [1, 2, 8]);
        // An apostrophe inside a plain scalar opens no quote; indentation indicators open blocks.
        let yaml = "name: bob's-api # owned by team X\nnote: |2\n  # not a comment\nq: \"a \\\" # b\" # c\n";
        assert_eq!(comment_lines(yaml), [1, 4]);
    }

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
