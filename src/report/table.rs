//! The table renderer: protocol lines first, then the suites that matter (accepted and
//! inconclusive; every suite with `--all`), then a one-line summary.

use tabled::builder::Builder;
use tabled::settings::Style;

use crate::protocol::Protocol;
use crate::scan::{summary_line, CipherStatus, ProtocolStatus, ScanReport};

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

/// Renders the report for a terminal or a pager.
pub fn render(report: &ScanReport, rows: Rows) -> String {
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
            "{:<8} {:<width$}  {}\n",
            p.version.name(),
            status_word(p.status),
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
        let mut header = vec!["Protocol", "OpenSSL name", "IANA name", "Code", "Status"];
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
        table.with(Style::psql());
        out.push_str(&table.to_string());
        out.push_str("\n\n");
    }
    out.push_str(&summary_line(&report.summary));
    out.push('\n');
    if report.summary.untestable > 0 && rows != Rows::All {
        out.push_str(&format!(
            "Untestable: suites {} cannot offer (RC4, 3DES, DES, EXPORT, SSLv3, SRP); --all lists them.\n",
            report.scanner.openssl
        ));
    }
    if report.has_inconclusive() {
        out.push_str(
            "Some probes stayed inconclusive: the accepted set may be incomplete (exit code 2).\n",
        );
    }
    out
}
