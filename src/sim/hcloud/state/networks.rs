//! Private networks with subnets and routes. Servers and load balancers attach to a
//! network through a subnet in their location's network zone and get the first free
//! address. Network changes hold the network, so parallel changes get `conflict`.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::NETWORK_ZONES;
use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::ListRules;
use super::resource::{Busy, DeleteProtected, Resource, delete_protected, stored_in};
use super::{IdKind, World, check_labels, labels_json};

/// A subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    /// `cloud`, `server` or `vswitch`.
    pub kind: String,
    /// Its range.
    pub ip_range: Ipv4Net,
    /// Network zone.
    pub network_zone: String,
    /// vSwitch ID (vswitch subnets).
    pub vswitch_id: Option<u64>,
}

/// A route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Destination range.
    pub destination: Ipv4Net,
    /// Gateway.
    pub gateway: Ipv4Addr,
}

/// A network.
#[derive(Debug, Clone)]
pub struct Network {
    /// ID.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Range.
    pub ip_range: Ipv4Net,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Routes.
    pub routes: Vec<Route>,
    /// Delete protection.
    pub protect_delete: bool,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: u64,
    /// Whether routes are exposed to a vSwitch.
    pub expose_routes_to_vswitch: bool,
}

/// A subnet in a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetRequest {
    #[serde(rename = "type")]
    kind: String,
    network_zone: String,
    ip_range: Option<String>,
    vswitch_id: Option<u64>,
    /// Read-only in the API, but official clients send it back (the `hcloud` CLI's
    /// `add-subnet` sends `"gateway": ""`) and the real API accepts it: ignored.
    #[serde(rename = "gateway")]
    _gateway: Option<serde::de::IgnoredAny>,
}

/// A route in a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    destination: String,
    gateway: String,
}

/// `POST /networks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateNetwork {
    name: String,
    ip_range: String,
    subnets: Option<Vec<SubnetRequest>>,
    routes: Option<Vec<RouteRequest>>,
    labels: Option<Labels>,
    expose_routes_to_vswitch: Option<bool>,
}

/// `PUT /networks/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateNetwork {
    name: Option<String>,
    labels: Option<Labels>,
    expose_routes_to_vswitch: Option<bool>,
}

/// `delete_subnet`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteSubnet {
    ip_range: String,
}

/// `change_ip_range`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeIpRange {
    ip_range: String,
}

fn parse_net(field: &str, text: &str) -> Result<Ipv4Net, ApiError> {
    let net: Ipv4Net = text
        .parse()
        .map_err(|_| ApiError::invalid_field(field, format!("'{text}' is not an IPv4 network in CIDR notation")))?;
    if net.trunc() != net {
        return Err(ApiError::invalid_field(field, format!("'{text}' has host bits set")));
    }
    Ok(net)
}

fn is_private(net: &Ipv4Net) -> bool {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
        .iter()
        .filter_map(|r| r.parse::<Ipv4Net>().ok())
        .any(|r| r.contains(net))
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Resource for Network {
    const KIND: &'static str = "network";
    const LIST: ListRules = ListRules::resources(&["id", "name", "created"]);
    const BUSY: Busy = Busy::Conflict;
    const NAME_TAKEN: &'static str = "network name is already used";

    stored_in!(networks);

    fn render(&self, world: &World) -> Value {
        let gateway = self.ip_range.hosts().next().map(|g| g.to_string()).unwrap_or_default();
        let servers: Vec<u64> = world
            .servers
            .values()
            .filter(|s| s.private_net.iter().any(|p| p.network == self.id))
            .map(|s| s.id)
            .collect();
        let load_balancers: Vec<u64> = world
            .load_balancers
            .values()
            .filter(|lb| lb.private_net.iter().any(|(net, _)| *net == self.id))
            .map(|lb| lb.id)
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "ip_range": self.ip_range.to_string(),
            "subnets": self.subnets.iter().map(|s| json!({
                "type": s.kind,
                "ip_range": s.ip_range.to_string(),
                "network_zone": s.network_zone,
                "gateway": gateway,
                "vswitch_id": s.vswitch_id,
            })).collect::<Vec<_>>(),
            "routes": self.routes.iter().map(|r| json!({
                "destination": r.destination.to_string(),
                "gateway": r.gateway.to_string(),
            })).collect::<Vec<_>>(),
            "servers": servers,
            "load_balancers": load_balancers,
            "protection": {"delete": self.protect_delete},
            "labels": labels_json(&self.labels),
            "created": world.timestamp(self.created),
            "expose_routes_to_vswitch": self.expose_routes_to_vswitch,
        })
    }
}

delete_protected!(Network);

impl World {
    /// The network exists and has a subnet in `zone`.
    pub(crate) fn network_for_attach(&self, id: u64, zone: &str) -> Result<(), ApiError> {
        let Some(network) = self.networks.get(&id) else {
            return Err(ApiError::invalid_field(
                "network",
                format!("network with ID {id} not found"),
            ));
        };
        if !network
            .subnets
            .iter()
            .any(|s| s.network_zone == zone && s.kind != "vswitch")
        {
            return Err(ApiError::unprocessable(
                "no_subnet_available",
                format!("network {id} has no subnet in network zone {zone}"),
            ));
        }
        Ok(())
    }

    /// Returns true if and only if `ip` is taken in `network` by a server or load balancer.
    pub(crate) fn private_ip_in_use(&self, network: u64, ip: &str) -> bool {
        self.servers.values().any(|s| {
            s.private_net
                .iter()
                .any(|p| p.network == network && (p.ip == ip || p.alias_ips.iter().any(|a| a == ip)))
        }) || self
            .load_balancers
            .values()
            .any(|lb| lb.private_net.iter().any(|(n, a)| *n == network && a == ip))
    }

    /// The requested address if free and inside a usable subnet, else the first free one.
    pub(crate) fn allocate_private_ip(
        &self,
        network: u64,
        zone: &str,
        requested: Option<&str>,
    ) -> Result<String, ApiError> {
        self.network_for_attach(network, zone)?;
        let net = self.find::<Network>(network)?;
        let gateway = net.ip_range.hosts().next();
        let subnets: Vec<&Subnet> = net
            .subnets
            .iter()
            .filter(|s| s.network_zone == zone && s.kind != "vswitch")
            .collect();
        if let Some(text) = requested {
            let ip: Ipv4Addr = text
                .parse()
                .map_err(|_| ApiError::invalid_field("ip", format!("'{text}' is not an IPv4 address")))?;
            let usable = subnets
                .iter()
                .any(|s| s.ip_range.contains(&ip) && ip != s.ip_range.network() && ip != s.ip_range.broadcast())
                && Some(ip) != gateway;
            if !usable || self.private_ip_in_use(network, text) {
                return Err(ApiError::unprocessable(
                    "ip_not_available",
                    format!("IP {text} is not available"),
                ));
            }
            return Ok(text.to_string());
        }
        for subnet in subnets {
            for ip in subnet.ip_range.hosts() {
                if Some(ip) == gateway {
                    continue;
                }
                let text = ip.to_string();
                if !self.private_ip_in_use(network, &text) {
                    return Ok(text);
                }
            }
        }
        Err(ApiError::unprocessable(
            "ip_not_available",
            "no free IP left in the network's subnets",
        ))
    }

    fn build_subnet(
        &self,
        range: &Ipv4Net,
        existing: &[Subnet],
        routes: &[Route],
        request: SubnetRequest,
    ) -> Result<Subnet, ApiError> {
        if !matches!(request.kind.as_str(), "cloud" | "server" | "vswitch") {
            return Err(ApiError::invalid_field(
                "subnets.type",
                "Must be one of: cloud, server, vswitch.",
            ));
        }
        if !NETWORK_ZONES.contains(&request.network_zone.as_str()) {
            return Err(ApiError::invalid_field(
                "subnets.network_zone",
                format!("unknown network zone '{}'", request.network_zone),
            ));
        }
        if request.kind == "vswitch" && request.vswitch_id.is_none() {
            return Err(ApiError::invalid_field(
                "subnets.vswitch_id",
                "vswitch subnets need a vswitch_id",
            ));
        }
        let ip_range = match &request.ip_range {
            Some(text) => parse_net("subnets.ip_range", text)?,
            None => {
                // The first free /24 of the network.
                let candidates = range
                    .subnets(24.max(range.prefix_len()))
                    .map_err(|_| ApiError::invalid_field("ip_range", "network range too small"))?;
                let free = candidates
                    .into_iter()
                    .find(|c| !existing.iter().any(|s| overlaps(&s.ip_range, c)));
                free.ok_or_else(|| ApiError::invalid_field("subnets.ip_range", "no free /24 left in the network"))?
            }
        };
        if !range.contains(&ip_range) {
            return Err(ApiError::invalid_field(
                "subnets.ip_range",
                "subnet must be inside the network's ip_range",
            ));
        }
        if ip_range.prefix_len() > 30 {
            return Err(ApiError::invalid_field(
                "subnets.ip_range",
                "subnet must be at least a /30",
            ));
        }
        if existing.iter().any(|s| overlaps(&s.ip_range, &ip_range))
            || routes.iter().any(|r| overlaps(&r.destination, &ip_range))
        {
            return Err(ApiError::unprocessable(
                "networks_overlap",
                "subnet overlaps an existing subnet or route",
            ));
        }
        Ok(Subnet {
            kind: request.kind,
            ip_range,
            network_zone: request.network_zone,
            vswitch_id: request.vswitch_id,
        })
    }

    fn build_route(range: &Ipv4Net, subnets: &[Subnet], request: RouteRequest) -> Result<Route, ApiError> {
        let destination = parse_net("routes.destination", &request.destination)?;
        let gateway: Ipv4Addr = request
            .gateway
            .parse()
            .map_err(|_| ApiError::invalid_field("routes.gateway", "not an IPv4 address"))?;
        if !(is_private(&destination) || destination.prefix_len() == 0) {
            return Err(ApiError::invalid_field(
                "routes.destination",
                "destination must be private or 0.0.0.0/0",
            ));
        }
        if !range.contains(&gateway) || Some(gateway) == range.hosts().next() {
            return Err(ApiError::invalid_field(
                "routes.gateway",
                "gateway must be inside the network, not its first IP",
            ));
        }
        if subnets.iter().any(|s| overlaps(&s.ip_range, &destination)) && destination.prefix_len() != 0 {
            return Err(ApiError::unprocessable(
                "networks_overlap",
                "route destination overlaps a subnet",
            ));
        }
        Ok(Route { destination, gateway })
    }

    /// `POST /networks`.
    pub fn create_network(&mut self, request: CreateNetwork) -> Result<Value, ApiError> {
        Network::check_name(&request.name)?;
        check_labels(&request.labels)?;
        self.ensure_name_free::<Network>(&request.name, None)?;
        let range = parse_net("ip_range", &request.ip_range)?;
        if !is_private(&range) || range.prefix_len() > 24 {
            return Err(ApiError::invalid_field(
                "ip_range",
                "ip_range must be a private (RFC 1918) range of at least /24",
            ));
        }
        let mut subnets = Vec::new();
        for subnet in request.subnets.unwrap_or_default() {
            let built = self.build_subnet(&range, &subnets, &[], subnet)?;
            subnets.push(built);
        }
        let mut routes = Vec::new();
        for route in request.routes.unwrap_or_default() {
            routes.push(World::build_route(&range, &subnets, route)?);
        }
        let id = self.new_id(IdKind::Network);
        self.networks.insert(
            id,
            Network {
                id,
                name: request.name,
                ip_range: range,
                subnets,
                routes,
                protect_delete: false,
                labels: request.labels.unwrap_or_default(),
                created: self.now,
                expose_routes_to_vswitch: request.expose_routes_to_vswitch.unwrap_or(false),
            },
        );
        Ok(self.envelope::<Network>(id))
    }

    /// `PUT /networks/{id}`.
    pub fn update_network(&mut self, id: u64, request: UpdateNetwork) -> Result<Value, ApiError> {
        self.update_with::<Network>(id, request.name, request.labels, |network| {
            if let Some(expose) = request.expose_routes_to_vswitch {
                network.expose_routes_to_vswitch = expose;
            }
        })
    }

    /// `DELETE /networks/{id}`: 204; detaches servers and load balancers.
    pub fn delete_network(&mut self, id: u64) -> Result<(), ApiError> {
        self.find_unlocked::<Network>(id)?.ensure_unprotected()?;
        self.networks.remove(&id);
        for server in self.servers.values_mut() {
            server.private_net.retain(|p| p.network != id);
        }
        for lb in self.load_balancers.values_mut() {
            lb.private_net.retain(|(n, _)| *n != id);
        }
        Ok(())
    }

    /// `add_subnet`.
    pub fn add_subnet(&mut self, id: u64, request: SubnetRequest) -> Result<Value, ApiError> {
        let network = self.find_unlocked::<Network>(id)?;
        let subnet = self.build_subnet(&network.ip_range, &network.subnets, &network.routes, request)?;
        Ok(self.apply_change::<Network>(id, "add_subnet", None, |n| n.subnets.push(subnet)))
    }

    /// `delete_subnet`: refused while servers or load balancers use addresses in it.
    pub fn delete_subnet(&mut self, id: u64, request: DeleteSubnet) -> Result<Value, ApiError> {
        let network = self.find_unlocked::<Network>(id)?;
        let range = parse_net("ip_range", &request.ip_range)?;
        if !network.subnets.iter().any(|s| s.ip_range == range) {
            return Err(ApiError::invalid_field("ip_range", "no such subnet"));
        }
        let in_use = self.servers.values().any(|s| {
            s.private_net
                .iter()
                .any(|p| p.network == id && p.ip.parse().is_ok_and(|ip: Ipv4Addr| range.contains(&ip)))
        });
        if in_use {
            return Err(ApiError::unprocessable(
                "resource_in_use",
                "subnet still has attached servers",
            ));
        }
        Ok(self.apply_change::<Network>(id, "delete_subnet", None, |n| {
            n.subnets.retain(|s| s.ip_range != range);
        }))
    }

    /// `add_route`.
    pub fn add_route(&mut self, id: u64, request: RouteRequest) -> Result<Value, ApiError> {
        let network = self.find_unlocked::<Network>(id)?;
        let route = World::build_route(&network.ip_range, &network.subnets, request)?;
        if network.routes.contains(&route) {
            return Err(ApiError::unprocessable("networks_overlap", "route already exists"));
        }
        Ok(self.apply_change::<Network>(id, "add_route", None, |n| n.routes.push(route)))
    }

    /// `delete_route`.
    pub fn delete_route(&mut self, id: u64, request: RouteRequest) -> Result<Value, ApiError> {
        let network = self.find_unlocked::<Network>(id)?;
        let route = World::build_route(&network.ip_range, &[], request)?;
        if !network.routes.contains(&route) {
            return Err(ApiError::invalid_field("destination", "no such route"));
        }
        Ok(self.apply_change::<Network>(id, "delete_route", None, |n| n.routes.retain(|r| *r != route)))
    }

    /// `change_ip_range`: may only grow.
    pub fn change_ip_range(&mut self, id: u64, request: ChangeIpRange) -> Result<Value, ApiError> {
        let network = self.find_unlocked::<Network>(id)?;
        let range = parse_net("ip_range", &request.ip_range)?;
        if !range.contains(&network.ip_range) || !is_private(&range) {
            return Err(ApiError::invalid_field(
                "ip_range",
                "the new range must contain the old one",
            ));
        }
        Ok(self.apply_change::<Network>(id, "change_ip_range", None, |n| n.ip_range = range))
    }
}

/// `POST /servers/{id}/actions/change_alias_ips`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeAliasIps {
    network: super::FlexId,
    alias_ips: Vec<String>,
}

impl World {
    /// `change_alias_ips`: replaces a server's alias IPs in one attached network (the
    /// Talos hcloud VIP moves a private VIP this way). Each alias must be an IPv4 inside
    /// the network's range and used by nothing else in it.
    pub fn change_alias_ips(&mut self, id: u64, request: ChangeAliasIps) -> Result<Value, ApiError> {
        let server = self.find_unlocked::<super::servers::Server>(id)?;
        let network = request.network.0;
        let Some(attached) = server.private_net.iter().find(|p| p.network == network) else {
            return Err(ApiError::unprocessable(
                "server_not_attached_to_network",
                "server is not attached to this network",
            ));
        };
        let own_ip = attached.ip.clone();
        let own_aliases = attached.alias_ips.clone();
        let range = self.networks.get(&network).map(|n| n.ip_range);
        for alias in &request.alias_ips {
            let inside = alias
                .parse::<std::net::Ipv4Addr>()
                .ok()
                .zip(range)
                .is_some_and(|(ip, range)| range.contains(&ip));
            if !inside {
                return Err(ApiError::invalid_field(
                    "alias_ips",
                    format!("{alias} is not an IPv4 address in the network's range"),
                ));
            }
            let taken_by_other =
                *alias == own_ip || (!own_aliases.contains(alias) && self.private_ip_in_use(network, alias));
            if taken_by_other {
                return Err(ApiError::unprocessable(
                    "ip_not_available",
                    format!("IP {alias} is not available"),
                ));
            }
        }
        let aliases = request.alias_ips;
        let other = Some(super::ResourceRef::new("network", network));
        Ok(
            self.apply_change::<super::servers::Server>(id, "change_alias_ips", other, |s| {
                if let Some(p) = s.private_net.iter_mut().find(|p| p.network == network) {
                    p.alias_ips = aliases;
                }
            }),
        )
    }
}
