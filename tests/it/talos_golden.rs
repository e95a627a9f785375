//! Talos's golden reference data (`reference/talos-golden/`), read at test time: the base
//! configs per Talos line and the secrets bundle that signed them; with them the hcloud
//! cluster settings the generated-config tests share and [`at`], the path lookup they read
//! configs with. Helpers only; the tests live in `talos_config`, `talos_validate`,
//! `talos_schema`, `talos_api` and `config_gen`.

use std::path::PathBuf;

use talos_hcloud::redact::Redacted;
use talos_hcloud::talos::config::{
    ConfigDocuments, Contract, HcloudCluster, HcloudVip, MachineType, Node, NodeSettings, Path,
};
use talos_hcloud::talos::secrets::SecretsBundle;

use crate::harness::reference_dir;

/// `reference/talos-golden/`.
pub fn golden_dir() -> PathBuf {
    reference_dir().join("talos-golden")
}

/// The golden config of a Talos line (`v1.11`), `controlplane` or `worker`.
pub fn golden(version: &str, machine_type: &str) -> String {
    let path = golden_dir().join(version).join(format!("base-{machine_type}.yaml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The golden secrets bundle (`talos-golden/secrets.yaml`).
pub fn golden_secrets() -> SecretsBundle {
    let text = std::fs::read_to_string(golden_dir().join("secrets.yaml")).expect("golden secrets.yaml");
    serde_saphyr::from_str(&text).expect("golden secrets parse")
}

/// The version contract of a supported Talos version (`v1.12`, `1.11.3`).
pub fn contract(version: &str) -> Contract {
    Contract::parse(version).expect("a supported version")
}

/// The node at a dotted path (`machine.install.disk`, `interfaces[0]`) of a document.
pub fn at<'a>(doc: &'a Node, path: &str) -> Option<&'a Node> {
    doc.get_path(&Path::parse(path).expect("valid path"))
}

/// The hcloud cluster settings used for generated configs.
pub fn hcloud_cluster(talos_version: &str) -> HcloudCluster {
    HcloudCluster {
        name: "prod".into(),
        endpoint: "https://203.0.113.10:6443".into(),
        talos_version: talos_version.into(),
        kubernetes_version: "v1.34.0".into(),
        schematic_id: "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515".into(),
        pod_subnets: vec!["10.0.16.0/20".into()],
        service_subnets: vec!["10.0.8.0/21".into()],
        install_disk: "/dev/sda".into(),
        vip: Some(HcloudVip::new(
            "203.0.113.10".parse().expect("ip"),
            Redacted::new("hcloud-token-0123456789abcdef".to_string()),
        )),
    }
}

/// The configs [`hcloud_cluster`] generates for Talos `release` on a control plane (`cp-1`)
/// and a worker (`worker-1`), each with its hostname and machine type.
pub fn hcloud_node_configs(
    release: &str,
    secrets: &SecretsBundle,
) -> Vec<(&'static str, MachineType, ConfigDocuments)> {
    let cluster = hcloud_cluster(release);
    [("cp-1", MachineType::ControlPlane), ("worker-1", MachineType::Worker)]
        .into_iter()
        .map(|(hostname, machine_type)| {
            let settings = NodeSettings {
                hostname: hostname.into(),
                machine_type,
            };
            let docs = cluster.node_config(secrets, &settings).expect("config generates");
            (hostname, machine_type, docs)
        })
        .collect()
}
