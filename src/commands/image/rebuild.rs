//! `image rebuild`: the scheduled job — resolve the target Talos version, build what is
//! missing, prune — printed as one report.

use serde_json::json;
use talos_hcloud::factory::FactoryClient;
use talos_hcloud::image::build::BuildRequest;
use talos_hcloud::image::rebuild::{self, RebuildReport};
use talos_hcloud::image::track::Track;
use talos_hcloud::spec;

use super::build::build_options;
use super::keep;
use crate::cli::{GlobalArgs, ImageRebuildArgs};
use crate::commands::CliError;
use crate::printer::{Printer, Report};

/// Runs the job; exit 1 if a prune deletion failed (after printing the report).
pub async fn run(args: ImageRebuildArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    let track = args.track.as_deref().map(str::parse::<Track>).transpose()?;
    let keep = keep(args.keep)?;
    let request = BuildRequest::from_spec(&spec)?;
    let client = super::super::hcloud::client(global)?;
    let factory = FactoryClient::new(&global.factory_url)?;
    let (options, progress) = build_options(printer, &request.architectures)?;
    let outcome = rebuild::rebuild(&client, &factory, request, track, keep, &options).await;
    progress.finish();
    let report = outcome?;
    printer.result(&Report::new(render(&report), json!(report)));
    match report.prune_failed.len() {
        0 => Ok(()),
        n => Err(CliError::failed(format!("{n} old snapshot(s) could not be deleted"))),
    }
}

fn render(report: &RebuildReport) -> String {
    let mut lines = vec![format!(
        "target Talos {} ({}), schematic {}",
        report.target_version, report.source, report.schematic
    )];
    for build in &report.built {
        lines.push(format!("{}: built snapshot {}", build.arch, build.image_id));
    }
    for build in &report.present {
        lines.push(format!("{}: snapshot {} already present", build.arch, build.image_id));
    }
    for snapshot in &report.pruned {
        lines.push(format!(
            "pruned snapshot {} ({} {})",
            snapshot.id, snapshot.talos_version, snapshot.arch
        ));
    }
    for failed in &report.prune_failed {
        lines.push(format!(
            "could not delete snapshot {}: {}",
            failed.snapshot.id, failed.error
        ));
    }
    lines.push(format!(
        "{} built, {} present, {} pruned, {} kept",
        report.built.len(),
        report.present.len(),
        report.pruned.len(),
        report.kept.len()
    ));
    lines.join("\n")
}
