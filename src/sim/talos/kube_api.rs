//! The emulated Kubernetes API endpoint of a control plane (`ADDR:6443`).
//!
//! It listens while the node is a configured control plane, but serves only while the node
//! runs a healthy etcd member of a bootstrapped cluster (otherwise connections are closed at
//! once, like a kube-apiserver that is not up). `/readyz` answers `ok` while etcd has
//! quorum, 500 otherwise; `/livez`, `/healthz` and `/version` answer too, also to anonymous
//! callers (Kubernetes's `system:public-info-viewer`). A client certificate, when given,
//! must chain to the cluster CA; `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`
//! (`kubectl auth whoami`) reports who it authenticates as.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::cluster::TalosCluster;
use super::tls::PeerIdentity;

/// A running Kubernetes API listener; dropping it stops accepting.
#[derive(Debug)]
pub(crate) struct KubeApi {
    stop: watch::Sender<bool>,
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[derive(Clone)]
struct KubeState {
    cluster: Arc<TalosCluster>,
    node_address: IpAddr,
    kubernetes_version: String,
}

/// Binds `addr` and serves in the background.
pub(crate) fn start(
    addr: SocketAddr,
    tls: Arc<ServerConfig>,
    cluster: Arc<TalosCluster>,
    node_address: IpAddr,
    kubernetes_version: String,
) -> std::io::Result<KubeApi> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let (stop, mut stopped) = watch::channel(false);
    let state = KubeState {
        cluster: cluster.clone(),
        node_address,
        kubernetes_version,
    };
    let router = Router::new()
        .route("/readyz", get(readyz))
        .route("/livez", get(ok))
        .route("/healthz", get(ok))
        .route("/version", get(version))
        .route("/apis/authentication.k8s.io/v1/selfsubjectreviews", post(whoami))
        .fallback(not_found)
        .with_state(state);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let tcp = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(error) => {
                        tracing::warn!(%addr, %error, "accept failed on the emulated Kubernetes API");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stopped.changed() => break,
            };
            if cluster.member_on(node_address).is_none() {
                // kube-apiserver is not up without a running etcd member.
                drop(tcp);
                continue;
            }
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else {
                    return;
                };
                let peer = Arc::new(PeerIdentity::from_chain(tls.get_ref().1.peer_certificates()));
                let service = TowerToHyperService::new(router.layer(Extension(peer)));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(KubeApi { stop })
}

async fn readyz(State(state): State<KubeState>) -> Response {
    let quorum = state.cluster.quorum_from(state.node_address);
    if quorum.has_quorum() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("[-]etcd failed: {quorum}\nreadyz check failed\n"),
        )
            .into_response()
    }
}

async fn ok() -> &'static str {
    "ok"
}

async fn version(State(state): State<KubeState>) -> Json<serde_json::Value> {
    let git = state.kubernetes_version.clone();
    let mut parts = git.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("1").to_string();
    let minor = parts.next().unwrap_or("0").to_string();
    Json(serde_json::json!({
        "major": major,
        "minor": minor,
        "gitVersion": git,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "go (talos-hcloud sim)",
        "compiler": "gc",
        "platform": "linux/amd64"
    }))
}

async fn whoami(Extension(peer): Extension<Arc<PeerIdentity>>) -> Response {
    let Some(user) = peer.common_name.clone() else {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let mut groups = peer.organizations.clone();
    groups.push("system:authenticated".into());
    (
        StatusCode::CREATED,
        Json(serde_json::json!({
            "kind": "SelfSubjectReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {},
            "status": {"userInfo": {"username": user, "groups": groups}}
        })),
    )
        .into_response()
}

async fn not_found() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "the server could not find the requested resource (talos-hcloud sim)",
    )
}

fn status(code: StatusCode, message: &str) -> Response {
    let reason = match code {
        StatusCode::UNAUTHORIZED => "Unauthorized",
        _ => "NotFound",
    };
    (
        code,
        Json(serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code.as_u16()
        })),
    )
        .into_response()
}
