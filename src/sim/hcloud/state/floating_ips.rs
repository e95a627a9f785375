//! Floating IPs: addresses from 127.2.0.0/16 that move between servers (the Talos
//! control-plane VIP). Reassigning to another server is allowed; deleting needs them
//! unassigned (live behaviour since May 2026).

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::Location;
use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::ListRules;
use super::catalog_views::requested_location;
use super::primary_ips::{ChangeDnsPtr, must_be_unassigned};
use super::resource::{DeleteProtected, Resource, delete_protected, stored_in};
use super::{FlexId, IdKind, IdOrName, NewAction, ResourceRef, World, check_labels, labels_json};

/// A floating IP.
#[derive(Debug, Clone)]
pub struct FloatingIp {
    /// ID.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Address (IPv4) or /64 (IPv6).
    pub ip: String,
    /// `ipv4` or `ipv6`.
    pub kind: &'static str,
    /// Assigned server.
    pub server: Option<u64>,
    /// Reverse DNS entries.
    pub dns_ptr: Vec<(String, String)>,
    /// Home location.
    pub home_location: &'static Location,
    /// Delete protection.
    pub protect_delete: bool,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: u64,
}

/// `POST /floating_ips`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateFloatingIp {
    #[serde(rename = "type")]
    kind: String,
    home_location: Option<IdOrName>,
    server: Option<FlexId>,
    name: Option<String>,
    description: Option<String>,
    labels: Option<Labels>,
}

/// `PUT /floating_ips/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateFloatingIp {
    name: Option<String>,
    description: Option<String>,
    labels: Option<Labels>,
}

/// `assign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignFloatingIp {
    server: Option<FlexId>,
}

impl Resource for FloatingIp {
    const KIND: &'static str = "floating_ip";
    const LIST: ListRules = ListRules::resources(&["id", "created"]);

    stored_in!(floating_ips);

    fn render(&self, world: &World) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "ip": self.ip,
            "type": self.kind,
            "server": self.server,
            "dns_ptr": self.dns_ptr.iter().map(|(ip, ptr)| json!({"ip": ip, "dns_ptr": ptr})).collect::<Vec<_>>(),
            "home_location": self.home_location.to_json(),
            "blocked": false,
            "protection": {"delete": self.protect_delete},
            "labels": labels_json(&self.labels),
            "created": world.timestamp(self.created),
        })
    }
}

delete_protected!(FloatingIp);

impl World {
    fn assign_floating_ip_action(&mut self, id: u64, server: u64) -> u64 {
        if let Some(ip) = self.floating_ips.get_mut(&id) {
            ip.server = Some(server);
        }
        let seconds = self.durations.small;
        self.start_action(NewAction::new(
            "assign_floating_ip",
            vec![ResourceRef::new("floating_ip", id), ResourceRef::new("server", server)],
            seconds,
        ))
    }

    /// `POST /floating_ips`: `server` or `home_location` is required.
    pub fn create_floating_ip(&mut self, request: CreateFloatingIp) -> Result<Value, ApiError> {
        check_labels(&request.labels)?;
        let kind = match request.kind.as_str() {
            "ipv4" => "ipv4",
            "ipv6" => "ipv6",
            _ => return Err(ApiError::invalid_field("type", "Must be one of: ipv4, ipv6.")),
        };
        if let Some(name) = &request.name {
            FloatingIp::check_name(name)?;
            self.ensure_name_free::<FloatingIp>(name, None)?;
        }
        let home_location = match (&request.server, &request.home_location) {
            (Some(server), _) => self.requested_server(server.0)?.location,
            (None, Some(l)) => requested_location("home_location", l)?,
            (None, None) => return Err(ApiError::invalid_input("either server or home_location is required")),
        };
        let id = self.new_id(IdKind::FloatingIp);
        let (v4, n) = self.next_ipv4(2);
        let ip = if kind == "ipv4" {
            v4
        } else {
            format!("2001:db8:2:{n:x}::/64")
        };
        self.floating_ips.insert(
            id,
            FloatingIp {
                id,
                name: request.name.unwrap_or_else(|| format!("floating_ip-{id}")),
                description: request.description,
                ip,
                kind,
                server: None,
                dns_ptr: Vec::new(),
                home_location,
                protect_delete: false,
                labels: request.labels.unwrap_or_default(),
                created: self.now,
            },
        );
        let action = request
            .server
            .map(|server| self.assign_floating_ip_action(id, server.0));
        Ok(self.created_reply::<FloatingIp>(id, action))
    }

    /// `PUT /floating_ips/{id}`.
    pub fn update_floating_ip(&mut self, id: u64, request: UpdateFloatingIp) -> Result<Value, ApiError> {
        self.update_with::<FloatingIp>(id, request.name, request.labels, |ip| {
            if request.description.is_some() {
                ip.description = request.description;
            }
        })
    }

    /// `DELETE /floating_ips/{id}`: 204; must be unassigned and unprotected.
    pub fn delete_floating_ip(&mut self, id: u64) -> Result<(), ApiError> {
        let ip = self.find_unlocked::<FloatingIp>(id)?;
        ip.ensure_unprotected()?;
        if ip.server.is_some() {
            return Err(must_be_unassigned("floating IP"));
        }
        self.floating_ips.remove(&id);
        Ok(())
    }

    /// `assign`: to another server (reassignment allowed); `server: null` unassigns.
    pub fn assign_floating_ip(&mut self, id: u64, request: AssignFloatingIp) -> Result<Value, ApiError> {
        let ip = self.find_unlocked::<FloatingIp>(id)?;
        let Some(server) = request.server else {
            return self.unassign_floating_ip(id);
        };
        self.requested_server(server.0)?;
        if ip.server == Some(server.0) {
            return Err(ApiError::unprocessable(
                "floating_ip_assigned",
                "floating IP is already assigned to this server",
            ));
        }
        let action = self.assign_floating_ip_action(id, server.0);
        Ok(json!({"action": self.action_json(action)}))
    }

    /// `unassign`.
    pub fn unassign_floating_ip(&mut self, id: u64) -> Result<Value, ApiError> {
        let server = self.find_unlocked::<FloatingIp>(id)?.server;
        let server = server.map(|server| ResourceRef::new("server", server));
        Ok(self.apply_change::<FloatingIp>(id, "unassign_floating_ip", server, |ip| ip.server = None))
    }

    /// `change_dns_ptr`.
    pub fn change_floating_ip_dns_ptr(&mut self, id: u64, request: ChangeDnsPtr) -> Result<Value, ApiError> {
        self.find_unlocked::<FloatingIp>(id)?;
        Ok(self.apply_change::<FloatingIp>(id, "change_dns_ptr", None, |ip| request.apply(&mut ip.dns_ptr)))
    }
}

/// Where the traffic plane sends what arrives on a floating IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIpRoute {
    /// Floating IP ID.
    pub id: u64,
    /// Its address (127.2.x.y).
    pub ip: std::net::Ipv4Addr,
    /// The public IPv4 of the server it is assigned to; `None` while unassigned (or
    /// assigned to a server without a public IPv4).
    pub target: Option<std::net::Ipv4Addr>,
}

impl World {
    /// The public IPv4 of a server as the API reports it (its primary IPv4), if any.
    pub(crate) fn server_public_ipv4(&self, server: u64) -> Option<std::net::Ipv4Addr> {
        let primary = self.servers.get(&server)?.ipv4?;
        self.primary_ips.get(&primary)?.ip.parse().ok()
    }

    /// Every IPv4 floating IP with the address it forwards to (the traffic plane's view).
    pub fn floating_ip_routes(&self) -> Vec<FloatingIpRoute> {
        self.floating_ips
            .values()
            .filter_map(|fip| {
                let ip = fip.ip.parse().ok()?;
                Some(FloatingIpRoute {
                    id: fip.id,
                    ip,
                    target: fip.server.and_then(|server| self.server_public_ipv4(server)),
                })
            })
            .collect()
    }
}
