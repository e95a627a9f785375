//! Running the runbook: each step looks at the world first and does only what is left, and
//! the server's progress label records what is done, so a re-run continues.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::context::{Context, LABEL_REPLACE_STEP};
use super::error::ReplaceError;
use super::evidence::{Entry, Evidence, Outcome, Reporter};
use super::steps::{PlannedStep, Step, plan};
use crate::cluster::apply::{ServerOptions, create_node_server};
use crate::cluster::desired::{DesiredImage, DesiredServer};
use crate::cluster::kubeconfig::{KubeAccess, Kubeconfig};
use crate::cluster::nodes::{
    self, Delivery, NodeFailure, NodeSet, NodeTarget, NodesError, check_health, deliver, is_member_of,
};
use crate::hcloud::labels::Labels as HcloudLabels;
use crate::hcloud::{ActionId, Protected};
use crate::interrupt::Interrupt;
use crate::node::{KubeClient, KubeOptions, drain, ensure_member_removed, save_etcd_snapshot};
use crate::retry::Policy;
use crate::secure_file::Overwrite;
use crate::spec::Role;
use crate::talos::api::{CallOptions, MemberListScope, ResetOptions, TalosClient, WipeMode};

mod precheck;

/// How the runbook runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Treat the node as dead: no drain, no graceful leave; its etcd member is removed
    /// through another control plane (also chosen when its Talos API does not answer).
    pub dead: bool,
    /// Replace a control plane even when etcd loses quorum while it is gone.
    pub force_quorum_loss: bool,
    /// Create the server from this image instead of the configured version's snapshot.
    pub image: Option<i64>,
    /// Only plan and check; change nothing.
    pub dry_run: bool,
    /// The pace and deadline of refused evictions ([`crate::node::eviction_policy`]).
    pub drain: Policy,
    /// The Kubernetes client's settings.
    pub kube: KubeOptions,
    /// Where the etcd snapshot is saved.
    pub snapshot_dir: PathBuf,
    /// Fired once: stop after the running step; twice: stop now.
    pub interrupt: Interrupt,
}

/// What a replacement did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Replaced {
    /// The node.
    pub node: String,
    /// Its server's name.
    pub server: String,
    /// Its role.
    pub role: Role,
    /// Whether it was treated as dead.
    pub dead: bool,
    /// Only planned.
    pub dry_run: bool,
    /// The last step an earlier run had done.
    pub resumed_after: Option<Step>,
    /// The steps.
    pub plan: Vec<PlannedStep>,
    /// The server deleted.
    pub old_server: Option<i64>,
    /// The server created.
    pub new_server: Option<i64>,
    /// The node's public IPv4 (kept).
    pub address: Option<IpAddr>,
    /// The etcd snapshot saved.
    pub etcd_snapshot: Option<PathBuf>,
    /// The etcd member removed (hex ID).
    pub removed_member: Option<String>,
    /// etcd members at the end.
    pub etcd_members: Option<usize>,
    /// Every check and step, timestamped.
    pub evidence: Vec<Entry>,
}

/// Replaces the node of `ctx` (see the module documentation), reporting every entry of
/// evidence to `reporter` as it happens.
///
/// # Errors
/// [`ReplaceError`] naming the step; [`ReplaceError::Interrupted`] between steps when
/// `options.interrupt` fired.
pub async fn replace(ctx: &Context, options: &Options, reporter: Reporter<'_>) -> Result<Replaced, ReplaceError> {
    let resumed_after = match &ctx.target.live {
        Some(server) => server.labels.get(LABEL_REPLACE_STEP).and_then(|v| Step::from_label(v)),
        // The server is gone, deleted by an earlier run or outside talos-hcloud: a control
        // plane's etcd member, if still listed, is removed through a peer as a dead one's is
        // (an earlier run's leave left nothing to remove); delete-server runs again for the
        // Node object it may have left.
        None if ctx.target.role == Role::ControlPlane => Some(Step::Drain),
        None => Some(Step::Unprotect),
    };
    let mut run = Run {
        ctx,
        options,
        evidence: Evidence::new(reporter),
        server: ctx.target.live.as_ref().map(|s| s.id),
        kube: None,
        // Without its server the node is dead, whatever its Talos API address answers.
        dead: options.dead || ctx.target.live.is_none(),
        down: Vec::new(),
        result: Replaced {
            node: ctx.target.node.clone(),
            server: ctx.target.desired.name.clone(),
            role: ctx.target.role,
            dead: options.dead,
            dry_run: options.dry_run,
            resumed_after,
            plan: Vec::new(),
            old_server: ctx.target.live.as_ref().map(|s| s.id),
            new_server: None,
            address: ctx.target.address,
            etcd_snapshot: None,
            removed_member: None,
            etcd_members: None,
            evidence: Vec::new(),
        },
    };
    run.precheck(resumed_after).await?;
    run.result.dead = run.dead;
    run.result.plan = plan(ctx.target.role, run.dead, resumed_after);
    if options.dry_run {
        for planned in &run.result.plan {
            let state = if planned.done {
                "done by an earlier run"
            } else {
                "to do"
            };
            run.evidence.record(
                planned.step,
                Outcome::Note,
                format!("{state}: touches {}; checks {}", planned.touches, planned.checks),
            );
        }
        return Ok(run.finish());
    }
    let mut last = resumed_after.unwrap_or(Step::Precheck);
    let pending: Vec<Step> = run
        .result
        .plan
        .iter()
        .filter(|p| !p.done && p.step != Step::Precheck)
        .map(|p| p.step)
        .collect();
    for step in pending {
        if options.interrupt.count() > 0 {
            return Err(ReplaceError::Interrupted { after: last });
        }
        run.evidence
            .record(step, Outcome::Started, step.touches(ctx.target.role, run.dead));
        let outcome = tokio::select! {
            outcome = run.step(step) => outcome,
            () = options.interrupt.fired(2) => return Err(ReplaceError::Interrupted { after: last }),
        };
        outcome?;
        run.record_progress(step).await?;
        last = step;
    }
    Ok(run.finish())
}

/// One run's state.
struct Run<'c, 'r> {
    ctx: &'c Context,
    options: &'c Options,
    evidence: Evidence<'r>,
    /// The server that now carries the node (old until deleted, then the new one).
    server: Option<i64>,
    /// The Kubernetes client and access, once the kubeconfig was fetched.
    kube: Option<(KubeClient, KubeAccess)>,
    dead: bool,
    /// Other control planes whose Talos API does not answer (tolerated only with
    /// `--force-quorum-loss`; their etcd members are removed before the node leaves).
    down: Vec<String>,
    result: Replaced,
}

impl Run<'_, '_> {
    fn finish(mut self) -> Replaced {
        self.result.evidence = self.evidence.into_entries();
        self.result
    }

    fn node(&self) -> &str {
        &self.ctx.target.node
    }

    fn hetzner(&self, step: Step) -> impl Fn(crate::hcloud::Error) -> ReplaceError + '_ {
        move |source| ReplaceError::Hetzner {
            step,
            node: self.node().to_string(),
            source: Box::new(source),
        }
    }

    fn talos(&self, step: Step, on: &str) -> impl Fn(crate::talos::api::Error) -> ReplaceError + '_ {
        let on = on.to_string();
        move |source| ReplaceError::Talos {
            step,
            node: self.node().to_string(),
            on: on.clone(),
            source: Box::new(source),
        }
    }

    fn nodes_error(&self, step: Step, source: NodesError) -> ReplaceError {
        ReplaceError::Nodes {
            step,
            node: self.node().to_string(),
            source: Box::new(source),
        }
    }

    /// A client of `node` whose calls are tried once (the caller decides about waiting).
    fn single(&self, step: Step, node: &NodeTarget) -> Result<TalosClient, ReplaceError> {
        let single = CallOptions {
            retry: Policy::none(),
            ..self.ctx.set.call
        };
        Ok(self
            .ctx
            .set
            .client(node)
            .map_err(|e| self.nodes_error(step, e))?
            .with_options(single))
    }

    /// The first other control plane whose Talos API answers.
    async fn healthy_peer(&self, step: Step) -> Result<Option<(String, TalosClient)>, ReplaceError> {
        for node in self.ctx.other_control_planes() {
            let client = self.single(step, node)?;
            if client.version().await.is_ok() {
                return Ok(Some((node.name.clone(), client.with_options(self.ctx.set.call))));
            }
        }
        Ok(None)
    }

    /// The Kubernetes client, fetching the admin kubeconfig from a control plane the first
    /// time; `None` when no control plane hands it out.
    async fn kube(&mut self, step: Step) -> Result<Option<&(KubeClient, KubeAccess)>, ReplaceError> {
        if self.kube.is_none() {
            let mut candidates: Vec<&NodeTarget> = self.ctx.other_control_planes().collect();
            candidates.extend(self.ctx.target_node().filter(|n| n.is_control_plane()));
            for node in candidates {
                let Ok(bytes) = self.single(step, node)?.kubeconfig().await else {
                    continue;
                };
                let Ok(kubeconfig) = Kubeconfig::parse(bytes.expose(), "from the Talos API") else {
                    continue;
                };
                let (Ok(client), Ok(access)) = (
                    KubeClient::from_kubeconfig(bytes.expose(), self.options.kube),
                    kubeconfig.access(),
                ) else {
                    continue;
                };
                self.kube = Some((client, access));
                break;
            }
        }
        Ok(self.kube.as_ref())
    }

    async fn step(&mut self, step: Step) -> Result<(), ReplaceError> {
        match step {
            Step::Precheck => Ok(()),
            Step::EtcdSnapshot => self.etcd_snapshot().await,
            Step::Drain => self.drain().await,
            Step::EtcdLeave => self.etcd_leave().await,
            Step::Unprotect => self.unprotect().await,
            Step::DeleteServer => self.delete_server().await,
            Step::CreateServer => self.create_server().await,
            Step::DeliverConfig => self.deliver().await,
            Step::Rejoin => self.rejoin().await,
            Step::Uncordon => self.uncordon().await,
            Step::Protect => self.protect().await,
        }
    }

    async fn etcd_snapshot(&mut self) -> Result<(), ReplaceError> {
        let step = Step::EtcdSnapshot;
        let Some((peer, client)) = self.healthy_peer(step).await? else {
            return Err(ReplaceError::Precheck {
                problems: vec![NodeFailure::said(self.node(), "no other control plane answers")],
            });
        };
        // Milliseconds: a re-run within the same second must not meet the earlier file.
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let path = self
            .options
            .snapshot_dir
            .join(format!("etcd-{}-{stamp}.snapshot", self.node()));
        let saved = save_etcd_snapshot(&client, &path, Overwrite::Refuse)
            .await
            .map_err(|e| ReplaceError::Snapshot(Box::new(e)))?;
        self.evidence.record(
            step,
            Outcome::Done,
            format!(
                "saved {} from {} ({} bytes, database sha256 {})",
                saved.path.display(),
                peer,
                saved.size,
                saved.db_sha256
            ),
        );
        self.result.etcd_snapshot = Some(saved.path);
        Ok(())
    }

    async fn drain(&mut self) -> Result<(), ReplaceError> {
        let step = Step::Drain;
        let node = self.node().to_string();
        let dead = self.dead;
        let policy = self.options.drain;
        let Some((kube, _)) = self.kube(step).await? else {
            self.evidence.record(
                step,
                Outcome::Skipped,
                "no control plane hands out the kubeconfig: the Kubernetes side is skipped",
            );
            return Ok(());
        };
        let kube = kube.clone();
        let kube_error = |source| ReplaceError::Kube {
            step,
            node: node.clone(),
            source: Box::new(source),
        };
        match kube.node(&node).await {
            Err(error) => {
                let why = crate::error::chain(&error).join(": ");
                self.evidence.record(
                    step,
                    Outcome::Skipped,
                    format!("the Kubernetes API does not answer: {why}"),
                );
                return Ok(());
            }
            Ok(None) => {
                self.evidence
                    .record(step, Outcome::Skipped, format!("there is no Node {node}"));
                return Ok(());
            }
            Ok(Some(_)) => {}
        }
        if dead {
            kube.cordon(&node).await.map_err(kube_error)?;
            self.evidence.record(
                step,
                Outcome::Done,
                format!("cordoned {node} (dead: its pods are not evicted)"),
            );
            return Ok(());
        }
        let report = drain(&kube, &node, policy)
            .await
            .map_err(|e| ReplaceError::Drain(Box::new(e)))?;
        self.evidence.record(
            step,
            Outcome::Done,
            format!(
                "cordoned and drained {node}: {} pods evicted ({}), {} DaemonSet and {} static pods left",
                report.evicted.len(),
                report.evicted.join(", "),
                report.daemon_set_pods.len(),
                report.mirror_pods.len()
            ),
        );
        Ok(())
    }

    async fn etcd_leave(&mut self) -> Result<(), ReplaceError> {
        let step = Step::EtcdLeave;
        let Some((peer, client)) = self.healthy_peer(step).await? else {
            return Err(ReplaceError::Precheck {
                problems: vec![NodeFailure::said(self.node(), "no other control plane answers")],
            });
        };
        self.remove_down_members(&peer, &client).await?;
        let members = client
            .etcd_members(MemberListScope::Cluster)
            .await
            .map_err(self.talos(step, &peer))?;
        let Some(member) = self.target_member(&members).cloned() else {
            self.evidence
                .record(step, Outcome::Skipped, format!("{} is not an etcd member", self.node()));
            return Ok(());
        };
        let id = format!("{:x}", member.id);
        self.result.removed_member = Some(id.clone());
        if self.dead {
            let removal = ensure_member_removed(&client, member.id)
                .await
                .map_err(self.talos(step, &peer))?;
            self.evidence.record(
                step,
                Outcome::Done,
                format!("member {id} of {} removed through {} ({removal:?})", self.node(), peer),
            );
            return Ok(());
        }
        let Some(node) = self.ctx.target_node() else {
            return Ok(());
        };
        let target = self.ctx.set.client(node).map_err(|e| self.nodes_error(step, e))?;
        target
            .etcd_leave_cluster()
            .await
            .map_err(self.talos(step, &node.name))?;
        self.evidence
            .record(step, Outcome::Done, format!("{} left etcd (member {id})", node.name));
        let reset = ResetOptions {
            graceful: true,
            reboot: false,
            mode: WipeMode::All,
            ..ResetOptions::default()
        };
        match target.reset(&reset).await {
            Ok(_) => self.evidence.record(
                step,
                Outcome::Done,
                format!("{} reset gracefully and powering off", node.name),
            ),
            // The node goes down as it answers; its server is deleted next either way.
            Err(error) => self.evidence.record(
                step,
                Outcome::Note,
                format!("reset of {}: {}", node.name, crate::error::chain(&error).join(": ")),
            ),
        }
        Ok(())
    }

    /// Removes the etcd members of the control planes that are down (`--force-quorum-loss`):
    /// while they count, etcd refuses to let the node go (too few healthy members would be
    /// left), and without them it keeps quorum on the remaining ones.
    async fn remove_down_members(&mut self, peer: &str, client: &TalosClient) -> Result<(), ReplaceError> {
        let step = Step::EtcdLeave;
        if self.down.is_empty() {
            return Ok(());
        }
        let members = client
            .etcd_members(MemberListScope::Cluster)
            .await
            .map_err(self.talos(step, peer))?;
        let down: Vec<(String, u64)> = self
            .ctx
            .other_control_planes()
            .filter(|node| self.down.contains(&node.name))
            .filter_map(|node| {
                members
                    .iter()
                    .find(|m| is_member_of(m, node))
                    .map(|m| (node.name.clone(), m.id))
            })
            .collect();
        for (name, id) in down {
            let removal = ensure_member_removed(client, id)
                .await
                .map_err(self.talos(step, peer))?;
            self.evidence.record(
                step,
                Outcome::Done,
                format!("member {id:x} of {name} (down) removed through {peer} ({removal:?}); replace {name} next"),
            );
        }
        Ok(())
    }

    async fn unprotect(&mut self) -> Result<(), ReplaceError> {
        self.set_protection(Step::Unprotect, false).await
    }

    /// Turns the current server's delete and rebuild protection on or off.
    async fn set_protection(&mut self, step: Step, on: bool) -> Result<(), ReplaceError> {
        let Some(id) = self.server else {
            return Ok(());
        };
        let client = &self.ctx.client;
        let action = client
            .set_protection(Protected::Server, id, on)
            .await
            .map_err(self.hetzner(step))?;
        client
            .wait_for_action("changing the server's protection", ActionId::new(action.id))
            .await
            .map_err(self.hetzner(step))?;
        let state = if on { "on" } else { "off" };
        self.evidence.record(
            step,
            Outcome::Done,
            format!("delete and rebuild protection of server {id} {state}"),
        );
        Ok(())
    }

    async fn delete_server(&mut self) -> Result<(), ReplaceError> {
        let step = Step::DeleteServer;
        let client = &self.ctx.client;
        if let Some(id) = self.server {
            match client
                .delete_server(crate::hcloud::ServerId::new(id))
                .await
                .map_err(self.hetzner(step))?
            {
                Some(action) => {
                    client
                        .wait_for_action("deleting the server", ActionId::new(action.id))
                        .await
                        .map_err(self.hetzner(step))?;
                    self.evidence
                        .record(step, Outcome::Done, format!("server {id} deleted"));
                }
                None => self
                    .evidence
                    .record(step, Outcome::Skipped, format!("server {id} was already gone")),
            }
            self.server = None;
        }
        let node = self.node().to_string();
        if let Some((kube, _)) = self.kube(step).await? {
            match kube.delete_node(&node).await {
                Ok(deleted) => self
                    .evidence
                    .record(step, Outcome::Done, format!("Node object {node}: {deleted:?}")),
                Err(error) => self.evidence.record(
                    step,
                    Outcome::Note,
                    format!(
                        "Node object {node} not deleted: {}",
                        crate::error::chain(&error).join(": ")
                    ),
                ),
            }
        }
        Ok(())
    }

    async fn create_server(&mut self) -> Result<(), ReplaceError> {
        let step = Step::CreateServer;
        let mut server: DesiredServer = self.ctx.target.desired.clone();
        server.image = DesiredImage::Snapshot { id: self.image()? };
        // Until this step is recorded done, the new server says the step before it: a run
        // stopped while it is being made finishes it (see below) instead of skipping ahead.
        server
            .labels
            .insert(LABEL_REPLACE_STEP.to_string(), Step::DeleteServer.as_str().to_string());
        let options = ServerOptions {
            user_data: None,
            protect_control_planes: false,
        };
        // An earlier run made the server (it exists now) and finished it: kept as it is. A
        // server it left half-made (off, or outside the network) is finished by
        // `create_node_server`, which never creates a second one of the name.
        let finished = self
            .ctx
            .target
            .live
            .as_ref()
            .filter(|live| self.server == Some(live.id) && live.private_ip.is_some() && live.status == "running");
        let id = match finished {
            Some(live) => {
                self.evidence.record(
                    step,
                    Outcome::Skipped,
                    format!("server {} ({}) was made by an earlier run", live.name, live.id),
                );
                live.id
            }
            None => create_node_server(&self.ctx.client, &self.ctx.desired, &server, &self.ctx.live, &options)
                .await
                .map_err(|source| ReplaceError::Create {
                    node: self.node().to_string(),
                    source: Box::new(source),
                })?
                .id
                .get(),
        };
        let created = crate::hcloud::ServerId::new(id);
        let live = self.ctx.client.get_server(created).await.map_err(self.hetzner(step))?;
        let got = live.and_then(|s| s.public_net.ipv4.map(|ip| ip.ip)).unwrap_or_default();
        let kept = self.ctx.target.address.map(|a| a.to_string()).unwrap_or_default();
        if got != kept {
            return Err(ReplaceError::AddressChanged {
                server: server.name.clone(),
                got,
                kept,
            });
        }
        self.server = Some(id);
        self.result.new_server = Some(id);
        self.evidence.record(
            step,
            Outcome::Done,
            format!(
                "server {} ({id}) created on {kept}, private IP {}",
                server.name, server.private_ip
            ),
        );
        Ok(())
    }

    /// The target alone as a node set, its config counted as applied once it runs one.
    fn target_set(&self) -> Result<NodeSet, ReplaceError> {
        let node = self.ctx.target_node().cloned().ok_or_else(|| ReplaceError::Precheck {
            problems: vec![NodeFailure::said(self.node(), "no address")],
        })?;
        let applied = Some(node.hash().label_value());
        Ok(NodeSet {
            nodes: vec![NodeTarget { applied, ..node }],
            ..self.ctx.set.clone()
        })
    }

    async fn deliver(&mut self) -> Result<(), ReplaceError> {
        let step = Step::DeliverConfig;
        let set = self.target_set()?;
        let delivered = deliver(&set).await.map_err(|e| self.nodes_error(step, e))?;
        let what = match delivered.first().map(|d| d.delivery) {
            Some(Delivery::Applied) => "applied in maintenance mode; apid answers with mutual TLS",
            Some(Delivery::Unchanged) => "already configured (user data)",
            Some(Delivery::Changed) | None => "configured with another config",
        };
        self.evidence.record(
            step,
            Outcome::Done,
            format!("machine config of {}: {what}", self.node()),
        );
        Ok(())
    }

    async fn rejoin(&mut self) -> Result<(), ReplaceError> {
        let step = Step::Rejoin;
        self.kube = None;
        let Some((_, access)) = self.kube(step).await?.cloned() else {
            return Err(self.nodes_error(
                step,
                NodesError::Unhealthy {
                    stage: nodes::Stage::KubeApiserver,
                    waited: Duration::ZERO,
                    failures: vec![NodeFailure::said(
                        "kubeconfig",
                        "no control plane hands out the kubeconfig",
                    )],
                },
            ));
        };
        let set = NodeSet {
            nodes: self
                .ctx
                .set
                .nodes
                .iter()
                .filter(|node| !self.down.contains(&node.name))
                .cloned()
                .collect(),
            ..self.ctx.set.clone()
        };
        for name in &self.down {
            self.evidence.record(
                step,
                Outcome::Note,
                format!("{name} is down: left out of the health checks"),
            );
        }
        let report = check_health(&set, &access)
            .await
            .map_err(|e| self.nodes_error(step, e))?;
        for (stage, took) in &report.stages {
            self.evidence.record(
                step,
                Outcome::Passed,
                format!("health stage {stage} passed after {:.1}s", took.as_secs_f64()),
            );
        }
        if self.ctx.target.role == Role::ControlPlane {
            self.check_members(step).await?;
        }
        Ok(())
    }

    /// etcd has exactly one member per control plane, and not the removed one.
    async fn check_members(&mut self, step: Step) -> Result<(), ReplaceError> {
        let Some((peer, client)) = self.healthy_peer(step).await? else {
            return Ok(());
        };
        let members = client
            .etcd_members(MemberListScope::Cluster)
            .await
            .map_err(self.talos(step, &peer))?;
        let expected = self
            .ctx
            .set
            .control_planes()
            .filter(|node| !self.down.contains(&node.name))
            .count();
        let removed = self.result.removed_member.clone();
        let stale = removed
            .as_deref()
            .filter(|id| members.iter().any(|m| format!("{:x}", m.id) == *id));
        if members.len() != expected || stale.is_some() {
            return Err(self.nodes_error(
                step,
                NodesError::Unhealthy {
                    stage: nodes::Stage::Etcd,
                    waited: Duration::ZERO,
                    failures: vec![NodeFailure::said(
                        "etcd",
                        format!(
                            "{} members ({}), {expected} control planes",
                            members.len(),
                            members
                                .iter()
                                .map(|m| format!("{:x}", m.id))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )],
                },
            ));
        }
        self.result.etcd_members = Some(members.len());
        self.evidence.record(
            step,
            Outcome::Passed,
            format!(
                "etcd has {} members, one per control plane that runs{}",
                members.len(),
                removed.map(|id| format!("; {id} is gone")).unwrap_or_default()
            ),
        );
        Ok(())
    }

    async fn uncordon(&mut self) -> Result<(), ReplaceError> {
        let step = Step::Uncordon;
        let node = self.node().to_string();
        let wait = self.ctx.set.waits;
        let Some((kube, _)) = self.kube(step).await?.cloned() else {
            self.evidence
                .record(step, Outcome::Skipped, "no kubeconfig: uncordon the node yourself");
            return Ok(());
        };
        let kube_error = |source| ReplaceError::Kube {
            step,
            node: node.clone(),
            source: Box::new(source),
        };
        let policy = Policy::node_boot()
            .with_delays(wait.poll.min(Duration::from_millis(500)), wait.poll)
            .with_deadline(wait.health);
        let registered = until(policy, || async { kube.node(&node).await.ok().flatten() }).await;
        if registered.is_none() {
            self.evidence
                .record(step, Outcome::Note, format!("Node {node} is not registered yet"));
            return Ok(());
        }
        let info = kube.uncordon(&node).await.map_err(kube_error)?;
        self.evidence.record(
            step,
            Outcome::Done,
            format!("Node {node} schedulable (Ready={})", info.ready),
        );
        Ok(())
    }

    async fn protect(&mut self) -> Result<(), ReplaceError> {
        let step = Step::Protect;
        if self.ctx.target.desired.protected {
            self.set_protection(step, true).await?;
        }
        let Some(id) = self.server else {
            return Ok(());
        };
        let labels = hcloud_labels(&self.ctx.target.desired.labels).map_err(self.hetzner(step))?;
        self.ctx
            .client
            .update_labels(crate::hcloud::Labelled::Server, id, &labels)
            .await
            .map_err(self.hetzner(step))?;
        self.evidence
            .record(step, Outcome::Done, format!("progress label removed from server {id}"));
        Ok(())
    }

    /// Records `step` as done on the server that carries the node (none between delete and
    /// create: the missing server is the record then).
    async fn record_progress(&mut self, step: Step) -> Result<(), ReplaceError> {
        if step == Step::Protect {
            return Ok(());
        }
        let Some(id) = self.server else {
            return Ok(());
        };
        let mut labels = match (&self.ctx.target.live, self.result.new_server) {
            (Some(old), None) => old.labels.clone(),
            _ => self.ctx.target.desired.labels.clone(),
        };
        labels.insert(LABEL_REPLACE_STEP.to_string(), step.as_str().to_string());
        let labels = hcloud_labels(&labels).map_err(self.hetzner(step))?;
        self.ctx
            .client
            .update_labels(crate::hcloud::Labelled::Server, id, &labels)
            .await
            .map_err(self.hetzner(step))?;
        Ok(())
    }
}

/// The checked Hetzner labels of a label map.
fn hcloud_labels(labels: &crate::spec::Labels) -> Result<HcloudLabels, crate::hcloud::Error> {
    labels
        .iter()
        .try_fold(HcloudLabels::new(), |acc, (key, value)| acc.with(key, value))
}

/// Polls `probe` on `policy` until it yields a value; `None` once the policy gives up.
async fn until<T, F, Fut>(policy: Policy, probe: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut backoff = policy.backoff();
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        tokio::time::sleep(backoff.next()?).await;
    }
}
