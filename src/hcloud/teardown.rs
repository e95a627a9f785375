//! What must come off a resource before the API lets it be deleted: delete protection
//! (servers, floating and primary IPs, load balancers, networks) and a firewall's
//! attachments (a firewall still applied to a server or a label selector answers
//! `resource_in_use`).

use hcloud::models::{Action, FirewallResourceId};
use serde_json::json;

use super::client::{Call, Client};
use super::error::{Error, during};
use super::ids::FirewallId;
use super::updates::{ActionsAnswer, Labelled};

/// The kinds of resource that carry delete protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protected {
    /// A server (delete and rebuild protection are switched together: the API wants them equal).
    Server,
    /// A floating IP.
    FloatingIp,
    /// A primary IP.
    PrimaryIp,
    /// A load balancer.
    LoadBalancer,
    /// A network.
    Network,
}

impl Protected {
    /// The same kind as a resource whose labels and protection change in place.
    fn kind(self) -> Labelled {
        match self {
            Protected::Server => Labelled::Server,
            Protected::FloatingIp => Labelled::FloatingIp,
            Protected::PrimaryIp => Labelled::PrimaryIp,
            Protected::LoadBalancer => Labelled::LoadBalancer,
            Protected::Network => Labelled::Network,
        }
    }

    pub(super) fn collection(self) -> &'static str {
        self.kind().collection()
    }

    pub(super) fn noun(self) -> &'static str {
        self.kind().noun()
    }
}

impl Client {
    /// Turns off the delete protection (and, for a server, the rebuild protection) of
    /// resource `id` of `kind`; returns the `change_protection` action to await.
    ///
    /// # Errors
    /// [`Error::Request`] "while removing the protection of KIND ID".
    pub async fn remove_protection(&self, kind: Protected, id: i64) -> Result<Action, Error> {
        self.set_protection(kind, id, false).await
    }

    /// Detaches firewall `id` from every resource and label selector of `applied_to` (as
    /// the firewall lists them); returns the actions to await.
    ///
    /// # Errors
    /// [`Error::Request`] "while detaching firewall ID".
    pub async fn detach_firewall(
        &self,
        id: FirewallId,
        applied_to: &[FirewallResourceId],
    ) -> Result<Vec<Action>, Error> {
        if applied_to.is_empty() {
            return Ok(Vec::new());
        }
        let remove_from: Vec<FirewallResourceId> = applied_to
            .iter()
            .map(|target| FirewallResourceId {
                applied_to_resources: None,
                ..target.clone()
            })
            .collect();
        let call = Call::action(
            format!("/firewalls/{id}/actions/remove_from_resources"),
            json!({ "remove_from": remove_from }),
        );
        let answer: ActionsAnswer = self
            .request(&call)
            .await
            .map_err(during(format!("detaching firewall {id}")))?;
        Ok(answer.actions)
    }
}
