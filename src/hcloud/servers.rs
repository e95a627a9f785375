//! Servers: create (not started, with labels and SSH keys), read, list by label, delete,
//! power and rescue actions, and snapshots of their disk.

use hcloud::models::{Action, Image, Server};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::redact::Redacted;

use super::client::{Call, Client};
use super::error::{Error, RequestError, during, is_not_found};
use super::ids::{FirewallId, ImageId, NetworkId, PlacementGroupId, PrimaryIpId, ServerId, SshKeyId};
use super::labels::{Labels, Selector};
use super::ssh_keys::with_selector;

/// What a new server looks like.
#[derive(Debug, Clone)]
pub struct CreateServer {
    /// Unique server name (a hostname).
    pub name: String,
    /// Server type name (`cax11`, `cx22`).
    pub server_type: String,
    /// Image name (`ubuntu-24.04`) or ID.
    pub image: String,
    /// Location name (`fsn1`); `None` lets the API choose.
    pub location: Option<String>,
    /// SSH keys to install (rescue and image).
    pub ssh_keys: Vec<SshKeyId>,
    /// Labels; also how the server is found again after an ambiguous create.
    pub labels: Labels,
    /// Start it at once (`false` for builders: rescue is enabled first).
    pub start_after_create: bool,
    /// Placement group to join.
    pub placement_group: Option<PlacementGroupId>,
    /// Private networks to attach.
    pub networks: Vec<NetworkId>,
    /// Firewalls to apply.
    pub firewalls: Vec<FirewallId>,
    /// cloud-init / Talos machine config (at most 32 KiB).
    pub user_data: Option<Redacted<String>>,
    /// An existing primary IPv4 to take (else the API makes one that dies with the server).
    pub primary_ipv4: Option<PrimaryIpId>,
}

impl CreateServer {
    /// A server with the required fields; not started, no keys, labels or networks.
    pub fn new(name: &str, server_type: &str, image: &str, labels: Labels) -> CreateServer {
        CreateServer {
            name: name.to_string(),
            server_type: server_type.to_string(),
            image: image.to_string(),
            location: None,
            ssh_keys: Vec::new(),
            labels,
            start_after_create: false,
            placement_group: None,
            networks: Vec::new(),
            firewalls: Vec::new(),
            user_data: None,
            primary_ipv4: None,
        }
    }

    fn body(&self) -> Value {
        let mut request =
            hcloud::models::CreateServerRequest::new(self.image.clone(), self.name.clone(), self.server_type.clone());
        request.location = self.location.clone();
        request.labels = Some(self.labels.to_map());
        request.start_after_create = Some(self.start_after_create);
        if !self.ssh_keys.is_empty() {
            request.ssh_keys = Some(self.ssh_keys.iter().map(ToString::to_string).collect());
        }
        request.placement_group = self.placement_group.map(PlacementGroupId::get);
        if !self.networks.is_empty() {
            request.networks = Some(self.networks.iter().map(|id| id.get()).collect());
        }
        if !self.firewalls.is_empty() {
            request.firewalls = Some(
                self.firewalls
                    .iter()
                    .map(|id| hcloud::models::CreateServerRequestFirewalls::new(id.get()))
                    .collect(),
            );
        }
        request.user_data = self.user_data.as_ref().map(|data| data.expose().clone());
        let mut body = serde_json::to_value(request).unwrap_or(Value::Null);
        if let Some(ipv4) = self.primary_ipv4 {
            body["public_net"] = json!({"enable_ipv4": true, "enable_ipv6": true, "ipv4": ipv4.get()});
        }
        body
    }
}

/// A created server and the actions to await.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedServer {
    /// The server as the create answer (or the lookup) showed it.
    pub server: Server,
    /// `create_server`; `None` when the server was found by lookup after an ambiguous create.
    #[serde(default)]
    pub action: Option<Action>,
    /// Follow-up actions (`start_server`, `attach_to_network`, …); after a lookup, the
    /// server's running actions.
    #[serde(default)]
    pub next_actions: Vec<Action>,
    /// The root password (only without SSH keys); never printed.
    #[serde(default, deserialize_with = "redacted_password")]
    pub root_password: Option<Redacted<String>>,
}

impl CreatedServer {
    /// The server's ID.
    pub fn id(&self) -> ServerId {
        ServerId::new(self.server.id)
    }

    /// Every action to await before the server is ready.
    pub fn action_ids(&self) -> Vec<super::ActionId> {
        self.action
            .iter()
            .chain(&self.next_actions)
            .map(|a| super::ActionId::new(a.id))
            .collect()
    }
}

/// A server in rescue mode, once its action finishes.
#[derive(Debug, Clone, Deserialize)]
pub struct RescueEnabled {
    /// `enable_rescue`.
    pub action: Action,
    /// The rescue root password (with SSH keys given, only as a fallback); never printed.
    #[serde(default, deserialize_with = "redacted_password")]
    pub root_password: Option<Redacted<String>>,
}

/// A snapshot being created.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedImage {
    /// The image (`creating` at first).
    pub image: Image,
    /// `create_image`; `None` when found by lookup after an ambiguous create and no running
    /// `create_image` action was seen.
    #[serde(default)]
    pub action: Option<Action>,
}

impl CreatedImage {
    /// The image's ID.
    pub fn id(&self) -> ImageId {
        ImageId::new(self.image.id)
    }
}

/// The body of an `attach_to_network` action (servers and load balancers take the same):
/// `network`, and `ip` when one is asked for.
pub(super) fn attach_to_network(network: NetworkId, ip: Option<std::net::Ipv4Addr>) -> Value {
    let mut body = json!({"network": network.get()});
    if let Some(ip) = ip {
        body["ip"] = json!(ip.to_string());
    }
    body
}

/// Reads an optional password straight into [`Redacted`].
fn redacted_password<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Redacted<String>>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(Redacted::new))
}

#[derive(Deserialize)]
struct ServerAnswer {
    server: Server,
}

#[derive(Deserialize)]
struct ActionAnswer {
    action: Action,
}

#[derive(Deserialize)]
struct OptionalActionAnswer {
    #[serde(default)]
    action: Option<Action>,
}

impl Client {
    /// Creates a server.
    ///
    /// After an ambiguous failure (connection dropped after sending, 5xx) the server is
    /// looked up by name and must carry the requested labels; only if it is absent is the
    /// create sent again. So a dropped answer never leaves two servers.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating server NAME"; capacity problems carry
    /// `resource_unavailable` or `placement_error` ([`super::ErrorCode::is_capacity`]).
    pub async fn create_server(&self, spec: &CreateServer) -> Result<CreatedServer, Error> {
        let call = Call::create("/servers", spec.body());
        self.create(&call, || async {
            let Some(server) = self.find_server_request(&spec.name).await? else {
                return Ok(None);
            };
            if !spec.labels.matched_by(&server.labels) {
                return Ok(None);
            }
            let running = self.running_actions(ServerId::new(server.id)).await?;
            Ok(Some(CreatedServer {
                server,
                action: None,
                next_actions: running,
                root_password: None,
            }))
        })
        .await
        .map_err(during(format!("creating server {}", spec.name)))
    }

    /// The server `id`, or `None` when it does not exist.
    ///
    /// # Errors
    /// [`Error::Request`] for other failures.
    pub async fn get_server(&self, id: ServerId) -> Result<Option<Server>, Error> {
        match self.request::<ServerAnswer>(&Call::get(format!("/servers/{id}"))).await {
            Ok(answer) => Ok(Some(answer.server)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(during(format!("reading server {id}"))(error)),
        }
    }

    /// The server called `name`, if there is one.
    ///
    /// # Errors
    /// [`Error::Request`] when the list cannot be read.
    pub async fn find_server(&self, name: &str) -> Result<Option<Server>, Error> {
        self.find_server_request(name)
            .await
            .map_err(during(format!("looking up server {name}")))
    }

    async fn find_server_request(&self, name: &str) -> Result<Option<Server>, RequestError> {
        let servers: Vec<Server> = self.list(Call::get("/servers").query("name", name), "servers").await?;
        Ok(servers.into_iter().find(|server| server.name == name))
    }

    /// Every server matching `selector`.
    ///
    /// # Errors
    /// [`Error::Request`] when the list cannot be read.
    pub async fn list_servers(&self, selector: &Selector) -> Result<Vec<Server>, Error> {
        self.list(with_selector(Call::get("/servers"), selector), "servers")
            .await
            .map_err(during(format!("listing servers ({selector})")))
    }

    /// Deletes server `id`; returns the `delete_server` action, or `None` when the server
    /// was already gone.
    ///
    /// # Errors
    /// [`Error::Request`] "while deleting server ID" (`protected` when delete protection is on).
    pub async fn delete_server(&self, id: ServerId) -> Result<Option<Action>, Error> {
        match self
            .request::<OptionalActionAnswer>(&Call::delete(format!("/servers/{id}")))
            .await
        {
            Ok(answer) => Ok(answer.action),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(during(format!("deleting server {id}"))(error)),
        }
    }

    /// Powers server `id` on.
    ///
    /// # Errors
    /// [`Error::Request`] "while powering on server ID".
    pub async fn poweron_server(&self, id: ServerId) -> Result<Action, Error> {
        self.server_action(id, "poweron", json!({}), "powering on").await
    }

    /// Cuts server `id`'s power (no guest shutdown).
    ///
    /// # Errors
    /// [`Error::Request`] "while powering off server ID".
    pub async fn poweroff_server(&self, id: ServerId) -> Result<Action, Error> {
        self.server_action(id, "poweroff", json!({}), "powering off").await
    }

    /// Asks server `id`'s guest to shut down (ACPI); the action ends when the signal is
    /// sent, not when the server is off.
    ///
    /// # Errors
    /// [`Error::Request`] "while shutting down server ID".
    pub async fn shutdown_server(&self, id: ServerId) -> Result<Action, Error> {
        self.server_action(id, "shutdown", json!({}), "shutting down").await
    }

    /// Resets server `id` (hard reboot).
    ///
    /// # Errors
    /// [`Error::Request`] "while resetting server ID".
    pub async fn reset_server(&self, id: ServerId) -> Result<Action, Error> {
        self.server_action(id, "reset", json!({}), "resetting").await
    }

    /// Enables the rescue system (linux64) for the next boot of server `id`, with `ssh_keys`.
    ///
    /// # Errors
    /// [`Error::Request`] "while enabling rescue on server ID".
    pub async fn enable_rescue(&self, id: ServerId, ssh_keys: &[SshKeyId]) -> Result<RescueEnabled, Error> {
        let keys: Vec<i64> = ssh_keys.iter().map(|k| k.get()).collect();
        let call = Call::action(
            format!("/servers/{id}/actions/enable_rescue"),
            json!({"type": "linux64", "ssh_keys": keys}),
        );
        self.request(&call)
            .await
            .map_err(during(format!("enabling rescue on server {id}")))
    }

    /// Takes a snapshot of server `id`'s disk with `description` and `labels`.
    ///
    /// After an ambiguous failure the snapshot is looked up by its labels and origin
    /// (`created_from` = this server) before the request is sent again.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating a snapshot of server ID".
    pub async fn create_image(&self, id: ServerId, description: &str, labels: &Labels) -> Result<CreatedImage, Error> {
        let call = Call::create(
            format!("/servers/{id}/actions/create_image"),
            json!({"type": "snapshot", "description": description, "labels": labels.to_map()}),
        );
        self.create(&call, || async {
            let images: Vec<Image> = self
                .list(
                    with_selector(Call::get("/images").query("type", "snapshot"), &labels.selector()),
                    "images",
                )
                .await?;
            let found = images
                .into_iter()
                .filter(|image| image.created_from.as_ref().is_some_and(|from| from.id == id.get()))
                .filter(|image| image.description == description)
                .max_by_key(|image| image.id);
            let Some(image) = found else {
                return Ok(None);
            };
            let action = self
                .running_actions(id)
                .await?
                .into_iter()
                .find(|action| action.command == "create_image");
            Ok(Some(CreatedImage { image, action }))
        })
        .await
        .map_err(during(format!("creating a snapshot of server {id}")))
    }

    /// Attaches server `id` to network `network`, at address `ip` when given (else the
    /// API picks the lowest free one).
    ///
    /// # Errors
    /// [`Error::Request`] "while attaching server ID to network NETWORK".
    pub async fn attach_server_to_network(
        &self,
        id: ServerId,
        network: NetworkId,
        ip: Option<std::net::Ipv4Addr>,
    ) -> Result<Action, Error> {
        let operation = format!("attaching server {id} to network {network}");
        self.server_action_named(id, "attach_to_network", attach_to_network(network, ip), operation)
            .await
    }

    /// The running actions of server `id`, so a later run can wait for what an
    /// interrupted one started.
    ///
    /// # Errors
    /// [`Error::Request`] "while reading the running actions of server ID".
    pub async fn running_server_actions(&self, id: ServerId) -> Result<Vec<Action>, Error> {
        self.running_actions(id)
            .await
            .map_err(during(format!("reading the running actions of server {id}")))
    }

    /// The running actions of server `id`.
    async fn running_actions(&self, id: ServerId) -> Result<Vec<Action>, RequestError> {
        self.list(
            Call::get(format!("/servers/{id}/actions")).query("status", "running"),
            "actions",
        )
        .await
    }

    async fn server_action(&self, id: ServerId, command: &str, body: Value, doing: &str) -> Result<Action, Error> {
        self.server_action_named(id, command, body, format!("{doing} server {id}"))
            .await
    }

    async fn server_action_named(
        &self,
        id: ServerId,
        command: &str,
        body: Value,
        operation: String,
    ) -> Result<Action, Error> {
        let call = Call::action(format!("/servers/{id}/actions/{command}"), body);
        let answer: ActionAnswer = self.request(&call).await.map_err(during(operation))?;
        Ok(answer.action)
    }
}
