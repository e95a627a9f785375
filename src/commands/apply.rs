//! `apply`: loads cluster.yaml (bad input: exit 2 before any request), runs
//! `cluster::apply::run` and prints its summary (text, or one JSON document).

use talos_hcloud::cluster::apply::{self, ApplyOptions, ApplyReport, Reporter};
use talos_hcloud::hcloud::Client;
use talos_hcloud::spec::{self, Spec};

use super::CliError;
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::printer::{Printer, Report};

/// Runs `apply`.
pub async fn run(args: &ApplyArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    let client = super::hcloud::client(global)?;
    let mut options = options(args, global, &spec);
    options.interrupt = super::signals()?;
    let report = converge(&client, &spec, &options, printer).await?;
    print(&report, printer);
    Ok(())
}

/// The apply options of `args` for `spec`.
pub fn options(args: &ApplyArgs, global: &GlobalArgs, spec: &Spec) -> ApplyOptions {
    let mut options = ApplyOptions::for_spec(spec);
    if let Some(secrets) = &args.secrets {
        options.secrets.clone_from(secrets);
    }
    options.merge_kubeconfig.clone_from(&args.merge_kubeconfig);
    options.hcloud_token.clone_from(&global.hcloud_token);
    options.allow_replace = args.allow_replace;
    options.allow_delete = args.allow_delete;
    options.user_data = args.user_data;
    options.protect_control_planes = !args.no_protection;
    options
}

/// Runs the apply, showing each node's phase. Ctrl-C (`options.interrupt`) stops it at once
/// with exit 3, except during a node replacement, which stops between two steps (a second
/// Ctrl-C stops that at once too); either way the same command continues.
pub async fn converge(
    client: &Client,
    spec: &Spec,
    options: &ApplyOptions,
    printer: &Printer,
) -> Result<ApplyReport, CliError> {
    let progress = reporter(spec, printer);
    let report = tokio::select! {
        biased;
        report = apply::run(client, spec, options, &progress) => report,
        () = options.interrupt.stop_now() => {
            progress.finish();
            return Err(CliError::interrupted().hint("run the same command again: apply continues where it stopped"));
        }
    };
    progress.finish();
    Ok(report?)
}

/// Progress of an apply of `spec`: one live line per node on a terminal, timestamped
/// status lines otherwise (none with `-q` or JSON output).
pub fn reporter(spec: &Spec, printer: &Printer) -> Reporter {
    let sink = {
        let printer = printer.clone();
        move |line: String| printer.status(line)
    };
    if printer.shows_progress() {
        let nodes: Vec<String> = spec.nodes().map(|n| n.name.as_str().to_string()).collect();
        Reporter::bars(&nodes, sink)
    } else {
        Reporter::lines(sink)
    }
}

/// Prints the closing summary.
pub fn print(report: &ApplyReport, printer: &Printer) {
    let document = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    printer.result(&Report::new(report.text(), document));
}
