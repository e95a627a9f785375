//! `sim`: the Hetzner Cloud API emulator, or with `node` one emulated Talos node.

use super::{CliError, sim_node, sim_serve};
use crate::cli::{SimArgs, SimCommand};
use crate::printer::Printer;

/// Runs `sim` or `sim node`.
pub async fn run(args: SimArgs, printer: &Printer) -> Result<(), CliError> {
    match args.command {
        Some(SimCommand::Node(node)) => sim_node::run(node, printer).await,
        None => sim_serve::run(args.serve, printer).await,
    }
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM, registered up front.
pub(super) struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub(super) fn register() -> Result<Self, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let fail = |e: std::io::Error| CliError::failed(format!("cannot install signal handlers: {e}"));
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt()).map_err(fail)?,
                terminate: signal(SignalKind::terminate()).map_err(fail)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// Waits for the first stop signal.
    pub(super) async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
