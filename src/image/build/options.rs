//! How a build waits, reports and reacts to signals; the defaults suit the real cloud,
//! tests shorten them for the emulator's fast clock.

use std::sync::Arc;
use std::time::Duration;

use crate::retry::Policy;

use super::cleanup::cleanup_policy;
use super::progress::{BuildProgress, NoProgress};
use super::sweep::DEFAULT_GRACE;
use crate::interrupt::Interrupt;

/// Knobs of a build that are not part of what is built.
#[derive(Clone)]
pub struct BuildOptions {
    /// Where progress goes.
    pub progress: Arc<dyn BuildProgress>,
    /// Stops the build (first signal: clean up; second: give up cleaning up).
    pub interrupt: Interrupt,
    /// How long the rescue system may take to accept SSH after power-on.
    pub ssh_deadline: Duration,
    /// Polling of server and image states (powered off, snapshot available).
    pub status_poll: Policy,
    /// Retries of deleting a builder (a snapshot holds its lock for minutes).
    pub cleanup: Policy,
    /// Retries of the local download (`--via local`).
    pub download_retry: Policy,
    /// Leftovers of other runs younger than this are not swept.
    pub sweep_grace: Duration,
}

impl Default for BuildOptions {
    /// No progress, no interrupt, 10 min for SSH, 30 min for states and cleanup, 3 h grace.
    fn default() -> Self {
        BuildOptions {
            progress: Arc::new(NoProgress),
            interrupt: Interrupt::new(),
            ssh_deadline: Duration::from_secs(10 * 60),
            status_poll: Policy::action_poll().with_deadline(Duration::from_secs(30 * 60)),
            cleanup: cleanup_policy(),
            download_retry: Policy::download(),
            sweep_grace: DEFAULT_GRACE,
        }
    }
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("ssh_deadline", &self.ssh_deadline)
            .field("status_poll", &self.status_poll)
            .field("cleanup", &self.cleanup)
            .field("sweep_grace", &self.sweep_grace)
            .finish_non_exhaustive()
    }
}
