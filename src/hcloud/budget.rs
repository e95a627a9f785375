//! The project's request budget as the API reports it (`RateLimit-Limit`,
//! `RateLimit-Remaining`, `RateLimit-Reset` on every answer), shared by every clone of a
//! [`super::Client`], and the count of requests sent for the run summary.
//!
//! The API's budget is a token bucket per project (3600 an hour by default, refilled
//! evenly). When the last answer said nothing is left, the next request waits until one
//! request has refilled instead of earning a 429; after a 429 the retry waits at least as
//! long.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use serde::Serialize;

use crate::lock::lock;

/// The longest a request waits for the budget before it is sent anyway (a clock skew or a
/// strange `RateLimit-Reset` must not stall a run for an hour).
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// What the last answer said about the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// `RateLimit-Limit`: requests per hour.
    pub limit: u64,
    /// `RateLimit-Remaining`: requests left now.
    pub remaining: u64,
    /// `RateLimit-Reset`: UNIX seconds when the bucket is full again.
    pub reset: u64,
}

impl RateLimit {
    /// Reads the three headers; `None` when one is missing or not a number.
    pub fn from_headers(headers: &HeaderMap) -> Option<RateLimit> {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        Some(RateLimit {
            limit: number("ratelimit-limit")?,
            remaining: number("ratelimit-remaining")?,
            reset: number("ratelimit-reset")?,
        })
    }

    /// How long until one more request is allowed, seen at UNIX time `now`: zero when
    /// requests remain, else the time one request takes to refill ((reset − now) spread
    /// over the missing requests), at least 100 ms.
    pub fn wait_for_one(&self, now: Duration) -> Duration {
        if self.remaining > 0 {
            return Duration::ZERO;
        }
        let until_full = Duration::from_secs(self.reset).saturating_sub(now);
        let missing = u32::try_from(self.limit.saturating_sub(self.remaining).max(1)).unwrap_or(u32::MAX);
        (until_full / missing).clamp(Duration::from_millis(100), MAX_WAIT)
    }
}

/// Requests sent, for the run summary (`api_requests` in `--output json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    /// Every request sent, retries included.
    pub total: u64,
    /// Requests that were retries of an earlier one.
    pub retries: u64,
    /// Requests answered with 429.
    pub rate_limited: u64,
    /// Requests by method (`GET`, `POST`, …).
    pub by_method: BTreeMap<String, u64>,
}

/// The shared budget and counters.
#[derive(Debug, Default)]
pub(super) struct Budget {
    last: Mutex<Option<RateLimit>>,
    count: Mutex<RequestCount>,
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl Budget {
    /// The last reported budget.
    pub(super) fn last(&self) -> Option<RateLimit> {
        *lock(&self.last)
    }

    /// How long to wait before sending, given what the last answer said.
    pub(super) fn wait_before_send(&self) -> Duration {
        self.last().map_or(Duration::ZERO, |rate| rate.wait_for_one(unix_now()))
    }

    /// Counts one request about to be sent.
    pub(super) fn count_sent(&self, method: &str, retry: bool) {
        let mut count = lock(&self.count);
        count.total += 1;
        if retry {
            count.retries += 1;
        }
        *count.by_method.entry(method.to_string()).or_default() += 1;
        // A request spends one unit of the budget before its answer says so.
        if let Some(rate) = lock(&self.last).as_mut() {
            rate.remaining = rate.remaining.saturating_sub(1);
        }
    }

    /// Records an answer's headers (and whether it was a 429).
    pub(super) fn record_answer(&self, headers: &HeaderMap, rate_limited: bool) {
        if let Some(rate) = RateLimit::from_headers(headers) {
            *lock(&self.last) = Some(rate);
        } else if rate_limited && let Some(rate) = lock(&self.last).as_mut() {
            rate.remaining = 0;
        }
        if rate_limited {
            lock(&self.count).rate_limited += 1;
        }
    }

    /// The delay a 429 asks for.
    pub(super) fn rate_limited_delay(&self) -> Duration {
        self.last()
            .map_or(Duration::from_secs(1), |rate| rate.wait_for_one(unix_now()))
    }

    /// A copy of the counters.
    pub(super) fn count(&self) -> RequestCount {
        lock(&self.count).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn headers_are_read_and_the_wait_spreads_the_refill() {
        let mut headers = HeaderMap::new();
        headers.insert("RateLimit-Limit", HeaderValue::from_static("3600"));
        headers.insert("RateLimit-Remaining", HeaderValue::from_static("0"));
        headers.insert("RateLimit-Reset", HeaderValue::from_static("1003600"));
        let rate = RateLimit::from_headers(&headers).unwrap();
        assert_eq!(
            rate,
            RateLimit {
                limit: 3600,
                remaining: 0,
                reset: 1_003_600
            }
        );
        // 3600 missing requests refill in 3600 s: one per second.
        assert_eq!(
            rate.wait_for_one(Duration::from_secs(1_000_000)),
            Duration::from_secs(1)
        );
        assert_eq!(
            RateLimit { remaining: 5, ..rate }.wait_for_one(Duration::from_secs(1_000_000)),
            Duration::ZERO
        );
        headers.remove("RateLimit-Reset");
        assert_eq!(RateLimit::from_headers(&headers), None);
    }

    #[test]
    fn counting_spends_the_budget_until_the_next_answer() {
        let budget = Budget::default();
        let mut headers = HeaderMap::new();
        headers.insert("RateLimit-Limit", HeaderValue::from_static("10"));
        headers.insert("RateLimit-Remaining", HeaderValue::from_static("1"));
        headers.insert("RateLimit-Reset", HeaderValue::from_static("9999999999"));
        budget.record_answer(&headers, false);
        assert_eq!(budget.wait_before_send(), Duration::ZERO);
        budget.count_sent("GET", false);
        assert!(budget.wait_before_send() > Duration::ZERO);
        budget.count_sent("POST", true);
        let count = budget.count();
        assert_eq!((count.total, count.retries, count.by_method.len()), (2, 1, 2));
    }
}
