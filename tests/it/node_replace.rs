//! `node replace` (issue 12) against the in-process emulator: a cluster built with the
//! product's own pieces (snapshot, network, firewalls, placement groups, primary IPs, the
//! floating IP, servers from `create_node_server` with their configs as user data, etcd
//! bootstrapped once), then nodes replaced through the runbook: a worker, a healthy control
//! plane holding the VIP, a crashed control plane, the quorum refusal, a drain blocked by a
//! PodDisruptionBudget, runs stopped after a step and resumed, and the command SIGKILLed
//! after every step and run again until it finishes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use talos_hcloud::cluster::apply::{ServerOptions, create_node_server};
use talos_hcloud::cluster::nodes::{Waits, bootstrap_once, check_health, user_data};
use talos_hcloud::cluster::{desired, live};
use talos_hcloud::error::{Class, Classify as _};
use talos_hcloud::hcloud::{Client, ImageId, Labels};
use talos_hcloud::interrupt::Interrupt;
use talos_hcloud::node::replace::{self, Context, Entry, Inputs, Options, Outcome, ReplaceError, Replaced, Step};
use talos_hcloud::node::{KubeOptions, eviction_policy};
use talos_hcloud::redact::Redacted;
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::talos::{BudgetRule, DisruptionBudget, KubePod, PodOwner, Scaled, TalosCluster};
use talos_hcloud::spec::{Architecture, Spec};
use talos_hcloud::talos::api::{CallOptions, MemberListScope};

use crate::harness::{mode_of, repo_root, talos_hcloud_command, talos_hcloud_env};
use crate::sim_common::Api;
use crate::sim_machines::{snapshot_of, talos_image};

const TALOS: &str = "v1.11.6";
const CLUSTER: &str = "tc-test";

/// A built cluster on its own emulator, with cluster.yaml and the secrets bundle in a
/// temporary folder.
struct TestCluster {
    api: Api,
    hc: Client,
    dir: tempfile::TempDir,
}

fn cluster_yaml(control_planes: usize, workers: usize) -> String {
    let cps: Vec<String> = (1..=control_planes).map(|i| format!("cp-{i}")).collect();
    format!(
        "name: {CLUSTER}\nprefix: tc-\nlocation: fsn1\ntalos:\n  version: {TALOS}\n  schematic: {{ customization: {{}} }}\n\
         kubernetes: {{ version: v1.34.1 }}\nnetwork: {{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }}\nendpoint: floating-ip\n\
         firewall: {{ admin_cidrs: [127.0.0.0/8] }}\ncontrolplane: {{ type: cax11, nodes: [{}] }}\n\
         workers: [{{ pool: w, type: cax11, count: {workers} }}]\n",
        cps.join(", ")
    )
}

fn hlabels(map: &BTreeMap<String, String>) -> Labels {
    map.iter()
        .fold(Labels::new(), |acc, (k, v)| acc.with(k, v).expect("valid label"))
}

fn inputs(api: &Api) -> Inputs {
    Inputs {
        hcloud_token: Some(Redacted::new(api.sim.token().to_string())),
        secrets: None,
        call: CallOptions {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            retry: Policy::api_call().with_delays(Duration::from_millis(20), Duration::from_millis(200)),
        },
        waits: Waits {
            boot: Duration::from_secs(60),
            health: Duration::from_secs(60),
            poll: Duration::from_millis(50),
        },
    }
}

impl TestCluster {
    /// A cluster of `control_planes` + `workers` nodes, bootstrapped and healthy.
    async fn start(control_planes: usize, workers: usize) -> TestCluster {
        let api = Api::start_with(talos_hcloud::sim::SimConfig {
            time_scale: 200.0,
            node_validator: Arc::new(talos_hcloud::talos::config::validate::node_validator()),
            ..talos_hcloud::sim::SimConfig::default()
        })
        .await;
        let hc = crate::sim_e2e::client(&api);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cluster.yaml"), cluster_yaml(control_planes, workers)).expect("cluster.yaml");
        let local = dir.path().join(".talos-hcloud").join(CLUSTER);
        std::fs::create_dir_all(&local).expect("local dir");
        std::fs::copy(
            repo_root().join("tests/fixtures/talos/secrets.yaml"),
            local.join("secrets.yaml"),
        )
        .expect("secrets");
        let cluster = TestCluster { api, hc, dir };
        cluster.build().await;
        cluster
    }

    fn spec(&self) -> Spec {
        talos_hcloud::spec::load(&self.dir.path().join("cluster.yaml")).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn build(&self) {
        let (api, hc, spec) = (&self.api, &self.hc, self.spec());
        // The Talos snapshot of the cluster's schematic and version.
        let builder = api.server("builder", json!({})).await["server"]["id"]
            .as_u64()
            .expect("id");
        let image = snapshot_of(api, builder, &talos_image(TALOS, Architecture::Arm64)).await;
        let labels = Labels::snapshot(spec.talos.schematic.id.as_str(), TALOS, "arm64").expect("labels");
        hc.update_image(ImageId::new(image as i64), Some(&labels), None)
            .await
            .expect("labelled");
        let deleted = api.delete(&format!("/servers/{builder}")).await;
        api.finish(&deleted.body["action"]).await;

        // Everything but the servers, as the desired state names it.
        let live = live::read(hc, &spec).await.expect("live");
        let want = desired::desired(&spec, &live, &BTreeMap::new()).expect("desired");
        let mut actions = Vec::new();
        let fip = want.floating_ip.as_ref().expect("floating-ip endpoint");
        actions.extend(
            hc.create_floating_ip(&fip.name, "ipv4", &fip.home_location, &hlabels(&fip.labels))
                .await
                .expect("floating IP")
                .actions,
        );
        let subnet = (want.network.subnet.0.as_str(), want.network.subnet.1.as_str());
        actions.extend(
            hc.create_network(
                &want.network.name,
                &want.network.ip_range,
                &[subnet],
                &hlabels(&want.network.labels),
            )
            .await
            .expect("network")
            .actions,
        );
        for firewall in &want.firewalls {
            let rules: Vec<hcloud::models::Rule> = firewall
                .rules
                .iter()
                .map(|r| {
                    serde_json::from_value(json!({
                        "direction": r.direction, "protocol": r.protocol, "port": r.port,
                        "source_ips": r.source_ips, "destination_ips": []
                    }))
                    .expect("a rule")
                })
                .collect();
            actions.extend(
                hc.create_firewall(&firewall.name, &rules, None, &hlabels(&firewall.labels))
                    .await
                    .expect("firewall")
                    .actions,
            );
        }
        for group in &want.placement_groups {
            hc.create_placement_group(&group.name, &hlabels(&group.labels))
                .await
                .expect("placement group");
        }
        for ip in &want.primary_ips {
            actions.extend(
                hc.create_primary_ip(&ip.name, "ipv4", &ip.location, &hlabels(&ip.labels))
                    .await
                    .expect("primary IP")
                    .actions,
            );
        }
        let ids: Vec<_> = actions
            .iter()
            .map(|a| talos_hcloud::hcloud::ActionId::new(a.id))
            .collect();
        hc.wait_for_actions("building the test cluster", &ids)
            .await
            .expect("actions");

        // The servers, their configs as user data; etcd bootstrapped once; healthy.
        let ctx = self.context("cp-1").await;
        for server in &ctx.desired.servers {
            let node = ctx.set.nodes.iter().find(|n| n.name == server.node).expect("rendered");
            let payload = String::from_utf8(user_data(node).expect("fits")).expect("base64");
            let options = ServerOptions {
                user_data: Some(Redacted::new(payload)),
                protect_control_planes: true,
            };
            create_node_server(hc, &ctx.desired, server, &ctx.live, &options)
                .await
                .expect("server created");
        }
        for node in &ctx.set.nodes {
            let client = ctx.set.client(node).expect("client");
            client.wait_ready(Duration::from_secs(60)).await.expect("apid answers");
        }
        bootstrap_once(&ctx.set).await.expect("bootstrap");
        self.healthy().await;
    }

    /// The runbook's view of the cluster for replacing `node`.
    async fn context(&self, node: &str) -> Context {
        replace::read(self.hc.clone(), self.spec(), node, &inputs(&self.api))
            .await
            .unwrap_or_else(|e| panic!("{:?}", talos_hcloud::error::chain(&e)))
    }

    /// Asserts the whole cluster passes every health stage.
    async fn healthy(&self) {
        let ctx = self.context("cp-1").await;
        let client = ctx.set.client(&ctx.set.nodes[0]).expect("client");
        let kubeconfig = client.kubeconfig().await.expect("kubeconfig");
        let kubeconfig =
            talos_hcloud::cluster::kubeconfig::Kubeconfig::parse(kubeconfig.expose(), "test").expect("parses");
        check_health(&ctx.set, &kubeconfig.access().expect("access"))
            .await
            .unwrap_or_else(|e| panic!("{:?}", talos_hcloud::error::chain(&e)));
    }

    fn options(&self) -> Options {
        Options {
            dead: false,
            force_quorum_loss: false,
            image: None,
            dry_run: false,
            drain: eviction_policy(Duration::from_secs(5))
                .with_delays(Duration::from_millis(20), Duration::from_millis(100))
                .without_jitter(),
            kube: KubeOptions {
                timeout: Duration::from_secs(5),
                connect_to: None,
                retry: Policy::api_call().with_delays(Duration::from_millis(20), Duration::from_millis(200)),
            },
            snapshot_dir: self.dir.path().join(".talos-hcloud").join(CLUSTER),
            interrupt: Interrupt::new(),
        }
    }

    /// Runs the runbook for `node`, collecting the evidence lines.
    async fn replace(&self, node: &str, options: &Options) -> (Result<Replaced, ReplaceError>, Vec<Entry>) {
        let ctx = self.context(node).await;
        let mut seen = Vec::new();
        let mut report = |entry: &Entry| seen.push(entry.clone());
        let outcome = replace::replace(&ctx, options, &mut report).await;
        (outcome, seen)
    }

    /// Runs the runbook for `node`, firing the interrupt once `stop_after` is done.
    async fn replace_stopping(&self, node: &str, stop_after: Step) -> ReplaceError {
        let options = self.options();
        let ctx = self.context(node).await;
        let interrupt = options.interrupt.clone();
        let mut report = |entry: &Entry| {
            if entry.step == stop_after && entry.outcome != Outcome::Started {
                interrupt.trigger();
            }
        };
        replace::replace(&ctx, &options, &mut report)
            .await
            .expect_err("interrupted")
    }

    /// The servers named `name`: `(id, public IPv4, private IP, labels)`.
    async fn servers_named(&self, name: &str) -> Vec<(i64, String, String, serde_json::Value)> {
        let list = self.api.get(&format!("/servers?name={name}")).await;
        list.body["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .map(|s| {
                (
                    s["id"].as_i64().expect("id"),
                    s["public_net"]["ipv4"]["ip"].as_str().unwrap_or_default().to_string(),
                    s["private_net"][0]["ip"].as_str().unwrap_or_default().to_string(),
                    s["labels"].clone(),
                )
            })
            .collect()
    }

    fn etcd(&self) -> Arc<TalosCluster> {
        let registry = self.api.sim.talos();
        let id = registry.cluster_ids().into_iter().next().expect("one cluster");
        registry.cluster(&id).expect("cluster")
    }

    /// The etcd member IDs as a control plane lists them.
    async fn members(&self) -> Vec<(u64, String)> {
        let ctx = self.context("cp-1").await;
        for node in ctx.set.control_planes() {
            let client = ctx.set.client(node).expect("client");
            if let Ok(members) = client.etcd_members(MemberListScope::Cluster).await {
                return members.into_iter().map(|m| (m.id, m.hostname)).collect();
            }
        }
        panic!("no control plane lists the members");
    }

    /// The etcd member ID of `hostname`.
    async fn member_id(&self, hostname: &str) -> u64 {
        self.members()
            .await
            .into_iter()
            .find(|(_, h)| h == hostname)
            .expect("a member")
            .0
    }

    /// Crashes `node`'s server (power lost) and waits until the floating IP is off it (the
    /// Talos VIP's own Hetzner call); returns the server and its etcd member ID.
    async fn crash(&self, node: &str) -> ((i64, String, String, serde_json::Value), u64) {
        let server = self.servers_named(&format!("tc-{node}")).await.remove(0);
        let member = self.member_id(node).await;
        self.api.sim.crash_server(server.0 as u64).expect("crash");
        for _ in 0..600 {
            let fip = self.api.get("/floating_ips").await.body["floating_ips"][0].clone();
            if fip["server"].as_i64() != Some(server.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (server, member)
    }

    /// The etcd member removals asked of the emulated cluster: (member, whether removed).
    fn removals(&self) -> Vec<(u64, bool)> {
        self.etcd()
            .removal_calls()
            .iter()
            .map(|c| (c.member, c.removed))
            .collect()
    }

    /// The tool's non-GET requests since the log was cleared (the emulated nodes' own
    /// calls — the Talos VIP moving the floating IP — are the cluster's, not the tool's).
    fn mutations(&self) -> Vec<String> {
        self.api
            .sim
            .request_log()
            .into_iter()
            .filter(|r| r.method != "GET")
            .filter(|r| {
                !r.user_agent
                    .as_deref()
                    .is_some_and(|ua| ua.starts_with("talos/emulated"))
            })
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

fn steps_done(seen: &[Entry]) -> Vec<Step> {
    let mut steps: Vec<Step> = seen
        .iter()
        .filter(|e| e.outcome == Outcome::Started)
        .map(|e| e.step)
        .collect();
    steps.dedup();
    steps
}

fn chain(error: &ReplaceError) -> String {
    talos_hcloud::error::chain(error).join(": ")
}

/// The replaced server keeps its name, addresses and labels; it is a new server, protected
/// if it is a control plane, without the progress label.
async fn assert_same_identity(cluster: &TestCluster, server: &str, before: &(i64, String, String, serde_json::Value)) {
    let after = cluster.servers_named(server).await;
    assert_eq!(after.len(), 1, "exactly one server {server}: {after:?}");
    let after = &after[0];
    assert_ne!(after.0, before.0, "a new server");
    assert_eq!(
        (&after.1, &after.2),
        (&before.1, &before.2),
        "same public and private IP"
    );
    assert_eq!(after.3, before.3, "same labels, no progress label");
    let protection = cluster.api.get(&format!("/servers/{}", after.0)).await.body["server"]["protection"].clone();
    // As cluster.yaml asks: control planes protected, workers not.
    let protected = after.3["talos-hcloud/role"] == "controlplane";
    assert_eq!(protection, json!({"delete": protected, "rebuild": protected}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_then_a_control_plane_holding_the_vip_are_replaced_keeping_names_and_addresses() {
    let cluster = TestCluster::start(3, 1).await;
    let before_w = cluster.servers_named("tc-w-1").await.remove(0);

    // The plan first: nothing changes.
    cluster.api.sim.clear_request_log();
    let dry = Options {
        dry_run: true,
        ..cluster.options()
    };
    let (planned, _) = cluster.replace("w-1", &dry).await;
    let planned = planned.unwrap_or_else(|e| panic!("{}", chain(&e)));
    let planned_steps: Vec<Step> = planned.plan.iter().map(|p| p.step).collect();
    let etcd_steps = [Step::EtcdSnapshot, Step::EtcdLeave];
    let worker_steps: Vec<Step> = Step::ALL.into_iter().filter(|s| !etcd_steps.contains(s)).collect();
    assert_eq!(planned_steps, worker_steps);
    assert_eq!(cluster.mutations(), Vec::<String>::new(), "a dry run changes nothing");

    let (replaced, seen) = cluster.replace("tc-w-1", &cluster.options()).await;
    let replaced = replaced.unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(steps_done(&seen), planned_steps[1..]);
    assert_eq!(replaced.etcd_snapshot, None, "no etcd on a worker");
    assert_same_identity(&cluster, "tc-w-1", &before_w).await;
    let kube = cluster.etcd().kubernetes().node("w-1").expect("registered again");
    assert!(!kube.unschedulable && kube.ready, "{kube:?}");
    let json = serde_json::to_value(&replaced).expect("json");
    assert_eq!(json["evidence"].as_array().map(Vec::len), Some(replaced.evidence.len()));
    assert!(
        replaced.evidence.iter().all(|e| e.at.ends_with('Z')),
        "timestamped in UTC"
    );

    // The control plane holding the floating IP: /readyz through it keeps answering while
    // the VIP moves to another control plane.
    let fip = cluster.api.get("/floating_ips").await.body["floating_ips"][0].clone();
    let holder_id = fip["server"].as_i64().expect("the VIP is held");
    let holder = cluster.api.get(&format!("/servers/{holder_id}")).await.body["server"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let node = holder.trim_start_matches("tc-").to_string();
    let before_cp = cluster.servers_named(&holder).await.remove(0);
    let old_member = cluster.member_id(&node).await;

    let ctx = cluster.context("cp-1").await;
    let client = ctx.set.client(&ctx.set.nodes[0]).expect("client");
    let kubeconfig = client.kubeconfig().await.expect("kubeconfig");
    let access = talos_hcloud::cluster::kubeconfig::Kubeconfig::parse(kubeconfig.expose(), "test")
        .expect("parses")
        .access()
        .expect("access");
    let http = access.http_client(Duration::from_secs(2)).expect("http");
    let url = format!("{}/readyz", access.server());
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut ok, mut failed, mut longest_outage) = (0u32, 0u32, 0u32);
            let mut outage = 0u32;
            while !stop.load(Ordering::Relaxed) {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        ok += 1;
                        outage = 0;
                    }
                    _ => {
                        failed += 1;
                        outage += 1;
                        longest_outage = longest_outage.max(outage);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (ok, failed, longest_outage)
        })
    };
    let (replaced, _) = cluster.replace(&node, &cluster.options()).await;
    let replaced = replaced.unwrap_or_else(|e| panic!("{}", chain(&e)));
    stop.store(true, Ordering::Relaxed);
    let (ok, failed, longest) = poller.await.expect("poller");
    eprintln!("readyz through the floating IP: {ok} answered, {failed} failed, longest outage {longest} polls");
    assert!(ok > 0);
    let snapshot = replaced.etcd_snapshot.clone().expect("a control plane's snapshot");
    assert_eq!(mode_of(&snapshot), 0o600);
    assert_same_identity(&cluster, &holder, &before_cp).await;
    let fip = cluster.api.get("/floating_ips").await.body["floating_ips"][0].clone();
    assert_ne!(
        fip["server"].as_i64(),
        Some(holder_id),
        "the VIP moved off the deleted server"
    );
    let members = cluster.members().await;
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members.iter().all(|(id, _)| *id != old_member),
        "the old member is gone"
    );
    assert!(members.iter().any(|(_, h)| *h == node), "the new member joined");
    assert_eq!(replaced.removed_member, Some(format!("{old_member:x}")));
    cluster.healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_control_plane_is_removed_through_a_peer_and_replaced() {
    let cluster = TestCluster::start(3, 0).await;
    let (before, old_member) = cluster.crash("cp-3").await;

    let (replaced, seen) = cluster.replace("cp-3", &cluster.options()).await;
    let replaced = replaced.unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(replaced.dead, "detected dead");
    assert!(
        seen.iter()
            .any(|e| e.step == Step::EtcdLeave && e.detail.contains("removed through cp-")),
        "{seen:#?}"
    );
    assert_same_identity(&cluster, "tc-cp-3", &before).await;
    let members = cluster.members().await;
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|(id, _)| *id != old_member));
    cluster.healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn down_to_two_control_planes_a_replacement_is_refused_without_the_flag_and_done_with_it() {
    let cluster = TestCluster::start(3, 0).await;
    // cp-3 is gone for good: crashed, its member removed, its server and address deleted.
    let gone = cluster.servers_named("tc-cp-3").await.remove(0);
    let cp3_member = cluster.member_id("cp-3").await;
    cluster.api.sim.crash_server(gone.0 as u64).expect("crash");
    let ctx = cluster.context("cp-1").await;
    let cp1 = ctx.set.client(&ctx.set.nodes[0]).expect("client");
    talos_hcloud::node::ensure_member_removed(&cp1, cp3_member)
        .await
        .expect("removed");
    cluster.api.delete_server_outside(gone.0).await;
    let ip = cluster.api.get("/primary_ips?name=tc-cp-3-ipv4").await.body["primary_ips"][0]["id"].clone();
    assert_eq!(cluster.api.delete(&format!("/primary_ips/{ip}")).await.status, 204);
    assert_eq!(cluster.members().await.len(), 2);

    // 2 -> 1 would lose quorum: refused before any change.
    let before = cluster.servers_named("tc-cp-2").await.remove(0);
    cluster.api.sim.clear_request_log();
    let (refused, _) = cluster.replace("cp-2", &cluster.options()).await;
    let error = refused.expect_err("quorum");
    assert!(
        matches!(
            error,
            ReplaceError::QuorumLoss {
                healthy: 1,
                members: 2,
                needed: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "replacing control plane cp-2 would leave etcd without quorum: 1 healthy of 2 members without it, 2 needed; \
         nothing was changed"
    );
    assert_eq!(error.class(), Class::InvalidInput);
    assert!(error.hints()[0].contains("--force-quorum-loss"));
    assert_eq!(cluster.mutations(), Vec::<String>::new(), "refused before any change");
    assert_eq!(cluster.servers_named("tc-cp-2").await[0].0, before.0);

    let forced = Options {
        force_quorum_loss: true,
        ..cluster.options()
    };
    let (replaced, _) = cluster.replace("cp-2", &forced).await;
    replaced.unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_same_identity(&cluster, "tc-cp-2", &before).await;
    assert_eq!(cluster.members().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drain_blocked_by_a_budget_times_out_and_nothing_on_hetzner_changes() {
    let cluster = TestCluster::start(1, 1).await;
    let etcd = cluster.etcd();
    let kube = etcd.kubernetes();
    let app = BTreeMap::from([("app".to_string(), "db".to_string())]);
    kube.add_pod(KubePod::new(
        "default",
        "db-0",
        Some("w-1"),
        app.clone(),
        PodOwner::StatefulSet("db".into()),
    ))
    .expect("pod");
    kube.add_budget(DisruptionBudget::new(
        "default",
        "db",
        app,
        BudgetRule::MinAvailable(Scaled::Count(1)),
    ))
    .expect("budget");
    let before = cluster.servers_named("tc-w-1").await.remove(0);
    cluster.api.sim.clear_request_log();
    let options = Options {
        drain: eviction_policy(Duration::from_millis(300))
            .with_delays(Duration::from_millis(20), Duration::from_millis(50))
            .without_jitter(),
        ..cluster.options()
    };
    let (outcome, _) = cluster.replace("w-1", &options).await;
    let error = outcome.expect_err("blocked");
    let text = chain(&error);
    assert!(
        text.starts_with("the node was not drained; nothing on Hetzner was changed: draining node w-1 gave up after ")
            && text.contains("pod default/db-0 is protected by PodDisruptionBudget default/db"),
        "{text}"
    );
    assert_eq!(error.class(), Class::Failed);
    assert_eq!(cluster.mutations(), Vec::<String>::new(), "no Hetzner change");
    assert_eq!(cluster.servers_named("tc-w-1").await, vec![before]);
    assert!(kube.pod("default", "db-0").is_some(), "the pod still runs");

    // The command: the plan as JSON, changing nothing; without --yes and without a
    // terminal it refuses (exit 2).
    let env = [
        ("HCLOUD_ENDPOINT", cluster.api.sim.endpoint()),
        ("HCLOUD_TOKEN", cluster.api.sim.token().to_string()),
    ];
    let run = |args: Vec<&'static str>| {
        let dir = cluster.dir.path().to_path_buf();
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            talos_hcloud_env(&dir, &args, &env)
        })
    };
    let dry = run(vec!["node", "replace", "w-1", "--dry-run", "--output", "json"])
        .await
        .expect("cli");
    assert_eq!(dry.code, 0, "{dry:?}");
    let document: serde_json::Value = serde_json::from_str(&dry.stdout).expect("JSON");
    assert_eq!(document["dry_run"], true);
    assert_eq!(document["node"], "w-1");
    assert_eq!(document["plan"][1]["step"], "drain");
    let unasked = run(vec!["node", "replace", "w-1"]).await.expect("cli");
    assert_eq!(unasked.code, 2, "{unasked:?}");
    assert!(unasked.stderr.contains("needs confirmation"), "{unasked:?}");
    // With --yes the budget still blocks: exit 1, the evidence up to the failure in the
    // JSON error document.
    let blocked = run(vec![
        "node",
        "replace",
        "w-1",
        "--yes",
        "--drain-timeout",
        "300ms",
        "--output",
        "json",
    ])
    .await
    .expect("cli");
    assert_eq!(blocked.code, 1, "{blocked:?}");
    let document: serde_json::Value = serde_json::from_str(&blocked.stdout).expect("JSON");
    assert_eq!(document["ok"], false);
    let evidence = document["error"]["details"]["evidence"].as_array().expect("evidence");
    assert!(
        evidence
            .iter()
            .any(|e| e["step"] == "drain" && e["outcome"] == "started"),
        "{evidence:?}"
    );
    assert!(
        !blocked.stdout.contains(cluster.api.sim.token()),
        "no token in the output"
    );
    assert_eq!(cluster.mutations(), Vec::<String>::new(), "the command changed nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_stopped_after_a_step_resume_without_a_second_server_or_etcd_removal() {
    let cluster = TestCluster::start(3, 0).await;
    let before = cluster.servers_named("tc-cp-2").await.remove(0);
    let old_member = cluster.member_id("cp-2").await;

    // Stopped after the etcd leave: the progress label says so.
    let error = cluster.replace_stopping("cp-2", Step::EtcdLeave).await;
    assert!(
        matches!(error, ReplaceError::Interrupted { after: Step::EtcdLeave }),
        "{error:?}"
    );
    assert_eq!(error.class(), Class::Interrupted);
    assert_eq!(
        error.to_string(),
        "interrupted after step etcd-leave; resume with the same command"
    );
    let labelled = cluster.servers_named("tc-cp-2").await;
    assert_eq!(labelled[0].3["talos-hcloud/replace-step"], "etcd-leave");
    assert_eq!(cluster.members().await.len(), 2);

    // Stopped between delete and create: no server is the record.
    let error = cluster.replace_stopping("cp-2", Step::DeleteServer).await;
    assert!(
        matches!(
            error,
            ReplaceError::Interrupted {
                after: Step::DeleteServer
            }
        ),
        "{error:?}"
    );
    assert!(cluster.servers_named("tc-cp-2").await.is_empty());

    // Stopped after the create: one new server.
    let error = cluster.replace_stopping("cp-2", Step::CreateServer).await;
    assert!(
        matches!(
            error,
            ReplaceError::Interrupted {
                after: Step::CreateServer
            }
        ),
        "{error:?}"
    );
    let created = cluster.servers_named("tc-cp-2").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].3["talos-hcloud/replace-step"], "create-server");

    // The same command finishes it: no second server, no second etcd removal.
    cluster.api.sim.clear_request_log();
    let (replaced, seen) = cluster.replace("cp-2", &cluster.options()).await;
    let replaced = replaced.unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(replaced.resumed_after, Some(Step::CreateServer));
    assert_eq!(
        steps_done(&seen),
        [Step::DeliverConfig, Step::Rejoin, Step::Uncordon, Step::Protect]
    );
    let creates = cluster
        .api
        .sim
        .request_log()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/servers")
        .count();
    assert_eq!(creates, 0, "no second server");
    let after = cluster.servers_named("tc-cp-2").await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, created[0].0);
    assert_same_identity(&cluster, "tc-cp-2", &before).await;
    let members = cluster.members().await;
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|(id, _)| *id != old_member));
    cluster.healthy().await;
}

#[tokio::test]
async fn an_unknown_node_is_named_with_the_known_ones_before_any_request() {
    let api = Api::start().await;
    let hc = crate::sim_e2e::client(&api);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, cluster_yaml(1, 1)).expect("write");
    let spec = talos_hcloud::spec::load(Path::new(&path)).expect("spec");
    let error = replace::read(hc, spec, "cp-9", &inputs(&api))
        .await
        .expect_err("unknown");
    assert_eq!(
        error.to_string(),
        "cp-9 is not a node of cluster tc-test (nodes: cp-1, w-1)"
    );
    assert_eq!(error.class(), Class::InvalidInput);
    assert!(api.sim.request_log().is_empty());
}

/// Where a run of `talos-hcloud node replace NODE --yes` is SIGKILLed.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// At the first evidence line of a step in (from, to) reporting it done, found done or
    /// passed.
    After(Step, Step),
    /// Once the server create was answered, while its (slowed) action runs: the new server
    /// exists, off and outside the network.
    MidCreate,
}

/// How one run ended: killed or not, its exit code, the evidence lines it wrote (stderr).
#[derive(Debug)]
struct KilledRun {
    killed: bool,
    code: Option<i32>,
    lines: Vec<String>,
}

/// Runs the command against the cluster's emulator, SIGKILLing it at `kill` (`None` lets
/// it end).
async fn run_killing(cluster: &TestCluster, node: &str, kill: Option<Kill>) -> KilledRun {
    use std::io::BufRead as _;
    let env = [
        ("HCLOUD_ENDPOINT", cluster.api.sim.endpoint()),
        ("HCLOUD_TOKEN", cluster.api.sim.token().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = talos_hcloud_command(cluster.dir.path(), &["node", "replace", node, "--yes"], &env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("talos-hcloud starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (sent, mut received) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if sent.send(line).is_err() {
                break;
            }
        }
    });
    let posted = || {
        cluster
            .api
            .sim
            .request_log()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/v1/servers" && r.status == 201)
    };
    let mut lines = Vec::new();
    let mut killed = false;
    loop {
        let line = tokio::time::timeout(Duration::from_millis(2), received.recv()).await;
        let reached = match (line, kill) {
            (Ok(None), _) => break,
            (Ok(Some(line)), Some(Kill::After(from, to))) => {
                let mut words = line.split_whitespace().skip(1);
                let step = words.next().and_then(Step::from_label);
                let finished = matches!(words.next(), Some("done" | "skip" | "ok"));
                lines.push(line);
                finished && step >= Some(from) && step <= Some(to)
            }
            (Ok(Some(line)), _) => {
                lines.push(line);
                matches!(kill, Some(Kill::MidCreate)) && posted()
            }
            (Err(_), Some(Kill::MidCreate)) => posted(),
            (Err(_), _) => false,
        };
        if reached {
            child.kill().expect("SIGKILL is sent");
            killed = true;
            break;
        }
    }
    let status = child.wait().expect("the run is reaped");
    KilledRun {
        killed,
        code: status.code(),
        lines,
    }
}

/// Replaces `node` with the real binary, SIGKILLed at each of `kills` in turn (a run whose
/// step an earlier one did is killed after the next step it reports), then once more to the
/// end. Returns the Hetzner server creates each run sent.
async fn replace_killed_at_each(cluster: &TestCluster, node: &str, kills: &[Kill]) -> Vec<usize> {
    let mut creates = Vec::new();
    let mut finished = false;
    for kill in kills.iter().map(|k| Some(*k)).chain([None]) {
        cluster.api.sim.clear_request_log();
        if matches!(kill, Some(Kill::MidCreate)) {
            let slow = "slow,command=create_server,factor=50,n=1".parse().expect("fault spec");
            cluster.api.sim.add_faults(&slow);
        }
        let run = run_killing(cluster, node, kill).await;
        cluster.api.sim.clear_faults();
        creates.push(
            cluster
                .api
                .sim
                .request_log()
                .iter()
                .filter(|r| r.method == "POST" && r.path == "/v1/servers")
                .count(),
        );
        eprintln!(
            "run {} (kill {kill:?}): killed {}, exit {:?}\n  {}",
            creates.len(),
            run.killed,
            run.code,
            run.lines.join("\n  ")
        );
        if !run.killed {
            assert_eq!(run.code, Some(0), "the run failed:\n{}", run.lines.join("\n"));
            finished = true;
            break;
        }
    }
    assert!(finished, "no run finished");
    creates
}

/// A kill after each step of a `role` node's replacement but the last, and one while its
/// server is being created.
fn kills_for(role: talos_hcloud::spec::Role) -> Vec<Kill> {
    let steps: Vec<Step> = Step::ALL[1..Step::ALL.len() - 1]
        .iter()
        .copied()
        .filter(|s| s.applies_to(role))
        .collect();
    let last = *steps.last().expect("steps");
    let mut kills = Vec::new();
    for step in steps {
        if step == Step::CreateServer {
            kills.push(Kill::MidCreate);
        }
        kills.push(Kill::After(step, last));
    }
    kills
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_after_every_step_then_the_same_command_finishes_once() {
    use talos_hcloud::spec::Role;
    let cluster = TestCluster::start(3, 1).await;
    let before = cluster.servers_named("tc-cp-2").await.remove(0);
    let old_member = cluster.member_id("cp-2").await;

    // A control plane: killed after each step, the same command run again each time.
    let creates = replace_killed_at_each(&cluster, "cp-2", &kills_for(Role::ControlPlane)).await;
    assert!(
        creates.iter().all(|n| *n <= 1),
        "at most one create per run: {creates:?}"
    );
    assert_eq!(
        creates.iter().sum::<usize>(),
        1,
        "one server created in all: {creates:?}"
    );
    assert_same_identity(&cluster, "tc-cp-2", &before).await;
    let members = cluster.members().await;
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members.iter().all(|(id, _)| *id != old_member),
        "the old member is gone"
    );
    assert!(members.iter().any(|(_, h)| h == "cp-2"), "the new member joined");
    let removals = cluster.etcd().removal_calls();
    assert_eq!(removals.len(), 1, "one removal in all: {removals:?}");
    assert_eq!((removals[0].member, removals[0].removed), (old_member, true));
    let kube = cluster.etcd().kubernetes().node("cp-2").expect("registered again");
    assert!(kube.ready && !kube.unschedulable, "{kube:?}");
    cluster.healthy().await;

    // A worker the same way: no etcd removal at all.
    let before = cluster.servers_named("tc-w-1").await.remove(0);
    let creates = replace_killed_at_each(&cluster, "w-1", &kills_for(Role::Worker)).await;
    assert_eq!(
        creates.iter().sum::<usize>(),
        1,
        "one server created in all: {creates:?}"
    );
    assert_same_identity(&cluster, "tc-w-1", &before).await;
    assert_eq!(cluster.etcd().removal_calls().len(), 1, "no etcd removal for a worker");
    let kube = cluster.etcd().kubernetes().node("w-1").expect("registered again");
    assert!(kube.ready && !kube.unschedulable, "{kube:?}");
    cluster.healthy().await;
}

/// An operator deleted a control plane's server in the console (protection off first): the
/// runbook removes its still-listed etcd member through a peer, then recreates it.
#[tokio::test(flavor = "multi_thread")]
async fn a_control_plane_deleted_outside_talos_hcloud_leaves_etcd_through_a_peer_and_is_recreated() {
    let cluster = TestCluster::start(3, 0).await;
    let before = cluster.servers_named("tc-cp-3").await.remove(0);
    let old_member = cluster.member_id("cp-3").await;
    cluster.api.delete_server_outside(before.0).await;
    assert!(cluster.servers_named("tc-cp-3").await.is_empty(), "deleted");
    assert!(
        cluster.members().await.iter().any(|(m, _)| *m == old_member),
        "etcd still lists the deleted node's member"
    );

    let (replaced, seen) = cluster.replace("cp-3", &cluster.options()).await;
    let replaced = replaced.unwrap_or_else(|e| panic!("{}\n{seen:#?}", chain(&e)));
    assert!(replaced.dead, "a node without a server is dead");
    assert!(
        seen.iter().any(|e| e.step == Step::EtcdLeave
            && e.outcome == Outcome::Done
            && e.detail.contains("removed through cp-")),
        "{seen:#?}"
    );
    assert_eq!(cluster.removals(), [(old_member, true)]);
    assert_same_identity(&cluster, "tc-cp-3", &before).await;
    let members = cluster.members().await;
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|(m, _)| *m != old_member), "the old member is gone");
    assert!(members.iter().any(|(_, h)| h == "cp-3"), "the new member joined");
    cluster.healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_control_plane_dead_a_healthy_one_is_refused_naming_it_and_replaced_with_the_flag() {
    let cluster = TestCluster::start(3, 0).await;
    let old_member = cluster.member_id("cp-2").await;
    let before = cluster.servers_named("tc-cp-2").await.remove(0);
    let (_, dead_member) = cluster.crash("cp-3").await;

    // Without the flag: refused before any change, saying why and what to do.
    cluster.api.sim.clear_request_log();
    let (refused, _) = cluster.replace("cp-2", &cluster.options()).await;
    let error = refused.expect_err("quorum");
    assert!(
        matches!(
            &error,
            ReplaceError::QuorumLoss { healthy: 1, members: 3, needed: 2, down, .. } if down == &["cp-3"]
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "replacing control plane cp-2 would leave etcd without quorum: 1 healthy of 3 members without it, 2 needed \
         (cp-3 down); nothing was changed"
    );
    assert_eq!(error.class(), Class::InvalidInput);
    let hints = error.hints();
    assert_eq!(
        hints[0],
        "replace the dead one first: `talos-hcloud node replace cp-3`, then cp-2"
    );
    assert!(hints[1].starts_with("or pass --force-quorum-loss"), "{hints:?}");
    assert_eq!(cluster.mutations(), Vec::<String>::new(), "refused before any change");
    assert!(cluster.etcd().removal_calls().is_empty());

    // With it: the dead member goes first, then cp-2 leaves and comes back.
    let forced = Options {
        force_quorum_loss: true,
        ..cluster.options()
    };
    let (replaced, _) = cluster.replace("cp-2", &forced).await;
    let replaced = replaced.unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_same_identity(&cluster, "tc-cp-2", &before).await;
    let mut names: Vec<String> = cluster.members().await.into_iter().map(|(_, h)| h).collect();
    names.sort();
    assert_eq!(names, ["cp-1", "cp-2"]);
    assert_eq!(replaced.etcd_members, Some(2));
    assert_eq!(cluster.removals(), [(dead_member, true), (old_member, true)]);

    // Then the dead one, as the hint says: three members again, the cluster healthy.
    let (replaced, _) = cluster.replace("cp-3", &cluster.options()).await;
    let replaced = replaced.unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(replaced.dead, "detected dead");
    assert_eq!(cluster.members().await.len(), 3);
    assert_eq!(cluster.etcd().removal_calls().len(), 2, "its member was already gone");
    cluster.healthy().await;
}
