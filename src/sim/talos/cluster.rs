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
//!
//! Quorum is always seen from somewhere: a member counts for a node only while it is
//! healthy (its node runs, holds its data, and its etcd is not stalled by a hang) and the
//! emulated [network](super::network) lets the two reach each other on port 2380 of the
//! addresses they advertise (`cluster.etcd.advertisedSubnets`), through the firewalls of
//! their machines. A node [partitioned](ClusterRegistry::set_partitioned) from the others
//! sees only itself, so a partitioned minority loses quorum while the majority keeps
//! working; a control plane advertising an address its peers' firewalls close never
//! joins.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::kube_api::KubeObjects;
use super::network::{Host, Network, NetworkView};
use super::node::NodeShared;
use crate::lock::lock;
use crate::redact::Redacted;

/// All emulated clusters of a process (or of a test), keyed by cluster ID, with the
/// network they share (machine addresses, firewalls, partitions) and the nodes running on
/// it.
#[derive(Debug, Default)]
pub struct ClusterRegistry {
    clusters: Mutex<HashMap<String, Arc<TalosCluster>>>,
    network: Arc<Network>,
    nodes: Mutex<HashMap<IpAddr, Weak<NodeShared>>>,
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

    /// Cuts `address` off from every other node (`true`) or heals it (`false`): its etcd
    /// reaches no peer and no peer reaches it. Applies to nodes on that address now and
    /// later (the network, not the node, is broken), until healed.
    pub fn set_partitioned(&self, address: IpAddr, partitioned: bool) {
        self.network.set_cut(address, partitioned);
        if !partitioned {
            // Healed members catch up; waiting control planes may join now.
            self.join_pending();
        }
    }

    /// Returns true if and only if `address` is partitioned from the other nodes.
    pub fn is_partitioned(&self, address: IpAddr) -> bool {
        self.network.is_cut(address)
    }

    /// Replaces what the network knows about the machines behind node addresses (their
    /// private addresses and firewalls), as the machine runner reads them from the emulated
    /// project. A node address without an entry is on an open network. When the facts
    /// change, waiting control planes join if they now reach a quorum, and kubelets
    /// re-pick their node IP.
    pub fn set_hosts(&self, hosts: std::collections::BTreeMap<IpAddr, Host>) {
        if !self.network.set_hosts(hosts) {
            return;
        }
        self.join_pending();
        let nodes: Vec<Arc<NodeShared>> = lock(&self.nodes).values().filter_map(Weak::upgrade).collect();
        for node in nodes {
            node.refresh_kubelet();
        }
    }

    /// The network as it is now.
    pub(crate) fn network(&self) -> NetworkView {
        self.network.view()
    }

    fn join_pending(&self) {
        let clusters: Vec<Arc<TalosCluster>> = self.lock().values().cloned().collect();
        for cluster in clusters {
            let view = self.network.view();
            cluster.lock().join_pending(&view);
        }
    }

    pub(crate) fn ensure(&self, id: &str) -> Arc<TalosCluster> {
        self.lock()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(TalosCluster::new(id, self.network.clone())))
            .clone()
    }

    /// Records the node listening on `address` (the last one started there wins).
    pub(crate) fn add_node(&self, address: IpAddr, node: Weak<NodeShared>) {
        lock(&self.nodes).insert(address, node);
    }

    /// The node running on `address`, if any.
    pub(crate) fn node(&self, address: IpAddr) -> Option<Arc<NodeShared>> {
        let mut nodes = lock(&self.nodes);
        let node = nodes.get(&address).and_then(Weak::upgrade);
        if node.is_none() {
            nodes.remove(&address);
        }
        node
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<TalosCluster>>> {
        lock(&self.clusters)
    }
}

/// One emulated cluster: its etcd membership and its OS CA for trustd.
#[derive(Debug)]
pub struct TalosCluster {
    id: String,
    state: Mutex<EtcdState>,
    kubernetes: KubeObjects,
    network: Arc<Network>,
    removals: Mutex<Vec<RemovalCall>>,
}

/// One request to take a member out of etcd (`EtcdLeaveCluster`, a graceful reset's leave,
/// or `EtcdRemoveMemberByID`), as the cluster saw it: tests count them to prove a member is
/// removed exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalCall {
    /// The member ID asked for.
    pub member: u64,
    /// The node the request reached.
    pub by: IpAddr,
    /// The node asked to leave itself (not a removal by ID).
    pub leave: bool,
    /// The member was removed (false: refused).
    pub removed: bool,
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
    /// The addresses its peer URLs name (what it advertised when it was added).
    peers: Vec<IpAddr>,
}

#[derive(Debug, Clone)]
struct ControlPlane {
    hostname: String,
    /// `cluster.etcd.advertisedSubnets` of its configuration.
    advertised_subnets: Vec<String>,
    running: bool,
    /// Its etcd is stalled (the node hangs): the member answers nobody.
    stalled: bool,
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
    /// The node's address.
    pub address: IpAddr,
    /// The addresses of its peer URLs (`https://ADDR:2380`): what its etcd advertised.
    pub peer_addresses: Vec<IpAddr>,
    /// Whether its node runs, holds this member's data and its etcd is not stalled.
    pub healthy: bool,
}

/// What the etcd member on one node reports about itself (EtcdStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberStatus {
    /// Its member ID.
    pub member_id: u64,
    /// The leader it sees (`None` without quorum).
    pub leader: Option<u64>,
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
    /// No address of the node lies in `cluster.etcd.advertisedSubnets`: Talos never
    /// starts etcd there.
    #[error("etcd cannot start: no address of this node is in cluster.etcd.advertisedSubnets {0:?}")]
    NoAdvertisedAddress(Vec<String>),
}

impl TalosCluster {
    fn new(id: &str, network: Arc<Network>) -> TalosCluster {
        TalosCluster {
            id: id.to_string(),
            state: Mutex::new(EtcdState::default()),
            kubernetes: KubeObjects::default(),
            network,
            removals: Mutex::new(Vec::new()),
        }
    }

    /// Every member removal or leave requested so far, in order.
    pub fn removal_calls(&self) -> Vec<RemovalCall> {
        lock(&self.removals).clone()
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

    /// The quorum arithmetic on the best-connected side of the network: with no partition,
    /// the whole cluster's.
    pub fn quorum(&self) -> Quorum {
        let view = self.network.view();
        let state = self.lock();
        let total = state.members.len();
        state
            .members
            .iter()
            .map(|m| state.quorum_from(m.address, &view))
            .max_by_key(|q| q.healthy)
            .unwrap_or(Quorum::of(total, 0))
    }

    /// The quorum arithmetic as the etcd member on `address` sees it: the healthy members
    /// it can reach (itself included).
    pub fn quorum_from(&self, address: IpAddr) -> Quorum {
        let view = self.network.view();
        self.lock().quorum_from(address, &view)
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
    /// healthy member on the quorum side: its session's keepalive); when the lease is free
    /// or expired, `candidate` takes it. Returns the holder afterwards, or `None` when the
    /// candidate's etcd has no quorum (nothing can be decided from there).
    pub fn campaign(&self, key: &str, candidate: &str, now_ms: u64, ttl: std::time::Duration) -> Option<String> {
        let view = self.network.view();
        let mut state = self.lock();
        let has_quorum = |state: &EtcdState, hostname: &str| {
            state
                .control_planes
                .iter()
                .find(|(_, cp)| cp.hostname == hostname)
                .is_some_and(|(address, _)| state.quorum_from(*address, &view).has_quorum())
        };
        if !has_quorum(&state, candidate) {
            return None;
        }
        let expiry = now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        // The holder's etcd session keeps its lease alive on its own (keepalive) for as long
        // as the holder runs with a healthy member that reaches a quorum; only a dead or
        // cut-off holder's lease runs down.
        let holder_alive = state.leases.get(key).is_some_and(|(holder, _)| {
            state.members.iter().any(|m| {
                state.healthy(m)
                    && state
                        .control_planes
                        .get(&m.address)
                        .is_some_and(|cp| cp.hostname == *holder)
            }) && has_quorum(&state, holder)
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

    /// The node on `address` runs etcd as a control plane of this cluster, advertising
    /// addresses in `advertised_subnets` (`cluster.etcd.advertisedSubnets`).
    pub(crate) fn register_control_plane(&self, address: IpAddr, hostname: &str, advertised_subnets: &[String]) {
        let view = self.network.view();
        let mut state = self.lock();
        let entry = state.control_planes.entry(address).or_insert_with(|| ControlPlane {
            hostname: hostname.to_string(),
            advertised_subnets: Vec::new(),
            running: true,
            stalled: false,
            data_of: None,
        });
        entry.hostname = hostname.to_string();
        entry.advertised_subnets = advertised_subnets.to_vec();
        entry.running = true;
        state.join_pending(&view);
    }

    /// The node was wiped: it is no longer a control plane of this cluster. Its member (if
    /// it did not leave) stays in the list, unhealthy.
    pub(crate) fn unregister(&self, address: IpAddr) {
        let mut state = self.lock();
        state.control_planes.remove(&address);
    }

    /// The node went down or came back (either way its etcd is no longer stalled).
    pub(crate) fn set_running(&self, address: IpAddr, running: bool) {
        let view = self.network.view();
        let mut state = self.lock();
        if let Some(cp) = state.control_planes.get_mut(&address) {
            cp.running = running;
            cp.stalled = false;
        }
        if running {
            state.join_pending(&view);
        }
    }

    /// The node's etcd stalls (its node hangs: the member answers nobody) or recovers.
    pub(crate) fn set_stalled(&self, address: IpAddr, stalled: bool) {
        let view = self.network.view();
        let mut state = self.lock();
        if let Some(cp) = state.control_planes.get_mut(&address) {
            cp.stalled = stalled;
        }
        if !stalled {
            state.join_pending(&view);
        }
    }

    pub(crate) fn bootstrap(&self, address: IpAddr) -> Result<u64, EtcdError> {
        let view = self.network.view();
        let mut state = self.lock();
        let Some(cp) = state.control_planes.get(&address) else {
            return Err(EtcdError::NotRunning);
        };
        if cp.data_of.is_some() || (state.bootstrapped && state.has_surviving_data()) {
            return Err(EtcdError::AlreadyBootstrapped);
        }
        let hostname = cp.hostname.clone();
        let peers = view.etcd_addresses(address, &cp.advertised_subnets);
        if peers.is_empty() {
            return Err(EtcdError::NoAdvertisedAddress(cp.advertised_subnets.clone()));
        }
        // Talos bootstraps any control plane whose etcd directory is empty: once every
        // member's data is gone (all wiped), this starts a new etcd cluster.
        state.members.clear();
        let id = state.add_member(address, hostname, peers);
        state.bootstrapped = true;
        state.join_pending(&view);
        Ok(id)
    }

    /// Reads the member list as `address` would: `local` is a serializable read that works
    /// without quorum.
    pub(crate) fn list_members(&self, address: IpAddr, local: bool) -> Result<Vec<MemberView>, EtcdError> {
        let view = self.network.view();
        let state = self.lock();
        state.require_running(address)?;
        let quorum = state.quorum_from(address, &view);
        if !local && !quorum.has_quorum() {
            return Err(EtcdError::NoQuorum(quorum));
        }
        Ok(state.members.iter().map(|m| state.view(m)).collect())
    }

    /// The member on `address` and the leader it sees: the first member (in join order)
    /// that is healthy and reachable from it, while it has quorum; no leader without. A
    /// leader keeps leading while it stays healthy, as Raft's does.
    pub(crate) fn member_status(&self, address: IpAddr) -> Result<MemberStatus, EtcdError> {
        let view = self.network.view();
        let state = self.lock();
        state.require_running(address)?;
        let member_id = state
            .control_planes
            .get(&address)
            .and_then(|cp| cp.data_of)
            .ok_or(EtcdError::NotRunning)?;
        let leader = state
            .quorum_from(address, &view)
            .has_quorum()
            .then(|| {
                state
                    .members
                    .iter()
                    .find(|m| state.healthy(m) && state.links(&view, address, m))
                    .map(|m| m.id)
            })
            .flatten();
        Ok(MemberStatus { member_id, leader })
    }

    pub(crate) fn remove_member(&self, caller: IpAddr, id: u64) -> Result<(), EtcdError> {
        self.observed_removal(caller, id, false)
    }

    /// Removes member `id` through `caller`, recording the request.
    fn observed_removal(&self, caller: IpAddr, id: u64, leave: bool) -> Result<(), EtcdError> {
        let outcome = self.remove(caller, id);
        lock(&self.removals).push(RemovalCall {
            member: id,
            by: caller,
            leave,
            removed: outcome.is_ok(),
        });
        outcome
    }

    fn remove(&self, caller: IpAddr, id: u64) -> Result<(), EtcdError> {
        let view = self.network.view();
        let mut state = self.lock();
        state.require_running(caller)?;
        let quorum = state.quorum_from(caller, &view);
        if !quorum.has_quorum() {
            return Err(EtcdError::NoQuorum(quorum));
        }
        let index = state
            .members
            .iter()
            .position(|m| m.id == id)
            .ok_or(EtcdError::MemberNotFound)?;
        let removed = &state.members[index];
        let removed_counts = state.healthy(removed) && state.links(&view, caller, removed);
        let after = Quorum::of(quorum.members - 1, quorum.healthy - usize::from(removed_counts));
        if !after.has_quorum() {
            return Err(EtcdError::Unhealthy(after));
        }
        state.members.remove(index);
        state.join_pending(&view);
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
        self.observed_removal(address, id, true)
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
        lock(&self.state)
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
            .is_some_and(|cp| cp.running && !cp.stalled && cp.data_of == Some(member.id))
    }

    fn view(&self, member: &Member) -> MemberView {
        MemberView {
            id: member.id,
            hostname: member.hostname.clone(),
            address: member.address,
            peer_addresses: member.peers.clone(),
            healthy: self.healthy(member),
        }
    }

    /// The quorum as seen from `from`: healthy members the network lets it reach.
    fn quorum_from(&self, from: IpAddr, view: &NetworkView) -> Quorum {
        let healthy = self
            .members
            .iter()
            .filter(|m| self.healthy(m) && self.links(view, from, m))
            .count();
        Quorum::of(self.members.len(), healthy)
    }

    /// Returns true if and only if the etcd on node `from` and `member` reach each other
    /// on their peer URLs.
    fn links(&self, view: &NetworkView, from: IpAddr, member: &Member) -> bool {
        view.peers_reach(from, &self.peers_of(from, view), member.address, &member.peers)
    }

    /// The peer addresses of the etcd on node `address`: its member's, else what it would
    /// advertise joining now.
    fn peers_of(&self, address: IpAddr, view: &NetworkView) -> Vec<IpAddr> {
        let cp = self.control_planes.get(&address);
        if let Some(member) = cp
            .and_then(|cp| cp.data_of)
            .and_then(|id| self.members.iter().find(|m| m.id == id))
        {
            return member.peers.clone();
        }
        view.etcd_addresses(address, cp.map_or(&[][..], |cp| &cp.advertised_subnets))
    }

    fn require_running(&self, address: IpAddr) -> Result<(), EtcdError> {
        let running = self
            .control_planes
            .get(&address)
            .filter(|cp| cp.running && !cp.stalled)
            .and_then(|cp| cp.data_of)
            .is_some_and(|id| self.members.iter().any(|m| m.id == id));
        if running { Ok(()) } else { Err(EtcdError::NotRunning) }
    }

    fn add_member(&mut self, address: IpAddr, hostname: String, peers: Vec<IpAddr>) -> u64 {
        let mut id: u64 = rand::random();
        while id == 0 || self.members.iter().any(|m| m.id == id) {
            id = rand::random();
        }
        self.members.push(Member {
            id,
            address,
            hostname,
            peers,
        });
        if let Some(cp) = self.control_planes.get_mut(&address) {
            cp.data_of = Some(id);
        }
        id
    }

    /// Running control planes with empty etcd data join a bootstrapped cluster whose
    /// quorum they reach on the addresses they advertise, unless a stale member still
    /// claims their address (etcd: "peer URLs already exist"). One whose advertised
    /// subnets match no address of its machine runs no etcd and never joins.
    fn join_pending(&mut self, view: &NetworkView) {
        if !self.bootstrapped {
            return;
        }
        let candidates: Vec<(IpAddr, String, Vec<IpAddr>)> = self
            .control_planes
            .iter()
            .filter(|(_, cp)| cp.running && !cp.stalled && cp.data_of.is_none())
            .map(|(addr, cp)| {
                (
                    *addr,
                    cp.hostname.clone(),
                    view.etcd_addresses(*addr, &cp.advertised_subnets),
                )
            })
            .collect();
        for (address, hostname, peers) in candidates {
            if peers.is_empty()
                || !self.quorum_from(address, view).has_quorum()
                || self.members.iter().any(|m| m.address == address)
            {
                continue;
            }
            self.add_member(address, hostname, peers);
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
        three_members_on(&ClusterRegistry::new())
    }

    fn three_members_on(registry: &ClusterRegistry) -> Arc<TalosCluster> {
        let cluster = registry.ensure("c1");
        for n in 1..=3 {
            cluster.register_control_plane(ip(n), &format!("cp-{n}"), &[]);
        }
        cluster.bootstrap(ip(1)).expect("first bootstrap");
        cluster
    }

    #[test]
    fn a_partitioned_minority_loses_quorum_the_majority_keeps_it() {
        let registry = ClusterRegistry::new();
        let cluster = three_members_on(&registry);
        registry.set_partitioned(ip(3), true);
        assert!(registry.is_partitioned(ip(3)));
        let minority = cluster.quorum_from(ip(3));
        assert_eq!(minority.to_string(), "1 of 3 members healthy, 2 needed");
        assert!(matches!(
            cluster.list_members(ip(3), false),
            Err(EtcdError::NoQuorum(_))
        ));
        assert_eq!(cluster.list_members(ip(3), true).expect("local read").len(), 3);
        assert_eq!(cluster.quorum_from(ip(1)).healthy, 2);
        assert!(cluster.quorum().has_quorum(), "the majority side has quorum");
        // The majority may not remove another reachable member: one left of two is no quorum.
        let cp2 = cluster.member_on(ip(2)).expect("cp-2").id;
        assert!(matches!(
            cluster.remove_member(ip(1), cp2),
            Err(EtcdError::Unhealthy(_))
        ));
        // Elections: the cut-off node decides nothing, and a holder cut off loses its lease.
        let ttl = std::time::Duration::from_secs(60);
        assert_eq!(cluster.campaign("vip", "cp-3", 0, ttl), None);
        registry.set_partitioned(ip(3), false);
        assert_eq!(cluster.campaign("vip", "cp-3", 0, ttl).as_deref(), Some("cp-3"));
        registry.set_partitioned(ip(3), true);
        assert_eq!(cluster.campaign("vip", "cp-1", 61_000, ttl).as_deref(), Some("cp-1"));
        // Two partitions: every node alone, nobody has quorum.
        registry.set_partitioned(ip(2), true);
        assert!(!cluster.quorum().has_quorum());
        registry.set_partitioned(ip(2), false);
        registry.set_partitioned(ip(3), false);
        assert_eq!(cluster.quorum_from(ip(3)).healthy, 3);
    }

    #[test]
    fn a_stalled_member_is_unhealthy_until_it_recovers_or_restarts() {
        let cluster = three_members();
        cluster.set_stalled(ip(2), true);
        assert!(cluster.member_on(ip(2)).is_none());
        assert_eq!(cluster.quorum().healthy, 2);
        assert_eq!(cluster.list_members(ip(2), true), Err(EtcdError::NotRunning));
        cluster.set_stalled(ip(2), false);
        assert_eq!(cluster.quorum().healthy, 3);
        cluster.set_stalled(ip(3), true);
        cluster.set_running(ip(3), false);
        cluster.set_running(ip(3), true);
        assert_eq!(cluster.quorum().healthy, 3, "a restart ends the stall");
    }

    #[test]
    fn a_node_partitioned_before_it_joins_waits_for_the_heal() {
        let registry = ClusterRegistry::new();
        let cluster = three_members_on(&registry);
        registry.set_partitioned(ip(4), true);
        cluster.register_control_plane(ip(4), "cp-4", &[]);
        assert_eq!(cluster.members().len(), 3, "it cannot reach the quorum to join");
        registry.set_partitioned(ip(4), false);
        assert_eq!(cluster.members().len(), 4, "it joins once healed");
    }

    #[test]
    fn etcd_follows_the_advertised_subnets_of_a_machine_on_a_private_network() {
        let registry = ClusterRegistry::new();
        let subnet = ["10.0.1.0/24".to_string()];
        let host = |last: u8| Host {
            private: vec![(1, IpAddr::from([10, 0, 1, last]))],
            filter: None,
        };
        registry.set_hosts(BTreeMap::from([(ip(1), host(1)), (ip(2), host(2))]));
        let cluster = registry.ensure("c1");
        cluster.register_control_plane(ip(1), "cp-1", &subnet);
        cluster.register_control_plane(ip(2), "cp-2", &["10.9.0.0/16".to_string()]);
        assert_eq!(
            cluster.bootstrap(ip(2)),
            Err(EtcdError::NoAdvertisedAddress(vec!["10.9.0.0/16".into()])),
            "no address of cp-2 is in its subnets: no etcd"
        );
        cluster.bootstrap(ip(1)).expect("cp-1 bootstraps");
        let members = cluster.members();
        assert_eq!(members.len(), 1, "cp-2 runs no etcd, so it never joins");
        assert_eq!(members[0].peer_addresses, [IpAddr::from([10, 0, 1, 1])]);
        // A node without machine facts is on the open network: it advertises its address.
        cluster.register_control_plane(ip(3), "cp-3", &subnet);
        assert_eq!(cluster.member_on(ip(3)).expect("cp-3 joined").peer_addresses, [ip(3)]);
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
        let cp2 = cluster.member_on(ip(2)).expect("cp-2").id;
        cluster.leave(ip(2)).expect("leaves");
        assert_eq!(cluster.leave(ip(2)), Err(EtcdError::NotRunning));
        assert_eq!(cluster.list_members(ip(2), true), Err(EtcdError::NotRunning));
        assert_eq!(cluster.remove_member(ip(1), 12345), Err(EtcdError::MemberNotFound));
        let calls = cluster.removal_calls();
        let seen: Vec<_> = calls.iter().map(|c| (c.member, c.by, c.leave, c.removed)).collect();
        assert_eq!(seen, [(cp2, ip(2), true, true), (12345, ip(1), false, false)]);
    }
}
