//! Creating a server: every check of `POST /servers` first, then its disk, primary IPs,
//! networks, firewalls and first actions.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::super::catalog::{self, Location, ServerType};
use super::super::super::error::ApiError;
use super::super::super::label_selector::Labels;
use super::super::catalog_views::{requested_datacenter, requested_location, requested_server_type};
use super::super::images::ImageType;
use super::super::resource::Resource;
use super::super::{FlexId, IdKind, IdOrName, NewAction, ResourceRef, SimEvent, World, check_labels};
use super::{PrivateNet, Server, ServerStatus, check_user_data, machine_failure};
use crate::sim::machine::{self, DiskSource};

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

impl World {
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
            rescue_login: None,
            rescue_error: None,
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
                fw.applied_to.push(super::super::firewalls::ApplyTarget::Server(id));
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
    pub(super) fn create_server_disk(&mut self, id: u64, server_type: &ServerType, image: u64) -> Result<(), ApiError> {
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

    pub(super) fn new_mac(&mut self) -> String {
        let (_, n) = self.next_ipv4(200);
        format!(
            "86:00:00:{:02x}:{:02x}:{:02x}",
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
            n & 0xff
        )
    }
}
