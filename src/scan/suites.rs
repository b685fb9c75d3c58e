//! Settling the suites and groups: the preflight, enumeration per version (elimination or one
//! suite per hello), retries and pacing, server order, and the group probes.

use crate::probe::gate::{Gate, GateStats, Limit};
use crate::probe::openssl::{Group, OpensslProber, GROUPS};
use crate::probe::raw::RawProber;
use crate::probe::{Inconclusive, ProbeOutcome, Refusal};
use crate::scan::eliminate::{Choice, Elimination, Enforcement, Progress};
use crate::tls::catalog::{catalog, CipherSuite, SuiteCode};
use crate::tls::enums::AlertDescription;
use crate::tls::protocol::Protocol;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::report::*;
use super::*;

pub(super) fn untestable_reason(
    protocol: Protocol,
    suite: &CipherSuite,
    protocol_offerable: bool,
) -> String {
    let lib = crate::util::tls_library();
    if !protocol_offerable {
        format!("{lib} cannot offer {protocol} at all")
    } else if suite.is_srp() {
        "SRP suites need an SRP user name; the OpenSSL engine does not offer them".into()
    } else {
        format!("{lib} cannot offer this suite (compiled out or unknown to it)")
    }
}

/// What the preflight learnt.
#[derive(Debug, Clone, Copy)]
pub(super) struct PreflightReply {
    /// The version and suite the server chose from everything the local OpenSSL offers; `None`
    /// when it refused them all.
    pub(super) first_choice: Option<(Protocol, u16)>,
    /// How long the server took to answer the first attempt's ClientHello with a ServerHello or an
    /// alert: a round trip and the server's work on a hello. `None` when the preflight had to try
    /// again.
    pub(super) answered_in: Option<Duration>,
}

/// Checks that the target speaks TLS. Refused, plaintext and silent targets end the scan here with
/// one clear error, and the work begun beside the preflight is dropped unread.
/// The first attempt goes over `opened`, a connection the caller began opening at `opened_at`; each
/// attempt holds a place in `gate` while it runs.
pub(super) async fn preflight(
    prober: &OpensslProber,
    target: &str,
    sni: Option<&str>,
    retries: u32,
    (opened, opened_at): (Opening, std::time::Instant),
    gate: &Arc<Gate>,
) -> Result<PreflightReply, ScanError> {
    let mut attempt = 0;
    let mut opened = Some(opened);
    let mut answered_in = None;
    loop {
        attempt += 1;
        let ticket = gate.enter().await;
        let outcome = match opened.take() {
            Some(opening) => match opening.await {
                Ok(Ok(tcp)) => {
                    let asked = std::time::Instant::now();
                    let outcome = prober.preflight_over(tcp, opened_at).await;
                    answered_in = Some(asked.elapsed());
                    outcome
                }
                Ok(Err(refused)) => refused,
                // The task opening it did not finish: open another.
                Err(_) => prober.preflight().await,
            },
            None => prober.preflight().await,
        };
        // In flight and paced like the rest, but not evidence of what the server tolerates: the
        // gate learns that from the connections it sends work on, and counts only those.
        drop(ticket);
        let why = match outcome {
            // Every probe would get the same refusal: say what the server wants instead.
            ProbeOutcome::Rejected(Refusal::Alert(a))
                if a.description == AlertDescription::UNRECOGNIZED_NAME =>
            {
                return Err(ScanError::SniRequired {
                    target: target.to_string(),
                    sent: match sni {
                        Some(name) => format!("cipher-test sent '{name}'"),
                        None => "cipher-test sent none".into(),
                    },
                })
            }
            ProbeOutcome::Accepted(a) => {
                return Ok(PreflightReply {
                    first_choice: Some((a.protocol, a.code.0)),
                    answered_in,
                })
            }
            ProbeOutcome::Rejected(_) => {
                return Ok(PreflightReply {
                    first_choice: None,
                    answered_in,
                })
            }
            ProbeOutcome::Inconclusive(why) => why,
        };
        let target = target.to_string();
        // A server that drops connections now and then may drop this one: ask again.
        let transient = matches!(
            why,
            Inconclusive::Reset | Inconclusive::Closed { .. } | Inconclusive::ConnectFailed(_)
        );
        if transient && attempt <= retries {
            // A reset is quick however far the server is: its time says nothing.
            answered_in = None;
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            continue;
        }
        return Err(match why {
            Inconclusive::ConnectRefused => ScanError::Refused { target },
            Inconclusive::ConnectFailed(why) => ScanError::Unreachable { target, why },
            Inconclusive::NotTls(answer) => ScanError::NotTls { target, answer },
            Inconclusive::Local(e) => ScanError::Local(e),
            other => ScanError::NoTlsAnswer {
                target,
                why: if attempt > 1 {
                    format!("{other} ({attempt} attempts)")
                } else {
                    other.to_string()
                },
            },
        });
    }
}

/// The preflight's connection while it opens.
pub(super) type Opening = tokio::task::JoinHandle<Result<tokio::net::TcpStream, ProbeOutcome>>;

/// The preflight's reply, for work begun before it came.
#[derive(Clone)]
pub(super) struct PendingReply(pub(super) tokio::sync::watch::Receiver<Option<PreflightReply>>);

impl PendingReply {
    /// Waits for the reply. A preflight that failed ends the scan, and with it whatever waits here;
    /// should anything still ask, it gets a reply that knows nothing.
    pub(super) async fn get(&self) -> PreflightReply {
        let mut told = self.0.clone();
        let reply = told.wait_for(Option::is_some).await.ok().and_then(|r| *r);
        reply.unwrap_or(PreflightReply {
            first_choice: None,
            answered_in: None,
        })
    }
}

/// Jitter between retried probes, so that retries do not arrive in lockstep.
pub(super) struct Jitter(crate::util::Xorshift);

impl Jitter {
    pub(super) fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Jitter(crate::util::Xorshift::new(seed))
    }
    pub(super) fn upto(&mut self, max: Duration) -> Duration {
        let ms = max.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { self.0.below(ms + 1) })
    }
}

/// Runs `probe` over `jobs`, each connection through `gate` (at most `cfg.concurrency` in flight,
/// `cfg.delay` between starts, and the run-wide bound, shared with the scan's other stages), which
/// makes a dropped connection again itself. Probes that still get no TLS answer (silence, a drop
/// the gate gave up on) are retried in up to `cfg.retries` further passes while the budget lasts,
/// each at half the previous concurrency with at least 100 ms (plus jitter) between starts.
/// Returns (job, outcome, attempts) in any order, and the passes made.
pub(super) async fn run_bounded<J, F, Fut>(
    jobs: Vec<J>,
    cfg: &ScanConfig,
    gate: &Arc<Gate>,
    bar: &indicatif::ProgressBar,
    probe: F,
) -> (Vec<(J, ProbeOutcome, u32)>, Vec<Pass>)
where
    J: Clone + Send + Sync + 'static,
    F: Fn(J) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ProbeOutcome> + Send + 'static,
{
    let probe = Arc::new(probe);
    let mut pending: Vec<(J, u32)> = jobs.into_iter().map(|j| (j, 0)).collect();
    let mut finished: Vec<(J, ProbeOutcome, u32)> = Vec::with_capacity(pending.len());
    let mut passes = Vec::new();
    let mut concurrency = cfg.concurrency.max(1);
    let mut delay = cfg.delay;
    let mut jitter = Jitter::new();
    for round in 0..=cfg.retries {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            concurrency = (concurrency / 2).max(1);
            delay = delay.max(Duration::from_millis(100));
            bar.inc_length(pending.len() as u64);
        }
        let permits = Arc::new(Semaphore::new(concurrency));
        let mut set = JoinSet::new();
        let mut results = Vec::with_capacity(pending.len());
        let count = pending.len();
        let round_jobs = std::mem::take(&mut pending);
        let mut returned = vec![false; count];
        for (i, (job, attempts)) in round_jobs.iter().cloned().enumerate() {
            // The gate keeps --delay between starts; retry rounds add their own pause on top.
            if i > 0 && round > 0 {
                tokio::time::sleep(delay + jitter.upto(delay / 2)).await;
            }
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break;
            };
            let probe = Arc::clone(&probe);
            let gate = Arc::clone(gate);
            set.spawn(async move {
                let _permit = permit;
                let outcome = gate
                    .attempt(|| probe(job.clone()), ProbeOutcome::reply)
                    .await;
                (i, job, outcome, attempts + 1)
            });
            while let Some(done) = set.try_join_next() {
                if let Ok((i, job, outcome, attempts)) = done {
                    returned[i] = true;
                    results.push((job, outcome, attempts));
                }
                bar.inc(1);
            }
        }
        while let Some(done) = set.join_next().await {
            if let Ok((i, job, outcome, attempts)) = done {
                returned[i] = true;
                results.push((job, outcome, attempts));
            }
            bar.inc(1);
        }
        // A probe task that died (it cannot by design) still gets a row: never a silent gap.
        for (i, (job, attempts)) in round_jobs.into_iter().enumerate() {
            if !returned[i] {
                let why =
                    Inconclusive::Local("internal error: the probe stopped unexpectedly".into());
                results.push((job, ProbeOutcome::Inconclusive(why), attempts + 1));
            }
        }
        let mut inconclusive = 0;
        for (job, outcome, attempts) in results {
            if outcome.is_inconclusive() {
                inconclusive += 1;
                if round < cfg.retries && !gate.out_of_budget() {
                    pending.push((job, attempts));
                    continue;
                }
            }
            finished.push((job, outcome, attempts));
        }
        passes.push(Pass {
            probes: count,
            concurrency,
            delay_ms: delay.as_millis() as u64,
            inconclusive,
        });
    }
    (finished, passes)
}

/// Whether failures clustered, and what the passes did about it.
pub(super) fn network_report(passes: &[Pass]) -> NetworkReport {
    let Some(first) = passes.first() else {
        return NetworkReport::default();
    };
    let answered = first.probes - first.inconclusive;
    let suspected = first.inconclusive >= 3 && answered > 0;
    let mut detail = String::new();
    if first.inconclusive > 0 {
        let last = passes.last().map(|p| p.inconclusive).unwrap_or(0);
        let left = if passes.len() > 1 {
            last
        } else {
            first.inconclusive
        };
        detail = format!(
            "{} of {} probes got no TLS answer in the first pass{}",
            first.inconclusive,
            first.probes,
            if suspected {
                " while others did: the server (or something in front of it) appears to rate-limit or drop connections"
            } else {
                ""
            }
        );
        if passes.len() > 1 {
            let lowest = passes.iter().map(|p| p.concurrency).min().unwrap_or(1);
            detail.push_str(&format!(
                ". cipher-test retried them in {} more pass{}, down to concurrency {lowest} with at least 100 ms between starts; {left} stayed inconclusive",
                passes.len() - 1,
                if passes.len() > 2 { "es" } else { "" },
            ));
        }
        detail.push('.');
    }
    NetworkReport {
        throttling_suspected: suspected,
        passes: passes.to_vec(),
        detail,
        ..NetworkReport::default()
    }
}

/// Adds what the gate saw (connections, drops, retries, the limit they show) to `network`.
pub(super) fn add_gate_stats(network: &mut NetworkReport, stats: GateStats) {
    network.connections = stats.connections;
    network.dropped = stats.dropped;
    network.retried = stats.retried;
    network.budget_exhausted = stats.budget_exhausted;
    network.limit = stats.limit.map(|limit| limit_report(limit, &stats));
    if stats.dropped == 0 {
        return;
    }
    network.throttling_suspected = true;
    let mut line = format!(
        "The server dropped {} of {} connections; cipher-test sent those probes again ({} retries)",
        stats.dropped, stats.connections, stats.retried
    );
    if let Some(limit) = &network.limit {
        line.push_str(&format!(": {}", limit.advice));
    }
    if stats.budget_exhausted {
        line.push_str("; the time budget (--budget) ran out before every probe had an answer");
    }
    line.push('.');
    network.detail = if network.detail.is_empty() {
        line
    } else {
        format!("{line} {}", network.detail)
    };
}

fn limit_report(limit: Limit, stats: &GateStats) -> LimitReport {
    let (kind, value, advice) = match limit {
        Limit::Concurrent(k) => (
            "concurrent_connections",
            k,
            format!(
                "the upstream accepts about {k} connection{} at once and drops the rest; Envoy's \
                 connection pool may hit the same limit (keep the cluster's max_connections circuit \
                 breaker at or below it, or raise the upstream's limit)",
                if k == 1 { "" } else { "s" }
            ),
        ),
        Limit::PerSecond(r) => (
            "new_connections_per_second",
            r,
            format!(
                "the upstream accepts about {r} new connections a second and drops the rest; Envoy \
                 opening connections faster (at startup, or in a burst) would see them reset"
            ),
        ),
        Limit::EveryNth(n) => (
            "every_nth_connection",
            n,
            format!(
                "the upstream (or something in front of it) drops every {} connection whatever \
                 the load; Envoy would see about 1 in {n} connection attempts fail: check the load \
                 balancer in front of it",
                ordinal(n)
            ),
        ),
        Limit::RandomLoss(p) => (
            "random_loss",
            p as usize,
            format!(
                "about {p}% of connections were dropped at random whatever the load; Envoy would \
                 see a share of its connections fail the same way: check the network path and the \
                 upstream's health"
            ),
        ),
    };
    LimitReport {
        kind,
        value,
        concurrency: stats.concurrency,
        spacing_ms: stats.spacing_ms,
        advice,
    }
}

fn ordinal(n: usize) -> String {
    match n {
        2 => "second".into(),
        3 => "third".into(),
        n => format!("{n}th"),
    }
}

/// One (version, suite) to settle, and the engine that would probe it on its own.
pub(super) type Job = (Protocol, &'static CipherSuite, Engine);

/// What the suite stage found.
pub(super) struct Enumerated {
    pub(super) rows: Vec<CipherResult>,
    pub(super) groups: Vec<GroupResult>,
    pub(super) network: NetworkReport,
    pub(super) enumeration: Vec<EnumerationReport>,
    pub(super) server_preference: Vec<ServerPreferenceReport>,
}

/// The method a version is enumerated with when `cfg.method` is asked for: elimination needs the
/// raw engine, so `auto` with `--engine openssl` probes one suite per hello.
pub(super) fn effective_method(cfg: &ScanConfig) -> Method {
    match (cfg.method, cfg.engine) {
        (Method::Auto, EngineChoice::Openssl) => Method::PerSuite,
        (m, _) => m,
    }
}

/// Settles every job: by elimination per version where the method asks for it and the server
/// behaves, one probe per suite for the rest; then the groups and, with raw hellos, whether the
/// server enforces its order (both at once). Only split elimination starts before `preflight`
/// has its reply, with the first round of its hellos.
pub(super) async fn enumerate(
    prober: &Arc<OpensslProber>,
    raw: &Arc<RawProber>,
    gate: &Arc<Gate>,
    cfg: &ScanConfig,
    mut jobs: Vec<Job>,
    preflight: PendingReply,
    bar: &indicatif::ProgressBar,
) -> Enumerated {
    // Split elimination sends its first round beside the preflight and reads the preflight's
    // reply before its first answer: a near or far server decides how sets are split, and the
    // preflight's choice checks each version.
    let replied: std::sync::OnceLock<PreflightReply> = std::sync::OnceLock::new();
    let reply = async {
        let reply = preflight.get().await;
        *replied.get_or_init(|| reply)
    };
    let far = || {
        replied
            .get()
            .is_some_and(|r| crate::scan::eliminate::most_parts(r.answered_in) > 1)
    };
    let gated = raw.gated(Arc::clone(gate));
    let mut rows: Vec<CipherResult> = Vec::new();
    let mut enumeration: Vec<EnumerationReport> = Vec::new();
    // A version's groups and server order, started as soon as its suites are settled; both need
    // only its accepted rows. Split elimination tells each choice as the server makes it and the
    // sets each version has left: near a version's end, both start early, on the suites accepted
    // so far (`ahead`), and the follow-up keeps what still stands once the version is settled.
    let mut follow_ups = JoinSet::new();
    let mut ahead: Vec<Ahead> = Vec::new();
    // `seen`: the groups the server chose in those rows' hellos; `choices`: elimination's hellos
    // the server chose from, evidence for its order.
    let follow_up = |tasks: &mut JoinSet<_>,
                     settled: &[CipherResult],
                     seen: Vec<(Protocol, u16)>,
                     choices: Vec<Choice>,
                     early: Option<Ahead>| {
        let version_rows: Vec<CipherResult> = settled
            .iter()
            .filter(|r| r.status == CipherStatus::Accepted)
            .cloned()
            .collect();
        let accepted: Vec<u16> = version_rows.iter().map(|r| r.code.0).collect();
        let (early_groups, early_order) = match early {
            Some(a) => (a.groups, a.order.and_then(|o| o.stands(&accepted))),
            None => (None, None),
        };
        let (prober, raw, gate, gated) = (
            Arc::clone(prober),
            Arc::clone(raw),
            Arc::clone(gate),
            gated.clone(),
        );
        let (cfg, bar) = (cfg.clone(), bar.clone());
        tasks.spawn(async move {
            let order = async {
                if cfg.engine == EngineChoice::Openssl {
                    Vec::new()
                } else {
                    let first_step = match early_order {
                        Some(early) => early.found.await.ok(),
                        None => None,
                    };
                    preferences(&gated, &version_rows, &choices, first_step).await
                }
            };
            let groups = async {
                let probed = match early_groups {
                    Some(early) => early.kept(&version_rows).await,
                    None => Vec::new(),
                };
                let known = KnownGroups {
                    chosen: &seen,
                    probed: &probed,
                };
                scan_groups(&prober, &raw, &version_rows, known, &gate, &cfg, &bar).await
            };
            tokio::join!(groups, order)
        })
    };
    // The group probes of a version near its end, with the first suite it accepted that a group
    // probe offers.
    let early_groups = |tasks: &mut JoinSet<_>, a: &Ahead| -> Option<EarlyGroups> {
        let (p, chose, suite) = a.outcomes.iter().find_map(|o| match o {
            ProbeOutcome::Accepted(x) => catalog()
                .by_code(x.code)
                .filter(|s| probes_groups(s) && x.protocol != Protocol::Ssl3)
                .map(|s| (x.protocol, o, s)),
            _ => None,
        })?;
        let first = [finished(p, suite, chose.clone(), 1)];
        let (prober, raw, gate) = (Arc::clone(prober), Arc::clone(raw), Arc::clone(gate));
        let (cfg, bar) = (cfg.clone(), bar.clone());
        let (found, found_rx) = tokio::sync::oneshot::channel();
        let seen = chosen_groups(std::iter::once(chose));
        tasks.spawn(async move {
            let known = KnownGroups {
                chosen: &seen,
                probed: &[],
            };
            let groups = scan_groups(&prober, &raw, &first, known, &gate, &cfg, &bar).await;
            let _ = found.send(groups);
            (Vec::new(), Vec::new())
        });
        Some(EarlyGroups {
            protocol: p,
            offered: vec![suite.code.0],
            found: found_rx,
        })
    };
    // The first step of the server-order check of a version near its end, on `suites`.
    let early_order = |tasks: &mut JoinSet<_>, a: &Ahead, suites: Vec<u16>| -> EarlyOrder {
        let (raw, p, choices) = (gated.clone(), a.protocol, a.choices.clone());
        let (found, found_rx) = tokio::sync::oneshot::channel();
        let asked = suites.clone();
        tasks.spawn(async move {
            // Choices that come back in the same round would make this guess stale at once: a
            // moment for them, and a guess replaced meanwhile (its receiver gone) sends nothing.
            tokio::time::sleep(GUESS_PAUSE).await;
            if !found.is_closed() {
                let first = crate::scan::eliminate::enforcement(&raw, p, &asked, &choices).await;
                let _ = found.send(first);
            }
            (Vec::new(), Vec::new())
        });
        EarlyOrder {
            suites,
            found: found_rx,
        }
    };
    let method = effective_method(cfg);
    if method != Method::PerSuite {
        let mut versions: Vec<(Protocol, Vec<u16>)> = Vec::new();
        for (p, suite, _) in &jobs {
            match versions.iter_mut().find(|(q, _)| q == p) {
                Some((_, codes)) => codes.push(suite.code.0),
                None => versions.push((*p, vec![suite.code.0])),
            }
        }
        let name = if method == Method::Elimination {
            EnumerationMethod::Elimination
        } else {
            EnumerationMethod::SplitElimination
        };
        // Rows of a version elimination settled; a version it gave up on stays in `jobs`.
        // Begins what can begin ahead for a version near its end, when every other version is
        // settled (`last`): the others end in its shadow, and work begun ahead may be wasted (a
        // guess gone stale, a group probed that a later hello of elimination shows chosen). Near
        // the server a round trip costs less than such waste; with every slot taken, it would
        // hold back hellos that cannot be wasted; a server that drops connections gets the fewest
        // hellos, as elimination's sets are not split for it either.
        let one_left = |settled: &[EnumerationReport]| settled.len() + 1 == versions.len();
        let look_ahead = |tasks: &mut JoinSet<_>, a: &mut Ahead, last: bool| {
            if !last || a.sets > NEAR_END || !far() || gate.spare() < SPARE_SLOTS || gate.dropping()
            {
                return;
            }
            if a.groups.is_none() {
                a.groups = early_groups(tasks, a);
            }
            let mut accepted: Vec<u16> = a.choices.iter().map(|c| c.chosen).collect();
            accepted.sort_unstable();
            if accepted.len() >= 2 && a.order.as_ref().map(|o| &o.suites) != Some(&accepted) {
                // A guess gone stale runs out: cut short, its connections could still count as
                // open at the server for a moment, beyond --concurrency. One that has not started
                // yet does not start.
                a.order = Some(early_order(tasks, a, accepted));
            }
        };
        let mut progress = |event: Progress| {
            let mut e = match event {
                Progress::Chose(choice, outcome) => {
                    let p = choice.protocol;
                    let i = match ahead.iter().position(|a| a.protocol == p) {
                        Some(i) => i,
                        None => {
                            ahead.push(Ahead::new(p));
                            ahead.len() - 1
                        }
                    };
                    ahead[i].choices.push(choice);
                    ahead[i].outcomes.push(outcome);
                    return;
                }
                Progress::Left { protocol, sets } => {
                    let last = one_left(&enumeration);
                    if let Some(a) = ahead.iter_mut().find(|a| a.protocol == protocol) {
                        a.sets = sets;
                        look_ahead(&mut follow_ups, a, last);
                    }
                    return;
                }
                Progress::Settled(e) => e,
            };
            let p = e.protocol;
            let early = ahead
                .iter()
                .position(|a| a.protocol == p)
                .map(|i| ahead.swap_remove(i));
            if e.fallback.is_none() {
                e.fallback = contradiction(&e, replied.get().and_then(|r| r.first_choice));
            }
            if let Some(why) = e.fallback {
                // Whatever began ahead runs out unread.
                drop(early);
                enumeration.push(EnumerationReport {
                    protocol: p,
                    method: EnumerationMethod::PerSuite,
                    hellos: e.hellos,
                    fallback: Some(why),
                });
                return;
            }
            let mut version_rows = Vec::new();
            for (q, suite, _) in jobs.iter().filter(|(q, _, _)| *q == p) {
                let Some(outcome) = e.outcome(suite.code.0) else {
                    continue;
                };
                let mut r = finished(*q, suite, outcome.clone(), 1);
                r.engine = Some(Engine::Raw);
                if r.status == CipherStatus::Rejected {
                    r.reason = format!(
                        "{} (elimination: offered with the suites the server did not choose)",
                        r.reason
                    );
                }
                version_rows.push(r);
            }
            bar.inc(version_rows.len() as u64);
            enumeration.push(EnumerationReport {
                protocol: p,
                method: name,
                hellos: e.hellos,
                fallback: None,
            });
            jobs.retain(|(q, _, _)| *q != p);
            follow_up(
                &mut follow_ups,
                &version_rows,
                chosen_groups(e.outcomes.iter().map(|(_, o)| o)),
                e.choices,
                early,
            );
            rows.extend(version_rows);
            // One version left: it may now guess.
            if one_left(&enumeration) {
                for a in ahead.iter_mut() {
                    look_ahead(&mut follow_ups, a, true);
                }
            }
        };
        match method {
            Method::Elimination => {
                // The gentlest method sends nothing before the preflight has its answer.
                reply.await;
                let mut set = JoinSet::new();
                for (p, codes) in versions.iter().cloned() {
                    let raw = gated.clone();
                    set.spawn(
                        async move { crate::scan::eliminate::eliminate(&raw, p, &codes).await },
                    );
                }
                // A lost task leaves its version to per-suite probing below.
                while let Some(joined) = set.join_next().await {
                    if let Ok(e) = joined {
                        progress(Progress::Settled(e));
                    }
                }
            }
            _ => {
                crate::scan::eliminate::eliminate_split_each(
                    &gated,
                    &versions,
                    cfg.concurrency,
                    async { crate::scan::eliminate::most_parts(reply.await.answered_in) },
                    progress,
                )
                .await
            }
        }
    }

    // One probe per suite starts once the preflight has its answer.
    preflight.get().await;
    let suite_prober = Arc::clone(prober);
    let suite_raw = Arc::clone(raw);
    let (done, passes) = run_bounded(jobs, cfg, gate, bar, move |(p, suite, engine): Job| {
        let prober = Arc::clone(&suite_prober);
        let raw = Arc::clone(&suite_raw);
        async move {
            match engine {
                Engine::Openssl => prober.probe(p, suite).await,
                Engine::Raw => raw.probe(p, &[suite.code.0]).await,
            }
        }
    })
    .await;
    let mut probed: Vec<CipherResult> = Vec::new();
    let seen = chosen_groups(done.iter().map(|(_, outcome, _)| outcome));
    for ((p, suite, engine), outcome, attempts) in done {
        let mut r = finished(p, suite, outcome, attempts);
        r.engine = Some(engine);
        match enumeration.iter_mut().find(|e| e.protocol == p) {
            Some(e) if e.method == EnumerationMethod::PerSuite => e.hellos += attempts as usize,
            Some(_) => {}
            None => enumeration.push(EnumerationReport {
                protocol: p,
                method: EnumerationMethod::PerSuite,
                hellos: attempts as usize,
                fallback: None,
            }),
        }
        probed.push(r);
    }
    if !probed.is_empty() {
        probed.sort_by_key(|r| (r.protocol, r.code));
        follow_up(&mut follow_ups, &probed, seen, Vec::new(), None);
        rows.extend(probed);
    }
    enumeration.sort_by_key(|e| e.protocol);
    rows.sort_by_key(|r| (r.protocol, r.code));
    let network = network_report(&passes);

    let mut groups = Vec::new();
    let mut server_preference = Vec::new();
    while let Some(joined) = follow_ups.join_next().await {
        // A follow-up task cannot panic by design; if one did, its versions would simply have no
        // group rows, and the Envoy plan would count their groups as not enumerated. Work begun
        // ahead returns nothing here: what it found went to its version's follow-up.
        if let Ok((g, o)) = joined {
            groups.extend(g);
            server_preference.extend(o);
        }
    }
    groups.sort_by_key(|g| (g.protocol, group_rank(g.name)));
    server_preference.sort_by_key(|r| r.protocol);
    Enumerated {
        rows,
        groups,
        network,
        enumeration,
        server_preference,
    }
}

/// A version with this many sets left, or fewer, is taken to be near its end: its groups and
/// order start on the suites it has accepted so far. (On the legacy bench profile at 50 ms RTT,
/// two suites in two chunks of TLS 1.2, the rests of both chunks split in two are the four sets
/// left after the first round; in the wide profile, starting sooner mostly probed groups the
/// server went on to choose in later hellos.)
const NEAR_END: usize = 4;

/// Work begins ahead only while this many slots of the gate are free.
const SPARE_SLOTS: usize = 2;

/// How long a guess at a version's order waits for the other answers of its round.
const GUESS_PAUSE: Duration = Duration::from_millis(5);

/// What a version's follow-up began before its last refusal was in.
struct Ahead {
    protocol: Protocol,
    /// The server's choices so far, and the outcomes of those hellos.
    choices: Vec<Choice>,
    outcomes: Vec<ProbeOutcome>,
    /// Its sets left, as last told.
    sets: usize,
    groups: Option<EarlyGroups>,
    order: Option<EarlyOrder>,
}

impl Ahead {
    fn new(protocol: Protocol) -> Self {
        Ahead {
            protocol,
            choices: Vec::new(),
            outcomes: Vec::new(),
            sets: usize::MAX,
            groups: None,
            order: None,
        }
    }
}

/// The first step of a version's server-order check ([`Enforcement`]), begun on the suites it had
/// accepted so far.
struct EarlyOrder {
    suites: Vec<u16>,
    found: tokio::sync::oneshot::Receiver<Enforcement>,
}

impl EarlyOrder {
    /// Itself when the version accepts exactly `suites` (code-point order) in the end.
    fn stands(self, suites: &[u16]) -> Option<Self> {
        (self.suites == suites).then_some(self)
    }
}

/// Group probes begun at one version with the first suite the server chose there that has a key
/// exchange to probe, before the version's other suites were known.
struct EarlyGroups {
    protocol: Protocol,
    /// The suites they offered.
    offered: Vec<u16>,
    found: tokio::sync::oneshot::Receiver<Vec<GroupResult>>,
}

impl EarlyGroups {
    /// What stands of their results once the version's accepted suites are `rows`: a group they
    /// saw accepted is accepted; one they saw refused is refused only if the version accepts no
    /// other suite to offer with it. The rest is for the follow-up to probe.
    async fn kept(self, rows: &[CipherResult]) -> Vec<GroupResult> {
        let offered: Vec<u16> = key_exchange_suites(rows, self.protocol)
            .iter()
            .map(|s| s.code.0)
            .collect();
        let all = offered == self.offered;
        let found = self.found.await.unwrap_or_default();
        found
            .into_iter()
            .filter(|g| {
                g.status == CipherStatus::Accepted || (all && g.status == CipherStatus::Rejected)
            })
            .collect()
    }
}

/// Why `e` cannot stand although the server answered every hello: it refused the suite the
/// preflight handshake (OpenSSL offering everything) negotiated at this version. A server whose
/// choice depends on more than the offered suites (the raw hello's extensions, its size) is then
/// probed one suite per hello, as without elimination.
pub(super) fn contradiction(
    e: &Elimination,
    first_choice: Option<(Protocol, u16)>,
) -> Option<String> {
    let (protocol, code) = first_choice?;
    if protocol != e.protocol {
        return None;
    }
    match e.outcome(code) {
        Some(ProbeOutcome::Accepted(_)) | None => None,
        Some(other) => {
            let name = catalog().name_of(code);
            let why = match other {
                ProbeOutcome::Rejected(r) => r.to_string(),
                ProbeOutcome::Inconclusive(i) => i.to_string(),
                ProbeOutcome::Accepted(_) => String::new(),
            };
            Some(format!(
                "elimination at {protocol} did not get {name} ({why}), which the preflight \
                 handshake negotiated there; probe {protocol} one suite per hello"
            ))
        }
    }
}

/// Where a group stands in [`GROUPS`], for a stable report order.
pub(super) fn group_rank(name: &str) -> usize {
    GROUPS
        .iter()
        .position(|g| g.name == name)
        .unwrap_or(usize::MAX)
}

/// Per version with two or more accepted suites, whether the server enforces its own order and
/// which (all versions at once).
pub(super) async fn preferences(
    raw: &RawProber,
    rows: &[CipherResult],
    seen: &[Choice],
    first_step: Option<Enforcement>,
) -> Vec<ServerPreferenceReport> {
    let mut first_step = first_step;
    let mut set = JoinSet::new();
    let mut versions: Vec<Protocol> = rows.iter().map(|r| r.protocol).collect();
    versions.sort();
    versions.dedup();
    for p in versions {
        let accepted: Vec<u16> = rows
            .iter()
            .filter(|r| r.protocol == p && r.status == CipherStatus::Accepted)
            .map(|r| r.code.0)
            .collect();
        if accepted.len() < 2 {
            continue;
        }
        let raw = raw.clone();
        let seen: Vec<Choice> = seen.iter().filter(|c| c.protocol == p).cloned().collect();
        // A first step made on these very suites stands.
        let first = first_step.take_if(|f| f.protocol == p && f.suites == accepted);
        set.spawn(async move {
            let pref = match first {
                Some(first) => crate::scan::eliminate::ordered(&raw, first).await,
                None => crate::scan::eliminate::server_preference(&raw, p, &accepted, &seen).await,
            };
            (p, pref)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok((p, pref)) = joined {
            out.push(ServerPreferenceReport {
                protocol: p,
                enforced: pref.enforced,
                order: pref.order.iter().map(|&c| catalog().name_of(c)).collect(),
                hellos: pref.hellos,
                error: pref.error,
            });
        }
    }
    out.sort_by_key(|r| r.protocol);
    out
}

/// The groups the server chose in `outcomes`, by version: the curve a ServerKeyExchange named, or
/// a TLS 1.3 key share.
fn chosen_groups<'a>(outcomes: impl Iterator<Item = &'a ProbeOutcome>) -> Vec<(Protocol, u16)> {
    let mut seen: Vec<(Protocol, u16)> = outcomes
        .filter_map(|o| match o {
            ProbeOutcome::Accepted(a) => a.group.map(|g| (a.protocol, g)),
            _ => None,
        })
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

/// What is known of the groups before they are probed.
pub(super) struct KnownGroups<'a> {
    /// Groups the server chose, by version, while its suites were enumerated.
    pub(super) chosen: &'a [(Protocol, u16)],
    /// Groups settled by earlier probes.
    pub(super) probed: &'a [GroupResult],
}

/// For every version where the server accepted ECDHE suites (TLS 1.0 to 1.2) or any TLS 1.3 suite,
/// offers those suites with one group at a time; a group the server already chose at that version
/// while its suites were enumerated is accepted without a probe of its own, and one settled by an
/// earlier probe keeps that result (`known`).
///
/// At TLS 1.3 (unless `--engine openssl`) the group is offered without a key share, in a raw
/// hello: a server that takes it asks for one with a HelloRetryRequest, before any key exchange or
/// signature of its own, where a key share would cost both sides a key generation and the server
/// its whole signed flight. A refusal other than handshake_failure or insufficient_security (a
/// server that balks at the empty key share) is checked with a key share (OpenSSL), as the older
/// versions are.
pub(super) async fn scan_groups(
    prober: &Arc<OpensslProber>,
    raw: &Arc<RawProber>,
    rows: &[CipherResult],
    known: KnownGroups<'_>,
    gate: &Arc<Gate>,
    cfg: &ScanConfig,
    bar: &indicatif::ProgressBar,
) -> Vec<GroupResult> {
    let mut jobs: Vec<(Protocol, Group, Vec<&'static CipherSuite>)> = Vec::new();
    let mut out = Vec::new();
    for &p in &cfg.protocols {
        let suites = key_exchange_suites(rows, p);
        if suites.is_empty() || p == Protocol::Ssl3 {
            continue;
        }
        for g in GROUPS {
            if known.chosen.contains(&(p, g.id)) {
                out.push(GroupResult {
                    protocol: p,
                    name: g.name,
                    status: CipherStatus::Accepted,
                    reason:
                        "the server chose it for the key exchange while its suites were enumerated"
                            .into(),
                });
            } else if let Some(k) = known
                .probed
                .iter()
                .find(|k| k.protocol == p && k.name == g.name)
            {
                out.push(k.clone());
            } else if prober.can_offer_group(g) {
                jobs.push((p, g, suites.clone()));
            } else {
                out.push(GroupResult {
                    protocol: p,
                    name: g.name,
                    status: CipherStatus::Untestable,
                    reason: format!("{} cannot offer {}", crate::util::tls_library(), g.name),
                });
            }
        }
    }
    bar.inc_length(jobs.len() as u64);
    let (group_prober, group_raw) = (Arc::clone(prober), Arc::clone(raw));
    let without_share = cfg.engine != EngineChoice::Openssl;
    let (done, _) = run_bounded(
        jobs,
        cfg,
        gate,
        bar,
        move |(p, g, suites): (Protocol, Group, Vec<&'static CipherSuite>)| {
            let (prober, raw) = (Arc::clone(&group_prober), Arc::clone(&group_raw));
            async move {
                if p == Protocol::Tls13 && without_share {
                    if let Some(outcome) = tls13_group_without_share(&raw, g, &suites).await {
                        return outcome;
                    }
                }
                let outcome = prober.probe_group(p, g, &suites).await;
                if !matches!(outcome, ProbeOutcome::Rejected(_)) || p == Protocol::Tls13 {
                    return outcome;
                }
                // Before TLS 1.3 the client's groups also name the curves an ECDSA certificate may
                // use: a server whose certificate is on another curve refuses a hello offering `g`
                // alone, whatever it accepts for the key exchange. Offer `g` first beside the other
                // NIST curves and see which one the server takes.
                if !suites.iter().any(|s| s.auth == "ECDSA") {
                    return outcome;
                }
                let mut offered = vec![g.name];
                offered.extend(
                    ["P-256", "P-384", "P-521"]
                        .into_iter()
                        .filter(|c| *c != g.name),
                );
                match prober.group_choice(p, &offered, &suites).await {
                    Ok(info) => match info.negotiated {
                        Some(n) if n.group.as_deref() == Some(g.name) => {
                            ProbeOutcome::Accepted(crate::probe::Accepted {
                                protocol: n.protocol,
                                code: SuiteCode(n.code),
                                hello_retry: false,
                                group: None,
                            })
                        }
                        _ => outcome,
                    },
                    Err(_) => outcome,
                }
            }
        },
    )
    .await;
    for ((p, g, _), outcome, attempts) in done {
        let (status, reason, _) = judged(outcome, attempts);
        out.push(GroupResult {
            protocol: p,
            name: g.name,
            status,
            reason: if status == CipherStatus::Accepted {
                "the server accepted it for the key exchange".into()
            } else {
                reason
            },
        });
    }
    out.sort_by_key(|g| (g.protocol, group_rank(g.name)));
    out
}

/// The suites of `rows` accepted at `p` that a group probe offers.
fn key_exchange_suites(rows: &[CipherResult], p: Protocol) -> Vec<&'static CipherSuite> {
    rows.iter()
        .filter(|r| r.protocol == p && r.status == CipherStatus::Accepted)
        .filter_map(|r| catalog().by_code(r.code))
        .filter(|s| probes_groups(s))
        .collect()
}

/// Whether a group probe offers `suite`: ECDHE suites before TLS 1.3, every suite at TLS 1.3.
fn probes_groups(suite: &CipherSuite) -> bool {
    suite.is_tls13() || suite.is_ecdhe()
}

/// Offers `suites` at TLS 1.3 with `group` alone and no key share (a raw hello, which carries
/// none): the outcome, or `None` for a refusal other than handshake_failure or
/// insufficient_security, which a hello with a key share must check. Accepted and unanswered
/// outcomes stand: the gate retries the latter like any probe.
async fn tls13_group_without_share(
    raw: &RawProber,
    group: Group,
    suites: &[&CipherSuite],
) -> Option<ProbeOutcome> {
    let codes: Vec<u16> = suites.iter().map(|s| s.code.0).collect();
    let spec = raw
        .hello_spec(Protocol::Tls13, &codes)
        .with_groups(vec![group.id]);
    let outcome = raw.probe_with(spec).await;
    let unusual = match &outcome {
        ProbeOutcome::Rejected(Refusal::Alert(a)) => !matches!(
            a.description,
            AlertDescription::HANDSHAKE_FAILURE | AlertDescription::INSUFFICIENT_SECURITY
        ),
        ProbeOutcome::Rejected(_) => true,
        _ => false,
    };
    (!unusual).then_some(outcome)
}

pub(super) fn row(
    protocol: Protocol,
    suite: &CipherSuite,
    status: CipherStatus,
    reason: String,
    alert: Option<u8>,
    attempts: u32,
) -> CipherResult {
    CipherResult {
        protocol,
        openssl_name: suite.openssl_name.clone(),
        iana_name: suite.iana_name.clone(),
        code: suite.code,
        strength: suite.strength(),
        status,
        reason,
        alert,
        attempts,
        engine: None,
    }
}

/// Status, reason and alert of a probe outcome.
pub(super) fn judged(outcome: ProbeOutcome, attempts: u32) -> (CipherStatus, String, Option<u8>) {
    match outcome {
        ProbeOutcome::Accepted(a) => {
            let how = if a.hello_retry {
                "chosen by the server in a HelloRetryRequest"
            } else {
                "chosen by the server in its ServerHello"
            };
            (CipherStatus::Accepted, how.into(), None)
        }
        ProbeOutcome::Rejected(r) => {
            let alert = match r {
                Refusal::Alert(a) => Some(a.description.0),
                Refusal::OlderVersion { .. } => None,
            };
            (CipherStatus::Rejected, r.to_string(), alert)
        }
        ProbeOutcome::Inconclusive(why) => {
            let reason = if attempts > 1 {
                format!("{why} ({attempts} attempts)")
            } else {
                why.to_string()
            };
            (CipherStatus::Inconclusive, reason, None)
        }
    }
}

pub(super) fn finished(
    p: Protocol,
    suite: &CipherSuite,
    outcome: ProbeOutcome,
    attempts: u32,
) -> CipherResult {
    let (status, reason, alert) = judged(outcome, attempts);
    row(p, suite, status, reason, alert, attempts)
}

pub(super) fn protocol_status<'a>(rows: impl Iterator<Item = &'a CipherResult>) -> ProtocolStatus {
    let (mut accepted, mut rejected, mut inconclusive) = (false, false, false);
    for r in rows {
        match r.status {
            CipherStatus::Accepted => accepted = true,
            CipherStatus::Rejected => rejected = true,
            CipherStatus::Inconclusive => inconclusive = true,
            CipherStatus::Untestable => {}
        }
    }
    if accepted {
        ProtocolStatus::Supported
    } else if inconclusive {
        ProtocolStatus::Inconclusive
    } else if rejected {
        ProtocolStatus::NotSupported
    } else {
        ProtocolStatus::Untestable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(p: Protocol, name: &str) -> CipherResult {
        let suite = catalog().by_name(name).unwrap();
        row(p, suite, CipherStatus::Accepted, String::new(), None, 1)
    }

    fn group(name: &'static str, status: CipherStatus) -> GroupResult {
        GroupResult {
            protocol: Protocol::Tls12,
            name,
            status,
            reason: String::new(),
        }
    }

    /// Early group probes offered the version's first ECDHE suite: what they accepted stands; what
    /// they refused stands only while the version accepts no other ECDHE suite (a non-ECDHE suite
    /// besides changes nothing, since a group probe would not offer it).
    #[tokio::test]
    async fn early_group_refusals_stand_only_for_the_same_suites() {
        let first = accepted(Protocol::Tls12, "ECDHE-RSA-AES256-SHA");
        let results = vec![
            group("P-256", CipherStatus::Accepted),
            group("X448", CipherStatus::Rejected),
            group("P-521", CipherStatus::Inconclusive),
        ];
        let kept = |rows: Vec<CipherResult>| {
            let (found, found_rx) = tokio::sync::oneshot::channel();
            found.send(results.clone()).unwrap();
            let early = EarlyGroups {
                protocol: Protocol::Tls12,
                offered: vec![first.code.0],
                found: found_rx,
            };
            async move {
                let kept = early.kept(&rows).await;
                kept.iter().map(|g| g.name).collect::<Vec<_>>()
            }
        };
        let plain_rsa = accepted(Protocol::Tls12, "AES128-SHA");
        assert_eq!(
            kept(vec![first.clone(), plain_rsa]).await,
            ["P-256", "X448"]
        );
        let second = accepted(Protocol::Tls12, "ECDHE-RSA-AES128-GCM-SHA256");
        assert_eq!(kept(vec![first.clone(), second]).await, ["P-256"]);
    }
}
