//! Simulated time: the emulator's one clock. It runs `scale` times faster than real time,
//! or stands still until a test advances it (step mode).
//!
//! Every timestamp the emulator shows, every action deadline, every machine and Talos boot,
//! reboot and timer is read from this clock, so a test in step mode sees exactly the state
//! it stepped to, and `--time-scale` speeds up the whole cloud at once. Waiting on it goes
//! through [`SimClock::sleep`], which wakes both when real time has run far enough and
//! when a test advances or rescales the clock.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

/// Milliseconds of simulated time since the emulator started.
pub type SimMillis = u64;

/// The simulated clock shared by the state model, the machines, the emulated Talos nodes
/// and the test controls (held in an `Arc`).
#[derive(Debug)]
pub struct SimClock {
    /// Real wall-clock time at simulated 0, so rendered timestamps look current.
    epoch: SystemTime,
    inner: Mutex<ClockState>,
    /// Bumped on every [`SimClock::advance`] and [`SimClock::set_scale`], so sleepers
    /// recompute their real-time wait.
    changes: watch::Sender<u64>,
}

#[derive(Debug)]
struct ClockState {
    /// Simulated time at `anchor`.
    base: f64,
    /// When `base` was taken (real time).
    anchor: Instant,
    /// Simulated seconds per real second; 0 = step mode.
    scale: f64,
}

/// Whether the clock runs by itself or only when stepped.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// Time runs at `scale` × real time.
    Auto,
    /// Time moves only through [`SimClock::advance`].
    Step,
}

impl SimClock {
    /// A clock at simulated 0 running at `scale` (0 or less = step mode).
    pub fn new(scale: f64) -> Self {
        SimClock {
            epoch: SystemTime::now(),
            inner: Mutex::new(ClockState {
                base: 0.0,
                anchor: Instant::now(),
                scale: scale.max(0.0),
            }),
            changes: watch::Sender::new(0),
        }
    }

    /// A clock that runs at real speed (scale 1), for an emulated node started on its own
    /// (`sim node`).
    pub fn real_time() -> Self {
        SimClock::new(1.0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        crate::lock::lock(&self.inner)
    }

    /// The current simulated time.
    pub fn now(&self) -> SimMillis {
        let state = self.lock();
        current(&state) as SimMillis
    }

    /// Moves simulated time forward by `by` (in either mode).
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        let now = current(&state);
        state.base = now + by.as_secs_f64() * 1000.0;
        state.anchor = Instant::now();
        drop(state);
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Switches to step mode (0) or to auto mode at `scale` simulated seconds per second.
    pub fn set_scale(&self, scale: f64) {
        let mut state = self.lock();
        let now = current(&state);
        state.base = now;
        state.anchor = Instant::now();
        state.scale = scale.max(0.0);
        drop(state);
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// The current scale (0 in step mode).
    pub fn scale(&self) -> f64 {
        self.lock().scale
    }

    /// The current mode.
    pub fn mode(&self) -> ClockMode {
        if self.scale() > 0.0 {
            ClockMode::Auto
        } else {
            ClockMode::Step
        }
    }

    /// The wall-clock instant shown for a simulated time.
    pub fn wall(&self, at: SimMillis) -> SystemTime {
        self.epoch + Duration::from_millis(at)
    }

    /// The simulated instant `after` from now (saturating).
    pub fn deadline(&self, after: Duration) -> SimMillis {
        self.now()
            .saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX))
    }

    /// Waits until `simulated` time has passed on this clock: `simulated / scale` of real
    /// time in auto mode, or until tests have advanced it that far in step mode. A change
    /// of scale or a step while waiting is taken into account at once.
    pub async fn sleep(&self, simulated: Duration) {
        self.sleep_until(self.deadline(simulated)).await;
    }

    /// Waits until the clock reads `deadline` or later (see [`SimClock::sleep`]).
    pub async fn sleep_until(&self, deadline: SimMillis) {
        // Subscribed before reading the time: a step between the read and the wait still
        // wakes this sleeper.
        let mut changes = self.changes.subscribe();
        loop {
            let (now, scale) = {
                let state = self.lock();
                (current(&state), state.scale)
            };
            let remaining_ms = deadline as f64 - now;
            if remaining_ms <= 0.0 {
                return;
            }
            if scale > 0.0 {
                // Capped so a huge wait cannot overflow a Duration; the loop re-checks.
                let real = Duration::from_secs_f64((remaining_ms / 1000.0 / scale).min(86_400.0));
                tokio::select! {
                    () = tokio::time::sleep(real) => {}
                    _ = changes.changed() => {}
                }
            } else if changes.changed().await.is_err() {
                // The sender lives as long as `self`; unreachable while borrowed.
                return;
            }
        }
    }
}

fn current(state: &ClockState) -> f64 {
    state.base + state.anchor.elapsed().as_secs_f64() * 1000.0 * state.scale
}

/// RFC 3339 with an explicit `+00:00` offset, as the real API writes timestamps.
///
/// Simulated time can run past the calendar (a huge `--time-scale` or step); such instants
/// read as the last second of year 9999 instead of overflowing.
pub fn rfc3339(at: SystemTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    let last = time::macros::datetime!(9999-12-31 23:59:59 UTC);
    let since_epoch = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let at = i64::try_from(since_epoch.as_secs())
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .map_or(last, |at| at.min(last));
    at.format(format)
        .expect("invariant: a fixed format description always formats a UTC time")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step-mode clock and a task sleeping `simulated` on it.
    fn step_mode_sleeper(simulated: Duration) -> (std::sync::Arc<SimClock>, tokio::task::JoinHandle<()>) {
        let clock = std::sync::Arc::new(SimClock::new(0.0));
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(simulated).await }
        });
        (clock, sleeper)
    }

    #[test]
    fn step_mode_stands_still_until_advanced() {
        let clock = SimClock::new(0.0);
        assert_eq!(clock.mode(), ClockMode::Step);
        let before = clock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), before);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), before + 90_000);
    }

    #[test]
    fn auto_mode_runs_scaled_and_keeps_time_when_switched() {
        let clock = SimClock::new(1000.0);
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.now() >= 5000, "{}", clock.now());
        clock.set_scale(0.0);
        let frozen = clock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), frozen);
    }

    #[tokio::test]
    async fn a_sleep_in_step_mode_wakes_only_when_advanced_far_enough() {
        let (clock, sleeper) = step_mode_sleeper(Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(29));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished(), "29 of 30 simulated seconds");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(2), sleeper)
            .await
            .expect("woken by the step")
            .expect("sleeper task");
    }

    #[tokio::test]
    async fn a_sleep_in_auto_mode_takes_scaled_real_time() {
        let clock = SimClock::new(1000.0);
        let started = Instant::now();
        clock.sleep(Duration::from_secs(60)).await;
        let real = started.elapsed();
        assert!(real >= Duration::from_millis(59), "{real:?}");
        assert!(real < Duration::from_secs(2), "{real:?}");
        assert!(clock.now() >= 60_000);
    }

    #[tokio::test]
    async fn a_sleep_follows_a_change_of_scale() {
        let (clock, sleeper) = step_mode_sleeper(Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(10)).await;
        clock.set_scale(1_000_000.0);
        tokio::time::timeout(Duration::from_secs(2), sleeper)
            .await
            .expect("an hour at 10^6 x is 3.6 ms")
            .expect("sleeper task");
    }

    #[test]
    fn timestamps_have_the_api_shape() {
        let text = rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(1_454_198_100));
        assert_eq!(text, "2016-01-30T23:55:00+00:00");
    }

    #[test]
    fn timestamps_past_the_calendar_are_clamped() {
        let far = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::MAX);
        assert_eq!(rfc3339(far), "9999-12-31T23:59:59+00:00");
    }
}
