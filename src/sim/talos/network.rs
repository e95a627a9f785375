//! The network between emulated nodes: the addresses each node's machine has, the
//! firewall on its public interface, and which nodes a partition cuts off. It decides
//! whether a connection from one node reaches an address of another, which addresses a
//! node's etcd advertises and which one its kubelet registers.
//!
//! A node listens only on its public IPv4 (a 127.x address); its private network
//! addresses (10.x) exist here only, as facts pushed by whoever runs the machines
//! ([`ClusterRegistry::set_hosts`](super::ClusterRegistry::set_hosts)). Like Hetzner, a
//! connection to a private address flows inside that network, unfiltered, and only from a
//! machine attached to it; a connection to a public address leaves from the sender's
//! public address through its outbound rules and must pass the receiver's inbound rules.
//! A node without machine facts (a node started on its own) sits on an open network: it
//! has its one address and no firewall.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use crate::lock::lock;
use crate::sim::hcloud::state::firewalls::PacketFilter;

/// What the network knows about one node's machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its addresses on private networks, in attachment order: (network ID, address).
    pub private: Vec<(u64, IpAddr)>,
    /// The filter on its public interface; `None`: no firewall applied, all passes.
    pub filter: Option<PacketFilter>,
}

/// The network's state, shared by a registry and its clusters.
#[derive(Debug, Default)]
pub(crate) struct Network {
    cut: Mutex<BTreeSet<IpAddr>>,
    /// Machine facts by node address (the machine's public IPv4).
    hosts: Mutex<Arc<BTreeMap<IpAddr, Host>>>,
}

impl Network {
    /// A consistent copy to decide with, taken before any cluster lock.
    pub(crate) fn view(&self) -> NetworkView {
        NetworkView {
            cut: lock(&self.cut).clone(),
            hosts: lock(&self.hosts).clone(),
        }
    }

    /// Cuts `address` off (or heals it).
    pub(crate) fn set_cut(&self, address: IpAddr, cut: bool) {
        let mut set = lock(&self.cut);
        if cut {
            set.insert(address);
        } else {
            set.remove(&address);
        }
    }

    /// Returns true if and only if `address` is cut off.
    pub(crate) fn is_cut(&self, address: IpAddr) -> bool {
        lock(&self.cut).contains(&address)
    }

    /// Replaces the machine facts; returns true if and only if they changed.
    pub(crate) fn set_hosts(&self, hosts: BTreeMap<IpAddr, Host>) -> bool {
        let mut current = lock(&self.hosts);
        if **current == hosts {
            return false;
        }
        *current = Arc::new(hosts);
        true
    }
}

/// A snapshot of the network.
#[derive(Debug, Clone)]
pub(crate) struct NetworkView {
    cut: BTreeSet<IpAddr>,
    hosts: Arc<BTreeMap<IpAddr, Host>>,
}

/// The port etcd peers talk on.
pub(crate) const ETCD_PEER_PORT: u16 = 2380;

impl NetworkView {
    /// The node's addresses, the way Talos lists routed addresses: the public one first,
    /// then private ones.
    pub(crate) fn addresses(&self, node: IpAddr) -> Vec<IpAddr> {
        let mut addresses = vec![node];
        if let Some(host) = self.hosts.get(&node) {
            addresses.extend(host.private.iter().map(|(_, address)| *address));
        }
        addresses
    }

    /// The addresses the node's etcd advertises (its peer URLs): with no
    /// `cluster.etcd.advertisedSubnets` the first routed address (the public one), else
    /// every address in them. A node on the open network advertises its one address
    /// whatever the subnets say. Empty: nothing matches, etcd does not start.
    pub(crate) fn etcd_addresses(&self, node: IpAddr, advertised_subnets: &[String]) -> Vec<IpAddr> {
        if !self.hosts.contains_key(&node) || advertised_subnets.is_empty() {
            return vec![node];
        }
        filter_addresses(&self.addresses(node), advertised_subnets)
    }

    /// The address the node's kubelet registers (its InternalIP): the first IPv4 in
    /// `machine.kubelet.nodeIP.validSubnets` (no setting: any). `None`: nothing matches,
    /// the kubelet finds no node IP. A node on the open network uses its one address.
    pub(crate) fn kubelet_address(&self, node: IpAddr, valid_subnets: &[String]) -> Option<IpAddr> {
        if !self.hosts.contains_key(&node) {
            return Some(node);
        }
        let addresses = self.addresses(node);
        let candidates = if valid_subnets.is_empty() {
            addresses
        } else {
            filter_addresses(&addresses, valid_subnets)
        };
        candidates.into_iter().find(IpAddr::is_ipv4)
    }

    /// Returns true if and only if a TCP connection from the node on `from` to
    /// `destination:port`, an address of the node on `to`, gets through.
    pub(crate) fn connects(&self, from: IpAddr, to: IpAddr, destination: IpAddr, port: u16) -> bool {
        if from == to {
            return true;
        }
        if self.cut.contains(&from) || self.cut.contains(&to) {
            return false;
        }
        let (sender, receiver) = (self.hosts.get(&from), self.hosts.get(&to));
        if destination == to {
            // The public path: out of the sender's public interface, into the receiver's.
            let out = sender
                .and_then(|h| h.filter.as_ref())
                .is_none_or(|f| f.admits_outbound("tcp", port, destination));
            let into = receiver
                .and_then(|h| h.filter.as_ref())
                .is_none_or(|f| f.admits_inbound("tcp", port, from));
            return out && into;
        }
        // A private address: only from a machine on the same network.
        let Some(network) = receiver
            .and_then(|h| h.private.iter().find(|(_, address)| *address == destination))
            .map(|(network, _)| *network)
        else {
            return false;
        };
        sender.is_none_or(|h| h.private.iter().any(|(on, _)| *on == network))
    }

    /// Returns true if and only if etcd peers on `a` and `b` (advertising `peers_a` and
    /// `peers_b`) reach each other: each can connect to a peer URL of the other.
    pub(crate) fn peers_reach(&self, a: IpAddr, peers_a: &[IpAddr], b: IpAddr, peers_b: &[IpAddr]) -> bool {
        a == b
            || (peers_b.iter().any(|&d| self.connects(a, b, d, ETCD_PEER_PORT))
                && peers_a.iter().any(|&d| self.connects(b, a, d, ETCD_PEER_PORT)))
    }
}

/// Talos's address filter: an address passes when it lies in one of the positive subnets
/// (or there is none) and in no `!`-negated one. Unparsable entries match nothing (the
/// config validator refuses them first).
fn filter_addresses(addresses: &[IpAddr], subnets: &[String]) -> Vec<IpAddr> {
    let (negated, positive): (Vec<&str>, Vec<&str>) =
        subnets.iter().map(|s| s.trim()).partition(|s| s.starts_with('!'));
    let parse = |text: &str| -> Option<IpNet> {
        text.parse::<IpNet>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
    };
    let positive: Vec<IpNet> = positive.into_iter().filter_map(parse).collect();
    let negated: Vec<IpNet> = negated.into_iter().filter_map(|s| parse(&s[1..])).collect();
    let any_positive = subnets.iter().any(|s| !s.trim().starts_with('!'));
    addresses
        .iter()
        .copied()
        .filter(|ip| !any_positive || positive.iter().any(|net| net.contains(ip)))
        .filter(|ip| !negated.iter().any(|net| net.contains(ip)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn subnets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn the_filter_keeps_positive_matches_minus_negated_ones() {
        let addresses = [ip("127.1.0.2"), ip("10.0.1.2"), ip("10.0.2.2")];
        assert_eq!(
            filter_addresses(&addresses, &subnets(&["10.0.0.0/16", "!10.0.2.0/24"])),
            vec![ip("10.0.1.2")]
        );
        assert_eq!(
            filter_addresses(&addresses, &subnets(&["!10.0.0.0/8"])),
            vec![ip("127.1.0.2")]
        );
        assert!(filter_addresses(&addresses, &subnets(&["192.168.0.0/16"])).is_empty());
    }

    #[test]
    fn an_open_node_advertises_its_address_a_hosted_one_follows_the_subnets() {
        let network = Network::default();
        let node = ip("127.1.0.2");
        assert_eq!(
            network.view().etcd_addresses(node, &subnets(&["10.0.1.0/24"])),
            vec![node]
        );
        network.set_hosts(BTreeMap::from([(
            node,
            Host {
                private: vec![(1, ip("10.0.1.2"))],
                filter: None,
            },
        )]));
        let view = network.view();
        assert_eq!(
            view.etcd_addresses(node, &[]),
            vec![node],
            "no setting: the first (public) address"
        );
        assert_eq!(
            view.etcd_addresses(node, &subnets(&["10.0.1.0/24"])),
            vec![ip("10.0.1.2")]
        );
        assert!(view.etcd_addresses(node, &subnets(&["10.9.0.0/16"])).is_empty());
        assert_eq!(view.kubelet_address(node, &[]), Some(node));
        assert_eq!(
            view.kubelet_address(node, &subnets(&["10.0.1.0/24"])),
            Some(ip("10.0.1.2"))
        );
        assert_eq!(view.kubelet_address(node, &subnets(&["10.9.0.0/16"])), None);
    }

    #[test]
    fn private_addresses_are_reachable_only_from_the_same_network() {
        let network = Network::default();
        let host = |net: u64, private: &str| Host {
            private: vec![(net, ip(private))],
            filter: None,
        };
        let (a, b, c) = (ip("127.1.0.2"), ip("127.1.0.3"), ip("127.1.0.4"));
        network.set_hosts(BTreeMap::from([
            (a, host(1, "10.0.1.2")),
            (b, host(1, "10.0.1.3")),
            (c, host(2, "10.1.1.4")),
        ]));
        let view = network.view();
        assert!(view.connects(a, b, ip("10.0.1.3"), ETCD_PEER_PORT));
        assert!(!view.connects(c, b, ip("10.0.1.3"), ETCD_PEER_PORT), "another network");
        assert!(!view.connects(a, b, ip("10.0.1.9"), ETCD_PEER_PORT), "not b's address");
        assert!(
            view.connects(c, b, b, ETCD_PEER_PORT),
            "no firewall: the public path is open"
        );
        network.set_cut(b, true);
        assert!(!network.view().connects(a, b, ip("10.0.1.3"), ETCD_PEER_PORT));
    }
}
