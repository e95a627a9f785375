//! The product's Kubernetes client (`node::kube`, `node::drain`) against the emulated
//! Kubernetes API of emulated Talos nodes, over real TLS with the admin kubeconfig the
//! control plane hands out (issue 12: the Kubernetes side of `node replace`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use talos_hcloud::error::{Class, Classify as _, chain};
use talos_hcloud::node::{Deleted, DrainError, KubeClient, KubeOptions, drain, eviction_policy};
use talos_hcloud::redact::Redacted;
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::talos::{
    BudgetRule, ClusterRegistry, DisruptionBudget, KubePod, PodOwner, Scaled, TalosCluster,
};

use talos_hcloud::talos::pki::{self, CertificateAuthority};

use crate::talos_api::{admin, configured_client, start_configured};
use crate::talos_nodes::TestNode;

/// One control plane and two workers of the golden cluster, bootstrapped, with the admin
/// kubeconfig fetched through the Talos API.
struct Cluster {
    control_plane: TestNode,
    workers: Vec<TestNode>,
    /// The Node names of the two workers.
    a: String,
    b: String,
    etcd: Arc<TalosCluster>,
    kubeconfig: Redacted<Vec<u8>>,
}

async fn cluster() -> Cluster {
    let registry = ClusterRegistry::new();
    let control_plane = start_configured(&registry, "v1.12.11", "controlplane").await;
    let admin = admin();
    let cp = configured_client(&control_plane, &admin);
    cp.wait_ready(Duration::from_secs(10)).await.expect("apid up");
    cp.bootstrap().await.expect("bootstrap");
    let mut workers = Vec::new();
    for _ in 0..2 {
        let worker = start_configured(&registry, "v1.12.11", "worker").await;
        configured_client(&worker, &admin)
            .wait_ready(Duration::from_secs(10))
            .await
            .expect("worker apid up");
        workers.push(worker);
    }
    let kubeconfig = cp.kubeconfig().await.expect("kubeconfig");
    let etcd = control_plane.cluster().expect("configured");
    let name_of = |node: &TestNode| {
        etcd.kubernetes()
            .nodes()
            .into_iter()
            .find(|n| n.address == node.address())
            .expect("registered")
            .name
    };
    let (a, b) = (name_of(&workers[0]), name_of(&workers[1]));
    Cluster {
        control_plane,
        workers,
        a,
        b,
        etcd,
        kubeconfig,
    }
}

impl Cluster {
    /// The product's client from the kubeconfig (server `https://base:6443`), dialling the
    /// control plane's address.
    fn client(&self) -> KubeClient {
        KubeClient::from_kubeconfig(
            self.kubeconfig.expose(),
            KubeOptions {
                timeout: Duration::from_secs(10),
                connect_to: Some(self.control_plane.kubernetes_addr()),
                retry: Policy::api_call(),
            },
        )
        .expect("the kubeconfig is usable")
    }

    /// Adds a budget `default/APP` of `rule` selecting `app: APP`.
    fn protect(&self, app: &str, rule: BudgetRule) {
        self.etcd
            .kubernetes()
            .add_budget(DisruptionBudget::new("default", app, labels(app), rule))
            .expect("new budget");
    }

    /// The names of the pods bound to `node`, sorted (the emulator's view).
    fn pods_on(&self, node: &str) -> Vec<String> {
        let mut names: Vec<_> = self
            .etcd
            .kubernetes()
            .pods_on(node)
            .into_iter()
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        names.sort();
        names
    }

    async fn stop(self) {
        self.control_plane.stop().await;
        for worker in self.workers {
            worker.stop().await;
        }
    }
}

/// A short eviction retry for tests: 20 ms growing to 100 ms, for `deadline`.
fn quick_eviction(deadline: Duration) -> Policy {
    eviction_policy(deadline)
        .with_delays(Duration::from_millis(20), Duration::from_millis(100))
        .without_jitter()
}

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), app.to_string())])
}

#[tokio::test]
async fn cordon_drain_uncordon_delete_and_wait_ready_over_real_tls() {
    let cluster = cluster().await;
    let client = cluster.client();
    let kube = cluster.etcd.kubernetes();

    // Every kubelet registered; all Ready, none cordoned.
    let mut nodes = client.nodes().await.expect("list nodes");
    nodes.sort_by_key(|n| n.internal_ip);
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.is_ready() && !n.unschedulable), "{nodes:?}");
    let (a, b) = (cluster.a.clone(), cluster.b.clone());
    assert_eq!(
        client.node(&a).await.expect("get").expect("exists").internal_ip,
        Some(cluster.workers[0].address())
    );

    // A two-replica workload spread over the workers, one disruption allowed.
    kube.add_replica_set("default", "web-7d4b9", 2, labels("web"))
        .expect("new workload");
    cluster.protect("web", BudgetRule::MaxUnavailable(Scaled::Count(1)));
    let web_on_a: Vec<_> = kube
        .pods_on(&a)
        .into_iter()
        .filter(|p| p.labels == labels("web"))
        .collect();
    assert_eq!(web_on_a.len(), 1, "one replica per worker");

    // Drain A: cordoned, the workload pod evicted (and re-created on B), DaemonSet pods stay.
    let report = drain(&client, &a, quick_eviction(Duration::from_secs(5)))
        .await
        .expect("drain");
    assert_eq!(report.evicted, [format!("default/{}", web_on_a[0].name)]);
    assert_eq!(report.daemon_set_pods.len(), 2, "{report:?}");
    assert!(report.mirror_pods.is_empty(), "workers run no static pods");
    let left_on_a = cluster.pods_on(&a);
    assert_eq!(left_on_a.len(), 2);
    assert!(
        left_on_a
            .iter()
            .all(|p| p.starts_with("kube-system/kube-proxy-") || p.starts_with("kube-system/kube-flannel-")),
        "{left_on_a:?}"
    );
    let web: Vec<_> = kube.pods().into_iter().filter(|p| p.labels == labels("web")).collect();
    assert_eq!(web.len(), 2);
    assert!(web.iter().all(|p| p.node.as_deref() == Some(b.as_str())), "{web:?}");
    assert!(client.node(&a).await.expect("get").expect("exists").unschedulable);

    // Uncordon; cordon and uncordon are idempotent.
    assert!(!client.uncordon(&a).await.expect("uncordon").unschedulable);
    assert!(!client.uncordon(&a).await.expect("again").unschedulable);
    assert!(!kube.node(&a).expect("exists").unschedulable);

    // The server goes: the Node turns Unknown, a wait for Ready says what it saw.
    let old_uid = kube.node(&a).expect("exists").uid;
    cluster.workers[0].power_off();
    let error = client
        .wait_node_ready(&a, Policy::node_boot().with_deadline(Duration::from_millis(300)))
        .await
        .expect_err("powered off");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("node {a} was not Ready after "))
            && text.ends_with("(last seen: Ready=Unknown: Kubelet stopped posting node status.)"),
        "{text}"
    );

    // Delete the Node (its pods are collected); a second delete finds it gone.
    assert_eq!(client.delete_node(&a).await.expect("delete"), Deleted::Deleted);
    assert_eq!(client.delete_node(&a).await.expect("again"), Deleted::AlreadyGone);
    assert!(client.node(&a).await.expect("get").is_none());
    assert!(cluster.pods_on(&a).is_empty());
    assert_eq!(client.nodes().await.expect("list").len(), 2);
    let error = client.cordon(&a).await.expect_err("no such node");
    assert_eq!(
        chain(&error),
        [
            format!("while cordoning node {a}"),
            format!("404 NotFound: nodes \"{a}\" not found")
        ]
    );

    // The machine comes back under the same name: a new Node registers and turns Ready.
    cluster.workers[0].power_on().expect("boots");
    let back = client
        .wait_node_ready(&a, Policy::node_boot().with_deadline(Duration::from_secs(5)))
        .await
        .expect("Ready again");
    assert!(back.is_ready() && !back.unschedulable);
    assert_ne!(back.uid, old_uid, "a new Node object");
    assert_eq!(cluster.pods_on(&a).len(), 2, "its DaemonSet pods are back");

    cluster.stop().await;
}

#[tokio::test]
async fn a_drain_blocked_by_a_budget_times_out_naming_it_and_leaves_the_pods() {
    let cluster = cluster().await;
    let client = cluster.client();
    let kube = cluster.etcd.kubernetes();
    let (a, b) = (cluster.a.clone(), cluster.b.clone());

    // A single-replica database whose budget forbids any disruption.
    kube.add_pod(KubePod::new(
        "default",
        "db-0",
        Some(&a),
        labels("db"),
        PodOwner::StatefulSet("db".into()),
    ))
    .expect("new pod");
    cluster.protect("db", BudgetRule::MinAvailable(Scaled::Count(1)));
    let before = cluster.pods_on(&a);
    assert_eq!(before.len(), 3, "{before:?}");
    let pods_elsewhere = (cluster.pods_on(&b), kube.pods().len());

    let error = drain(&client, &a, quick_eviction(Duration::from_millis(400)))
        .await
        .expect_err("the budget blocks");
    let DrainError::Blocked { blocked, .. } = &error else {
        panic!("blocked, not {error:?}");
    };
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].budgets, ["default/db"]);
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("draining node {a} gave up after "))
            && text.ends_with(
                ": pod default/db-0 is protected by PodDisruptionBudget default/db (Cannot evict pod as it would \
                 violate the pod's disruption budget. The disruption budget db needs 1 healthy pods and has 1 \
                 currently); the node stays cordoned and its remaining pods were left running"
            ),
        "{text}"
    );
    assert_eq!(error.class(), Class::Failed);
    assert_eq!(
        error.hints(),
        ["scale the workload up or relax its PodDisruptionBudget, then run the same command again"]
    );

    // Nothing but the cordon changed: the node's pods, the other nodes, every other pod.
    assert_eq!(cluster.pods_on(&a), before);
    assert_eq!((cluster.pods_on(&b), kube.pods().len()), pods_elsewhere);
    assert!(kube.node(&a).expect("exists").unschedulable);
    assert!(!kube.node(&b).expect("exists").unschedulable);
    assert!(kube.nodes().iter().all(|n| n.ready));

    // With the budget relaxed the same drain finishes; the unmanaged-by-ReplicaSet pod is
    // gone (its StatefulSet controller would bring it back elsewhere).
    assert!(kube.remove_budget("default", "db"));
    let report = drain(&client, &a, quick_eviction(Duration::from_secs(5)))
        .await
        .expect("drain");
    assert_eq!(report.evicted, ["default/db-0"]);
    assert!(kube.pod("default", "db-0").is_none());

    cluster.stop().await;
}

#[tokio::test]
async fn the_api_refuses_strangers_unknown_patches_and_two_budgets() {
    let cluster = cluster().await;
    let a = cluster.a.clone();
    let kube = cluster.etcd.kubernetes();

    // Two budgets selecting one pod: the API server cannot decide, the drain fails with 500.
    kube.add_pod(KubePod::new(
        "default",
        "solo",
        Some(&a),
        labels("solo"),
        PodOwner::Unmanaged,
    ))
    .expect("new pod");
    for name in ["one", "two"] {
        kube.add_budget(DisruptionBudget::new(
            "default",
            name,
            labels("solo"),
            BudgetRule::MaxUnavailable(Scaled::Percent(50)),
        ))
        .expect("new budget");
    }
    let error = drain(&cluster.client(), &a, quick_eviction(Duration::from_secs(1)))
        .await
        .expect_err("two budgets");
    assert_eq!(
        chain(&error),
        [
            format!("while draining node {a}"),
            "while evicting pod default/solo".to_string(),
            "500 InternalError: This pod has more than one PodDisruptionBudget, which the eviction subresource \
             does not support."
                .to_string(),
        ]
    );
    assert!(kube.pod("default", "solo").is_some());

    // Raw HTTPS: anonymous callers get 401; a patch of anything but spec.unschedulable 422.
    let kubeconfig: serde_json::Value = serde_saphyr::from_slice(cluster.kubeconfig.expose()).expect("YAML");
    let ca = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(
                kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
                    .as_str()
                    .expect("CA"),
            )
            .expect("base64")
    };
    let anonymous = raw_https(&ca, None, cluster.control_plane.kubernetes_addr());
    assert_eq!(get(&anonymous, "https://base:6443/api/v1/nodes").await.status(), 401);
    // Authenticated by the cluster CA but not in system:masters: 403, and /version stays open.
    let k8s_ca = CertificateAuthority::from_cert_and_key(&crate::talos_api::bundle().certs.k8s).expect("k8s CA");
    let mut spec = pki::client_cert_spec(&["developers"], None, pki::ADMIN_CERT_VALIDITY);
    spec.common_name = Some("dev".into());
    let dev = pki::issue(&k8s_ca, &spec).expect("the cluster CA signs");
    let dev_http = raw_https(
        &ca,
        Some(format!("{}{}", dev.crt.0, dev.key.0).as_bytes()),
        cluster.control_plane.kubernetes_addr(),
    );
    let response = get(&dev_http, "https://base:6443/api/v1/nodes").await;
    assert_eq!(response.status(), 403);
    let status: serde_json::Value = response.json().await.expect("Status JSON");
    assert_eq!(
        status["message"],
        "forbidden: User \"dev\" cannot get /api/v1/nodes (talos-hcloud sim grants system:masters only)"
    );
    assert_eq!(get(&dev_http, "https://base:6443/version").await.status(), 200);
    let admin_http = crate::talos_api::https_client(
        cluster.kubeconfig.expose(),
        "base",
        cluster.control_plane.kubernetes_addr(),
    );
    let response = admin_http
        .patch(format!("https://base:6443/api/v1/nodes/{a}"))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"metadata":{"labels":{"x":"y"}}}"#)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 422);
    let status: serde_json::Value = response.json().await.expect("Status JSON");
    assert_eq!(status["reason"], "Invalid");
    let response = get(
        &admin_http,
        &format!("https://base:6443/api/v1/pods?fieldSelector=spec.nodeName%3D{a},metadata.namespace%3Ddefault"),
    )
    .await;
    let list: serde_json::Value = response.json().await.expect("PodList");
    assert_eq!(list["kind"], "PodList");
    let names: Vec<_> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["solo"]);
    let response = get(
        &admin_http,
        "https://base:6443/api/v1/pods?fieldSelector=spec.hostNetwork%3Dtrue",
    )
    .await;
    assert_eq!(response.status(), 400);

    cluster.stop().await;
}

/// A plain HTTPS client trusting `ca`, presenting `identity` (certificate and key PEM) if
/// given, with `base` resolving to `addr`.
fn raw_https(ca: &[u8], identity: Option<&[u8]>, addr: std::net::SocketAddr) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca).expect("CA PEM"))
        .resolve("base", addr);
    if let Some(identity) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(identity).expect("identity PEM"));
    }
    builder.build().expect("client builds")
}

async fn get(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client.get(url).send().await.expect("the API answers")
}
