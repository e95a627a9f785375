//! `sim`: serve the Hetzner Cloud API emulator until Ctrl-C.

use serde_json::json;
use talos_hcloud::sim::{Sim, SimConfig};

use super::CliError;
use crate::cli::{OutputFormat, SimServeArgs};
use crate::printer::{Printer, Report};

/// Serves the emulator until Ctrl-C (or SIGTERM), then exits 0.
pub async fn run(args: SimServeArgs, printer: &Printer) -> Result<(), CliError> {
    // Register the signal handlers before anyone can see the endpoint and send a signal.
    let stop = super::signals()?;
    let defaults = SimConfig::default();
    let config = SimConfig {
        listen: args.listen,
        token: args.token.unwrap_or(defaults.token),
        time_scale: args.time_scale,
        faults: args.faults.unwrap_or_default(),
        seed: args.seed,
        state_dir: args.state_dir,
        node_validator: std::sync::Arc::new(talos_hcloud::talos::config::validate::node_validator()),
        factory: talos_hcloud::sim::factory::FactoryConfig {
            image_size: args.image_size,
            seed: args.seed,
            ..defaults.factory
        },
    };
    let (seed, time_scale, faults) = (config.seed, config.time_scale, config.faults.to_string());
    let sim = Sim::start(config).await?;
    let endpoint = sim.endpoint();
    let controls = format!("http://{}/__sim", sim.addr());
    let factory = sim.factory_url();
    let state_dir = sim.state_dir();
    let document = json!({
        "endpoint": endpoint,
        "token": sim.token(),
        "controls": controls,
        "factory": factory,
        "state_dir": state_dir,
        "time_scale": time_scale,
        "seed": seed,
        "faults": faults,
        "env": {
            "HCLOUD_ENDPOINT": endpoint,
            "HCLOUD_TOKEN": sim.token(),
            "TALOS_FACTORY_URL": factory,
        },
    });
    match printer.format() {
        OutputFormat::Json => {
            let mut line = document.to_string();
            line.push('\n');
            printer.raw(line.as_bytes());
        }
        OutputFormat::Text => {
            let text = format!(
                "endpoint: {endpoint}\ntoken: {token}\ncontrols: {controls}\nfactory: {factory}\nstate dir: {}\n\n\
                 export HCLOUD_ENDPOINT={endpoint} HCLOUD_TOKEN={token} TALOS_FACTORY_URL={factory}\n",
                state_dir.display(),
                token = sim.token(),
            );
            printer.result(&Report::new(text, document));
        }
    }
    printer.status("serving the Hetzner Cloud API, the Image Factory and the machines; Ctrl-C stops it");
    stop.fired(1).await;
    sim.shutdown().await;
    printer.status("emulator stopped");
    Ok(())
}
