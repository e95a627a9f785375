//! Values derived from a [`Spec`]: the Hetzner names of the cluster's resources and the
//! labels each carries (design.md §3). Pure functions, so `plan`, `apply`, `destroy` and the
//! checks in `super::check` agree on every name.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{LoadBalancer, Node, NodeGroup, Role, Spec};

/// Label on everything of a cluster: the cluster name.
pub const LABEL_CLUSTER: &str = "talos-hcloud/cluster";
/// Label on servers, placement groups and firewalls: `controlplane`, `worker`, `builder`.
pub const LABEL_ROLE: &str = "talos-hcloud/role";
/// Label on worker servers (and their placement group): the pool name.
pub const LABEL_POOL: &str = "talos-hcloud/pool";
/// Label on servers: the node name.
pub const LABEL_NODE: &str = "talos-hcloud/node";
/// Label on builder servers and their SSH keys: `true` (swept by any later run).
pub const LABEL_TEMPORARY: &str = "talos-hcloud/temporary";
/// Label on snapshots: `talos`.
pub const LABEL_OS: &str = "os";
/// Label on snapshots: the Talos version.
pub const LABEL_TALOS_VERSION: &str = "talos-hcloud/talos-version";
/// Label on snapshots: the architecture (`amd64`, `arm64`).
pub const LABEL_ARCH: &str = "talos-hcloud/arch";
/// Label on snapshots: the first 32 hex digits of the schematic ID.
pub const LABEL_SCHEMATIC: &str = "talos-hcloud/schematic";
/// The role label value of image builder servers.
pub const ROLE_BUILDER: &str = "builder";

/// Labels of one resource, ordered by key.
pub type Labels = BTreeMap<String, String>;

/// The name of the API endpoint resource (floating IP or load balancer); also reserved as a
/// user load balancer name.
pub const API_ENDPOINT_NAME: &str = "api";

/// The Hetzner name of a node's server: prefix + node name (`tc-prod-cp-1`).
pub fn server_name(prefix: &str, node: &str) -> String {
    format!("{prefix}{node}")
}

/// The Hetzner name of the private network: `{prefix}network`.
pub fn network_name(prefix: &str) -> String {
    format!("{prefix}network")
}

/// The Hetzner name of a role's firewall: `{prefix}controlplane` or `{prefix}worker`.
pub fn firewall_name(prefix: &str, role: Role) -> String {
    format!("{prefix}{}", role.as_str())
}

/// The Hetzner name of a group's spread placement group: `{prefix}controlplane` for the
/// control plane, `{prefix}pool-{pool}` for a worker pool.
pub fn placement_group_name(prefix: &str, pool: Option<&str>) -> String {
    match pool {
        None => format!("{prefix}controlplane"),
        Some(pool) => format!("{prefix}pool-{pool}"),
    }
}

/// The Hetzner name of a user load balancer: prefix + name (`tc-prod-ingress`).
pub fn load_balancer_name(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

/// The Hetzner name of the API endpoint (the floating IP or the API load balancer):
/// `{prefix}api`.
pub fn api_endpoint_name(prefix: &str) -> String {
    format!("{prefix}{API_ENDPOINT_NAME}")
}

/// A Hetzner resource the cluster owns, by kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceName {
    /// `server`, `network`, `firewall`, `placement_group`, `load_balancer`, `floating_ip`.
    pub kind: &'static str,
    /// The Hetzner name.
    pub name: String,
}

impl Spec {
    /// The Hetzner name of a node's server.
    pub fn server_name(&self, node: &Node) -> String {
        server_name(self.prefix.as_str(), node.name.as_str())
    }

    /// The Hetzner name of the private network.
    pub fn network_name(&self) -> String {
        network_name(self.prefix.as_str())
    }

    /// The Hetzner name of a role's firewall.
    pub fn firewall_name(&self, role: Role) -> String {
        firewall_name(self.prefix.as_str(), role)
    }

    /// The Hetzner name of a group's placement group.
    pub fn placement_group_name(&self, group: &NodeGroup) -> String {
        placement_group_name(self.prefix.as_str(), group.pool.as_ref().map(|p| p.as_str()))
    }

    /// The Hetzner name of a user load balancer.
    pub fn load_balancer_name(&self, lb: &LoadBalancer) -> String {
        load_balancer_name(self.prefix.as_str(), lb.name.as_str())
    }

    /// The Hetzner name of the API endpoint (floating IP or load balancer, per `endpoint`).
    pub fn api_endpoint_name(&self) -> String {
        api_endpoint_name(self.prefix.as_str())
    }

    /// Every resource name the cluster uses, in creation order: network, firewalls,
    /// placement groups, the API endpoint, servers, load balancers.
    pub fn resource_names(&self) -> Vec<ResourceName> {
        let mut names = vec![ResourceName {
            kind: "network",
            name: self.network_name(),
        }];
        let has_workers = self.workers.iter().any(|pool| !pool.nodes.is_empty());
        for role in [Role::ControlPlane, Role::Worker] {
            if role == Role::ControlPlane || has_workers {
                names.push(ResourceName {
                    kind: "firewall",
                    name: self.firewall_name(role),
                });
            }
        }
        for group in std::iter::once(&self.controlplane).chain(&self.workers) {
            if !group.nodes.is_empty() {
                names.push(ResourceName {
                    kind: "placement_group",
                    name: self.placement_group_name(group),
                });
            }
        }
        names.push(ResourceName {
            kind: match self.endpoint {
                super::model::Endpoint::FloatingIp => "floating_ip",
                super::model::Endpoint::LoadBalancer => "load_balancer",
            },
            name: self.api_endpoint_name(),
        });
        for node in self.nodes() {
            names.push(ResourceName {
                kind: "server",
                name: self.server_name(node),
            });
        }
        for lb in &self.load_balancers {
            names.push(ResourceName {
                kind: "load_balancer",
                name: self.load_balancer_name(lb),
            });
        }
        names
    }

    /// The labels every resource of the cluster carries: `talos-hcloud/cluster`. Networks,
    /// floating IPs and load balancers carry exactly these.
    pub fn cluster_labels(&self) -> Labels {
        Labels::from([(LABEL_CLUSTER.to_owned(), self.name.as_str().to_owned())])
    }

    /// The labels of a node's server: cluster, role, node, and pool for workers.
    pub fn server_labels(&self, node: &Node) -> Labels {
        let mut labels = self.cluster_labels();
        labels.insert(LABEL_ROLE.to_owned(), node.role.as_str().to_owned());
        labels.insert(LABEL_NODE.to_owned(), node.name.as_str().to_owned());
        if let Some(pool) = &node.pool {
            labels.insert(LABEL_POOL.to_owned(), pool.as_str().to_owned());
        }
        labels
    }

    /// The labels of a group's placement group: cluster, role, and pool for workers.
    pub fn placement_group_labels(&self, group: &NodeGroup) -> Labels {
        let mut labels = self.cluster_labels();
        labels.insert(LABEL_ROLE.to_owned(), group.role.as_str().to_owned());
        if let Some(pool) = &group.pool {
            labels.insert(LABEL_POOL.to_owned(), pool.as_str().to_owned());
        }
        labels
    }

    /// The labels of a role's firewall: cluster and role.
    pub fn firewall_labels(&self, role: Role) -> Labels {
        let mut labels = self.cluster_labels();
        labels.insert(LABEL_ROLE.to_owned(), role.as_str().to_owned());
        labels
    }

    /// The label selector of everything of the cluster: `talos-hcloud/cluster=NAME`.
    pub fn cluster_selector(&self) -> String {
        format!("{LABEL_CLUSTER}={}", self.name)
    }

    /// The label selector of a role's servers (firewall `apply_to`, API load balancer).
    pub fn role_selector(&self, role: Role) -> String {
        format!("{},{LABEL_ROLE}={}", self.cluster_selector(), role.as_str())
    }

    /// The label selector of a worker pool's servers (user load balancer targets).
    pub fn pool_selector(&self, pool: &str) -> String {
        format!("{},{LABEL_ROLE}=worker,{LABEL_POOL}={pool}", self.cluster_selector())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed() {
        assert_eq!(server_name("tc-prod-", "cp-1"), "tc-prod-cp-1");
        assert_eq!(network_name("tc-prod-"), "tc-prod-network");
        assert_eq!(firewall_name("tc-prod-", Role::ControlPlane), "tc-prod-controlplane");
        assert_eq!(firewall_name("tc-prod-", Role::Worker), "tc-prod-worker");
        assert_eq!(placement_group_name("tc-prod-", None), "tc-prod-controlplane");
        assert_eq!(
            placement_group_name("tc-prod-", Some("general")),
            "tc-prod-pool-general"
        );
        assert_eq!(load_balancer_name("tc-prod-", "ingress"), "tc-prod-ingress");
        assert_eq!(api_endpoint_name("tc-prod-"), "tc-prod-api");
    }
}
