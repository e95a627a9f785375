//! Why a replacement stopped, naming the step and the node.

use super::steps::Step;
use crate::cluster::nodes::{NodeFailure, NodesError};
use crate::error::{Class, Classify};
use crate::node::{DrainError, SnapshotError, kube};

/// A replacement that did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The name is not a node of cluster.yaml; nothing was read or changed.
    #[error("{name} is not a node of cluster {cluster} (nodes: {})", known.join(", "))]
    UnknownNode {
        /// The name given.
        name: String,
        /// The cluster.
        cluster: String,
        /// The node names of cluster.yaml.
        known: Vec<String>,
    },
    /// The secrets bundle is missing: the node's config cannot be rendered.
    #[error("the secrets bundle {path} does not exist, so the node's machine config cannot be rendered")]
    NoSecrets {
        /// Where it was looked for.
        path: String,
    },
    /// Reading the cluster (live state, configs) failed.
    #[error("while reading cluster {cluster}")]
    Cluster {
        /// The cluster.
        cluster: String,
        /// The cause.
        #[source]
        source: Box<crate::cluster::Error>,
    },
    /// The talosconfig identity could not be derived from the secrets bundle.
    #[error("while deriving the admin talosconfig")]
    Talosconfig(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A pre-check failed: nothing was changed.
    #[error("pre-check failed, nothing was changed: {}", list(problems))]
    Precheck {
        /// What is wrong, per node or resource.
        problems: Vec<NodeFailure>,
    },
    /// Replacing the node would leave etcd without quorum while it is gone.
    #[error(
        "replacing control plane {node} would leave etcd without quorum: {healthy} healthy of {members} members \
         without it, {needed} needed{}; nothing was changed",
        down_list(down)
    )]
    QuorumLoss {
        /// The node.
        node: String,
        /// Healthy members other than the node.
        healthy: usize,
        /// Members now.
        members: usize,
        /// Members needed for quorum.
        needed: usize,
        /// Other control planes that are down (their members count, unhealthy).
        down: Vec<String>,
    },
    /// No Talos snapshot exists for the node's architecture and the configured version.
    #[error("no Talos snapshot for {arch} and Talos {version} exists, and --image was not given; nothing was changed")]
    NoSnapshot {
        /// The architecture.
        arch: String,
        /// The configured version.
        version: String,
    },
    /// A Hetzner call failed.
    #[error("step {step} of replacing {node}")]
    Hetzner {
        /// The step.
        step: Step,
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<crate::hcloud::Error>,
    },
    /// A Talos API call failed.
    #[error("step {step} of replacing {node}: on {on}")]
    Talos {
        /// The step.
        step: Step,
        /// The node being replaced.
        node: String,
        /// The node called.
        on: String,
        /// The cause.
        #[source]
        source: Box<crate::talos::api::Error>,
    },
    /// The Talos phase (delivery, health) failed.
    #[error("step {step} of replacing {node}")]
    Nodes {
        /// The step.
        step: Step,
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<NodesError>,
    },
    /// A Kubernetes call failed.
    #[error("step {step} of replacing {node}")]
    Kube {
        /// The step.
        step: Step,
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<kube::Error>,
    },
    /// The drain did not finish (nothing on Hetzner was changed).
    #[error("the node was not drained; nothing on Hetzner was changed")]
    Drain(#[source] Box<DrainError>),
    /// The etcd snapshot could not be saved (nothing was changed).
    #[error("the etcd snapshot was not saved; nothing was changed")]
    Snapshot(#[source] Box<SnapshotError>),
    /// The server could not be created as desired.
    #[error("step create-server of replacing {node}")]
    Create {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<crate::cluster::apply::ApplyError>,
    },
    /// The created server does not have the kept address.
    #[error("the new server {server} got public IPv4 {got}, not the kept primary IP {kept}")]
    AddressChanged {
        /// The server.
        server: String,
        /// What it got.
        got: String,
        /// What it should have.
        kept: String,
    },
    /// Ctrl-C: the run stopped between two steps.
    #[error("interrupted after step {after}; resume with the same command")]
    Interrupted {
        /// The last step done.
        after: Step,
    },
}

fn down_list(down: &[String]) -> String {
    if down.is_empty() {
        String::new()
    } else {
        format!(" ({} down)", down.join(", "))
    }
}

fn list(problems: &[NodeFailure]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl Classify for ReplaceError {
    fn class(&self) -> Class {
        match self {
            ReplaceError::UnknownNode { .. }
            | ReplaceError::NoSecrets { .. }
            | ReplaceError::QuorumLoss { .. }
            | ReplaceError::NoSnapshot { .. } => Class::InvalidInput,
            ReplaceError::Cluster { source, .. } => source.class(),
            ReplaceError::Hetzner { source, .. } => source.class(),
            ReplaceError::Create { source, .. } => source.class(),
            ReplaceError::Interrupted { .. } => Class::Interrupted,
            ReplaceError::Talosconfig(_)
            | ReplaceError::Precheck { .. }
            | ReplaceError::Talos { .. }
            | ReplaceError::Nodes { .. }
            | ReplaceError::Kube { .. }
            | ReplaceError::Drain(_)
            | ReplaceError::Snapshot(_)
            | ReplaceError::AddressChanged { .. } => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            ReplaceError::QuorumLoss { down, node, .. } if !down.is_empty() => {
                let mut hints: Vec<String> = down
                    .iter()
                    .map(|dead| format!("replace the dead one first: `talos-hcloud node replace {dead}`, then {node}"))
                    .collect();
                hints.push(format!(
                    "or pass --force-quorum-loss: the dead members are removed from etcd first and it runs without \
                     fault tolerance until {node} is back (take a snapshot you can restore from)"
                ));
                hints
            }
            ReplaceError::QuorumLoss { .. } => vec![
                "add a control plane first, or pass --force-quorum-loss to accept an etcd outage until the new \
                 member joins (take a snapshot you can restore from)"
                    .into(),
            ],
            ReplaceError::NoSnapshot { .. } => {
                vec!["run `talos-hcloud image build`, or pass --image ID".into()]
            }
            ReplaceError::NoSecrets { .. } => vec!["the bundle `secrets gen` wrote is needed (restore it)".into()],
            ReplaceError::Drain(source) => source.hints(),
            ReplaceError::Nodes { source, .. } => source.hints(),
            ReplaceError::Interrupted { .. } => vec!["run the same command again to continue".into()],
            ReplaceError::Precheck { .. } => vec![
                "fix the nodes named above first (`talos-hcloud status`); a dead control plane is replaced with --dead"
                    .into(),
            ],
            ReplaceError::Hetzner { .. }
            | ReplaceError::Create { .. }
            | ReplaceError::Talos { .. }
            | ReplaceError::Kube { .. } => vec!["run the same command again: finished steps are not repeated".into()],
            _ => Vec::new(),
        }
    }
}
