//! One planning run, as `plan` (and later `apply`) performs it: read the live state, the
//! price list and the project's placement-group count at once; render the nodes' configs
//! when the secrets bundle and the endpoint address exist; derive the desired state, the
//! plan, its cost and its pre-flight blockers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::desired::{self, Desired};
use super::endpoint;
use super::error::Error;
use super::live::{self, Live};
use super::plan::{self, Plan};
use super::preflight::{self, Blocker, Facts};
use super::pricing::{self, Cost};
use crate::hcloud::Client;
use crate::redact::Redacted;
use crate::spec::{Endpoint, Spec};
use crate::talos::config::render::{self, ApiEndpoint, RenderedNode};
use crate::talos::secrets::SecretsBundle;

/// What a planning run needs besides the spec and the client.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The secrets bundle; configs are hashed only when it exists.
    pub secrets: PathBuf,
    /// The Hetzner token written into control-plane configs for the Talos VIP.
    pub hcloud_token: Option<Redacted<String>>,
}

/// The outcome of a planning run.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// What cluster.yaml asks for.
    pub desired: Desired,
    /// What exists.
    pub live: Live,
    /// The difference.
    pub plan: Plan,
    /// What would stop an apply.
    pub blockers: Vec<Blocker>,
    /// API requests this run sent.
    pub requests: u64,
}

/// Plans `spec` against the project `client` reaches.
///
/// # Errors
/// [`Error::ReadLive`] when the API cannot be read;
/// [`Error::Secrets`] / [`Error::Render`] when an existing secrets bundle is unreadable or
/// the configs cannot be rendered; [`Error::SubnetFull`].
pub async fn plan_cluster(client: &Client, spec: &Spec, inputs: &Inputs) -> Result<Planned, Error> {
    let live = live::read(client, spec).await?;
    let (hashes, configs_unknown) = config_hashes(spec, &live, inputs)?;
    let desired = desired::desired(spec, &live, &hashes)?;
    let plan = plan::plan(&desired, &live, configs_unknown);
    let facts = Facts {
        project_placement_groups: Some(live.project_placement_groups),
        rate_limit: client.rate_limit(),
    };
    let blockers = preflight::check(spec, &desired, &live, &plan, facts);
    Ok(Planned {
        desired,
        live,
        plan,
        blockers,
        requests: client.request_count().total,
    })
}

/// The monthly cost of what `planned` keeps, adds and removes, from the price list (one
/// request: only `plan` shows it, so `apply` does not spend it).
///
/// # Errors
/// [`Error::ReadPricing`] when the price list cannot be read.
pub async fn price(client: &Client, planned: &Planned) -> Result<Cost, Error> {
    let pricing = client.pricing().await.map_err(|e| Error::ReadPricing(Box::new(e)))?;
    Ok(pricing::cost(&planned.plan, &planned.live, &pricing))
}

/// The nodes' config hashes (node name → [`desired::config_hash`]), or why they cannot
/// be computed yet (no secrets bundle, no endpoint, no token for the VIP).
///
/// # Errors
/// [`Error::Secrets`], [`Error::Endpoint`], [`Error::Render`].
pub fn config_hashes(
    spec: &Spec,
    live: &Live,
    inputs: &Inputs,
) -> Result<(BTreeMap<String, String>, Option<String>), Error> {
    Ok(match rendered_configs(spec, live, inputs)? {
        Ok(configs) => (desired::config_hashes(&configs.nodes), None),
        Err(why) => (BTreeMap::new(), Some(why)),
    })
}

/// Every node's machine config, rendered for the endpoint that exists live.
#[derive(Debug, Clone)]
pub struct RenderedConfigs {
    /// The nodes' configs, in node order.
    pub nodes: Vec<RenderedNode>,
    /// The cluster endpoint they point at.
    pub endpoint: ApiEndpoint,
    /// The secrets bundle they were rendered from.
    pub bundle: SecretsBundle,
}

/// The nodes' configs rendered from the secrets bundle for the live endpoint address (the
/// floating IP's, or the API load balancer's), or in words why they cannot be yet (no
/// secrets bundle, no endpoint, no token for the Talos VIP).
///
/// # Errors
/// [`Error::Secrets`] / [`Error::Endpoint`] / [`Error::Render`].
pub fn rendered_configs(spec: &Spec, live: &Live, inputs: &Inputs) -> Result<Result<RenderedConfigs, String>, Error> {
    if !inputs.secrets.exists() {
        return Ok(Err(format!("no secrets bundle at {}", inputs.secrets.display())));
    }
    let api_name = spec.api_endpoint_name();
    let Some(address) = endpoint_address(spec, live) else {
        return Ok(Err(format!("the endpoint {api_name} does not exist yet")));
    };
    if spec.endpoint == Endpoint::FloatingIp && inputs.hcloud_token.is_none() {
        return Ok(Err("HCLOUD_TOKEN is needed to render the control-plane configs".into()));
    }
    let bundle = SecretsBundle::load(&inputs.secrets).map_err(|e| Error::Secrets(Box::new(e)))?;
    let endpoint = ApiEndpoint::parse(&address).map_err(|e| Error::Endpoint(Box::new(e)))?;
    let nodes = render::render_cluster(&render::ClusterInputs {
        spec,
        secrets: &bundle,
        endpoint: &endpoint,
        hcloud_token: inputs.hcloud_token.as_ref(),
    })
    .map_err(|e| Error::Render(Box::new(e)))?;
    Ok(Ok(RenderedConfigs {
        nodes,
        endpoint,
        bundle,
    }))
}

/// The live address of the cluster endpoint: the floating IP's, or the API load
/// balancer's public IPv4.
pub fn endpoint_address(spec: &Spec, live: &Live) -> Option<String> {
    endpoint::from_live(spec, live).and_then(|found| found.address)
}
