//! `apply --allow-delete`: what the plan marks `- delete` is deleted, nodes first retired
//! from the cluster. A node's server that is no longer in cluster.yaml is drained
//! (honouring PodDisruptionBudgets); a control plane leaves etcd (gracefully when its Talos
//! API answers, else its member is removed through another control plane); then the
//! Hetzner resources go in reverse dependency order ([`crate::cluster::destroy`]'s
//! deletion, protection turned off first) and the Kubernetes Node objects last. A removed node's primary IPv4 is in the plan and is
//! deleted with it: its address is released.
//!
//! Removing so many control planes that the rest are not a quorum of today's members is
//! refused before any change ([`check_quorum`]).

use std::net::{IpAddr, SocketAddr};

use crate::cluster::destroy::{self, Inventory, Resource};
use crate::cluster::kubeconfig::Kubeconfig;
use crate::cluster::live::{Live, LiveServer};
use crate::cluster::nodes::NodeSet;
use crate::cluster::plan::{Action, Kind, Plan};
use crate::hcloud::labels;
use crate::node::{KubeClient, KubeOptions, drain, ensure_member_removed};
use crate::spec::Role;
use crate::talos::api::{APID_PORT, MemberListScope, TalosClient};

use super::{ApplyError, ApplyOptions};
use crate::hcloud::Client;

/// The servers `plan` deletes, as they exist.
fn deleted_servers<'l>(plan: &Plan, live: &'l Live) -> Vec<&'l LiveServer> {
    plan.changes
        .iter()
        .filter(|c| c.kind == Kind::Server && c.action == Action::Delete)
        .filter_map(|c| live.servers.iter().find(|s| Some(s.id) == c.id))
        .collect()
}

fn is_control_plane(server: &LiveServer) -> bool {
    server.labels.get(labels::ROLE).map(String::as_str) == Some(Role::ControlPlane.as_str())
}

/// The node name a server carries (its label, else the server name).
fn node_name(server: &LiveServer) -> String {
    server
        .labels
        .get(labels::NODE)
        .cloned()
        .unwrap_or_else(|| server.name.clone())
}

/// Refuses a plan that deletes control planes when the ones left are fewer than a quorum
/// of the control planes there are now (3 → 2 is fine, 3 → 1 and 2 → 1 are not).
///
/// # Errors
/// [`ApplyError::QuorumLoss`], before any change.
pub fn check_quorum(plan: &Plan, live: &Live) -> Result<(), ApplyError> {
    let removed: Vec<String> = deleted_servers(plan, live)
        .into_iter()
        .filter(|s| is_control_plane(s))
        .map(|s| s.name.clone())
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    let now = live.servers.iter().filter(|s| is_control_plane(s)).count();
    let left = now - removed.len();
    let needed = now / 2 + 1;
    if left < needed {
        return Err(ApplyError::QuorumLoss {
            removed,
            now,
            left,
            needed,
        });
    }
    Ok(())
}

/// Retires the nodes whose servers `plan` deletes, then deletes everything the plan
/// deletes; `set` is the cluster's remaining nodes (Talos access). Returns `kind name` of
/// every resource deleted.
///
/// # Errors
/// The first step that failed: a drain refused past its deadline, an etcd member that
/// cannot be removed, a Hetzner deletion. What was deleted before stays deleted; a re-run
/// continues with what is left.
pub async fn delete_planned(
    client: &Client,
    plan: &Plan,
    live: &Live,
    set: &NodeSet,
    options: &ApplyOptions,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Vec<String>, ApplyError> {
    let servers = deleted_servers(plan, live);
    let kube = if servers.is_empty() {
        None
    } else {
        kube_client(set).await
    };
    for server in &servers {
        retire(server, kube.as_ref(), set, options, progress).await?;
    }
    let resources: Vec<Resource> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .filter_map(|c| {
            let id = c.id?;
            let protected = c.kind == Kind::Server && live.servers.iter().any(|s| s.id == id && s.protected);
            Some(Resource {
                kind: destroy_kind(c.kind),
                id,
                name: c.name.clone(),
                protected,
            })
        })
        .collect();
    for resource in &resources {
        progress(format!("deleting {}", resource.describe()));
    }
    let inventory = Inventory {
        cluster: plan.cluster.clone(),
        resources,
    };
    let deleting = destroy::Options {
        disable_protection: true,
        parallel: options.parallel,
    };
    let outcome = destroy::destroy(client, &inventory, deleting)
        .await
        .map_err(|e| ApplyError::Delete(Box::new(e)))?;
    if let Some(kube) = &kube {
        for server in &servers {
            let node = node_name(server);
            match kube.delete_node(&node).await {
                Ok(deleted) => progress(format!("{node}: Kubernetes Node {deleted:?}")),
                Err(error) => progress(format!(
                    "{node}: Kubernetes Node not deleted ({}); delete it with kubectl",
                    crate::error::chain(&error).join(": ")
                )),
            }
        }
    }
    Ok(outcome
        .deleted
        .iter()
        .map(|r| {
            let kind = plan_kind(r.kind);
            format!("{} {}", kind.map_or("resource", Kind::as_str), r.name)
        })
        .collect())
}

/// Drains the node of `server` (only cordons it when its Talos API does not answer: the
/// pods of a dead node cannot leave gracefully) and, for a control plane, has it leave
/// etcd (by itself when it answers, else through another control plane).
async fn retire(
    server: &LiveServer,
    kube: Option<&KubeClient>,
    set: &NodeSet,
    options: &ApplyOptions,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<(), ApplyError> {
    let node = node_name(server);
    let own = own_client(server, set);
    let alive = match &own {
        Some(client) => client.version().await.is_ok(),
        None => false,
    };
    let kube_node = match kube {
        Some(kube) => matches!(kube.node(&node).await, Ok(Some(_))).then_some(kube),
        None => None,
    };
    match kube_node {
        Some(kube) if alive => {
            progress(format!("{node}: draining (server {} is deleted next)", server.name));
            let report = drain(kube, &node, options.drain)
                .await
                .map_err(|source| ApplyError::Drain {
                    node: node.clone(),
                    source: Box::new(source),
                })?;
            progress(format!("{node}: drained, {} pod(s) evicted", report.evicted.len()));
        }
        Some(kube) => {
            let cordoned = kube.cordon(&node).await.is_ok();
            progress(format!(
                "{node}: its Talos API does not answer: {}, its pods are not evicted",
                if cordoned { "cordoned" } else { "not even cordoned" }
            ));
        }
        None => progress(format!("{node}: no Kubernetes Node to drain")),
    }
    if !is_control_plane(server) {
        return Ok(());
    }
    if alive
        && let Some(client) = &own
        && client.etcd_leave_cluster().await.is_ok()
    {
        progress(format!("{node}: left etcd gracefully"));
        return Ok(());
    }
    let etcd_error = |on: &str| {
        let on = on.to_string();
        let node = node.clone();
        move |source| ApplyError::Etcd {
            node,
            on,
            source: Box::new(source),
        }
    };
    for peer in set.control_planes() {
        let Ok(client) = set.client(peer) else {
            continue;
        };
        let Ok(members) = client.etcd_members(MemberListScope::Cluster).await else {
            continue;
        };
        let Some(member) = members.iter().find(|m| m.hostname == node) else {
            progress(format!("{node}: not an etcd member"));
            return Ok(());
        };
        let removal = ensure_member_removed(&client, member.id)
            .await
            .map_err(etcd_error(&peer.name))?;
        progress(format!(
            "{node}: etcd member {:x} removed through {} ({removal:?})",
            member.id, peer.name
        ));
        return Ok(());
    }
    Err(ApplyError::NoPeer { node })
}

/// A Talos client of the node of `server` itself whose calls are tried once; `None` when
/// the server has no public IPv4.
fn own_client(server: &LiveServer, set: &NodeSet) -> Option<TalosClient> {
    let ip = server.public_ipv4.as_deref()?.parse::<IpAddr>().ok()?;
    set.client_once(SocketAddr::new(ip, APID_PORT)).ok()
}

/// The Kubernetes client of the admin kubeconfig the first control plane hands out;
/// `None` when none does.
async fn kube_client(set: &NodeSet) -> Option<KubeClient> {
    for node in set.control_planes() {
        let Ok(client) = set.client(node) else {
            continue;
        };
        let Ok(bytes) = client.kubeconfig().await else {
            continue;
        };
        if Kubeconfig::parse(bytes.expose(), "from the Talos API").is_err() {
            continue;
        }
        if let Ok(kube) = KubeClient::from_kubeconfig(bytes.expose(), KubeOptions::default()) {
            return Some(kube);
        }
    }
    None
}

fn destroy_kind(kind: Kind) -> destroy::Kind {
    match kind {
        Kind::Network => destroy::Kind::Network,
        Kind::Firewall => destroy::Kind::Firewall,
        Kind::PlacementGroup => destroy::Kind::PlacementGroup,
        Kind::PrimaryIp => destroy::Kind::PrimaryIp,
        Kind::FloatingIp => destroy::Kind::FloatingIp,
        Kind::Server => destroy::Kind::Server,
        Kind::LoadBalancer => destroy::Kind::LoadBalancer,
    }
}

fn plan_kind(kind: destroy::Kind) -> Option<Kind> {
    Some(match kind {
        destroy::Kind::Network => Kind::Network,
        destroy::Kind::Firewall => Kind::Firewall,
        destroy::Kind::PlacementGroup => Kind::PlacementGroup,
        destroy::Kind::PrimaryIp => Kind::PrimaryIp,
        destroy::Kind::FloatingIp => Kind::FloatingIp,
        destroy::Kind::Server => Kind::Server,
        destroy::Kind::LoadBalancer => Kind::LoadBalancer,
        destroy::Kind::SshKey => return None,
    })
}
