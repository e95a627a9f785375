//! `destroy`: find everything labelled `talos-hcloud/cluster=<name>` (design.md §3: by
//! label, no state file) and delete it in reverse dependency order — load balancers,
//! servers, floating IPs, primary IPs, placement groups, firewalls (detached first), the
//! network, SSH keys. Snapshots carry no cluster label (clusters share them) and are never
//! touched; the secrets bundle is a local file this module never sees.
//!
//! Resources with delete protection stop the run before anything changes, unless the
//! caller allows turning the protection off. Independent deletions of one step run in
//! parallel up to a bound; the actions of a step are awaited in one batch. A resource that
//! is already gone counts as deleted, so a second run finds nothing and succeeds.

use std::future::Future;

use futures::{StreamExt, TryStreamExt, stream};
use hcloud::models::FirewallResourceId;
use serde::Serialize;

use super::live::Labelled;
use crate::error::{Class, Classify};
use crate::hcloud::labels::{self, Selector};
use crate::hcloud::{
    self as api, ActionId, Client, FirewallId, FloatingIpId, LoadBalancerId, NetworkId, PlacementGroupId, PrimaryIpId,
    Protected, ServerId, SshKeyId,
};

/// How many deletions of one step are in flight at once.
pub const DEFAULT_PARALLEL: usize = 8;

/// Why a destroy did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Some resources have delete protection and the caller did not allow removing it.
    #[error("cluster {cluster} has delete protection on {}; nothing was deleted", .names.join(", "))]
    Protected {
        /// The cluster name.
        cluster: String,
        /// `kind name (id)` of each protected resource.
        names: Vec<String>,
    },
    /// The cluster name is not a valid label value.
    #[error("cannot select the resources of cluster {cluster}")]
    Selector {
        /// The cluster name.
        cluster: String,
        /// Why.
        #[source]
        source: Box<api::Error>,
    },
    /// An API call failed.
    #[error("while destroying cluster {cluster}")]
    Api {
        /// The cluster name.
        cluster: String,
        /// The failed call.
        #[source]
        source: Box<api::Error>,
    },
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Protected { .. } | Error::Selector { .. } => Class::InvalidInput,
            Error::Api { source, .. } => source.class(),
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Protected { .. } => vec!["run again with --disable-protection to turn it off and delete".into()],
            Error::Api { .. } => vec!["destroy is safe to run again: it continues with what is left".into()],
            Error::Selector { .. } => Vec::new(),
        }
    }
}

/// The kinds of resource a cluster has, in deletion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A load balancer.
    LoadBalancer,
    /// A server.
    Server,
    /// A floating IP.
    FloatingIp,
    /// A primary IP.
    PrimaryIp,
    /// A placement group.
    PlacementGroup,
    /// A firewall.
    Firewall,
    /// A network.
    Network,
    /// An SSH key (left by an interrupted image build).
    SshKey,
}

impl Kind {
    /// Every kind, in deletion order.
    pub const ALL: [Kind; 8] = [
        Kind::LoadBalancer,
        Kind::Server,
        Kind::FloatingIp,
        Kind::PrimaryIp,
        Kind::PlacementGroup,
        Kind::Firewall,
        Kind::Network,
        Kind::SshKey,
    ];

    /// A readable plural for listings (`load balancers`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::LoadBalancer => "load balancers",
            Kind::Server => "servers",
            Kind::FloatingIp => "floating IPs",
            Kind::PrimaryIp => "primary IPs",
            Kind::PlacementGroup => "placement groups",
            Kind::Firewall => "firewalls",
            Kind::Network => "networks",
            Kind::SshKey => "SSH keys",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Kind::LoadBalancer => "load balancer",
            Kind::Server => "server",
            Kind::FloatingIp => "floating IP",
            Kind::PrimaryIp => "primary IP",
            Kind::PlacementGroup => "placement group",
            Kind::Firewall => "firewall",
            Kind::Network => "network",
            Kind::SshKey => "SSH key",
        }
    }

    fn protection(self) -> Option<Protected> {
        match self {
            Kind::LoadBalancer => Some(Protected::LoadBalancer),
            Kind::Server => Some(Protected::Server),
            Kind::FloatingIp => Some(Protected::FloatingIp),
            Kind::PrimaryIp => Some(Protected::PrimaryIp),
            Kind::Network => Some(Protected::Network),
            Kind::PlacementGroup | Kind::Firewall | Kind::SshKey => None,
        }
    }
}

/// One resource of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// What it is.
    pub kind: Kind,
    /// Its ID.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether delete protection is on.
    pub protected: bool,
}

impl Resource {
    fn new(kind: Kind, id: i64, name: &str, protected: bool) -> Resource {
        Resource {
            kind,
            id,
            name: name.to_string(),
            protected,
        }
    }

    /// `server tc-prod-cp-1 (42)`.
    pub fn describe(&self) -> String {
        format!("{} {} ({})", self.kind.singular(), self.name, self.id)
    }
}

/// What a cluster has on Hetzner, read by its label.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// The cluster name.
    pub cluster: String,
    /// Its resources, in deletion order.
    pub resources: Vec<Resource>,
}

impl Inventory {
    /// Returns true if and only if the cluster has no resources left.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The resources of `kind`.
    pub fn of(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// The resources with delete protection on.
    pub fn protected(&self) -> Vec<&Resource> {
        self.resources.iter().filter(|r| r.protected).collect()
    }
}

/// How to destroy.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Turn delete protection off first instead of refusing.
    pub disable_protection: bool,
    /// Deletions of one step in flight at once (at least 1).
    pub parallel: usize,
}

impl Default for Options {
    /// Refuse protected resources; [`DEFAULT_PARALLEL`] at once.
    fn default() -> Self {
        Options {
            disable_protection: false,
            parallel: DEFAULT_PARALLEL,
        }
    }
}

/// What a destroy did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The cluster name.
    pub cluster: String,
    /// The resources deleted by this run (or found already gone while it ran).
    pub deleted: Vec<Resource>,
    /// The resources whose delete protection was turned off first.
    pub unprotected: Vec<Resource>,
}

/// The selector of everything of `cluster`.
fn selector(cluster: &str) -> Result<Selector, Error> {
    let labels = api::Labels::cluster(cluster).map_err(|source| Error::Selector {
        cluster: cluster.to_string(),
        source: Box::new(source),
    })?;
    Ok(Selector::new().eq(labels::CLUSTER, labels.get(labels::CLUSTER).unwrap_or(cluster)))
}

/// A kind and `(id, name, protected)` of each listed resource of it.
type Listed<'a> = (Kind, Vec<(i64, &'a str, bool)>);

/// Reads every resource labelled with `cluster`.
///
/// # Errors
/// [`Error::Selector`] for a name that is not a label value, [`Error::Api`] when a list
/// cannot be read.
pub async fn inventory(client: &Client, cluster: &str) -> Result<Inventory, Error> {
    let selector = selector(cluster)?;
    let api_error = |source| Error::Api {
        cluster: cluster.to_string(),
        source: Box::new(source),
    };
    let (listed, ssh_keys) =
        tokio::try_join!(Labelled::list(client, &selector), client.list_ssh_keys(&selector)).map_err(api_error)?;
    let found: [Listed<'_>; 8] = [
        (
            Kind::LoadBalancer,
            listed
                .load_balancers
                .iter()
                .map(|r| (r.id, &*r.name, r.protection.delete))
                .collect(),
        ),
        (
            Kind::Server,
            listed
                .servers
                .iter()
                .map(|r| (r.id, &*r.name, r.protection.delete))
                .collect(),
        ),
        (
            Kind::FloatingIp,
            listed
                .floating_ips
                .iter()
                .map(|r| (r.id, &*r.name, r.protection.delete))
                .collect(),
        ),
        (
            Kind::PrimaryIp,
            listed
                .primary_ips
                .iter()
                .map(|r| (r.id, &*r.name, r.protection.delete))
                .collect(),
        ),
        (
            Kind::PlacementGroup,
            listed
                .placement_groups
                .iter()
                .map(|r| (r.id, &*r.name, false))
                .collect(),
        ),
        (
            Kind::Firewall,
            listed.firewalls.iter().map(|r| (r.id, &*r.name, false)).collect(),
        ),
        (
            Kind::Network,
            listed
                .networks
                .iter()
                .map(|r| (r.id, &*r.name, r.protection.delete))
                .collect(),
        ),
        (Kind::SshKey, ssh_keys.iter().map(|r| (r.id, &*r.name, false)).collect()),
    ];
    let mut resources: Vec<Resource> = found
        .into_iter()
        .flat_map(|(kind, items)| {
            items
                .into_iter()
                .map(move |(id, name, protected)| Resource::new(kind, id, name, protected))
        })
        .collect();
    resources.sort_by(|a, b| (a.kind, &a.name, a.id).cmp(&(b.kind, &b.name, b.id)));
    Ok(Inventory {
        cluster: cluster.to_string(),
        resources,
    })
}

/// Refuses `inventory` when something in it is protected and `options` does not allow
/// turning the protection off (checked before asking for confirmation, and again by
/// [`destroy`]).
///
/// # Errors
/// [`Error::Protected`] naming every protected resource.
pub fn check_protection(inventory: &Inventory, options: Options) -> Result<(), Error> {
    let protected = inventory.protected();
    if protected.is_empty() || options.disable_protection {
        return Ok(());
    }
    Err(Error::Protected {
        cluster: inventory.cluster.clone(),
        names: protected.iter().map(|r| r.describe()).collect(),
    })
}

/// Deletes everything in `inventory`, in reverse dependency order.
///
/// # Errors
/// [`Error::Protected`] before any change when a resource is protected and
/// `options.disable_protection` is off; [`Error::Api`] for the first failed call (what was
/// deleted before it stays deleted; a re-run continues).
pub async fn destroy(client: &Client, inventory: &Inventory, options: Options) -> Result<Outcome, Error> {
    check_protection(inventory, options)?;
    let cluster = inventory.cluster.as_str();
    let protected: Vec<Resource> = inventory.protected().into_iter().cloned().collect();
    let run = Run {
        client,
        cluster,
        parallel: options.parallel.max(1),
    };
    run.remove_protection(&protected).await?;
    let mut deleted = Vec::new();
    for kind in Kind::ALL {
        let items: Vec<&Resource> = inventory.of(kind).collect();
        if items.is_empty() {
            continue;
        }
        if kind == Kind::Firewall {
            run.detach_firewalls(&items).await?;
        }
        run.delete_all(kind, &items).await?;
        deleted.extend(items.into_iter().cloned());
    }
    Ok(Outcome {
        cluster: cluster.to_string(),
        deleted,
        unprotected: protected,
    })
}

/// One destroy run's shared context.
struct Run<'a> {
    client: &'a Client,
    cluster: &'a str,
    parallel: usize,
}

impl Run<'_> {
    fn api_error(&self, source: api::Error) -> Error {
        Error::Api {
            cluster: self.cluster.to_string(),
            source: Box::new(source),
        }
    }

    /// Runs `call` for each of `items`, at most `self.parallel` at once; stops at the
    /// first error.
    async fn each<'i, T: 'i, R, F, Fut>(&self, items: impl IntoIterator<Item = &'i T>, call: F) -> Result<Vec<R>, Error>
    where
        F: Fn(&'i T) -> Fut,
        Fut: Future<Output = Result<R, api::Error>>,
    {
        stream::iter(items)
            .map(call)
            .buffer_unordered(self.parallel)
            .try_collect()
            .await
            .map_err(|source| self.api_error(source))
    }

    /// Awaits `actions` in one batch.
    async fn wait(&self, operation: &str, actions: Vec<hcloud::models::Action>) -> Result<(), Error> {
        let ids: Vec<ActionId> = actions.iter().map(|a| ActionId::new(a.id)).collect();
        self.client
            .wait_for_actions(operation, &ids)
            .await
            .map(drop)
            .map_err(|source| self.api_error(source))
    }

    async fn remove_protection(&self, protected: &[Resource]) -> Result<(), Error> {
        let actions = self
            .each(protected, |r| async move {
                match r.kind.protection() {
                    Some(kind) => self.client.remove_protection(kind, r.id).await.map(Some),
                    None => Ok(None),
                }
            })
            .await?;
        let operation = format!("removing the delete protection of cluster {}", self.cluster);
        self.wait(&operation, actions.into_iter().flatten().collect()).await
    }

    /// Detaches the firewalls of `items` that are still applied somewhere (label selectors
    /// stay applied after their servers are gone).
    async fn detach_firewalls(&self, items: &[&Resource]) -> Result<(), Error> {
        let selector = selector(self.cluster)?;
        let firewalls = self
            .client
            .list_firewalls(&selector)
            .await
            .map_err(|source| self.api_error(source))?;
        let attached: Vec<(FirewallId, Vec<FirewallResourceId>)> = firewalls
            .into_iter()
            .filter(|f| !f.applied_to.is_empty() && items.iter().any(|r| r.id == f.id))
            .map(|f| (FirewallId::new(f.id), f.applied_to))
            .collect();
        let actions = self
            .each(&attached, |(id, applied_to)| {
                self.client.detach_firewall(*id, applied_to)
            })
            .await?;
        let operation = format!("detaching the firewalls of cluster {}", self.cluster);
        self.wait(&operation, actions.into_iter().flatten().collect()).await
    }

    /// Deletes `items` (all of `kind`) and awaits the delete actions the API returns.
    async fn delete_all(&self, kind: Kind, items: &[&Resource]) -> Result<(), Error> {
        let client = self.client;
        let actions = self
            .each(items.iter().copied(), |r| async move {
                let id = r.id;
                Ok(match kind {
                    Kind::LoadBalancer => client.delete_load_balancer(LoadBalancerId::new(id)).await?,
                    Kind::Server => client.delete_server(ServerId::new(id)).await?,
                    Kind::FloatingIp => client.delete_floating_ip(FloatingIpId::new(id)).await.map(|_| None)?,
                    Kind::PrimaryIp => client.delete_primary_ip(PrimaryIpId::new(id)).await.map(|_| None)?,
                    Kind::PlacementGroup => client
                        .delete_placement_group(PlacementGroupId::new(id))
                        .await
                        .map(|_| None)?,
                    Kind::Firewall => client.delete_firewall(FirewallId::new(id)).await.map(|_| None)?,
                    Kind::Network => client.delete_network(NetworkId::new(id)).await.map(|_| None)?,
                    Kind::SshKey => client.delete_ssh_key(SshKeyId::new(id)).await.map(|_| None)?,
                })
            })
            .await?;
        let operation = format!("deleting the {} of cluster {}", kind.plural(), self.cluster);
        self.wait(&operation, actions.into_iter().flatten().collect()).await
    }
}
