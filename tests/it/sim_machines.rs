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
    let mut file = std::fs::OpenOptions::new().write(true).open(path).expect("open the disk");
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
    assert!(meta.blocks() * 512 <= 64 * 1024, "sparse: {} bytes allocated", meta.blocks() * 512);

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
    assert!(took >= 60_000, "a snapshot takes at least 60 simulated seconds, took {took} ms");
    let image = api.get(&format!("/images/{image_id}")).await.body["image"].clone();
    assert_eq!(image["status"], "available");
    assert_eq!(image["disk_size"].as_f64(), Some(40.0));
    let image_size = image["image_size"].as_f64().expect("image_size");
    assert!(image_size > 0.003 && image_size < 0.01, "about 3 MB written: {image_size} GB");

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
        .server("from-snapshot", json!({"server_type": "cax21", "image": image_id.to_string()}))
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
