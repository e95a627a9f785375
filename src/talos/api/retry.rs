//! When the Talos API client tries a call again.
//!
//! Only transient failures are retried (`Unavailable`, `DeadlineExceeded`, a connection that
//! could not be opened); a bad argument or a denied permission never is. The policy is a
//! finite iterator of delays so tests can collect it (style rule 12).

use std::time::Duration;

/// A bounded exponential backoff: `attempts` tries in all, the first delay doubling up to
/// `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub attempts: u32,
    /// Delay before the second attempt.
    pub first_delay: Duration,
    /// Upper bound of any delay.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// One API call: 4 attempts, 250 ms → 500 ms → 1 s.
    pub const fn api_call() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
        }
    }

    /// Never retry.
    pub const fn none() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// The delays between attempts (`attempts - 1` of them).
    pub fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let first = self.first_delay;
        let max = self.max_delay;
        (0..self.attempts.saturating_sub(1)).map(move |n| first.saturating_mul(1u32 << n.min(16)).min(max))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::api_call()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_call_policy_doubles_and_stops() {
        let delays: Vec<_> = RetryPolicy::api_call().delays().collect();
        assert_eq!(
            delays,
            [
                Duration::from_millis(250),
                Duration::from_millis(500),
                Duration::from_secs(1)
            ]
        );
        assert_eq!(RetryPolicy::none().delays().count(), 0);
    }

    #[test]
    fn delays_are_capped() {
        let policy = RetryPolicy {
            attempts: 40,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        };
        assert!(policy.delays().all(|d| d <= Duration::from_secs(5)));
        assert_eq!(policy.delays().count(), 39);
    }
}
