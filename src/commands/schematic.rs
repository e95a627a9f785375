//! `schematic id|push|check`: a schematic's ID offline, its registration with the factory,
//! and the early check of its extensions against a Talos version.

use serde_json::json;
use talos_hcloud::factory::{FactoryClient, Schematic};
use talos_hcloud::redact::redacted_url;

use super::CliError;
use crate::cli::{GlobalArgs, SchematicCommand};
use crate::printer::{Printer, Report};

/// Runs a `schematic` subcommand.
pub async fn run(command: SchematicCommand, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    match command {
        SchematicCommand::Id(args) => {
            let schematic = Schematic::load(&args.file)?;
            let canonical = schematic.canonical_yaml()?;
            let id = schematic.id()?;
            printer.result(&Report::new(
                id.to_string(),
                json!({ "id": id, "canonical": canonical }),
            ));
            Ok(())
        }
        SchematicCommand::Push(args) => {
            let schematic = Schematic::load(&args.file)?;
            let client = FactoryClient::new(&global.factory_url)?;
            let factory = redacted_url(client.base_url().as_str()).into_owned();
            for warning in client.schematic_warnings(&schematic) {
                printer.status(format!("warning: {warning}"));
            }
            printer.status(format!("pushing {} to {factory}", args.file.display()));
            let pushed = client.push_schematic(&schematic).await?;
            let canonical = schematic.canonical_yaml()?;
            printer.result(&Report::new(
                pushed.id.to_string(),
                json!({
                    "id": pushed.id,
                    "canonical": canonical,
                    "factory": factory,
                }),
            ));
            Ok(())
        }
        SchematicCommand::Check(args) => {
            let schematic = Schematic::load(&args.file)?;
            let client = FactoryClient::new(&global.factory_url)?;
            for warning in client.schematic_warnings(&schematic) {
                printer.status(format!("warning: {warning}"));
            }
            client.check_extensions(&schematic, &args.talos_version).await?;
            let id = schematic.id()?;
            let extensions = schematic.official_extensions();
            let text = format!(
                "{}: {} official extension(s) available for Talos {}",
                args.file.display(),
                extensions.len(),
                args.talos_version
            );
            printer.result(&Report::new(
                text,
                json!({
                    "id": id,
                    "talos_version": args.talos_version,
                    "official_extensions": extensions,
                    "ok": true,
                }),
            ));
            Ok(())
        }
    }
}
