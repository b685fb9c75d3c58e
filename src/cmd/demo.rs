//! `cipher-test demo`: an in-process upstream like the Gloo guide's example-tls-server (TLS 1.2 only,
//! ECDHE-RSA-AES256-SHA only, self-signed `localhost` certificate), scanned like any other target.

use super::scan::{emit, scan_target};
use super::{CmdError, Status};
use crate::output::Output;
use crate::scan::ScanConfig;
use crate::target::{HostPort, SniChoice};
use crate::testing::server::{ServerConfig, TlsServer};

/// Starts the demo server, scans it and prints the report.
pub async fn run(output: Output) -> Result<Status, CmdError> {
    let server = match TlsServer::start(ServerConfig::tls12_only("ECDHE-RSA-AES256-SHA")) {
        Ok(s) => s,
        Err(e) => return Err(format!("cannot start the demo server: {e:#}").into()),
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
    let report = scan_target(&target, &sni, &config).await?;
    emit(&report, output)
}
