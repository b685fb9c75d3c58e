//! Elimination: finds the suites a server accepts at one version by offering many in one ClientHello,
//! removing the one it chose and asking again; then the order it prefers them in, and what an
//! Envoy-exact hello gets. Plans raw hellos (`probe::raw`) and reads their outcomes; it calls a suite
//! rejected only on a TLS refusal, and hands any misbehaviour back to the caller as a fallback reason.

use std::collections::VecDeque;
use std::time::Duration;

use crate::envoy::EnvoyClient;
use crate::probe::raw::RawProber;
use crate::probe::{Inconclusive, ProbeOutcome, Refusal};
use crate::tls::catalog::catalog;
use crate::tls::client_hello::{client_hello, RENEGOTIATION_INFO_SCSV, SUITES_PER_HELLO};
use crate::tls::enums::{AlertDescription, SignatureScheme};
use crate::tls::protocol::Protocol;

/// The most suites one elimination hello carries: nmap's ssl-enum-ciphers `CHUNK_SIZE`.
pub const CHUNK: usize = SUITES_PER_HELLO;

/// nmap keeps each hello record within 255 bytes where it can (SSL Labs' "long handshake
/// intolerance": some terminators hang on hellos of 256–511 bytes, the reason for RFC 7685 padding).
const HELLO_BUDGET: usize = 255;

/// Below this many suites per hello the budget is not worth keeping (nmap: "if we're over 255
/// anyway, just go for it"): the hellos go up to [`CHUNK`] suites instead.
const MIN_CHUNK: usize = 8;

/// TLS_FALLBACK_SCSV (RFC 7507): a signal, not a suite; offered below the server's best version it
/// draws an inappropriate_fallback alert.
const FALLBACK_SCSV: u16 = 0x5600;

/// Alerts that mean "no shared suite" (or "not this version"), as OpenSSL, BoringSSL, Go, NSS, Java and
/// rustls send them: handshake_failure, protocol_version, insufficient_security.
const ORDINARY_REFUSALS: [AlertDescription; 3] = [
    AlertDescription::HANDSHAKE_FAILURE,
    AlertDescription::PROTOCOL_VERSION,
    AlertDescription::INSUFFICIENT_SECURITY,
];

/// What elimination found at one protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elimination {
    pub protocol: Protocol,
    /// The server's choices, in the order it made them, each with the suites its hello offered.
    pub choices: Vec<Choice>,
    /// Every offered suite (in offer order, duplicates and signalling values removed) and its
    /// outcome: Accepted for chosen ones; for the rest, the refusal of the last hello that still
    /// offered them (Rejected with that alert), or Inconclusive. Suites of chunks never sent, because
    /// elimination stopped, and of a hello whose alert a one-suite hello contradicted, are
    /// `Inconclusive::Local("not settled: …")`.
    pub outcomes: Vec<(u16, ProbeOutcome)>,
    /// Hellos sent.
    pub hellos: usize,
    /// Set when the server misbehaved (a non-alert failure mid-way, a suite chosen that was not
    /// offered, an intolerance to large hellos) or a hello could not be built: the caller must fall
    /// back to per-suite probing for this version. The text says what happened, for the report.
    /// `None` exactly when every offered suite is settled by a TLS answer (Accepted or Rejected).
    pub fallback: Option<String>,
    /// The most suites one hello carried: [`CHUNK`], or fewer to keep the hello within 255 bytes.
    pub chunk_size: usize,
    /// Chunks of `chunk_size` suites started. Without a fallback, `hellos` is `chosen.len()` plus one
    /// refusal per chunk, less one for each chunk whose every suite was chosen (nothing left to
    /// refuse), plus one for each chunk that ended in an unusual alert (a one-suite hello checks it).
    pub chunks: usize,
}

/// One hello the server chose from: its version, the suites it offered (in order) and the one the
/// server took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub protocol: Protocol,
    pub offered: Vec<u16>,
    pub chosen: u16,
}

impl Elimination {
    /// Suites the server chose, in the order it chose them.
    pub fn chosen(&self) -> Vec<u16> {
        self.choices.iter().map(|c| c.chosen).collect()
    }

    /// The outcome recorded for `suite`.
    pub fn outcome(&self, suite: u16) -> Option<&ProbeOutcome> {
        self.outcomes
            .iter()
            .find(|(s, _)| *s == suite)
            .map(|(_, o)| o)
    }
}

/// The size of the hellos [`RawProber::probe`] sends at one version.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Bytes of a hello offering no suite (records included; the SCSV counted for TLS <= 1.2).
    base: usize,
    /// Suites per hello.
    chunk: usize,
}

impl Plan {
    fn new(raw: &RawProber, protocol: Protocol) -> Result<Plan, String> {
        let one = client_hello(&raw.hello_spec(protocol, &[0x002F])).map_err(|e| e.to_string())?;
        let base = one.len() - 2;
        let room = HELLO_BUDGET.saturating_sub(base) / 2;
        let chunk = if room >= MIN_CHUNK {
            room.min(CHUNK)
        } else {
            CHUNK
        };
        Ok(Plan { base, chunk })
    }

    fn hello_len(&self, suites: usize) -> usize {
        self.base + 2 * suites
    }
}

/// The suites to offer: in order, once each, without signalling values no server ever chooses.
fn offerable(suites: &[u16]) -> Vec<u16> {
    let mut out: Vec<u16> = Vec::with_capacity(suites.len());
    for &s in suites {
        if s != RENEGOTIATION_INFO_SCSV && s != FALLBACK_SCSV && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// A short account of an outcome, for fallback texts.
fn describe(o: &ProbeOutcome) -> String {
    match o {
        ProbeOutcome::Accepted(a) => format!("the server chose {}", a.code),
        ProbeOutcome::Rejected(r) => r.to_string(),
        ProbeOutcome::Inconclusive(why) => why.to_string(),
    }
}

/// Offers all `suites` at `protocol` in chunks of at most [`CHUNK`] (fewer when that keeps each hello
/// within 255 bytes, as nmap does), records the server's choice, removes it and asks again until the
/// server refuses: accepted + 1 hellos per chunk. One connection at a time, in sequence (each hello
/// depends on the last answer); run several versions concurrently if speed matters.
///
/// Any answer that is not a ServerHello or an alert stops elimination at this version with
/// [`Elimination::fallback`] set; before giving up on a many-suite hello, one one-suite hello tells a
/// server that cannot take large hellos from one that stopped answering.
pub async fn eliminate(raw: &RawProber, protocol: Protocol, suites: &[u16]) -> Elimination {
    let mut e = Ledger::new(raw, protocol, suites);
    let Some(plan) = e.plan else {
        return e.finish();
    };
    let offered = e.offered.clone();
    'chunks: for chunk in offered.chunks(plan.chunk) {
        e.chunks += 1;
        let mut remaining = chunk.to_vec();
        while !remaining.is_empty() {
            let outcome = raw.probe(protocol, &remaining).await;
            if let ProbeOutcome::Inconclusive(Inconclusive::Local(_)) = outcome {
                // Nothing was sent: the remaining suites share this local failure.
                for &s in &remaining {
                    e.settle(s, outcome.clone());
                }
                e.fallback = Some(format!(
                    "elimination at {protocol} stopped on a local error: {}",
                    describe(&outcome)
                ));
                break 'chunks;
            }
            e.hellos += 1;
            match outcome {
                ProbeOutcome::Accepted(a) => {
                    let code = a.code.0;
                    e.chose(&remaining, code);
                    remaining.retain(|&s| s != code);
                    e.settle(code, ProbeOutcome::Accepted(a));
                }
                ProbeOutcome::Rejected(Refusal::Alert(alert))
                    if !ORDINARY_REFUSALS.contains(&alert.description) && remaining.len() > 1 =>
                {
                    // An unusual alert may be about the hello's size rather than its suites: a
                    // one-suite hello must draw a TLS refusal too for it to stand.
                    let check = raw.probe(protocol, &remaining[..1]).await;
                    e.hellos += 1;
                    if let ProbeOutcome::Rejected(_) = check {
                        for &s in &remaining[1..] {
                            e.settle(s, ProbeOutcome::Rejected(Refusal::Alert(alert)));
                        }
                        e.settle(remaining[0], check);
                        continue 'chunks;
                    }
                    e.fallback = Some(format!(
                        "the server answered a {n}-suite {protocol} hello ({len} bytes) with {alert} \
                         but a one-suite hello with \"{check}\": it does not tolerate large \
                         ClientHellos; probe {protocol} one suite per hello",
                        n = remaining.len(),
                        len = plan.hello_len(remaining.len()),
                        check = describe(&check),
                    ));
                    break 'chunks;
                }
                ProbeOutcome::Rejected(refusal) => {
                    for &s in &remaining {
                        e.settle(s, ProbeOutcome::Rejected(refusal));
                    }
                    continue 'chunks;
                }
                ProbeOutcome::Inconclusive(why) => {
                    e.fallback = Some(
                        failure_reason(raw, protocol, &plan, &remaining, &why, &mut e.hellos).await,
                    );
                    for &s in &remaining {
                        e.settle(s, ProbeOutcome::Inconclusive(why.clone()));
                    }
                    break 'chunks;
                }
            }
        }
    }

    e.finish()
}

/// How many choices in a row led to a set: its rest is split into up to 2^(generation + 1) parts
/// (two, four, then eight), so a set the server takes one or two suites from costs few hellos, and
/// one it takes many from soon runs many hellos at once.
type Generation = u32;

/// What a task of [`eliminate_split_each`] brings back.
enum Done {
    /// Version, the suites offered, the set's [`Generation`], and the server's answer.
    Hello(usize, Vec<u16>, Generation, ProbeOutcome),
    /// Version, why its elimination stopped (after the check hello), and the hellos that took.
    Checked(usize, String, usize),
}

/// One version's bookkeeping during elimination, in sequence or split.
struct Ledger {
    protocol: Protocol,
    plan: Option<Plan>,
    offered: Vec<u16>,
    settled: Vec<Option<ProbeOutcome>>,
    choices: Vec<Choice>,
    hellos: usize,
    chunks: usize,
    fallback: Option<String>,
    /// Choices not yet told to [`eliminate_split_each`]'s `progress`, with their outcomes.
    untold: Vec<(Choice, ProbeOutcome)>,
    /// The sets left when [`Progress::Left`] was last told.
    told_left: Option<usize>,
}

impl Ledger {
    /// The suites to offer at `protocol` and the plan of its hellos; when no hello can be built
    /// (an invalid SNI, say), every suite is settled with that local error and `fallback` says so.
    fn new(raw: &RawProber, protocol: Protocol, suites: &[u16]) -> Ledger {
        let offered = offerable(suites);
        let mut ledger = Ledger {
            protocol,
            plan: None,
            settled: vec![None; offered.len()],
            offered,
            choices: Vec::new(),
            hellos: 0,
            chunks: 0,
            fallback: None,
            untold: Vec::new(),
            told_left: None,
        };
        if ledger.offered.is_empty() {
            return ledger;
        }
        match Plan::new(raw, protocol) {
            Ok(plan) => ledger.plan = Some(plan),
            Err(local) => {
                ledger.fallback = Some(format!(
                    "elimination at {protocol} could not build a ClientHello: {local}"
                ));
                let why = ProbeOutcome::Inconclusive(Inconclusive::Local(local));
                ledger.settled = vec![Some(why); ledger.offered.len()];
            }
        }
        ledger
    }

    /// The server chose `chosen` from a hello offering `offered`.
    fn chose(&mut self, offered: &[u16], chosen: u16) {
        self.choices.push(Choice {
            protocol: self.protocol,
            offered: offered.to_vec(),
            chosen,
        });
    }

    fn settle(&mut self, suite: u16, outcome: ProbeOutcome) {
        if let Some(i) = self.offered.iter().position(|&s| s == suite) {
            self.settled[i] = Some(outcome);
        }
    }

    fn finish(self) -> Elimination {
        let protocol = self.protocol;
        let mut fallback = self.fallback;
        if fallback.is_none() && self.settled.iter().any(Option::is_none) {
            // Only a probe task that died can leave a gap; never report it as a result.
            fallback = Some(format!(
                "elimination at {protocol} lost a hello (internal error); probe {protocol} one suite per hello"
            ));
        }
        let stopped = fallback.clone().unwrap_or_default();
        let outcomes = self
            .offered
            .iter()
            .zip(self.settled)
            .map(|(&s, o)| {
                let o = o.unwrap_or_else(|| {
                    ProbeOutcome::Inconclusive(Inconclusive::Local(format!(
                        "not settled: elimination at {protocol} stopped ({stopped})"
                    )))
                });
                (s, o)
            })
            .collect();
        Elimination {
            protocol,
            choices: self.choices,
            outcomes,
            hellos: self.hellos,
            fallback,
            chunk_size: self.plan.map(|p| p.chunk).unwrap_or(CHUNK),
            chunks: self.chunks,
        }
    }
}

/// The most parts the rest of a set is split into, when that many slots are free: eight parts cut
/// the chain of round trips for a 64-suite chunk to about three, where halves need seven (at 50 ms
/// RTT and `--concurrency 64`, the wide bench profile went from 1.16 s with halves to 0.97 s).
const MAX_PARTS: usize = 8;

/// A rest of this many suites or fewer is asked one suite per hello when slots are free: a few
/// hellos more than halves, and the last round trips of a dense set (TLS 1.3's five suites, of
/// which a server takes three) fewer.
const SINGLES: usize = 4;

/// A server that answers a ClientHello within this time is near (the same host or rack: a round
/// trip well under a millisecond, and the server's own work on the hello). There a round trip costs
/// less than the server's work on the hellos that splitting a set adds, so sets are asked whole.
/// (On loopback the preflight's hello is answered in 1.2 to 2.6 ms; through the bench's 50 ms
/// proxy, in about 100 ms.) A TCP connect cannot tell: a proxy or load balancer that terminates TCP
/// answers it at once, however far the server behind it is.
const NEAR: Duration = Duration::from_millis(3);

/// How many parts [`eliminate_split`] may split a set into, for a server that answered the
/// preflight's hello in `answered_in`: one, asking sets whole, when it is [`NEAR`]; else
/// [`MAX_PARTS`]. Unknown counts as far. (On loopback, whole sets took the six bench profiles from
/// 361 to 324 ms, the wide one from about 170 connections to 122, and a one-suite scan from 16 to
/// 15 hellos; at 50 ms RTT the wide profile needs the parts to stay near 1.5 s.)
pub fn most_parts(answered_in: Option<Duration>) -> usize {
    match answered_in {
        Some(t) if t < NEAR => 1,
        _ => MAX_PARTS,
    }
}

/// `suites` in `parts` nearly equal sets, in order (fewer when there are fewer suites).
fn split(suites: &[u16], parts: usize) -> Vec<Vec<u16>> {
    let parts = parts.clamp(1, suites.len().max(1));
    let size = suites.len().div_ceil(parts).max(1);
    suites.chunks(size).map(<[u16]>::to_vec).collect()
}

/// Elimination for several versions at once, with the work split so that it takes few round trips
/// rather than few hellos. Up to `width` hellos are under way at once: every version's chunks (the
/// newest version's first), and, once the server has chosen a suite from a set, the rest of that
/// set ahead of everything else: split in two after a first choice, then in four, then in eight as
/// the server keeps choosing from that line of sets ([`Generation`]), or one suite per part when
/// [`SINGLES`] or fewer are left, never into more parts than there are free slots or than
/// `most_parts` ([`most_parts`]); whole, as [`eliminate`] does, when none is free or `most_parts`
/// is 1 (then a version costs exactly `accepted + chunks`). A set the
/// server refuses is settled in one hello; a set it chooses from costs one hello and up to eight
/// follow-ups. So a version costs between `accepted + chunks` and about `8 × accepted + chunks`
/// hellos; one the server takes a suite or two from costs a few more than `accepted + chunks`, one
/// it takes many from about `log8(chunk) + 3` round trips. (On the one-suite bench profile at 16 in
/// flight and split, a scan made 32 connections when the rest was split at once into as many parts
/// as slots were free; 24 with the parts growing.)
///
/// The conditions are [`eliminate`]'s: only a ServerHello naming an offered suite, or an ordinary
/// refusal, settles suites. An unusual alert to a many-suite hello is not trusted: the set is halved
/// and asked again, down to one suite, so a server that balks at large hellos is still read right. Any
/// answer that is neither a ServerHello nor an alert stops the version with `fallback` set (one
/// one-suite hello tells a size intolerance from a server that stopped answering); hellos of that
/// version still under way are counted, and its sets not yet sent are dropped.
///
/// When `raw` is [gated](RawProber::gated) with other stages, the gate has the last word on how
/// many connections are open.
pub async fn eliminate_split(
    raw: &RawProber,
    versions: &[(Protocol, Vec<u16>)],
    width: usize,
    most_parts: usize,
) -> Vec<Elimination> {
    let mut done: Vec<Elimination> = Vec::with_capacity(versions.len());
    let most_parts = std::future::ready(most_parts);
    eliminate_split_each(raw, versions, width, most_parts, |p| {
        if let Progress::Settled(e) = p {
            done.push(e)
        }
    })
    .await;
    done.sort_by_key(|e| {
        versions
            .iter()
            .position(|(p, _)| *p == e.protocol)
            .unwrap_or(usize::MAX)
    });
    done
}

/// What [`eliminate_split_each`] tells while it runs.
#[derive(Debug)]
pub enum Progress {
    /// The server chose a suite at a version: the hello and its outcome.
    Chose(Choice, ProbeOutcome),
    /// A version has this many sets left, under way or waiting for a slot (told when it changes,
    /// and after every choice).
    Left { protocol: Protocol, sets: usize },
    /// A version is done: its last hello is back.
    Settled(Elimination),
}

/// [`eliminate_split`], telling `progress` of each choice the server makes, of the sets each
/// version has left, and of each version as soon as its last hello is back, so that what depends
/// on one version (its groups, its order) can start while others still run, or even before.
/// `most_parts` may still be on its way when the first hellos go out: it is awaited before the
/// first answer is read or anything told.
pub async fn eliminate_split_each(
    raw: &RawProber,
    versions: &[(Protocol, Vec<u16>)],
    width: usize,
    most_parts: impl std::future::Future<Output = usize>,
    mut progress: impl FnMut(Progress),
) {
    let mut state: Vec<Option<Ledger>> = versions
        .iter()
        .map(|(protocol, suites)| Some(Ledger::new(raw, *protocol, suites)))
        .collect();
    // Sets of each version queued or under way: at zero, the version is done.
    let mut outstanding = vec![0usize; state.len()];
    // Tells what there is to tell of version `v`: its new choices, the sets it has left, and
    // whether it is done.
    let mut finish = |state: &mut Vec<Option<Ledger>>, outstanding: &[usize], v: usize| {
        if let Some(st) = state[v].as_mut() {
            let chose = !st.untold.is_empty();
            for (choice, outcome) in std::mem::take(&mut st.untold) {
                progress(Progress::Chose(choice, outcome));
            }
            let sets = outstanding[v];
            if sets > 0 && (st.told_left.replace(sets) != Some(sets) || chose) {
                progress(Progress::Left {
                    protocol: st.protocol,
                    sets,
                });
            }
        }
        if outstanding[v] == 0 {
            if let Some(st) = state[v].take() {
                progress(Progress::Settled(st.finish()));
            }
        }
    };
    let width = width.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    // Sets waiting for a slot, the next first. Follow-ups of a choice go to the front: they are the
    // chain that decides how long the whole takes.
    let mut queue: VecDeque<(usize, Vec<u16>, Generation)> = VecDeque::new();
    // Newest version first: its chunks are the likeliest to hold accepted suites, whose follow-up
    // hellos make the longest chains, so they should not wait behind an unsupported SSLv3.
    let mut order: Vec<usize> = (0..state.len()).collect();
    order.sort_by_key(|&v| std::cmp::Reverse(versions[v].0));
    for v in order {
        let Some(st) = state[v].as_mut() else {
            continue;
        };
        if let (Some(plan), None) = (st.plan, &st.fallback) {
            for chunk in st.offered.chunks(plan.chunk) {
                st.chunks += 1;
                outstanding[v] += 1;
                queue.push_back((v, chunk.to_vec(), 0));
            }
        }
    }
    // Which version each task works for, so that a task that died still counts down its version.
    let mut owner: std::collections::HashMap<tokio::task::Id, usize> = Default::default();
    let mut parts_known = std::pin::pin!(most_parts);
    let mut known_parts = None;
    loop {
        while tasks.len() < width {
            let Some((v, set, generation)) = queue.pop_front() else {
                break;
            };
            let Some(st) = state[v].as_ref() else {
                continue;
            };
            if st.fallback.is_some() {
                // Never sent: its suites stay unsettled, as the fallback says.
                outstanding[v] -= 1;
                finish(&mut state, &outstanding, v);
                continue;
            }
            let (raw, protocol) = (raw.clone(), st.protocol);
            let handle = tasks.spawn(async move {
                let outcome = raw.probe(protocol, &set).await;
                Done::Hello(v, set, generation, outcome)
            });
            owner.insert(handle.id(), v);
        }
        let most_parts = match known_parts {
            Some(n) => n,
            None => {
                let n = parts_known.as_mut().await;
                known_parts = Some(n);
                // Versions with nothing to send are done.
                for v in 0..state.len() {
                    finish(&mut state, &outstanding, v);
                }
                n
            }
        };
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let (v, set, generation, outcome) = match joined {
            Ok((id, Done::Hello(v, set, generation, outcome))) => {
                owner.remove(&id);
                (v, set, generation, outcome)
            }
            Ok((id, Done::Checked(v, reason, hellos))) => {
                owner.remove(&id);
                outstanding[v] -= 1;
                if let Some(st) = state[v].as_mut() {
                    st.hellos += hellos;
                    st.fallback = Some(reason);
                }
                finish(&mut state, &outstanding, v);
                continue;
            }
            Err(e) => {
                // A task that died (it cannot by design): its suites stay unsettled, and `finish`
                // turns that into a fallback.
                if let Some(v) = owner.remove(&e.id()) {
                    outstanding[v] -= 1;
                    finish(&mut state, &outstanding, v);
                }
                continue;
            }
        };
        outstanding[v] -= 1;
        let Some(st) = state[v].as_mut() else {
            continue;
        };
        let sent = !matches!(outcome, ProbeOutcome::Inconclusive(Inconclusive::Local(_)));
        // Hellos still under way when a version gave up were sent all the same: count them.
        st.hellos += usize::from(sent);
        let protocol = st.protocol;
        if st.fallback.is_some() {
            // Nothing more to learn from this version.
        } else if !sent {
            st.fallback = Some(format!(
                "elimination at {protocol} stopped on a local error: {}",
                describe(&outcome)
            ));
            for &s in &set {
                st.settle(s, outcome.clone());
            }
        } else {
            match outcome {
                ProbeOutcome::Accepted(a) => {
                    let code = a.code.0;
                    st.chose(&set, code);
                    if let Some(choice) = st.choices.last() {
                        st.untold.push((choice.clone(), ProbeOutcome::Accepted(a)));
                    }
                    st.settle(code, ProbeOutcome::Accepted(a));
                    let rest: Vec<u16> = set.into_iter().filter(|&s| s != code).collect();
                    if !rest.is_empty() {
                        // Parts shorten the chain of round trips only when they can all start at
                        // once; with every slot taken or promised they would only add hellos, so
                        // the rest goes back as one set.
                        // A server that drops connections gets the fewest hellos instead.
                        let free = if raw.dropping() {
                            1
                        } else {
                            width.saturating_sub(tasks.len() + queue.len())
                        };
                        let parts = if rest.len() <= SINGLES {
                            rest.len()
                        } else {
                            2 << generation.min(2)
                        };
                        let parts = free.min(most_parts).min(parts);
                        for part in split(&rest, parts).into_iter().rev() {
                            outstanding[v] += 1;
                            queue.push_front((v, part, generation + 1));
                        }
                    }
                }
                ProbeOutcome::Rejected(Refusal::Alert(alert))
                    if !ORDINARY_REFUSALS.contains(&alert.description) && set.len() > 1 =>
                {
                    for half in split(&set, 2).into_iter().rev() {
                        outstanding[v] += 1;
                        queue.push_front((v, half, generation));
                    }
                }
                ProbeOutcome::Rejected(refusal) => {
                    for &s in &set {
                        st.settle(s, ProbeOutcome::Rejected(refusal));
                    }
                }
                ProbeOutcome::Inconclusive(why) => {
                    // The version stops here (nothing more of it is sent); why exactly may take
                    // one more hello, which runs beside the other versions' work.
                    st.fallback = Some(format!("elimination at {protocol} stopped"));
                    for &s in &set {
                        st.settle(s, ProbeOutcome::Inconclusive(why.clone()));
                    }
                    let plan = st.plan.unwrap_or(Plan {
                        base: 0,
                        chunk: CHUNK,
                    });
                    let raw = raw.clone();
                    outstanding[v] += 1;
                    let handle = tasks.spawn(async move {
                        let mut hellos = 0;
                        let reason =
                            failure_reason(&raw, protocol, &plan, &set, &why, &mut hellos).await;
                        Done::Checked(v, reason, hellos)
                    });
                    owner.insert(handle.id(), v);
                }
            }
        }
        finish(&mut state, &outstanding, v);
    }
    // Only a probe task that died leaves a version here; `finish` reports its gap.
    for st in state.into_iter().flatten() {
        progress(Progress::Settled(st.finish()));
    }
}

/// Why elimination must stop after `why` answered a hello offering `remaining`: a protocol violation,
/// a server that no longer answers, or one that answers small hellos only (one more hello tells).
async fn failure_reason(
    raw: &RawProber,
    protocol: Protocol,
    plan: &Plan,
    remaining: &[u16],
    why: &Inconclusive,
    hellos: &mut usize,
) -> String {
    let n = remaining.len();
    let len = plan.hello_len(n);
    let per_suite = format!("probe {protocol} one suite per hello");
    match why {
        Inconclusive::UnofferedSuite(_) | Inconclusive::NewerVersion(_) => {
            format!("the server broke the protocol answering a {n}-suite {protocol} hello ({why}); {per_suite}")
        }
        Inconclusive::ConnectRefused | Inconclusive::ConnectFailed(_) => {
            format!("the server stopped taking connections during elimination at {protocol} ({why}); {per_suite}")
        }
        _ if n > 1 => {
            let check = raw.probe(protocol, &remaining[..1]).await;
            *hellos += 1;
            if check.is_inconclusive() {
                format!(
                    "no TLS answer to a {n}-suite {protocol} hello ({why}) nor to a one-suite hello \
                     ({}); {per_suite}",
                    describe(&check)
                )
            } else {
                format!(
                    "no TLS answer to a {n}-suite {protocol} hello of {len} bytes ({why}), but a \
                     one-suite hello got one ({}): the server does not tolerate large ClientHellos, \
                     or drops connections now and then; {per_suite}",
                    describe(&check)
                )
            }
        }
        _ => format!("no TLS answer to a one-suite {protocol} hello ({why}); {per_suite}"),
    }
}

/// Whether the server enforces its own order at a protocol version, and that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerPreference {
    /// `Some(true)`: the server picks by its own order whatever the client's; `Some(false)`: it
    /// follows the client's order; `None`: fewer than two accepted suites, or the probes failed.
    pub enforced: Option<bool>,
    /// The server's order, most preferred first; empty unless `enforced` is `Some(true)` (a server
    /// that follows the client has no order of its own to report).
    pub order: Vec<u16>,
    /// Hellos sent.
    pub hellos: usize,
    /// What went wrong, when a probe got no choice from the server.
    pub error: Option<String>,
}

/// Learns whether the server enforces its own suite order at `protocol`, from the suites it accepts
/// there (`accepted`, in any order: the scan passes them in code-point order).
///
/// One hello offers them reversed: a server that follows the client takes the client's first, so a
/// different choice proves server order. If it did take the client's first, a pair in the other
/// order settles it; both hellos go out at once (2 hellos, one round trip). The pair is not sent when
/// one of `seen` (the hellos elimination made at this version) already is that evidence: its
/// first suite chosen while its second was offered too. An enforcing server is then asked for its
/// favourite of the rest until one is left: its exact order, also across elimination chunks (whose
/// choices are ordered only within each chunk), in about one hello per suite.
pub async fn server_preference(
    raw: &RawProber,
    protocol: Protocol,
    accepted: &[u16],
    seen: &[Choice],
) -> ServerPreference {
    ordered(raw, enforcement(raw, protocol, accepted, seen).await).await
}

/// The first step of [`server_preference`]: whether the server enforces an order of its own. A step
/// of its own so that it can start on the suites a version has accepted so far.
#[derive(Debug)]
pub struct Enforcement {
    pub protocol: Protocol,
    /// The suites it was asked about: those accepted, once each, in the order given.
    pub suites: Vec<u16>,
    /// What the hellos showed (no order yet).
    pref: ServerPreference,
    /// When the server enforces its order: its choice from the reversed hello.
    top: Option<u16>,
}

/// [`server_preference`]'s reversed hello and pair.
pub async fn enforcement(
    raw: &RawProber,
    protocol: Protocol,
    accepted: &[u16],
    seen: &[Choice],
) -> Enforcement {
    let suites = offerable(accepted);
    let mut pref = ServerPreference::default();
    let done = |pref, top| Enforcement {
        protocol,
        suites: suites.clone(),
        pref,
        top,
    };
    if suites.len() < 2 {
        return done(pref, None);
    }
    let limit = Plan::new(raw, protocol).map(|p| p.chunk).unwrap_or(CHUNK);
    let reversed: Vec<u16> = suites[..suites.len().min(limit)]
        .iter()
        .rev()
        .copied()
        .collect();
    // The reversed hello, and beside it the pair it may need: both in one round trip.
    let pair = [reversed[1], reversed[0]];
    let known = seen
        .iter()
        .any(|c| c.protocol == protocol && c.chosen == pair[0] && c.offered.contains(&pair[1]));
    let (mut first_hellos, mut pair_hellos) = (0, 0);
    let (first, second) =
        tokio::join!(choice(raw, protocol, &reversed, &mut first_hellos), async {
            if known {
                Ok(pair[0])
            } else {
                choice(raw, protocol, &pair, &mut pair_hellos).await
            }
        });
    pref.hellos = first_hellos + pair_hellos;
    let top = match (first, second) {
        (Err(e), _) => {
            pref.error = Some(e);
            return done(pref, None);
        }
        // The server did not take the client's first choice: it has an order of its own.
        (Ok(first), _) if first != reversed[0] => first,
        // The client's first choice won: the server follows the client, or that suite is its
        // favourite too. Offered second, it wins again only in the latter case.
        (Ok(_), Ok(c)) if c == pair[0] => {
            pref.enforced = Some(false);
            return done(pref, None);
        }
        (Ok(_), Ok(c)) => c,
        (Ok(_), Err(e)) => {
            pref.error = Some(e);
            return done(pref, None);
        }
    };
    pref.enforced = Some(true);
    done(pref, Some(top))
}

/// [`server_preference`] from its first step: the server's exact order, when it enforces one.
pub async fn ordered(raw: &RawProber, first: Enforcement) -> ServerPreference {
    let Enforcement {
        protocol,
        suites,
        mut pref,
        top,
    } = first;
    let Some(top) = top else {
        return pref;
    };
    let limit = Plan::new(raw, protocol).map(|p| p.chunk).unwrap_or(CHUNK);
    let mut hellos = pref.hellos;
    // The first hello offered every suite when they fit in one: its choice is the overall favourite.
    let known_top = (suites.len() <= limit).then_some(top);
    match rank(raw, protocol, &suites, limit, known_top, &mut hellos).await {
        Ok(order) => pref.order = order,
        Err(e) => pref.error = Some(e),
    }
    pref.hellos = hellos;
    pref
}

/// The suite the server chooses from `offer`, or why it chose none.
async fn choice(
    raw: &RawProber,
    protocol: Protocol,
    offer: &[u16],
    hellos: &mut usize,
) -> Result<u16, String> {
    *hellos += 1;
    match raw.probe(protocol, offer).await {
        ProbeOutcome::Accepted(a) => Ok(a.code.0),
        ProbeOutcome::Rejected(r) => Err(format!(
            "the server refused a {protocol} hello offering {} suites it had accepted ({r})",
            offer.len()
        )),
        ProbeOutcome::Inconclusive(why) => Err(format!(
            "no choice from the server while ordering {protocol} suites: {why}"
        )),
    }
}

/// An enforcing server's order of `suites`: its favourite of the rest, hello after hello, within
/// groups of at most `limit` suites; then the groups merged by offering their heads together.
async fn rank(
    raw: &RawProber,
    protocol: Protocol,
    suites: &[u16],
    limit: usize,
    known_top: Option<u16>,
    hellos: &mut usize,
) -> Result<Vec<u16>, String> {
    let mut runs: Vec<std::collections::VecDeque<u16>> = Vec::new();
    for group in suites.chunks(limit.max(2)) {
        let mut rest = group.to_vec();
        let mut run = std::collections::VecDeque::new();
        if let Some(top) = known_top.filter(|t| rest.contains(t)) {
            rest.retain(|&s| s != top);
            run.push_back(top);
        }
        while rest.len() > 1 {
            let c = choice(raw, protocol, &rest, hellos).await?;
            rest.retain(|&s| s != c);
            run.push_back(c);
        }
        run.extend(rest);
        runs.push(run);
    }
    let mut order = Vec::with_capacity(suites.len());
    loop {
        runs.retain(|r| !r.is_empty());
        if runs.len() < 2 {
            order.extend(runs.into_iter().flatten());
            return Ok(order);
        }
        let heads: Vec<u16> = runs.iter().filter_map(|r| r.front().copied()).collect();
        let c = choice(raw, protocol, &heads, hellos).await?;
        if let Some(run) = runs.iter_mut().find(|r| r.front() == Some(&c)) {
            run.pop_front();
        }
        order.push(c);
    }
}

/// The code point for an IANA signature scheme name (RFC 8446 §4.2.3), as the profiles list them.
fn signature_scheme(name: &str) -> Option<u16> {
    SignatureScheme::from_name(&name.to_ascii_lowercase()).map(|s| s.0)
}

/// An Envoy-exact ClientHello: exactly the client's TLS <= 1.2 suites in order (after its TLS 1.3
/// suites when its maximum is TLS 1.3), its groups (a key share for the first, as BoringSSL sends),
/// its signature algorithms, its versions, the prober's SNI. Returns what the server chose (protocol,
/// suite, and for TLS 1.3 the group) or its refusal.
///
/// The hello builder offers one version per hello, so a version range is played as BoringSSL's
/// negotiation would end: a TLS 1.3 hello refused for its version (protocol_version, or an older
/// ServerHello from a server that ignores supported_versions) is followed by a TLS 1.2 hello when the
/// client's minimum allows; an older ServerHello the client's minimum allows is followed by a hello
/// at that version, whose answer is the result. A server that answers the first hello settles it in
/// one hello, as Envoy's would.
pub async fn envoy_hello(raw: &RawProber, client: &EnvoyClient) -> ProbeOutcome {
    let local = |why: String| ProbeOutcome::Inconclusive(Inconclusive::Local(why));
    let mut groups = Vec::new();
    for name in &client.ecdh_curves {
        match crate::envoy::curve_code(name) {
            Some(g) => groups.push(g),
            None => {
                return local(format!(
                    "ecdh_curves names '{name}', which Envoy does not accept (use X25519, P-256, P-384 or P-521)"
                ))
            }
        }
    }
    let mut schemes = Vec::new();
    for name in &client.profile.signature_algorithms {
        match signature_scheme(name) {
            Some(s) => schemes.push(s),
            None => {
                return local(format!(
                    "unknown signature algorithm '{name}' in the Envoy profile"
                ))
            }
        }
    }
    if client.min_version > client.max_version {
        return local(format!(
            "the client's minimum version {} is above its maximum {}",
            client.min_version, client.max_version
        ));
    }
    // PSK suites are never offered: Envoy installs no PSK callback (as EnvoyClient::offers says).
    let tls12: Vec<u16> = client
        .tls12_suites()
        .iter()
        .filter(|s| !s.is_psk())
        .map(|s| s.code.0)
        .collect();
    let tls13: Vec<u16> = client.tls13_suites().iter().map(|s| s.code.0).collect();

    let mut version = client.max_version;
    loop {
        let mut suites = Vec::new();
        if version == Protocol::Tls13 {
            suites.extend(&tls13);
        }
        if client.min_version < Protocol::Tls13 {
            // BoringSSL leaves out suites the highest version it offers cannot use.
            let usable = version.min(Protocol::Tls12);
            suites.extend(
                tls12
                    .iter()
                    .copied()
                    .filter(|&c| catalog().by_code(c).is_some_and(|s| s.applies_to(usable))),
            );
        }
        if suites.is_empty() {
            return local(format!("the client has no cipher suite for {version}"));
        }
        let key_share = groups.first().map(|&g| vec![g]).unwrap_or_default();
        let spec = raw
            .hello_spec(version, &suites)
            .with_groups(groups.clone())
            .with_signature_algorithms(schemes.clone())
            .with_key_share_groups(key_share);
        let outcome = raw.probe_with(spec).await;
        let next = match &outcome {
            ProbeOutcome::Rejected(Refusal::OlderVersion { chosen }) => {
                Protocol::from_wire(*chosen).filter(|&p| p < version && p >= client.min_version)
            }
            ProbeOutcome::Rejected(Refusal::Alert(a))
                if a.description == AlertDescription::PROTOCOL_VERSION
                    && version == Protocol::Tls13
                    && client.min_version <= Protocol::Tls12 =>
            {
                Some(Protocol::Tls12)
            }
            _ => None,
        };
        match next {
            Some(v) => version = v,
            None => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::profiles;

    #[test]
    fn sets_are_asked_whole_only_when_the_server_answered_near() {
        let ms = Duration::from_millis;
        assert_eq!(most_parts(Some(ms(1))), 1);
        assert_eq!(most_parts(Some(NEAR)), MAX_PARTS);
        assert_eq!(most_parts(Some(ms(100))), MAX_PARTS);
        assert_eq!(most_parts(None), MAX_PARTS);
    }

    #[test]
    fn signalling_values_and_duplicates_are_not_offered() {
        assert_eq!(
            offerable(&[0xC02F, 0x00FF, 0x002F, 0xC02F, 0x5600, 0x1301]),
            [0xC02F, 0x002F, 0x1301]
        );
    }

    #[test]
    fn every_profile_name_maps_to_a_code_point() {
        for p in profiles() {
            for c in &p.ecdh_curves {
                assert!(crate::envoy::curve_code(c).is_some(), "{c} in {}", p.name);
            }
            for s in &p.signature_algorithms {
                assert!(signature_scheme(s).is_some(), "{s} in {}", p.name);
            }
        }
        assert_eq!(crate::envoy::curve_code("P-384"), Some(0x0018));
        assert_eq!(crate::envoy::curve_code("brainpoolP256r1"), None);
        assert_eq!(signature_scheme("rsa_pkcs1_sha1"), Some(0x0201));
    }

    #[tokio::test]
    async fn a_hello_that_cannot_be_built_settles_nothing_and_sends_nothing() {
        // An IP address is not a valid SNI; nothing listens on 192.0.2.1 and nothing is sent.
        let raw = RawProber::new(
            "192.0.2.1:9".parse().unwrap(),
            Some("10.0.0.1".into()),
            std::time::Duration::from_millis(50),
        );
        let e = eliminate(&raw, Protocol::Tls12, &[0xC02F, 0x002F]).await;
        assert_eq!((e.hellos, e.chosen().len(), e.outcomes.len()), (0, 0, 2));
        assert!(e.fallback.unwrap().contains("IP address"));
        assert!(e
            .outcomes
            .iter()
            .all(|(_, o)| matches!(o, ProbeOutcome::Inconclusive(Inconclusive::Local(_)))));
        let empty = eliminate(&raw, Protocol::Tls12, &[]).await;
        assert_eq!((empty.hellos, empty.fallback), (0, None));
    }

    #[test]
    fn hellos_stay_within_255_bytes_where_they_can() {
        let raw = |sni: Option<&str>| {
            RawProber::new(
                "127.0.0.1:9".parse().unwrap(),
                sni.map(String::from),
                std::time::Duration::from_secs(1),
            )
        };
        for (sni, protocol) in [
            (None, Protocol::Tls12),
            (Some("localhost"), Protocol::Tls12),
            (Some("localhost"), Protocol::Tls13),
            (Some("api.internal.example"), Protocol::Tls10),
            (None, Protocol::Ssl3),
        ] {
            let prober = raw(sni);
            let plan = Plan::new(&prober, protocol).unwrap();
            assert!((MIN_CHUNK..=CHUNK).contains(&plan.chunk), "{plan:?}");
            let suites: Vec<u16> = (1..=plan.chunk as u16).collect();
            let len = client_hello(&prober.hello_spec(protocol, &suites))
                .unwrap()
                .len();
            assert_eq!(len, plan.hello_len(plan.chunk), "{sni:?} {protocol}");
            assert!(
                len <= HELLO_BUDGET || plan.chunk == CHUNK,
                "{len} bytes, {plan:?}"
            );
        }
        // A long SNI leaves too little room: full chunks (the hello is over 255 bytes anyway).
        let long = raw(Some(&format!("{}.example", "a".repeat(60))));
        assert_eq!(Plan::new(&long, Protocol::Tls13).unwrap().chunk, CHUNK);
    }
}
