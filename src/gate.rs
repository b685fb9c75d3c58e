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
