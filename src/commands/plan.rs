//! `plan`: cluster.yaml against the live project, as text or one JSON document.
//!
//! Loads and checks cluster.yaml first (bad input: exit 2 before any request), builds the
//! Hetzner client from HCLOUD_TOKEN and HCLOUD_ENDPOINT, runs
//! `cluster::planning::plan_cluster`, prices it (`cluster::planning::price`), asks the existing nodes whether they still wait in
//! maintenance mode (half-made), and prints the result; `--detailed-exitcode` turns
//! pending changes into exit 2.

use serde_json::json;
use talos_hcloud::cluster::plan::{half_made, render};
use talos_hcloud::cluster::{Inputs, plan_cluster, price};
use talos_hcloud::spec;

use super::CliError;
use crate::cli::{GlobalArgs, PlanArgs};
use crate::printer::{Printer, Report};

/// Runs `plan`.
pub async fn run(args: &PlanArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(&global.config)?;
    let client = super::hcloud::client(global)?;
    let inputs = Inputs {
        secrets: args.secrets.clone().unwrap_or_else(|| spec.secrets_path()),
        hcloud_token: global.hcloud_token.clone(),
    };
    let mut planned = plan_cluster(&client, &spec, &inputs).await?;
    let cost = price(&client, &planned).await?;
    half_made::add_unconfigured(&mut planned.plan, &planned.desired, &planned.live).await;
    let plan = &planned.plan;
    let text = render::text(plan, Some(&cost), &planned.blockers);
    let document = json!({
        "cluster": plan.cluster,
        "changes": plan.changes,
        "configs": plan.configs,
        "configs_unknown": plan.configs_unknown,
        "counts": plan.counts(),
        "unchanged": plan.unchanged,
        "half_made": plan.half_made,
        "has_changes": plan.has_changes(),
        "cost": cost,
        "preflight": planned.blockers,
        "request_estimate": plan.request_estimate(),
        "api_requests": client.request_count().total,
    });
    printer.result(&Report::new(text, document));
    if args.detailed_exitcode && plan.has_changes() {
        return Err(CliError::changes_pending());
    }
    Ok(())
}
