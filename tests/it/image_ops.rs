//! `image list`, `image prune` and `--track` against the emulator over real HTTP: snapshots
//! made through the API with talos-hcloud's labels, servers created from some of them,
//! delete protection on one; the library and the binary both.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde_json::{Value, json};
use talos_hcloud::factory::{FactoryClient, Schematic};
use talos_hcloud::hcloud::labels::Labels;
use talos_hcloud::image::build::BuildRequest;
use talos_hcloud::image::track::{self, Track};
use talos_hcloud::image::{list, prune, rebuild};
use talos_hcloud::spec::{Architecture, TalosVersion};
use talos_hcloud::talos::contract::Contract;

use crate::harness::{Run, repo_root, signal, talos_hcloud_env_async};
use crate::hcloud_client::client;
use crate::image_build::options;
use crate::sim_common::Api;
use crate::sim_e2e::emulator;

const AA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa00000000000000000000000000000000";
const BB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb00000000000000000000000000000000";

/// The snapshots of the project the tests prune, in creation order (oldest first).
struct Project {
    api: Api,
    /// `(name, image id)`.
    snapshots: Vec<(&'static str, u64)>,
    /// A snapshot with `os=talos` only (not talos-hcloud's) and an unlabelled one.
    foreign: Vec<u64>,
}

impl Project {
    fn id(&self, name: &str) -> u64 {
        self.snapshots
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id)
            .unwrap_or_else(|| panic!("no snapshot {name}"))
    }

    /// Every image ID of type snapshot the emulator holds.
    async fn image_ids(&self) -> BTreeSet<u64> {
        let answer = self.api.get("/images?type=snapshot&per_page=50").await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["images"]
            .as_array()
            .map(|images| images.iter().filter_map(|i| i["id"].as_u64()).collect())
            .unwrap_or_default()
    }

    fn deletes(&self) -> Vec<String> {
        self.api
            .sim
            .request_log()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| r.path)
            .collect()
    }
}

/// A snapshot of `server` with `labels`, awaited.
async fn snapshot(api: &Api, server: u64, labels: Value) -> u64 {
    described_snapshot(api, server, labels, "talos").await
}

/// A snapshot of `server` with `labels` and `description`, awaited.
async fn described_snapshot(api: &Api, server: u64, labels: Value, description: &str) -> u64 {
    let created = api
        .create(
            &format!("/servers/{server}/actions/create_image"),
            json!({"type": "snapshot", "description": description, "labels": labels}),
        )
        .await;
    api.finish(&created["action"]).await;
    // Distinct creation times: newest is decided by `created`, then ID.
    api.sim.advance(Duration::from_secs(60));
    created["image"]["id"].as_u64().expect("an image id")
}

fn ours(schematic: &str, version: &str, arch: &str) -> Value {
    json!(Labels::snapshot(schematic, version, arch).expect("labels").to_map())
}

/// aa/arm64: a1 (oldest, used by tc-prod-cp-1) a2 (protected) a3 a4; aa/amd64: x1 x2;
/// bb/arm64: b1. Plus two foreign snapshots.
async fn project() -> Project {
    let api = Api::start().await;
    let builder = api.server("builder", json!({})).await["server"]["id"]
        .as_u64()
        .expect("a server id");
    let mut snapshots = Vec::new();
    for (name, schematic, version, arch) in [
        ("a1", AA, "v1.11.4", "arm64"),
        ("x1", AA, "v1.11.4", "amd64"),
        ("a2", AA, "v1.11.5", "arm64"),
        ("a3", AA, "v1.11.5", "arm64"),
        ("b1", BB, "v1.11.5", "arm64"),
        ("x2", AA, "v1.11.6", "amd64"),
        ("a4", AA, "v1.11.6", "arm64"),
    ] {
        snapshots.push((name, snapshot(&api, builder, ours(schematic, version, arch)).await));
    }
    let foreign = vec![
        snapshot(&api, builder, json!({"os": "talos"})).await,
        snapshot(&api, builder, json!({})).await,
    ];
    let project = Project {
        api,
        snapshots,
        foreign,
    };
    let a1 = project.id("a1");
    project
        .api
        .server("tc-prod-cp-1", json!({"image": a1.to_string()}))
        .await;
    let protect = project
        .api
        .post(
            &format!("/images/{}/actions/change_protection", project.id("a2")),
            json!({"delete": true}),
        )
        .await;
    assert_eq!(protect.status, 201, "{protect:?}");
    project.api.finish(&protect.body["action"]).await;
    project
}

fn keep(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("non-zero")
}

#[tokio::test]
async fn list_shows_our_snapshots_newest_first_with_their_users() {
    let project = project().await;
    let found = list::list(&client(&project.api)).await.expect("the list");
    let names: Vec<&str> = found
        .iter()
        .map(|s| {
            project
                .snapshots
                .iter()
                .find(|(_, id)| *id == s.id.get() as u64)
                .map(|(name, _)| *name)
                .expect("only our snapshots")
        })
        .collect();
    assert_eq!(names, ["a4", "x2", "b1", "a3", "a2", "x1", "a1"]);
    let a1 = found.last().expect("a1");
    assert_eq!(a1.used_by, ["tc-prod-cp-1"]);
    assert_eq!((a1.talos_version.as_str(), a1.arch.as_str()), ("v1.11.4", "arm64"));
    assert_eq!(a1.schematic, &AA[..32]);
    assert!(found.iter().filter(|s| s.in_use()).count() == 1);
    assert_eq!(
        found
            .iter()
            .filter(|s| s.protected)
            .map(|s| s.id.get() as u64)
            .collect::<Vec<_>>(),
        [project.id("a2")]
    );
}

#[tokio::test]
async fn prune_keeps_the_newest_per_group_and_never_a_used_or_protected_one() {
    let project = project().await;
    let hc = client(&project.api);
    let before = project.image_ids().await;
    assert_eq!(before.len(), 9);

    let dry = prune::prune(&hc, list::list(&hc).await.expect("list"), keep(1), true).await;
    assert!(project.deletes().is_empty(), "a dry run deletes nothing");
    assert_eq!(project.image_ids().await, before);
    let would: BTreeSet<u64> = dry.deleted.iter().map(|s| s.id.get() as u64).collect();
    assert_eq!(would, BTreeSet::from([project.id("a3"), project.id("x1")]));

    let report = prune::prune(&hc, list::list(&hc).await.expect("list"), keep(1), false).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let deleted: BTreeSet<u64> = report.deleted.iter().map(|s| s.id.get() as u64).collect();
    assert_eq!(deleted, would);
    let mut expected_deletes: Vec<String> = deleted.iter().map(|id| format!("/v1/images/{id}")).collect();
    let mut deletes = project.deletes();
    expected_deletes.sort();
    deletes.sort();
    assert_eq!(deletes, expected_deletes, "exactly the reported deletions were sent");
    let after = project.image_ids().await;
    assert_eq!(after, before.difference(&deleted).copied().collect());
    for id in &project.foreign {
        assert!(after.contains(id), "foreign snapshot {id} untouched");
    }
    let why = |name: &str| {
        report
            .kept
            .iter()
            .find(|d| d.snapshot.id.get() as u64 == project.id(name))
            .map(|d| d.keep.iter().map(ToString::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(why("a4"), ["newest #1"]);
    assert_eq!(why("a1"), ["used by tc-prod-cp-1"]);
    assert_eq!(why("a2"), ["delete protection on"]);
    assert_eq!(why("b1"), ["newest #1"]);

    // A second run has nothing left to delete.
    let again = prune::prune(&hc, list::list(&hc).await.expect("list"), keep(1), false).await;
    assert!(again.deleted.is_empty() && again.failed.is_empty());
}

#[tokio::test]
async fn track_resolves_from_the_emulated_factorys_versions() {
    let api = Api::start().await;
    let factory = FactoryClient::new(&api.sim.factory_url()).expect("a factory client");
    let resolve = |track: Track| {
        let factory = factory.clone();
        async move { track::resolve(&factory, track).await.map(|v| v.to_string()) }
    };
    // The emulated factory lists v1.10.0–v1.13.9 and v1.14 pre-releases only.
    assert_eq!(resolve(Track::Latest).await.ok().as_deref(), Some("v1.13.9"));
    assert_eq!(
        resolve("1.11".parse().expect("a line")).await.ok().as_deref(),
        Some("v1.11.6")
    );
    assert_eq!(
        resolve(Track::Line(Contract::V1_10)).await.ok().as_deref(),
        Some("v1.10.8")
    );
    assert!("1.14".parse::<Track>().is_err(), "no configs for 1.14: not trackable");
}

async fn run(api: &Api, args: &[&str], token: Option<&str>) -> Run {
    let mut env = vec![
        ("HCLOUD_ENDPOINT".to_string(), api.sim.endpoint()),
        ("TALOS_FACTORY_URL".to_string(), api.sim.factory_url()),
    ];
    if let Some(token) = token {
        env.push(("HCLOUD_TOKEN".to_string(), token.to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    talos_hcloud_env_async(repo_root(), args, &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_print_tables_and_json() {
    let project = project().await;
    let api = &project.api;
    let token = Some(api.sim.token());

    let table = run(api, &["image", "list"], token).await;
    assert_eq!(table.code, 0, "{table:?}");
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 8, "{}", table.stdout);
    assert!(
        lines[0].starts_with("ID  ") && lines[0].contains("USED BY"),
        "{}",
        lines[0]
    );
    assert!(
        lines[7].contains("tc-prod-cp-1") && lines[7].contains("v1.11.4"),
        "{}",
        lines[7]
    );
    assert!(
        lines[5].contains("aaaaaaaaaaaa ") && lines[5].contains("protected"),
        "{}",
        lines[5]
    );
    assert!(!table.stdout.contains(api.sim.token()));

    let json = run(api, &["--output", "json", "image", "list"], token).await;
    assert_eq!(json.code, 0, "{json:?}");
    let document: Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    let listed = document["snapshots"].as_array().expect("snapshots");
    assert_eq!(listed.len(), 7);
    assert_eq!(listed[6]["used_by"], json!(["tc-prod-cp-1"]));
    assert_eq!(listed[0]["talos_version"], "v1.11.6");
    assert_eq!(document["api_requests"]["total"], 2);

    let dry = run(
        api,
        &["--output", "json", "image", "prune", "--keep", "1", "--dry-run"],
        token,
    )
    .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(project.deletes().is_empty());
    let dry: Value = serde_json::from_str(&dry.stdout).expect("JSON");
    assert_eq!(dry["prune"]["deleted"].as_array().map(Vec::len), Some(2));
    assert_eq!(dry["prune"]["kept"].as_array().map(Vec::len), Some(5));

    let pruned = run(api, &["image", "prune", "--keep", "1"], token).await;
    assert_eq!(pruned.code, 0, "{pruned:?}");
    let deleted_lines: Vec<&str> = pruned.stdout.lines().filter(|l| l.starts_with("deleted ")).collect();
    assert_eq!(deleted_lines.len(), 2, "{}", pruned.stdout);
    for id in [project.id("a3"), project.id("x1")] {
        assert!(
            deleted_lines.iter().any(|l| l.contains(&id.to_string())),
            "{}",
            pruned.stdout
        );
    }
    assert!(pruned.stdout.contains("used by tc-prod-cp-1"), "{}", pruned.stdout);
    assert!(
        pruned.stdout.contains("2 deleted, 5 kept, 0 failed"),
        "{}",
        pruned.stdout
    );
    assert_eq!(project.deletes().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_without_a_request() {
    let api = Api::start().await;
    api.sim.clear_request_log();
    let zero = run(&api, &["image", "prune", "--keep", "0"], Some(api.sim.token())).await;
    assert_eq!(zero.code, 2, "{zero:?}");
    let missing = run(&api, &["image", "list"], None).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("HCLOUD_TOKEN"), "{}", missing.stderr);
    for track in ["1.14", "stable", "v1.11.3"] {
        let refused = run(&api, &["image", "rebuild", "--track", track], Some(api.sim.token())).await;
        assert_eq!(refused.code, 2, "{refused:?}");
        assert!(
            refused.stderr.contains("--track") || refused.stderr.contains("track"),
            "{}",
            refused.stderr
        );
    }
    assert!(api.sim.request_log().is_empty(), "no API call on bad input");
    assert!(api.sim.factory().requests().is_empty(), "no factory call on bad input");
}

/// The repository's schematic, whose snapshots the rebuild test makes.
fn repo_schematic() -> Schematic {
    Schematic::load(&repo_root().join("schematics/hcloud.yaml")).expect("the repository's schematic")
}

/// `image rebuild --track 1.11 --keep 2` for arm64 and amd64: arm64's v1.11.6 snapshot is
/// already there, amd64's is built; the older arm64 snapshots beyond the two newest are
/// pruned, another schematic's are left alone; a second run creates and deletes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_builds_what_is_missing_then_prunes_its_own_groups() {
    let api = emulator().await;
    let hc = client(&api);
    let factory = FactoryClient::new(&api.sim.factory_url()).expect("a factory client");
    let schematic = repo_schematic();
    let id = schematic.id().expect("an ID").to_string();
    let seed = api.server("seed", json!({})).await["server"]["id"]
        .as_u64()
        .expect("a server id");
    let mut old = Vec::new();
    for version in ["v1.11.3", "v1.11.4", "v1.11.5"] {
        old.push(described_snapshot(&api, seed, ours(&id, version, "arm64"), &id).await);
    }
    let present = described_snapshot(
        &api,
        seed,
        ours(&id, "v1.11.6", "arm64"),
        &format!("Talos v1.11.6 arm64 {id}"),
    )
    .await;
    let mut others = Vec::new();
    for version in ["v1.11.3", "v1.11.4", "v1.11.5"] {
        others.push(snapshot(&api, seed, ours(BB, version, "arm64")).await);
    }

    let version = TalosVersion::parse("v1.11.0").expect("a placeholder the track replaces");
    let request =
        BuildRequest::new(schematic.clone(), version, &[Architecture::Arm64, Architecture::Amd64]).expect("a request");
    let track = Some(Track::Line(Contract::V1_11));
    let report = rebuild::rebuild(&hc, &factory, request.clone(), track, keep(2), &options())
        .await
        .expect("the rebuild");
    assert_eq!(report.target_version, "v1.11.6");
    assert_eq!(report.source, "v1.11");
    assert_eq!(report.schematic, id);
    assert_eq!(
        report
            .present
            .iter()
            .map(|b| b.image_id.get() as u64)
            .collect::<Vec<_>>(),
        [present]
    );
    assert_eq!(report.built.len(), 1);
    assert_eq!(report.built[0].arch, Architecture::Amd64);
    let built = report.built[0].image_id.get() as u64;
    let pruned: BTreeSet<u64> = report.pruned.iter().map(|s| s.id.get() as u64).collect();
    assert_eq!(pruned, BTreeSet::from([old[0], old[1]]));
    assert!(report.prune_failed.is_empty());
    let kept: BTreeSet<u64> = report.kept.iter().map(|d| d.snapshot.id.get() as u64).collect();
    assert_eq!(kept, BTreeSet::from([present, old[2], built]));

    let answer = api.get("/images?type=snapshot&per_page=50").await;
    let left: BTreeSet<u64> = answer.body["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter_map(|i| i["id"].as_u64())
        .collect();
    let expected: BTreeSet<u64> = [present, old[2], built]
        .into_iter()
        .chain(others.iter().copied())
        .collect();
    assert_eq!(
        left, expected,
        "another schematic's snapshots are not this job's to prune"
    );
    let temporary = api.get("/servers?label_selector=talos-hcloud/temporary").await;
    assert_eq!(temporary.body["servers"], json!([]), "no builder left");

    let document = serde_json::to_value(&report).expect("JSON");
    for key in [
        "target_version",
        "built",
        "present",
        "pruned",
        "kept",
        "prune_failed",
        "api_requests",
    ] {
        assert!(document.get(key).is_some(), "{key} in {document}");
    }
    assert!(document["api_requests"]["total"].as_u64() > Some(10));

    api.sim.clear_request_log();
    let again = rebuild::rebuild(&hc, &factory, request, track, keep(2), &options())
        .await
        .expect("the second rebuild");
    assert!(again.built.is_empty() && again.pruned.is_empty());
    assert_eq!(again.present.len(), 2);
    let changes: Vec<String> = api
        .sim
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(changes.is_empty(), "a second run changes nothing: {changes:?}");
}

/// The scheduled examples' command line, run twice by the binary against the emulator with
/// the repository's cluster.yaml (arm64 only): the first run builds Talos v1.13.9 (the
/// emulated factory's newest stable release), the second finds it present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_job_runs_against_the_emulator() {
    let api = emulator().await;
    let config = repo_root().join("cluster.yaml");
    let token = Some(api.sim.token());
    let mut reports = Vec::new();
    for (name, mut args) in scheduled_examples().into_iter().take(2) {
        args[1] = config.display().to_string();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let result = run(&api, &args, token).await;
        assert_eq!(result.code, 0, "{name}: {result:?}");
        let report: Value = serde_json::from_str(&result.stdout).expect("one JSON report");
        assert_eq!(report["target_version"], "v1.13.9", "{name}");
        assert_eq!(report["source"], "latest");
        reports.push(report);
    }
    assert_eq!(reports[0]["built"].as_array().map(Vec::len), Some(1));
    assert_eq!(reports[0]["built"][0]["arch"], "arm64");
    assert_eq!(reports[0]["present"], json!([]));
    assert_eq!(reports[1]["built"], json!([]));
    assert_eq!(reports[1]["present"][0]["image_id"], reports[0]["built"][0]["image_id"]);
    assert_eq!(reports[1]["pruned"], json!([]));

    let config = config.display().to_string();
    let text = run(&api, &["-c", &config, "image", "rebuild", "--track", "1.13"], token).await;
    assert_eq!(text.code, 0, "{text:?}");
    let image = reports[0]["built"][0]["image_id"].to_string();
    assert_eq!(
        text.stdout,
        format!(
            "target Talos v1.13.9 (v1.13), schematic {}\narm64: snapshot {image} already present\n0 built, 1 present, 0 \
             pruned, 1 kept\n",
            reports[0]["schematic"].as_str().unwrap_or_default()
        )
    );
}

/// SIGTERM (as systemd or Kubernetes stop the job) or SIGINT (Ctrl-C) while the builder
/// exists: the builder and its key are deleted, nothing is pruned, exit 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_the_build_cleans_up_and_exits_3() {
    let api = emulator().await;
    let config = repo_root().join("cluster.yaml");
    let temporary = "/servers?label_selector=talos-hcloud/temporary";
    for name in ["TERM", "INT"] {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_talos-hcloud"))
            .args([
                "-c",
                &config.display().to_string(),
                "image",
                "rebuild",
                "--output",
                "json",
            ])
            .env("HCLOUD_ENDPOINT", api.sim.endpoint())
            .env("HCLOUD_TOKEN", api.sim.token())
            .env("TALOS_FACTORY_URL", api.sim.factory_url())
            .env_remove("TALOS_HCLOUD_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut seen = false;
        for _ in 0..2000 {
            if api.get(temporary).await.body["servers"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
            {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(seen, "SIG{name}: a builder server appeared");
        signal(child.id(), name);
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("joined")
            .expect("the binary exits");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(3), "SIG{name}: {stdout}");
        let document: Value = serde_json::from_str(&stdout).expect("one JSON error document");
        assert_eq!(document["error"]["class"], "interrupted");
        assert_eq!(
            api.get(temporary).await.body["servers"],
            json!([]),
            "SIG{name}: builder deleted"
        );
        let keys = api.get("/ssh_keys?label_selector=talos-hcloud/temporary").await;
        assert_eq!(keys.body["ssh_keys"], json!([]), "SIG{name}: its key deleted");
    }
    assert!(
        !api.sim
            .request_log()
            .iter()
            .any(|r| r.method == "DELETE" && r.path.starts_with("/v1/images/")),
        "nothing pruned"
    );
}

/// The arguments each scheduled-job example passes to talos-hcloud, after the program name.
fn scheduled_examples() -> Vec<(&'static str, Vec<String>)> {
    let dir = repo_root().join("scripts/scheduled");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let words = |line: &str| line.split_whitespace().map(ToString::to_string).collect::<Vec<_>>();

    let service = read("talos-hcloud-image-rebuild.service");
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let systemd = words(exec).split_off(1);

    let cronjob: Value = serde_saphyr::from_str(&read("cronjob.yaml")).expect("the CronJob parses");
    let container = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let kubernetes: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("a string argument").to_string())
        .collect();

    let workflow: Value = serde_saphyr::from_str(&read("github-actions.yml")).expect("the workflow parses");
    let steps = workflow["jobs"]["rebuild"]["steps"].as_array().expect("steps");
    let run = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .flat_map(str::lines)
        .find(|l| l.contains("talos-hcloud "))
        .expect("a talos-hcloud command");
    let command = run.split('|').next().expect("the command");
    let github = words(command).split_off(1);
    vec![("systemd", systemd), ("kubernetes", kubernetes), ("github", github)]
}

#[test]
fn scheduled_examples_run_image_rebuild_with_the_token_from_a_secret() {
    let examples = scheduled_examples();
    for (name, args) in &examples {
        let joined = args.join(" ");
        assert!(joined.contains("image rebuild"), "{name}: {joined}");
        assert!(joined.ends_with("--output json"), "{name}: {joined}");
        assert_eq!(args[2..], examples[0].1[2..], "{name}: the same job everywhere");
    }

    let dir = repo_root().join("scripts/scheduled");
    let service = std::fs::read_to_string(dir.join("talos-hcloud-image-rebuild.service")).expect("service");
    assert!(service.contains("\nEnvironmentFile=/etc/talos-hcloud/image-rebuild.env\n"));
    assert!(
        !service
            .lines()
            .any(|l| l.contains("HCLOUD_TOKEN=") && !l.starts_with('#')),
        "no inline token"
    );
    let timer = std::fs::read_to_string(dir.join("talos-hcloud-image-rebuild.timer")).expect("timer");
    assert!(timer.contains("\nOnCalendar=") && timer.contains("\nPersistent=true\n"));

    let cronjob: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("cronjob.yaml")).expect("read")).expect("parses");
    assert_eq!(cronjob["kind"], "CronJob");
    assert_eq!(cronjob["spec"]["concurrencyPolicy"], "Forbid");
    let env = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[0]["name"], "HCLOUD_TOKEN");
    assert_eq!(env[0]["valueFrom"]["secretKeyRef"]["key"], "token");
    assert!(env[0].get("value").is_none());

    let workflow: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("github-actions.yml")).expect("read"))
            .expect("parses");
    assert!(workflow["on"]["schedule"][0]["cron"].is_string());
    let steps = workflow["jobs"]["rebuild"]["steps"].as_array().expect("steps");
    let tokens: Vec<&Value> = steps
        .iter()
        .map(|s| &s["env"]["HCLOUD_TOKEN"])
        .filter(|t| !t.is_null())
        .collect();
    assert_eq!(tokens, [&json!("${{ secrets.HCLOUD_TOKEN }}")]);
}

/// `systemd-analyze verify` accepts the service and timer (with ExecStart pointing at the
/// built binary, which must exist for the check).
#[test]
fn the_systemd_units_verify() {
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed: only the structural checks ran");
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let source = repo_root().join("scripts/scheduled");
    for name in ["talos-hcloud-image-rebuild.service", "talos-hcloud-image-rebuild.timer"] {
        let text = std::fs::read_to_string(source.join(name)).expect("read");
        let text = text.replace("/usr/local/bin/talos-hcloud", env!("CARGO_BIN_EXE_talos-hcloud"));
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let output = std::process::Command::new(analyze)
        .arg("verify")
        .arg(dir.path().join("talos-hcloud-image-rebuild.service"))
        .arg(dir.path().join("talos-hcloud-image-rebuild.timer"))
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("talos-hcloud-image-rebuild"), "{stderr}");
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
