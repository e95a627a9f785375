//! `talos version`: each node's Talos version over the Talos API with mutual TLS, read with
//! a talosconfig (as `talosctl version --nodes …`, server side only).

use serde_json::json;
use talos_hcloud::talos::api::{CallOptions, NodeVersion, TalosClient, TalosconfigTarget};
use talos_hcloud::talos::talosconfig::Talosconfig;

use super::CliError;
use crate::cli::TalosVersionArgs;
use crate::printer::{Printer, Report};

/// Runs `talos version`.
pub async fn run(args: &TalosVersionArgs, printer: &Printer) -> Result<(), CliError> {
    let talosconfig = Talosconfig::load(&args.talosconfig)?;
    let target = TalosconfigTarget::from_talosconfig(&talosconfig, args.context.as_deref())?;
    let clients = target.clients(CallOptions::default())?;
    let Some(first) = clients.first() else {
        return Err(CliError::invalid(format!(
            "talosconfig context `{}` has no endpoints",
            target.context
        )));
    };
    let nodes = if args.nodes.is_empty() {
        vec![first.target()]
    } else {
        args.nodes.clone()
    };
    let mut answers = Vec::new();
    for node in nodes {
        answers.push((node, version_of(&clients, node).await?));
    }

    let mut text = String::new();
    for (node, version) in &answers {
        text.push_str(&format!(
            "{node}: Talos {} ({}, {}, platform {} in {} mode)\n",
            version.tag, version.sha, version.arch, version.platform, version.platform_mode
        ));
    }
    let document = json!({
        "context": target.context,
        "nodes": answers
            .iter()
            .map(|(node, version)| json!({
                "node": node.to_string(),
                "tag": version.tag,
                "sha": version.sha,
                "arch": version.arch,
                "platform": version.platform,
                "platform_mode": version.platform_mode,
                "rbac": version.rbac,
            }))
            .collect::<Vec<_>>(),
    });
    printer.result(&Report::new(text, document));
    Ok(())
}

/// Asks `node` through each endpoint in turn (talosctl's fail-over); the last failure if
/// none answers.
async fn version_of(clients: &[TalosClient], node: std::net::IpAddr) -> Result<NodeVersion, CliError> {
    let mut last = None;
    for client in clients {
        let client = if client.target() == node {
            client.clone()
        } else {
            client.with_node(node)
        };
        match client.version().await {
            Ok(version) => return Ok(version),
            Err(error) => last = Some(error),
        }
    }
    match last {
        Some(error) => Err(error.into()),
        None => Err(CliError::invalid("the talosconfig context has no endpoints")),
    }
}
