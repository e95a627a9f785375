//! Bootstrapping etcd exactly once per cluster.
//!
//! Every control plane is asked for its etcd members first. If any reports members, the
//! cluster exists and nothing is sent. Only when every control plane answered and none has
//! members is `Bootstrap` sent, to the first control plane; its `AlreadyExists` counts as
//! done. A control plane that does not answer blocks the bootstrap: on a cluster whose
//! etcd members are all unreachable, a bootstrap elsewhere would start a second etcd.

use super::{NodeFailure, NodeSet, NodeTarget, NodesError};
use crate::talos::api::{BootstrapOutcome, MemberListScope};

/// What [`bootstrap_once`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapReport {
    /// etcd was bootstrapped on this control plane now.
    Bootstrapped {
        /// The control plane.
        node: String,
    },
    /// etcd already runs: nothing was sent.
    AlreadyBootstrapped {
        /// The control plane that reported members (or answered `AlreadyExists`).
        node: String,
        /// How many members it reported (0 when only `AlreadyExists` told).
        members: usize,
    },
}

/// What one control plane said about etcd.
enum EtcdSeen {
    Members(usize),
    None,
    Unreachable(NodeFailure),
}

/// Bootstraps etcd on the first control plane unless a control plane reports members.
///
/// # Errors
/// [`NodesError::NoControlPlane`], [`NodesError::BootstrapUndecided`] when a control
/// plane does not answer (nothing is sent), [`NodesError::Bootstrap`] when the call fails.
pub async fn bootstrap_once(set: &NodeSet) -> Result<BootstrapReport, NodesError> {
    let control_planes: Vec<&NodeTarget> = set.control_planes().collect();
    let first = *control_planes.first().ok_or(NodesError::NoControlPlane)?;
    let seen = futures::future::join_all(control_planes.iter().map(|node| etcd_seen(set, node))).await;
    let mut unreachable = Vec::new();
    for (node, seen) in control_planes.iter().zip(seen) {
        match seen? {
            EtcdSeen::Members(members) => {
                return Ok(BootstrapReport::AlreadyBootstrapped {
                    node: node.name.clone(),
                    members,
                });
            }
            EtcdSeen::None => {}
            EtcdSeen::Unreachable(failure) => unreachable.push(failure),
        }
    }
    if !unreachable.is_empty() {
        return Err(NodesError::BootstrapUndecided { unreachable });
    }
    let outcome = set
        .client(first)?
        .bootstrap()
        .await
        .map_err(|source| NodesError::Bootstrap {
            node: first.name.clone(),
            source: Box::new(source),
        })?;
    Ok(match outcome {
        BootstrapOutcome::Bootstrapped => BootstrapReport::Bootstrapped {
            node: first.name.clone(),
        },
        BootstrapOutcome::AlreadyBootstrapped => BootstrapReport::AlreadyBootstrapped {
            node: first.name.clone(),
            members: 0,
        },
    })
}

/// Asks one control plane for its local etcd member list. apid answering at all (version)
/// makes the node reachable; a member-list error from a reachable node means no etcd runs
/// there yet, unless its etcd service says it is running (then the answer is unknown).
async fn etcd_seen(set: &NodeSet, node: &NodeTarget) -> Result<EtcdSeen, NodesError> {
    let client = set.client(node)?;
    if let Err(error) = client.version().await {
        return Ok(EtcdSeen::Unreachable(NodeFailure::new(&node.name, &error)));
    }
    let error = match client.etcd_members(MemberListScope::Local).await {
        Ok(members) if !members.is_empty() => return Ok(EtcdSeen::Members(members.len())),
        Ok(_) => return Ok(EtcdSeen::None),
        Err(error) => error,
    };
    let etcd_running = match client.services().await {
        Ok(services) => services.iter().any(|s| s.id == "etcd" && s.state == "Running"),
        Err(services_error) => return Ok(EtcdSeen::Unreachable(NodeFailure::new(&node.name, &services_error))),
    };
    Ok(if etcd_running {
        EtcdSeen::Unreachable(NodeFailure::new(&node.name, &error))
    } else {
        tracing::debug!(node = %node.name, %error, "no etcd runs yet");
        EtcdSeen::None
    })
}
