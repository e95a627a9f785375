//! `image …`: the Talos snapshots servers are created from.

mod build;

use super::CliError;
use crate::cli::{GlobalArgs, ImageCommand};
use crate::printer::Printer;

/// Runs an `image` subcommand.
pub async fn run(command: ImageCommand, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    match command {
        ImageCommand::Build(args) => build::run(args, global, printer).await,
    }
}
