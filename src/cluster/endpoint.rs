//! The cluster endpoint as it exists live: the floating IP (`endpoint: floating-ip`) or the
//! API load balancer (`endpoint: load-balancer`) named `<prefix>api`, found by the cluster
//! label. Its address is only known once `apply` created it, so `config gen`, `plan` and
//! `status` look it up here instead of asking for `--endpoint`.

use serde::Serialize;

use super::error::Error;
use super::live::{self, Live, LiveFloatingIp, LiveLoadBalancer};
use crate::hcloud::Client;
use crate::hcloud::labels::{self as hlabels, Selector};
use crate::spec::{Endpoint, Spec};

/// The live resource behind the cluster endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveEndpoint {
    /// `floating-ip` or `load-balancer`.
    pub kind: &'static str,
    /// The resource's name (`<prefix>api`).
    pub name: String,
    /// Its public IPv4, `None` for a load balancer that has none yet.
    pub address: Option<String>,
    /// The server a floating IP is assigned to (`None` for a load balancer or an
    /// unassigned floating IP).
    pub assigned_to: Option<i64>,
}

/// The cluster endpoint among the resources of `live`, if it exists.
pub fn from_live(spec: &Spec, live: &Live) -> Option<LiveEndpoint> {
    let name = spec.api_endpoint_name();
    match spec.endpoint {
        Endpoint::FloatingIp => live.floating_ips.iter().find(|ip| ip.name == name).map(of_floating_ip),
        Endpoint::LoadBalancer => live
            .load_balancers
            .iter()
            .find(|lb| lb.name == name)
            .map(of_load_balancer),
    }
}

/// Looks the cluster endpoint up with one read-only list call by the cluster label.
///
/// # Errors
/// [`Error::ReadLive`] when the list cannot be read.
pub async fn find(client: &Client, spec: &Spec) -> Result<Option<LiveEndpoint>, Error> {
    let selector = Selector::new().eq(hlabels::CLUSTER, spec.name.as_str());
    let read_failed = |source| Error::ReadLive {
        cluster: spec.name.as_str().to_string(),
        source: Box::new(source),
    };
    let mut found = Live::default();
    match spec.endpoint {
        Endpoint::FloatingIp => {
            let ips = client.list_floating_ips(&selector).await.map_err(read_failed)?;
            found.floating_ips = ips.iter().map(live::floating_ip).collect();
        }
        Endpoint::LoadBalancer => {
            let lbs = client.list_load_balancers(&selector).await.map_err(read_failed)?;
            found.load_balancers = lbs.iter().map(live::load_balancer).collect();
        }
    }
    Ok(from_live(spec, &found))
}

fn of_floating_ip(ip: &LiveFloatingIp) -> LiveEndpoint {
    LiveEndpoint {
        kind: Endpoint::FloatingIp.as_str(),
        name: ip.name.clone(),
        address: Some(ip.ip.clone()),
        assigned_to: ip.server,
    }
}

fn of_load_balancer(lb: &LiveLoadBalancer) -> LiveEndpoint {
    LiveEndpoint {
        kind: Endpoint::LoadBalancer.as_str(),
        name: lb.name.clone(),
        address: lb.public_ipv4.clone(),
        assigned_to: None,
    }
}
