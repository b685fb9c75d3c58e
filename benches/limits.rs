//! `cargo bench --bench limits`: how cipher-test fares against upstreams that limit connections
//! (issue 15). For the clean server and each pattern of `cipher_test::testing::front`, it starts a
//! six-suite TLS server with a front before it, runs the release binary at default settings
//! (`--format json --quiet`) `BENCH_RUNS` times, and prints one table row per pattern; it builds
//! nothing itself.
//!
//! Usage: cargo bench --bench limits [-- PATTERN…]   (or scripts/bench.sh --limits)
//!
//! PATTERN is a front spec (`drop-every=2`, `concurrent=2`, `rate=20`, `random-reset=20:seed=7`,
//! `pause-after-burst=30:window=1s:pause=2s`, …); default: the issue's six.
//!
//! Environment:
//!   CIPHER_TEST_BIN      the binary to time (default: target/release/cipher-test, beside this bench)
//!   BENCH_RUNS           runs per pattern (default 3); the wall time is their median
//!   BENCH_LIMITS         patterns, space-separated, when none are given as arguments
//!   BENCH_CT_ARGS        extra cipher-test arguments, space-separated (e.g. "--retries 5")
//!   BENCH_RUN_TIMEOUT    seconds before a run is killed (default 300)
//!
//! Exit: 0 every run through every front found the clean scan's accepted set with nothing
//! inconclusive and exit code 0; 1 some did not (the table says which); 2 setup error.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cipher_test::testing::front::{Limit, LimitedFront};
use cipher_test::testing::server::{ServerConfig, TlsServer};
use serde_json::Value;

/// The issue's six patterns, in its order.
const ISSUE_PATTERNS: [&str; 6] = [
    "drop-every=2",
    "drop-every=3",
    "concurrent=2",
    "rate=20",
    "random-reset=20",
    "pause-after-burst=30",
];

type Suites = BTreeSet<(String, String)>;

/// One run of the binary through one front.
struct Run {
    wall: Duration,
    /// Exit code; `None` when the run was killed at the timeout.
    code: Option<i32>,
    /// The report, when stdout held one.
    report: Option<Value>,
    stderr: String,
    /// The front's counters after the run: accepted, proxied, dropped, peak concurrent.
    front: [usize; 4],
}

impl Run {
    fn accepted(&self) -> Option<Suites> {
        let rows = self.report.as_ref()?["ciphers"].as_array()?;
        Some(
            rows.iter()
                .filter(|r| r["status"] == "accepted")
                .map(|r| {
                    let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    (field("protocol"), field("openssl_name"))
                })
                .collect(),
        )
    }

    fn inconclusive(&self) -> Option<u64> {
        self.report.as_ref()?["summary"]["inconclusive"].as_u64()
    }

    /// Inconclusive suites, then `+Ng` for inconclusive groups and `+e` for an inconclusive Envoy
    /// verdict (each also makes the exit code 2): `0+3g+e`.
    fn inconclusive_all(&self) -> String {
        let Some(report) = &self.report else {
            return "?".into();
        };
        let mut text = self.inconclusive().map_or("?".into(), |n| n.to_string());
        let groups = report["groups"].as_array().map_or(0, |g| {
            g.iter().filter(|g| g["status"] == "inconclusive").count()
        });
        if groups > 0 {
            text.push_str(&format!("+{groups}g"));
        }
        if report["envoy"]["inconclusive"] == true {
            text.push_str("+e");
        }
        text
    }

    /// Whether the run gave the complete, right answer.
    fn complete(&self, reference: &Suites) -> bool {
        self.code == Some(0)
            && self.inconclusive_all() == "0"
            && self.accepted().as_ref() == Some(reference)
    }

    /// The `network` section in a few words: passes, their concurrency, what stayed inconclusive.
    fn network(&self) -> String {
        let Some(net) = self.report.as_ref().map(|r| &r["network"]) else {
            return "no report".into();
        };
        let passes = net["passes"].as_array().cloned().unwrap_or_default();
        if passes.is_empty() {
            return "elimination only: no per-suite pass".into();
        }
        let field = |k: &str| -> Vec<String> {
            passes
                .iter()
                .map(|p| p[k].as_u64().map_or("?".into(), |v| v.to_string()))
                .collect()
        };
        let suspected = if net["throttling_suspected"] == true {
            "throttling suspected; "
        } else {
            ""
        };
        format!(
            "{suspected}{} pass{}, c {}, inconclusive {}",
            passes.len(),
            if passes.len() == 1 { "" } else { "es" },
            field("concurrency").join("/"),
            field("inconclusive").join("/"),
        )
    }

    /// The versions whose elimination fell back to per-suite probing.
    fn fallbacks(&self) -> Vec<String> {
        let Some(report) = &self.report else {
            return Vec::new();
        };
        report["enumeration"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter(|v| v["fallback"].is_string())
                    .map(|v| v["protocol"].as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What the bench was asked to do.
struct Settings {
    bin: PathBuf,
    runs: usize,
    patterns: Vec<(String, Limit)>,
    extra: Vec<String>,
    run_timeout: Duration,
}

fn main() -> ExitCode {
    match settings() {
        Ok(Some(s)) => bench(&s),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[limits] error: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage() -> &'static str {
    "Usage: cargo bench --bench limits [-- PATTERN...]   (or scripts/bench.sh --limits)\n\
     Times cipher-test (default settings) through fronts that limit connections, against the clean\n\
     server. PATTERN: none, drop-every=N, keep-every=N, drop-first=N, concurrent=N, rate=N,\n\
     random-reset=PERCENT[:seed=N], pause-after-burst=N[:window=1s][:pause=2s]; default: the issue's\n\
     six (drop-every=2 drop-every=3 concurrent=2 rate=20 random-reset=20 pause-after-burst=30).\n\
     Environment: CIPHER_TEST_BIN, BENCH_RUNS (3), BENCH_LIMITS, BENCH_CT_ARGS, BENCH_RUN_TIMEOUT (300).\n\
     Exit: 0 every run complete and right, 1 some were not, 2 setup error."
}

/// The settings from the arguments and environment; `None` after `--help`.
fn settings() -> Result<Option<Settings>, String> {
    let mut specs: Vec<String> = Vec::new();
    // `cargo bench` passes `--bench` to every bench; a filter-free harness has no use for it.
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--bench" => {}
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(None);
            }
            a if a.starts_with('-') => return Err(format!("unknown option {a}\n{}", usage())),
            a => specs.push(a.to_string()),
        }
    }
    if specs.is_empty() {
        specs = match std::env::var("BENCH_LIMITS") {
            Ok(list) if !list.trim().is_empty() => {
                list.split_whitespace().map(str::to_string).collect()
            }
            _ => ISSUE_PATTERNS.iter().map(|s| s.to_string()).collect(),
        };
    }
    let mut patterns = Vec::new();
    for spec in specs {
        let limit: Limit = spec.parse().map_err(|e| format!("{e}"))?;
        patterns.push((spec, limit));
    }
    let number = |name: &str, default: u64| -> Result<u64, String> {
        match std::env::var(name) {
            Ok(v) => match v.trim().parse() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name} must be a positive whole number, not '{v}'")),
            },
            Err(_) => Ok(default),
        }
    };
    let bin = match std::env::var_os("CIPHER_TEST_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            // This bench runs from target/release/deps/; the binary cargo built is two levels up.
            let exe = std::env::current_exe().map_err(|e| format!("where is this bench? {e}"))?;
            exe.parent()
                .and_then(|deps| deps.parent())
                .map(|dir| dir.join("cipher-test"))
                .ok_or("cannot find target/release beside this bench; set CIPHER_TEST_BIN")?
        }
    };
    if !bin.is_file() {
        return Err(format!(
            "no cipher-test binary at {}: build it (cargo build --release) or set CIPHER_TEST_BIN",
            bin.display()
        ));
    }
    Ok(Some(Settings {
        bin,
        runs: number("BENCH_RUNS", 3)? as usize,
        patterns,
        extra: std::env::var("BENCH_CT_ARGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        run_timeout: Duration::from_secs(number("BENCH_RUN_TIMEOUT", 300)?),
    }))
}

fn bench(s: &Settings) -> ExitCode {
    let version = Command::new(&s.bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    eprintln!(
        "[limits] {} ({version}); {} run(s) per pattern; {} CPUs",
        s.bin.display(),
        s.runs,
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut all = vec![("none (clean)".to_string(), Limit::Unlimited)];
    all.extend(s.patterns.iter().cloned());
    let mut results: Vec<(String, Vec<Run>)> = Vec::new();
    for (name, limit) in &all {
        let mut runs = Vec::new();
        for r in 1..=s.runs {
            let run = match run_once(s, *limit) {
                Ok(run) => run,
                Err(e) => {
                    eprintln!("[limits] error: {name}: {e}");
                    return ExitCode::from(2);
                }
            };
            eprintln!(
                "[limits] {name} run {r}/{}: {}, exit {}, {} connections, {} inconclusive",
                s.runs,
                secs(run.wall),
                run.code.map_or("killed".into(), |c| c.to_string()),
                run.front[0],
                run.inconclusive().map_or("?".into(), |n| n.to_string()),
            );
            runs.push(run);
        }
        results.push((name.clone(), runs));
    }
    let clean = &results[0].1;
    let Some(reference) = clean[0].accepted() else {
        eprintln!(
            "[limits] error: the clean scan printed no report: {}",
            clean[0].stderr.trim()
        );
        return ExitCode::from(2);
    };
    let clean_wall = median(clean.iter().map(|r| r.wall.as_secs_f64()));
    let clean_conns = median(clean.iter().map(|r| r.front[0] as f64));

    let header = [
        "pattern",
        "wall (median)",
        "wall/clean",
        "connections",
        "conns/clean",
        "dropped",
        "inconclusive",
        "set right",
        "exit",
        "network (median run)",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut all_complete = true;
    for (name, runs) in &results {
        let wall = median(runs.iter().map(|r| r.wall.as_secs_f64()));
        let conns = median(runs.iter().map(|r| r.front[0] as f64));
        let per_run = |f: &dyn Fn(&Run) -> String| -> String {
            runs.iter().map(f).collect::<Vec<_>>().join("/")
        };
        let mid = median_run(runs);
        all_complete &= runs.iter().all(|r| r.complete(&reference));
        rows.push(vec![
            name.clone(),
            format!("{wall:.2} s"),
            format!("{:.1}x", wall / clean_wall.max(1e-9)),
            format!("{conns:.0}"),
            format!("{:.1}x", conns / clean_conns.max(1.0)),
            format!("{:.0}", median(runs.iter().map(|r| r.front[2] as f64))),
            per_run(&|r| r.inconclusive_all()),
            per_run(&|r| match r.accepted() {
                Some(a) if a == reference => "y".into(),
                _ => "n".into(),
            }),
            per_run(&|r| r.code.map_or("killed".into(), |c| c.to_string())),
            mid.network(),
        ]);
        if let Some(report) = &mid.report {
            if let Some(detail) = report["network"]["detail"].as_str() {
                if !detail.is_empty() {
                    notes.push(format!("{name}: {detail}"));
                }
            }
        }
        let fallbacks = mid.fallbacks();
        if !fallbacks.is_empty() {
            notes.push(format!(
                "{name}: per-suite fallback at {} (median run)",
                fallbacks.join(", ")
            ));
        }
        if let Some(a) = mid.accepted() {
            let missing: Vec<String> = reference
                .difference(&a)
                .map(|(p, n)| format!("{p} {n}"))
                .collect();
            let extra: Vec<String> = a
                .difference(&reference)
                .map(|(p, n)| format!("{p} {n}"))
                .collect();
            if !missing.is_empty() || !extra.is_empty() {
                notes.push(format!(
                    "{name}: accepted set (median run) missing [{}], extra [{}]",
                    missing.join(", "),
                    extra.join(", ")
                ));
            }
        } else {
            let why = if mid.code.is_none() {
                format!("killed after {}", secs(s.run_timeout))
            } else {
                mid.stderr.trim().to_string()
            };
            notes.push(format!("{name}: no report (median run): {why}"));
        }
        notes.push(format!(
            "{name}: front peak concurrent {} (median run; {} proxied, {} dropped)",
            mid.front[3], mid.front[1], mid.front[2]
        ));
    }
    print_table(&header, &rows);
    println!();
    println!(
        "cipher-test {} at default settings{}, through a front on 127.0.0.1 before a six-suite server \
         (TLS 1.2 + 1.3); {} run(s) per pattern, a fresh server and front each; per-run columns list \
         every run; inconclusive: suites, +Ng groups, +e the Envoy verdict (each makes the exit code 2). \
         Reference set: the clean scan's {} accepted suites.",
        version.split_whitespace().nth(1).unwrap_or("?"),
        if s.extra.is_empty() {
            String::new()
        } else {
            format!(" plus {}", s.extra.join(" "))
        },
        s.runs,
        reference.len()
    );
    for n in &notes {
        println!("- {n}");
    }
    if all_complete {
        ExitCode::SUCCESS
    } else {
        println!();
        println!(
            "!!! at least one run through a limiting front was incomplete or wrong (issue 15)"
        );
        ExitCode::from(1)
    }
}

/// Starts a fresh server and front, scans through it once, and stops both.
fn run_once(s: &Settings, limit: Limit) -> Result<Run, String> {
    let inner = TlsServer::start(ServerConfig::six_suites())
        .map_err(|e| format!("starting the TLS server: {e:#}"))?;
    let front = LimitedFront::start(inner.addr(), limit)
        .map_err(|e| format!("starting the front {limit}: {e}"))?;
    let mut command = Command::new(&s.bin);
    command
        .arg(front.addr().to_string())
        .args(["--format", "json", "--quiet"])
        .args(&s.extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("running {}: {e}", s.bin.display()))?;
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let deadline = started + s.run_timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status.code().unwrap_or(-1)),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for cipher-test: {e}")),
        }
    };
    let wall = started.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let counters = [
        front.accepted(),
        front.proxied(),
        front.dropped(),
        front.peak_concurrent(),
    ];
    Ok(Run {
        wall,
        code,
        report: serde_json::from_str(&stdout).ok(),
        stderr,
        front: counters,
    })
}

/// Reads a pipe to its end on a thread of its own, so a chatty child never blocks.
fn collect(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The run with the median wall time (the lower one of an even count).
fn median_run(runs: &[Run]) -> &Run {
    let mut order: Vec<&Run> = runs.iter().collect();
    order.sort_by_key(|r| r.wall);
    order[(order.len() - 1) / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// A plain table, columns padded and separated by ` | `.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join(" | ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for row in rows {
        line(row.clone());
    }
}
