//! Floating IPs: addresses from 127.2.0.0/16 that move between servers (the Talos
//! control-plane VIP). Reassigning to another server is allowed; deleting needs them
//! unassigned (live behaviour since May 2026).

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::{self, Location};
use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::{self, ListRules, Page, Query};
use super::networks::ChangeDeleteProtection;
use super::primary_ips::ChangeDnsPtr;
use super::{FlexId, IdKind, IdOrName, NewAction, ResourceRef, World, check_labels, check_name, labels_json};

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

const RULES: ListRules = ListRules {
    sort_fields: &["id", "created"],
    name_filter: true,
    label_selector: true,
};

impl World {
    fn floating_ip(&self, id: u64) -> Result<&FloatingIp, ApiError> {
        self.floating_ips
            .get(&id)
            .ok_or_else(|| ApiError::not_found("floating_ip", id))
    }

    fn floating_ip_for_change(&self, id: u64) -> Result<&FloatingIp, ApiError> {
        let ip = self.floating_ip(id)?;
        self.ensure_unlocked("floating_ip", id)?;
        Ok(ip)
    }

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
            check_name("name", name)?;
            if self.floating_ips.values().any(|f| f.name == *name) {
                return Err(ApiError::uniqueness("name", "name is already used"));
            }
        }
        let home_location = match (&request.server, &request.home_location) {
            (Some(server), _) => {
                self.servers
                    .get(&server.0)
                    .ok_or_else(|| ApiError::invalid_field("server", format!("server {} not found", server.0)))?
                    .location
            }
            (None, Some(l)) => catalog::location(l.as_str()).ok_or_else(|| {
                ApiError::invalid_field("home_location", format!("location {} not found", l.as_str()))
            })?,
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
        let action = match request.server {
            Some(server) => {
                let action = self.assign_floating_ip_action(id, server.0);
                self.action_json(action)
            }
            None => Value::Null,
        };
        let mut body = json!({"floating_ip": self.floating_ip_json(id)});
        // `action` is optional but not nullable in the spec: omitted when nothing runs.
        if !action.is_null() {
            body["action"] = action;
        }
        Ok(body)
    }

    /// `GET /floating_ips`.
    pub fn list_floating_ips(&self, query: &Query) -> Result<Page, ApiError> {
        pagination::list(
            self.floating_ips.keys().map(|id| self.floating_ip_json(*id)).collect(),
            query,
            RULES,
        )
    }

    /// `GET /floating_ips/{id}`.
    pub fn get_floating_ip(&self, id: u64) -> Result<Value, ApiError> {
        self.floating_ip(id)?;
        Ok(json!({"floating_ip": self.floating_ip_json(id)}))
    }

    /// `PUT /floating_ips/{id}`.
    pub fn update_floating_ip(&mut self, id: u64, request: UpdateFloatingIp) -> Result<Value, ApiError> {
        self.floating_ip(id)?;
        if let Some(name) = &request.name {
            check_name("name", name)?;
            if self.floating_ips.values().any(|f| f.name == *name && f.id != id) {
                return Err(ApiError::uniqueness("name", "name is already used"));
            }
        }
        check_labels(&request.labels)?;
        let ip = self.floating_ips.get_mut(&id).expect("invariant: found above");
        if let Some(name) = request.name {
            ip.name = name;
        }
        if request.description.is_some() {
            ip.description = request.description;
        }
        if let Some(labels) = request.labels {
            ip.labels = labels;
        }
        Ok(json!({"floating_ip": self.floating_ip_json(id)}))
    }

    /// `DELETE /floating_ips/{id}`: 204; must be unassigned and unprotected.
    pub fn delete_floating_ip(&mut self, id: u64) -> Result<(), ApiError> {
        let ip = self.floating_ip_for_change(id)?;
        if ip.protect_delete {
            return Err(ApiError::protected("floating_ip"));
        }
        if ip.server.is_some() {
            return Err(ApiError::unprocessable(
                "must_be_unassigned",
                "floating IP must be unassigned before deletion",
            ));
        }
        self.floating_ips.remove(&id);
        Ok(())
    }

    /// `assign`: to another server (reassignment allowed); `server: null` unassigns.
    pub fn assign_floating_ip(&mut self, id: u64, request: AssignFloatingIp) -> Result<Value, ApiError> {
        let ip = self.floating_ip_for_change(id)?;
        let Some(server) = request.server else {
            return self.unassign_floating_ip(id);
        };
        if !self.servers.contains_key(&server.0) {
            return Err(ApiError::invalid_field(
                "server",
                format!("server {} not found", server.0),
            ));
        }
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
        let ip = self.floating_ip_for_change(id)?;
        let mut resources = vec![ResourceRef::new("floating_ip", id)];
        if let Some(server) = ip.server {
            resources.push(ResourceRef::new("server", server));
        }
        self.floating_ips.get_mut(&id).expect("invariant: found above").server = None;
        let seconds = self.durations.small;
        let action = self.start_action(NewAction::new("unassign_floating_ip", resources, seconds));
        Ok(json!({"action": self.action_json(action)}))
    }

    /// `change_protection`.
    pub fn change_floating_ip_protection(
        &mut self,
        id: u64,
        request: ChangeDeleteProtection,
    ) -> Result<Value, ApiError> {
        self.floating_ip_for_change(id)?;
        if let Some(delete) = request.delete {
            self.floating_ips
                .get_mut(&id)
                .expect("invariant: found above")
                .protect_delete = delete;
        }
        let seconds = self.durations.small;
        let action = self.start_action(NewAction::new(
            "change_protection",
            vec![ResourceRef::new("floating_ip", id)],
            seconds,
        ));
        Ok(json!({"action": self.action_json(action)}))
    }

    /// `change_dns_ptr`.
    pub fn change_floating_ip_dns_ptr(&mut self, id: u64, request: ChangeDnsPtr) -> Result<Value, ApiError> {
        self.floating_ip_for_change(id)?;
        let ip = self.floating_ips.get_mut(&id).expect("invariant: found above");
        ip.dns_ptr.retain(|(addr, _)| *addr != request.ip);
        if let Some(ptr) = request.dns_ptr {
            ip.dns_ptr.push((request.ip, ptr));
        }
        let seconds = self.durations.small;
        let action = self.start_action(NewAction::new(
            "change_dns_ptr",
            vec![ResourceRef::new("floating_ip", id)],
            seconds,
        ));
        Ok(json!({"action": self.action_json(action)}))
    }

    /// The API representation of a floating IP.
    pub fn floating_ip_json(&self, id: u64) -> Value {
        let Some(f) = self.floating_ips.get(&id) else {
            return Value::Null;
        };
        json!({
            "id": f.id,
            "name": f.name,
            "description": f.description,
            "ip": f.ip,
            "type": f.kind,
            "server": f.server,
            "dns_ptr": f.dns_ptr.iter().map(|(ip, ptr)| json!({"ip": ip, "dns_ptr": ptr})).collect::<Vec<_>>(),
            "home_location": f.home_location.to_json(),
            "blocked": false,
            "protection": {"delete": f.protect_delete},
            "labels": labels_json(&f.labels),
            "created": self.timestamp(f.created),
        })
    }
}
