//! Emulated Talos nodes: the Talos API (apid) on `ADDR:50000` and, on control planes after
//! bootstrap, the Kubernetes API endpoint on `ADDR:6443`.
//!
//! An [`EmulatedNode`] boots into maintenance mode (ephemeral self-signed certificate, no
//! client authentication) unless it has a configuration (installed, or Hetzner user data).
//! `ApplyConfiguration` reads the config ([`accept_config`]), "installs" it and restarts
//! apid in configured mode: a server certificate from the config's OS CA, client
//! certificates required and authorized by role. Control planes of one cluster share an
//! emulated etcd ([`TalosCluster`] in a [`ClusterRegistry`]): bootstrap, joins, member
//! removal, quorum, snapshots; and its Kubernetes objects ([`KubeObjects`]: the Nodes
//! kubelets register, pods, PodDisruptionBudgets, eviction). Addresses come from
//! 127.0.0.0/8, so several nodes listen side by side on the real ports.
//!
//! It shares the wire types (`talos::api::proto`) and the PKI (`talos::pki`) with the
//! client and nothing else; Talos's strict config validation is plugged in from outside
//! ([`ConfigValidator`], required by [`NodeOptions::new`]). What is not emulated
//! answers `Unimplemented` naming the sim (one-to-many `nodes` proxying, etcd recovery,
//! Upgrade, and every method outside reference `talos.md` §F.2 but `EtcdSnapshot`).

mod apid;
mod cluster;
mod config;
mod kube_api;
mod kubeconfig;
mod network;
mod node;
mod proxy;
mod tls;
mod vip;

pub use cluster::{ClusterRegistry, EtcdError, MemberView, Quorum, RemovalCall, TalosCluster};
pub use config::{
    AcceptedConfig, CaPair, ClusterEndpoint, ConfigRejected, ConfigValidator, MachineType, accept_config,
    decode_user_data,
};
pub use kube_api::{
    BudgetRule, BudgetStatus, DisruptionBudget, EvictionError, KubeNode, KubeObjects, KubePod, ObjectError, PodOwner,
    Scaled,
};
pub use network::Host;
pub use node::{
    ConfigSource, DEFAULT_TALOS_VERSION, EmulatedNode, NodeError, NodeMode, NodeOptions, NodeReport, ReceivedConfig,
};
pub use tls::TlsSetupError;
pub use vip::{CAMPAIGN_INTERVAL, HcloudMetadata, HcloudVipSpec, LEASE_TTL, VipError, election_key, hcloud_vips};

/// apid's port.
pub const APID_PORT: u16 = 50000;

/// The Kubernetes API port.
pub const KUBERNETES_PORT: u16 = 6443;
