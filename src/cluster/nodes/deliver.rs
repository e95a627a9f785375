//! Config delivery: through the Talos API in maintenance mode (the default), or as the
//! server's `user_data` ([`user_data`]).
//!
//! A node in maintenance mode answers anyone without a client certificate, so the key it
//! presents on first contact is pinned for the ApplyConfiguration that follows (a different
//! machine answering at that address is refused). The apply itself is sent once per
//! attempt: when its answer is lost, the node's mode is looked at again before anything is
//! re-sent. After the node restarts apid in configured mode, mutual TLS with the cluster's
//! admin certificate must work before the node counts as delivered.

use futures::StreamExt as _;

use super::{ConfigHash, NodeFailure, NodeSet, NodeTarget, NodesError, is_member_of};
use crate::node::etcd_member::{MemberRemoval, ensure_member_removed};
use crate::retry::Policy;
use crate::talos::api::{
    ApplyMode, CallError, CallOptions, Credentials, DetectedMode, MemberListScope, TalosClient, detect_mode,
};
use crate::talos::config::ConfigDocuments;
use crate::talos::config::validate::{HCLOUD_USER_DATA_LIMIT, UserDataEncoding, user_data_bytes};

/// How many nodes are delivered to at the same time.
const PARALLEL: usize = 50;

/// What delivery did on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The node was in maintenance mode; it now runs its config and apid answers with
    /// mutual TLS.
    Applied,
    /// The node is configured and the recorded hash is that of its config: nothing sent.
    Unchanged,
    /// The node is configured with another config, or one whose hash was not recorded:
    /// left to [`super::rolling_update`].
    Changed,
}

/// One node's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The node name.
    pub name: String,
    /// What was done.
    pub delivery: Delivery,
    /// The hash of the node's config (to record once applied).
    pub hash: ConfigHash,
}

/// A step of one node's delivery, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStep {
    /// The etcd member (ID) an earlier server of this control plane left was removed
    /// through a peer before the node got its config ([`forget_stale_member`]).
    StaleMemberRemoved(u64),
    /// The config was accepted in maintenance mode; the node reboots into configured mode.
    Sent,
    /// The node's delivery ended so.
    Done(Delivery),
}

/// Delivers every node's config through the Talos API, up to [`PARALLEL`] nodes at a time,
/// in node order.
///
/// # Errors
/// [`NodesError::NotDelivered`] naming every node that failed (the others were delivered),
/// or [`NodesError::Credentials`].
pub async fn deliver(set: &NodeSet) -> Result<Vec<Delivered>, NodesError> {
    deliver_observed(set, &|_, _| {}).await
}

/// [`deliver()`], telling `observe` each node's steps as they happen.
///
/// # Errors
/// As [`deliver()`].
pub async fn deliver_observed(
    set: &NodeSet,
    observe: &(dyn Fn(&NodeTarget, DeliveryStep) + Send + Sync),
) -> Result<Vec<Delivered>, NodesError> {
    let results: Vec<_> = futures::stream::iter(&set.nodes)
        .map(|node| async move {
            let result = deliver_one(set, node, observe).await;
            if let Ok(delivery) = &result {
                observe(node, DeliveryStep::Done(*delivery));
            }
            (node, result)
        })
        .buffered(PARALLEL)
        .collect()
        .await;
    let mut delivered = Vec::new();
    let mut failures = Vec::new();
    for (node, result) in results {
        match result {
            Ok(delivery) => delivered.push(Delivered {
                name: node.name.clone(),
                delivery,
                hash: node.hash(),
            }),
            Err(error @ NodesError::Credentials { .. }) => return Err(error),
            Err(error) => failures.push(NodeFailure::new(&node.name, &error)),
        }
    }
    if failures.is_empty() {
        Ok(delivered)
    } else {
        Err(NodesError::NotDelivered { failures })
    }
}

/// Delivers one node's config: look at its mode, apply in maintenance, wait for mTLS.
async fn deliver_one(
    set: &NodeSet,
    node: &NodeTarget,
    observe: &(dyn Fn(&NodeTarget, DeliveryStep) + Send + Sync),
) -> Result<Delivery, NodesError> {
    let single = CallOptions {
        retry: Policy::none(),
        ..set.call
    };
    let mut backoff = set.wait_policy(set.waits.boot).backoff();
    let mut sent = false;
    loop {
        let failure = match detect_mode(node.api_addr(), single).await {
            Ok(DetectedMode::Configured) if sent => break,
            Ok(DetectedMode::Configured) if node.has_applied_config() => return Ok(Delivery::Unchanged),
            Ok(DetectedMode::Configured) => return Ok(Delivery::Changed),
            Ok(DetectedMode::Maintenance { server_key }) => {
                if !sent && let Some(member) = forget_stale_member(set, node).await? {
                    observe(node, DeliveryStep::StaleMemberRemoved(member));
                }
                let client = TalosClient::new(
                    node.api_addr(),
                    &Credentials::Maintenance { pin: Some(server_key) },
                    single,
                )
                .map_err(|e| NodesError::call(&node.name, e))?;
                sent = true;
                match client.apply_configuration(node.config.expose(), ApplyMode::Auto).await {
                    Ok(_) => {
                        observe(node, DeliveryStep::Sent);
                        break;
                    }
                    // Refused (an invalid config, a pin mismatch): sending again changes nothing.
                    Err(error) if !error.call_error().is_some_and(CallError::is_transient) => {
                        return Err(NodesError::call(&node.name, error));
                    }
                    Err(error) => error,
                }
            }
            Err(error) => error,
        };
        match backoff.next() {
            Some(delay) => {
                tracing::debug!(node = %node.name, error = %failure, "not delivered yet");
                tokio::time::sleep(delay).await;
            }
            None => return Err(NodesError::call(&node.name, failure)),
        }
    }
    set.client(node)?
        .wait_ready(set.waits.boot)
        .await
        .map_err(|e| NodesError::call(&node.name, e))?;
    Ok(Delivery::Applied)
}

/// Removes the etcd member an earlier server of control plane `node` (now in maintenance
/// mode, so not a member itself) left behind: its server was deleted outside talos-hcloud
/// and created again, and while the old member is listed the new node waits forever to join.
/// Asked of the first control plane that was configured before (a config hash is recorded
/// on its server); a new cluster has none, so there it costs nothing. Returns the member
/// removed.
///
/// # Errors
/// [`NodesError::Call`] when the member is listed and its removal fails.
async fn forget_stale_member(set: &NodeSet, node: &NodeTarget) -> Result<Option<u64>, NodesError> {
    if !node.is_control_plane() {
        return Ok(None);
    }
    let peers = set
        .control_planes()
        .filter(|peer| peer.name != node.name && peer.applied.is_some());
    for peer in peers {
        // One try per peer: a peer that does not answer leaves the question to the next one.
        let client = set.client_once(peer.api_addr())?;
        let Ok(members) = client.etcd_members(MemberListScope::Cluster).await else {
            continue;
        };
        let Some(member) = members.iter().find(|m| is_member_of(m, node)) else {
            return Ok(None);
        };
        // The removal itself with the usual retries: this peer answered.
        return match ensure_member_removed(&set.client(peer)?, member.id).await {
            Ok(MemberRemoval::Removed) => Ok(Some(member.id)),
            Ok(MemberRemoval::AlreadyGone) => Ok(None),
            Err(error) => Err(NodesError::call(&peer.name, error)),
        };
    }
    Ok(None)
}

/// The `user_data` payload that delivers `node`'s config at first boot: base64 of the
/// gzip-compressed YAML (the smallest form Talos's hcloud platform reads).
///
/// # Errors
/// [`NodesError::UserDataTooLarge`] over Hetzner's 32 KiB, naming the node;
/// [`NodesError::NotAConfig`] when the bytes are not a config.
pub fn user_data(node: &NodeTarget) -> Result<Vec<u8>, NodesError> {
    let not_a_config = || NodesError::NotAConfig {
        node: node.name.clone(),
    };
    let text = std::str::from_utf8(node.config.expose()).map_err(|_| not_a_config())?;
    let docs = ConfigDocuments::parse(text).map_err(|_| not_a_config())?;
    let payload = user_data_bytes(&docs, UserDataEncoding::Base64Gzip);
    if payload.len() > HCLOUD_USER_DATA_LIMIT {
        return Err(NodesError::UserDataTooLarge {
            node: node.name.clone(),
            size: payload.len(),
            limit: HCLOUD_USER_DATA_LIMIT,
        });
    }
    Ok(payload)
}
