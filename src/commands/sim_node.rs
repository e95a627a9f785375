//! `sim node`: serve one emulated Talos node until Ctrl-C.

use super::CliError;
use crate::cli::SimNodeArgs;
use crate::printer::Printer;

/// Serves one emulated Talos node.
pub async fn run(_args: SimNodeArgs, _printer: &Printer) -> Result<(), CliError> {
    Err(CliError::failed("the emulated Talos node is being built (issue 5)"))
}
