//! `sim node`: serve one emulated Talos node until Ctrl-C.

use talos_hcloud::input_file;
use talos_hcloud::sim::talos::{EmulatedNode, NodeOptions};
use talos_hcloud::talos::config::validate::{check_config_file, node_validator};
use talos_hcloud::talos::contract::{Artifact, Contract};

use super::CliError;
use crate::cli::{OutputFormat, SimNodeArgs};
use crate::printer::{Printer, Report};

/// Serves one emulated Talos node until Ctrl-C (or SIGTERM), then stops it and returns
/// (exit 0).
pub async fn run(args: SimNodeArgs, printer: &Printer) -> Result<(), CliError> {
    // Register the signal handlers before anyone can see the address and send a signal.
    let stop = super::signals()?;
    // The node checks received configs with talos-hcloud's validator, which knows the rules
    // of the lines talos-hcloud generates for: refuse others now rather than every config.
    Contract::parse_for(&args.talos_version, Artifact::MachineConfig).map_err(|e| {
        CliError::from(e)
            .context(format!("cannot emulate a Talos {} node", args.talos_version))
            .hint(
                "emulated nodes check every config they receive with talos-hcloud's own validator, \
                 so they run the Talos lines talos-hcloud supports",
            )
    })?;
    let mut options = NodeOptions::new(args.address, node_validator());
    options.talos_version = args.talos_version.clone();
    if let Some(path) = &args.machine_config {
        let bytes = input_file::read(path).map_err(|e| {
            CliError::invalid(e.to_string()).context(format!("cannot read the machine config {}", path.display()))
        })?;
        check_config_file(&path.display().to_string(), &bytes, &args.talos_version)
            .map_err(|e| CliError::from(e).context("the installed machine configuration was refused"))?;
        options.installed_config = Some(bytes);
    }
    if let Some(path) = &args.user_data {
        let bytes = input_file::read(path).map_err(|e| {
            CliError::invalid(e.to_string()).context(format!("cannot read the user data {}", path.display()))
        })?;
        options.user_data = Some(bytes);
    }
    let node = EmulatedNode::start(options).await?;
    let mode = node.mode();
    let json = serde_json::json!({
        "address": node.address().to_string(),
        "talos_api": node.api_addr().to_string(),
        "kubernetes_api": node.kubernetes_addr().to_string(),
        "talos_version": node.talos_version().to_string(),
        "mode": mode.as_str(),
        "detail": mode.to_string(),
    });
    match printer.format() {
        // One line, so a supervising process can read it while the node keeps running.
        OutputFormat::Json => printer.raw(format!("{json}\n").as_bytes()),
        OutputFormat::Text => printer.result(&Report::new(
            format!(
                "emulated Talos node {version} at {address}\n  Talos API:      {api} ({mode})\n  Kubernetes API: {kube} (control planes, after bootstrap)\nCtrl-C stops it.",
                version = node.talos_version(),
                address = node.address(),
                api = node.api_addr(),
                kube = node.kubernetes_addr(),
            ),
            json,
        )),
    }

    let mut modes = node.subscribe();
    let status_printer = printer.clone();
    let address = node.address();
    let watcher = tokio::spawn(async move {
        while modes.changed().await.is_ok() {
            let mode = modes.borrow_and_update().clone();
            status_printer.status(format!("{address}: {mode}"));
        }
    });
    stop.fired(1).await;
    watcher.abort();
    node.stop().await;
    Ok(())
}
