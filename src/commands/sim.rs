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
