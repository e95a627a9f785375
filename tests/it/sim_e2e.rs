//! Image → rescue → disk → snapshot → server → Talos API, end to end over real sockets
//! (issue 9): the product's Hetzner client drives the emulator, Debian's OpenSSH client
//! (and once the product's own SSH client) logs in to the rescue system on the server's
//! address, port 22, and writes the emulated factory's image onto `/dev/sda`. Binding
//! port 22 on 127.1.x.y needs root (as here and in CI).

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use talos_hcloud::hcloud::labels::Labels;
use talos_hcloud::hcloud::{
    ActionId, Client, ClientOptions, CreateServer, Credentials, Endpoint, ServerId, SshKeyId, Token,
};
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::SimConfig;
use talos_hcloud::sim::factory::{FactoryConfig, raw_image};
use talos_hcloud::spec::Architecture;
use talos_hcloud::ssh::{ConnectOptions, HostKeyPin, Session};
use talos_hcloud::talos::api::{CallOptions, Credentials as TalosCredentials, DetectedMode, TalosClient, detect_mode};

use crate::sim_common::Api;
use crate::sim_rescue::{TestKey, test_key};

pub const HCLOUD_YAML: &str =
    "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/qemu-guest-agent\n";
pub const IMAGE_SIZE: u64 = 24 * 1024 * 1024;

/// The emulator at 1000× time with small factory images.
pub async fn emulator() -> Api {
    Api::start_with(SimConfig {
        factory: FactoryConfig {
            image_size: IMAGE_SIZE,
            seed: 11,
            ..FactoryConfig::default()
        },
        ..SimConfig::default()
    })
    .await
}

/// A product client for the emulator with fast retry and poll policies.
pub fn client(api: &Api) -> Client {
    let credentials = Credentials {
        token: Token::new(api.sim.token()).expect("a token"),
        endpoint: Endpoint::parse(&api.sim.endpoint()).expect("the emulator's endpoint"),
    };
    let options = ClientOptions {
        retry: Policy::api_call().with_delays(Duration::from_millis(2), Duration::from_millis(20)),
        action_poll: Policy::action_poll()
            .with_delays(Duration::from_millis(5), Duration::from_millis(20))
            .with_deadline(Duration::from_secs(60)),
        request_timeout: Duration::from_secs(10),
    };
    Client::with_options(credentials, options).expect("a client")
}

/// Debian's `ssh` running `command` on the rescue system at `ip` (port 22).
fn openssh(ip: std::net::IpAddr, identity: &Path, command: &str) -> Output {
    crate::sim_rescue::openssh(std::net::SocketAddr::new(ip, 22), identity, command)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The server's public IPv4 as the API reports it.
async fn ipv4(hc: &Client, id: ServerId) -> std::net::IpAddr {
    let server = hc.get_server(id).await.expect("get").expect("the server exists");
    server.public_net.ipv4.expect("an IPv4").ip.parse().expect("an address")
}

async fn status(api: &Api, id: ServerId) -> String {
    api.get(&format!("/servers/{id}")).await.body["server"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A stopped cx23 builder (amd64).
async fn builder(hc: &Client, name: &str) -> ServerId {
    let mut spec = CreateServer::new(name, "cx23", "ubuntu-24.04", Labels::new());
    spec.location = Some("fsn1".into());
    let created = hc.create_server(&spec).await.expect("create");
    let mut actions: Vec<_> = created.action.iter().map(|a| ActionId::new(a.id)).collect();
    actions.extend(created.next_actions.iter().map(|a| ActionId::new(a.id)));
    hc.wait_for_actions("create builder", &actions).await.expect("created");
    ServerId::new(created.server.id)
}

/// Enables rescue with `key` and powers `id` on; returns once SSH (Debian's client) logs in.
async fn boot_rescue(hc: &Client, id: ServerId, key: SshKeyId, identity: &Path) -> std::net::IpAddr {
    let rescue = hc.enable_rescue(id, &[key]).await.expect("enable_rescue");
    hc.wait_for_action("enable rescue", ActionId::new(rescue.action.id))
        .await
        .expect("rescue enabled");
    let on = hc.poweron_server(id).await.expect("poweron");
    hc.wait_for_action("power on", ActionId::new(on.id))
        .await
        .expect("powered on");
    let ip = ipv4(hc, id).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = openssh(ip, identity, "true");
        if out.status.success() {
            return ip;
        }
        assert!(
            Instant::now() < deadline,
            "the rescue on {ip} never let us in: {}",
            text(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `poweroff` inside, then waits for Hetzner to report `off`.
async fn poweroff_inside(api: &Api, ip: std::net::IpAddr, identity: &Path, id: ServerId) {
    let _ = openssh(ip, identity, "poweroff");
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(api, id).await != "off" {
        assert!(
            Instant::now() < deadline,
            "poweroff inside the rescue never turned the server off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn snapshot(hc: &Client, id: ServerId, description: &str) -> String {
    let image = hc
        .create_image(id, description, &Labels::new())
        .await
        .expect("create_image");
    if let Some(action) = &image.action {
        hc.wait_for_action("snapshot", ActionId::new(action.id))
            .await
            .expect("snapshot done");
    }
    image.image.id.to_string()
}

/// Creates a started server from `image`; returns its Talos API address.
async fn server_from(hc: &Client, name: &str, image: &str) -> SocketAddr {
    let mut spec = CreateServer::new(name, "cx23", image, Labels::new());
    spec.location = Some("fsn1".into());
    spec.start_after_create = true;
    let created = hc.create_server(&spec).await.expect("create");
    let mut actions: Vec<_> = created.action.iter().map(|a| ActionId::new(a.id)).collect();
    actions.extend(created.next_actions.iter().map(|a| ActionId::new(a.id)));
    hc.wait_for_actions("create", &actions).await.expect("created");
    SocketAddr::new(ipv4(hc, ServerId::new(created.server.id)).await, 50000)
}

pub fn quick() -> CallOptions {
    CallOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        retry: Policy::none(),
    }
}

/// The Talos version the node at `node` reports in maintenance mode, once apid answers
/// (within 30 s).
pub async fn maintenance_version(node: SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let server_key = loop {
        if let Ok(DetectedMode::Maintenance { server_key }) = detect_mode(node, quick()).await {
            break server_key;
        }
        assert!(Instant::now() < deadline, "apid at {node} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let talos =
        TalosClient::new(node, &TalosCredentials::Maintenance { pin: Some(server_key) }, quick()).expect("client");
    talos.version().await.expect("Version").tag
}

pub(crate) async fn schematic(api: &Api) -> String {
    let reply = reqwest::Client::new()
        .post(format!("{}/schematics", api.sim.factory_url()))
        .body(HCLOUD_YAML)
        .send()
        .await
        .expect("post schematic");
    let body: serde_json::Value = reply.json().await.expect("json");
    body["id"].as_str().expect("a schematic ID").to_string()
}

pub fn sha256_prefix(path: &Path, len: u64) -> String {
    use std::io::Read;
    let file = std::fs::File::open(path).expect("open");
    let mut hasher = Sha256::new();
    std::io::copy(&mut file.take(len), &mut hasher).expect("read");
    hex::encode(hasher.finalize())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_rescue_disk_snapshot_server_talos_version() {
    let api = emulator().await;
    let hc = client(&api);
    let dir = tempfile::tempdir().expect("tempdir");
    let key: TestKey = test_key(dir.path(), "id_ed25519");
    let ssh_key = hc
        .create_ssh_key("e2e", &key.line, &Labels::new())
        .await
        .expect("ssh key")
        .id;
    let ssh_key = SshKeyId::new(ssh_key);
    let schematic = schematic(&api).await;
    let version = talos_hcloud::sim::factory::default_versions()
        .last()
        .expect("a version")
        .clone();
    let url = |arch: &str| {
        format!(
            "{}/image/{schematic}/{version}/hcloud-{arch}.raw.zst",
            api.sim.factory_url()
        )
    };
    let spec = api.sim.factory().image_spec(&schematic, &version, Architecture::Amd64);
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut raw_image(&spec).expect("spec"), &mut raw).expect("generate");
    assert_eq!(raw.len() as u64, IMAGE_SIZE);
    let raw_sha = hex::encode(Sha256::digest(&raw));

    // The good image: wget | zstd | dd in rescue, poweroff inside, snapshot.
    let good_builder = builder(&hc, "builder").await;
    let ip = boot_rescue(&hc, good_builder, ssh_key, &key.file).await;
    let out = openssh(
        ip,
        &key.file,
        &format!(
            "wget -qO- {} | zstd -dc | dd of=/dev/sda bs=4M conv=sparse status=none && sync",
            url("amd64")
        ),
    );
    assert!(out.status.success(), "the write failed: {}", text(&out.stderr));
    let disk = api.sim.server_disk(good_builder.get() as u64);
    assert_eq!(
        sha256_prefix(&disk, IMAGE_SIZE),
        raw_sha,
        "/dev/sda is the server's disk"
    );
    poweroff_inside(&api, ip, &key.file, good_builder).await;
    assert!(
        !openssh(ip, &key.file, "true").status.success(),
        "the rescue is gone once the server is off"
    );
    let good = snapshot(&hc, good_builder, "talos").await;

    // Allocated size stays close to the image's non-zero bytes (sparse all the way).
    let image_disk = api.sim.image_disk(good.parse().expect("an image ID"));
    let nonzero = spec.nonzero_bytes();
    let allocated = std::fs::metadata(&image_disk).expect("snapshot disk").blocks() * 512;
    assert!(
        allocated <= nonzero + nonzero / 4 + (1 << 20),
        "allocated {allocated} bytes for {nonzero} non-zero bytes"
    );
    let builder_allocated = std::fs::metadata(&disk).expect("disk").blocks() * 512;
    assert!(
        builder_allocated <= nonzero + nonzero / 4 + (2 << 20),
        "the builder's disk allocated {builder_allocated} bytes for {nonzero} non-zero bytes"
    );

    // A truncated write (through the product's own SSH client) and the arm64 image.
    let truncated_builder = builder(&hc, "truncated").await;
    let ip = boot_rescue(&hc, truncated_builder, ssh_key, &key.file).await;
    let session = Session::connect(
        SocketAddr::new(ip, 22),
        &ConnectOptions {
            user: "root".to_string(),
            key: Arc::clone(&key.key),
            deadline: Duration::from_secs(20),
            pin: HostKeyPin::new(),
        },
    )
    .await
    .expect("our client logs in to the rescue");
    let (exit, _, err) = session
        .output(&format!(
            "wget -qO- {} | zstd -dc | head -c {} | dd of=/dev/sda bs=4M conv=sparse status=none && sync",
            url("amd64"),
            IMAGE_SIZE / 2
        ))
        .await
        .expect("exec");
    assert!(exit.success(), "{exit}: {}", text(&err));
    let _ = session.output("poweroff").await;
    session.close().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&api, truncated_builder).await != "off" {
        assert!(
            Instant::now() < deadline,
            "poweroff through our client never turned the server off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let truncated = snapshot(&hc, truncated_builder, "truncated").await;

    let arm_builder = builder(&hc, "wrong-arch").await;
    let ip = boot_rescue(&hc, arm_builder, ssh_key, &key.file).await;
    let out = openssh(
        ip,
        &key.file,
        &format!(
            "wget -qO- {} | zstd -dc | dd of=/dev/sda bs=4M conv=sparse status=none && sync",
            url("arm64")
        ),
    );
    assert!(out.status.success(), "the arm64 write failed: {}", text(&out.stderr));
    poweroff_inside(&api, ip, &key.file, arm_builder).await;
    let wrong_arch = snapshot(&hc, arm_builder, "arm64").await;

    // A server from the good snapshot: the same bytes, and Talos answers Version.
    let node = server_from(&hc, "talos-1", &good).await;
    let node_id = hc
        .find_server("talos-1")
        .await
        .expect("lookup")
        .expect("the server exists")
        .id;
    assert_eq!(sha256_prefix(&api.sim.server_disk(node_id as u64), IMAGE_SIZE), raw_sha);
    assert_eq!(maintenance_version(node).await, version);

    // Bad snapshots boot nothing that answers on 50000, even long after.
    let bad = [
        server_from(&hc, "from-truncated", &truncated).await,
        server_from(&hc, "from-arm64", &wrong_arch).await,
    ];
    tokio::time::sleep(Duration::from_millis(500)).await; // 500 simulated seconds
    for addr in bad {
        assert!(detect_mode(addr, quick()).await.is_err(), "{addr} must not answer");
    }
}

/// True if a TCP connection to `addr` is accepted.
async fn accepts(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rescue_listens_only_after_its_boot_and_until_a_reset_or_power_off() {
    let api = Api::stepped().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = test_key(dir.path(), "id_ed25519");
    let ssh_key = api
        .create("/ssh_keys", serde_json::json!({"name": "k", "public_key": key.line}))
        .await["ssh_key"]["id"]
        .clone();
    let created = api.server("r", serde_json::json!({"start_after_create": false})).await;
    let id = created["server"]["id"].as_u64().expect("an ID");
    let ip: std::net::IpAddr = created["server"]["public_net"]["ipv4"]["ip"]
        .as_str()
        .expect("an IPv4")
        .parse()
        .expect("an address");
    let ssh = SocketAddr::new(ip, 22);
    let rescue = api
        .post(
            &format!("/servers/{id}/actions/enable_rescue"),
            serde_json::json!({"ssh_keys": [ssh_key]}),
        )
        .await;
    api.finish(&rescue.body["action"]).await;
    let on = api
        .post(&format!("/servers/{id}/actions/poweron"), serde_json::json!({}))
        .await;
    api.finish(&on.body["action"]).await;
    assert_eq!(status(&api, ServerId::new(id as i64)).await, "running");

    // Booting: refused until 30 simulated seconds have passed.
    api.sim.advance(Duration::from_secs(25));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !accepts(ssh).await,
        "SSH must refuse connections while the rescue boots"
    );
    api.sim.advance(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !accepts(ssh).await {
        assert!(Instant::now() < deadline, "the rescue never listened on {ssh}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = openssh(
        ip,
        &key.file,
        "lsblk -b -n -o SIZE /dev/sda 2>/dev/null || stat -c %s /dev/sda",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "40000000000",
        "cax11: /dev/sda is its 40 GB disk"
    );
    let internal = api.sim.state()["servers"][0]["internal"].clone();
    assert_eq!(internal["rescue_booted"], true, "{internal}");
    assert!(internal["rescue_error"].is_null(), "{internal}");

    // A reset through the API takes it down; rescue was one-shot, so nothing comes back.
    let reset = api
        .post(&format!("/servers/{id}/actions/reset"), serde_json::json!({}))
        .await;
    api.finish(&reset.body["action"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    api.sim.advance(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !accepts(ssh).await,
        "after a reset the server boots its disk, not the rescue"
    );
}
