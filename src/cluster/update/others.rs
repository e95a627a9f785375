//! The kinds whose in-place changes are their labels: placement groups, primary IPs, the
//! floating IP (its assignment is never touched: the Talos VIP moves it between control
//! planes) and the network, which also gets its node subnet when that is missing.

use super::{Error, Job, Outcome};
use crate::cluster::desired::Desired;
use crate::cluster::live::Live;
use crate::cluster::plan::Kind;
use crate::hcloud::NetworkId;
use crate::spec::Labels;

/// Adds the node subnet to the network when it lacks it, then sets its labels.
pub(super) async fn network(job: &Job<'_>, desired: &Desired, live: &Live) -> Result<Outcome, Error> {
    let want = &desired.network;
    if want.name != job.change.name {
        return Err(job.missing("desired"));
    }
    let have = job.find(&live.networks, |n| &n.name, "live")?;
    let mut outcome = job.outcome();
    if !have.subnets.contains(&want.subnet) {
        let (zone, range) = &want.subnet;
        let request = job.client.add_subnet(NetworkId::new(have.id), zone, range);
        job.act(&mut outcome, request, format!("subnet {range}")).await?;
    }
    job.labels(&mut outcome, have.id, &want.labels, &have.labels).await?;
    Ok(outcome)
}

/// Sets the labels of the placement group, primary IP or floating IP `job` names.
pub(super) async fn labels_only(job: &Job<'_>, desired: &Desired, live: &Live) -> Result<Outcome, Error> {
    let (want, have): (&Labels, (i64, &Labels)) = match job.change.kind {
        Kind::PlacementGroup => (
            &job.find(&desired.placement_groups, |g| &g.name, "desired")?.labels,
            job.find(&live.placement_groups, |g| &g.name, "live")
                .map(|g| (g.id, &g.labels))?,
        ),
        Kind::PrimaryIp => (
            &job.find(&desired.primary_ips, |ip| &ip.name, "desired")?.labels,
            job.find(&live.primary_ips, |ip| &ip.name, "live")
                .map(|ip| (ip.id, &ip.labels))?,
        ),
        Kind::FloatingIp => (
            &desired
                .floating_ip
                .as_ref()
                .filter(|ip| ip.name == job.change.name)
                .ok_or_else(|| job.missing("desired"))?
                .labels,
            job.find(&live.floating_ips, |ip| &ip.name, "live")
                .map(|ip| (ip.id, &ip.labels))?,
        ),
        Kind::Network | Kind::Firewall | Kind::Server | Kind::LoadBalancer => return Err(job.missing("desired")),
    };
    let mut outcome = job.outcome();
    job.labels(&mut outcome, have.0, want, have.1).await?;
    Ok(outcome)
}
