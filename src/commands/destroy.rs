//! `destroy`: list what is labelled with the cluster, confirm, delete it all in reverse
//! dependency order (`cluster::destroy`), say what was kept.

use std::fmt::Write as _;

use serde_json::json;
use talos_hcloud::cluster::destroy::{self, Inventory, Kind, Options};
use talos_hcloud::spec;

use super::CliError;
use crate::cli::{DestroyArgs, GlobalArgs};
use crate::printer::{Printer, Report};

/// Runs `destroy`.
pub async fn run(args: &DestroyArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    let client = super::hcloud::client(global)?;
    let cluster = spec.name.as_str();
    let kept = kept(&spec);
    let inventory = destroy::inventory(&client, cluster).await?;
    if inventory.is_empty() {
        let text = format!(
            "nothing is labelled talos-hcloud/cluster={cluster}; nothing to delete\n{}",
            kept.join("\n")
        );
        let document = json!({"ok": true, "cluster": cluster, "deleted": [], "unprotected": [], "kept": kept});
        printer.result(&Report::new(text, document));
        return Ok(());
    }
    let options = Options {
        disable_protection: args.disable_protection,
        ..Options::default()
    };
    destroy::check_protection(&inventory, options)?;
    if !args.yes {
        confirm(&inventory, printer)?;
    }
    let outcome = destroy::destroy(&client, &inventory, options).await?;
    let mut text = format!("destroyed cluster {cluster}:\n{}", listing(&inventory));
    for resource in &outcome.unprotected {
        let _ = writeln!(
            text,
            "(delete protection of {} was turned off first)",
            resource.describe()
        );
    }
    text.push_str(&kept.join("\n"));
    let document = json!({
        "ok": true,
        "cluster": cluster,
        "deleted": outcome.deleted,
        "unprotected": outcome.unprotected,
        "kept": kept,
        "api_requests": client.request_count(),
    });
    printer.result(&Report::new(text, document));
    Ok(())
}

/// What destroy never deletes, said in so many words.
fn kept(spec: &spec::Spec) -> Vec<String> {
    vec![
        "kept: Talos snapshots (shared by clusters; see `image list` / `image prune`)".to_string(),
        format!(
            "kept: the secrets bundle {} (the cluster's CAs; delete it yourself if the cluster is gone for good)",
            spec.secrets_path().display()
        ),
    ]
}

/// The resources grouped by kind: `servers (3): tc-prod-cp-1 (#12), …`.
fn listing(inventory: &Inventory) -> String {
    let mut text = String::new();
    for kind in Kind::ALL {
        let items: Vec<String> = inventory
            .of(kind)
            .map(|r| {
                let protected = if r.protected { ", protected" } else { "" };
                format!("{} (#{}{protected})", r.name, r.id)
            })
            .collect();
        if !items.is_empty() {
            let _ = writeln!(text, "  {} ({}): {}", kind.plural(), items.len(), items.join(", "));
        }
    }
    text
}

/// Shows what goes and asks for the cluster name on the terminal.
///
/// # Errors
/// Exit 2 without a terminal (scripts pass `--yes`) or when the answer is not the name.
fn confirm(inventory: &Inventory, printer: &Printer) -> Result<(), CliError> {
    let cluster = &inventory.cluster;
    let count = inventory.resources.len();
    let intro = format!(
        "destroy deletes these {count} resources of cluster {cluster}:\n{}",
        listing(inventory)
    );
    match super::ask_to_type(
        &intro,
        &format!("type the cluster name ({cluster}) to confirm: "),
        cluster,
    )? {
        Some(true) => Ok(()),
        Some(false) => Err(CliError::invalid(format!(
            "the answer was not {cluster}; nothing was deleted"
        ))),
        None => {
            printer.status(format!("destroy would delete:\n{}", listing(inventory)));
            Err(CliError::invalid(format!(
                "destroy would delete {count} resources of cluster {cluster} and needs confirmation, but there is \
                 no terminal to ask on; nothing was deleted"
            ))
            .hint("pass --yes to destroy without asking (scripts, CI)"))
        }
    }
}
