//! `up`: image build where needed, then apply; with `--sim`, against an emulator started
//! in-process, printing where the files are and what to try next.

use talos_hcloud::cluster::up::{self, UpReport};
use talos_hcloud::factory::FactoryClient;
use talos_hcloud::hcloud::{Client, Credentials, Endpoint, Token};
use talos_hcloud::redact::Redacted;
use talos_hcloud::sim::{Sim, SimConfig};
use talos_hcloud::spec;

use super::CliError;
use crate::cli::{GlobalArgs, UpArgs};
use crate::printer::Printer;

/// Raw size of the emulator's factory images for `up --sim`: small, so the build is quick.
const SIM_IMAGE_SIZE: u64 = 24 * 1024 * 1024;

/// Runs `up`.
pub async fn run(args: &UpArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    if !args.sim {
        let client = super::hcloud::client(global)?;
        let factory = FactoryClient::new(&global.factory_url)?;
        let report = job(&client, &factory, &spec, args, global, printer, None).await?;
        super::apply::print(&report.apply, printer);
        return Ok(());
    }
    let stop = super::signals()?;
    let sim = Sim::start(SimConfig {
        node_validator: std::sync::Arc::new(talos_hcloud::talos::config::validate::node_validator()),
        factory: talos_hcloud::sim::factory::FactoryConfig {
            image_size: SIM_IMAGE_SIZE,
            ..talos_hcloud::sim::factory::FactoryConfig::default()
        },
        ..SimConfig::default()
    })
    .await?;
    printer.status(format!(
        "emulator started: {} (factory {})",
        sim.endpoint(),
        sim.factory_url()
    ));
    let outcome = async {
        let client = Client::new(Credentials {
            token: Token::new(sim.token())?,
            endpoint: Endpoint::parse(&sim.endpoint())?,
        })?;
        let factory = FactoryClient::new(&sim.factory_url())?;
        let token = Redacted::new(sim.token().to_string());
        job(&client, &factory, &spec, args, global, printer, Some(token)).await
    }
    .await;
    let report = match outcome {
        Ok(report) => report,
        Err(error) => {
            sim.shutdown().await;
            return Err(error);
        }
    };
    super::apply::print(&report.apply, printer);
    let next = format!(
        "next: KUBECONFIG={kube} kubectl get nodes   |   talosctl --talosconfig {talos} health\n\
         the emulator lives as long as this command: run `up --sim --serve` to keep it serving until Ctrl-C",
        kube = report.apply.talos.kubeconfig.display(),
        talos = report.apply.talos.talosconfig.display(),
    );
    printer.status(next);
    if args.serve {
        printer.status(format!(
            "serving: export HCLOUD_ENDPOINT={} HCLOUD_TOKEN={} TALOS_FACTORY_URL={}; Ctrl-C stops it",
            sim.endpoint(),
            sim.token(),
            sim.factory_url()
        ));
        stop.fired(1).await;
    }
    sim.shutdown().await;
    Ok(())
}

/// The job: snapshots (with the build's own signal handling), then apply (Ctrl-C stops
/// it with exit 3, a node replacement between two steps).
async fn job(
    client: &Client,
    factory: &FactoryClient,
    spec: &spec::Spec,
    args: &UpArgs,
    global: &GlobalArgs,
    printer: &Printer,
    sim_token: Option<Redacted<String>>,
) -> Result<UpReport, CliError> {
    let mut options = super::apply::options(&args.apply, global, spec);
    if sim_token.is_some() {
        options.hcloud_token = sim_token;
    }
    let (build_options, bars) = super::image::build_options(printer, spec.architectures())?;
    let progress = |line: String| printer.status(line);
    // The build handles SIGINT/SIGTERM itself (its cleanup needs the future alive).
    let images = up::ensure_snapshots(client, factory, spec, &build_options, &progress).await;
    bars.finish();
    let images = images?;
    options.interrupt = super::signals()?;
    let apply = super::apply::converge(client, spec, &options, printer).await?;
    Ok(UpReport { images, apply })
}
