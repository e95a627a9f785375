//! Test controls acting on the system a server runs rather than on the server: make its
//! Talos hang, cut it off the network between nodes, and report what the node does.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::super::super::error::ApiError;
use super::super::World;
use super::Server;

impl World {
    /// Makes the Talos node on server `id` hang (`true`: apid accepts TCP but never
    /// answers, its etcd member stalls) or recover (`false`). A reboot, reset or power
    /// cycle of the server also ends a hang.
    ///
    /// # Errors
    /// `not_found` without such a server; 409 `conflict` when no Talos node runs on it.
    pub fn hang_server(&mut self, id: u64, hung: bool) -> Result<Value, ApiError> {
        let address = self.machine_address(id)?;
        let node = self
            .talos
            .as_ref()
            .and_then(|registry| registry.node(address))
            .ok_or_else(|| {
                ApiError::new(
                    409,
                    "conflict",
                    format!("no emulated Talos node runs on server {id}: nothing can hang"),
                )
            })?;
        node.set_hung(hung);
        Ok(self.machine_json(id))
    }

    /// Cuts server `id` off from every other node (`true`: its etcd reaches no peer and no
    /// peer reaches it) or heals it (`false`). The partition belongs to the network: it
    /// outlives reboots of the server until healed.
    ///
    /// # Errors
    /// `not_found` without such a server; 409 `conflict` without machines or a public IPv4.
    pub fn partition_server(&mut self, id: u64, partitioned: bool) -> Result<Value, ApiError> {
        let address = self.machine_address(id)?;
        let registry = self
            .talos
            .as_ref()
            .ok_or_else(|| ApiError::new(409, "conflict", "this emulator runs no machines to partition"))?;
        registry.set_partitioned(address, partitioned);
        Ok(self.machine_json(id))
    }

    /// What the Talos node on server `id` is and does (`null` when none runs), with the
    /// network's view of the server's address.
    pub(crate) fn machine_json(&self, id: u64) -> Value {
        let Some(registry) = &self.talos else {
            return Value::Null;
        };
        let Ok(address) = self.machine_address(id) else {
            return Value::Null;
        };
        let node = registry
            .node(address)
            .and_then(|node| serde_json::to_value(node.report()).ok());
        json!({
            "address": address,
            "partitioned": registry.is_partitioned(address),
            "talos": node,
        })
    }

    /// The address server `id`'s system runs on: its public IPv4.
    fn machine_address(&self, id: u64) -> Result<IpAddr, ApiError> {
        self.find::<Server>(id)?;
        self.machine_facts(id).and_then(|facts| facts.ipv4).ok_or_else(|| {
            ApiError::new(
                409,
                "conflict",
                format!("server {id} has no public IPv4 for its system to run on"),
            )
        })
    }
}
