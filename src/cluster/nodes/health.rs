//! Cluster health in stages, without depending on a CNI (a `cni: none` cluster passes).
//!
//! 1. `apid`: every node answers the Talos API with mutual TLS.
//! 2. `etcd`: the members are exactly the control planes, none a learner, and every
//!    control plane's etcd service is healthy.
//! 3. `kube-apiserver`: `/readyz` answers 200 through the cluster endpoint, the server
//!    verified against the cluster CA (with the admin kubeconfig's client certificate).
//! 4. `kubelet`: the kubelet service runs on every node.
//!
//! Node `Ready` is then read from the Kubernetes API and reported, not required: without a
//! CNI no node becomes Ready. Each stage is retried until its deadline
//! ([`super::Waits::health`]); a stage that does not pass names each node and what was
//! wrong with it.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{NodeFailure, NodeSet, NodeTarget, NodesError};
use crate::cluster::kubeconfig::KubeAccess;
use crate::retry::Policy;
use crate::talos::api::{CallOptions, MemberListScope, TalosClient};

/// A stage of the health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// The Talos API answers on every node.
    Apid,
    /// etcd has every control plane as a healthy voting member.
    Etcd,
    /// The Kubernetes API server is ready through the cluster endpoint.
    KubeApiserver,
    /// The kubelet runs on every node.
    Kubelet,
}

impl Stage {
    /// Every stage, in the order they are checked.
    pub const ALL: [Stage; 4] = [Stage::Apid, Stage::Etcd, Stage::KubeApiserver, Stage::Kubelet];

    /// The stage's name (`apid`, `etcd`, `kube-apiserver`, `kubelet`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Apid => "apid",
            Stage::Etcd => "etcd",
            Stage::KubeApiserver => "kube-apiserver",
            Stage::Kubelet => "kubelet",
        }
    }

    /// What to look at when the stage fails.
    pub fn hint(self) -> &'static str {
        match self {
            Stage::Apid => {
                "check that the firewall lets this machine reach port 50000 (firewall.admin_cidrs) and that the nodes are running"
            }
            Stage::Etcd => {
                "`talosctl -n NODE service etcd` and `talosctl -n NODE logs etcd` show why a member does not join; \
                 members advertise their private address, so the private network must connect the control planes"
            }
            Stage::KubeApiserver => {
                "check that the endpoint (floating IP or load balancer) reaches a control plane on 6443 and that \
                 firewall.admin_cidrs includes this machine"
            }
            Stage::Kubelet => {
                "`talosctl -n NODE service kubelet` and `talosctl -n NODE logs kubelet` show why it stopped"
            }
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether Kubernetes reports a node Ready (`None`: not known, e.g. not registered yet or
/// the node list could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReadiness {
    /// The node name.
    pub name: String,
    /// Its `Ready` condition.
    pub ready: Option<bool>,
}

/// A passed health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// Every stage with the time it took to pass, in order.
    pub stages: Vec<(Stage, Duration)>,
    /// The etcd members seen (= the control planes).
    pub etcd_members: usize,
    /// Node readiness as Kubernetes reports it, in node order.
    pub ready: Vec<NodeReadiness>,
}

/// Runs the health stages in order; the first one that does not pass in time ends the
/// check.
///
/// # Errors
/// [`NodesError::Unhealthy`] naming the stage and, per node, what was wrong;
/// [`NodesError::Credentials`].
pub async fn check_health(set: &NodeSet, kube: &KubeAccess) -> Result<HealthReport, NodesError> {
    check_health_observed(set, kube, &|_| {}).await
}

/// [`check_health`], telling `passed` each stage as it passes.
///
/// # Errors
/// As [`check_health`].
pub async fn check_health_observed(
    set: &NodeSet,
    kube: &KubeAccess,
    passed: &(dyn Fn(Stage) + Send + Sync),
) -> Result<HealthReport, NodesError> {
    let clients = single_attempt_clients(set)?;
    let http = kube
        .http_client(set.call.timeout)
        .map_err(|problem| NodesError::Unhealthy {
            stage: Stage::KubeApiserver,
            waited: Duration::ZERO,
            failures: vec![NodeFailure::said("endpoint", problem)],
        })?;
    let mut stages = Vec::new();
    for stage in Stage::ALL {
        let took = match stage {
            Stage::Apid => wait_for(set, stage, || apid_failures(&clients)).await?,
            Stage::Etcd => wait_for(set, stage, || etcd_failures(&clients)).await?,
            Stage::KubeApiserver => wait_for(set, stage, || readyz_failures(&http, kube)).await?,
            Stage::Kubelet => wait_for(set, stage, || kubelet_failures(&clients)).await?,
        };
        passed(stage);
        stages.push((stage, took));
    }
    let ready = node_readiness(&http, kube, set).await;
    Ok(HealthReport {
        stages,
        etcd_members: set.control_planes().count(),
        ready,
    })
}

/// Waits until etcd has every control plane as a healthy voting member (the `etcd`
/// stage alone, as a rolling update checks it between control planes).
///
/// # Errors
/// [`NodesError::Unhealthy`], [`NodesError::Credentials`].
pub(super) async fn wait_etcd_healthy(set: &NodeSet) -> Result<Duration, NodesError> {
    let clients = single_attempt_clients(set)?;
    wait_for(set, Stage::Etcd, || etcd_failures(&clients)).await
}

/// A client per node whose calls are tried once: the stage's wait does the retrying.
fn single_attempt_clients(set: &NodeSet) -> Result<Vec<(&NodeTarget, TalosClient)>, NodesError> {
    let single = CallOptions {
        retry: Policy::none(),
        ..set.call
    };
    set.nodes
        .iter()
        .map(|node| Ok((node, set.client(node)?.with_options(single))))
        .collect()
}

/// Repeats `check` until it finds nothing wrong or the stage's deadline passes.
async fn wait_for<F, Fut>(set: &NodeSet, stage: Stage, check: F) -> Result<Duration, NodesError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<NodeFailure>>,
{
    let started = Instant::now();
    let mut backoff = set.wait_policy(set.waits.health).backoff();
    loop {
        let failures = check().await;
        if failures.is_empty() {
            return Ok(started.elapsed());
        }
        match backoff.next() {
            Some(delay) => tokio::time::sleep(delay).await,
            None => {
                return Err(NodesError::Unhealthy {
                    stage,
                    waited: started.elapsed(),
                    failures,
                });
            }
        }
    }
}

async fn apid_failures(clients: &[(&NodeTarget, TalosClient)]) -> Vec<NodeFailure> {
    let answers = futures::future::join_all(clients.iter().map(|(_, client)| client.version())).await;
    clients
        .iter()
        .zip(answers)
        .filter_map(|((node, _), answer)| answer.err().map(|e| NodeFailure::new(&node.name, &e)))
        .collect()
}

async fn etcd_failures(clients: &[(&NodeTarget, TalosClient)]) -> Vec<NodeFailure> {
    let control_planes: Vec<_> = clients.iter().filter(|(node, _)| node.is_control_plane()).collect();
    let mut failures = Vec::new();
    let services = futures::future::join_all(control_planes.iter().map(|(_, client)| client.services())).await;
    for ((node, _), answer) in control_planes.iter().zip(services) {
        match answer {
            Err(error) => failures.push(NodeFailure::new(&node.name, &error)),
            Ok(services) => match services.iter().find(|s| s.id == "etcd") {
                None => failures.push(NodeFailure::said(&node.name, "no etcd service")),
                Some(etcd) if etcd.healthy != Some(true) => failures.push(NodeFailure::said(
                    &node.name,
                    format!("etcd is {} and not healthy: {}", etcd.state, etcd.last_message),
                )),
                Some(_) => {}
            },
        }
    }
    let Some((first, client)) = control_planes.first() else {
        return failures;
    };
    match client.etcd_members(MemberListScope::Cluster).await {
        Err(error) => failures.push(NodeFailure::new(&first.name, &error)),
        Ok(members) => {
            for (node, _) in &control_planes {
                match members.iter().find(|m| is_member_of(m, node)) {
                    None => failures.push(NodeFailure::said(&node.name, "not an etcd member")),
                    Some(member) if member.is_learner => {
                        failures.push(NodeFailure::said(&node.name, "still an etcd learner"));
                    }
                    Some(_) => {}
                }
            }
            for member in &members {
                if !control_planes.iter().any(|(node, _)| is_member_of(member, node)) {
                    failures.push(NodeFailure::said(
                        &member.hostname,
                        format!(
                            "etcd member {:x} ({}) is no control plane of this cluster",
                            member.id,
                            member.peer_urls.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    failures
}

/// Returns true if and only if `member` is `node`'s: same hostname, or a peer URL on one
/// of its addresses.
pub fn is_member_of(member: &crate::talos::api::EtcdMember, node: &NodeTarget) -> bool {
    let on = |ip: std::net::IpAddr| {
        let host = match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            std::net::IpAddr::V4(v4) => v4.to_string(),
        };
        member.peer_urls.iter().any(|url| {
            url.strip_prefix("https://")
                .is_some_and(|rest| rest.starts_with(&format!("{host}:")))
        })
    };
    member.hostname == node.name || on(node.address) || node.private_ip.is_some_and(on)
}

async fn readyz_failures(http: &reqwest::Client, kube: &KubeAccess) -> Vec<NodeFailure> {
    let url = format!("{}/readyz", kube.server());
    let problem = match http.get(&url).send().await {
        Ok(response) if response.status().is_success() => return Vec::new(),
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            format!("{url} answered {status}: {}", body.trim())
        }
        Err(error) => format!("{url}: {}", crate::error::chain(&error).join(": ")),
    };
    vec![NodeFailure::said("endpoint", problem)]
}

async fn kubelet_failures(clients: &[(&NodeTarget, TalosClient)]) -> Vec<NodeFailure> {
    let answers = futures::future::join_all(clients.iter().map(|(_, client)| client.services())).await;
    let mut failures = Vec::new();
    for ((node, _), answer) in clients.iter().zip(answers) {
        match answer {
            Err(error) => failures.push(NodeFailure::new(&node.name, &error)),
            Ok(services) => match services.iter().find(|s| s.id == "kubelet") {
                Some(kubelet) if kubelet.state == "Running" => {}
                Some(kubelet) => failures.push(NodeFailure::said(&node.name, format!("kubelet is {}", kubelet.state))),
                None => failures.push(NodeFailure::said(&node.name, "no kubelet service")),
            },
        }
    }
    failures
}

/// Reads `Ready` of every node from `/api/v1/nodes`; unknown where it cannot be read.
async fn node_readiness(http: &reqwest::Client, kube: &KubeAccess, set: &NodeSet) -> Vec<NodeReadiness> {
    let url = format!("{}/api/v1/nodes", kube.server());
    let list: Option<serde_json::Value> = match http.get(&url).send().await {
        Ok(response) if response.status().is_success() => response.json().await.ok(),
        _ => None,
    };
    let ready_of = |name: &str| -> Option<bool> {
        let items = list.as_ref()?.get("items")?.as_array()?;
        let item = items.iter().find(|i| i["metadata"]["name"].as_str() == Some(name))?;
        let condition = item["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"].as_str() == Some("Ready"))?;
        Some(condition["status"].as_str() == Some("True"))
    };
    set.nodes
        .iter()
        .map(|node| NodeReadiness {
            name: node.name.clone(),
            ready: ready_of(&node.name),
        })
        .collect()
}
