//! `sim`: serve the Hetzner Cloud API emulator until Ctrl-C.

use serde_json::json;
use talos_hcloud::sim::{Sim, SimConfig};

use super::CliError;
use super::sim::StopSignals;
use crate::cli::{OutputFormat, SimServeArgs};
use crate::printer::{Printer, Report};

/// Serves the emulator until Ctrl-C (or SIGTERM), then exits 0.
pub async fn run(args: SimServeArgs, printer: &Printer) -> Result<(), CliError> {
    // Register the signal handlers before anyone can see the endpoint and send a signal.
    let stop = StopSignals::register()?;
    let defaults = SimConfig::default();
    let config = SimConfig {
        listen: args.listen,
        token: args.token.unwrap_or(defaults.token),
        time_scale: args.time_scale,
        faults: args.faults.unwrap_or_default(),
        seed: args.seed,
        ..defaults
    };
    let (seed, time_scale, faults) = (config.seed, config.time_scale, config.faults.to_string());
    let sim = Sim::start(config).await?;
    let endpoint = sim.endpoint();
    let controls = format!("http://{}/__sim", sim.addr());
    let document = json!({
        "endpoint": endpoint,
        "token": sim.token(),
        "controls": controls,
        "time_scale": time_scale,
        "seed": seed,
        "faults": faults,
    });
    match printer.format() {
        OutputFormat::Json => {
            let mut line = document.to_string();
            line.push('\n');
            printer.raw(line.as_bytes());
        }
        OutputFormat::Text => {
            let text = format!(
                "endpoint: {endpoint}\ntoken: {}\ncontrols: {controls}\n\nexport HCLOUD_ENDPOINT={endpoint} HCLOUD_TOKEN={}\n",
                sim.token(),
                sim.token()
            );
            printer.result(&Report::new(text, document));
        }
    }
    printer.status("serving the Hetzner Cloud API emulator; Ctrl-C stops it");
    stop.wait().await;
    sim.shutdown().await;
    printer.status("emulator stopped");
    Ok(())
}
