//! Draining a node before its server goes: cordon, then evict every pod that can be evicted,
//! honouring PodDisruptionBudgets, as `kubectl drain --ignore-daemonsets --force
//! --delete-emptydir-data` does.
//!
//! DaemonSet pods stay (their controller would put them back at once) and static pods'
//! mirrors stay (the kubelet runs them from files, the API cannot evict them); everything
//! else is evicted, unmanaged pods included, since the node is about to disappear anyway.
//! An eviction refused with 429 (a budget allows no disruption now) is retried on the
//! caller's [`Policy`] until its deadline; then the drain fails naming each blocking pod and
//! its budget, and leaves the node cordoned with its remaining pods as they are. Nothing
//! else is touched: deciding what happens next is the caller's.

use std::time::Duration;

use super::kube::{self, BudgetInfo, Eviction, KubeClient, PodInfo};
use crate::error::{Class, Classify};
use crate::retry::Policy;

/// Why a drain did not finish.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// A Kubernetes call failed.
    #[error("while draining node {node}")]
    Kube {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Evictions were still refused by disruption budgets when the deadline passed.
    #[error(
        "draining node {node} gave up after {waited:?}: {}; the node stays cordoned and its remaining pods were left running",
        blocked.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Blocked {
        /// The node.
        node: String,
        /// How long evictions were retried.
        waited: Duration,
        /// Each pod still refused, with its budget.
        blocked: Vec<BlockedPod>,
    },
}

impl Classify for DrainError {
    fn class(&self) -> Class {
        match self {
            DrainError::Kube { source, .. } => source.class(),
            DrainError::Blocked { .. } => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            DrainError::Blocked { .. } => {
                vec!["scale the workload up or relax its PodDisruptionBudget, then run the same command again".into()]
            }
            DrainError::Kube { .. } => Vec::new(),
        }
    }
}

/// A pod whose eviction a budget kept refusing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedPod {
    /// `namespace/name`.
    pub pod: String,
    /// The budget(s) selecting it, by name (`namespace/name`); empty if none could be found.
    pub budgets: Vec<String>,
    /// The API server's last refusal.
    pub message: String,
}

impl std::fmt::Display for BlockedPod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.budgets.as_slice() {
            [] => write!(f, "pod {} cannot be evicted ({})", self.pod, self.message),
            budgets => write!(
                f,
                "pod {} is protected by PodDisruptionBudget {} ({})",
                self.pod,
                budgets.join(", "),
                self.message
            ),
        }
    }
}

/// What a finished drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Pods evicted (`namespace/name`).
    pub evicted: Vec<String>,
    /// DaemonSet pods left in place.
    pub daemon_set_pods: Vec<String>,
    /// Static pods' mirrors left in place.
    pub mirror_pods: Vec<String>,
}

/// The retry pace of refused evictions: every 0.5 s growing to 5 s (`kubectl drain` waits 5 s
/// between tries) until `timeout`.
pub fn eviction_policy(timeout: Duration) -> Policy {
    Policy {
        name: "eviction",
        max_attempts: u32::MAX,
        initial_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(5),
        multiplier: 2,
        jitter_percent: 10,
        deadline: Some(timeout),
    }
}

/// Cordons `node` and evicts its pods (see the module documentation), retrying budget
/// refusals on `retry` (e.g. [`eviction_policy`]); returns once no evicted pod is left on
/// the node.
///
/// # Errors
///
/// [`DrainError::Blocked`] when budgets still refuse at the deadline (nothing else changed
/// besides the cordon and the evictions that went through); [`DrainError::Kube`] for any
/// other failure.
pub async fn drain(client: &KubeClient, node: &str, retry: Policy) -> Result<DrainReport, DrainError> {
    let kube = |source| DrainError::Kube {
        node: node.to_string(),
        source,
    };
    client.cordon(node).await.map_err(kube)?;
    let mut report = DrainReport::default();
    let mut pending = Vec::new();
    for pod in client.pods_on(node).await.map_err(kube)? {
        if pod.mirror {
            report.mirror_pods.push(pod.to_string());
        } else if pod.controller_kind.as_deref() == Some("DaemonSet") {
            report.daemon_set_pods.push(pod.to_string());
        } else {
            pending.push(pod);
        }
    }
    let mut evicted_uids = Vec::new();
    let mut backoff = retry.backoff();
    loop {
        let mut refused = Vec::new();
        for pod in pending {
            match client.evict(&pod).await.map_err(kube)? {
                Eviction::Evicted => {
                    report.evicted.push(pod.to_string());
                    evicted_uids.push(pod.uid.clone());
                }
                Eviction::Gone => {}
                Eviction::Blocked(message) => refused.push((pod, message)),
            }
        }
        if refused.is_empty() {
            break;
        }
        if let Some(delay) = backoff.next() {
            tracing::info!(
                node,
                pods = refused.len(),
                ?delay,
                "evictions refused by disruption budgets; retrying"
            );
            tokio::time::sleep(delay).await;
            pending = refused.into_iter().map(|(pod, _)| pod).collect();
            continue;
        }
        return Err(blocked(client, node, backoff.elapsed(), refused).await);
    }
    wait_gone(client, node, &evicted_uids, &mut backoff)
        .await
        .map_err(kube)?;
    Ok(report)
}

/// Waits until none of the evicted pods is bound to the node any more (they terminate).
async fn wait_gone(
    client: &KubeClient,
    node: &str,
    evicted: &[String],
    backoff: &mut crate::retry::Backoff,
) -> Result<(), kube::Error> {
    loop {
        let left = client
            .pods_on(node)
            .await?
            .into_iter()
            .filter(|p| evicted.contains(&p.uid))
            .count();
        if left == 0 {
            return Ok(());
        }
        match backoff.next() {
            Some(delay) => tokio::time::sleep(delay).await,
            None => {
                tracing::warn!(node, left, "evicted pods are still terminating; going on");
                return Ok(());
            }
        }
    }
}

/// The [`DrainError::Blocked`] for the pods still refused, naming their budgets.
async fn blocked(client: &KubeClient, node: &str, waited: Duration, refused: Vec<(PodInfo, String)>) -> DrainError {
    let mut budgets: std::collections::BTreeMap<String, Vec<BudgetInfo>> = std::collections::BTreeMap::new();
    let mut blocked = Vec::new();
    for (pod, message) in refused {
        if !budgets.contains_key(&pod.namespace) {
            // Naming the budget is a courtesy: a failed lookup leaves the server's message.
            let found = client.budgets(&pod.namespace).await.unwrap_or_default();
            budgets.insert(pod.namespace.clone(), found);
        }
        let names = budgets
            .get(&pod.namespace)
            .into_iter()
            .flatten()
            .filter(|b| b.selects(&pod))
            .map(|b| format!("{}/{}", b.namespace, b.name))
            .collect();
        blocked.push(BlockedPod {
            pod: pod.to_string(),
            budgets: names,
            message,
        });
    }
    DrainError::Blocked {
        node: node.to_string(),
        waited,
        blocked,
    }
}
