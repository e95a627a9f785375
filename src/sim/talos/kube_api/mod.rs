//! The emulated Kubernetes API endpoint of a control plane (`ADDR:6443`).
//!
//! It listens while the node is a configured control plane, but serves only while the node
//! runs a healthy etcd member of a bootstrapped cluster (otherwise connections are closed at
//! once, like a kube-apiserver that is not up). `/readyz` answers `ok` while etcd has
//! quorum, 500 otherwise; `/livez`, `/healthz` and `/version` answer too, also to anonymous
//! callers (Kubernetes's `system:public-info-viewer`). A client certificate, when given,
//! must chain to the cluster CA; `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`
//! (`kubectl auth whoami`) reports who it authenticates as.
//!
//! The cluster's objects ([`objects`]: Nodes, Pods, PodDisruptionBudgets) are served to
//! `system:masters` (the admin kubeconfig): Nodes (list, get, `PATCH spec.unschedulable` for
//! cordon, delete), Pods (list with `fieldSelector=spec.nodeName=…` and simple
//! `labelSelector`s, get), the eviction subresource with the API server's budget check and
//! answers (201; 429 `TooManyRequests` naming the budget; 500 for two budgets), and budgets
//! (list, get). Anything else under `/api` and `/apis` is a 404 naming the sim.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::cluster::TalosCluster;
use super::tls::PeerIdentity;

mod objects;
mod wire;

pub use objects::{
    BudgetRule, BudgetStatus, DisruptionBudget, EvictionError, KubeNode, KubeObjects, KubePod, ObjectError, PodOwner,
    Scaled,
};

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
    // Open to anyone, as `system:public-info-viewer` grants.
    let public = ["/livez", "/healthz"]
        .into_iter()
        .fold(Router::new(), |router, path| router.route(path, get(ok)));
    let router = public
        .route("/readyz", get(readyz))
        .route("/version", get(version))
        .route("/apis/authentication.k8s.io/v1/selfsubjectreviews", post(whoami))
        .nest("/api/v1", core_v1())
        .nest("/apis/policy/v1", policy_v1())
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

/// Nodes, pods and the eviction subresource under `/api/v1`.
fn core_v1() -> Router<KubeState> {
    let pods = "/namespaces/{namespace}/pods";
    Router::new()
        .route("/nodes", get(list_nodes))
        .route("/nodes/{name}", get(get_node).patch(patch_node).delete(delete_node))
        .route("/pods", get(list_all_pods))
        .route(pods, get(list_namespace_pods))
        .route(&format!("{pods}/{{name}}"), get(get_pod))
        .route(&format!("{pods}/{{name}}/eviction"), post(evict))
        .route_layer(axum::middleware::from_fn(admin_only))
}

/// PodDisruptionBudgets under `/apis/policy/v1`.
fn policy_v1() -> Router<KubeState> {
    let budgets = "/namespaces/{namespace}/poddisruptionbudgets";
    Router::new()
        .route("/poddisruptionbudgets", get(list_all_budgets))
        .route(budgets, get(list_namespace_budgets))
        .route(&format!("{budgets}/{{name}}"), get(get_budget))
        .route_layer(axum::middleware::from_fn(admin_only))
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
        return unauthorized();
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
    wire::failure(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource (talos-hcloud sim)",
        None,
    )
}

fn unauthorized() -> Response {
    wire::failure(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized", None)
}

/// Object access is for `system:masters` (the admin kubeconfig's group): anonymous callers
/// get 401, other authenticated users 403, as RBAC without further bindings answers. A
/// layer on every object route.
async fn admin_only(
    Extension(peer): Peer,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(user) = &peer.common_name else {
        return unauthorized();
    };
    if peer.organizations.iter().any(|o| o == "system:masters") {
        return next.run(request).await;
    }
    wire::failure(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "forbidden: User \"{user}\" cannot {} {} (talos-hcloud sim grants system:masters only)",
            request.method().as_str().to_lowercase(),
            uri.path()
        ),
        None,
    )
}

type Peer = Extension<Arc<PeerIdentity>>;

async fn list_nodes(State(state): State<KubeState>) -> Response {
    let kube = state.cluster.kubernetes();
    let items = kube.nodes().iter().map(wire::node).collect();
    wire::list("v1", "NodeList", kube.revision(), items)
}

async fn get_node(State(state): State<KubeState>, Path(name): Path<String>) -> Response {
    node_answer(state.cluster.kubernetes().node(&name), &name)
}

/// The node as JSON, or 404 naming it.
fn node_answer(node: Option<KubeNode>, name: &str) -> Response {
    match node {
        Some(node) => Json(wire::node(&node)).into_response(),
        None => wire::not_found("nodes", name),
    }
}

/// Merge and strategic-merge patches of `spec.unschedulable` (what `kubectl cordon` sends);
/// any other change is refused rather than silently dropped.
async fn patch_node(
    State(state): State<KubeState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !matches!(
        content_type.split(';').next().unwrap_or("").trim(),
        "application/merge-patch+json" | "application/strategic-merge-patch+json"
    ) {
        return wire::failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (talos-hcloud sim); got {content_type:?}"
            ),
            None,
        );
    }
    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return wire::failure(StatusCode::BAD_REQUEST, "BadRequest", "the patch is not JSON", None);
    };
    let unschedulable = match unschedulable_patch(&patch) {
        Ok(value) => value,
        Err(message) => return wire::failure(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &message, None),
    };
    let kube = state.cluster.kubernetes();
    let node = match unschedulable {
        Some(value) => kube.set_unschedulable(&name, value),
        None => kube.node(&name),
    };
    node_answer(node, &name)
}

/// The new `spec.unschedulable` of a node patch (`null` resets it to false), `None` when the
/// patch leaves it alone; an error for anything else the emulator does not apply.
fn unschedulable_patch(patch: &Value) -> Result<Option<bool>, String> {
    let refuse = || "talos-hcloud sim patches only spec.unschedulable of a node".to_string();
    let Some(top) = patch.as_object() else {
        return Err(refuse());
    };
    let mut result = None;
    for (field, value) in top {
        match (field.as_str(), value) {
            ("spec", Value::Object(spec)) => {
                for (field, value) in spec {
                    match (field.as_str(), value) {
                        ("unschedulable", Value::Bool(b)) => result = Some(*b),
                        ("unschedulable", Value::Null) => result = Some(false),
                        _ => return Err(refuse()),
                    }
                }
            }
            _ => return Err(refuse()),
        }
    }
    Ok(result)
}

async fn delete_node(State(state): State<KubeState>, Path(name): Path<String>) -> Response {
    node_answer(state.cluster.kubernetes().delete_node(&name), &name)
}

/// The pod filters the emulator understands: `fieldSelector` on `spec.nodeName`,
/// `metadata.name`, `metadata.namespace` and `status.phase`; `labelSelector` with `=`,
/// `==` and `!=` terms.
struct PodFilter {
    fields: Vec<(String, String, bool)>,
    labels: Vec<(String, String, bool)>,
}

impl PodFilter {
    fn parse(query: &std::collections::HashMap<String, String>) -> Result<PodFilter, String> {
        let terms = |text: Option<&String>| -> Result<Vec<(String, String, bool)>, String> {
            let Some(text) = text.filter(|t| !t.is_empty()) else {
                return Ok(Vec::new());
            };
            text.split(',')
                .map(|term| {
                    let (key, value, equal) = if let Some((k, v)) = term.split_once("!=") {
                        (k, v, false)
                    } else if let Some((k, v)) = term.split_once("==") {
                        (k, v, true)
                    } else if let Some((k, v)) = term.split_once('=') {
                        (k, v, true)
                    } else {
                        return Err(format!("unable to parse requirement: {term:?} (talos-hcloud sim)"));
                    };
                    Ok((key.trim().to_string(), value.trim().to_string(), equal))
                })
                .collect()
        };
        let fields = terms(query.get("fieldSelector"))?;
        for (field, _, _) in &fields {
            if !matches!(
                field.as_str(),
                "spec.nodeName" | "metadata.name" | "metadata.namespace" | "status.phase"
            ) {
                return Err(format!(
                    "\"{field}\" is not a known field selector: only \"spec.nodeName\", \"metadata.name\", \"metadata.namespace\", \"status.phase\" (talos-hcloud sim)"
                ));
            }
        }
        let labels = terms(query.get("labelSelector"))?;
        Ok(PodFilter { fields, labels })
    }

    fn matches(&self, pod: &KubePod) -> bool {
        let phase = if pod.node.is_some() { "Running" } else { "Pending" };
        self.fields.iter().all(|(field, value, equal)| {
            let actual = match field.as_str() {
                "spec.nodeName" => pod.node.as_deref().unwrap_or(""),
                "metadata.name" => pod.name.as_str(),
                "metadata.namespace" => pod.namespace.as_str(),
                _ => phase,
            };
            (actual == value) == *equal
        }) && self
            .labels
            .iter()
            .all(|(label, value, equal)| (pod.labels.get(label) == Some(value)) == *equal)
    }
}

fn pod_list(state: &KubeState, namespace: Option<&str>, query: &std::collections::HashMap<String, String>) -> Response {
    let filter = match PodFilter::parse(query) {
        Ok(filter) => filter,
        Err(message) => return wire::failure(StatusCode::BAD_REQUEST, "BadRequest", &message, None),
    };
    let kube = state.cluster.kubernetes();
    let items = kube
        .pods()
        .iter()
        .filter(|p| namespace.is_none_or(|ns| p.namespace == ns) && filter.matches(p))
        .map(|p| wire::pod(p, kube.pod_ready(p)))
        .collect();
    wire::list("v1", "PodList", kube.revision(), items)
}

type Params = Query<std::collections::HashMap<String, String>>;

async fn list_all_pods(State(state): State<KubeState>, Query(query): Params) -> Response {
    pod_list(&state, None, &query)
}

async fn list_namespace_pods(
    State(state): State<KubeState>,
    Path(namespace): Path<String>,
    Query(query): Params,
) -> Response {
    pod_list(&state, Some(&namespace), &query)
}

async fn get_pod(State(state): State<KubeState>, Path((namespace, name)): Path<(String, String)>) -> Response {
    let kube = state.cluster.kubernetes();
    match kube.pod(&namespace, &name) {
        Some(pod) => Json(wire::pod(&pod, kube.pod_ready(&pod))).into_response(),
        None => wire::not_found("pods", &name),
    }
}

/// `POST …/pods/NAME/eviction` with a `policy/v1` (or `v1beta1`) Eviction body.
async fn evict(
    State(state): State<KubeState>,
    Path((namespace, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(eviction) = serde_json::from_slice::<Value>(&body) else {
        return wire::failure(StatusCode::BAD_REQUEST, "BadRequest", "the Eviction is not JSON", None);
    };
    if eviction["kind"] != "Eviction" {
        return wire::failure(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not an Eviction (talos-hcloud sim)",
            None,
        );
    }
    if eviction["metadata"]["name"].as_str() != Some(name.as_str()) {
        return wire::failure(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "name in URL does not match name in Eviction object",
            None,
        );
    }
    let Err(error) = state.cluster.kubernetes().evict(&namespace, &name) else {
        return wire::success(StatusCode::CREATED);
    };
    let message = error.to_string();
    match error {
        EvictionError::PodNotFound(_) => wire::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            &message,
            Some(json!({"name": name, "kind": "pods"})),
        ),
        EvictionError::Blocked { cause } => wire::failure(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            &message,
            Some(json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]})),
        ),
        EvictionError::MultipleBudgets => {
            wire::failure(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &message, None)
        }
    }
}

fn budget_list(state: &KubeState, namespace: Option<&str>) -> Response {
    let kube = state.cluster.kubernetes();
    let items = kube
        .budgets()
        .iter()
        .filter(|(b, _)| namespace.is_none_or(|ns| b.namespace == ns))
        .map(|(b, s)| wire::budget(b, s))
        .collect();
    wire::list("policy/v1", "PodDisruptionBudgetList", kube.revision(), items)
}

async fn list_all_budgets(State(state): State<KubeState>) -> Response {
    budget_list(&state, None)
}

async fn list_namespace_budgets(State(state): State<KubeState>, Path(namespace): Path<String>) -> Response {
    budget_list(&state, Some(&namespace))
}

async fn get_budget(State(state): State<KubeState>, Path((namespace, name)): Path<(String, String)>) -> Response {
    match state
        .cluster
        .kubernetes()
        .budgets()
        .into_iter()
        .find(|(b, _)| b.namespace == namespace && b.name == name)
    {
        Some((budget, status)) => Json(wire::budget(&budget, &status)).into_response(),
        None => wire::not_found("poddisruptionbudgets", &name),
    }
}
