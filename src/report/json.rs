//! The JSON renderer: one pretty-printed document, the public contract described in the README.

use crate::scan::ScanReport;

/// The report as one JSON document followed by a newline.
pub fn render(report: &ScanReport) -> String {
    // Serialising plain data structs cannot fail; fall back to an error object rather than panic.
    let mut s = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise report: {e}\"}}"));
    s.push('\n');
    s
}
