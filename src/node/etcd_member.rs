//! Removing a dead control plane's etcd member through another control plane, so that a
//! resumed or repeated run is harmless.
//!
//! etcd answers a removal of an unknown member with `NotFound` ("member not found"); for a
//! runbook that may run twice, "already gone" is the goal reached, so the member list is read
//! first and a `NotFound` is taken as done. A removal etcd refuses for quorum ("unhealthy
//! cluster") stays an error.

use crate::talos::api::{self, MemberListScope, TalosClient};

/// What [`ensure_member_removed`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRemoval {
    /// The member was removed now.
    Removed,
    /// The member was not (or no longer) in the cluster.
    AlreadyGone,
}

/// Makes sure etcd member `member_id` is not in the cluster, asking `client`'s target (a
/// healthy control plane other than the member's).
///
/// # Errors
///
/// The member list cannot be read (no quorum), or etcd refuses the removal.
pub async fn ensure_member_removed(client: &TalosClient, member_id: u64) -> Result<MemberRemoval, api::Error> {
    let members = client.etcd_members(MemberListScope::Cluster).await?;
    if !members.iter().any(|m| m.id == member_id) {
        return Ok(MemberRemoval::AlreadyGone);
    }
    match client.etcd_remove_member(member_id).await {
        Ok(()) => Ok(MemberRemoval::Removed),
        // Removed in between (another run, another operator).
        Err(error) if error.code() == Some(tonic::Code::NotFound) => Ok(MemberRemoval::AlreadyGone),
        Err(error) => Err(error),
    }
}
