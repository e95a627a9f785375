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
        let request = client.change_load_balancer_type(id, &want.lb_type);
        job.act(&mut outcome, request, format!("type {}", want.lb_type)).await?;
    }
    for old in have
        .services
        .iter()
        .filter(|s| !want.services.iter().any(|w| w.listen == s.listen))
    {
        let request = client.delete_service(id, old.listen);
        job.act(&mut outcome, request, format!("service {} deleted", old.listen))
            .await?;
    }
    for service in &want.services {
        let api = requests::service(service);
        match have.services.iter().find(|s| s.listen == service.listen) {
            Some(old) if old == service => {}
            Some(_) => {
                let done = format!("service {} updated", service.listen);
                job.act(&mut outcome, client.update_service(id, &api), done).await?;
            }
            None => {
                let done = format!("service {} added", service.listen);
                job.act(&mut outcome, client.add_service(id, &api), done).await?;
            }
        }
    }
    if !have.target_selectors.contains(&want.target_selector) {
        let request = client.add_selector_target(id, &want.target_selector, true);
        let done = format!("target {} added", want.target_selector);
        job.act(&mut outcome, request, done).await?;
    }
    for old in have.target_selectors.iter().filter(|s| **s != want.target_selector) {
        let request = client.remove_selector_target(id, old);
        job.act(&mut outcome, request, format!("target {old} removed")).await?;
    }
    job.labels(&mut outcome, have.id, &want.labels, &have.labels).await?;
    Ok(outcome)
}
