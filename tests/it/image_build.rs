//! `image build` against the emulator over real sockets (issue 10): both architectures in
//! parallel from one command, servers from the snapshots booting Talos of the right
//! version and schematic, idempotence and `--force`, remote and local writes, corrupted
//! and cut downloads, API faults, capacity fallback, the sweep, SIGINT at several phases,
//! and bad input refused before any API call. Rescue SSH binds port 22 on 127.1.x.y, which
//! needs root (as here and in CI).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use talos_hcloud::factory::{FactoryClient, Schematic};
use talos_hcloud::hcloud::labels::{self, Labels, Selector};
use talos_hcloud::hcloud::{Client, CreateServer, ImageId, ImageType};
use talos_hcloud::image::build::{self, ArchBuild, BuildOptions, BuildRequest, Error, Outcome, Via};
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::factory::{FactoryFaults, raw_image};
use talos_hcloud::spec::{Architecture, TalosVersion};

use crate::harness::talos_hcloud_env_async;
use crate::hcloud_client::client;
use crate::sim_common::Api;
use crate::sim_e2e::{HCLOUD_YAML as SCHEMATIC, IMAGE_SIZE, emulator, sha256_prefix};

fn version() -> String {
    talos_hcloud::sim::factory::default_versions()
        .last()
        .expect("the factory offers a version")
        .clone()
}

fn schematic() -> Schematic {
    Schematic::parse(SCHEMATIC, "test").expect("a schematic")
}

fn request(archs: &[Architecture], via: Via) -> BuildRequest {
    let version = TalosVersion::parse_tag(&version()).expect("a version");
    let mut request = BuildRequest::new(schematic(), version, archs).expect("a request");
    request.via = via;
    request
}

/// Build options for the emulator's fast clock.
pub fn options() -> BuildOptions {
    let fast = Policy::action_poll()
        .with_delays(Duration::from_millis(5), Duration::from_millis(20))
        .with_deadline(Duration::from_secs(60));
    BuildOptions {
        ssh_deadline: Duration::from_secs(30),
        status_poll: fast,
        cleanup: fast,
        download_retry: Policy::download().with_delays(Duration::from_millis(5), Duration::from_millis(20)),
        ..BuildOptions::default()
    }
}

fn factory(api: &Api) -> FactoryClient {
    FactoryClient::new(&api.sim.factory_url()).expect("a factory client")
}

/// The SHA-256 of the raw image the factory serves for `arch`.
fn factory_sha(api: &Api, arch: Architecture) -> String {
    let id = schematic().id().expect("an ID");
    let spec = api.sim.factory().image_spec(id.as_str(), &version(), arch);
    let mut hasher = Sha256::new();
    std::io::copy(&mut raw_image(&spec).expect("a spec"), &mut hasher).expect("generate");
    hex::encode(hasher.finalize())
}

/// Temporary servers and SSH keys still in the project.
async fn temporaries(hc: &Client) -> (usize, usize) {
    let selector = Selector::new().eq(labels::TEMPORARY, "true");
    let servers = hc.list_servers(&selector).await.expect("servers");
    let keys = hc.list_ssh_keys(&selector).await.expect("keys");
    (servers.len(), keys.len())
}

async fn snapshots(hc: &Client) -> Vec<i64> {
    let selector = Selector::new().eq(labels::OS, "talos");
    let images = hc
        .list_images(&selector, Some(ImageType::Snapshot))
        .await
        .expect("images");
    images.into_iter().map(|i| i.id).collect()
}

/// Requests of the emulator's log that create or change something.
pub fn mutations(api: &Api) -> Vec<String> {
    api.sim
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Creates a started server of `server_type` from `image` and returns the Talos version it
/// reports over the Talos API (maintenance mode).
async fn boot_talos(hc: &Client, name: &str, server_type: &str, image: ImageId) -> String {
    let mut spec = CreateServer::new(name, server_type, &image.to_string(), Labels::new());
    spec.location = Some("fsn1".into());
    spec.start_after_create = true;
    let created = hc.create_server(&spec).await.expect("create");
    hc.wait_for_actions("create", &created.action_ids())
        .await
        .expect("created");
    let server = hc.get_server(created.id()).await.expect("get").expect("exists");
    let ip: std::net::IpAddr = server.public_net.ipv4.expect("an IPv4").ip.parse().expect("an IP");
    crate::sim_e2e::maintenance_version(SocketAddr::new(ip, 50000)).await
}

fn env(api: &Api) -> Vec<(&'static str, String)> {
    vec![
        ("HCLOUD_ENDPOINT", api.sim.endpoint()),
        ("HCLOUD_TOKEN", api.sim.token().to_string()),
        ("TALOS_FACTORY_URL", api.sim.factory_url()),
    ]
}

/// Runs the binary's `image build` with `args` (after `--schematic FILE`) while the
/// in-process emulator keeps serving.
async fn cli(api: &Api, dir: &Path, args: &[&str]) -> crate::harness::Run {
    let schematic = dir.join("schematic.yaml");
    std::fs::write(&schematic, SCHEMATIC).expect("write schematic");
    let mut argv: Vec<String> = vec!["image".into(), "build".into(), "--schematic".into()];
    argv.push(schematic.display().to_string());
    argv.extend(args.iter().map(ToString::to_string));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let env = env(api);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    talos_hcloud_env_async(dir, &argv, &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_architectures_from_one_command_boot_talos_and_a_second_run_creates_nothing() {
    let api = emulator().await;
    let hc = client(&api);
    let dir = tempfile::tempdir().expect("tempdir");
    let version = version();
    let run = cli(
        &api,
        dir.path(),
        &["--talos-version", &version, "--arch", "arm64,amd64", "--output", "json"],
    )
    .await;
    assert_eq!(run.code, 0, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    let reports: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let reports = reports.as_array().expect("one report per architecture");
    assert_eq!(reports.len(), 2);
    let id = schematic().id().expect("an ID").to_string();
    let mut images = Vec::new();
    for (report, arch, server_type) in [
        (&reports[0], Architecture::Amd64, "cx23"),
        (&reports[1], Architecture::Arm64, "cax11"),
    ] {
        assert_eq!(report["arch"], arch.as_str(), "{report}");
        assert_eq!(report["outcome"], "built");
        assert_eq!(report["schematic"], id);
        assert_eq!(report["version"], version);
        assert_eq!(report["bytes"], IMAGE_SIZE);
        assert_eq!(
            report["sha256"],
            factory_sha(&api, arch),
            "the verified hash is the factory's image"
        );
        assert!(report["duration_s"].as_f64().is_some_and(|s| s > 0.0));
        for phase in [
            "server",
            "rescue",
            "connect",
            "write",
            "verify",
            "power_off",
            "snapshot",
            "cleanup",
        ] {
            assert!(report["phases"][phase].is_number(), "phase {phase} in {report}");
        }
        assert!(report["api_requests"].as_u64().is_some_and(|n| n > 10));
        assert_eq!(report["placement"]["server_type"], server_type);
        let image = ImageId::new(report["image_id"].as_i64().expect("an image ID"));
        let disk = api.sim.image_disk(image.get() as u64);
        assert_eq!(sha256_prefix(&disk, IMAGE_SIZE), factory_sha(&api, arch));
        images.push((arch, server_type, image));
    }
    assert_eq!(temporaries(&hc).await, (0, 0), "no temporary server or key is left");
    let snapshot = hc.get_image(images[0].2).await.expect("get").expect("exists");
    assert_eq!(
        snapshot.labels.get(labels::SCHEMATIC).map(String::as_str),
        Some(&id[..32])
    );
    assert_eq!(snapshot.labels.get(labels::TALOS_VERSION), Some(&version));
    assert_eq!(snapshot.labels.get(labels::ARCH).map(String::as_str), Some("amd64"));
    assert!(snapshot.description.contains(&id), "{}", snapshot.description);

    for (arch, server_type, image) in &images {
        let tag = boot_talos(&hc, &format!("node-{arch}"), server_type, *image).await;
        assert_eq!(tag, version, "a {arch} server from the snapshot boots Talos {version}");
    }

    // Idempotent: the second run reports the same images and changes nothing.
    api.sim.clear_request_log();
    let again = cli(
        &api,
        dir.path(),
        &["--talos-version", &version, "--arch", "amd64,arm64"],
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("already present"), "{}", again.stdout);
    assert!(again.stdout.contains(&images[0].2.to_string()), "{}", again.stdout);
    assert_eq!(
        mutations(&api),
        Vec::<String>::new(),
        "a second run makes no create calls"
    );

    // --force builds new snapshots and deletes the old ones only then.
    let forced = cli(
        &api,
        dir.path(),
        &[
            "--talos-version",
            &version,
            "--arch",
            "amd64",
            "--force",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let forced: serde_json::Value = serde_json::from_str(&forced.stdout).expect("JSON");
    let new = forced[0]["image_id"].as_i64().expect("an image ID");
    assert_ne!(new, images[0].2.get());
    assert_eq!(forced[0]["replaced"], serde_json::json!([images[0].2.get()]));
    let left = snapshots(&hc).await;
    assert!(left.contains(&new) && !left.contains(&images[0].2.get()), "{left:?}");
    assert!(left.contains(&images[1].2.get()), "the arm64 snapshot stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_streams_through_ssh_and_verifies_the_same_image() {
    let api = emulator().await;
    let hc = client(&api);
    let reports = build::build(
        &hc,
        &factory(&api),
        &request(&[Architecture::Arm64], Via::Local),
        &options(),
    )
    .await
    .expect("the build succeeds");
    let [report]: [ArchBuild; 1] = reports.try_into().expect("one report");
    assert_eq!(report.outcome, Outcome::Built);
    assert_eq!(report.via, Some(Via::Local));
    assert_eq!(report.sha256, factory_sha(&api, Architecture::Arm64));
    let disk = api.sim.image_disk(report.image_id.get() as u64);
    assert_eq!(sha256_prefix(&disk, IMAGE_SIZE), report.sha256);
    assert_eq!(temporaries(&hc).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_and_cut_downloads_leave_no_snapshot_and_no_temporary_resource() {
    let api = emulator().await;
    let hc = client(&api);
    let factory_client = factory(&api);
    let cases = [
        (
            Via::Remote,
            FactoryFaults {
                corruptions: 1,
                corrupt_offset: 200_000,
                ..FactoryFaults::default()
            },
        ),
        (
            Via::Remote,
            FactoryFaults {
                drops: 1,
                drop_after: 100_000,
                ..FactoryFaults::default()
            },
        ),
        (
            Via::Local,
            FactoryFaults {
                corruptions: 1,
                corrupt_offset: 200_000,
                ..FactoryFaults::default()
            },
        ),
    ];
    for (via, faults) in cases {
        api.sim.factory().set_faults(faults.clone());
        let error = build::build(&hc, &factory_client, &request(&[Architecture::Amd64], via), &options())
            .await
            .expect_err("a bad download must fail the build");
        let chain = talos_hcloud::error::chain(&error).join(": ");
        assert!(
            matches!(&error, Error::Arch { source, .. } if matches!(**source, Error::Write { .. } | Error::Stream { .. } | Error::Verify { .. })),
            "{via:?} {faults:?}: {chain}"
        );
        assert_eq!(
            snapshots(&hc).await,
            Vec::<i64>::new(),
            "{via:?} {faults:?}: no snapshot"
        );
        assert_eq!(
            temporaries(&hc).await,
            (0, 0),
            "{via:?} {faults:?}: nothing temporary left"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_errors_fall_back_to_the_next_placement() {
    let api = emulator().await;
    let hc = client(&api);
    // Counted, so the catalogue still lists cax11 in fsn1 as available (a sold-out type,
    // an uncounted rule, is skipped before any create): the create itself is refused.
    api.sim.add_faults(
        &"unavailable,type=cax11,location=fsn1,n=1"
            .parse()
            .expect("a fault rule"),
    );
    let reports = build::build(
        &hc,
        &factory(&api),
        &request(&[Architecture::Arm64], Via::Remote),
        &options(),
    )
    .await
    .expect("the build falls back");
    assert_eq!(
        reports[0].placement.as_ref().map(ToString::to_string).as_deref(),
        Some("cax21 in fsn1"),
        "cax11 has no capacity in fsn1: the next placement is used"
    );
    let refused = api
        .sim
        .request_log()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/servers" && r.status == 412)
        .count();
    assert_eq!(refused, 1);
    assert_eq!(temporaries(&hc).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_faults_are_survived_without_duplicate_servers() {
    let api = emulator().await;
    let hc = client(&api);
    let faults = [
        "drop,on=POST:/servers,n=1",
        "429,on=GET:/actions,n=3",
        "503,on=POST:/ssh_keys,n=1",
        "locked,on=POST:/servers/*/actions/enable_rescue,n=2",
        "502,on=POST:/servers/*/actions/poweroff,n=1",
        "504,on=GET:/images/*,n=1",
    ];
    for fault in faults {
        api.sim.add_faults(&fault.parse().expect("a fault rule"));
    }
    let reports = build::build(
        &hc,
        &factory(&api),
        &request(&[Architecture::Amd64], Via::Remote),
        &options(),
    )
    .await
    .expect("the build survives the faults");
    let log = api.sim.request_log();
    let created: Vec<_> = log
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/servers")
        .filter(|r| r.response_body.as_ref().is_some_and(|b| b["server"]["id"].is_i64()))
        .collect();
    assert_eq!(created.len(), 1, "the dropped create is looked up, not repeated");
    assert_eq!(created[0].status, 0, "the one create is the dropped one");
    for fault in ["429", "503", "423", "502", "504"] {
        assert!(
            log.iter().any(|r| r.fault.as_deref() == Some(fault)),
            "fault {fault} fired"
        );
    }
    assert_eq!(temporaries(&hc).await, (0, 0));
    assert_eq!(snapshots(&hc).await, vec![reports[0].image_id.get()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_deletes_old_leftovers_of_other_runs_only() {
    let api = emulator().await;
    let hc = client(&api);
    let leftover = |name: &str| {
        let labels = Labels::builder("prod")
            .and_then(|l| l.with(talos_hcloud::image::build::builder::RUN, name))
            .expect("labels");
        let mut spec = CreateServer::new(name, "cx23", "ubuntu-24.04", labels);
        spec.location = Some("fsn1".into());
        spec
    };
    let old = hc.create_server(&leftover("old-run")).await.expect("create");
    hc.wait_for_actions("create", &old.action_ids()).await.expect("created");
    api.sim.advance(Duration::from_secs(2 * 3600));
    let young = hc.create_server(&leftover("young-run")).await.expect("create");
    hc.wait_for_actions("create", &young.action_ids())
        .await
        .expect("created");
    let mut opts = options();
    opts.sweep_grace = Duration::from_secs(3600);
    build::build(
        &hc,
        &factory(&api),
        &request(&[Architecture::Amd64], Via::Remote),
        &opts,
    )
    .await
    .expect("the build succeeds");
    assert!(
        hc.get_server(old.id()).await.expect("get").is_none(),
        "the old leftover is swept"
    );
    assert!(
        hc.get_server(young.id()).await.expect("get").is_some(),
        "a young one may be a run in progress"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_before_any_api_call() {
    let api = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let unknown_version = cli(&api, dir.path(), &["--talos-version", "v1.11.99", "--arch", "amd64"]).await;
    assert_eq!(unknown_version.code, 2, "{}", unknown_version.stderr);
    assert!(
        unknown_version.stderr.contains("does not offer Talos v1.11.99"),
        "{}",
        unknown_version.stderr
    );

    let bad_extension = dir.path().join("bad-extension.yaml");
    std::fs::write(
        &bad_extension,
        "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/qemu-guest-agnet\n",
    )
    .expect("write");
    let unknown_field = dir.path().join("unknown-field.yaml");
    std::fs::write(&unknown_field, "customization:\n  systemExtension: {}\n").expect("write");
    let version = version();
    for (file, expect) in [
        (&bad_extension, "qemu-guest-agent"),
        (&unknown_field, "systemExtension"),
    ] {
        let env = env(&api);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args = [
            "image",
            "build",
            "--schematic",
            file.to_str().expect("a UTF-8 path"),
            "--talos-version",
            &version,
            "--arch",
            "amd64",
        ];
        let run = talos_hcloud_env_async(dir.path(), &args, &env).await;
        assert_eq!(run.code, 2, "{}: {}", file.display(), run.stderr);
        assert!(run.stderr.contains(expect), "{}: {}", file.display(), run.stderr);
    }
    assert_eq!(api.sim.request_log().len(), 0, "not one Hetzner API call");
}

/// Starts the binary's `image build` for amd64 with piped stderr.
fn spawn_build(api: &Api, dir: &Path) -> Child {
    let schematic = dir.join("schematic.yaml");
    std::fs::write(&schematic, SCHEMATIC).expect("write schematic");
    let mut command = Command::new(env!("CARGO_BIN_EXE_talos-hcloud"));
    command
        .args(["image", "build", "--schematic"])
        .arg(&schematic)
        .args(["--talos-version", &version(), "--arch", "amd64"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("TALOS_HCLOUD_CONFIG")
        .env_remove("TALOS_HCLOUD_LOG");
    for (key, value) in env(api) {
        command.env(key, value);
    }
    command.spawn().expect("the binary starts")
}

/// Reads stderr lines until one equals `line`; returns every line read.
fn wait_for_line(stderr: &mut impl BufRead, line: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut text = String::new();
        let n = stderr.read_line(&mut text).expect("read stderr");
        assert!(n > 0, "stderr ended before `{line}`: {seen:?}");
        let text = text.trim_end().to_string();
        let found = text == line;
        seen.push(text);
        if found {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_or_sigterm_at_each_phase_deletes_the_temporary_server_and_key_and_exits_3() {
    let api = emulator().await;
    let hc = client(&api);
    let dir = tempfile::tempdir().expect("tempdir");
    // Slow image bodies keep the write phase long enough to be interrupted in.
    api.sim.factory().set_faults(FactoryFaults {
        slow_bytes_per_second: Some(2 << 20),
        ..FactoryFaults::default()
    });
    for (phase, signal) in [
        ("amd64: server", "INT"),
        ("amd64: rescue", "INT"),
        ("amd64: connect", "TERM"),
        ("amd64: write", "INT"),
    ] {
        let mut child = spawn_build(&api, dir.path());
        let pid = child.id();
        let stderr = child.stderr.take().expect("piped stderr");
        let (code, lines) = tokio::task::spawn_blocking({
            let phase = phase.to_string();
            move || {
                let mut stderr = BufReader::new(stderr);
                let mut lines = wait_for_line(&mut stderr, &phase);
                crate::harness::signal(pid, signal);
                let mut rest = String::new();
                let _ = stderr.read_to_string(&mut rest);
                lines.extend(rest.lines().map(str::to_string));
                (child.wait().expect("wait").code(), lines)
            }
        })
        .await
        .expect("the binary ran");
        assert_eq!(code, Some(3), "SIG{signal} in `{phase}`: {lines:#?}");
        let text = lines.join("\n");
        assert!(text.contains("interrupted"), "{text}");
        assert_eq!(temporaries(&hc).await, (0, 0), "interrupted in `{phase}`: {text}");
    }
    assert_eq!(snapshots(&hc).await, Vec::<i64>::new());
}

/// A second interrupt stops the cleanup at once and names what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_interrupt_gives_up_the_cleanup_and_names_what_is_left() {
    let api = emulator().await;
    let hc = client(&api);
    // Deleting the builder fails for long enough that the cleanup is still busy.
    api.sim
        .add_faults(&"locked,on=DELETE:/servers/*".parse().expect("a fault rule"));
    let mut opts = options();
    let interrupt = opts.interrupt.clone();
    opts.progress = Arc::new(Phases(interrupt.clone()));
    let error = build::build(
        &hc,
        &factory(&api),
        &request(&[Architecture::Amd64], Via::Remote),
        &opts,
    )
    .await
    .expect_err("interrupted");
    match &error {
        Error::Interrupted { left, .. } => {
            assert!(
                left.iter().any(|l| l.starts_with("server talos-hcloud-builder-amd64-")),
                "{left:?}"
            );
        }
        other => panic!("{}", talos_hcloud::error::chain(other).join(": ")),
    }
    let (servers, _) = temporaries(&hc).await;
    assert_eq!(servers, 1, "the builder is left for the next run's sweep");
}

/// Fires the interrupt once when the write starts and again when the cleanup is under way.
struct Phases(talos_hcloud::interrupt::Interrupt);

impl build::BuildProgress for Phases {
    fn phase(&self, _arch: Architecture, phase: build::Phase) {
        if phase == build::Phase::Write {
            self.0.trigger();
            let second = self.0.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                second.trigger();
            });
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_found_by_labels_is_the_newest_available_one() {
    let api = emulator().await;
    let hc = client(&api);
    let request = request(&[Architecture::Amd64], Via::Remote);
    let version = request.version.to_string();
    let none = build::find_snapshot(&hc, &request.schematic_id, &version, Architecture::Amd64)
        .await
        .expect("lookup");
    assert!(none.is_none());
    let reports = build::build(&hc, &factory(&api), &request, &options())
        .await
        .expect("built");
    let found = build::find_snapshot(&hc, &request.schematic_id, &version, Architecture::Amd64)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(ImageId::new(found.id), reports[0].image_id);
    let other_arch = build::find_snapshot(&hc, &request.schematic_id, &version, Architecture::Arm64)
        .await
        .expect("lookup");
    assert!(other_arch.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_yaml_provides_version_schematic_and_names() {
    let api = emulator().await;
    let config = crate::harness::repo_root().join("cluster.yaml");
    let env = env(&api);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let config = config.to_str().expect("a UTF-8 path");
    let args = ["-c", config, "image", "build", "--arch", "amd64", "--output", "json"];
    let run = talos_hcloud_env_async(crate::harness::repo_root(), &args, &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reports: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(reports[0]["version"], "v1.11.6", "cluster.yaml's talos.version");
    let spec = talos_hcloud::spec::load(&crate::harness::repo_root().join("cluster.yaml")).expect("cluster.yaml");
    assert_eq!(reports[0]["schematic"], spec.talos.schematic.id.to_string());
    let create = api
        .sim
        .request_log()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/v1/servers")
        .expect("a builder was created");
    let body = create.request_body.expect("a JSON body");
    assert!(
        body["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("tc-prod-builder-amd64-")),
        "{body}"
    );
    assert_eq!(body["location"], "fsn1");
    assert_eq!(body["labels"][labels::CLUSTER], "tootcommunity-prod");
    assert_eq!(body["labels"][labels::TEMPORARY], "true");
}

/// The read-back check on its own: it accepts the disk as written and refuses one changed
/// byte or a length the image's GPT contradicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_reads_the_disk_back_and_refuses_any_difference() {
    use talos_hcloud::image::build::{Leftovers, NoProgress, Placement, builder, cleanup, verify, write};
    let api = emulator().await;
    let hc = client(&api);
    let name = "verify-builder";
    let key = Arc::new(talos_hcloud::ssh::generate_key().expect("a key"));
    let leftovers = Leftovers::default();
    let labels = builder::temporary_labels(None, "0badc0de").expect("labels");
    let (key_id, _) = builder::create_key(&hc, &leftovers, "verify-key", &key, &labels)
        .await
        .expect("key");
    let placements = [Placement {
        location: "fsn1".into(),
        server_type: "cx23".into(),
    }];
    let (server, _) = builder::create_server(
        &hc,
        &leftovers,
        &NoProgress,
        Architecture::Amd64,
        name,
        &placements,
        key_id,
        &labels,
    )
    .await
    .expect("builder");
    let ip = builder::boot_rescue(&hc, server, name, key_id).await.expect("rescue");
    let session = builder::connect(ip, name, key, Duration::from_secs(30))
        .await
        .expect("ssh");
    let factory = factory(&api);
    let id = factory.push_schematic(&schematic()).await.expect("pushed").id;
    let url = factory
        .image_url(
            &id,
            &version(),
            Architecture::Amd64,
            talos_hcloud::factory::Compression::Zstd,
        )
        .expect("a URL");
    let written = write::write_remote(
        &session,
        name,
        &url,
        talos_hcloud::factory::Compression::Zstd,
        Architecture::Amd64,
        &NoProgress,
    )
    .await
    .expect("written");
    assert_eq!(
        (written.sha256.as_str(), written.bytes),
        (factory_sha(&api, Architecture::Amd64).as_str(), IMAGE_SIZE)
    );
    verify::verify_disk(&session, name, &written.sha256, written.bytes)
        .await
        .expect("the disk holds the image");

    let cut = verify::verify_disk(&session, name, &written.sha256, written.bytes - 4096)
        .await
        .expect_err("a short stream");
    assert!(cut.to_string().contains("the image's GPT says it is"), "{cut}");
    let (status, _, _) = session
        .output("printf X | dd of=/dev/sda bs=1 seek=1048577 conv=notrunc status=none")
        .await
        .expect("exec");
    assert!(status.success());
    let changed = verify::verify_disk(&session, name, &written.sha256, written.bytes)
        .await
        .expect_err("one changed byte");
    assert!(changed.to_string().contains("hash to"), "{changed}");

    session.close().await;
    let cleaned = cleanup::delete_all(
        &hc,
        &leftovers,
        options().cleanup,
        &talos_hcloud::interrupt::Interrupt::new(),
        1,
    )
    .await;
    assert_eq!(cleaned.len(), 2, "{cleaned:?}");
    assert_eq!(temporaries(&hc).await, (0, 0));
}
