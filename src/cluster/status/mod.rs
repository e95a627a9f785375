//! `status`: the cluster as it is, read-only — per node the Hetzner side (server status,
//! addresses), the Talos side (version, kubelet, etcd role) and whether its machine config
//! label matches the config cluster.yaml renders; per cluster the endpoint's `/readyz`,
//! etcd quorum and servers missing from (or extra to) cluster.yaml.
//!
//! The Hetzner side is read by labels ([`super::live::read`]); a failure there is an error.
//! The Talos side ([`probe`]) asks every node at once with bounded timeouts, using the
//! talosconfig and kubeconfig `apply` wrote under `.talos-hcloud/<cluster>/`: a node that
//! does not answer is reported, never fatal. [`StatusReport::healthy`] is what the exit
//! code follows; [`render`] gives the text form, serde the JSON one.

mod probe;
pub mod render;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::desired::LABEL_CONFIG_HASH;
use super::endpoint::{self, LiveEndpoint};
use super::error::Error;
use super::files::{KUBECONFIG_FILE, TALOSCONFIG_FILE};
use super::live::{self, Live, LiveServer};
use super::planning::{self, Inputs};
use crate::error::{Class, Classify};
use crate::hcloud::Client;
use crate::hcloud::labels as hlabels;
use crate::spec::{Role, Spec};
use crate::talos::api::CallOptions;

/// What `status` needs besides the spec and the client.
#[derive(Debug, Clone)]
pub struct StatusInputs {
    /// The cluster's folder of local files (talosconfig, kubeconfig).
    pub dir: PathBuf,
    /// The secrets bundle and token the desired configs are rendered with (for the
    /// config-hash comparison).
    pub planning: Inputs,
    /// Deadlines of each Talos API call (and of `/readyz`); status never retries.
    pub call: CallOptions,
}

impl StatusInputs {
    /// Inputs with calls bounded by `timeout` and never retried.
    pub fn new(dir: PathBuf, planning: Inputs, timeout: Duration) -> StatusInputs {
        StatusInputs {
            dir,
            planning,
            call: CallOptions {
                timeout,
                connect_timeout: timeout,
                retry: crate::retry::Policy::none(),
            },
        }
    }
}

/// The state of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// The cluster name.
    pub cluster: String,
    /// Returns true if and only if nothing in `problems` (the exit code follows it).
    pub healthy: bool,
    /// The cluster endpoint.
    pub endpoint: EndpointStatus,
    /// etcd membership and quorum.
    pub etcd: EtcdQuorum,
    /// Every node of cluster.yaml, control planes first.
    pub nodes: Vec<NodeStatus>,
    /// Nodes of cluster.yaml without a server.
    pub missing: Vec<String>,
    /// Servers labelled with the cluster that cluster.yaml does not name.
    pub extra: Vec<String>,
    /// What makes the cluster degraded, one line each (`cp-2: server is off`).
    pub problems: Vec<String>,
    /// What deserves a look but is no failure (a config not yet applied, an extra server).
    pub notices: Vec<String>,
}

/// The cluster endpoint: the Hetzner resource and the API server behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointStatus {
    /// `floating-ip` or `load-balancer`.
    pub kind: &'static str,
    /// The resource's name.
    pub name: String,
    /// The resource, when it exists.
    pub live: Option<LiveEndpoint>,
    /// The server a floating IP is assigned to, by name.
    pub assigned_to: Option<String>,
    /// The Kubernetes API URL checked (the kubeconfig's server).
    pub url: Option<String>,
    /// `/readyz` through the endpoint answered 200.
    pub ready: bool,
    /// What `/readyz` answered, or why it was not asked.
    pub detail: String,
}

/// etcd quorum as the control planes report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EtcdQuorum {
    /// Voting members.
    pub members: usize,
    /// Voting members whose node reports its etcd service healthy.
    pub healthy: usize,
    /// Members needed for quorum (`members / 2 + 1`).
    pub needed: usize,
    /// Returns true if and only if enough members are healthy.
    pub quorum: bool,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// Node name.
    pub name: String,
    /// `controlplane` or `worker`.
    pub role: &'static str,
    /// Server name.
    pub server: String,
    /// Server ID (`None`: no server).
    pub server_id: Option<i64>,
    /// Hetzner's status (`running`, `off`, …; `None`: no server).
    pub hetzner_status: Option<String>,
    /// Public IPv4.
    pub public_ipv4: Option<String>,
    /// Address in the private network.
    pub private_ip: Option<Ipv4Addr>,
    /// The Talos API's answers.
    pub talos: TalosStatus,
    /// Machine config label against the config cluster.yaml renders.
    pub config: ConfigSync,
    /// Its place in etcd (control planes; `none` for workers).
    pub etcd: EtcdRole,
    /// Returns true if and only if its etcd service reports healthy (`None`: workers, or not known).
    pub etcd_healthy: Option<bool>,
    /// The kubelet service's state (`Running`, …; `None`: not known).
    pub kubelet: Option<String>,
}

/// What the node's Talos API said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TalosStatus {
    /// Returns true if and only if it answered Version with mutual TLS.
    pub reachable: bool,
    /// The Talos release tag.
    pub version: Option<String>,
    /// Why it is not reachable (or was not asked).
    pub error: Option<String>,
}

/// Whether the config a node was given is the one cluster.yaml renders now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigSync {
    /// `Some(true)` in sync, `Some(false)` differs, `None` not known (see `reason`).
    pub in_sync: Option<bool>,
    /// The hash recorded on the server (label `talos-hcloud/config-hash`).
    pub applied: Option<String>,
    /// The hash of the config cluster.yaml renders.
    pub desired: Option<String>,
    /// Why `in_sync` is not known.
    pub reason: Option<String>,
}

/// A node's place in etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EtcdRole {
    /// The member that leads the Raft group.
    Leader,
    /// A voting member.
    Member,
    /// A non-voting learner (still catching up).
    Learner,
    /// Not a member (workers, or a control plane that has not joined).
    None,
    /// Not known: no control plane answered the member list.
    Unknown,
}

impl EtcdRole {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            EtcdRole::Leader => "leader",
            EtcdRole::Member => "member",
            EtcdRole::Learner => "learner",
            EtcdRole::None => "none",
            EtcdRole::Unknown => "unknown",
        }
    }
}

/// `status` found the cluster degraded; the report is the error's details.
#[derive(Debug, thiserror::Error)]
#[error("cluster {} is degraded: {}", .0.cluster, .0.problems.join("; "))]
pub struct Degraded(pub StatusReport);

impl Classify for Degraded {
    fn class(&self) -> Class {
        Class::Failed
    }

    fn details(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.0).ok()
    }
}

/// Reads the state of the cluster `spec` describes.
///
/// # Errors
/// [`Error::ReadLive`] when the Hetzner side cannot be read; the Talos side never fails
/// the call (what does not answer is reported).
pub async fn status(client: &Client, spec: &Spec, inputs: &StatusInputs) -> Result<StatusReport, Error> {
    let live = live::read(client, spec).await?;
    let hashes = match planning::config_hashes(spec, &live, &inputs.planning) {
        Ok((hashes, None)) => Ok(hashes),
        Ok((_, Some(why))) => Err(why),
        Err(error) => Err(crate::error::chain(&error).join(": ")),
    };
    let mut nodes = node_rows(spec, &live, &hashes);
    let found = endpoint::from_live(spec, &live);
    let probed = probe::probe(&nodes, &inputs.dir, &inputs.call).await;
    probed.apply_to(&mut nodes);
    let endpoint = EndpointStatus {
        kind: spec.endpoint.as_str(),
        name: spec.api_endpoint_name(),
        assigned_to: found
            .as_ref()
            .and_then(|e| e.assigned_to)
            .and_then(|id| live.servers.iter().find(|s| s.id == id))
            .map(|s| s.name.clone()),
        live: found,
        url: probed.readyz.url.clone(),
        ready: probed.readyz.ready,
        detail: probed.readyz.detail.clone(),
    };
    let missing: Vec<String> = nodes
        .iter()
        .filter(|n| n.server_id.is_none())
        .map(|n| n.name.clone())
        .collect();
    let extra: Vec<String> = live
        .servers
        .iter()
        .filter(|s| s.labels.get(hlabels::ROLE).map(String::as_str) != Some(hlabels::Role::Builder.as_str()))
        .filter(|s| !nodes.iter().any(|n| n.server == s.name))
        .map(|s| s.name.clone())
        .collect();
    let (problems, notices) = findings(&nodes, &endpoint, &probed, &missing, &extra);
    Ok(StatusReport {
        cluster: spec.name.as_str().to_string(),
        healthy: problems.is_empty(),
        endpoint,
        etcd: probed.quorum,
        nodes,
        missing,
        extra,
        problems,
        notices,
    })
}

/// One row per node of cluster.yaml with its Hetzner side and config hashes filled in.
fn node_rows(spec: &Spec, live: &Live, hashes: &Result<BTreeMap<String, String>, String>) -> Vec<NodeStatus> {
    spec.nodes()
        .map(|node| {
            let name = node.name.as_str().to_string();
            let server_name = spec.server_name(node);
            let server: Option<&LiveServer> = live.servers.iter().find(|s| s.name == server_name);
            let applied = server.and_then(|s| s.labels.get(LABEL_CONFIG_HASH)).cloned();
            let config = match hashes {
                Ok(hashes) => {
                    let desired = hashes.get(&name).cloned();
                    ConfigSync {
                        in_sync: server.map(|_| applied.is_some() && applied == desired),
                        reason: server.is_none().then(|| "no server".to_string()),
                        applied,
                        desired,
                    }
                }
                Err(why) => ConfigSync {
                    in_sync: None,
                    applied,
                    desired: None,
                    reason: Some(why.clone()),
                },
            };
            NodeStatus {
                role: node.role.as_str(),
                server: server_name,
                server_id: server.map(|s| s.id),
                hetzner_status: server.map(|s| s.status.clone()),
                public_ipv4: server.and_then(|s| s.public_ipv4.clone()),
                private_ip: server.and_then(|s| s.private_ip),
                talos: TalosStatus {
                    reachable: false,
                    version: None,
                    error: Some("not asked".into()),
                },
                config,
                etcd: if node.role == Role::ControlPlane {
                    EtcdRole::Unknown
                } else {
                    EtcdRole::None
                },
                etcd_healthy: None,
                kubelet: None,
                name,
            }
        })
        .collect()
}

impl NodeStatus {
    /// Returns true if and only if the node is a control plane.
    pub fn is_control_plane(&self) -> bool {
        self.role == Role::ControlPlane.as_str()
    }

    /// The address its Talos API is dialled on.
    fn address(&self) -> Option<IpAddr> {
        self.public_ipv4.as_deref().and_then(|ip| ip.parse().ok())
    }

    /// What is wrong with this node, one line each.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut say = |what: String| out.push(format!("{}: {what}", self.name));
        match self.hetzner_status.as_deref() {
            None => return out,
            Some("running") => {}
            Some(other) => {
                say(format!("server is {other}"));
                return out;
            }
        }
        if !self.talos.reachable {
            let why = self.talos.error.as_deref().unwrap_or("no answer");
            say(format!("Talos API unreachable: {why}"));
            return out;
        }
        if self.is_control_plane() {
            match self.etcd {
                EtcdRole::Leader | EtcdRole::Member => {}
                EtcdRole::Learner => say("still an etcd learner".into()),
                EtcdRole::None => say("not an etcd member".into()),
                EtcdRole::Unknown => say("etcd membership unknown".into()),
            }
            if self.etcd_healthy == Some(false) {
                say("etcd is not healthy".into());
            }
        }
        match self.kubelet.as_deref() {
            Some("Running") => {}
            Some(state) => say(format!("kubelet is {state}")),
            None => say("no kubelet state".into()),
        }
        out
    }
}

/// The problems (degraded) and notices of a report.
fn findings(
    nodes: &[NodeStatus],
    endpoint: &EndpointStatus,
    probed: &probe::Probed,
    missing: &[String],
    extra: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut problems: Vec<String> = probed.setup_problems.clone();
    let mut notices = Vec::new();
    for name in missing {
        problems.push(format!("{name}: no server (run apply)"));
    }
    if endpoint.live.is_none() {
        problems.push(format!("endpoint: {} {} does not exist", endpoint.kind, endpoint.name));
    }
    if !endpoint.ready {
        problems.push(format!("endpoint: {}", endpoint.detail));
    }
    let quorum = probed.quorum;
    if !quorum.quorum {
        problems.push(format!(
            "etcd: no quorum ({} of {} members healthy, {} needed)",
            quorum.healthy, quorum.members, quorum.needed
        ));
    }
    for node in nodes {
        problems.extend(node.problems());
        if node.config.in_sync == Some(false) {
            notices.push(format!(
                "{}: machine config differs from what cluster.yaml renders (apply rolls it out)",
                node.name
            ));
        }
    }
    for name in extra {
        notices.push(format!(
            "{name}: server labelled with the cluster but not in cluster.yaml"
        ));
    }
    (problems, notices)
}

/// The cluster's local files folder the report's Talos side reads.
pub fn talosconfig_path(dir: &Path) -> PathBuf {
    dir.join(TALOSCONFIG_FILE)
}

/// The kubeconfig `status` checks `/readyz` with.
pub fn kubeconfig_path(dir: &Path) -> PathBuf {
    dir.join(KUBECONFIG_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, role: Role) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            role: role.as_str(),
            server: format!("tc-{name}"),
            server_id: Some(1),
            hetzner_status: Some("running".into()),
            public_ipv4: Some("198.51.100.11".into()),
            private_ip: Some(Ipv4Addr::new(10, 0, 1, 11)),
            talos: TalosStatus {
                reachable: true,
                version: Some("v1.11.6".into()),
                error: None,
            },
            config: ConfigSync {
                in_sync: Some(true),
                applied: Some("ab".into()),
                desired: Some("ab".into()),
                reason: None,
            },
            etcd: if role == Role::ControlPlane {
                EtcdRole::Leader
            } else {
                EtcdRole::None
            },
            etcd_healthy: (role == Role::ControlPlane).then_some(true),
            kubelet: Some("Running".into()),
        }
    }

    #[test]
    fn a_healthy_node_has_no_problem_and_each_failure_names_the_node() {
        assert!(node("cp-1", Role::ControlPlane).problems().is_empty());
        assert!(node("w-1", Role::Worker).problems().is_empty(), "workers have no etcd");

        let mut off = node("cp-2", Role::ControlPlane);
        off.hetzner_status = Some("off".into());
        off.talos.reachable = false;
        assert_eq!(off.problems(), ["cp-2: server is off"], "one line, not one per symptom");

        let mut silent = node("cp-3", Role::ControlPlane);
        silent.talos = TalosStatus {
            reachable: false,
            version: None,
            error: Some("no answer within 5s".into()),
        };
        assert_eq!(silent.problems(), ["cp-3: Talos API unreachable: no answer within 5s"]);

        let mut joining = node("cp-4", Role::ControlPlane);
        joining.etcd = EtcdRole::Learner;
        joining.etcd_healthy = Some(false);
        joining.kubelet = Some("Waiting".into());
        assert_eq!(
            joining.problems(),
            [
                "cp-4: still an etcd learner",
                "cp-4: etcd is not healthy",
                "cp-4: kubelet is Waiting"
            ]
        );

        let mut missing = node("w-2", Role::Worker);
        missing.hetzner_status = None;
        assert!(
            missing.problems().is_empty(),
            "a missing server is the report's line, not the node's"
        );
    }

    #[test]
    fn the_text_form_has_a_verdict_a_row_per_node_and_the_problems() {
        let mut stopped = node("w-1", Role::Worker);
        stopped.hetzner_status = Some("off".into());
        stopped.talos.version = None;
        stopped.kubelet = None;
        stopped.config.in_sync = Some(false);
        let report = StatusReport {
            cluster: "tc".into(),
            healthy: false,
            endpoint: EndpointStatus {
                kind: "floating-ip",
                name: "tc-api".into(),
                live: Some(LiveEndpoint {
                    kind: "floating-ip",
                    name: "tc-api".into(),
                    address: Some("203.0.113.10".into()),
                    assigned_to: Some(1),
                }),
                assigned_to: Some("tc-cp-1".into()),
                url: Some("https://203.0.113.10:6443/readyz".into()),
                ready: true,
                detail: "answered 200 OK".into(),
            },
            etcd: EtcdQuorum {
                members: 1,
                healthy: 1,
                needed: 1,
                quorum: true,
            },
            nodes: vec![node("cp-1", Role::ControlPlane), stopped],
            missing: Vec::new(),
            extra: vec!["tc-old".into()],
            problems: vec!["w-1: server is off".into()],
            notices: vec!["tc-old: server labelled with the cluster but not in cluster.yaml".into()],
        };
        assert_eq!(
            render::text(&report),
            "cluster tc: DEGRADED\n\
             endpoint: floating-ip tc-api 203.0.113.10 on tc-cp-1, /readyz ready\n\
             etcd: 1 of 1 members healthy (1 needed), quorum\n\
             \n\
             NODE  ROLE          SERVER   HETZNER  PUBLIC         PRIVATE    TALOS    CONFIG   ETCD    KUBELET\n\
             cp-1  controlplane  tc-cp-1  running  198.51.100.11  10.0.1.11  v1.11.6  in-sync  leader  Running\n\
             w-1   worker        tc-w-1   off      198.51.100.11  10.0.1.11  -        differs  none    -\n\
             \n\
             problems:\n  w-1: server is off\n\
             \n\
             notices:\n  tc-old: server labelled with the cluster but not in cluster.yaml"
        );
    }
}
