//! Why an apply stopped.

use crate::error::{Class, Classify};

/// A failure of `apply`: the plan could not be made, is refused, or a step failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Planning, reading the live state or rendering the configs failed.
    #[error("while planning the apply")]
    Plan(#[source] Box<super::super::Error>),
    /// Pre-flight found blockers; nothing was changed.
    #[error("pre-flight found {} problem(s); nothing was changed:\n{}", .blockers.len(), .blockers.join("\n"))]
    Blocked {
        /// One line per blocker.
        blockers: Vec<String>,
        /// What to do about them.
        hints: Vec<String>,
    },
    /// The plan replaces resources and `--allow-replace` was not given.
    #[error("the plan replaces {}; nothing was changed", .resources.join(", "))]
    ReplaceRefused {
        /// `kind name (reason)` per replaced resource.
        resources: Vec<String>,
    },
    /// The plan replaces resources other than servers, which apply does not replace.
    #[error("the plan replaces {}; apply replaces only servers, nothing was changed", .resources.join(", "))]
    ReplaceUnsupported {
        /// `kind name (reason)` per replaced resource.
        resources: Vec<String>,
    },
    /// The node replacement runbook stopped on a node the plan replaces.
    #[error(
        "while replacing the server of node {node} (re-run apply, or `talos-hcloud node replace {node}`, to resume)"
    )]
    Replace {
        /// The node.
        node: String,
        /// Why the runbook stopped.
        #[source]
        source: Box<crate::node::replace::ReplaceError>,
    },
    /// The plan deletes resources and `--allow-delete` was not given.
    #[error("the plan deletes {}; nothing was changed", .resources.join(", "))]
    DeleteRefused {
        /// `kind name` per deleted resource.
        resources: Vec<String>,
    },
    /// The plan removes so many control planes that the rest are no etcd quorum.
    #[error(
        "the plan removes control plane(s) {}: {left} of {now} would be left, {needed} needed for etcd quorum; \
         nothing was changed", .removed.join(", ")
    )]
    QuorumLoss {
        /// The control-plane servers removed.
        removed: Vec<String>,
        /// Control planes now.
        now: usize,
        /// Control planes left.
        left: usize,
        /// Needed for quorum of today's members.
        needed: usize,
    },
    /// A node to delete could not be drained.
    #[error("while draining node {node} before deleting its server")]
    Drain {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: Box<crate::node::DrainError>,
    },
    /// A removed control plane's etcd member could not be removed.
    #[error("while removing the etcd member of node {node} through {on}")]
    Etcd {
        /// The node.
        node: String,
        /// The control plane asked.
        on: String,
        /// Why.
        #[source]
        source: Box<crate::talos::api::Error>,
    },
    /// No remaining control plane answers to remove a member through.
    #[error("no remaining control plane answers, so the etcd member of node {node} cannot be removed")]
    NoPeer {
        /// The node.
        node: String,
    },
    /// Deleting the resources the plan deletes failed.
    #[error("while deleting what the plan deletes")]
    Delete(#[source] Box<crate::cluster::destroy::Error>),
    /// An in-place update of the plan failed.
    #[error("while changing resources in place")]
    Update(#[source] Box<crate::cluster::update::Error>),
    /// A resource a step depends on is not in the live state.
    #[error("{kind} {name} (needed by {needed_by}) does not exist")]
    Missing {
        /// Its kind.
        kind: &'static str,
        /// Its name.
        name: String,
        /// What needed it.
        needed_by: String,
    },
    /// A desired firewall rule is not one the API's model can carry.
    #[error("firewall rule {rule} cannot be sent: {reason}")]
    InvalidRule {
        /// The rule.
        rule: String,
        /// Why.
        reason: String,
    },
    /// A server has no Talos snapshot to boot from.
    #[error("no Talos snapshot for server {server} ({arch})")]
    SnapshotMissing {
        /// The server.
        server: String,
        /// Its architecture.
        arch: String,
    },
    /// A Hetzner call failed.
    #[error("while {operation}")]
    Hcloud {
        /// What was being done (`creating server tc-prod-cp-1`).
        operation: String,
        /// The failure.
        #[source]
        source: Box<crate::hcloud::Error>,
    },
    /// The secrets bundle could not be created or read.
    #[error("while preparing the secrets bundle {path}")]
    Secrets {
        /// Its path.
        path: String,
        /// The failure.
        #[source]
        source: Box<crate::talos::secrets::Error>,
    },
    /// The cluster endpoint does not exist or has no address.
    #[error("the cluster endpoint {name} has no address")]
    NoEndpoint {
        /// Its Hetzner name.
        name: String,
    },
    /// A node of the Talos phase has no usable address.
    #[error("server {server} has no public IPv4 to reach its Talos API on")]
    NoAddress {
        /// The server.
        server: String,
    },
    /// The Talos phase failed.
    #[error("while {stage}")]
    Nodes {
        /// What was being done (`delivering machine configs`).
        stage: &'static str,
        /// The failure.
        #[source]
        source: Box<crate::cluster::nodes::NodesError>,
    },
    /// The cluster's access (kubeconfig, talosconfig) could not be prepared.
    #[error("while preparing {what}")]
    Access {
        /// What was being prepared.
        what: String,
        /// The failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The kubeconfig or talosconfig could not be written.
    #[error("while writing the access files")]
    Files(#[source] Box<crate::cluster::files::FilesError>),
}

impl ApplyError {
    /// Wraps a Hetzner failure with what was being done.
    pub fn hcloud(operation: impl Into<String>) -> impl FnOnce(crate::hcloud::Error) -> ApplyError {
        let operation = operation.into();
        move |source| ApplyError::Hcloud {
            operation,
            source: Box::new(source),
        }
    }

    /// Wraps a Talos-phase failure with its stage.
    pub fn nodes(stage: &'static str) -> impl FnOnce(crate::cluster::nodes::NodesError) -> ApplyError {
        move |source| ApplyError::Nodes {
            stage,
            source: Box::new(source),
        }
    }
}

impl Classify for ApplyError {
    fn class(&self) -> Class {
        match self {
            ApplyError::Plan(source) => source.class(),
            ApplyError::Blocked { .. }
            | ApplyError::ReplaceRefused { .. }
            | ApplyError::ReplaceUnsupported { .. }
            | ApplyError::DeleteRefused { .. }
            | ApplyError::QuorumLoss { .. }
            | ApplyError::SnapshotMissing { .. } => Class::InvalidInput,
            ApplyError::Hcloud { source, .. } => source.class(),
            ApplyError::Secrets { source, .. } => source.class(),
            ApplyError::Nodes { source, .. } => source.class(),
            ApplyError::Files(source) => source.class(),
            ApplyError::Update(source) => source.class(),
            ApplyError::Replace { source, .. } => source.class(),
            ApplyError::Drain { source, .. } => source.class(),
            ApplyError::Etcd { source, .. } => source.class(),
            ApplyError::Delete(source) => source.class(),
            ApplyError::NoPeer { .. }
            | ApplyError::Access { .. }
            | ApplyError::Missing { .. }
            | ApplyError::InvalidRule { .. }
            | ApplyError::NoEndpoint { .. }
            | ApplyError::NoAddress { .. } => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            ApplyError::Plan(source) => source.hints(),
            ApplyError::Update(source) => source.hints(),
            ApplyError::Replace { source, .. } => source.hints(),
            ApplyError::Blocked { hints, .. } => hints.clone(),
            ApplyError::ReplaceRefused { .. } => {
                vec!["run `talos-hcloud plan` to see why, then apply again with --allow-replace".into()]
            }
            ApplyError::ReplaceUnsupported { .. } => {
                vec![
                    "keep those fields as they are in cluster.yaml; a server's primary IP is tied to its location"
                        .into(),
                ]
            }
            ApplyError::DeleteRefused { .. } => {
                vec!["run `talos-hcloud plan` to see what goes, then apply again with --allow-delete".into()]
            }
            ApplyError::QuorumLoss { .. } => {
                vec!["keep at least a quorum of today's control planes (5 → 3 is fine, 3 → 1 is refused)".into()]
            }
            ApplyError::Drain { source, .. } => source.hints(),
            ApplyError::Delete(source) => source.hints(),
            ApplyError::SnapshotMissing { .. } => {
                vec!["run `talos-hcloud image build` first (or `talos-hcloud up`, which builds it)".into()]
            }
            ApplyError::Hcloud { source, .. } => source.hints(),
            ApplyError::Secrets { source, .. } => source.hints(),
            ApplyError::Nodes { source, .. } => source.hints(),
            ApplyError::Files(source) => source.hints(),
            _ => Vec::new(),
        }
    }
}
