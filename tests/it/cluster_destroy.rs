//! `destroy` against the in-process emulator over HTTP: a cluster's worth of labelled
//! resources (made with the product's client), one resource of another cluster and a
//! snapshot; `destroy --yes` removes exactly the cluster's, keeps the rest, and a second
//! run finds nothing; delete protection and a missing terminal stop it before any change.

use serde_json::{Value, json};
use talos_hcloud::hcloud::labels::{self, Labels, Role, Selector};
use talos_hcloud::hcloud::{Client, CreateServer, ImageType};

use crate::harness::{Run, repo_root, talos_hcloud_env_async};
use crate::sim_common::{Api, ssh_public_key};

/// The name of the repository's cluster.yaml.
pub const CLUSTER: &str = "tootcommunity-prod";

pub use crate::sim_e2e::client;

/// Runs the binary in the repository (its cluster.yaml) against the emulator.
pub async fn cli(api: &Api, token: &str, args: &[&str]) -> Run {
    let endpoint = api.sim.endpoint();
    let factory = api.sim.factory_url();
    let env = [
        ("HCLOUD_ENDPOINT", endpoint.as_str()),
        ("HCLOUD_TOKEN", token),
        ("TALOS_FACTORY_URL", factory.as_str()),
    ];
    talos_hcloud_env_async(repo_root(), args, &env).await
}

/// Creates a server of `cluster` and waits for it.
pub async fn server(hc: &Client, spec: CreateServer) -> i64 {
    let created = hc.create_server(&spec).await.expect("server created");
    hc.wait_for_actions("creating a test server", &created.action_ids())
        .await
        .expect("server ready");
    created.server.id
}

/// What one cluster has: every kind apply makes. Returns the number of resources.
async fn populate(hc: &Client, cluster: &str) -> usize {
    let labels = Labels::cluster(cluster).unwrap();
    let prefix = format!("{cluster}-");
    let network = hc
        .create_network(
            &format!("{prefix}network"),
            "10.0.0.0/16",
            &[("eu-central", "10.0.1.0/24")],
            &labels,
        )
        .await
        .unwrap();
    let selector = Selector::new().eq(labels::CLUSTER, cluster);
    let firewall = hc
        .create_firewall(&format!("{prefix}controlplane"), &[], Some(&selector), &labels)
        .await
        .unwrap();
    let group = hc
        .create_placement_group(&format!("{prefix}cp"), &labels)
        .await
        .unwrap();
    hc.create_primary_ip(&format!("{prefix}cp-1-ipv4"), "ipv4", "fsn1", &labels)
        .await
        .unwrap();
    hc.create_floating_ip(&format!("{prefix}endpoint"), "ipv4", "fsn1", &labels)
        .await
        .unwrap();
    hc.create_load_balancer(&format!("{prefix}ingress"), "lb11", "fsn1", &labels)
        .await
        .unwrap();
    hc.create_ssh_key(
        &format!("{prefix}builder"),
        &ssh_public_key(3),
        &Labels::builder(cluster).unwrap(),
    )
    .await
    .unwrap();
    for node in ["cp-1", "cp-2"] {
        let name = format!("{prefix}{node}");
        let node_labels = Labels::node(cluster, Role::Controlplane, "cp", &name).unwrap();
        let mut spec = CreateServer::new(&name, "cax11", "ubuntu-24.04", node_labels);
        spec.location = Some("fsn1".into());
        spec.start_after_create = true;
        spec.networks = vec![talos_hcloud::hcloud::NetworkId::new(network.resource.id)];
        spec.firewalls = vec![talos_hcloud::hcloud::FirewallId::new(firewall.resource.id)];
        spec.placement_group = Some(talos_hcloud::hcloud::PlacementGroupId::new(group.resource.id));
        server(hc, spec).await;
    }
    9
}

/// How many resources of each kind carry `cluster`'s label (SSH keys included).
pub async fn counts(hc: &Client, cluster: &str) -> Vec<usize> {
    let s = Selector::new().eq(labels::CLUSTER, cluster);
    vec![
        hc.list_load_balancers(&s).await.unwrap().len(),
        hc.list_servers(&s).await.unwrap().len(),
        hc.list_floating_ips(&s).await.unwrap().len(),
        hc.list_primary_ips(&s).await.unwrap().len(),
        hc.list_placement_groups(&s).await.unwrap().len(),
        hc.list_firewalls(&s).await.unwrap().len(),
        hc.list_networks(&s).await.unwrap().len(),
        hc.list_ssh_keys(&s).await.unwrap().len(),
    ]
}

/// Turns protection on for the resource at `path` (`/servers/7`) and waits for it.
async fn protect(api: &Api, path: &str, body: Value) {
    let answer = api.post(&format!("{path}/actions/change_protection"), body).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    api.finish(&answer.body["action"]).await;
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_yes_removes_everything_of_the_cluster_and_nothing_else() {
    let api = Api::start().await;
    let hc = client(&api);
    let made = populate(&hc, CLUSTER).await;
    assert_eq!(counts(&hc, CLUSTER).await, vec![1, 2, 1, 1, 1, 1, 1, 1]);
    // Another cluster's server and network, and a snapshot (which carries no cluster label).
    let other = Labels::cluster("other").unwrap();
    hc.create_network("other-network", "10.1.0.0/16", &[], &other)
        .await
        .unwrap();
    let other_server = server(
        &hc,
        CreateServer::new("other-cp-1", "cax11", "ubuntu-24.04", other.clone()),
    )
    .await;
    let image = api
        .create(
            &format!("/servers/{other_server}/actions/create_image"),
            json!({"type": "snapshot", "description": "talos", "labels": {"os": "talos"}}),
        )
        .await;
    api.finish(&image["action"]).await;

    let run = cli(&api, api.sim.token(), &["--output", "json", "destroy", "--yes"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let document = json_of(&run);
    let deleted = document["deleted"].as_array().expect("deleted list");
    assert_eq!(deleted.len(), made, "{document}");
    assert!(
        deleted
            .iter()
            .any(|r| r["kind"] == "server" && r["name"] == "tootcommunity-prod-cp-1")
    );
    let kept = document["kept"].to_string();
    assert!(kept.contains("snapshots") && kept.contains("secrets"), "{kept}");
    assert!(!run.stdout.contains(api.sim.token()) && !run.stderr.contains(api.sim.token()));

    assert_eq!(
        counts(&hc, CLUSTER).await,
        vec![0; 8],
        "nothing labelled with the cluster is left"
    );
    assert_eq!(
        counts(&hc, "other").await,
        vec![0, 1, 0, 0, 0, 0, 1, 0],
        "the other cluster is untouched"
    );
    let snapshots = hc
        .list_images(&Selector::new(), Some(ImageType::Snapshot))
        .await
        .unwrap();
    assert_eq!(snapshots.len(), 1, "the snapshot is kept");

    // The servers' delete actions were awaited in one batch: one poll asks for both.
    let log = api.sim.request_log();
    let batched = log
        .iter()
        .any(|r| r.method == "GET" && r.path == "/v1/actions" && r.query.matches("id=").count() >= 2);
    assert!(batched, "one poll for the servers' delete actions");

    let again = cli(&api, api.sim.token(), &["--output", "json", "destroy", "--yes"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(json_of(&again)["deleted"], json!([]));
    let text = cli(&api, api.sim.token(), &["destroy", "--yes"]).await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("nothing to delete"), "{text:?}");
    assert!(text.stdout.contains("kept: the secrets bundle"), "{text:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn protection_refuses_without_the_flag_and_is_turned_off_with_it() {
    let api = Api::start().await;
    let hc = client(&api);
    populate(&hc, CLUSTER).await;
    let servers = hc
        .list_servers(&Selector::new().eq(labels::CLUSTER, CLUSTER))
        .await
        .unwrap();
    protect(
        &api,
        &format!("/servers/{}", servers[0].id),
        json!({"delete": true, "rebuild": true}),
    )
    .await;
    let ips = hc
        .list_floating_ips(&Selector::new().eq(labels::CLUSTER, CLUSTER))
        .await
        .unwrap();
    protect(&api, &format!("/floating_ips/{}", ips[0].id), json!({"delete": true})).await;
    let before = counts(&hc, CLUSTER).await;
    api.sim.clear_request_log();

    let refused = cli(&api, api.sim.token(), &["destroy", "--yes"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("delete protection"), "{refused:?}");
    assert!(
        refused.stderr.contains(&servers[0].name),
        "names the protected server: {refused:?}"
    );
    assert!(refused.stderr.contains("--disable-protection"), "{refused:?}");
    let changes = api.sim.request_log().iter().filter(|r| r.method != "GET").count();
    assert_eq!(changes, 0, "nothing was changed");
    assert_eq!(counts(&hc, CLUSTER).await, before);

    let run = cli(
        &api,
        api.sim.token(),
        &["--output", "json", "destroy", "--yes", "--disable-protection"],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let document = json_of(&run);
    assert_eq!(document["unprotected"].as_array().map(Vec::len), Some(2), "{document}");
    assert_eq!(counts(&hc, CLUSTER).await, vec![0; 8]);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_terminal_and_without_yes_nothing_is_deleted() {
    let api = Api::start().await;
    let hc = client(&api);
    populate(&hc, CLUSTER).await;
    api.sim.clear_request_log();
    let run = cli(&api, api.sim.token(), &["destroy"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no terminal"), "{run:?}");
    assert!(
        run.stderr.contains("servers (2): tootcommunity-prod-cp-1"),
        "lists what would go: {run:?}"
    );
    assert!(run.stderr.contains("--yes"), "{run:?}");
    let changes = api.sim.request_log().iter().filter(|r| r.method != "GET").count();
    assert_eq!(changes, 0, "nothing was changed");
    assert_eq!(counts(&hc, CLUSTER).await, vec![1, 2, 1, 1, 1, 1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_cluster_yaml_is_refused_before_any_api_call() {
    let api = Api::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cluster.yaml");
    std::fs::write(&bad, "name: x\nlocation: nowhere\n").unwrap();
    let bad = bad.to_string_lossy().into_owned();
    for command in [&["destroy", "--yes"][..], &["doctor"]] {
        let mut args = vec!["-c", bad.as_str()];
        args.extend_from_slice(command);
        let run = cli(&api, api.sim.token(), &args).await;
        assert_eq!(run.code, 2, "{command:?}: {run:?}");
        assert!(run.stderr.contains("cluster.yaml:"), "names file:line: {run:?}");
    }
    assert!(api.sim.request_log().is_empty(), "zero API calls");
}

/// Runs `destroy` on a pseudo-terminal (util-linux `script`) answering `answer`.
async fn destroy_on_a_terminal(api: &Api, answer: &str) -> std::process::Output {
    let binary = env!("CARGO_BIN_EXE_talos-hcloud");
    let env = [
        ("HCLOUD_ENDPOINT", api.sim.endpoint()),
        ("HCLOUD_TOKEN", api.sim.token().to_string()),
    ];
    let answer = format!("{answer}\n");
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("script")
            .args(["-qec", &format!("{binary} destroy"), "/dev/null"])
            .current_dir(repo_root())
            .envs(env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("script runs");
        // The prompt is read after the listing; the terminal buffers the early answer.
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(answer.as_bytes())
            .expect("answer");
        child.wait_with_output().expect("script ends")
    })
    .await
    .expect("script thread")
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_only_the_cluster_name_confirms() {
    let api = Api::start().await;
    let hc = client(&api);
    populate(&hc, CLUSTER).await;
    let wrong = destroy_on_a_terminal(&api, "prod").await;
    let shown = String::from_utf8_lossy(&wrong.stdout).into_owned();
    assert_eq!(wrong.status.code(), Some(2), "{shown}");
    assert!(shown.contains("type the cluster name (tootcommunity-prod)"), "{shown}");
    assert!(shown.contains("nothing was deleted"), "{shown}");
    assert_eq!(counts(&hc, CLUSTER).await, vec![1, 2, 1, 1, 1, 1, 1, 1]);

    let right = destroy_on_a_terminal(&api, CLUSTER).await;
    let shown = String::from_utf8_lossy(&right.stdout).into_owned();
    assert_eq!(right.status.code(), Some(0), "{shown}");
    assert!(shown.contains("destroyed cluster tootcommunity-prod"), "{shown}");
    assert_eq!(counts(&hc, CLUSTER).await, vec![0; 8]);
}
