//! Attaching a server to private networks and placement groups, and detaching it.

use serde::Deserialize;
use serde_json::Value;

use super::super::super::error::ApiError;
use super::super::{FlexId, ResourceRef, World};
use super::{PrivateNet, Server};

/// `attach_to_network`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachToNetwork {
    network: FlexId,
    ip: Option<String>,
    alias_ips: Option<Vec<String>>,
    ip_range: Option<String>,
}

/// `detach_from_network`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetachFromNetwork {
    network: FlexId,
}

/// `add_to_placement_group`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddToPlacementGroup {
    placement_group: FlexId,
}

impl World {
    /// `attach_to_network`.
    pub fn attach_server_to_network(&mut self, id: u64, request: AttachToNetwork) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        let network = request.network.0;
        if server.private_net.iter().any(|p| p.network == network) {
            return Err(ApiError::unprocessable(
                "server_already_attached",
                "server is already attached to this network",
            ));
        }
        let zone = server.location.network_zone;
        self.network_for_attach(network, zone)?;
        if request.ip_range.is_some() && request.ip.is_some() {
            return Err(ApiError::invalid_field(
                "ip_range",
                "ip and ip_range are mutually exclusive",
            ));
        }
        let ip = self.allocate_private_ip(network, zone, request.ip.as_deref())?;
        let alias_ips = request.alias_ips.unwrap_or_default();
        for alias in &alias_ips {
            if self.private_ip_in_use(network, alias) || *alias == ip {
                return Err(ApiError::unprocessable(
                    "ip_not_available",
                    format!("IP {alias} is not available"),
                ));
            }
        }
        let mac_address = self.new_mac();
        let attached = PrivateNet {
            network,
            ip,
            alias_ips,
            mac_address,
        };
        let network = Some(ResourceRef::new("network", network));
        Ok(self.apply_change::<Server>(id, "attach_to_network", network, |s| s.private_net.push(attached)))
    }

    /// `detach_from_network`.
    pub fn detach_server_from_network(&mut self, id: u64, request: DetachFromNetwork) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        let network = request.network.0;
        if !server.private_net.iter().any(|p| p.network == network) {
            return Err(ApiError::unprocessable(
                "server_not_attached_to_network",
                "server is not attached to this network",
            ));
        }
        let other = Some(ResourceRef::new("network", network));
        Ok(self.apply_change::<Server>(id, "detach_from_network", other, |s| {
            s.private_net.retain(|p| p.network != network);
        }))
    }

    /// `add_to_placement_group`: only while `off`.
    pub fn add_to_placement_group(&mut self, id: u64, request: AddToPlacementGroup) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        server.ensure_off()?;
        if server.placement_group.is_some() {
            return Err(ApiError::unprocessable(
                "already_in_placement_group",
                "server is already in a placement group",
            ));
        }
        let group = request.placement_group.0;
        self.check_placement_capacity(group)?;
        let other = Some(ResourceRef::new("placement_group", group));
        Ok(self.apply_change::<Server>(id, "add_to_placement_group", other, |s| s.placement_group = Some(group)))
    }

    /// `remove_from_placement_group`.
    pub fn remove_from_placement_group(&mut self, id: u64) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        let Some(group) = server.placement_group else {
            return Err(ApiError::unprocessable(
                "server_not_in_placement_group",
                "server is not in a placement group",
            ));
        };
        let other = Some(ResourceRef::new("placement_group", group));
        Ok(self.apply_change::<Server>(id, "remove_from_placement_group", other, |s| s.placement_group = None))
    }
}
