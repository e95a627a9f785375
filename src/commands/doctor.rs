//! `doctor`: read-only checks of what `apply` needs (`cluster::doctor`), one line each;
//! exit 1 when one is a blocker.

use std::fmt::Write as _;

use talos_hcloud::cluster::doctor::{self, Blocked};
use talos_hcloud::factory::FactoryClient;
use talos_hcloud::spec;

use super::CliError;
use crate::cli::GlobalArgs;
use crate::printer::{Printer, Report};

/// Runs `doctor`.
pub async fn run(global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    let client = super::hcloud::client(global)?;
    let factory = FactoryClient::new(&global.factory_url)?;
    let api_host = url::Url::parse(&global.hcloud_endpoint)
        .ok()
        .and_then(|url| Some((url.host_str()?.to_string(), url.port_or_known_default()?)));
    let public_address = match &api_host {
        Some((host, port)) => doctor::own_address(host, *port).await,
        None => None,
    };
    let report = doctor::run(&spec, &client, &factory, public_address).await;
    let mut text = format!("doctor for cluster {}\n", report.cluster);
    for check in &report.checks {
        let _ = writeln!(
            text,
            "{:<5} {:<13} {}",
            check.verdict.as_str(),
            check.name,
            check.reason
        );
    }
    if report.blockers().is_empty() {
        let mut document = serde_json::to_value(&report).unwrap_or_default();
        document["ok"] = serde_json::Value::Bool(true);
        printer.result(&Report::new(text, document));
        return Ok(());
    }
    // With --output json the report is the error document's `details`.
    if printer.format() == crate::cli::OutputFormat::Text {
        printer.result(&Report::new(text, serde_json::Value::Null));
    }
    Err(Blocked(report).into())
}
