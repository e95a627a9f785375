//! The manual rescue flow of an operator, driven by the official Python client and Debian's
//! OpenSSH client (`tests/python/rescue_flow.py`): enable rescue, power on, ssh in with the
//! key, `wget -O- FACTORY_URL | zstd -dc | dd of=/dev/sda bs=4M conv=sparse`, poweroff inside,
//! `create_image`, a server from the snapshot with its configuration as user data. The
//! emulator then holds the same bytes on the snapshot and the new server's disk (sparse), and
//! the new server answers the Talos API, configured, with the image's version.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use talos_hcloud::sim::factory::raw_image;
use talos_hcloud::spec::Architecture;
use talos_hcloud::talos::api::{DetectedMode, detect_mode};
use talos_hcloud::talos::config::{HcloudCluster, MachineType, NodeSettings};

use super::{interpreter, python_command};
use crate::sim_e2e::{IMAGE_SIZE, emulator, schematic, sha256_prefix};
use crate::sim_rescue::test_key;

const VERSION: &str = "v1.11.6";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manual_rescue_flow_through_the_python_client_and_openssh_builds_a_bootable_snapshot() {
    let python = interpreter();
    let api = emulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = test_key(dir.path(), "id_ed25519");
    std::fs::write(dir.path().join("id_ed25519.pub"), format!("{}\n", key.line)).expect("public key");
    let config = HcloudCluster {
        vip: None,
        ..crate::talos_golden::hcloud_cluster(VERSION)
    }
    .node_config(
        &crate::talos_golden::golden_secrets(),
        &NodeSettings {
            hostname: "talos-1".to_string(),
            machine_type: MachineType::ControlPlane,
        },
    )
    .expect("the config renders")
    .to_yaml();
    let user_data = dir.path().join("user-data.yaml");
    std::fs::write(&user_data, config).expect("user data");
    let schematic = schematic(&api).await;
    let url = format!(
        "{}/image/{schematic}/{VERSION}/hcloud-amd64.raw.zst",
        api.sim.factory_url()
    );

    let output = python_command(&python, "rescue_flow.py", api.sim.token())
        .args(["--endpoint", &api.sim.endpoint(), "--image-url", &url])
        .arg("--identity")
        .arg(&key.file)
        .arg("--user-data")
        .arg(&user_data)
        .args(["--poll-interval", "0.05", "--poll-max-retries", "2400"])
        .output()
        .await
        .expect("the test Python runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "rescue_flow.py failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let id = |field: &str| result[field].as_u64().expect("an ID");

    // Byte-identical: the factory's raw image is what the snapshot and the new server hold.
    let spec = api.sim.factory().image_spec(&schematic, VERSION, Architecture::Amd64);
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut raw_image(&spec).expect("spec"), &mut raw).expect("generate");
    let raw_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&raw))
    };
    let snapshot_disk = api.sim.image_disk(id("snapshot"));
    for disk in [
        api.sim.server_disk(id("builder")),
        snapshot_disk.clone(),
        api.sim.server_disk(id("server")),
    ] {
        assert_eq!(sha256_prefix(&disk, IMAGE_SIZE), raw_sha, "{disk:?} holds the image");
    }
    // Sparse: the snapshot allocates about the image's non-zero bytes, not its size.
    let nonzero = spec.nonzero_bytes();
    let allocated = std::fs::metadata(&snapshot_disk).expect("snapshot disk").blocks() * 512;
    assert!(
        allocated <= nonzero + nonzero / 4 + (1 << 20),
        "allocated {allocated} bytes for {nonzero} non-zero bytes"
    );

    // The server from the snapshot boots Talos with its user data and answers Version.
    let ip: std::net::IpAddr = result["ipv4"].as_str().expect("ipv4").parse().expect("an address");
    let addr = std::net::SocketAddr::new(ip, 50000);
    let options = crate::sim_machines::quick();
    let mut mode = None;
    for _ in 0..300 {
        if let Ok(found) = detect_mode(addr, options).await {
            mode = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        mode,
        Some(DetectedMode::Configured),
        "apid at {addr} came up configured"
    );
    let version = crate::sim_traffic::admin_client(addr)
        .with_options(options)
        .version()
        .await
        .expect("Version");
    assert_eq!(version.tag, VERSION);
}
