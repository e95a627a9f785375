//! The Talos API client against emulated Talos nodes, over real TLS sockets on distinct
//! 127.x.y.z addresses (issue 5).
//!
//! The machine configurations are Talos's own golden configs (`reference/talos-golden/`),
//! signed by the golden secrets bundle (`tests/fixtures/talos/secrets.yaml`). Nodes are
//! started through `talos_nodes` only: each checks what it receives with talos-hcloud's
//! strict validator, and every configuration a node accepted is checked against the
//! official JSON schema of its Talos version when the test stops it.

use std::net::SocketAddr;
use std::time::Duration;

use talos_hcloud::error::{Classify as _, chain};
use talos_hcloud::redact::Redacted;
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::clock::SimClock;
use talos_hcloud::sim::talos::{ClusterRegistry, EmulatedNode, MachineType, NodeMode};
use talos_hcloud::talos::api::{
    ApplyMode, BootstrapOutcome, CallError, CallOptions, ClientIdentity, Credentials, DetectedMode, MemberListScope,
    RebootMode, ResetOptions, TalosClient, TalosconfigTarget, detect_mode,
};
use talos_hcloud::talos::pki::{self, CaSpec, CertificateAuthority, ExtKeyUsage, KeyUsage, LeafSpec};
use talos_hcloud::talos::secrets::SecretsBundle;
use talos_hcloud::talos::talosconfig::Talosconfig;

use crate::harness::repo_root;
use crate::talos_nodes::{TestNode, next_address, node_options as options, start};

// ---------------------------------------------------------------------------------------
// Test plumbing
// ---------------------------------------------------------------------------------------

pub(crate) fn bundle() -> SecretsBundle {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/talos/secrets.yaml")).expect("golden bundle");
    serde_saphyr::from_str(&text).expect("golden bundle parses")
}

fn os_ca() -> CertificateAuthority {
    CertificateAuthority::from_cert_and_key(&bundle().certs.os).expect("the golden OS CA loads")
}

/// The golden config of a Talos minor version (`v1.11`), `controlplane` or `worker`, as the
/// bytes a node receives.
pub(crate) fn golden(contract: &str, kind: &str) -> Vec<u8> {
    crate::talos_golden::golden(contract, kind).into_bytes()
}

/// A client identity that trusts the golden OS CA and presents `certificate`.
fn identity(certificate: pki::CertAndKey) -> ClientIdentity {
    ClientIdentity {
        ca_pem: bundle().certs.os.crt.0,
        crt_pem: certificate.crt.0,
        key_pem: Redacted::new(certificate.key.0),
    }
}

/// A client certificate with `roles` from the golden OS CA, as talosconfig carries one.
pub(crate) fn with_roles(roles: &[&str]) -> ClientIdentity {
    identity(pki::issue_client_cert(&os_ca(), roles, pki::ADMIN_CERT_VALIDITY).expect("the OS CA signs"))
}

/// The admin identity of the talosconfig talos-hcloud writes for the golden cluster.
pub(crate) fn admin() -> ClientIdentity {
    let talosconfig = Talosconfig::for_cluster(&bundle(), "base", ["127.0.0.1"]).expect("talosconfig");
    TalosconfigTarget::from_talosconfig(&talosconfig, None)
        .expect("its one context is usable")
        .identity
}

pub(crate) fn quick() -> CallOptions {
    CallOptions {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        retry: Policy::api_call(),
    }
}

pub(crate) fn configured_client(node: &EmulatedNode, identity: &ClientIdentity) -> TalosClient {
    TalosClient::new(node.api_addr(), &Credentials::Configured(identity.clone()), quick())
        .expect("credentials are valid")
}

/// Starts a node of Talos `version` in `registry`'s clusters and configures it through the
/// maintenance API with the golden `kind` config of its minor version (`controlplane`,
/// `worker`).
pub(crate) async fn start_configured(
    registry: &std::sync::Arc<ClusterRegistry>,
    version: &str,
    kind: &str,
) -> TestNode {
    let node = start(options(version, registry)).await;
    let contract = version.rsplit_once('.').map_or(version, |(minor, _)| minor);
    maintenance_client(&node, None)
        .apply_configuration(&golden(contract, kind), ApplyMode::Auto)
        .await
        .expect("configured through the maintenance API");
    node
}

pub(crate) fn maintenance_client(
    node: &EmulatedNode,
    pin: Option<talos_hcloud::talos::api::SpkiSha256>,
) -> TalosClient {
    TalosClient::new(node.api_addr(), &Credentials::Maintenance { pin }, quick()).expect("no credentials to refuse")
}

/// An HTTPS client that trusts the kubeconfig's CA, presents its client certificate and
/// resolves the endpoint host to the node's Kubernetes API address.
pub(crate) fn https_client(kubeconfig: &[u8], endpoint_host: &str, kube_addr: SocketAddr) -> reqwest::Client {
    use base64::Engine as _;
    let config: serde_json::Value = serde_saphyr::from_slice(kubeconfig).expect("kubeconfig is YAML");
    let data = |section: &str, entry: &str, key: &str| -> Vec<u8> {
        let value = config[section][0][entry][key]
            .as_str()
            .unwrap_or_else(|| panic!("{section}[0].{entry}.{key}"));
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .expect("base64 data")
    };
    let ca = data("clusters", "cluster", "certificate-authority-data");
    let mut identity_pem = data("users", "user", "client-certificate-data");
    identity_pem.extend(data("users", "user", "client-key-data"));
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA PEM"))
        .identity(reqwest::Identity::from_pem(&identity_pem).expect("identity PEM"))
        .resolve(endpoint_host, kube_addr)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

// ---------------------------------------------------------------------------------------
// Maintenance → configured, every call with the admin certificate
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn maintenance_apply_then_every_configured_call() {
    let registry = ClusterRegistry::new();
    let node = start(options("v1.11.6", &registry)).await;
    assert_eq!(node.mode(), NodeMode::Maintenance);

    // Maintenance mode: answered without a client certificate; remember the server key.
    let DetectedMode::Maintenance { server_key } = detect_mode(node.api_addr(), quick()).await.expect("detects") else {
        panic!("a fresh node is in maintenance mode");
    };
    let maintenance = maintenance_client(&node, Some(server_key));
    let disks = maintenance.disks().await.expect("Disks answers in maintenance");
    assert_eq!(disks[0].device_name, "/dev/sda");
    assert!(!disks[0].system_disk);
    // v1.10–v1.12 maintenance: Version is admin-only, so "not implemented" for everyone.
    let version = maintenance
        .version()
        .await
        .expect_err("Version is not served in v1.11 maintenance");
    assert_eq!(version.code(), Some(tonic::Code::Unimplemented));
    assert!(
        chain(&version)[1].contains("API is not implemented in maintenance mode"),
        "{:?}",
        chain(&version)
    );
    // A mode the v1.11 maintenance server refuses.
    let staged = maintenance
        .apply_configuration(&golden("v1.11", "controlplane"), ApplyMode::Staged)
        .await
        .expect_err("STAGED is not accepted in maintenance");
    assert_eq!(staged.code(), Some(tonic::Code::Unimplemented));
    // A broken config is refused with InvalidArgument and the decoder's reason.
    let broken = maintenance
        .apply_configuration(b"version: v1alpha1\nmachine: {type: worker}\n", ApplyMode::Auto)
        .await
        .expect_err("incomplete config");
    assert_eq!(broken.code(), Some(tonic::Code::InvalidArgument));
    assert!(
        chain(&broken)[1].starts_with("InvalidArgument: 3 errors in the machine config:\n")
            && chain(&broken)[1].contains("cluster instructions are required"),
        "{:?}",
        chain(&broken)
    );

    let applied = maintenance
        .apply_configuration(&golden("v1.11", "controlplane"), ApplyMode::Auto)
        .await
        .expect("maintenance apply");
    assert_eq!(applied.warnings, Vec::<String>::new());
    assert_eq!(node.mode(), NodeMode::Configured(MachineType::ControlPlane));
    assert_eq!(
        detect_mode(node.api_addr(), quick()).await.expect("detects"),
        DetectedMode::Configured
    );

    // Configured mode with the admin certificate.
    let admin = configured_client(&node, &admin());
    let version = admin
        .wait_ready(Duration::from_secs(10))
        .await
        .expect("apid is back in configured mode");
    assert_eq!(version.tag, "v1.11.6");
    assert_eq!(
        (version.platform.as_str(), version.platform_mode.as_str()),
        ("hcloud", "cloud")
    );
    assert!(version.rbac);
    let disks = admin.disks().await.expect("Disks with admin");
    assert!(disks[0].system_disk, "installed");

    let services = admin.services().await.expect("ServiceList");
    let etcd = services
        .iter()
        .find(|s| s.id == "etcd")
        .expect("control planes run etcd");
    assert_eq!((etcd.state.as_str(), etcd.healthy), ("Preparing", Some(false)));
    let members = admin
        .etcd_members(MemberListScope::Cluster)
        .await
        .expect_err("no etcd yet");
    assert_eq!(members.code(), Some(tonic::Code::FailedPrecondition));

    assert_eq!(
        admin.bootstrap().await.expect("bootstrap"),
        BootstrapOutcome::Bootstrapped
    );
    assert_eq!(
        admin.bootstrap().await.expect("second bootstrap"),
        BootstrapOutcome::AlreadyBootstrapped
    );

    let members = admin.etcd_members(MemberListScope::Cluster).await.expect("member list");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].peer_urls, [format!("https://{}:2380", node.address())]);
    assert!(
        members[0].hostname.starts_with("talos-"),
        "stable hostname: {}",
        members[0].hostname
    );
    let services = admin.services().await.expect("ServiceList");
    let etcd = services.iter().find(|s| s.id == "etcd").expect("etcd");
    assert_eq!((etcd.state.as_str(), etcd.healthy), ("Running", Some(true)));

    // Kubeconfig: a real HTTPS request with its CA and client certificate.
    let kubeconfig = admin.kubeconfig().await.expect("kubeconfig");
    let text = String::from_utf8(kubeconfig.expose().clone()).expect("YAML text");
    assert!(text.contains("server: https://base:6443"), "{text}");
    assert!(text.contains("current-context: admin@base"), "{text}");
    let https = https_client(kubeconfig.expose(), "base", node.kubernetes_addr());
    let readyz = https
        .get("https://base:6443/readyz")
        .send()
        .await
        .expect("readyz answers");
    assert_eq!(readyz.status(), 200);
    assert_eq!(readyz.text().await.expect("body"), "ok");
    let whoami: serde_json::Value = https
        .post("https://base:6443/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .send()
        .await
        .expect("whoami answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(whoami["status"]["userInfo"]["username"], "admin");
    assert_eq!(whoami["status"]["userInfo"]["groups"][0], "system:masters");
    let version: serde_json::Value = https
        .get("https://base:6443/version")
        .send()
        .await
        .expect("version answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(version["gitVersion"], "v1.28.0", "from cluster.apiServer.image");

    // Reboot: apid restarts, etcd membership survives.
    admin.reboot(RebootMode::Default).await.expect("reboot");
    admin
        .wait_ready(Duration::from_secs(10))
        .await
        .expect("back after reboot");
    let after = admin
        .etcd_members(MemberListScope::Cluster)
        .await
        .expect("member list after reboot");
    assert_eq!(after, members);

    // Reset of the last control plane: a graceful one cannot leave etcd (no quorum after).
    let graceful = admin
        .reset(&ResetOptions::default())
        .await
        .expect_err("the last member cannot leave");
    assert_eq!(graceful.code(), Some(tonic::Code::FailedPrecondition));
    assert!(
        chain(&graceful)[1].contains("failed to leave the etcd cluster"),
        "{:?}",
        chain(&graceful)
    );
    let actor = admin
        .reset(&ResetOptions {
            graceful: false,
            ..ResetOptions::default()
        })
        .await
        .expect("forced reset");
    assert_eq!(actor.len(), 36, "a UUID-shaped actor ID: {actor}");
    assert_eq!(node.mode(), NodeMode::Maintenance);

    // Back in maintenance with a new ephemeral key: the old pin no longer matches.
    let pinned = maintenance_client(&node, Some(server_key));
    let mismatch = pinned.disks().await.expect_err("a different server key");
    match mismatch.call_error() {
        Some(CallError::PinMismatch { pinned, seen }) => {
            assert_eq!(*pinned, server_key);
            assert_ne!(*seen, server_key);
        }
        other => panic!("expected a pin mismatch, got {other:?}"),
    }
    assert_eq!(mismatch.code(), Some(tonic::Code::Unavailable));
    assert!(
        maintenance_client(&node, None).disks().await.is_ok(),
        "unpinned still works"
    );

    node.stop().await;
}

// ---------------------------------------------------------------------------------------
// Client certificates: wrong CA, wrong key usage, reader role
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn client_certificates_are_checked_by_ca_usage_and_role() {
    let registry = ClusterRegistry::new();
    let mut opts = options("v1.12.11", &registry);
    opts.installed_config = Some(golden("v1.12", "controlplane"));
    let node = start(opts).await;
    let no_retry = CallOptions {
        retry: Policy::none(),
        ..quick()
    };

    // The admin certificate works.
    configured_client(&node, &admin())
        .version()
        .await
        .expect("admin is accepted");

    // Another CA's certificate: refused in the TLS handshake.
    let other_ca = CertificateAuthority::generate(&CaSpec::ephemeral(Duration::from_secs(3600))).expect("ca");
    let stranger = identity(pki::issue_client_cert(&other_ca, &["os:admin"], pki::ADMIN_CERT_VALIDITY).expect("signs"));
    let error = TalosClient::new(node.api_addr(), &Credentials::Configured(stranger), no_retry)
        .expect("valid PEM")
        .version()
        .await
        .expect_err("unknown CA");
    assert!(error.is_client_certificate_rejected(), "{:?}", chain(&error));
    assert_eq!(error.code(), Some(tonic::Code::Unavailable));
    assert_eq!(
        chain(&error)[0],
        format!("while reading the Talos version on {}", node.address())
    );

    // The right CA but ExtKeyUsage serverAuth+clientAuth: apid wants exactly clientAuth.
    let both = pki::issue(
        &os_ca(),
        &LeafSpec {
            organizations: vec!["os:admin".into()],
            key_usage: vec![KeyUsage::DigitalSignature],
            ext_key_usage: vec![ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth],
            validity: pki::ADMIN_CERT_VALIDITY,
            ..LeafSpec::default()
        },
    )
    .expect("the OS CA signs");
    let wrong_usage = identity(both);
    let error = TalosClient::new(node.api_addr(), &Credentials::Configured(wrong_usage), no_retry)
        .expect("valid PEM")
        .version()
        .await
        .expect_err("wrong key usage");
    assert!(error.is_client_certificate_rejected(), "{:?}", chain(&error));
    assert!(error.hints()[0].contains("clientAuth"), "{:?}", error.hints());

    // No client certificate at all (maintenance credentials against a configured node).
    let error = TalosClient::new(node.api_addr(), &Credentials::Maintenance { pin: None }, no_retry)
        .expect("no PEM")
        .version()
        .await
        .expect_err("configured apid requires a client certificate");
    assert!(error.is_client_certificate_rejected(), "{:?}", chain(&error));

    // os:reader: reads work, writes are denied with PermissionDenied "not authorized".
    let reader = with_roles(&["os:reader"]);
    let reader = configured_client(&node, &reader);
    assert_eq!(reader.version().await.expect("readers may read").tag, "v1.12.11");
    reader.services().await.expect("readers may list services");
    for (what, error) in [
        ("bootstrap", reader.bootstrap().await.expect_err("write")),
        (
            "reset",
            reader
                .reset(&ResetOptions::default())
                .await
                .map(|_| ())
                .expect_err("write"),
        ),
        (
            "kubeconfig",
            reader.kubeconfig().await.map(|_| ()).expect_err("admin only"),
        ),
        (
            "apply",
            reader
                .apply_configuration(&golden("v1.12", "controlplane"), ApplyMode::NoReboot)
                .await
                .map(|_| ())
                .expect_err("write"),
        ),
        (
            "reboot",
            reader
                .reboot(RebootMode::Default)
                .await
                .map(|_| ())
                .expect_err("operator+"),
        ),
    ] {
        assert_eq!(
            error.code(),
            Some(tonic::Code::PermissionDenied),
            "{what}: {:?}",
            chain(&error)
        );
        assert!(
            chain(&error)[1].ends_with("not authorized"),
            "{what}: {:?}",
            chain(&error)
        );
        assert!(
            matches!(error.call_error(), Some(CallError::Status(_))),
            "{what}: {error:?}"
        );
        match &error {
            talos_hcloud::talos::api::Error::Call { attempts, .. } => assert_eq!(*attempts, 1, "{what}: never retried"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(
        node.mode(),
        NodeMode::Configured(MachineType::ControlPlane),
        "nothing was changed"
    );

    // A configured-mode client talking to a maintenance node does not trust its certificate.
    let fresh = start(options("v1.12.11", &registry)).await;
    let error = TalosClient::new(fresh.api_addr(), &Credentials::Configured(admin()), no_retry)
        .expect("valid PEM")
        .version()
        .await
        .expect_err("self-signed maintenance certificate");
    assert!(
        matches!(error.call_error(), Some(CallError::ServerNotTrusted { .. })),
        "{:?}",
        chain(&error)
    );
    fresh.stop().await;
    node.stop().await;
}

// ---------------------------------------------------------------------------------------
// Workers: bootstrap refused, certificates from the control plane, `node` proxying
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bootstrap_on_a_worker_is_a_clear_error_and_node_header_proxies() {
    let registry = ClusterRegistry::new();
    let mut cp = options("v1.13.9", &registry);
    cp.installed_config = Some(golden("v1.13", "controlplane"));
    let cp = start(cp).await;
    // The worker config has no OS CA key: its apid certificate comes from the control plane.
    let worker = start(options("v1.13.9", &registry)).await;
    let maintenance = maintenance_client(&worker, None);
    // v1.13+: readers may call Version in maintenance.
    assert_eq!(
        maintenance.version().await.expect("v1.13 maintenance Version").tag,
        "v1.13.9"
    );
    maintenance
        .apply_configuration(&golden("v1.13", "worker"), ApplyMode::Auto)
        .await
        .expect("worker config applied");
    assert_eq!(worker.mode(), NodeMode::Configured(MachineType::Worker));

    let admin = admin();
    let to_worker = configured_client(&worker, &admin);
    to_worker
        .wait_ready(Duration::from_secs(10))
        .await
        .expect("worker apid up");
    let error = to_worker.bootstrap().await.expect_err("workers cannot bootstrap");
    assert_eq!(error.code(), Some(tonic::Code::FailedPrecondition));
    assert_eq!(
        chain(&error),
        [
            format!("while bootstrapping etcd on {}", worker.address()),
            "FailedPrecondition: bootstrap can only be performed on a control plane node".to_string(),
        ]
    );
    let error = to_worker.kubeconfig().await.expect_err("no kubeconfig on workers");
    assert_eq!(error.code(), Some(tonic::Code::FailedPrecondition));
    let error = to_worker.etcd_snapshot().await.expect_err("no etcd on workers");
    assert_eq!(
        chain(&error),
        [
            format!("while taking an etcd snapshot on {}", worker.address()),
            "Unimplemented: etcd snapshot is only available on control plane nodes".to_string(),
        ]
    );

    // Through the control plane to the worker with the `node` header.
    let via_cp = configured_client(&cp, &admin);
    let version = via_cp
        .with_node(worker.address())
        .version()
        .await
        .expect("proxied Version");
    assert_eq!(version.tag, "v1.13.9");
    let worker_services = via_cp
        .with_node(worker.address())
        .services()
        .await
        .expect("proxied ServiceList");
    assert!(
        !worker_services.iter().any(|s| s.id == "etcd"),
        "answered by the worker: {worker_services:?}"
    );
    let cp_services = via_cp
        .with_node(cp.address())
        .services()
        .await
        .expect("own address is local");
    assert!(
        cp_services.iter().any(|s| s.id == "etcd"),
        "answered by the control plane"
    );
    let proxied = via_cp
        .with_node(worker.address())
        .bootstrap()
        .await
        .expect_err("proxied bootstrap");
    assert_eq!(
        proxied.code(),
        Some(tonic::Code::FailedPrecondition),
        "upstream error passes through"
    );
    assert_eq!(
        chain(&proxied)[0],
        format!("while bootstrapping etcd on {}", worker.address())
    );
    // Roles travel with the proxied call: a reader stays a reader on the target.
    let reader = with_roles(&["os:reader"]);
    let denied = configured_client(&cp, &reader)
        .with_node(worker.address())
        .reboot(RebootMode::Default)
        .await
        .expect_err("reader cannot reboot the target");
    assert_eq!(denied.code(), Some(tonic::Code::PermissionDenied));
    // A worker cannot forward.
    let error = to_worker
        .with_node(cp.address())
        .version()
        .await
        .expect_err("workers do not proxy");
    assert_eq!(error.code(), Some(tonic::Code::PermissionDenied));
    assert!(
        chain(&error)[1].contains("no request forwarding"),
        "{:?}",
        chain(&error)
    );

    worker.stop().await;
    cp.stop().await;
}

// ---------------------------------------------------------------------------------------
// Three control planes: membership, removal, quorum
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn three_control_planes_membership_removal_and_quorum() {
    let registry = ClusterRegistry::new();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start_configured(&registry, "v1.12.11", "controlplane").await);
    }
    let admin = admin();
    let clients: Vec<_> = nodes.iter().map(|n| configured_client(n, &admin)).collect();
    for client in &clients {
        client.wait_ready(Duration::from_secs(10)).await.expect("configured");
    }
    assert_eq!(
        clients[0].bootstrap().await.expect("bootstrap"),
        BootstrapOutcome::Bootstrapped
    );
    assert_eq!(
        clients[1].bootstrap().await.expect("bootstrap elsewhere"),
        BootstrapOutcome::AlreadyBootstrapped
    );

    // Everyone joined; every node sees the same list.
    let members = clients[1]
        .etcd_members(MemberListScope::Cluster)
        .await
        .expect("member list");
    assert_eq!(members.len(), 3);
    for node in &nodes {
        assert!(
            members
                .iter()
                .any(|m| m.peer_urls == [format!("https://{}:2380", node.address())]),
            "{} is a member",
            node.address()
        );
    }
    let cluster = nodes[0].cluster().expect("configured");
    assert!(cluster.quorum().has_quorum());

    // Node 3 leaves; its etcd no longer answers; two members remain.
    clients[2].etcd_leave_cluster().await.expect("leave");
    let error = clients[2].etcd_members(MemberListScope::Local).await.expect_err("left");
    assert_eq!(error.code(), Some(tonic::Code::FailedPrecondition));
    assert_eq!(
        clients[0]
            .etcd_members(MemberListScope::Cluster)
            .await
            .expect("list")
            .len(),
        2
    );

    // Node 2 goes down: 1 of 2 healthy → no quorum, reported as Unavailable; the local
    // (serializable) view still answers; /readyz fails.
    let kubeconfig = clients[0].kubeconfig().await.expect("kubeconfig");
    let https = https_client(kubeconfig.expose(), "base", nodes[0].kubernetes_addr());
    assert_eq!(
        https
            .get("https://base:6443/readyz")
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );
    nodes[1].power_off();
    let quorum = cluster.quorum();
    assert_eq!(
        (quorum.members, quorum.healthy, quorum.needed, quorum.has_quorum()),
        (2, 1, 2, false)
    );
    let no_quorum = CallOptions {
        retry: Policy::none(),
        ..quick()
    };
    let error = clients[0]
        .with_options(no_quorum)
        .etcd_members(MemberListScope::Cluster)
        .await
        .expect_err("no quorum");
    assert_eq!(error.code(), Some(tonic::Code::Unavailable));
    assert!(
        chain(&error)[1].contains("quorum lost: 1 of 2 members healthy, 2 needed"),
        "{:?}",
        chain(&error)
    );
    let local = clients[0]
        .etcd_members(MemberListScope::Local)
        .await
        .expect("local view");
    assert_eq!(local.len(), 2);
    let readyz = https
        .get("https://base:6443/readyz")
        .send()
        .await
        .expect("readyz answers");
    assert_eq!(readyz.status(), 500);
    let services = clients[0].services().await.expect("services");
    let etcd = services.iter().find(|s| s.id == "etcd").expect("etcd");
    assert_eq!(etcd.healthy, Some(false));

    // Without quorum no member can be removed either.
    let dead = local
        .iter()
        .find(|m| m.peer_urls[0].contains(&nodes[1].address().to_string()))
        .expect("node 2");
    let error = clients[0]
        .with_options(no_quorum)
        .etcd_remove_member(dead.id)
        .await
        .expect_err("no quorum");
    assert_eq!(error.code(), Some(tonic::Code::Unavailable));

    // Node 2 back: quorum again; then remove it by ID: one healthy member of one.
    nodes[1].power_on().expect("boots");
    assert!(cluster.quorum().has_quorum());
    assert_eq!(
        https
            .get("https://base:6443/readyz")
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );
    clients[0].etcd_remove_member(dead.id).await.expect("remove by ID");
    let remaining = clients[0].etcd_members(MemberListScope::Cluster).await.expect("list");
    assert_eq!(remaining.len(), 1);
    assert!(remaining[0].peer_urls[0].contains(&nodes[0].address().to_string()));
    assert_eq!(
        clients[0]
            .etcd_remove_member(dead.id)
            .await
            .expect_err("already gone")
            .code(),
        Some(tonic::Code::NotFound)
    );
    assert!(cluster.quorum().has_quorum(), "1 of 1 is a quorum");

    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn a_removal_that_would_lose_quorum_is_refused() {
    let registry = ClusterRegistry::new();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let mut opts = options("v1.10.9", &registry);
        opts.installed_config = Some(golden("v1.10", "controlplane"));
        nodes.push(start(opts).await);
    }
    let admin = admin();
    let first = configured_client(&nodes[0], &admin);
    first.bootstrap().await.expect("bootstrap");
    let members = first.etcd_members(MemberListScope::Cluster).await.expect("list");
    assert_eq!(members.len(), 3);
    nodes[2].power_off();
    let healthy_other = members
        .iter()
        .find(|m| m.peer_urls[0].contains(&nodes[1].address().to_string()))
        .expect("node 2 is a member");
    let error = first
        .etcd_remove_member(healthy_other.id)
        .await
        .expect_err("would leave 1 of 2");
    assert_eq!(error.code(), Some(tonic::Code::FailedPrecondition));
    assert!(chain(&error)[1].contains("unhealthy cluster"), "{:?}", chain(&error));
    assert_eq!(
        first.etcd_members(MemberListScope::Cluster).await.expect("list").len(),
        3
    );
    for node in nodes {
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------
// etcd for node replacement: snapshots, graceful leave, removing a dead member (issue 12)
// ---------------------------------------------------------------------------------------

/// Three control planes of the golden v1.12 cluster, bootstrapped, with admin clients.
async fn three_bootstrapped(registry: &std::sync::Arc<ClusterRegistry>) -> (Vec<TestNode>, Vec<TalosClient>) {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let mut opts = options("v1.12.11", registry);
        opts.installed_config = Some(golden("v1.12", "controlplane"));
        nodes.push(start(opts).await);
    }
    let admin = admin();
    let clients: Vec<_> = nodes.iter().map(|n| configured_client(n, &admin)).collect();
    clients[0].bootstrap().await.expect("bootstrap");
    assert_eq!(cluster_members(&clients[0]).await.len(), 3);
    (nodes, clients)
}

/// The cluster's etcd members as `client`'s target sees them.
async fn cluster_members(client: &TalosClient) -> Vec<talos_hcloud::talos::api::EtcdMember> {
    client
        .etcd_members(MemberListScope::Cluster)
        .await
        .expect("member list")
}

#[tokio::test]
async fn an_etcd_snapshot_is_saved_0600_checked_and_taken_without_quorum() {
    use std::os::unix::fs::PermissionsExt as _;
    use talos_hcloud::node::{SnapshotError, etcd_snapshot::verify, save_etcd_snapshot};
    use talos_hcloud::secure_file::{self, Overwrite};

    let registry = ClusterRegistry::new();
    let (nodes, clients) = three_bootstrapped(&registry).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("backups/etcd.snapshot");

    let saved = save_etcd_snapshot(&clients[0], &path, Overwrite::Refuse)
        .await
        .expect("snapshot saved");
    let mode = std::fs::metadata(&path).expect("written").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let bytes = std::fs::read(&path).expect("readable by us");
    assert_eq!(saved.size, bytes.len() as u64);
    assert_eq!(verify(&bytes), Ok(saved.db_sha256.clone()));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("talos-hcloud sim etcd snapshot\n"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("- ")).count(), 3, "three members");
    assert_eq!(bytes.len() % 512, 32, "whole pages and the SHA-256 trailer");

    // An existing snapshot is never replaced unasked.
    let error = save_etcd_snapshot(&clients[0], &path, Overwrite::Refuse)
        .await
        .expect_err("exists");
    assert!(
        matches!(error, SnapshotError::Write(secure_file::Error::AlreadyExists { .. })),
        "{error:?}"
    );
    assert_eq!(std::fs::read(&path).expect("kept"), bytes);

    // Roles: a reader may not, `os:etcd:backup` may.
    let elsewhere = dir.path().join("reader.snapshot");
    let reader = configured_client(&nodes[0], &with_roles(&["os:reader"]));
    let error = save_etcd_snapshot(&reader, &elsewhere, Overwrite::Refuse)
        .await
        .expect_err("reader");
    let SnapshotError::Call(call) = &error else {
        panic!("a call failure, not {error:?}");
    };
    assert_eq!(call.code(), Some(tonic::Code::PermissionDenied));
    assert!(!elsewhere.exists());
    let backup = configured_client(&nodes[1], &with_roles(&["os:etcd:backup"]));
    save_etcd_snapshot(&backup, &elsewhere, Overwrite::Refuse)
        .await
        .expect("the backup role may");

    // Two of three down: no quorum, yet the local member still hands out its database.
    nodes[1].power_off();
    nodes[2].power_off();
    assert!(!nodes[0].cluster().expect("configured").quorum().has_quorum());
    let again = save_etcd_snapshot(&clients[0], &path, Overwrite::Replace)
        .await
        .expect("snapshot without quorum");
    assert_eq!(again.db_sha256, saved.db_sha256, "the same database");

    // A powered-off member has nothing to give.
    let error = clients[1]
        .with_options(CallOptions {
            retry: Policy::none(),
            ..quick()
        })
        .etcd_snapshot()
        .await
        .expect_err("down");
    assert_eq!(error.code(), Some(tonic::Code::Unavailable));

    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn a_control_plane_leaves_gracefully_and_a_dead_one_is_removed_by_id_once() {
    use talos_hcloud::node::{MemberRemoval, ensure_member_removed};

    let registry = ClusterRegistry::new();
    let (nodes, clients) = three_bootstrapped(&registry).await;
    let cluster = nodes[0].cluster().expect("configured");
    let member_of = |members: &[talos_hcloud::talos::api::EtcdMember], node: &TestNode| {
        members
            .iter()
            .find(|m| m.peer_urls == [format!("https://{}:2380", node.address())])
            .map(|m| m.id)
    };
    let members = cluster_members(&clients[0]).await;
    let leaving = member_of(&members, &nodes[2]).expect("node 3 is a member");

    // Graceful: node 3 leaves etcd, then is reset (wiped, rebooted into maintenance).
    clients[2].etcd_leave_cluster().await.expect("leave");
    let members = cluster_members(&clients[0]).await;
    assert_eq!(members.len(), 2);
    assert_eq!(member_of(&members, &nodes[2]), None);
    clients[2]
        .reset(&ResetOptions::default())
        .await
        .expect("graceful reset after leaving");
    assert_eq!(nodes[2].mode(), NodeMode::Maintenance);
    let quorum = cluster.quorum();
    assert_eq!((quorum.members, quorum.healthy), (2, 2));

    // Its replacement (same address, same config) joins as a new member.
    maintenance_client(&nodes[2], None)
        .apply_configuration(&golden("v1.12", "controlplane"), ApplyMode::Auto)
        .await
        .expect("configured again");
    let members = cluster_members(&clients[0]).await;
    assert_eq!(members.len(), 3);
    let rejoined = member_of(&members, &nodes[2]).expect("joined again");
    assert_ne!(rejoined, leaving, "a new member ID");

    // Dead: node 2 crashes; its member is removed by ID through node 1.
    nodes[1].power_off();
    let dead = member_of(&members, &nodes[1]).expect("node 2 is a member");
    assert_eq!(cluster.quorum().healthy, 2);
    assert_eq!(
        ensure_member_removed(&clients[0], dead).await.expect("removed"),
        MemberRemoval::Removed
    );
    let members = cluster_members(&clients[0]).await;
    assert_eq!(members.len(), 2);
    assert_eq!(member_of(&members, &nodes[1]), None);
    let quorum = cluster.quorum();
    assert_eq!((quorum.members, quorum.healthy, quorum.has_quorum()), (2, 2, true));

    // Removing it again is harmless through ensure_member_removed and clear through the
    // raw call.
    assert_eq!(
        ensure_member_removed(&clients[2], dead).await.expect("nothing to do"),
        MemberRemoval::AlreadyGone
    );
    let error = clients[0].etcd_remove_member(dead).await.expect_err("already gone");
    assert_eq!(error.code(), Some(tonic::Code::NotFound));
    assert_eq!(
        chain(&error),
        [
            format!("while removing an etcd member on {}", nodes[0].address()),
            "NotFound: etcdserver: member not found".to_string(),
        ]
    );
    assert_eq!(cluster_members(&clients[0]).await.len(), 2);

    // The dead machine coming back with its stale data does not rejoin on its own.
    nodes[1].power_on().expect("boots");
    assert_eq!(cluster_members(&clients[0]).await.len(), 2);

    for node in nodes {
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------
// The strict validator: what Talos refuses, the node refuses
// ---------------------------------------------------------------------------------------

/// `text` with `from` replaced by `to`, which must occur.
fn edited(text: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(text).expect("golden configs are text");
    assert!(text.contains(from), "the golden config has {from:?}");
    text.replacen(from, to, 1).into_bytes()
}

#[tokio::test]
async fn the_strict_validator_refuses_what_talos_refuses_with_invalid_argument() {
    let registry = ClusterRegistry::new();
    let node = start(options("v1.11.6", &registry)).await;
    let maintenance = maintenance_client(&node, None);
    let worker = golden("v1.11", "worker");
    let refusals = [
        (
            "misspelled key",
            edited(&worker, "    install:\n", "    instal:\n"),
            "unknown key \"instal\" (did you mean \"install\"?)",
        ),
        (
            "wrong type",
            edited(&worker, "    certSANs: []\n", "    certSANs: {first: 10.0.0.1}\n"),
            "certSANs",
        ),
        (
            "VIP on a worker",
            edited(
                &worker,
                "    network: {}\n",
                "    network:\n        interfaces:\n            - interface: eth0\n              dhcp: true\n              vip:\n                  ip: 10.0.0.100\n",
            ),
            "virtual (shared) IP is not allowed on non-controlplane nodes",
        ),
    ];
    for (what, config, expected) in &refusals {
        let error = maintenance
            .apply_configuration(config, ApplyMode::Auto)
            .await
            .expect_err(what);
        assert_eq!(
            error.code(),
            Some(tonic::Code::InvalidArgument),
            "{what}: {:?}",
            chain(&error)
        );
        assert!(chain(&error)[1].contains(expected), "{what}: {:?}", chain(&error));
        assert_eq!(
            error.class(),
            talos_hcloud::error::Class::InvalidInput,
            "{what}: exit 2"
        );
        assert_eq!(node.mode(), NodeMode::Maintenance, "{what}: nothing installed");
    }
    let received = node.received_configs();
    assert_eq!(received.len(), refusals.len());
    assert!(received.iter().all(|c| c.outcome.is_err()), "{received:?}");

    // Configured mode refuses the same way and keeps the installed config.
    maintenance
        .apply_configuration(&golden("v1.11", "controlplane"), ApplyMode::Auto)
        .await
        .expect("the golden control plane is valid");
    let admin = configured_client(&node, &admin());
    admin.wait_ready(Duration::from_secs(10)).await.expect("configured");
    let typo = edited(&golden("v1.11", "controlplane"), "    kubelet:\n", "    kublet:\n");
    let error = admin
        .apply_configuration(&typo, ApplyMode::NoReboot)
        .await
        .expect_err("misspelled key");
    assert_eq!(error.code(), Some(tonic::Code::InvalidArgument));
    assert!(
        chain(&error)[1].contains("unknown key \"kublet\" (did you mean \"kubelet\"?)"),
        "{:?}",
        chain(&error)
    );
    assert_eq!(node.received_configs().last().map(|c| c.outcome.is_err()), Some(true));
    assert_eq!(node.mode(), NodeMode::Configured(MachineType::ControlPlane));
    node.stop().await;
}

#[tokio::test]
async fn a_config_the_schema_rejects_fails_the_test_that_fed_it() {
    // Talos v1.12 still accepts `machine.features.rbac` (hidden), the official schema
    // does not list it: the node takes the config, the schema check must not.
    let registry = ClusterRegistry::new();
    let mut opts = options("v1.12.11", &registry);
    opts.installed_config = Some(edited(
        &golden("v1.12", "controlplane"),
        "    features:\n",
        "    features:\n        rbac: true\n",
    ));
    let node = start(opts).await;
    assert_eq!(node.mode(), NodeMode::Configured(MachineType::ControlPlane));
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(node)));
    let message = dropped.expect_err("the schema check on drop fails");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| "a non-text panic".into());
    assert!(message.contains("not valid under the Talos v1.12 schema"), "{message}");
    assert!(message.contains("rbac"), "{message}");
}

// ---------------------------------------------------------------------------------------
// talosconfig → endpoints and client identity
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_talosconfig_from_for_cluster_reaches_the_node() {
    let registry = ClusterRegistry::new();
    let mut opts = options("v1.13.9", &registry);
    opts.installed_config = Some(golden("v1.13", "controlplane"));
    let node = start(opts).await;

    // As written to disk and read back, the way an operator's file comes in.
    let written = Talosconfig::for_cluster(&bundle(), "base", [node.address()])
        .expect("talosconfig")
        .to_yaml()
        .expect("serializes");
    let talosconfig = Talosconfig::from_yaml(&written).expect("parses");
    let target = TalosconfigTarget::from_talosconfig(&talosconfig, None).expect("usable");
    assert_eq!(target.context, "base");
    assert_eq!(target.endpoints, [node.api_addr()]);
    let clients = target.clients(quick()).expect("credentials load");
    let version = clients[0].version().await.expect("the admin certificate is accepted");
    assert_eq!(version.tag, "v1.13.9");
    clients[0].bootstrap().await.expect("admins may bootstrap");
    let kubeconfig = clients[0].kubeconfig().await.expect("admins get the kubeconfig");
    assert!(!kubeconfig.expose().is_empty());

    let err = TalosconfigTarget::from_talosconfig(&talosconfig, Some("prod")).expect_err("no such context");
    assert_eq!(err.to_string(), "the talosconfig has no context `prod`");
    assert_eq!(err.hints(), ["contexts in the file: base"]);
    node.stop().await;
}

// ---------------------------------------------------------------------------------------
// Boot from Hetzner user data
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn user_data_configures_at_boot_and_bad_user_data_keeps_apid_down() {
    use base64::Engine as _;
    use std::io::Write as _;
    let registry = ClusterRegistry::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&golden("v1.11", "controlplane")).expect("in memory");
    let packed = base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("in memory"));
    let mut opts = options("v1.11.6", &registry);
    opts.user_data = Some(packed.into_bytes());
    let node = start(opts).await;
    assert_eq!(node.mode(), NodeMode::Configured(MachineType::ControlPlane));
    configured_client(&node, &admin())
        .version()
        .await
        .expect("configured from user data");

    // Reset wipes STATE, but the platform user data configures the node again at boot.
    configured_client(&node, &admin())
        .reset(&ResetOptions {
            graceful: false,
            ..ResetOptions::default()
        })
        .await
        .expect("reset");
    assert_eq!(node.mode(), NodeMode::Configured(MachineType::ControlPlane));
    node.set_user_data(None);
    node.reboot().expect("reboot keeps the installed config");
    assert_eq!(node.mode(), NodeMode::Configured(MachineType::ControlPlane));
    node.stop().await;

    let mut opts = options("v1.11.6", &registry);
    opts.user_data = Some(b"#cloud-config\nusers: []\n".to_vec());
    let broken = start(opts).await;
    assert!(
        matches!(broken.mode(), NodeMode::ConfigFailed(_)),
        "{:?}",
        broken.mode()
    );
    let error = detect_mode(broken.api_addr(), quick()).await.expect_err("apid is down");
    assert_eq!(error.code(), Some(tonic::Code::Unavailable), "{:?}", chain(&error));
    broken.stop().await;
}

#[tokio::test]
async fn a_sole_control_plane_reset_and_configured_again_bootstraps_a_new_etcd() {
    // Once the only control plane is wiped, the cluster no longer counts as bootstrapped:
    // Bootstrap on the re-configured node starts a new etcd instead of answering
    // AlreadyExists (its etcd would wait forever for a cluster that is gone). Talos refuses
    // Bootstrap only when the node's etcd directory is not empty.
    let registry = ClusterRegistry::new();
    let node = start(options("v1.12.11", &registry)).await;
    let admin = configured_client(&node, &admin());
    for round in ["first", "after the reset"] {
        maintenance_client(&node, None)
            .apply_configuration(&golden("v1.12", "controlplane"), ApplyMode::Auto)
            .await
            .expect("maintenance apply");
        admin.wait_ready(Duration::from_secs(10)).await.expect("configured");
        assert_eq!(
            admin.bootstrap().await.expect("bootstrap"),
            BootstrapOutcome::Bootstrapped,
            "{round}"
        );
        let members = admin.etcd_members(MemberListScope::Cluster).await.expect("member list");
        assert_eq!(members.len(), 1, "{round}: {members:?}");
        let services = admin.services().await.expect("services");
        let etcd = services.iter().find(|s| s.id == "etcd").expect("etcd");
        assert_eq!((etcd.state.as_str(), etcd.healthy), ("Running", Some(true)), "{round}");
        admin
            .reset(&ResetOptions {
                graceful: false,
                ..ResetOptions::default()
            })
            .await
            .expect("forced reset");
        assert_eq!(node.mode(), NodeMode::Maintenance);
    }
    node.stop().await;
}

#[tokio::test]
async fn a_try_apply_does_not_revert_a_node_that_was_reset_and_powered_off() {
    // A TRY rollback belongs to its boot: a reset without reboot cancels it, so the timer
    // cannot put the powered-off, wiped node back into configured mode (Kubernetes API
    // listening, registered as a control plane).
    let registry = ClusterRegistry::new();
    let mut opts = options("v1.12.11", &registry);
    opts.installed_config = Some(golden("v1.12", "controlplane"));
    // The rollback timer runs on the node's simulated clock, here stepped by the test.
    let clock = std::sync::Arc::new(SimClock::new(0.0));
    opts.clock = clock.clone();
    let node = start(opts).await;
    let admin = configured_client(&node, &admin());
    admin.bootstrap().await.expect("bootstrap");
    let tried = admin
        .apply_configuration_with(
            &golden("v1.12", "controlplane"),
            talos_hcloud::talos::api::ApplyOptions {
                mode: ApplyMode::Try,
                dry_run: false,
                try_timeout: Some(Duration::from_millis(200)),
            },
        )
        .await
        .expect("try apply");
    assert_eq!(tried.mode, Some(ApplyMode::Try));
    admin
        .reset(&ResetOptions {
            graceful: false,
            reboot: false,
            ..ResetOptions::default()
        })
        .await
        .expect("reset without reboot");
    assert_eq!(node.mode(), NodeMode::PoweredOff);
    // Well past the try timeout: the rollback must not have brought anything back.
    clock.advance(Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(node.mode(), NodeMode::PoweredOff);
    assert!(
        std::net::TcpStream::connect(node.kubernetes_addr()).is_err(),
        "the Kubernetes API of a powered-off node does not listen"
    );
    assert!(node.cluster().is_none(), "the wiped node belongs to no cluster");
    let ids = registry.cluster_ids();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let etcd = registry.cluster(&ids[0]).expect("the cluster is still known");
    assert_eq!(etcd.quorum().healthy, 0, "{:?}", etcd.members());
    node.stop().await;
}

// ---------------------------------------------------------------------------------------
// Wire compatibility: request encodings written out from the reference's field numbers
// ---------------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

#[test]
fn request_encodings_match_reference_field_numbers() {
    use prost::Message as _;
    use talos_hcloud::talos::api::proto::{google_protobuf, machine};

    // ApplyConfigurationRequest: data=1 (bytes), mode=4 (enum), dry_run=5, try_mode_timeout=6.
    let apply = machine::ApplyConfigurationRequest {
        data: b"abc".to_vec(),
        mode: machine::apply_configuration_request::Mode::NoReboot as i32,
        dry_run: true,
        try_mode_timeout: Some(google_protobuf::Duration { seconds: 90, nanos: 0 }),
    };
    assert_eq!(hex(&apply.encode_to_vec()), "0a 03 61 62 63 20 02 28 01 32 02 08 5a");
    // Mode AUTO is 1 and is written even though the caller "just applies".
    let auto = machine::ApplyConfigurationRequest {
        data: b"x".to_vec(),
        mode: machine::apply_configuration_request::Mode::Auto as i32,
        ..Default::default()
    };
    assert_eq!(hex(&auto.encode_to_vec()), "0a 01 78 20 01");

    // BootstrapRequest: recover_etcd=1, recover_skip_hash_check=2.
    let bootstrap = machine::BootstrapRequest {
        recover_etcd: true,
        recover_skip_hash_check: true,
    };
    assert_eq!(hex(&bootstrap.encode_to_vec()), "08 01 10 01");
    assert!(machine::BootstrapRequest::default().encode_to_vec().is_empty());

    // EtcdMemberListRequest: query_local=1.
    assert_eq!(
        hex(&machine::EtcdMemberListRequest { query_local: true }.encode_to_vec()),
        "08 01"
    );
    // EtcdRemoveMemberByIDRequest: member_id=1 (uint64 varint; 300 = ac 02).
    assert_eq!(
        hex(&machine::EtcdRemoveMemberByIdRequest { member_id: 300 }.encode_to_vec()),
        "08 ac 02"
    );
    assert!(machine::EtcdLeaveClusterRequest {}.encode_to_vec().is_empty());

    // ResetRequest: graceful=1, reboot=2, system_partitions_to_wipe=3 {label=1, wipe=2},
    // user_disks_to_wipe=4, mode=5.
    let reset = machine::ResetRequest {
        graceful: true,
        reboot: true,
        system_partitions_to_wipe: vec![machine::ResetPartitionSpec {
            label: "STATE".into(),
            wipe: true,
        }],
        user_disks_to_wipe: vec!["/dev/sdb".into()],
        mode: machine::reset_request::WipeMode::SystemDisk as i32,
    };
    assert_eq!(
        hex(&reset.encode_to_vec()),
        "08 01 10 01 1a 09 0a 05 53 54 41 54 45 10 01 22 08 2f 64 65 76 2f 73 64 62 28 01"
    );

    // RebootRequest: mode=1 (POWERCYCLE = 1, FORCE = 2).
    let reboot = machine::RebootRequest {
        mode: machine::reboot_request::Mode::Powercycle as i32,
    };
    assert_eq!(hex(&reboot.encode_to_vec()), "08 01");
    assert_eq!(
        hex(&machine::RebootRequest {
            mode: machine::reboot_request::Mode::Force as i32
        }
        .encode_to_vec()),
        "08 02"
    );

    // Version / ServiceList / Kubeconfig / Disks take google.protobuf.Empty.
    assert!(google_protobuf::Empty {}.encode_to_vec().is_empty());
}

#[test]
fn response_decodings_match_reference_field_numbers() {
    use prost::Message as _;
    use talos_hcloud::talos::api::proto::{machine, storage};

    fn bytes(hex: &str) -> Vec<u8> {
        hex.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex literal"))
            .collect()
    }

    // EtcdMemberListResponse{messages=1: EtcdMembers{members=3: EtcdMember{id=2: 5, hostname=3: "cp-1"}}}
    let members = machine::EtcdMemberListResponse::decode(bytes("0a 0a 1a 08 10 05 1a 04 63 70 2d 31").as_slice())
        .expect("decodes");
    assert_eq!(members.messages[0].members[0].id, 5);
    assert_eq!(members.messages[0].members[0].hostname, "cp-1");

    // ApplyConfigurationResponse{messages=1: ApplyConfiguration{metadata=1: {hostname=1: "n1",
    // error=2: "boom"}, mode=3: NO_REBOOT}}
    let apply = machine::ApplyConfigurationResponse::decode(
        bytes("0a 0e 0a 0a 0a 02 6e 31 12 04 62 6f 6f 6d 18 02").as_slice(),
    )
    .expect("decodes");
    let message = &apply.messages[0];
    let metadata = message.metadata.as_ref().expect("metadata");
    assert_eq!((metadata.hostname.as_str(), metadata.error.as_str()), ("n1", "boom"));
    assert_eq!(message.mode, 2);

    // VersionResponse{messages=1: Version{version=2: {tag=1: "v1.11.6"}, platform=3: {name=1: "hcloud"}}}
    let version = machine::VersionResponse::decode(
        bytes("0a 15 12 09 0a 07 76 31 2e 31 31 2e 36 1a 08 0a 06 68 63 6c 6f 75 64").as_slice(),
    )
    .expect("decodes");
    let version = &version.messages[0];
    assert_eq!(version.version.as_ref().expect("version").tag, "v1.11.6");
    assert_eq!(version.platform.as_ref().expect("platform").name, "hcloud");

    // DisksResponse{messages=1: Disks{disks=2: Disk{size=1: 10, device_name=3: "/dev/sda", system_disk=11: true}}}
    let disks =
        storage::DisksResponse::decode(bytes("0a 10 12 0e 08 0a 1a 08 2f 64 65 76 2f 73 64 61 58 01").as_slice())
            .expect("decodes");
    let disk = &disks.messages[0].disks[0];
    assert_eq!(
        (disk.size, disk.device_name.as_str(), disk.system_disk),
        (10, "/dev/sda", true)
    );
}

// ---------------------------------------------------------------------------------------
// `talos-hcloud sim node` as a process
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sim_node_command_serves_until_ctrl_c() {
    let (child, address, started) = spawn_sim_node("v1.12.11").await;
    assert_eq!(started["mode"], "maintenance");
    assert_eq!(started["talos_api"], format!("{address}:50000"));
    assert_eq!(started["talos_version"], "v1.12.11");

    // Probe it like any node.
    let api = SocketAddr::new(address, 50000);
    assert!(matches!(
        detect_mode(api, quick()).await.expect("probe"),
        DetectedMode::Maintenance { .. }
    ));

    // Ctrl-C: exit 0.
    stop_sim_node(child, "INT").await;
    let gone = detect_mode(
        api,
        CallOptions {
            retry: Policy::none(),
            ..quick()
        },
    )
    .await
    .expect_err("stopped");
    assert_eq!(gone.code(), Some(tonic::Code::Unavailable));
}

#[tokio::test]
async fn sim_node_command_stops_on_sigterm_with_exit_0() {
    // `sim node` stops on SIGTERM with exit 0 like `sim`, so a supervisor stopping a
    // rehearsal does not see a failure (exit 143).
    let (child, _, started) = spawn_sim_node("v1.11.6").await;
    assert_eq!(started["mode"], "maintenance");
    stop_sim_node(child, "TERM").await;
}

/// Starts `talos-hcloud --output json sim node` on a free address of the Talos test range:
/// the process, its address and the JSON line it printed once serving.
async fn spawn_sim_node(version: &str) -> (std::process::Child, std::net::IpAddr, serde_json::Value) {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    for _ in 0..10 {
        let address = next_address();
        let mut child = Command::new(env!("CARGO_BIN_EXE_talos-hcloud"))
            .args(["--output", "json", "sim", "node", "--address", &address.to_string()])
            .args(["--talos-version", version])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let stdout = child.stdout.take().expect("piped");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .expect("reader task")
        .expect("reads stdout");
        if line.is_empty() {
            // The address was taken (exit 1 with "cannot listen"): try another.
            let output = child.wait_with_output().expect("exits");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("cannot listen"), "{stderr}");
            continue;
        }
        let started = serde_json::from_str(&line).expect("one JSON line");
        return (child, address, started);
    }
    panic!("no free address for `sim node` after 10 tries");
}

/// Sends `signal` (`INT`, `TERM`) to a `sim node` process and asserts it exits 0.
async fn stop_sim_node(child: std::process::Child, signal: &str) {
    crate::harness::signal(child.id(), signal);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("waiter")
        .expect("exits");
    assert_eq!(
        output.status.code(),
        Some(0),
        "after SIG{signal}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sim_node_help_teaches_and_bad_input_exits_2() {
    let help = crate::harness::talos_hcloud_in(repo_root(), &["sim", "node", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    assert!(
        help.stdout.contains("talos-hcloud sim node --address 127.0.0.2"),
        "{}",
        help.stdout
    );
    assert!(help.stdout.contains("--machine-config <FILE>"), "{}", help.stdout);

    let bad = crate::harness::talos_hcloud_in(
        repo_root(),
        &["sim", "node", "--address", "127.0.0.2", "--talos-version", "1.11"],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("is not a Talos version like v1.11.6"),
        "{}",
        bad.stderr
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("broken.yaml");
    std::fs::write(&config, "version: v1alpha1\nmachine: {type: worker}\n").expect("write");
    let bad = crate::harness::talos_hcloud_in(
        repo_root(),
        &[
            "sim",
            "node",
            "--address",
            "127.0.0.2",
            "--machine-config",
            config.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr
            .starts_with("error: the installed machine configuration was refused\n")
            && bad.stderr.contains("cluster instructions are required"),
        "{}",
        bad.stderr
    );

    // Nodes check configs with talos-hcloud's validator: only the lines it knows.
    let unknown = crate::harness::talos_hcloud_in(
        repo_root(),
        &["sim", "node", "--address", "127.0.0.2", "--talos-version", "v1.9.5"],
    );
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .starts_with("error: cannot emulate a Talos v1.9.5 node\n  caused by: "),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown
            .stderr
            .contains("hint: emulated nodes check every config they receive"),
        "{}",
        unknown.stderr
    );
}

// ---------------------------------------------------------------------------------------
// Retries: transient failures only, bounded
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn transient_failures_are_retried_within_the_policy() {
    let registry = ClusterRegistry::new();
    let mut opts = options("v1.11.6", &registry);
    opts.installed_config = Some(golden("v1.11", "controlplane"));
    opts.boot_delay = Duration::from_millis(300);
    let node = start(opts).await;
    let admin = configured_client(&node, &admin());
    admin.wait_ready(Duration::from_secs(10)).await.expect("boots");

    // A reboot takes apid away for the boot delay; the next call rides it out by retrying
    // Unavailable (250 ms, 500 ms, 1 s between attempts).
    admin.reboot(RebootMode::Default).await.expect("reboot");
    assert_eq!(admin.version().await.expect("answered after retries").tag, "v1.11.6");

    // Powered off: Unavailable on every attempt, all attempts used, then a hint.
    node.power_off();
    let error = admin.version().await.expect_err("the node is off");
    assert_eq!(error.code(), Some(tonic::Code::Unavailable), "{:?}", chain(&error));
    match &error {
        talos_hcloud::talos::api::Error::Call { attempts, .. } => assert_eq!(*attempts, 4),
        other => panic!("{other:?}"),
    }
    assert!(error.hints()[0].contains("port 50000"), "{:?}", error.hints());

    // A reset without reboot leaves the node powered off.
    node.power_on().expect("boots");
    admin.wait_ready(Duration::from_secs(10)).await.expect("back");
    admin
        .reset(&ResetOptions {
            graceful: false,
            reboot: false,
            ..ResetOptions::default()
        })
        .await
        .expect("reset");
    assert_eq!(node.mode(), NodeMode::PoweredOff);
    node.stop().await;
}
