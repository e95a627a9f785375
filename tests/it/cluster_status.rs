//! `status` (issue 11) against the emulator: servers created from a Talos snapshot, their
//! nodes configured through `cluster::nodes` (deliver, bootstrap once, staged health) with a
//! floating IP held by the Talos VIP, then the report — every node with its version,
//! config in sync and etcd role, quorum and the endpoint — in the library, as text and as
//! JSON from the binary; a crashed control plane makes it degraded (exit 1) naming it; a
//! node cluster.yaml adds but nobody created is missing; `config gen` finds the endpoint
//! live.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use talos_hcloud::cluster::Inputs;
use talos_hcloud::cluster::desired::LABEL_CONFIG_HASH;
use talos_hcloud::cluster::files::{AccessFiles, write_access_files};
use talos_hcloud::cluster::kubeconfig::Kubeconfig;
use talos_hcloud::cluster::nodes::{NodeSet, NodeTarget, Waits, bootstrap_once, check_health, deliver};
use talos_hcloud::cluster::status::{EtcdRole, StatusInputs, StatusReport, render, status};
use talos_hcloud::redact::Redacted;
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::SimConfig;
use talos_hcloud::spec::{self, Architecture, Spec};
use talos_hcloud::talos::api::{CallOptions, TalosconfigTarget};
use talos_hcloud::talos::config::render::{ApiEndpoint, ClusterInputs, render_cluster};
use talos_hcloud::talos::secrets::SecretsBundle;
use talos_hcloud::talos::talosconfig::Talosconfig;

use crate::harness::{Run, repo_root, talos_hcloud_env_async};
use crate::sim_common::Api;
use crate::sim_machines::{snapshot_of, talos_image};

const TALOS: &str = "v1.11.6";
const CLUSTER: &str = "st";

/// cluster.yaml of a 3 + 1 cluster on cx23 (amd64) behind a floating IP, with `workers`
/// workers in pool `w`.
fn cluster_yaml(workers: u32) -> String {
    format!(
        "name: {CLUSTER}\nprefix: st-\nlocation: fsn1\ntalos:\n  version: {TALOS}\n  schematic: {{ customization: {{}} }}\n\
         kubernetes: {{ version: v1.34.1 }}\nnetwork: {{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24, zone: eu-central }}\n\
         endpoint: floating-ip\nfirewall: {{ admin_cidrs: [203.0.113.7/32] }}\n\
         controlplane: {{ type: cx23, nodes: [cp-1, cp-2, cp-3] }}\nworkers: [{{ pool: w, type: cx23, count: {workers} }}]\n"
    )
}

fn bundle() -> SecretsBundle {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/talos/secrets.yaml")).expect("golden bundle");
    serde_saphyr::from_str(&text).expect("golden bundle parses")
}

fn id(value: &Value) -> u64 {
    value["id"].as_u64().expect("an ID")
}

/// A running cluster on the emulator and where its files are.
struct Running {
    api: Api,
    dir: tempfile::TempDir,
    config: PathBuf,
    spec: Spec,
    /// Server IDs by node name, in node order.
    servers: Vec<(String, u64)>,
    floating_ip: String,
}

impl Running {
    /// Builds the snapshot, the network, the floating IP and four servers from the snapshot
    /// (labelled as apply labels them, the config hash included), delivers the configs,
    /// bootstraps etcd, waits until healthy and writes the talosconfig and kubeconfig.
    async fn start() -> Running {
        let api = Api::start_with(SimConfig {
            node_validator: Arc::new(talos_hcloud::talos::config::validate::node_validator()),
            ..SimConfig::default()
        })
        .await;
        let builder = id(&api.server("builder", json!({"server_type": "cx23"})).await["server"]);
        let snapshot = snapshot_of(&api, builder, &talos_image(TALOS, Architecture::Amd64)).await;
        let deleted = api.delete(&format!("/servers/{builder}")).await;
        assert_eq!(deleted.status, 200, "{deleted:?}");

        let dir = tempfile::tempdir().expect("a temporary folder");
        let config = dir.path().join("cluster.yaml");
        std::fs::write(&config, cluster_yaml(1)).expect("cluster.yaml is written");
        let spec = spec::load(&config).unwrap_or_else(|e| panic!("{e}"));
        let bundle = bundle();
        std::fs::create_dir_all(spec.local_dir()).expect("the local folder");
        bundle
            .save(&spec.secrets_path(), talos_hcloud::secure_file::Overwrite::Refuse)
            .expect("the bundle is saved");

        let cluster_labels = json!({"talos-hcloud/cluster": CLUSTER});
        let network = api
            .create(
                "/networks",
                json!({"name": "st-network", "ip_range": "10.0.0.0/16", "labels": cluster_labels,
                       "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.1.0/24"}]}),
            )
            .await;
        let network = id(&network["network"]);
        let created = api
            .create(
                "/floating_ips",
                json!({"type": "ipv4", "home_location": "fsn1", "name": "st-api", "labels": cluster_labels}),
            )
            .await;
        let floating_ip = created["floating_ip"]["ip"].as_str().expect("an IP").to_string();

        let endpoint = ApiEndpoint::parse(&floating_ip).expect("endpoint");
        let rendered = render_cluster(&ClusterInputs {
            spec: &spec,
            secrets: &bundle,
            endpoint: &endpoint,
            hcloud_token: Some(&Redacted::new(api.sim.token().to_string())),
        })
        .expect("configs render");
        let mut targets = Vec::new();
        let mut servers = Vec::new();
        for node in rendered {
            let config = node.yaml.into_bytes();
            let hash = talos_hcloud::cluster::nodes::ConfigHash::of(&config).label_value();
            let mut labels = json!({
                "talos-hcloud/cluster": CLUSTER, "talos-hcloud/role": node.role.as_str(),
                "talos-hcloud/node": node.name, LABEL_CONFIG_HASH: hash,
            });
            if node.role == spec::Role::Worker {
                labels["talos-hcloud/pool"] = json!("w");
            }
            let server = api
                .server(
                    &format!("st-{}", node.name),
                    json!({"server_type": "cx23", "image": snapshot.to_string(), "networks": [network], "labels": labels}),
                )
                .await;
            let address: IpAddr = server["server"]["public_net"]["ipv4"]["ip"]
                .as_str()
                .expect("a public IPv4")
                .parse()
                .expect("an address");
            servers.push((node.name.clone(), id(&server["server"])));
            targets.push(NodeTarget {
                name: node.name,
                role: node.role,
                address,
                private_ip: None,
                config: Redacted::new(config),
                applied: Some(hash),
            });
        }
        let control_planes: Vec<IpAddr> = targets
            .iter()
            .filter(|t| t.is_control_plane())
            .map(|t| t.address)
            .collect();
        let talosconfig =
            Talosconfig::derived_for_cluster(&bundle, CLUSTER, &control_planes, time::OffsetDateTime::now_utc())
                .expect("talosconfig");
        let set = NodeSet {
            nodes: targets,
            identity: TalosconfigTarget::from_talosconfig(&talosconfig, None)
                .expect("usable")
                .identity,
            call: CallOptions {
                timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
                retry: Policy::api_call(),
            },
            waits: Waits {
                boot: Duration::from_secs(60),
                health: Duration::from_secs(60),
                poll: Duration::from_millis(100),
            },
        };
        deliver(&set).await.expect("configs delivered");
        bootstrap_once(&set).await.expect("etcd bootstrapped");
        let kubeconfig = set
            .client(&set.nodes[0])
            .expect("client")
            .kubeconfig()
            .await
            .expect("kubeconfig");
        let kubeconfig = Kubeconfig::parse(kubeconfig.expose(), "from the Talos API").expect("kubeconfig parses");
        check_health(&set, &kubeconfig.access().expect("access"))
            .await
            .expect("the cluster becomes healthy");
        write_access_files(
            &spec.local_dir(),
            &AccessFiles {
                kubeconfig,
                endpoint: format!("https://{floating_ip}:6443"),
                talosconfig,
            },
            None,
        )
        .expect("files written");
        Running {
            api,
            dir,
            config,
            spec,
            servers,
            floating_ip,
        }
    }

    fn inputs(&self, spec: &Spec) -> StatusInputs {
        StatusInputs::new(
            spec.local_dir(),
            Inputs {
                secrets: spec.secrets_path(),
                hcloud_token: Some(Redacted::new(self.api.sim.token().to_string())),
            },
            Duration::from_secs(5),
        )
    }

    async fn status(&self) -> StatusReport {
        self.status_of(&self.spec).await
    }

    async fn status_of(&self, spec: &Spec) -> StatusReport {
        let client = crate::hcloud_client::client(&self.api);
        status(&client, spec, &self.inputs(spec)).await.expect("status reads")
    }

    fn server(&self, node: &str) -> u64 {
        self.servers
            .iter()
            .find(|(name, _)| name == node)
            .map(|(_, id)| *id)
            .expect("a server of the node")
    }

    /// Runs the binary: `talos-hcloud -c cluster.yaml ARGS` against the emulator.
    async fn run(&self, args: &[&str]) -> Run {
        let config = self.config.display().to_string();
        let mut all = vec!["-c", config.as_str()];
        all.extend(args);
        let endpoint = self.api.sim.endpoint();
        let env = [
            ("HCLOUD_TOKEN", self.api.sim.token()),
            ("HCLOUD_ENDPOINT", endpoint.as_str()),
        ];
        talos_hcloud_env_async(self.dir.path(), &all, &env).await
    }
}

fn names(report: &StatusReport) -> Vec<&str> {
    report.nodes.iter().map(|n| n.name.as_str()).collect()
}

/// Waits (real time, bounded) until `check` holds for a fresh report.
async fn eventually(running: &Running, what: &str, check: impl Fn(&StatusReport) -> bool) -> StatusReport {
    let mut last = None;
    for _ in 0..100 {
        let report = running.status().await;
        if check(&report) {
            return report;
        }
        last = Some(report);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never seen; last report: {last:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_every_node_and_a_crashed_control_plane_degrades_it() {
    let running = Running::start().await;
    let report = eventually(&running, "a healthy report with the VIP assigned", |r| {
        r.healthy && r.endpoint.assigned_to.is_some()
    })
    .await;
    assert_eq!(names(&report), ["cp-1", "cp-2", "cp-3", "w-1"]);
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.notices, Vec::<String>::new());
    assert_eq!((report.missing.len(), report.extra.len()), (0, 0));
    for node in &report.nodes {
        assert_eq!(node.hetzner_status.as_deref(), Some("running"), "{}", node.name);
        assert!(node.public_ipv4.is_some() && node.private_ip.is_some(), "{node:?}");
        assert!(
            node.private_ip.is_some_and(|ip| ip.octets()[..3] == [10, 0, 1]),
            "{node:?}"
        );
        assert_eq!(node.talos.version.as_deref(), Some(TALOS), "{}", node.name);
        assert_eq!(node.config.in_sync, Some(true), "{node:?}");
        assert_eq!(node.kubelet.as_deref(), Some("Running"), "{}", node.name);
    }
    let roles: Vec<EtcdRole> = report.nodes.iter().map(|n| n.etcd).collect();
    let voting = roles
        .iter()
        .filter(|r| matches!(r, EtcdRole::Member | EtcdRole::Leader))
        .count();
    assert_eq!((voting, roles[3]), (3, EtcdRole::None), "{roles:?}");
    assert_eq!(
        roles[..3].iter().filter(|r| **r == EtcdRole::Leader).count(),
        1,
        "exactly one leader: {roles:?}"
    );
    assert_eq!(
        (
            report.etcd.members,
            report.etcd.healthy,
            report.etcd.needed,
            report.etcd.quorum
        ),
        (3, 3, 2, true)
    );
    assert!(report.endpoint.ready, "{:?}", report.endpoint);
    let live = report.endpoint.live.as_ref().expect("the floating IP exists");
    assert_eq!(live.address.as_deref(), Some(running.floating_ip.as_str()));
    let holder = report.endpoint.assigned_to.clone().expect("assigned");
    assert!(holder.starts_with("st-cp-"), "{holder}");

    // The text form: one line per node.
    let text = render::text(&report);
    assert!(text.starts_with("cluster st: healthy\n"), "{text}");
    assert!(
        text.contains("etcd: 3 of 3 members healthy (2 needed), quorum"),
        "{text}"
    );
    let cp1 = text.lines().find(|l| l.starts_with("cp-1 ")).expect("a row for cp-1");
    assert!(
        cp1.contains(" controlplane ") && cp1.contains(" v1.11.6 ") && cp1.contains(" in-sync "),
        "{cp1}"
    );

    // The binary: exit 0 and the same report as one JSON document.
    let run = running.run(&["--output", "json", "status"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(document["cluster"], "st");
    assert_eq!(document["healthy"], true);
    assert_eq!(
        document["etcd"],
        json!({"members": 3, "healthy": 3, "needed": 2, "quorum": true})
    );
    assert_eq!(document["endpoint"]["kind"], "floating-ip");
    assert_eq!(document["endpoint"]["name"], "st-api");
    assert_eq!(document["endpoint"]["ready"], true);
    let nodes = document["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4);
    let worker = &nodes[3];
    assert_eq!(worker["name"], "w-1");
    assert_eq!(worker["role"], "worker");
    assert_eq!(worker["server"], "st-w-1");
    assert_eq!(worker["hetzner_status"], "running");
    assert_eq!(
        worker["talos"],
        json!({"reachable": true, "version": TALOS, "error": null})
    );
    assert_eq!(worker["config"]["in_sync"], true);
    assert_eq!(worker["etcd"], "none");
    assert_eq!(worker["kubelet"], "Running");
    assert!(!run.stdout.contains(running.api.sim.token()), "the token never shows");

    // A node cluster.yaml adds but nobody created yet: missing, degraded.
    let grown = running.dir.path().join("grown.yaml");
    std::fs::write(&grown, cluster_yaml(2)).expect("written");
    let report = running.status_of(&spec::load(&grown).expect("valid")).await;
    assert_eq!(report.missing, ["w-2"]);
    assert!(!report.healthy);
    assert!(
        report.problems.contains(&"w-2: no server (run apply)".to_string()),
        "{:?}",
        report.problems
    );

    // Without the files apply writes, the Hetzner side is still reported and nothing hangs.
    let empty = tempfile::tempdir().expect("a temporary folder");
    let mut inputs = running.inputs(&running.spec);
    inputs.dir = empty.path().to_path_buf();
    let client = crate::hcloud_client::client(&running.api);
    let report = status(&client, &running.spec, &inputs).await.expect("status reads");
    assert!(!report.healthy);
    assert!(
        report.problems[0].starts_with("talos: the nodes were not asked: "),
        "{:?}",
        report.problems
    );
    assert!(
        report.endpoint.detail.starts_with("/readyz not checked: cannot read "),
        "{:?}",
        report.endpoint
    );
    assert!(
        report
            .nodes
            .iter()
            .all(|n| n.hetzner_status.as_deref() == Some("running") && n.config.in_sync == Some(true))
    );

    // cp-3 crashes: Hetzner says off, etcd keeps quorum with 2 of 3, status is degraded.
    running
        .api
        .sim
        .crash_server(running.server("cp-3"))
        .expect("the crash control answers");
    // If cp-3 held the floating IP, the Talos VIP moves it to another control plane first.
    let report = eventually(&running, "cp-3 reported off, the endpoint ready", |r| {
        r.nodes[2].hetzner_status.as_deref() == Some("off") && r.etcd.healthy == 2 && r.endpoint.ready
    })
    .await;
    assert!(!report.healthy);
    assert_eq!(report.problems, ["cp-3: server is off"]);
    assert_eq!(
        (report.etcd.members, report.etcd.healthy, report.etcd.quorum),
        (3, 2, true)
    );
    assert!(!report.nodes[2].talos.reachable);
    // The crashed member is still listed (a member, unhealthy); one of the others leads.
    let roles: Vec<EtcdRole> = report.nodes[..3].iter().map(|n| n.etcd).collect();
    assert_eq!(
        roles[..2].iter().filter(|r| **r == EtcdRole::Leader).count(),
        1,
        "{roles:?}"
    );
    assert_eq!(roles[2], EtcdRole::Member);
    let run = running.run(&["status"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let degraded =
        run.stdout.starts_with("cluster st: DEGRADED\n") && run.stdout.contains("problems:\n  cp-3: server is off");
    assert!(degraded, "{}", run.stdout);
    assert_eq!(
        run.stderr.lines().next(),
        Some("error: cluster st is degraded: cp-3: server is off")
    );
    let run = running.run(&["--output", "json", "status"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(document["ok"], false);
    let details = &document["error"]["details"];
    assert_eq!(details["healthy"], false);
    assert_eq!(details["problems"], json!(["cp-3: server is off"]));
    assert_eq!(details["nodes"][2]["hetzner_status"], "off");
    assert_eq!(details["nodes"][2]["talos"]["reachable"], false);

    // cp-2 hangs too: its calls time out (bounded), etcd loses quorum (cp-1's etcd reports
    // unhealthy without it), the members still come from a local view, and every problem
    // is named.
    running
        .api
        .sim
        .hang_server(running.server("cp-2"), true)
        .expect("the hang control answers");
    let report = running.status().await;
    let hung = &report.nodes[1];
    assert_eq!(hung.hetzner_status.as_deref(), Some("running"));
    assert!(!hung.talos.reachable, "{hung:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("cp-2: Talos API unreachable: ")),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .contains(&"etcd: no quorum (0 of 3 members healthy, 2 needed)".to_string()),
        "{:?}",
        report.problems
    );
    assert!(!report.endpoint.ready);
    assert!(report.problems.contains(&"cp-1: etcd is not healthy".to_string()));
    let roles: Vec<EtcdRole> = report.nodes[..3].iter().map(|n| n.etcd).collect();
    assert_eq!(roles, [EtcdRole::Member; 3], "no leader without quorum");
    running
        .api
        .sim
        .hang_server(running.server("cp-2"), false)
        .expect("the hang ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_gen_finds_the_floating_ip_live_and_says_when_it_does_not_exist() {
    let api = Api::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("cluster.yaml");
    std::fs::write(&config, cluster_yaml(1)).expect("cluster.yaml is written");
    let spec = spec::load(&config).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(spec.local_dir()).expect("the local folder");
    bundle()
        .save(&spec.secrets_path(), talos_hcloud::secure_file::Overwrite::Refuse)
        .expect("the bundle is saved");
    let endpoint = api.sim.endpoint();
    let env = [
        ("HCLOUD_TOKEN", api.sim.token()),
        ("HCLOUD_ENDPOINT", endpoint.as_str()),
    ];
    let config_gen = |extra: &'static [&'static str]| {
        let mut args = vec!["-c", "cluster.yaml", "--output", "json", "config", "gen", "--force"];
        args.extend(extra);
        let (dir, env) = (dir.path(), &env);
        async move { talos_hcloud_env_async(dir, &args, env).await }
    };

    // Before apply: no floating IP, exit 2 with what to do, one read-only request.
    let run = config_gen(&[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(
        document["error"]["message"],
        "the floating IP st-api of cluster st does not exist yet, so the Kubernetes API endpoint is not known"
    );
    assert_eq!(
        document["error"]["hints"],
        json!([
            "run `talos-hcloud apply` first (it creates the floating IP), or pass --endpoint; \
             `hcloud floating-ip list -l talos-hcloud/cluster=st` shows what exists"
        ])
    );
    let requests: Vec<(String, String)> = api
        .sim
        .request_log()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(requests, [("GET".to_string(), "/v1/floating_ips".to_string())]);
    assert!(!configs_written(&spec));

    // A floating IP of another cluster with the same name is not ours.
    let other = json!({"talos-hcloud/cluster": "other"});
    api.create(
        "/floating_ips",
        json!({"type": "ipv4", "home_location": "fsn1", "name": "other-api", "labels": other}),
    )
    .await;
    assert_eq!(config_gen(&[]).await.code, 2);

    // Once it exists, its address is the endpoint.
    let created = api
        .create(
            "/floating_ips",
            json!({"type": "ipv4", "home_location": "fsn1", "name": "st-api", "labels": {"talos-hcloud/cluster": CLUSTER}}),
        )
        .await;
    let ip = created["floating_ip"]["ip"].as_str().expect("an IP").to_string();
    let run = config_gen(&[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(document["endpoint"], format!("https://{ip}:6443"));
    let cp1 = std::fs::read_to_string(spec.configs_dir().join("cp-1.yaml")).expect("cp-1's config");
    assert!(
        cp1.contains(&format!("endpoint: https://{ip}:6443")),
        "the config names the endpoint"
    );

    // --endpoint still overrides, and then nothing is asked.
    api.sim.clear_request_log();
    let run = config_gen(&["--endpoint", "127.9.9.9"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let document: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(document["endpoint"], "https://127.9.9.9:6443");
    assert_eq!(api.sim.request_log().len(), 0);
}

fn configs_written(spec: &Spec) -> bool {
    Path::new(&spec.configs_dir()).exists()
}
