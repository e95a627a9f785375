//! The parts of a node replacement that stand on their own: the Kubernetes side (cordon,
//! drain honouring PodDisruptionBudgets, uncordon, delete the Node, wait for Ready) and the
//! etcd side (a snapshot taken before a control plane is touched, removing a dead member).
//!
//! [`kube`] is the product's Kubernetes client, dialled with the admin kubeconfig
//! ([`kubeconfig`]); [`drain`] is the eviction loop on top of it; [`etcd_snapshot`] saves a
//! snapshot from the Talos API ([`crate::talos::api`]) to a private file and
//! [`etcd_member`] removes a dead member idempotently. Deciding when to do what (the
//! runbook, resuming, the Hetzner side) is [`replace`]'s job.

pub mod drain;
pub mod etcd_member;
pub mod etcd_snapshot;
pub mod kube;
pub mod kubeconfig;
pub mod replace;

pub use drain::{BlockedPod, DrainError, DrainReport, drain, eviction_policy};
pub use etcd_member::{MemberRemoval, ensure_member_removed};
pub use etcd_snapshot::{SavedSnapshot, SnapshotError, save_etcd_snapshot};
pub use kube::{BudgetInfo, Deleted, Eviction, KubeClient, KubeOptions, NodeInfo, PodInfo};
pub use kubeconfig::{KubeTarget, KubeconfigError};
