//! Command-line definitions (clap) and their validation into an `Action`. Nothing below this module
//! sees clap types; nothing in this module touches the network.

use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::envoy;
use crate::protocol::Protocol;
use crate::report::table::Rows;
use crate::report::Format;
use crate::scan::{EnvoyRequest, ScanConfig};
use crate::target::{parse_host_port, HostPort, SniChoice};
use crate::util::parse_duration;

const EXIT_CODES: &str = "\
Exit codes:
  0  the scan completed and every probe has an answer
  2  usage error, unreachable or non-TLS target, or a probe left inconclusive after retries";

const SCAN_EXAMPLES: &str = "\
Examples:
  cipher-test example.com                     scan every suite of every version on port 443
  cipher-test 10.0.0.5:8443 --sni api.internal
  cipher-test [::1]:4433 --protocols tls1.2,tls1.3 --format json
  cipher-test demo                            scan a built-in local server: no network needed";

#[derive(Debug, Parser)]
#[command(
    name = "cipher-test",
    about = "Which TLS cipher suites does this server accept, and why can't Envoy connect to it?",
    long_about = "Which TLS cipher suites does this server accept, and why can't Envoy connect to it?\n\n\
        cipher-test probes a TLS server with one connection per (protocol version, cipher suite), \
        concurrently, and reports each suite as accepted, rejected (the server refused it with a TLS \
        alert) or inconclusive (the network failed; the reason is given). A network error is never \
        reported as a rejection.",
    after_help = format!("{SCAN_EXAMPLES}\n\n{EXIT_CODES}"),
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    scan: ScanArgs,

    /// Print the version and the OpenSSL library in use.
    #[arg(short = 'V', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan one TLS server (the default command: `cipher-test HOST` is `cipher-test scan HOST`).
    #[command(after_help = format!("{SCAN_EXAMPLES}\n\n{EXIT_CODES}"))]
    Scan(ScanArgs),
    /// Start a built-in TLS server on 127.0.0.1 (TLS 1.2 only, ECDHE-RSA-AES256-SHA only, self-signed
    /// localhost certificate), scan it, and print the report.
    #[command(after_help = "Example:\n  cipher-test demo\n  cipher-test demo --format json")]
    Demo(OutputArgs),
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Output format: a table for people, or one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// List every suite in the table, rejected and untestable ones included.
    #[arg(long)]
    all: bool,

    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// The server: HOST, HOST:PORT, [IPV6]:PORT (port 443 when omitted).
    #[arg(value_name = "HOST[:PORT]", required = true)]
    target: Option<String>,

    /// Send this SNI name instead of the host name.
    #[arg(long, value_name = "NAME", conflicts_with = "no_sni")]
    sni: Option<String>,

    /// Send no SNI at all (by default the host name is sent, unless it is an IP address).
    #[arg(long)]
    no_sni: bool,

    /// Protocol versions to test, comma-separated: ssl3, tls1.0, tls1.1, tls1.2, tls1.3.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "ssl3,tls1.0,tls1.1,tls1.2,tls1.3"
    )]
    protocols: Vec<Protocol>,

    /// Probes in flight at once against the server.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,

    /// Limit for one probe, TCP connect included (e.g. 5s, 800ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,

    /// Pause between probe starts, for fragile servers (e.g. 50ms).
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_duration)]
    delay: Duration,

    /// Extra attempts for a probe that got no TLS answer.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,

    #[command(flatten)]
    envoy: EnvoyArgs,

    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct EnvoyArgs {
    /// Judge the upstream against this Envoy client: current (1.17+), 1.16 (pre-1.17 defaults), fips.
    #[arg(long, value_name = "PROFILE", default_value = "current", value_parser = ["current", "1.16", "fips"])]
    envoy: String,

    /// What a patch adds to cipherSuites: the strongest accepted suite Envoy can use, or all of them.
    #[arg(long, value_name = "WHAT", default_value = "one", value_parser = ["one", "all"])]
    add: String,
}

impl EnvoyArgs {
    fn request(&self) -> Result<EnvoyRequest, String> {
        let profile = envoy::profile(&self.envoy)
            .ok_or_else(|| format!("unknown Envoy profile '{}'", self.envoy))?;
        Ok(EnvoyRequest {
            profile,
            params: Default::default(),
            add_all: self.add == "all",
        })
    }
}

/// How to render a report.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    pub rows: Rows,
    pub progress: bool,
}

/// A validated command.
#[derive(Debug)]
pub enum Action {
    Scan {
        target: HostPort,
        sni: SniChoice,
        config: ScanConfig,
        output: Output,
    },
    Demo {
        output: Output,
    },
}

fn output(o: &OutputArgs) -> Output {
    use std::io::IsTerminal;
    Output {
        format: o.format,
        rows: if o.all { Rows::All } else { Rows::Interesting },
        progress: !o.quiet && std::io::stderr().is_terminal(),
    }
}

fn version_text() -> String {
    format!(
        "{} (TLS library: {})",
        env!("CARGO_PKG_VERSION"),
        crate::util::tls_library()
    )
}

/// The clap command, with the run-time version text.
pub fn command() -> clap::Command {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Cli::command().version(VERSION.get_or_init(version_text).as_str())
}

/// Parses the process arguments; on `--help`, `--version` or a usage error clap prints and exits
/// (usage errors with code 2).
pub fn parse() -> Action {
    parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Parses `args` (the program name first) into a validated action.
pub fn parse_from<I, T>(args: I) -> Result<Action, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    validate(Cli::from_arg_matches(&matches)?)
}

fn validate(cli: Cli) -> Result<Action, clap::Error> {
    let usage = |msg: String| command().error(clap::error::ErrorKind::ValueValidation, msg);
    let scan = match cli.command {
        Some(Command::Demo(o)) => return Ok(Action::Demo { output: output(&o) }),
        Some(Command::Scan(s)) => s,
        None => cli.scan,
    };
    let raw = scan.target.unwrap_or_default();
    let target = parse_host_port(&raw).map_err(|e| usage(e.to_string()))?;
    let sni = match (scan.sni, scan.no_sni) {
        (Some(name), _) => SniChoice::Name(name),
        (None, true) => SniChoice::None,
        (None, false) => SniChoice::Auto,
    };
    let mut protocols = scan.protocols;
    protocols.sort();
    protocols.dedup();
    Ok(Action::Scan {
        target,
        sni,
        config: ScanConfig {
            protocols,
            concurrency: usize::from(scan.concurrency),
            timeout: scan.timeout,
            delay: scan.delay,
            retries: scan.retries,
            progress: false,
            envoy: Some(scan.envoy.request().map_err(usage)?),
        },
        output: output(&scan.output),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(args: &[&str]) -> Result<Action, clap::Error> {
        let mut all = vec!["cipher-test"];
        all.extend_from_slice(args);
        parse_from(all)
    }

    #[test]
    fn clap_definitions_are_consistent() {
        command().debug_assert();
    }

    #[test]
    fn bare_target_is_a_scan() {
        let Ok(Action::Scan {
            target,
            sni,
            config,
            ..
        }) = action(&["example.com:8443"])
        else {
            panic!("not a scan")
        };
        assert_eq!((target.host.as_str(), target.port), ("example.com", 8443));
        assert_eq!(sni, SniChoice::Auto);
        assert_eq!(config.protocols, Protocol::ALL.to_vec());
        assert_eq!(config.concurrency, 8);
    }

    #[test]
    fn scan_subcommand_and_flags() {
        let Ok(Action::Scan {
            sni,
            config,
            output,
            ..
        }) = action(&[
            "scan",
            "[::1]:4433",
            "--protocols",
            "tls1.3,tls1.2,tls1.2",
            "--sni",
            "x.example",
            "--timeout",
            "800ms",
            "--format",
            "json",
            "-c",
            "4",
        ])
        else {
            panic!("not a scan")
        };
        assert_eq!(sni, SniChoice::Name("x.example".into()));
        assert_eq!(config.protocols, vec![Protocol::Tls12, Protocol::Tls13]);
        assert_eq!(config.timeout, Duration::from_millis(800));
        assert_eq!(config.concurrency, 4);
        assert_eq!(output.format, Format::Json);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        assert!(action(&[]).is_err());
        assert!(action(&["host", "--protocols", "tls1.4"]).is_err());
        assert!(action(&["host", "--sni", "a", "--no-sni"]).is_err());
        assert!(action(&["host", "--concurrency", "0"]).is_err());
        assert!(action(&["host:99999"]).is_err());
        assert!(matches!(action(&["demo"]), Ok(Action::Demo { .. })));
    }
}
