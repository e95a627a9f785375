//! In-place changes of existing resources: labels (`PUT`), delete/rebuild protection,
//! firewall rules, load balancer services, label-selector targets and networks, and
//! floating IP assignment. What `apply` sends on a re-run after cluster.yaml changed, and
//! what `node replace` uses to lift and restore protection.
//!
//! Every call here may be sent twice without harm (a `PUT` or a repeatable action), so the
//! client retries them on every transient failure. Request bodies follow
//! `reference/hcloud-openapi.json`; each call returns the actions to await.

use hcloud::models::{Action, LoadBalancerService, Rule};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Call, Client};
use super::error::{Error, during};
use super::ids::{FirewallId, FloatingIpId, LoadBalancerId, NetworkId, ServerId};
use super::labels::Labels;
use super::teardown::Protected;

/// The kinds of resource whose labels can be replaced with `PUT /{collection}/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    /// A server.
    Server,
    /// A firewall.
    Firewall,
    /// A load balancer.
    LoadBalancer,
    /// A network.
    Network,
    /// A placement group.
    PlacementGroup,
    /// A primary IP.
    PrimaryIp,
    /// A floating IP.
    FloatingIp,
}

impl Labelled {
    /// The API collection (`placement_groups`).
    pub(super) fn collection(self) -> &'static str {
        match self {
            Labelled::Server => "servers",
            Labelled::Firewall => "firewalls",
            Labelled::LoadBalancer => "load_balancers",
            Labelled::Network => "networks",
            Labelled::PlacementGroup => "placement_groups",
            Labelled::PrimaryIp => "primary_ips",
            Labelled::FloatingIp => "floating_ips",
        }
    }

    /// The name used in error messages (`placement group`).
    pub(super) fn noun(self) -> &'static str {
        match self {
            Labelled::Server => "server",
            Labelled::Firewall => "firewall",
            Labelled::LoadBalancer => "load balancer",
            Labelled::Network => "network",
            Labelled::PlacementGroup => "placement group",
            Labelled::PrimaryIp => "primary IP",
            Labelled::FloatingIp => "floating IP",
        }
    }
}

#[derive(Deserialize)]
struct ActionAnswer {
    action: Action,
}

/// The answer of an action that starts several (`set_rules`, `remove_from_resources`).
#[derive(Deserialize)]
pub(super) struct ActionsAnswer {
    pub(super) actions: Vec<Action>,
}

impl Client {
    /// Replaces every label of resource `id` of `kind` with `labels` (the API has no
    /// partial label update: keys left out are removed).
    ///
    /// # Errors
    /// [`Error::Request`] "while updating the labels of KIND ID".
    pub async fn update_labels(&self, kind: Labelled, id: i64, labels: &Labels) -> Result<(), Error> {
        let call = Call::put(
            format!("/{}/{id}", kind.collection()),
            json!({"labels": labels.to_map()}),
        );
        self.request::<Value>(&call)
            .await
            .map_err(during(format!("updating the labels of {} {id}", kind.noun())))?;
        Ok(())
    }

    /// Turns the delete protection of resource `id` of `kind` on or off (for a server, the
    /// rebuild protection too: the API wants them equal); returns the `change_protection`
    /// action to await.
    ///
    /// # Errors
    /// [`Error::Request`] "while turning on the protection of KIND ID" (or "removing").
    pub async fn set_protection(&self, kind: Protected, id: i64, on: bool) -> Result<Action, Error> {
        let body = match kind {
            Protected::Server => json!({"delete": on, "rebuild": on}),
            _ => json!({"delete": on}),
        };
        let doing = if on { "turning on" } else { "removing" };
        let path = format!("/{}/{id}/actions/change_protection", kind.collection());
        self.one_action(path, body, format!("{doing} the protection of {} {id}", kind.noun()))
            .await
    }

    /// Replaces every rule of firewall `id` with `rules`; returns `set_firewall_rules` and
    /// one `apply_firewall` per server the firewall covers.
    ///
    /// # Errors
    /// [`Error::Request`] "while setting the rules of firewall ID".
    pub async fn set_firewall_rules(&self, id: FirewallId, rules: &[Rule]) -> Result<Vec<Action>, Error> {
        let call = Call::action(format!("/firewalls/{id}/actions/set_rules"), json!({ "rules": rules }));
        let answer: ActionsAnswer = self
            .request(&call)
            .await
            .map_err(during(format!("setting the rules of firewall {id}")))?;
        Ok(answer.actions)
    }

    /// Adds `service` to load balancer `id` (`source_port_already_used` when its listen
    /// port is taken).
    ///
    /// # Errors
    /// [`Error::Request`] "while adding service PORT on load balancer ID".
    pub async fn add_service(&self, id: LoadBalancerId, service: &LoadBalancerService) -> Result<Action, Error> {
        self.service_action(id, "add_service", service, "adding").await
    }

    /// Replaces the service of load balancer `id` that listens on `service.listen_port`
    /// with `service` (destination port, proxy protocol and health check included).
    ///
    /// # Errors
    /// [`Error::Request`] "while updating service PORT on load balancer ID".
    pub async fn update_service(&self, id: LoadBalancerId, service: &LoadBalancerService) -> Result<Action, Error> {
        self.service_action(id, "update_service", service, "updating").await
    }

    /// Removes the service of load balancer `id` that listens on `listen_port`.
    ///
    /// # Errors
    /// [`Error::Request`] "while deleting service PORT on load balancer ID".
    pub async fn delete_service(&self, id: LoadBalancerId, listen_port: u16) -> Result<Action, Error> {
        self.one_action(
            format!("/load_balancers/{id}/actions/delete_service"),
            json!({ "listen_port": listen_port }),
            format!("deleting service {listen_port} on load balancer {id}"),
        )
        .await
    }

    /// Adds a label-selector target to load balancer `id`: every server matching
    /// `selector` (as [`Selector`](super::Selector) prints one), reached on its private
    /// IP when `use_private_ip` (the load balancer must be attached to the servers'
    /// network first).
    ///
    /// # Errors
    /// [`Error::Request`] "while adding target SELECTOR to load balancer ID".
    pub async fn add_selector_target(
        &self,
        id: LoadBalancerId,
        selector: &str,
        use_private_ip: bool,
    ) -> Result<Action, Error> {
        let body = json!({
            "type": "label_selector",
            "label_selector": {"selector": selector},
            "use_private_ip": use_private_ip,
        });
        self.one_action(
            format!("/load_balancers/{id}/actions/add_target"),
            body,
            format!("adding target {selector} to load balancer {id}"),
        )
        .await
    }

    /// Changes the type of load balancer `id` to `load_balancer_type` (`lb21`), keeping
    /// its address, services and targets.
    ///
    /// # Errors
    /// [`Error::Request`] "while changing the type of load balancer ID"
    /// (`invalid_load_balancer_type` when the new type is too small for its services).
    pub async fn change_load_balancer_type(
        &self,
        id: LoadBalancerId,
        load_balancer_type: &str,
    ) -> Result<Action, Error> {
        self.one_action(
            format!("/load_balancers/{id}/actions/change_type"),
            json!({ "load_balancer_type": load_balancer_type }),
            format!("changing the type of load balancer {id}"),
        )
        .await
    }

    /// Removes the label-selector target `selector` (as the load balancer lists it) from
    /// load balancer `id`.
    ///
    /// # Errors
    /// [`Error::Request`] "while removing target SELECTOR from load balancer ID".
    pub async fn remove_selector_target(&self, id: LoadBalancerId, selector: &str) -> Result<Action, Error> {
        let body = json!({"type": "label_selector", "label_selector": {"selector": selector}});
        self.one_action(
            format!("/load_balancers/{id}/actions/remove_target"),
            body,
            format!("removing target {selector} from load balancer {id}"),
        )
        .await
    }

    /// Attaches load balancer `id` to `network`, at `ip` when given (else the API picks a
    /// free address).
    ///
    /// # Errors
    /// [`Error::Request`] "while attaching load balancer ID to network ID".
    pub async fn attach_load_balancer_to_network(
        &self,
        id: LoadBalancerId,
        network: NetworkId,
        ip: Option<std::net::Ipv4Addr>,
    ) -> Result<Action, Error> {
        self.one_action(
            format!("/load_balancers/{id}/actions/attach_to_network"),
            super::servers::attach_to_network(network, ip),
            format!("attaching load balancer {id} to network {network}"),
        )
        .await
    }

    /// Assigns floating IP `id` to `server` (routed to it at once; the server still has to
    /// configure the address).
    ///
    /// # Errors
    /// [`Error::Request`] "while assigning floating IP ID to server ID"
    /// (`floating_ip_assigned` when it already is).
    pub async fn assign_floating_ip(&self, id: FloatingIpId, server: ServerId) -> Result<Action, Error> {
        self.one_action(
            format!("/floating_ips/{id}/actions/assign"),
            json!({ "server": server.get() }),
            format!("assigning floating IP {id} to server {server}"),
        )
        .await
    }

    /// Unassigns floating IP `id` from its server.
    ///
    /// # Errors
    /// [`Error::Request`] "while unassigning floating IP ID".
    pub async fn unassign_floating_ip(&self, id: FloatingIpId) -> Result<Action, Error> {
        self.one_action(
            format!("/floating_ips/{id}/actions/unassign"),
            json!({}),
            format!("unassigning floating IP {id}"),
        )
        .await
    }

    /// `add_service` or `update_service` (`command`) of `service` on load balancer `id`.
    async fn service_action(
        &self,
        id: LoadBalancerId,
        command: &str,
        service: &LoadBalancerService,
        doing: &str,
    ) -> Result<Action, Error> {
        let port = service.listen_port;
        let operation = format!("{doing} service {port} on load balancer {id}");
        self.one_action(
            format!("/load_balancers/{id}/actions/{command}"),
            json!(service),
            operation,
        )
        .await
    }

    /// Sends an action request (`POST path` with `body`) whose answer carries one action.
    async fn one_action(&self, path: String, body: Value, operation: String) -> Result<Action, Error> {
        let answer: ActionAnswer = self
            .request(&Call::action(path, body))
            .await
            .map_err(during(operation))?;
        Ok(answer.action)
    }
}
