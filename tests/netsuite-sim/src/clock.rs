//! When answers leave. tokio's timer fires on whole milliseconds and late, about 1.2 ms past
//! the deadline on average here, so each answer held its slot that much past the configured
//! latency and a client at the limit could never reach C / latency. One thread of the process
//! sleeps on a condition variable until the earliest deadline instead: the kernel's
//! high-resolution timers wake it within tens of microseconds.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{self, AtomicU64};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

/// Waits until `at` (an answer's time), to within the kernel's timer slack.
pub async fn until(at: Instant) {
    if at <= Instant::now() {
        return;
    }
    let (tx, rx) = oneshot::channel();
    let clock = clock();
    {
        let mut due = clock.due.lock().unwrap_or_else(PoisonError::into_inner);
        let earliest = due.peek().is_none_or(|d| at < d.at);
        let seq = clock.seq.fetch_add(1, atomic::Ordering::Relaxed);
        due.push(Due { at, seq, tx });
        if earliest {
            clock.changed.notify_one();
        }
    }
    // The clock thread lives as long as the process, so the sender is never dropped unsent.
    let _ = rx.await;
}

struct Clock {
    due: Mutex<BinaryHeap<Due>>,
    changed: Condvar,
    /// Orders answers due at the same instant by arrival.
    seq: AtomicU64,
}

struct Due {
    at: Instant,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    /// Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

fn clock() -> &'static Clock {
    static CLOCK: OnceLock<&'static Clock> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock: &'static Clock = Box::leak(Box::new(Clock {
            due: Mutex::default(),
            changed: Condvar::new(),
            seq: AtomicU64::new(0),
        }));
        std::thread::Builder::new()
            .name("netsuite-sim-clock".into())
            .spawn(move || run(clock))
            .expect("the simulator's clock thread starts");
        clock
    })
}

fn run(clock: &Clock) {
    let mut due = clock.due.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let now = Instant::now();
        while due.peek().is_some_and(|d| d.at <= now) {
            if let Some(d) = due.pop() {
                let _ = d.tx.send(());
            }
        }
        due = match due.peek().map(|d| d.at - now) {
            Some(wait) => {
                clock
                    .changed
                    .wait_timeout(due, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => clock
                .changed
                .wait(due)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn answers_leave_in_deadline_order_and_not_early() {
        let start = Instant::now();
        let waits = [30u64, 10, 20, 10];
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = waits
            .iter()
            .enumerate()
            .map(|(i, ms)| {
                let order = order.clone();
                let at = start + Duration::from_millis(*ms);
                tokio::spawn(async move {
                    until(at).await;
                    assert!(Instant::now() >= at, "woken before its deadline");
                    order.lock().unwrap().push(i);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order.last(),
            Some(&0),
            "the 30 ms answer leaves last: {order:?}"
        );
        assert_eq!(
            order[2], 2,
            "the 20 ms answer leaves after both 10 ms ones: {order:?}"
        );
    }
}
