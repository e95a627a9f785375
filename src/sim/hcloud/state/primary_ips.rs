//! Primary IPs: the public addresses of servers. Every server IPv4 comes from 127.0.0.0/8
//! (pool 127.1.x.y) so later issues can bind real listeners on it. Assigning and
//! unassigning needs the server `off`. Unassigned IPs report `assignee_type: unassigned`
//! as the live API does since August 2026.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::Location;
use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::ListRules;
use super::catalog_views::{requested_datacenter, requested_location};
use super::resource::{DeleteProtected, Resource, delete_protected, stored_in};
use super::servers::Server;
use super::{FlexId, IdKind, IdOrName, NewAction, ResourceRef, World, check_labels, labels_json};

/// A primary IP.
#[derive(Debug, Clone)]
pub struct PrimaryIp {
    /// ID.
    pub id: u64,
    /// Name.
    pub name: String,
    /// The address (IPv4) or the /64 (IPv6).
    pub ip: String,
    /// `ipv4` or `ipv6`.
    pub kind: &'static str,
    /// The server it is assigned to.
    pub assignee: Option<u64>,
    /// Deleted with its server.
    pub auto_delete: bool,
    /// Reverse DNS entries (ip, ptr).
    pub dns_ptr: Vec<(String, String)>,
    /// Location.
    pub location: &'static Location,
    /// Delete protection.
    pub protect_delete: bool,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: u64,
}

impl PrimaryIp {
    /// The reverse DNS name for `ip` (a default like the real one when unset).
    pub fn dns_ptr_for(&self, ip: &str) -> String {
        self.dns_ptr
            .iter()
            .find(|(addr, _)| addr == ip)
            .map(|(_, ptr)| ptr.clone())
            .unwrap_or_else(|| {
                let reversed: Vec<&str> = ip.split('.').rev().collect();
                format!("static.{}.clients.your-server.de", reversed.join("."))
            })
    }
}

/// `POST /primary_ips`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePrimaryIp {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    assignee_type: Option<String>,
    assignee_id: Option<FlexId>,
    location: Option<IdOrName>,
    datacenter: Option<IdOrName>,
    auto_delete: Option<bool>,
    labels: Option<Labels>,
}

/// `PUT /primary_ips/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePrimaryIp {
    name: Option<String>,
    labels: Option<Labels>,
    auto_delete: Option<bool>,
}

/// `assign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignPrimaryIp {
    assignee_id: FlexId,
    assignee_type: String,
}

/// `change_dns_ptr` of a floating or primary IP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeDnsPtr {
    /// The address.
    pub ip: String,
    /// The PTR record (null resets it).
    pub dns_ptr: Option<String>,
}

impl ChangeDnsPtr {
    /// Replaces the entry for the address in `entries` (ip, ptr), or removes it.
    pub fn apply(self, entries: &mut Vec<(String, String)>) {
        entries.retain(|(addr, _)| *addr != self.ip);
        if let Some(ptr) = self.dns_ptr {
            entries.push((self.ip, ptr));
        }
    }
}

impl Resource for PrimaryIp {
    const KIND: &'static str = "primary_ip";
    const LIST: ListRules = ListRules::resources(&["id", "created"]).filters(&[("ip", &[])]);

    stored_in!(primary_ips);

    /// The live shape: no `datacenter`; `unassigned` when free.
    fn render(&self, world: &World) -> Value {
        let dns_ptr: Vec<Value> = if self.kind == "ipv4" {
            vec![json!({"ip": self.ip, "dns_ptr": self.dns_ptr_for(&self.ip)})]
        } else {
            self.dns_ptr
                .iter()
                .map(|(ip, ptr)| json!({"ip": ip, "dns_ptr": ptr}))
                .collect()
        };
        json!({
            "id": self.id,
            "name": self.name,
            "ip": self.ip,
            "type": self.kind,
            "assignee_id": self.assignee,
            "assignee_type": if self.assignee.is_some() { "server" } else { "unassigned" },
            "auto_delete": self.auto_delete,
            "blocked": false,
            "dns_ptr": dns_ptr,
            "location": self.location.to_json(),
            "protection": {"delete": self.protect_delete},
            "labels": labels_json(&self.labels),
            "created": world.timestamp(self.created),
        })
    }
}

delete_protected!(PrimaryIp);

/// 422 `must_be_unassigned`: a floating or primary IP is deleted only when unassigned.
pub(crate) fn must_be_unassigned(what: &str) -> ApiError {
    ApiError::unprocessable(
        "must_be_unassigned",
        format!("{what} must be unassigned before deletion"),
    )
}

fn ip_kind(text: &str) -> Result<&'static str, ApiError> {
    match text {
        "ipv4" => Ok("ipv4"),
        "ipv6" => Ok("ipv6"),
        _ => Err(ApiError::invalid_field("type", "Must be one of: ipv4, ipv6.")),
    }
}

impl World {
    fn allocate_public(&mut self, kind: &str, pool: u8) -> String {
        let (v4, n) = self.next_ipv4(pool);
        if kind == "ipv4" {
            v4
        } else {
            format!("2001:db8:{pool}:{n:x}::/64")
        }
    }

    /// A new, unassigned primary IP from pool 127.1.x.y; named `primary_ip-{id}` unless
    /// `name` is given.
    fn add_primary_ip(
        &mut self,
        name: Option<String>,
        kind: &'static str,
        location: &'static Location,
        auto_delete: bool,
        labels: Labels,
    ) -> u64 {
        let id = self.new_id(IdKind::PrimaryIp);
        let ip = self.allocate_public(kind, 1);
        self.primary_ips.insert(
            id,
            PrimaryIp {
                id,
                name: name.unwrap_or_else(|| format!("primary_ip-{id}")),
                ip,
                kind,
                assignee: None,
                auto_delete,
                dns_ptr: Vec::new(),
                location,
                protect_delete: false,
                labels,
                created: self.now,
            },
        );
        id
    }

    /// A primary IP created for a new server (`auto_delete: true`).
    pub(crate) fn create_auto_primary_ip(&mut self, kind: &'static str, location: &'static Location) -> u64 {
        self.add_primary_ip(None, kind, location, true, Labels::new())
    }

    /// The primary IP exists, is of `kind`, unassigned and in `location`.
    pub(crate) fn check_primary_ip_free(&self, id: u64, kind: &str, location: &Location) -> Result<(), ApiError> {
        let ip = self.primary_ips.get(&id).ok_or_else(|| {
            ApiError::invalid_field(&format!("public_net.{kind}"), format!("primary IP {id} not found"))
        })?;
        if ip.kind != kind {
            return Err(ApiError::new(
                412,
                "primary_ip_version_mismatch",
                format!("primary IP {id} is not {kind}"),
            ));
        }
        if ip.assignee.is_some() {
            return Err(ApiError::unprocessable(
                "primary_ip_assigned",
                format!("primary IP {id} is already assigned"),
            ));
        }
        if ip.location.id != location.id {
            return Err(ApiError::unprocessable(
                "primary_ip_datacenter_mismatch",
                format!("primary IP {id} is in another location"),
            ));
        }
        Ok(())
    }

    /// `POST /primary_ips`.
    pub fn create_primary_ip(&mut self, request: CreatePrimaryIp) -> Result<Value, ApiError> {
        PrimaryIp::check_name(&request.name)?;
        check_labels(&request.labels)?;
        let kind = ip_kind(&request.kind)?;
        if let Some(t) = &request.assignee_type
            && t != "server"
        {
            return Err(ApiError::invalid_field("assignee_type", "Must be one of: server."));
        }
        self.ensure_name_free::<PrimaryIp>(&request.name, None)?;
        let location = match (&request.assignee_id, &request.location, &request.datacenter) {
            (Some(server), None, None) => {
                let s = self.find::<Server>(server.0)?;
                s.ensure_off()?;
                s.ensure_no_primary_ip(kind)?;
                s.location
            }
            (None, Some(l), None) => requested_location("location", l)?,
            (None, None, Some(dc)) => requested_datacenter(dc)?,
            _ => {
                return Err(ApiError::invalid_input(
                    "exactly one of assignee_id, location or datacenter is required",
                ));
            }
        };
        let auto_delete = request.auto_delete.unwrap_or(false);
        let labels = request.labels.unwrap_or_default();
        let id = self.add_primary_ip(Some(request.name), kind, location, auto_delete, labels);
        let action = request.assignee_id.map(|server| {
            self.attach_primary_ip(id, server.0);
            let seconds = self.durations.small;
            self.start_action(NewAction::new(
                "create_primary_ip",
                vec![ResourceRef::new("primary_ip", id), ResourceRef::new("server", server.0)],
                seconds,
            ))
        });
        Ok(self.created_reply::<PrimaryIp>(id, action))
    }

    fn attach_primary_ip(&mut self, id: u64, server: u64) {
        let Some(ip) = self.primary_ips.get_mut(&id) else {
            return;
        };
        ip.assignee = Some(server);
        let kind = ip.kind;
        if let Some(s) = self.servers.get_mut(&server) {
            *s.primary_ip_slot(kind) = Some(id);
        }
    }

    /// `PUT /primary_ips/{id}`.
    pub fn update_primary_ip(&mut self, id: u64, request: UpdatePrimaryIp) -> Result<Value, ApiError> {
        self.update_with::<PrimaryIp>(id, request.name, request.labels, |ip| {
            if let Some(auto) = request.auto_delete {
                ip.auto_delete = auto;
            }
        })
    }

    /// `DELETE /primary_ips/{id}`: 204; must be unassigned and unprotected.
    pub fn delete_primary_ip(&mut self, id: u64) -> Result<(), ApiError> {
        let ip = self.find::<PrimaryIp>(id)?;
        ip.ensure_unprotected()?;
        if ip.assignee.is_some() {
            return Err(must_be_unassigned("primary IP"));
        }
        self.ensure_unlocked::<PrimaryIp>(id)?;
        self.primary_ips.remove(&id);
        Ok(())
    }

    /// `assign`: the server must be off, in the same location, without an IP of this type.
    pub fn assign_primary_ip(&mut self, id: u64, request: AssignPrimaryIp) -> Result<Value, ApiError> {
        let ip = self.find_unlocked::<PrimaryIp>(id)?;
        if request.assignee_type != "server" {
            return Err(ApiError::invalid_field("assignee_type", "Must be one of: server."));
        }
        if ip.assignee.is_some() {
            return Err(ApiError::unprocessable(
                "primary_ip_assigned",
                "primary IP is already assigned",
            ));
        }
        let server_id = request.assignee_id.0;
        let server = self.find_unlocked::<Server>(server_id)?;
        server.ensure_off()?;
        if server.location.id != ip.location.id {
            return Err(ApiError::unprocessable(
                "primary_ip_datacenter_mismatch",
                "server is in another location",
            ));
        }
        server.ensure_no_primary_ip(ip.kind)?;
        self.attach_primary_ip(id, server_id);
        let seconds = self.durations.small;
        let resources = vec![
            ResourceRef::new("primary_ip", id),
            ResourceRef::new("server", server_id),
        ];
        let action =
            self.start_action(NewAction::new("assign_primary_ip", resources.clone(), seconds).locks(resources));
        Ok(self.action_reply(action))
    }

    /// `unassign`: the server must be off.
    pub fn unassign_primary_ip(&mut self, id: u64) -> Result<Value, ApiError> {
        let ip = self.find_unlocked::<PrimaryIp>(id)?;
        let Some(server_id) = ip.assignee else {
            return Err(ApiError::unprocessable("not_assigned", "primary IP is not assigned"));
        };
        let kind = ip.kind;
        if let Some(server) = self.servers.get(&server_id) {
            server.ensure_off()?;
        }
        if kind == "ipv4" && !self.load_balancers_targeting(server_id).is_empty() {
            return Err(ApiError::unprocessable(
                "server_is_load_balancer_target",
                "server is a load balancer target and needs its IPv4",
            ));
        }
        if let Some(s) = self.servers.get_mut(&server_id) {
            *s.primary_ip_slot(kind) = None;
        }
        let server = Some(ResourceRef::new("server", server_id));
        Ok(self.apply_change::<PrimaryIp>(id, "unassign_primary_ip", server, |ip| ip.assignee = None))
    }

    /// `change_dns_ptr`.
    pub fn change_primary_ip_dns_ptr(&mut self, id: u64, request: ChangeDnsPtr) -> Result<Value, ApiError> {
        self.find_unlocked::<PrimaryIp>(id)?;
        Ok(self.apply_change::<PrimaryIp>(id, "change_dns_ptr", None, |ip| request.apply(&mut ip.dns_ptr)))
    }
}
