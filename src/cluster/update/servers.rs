//! A server's in-place update: its delete/rebuild protection, then its labels, with the
//! config-hash label kept as the server has it (`apply` records a new one once the config
//! is applied).
//! A different private IP or placement group is left: both need the server stopped, which
//! `node replace` does.

use super::{Error, Job, Left, Outcome};
use crate::cluster::desired::{Desired, LABEL_CONFIG_HASH};
use crate::cluster::live::Live;
use crate::hcloud::Protected;
use crate::spec::Labels;

/// Why the fields a running server cannot change are left.
const NEEDS_STOP: &str = "changing it needs the server stopped; run `talos-hcloud node replace` for this node";

/// Sets the protection and labels of the server `job` names; reports what it cannot
/// change in place.
pub(super) async fn update(job: &Job<'_>, desired: &Desired, live: &Live) -> Result<Outcome, Error> {
    let want = job.find(&desired.servers, |s| &s.name, "desired")?;
    let have = job.find(&live.servers, |s| &s.name, "live")?;
    let mut outcome = job.outcome();
    if have.protected != want.protected {
        let state = if want.protected { "on" } else { "off" };
        let request = job.client.set_protection(Protected::Server, have.id, want.protected);
        job.act(&mut outcome, request, format!("protection {state}")).await?;
    }
    let mut labels: Labels = want.labels.clone();
    match have.labels.get(LABEL_CONFIG_HASH) {
        Some(recorded) => labels.insert(LABEL_CONFIG_HASH.to_string(), recorded.clone()),
        None => labels.remove(LABEL_CONFIG_HASH),
    };
    job.labels(&mut outcome, have.id, &labels, &have.labels).await?;
    let mut left = |field: &str| {
        outcome.left.push(Left {
            kind: job.change.kind,
            name: job.change.name.clone(),
            field: field.to_string(),
            reason: NEEDS_STOP.to_string(),
        });
    };
    if have.private_ip.is_some_and(|ip| ip != want.private_ip) {
        left("private_ip");
    }
    if have.placement_group.as_deref() != Some(want.placement_group.as_str()) {
        left("placement_group");
    }
    Ok(outcome)
}
