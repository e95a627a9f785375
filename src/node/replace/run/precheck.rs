//! The runbook's pre-checks: the target exists, a snapshot to recreate it from, dead
//! control planes detected, and etcd keeping quorum without the target.

use super::Run;
use crate::cluster::desired::DesiredImage;
use crate::cluster::nodes::{NodeFailure, is_member_of};
use crate::node::replace::error::ReplaceError;
use crate::node::replace::evidence::Outcome;
use crate::node::replace::steps::Step;
use crate::spec::Role;
use crate::talos::api::{EtcdMember, MemberListScope};

impl Run<'_, '_> {
    pub(super) async fn precheck(&mut self, resumed_after: Option<Step>) -> Result<(), ReplaceError> {
        let step = Step::Precheck;
        let target = &self.ctx.target;
        let role = match target.role {
            Role::ControlPlane => "control plane",
            Role::Worker => "worker",
        };
        match (&target.live, resumed_after) {
            (Some(server), None) => self.evidence.record(
                step,
                Outcome::Passed,
                format!("{role} {} is server {} ({})", target.node, server.name, server.id),
            ),
            (Some(server), Some(after)) => self.evidence.record(
                step,
                Outcome::Note,
                format!(
                    "server {} ({}) records step {after} as done: resuming after it",
                    server.name, server.id
                ),
            ),
            (None, _) => self.evidence.record(
                step,
                Outcome::Note,
                format!(
                    "no server named {} exists (deleted by an earlier run or outside talos-hcloud): resuming at \
                     {}{} (its Node object) and {}",
                    target.desired.name,
                    match target.role {
                        Role::ControlPlane => "etcd-leave (its member, if still listed, removed through a peer), ",
                        Role::Worker => "",
                    },
                    Step::DeleteServer,
                    Step::CreateServer
                ),
            ),
        }
        if target.address.is_none() {
            return Err(ReplaceError::Precheck {
                problems: vec![NodeFailure::said(
                    &target.node,
                    format!(
                        "neither server {} nor primary IP {} exists",
                        target.desired.name, target.desired.primary_ip
                    ),
                )],
            });
        }
        let image = self.image()?;
        self.evidence
            .record(step, Outcome::Passed, format!("the new server boots image {image}"));
        let mut problems = Vec::new();
        let mut down = Vec::new();
        for node in self.ctx.others() {
            match self.single(step, node)?.version().await {
                Ok(version) => self.evidence.record(
                    step,
                    Outcome::Passed,
                    format!("{} answers the Talos API (Talos {})", node.name, version.tag),
                ),
                Err(error) => {
                    let failure = NodeFailure::new(&node.name, &error);
                    if node.is_control_plane() && target.role == Role::ControlPlane {
                        down.push(failure);
                    } else {
                        problems.push(failure);
                    }
                }
            }
        }
        self.down = down.iter().map(|d| d.node.clone()).collect();
        let etcd_pending = resumed_after.is_none_or(|after| after < Step::EtcdLeave);
        if !down.is_empty() {
            if self.options.force_quorum_loss {
                for failure in &down {
                    self.evidence.record(
                        step,
                        Outcome::Note,
                        format!(
                            "control plane {failure}: down; --force-quorum-loss given, so its etcd member is \
                             removed before {} leaves and it is left out of the health checks",
                            target.node
                        ),
                    );
                }
            } else if etcd_pending {
                for failure in &down {
                    self.evidence.record(step, Outcome::Failed, failure.to_string());
                }
                // Whether etcd keeps quorum decides how the refusal reads.
                self.check_quorum().await?;
                problems.extend(down);
            } else {
                problems.extend(down);
            }
        }
        if !problems.is_empty() {
            for problem in &problems {
                self.evidence.record(step, Outcome::Failed, problem.to_string());
            }
            return Err(ReplaceError::Precheck { problems });
        }
        // A node without a server is dead already (nothing to ask).
        if etcd_pending && self.ctx.target.live.is_some() {
            self.detect_dead().await?;
        }
        if target.role == Role::ControlPlane && etcd_pending {
            self.check_quorum().await?;
        }
        Ok(())
    }

    /// The image the new server boots: `--image`, else the configured version's snapshot.
    pub(super) fn image(&self) -> Result<i64, ReplaceError> {
        match (self.options.image, &self.ctx.target.desired.image) {
            (Some(id), _) => Ok(id),
            (None, DesiredImage::Snapshot { id }) => Ok(*id),
            (None, DesiredImage::Missing) => Err(ReplaceError::NoSnapshot {
                arch: self.ctx.target.desired.architecture.to_string(),
                version: self.ctx.desired.talos_version.clone(),
            }),
        }
    }

    async fn detect_dead(&mut self) -> Result<(), ReplaceError> {
        let step = Step::Precheck;
        let Some(node) = self.ctx.target_node() else {
            return Ok(());
        };
        match self.single(step, node)?.version().await {
            Ok(_) if self.dead => self.evidence.record(
                step,
                Outcome::Note,
                format!(
                    "{} answers the Talos API but --dead was given: treated as dead",
                    node.name
                ),
            ),
            Ok(_) => self
                .evidence
                .record(step, Outcome::Passed, format!("{} answers the Talos API", node.name)),
            Err(error) => {
                self.dead = true;
                self.evidence.record(
                    step,
                    Outcome::Note,
                    format!(
                        "{} does not answer the Talos API ({}): treated as dead",
                        node.name,
                        crate::error::chain(&error).join(": ")
                    ),
                );
            }
        }
        Ok(())
    }

    async fn check_quorum(&mut self) -> Result<(), ReplaceError> {
        let step = Step::Precheck;
        let Some((peer, client)) = self.healthy_peer(step).await? else {
            return Err(self.quorum_error(1, 0));
        };
        let members = client
            .etcd_members(MemberListScope::Cluster)
            .await
            .map_err(self.talos(step, &peer))?;
        let target_is_member = self.target_member(&members).is_some();
        let mut healthy = 0;
        for node in self.ctx.other_control_planes() {
            let etcd_healthy = match self.single(step, node)?.services().await {
                Ok(services) => services.iter().any(|s| s.id == "etcd" && s.healthy == Some(true)),
                Err(_) => false,
            };
            if etcd_healthy && members.iter().any(|m| is_member_of(m, node)) {
                healthy += 1;
            }
        }
        let needed = members.len() / 2 + 1;
        let detail = format!(
            "etcd: {} members, {healthy} healthy besides {}, {needed} needed for quorum",
            members.len(),
            self.node()
        );
        if target_is_member && healthy < needed {
            if !self.options.force_quorum_loss {
                self.evidence.record(step, Outcome::Failed, detail);
                return Err(self.quorum_error(members.len(), healthy));
            }
            self.evidence.record(
                step,
                Outcome::Note,
                format!("{detail}: --force-quorum-loss given, etcd is without quorum until the new member joins"),
            );
        } else {
            self.evidence.record(step, Outcome::Passed, detail);
        }
        Ok(())
    }

    fn quorum_error(&self, members: usize, healthy: usize) -> ReplaceError {
        ReplaceError::QuorumLoss {
            node: self.node().to_string(),
            healthy,
            members,
            needed: members / 2 + 1,
            down: self.down.clone(),
        }
    }

    pub(super) fn target_member<'m>(&self, members: &'m [EtcdMember]) -> Option<&'m EtcdMember> {
        let node = self.ctx.target_node()?;
        members.iter().find(|m| is_member_of(m, node))
    }
}
