//! The public routes of the emulated Image Factory, answering as the real one does
//! (reference `image-factory.md`): `POST /schematics` (the ID computed as the factory
//! does), `GET /schematics/{id}`, `GET /versions`, `GET /version/{v}/extensions/official`
//! and `HEAD`/`GET /image/{schematic}/{version}/hcloud-{amd64,arm64}.raw.{xz,zst}`.
//!
//! Errors are plain text: `400` for an invalid schematic body, ID, architecture or file
//! name and for an official extension the version lacks, `404` for an unknown schematic,
//! version or artifact. Artefacts other than `hcloud-{amd64,arm64}.raw.{xz,zst}` are `404`
//! with a body that says the emulator does not build them.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use super::assets::{self, AssetKey};
use super::catalogue::{extension_names, extensions_json, known_version};
use super::server::{PostedBody, Shared, StoredSchematic, lock, text};
use crate::factory::{Compression, Schematic};
use crate::spec::Architecture;

type St = State<Arc<Shared>>;

/// The public routes.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/schematics", post(create_schematic))
        .route("/schematics/{id}", get(find_schematic))
        .route(
            "/versions",
            get(|State(state): St| async move { axum::Json(state.versions.clone()) }),
        )
        .route("/version/{version}/extensions/official", get(extensions))
        .route("/image/{schematic}/{version}/{file}", any(image))
        .fallback(|| async { text(StatusCode::NOT_FOUND, "404 page not found") })
}

async fn create_schematic(State(state): St, body: Bytes) -> Response {
    let mut response = match std::str::from_utf8(&body) {
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
                let forced = lock(&state.faults).schematic_id.clone();
                let id = forced.unwrap_or_else(|| id.as_str().to_string());
                lock(&state.schematics).insert(id.clone(), stored);
                (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json")],
                    serde_json::json!({ "id": id }).to_string(),
                )
                    .into_response()
            }
        },
    };
    response
        .extensions_mut()
        .insert(PostedBody(String::from_utf8_lossy(&body).into_owned()));
    response
}

fn valid_schematic_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn find_schematic(State(state): St, Path(id): Path<String>) -> Response {
    if !valid_schematic_id(&id) {
        return text(StatusCode::BAD_REQUEST, "invalid schematic ID");
    }
    match lock(&state.schematics).get(&id) {
        Some(stored) => ([(header::CONTENT_TYPE, "application/yaml")], stored.canonical.clone()).into_response(),
        None => text(StatusCode::NOT_FOUND, "schematic not found"),
    }
}

async fn extensions(State(state): St, Path(version): Path<String>) -> Response {
    match known_version(&state.versions, &version) {
        None => text(StatusCode::NOT_FOUND, format!("version {version} not found")),
        Some(version) => axum::Json(extensions_json(&version)).into_response(),
    }
}

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
    Path((schematic, version, file)): Path<(String, String, String)>,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    if !valid_schematic_id(&schematic) {
        return text(StatusCode::BAD_REQUEST, "invalid schematic ID");
    }
    let Some(stored) = lock(&state.schematics).get(&schematic).cloned() else {
        return text(StatusCode::NOT_FOUND, "schematic not found");
    };
    let Some(version) = known_version(&state.versions, &version) else {
        return text(StatusCode::NOT_FOUND, format!("version {version} not found"));
    };
    let (arch, compression) = match parse_file(&file) {
        Ok(parsed) => parsed,
        Err((status, message)) => return text(status, message),
    };
    if let Some(missing) = stored
        .extensions
        .iter()
        .find(|name| !extension_names(&version).any(|shipped| shipped == name.as_str()))
    {
        return text(
            StatusCode::BAD_REQUEST,
            format!("official extension {missing:?} is not available for Talos version {version}"),
        );
    }
    let key = AssetKey {
        schematic,
        version,
        arch,
        compression,
    };
    let served = match assets::build(&state, key, &file).await {
        Ok(served) => served,
        Err(reason) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("error building image: {reason}"),
            );
        }
    };
    super::serve::serve(&served, &method, &headers, &state.faults).await
}
