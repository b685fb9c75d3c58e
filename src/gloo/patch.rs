//! Patching a user's Upstream manifest in place: the fields to set, checked before they are written.

use super::node::*;
use super::*;

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

/// The mapping under `key`, created (in canonical position) when missing or null.
pub(super) fn child_map<'a>(
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
pub(super) fn check_version_order(parameters: &Node, context: &str) -> Result<(), GlooError> {
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
                min: written_version(min).to_string(),
                max: written_version(max).to_string(),
            });
        }
    }
    Ok(())
}

/// Makes each static host send `sni`: with `autoSniRewrite` on (the default), Gloo sends a host's
/// `sniAddr`, else its addr, instead of `sslConfig.sni` (Gloo `plugins/static/plugin.go`).
pub(super) fn set_static_sni_addrs(
    spec: &mut Node,
    sni: &str,
    context: &str,
) -> Result<(), GlooError> {
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

/// The 1-based lines of `yaml` that hold a comment (whole-line or trailing), which a patched
/// manifest cannot keep: it is written anew from the parsed values. Quoted strings and block
/// scalars (`|`, `>`) are content, not comments.
pub fn comment_lines(yaml: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut block: Option<usize> = None;
    for (i, line) in yaml.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(parent) = block {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block = None;
        }
        if let Some(at) = comment_start(line) {
            out.push(i + 1);
            if is_block_header(&line[..at]) {
                block = Some(indent);
            }
        } else if is_block_header(line) {
            block = Some(indent);
        }
    }
    out
}

/// Where a comment starts in `line`: a `#` at the start or after white space, outside quotes. A
/// quote opens a quoted scalar only where a scalar starts (line start, after `: `, `- `, `[`,
/// `{`, `,`); inside double quotes `\"` is no end.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut prev: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        let scalar_start = match prev {
            None => true,
            Some(p) => {
                let before = line[..i].trim_end();
                p.is_ascii_whitespace()
                    && (before.is_empty()
                        || before.ends_with(':')
                        || before.ends_with('-')
                        || before.ends_with(','))
                    || matches!(p, b'[' | b'{' | b',')
            }
        };
        match c {
            b'#' if prev.is_none_or(|p| p.is_ascii_whitespace()) => return Some(i),
            b'\'' | b'"' if scalar_start => {
                // Skip to the closing quote ('' escapes in single quotes, \" in double ones).
                let mut j = i + 1;
                while j < bytes.len() {
                    if c == b'"' && bytes[j] == b'\\' {
                        j += 2;
                        continue;
                    }
                    if bytes[j] == c {
                        if c == b'\'' && bytes.get(j + 1) == Some(&b'\'') {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                i = j + 1;
                prev = Some(c);
                continue;
            }
            _ => {}
        }
        prev = Some(c);
        i += 1;
    }
    None
}

/// Whether `line` ends with a block scalar header (`|`, `>`, with chomping and indentation
/// indicators: `|-`, `>+`, `|2`, `>2-`, `|-2`).
fn is_block_header(line: &str) -> bool {
    let Some(word) = line.trim_end().rsplit(|c: char| c.is_whitespace()).next() else {
        return false;
    };
    let mut chars = word.chars();
    if !matches!(chars.next(), Some('|') | Some('>')) {
        return false;
    }
    let rest: Vec<char> = chars.collect();
    rest.len() <= 2
        && rest.iter().filter(|c| matches!(c, '-' | '+')).count() <= 1
        && rest.iter().filter(|c| c.is_ascii_digit()).count() <= 1
        && rest.iter().all(|c| matches!(c, '-' | '+' | '1'..='9'))
}
