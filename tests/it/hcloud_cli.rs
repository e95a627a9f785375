//! The official `hcloud` CLI (Go, built on hcloud-go; Debian's `hcloud-cli`) against the
//! emulator: what operators do by hand with networks, subnets, servers, rescue, images,
//! primary and floating IPs, firewalls, placement groups and load balancers.
//!
//! The binary is `$TALOS_HCLOUD_TEST_HCLOUD_CLI` or `hcloud` on `PATH`; without either the
//! test says so and passes (CI installs `hcloud-cli`). It talks to the emulator only
//! through `HCLOUD_ENDPOINT` and `HCLOUD_TOKEN`, with a throwaway config file.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use talos_hcloud::sim::{Sim, SimConfig};

use crate::sim_common::ssh_public_key;

/// The CLI binary, if installed.
fn hcloud_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TALOS_HCLOUD_TEST_HCLOUD_CLI").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("hcloud"))
            .find(|candidate| candidate.is_file())
    })
}

/// The CLI binary, a fresh emulator and a scratch directory; `None` (the test says so and
/// passes) without the CLI.
async fn cli_emulator() -> Option<(PathBuf, Sim, tempfile::TempDir)> {
    let Some(binary) = hcloud_binary() else {
        eprintln!("hcloud CLI not installed (apt-get install hcloud-cli): skipped");
        return None;
    };
    let sim = Sim::start(SimConfig::default()).await.expect("the emulator starts");
    Some((binary, sim, tempfile::tempdir().expect("temp dir")))
}

/// Runs the CLI against one emulator.
struct Cli<'a> {
    binary: PathBuf,
    sim: &'a Sim,
    config: PathBuf,
    /// More environment for the CLI (e.g. a `PATH` whose `ssh` adds options).
    env: Vec<(&'static str, std::ffi::OsString)>,
}

impl Cli<'_> {
    /// Runs `hcloud ARGS` (at most 60 s) and returns what it did.
    async fn run(&self, args: &[&str]) -> std::process::Output {
        tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(&self.binary)
                .args(args)
                .env("HCLOUD_ENDPOINT", self.sim.endpoint())
                .env("HCLOUD_TOKEN", self.sim.token())
                .env("HCLOUD_CONFIG", &self.config)
                .env("HCLOUD_POLL_INTERVAL", "50ms")
                .env_remove("HCLOUD_CONTEXT")
                .envs(self.env.iter().map(|(name, value)| (name, value)))
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("hcloud {args:?} did not finish within 60 s"))
        .expect("hcloud runs")
    }

    /// Runs `hcloud ARGS`; panics with its output unless it succeeds. Returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "hcloud {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
            output.status
        );
        assert!(
            !stdout.contains(self.sim.token()) && !stderr.contains(self.sim.token()),
            "the token leaked"
        );
        stdout
    }

    /// `hcloud KIND describe NAME -o json`.
    async fn describe(&self, kind: &str, name: &str) -> Value {
        let text = self.ok(&[kind, "describe", name, "-o", "json"]).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind} describe {name}: {e}: {text}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_hcloud_cli_runs_the_operator_workflow() {
    let Some((binary, sim, dir)) = cli_emulator().await else {
        return;
    };
    let cli = Cli {
        binary,
        sim: &sim,
        config: dir.path().join("cli.toml"),
        env: Vec::new(),
    };

    let key = ssh_public_key(1);
    assert!(
        cli.ok(&["ssh-key", "create", "--name", "k1", "--public-key", &key])
            .await
            .contains("created")
    );
    cli.ok(&["network", "create", "--name", "net1", "--ip-range", "10.0.0.0/16"])
        .await;
    cli.ok(&[
        "network",
        "add-subnet",
        "net1",
        "--type",
        "cloud",
        "--network-zone",
        "eu-central",
        "--ip-range",
        "10.0.1.0/24",
    ])
    .await;
    cli.ok(&["placement-group", "create", "--name", "pg1", "--type", "spread"])
        .await;
    cli.ok(&["firewall", "create", "--name", "fw1"]).await;
    cli.ok(&[
        "firewall",
        "add-rule",
        "fw1",
        "--direction",
        "in",
        "--protocol",
        "tcp",
        "--port",
        "6443",
        "--source-ips",
        "0.0.0.0/0",
    ])
    .await;

    // Servers (x86: this CLI picks the first image of a name, the x86 one).
    let created = cli
        .ok(&[
            "server",
            "create",
            "--name",
            "cp-1",
            "--type",
            "cx23",
            "--image",
            "ubuntu-24.04",
            "--location",
            "fsn1",
            "--ssh-key",
            "k1",
            "--placement-group",
            "pg1",
            "--firewall",
            "fw1",
            "--label",
            "role=cp",
        ])
        .await;
    assert!(created.contains("IPv4: 127.1."), "{created}");
    cli.ok(&[
        "server",
        "create",
        "--name",
        "cp-2",
        "--type",
        "cx23",
        "--image",
        "ubuntu-24.04",
        "--location",
        "fsn1",
        "--ssh-key",
        "k1",
        "--label",
        "role=cp",
        "--without-ipv6",
    ])
    .await;
    cli.ok(&[
        "server",
        "attach-to-network",
        "cp-1",
        "--network",
        "net1",
        "--ip",
        "10.0.1.5",
    ])
    .await;
    let cp1 = cli.describe("server", "cp-1").await;
    assert_eq!(cp1["private_net"][0]["ip"], "10.0.1.5");
    assert_eq!(cp1["placement_group"]["name"], "pg1");
    cli.ok(&[
        "firewall",
        "apply-to-resource",
        "fw1",
        "--type",
        "label_selector",
        "--label-selector",
        "role=cp",
    ])
    .await;

    // Rescue, power, snapshot.
    let rescue = cli.ok(&["server", "enable-rescue", "cp-1", "--ssh-key", "k1"]).await;
    assert!(rescue.contains("Rescue enabled"), "{rescue}");
    assert_eq!(cli.describe("server", "cp-1").await["rescue_enabled"], true);
    cli.ok(&["server", "reboot", "cp-1"]).await;
    // The reboot booted the rescue system, which consumes the activation.
    assert_eq!(cli.describe("server", "cp-1").await["rescue_enabled"], false);
    cli.ok(&["server", "poweroff", "cp-2"]).await;
    assert_eq!(cli.describe("server", "cp-2").await["status"], "off");
    cli.ok(&["server", "poweron", "cp-2"]).await;
    cli.ok(&["server", "shutdown", "cp-2"]).await;
    let image = cli
        .ok(&[
            "server",
            "create-image",
            "cp-2",
            "--type",
            "snapshot",
            "--description",
            "talos-v1.11.6",
            "--label",
            "os=talos",
        ])
        .await;
    assert!(image.contains("created from server"), "{image}");
    let snapshots = cli
        .ok(&[
            "image",
            "list",
            "--type",
            "snapshot",
            "--selector",
            "os=talos",
            "-o",
            "noheader",
        ])
        .await;
    assert!(snapshots.contains("talos-v1.11.6"), "{snapshots}");

    // IPs.
    cli.ok(&[
        "floating-ip",
        "create",
        "--type",
        "ipv4",
        "--home-location",
        "fsn1",
        "--name",
        "vip",
    ])
    .await;
    cli.ok(&["floating-ip", "assign", "vip", "cp-1"]).await;
    let vip = cli.describe("floating-ip", "vip").await;
    assert_eq!(vip["server"], cp1["id"]);
    assert!(vip["ip"].as_str().is_some_and(|ip| ip.starts_with("127.2.")), "{vip}");
    let primary = cli.ok(&["primary-ip", "list", "-o", "noheader"]).await;
    assert_eq!(primary.lines().filter(|l| l.contains("ipv4")).count(), 2, "{primary}");

    // Load balancer on the private network, label-selector targets on private IPs.
    cli.ok(&[
        "load-balancer",
        "create",
        "--name",
        "api",
        "--type",
        "lb11",
        "--location",
        "fsn1",
    ])
    .await;
    cli.ok(&["load-balancer", "attach-to-network", "api", "--network", "net1"])
        .await;
    cli.ok(&[
        "load-balancer",
        "add-service",
        "api",
        "--protocol",
        "tcp",
        "--listen-port",
        "6443",
        "--destination-port",
        "6443",
    ])
    .await;
    cli.ok(&[
        "load-balancer",
        "add-target",
        "api",
        "--label-selector",
        "role=cp",
        "--use-private-ip",
    ])
    .await;
    cli.ok(&["load-balancer", "add-target", "api", "--server", "cp-2"])
        .await;
    let lb = cli.describe("load-balancer", "api").await;
    assert_eq!(lb["services"][0]["listen_port"], 6443);
    assert_eq!(lb["targets"].as_array().map(Vec::len), Some(2), "{lb}");
    assert!(
        lb["public_net"]["ipv4"]["ip"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("127.3.")),
        "{lb}"
    );

    // Teardown in the order an operator would.
    cli.ok(&["floating-ip", "unassign", "vip"]).await;
    cli.ok(&["floating-ip", "delete", "vip"]).await;
    cli.ok(&["load-balancer", "delete", "api"]).await;
    cli.ok(&["server", "delete", "cp-2"]).await;
    cli.ok(&["server", "delete", "cp-1"]).await;
    let servers = cli.ok(&["server", "list", "-o", "noheader"]).await;
    assert!(servers.trim().is_empty(), "{servers}");
    sim.shutdown().await;
}

/// `hcloud server ssh` into a rescue system: the CLI runs the system's OpenSSH against the
/// address the API reports, port 22, where the emulated rescue system accepts the key given
/// to `enable-rescue` and runs the command with `/dev/sda` being the server's disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hcloud_server_ssh_reaches_the_rescue_system() {
    use std::os::unix::fs::PermissionsExt;
    let Some((binary, sim, dir)) = cli_emulator().await else {
        return;
    };
    let key = crate::sim_rescue::test_key(dir.path(), "id_ed25519");
    // `hcloud server ssh` runs `ssh` from PATH with only user, port and address; the key and
    // the throwaway host-key policy come from an ssh_config a PATH shim passes along.
    let ssh_config = dir.path().join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  \
             UserKnownHostsFile /dev/null\n  BatchMode yes\n  LogLevel ERROR\n  ConnectTimeout 5\n",
            key.file.display()
        ),
    )
    .expect("ssh_config");
    let shim = dir.path().join("bin");
    std::fs::create_dir(&shim).expect("shim dir");
    let real_ssh = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("ssh"))
        .find(|p| p.is_file())
        .expect("OpenSSH's ssh is installed");
    std::fs::write(
        shim.join("ssh"),
        format!(
            "#!/bin/sh\nexec {} -F {} \"$@\"\n",
            real_ssh.display(),
            ssh_config.display()
        ),
    )
    .expect("shim");
    std::fs::set_permissions(shim.join("ssh"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut path = std::ffi::OsString::from(&shim);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let cli = Cli {
        binary,
        sim: &sim,
        config: dir.path().join("cli.toml"),
        env: vec![("PATH", path)],
    };

    cli.ok(&["ssh-key", "create", "--name", "rescue", "--public-key", &key.line])
        .await;
    let create = "server create --name r1 --type cx23 --image ubuntu-24.04 --location fsn1 --start-after-create=false";
    cli.ok(&create.split(' ').collect::<Vec<_>>()).await;
    cli.ok(&["server", "enable-rescue", "--ssh-key", "rescue", "r1"]).await;
    cli.ok(&["server", "poweron", "r1"]).await;
    // The rescue system's sshd answers 30 simulated seconds after the boot.
    let mut said = String::new();
    for _ in 0..100 {
        let output = cli
            .run(&[
                "server",
                "ssh",
                "r1",
                "echo hello from $(hostname); printf marker | dd of=/dev/sda conv=notrunc status=none",
            ])
            .await;
        if output.status.success() {
            said = String::from_utf8_lossy(&output.stdout).to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(said, "hello from rescue\n");
    let id = cli.describe("server", "r1").await["id"].as_u64().expect("an ID");
    let mut head = [0u8; 6];
    std::io::Read::read_exact(
        &mut std::fs::File::open(sim.server_disk(id)).expect("the disk"),
        &mut head,
    )
    .expect("read");
    assert_eq!(&head, b"marker", "the command wrote the server's disk");
    sim.shutdown().await;
}
