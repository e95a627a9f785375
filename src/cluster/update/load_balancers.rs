//! A load balancer's in-place update, one request at a time (the API locks it while an
//! action runs): its type, then services by listen port (removed ones first, so a smaller
//! type's service limit is not hit, then changed, then new), then the label-selector target
//! (the new one added before old ones go, so traffic always has targets), then its labels.

use super::{Error, Job, Outcome, requests};
use crate::cluster::desired::Desired;
use crate::cluster::live::Live;
use crate::hcloud::LoadBalancerId;

/// Makes the load balancer `job` names what the desired state says.
pub(super) async fn update(job: &Job<'_>, desired: &Desired, live: &Live) -> Result<Outcome, Error> {
    let want = job.find(&desired.load_balancers, |lb| &lb.name, "desired")?;
    let have = job.find(&live.load_balancers, |lb| &lb.name, "live")?;
    let id = LoadBalancerId::new(have.id);
    let client = job.client;
    let mut outcome = job.outcome();
    if have.lb_type != want.lb_type {
        let action = client
            .change_load_balancer_type(id, &want.lb_type)
            .await
            .map_err(job.fail())?;
        job.wait(&[action]).await?;
        outcome.updated.done.push(format!("type {}", want.lb_type));
    }
    for old in have
        .services
        .iter()
        .filter(|s| !want.services.iter().any(|w| w.listen == s.listen))
    {
        let action = client.delete_service(id, old.listen).await.map_err(job.fail())?;
        job.wait(&[action]).await?;
        outcome.updated.done.push(format!("service {} deleted", old.listen));
    }
    for service in &want.services {
        let action = match have.services.iter().find(|s| s.listen == service.listen) {
            Some(old) if old == service => continue,
            Some(_) => {
                let action = client
                    .update_service(id, &requests::service(service))
                    .await
                    .map_err(job.fail())?;
                (action, "updated")
            }
            None => {
                let action = client
                    .add_service(id, &requests::service(service))
                    .await
                    .map_err(job.fail())?;
                (action, "added")
            }
        };
        job.wait(&[action.0]).await?;
        outcome
            .updated
            .done
            .push(format!("service {} {}", service.listen, action.1));
    }
    if !have.target_selectors.contains(&want.target_selector) {
        let action = client
            .add_selector_target(id, &want.target_selector, true)
            .await
            .map_err(job.fail())?;
        job.wait(&[action]).await?;
        outcome
            .updated
            .done
            .push(format!("target {} added", want.target_selector));
    }
    for old in have.target_selectors.iter().filter(|s| **s != want.target_selector) {
        let action = client.remove_selector_target(id, old).await.map_err(job.fail())?;
        job.wait(&[action]).await?;
        outcome.updated.done.push(format!("target {old} removed"));
    }
    job.labels(&mut outcome, have.id, &want.labels, &have.labels).await?;
    Ok(outcome)
}
