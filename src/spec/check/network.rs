//! `network:`: the network range, the node subnet, the zone, the pod and service ranges,
//! and the addresses nodes and load balancers take in the subnet.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};

use super::Checker;
use super::nodes::GroupDraft;
use crate::excerpt::excerpt;
use crate::spec::catalog;
use crate::spec::diagnostic::{Span, Spanned};
use crate::spec::model::{Location, Network, NetworkZone, first_host};
use crate::spec::raw::{RawNetwork, example};

/// What [`Checker::cidr`] made of a range.
pub(super) enum Cidr<'t, N> {
    /// A range without host bits.
    Canonical(N),
    /// A range with host bits set, already reported.
    Reported,
    /// Not a range of this kind: the trimmed text and its excerpt for messages, so that the
    /// caller can say what it is instead.
    Not {
        /// The trimmed text.
        text: &'t str,
        /// The text as messages show it.
        shown: String,
    },
}

impl Checker<'_, '_> {
    /// Parses a CIDR range of type `N`, reporting one with host bits set (suggesting the
    /// range `trunc` makes of it).
    pub(super) fn cidr<'t, N: FromStr + PartialEq + fmt::Display>(
        &mut self,
        value: &'t Spanned<String>,
        field: &str,
        expected: &str,
        trunc: impl Fn(&N) -> N,
    ) -> Cidr<'t, N> {
        let text = value.value.trim();
        let shown = excerpt(&value.value).escape_debug().to_string();
        match N::from_str(text) {
            Ok(net) if trunc(&net) != net => {
                self.error(
                    value.span,
                    field,
                    format!("`{shown}` has host bits set"),
                    expected,
                    Some(trunc(&net).to_string()),
                );
                Cidr::Reported
            }
            Ok(net) => Cidr::Canonical(net),
            Err(_) => Cidr::Not { text, shown },
        }
    }

    /// Parses a canonical IPv4 range (no host bits), reporting what else it is if not.
    pub(super) fn ipv4_net(&mut self, value: &Spanned<String>, field: &str, expected: &str) -> Option<Ipv4Net> {
        match self.cidr(value, field, expected, Ipv4Net::trunc) {
            Cidr::Canonical(net) => Some(net),
            Cidr::Reported => None,
            Cidr::Not { text, shown } => {
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

    pub(super) fn network(&mut self, raw: &RawNetwork, location: Option<&Spanned<Location>>) -> Option<Network> {
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

    pub(super) fn node_ips(
        &mut self,
        groups: &[&GroupDraft],
        network: &Network,
        subnet_text: Option<&Spanned<String>>,
    ) {
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

    pub(super) fn subnet_capacity(&mut self, network: &Network, subnet: &Spanned<String>, needed: usize) {
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
}

/// Returns true if and only if two ranges share an address.
pub(crate) fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
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
    fn first_host_is_after_the_network_address() {
        assert_eq!(first_host(net("10.0.0.0/16")), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(first_host(net("10.0.1.0/24")), Ipv4Addr::new(10, 0, 1, 1));
    }
}
