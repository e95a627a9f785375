//! Primary IPs: the public addresses of servers. Every server IPv4 comes from 127.0.0.0/8
//! (pool 127.1.x.y) so later issues can bind real listeners on it. Assigning and
//! unassigning needs the server `off`. Unassigned IPs report `assignee_type: unassigned`
//! as the live API does since August 2026.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::{self, Location};
use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::{self, ListRules, Page, Query};
use super::networks::ChangeDeleteProtection;
use super::servers::ServerStatus;
use super::{FlexId, IdKind, IdOrName, NewAction, ResourceRef, World, check_labels, check_name, labels_json};

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

const RULES: ListRules = ListRules {
    sort_fields: &["id", "created"],
    name_filter: true,
    label_selector: true,
};

fn ip_kind(text: &str) -> Result<&'static str, ApiError> {
    match text {
        "ipv4" => Ok("ipv4"),
        "ipv6" => Ok("ipv6"),
        _ => Err(ApiError::invalid_field("type", "Must be one of: ipv4, ipv6.")),
    }
}

impl World {
    fn primary_ip(&self, id: u64) -> Result<&PrimaryIp, ApiError> {
        self.primary_ips
            .get(&id)
            .ok_or_else(|| ApiError::not_found("primary_ip", id))
    }

    fn allocate_public(&mut self, kind: &str, pool: u8) -> String {
        let (v4, n) = self.next_ipv4(pool);
        if kind == "ipv4" {
            v4
        } else {
            format!("2001:db8:{pool}:{n:x}::/64")
        }
    }

    /// A primary IP created for a new server (`auto_delete: true`).
    pub(crate) fn create_auto_primary_ip(&mut self, kind: &'static str, location: &'static Location) -> u64 {
        let id = self.new_id(IdKind::PrimaryIp);
        let ip = self.allocate_public(kind, 1);
        self.primary_ips.insert(
            id,
            PrimaryIp {
                id,
                name: format!("primary_ip-{id}"),
                ip,
                kind,
                assignee: None,
                auto_delete: true,
                dns_ptr: Vec::new(),
                location,
                protect_delete: false,
                labels: Labels::new(),
                created: self.now,
            },
        );
        id
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
        check_name("name", &request.name)?;
        check_labels(&request.labels)?;
        let kind = ip_kind(&request.kind)?;
        if let Some(t) = &request.assignee_type
            && t != "server"
        {
            return Err(ApiError::invalid_field("assignee_type", "Must be one of: server."));
        }
        if self.primary_ips.values().any(|p| p.name == request.name) {
            return Err(ApiError::uniqueness("name", "name is already used"));
        }
        let location = match (&request.assignee_id, &request.location, &request.datacenter) {
            (Some(server), None, None) => {
                let s = self
                    .servers
                    .get(&server.0)
                    .ok_or_else(|| ApiError::not_found("server", server.0))?;
                if s.status != ServerStatus::Off {
                    return Err(ApiError::unprocessable("server_not_stopped", "server must be stopped"));
                }
                let has = if kind == "ipv4" {
                    s.ipv4.is_some()
                } else {
                    s.ipv6.is_some()
                };
                if has {
                    return Err(ApiError::unprocessable(
                        if kind == "ipv4" {
                            "server_has_ipv4"
                        } else {
                            "server_has_ipv6"
                        },
                        format!("server already has an {kind}"),
                    ));
                }
                s.location
            }
            (None, Some(l), None) => catalog::location(l.as_str())
                .ok_or_else(|| ApiError::invalid_field("location", format!("location {} not found", l.as_str())))?,
            (None, None, Some(dc)) => {
                let name = dc.as_str().split('-').next().unwrap_or_default();
                catalog::location(name).ok_or_else(|| {
                    ApiError::invalid_field("datacenter", format!("datacenter {} not found", dc.as_str()))
                })?
            }
            _ => {
                return Err(ApiError::invalid_input(
                    "exactly one of assignee_id, location or datacenter is required",
                ));
            }
        };
        let id = self.new_id(IdKind::PrimaryIp);
        let ip = self.allocate_public(kind, 1);
        self.primary_ips.insert(
            id,
            PrimaryIp {
                id,
                name: request.name,
                ip,
                kind,
                assignee: None,
                auto_delete: request.auto_delete.unwrap_or(false),
                dns_ptr: Vec::new(),
                location,
                protect_delete: false,
                labels: request.labels.unwrap_or_default(),
                created: self.now,
            },
        );
        let action = match request.assignee_id {
            Some(server) => {
                self.attach_primary_ip(id, server.0);
                let seconds = self.durations.small;
                let action = self.start_action(NewAction::new(
                    "create_primary_ip",
                    vec![ResourceRef::new("primary_ip", id), ResourceRef::new("server", server.0)],
                    seconds,
                ));
                self.action_json(action)
            }
            None => Value::Null,
        };
        let mut body = json!({"primary_ip": self.primary_ip_json(id)});
        // `action` is optional but not nullable in the spec: omitted when nothing runs.
        if !action.is_null() {
            body["action"] = action;
        }
        Ok(body)
    }

    fn attach_primary_ip(&mut self, id: u64, server: u64) {
        let Some(ip) = self.primary_ips.get_mut(&id) else {
            return;
        };
        ip.assignee = Some(server);
        let kind = ip.kind;
        if let Some(s) = self.servers.get_mut(&server) {
            if kind == "ipv4" {
                s.ipv4 = Some(id);
            } else {
                s.ipv6 = Some(id);
            }
        }
    }

    /// `GET /primary_ips` with `name`, `label_selector`, `ip`.
    pub fn list_primary_ips(&self, query: &Query) -> Result<Page, ApiError> {
        let mut items: Vec<Value> = self.primary_ips.keys().map(|id| self.primary_ip_json(*id)).collect();
        pagination::filter_in(&mut items, query, "ip", "ip", &[])?;
        pagination::list(items, query, RULES)
    }

    /// `GET /primary_ips/{id}`.
    pub fn get_primary_ip(&self, id: u64) -> Result<Value, ApiError> {
        self.primary_ip(id)?;
        Ok(json!({"primary_ip": self.primary_ip_json(id)}))
    }

    /// `PUT /primary_ips/{id}`.
    pub fn update_primary_ip(&mut self, id: u64, request: UpdatePrimaryIp) -> Result<Value, ApiError> {
        self.primary_ip(id)?;
        if let Some(name) = &request.name {
            check_name("name", name)?;
            if self.primary_ips.values().any(|p| p.name == *name && p.id != id) {
                return Err(ApiError::uniqueness("name", "name is already used"));
            }
        }
        check_labels(&request.labels)?;
        let ip = self.primary_ips.get_mut(&id).expect("invariant: found above");
        if let Some(name) = request.name {
            ip.name = name;
        }
        if let Some(labels) = request.labels {
            ip.labels = labels;
        }
        if let Some(auto) = request.auto_delete {
            ip.auto_delete = auto;
        }
        Ok(json!({"primary_ip": self.primary_ip_json(id)}))
    }

    /// `DELETE /primary_ips/{id}`: 204; must be unassigned and unprotected.
    pub fn delete_primary_ip(&mut self, id: u64) -> Result<(), ApiError> {
        let ip = self.primary_ip(id)?;
        if ip.protect_delete {
            return Err(ApiError::protected("primary_ip"));
        }
        if ip.assignee.is_some() {
            return Err(ApiError::unprocessable(
                "must_be_unassigned",
                "primary IP must be unassigned before deletion",
            ));
        }
        self.ensure_unlocked("primary_ip", id)?;
        self.primary_ips.remove(&id);
        Ok(())
    }

    /// `assign`: the server must be off, in the same location, without an IP of this type.
    pub fn assign_primary_ip(&mut self, id: u64, request: AssignPrimaryIp) -> Result<Value, ApiError> {
        let ip = self.primary_ip(id)?;
        self.ensure_unlocked("primary_ip", id)?;
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
        let server = self
            .servers
            .get(&server_id)
            .ok_or_else(|| ApiError::not_found("server", server_id))?;
        self.ensure_unlocked("server", server_id)?;
        if server.status != ServerStatus::Off {
            return Err(ApiError::unprocessable("server_not_stopped", "server must be stopped"));
        }
        if server.location.id != ip.location.id {
            return Err(ApiError::unprocessable(
                "primary_ip_datacenter_mismatch",
                "server is in another location",
            ));
        }
        let has = if ip.kind == "ipv4" {
            server.ipv4.is_some()
        } else {
            server.ipv6.is_some()
        };
        if has {
            return Err(ApiError::unprocessable(
                if ip.kind == "ipv4" {
                    "server_has_ipv4"
                } else {
                    "server_has_ipv6"
                },
                format!("server already has an {}", ip.kind),
            ));
        }
        self.attach_primary_ip(id, server_id);
        let seconds = self.durations.small;
        let resources = vec![
            ResourceRef::new("primary_ip", id),
            ResourceRef::new("server", server_id),
        ];
        let action =
            self.start_action(NewAction::new("assign_primary_ip", resources.clone(), seconds).locks(resources));
        Ok(json!({"action": self.action_json(action)}))
    }

    /// `unassign`: the server must be off.
    pub fn unassign_primary_ip(&mut self, id: u64) -> Result<Value, ApiError> {
        let ip = self.primary_ip(id)?;
        self.ensure_unlocked("primary_ip", id)?;
        let Some(server_id) = ip.assignee else {
            return Err(ApiError::unprocessable("not_assigned", "primary IP is not assigned"));
        };
        let kind = ip.kind;
        if self
            .servers
            .get(&server_id)
            .is_some_and(|s| s.status != ServerStatus::Off)
        {
            return Err(ApiError::unprocessable("server_not_stopped", "server must be stopped"));
        }
        if kind == "ipv4" && !self.load_balancers_targeting(server_id).is_empty() {
            return Err(ApiError::unprocessable(
                "server_is_load_balancer_target",
                "server is a load balancer target and needs its IPv4",
            ));
        }
        self.primary_ips.get_mut(&id).expect("invariant: found above").assignee = None;
        if let Some(s) = self.servers.get_mut(&server_id) {
            if kind == "ipv4" {
                s.ipv4 = None;
            } else {
                s.ipv6 = None;
            }
        }
        let seconds = self.durations.small;
        let resources = vec![
            ResourceRef::new("primary_ip", id),
            ResourceRef::new("server", server_id),
        ];
        let action = self.start_action(NewAction::new("unassign_primary_ip", resources, seconds));
        Ok(json!({"action": self.action_json(action)}))
    }

    /// `change_protection`.
    pub fn change_primary_ip_protection(
        &mut self,
        id: u64,
        request: ChangeDeleteProtection,
    ) -> Result<Value, ApiError> {
        self.primary_ip(id)?;
        self.ensure_unlocked("primary_ip", id)?;
        if let Some(delete) = request.delete {
            self.primary_ips
                .get_mut(&id)
                .expect("invariant: found above")
                .protect_delete = delete;
        }
        let seconds = self.durations.small;
        let action = self.start_action(NewAction::new(
            "change_protection",
            vec![ResourceRef::new("primary_ip", id)],
            seconds,
        ));
        Ok(json!({"action": self.action_json(action)}))
    }

    /// `change_dns_ptr`.
    pub fn change_primary_ip_dns_ptr(&mut self, id: u64, request: ChangeDnsPtr) -> Result<Value, ApiError> {
        self.primary_ip(id)?;
        self.ensure_unlocked("primary_ip", id)?;
        let ip = self.primary_ips.get_mut(&id).expect("invariant: found above");
        ip.dns_ptr.retain(|(addr, _)| *addr != request.ip);
        if let Some(ptr) = request.dns_ptr {
            ip.dns_ptr.push((request.ip, ptr));
        }
        let seconds = self.durations.small;
        let action = self.start_action(NewAction::new(
            "change_dns_ptr",
            vec![ResourceRef::new("primary_ip", id)],
            seconds,
        ));
        Ok(json!({"action": self.action_json(action)}))
    }

    /// The API representation (live shape: no `datacenter`; `unassigned` when free).
    pub fn primary_ip_json(&self, id: u64) -> Value {
        let Some(p) = self.primary_ips.get(&id) else {
            return Value::Null;
        };
        let dns_ptr: Vec<Value> = if p.kind == "ipv4" {
            vec![json!({"ip": p.ip, "dns_ptr": p.dns_ptr_for(&p.ip)})]
        } else {
            p.dns_ptr
                .iter()
                .map(|(ip, ptr)| json!({"ip": ip, "dns_ptr": ptr}))
                .collect()
        };
        json!({
            "id": p.id,
            "name": p.name,
            "ip": p.ip,
            "type": p.kind,
            "assignee_id": p.assignee,
            "assignee_type": if p.assignee.is_some() { "server" } else { "unassigned" },
            "auto_delete": p.auto_delete,
            "blocked": false,
            "dns_ptr": dns_ptr,
            "location": p.location.to_json(),
            "protection": {"delete": p.protect_delete},
            "labels": labels_json(&p.labels),
            "created": self.timestamp(p.created),
        })
    }
}
