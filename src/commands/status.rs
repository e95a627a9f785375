//! `status`: the cluster as it is (`cluster::status`), as a table or one JSON document;
//! exit 1 when it is degraded.

use std::time::Duration;

use talos_hcloud::cluster::Inputs;
use talos_hcloud::cluster::status::{self, Degraded, StatusInputs, render};
use talos_hcloud::spec;

use super::CliError;
use crate::cli::{GlobalArgs, OutputFormat, StatusArgs};
use crate::printer::{Printer, Report};

/// Runs `status`.
pub async fn run(args: &StatusArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    let client = super::hcloud::client(global)?;
    let inputs = StatusInputs::new(
        spec.local_dir(),
        Inputs {
            secrets: args.secrets.clone().unwrap_or_else(|| spec.secrets_path()),
            hcloud_token: global.hcloud_token.clone(),
        },
        Duration::from_secs(args.timeout),
    );
    let report = status::status(&client, &spec, &inputs).await?;
    let text = render::text(&report);
    if report.healthy {
        let document = serde_json::to_value(&report).unwrap_or_default();
        printer.result(&Report::new(text, document));
        return Ok(());
    }
    // With --output json the report is the error document's `details`.
    if printer.format() == OutputFormat::Text {
        printer.result(&Report::new(text, serde_json::Value::Null));
    }
    Err(Degraded(report).into())
}
