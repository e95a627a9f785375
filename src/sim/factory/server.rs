//! The emulated Image Factory's HTTP server: schematics, versions, official extensions
//! and synthetic hcloud disk images, on a loopback listener.
//!
//! Images are built on first request, as the real factory does: the raw disk of
//! [`super::disk_image`] is compressed (zstd level 3, or xz preset 1) on a blocking thread
//! straight into a cache file, and every later `HEAD`/`GET` of that asset is served from
//! the file with `Content-Length` and byte ranges. A `HEAD` blocks until the asset is
//! built, which is what makes it a pre-warm. Memory stays flat whatever the image size;
//! the compressed bytes (about 20 % of the raw size) live in the cache directory.
//!
//! Answers follow the public factory (reference `image-factory.md`): plain-text errors,
//! `400` for an invalid schematic body, ID, architecture or file name and for an official
//! extension the version lacks, `404` for an unknown schematic, version or artifact.
//! Artefacts other than `hcloud-{amd64,arm64}.raw.{xz,zst}` are `404` with a body that
//! says the emulator does not build them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures::StreamExt;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::disk_image::{self, DEFAULT_RAW_SIZE, ImageSpec};
use crate::factory::{Compression, Schematic};
use crate::spec::Architecture;

/// How to start an emulated factory.
#[derive(Debug, Clone)]
pub struct FactoryConfig {
    /// Where to listen (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Raw size of every image (see [`ImageSpec::raw_size`]); default 1246 MiB.
    pub image_size: u64,
    /// Seed of the images' noise.
    pub seed: u64,
    /// The Talos versions offered, ascending (default: [`default_versions`]).
    pub versions: Vec<String>,
    /// Where compressed images are cached; `None` uses a temporary directory removed when
    /// the factory stops.
    pub cache_dir: Option<PathBuf>,
    /// Faults injected into image responses.
    pub faults: FactoryFaults,
}

impl Default for FactoryConfig {
    /// 127.0.0.1:0, 1246 MiB images, seed 0, the default versions, a temporary cache, no
    /// faults.
    fn default() -> Self {
        FactoryConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            image_size: DEFAULT_RAW_SIZE,
            seed: 0,
            versions: default_versions(),
            cache_dir: None,
            faults: FactoryFaults::default(),
        }
    }
}

/// Faults for `GET`/`HEAD /image/…`, each applied to the next N image responses (counts
/// go down as they are used; `slow` applies to every response while set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactoryFaults {
    /// Answer this many image requests with [`FactoryFaults::error_status`].
    pub errors: u32,
    /// The status of injected errors (default 503 when 0).
    pub error_status: u16,
    /// Abort this many `GET` bodies after [`FactoryFaults::drop_after`] bytes.
    pub drops: u32,
    /// Body bytes sent before an injected drop.
    pub drop_after: u64,
    /// Flip one byte in this many `GET` bodies, at [`FactoryFaults::corrupt_offset`].
    pub corruptions: u32,
    /// Offset in the compressed asset of the flipped byte (clamped to the asset).
    pub corrupt_offset: u64,
    /// Send image bodies at most this fast (bytes per second).
    pub slow_bytes_per_second: Option<u64>,
}

/// One request as the factory saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// Why the factory could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The cache directory could not be created.
    #[error("cannot create the image cache directory {path}")]
    Cache {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The image size is not one the generator accepts.
    #[error("invalid image size")]
    ImageSize(#[source] disk_image::SpecError),
}

/// The Talos versions the emulated factory offers by default: stable releases of the
/// minors talos-hcloud supports and pre-releases of the next one (an illustrative list in
/// the real factory's format and order).
pub fn default_versions() -> Vec<String> {
    let mut versions = Vec::new();
    for (minor, last_patch) in [(10, 8), (11, 6), (12, 6), (13, 9)] {
        versions.extend((0..=last_patch).map(|patch| format!("v1.{minor}.{patch}")));
    }
    versions.extend(["v1.14.0-alpha.0", "v1.14.0-beta.0", "v1.14.0-rc.0", "v1.14.0-rc.1"].map(String::from));
    versions
}

/// An official extension of the catalogue: name, image tag, and the Talos minors (`1.x`)
/// that ship it.
struct CatalogueEntry {
    name: &'static str,
    tag: &'static str,
    description: &'static str,
    minors: std::ops::RangeInclusive<u32>,
}

const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        name: "siderolabs/amd-ucode",
        tag: "20250708",
        description: "AMD microcode binaries",
        minors: 0..=99,
    },
    CatalogueEntry {
        name: "siderolabs/intel-ucode",
        tag: "20250512",
        description: "Intel microcode binaries",
        minors: 0..=99,
    },
    CatalogueEntry {
        name: "siderolabs/iscsi-tools",
        tag: "v0.2.0",
        description: "iSCSI tools and daemon",
        minors: 0..=99,
    },
    CatalogueEntry {
        name: "siderolabs/qemu-guest-agent",
        tag: "10.0.2",
        description: "QEMU guest agent",
        minors: 0..=99,
    },
    CatalogueEntry {
        name: "siderolabs/tailscale",
        tag: "1.86.2",
        description: "Tailscale VPN",
        minors: 0..=99,
    },
    CatalogueEntry {
        name: "siderolabs/util-linux-tools",
        tag: "2.41.1",
        description: "util-linux tools",
        minors: 0..=99,
    },
    CatalogueEntry {
        name: "siderolabs/cni-plugins",
        tag: "v1.7.1",
        description: "CNI plugins",
        minors: 0..=11,
    },
    CatalogueEntry {
        name: "siderolabs/harbor-credential-provider",
        tag: "v0.1.0",
        description: "Harbor credential provider",
        minors: 14..=99,
    },
];

/// A running emulated Image Factory.
pub struct Factory {
    addr: SocketAddr,
    state: Arc<Shared>,
    cancel: CancellationToken,
    _cache: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Factory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factory")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    image_size: u64,
    seed: u64,
    versions: Vec<String>,
    cache_dir: PathBuf,
    schematics: Mutex<HashMap<String, StoredSchematic>>,
    assets: Mutex<HashMap<AssetKey, Arc<AssetCell>>>,
    faults: Mutex<FactoryFaults>,
    requests: Mutex<Vec<FactoryRequest>>,
}

#[derive(Clone)]
struct StoredSchematic {
    canonical: String,
    extensions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AssetKey {
    schematic: String,
    version: String,
    arch: Architecture,
    compression: Compression,
}

/// An asset built once (or the reason its build failed).
type AssetCell = OnceCell<Result<Asset, String>>;

#[derive(Debug, Clone)]
struct Asset {
    path: PathBuf,
    len: u64,
}

/// Requests kept for [`Factory::requests`] (the oldest are dropped beyond this).
const MAX_RECORDED: usize = 10_000;
/// Largest schematic body accepted.
const MAX_SCHEMATIC_BODY: usize = 1024 * 1024;
/// Chunk size of image bodies.
const BODY_CHUNK: usize = 256 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Factory {
    /// Binds the listener and serves until [`Factory::shutdown`] or drop. Must be called
    /// within a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Bind`], [`Error::Cache`], [`Error::ImageSize`].
    pub async fn start(config: FactoryConfig) -> Result<Factory, Error> {
        let probe = ImageSpec {
            schematic: "0".repeat(64),
            version: "v1.0.0".into(),
            arch: Architecture::Amd64,
            raw_size: config.image_size,
            seed: 0,
        };
        probe.validate().map_err(Error::ImageSize)?;
        let (cache_dir, temp) = match &config.cache_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Cache {
                    path: dir.display().to_string(),
                    source,
                })?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("talos-hcloud-factory-")
                    .tempdir()
                    .map_err(|source| Error::Cache {
                        path: std::env::temp_dir().display().to_string(),
                        source,
                    })?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let state = Arc::new(Shared {
            image_size: config.image_size,
            seed: config.seed,
            versions: config.versions,
            cache_dir,
            schematics: Mutex::default(),
            assets: Mutex::default(),
            faults: Mutex::new(config.faults),
            requests: Mutex::default(),
        });
        let bind_error = |source| Error::Bind {
            addr: config.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let app = Router::new()
            .route("/schematics", post(create_schematic))
            .route("/schematics/{id}", get(find_schematic))
            .route("/versions", get(versions))
            .route("/version/{version}/extensions/official", get(extensions))
            .route("/image/{schematic}/{version}/{file}", any(image))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(MAX_SCHEMATIC_BODY))
            .with_state(state.clone());
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Ok(Factory {
            addr,
            state,
            cancel,
            _cache: temp,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (what `TALOS_FACTORY_URL` is set to).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: FactoryFaults) {
        *lock(&self.state.faults) = faults;
    }

    /// The requests served so far, oldest first.
    pub fn requests(&self) -> Vec<FactoryRequest> {
        lock(&self.state.requests).clone()
    }

    /// The spec of the raw image served for an asset, to regenerate or compare its bytes.
    pub fn image_spec(&self, schematic: &str, version: &str, arch: Architecture) -> ImageSpec {
        image_spec(&self.state, schematic, version, arch)
    }

    /// Stops accepting connections (responses in flight end).
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl Drop for Factory {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn image_spec(state: &Shared, schematic: &str, version: &str, arch: Architecture) -> ImageSpec {
    ImageSpec {
        schematic: schematic.to_string(),
        version: version.to_string(),
        arch,
        raw_size: state.image_size,
        seed: state.seed,
    }
}

type St = State<Arc<Shared>>;

fn record(state: &Shared, method: &Method, path: &str, headers: &HeaderMap, status: StatusCode) {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut requests = lock(&state.requests);
    if requests.len() >= MAX_RECORDED {
        requests.remove(0);
    }
    requests.push(FactoryRequest {
        method: method.to_string(),
        path: path.to_string(),
        range,
        status: status.as_u16(),
    });
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut body = message.into();
    body.push('\n');
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri, State(state): St, headers: HeaderMap) -> Response {
    record(&state, &method, uri.path(), &headers, StatusCode::NOT_FOUND);
    text(StatusCode::NOT_FOUND, "404 page not found")
}

async fn create_schematic(State(state): St, headers: HeaderMap, body: Bytes) -> Response {
    let response = match std::str::from_utf8(&body) {
        Err(_) => text(
            StatusCode::BAD_REQUEST,
            "error parsing schematic: the body is not UTF-8",
        ),
        Ok(body) => match Schematic::parse(body, "schematic").and_then(|s| Ok((s.canonical_yaml()?, s.id()?, s))) {
            Err(e) => text(StatusCode::BAD_REQUEST, format!("error parsing schematic: {e}")),
            Ok((canonical, id, schematic)) => {
                let stored = StoredSchematic {
                    canonical,
                    extensions: schematic.official_extensions().to_vec(),
                };
                lock(&state.schematics).insert(id.as_str().to_string(), stored);
                (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json")],
                    serde_json::json!({ "id": id.as_str() }).to_string(),
                )
                    .into_response()
            }
        },
    };
    record(&state, &Method::POST, "/schematics", &headers, response.status());
    response
}

fn valid_schematic_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn find_schematic(State(state): St, headers: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    let response = if !valid_schematic_id(&id) {
        text(StatusCode::BAD_REQUEST, "invalid schematic ID")
    } else {
        match lock(&state.schematics).get(&id) {
            Some(stored) => ([(header::CONTENT_TYPE, "application/yaml")], stored.canonical.clone()).into_response(),
            None => text(StatusCode::NOT_FOUND, "schematic not found"),
        }
    };
    record(
        &state,
        &Method::GET,
        &format!("/schematics/{id}"),
        &headers,
        response.status(),
    );
    response
}

async fn versions(State(state): St, headers: HeaderMap) -> Response {
    record(&state, &Method::GET, "/versions", &headers, StatusCode::OK);
    axum::Json(state.versions.clone()).into_response()
}

/// The version with its `v` if the factory offers it.
fn known_version(state: &Shared, version: &str) -> Option<String> {
    let with_v = if version.starts_with('v') {
        version.to_string()
    } else {
        format!("v{version}")
    };
    state.versions.contains(&with_v).then_some(with_v)
}

/// The catalogue of official extensions for a version (`v1.MINOR.…`).
fn catalogue(version: &str) -> Vec<&'static CatalogueEntry> {
    let minor = version
        .strip_prefix("v1.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    CATALOGUE.iter().filter(|e| e.minors.contains(&minor)).collect()
}

async fn extensions(State(state): St, headers: HeaderMap, UrlPath(version): UrlPath<String>) -> Response {
    let path = format!("/version/{version}/extensions/official");
    let response = match known_version(&state, &version) {
        None => text(StatusCode::NOT_FOUND, format!("version {version} not found")),
        Some(version) => {
            let list: Vec<serde_json::Value> = catalogue(&version)
                .into_iter()
                .map(|e| {
                    let digest = hex::encode(sha2::Sha256::digest(format!("{}:{}", e.name, e.tag)));
                    serde_json::json!({
                        "name": e.name,
                        "ref": format!("ghcr.io/{}:{}", e.name, e.tag),
                        "digest": format!("sha256:{digest}"),
                        "author": "Sidero Labs",
                        "description": e.description,
                    })
                })
                .collect();
            axum::Json(list).into_response()
        }
    };
    record(&state, &Method::GET, &path, &headers, response.status());
    response
}

use sha2::Digest as _;

/// `hcloud-{arch}.raw.{xz|zst}` → (arch, compression); `Err` is the answer.
fn parse_file(file: &str) -> Result<(Architecture, Compression), (StatusCode, String)> {
    let (stem, compression) = if let Some(stem) = file.strip_suffix(".raw.zst") {
        (stem, Some(Compression::Zstd))
    } else if let Some(stem) = file.strip_suffix(".raw.xz") {
        (stem, Some(Compression::Xz))
    } else {
        (file, None)
    };
    // The real factory's grammar: <platform>-<arch>.<format>[.<compression>].
    let name = stem.split('.').next().unwrap_or(stem);
    let Some((platform, arch)) = name.rsplit_once('-') else {
        return Err((StatusCode::BAD_REQUEST, format!("invalid path: {file}")));
    };
    let arch = match arch {
        "amd64" => Architecture::Amd64,
        "arm64" => Architecture::Arm64,
        other => return Err((StatusCode::BAD_REQUEST, format!("invalid architecture {other:?}"))),
    };
    match (platform, compression) {
        ("hcloud", Some(compression)) if !stem.contains('.') => Ok((arch, compression)),
        _ => Err((
            StatusCode::NOT_FOUND,
            format!(
                "artifact {file} is not built by the emulated Image Factory (only hcloud-{{amd64,arm64}}.raw.{{xz,zst}})"
            ),
        )),
    }
}

async fn image(
    State(state): St,
    method: Method,
    headers: HeaderMap,
    UrlPath((schematic, version, file)): UrlPath<(String, String, String)>,
) -> Response {
    let path = format!("/image/{schematic}/{version}/{file}");
    let response = image_response(&state, &method, &headers, &schematic, &version, &file).await;
    record(&state, &method, &path, &headers, response.status());
    response
}

async fn image_response(
    state: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    schematic: &str,
    version: &str,
    file: &str,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    if !valid_schematic_id(schematic) {
        return text(StatusCode::BAD_REQUEST, "invalid schematic ID");
    }
    let Some(stored) = lock(&state.schematics).get(schematic).cloned() else {
        return text(StatusCode::NOT_FOUND, "schematic not found");
    };
    let Some(version) = known_version(state, version) else {
        return text(StatusCode::NOT_FOUND, format!("version {version} not found"));
    };
    let (arch, compression) = match parse_file(file) {
        Ok(parsed) => parsed,
        Err((status, message)) => return text(status, message),
    };
    let available = catalogue(&version);
    if let Some(missing) = stored
        .extensions
        .iter()
        .find(|name| !available.iter().any(|e| e.name == name.as_str()))
    {
        return text(
            StatusCode::BAD_REQUEST,
            format!("official extension {missing:?} is not available for Talos version {version}"),
        );
    }
    // Faults: an injected status comes before any work.
    let fault = {
        let mut faults = lock(&state.faults);
        if faults.errors > 0 {
            faults.errors -= 1;
            let status = if faults.error_status == 0 {
                503
            } else {
                faults.error_status
            };
            return text(
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                format!("injected failure {status}"),
            );
        }
        let mut fault = BodyFault {
            slow: faults.slow_bytes_per_second,
            ..BodyFault::default()
        };
        if *method == Method::GET {
            if faults.drops > 0 {
                faults.drops -= 1;
                fault.drop_after = Some(faults.drop_after);
            }
            if faults.corruptions > 0 {
                faults.corruptions -= 1;
                fault.corrupt_at = Some(faults.corrupt_offset);
            }
        }
        fault
    };
    let key = AssetKey {
        schematic: schematic.to_string(),
        version: version.clone(),
        arch,
        compression,
    };
    let asset = match build(state, key).await {
        Ok(asset) => asset,
        Err(reason) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("error building image: {reason}"),
            );
        }
    };
    let fault = BodyFault {
        corrupt_at: fault.corrupt_at.map(|at| at.min(asset.len.saturating_sub(1))),
        ..fault
    };
    serve_asset(&asset, method, headers, compression, file, fault).await
}

/// Builds an asset once; concurrent requests wait for the same build.
async fn build(state: &Arc<Shared>, key: AssetKey) -> Result<Asset, String> {
    let cell = lock(&state.assets).entry(key.clone()).or_default().clone();
    let state = state.clone();
    cell.get_or_init(|| async move {
        let spec = image_spec(&state, &key.schematic, &key.version, key.arch);
        let name = format!(
            "{}-{}-{}.raw.{}",
            key.schematic,
            key.version,
            key.arch,
            key.compression.extension()
        );
        let path = state.cache_dir.join(name);
        let compression = key.compression;
        tokio::task::spawn_blocking(move || compress_to_file(&spec, compression, &path))
            .await
            .unwrap_or_else(|e| Err(format!("the build task failed: {e}")))
    })
    .await
    .clone()
}

/// Compresses the raw image of `spec` into `path` (through a temporary name).
fn compress_to_file(spec: &ImageSpec, compression: Compression, path: &Path) -> Result<Asset, String> {
    let mut raw = disk_image::raw_image(spec).map_err(|e| e.to_string())?;
    let partial = path.with_extension("partial");
    let file = std::fs::File::create(&partial).map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| format!("cannot write {}: {e}", partial.display());
    let out = match compression {
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(out, 3).map_err(io)?;
            // As the zstd CLI does: a corrupted byte fails the decoder instead of passing.
            encoder.include_checksum(true).map_err(io)?;
            std::io::copy(&mut raw, &mut encoder).map_err(io)?;
            encoder.finish().map_err(io)?
        }
        Compression::Xz => {
            let mut encoder = liblzma::write::XzEncoder::new(out, 1);
            std::io::copy(&mut raw, &mut encoder).map_err(io)?;
            encoder.finish().map_err(io)?
        }
    };
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    std::fs::rename(&partial, path).map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
    Ok(Asset {
        path: path.to_path_buf(),
        len,
    })
}

#[derive(Debug, Default, Clone, Copy)]
struct BodyFault {
    drop_after: Option<u64>,
    corrupt_at: Option<u64>,
    slow: Option<u64>,
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` against `len`: `Ok(None)` without a range,
/// `Err(())` when unsatisfiable or malformed.
fn parse_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let spec = value
        .to_str()
        .map_err(|_| ())?
        .trim()
        .strip_prefix("bytes=")
        .ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| ())?,
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1)),
        ),
    };
    if start >= len || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn serve_asset(
    asset: &Asset,
    method: &Method,
    headers: &HeaderMap,
    compression: Compression,
    file: &str,
    fault: BodyFault,
) -> Response {
    let len = asset.len;
    let content_type = match compression {
        Compression::Zstd => "application/zstd",
        Compression::Xz => "application/x-xz",
    };
    let range = match parse_range(headers, len) {
        Ok(range) => range,
        Err(()) => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::from("range not satisfiable\n"))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
    };
    let (status, start, end) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end),
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, count)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""));
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
    }
    if *method == Method::HEAD {
        return builder
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    let file = match tokio::fs::File::open(&asset.path).await {
        Ok(file) => file,
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot open the cached image: {e}"),
            );
        }
    };
    let body = body_stream(file, start, count, fault);
    builder
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The bytes `start..start+count` of the cached file, with faults applied.
fn body_stream(
    file: tokio::fs::File,
    start: u64,
    count: u64,
    fault: BodyFault,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    struct Cursor {
        file: tokio::fs::File,
        offset: u64,
        sent: u64,
        seeked: bool,
        done: bool,
    }
    let cursor = Cursor {
        file,
        offset: start,
        sent: 0,
        seeked: false,
        done: false,
    };
    futures::stream::unfold(cursor, move |mut c| async move {
        if c.done {
            return None;
        }
        if !c.seeked {
            c.seeked = true;
            if let Err(e) = c.file.seek(std::io::SeekFrom::Start(c.offset)).await {
                c.done = true;
                return Some((Err(e), c));
            }
        }
        let mut limit = count - c.sent;
        if let Some(drop_after) = fault.drop_after {
            if c.sent >= drop_after {
                c.done = true;
                // Let the bytes already sent leave before the connection is reset, so the
                // client sees exactly `drop_after` bytes (as after a real mid-stream drop).
                tokio::time::sleep(Duration::from_millis(50)).await;
                let e = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected drop");
                return Some((Err(e), c));
            }
            limit = limit.min(drop_after - c.sent);
        }
        if limit == 0 {
            return None;
        }
        let want = usize::try_from(limit).unwrap_or(BODY_CHUNK).min(BODY_CHUNK);
        let mut buf = vec![0u8; want];
        if let Err(e) = c.file.read_exact(&mut buf).await {
            c.done = true;
            return Some((Err(e), c));
        }
        if let Some(at) = fault.corrupt_at
            && at >= c.offset
            && at < c.offset + want as u64
        {
            let i = usize::try_from(at - c.offset).unwrap_or(0);
            buf[i] ^= 0xFF;
        }
        if let Some(rate) = fault.slow.filter(|r| *r > 0) {
            tokio::time::sleep(Duration::from_secs_f64(want as f64 / rate as f64)).await;
        }
        c.offset += want as u64;
        c.sent += want as u64;
        Some((Ok(Bytes::from(buf)), c))
    })
    .boxed()
}
