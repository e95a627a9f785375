//! `completions` and `man`: generated from the same clap definitions as `--help`.

use clap::CommandFactory;

use super::CliError;
use crate::cli::{Cli, CompletionsArgs};
use crate::printer::Printer;

/// Prints the completion script for a shell.
pub fn completions(args: &CompletionsArgs, printer: &Printer) -> Result<(), CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "talos-hcloud", &mut script);
    printer.raw(&script);
    Ok(())
}

/// Prints the man page.
pub fn man(printer: &Printer) -> Result<(), CliError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| CliError::failed(format!("rendering the man page: {e}")))?;
    printer.raw(&page);
    Ok(())
}
