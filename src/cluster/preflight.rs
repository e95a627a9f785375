//! Pre-flight: everything that would stop an apply of a plan, found before its first
//! mutation and reported all at once (issue 11): placement-group limits, server types
//! that cannot be ordered where they are wanted or do not match their snapshot's
//! architecture, missing snapshots, missing admin CIDRs, and a rate-limit budget too small
//! for the plan's requests.

use std::fmt;

use serde::Serialize;

use super::desired::{Desired, DesiredImage};
use super::live::Live;
use super::plan::{Action, Kind, Plan};
use crate::hcloud::{Availability, RateLimit};
use crate::spec::Spec;
use crate::spec::catalog::{MAX_PLACEMENT_GROUPS_PER_PROJECT, MAX_SERVERS_PER_PLACEMENT_GROUP};

/// What kind of problem a blocker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockerKind {
    /// A placement group over 10 servers, or the project over 50 groups.
    PlacementGroupLimit,
    /// A server type not orderable in a location.
    ServerTypeUnavailable,
    /// A server type whose architecture differs from its snapshot's.
    ArchitectureMismatch,
    /// No Talos snapshot for (schematic, version, arch).
    SnapshotMissing,
    /// No admin CIDRs: nobody could reach the Talos or Kubernetes API.
    AdminCidrs,
    /// The API budget left is smaller than the plan's request estimate.
    RateLimit,
}

/// One reason an apply cannot start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// Its kind.
    pub kind: BlockerKind,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.hint)
    }
}

/// What pre-flight knows beyond the plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    /// The placement groups of the whole project (not only the cluster's), if counted.
    pub project_placement_groups: Option<usize>,
    /// The API budget the last answer reported.
    pub rate_limit: Option<RateLimit>,
}

/// Every blocker of applying `plan`, in a stable order; empty when it can start.
pub fn check(spec: &Spec, desired: &Desired, live: &Live, plan: &Plan, facts: Facts) -> Vec<Blocker> {
    let mut blockers = Vec::new();
    for group in &desired.placement_groups {
        if group.members.len() > MAX_SERVERS_PER_PLACEMENT_GROUP {
            blockers.push(Blocker {
                kind: BlockerKind::PlacementGroupLimit,
                message: format!(
                    "placement group {} would hold {} servers; Hetzner allows {MAX_SERVERS_PER_PLACEMENT_GROUP}",
                    group.name,
                    group.members.len()
                ),
                hint: "split the pool".into(),
            });
        }
    }
    if let Some(existing) = facts.project_placement_groups {
        let created = plan
            .changes
            .iter()
            .filter(|c| c.kind == Kind::PlacementGroup && c.action == Action::Create)
            .count();
        if existing + created > MAX_PLACEMENT_GROUPS_PER_PROJECT {
            blockers.push(Blocker {
                kind: BlockerKind::PlacementGroupLimit,
                message: format!(
                    "the project has {existing} placement groups and the plan adds {created}; Hetzner allows {MAX_PLACEMENT_GROUPS_PER_PROJECT}"
                ),
                hint: "delete unused placement groups".into(),
            });
        }
    }
    server_types(desired, live, plan, &mut blockers);
    snapshots(spec, desired, plan, &mut blockers);
    if spec.firewall.admin_cidrs.is_empty() {
        blockers.push(Blocker {
            kind: BlockerKind::AdminCidrs,
            message:
                "firewall.admin_cidrs is empty: nobody could reach the Talos API (50000) or the Kubernetes API (6443)"
                    .into(),
            hint: "add your address, e.g. `admin_cidrs: [203.0.113.7/32]`".into(),
        });
    }
    if let Some(rate) = facts.rate_limit {
        let needed = plan.request_estimate();
        if rate.remaining < needed {
            blockers.push(Blocker {
                kind: BlockerKind::RateLimit,
                message: format!(
                    "the API budget has {} of {} requests left; the plan needs about {needed}",
                    rate.remaining, rate.limit
                ),
                hint: "wait for the budget to refill (one request per second at 3600/h) and run again".into(),
            });
        }
    }
    blockers
}

/// Servers to be created: is their type orderable there, and of their snapshot's
/// architecture?
fn server_types(desired: &Desired, live: &Live, plan: &Plan, blockers: &mut Vec<Blocker>) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for server in creating(desired, plan) {
        let key = (server.server_type.clone(), server.location.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let Some(info) = live.server_types.iter().find(|t| t.name == server.server_type) else {
            if !live.server_types.is_empty() {
                blockers.push(Blocker {
                    kind: BlockerKind::ServerTypeUnavailable,
                    message: format!("server type {} does not exist", server.server_type),
                    hint: "choose a type from `hcloud server-type list`".into(),
                });
            }
            continue;
        };
        if info.availability_in(&server.location) != Availability::Available {
            blockers.push(Blocker {
                kind: BlockerKind::ServerTypeUnavailable,
                message: format!(
                    "server type {} cannot be ordered in {} now",
                    server.server_type, server.location
                ),
                hint: "choose another type or location".into(),
            });
        }
        if info.architecture != server.architecture.hcloud_name() {
            blockers.push(Blocker {
                kind: BlockerKind::ArchitectureMismatch,
                message: format!(
                    "server type {} is {}, its snapshot is {}",
                    server.server_type,
                    info.architecture,
                    server.architecture.as_str()
                ),
                hint: "check talos.architectures in cluster.yaml".into(),
            });
        }
    }
}

/// Servers to be created without a snapshot.
fn snapshots(spec: &Spec, desired: &Desired, plan: &Plan, blockers: &mut Vec<Blocker>) {
    let mut missing: Vec<&str> = creating(desired, plan)
        .filter(|server| server.image == DesiredImage::Missing)
        .map(|server| server.architecture.as_str())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    for arch in missing {
        blockers.push(Blocker {
            kind: BlockerKind::SnapshotMissing,
            message: format!(
                "no Talos snapshot for schematic {}…, Talos {}, {arch}",
                desired.schematic, spec.talos.version
            ),
            hint: format!("run `talos-hcloud -c {} image build`", spec.path.display()),
        });
    }
}

/// The desired servers the plan creates or replaces.
fn creating<'a>(desired: &'a Desired, plan: &'a Plan) -> impl Iterator<Item = &'a super::desired::DesiredServer> {
    desired.servers.iter().filter(|server| {
        plan.changes.iter().any(|c| {
            c.kind == Kind::Server && c.name == server.name && matches!(c.action, Action::Create | Action::Replace)
        })
    })
}
