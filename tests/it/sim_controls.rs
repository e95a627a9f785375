//! Rehearsal controls on machines that booted Talos from their disks: a node's Talos hangs
//! (apid accepts TCP and says nothing, its etcd member stalls) and a node is partitioned
//! from the others (quorum follows the network), both over the HTTP controls, and what the
//! node recorded of its configuration (`install.image`) in the state dump.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};
use talos_hcloud::sim::talos::TalosCluster;
use talos_hcloud::spec::Architecture;
use talos_hcloud::talos::api::{MemberListScope, TalosClient};
use talos_hcloud::talos::config::{MachineType, NodeSettings};

use crate::sim_common::Api;
use crate::sim_machines::{machines, quick, snapshot_of, talos_addr, talos_image, wait_for_talos};
use crate::sim_traffic::admin_client;

const VERSION: &str = "v1.11.6";

fn id(v: &Value) -> u64 {
    v["id"].as_u64().expect("an ID")
}

/// The golden cluster's control-plane configuration for `hostname` (without a VIP: no
/// floating IP exists here).
fn control_plane_config(hostname: &str) -> String {
    let cluster = talos_hcloud::talos::config::HcloudCluster {
        vip: None,
        ..crate::talos_golden::hcloud_cluster(VERSION)
    };
    cluster
        .node_config(
            &crate::talos_golden::golden_secrets(),
            &NodeSettings {
                hostname: hostname.to_string(),
                machine_type: MachineType::ControlPlane,
            },
        )
        .expect("the control-plane config renders")
        .to_yaml()
}

/// `machine.install.image` of a rendered configuration.
fn install_image(config: &str) -> String {
    let docs: Vec<Value> = serde_saphyr::from_multiple(config).expect("the config is YAML");
    docs[0]["machine"]["install"]["image"]
        .as_str()
        .expect("the hcloud overlay sets an installer image")
        .to_string()
}

/// Three control planes booted from a Talos snapshot with their configs as user data,
/// etcd bootstrapped on the first; returns the emulator, server IDs, apid addresses and
/// the emulated etcd cluster.
async fn three_control_planes() -> (Api, Vec<u64>, Vec<SocketAddr>, std::sync::Arc<TalosCluster>) {
    let api = machines().await;
    let builder = id(&api.server("builder", json!({"server_type": "cx23"})).await["server"]);
    let snapshot = snapshot_of(&api, builder, &talos_image(VERSION, Architecture::Amd64)).await;
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for i in 1..=3 {
        let name = format!("cp-{i}");
        let created = api
            .server(
                &name,
                json!({"server_type": "cx23", "image": snapshot.to_string(), "user_data": control_plane_config(&name)}),
            )
            .await;
        servers.push(id(&created["server"]));
        addrs.push(talos_addr(&created["server"]));
    }
    for addr in &addrs {
        wait_for_talos(&api, *addr).await;
    }
    admin(addrs[0]).bootstrap().await.expect("etcd bootstraps");
    let registry = api.sim.talos();
    let cluster = registry
        .cluster(&registry.cluster_ids()[0])
        .expect("the control planes formed a cluster");
    assert_eq!(cluster.members().len(), 3, "every control plane joined");
    (api, servers, addrs, cluster)
}

fn admin(addr: SocketAddr) -> TalosClient {
    admin_client(addr).with_options(quick())
}

/// How many etcd members apid at `addr` lists in `scope`.
async fn members(addr: SocketAddr, scope: MemberListScope) -> usize {
    admin(addr).etcd_members(scope).await.expect("the member list").len()
}

/// `GET https://ADDR:6443/readyz` (anonymous, as a load balancer health check sends it).
async fn readyz(ip: IpAddr) -> u16 {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    client
        .get(format!("https://{ip}:6443/readyz"))
        .send()
        .await
        .map_or(0, |response| response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_minority_loses_quorum_and_the_majority_keeps_it() {
    let (api, servers, addrs, cluster) = three_control_planes().await;
    let control = api.sim.control();
    let ip = |i: usize| addrs[i].ip();
    assert_eq!(readyz(ip(2)).await, 200);

    let report = control
        .partition_server(servers[2], true)
        .await
        .expect("partition cp-3");
    assert_eq!(report["partitioned"], true);
    assert_eq!(report["talos"]["partitioned"], true);
    // The cut-off node sees only itself: no leader, /readyz fails; a local read still works.
    let quorum = cluster.quorum_from(ip(2));
    assert_eq!((quorum.healthy, quorum.members, quorum.has_quorum()), (1, 3, false));
    let refused = admin(addrs[2])
        .etcd_members(MemberListScope::Cluster)
        .await
        .expect_err("no quorum on the minority side");
    let refused = talos_hcloud::error::chain(&refused).join(": ");
    assert!(refused.contains("no leader"), "{refused}");
    assert_eq!(members(addrs[2], MemberListScope::Local).await, 3, "a local read works");
    assert_eq!(readyz(ip(2)).await, 500);
    // The majority keeps working, and sees the cut-off member as unreachable.
    assert_eq!(cluster.quorum_from(ip(0)).healthy, 2);
    assert_eq!(
        members(addrs[0], MemberListScope::Cluster).await,
        3,
        "the majority reads"
    );
    assert_eq!(readyz(ip(0)).await, 200);
    assert!(cluster.quorum().has_quorum());

    // A second partition leaves every node alone: nobody has quorum.
    control
        .partition_server(servers[1], true)
        .await
        .expect("partition cp-2");
    for i in 0..3 {
        assert!(!cluster.quorum_from(ip(i)).has_quorum(), "cp-{} alone", i + 1);
    }
    assert_eq!(readyz(ip(0)).await, 500);
    assert!(admin(addrs[0]).etcd_members(MemberListScope::Cluster).await.is_err());

    // Healing restores quorum everywhere; the partition survived nothing but the heal.
    control.partition_server(servers[1], false).await.expect("heal cp-2");
    control.partition_server(servers[2], false).await.expect("heal cp-3");
    for i in 0..3 {
        assert_eq!(cluster.quorum_from(ip(i)).healthy, 3);
    }
    assert_eq!(readyz(ip(2)).await, 200);
    let state = control.state().await.expect("state");
    let machines: Vec<&Value> = state["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .filter(|s| servers.contains(&id(&s["server"])))
        .map(|s| &s["internal"]["machine"])
        .collect();
    assert_eq!(machines.len(), 3);
    for machine in machines {
        assert_eq!(machine["partitioned"], false);
        assert_eq!(machine["talos"]["mode"], "configured");
        assert_eq!(machine["talos"]["machine_type"], "controlplane");
        assert_eq!(machine["talos"]["talos_version"], VERSION);
        assert_eq!(machine["talos"]["schematic"], crate::sim_machines::SCHEMATIC);
        // The applied configuration's install image is recorded on the node.
        let hostname = machine["talos"]["hostname"].as_str().expect("configured");
        assert_eq!(
            machine["talos"]["install_image"],
            install_image(&control_plane_config(hostname)).as_str()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_node_accepts_tcp_but_never_answers_until_it_recovers_or_reboots() {
    let (api, servers, addrs, cluster) = three_control_planes().await;
    let control = api.sim.control();
    let report = control.hang_server(servers[1], true).await.expect("hang cp-2");
    assert_eq!(report["talos"]["hung"], true);

    // TCP is accepted, but the handshake and every call wait for an answer that never comes.
    tokio::net::TcpStream::connect(addrs[1])
        .await
        .expect("a hung apid still accepts TCP");
    let patient = admin_client(addrs[1]).with_options(talos_hcloud::talos::api::CallOptions {
        timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(60),
        retry: talos_hcloud::retry::Policy::none(),
    });
    let waiting = tokio::spawn(async move { patient.version().await });
    assert!(admin(addrs[1]).version().await.is_err(), "a hung node does not answer");
    assert!(!waiting.is_finished(), "the patient call is still waiting");
    // Its etcd member stalls: unhealthy for everyone, the other two keep quorum.
    let stalled: Vec<bool> = cluster.members().iter().map(|m| m.healthy).collect();
    assert_eq!(stalled.iter().filter(|healthy| !**healthy).count(), 1);
    assert!(!cluster.member_on(addrs[1].ip()).is_some_and(|m| m.healthy));
    assert_eq!(cluster.quorum_from(addrs[0].ip()).healthy, 2);
    admin(addrs[0])
        .etcd_members(MemberListScope::Cluster)
        .await
        .expect("the other two keep quorum");

    // Recovery: the waiting call is answered, etcd is healthy again.
    control.hang_server(servers[1], false).await.expect("unhang cp-2");
    let version = waiting.await.expect("joined").expect("answered after the hang");
    assert_eq!(version.tag, VERSION);
    assert_eq!(cluster.quorum().healthy, 3);

    // A hang ends with a reset from the Hetzner API too, as on a real machine.
    api.sim.hang_server(servers[2], true).expect("hang cp-3");
    assert!(admin(addrs[2]).version().await.is_err());
    let reset = api
        .post(&format!("/servers/{}/actions/reset", servers[2]), json!({}))
        .await;
    api.finish(&reset.body["action"]).await;
    wait_for_talos(&api, addrs[2]).await;
    assert_eq!(
        admin(addrs[2]).version().await.expect("answers after the reset").tag,
        VERSION
    );
    assert_eq!(
        api.sim.state()["servers"][3]["internal"]["machine"]["talos"]["hung"],
        false
    );

    // Without a Talos node there is nothing to hang.
    let plain = id(&api.server("plain", json!({"server_type": "cx23"})).await["server"]);
    let refused = control
        .hang_server(plain, true)
        .await
        .expect_err("no node on a Linux server");
    let refused = talos_hcloud::error::chain(&refused).join(": ");
    assert!(
        refused.contains("409") && refused.contains("no emulated Talos node"),
        "{refused}"
    );
}
