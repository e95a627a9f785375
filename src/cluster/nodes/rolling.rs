//! Rolling a changed machine config out to configured nodes, one node at a time: control
//! planes first, each followed by a wait until etcd has every control plane as a healthy
//! member again, then workers, each followed by a wait until its apid answers. Nodes
//! whose recorded hash is that of their config are left alone.
//!
//! Configs are applied in `AUTO` mode: Talos applies what it can live and reboots only for
//! what needs it; the answer says which, and is reported per node.

use super::health::wait_etcd_healthy;
use super::{ConfigHash, NodeSet, NodeTarget, NodesError};
use crate::talos::api::ApplyMode;

/// What a rolling update did to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUpdate {
    /// The node name.
    pub name: String,
    /// The hash of the config it now runs (to record).
    pub hash: ConfigHash,
    /// Whether a config was sent (false: the recorded hash matched).
    pub applied: bool,
    /// Whether the node rebooted to take it.
    pub rebooted: bool,
}

/// A step of a rolling update, for progress displays.
#[derive(Debug, Clone, Copy)]
pub enum RollingStep<'a> {
    /// The config is about to be sent to this node.
    Applying(&'a NodeTarget),
    /// The node is done (and, for a control plane, etcd is healthy again).
    Done(&'a NodeUpdate),
}

/// Applies every changed config, node by node (control planes first), reporting each step
/// to `progress`. Returns one entry per node in the order handled.
///
/// # Errors
/// [`NodesError::Update`] naming the node that failed; the nodes before it have their new
/// configs, the ones after it were not touched.
pub async fn rolling_update(
    set: &NodeSet,
    progress: &mut (dyn FnMut(RollingStep<'_>) + Send),
) -> Result<Vec<NodeUpdate>, NodesError> {
    let ordered = set
        .nodes
        .iter()
        .filter(|n| n.is_control_plane())
        .chain(set.nodes.iter().filter(|n| !n.is_control_plane()));
    let mut updates = Vec::new();
    for node in ordered {
        let update = if node.has_applied_config() {
            NodeUpdate {
                name: node.name.clone(),
                hash: node.hash(),
                applied: false,
                rebooted: false,
            }
        } else {
            progress(RollingStep::Applying(node));
            update_one(set, node).await.map_err(|source| NodesError::Update {
                node: node.name.clone(),
                source: Box::new(source),
            })?
        };
        progress(RollingStep::Done(&update));
        updates.push(update);
    }
    Ok(updates)
}

async fn update_one(set: &NodeSet, node: &NodeTarget) -> Result<NodeUpdate, NodesError> {
    let client = set.client(node)?;
    let outcome = client
        .apply_configuration(node.config.expose(), ApplyMode::Auto)
        .await
        .map_err(|e| NodesError::call(&node.name, e))?;
    let rebooted = outcome.mode == Some(ApplyMode::Reboot);
    client
        .wait_ready(set.waits.boot)
        .await
        .map_err(|e| NodesError::call(&node.name, e))?;
    if node.is_control_plane() {
        wait_etcd_healthy(set).await?;
    }
    Ok(NodeUpdate {
        name: node.name.clone(),
        hash: node.hash(),
        applied: true,
        rebooted,
    })
}
