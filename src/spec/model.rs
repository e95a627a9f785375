//! The checked cluster description: every value typed and every cross-field rule of
//! `docs/cluster-yaml.md` already verified. Built only by [`super::load`]; the fields are
//! public for reading.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net};
use serde::{Serialize, Serializer};

use super::catalog::{self, Architecture, LoadBalancerTypeInfo, LocationInfo, ServerTypeInfo};
use super::names::{ClusterName, LoadBalancerName, NodeName, PoolName, Prefix};
use super::version::{KubernetesVersion, TalosVersion};

/// The name of the folder beside cluster.yaml that holds each cluster's local files.
pub const LOCAL_DIR_NAME: &str = ".talos-hcloud";

/// A checked cluster.yaml.
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    /// The file it was loaded from, as the user named it.
    pub path: PathBuf,
    /// The folder relative paths in the file are resolved against (the file's folder).
    pub base_dir: PathBuf,
    /// The cluster name (label value of `talos-hcloud/cluster`).
    pub name: ClusterName,
    /// The prefix of every Hetzner resource name.
    pub prefix: Prefix,
    /// The default location of servers and load balancers.
    pub location: Location,
    /// Talos version, schematic and snapshot architectures.
    pub talos: Talos,
    /// The Kubernetes version.
    pub kubernetes: Kubernetes,
    /// Address ranges.
    pub network: Network,
    /// How the Kubernetes and Talos APIs are reached.
    pub endpoint: Endpoint,
    /// Who may reach the Talos API (50000) and the Kubernetes API (6443).
    pub firewall: Firewall,
    /// The control plane nodes (role `controlplane`, no pool).
    pub controlplane: NodeGroup,
    /// The worker pools, in file order.
    pub workers: Vec<NodeGroup>,
    /// User load balancers (not the API endpoint), in file order.
    pub load_balancers: Vec<LoadBalancer>,
    /// Machine-config patch files, resolved from the glob patterns.
    pub patches: Patches,
    /// Sysctls merged after the patches (values as literal text).
    pub sysctls: BTreeMap<String, String>,
}

impl Spec {
    /// Every node: control planes first, then each pool's nodes in file order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.controlplane
            .nodes
            .iter()
            .chain(self.workers.iter().flat_map(|pool| pool.nodes.iter()))
    }

    /// The node called `name`, if any.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes().find(|node| node.name.as_str() == name)
    }

    /// The worker pool called `name`, if any.
    pub fn pool(&self, name: &str) -> Option<&NodeGroup> {
        self.workers
            .iter()
            .find(|pool| pool.pool.as_ref().is_some_and(|p| p.as_str() == name))
    }

    /// The cluster's local folder: `.talos-hcloud/<cluster name>/` in the folder that holds
    /// cluster.yaml (design.md §3).
    ///
    /// Anchored at cluster.yaml rather than the working directory, so `-c
    /// clusters/prod/cluster.yaml` finds `clusters/prod/.talos-hcloud/<name>/` from any
    /// directory, like the schematic and patch paths in the file. For `-c cluster.yaml`
    /// it is `./.talos-hcloud/<name>/`. Holds the secrets bundle and what is derived
    /// from it; everything else lives in Hetzner Cloud, found by labels.
    pub fn local_dir(&self) -> PathBuf {
        self.base_dir.join(LOCAL_DIR_NAME).join(self.name.as_str())
    }

    /// The secrets bundle: `<local dir>/secrets.yaml`.
    pub fn secrets_path(&self) -> PathBuf {
        self.local_dir().join("secrets.yaml")
    }

    /// Where `config gen` writes machine configs and the talosconfig by default:
    /// `<local dir>/configs/`.
    pub fn configs_dir(&self) -> PathBuf {
        self.local_dir().join("configs")
    }

    /// The architectures snapshots are needed for (see [`Talos::architectures`]).
    pub fn architectures(&self) -> &[Architecture] {
        &self.talos.architectures
    }
}

/// Declares a newtype over a catalogue entry that is looked up, shown and serialized by its
/// API name, so every catalogue type reads the same in messages and JSON.
macro_rules! catalog_entry {
    ($(#[$doc:meta])* $name:ident($info:ty), $lookup:path, $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(&'static $info);

        impl $name {
            /// Looks up the entry by its API name.
            pub fn from_name(name: &str) -> Option<$name> {
                $lookup(name).map($name)
            }

            #[doc = concat!("The API name, e.g. `", $example, "`.")]
            pub fn name(&self) -> &'static str {
                self.0.name
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.0.name)
            }
        }
    };
}

catalog_entry!(
    /// A Hetzner location from the catalogue.
    Location(LocationInfo),
    catalog::location,
    "fsn1"
);

impl Location {
    /// The network zone, e.g. `eu-central`.
    pub fn network_zone(&self) -> NetworkZone {
        NetworkZone(self.0.network_zone)
    }

    /// The city, for messages.
    pub fn city(&self) -> &'static str {
        self.0.city
    }
}

/// A Hetzner network zone, e.g. `eu-central`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NetworkZone(&'static str);

impl NetworkZone {
    /// Looks up a network zone by name.
    pub fn from_name(name: &str) -> Option<NetworkZone> {
        catalog::NETWORK_ZONES
            .iter()
            .find(|z| **z == name)
            .map(|z| NetworkZone(z))
    }

    /// The API name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for NetworkZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

catalog_entry!(
    /// A Hetzner server type from the catalogue, with its architecture.
    ServerType(ServerTypeInfo),
    catalog::server_type,
    "cax11"
);

impl ServerType {
    /// Its CPU architecture.
    pub fn architecture(&self) -> Architecture {
        self.0.architecture
    }

    /// Returns true if and only if Hetzner is phasing this type out.
    pub fn is_deprecated(&self) -> bool {
        self.0.deprecated
    }
}

catalog_entry!(
    /// A load balancer type from the catalogue.
    LoadBalancerType(LoadBalancerTypeInfo),
    catalog::load_balancer_type,
    "lb11"
);

impl LoadBalancerType {
    /// How many services it can have.
    pub fn max_services(&self) -> usize {
        self.0.max_services
    }

    /// How many targets it can have.
    pub fn max_targets(&self) -> usize {
        self.0.max_targets
    }
}

/// `talos:`.
#[derive(Debug, Clone, Serialize)]
pub struct Talos {
    /// The Talos release installed on every node.
    pub version: TalosVersion,
    /// The Image Factory schematic the snapshots are built from.
    pub schematic: Schematic,
    /// The architectures snapshots are built for, sorted: `talos.architectures` when
    /// given, else those of the server types in use. Every server type's architecture is
    /// in this list.
    pub architectures: Vec<Architecture>,
    /// Returns true if `architectures` was written in the file (not derived).
    pub architectures_explicit: bool,
}

/// An Image Factory schematic, checked strictly by `factory::schematic` while cluster.yaml
/// is validated, with its offline-computed ID.
#[derive(Debug, Clone, Serialize)]
pub struct Schematic {
    /// Where the schematic was written.
    pub source: SchematicSource,
    /// The schematic document (`customization: …`) as YAML text.
    pub yaml: String,
    /// The parsed schematic.
    #[serde(skip)]
    pub parsed: crate::factory::Schematic,
    /// Its Image Factory ID (sha256 of the canonical YAML).
    pub id: crate::factory::SchematicId,
}

/// Where a schematic was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "lowercase")]
pub enum SchematicSource {
    /// A file; the path is resolved against the folder of cluster.yaml.
    File(PathBuf),
    /// An inline `talos.schematic: { customization: … }` block in cluster.yaml.
    Inline,
}

/// `kubernetes:`.
#[derive(Debug, Clone, Serialize)]
pub struct Kubernetes {
    /// The Kubernetes release.
    pub version: KubernetesVersion,
}

/// `network:`: the Hetzner private network and the in-cluster ranges.
#[derive(Debug, Clone, Serialize)]
pub struct Network {
    /// The private network's range (RFC 1918, at least /24).
    pub cidr: Ipv4Net,
    /// The cloud subnet the nodes live in (inside `cidr`, at least /30).
    pub subnet: Ipv4Net,
    /// The subnet's network zone (contains every location used).
    pub zone: NetworkZone,
    /// Pod addresses (overlaps neither `cidr` nor `services`).
    pub pods: Ipv4Net,
    /// Service addresses (overlaps neither `cidr` nor `pods`).
    pub services: Ipv4Net,
}

impl Network {
    /// Talos's default pod range, used when `network.pods` is not given.
    pub const DEFAULT_PODS: &'static str = "10.244.0.0/16";
    /// Talos's default service range, used when `network.services` is not given.
    pub const DEFAULT_SERVICES: &'static str = "10.96.0.0/12";

    /// The network's gateway, which Hetzner takes for itself: the first host address of
    /// `cidr` (reference/hcloud-api.md §14).
    pub fn gateway(&self) -> Ipv4Addr {
        first_host(self.cidr)
    }
}

/// The first host address of a range (the address after the network address).
pub(crate) fn first_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).saturating_add(1))
}

/// How clients reach the Kubernetes API (6443) and Talos API (50000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// A Hetzner floating IP that Talos moves between control planes (Talos VIP).
    FloatingIp,
    /// A Hetzner load balancer in front of the control planes.
    LoadBalancer,
}

impl Endpoint {
    /// The spelling in cluster.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::FloatingIp => "floating-ip",
            Endpoint::LoadBalancer => "load-balancer",
        }
    }

    /// Parses the spelling in cluster.yaml.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        [Endpoint::FloatingIp, Endpoint::LoadBalancer]
            .into_iter()
            .find(|e| e.as_str() == name)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `firewall:`.
#[derive(Debug, Clone, Serialize)]
pub struct Firewall {
    /// Source ranges allowed to reach ports 50000 and 6443 (at least one).
    pub admin_cidrs: Vec<IpNet>,
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs etcd and the Kubernetes control plane.
    ControlPlane,
    /// Runs workloads.
    Worker,
}

impl Role {
    /// The label value and Talos machine type: `controlplane` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "controlplane",
            Role::Worker => "worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The control plane or one worker pool: nodes of one server type, one placement group.
#[derive(Debug, Clone, Serialize)]
pub struct NodeGroup {
    /// `controlplane` or `worker`.
    pub role: Role,
    /// The pool name (workers only).
    pub pool: Option<PoolName>,
    /// The server type of every node of the group.
    #[serde(rename = "type")]
    pub server_type: ServerType,
    /// The nodes, in file order (or numbered `cp-1…`, `<pool>-1…` from `count`).
    pub nodes: Vec<Node>,
}

impl NodeGroup {
    /// The architecture of the group's server type.
    pub fn architecture(&self) -> Architecture {
        self.server_type.architecture()
    }
}

/// One server of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The node name (unique in the cluster).
    pub name: NodeName,
    /// Control plane or worker.
    pub role: Role,
    /// The worker pool (workers only).
    pub pool: Option<PoolName>,
    /// The Hetzner server type.
    #[serde(rename = "type")]
    pub server_type: ServerType,
    /// The CPU architecture (of the server type).
    pub architecture: Architecture,
    /// Where the server runs (node, group or cluster default).
    pub location: Location,
    /// A fixed private address inside the subnet, if one was given.
    pub ip: Option<Ipv4Addr>,
}

/// A user load balancer in front of a worker pool.
#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancer {
    /// Its name (the Hetzner name is prefix + name).
    pub name: LoadBalancerName,
    /// lb11, lb21 or lb31.
    #[serde(rename = "type")]
    pub lb_type: LoadBalancerType,
    /// Where it runs.
    pub location: Location,
    /// The worker pool whose nodes are its targets.
    pub target_pool: PoolName,
    /// TCP services, unique listen ports.
    pub services: Vec<LoadBalancerService>,
}

/// One TCP service of a load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoadBalancerService {
    /// The port the load balancer listens on.
    pub listen: u16,
    /// The port on the targets.
    pub target: u16,
    /// Returns true if the PROXY protocol header is sent to targets.
    pub proxy_protocol: bool,
}

/// Machine-config patch files per scope, each list in application order: the patterns in
/// file order, each pattern's matches sorted, a file matched twice kept at its first place.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Patches {
    /// Applied to every node.
    pub all: Vec<PathBuf>,
    /// Applied to control planes after `all`.
    pub controlplane: Vec<PathBuf>,
    /// Applied to workers after `all`.
    pub worker: Vec<PathBuf>,
}

impl Patches {
    /// The files for a role, in application order: `all`, then the role's own.
    pub fn for_role(&self, role: Role) -> impl Iterator<Item = &Path> {
        let own = match role {
            Role::ControlPlane => &self.controlplane,
            Role::Worker => &self.worker,
        };
        self.all.iter().chain(own.iter()).map(PathBuf::as_path)
    }
}
