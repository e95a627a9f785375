//! `talos`: talosctl-compatible tools, dispatched to one file per command.

use super::{CliError, talos_gen_config, talos_version};
use crate::cli::{TalosArgs, TalosCommand, TalosGenCommand};
use crate::printer::Printer;

/// Runs a `talos` subcommand.
pub async fn run(args: TalosArgs, printer: &Printer) -> Result<(), CliError> {
    match args.command {
        TalosCommand::Gen(generate) => match generate.command {
            TalosGenCommand::Config(config) => talos_gen_config::run(*config, printer),
        },
        TalosCommand::Version(version) => talos_version::run(&version, printer).await,
    }
}
