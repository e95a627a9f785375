//! The second stage: every rule of `docs/cluster-yaml.md` applied to the raw description,
//! all problems collected, and a [`Spec`] built when there are none. Reads only local files
//! (the schematic, the patch files); never the network.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};

use super::catalog::{self, Architecture, MAX_NAME_LENGTH, MAX_SERVERS_PER_PLACEMENT_GROUP};
use super::diagnostic::{Span, Spanned, suggest};
use super::model::{
    Endpoint, Firewall, Kubernetes, LoadBalancer, LoadBalancerService, LoadBalancerType, Location, Network,
    NetworkZone, Node, NodeGroup, Patches, Role, Schematic, SchematicSource, ServerType, Spec, Talos, first_host,
};
use super::names::{ClusterName, LoadBalancerName, NameError, NodeName, PoolName, Prefix};
use super::raw::{RawCluster, RawGroup, RawLoadBalancer, RawNetwork, RawSchematic, RawTalos, example};
use super::resources;
use super::version::{KubernetesVersion, TalosVersion, VersionError};
use super::yaml::{self, Reader};
use crate::excerpt::excerpt;

const CLUSTER_NAME_RULE: &str = "a Hetzner label value: 1–63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit, e.g. `tootcommunity-prod`";
const PREFIX_RULE: &str = "lowercase letters, digits and `-`, starting with a letter or digit, e.g. `tc-prod-`";
const DNS_LABEL_RULE: &str =
    "a lowercase DNS label: 1–63 letters `a-z`, digits and `-`, starting and ending with a letter or digit";

/// Checks `raw` and builds the [`Spec`]; every problem goes to `reader.diagnostics`. Returns
/// `None` when anything is wrong (the caller reports the diagnostics).
pub(crate) fn check(reader: &mut Reader<'_>, raw: &RawCluster, path: &Path, base_dir: &Path) -> Option<Spec> {
    let mut checker = Checker { r: reader, base_dir };
    let spec = checker.run(raw, path);
    if checker.r.diagnostics.is_empty() { spec } else { None }
}

struct Checker<'r, 's> {
    r: &'r mut Reader<'s>,
    base_dir: &'r Path,
}

/// A node before the cross-group checks, with where it was declared.
struct NodeDraft {
    node: Node,
    field: String,
    span: Span,
    ip_span: Option<Span>,
}

/// One entry of a group's node list as written: name (when valid), field path, position,
/// location override and fixed address.
type Declared = (
    Option<Spanned<NodeName>>,
    String,
    Span,
    Option<Location>,
    Option<Spanned<Ipv4Addr>>,
);

/// A group before the cross-group checks.
struct GroupDraft {
    role: Role,
    pool: Option<Spanned<PoolName>>,
    server_type: Spanned<ServerType>,
    type_field: String,
    nodes: Vec<NodeDraft>,
}

impl Checker<'_, '_> {
    fn error(
        &mut self,
        span: Span,
        field: &str,
        message: impl Into<String>,
        expected: &str,
        suggestion: Option<String>,
    ) {
        let diagnostic = self.r.diagnostic(span, field, message).suggestion(suggestion);
        let diagnostic = if expected.is_empty() {
            diagnostic
        } else {
            diagnostic.expected(expected)
        };
        self.r.push(diagnostic);
    }

    /// Looks a written name up with `find`; a name it does not know is reported as "unknown
    /// WHAT `name`" with the expected form and the closest of the `known` names.
    fn known<'k, T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
        example: &str,
        known: impl IntoIterator<Item = &'k str>,
        find: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let found = find(&value.value);
        if found.is_none() {
            let suggestion = suggest(&value.value, known);
            self.error(
                value.span,
                field,
                format!("unknown {what} `{}`", excerpt(&value.value).escape_debug()),
                example,
                suggestion,
            );
        }
        found
    }

    fn run(&mut self, raw: &RawCluster, path: &Path) -> Option<Spec> {
        let name = raw
            .name
            .as_ref()
            .and_then(|n| self.name(n, "name", "cluster name", CLUSTER_NAME_RULE, ClusterName::parse));
        let prefix = raw.prefix.as_ref().and_then(|p| {
            self.name(p, "prefix", "prefix", PREFIX_RULE, Prefix::parse)
                .map(|v| Spanned::new(v, p.span))
        });
        let location = raw.location.as_ref().and_then(|l| self.location(l, "location"));

        let network = raw.network.as_ref().and_then(|n| self.network(n, location.as_ref()));
        let zone = network
            .as_ref()
            .map(|n| n.zone)
            .or_else(|| location.map(|l| l.value.network_zone()));
        if let (Some(location), Some(network)) = (&location, &network) {
            self.in_zone(location, "location", network.zone);
        }

        let endpoint = match &raw.endpoint {
            None => Some(Endpoint::FloatingIp),
            Some(e) => self.known(
                e,
                "endpoint",
                "endpoint kind",
                example::ENDPOINT,
                ["floating-ip", "load-balancer"],
                Endpoint::from_name,
            ),
        };

        let firewall = raw
            .firewall
            .as_ref()
            .and_then(|f| self.firewall(f.admin_cidrs.as_ref()));
        let kubernetes = raw
            .kubernetes
            .as_ref()
            .and_then(|k| k.version.as_ref())
            .and_then(|v| {
                self.version(
                    v,
                    "kubernetes.version",
                    example::KUBERNETES_VERSION,
                    KubernetesVersion::parse,
                )
            })
            .map(|version| Kubernetes { version });

        let default_location = location.map(|l| l.value);
        let controlplane = raw
            .controlplane
            .as_ref()
            .and_then(|g| self.group(g, Role::ControlPlane, default_location, zone));
        let mut workers = Vec::new();
        let mut workers_ok = true;
        for group in &raw.workers {
            match self.group(group, Role::Worker, default_location, zone) {
                Some(draft) => workers.push(draft),
                None => workers_ok = false,
            }
        }
        self.unique_pools(&workers);
        let mut groups: Vec<&GroupDraft> = controlplane.iter().collect();
        groups.extend(workers.iter());
        self.unique_nodes(&groups);
        if let Some(prefix) = &prefix {
            self.node_name_lengths(&groups, prefix);
            self.derived_name_lengths(prefix, &workers);
        }
        if let Some(network) = &network {
            self.node_ips(&groups, network, raw.network.as_ref().and_then(|n| n.subnet.as_ref()));
        }

        let talos = raw.talos.as_ref().and_then(|t| self.talos(t, &groups));

        let declared_pools: Vec<&str> = raw
            .workers
            .iter()
            .filter_map(|w| w.pool.as_ref().map(|p| p.value.as_str()))
            .collect();
        let load_balancers = self.load_balancers(
            &raw.load_balancers,
            default_location,
            zone,
            &workers,
            &declared_pools,
            prefix.as_ref(),
        );
        if let (Some(network), Some(endpoint), Some(subnet)) =
            (&network, endpoint, raw.network.as_ref().and_then(|n| n.subnet.as_ref()))
        {
            let nodes: usize = groups.iter().map(|g| g.nodes.len()).sum();
            let balancers = raw.load_balancers.len() + usize::from(endpoint == Endpoint::LoadBalancer);
            self.subnet_capacity(network, subnet, nodes + balancers);
        }

        let patches = self.patches(raw);
        let sysctls = self.sysctls(&raw.sysctls);

        Some(Spec {
            path: path.to_path_buf(),
            base_dir: if self.base_dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                self.base_dir.to_path_buf()
            },
            name: name?,
            prefix: prefix?.value,
            location: location?.value,
            talos: talos?,
            kubernetes: kubernetes?,
            network: network?,
            endpoint: endpoint?,
            firewall: firewall?,
            controlplane: controlplane.map(finish_group)?,
            workers: if workers_ok {
                workers.into_iter().map(finish_group).collect()
            } else {
                return None;
            },
            load_balancers: load_balancers?,
            patches: patches?,
            sysctls: sysctls?,
        })
    }

    fn name<T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
        rule: &str,
        parse: impl Fn(&str) -> Result<T, NameError>,
    ) -> Option<T> {
        match parse(&value.value) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                self.error(
                    value.span,
                    field,
                    format!("`{}` is not a valid {what}: {e}", excerpt(&value.value).escape_debug()),
                    rule,
                    None,
                );
                None
            }
        }
    }

    fn spanned_name<T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
        parse: impl Fn(&str) -> Result<T, NameError>,
    ) -> Option<Spanned<T>> {
        self.name(value, field, what, DNS_LABEL_RULE, parse)
            .map(|parsed| Spanned::new(parsed, value.span))
    }

    fn location(&mut self, value: &Spanned<String>, field: &str) -> Option<Spanned<Location>> {
        self.known(
            value,
            field,
            "location",
            example::LOCATION,
            catalog::LOCATIONS.iter().map(|l| l.name),
            Location::from_name,
        )
        .map(|location| Spanned::new(location, value.span))
    }

    /// The location written for a group, node or load balancer at `path` (`path.location`),
    /// also checked against the cluster's network zone; `None` when it is unknown.
    fn location_in_zone(&mut self, value: &Spanned<String>, path: &str, zone: Option<NetworkZone>) -> Option<Location> {
        let field = yaml::join(path, "location");
        let parsed = self.location(value, &field)?;
        if let Some(zone) = zone {
            self.in_zone(&parsed, &field, zone);
        }
        Some(parsed.value)
    }

    fn in_zone(&mut self, location: &Spanned<Location>, field: &str, zone: NetworkZone) {
        let actual = location.value.network_zone();
        if actual != zone {
            let same_zone = catalog::LOCATIONS
                .iter()
                .filter(|l| l.network_zone == zone.as_str())
                .map(|l| format!("`{}`", l.name))
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                location.span,
                field,
                format!(
                    "location `{}` is in network zone {actual}, outside the cluster's network zone {zone}",
                    location.value
                ),
                &format!("a location in {zone}: {same_zone}"),
                None,
            );
        }
    }

    fn version<T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        expected: &str,
        parse: impl Fn(&str) -> Result<T, VersionError>,
    ) -> Option<T> {
        match parse(&value.value) {
            Ok(version) => Some(version),
            Err(e) => {
                self.error(
                    value.span,
                    field,
                    format!(
                        "`{}` is not a valid version: {}",
                        excerpt(&value.value).escape_debug(),
                        e.reason
                    ),
                    expected,
                    e.suggestion,
                );
                None
            }
        }
    }

    /// Parses a canonical IPv4 range (no host bits), reporting what else it is if not.
    fn ipv4_net(&mut self, value: &Spanned<String>, field: &str, expected: &str) -> Option<Ipv4Net> {
        let text = value.value.trim();
        let shown = excerpt(&value.value).escape_debug().to_string();
        match Ipv4Net::from_str(text) {
            Ok(net) if net.trunc() != net => {
                self.error(
                    value.span,
                    field,
                    format!("`{shown}` has host bits set"),
                    expected,
                    Some(net.trunc().to_string()),
                );
                None
            }
            Ok(net) => Some(net),
            Err(_) => {
                let message = if Ipv4Addr::from_str(text).is_ok() {
                    format!("`{shown}` is an address, not a range (add a prefix length)")
                } else if IpNet::from_str(text).is_ok() {
                    format!("`{shown}` is an IPv6 range; Hetzner networks and these ranges are IPv4")
                } else {
                    format!("`{shown}` is not a CIDR range")
                };
                self.error(value.span, field, message, expected, None);
                None
            }
        }
    }

    fn network(&mut self, raw: &RawNetwork, location: Option<&Spanned<Location>>) -> Option<Network> {
        let cidr = raw
            .cidr
            .as_ref()
            .and_then(|c| self.ipv4_net(c, "network.cidr", example::CIDR));
        if let (Some(cidr), Some(span)) = (cidr, raw.cidr.as_ref().map(|c| c.span)) {
            let private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
                .iter()
                .filter_map(|r| Ipv4Net::from_str(r).ok())
                .any(|range| range.contains(&cidr));
            if !private {
                self.error(
                    span,
                    "network.cidr",
                    format!("{cidr} is not a private (RFC 1918) range, which Hetzner networks require"),
                    "a range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, e.g. `10.0.0.0/16`",
                    None,
                );
            } else if cidr.prefix_len() > 24 {
                self.error(
                    span,
                    "network.cidr",
                    format!("{cidr} is smaller than /24, the smallest Hetzner network"),
                    example::CIDR,
                    None,
                );
            }
        }
        let subnet = raw
            .subnet
            .as_ref()
            .and_then(|s| self.ipv4_net(s, "network.subnet", example::SUBNET));
        let mut subnet_ok = true;
        if let (Some(subnet), Some(span)) = (subnet, raw.subnet.as_ref().map(|s| s.span)) {
            if let Some(cidr) = cidr
                && !cidr.contains(&subnet)
            {
                subnet_ok = false;
                self.error(
                    span,
                    "network.subnet",
                    format!("{subnet} is not inside network.cidr {cidr}"),
                    example::SUBNET,
                    None,
                );
            }
            if subnet.prefix_len() > 30 {
                subnet_ok = false;
                self.error(
                    span,
                    "network.subnet",
                    format!("{subnet} is smaller than /30, the smallest Hetzner subnet"),
                    example::SUBNET,
                    None,
                );
            }
        }
        let zone = match &raw.zone {
            Some(z) => self.known(
                z,
                "network.zone",
                "network zone",
                example::ZONE,
                catalog::NETWORK_ZONES.iter().copied(),
                NetworkZone::from_name,
            ),
            None => location.map(|l| l.value.network_zone()),
        };
        let range =
            |checker: &mut Self, value: Option<&Spanned<String>>, field: &str, default: &str, expected: &str| {
                match value {
                    Some(v) => checker.ipv4_net(v, field, expected).map(|net| (net, Some(v.span))),
                    None => Ipv4Net::from_str(default).ok().map(|net| (net, None)),
                }
            };
        let pods = range(
            self,
            raw.pods.as_ref(),
            "network.pods",
            Network::DEFAULT_PODS,
            example::PODS,
        );
        let services = range(
            self,
            raw.services.as_ref(),
            "network.services",
            Network::DEFAULT_SERVICES,
            example::SERVICES,
        );
        let describe = |field: &str, net: Ipv4Net, span: Option<Span>| match span {
            Some(_) => format!("{field} {net}"),
            None => format!("{field} {net} (the default)"),
        };
        // Pods and services may be carved out of the network range (the hcloud-talos layout
        // the reference cluster uses, which lets the cloud controller route pod ranges), but
        // must stay clear of the node subnet, where Hetzner hands out addresses, and of the
        // network's gateway.
        for (field, range, expected) in [
            ("network.pods", pods, example::PODS),
            ("network.services", services, example::SERVICES),
        ] {
            let Some((net, span)) = range else { continue };
            let at = span.unwrap_or(raw.anchor);
            if let Some(subnet) = subnet
                && overlaps(subnet, net)
            {
                let message = format!(
                    "{} overlaps network.subnet {subnet}, where the nodes live",
                    describe(field, net, span)
                );
                self.error(at, field, message, expected, None);
            } else if let Some(cidr) = cidr
                && net.contains(&first_host(cidr))
            {
                let message = format!(
                    "{} contains {}, the gateway of network.cidr {cidr}",
                    describe(field, net, span),
                    first_host(cidr)
                );
                self.error(at, field, message, expected, None);
            }
        }
        if let (Some((pods, pods_span)), Some((services, services_span))) = (pods, services)
            && overlaps(pods, services)
        {
            let message = format!(
                "{} overlaps {}",
                describe("network.services", services, services_span),
                describe("network.pods", pods, pods_span)
            );
            self.error(
                services_span.or(pods_span).unwrap_or(raw.anchor),
                "network.services",
                message,
                example::SERVICES,
                None,
            );
        }
        // A subnet with its own problem is not used for address checks (which would only
        // repeat it).
        Some(Network {
            cidr: cidr?,
            subnet: subnet.filter(|_| subnet_ok)?,
            zone: zone?,
            pods: pods?.0,
            services: services?.0,
        })
    }

    fn firewall(&mut self, admin_cidrs: Option<&Spanned<Vec<Spanned<String>>>>) -> Option<Firewall> {
        let list = admin_cidrs?;
        if list.value.is_empty() {
            self.error(
                list.span,
                "firewall.admin_cidrs",
                "the list is empty, so nobody could reach the Talos and Kubernetes APIs",
                "at least one range, e.g. `[203.0.113.7/32]` (`0.0.0.0/0` allows everyone)",
                None,
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (index, item) in list.value.iter().enumerate() {
            let field = format!("firewall.admin_cidrs[{index}]");
            let text = item.value.trim();
            let shown = excerpt(&item.value).escape_debug().to_string();
            match IpNet::from_str(text) {
                Ok(net) if net.trunc() != net => {
                    self.error(
                        item.span,
                        &field,
                        format!("`{shown}` has host bits set"),
                        example::ADMIN_CIDR,
                        Some(net.trunc().to_string()),
                    );
                    ok = false;
                }
                Ok(net) => {
                    if !out.contains(&net) {
                        out.push(net);
                    }
                }
                Err(_) => {
                    let (message, suggestion) = match IpAddr::from_str(text) {
                        Ok(IpAddr::V4(a)) => (format!("`{shown}` is an address, not a range"), Some(format!("{a}/32"))),
                        Ok(IpAddr::V6(a)) => (
                            format!("`{shown}` is an address, not a range"),
                            Some(format!("{a}/128")),
                        ),
                        Err(_) => (format!("`{shown}` is not a CIDR range"), None),
                    };
                    self.error(item.span, &field, message, example::ADMIN_CIDR, suggestion);
                    ok = false;
                }
            }
        }
        ok.then_some(Firewall { admin_cidrs: out })
    }

    fn group(
        &mut self,
        raw: &RawGroup,
        role: Role,
        default_location: Option<Location>,
        zone: Option<NetworkZone>,
    ) -> Option<GroupDraft> {
        let path = raw.path.as_str();
        let mut ok = true;
        let pool = match (&raw.pool, role) {
            (Some(p), Role::Worker) => {
                let parsed = self.spanned_name(p, &yaml::join(path, "pool"), "pool name", PoolName::parse);
                ok &= parsed.is_some();
                parsed
            }
            (None, Role::Worker) => {
                ok = false;
                None
            }
            (_, Role::ControlPlane) => None,
        };
        let type_field = yaml::join(path, "type");
        let server_type = raw.server_type.as_ref().and_then(|t| {
            self.known(
                t,
                &type_field,
                "server type",
                example::SERVER_TYPE,
                catalog::SERVER_TYPES.iter().map(|t| t.name),
                ServerType::from_name,
            )
            .map(|st| Spanned::new(st, t.span))
        });
        let group_location = match &raw.location {
            Some(l) => {
                let parsed = self.location_in_zone(l, path, zone);
                ok &= parsed.is_some();
                parsed
            }
            None => default_location,
        };

        // Names: from `nodes`, or numbered from `count`.
        let count_field = yaml::join(path, "count");
        let nodes_field = yaml::join(path, "nodes");
        let mut declared: Vec<Declared> = Vec::new();
        let size_span;
        let size_field;
        match (&raw.count, &raw.nodes) {
            (Some(count), Some(_)) => {
                self.error(
                    count.span,
                    &count_field,
                    "give either `count` or `nodes`, not both",
                    example::NODES,
                    None,
                );
                return None;
            }
            (None, None) if raw.has_count || raw.has_nodes => {
                // Present but unreadable: already reported.
                return None;
            }
            (Some(_), None) | (None, Some(_)) if raw.has_count && raw.has_nodes => {
                let span = raw.count.as_ref().map(|c| c.span).unwrap_or(raw.anchor);
                self.error(
                    span,
                    &count_field,
                    "give either `count` or `nodes`, not both",
                    example::NODES,
                    None,
                );
                return None;
            }
            (None, None) => {
                self.error(
                    raw.anchor,
                    path,
                    format!("`{path}` needs `count` or `nodes`"),
                    example::COUNT,
                    None,
                );
                return None;
            }
            (Some(count), None) => {
                size_span = count.span;
                size_field = count_field.clone();
                let minimum = if role == Role::ControlPlane { 1 } else { 0 };
                if count.value < minimum || count.value > MAX_SERVERS_PER_PLACEMENT_GROUP as i64 {
                    self.error(
                        count.span,
                        &count_field,
                        format!(
                            "count {} is out of range: a group holds {minimum} to {MAX_SERVERS_PER_PLACEMENT_GROUP} nodes (one spread placement group); split bigger groups into several pools",
                            count.value
                        ),
                        example::COUNT,
                        None,
                    );
                    return None;
                }
                let stem = match role {
                    Role::ControlPlane => Some("cp".to_owned()),
                    Role::Worker => pool.as_ref().map(|p| p.value.as_str().to_owned()),
                };
                if let Some(stem) = stem {
                    for index in 1..=count.value {
                        let text = format!("{stem}-{index}");
                        match NodeName::parse(&text) {
                            Ok(name) => declared.push((
                                Some(Spanned::new(name, count.span)),
                                count_field.clone(),
                                count.span,
                                None,
                                None,
                            )),
                            Err(e) => {
                                self.error(
                                    count.span,
                                    &count_field,
                                    format!("the generated node name `{}` is not valid: {e}", excerpt(&text)),
                                    "a shorter pool name",
                                    None,
                                );
                                ok = false;
                            }
                        }
                    }
                }
            }
            (None, Some(nodes)) => {
                size_span = nodes.span;
                size_field = nodes_field.clone();
                for node in &nodes.value {
                    let name_field = if node.location.is_none() && node.ip.is_none() && node_is_bare(node) {
                        node.path.clone()
                    } else {
                        yaml::join(&node.path, "name")
                    };
                    let name = node
                        .name
                        .as_ref()
                        .and_then(|n| self.spanned_name(n, &name_field, "node name", NodeName::parse));
                    ok &= name.is_some() || node.name.is_none();
                    let location = match &node.location {
                        Some(l) => {
                            let parsed = self.location_in_zone(l, &node.path, zone);
                            ok &= parsed.is_some();
                            parsed
                        }
                        None => None,
                    };
                    let ip = match &node.ip {
                        Some(ip) => match Ipv4Addr::from_str(ip.value.trim()) {
                            Ok(addr) => Some(Spanned::new(addr, ip.span)),
                            Err(_) => {
                                self.error(
                                    ip.span,
                                    &yaml::join(&node.path, "ip"),
                                    format!("`{}` is not an IPv4 address", excerpt(&ip.value).escape_debug()),
                                    example::NODE_IP,
                                    None,
                                );
                                ok = false;
                                None
                            }
                        },
                        None => None,
                    };
                    if node.name.is_none() {
                        ok = false;
                    }
                    let span = node.name.as_ref().map(|n| n.span).unwrap_or(node.anchor);
                    declared.push((name, name_field, span, location, ip));
                }
                let length = nodes.value.len();
                let minimum = if role == Role::ControlPlane { 1 } else { 0 };
                if length < minimum || length > MAX_SERVERS_PER_PLACEMENT_GROUP {
                    self.error(
                        nodes.span,
                        &nodes_field,
                        format!(
                            "{length} nodes is out of range: a group holds {minimum} to {MAX_SERVERS_PER_PLACEMENT_GROUP} nodes (one spread placement group); split bigger groups into several pools"
                        ),
                        example::NODES,
                        None,
                    );
                    ok = false;
                }
            }
        }
        if role == Role::ControlPlane {
            let size = declared.len();
            if size.is_multiple_of(2) && size > 0 {
                self.error(
                    size_span,
                    &size_field,
                    format!("{size} control plane nodes: etcd needs an odd number to keep a majority (1, 3 or 5)"),
                    "an odd number of control plane nodes, e.g. `3`",
                    None,
                );
                ok = false;
            }
        }
        let server_type = server_type?;
        let group_location = group_location?;
        if !ok {
            return None;
        }
        let nodes = declared
            .into_iter()
            .filter_map(|(name, field, span, location, ip)| {
                let name = name?;
                Some(NodeDraft {
                    node: Node {
                        name: name.value,
                        role,
                        pool: pool.as_ref().map(|p| p.value.clone()),
                        server_type: server_type.value,
                        architecture: server_type.value.architecture(),
                        location: location.unwrap_or(group_location),
                        ip: ip.as_ref().map(|ip| ip.value),
                    },
                    field,
                    span,
                    ip_span: ip.map(|ip| ip.span),
                })
            })
            .collect();
        Some(GroupDraft {
            role,
            pool,
            server_type,
            type_field,
            nodes,
        })
    }

    fn unique_pools(&mut self, workers: &[GroupDraft]) {
        let mut seen = BTreeSet::new();
        for (index, group) in workers.iter().enumerate() {
            if let Some(pool) = &group.pool
                && !seen.insert(pool.value.clone())
            {
                self.error(
                    pool.span,
                    &format!("workers[{index}].pool"),
                    format!("pool `{}` is declared twice", pool.value),
                    "a pool name used once",
                    None,
                );
            }
        }
    }

    fn unique_nodes(&mut self, groups: &[&GroupDraft]) {
        let mut seen = BTreeMap::new();
        for draft in groups.iter().flat_map(|g| g.nodes.iter()) {
            if let Some(first) = seen.insert(draft.node.name.clone(), draft.field.clone()) {
                self.error(
                    draft.span,
                    &draft.field,
                    format!("node name `{}` is already used by {first}", draft.node.name),
                    "node names unique across the control plane and all pools",
                    None,
                );
            }
        }
    }

    fn node_name_lengths(&mut self, groups: &[&GroupDraft], prefix: &Spanned<Prefix>) {
        let mut reported = BTreeSet::new();
        for draft in groups.iter().flat_map(|g| g.nodes.iter()) {
            let name = resources::server_name(prefix.value.as_str(), draft.node.name.as_str());
            let length = name.chars().count();
            if length > MAX_NAME_LENGTH && reported.insert((draft.span, draft.field.clone())) {
                self.error(
                    draft.span,
                    &draft.field,
                    format!("the server name `{name}` is {length} characters long, Hetzner allows {MAX_NAME_LENGTH}"),
                    "a shorter prefix or node name",
                    None,
                );
            }
        }
    }

    fn derived_name_lengths(&mut self, prefix: &Spanned<Prefix>, workers: &[GroupDraft]) {
        let p = prefix.value.as_str();
        let longest_fixed = [
            resources::network_name(p),
            resources::firewall_name(p, Role::ControlPlane),
            resources::firewall_name(p, Role::Worker),
            resources::placement_group_name(p, None),
            resources::api_endpoint_name(p),
        ]
        .into_iter()
        .max_by_key(|n| n.chars().count());
        if let Some(name) = longest_fixed
            && name.chars().count() > MAX_NAME_LENGTH
        {
            self.error(
                prefix.span,
                "prefix",
                format!(
                    "the resource name `{name}` would be {} characters long, Hetzner allows {MAX_NAME_LENGTH}",
                    name.chars().count()
                ),
                "a shorter prefix",
                None,
            );
            return;
        }
        for (index, group) in workers.iter().enumerate() {
            if let Some(pool) = &group.pool {
                let name = resources::placement_group_name(p, Some(pool.value.as_str()));
                let length = name.chars().count();
                if length > MAX_NAME_LENGTH {
                    self.error(
                        pool.span,
                        &format!("workers[{index}].pool"),
                        format!("the placement group name `{}` is {length} characters long, Hetzner allows {MAX_NAME_LENGTH}", excerpt(&name)),
                        "a shorter prefix or pool name",
                        None,
                    );
                }
            }
        }
    }

    fn node_ips(&mut self, groups: &[&GroupDraft], network: &Network, subnet_text: Option<&Spanned<String>>) {
        let subnet = network.subnet;
        let reserved = [
            (subnet.network(), "the subnet's network address"),
            (subnet.broadcast(), "the subnet's broadcast address"),
            (
                first_host(subnet),
                "the subnet's first address, left free for Hetzner's gateway",
            ),
            (network.gateway(), "the network's gateway"),
        ];
        let mut seen: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        let subnet_shown = subnet_text
            .map(|s| s.value.clone())
            .unwrap_or_else(|| subnet.to_string());
        for draft in groups.iter().flat_map(|g| g.nodes.iter()) {
            let (Some(ip), Some(span)) = (draft.node.ip, draft.ip_span) else {
                continue;
            };
            let field = format!("{}.ip", draft.field.trim_end_matches(".name"));
            if !subnet.contains(&ip) {
                self.error(
                    span,
                    &field,
                    format!("{ip} is not inside network.subnet {subnet_shown}"),
                    example::NODE_IP,
                    None,
                );
                continue;
            }
            if let Some((_, what)) = reserved.iter().find(|(addr, _)| *addr == ip) {
                self.error(span, &field, format!("{ip} is {what}"), example::NODE_IP, None);
                continue;
            }
            if let Some(first) = seen.insert(ip, draft.node.name.to_string()) {
                self.error(
                    span,
                    &field,
                    format!("{ip} is already the address of node `{first}`"),
                    "a private address used once",
                    None,
                );
            }
        }
    }

    fn subnet_capacity(&mut self, network: &Network, subnet: &Spanned<String>, needed: usize) {
        // Network and broadcast addresses and the reserved first address are not usable.
        let size: u64 = 1u64 << (32 - u32::from(network.subnet.prefix_len()));
        let usable = size.saturating_sub(3) as usize;
        if needed > usable {
            self.error(
                subnet.span,
                "network.subnet",
                format!(
                    "{} has room for {usable} addresses, but the cluster needs {needed} (nodes and load balancers)",
                    network.subnet
                ),
                example::SUBNET,
                None,
            );
        }
    }

    fn talos(&mut self, raw: &RawTalos, groups: &[&GroupDraft]) -> Option<Talos> {
        let version = raw
            .version
            .as_ref()
            .and_then(|v| self.version(v, "talos.version", example::TALOS_VERSION, TalosVersion::parse));
        let schematic = raw.schematic.as_ref().and_then(|s| self.schematic(s));
        let used: BTreeSet<Architecture> = groups.iter().map(|g| g.server_type.value.architecture()).collect();
        let (architectures, explicit) = match &raw.architectures {
            None => (Some(used.iter().copied().collect::<Vec<_>>()), false),
            Some(list) => {
                let mut explicit = BTreeSet::new();
                let mut ok = true;
                for (index, item) in list.value.iter().enumerate() {
                    let field = format!("talos.architectures[{index}]");
                    match Architecture::from_name(&item.value) {
                        Some(arch) => {
                            explicit.insert(arch);
                        }
                        None => {
                            let alias = match item.value.as_str() {
                                "x86" | "x86_64" | "x86-64" | "amd" | "intel" => Some("amd64".to_owned()),
                                "arm" | "aarch64" | "arm64v8" => Some("arm64".to_owned()),
                                other => suggest(other, Architecture::ALL.map(|a| a.as_str())),
                            };
                            self.error(
                                item.span,
                                &field,
                                format!("unknown architecture `{}`", excerpt(&item.value).escape_debug()),
                                "`amd64` or `arm64`",
                                alias,
                            );
                            ok = false;
                        }
                    }
                }
                if list.value.is_empty() {
                    self.error(
                        list.span,
                        "talos.architectures",
                        "the list is empty",
                        example::ARCHITECTURES,
                        None,
                    );
                    ok = false;
                }
                if ok {
                    let listed = explicit.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ");
                    for group in groups {
                        let arch = group.server_type.value.architecture();
                        if !explicit.contains(&arch) {
                            self.error(
                                group.server_type.span,
                                &group.type_field,
                                format!(
                                    "{} is an {arch} server type, but talos.architectures lists only {listed}",
                                    group.server_type.value
                                ),
                                &format!("a server type of {listed}, or add {arch} to talos.architectures"),
                                None,
                            );
                            ok = false;
                        }
                    }
                }
                (ok.then(|| explicit.into_iter().collect()), true)
            }
        };
        Some(Talos {
            version: version?,
            schematic: schematic?,
            architectures: architectures?,
            architectures_explicit: explicit,
        })
    }

    fn schematic(&mut self, raw: &RawSchematic) -> Option<Schematic> {
        match raw {
            RawSchematic::Inline { yaml, span } => {
                let parsed = crate::factory::Schematic::parse(yaml, "the inline schematic");
                self.checked_schematic(SchematicSource::Inline, yaml, parsed, |_, _| (None, *span))
            }
            RawSchematic::File(file) => {
                let resolved = resolve(self.base_dir, Path::new(&file.value));
                let problem = match crate::input_file::read(&resolved) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => {
                            let parsed = crate::factory::Schematic::parse(&text, &resolved.display().to_string());
                            let place =
                                |line: usize, column: usize| (Some(resolved.clone()), Span { line, column, width: 1 });
                            return self.checked_schematic(
                                SchematicSource::File(resolved.clone()),
                                &text,
                                parsed,
                                place,
                            );
                        }
                        Err(_) => "is not UTF-8 text".to_owned(),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_owned(),
                    Err(e) => format!("cannot be read: {e}"),
                };
                self.error(
                    file.span,
                    "talos.schematic",
                    format!(
                        "the schematic file {} {problem}",
                        excerpt(&resolved.display().to_string())
                    ),
                    example::SCHEMATIC,
                    None,
                );
                None
            }
        }
    }

    /// Turns the factory's strict parse of a schematic into the checked value, or into a
    /// diagnostic: in the schematic file at the problem's position, or at the inline block.
    fn checked_schematic(
        &mut self,
        source: SchematicSource,
        text: &str,
        parsed: Result<crate::factory::Schematic, crate::factory::schematic::Error>,
        place: impl Fn(usize, usize) -> (Option<PathBuf>, Span),
    ) -> Option<Schematic> {
        use crate::factory::schematic::Error as SchematicError;
        let outcome = parsed.and_then(|schematic| schematic.id().map(|id| (schematic, id)));
        match outcome {
            Ok((parsed, id)) => Some(Schematic {
                source,
                yaml: text.to_owned(),
                parsed,
                id,
            }),
            Err(error) => {
                let (file, span, field, message) = match &error {
                    SchematicError::Invalid {
                        line,
                        column,
                        path,
                        problem,
                        ..
                    } => {
                        let (file, span) = place(*line, *column);
                        // In a schematic file the field is named as in that file; inline, it
                        // continues the cluster.yaml path.
                        let field = match (&file, path.is_empty()) {
                            (Some(_), false) => path.clone(),
                            (_, true) => "talos.schematic".to_owned(),
                            (None, false) => format!("talos.schematic.{path}"),
                        };
                        (file, span, field, problem.to_string())
                    }
                    other => {
                        let (_, span) = place(1, 1);
                        (None, span, "talos.schematic".to_owned(), other.to_string())
                    }
                };
                let hint = match &error {
                    SchematicError::Invalid { problem, .. } => match problem.as_ref() {
                        crate::factory::schematic::Problem::UnknownField { field, expected, .. } => {
                            super::diagnostic::suggest(field, expected.iter().copied())
                        }
                        _ => None,
                    },
                    _ => None,
                };
                match file {
                    Some(file) => {
                        let mut diagnostic =
                            super::diagnostic::Diagnostic::new(&file, Some(text), span, Some(&field), message)
                                .expected(example::SCHEMATIC_CONTENT);
                        if let Some(hint) = hint {
                            diagnostic = diagnostic.suggestion(Some(hint));
                        }
                        self.r.push(diagnostic);
                    }
                    None => self.error(span, &field, message, example::SCHEMATIC_CONTENT, hint),
                }
                None
            }
        }
    }

    fn load_balancers(
        &mut self,
        raws: &[RawLoadBalancer],
        default_location: Option<Location>,
        zone: Option<NetworkZone>,
        workers: &[GroupDraft],
        declared_pools: &[&str],
        prefix: Option<&Spanned<Prefix>>,
    ) -> Option<Vec<LoadBalancer>> {
        let mut out = Vec::new();
        let mut ok = true;
        let mut names = BTreeSet::new();
        for raw in raws {
            let path = raw.path.as_str();
            let name_field = yaml::join(path, "name");
            let name = raw
                .name
                .as_ref()
                .and_then(|n| self.spanned_name(n, &name_field, "load balancer name", LoadBalancerName::parse));
            if let Some(name) = &name {
                if name.value.as_str() == resources::API_ENDPOINT_NAME {
                    self.error(
                        name.span,
                        &name_field,
                        "the name `api` is reserved for the Kubernetes API endpoint",
                        example::LB_NAME,
                        None,
                    );
                    ok = false;
                } else if !names.insert(name.value.clone()) {
                    self.error(
                        name.span,
                        &name_field,
                        format!("load balancer `{}` is declared twice", name.value),
                        "a load balancer name used once",
                        None,
                    );
                    ok = false;
                }
                if let Some(prefix) = prefix {
                    let full = resources::load_balancer_name(prefix.value.as_str(), name.value.as_str());
                    let length = full.chars().count();
                    if length > MAX_NAME_LENGTH {
                        self.error(
                            name.span,
                            &name_field,
                            format!("the load balancer name `{}` is {length} characters long, Hetzner allows {MAX_NAME_LENGTH}", excerpt(&full)),
                            "a shorter prefix or name",
                            None,
                        );
                        ok = false;
                    }
                }
            }
            let type_field = yaml::join(path, "type");
            let lb_type = raw.lb_type.as_ref().and_then(|t| {
                self.known(
                    t,
                    &type_field,
                    "load balancer type",
                    example::LB_TYPE,
                    catalog::LOAD_BALANCER_TYPES.iter().map(|t| t.name),
                    LoadBalancerType::from_name,
                )
            });
            let location = match &raw.location {
                Some(l) => self.location_in_zone(l, path, zone),
                None => default_location,
            };
            let pool_field = format!("{path}.targets.pool");
            // Pools are looked up by the name written, so a pool with its own problem is
            // not reported a second time as missing here.
            let target = raw.target_pool.as_ref().and_then(|p| {
                if declared_pools.contains(&p.value.as_str()) {
                    let group = workers
                        .iter()
                        .find(|g| g.pool.as_ref().is_some_and(|pool| pool.value.as_str() == p.value))?;
                    return Some((group.pool.as_ref()?.value.clone(), group.nodes.len(), p.span));
                }
                let expected = if declared_pools.is_empty() {
                    "the name of a pool under `workers:` (none is declared)".to_owned()
                } else {
                    format!(
                        "one of the pools {}",
                        declared_pools
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let suggestion = suggest(&p.value, declared_pools.iter().copied());
                self.error(
                    p.span,
                    &pool_field,
                    format!("no worker pool is called `{}`", excerpt(&p.value).escape_debug()),
                    &expected,
                    suggestion,
                );
                None
            });
            let services = raw.services.as_ref().and_then(|list| {
                let services_field = yaml::join(path, "services");
                if list.value.is_empty() {
                    self.error(
                        list.span,
                        &services_field,
                        "the list is empty",
                        example::SERVICES_LIST,
                        None,
                    );
                    return None;
                }
                if let Some(lb_type) = lb_type
                    && list.value.len() > lb_type.max_services()
                {
                    self.error(
                        list.span,
                        &services_field,
                        format!(
                            "{} services, but a {lb_type} load balancer has at most {}",
                            list.value.len(),
                            lb_type.max_services()
                        ),
                        "fewer services, or a bigger load balancer type",
                        None,
                    );
                }
                let mut services = Vec::new();
                let mut listen_ports: BTreeMap<u16, String> = BTreeMap::new();
                let mut services_ok = true;
                for service in &list.value {
                    let port = |checker: &mut Self, value: Option<&Spanned<i64>>, key: &str| -> Option<u16> {
                        let value = value?;
                        match u16::try_from(value.value) {
                            Ok(port) if port >= 1 => Some(port),
                            _ => {
                                checker.error(
                                    value.span,
                                    &yaml::join(&service.path, key),
                                    format!("port {} is out of range", value.value),
                                    example::PORT,
                                    None,
                                );
                                None
                            }
                        }
                    };
                    let listen = port(self, service.listen.as_ref(), "listen");
                    let target = port(self, service.target.as_ref(), "target");
                    if let (Some(listen), Some(span)) = (listen, service.listen.as_ref().map(|l| l.span))
                        && let Some(first) = listen_ports.insert(listen, service.path.clone())
                    {
                        self.error(
                            span,
                            &yaml::join(&service.path, "listen"),
                            format!("listen port {listen} is already used by {first}"),
                            "listen ports unique per load balancer",
                            None,
                        );
                        services_ok = false;
                    }
                    match (listen, target) {
                        (Some(listen), Some(target)) => services.push(LoadBalancerService {
                            listen,
                            target,
                            proxy_protocol: service.proxy_protocol.as_ref().is_some_and(|p| p.value),
                        }),
                        _ => services_ok = false,
                    }
                }
                services_ok.then_some(services)
            });
            if let (Some(lb_type), Some((pool, size, span))) = (lb_type, &target)
                && *size > lb_type.max_targets()
            {
                self.error(
                    *span,
                    &pool_field,
                    format!(
                        "pool `{pool}` has {size} nodes, but a {lb_type} load balancer has at most {} targets",
                        lb_type.max_targets()
                    ),
                    "a bigger load balancer type",
                    None,
                );
                ok = false;
            }
            match (name, lb_type, location, target, services) {
                (Some(name), Some(lb_type), Some(location), Some((target_pool, _, _)), Some(services)) => {
                    out.push(LoadBalancer {
                        name: name.value,
                        lb_type,
                        location,
                        target_pool,
                        services,
                    })
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn patches(&mut self, raw: &RawCluster) -> Option<Patches> {
        let mut ok = true;
        let mut resolve_list = |checker: &mut Self, list: &[Spanned<String>], key: &str| -> Vec<PathBuf> {
            let mut files: Vec<PathBuf> = Vec::new();
            for (index, pattern) in list.iter().enumerate() {
                let field = format!("patches.{key}[{index}]");
                match checker.glob(pattern, &field) {
                    Some(found) => {
                        for file in found {
                            if !files.contains(&file) {
                                files.push(file);
                            }
                        }
                    }
                    None => ok = false,
                }
            }
            files
        };
        let all = resolve_list(self, &raw.patches.all, "all");
        let controlplane = resolve_list(self, &raw.patches.controlplane, "controlplane");
        let worker = resolve_list(self, &raw.patches.worker, "worker");
        let mut checked = BTreeSet::new();
        for file in all.iter().chain(&controlplane).chain(&worker) {
            if checked.insert(file.clone()) {
                ok &= self.patch_file(file);
            }
        }
        ok.then_some(Patches {
            all,
            controlplane,
            worker,
        })
    }

    /// Resolves one glob pattern relative to cluster.yaml's folder: the regular files it
    /// matches, sorted; `None` (reported) when it is invalid or matches nothing.
    fn glob(&mut self, pattern: &Spanned<String>, field: &str) -> Option<Vec<PathBuf>> {
        let relative = Path::new(&pattern.value);
        let full = if relative.is_absolute() || self.base_dir.as_os_str().is_empty() {
            pattern.value.clone()
        } else {
            let Some(base) = self.base_dir.to_str() else {
                self.error(
                    pattern.span,
                    field,
                    format!(
                        "the folder {} is not UTF-8, so patterns cannot be matched in it",
                        self.base_dir.display()
                    ),
                    "",
                    None,
                );
                return None;
            };
            format!("{}/{}", glob::Pattern::escape(base), pattern.value)
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let paths = match glob::glob_with(&full, options) {
            Ok(paths) => paths,
            Err(e) => {
                self.error(
                    pattern.span,
                    field,
                    format!(
                        "`{}` is not a valid glob pattern: {}",
                        excerpt(&pattern.value).escape_debug(),
                        e.msg
                    ),
                    example::PATCH_LIST,
                    None,
                );
                return None;
            }
        };
        let mut files = Vec::new();
        for entry in paths {
            match entry {
                Ok(path) if path.is_file() => files.push(path),
                Ok(_) => {}
                Err(e) => {
                    self.error(
                        pattern.span,
                        field,
                        format!(
                            "cannot read {} while matching `{}`: {}",
                            excerpt(&e.path().display().to_string()),
                            excerpt(&pattern.value).escape_debug(),
                            e.error()
                        ),
                        "",
                        None,
                    );
                    return None;
                }
            }
        }
        if files.is_empty() {
            self.error(
                pattern.span,
                field,
                format!(
                    "`{}` matches no file (looked for {})",
                    excerpt(&pattern.value).escape_debug(),
                    excerpt(&full)
                ),
                "a pattern relative to cluster.yaml that matches at least one file, e.g. `machine-patches/all/*.yaml`",
                None,
            );
            return None;
        }
        files.sort();
        Some(files)
    }

    /// Checks that a patch file is readable YAML; problems are reported in that file.
    fn patch_file(&mut self, file: &Path) -> bool {
        let text = match crate::input_file::read(file).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                let diagnostic = super::diagnostic::Diagnostic::new(
                    file,
                    None,
                    Span::START,
                    None,
                    "the patch file is not UTF-8 text",
                );
                self.r.push(diagnostic);
                return false;
            }
            Err(e) => {
                let diagnostic = super::diagnostic::Diagnostic::new(
                    file,
                    None,
                    Span::START,
                    None,
                    format!("cannot read the patch file: {e}"),
                );
                self.r.push(diagnostic);
                return false;
            }
        };
        match yaml::load_documents(&text) {
            Ok(_) => true,
            Err(e) => {
                let mut diagnostic = yaml::syntax_diagnostic(file, &text, &e);
                diagnostic.message = format!("the patch file is not valid YAML: {}", e.info());
                self.r.push(diagnostic);
                false
            }
        }
    }

    fn sysctls(&mut self, raw: &[(Spanned<String>, Spanned<String>)]) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in raw {
            let field = format!("sysctls.{}", key.value);
            if !is_sysctl_name(&key.value) {
                self.error(
                    key.span,
                    &field,
                    format!("`{}` is not a sysctl name", excerpt(&key.value).escape_debug()),
                    "a dotted sysctl name, e.g. `net.core.somaxconn` or `vm.swappiness`",
                    None,
                );
                ok = false;
                continue;
            }
            if out.insert(key.value.clone(), value.value.clone()).is_some() {
                self.error(
                    key.span,
                    &field,
                    format!("sysctl `{}` is set twice", excerpt(&key.value)),
                    "",
                    None,
                );
                ok = false;
            }
        }
        ok.then_some(out)
    }
}

fn finish_group(draft: GroupDraft) -> NodeGroup {
    NodeGroup {
        role: draft.role,
        pool: draft.pool.map(|p| p.value),
        server_type: draft.server_type.value,
        nodes: draft.nodes.into_iter().map(|d| d.node).collect(),
    }
}

/// Returns true if and only if a node list entry was written as a bare name (`- cp-1`).
fn node_is_bare(node: &super::raw::RawNode) -> bool {
    node.name.as_ref().is_some_and(|n| n.span == node.anchor)
}

/// Returns true if and only if two ranges share an address.
pub(crate) fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Returns true if and only if `name` looks like a sysctl: dot-separated segments of
/// letters, digits, `_` and `-` (with `/` standing for a dot inside interface names), at
/// least two segments, the first lowercase.
pub(crate) fn is_sysctl_name(name: &str) -> bool {
    let mut segments = name.split('.');
    let first_ok = segments.next().is_some_and(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    });
    let mut rest = 0;
    let rest_ok = segments.all(|s| {
        rest += 1;
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'))
    });
    first_ok && rest_ok && rest >= 1
}

/// Resolves `relative` against cluster.yaml's folder (kept relative when that folder is the
/// current one).
pub(crate) fn resolve(base_dir: &Path, relative: &Path) -> PathBuf {
    if base_dir.as_os_str().is_empty() {
        relative.to_path_buf()
    } else {
        base_dir.join(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::from_str(s).expect("test CIDR")
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        assert!(overlaps(net("10.0.0.0/16"), net("10.0.16.0/20")));
        assert!(overlaps(net("10.0.16.0/20"), net("10.0.0.0/16")));
        assert!(!overlaps(net("10.0.0.0/16"), net("10.1.0.0/16")));
        assert!(!overlaps(net("10.0.16.0/20"), net("10.0.8.0/21")));
        assert!(overlaps(net("10.0.8.0/21"), net("10.0.8.0/21")));
        // Adjacent ranges do not overlap.
        assert!(!overlaps(net("10.0.8.0/21"), net("10.0.16.0/21")));
    }

    #[test]
    fn sysctl_names() {
        for ok in [
            "vm.swappiness",
            "net.core.somaxconn",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.conf.eth0/100.rp_filter",
            "net.ipv6.conf.all.disable_ipv6",
        ] {
            assert!(is_sysctl_name(ok), "{ok}");
        }
        for bad in [
            "swappiness",
            "",
            "vm.",
            ".vm",
            "vm..x",
            "vm swappiness",
            "VM.x",
            "vm.$(x)",
        ] {
            assert!(!is_sysctl_name(bad), "{bad}");
        }
    }

    #[test]
    fn first_host_is_after_the_network_address() {
        assert_eq!(first_host(net("10.0.0.0/16")), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(first_host(net("10.0.1.0/24")), Ipv4Addr::new(10, 0, 1, 1));
    }

    #[test]
    fn resolve_keeps_relative_paths_short() {
        assert_eq!(resolve(Path::new(""), Path::new("a/b.yaml")), PathBuf::from("a/b.yaml"));
        assert_eq!(
            resolve(Path::new("conf"), Path::new("a/b.yaml")),
            PathBuf::from("conf/a/b.yaml")
        );
        assert_eq!(resolve(Path::new("conf"), Path::new("/etc/x")), PathBuf::from("/etc/x"));
    }
}
