//! The emulated etcd of a Talos cluster, shared by the emulated nodes of one process.
//!
//! Nodes find their cluster in a [`ClusterRegistry`] by `cluster.id`. A [`TalosCluster`]
//! tracks which control planes exist, whether etcd was bootstrapped, the member list and
//! which members are healthy (their node runs and still holds that member's data), and so
//! the quorum. It also plays trustd for workers: the OS CA key a configured control plane
//! publishes signs the workers' apid certificates.
//!
//! Membership follows etcd: bootstrap once; control planes configured later join while
//! the cluster has quorum; removing a member shrinks the cluster (a removed node does not
//! rejoin until its data is wiped); a removal that would leave fewer healthy members than
//! the new quorum is refused ("unhealthy cluster", etcd's strict reconfiguration check);
//! without quorum, cluster-wide reads and changes fail.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::kube_api::KubeObjects;
use crate::redact::Redacted;

/// All emulated clusters of a process (or of a test), keyed by cluster ID.
#[derive(Debug, Default)]
pub struct ClusterRegistry {
    clusters: Mutex<HashMap<String, Arc<TalosCluster>>>,
}

impl ClusterRegistry {
    /// An empty registry. Tests make one each, so clusters of parallel tests never meet.
    pub fn new() -> Arc<ClusterRegistry> {
        Arc::new(ClusterRegistry::default())
    }

    /// The cluster with this ID, if any node of it was configured.
    pub fn cluster(&self, id: &str) -> Option<Arc<TalosCluster>> {
        self.lock().get(id).cloned()
    }

    /// IDs of the known clusters.
    pub fn cluster_ids(&self) -> Vec<String> {
        let mut ids: Vec<_> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    pub(crate) fn ensure(&self, id: &str) -> Arc<TalosCluster> {
        self.lock()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(TalosCluster::new(id)))
            .clone()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<TalosCluster>>> {
        self.clusters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One emulated cluster: its etcd membership and its OS CA for trustd.
#[derive(Debug)]
pub struct TalosCluster {
    id: String,
    state: Mutex<EtcdState>,
    kubernetes: KubeObjects,
}

#[derive(Debug, Default)]
struct EtcdState {
    bootstrapped: bool,
    members: Vec<Member>,
    control_planes: BTreeMap<IpAddr, ControlPlane>,
    os_ca: Option<(String, Redacted<String>)>,
    /// Election leases (the VIP controller): key → (holder, simulated expiry in ms).
    leases: BTreeMap<String, (String, u64)>,
}

#[derive(Debug, Clone)]
struct Member {
    id: u64,
    address: IpAddr,
    hostname: String,
}

#[derive(Debug, Clone)]
struct ControlPlane {
    hostname: String,
    running: bool,
    /// The member whose data this node's etcd directory holds.
    data_of: Option<u64>,
}

/// One etcd member as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Member ID.
    pub id: u64,
    /// Member name (node hostname).
    pub hostname: String,
    /// The node's address (peer URL `https://ADDR:2380`).
    pub address: IpAddr,
    /// Whether its node runs and holds this member's data.
    pub healthy: bool,
}

/// Quorum arithmetic of the member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Voting members.
    pub members: usize,
    /// Healthy members.
    pub healthy: usize,
    /// Members needed for quorum (`members / 2 + 1`).
    pub needed: usize,
}

impl Quorum {
    /// Returns true if and only if enough members are healthy to elect a leader.
    pub fn has_quorum(&self) -> bool {
        self.members > 0 && self.healthy >= self.needed
    }

    fn of(members: usize, healthy: usize) -> Quorum {
        Quorum {
            members,
            healthy,
            needed: members / 2 + 1,
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} members healthy, {} needed",
            self.healthy, self.members, self.needed
        )
    }
}

/// Why an etcd operation failed (mapped to gRPC codes by the node).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// etcd was already bootstrapped (or this node already holds etcd data).
    #[error("etcd data directory is not empty")]
    AlreadyBootstrapped,
    /// This node runs no etcd member.
    #[error("etcd is not running on this node")]
    NotRunning,
    /// The cluster has no quorum.
    #[error("etcdserver: no leader (quorum lost: {0})")]
    NoQuorum(Quorum),
    /// No member with that ID.
    #[error("etcdserver: member not found")]
    MemberNotFound,
    /// The removal would leave the cluster without quorum.
    #[error("etcdserver: unhealthy cluster (after removal: {0})")]
    Unhealthy(Quorum),
}

impl TalosCluster {
    fn new(id: &str) -> TalosCluster {
        TalosCluster {
            id: id.to_string(),
            state: Mutex::new(EtcdState::default()),
            kubernetes: KubeObjects::default(),
        }
    }

    /// The cluster's Kubernetes objects (Nodes, Pods, budgets), which its API servers serve.
    pub fn kubernetes(&self) -> &KubeObjects {
        &self.kubernetes
    }

    /// The cluster ID (`cluster.id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns true if and only if etcd was bootstrapped.
    pub fn is_bootstrapped(&self) -> bool {
        self.lock().bootstrapped
    }

    /// The member list with health.
    pub fn members(&self) -> Vec<MemberView> {
        let state = self.lock();
        state.members.iter().map(|m| state.view(m)).collect()
    }

    /// The quorum arithmetic now.
    pub fn quorum(&self) -> Quorum {
        self.lock().quorum()
    }

    /// The healthy member running on `address`, if any (that node's etcd is up).
    pub fn member_on(&self, address: IpAddr) -> Option<MemberView> {
        let state = self.lock();
        state
            .members
            .iter()
            .find(|m| m.address == address && state.healthy(m))
            .map(|m| state.view(m))
    }

    /// An etcd election campaign at simulated time `now_ms`: the holder of `key` renews its
    /// lease for `ttl` (so does another node's campaign while the holder runs with a
    /// healthy member: its session's keepalive); when the lease is free or expired,
    /// `candidate` takes it. Returns
    /// the holder afterwards, or `None` when etcd has no quorum (nothing can be decided).
    pub fn campaign(&self, key: &str, candidate: &str, now_ms: u64, ttl: std::time::Duration) -> Option<String> {
        let mut state = self.lock();
        if !state.quorum().has_quorum() {
            return None;
        }
        let expiry = now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        // The holder's etcd session keeps its lease alive on its own (keepalive) for as long
        // as the holder runs with a healthy member; only a dead holder's lease runs down.
        let holder_alive = state.leases.get(key).is_some_and(|(holder, _)| {
            state.members.iter().any(|m| {
                state.healthy(m)
                    && state
                        .control_planes
                        .get(&m.address)
                        .is_some_and(|cp| cp.hostname == *holder)
            })
        });
        let lease = state
            .leases
            .entry(key.to_string())
            .or_insert_with(|| (candidate.to_string(), expiry));
        if holder_alive {
            lease.1 = lease.1.max(expiry);
        } else if lease.0 == candidate || lease.1 <= now_ms {
            *lease = (candidate.to_string(), expiry);
        }
        Some(lease.0.clone())
    }

    /// The holder of `key`'s lease at `now_ms`, if it has not expired.
    pub fn lease_holder(&self, key: &str, now_ms: u64) -> Option<String> {
        let state = self.lock();
        state
            .leases
            .get(key)
            .filter(|(_, expiry)| *expiry > now_ms)
            .map(|(holder, _)| holder.clone())
    }

    /// `candidate` gives up `key` if it holds it (a failed acquisition resigns).
    pub fn resign(&self, key: &str, candidate: &str) {
        let mut state = self.lock();
        if state.leases.get(key).is_some_and(|(holder, _)| holder == candidate) {
            state.leases.remove(key);
        }
    }

    pub(crate) fn register_control_plane(&self, address: IpAddr, hostname: &str) {
        let mut state = self.lock();
        let entry = state.control_planes.entry(address).or_insert_with(|| ControlPlane {
            hostname: hostname.to_string(),
            running: true,
            data_of: None,
        });
        entry.hostname = hostname.to_string();
        entry.running = true;
        state.join_pending();
    }

    /// The node was wiped: it is no longer a control plane of this cluster. Its member (if
    /// it did not leave) stays in the list, unhealthy.
    pub(crate) fn unregister(&self, address: IpAddr) {
        let mut state = self.lock();
        state.control_planes.remove(&address);
    }

    /// The node went down or came back.
    pub(crate) fn set_running(&self, address: IpAddr, running: bool) {
        let mut state = self.lock();
        if let Some(cp) = state.control_planes.get_mut(&address) {
            cp.running = running;
        }
        if running {
            state.join_pending();
        }
    }

    pub(crate) fn bootstrap(&self, address: IpAddr) -> Result<u64, EtcdError> {
        let mut state = self.lock();
        let Some(cp) = state.control_planes.get(&address) else {
            return Err(EtcdError::NotRunning);
        };
        if cp.data_of.is_some() || (state.bootstrapped && state.has_surviving_data()) {
            return Err(EtcdError::AlreadyBootstrapped);
        }
        let hostname = cp.hostname.clone();
        // Talos bootstraps any control plane whose etcd directory is empty: once every
        // member's data is gone (all wiped), this starts a new etcd cluster.
        state.members.clear();
        let id = state.add_member(address, hostname);
        state.bootstrapped = true;
        state.join_pending();
        Ok(id)
    }

    /// Reads the member list as `address` would: `local` is a serializable read that works
    /// without quorum.
    pub(crate) fn list_members(&self, address: IpAddr, local: bool) -> Result<Vec<MemberView>, EtcdError> {
        let state = self.lock();
        state.require_running(address)?;
        let quorum = state.quorum();
        if !local && !quorum.has_quorum() {
            return Err(EtcdError::NoQuorum(quorum));
        }
        Ok(state.members.iter().map(|m| state.view(m)).collect())
    }

    pub(crate) fn remove_member(&self, caller: IpAddr, id: u64) -> Result<(), EtcdError> {
        let mut state = self.lock();
        state.require_running(caller)?;
        let quorum = state.quorum();
        if !quorum.has_quorum() {
            return Err(EtcdError::NoQuorum(quorum));
        }
        let index = state
            .members
            .iter()
            .position(|m| m.id == id)
            .ok_or(EtcdError::MemberNotFound)?;
        let removed_healthy = state.healthy(&state.members[index]);
        let after = Quorum::of(quorum.members - 1, quorum.healthy - usize::from(removed_healthy));
        if !after.has_quorum() {
            return Err(EtcdError::Unhealthy(after));
        }
        state.members.remove(index);
        state.join_pending();
        Ok(())
    }

    pub(crate) fn leave(&self, address: IpAddr) -> Result<(), EtcdError> {
        let id = {
            let state = self.lock();
            state.require_running(address)?;
            state
                .control_planes
                .get(&address)
                .and_then(|cp| cp.data_of)
                .ok_or(EtcdError::NotRunning)?
        };
        self.remove_member(address, id)
    }

    /// The node's etcd data directory was wiped (EPHEMERAL reset).
    pub(crate) fn wipe_data(&self, address: IpAddr) {
        let mut state = self.lock();
        if let Some(cp) = state.control_planes.get_mut(&address) {
            cp.data_of = None;
        }
    }

    pub(crate) fn publish_os_ca(&self, crt_pem: &str, key_pem: &Redacted<String>) {
        self.lock().os_ca = Some((crt_pem.to_string(), key_pem.clone()));
    }

    /// The OS CA key for a worker whose config carries only the CA certificate, if a
    /// configured control plane published the matching key (emulated trustd).
    pub(crate) fn os_ca_key_for(&self, crt_pem: &str) -> Option<Redacted<String>> {
        let state = self.lock();
        let (crt, key) = state.os_ca.as_ref()?;
        (crt.trim() == crt_pem.trim()).then(|| key.clone())
    }

    fn lock(&self) -> MutexGuard<'_, EtcdState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl EtcdState {
    /// Returns true if and only if some control plane (running or not) still holds the data
    /// of a current member: the etcd cluster exists.
    fn has_surviving_data(&self) -> bool {
        self.members
            .iter()
            .any(|m| self.control_planes.values().any(|cp| cp.data_of == Some(m.id)))
    }

    fn healthy(&self, member: &Member) -> bool {
        self.control_planes
            .get(&member.address)
            .is_some_and(|cp| cp.running && cp.data_of == Some(member.id))
    }

    fn view(&self, member: &Member) -> MemberView {
        MemberView {
            id: member.id,
            hostname: member.hostname.clone(),
            address: member.address,
            healthy: self.healthy(member),
        }
    }

    fn quorum(&self) -> Quorum {
        let healthy = self.members.iter().filter(|m| self.healthy(m)).count();
        Quorum::of(self.members.len(), healthy)
    }

    fn require_running(&self, address: IpAddr) -> Result<(), EtcdError> {
        let running = self
            .control_planes
            .get(&address)
            .filter(|cp| cp.running)
            .and_then(|cp| cp.data_of)
            .is_some_and(|id| self.members.iter().any(|m| m.id == id));
        if running { Ok(()) } else { Err(EtcdError::NotRunning) }
    }

    fn add_member(&mut self, address: IpAddr, hostname: String) -> u64 {
        let mut id: u64 = rand::random();
        while id == 0 || self.members.iter().any(|m| m.id == id) {
            id = rand::random();
        }
        self.members.push(Member { id, address, hostname });
        if let Some(cp) = self.control_planes.get_mut(&address) {
            cp.data_of = Some(id);
        }
        id
    }

    /// Running control planes with empty etcd data join a bootstrapped cluster that has
    /// quorum, unless a stale member still claims their address (etcd: "peer URLs already
    /// exist").
    fn join_pending(&mut self) {
        if !self.bootstrapped {
            return;
        }
        let candidates: Vec<(IpAddr, String)> = self
            .control_planes
            .iter()
            .filter(|(_, cp)| cp.running && cp.data_of.is_none())
            .map(|(addr, cp)| (*addr, cp.hostname.clone()))
            .collect();
        for (address, hostname) in candidates {
            if !self.quorum().has_quorum() || self.members.iter().any(|m| m.address == address) {
                continue;
            }
            self.add_member(address, hostname);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn three_members() -> Arc<TalosCluster> {
        let registry = ClusterRegistry::new();
        let cluster = registry.ensure("c1");
        for n in 1..=3 {
            cluster.register_control_plane(ip(n), &format!("cp-{n}"));
        }
        cluster.bootstrap(ip(1)).expect("first bootstrap");
        cluster
    }

    #[test]
    fn bootstrap_once_then_everyone_joins() {
        let cluster = three_members();
        assert_eq!(cluster.bootstrap(ip(1)), Err(EtcdError::AlreadyBootstrapped));
        assert_eq!(cluster.bootstrap(ip(2)), Err(EtcdError::AlreadyBootstrapped));
        assert_eq!(cluster.members().len(), 3);
        assert_eq!(
            cluster.quorum(),
            Quorum {
                members: 3,
                healthy: 3,
                needed: 2
            }
        );
    }

    #[test]
    fn removal_shrinks_and_strict_check_protects_quorum() {
        let cluster = three_members();
        let members = cluster.members();
        cluster.remove_member(ip(1), members[2].id).expect("3 -> 2");
        assert_eq!(cluster.quorum().members, 2);
        assert!(cluster.quorum().has_quorum());
        // The removed node keeps stale data: it does not rejoin on its own.
        cluster.set_running(ip(3), true);
        assert_eq!(cluster.members().len(), 2);
        // Wiping its data lets it join again as a new member.
        cluster.wipe_data(ip(3));
        cluster.set_running(ip(3), true);
        assert_eq!(cluster.members().len(), 3);
        assert!(cluster.members().iter().all(|m| m.id != members[2].id));
    }

    #[test]
    fn two_of_three_down_loses_quorum() {
        let cluster = three_members();
        cluster.set_running(ip(2), false);
        assert!(cluster.quorum().has_quorum());
        cluster.set_running(ip(3), false);
        let quorum = cluster.quorum();
        assert!(!quorum.has_quorum());
        assert_eq!(quorum.to_string(), "1 of 3 members healthy, 2 needed");
        assert!(matches!(
            cluster.list_members(ip(1), false),
            Err(EtcdError::NoQuorum(_))
        ));
        assert_eq!(cluster.list_members(ip(1), true).expect("local read").len(), 3);
        let id = cluster.members()[1].id;
        assert!(matches!(cluster.remove_member(ip(1), id), Err(EtcdError::NoQuorum(_))));
    }

    #[test]
    fn removing_a_healthy_member_while_one_is_down_is_refused() {
        let cluster = three_members();
        cluster.set_running(ip(3), false);
        let healthy_other = cluster.member_on(ip(2)).expect("cp-2 is a member").id;
        assert_eq!(
            cluster.remove_member(ip(1), healthy_other),
            Err(EtcdError::Unhealthy(Quorum {
                members: 2,
                healthy: 1,
                needed: 2
            }))
        );
        let down = cluster
            .members()
            .into_iter()
            .find(|m| !m.healthy)
            .expect("cp-3 down")
            .id;
        cluster
            .remove_member(ip(1), down)
            .expect("removing the dead member is fine");
        assert_eq!(cluster.quorum().members, 2);
    }

    #[test]
    fn leave_and_not_running() {
        let cluster = three_members();
        cluster.leave(ip(2)).expect("leaves");
        assert_eq!(cluster.leave(ip(2)), Err(EtcdError::NotRunning));
        assert_eq!(cluster.list_members(ip(2), true), Err(EtcdError::NotRunning));
        assert_eq!(cluster.remove_member(ip(1), 12345), Err(EtcdError::MemberNotFound));
    }
}
