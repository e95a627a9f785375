//! The Talos phase of `apply`, once every server exists: configs delivered (maintenance
//! API, or already given as `user_data`), etcd bootstrapped once, changed configs rolled
//! out node by node, health checked through the cluster endpoint, and the kubeconfig and
//! talosconfig written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::cluster::files::{AccessFiles, WrittenAccess, write_access_files};
use crate::cluster::kubeconfig::Kubeconfig;
use crate::cluster::nodes::{
    BootstrapReport, Delivery, DeliveryStep, NodeSet, NodeTarget, RollingStep, Stage, bootstrap_once,
    check_health_observed, deliver_observed, rolling_update,
};
use crate::talos::config::render::ApiEndpoint;
use crate::talos::talosconfig::Talosconfig;

use super::error::ApplyError;
use super::progress::{ApplyProgress, NodePhase};
use super::summary::Phases;

/// What the Talos phase did.
#[derive(Debug, Clone, Serialize)]
pub struct TalosOutcome {
    /// Per node: `applied`, `unchanged` or `changed` (rolled out below).
    pub delivered: Vec<(String, &'static str)>,
    /// `bootstrapped on NODE` or `already bootstrapped`.
    pub bootstrap: String,
    /// Nodes that got a changed config (rolling), with whether they rebooted.
    pub rolled: Vec<(String, bool)>,
    /// etcd members seen healthy.
    pub etcd_members: usize,
    /// Nodes Kubernetes reports Ready (not required without a CNI).
    pub ready_nodes: usize,
    /// The kubeconfig written.
    pub kubeconfig: PathBuf,
    /// The talosconfig written.
    pub talosconfig: PathBuf,
    /// The kubeconfig merged into (`--merge-kubeconfig`).
    pub merged: Option<PathBuf>,
}

/// Where the operator's files go.
#[derive(Debug, Clone)]
pub struct FilesTarget<'a> {
    /// The cluster folder.
    pub dir: &'a Path,
    /// The kubeconfig to merge into, if asked.
    pub merge_into: Option<&'a Path>,
}

/// Converges the nodes of `set` and writes the files; `endpoint` is the cluster endpoint
/// the kubeconfig points at, `talosconfig` the admin talosconfig. `progress` gets each
/// node's phases; `phases` the time each stage took.
///
/// # Errors
/// [`ApplyError::Nodes`] naming the stage, [`ApplyError::Access`], [`ApplyError::Files`].
pub async fn converge(
    set: &NodeSet,
    endpoint: &ApiEndpoint,
    talosconfig: &Talosconfig,
    files: FilesTarget<'_>,
    progress: &dyn ApplyProgress,
    phases: &mut Phases,
) -> Result<TalosOutcome, ApplyError> {
    let started = Instant::now();
    let delivered = deliver_observed(set, &|node, step| match step {
        DeliveryStep::StaleMemberRemoved(member) => progress.note(format!(
            "{}: the etcd member {member:x} its earlier server left was removed before the config",
            node.name
        )),
        DeliveryStep::Sent => progress.phase(&node.name, NodePhase::ConfigDelivered),
        DeliveryStep::Done(Delivery::Applied | Delivery::Unchanged) => progress.phase(&node.name, NodePhase::ApidReady),
        DeliveryStep::Done(Delivery::Changed) => {}
    })
    .await
    .map_err(ApplyError::nodes("delivering machine configs"))?;
    phases.record("deliver configs", started);

    let started = Instant::now();
    let bootstrap = match bootstrap_once(set)
        .await
        .map_err(ApplyError::nodes("bootstrapping etcd"))?
    {
        BootstrapReport::Bootstrapped { node } => format!("bootstrapped on {node}"),
        BootstrapReport::AlreadyBootstrapped { node, .. } => format!("already bootstrapped (seen on {node})"),
    };
    progress.note(format!("etcd: {bootstrap}"));
    phases.record("bootstrap", started);

    // Nodes given their config now, or already running it, are done; only configured
    // nodes with another config are rolled.
    let mut rolling_set = set.clone();
    for node in &mut rolling_set.nodes {
        let done = delivered
            .iter()
            .any(|d| d.name == node.name && d.delivery != Delivery::Changed);
        if done {
            node.applied = Some(node.hash().label_value());
        }
    }
    let started = Instant::now();
    let updates = rolling_update(&rolling_set, &mut |step| match step {
        RollingStep::Applying(node) => progress.phase(&node.name, NodePhase::Updating),
        RollingStep::Done(update) if update.applied => progress.phase(&update.name, NodePhase::ApidReady),
        RollingStep::Done(_) => {}
    })
    .await
    .map_err(ApplyError::nodes("rolling out changed configs"))?;
    let rolled: Vec<(String, bool)> = updates
        .iter()
        .filter(|u| u.applied)
        .map(|u| (u.name.clone(), u.rebooted))
        .collect();
    if !rolled.is_empty() {
        phases.record("rolling update", started);
    }

    let started = Instant::now();
    let first = set.control_planes().next().ok_or_else(|| ApplyError::Access {
        what: "the kubeconfig".into(),
        source: "the cluster has no control plane".into(),
    })?;
    let kubeconfig = admin_kubeconfig(set, first).await?;
    let mut through_endpoint = kubeconfig.clone();
    through_endpoint
        .set_server(endpoint.url())
        .map_err(|e| access("the kubeconfig", e))?;
    let kube = through_endpoint.access().map_err(|e| access("the kubeconfig", e))?;
    let health = check_health_observed(set, &kube, &|stage| {
        let (phase, nodes) = match stage {
            Stage::Etcd => (NodePhase::EtcdMember, set.control_planes().collect::<Vec<_>>()),
            Stage::Kubelet => (NodePhase::Healthy, set.nodes.iter().collect()),
            Stage::Apid | Stage::KubeApiserver => return,
        };
        nodes.iter().for_each(|node| progress.phase(&node.name, phase));
    })
    .await
    .map_err(ApplyError::nodes("checking the cluster's health"))?;
    progress.note(format!(
        "health: {} etcd members, kube-apiserver ready through {}",
        health.etcd_members,
        endpoint.url()
    ));
    phases.record("health", started);

    let written: WrittenAccess = write_access_files(
        files.dir,
        &AccessFiles {
            kubeconfig,
            endpoint: endpoint.url().to_string(),
            talosconfig: talosconfig.clone(),
        },
        files.merge_into,
    )
    .map_err(|e| ApplyError::Files(Box::new(e)))?;
    Ok(TalosOutcome {
        delivered: delivered
            .iter()
            .map(|d| (d.name.clone(), delivery_word(d.delivery)))
            .collect(),
        bootstrap,
        rolled,
        etcd_members: health.etcd_members,
        ready_nodes: health.ready.iter().filter(|r| r.ready == Some(true)).count(),
        kubeconfig: written.kubeconfig,
        talosconfig: written.talosconfig,
        merged: written.merged,
    })
}

/// The admin kubeconfig as the first control plane hands it out.
async fn admin_kubeconfig(set: &NodeSet, first: &NodeTarget) -> Result<Kubeconfig, ApplyError> {
    let client = set.client(first).map_err(ApplyError::nodes("reading the kubeconfig"))?;
    let bytes = client
        .kubeconfig()
        .await
        .map_err(|e| access(&format!("the kubeconfig from {}", first.name), e))?;
    Kubeconfig::parse(bytes.expose(), &format!("the kubeconfig from {}", first.name))
        .map_err(|e| access("the kubeconfig", e))
}

fn access(what: &str, error: impl std::error::Error + Send + Sync + 'static) -> ApplyError {
    ApplyError::Access {
        what: what.to_string(),
        source: Box::new(error),
    }
}

fn delivery_word(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Applied => "applied",
        Delivery::Unchanged => "unchanged",
        Delivery::Changed => "changed",
    }
}
