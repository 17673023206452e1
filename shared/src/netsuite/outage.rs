//! One NetSuite account failing: after a few server errors or lost connections in a row, its
//! requests stop for a hold instead of each waiting through its own retries, so a worker
//! serving many tenants spends seconds, not minutes, on an account that cannot answer. After
//! the hold one request goes through as a probe: an answer ends the outage, another failure
//! doubles the hold (up to [`MAX_HOLD`]).
//!
//! The state is per account and per process (each Lambda instance learns of an outage from its
//! own requests: a few failures each, against minutes of retries otherwise). Answers that are
//! NetSuite's own verdicts (validation, permissions, 429) say the account answers and end the
//! count.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Failures in a row that start a hold.
pub const TRIP_AFTER: u32 = 3;
/// The first hold; each failed probe doubles it.
pub const FIRST_HOLD: Duration = Duration::from_secs(15);
pub const MAX_HOLD: Duration = Duration::from_secs(300);
/// A probe that has not come back after this long (its task was dropped) lets another go.
const PROBE_LOST_AFTER: Duration = Duration::from_secs(90);
/// An account whose answers take longer than this on average is slow: its requests, not the
/// work around them, set how long its messages take.
pub const SLOW_ANSWER: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// Set while a queue message's work runs that may go back to the queue unfinished.
    static SHEDDABLE: ();
}

/// How long a [`sheddable`] message's request waits for a slot of a slow account before it
/// gives up.
pub const SHED_AFTER: Duration = Duration::from_secs(1);

/// Runs a queue message's work so that its NetSuite requests give up waiting for a slot after
/// [`SHED_AFTER`] when the account is slow: the request is not sent, the flow keeps what it
/// has done (each step is saved, and a later delivery goes on from there) and the message goes
/// back to the queue, instead of waiting in the worker. Messages taken just before their
/// account turned slow would otherwise wait there for every one taken with them.
pub async fn sheddable<F: std::future::Future>(work: F) -> F::Output {
    SHEDDABLE.scope((), work).await
}

/// Whether the running task is a [`sheddable`] message's work.
pub(crate) fn in_sheddable() -> bool {
    SHEDDABLE.try_with(|_| ()).is_ok()
}

#[derive(Debug, Default)]
pub struct Outage {
    state: Mutex<State>,
    /// How long the account's answers take, as a moving average (microseconds; 0: none yet).
    answer_us: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    failures_in_row: u32,
    held_until: Option<Instant>,
    /// The hold the next trip starts, doubled by each failed probe.
    next_hold: Option<Duration>,
    probe_since: Option<Instant>,
}

impl Outage {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long requests still wait, or `None` when one may go now. Once a hold has passed,
    /// the first caller is let through as the probe and the others keep waiting for its answer.
    pub fn admit(&self) -> Option<Duration> {
        let mut st = self.lock();
        let until = st.held_until?;
        let now = Instant::now();
        if now < until {
            return Some(until - now);
        }
        match st.probe_since {
            Some(at) if now.duration_since(at) < PROBE_LOST_AFTER => Some(Duration::from_secs(1)),
            _ => {
                st.probe_since = Some(now);
                None
            }
        }
    }

    /// How long the account is still held, without taking the probe's turn.
    pub fn held_for(&self) -> Option<Duration> {
        let st = self.lock();
        let until = st.held_until?;
        let now = Instant::now();
        if now < until {
            return Some(until - now);
        }
        // Past the hold, waiting for the probe's verdict: a short wait.
        st.probe_since
            .filter(|at| now.duration_since(*at) < PROBE_LOST_AFTER)
            .map(|_| Duration::from_secs(1))
    }

    /// How long an answer took (any answer, an error's included).
    pub fn took(&self, elapsed: Duration) {
        use std::sync::atomic::Ordering;
        let now = elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
        // A fifth of each new answer: a few answers show a change, one does not.
        let _ = self
            .answer_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |mean| {
                Some(if mean == 0 { now } else { (mean * 4 + now) / 5 })
            });
    }

    /// Whether the account's answers are slow ([`SLOW_ANSWER`]).
    pub fn slow(&self) -> bool {
        let mean = self.answer_us.load(std::sync::atomic::Ordering::Relaxed);
        Duration::from_micros(mean) > SLOW_ANSWER
    }

    /// NetSuite answered (anything but a server error): the account works.
    pub fn answered(&self) {
        let mut st = self.lock();
        if st.held_until.is_some() {
            tracing::info!("NetSuite answers again; the account's hold is over");
        }
        *st = State::default();
    }

    /// A server error, a timeout or a lost connection.
    pub fn failed(&self) {
        let mut st = self.lock();
        st.failures_in_row += 1;
        let probe_failed = st.probe_since.take().is_some();
        let now = Instant::now();
        if st.held_until.is_some_and(|u| now < u) {
            // Requests sent before the hold began: the hold stands as it is.
            return;
        }
        if probe_failed || st.failures_in_row >= TRIP_AFTER {
            let hold = st.next_hold.unwrap_or(FIRST_HOLD);
            st.next_hold = Some((hold * 2).min(MAX_HOLD));
            st.held_until = Some(now + hold);
            tracing::warn!(
                hold_s = hold.as_secs(),
                failures_in_row = st.failures_in_row,
                "NetSuite keeps failing; the account's requests wait"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failures_in_a_row_hold_the_account_and_one_probe_ends_or_doubles_it() {
        let o = Outage::default();
        assert_eq!(o.admit(), None);
        o.failed();
        o.failed();
        assert_eq!(o.admit(), None, "two failures are not an outage");
        o.answered();
        o.failed();
        o.failed();
        assert_eq!(o.admit(), None, "an answer started the count again");
        o.failed();
        assert_eq!(o.admit(), Some(FIRST_HOLD));
        assert_eq!(o.held_for(), Some(FIRST_HOLD));

        tokio::time::advance(FIRST_HOLD).await;
        assert_eq!(o.held_for(), None, "nothing probes yet");
        assert_eq!(o.admit(), None, "the first request is the probe");
        assert_eq!(
            o.admit(),
            Some(Duration::from_secs(1)),
            "the others wait for it"
        );
        o.failed();
        assert_eq!(
            o.admit(),
            Some(FIRST_HOLD * 2),
            "a failed probe doubles the hold"
        );

        tokio::time::advance(FIRST_HOLD * 2).await;
        assert_eq!(o.admit(), None);
        o.answered();
        assert_eq!((o.admit(), o.held_for()), (None, None));
        // The next outage starts again from the first hold.
        for _ in 0..TRIP_AFTER {
            o.failed();
        }
        assert_eq!(o.held_for(), Some(FIRST_HOLD));
    }

    #[test]
    fn an_account_is_slow_once_its_answers_take_over_a_second_on_average() {
        let o = Outage::default();
        assert!(!o.slow());
        for _ in 0..20 {
            o.took(Duration::from_millis(100));
        }
        o.took(Duration::from_secs(3));
        assert!(!o.slow(), "one slow answer is not a slow account");
        for _ in 0..5 {
            o.took(Duration::from_secs(2));
        }
        assert!(o.slow());
        for _ in 0..10 {
            o.took(Duration::from_millis(100));
        }
        assert!(!o.slow(), "and it recovers");
    }

    #[tokio::test(start_paused = true)]
    async fn holds_are_capped_and_a_lost_probe_lets_another_go() {
        let o = Outage::default();
        for _ in 0..TRIP_AFTER {
            o.failed();
        }
        for _ in 0..10 {
            tokio::time::advance(MAX_HOLD).await;
            assert_eq!(o.admit(), None);
            o.failed();
        }
        assert_eq!(o.held_for(), Some(MAX_HOLD));
        tokio::time::advance(MAX_HOLD).await;
        assert_eq!(o.admit(), None, "probe");
        tokio::time::advance(PROBE_LOST_AFTER).await;
        assert_eq!(o.admit(), None, "the probe never came back: another goes");
    }
}
