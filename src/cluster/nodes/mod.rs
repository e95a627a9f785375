//! The Talos phase of `apply`: what happens to nodes once their servers exist.
//!
//! Given each node's address and rendered machine config ([`NodeTarget`]), these operations
//! deliver the configs through the Talos API ([`deliver()`]; [`user_data()`] builds the
//! alternative `user_data` payload), bootstrap etcd exactly once ([`bootstrap_once`]),
//! check the cluster's health in stages ([`check_health`]) and roll a changed config out
//! node by node ([`rolling_update`]). Each returns what it did as a value; creating
//! servers, reading live state and recording config hashes in labels are left to the
//! callers (`cluster::plan` and the hcloud side of `apply`), printing to the command.
//!
//! Every wait is a [`crate::retry::Policy`] with a deadline ([`Waits`]); every failure names
//! the nodes and what was seen on each.

mod bootstrap;
mod deliver;
mod error;
mod health;
mod rolling;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::redact::Redacted;
use crate::spec::Role;
use crate::talos::api::{APID_PORT, CallOptions, ClientIdentity, Credentials, TalosClient};

pub use bootstrap::{BootstrapReport, bootstrap_once};
pub use deliver::{Delivered, Delivery, DeliveryStep, deliver, deliver_observed, user_data};
pub use error::{NodeFailure, NodesError};
pub use health::{HealthReport, NodeReadiness, Stage, check_health, check_health_observed, is_member_of};
pub use rolling::{NodeUpdate, RollingStep, rolling_update};

/// One node as the Talos phase sees it (`Debug` shows no config: it holds CA keys).
#[derive(Debug, Clone)]
pub struct NodeTarget {
    /// The node name (also its hostname and etcd member name).
    pub name: String,
    /// Control plane or worker.
    pub role: Role,
    /// The address the Talos API is dialled on (the public IPv4 on Hetzner).
    pub address: IpAddr,
    /// The node's address on the private network (what etcd and the kubelet advertise).
    pub private_ip: Option<IpAddr>,
    /// The rendered machine config, as sent.
    pub config: Redacted<Vec<u8>>,
    /// The [`ConfigHash::label_value`] of the config the node was last given, as an
    /// earlier run recorded it (a server label); `None` when unknown.
    pub applied: Option<String>,
}

impl NodeTarget {
    /// The hash of this node's rendered config.
    pub fn hash(&self) -> ConfigHash {
        ConfigHash::of(self.config.expose())
    }

    /// Returns true if and only if the recorded hash is that of this node's config.
    pub fn has_applied_config(&self) -> bool {
        self.applied
            .as_deref()
            .is_some_and(|label| self.hash().matches_label(label))
    }

    /// apid's socket address.
    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, APID_PORT)
    }

    /// Returns true if and only if the node is a control plane.
    pub fn is_control_plane(&self) -> bool {
        self.role == Role::ControlPlane
    }
}

/// The SHA-256 of a machine config: what tells an applied config from a changed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfigHash([u8; 32]);

impl ConfigHash {
    /// The hash of `config`.
    pub fn of(config: &[u8]) -> ConfigHash {
        ConfigHash(Sha256::digest(config).into())
    }

    /// The first 32 hex digits: fits a Hetzner label value (at most 63 characters), as the
    /// schematic label does.
    pub fn label_value(&self) -> String {
        hex::encode(&self.0[..16])
    }

    /// Returns true if and only if `label` is this hash's [`ConfigHash::label_value`].
    pub fn matches_label(&self, label: &str) -> bool {
        self.label_value() == label
    }
}

impl std::fmt::Display for ConfigHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// How long each wait of the Talos phase may take (simulated clusters scale them down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// From a delivered config (or a reboot) until apid answers with mutual TLS.
    pub boot: Duration,
    /// Each health stage, from its first check until it passes.
    pub health: Duration,
    /// One poll of a wait loop: the longest delay between two checks.
    pub poll: Duration,
}

impl Default for Waits {
    /// Real clusters: 10 minutes to boot (an install writes the disk and reboots), 10 minutes
    /// per health stage, checks at most 5 s apart.
    fn default() -> Self {
        Waits {
            boot: Duration::from_secs(600),
            health: Duration::from_secs(600),
            poll: Duration::from_secs(5),
        }
    }
}

/// A cluster's nodes and how to reach them: the input of every operation here.
#[derive(Debug, Clone)]
pub struct NodeSet {
    /// Every node, control planes first.
    pub nodes: Vec<NodeTarget>,
    /// The admin identity of the cluster's talosconfig (mutual TLS in configured mode).
    pub identity: ClientIdentity,
    /// Deadlines and retries of single Talos API calls.
    pub call: CallOptions,
    /// How long the waits may take.
    pub waits: Waits,
}

impl NodeSet {
    /// The control planes, in order.
    pub fn control_planes(&self) -> impl Iterator<Item = &NodeTarget> {
        self.nodes.iter().filter(|n| n.is_control_plane())
    }

    /// A configured-mode (mutual TLS) client of `node`.
    ///
    /// # Errors
    /// [`NodesError::Credentials`] when the admin identity does not load.
    pub fn client(&self, node: &NodeTarget) -> Result<TalosClient, NodesError> {
        TalosClient::new(
            node.api_addr(),
            &Credentials::Configured(self.identity.clone()),
            self.call,
        )
        .map_err(|source| NodesError::Credentials {
            source: Box::new(source),
        })
    }

    /// A configured-mode (mutual TLS) client of apid at `addr` whose calls are tried once:
    /// for questions where a node that does not answer is an answer (ask the next one).
    ///
    /// # Errors
    /// [`NodesError::Credentials`] when the admin identity does not load.
    pub fn client_once(&self, addr: SocketAddr) -> Result<TalosClient, NodesError> {
        let once = CallOptions {
            retry: crate::retry::Policy::none(),
            ..self.call
        };
        TalosClient::new(addr, &Credentials::Configured(self.identity.clone()), once).map_err(|source| {
            NodesError::Credentials {
                source: Box::new(source),
            }
        })
    }

    /// The policy of a wait of at most `deadline`: [`crate::retry::Policy::talos_wait`]'s
    /// fixed interval, at most [`Waits::poll`].
    fn wait_policy(&self, deadline: Duration) -> crate::retry::Policy {
        let policy = crate::retry::Policy::talos_wait();
        let every = policy.initial_delay.min(self.waits.poll);
        policy.with_delays(every, every).with_deadline(deadline)
    }
}
