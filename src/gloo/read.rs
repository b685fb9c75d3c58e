//! Reading Upstreams: a stream of documents into [`UpstreamInfo`], with errors that name the
//! Upstream and the field path.

use crate::tls::protocol::Protocol;

use super::node::*;
use super::*;

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
    /// The line (from 1) where the Upstream's mapping starts in the text it was read from.
    pub line: Option<u64>,
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
    let lines = document_lines(yaml, docs.len());
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let doc_no = i + 1;
        let line_of = |item: Option<usize>| {
            let doc = lines.get(i)?;
            match item {
                None => Some(doc.line),
                Some(j) => doc.items.get(j).copied(),
            }
        };
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
                            out.push(UpstreamInfo {
                                line: line_of(Some(j)),
                                ..info
                            });
                        }
                    }
                }
            }
        } else if is_upstream(doc) {
            if let Some(info) = read_upstream(doc, &format!("document {doc_no}"))? {
                out.push(UpstreamInfo {
                    line: line_of(None),
                    ..info
                });
            }
        }
    }
    Ok(out)
}

/// Visitor methods for scalars, each giving `$out`.
macro_rules! scalars_give {
    ($out:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
    };
}

/// Where a document starts, and where each entry of its `items` list starts (lines from 1).
struct DocLines {
    line: u64,
    items: Vec<u64>,
}

/// The lines of each document of the stream, from a second pass that keeps only positions (the
/// order-preserving [`Node`] carries none). Empty when the two passes do not count the same
/// documents, so a line is never given to the wrong Upstream.
fn document_lines(yaml: &str, documents: usize) -> Vec<DocLines> {
    let Ok(docs) = serde_saphyr::from_multiple_with_options::<serde_saphyr::Spanned<ItemLines>>(
        yaml,
        yaml_options(),
    ) else {
        return Vec::new();
    };
    if docs.len() != documents {
        return Vec::new();
    }
    docs.into_iter()
        .map(|d| DocLines {
            line: d.referenced.line(),
            items: d.value.0,
        })
        .collect()
}

/// A document read for positions only: the start line of each entry of its top-level `items`
/// list (a `kind: List`); nothing for any other shape.
struct ItemLines(Vec<u64>);

impl<'de> serde::Deserialize<'de> for ItemLines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

        /// A top-level value: a mapping is searched for `items`; anything else has none.
        struct Top;
        /// The `items` value: each entry's start line when it is a list.
        struct Items;
        struct Entries(Vec<u64>);

        impl<'de> serde::Deserialize<'de> for Entries {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(Items)
            }
        }

        impl<'de> Visitor<'de> for Items {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                let mut lines = Vec::new();
                while let Some(item) = seq.next_element::<serde_saphyr::Spanned<IgnoredAny>>()? {
                    lines.push(item.referenced.line());
                }
                Ok(Entries(lines))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Entries(Vec::new()))
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Entries, E> {
                Ok(Entries(Vec::new()))
            }
            scalars_give!(Entries(Vec::new()));
        }

        impl<'de> Visitor<'de> for Top {
            type Value = ItemLines;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemLines, A::Error> {
                let mut items = Vec::new();
                while let Some(key) = map.next_key::<KeyName>()? {
                    if key.0.as_deref() == Some("items") {
                        items = map.next_value::<Entries>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ItemLines(items))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ItemLines, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ItemLines(Vec::new()))
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<ItemLines, E> {
                Ok(ItemLines(Vec::new()))
            }
            scalars_give!(ItemLines(Vec::new()));
        }

        d.deserialize_any(Top)
    }
}

/// A mapping key: its text when it is a string.
struct KeyName(Option<String>);

impl<'de> serde::Deserialize<'de> for KeyName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = KeyName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<KeyName, E> {
                Ok(KeyName(Some(s.to_string())))
            }
            scalars_give!(KeyName(None));
        }
        d.deserialize_any(V)
    }
}

pub(super) fn parse_stream(yaml: &str) -> Result<Vec<Node>, GlooError> {
    if yaml.len() > MAX_INPUT_BYTES {
        return Err(GlooError::TooLarge {
            size: yaml.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    serde_saphyr::from_multiple_with_options::<Node>(yaml, yaml_options())
        .map_err(GlooError::from_yaml)
}

/// How Kubernetes YAML is read here: as kubectl does (YAML 1.1: `0755` is octal), with
/// serde-saphyr's budget guarding against alias bombs and deep nesting, sized for a large
/// `kubectl get upstreams -A` export (no anchors at all; hand-written manifests use a few small
/// ones). No snippets: an error never quotes the input, which may hold key material.
pub fn yaml_options() -> serde_saphyr::Options {
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
    options
}

pub(super) fn is_upstream(doc: &Node) -> bool {
    doc.get("kind").and_then(Node::as_str) == Some("Upstream")
        && doc.get("apiVersion").and_then(Node::as_str) == Some(UPSTREAM_API_VERSION)
}

pub(super) fn check_is_upstream(doc: &Node) -> Result<(), GlooError> {
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
pub(super) fn upstream_context(doc: &Node, place: Option<&str>) -> String {
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

pub(super) fn read_upstream(doc: &Node, place: &str) -> Result<Option<UpstreamInfo>, GlooError> {
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
        line: None,
    }))
}

/// Typed field access with errors that name the Upstream and the field path.
pub(super) struct Reader {
    context: String,
}

impl Reader {
    pub(super) fn invalid(&self, path: &str, expected: &str, found: &Node) -> GlooError {
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

    pub(super) fn missing(&self, path: &str) -> GlooError {
        GlooError::InvalidField {
            context: self.context.clone(),
            path: path.to_string(),
            problem: "missing; Gloo needs this field".to_string(),
        }
    }

    pub(super) fn expect_map(&self, node: &Node, path: &str) -> Result<(), GlooError> {
        match node {
            Node::Map(_) => Ok(()),
            other => Err(self.invalid(path, "a mapping", other)),
        }
    }

    pub(super) fn string(&self, node: &Node, path: &str) -> Result<String, GlooError> {
        node.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.invalid(path, "a string", node))
    }

    pub(super) fn required_str(
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

    pub(super) fn port(&self, node: &Node, path: &str) -> Result<u16, GlooError> {
        let value = match node {
            Node::UInt(v) => u16::try_from(*v).ok(),
            Node::Int(v) => u16::try_from(*v).ok(),
            _ => None,
        };
        value
            .filter(|p| *p > 0)
            .ok_or_else(|| self.invalid(path, "a port number 1-65535", node))
    }

    pub(super) fn string_list(&self, node: &Node, path: &str) -> Result<Vec<String>, GlooError> {
        let Node::Seq(items) = node else {
            return Err(self.invalid(path, "a list of strings", node));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
            .collect()
    }

    pub(super) fn version(&self, node: &Node, path: &str) -> Result<Option<Protocol>, GlooError> {
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

    pub(super) fn parameters(&self, node: &Node) -> Result<SslParameters, GlooError> {
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

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn upstreams_know_their_lines() {
        let yaml = "\
# a comment
apiVersion: gloo.solo.io/v1
kind: Upstream
metadata: {name: a, namespace: gloo-system}
spec: {static: {hosts: [{addr: a.example, port: 443}]}, sslConfig: {}}
---
kind: ConfigMap
data: {items: 3}
---
apiVersion: v1
kind: List
items:
- apiVersion: gloo.solo.io/v1
  kind: Upstream
  metadata: {name: b, namespace: gloo-system}
  spec: {static: {hosts: [{addr: b.example, port: 443}]}, sslConfig: {}}
-   apiVersion: gloo.solo.io/v1
    kind: Upstream
    metadata:
      name: c
    spec: {static: {hosts: [{addr: c.example, port: 443}]}, sslConfig: {}}
";
        let ups = read_upstreams(yaml).unwrap();
        let lines: Vec<(&str, Option<u64>)> =
            ups.iter().map(|u| (u.name.as_str(), u.line)).collect();
        assert_eq!(lines, [("a", Some(2)), ("b", Some(13)), ("c", Some(17))]);
    }
}
