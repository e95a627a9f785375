//! `sim`: serve the Hetzner Cloud API emulator until Ctrl-C.

use super::CliError;
use crate::cli::SimServeArgs;
use crate::printer::Printer;

/// Serves the emulator.
pub async fn run(_args: SimServeArgs, _printer: &Printer) -> Result<(), CliError> {
    Err(CliError::failed("the Hetzner Cloud emulator is being built (issue 3)"))
}
