//! `apply`: converge the cluster to what cluster.yaml asks for, executing exactly the
//! changes `plan` shows.
//!
//! [`run`] plans (the same [`crate::cluster::plan_cluster`] as `plan`), stops on pre-flight
//! blockers and on changes it must not or cannot make before its first mutation, creates
//! the Hetzner resources in dependency order ([`infra`], then [`servers`]), assigns the
//! floating IP once, retires and deletes what the plan deletes when allowed ([`delete`]),
//! drives the Talos phase ([`talos`]), and last, when allowed, replaces the servers the
//! plan replaces through the node replacement runbook ([`replace`]). It returns an
//! [`ApplyReport`]; printing is the command's job.

pub mod delete;
mod error;
pub mod infra;
pub mod progress;
pub mod replace;
pub mod servers;
pub mod summary;
pub mod talos;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt as _;

pub use error::ApplyError;
pub use progress::{ApplyProgress, NodePhase, Reporter};
pub use servers::{NodeServer, ServerOptions, create_node_server};
pub use summary::{ApplyReport, Phases};

use super::desired::{self, DesiredServer, LABEL_CONFIG_HASH};
use super::live::Live;
use super::nodes::{NodeSet, NodeTarget, Waits, user_data};
use super::plan::{self, Action, Kind, Plan};
use super::planning::{Inputs, RenderedConfigs, rendered_configs};
use super::update;
use crate::hcloud::{ActionId, Client, FloatingIpId, Labelled, ServerId};
use crate::interrupt::Interrupt;
use crate::redact::Redacted;
use crate::secure_file::Overwrite;
use crate::spec::{Role, Spec};
use crate::talos::api::{CallOptions, TalosconfigTarget};
use crate::talos::secrets::SecretsBundle;
use crate::talos::talosconfig::Talosconfig;
use infra::creates;
use servers::unfinished;

/// How many creates run at the same time: as many servers as one batched action poll
/// covers, so 100 nodes are two overlapping rounds, not thirteen. Concurrency does not
/// raise the number of requests (pre-flight checks the plan's estimate against the rate
/// budget); it only spends them sooner.
pub const PARALLEL: usize = 50;

/// What `apply` needs besides the spec and the client.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The secrets bundle (created on the first run, never regenerated).
    pub secrets: PathBuf,
    /// The cluster folder for the kubeconfig and talosconfig.
    pub files_dir: PathBuf,
    /// The kubeconfig to merge into (`--merge-kubeconfig`).
    pub merge_kubeconfig: Option<PathBuf>,
    /// The Hetzner token written into control-plane configs (Talos VIP).
    pub hcloud_token: Option<Redacted<String>>,
    /// `--allow-replace`: servers the plan replaces go through the node replacement runbook.
    pub allow_replace: bool,
    /// `--allow-delete`: what the plan deletes is deleted (nodes drained and removed first).
    pub allow_delete: bool,
    /// The pace and deadline of evictions when a node is drained (replace, delete).
    pub drain: crate::retry::Policy,
    /// Deliver configs as `user_data` instead of through the Talos API.
    pub user_data: bool,
    /// Delete and rebuild protection on control planes.
    pub protect_control_planes: bool,
    /// How long the Talos waits may take.
    pub waits: Waits,
    /// Single Talos API calls.
    pub call: CallOptions,
    /// Creates in parallel.
    pub parallel: usize,
    /// Ctrl-C: a replacement holds it and stops between two runbook steps; the caller stops
    /// the rest of apply at once ([`Interrupt::stop_now`]).
    pub interrupt: Interrupt,
}

impl ApplyOptions {
    /// The defaults for `spec`: files under its local folder, maintenance-API delivery,
    /// control planes protected, real-cluster waits.
    pub fn for_spec(spec: &Spec) -> ApplyOptions {
        ApplyOptions {
            secrets: spec.secrets_path(),
            files_dir: spec.local_dir(),
            merge_kubeconfig: None,
            hcloud_token: None,
            allow_replace: false,
            allow_delete: false,
            drain: crate::node::eviction_policy(std::time::Duration::from_secs(300)),
            user_data: false,
            protect_control_planes: true,
            waits: Waits::default(),
            call: CallOptions::default(),
            parallel: PARALLEL,
            interrupt: Interrupt::new(),
        }
    }
}

/// Converges `spec` on the project `client` reaches; `progress` gets each node's phases.
///
/// # Errors
/// [`ApplyError::Blocked`] (pre-flight), [`ApplyError::ReplaceRefused`],
/// [`ApplyError::ReplaceUnsupported`], [`ApplyError::DeleteRefused`],
/// [`ApplyError::QuorumLoss`] before any mutation; otherwise the step that failed.
pub async fn run(
    client: &Client,
    spec: &Spec,
    options: &ApplyOptions,
    progress: &dyn ApplyProgress,
) -> Result<ApplyReport, ApplyError> {
    let mut phases = Phases::default();
    let started = Instant::now();
    // Deletes and replacements report free-form lines.
    let lines = |line: String| progress.note(line);
    let inputs = Inputs {
        secrets: options.secrets.clone(),
        hcloud_token: options.hcloud_token.clone(),
    };
    let mut planned = super::plan_cluster(client, spec, &inputs)
        .await
        .map_err(|e| ApplyError::Plan(Box::new(e)))?;
    let mut replaced = replace::resume_interrupted(client, spec, &planned, options, &lines).await?;
    if !replaced.is_empty() {
        planned = super::plan_cluster(client, spec, &inputs)
            .await
            .map_err(|e| ApplyError::Plan(Box::new(e)))?;
    }
    refuse(&planned.plan, &planned.blockers, &planned.live, options)?;
    phases.record("plan", started);

    let secrets_created = ensure_secrets(spec, &options.secrets)?;
    let mut live = planned.live;
    let started = Instant::now();
    let (created, settling) =
        infra::create_infrastructure(client, &planned.desired, &planned.plan, &mut live, options.parallel).await?;
    phases.record("network, firewalls, IPs, load balancers", started);
    let started = Instant::now();
    // A server an interrupted run left unfinished is finished (attached, protected, powered
    // on) by the server wave below; changing it in place now would meet its lock.
    let mut in_place = planned.plan.clone();
    in_place.changes.retain(|change| {
        change.kind != Kind::Server
            || !planned
                .desired
                .servers
                .iter()
                .any(|s| s.name == change.name && unfinished(&live, s).is_some())
    });
    let updates = update::apply_updates(client, &planned.desired, &live, &in_place)
        .await
        .map_err(|e| ApplyError::Update(Box::new(e)))?;
    if !updates.updated.is_empty() {
        phases.record("in-place updates", started);
    }

    // The endpoint exists now: render the configs and derive the servers with their hashes.
    let configs = match rendered_configs(spec, &live, &inputs).map_err(|e| ApplyError::Plan(Box::new(e)))? {
        Ok(configs) => configs,
        Err(why) => {
            return Err(ApplyError::NoEndpoint {
                name: format!("{} ({why})", spec.api_endpoint_name()),
            });
        }
    };
    let hashes = desired::config_hashes(&configs.nodes);
    let desired = desired::desired(spec, &live, &hashes).map_err(|e| ApplyError::Plan(Box::new(e)))?;
    let plan = plan::plan(&desired, &live, None);
    let mut created = created;
    let targets = node_targets(&desired.servers, &live, &configs)?;

    let started = Instant::now();
    let new_servers: Vec<&DesiredServer> = desired
        .servers
        .iter()
        .filter(|s| creates(&plan, Kind::Server, &s.name) || unfinished(&live, s).is_some())
        .collect();
    let servers = futures::stream::iter(new_servers.iter().map(|server| {
        let target = targets.iter().find(|t| t.name == server.node);
        let desired = &desired;
        let live = &live;
        async move {
            let mut server_options = ServerOptions {
                user_data: None,
                protect_control_planes: options.protect_control_planes,
            };
            if options.user_data
                && let Some(target) = target
            {
                let payload = user_data(target).map_err(ApplyError::nodes("preparing user_data"))?;
                server_options.user_data = Some(Redacted::new(String::from_utf8_lossy(&payload).into_owned()));
            }
            progress.phase(&server.node, NodePhase::Creating);
            let made = create_node_server(client, desired, server, live, &server_options).await;
            made.inspect(|_| progress.phase(&server.node, NodePhase::Booting))
        }
    }))
    .buffer_unordered(options.parallel.max(1))
    .collect::<Vec<_>>();
    // The load balancers' actions end while the servers are made: no server needs them.
    let (made, settled) = futures::join!(servers, settling.settle(client));
    let mut server_ids: Vec<(String, ServerId)> = live
        .servers
        .iter()
        .map(|s| (s.name.clone(), ServerId::new(s.id)))
        .collect();
    let mut first_error = None;
    for result in made {
        match result {
            Ok(server) if server_ids.iter().any(|(name, _)| *name == server.name) => {
                created.push(format!("server {} (finished)", server.name));
            }
            Ok(server) => {
                created.push(format!("server {}", server.name));
                server_ids.push((server.name.clone(), server.id));
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    settled?;
    let position = |made: &String| {
        planned
            .plan
            .changes
            .iter()
            .chain(&plan.changes)
            .position(|c| *made == format!("{} {}", c.kind.as_str(), c.name))
    };
    created.sort_by_key(|made| (position(made).is_none(), position(made)));
    let floating_ip_assigned = assign_floating_ip(client, &desired, &live, &server_ids).await?;
    if !new_servers.is_empty() || floating_ip_assigned.is_some() {
        phases.record("servers", started);
    }

    let control_planes: Vec<IpAddr> = targets
        .iter()
        .filter(|t| t.is_control_plane())
        .map(|t| t.address)
        .collect();
    let talosconfig = admin_talosconfig(spec, &configs, control_planes)?;
    let identity = TalosconfigTarget::from_talosconfig(&talosconfig, None)
        .map_err(|e| ApplyError::Access {
            what: "the talosconfig".into(),
            source: Box::new(e),
        })?
        .identity;
    let set = NodeSet {
        nodes: targets,
        identity,
        call: options.call,
        waits: options.waits,
    };
    let started = Instant::now();
    let deleted = delete::delete_planned(client, &planned.plan, &live, &set, options, &lines).await?;
    if !deleted.is_empty() {
        phases.record("deletes", started);
    }
    let talos = talos::converge(
        &set,
        &configs.endpoint,
        &talosconfig,
        talos::FilesTarget {
            dir: &options.files_dir,
            merge_into: options.merge_kubeconfig.as_deref(),
        },
        progress,
        &mut phases,
    )
    .await?;
    let started = Instant::now();
    let recorded = record_config_hashes(client, &desired, &set, &server_ids).await?;
    if !recorded.is_empty() {
        phases.record("record config hashes", started);
    }
    let started = Instant::now();
    let to_replace = replace::replaced_nodes(&planned.plan, &desired);
    replaced.extend(replace::replace_servers(client, spec, &to_replace, options, &lines).await?);
    if !replaced.is_empty() {
        phases.record("replacements", started);
    }
    Ok(ApplyReport {
        cluster: spec.name.as_str().to_string(),
        hashes_recorded: recorded,
        secrets_created,
        created,
        replaced,
        deleted,
        updated: updates.updated,
        left: updates.left,
        floating_ip_assigned,
        unchanged: planned.plan.unchanged,
        talos,
        endpoint: configs.endpoint.url().to_string(),
        phases,
        requests: client.request_count().total,
    })
}

/// Refuses, before any mutation, a plan with blockers or with changes this run may not
/// make: replacements without `--allow-replace` (with it, only servers are replaced),
/// deletes without `--allow-delete`, and deletes of control planes below etcd quorum.
fn refuse(
    plan: &Plan,
    blockers: &[super::preflight::Blocker],
    live: &Live,
    options: &ApplyOptions,
) -> Result<(), ApplyError> {
    if !blockers.is_empty() {
        return Err(ApplyError::Blocked {
            blockers: blockers.iter().map(|b| b.message.clone()).collect(),
            hints: blockers.iter().map(|b| b.hint.clone()).collect(),
        });
    }
    let of = |action: Action, kinds: &dyn Fn(Kind) -> bool| -> Vec<String> {
        plan.changes
            .iter()
            .filter(|c| c.action == action && kinds(c.kind))
            .map(|c| {
                let mut text = format!("{} {}", c.kind.as_str(), c.name);
                if !c.reasons.is_empty() {
                    text.push_str(&format!(" ({})", c.reasons.join("; ")));
                }
                text
            })
            .collect()
    };
    let replaced = of(Action::Replace, &|_| true);
    if !replaced.is_empty() && !options.allow_replace {
        return Err(ApplyError::ReplaceRefused { resources: replaced });
    }
    let not_servers = of(Action::Replace, &|kind| kind != Kind::Server);
    if !not_servers.is_empty() {
        return Err(ApplyError::ReplaceUnsupported { resources: not_servers });
    }
    let deleted = of(Action::Delete, &|_| true);
    if !deleted.is_empty() && !options.allow_delete {
        return Err(ApplyError::DeleteRefused { resources: deleted });
    }
    delete::check_quorum(plan, live)
}

/// Creates the secrets bundle on the first run (0600, never replaced); returns true if
/// and only if it was created now.
fn ensure_secrets(spec: &Spec, path: &std::path::Path) -> Result<bool, ApplyError> {
    if path.exists() {
        return Ok(false);
    }
    let secrets = |source| ApplyError::Secrets {
        path: path.display().to_string(),
        source: Box::new(source),
    };
    let bundle = SecretsBundle::generate(spec.talos.version.contract()).map_err(secrets)?;
    bundle.save(path, Overwrite::Refuse).map_err(secrets)?;
    Ok(true)
}

/// Every node as the Talos phase sees it: its public IPv4 (the primary IP's), private
/// address, rendered config, and the hash recorded on its server (a new server's is the
/// one it is created with).
fn node_targets(
    servers: &[DesiredServer],
    live: &Live,
    configs: &RenderedConfigs,
) -> Result<Vec<NodeTarget>, ApplyError> {
    servers
        .iter()
        .map(|server| {
            let address: IpAddr = live
                .primary_ips
                .iter()
                .find(|ip| ip.name == server.primary_ip)
                .and_then(|ip| ip.ip.parse().ok())
                .ok_or_else(|| ApplyError::NoAddress {
                    server: server.name.clone(),
                })?;
            let rendered = configs
                .nodes
                .iter()
                .find(|n| n.name == server.node)
                .ok_or_else(|| ApplyError::Missing {
                    kind: "machine config",
                    name: server.node.clone(),
                    needed_by: format!("server {}", server.name),
                })?;
            let applied = match live.servers.iter().find(|s| s.name == server.name) {
                Some(existing) => existing.labels.get(LABEL_CONFIG_HASH).cloned(),
                None => server.config_hash.clone(),
            };
            Ok(NodeTarget {
                name: server.node.clone(),
                role: server.role,
                address,
                private_ip: Some(IpAddr::V4(server.private_ip)),
                config: Redacted::new(rendered.yaml.clone().into_bytes()),
                applied,
            })
        })
        .collect()
}

/// Records the config hash on every server whose label is not that of the config its
/// node now runs (after a rolling update, or a delivery an earlier run did not record);
/// returns those servers' names.
async fn record_config_hashes(
    client: &Client,
    desired: &desired::Desired,
    set: &NodeSet,
    servers: &[(String, ServerId)],
) -> Result<Vec<String>, ApplyError> {
    let mut recorded = Vec::new();
    for node in set.nodes.iter().filter(|n| !n.has_applied_config()) {
        let Some(server) = desired.servers.iter().find(|s| s.node == node.name) else {
            continue;
        };
        let Some((_, id)) = servers.iter().find(|(name, _)| *name == server.name) else {
            continue;
        };
        let labels = infra::hcloud_labels(&format!("server {}", server.name), &server.labels)?;
        client
            .update_labels(Labelled::Server, id.get(), &labels)
            .await
            .map_err(ApplyError::hcloud(format!(
                "recording the config hash of server {}",
                server.name
            )))?;
        recorded.push(server.name.clone());
    }
    Ok(recorded)
}

/// Assigns the floating IP to the first control plane if it is assigned to nobody; once
/// assigned, the Talos VIP owns it. Returns the server it was assigned to now.
async fn assign_floating_ip(
    client: &Client,
    desired: &desired::Desired,
    live: &Live,
    servers: &[(String, ServerId)],
) -> Result<Option<String>, ApplyError> {
    let Some(wanted) = &desired.floating_ip else {
        return Ok(None);
    };
    let Some(ip) = live.floating_ips.iter().find(|ip| ip.name == wanted.name) else {
        return Ok(None);
    };
    if ip.server.is_some() {
        return Ok(None);
    }
    let Some(first) = desired.servers.iter().find(|s| s.role == Role::ControlPlane) else {
        return Ok(None);
    };
    let Some((_, id)) = servers.iter().find(|(name, _)| *name == first.name) else {
        return Ok(None);
    };
    let doing = format!("assigning floating IP {} to server {}", ip.name, first.name);
    let action = match client.assign_floating_ip(FloatingIpId::new(ip.id), *id).await {
        Ok(action) => action,
        // The Talos VIP took it since the live state was read: it is the owner now.
        Err(error) if error.code() == Some(&crate::hcloud::ErrorCode::FloatingIpAssigned) => return Ok(None),
        Err(error) => return Err(ApplyError::hcloud(doing)(error)),
    };
    servers::wait(client, &doing, &[ActionId::new(action.id)]).await?;
    Ok(Some(first.name.clone()))
}

/// The admin talosconfig: derived from the secrets bundle, endpoints = the control planes.
fn admin_talosconfig(
    spec: &Spec,
    configs: &RenderedConfigs,
    control_planes: Vec<IpAddr>,
) -> Result<Talosconfig, ApplyError> {
    Talosconfig::derived_for_cluster(
        &configs.bundle,
        spec.name.as_str(),
        control_planes,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| ApplyError::Access {
        what: "the talosconfig".into(),
        source: Box::new(e),
    })
}
