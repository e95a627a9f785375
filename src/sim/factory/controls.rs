//! The emulated factory's test controls under `/__sim/factory/` on its own port, for
//! rehearsals and tests driving a `talos-hcloud sim` in another process. They need the
//! bearer token when the factory has one ([`super::FactoryConfig::control_token`]), are
//! not in the request log and never get a fault.
//!
//! | route | does |
//! |---|---|
//! | `GET`/`DELETE /__sim/factory/requests` | read or clear the request log |
//! | `GET`/`PUT`/`DELETE /__sim/factory/faults` | read, replace (JSON [`FactoryFaults`]) or clear the faults |
//! | `PUT`/`DELETE /__sim/factory/files/{path}` | serve the body at `/{path}` from now on, or stop |

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use futures::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::assets::{file_key, file_location, publish_file};
use super::faults::FactoryFaults;
use super::server::{CONTROLS, Shared, lock, text};

type St = State<Arc<Shared>>;

/// The control routes, behind the token check.
pub(super) fn routes(state: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            &format!("{CONTROLS}/requests"),
            get(|State(state): St| async move { axum::Json(lock(&state.requests).clone()) }).delete(
                |State(state): St| async move {
                    lock(&state.requests).clear();
                    axum::Json(json!({"cleared": true}))
                },
            ),
        )
        .route(
            &format!("{CONTROLS}/faults"),
            get(|State(state): St| async move { axum::Json(lock(&state.faults).clone()) })
                .put(put_faults)
                .delete(|State(state): St| async move {
                    let cleared = FactoryFaults::default();
                    *lock(&state.faults) = cleared.clone();
                    axum::Json(cleared)
                }),
        )
        .route(
            &format!("{CONTROLS}/files/{{*path}}"),
            put(put_file).delete(|State(state): St, Path(path): Path<String>| async move {
                let removed = state.remove_file(&path);
                axum::Json(json!({"path": file_key(&path), "removed": removed}))
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, authorize))
}

/// Lets a control through when the token matches (or none is required).
async fn authorize(State(state): St, request: Request, next: Next) -> Response {
    let Some(token) = &state.control_token else {
        return next.run(request).await;
    };
    let sent = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if sent == Some(token.expose().as_str()) {
        next.run(request).await
    } else {
        text(StatusCode::UNAUTHORIZED, "unable to authenticate")
    }
}

async fn put_faults(State(state): St, body: Bytes) -> Response {
    match serde_json::from_slice::<FactoryFaults>(&body) {
        Ok(faults) => {
            *lock(&state.faults) = faults.clone();
            axum::Json(faults).into_response()
        }
        Err(e) => text(StatusCode::BAD_REQUEST, format!("invalid faults: {e}")),
    }
}

/// Streams the body into the cache directory, then serves it at `/{path}`.
async fn put_file(State(state): St, Path(path): Path<String>, body: Body) -> Response {
    let key = file_key(&path);
    let (partial, location) = file_location(&state, &key);
    let written = async {
        if let Some(dir) = location.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(std::io::Error::other)?).await?;
        }
        file.flush().await?;
        publish_file(&state, &key, &partial, &location)
    }
    .await;
    match written {
        Ok(()) => {
            let len = lock(&state.files).get(&key).map_or(0, |f| f.len);
            axum::Json(json!({"path": key, "bytes": len})).into_response()
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot store the file served at {key}: {e}"),
        ),
    }
}
