//! How long to wait before trying again: named retry policies and the backoff they produce.
//!
//! One helper for every client that retries (Talos API, Image Factory downloads, and the
//! Hetzner API and SSH clients to come), so delays, jitter, attempt caps and deadlines are
//! decided in one place. A [`Policy`] is a plain `Copy` value (what a caller configures); a
//! [`Backoff`] is one run of it: an [`Iterator`] of delays that ends when the policy says to
//! give up. Which failures are worth retrying is left to the caller, who knows its errors
//! (a gRPC `Unavailable`, an HTTP 429, a `locked` Hetzner action).
//!
//! The shape follows kube-rs's `DefaultBackoff` (an iterator plus `reset`) and omicron's named
//! policies (`common/src/backoff.rs`):
//!
//! ```
//! use std::time::Duration;
//! use talos_hcloud::retry::Policy;
//!
//! # async fn call() -> Result<(), &'static str> { Ok(()) }
//! # async fn run() -> Result<(), &'static str> {
//! let mut backoff = Policy::api_call().backoff();
//! loop {
//!     match call().await {
//!         Ok(value) => break Ok(value),
//!         // A transient failure: wait and try again while the policy allows it.
//!         Err(error) => match backoff.next() {
//!             Some(delay) => tokio::time::sleep(delay).await,
//!             None => break Err(error),
//!         },
//!     }
//! }
//! # }
//! ```
//!
//! A server-given delay (`Retry-After`, `RateLimit-Reset`) is honoured with
//! [`Backoff::next_after`]; progress that should restart the count (a download that received
//! new bytes) calls [`Backoff::reset`].

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A retry policy: how many attempts, which delays between them, and for how long in all.
///
/// Delays grow from `initial_delay` by `multiplier` per attempt up to `max_delay`; each is
/// then shortened by a random share of at most `jitter_percent` so that many clients failing
/// together do not retry in lockstep (a delay is never longer than the exponential one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Short name for logs and errors ("api call", "node boot").
    pub name: &'static str,
    /// Attempts in all, the first one included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_delay: Duration,
    /// Upper bound of any computed delay.
    pub max_delay: Duration,
    /// Growth factor of the delay per attempt (1 = constant delay).
    pub multiplier: u32,
    /// Largest share of a delay, in percent (0–100), taken off at random.
    pub jitter_percent: u8,
    /// Total time budget from the start (or the last [`Backoff::reset`]); `None` = attempts only.
    pub deadline: Option<Duration>,
}

impl Policy {
    /// One API request (Talos gRPC, Hetzner, Image Factory): 4 attempts, 250 ms → 500 ms → 1 s
    /// (at most 2 s), 20 % jitter. For failures the server calls transient.
    pub const fn api_call() -> Policy {
        Policy {
            name: "api call",
            max_attempts: 4,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
            multiplier: 2,
            jitter_percent: 20,
            deadline: None,
        }
    }

    /// Polling a long-running Hetzner action until it finishes: 500 ms growing to 5 s,
    /// 10 % jitter, for at most 10 minutes.
    pub const fn action_poll() -> Policy {
        Policy {
            name: "action poll",
            max_attempts: u32::MAX,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            multiplier: 2,
            jitter_percent: 10,
            deadline: Some(Duration::from_secs(600)),
        }
    }

    /// Scheduling the polls of running Hetzner actions from their progress: never sooner
    /// than 250 ms after the last poll, never later than 10 s, for at most 10 minutes. The
    /// delays are the schedule's bounds, not a backoff (`crate::hcloud`'s action board
    /// estimates when the actions end).
    pub const fn action_progress() -> Policy {
        Policy {
            name: "action progress",
            max_attempts: u32::MAX,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            multiplier: 1,
            jitter_percent: 0,
            deadline: Some(Duration::from_secs(600)),
        }
    }

    /// Waiting on the Talos API (apid up, maintenance mode, etcd, health): every 200 ms
    /// (10 % jitter), for at most 10 minutes. These checks cost no Hetzner requests, so a
    /// short fixed interval ends each wait at most one interval late.
    pub const fn talos_wait() -> Policy {
        Policy {
            name: "talos wait",
            max_attempts: u32::MAX,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_millis(200),
            multiplier: 1,
            jitter_percent: 10,
            deadline: Some(Duration::from_secs(600)),
        }
    }

    /// Waiting for a node to answer after a boot, reboot or configuration: 100 ms growing to
    /// 2 s, 10 % jitter, for at most 10 minutes (callers usually set their own deadline with
    /// [`Policy::with_deadline`]).
    pub const fn node_boot() -> Policy {
        Policy {
            name: "node boot",
            max_attempts: u32::MAX,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            multiplier: 2,
            jitter_percent: 10,
            deadline: Some(Duration::from_secs(600)),
        }
    }

    /// A large download that can resume: 6 attempts, 1 s growing to 30 s, 20 % jitter.
    /// Callers [`Backoff::reset`] it whenever an attempt made progress.
    pub const fn download() -> Policy {
        Policy {
            name: "download",
            max_attempts: 6,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            multiplier: 2,
            jitter_percent: 20,
            deadline: None,
        }
    }

    /// Never retry: one attempt, no delays.
    pub const fn none() -> Policy {
        Policy {
            name: "no retry",
            max_attempts: 1,
            initial_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            multiplier: 1,
            jitter_percent: 0,
            deadline: None,
        }
    }

    /// This policy with `max_attempts` attempts in all.
    #[must_use]
    pub const fn with_max_attempts(mut self, max_attempts: u32) -> Policy {
        self.max_attempts = max_attempts;
        self
    }

    /// This policy with delays from `initial` growing to at most `max`.
    #[must_use]
    pub const fn with_delays(mut self, initial: Duration, max: Duration) -> Policy {
        self.initial_delay = initial;
        self.max_delay = max;
        self
    }

    /// This policy giving up once `deadline` has passed since the start.
    #[must_use]
    pub const fn with_deadline(mut self, deadline: Duration) -> Policy {
        self.deadline = Some(deadline);
        self
    }

    /// This policy without jitter: the exact exponential delays (tests, or a caller that
    /// must be predictable).
    #[must_use]
    pub const fn without_jitter(mut self) -> Policy {
        self.jitter_percent = 0;
        self
    }

    /// Starts a run of this policy; the clock of its deadline starts now.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(*self, rand::random())
    }

    /// Starts a run of this policy whose jitter comes from `seed` (reproducible tests).
    pub fn backoff_seeded(&self, seed: u64) -> Backoff {
        Backoff::new(*self, seed)
    }

    /// The delay before attempt `retry + 2` without jitter (`retry` 0 is the first retry).
    fn exponential(&self, retry: u32) -> Duration {
        let factor = self.multiplier.max(1).saturating_pow(retry.min(32));
        self.initial_delay.saturating_mul(factor).min(self.max_delay)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::api_call()
    }
}

/// One run of a [`Policy`]: yields the delay before each further attempt, then `None` once
/// the attempts or the deadline are used up.
///
/// The deadline counts the larger of the wall time since the start and the sum of the delays
/// handed out, so it holds under a paused test clock too. The last delay is shortened to end
/// at the deadline, giving one final attempt there.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Policy,
    retries: u32,
    started: Instant,
    waited: Duration,
    rng: ChaCha8Rng,
}

impl Backoff {
    fn new(policy: Policy, seed: u64) -> Backoff {
        Backoff {
            policy,
            retries: 0,
            started: Instant::now(),
            waited: Duration::ZERO,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The policy this backoff runs.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The number of the attempt about to be made (1 before any delay was handed out):
    /// for logs and "gave up after N attempts" errors.
    pub fn attempt(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// Time used since the start or the last [`Backoff::reset`] (the larger of wall time and
    /// the delays handed out).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed().max(self.waited)
    }

    /// Starts over: attempts, delays and the deadline count from now again (after progress,
    /// or after a healthy period as kube-rs's watcher does).
    pub fn reset(&mut self) {
        self.retries = 0;
        self.started = Instant::now();
        self.waited = Duration::ZERO;
    }

    /// The next delay, at least `server_delay` (from `Retry-After` or `RateLimit-Reset`).
    ///
    /// Counts as an attempt like [`Iterator::next`]. Returns `None` when no attempt is left,
    /// or when the server's delay would end after the deadline (retrying earlier than the
    /// server allows would only be refused again).
    pub fn next_after(&mut self, server_delay: Duration) -> Option<Duration> {
        let computed = self.computed()?;
        if server_delay > computed
            && let Some(deadline) = self.policy.deadline
            && self.elapsed().saturating_add(server_delay) > deadline
        {
            return None;
        }
        Some(self.hand_out(computed.max(server_delay)))
    }

    /// The jittered delay for the next attempt, already cut to the deadline, or `None`.
    fn computed(&mut self) -> Option<Duration> {
        if self.attempt() >= self.policy.max_attempts {
            return None;
        }
        let full = self.policy.exponential(self.retries);
        let jitter = u32::from(self.policy.jitter_percent.min(100));
        let delay = if jitter == 0 || full.is_zero() {
            full
        } else {
            let taken_off = self.rng.random_range(0..=jitter);
            full.mul_f64(f64::from(100 - taken_off) / 100.0)
        };
        match self.policy.deadline {
            None => Some(delay),
            Some(deadline) => {
                let remaining = deadline.checked_sub(self.elapsed()).filter(|left| !left.is_zero())?;
                Some(delay.min(remaining))
            }
        }
    }

    fn hand_out(&mut self, delay: Duration) -> Duration {
        self.retries = self.retries.saturating_add(1);
        self.waited = self.waited.saturating_add(delay);
        delay
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.computed()?;
        Some(self.hand_out(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn api_call_without_jitter_doubles_and_stops_after_four_attempts() {
        let delays: Vec<_> = Policy::api_call().without_jitter().backoff().collect();
        assert_eq!(delays, [ms(250), ms(500), ms(1000)]);
    }

    #[test]
    fn none_yields_nothing() {
        assert_eq!(Policy::none().backoff().count(), 0);
        assert_eq!(Policy::none().backoff().next_after(ms(10)), None);
    }

    #[test]
    fn delays_are_capped_by_max_delay() {
        let policy = Policy::download().without_jitter().with_max_attempts(40);
        let delays: Vec<_> = policy.backoff().collect();
        assert_eq!(delays.len(), 39);
        assert_eq!(&delays[..6], [1, 2, 4, 8, 16, 30].map(Duration::from_secs));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(30)));
        assert_eq!(delays[38], Duration::from_secs(30));
    }

    #[test]
    fn jitter_only_shortens_within_its_share_and_varies() {
        let policy = Policy::api_call()
            .with_max_attempts(200)
            .with_delays(ms(1000), ms(1000));
        let delays: Vec<_> = policy.backoff_seeded(7).collect();
        assert_eq!(delays.len(), 199);
        assert!(delays.iter().all(|d| *d >= ms(800) && *d <= ms(1000)), "{delays:?}");
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "jitter should vary: {distinct:?}");
        // The same seed gives the same delays.
        assert_eq!(delays, policy.backoff_seeded(7).collect::<Vec<_>>());
    }

    #[test]
    fn deadline_ends_the_run_with_a_final_shortened_delay() {
        let policy = Policy::node_boot()
            .without_jitter()
            .with_delays(ms(400), ms(400))
            .with_deadline(ms(1000));
        let delays: Vec<_> = policy.backoff().collect();
        assert_eq!(delays, [ms(400), ms(400), ms(200)]);
    }

    #[test]
    fn reset_starts_the_count_again() {
        let mut backoff = Policy::api_call().without_jitter().backoff();
        assert_eq!(
            backoff.by_ref().take(3).collect::<Vec<_>>(),
            [ms(250), ms(500), ms(1000)]
        );
        assert_eq!(backoff.attempt(), 4);
        assert_eq!(backoff.next(), None);
        backoff.reset();
        assert_eq!(backoff.attempt(), 1);
        assert!(backoff.elapsed() < ms(250));
        assert_eq!(backoff.next(), Some(ms(250)));
    }

    #[test]
    fn server_delay_is_honoured_and_counts_as_an_attempt() {
        let mut backoff = Policy::api_call().without_jitter().backoff();
        assert_eq!(backoff.next_after(Duration::from_secs(3)), Some(Duration::from_secs(3)));
        // A shorter server delay does not shorten the backoff's own.
        assert_eq!(backoff.next_after(ms(1)), Some(ms(500)));
        assert_eq!(backoff.next(), Some(ms(1000)));
        assert_eq!(backoff.next_after(ms(1)), None);
    }

    #[test]
    fn server_delay_past_the_deadline_gives_up() {
        let policy = Policy::action_poll()
            .without_jitter()
            .with_deadline(Duration::from_secs(10));
        let mut backoff = policy.backoff();
        assert_eq!(backoff.next_after(Duration::from_secs(4)), Some(Duration::from_secs(4)));
        assert_eq!(backoff.next_after(Duration::from_secs(7)), None);
        assert_eq!(backoff.next_after(Duration::from_secs(6)), Some(Duration::from_secs(6)));
        assert_eq!(backoff.next(), None);
    }

    #[test]
    fn named_policies_are_distinct_and_bounded() {
        for policy in [
            Policy::api_call(),
            Policy::action_poll(),
            Policy::node_boot(),
            Policy::action_progress(),
            Policy::talos_wait(),
            Policy::download(),
        ] {
            assert!(policy.max_attempts > 1, "{}", policy.name);
            assert!(policy.initial_delay <= policy.max_delay, "{}", policy.name);
            assert!(
                policy.max_attempts < u32::MAX || policy.deadline.is_some(),
                "{} must end",
                policy.name
            );
            // Every run ends.
            assert!(policy.backoff_seeded(1).count() < 100_000, "{}", policy.name);
        }
    }
}
