//! The other resources of a cluster: networks and subnets, firewalls, placement groups,
//! floating and primary IPs, and load balancers; list by label, create with labels
//! (found again by name after an ambiguous failure, like servers), delete.
//!
//! Two places read the live API with this client's own model instead of the crate's
//! (docs/simulator.md, "The `hcloud` 0.26 crate against the emulator"): primary IPs
//! ([`PrimaryIp`], because `assignee_type: unassigned` breaks the crate's closed enum) and
//! the answer of a load balancer delete (its `delete_load_balancer` action).

use std::collections::HashMap;

use hcloud::models::{Action, Firewall, FloatingIp, LoadBalancer, LoadBalancerService, Network, PlacementGroup, Rule};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::{Call, Client};
use super::error::{Error, RequestError, during, is_not_found};
use super::ids::{FirewallId, FloatingIpId, LoadBalancerId, NetworkId, PlacementGroupId, PrimaryIpId};
use super::labels::{Labels, Selector};
use super::ssh_keys::with_selector;

/// A created resource and the actions to await before it is ready.
#[derive(Debug, Clone)]
pub struct Created<T> {
    /// The resource as the create answer (or the lookup) showed it.
    pub resource: T,
    /// Its actions (`create_*`, `apply_firewall`, …); empty after a lookup.
    pub actions: Vec<Action>,
}

/// A primary IP, read tolerantly: the live API says `assignee_type: unassigned` for an IP
/// that belongs to no server, which the crate's model cannot decode.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PrimaryIp {
    /// Its ID.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The address (`ipv4`) or the `/64` (`ipv6`).
    pub ip: String,
    /// `ipv4` or `ipv6`.
    #[serde(rename = "type")]
    pub ip_type: String,
    /// The server it is assigned to.
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// `server` or `unassigned`.
    pub assignee_type: String,
    /// Deleted together with its server.
    pub auto_delete: bool,
    /// Labels.
    #[serde(default)]
    pub labels: HashMap<String, String>,
    /// Where it lives (a primary IP can only be assigned to servers there).
    #[serde(default)]
    pub location: Option<NamedLocation>,
    /// Delete protection.
    #[serde(default)]
    pub protection: DeleteProtection,
}

/// A location as far as a resource names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NamedLocation {
    /// Location name (`fsn1`).
    pub name: String,
}

/// Whether a resource is protected against deletion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct DeleteProtection {
    /// Delete protection is on.
    #[serde(default)]
    pub delete: bool,
}

/// Where each kind of resource lives in the API: `/{many}`, one resource under key `one`.
struct Kind {
    one: &'static str,
    many: &'static str,
    noun: &'static str,
}

impl Kind {
    /// The collection's path, `/{many}`.
    fn path(&self) -> String {
        format!("/{}", self.many)
    }
}

const NETWORKS: Kind = Kind {
    one: "network",
    many: "networks",
    noun: "network",
};
const FIREWALLS: Kind = Kind {
    one: "firewall",
    many: "firewalls",
    noun: "firewall",
};
const PLACEMENT_GROUPS: Kind = Kind {
    one: "placement_group",
    many: "placement_groups",
    noun: "placement group",
};
const FLOATING_IPS: Kind = Kind {
    one: "floating_ip",
    many: "floating_ips",
    noun: "floating IP",
};
const PRIMARY_IPS: Kind = Kind {
    one: "primary_ip",
    many: "primary_ips",
    noun: "primary IP",
};
const LOAD_BALANCERS: Kind = Kind {
    one: "load_balancer",
    many: "load_balancers",
    noun: "load balancer",
};

/// A kind's `list_*` (by label selector) and `delete_*` (`false` when already gone), the
/// same two calls for every kind whose delete answer carries nothing to keep; the notes
/// finish the generated docs.
macro_rules! list_and_delete {
    ($kind:ident: $resource:ty, $id:ty; $list:ident, $delete:ident;
     $noun:literal, $list_note:literal, $delete_note:literal) => {
        #[doc = concat!("Every ", $noun, " matching `selector`", $list_note, ".")]
        #[doc = ""]
        #[doc = "# Errors"]
        #[doc = "[`Error::Request`] when the list cannot be read."]
        pub async fn $list(&self, selector: &Selector) -> Result<Vec<$resource>, Error> {
            self.list_kind(&$kind, selector).await
        }

        #[doc = concat!("Deletes ", $noun, " `id`; `false` when it was already gone.")]
        #[doc = ""]
        #[doc = "# Errors"]
        #[doc = concat!("[`Error::Request`] \"while deleting ", $noun, " ID\"", $delete_note, ".")]
        pub async fn $delete(&self, id: $id) -> Result<bool, Error> {
            self.delete_kind(&$kind, id.get())
                .await
                .map(|gone| gone.is_some())
        }
    };
}

impl Client {
    /// Creates network `name` over `ip_range` with one cloud subnet per `(network_zone,
    /// ip_range)` of `subnets`.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating network NAME".
    pub async fn create_network(
        &self,
        name: &str,
        ip_range: &str,
        subnets: &[(&str, &str)],
        labels: &Labels,
    ) -> Result<Created<Network>, Error> {
        let subnets: Vec<Value> = subnets
            .iter()
            .map(|(zone, range)| json!({"type": "cloud", "network_zone": zone, "ip_range": range}))
            .collect();
        let body = json!({"name": name, "ip_range": ip_range, "subnets": subnets, "labels": labels.to_map()});
        self.create_kind(&NETWORKS, name, labels, body).await
    }

    /// Adds a cloud subnet to network `id`.
    ///
    /// # Errors
    /// [`Error::Request`] "while adding subnet RANGE to network ID".
    pub async fn add_subnet(&self, id: NetworkId, network_zone: &str, ip_range: &str) -> Result<Action, Error> {
        #[derive(Deserialize)]
        struct Answer {
            action: Action,
        }
        let call = Call::action(
            format!("/networks/{id}/actions/add_subnet"),
            json!({"type": "cloud", "network_zone": network_zone, "ip_range": ip_range}),
        );
        let answer: Answer = self
            .request(&call)
            .await
            .map_err(during(format!("adding subnet {ip_range} to network {id}")))?;
        Ok(answer.action)
    }

    list_and_delete!(NETWORKS: Network, NetworkId; list_networks, delete_network;
        "network", "", "");

    /// Creates firewall `name` with `rules`, applied to the servers matching `apply_to`
    /// (when given).
    ///
    /// # Errors
    /// [`Error::Request`] "while creating firewall NAME".
    pub async fn create_firewall(
        &self,
        name: &str,
        rules: &[Rule],
        apply_to: Option<&Selector>,
        labels: &Labels,
    ) -> Result<Created<Firewall>, Error> {
        let mut body = json!({"name": name, "rules": rules, "labels": labels.to_map()});
        if let Some(selector) = apply_to {
            body["apply_to"] =
                json!([{"type": "label_selector", "label_selector": {"selector": selector.to_string()}}]);
        }
        self.create_kind(&FIREWALLS, name, labels, body).await
    }

    list_and_delete!(FIREWALLS: Firewall, FirewallId; list_firewalls, delete_firewall;
        "firewall", "", " (`resource_in_use` while applied)");

    /// Creates spread placement group `name`.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating placement group NAME".
    pub async fn create_placement_group(&self, name: &str, labels: &Labels) -> Result<Created<PlacementGroup>, Error> {
        let body = json!({"name": name, "type": "spread", "labels": labels.to_map()});
        self.create_kind(&PLACEMENT_GROUPS, name, labels, body).await
    }

    list_and_delete!(PLACEMENT_GROUPS: PlacementGroup, PlacementGroupId; list_placement_groups, delete_placement_group;
        "placement group", "", "");

    /// Creates floating IP `name` (`ipv4` or `ipv6`) homed in `home_location`.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating floating IP NAME".
    pub async fn create_floating_ip(
        &self,
        name: &str,
        ip_type: &str,
        home_location: &str,
        labels: &Labels,
    ) -> Result<Created<FloatingIp>, Error> {
        let body = json!({"name": name, "type": ip_type, "home_location": home_location, "labels": labels.to_map()});
        self.create_kind(&FLOATING_IPS, name, labels, body).await
    }

    list_and_delete!(FLOATING_IPS: FloatingIp, FloatingIpId; list_floating_ips, delete_floating_ip;
        "floating IP", "", " (`must_be_unassigned` while assigned)");

    /// Creates unassigned primary IP `name` (`ipv4` or `ipv6`) in `location`, kept when a
    /// server it is later assigned to is deleted.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating primary IP NAME".
    pub async fn create_primary_ip(
        &self,
        name: &str,
        ip_type: &str,
        location: &str,
        labels: &Labels,
    ) -> Result<Created<PrimaryIp>, Error> {
        let body = json!({
            "name": name, "type": ip_type, "assignee_type": "server", "location": location,
            "auto_delete": false, "labels": labels.to_map(),
        });
        self.create_kind(&PRIMARY_IPS, name, labels, body).await
    }

    list_and_delete!(PRIMARY_IPS: PrimaryIp, PrimaryIpId; list_primary_ips, delete_primary_ip;
        "primary IP", ", unassigned ones included", " (`must_be_unassigned` while assigned)");

    /// Creates load balancer `name` of `load_balancer_type` (`lb11`) in `location`.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating load balancer NAME".
    pub async fn create_load_balancer(
        &self,
        name: &str,
        load_balancer_type: &str,
        location: &str,
        labels: &Labels,
    ) -> Result<Created<LoadBalancer>, Error> {
        let body = json!({
            "name": name, "load_balancer_type": load_balancer_type, "location": location,
            "labels": labels.to_map(),
        });
        self.create_kind(&LOAD_BALANCERS, name, labels, body).await
    }

    /// Creates load balancer `name` complete: its services, label-selector targets reached
    /// on their private IPs, and attached to `network`, in one request.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating load balancer NAME".
    pub async fn create_load_balancer_with(
        &self,
        request: &CreateLoadBalancer,
    ) -> Result<Created<LoadBalancer>, Error> {
        let targets: Vec<Value> = request
            .target_selectors
            .iter()
            .map(|selector| {
                json!({"type": "label_selector", "label_selector": {"selector": selector}, "use_private_ip": true})
            })
            .collect();
        let body = json!({
            "name": request.name, "load_balancer_type": request.load_balancer_type,
            "location": request.location, "labels": request.labels.to_map(), "network": request.network.get(),
            "services": request.services, "targets": targets, "algorithm": {"type": "round_robin"},
        });
        self.create_kind(&LOAD_BALANCERS, &request.name, &request.labels, body)
            .await
    }

    /// Every load balancer matching `selector`.
    ///
    /// # Errors
    /// [`Error::Request`] when the list cannot be read.
    pub async fn list_load_balancers(&self, selector: &Selector) -> Result<Vec<LoadBalancer>, Error> {
        self.list_kind(&LOAD_BALANCERS, selector).await
    }

    /// Deletes load balancer `id`; returns its `delete_load_balancer` action (the live API
    /// answers one; the crate drops it), `None` when it was already gone.
    ///
    /// # Errors
    /// [`Error::Request`] "while deleting load balancer ID".
    pub async fn delete_load_balancer(&self, id: LoadBalancerId) -> Result<Option<Action>, Error> {
        let answer = self.delete_kind(&LOAD_BALANCERS, id.get()).await?;
        Ok(answer
            .and_then(|mut body| body.get_mut("action").map(Value::take))
            .and_then(|action| serde_json::from_value(action).ok()))
    }

    async fn create_kind<T: DeserializeOwned>(
        &self,
        kind: &Kind,
        name: &str,
        labels: &Labels,
        body: Value,
    ) -> Result<Created<T>, Error> {
        let operation = format!("creating {} {name}", kind.noun);
        let call = Call::create(kind.path(), body);
        let answer: Value = self
            .create(&call, || async {
                let found: Vec<Value> = self.list(Call::get(kind.path()).query("name", name), kind.many).await?;
                Ok(found
                    .into_iter()
                    .find(|item| {
                        item["name"] == name
                            && serde_json::from_value::<HashMap<String, String>>(item["labels"].clone())
                                .is_ok_and(|have| labels.matched_by(&have))
                    })
                    .map(|item| json!({ kind.one: item })))
            })
            .await
            .map_err(during(operation.clone()))?;
        let decode = |source| {
            during(operation.clone())(RequestError::Decode {
                method: "POST".into(),
                path: kind.path(),
                source,
            })
        };
        let resource = serde_json::from_value(answer[kind.one].clone()).map_err(decode)?;
        let mut actions: Vec<Action> = Vec::new();
        if answer["action"].is_object() {
            actions.push(serde_json::from_value(answer["action"].clone()).map_err(decode)?);
        }
        if answer["actions"].is_array() {
            actions.extend(serde_json::from_value::<Vec<Action>>(answer["actions"].clone()).map_err(decode)?);
        }
        Ok(Created { resource, actions })
    }

    async fn list_kind<T: DeserializeOwned>(&self, kind: &Kind, selector: &Selector) -> Result<Vec<T>, Error> {
        self.list(with_selector(Call::get(kind.path()), selector), kind.many)
            .await
            .map_err(during(format!("listing {}s ({selector})", kind.noun)))
    }

    /// The delete answer's body (`null` for 204), or `None` when the resource was gone.
    async fn delete_kind(&self, kind: &Kind, id: i64) -> Result<Option<Value>, Error> {
        match self
            .request::<Value>(&Call::delete(format!("{}/{id}", kind.path())))
            .await
        {
            Ok(body) => Ok(Some(body)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(during(format!("deleting {} {id}", kind.noun))(error)),
        }
    }
}

/// A load balancer to create whole ([`Client::create_load_balancer_with`]).
#[derive(Debug, Clone)]
pub struct CreateLoadBalancer {
    /// Unique name.
    pub name: String,
    /// Type name (`lb11`).
    pub load_balancer_type: String,
    /// Location name.
    pub location: String,
    /// Labels; also how it is found again after an ambiguous create.
    pub labels: Labels,
    /// The private network its targets are reached on.
    pub network: NetworkId,
    /// Services, in the form `add_service` takes too.
    pub services: Vec<LoadBalancerService>,
    /// Label selectors of its targets.
    pub target_selectors: Vec<String>,
}
