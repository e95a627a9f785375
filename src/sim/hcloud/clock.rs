//! Simulated time: a clock that runs `scale` times faster than real time, or stands still
//! until a test advances it (step mode).
//!
//! Every timestamp the emulator shows and every action deadline is read from this clock,
//! so a test in step mode sees exactly the state it stepped to.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Milliseconds of simulated time since the emulator started.
pub type SimMillis = u64;

/// The simulated clock shared by the state model and the test controls.
#[derive(Debug)]
pub struct SimClock {
    /// Real wall-clock time at simulated 0, so rendered timestamps look current.
    epoch: SystemTime,
    inner: Mutex<ClockState>,
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
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
    }

    /// Switches to step mode (0) or to auto mode at `scale` simulated seconds per second.
    pub fn set_scale(&self, scale: f64) {
        let mut state = self.lock();
        let now = current(&state);
        state.base = now;
        state.anchor = Instant::now();
        state.scale = scale.max(0.0);
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
