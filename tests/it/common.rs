//! Shared helpers for the end-to-end tests: misbehaving listeners on 127.0.0.1 (fault injection) and
//! a runner for the `cipher-test` binary. Std threads only; real sockets, never mocks.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cipher_test::testing::server::{ServerConfig, TlsServer};

/// A TLS client at security level 0 that completes the handshake whatever the certificate, from
/// TLS 1.0 up; `configure` narrows what it offers or adds trust anchors or a client certificate.
pub fn lenient_client(
    configure: impl FnOnce(
        &mut openssl::ssl::SslConnectorBuilder,
    ) -> Result<(), openssl::error::ErrorStack>,
) -> openssl::ssl::SslConnector {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder.set_security_level(0);
    builder.set_verify(SslVerifyMode::NONE);
    builder
        .set_min_proto_version(Some(SslVersion::TLS1))
        .unwrap();
    configure(&mut builder).unwrap();
    builder.build()
}

/// The crate's xorshift generator, with a pick for the no-panic tests: the same cases every run.
pub struct Rng(pub cipher_test::util::Xorshift);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(cipher_test::util::Xorshift::new(seed))
    }
    pub fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        self.0.bytes(n)
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The fixed reply of [`HttpPlaintext`].
pub const HTTP_400: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// How long a fault listener waits for a ClientHello before giving up on a connection.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest any run of the binary may take before it is killed and the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A port on 127.0.0.1 with nothing listening (connections are refused).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// What a fault listener does with a connection it does not proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Reads some bytes, answers with [`HTTP_400`], closes.
    Http400,
    /// Never answers; holds the socket until the client closes or the listener is dropped.
    Silent,
    /// Reads the first TLS record, then closes with a FIN.
    CloseAfterHello,
    /// Reads the first TLS record, then closes with a RST (SO_LINGER 0).
    ResetAfterHello,
}

/// The accept loop shared by every fault listener; dropping it stops the loop and shuts down every
/// connection still open, so no handler thread outlives the test.
struct Listener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<HashMap<usize, TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Binds 127.0.0.1:0 and runs `handle(stream, index)` on its own thread for every connection;
    /// `index` counts from 0 in accept order.
    fn start(handle: impl Fn(TcpStream, usize) + Send + Sync + 'static) -> Listener {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(Mutex::new(HashMap::new()));
        let thread = {
            let (stop, accepted, open) = (stop.clone(), accepted.clone(), open.clone());
            let handle = Arc::new(handle);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let index = accepted.fetch_add(1, Ordering::SeqCst);
                    if let Ok(clone) = stream.try_clone() {
                        open.lock().unwrap().insert(index, clone);
                    }
                    let (handle, open) = (handle.clone(), open.clone());
                    thread::spawn(move || {
                        handle(stream, index);
                        open.lock().unwrap().remove(&index);
                    });
                }
            })
        };
        Listener {
            addr,
            stop,
            accepted,
            open,
            thread: Some(thread),
        }
    }

    /// A listener that applies `fault` to every connection.
    fn fault(fault: Fault) -> Listener {
        Listener::start(move |stream, _| apply(fault, stream))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(thread) = self.thread.take() {
            if woke {
                let _ = thread.join();
            }
        }
        for stream in self.open.lock().unwrap().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Defines a fault listener type: `start()`, `addr()`, `port()`, `connections()`; Drop stops it.
macro_rules! fault_listener {
    ($(#[$doc:meta])* $name:ident, $fault:expr) => {
        $(#[$doc])*
        pub struct $name(Listener);

        impl $name {
            /// Starts listening on 127.0.0.1:0.
            pub fn start() -> Self {
                $name(Listener::fault($fault))
            }

            /// The listening address.
            pub fn addr(&self) -> SocketAddr {
                self.0.addr
            }

            /// The listening port.
            pub fn port(&self) -> u16 {
                self.0.addr.port()
            }

            /// How many TCP connections were accepted so far.
            pub fn connections(&self) -> usize {
                self.0.accepted.load(Ordering::SeqCst)
            }
        }
    };
}

fault_listener!(
    /// Answers any bytes with `HTTP/1.1 400 Bad Request` and closes: a plaintext HTTP port.
    HttpPlaintext,
    Fault::Http400
);
fault_listener!(
    /// Accepts and never answers: a black hole that only a timeout ends.
    Silent,
    Fault::Silent
);
fault_listener!(
    /// Reads the ClientHello, then closes cleanly (FIN) without sending a byte.
    CloseAfterHello,
    Fault::CloseAfterHello
);
fault_listener!(
    /// Reads the ClientHello, then resets the connection (RST).
    ResetAfterHello,
    Fault::ResetAfterHello
);

/// Defines a listener that proxies its first connection to an inner [`TlsServer`] (so a preflight
/// handshake succeeds) and applies a fault to every later one.
macro_rules! tls_then {
    ($(#[$doc:meta])* $name:ident, $fault:expr) => {
        $(#[$doc])*
        pub struct $name {
            listener: Listener,
            inner: TlsServer,
        }

        // Every listener this macro makes has the same accessors; not every one uses them all.
        #[allow(dead_code)]
        impl $name {
            /// Starts the inner TLS server with `config`, then listens on 127.0.0.1:0.
            pub fn start(config: ServerConfig) -> Self {
                let inner = TlsServer::start(config).expect("start inner TLS server");
                let upstream = inner.addr();
                let listener = Listener::start(move |stream, index| {
                    if index == 0 {
                        proxy(stream, upstream);
                    } else {
                        apply($fault, stream);
                    }
                });
                $name { listener, inner }
            }

            /// The listening address (not the inner server's).
            pub fn addr(&self) -> SocketAddr {
                self.listener.addr
            }

            /// The listening port.
            pub fn port(&self) -> u16 {
                self.listener.addr.port()
            }

            /// How many TCP connections this listener accepted so far (the proxied one included).
            pub fn connections(&self) -> usize {
                self.listener.accepted.load(Ordering::SeqCst)
            }

            /// The TLS server behind the first connection.
            pub fn inner(&self) -> &TlsServer {
                &self.inner
            }
        }
    };
}

tls_then!(
    /// First connection: a real TLS server; every later one is closed right after its ClientHello.
    TlsThenClose,
    Fault::CloseAfterHello
);
tls_then!(
    /// First connection: a real TLS server; every later one is accepted and never answered.
    TlsThenSilent,
    Fault::Silent
);

/// Runs `fault` on one connection.
fn apply(fault: Fault, mut stream: TcpStream) {
    match fault {
        Fault::Http400 => {
            let _ = stream.set_read_timeout(Some(HELLO_TIMEOUT));
            let mut buf = [0u8; 4096];
            if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                let _ = stream.write_all(HTTP_400);
            }
            close_gracefully(stream);
        }
        Fault::Silent => {
            // Reads (and discards) until the client closes or Drop shuts the socket down.
            let mut buf = [0u8; 4096];
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        }
        Fault::CloseAfterHello => {
            if read_first_record(&mut stream).is_ok() {
                close_gracefully(stream);
            }
        }
        Fault::ResetAfterHello => {
            if read_first_record(&mut stream).is_ok() {
                cipher_test::testing::front::reset(stream);
            }
        }
    }
}

/// Reads one complete TLS record (the ClientHello, or its first fragment).
fn read_first_record(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(HELLO_TIMEOUT))?;
    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let len = u16::from_be_bytes([header[3], header[4]]) as usize;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Sends a FIN, then waits briefly for the client's, so the close is not turned into a RST by
/// unread data.
fn close_gracefully(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4096];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Copies bytes both ways between `client` and a new connection to `upstream` until both sides close.
fn proxy(client: TcpStream, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_read), Ok(server_read)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let pump = |mut from: TcpStream, mut to: TcpStream| {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    };
    let upstream_to_client = thread::spawn(move || pump(server_read, client));
    pump(client_read, server);
    let _ = upstream_to_client.join();
}

/// Path of the `cipher-test` binary Cargo built for these tests.
pub fn cipher_test_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cipher-test"))
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Output {
    /// Exit code; 128 + signal number if the process was killed by a signal.
    pub code: i32,
    /// Everything written to stdout, lossily decoded.
    pub stdout: String,
    /// Everything written to stderr, lossily decoded.
    pub stderr: String,
    /// Wall-clock time from spawn to exit.
    pub elapsed: Duration,
}

/// Runs `cipher-test args...`; panics if it runs longer than 60 s (after killing it).
pub fn run(args: &[&str]) -> Output {
    let mut command = Command::new(cipher_test_bin());
    command.args(args);
    run_command(command)
}

/// Runs a prepared command (for extra env vars or a working directory) under the same 60 s limit.
pub fn run_command(mut command: Command) -> Output {
    let description = format!("{command:?}");
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {description}: {e}"));
    // Readers on their own threads, so a chatty child never blocks on a full pipe.
    let stdout = collect(child.stdout.take().expect("piped stdout"));
    let stderr = collect(child.stderr.take().expect("piped stderr"));
    let status = wait_with_deadline(&mut child, start + RUN_TIMEOUT);
    let elapsed = start.elapsed();
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!(
            "{description} ran longer than {RUN_TIMEOUT:?} and was killed\n\
             --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        );
    };
    Output {
        code: exit_code(status),
        stdout,
        stderr,
        elapsed,
    }
}

/// Reads a pipe to the end on a separate thread.
fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for the child until `deadline`; kills it and returns `None` if it is still running then.
fn wait_with_deadline(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The exit code, or 128 + signal on Unix when the process was killed.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    -1
}

/// Runs `cipher-test 127.0.0.1:PORT --format json --quiet --timeout 3s EXTRA…`, asserts exit code 0
/// and that stdout is exactly one JSON document, and returns it.
pub fn scan_json(port: u16, extra: &[&str]) -> serde_json::Value {
    let target = format!("127.0.0.1:{port}");
    let mut args = vec![
        target.as_str(),
        "--format",
        "json",
        "--quiet",
        "--timeout",
        "3s",
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_eq!(out.code, 0, "exit code; stderr: {}", out.stderr);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", out.stdout))
}

/// The accepted (protocol, OpenSSL name) pairs of a scan report.
pub fn accepted(report: &serde_json::Value) -> std::collections::BTreeSet<(String, String)> {
    report["ciphers"]
        .as_array()
        .expect("ciphers is an array")
        .iter()
        .filter(|c| c["status"] == "accepted")
        .map(|c| {
            (
                c["protocol"].as_str().unwrap_or_default().to_string(),
                c["openssl_name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A set of (protocol, OpenSSL name) pairs, for comparing with [`accepted`].
pub fn pairs(pairs: &[(&str, &str)]) -> std::collections::BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(p, n)| (p.to_string(), n.to_string()))
        .collect()
}

/// A TLS 1.2 server with `cipher_list` on loopback address `ip` and `port` (0: any free one), to
/// stand for one address of a name with several.
pub fn tls12_server_at(ip: [u8; 4], port: u16, cipher_list: &str) -> TlsServer {
    TlsServer::start(
        ServerConfig::tls12_only(cipher_list).with_listen(std::net::SocketAddr::from((ip, port))),
    )
    .expect("start a TLS server on a loopback address")
}

/// `cipher-test api.example.test:PORT --addresses all` at TLS 1.2, the name resolving (`--resolve`)
/// to 127.0.0.2 and 127.0.0.3; then `extra`.
pub fn scan_both_addresses(port: u16, extra: &[&str]) -> Output {
    let name = format!("api.example.test:{port}");
    let resolve = format!("{name}=127.0.0.2,127.0.0.3");
    let mut args = vec![
        name.as_str(),
        "--resolve",
        &resolve,
        "--addresses",
        "all",
        "--protocols",
        "tls1.2",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// A tool a test needs is missing: `None` with a SKIPPED line outside CI; in CI (`CI` set), which
/// must provide it with `install`, a failure.
pub fn unavailable<T>(why: &str, install: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}: CI must provide it ({install})"
    );
    eprintln!("SKIPPED: {why} ({install})");
    None
}

/// Parses YAML with PyYAML (a YAML 1.1 parser, as kubectl's go-yaml reads YAML 1.1) and returns the
/// documents as JSON. `None` (with a SKIPPED line) when PyYAML is missing outside CI; in CI it fails.
pub fn yaml11(text: &str) -> Option<Vec<serde_json::Value>> {
    use std::io::Write as _;
    let missing = |why: String| unavailable(&why, "pip install pyyaml");
    let child = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return missing(format!("cannot run python3: {e}")),
    };
    // A write error (python3 exited early) shows up below as its exit status.
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes());
    let out = child.wait_with_output().expect("python3 runs");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'yaml'") {
            return missing("python3 has no yaml module".into());
        }
        panic!("PyYAML could not parse:\n{text}\n{err}");
    }
    Some(serde_json::from_slice(&out.stdout).expect("python3 printed JSON"))
}

/// What a [`Fronted`] listener does with every connection (the limits of a rate-limiting front are
/// [`cipher_test::testing::front::Limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// Reads the ClientHello, waits this long, then proxies it: a slow or overloaded server.
    Delay(Duration),
    /// Proxies the ClientHello, forwards only the server's first record (the ServerHello), then closes.
    CloseAfterServerHello,
    /// Answers the ClientHello with pseudo-random bytes from this seed.
    RandomBytes(u64),
    /// Answers with a TLS handshake record header announcing 100 bytes, sends 10, and closes.
    TruncatedRecord,
    /// Answers with a TLS handshake record header announcing 40,000 bytes (over the TLS limit).
    OversizedRecord,
}

/// A listener in front of a real [`TlsServer`] that misbehaves as [`Front`] says.
pub struct Fronted {
    listener: Listener,
    /// Kept for its lifetime: dropping it stops the server.
    _inner: TlsServer,
    /// With [`Front::Delay`]: the most connections that were waiting for an answer at once.
    peak_waiting: Arc<AtomicUsize>,
}

impl Fronted {
    /// Starts the TLS server with `config` and the misbehaving front on 127.0.0.1:0.
    pub fn start(config: ServerConfig, front: Front) -> Fronted {
        let inner = TlsServer::start(config).expect("start inner TLS server");
        let upstream = inner.addr();
        let peak_waiting = Arc::new(AtomicUsize::new(0));
        let waiting = Arc::new(AtomicUsize::new(0));
        let peak = peak_waiting.clone();
        let listener = Listener::start(move |mut stream, _| match front {
            Front::Delay(d) => {
                // A connection waiting here has had no answer, so the client still holds it open.
                let now = waiting.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let hello = read_record_bytes(&mut stream);
                if hello.is_ok() {
                    thread::sleep(d);
                }
                waiting.fetch_sub(1, Ordering::SeqCst);
                if let Ok(hello) = hello {
                    proxy_with(stream, upstream, &hello, false);
                }
            }
            Front::CloseAfterServerHello => {
                if let Ok(hello) = read_record_bytes(&mut stream) {
                    proxy_with(stream, upstream, &hello, true);
                }
            }
            Front::RandomBytes(seed) => {
                if read_first_record(&mut stream).is_ok() {
                    let bytes = cipher_test::util::Xorshift::new(seed | 1).bytes(300);
                    let _ = stream.write_all(&bytes);
                    close_gracefully(stream);
                }
            }
            Front::TruncatedRecord => {
                if read_first_record(&mut stream).is_ok() {
                    let _ = stream.write_all(&[22, 3, 3, 0, 100, 2, 0, 0, 96, 3, 3, 1, 2, 3, 4]);
                    close_gracefully(stream);
                }
            }
            Front::OversizedRecord => {
                if read_first_record(&mut stream).is_ok() {
                    let _ = stream.write_all(&[22, 3, 3, 0x9c, 0x40, 2, 0, 0, 0]);
                    close_gracefully(stream);
                }
            }
        });
        Fronted {
            listener,
            _inner: inner,
            peak_waiting,
        }
    }

    /// With [`Front::Delay`]: the most connections that were waiting for their answer at once.
    pub fn peak_waiting(&self) -> usize {
        self.peak_waiting.load(Ordering::SeqCst)
    }

    /// The front's port.
    pub fn port(&self) -> u16 {
        self.listener.addr.port()
    }
}

/// Reads one TLS record and returns it whole (header included), to replay it upstream.
fn read_record_bytes(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(HELLO_TIMEOUT))?;
    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let len = u16::from_be_bytes([header[3], header[4]]) as usize;
    let mut record = header.to_vec();
    record.resize(5 + len, 0);
    stream.read_exact(&mut record[5..])?;
    Ok(record)
}

/// Sends `first` upstream, then relays; with `one_record`, only the server's first record is relayed
/// back before both sides are closed.
fn proxy_with(mut client: TcpStream, upstream: SocketAddr, first: &[u8], one_record: bool) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    if server.write_all(first).is_err() {
        return;
    }
    if one_record {
        if let Ok(record) = read_record_bytes(&mut server) {
            let _ = client.write_all(&record);
        }
        let _ = server.shutdown(Shutdown::Both);
        close_gracefully(client);
        return;
    }
    let (Ok(client_read), Ok(server_read)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let pump = |mut from: TcpStream, mut to: TcpStream| {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    };
    let back = thread::spawn(move || pump(server_read, client));
    pump(client_read, server);
    let _ = back.join();
}

/// Asserts stderr is exactly one `cipher-test: error: …` line and returns it.
pub fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line on stderr, got: {stderr:?}"
    );
    assert!(lines[0].starts_with("cipher-test: error: "), "{stderr}");
    lines[0]
}

/// Held by every test that runs Envoy inside this test process (`envoy::real::run`), so the
/// driver tests that look for leftover Envoy processes and directories see only their own.
pub fn in_process_envoy() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
