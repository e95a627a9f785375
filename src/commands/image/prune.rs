//! `image prune`: delete old snapshots, keep the N newest per (schematic, arch) and every
//! one in use, protected or being created, and say why each stays.

use serde_json::json;
use talos_hcloud::image::{list, prune};

use super::{SNAPSHOT_HEADERS, keep, snapshot_cells, table};
use crate::cli::{GlobalArgs, ImagePruneArgs};
use crate::commands::CliError;
use crate::printer::{Printer, Report};

/// Prunes and prints every snapshot with what happened to it; exit 1 if a deletion failed.
pub async fn run(args: ImagePruneArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let keep = keep(args.keep)?;
    let client = super::super::hcloud::client(global)?;
    let snapshots = list::list(&client).await?;
    let report = prune::prune(&client, snapshots, keep, args.dry_run).await;
    printer.result(&Report::new(
        render(&report),
        json!({"prune": report, "api_requests": client.request_count()}),
    ));
    match report.failed.len() {
        0 => Ok(()),
        n => Err(CliError::failed(format!("{n} snapshot(s) could not be deleted"))),
    }
}

/// One row per snapshot: what happened and why.
fn render(report: &prune::PruneReport) -> String {
    let deleted = if report.dry_run { "would delete" } else { "deleted" };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for decision in &report.kept {
        let reasons: Vec<String> = decision.keep.iter().map(ToString::to_string).collect();
        rows.push(row("kept", &decision.snapshot, reasons.join("; ")));
    }
    for snapshot in &report.deleted {
        rows.push(row(deleted, snapshot, String::new()));
    }
    for failed in &report.failed {
        rows.push(row("failed", &failed.snapshot, failed.error.clone()));
    }
    let headers: Vec<&str> = ["ACTION"].into_iter().chain(SNAPSHOT_HEADERS).chain(["WHY"]).collect();
    let summary = format!(
        "{} {deleted}, {} kept, {} failed (keeping {} per schematic and arch)",
        report.deleted.len(),
        report.kept.len(),
        report.failed.len(),
        report.keep
    );
    if rows.is_empty() {
        return "no talos-hcloud snapshots".to_string();
    }
    format!("{}\n{summary}", table(&headers, &rows))
}

fn row(action: &str, snapshot: &list::Snapshot, why: String) -> Vec<String> {
    let mut cells = vec![action.to_string()];
    cells.extend(snapshot_cells(snapshot));
    cells.push(why);
    cells
}
