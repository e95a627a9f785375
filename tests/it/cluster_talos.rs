//! The Talos phase of `apply` (issue 11, steps 4, 5, 8, 9 and 10) against emulated Talos
//! nodes over real gRPC/TLS on distinct 127.x.y.z addresses: configs rendered from a
//! cluster.yaml, delivered in maintenance mode, etcd bootstrapped once, health checked in
//! stages, a changed config rolled out node by node, and the operator's files written.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use talos_hcloud::cluster::files::{AccessFiles, cluster_dir, merge_kubeconfig_file, write_access_files};
use talos_hcloud::cluster::kubeconfig::Kubeconfig;
use talos_hcloud::cluster::nodes::{
    BootstrapReport, Delivery, NodeSet, NodeTarget, NodesError, RollingStep, Stage, Waits, bootstrap_once,
    check_health, deliver, rolling_update, user_data,
};
use talos_hcloud::error::Classify as _;
use talos_hcloud::redact::Redacted;
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::clock::SimClock;
use talos_hcloud::sim::talos::{ClusterRegistry, NodeMode};
use talos_hcloud::spec::{Role, Spec};
use talos_hcloud::talos::api::{CallOptions, TalosconfigTarget};
use talos_hcloud::talos::config::render::{ApiEndpoint, ClusterInputs, render_cluster};
use talos_hcloud::talos::secrets::SecretsBundle;
use talos_hcloud::talos::talosconfig::Talosconfig;

use crate::harness::{mode_of, repo_root};
use crate::talos_nodes::{TestNode, node_options, start};

const TALOS: &str = "v1.11.6";
const CLUSTER: &str = "tc-test";

pub(crate) fn bundle() -> SecretsBundle {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/talos/secrets.yaml")).expect("golden bundle");
    serde_saphyr::from_str(&text).expect("golden bundle parses")
}

/// The cluster.yaml of a 3 + 1 cluster; `somaxconn` varies the configs between runs.
fn spec(somaxconn: u32) -> Spec {
    let text = format!(
        "name: {CLUSTER}\nprefix: tc-\nlocation: fsn1\ntalos:\n  version: {TALOS}\n  schematic: {{ customization: {{}} }}\n\
         kubernetes: {{ version: v1.34.1 }}\nnetwork: {{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }}\nendpoint: load-balancer\n\
         firewall: {{ admin_cidrs: [203.0.113.7/32] }}\ncontrolplane: {{ type: cax11, nodes: [cp-1, cp-2, cp-3] }}\n\
         workers: [{{ pool: w, type: cax11, count: 1 }}]\nsysctls: {{ net.core.somaxconn: \"{somaxconn}\" }}\n"
    );
    talos_hcloud::spec::parse(Path::new("cluster.yaml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

/// Four emulated nodes in maintenance mode (cp-1..3, w-1) sharing one etcd registry.
struct Cluster {
    nodes: Vec<TestNode>,
    endpoint: ApiEndpoint,
    bundle: SecretsBundle,
}

impl Cluster {
    async fn start() -> Cluster {
        let registry: Arc<ClusterRegistry> = ClusterRegistry::new();
        // Every boot (the first one, and the one into configured mode after an apply) takes
        // 20 simulated seconds, 200 ms at this time scale: delivery has to wait for them.
        let clock = Arc::new(SimClock::new(100.0));
        let mut nodes = Vec::new();
        for _ in 0..4 {
            let mut options = node_options(TALOS, &registry);
            options.clock = clock.clone();
            options.boot_delay = Duration::from_secs(20);
            let node = start(options).await;
            assert_eq!(node.mode(), NodeMode::Booting);
            nodes.push(node);
        }
        // The endpoint a load balancer would give: here the first control plane itself.
        let endpoint = ApiEndpoint::parse(&nodes[0].address().to_string()).expect("endpoint");
        Cluster {
            nodes,
            endpoint,
            bundle: bundle(),
        }
    }

    fn control_plane_addresses(&self) -> Vec<IpAddr> {
        self.nodes[..3].iter().map(|n| n.address()).collect()
    }

    /// The node set for configs rendered with `somaxconn`, with `applied` as recorded.
    fn set(&self, somaxconn: u32, applied: &[Option<String>]) -> NodeSet {
        let spec = spec(somaxconn);
        let rendered = render_cluster(&ClusterInputs {
            spec: &spec,
            secrets: &self.bundle,
            endpoint: &self.endpoint,
            hcloud_token: None,
        })
        .expect("configs render");
        let names: Vec<&str> = rendered.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["cp-1", "cp-2", "cp-3", "w-1"]);
        let nodes = rendered
            .into_iter()
            .zip(&self.nodes)
            .zip(applied)
            .map(|((node, emulated), applied)| NodeTarget {
                name: node.name,
                role: node.role,
                address: emulated.address(),
                private_ip: None,
                config: Redacted::new(node.yaml.into_bytes()),
                applied: applied.clone(),
            })
            .collect();
        node_set(nodes, &self.talos_target())
    }

    fn talosconfig(&self) -> Talosconfig {
        Talosconfig::derived_for_cluster(
            &self.bundle,
            CLUSTER,
            self.control_plane_addresses(),
            time::OffsetDateTime::now_utc(),
        )
        .expect("talosconfig")
    }

    fn talos_target(&self) -> TalosconfigTarget {
        TalosconfigTarget::from_talosconfig(&self.talosconfig(), None).expect("usable")
    }

    async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
    }
}

/// The node set of `nodes` as a test drives it: the talosconfig's identity, calls retried
/// as `apply` does, waits generous enough for a loaded machine.
pub(crate) fn node_set(nodes: Vec<NodeTarget>, talos: &TalosconfigTarget) -> NodeSet {
    NodeSet {
        nodes,
        identity: talos.identity.clone(),
        call: CallOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: Policy::api_call(),
        },
        waits: Waits {
            boot: Duration::from_secs(30),
            health: Duration::from_secs(30),
            poll: Duration::from_millis(100),
        },
    }
}

fn unrecorded() -> Vec<Option<String>> {
    vec![None; 4]
}

fn recorded(set: &NodeSet) -> Vec<Option<String>> {
    set.nodes.iter().map(|n| Some(n.hash().label_value())).collect()
}

/// Delivers every config (all applied) and bootstraps etcd on cp-1.
pub(crate) async fn deliver_and_bootstrap(set: &NodeSet) {
    let delivered = deliver(set).await.expect("delivered");
    assert!(
        delivered.iter().all(|d| d.delivery == Delivery::Applied),
        "{delivered:?}"
    );
    assert_eq!(
        bootstrap_once(set).await.expect("bootstrap"),
        BootstrapReport::Bootstrapped { node: "cp-1".into() }
    );
}

/// The kubeconfig the first node's Talos API gives.
pub(crate) async fn kubeconfig_of(set: &NodeSet) -> Kubeconfig {
    let client = set.client(&set.nodes[0]).expect("client");
    let kubeconfig = client.kubeconfig().await.expect("kubeconfig");
    Kubeconfig::parse(kubeconfig.expose(), "from the Talos API").expect("kubeconfig parses")
}

/// Delivers, bootstraps and checks health; returns the kubeconfig as the Talos API gave it.
async fn converge(set: &NodeSet) -> Kubeconfig {
    deliver_and_bootstrap(set).await;
    let kubeconfig = kubeconfig_of(set).await;
    let health = check_health(set, &kubeconfig.access().expect("access"))
        .await
        .expect("healthy");
    let stages: Vec<Stage> = health.stages.iter().map(|(stage, _)| *stage).collect();
    assert_eq!(stages, Stage::ALL);
    assert_eq!(health.etcd_members, 3);
    kubeconfig
}

async fn readyz(kubeconfig: &Kubeconfig) -> u16 {
    let access = kubeconfig.access().expect("access");
    let http = access.http_client(Duration::from_secs(10)).expect("client");
    http.get(format!("{}/readyz", access.server()))
        .send()
        .await
        .expect("readyz answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn three_control_planes_and_a_worker_from_maintenance_to_a_healthy_cluster() {
    let cluster = Cluster::start().await;
    let set = cluster.set(128, &unrecorded());
    let kubeconfig = converge(&set).await;

    for node in &cluster.nodes {
        assert!(matches!(node.mode(), NodeMode::Configured(_)), "{}", node.address());
        assert_eq!(node.received_configs().len(), 1, "one config each");
    }
    let etcd = cluster.nodes[0].cluster().expect("configured");
    assert_eq!(etcd.members().len(), 3);

    // A second run: the recorded hashes match, nothing is sent; etcd is found running, so
    // no Bootstrap goes out (members: 3, not AlreadyExists's 0); health still passes.
    let again = cluster.set(128, &recorded(&set));
    let delivered = deliver(&again).await.expect("delivered");
    assert!(
        delivered.iter().all(|d| d.delivery == Delivery::Unchanged),
        "{delivered:?}"
    );
    assert_eq!(
        bootstrap_once(&again).await.expect("bootstrap"),
        BootstrapReport::AlreadyBootstrapped {
            node: "cp-1".into(),
            members: 3
        }
    );
    assert_eq!(etcd.members().len(), 3);
    check_health(&again, &kubeconfig.access().expect("access"))
        .await
        .expect("still healthy");
    for node in &cluster.nodes {
        assert_eq!(node.received_configs().len(), 1, "nothing re-sent");
    }
    // Configured nodes with an unrecorded hash are left to the rolling update.
    let unknown = deliver(&set).await.expect("looked at");
    assert!(unknown.iter().all(|d| d.delivery == Delivery::Changed), "{unknown:?}");

    // The operator's files: 0600, the kubeconfig reaches /readyz through the endpoint, the
    // talosconfig reaches every node.
    let root = tempfile::tempdir().expect("tempdir");
    let dir = cluster_dir(root.path(), CLUSTER);
    let files = AccessFiles {
        kubeconfig: kubeconfig.clone(),
        endpoint: cluster.endpoint.url().to_string(),
        talosconfig: cluster.talosconfig(),
    };
    let written = write_access_files(&dir, &files, None).expect("files written");
    assert_eq!(written.kubeconfig, root.path().join(".talos-hcloud/tc-test/kubeconfig"));
    assert_eq!(
        written.talosconfig,
        root.path().join(".talos-hcloud/tc-test/talosconfig")
    );
    assert_eq!(written.merged, None);
    for path in [&written.kubeconfig, &written.talosconfig] {
        assert_eq!(mode_of(path), 0o600, "{}", path.display());
    }
    let on_disk =
        Kubeconfig::parse(&std::fs::read(&written.kubeconfig).expect("read"), "written").expect("kubeconfig parses");
    assert_eq!(on_disk.access().expect("access").server(), cluster.endpoint.url());
    assert_eq!(readyz(&on_disk).await, 200);

    let loaded = Talosconfig::load(&written.talosconfig).expect("talosconfig loads");
    let target = TalosconfigTarget::from_talosconfig(&loaded, None).expect("usable");
    let endpoints: Vec<IpAddr> = target.endpoints.iter().map(|e| e.ip()).collect();
    assert_eq!(endpoints, cluster.control_plane_addresses());
    let clients = target.clients(CallOptions::default()).expect("credentials load");
    for client in &clients {
        for node in &cluster.nodes {
            let version = client
                .with_node(node.address())
                .version()
                .await
                .expect("reaches the node");
            assert_eq!(version.tag, TALOS);
        }
    }

    // A powered-off control plane fails the etcd stage, naming it.
    cluster.nodes[2].power_off();
    let short = NodeSet {
        waits: Waits {
            health: Duration::from_millis(300),
            ..again.waits
        },
        ..again.clone()
    };
    let error = check_health(&short, &kubeconfig.access().expect("access"))
        .await
        .expect_err("one node is down");
    match &error {
        NodesError::Unhealthy { stage, failures, .. } => {
            assert_eq!(*stage, Stage::Apid);
            let names: Vec<&str> = failures.iter().map(|f| f.node.as_str()).collect();
            assert_eq!(names, ["cp-3"], "{error}");
        }
        other => panic!("expected an unhealthy stage, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.starts_with("health stage `apid` did not pass within "),
        "{message}"
    );
    assert!(
        message.contains(": cp-3: while reading the Talos version on "),
        "{message}"
    );
    // With cp-3 unreachable and members on the others, a bootstrap is still refused as
    // unneeded, never sent.
    assert!(matches!(
        bootstrap_once(&short).await.expect("decided"),
        BootstrapReport::AlreadyBootstrapped { members: 2 | 3, .. }
    ));
    cluster.nodes[2].power_on().expect("boots");
    cluster.stop().await;
}

#[tokio::test]
async fn bootstrap_is_refused_while_a_control_plane_cannot_be_asked() {
    let cluster = Cluster::start().await;
    let set = cluster.set(128, &unrecorded());
    deliver(&set).await.expect("delivered");
    cluster.nodes[1].power_off();
    let error = bootstrap_once(&set).await.expect_err("undecided");
    assert!(
        matches!(&error, NodesError::BootstrapUndecided { unreachable } if unreachable.len() == 1 && unreachable[0].node == "cp-2"),
        "{error}"
    );
    assert!(!error.hints().is_empty());
    let etcd = cluster.nodes[0].cluster().expect("configured");
    assert!(!etcd.is_bootstrapped(), "nothing was bootstrapped");
    cluster.nodes[1].power_on().expect("boots");
    assert!(matches!(
        bootstrap_once(&set).await.expect("bootstrap"),
        BootstrapReport::Bootstrapped { .. }
    ));
    cluster.stop().await;
}

#[tokio::test]
async fn a_changed_config_rolls_out_one_node_at_a_time() {
    let cluster = Cluster::start().await;
    let first = cluster.set(128, &unrecorded());
    converge(&first).await;

    let changed = cluster.set(4096, &recorded(&first));
    let new_configs: Vec<Vec<u8>> = changed.nodes.iter().map(|n| n.config.expose().clone()).collect();
    let runs_new = |i: usize| {
        cluster.nodes[i]
            .received_configs()
            .last()
            .is_some_and(|c| c.bytes == new_configs[i] && c.outcome.is_ok())
    };
    let mut order = Vec::new();
    let mut seen_at_apply = Vec::new();
    let updates = rolling_update(&changed, &mut |step| {
        if let RollingStep::Applying(node) = step {
            order.push(node.name.clone());
            // Exactly the nodes handled before this one run the new config.
            seen_at_apply.push((0..4).filter(|i| runs_new(*i)).count());
        }
    })
    .await
    .expect("rolled out");
    assert_eq!(order, ["cp-1", "cp-2", "cp-3", "w-1"]);
    assert_eq!(seen_at_apply, [0, 1, 2, 3]);
    assert!((0..4).all(runs_new));
    assert!(updates.iter().all(|u| u.applied && !u.rebooted), "{updates:?}");
    for node in &cluster.nodes {
        assert_eq!(node.received_configs().len(), 2, "one apply per node");
    }
    assert_eq!(cluster.nodes[0].cluster().expect("configured").members().len(), 3);

    // Recorded as applied: a re-run sends nothing.
    let settled = cluster.set(4096, &recorded(&changed));
    let mut applying = 0;
    let updates = rolling_update(&settled, &mut |step| {
        if matches!(step, RollingStep::Applying(_)) {
            applying += 1;
        }
    })
    .await
    .expect("nothing to do");
    assert_eq!(applying, 0);
    assert!(updates.iter().all(|u| !u.applied));
    for node in &cluster.nodes {
        assert_eq!(node.received_configs().len(), 2);
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_rolling_update_stops_at_the_control_plane_after_which_etcd_is_unhealthy() {
    let cluster = Cluster::start().await;
    let first = cluster.set(128, &unrecorded());
    converge(&first).await;
    let mut changed = cluster.set(4096, &recorded(&first));
    changed.waits.health = Duration::from_millis(500);
    let mut order = Vec::new();
    let error = rolling_update(&changed, &mut |step| {
        if let RollingStep::Applying(node) = step {
            order.push(node.name.clone());
            // cp-3 fails while cp-2 takes its config: etcd is not healthy after cp-2.
            if node.name == "cp-2" {
                cluster.nodes[2].power_off();
            }
        }
    })
    .await
    .expect_err("etcd is unhealthy after cp-2");
    assert_eq!(order, ["cp-1", "cp-2"], "nothing after the failed wait");
    let message = talos_hcloud::error::chain(&error).join(" / ");
    assert!(
        message.starts_with("while applying the changed machine config to cp-2 / health stage `etcd` did not pass"),
        "{message}"
    );
    assert!(message.contains("cp-3: "), "{message}");
    assert_eq!(
        cluster.nodes[3].received_configs().len(),
        1,
        "the worker was not touched"
    );
    cluster.nodes[2].power_on().expect("boots");
    cluster.stop().await;
}

#[tokio::test]
async fn user_data_is_gzip_base64_within_32_kib_and_boots_the_node() {
    use base64::Engine as _;
    use std::io::Read as _;

    let cluster = Cluster::start().await;
    let set = cluster.set(128, &unrecorded());
    let worker = &set.nodes[3];
    let payload = user_data(worker).expect("fits");
    let gzip = base64::engine::general_purpose::STANDARD
        .decode(&payload)
        .expect("base64");
    let mut yaml = Vec::new();
    flate2::read::GzDecoder::new(&gzip[..])
        .read_to_end(&mut yaml)
        .expect("gzip");
    assert_eq!(&yaml, worker.config.expose());
    assert!(payload.len() < worker.config.expose().len());

    // A node booting with it is configured without any API call.
    let registry = ClusterRegistry::new();
    let mut options = node_options(TALOS, &registry);
    options.user_data = Some(payload);
    let node = start(options).await;
    assert_eq!(
        node.mode(),
        NodeMode::Configured(talos_hcloud::sim::talos::MachineType::Worker)
    );
    node.stop().await;

    // Over the limit: a clear error naming the node, invalid input.
    // Random hex: gzip gets it to half, base64 makes that 4/3 again, well over 32 KiB.
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(11);
    let noise = hex::encode(
        (0..45_000)
            .map(|_| rand::Rng::random::<u8>(&mut rng))
            .collect::<Vec<u8>>(),
    );
    let text = String::from_utf8(worker.config.expose().clone()).expect("text");
    let big = text.replacen(
        "machine:\n",
        &format!("machine:\n    files:\n        - content: {noise}\n          permissions: 0o644\n          path: /var/big\n          op: create\n"),
        1,
    );
    let huge = NodeTarget {
        config: Redacted::new(big.into_bytes()),
        ..worker.clone()
    };
    let error = match user_data(&huge) {
        Ok(payload) => panic!("{} bytes should not fit", payload.len()),
        Err(error) => error,
    };
    assert!(
        error.to_string().starts_with("the machine config of node w-1 is "),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .ends_with("bytes as base64(gzip) user_data, over Hetzner's limit of 32768"),
        "{error}"
    );
    assert_eq!(error.class(), talos_hcloud::error::Class::InvalidInput);
    assert_eq!(worker.role, Role::Worker);
    cluster.stop().await;
}

#[test]
fn merging_keeps_other_clusters_and_replaces_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster:\n    server: https://other:6443\n\
         - name: tc-test\n  cluster:\n    server: https://stale:6443\nusers:\n- name: someone\n  user:\n    token: abc\n\
         contexts:\n- name: other\n  context:\n    cluster: other\n    user: someone\ncurrent-context: other\n\
         preferences: {}\n",
    )
    .expect("sample kubeconfig");
    let ours = Kubeconfig::parse(
        b"apiVersion: v1\nkind: Config\nclusters:\n- name: tc-test\n  cluster:\n    server: https://203.0.113.10:6443\n    certificate-authority-data: Q0E=\n\
          users:\n- name: admin@tc-test\n  user:\n    client-certificate-data: Q1JU\n    client-key-data: S0VZ\n\
          contexts:\n- name: admin@tc-test\n  context:\n    cluster: tc-test\n    namespace: default\n    user: admin@tc-test\n\
          current-context: admin@tc-test\n",
        "ours",
    )
    .expect("ours parses");
    for _ in 0..2 {
        let written = merge_kubeconfig_file(&path, &ours).expect("merged");
        assert_eq!(written, std::fs::canonicalize(&path).expect("exists"));
        assert_eq!(mode_of(&path), 0o600);
        let merged: serde_json::Value =
            serde_saphyr::from_slice(&std::fs::read(&path).expect("read")).expect("merged parses");
        let names = |list: &str| -> Vec<String> {
            merged[list]
                .as_array()
                .expect("list")
                .iter()
                .map(|e| e["name"].as_str().expect("name").to_string())
                .collect()
        };
        assert_eq!(names("clusters"), ["other", "tc-test"]);
        assert_eq!(names("users"), ["someone", "admin@tc-test"]);
        assert_eq!(names("contexts"), ["other", "admin@tc-test"]);
        assert_eq!(merged["clusters"][0]["cluster"]["server"], "https://other:6443");
        assert_eq!(merged["clusters"][1]["cluster"]["server"], "https://203.0.113.10:6443");
        assert_eq!(merged["users"][0]["user"]["token"], "abc");
        assert_eq!(merged["current-context"], "admin@tc-test");
        assert!(merged["preferences"].is_object());
    }
    // A missing file is created; a file that is no kubeconfig is left alone.
    let fresh = dir.path().join("kube/new-config");
    std::fs::create_dir_all(fresh.parent().expect("parent")).expect("mkdir");
    merge_kubeconfig_file(&fresh, &ours).expect("created");
    assert_eq!(mode_of(&fresh), 0o600);
    let broken = dir.path().join("broken");
    std::fs::write(&broken, "- just\n- a list\n").expect("write");
    let error = merge_kubeconfig_file(&broken, &ours).expect_err("not a kubeconfig");
    assert_eq!(error.class(), talos_hcloud::error::Class::InvalidInput);
    assert_eq!(std::fs::read_to_string(&broken).expect("read"), "- just\n- a list\n");
}
