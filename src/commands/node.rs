//! `node replace`: read the cluster, show the plan and its checks, confirm, run the runbook
//! (`node::replace`) printing each step as it happens, then the result as text or JSON.

use std::fmt::Write as _;

use talos_hcloud::cluster::nodes::Waits;
use talos_hcloud::node::replace::{self, Entry, Inputs, Options, Replaced};
use talos_hcloud::node::{KubeOptions, eviction_policy};
use talos_hcloud::spec;
use talos_hcloud::talos::api::CallOptions;

use super::CliError;
use crate::cli::{GlobalArgs, NodeCommand, NodeReplaceArgs};
use crate::printer::{Printer, Report};

/// Runs a `node` subcommand.
pub async fn run(command: NodeCommand, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    match command {
        NodeCommand::Replace(args) => replace_node(&args, global, printer).await,
    }
}

async fn replace_node(args: &NodeReplaceArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    let client = super::hcloud::client(global)?;
    let snapshot_dir = spec.local_dir();
    let inputs = Inputs {
        hcloud_token: global.hcloud_token.clone(),
        secrets: args.secrets.clone(),
        call: CallOptions::default(),
        waits: Waits::default(),
    };
    let ctx = replace::read(client, spec, &args.name, &inputs).await?;
    let interrupt = crate::commands::signals()?;
    let mut options = Options {
        dead: args.dead,
        force_quorum_loss: args.force_quorum_loss,
        image: args.image,
        dry_run: true,
        drain: eviction_policy(args.drain_timeout),
        kube: KubeOptions::default(),
        snapshot_dir,
        interrupt,
    };
    let mut seen = Vec::new();
    let mut report = |entry: &Entry| {
        printer.status(entry.to_string());
        seen.push(entry.clone());
    };
    let planned = replace::replace(&ctx, &options, &mut report)
        .await
        .map_err(|error| with_evidence(error, &seen))?;
    if args.dry_run {
        printer.result(&result(&planned));
        return Ok(());
    }
    if !args.yes {
        confirm(&planned, printer)?;
    }
    options.dry_run = false;
    seen.clear();
    let mut report = |entry: &Entry| {
        printer.status(entry.to_string());
        seen.push(entry.clone());
    };
    let replaced = replace::replace(&ctx, &options, &mut report)
        .await
        .map_err(|error| with_evidence(error, &seen))?;
    printer.result(&result(&replaced));
    Ok(())
}

/// The failure with the evidence recorded up to it (JSON `details.evidence`).
fn with_evidence(error: replace::ReplaceError, seen: &[Entry]) -> CliError {
    let evidence = serde_json::to_value(seen).unwrap_or(serde_json::Value::Null);
    CliError::from(error).with_details(serde_json::json!({ "evidence": evidence }))
}

/// The plan as lines: `[done] drain: touches …`.
fn plan_text(replaced: &Replaced) -> String {
    let mut text = String::new();
    for planned in &replaced.plan {
        let mark = if planned.done { "done" } else { "todo" };
        let _ = writeln!(
            text,
            "  [{mark}] {:<14} touches: {}\n         {:<14} checks:  {}",
            planned.step.as_str(),
            planned.touches,
            "",
            planned.checks
        );
    }
    text
}

fn result(replaced: &Replaced) -> Report {
    let mut text = if replaced.dry_run {
        format!(
            "plan to replace {} (server {}), nothing was changed:\n",
            replaced.node, replaced.server
        )
    } else {
        format!("replaced {} (server {}):\n", replaced.node, replaced.server)
    };
    text.push_str(&plan_text(replaced));
    if !replaced.dry_run {
        text.push_str("evidence:\n");
        for entry in &replaced.evidence {
            let _ = writeln!(text, "  {entry}");
        }
    }
    let document = serde_json::to_value(replaced).unwrap_or(serde_json::Value::Null);
    Report::new(text, document)
}

/// Shows the plan and asks for the node name on the terminal.
///
/// # Errors
/// Exit 2 without a terminal (scripts pass `--yes`) or when the answer is not the name.
fn confirm(planned: &Replaced, printer: &Printer) -> Result<(), CliError> {
    let node = &planned.node;
    let intro = format!("node replace {node}:\n{}", plan_text(planned));
    match super::ask_to_type(&intro, &format!("type the node name ({node}) to replace it: "), node)? {
        Some(true) => Ok(()),
        Some(false) => Err(CliError::invalid(format!(
            "the answer was not {node}; nothing was changed"
        ))),
        None => {
            printer.status(plan_text(planned));
            Err(CliError::invalid(format!(
                "replacing {node} needs confirmation, but there is no terminal to ask on; nothing was changed"
            ))
            .hint("pass --yes to replace without asking (scripts), or --dry-run to see the plan"))
        }
    }
}
