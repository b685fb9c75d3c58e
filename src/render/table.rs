//! The table renderer: protocol lines first, then the suites that matter (accepted and
//! inconclusive; every suite with `--all`), then a one-line summary.
//!
//! Colour (`render_with` and a `Painter` that is on) marks statuses, the Envoy verdict and finding
//! severities. It is applied after layout, so a coloured table stripped of its escape codes is the
//! plain table, column for column.

use tabled::builder::Builder;

use crate::cert::Severity;
use crate::envoy::verdict::Verdict;
use crate::render::color::{Painter, Style};
use crate::scan::{summary_line, CipherStatus, NegotiatedReport, ProtocolStatus, ScanReport};
use crate::tls::protocol::Protocol;

/// Which rows the table lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Accepted and inconclusive suites only.
    Interesting,
    /// Every suite, rejected and untestable included.
    All,
}

fn status_word(s: ProtocolStatus) -> &'static str {
    match s {
        ProtocolStatus::Supported => "supported",
        ProtocolStatus::NotSupported => "not supported",
        ProtocolStatus::Inconclusive => "inconclusive",
        ProtocolStatus::Untestable => "untestable",
    }
}

fn cipher_word(s: CipherStatus) -> &'static str {
    match s {
        CipherStatus::Accepted => "accepted",
        CipherStatus::Rejected => "rejected",
        CipherStatus::Inconclusive => "inconclusive",
        CipherStatus::Untestable => "untestable",
    }
}

fn status_style(s: ProtocolStatus) -> Option<Style> {
    match s {
        ProtocolStatus::Supported => Some(Style::Green),
        ProtocolStatus::NotSupported => None,
        ProtocolStatus::Inconclusive => Some(Style::Yellow),
        ProtocolStatus::Untestable => Some(Style::Dim),
    }
}

/// Colour of a suite or group status, by its word in the table.
fn cipher_style(word: &str) -> Option<Style> {
    match word {
        "accepted" => Some(Style::Green),
        "rejected" => Some(Style::Dim),
        "inconclusive" => Some(Style::Yellow),
        "untestable" => Some(Style::Dim),
        _ => None,
    }
}

fn verdict_style(v: Verdict) -> Style {
    match v {
        Verdict::Compatible => Style::Green,
        Verdict::NeedsPatch => Style::Yellow,
        Verdict::Incompatible => Style::Red,
    }
}

fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Error => Style::Red,
        Severity::Warning => Style::Yellow,
        Severity::Info => Style::Blue,
    }
}

fn counts(report: &ScanReport, p: Protocol) -> String {
    let mut parts = Vec::new();
    for s in [
        CipherStatus::Accepted,
        CipherStatus::Rejected,
        CipherStatus::Inconclusive,
        CipherStatus::Untestable,
    ] {
        let n = report.ciphers_for(p).filter(|c| c.status == s).count();
        if n > 0 {
            parts.push(format!("{n} {}", cipher_word(s)));
        }
    }
    parts.join(", ")
}

/// Renders the report for a terminal or a pager, without colour.
pub fn render(report: &ScanReport, rows: Rows) -> String {
    render_with(report, rows, Painter::OFF)
}

/// Renders the report, coloured by `paint` when it is on.
pub fn render_with(report: &ScanReport, rows: Rows, paint: Painter) -> String {
    let mut out = String::new();
    let t = &report.target;
    let sni = t.sni.as_deref().unwrap_or("none");
    out.push_str(&format!(
        "Target   {}:{}  (address {}, SNI {})\n",
        if t.host.contains(':') {
            format!("[{}]", t.host)
        } else {
            t.host.clone()
        },
        t.port,
        t.address,
        sni
    ));
    out.push_str(&format!(
        "Engine   {} ({})\n\n",
        report.scanner.engine, report.scanner.openssl
    ));

    let width = report
        .protocols
        .iter()
        .map(|p| status_word(p.status).len())
        .max()
        .unwrap_or(0);
    for p in &report.protocols {
        let detail = match p.status {
            // Every suite of the version is untestable for the same reason: say it once.
            ProtocolStatus::Untestable => report
                .ciphers_for(p.version)
                .next()
                .map(|c| c.reason.clone())
                .unwrap_or_default(),
            _ => counts(report, p.version),
        };
        out.push_str(&format!(
            "{:<8} {}  {}\n",
            p.version.name(),
            paint.padded(status_word(p.status), width, status_style(p.status)),
            detail,
        ));
    }
    out.push('\n');

    let listed: Vec<_> = report
        .ciphers
        .iter()
        .filter(|c| {
            rows == Rows::All
                || matches!(
                    c.status,
                    CipherStatus::Accepted | CipherStatus::Inconclusive
                )
        })
        .collect();
    if listed.is_empty() {
        out.push_str("No cipher suite was accepted.\n\n");
    } else {
        let with_reason = listed.iter().any(|c| c.status != CipherStatus::Accepted);
        let mut b = Builder::default();
        let mut header = vec![
            "Protocol",
            "OpenSSL name",
            "IANA name",
            "Code",
            "Status",
            "Grade",
        ];
        if with_reason {
            header.push("Reason");
        }
        b.push_record(header);
        for c in listed {
            let mut rec = vec![
                c.protocol.name().to_string(),
                c.openssl_name.clone(),
                c.iana_name.clone(),
                c.code.to_string(),
                cipher_word(c.status).to_string(),
                c.strength.to_string(),
            ];
            if with_reason {
                rec.push(if c.status == CipherStatus::Accepted {
                    String::new()
                } else {
                    c.reason.clone()
                });
            }
            b.push_record(rec);
        }
        let mut table = b.build();
        table.with(tabled::settings::Style::psql());
        out.push_str(&paint.column(&table.to_string(), 4, cipher_style));
        out.push_str("\n\n");
    }
    render_groups(report, &mut out);
    render_order(report, &mut out);
    render_envoy(report, &mut out, paint);
    render_certificate(report, &mut out, paint);
    if !report.network.detail.is_empty() {
        out.push_str(&wrap(
            &format!("Network: {}", report.network.detail),
            0,
            100,
        ));
        out.push('\n');
    }
    for e in &report.enumeration {
        if let Some(why) = &e.fallback {
            out.push_str(&wrap(
                &format!(
                    "Method: {} was probed one suite per hello: {why}.",
                    e.protocol.name()
                ),
                0,
                100,
            ));
            out.push('\n');
        }
    }
    let hellos: usize = report.enumeration.iter().map(|e| e.hellos).sum::<usize>()
        + report
            .server_preference
            .iter()
            .map(|p| p.hellos)
            .sum::<usize>();
    out.push_str(&format!(
        "{} ({hellos} hellos for the suites)\n",
        summary_line(&report.summary)
    ));
    if report.summary.untestable > 0 && rows != Rows::All {
        out.push_str(&format!(
            "Untestable: suites {} cannot offer (RC4, 3DES, DES, EXPORT, SSLv3, SRP); --all lists them.\n",
            report.scanner.openssl
        ));
    }
    if report.has_inconclusive() {
        out.push_str(&paint.paint(
            "Some probes stayed inconclusive: the accepted set may be incomplete (exit code 2).",
            Some(Style::Yellow),
        ));
        out.push('\n');
    }
    out
}

fn render_groups(report: &ScanReport, out: &mut String) {
    let mut versions: Vec<Protocol> = report.groups.iter().map(|g| g.protocol).collect();
    versions.dedup();
    if versions.is_empty() {
        return;
    }
    for (i, p) in versions.iter().enumerate() {
        let accepted: Vec<&str> = report
            .groups
            .iter()
            .filter(|g| g.protocol == *p && g.status == CipherStatus::Accepted)
            .map(|g| g.name)
            .collect();
        let other: Vec<String> = report
            .groups
            .iter()
            .filter(|g| g.protocol == *p && g.status == CipherStatus::Inconclusive)
            .map(|g| format!("{} inconclusive", g.name))
            .collect();
        let mut line = if accepted.is_empty() {
            "none accepted".to_string()
        } else {
            accepted.join(", ")
        };
        if !other.is_empty() {
            line.push_str(&format!(" ({})", other.join(", ")));
        }
        let head = if i == 0 { "Groups" } else { "" };
        out.push_str(&format!("{head:<8} {:<8} {line}\n", p.name()));
    }
    out.push('\n');
}

/// Per version with two or more accepted suites: the server's own order, or that it follows the
/// client's.
fn render_order(report: &ScanReport, out: &mut String) {
    let mut any = false;
    for pref in &report.server_preference {
        let line = match pref.enforced {
            Some(true) if !pref.order.is_empty() => {
                format!("the server's: {}", pref.order.join(", "))
            }
            Some(true) => "the server's (its order could not be read)".to_string(),
            Some(false) => "follows the client's".to_string(),
            None => continue,
        };
        let head = if any { "" } else { "Order" };
        any = true;
        let wrapped = wrap(&line, 18, 100);
        out.push_str(&format!("{head:<8} {:<8} ", pref.protocol.name()));
        out.push_str(wrapped.trim_start());
    }
    if any {
        out.push('\n');
    }
}

fn render_envoy(report: &ScanReport, out: &mut String, paint: Painter) {
    let Some(envoy) = &report.envoy else {
        return;
    };
    let verdict = match envoy.verdict {
        Verdict::Compatible => "COMPATIBLE",
        Verdict::NeedsPatch => "NEEDS PATCH",
        Verdict::Incompatible => "INCOMPATIBLE",
    };
    out.push_str(&format!(
        "Envoy    profile {}: {}\n",
        envoy.profile,
        paint.paint(verdict, Some(verdict_style(envoy.verdict)))
    ));
    match &envoy.negotiated {
        Some(n) => out.push_str(&format!(
            "         as configured, Envoy negotiates {}\n",
            negotiated(n)
        )),
        None => out.push_str(&format!(
            "         as configured, the handshake fails: {}\n",
            envoy.handshake_error.as_deref().unwrap_or("unknown error")
        )),
    }
    out.push_str(&wrap(
        &format!(
            "Envoy sends SNI: {} ({})",
            envoy.sni.name.as_deref().unwrap_or("none"),
            envoy.sni.source
        ),
        9,
        100,
    ));
    if let Some(ca) = &envoy.trust.root_ca {
        let chain = match envoy.trust.chain_verified {
            Some(true) => "the chain verifies",
            Some(false) => "the chain does NOT verify",
            None => "no chain to verify",
        };
        out.push_str(&wrap(
            &format!("Envoy verifies against the root CA from {ca}: {chain}"),
            9,
            100,
        ));
    }
    if let Some(real) = &envoy.real {
        let said: Vec<String> = real
            .outcomes
            .iter()
            .map(|o| {
                let what = match o.configuration {
                    crate::scan::real::Configuration::AsConfigured => "as configured",
                    crate::scan::real::Configuration::Patched => "with the patch",
                };
                if o.connected {
                    format!(
                        "{what} it connects ({} at {})",
                        o.cipher.as_deref().unwrap_or("?"),
                        o.protocol.as_deref().unwrap_or("?")
                    )
                } else {
                    format!(
                        "{what} it fails ({})",
                        o.failure.as_deref().unwrap_or("no handshake")
                    )
                }
            })
            .collect();
        let line = if real.agrees {
            format!("verified by {}: {}", real.envoy, said.join("; "))
        } else {
            format!(
                "WARNING: a real {} disagrees with the simulation: {}. Its outcome stands: {}",
                real.envoy,
                real.disagreement.as_deref().unwrap_or("no detail"),
                said.join("; ")
            )
        };
        out.push_str(&wrap(&line, 9, 100));
    }
    if let Some(why) = &envoy.trust.unknown {
        out.push_str(&wrap(&format!("trust not judged: {why}"), 9, 100));
    }
    if envoy.raw_hello.agrees == Some(false) {
        let raw = &envoy.raw_hello;
        out.push_str(&wrap(
            &format!(
                "warning: a raw ClientHello with Envoy's exact parameters disagrees: {}",
                match (&raw.cipher, raw.protocol) {
                    (Some(c), Some(p)) => format!("the server chose {c} at {p}"),
                    _ => raw.detail.clone(),
                }
            ),
            9,
            100,
        ));
    }
    for p in &envoy.problems {
        let kind = p.kind.label();
        out.push_str(&wrap(&format!("problem: {kind}: {}", p.detail), 9, 100));
    }
    match &report.remediation {
        Some(r) => {
            let check = match &r.negotiated_after {
                Some(n) if r.verified => {
                    format!("verified: Envoy then negotiates {}", negotiated(n))
                }
                _ => "NOT verified: a handshake with it still failed".into(),
            };
            out.push_str(&format!("         patch ({check}):\n"));
            let params = crate::gloo::ssl_parameters(&r.params);
            for line in crate::gloo::ssl_config_yaml(&params, r.sni.as_deref()).lines() {
                out.push_str(&format!("           {line}\n"));
            }
            if let (Some(name), true) = (&r.sni, r.static_upstream) {
                out.push_str(&format!(
                    "           # a static Upstream: set hosts[].sniAddr: {name} (autoSniRewrite replaces sslConfig.sni)\n"
                ));
            }
            out.push_str(&wrap(&r.advice, 9, 100));
            out.push_str(&format!(
                "         `cipher-test remediate {}` prints the whole Upstream.\n",
                target_arg(report)
            ));
        }
        None => out.push_str(&wrap(&envoy.advice, 9, 100)),
    }
    out.push('\n');
}

/// `ECDHE-RSA-AES256-SHA at TLSv1.2 with X25519`.
fn negotiated(n: &NegotiatedReport) -> String {
    let group = n
        .group
        .as_ref()
        .map(|g| format!(" with {g}"))
        .unwrap_or_default();
    format!("{} at {}{group}", n.cipher, n.protocol)
}

fn target_arg(report: &ScanReport) -> String {
    let t = &report.target;
    if t.host.contains(':') {
        format!("[{}]:{}", t.host, t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    }
}

/// Word-wraps `text` to `width` columns, every line indented by `indent` spaces.
pub(crate) fn wrap(text: &str, indent: usize, width: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&format!("{pad}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{pad}{line}\n"));
    }
    out
}

fn render_certificate(report: &ScanReport, out: &mut String, paint: Painter) {
    if let Some(c) = &report.certificate {
        for (i, cert) in c.chain.iter().enumerate() {
            let head = if i == 0 { "Cert" } else { "" };
            let until = cert.not_after.split('T').next().unwrap_or(&cert.not_after);
            out.push_str(&format!(
                "{head:<8} {}. {}  ({}, {}, until {until})\n",
                i + 1,
                cert.subject,
                cert.key,
                cert.signature
            ));
            if i == 0 && !cert.sans.is_empty() {
                out.push_str(&wrap(&format!("   SANs: {}", cert.sans.join(", ")), 9, 100));
            }
        }
        let trust = if c.trusted {
            "trusted".to_string()
        } else {
            format!(
                "NOT trusted ({})",
                c.verify_error.as_deref().unwrap_or("verification failed")
            )
        };
        let host = match c.hostname_match {
            Some(true) => "name matches",
            Some(false) => "name does NOT match",
            None => "no name to match",
        };
        out.push_str(&format!("         {trust}; {host}\n"));
    }
    if let Some(a) = &report.client_auth {
        let state = match (a.requested, a.required) {
            (false, None) => "unknown (the handshake did not get that far)".to_string(),
            (false, _) => "not requested".to_string(),
            (true, Some(true)) => "REQUIRED by the upstream".to_string(),
            (true, Some(false)) => "requested, optional".to_string(),
            (true, None) => "requested".to_string(),
        };
        out.push_str(&format!("mTLS     client certificate {state}\n"));
        if !a.acceptable_cas.is_empty() {
            out.push_str(&wrap(
                &format!("acceptable CAs: {}", a.acceptable_cas.join("; ")),
                9,
                100,
            ));
        }
        if let Some(p) = &a.client_certificate {
            let verdict = if p.accepted { "accepted" } else { "REJECTED" };
            out.push_str(&format!("         presented {}: {verdict}\n", p.subject));
        }
    }
    if !report.findings.is_empty() {
        out.push_str("\nFindings\n");
        for f in &report.findings {
            let severity = paint.padded(f.severity.as_str(), 8, Some(severity_style(f.severity)));
            let head = format!("  {severity} {}", f.id);
            out.push_str(&format!("{head}\n"));
            out.push_str(&wrap(&f.message, 11, 100));
        }
    }
    if report.certificate.is_some() || report.client_auth.is_some() {
        out.push('\n');
    }
}
