//! The Kubernetes objects of one emulated cluster: Nodes, Pods, ReplicaSets and
//! PodDisruptionBudgets, and what the control plane does with them (scheduling, pod garbage
//! collection, the eviction check).
//!
//! This is the state model behind the emulated API server ([`super`]); it has no HTTP types.
//! A node's kubelet registers its Node when the node is configured and reports it Ready while
//! the node runs; a registered node gets the pods a fresh Talos cluster runs on every node
//! (the `kube-proxy` and `kube-flannel` DaemonSets, and on control planes the static pods of
//! the control-plane components). Two CoreDNS replicas with a PodDisruptionBudget
//! (`maxUnavailable: 1`) are scheduled once nodes exist, so every drain meets a budget. Real
//! Talos clusters have no CoreDNS budget; the emulator adds it to exercise the eviction path.
//!
//! Simplifications, all in the direction of less waiting: a pod replacing an evicted one is
//! Running and Ready at once, a pod is Ready exactly while its node's kubelet runs, a budget's
//! expected count is the number of pods it selects, and a node whose kubelet stops turns
//! `Unknown` at once (Kubernetes waits 40 s).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};

/// A Node as the API server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeNode {
    /// `metadata.name`: the node's hostname.
    pub name: String,
    /// `metadata.uid`: new on every registration, so a re-created node is told apart.
    pub uid: String,
    /// The address of the machine it runs on (its Talos node's address).
    pub address: IpAddr,
    /// Its InternalIP: the node IP its kubelet picked (`machine.kubelet.nodeIP`).
    pub internal_ip: IpAddr,
    /// Whether it carries the control-plane role (and taint).
    pub control_plane: bool,
    /// The kubelet version (`v1.34.1`).
    pub kubelet_version: String,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// Whether its kubelet runs and posts status (the Ready condition).
    pub ready: bool,
}

/// Who manages a pod (its controller owner reference), which decides how a drain treats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodOwner {
    /// No controller: nothing re-creates it once evicted.
    Unmanaged,
    /// A ReplicaSet of this name: re-created on another node when evicted.
    ReplicaSet(String),
    /// A DaemonSet of this name: one per node; drains leave it alone.
    DaemonSet(String),
    /// A StatefulSet of this name.
    StatefulSet(String),
    /// A static pod's mirror (owned by its Node): the API cannot evict what the kubelet runs
    /// from a file.
    Mirror,
}

/// A Pod as the API server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubePod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `spec.nodeName`; `None` while Pending (no schedulable node).
    pub node: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Its controller.
    pub owner: PodOwner,
}

/// A number or a percentage of pods (`intstr` in Kubernetes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaled {
    /// That many pods.
    Count(u32),
    /// That share of the expected pods, rounded up.
    Percent(u32),
}

impl Scaled {
    fn of(self, expected: u32) -> u32 {
        match self {
            Scaled::Count(n) => n,
            Scaled::Percent(p) => (u64::from(expected) * u64::from(p)).div_ceil(100) as u32,
        }
    }
}

/// The rule of a PodDisruptionBudget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetRule {
    /// `spec.minAvailable`.
    MinAvailable(Scaled),
    /// `spec.maxUnavailable`.
    MaxUnavailable(Scaled),
}

/// A PodDisruptionBudget (`policy/v1`), selecting pods by `matchLabels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisruptionBudget {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.selector.matchLabels`; empty selects every pod of the namespace.
    pub selector: BTreeMap<String, String>,
    /// `spec.minAvailable` or `spec.maxUnavailable`.
    pub rule: BudgetRule,
}

/// A budget's status as the disruption controller computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    /// `status.expectedPods`.
    pub expected: u32,
    /// `status.currentHealthy`: selected pods that are Ready.
    pub current_healthy: u32,
    /// `status.desiredHealthy`.
    pub desired_healthy: u32,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: u32,
}

/// Why the API server refuses an eviction, each answered as the real one answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvictionError {
    /// No such pod (404).
    #[error("pods \"{0}\" not found")]
    PodNotFound(String),
    /// The pod's budget allows no disruption now (429 TooManyRequests).
    #[error("Cannot evict pod as it would violate the pod's disruption budget.")]
    Blocked {
        /// The cause message naming the budget.
        cause: String,
    },
    /// More than one budget selects the pod (500).
    #[error("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")]
    MultipleBudgets,
}

/// Why a test control could not add an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// An object of that kind, namespace and name exists.
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists {
        /// `pods`, `poddisruptionbudgets`, `replicasets`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A pod was bound to a node that is not registered.
    #[error("node \"{0}\" not found")]
    NodeNotFound(String),
}

/// A ReplicaSet: keeps `replicas` pods with `labels` scheduled.
#[derive(Debug, Clone)]
struct ReplicaSet {
    replicas: u32,
    labels: BTreeMap<String, String>,
    tolerates_control_plane: bool,
}

type Key = (String, String);

#[derive(Debug, Default)]
struct Store {
    nodes: BTreeMap<String, KubeNode>,
    pods: BTreeMap<Key, KubePod>,
    budgets: BTreeMap<Key, DisruptionBudget>,
    replica_sets: BTreeMap<Key, ReplicaSet>,
    /// Bumped on every change; the lists' `resourceVersion`, and the source of uids.
    revision: u64,
    coredns_seeded: bool,
}

/// The Kubernetes objects of one emulated cluster (see the module documentation).
#[derive(Debug, Default)]
pub struct KubeObjects {
    store: Mutex<Store>,
}

const KUBE_SYSTEM: &str = "kube-system";
const COREDNS: &str = "coredns";

impl KubeObjects {
    /// The Nodes, by name.
    pub fn nodes(&self) -> Vec<KubeNode> {
        self.lock().nodes.values().cloned().collect()
    }

    /// One Node.
    pub fn node(&self, name: &str) -> Option<KubeNode> {
        self.lock().nodes.get(name).cloned()
    }

    /// Every Pod, by namespace and name.
    pub fn pods(&self) -> Vec<KubePod> {
        self.lock().pods.values().cloned().collect()
    }

    /// The pods bound to `node`.
    pub fn pods_on(&self, node: &str) -> Vec<KubePod> {
        self.lock()
            .pods
            .values()
            .filter(|p| p.node.as_deref() == Some(node))
            .cloned()
            .collect()
    }

    /// One Pod.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<KubePod> {
        self.lock().pods.get(&key(namespace, name)).cloned()
    }

    /// Whether the pod counts as healthy (Ready): bound to a node whose kubelet runs.
    pub fn pod_ready(&self, pod: &KubePod) -> bool {
        self.lock().pod_ready(pod)
    }

    /// Every PodDisruptionBudget with its status.
    pub fn budgets(&self) -> Vec<(DisruptionBudget, BudgetStatus)> {
        let store = self.lock();
        store
            .budgets
            .values()
            .map(|b| (b.clone(), store.budget_status(b)))
            .collect()
    }

    /// Test control: adds a pod as given (bound to `pod.node`, which must be registered, or
    /// Pending without one). An empty uid is filled in.
    ///
    /// # Errors
    ///
    /// The pod exists, or its node does not.
    pub fn add_pod(&self, mut pod: KubePod) -> Result<(), ObjectError> {
        let mut store = self.lock();
        if let Some(node) = &pod.node
            && !store.nodes.contains_key(node)
        {
            return Err(ObjectError::NodeNotFound(node.clone()));
        }
        if pod.uid.is_empty() {
            pod.uid = store.next_uid();
        }
        vacant(&mut store.pods, "pods", &pod.namespace, &pod.name)?.insert(pod);
        Ok(())
    }

    /// Test control: adds a ReplicaSet (a Deployment's) of `replicas` pods labelled
    /// `labels`, scheduled at once onto schedulable Ready workers.
    ///
    /// # Errors
    ///
    /// A ReplicaSet of that name exists.
    pub fn add_replica_set(
        &self,
        namespace: &str,
        name: &str,
        replicas: u32,
        labels: BTreeMap<String, String>,
    ) -> Result<(), ObjectError> {
        let mut store = self.lock();
        vacant(&mut store.replica_sets, "replicasets", namespace, name)?.insert(ReplicaSet {
            replicas,
            labels,
            tolerates_control_plane: false,
        });
        store.reconcile();
        Ok(())
    }

    /// Test control: adds a PodDisruptionBudget.
    ///
    /// # Errors
    ///
    /// A budget of that name exists in the namespace.
    pub fn add_budget(&self, budget: DisruptionBudget) -> Result<(), ObjectError> {
        let mut store = self.lock();
        vacant(
            &mut store.budgets,
            "poddisruptionbudgets",
            &budget.namespace,
            &budget.name,
        )?
        .insert(budget);
        Ok(())
    }

    /// Test control: removes a PodDisruptionBudget; returns true if and only if it existed.
    pub fn remove_budget(&self, namespace: &str, name: &str) -> bool {
        self.lock().budgets.remove(&key(namespace, name)).is_some()
    }

    /// The API's `PATCH spec.unschedulable`; `None` when the node does not exist.
    pub fn set_unschedulable(&self, name: &str, unschedulable: bool) -> Option<KubeNode> {
        let mut store = self.lock();
        let node = store.nodes.get_mut(name)?;
        node.unschedulable = unschedulable;
        let node = node.clone();
        store.revision += 1;
        if !unschedulable {
            store.reconcile();
        }
        Some(node)
    }

    /// The API's `DELETE` of a Node: the pods bound to it are garbage-collected (ReplicaSets
    /// re-create theirs elsewhere). Returns the deleted node, `None` when there was none.
    pub fn delete_node(&self, name: &str) -> Option<KubeNode> {
        let mut store = self.lock();
        let node = store.nodes.remove(name)?;
        store.pods.retain(|_, pod| pod.node.as_deref() != Some(name));
        store.revision += 1;
        store.reconcile();
        Some(node)
    }

    /// The eviction subresource: deletes the pod unless its PodDisruptionBudget forbids it,
    /// with the API server's rules (a pod that is not Running-and-bound ignores budgets; an
    /// unhealthy pod may go while the budget is met; otherwise one disruption must be
    /// allowed).
    ///
    /// # Errors
    ///
    /// See [`EvictionError`].
    pub fn evict(&self, namespace: &str, name: &str) -> Result<(), EvictionError> {
        let mut store = self.lock();
        let k = key(namespace, name);
        let pod = store
            .pods
            .get(&k)
            .cloned()
            .ok_or_else(|| EvictionError::PodNotFound(name.to_string()))?;
        if pod.node.is_some() {
            let budgets: Vec<DisruptionBudget> = store.budgets.values().filter(|b| b.selects(&pod)).cloned().collect();
            match budgets.as_slice() {
                [] => {}
                [budget] => {
                    let status = store.budget_status(budget);
                    let unhealthy_may_go = !store.pod_ready(&pod) && status.current_healthy >= status.desired_healthy;
                    if !unhealthy_may_go && status.disruptions_allowed == 0 {
                        return Err(EvictionError::Blocked {
                            cause: format!(
                                "The disruption budget {} needs {} healthy pods and has {} currently",
                                budget.name, status.desired_healthy, status.current_healthy
                            ),
                        });
                    }
                }
                _ => return Err(EvictionError::MultipleBudgets),
            }
        }
        store.pods.remove(&k);
        store.revision += 1;
        store.reconcile();
        Ok(())
    }

    /// A kubelet registered (or re-registered after a boot) from the machine on `address`
    /// with node IP `internal_ip`: the Node exists and is Ready. A new Node gets its
    /// DaemonSet and static pods.
    pub(crate) fn kubelet_up(
        &self,
        name: &str,
        address: IpAddr,
        internal_ip: IpAddr,
        control_plane: bool,
        kubelet_version: &str,
    ) {
        let mut store = self.lock();
        if let Some(node) = store.nodes.get_mut(name) {
            node.ready = true;
            node.address = address;
            node.internal_ip = internal_ip;
            node.kubelet_version = kubelet_version.to_string();
        } else {
            let uid = store.next_uid();
            store.nodes.insert(
                name.to_string(),
                KubeNode {
                    name: name.to_string(),
                    uid,
                    address,
                    internal_ip,
                    control_plane,
                    kubelet_version: kubelet_version.to_string(),
                    unschedulable: false,
                    ready: true,
                },
            );
            store.seed_node_pods(name, control_plane);
        }
        // A node that went away under another name at this address is gone for good.
        for node in store.nodes.values_mut() {
            if node.address == address && node.name != name {
                node.ready = false;
            }
        }
        store.revision += 1;
        store.reconcile();
    }

    /// The node at `address` stopped (power off, reset): its kubelet posts no more status.
    pub(crate) fn kubelet_down(&self, address: IpAddr) {
        let mut store = self.lock();
        for node in store.nodes.values_mut().filter(|n| n.address == address) {
            node.ready = false;
        }
        store.revision += 1;
    }

    /// The revision for list `resourceVersion`s.
    pub(crate) fn revision(&self) -> u64 {
        self.lock().revision
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        crate::lock::lock(&self.store)
    }
}

impl KubePod {
    /// A pod to add with [`KubeObjects::add_pod`] (its uid is filled in then).
    pub fn new(
        namespace: &str,
        name: &str,
        node: Option<&str>,
        labels: BTreeMap<String, String>,
        owner: PodOwner,
    ) -> KubePod {
        KubePod {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: String::new(),
            node: node.map(str::to_string),
            labels,
            owner,
        }
    }
}

impl DisruptionBudget {
    /// A budget selecting the pods of `namespace` that carry all of `selector`'s labels.
    pub fn new(namespace: &str, name: &str, selector: BTreeMap<String, String>, rule: BudgetRule) -> DisruptionBudget {
        DisruptionBudget {
            namespace: namespace.to_string(),
            name: name.to_string(),
            selector,
            rule,
        }
    }

    /// Returns true if and only if the budget selects `pod`.
    pub fn selects(&self, pod: &KubePod) -> bool {
        pod.namespace == self.namespace && self.selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
    }
}

impl Store {
    fn next_uid(&mut self) -> String {
        self.revision += 1;
        let digest = Sha256::digest(format!("uid-{}", self.revision).as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        crate::sim::talos::apid::uuid_text(bytes)
    }

    fn pod_ready(&self, pod: &KubePod) -> bool {
        pod.node
            .as_ref()
            .and_then(|n| self.nodes.get(n))
            .is_some_and(|n| n.ready)
    }

    fn budget_status(&self, budget: &DisruptionBudget) -> BudgetStatus {
        let selected: Vec<&KubePod> = self.pods.values().filter(|p| budget.selects(p)).collect();
        let expected = selected.len() as u32;
        let current_healthy = selected.iter().filter(|p| self.pod_ready(p)).count() as u32;
        let desired_healthy = match budget.rule {
            BudgetRule::MinAvailable(min) => min.of(expected),
            BudgetRule::MaxUnavailable(max) => expected.saturating_sub(max.of(expected)),
        };
        BudgetStatus {
            expected,
            current_healthy,
            desired_healthy,
            disruptions_allowed: current_healthy.saturating_sub(desired_healthy),
        }
    }

    fn seed_node_pods(&mut self, node: &str, control_plane: bool) {
        let mut seeded = vec![
            ("kube-proxy", PodOwner::DaemonSet("kube-proxy".into())),
            ("kube-flannel", PodOwner::DaemonSet("kube-flannel".into())),
        ];
        if control_plane {
            seeded.extend([
                ("kube-apiserver", PodOwner::Mirror),
                ("kube-controller-manager", PodOwner::Mirror),
                ("kube-scheduler", PodOwner::Mirror),
            ]);
        }
        for (app, owner) in seeded {
            let name = match owner {
                PodOwner::Mirror => format!("{app}-{node}"),
                _ => format!("{app}-{}", suffix(&format!("{app}/{node}"), 5)),
            };
            let uid = self.next_uid();
            let labels = BTreeMap::from([("k8s-app".to_string(), app.to_string())]);
            self.pods.insert(
                key(KUBE_SYSTEM, &name),
                KubePod {
                    namespace: KUBE_SYSTEM.into(),
                    name,
                    uid,
                    node: Some(node.to_string()),
                    labels,
                    owner,
                },
            );
        }
        if !self.coredns_seeded {
            self.coredns_seeded = true;
            let labels = BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]);
            self.replica_sets.insert(
                key(KUBE_SYSTEM, &format!("{COREDNS}-{}", suffix(COREDNS, 10))),
                ReplicaSet {
                    replicas: 2,
                    labels: labels.clone(),
                    tolerates_control_plane: true,
                },
            );
            self.budgets.insert(
                key(KUBE_SYSTEM, COREDNS),
                DisruptionBudget {
                    namespace: KUBE_SYSTEM.into(),
                    name: COREDNS.into(),
                    selector: labels,
                    rule: BudgetRule::MaxUnavailable(Scaled::Count(1)),
                },
            );
        }
    }

    /// The ReplicaSet controller and scheduler: each ReplicaSet gets back to its replica
    /// count; new pods go to the schedulable Ready node with the fewest of its pods (Pending
    /// when there is none); Pending pods are bound when a node becomes available.
    fn reconcile(&mut self) {
        let sets: Vec<(Key, ReplicaSet)> = self
            .replica_sets
            .iter()
            .map(|(k, rs)| (k.clone(), rs.clone()))
            .collect();
        for ((namespace, name), rs) in sets {
            let owner = PodOwner::ReplicaSet(name.clone());
            let mine: Vec<Key> = self
                .pods
                .iter()
                .filter(|(_, p)| p.namespace == namespace && p.owner == owner)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &mine {
                if self.pods.get(k).is_some_and(|p| p.node.is_none())
                    && let Some(node) = self.pick_node(&namespace, &owner, rs.tolerates_control_plane)
                    && let Some(pod) = self.pods.get_mut(k)
                {
                    pod.node = Some(node);
                }
            }
            for _ in (mine.len() as u32)..rs.replicas {
                self.revision += 1;
                let pod_name = format!("{name}-{}", suffix(&format!("{name}/{}", self.revision), 5));
                let node = self.pick_node(&namespace, &owner, rs.tolerates_control_plane);
                let uid = self.next_uid();
                self.pods.insert(
                    key(&namespace, &pod_name),
                    KubePod {
                        namespace: namespace.clone(),
                        name: pod_name,
                        uid,
                        node,
                        labels: rs.labels.clone(),
                        owner: owner.clone(),
                    },
                );
            }
        }
    }

    fn pick_node(&self, namespace: &str, owner: &PodOwner, tolerates_control_plane: bool) -> Option<String> {
        self.nodes
            .values()
            .filter(|n| n.ready && !n.unschedulable && (tolerates_control_plane || !n.control_plane))
            .min_by_key(|n| {
                let count = self
                    .pods
                    .values()
                    .filter(|p| p.namespace == namespace && &p.owner == owner && p.node.as_deref() == Some(&n.name))
                    .count();
                (count, n.name.clone())
            })
            .map(|n| n.name.clone())
    }
}

/// The free slot for a new object, or [`ObjectError::AlreadyExists`].
fn vacant<'a, V>(
    objects: &'a mut BTreeMap<Key, V>,
    kind: &'static str,
    namespace: &str,
    name: &str,
) -> Result<std::collections::btree_map::VacantEntry<'a, Key, V>, ObjectError> {
    match objects.entry(key(namespace, name)) {
        std::collections::btree_map::Entry::Vacant(slot) => Ok(slot),
        std::collections::btree_map::Entry::Occupied(_) => Err(ObjectError::AlreadyExists {
            kind,
            name: name.to_string(),
        }),
    }
}

fn key(namespace: &str, name: &str) -> Key {
    (namespace.to_string(), name.to_string())
}

/// A stable lowercase alphanumeric suffix of `len` characters derived from `seed`, like the
/// random suffixes Kubernetes controllers append.
fn suffix(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    Sha256::digest(seed.as_bytes())
        .iter()
        .take(len)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn cluster() -> KubeObjects {
        let objects = KubeObjects::default();
        objects.kubelet_up("cp-1", ip(1), ip(1), true, "v1.34.1");
        objects.kubelet_up("w-1", ip(2), ip(2), false, "v1.34.1");
        objects.kubelet_up("w-2", ip(3), ip(3), false, "v1.34.1");
        objects
    }

    fn labels(app: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("app".to_string(), app.to_string())])
    }

    /// Two replicas of `app` in `default` with a budget of `rule` named after it.
    fn workload(objects: &KubeObjects, app: &str, rule: BudgetRule) {
        objects.add_replica_set("default", app, 2, labels(app)).expect("new");
        objects
            .add_budget(DisruptionBudget::new("default", app, labels(app), rule))
            .expect("new");
    }

    fn app_pods(objects: &KubeObjects, app: &str) -> Vec<KubePod> {
        objects.pods().into_iter().filter(|p| p.labels == labels(app)).collect()
    }

    #[test]
    fn nodes_get_daemonset_and_static_pods_and_coredns_is_scheduled() {
        let objects = cluster();
        let on_cp = objects.pods_on("cp-1");
        assert!(
            on_cp
                .iter()
                .any(|p| p.name == "kube-apiserver-cp-1" && p.owner == PodOwner::Mirror)
        );
        assert_eq!(
            objects
                .pods_on("w-1")
                .iter()
                .filter(|p| matches!(p.owner, PodOwner::DaemonSet(_)))
                .count(),
            2
        );
        let coredns: Vec<_> = objects
            .pods()
            .into_iter()
            .filter(|p| matches!(&p.owner, PodOwner::ReplicaSet(n) if n.starts_with("coredns-")))
            .collect();
        assert_eq!(coredns.len(), 2);
        assert!(coredns.iter().all(|p| p.node.is_some()));
    }

    #[test]
    fn a_budget_at_its_minimum_refuses_and_a_replica_set_moves_its_pods() {
        let objects = cluster();
        workload(&objects, "web", BudgetRule::MinAvailable(Scaled::Count(2)));
        let web = app_pods(&objects, "web");
        assert_eq!(web.len(), 2);
        assert_ne!(web[0].node, web[1].node, "spread over the two workers");
        assert_eq!(
            objects.evict("default", &web[0].name),
            Err(EvictionError::Blocked {
                cause: "The disruption budget web needs 2 healthy pods and has 2 currently".into()
            })
        );
        assert!(objects.remove_budget("default", "web"));
        objects.set_unschedulable("w-1", true).expect("exists");
        let on_w1 = web
            .iter()
            .find(|p| p.node.as_deref() == Some("w-1"))
            .expect("one on w-1");
        objects.evict("default", &on_w1.name).expect("no budget now");
        let after = app_pods(&objects, "web");
        assert_eq!(after.len(), 2, "re-created");
        assert!(after.iter().all(|p| p.node.as_deref() == Some("w-2")), "{after:?}");
        assert_eq!(
            objects.evict("default", &on_w1.name),
            Err(EvictionError::PodNotFound(on_w1.name.clone()))
        );
    }

    #[test]
    fn percentages_round_up_and_unhealthy_pods_may_go_while_the_budget_is_met() {
        let objects = cluster();
        workload(&objects, "api", BudgetRule::MaxUnavailable(Scaled::Percent(10)));
        let (_, status) = objects
            .budgets()
            .into_iter()
            .find(|(b, _)| b.name == "api")
            .expect("added");
        assert_eq!(
            status,
            BudgetStatus {
                expected: 2,
                current_healthy: 2,
                desired_healthy: 1,
                disruptions_allowed: 1
            },
            "10 % of 2 rounds up to 1 unavailable"
        );
        objects.kubelet_down(ip(2));
        let on_w1 = objects
            .pods_on("w-1")
            .into_iter()
            .find(|p| p.labels == labels("api"))
            .expect("one on w-1");
        assert!(!objects.pod_ready(&on_w1));
        let (_, status) = objects
            .budgets()
            .into_iter()
            .find(|(b, _)| b.name == "api")
            .expect("added");
        assert_eq!((status.current_healthy, status.disruptions_allowed), (1, 0));
        objects
            .evict("default", &on_w1.name)
            .expect("an unhealthy pod may go while the budget is met");
    }

    #[test]
    fn deleting_a_node_collects_its_pods_and_two_budgets_are_an_error() {
        let objects = cluster();
        let pod = KubePod::new("default", "solo", Some("w-2"), labels("solo"), PodOwner::Unmanaged);
        objects.add_pod(pod.clone()).expect("new");
        assert!(matches!(objects.add_pod(pod), Err(ObjectError::AlreadyExists { .. })));
        for name in ["a", "b"] {
            objects
                .add_budget(DisruptionBudget::new(
                    "default",
                    name,
                    labels("solo"),
                    BudgetRule::MaxUnavailable(Scaled::Count(1)),
                ))
                .expect("new");
        }
        assert_eq!(objects.evict("default", "solo"), Err(EvictionError::MultipleBudgets));
        assert!(objects.delete_node("w-2").is_some());
        assert!(objects.pod("default", "solo").is_none());
        assert!(objects.pods_on("w-2").is_empty());
        assert!(objects.delete_node("w-2").is_none());
    }
}
