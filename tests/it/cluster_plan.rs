//! `plan` against the emulator over HTTP: the reference cluster from nothing (whole text
//! snapshot, prices), a half-made cluster (only the rest is created, a changed rule list
//! is an update in place), a changed server type (replace with the reason), a labelled
//! resource no longer wanted (delete), a cluster that matches (no changes, exit codes),
//! placement groups split above ten servers, a missing snapshot as a pre-flight blocker,
//! and bad input refused before any request.

use std::path::{Path, PathBuf};

use hcloud::models::Rule;
use hcloud::models::rule::{Direction, Protocol};
use serde_json::Value;
use talos_hcloud::cluster::desired::{self, Desired};
use talos_hcloud::cluster::live;
use talos_hcloud::hcloud::labels::Labels;
use talos_hcloud::hcloud::{ActionId, Client, CreateServer, NetworkId, PlacementGroupId, Protected};
use talos_hcloud::spec::{self, Spec};

use crate::harness::{Run, repo_root, talos_hcloud_env_async};
use crate::hcloud_client::client;
use crate::sim_common::Api;

/// A small cluster: one control plane, a floating IP, no workers.
pub(crate) const TINY: &str = "\
name: tiny
prefix: tiny-
location: fsn1
talos:
  version: v1.11.6
  schematic:
    customization:
      systemExtensions:
        officialExtensions: [siderolabs/qemu-guest-agent]
kubernetes:
  version: v1.34.1
network:
  cidr: 10.0.0.0/16
  subnet: 10.0.1.0/24
  zone: eu-central
endpoint: floating-ip
firewall:
  admin_cidrs: [203.0.113.7/32]
controlplane:
  type: cax11
  nodes: [cp-1]
";

/// The reference cluster.yaml of the repository.
fn reference() -> PathBuf {
    repo_root().join("cluster.yaml")
}

/// Writes `text` as cluster.yaml in a new temporary folder.
fn cluster_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, text).expect("cluster.yaml is written");
    (dir, path)
}

/// Runs `talos-hcloud -c CONFIG plan ARGS` with `env` (no secrets bundle unless ARGS name one).
async fn plan_with(config: &Path, args: &[&str], env: Vec<(String, String)>) -> Run {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = config.display().to_string();
    let mut all = vec!["-c", config.as_str(), "plan"];
    if !args.contains(&"--secrets") {
        all.extend(["--secrets", "no-secrets.yaml"]);
    }
    all.extend(args);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    talos_hcloud_env_async(dir.path(), &all, &env).await
}

/// Runs `talos-hcloud -c CONFIG plan ARGS` against the emulator (no secrets bundle).
async fn plan(api: &Api, config: &Path, args: &[&str]) -> Run {
    let env = vec![
        ("HCLOUD_TOKEN".to_string(), api.sim.token().to_string()),
        ("HCLOUD_ENDPOINT".to_string(), api.sim.endpoint()),
    ];
    plan_with(config, args, env).await
}

async fn plan_json(api: &Api, config: &Path) -> Value {
    let run = plan(api, config, &["--output", "json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str(&run.stdout).expect("plan --output json prints one JSON document")
}

pub(crate) fn labels(map: &spec::Labels) -> Labels {
    map.iter().fold(Labels::new(), |labels, (k, v)| {
        labels.with(k, v).expect("a valid label")
    })
}

async fn wait(client: &Client, what: &str, ids: &[ActionId]) {
    client.wait_for_actions(what, ids).await.expect("the actions finish");
}

/// Builds a Talos snapshot for `spec`'s schematic and version the way `image build` labels
/// it (from an Ubuntu builder, which is enough for planning).
pub(crate) async fn snapshot(client: &Client, spec: &Spec, arch: &str) -> i64 {
    let name = format!("builder-{arch}");
    let server_type = if arch == "arm64" { "cax11" } else { "cx23" };
    let mut builder = CreateServer::new(&name, server_type, "ubuntu-24.04", Labels::builder("other").unwrap());
    builder.location = Some("fsn1".into());
    let created = client.create_server(&builder).await.expect("the builder is created");
    wait(client, "creating the builder", &created.action_ids()).await;
    let labels = Labels::snapshot(spec.talos.schematic.id.as_str(), &spec.talos.version.to_string(), arch).unwrap();
    let image = client
        .create_image(created.id(), "talos snapshot", &labels)
        .await
        .expect("the snapshot is taken");
    if let Some(action) = &image.action {
        wait(client, "taking the snapshot", &[ActionId::new(action.id)]).await;
    }
    let deleted = client
        .delete_server(created.id())
        .await
        .expect("the builder is deleted");
    if let Some(action) = deleted {
        wait(client, "deleting the builder", &[ActionId::new(action.id)]).await;
    }
    image.image.id
}

/// The API form of a desired rule.
fn api_rule(rule: &desired::FirewallRule) -> Rule {
    let protocol = match rule.protocol.as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => Protocol::Icmp,
    };
    let mut api = Rule::new(Direction::In, protocol);
    api.port = Some(rule.port.clone());
    api.source_ips = Some(rule.source_ips.clone());
    api
}

/// What the plan would create, read through the library (the same as the command does).
pub(crate) async fn desired_state(client: &Client, spec: &Spec) -> Desired {
    let live = live::read(client, spec).await.expect("the live state is read");
    desired::desired(spec, &live, &Default::default()).expect("a desired state")
}

/// Creates every resource of `desired` except servers and load balancers, as apply
/// would; returns the network's and placement groups' IDs.
pub(crate) async fn create_infrastructure(
    client: &Client,
    desired: &Desired,
) -> (NetworkId, Vec<(String, PlacementGroupId)>) {
    let net = &desired.network;
    let network = client
        .create_network(
            &net.name,
            &net.ip_range,
            &[(net.subnet.0.as_str(), net.subnet.1.as_str())],
            &labels(&net.labels),
        )
        .await
        .expect("the network is created");
    for firewall in &desired.firewalls {
        let rules: Vec<Rule> = firewall.rules.iter().map(api_rule).collect();
        client
            .create_firewall(&firewall.name, &rules, None, &labels(&firewall.labels))
            .await
            .expect("the firewall is created");
    }
    let mut groups = Vec::new();
    for group in &desired.placement_groups {
        let created = client
            .create_placement_group(&group.name, &labels(&group.labels))
            .await
            .expect("the placement group is created");
        groups.push((group.name.clone(), PlacementGroupId::new(created.resource.id)));
    }
    for ip in &desired.primary_ips {
        client
            .create_primary_ip(&ip.name, "ipv4", &ip.location, &labels(&ip.labels))
            .await
            .expect("the primary IP is created");
    }
    if let Some(ip) = &desired.floating_ip {
        client
            .create_floating_ip(&ip.name, "ipv4", &ip.home_location, &labels(&ip.labels))
            .await
            .expect("the floating IP is created");
    }
    (NetworkId::new(network.resource.id), groups)
}

/// Creates a desired server (with another type when `server_type` says so), running and
/// protected
/// when the desired state says so, as apply does.
pub(crate) async fn create_server(
    client: &Client,
    server: &desired::DesiredServer,
    image: i64,
    server_type: &str,
    network: NetworkId,
    groups: &[(String, PlacementGroupId)],
) {
    let mut create = CreateServer::new(&server.name, server_type, &image.to_string(), labels(&server.labels));
    create.location = Some(server.location.clone());
    create.networks = vec![network];
    create.start_after_create = true;
    create.placement_group = groups
        .iter()
        .find(|(name, _)| *name == server.placement_group)
        .map(|(_, id)| *id);
    let created = client.create_server(&create).await.expect("the server is created");
    wait(client, "creating a server", &created.action_ids()).await;
    if server.protected {
        let action = client
            .set_protection(Protected::Server, created.id().get(), true)
            .await
            .expect("the protection is set");
        wait(client, "protecting a server", &[ActionId::new(action.id)]).await;
    }
}

/// The change of `kind` called `name` in a JSON plan.
fn change<'a>(plan: &'a Value, kind: &str, name: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .expect("changes is a list")
        .iter()
        .find(|c| c["kind"] == kind && c["name"] == name)
        .unwrap_or_else(|| panic!("no change of {kind} {name} in {plan:#}"))
}

fn actions(plan: &Value) -> Vec<(String, String, String)> {
    plan["changes"]
        .as_array()
        .expect("changes is a list")
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or_default().to_string(),
                c["kind"].as_str().unwrap_or_default().to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_cluster_from_nothing() {
    let api = Api::start().await;
    let hc = client(&api);
    let spec = spec::load(&reference()).expect("the reference cluster.yaml is valid");
    let image = snapshot(&hc, &spec, "arm64").await;

    let run = plan(&api, &reference(), &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let text = run
        .stdout
        .replace(&repo_root().display().to_string(), "[REPO]")
        .replace(&image.to_string(), "[SNAPSHOT]");
    insta::assert_snapshot!("cluster_plan_from_nothing", text);

    let json = plan_json(&api, &reference()).await;
    let creates = actions(&json)
        .iter()
        .filter(|(action, _, _)| action == "create")
        .count();
    // network, 2 firewalls, 2 placement groups, 6 primary IPs, floating IP, 6 servers, 1 LB.
    assert_eq!(creates, 19);
    assert_eq!(json["counts"]["create"], 19);
    let text_creates = run.stdout.lines().filter(|l| l.starts_with("  + ")).count();
    assert_eq!(text_creates, creates, "text and JSON list the same creates");
    assert!(
        run.stdout
            .contains("Plan: 19 to create, 0 to update in place, 0 to replace, 0 to delete")
    );
    assert_eq!(json["unchanged"], 0);
    assert_eq!(json["has_changes"], true);
    // Gross monthly prices of the emulator's price list (net × 1.19): 3 × cax11 4.5101,
    // 3 × cax41 29.1431, 6 primary IPv4 0.5950, a floating IPv4 3.5700, an lb11 6.4141.
    assert_eq!(json["cost"]["currency"], "EUR");
    assert_eq!(json["cost"]["added"], "114.51");
    assert_eq!(json["cost"]["removed"], "0.00");
    let existing = json["cost"]["existing"].as_str().expect("a price");
    let after: f64 = json["cost"]["after"].as_str().unwrap().parse().unwrap();
    let now: f64 = existing.parse().unwrap();
    assert!((after - now - 114.51).abs() < 0.011, "{json:#}");
    assert_eq!(json["preflight"], serde_json::json!([]), "nothing blocks an apply");
    let server = change(&json, "server", "tc-prod-cp-1");
    assert!(
        server["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "image" && f["to"].as_str().unwrap().starts_with(&image.to_string())),
        "{server:#}"
    );

    let detailed = plan(&api, &reference(), &["--detailed-exitcode"]).await;
    assert_eq!(detailed.code, 2, "changes pending: {detailed:?}");
    assert_eq!(detailed.stdout, run.stdout);
    assert_eq!(detailed.stderr, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_made_cluster_plans_only_the_rest() {
    let api = Api::start().await;
    let hc = client(&api);
    let spec = spec::load(&reference()).unwrap();
    let image = snapshot(&hc, &spec, "arm64").await;
    let mut want = desired_state(&hc, &spec).await;
    // The worker firewall as an older version left it: only the Talos API rule.
    want.firewalls[1]
        .rules
        .retain(|rule| rule.port.as_deref() == Some("50000"));
    let (network, groups) = create_infrastructure(&hc, &want).await;
    // cp-1 exists, with the type cluster.yaml had before (cax21); an old worker is left over.
    create_server(&hc, &want.servers[0], image, "cax21", network, &groups).await;
    let mut old = want.servers[3].clone();
    old.name = "tc-prod-general-9".into();
    old.labels.insert("talos-hcloud/node".into(), "general-9".into());
    create_server(&hc, &old, image, "cax41", network, &groups).await;

    let json = plan_json(&api, &reference()).await;
    let planned = actions(&json);
    let of = |action: &str| {
        planned
            .iter()
            .filter(|(a, _, _)| a == action)
            .map(|(_, kind, name)| format!("{kind} {name}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of("create"),
        [
            "server tc-prod-cp-2",
            "server tc-prod-cp-3",
            "server tc-prod-general-1",
            "server tc-prod-general-2",
            "server tc-prod-general-3",
            "load_balancer tc-prod-ingress",
        ]
    );
    assert_eq!(of("update"), ["firewall tc-prod-worker"]);
    assert_eq!(of("replace"), ["server tc-prod-cp-1"]);
    assert_eq!(of("delete"), ["server tc-prod-general-9"]);
    let replace = change(&json, "server", "tc-prod-cp-1");
    assert_eq!(replace["reasons"], serde_json::json!(["server_type cax21 → cax11"]));
    let firewall = change(&json, "firewall", "tc-prod-worker");
    let added: Vec<&str> = firewall["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["from"].is_null())
        .filter_map(|f| f["to"].as_str())
        .collect();
    assert_eq!(
        added,
        [
            "in icmp from 10.0.0.0/16",
            "in tcp 1-65535 from 10.0.0.0/16",
            "in udp 1-65535 from 10.0.0.0/16"
        ]
    );
    // 1 network + 2 firewalls + 2 placement groups + 6 primary IPs + floating IP; the
    // firewall and the two servers are changes.
    assert_eq!(json["unchanged"], 11);
    // What exists: one cax21 (7.7231) and one cax41 (29.1431), 6 primary IPv4 (0.5950), the
    // floating IP (3.5700), plus the snapshot; the plan removes both servers' prices and
    // adds six servers and the load balancer.
    assert_eq!(json["cost"]["removed"], "36.87");
    assert_eq!(json["cost"]["added"], "107.37");

    let run = plan(&api, &reference(), &[]).await;
    assert!(run.stdout.contains("  -/+ server tc-prod-cp-1"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("      # forces replacement: server_type cax21 → cax11")
    );
    assert!(run.stdout.contains("  - server tc-prod-general-9"));
    assert!(run.stdout.contains("      + rule: in tcp 1-65535 from 10.0.0.0/16"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_matches_has_no_changes() {
    let api = Api::start().await;
    let hc = client(&api);
    let (_dir, config) = cluster_file(TINY);
    let spec = spec::load(&config).unwrap();
    let image = snapshot(&hc, &spec, "arm64").await;
    let want = desired_state(&hc, &spec).await;
    let (network, groups) = create_infrastructure(&hc, &want).await;
    let server = &want.servers[0];
    create_server(&hc, server, image, &server.server_type, network, &groups).await;

    let json = plan_json(&api, &config).await;
    assert_eq!(json["changes"], serde_json::json!([]), "{json:#}");
    assert_eq!(json["has_changes"], false);
    assert_eq!(json["unchanged"], 6);
    // One cax11 (4.5101), its primary IPv4 (0.5950), the floating IP (3.5700), and the
    // snapshot; nothing added or removed.
    assert_eq!(json["cost"]["added"], "0.00");
    assert_eq!(json["cost"]["removed"], "0.00");
    assert_eq!(json["cost"]["existing"], json["cost"]["after"]);

    let run = plan(&api, &config, &["--detailed-exitcode"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        "No changes: the 6 resources match cluster.yaml.",
        "machine configs: not compared (no secrets bundle at no-secrets.yaml)",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_configs_are_compared_by_their_hash_label() {
    let api = Api::start().await;
    let hc = client(&api);
    let (dir, config) = cluster_file(TINY);
    let secrets = dir.path().join("secrets.yaml");
    let made = talos_hcloud_env_async(
        dir.path(),
        &["-c", "cluster.yaml", "secrets", "gen", "-o", "secrets.yaml"],
        &[],
    )
    .await;
    assert_eq!(made.code, 0, "{made:?}");
    let spec = spec::load(&config).unwrap();
    let image = snapshot(&hc, &spec, "arm64").await;
    let want = desired_state(&hc, &spec).await;
    let (network, groups) = create_infrastructure(&hc, &want).await;
    let secrets_arg = secrets.display().to_string();
    let args = ["--output", "json", "--secrets", secrets_arg.as_str()];

    // The floating IP exists, so the configs render: the new node gets its config.
    let run = plan(&api, &config, &args).await;
    let first: Value = serde_json::from_str(&run.stdout).expect("a JSON plan");
    assert_eq!(first["configs_unknown"], Value::Null, "{first:#}");
    let configs = first["configs"].as_array().expect("a list");
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0]["server"], "tiny-cp-1");
    assert_eq!(configs[0]["reason"], "new_node");
    let hash = configs[0]["to"].as_str().expect("a hash").to_string();
    assert_eq!(hash.len(), 32);

    // A server recording another hash needs its config again.
    let mut server = want.servers[0].clone();
    server.labels.insert(desired::LABEL_CONFIG_HASH.into(), "0".repeat(32));
    create_server(&hc, &server, image, &server.server_type, network, &groups).await;
    let run = plan(&api, &config, &args).await;
    let second: Value = serde_json::from_str(&run.stdout).expect("a JSON plan");
    assert_eq!(second["changes"], serde_json::json!([]), "{second:#}");
    assert_eq!(second["configs"][0]["reason"], "changed");
    assert_eq!(second["configs"][0]["from"], "0".repeat(32));
    assert_eq!(second["configs"][0]["to"], hash.as_str());
    assert_eq!(second["has_changes"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_workers_get_two_placement_groups() {
    let api = Api::start().await;
    let (_dir, config) = cluster_file(&format!(
        "{TINY}workers:\n  - pool: general\n    type: cax21\n    count: 11\n"
    ));
    let json = plan_json(&api, &config).await;
    let first = change(&json, "placement_group", "tiny-pool-general");
    let second = change(&json, "placement_group", "tiny-pool-general-pg2");
    let servers = |group: &Value| -> Vec<String> {
        group["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "servers")
            .and_then(|f| f["to"].as_str())
            .map(|list| list.split(", ").map(str::to_string).collect())
            .unwrap_or_default()
    };
    assert_eq!(servers(first).len(), 10);
    assert_eq!(servers(second), ["tiny-general-11"]);
    let server = change(&json, "server", "tiny-general-11");
    assert!(
        server["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "placement_group" && f["to"] == "tiny-pool-general-pg2"),
        "{server:#}"
    );
    // Private addresses: the lowest free ones past the subnet's first, in node order.
    let ip = |name: &str| -> String {
        change(&json, "server", name)["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "private_ip")
            .and_then(|f| f["to"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(ip("tiny-cp-1"), "10.0.1.2");
    assert_eq!(ip("tiny-general-11"), "10.0.1.13");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_snapshot_blocks_with_a_hint() {
    let api = Api::start().await;
    let (_dir, config) = cluster_file(TINY);
    let json = plan_json(&api, &config).await;
    let blockers = json["preflight"].as_array().expect("a list of blockers");
    assert_eq!(blockers.len(), 1, "{blockers:#?}");
    assert_eq!(blockers[0]["kind"], "snapshot_missing");
    assert!(blockers[0]["hint"].as_str().unwrap().contains("image build"));
    let run = plan(&api, &config, &[]).await;
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("pre-flight: 1 blocker before apply can start:"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_before_any_request() {
    let api = Api::start().await;
    let (_dir, config) = cluster_file(&TINY.replace("type: cax11", "type: cax111"));
    let run = plan(&api, &config, &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cax111"), "{}", run.stderr);
    assert_eq!(run.stdout, "");

    let (_dir, good) = cluster_file(TINY);
    let no_token = plan_with(&good, &[], vec![("HCLOUD_ENDPOINT".into(), api.sim.endpoint())]).await;
    assert_eq!(no_token.code, 2, "{no_token:?}");
    assert!(
        no_token.stderr.contains("HCLOUD_TOKEN is not set"),
        "{}",
        no_token.stderr
    );
    assert!(api.sim.request_log().is_empty(), "no request was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_placement_group_limit_counts_the_whole_project_and_plans_only_the_cluster() {
    let api = Api::start().await;
    // 50 groups of other clusters and of nobody: the project is at its limit.
    for n in 0..50 {
        let labels = if n % 2 == 0 {
            serde_json::json!({"talos-hcloud/cluster": "other"})
        } else {
            serde_json::json!({})
        };
        let created = api
            .post(
                "/placement_groups",
                serde_json::json!({"name": format!("foreign-{n}"), "type": "spread", "labels": labels}),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
    }
    let (_dir, config) = cluster_file(TINY);
    api.sim.clear_request_log();
    let json = plan_json(&api, &config).await;
    let blockers = json["preflight"].as_array().expect("a list of blockers");
    let limit: Vec<&Value> = blockers
        .iter()
        .filter(|b| b["kind"] == "placement_group_limit")
        .collect();
    assert_eq!(limit.len(), 1, "{blockers:#?}");
    let adds = actions(&json)
        .iter()
        .filter(|(action, kind, _)| action == "create" && kind == "placement_group")
        .count();
    assert_eq!(adds, 1, "{json:#}");
    assert_eq!(
        limit[0]["message"],
        format!("the project has 50 placement groups and the plan adds {adds}; Hetzner allows 50")
    );
    // Other clusters' groups are not this cluster's: nothing to delete.
    assert_eq!(json["counts"]["delete"], 0, "{json:#}");
    // One list of placement groups serves both the cluster's state and the project's count.
    let group_lists = api
        .sim
        .request_log()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/placement_groups")
        .count();
    assert_eq!(group_lists, 1);
}
