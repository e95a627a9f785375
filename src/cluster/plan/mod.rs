//! The plan: the difference between the desired and the live state, as a value that both
//! renderings (text, JSON) and `apply` read.
//!
//! [`plan`] is pure and deterministic: changes are ordered by kind in dependency order
//! (network, firewalls, placement groups, primary IPs, floating IP, servers, load
//! balancers), then by name. A resource is matched by kind and name among those labelled
//! with the cluster; what is labelled but no longer desired is deleted. The comparison
//! itself lives in [`diff`], the text in [`render`].

mod diff;
pub mod half_made;
pub mod render;

use serde::Serialize;

use super::desired::{Desired, Priced};
use super::live::Live;
pub use half_made::HalfMade;

/// The kinds of resource a plan covers, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The private network (and its subnet).
    Network,
    /// A firewall.
    Firewall,
    /// A spread placement group.
    PlacementGroup,
    /// A node's primary IPv4.
    PrimaryIp,
    /// The floating IP.
    FloatingIp,
    /// A server.
    Server,
    /// A load balancer.
    LoadBalancer,
}

impl Kind {
    /// The name shown in the text plan (`placement_group`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Firewall => "firewall",
            Kind::PlacementGroup => "placement_group",
            Kind::PrimaryIp => "primary_ip",
            Kind::FloatingIp => "floating_ip",
            Kind::Server => "server",
            Kind::LoadBalancer => "load_balancer",
        }
    }
}

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `+`: it does not exist.
    Create,
    /// `~`: it exists and some fields change in place.
    Update,
    /// `-/+`: it exists but a field that cannot change in place differs.
    Replace,
    /// `-`: it is labelled with the cluster but no longer desired.
    Delete,
}

impl Action {
    /// The terraform-like sign.
    pub fn sign(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One field that differs (or, on a create, is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// The field (`server_type`, `rules`, `labels.talos-hcloud/role`).
    pub name: String,
    /// The live value (`None` on a create or when unset).
    pub from: Option<String>,
    /// The desired value (`None` on a delete or when removed).
    pub to: Option<String>,
}

impl Field {
    fn set(name: &str, to: impl ToString) -> Field {
        Field {
            name: name.to_string(),
            from: None,
            to: Some(to.to_string()),
        }
    }

    fn changed(name: &str, from: impl ToString, to: impl ToString) -> Field {
        Field {
            name: name.to_string(),
            from: Some(from.to_string()),
            to: Some(to.to_string()),
        }
    }
}

/// One resource change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Its kind.
    pub kind: Kind,
    /// Its Hetzner name.
    pub name: String,
    /// What happens.
    pub action: Action,
    /// Its ID when it exists.
    pub id: Option<i64>,
    /// Why a replace is needed (`server_type cax11 → cax21`).
    pub reasons: Vec<String>,
    /// The fields set (create) or changed (update, replace).
    pub fields: Vec<Field>,
    /// What the live resource costs (delete, replace, update).
    #[serde(skip)]
    pub old_cost: Option<Priced>,
    /// What the desired resource costs (create, replace, update).
    #[serde(skip)]
    pub new_cost: Option<Priced>,
}

/// Why a node gets its machine config (again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigReason {
    /// A new server: the config is delivered when it first boots.
    NewNode,
    /// The server is replaced: its successor gets the config.
    Replaced,
    /// The rendered config differs from the one recorded on the server.
    Changed,
}

impl ConfigReason {
    /// The words shown in the text plan.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigReason::NewNode => "new node",
            ConfigReason::Replaced => "replaced server",
            ConfigReason::Changed => "config changed",
        }
    }
}

/// One node's machine config to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigChange {
    /// The node name.
    pub node: String,
    /// Its server's name.
    pub server: String,
    /// The hash recorded on the live server.
    pub from: Option<String>,
    /// The hash of the rendered config.
    pub to: String,
    /// Why.
    pub reason: ConfigReason,
}

/// Changes by action, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Resources to create.
    pub create: usize,
    /// Resources to change in place.
    pub update: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources to delete.
    pub delete: usize,
    /// Nodes whose machine config is applied.
    pub configs: usize,
}

/// The plan of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The cluster name.
    pub cluster: String,
    /// Resource changes, in dependency order then by name.
    pub changes: Vec<Change>,
    /// Machine configs to apply, in node order.
    pub configs: Vec<ConfigChange>,
    /// Nodes whose config cannot be rendered yet, and why (no secrets bundle, no endpoint).
    pub configs_unknown: Option<String>,
    /// Resources that exist and need nothing.
    pub unchanged: usize,
    /// Servers an interrupted or failed apply left unfinished, with what they lack.
    pub half_made: Vec<HalfMade>,
}

impl Plan {
    /// Returns true if and only if applying it would change anything.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.configs.is_empty() || !self.half_made.is_empty()
    }

    /// Changes by action.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            configs: self.configs.len(),
            ..Counts::default()
        };
        for change in &self.changes {
            match change.action {
                Action::Create => counts.create += 1,
                Action::Update => counts.update += 1,
                Action::Replace => counts.replace += 1,
                Action::Delete => counts.delete += 1,
            }
        }
        counts
    }

    /// A generous estimate of the API requests an apply of this plan sends: each create,
    /// update and delete with the wait for its action, a server's network and firewall
    /// follow-ups, a load balancer's services, target and network, and the reads before.
    pub fn request_estimate(&self) -> u64 {
        const READS: u64 = 10;
        let per_change = |change: &Change| -> u64 {
            let one = match change.kind {
                Kind::Server => 4,
                Kind::LoadBalancer => 6,
                _ => 2,
            };
            match change.action {
                Action::Create | Action::Delete => one,
                Action::Update => 2 * change.fields.len().max(1) as u64,
                Action::Replace => 2 * one,
            }
        };
        READS + self.changes.iter().map(per_change).sum::<u64>() + self.configs.len() as u64
    }
}

/// The plan that takes `live` to `desired`.
pub fn plan(desired: &Desired, live: &Live, configs_unknown: Option<String>) -> Plan {
    let mut changes = Vec::new();
    let mut unchanged = 0;
    for outcome in diff::all(desired, live) {
        match outcome {
            Some(change) => changes.push(change),
            None => unchanged += 1,
        }
    }
    changes.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let configs = diff::configs(desired, live, &changes);
    Plan {
        cluster: desired.cluster.clone(),
        changes,
        configs,
        configs_unknown,
        unchanged,
        half_made: half_made::hetzner(desired, live),
    }
}
