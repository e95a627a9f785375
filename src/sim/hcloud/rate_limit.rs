//! The project-wide request budget: a token bucket of 3600 requests refilling one per
//! second (reference `hcloud-api.md` §4), measured in real time because clients poll in
//! real time. Every request counts, authenticated or not.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The token bucket and what it reports in `RateLimit-*` headers.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: u64,
    refill_per_second: f64,
    tokens: f64,
    last: Instant,
}

/// The outcome of taking one token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// `RateLimit-Limit`.
    pub limit: u64,
    /// `RateLimit-Remaining` after this request.
    pub remaining: u64,
    /// `RateLimit-Reset`: UNIX seconds when the bucket is full again.
    pub reset: u64,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(3600, 1.0)
    }
}

impl RateLimiter {
    /// A full bucket of `limit` tokens refilling at `refill_per_second`.
    pub fn new(limit: u64, refill_per_second: f64) -> Self {
        RateLimiter {
            limit,
            refill_per_second: refill_per_second.max(0.0),
            tokens: limit as f64,
            last: Instant::now(),
        }
    }

    /// Reconfigures the bucket; `remaining` sets the current fill (default: full).
    pub fn configure(&mut self, limit: u64, refill_per_second: f64, remaining: Option<u64>) {
        self.refill(Instant::now());
        self.limit = limit;
        self.refill_per_second = refill_per_second.max(0.0);
        self.tokens = remaining.unwrap_or(limit).min(limit) as f64;
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.refill_per_second).min(self.limit as f64);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub fn take(&mut self) -> Verdict {
        self.refill(Instant::now());
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        self.verdict(allowed)
    }

    /// The current state without taking a token.
    pub fn peek(&mut self) -> Verdict {
        self.refill(Instant::now());
        self.verdict(true)
    }

    fn verdict(&self, allowed: bool) -> Verdict {
        let missing = self.limit as f64 - self.tokens;
        let secs = if missing <= 0.0 || self.refill_per_second <= 0.0 {
            0.0
        } else {
            missing / self.refill_per_second
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Verdict {
            allowed,
            limit: self.limit,
            remaining: self.tokens.floor() as u64,
            reset: (now.as_secs_f64() + secs).ceil() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empties_then_refuses() {
        let mut bucket = RateLimiter::new(3, 0.0);
        assert_eq!(bucket.take().remaining, 2);
        assert_eq!(bucket.take().remaining, 1);
        assert_eq!(bucket.take().remaining, 0);
        let refused = bucket.take();
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
    }

    #[test]
    fn reset_is_in_the_future_when_not_full() {
        let mut bucket = RateLimiter::new(3600, 1.0);
        let verdict = bucket.take();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(verdict.reset >= now && verdict.reset <= now + 2, "{verdict:?}");
    }
}
