//! Findings about a chain: validity, order, strength, trust and names, each with the advice for
//! Envoy and Gloo; [`evaluate`] puts them together.

use openssl::x509::X509;

use super::*;
use super::{parse::*, trust::*};

/// `cert.expired`, `cert.not_yet_valid` for every certificate, and `cert.expires_soon` for the
/// earliest expiry within `warn_days`.
pub fn validity_findings(
    chain: &[Vec<u8>],
    now: i64,
    warn_days: u32,
) -> Result<Vec<Finding>, CertError> {
    Ok(validity(&parse_all(chain)?, now, warn_days))
}

pub(super) fn validity(chain: &[Parsed], now: i64, warn_days: u32) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, c) in chain.iter().enumerate() {
        if now > c.not_after {
            out.push(Finding::new(
                "cert.expired",
                Severity::Error,
                format!(
                    "{} expired on {}; TLS clients, Envoy included, reject it. Renew it and deploy the new \
                     certificate{}",
                    capitalize(&c.describe(i)),
                    c.info.not_after,
                    if i == 0 {
                        ""
                    } else {
                        " (for an intermediate: install the current one from your CA)"
                    }
                ),
            ));
        }
        if now < c.not_before {
            out.push(Finding::new(
                "cert.not_yet_valid",
                Severity::Error,
                format!(
                    "{} is not valid until {}; clients reject it until then. Check the clock of the \
                     machine that issued it, or reissue it with a start date in the past",
                    capitalize(&c.describe(i)),
                    c.info.not_before
                ),
            ));
        }
    }
    let horizon = now.saturating_add(i64::from(warn_days) * SECONDS_PER_DAY);
    let soonest = chain
        .iter()
        .enumerate()
        .filter(|(_, c)| c.not_after >= now)
        .min_by_key(|(_, c)| c.not_after);
    if let Some((i, c)) = soonest {
        if c.not_after <= horizon {
            let days = (c.not_after - now) / SECONDS_PER_DAY;
            out.push(Finding::new(
                "cert.expires_soon",
                Severity::Warning,
                format!(
                    "{} expires on {} (in {days} day{}, within the {warn_days}-day warning window); \
                     renew it before then",
                    capitalize(&c.describe(i)),
                    c.info.not_after,
                    if days == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    out
}

/// `cert.chain_order`: a certificate is not followed by its issuer although the issuer is elsewhere
/// in the chain, or certificates belong to no path from the leaf.
pub fn chain_order_findings(chain: &[Vec<u8>]) -> Result<Vec<Finding>, CertError> {
    Ok(chain_order(&parse_all(chain)?))
}

pub(super) fn chain_order(chain: &[Parsed]) -> Vec<Finding> {
    let n = chain.len();
    let issued = |issuer: usize, subject: usize| {
        issuer != subject && signed_by(&chain[subject].x509, &chain[issuer].x509)
    };
    let mut problems = Vec::new();
    for (i, cert) in chain.iter().enumerate().take(n.saturating_sub(1)) {
        if cert.self_signed || issued(i + 1, i) {
            continue;
        }
        if let Some(j) = (0..n).find(|&j| j != i + 1 && issued(j, i)) {
            problems.push(format!(
                "{} is followed by certificate {}, not by its issuer, which is certificate {}",
                cert.describe(i),
                i + 2,
                j + 1
            ));
        }
    }
    let path = path_from_leaf(chain);
    let on_path: Vec<bool> = (0..n).map(|j| path.contains(&j)).collect();
    let strays: Vec<String> = (0..n)
        .filter(|&j| !on_path[j])
        .map(|j| chain[j].describe(j))
        .collect();
    if !strays.is_empty() {
        problems.push(format!(
            "{} belong{} to no path from the leaf",
            strays.join(" and "),
            if strays.len() == 1 { "s" } else { "" }
        ));
    }
    if problems.is_empty() {
        return Vec::new();
    }
    vec![Finding::new(
        "cert.chain_order",
        Severity::Warning,
        format!(
            "The certificate chain is out of order: {}. Strict clients fail to build the path. Serve the \
             leaf first, then each intermediate followed by the certificate that issued it (for a \
             Kubernetes secret: the same order in tls.crt), and drop certificates that do not belong",
            problems.join("; ")
        ),
    )]
}

/// Indexes of the certificates on the issuer path from the leaf (index 0) through the sent chain,
/// preferring the next certificate when several could have issued the current one.
pub(super) fn path_from_leaf(chain: &[Parsed]) -> Vec<usize> {
    let n = chain.len();
    let mut path = Vec::new();
    if n == 0 {
        return path;
    }
    path.push(0);
    let mut current = 0;
    while !chain[current].self_signed {
        let next = (current + 1..n)
            .chain(0..current)
            .find(|&j| !path.contains(&j) && signed_by(&chain[current].x509, &chain[j].x509));
        match next {
            Some(j) => {
                path.push(j);
                current = j;
            }
            None => break,
        }
    }
    path
}

/// The last certificate on the leaf's path, with its index.
pub(super) fn path_top(chain: &[Parsed]) -> (usize, &Parsed) {
    let top = path_from_leaf(chain).last().copied().unwrap_or(0);
    (top, &chain[top])
}

/// Where the path ends: "the chain's root is CN=X" or "the sent chain ends at …, issued by CN=Y".
pub(super) fn root_hint(chain: &[Parsed]) -> String {
    let (i, top) = path_top(chain);
    if top.self_signed {
        format!("the chain's root is {}", display_dn(&top.info.subject))
    } else {
        format!(
            "the sent chain ends at {}, issued by {}",
            top.describe(i),
            display_dn(&top.info.issuer)
        )
    }
}

/// `cert.weak_key` and `cert.weak_signature` for every certificate that is not self-signed
/// (a root's own key and self-signature are not what clients rely on).
pub fn strength_findings(chain: &[Vec<u8>]) -> Result<Vec<Finding>, CertError> {
    Ok(strength(&parse_all(chain)?))
}

pub(super) fn strength(chain: &[Parsed]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, c) in chain.iter().enumerate().filter(|(_, c)| !c.self_signed) {
        let weak = match c.key_type {
            KeyType::Rsa => c.key_bits < 2048,
            KeyType::Ec => c.key_bits < 256,
            KeyType::Dsa => true,
            KeyType::Other => false,
        };
        if weak {
            let extra = match c.key_type {
                KeyType::Dsa => {
                    " BoringSSL, Envoy's TLS library, cannot use DSA certificates at all."
                        .to_string()
                }
                _ => String::new(),
            };
            out.push(Finding::new(
                "cert.weak_key",
                Severity::Warning,
                format!(
                    "{} has a weak {} key; clients at OpenSSL security level 2 (the default on Debian and \
                     RHEL) reject it, and Envoy FIPS builds refuse RSA certificates whose key is not \
                     2048, 3072 or 4096 bits when they have to load them (e.g. a client certificate in \
                     tls.crt).{extra} Reissue it with RSA 2048 or more, or EC P-256 or P-384",
                    capitalize(&c.describe(i)),
                    c.info.key
                ),
            ));
        }
        if let Some(digest) = c.weak_digest {
            out.push(Finding::new(
                "cert.weak_signature",
                Severity::Warning,
                format!(
                    "{} is signed with {} ({digest}), which can be forged with collisions; OpenSSL 3 clients \
                     at the default security level reject SHA-1 and MD5 certificate signatures. Have it \
                     reissued with SHA-256",
                    capitalize(&c.describe(i)),
                    c.info.signature
                ),
            ));
        }
    }
    out
}

/// The checks that need only the chain: validity, order, key and signature strength.
pub fn chain_findings(
    chain: &[Vec<u8>],
    now: i64,
    warn_days: u32,
) -> Result<Vec<Finding>, CertError> {
    let parsed = parse_all(chain)?;
    let mut out = validity(&parsed, now, warn_days);
    out.extend(chain_order(&parsed));
    out.extend(strength(&parsed));
    Ok(out)
}

/// Parses, verifies and name-checks a chain; returns the report and its findings, errors first.
pub fn evaluate(check: &CertCheck) -> Result<(CertificateReport, Vec<Finding>), CertError> {
    let parsed = parse_all(check.chain)?;
    let Some(leaf) = parsed.first() else {
        return Err(CertError::EmptyChain);
    };
    let pinned = matches!(check.anchors, TrustAnchors::Pem(_));
    let x509s: Vec<X509> = parsed.iter().map(|p| p.x509.clone()).collect();
    let verify = verify_x509(&x509s, check.anchors, Purpose::EnvoyUpstream)?;

    let mut findings = validity(&parsed, check.now, check.warn_days);

    if let Some((code, reason)) = &verify {
        let missing_issuer = *code == V_ERR_UNABLE_TO_GET_ISSUER_CERT
            || *code == V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
        if missing_issuer && (pinned || (parsed.len() == 1 && !leaf.self_signed)) {
            findings.push(chain_incomplete(&parsed, pinned));
        }
        if parsed.len() == 1 && leaf.self_signed {
            findings.push(Finding::new(
                "cert.self_signed",
                Severity::Warning,
                format!(
                    "The server sends a single self-signed certificate ({}). Envoy verifies nothing \
                     without rootCa, so any certificate would be accepted; to verify this one, put this \
                     certificate in the secret's ca.crt (Gloo sslConfig rootCa)",
                    display_dn(&leaf.info.subject)
                ),
            ));
        }
        findings.push(untrusted(&parsed, pinned, *code, reason));
    }
    findings.extend(chain_order(&parsed));

    let hostname_match = if check.host.is_some() || check.ip.is_some() {
        Some(names_match(&leaf.names, check.host, check.ip))
    } else {
        None
    };
    let san_less = leaf.names.dns.is_empty() && leaf.names.ips.is_empty();
    if hostname_match == Some(false) {
        findings.push(hostname_mismatch(leaf, check, pinned));
    } else if hostname_match == Some(true) && pinned && san_less {
        // RFC 6125 lets the CN stand in, but Envoy's verifySubjectAltName looks at SANs only
        // (`DefaultCertValidator::verifySubjectAltName`): a SAN-less certificate never matches.
        findings.push(cn_only_match(leaf, check));
    }
    findings.extend(strength(&parsed));
    if check.ocsp_stapled {
        findings.push(Finding::new(
            "ocsp.stapled",
            Severity::Info,
            "The server staples an OCSP response to its certificate; nothing to do",
        ));
    }
    findings.sort_by_key(|f| f.severity);

    let report = CertificateReport {
        chain: parsed.into_iter().map(|p| p.info).collect(),
        trusted: verify.is_none(),
        hostname_match,
        verify_error: verify.map(|(_, reason)| reason),
    };
    Ok((report, findings))
}

pub(super) fn chain_incomplete(chain: &[Parsed], pinned: bool) -> Finding {
    let (i, top) = path_top(chain);
    let issuer = display_dn(&top.info.issuer);
    let message = if pinned {
        format!(
            "The chain is incomplete: {} was issued by {issuer}, which the server does not send and \
             which is not in the CA file either. The server must send its intermediate certificates: \
             serve the leaf, then the intermediates in order (or put {issuer} itself in the CA file, \
             the secret's ca.crt: Envoy accepts any CA of the chain there)",
            top.describe(i)
        )
    } else {
        format!(
            "The chain is incomplete: the server sends only its leaf certificate, and its issuer \
             ({issuer}) is not in the trust store. Servers must send their intermediate certificates: \
             serve the leaf, then the intermediates in order. If {issuer} is a private root, the chain is \
             complete and the fix is rootCa instead (put it in the secret's ca.crt)"
        )
    };
    Finding::new("cert.chain_incomplete", Severity::Error, message)
}

pub(super) fn untrusted(chain: &[Parsed], pinned: bool, code: i32, reason: &str) -> Finding {
    // Errors that a different CA file cannot fix get their own advice.
    let certificate_fix = match code {
        V_ERR_INVALID_PURPOSE => Some(
            "The leaf certificate is not allowed for TLS servers: its extended key usage lacks \
             serverAuth, and Envoy verifies upstream certificates for that purpose. Reissue it with \
             extendedKeyUsage serverAuth",
        ),
        V_ERR_INVALID_CA => Some(
            "A certificate that issues another one in the chain is not a CA (basicConstraints \
             CA:TRUE is missing). Reissue the intermediate as a CA certificate, or serve the right one",
        ),
        _ => None,
    };
    let root = root_hint(chain);
    let (severity, message) = match (pinned, certificate_fix) {
        (true, Some(fix)) => (
            Severity::Error,
            format!(
                "The chain does not verify against the given CA file ({reason}); Envoy with this \
                 rootCa rejects the server. {fix}"
            ),
        ),
        (true, None) => (
            Severity::Error,
            format!(
                "The chain does not verify against the given CA file ({reason}); Envoy with this \
                 rootCa rejects the server. Put the root CA of the server's chain in the secret's \
                 ca.crt (Gloo sslConfig rootCa; {root}), or fix the chain the server sends"
            ),
        ),
        (false, Some(fix)) => (
            Severity::Warning,
            format!(
                "The chain does not verify against the system trust store ({reason}). Envoy without \
                 rootCa does not verify upstream certificates at all, so this does not break Envoy \
                 today, but it will with rootCa. {fix}"
            ),
        ),
        (false, None) => (
            Severity::Warning,
            format!(
                "The chain does not verify against the system trust store ({reason}). Envoy without \
                 rootCa does not verify upstream certificates at all, so this does not break Envoy \
                 today; to verify it, put the root CA of this chain in the secret's ca.crt (Gloo \
                 sslConfig rootCa; {root})"
            ),
        ),
    };
    Finding::new("cert.untrusted", severity, message)
}

pub(super) fn hostname_mismatch(leaf: &Parsed, check: &CertCheck, pinned: bool) -> Finding {
    let wanted = match (check.host, check.ip) {
        (Some(h), Some(ip)) if h != ip.to_string() => format!("{h} (or {ip})"),
        (Some(h), _) => h.to_string(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => String::new(),
    };
    let names = if leaf.names.dns.is_empty() && leaf.names.ips.is_empty() {
        let mut names = format!(
            "it has no DNS or IP subject alternative names, and its subject ({}) does not match either",
            display_dn(&leaf.info.subject)
        );
        if !leaf.info.sans.is_empty() {
            names.push_str(&format!(" (other names: {})", leaf.info.sans.join(", ")));
        }
        names
    } else {
        format!("its names are {}", leaf.info.sans.join(", "))
    };
    if pinned {
        Finding::new(
            "cert.hostname_mismatch",
            Severity::Error,
            format!(
                "The leaf certificate does not match {wanted}: {names}. With rootCa and verifySubjectAltName: \
                 [{wanted}] Envoy rejects the server. Reissue the certificate with a SAN for {wanted}, or set \
                 verifySubjectAltName (and sni) to a name the certificate has"
            ),
        )
    } else {
        Finding::new(
            "cert.hostname_mismatch",
            Severity::Warning,
            format!(
                "The leaf certificate does not match {wanted}: {names}. Envoy does not check upstream names \
                 unless sslConfig.verifySubjectAltName is set (which also needs rootCa), so this does not \
                 break Envoy today; if you set it, list a name the certificate has, or reissue the \
                 certificate with a SAN for {wanted}"
            ),
        )
    }
}

pub(super) fn cn_only_match(leaf: &Parsed, check: &CertCheck) -> Finding {
    let host = check.host.unwrap_or_default();
    Finding::new(
        "cert.hostname_mismatch",
        Severity::Error,
        format!(
            "The leaf certificate names {host} only in its subject ({}) and has no subject alternative \
             names. Envoy's verifySubjectAltName checks SANs only, never the CN, so with rootCa and \
             verifySubjectAltName: [{host}] Envoy rejects the server (\"verify cert failed: verify SAN \
             list\"). Reissue the certificate with a DNS SAN for {host}",
            display_dn(&leaf.info.subject)
        ),
    )
}
