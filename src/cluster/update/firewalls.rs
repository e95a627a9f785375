//! A firewall's in-place update: its rules replaced as a whole (the API applies them to
//! every server it covers at once), then its labels.

use super::{Error, Job, Outcome, requests};
use crate::cluster::desired::Desired;
use crate::cluster::live::Live;
use crate::hcloud::FirewallId;

/// Sets the desired rules and labels of the firewall `job` names.
pub(super) async fn update(job: &Job<'_>, desired: &Desired, live: &Live) -> Result<Outcome, Error> {
    let want = job.find(&desired.firewalls, |f| &f.name, "desired")?;
    let have = job.find(&live.firewalls, |f| &f.name, "live")?;
    let mut outcome = job.outcome();
    if want.rules != have.rules {
        let rules = want
            .rules
            .iter()
            .map(|rule| {
                requests::rule(rule).ok_or_else(|| Error::Rule {
                    firewall: want.name.clone(),
                    rule: rule.to_string(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let actions = job
            .client
            .set_firewall_rules(FirewallId::new(have.id), &rules)
            .await
            .map_err(job.fail())?;
        job.wait(&actions).await?;
        outcome.updated.done.push(format!("rules ({})", rules.len()));
    }
    job.labels(&mut outcome, have.id, &want.labels, &have.labels).await?;
    Ok(outcome)
}
