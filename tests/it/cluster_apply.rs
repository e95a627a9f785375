//! `apply` against the time-scaled emulator over real sockets (issue 11): a 3 + 3 cluster
//! with a floating IP and an ingress load balancer from nothing (the kubeconfig reaches
//! `/readyz` through the floating IP, the talosconfig reaches every node, etcd has three
//! members), a re-run that sends no mutating request, one more worker that adds exactly
//! one server, and bad input refused before any request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use talos_hcloud::cluster::apply::{self, ApplyOptions, ApplyReport};
use talos_hcloud::cluster::kubeconfig::Kubeconfig;
use talos_hcloud::cluster::nodes::Waits;
use talos_hcloud::hcloud::Client;
use talos_hcloud::hcloud::labels::{self, Selector};
use talos_hcloud::image::build::{self, BuildRequest, Via};
use talos_hcloud::redact::Redacted;
use talos_hcloud::retry::Policy;
use talos_hcloud::spec::{self, Architecture, Spec, TalosVersion};
use talos_hcloud::talos::api::{CallOptions, Credentials, MemberListScope, TalosClient, TalosconfigTarget};
use talos_hcloud::talos::talosconfig::Talosconfig;

use crate::harness::{repo_root, talos_hcloud_env_async};
use crate::image_build::mutations;
use crate::sim_common::Api;
use crate::sim_e2e::{HCLOUD_YAML, client, emulator};

fn version() -> String {
    talos_hcloud::sim::factory::default_versions()
        .into_iter()
        .rfind(|v| !v.contains('-'))
        .expect("the factory offers a stable version")
}

/// cluster.yaml of a cluster with three control planes and `workers` workers behind a
/// floating IP, with an ingress load balancer on the workers.
pub fn cluster_yaml(workers: usize) -> String {
    let schematic = HCLOUD_YAML.replace('\n', "\n    ");
    format!(
        "name: apply-test\nprefix: at-\nlocation: fsn1\ntalos:\n  version: {version}\n  schematic:\n    {schematic}\n\
         kubernetes:\n  version: v1.34.1\nnetwork:\n  cidr: 10.0.0.0/16\n  subnet: 10.0.1.0/24\n  zone: eu-central\n\
         endpoint: floating-ip\nfirewall:\n  admin_cidrs: [127.0.0.0/8]\n\
         controlplane:\n  type: cax11\n  nodes: [cp-1, cp-2, cp-3]\n\
         workers:\n  - pool: general\n    type: cax11\n    count: {workers}\n\
         load_balancers:\n  - name: ingress\n    type: lb11\n    targets: {{ pool: general }}\n    services:\n\
         \x20     - {{ listen: 80, target: 80 }}\n      - {{ listen: 443, target: 443, proxy_protocol: true }}\n",
        version = version(),
    )
}

/// A folder with cluster.yaml (and the golden secrets bundle: key generation is slow).
pub fn workspace(workers: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, cluster_yaml(workers)).expect("cluster.yaml is written");
    (dir, path)
}

pub fn load(path: &Path) -> Spec {
    spec::load(path).unwrap_or_else(|e| panic!("cluster.yaml loads: {e}"))
}

/// Builds the arm64 snapshot of the cluster's schematic and version on the emulator.
async fn snapshot(api: &Api, hc: &Client) {
    let schematic = talos_hcloud::factory::Schematic::parse(HCLOUD_YAML, "test").expect("a schematic");
    let version = TalosVersion::parse_tag(&version()).expect("a version");
    let mut request = BuildRequest::new(schematic, version, &[Architecture::Arm64]).expect("a request");
    request.via = Via::Remote;
    let factory = talos_hcloud::factory::FactoryClient::new(&api.sim.factory_url()).expect("a factory client");
    build::build(hc, &factory, &request, &crate::image_build::options())
        .await
        .expect("the snapshot is built");
}

/// The emulator with the cluster's snapshot built.
pub async fn emulator_with_snapshot() -> (Api, Client) {
    let api = emulator().await;
    let hc = client(&api);
    snapshot(&api, &hc).await;
    (api, hc)
}

/// Apply options for the emulator: fast Talos waits, the golden secrets bundle.
pub fn options(api: &Api, spec: &Spec) -> ApplyOptions {
    let secrets = spec.secrets_path();
    if let Some(parent) = secrets.parent() {
        std::fs::create_dir_all(parent).expect("the cluster folder");
    }
    if !secrets.exists() {
        std::fs::copy(repo_root().join("tests/fixtures/talos/secrets.yaml"), &secrets).expect("the bundle");
    }
    let mut options = ApplyOptions::for_spec(spec);
    options.hcloud_token = Some(Redacted::new(api.sim.token().to_string()));
    options.waits = Waits {
        boot: Duration::from_secs(60),
        health: Duration::from_secs(60),
        poll: Duration::from_millis(50),
    };
    options.call = CallOptions {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        retry: Policy::api_call().with_delays(Duration::from_millis(20), Duration::from_millis(200)),
    };
    options
}

pub async fn apply_once(api: &Api, path: &Path) -> Result<ApplyReport, apply::ApplyError> {
    let spec = load(path);
    let options = options(api, &spec);
    // A fresh client per run: its request counter is the run's.
    apply::run(&client(api), &spec, &options, &|_line| {}).await
}

/// Runs the binary's `apply` in `dir` on cluster.yaml `path` against the emulator.
pub async fn apply_binary(api: &Api, dir: &Path, path: &Path) -> crate::harness::Run {
    let config = path.display().to_string();
    let endpoint = api.sim.endpoint();
    talos_hcloud_env_async(
        dir,
        &["-c", &config, "apply"],
        &[("HCLOUD_TOKEN", api.sim.token()), ("HCLOUD_ENDPOINT", &endpoint)],
    )
    .await
}

pub async fn cluster_servers(hc: &Client) -> Vec<String> {
    let mut names: Vec<String> = hc
        .list_servers(&Selector::new().eq(labels::CLUSTER, "apply-test"))
        .await
        .expect("servers")
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    names
}

/// `/readyz` through the kubeconfig's server.
async fn readyz(kubeconfig: &Path) -> (String, u16) {
    let bytes = std::fs::read(kubeconfig).expect("the kubeconfig");
    let access = Kubeconfig::parse(&bytes, "written")
        .expect("parses")
        .access()
        .expect("access");
    let http = access.http_client(Duration::from_secs(10)).expect("a client");
    let status = http
        .get(format!("{}/readyz", access.server()))
        .send()
        .await
        .expect("/readyz answers")
        .status()
        .as_u16();
    (access.server().to_string(), status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_from_nothing_then_rerun_changes_nothing_then_one_more_worker_is_one_server() {
    let (api, hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(3);
    api.sim.clear_request_log();

    let report = apply_once(&api, &path).await.unwrap_or_else(|e| panic!("apply: {e:?}"));
    let servers = cluster_servers(&hc).await;
    assert_eq!(
        servers,
        [
            "at-cp-1",
            "at-cp-2",
            "at-cp-3",
            "at-general-1",
            "at-general-2",
            "at-general-3"
        ]
    );
    assert!(
        report.created.contains(&"network at-network".to_string()),
        "{:?}",
        report.created
    );
    assert_eq!(report.created.iter().filter(|c| c.starts_with("server ")).count(), 6);
    assert_eq!(report.floating_ip_assigned.as_deref(), Some("at-cp-1"));
    assert_eq!(report.talos.bootstrap, "bootstrapped on cp-1");
    assert_eq!(report.talos.etcd_members, 3);
    assert!(
        report.talos.delivered.iter().all(|(_, d)| *d == "applied"),
        "{:?}",
        report.talos.delivered
    );

    // The kubeconfig reaches /readyz through the floating IP.
    let floating = hc
        .list_floating_ips(&Selector::new().eq(labels::CLUSTER, "apply-test"))
        .await
        .expect("floating IPs");
    assert_eq!(floating.len(), 1);
    let (server, status) = readyz(&report.talos.kubeconfig).await;
    assert_eq!(server, format!("https://{}:6443", floating[0].ip));
    assert_eq!(status, 200);
    assert_eq!(
        report.talos.kubeconfig,
        dir.path().join(".talos-hcloud/apply-test/kubeconfig")
    );

    // The talosconfig reaches every node; etcd has three members.
    let talosconfig = Talosconfig::load(&report.talos.talosconfig).expect("the talosconfig");
    let target = TalosconfigTarget::from_talosconfig(&talosconfig, None).expect("usable");
    assert_eq!(target.endpoints.len(), 3);
    let all = hc
        .list_servers(&Selector::new().eq(labels::CLUSTER, "apply-test"))
        .await
        .expect("servers");
    for server in &all {
        let ip: std::net::IpAddr = server
            .public_net
            .ipv4
            .as_ref()
            .expect("IPv4")
            .ip
            .parse()
            .expect("an IP");
        let node = TalosClient::new(
            std::net::SocketAddr::new(ip, 50000),
            &Credentials::Configured(target.identity.clone()),
            CallOptions::default(),
        )
        .expect("a client");
        node.version()
            .await
            .unwrap_or_else(|e| panic!("{} answers: {e}", server.name));
    }
    let first = TalosClient::new(
        target.endpoints[0],
        &Credentials::Configured(target.identity.clone()),
        CallOptions::default(),
    )
    .expect("a client");
    let members = first.etcd_members(MemberListScope::Local).await.expect("members");
    assert_eq!(members.len(), 3);

    // Re-run: nothing changes.
    api.sim.clear_request_log();
    let again = apply_once(&api, &path).await.expect("re-run");
    assert_eq!(mutations(&api), Vec::<String>::new());
    assert!(again.created.is_empty());
    assert!(
        again.talos.bootstrap.starts_with("already bootstrapped"),
        "{}",
        again.talos.bootstrap
    );
    assert!(again.talos.delivered.iter().all(|(_, d)| *d == "unchanged"));

    // One more worker: exactly one new server.
    std::fs::write(&path, cluster_yaml(4)).expect("cluster.yaml");
    api.sim.clear_request_log();
    let grown = apply_once(&api, &path).await.unwrap_or_else(|e| panic!("grow: {e:?}"));
    let creates: Vec<String> = mutations(&api)
        .into_iter()
        .filter(|m| m == "POST /v1/servers")
        .collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(grown.created, ["primary_ip at-general-4-ipv4", "server at-general-4"]);
    assert_eq!(cluster_servers(&hc).await.len(), 7);
    assert!(grown.talos.bootstrap.starts_with("already bootstrapped"));

    // A changed config: rolled out node by node, control planes first; only labels change
    // on the Hetzner side, and the run after that changes nothing.
    let changed = cluster_yaml(4) + "sysctls: { net.core.somaxconn: \"4096\" }\n";
    std::fs::write(&path, changed).expect("cluster.yaml");
    api.sim.clear_request_log();
    let rolled = apply_once(&api, &path)
        .await
        .unwrap_or_else(|e| panic!("rolling: {e:?}"));
    let order: Vec<&str> = rolled.talos.rolled.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        order,
        [
            "cp-1",
            "cp-2",
            "cp-3",
            "general-1",
            "general-2",
            "general-3",
            "general-4"
        ]
    );
    assert!(rolled.created.is_empty());
    assert_eq!(rolled.hashes_recorded.len(), 7);
    let changes = mutations(&api);
    assert_eq!(changes.len(), 7, "{changes:?}");
    assert!(changes.iter().all(|m| m.starts_with("PUT /v1/servers/")), "{changes:?}");
    api.sim.clear_request_log();
    let settled = apply_once(&api, &path).await.expect("settled");
    assert_eq!(mutations(&api), Vec::<String>::new());
    assert!(settled.talos.rolled.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_before_any_request() {
    let api = Api::start().await;
    let (dir, path) = workspace(3);
    std::fs::write(&path, cluster_yaml(3).replace("count: 3", "count: three")).expect("cluster.yaml");
    let run = apply_binary(&api, dir.path(), &path).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("count"), "{}", run.stderr);
    assert!(api.sim.request_log().is_empty(), "zero API calls");
}

/// The phases a node created by the run passes through, in order, as the plain progress
/// lines name them.
const NEW_NODE_PHASES: [&str; 5] = [
    "creating",
    "booting",
    "config delivered, rebooting",
    "apid ready",
    "healthy",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_without_a_terminal_prints_timestamped_phases_until_every_node_is_healthy() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(3);
    options(&api, &load(&path));
    let config = path.display().to_string();
    let endpoint = api.sim.endpoint();
    let env = [
        ("HCLOUD_TOKEN", api.sim.token()),
        ("HCLOUD_ENDPOINT", endpoint.as_str()),
    ];
    let run = talos_hcloud_env_async(dir.path(), &["-c", &config, "apply"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Every line is `HH:MM:SS TEXT`; per node, its phases in order, each once.
    let mut phases: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for line in run.stderr.lines() {
        let (stamp, text) = line
            .split_at_checked(9)
            .unwrap_or_else(|| panic!("a short line: {line:?}"));
        let digits: Vec<&str> = stamp.trim_end().split(':').collect();
        assert!(
            stamp.ends_with(' ') && digits.len() == 3 && digits.iter().all(|d| d.len() == 2 && d.parse::<u8>().is_ok()),
            "not timestamped: {line:?}"
        );
        if let Some((node, phase)) = text.split_once(": ")
            && !["etcd", "health"].contains(&node)
        {
            phases.entry(node.to_string()).or_default().push(phase.to_string());
        }
    }
    let nodes = ["cp-1", "cp-2", "cp-3", "general-1", "general-2", "general-3"];
    assert_eq!(
        phases.keys().map(String::as_str).collect::<Vec<_>>(),
        nodes,
        "{}",
        run.stderr
    );
    for (node, seen) in &phases {
        let mut expected: Vec<&str> = NEW_NODE_PHASES.to_vec();
        if node.starts_with("cp-") {
            expected.insert(4, "etcd member");
        }
        assert_eq!(seen, &expected, "{node}:\n{}", run.stderr);
    }
    assert!(run.stderr.contains(" etcd: bootstrapped on cp-1\n"), "{}", run.stderr);

    // A re-run: nothing created; every node answers and ends healthy.
    let again = talos_hcloud_env_async(dir.path(), &["-c", &config, "apply"], &env).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    for node in nodes {
        let last = again
            .stderr
            .lines()
            .rfind(|l| l.get(9..).is_some_and(|t| t.starts_with(&format!("{node}: "))))
            .unwrap_or_else(|| panic!("no line of {node}:\n{}", again.stderr));
        assert!(last.ends_with(&format!("{node}: healthy")), "{}", again.stderr);
    }
    assert!(!again.stderr.contains(": creating"), "{}", again.stderr);

    // `-q`: no progress at all.
    let quiet = talos_hcloud_env_async(dir.path(), &["-q", "-c", &config, "apply"], &env).await;
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert_eq!(quiet.stderr, "", "quiet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_workers_are_split_over_two_placement_groups_of_at_most_ten() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (_dir, path) = workspace(11);
    let report = apply_once(&api, &path).await.unwrap_or_else(|e| panic!("apply: {e:?}"));
    assert_eq!(report.created.iter().filter(|c| c.starts_with("server ")).count(), 14);

    let selector = format!("label_selector={}%3Dapply-test", labels::CLUSTER.replace('/', "%2F"));
    let groups = api.get(&format!("/placement_groups?per_page=50&{selector}")).await;
    assert_eq!(groups.status, 200, "{}", groups.body);
    let groups = groups.body["placement_groups"]
        .as_array()
        .expect("placement groups")
        .clone();
    let members = |name: &str| -> Vec<i64> {
        let group = groups
            .iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("placement group {name}: {groups:?}"));
        assert_eq!(group["type"], "spread", "{group}");
        let mut ids: Vec<i64> = group["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .map(|id| id.as_i64().expect("an ID"))
            .collect();
        ids.sort_unstable();
        ids
    };
    let mut names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().expect("a name")).collect();
    names.sort_unstable();
    assert_eq!(names, ["at-controlplane", "at-pool-general", "at-pool-general-pg2"]);
    let (first, second) = (members("at-pool-general"), members("at-pool-general-pg2"));
    assert_eq!((first.len(), second.len()), (10, 1));
    assert_eq!(members("at-controlplane").len(), 3);

    // Every worker is in exactly one of the two, as each server says too.
    let servers = api.get(&format!("/servers?per_page=50&{selector}")).await;
    let servers = servers.body["servers"].as_array().expect("servers").clone();
    assert_eq!(servers.len(), 14);
    for server in servers
        .iter()
        .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("at-general-")))
    {
        let id = server["id"].as_i64().expect("an ID");
        let holders = [&first, &second].iter().filter(|g| g.contains(&id)).count();
        assert_eq!(holders, 1, "{} is in {holders} worker groups", server["name"]);
        let group = server["placement_group"]["name"]
            .as_str()
            .expect("in a placement group");
        let expected = if first.contains(&id) {
            "at-pool-general"
        } else {
            "at-pool-general-pg2"
        };
        assert_eq!(group, expected, "{}", server["name"]);
    }
    assert_eq!(servers.len() - 3, first.len() + second.len());
    assert!(
        servers
            .iter()
            .any(|s| s["name"] == "at-general-11" && s["placement_group"]["name"] == "at-pool-general-pg2"),
        "the eleventh worker opens the second group"
    );

    // A re-run changes nothing.
    api.sim.clear_request_log();
    apply_once(&api, &path).await.expect("re-run");
    assert_eq!(mutations(&api), Vec::<String>::new());
}
