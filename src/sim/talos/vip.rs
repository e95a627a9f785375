//! The Talos hcloud VIP controller of an emulated control plane (reference `talos.md`
//! §G.2, checked against siderolabs/talos `network/operator/vip.go` and `vip/hcloud.go`).
//!
//! Every configured control plane whose machine configuration carries an hcloud VIP
//! (`machine.network.interfaces[].vip.hcloud.apiToken` or `.vlans[].vip`, or a v1.12+
//! `HCloudVIPConfig` document) campaigns in an election held in the cluster's emulated
//! etcd ([`TalosCluster::campaign`]) under `talos:v1:vip:election:<VIP>`, every second of
//! simulated time, while its etcd member is healthy and the cluster has quorum. The winner
//! holds a lease of [`LEASE_TTL`] (etcd's default session TTL, 60 s) that it renews while
//! it runs; a holder that is powered off, crashed or cut off stops renewing, and another
//! control plane wins once the lease expires.
//!
//! On winning, the node does what Talos's hcloud handler does, over HTTP against the API
//! endpoint of its metadata ([`HcloudMetadata`]) with the token from its configuration:
//! `GET /servers/{own id}`; for a private VIP (RFC 1918 / ULA) the attached network whose
//! `ip_range` contains it, the alias cleared on whichever server holds it
//! (`change_alias_ips` with `[]`) and set on its own server; otherwise the floating IP whose
//! address is the VIP, assigned to its own server. A failed acquisition resigns and retries
//! a second later. A leader that loses the election (it is no longer the lease holder)
//! releases: a private alias is cleared; a floating IP stays where it is until the next
//! winner assigns it.
//!
//! Emulator choices: graceful shutdowns do not resign early (failover always waits for the
//! lease), and a floating IP that is already assigned to the winner (`floating_ip_assigned`)
//! counts as acquired.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::cluster::TalosCluster;
use super::node::{NodeShared, Phase};
use crate::redact::Redacted;

/// How long an election lease lives without renewal (etcd `concurrency.NewSession`'s
/// default TTL, which Talos uses).
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// How often a control plane campaigns and renews (Talos's `campaignRetryInterval`).
pub const CAMPAIGN_INTERVAL: Duration = Duration::from_secs(1);

/// What the Hetzner metadata service tells a server about itself, for the VIP controller:
/// its ID (`/hetzner/v1/metadata/instance-id`) and where the (emulated) Cloud API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcloudMetadata {
    /// The server's ID.
    pub server_id: u64,
    /// The Cloud API endpoint, e.g. `http://127.0.0.1:41234/v1`.
    pub api_endpoint: String,
}

/// An hcloud VIP found in a machine configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcloudVipSpec {
    /// The shared IP.
    pub ip: IpAddr,
    /// The Hetzner Cloud API token the controller uses.
    pub api_token: Redacted<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    kind: Option<String>,
    machine: Option<Machine>,
    // HCloudVIPConfig
    name: Option<String>,
    api_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Machine {
    network: Option<Network>,
}

#[derive(Debug, Default, Deserialize)]
struct Network {
    interfaces: Option<Vec<Interface>>,
}

#[derive(Debug, Default, Deserialize)]
struct Interface {
    vip: Option<Vip>,
    vlans: Option<Vec<Vlan>>,
}

#[derive(Debug, Default, Deserialize)]
struct Vlan {
    vip: Option<Vip>,
}

#[derive(Debug, Default, Deserialize)]
struct Vip {
    ip: Option<String>,
    hcloud: Option<HcloudToken>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HcloudToken {
    api_token: Option<String>,
}

/// The hcloud VIPs of a machine configuration, in document order, each address once.
/// A configuration that does not parse has none.
pub fn hcloud_vips(raw: &[u8]) -> Vec<HcloudVipSpec> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Vec::new();
    };
    let Ok(docs) = serde_saphyr::from_multiple::<Doc>(text) else {
        return Vec::new();
    };
    let mut found: Vec<(Option<String>, Option<String>)> = Vec::new();
    for doc in docs {
        if doc.kind.as_deref() == Some("HCloudVIPConfig") {
            found.push((doc.name, doc.api_token));
            continue;
        }
        let interfaces = doc.machine.and_then(|m| m.network).and_then(|n| n.interfaces);
        for interface in interfaces.into_iter().flatten() {
            let vlan_vips = interface.vlans.into_iter().flatten().filter_map(|v| v.vip);
            for vip in interface.vip.into_iter().chain(vlan_vips) {
                if let Some(hcloud) = vip.hcloud {
                    found.push((vip.ip, hcloud.api_token));
                }
            }
        }
    }
    let mut seen = BTreeSet::new();
    found
        .into_iter()
        .filter_map(|(ip, token)| {
            let ip: IpAddr = ip?.trim().parse().ok()?;
            let token = token.filter(|t| !t.is_empty())?;
            seen.insert(ip).then(|| HcloudVipSpec {
                ip,
                api_token: Redacted::new(token),
            })
        })
        .collect()
}

/// The etcd key of a VIP's election.
pub fn election_key(vip: IpAddr) -> String {
    format!("talos:v1:vip:election:{vip}")
}

/// Go's `netip.Addr.IsPrivate`: RFC 1918 IPv4 and RFC 4193 IPv6 (what makes Talos use an
/// alias IP instead of a floating IP).
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Why acquiring or releasing a VIP failed (logged; the controller retries).
#[derive(Debug, thiserror::Error)]
pub enum VipError {
    /// The request could not be made or its answer not read.
    #[error("{what}: request to the Cloud API failed")]
    Http {
        /// The step.
        what: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error.
    #[error("{what}: the Cloud API answered {status}: {body}")]
    Api {
        /// The step.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The error body (never contains the token).
        body: String,
    },
    /// Neither a floating IP nor a network for an alias IP matches the VIP.
    #[error("error assigning {vip:?} to server {server}: floating IP / alias IP is not found")]
    NotFound {
        /// The VIP.
        vip: String,
        /// This node's server.
        server: u64,
    },
}

/// The Cloud API as the handler uses it.
struct Api<'a> {
    http: &'a reqwest::Client,
    endpoint: &'a str,
    token: &'a Redacted<String>,
}

impl Api<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, VipError> {
        let url = format!("{}{path}", self.endpoint.trim_end_matches('/'));
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.token.expose())
            .header("User-Agent", "talos/emulated hcloud-go");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let http_error = |source| VipError::Http {
            what: what.to_string(),
            source,
        };
        let response = request.send().await.map_err(http_error)?;
        let status = response.status();
        let text = response.text().await.map_err(http_error)?;
        if !status.is_success() {
            return Err(VipError::Api {
                what: what.to_string(),
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET path`; `what` names the call in errors.
    async fn get(&self, path: &str, what: &str) -> Result<Value, VipError> {
        self.call(reqwest::Method::GET, path, None, what).await
    }

    /// Every item of a paginated list (`key` in each page).
    async fn all(&self, path: &str, key: &str, what: &str) -> Result<Vec<Value>, VipError> {
        let mut items = Vec::new();
        let mut page = 1u64;
        loop {
            let answer = self.get(&format!("{path}?page={page}&per_page=50"), what).await?;
            items.extend(answer[key].as_array().cloned().unwrap_or_default());
            match answer["meta"]["pagination"]["next_page"].as_u64() {
                Some(next) if next > page => page = next,
                _ => return Ok(items),
            }
        }
    }
}

/// What the handler learnt at configuration time (`GetNetworkAndDeviceIDs`).
struct Handler {
    vip: IpAddr,
    server: u64,
    /// The network of a private VIP (0: a floating IP).
    network: u64,
}

impl Handler {
    async fn discover(api: &Api<'_>, vip: IpAddr, server: u64) -> Result<Handler, VipError> {
        let me = api
            .get(&format!("/servers/{server}"), "error getting server info")
            .await?;
        let mut network = 0;
        if is_private(vip) {
            for attached in me["server"]["private_net"].as_array().into_iter().flatten() {
                let Some(id) = attached["network"].as_u64() else {
                    continue;
                };
                let answer = api
                    .get(&format!("/networks/{id}"), "error getting network info")
                    .await?;
                let contains = answer["network"]["ip_range"]
                    .as_str()
                    .and_then(|range| range.parse::<ipnet::IpNet>().ok())
                    .is_some_and(|range| range.contains(&vip));
                if contains {
                    network = id;
                    break;
                }
            }
        }
        Ok(Handler { vip, server, network })
    }

    async fn acquire(&self, api: &Api<'_>) -> Result<(), VipError> {
        let vip = self.vip.to_string();
        if self.network > 0 {
            let servers = api.all("/servers", "servers", "error getting server list").await?;
            let holder = servers.iter().find(|s| {
                s["private_net"].as_array().into_iter().flatten().any(|p| {
                    p["network"].as_u64() == Some(self.network)
                        && p["alias_ips"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|a| a.as_str() == Some(&vip))
                })
            });
            if let Some(old) = holder.and_then(|s| s["id"].as_u64()) {
                self.change_alias_ips(api, old, &[]).await?;
            }
            return self.change_alias_ips(api, self.server, &[vip.as_str()]).await;
        }
        let floating = api
            .all("/floating_ips", "floating_ips", "error getting floatingIPs list")
            .await?;
        let Some(id) = floating
            .iter()
            .find(|f| f["ip"].as_str() == Some(&vip))
            .and_then(|f| f["id"].as_u64())
        else {
            return Err(VipError::NotFound {
                vip,
                server: self.server,
            });
        };
        let assigned = api
            .call(
                reqwest::Method::POST,
                &format!("/floating_ips/{id}/actions/assign"),
                Some(json!({"server": self.server})),
                &format!("error assigning {vip:?} on server {}", self.server),
            )
            .await;
        match assigned {
            Err(VipError::Api { body, .. }) if body.contains("floating_ip_assigned") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn release(&self, api: &Api<'_>) -> Result<(), VipError> {
        if self.network > 0 {
            self.change_alias_ips(api, self.server, &[]).await?;
        }
        Ok(())
    }

    async fn change_alias_ips(&self, api: &Api<'_>, server: u64, aliases: &[&str]) -> Result<(), VipError> {
        api.call(
            reqwest::Method::POST,
            &format!("/servers/{server}/actions/change_alias_ips"),
            Some(json!({"network": self.network, "alias_ips": aliases})),
            &format!("error changing alias IPs of server {server}"),
        )
        .await
        .map(|_| ())
    }
}

/// What the controller needs of its node at one moment: it is a configured, running
/// control plane, with these VIPs.
struct Campaigner {
    cluster: Arc<TalosCluster>,
    hostname: String,
    address: IpAddr,
    vips: Vec<HcloudVipSpec>,
}

fn campaigner(node: &NodeShared) -> Option<Campaigner> {
    if !matches!(node.mode(), super::NodeMode::Configured(machine_type) if machine_type.is_control_plane()) {
        return None;
    }
    let state = node.lock();
    let Phase::Configured(configured) = &state.phase else {
        return None;
    };
    Some(Campaigner {
        cluster: configured.cluster.clone(),
        hostname: configured.hostname.clone(),
        address: node.address,
        vips: hcloud_vips(&configured.config.raw),
    })
}

/// Runs the controller of one node until `stop` turns true or the node is gone.
pub(crate) async fn run(node: Weak<NodeShared>, metadata: HcloudMetadata, mut stop: watch::Receiver<bool>) {
    let http = reqwest::Client::new();
    // VIPs this node leads, with what their handler learnt.
    let mut leading: Vec<(HcloudVipSpec, Handler)> = Vec::new();
    loop {
        let Some(shared) = node.upgrade() else {
            return;
        };
        let clock = shared.clock.clone();
        let now = clock.now();
        match campaigner(&shared) {
            None => leading.clear(),
            Some(me) => {
                let member_ok =
                    me.cluster.member_on(me.address).is_some_and(|m| m.healthy) && me.cluster.quorum().has_quorum();
                for vip in &me.vips {
                    let key = election_key(vip.ip);
                    let won = member_ok
                        && me.cluster.campaign(&key, &me.hostname, now, LEASE_TTL).as_deref() == Some(&me.hostname);
                    let position = leading.iter().position(|(v, _)| v == vip);
                    match (won, position) {
                        (true, None) => {
                            let api = Api {
                                http: &http,
                                endpoint: &metadata.api_endpoint,
                                token: &vip.api_token,
                            };
                            let acquired = match Handler::discover(&api, vip.ip, metadata.server_id).await {
                                Ok(handler) => handler.acquire(&api).await.map(|()| handler),
                                Err(error) => Err(error),
                            };
                            match acquired {
                                Ok(handler) => leading.push((vip.clone(), handler)),
                                Err(error) => {
                                    tracing::warn!(vip = %vip.ip, node = %me.address, error = %crate::error::chain(&error).join(": "), "emulated Talos VIP: acquire failed, resigning");
                                    me.cluster.resign(&key, &me.hostname);
                                }
                            }
                        }
                        (false, Some(index)) => {
                            let (vip, handler) = leading.remove(index);
                            let api = Api {
                                http: &http,
                                endpoint: &metadata.api_endpoint,
                                token: &vip.api_token,
                            };
                            if let Err(error) = handler.release(&api).await {
                                tracing::warn!(vip = %vip.ip, node = %me.address, error = %crate::error::chain(&error).join(": "), "emulated Talos VIP: release failed");
                            }
                        }
                        _ => {}
                    }
                }
                leading.retain(|(v, _)| me.vips.contains(v));
            }
        }
        drop(shared);
        tokio::select! {
            () = clock.sleep(CAMPAIGN_INTERVAL) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_config_forms_are_read_and_the_token_stays_hidden() {
        let legacy = b"version: v1alpha1\nmachine:\n  network:\n    interfaces:\n      - deviceSelector: {busPath: \"0000:01:00.0\"}\n        vip:\n          ip: 127.2.0.2\n          hcloud:\n            apiToken: secret-token\n      - interface: eth1\n        vlans:\n          - vlanId: 5\n            vip: {ip: 10.0.0.100, hcloud: {apiToken: other}}\n";
        let vips = hcloud_vips(legacy);
        assert_eq!(
            vips.iter().map(|v| v.ip.to_string()).collect::<Vec<_>>(),
            ["127.2.0.2", "10.0.0.100"]
        );
        assert_eq!(vips[0].api_token.expose(), "secret-token");
        assert!(!format!("{vips:?}").contains("secret-token"));

        let documents = b"version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: HCloudVIPConfig\nname: 127.2.0.9\nlink: public\napiToken: t\n";
        let vips = hcloud_vips(documents);
        assert_eq!(vips.len(), 1);
        assert_eq!(vips[0].ip.to_string(), "127.2.0.9");
    }

    #[test]
    fn vips_without_hcloud_or_token_are_not_ours() {
        let layer2 = b"version: v1alpha1\nmachine:\n  network:\n    interfaces:\n      - interface: eth0\n        vip: {ip: 127.2.0.2}\n      - interface: eth1\n        vip: {ip: 127.2.0.3, hcloud: {apiToken: \"\"}}\n";
        assert!(hcloud_vips(layer2).is_empty());
        assert!(hcloud_vips(b"\xff").is_empty());
    }

    #[test]
    fn private_means_rfc1918_or_ula() {
        assert!(is_private("10.0.1.5".parse().expect("ip")));
        assert!(is_private("fd00::1".parse().expect("ip")));
        assert!(!is_private("127.2.0.2".parse().expect("ip")));
        assert!(!is_private("2001:db8::1".parse().expect("ip")));
    }
}
