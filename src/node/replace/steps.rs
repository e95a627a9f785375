//! The runbook's steps, in order, with what each touches and checks: the plan that
//! `--dry-run` prints and the names the progress label records.

use serde::Serialize;

use crate::spec::Role;

/// One step of a node replacement, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Checks before anything changes; repeated on every run.
    Precheck,
    /// A control plane's etcd snapshot, saved locally (0600).
    EtcdSnapshot,
    /// Cordon and drain through the Kubernetes API.
    Drain,
    /// The node leaves etcd (gracefully, or removed by member ID when dead).
    EtcdLeave,
    /// Delete protection off.
    Unprotect,
    /// The server is deleted, then its Node object.
    DeleteServer,
    /// The server is created again with the same name and addresses.
    CreateServer,
    /// The node's machine config is delivered.
    DeliverConfig,
    /// apid, etcd membership and the kubelet answer; the cluster is healthy.
    Rejoin,
    /// The node is schedulable again.
    Uncordon,
    /// Delete protection back on; the progress label is removed.
    Protect,
}

impl Step {
    /// Every step in order.
    pub const ALL: [Step; 11] = [
        Step::Precheck,
        Step::EtcdSnapshot,
        Step::Drain,
        Step::EtcdLeave,
        Step::Unprotect,
        Step::DeleteServer,
        Step::CreateServer,
        Step::DeliverConfig,
        Step::Rejoin,
        Step::Uncordon,
        Step::Protect,
    ];

    /// The step's name, also the value of the progress label once it is done.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Precheck => "precheck",
            Step::EtcdSnapshot => "etcd-snapshot",
            Step::Drain => "drain",
            Step::EtcdLeave => "etcd-leave",
            Step::Unprotect => "unprotect",
            Step::DeleteServer => "delete-server",
            Step::CreateServer => "create-server",
            Step::DeliverConfig => "deliver-config",
            Step::Rejoin => "rejoin",
            Step::Uncordon => "uncordon",
            Step::Protect => "protect",
        }
    }

    /// The step a progress label names.
    pub fn from_label(value: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.as_str() == value)
    }

    /// Returns true if and only if the step concerns a node of `role`.
    pub fn applies_to(self, role: Role) -> bool {
        !matches!(self, Step::EtcdSnapshot | Step::EtcdLeave) || role == Role::ControlPlane
    }

    /// What the step changes, for the plan.
    pub fn touches(self, role: Role, dead: bool) -> &'static str {
        match self {
            Step::Precheck => "nothing (reads Hetzner, the Talos API, etcd and Kubernetes)",
            Step::EtcdSnapshot => "a local file .talos-hcloud/<cluster>/etcd-<node>-<time>.snapshot (0600)",
            Step::Drain if dead => "Kubernetes: the Node is cordoned (a dead node's pods cannot be evicted)",
            Step::Drain => "Kubernetes: the Node is cordoned and its pods evicted (PodDisruptionBudgets honoured)",
            Step::EtcdLeave if dead => "etcd: the dead member is removed by ID through another control plane",
            Step::EtcdLeave => "etcd: the node leaves the cluster, then is reset gracefully and powers off",
            Step::Unprotect => "Hetzner: the server's delete and rebuild protection are turned off",
            Step::DeleteServer => {
                "Hetzner: the server is deleted (its primary IPv4 is kept); Kubernetes: the Node object is deleted"
            }
            Step::CreateServer => {
                "Hetzner: a server with the same name, private IP, primary IPv4, placement group, firewall and labels"
            }
            Step::DeliverConfig => "Talos: the node's machine config, through the maintenance API",
            Step::Rejoin if role == Role::ControlPlane => {
                "nothing (waits for apid, the new etcd member and the kubelet)"
            }
            Step::Rejoin => "nothing (waits for apid and the kubelet)",
            Step::Uncordon => "Kubernetes: the Node is made schedulable",
            Step::Protect if role == Role::ControlPlane => {
                "Hetzner: delete and rebuild protection on (unless cluster.yaml turns it off); the progress label removed"
            }
            Step::Protect => "Hetzner: the progress label removed (workers carry no protection)",
        }
    }

    /// What the step verifies, for the plan.
    pub fn checks(self, role: Role) -> &'static str {
        match self {
            Step::Precheck if role == Role::ControlPlane => {
                "the server exists (or was deleted by an earlier run); the other nodes answer; etcd keeps quorum \
                 without the node; a snapshot exists for the configured Talos version"
            }
            Step::Precheck => {
                "the server exists (or was deleted by an earlier run); the other nodes answer; a snapshot exists \
                 for the configured Talos version"
            }
            Step::EtcdSnapshot => "the snapshot's SHA-256 trailer matches before it is written",
            Step::Drain => "every evictable pod is gone within --drain-timeout",
            Step::EtcdLeave => "the member is no longer in the member list",
            Step::Unprotect | Step::Protect => "the change_protection action succeeds",
            Step::DeleteServer => "the delete action succeeds; the Node object is gone",
            Step::CreateServer => "the create actions succeed; the public IPv4 is the kept primary IP",
            Step::DeliverConfig => "apid answers with mutual TLS after the config is applied",
            Step::Rejoin => "every health stage passes: apid, etcd (members = control planes), kube-apiserver, kubelet",
            Step::Uncordon => "the Node is schedulable",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step of the plan and whether an earlier run already did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    /// The step.
    pub step: Step,
    /// What it changes.
    pub touches: &'static str,
    /// What it verifies.
    pub checks: &'static str,
    /// Done by an earlier run (resumed after it).
    pub done: bool,
}

/// The steps for a node of `role`, marking those up to `resume_after` as done.
pub fn plan(role: Role, dead: bool, resume_after: Option<Step>) -> Vec<PlannedStep> {
    Step::ALL
        .into_iter()
        .filter(|step| step.applies_to(role))
        .map(|step| PlannedStep {
            step,
            touches: step.touches(role, dead),
            checks: step.checks(role),
            done: step != Step::Precheck && resume_after.is_some_and(|after| step <= after),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_skip_etcd_and_resumed_steps_are_marked_done() {
        let worker: Vec<Step> = plan(Role::Worker, false, None).iter().map(|p| p.step).collect();
        assert!(!worker.contains(&Step::EtcdSnapshot) && !worker.contains(&Step::EtcdLeave));
        assert_eq!(worker.len(), 9);
        let resumed = plan(Role::ControlPlane, false, Some(Step::DeleteServer));
        let done: Vec<Step> = resumed.iter().filter(|p| p.done).map(|p| p.step).collect();
        assert_eq!(
            done,
            [
                Step::EtcdSnapshot,
                Step::Drain,
                Step::EtcdLeave,
                Step::Unprotect,
                Step::DeleteServer
            ]
        );
        for step in Step::ALL {
            assert_eq!(Step::from_label(step.as_str()), Some(step));
        }
    }
}
