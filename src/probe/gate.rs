//! The gate the connections of one scan pass through when several stages run at once: at most
//! `concurrency` connections in flight to the target, a share of a run-wide bound (`check`), and
//! `--delay` between starts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bounds and paces connections to one target.
#[derive(Debug)]
pub struct Gate {
    local: Arc<Semaphore>,
    global: Option<Arc<Semaphore>>,
    delay: Duration,
    next_start: Mutex<Instant>,
}

/// Held while a connection is open; dropping it lets the next one in.
#[derive(Debug)]
pub struct Ticket {
    _local: Option<OwnedSemaphorePermit>,
    _global: Option<OwnedSemaphorePermit>,
}

impl Gate {
    /// A gate letting `concurrency` (at least 1) connections in at once, each also taking a permit
    /// of `global` when given, with `delay` between starts.
    pub fn new(concurrency: usize, global: Option<Arc<Semaphore>>, delay: Duration) -> Self {
        Gate {
            local: Arc::new(Semaphore::new(concurrency.max(1))),
            global,
            delay,
            next_start: Mutex::new(Instant::now()),
        }
    }

    /// Waits for a free slot (and the pause since the last start), then lets one connection in.
    pub async fn enter(&self) -> Ticket {
        // The semaphores are never closed, so acquiring cannot fail; if it ever did, the connection
        // would simply go ahead unbounded rather than hang.
        let local = Arc::clone(&self.local).acquire_owned().await;
        let global = match &self.global {
            Some(g) => Arc::clone(g).acquire_owned().await.ok(),
            None => None,
        };
        if !self.delay.is_zero() {
            let mut next = self.next_start.lock().await;
            let now = Instant::now();
            if *next > now {
                tokio::time::sleep_until(*next).await;
            }
            *next = Instant::now() + self.delay;
        }
        Ticket {
            _local: local.ok(),
            _global: global,
        }
    }
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

    #[tokio::test]
    async fn a_shared_bound_holds_across_gates() {
        let global = Arc::new(Semaphore::new(1));
        let a = Gate::new(4, Some(global.clone()), Duration::ZERO);
        let b = Gate::new(4, Some(global.clone()), Duration::ZERO);
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
}
