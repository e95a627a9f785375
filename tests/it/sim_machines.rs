//! Machines over real HTTP: every server has a sparse disk file the size of its type,
//! snapshots copy it byte for byte (sparse), servers from a snapshot get its bytes, and a
//! crash powers a server off at once.

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use crate::sim_common::Api;

fn id(v: &Value) -> u64 {
    v["id"].as_u64().expect("an object with an ID")
}

/// Writes `bytes` at `offset` of a disk file, as `dd conv=notrunc seek=…` in rescue would.
fn write_at(path: &std::path::Path, offset: u64, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the disk");
    file.seek(SeekFrom::Start(offset)).expect("seek");
    file.write_all(bytes).expect("write");
    file.sync_all().expect("sync");
}

#[tokio::test]
async fn disks_snapshots_and_servers_from_snapshots_carry_the_bytes() {
    let api = Api::stepped().await;
    let builder = api.server("builder", json!({"server_type": "cax11"})).await;
    let builder_id = id(&builder["server"]);
    let disk = api.sim.server_disk(builder_id);
    assert!(disk.starts_with(api.sim.state_dir()), "{disk:?}");
    let meta = std::fs::metadata(&disk).expect("the server has a disk file");
    assert_eq!(meta.len(), 40 * 1_000_000_000, "cax11 has a 40 GB disk");
    assert!(
        meta.blocks() * 512 <= 64 * 1024,
        "sparse: {} bytes allocated",
        meta.blocks() * 512
    );

    // Data at the start and deep inside the disk, zeros written in between.
    let head: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8 + 1).collect();
    write_at(&disk, 0, &head);
    write_at(&disk, 20 * 1_000_000_000, b"deep data");
    write_at(&disk, 5 * 1024 * 1024, &vec![0u8; 4 * 1024 * 1024]);
    let source_hash = hash_file(&disk);

    let snapshot = api
        .create(
            &format!("/servers/{builder_id}/actions/create_image"),
            json!({"description": "talos", "type": "snapshot"}),
        )
        .await;
    let image_id = id(&snapshot["image"]);
    assert_eq!(snapshot["image"]["status"], "creating");
    let started = api.sim.state()["now_ms"].as_u64().expect("now");
    api.finish(&snapshot["action"]).await;
    let took = api.sim.state()["now_ms"].as_u64().expect("now") - started;
    assert!(
        took >= 60_000,
        "a snapshot takes at least 60 simulated seconds, took {took} ms"
    );
    let image = api.get(&format!("/images/{image_id}")).await.body["image"].clone();
    assert_eq!(image["status"], "available");
    assert_eq!(image["disk_size"].as_f64(), Some(40.0));
    let image_size = image["image_size"].as_f64().expect("image_size");
    assert!(
        image_size > 0.003 && image_size < 0.01,
        "about 3 MB written: {image_size} GB"
    );

    let image_disk = api.sim.image_disk(image_id);
    let copy = std::fs::metadata(&image_disk).expect("the snapshot has a disk file");
    assert_eq!(copy.len(), meta.len());
    assert!(
        copy.blocks() * 512 <= 4 * 1024 * 1024,
        "the copy allocates only non-zero blocks: {}",
        copy.blocks() * 512
    );
    assert_eq!(hash_file(&image_disk), source_hash, "byte-identical snapshot");

    // The builder's later writes do not reach the snapshot.
    write_at(&disk, 0, b"changed after the snapshot");
    assert_eq!(hash_file(&image_disk), source_hash);

    // A bigger server from the snapshot: the snapshot's bytes, then its own larger size.
    let from = api
        .server(
            "from-snapshot",
            json!({"server_type": "cax21", "image": image_id.to_string()}),
        )
        .await;
    let from_disk = api.sim.server_disk(id(&from["server"]));
    assert_eq!(std::fs::metadata(&from_disk).expect("disk").len(), 80 * 1_000_000_000);
    let bytes = read_range(&from_disk, 0, head.len());
    assert_eq!(bytes, head);
    assert_eq!(read_range(&from_disk, 20 * 1_000_000_000, 9), b"deep data");

    // Deleting forgets the disks.
    let deleted = api.delete(&format!("/servers/{}", id(&from["server"]))).await;
    api.finish(&deleted.body["action"]).await;
    assert!(!from_disk.exists(), "a deleted server's disk is gone");
    assert_eq!(api.delete(&format!("/images/{image_id}")).await.status, 204);
    assert!(!image_disk.exists(), "a deleted snapshot's disk is gone");
}

#[tokio::test]
async fn a_rebuild_rewrites_the_disk() {
    let api = Api::stepped().await;
    let server = api.server("rebuilt", json!({})).await;
    let server_id = id(&server["server"]);
    let disk = api.sim.server_disk(server_id);
    write_at(&disk, 0, b"talos was here");
    let rebuilt = api
        .create(
            &format!("/servers/{server_id}/actions/rebuild"),
            json!({"image": "ubuntu-24.04"}),
        )
        .await;
    api.finish(&rebuilt["action"]).await;
    let head = read_range(&disk, 0, 14);
    assert_ne!(head, b"talos was here");
    assert_eq!(read_range(&disk, 510, 2), [0x55, 0xAA], "a fresh Linux disk");
}

#[tokio::test]
async fn a_type_change_with_upgrade_disk_grows_the_disk_file_and_keeps_its_bytes() {
    let api = Api::stepped().await;
    let server_id = id(&api.server("grown", json!({"server_type": "cx23"})).await["server"]);
    let disk = api.sim.server_disk(server_id);
    write_at(&disk, 39 * 1_000_000_000, b"near the end");
    let before = hash_file(&disk);
    let off = api
        .post(&format!("/servers/{server_id}/actions/poweroff"), json!({}))
        .await;
    api.finish(&off.body["action"]).await;

    let change_type = |server_type: &'static str, upgrade_disk: bool| {
        let api = &api;
        async move {
            let path = format!("/servers/{server_id}/actions/change_type");
            let changed = api
                .create(&path, json!({"server_type": server_type, "upgrade_disk": upgrade_disk}))
                .await;
            api.finish(&changed["action"]).await;
        }
    };
    // Without upgrade_disk the disk keeps its size (a later downgrade stays possible).
    change_type("cx33", false).await;
    assert_eq!(std::fs::metadata(&disk).expect("disk").len(), 40 * 1_000_000_000);
    assert_eq!(hash_file(&disk), before);

    change_type("cx43", true).await;
    let server = api.get(&format!("/servers/{server_id}")).await.body;
    assert_eq!(server["server"]["primary_disk_size"], 160);
    let meta = std::fs::metadata(&disk).expect("disk");
    assert_eq!(meta.len(), 160 * 1_000_000_000, "the file grew with the type");
    assert!(meta.blocks() * 512 <= 1024 * 1024, "still sparse");
    assert_eq!(read_range(&disk, 39 * 1_000_000_000, 12), b"near the end");
    assert_eq!(read_range(&disk, 159 * 1_000_000_000, 4), [0; 4]);
}

#[tokio::test]
async fn a_crashed_server_is_off_at_once() {
    let api = Api::stepped().await;
    let server = api.server("crashy", json!({})).await;
    let server_id = id(&server["server"]);
    let path = format!("/servers/{server_id}");
    assert_eq!(api.get(&path).await.body["server"]["status"], "running");
    api.sim.crash_server(server_id).expect("crash");
    assert_eq!(api.get(&path).await.body["server"]["status"], "off");

    // The same over the HTTP controls, on a server that was started again.
    let on = api.post(&format!("{path}/actions/poweron"), json!({})).await;
    api.finish(&on.body["action"]).await;
    assert_eq!(api.get(&path).await.body["server"]["status"], "running");
    let crashed = api.sim.control().crash_server(server_id).await.expect("crash control");
    assert_eq!(crashed["server"]["status"], "off");
    assert_eq!(api.get(&path).await.body["server"]["status"], "off");
    let missing = api.sim.control().crash_server(1).await;
    assert!(missing.is_err(), "no such server");
}

fn read_range(path: &std::path::Path, offset: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).expect("open");
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, offset).expect("read");
    bytes
}

/// A fingerprint of a sparse file's whole content: its length and SHA-256 over every
/// non-zero 4 KiB block with its offset (two files with equal fingerprints are
/// byte-identical, holes and zero blocks alike). Reads only the data extents.
fn hash_file(path: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).expect("open");
    let len = file.metadata().expect("meta").len();
    let mut hasher = Sha256::new();
    hasher.update(len.to_le_bytes());
    let mut offset = 0u64;
    let mut buffer = vec![0u8; 1024 * 1024];
    while offset < len {
        let Ok(data) = rustix::fs::seek(&file, rustix::fs::SeekFrom::Data(offset)) else {
            break;
        };
        let hole = rustix::fs::seek(&file, rustix::fs::SeekFrom::Hole(data)).map_or(len, |h| h.min(len));
        // Whole 4 KiB blocks, so both files are cut the same way.
        let mut at = data - data % 4096;
        while at < hole {
            let n = (hole - at).min(buffer.len() as u64) as usize;
            file.read_exact_at(&mut buffer[..n], at).expect("read");
            for (index, block) in buffer[..n].chunks(4096).enumerate() {
                if block.iter().any(|b| *b != 0) {
                    hasher.update((at + index as u64 * 4096).to_le_bytes());
                    hasher.update(block);
                }
            }
            at += n as u64;
        }
        offset = hole;
    }
    hex::encode(hasher.finalize())
}

// ---------------------------------------------------------------------------------------
// Booting what the disk holds
// ---------------------------------------------------------------------------------------

pub(crate) const SCHEMATIC: &str = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";

/// An emulator in step mode whose nodes check configs with talos-hcloud's validator.
pub(crate) async fn machines() -> Api {
    Api::start_with(talos_hcloud::sim::SimConfig {
        time_scale: 0.0,
        node_validator: std::sync::Arc::new(talos_hcloud::talos::config::validate::node_validator()),
        ..talos_hcloud::sim::SimConfig::default()
    })
    .await
}

/// The raw bytes of a synthetic Talos image (8 MiB).
pub(crate) fn talos_image(version: &str, arch: talos_hcloud::spec::Architecture) -> Vec<u8> {
    use std::io::Read;
    let spec = talos_hcloud::sim::factory::ImageSpec {
        schematic: SCHEMATIC.to_string(),
        version: version.to_string(),
        arch,
        raw_size: 8 * 1024 * 1024,
        seed: 7,
    };
    let mut bytes = Vec::new();
    talos_hcloud::sim::factory::raw_image(&spec)
        .expect("a valid spec")
        .read_to_end(&mut bytes)
        .expect("generated");
    bytes
}

/// Rebuilds `builder` (a fresh Linux disk), writes `bytes` at its start as `dd` in rescue
/// would, and snapshots it; returns the snapshot's ID.
pub(crate) async fn snapshot_of(api: &Api, builder: u64, bytes: &[u8]) -> u64 {
    let rebuilt = api
        .create(
            &format!("/servers/{builder}/actions/rebuild"),
            json!({"image": "ubuntu-24.04"}),
        )
        .await;
    api.finish(&rebuilt["action"]).await;
    write_at(&api.sim.server_disk(builder), 0, bytes);
    let image = api
        .create(&format!("/servers/{builder}/actions/create_image"), json!({}))
        .await;
    api.finish(&image["action"]).await;
    id(&image["image"])
}

pub(crate) fn quick() -> talos_hcloud::talos::api::CallOptions {
    talos_hcloud::talos::api::CallOptions {
        timeout: std::time::Duration::from_secs(5),
        connect_timeout: std::time::Duration::from_secs(2),
        retry: talos_hcloud::retry::Policy::none(),
    }
}

pub(crate) fn talos_addr(server: &Value) -> std::net::SocketAddr {
    let ip: std::net::IpAddr = server["public_net"]["ipv4"]["ip"]
        .as_str()
        .expect("an IPv4")
        .parse()
        .expect("an address");
    std::net::SocketAddr::new(ip, 50000)
}

/// Steps simulated time (5 s at a time, up to 5 minutes) until apid at `addr` answers.
pub(crate) async fn wait_for_talos(api: &Api, addr: std::net::SocketAddr) -> talos_hcloud::talos::api::DetectedMode {
    for _ in 0..60 {
        api.sim.advance(std::time::Duration::from_secs(5));
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        if let Ok(mode) = talos_hcloud::talos::api::detect_mode(addr, quick()).await {
            return mode;
        }
    }
    panic!("apid at {addr} never answered");
}

/// Returns true if and only if nothing answers the Talos API at `addr`.
pub(crate) async fn silent(addr: std::net::SocketAddr) -> bool {
    talos_hcloud::talos::api::detect_mode(addr, quick()).await.is_err()
}

fn admin() -> talos_hcloud::talos::api::ClientIdentity {
    let text = std::fs::read_to_string(crate::harness::repo_root().join("tests/fixtures/talos/secrets.yaml"))
        .expect("golden bundle");
    let bundle: talos_hcloud::talos::secrets::SecretsBundle = serde_saphyr::from_str(&text).expect("bundle parses");
    let talosconfig = talos_hcloud::talos::talosconfig::Talosconfig::for_cluster(&bundle, "base", ["127.0.0.1"])
        .expect("talosconfig");
    talos_hcloud::talos::api::TalosconfigTarget::from_talosconfig(&talosconfig, None)
        .expect("its one context is usable")
        .identity
}

#[tokio::test]
async fn servers_boot_the_talos_image_on_their_disk_and_nothing_else() {
    use talos_hcloud::spec::Architecture;
    use talos_hcloud::talos::api::{Credentials, DetectedMode, TalosClient};
    let api = machines().await;
    let builder = id(&api.server("builder", json!({"server_type": "cx23"})).await["server"]);
    let good = snapshot_of(&api, builder, &talos_image("v1.13.2", Architecture::Amd64)).await;
    let image = talos_image("v1.12.6", Architecture::Amd64);
    let good_v112 = snapshot_of(&api, builder, &image).await;
    let truncated = snapshot_of(&api, builder, &image[..image.len() / 2]).await;
    let wrong_arch = snapshot_of(&api, builder, &talos_image("v1.13.2", Architecture::Arm64)).await;
    let linux = snapshot_of(&api, builder, b"").await;

    // Maintenance mode, the right version.
    let maintenance = api
        .server("maint", json!({"server_type": "cx23", "image": good.to_string()}))
        .await;
    let addr = talos_addr(&maintenance["server"]);
    let DetectedMode::Maintenance { server_key } = wait_for_talos(&api, addr).await else {
        panic!("no user data: maintenance mode");
    };
    let client = TalosClient::new(addr, &Credentials::Maintenance { pin: Some(server_key) }, quick()).expect("client");
    assert_eq!(client.version().await.expect("v1.13 answers Version").tag, "v1.13.2");

    // User data (base64 of gzip, as Talos reads it) boots configured.
    let config = crate::talos_golden::golden("v1.12", "controlplane");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(config.as_bytes()).expect("gzip");
    let user_data = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip"))
    };
    let configured = api
        .server(
            "cp-1",
            json!({"server_type": "cx23", "image": good_v112.to_string(), "user_data": user_data}),
        )
        .await;
    let configured_id = id(&configured["server"]);
    let cp = talos_addr(&configured["server"]);
    assert_eq!(wait_for_talos(&api, cp).await, DetectedMode::Configured);
    let admin = TalosClient::new(cp, &Credentials::Configured(admin()), quick()).expect("client");
    assert_eq!(admin.version().await.expect("configured Version").tag, "v1.12.6");

    // Bad disks never answer, even long after booting.
    let mut bad = Vec::new();
    for (name, image) in [("truncated", truncated), ("arm-on-x86", wrong_arch), ("linux", linux)] {
        let server = api
            .server(name, json!({"server_type": "cx23", "image": image.to_string()}))
            .await;
        bad.push(talos_addr(&server["server"]));
    }
    api.sim.advance(std::time::Duration::from_secs(300));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for addr in &bad {
        assert!(silent(*addr).await, "{addr} must not answer");
    }

    // A reboot keeps the configuration.
    let reboot = api
        .post(&format!("/servers/{configured_id}/actions/reboot"), json!({}))
        .await;
    api.finish(&reboot.body["action"]).await;
    assert_eq!(wait_for_talos(&api, cp).await, DetectedMode::Configured);

    // A crash: Hetzner says off, the node is gone; power on boots it configured again.
    api.sim.crash_server(configured_id).expect("crash");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        api.get(&format!("/servers/{configured_id}")).await.body["server"]["status"],
        "off"
    );
    assert!(silent(cp).await, "a crashed node does not answer");
    let on = api
        .post(&format!("/servers/{configured_id}/actions/poweron"), json!({}))
        .await;
    api.finish(&on.body["action"]).await;
    assert_eq!(wait_for_talos(&api, cp).await, DetectedMode::Configured);

    // A delete forgets the node.
    let deleted = api.delete(&format!("/servers/{configured_id}")).await;
    api.finish(&deleted.body["action"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(silent(cp).await, "a deleted server's node is gone");
}
