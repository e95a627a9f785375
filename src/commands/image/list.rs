//! `image list`: talos-hcloud's snapshots, newest first, with the servers using each.

use serde_json::json;
use talos_hcloud::image::list;

use super::{SNAPSHOT_HEADERS, snapshot_cells, table};
use crate::cli::GlobalArgs;
use crate::commands::CliError;
use crate::printer::{Printer, Report};

/// Lists the snapshots: a table, or `{snapshots: [...], api_requests}` as JSON.
pub async fn run(global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let client = super::super::hcloud::client(global)?;
    let snapshots = list::list(&client).await?;
    let text = if snapshots.is_empty() {
        "no talos-hcloud snapshots".to_string()
    } else {
        let headers: Vec<&str> = SNAPSHOT_HEADERS.iter().copied().chain(["USED BY", "NOTES"]).collect();
        let rows: Vec<Vec<String>> = snapshots
            .iter()
            .map(|snapshot| {
                let mut cells = snapshot_cells(snapshot);
                cells.push(if snapshot.in_use() {
                    snapshot.used_by.join(",")
                } else {
                    "-".to_string()
                });
                let mut notes = Vec::new();
                if snapshot.protected {
                    notes.push("protected".to_string());
                }
                if snapshot.status != hcloud::models::image::Status::Available {
                    notes.push(json!(snapshot.status).as_str().unwrap_or_default().to_string());
                }
                cells.push(notes.join(","));
                cells
            })
            .collect();
        table(&headers, &rows)
    };
    let document = json!({"snapshots": snapshots, "api_requests": client.request_count()});
    printer.result(&Report::new(text, document));
    Ok(())
}
