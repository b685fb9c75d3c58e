//! Envoy's certificate-name check as Gloo Edge configures it: each `verifySubjectAltName` entry is an untyped
//! exact matcher that Envoy tries against the DNS, URI, email and IP SANs; any match accepts, and the CN is never read.
//! DNS SANs follow `dnsNameMatch` (one `*`, left-most label only); the other types compare as exact, case-sensitive text.
//! Sources: solo-io/gloo `projects/gloo/pkg/utils/ssl.go` (`verifySanListToMatchSanList`); envoyproxy/envoy `source/common/ssl/certificate_validation_context_config_impl.cc` (`getSubjectAltNameMatchers`), `source/common/tls/cert_validator/san_matcher.cc` (`createStringSanMatcher`, `DnsExactStringSanMatcher`), `source/common/tls/cert_validator/default_validator.cc` (`matchSubjectAltName`), `source/common/tls/utility.cc` (`dnsNameMatch`, `labelWildcardMatch`, `generalNameAsString`), tests `test/common/tls/utility_test.cc` (`TestDnsNameMatching`) and `test/common/tls/cert_validator/default_validator_test.cc`.

use std::net::{IpAddr, Ipv6Addr};

/// The certificate's names as Envoy sees them for SAN matching.
///
/// Only the subjectAltName extension counts: there is no field for the subject CN because Envoy
/// never consults it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertificateNames<'a> {
    /// dNSName SANs, as written in the certificate (wildcards included).
    pub dns: &'a [String],
    /// uniformResourceIdentifier SANs.
    pub uri: &'a [String],
    /// rfc822Name (email) SANs.
    pub email: &'a [String],
    /// iPAddress SANs.
    pub ip: &'a [IpAddr],
}

/// The ACE prefix of an A-label (RFC 5890 §2.3.2.5): a pattern label starting with it is no wildcard.
const ACE_PREFIX: &str = "xn--";

/// Envoy's DNS name match: `dns_name` (configured) against `pattern` (a certificate DNS SAN, possibly a wildcard).
///
/// Both sides are ASCII-lowercased and equal strings match, whatever they contain (so a configured
/// `*.example.com` matches the SAN `*.example.com`). Otherwise the pattern's left-most label must hold
/// `*` and the rest of the pattern none, the left-most label must not start with `xn--`, the rest
/// must equal the rest of `dns_name` exactly, and the left-most label must be `*` alone or a single
/// `*` with a prefix and suffix that both fit in `dns_name`'s first label (`l*ft` matches `lyft`).
/// Nothing else is normalised: trailing dots count, and there is no public-suffix guard.
pub fn dns_name_match(dns_name: &str, pattern: &str) -> bool {
    let name = dns_name.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    if name == pattern {
        return true;
    }
    let (Some((pattern_first, pattern_rest)), Some((name_first, name_rest))) =
        (pattern.split_once('.'), name.split_once('.'))
    else {
        // Both need at least two labels to match as a wildcard.
        return false;
    };
    if !pattern_first.contains('*')
        || pattern_rest.contains('*')
        || pattern_first.starts_with(ACE_PREFIX)
    {
        return false;
    }
    name_rest == pattern_rest && label_wildcard_match(name_first, pattern_first)
}

/// Envoy's `labelWildcardMatch`: `*` matches any label (even an empty one); otherwise exactly one `*`,
/// with the text around it as prefix and suffix of `label`, not overlapping.
fn label_wildcard_match(label: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern.matches('*').count() != 1 {
        return false;
    }
    pattern.split_once('*').is_some_and(|(prefix, suffix)| {
        pattern.len() <= label.len() + 1 && label.starts_with(prefix) && label.ends_with(suffix)
    })
}

/// Whether Envoy, configured by Gloo with `verifySubjectAltName: names`, accepts a certificate with `cert` names.
/// Empty `names` = no check (true).
///
/// This is the name check alone: Envoy runs it after the chain verified against the root CA, which
/// Gloo and Envoy both require whenever `names` is not empty.
pub fn verify_subject_alt_name(names: &[String], cert: &CertificateNames<'_>) -> bool {
    names.is_empty() || first_match(names, cert).is_some()
}

/// For an operator: which of the certificate's names would match (the first one), to suggest a fix.
///
/// One sentence: the verdict when Envoy accepts; otherwise the certificate's SANs, the rule Envoy
/// applies, the likely reason when one is recognised, and the first SAN to configure instead.
pub fn explain_mismatch(names: &[String], cert: &CertificateNames<'_>) -> String {
    if names.is_empty() {
        return "verifySubjectAltName is empty, so Envoy checks no certificate name (only the chain, \
                against the root CA)"
            .to_string();
    }
    if let Some((name, san)) = first_match(names, cert) {
        return format!(
            "Envoy accepts the certificate: the configured name '{name}' matches its SAN {san}"
        );
    }
    let sans = san_texts(cert);
    let Some((suggestion, first_san)) = sans.first() else {
        return "the certificate has no subjectAltName, so Envoy rejects it whatever verifySubjectAltName \
                says (it never falls back to the CN); reissue it with a DNS SAN for the upstream's host"
            .to_string();
    };
    let listed: Vec<&str> = sans.iter().map(|(_, shown)| shown.as_str()).collect();
    let configured: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    let hint = names
        .iter()
        .find_map(|n| mismatch_hint(n, cert))
        .map(|h| format!("; here {h}"))
        .unwrap_or_default();
    format!(
        "the certificate's SANs are {}; Envoy matches each configured name ({}) against them exactly \
         (DNS names ignoring ASCII case, with a '*' in a certificate DNS SAN standing for all or part of \
         the left-most label only), and never looks at the CN{hint}; '{suggestion}' would match \
         {first_san}, so configure that name or reissue the certificate",
        listed.join(", "),
        configured.join(", "),
    )
}

/// The SAN types Envoy expands an untyped `match_subject_alt_names` entry into, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SanType {
    Dns,
    Uri,
    Email,
    IpAddress,
}

/// `getSubjectAltNameMatchers`: one typed matcher per SAN type for each untyped matcher.
const UNTYPED_EXPANSION: [SanType; 4] = [
    SanType::Dns,
    SanType::Uri,
    SanType::Email,
    SanType::IpAddress,
];

/// A typed exact matcher, as Envoy holds one configured name after Gloo's translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SanMatcher<'n> {
    san_type: SanType,
    exact: &'n str,
}

impl SanMatcher<'_> {
    /// The first SAN of the matcher's type that matches, as `TYPE:value` text.
    fn first_match(&self, cert: &CertificateNames<'_>) -> Option<String> {
        let exact = |sans: &[String], tag: &str| {
            sans.iter()
                .find(|s| s.as_str() == self.exact)
                .map(|s| format!("{tag}:{s}"))
        };
        match self.san_type {
            // An exact DNS matcher follows DNS semantics (`DnsExactStringSanMatcher`).
            SanType::Dns => cert
                .dns
                .iter()
                .find(|pattern| dns_name_match(self.exact, pattern))
                .map(|s| format!("DNS:{s}")),
            SanType::Uri => exact(cert.uri, "URI"),
            SanType::Email => exact(cert.email, "email"),
            SanType::IpAddress => cert
                .ip
                .iter()
                .map(envoy_ip_text)
                .find(|text| text == self.exact)
                .map(|text| format!("IP:{text}")),
        }
    }
}

/// Gloo's translation of `verifySubjectAltName` (untyped `StringMatcher{exact}` entries), as Envoy
/// expands it: four typed matchers per name, names in order.
fn gloo_matchers(names: &[String]) -> Vec<SanMatcher<'_>> {
    names
        .iter()
        .flat_map(|name| {
            UNTYPED_EXPANSION.map(|san_type| SanMatcher {
                san_type,
                exact: name.as_str(),
            })
        })
        .collect()
}

/// The first configured name that matches, with the SAN it matched (`matchSubjectAltName` order:
/// matchers outermost).
fn first_match<'n>(names: &'n [String], cert: &CertificateNames<'_>) -> Option<(&'n str, String)> {
    gloo_matchers(names)
        .into_iter()
        .find_map(|m| m.first_match(cert).map(|san| (m.exact, san)))
}

/// The certificate's SANs as (value to configure, `TYPE:value` shown), DNS first, then URI, email, IP.
fn san_texts(cert: &CertificateNames<'_>) -> Vec<(String, String)> {
    let tagged = |values: &[String], tag: &str| -> Vec<(String, String)> {
        values
            .iter()
            .map(|v| (v.clone(), format!("{tag}:{v}")))
            .collect()
    };
    let mut out = tagged(cert.dns, "DNS");
    out.extend(tagged(cert.uri, "URI"));
    out.extend(tagged(cert.email, "email"));
    out.extend(cert.ip.iter().map(|ip| {
        let text = envoy_ip_text(ip);
        (text.clone(), format!("IP:{text}"))
    }));
    out
}

/// Why `name` misses `cert`, when the cause is a common one.
fn mismatch_hint(name: &str, cert: &CertificateNames<'_>) -> Option<String> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if cert.ip.contains(&ip) {
            return Some(format!(
                "IP SANs are compared as text, so write '{name}' as '{}'",
                envoy_ip_text(&ip)
            ));
        }
    }
    if let Some(stripped) = name.strip_suffix('.') {
        if cert.dns.iter().any(|p| dns_name_match(stripped, p)) {
            return Some(format!(
                "a trailing dot counts, so '{name}' is not '{stripped}'"
            ));
        }
    }
    if let Some((_, rest)) = name.split_once("://") {
        let host = rest.split(['/', ':', '?', '#']).next().unwrap_or(rest);
        if cert.dns.iter().any(|p| dns_name_match(host, p)) {
            return Some(format!(
                "'{name}' is compared as a whole against URI SANs, not as a host; name '{host}' alone"
            ));
        }
    }
    for pattern in cert.dns {
        let lower_pattern = pattern.to_ascii_lowercase();
        let Some((first, rest)) = lower_pattern.split_once('.') else {
            continue;
        };
        if !first.contains('*') {
            continue;
        }
        let lower_name = name.to_ascii_lowercase();
        if lower_name == rest {
            return Some(format!("'{pattern}' does not cover '{name}' itself"));
        }
        if lower_name
            .strip_suffix(rest)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|head| head.contains('.'))
        {
            return Some(format!("'{pattern}' covers one label, not '{name}'"));
        }
    }
    let same_but_case = |sans: &[String]| {
        sans.iter()
            .any(|s| s != name && s.eq_ignore_ascii_case(name))
    };
    if same_but_case(cert.uri) || same_but_case(cert.email) {
        return Some("URI and email SANs are compared case-sensitively".to_string());
    }
    None
}

/// An IP SAN as Envoy renders it for matching (`generalNameAsString`): dotted decimal for IPv4,
/// glibc `inet_ntop` for IPv6 (lower-case hex, the first longest run of two or more zero groups as
/// `::`, and a dotted tail for `::a.b.c.d` and `::ffff:a.b.c.d`).
fn envoy_ip_text(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => inet_ntop6(v6),
    }
}

fn inet_ntop6(addr: &Ipv6Addr) -> String {
    let words = addr.segments();
    // The first longest run of zero words, kept only when at least two long.
    let mut best: Option<(usize, usize)> = None;
    let mut current: Option<(usize, usize)> = None;
    for (i, word) in words.iter().enumerate() {
        if *word == 0 {
            current = Some(current.map_or((i, 1), |(base, len)| (base, len + 1)));
        } else if let Some(run) = current.take() {
            if best.is_none_or(|b| run.1 > b.1) {
                best = Some(run);
            }
        }
    }
    if let Some(run) = current {
        if best.is_none_or(|b| run.1 > b.1) {
            best = Some(run);
        }
    }
    let best = best.filter(|&(_, len)| len >= 2);

    let mut out = String::new();
    let mut i = 0;
    while i < words.len() {
        if let Some((base, len)) = best {
            if i >= base && i < base + len {
                if i == base {
                    out.push(':');
                }
                i += 1;
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        let embedded_v4 = i == 6
            && best.is_some_and(|(base, len)| {
                base == 0 && (len == 6 || (len == 5 && words[5] == 0xffff))
            });
        if embedded_v4 {
            let o = addr.octets();
            out.push_str(&format!("{}.{}.{}.{}", o[12], o[13], o[14], o[15]));
            return out;
        }
        out.push_str(&format!("{:x}", words[i]));
        i += 1;
    }
    if best.is_some_and(|(base, len)| base + len == words.len()) {
        out.push(':');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Checks `names` against a certificate with only DNS SANs.
    fn dns_cert_accepts(names: &[&str], dns: &[&str]) -> bool {
        let dns = strings(dns);
        let cert = CertificateNames {
            dns: &dns,
            ..CertificateNames::default()
        };
        verify_subject_alt_name(&strings(names), &cert)
    }

    // UtilityTest.TestDnsNameMatching (test/common/tls/utility_test.cc): equal names, ASCII case.
    #[test]
    fn names_compare_ignoring_ascii_case() {
        assert!(dns_name_match("lyft.com", "lyft.com"));
        assert!(dns_name_match("a.LYFT.com", "*.lyft.COM"));
        assert!(dns_name_match("LYFT.com", "*yft.com"));
        assert!(dns_name_match("Example.COM", "example.com"));
    }

    // UtilityTest.TestDnsNameMatching: `*.` stands for exactly one whole label, never zero or two.
    #[test]
    fn wildcard_covers_exactly_one_label() {
        assert!(dns_name_match("a.lyft.com", "*.lyft.com"));
        assert!(!dns_name_match("a.b.lyft.com", "*.lyft.com"));
        assert!(!dns_name_match("lyft.com", "*.lyft.com"));
        assert!(!dns_name_match("alyft.com", "*.lyft.com"));
        assert!(!dns_name_match("foo.test.com", "*.lyft.com"));
        assert!(!dns_name_match("test.lyft.com.extra", "*.lyft.com"));
    }

    // DefaultCertValidatorTest.TestMatchSubjectAltNameWildcardDNSMatched and TestMultiLevelMatch:
    // san_multiple_dns_cert (DNS:*.example.com, DNS:server2.example.com).
    #[test]
    fn wildcard_certificate_accepts_one_level_only() {
        let sans = ["*.example.com", "server2.example.com"];
        assert!(dns_cert_accepts(&["api.example.com"], &sans));
        assert!(!dns_cert_accepts(&["foo.api.example.com"], &sans));
        assert!(dns_cert_accepts(&["server2.example.com"], &sans));
        assert!(!dns_cert_accepts(&["example.com"], &sans));
    }

    // UtilityTest.TestDnsNameMatching (partial wildcards since envoyproxy/envoy#19728).
    #[test]
    fn partial_wildcards_in_the_left_most_label_match() {
        for (name, pattern) in [
            ("lyft.com", "*yft.com"),
            ("lyft.com", "*lyft.com"),
            ("lyft.com", "lyf*.com"),
            ("lyft.com", "lyft*.com"),
            ("lyft.com", "l*ft.com"),
            ("t.lyft.com", "t*.lyft.com"),
            ("test.lyft.com", "t*.lyft.com"),
            ("l-lots-of-stuff-ft.com", "l*ft.com"),
            ("foo1.example.com", "foo*.example.com"),
            ("barfoo.example.com", "*foo.example.com"),
            ("axyzb.example.com", "a*b.example.com"),
            ("ab.example.com", "a*b.example.com"),
        ] {
            assert!(dns_name_match(name, pattern), "{name} vs {pattern}");
        }
    }

    // UtilityTest.TestDnsNameMatching: prefix and suffix must both fit, without overlapping.
    #[test]
    fn partial_wildcards_need_prefix_and_suffix_to_fit() {
        assert!(!dns_name_match("t.lyft.com", "t*t.lyft.com"));
        assert!(!dns_name_match("lyft.com", "lf*t.com"));
        assert!(!dns_name_match("lyft.com", "l*ft.co"));
        assert!(!dns_name_match(".lyft.com", "*lyft.com"));
        assert!(!dns_name_match("a.example.com", "a*b.example.com"));
    }

    // UtilityTest.TestDnsNameMatching: one `*`, in the left-most label, and no other glob.
    #[test]
    fn only_one_star_and_only_in_the_left_most_label() {
        for pattern in [
            "**lyft.com",
            "lyft**.com",
            "ly**ft.com",
            "lyft.c*m",
            "*yft.c*m",
            "ly?t.com",
        ] {
            assert!(!dns_name_match("lyft.com", pattern), "{pattern}");
        }
        assert!(!dns_name_match("a.b.example.com", "*.*.example.com"));
    }

    // UtilityTest.TestDnsNameMatching: empty names.
    #[test]
    fn empty_names_do_not_match() {
        assert!(!dns_name_match("", "*lyft.com"));
        assert!(!dns_name_match("lyft.com", ""));
    }

    // utility.cc dnsNameMatch: a pattern whose left-most label starts with `xn--` is no wildcard
    // (checked after lowercasing); the configured name's own labels are not checked.
    #[test]
    fn a_label_patterns_are_not_wildcards() {
        assert!(!dns_name_match(
            "xn--bcher-kva.example.com",
            "xn--*.example.com"
        ));
        assert!(!dns_name_match(
            "xn--bcher-kva.example.com",
            "XN--*.example.com"
        ));
        assert!(dns_name_match(
            "xn--bcher-kva.example.com",
            "XN--BCHER-KVA.example.com"
        ));
        assert!(dns_name_match("xn--bcher-kva.example.com", "*.example.com"));
        assert!(dns_name_match(
            "xn--bcher-kva.example.com",
            "*-kva.example.com"
        ));
    }

    // utility.cc dnsNameMatch: a lone `*` has a single label, so it only equals itself.
    #[test]
    fn star_alone_matches_only_itself() {
        assert!(!dns_name_match("lyft.com", "*"));
        assert!(!dns_name_match("localhost", "*"));
        assert!(dns_name_match("*", "*"));
    }

    // utility.cc dnsNameMatch: no trailing-dot normalisation on either side.
    #[test]
    fn trailing_dots_count() {
        assert!(!dns_name_match("example.com.", "example.com"));
        assert!(!dns_name_match("example.com", "example.com."));
        assert!(!dns_name_match("a.example.com.", "*.example.com"));
        assert!(!dns_name_match("a.example.com", "*.example.com."));
        assert!(dns_name_match("a.example.com.", "*.example.com."));
    }

    // utility.cc dnsNameMatch: the configured name is data, not a pattern; a `*` in it is literal and
    // matches only an equal SAN, or a certificate wildcard that covers it as text.
    #[test]
    fn a_configured_star_is_literal() {
        assert!(dns_name_match("*.example.com", "*.example.com"));
        assert!(dns_name_match("*.EXAMPLE.com", "*.example.com"));
        assert!(!dns_name_match("*.example.com", "a.example.com"));
        assert!(!dns_name_match("*.example.com", "example.com"));
        assert!(dns_name_match("a*.example.com", "*.example.com"));
        assert!(!dns_name_match("*.example.com", "x*.example.com"));
    }

    // utility.cc dnsNameMatch/labelWildcardMatch: no public-suffix guard, and `*` matches an empty label.
    #[test]
    fn wildcards_have_no_suffix_guard_and_accept_an_empty_label() {
        assert!(dns_name_match("example.com", "*.com"));
        assert!(dns_name_match(".example.com", "*.example.com"));
        assert!(!dns_name_match(".example.com", "a*.example.com"));
    }

    // DefaultCertValidatorTest.NoSanInCert; default_validator.cc matchSubjectAltName returns false
    // when the certificate has no subjectAltName: the CN is never a fallback.
    #[test]
    fn the_cn_is_never_consulted() {
        let no_sans = CertificateNames::default();
        assert!(!verify_subject_alt_name(
            &strings(&["server1.example.com"]),
            &no_sans
        ));
        assert!(verify_subject_alt_name(&[], &no_sans));
    }

    // Gloo ssl.go: an empty verifySubjectAltName adds no matcher, so there is nothing to check.
    #[test]
    fn an_empty_list_checks_nothing() {
        assert!(dns_cert_accepts(&[], &["other.example.com"]));
        assert!(gloo_matchers(&[]).is_empty());
    }

    // DefaultCertValidatorTest.TestVerifySubjectAltNameURIMatched (san_uri_cert:
    // URI:spiffe://lyft.com/test-team); StringMatcher exact without ignore_case is case-sensitive.
    #[test]
    fn uri_and_email_sans_compare_as_exact_text() {
        let uri = strings(&["spiffe://lyft.com/test-team"]);
        let email = strings(&["envoy@example.com"]);
        let cert = CertificateNames {
            uri: &uri,
            email: &email,
            ..CertificateNames::default()
        };
        let ok = |names: &[&str]| verify_subject_alt_name(&strings(names), &cert);
        assert!(ok(&[
            "spiffe://lyft.com/fake-team",
            "spiffe://lyft.com/test-team"
        ]));
        assert!(!ok(&["spiffe://lyft.com/fake-team"]));
        assert!(!ok(&["SPIFFE://lyft.com/test-team"]));
        assert!(ok(&["envoy@example.com"]));
        assert!(!ok(&["Envoy@example.com"]));
        assert!(!ok(&["*@example.com"]));
    }

    // DefaultCertValidatorTest.TestVerifySubjectAltMultiDomain: a URL is not a host name.
    #[test]
    fn a_url_does_not_match_dns_sans() {
        assert!(!dns_cert_accepts(
            &["https://a.www.example.com"],
            &["*.example.com", "server2.example.com"]
        ));
    }

    // utility.cc generalNameAsString: IP SANs become Envoy's address text, compared exactly.
    #[test]
    fn ip_sans_compare_as_envoy_address_text() {
        let ips: Vec<IpAddr> = ["10.0.0.1", "::1", "2001:db8::1", "::ffff:10.1.2.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let cert = CertificateNames {
            ip: &ips,
            ..CertificateNames::default()
        };
        let ok = |name: &str| verify_subject_alt_name(&strings(&[name]), &cert);
        assert!(ok("10.0.0.1"));
        assert!(ok("::1"));
        assert!(ok("2001:db8::1"));
        assert!(ok("::ffff:10.1.2.3"));
        assert!(!ok("010.000.000.001"));
        assert!(!ok("0:0:0:0:0:0:0:1"));
        assert!(!ok("[::1]"));
        assert!(!ok("2001:DB8::1"));
        assert!(!ok("2001:db8:0:0::1"));
        assert!(!ok("10.0.0.2"));
    }

    // glibc inet_ntop, which Envoy's Ipv6Instance uses for the SAN text.
    #[test]
    fn ipv6_text_follows_inet_ntop() {
        let text = |s: &str| envoy_ip_text(&s.parse().unwrap());
        assert_eq!(text("0:0:0:0:0:0:0:1"), "::1");
        assert_eq!(text("::"), "::");
        assert_eq!(text("2001:DB8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(text("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(text("fe80::"), "fe80::");
        assert_eq!(text("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(text("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(text("::5"), "::5");
        assert_eq!(text("64:ff9b::1.2.3.4"), "64:ff9b::102:304");
    }

    // certificate_validation_context_config_impl.cc getSubjectAltNameMatchers: each untyped matcher
    // Gloo writes becomes DNS, URI, EMAIL and IP_ADDRESS matchers, so a name matches any SAN type.
    #[test]
    fn gloo_names_become_four_typed_exact_matchers() {
        let names = strings(&["a.example.com", "10.0.0.1"]);
        let matchers = gloo_matchers(&names);
        assert_eq!(matchers.len(), 8);
        assert_eq!(
            matchers[..4].iter().map(|m| m.san_type).collect::<Vec<_>>(),
            UNTYPED_EXPANSION
        );
        assert!(matchers[..4].iter().all(|m| m.exact == "a.example.com"));
        assert!(matchers[4..].iter().all(|m| m.exact == "10.0.0.1"));

        // The same configured text is tried against every SAN type.
        assert!(dns_cert_accepts(&["10.0.0.1"], &["10.0.0.1"]));
        let uri = strings(&["a.example.com"]);
        let cert = CertificateNames {
            uri: &uri,
            ..CertificateNames::default()
        };
        assert!(verify_subject_alt_name(&strings(&["a.example.com"]), &cert));
        // Only the DNS matcher has DNS semantics: a wildcard in a URI SAN is literal.
        let uri = strings(&["*.example.com"]);
        let cert = CertificateNames {
            uri: &uri,
            ..CertificateNames::default()
        };
        assert!(!verify_subject_alt_name(
            &strings(&["a.example.com"]),
            &cert
        ));
    }

    // default_validator.cc matchSubjectAltName: any configured name against any SAN.
    #[test]
    fn any_name_matching_any_san_is_enough() {
        let sans = ["server1.example.com"];
        assert!(dns_cert_accepts(
            &["server1.example.com", "server2.example.com"],
            &sans
        ));
        assert!(dns_cert_accepts(
            &["server2.example.com", "server1.example.com"],
            &sans
        ));
        assert!(!dns_cert_accepts(&["foo", "bar"], &sans));
    }

    #[test]
    fn explains_a_mismatch_with_the_sans_and_a_name_that_matches() {
        let dns = strings(&["*.example.com", "example.com"]);
        let cert = CertificateNames {
            dns: &dns,
            ..CertificateNames::default()
        };
        let s = explain_mismatch(&strings(&["a.b.example.com"]), &cert);
        assert!(
            s.starts_with("the certificate's SANs are DNS:*.example.com, DNS:example.com; "),
            "{s}"
        );
        assert!(s.contains("never looks at the CN"), "{s}");
        assert!(
            s.contains("'*.example.com' covers one label, not 'a.b.example.com'"),
            "{s}"
        );
        assert!(
            s.contains("'*.example.com' would match DNS:*.example.com"),
            "{s}"
        );
        assert!(!s.contains('\n'));
        // The suggested name is accepted.
        assert!(verify_subject_alt_name(&strings(&["*.example.com"]), &cert));
    }

    #[test]
    fn explains_common_causes() {
        let dns = strings(&["*.example.com"]);
        let ips: Vec<IpAddr> = vec!["::1".parse().unwrap()];
        let uri = strings(&["spiffe://Cluster/ns"]);
        let cert = CertificateNames {
            dns: &dns,
            uri: &uri,
            ip: &ips,
            ..CertificateNames::default()
        };
        let why = |name: &str| explain_mismatch(&strings(&[name]), &cert);
        assert!(why("example.com").contains("does not cover 'example.com' itself"));
        assert!(why("[::1]").contains("write '[::1]' as '::1'"));
        assert!(why("a.example.com.").contains("a trailing dot counts"));
        assert!(why("https://a.example.com/x").contains("name 'a.example.com' alone"));
        assert!(why("spiffe://cluster/ns").contains("case-sensitively"));
        assert!(why("x.test").contains("'*.example.com' would match DNS:*.example.com"));
    }

    #[test]
    fn explains_acceptance_absence_and_an_empty_list() {
        let dns = strings(&["*.example.com"]);
        let cert = CertificateNames {
            dns: &dns,
            ..CertificateNames::default()
        };
        assert_eq!(
            explain_mismatch(&strings(&["api.example.com"]), &cert),
            "Envoy accepts the certificate: the configured name 'api.example.com' matches its SAN DNS:*.example.com"
        );
        let none = explain_mismatch(&strings(&["api.example.com"]), &CertificateNames::default());
        assert!(
            none.contains("has no subjectAltName") && none.contains("CN"),
            "{none}"
        );
        assert!(explain_mismatch(&[], &cert).starts_with("verifySubjectAltName is empty"));
    }
}
