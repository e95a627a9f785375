//! The emulator holds configs to the real network (issue 11, "Configs that work on the real
//! network"): three control planes created through the emulated Hetzner API behind the
//! design's firewall (50000/6443 from the admin CIDR, everything from the private network)
//! form an etcd quorum only on addresses their peers' firewalls let through. Configs as our
//! renderer writes them (etcd and the kubelet on the node subnet) work; the same configs
//! advertising the public address never get past the first member until the firewall opens
//! 2380 to the other nodes.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use talos_hcloud::cluster::desired::desired;
use talos_hcloud::cluster::live::Live;
use talos_hcloud::cluster::nodes::{NodeSet, NodeTarget, NodesError, check_health};
use talos_hcloud::node::kube::{KubeClient, KubeOptions};
use talos_hcloud::redact::Redacted;
use talos_hcloud::spec::{Role, Spec};
use talos_hcloud::talos::api::{MemberListScope, TalosconfigTarget};
use talos_hcloud::talos::config::render::{ApiEndpoint, ClusterInputs, render_cluster};
use talos_hcloud::talos::talosconfig::Talosconfig;

use crate::cluster_talos::{bundle, deliver_and_bootstrap, kubeconfig_of, node_set};
use crate::sim_common::Api;
use crate::sim_machines::{snapshot_of, talos_image};

const TALOS: &str = "v1.11.6";
const CLUSTER: &str = "tc-net";

fn spec() -> Spec {
    let text = format!(
        "name: {CLUSTER}\nprefix: tc-\nlocation: fsn1\ntalos:\n  version: {TALOS}\n  schematic: {{ customization: {{}} }}\n\
         kubernetes: {{ version: v1.34.1 }}\nnetwork: {{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }}\nendpoint: load-balancer\n\
         firewall: {{ admin_cidrs: [203.0.113.7/32] }}\ncontrolplane: {{ type: cx23, nodes: [cp-1, cp-2, cp-3] }}\n"
    );
    talos_hcloud::spec::parse(Path::new("cluster.yaml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

fn id(value: &Value) -> u64 {
    value["id"].as_u64().expect("an ID")
}

fn ip(text: &Value) -> IpAddr {
    text.as_str().expect("an address").parse().expect("an IP address")
}

/// Three control-plane servers from a Talos snapshot, on the network, behind the
/// design's control-plane firewall (attached at creation).
struct Servers {
    api: Api,
    firewall: u64,
    /// (server ID, public IPv4, private IP) of cp-1..3.
    nodes: Vec<(u64, IpAddr, IpAddr)>,
}

impl Servers {
    async fn create(spec: &Spec) -> Servers {
        let api = Api::start_with(talos_hcloud::sim::SimConfig {
            node_validator: std::sync::Arc::new(talos_hcloud::talos::config::validate::node_validator()),
            ..talos_hcloud::sim::SimConfig::default()
        })
        .await;
        let builder = id(&api.server("builder", json!({"server_type": "cx23"})).await["server"]);
        let arch = talos_hcloud::spec::Architecture::Amd64;
        let snapshot = snapshot_of(&api, builder, &talos_image(TALOS, arch)).await;

        let planned = desired(spec, &Live::default(), &Default::default()).expect("desired state");
        let network = api
            .create(
                "/networks",
                json!({"name": planned.network.name, "ip_range": planned.network.ip_range, "subnets": [{
                    "type": "cloud", "network_zone": planned.network.subnet.0, "ip_range": planned.network.subnet.1,
                }]}),
            )
            .await;
        let network = id(&network["network"]);
        let design = planned
            .firewalls
            .iter()
            .find(|f| f.role == Role::ControlPlane)
            .expect("a control-plane firewall");
        let rules: Vec<Value> = design.rules.iter().map(rule_json).collect();
        let firewall = api
            .create("/firewalls", json!({"name": design.name, "rules": rules}))
            .await;
        for action in firewall["actions"].as_array().cloned().unwrap_or_default() {
            api.finish(&action).await;
        }
        let firewall = id(&firewall["firewall"]);

        let mut nodes = Vec::new();
        for name in ["cp-1", "cp-2", "cp-3"] {
            let created = api
                .server(
                    &format!("tc-{name}"),
                    json!({"server_type": "cx23", "image": snapshot.to_string(), "networks": [network],
                           "firewalls": [{"firewall": firewall}]}),
                )
                .await;
            let server = api.get(&format!("/servers/{}", id(&created["server"]))).await.body;
            let server = &server["server"];
            assert_eq!(server["public_net"]["firewalls"][0]["status"], "applied", "{server}");
            nodes.push((
                id(server),
                ip(&server["public_net"]["ipv4"]["ip"]),
                ip(&server["private_net"][0]["ip"]),
            ));
        }
        Servers { api, firewall, nodes }
    }

    /// The node set of `configs` (cp-1..3 in order), dialled on the public addresses.
    fn set(&self, configs: Vec<String>) -> NodeSet {
        let nodes = configs
            .into_iter()
            .zip(&self.nodes)
            .enumerate()
            .map(|(n, (config, (_, public, private)))| NodeTarget {
                name: format!("cp-{}", n + 1),
                role: Role::ControlPlane,
                address: *public,
                private_ip: Some(*private),
                config: Redacted::new(config.into_bytes()),
                applied: None,
            })
            .collect();
        node_set(nodes, &self.talos_target())
    }

    fn talos_target(&self) -> TalosconfigTarget {
        let addresses: Vec<IpAddr> = self.nodes.iter().map(|(_, public, _)| *public).collect();
        let talosconfig =
            Talosconfig::derived_for_cluster(&bundle(), CLUSTER, addresses, time::OffsetDateTime::now_utc())
                .expect("talosconfig");
        TalosconfigTarget::from_talosconfig(&talosconfig, None).expect("usable")
    }

    /// Lets time pass (60 simulated seconds at a time) until the cluster has `members`
    /// etcd members, or `rounds` have gone by; returns the member count seen last.
    async fn members_after(&self, members: usize, rounds: usize) -> usize {
        let mut seen = 0;
        for _ in 0..rounds {
            seen = self
                .api
                .sim
                .talos()
                .cluster_ids()
                .iter()
                .filter_map(|c| self.api.sim.talos().cluster(c))
                .map(|c| c.members().len())
                .max()
                .unwrap_or(0);
            if seen == members {
                break;
            }
            self.api.sim.advance(Duration::from_secs(60));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen
    }
}

fn rule_json(rule: &talos_hcloud::cluster::desired::FirewallRule) -> Value {
    json!({"direction": rule.direction, "protocol": rule.protocol, "port": rule.port, "source_ips": rule.source_ips})
}

/// The control-plane configs our renderer writes, with cp-1's public address as endpoint.
fn rendered(spec: &Spec, endpoint: IpAddr) -> Vec<String> {
    let endpoint = ApiEndpoint::parse(&endpoint.to_string()).expect("endpoint");
    render_cluster(&ClusterInputs {
        spec,
        secrets: &bundle(),
        endpoint: &endpoint,
        hcloud_token: None,
    })
    .expect("configs render")
    .into_iter()
    .map(|node| node.yaml)
    .collect()
}

/// `yaml` without `cluster.etcd.advertisedSubnets` (and its list): etcd advertises the
/// first routed address, the public one.
fn without_advertised_subnets(yaml: &str) -> String {
    let mut out = Vec::new();
    let mut removed = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(at) = removed {
            if indent > at || (indent == at && line.trim_start().starts_with("- ")) {
                continue;
            }
            removed = None;
        }
        if line.trim_start().starts_with("advertisedSubnets:") {
            removed = Some(indent);
            continue;
        }
        out.push(line);
    }
    let text = out.join("\n") + "\n";
    assert_ne!(text.trim(), yaml.trim(), "the rendered config advertises a subnet");
    assert!(!text.contains("advertisedSubnets"));
    text
}

/// The peer URLs of the etcd members as cp-1's Talos API lists them.
async fn peer_urls(set: &NodeSet) -> Vec<String> {
    let client = set.client(&set.nodes[0]).expect("client");
    let mut urls: Vec<String> = client
        .etcd_members(MemberListScope::Local)
        .await
        .expect("cp-1 lists its members")
        .into_iter()
        .flat_map(|m| m.peer_urls)
        .collect();
    urls.sort();
    urls
}

#[tokio::test]
async fn rendered_configs_form_quorum_on_the_private_network_behind_the_firewall() {
    let spec = spec();
    let servers = Servers::create(&spec).await;
    let set = servers.set(rendered(&spec, servers.nodes[0].1));
    deliver_and_bootstrap(&set).await;
    assert_eq!(servers.members_after(3, 10).await, 3, "every control plane joins");

    let kubeconfig = kubeconfig_of(&set).await;
    let health = check_health(&set, &kubeconfig.access().expect("access"))
        .await
        .expect("healthy");
    assert_eq!(health.etcd_members, 3);

    // etcd peers and kubelets are on the private addresses.
    let mut expected: Vec<String> = servers
        .nodes
        .iter()
        .map(|(_, _, private)| format!("https://{private}:2380"))
        .collect();
    expected.sort();
    assert_eq!(peer_urls(&set).await, expected);
    let kube = KubeClient::from_kubeconfig(
        kubeconfig.to_yaml().expect("yaml").expose().as_bytes(),
        KubeOptions::default(),
    )
    .expect("kube client");
    let mut internal: Vec<(String, Option<IpAddr>)> = kube
        .nodes()
        .await
        .expect("nodes")
        .into_iter()
        .map(|n| (n.name, n.internal_ip))
        .collect();
    internal.sort();
    let private: Vec<(String, Option<IpAddr>)> = servers
        .nodes
        .iter()
        .enumerate()
        .map(|(n, (_, _, private))| (format!("cp-{}", n + 1), Some(*private)))
        .collect();
    assert_eq!(internal, private, "InternalIP = the private address (validSubnets)");
}

#[tokio::test]
async fn public_etcd_addresses_behind_the_firewall_never_form_a_quorum_until_2380_opens() {
    let spec = spec();
    let servers = Servers::create(&spec).await;
    let configs: Vec<String> = rendered(&spec, servers.nodes[0].1)
        .iter()
        .map(|yaml| without_advertised_subnets(yaml))
        .collect();
    let set = servers.set(configs.clone());
    deliver_and_bootstrap(&set).await;

    // Bootstrap works on cp-1 alone; cp-2 and cp-3 cannot reach it on its public 2380.
    assert_eq!(servers.members_after(3, 10).await, 1, "the joins stall");
    assert_eq!(
        peer_urls(&set).await,
        [format!("https://{}:2380", servers.nodes[0].1)],
        "cp-1 advertises its public address"
    );
    let waiting = set.client(&set.nodes[1]).expect("client");
    let etcd = waiting
        .services()
        .await
        .expect("cp-2 lists its services")
        .into_iter()
        .find(|s| s.id == "etcd")
        .expect("an etcd service");
    assert_eq!(etcd.state, "Waiting", "{etcd:?}");
    let mut short = servers.set(configs);
    short.waits.health = Duration::from_secs(2);
    let kubeconfig = kubeconfig_of(&set).await;
    let unhealthy = check_health(&short, &kubeconfig.access().expect("access"))
        .await
        .expect_err("no quorum of three");
    let text = talos_hcloud::error::chain(&unhealthy).join(": ");
    assert!(matches!(unhealthy, NodesError::Unhealthy { .. }), "{text}");
    assert!(text.contains("not an etcd member"), "{text}");

    // Opening 2380 to the other control planes' public addresses lets them join.
    let firewall = servers.api.get(&format!("/firewalls/{}", servers.firewall)).await.body;
    let mut rules = firewall["firewall"]["rules"].as_array().cloned().expect("rules");
    let publics: Vec<String> = servers
        .nodes
        .iter()
        .map(|(_, public, _)| format!("{public}/32"))
        .collect();
    rules.push(json!({"direction": "in", "protocol": "tcp", "port": "2380", "source_ips": publics}));
    let opened = servers
        .api
        .create(
            &format!("/firewalls/{}/actions/set_rules", servers.firewall),
            json!({"rules": rules}),
        )
        .await;
    for action in opened["actions"].as_array().cloned().unwrap_or_default() {
        servers.api.finish(&action).await;
    }
    assert_eq!(servers.members_after(3, 20).await, 3, "the joins go through");
    let health = check_health(&set, &kubeconfig.access().expect("access"))
        .await
        .expect("healthy once 2380 is open");
    assert_eq!(health.etcd_members, 3);
}
