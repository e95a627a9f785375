//! Creating one node's server exactly as the desired state describes it: from the Talos
//! snapshot, behind its firewall from the first boot, in its placement group, on its
//! primary IPv4 and at its private address, labelled (config hash included), powered on,
//! then protected when it is a control plane (a run interrupted before that leaves the
//! protection to the next run's in-place update). `apply` creates new nodes with it and
//! `node replace` recreates a node identically.

use std::net::Ipv4Addr;

use crate::cluster::desired::{Desired, DesiredImage, DesiredServer};
use crate::cluster::live::{Live, LiveServer};
use crate::hcloud::{
    ActionId, Client, CreateServer, FirewallId, NetworkId, PlacementGroupId, PrimaryIpId, Protected, ServerId,
};
use crate::redact::Redacted;
use crate::spec::Role;

use super::error::ApplyError;
use super::infra::hcloud_labels;

/// Choices about a node's server that cluster.yaml does not spell out.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The machine config as `user_data` (base64 of gzip), when that delivery is chosen;
    /// `None`: the config goes through the Talos API in maintenance mode.
    pub user_data: Option<Redacted<String>>,
    /// Delete and rebuild protection on control planes.
    pub protect_control_planes: bool,
}

/// A node's server once it is created and powered on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeServer {
    /// Its ID.
    pub id: ServerId,
    /// Its name.
    pub name: String,
    /// Its public IPv4 (the primary IP's address).
    pub public_ipv4: Option<String>,
    /// Its address in the cluster network.
    pub private_ip: Ipv4Addr,
    /// Whether delete and rebuild protection are on.
    pub protected: bool,
}

/// The IDs a server create refers to, found by name in the live state.
struct References {
    network: NetworkId,
    firewall: FirewallId,
    placement_group: PlacementGroupId,
    primary_ip: PrimaryIpId,
    image: i64,
}

impl References {
    fn resolve(desired: &Desired, server: &DesiredServer, live: &Live) -> Result<References, ApplyError> {
        let missing = |kind: &'static str, name: &str| ApplyError::Missing {
            kind,
            name: name.to_string(),
            needed_by: format!("server {}", server.name),
        };
        let network = live
            .networks
            .iter()
            .find(|n| n.name == desired.network.name)
            .ok_or_else(|| missing("network", &desired.network.name))?;
        let firewall = live
            .firewalls
            .iter()
            .find(|f| f.name == server.firewall)
            .ok_or_else(|| missing("firewall", &server.firewall))?;
        let group = live
            .placement_groups
            .iter()
            .find(|g| g.name == server.placement_group)
            .ok_or_else(|| missing("placement group", &server.placement_group))?;
        let primary_ip = live
            .primary_ips
            .iter()
            .find(|ip| ip.name == server.primary_ip)
            .ok_or_else(|| missing("primary IP", &server.primary_ip))?;
        let DesiredImage::Snapshot { id: image } = server.image else {
            return Err(ApplyError::SnapshotMissing {
                server: server.name.clone(),
                arch: server.architecture.as_str().to_string(),
            });
        };
        Ok(References {
            network: NetworkId::new(network.id),
            firewall: FirewallId::new(firewall.id),
            placement_group: PlacementGroupId::new(group.id),
            primary_ip: PrimaryIpId::new(primary_ip.id),
            image,
        })
    }
}

/// Creates `server` of `desired` with the network, firewall, placement group, primary IP
/// and snapshot that `live` holds under the desired names: stopped, then attached to the
/// network at its private address, powered on, and protected (control planes, when
/// `options` asks). After an ambiguous create the server found by name is finished instead, and
/// so is an unfinished server of that name in `live` (an interrupted run created it).
///
/// # Errors
/// [`ApplyError::Missing`] when a referenced resource does not exist yet,
/// [`ApplyError::SnapshotMissing`], [`ApplyError::Hcloud`] naming the failed step.
pub async fn create_node_server(
    client: &Client,
    desired: &Desired,
    server: &DesiredServer,
    live: &Live,
    options: &ServerOptions,
) -> Result<NodeServer, ApplyError> {
    let refs = References::resolve(desired, server, live)?;
    if let Some(existing) = unfinished(live, server) {
        // `live` may be older than the project (node replace deletes the server first):
        // only a server that still exists is finished, else a new one is created.
        let id = ServerId::new(existing.id);
        let still_there = client
            .get_server(id)
            .await
            .map_err(ApplyError::hcloud(format!("reading server {}", server.name)))?
            .is_some();
        if still_there {
            return resume(client, desired, server, live, id, refs.network, options).await;
        }
    }
    let mut request = CreateServer::new(
        &server.name,
        &server.server_type,
        &refs.image.to_string(),
        hcloud_labels(&format!("server {}", server.name), &server.labels)?,
    );
    request.location = Some(server.location.clone());
    request.placement_group = Some(refs.placement_group);
    request.firewalls = vec![refs.firewall];
    request.primary_ipv4 = Some(refs.primary_ip);
    request.user_data = options.user_data.clone();
    let creating = format!(
        "creating server {} ({} in {})",
        server.name, server.server_type, server.location
    );
    let created = client
        .create_server(&request)
        .await
        .map_err(ApplyError::hcloud(creating.clone()))?;
    wait(client, &creating, &created.action_ids()).await?;
    complete(client, desired, server, live, &created.server, refs.network, options).await
}

/// Finishes server `id` of `server`, which an interrupted run created but left
/// unfinished: waits for its running actions, then completes it.
async fn resume(
    client: &Client,
    desired: &Desired,
    server: &DesiredServer,
    live: &Live,
    id: ServerId,
    network: NetworkId,
    options: &ServerOptions,
) -> Result<NodeServer, ApplyError> {
    let missing = || ApplyError::Missing {
        kind: "server",
        name: server.name.clone(),
        needed_by: "finishing it".into(),
    };
    let doing = format!("finishing server {}", server.name);
    let running = client
        .running_server_actions(id)
        .await
        .map_err(ApplyError::hcloud(doing.clone()))?;
    let ids: Vec<ActionId> = running.iter().map(|a| ActionId::new(a.id)).collect();
    wait(client, &doing, &ids).await?;
    let current = client
        .get_server(id)
        .await
        .map_err(ApplyError::hcloud(doing))?
        .ok_or_else(missing)?;
    complete(client, desired, server, live, &current, network, options).await
}

/// Attaches, powers on and protects the server `current` shows where it is not yet.
async fn complete(
    client: &Client,
    desired: &Desired,
    server: &DesiredServer,
    live: &Live,
    current: &hcloud::models::Server,
    network: NetworkId,
    options: &ServerOptions,
) -> Result<NodeServer, ApplyError> {
    let id = ServerId::new(current.id);
    let attached = current.private_net.iter().any(|net| net.network == Some(network.get()));
    if !attached {
        let doing = format!("attaching server {} to network {}", server.name, desired.network.name);
        let action = client
            .attach_server_to_network(id, network, Some(server.private_ip))
            .await
            .map_err(ApplyError::hcloud(doing.clone()))?;
        wait(client, &doing, &[ActionId::new(action.id)]).await?;
    }
    // Powered on before it is protected: the boot starts sooner, and the protection's
    // action runs while the node boots.
    if current.status != hcloud::models::server::Status::Running {
        let doing = format!("powering on server {}", server.name);
        let action = client
            .poweron_server(id)
            .await
            .map_err(ApplyError::hcloud(doing.clone()))?;
        wait(client, &doing, &[ActionId::new(action.id)]).await?;
    }
    let protect = options.protect_control_planes && server.role == Role::ControlPlane;
    let already_protected = current.protection.delete;
    if protect && !already_protected {
        let doing = format!("protecting server {}", server.name);
        let action = client
            .set_protection(Protected::Server, id.get(), true)
            .await
            .map_err(ApplyError::hcloud(doing.clone()))?;
        wait(client, &doing, &[ActionId::new(action.id)]).await?;
    }
    let public_ipv4 = live
        .primary_ips
        .iter()
        .find(|ip| ip.name == server.primary_ip)
        .map(|ip| ip.ip.clone());
    Ok(NodeServer {
        id,
        name: server.name.clone(),
        public_ipv4,
        private_ip: server.private_ip,
        protected: protect || already_protected,
    })
}

/// The live server of `server` if an interrupted run left it unfinished: outside the
/// cluster network or not running.
pub(super) fn unfinished<'a>(live: &'a Live, server: &DesiredServer) -> Option<&'a LiveServer> {
    live.servers
        .iter()
        .find(|s| s.name == server.name && (s.private_ip.is_none() || s.status != "running"))
}

/// Waits for `ids` (shared batched polling), naming `operation` on failure.
pub(super) async fn wait(client: &Client, operation: &str, ids: &[ActionId]) -> Result<(), ApplyError> {
    client
        .wait_for_actions(operation, ids)
        .await
        .map(drop)
        .map_err(ApplyError::hcloud(operation.to_string()))
}
