//! Servers: creation with everything the tool attaches at birth, the power state machine
//! (`initializing` → `starting` → `running` → `stopping` → `off`), rescue mode, snapshots,
//! networks, placement groups, protection and deletion.
//!
//! Status transitions happen when the driving action completes. Rescue follows the real
//! rule: enabling it changes nothing until the next boot, which boots the rescue system
//! and clears `rescue_enabled`.

//! This file holds the server model, its API rendering and the queries and small
//! changes (rename, protection, deletion) the other families use; each larger job has
//! its own file: `create` (`POST /servers`), `power` (power state machine and rescue),
//! `disk` (snapshots, rebuild, type change), `attachments` (networks, placement groups)
//! and `system` (controls on the system a server runs: hang, partition).

mod attachments;
mod create;
mod disk;
mod power;
mod system;

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::{self, Location, ServerType};
use super::super::error::ApiError;
use super::super::label_selector::{Labels, Selector, valid_dns_name};
use super::super::pagination::ListRules;
use super::images::{Image, ImageType};
use super::placement_groups::PlacementGroup;
use super::resource::{DeleteProtected, Resource, UpdateNameAndLabels, delete_protected, stored_in};
use super::{NewAction, ResourceRef, SimEvent, World, labels_json};
use crate::sim::machine;

pub use attachments::{AddToPlacementGroup, AttachToNetwork, DetachFromNetwork};
pub use create::CreateServer;
pub use disk::{ChangeType, CreateImage, Rebuild};
pub use power::EnableRescue;

/// The statuses a server passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerStatus {
    /// Being created.
    Initializing,
    /// Booting.
    Starting,
    /// Running.
    Running,
    /// Powering off.
    Stopping,
    /// Off.
    Off,
    /// Being deleted.
    Deleting,
    /// Being rebuilt.
    Rebuilding,
}

impl ServerStatus {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerStatus::Initializing => "initializing",
            ServerStatus::Starting => "starting",
            ServerStatus::Running => "running",
            ServerStatus::Stopping => "stopping",
            ServerStatus::Off => "off",
            ServerStatus::Deleting => "deleting",
            ServerStatus::Rebuilding => "rebuilding",
        }
    }
}

/// A server's attachment to a private network.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateNet {
    /// Network ID.
    pub network: u64,
    /// Its IP in the network.
    pub ip: String,
    /// Alias IPs.
    pub alias_ips: Vec<String>,
    /// MAC address of the interface.
    pub mac_address: String,
}

/// A server.
#[derive(Debug, Clone)]
pub struct Server {
    /// ID.
    pub id: u64,
    /// Name (a hostname).
    pub name: String,
    /// Status.
    pub status: ServerStatus,
    /// Creation time.
    pub created: u64,
    /// Server type.
    pub server_type: &'static ServerType,
    /// Location.
    pub location: &'static Location,
    /// The image it was created from (or rebuilt with).
    pub image: Option<u64>,
    /// Labels.
    pub labels: Labels,
    /// Delete protection.
    pub protect_delete: bool,
    /// Rebuild protection.
    pub protect_rebuild: bool,
    /// Rescue is enabled for the next boot.
    pub rescue_enabled: bool,
    /// The running system is the rescue system (internal; not in the API).
    pub rescue_booted: bool,
    /// Counts `enable_rescue` successes, so the 60-minute expiry of an unused rescue only
    /// ends the activation it was scheduled for (internal).
    pub rescue_generation: u64,
    /// Who may log in to the rescue system the last `enable_rescue` armed: its SSH keys'
    /// public key lines and the root password it returned (internal).
    pub rescue_login: Option<machine::RescueLogin>,
    /// Why the last rescue boot could not bring its SSH server up (internal; shown in the
    /// state dump so a missing privilege is visible, not only logged).
    pub rescue_error: Option<String>,
    /// Primary IPv4 (primary IP ID).
    pub ipv4: Option<u64>,
    /// Primary IPv6 (primary IP ID).
    pub ipv6: Option<u64>,
    /// Private networks.
    pub private_net: Vec<PrivateNet>,
    /// Placement group.
    pub placement_group: Option<u64>,
    /// Firewalls whose `apply_firewall` succeeded.
    pub firewalls_applied: BTreeSet<u64>,
    /// Firewalls with an `apply_firewall` running.
    pub firewalls_pending: BTreeSet<u64>,
    /// The user data given at creation or rebuild (internal).
    pub user_data: Option<String>,
    /// SSH keys given at creation (internal).
    pub ssh_keys: Vec<u64>,
    /// Disk content reference (internal): the image the disk was last written from.
    pub disk: String,
    /// Counts writes of the disk by the model (create, rebuild), so a machine knows when a
    /// booted system no longer matches its disk (internal).
    pub disk_generation: u64,
    /// GB written on the disk (internal): the size a snapshot of it gets.
    pub disk_used_gb: f64,
    /// Disk size in GB.
    pub primary_disk_size: u32,
}

/// A bodiless action (`poweron`, …): only `{}` is accepted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

/// `change_protection`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeServerProtection {
    delete: Option<bool>,
    rebuild: Option<bool>,
}

const USER_DATA_MAX: usize = 32_768;

fn check_user_data(user_data: &Option<String>) -> Result<(), ApiError> {
    match user_data {
        Some(data) if data.len() > USER_DATA_MAX => Err(ApiError::invalid_field(
            "user_data",
            "Length must be between 0 and 32768.",
        )),
        _ => Ok(()),
    }
}

/// A disk operation of the emulated machine failed: the emulator's own fault, a 500.
pub(crate) fn machine_failure(error: machine::DiskError) -> ApiError {
    let message = crate::error::chain(&error).join(": ");
    tracing::error!(%message, "emulated disk operation failed");
    ApiError::new(500, "server_error", format!("talos-hcloud sim: {message}"))
}

impl Server {
    /// Returns true if and only if the server has a public IPv4 or IPv6.
    pub(crate) fn has_public_ip(&self) -> bool {
        self.ipv4.is_some() || self.ipv6.is_some()
    }

    /// 422 `server_not_stopped` unless the server is `off`.
    pub(crate) fn ensure_off(&self) -> Result<(), ApiError> {
        if self.status != ServerStatus::Off {
            return Err(ApiError::unprocessable("server_not_stopped", "server must be stopped"));
        }
        Ok(())
    }

    /// The server's primary IP of `kind` (`ipv4` or `ipv6`), by ID.
    pub(crate) fn primary_ip_slot(&mut self, kind: &str) -> &mut Option<u64> {
        if kind == "ipv4" { &mut self.ipv4 } else { &mut self.ipv6 }
    }

    /// 422 `server_has_ipv4`/`server_has_ipv6` when the server has a primary IP of `kind`.
    pub(crate) fn ensure_no_primary_ip(&self, kind: &str) -> Result<(), ApiError> {
        let (has, code) = if kind == "ipv4" {
            (self.ipv4.is_some(), "server_has_ipv4")
        } else {
            (self.ipv6.is_some(), "server_has_ipv6")
        };
        if has {
            return Err(ApiError::unprocessable(code, format!("server already has an {kind}")));
        }
        Ok(())
    }
}

impl Resource for Server {
    const KIND: &'static str = "server";
    const LIST: ListRules = ListRules::resources(&["id", "name", "created"]).filters(&[(
        "status",
        &[
            "initializing",
            "starting",
            "running",
            "stopping",
            "off",
            "deleting",
            "rebuilding",
            "migrating",
            "unknown",
        ],
    )]);
    const NAME_TAKEN: &'static str = "server name is already used";

    /// A hostname (RFC 1123), stricter than other resources' names.
    fn check_name(name: &str) -> Result<(), ApiError> {
        if !valid_dns_name(name) {
            return Err(ApiError::invalid_field("name", "Name must be a valid hostname."));
        }
        Ok(())
    }

    stored_in!(servers);

    /// The live shape: no `datacenter`.
    fn render(&self, world: &World) -> Value {
        let ipv4 = self
            .ipv4
            .and_then(|ip| world.primary_ips.get(&ip))
            .map(|p| json!({"id": p.id, "ip": p.ip, "blocked": false, "dns_ptr": p.dns_ptr_for(&p.ip)}));
        let ipv6 = self.ipv6.and_then(|ip| world.primary_ips.get(&ip)).map(|p| {
            json!({"id": p.id, "ip": p.ip, "blocked": false, "dns_ptr": p.dns_ptr.iter().map(|(ip, ptr)| json!({"ip": ip, "dns_ptr": ptr})).collect::<Vec<_>>()})
        });
        let floating_ips: Vec<u64> = world
            .floating_ips
            .values()
            .filter(|f| f.server == Some(self.id))
            .map(|f| f.id)
            .collect();
        let firewalls: Vec<Value> = world
            .firewalls_for_server(self.id)
            .into_iter()
            .map(|fw| {
                let status = if self.firewalls_applied.contains(&fw) {
                    "applied"
                } else {
                    "pending"
                };
                json!({"id": fw, "status": status})
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "status": self.status.as_str(),
            "created": world.timestamp(self.created),
            "public_net": {
                "ipv4": ipv4,
                "ipv6": ipv6,
                "floating_ips": floating_ips,
                "firewalls": firewalls,
            },
            "private_net": self.private_net.iter().map(|p| json!({
                "network": p.network,
                "ip": p.ip,
                "alias_ips": p.alias_ips,
                "mac_address": p.mac_address,
            })).collect::<Vec<_>>(),
            "server_type": self.server_type.to_json(),
            "location": self.location.to_json(),
            "image": self.image.map(|i| world.render::<Image>(i)).filter(|v| !v.is_null()),
            "iso": null,
            "rescue_enabled": self.rescue_enabled,
            "locked": world.is_locked("server", self.id),
            "backup_window": null,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": catalog::INCLUDED_TRAFFIC,
            "protection": {"delete": self.protect_delete, "rebuild": self.protect_rebuild},
            "labels": labels_json(&self.labels),
            "volumes": [],
            "load_balancers": world.load_balancers_targeting(self.id),
            "primary_disk_size": self.primary_disk_size,
            "placement_group": self.placement_group.map(|g| world.render::<PlacementGroup>(g)).filter(|v| !v.is_null()),
        })
    }
}

delete_protected!(Server);

impl World {
    /// The server a request names in `server` (422 `invalid_input` there if none).
    pub(crate) fn requested_server(&self, id: u64) -> Result<&Server, ApiError> {
        self.servers
            .get(&id)
            .ok_or_else(|| ApiError::invalid_field("server", format!("server {id} not found")))
    }

    /// The servers a label selector matches, by ascending ID; none if it does not parse.
    pub(crate) fn servers_matching<'a>(&'a self, selector: &str) -> impl Iterator<Item = &'a Server> + use<'a> {
        let selector = Selector::parse(selector).ok();
        self.servers
            .values()
            .filter(move |s| selector.as_ref().is_some_and(|sel| sel.matches(&s.labels)))
    }

    /// The server for an action request: it must exist and not be locked.
    fn server_for_action(&self, id: u64) -> Result<&Server, ApiError> {
        let server = self.find_unlocked::<Server>(id)?;
        if server.status == ServerStatus::Deleting {
            return Err(ApiError::locked("server"));
        }
        Ok(server)
    }

    /// `PUT /servers/{id}`: a relabelled server may gain or lose firewalls.
    pub fn update_server(&mut self, id: u64, request: UpdateNameAndLabels) -> Result<Value, ApiError> {
        let relabelled = request.labels.is_some();
        self.rename_relabel::<Server>(id, request.name, request.labels)?;
        if relabelled {
            self.reconcile_server_firewalls(id, None);
        }
        Ok(self.envelope::<Server>(id))
    }

    /// `DELETE /servers/{id}`: 200 with a `delete_server` action.
    pub fn delete_server(&mut self, id: u64) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        server.ensure_unprotected()?;
        let previous = server.status;
        self.found_mut::<Server>(id).status = ServerStatus::Deleting;
        let seconds = self.durations.delete_server;
        let action = self.start_action(
            NewAction::new("delete_server", vec![ResourceRef::new("server", id)], seconds)
                .on_success(move |w| w.remove_server(id))
                .on_error(move |w| {
                    if let Some(s) = w.servers.get_mut(&id) {
                        s.status = previous;
                    }
                }),
        );
        Ok(self.action_reply(action))
    }

    /// Removes a server and everything bound to it.
    pub(crate) fn remove_server(&mut self, id: u64) {
        let Some(server) = self.servers.remove(&id) else { return };
        for ip in server.ipv4.iter().chain(server.ipv6.iter()) {
            let auto = self.primary_ips.get(ip).is_some_and(|p| p.auto_delete);
            if auto {
                self.primary_ips.remove(ip);
            } else if let Some(p) = self.primary_ips.get_mut(ip) {
                p.assignee = None;
            }
        }
        for fip in self.floating_ips.values_mut() {
            if fip.server == Some(id) {
                fip.server = None;
            }
        }
        for fw in self.firewalls.values_mut() {
            fw.applied_to
                .retain(|t| *t != super::firewalls::ApplyTarget::Server(id));
        }
        for lb in self.load_balancers.values_mut() {
            lb.targets
                .retain(|t| !matches!(t, super::load_balancers::Target::Server { id: sid, .. } if *sid == id));
        }
        self.images
            .retain(|_, image| !(image.kind == ImageType::Backup && image.bound_to == Some(id)));
        if let Some(disks) = &self.disks {
            disks.remove_server_disk(id);
        }
        self.emit(SimEvent::ServerDeleted { id });
    }

    fn simple_server_action(
        &mut self,
        id: u64,
        command: &'static str,
        seconds: f64,
        effect: impl FnOnce(&mut World) + Send + 'static,
    ) -> Result<Value, ApiError> {
        let action = self
            .start_action(NewAction::new(command, vec![ResourceRef::new("server", id)], seconds).on_success(effect));
        Ok(self.action_reply(action))
    }

    /// `change_protection`: delete and rebuild protection must end up equal.
    pub fn change_server_protection(&mut self, id: u64, request: ChangeServerProtection) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        let delete = request.delete.unwrap_or(server.protect_delete);
        let rebuild = request.rebuild.unwrap_or(server.protect_rebuild);
        if delete != rebuild {
            return Err(ApiError::invalid_field(
                "rebuild",
                "delete and rebuild protection must be equal",
            ));
        }
        Ok(self.apply_change::<Server>(id, "change_protection", None, |server| {
            server.protect_delete = delete;
            server.protect_rebuild = rebuild;
        }))
    }

    /// What the machine runner needs to boot server `id` (`None` once it is gone).
    pub fn machine_facts(&self, id: u64) -> Option<machine::MachineFacts> {
        let server = self.servers.get(&id)?;
        let ipv4 = server
            .ipv4
            .and_then(|ip| self.primary_ips.get(&ip))
            .and_then(|p| p.ip.parse().ok());
        Some(machine::MachineFacts {
            ipv4,
            user_data: server.user_data.clone(),
            arch: if server.server_type.architecture == "arm" {
                "arm64"
            } else {
                "amd64"
            },
            disk_generation: server.disk_generation,
            rescue: server.rescue_login.clone().filter(|_| server.rescue_booted),
        })
    }

    /// Records why server `id`'s rescue system could not start (`None`: it did start).
    pub fn set_rescue_error(&mut self, id: u64, error: Option<String>) {
        if let Some(server) = self.servers.get_mut(&id) {
            server.rescue_error = error;
        }
    }

    /// Internal fields for the state dump.
    pub fn server_internals(&self, id: u64) -> Value {
        let Some(s) = self.servers.get(&id) else {
            return Value::Null;
        };
        json!({
            "rescue_booted": s.rescue_booted,
            "rescue_error": s.rescue_error,
            "user_data": s.user_data,
            "ssh_keys": s.ssh_keys,
            "disk": s.disk,
            "disk_generation": s.disk_generation,
            "disk_used_gb": s.disk_used_gb,
            "disk_file": self.disks.as_ref().map(|d| d.server_disk(id)),
            "machine": self.machine_json(id),
        })
    }
}
