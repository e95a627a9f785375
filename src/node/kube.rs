//! The product's Kubernetes client: the few calls a node replacement makes through the admin
//! kubeconfig (cordon, uncordon, list pods, evict, delete a Node, wait for Ready).
//!
//! Plain HTTPS with rustls: the server is verified against the kubeconfig's cluster CA, the
//! client certificate is presented (the same rustls plumbing as the Talos API,
//! [`crate::talos::pki::tls`]). A transport failure or a 502/503/504 is retried by
//! [`Policy::api_call`]; any other answer is final and keeps the API server's `Status`
//! message. The drain itself is [`super::drain`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::kubeconfig::{KubeTarget, KubeconfigError};
use crate::error::{Class, Classify};
use crate::retry::Policy;
use crate::talos::pki;

/// An error of the Kubernetes client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig cannot be used; nothing was sent.
    #[error("cannot use the kubeconfig")]
    Kubeconfig(#[source] KubeconfigError),
    /// The kubeconfig's PEM material is unusable; nothing was sent.
    #[error("the kubeconfig's certificates cannot be used")]
    Tls(#[source] pki::tls::Error),
    /// The HTTP client could not be built.
    #[error("cannot set up the Kubernetes API client")]
    Client(#[source] reqwest::Error),
    /// A request failed.
    #[error("while {activity}")]
    Request {
        /// What was being done (`cordoning node tc-prod-w-1`).
        activity: String,
        /// Why it failed.
        #[source]
        source: RequestError,
    },
    /// A node did not become Ready in time.
    #[error("node {node} was not Ready after {waited:?} (last seen: {last})")]
    NotReady {
        /// The node.
        node: String,
        /// How long it was waited for.
        waited: Duration,
        /// Its last observed state.
        last: String,
    },
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Kubeconfig(_) | Error::Tls(_) => Class::InvalidInput,
            Error::Client(_) | Error::Request { .. } | Error::NotReady { .. } => Class::Failed,
        }
    }
}

/// Why one request failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No HTTP answer (connect, TLS, timeout).
    #[error("the Kubernetes API at {server} did not answer")]
    Transport {
        /// The URL's host and port.
        server: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The API server answered with an error `Status`.
    #[error("{code} {reason}: {message}")]
    Status {
        /// The HTTP status code.
        code: u16,
        /// The Status `reason` (`NotFound`, `TooManyRequests`).
        reason: String,
        /// The Status `message`, with the cause messages appended.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("the Kubernetes API answered with unexpected JSON")]
    Decode(#[source] serde_json::Error),
}

impl RequestError {
    /// The HTTP status code, when the server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            RequestError::Status { code, .. } => Some(*code),
            RequestError::Transport { .. } | RequestError::Decode(_) => None,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            RequestError::Transport { .. } => true,
            RequestError::Status { code, .. } => matches!(code, 502..=504),
            RequestError::Decode(_) => false,
        }
    }
}

/// How the client connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeOptions {
    /// Deadline of one request.
    pub timeout: Duration,
    /// Connect to this address instead of the server's (a control plane's own address when
    /// the floating IP is down, a test on loopback): a host name is still verified against
    /// the certificate; an IP endpoint is replaced by this one.
    pub connect_to: Option<SocketAddr>,
    /// Retries of transport failures and 502/503/504.
    pub retry: Policy,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            timeout: Duration::from_secs(30),
            connect_to: None,
            retry: Policy::api_call(),
        }
    }
}

/// A Node's state, as far as a replacement cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid` (a re-registered node has a new one).
    pub uid: String,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// The Ready condition's status (`True`, `False`, `Unknown`; `Unknown` when absent).
    pub ready: String,
    /// The Ready condition's message.
    pub ready_message: String,
    /// The InternalIP address.
    pub internal_ip: Option<IpAddr>,
}

impl NodeInfo {
    /// Returns true if and only if the Ready condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.ready == "True"
    }
}

/// A pod bound to a node, as a drain classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The kind of its controller owner (`ReplicaSet`, `DaemonSet`), if any.
    pub controller_kind: Option<String>,
    /// Whether it is a static pod's mirror (`kubernetes.io/config.mirror`).
    pub mirror: bool,
    /// `status.phase`.
    pub phase: String,
}

impl fmt::Display for PodInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A PodDisruptionBudget's selector and status, to name what blocks an eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetInfo {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.selector.matchLabels`.
    pub match_labels: std::collections::BTreeMap<String, String>,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i64,
}

impl BudgetInfo {
    /// Returns true if and only if its `matchLabels` select `pod`.
    pub fn selects(&self, pod: &PodInfo) -> bool {
        self.namespace == pod.namespace && self.match_labels.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
    }
}

/// What an eviction request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    /// Accepted: the pod is being deleted.
    Evicted,
    /// The pod does not exist (any more).
    Gone,
    /// Refused with 429: a disruption budget forbids it now; the server's message.
    Blocked(String),
}

/// What deleting a Node came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The Node was deleted.
    Deleted,
    /// There was no such Node (already deleted).
    AlreadyGone,
}

/// A client of one cluster's Kubernetes API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KubeClient {
    http: reqwest::Client,
    server: url::Url,
    options: KubeOptions,
}

impl KubeClient {
    /// A client for the kubeconfig's context. Nothing is dialled yet.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] for unusable PEM material, [`Error::Client`] if the HTTP client cannot
    /// be built.
    pub fn new(target: &KubeTarget, options: KubeOptions) -> Result<KubeClient, Error> {
        let tls = pki::tls::mtls_client_config(&target.ca_pem, &target.crt_pem, target.key_pem.expose())
            .map_err(Error::Tls)?;
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)));
        let mut server = target.server.clone();
        if let Some(addr) = options.connect_to {
            match server.host() {
                Some(url::Host::Domain(host)) => builder = builder.resolve(host, addr),
                // The API server's certificate names every control plane's address, so an IP
                // endpoint is simply replaced.
                _ => {
                    let _ = server.set_ip_host(addr.ip());
                    let _ = server.set_port(Some(addr.port()));
                }
            }
        }
        let http = builder.build().map_err(Error::Client)?;
        Ok(KubeClient { http, server, options })
    }

    /// A client for a kubeconfig's current context.
    ///
    /// # Errors
    ///
    /// [`Error::Kubeconfig`] and those of [`KubeClient::new`].
    pub fn from_kubeconfig(bytes: &[u8], options: KubeOptions) -> Result<KubeClient, Error> {
        let target = KubeTarget::from_kubeconfig(bytes, None).map_err(Error::Kubeconfig)?;
        KubeClient::new(&target, options)
    }

    /// One Node; `None` when it does not exist.
    ///
    /// # Errors
    ///
    /// The request failed.
    pub async fn node(&self, name: &str) -> Result<Option<NodeInfo>, Error> {
        let activity = || format!("reading node {name}");
        match self.send(&activity, reqwest::Method::GET, &node_path(name), None).await {
            Ok(value) => Ok(Some(node_info(value).map_err(|e| request_error(activity(), e))?)),
            Err(Error::Request { source, .. }) if source.code() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// All Nodes.
    ///
    /// # Errors
    ///
    /// The request failed.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, Error> {
        let activity = || "listing nodes".to_string();
        let list = self
            .send(&activity, reqwest::Method::GET, "/api/v1/nodes", None)
            .await?;
        items(list)
            .into_iter()
            .map(|item| node_info(item).map_err(|e| request_error(activity(), e)))
            .collect()
    }

    /// Marks the node unschedulable (`kubectl cordon`).
    ///
    /// # Errors
    ///
    /// The request failed (404 when there is no such node).
    pub async fn cordon(&self, name: &str) -> Result<NodeInfo, Error> {
        self.set_unschedulable(name, true, "cordoning").await
    }

    /// Makes the node schedulable again (`kubectl uncordon`).
    ///
    /// # Errors
    ///
    /// The request failed (404 when there is no such node).
    pub async fn uncordon(&self, name: &str) -> Result<NodeInfo, Error> {
        self.set_unschedulable(name, false, "uncordoning").await
    }

    async fn set_unschedulable(&self, name: &str, unschedulable: bool, verb: &str) -> Result<NodeInfo, Error> {
        let activity = || format!("{verb} node {name}");
        let patch = json!({"spec": {"unschedulable": unschedulable}});
        let value = self
            .send(&activity, reqwest::Method::PATCH, &node_path(name), Some(patch))
            .await?;
        node_info(value).map_err(|e| request_error(activity(), e))
    }

    /// Deletes the Node object (after its server is gone); an absent Node is
    /// [`Deleted::AlreadyGone`], so a resumed run can repeat it.
    ///
    /// # Errors
    ///
    /// The request failed otherwise.
    pub async fn delete_node(&self, name: &str) -> Result<Deleted, Error> {
        let activity = || format!("deleting node {name}");
        match self
            .send(&activity, reqwest::Method::DELETE, &node_path(name), None)
            .await
        {
            Ok(_) => Ok(Deleted::Deleted),
            Err(Error::Request { source, .. }) if source.code() == Some(404) => Ok(Deleted::AlreadyGone),
            Err(error) => Err(error),
        }
    }

    /// The pods bound to `node` (`fieldSelector=spec.nodeName=NODE`).
    ///
    /// # Errors
    ///
    /// The request failed.
    pub async fn pods_on(&self, node: &str) -> Result<Vec<PodInfo>, Error> {
        let activity = || format!("listing the pods on node {node}");
        let mut url = self.url("/api/v1/pods");
        url.query_pairs_mut()
            .append_pair("fieldSelector", &format!("spec.nodeName={node}"));
        let list = self.send_url(&activity, reqwest::Method::GET, url, None).await?;
        items(list)
            .into_iter()
            .map(|item| pod_info(item).map_err(|e| request_error(activity(), e)))
            .collect()
    }

    /// The PodDisruptionBudgets of a namespace.
    ///
    /// # Errors
    ///
    /// The request failed.
    pub async fn budgets(&self, namespace: &str) -> Result<Vec<BudgetInfo>, Error> {
        let activity = || format!("listing the PodDisruptionBudgets of namespace {namespace}");
        let path = format!("/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets");
        let list = self.send(&activity, reqwest::Method::GET, &path, None).await?;
        items(list)
            .into_iter()
            .map(|item| budget_info(item).map_err(|e| request_error(activity(), e)))
            .collect()
    }

    /// Asks the API server to evict one pod (the eviction subresource, which honours
    /// PodDisruptionBudgets).
    ///
    /// # Errors
    ///
    /// Failures other than 404 and 429 (e.g. 500 when two budgets select the pod).
    pub async fn evict(&self, pod: &PodInfo) -> Result<Eviction, Error> {
        let activity = || format!("evicting pod {pod}");
        let path = format!("/api/v1/namespaces/{}/pods/{}/eviction", pod.namespace, pod.name);
        let body = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod.name, "namespace": pod.namespace},
        });
        match self.send(&activity, reqwest::Method::POST, &path, Some(body)).await {
            Ok(_) => Ok(Eviction::Evicted),
            Err(Error::Request {
                source: RequestError::Status { code: 404, .. },
                ..
            }) => Ok(Eviction::Gone),
            Err(Error::Request {
                source: RequestError::Status { code: 429, message, .. },
                ..
            }) => Ok(Eviction::Blocked(message)),
            Err(error) => Err(error),
        }
    }

    /// Waits until the node exists and is Ready, polling with `poll` (whose deadline bounds
    /// the wait).
    ///
    /// # Errors
    ///
    /// [`Error::NotReady`] naming the last state seen once `poll` gives up.
    pub async fn wait_node_ready(&self, name: &str, poll: Policy) -> Result<NodeInfo, Error> {
        let started = Instant::now();
        let mut backoff = poll.backoff();
        loop {
            let last = match self.node(name).await {
                Ok(Some(node)) if node.is_ready() => return Ok(node),
                Ok(Some(node)) => format!("Ready={}: {}", node.ready, node.ready_message),
                Ok(None) => "not registered".to_string(),
                Err(error) => crate::error::chain(&error).join(": "),
            };
            match backoff.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Err(Error::NotReady {
                        node: name.to_string(),
                        waited: started.elapsed(),
                        last,
                    });
                }
            }
        }
    }

    fn url(&self, path: &str) -> url::Url {
        let mut url = self.server.clone();
        url.set_path(path);
        url
    }

    async fn send(
        &self,
        activity: &dyn Fn() -> String,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        self.send_url(activity, method, self.url(path), body).await
    }

    /// One request with retries of transient failures; the answer's JSON, or the error
    /// `Status` as [`RequestError::Status`].
    async fn send_url(
        &self,
        activity: &dyn Fn() -> String,
        method: reqwest::Method,
        url: url::Url,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let mut backoff = self.options.retry.backoff();
        loop {
            match self.send_once(method.clone(), url.clone(), body.as_ref()).await {
                Ok(value) => return Ok(value),
                Err(failure) => match backoff.next().filter(|_| failure.is_transient()) {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(request_error(activity(), failure)),
                },
            }
        }
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<&Value>,
    ) -> Result<Value, RequestError> {
        let server = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(443)
        );
        let transport = |source| RequestError::Transport {
            server: server.clone(),
            source,
        };
        let mut request = self
            .http
            .request(method.clone(), url)
            .header("Accept", "application/json");
        if let Some(body) = body {
            let content_type = if method == reqwest::Method::PATCH {
                "application/strategic-merge-patch+json"
            } else {
                "application/json"
            };
            request = request.header("Content-Type", content_type).body(body.to_string());
        }
        let response = request.send().await.map_err(transport)?;
        let code = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&code) {
            return serde_json::from_slice(&bytes).map_err(RequestError::Decode);
        }
        let status: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut message = status["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
        if let Some(causes) = status["details"]["causes"].as_array() {
            for cause in causes.iter().filter_map(|c| c["message"].as_str()) {
                message.push(' ');
                message.push_str(cause);
            }
        }
        Err(RequestError::Status {
            code,
            reason: status["reason"].as_str().unwrap_or("Unknown").to_string(),
            message,
        })
    }
}

fn request_error(activity: String, source: RequestError) -> Error {
    Error::Request { activity, source }
}

fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{name}")
}

fn items(list: Value) -> Vec<Value> {
    match list {
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Meta {
    name: String,
    namespace: String,
    uid: String,
    labels: std::collections::BTreeMap<String, String>,
    annotations: std::collections::BTreeMap<String, String>,
    owner_references: Vec<OwnerRef>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OwnerRef {
    kind: String,
    controller: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Address {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(Deserialize)]
struct RawNode {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: RawNodeSpec,
    #[serde(default)]
    status: RawNodeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawNodeSpec {
    unschedulable: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawNodeStatus {
    conditions: Vec<Condition>,
    addresses: Vec<Address>,
}

fn node_info(value: Value) -> Result<NodeInfo, RequestError> {
    let raw: RawNode = serde_json::from_value(value).map_err(RequestError::Decode)?;
    let ready = raw.status.conditions.iter().find(|c| c.kind == "Ready");
    Ok(NodeInfo {
        name: raw.metadata.name,
        uid: raw.metadata.uid,
        unschedulable: raw.spec.unschedulable,
        ready: ready.map_or("Unknown", |c| c.status.as_str()).to_string(),
        ready_message: ready.map(|c| c.message.clone()).unwrap_or_default(),
        internal_ip: raw
            .status
            .addresses
            .iter()
            .find(|a| a.kind == "InternalIP")
            .and_then(|a| a.address.parse().ok()),
    })
}

#[derive(Deserialize)]
struct RawPod {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    status: RawPodStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPodStatus {
    phase: String,
}

fn pod_info(value: Value) -> Result<PodInfo, RequestError> {
    let raw: RawPod = serde_json::from_value(value).map_err(RequestError::Decode)?;
    Ok(PodInfo {
        controller_kind: raw
            .metadata
            .owner_references
            .iter()
            .find(|o| o.controller)
            .map(|o| o.kind.clone()),
        mirror: raw.metadata.annotations.contains_key("kubernetes.io/config.mirror"),
        namespace: raw.metadata.namespace,
        name: raw.metadata.name,
        uid: raw.metadata.uid,
        labels: raw.metadata.labels,
        phase: raw.status.phase,
    })
}

fn budget_info(value: Value) -> Result<BudgetInfo, RequestError> {
    #[derive(Deserialize)]
    struct RawBudget {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: Value,
        #[serde(default)]
        status: Value,
    }
    let raw: RawBudget = serde_json::from_value(value).map_err(RequestError::Decode)?;
    let match_labels = serde_json::from_value(raw.spec["selector"]["matchLabels"].clone()).unwrap_or_default();
    Ok(BudgetInfo {
        namespace: raw.metadata.namespace,
        name: raw.metadata.name,
        match_labels,
        disruptions_allowed: raw.status["disruptionsAllowed"].as_i64().unwrap_or(0),
    })
}
