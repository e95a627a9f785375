//! What the emulated network knows about the machines: read from the project (servers'
//! public and private addresses, the firewalls applied to them) and handed to the Talos
//! nodes' registry, which decides from it who reaches whom
//! ([`crate::sim::talos::Host`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::sim::hcloud::state::World;
use crate::sim::talos::Host;

/// The machine facts of every server with a public IPv4, keyed by that address (where its
/// system runs).
pub(crate) fn hosts(world: &World) -> BTreeMap<IpAddr, Host> {
    world
        .servers
        .keys()
        .filter_map(|&id| {
            let address = world.machine_facts(id)?.ipv4?;
            let server = world.servers.get(&id)?;
            let private = server
                .private_net
                .iter()
                .filter_map(|p| Some((p.network, p.ip.parse().ok()?)))
                .collect();
            let host = Host {
                private,
                filter: world.packet_filter(id),
            };
            Some((address, host))
        })
        .collect()
}
