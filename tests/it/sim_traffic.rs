//! The traffic plane over real sockets: floating IPs and load balancers forward TCP to the
//! servers the emulated API says, and the emulated Talos VIP controller moves a floating IP
//! to the elected control plane.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::sim_common::Api;

fn id(v: &Value) -> u64 {
    v["id"].as_u64().expect("an ID")
}

/// The public IPv4 the API reports for a server.
async fn server_ip(api: &Api, server: u64) -> String {
    let answer = api.get(&format!("/servers/{server}")).await;
    answer.body["server"]["public_net"]["ipv4"]["ip"]
        .as_str()
        .expect("the server has a public IPv4")
        .to_string()
}

/// A stand-in service on `addr`: greets each connection with `tag`, then answers each line
/// (a PROXY header included) with `tag:line`.
async fn tagged_server(addr: SocketAddr, tag: &'static str) -> JoinHandle<()> {
    let listener = TcpListener::bind(addr)
        .await
        .expect("the stand-in binds the server address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(format!("{tag}\n").as_bytes()).await.is_err() {
                    return;
                }
                while let Ok(Some(line)) = lines.next_line().await {
                    if write.write_all(format!("{tag}:{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

/// Connects and reads the greeting; `None` when refused or closed without a greeting.
async fn greeting(addr: SocketAddr) -> Option<(String, BufReader<TcpStream>)> {
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .ok()?
        .ok()?;
    (read > 0).then(|| (line.trim_end().to_string(), reader))
}

/// Polls `probe` every 10 ms for up to 10 s until it returns `Some`.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..1000 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The greetings of `n` fresh connections, counted by tag.
async fn spread(addr: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let (tag, _) = greeting(addr).await.expect("the load balancer forwards the connection");
        *counts.entry(tag).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floating_ip_forwards_to_the_assigned_server_and_follows_reassignment() {
    let api = Api::start().await;
    let a = id(&api.server("a", json!({})).await["server"]);
    let b = id(&api.server("b", json!({})).await["server"]);
    let a_addr: SocketAddr = format!("{}:6443", server_ip(&api, a).await).parse().expect("addr");
    let b_addr: SocketAddr = format!("{}:6443", server_ip(&api, b).await).parse().expect("addr");
    let _a = tagged_server(a_addr, "A").await;
    let _b = tagged_server(b_addr, "B").await;

    let created = api
        .create("/floating_ips", json!({"type": "ipv4", "server": a, "name": "vip"}))
        .await;
    api.finish(&created["action"]).await;
    let fip = id(&created["floating_ip"]);
    let vip = created["floating_ip"]["ip"].as_str().expect("ip").to_string();
    assert!(vip.starts_with("127.2."), "{vip}");
    let through: SocketAddr = format!("{vip}:6443").parse().expect("addr");

    let (tag, mut held) = eventually("the floating IP reaches server a", || async {
        greeting(through).await.filter(|(tag, _)| tag == "A")
    })
    .await;
    assert_eq!(tag, "A");
    // Every documented port listens while assigned.
    let listening: Vec<u16> = api
        .sim
        .traffic()
        .listeners()
        .iter()
        .filter(|l| l.addr.ip().to_string() == vip && l.error.is_none())
        .map(|l| l.addr.port())
        .collect();
    assert_eq!(listening, [22, 80, 443, 6443, 50000, 50001]);

    let moved = api
        .create(&format!("/floating_ips/{fip}/actions/assign"), json!({"server": b}))
        .await;
    api.finish(&moved["action"]).await;
    eventually("new connections reach server b", || async {
        greeting(through).await.filter(|(tag, _)| tag == "B")
    })
    .await;
    // The connection opened before the move still talks to a.
    held.get_mut().write_all(b"still there\n").await.expect("write");
    let mut line = String::new();
    held.read_line(&mut line).await.expect("read");
    assert_eq!(line, "A:still there\n");

    let unassigned = api
        .create(&format!("/floating_ips/{fip}/actions/unassign"), json!({}))
        .await;
    api.finish(&unassigned["action"]).await;
    eventually("an unassigned floating IP refuses connections", || async {
        TcpStream::connect(through).await.err().map(|e| e.kind())
    })
    .await;
    assert!(api.sim.traffic().forwarded_connections() >= 2);
}

/// A TCP service with a TCP health check on the destination port (every field the
/// OpenAPI description requires).
fn tcp_service(listen: u16, destination: u16, proxyprotocol: bool) -> Value {
    json!({
        "protocol": "tcp", "listen_port": listen, "destination_port": destination, "proxyprotocol": proxyprotocol,
        "health_check": {"protocol": "tcp", "port": destination, "interval": 15, "timeout": 10, "retries": 3},
    })
}

/// A load balancer with `services` on servers labelled `role=web`; returns its ID and public address.
async fn web_load_balancer(api: &Api, services: Value) -> (u64, String) {
    let created = api
        .create(
            "/load_balancers",
            json!({
                "name": "web",
                "load_balancer_type": "lb11",
                "location": "fsn1",
                "services": services,
                "targets": [{"type": "label_selector", "label_selector": {"selector": "role=web"}}],
            }),
        )
        .await;
    api.finish(&created["action"]).await;
    let lb = &created["load_balancer"];
    (id(lb), lb["public_net"]["ipv4"]["ip"].as_str().expect("ip").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_spreads_over_healthy_targets_skips_stopped_ones_and_follows_labels() {
    let api = Api::start().await;
    let mut addrs = Vec::new();
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let server = id(&api.server(name, json!({"labels": {"role": "web"}})).await["server"]);
        addrs.push(server_ip(&api, server).await);
        ids.push(server);
    }
    let _a = tagged_server(format!("{}:8080", addrs[0]).parse().expect("addr"), "A").await;
    let _b = tagged_server(format!("{}:8080", addrs[1]).parse().expect("addr"), "B").await;
    let _c = tagged_server(format!("{}:8080", addrs[2]).parse().expect("addr"), "C").await;
    let (lb, lb_ip) = web_load_balancer(&api, json!([tcp_service(8443, 8080, false)])).await;
    assert!(lb_ip.starts_with("127.3."), "{lb_ip}");
    let front: SocketAddr = format!("{lb_ip}:8443").parse().expect("addr");

    let traffic = api.sim.traffic().clone();
    eventually("all three targets run and are healthy", || async {
        let health = traffic.target_health(lb, 8443);
        (health.len() == 3
            && health
                .iter()
                .all(|t| t.running && t.health == talos_hcloud::sim::traffic::Health::Healthy))
        .then_some(())
    })
    .await;
    // Round robin: six connections, two per target.
    assert_eq!(
        spread(front, 6).await,
        BTreeMap::from([("A".into(), 2), ("B".into(), 2), ("C".into(), 2)])
    );

    // b is stopped (its stand-in still listens, but a stopped server gets no traffic).
    let stopped = api
        .create(&format!("/servers/{}/actions/poweroff", ids[1]), json!({}))
        .await;
    api.finish(&stopped["action"]).await;
    eventually("the stopped target is skipped", || async {
        traffic
            .target_health(lb, 8443)
            .iter()
            .any(|t| t.server == Some(ids[1]) && !t.running)
            .then_some(())
    })
    .await;
    assert_eq!(
        spread(front, 6).await,
        BTreeMap::from([("A".into(), 3), ("C".into(), 3)])
    );

    // c leaves the selector; d joins it.
    let relabel = api
        .put(&format!("/servers/{}", ids[2]), json!({"labels": {"role": "db"}}))
        .await;
    assert_eq!(relabel.status, 200, "{relabel:?}");
    let d = id(&api.server("d", json!({"labels": {"role": "web"}})).await["server"]);
    let _d = tagged_server(format!("{}:8080", server_ip(&api, d).await).parse().expect("addr"), "D").await;
    eventually("d runs and is healthy, and c is gone", || async {
        let health = traffic.target_health(lb, 8443);
        let servers: Vec<u64> = health.iter().map(|t| t.server.unwrap_or(0)).collect();
        (!servers.contains(&ids[2])
            && health
                .iter()
                .any(|t| t.server == Some(d) && t.running && t.health == talos_hcloud::sim::traffic::Health::Healthy))
        .then_some(())
    })
    .await;
    let counts = spread(front, 4).await;
    assert_eq!(
        counts,
        BTreeMap::from([("A".into(), 2), ("D".into(), 2)]),
        "{:?}",
        traffic.target_health(lb, 8443)
    );
}

/// An HTTP stand-in answering every request with `status` and a body naming `tag`.
async fn http_server(addr: SocketAddr, status: &'static str, tag: &'static str) -> JoinHandle<()> {
    let listener = TcpListener::bind(addr).await.expect("the stand-in binds");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let body = format!("{tag}\n");
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_health_checks_decide_and_proxy_protocol_comes_first() {
    let api = Api::start().await;
    let a = id(&api.server("a", json!({"labels": {"role": "web"}})).await["server"]);
    let b = id(&api.server("b", json!({"labels": {"role": "web"}})).await["server"]);
    let a_ip = server_ip(&api, a).await;
    let b_ip = server_ip(&api, b).await;
    // a answers its health check with 200, b with 500: only a gets traffic.
    let _a_http = http_server(format!("{a_ip}:8081").parse().expect("addr"), "200 OK", "A").await;
    let _b_http = http_server(
        format!("{b_ip}:8081").parse().expect("addr"),
        "500 Internal Server Error",
        "B",
    )
    .await;
    let _a = tagged_server(format!("{a_ip}:8080").parse().expect("addr"), "A").await;
    let _b = tagged_server(format!("{b_ip}:8080").parse().expect("addr"), "B").await;
    let (lb, lb_ip) = web_load_balancer(
        &api,
        json!([
            {"protocol": "tcp", "listen_port": 8443, "destination_port": 8080, "proxyprotocol": false,
             "health_check": {"protocol": "http", "port": 8081, "interval": 5, "timeout": 3, "retries": 2,
                              "http": {"domain": null, "path": "/healthz", "response": "A", "status_codes": ["2??"]}}},
            tcp_service(8444, 8080, true),
        ]),
    )
    .await;
    let traffic = api.sim.traffic().clone();
    eventually("the HTTP checks have decided", || async {
        let health = traffic.target_health(lb, 8443);
        let of = |s: u64| {
            health
                .iter()
                .find(|t| t.server == Some(s))
                .map(|t| (t.running, t.health))
        };
        (of(a) == Some((true, talos_hcloud::sim::traffic::Health::Healthy))
            && of(b) == Some((true, talos_hcloud::sim::traffic::Health::Unhealthy)))
        .then_some(())
    })
    .await;
    let front: SocketAddr = format!("{lb_ip}:8443").parse().expect("addr");
    assert_eq!(spread(front, 4).await, BTreeMap::from([("A".into(), 4)]));

    // The PROXY header arrives before the client's first byte.
    let proxied: SocketAddr = format!("{lb_ip}:8444").parse().expect("addr");
    eventually("both targets of the proxy service are healthy", || async {
        let health = traffic.target_health(lb, 8444);
        (health.len() == 2
            && health
                .iter()
                .all(|t| t.running && t.health == talos_hcloud::sim::traffic::Health::Healthy))
        .then_some(())
    })
    .await;
    let (tag, mut conn) = greeting(proxied).await.expect("forwarded");
    let mut header = String::new();
    conn.read_line(&mut header).await.expect("the echo of the header");
    let local = conn.get_ref().local_addr().expect("local addr");
    assert_eq!(
        header,
        format!("{tag}:PROXY TCP4 {} {lb_ip} {} 8444\n", local.ip(), local.port())
    );
}

// ---------------------------------------------------------------------------------------
// The Talos hcloud VIP: three emulated control planes, one floating IP
// ---------------------------------------------------------------------------------------

fn talos_options() -> talos_hcloud::talos::api::CallOptions {
    talos_hcloud::talos::api::CallOptions {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        retry: talos_hcloud::retry::Policy::api_call(),
    }
}

/// A Talos API client with the golden cluster's admin certificate for `endpoint`.
pub(crate) fn admin_client(endpoint: SocketAddr) -> talos_hcloud::talos::api::TalosClient {
    use talos_hcloud::talos::api::{Credentials, TalosClient, TalosconfigTarget};
    let talosconfig = talos_hcloud::talos::talosconfig::Talosconfig::for_cluster(
        &crate::talos_golden::golden_secrets(),
        "prod",
        ["127.0.0.1"],
    )
    .expect("talosconfig");
    let identity = TalosconfigTarget::from_talosconfig(&talosconfig, None)
        .expect("its one context is usable")
        .identity;
    TalosClient::new(endpoint, &Credentials::Configured(identity), talos_options()).expect("credentials are valid")
}

/// The server a floating IP is assigned to now.
async fn assigned_to(api: &Api, fip: u64) -> Option<u64> {
    api.get(&format!("/floating_ips/{fip}")).await.body["floating_ip"]["server"].as_u64()
}

/// Three emulated control planes on servers `cp-1`…`cp-3` (attached to `network` when
/// given), each with the hcloud VIP `vip` in its configuration, the emulator's clock and
/// its server's metadata; returns the nodes and their server IDs.
async fn vip_control_planes(
    api: &Api,
    vip: std::net::IpAddr,
    network: Option<u64>,
) -> (Vec<talos_hcloud::sim::talos::EmulatedNode>, Vec<u64>) {
    use std::net::IpAddr;
    use talos_hcloud::redact::Redacted;
    use talos_hcloud::sim::talos::{ClusterRegistry, EmulatedNode, HcloudMetadata};
    use talos_hcloud::talos::config::{HcloudCluster, HcloudVip, MachineType, NodeSettings};

    let cluster = HcloudCluster {
        endpoint: format!("https://{vip}:6443"),
        vip: Some(HcloudVip::new(vip, Redacted::new(api.sim.token().to_string()))),
        ..crate::talos_golden::hcloud_cluster("v1.11.6")
    };
    let registry = ClusterRegistry::new();
    let mut nodes = Vec::new();
    let mut servers = Vec::new();
    for i in 1..=3 {
        let server = id(&api.server(&format!("cp-{i}"), json!({})).await["server"]);
        if let Some(network) = network {
            let attached = api
                .create(
                    &format!("/servers/{server}/actions/attach_to_network"),
                    json!({"network": network}),
                )
                .await;
            api.finish(&attached["action"]).await;
        }
        let address: IpAddr = server_ip(api, server).await.parse().expect("an IP");
        let config = cluster
            .node_config(
                &crate::talos_golden::golden_secrets(),
                &NodeSettings {
                    hostname: format!("cp-{i}"),
                    machine_type: MachineType::ControlPlane,
                },
            )
            .expect("the control-plane config renders")
            .to_yaml()
            // apid's certificate names the VIP too, so a client can verify it through the VIP.
            .replacen("certSANs: []", &format!("certSANs: [\"{vip}\"]"), 1);
        let mut options = crate::talos_nodes::node_options("v1.11.6", &registry);
        options.address = address;
        options.installed_config = Some(config.into_bytes());
        options.clock = api.sim.clock();
        options.hcloud = Some(HcloudMetadata {
            server_id: server,
            api_endpoint: api.sim.endpoint(),
        });
        nodes.push(EmulatedNode::start(options).await.expect("the node starts"));
        servers.push(server);
    }
    (nodes, servers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talos_vip_controller_assigns_the_floating_ip_and_fails_over_when_the_holder_dies() {
    use std::net::IpAddr;
    use talos_hcloud::sim::talos::election_key;

    let api = Api::start().await;
    let created = api
        .create(
            "/floating_ips",
            json!({"type": "ipv4", "home_location": "fsn1", "name": "k8s-api"}),
        )
        .await;
    let fip = id(&created["floating_ip"]);
    let vip: IpAddr = created["floating_ip"]["ip"]
        .as_str()
        .expect("ip")
        .parse()
        .expect("an IP");
    let (nodes, servers) = vip_control_planes(&api, vip, None).await;
    let clock = api.sim.clock();
    // Nothing is elected before etcd runs (100 simulated seconds, however slow the host).
    clock.sleep(Duration::from_secs(100)).await;
    assert_eq!(assigned_to(&api, fip).await, None);

    admin_client(nodes[0].api_addr())
        .bootstrap()
        .await
        .expect("etcd bootstraps");
    let holder = eventually("one control plane assigned the floating IP to itself", || async {
        assigned_to(&api, fip).await
    })
    .await;
    let first = servers
        .iter()
        .position(|s| *s == holder)
        .expect("a control plane holds it");
    let etcd = nodes[0].cluster().expect("configured");
    // The lease is renewed every simulated second; on a loaded host a renewal can come
    // after the lease's expiry as read on the clock, so wait for the state, not a moment.
    let holds = |expected: String| {
        let etcd = etcd.clone();
        let clock = clock.clone();
        move || {
            let holder = etcd.lease_holder(&election_key(vip), clock.now());
            std::future::ready((holder.as_deref() == Some(expected.as_str())).then_some(()))
        }
    };
    eventually(
        "the assignee holds the election lease",
        holds(format!("cp-{}", first + 1)),
    )
    .await;
    // The assignment went through the API with the configured token, as Talos does it, once
    // (no other control plane assigns it in the next 200 simulated seconds).
    let assigns = || {
        api.sim
            .request_log()
            .into_iter()
            .filter(|r| r.path == format!("/v1/floating_ips/{fip}/actions/assign"))
            .map(|r| (r.status, r.request_body))
            .collect::<Vec<_>>()
    };
    eventually("the assignment is logged", || async {
        (!assigns().is_empty()).then_some(())
    })
    .await;
    clock.sleep(Duration::from_secs(200)).await;
    assert_eq!(assigns(), [(201, Some(json!({"server": holder})))]);

    // Through the VIP, the Talos API of a control plane answers.
    let through = SocketAddr::new(vip, 50000);
    let version = eventually("apid answers through the VIP", || async {
        admin_client(through).version().await.ok()
    })
    .await;
    assert_eq!(version.tag, "v1.11.6");

    // The holder crashes: its lease runs out and another control plane takes over.
    nodes[first].power_off();
    let next = eventually("another control plane took the floating IP", || async {
        assigned_to(&api, fip).await.filter(|s| *s != holder)
    })
    .await;
    assert!(servers.contains(&next));
    let second = servers.iter().position(|s| *s == next).expect("a control plane");
    eventually("the new assignee holds the lease", holds(format!("cp-{}", second + 1))).await;
    // New connections reach the new holder (the old one is off and would not answer).
    let version = eventually("apid answers through the VIP after failover", || async {
        admin_client(through).version().await.ok()
    })
    .await;
    assert_eq!(version.tag, "v1.11.6");
    for node in nodes {
        node.stop().await;
    }
}

/// Which servers hold `alias` in `network` now.
async fn alias_holders(api: &Api, servers: &[u64], network: u64, alias: &str) -> Vec<u64> {
    let mut holders = Vec::new();
    for server in servers {
        let answer = api.get(&format!("/servers/{server}")).await;
        let holds = answer.body["server"]["private_net"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| {
                p["network"] == network && p["alias_ips"].as_array().is_some_and(|a| a.iter().any(|x| x == alias))
            });
        if holds {
            holders.push(*server);
        }
    }
    holders
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_talos_vip_moves_as_an_alias_ip() {
    let api = Api::start().await;
    let network = api
        .create(
            "/networks",
            json!({"name": "cluster", "ip_range": "10.0.0.0/16",
                   "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.1.0/24"}]}),
        )
        .await;
    let network = id(&network["network"]);
    let vip = "10.0.1.100";
    let (nodes, servers) = vip_control_planes(&api, vip.parse().expect("an IP"), Some(network)).await;
    admin_client(nodes[0].api_addr())
        .bootstrap()
        .await
        .expect("etcd bootstraps");
    let holders = eventually("one control plane holds the alias IP", || async {
        let holders = alias_holders(&api, &servers, network, vip).await;
        (holders.len() == 1).then_some(holders)
    })
    .await;
    let first = servers.iter().position(|s| *s == holders[0]).expect("a control plane");

    nodes[first].power_off();
    let moved = eventually("another control plane holds the alias IP, alone", || async {
        let holders = alias_holders(&api, &servers, network, vip).await;
        (holders.len() == 1 && holders[0] != servers[first]).then_some(holders)
    })
    .await;
    assert!(servers.contains(&moved[0]));
    let changes = || {
        api.sim
            .request_log()
            .into_iter()
            .filter(|r| r.path.ends_with("/actions/change_alias_ips"))
            .map(|r| (r.path, r.status, r.request_body))
            .collect::<Vec<_>>()
    };
    // Acquire: set on the first holder; failover: cleared on it, then set on the next —
    // and nothing more in the next 200 simulated seconds (a stable leader).
    eventually("the third change is logged", || async {
        (changes().len() >= 3).then_some(())
    })
    .await;
    api.sim.clock().sleep(Duration::from_secs(200)).await;
    let changes = changes();
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert_eq!(
        changes[1].0,
        format!("/v1/servers/{}/actions/change_alias_ips", servers[first])
    );
    assert_eq!(changes[1].2, Some(json!({"network": network, "alias_ips": []})));
    for node in nodes {
        node.stop().await;
    }
}
