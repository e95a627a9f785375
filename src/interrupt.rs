//! Ctrl-C and SIGTERM as a value the long-running operations watch: `image build` cleans up
//! its temporaries, the node replacement runbook stops between steps, `apply` stops at
//! once except while it runs the runbook.
//!
//! The first signal asks politely; the second one means "now". Code that must reach a safe
//! point before stopping (a runbook step) takes a [`Hold`]: while one is held, the first
//! signal is left to it and only a second one stops the caller at once.

use std::sync::Arc;

use tokio::sync::watch;

/// Signals counted so far and the holds taken.
#[derive(Debug, Default, Clone, Copy)]
struct State {
    fired: u32,
    holds: u32,
}

/// Counts SIGINT/SIGTERM (or [`Interrupt::trigger`] calls). Clones share the count.
#[derive(Debug, Clone)]
pub struct Interrupt(Arc<watch::Sender<State>>);

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt::new()
    }
}

impl Interrupt {
    /// An interrupt that fires only when triggered.
    pub fn new() -> Interrupt {
        Interrupt(Arc::new(watch::Sender::new(State::default())))
    }

    /// An interrupt fired by every SIGINT and SIGTERM the process receives from now on
    /// (replacing their default "exit at once").
    ///
    /// # Errors
    /// When the signal handlers cannot be installed. Must be called within a Tokio runtime.
    pub fn from_signals() -> std::io::Result<Interrupt> {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = Interrupt::new();
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let sender = interrupt.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = int.recv() => sender.trigger(),
                    Some(()) = term.recv() => sender.trigger(),
                    else => break,
                }
            }
        });
        Ok(interrupt)
    }

    /// Fires the interrupt once more.
    pub fn trigger(&self) {
        self.0.send_modify(|state| state.fired += 1);
    }

    /// How many times it fired.
    pub fn count(&self) -> u32 {
        self.0.borrow().fired
    }

    /// Waits until it has fired at least `times` times.
    pub async fn fired(&self, times: u32) {
        let mut receiver = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = receiver.wait_for(|state| state.fired >= times).await;
    }

    /// Leaves the first signal to the holder (who stops at its next safe point) until the
    /// returned guard is dropped; see [`Interrupt::stop_now`].
    pub fn hold(&self) -> Hold {
        self.0.send_modify(|state| state.holds += 1);
        Hold(self.clone())
    }

    /// Waits until the caller should stop at once: a signal arrived while nothing holds
    /// the interrupt, or a second signal arrived.
    pub async fn stop_now(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver
            .wait_for(|state| state.fired >= 2 || (state.fired >= 1 && state.holds == 0))
            .await;
    }
}

/// A hold on an [`Interrupt`] (see [`Interrupt::hold`]), released when dropped.
#[derive(Debug)]
pub struct Hold(Interrupt);

impl Drop for Hold {
    fn drop(&mut self) {
        self.0
            .0
            .send_modify(|state| state.holds = state.holds.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Whether `stop_now` resolves within a short wait.
    async fn stops(interrupt: &Interrupt) -> bool {
        tokio::time::timeout(Duration::from_millis(50), interrupt.stop_now())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_hold_defers_the_first_signal_but_not_the_second() {
        let interrupt = Interrupt::new();
        assert!(!stops(&interrupt).await, "nothing fired");

        let hold = interrupt.hold();
        interrupt.trigger();
        assert_eq!(interrupt.count(), 1);
        assert!(!stops(&interrupt).await, "the first signal is the holder's");
        drop(hold);
        assert!(stops(&interrupt).await, "released: the pending signal stops the caller");

        let interrupt = Interrupt::new();
        let _hold = interrupt.hold();
        interrupt.trigger();
        interrupt.trigger();
        assert!(stops(&interrupt).await, "a second signal stops at once, held or not");
    }

    #[tokio::test]
    async fn without_a_hold_the_first_signal_stops() {
        let interrupt = Interrupt::new();
        let waiter = tokio::spawn({
            let interrupt = interrupt.clone();
            async move { interrupt.stop_now().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        interrupt.trigger();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("stop_now resolves")
            .expect("the waiter ends");
    }
}
