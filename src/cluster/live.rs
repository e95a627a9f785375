//! The live state: what Hetzner Cloud holds for a cluster, found by its labels (there is
//! no state file, design.md §3), plus the Talos snapshots for the cluster's schematic and
//! version and the server-type catalogue.
//!
//! [`read`] sends one list call per kind, all at once; the rest of the module turns the
//! API's models into the small views the plan compares, so planning needs no API types.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use hcloud::models::{FloatingIp, Image, LoadBalancer, Network, PlacementGroup, Server};
use serde::Serialize;
use serde_json::Value;

use super::desired::{FirewallRule, HealthCheck, LbService, Priced};
use super::error::Error;
use crate::hcloud::cluster_resources::PrimaryIp;
use crate::hcloud::labels::{self as hlabels, Selector};
use crate::hcloud::{Client, ImageType, ServerTypeInfo};
use crate::spec::{Architecture, Labels, Spec};

/// A cluster's resources as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Live {
    /// Networks labelled with the cluster.
    pub networks: Vec<LiveNetwork>,
    /// Firewalls labelled with the cluster.
    pub firewalls: Vec<LiveFirewall>,
    /// Placement groups labelled with the cluster.
    pub placement_groups: Vec<LivePlacementGroup>,
    /// Primary IPs labelled with the cluster.
    pub primary_ips: Vec<LivePrimaryIp>,
    /// Floating IPs labelled with the cluster.
    pub floating_ips: Vec<LiveFloatingIp>,
    /// Servers labelled with the cluster.
    pub servers: Vec<LiveServer>,
    /// Load balancers labelled with the cluster.
    pub load_balancers: Vec<LiveLoadBalancer>,
    /// Talos snapshots of the cluster's schematic and version (any architecture).
    pub snapshots: Vec<LiveSnapshot>,
    /// The server types and where they can be ordered.
    #[serde(skip)]
    pub server_types: Vec<ServerTypeInfo>,
    /// Placement groups in the whole project (the cluster's and others'), for its limit.
    #[serde(skip)]
    pub project_placement_groups: usize,
}

/// A network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveNetwork {
    /// ID.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Range.
    pub ip_range: String,
    /// Subnets: `(network zone, range)`.
    pub subnets: Vec<(String, String)>,
    /// Labels.
    pub labels: Labels,
}

/// A firewall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveFirewall {
    /// ID.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Rules, sorted.
    pub rules: Vec<FirewallRule>,
}

/// A placement group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LivePlacementGroup {
    /// ID.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Member server IDs.
    pub servers: Vec<i64>,
}

/// A primary IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LivePrimaryIp {
    /// ID.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// The address.
    pub ip: String,
    /// `ipv4` or `ipv6`.
    pub ip_type: String,
    /// Location name (empty when the answer had none).
    pub location: String,
    /// The server it is assigned to.
    pub assignee: Option<i64>,
}

/// A floating IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveFloatingIp {
    /// ID.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// The address.
    pub ip: String,
    /// Home location name.
    pub home_location: String,
    /// The server it is assigned to.
    pub server: Option<i64>,
}

/// The Talos image a server was created from, as its labels say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveImage {
    /// ID.
    pub id: i64,
    /// `talos-hcloud/talos-version`, if it is a Talos snapshot.
    pub talos_version: Option<String>,
    /// `talos-hcloud/schematic` (32 hex), if it is a Talos snapshot.
    pub schematic: Option<String>,
}

/// A server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveServer {
    /// ID.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Server type name.
    pub server_type: String,
    /// Location name.
    pub location: String,
    /// The image it was created from (`None` once that image is deleted).
    pub image: Option<LiveImage>,
    /// Its address in the cluster's network (the first private network).
    pub private_ip: Option<Ipv4Addr>,
    /// Its public IPv4.
    pub public_ipv4: Option<String>,
    /// Its placement group's name.
    pub placement_group: Option<String>,
    /// `running`, `off`, …
    pub status: String,
    /// Whether delete (and rebuild) protection is on.
    pub protected: bool,
}

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveLoadBalancer {
    /// ID.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Type name.
    pub lb_type: String,
    /// Location name.
    pub location: String,
    /// Public IPv4.
    pub public_ipv4: Option<String>,
    /// Services, by listen port.
    pub services: Vec<LbService>,
    /// Label selectors of its label-selector targets.
    pub target_selectors: Vec<String>,
}

/// A Talos snapshot made by `image build`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveSnapshot {
    /// ID.
    pub id: i64,
    /// Its architecture (label `talos-hcloud/arch`).
    pub architecture: Option<Architecture>,
    /// `available` or `creating`.
    pub status: String,
    /// Size in GB (what snapshot storage is billed by).
    pub image_size: Option<f64>,
    /// Creation time.
    pub created: String,
}

impl Live {
    /// The newest available snapshot for `arch`.
    pub fn snapshot_for(&self, arch: Architecture) -> Option<&LiveSnapshot> {
        self.snapshots
            .iter()
            .filter(|s| s.architecture == Some(arch) && s.status == "available")
            .max_by(|a, b| (&a.created, a.id).cmp(&(&b.created, b.id)))
    }

    /// The number of labelled resources found.
    pub fn resource_count(&self) -> usize {
        self.networks.len()
            + self.firewalls.len()
            + self.placement_groups.len()
            + self.primary_ips.len()
            + self.floating_ips.len()
            + self.servers.len()
            + self.load_balancers.len()
    }

    /// What everything found costs, by kind: servers, load balancers, primary and
    /// floating IPs (networks, firewalls and placement groups are free).
    pub fn priced(&self) -> Vec<Priced> {
        let servers = self.servers.iter().map(LiveServer::priced);
        let lbs = self.load_balancers.iter().map(LiveLoadBalancer::priced);
        let primary = self
            .primary_ips
            .iter()
            .filter(|ip| ip.ip_type == "ipv4")
            .map(LivePrimaryIp::priced);
        let floating = self.floating_ips.iter().map(LiveFloatingIp::priced);
        servers.chain(lbs).chain(primary).chain(floating).collect()
    }
}

impl LiveServer {
    /// What it costs.
    pub fn priced(&self) -> Priced {
        Priced::Server {
            server_type: self.server_type.clone(),
            location: self.location.clone(),
        }
    }
}

impl LiveLoadBalancer {
    /// What it costs.
    pub fn priced(&self) -> Priced {
        Priced::LoadBalancer {
            lb_type: self.lb_type.clone(),
            location: self.location.clone(),
        }
    }
}

impl LivePrimaryIp {
    /// What it costs.
    pub fn priced(&self) -> Priced {
        Priced::PrimaryIpv4 {
            location: self.location.clone(),
        }
    }
}

impl LiveFloatingIp {
    /// What it costs.
    pub fn priced(&self) -> Priced {
        Priced::FloatingIpv4 {
            location: self.home_location.clone(),
        }
    }
}

/// The selector of the cluster's Talos snapshots: `os=talos`, its Talos version and the
/// schematic's short ID (every architecture).
pub fn snapshot_selector(spec: &Spec) -> Selector {
    let short: String = spec.talos.schematic.id.as_str().chars().take(32).collect();
    Selector::new()
        .eq(hlabels::OS, "talos")
        .eq(hlabels::TALOS_VERSION, &spec.talos.version.to_string())
        .eq(hlabels::SCHEMATIC, &short)
}

/// Reads the cluster's live state: one list call per kind by the cluster label, the
/// Talos snapshots and the server types, all sent at once.
///
/// # Errors
/// [`Error::ReadLive`] when a list cannot be read.
pub async fn read(client: &Client, spec: &Spec) -> Result<Live, Error> {
    let selector = Selector::new().eq(hlabels::CLUSTER, spec.name.as_str());
    let snapshots = snapshot_selector(spec);
    let (listed, images, types) = tokio::try_join!(
        Labelled::list(client, &selector),
        client.list_images(&snapshots, Some(ImageType::Snapshot)),
        client.list_server_types(),
    )
    .map_err(|source| Error::ReadLive {
        cluster: spec.name.as_str().to_string(),
        source: Box::new(source),
    })?;
    let group_names: BTreeMap<i64, String> = listed.placement_groups.iter().map(|g| (g.id, g.name.clone())).collect();
    let network_ids: Vec<i64> = listed.networks.iter().map(|n| n.id).collect();
    let mut live = Live {
        networks: listed.networks.iter().map(network).collect(),
        firewalls: listed.firewalls.iter().map(firewall).collect(),
        placement_groups: listed.placement_groups.iter().map(placement_group).collect(),
        primary_ips: listed.primary_ips.iter().map(primary_ip).collect(),
        floating_ips: listed.floating_ips.iter().map(floating_ip).collect(),
        servers: listed
            .servers
            .iter()
            .map(|s| server(s, &group_names, &network_ids))
            .collect(),
        load_balancers: listed.load_balancers.iter().map(load_balancer).collect(),
        snapshots: images.iter().map(snapshot).collect(),
        server_types: types,
        project_placement_groups: listed.project_placement_groups,
    };
    live.sort();
    Ok(live)
}

/// The resources of the kinds a cluster owns (SSH keys apart), as the API lists them by
/// one label selector: what `plan` compares and `destroy` deletes.
pub(crate) struct Labelled {
    /// Networks.
    pub networks: Vec<Network>,
    /// Firewalls.
    pub firewalls: Vec<hcloud::models::Firewall>,
    /// Placement groups.
    pub placement_groups: Vec<PlacementGroup>,
    /// Primary IPs.
    pub primary_ips: Vec<PrimaryIp>,
    /// Floating IPs.
    pub floating_ips: Vec<FloatingIp>,
    /// Servers.
    pub servers: Vec<Server>,
    /// Load balancers.
    pub load_balancers: Vec<LoadBalancer>,
    /// Placement groups in the whole project, the cluster's and others' (the project's
    /// limit counts them all).
    pub project_placement_groups: usize,
}

impl Labelled {
    /// Lists every kind matching `selector`, all requests sent at once. Placement groups are
    /// listed for the whole project and filtered here, so the same request also counts them.
    ///
    /// # Errors
    /// The first list that cannot be read.
    pub(crate) async fn list(client: &Client, selector: &Selector) -> Result<Labelled, crate::hcloud::Error> {
        let project = Selector::new();
        let (networks, firewalls, placement_groups, primary_ips, floating_ips, servers, load_balancers) = tokio::try_join!(
            client.list_networks(selector),
            client.list_firewalls(selector),
            client.list_placement_groups(&project),
            client.list_primary_ips(selector),
            client.list_floating_ips(selector),
            client.list_servers(selector),
            client.list_load_balancers(selector),
        )?;
        let project_placement_groups = placement_groups.len();
        let placement_groups = placement_groups
            .into_iter()
            .filter(|group| selector.matches(&group.labels))
            .collect();
        Ok(Labelled {
            networks,
            firewalls,
            placement_groups,
            project_placement_groups,
            primary_ips,
            floating_ips,
            servers,
            load_balancers,
        })
    }
}

impl Live {
    /// Sorts every list by name (snapshots by ID), so everything derived is deterministic.
    pub fn sort(&mut self) {
        self.networks.sort_by(|a, b| a.name.cmp(&b.name));
        self.firewalls.sort_by(|a, b| a.name.cmp(&b.name));
        self.placement_groups.sort_by(|a, b| a.name.cmp(&b.name));
        self.primary_ips.sort_by(|a, b| a.name.cmp(&b.name));
        self.floating_ips.sort_by(|a, b| a.name.cmp(&b.name));
        self.servers.sort_by(|a, b| a.name.cmp(&b.name));
        self.load_balancers.sort_by(|a, b| a.name.cmp(&b.name));
        self.snapshots.sort_by_key(|s| s.id);
    }
}

fn labels(map: &std::collections::HashMap<String, String>) -> Labels {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub(crate) fn network(n: &Network) -> LiveNetwork {
    LiveNetwork {
        id: n.id,
        name: n.name.clone(),
        ip_range: n.ip_range.clone(),
        subnets: n
            .subnets
            .iter()
            .map(|s| (s.network_zone.clone(), s.ip_range.clone().unwrap_or_default()))
            .collect(),
        labels: labels(&n.labels),
    }
}

/// A rule as the API returned it (read as JSON: the response model is the crate's
/// `RuleResponse`, whose optional fields differ from the request's).
fn rule(value: &Value) -> FirewallRule {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let mut source_ips: Vec<String> = value
        .get("source_ips")
        .and_then(Value::as_array)
        .map(|ips| ips.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    source_ips.sort();
    source_ips.dedup();
    FirewallRule {
        direction: text("direction").unwrap_or_default(),
        protocol: text("protocol").unwrap_or_default(),
        port: text("port"),
        source_ips,
    }
}

pub(crate) fn firewall(f: &hcloud::models::Firewall) -> LiveFirewall {
    let mut rules: Vec<FirewallRule> = f
        .rules
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .map(|r| rule(&r))
        .collect();
    rules.sort();
    LiveFirewall {
        id: f.id,
        name: f.name.clone(),
        labels: f.labels.as_ref().map(labels).unwrap_or_default(),
        rules,
    }
}

pub(crate) fn placement_group(g: &PlacementGroup) -> LivePlacementGroup {
    LivePlacementGroup {
        id: g.id,
        name: g.name.clone(),
        labels: labels(&g.labels),
        servers: g.servers.clone(),
    }
}

pub(crate) fn primary_ip(ip: &PrimaryIp) -> LivePrimaryIp {
    LivePrimaryIp {
        id: ip.id,
        name: ip.name.clone(),
        labels: labels(&ip.labels),
        ip: ip.ip.clone(),
        ip_type: ip.ip_type.clone(),
        location: ip.location.as_ref().map(|l| l.name.clone()).unwrap_or_default(),
        assignee: ip.assignee_id,
    }
}

/// A floating IP as the plan sees it.
pub(crate) fn floating_ip(ip: &FloatingIp) -> LiveFloatingIp {
    LiveFloatingIp {
        id: ip.id,
        name: ip.name.clone(),
        labels: labels(&ip.labels),
        ip: ip.ip.clone(),
        home_location: ip.home_location.name.clone(),
        server: ip.server,
    }
}

fn server(s: &Server, group_names: &BTreeMap<i64, String>, network_ids: &[i64]) -> LiveServer {
    let private_ip = s
        .private_net
        .iter()
        .find(|net| net.network.is_some_and(|id| network_ids.contains(&id)))
        .or_else(|| s.private_net.first())
        .and_then(|net| net.ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let placement_group = s
        .placement_group
        .as_ref()
        .and_then(|g| g.as_ref())
        .map(|g| group_names.get(&g.id).cloned().unwrap_or_else(|| g.name.clone()));
    let image = s.image.as_ref().map(|image| LiveImage {
        id: image.id,
        talos_version: image.labels.get(hlabels::TALOS_VERSION).cloned(),
        schematic: image.labels.get(hlabels::SCHEMATIC).cloned(),
    });
    LiveServer {
        id: s.id,
        name: s.name.clone(),
        labels: labels(&s.labels),
        server_type: s.server_type.name.clone(),
        location: s.location.name.clone(),
        image,
        private_ip,
        public_ipv4: s.public_net.ipv4.as_ref().map(|ip| ip.ip.clone()),
        placement_group,
        status: serde_json::to_value(s.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        protected: s.protection.delete,
    }
}

/// A load balancer as the plan sees it.
pub(crate) fn load_balancer(lb: &LoadBalancer) -> LiveLoadBalancer {
    let mut services: Vec<LbService> = lb
        .services
        .iter()
        .map(|s| {
            let check = &s.health_check;
            LbService {
                listen: port(s.listen_port),
                target: port(s.destination_port),
                proxy_protocol: s.proxyprotocol,
                health_check: HealthCheck {
                    protocol: match check.protocol {
                        hcloud::models::load_balancer_service_health_check::Protocol::Http => "http",
                        hcloud::models::load_balancer_service_health_check::Protocol::Tcp => "tcp",
                    },
                    port: port(check.port),
                    interval: u32::try_from(check.interval).unwrap_or_default(),
                    timeout: u32::try_from(check.timeout).unwrap_or_default(),
                    retries: u32::try_from(check.retries).unwrap_or_default(),
                },
            }
        })
        .collect();
    services.sort_by_key(|s| s.listen);
    let mut target_selectors: Vec<String> = lb
        .targets
        .iter()
        .filter_map(|t| t.label_selector.as_ref().map(|s| s.selector.clone()))
        .collect();
    target_selectors.sort();
    LiveLoadBalancer {
        id: lb.id,
        name: lb.name.clone(),
        labels: labels(&lb.labels),
        lb_type: lb.load_balancer_type.name.clone(),
        location: lb.location.name.clone(),
        public_ipv4: lb.public_net.ipv4.ip.clone().flatten(),
        services,
        target_selectors,
    }
}

fn port(value: i32) -> u16 {
    u16::try_from(value).unwrap_or_default()
}

fn snapshot(image: &Image) -> LiveSnapshot {
    LiveSnapshot {
        id: image.id,
        architecture: image.labels.get(hlabels::ARCH).and_then(|a| Architecture::from_name(a)),
        status: serde_json::to_value(image.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        image_size: image.image_size,
        created: image.created.clone(),
    }
}
