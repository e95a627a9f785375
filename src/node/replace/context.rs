//! The cluster as the runbook sees it: the node to replace, what Hetzner holds (by labels),
//! what cluster.yaml asks for, every node's rendered machine config and address, and the
//! admin identity derived from the secrets bundle. Reading only; nothing is changed here.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::cluster::desired::{self, Desired, DesiredServer};
use crate::cluster::live::{self, Live, LiveServer};
use crate::cluster::nodes::{NodeSet, NodeTarget, Waits};
use crate::cluster::planning::rendered_configs;
use crate::cluster::{self as cluster_mod};
use crate::hcloud::Client;
use crate::redact::Redacted;
use crate::spec::{Role, Spec};
use crate::talos::api::{CallOptions, TalosconfigTarget};
use crate::talos::talosconfig::Talosconfig;

use super::error::ReplaceError;

/// Label on the server being replaced: the last runbook step done, so a re-run resumes.
pub const LABEL_REPLACE_STEP: &str = "talos-hcloud/replace-step";

/// What reading the cluster needs besides cluster.yaml and the Hetzner client.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The Hetzner token the control-plane configs carry for the Talos VIP.
    pub hcloud_token: Option<Redacted<String>>,
    /// The secrets bundle; `None`: cluster.yaml's default path.
    pub secrets: Option<PathBuf>,
    /// Deadlines and retries of single Talos API calls.
    pub call: CallOptions,
    /// How long the Talos waits may take.
    pub waits: Waits,
}

/// The node being replaced.
#[derive(Debug, Clone)]
pub struct Target {
    /// The node name (hostname, etcd member name, Kubernetes Node name).
    pub node: String,
    /// Its role.
    pub role: Role,
    /// What cluster.yaml asks for its server.
    pub desired: DesiredServer,
    /// Its server as it is, if it exists.
    pub live: Option<LiveServer>,
    /// Its public IPv4: the server's, else its kept primary IP's.
    pub address: Option<IpAddr>,
}

/// Everything the runbook reads before it acts.
#[derive(Debug, Clone)]
pub struct Context {
    /// The Hetzner client.
    pub client: Client,
    /// cluster.yaml.
    pub spec: Spec,
    /// What exists.
    pub live: Live,
    /// What cluster.yaml asks for.
    pub desired: Desired,
    /// Every node that has an address, the target included.
    pub set: NodeSet,
    /// The node being replaced.
    pub target: Target,
}

impl Context {
    /// The control planes other than the target.
    pub fn other_control_planes(&self) -> impl Iterator<Item = &NodeTarget> {
        self.set
            .control_planes()
            .filter(move |node| node.name != self.target.node)
    }

    /// The nodes other than the target.
    pub fn others(&self) -> impl Iterator<Item = &NodeTarget> {
        self.set.nodes.iter().filter(move |node| node.name != self.target.node)
    }

    /// The target as a node of the set (with its config), if it has an address.
    pub fn target_node(&self) -> Option<&NodeTarget> {
        self.set.nodes.iter().find(|node| node.name == self.target.node)
    }

    /// The cluster name.
    pub fn cluster(&self) -> &str {
        self.spec.name.as_str()
    }
}

/// Reads the cluster for replacing `name` (a node name, or its server name).
///
/// # Errors
/// [`ReplaceError::UnknownNode`] and [`ReplaceError::NoSecrets`] before any request;
/// [`ReplaceError::Cluster`] when the live state cannot be read or the configs rendered;
/// [`ReplaceError::Precheck`] when the endpoint does not exist.
pub async fn read(client: Client, spec: Spec, name: &str, inputs: &Inputs) -> Result<Context, ReplaceError> {
    let cluster = spec.name.as_str().to_string();
    let node = spec
        .nodes()
        .find(|node| node.name.as_str() == name || spec.server_name(node) == name)
        .ok_or_else(|| ReplaceError::UnknownNode {
            name: name.to_string(),
            cluster: cluster.clone(),
            known: spec.nodes().map(|n| n.name.as_str().to_string()).collect(),
        })?;
    let (node_name, role) = (node.name.as_str().to_string(), node.role);
    let secrets = inputs.secrets.clone().unwrap_or_else(|| spec.secrets_path());
    if !secrets.exists() {
        return Err(ReplaceError::NoSecrets {
            path: secrets.display().to_string(),
        });
    }
    let wrap = |source: cluster_mod::Error| ReplaceError::Cluster {
        cluster: cluster.clone(),
        source: Box::new(source),
    };
    let live = live::read(&client, &spec).await.map_err(wrap)?;
    let planning = crate::cluster::Inputs {
        secrets,
        hcloud_token: inputs.hcloud_token.clone(),
    };
    let configs = rendered_configs(&spec, &live, &planning)
        .map_err(wrap)?
        .map_err(|why| ReplaceError::Precheck {
            problems: vec![crate::cluster::nodes::NodeFailure::said("configs", why)],
        })?;
    let (rendered, bundle) = (configs.nodes, configs.bundle);
    let desired = desired::desired(&spec, &live, &desired::config_hashes(&rendered)).map_err(wrap)?;
    let mut nodes = Vec::new();
    for node in rendered {
        let Some(server) = desired.servers.iter().find(|s| s.node == node.name) else {
            continue;
        };
        let Some(address) = address_of(&live, server) else {
            continue;
        };
        let applied = live_server(&live, server).and_then(|s| s.labels.get(desired::LABEL_CONFIG_HASH).cloned());
        nodes.push(NodeTarget {
            name: node.name,
            role: node.role,
            address,
            private_ip: Some(IpAddr::V4(server.private_ip)),
            config: Redacted::new(node.yaml.into_bytes()),
            applied,
        });
    }
    let control_planes: Vec<IpAddr> = nodes
        .iter()
        .filter(|n| n.is_control_plane())
        .map(|n| n.address)
        .collect();
    let talosconfig =
        Talosconfig::derived_for_cluster(&bundle, &cluster, control_planes, time::OffsetDateTime::now_utc())
            .map_err(|e| ReplaceError::Talosconfig(Box::new(e)))?;
    let identity = TalosconfigTarget::from_talosconfig(&talosconfig, None)
        .map_err(|e| ReplaceError::Talosconfig(Box::new(e)))?
        .identity;
    let desired_server = desired
        .servers
        .iter()
        .find(|s| s.node == node_name)
        .cloned()
        .ok_or_else(|| ReplaceError::UnknownNode {
            name: name.to_string(),
            cluster: cluster.clone(),
            known: Vec::new(),
        })?;
    let target = Target {
        node: node_name,
        role,
        live: live_server(&live, &desired_server).cloned(),
        address: address_of(&live, &desired_server),
        desired: desired_server,
    };
    Ok(Context {
        client,
        spec,
        live,
        desired,
        set: NodeSet {
            nodes,
            identity,
            call: inputs.call,
            waits: inputs.waits,
        },
        target,
    })
}

fn live_server<'a>(live: &'a Live, server: &DesiredServer) -> Option<&'a LiveServer> {
    live.servers.iter().find(|s| s.name == server.name)
}

/// A node's public IPv4: its server's, else its kept primary IP's.
fn address_of(live: &Live, server: &DesiredServer) -> Option<IpAddr> {
    live_server(live, server)
        .and_then(|s| s.public_ipv4.clone())
        .or_else(|| {
            live.primary_ips
                .iter()
                .find(|ip| ip.name == server.primary_ip)
                .map(|ip| ip.ip.clone())
        })
        .and_then(|ip| ip.parse().ok())
}
