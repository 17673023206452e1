//! Retry timing shared by every outbound client: exponential backoff with full jitter and a
//! cap, honouring a server's own hint when it gives one.

use std::time::Duration;

use rand::Rng;

/// When and how often a failed request is tried again.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff ceiling before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Upper bound on one backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based): a uniformly random time up to
    /// `base * 2^(attempt-1)` (capped), so many clients that failed together do not retry
    /// together. A server hint (`Retry-After`) sets a floor, itself capped.
    pub fn delay(&self, attempt: u32, server_hint: Option<Duration>) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let jittered =
            Duration::from_micros(rand::rng().random_range(0..=ceiling.as_micros() as u64));
        match server_hint {
            Some(hint) => hint.min(self.max_delay).max(jittered),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..200 {
            assert!(p.delay(1, None) <= Duration::from_millis(100));
            assert!(p.delay(3, None) <= Duration::from_millis(400));
            assert!(p.delay(30, None) <= Duration::from_secs(1));
            assert!(p.delay(1, Some(Duration::from_millis(700))) >= Duration::from_millis(700));
            assert!(p.delay(1, Some(Duration::from_secs(60))) <= Duration::from_secs(1));
        }
        let distinct: std::collections::HashSet<_> = (0..50).map(|_| p.delay(5, None)).collect();
        assert!(distinct.len() > 1, "delays are jittered");
    }
}
