//! The desired state: every Hetzner resource cluster.yaml asks for, with the name, labels
//! and settings `apply` needs, derived from the checked spec, the snapshots that exist and
//! (when a secrets bundle and the endpoint exist) each node's rendered machine config.
//!
//! Choices an operator would otherwise make by hand are made here, deterministically:
//! firewall rules (design: the Talos and Kubernetes APIs from the admin CIDRs, everything
//! from the private network), placement groups (one spread group per node group and
//! location, split above Hetzner's 10 servers), and private addresses (cluster.yaml's, else
//! the one a live server already has, else the lowest free one of the subnet).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use super::nodes::ConfigHash;
use serde::Serialize;

use super::error::Error;
use super::live::Live;
use crate::spec::catalog::MAX_SERVERS_PER_PLACEMENT_GROUP;
use crate::spec::resources::{LABEL_NODE, api_endpoint_name};
use crate::spec::{Architecture, Endpoint, Labels, NodeGroup, Role, Spec};
use crate::talos::config::render::{KUBERNETES_API_PORT, RenderedNode};

/// Label on servers: the first 32 hex digits of the sha256 of the node's machine config,
/// so a later run sees which nodes need the config applied again.
pub const LABEL_CONFIG_HASH: &str = "talos-hcloud/config-hash";
/// The Talos API port.
pub const TALOS_API_PORT: u16 = 50000;
/// Every port, as a firewall rule's range (the API documents ranges, not `any`).
pub const ALL_PORTS: &str = "1-65535";
/// The load balancer type of the API load balancer (`endpoint: load-balancer`).
pub const API_LOAD_BALANCER_TYPE: &str = "lb11";

/// Everything cluster.yaml asks for, in creation order per kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// The cluster name.
    pub cluster: String,
    /// The Talos version every server's snapshot carries.
    pub talos_version: String,
    /// The first 32 hex digits of the schematic ID (the snapshots' label).
    pub schematic: String,
    /// The private network and its node subnet.
    pub network: DesiredNetwork,
    /// One firewall per role in use.
    pub firewalls: Vec<DesiredFirewall>,
    /// Spread placement groups.
    pub placement_groups: Vec<DesiredPlacementGroup>,
    /// One primary IPv4 per node.
    pub primary_ips: Vec<DesiredPrimaryIp>,
    /// The floating IP of `endpoint: floating-ip`.
    pub floating_ip: Option<DesiredFloatingIp>,
    /// The servers, control planes first.
    pub servers: Vec<DesiredServer>,
    /// The API load balancer (`endpoint: load-balancer`) first, then cluster.yaml's.
    pub load_balancers: Vec<DesiredLoadBalancer>,
}

/// The private network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredNetwork {
    /// Hetzner name.
    pub name: String,
    /// Its range (`network.cidr`).
    pub ip_range: String,
    /// The node subnet: `(network zone, range)`.
    pub subnet: (String, String),
    /// Labels.
    pub labels: Labels,
}

/// One firewall rule, as the plan compares it (descriptions are not compared).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FirewallRule {
    /// `in` or `out`.
    pub direction: String,
    /// `tcp`, `udp`, `icmp`, `esp` or `gre`.
    pub protocol: String,
    /// A port, a range `a-b` or `any` (tcp and udp only).
    pub port: Option<String>,
    /// Source ranges of an incoming rule, sorted.
    pub source_ips: Vec<String>,
}

impl FirewallRule {
    fn incoming(protocol: &str, port: Option<&str>, sources: &[String]) -> FirewallRule {
        let mut source_ips = sources.to_vec();
        source_ips.sort();
        source_ips.dedup();
        FirewallRule {
            direction: "in".into(),
            protocol: protocol.into(),
            port: port.map(str::to_string),
            source_ips,
        }
    }
}

impl fmt::Display for FirewallRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.direction, self.protocol)?;
        if let Some(port) = &self.port {
            write!(f, " {port}")?;
        }
        write!(f, " from {}", self.source_ips.join(","))
    }
}

/// A firewall, attached to its role's servers when they are created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredFirewall {
    /// Hetzner name.
    pub name: String,
    /// Whose firewall it is.
    pub role: Role,
    /// Labels.
    pub labels: Labels,
    /// The rules, sorted.
    pub rules: Vec<FirewallRule>,
}

/// A spread placement group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredPlacementGroup {
    /// Hetzner name.
    pub name: String,
    /// The location of its members.
    pub location: String,
    /// Labels.
    pub labels: Labels,
    /// The server names that belong to it.
    pub members: Vec<String>,
}

/// A node's primary IPv4, kept when its server is replaced (`auto_delete: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredPrimaryIp {
    /// Hetzner name: `<server name>-ipv4`.
    pub name: String,
    /// The node it belongs to.
    pub node: String,
    /// Its location (the node's).
    pub location: String,
    /// Labels: cluster and node.
    pub labels: Labels,
}

/// The floating IP Talos moves between control planes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredFloatingIp {
    /// Hetzner name.
    pub name: String,
    /// Home location: the first control plane's.
    pub home_location: String,
    /// Labels.
    pub labels: Labels,
}

/// The Talos snapshot a server boots from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DesiredImage {
    /// The snapshot exists.
    Snapshot {
        /// Its ID.
        id: i64,
    },
    /// No snapshot exists yet for (schematic, version, arch): `image build` makes it.
    Missing,
}

/// A node's server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredServer {
    /// Hetzner name.
    pub name: String,
    /// The node name.
    pub node: String,
    /// Control plane or worker.
    pub role: Role,
    /// The worker pool.
    pub pool: Option<String>,
    /// Server type name.
    pub server_type: String,
    /// The architecture of the server type (and of its snapshot).
    pub architecture: Architecture,
    /// The snapshot.
    pub image: DesiredImage,
    /// Location name.
    pub location: String,
    /// Labels (the config hash label included when the config is known).
    pub labels: Labels,
    /// The private address in the node subnet.
    pub private_ip: Ipv4Addr,
    /// Whether `private_ip` comes from cluster.yaml (else allocated or kept from live).
    pub private_ip_fixed: bool,
    /// The placement group's name.
    pub placement_group: String,
    /// The firewall's name.
    pub firewall: String,
    /// The primary IPv4's name.
    pub primary_ip: String,
    /// Delete and rebuild protection: on for control planes (deleting one by mistake costs
    /// an etcd member), off for workers.
    pub protected: bool,
    /// The machine config hash, when the config could be rendered.
    pub config_hash: Option<String>,
}

/// A load balancer health check (TCP on the target port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// `tcp` or `http`.
    pub protocol: &'static str,
    /// The port probed.
    pub port: u16,
    /// Seconds between probes.
    pub interval: u32,
    /// Seconds a probe may take.
    pub timeout: u32,
    /// Failed probes before a target counts as unhealthy.
    pub retries: u32,
}

impl HealthCheck {
    /// Hetzner's default TCP check on `port`: every 15 s, 10 s timeout, 3 retries.
    pub fn tcp(port: u16) -> HealthCheck {
        HealthCheck {
            protocol: "tcp",
            port,
            interval: 15,
            timeout: 10,
            retries: 3,
        }
    }
}

impl fmt::Display for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} :{} every {}s timeout {}s retries {}",
            self.protocol, self.port, self.interval, self.timeout, self.retries
        )
    }
}

/// A TCP service of a load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LbService {
    /// Listen port.
    pub listen: u16,
    /// Port on the targets.
    pub target: u16,
    /// PROXY protocol towards the targets.
    pub proxy_protocol: bool,
    /// The health check.
    pub health_check: HealthCheck,
}

impl fmt::Display for LbService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp {} -> {}", self.listen, self.target)?;
        if self.proxy_protocol {
            f.write_str(" proxy-protocol")?;
        }
        write!(f, " (check {})", self.health_check)
    }
}

/// A load balancer over a label selector, reaching its targets on the private network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredLoadBalancer {
    /// Hetzner name.
    pub name: String,
    /// Type name (`lb11`).
    pub lb_type: String,
    /// Location name.
    pub location: String,
    /// Labels.
    pub labels: Labels,
    /// Services, by listen port.
    pub services: Vec<LbService>,
    /// The label selector of its targets (reached on their private IPs).
    pub target_selector: String,
}

/// What a resource costs, for the price list to price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Priced {
    /// A server of a type in a location.
    Server {
        /// Type name.
        server_type: String,
        /// Location name.
        location: String,
    },
    /// A load balancer of a type in a location.
    LoadBalancer {
        /// Type name.
        lb_type: String,
        /// Location name.
        location: String,
    },
    /// A primary IPv4 in a location.
    PrimaryIpv4 {
        /// Location name.
        location: String,
    },
    /// A floating IPv4 homed in a location.
    FloatingIpv4 {
        /// Location name.
        location: String,
    },
    /// Free of charge (networks, firewalls, placement groups).
    Free,
}

impl DesiredServer {
    /// What it costs.
    pub fn priced(&self) -> Priced {
        Priced::Server {
            server_type: self.server_type.clone(),
            location: self.location.clone(),
        }
    }
}

impl DesiredLoadBalancer {
    /// What it costs.
    pub fn priced(&self) -> Priced {
        Priced::LoadBalancer {
            lb_type: self.lb_type.clone(),
            location: self.location.clone(),
        }
    }
}

/// The machine config hash of every rendered node: the first 32 hex digits of the sha256
/// of the config as it is delivered (a label value holds at most 63 characters).
pub fn config_hashes(rendered: &[RenderedNode]) -> BTreeMap<String, String> {
    rendered
        .iter()
        .map(|node| (node.name.clone(), config_hash(&node.yaml)))
        .collect()
}

/// The hash [`config_hashes`] records for one config: the label value of its
/// [`ConfigHash`], which the Talos phase compares against when it delivers.
pub fn config_hash(yaml: &str) -> String {
    ConfigHash::of(yaml.as_bytes()).label_value()
}

/// The desired state of the cluster in `spec`, given what exists (`live`: snapshots,
/// servers' private addresses) and the nodes' config hashes (empty when the configs cannot
/// be rendered yet).
///
/// # Errors
/// [`Error::SubnetFull`] when a node gets no free address in the node subnet.
pub fn desired(spec: &Spec, live: &Live, config_hashes: &BTreeMap<String, String>) -> Result<Desired, Error> {
    let prefix = spec.prefix.as_str();
    let network = DesiredNetwork {
        name: spec.network_name(),
        ip_range: spec.network.cidr.to_string(),
        subnet: (spec.network.zone.to_string(), spec.network.subnet.to_string()),
        labels: spec.cluster_labels(),
    };
    let has_workers = spec.workers.iter().any(|pool| !pool.nodes.is_empty());
    let firewalls = [Role::ControlPlane, Role::Worker]
        .into_iter()
        .filter(|role| *role == Role::ControlPlane || has_workers)
        .map(|role| DesiredFirewall {
            name: spec.firewall_name(role),
            role,
            labels: spec.firewall_labels(role),
            rules: firewall_rules(spec, role),
        })
        .collect();
    let placement_groups: Vec<DesiredPlacementGroup> = std::iter::once(&spec.controlplane)
        .chain(&spec.workers)
        .flat_map(|group| placement_groups(spec, group))
        .collect();
    let addresses = private_ips(spec, live)?;
    let mut primary_ips = Vec::new();
    let mut servers = Vec::new();
    for node in spec.nodes() {
        let name = spec.server_name(node);
        let node_name = node.name.as_str().to_string();
        let primary_ip = format!("{name}-ipv4");
        let mut ip_labels = spec.cluster_labels();
        ip_labels.insert(LABEL_NODE.to_string(), node_name.clone());
        primary_ips.push(DesiredPrimaryIp {
            name: primary_ip.clone(),
            node: node_name.clone(),
            location: node.location.name().to_string(),
            labels: ip_labels,
        });
        let config_hash = config_hashes.get(&node_name).cloned();
        let mut labels = spec.server_labels(node);
        if let Some(hash) = &config_hash {
            labels.insert(LABEL_CONFIG_HASH.to_string(), hash.clone());
        }
        let placement_group = placement_groups
            .iter()
            .find(|group| group.members.contains(&name))
            .map(|group| group.name.clone())
            .unwrap_or_default();
        let (private_ip, private_ip_fixed) = match node.ip {
            Some(ip) => (ip, true),
            None => (
                addresses.get(&node_name).copied().unwrap_or(Ipv4Addr::UNSPECIFIED),
                false,
            ),
        };
        servers.push(DesiredServer {
            name,
            node: node_name,
            role: node.role,
            pool: node.pool.as_ref().map(|p| p.as_str().to_string()),
            server_type: node.server_type.name().to_string(),
            architecture: node.architecture,
            image: live
                .snapshot_for(node.architecture)
                .map_or(DesiredImage::Missing, |snapshot| DesiredImage::Snapshot {
                    id: snapshot.id,
                }),
            location: node.location.name().to_string(),
            labels,
            private_ip,
            private_ip_fixed,
            placement_group,
            firewall: spec.firewall_name(node.role),
            primary_ip,
            protected: node.role == Role::ControlPlane,
            config_hash,
        });
    }
    let first_location = spec
        .controlplane
        .nodes
        .first()
        .map_or(spec.location.name(), |node| node.location.name())
        .to_string();
    let floating_ip = (spec.endpoint == Endpoint::FloatingIp).then(|| DesiredFloatingIp {
        name: api_endpoint_name(prefix),
        home_location: first_location.clone(),
        labels: spec.cluster_labels(),
    });
    let mut load_balancers = Vec::new();
    if spec.endpoint == Endpoint::LoadBalancer {
        load_balancers.push(DesiredLoadBalancer {
            name: api_endpoint_name(prefix),
            lb_type: API_LOAD_BALANCER_TYPE.to_string(),
            location: first_location,
            labels: spec.cluster_labels(),
            services: [KUBERNETES_API_PORT, TALOS_API_PORT]
                .into_iter()
                .map(|port| LbService {
                    listen: port,
                    target: port,
                    proxy_protocol: false,
                    health_check: HealthCheck::tcp(port),
                })
                .collect(),
            target_selector: spec.role_selector(Role::ControlPlane),
        });
    }
    for lb in &spec.load_balancers {
        let mut services: Vec<LbService> = lb
            .services
            .iter()
            .map(|s| LbService {
                listen: s.listen,
                target: s.target,
                proxy_protocol: s.proxy_protocol,
                health_check: HealthCheck::tcp(s.target),
            })
            .collect();
        services.sort_by_key(|s| s.listen);
        load_balancers.push(DesiredLoadBalancer {
            name: spec.load_balancer_name(lb),
            lb_type: lb.lb_type.name().to_string(),
            location: lb.location.name().to_string(),
            labels: spec.cluster_labels(),
            services,
            target_selector: spec.pool_selector(lb.target_pool.as_str()),
        });
    }
    Ok(Desired {
        cluster: spec.name.as_str().to_string(),
        talos_version: spec.talos.version.to_string(),
        schematic: spec.talos.schematic.id.as_str().chars().take(32).collect(),
        network,
        firewalls,
        placement_groups,
        primary_ips,
        floating_ip,
        servers,
        load_balancers,
    })
}

/// A role's rules: the Talos API (and on control planes the Kubernetes API) from the
/// admin CIDRs; every protocol from the private network.
fn firewall_rules(spec: &Spec, role: Role) -> Vec<FirewallRule> {
    let admin: Vec<String> = spec.firewall.admin_cidrs.iter().map(ToString::to_string).collect();
    let private = [spec.network.cidr.to_string()];
    let mut rules = vec![FirewallRule::incoming("tcp", Some(&TALOS_API_PORT.to_string()), &admin)];
    if role == Role::ControlPlane {
        rules.push(FirewallRule::incoming(
            "tcp",
            Some(&KUBERNETES_API_PORT.to_string()),
            &admin,
        ));
    }
    rules.push(FirewallRule::incoming("tcp", Some(ALL_PORTS), &private));
    rules.push(FirewallRule::incoming("udp", Some(ALL_PORTS), &private));
    rules.push(FirewallRule::incoming("icmp", None, &private));
    rules.sort();
    rules
}

/// A group's spread placement groups: one per location (named `-<location>` when the group
/// spans several), split into runs of at most ten servers in node order. The first run
/// keeps the plain name and later runs are `-pg2`, `-pg3`: a pool that grows past ten
/// leaves its first ten servers where they are (moving a server needs it stopped).
fn placement_groups(spec: &Spec, group: &NodeGroup) -> Vec<DesiredPlacementGroup> {
    let base = spec.placement_group_name(group);
    let mut locations: Vec<&str> = Vec::new();
    for node in &group.nodes {
        if !locations.contains(&node.location.name()) {
            locations.push(node.location.name());
        }
    }
    let mut groups = Vec::new();
    for location in &locations {
        let name = if locations.len() > 1 {
            format!("{base}-{location}")
        } else {
            base.clone()
        };
        let members: Vec<String> = group
            .nodes
            .iter()
            .filter(|node| node.location.name() == *location)
            .map(|node| spec.server_name(node))
            .collect();
        for (index, chunk) in members.chunks(MAX_SERVERS_PER_PLACEMENT_GROUP).enumerate() {
            groups.push(DesiredPlacementGroup {
                name: if index == 0 {
                    name.clone()
                } else {
                    format!("{name}-pg{}", index + 1)
                },
                location: (*location).to_string(),
                labels: spec.placement_group_labels(group),
                members: chunk.to_vec(),
            });
        }
    }
    groups
}

/// Every node's private address: cluster.yaml's, else the address its live server has in
/// the subnet (whatever Hetzner gave it), else the lowest free address past the subnet's
/// reserved ones (`validate`'s rule: network, broadcast, first address, the gateway),
/// skipping every address another node has or is given.
fn private_ips(spec: &Spec, live: &Live) -> Result<BTreeMap<String, Ipv4Addr>, Error> {
    let subnet = spec.network.subnet;
    let mut taken: BTreeSet<Ipv4Addr> = spec.nodes().filter_map(|node| node.ip).collect();
    let mut addresses = BTreeMap::new();
    for node in spec.nodes().filter(|node| node.ip.is_none()) {
        let name = spec.server_name(node);
        let kept = live
            .servers
            .iter()
            .find(|server| server.name == name)
            .and_then(|server| server.private_ip)
            .filter(|ip| subnet.contains(ip) && !taken.contains(ip));
        if let Some(ip) = kept {
            taken.insert(ip);
            addresses.insert(node.name.as_str().to_string(), ip);
        }
    }
    taken.extend([
        subnet.network(),
        subnet.broadcast(),
        Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1)),
        spec.network.gateway(),
    ]);
    // Addresses of other labelled servers (about to be deleted) stay out of reach too.
    taken.extend(live.servers.iter().filter_map(|server| server.private_ip));
    for node in spec.nodes().filter(|node| node.ip.is_none()) {
        let key = node.name.as_str().to_string();
        if addresses.contains_key(&key) {
            continue;
        }
        let free = subnet
            .hosts()
            .find(|ip| !taken.contains(ip))
            .ok_or_else(|| Error::SubnetFull {
                subnet: subnet.to_string(),
                node: key.clone(),
            })?;
        taken.insert(free);
        addresses.insert(key, free);
    }
    Ok(addresses)
}
