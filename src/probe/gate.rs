//! The gate every connection of one scan passes through, the preflight's included: at most
//! `concurrency` in flight, at most `max_rate` starts in any second, a share of a run-wide bound
//! (`check`), and `--delay` between starts. It also watches which connections the server drops (a
//! reset, a close or silence before any answer) and learns why: a limit on connections at once or
//! on new connections a second, which it then keeps under, or drops that do not depend on load
//! (every Nth connection, random loss). [`Gate::attempt`] sends a dropped connection's work again,
//! within the scan's time budget.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Most connections one piece of work makes when the server keeps dropping it.
const MAX_TRIES: u32 = 16;

/// Most connections one piece of work makes before anything through the gate was answered.
const EARLY_TRIES: u32 = 4;

/// This many other connections answered, none dropped, while one work was dropped
/// [`QUIET_TRIES`] times: the server is refusing that work (at 20% random loss, one work in
/// some ten thousand looks like this).
const QUIET_OVER: usize = 12;
const QUIET_TRIES: u32 = 4;

/// With no answer for this long, the server is down or refusing, not limiting: dropped work is
/// not sent again.
const DEAD_AFTER: Duration = Duration::from_secs(3);

/// Above this share of connections dropped, drops that no load or pattern explains are not taken
/// for loss at random during the scan (which would lift every limit); the report at the end
/// still calls them loss.
const MAX_RANDOM_LOSS: f64 = 0.5;

/// Answers in a row, under a learned limit, before it is loosened by one step.
const PROBE_UP: usize = 16;

/// How long after a close a server may still count the connection as open: it learns of the close
/// only when the FIN arrives and its side is torn down. A busy server takes longer: each drop
/// that shows it (one dropped while no other of ours was open, under a limit on connections at
/// once) doubles the wait, up to [`MAX_CLOSE_LAG`].
const CLOSE_LAG: Duration = Duration::from_millis(10);
const MAX_CLOSE_LAG: Duration = Duration::from_millis(160);

/// What the server's drops show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// It takes about this many connections at once, and drops the rest.
    Concurrent(usize),
    /// It takes about this many new connections a second, and drops the rest.
    PerSecond(usize),
    /// It drops every `n`th connection, whatever the load.
    EveryNth(usize),
    /// It drops about this percentage of connections at random, whatever the load.
    RandomLoss(u32),
}

/// What the gate saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateStats {
    /// Connections through the gate.
    pub connections: usize,
    /// Of them, dropped by the server before any answer.
    pub dropped: usize,
    /// Of them, made again for work whose connection was dropped.
    pub retried: usize,
    /// What the drops show (`None`: no drops, or too few to tell).
    pub limit: Option<Limit>,
    /// The most connections it let in at once at the end (below `--concurrency` under a limit).
    pub concurrency: usize,
    /// The fewest milliseconds between starts it kept at the end (beyond `--delay`).
    pub spacing_ms: u64,
    /// The time budget ran out: dropped work was no longer sent again.
    pub budget_exhausted: bool,
}

/// One finished connection, as the classification sees it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Its place in the order of starts.
    seq: u64,
    /// Connections in flight when it started.
    others: usize,
    /// Connections closed within the close lag before it started (the server may count them).
    closing: usize,
    /// Connections started in the second before it and not dropped (so far).
    recent: usize,
    dropped: bool,
}

#[derive(Debug)]
struct Governor {
    configured: usize,
    limit: usize,
    /// The most starts in any one second.
    max_rate: usize,
    delay: Duration,
    spacing: Duration,
    next_start: Instant,
    in_flight: usize,
    seq: u64,
    /// Starts in the last second: when, which, and whether the server dropped it.
    starts: VecDeque<(Instant, u64, bool)>,
    /// Closes in the last `close_lag`.
    closes: VecDeque<Instant>,
    /// How long after a close the server may still count the connection ([`CLOSE_LAG`] at first).
    close_lag: Duration,
    seen: Vec<Seen>,
    /// When a connection was last answered (at first: when the gate opened).
    last_answer: Instant,
    learned: Option<Limit>,
    /// Answered connections since the last drop.
    answered_in_a_row: usize,
    last_drop: Instant,
    retried: usize,
    budget_exhausted: bool,
}

impl Governor {
    /// When `max_rate` starts already fall in the second before `now`: when the oldest of them
    /// leaves it (`None`: a connection may start now).
    fn rate_full_until(&mut self, now: Instant) -> Option<Instant> {
        self.forget_starts_before(now);
        if self.starts.len() < self.max_rate {
            return None;
        }
        self.starts
            .front()
            .map(|(t, _, _)| *t + Duration::from_secs(1))
    }

    /// Keeps in `starts` only the last second's, as of `now`.
    fn forget_starts_before(&mut self, now: Instant) {
        while self
            .starts
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.starts.pop_front();
        }
    }
}

/// Bounds and paces connections to one target, and learns what the server tolerates.
#[derive(Debug)]
pub struct Gate {
    global: Option<Arc<Semaphore>>,
    state: Mutex<Governor>,
    changed: Notify,
    deadline: Option<Instant>,
}

/// Held while a connection is open; [`Ticket::finish`] says whether the server dropped it.
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<Gate>,
    _global: Option<OwnedSemaphorePermit>,
    seq: u64,
    others: usize,
    closing: usize,
    recent: usize,
    /// Past the pacing: a connection was made (or is about to be).
    started: bool,
    finished: bool,
}

impl Gate {
    /// A gate letting `concurrency` (at least 1) connections in at once, each also taking a permit
    /// of `global` when given, with `delay` between starts.
    pub fn new(concurrency: usize, global: Option<Arc<Semaphore>>, delay: Duration) -> Self {
        Gate {
            global,
            state: Mutex::new(Governor {
                configured: concurrency.max(1),
                limit: concurrency.max(1),
                max_rate: usize::MAX,
                delay,
                spacing: Duration::ZERO,
                next_start: Instant::now(),
                in_flight: 0,
                seq: 0,
                starts: VecDeque::new(),
                closes: VecDeque::new(),
                close_lag: CLOSE_LAG,
                seen: Vec::new(),
                last_answer: Instant::now(),
                learned: None,
                answered_in_a_row: 0,
                last_drop: Instant::now(),
                retried: 0,
                budget_exhausted: false,
            }),
            changed: Notify::new(),
            deadline: None,
        }
    }

    /// At most `rate` (at least 1) connections start in any one second.
    pub fn with_max_rate(self, rate: usize) -> Self {
        self.lock().max_rate = rate.max(1);
        self
    }

    /// No dropped work is sent again after `budget` from now.
    pub fn with_budget(mut self, budget: Option<Duration>) -> Self {
        self.deadline = budget.map(|b| Instant::now() + b);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Governor> {
        // A panic while holding the lock cannot leave the counters half-updated in a way that
        // matters more than losing the scan: go on with them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a free slot, room under `max_rate`, the run-wide bound and the pause since the
    /// last start, then lets one connection in. Cancelled at any point, it gives back what it took.
    pub async fn enter(self: &Arc<Self>) -> Ticket {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.reserve() {
                Ok(()) => break,
                Err(Some(at)) => tokio::time::sleep_until(at).await,
                Err(None) => notified.await,
            }
        }
        let mut ticket = Ticket {
            gate: Arc::clone(self),
            _global: None,
            seq: 0,
            others: 0,
            closing: 0,
            recent: 0,
            started: false,
            finished: false,
        };
        // The rate window before the run-wide bound: waiting for it must not hold a permit that
        // other targets of the run could use.
        loop {
            let at = self.lock().rate_full_until(Instant::now());
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => break,
            }
        }
        // The run-wide bound is taken after the target's own, as before.
        if let Some(g) = &self.global {
            ticket._global = Arc::clone(g).acquire_owned().await.ok();
        }
        loop {
            let at = {
                let mut st = self.lock();
                let now = Instant::now();
                let paced = if self.out_of_time(now) {
                    st.delay
                } else {
                    st.delay.max(st.spacing)
                };
                if now < st.next_start {
                    Some(st.next_start)
                } else if let Some(until) = st.rate_full_until(now) {
                    Some(until)
                } else {
                    st.next_start = now + paced;
                    st.seq += 1;
                    ticket.seq = st.seq;
                    ticket.others = st.in_flight - 1;
                    let lag = st.close_lag;
                    ticket.closing = st
                        .closes
                        .iter()
                        .filter(|t| now.duration_since(**t) <= lag)
                        .count();
                    ticket.recent = st.starts.iter().filter(|(_, _, dropped)| !dropped).count();
                    st.starts.push_back((now, ticket.seq, false));
                    ticket.started = true;
                    None
                }
            };
            match at {
                None => return ticket,
                Some(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// Takes a slot under the limit; or says when to try again (`None`: when a connection ends).
    fn reserve(&self) -> Result<(), Option<Instant>> {
        let mut st = self.lock();
        let now = Instant::now();
        let lag = st.close_lag;
        while st
            .closes
            .front()
            .is_some_and(|t| now.duration_since(*t) > lag)
        {
            st.closes.pop_front();
        }
        st.forget_starts_before(now);
        // Under a limit on connections at once, one closed a moment ago still counts.
        let lagging = if st.keeps_concurrency() {
            st.closes.len()
        } else {
            0
        };
        if st.in_flight + lagging >= st.limit {
            return Err(match st.closes.front() {
                Some(t) if st.in_flight < st.limit => Some(*t + lag),
                _ => None,
            });
        }
        st.in_flight += 1;
        Ok(())
    }

    /// The time budget has run out.
    fn out_of_time(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Runs `work` on one connection; when `reply` says the server dropped it, runs it again on a
    /// new connection (after a short backoff, under whatever limit the gate has learned) while the
    /// server still answers other connections, up to [`MAX_TRIES`] and within the budget. Work
    /// met with silence until the timeout is tried again once. Until some connection through the
    /// gate is answered, only the first burst's drops are tried again, a few times. Work dropped
    /// again while the connections started since were all answered is the server refusing it:
    /// not tried again.
    pub async fn attempt<T, F, Fut>(self: &Arc<Self>, mut work: F, reply: impl Fn(&T) -> Reply) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut tries = 0;
        let mut first = None;
        loop {
            let ticket = self.enter().await;
            let since = *first.get_or_insert(ticket.seq);
            let out = work().await;
            let got = reply(&out);
            ticket.finish(got != Reply::Answered);
            tries += 1;
            if got == Reply::Answered || !self.may_retry(tries, since, got == Reply::Silent) {
                return out;
            }
            self.lock().retried += 1;
            let backoff =
                Duration::from_millis(10 << (tries - 1).min(6)).min(Duration::from_millis(500));
            tokio::time::sleep(backoff).await;
        }
    }

    /// Whether work dropped `tries` times, first sent as connection `since`, goes again.
    fn may_retry(&self, tries: u32, since: u64, slow: bool) -> bool {
        let mut st = self.lock();
        let now = Instant::now();
        if self.out_of_time(now) {
            st.budget_exhausted = true;
            return false;
        }
        // With --delay or a learned rate, answers come slowly: silence is measured in starts.
        let dead_after = DEAD_AFTER.max(3 * st.delay.max(st.spacing));
        if now.duration_since(st.last_answer) > dead_after {
            // The server answers nothing now: it is down or refusing, not limiting.
            return false;
        }
        let total = st.seen.len();
        let drops = st.seen.iter().filter(|s| s.dropped).count();
        if drops == total {
            // Nothing through the gate answered yet: a few times while the first answers may
            // still be on their way (a connection still open was not dropped at once), once
            // while the first burst comes back. A server that answers none of it is not
            // limiting, and silence is not tried again before anything answered.
            return !slow
                && tries < EARLY_TRIES
                && (st.in_flight > 0 || (tries < 2 && total < 2 * st.configured));
        }
        if slow {
            return tries < 2;
        }
        // Connections started after this work was first sent, besides its own later tries (all
        // dropped): when a dozen of them were all answered while this work was dropped again, the
        // server is not limiting (a limit drops its neighbours too) but refusing this very hello
        // (a name it will not serve, a version it resets). Stop.
        let retries = tries as usize - 1;
        let after: Vec<&Seen> = st.seen.iter().filter(|s| s.seq > since).collect();
        let others = after.len().saturating_sub(retries);
        let dropped = after
            .iter()
            .filter(|s| s.dropped)
            .count()
            .saturating_sub(retries);
        if tries >= QUIET_TRIES && others >= QUIET_OVER && dropped == 0 {
            return false;
        }
        tries < MAX_TRIES
    }

    /// The time budget has run out: nothing dropped is sent again.
    pub fn out_of_budget(&self) -> bool {
        let out = self.out_of_time(Instant::now());
        if out {
            self.lock().budget_exhausted = true;
        }
        out
    }

    /// Slots free at this moment, under the limit the gate keeps now.
    pub fn spare(&self) -> usize {
        let st = self.lock();
        st.limit.saturating_sub(st.in_flight)
    }

    /// Whether the server has dropped a few connections so far (one may be its answer to a hello).
    pub fn dropping(&self) -> bool {
        self.lock().seen.iter().filter(|s| s.dropped).count() >= 3
    }

    /// What the gate saw and did so far.
    pub fn stats(&self) -> GateStats {
        let mut st = self.lock();
        // A few drops at the end still say something about the server, and drops that nothing
        // else explains are loss, however many.
        if st.learned.is_none() {
            st.classify(3, 1.0);
        }
        GateStats {
            connections: st.seen.len(),
            dropped: st.seen.iter().filter(|s| s.dropped).count(),
            retried: st.retried,
            limit: st.learned,
            concurrency: st.limit,
            spacing_ms: st.spacing.as_millis() as u64,
            budget_exhausted: st.budget_exhausted,
        }
    }

    fn release(&self, ticket: &Ticket, dropped: Option<bool>) {
        let mut st = self.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        // Our close reaches the server a moment later; a drop was the server's own close.
        if ticket.started && dropped != Some(true) {
            st.closes.push_back(Instant::now());
        }
        if let Some(dropped) = dropped {
            let seen = Seen {
                seq: ticket.seq,
                others: ticket.others,
                closing: ticket.closing,
                recent: ticket.recent,
                dropped,
            };
            st.seen.push(seen);
            if !dropped {
                st.last_answer = Instant::now();
                st.answered_in_a_row += 1;
                if st.learned.is_some() {
                    st.apply();
                } else {
                    // The answers a classification waits for may come after the drops.
                    st.learn();
                }
            }
            if dropped {
                st.tighten(&seen);
                st.answered_in_a_row = 0;
                st.last_drop = Instant::now();
                if let Some(start) = st.starts.iter_mut().find(|(_, seq, _)| *seq == ticket.seq) {
                    start.2 = true;
                }
                st.learn();
            }
        }
        drop(st);
        self.changed.notify_waiters();
    }
}

/// How a connection ended, as [`Gate::attempt`] needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The server answered (anything at all, a refusal included), or the work never reached it.
    Answered,
    /// Reset, closed or refused before any answer.
    Dropped,
    /// No answer until the timeout.
    Silent,
}

impl Ticket {
    /// The connection is over; `dropped`: the server dropped it before any answer.
    pub fn finish(mut self, dropped: bool) {
        self.finished = true;
        let gate = Arc::clone(&self.gate);
        gate.release(&self, Some(dropped));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished {
            let gate = Arc::clone(&self.gate);
            gate.release(self, None);
        }
    }
}

impl Governor {
    /// Classifies the drops so far and sets the limits that keep under what they show.
    fn learn(&mut self) {
        self.classify(5, MAX_RANDOM_LOSS);
        self.apply();
    }

    /// Classifies the drops once there are at least `enough` of them (and a few answers); drops
    /// that nothing else explains are loss at random when at most `max_random_loss` of the
    /// connections were dropped.
    fn classify(&mut self, enough: usize, max_random_loss: f64) {
        let drops = self.seen.iter().filter(|s| s.dropped).count();
        if drops < enough || self.seen.len() - drops < 3 {
            // Too few of either to compare them.
            return;
        }
        // A pattern first: its drops fall at every load, but a few at high load may look like a
        // limit on a small sample.
        self.learned = if let Some(n) = every_nth(&self.seen) {
            Some(Limit::EveryNth(n))
        } else if let Some(k) = threshold(&self.seen, |s| s.others + s.closing) {
            Some(Limit::Concurrent(k.max(1)))
        } else if let Some(r) = threshold(&self.seen, |s| s.recent)
            // A limit on new connections drops one that was alone too (none of ours open, none
            // closed a moment before), or more than were ever open at once; one on connections
            // at once does neither.
            .filter(|&r| {
                r > self.configured
                    || self
                        .seen
                        .iter()
                        .any(|s| s.dropped && s.others == 0 && s.closing == 0)
            })
        {
            Some(Limit::PerSecond(r.max(1)))
        } else if matches!(self.learned, Some(Limit::Concurrent(_))) {
            // A limit on connections at once, once seen, is not taken back for loss at random
            // when the loads stop separating the drops (a server that counts closes late blurs
            // them); a drop below it tightens it instead (`Governor::tighten`).
            self.learned
        } else if let Some(share) = self.drop_share().filter(|&s| s <= max_random_loss) {
            Some(Limit::RandomLoss((share * 100.0).round() as u32))
        } else {
            // Most connections dropped, and not by load in a way the answers so far separate:
            // not loss at random either, which would lift every limit.
            self.learned
        };
    }

    /// A drop under a limit on connections at once: with none of ours open, it shows that the
    /// server counts our closes late; with others open, but fewer than a learned limit, a tighter
    /// limit.
    fn tighten(&mut self, dropped: &Seen) {
        if !self.keeps_concurrency() {
            return;
        }
        let load = dropped.others + dropped.closing;
        if dropped.others == 0 {
            self.close_lag = (self.close_lag * 2).min(MAX_CLOSE_LAG);
        } else if let Some(Limit::Concurrent(k)) = self.learned.filter(|_| load > 0) {
            self.learned = Some(Limit::Concurrent(k.min(load)));
        }
    }

    /// Whether the gate keeps under a limit on connections at once, learned or provisional.
    fn keeps_concurrency(&self) -> bool {
        match self.learned {
            Some(Limit::Concurrent(_)) => true,
            None => self.limit < self.configured,
            Some(_) => false,
        }
    }

    /// The share of connections so far the server dropped.
    fn drop_share(&self) -> Option<f64> {
        let drops = self.seen.iter().filter(|s| s.dropped).count();
        (!self.seen.is_empty()).then(|| drops as f64 / self.seen.len() as f64)
    }

    /// Keeps under the learned limit, loosened a step at a time while the server drops nothing: a
    /// connection more per [`PROBE_UP`] answers in a row, or a quarter more connections a second
    /// per second. A limit learned from a burst may be tighter than the server's, and only asking
    /// more shows it; a drop sets it back.
    fn apply(&mut self) {
        (self.limit, self.spacing) = match self.learned {
            Some(Limit::Concurrent(k)) => {
                let steps = self.answered_in_a_row / PROBE_UP;
                ((k + steps).min(self.configured), Duration::ZERO)
            }
            // A little under the rate seen, so the server's window never fills.
            Some(Limit::PerSecond(r)) => {
                let steps = self.last_drop.elapsed().as_secs().min(16) as i32;
                let rate = r as f64 * 0.9 * 1.25f64.powi(steps);
                (self.configured, Duration::from_secs_f64(1.0 / rate))
            }
            Some(Limit::EveryNth(_) | Limit::RandomLoss(_)) => (self.configured, Duration::ZERO),
            None => (
                self.provisional().unwrap_or(self.configured),
                Duration::ZERO,
            ),
        };
    }

    /// While the drops cannot be classified (too few answers to compare them with, or most
    /// connections dropped without a load that separates them), the fewest connections of ours
    /// that were open beside one the server dropped (at least 1). A first burst against a limit on
    /// connections at once is dropped almost whole (the answers take a handshake, the drops
    /// none), and sending its retries at once would be dropped the same way.
    fn provisional(&self) -> Option<usize> {
        let drops: Vec<&Seen> = self.seen.iter().filter(|s| s.dropped).collect();
        let answers = self.seen.len() - drops.len();
        let undecided = answers < 3 || self.drop_share().is_some_and(|s| s > MAX_RANDOM_LOSS);
        let fewest = drops.iter().map(|s| s.others).min()?;
        (drops.len() >= 3 && undecided).then_some(fewest.max(1))
    }
}

/// The load (by `measure`) at and above which the server drops most connections, below which it
/// drops few, when the drops show one: of the loads that separate them so, the one that separates
/// them best.
fn threshold(seen: &[Seen], measure: impl Fn(&Seen) -> usize) -> Option<usize> {
    let mut points: Vec<(usize, bool)> = seen.iter().map(|s| (measure(s), s.dropped)).collect();
    points.sort_unstable();
    let total = points.len();
    let total_drops = points.iter().filter(|p| p.1).count();
    let mut best: Option<(usize, f64)> = None;
    let mut drops_below = 0;
    for i in 0..total {
        drops_below += usize::from(points[i].1);
        // A cut between this load and the next higher one.
        let Some(next) = points.get(i + 1).filter(|p| p.0 > points[i].0) else {
            continue;
        };
        let (n_below, n_above) = (i + 1, total - i - 1);
        let below = drops_below as f64 / n_below as f64;
        let above = (total_drops - drops_below) as f64 / n_above as f64;
        if n_below >= 2 && n_above >= 5 && below <= 0.25 && above >= 0.75 {
            let gap = above - below;
            if best.is_none_or(|(_, g)| gap > g) {
                best = Some((next.0, gap));
            }
        }
    }
    best.map(|(k, _)| k)
}

/// `n` when the drops fall on every `n`th start (2 to 6): about one in `n` is dropped, and most
/// gaps between one drop and the next are `n` starts.
fn every_nth(seen: &[Seen]) -> Option<usize> {
    let mut drops: Vec<u64> = seen.iter().filter(|s| s.dropped).map(|s| s.seq).collect();
    if drops.len() < 4 {
        return None;
    }
    drops.sort_unstable();
    let share = drops.len() as f64 / seen.len() as f64;
    let gaps: Vec<u64> = drops.windows(2).map(|w| w[1] - w[0]).collect();
    (2..=6).find(|&n| {
        // Connections that started together may reach the server in another order, which moves
        // a drop by one; random loss makes gaps of every length, few of them exactly `n`.
        let exact = gaps.iter().filter(|&&g| g == n as u64).count();
        (share - 1.0 / n as f64).abs() <= 0.08 && exact as f64 >= 0.5 * gaps.len() as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starts_are_paced_and_in_flight_is_bounded() {
        let gate = Arc::new(Gate::new(2, None, Duration::from_millis(20)));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (gate, in_flight, peak) = (gate.clone(), in_flight.clone(), peak.clone());
            tasks.spawn(async move {
                let _ticket = gate.enter().await;
                let started = Instant::now();
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                started
            });
        }
        let mut starts = Vec::new();
        while let Some(started) = tasks.join_next().await {
            starts.push(started.unwrap());
        }
        starts.sort();
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        // Six starts 20 ms apart span 100 ms (without the pause: three waves of two, 60 ms); a
        // little less as measured after the gate, under scheduling jitter.
        let span = starts[5] - starts[0];
        assert!(
            span >= Duration::from_millis(90),
            "six starts within {span:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_max_rate_starts_in_any_second() {
        let gate = Arc::new(Gate::new(64, None, Duration::ZERO).with_max_rate(20));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let gate = gate.clone();
            tasks.spawn(async move {
                let ticket = gate.enter().await;
                let started = Instant::now();
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticket.finish(false);
                started
            });
        }
        let mut starts = Vec::new();
        while let Some(started) = tasks.join_next().await {
            starts.push(started.unwrap());
        }
        starts.sort();
        for pair in starts.windows(21) {
            assert!(
                pair[20] - pair[0] >= Duration::from_secs(1),
                "21 starts within a second"
            );
        }
        // 20 at once, 20 a second later, the last 10 a second after that: no slower.
        assert!(
            starts[49] - starts[0] <= Duration::from_millis(2100),
            "{:?}",
            starts[49] - starts[0]
        );
    }

    #[tokio::test]
    async fn a_shared_bound_holds_across_gates() {
        let global = Arc::new(Semaphore::new(1));
        let a = Arc::new(Gate::new(4, Some(global.clone()), Duration::ZERO));
        let b = Arc::new(Gate::new(4, Some(global.clone()), Duration::ZERO));
        let held = a.enter().await;
        assert_eq!(global.available_permits(), 0);
        // The other target's gate has room of its own, but not in the run-wide bound.
        let waiting = tokio::time::timeout(Duration::from_millis(50), b.enter()).await;
        assert!(waiting.is_err(), "entered past the run-wide bound");
        drop(held);
        let _entered = tokio::time::timeout(Duration::from_secs(1), b.enter())
            .await
            .expect("entered once the permit came back");
    }

    #[tokio::test]
    async fn a_cancelled_entry_gives_back_its_slot() {
        let global = Arc::new(Semaphore::new(1));
        let gate = Arc::new(Gate::new(1, Some(global.clone()), Duration::ZERO));
        let other = Arc::new(Gate::new(1, Some(global), Duration::ZERO));
        let held = other.enter().await;
        // The entry takes the gate's only slot, then waits for the run-wide permit: cancelled there.
        let waiting = tokio::time::timeout(Duration::from_millis(50), gate.enter()).await;
        assert!(waiting.is_err(), "entered past the run-wide bound");
        drop(held);
        // Had the cancelled entry kept its slot, this one would wait for ever.
        let _entered = tokio::time::timeout(Duration::from_secs(1), gate.enter())
            .await
            .expect("the cancelled entry's slot came back");
    }

    fn seen(rows: &[(usize, usize, bool)]) -> Vec<Seen> {
        rows.iter()
            .enumerate()
            .map(|(i, &(others, recent, dropped))| Seen {
                seq: i as u64 + 1,
                others,
                closing: 0,
                recent,
                dropped,
            })
            .collect()
    }

    #[test]
    fn drops_above_a_load_are_a_limit_and_drops_at_any_load_are_not() {
        // Two at once pass; a third in flight is dropped.
        let two = seen(&[
            (0, 0, false),
            (1, 1, false),
            (2, 2, true),
            (2, 2, true),
            (1, 3, false),
            (3, 3, true),
            (4, 4, true),
            (2, 4, true),
        ]);
        assert_eq!(threshold(&two, |s| s.others), Some(2));
        // Every second start dropped, at every load.
        let alternate: Vec<(usize, usize, bool)> =
            (0..20).map(|i| ((i / 2) % 4, i, i % 2 == 1)).collect();
        let alternate = seen(&alternate);
        assert_eq!(threshold(&alternate, |s| s.others), None);
        assert_eq!(threshold(&alternate, |s| s.recent), None);
        assert_eq!(every_nth(&alternate), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_burst_dropped_almost_whole_is_sent_again_a_few_at_a_time() {
        let gate = Arc::new(Gate::new(16, None, Duration::ZERO));
        let mut tickets = Vec::new();
        for _ in 0..16 {
            tickets.push(gate.enter().await);
        }
        // The server takes two at once: the first two stay open, the rest are dropped at once,
        // long before any answer.
        let open: Vec<Ticket> = tickets.drain(..2).collect();
        for ticket in tickets {
            ticket.finish(true);
        }
        assert_eq!(gate.lock().limit, 2, "the fewest open beside a drop");
        assert_eq!(
            gate.stats().limit,
            None,
            "nothing to compare the drops with yet"
        );
        for ticket in open {
            ticket.finish(false);
        }
        tokio::time::sleep(CLOSE_LAG * 2).await;
        // One answer more, alone: the drops above two at once and the answers below it now
        // separate.
        gate.enter().await.finish(false);
        assert_eq!(gate.stats().limit, Some(Limit::Concurrent(2)));
    }

    #[tokio::test]
    async fn a_few_drops_among_answers_keep_every_slot() {
        let gate = Arc::new(Gate::new(16, None, Duration::ZERO));
        let mut tickets = Vec::new();
        for _ in 0..16 {
            tickets.push(gate.enter().await);
        }
        for (i, ticket) in tickets.into_iter().enumerate() {
            ticket.finish(i % 5 == 4);
        }
        assert_eq!(gate.lock().limit, 16);
    }

    #[test]
    fn a_limit_on_connections_at_once_is_kept_when_the_loads_blur_and_tightened_below() {
        let gate = Gate::new(16, None, Duration::ZERO);
        let mut st = gate.lock();
        // Drops and answers at the same loads: no load separates them, and most were dropped.
        st.seen = seen(&[
            (1, 0, false),
            (1, 0, true),
            (2, 0, true),
            (2, 0, false),
            (2, 0, true),
            (3, 0, true),
            (1, 0, false),
            (3, 0, true),
            (2, 0, true),
        ]);
        st.learned = Some(Limit::Concurrent(3));
        st.classify(5, MAX_RANDOM_LOSS);
        assert_eq!(st.learned, Some(Limit::Concurrent(3)), "not loss at random");
        st.learned = None;
        st.classify(5, MAX_RANDOM_LOSS);
        assert_eq!(st.learned, None, "7 of 9 dropped is no loss at random");
        // A drop with two of ours open under a limit of three shows a limit of two; one with
        // none of ours open, that the server counts closes late.
        st.learned = Some(Limit::Concurrent(3));
        let drop = |others| Seen {
            seq: 10,
            others,
            closing: 0,
            recent: 0,
            dropped: true,
        };
        st.tighten(&drop(2));
        assert_eq!(st.learned, Some(Limit::Concurrent(2)));
        st.tighten(&drop(0));
        assert_eq!(st.learned, Some(Limit::Concurrent(2)));
        assert_eq!(st.close_lag, 2 * CLOSE_LAG);
    }
}
