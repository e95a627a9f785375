//! `apply --allow-replace`: every server the plan replaces (`-/+`: server type, location,
//! image) goes through the node replacement runbook ([`crate::node::replace`]), one node at
//! a time, after the rest of the cluster converged. The runbook keeps the name, private IP,
//! primary IPv4, placement group, firewall and labels, and checks the whole cluster (etcd
//! members = control planes, all healthy) before the next node is touched. A replacement an
//! earlier run left half-done (its server carries the runbook's progress label) is resumed
//! before anything else: the node may be cordoned, out of etcd or gone.

use super::{ApplyError, ApplyOptions};
use crate::cluster::Planned;
use crate::cluster::desired::Desired;
use crate::cluster::plan::{Action, Kind, Plan};
use crate::hcloud::Client;
use crate::node::KubeOptions;
use crate::node::replace::{self, Entry, Inputs, LABEL_REPLACE_STEP, Options};
use crate::spec::Spec;

/// The node names whose servers `plan` replaces, in plan order.
pub fn replaced_nodes(plan: &Plan, desired: &Desired) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.kind == Kind::Server && c.action == Action::Replace)
        .filter_map(|c| desired.servers.iter().find(|s| s.name == c.name))
        .map(|s| s.node.clone())
        .collect()
}

/// Finishes the replacements an earlier run (of `apply` or `node replace`) started and did
/// not finish: the nodes whose server carries the runbook's progress label. Returns those
/// nodes; the caller plans again when there were any.
///
/// # Errors
/// [`ApplyError::ReplaceRefused`] without `--allow-replace`, before any change;
/// [`ApplyError::Replace`] when a runbook stops again.
pub async fn resume_interrupted(
    client: &Client,
    spec: &Spec,
    planned: &Planned,
    options: &ApplyOptions,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Vec<String>, ApplyError> {
    let interrupted: Vec<String> = planned
        .desired
        .servers
        .iter()
        .filter(|s| {
            planned
                .live
                .servers
                .iter()
                .any(|l| l.name == s.name && l.labels.contains_key(LABEL_REPLACE_STEP))
        })
        .map(|s| s.node.clone())
        .collect();
    if !interrupted.is_empty() && !options.allow_replace {
        return Err(ApplyError::ReplaceRefused {
            resources: interrupted
                .iter()
                .map(|node| format!("node {node} (an interrupted replacement)"))
                .collect(),
        });
    }
    replace_servers(client, spec, &interrupted, options, progress).await
}

/// Replaces the servers of `nodes` one after the other through the runbook; every entry of
/// its evidence goes to `progress` as `replace NODE: …`. Returns the nodes replaced.
///
/// # Errors
/// [`ApplyError::Replace`] naming the node whose runbook stopped; the nodes before it are
/// replaced, the ones after it untouched.
pub async fn replace_servers(
    client: &Client,
    spec: &Spec,
    nodes: &[String],
    options: &ApplyOptions,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Vec<String>, ApplyError> {
    let inputs = Inputs {
        hcloud_token: options.hcloud_token.clone(),
        secrets: Some(options.secrets.clone()),
        call: options.call,
        waits: options.waits,
    };
    let runbook = Options {
        dead: false,
        force_quorum_loss: false,
        image: None,
        dry_run: false,
        drain: options.drain,
        kube: KubeOptions::default(),
        snapshot_dir: options.files_dir.clone(),
        interrupt: options.interrupt.clone(),
    };
    // A first Ctrl-C is the runbook's: it stops between two steps, resumable.
    let _hold = options.interrupt.hold();
    let mut replaced = Vec::new();
    for node in nodes {
        let failed = |source| ApplyError::Replace {
            node: node.clone(),
            source: Box::new(source),
        };
        progress(format!("{node}: replacing its server (node replacement runbook)"));
        let ctx = replace::read(client.clone(), spec.clone(), node, &inputs)
            .await
            .map_err(failed)?;
        let mut report = |entry: &Entry| progress(format!("replace {node}: {entry}"));
        replace::replace(&ctx, &runbook, &mut report).await.map_err(failed)?;
        replaced.push(node.clone());
    }
    Ok(replaced)
}
