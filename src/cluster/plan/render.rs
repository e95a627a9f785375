//! The plan as text, terraform-like: one block per change (`+` create, `~` update in
//! place, `-/+` replace with its reasons, `-` delete) with its fields, the machine configs
//! to apply, the half-made servers, a summary line, the monthly cost and the pre-flight
//! blockers.

use std::fmt::Write as _;

use super::{Action, Plan};
use crate::cluster::preflight::Blocker;
use crate::cluster::pricing::Cost;

/// The whole text of `plan`, with its cost and blockers when known.
pub fn text(plan: &Plan, cost: Option<&Cost>, blockers: &[Blocker]) -> String {
    let mut out = String::new();
    let counts = plan.counts();
    let _ = writeln!(out, "cluster {}", plan.cluster);
    if plan.has_changes() {
        out.push('\n');
    }
    for change in &plan.changes {
        let _ = write!(
            out,
            "  {} {} {}",
            change.action.sign(),
            change.kind.as_str(),
            change.name
        );
        if let Some(id) = change.id {
            let _ = write!(out, " (id {id})");
        }
        out.push('\n');
        for reason in &change.reasons {
            let _ = writeln!(out, "      # forces replacement: {reason}");
        }
        for field in &change.fields {
            let line = match (change.action, &field.from, &field.to) {
                (Action::Create, _, Some(to)) => format!("{}: {to}", field.name),
                (_, Some(from), Some(to)) => format!("{}: {from} → {to}", field.name),
                (_, None, Some(to)) => format!("+ {}: {to}", field.name),
                (_, Some(from), None) => format!("- {}: {from}", field.name),
                (_, None, None) => field.name.clone(),
            };
            let _ = writeln!(out, "      {line}");
        }
    }
    if !plan.configs.is_empty() {
        out.push_str("\nmachine configs to apply:\n");
        for config in &plan.configs {
            let hashes = match &config.from {
                Some(from) => format!("{} → {}", short(from), short(&config.to)),
                None => short(&config.to).to_string(),
            };
            let _ = writeln!(
                out,
                "  {} {}  {hashes} ({})",
                if config.from.is_some() { "~" } else { "+" },
                config.server,
                config.reason.as_str()
            );
        }
    }
    if !plan.half_made.is_empty() {
        out.push_str("\nhalf-made servers (left by an interrupted or failed apply; apply finishes them):\n");
        for half in &plan.half_made {
            let _ = writeln!(
                out,
                "  ! server {} (node {}): {}",
                half.server,
                half.node,
                half.missing.join("; ")
            );
        }
    }
    if let Some(why) = &plan.configs_unknown {
        let _ = writeln!(out, "\nmachine configs: not compared ({why})");
    }
    out.push('\n');
    if plan.has_changes() {
        let _ = writeln!(
            out,
            "Plan: {} to create, {} to update in place, {} to replace, {} to delete; {} machine config{} to apply ({} unchanged).",
            counts.create,
            counts.update,
            counts.replace,
            counts.delete,
            counts.configs,
            if counts.configs == 1 { "" } else { "s" },
            plan.unchanged,
        );
        if !plan.half_made.is_empty() {
            let _ = writeln!(
                out,
                "{} half-made server{} to finish.",
                plan.half_made.len(),
                if plan.half_made.len() == 1 { "" } else { "s" }
            );
        }
    } else {
        let _ = writeln!(out, "No changes: the {} resources match cluster.yaml.", plan.unchanged);
    }
    if let Some(cost) = cost {
        let _ = writeln!(
            out,
            "Monthly cost (gross {}): {} now, +{} added, -{} removed, {} after.",
            cost.currency, cost.existing, cost.added, cost.removed, cost.after
        );
        if !cost.unpriced.is_empty() {
            let _ = writeln!(out, "  not in the price list: {}", cost.unpriced.join(", "));
        }
    }
    if !blockers.is_empty() {
        let _ = writeln!(
            out,
            "\npre-flight: {} blocker{} before apply can start:",
            blockers.len(),
            if blockers.len() == 1 { "" } else { "s" }
        );
        for blocker in blockers {
            let _ = writeln!(out, "  ! {}", blocker.message);
            let _ = writeln!(out, "    hint: {}", blocker.hint);
        }
    }
    out
}

/// The first 12 hex digits of a config hash, enough to tell configs apart on screen.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
