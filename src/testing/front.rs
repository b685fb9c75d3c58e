//! TCP fronts on loopback that relay connections to an upstream (an in-process
//! [`super::server::TlsServer`]) except those their [`Limit`] turns away, as a rate-limiting load
//! balancer or a flaky middlebox would, and that can hold back the upstream's answers as a distant
//! server's arrive, for the tests and the `limits` bench. Std threads only (no
//! tokio: it must work inside and outside a runtime); a bad peer never panics it, and dropping a front
//! ends every thread and connection it started.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::util::Xorshift;

/// The seed of `random-reset=P` when the spec names none.
pub const DEFAULT_SEED: u64 = 15;

/// The burst window of `pause-after-burst=N` when the spec names none.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(1);

/// The pause of `pause-after-burst=N` when the spec names none.
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(2);

/// How long a relay waits for the upstream to take its connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which connections a [`LimitedFront`] turns away; every other one is relayed. Connections are
/// numbered from 0 in accept order. A connection turned away is reset (SO_LINGER 0, then close) at
/// once, without reading a byte, unless the pattern says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Relays every connection: the clean baseline.
    Unlimited,
    /// Resets every `n`th connection (indices n-1, 2n-1, …): with 2, connections 1, 3, 5, …; with 3,
    /// connections 2, 5, 8, …. The rest are relayed.
    DropEveryNth(usize),
    /// Relays only every `n`th connection (indices 0, n, 2n, …) and resets the others: a harsh
    /// limiter that lets one connection in `n` through.
    KeepEveryNth(usize),
    /// Resets the first `n` connections (indices 0 to n-1) and relays every later one: a server
    /// still starting, or a balancer whose first backend is down.
    DropFirst(usize),
    /// Resets a connection that arrives while `n` are open (relayed and not yet closed on both sides).
    MaxConcurrent(usize),
    /// Relays at most `n` connections in any one second (a sliding window over the relayed ones) and
    /// resets the rest.
    PerSecond(usize),
    /// Resets `percent` % of connections, drawn per connection in accept order from a xorshift
    /// generator seeded with `seed`: the same connection indices every time.
    RandomReset { percent: u8, seed: u64 },
    /// Once `burst` connections arrived within `window` (the last of them still relayed), stops
    /// answering for `pause`: a connection that arrives during the pause is accepted and held silent
    /// (nothing read, nothing sent), then reset when the pause ends, as an overloaded server's
    /// backlog is. Connections already relaying carry on; the count starts afresh after the pause.
    PauseAfterBurst {
        burst: usize,
        window: Duration,
        pause: Duration,
    },
}

impl Limit {
    /// Why this limit cannot be run (a zero that would divide, a percentage over 100), if so.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Limit::DropEveryNth(0) | Limit::KeepEveryNth(0) => {
                Err("every 0th connection means nothing: use 1 or more".into())
            }
            Limit::RandomReset { percent, .. } if percent > 100 => {
                Err(format!("{percent} % is more than every connection"))
            }
            Limit::PauseAfterBurst { burst: 0, .. } => {
                Err("a burst of 0 connections would pause forever".into())
            }
            _ => Ok(()),
        }
    }
}

/// `none`, `drop-every=2`, `keep-every=3`, `drop-first=1`, `concurrent=2`, `rate=20`, `random-reset=20:seed=15`,
/// `pause-after-burst=30:window=1s:pause=2s`: what [`Limit::from_str`] reads back (a default seed,
/// window or pause is left out).
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Limit::Unlimited => f.write_str("none"),
            Limit::DropEveryNth(n) => write!(f, "drop-every={n}"),
            Limit::KeepEveryNth(n) => write!(f, "keep-every={n}"),
            Limit::DropFirst(n) => write!(f, "drop-first={n}"),
            Limit::MaxConcurrent(n) => write!(f, "concurrent={n}"),
            Limit::PerSecond(n) => write!(f, "rate={n}"),
            Limit::RandomReset { percent, seed } => {
                write!(f, "random-reset={percent}")?;
                if seed != DEFAULT_SEED {
                    write!(f, ":seed={seed}")?;
                }
                Ok(())
            }
            Limit::PauseAfterBurst {
                burst,
                window,
                pause,
            } => {
                write!(f, "pause-after-burst={burst}")?;
                if window != DEFAULT_WINDOW {
                    write!(f, ":window={}", spec_duration(window))?;
                }
                if pause != DEFAULT_PAUSE {
                    write!(f, ":pause={}", spec_duration(pause))?;
                }
                Ok(())
            }
        }
    }
}

/// `2s`, `250ms` or `0.0005s`: a duration as [`crate::util::parse_duration`] reads it back.
fn spec_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// A spec [`Limit::from_str`] could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{spec}' is not a connection limit: {why} (known: none, drop-every=N, keep-every=N, \
     drop-first=N, concurrent=N, rate=N, random-reset=PERCENT[:seed=N], \
     pause-after-burst=N[:window=DURATION][:pause=DURATION])"
)]
pub struct LimitSpecError {
    pub spec: String,
    pub why: String,
}

impl FromStr for Limit {
    type Err = LimitSpecError;

    /// Reads `NAME=VALUE[:KEY=VALUE…]` (see [`Limit`]'s `Display`), or `none`.
    fn from_str(spec: &str) -> Result<Limit, LimitSpecError> {
        let fail = |why: String| LimitSpecError {
            spec: spec.to_string(),
            why,
        };
        let mut parts = spec.trim().split(':');
        let head = parts.next().unwrap_or_default();
        if head == "none" {
            return match parts.next() {
                None => Ok(Limit::Unlimited),
                Some(extra) => Err(fail(format!("'none' takes no '{extra}'"))),
            };
        }
        let (name, value) = head
            .split_once('=')
            .ok_or_else(|| fail(format!("'{head}' has no '=VALUE'")))?;
        let count = |what: &str| -> Result<usize, LimitSpecError> {
            value
                .parse()
                .map_err(|_| fail(format!("{what} '{value}' is not a whole number")))
        };
        let mut options: Vec<(&str, &str)> = Vec::new();
        for part in parts {
            let option = part
                .split_once('=')
                .ok_or_else(|| fail(format!("option '{part}' has no '=VALUE'")))?;
            options.push(option);
        }
        let mut allowed: &[&str] = &[];
        let limit = match name {
            "drop-every" => Limit::DropEveryNth(count("the interval")?),
            "keep-every" => Limit::KeepEveryNth(count("the interval")?),
            "drop-first" => Limit::DropFirst(count("the connection count")?),
            "concurrent" => Limit::MaxConcurrent(count("the connection count")?),
            "rate" => Limit::PerSecond(count("the rate per second")?),
            "random-reset" => {
                allowed = &["seed"];
                let percent = value
                    .parse()
                    .map_err(|_| fail(format!("'{value}' is not a percentage from 0 to 100")))?;
                let seed = match options.iter().find(|(k, _)| *k == "seed") {
                    Some((_, s)) => s
                        .parse()
                        .map_err(|_| fail(format!("seed '{s}' is not a whole number")))?,
                    None => DEFAULT_SEED,
                };
                Limit::RandomReset { percent, seed }
            }
            "pause-after-burst" => {
                allowed = &["window", "pause"];
                let duration =
                    |key: &str, default: Duration| match options.iter().find(|(k, _)| *k == key) {
                        Some((_, d)) => {
                            crate::util::parse_duration(d).map_err(|e| fail(format!("{key}: {e}")))
                        }
                        None => Ok(default),
                    };
                Limit::PauseAfterBurst {
                    burst: count("the burst")?,
                    window: duration("window", DEFAULT_WINDOW)?,
                    pause: duration("pause", DEFAULT_PAUSE)?,
                }
            }
            other => return Err(fail(format!("unknown pattern '{other}'"))),
        };
        if let Some((key, _)) = options.iter().find(|(k, _)| !allowed.contains(k)) {
            return Err(fail(format!("'{name}' takes no option '{key}'")));
        }
        limit.check().map_err(fail)?;
        Ok(limit)
    }
}

/// What the front does with one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Relay,
    Reset,
    /// Accept, answer nothing, and reset at this instant.
    Hold(Instant),
}

/// A [`Limit`] with its state: decides connection after connection, in accept order.
#[derive(Debug)]
struct Policy {
    limit: Limit,
    /// The index of the next connection.
    next: usize,
    rng: Xorshift,
    /// Starts counted towards a rate or a burst, oldest first.
    recent: VecDeque<Instant>,
    paused_until: Option<Instant>,
    pauses: usize,
}

impl Policy {
    fn new(limit: Limit) -> Policy {
        let seed = match limit {
            Limit::RandomReset { seed, .. } => seed,
            _ => DEFAULT_SEED,
        };
        Policy {
            limit,
            next: 0,
            rng: Xorshift::new(seed),
            recent: VecDeque::new(),
            paused_until: None,
            pauses: 0,
        }
    }

    /// The verdict on the next connection, arriving at `now` while `open` others are open.
    fn decide(&mut self, now: Instant, open: usize) -> Verdict {
        let index = self.next;
        self.next += 1;
        let relay_if = |ok: bool| if ok { Verdict::Relay } else { Verdict::Reset };
        match self.limit {
            Limit::Unlimited => Verdict::Relay,
            Limit::DropEveryNth(n) => relay_if(index % n.max(1) != n.max(1) - 1),
            Limit::KeepEveryNth(n) => relay_if(index % n.max(1) == 0),
            Limit::DropFirst(n) => relay_if(index >= n),
            Limit::MaxConcurrent(n) => relay_if(open < n),
            Limit::PerSecond(n) => {
                self.forget(now, Duration::from_secs(1));
                let ok = self.recent.len() < n;
                if ok {
                    self.recent.push_back(now);
                }
                relay_if(ok)
            }
            Limit::RandomReset { percent, .. } => {
                relay_if(self.rng.below(100) >= u64::from(percent))
            }
            Limit::PauseAfterBurst {
                burst,
                window,
                pause,
            } => {
                if let Some(until) = self.paused_until {
                    if now < until {
                        return Verdict::Hold(until);
                    }
                    self.paused_until = None;
                }
                self.forget(now, window);
                self.recent.push_back(now);
                if self.recent.len() >= burst {
                    self.recent.clear();
                    self.paused_until = Some(now + pause);
                    self.pauses += 1;
                }
                Verdict::Relay
            }
        }
    }

    /// Drops the starts `window` or more before `now`.
    fn forget(&mut self, now: Instant, window: Duration) {
        while let Some(&t) = self.recent.front() {
            if now.saturating_duration_since(t) < window {
                break;
            }
            self.recent.pop_front();
        }
    }
}

/// Streams the relays hold open, shut down all at once when the front stops.
#[derive(Default)]
struct Registry {
    closing: bool,
    next_id: u64,
    streams: HashMap<u64, [TcpStream; 2]>,
}

/// What the accept thread, the relays and the front share.
struct Shared {
    upstream: SocketAddr,
    /// How long each chunk the upstream sends is held before it is passed on.
    delay: Duration,
    stopped: Mutex<bool>,
    wake: Condvar,
    registry: Mutex<Registry>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    accepted: AtomicUsize,
    proxied: AtomicUsize,
    dropped: AtomicUsize,
    open: AtomicUsize,
    peak: AtomicUsize,
    pauses: AtomicUsize,
    upstream_errors: AtomicUsize,
}

/// A lock that survives a panicked holder: every critical section here leaves consistent state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleeps until `deadline` or until the front stops, whichever comes first.
    fn sleep_until(&self, deadline: Instant) {
        let mut stopped = lock(&self.stopped);
        loop {
            let now = Instant::now();
            if *stopped || now >= deadline {
                return;
            }
            stopped = match self.wake.wait_timeout(stopped, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Counts a connection as open (and the peak); [`Open`] counts it closed again.
    fn enter(self: &Arc<Self>) -> Open {
        let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Open(Arc::clone(self))
    }

    /// Keeps `streams` to be shut down when the front stops; `None` (and shut down now) when it
    /// already is stopping.
    fn register(&self, streams: [TcpStream; 2]) -> Option<u64> {
        let mut registry = lock(&self.registry);
        if registry.closing {
            for s in &streams {
                let _ = s.shutdown(Shutdown::Both);
            }
            return None;
        }
        let id = registry.next_id;
        registry.next_id += 1;
        registry.streams.insert(id, streams);
        Some(id)
    }

    fn unregister(&self, id: u64) {
        lock(&self.registry).streams.remove(&id);
    }

    /// Runs `work` on a thread of its own, kept to be joined when the front stops; false when no
    /// thread could be started (out of resources).
    fn spawn(self: &Arc<Self>, work: impl FnOnce(&Shared) + Send + 'static) -> bool {
        let shared = Arc::clone(self);
        let started = thread::Builder::new()
            .name("limited-front".into())
            .spawn(move || work(&shared));
        match started {
            Ok(handle) => {
                let mut workers = lock(&self.workers);
                workers.retain(|h| !h.is_finished());
                workers.push(handle);
                true
            }
            Err(_) => false,
        }
    }
}

/// One open connection, counted in [`Shared::open`] until dropped.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A listener on loopback in front of an upstream that relays connections both ways as plain TCP,
/// except those its [`Limit`] turns away. Dropping it stops accepting, closes every connection it
/// holds and joins its threads.
pub struct LimitedFront {
    addr: SocketAddr,
    limit: Limit,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl LimitedFront {
    /// Listens on an ephemeral port of the loopback address of `upstream`'s family (127.0.0.1 or
    /// [::1]) and returns once the socket is listening. An invalid `limit` (see [`Limit::check`])
    /// is an `InvalidInput` error.
    pub fn start(upstream: SocketAddr, limit: Limit) -> io::Result<LimitedFront> {
        Self::start_with_delay(upstream, limit, Duration::ZERO)
    }

    /// [`start`](Self::start), and every chunk the upstream sends is passed on at least `delay`
    /// after it was read (one chunk at a time: a long answer in many chunks is held longer), so
    /// that each answer comes as from a server at least `delay` farther away.
    pub fn start_with_delay(
        upstream: SocketAddr,
        limit: Limit,
        delay: Duration,
    ) -> io::Result<LimitedFront> {
        limit
            .check()
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        let listener = match upstream {
            SocketAddr::V4(_) => TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?,
            SocketAddr::V6(_) => TcpListener::bind((Ipv6Addr::LOCALHOST, 0))?,
        };
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            delay,
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            registry: Mutex::new(Registry::default()),
            workers: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            proxied: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            pauses: AtomicUsize::new(0),
            upstream_errors: AtomicUsize::new(0),
        });
        let accept_thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("limited-front-{}", addr.port()))
                .spawn(move || accept_loop(listener, &shared, limit))?
        };
        Ok(LimitedFront {
            addr,
            limit,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The pattern this front enforces.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// The listening address (not the upstream's).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The upstream connections are relayed to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// TCP connections accepted so far, whatever became of them.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections handed to a relay (counted as they are accepted).
    pub fn proxied(&self) -> usize {
        self.shared.proxied.load(Ordering::SeqCst)
    }

    /// Connections reset by the limit: at once, or (during a pause) when the pause ended.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Connections open now: relaying, or held silent during a pause.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn peak_concurrent(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Pauses started (with [`Limit::PauseAfterBurst`]).
    pub fn pauses(&self) -> usize {
        self.shared.pauses.load(Ordering::SeqCst)
    }

    /// Relayed connections that the upstream did not take (the client was then reset).
    pub fn upstream_errors(&self) -> usize {
        self.shared.upstream_errors.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for LimitedFront {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedFront")
            .field("addr", &self.addr)
            .field("limit", &self.limit)
            .field("upstream", &self.shared.upstream)
            .field("accepted", &self.accepted())
            .field("proxied", &self.proxied())
            .field("dropped", &self.dropped())
            .field("peak_concurrent", &self.peak_concurrent())
            .finish()
    }
}

impl Drop for LimitedFront {
    fn drop(&mut self) {
        *lock(&self.shared.stopped) = true;
        self.shared.wake.notify_all();
        // `accept` blocks; a throwaway connection wakes it so it sees the flag. Only join if the
        // wake-up connection got through, so drop never hangs.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(thread) = self.accept_thread.take() {
            if woke {
                let _ = thread.join();
            }
        }
        {
            let mut registry = lock(&self.shared.registry);
            registry.closing = true;
            for streams in registry.streams.values() {
                for s in streams {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
        }
        let workers = std::mem::take(&mut *lock(&self.shared.workers));
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// Accepts until the front stops; decides each connection in accept order.
fn accept_loop(listener: TcpListener, shared: &Arc<Shared>, limit: Limit) {
    let mut policy = Policy::new(limit);
    for stream in listener.incoming() {
        if shared.is_stopped() {
            break;
        }
        let Ok(client) = stream else {
            // Out of file descriptors or similar: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let verdict = policy.decide(Instant::now(), shared.open.load(Ordering::SeqCst));
        shared.pauses.store(policy.pauses, Ordering::SeqCst);
        match verdict {
            Verdict::Reset => {
                shared.dropped.fetch_add(1, Ordering::SeqCst);
                reset(client);
            }
            Verdict::Relay => {
                let open = shared.enter();
                shared.proxied.fetch_add(1, Ordering::SeqCst);
                // A second handle, to reset the client if no relay thread can be started.
                let spare = client.try_clone().ok();
                let started = shared.spawn(move |shared| {
                    let _open = open;
                    relay(client, shared);
                });
                if !started {
                    // An overloaded front turns the connection away, as a real one would.
                    shared.proxied.fetch_sub(1, Ordering::SeqCst);
                    shared.dropped.fetch_add(1, Ordering::SeqCst);
                    if let Some(s) = spare {
                        reset(s);
                    }
                }
            }
            Verdict::Hold(until) => {
                let open = shared.enter();
                let spare = client.try_clone().ok();
                let started = shared.spawn(move |shared| {
                    let _open = open;
                    shared.sleep_until(until);
                    shared.dropped.fetch_add(1, Ordering::SeqCst);
                    reset(client);
                });
                if !started {
                    shared.dropped.fetch_add(1, Ordering::SeqCst);
                    if let Some(s) = spare {
                        reset(s);
                    }
                }
            }
        }
    }
}

/// Relays `client` to the upstream both ways until both sides are done; a reset or failed write on
/// either side ends both directions.
fn relay(client: TcpStream, shared: &Shared) {
    let upstream = match TcpStream::connect_timeout(&shared.upstream, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(_) => {
            shared.upstream_errors.fetch_add(1, Ordering::SeqCst);
            reset(client);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let clones = (
        client.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
        upstream.try_clone(),
    );
    let (Ok(client_back), Ok(upstream_back), Ok(client_kept), Ok(upstream_kept)) = clones else {
        reset(client);
        return;
    };
    let Some(id) = shared.register([client_kept, upstream_kept]) else {
        return;
    };
    match thread::Builder::new()
        .name("limited-front-back".into())
        .spawn({
            let delay = shared.delay;
            move || pump(upstream_back, client_back, delay)
        }) {
        Ok(back) => {
            pump(client, upstream, Duration::ZERO);
            let _ = back.join();
        }
        Err(_) => {
            let _ = upstream.shutdown(Shutdown::Both);
            reset(client);
        }
    }
    shared.unregister(id);
}

/// Copies `from` to `to` until `from` ends, each chunk at least `delay` after it was read (the
/// delays of consecutive chunks add up): a clean end is passed on as a half-close, anything else
/// (a reset, a failed write) closes both sockets both ways.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    match copy(&mut from, &mut to, delay) {
        Ok(()) => {
            let _ = to.shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}

fn copy(from: &mut TcpStream, to: &mut TcpStream, delay: Duration) -> io::Result<()> {
    use std::io::{Read, Write};
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        to.write_all(&buf[..n])?;
    }
}

/// Closes `stream` with a RST (SO_LINGER {on, 0}) instead of a FIN, as a limiting load balancer
/// turns a connection away; where the option cannot be set, the close is an ordinary FIN.
pub fn reset(stream: TcpStream) {
    let _ = set_linger_zero(&stream);
    drop(stream);
}

/// Sets SO_LINGER {on, 0}. `TcpStream::set_linger` is unstable and no libc crate is a dependency, so
/// setsockopt is declared here (std links libc anyway).
#[cfg(unix)]
fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::raw::{c_int, c_void};

    #[repr(C)]
    struct Linger {
        l_onoff: c_int,
        l_linger: c_int,
    }
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    const SOL_SOCKET: c_int = 0xffff;
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    const SO_LINGER: c_int = 0x0080;
    #[cfg(not(any(target_os = "macos", target_os = "ios", target_os = "freebsd")))]
    const SOL_SOCKET: c_int = 1;
    #[cfg(not(any(target_os = "macos", target_os = "ios", target_os = "freebsd")))]
    const SO_LINGER: c_int = 13;

    extern "C" {
        fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
    }
    let linger = Linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is open for the duration of the call and `linger` outlives it; the length
    // matches the struct the kernel expects.
    let rc = unsafe {
        setsockopt(
            stream.as_raw_fd(),
            SOL_SOCKET,
            SO_LINGER,
            (&linger as *const Linger).cast(),
            std::mem::size_of::<Linger>() as u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn set_linger_zero(_stream: &TcpStream) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "SO_LINGER is set on Unix only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdicts on `n` connections arriving `gap` apart, none of them closing.
    fn verdicts(limit: Limit, n: usize, gap: Duration) -> Vec<Verdict> {
        let mut policy = Policy::new(limit);
        let start = Instant::now();
        (0..n)
            .map(|i| policy.decide(start + gap * i as u32, 0))
            .collect()
    }

    fn relayed(verdicts: &[Verdict]) -> Vec<usize> {
        (0..verdicts.len())
            .filter(|&i| verdicts[i] == Verdict::Relay)
            .collect()
    }

    #[test]
    fn every_nth_counts_from_zero() {
        let v = verdicts(Limit::DropEveryNth(2), 6, Duration::ZERO);
        assert_eq!(relayed(&v), [0, 2, 4]);
        let v = verdicts(Limit::DropEveryNth(3), 7, Duration::ZERO);
        assert_eq!(relayed(&v), [0, 1, 3, 4, 6]);
        let v = verdicts(Limit::KeepEveryNth(3), 7, Duration::ZERO);
        assert_eq!(relayed(&v), [0, 3, 6]);
        let v = verdicts(Limit::DropEveryNth(1), 3, Duration::ZERO);
        assert!(relayed(&v).is_empty());
        let v = verdicts(Limit::DropFirst(2), 5, Duration::ZERO);
        assert_eq!(relayed(&v), [2, 3, 4]);
    }

    #[test]
    fn a_rate_is_a_sliding_second() {
        // 60 connections 10 ms apart: 20 in the first second, then one for each that ages out.
        let v = verdicts(Limit::PerSecond(20), 60, Duration::from_millis(10));
        assert_eq!(relayed(&v), (0..20).collect::<Vec<_>>());
        let v = verdicts(Limit::PerSecond(20), 150, Duration::from_millis(10));
        let r = relayed(&v);
        assert_eq!(r.len(), 40, "{r:?}");
        assert_eq!(r[20], 100, "the first start ages out after one second");
    }

    #[test]
    fn concurrency_counts_what_is_open() {
        let mut policy = Policy::new(Limit::MaxConcurrent(2));
        let now = Instant::now();
        assert_eq!(policy.decide(now, 0), Verdict::Relay);
        assert_eq!(policy.decide(now, 1), Verdict::Relay);
        assert_eq!(policy.decide(now, 2), Verdict::Reset);
        assert_eq!(policy.decide(now, 1), Verdict::Relay);
    }

    #[test]
    fn random_resets_follow_the_seed() {
        let limit = Limit::RandomReset {
            percent: 20,
            seed: 7,
        };
        let a = verdicts(limit, 1000, Duration::ZERO);
        assert_eq!(a, verdicts(limit, 1000, Duration::ZERO));
        let dropped = a.len() - relayed(&a).len();
        assert!((150..=250).contains(&dropped), "{dropped} of 1000");
        let other = verdicts(
            Limit::RandomReset {
                percent: 20,
                seed: 8,
            },
            1000,
            Duration::ZERO,
        );
        assert_ne!(a, other);
        let none = Limit::RandomReset {
            percent: 0,
            seed: 7,
        };
        assert_eq!(relayed(&verdicts(none, 50, Duration::ZERO)).len(), 50);
    }

    #[test]
    fn a_burst_starts_a_pause_that_ends() {
        let limit = Limit::PauseAfterBurst {
            burst: 3,
            window: Duration::from_secs(1),
            pause: Duration::from_millis(500),
        };
        let mut policy = Policy::new(limit);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(policy.decide(at(0), 0), Verdict::Relay);
        assert_eq!(policy.decide(at(10), 0), Verdict::Relay);
        // The third within the window is still relayed; it starts the pause.
        assert_eq!(policy.decide(at(20), 0), Verdict::Relay);
        assert_eq!(policy.pauses, 1);
        assert_eq!(policy.decide(at(30), 0), Verdict::Hold(at(520)));
        assert_eq!(policy.decide(at(519), 0), Verdict::Hold(at(520)));
        // After the pause the count starts afresh.
        assert_eq!(policy.decide(at(520), 0), Verdict::Relay);
        assert_eq!(policy.decide(at(530), 0), Verdict::Relay);
        assert_eq!(policy.pauses, 1);
        // Starts further apart than the window never add up to a burst.
        let slow = verdicts(limit, 10, Duration::from_millis(600));
        assert_eq!(relayed(&slow).len(), 10);
    }

    #[test]
    fn specs_round_trip() {
        for (spec, limit) in [
            ("none", Limit::Unlimited),
            ("drop-every=2", Limit::DropEveryNth(2)),
            ("keep-every=3", Limit::KeepEveryNth(3)),
            ("drop-first=1", Limit::DropFirst(1)),
            ("concurrent=2", Limit::MaxConcurrent(2)),
            ("rate=20", Limit::PerSecond(20)),
            (
                "random-reset=20",
                Limit::RandomReset {
                    percent: 20,
                    seed: DEFAULT_SEED,
                },
            ),
            (
                "random-reset=20:seed=7",
                Limit::RandomReset {
                    percent: 20,
                    seed: 7,
                },
            ),
            (
                "pause-after-burst=30",
                Limit::PauseAfterBurst {
                    burst: 30,
                    window: DEFAULT_WINDOW,
                    pause: DEFAULT_PAUSE,
                },
            ),
            (
                "pause-after-burst=5:window=500ms:pause=1500ms",
                Limit::PauseAfterBurst {
                    burst: 5,
                    window: Duration::from_millis(500),
                    pause: Duration::from_millis(1500),
                },
            ),
        ] {
            assert_eq!(spec.parse::<Limit>(), Ok(limit), "{spec}");
            assert_eq!(limit.to_string(), spec);
        }
        assert_eq!(
            "pause-after-burst=5:pause=1.5s".parse::<Limit>(),
            "pause-after-burst=5:pause=1500ms".parse::<Limit>()
        );
    }

    #[test]
    fn bad_specs_say_why() {
        for (spec, why) in [
            ("drop-every=0", "0th"),
            ("drop-every", "no '=VALUE'"),
            ("drop-every=two", "not a whole number"),
            ("random-reset=101", "more than every"),
            ("random-reset=20:seed=x", "seed 'x'"),
            ("rate=20:seed=1", "takes no option 'seed'"),
            ("pause-after-burst=0", "pause forever"),
            ("pause-after-burst=3:pause=soon", "pause:"),
            ("throttle=3", "unknown pattern"),
            ("none:x=1", "takes no"),
        ] {
            let e = spec.parse::<Limit>().unwrap_err();
            assert!(e.why.contains(why), "{spec}: {e}");
            assert!(e.to_string().contains("drop-every=N"), "{e}");
        }
        let e = LimitedFront::start("127.0.0.1:1".parse().unwrap(), Limit::KeepEveryNth(0))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
