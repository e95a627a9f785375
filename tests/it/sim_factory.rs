//! The emulated Image Factory (`talos_hcloud::sim::factory`) over real HTTP: its answers
//! against the reference (image-factory.md), its synthetic images, its faults, and the
//! sparse download path (`image_stream::download_to` + `SparseFile`) on top of it.

use std::io::{Cursor, Read};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use talos_hcloud::factory::image_stream::{self, NoProgress, SparseFile, StreamOptions, WriteSink};
use talos_hcloud::factory::{Compression, Error, FactoryClient, Schematic, SchematicId};
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::factory::{Factory, FactoryConfig, FactoryFaults, ImageInfo, ImageSpec, inspect, raw_image};
use talos_hcloud::spec::Architecture;

const HCLOUD_ID: &str = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515";
const HCLOUD_YAML: &str =
    "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/qemu-guest-agent\n";
const MIB: u64 = 1024 * 1024;

async fn start(image_size: u64) -> Factory {
    Factory::start(FactoryConfig {
        image_size,
        seed: 3,
        ..FactoryConfig::default()
    })
    .await
    .expect("factory starts")
}

fn fast_options(compression: Compression) -> StreamOptions {
    StreamOptions {
        retry: Policy::download().with_delays(Duration::from_millis(10), Duration::from_millis(50)),
        ..StreamOptions::new(compression)
    }
}

async fn push(http: &reqwest::Client, factory: &Factory, body: &str) -> (u16, String) {
    let response = http
        .post(format!("{}/schematics", factory.url()))
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    (response.status().as_u16(), response.text().await.expect("body"))
}

async fn status_and_body(http: &reqwest::Client, method: reqwest::Method, url: String) -> (u16, String) {
    let response = http.request(method, url).send().await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

/// The JSON answer to a request.
async fn json_of<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.expect("request").json().await.expect("json")
}

fn generated(spec: &ImageSpec) -> Vec<u8> {
    let mut out = Vec::new();
    raw_image(spec).expect("spec").read_to_end(&mut out).expect("generate");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulated_factory_answers_like_the_reference() {
    let factory = start(4 * MIB).await;
    let http = reqwest::Client::new();
    let base = factory.url();

    // Versions: a JSON array of `v`-prefixed strings, ascending.
    let versions: Vec<String> = http
        .get(format!("{base}/versions"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(versions.contains(&"v1.11.6".to_string()), "{versions:?}");
    assert_eq!(versions.first().map(String::as_str), Some("v1.10.0"));
    assert_eq!(versions.last().map(String::as_str), Some("v1.14.0-rc.1"));

    // Official extensions, with or without the `v`; an unknown version is 404.
    for v in ["v1.11.6", "1.11.6"] {
        let list: Vec<serde_json::Value> = http
            .get(format!("{base}/version/{v}/extensions/official"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let qemu = list
            .iter()
            .find(|e| e["name"] == "siderolabs/qemu-guest-agent")
            .expect("qemu-guest-agent listed");
        for field in ["ref", "digest", "author", "description"] {
            assert!(qemu[field].as_str().is_some_and(|s| !s.is_empty()), "{field} in {qemu}");
        }
    }
    let (status, _) = status_and_body(
        &http,
        reqwest::Method::GET,
        format!("{base}/version/v9.9.9/extensions/official"),
    )
    .await;
    assert_eq!(status, 404);

    // POST /schematics: 201 and the ID computed as the real factory does, for YAML and JSON.
    let (status, body) = push(&http, &factory, HCLOUD_YAML).await;
    assert_eq!(status, 201, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["id"], HCLOUD_ID);
    let (status, body) = push(
        &http,
        &factory,
        r#"{"customization":{"systemExtensions":{"officialExtensions":["siderolabs/qemu-guest-agent"]}}}"#,
    )
    .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<serde_json::Value>(&body).expect("json")["id"].clone()
        ),
        (201, HCLOUD_ID.into())
    );
    let (status, body) = push(&http, &factory, "").await;
    assert_eq!(status, 201);
    assert!(
        body.contains("376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"),
        "{body}"
    );
    // Unknown field: 400, nothing stored.
    let (status, body) = push(&http, &factory, "customization:\n  systemExtension: {}\n").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("systemExtension"), "{body}");

    // GET /schematics/{id}: the canonical YAML; unknown 404; malformed 400.
    let response = http
        .get(format!("{base}/schematics/{HCLOUD_ID}"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    let canonical = Schematic::parse(HCLOUD_YAML, "t")
        .expect("parse")
        .canonical_yaml()
        .expect("yaml");
    assert_eq!(response.text().await.expect("body"), canonical);
    let (status, _) = status_and_body(
        &http,
        reqwest::Method::GET,
        format!("{base}/schematics/{}", "ab".repeat(32)),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = status_and_body(&http, reqwest::Method::GET, format!("{base}/schematics/nothex")).await;
    assert_eq!(status, 400);

    // Images: each wrong part gives the reference's status.
    let image = |schematic: &str, version: &str, file: &str| format!("{base}/image/{schematic}/{version}/{file}");
    let cases = [
        (
            image(&"ab".repeat(32), "v1.11.6", "hcloud-amd64.raw.zst"),
            404,
            "schematic not found",
        ),
        (
            image("xyz", "v1.11.6", "hcloud-amd64.raw.zst"),
            400,
            "invalid schematic",
        ),
        (image(HCLOUD_ID, "v9.9.9", "hcloud-amd64.raw.zst"), 404, "v9.9.9"),
        (
            image(HCLOUD_ID, "v1.11.6", "hcloud-riscv64.raw.xz"),
            400,
            "architecture",
        ),
        (image(HCLOUD_ID, "v1.11.6", "nonsense"), 400, "invalid path"),
        (image(HCLOUD_ID, "v1.11.6", "metal-amd64.raw.zst"), 404, "emulated"),
    ];
    for (url, want, text) in cases {
        let (status, body) = status_and_body(&http, reqwest::Method::GET, url.clone()).await;
        assert_eq!(status, want, "{url}: {body}");
        assert!(body.contains(text), "{url}: {body}");
    }
    // An extension the version lacks fails the image request, not the POST.
    let (status, body) = push(
        &http,
        &factory,
        "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/cni-plugins\n",
    )
    .await;
    assert_eq!(status, 201);
    let cni: serde_json::Value = serde_json::from_str(&body).expect("json");
    let cni = cni["id"].as_str().expect("id").to_string();
    let (status, _) = status_and_body(
        &http,
        reqwest::Method::HEAD,
        image(&cni, "v1.11.6", "hcloud-amd64.raw.zst"),
    )
    .await;
    assert_eq!(status, 200, "cni-plugins ships with 1.11");
    let (status, body) = status_and_body(
        &http,
        reqwest::Method::GET,
        image(&cni, "v1.12.0", "hcloud-amd64.raw.zst"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "official extension \"siderolabs/cni-plugins\" is not available for Talos version v1.12.0\n"
    );

    // HEAD: Content-Length and type, no body; then ranges on GET.
    for (file, mime) in [
        ("hcloud-arm64.raw.zst", "application/zstd"),
        ("hcloud-arm64.raw.xz", "application/x-xz"),
    ] {
        let head = http.head(image(HCLOUD_ID, "v1.11.6", file)).send().await.expect("head");
        assert_eq!(head.status().as_u16(), 200);
        assert_eq!(head.headers()["content-type"], mime);
        assert_eq!(head.headers()["accept-ranges"], "bytes");
        let len: u64 = head.headers()["content-length"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("number");
        let full = http
            .get(image(HCLOUD_ID, "v1.11.6", file))
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        assert_eq!(full.len() as u64, len);
        let part = http
            .get(image(HCLOUD_ID, "v1.11.6", file))
            .header("range", "bytes=10-19")
            .send()
            .await
            .expect("get");
        assert_eq!(part.status().as_u16(), 206);
        assert_eq!(part.headers()["content-range"], format!("bytes 10-19/{len}").as_str());
        assert_eq!(&part.bytes().await.expect("body")[..], &full[10..20]);
        let tail = http
            .get(image(HCLOUD_ID, "v1.11.6", file))
            .header("range", format!("bytes={}-", len - 5))
            .send()
            .await
            .expect("get");
        assert_eq!(&tail.bytes().await.expect("body")[..], &full[full.len() - 5..]);
        let bad = http
            .get(image(HCLOUD_ID, "v1.11.6", file))
            .header("range", format!("bytes={len}-"))
            .send()
            .await
            .expect("get");
        assert_eq!(bad.status().as_u16(), 416);
        assert_eq!(bad.headers()["content-range"], format!("bytes */{len}").as_str());
    }
    // The request log records what was asked and answered.
    let requests = factory.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "HEAD" && r.status == 200 && r.path.ends_with("hcloud-arm64.raw.xz"))
    );
    assert!(
        requests
            .iter()
            .any(|r| r.range.as_deref() == Some("bytes=10-19") && r.status == 206)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulated_factory_images_are_deterministic_and_inspectable() {
    let factory = start(6 * MIB).await;
    let http = reqwest::Client::new();
    assert_eq!(push(&http, &factory, HCLOUD_YAML).await.0, 201);
    let spec = factory.image_spec(HCLOUD_ID, "v1.11.6", Architecture::Arm64);
    let expected = generated(&spec);
    assert_eq!(
        Sha256::digest(&expected),
        Sha256::digest(generated(&spec)),
        "two generations are equal"
    );
    for ext in ["zst", "xz"] {
        let url = format!("{}/image/{HCLOUD_ID}/v1.11.6/hcloud-arm64.raw.{ext}", factory.url());
        let compressed = http.get(url).send().await.expect("get").bytes().await.expect("body");
        let raw = match ext {
            "zst" => zstd::decode_all(&compressed[..]).expect("zstd"),
            _ => {
                let mut out = Vec::new();
                liblzma::read::XzDecoder::new(&compressed[..])
                    .read_to_end(&mut out)
                    .expect("xz");
                out
            }
        };
        assert!(raw == expected, "{ext}: served bytes differ from the generator's");
        // Compresses like a real image: far from trivially, far from not at all.
        let ratio = compressed.len() as f64 / raw.len() as f64;
        assert!((0.1..0.3).contains(&ratio), "{ext}: compression ratio {ratio}");
        let info = inspect(&mut Cursor::new(&raw)).expect("io").expect("a synthetic image");
        assert_eq!(
            info,
            ImageInfo {
                schematic: HCLOUD_ID.into(),
                version: "v1.11.6".into(),
                arch: Architecture::Arm64,
                raw_size: 6 * MIB
            }
        );
    }
    // Another architecture is another image.
    let amd = generated(&factory.image_spec(HCLOUD_ID, "v1.11.6", Architecture::Amd64));
    assert_eq!(
        inspect(&mut Cursor::new(&amd)).expect("io").map(|i| i.arch),
        Some(Architecture::Amd64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_to_a_sparse_file_is_byte_identical_and_sparse() {
    let size = 16 * MIB;
    let factory = start(size).await;
    let http = reqwest::Client::new();
    assert_eq!(push(&http, &factory, HCLOUD_YAML).await.0, 201);
    let client = FactoryClient::new(&factory.url()).expect("client");
    let id: SchematicId = HCLOUD_ID.parse().expect("id");
    let spec = factory.image_spec(HCLOUD_ID, "v1.11.6", Architecture::Amd64);
    let expected = generated(&spec);
    let dir = tempfile::tempdir().expect("tempdir");
    for compression in [Compression::Zstd, Compression::Xz] {
        let path = dir.path().join(format!("disk.{}", compression.extension()));
        let file = std::fs::File::create(&path).expect("create");
        let url = client
            .image_url(&id, "v1.11.6", Architecture::Amd64, compression)
            .expect("url");
        let (digest, _sink) = image_stream::download_to(
            &client,
            url,
            fast_options(compression),
            Arc::new(NoProgress),
            SparseFile::new(file),
        )
        .await
        .expect("download");
        assert_eq!(digest.raw_bytes, size);
        assert_eq!(digest.raw_sha256, hex::encode(Sha256::digest(&expected)));
        let written = std::fs::read(&path).expect("read back");
        assert!(written == expected, "{compression}: written bytes differ");
        let allocated = std::fs::metadata(&path).expect("stat").blocks() * 512;
        let nonzero = spec.nonzero_bytes();
        assert!(nonzero < size / 3, "the image is mostly zeros ({nonzero})");
        assert!(
            allocated <= nonzero + nonzero / 20 + 64 * 1024,
            "{compression}: {allocated} bytes allocated for {nonzero} non-zero bytes"
        );
    }
    // Any blocking writer (what `--via local` hands an SSH channel to) gets every byte.
    let url = client
        .image_url(&id, "v1.11.6", Architecture::Amd64, Compression::Zstd)
        .expect("url");
    let (digest, sink) = image_stream::download_to(
        &client,
        url,
        fast_options(Compression::Zstd),
        Arc::new(NoProgress),
        WriteSink(Vec::new()),
    )
    .await
    .expect("download");
    assert_eq!(digest.raw_bytes, size);
    assert!(sink.0 == expected, "the writer received other bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulated_factory_faults_are_survived_or_caught() {
    let factory = start(8 * MIB).await;
    let http = reqwest::Client::new();
    assert_eq!(push(&http, &factory, HCLOUD_YAML).await.0, 201);
    let client = FactoryClient::new(&factory.url()).expect("client");
    let id: SchematicId = HCLOUD_ID.parse().expect("id");
    let url = client
        .image_url(&id, "v1.11.6", Architecture::Amd64, Compression::Zstd)
        .expect("url");
    let expected = hex::encode(Sha256::digest(generated(&factory.image_spec(
        HCLOUD_ID,
        "v1.11.6",
        Architecture::Amd64,
    ))));
    let download = || {
        image_stream::digest(
            &client,
            url.clone(),
            fast_options(Compression::Zstd),
            Arc::new(NoProgress),
        )
    };

    // Two 503s, then a body dropped after 100 000 bytes: retried and resumed, same digest.
    factory.set_faults(FactoryFaults {
        errors: 2,
        error_status: 503,
        drops: 1,
        drop_after: 100_000,
        ..FactoryFaults::default()
    });
    let digest = download().await.expect("survives 5xx and a drop");
    assert_eq!(digest.raw_sha256, expected);
    let statuses: Vec<(u16, Option<String>)> = factory
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| (r.status, r.range.clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (503, None),
            (503, None),
            (200, None),
            (206, Some("bytes=100000-".to_string()))
        ],
        "{statuses:?}"
    );

    // A corrupted byte is caught by the decoder (zstd checksums), never a clean digest.
    factory.set_faults(FactoryFaults {
        corruptions: 1,
        corrupt_offset: 50_000,
        ..FactoryFaults::default()
    });
    let err = download().await.expect_err("corruption is detected");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");

    // Slow: 4 MiB/s is visible in the elapsed time of a ~1 MiB body.
    factory.set_faults(FactoryFaults {
        slow_bytes_per_second: Some(4 * MIB),
        ..FactoryFaults::default()
    });
    let started = std::time::Instant::now();
    let digest = download().await.expect("slow but complete");
    assert_eq!(digest.raw_sha256, expected);
    let floor = Duration::from_secs_f64(digest.compressed_bytes as f64 / (4 * MIB) as f64 * 0.8);
    assert!(started.elapsed() >= floor, "{:?} < {floor:?}", started.elapsed());

    // A permanent 500 is reported with its status.
    factory.set_faults(FactoryFaults {
        errors: 100,
        error_status: 500,
        ..FactoryFaults::default()
    });
    let err = download().await.expect_err("5xx forever");
    assert!(format!("{err:?}").contains("500"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factory_controls_over_http_need_the_emulators_token() {
    let api = crate::sim_common::Api::start_with(talos_hcloud::sim::SimConfig {
        factory: FactoryConfig {
            image_size: 4 * MIB,
            ..FactoryConfig::default()
        },
        ..talos_hcloud::sim::SimConfig::default()
    })
    .await;
    let base = api.sim.factory_url();
    let controls = format!("{base}/__sim/factory");
    let http = reqwest::Client::new();
    let control = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{controls}{path}"))
            .bearer_auth(api.sim.token())
    };

    // Without the token (or with another one): 401, and nothing changes.
    for request in [
        http.get(format!("{controls}/faults")),
        http.put(format!("{controls}/faults")).bearer_auth("not-the-token"),
    ] {
        let response = request.send().await.expect("request");
        assert_eq!(response.status().as_u16(), 401);
        assert_eq!(response.text().await.expect("body"), "unable to authenticate\n");
    }
    let faults: serde_json::Value = json_of(control(reqwest::Method::GET, "/faults")).await;
    assert_eq!(faults, serde_json::to_value(FactoryFaults::default()).expect("json"));

    // Faults: one 502 on any route, then normal answers; an unknown field is refused.
    let response = control(reqwest::Method::PUT, "/faults")
        .json(&serde_json::json!({"errors": 1, "error_status": 502}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(api.sim.factory().faults().errors, 1);
    let (status, body) = status_and_body(&http, reqwest::Method::GET, format!("{base}/versions")).await;
    assert_eq!(status, 502);
    assert_eq!(body.lines().next(), Some("injected failure 502"));
    let (status, _) = status_and_body(&http, reqwest::Method::GET, format!("{base}/versions")).await;
    assert_eq!(status, 200);
    let response = control(reqwest::Method::PUT, "/faults")
        .json(&serde_json::json!({"errorz": 1}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().await.expect("body").contains("errorz"));

    // Files: the body is served at the path, with ranges, until it is removed.
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let response = control(reqwest::Method::PUT, "/files/custom/disk.raw.zst")
        .body(bytes.clone())
        .send()
        .await
        .expect("put file");
    assert_eq!(response.status().as_u16(), 200);
    let answer: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        answer,
        serde_json::json!({"path": "/custom/disk.raw.zst", "bytes": 100_000})
    );
    let response = http
        .get(format!("{base}/custom/disk.raw.zst"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.headers()["content-type"], "application/zstd");
    assert!(response.bytes().await.expect("body")[..] == bytes[..]);
    let part = http
        .get(format!("{base}/custom/disk.raw.zst"))
        .header("range", "bytes=99990-")
        .send()
        .await
        .expect("get");
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(&part.bytes().await.expect("body")[..], &bytes[99_990..]);
    let removed: serde_json::Value = json_of(control(reqwest::Method::DELETE, "/files/custom/disk.raw.zst")).await;
    assert_eq!(removed["removed"], true);
    let (status, _) = status_and_body(&http, reqwest::Method::GET, format!("{base}/custom/disk.raw.zst")).await;
    assert_eq!(status, 404);

    // The request log holds every public request (no control) and can be cleared.
    let log: Vec<serde_json::Value> = json_of(control(reqwest::Method::GET, "/requests")).await;
    let seen: Vec<(String, u64)> = log
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap_or_default().to_string(),
                r["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let custom = "/custom/disk.raw.zst".to_string();
    assert_eq!(
        seen,
        [
            ("/versions".to_string(), 502),
            ("/versions".to_string(), 200),
            (custom.clone(), 200),
            (custom.clone(), 206),
            (custom, 404)
        ]
    );
    control(reqwest::Method::DELETE, "/requests")
        .send()
        .await
        .expect("clear");
    assert!(api.sim.factory().requests().is_empty());
}
