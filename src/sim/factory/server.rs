//! The emulated Image Factory's HTTP server on a loopback listener: [`Factory::start`], the
//! state its routes share, and the front every request passes (request log, injected
//! errors and redirects, files put by a control).
//!
//! The public routes are in [`super::api`], the test controls under `/__sim/factory/` in
//! [`super::controls`]; images are built and cached by [`super::assets`] and sent by
//! [`super::serve`]. Memory stays flat whatever the image size: the compressed bytes
//! (about 20 % of the raw size) live in the cache directory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::assets::{AssetCell, AssetKey, file_key, file_location, publish_file};
use super::disk_image::{self, DEFAULT_RAW_SIZE, ImageSpec};
use super::faults::FactoryFaults;
use super::serve::{Served, serve};
use super::{api, catalogue, controls};
use crate::redact::Redacted;
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
    /// The Talos versions offered, ascending (default: [`catalogue::default_versions`]).
    pub versions: Vec<String>,
    /// Where compressed images are cached; `None` uses a temporary directory removed when
    /// the factory stops.
    pub cache_dir: Option<PathBuf>,
    /// Faults injected from the start.
    pub faults: FactoryFaults,
    /// The bearer token the controls under `/__sim/factory/` require; `None` leaves them
    /// open (a factory started alone for a test). `talos-hcloud sim` uses its API token.
    pub control_token: Option<Redacted<String>>,
}

impl Default for FactoryConfig {
    /// 127.0.0.1:0, 1246 MiB images, seed 0, the default versions, a temporary cache, no
    /// faults, open controls.
    fn default() -> Self {
        FactoryConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            image_size: DEFAULT_RAW_SIZE,
            seed: 0,
            versions: catalogue::default_versions(),
            cache_dir: None,
            faults: FactoryFaults::default(),
            control_token: None,
        }
    }
}

/// One request as the factory saw it (controls excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactoryRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
    /// The body of a `POST /schematics` as received (UTF-8, lossy): what the client pushed.
    pub body: Option<String>,
}

/// Why the factory could not start or a file could not be put.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener could not be bound.
    #[error(transparent)]
    Bind(#[from] crate::sim::listen::BindError),
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
    /// A file to serve could not be stored.
    #[error("cannot store the file served at {path}")]
    File {
        /// The request path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

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

/// What the routes share.
pub(super) struct Shared {
    image_size: u64,
    seed: u64,
    /// The Talos versions offered.
    pub versions: Vec<String>,
    /// Where images and put files are kept.
    pub cache_dir: PathBuf,
    /// Pushed schematics by ID.
    pub schematics: Mutex<HashMap<String, StoredSchematic>>,
    /// Images, built on first request.
    pub assets: Mutex<HashMap<AssetKey, Arc<AssetCell>>>,
    /// Files put at a path by a control, served instead of what the path would answer.
    pub files: Mutex<HashMap<String, Served>>,
    /// The faults to inject.
    pub faults: Mutex<FactoryFaults>,
    /// The request log.
    pub requests: Mutex<Vec<FactoryRequest>>,
    /// The controls' bearer token.
    pub control_token: Option<Redacted<String>>,
}

/// A pushed schematic.
#[derive(Clone)]
pub(super) struct StoredSchematic {
    /// Its canonical YAML, as `GET /schematics/{id}` answers.
    pub canonical: String,
    /// Its official extensions.
    pub extensions: Vec<String>,
}

impl Shared {
    /// The spec of the raw image served for an asset.
    pub fn image_spec(&self, schematic: &str, version: &str, arch: Architecture) -> ImageSpec {
        ImageSpec {
            schematic: schematic.to_string(),
            version: version.to_string(),
            arch,
            raw_size: self.image_size,
            seed: self.seed,
        }
    }

    /// Stops serving the file put at `path`; whether there was one.
    pub fn remove_file(&self, path: &str) -> bool {
        lock(&self.files).remove(&file_key(path)).is_some()
    }
}

/// Requests kept for [`Factory::requests`] (the oldest are dropped beyond this).
const MAX_RECORDED: usize = 10_000;
/// Largest schematic body accepted.
const MAX_SCHEMATIC_BODY: usize = 1024 * 1024;
/// The prefix of the test controls.
pub(super) const CONTROLS: &str = "/__sim/factory";

pub(super) use crate::lock::lock;

/// A plain-text answer, as the real factory gives for errors.
pub(super) fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut body = message.into();
    body.push('\n');
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
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
            files: Mutex::default(),
            faults: Mutex::new(config.faults),
            requests: Mutex::default(),
            control_token: config.control_token,
        });
        let (listener, addr) = crate::sim::listen::bind(config.listen).await?;
        let app = api::routes()
            .layer(DefaultBodyLimit::max(MAX_SCHEMATIC_BODY))
            .merge(controls::routes(state.clone()))
            .layer(axum::middleware::from_fn_with_state(state.clone(), front))
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

    /// The faults still to inject.
    pub fn faults(&self) -> FactoryFaults {
        lock(&self.state.faults).clone()
    }

    /// The requests served so far (controls excluded), oldest first.
    pub fn requests(&self) -> Vec<FactoryRequest> {
        lock(&self.state.requests).clone()
    }

    /// Forgets the requests served so far.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// Serves `bytes` at `path` (e.g. `/image/{schematic}/{version}/hcloud-amd64.raw.zst`)
    /// from now on, to `HEAD` and `GET`, with ranges and the image faults, instead of what
    /// the factory would answer there: a custom or broken image for a rehearsal or a test.
    ///
    /// # Errors
    /// [`Error::File`] when the bytes cannot be stored in the cache directory.
    pub fn serve_file(&self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        let key = file_key(path);
        let (partial, location) = file_location(&self.state, &key);
        let stored = location
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&partial, bytes))
            .and_then(|()| publish_file(&self.state, &key, &partial, &location));
        stored.map_err(|source| Error::File { path: key, source })
    }

    /// Stops serving a file put with [`Factory::serve_file`]; whether there was one.
    pub fn remove_file(&self, path: &str) -> bool {
        self.state.remove_file(path)
    }

    /// The spec of the raw image served for an asset, to regenerate or compare its bytes.
    pub fn image_spec(&self, schematic: &str, version: &str, arch: Architecture) -> ImageSpec {
        self.state.image_spec(schematic, version, arch)
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

/// The body of a `POST /schematics`, handed from the route to the request log.
#[derive(Clone)]
pub(super) struct PostedBody(pub String);

/// Every request but a control's: injected errors and redirects first, then a file put at
/// its path, then the routes; the answer is recorded.
async fn front(State(state): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with(CONTROLS) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut response = answer(&state, request, next).await;
    let body = response.extensions_mut().remove::<PostedBody>().map(|b| b.0);
    let mut requests = lock(&state.requests);
    if requests.len() >= MAX_RECORDED {
        requests.remove(0);
    }
    requests.push(FactoryRequest {
        method: method.to_string(),
        path,
        range,
        status: response.status().as_u16(),
        body,
    });
    response
}

async fn answer(state: &Arc<Shared>, request: Request, next: Next) -> Response {
    let read = request.method() == Method::GET || request.method() == Method::HEAD;
    let (error, redirect) = {
        let mut faults = lock(&state.faults);
        let error = faults.take_error();
        (error, error.is_none() && read && faults.take_redirect())
    };
    if let Some(status) = error {
        return text(
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            format!("injected failure {status}\n(a fault of the emulated factory: {CONTROLS}/faults)"),
        );
    }
    if redirect {
        let location = request.uri().to_string();
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    let file = read
        .then(|| lock(&state.files).get(request.uri().path()).cloned())
        .flatten();
    match file {
        Some(file) => serve(&file, request.method(), request.headers(), &state.faults).await,
        None => next.run(request).await,
    }
}
