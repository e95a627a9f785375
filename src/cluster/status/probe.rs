//! The Talos side of `status`: every node's Version and ServiceList, the etcd member list
//! and `/readyz` through the cluster endpoint, all asked at once, each call bounded by the
//! caller's deadline and tried once. Whatever does not answer becomes a line of the report.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use futures::future::{join_all, select_ok};

use super::{EtcdQuorum, EtcdRole, NodeStatus, kubeconfig_path, talosconfig_path};
use crate::cluster::kubeconfig::{KubeAccess, Kubeconfig};
use crate::talos::api::{
    APID_PORT, CallOptions, ClientIdentity, Credentials, EtcdMember, MemberListScope, ServiceStatus, TalosClient,
    TalosconfigTarget,
};
use crate::talos::talosconfig::Talosconfig;

/// `/readyz` through the endpoint.
#[derive(Debug, Clone, Default)]
pub(super) struct Readyz {
    /// The URL asked.
    pub url: Option<String>,
    /// It answered 200.
    pub ready: bool,
    /// What it answered, or why it was not asked.
    pub detail: String,
}

/// One node's answers.
#[derive(Debug, Clone)]
struct Answers {
    version: Result<String, String>,
    services: Result<Vec<ServiceStatus>, String>,
}

/// Everything the Talos side found.
#[derive(Debug, Clone)]
pub(super) struct Probed {
    /// What kept the nodes from being checked at all (no talosconfig, …).
    pub setup_problems: Vec<String>,
    /// etcd quorum.
    pub quorum: EtcdQuorum,
    /// The endpoint's `/readyz`.
    pub readyz: Readyz,
    answers: BTreeMap<String, Answers>,
    roles: BTreeMap<String, EtcdRole>,
}

impl Probed {
    /// Fills the Talos columns of `nodes`.
    pub fn apply_to(&self, nodes: &mut [NodeStatus]) {
        for node in nodes {
            if let Some(role) = self.roles.get(&node.name) {
                node.etcd = *role;
            }
            let Some(answers) = self.answers.get(&node.name) else {
                continue;
            };
            match &answers.version {
                Ok(tag) => {
                    node.talos.reachable = true;
                    node.talos.version = Some(tag.clone());
                    node.talos.error = None;
                }
                Err(why) => node.talos.error = Some(why.clone()),
            }
            if let Ok(services) = &answers.services {
                let state = |id: &str| services.iter().find(|s| s.id == id);
                node.kubelet = state("kubelet").map(|s| s.state.clone());
                if node.is_control_plane() {
                    node.etcd_healthy = Some(state("etcd").is_some_and(|s| s.healthy == Some(true)));
                }
            }
        }
    }
}

/// Asks every running node and the endpoint, with the credentials under `dir`.
pub(super) async fn probe(nodes: &[NodeStatus], dir: &Path, call: &CallOptions) -> Probed {
    let mut setup_problems = Vec::new();
    let identity = match identity(dir) {
        Ok(identity) => Some(identity),
        Err(why) => {
            setup_problems.push(format!("talos: the nodes were not asked: {why}"));
            None
        }
    };
    let clients: Vec<(&NodeStatus, TalosClient)> = match &identity {
        Some(identity) => nodes
            .iter()
            .filter(|n| n.hetzner_status.as_deref() == Some("running"))
            .filter_map(|n| {
                let address = n.address()?;
                let credentials = Credentials::Configured(identity.clone());
                let client = TalosClient::new(SocketAddr::new(address, APID_PORT), &credentials, *call).ok()?;
                Some((n, client))
            })
            .collect(),
        None => Vec::new(),
    };
    let ask_nodes = join_all(clients.iter().map(|(_, client)| async move {
        let (version, services) = tokio::join!(client.version(), client.services());
        Answers {
            version: version.map(|v| v.tag).map_err(|e| chain(&e)),
            services: services.map_err(|e| chain(&e)),
        }
    }));
    let control_planes: Vec<&TalosClient> = clients
        .iter()
        .filter(|(node, _)| node.is_control_plane())
        .map(|(_, client)| client)
        .collect();
    let (answers, members, leader, readyz) = tokio::join!(
        ask_nodes,
        members(&control_planes),
        leader(&control_planes),
        readyz(dir, call)
    );
    let answers: BTreeMap<String, Answers> = clients
        .iter()
        .zip(answers)
        .map(|((node, _), answers)| (node.name.clone(), answers))
        .collect();
    let roles = roles(nodes, members.as_deref(), leader);
    let quorum = quorum(nodes, members.as_deref(), &answers);
    Probed {
        setup_problems,
        quorum,
        readyz,
        answers,
        roles,
    }
}

/// The admin identity of the talosconfig `apply` wrote.
fn identity(dir: &Path) -> Result<ClientIdentity, String> {
    let path = talosconfig_path(dir);
    let talosconfig = Talosconfig::load(&path).map_err(|e| format!("{} (apply writes it)", chain(&e)))?;
    TalosconfigTarget::from_talosconfig(&talosconfig, None)
        .map(|target| target.identity)
        .map_err(|e| format!("{}: {}", path.display(), chain(&e)))
}

/// The member list, from the first control plane that gives the cluster's view, else any
/// local view (answers without quorum); `None` when nobody answers. The first answer
/// wins, so a hung node costs nothing when another answers.
async fn members(control_planes: &[&TalosClient]) -> Option<Vec<EtcdMember>> {
    if control_planes.is_empty() {
        return None; // select_ok wants at least one future
    }
    for scope in [MemberListScope::Cluster, MemberListScope::Local] {
        let asks = control_planes.iter().map(|client| Box::pin(client.etcd_members(scope)));
        if let Ok((members, _)) = select_ok(asks).await {
            return Some(members);
        }
    }
    None
}

/// The leader's member ID, as the first control plane that sees one reports it.
async fn leader(control_planes: &[&TalosClient]) -> Option<u64> {
    if control_planes.is_empty() {
        return None; // select_ok wants at least one future
    }
    let asks = control_planes.iter().map(|client| {
        Box::pin(async move {
            match client.etcd_status().await {
                Ok(status) => status.leader.ok_or(()),
                Err(_) => Err(()),
            }
        })
    });
    select_ok(asks).await.ok().map(|(leader, _)| leader)
}

/// Each control plane's place in etcd.
fn roles(nodes: &[NodeStatus], members: Option<&[EtcdMember]>, leader: Option<u64>) -> BTreeMap<String, EtcdRole> {
    nodes
        .iter()
        .filter(|n| n.is_control_plane())
        .map(|node| {
            let role = match members {
                None => EtcdRole::Unknown,
                Some(members) => match members.iter().find(|m| is_member_of(m, node)) {
                    None => EtcdRole::None,
                    Some(member) if member.is_learner => EtcdRole::Learner,
                    Some(member) if Some(member.id) == leader => EtcdRole::Leader,
                    Some(_) => EtcdRole::Member,
                },
            };
            (node.name.clone(), role)
        })
        .collect()
}

/// Voting members, and how many of them run on a node whose etcd service is healthy.
fn quorum(nodes: &[NodeStatus], members: Option<&[EtcdMember]>, answers: &BTreeMap<String, Answers>) -> EtcdQuorum {
    let voting: Vec<&EtcdMember> = members.unwrap_or_default().iter().filter(|m| !m.is_learner).collect();
    let healthy = voting
        .iter()
        .filter(|member| {
            nodes
                .iter()
                .filter(|node| is_member_of(member, node))
                .filter_map(|node| answers.get(&node.name)?.services.as_ref().ok())
                .any(|services| services.iter().any(|s| s.id == "etcd" && s.healthy == Some(true)))
        })
        .count();
    let needed = voting.len() / 2 + 1;
    EtcdQuorum {
        members: voting.len(),
        healthy,
        needed,
        quorum: !voting.is_empty() && healthy >= needed,
    }
}

/// Returns true if and only if `member` is `node`'s: same hostname, or a peer URL on one
/// of its addresses.
fn is_member_of(member: &EtcdMember, node: &NodeStatus) -> bool {
    let addresses: Vec<IpAddr> = node
        .address()
        .into_iter()
        .chain(node.private_ip.map(IpAddr::V4))
        .collect();
    member.hostname == node.name
        || member.peer_urls.iter().any(|url| {
            let host = url
                .strip_prefix("https://")
                .and_then(|rest| rest.rsplit_once(':'))
                .map(|(host, _)| host);
            host.and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
                .is_some_and(|ip| addresses.contains(&ip))
        })
}

/// `/readyz` through the kubeconfig's server (the cluster endpoint), verified against the
/// cluster CA with the admin client certificate.
async fn readyz(dir: &Path, call: &CallOptions) -> Readyz {
    let access = match kube_access(dir) {
        Ok(access) => access,
        Err(why) => {
            return Readyz {
                url: None,
                ready: false,
                detail: format!("/readyz not checked: {why}"),
            };
        }
    };
    let url = format!("{}/readyz", access.server());
    let (ready, detail) = match access.http_client(call.timeout) {
        Err(why) => (false, why),
        Ok(http) => match http.get(&url).send().await {
            Ok(response) if response.status().is_success() => (true, format!("{url} answered {}", response.status())),
            Ok(response) => (false, format!("{url} answered {}", response.status())),
            Err(error) => (false, format!("{url}: {}", chain(&error))),
        },
    };
    Readyz {
        url: Some(url),
        ready,
        detail,
    }
}

fn kube_access(dir: &Path) -> Result<KubeAccess, String> {
    let path = kubeconfig_path(dir);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e} (apply writes it)", path.display()))?;
    Kubeconfig::parse(&bytes, &path.display().to_string())
        .and_then(|kubeconfig| kubeconfig.access())
        .map_err(|e| chain(&e))
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    crate::error::chain(error).join(": ")
}
