//! `cipher-test demo`: an in-process upstream like the Gloo guide's example-tls-server (TLS 1.2 only,
//! ECDHE-RSA-AES256-SHA only, self-signed `localhost` certificate), scanned like any other target.

use std::process::ExitCode;

use crate::app::{emit, fail, scan_target};
use crate::cli::Output;
use crate::scan::ScanConfig;
use crate::target::{HostPort, SniChoice};
use crate::testing::server::{ServerConfig, TlsServer};

/// Starts the demo server, scans it and prints the report.
pub async fn run(output: Output) -> ExitCode {
    let server = match TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")) {
        Ok(s) => s,
        Err(e) => return fail(&format!("cannot start the demo server: {e:#}")),
    };
    eprintln!(
        "cipher-test: demo server listening on 127.0.0.1:{} (TLS 1.2, ECDHE-RSA-AES256-SHA only)",
        server.port()
    );
    let target = HostPort {
        host: "127.0.0.1".into(),
        port: server.port(),
    };
    let config = ScanConfig {
        progress: output.progress,
        ..ScanConfig::default()
    };
    let sni = SniChoice::Name("localhost".into());
    match scan_target(&target, &sni, &config).await {
        Ok(report) => emit(&report, output),
        Err(e) => fail(&e),
    }
}
