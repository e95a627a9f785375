//! Servers: creation with everything the tool attaches at birth, the power state machine
//! (`initializing` → `starting` → `running` → `stopping` → `off`), rescue mode, snapshots,
//! networks, placement groups, protection and deletion.
//!
//! Status transitions happen when the driving action completes. Rescue follows the real
//! rule: enabling it changes nothing until the next boot, which boots the rescue system
//! and clears `rescue_enabled`.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::{self, Location, ServerType};
use super::super::error::ApiError;
use super::super::label_selector::{Labels, Selector, valid_dns_name};
use super::super::pagination::ListRules;
use super::catalog_views::{requested_datacenter, requested_location, requested_server_type};
use super::images::{Image, ImageType};
use super::placement_groups::PlacementGroup;
use super::resource::{DeleteProtected, Resource, UpdateNameAndLabels, delete_protected, stored_in};
use super::{FlexId, IdKind, IdOrName, NewAction, ResourceRef, SimEvent, World, check_labels, labels_json};
use crate::sim::machine::{self, DiskSource};

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

/// `POST /servers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    name: String,
    server_type: IdOrName,
    image: IdOrName,
    location: Option<IdOrName>,
    datacenter: Option<IdOrName>,
    start_after_create: Option<bool>,
    ssh_keys: Option<Vec<IdOrName>>,
    user_data: Option<String>,
    labels: Option<Labels>,
    networks: Option<Vec<FlexId>>,
    firewalls: Option<Vec<FirewallRef>>,
    placement_group: Option<FlexId>,
    public_net: Option<PublicNetRequest>,
    volumes: Option<Vec<FlexId>>,
    automount: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FirewallRef {
    firewall: FlexId,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicNetRequest {
    enable_ipv4: Option<bool>,
    enable_ipv6: Option<bool>,
    ipv4: Option<FlexId>,
    ipv6: Option<FlexId>,
}

/// A bodiless action (`poweron`, …): only `{}` is accepted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

/// `enable_rescue`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnableRescue {
    #[serde(rename = "type")]
    kind: Option<String>,
    ssh_keys: Option<Vec<FlexId>>,
}

/// `create_image`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateImage {
    description: Option<String>,
    labels: Option<Labels>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

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

/// `change_protection`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeServerProtection {
    delete: Option<bool>,
    rebuild: Option<bool>,
}

/// `change_type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeType {
    server_type: IdOrName,
    upgrade_disk: bool,
}

/// `rebuild`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rebuild {
    image: IdOrName,
    user_data: Option<String>,
}

const USER_DATA_MAX: usize = 32_768;

/// An enabled rescue system that no boot used is disabled after this long (simulated).
const RESCUE_EXPIRY_SECONDS: f64 = 3600.0;

fn check_user_data(user_data: &Option<String>) -> Result<(), ApiError> {
    match user_data {
        Some(data) if data.len() > USER_DATA_MAX => Err(ApiError::invalid_field(
            "user_data",
            "Length must be between 0 and 32768.",
        )),
        _ => Ok(()),
    }
}

/// A validated `POST /servers`, with names resolved.
struct NewServer {
    server_type: &'static ServerType,
    location: &'static Location,
    image: u64,
    ssh_keys: Vec<u64>,
    networks: Vec<u64>,
    firewalls: Vec<u64>,
    public: PublicNetPlan,
    start: bool,
}

/// Which public IPs a new server gets (enabled by default) and which existing primary
/// IPs it takes.
struct PublicNetPlan {
    enable_ipv4: bool,
    enable_ipv6: bool,
    given_ipv4: Option<u64>,
    given_ipv6: Option<u64>,
}

impl PublicNetPlan {
    fn from_request(public: Option<&PublicNetRequest>) -> PublicNetPlan {
        PublicNetPlan {
            enable_ipv4: public.and_then(|p| p.enable_ipv4).unwrap_or(true),
            enable_ipv6: public.and_then(|p| p.enable_ipv6).unwrap_or(true),
            given_ipv4: public.and_then(|p| p.ipv4).map(|i| i.0),
            given_ipv6: public.and_then(|p| p.ipv6).map(|i| i.0),
        }
    }
}

/// The location a new server goes to: `location` or `datacenter` (not both), else the
/// first location offering its type; 412 `resource_unavailable` where the type is not
/// offered.
fn requested_server_location(request: &CreateServer, server_type: &ServerType) -> Result<&'static Location, ApiError> {
    let location = match (&request.location, &request.datacenter) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "location",
                "location and datacenter are mutually exclusive",
            ));
        }
        (Some(l), None) => requested_location("location", l)?,
        (None, Some(dc)) => requested_datacenter(dc)?,
        (None, None) => server_type
            .locations
            .first()
            .and_then(|name| catalog::location(name))
            .expect("invariant: every catalogue server type is offered somewhere"),
    };
    if !server_type.offered_in(location.name) {
        return Err(ApiError::new(
            412,
            "resource_unavailable",
            format!(
                "server type {} is not available in location {}",
                server_type.name, location.name
            ),
        ));
    }
    Ok(location)
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

    /// Resolves an image reference for a server of `server_type` (names pick the matching
    /// architecture).
    pub(crate) fn resolve_image(
        &self,
        field: &str,
        image: &IdOrName,
        server_type: &ServerType,
    ) -> Result<u64, ApiError> {
        let found = match image.id() {
            Some(id) => self.images.get(&id),
            None => self
                .images
                .values()
                .find(|i| i.name.as_deref() == Some(image.as_str()) && i.architecture == server_type.architecture),
        };
        let Some(found) = found else {
            return Err(ApiError::invalid_field(
                field,
                format!("image {} not found", image.as_str()),
            ));
        };
        if found.architecture != server_type.architecture {
            return Err(ApiError::invalid_field(
                field,
                format!(
                    "image architecture {} does not match server type architecture {}",
                    found.architecture, server_type.architecture
                ),
            ));
        }
        if found.status != "available" {
            return Err(ApiError::invalid_field(
                field,
                format!("image {} is not available", found.id),
            ));
        }
        Ok(found.id)
    }

    fn resolve_ssh_key(&self, key: &IdOrName) -> Result<u64, ApiError> {
        let found = match key.id() {
            Some(id) => self.ssh_keys.get(&id),
            None => self.ssh_keys.values().find(|k| k.name == key.as_str()),
        };
        found
            .map(|k| k.id)
            .ok_or_else(|| ApiError::invalid_field("ssh_keys", format!("SSH key {} not found", key.as_str())))
    }

    /// `POST /servers`: validates everything first (nothing changes on an error), then
    /// creates the disk, the primary IPs, the server and its actions.
    pub fn create_server(&mut self, request: CreateServer) -> Result<Value, ApiError> {
        let plan = self.plan_new_server(&request)?;
        let id = self.new_id(IdKind::Server);
        let image_size = self.images.get(&plan.image).and_then(|i| i.image_size);
        self.create_server_disk(id, plan.server_type, plan.image)?;
        let (ipv4, ipv6) = self.assign_new_primary_ips(id, &plan);
        self.insert_new_server(id, request, &plan, ipv4, ipv6);
        let me = ResourceRef::new("server", id);
        let create = self.start_create_server(id, plan.start, image_size);
        let mut next = Vec::new();
        if plan.start {
            let seconds = self.durations.start_server;
            next.push(
                self.start_action(
                    NewAction::new("start_server", vec![me], seconds)
                        .after(Some(create))
                        .on_success(move |w| w.boot(id)),
                ),
            );
        }
        next.extend(self.attach_new_server_networks(id, &plan, create)?);
        next.extend(self.reconcile_server_firewalls(id, Some(create)));
        let root_password = if plan.ssh_keys.is_empty() {
            Some(self.new_password())
        } else {
            None
        };
        Ok(json!({
            "server": self.render::<Server>(id),
            "action": self.action_json(create),
            "next_actions": next.iter().map(|a| self.action_json(*a)).collect::<Vec<_>>(),
            "root_password": root_password,
        }))
    }

    /// Every check of `POST /servers`, resolving names to catalogue entries and IDs.
    fn plan_new_server(&mut self, request: &CreateServer) -> Result<NewServer, ApiError> {
        Server::check_name(&request.name)?;
        self.ensure_name_free::<Server>(&request.name, None)?;
        check_labels(&request.labels)?;
        check_user_data(&request.user_data)?;
        let server_type = requested_server_type(&request.server_type)?;
        let location = requested_server_location(request, server_type)?;
        let image = self.resolve_image("image", &request.image, server_type)?;
        let ssh_keys = request
            .ssh_keys
            .iter()
            .flatten()
            .map(|k| self.resolve_ssh_key(k))
            .collect::<Result<Vec<_>, _>>()?;
        let networks: Vec<u64> = request.networks.iter().flatten().map(|n| n.0).collect();
        for network in &networks {
            self.network_for_attach(*network, location.network_zone)?;
        }
        let firewalls: Vec<u64> = request.firewalls.iter().flatten().map(|f| f.firewall.0).collect();
        self.check_firewalls_exist(&firewalls)?;
        if let Some(group) = request.placement_group {
            self.check_placement_capacity(group.0)?;
        }
        if request.volumes.as_ref().is_some_and(|v| !v.is_empty()) || request.automount == Some(true) {
            return Err(ApiError::invalid_field(
                "volumes",
                "volumes are not emulated by talos-hcloud sim",
            ));
        }
        let public = PublicNetPlan::from_request(request.public_net.as_ref());
        if public.enable_ipv4
            && let Some(ip) = public.given_ipv4
        {
            self.check_primary_ip_free(ip, "ipv4", location)?;
        }
        if public.enable_ipv6
            && let Some(ip) = public.given_ipv6
        {
            self.check_primary_ip_free(ip, "ipv6", location)?;
        }
        let start = request.start_after_create.unwrap_or(true);
        if start && !public.enable_ipv4 && !public.enable_ipv6 && networks.is_empty() {
            return Err(ApiError::invalid_input(
                "a server without public IPs needs a private network to be started",
            ));
        }
        if let Some(error) = self.faults.capacity(server_type.name, location.name) {
            return Err(error);
        }
        Ok(NewServer {
            server_type,
            location,
            image,
            ssh_keys,
            networks,
            firewalls,
            public,
            start,
        })
    }

    fn check_firewalls_exist(&self, firewalls: &[u64]) -> Result<(), ApiError> {
        match firewalls.iter().find(|f| !self.firewalls.contains_key(f)) {
            Some(firewall) => Err(ApiError::new(
                404,
                "firewall_resource_not_found",
                format!("firewall with ID '{firewall}' not found"),
            )),
            None => Ok(()),
        }
    }

    /// The given or new automatic primary IPs of a new server, assigned to it.
    fn assign_new_primary_ips(&mut self, id: u64, plan: &NewServer) -> (Option<u64>, Option<u64>) {
        let location = plan.location;
        let pick = |world: &mut World, enabled: bool, given: Option<u64>, kind: &'static str| {
            enabled.then(|| given.unwrap_or_else(|| world.create_auto_primary_ip(kind, location)))
        };
        let ipv4 = pick(self, plan.public.enable_ipv4, plan.public.given_ipv4, "ipv4");
        let ipv6 = pick(self, plan.public.enable_ipv6, plan.public.given_ipv6, "ipv6");
        for ip in ipv4.iter().chain(ipv6.iter()) {
            if let Some(primary) = self.primary_ips.get_mut(ip) {
                primary.assignee = Some(id);
            }
        }
        (ipv4, ipv6)
    }

    /// Stores the new server (`initializing`), applies its firewalls and announces it.
    fn insert_new_server(
        &mut self,
        id: u64,
        request: CreateServer,
        plan: &NewServer,
        ipv4: Option<u64>,
        ipv6: Option<u64>,
    ) {
        let image = plan.image;
        let image_size = self.images.get(&image).and_then(|i| i.image_size);
        let server = Server {
            id,
            name: request.name,
            status: ServerStatus::Initializing,
            created: self.now,
            server_type: plan.server_type,
            location: plan.location,
            image: Some(image),
            labels: request.labels.unwrap_or_default(),
            protect_delete: false,
            protect_rebuild: false,
            rescue_enabled: false,
            rescue_booted: false,
            rescue_generation: 0,
            ipv4,
            ipv6,
            private_net: Vec::new(),
            placement_group: request.placement_group.map(|g| g.0),
            firewalls_applied: BTreeSet::new(),
            firewalls_pending: BTreeSet::new(),
            user_data: request.user_data,
            ssh_keys: plan.ssh_keys.clone(),
            disk: format!("image:{image}"),
            disk_generation: 1,
            disk_used_gb: image_size.unwrap_or(1.0),
            primary_disk_size: plan.server_type.disk,
        };
        self.servers.insert(id, server);
        for firewall in &plan.firewalls {
            if let Some(fw) = self.firewalls.get_mut(firewall) {
                fw.applied_to.push(super::firewalls::ApplyTarget::Server(id));
            }
        }
        let ipv4_text = ipv4.and_then(|ip| self.primary_ips.get(&ip)).map(|p| p.ip.clone());
        self.emit(SimEvent::ServerCreated {
            id,
            ipv4: ipv4_text,
            disk: format!("image:{image}"),
        });
    }

    /// The `create_server` action: `initializing` → `starting` (or `off`); the server goes
    /// again if it fails.
    fn start_create_server(&mut self, id: u64, start: bool, image_size: Option<f64>) -> u64 {
        let seconds =
            self.durations.create_server + image_size.map_or(0.0, |gb| gb * self.durations.create_server_per_gb);
        self.start_action(
            NewAction::new("create_server", vec![ResourceRef::new("server", id)], seconds)
                .on_success(move |w| {
                    if let Some(s) = w.servers.get_mut(&id)
                        && s.status == ServerStatus::Initializing
                    {
                        s.status = if start {
                            ServerStatus::Starting
                        } else {
                            ServerStatus::Off
                        };
                    }
                })
                .on_error(move |w| w.remove_server(id)),
        )
    }

    /// Attaches a new server to its requested networks, each with an action after `create`.
    fn attach_new_server_networks(&mut self, id: u64, plan: &NewServer, create: u64) -> Result<Vec<u64>, ApiError> {
        let mut actions = Vec::new();
        for &network in &plan.networks {
            let ip = self.allocate_private_ip(network, plan.location.network_zone, None)?;
            let mac = self.new_mac();
            if let Some(s) = self.servers.get_mut(&id) {
                s.private_net.push(PrivateNet {
                    network,
                    ip,
                    alias_ips: Vec::new(),
                    mac_address: mac,
                });
            }
            let seconds = self.durations.small;
            let resources = vec![ResourceRef::new("server", id), ResourceRef::new("network", network)];
            actions
                .push(self.start_action(NewAction::new("attach_to_network", resources, seconds).after(Some(create))));
        }
        Ok(actions)
    }

    /// Writes server `id`'s disk from `image` (a system image's small Linux disk, or a
    /// snapshot's bytes), when the emulator has machines.
    fn create_server_disk(&mut self, id: u64, server_type: &ServerType, image: u64) -> Result<(), ApiError> {
        let Some(disks) = self.disks.clone() else {
            return Ok(());
        };
        let size = u64::from(server_type.disk) * machine::GB;
        let source = match self.images.get(&image) {
            Some(found) if found.kind == ImageType::System => DiskSource::System {
                name: found.name.as_deref().unwrap_or("linux"),
            },
            _ => DiskSource::Snapshot { image },
        };
        disks.create_server_disk(id, size, source).map_err(machine_failure)
    }

    fn new_mac(&mut self) -> String {
        let (_, n) = self.next_ipv4(200);
        format!(
            "86:00:00:{:02x}:{:02x}:{:02x}",
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
            n & 0xff
        )
    }

    /// The server finished booting: the rescue system if it was enabled.
    pub(crate) fn boot(&mut self, id: u64) {
        let Some(server) = self.servers.get_mut(&id) else {
            return;
        };
        server.status = ServerStatus::Running;
        server.rescue_booted = server.rescue_enabled;
        server.rescue_enabled = false;
        let rescue = server.rescue_booted;
        self.emit(SimEvent::ServerPoweredOn { id, rescue });
    }

    /// The server is now off.
    pub(crate) fn power_off(&mut self, id: u64) {
        let Some(server) = self.servers.get_mut(&id) else {
            return;
        };
        server.status = ServerStatus::Off;
        server.rescue_booted = false;
        self.emit(SimEvent::ServerPoweredOff { id });
    }

    /// The guest powered itself off (`shutdown now` inside the VM); a test control.
    pub fn guest_shutdown(&mut self, id: u64) -> Result<Value, ApiError> {
        if self.find::<Server>(id)?.status == ServerStatus::Running {
            self.power_off(id);
        }
        Ok(self.envelope::<Server>(id))
    }

    /// The server loses power (a test control): whatever it was doing, it is `off` at once
    /// and its system is gone; a running action on it still completes.
    pub fn crash_server(&mut self, id: u64) -> Result<Value, ApiError> {
        let status = self.find::<Server>(id)?.status;
        if matches!(
            status,
            ServerStatus::Running | ServerStatus::Starting | ServerStatus::Stopping | ServerStatus::Rebuilding
        ) {
            self.power_off(id);
        }
        Ok(self.envelope::<Server>(id))
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

    /// `poweron`: `off` → `starting` → `running` (a no-op success when already running).
    pub fn poweron(&mut self, id: u64) -> Result<Value, ApiError> {
        let seconds = self.durations.start_server;
        self.power_transition(
            id,
            ServerStatus::Off,
            ServerStatus::Starting,
            "start_server",
            seconds,
            World::boot,
        )
    }

    /// `poweroff` (hard): `running` → `stopping` → `off` (a no-op success when not running).
    pub fn poweroff(&mut self, id: u64) -> Result<Value, ApiError> {
        let seconds = self.durations.stop_server;
        self.power_transition(
            id,
            ServerStatus::Running,
            ServerStatus::Stopping,
            "stop_server",
            seconds,
            World::power_off,
        )
    }

    /// A power change from `from` through `via`, finished by `done`, back to `from` if the
    /// action fails; from any other status, a short `command` action that changes nothing.
    fn power_transition(
        &mut self,
        id: u64,
        from: ServerStatus,
        via: ServerStatus,
        command: &'static str,
        seconds: f64,
        done: fn(&mut World, u64),
    ) -> Result<Value, ApiError> {
        if self.server_for_action(id)?.status != from {
            return self.simple_server_action(id, command, 1.0, |_| {});
        }
        self.found_mut::<Server>(id).status = via;
        let action = self.start_action(
            NewAction::new(command, vec![ResourceRef::new("server", id)], seconds)
                .on_success(move |w| done(w, id))
                .on_error(move |w| {
                    if let Some(s) = w.servers.get_mut(&id) {
                        s.status = from;
                    }
                }),
        );
        Ok(self.action_reply(action))
    }

    /// `shutdown` (ACPI): the action only delivers the signal; the guest powers off a few
    /// seconds later, or never when it ignores ACPI (fault `ignore-shutdown`). Poll the status.
    pub fn shutdown(&mut self, id: u64) -> Result<Value, ApiError> {
        self.server_for_action(id)?;
        let seconds = self.durations.shutdown_signal;
        let ignored = self.faults.shutdown_ignored();
        self.simple_server_action(id, "shutdown_server", seconds, move |w| {
            if ignored {
                return;
            }
            let delay = w.durations.guest_shutdown;
            w.schedule_effect(
                delay,
                Box::new(move |w: &mut World| {
                    if w.servers.get(&id).is_some_and(|s| s.status == ServerStatus::Running) {
                        w.power_off(id);
                    }
                }),
            );
        })
    }

    /// `reboot` (ACPI) and `reset` (hard): the server stays `running`; the next system
    /// is the rescue system if rescue is enabled.
    pub fn restart(&mut self, id: u64, command: &'static str) -> Result<Value, ApiError> {
        self.server_for_action(id)?;
        let seconds = self.durations.stop_server;
        self.simple_server_action(id, command, seconds, move |w| {
            if w.servers.get(&id).is_some_and(|s| s.status == ServerStatus::Running) {
                w.boot(id);
            }
        })
    }

    /// `enable_rescue`: returns the rescue root password; effective at the next boot, and
    /// disabled again if no boot uses it within 60 minutes (the API description).
    pub fn enable_rescue(&mut self, id: u64, request: EnableRescue) -> Result<Value, ApiError> {
        self.server_for_action(id)?;
        if let Some(kind) = &request.kind
            && kind != "linux64"
        {
            return Err(ApiError::invalid_field("type", "Must be one of: linux64."));
        }
        for key in request.ssh_keys.iter().flatten() {
            if !self.ssh_keys.contains_key(&key.0) {
                return Err(ApiError::invalid_field(
                    "ssh_keys",
                    format!("SSH key {} not found", key.0),
                ));
            }
        }
        let password = self.new_password();
        let seconds = self.durations.rescue;
        let action = self.start_action(
            NewAction::new("enable_rescue", vec![ResourceRef::new("server", id)], seconds).on_success(move |w| {
                if let Some(s) = w.servers.get_mut(&id) {
                    s.rescue_enabled = true;
                    s.rescue_generation += 1;
                    let generation = s.rescue_generation;
                    w.emit(SimEvent::RescueEnabled { id });
                    w.schedule_effect(
                        RESCUE_EXPIRY_SECONDS,
                        Box::new(move |w: &mut World| {
                            if let Some(s) = w.servers.get_mut(&id)
                                && s.rescue_enabled
                                && s.rescue_generation == generation
                            {
                                s.rescue_enabled = false;
                            }
                        }),
                    );
                }
            }),
        );
        Ok(json!({"action": self.action_json(action), "root_password": password}))
    }

    /// `disable_rescue`.
    pub fn disable_rescue(&mut self, id: u64) -> Result<Value, ApiError> {
        self.server_for_action(id)?;
        let seconds = self.durations.rescue;
        self.simple_server_action(id, "disable_rescue", seconds, move |w| {
            if let Some(s) = w.servers.get_mut(&id) {
                s.rescue_enabled = false;
            }
        })
    }

    /// `create_image`: a snapshot (or backup) that is `creating` until the action ends.
    pub fn create_image(&mut self, id: u64, request: CreateImage) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        check_labels(&request.labels)?;
        let kind = match request.kind.as_deref() {
            None | Some("snapshot") => ImageType::Snapshot,
            Some("backup") => {
                return Err(ApiError::unprocessable(
                    "unsupported_error",
                    "backups are not enabled for this server",
                ));
            }
            Some(_) => return Err(ApiError::invalid_field("type", "Must be one of: snapshot, backup.")),
        };
        let (server_name, used_gb, disk_size, architecture, source_disk) = (
            server.name.clone(),
            server.disk_used_gb,
            server.primary_disk_size,
            server.server_type.architecture,
            server.disk.clone(),
        );
        let image_id = self.new_id(IdKind::Image);
        // The disk is copied now (the bytes at request time); the image becomes available
        // when the action, timed by the data written, ends.
        let copied = match self.disks.clone() {
            Some(disks) => Some(disks.snapshot(id, image_id).map_err(machine_failure)?),
            None => None,
        };
        let used_gb = copied.map_or(used_gb, |usage| usage.allocated_gb());
        let disk_size = copied.map_or(f64::from(disk_size), |usage| usage.size_gb());
        let description = request
            .description
            .unwrap_or_else(|| format!("{server_name}-{}", self.timestamp(self.now)));
        self.images.insert(
            image_id,
            super::images::Image {
                id: image_id,
                kind,
                status: "creating",
                name: None,
                description,
                image_size: None,
                disk_size,
                created: self.now,
                created_from: Some((id, server_name)),
                bound_to: None,
                os_flavor: "unknown",
                os_version: None,
                protect_delete: false,
                labels: request.labels.unwrap_or_default(),
                architecture,
                deprecated: None,
                disk: format!("image:{image_id}"),
                source_disk,
            },
        );
        let seconds = self.durations.create_image + used_gb * self.durations.create_image_per_gb;
        let resources = vec![ResourceRef::new("server", id), ResourceRef::new("image", image_id)];
        let action = self.start_action(
            NewAction::new("create_image", resources.clone(), seconds)
                .locks(resources)
                .on_success(move |w| {
                    if let Some(image) = w.images.get_mut(&image_id) {
                        image.status = "available";
                        image.image_size = Some(used_gb);
                        let disk = image.disk.clone();
                        w.emit(SimEvent::ImageCreated {
                            id: image_id,
                            server: id,
                            disk,
                        });
                    }
                })
                .on_error(move |w| {
                    w.images.remove(&image_id);
                    if let Some(disks) = &w.disks {
                        disks.remove_image_disk(image_id);
                    }
                }),
        );
        Ok(json!({"image": self.render::<Image>(image_id), "action": self.action_json(action)}))
    }

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

    /// `change_type`: only while `off`, within the same architecture.
    pub fn change_server_type(&mut self, id: u64, request: ChangeType) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        server.ensure_off()?;
        let new_type = requested_server_type(&request.server_type)?;
        if new_type.architecture != server.server_type.architecture || !new_type.offered_in(server.location.name) {
            return Err(ApiError::unprocessable(
                "invalid_server_type",
                "the server type cannot be used here",
            ));
        }
        if !request.upgrade_disk && new_type.disk < server.primary_disk_size {
            return Err(ApiError::unprocessable(
                "invalid_server_type",
                "the new server type's disk is too small",
            ));
        }
        let upgrade = request.upgrade_disk;
        self.simple_server_action(id, "change_server_type", 30.0, move |w| {
            if let Some(s) = w.servers.get_mut(&id) {
                s.server_type = new_type;
                if upgrade {
                    s.primary_disk_size = new_type.disk;
                }
            }
        })
    }

    /// `rebuild`: reinstalls from an image; `root_password` when the server has no SSH keys.
    pub fn rebuild_server(&mut self, id: u64, request: Rebuild) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        if server.protect_rebuild {
            return Err(ApiError::protected("server"));
        }
        check_user_data(&request.user_data)?;
        let server_type = server.server_type;
        let image = self.resolve_image("image", &request.image, server_type)?;
        let has_keys = !server.ssh_keys.is_empty();
        self.create_server_disk(id, server_type, image)?;
        let server = self.found_mut::<Server>(id);
        server.status = ServerStatus::Rebuilding;
        server.rescue_booted = false;
        server.image = Some(image);
        server.disk = format!("image:{image}");
        server.disk_generation += 1;
        // The running system goes down while the disk is rewritten.
        self.emit(SimEvent::ServerPoweredOff { id });
        let server = self.found_mut::<Server>(id);
        if request.user_data.is_some() {
            server.user_data = request.user_data;
        }
        let action = self.start_action(
            NewAction::new("rebuild_server", vec![ResourceRef::new("server", id)], 30.0)
                .on_success(move |w| w.boot(id)),
        );
        let password = if has_keys { None } else { Some(self.new_password()) };
        Ok(json!({"action": self.action_json(action), "root_password": password}))
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
        })
    }

    /// Internal fields for the state dump.
    pub fn server_internals(&self, id: u64) -> Value {
        let Some(s) = self.servers.get(&id) else {
            return Value::Null;
        };
        json!({
            "rescue_booted": s.rescue_booted,
            "user_data": s.user_data,
            "ssh_keys": s.ssh_keys,
            "disk": s.disk,
            "disk_generation": s.disk_generation,
            "disk_used_gb": s.disk_used_gb,
            "disk_file": self.disks.as_ref().map(|d| d.server_disk(id)),
        })
    }
}
