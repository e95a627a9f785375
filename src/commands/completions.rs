//! `completions` and `man`: generated from the same clap definitions as `--help`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use serde_json::json;

use super::CliError;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::printer::{Printer, Report};

/// Prints the completion script for a shell.
pub fn completions(args: &CompletionsArgs, printer: &Printer) -> Result<(), CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "talos-hcloud", &mut script);
    printer.raw(&script);
    Ok(())
}

/// Prints the main man page, or with `--all DIR` writes every command's page there.
pub fn man(args: &ManArgs, printer: &Printer) -> Result<(), CliError> {
    if let Some(dir) = &args.all {
        let written = write_all_pages(dir)?;
        let mut text = format!("wrote {} man pages to {}:\n", written.len(), dir.display());
        for path in &written {
            text.push_str(&format!("  {}\n", path.display()));
        }
        printer.result(&Report::new(text, json!({ "directory": dir, "pages": written })));
        return Ok(());
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| CliError::failed(format!("rendering the man page: {e}")))?;
    printer.raw(&page);
    Ok(())
}

/// Writes the page of every visible command into `dir`, subcommands first (as
/// `clap_mangen::generate_to` does), and returns the paths in that order.
fn write_all_pages(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    fn write(command: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()).cloned() {
            write(sub, dir, written)?;
        }
        written.push(clap_mangen::Man::new(command).generate_to(dir)?);
        Ok(())
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", dir.display())).context("writing man pages"))?;
    // Built so every subcommand knows its full name (`talos-hcloud secrets gen`).
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    write(command, dir, &mut written)
        .map_err(|e| CliError::failed(format!("cannot write a man page into {}: {e}", dir.display())))?;
    Ok(written)
}
