//! Failures of the Talos phase, each naming the nodes concerned and what was seen on them.

use std::time::Duration;

use super::health::Stage;
use crate::error::{Class, Classify};
use crate::talos::api;

/// What went wrong on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// The node name.
    pub node: String,
    /// What was seen, the whole cause chain on one line.
    pub problem: String,
}

impl NodeFailure {
    /// A failure of `node` described by `error` and its causes.
    pub fn new(node: &str, error: &(dyn std::error::Error + 'static)) -> NodeFailure {
        NodeFailure {
            node: node.to_string(),
            problem: crate::error::chain(error).join(": "),
        }
    }

    /// A failure of `node` described in words.
    pub fn said(node: &str, problem: impl Into<String>) -> NodeFailure {
        NodeFailure {
            node: node.to_string(),
            problem: problem.into(),
        }
    }
}

impl std::fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.node, self.problem)
    }
}

/// Lists failures as `a: …; b: …`.
fn list(failures: &[NodeFailure]) -> String {
    failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A wait as `12.3s`.
fn seconds(waited: Duration) -> String {
    format!("{:.1}s", waited.as_secs_f64())
}

/// Why a step of the Talos phase failed.
#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    /// The admin identity (talosconfig certificate) does not load.
    #[error("the cluster's admin client certificate is unusable")]
    Credentials {
        /// The cause.
        #[source]
        source: Box<api::Error>,
    },
    /// Configs could not be delivered to some nodes (the others got theirs).
    #[error("machine config delivery failed on {}: {}", failures.len(), list(failures))]
    NotDelivered {
        /// Each node that failed.
        failures: Vec<NodeFailure>,
    },
    /// A node's config is too large for Hetzner's `user_data` even as base64(gzip).
    #[error(
        "the machine config of node {node} is {size} bytes as base64(gzip) user_data, over Hetzner's limit of {limit}"
    )]
    UserDataTooLarge {
        /// The node.
        node: String,
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A node's config is not a config (not UTF-8 YAML): a caller bug, named as such.
    #[error("the machine config of node {node} is not YAML text")]
    NotAConfig {
        /// The node.
        node: String,
    },
    /// The node set has no control plane.
    #[error("the cluster has no control plane to bootstrap etcd on")]
    NoControlPlane,
    /// Some control planes could not be asked whether etcd runs, and none of the others
    /// reported members: bootstrapping now could start a second etcd cluster.
    #[error(
        "cannot tell whether etcd is already bootstrapped, so it was not: {}",
        list(unreachable)
    )]
    BootstrapUndecided {
        /// The control planes that did not answer.
        unreachable: Vec<NodeFailure>,
    },
    /// The bootstrap call failed.
    #[error("while bootstrapping etcd on {node}")]
    Bootstrap {
        /// The control plane.
        node: String,
        /// The cause.
        #[source]
        source: Box<api::Error>,
    },
    /// A health stage did not pass in time.
    #[error("health stage `{stage}` did not pass within {}: {}", seconds(*waited), list(failures))]
    Unhealthy {
        /// The stage.
        stage: Stage,
        /// How long it was waited for.
        waited: Duration,
        /// What was wrong, per node (or `cluster` for the endpoint).
        failures: Vec<NodeFailure>,
    },
    /// A changed config could not be applied (the nodes before it have theirs).
    #[error("while applying the changed machine config to {node}")]
    Update {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<NodesError>,
    },
    /// A Talos API call failed.
    #[error("on node {node}")]
    Call {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<api::Error>,
    },
}

impl NodesError {
    /// A failed call on `node`.
    pub(crate) fn call(node: &str, source: api::Error) -> NodesError {
        NodesError::Call {
            node: node.to_string(),
            source: Box::new(source),
        }
    }
}

impl Classify for NodesError {
    fn class(&self) -> Class {
        match self {
            NodesError::UserDataTooLarge { .. } | NodesError::NotAConfig { .. } | NodesError::NoControlPlane => {
                Class::InvalidInput
            }
            NodesError::Credentials { source } => source.class(),
            NodesError::Update { source, .. } => source.class(),
            NodesError::Call { source, .. } | NodesError::Bootstrap { source, .. } => source.class(),
            _ => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            NodesError::UserDataTooLarge { .. } => vec![
                "deliver configs through the Talos API instead (the default), or move large patch content (manifests) \
                 out of the machine config"
                    .into(),
            ],
            NodesError::BootstrapUndecided { .. } => vec![
                "bring the control planes back (or replace the dead ones) and run apply again; etcd is bootstrapped \
                 only when every control plane answers and none has members"
                    .into(),
            ],
            NodesError::Unhealthy { stage, .. } => vec![stage.hint().to_string()],
            NodesError::Credentials { source } => source.hints(),
            NodesError::Update { source, .. } => source.hints(),
            NodesError::Call { source, .. } | NodesError::Bootstrap { source, .. } => source.hints(),
            _ => Vec::new(),
        }
    }
}
