//! `apply` under faults against the time-scaled emulator over real sockets (issue 11,
//! "nothing lost, nothing leaked"): the real binary killed with SIGKILL at several points
//! and re-run converges with no duplicate resource, one etcd bootstrap and the secrets
//! bundle untouched; seeded 10 % transient API faults still converge; a capacity error for
//! one server type names the type and location, exits 1, and `plan` then shows the missing
//! servers as `+ create` and the unconfigured ones as half-made; `destroy --yes` after a
//! full apply leaves nothing labelled.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use talos_hcloud::cluster::planning::{Inputs, Planned, plan_cluster};
use talos_hcloud::hcloud::labels;
use talos_hcloud::redact::Redacted;
use talos_hcloud::sim::FaultSpec;
use talos_hcloud::talos::api::{CallOptions, DetectedMode, detect_mode};

use crate::cluster_apply::{apply_once, cluster_yaml, emulator_with_snapshot, load, options, workspace};
use crate::harness::{Run, talos_hcloud_env_async};
use crate::image_build::mutations;
use crate::sim_common::Api;

/// The cluster of `cluster_yaml`.
const CLUSTER: &str = "apply-test";

/// Every kind apply makes, as the API lists them.
const KINDS: [&str; 7] = [
    "servers",
    "networks",
    "firewalls",
    "placement_groups",
    "primary_ips",
    "floating_ips",
    "load_balancers",
];

/// Names of the resources labelled with the cluster, per kind (GET by label selector).
async fn labelled(api: &Api) -> BTreeMap<&'static str, Vec<String>> {
    let mut found = BTreeMap::new();
    for kind in KINDS {
        let answer = api.get(&format!("/{kind}?per_page=50&{}", selector())).await;
        assert_eq!(answer.status, 200, "GET /{kind}: {}", answer.body);
        let mut names: Vec<String> = answer.body[kind]
            .as_array()
            .unwrap_or_else(|| panic!("GET /{kind} lists {kind}: {}", answer.body))
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect();
        names.sort();
        found.insert(kind, names);
    }
    found
}

/// Asserts that the 3 + 3 cluster exists exactly once: every name once, the counts of a
/// clean apply, and a plan with nothing left to do.
async fn assert_converged_once(api: &Api, path: &Path) {
    let found = labelled(api).await;
    for (kind, names) in &found {
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(&unique, names, "duplicate {kind}");
    }
    let count = |kind: &str| found[kind].len();
    assert_eq!(count("servers"), 6, "{found:?}");
    assert_eq!(count("primary_ips"), 6, "{found:?}");
    assert_eq!(count("networks"), 1, "{found:?}");
    assert_eq!(count("floating_ips"), 1, "{found:?}");
    assert_eq!(count("load_balancers"), 1, "{found:?}");

    let planned = plan_now(api, path).await;
    assert!(planned.plan.changes.is_empty(), "{:?}", planned.plan.changes);
    assert!(planned.plan.half_made.is_empty(), "{:?}", planned.plan.half_made);
}

/// The plan of cluster.yaml at `path` against the emulator, as `apply` makes it.
async fn plan_now(api: &Api, path: &Path) -> Planned {
    let spec = load(path);
    let inputs = Inputs {
        secrets: spec.secrets_path(),
        hcloud_token: Some(Redacted::new(api.sim.token().to_string())),
    };
    plan_cluster(&crate::sim_e2e::client(api), &spec, &inputs)
        .await
        .unwrap_or_else(|e| panic!("plan: {e}"))
}

/// Asserts one etcd cluster of three members exists, bootstrapped, and returns its ID.
fn one_etcd_cluster(api: &Api) -> String {
    let ids = api.sim.talos().cluster_ids();
    assert_eq!(ids.len(), 1, "one Talos cluster: {ids:?}");
    let cluster = api.sim.talos().cluster(&ids[0]).expect("the cluster");
    assert!(cluster.is_bootstrapped());
    assert_eq!(cluster.members().len(), 3);
    ids[0].clone()
}

/// Whether the emulated etcd was bootstrapped; `None` before any node got its config.
fn bootstrapped(api: &Api) -> Option<bool> {
    let ids = api.sim.talos().cluster_ids();
    let cluster = api.sim.talos().cluster(ids.first()?)?;
    Some(cluster.is_bootstrapped())
}

/// Runs `talos-hcloud -c CONFIG ARGS` in `dir` against the emulator.
pub async fn cli(api: &Api, dir: &Path, config: &Path, args: &[&str]) -> Run {
    let config = config.display().to_string();
    let mut all = vec!["-c", config.as_str()];
    all.extend(args);
    let endpoint = api.sim.endpoint();
    let env = [
        ("HCLOUD_TOKEN", api.sim.token()),
        ("HCLOUD_ENDPOINT", endpoint.as_str()),
    ];
    talos_hcloud_env_async(dir, &all, &env).await
}

/// Starts `talos-hcloud -c CONFIG apply` in `dir` against the emulator; its output goes
/// to `log`.
fn spawn_apply(api: &Api, dir: &Path, config: &Path, log: &Path) -> Child {
    spawn_cli(api, dir, config, &["apply"], log)
}

/// Starts `talos-hcloud -c CONFIG ARGS` in `dir` against the emulator; its output (stdout
/// and stderr) goes to `log`.
pub fn spawn_cli(api: &Api, dir: &Path, config: &Path, args: &[&str], log: &Path) -> Child {
    let output = std::fs::File::create(log).expect("the log file");
    let errors = output.try_clone().expect("the log file");
    Command::new(env!("CARGO_BIN_EXE_talos-hcloud"))
        .args(["-c", &config.display().to_string()])
        .args(args)
        .current_dir(dir)
        .env_remove("TALOS_HCLOUD_CONFIG")
        .env_remove("TALOS_HCLOUD_LOG")
        .env("HCLOUD_TOKEN", api.sim.token())
        .env("HCLOUD_ENDPOINT", api.sim.endpoint())
        .stdout(Stdio::from(output))
        .stderr(Stdio::from(errors))
        .spawn()
        .expect("talos-hcloud starts")
}

/// Waits until `reached` holds while `child` (an apply writing to `log`) runs; panics if it
/// ends first or never gets to `point`.
pub async fn until_reached(child: &mut Child, log: &Path, point: &str, reached: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !reached() {
        if let Some(status) = child.try_wait().expect("the apply's status") {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            panic!("apply ended ({status}) before {point}:\n{output}");
        }
        assert!(Instant::now() < deadline, "apply never reached {point}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// SIGKILLs `child` as soon as `reached` holds; panics if it ends first.
async fn kill_when(mut child: Child, log: &Path, point: &str, reached: impl Fn() -> bool) {
    until_reached(&mut child, log, point, reached).await;
    child.kill().expect("SIGKILL is sent");
    child.wait().expect("the killed apply is reaped");
}

/// Requests `METHOD PATH` answered with success so far; `*` in `path` matches one segment.
pub fn seen(api: &Api, method: &str, path: &str) -> usize {
    let pattern: Vec<&str> = path.split('/').collect();
    api.sim
        .request_log()
        .iter()
        .filter(|r| r.method == method && (200..300).contains(&r.status))
        .filter(|r| {
            let segments: Vec<&str> = r.path.split('/').collect();
            segments.len() == pattern.len() && segments.iter().zip(&pattern).all(|(s, p)| *p == "*" || s == p)
        })
        .count()
}

pub fn faults(text: &str) -> FaultSpec {
    text.parse().unwrap_or_else(|e| panic!("fault spec {text}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_four_points_then_rerun_converges_once() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(3);
    // The bundle in place before the first run: its bytes must survive every kill.
    let spec = load(&path);
    options(&api, &spec);
    let secrets = std::fs::read(spec.secrets_path()).expect("the bundle");
    let log = dir.path().join("apply.log");
    let run = || spawn_apply(&api, dir.path(), &path, &log);

    // 1. In the Hetzner phase: servers being created (their actions slowed down).
    api.sim.clear_request_log();
    api.sim.add_faults(&faults("slow,command=create_server,factor=30,n=6"));
    kill_when(run(), &log, "the first server create", || {
        seen(&api, "POST", "/v1/servers") >= 1
    })
    .await;
    api.sim.clear_faults();
    assert!(!labelled(&api).await["servers"].is_empty(), "servers were created");
    assert!(api.sim.talos().cluster_ids().is_empty(), "nothing delivered yet");
    // `plan` shows each server the kill left behind as half-made: not attached yet.
    let half_made = plan_now(&api, &path).await.plan.half_made;
    assert_eq!(half_made.len(), labelled(&api).await["servers"].len(), "{half_made:?}");
    for half in &half_made {
        assert!(
            half.missing.contains(&"not attached to network at-network".to_string()),
            "{half:?}"
        );
    }

    // 2. Every server exists, nothing delivered: held in the floating IP's assignment.
    api.sim
        .add_faults(&faults("slow,command=assign_floating_ip,factor=1000,n=1"));
    kill_when(run(), &log, "the floating IP's assignment", || {
        seen(&api, "POST", "/v1/floating_ips/*/actions/assign") >= 1
    })
    .await;
    api.sim.clear_faults();
    assert!(api.sim.talos().cluster_ids().is_empty(), "nothing delivered yet");

    // 3. Configs delivered, etcd not bootstrapped.
    kill_when(run(), &log, "a delivered config", || bootstrapped(&api) == Some(false)).await;

    // 4. etcd bootstrapped, health not yet checked.
    kill_when(run(), &log, "the bootstrap", || bootstrapped(&api) == Some(true)).await;
    let etcd = api.sim.talos().cluster_ids();

    // The last run finishes.
    let status = run().wait().expect("the apply ends");
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{status}:\n{output}");
    assert!(output.contains("already bootstrapped"), "{output}");
    assert_converged_once(&api, &path).await;
    assert_eq!(vec![one_etcd_cluster(&api)], etcd, "the same etcd cluster");
    assert_eq!(
        std::fs::read(spec.secrets_path()).expect("the bundle"),
        secrets,
        "secrets unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_transient_faults_converge_without_duplicates() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (_dir, path) = workspace(3);
    api.sim
        .add_faults(&faults("503,p=0.05; 502,p=0.02; 429,p=0.01; drop,p=0.02"));
    let mut attempts = Vec::new();
    for _ in 0..5 {
        match apply_once(&api, &path).await {
            Ok(report) => {
                attempts.push("ok".to_string());
                assert_eq!(report.talos.etcd_members, 3);
                break;
            }
            Err(error) => attempts.push(format!("{error:?}")),
        }
    }
    assert_eq!(attempts.last().map(String::as_str), Some("ok"), "{attempts:?}");
    let faulted = api.sim.request_log().iter().filter(|r| r.fault.is_some()).count();
    assert!(faulted > 0, "faults fired");
    api.sim.clear_faults();
    assert_converged_once(&api, &path).await;
    one_etcd_cluster(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_error_names_type_and_location_then_plan_shows_the_missing_servers() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(3);
    let workers_cax21 = cluster_yaml(3).replace("type: cax11\n    count", "type: cax21\n    count");
    assert_ne!(workers_cax21, cluster_yaml(3));
    std::fs::write(&path, workers_cax21).expect("cluster.yaml");
    options(&api, &load(&path));
    // Sold out (the rule always fires): `GET /server_types` says so and pre-flight
    // refuses before the first mutation.
    api.sim.add_faults(&faults("unavailable,type=cax21,location=fsn1"));
    api.sim.clear_request_log();
    let refused = cli(&api, dir.path(), &path, &["apply"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("server type cax21 cannot be ordered in fsn1"),
        "{}",
        refused.stderr
    );
    assert_eq!(mutations(&api), Vec::<String>::new());

    // Capacity runs out only at creation: the control planes are made, the workers not.
    api.sim.clear_faults();
    api.sim
        .add_faults(&faults("unavailable,type=cax21,location=fsn1,n=100"));
    let applied = cli(&api, dir.path(), &path, &["apply"]).await;
    assert_eq!(applied.code, 1, "{}", applied.stderr);
    assert!(applied.stderr.contains("cax21"), "{}", applied.stderr);
    assert!(applied.stderr.contains("fsn1"), "{}", applied.stderr);
    assert!(!applied.stderr.contains(api.sim.token()), "no token in errors");

    let planned = cli(&api, dir.path(), &path, &["plan"]).await;
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let creates: Vec<&str> = planned
        .stdout
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("+ server "))
        .collect();
    assert_eq!(creates.len(), 3, "{}", planned.stdout);
    for n in 1..=3 {
        let name = format!("at-general-{n}");
        assert!(creates.iter().any(|l| l.contains(&name)), "{}", planned.stdout);
    }
    assert!(!creates.iter().any(|l| l.contains("at-cp-")), "{}", planned.stdout);

    // The control planes exist but never got their configs: once they wait in maintenance
    // mode, `plan` (text and JSON) names them as half-made, with the reason.
    for server in api.get(&format!("/servers?{}", selector())).await.body["servers"]
        .as_array()
        .expect("servers")
    {
        let ip: IpAddr = server["public_net"]["ipv4"]["ip"]
            .as_str()
            .expect("IPv4")
            .parse()
            .expect("an IP");
        wait_for_maintenance(SocketAddr::new(ip, 50000)).await;
    }
    let planned = cli(&api, dir.path(), &path, &["plan"]).await;
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    for n in 1..=3 {
        let line = format!("  ! server at-cp-{n} (node cp-{n}): not configured (Talos answers in maintenance mode)\n");
        assert!(planned.stdout.contains(&line), "{}", planned.stdout);
    }
    assert!(
        planned.stdout.contains("\n3 half-made servers to finish.\n"),
        "{}",
        planned.stdout
    );
    let json = cli(
        &api,
        dir.path(),
        &path,
        &["--output", "json", "plan", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(json.code, 2, "changes pending: {}", json.stderr);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    let half_made = document["half_made"].as_array().expect("half_made");
    let servers: Vec<&str> = half_made
        .iter()
        .map(|h| h["server"].as_str().expect("a name"))
        .collect();
    assert_eq!(servers, ["at-cp-1", "at-cp-2", "at-cp-3"], "{document}");
    for half in half_made {
        assert_eq!(
            half["missing"],
            serde_json::json!(["not configured (Talos answers in maintenance mode)"]),
            "{half}"
        );
    }
}

/// `label_selector=` of the cluster's resources.
fn selector() -> String {
    format!("label_selector={}%3D{CLUSTER}", labels::CLUSTER.replace('/', "%2F"))
}

/// Waits until the Talos API at `address` answers in maintenance mode.
async fn wait_for_maintenance(address: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mode = detect_mode(address, CallOptions::default()).await;
        if matches!(mode, Ok(DetectedMode::Maintenance { .. })) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{address} never reached maintenance mode: {mode:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_after_apply_leaves_nothing_labelled() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(3);
    apply_once(&api, &path).await.unwrap_or_else(|e| panic!("apply: {e:?}"));
    assert_converged_once(&api, &path).await;

    let run = cli(&api, dir.path(), &path, &["destroy", "--yes", "--disable-protection"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for (kind, names) in labelled(&api).await {
        assert!(names.is_empty(), "{kind} left: {names:?}");
    }
    let snapshots = api.get("/images?type=snapshot").await;
    assert!(
        !snapshots.body["images"].as_array().expect("images").is_empty(),
        "the snapshot is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_first_wave_then_rerun_converges_with_one_bootstrap_and_the_same_secrets() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(3);
    let spec = load(&path);
    assert!(!spec.secrets_path().exists(), "the first run makes the bundle");
    let log = dir.path().join("apply.log");

    // The first wave (network, firewalls, placement groups, IPs): killed once both
    // firewalls and the network were created (the firewalls' rule actions slowed down).
    api.sim.clear_request_log();
    api.sim
        .add_faults(&faults("slow,command=set_firewall_rules,factor=50,n=2"));
    let child = spawn_apply(&api, dir.path(), &path, &log);
    kill_when(child, &log, "the firewalls' creation", || {
        seen(&api, "POST", "/v1/firewalls") >= 2 && seen(&api, "POST", "/v1/networks") >= 1
    })
    .await;
    api.sim.clear_faults();
    let made = labelled(&api).await;
    assert_eq!(made["networks"].len(), 1, "{made:?}");
    assert_eq!(made["firewalls"].len(), 2, "{made:?}");
    assert!(made["servers"].is_empty(), "killed before any server: {made:?}");
    assert!(api.sim.talos().cluster_ids().is_empty(), "nothing delivered");
    let secrets = std::fs::read(spec.secrets_path()).expect("the killed run wrote the bundle");

    // The re-run finishes what was started: nothing twice, etcd bootstrapped once.
    let run = cli(&api, dir.path(), &path, &["apply"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("etcd: bootstrapped on cp-1").count(),
        1,
        "{}",
        run.stderr
    );
    for kind in ["networks", "firewalls"] {
        assert_eq!(
            seen(&api, "POST", &format!("/v1/{kind}")),
            made[kind].len(),
            "{kind} created again"
        );
    }
    assert_converged_once(&api, &path).await;
    assert_eq!(
        labelled(&api).await["firewalls"],
        made["firewalls"],
        "the same firewalls"
    );
    let etcd = one_etcd_cluster(&api);
    assert_eq!(
        std::fs::read(spec.secrets_path()).expect("the bundle"),
        secrets,
        "secrets unchanged"
    );

    // Another run: already bootstrapped, the same etcd cluster.
    let again = cli(&api, dir.path(), &path, &["apply"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("etcd: already bootstrapped"), "{}", again.stderr);
    assert_eq!(one_etcd_cluster(&api), etcd);
}
