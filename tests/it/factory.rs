//! The Image Factory client, image streams and the `schematic push` / `factory …` commands,
//! against the emulated Image Factory (`talos_hcloud::sim::factory`) over real HTTP: its
//! faults cut, reset, redirect, slow down or fail requests, and files served at a path give
//! the exact bytes a test needs.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use talos_hcloud::factory::image_stream::{self, NoProgress, StreamOptions};
use talos_hcloud::factory::{Compression, Error, FactoryClient, Schematic, SchematicId};
use talos_hcloud::retry::Policy;
use talos_hcloud::spec::Architecture;
use tokio::io::AsyncReadExt;

use sha2::{Digest, Sha256};
use talos_hcloud::sim::factory::{Factory, FactoryConfig, FactoryFaults, raw_image};

use crate::harness::{Run, repo_root, talos_hcloud_env, talos_hcloud_env_async};

const HCLOUD_ID: &str = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515";
const MIB: u64 = 1024 * 1024;

/// An emulated factory offering three versions, with the smallest images.
async fn start() -> Factory {
    start_with(4 * MIB).await
}

async fn start_with(image_size: u64) -> Factory {
    Factory::start(FactoryConfig {
        image_size,
        versions: ["v1.10.7", "v1.11.0", "v1.11.1"].map(String::from).to_vec(),
        ..FactoryConfig::default()
    })
    .await
    .expect("the emulated factory starts")
}

/// Pushes `schematics/hcloud.yaml`, so the factory builds its images.
async fn push_hcloud(factory: &Factory) {
    let body = std::fs::read_to_string(repo_root().join("schematics/hcloud.yaml")).expect("schematic");
    let response = reqwest::Client::new()
        .post(format!("{}/schematics", factory.url()))
        .body(body)
        .send()
        .await
        .expect("push");
    assert_eq!(response.status().as_u16(), 201);
}

/// The `Range` header of every request, in order.
fn ranges(factory: &Factory) -> Vec<Option<String>> {
    factory.requests().into_iter().map(|r| r.range).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A deterministic, partly compressible pseudo-random disk image: runs of zeros, text-like
/// repeats and random 4 KiB blocks, like a sparse filesystem (any length, unlike the
/// factory's own images).
fn synthetic_image(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut rng = seed | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    while out.len() < len {
        let kind = next() % 4;
        let block_len = 4096.min(len - out.len());
        match kind {
            0 => out.extend(std::iter::repeat_n(0u8, block_len)),
            1 => {
                let pattern = next().to_le_bytes();
                out.extend((0..block_len).map(|i| pattern[i % 8] & 0x7f));
            }
            _ => {
                for _ in 0..block_len.div_ceil(8) {
                    let word = next().to_le_bytes();
                    let room = (len - out.len()).min(8);
                    out.extend_from_slice(&word[..room]);
                }
            }
        }
    }
    out.truncate(len);
    out
}

fn fast_options(compression: Compression) -> StreamOptions {
    StreamOptions {
        retry: Policy::download().with_delays(Duration::from_millis(10), Duration::from_millis(50)),
        ..StreamOptions::new(compression)
    }
}

fn zstd(raw: &[u8]) -> Vec<u8> {
    zstd::encode_all(raw, 3).expect("zstd compresses")
}

fn xz(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    liblzma::read::XzEncoder::new(raw, 6)
        .read_to_end(&mut out)
        .expect("xz compresses");
    out
}

/// Runs the binary while the in-process server keeps serving.
async fn cli(factory: &Factory, args: &[&str]) -> Run {
    let url = factory.url();
    talos_hcloud_env_async(repo_root(), args, &[("TALOS_FACTORY_URL", &url)]).await
}

fn image_path(file: &str) -> String {
    format!("/image/{HCLOUD_ID}/v1.11.1/{file}")
}

/// The client's URL of the v1.11.1 hcloud image that [`image_path`] names on the server.
fn image_url(client: &FactoryClient, arch: Architecture, compression: Compression) -> url::Url {
    let id: SchematicId = HCLOUD_ID.parse().expect("id");
    client.image_url(&id, "v1.11.1", arch, compression).expect("url")
}

/// Faults that cut the next image body after `bytes` bytes.
fn cut_after(bytes: u64) -> FactoryFaults {
    FactoryFaults {
        drops: 1,
        drop_after: bytes,
        ..FactoryFaults::default()
    }
}

/// A factory serving `bytes` as the v1.11.1 image of `arch` and `compression`, with
/// `faults`, a client for it, and that image's URL.
async fn serving(
    bytes: &[u8],
    arch: Architecture,
    compression: Compression,
    faults: FactoryFaults,
) -> (Factory, FactoryClient, url::Url) {
    let factory = start().await;
    let client = FactoryClient::new(&factory.url()).expect("client");
    let url = image_url(&client, arch, compression);
    factory.serve_file(url.path(), bytes).expect("served");
    factory.set_faults(faults);
    (factory, client, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_and_xz_images_stream_with_independent_digests() {
    let factory = start().await;
    let raw = synthetic_image(6 * 1024 * 1024 + 123, 42);
    let client = FactoryClient::new(&factory.url()).expect("client");
    for (compression, compressed) in [(Compression::Zstd, zstd(&raw)), (Compression::Xz, xz(&raw))] {
        assert!(
            compressed.len() < raw.len() * 9 / 10,
            "test data should compress, but not trivially"
        );
        assert!(
            compressed.len() > raw.len() / 10,
            "test data should not compress trivially"
        );
        let url = image_url(&client, Architecture::Arm64, compression);
        factory
            .serve_file(
                &image_path(&format!("hcloud-arm64.raw.{}", compression.extension())),
                &compressed,
            )
            .expect("served");

        // Forwarding mode: the compressed bytes go to the sink unchanged.
        let mut forwarded = Vec::new();
        let digest = image_stream::forward_compressed(
            &client,
            url.clone(),
            fast_options(compression),
            Arc::new(NoProgress),
            &mut forwarded,
        )
        .await
        .expect("forwarded");
        assert_eq!(forwarded, compressed, "{compression}: forwarded bytes");
        assert_eq!(digest.compressed_sha256, sha256_hex(&compressed), "{compression}");
        assert_eq!(digest.compressed_bytes, compressed.len() as u64, "{compression}");
        assert_eq!(digest.raw_sha256, sha256_hex(&raw), "{compression}");
        assert_eq!(digest.raw_bytes, raw.len() as u64, "{compression}");

        // Raw mode: the decoded image as an AsyncRead.
        let mut reader = image_stream::open_raw(&client, url, fast_options(compression), Arc::new(NoProgress));
        let mut decoded = Vec::new();
        reader
            .read_to_end(&mut decoded)
            .await
            .expect("raw stream reads to the end");
        let raw_digest = reader.finish().await.expect("raw digest");
        assert!(decoded == raw, "{compression}: decoded bytes differ");
        assert_eq!(raw_digest, digest, "{compression}: both modes agree");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_with_a_range_request() {
    let raw = synthetic_image(4 * 1024 * 1024, 7);
    let compressed = zstd(&raw);
    let drop_at = 1_000_000usize;
    assert!(compressed.len() > drop_at + 100_000);
    let (factory, client, url) = serving(
        &compressed,
        Architecture::Amd64,
        Compression::Zstd,
        cut_after(drop_at as u64),
    )
    .await;
    let mut reader = image_stream::open_raw(&client, url, fast_options(Compression::Zstd), Arc::new(NoProgress));
    let mut decoded = Vec::new();
    reader
        .read_to_end(&mut decoded)
        .await
        .expect("reads through the resume");
    let digest = reader.finish().await.expect("digest");
    assert!(decoded == raw);
    assert_eq!(digest.compressed_sha256, sha256_hex(&compressed));
    assert_eq!(digest.compressed_bytes, compressed.len() as u64);
    assert_eq!(digest.raw_sha256, sha256_hex(&raw));
    assert_eq!(digest.raw_bytes, raw.len() as u64);
    assert_eq!(ranges(&factory), vec![None, Some("bytes=1000000-".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_ranges_is_read_again_and_verified() {
    let raw = synthetic_image(3 * 1024 * 1024, 9);
    let compressed = xz(&raw);
    let (factory, client, url) = serving(
        &compressed,
        Architecture::Amd64,
        Compression::Xz,
        FactoryFaults {
            ignore_ranges: true,
            ..cut_after(300_000)
        },
    )
    .await;
    let mut forwarded = Vec::new();
    let digest = image_stream::forward_compressed(
        &client,
        url,
        fast_options(Compression::Xz),
        Arc::new(NoProgress),
        &mut forwarded,
    )
    .await
    .expect("digest");
    assert!(forwarded == compressed, "the consumer sees each byte exactly once");
    assert_eq!(digest.compressed_sha256, sha256_hex(&compressed));
    assert_eq!(digest.raw_sha256, sha256_hex(&raw));
    assert_eq!(digest.raw_bytes, raw.len() as u64);
    assert_eq!(ranges(&factory), vec![None, Some("bytes=300000-".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_connection_reset_mid_body_is_resumed() {
    // A reset (not a clean close) loses whatever was in flight; the client resumes from
    // what it actually received and the digests still match.
    let raw = synthetic_image(4 * 1024 * 1024, 8);
    let compressed = zstd(&raw);
    let (factory, client, url) = serving(
        &compressed,
        Architecture::Amd64,
        Compression::Zstd,
        FactoryFaults {
            drop_reset: true,
            ..cut_after(1_500_000)
        },
    )
    .await;
    let digest = image_stream::digest(&client, url, fast_options(Compression::Zstd), Arc::new(NoProgress))
        .await
        .expect("digest");
    assert_eq!(digest.compressed_sha256, sha256_hex(&compressed));
    assert_eq!(digest.raw_sha256, sha256_hex(&raw));
    let gets: Vec<_> = factory.requests().into_iter().filter(|s| s.method == "GET").collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    let resumed_at: u64 = gets[1]
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    assert!(resumed_at <= 1_500_000, "{gets:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed() {
    let raw = synthetic_image(1024 * 1024, 3);
    let compressed = zstd(&raw);
    let (factory, client, url) = serving(
        &compressed,
        Architecture::Arm64,
        Compression::Zstd,
        FactoryFaults {
            redirects: 1,
            ..FactoryFaults::default()
        },
    )
    .await;
    let digest = image_stream::digest(&client, url, fast_options(Compression::Zstd), Arc::new(NoProgress))
        .await
        .expect("digest through a redirect");
    assert_eq!(digest.compressed_sha256, sha256_hex(&compressed));
    assert_eq!(digest.raw_sha256, sha256_hex(&raw));
    let gets: Vec<(String, u16)> = factory
        .requests()
        .into_iter()
        .filter(|s| s.method == "GET")
        .map(|s| (s.path, s.status))
        .collect();
    let path = image_path("hcloud-arm64.raw.zst");
    assert_eq!(
        gets,
        [(path.clone(), 302), (path, 200)],
        "the redirect target was fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_and_server_errors_name_the_url_and_status() {
    let factory = start().await;
    let client = FactoryClient::new(&factory.url()).expect("client");
    let missing = image_url(&client, Architecture::Amd64, Compression::Zstd);
    let err = image_stream::digest(
        &client,
        missing.clone(),
        fast_options(Compression::Zstd),
        Arc::new(NoProgress),
    )
    .await
    .expect_err("404");
    assert!(matches!(err, Error::Status { status: 404, .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("{missing} answered 404: schematic not found"));
    assert_eq!(
        factory.requests().iter().filter(|s| s.method == "GET").count(),
        1,
        "a 404 is not retried"
    );

    // A factory failing every request; only the first line of its body is shown.
    factory.set_faults(FactoryFaults {
        errors: 100,
        error_status: 503,
        ..FactoryFaults::default()
    });
    let failing = missing;
    let err = image_stream::digest(
        &client,
        failing.clone(),
        fast_options(Compression::Zstd),
        Arc::new(NoProgress),
    )
    .await
    .expect_err("503");
    let Error::RetriesExhausted { attempts, source, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*attempts, 6);
    assert_eq!(
        source.to_string(),
        format!("{failing} answered 503: injected failure 503")
    );
    assert!(
        err.to_string()
            .starts_with(&format!("giving up on {failing} after 6 attempts")),
        "{err}"
    );

    // API calls name the URL too, and a 5xx is an operation failure (exit 1).
    factory.set_faults(FactoryFaults {
        errors: 1,
        error_status: 500,
        ..FactoryFaults::default()
    });
    let err = client.versions().await.expect_err("500");
    assert_eq!(
        err.to_string(),
        format!("{}/versions answered 500: injected failure 500", factory.url())
    );
    assert_eq!(
        talos_hcloud::error::Classify::class(&err),
        talos_hcloud::error::Class::Failed
    );

    let closed = FactoryClient::new("http://127.0.0.1:9").expect("client");
    let err = closed.versions().await.expect_err("connection refused");
    assert!(matches!(err, Error::Request { .. }), "{err:?}");
    assert_eq!(err.to_string(), "request to http://127.0.0.1:9/versions failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_prewarm_and_names() {
    let factory = start().await;
    factory
        .serve_file(&image_path("hcloud-arm64.raw.xz"), &[1, 2, 3, 4, 5])
        .expect("served");
    let client = FactoryClient::new(&factory.url()).expect("client");
    let id: SchematicId = HCLOUD_ID.parse().expect("id");
    let url = image_url(&client, Architecture::Arm64, Compression::Xz);
    let head = client.head_image(&url).await.expect("head");
    assert_eq!(head.content_length, Some(5));
    assert_eq!(
        factory.requests().last().map(|s| s.method.clone()).as_deref(),
        Some("HEAD")
    );
    let url = factory.url();
    let host = url.trim_start_matches("http://");
    assert_eq!(
        client.installer_ref(&id, "v1.11.1").expect("ref"),
        format!("{host}/hcloud-installer/{HCLOUD_ID}:v1.11.1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_are_checked_against_the_target_version() {
    let factory = start().await;
    let client = FactoryClient::new(&factory.url()).expect("client");
    let good = Schematic::with_official_extensions(["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"]);
    client.check_extensions(&good, "v1.11.1").await.expect("available");
    let bad = Schematic::with_official_extensions(["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tool"]);
    let err = client.check_extensions(&bad, "v1.11.1").await.expect_err("missing");
    assert_eq!(
        err.to_string(),
        "Talos v1.11.1 has no official extension siderolabs/iscsi-tool"
    );
    assert_eq!(
        talos_hcloud::error::Classify::class(&err),
        talos_hcloud::error::Class::InvalidInput
    );
    let err = client
        .check_extensions(&good, "v9.9.9")
        .await
        .expect_err("unknown version");
    assert!(matches!(err, Error::Status { status: 404, .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schematic_push_prints_the_id_and_rejects_a_mismatch() {
    let factory = start().await;
    let run = cli(&factory, &["schematic", "push", "schematics/hcloud.yaml"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("{HCLOUD_ID}\n"));
    let pushed: Vec<(String, Option<String>)> = factory
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| (r.path, r.body))
        .collect();
    assert_eq!(
        pushed,
        [(
            "/schematics".to_string(),
            Some(
                "customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/qemu-guest-agent\n"
                    .to_string()
            )
        )],
        "the canonical YAML was posted"
    );

    let run = cli(
        &factory,
        &["--output", "json", "schematic", "push", "schematics/hcloud.yaml"],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json["id"], HCLOUD_ID);
    assert_eq!(json["factory"], format!("{}/", factory.url()));

    let other = "0".repeat(64);
    factory.set_faults(FactoryFaults {
        schematic_id: Some(other.clone()),
        ..FactoryFaults::default()
    });
    let run = cli(&factory, &["schematic", "push", "schematics/hcloud.yaml"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains(&format!(
            "error: the factory at {}/schematics assigned schematic ID {other}, but the schematic hashes to {HCLOUD_ID} locally\nhint: ",
            factory.url()
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factory_versions_and_extensions_commands() {
    let factory = start().await;
    let run = cli(&factory, &["factory", "versions"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "v1.10.7\nv1.11.0\nv1.11.1\n");
    let run = cli(&factory, &["--output", "json", "factory", "versions"]).await;
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json, serde_json::json!(["v1.10.7", "v1.11.0", "v1.11.1"]));

    let run = cli(&factory, &["factory", "extensions", "v1.11.1"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "siderolabs/amd-ucode         ghcr.io/siderolabs/amd-ucode:20250708\n\
         siderolabs/intel-ucode       ghcr.io/siderolabs/intel-ucode:20250512\n\
         siderolabs/iscsi-tools       ghcr.io/siderolabs/iscsi-tools:v0.2.0\n\
         siderolabs/qemu-guest-agent  ghcr.io/siderolabs/qemu-guest-agent:10.0.2\n\
         siderolabs/tailscale         ghcr.io/siderolabs/tailscale:1.86.2\n\
         siderolabs/util-linux-tools  ghcr.io/siderolabs/util-linux-tools:2.41.1\n\
         siderolabs/cni-plugins       ghcr.io/siderolabs/cni-plugins:v1.7.1\n"
    );

    let run = cli(
        &factory,
        &[
            "schematic",
            "check",
            "schematics/hcloud.yaml",
            "--talos-version",
            "v1.11.1",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "schematics/hcloud.yaml: 1 official extension(s) available for Talos v1.11.1\n"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let typo = dir.path().join("typo.yaml");
    std::fs::write(
        &typo,
        "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/qemu-guest-agnet]\n",
    )
    .expect("write");
    let typo = typo.to_string_lossy().into_owned();
    let run = cli(&factory, &["schematic", "check", &typo, "--talos-version", "v1.11.1"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: Talos v1.11.1 has no official extension siderolabs/qemu-guest-agnet\n\
         hint: did you mean `siderolabs/qemu-guest-agent`?\n\
         hint: list them with `talos-hcloud factory extensions v1.11.1`\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factory_download_writes_the_raw_image_and_prints_digests() {
    let factory = start().await;
    let raw = synthetic_image(2 * 1024 * 1024 + 17, 11);
    let compressed = zstd(&raw);
    factory
        .serve_file(&image_path("hcloud-arm64.raw.zst"), &compressed)
        .expect("served");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("disk.raw");
    let out_text = out.to_string_lossy().into_owned();
    let run = cli(
        &factory,
        &[
            "--output",
            "json",
            "factory",
            "download",
            "schematics/hcloud.yaml",
            "--talos-version",
            "v1.11.1",
            "--arch",
            "arm64",
            "-o",
            &out_text,
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json["digest"]["raw_sha256"], sha256_hex(&raw));
    assert_eq!(json["digest"]["raw_bytes"], raw.len() as u64);
    assert_eq!(json["digest"]["compressed_sha256"], sha256_hex(&compressed));
    assert_eq!(json["digest"]["compressed_bytes"], compressed.len() as u64);
    assert!(
        std::fs::read(&out).expect("output file") == raw,
        "the raw image was written"
    );
    assert!(!dir.path().join("disk.raw.part").exists());

    let run = cli(
        &factory,
        &["factory", "download", HCLOUD_ID, "--talos-version", "v1.11.0"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("answered 404: schematic not found"),
        "{}",
        run.stderr
    );
}

/// The memory test runs in its own process (this test binary, filtered to the child
/// test) so that other tests running in parallel cannot raise the peak it measures.
#[test]
fn image_stream_memory_does_not_grow_with_image_size() {
    let exe = std::env::current_exe().expect("test binary path");
    let output = std::process::Command::new(exe)
        .args([
            "factory::streaming_memory_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TALOS_HCLOUD_MEMORY_CHILD", "1")
        .output()
        .expect("child test runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    let growth: u64 = stdout
        .lines()
        .find_map(|l| l.split("peak_growth_kib=").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("child did not report its memory:\n{stdout}\n{stderr}"));
    assert!(
        growth < 64 * 1024,
        "peak RSS grew by {growth} KiB while streaming 384 MiB"
    );
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}

/// Streams a 384 MiB image of the emulated factory and reports the growth of the peak
/// resident set. Run by `image_stream_memory_does_not_grow_with_image_size`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a separate process by image_stream_memory_does_not_grow_with_image_size"]
async fn streaming_memory_child() {
    const RAW: u64 = 384 * 1024 * 1024;
    let factory = start_with(RAW).await;
    push_hcloud(&factory).await;
    let client = FactoryClient::new(&factory.url()).expect("client");
    let url = image_url(&client, Architecture::Amd64, Compression::Zstd);
    // The factory builds (compresses) the image on the HEAD, before the measurement.
    let head = client.head_image(&url).await.expect("pre-warm");
    // Warm up allocator, runtime and connection pools with a small image first.
    let small = zstd(&synthetic_image(256 * 1024, 1));
    factory
        .serve_file(&image_path("hcloud-arm64.raw.zst"), &small)
        .expect("served");
    let warm = image_url(&client, Architecture::Arm64, Compression::Zstd);
    image_stream::digest(
        &client,
        warm,
        StreamOptions::new(Compression::Zstd),
        Arc::new(NoProgress),
    )
    .await
    .expect("warm-up");

    let before = status_kib("VmHWM:");
    let mut reader = image_stream::open_raw(
        &client,
        url.clone(),
        StreamOptions::new(Compression::Zstd),
        Arc::new(NoProgress),
    );
    let copied = tokio::io::copy(&mut reader, &mut tokio::io::sink())
        .await
        .expect("streams");
    let digest = reader.finish().await.expect("digest");
    let after = status_kib("VmHWM:");
    assert_eq!(copied, RAW);
    // What the factory generated and sent, hashed independently of the client.
    let spec = factory.image_spec(HCLOUD_ID, "v1.11.1", Architecture::Amd64);
    let raw_sha256 = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        std::io::copy(&mut raw_image(&spec).expect("spec"), &mut hasher).expect("generate");
        hex::encode(hasher.finalize())
    })
    .await
    .expect("hash thread");
    let mut response = reqwest::get(url).await.expect("get");
    let mut hasher = Sha256::new();
    let mut compressed_bytes = 0u64;
    while let Some(chunk) = response.chunk().await.expect("body") {
        hasher.update(&chunk);
        compressed_bytes += chunk.len() as u64;
    }
    assert_eq!(digest.raw_bytes, RAW);
    assert_eq!(digest.raw_sha256, raw_sha256);
    assert_eq!(digest.compressed_sha256, hex::encode(hasher.finalize()));
    assert_eq!(digest.compressed_bytes, compressed_bytes);
    assert_eq!(head.content_length, Some(compressed_bytes));
    let growth = after.saturating_sub(before);
    println!("peak_growth_kib={growth}");
    assert!(
        growth < 64 * 1024,
        "peak RSS grew by {growth} KiB while streaming {RAW} bytes"
    );
}

/// Ctrl-C during a download: exit 3 (interrupted), and the partial file is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_download_exits_3_and_removes_the_partial_file() {
    // A factory that sends the image at 4 KiB/s: the download is still running when the
    // signal comes.
    let factory = start().await;
    push_hcloud(&factory).await;
    factory.set_faults(FactoryFaults {
        slow_bytes_per_second: Some(4096),
        ..FactoryFaults::default()
    });
    let url = factory.url();

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("disk.raw");
    let part = dir.path().join("disk.raw.part");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_talos-hcloud"))
        .args(["factory", "download", HCLOUD_ID, "--talos-version", "v1.11.1", "-o"])
        .arg(&out)
        .env("TALOS_FACTORY_URL", &url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn talos-hcloud");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !part.exists() {
        assert!(tokio::time::Instant::now() < deadline, "the download never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crate::harness::signal(child.id().expect("child pid"), "INT");
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits after Ctrl-C")
        .expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    assert!(!part.exists(), "the partial file was removed");
    assert!(!out.exists(), "no image file was written");
}

/// A factory URL with credentials is refused, and the password never appears in what is
/// printed, whether the URL parses or not (`--factory-url http://user:pw@host` is shown
/// with `***` for the password).
#[test]
fn factory_url_passwords_are_never_printed() {
    for (url, shown) in [
        ("http://ops:s3cr3t-pw@127.0.0.1:9/", "http://ops:***@127.0.0.1:9/"),
        (
            "https://ops:s3cr3t-pw@fac tory.example/",
            "https://ops:***@fac tory.example/",
        ),
    ] {
        for (args, env) in [
            (
                vec!["--factory-url", url, "schematic", "push", "schematics/hcloud.yaml"],
                vec![],
            ),
            (
                vec![
                    "--output",
                    "json",
                    "schematic",
                    "check",
                    "schematics/hcloud.yaml",
                    "--talos-version",
                    "v1.11.1",
                ],
                vec![("TALOS_FACTORY_URL", url)],
            ),
        ] {
            let run = talos_hcloud_env(repo_root(), &args, &env);
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            let output = format!("{}{}", run.stdout, run.stderr);
            assert!(!output.contains("s3cr3t"), "{args:?}: {output}");
            assert!(
                output.contains(&format!("invalid Image Factory URL `{shown}`")),
                "{args:?}: {output}"
            );
        }
    }
}
