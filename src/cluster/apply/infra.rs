//! The Hetzner phase of `apply`: every `+ create` of the plan, in dependency order, each
//! wave's independent creates in parallel (bounded), their actions awaited in shared
//! batches. Wave one: network with its subnet, firewalls, placement groups, primary IPs,
//! the floating IP. Wave two: load balancers (they need the network), whose actions no
//! server waits for: they are handed back as [`Settling`] and awaited alongside the
//! servers ([`super::servers`], created once the configs are rendered). What a wave made
//! is added to the live state, so the next step finds it by name without reading the
//! project again.

use futures::StreamExt as _;
use futures::future::BoxFuture;

use crate::cluster::desired::{Desired, DesiredLoadBalancer, FirewallRule};
use crate::cluster::live::{self, Live};
use crate::cluster::plan::{Action, Kind, Plan};
use crate::hcloud::cluster_resources::CreateLoadBalancer;
use crate::hcloud::{ActionId, Client, Created, Labels, NetworkId};

use super::error::ApplyError;
use super::servers::wait;
use crate::cluster::update;

/// A resource made by a wave, as the live state records it.
enum Made {
    Network(live::LiveNetwork),
    Firewall(live::LiveFirewall),
    PlacementGroup(live::LivePlacementGroup),
    PrimaryIp(live::LivePrimaryIp),
    FloatingIp(live::LiveFloatingIp),
    /// A load balancer, with its create's actions still to await.
    LoadBalancer(live::LiveLoadBalancer, Vec<ActionId>),
}

impl Made {
    fn record(self, live: &mut Live, settling: &mut Settling) {
        match self {
            Made::Network(n) => live.networks.push(n),
            Made::Firewall(f) => live.firewalls.push(f),
            Made::PlacementGroup(g) => live.placement_groups.push(g),
            Made::PrimaryIp(ip) => live.primary_ips.push(ip),
            Made::FloatingIp(ip) => live.floating_ips.push(ip),
            Made::LoadBalancer(lb, ids) => {
                settling
                    .waits
                    .push((format!("creating load balancer {}", lb.name), ids));
                live.load_balancers.push(lb);
            }
        }
    }
}

/// Checked Hetzner labels from the desired state's label map; `what` names the resource.
///
/// # Errors
/// [`ApplyError::Hcloud`] when a label breaks Hetzner's rules.
pub fn hcloud_labels(what: &str, labels: &crate::spec::Labels) -> Result<Labels, ApplyError> {
    update::requests::labels(labels).map_err(ApplyError::hcloud(format!("labelling {what}")))
}

/// Returns true if and only if `plan` creates the `kind` resource `name`.
pub(super) fn creates(plan: &Plan, kind: Kind, name: &str) -> bool {
    plan.changes
        .iter()
        .any(|c| c.kind == kind && c.action == Action::Create && c.name == name)
}

/// Actions of created resources that nothing created later depends on (the load
/// balancers'): awaited with [`Settling::settle`] while the servers are made.
#[derive(Debug, Default)]
#[must_use = "the actions must be awaited before the resources are used"]
pub struct Settling {
    waits: Vec<(String, Vec<ActionId>)>,
}

impl Settling {
    /// Waits for every action, each named by what it does.
    ///
    /// # Errors
    /// [`ApplyError::Hcloud`] for the first action that failed or did not end in time.
    pub async fn settle(self, client: &Client) -> Result<(), ApplyError> {
        let waits = self.waits.iter().map(|(doing, ids)| wait(client, doing, ids));
        futures::future::try_join_all(waits).await.map(drop)
    }
}

/// Creates every network, firewall, placement group, primary IP, floating IP and load
/// balancer the plan creates, recording each in `live`; returns `kind name` per resource
/// made, in the plan's order, and the load balancers' actions still to await.
///
/// # Errors
/// The first failure of a wave, after the wave's other creates have finished (what they
/// made is recorded in `live`).
pub async fn create_infrastructure(
    client: &Client,
    desired: &Desired,
    plan: &Plan,
    live: &mut Live,
    parallel: usize,
) -> Result<(Vec<String>, Settling), ApplyError> {
    let mut made = Vec::new();
    let mut settling = Settling::default();
    let mut first: Vec<BoxFuture<'_, Result<Made, ApplyError>>> = Vec::new();
    if creates(plan, Kind::Network, &desired.network.name) {
        first.push(Box::pin(network(client, desired)));
    }
    for firewall in desired
        .firewalls
        .iter()
        .filter(|f| creates(plan, Kind::Firewall, &f.name))
    {
        first.push(Box::pin(async move {
            let labels = hcloud_labels(&format!("firewall {}", firewall.name), &firewall.labels)?;
            let rules = firewall.rules.iter().map(rule).collect::<Result<Vec<_>, _>>()?;
            let created = client.create_firewall(&firewall.name, &rules, None, &labels);
            let resource = finish(client, format!("creating firewall {}", firewall.name), created).await?;
            Ok(Made::Firewall(live::firewall(&resource)))
        }));
    }
    for group in desired
        .placement_groups
        .iter()
        .filter(|g| creates(plan, Kind::PlacementGroup, &g.name))
    {
        first.push(Box::pin(async move {
            let labels = hcloud_labels(&format!("placement group {}", group.name), &group.labels)?;
            let created = client.create_placement_group(&group.name, &labels);
            let resource = finish(client, format!("creating placement group {}", group.name), created).await?;
            Ok(Made::PlacementGroup(live::placement_group(&resource)))
        }));
    }
    for ip in desired
        .primary_ips
        .iter()
        .filter(|ip| creates(plan, Kind::PrimaryIp, &ip.name))
    {
        first.push(Box::pin(async move {
            let labels = hcloud_labels(&format!("primary IP {}", ip.name), &ip.labels)?;
            let created = client.create_primary_ip(&ip.name, "ipv4", &ip.location, &labels);
            let resource = finish(client, format!("creating primary IP {}", ip.name), created).await?;
            Ok(Made::PrimaryIp(live::primary_ip(&resource)))
        }));
    }
    if let Some(ip) = desired
        .floating_ip
        .as_ref()
        .filter(|ip| creates(plan, Kind::FloatingIp, &ip.name))
    {
        first.push(Box::pin(async move {
            let labels = hcloud_labels(&format!("floating IP {}", ip.name), &ip.labels)?;
            let created = client.create_floating_ip(&ip.name, "ipv4", &ip.home_location, &labels);
            let resource = finish(client, format!("creating floating IP {}", ip.name), created).await?;
            Ok(Made::FloatingIp(live::floating_ip(&resource)))
        }));
    }
    run_wave(first, parallel, live, &mut settling, &mut made).await?;

    let network = live
        .networks
        .iter()
        .find(|n| n.name == desired.network.name)
        .map(|n| NetworkId::new(n.id));
    let mut second: Vec<BoxFuture<'_, Result<Made, ApplyError>>> = Vec::new();
    for lb in desired
        .load_balancers
        .iter()
        .filter(|lb| creates(plan, Kind::LoadBalancer, &lb.name))
    {
        let network = network.ok_or_else(|| ApplyError::Missing {
            kind: "network",
            name: desired.network.name.clone(),
            needed_by: format!("load balancer {}", lb.name),
        })?;
        second.push(Box::pin(load_balancer(client, lb, network)));
    }
    run_wave(second, parallel, live, &mut settling, &mut made).await?;
    live.sort();
    Ok((made, settling))
}

/// Runs a wave's creates, at most `parallel` at a time, recording what each made; the
/// first error is returned once all have finished.
async fn run_wave(
    wave: Vec<BoxFuture<'_, Result<Made, ApplyError>>>,
    parallel: usize,
    live: &mut Live,
    settling: &mut Settling,
    made: &mut Vec<String>,
) -> Result<(), ApplyError> {
    let results: Vec<Result<Made, ApplyError>> = futures::stream::iter(wave)
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    let mut first_error = None;
    for result in results {
        match result {
            Ok(resource) => {
                made.push(describe(&resource));
                resource.record(live, settling);
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn describe(made: &Made) -> String {
    match made {
        Made::Network(n) => format!("network {}", n.name),
        Made::Firewall(f) => format!("firewall {}", f.name),
        Made::PlacementGroup(g) => format!("placement_group {}", g.name),
        Made::PrimaryIp(ip) => format!("primary_ip {}", ip.name),
        Made::FloatingIp(ip) => format!("floating_ip {}", ip.name),
        Made::LoadBalancer(lb, _) => format!("load_balancer {}", lb.name),
    }
}

/// Awaits a create and its actions; `doing` names it in errors.
async fn finish<T>(
    client: &Client,
    doing: String,
    create: impl Future<Output = Result<Created<T>, crate::hcloud::Error>>,
) -> Result<T, ApplyError> {
    let created = create.await.map_err(ApplyError::hcloud(doing.clone()))?;
    wait(client, &doing, &action_ids(&created)).await?;
    Ok(created.resource)
}

/// The IDs of a create's actions.
fn action_ids<T>(created: &Created<T>) -> Vec<ActionId> {
    created.actions.iter().map(|a| ActionId::new(a.id)).collect()
}

async fn network(client: &Client, desired: &Desired) -> Result<Made, ApplyError> {
    let network = &desired.network;
    let labels = hcloud_labels(&format!("network {}", network.name), &network.labels)?;
    let (zone, range) = &network.subnet;
    let subnets = [(zone.as_str(), range.as_str())];
    let created = client.create_network(&network.name, &network.ip_range, &subnets, &labels);
    let resource = finish(client, format!("creating network {}", network.name), created).await?;
    Ok(Made::Network(live::network(&resource)))
}

/// Sends the create of `lb`; its actions are awaited later ([`Settling`]).
async fn load_balancer(client: &Client, lb: &DesiredLoadBalancer, network: NetworkId) -> Result<Made, ApplyError> {
    let request = CreateLoadBalancer {
        name: lb.name.clone(),
        load_balancer_type: lb.lb_type.clone(),
        location: lb.location.clone(),
        labels: hcloud_labels(&format!("load balancer {}", lb.name), &lb.labels)?,
        network,
        services: lb.services.iter().map(update::requests::service).collect(),
        target_selectors: vec![lb.target_selector.clone()],
    };
    let doing = format!("creating load balancer {}", lb.name);
    let created = client
        .create_load_balancer_with(&request)
        .await
        .map_err(ApplyError::hcloud(doing.clone()))?;
    Ok(Made::LoadBalancer(
        live::load_balancer(&created.resource),
        action_ids(&created),
    ))
}

/// The API form of a desired rule: the one the in-place updates send too
/// ([`update::requests::rule`]), so a created firewall and an updated one compare equal.
fn rule(rule: &FirewallRule) -> Result<hcloud::models::Rule, ApplyError> {
    update::requests::rule(rule).ok_or_else(|| ApplyError::InvalidRule {
        rule: rule.to_string(),
        reason: "unknown direction or protocol".into(),
    })
}
