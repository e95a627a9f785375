//! In-place updates: every `~ update in place` change of a plan made to happen, so that a
//! re-run of `apply` after cluster.yaml changed converges without replacing anything.
//!
//! [`apply_updates`] takes the plan's `Update` changes and, for each, compares the desired
//! and the live resource of that name again to choose the requests: labels are replaced as
//! a whole (`PUT`), firewall rules as a whole (`set_rules`), load balancer services one by
//! one by listen port, label-selector targets added and removed, a load balancer's type
//! changed, a missing subnet added. Resources are updated in parallel up to a bound; the
//! requests of one resource run one after the other, each action awaited (the API locks a
//! resource while an action runs), and concurrent waits share the client's batched action
//! polls.
//!
//! What it never does: move the floating IP (once assigned, the Talos VIP owns it), or
//! change a server's private IP or placement group (both need the server stopped: they are
//! reported as [`Left`] for `node replace`). Label updates keep a server's config-hash label
//! as it is; `apply` records a new one once the config is applied.

mod firewalls;
mod load_balancers;
mod others;
pub mod requests;
mod servers;

use futures::{StreamExt as _, TryStreamExt as _, stream};
use hcloud::models::Action;
use serde::Serialize;

use super::desired::Desired;
use super::live::Live;
use super::plan::{self, Change, Kind, Plan};
use crate::error::{Class, Classify};
use crate::hcloud::{self as api, ActionId, Client, Labelled};
use crate::spec::Labels;

/// How many resources are updated at once.
pub const PARALLEL: usize = 8;

/// Why an update stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request (or its action) failed.
    #[error("while updating {} {name}", kind.as_str())]
    Update {
        /// The resource's kind.
        kind: Kind,
        /// Its name.
        name: String,
        /// The API failure.
        #[source]
        source: Box<api::Error>,
    },
    /// The plan names a resource the desired or live state does not hold (the plan is
    /// from other states than the ones given).
    #[error("the plan updates {} {name}, which the {side} state does not hold", kind.as_str())]
    NotInState {
        /// The resource's kind.
        kind: Kind,
        /// Its name.
        name: String,
        /// `desired` or `live`.
        side: &'static str,
    },
    /// A desired firewall rule the API has no form for.
    #[error("firewall {firewall}: rule '{rule}' has an unknown direction or protocol")]
    Rule {
        /// The firewall.
        firewall: String,
        /// The rule.
        rule: String,
    },
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Update { source, .. } => source.class(),
            Error::NotInState { .. } | Error::Rule { .. } => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Update { source, .. } => source.hints(),
            Error::NotInState { .. } => vec!["plan again: the project changed since the plan was made".into()],
            Error::Rule { .. } => Vec::new(),
        }
    }
}

/// What [`apply_updates`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateReport {
    /// Resources changed, in plan order.
    pub updated: Vec<Updated>,
    /// Planned changes that cannot happen in place, and why.
    pub left: Vec<Left>,
}

impl UpdateReport {
    /// The number of changes made (a label set, a rule set or a service counts as one).
    pub fn change_count(&self) -> usize {
        self.updated.iter().map(|u| u.done.len()).sum()
    }
}

/// One resource's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Updated {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// What changed, in order (`rules`, `service 443 updated`, `labels`).
    pub done: Vec<String>,
}

/// A planned change left undone: it needs more than an in-place update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Left {
    /// The resource's kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// The field (`private_ip`).
    pub field: String,
    /// Why it was left.
    pub reason: String,
}

/// Makes every `Update` change of `plan` happen, `desired` and `live` being the states the
/// plan was made from; at most [`PARALLEL`] resources at once.
///
/// # Errors
/// The first failure: [`Error::Update`] naming the resource, [`Error::NotInState`] when the
/// plan does not match the states, [`Error::Rule`] for a rule the API cannot take. Updates
/// of other resources already under way are dropped unfinished; a re-run plans them again.
pub async fn apply_updates(
    client: &Client,
    desired: &Desired,
    live: &Live,
    plan: &Plan,
) -> Result<UpdateReport, Error> {
    let updates = plan.changes.iter().filter(|c| c.action == plan::Action::Update);
    let mut outcomes: Vec<(usize, Outcome)> = stream::iter(updates.enumerate())
        .map(|(index, change)| async move {
            let job = Job { client, change };
            let outcome = match change.kind {
                Kind::Firewall => firewalls::update(&job, desired, live).await?,
                Kind::LoadBalancer => load_balancers::update(&job, desired, live).await?,
                Kind::Server => servers::update(&job, desired, live).await?,
                Kind::Network => others::network(&job, desired, live).await?,
                Kind::PlacementGroup | Kind::PrimaryIp | Kind::FloatingIp => {
                    others::labels_only(&job, desired, live).await?
                }
            };
            Ok::<_, Error>((index, outcome))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    outcomes.sort_by_key(|(index, _)| *index);
    let mut report = UpdateReport::default();
    for (_, outcome) in outcomes {
        if !outcome.updated.done.is_empty() {
            report.updated.push(outcome.updated);
        }
        report.left.extend(outcome.left);
    }
    Ok(report)
}

/// One resource's update under way.
struct Job<'a> {
    client: &'a Client,
    change: &'a Change,
}

/// What one job did.
struct Outcome {
    updated: Updated,
    left: Vec<Left>,
}

impl Job<'_> {
    fn outcome(&self) -> Outcome {
        Outcome {
            updated: Updated {
                kind: self.change.kind,
                name: self.change.name.clone(),
                done: Vec::new(),
            },
            left: Vec::new(),
        }
    }

    fn fail(&self) -> impl FnOnce(api::Error) -> Error + '_ {
        |source| Error::Update {
            kind: self.change.kind,
            name: self.change.name.clone(),
            source: Box::new(source),
        }
    }

    fn missing(&self, side: &'static str) -> Error {
        Error::NotInState {
            kind: self.change.kind,
            name: self.change.name.clone(),
            side,
        }
    }

    /// The element of `items` named like the change, or [`Error::NotInState`].
    fn find<'i, T>(&self, items: &'i [T], name: impl Fn(&T) -> &str, side: &'static str) -> Result<&'i T, Error> {
        items
            .iter()
            .find(|item| name(item) == self.change.name)
            .ok_or_else(|| self.missing(side))
    }

    /// Awaits `actions` (one batch with every other job's waits).
    async fn wait(&self, actions: &[Action]) -> Result<(), Error> {
        let ids: Vec<ActionId> = actions.iter().map(|a| ActionId::new(a.id)).collect();
        let operation = format!("updating {} {}", self.change.kind.as_str(), self.change.name);
        self.client
            .wait_for_actions(&operation, &ids)
            .await
            .map(drop)
            .map_err(self.fail())
    }

    /// Sends one action request, awaits its action and records `done`.
    async fn act(
        &self,
        outcome: &mut Outcome,
        request: impl Future<Output = Result<Action, api::Error>>,
        done: String,
    ) -> Result<(), Error> {
        let action = request.await.map_err(self.fail())?;
        self.wait(&[action]).await?;
        outcome.updated.done.push(done);
        Ok(())
    }

    /// Replaces the labels of resource `id` with `labels` when they differ from `have`.
    async fn labels(&self, outcome: &mut Outcome, id: i64, want: &Labels, have: &Labels) -> Result<(), Error> {
        if want == have {
            return Ok(());
        }
        let labels = requests::labels(want).map_err(self.fail())?;
        self.client
            .update_labels(labelled(self.change.kind), id, &labels)
            .await
            .map_err(self.fail())?;
        outcome.updated.done.push("labels".into());
        Ok(())
    }
}

/// The client's kind for a plan's kind.
fn labelled(kind: Kind) -> Labelled {
    match kind {
        Kind::Network => Labelled::Network,
        Kind::Firewall => Labelled::Firewall,
        Kind::PlacementGroup => Labelled::PlacementGroup,
        Kind::PrimaryIp => Labelled::PrimaryIp,
        Kind::FloatingIp => Labelled::FloatingIp,
        Kind::Server => Labelled::Server,
        Kind::LoadBalancer => Labelled::LoadBalancer,
    }
}
