//! talos-hcloud's own settings on top of the generated base config, applied before user
//! patches: install disk and the Image Factory hcloud installer, cluster name, endpoint and
//! subnets (through [`GenerateOptions`]), then per node the hostname and, on control planes
//! of a floating-IP cluster, the Talos hcloud VIP.
//!
//! Version forms (reference `talos.md` §B.4, §B.6, §G.2):
//!
//! * hostname — before v1.12 `machine.network.hostname`; from v1.12 the generated
//!   `HostnameConfig` document becomes `auto: off` + `hostname` (`auto: stable` next to a
//!   hostname fails validation).
//! * VIP — before v1.12 the only form is `machine.network.interfaces[]` with `vip: {ip,
//!   hcloud: {apiToken}}`. From v1.12 that section is deprecated (hidden from the v1.12 and
//!   v1.13 schemas), so we write the documented replacement: an `HCloudVIPConfig` document
//!   (`name` = VIP, `link`, `apiToken`) whose link is a `LinkAliasConfig` alias. Either way
//!   the public NIC is chosen by PCI bus path, never by interface name: Hetzner NICs are
//!   `enp1s0` (public) and `enp7s0`/`ens10` (private network), and a VIP aimed at `eth0`
//!   never binds (ksail bug, `anchors.md`). `physical: true` is not enough because the
//!   private-network NIC is physical too and a v1alpha1 selector applies to every link it
//!   matches. [`VipForm`] can force either form.
//!
//! The VIP carries the Hetzner API token; [`HcloudVip`]'s `Debug` shows it as `***`.

use std::net::IpAddr;

use super::documents::{ConfigDocuments, DocumentError, DocumentId};
use super::generate::{GenerateError, GenerateOptions, generate, typed_document};
use super::shape;
use super::value::{Mapping, Node};
use crate::redact::Redacted;
use crate::talos::contract::{Artifact, Contract, ContractError};
use crate::talos::machine_type::MachineType;
use crate::talos::secrets::SecretsBundle;
use crate::talos::version::TalosVersion;

/// PCI bus path of the public NIC of Hetzner Cloud servers (`enp1s0` = bus 1, slot 0).
/// Derived from the interface names Hetzner servers show; not measured on every server
/// type (**UNVERIFIED** for dedicated-vCPU types), hence configurable in [`HcloudVip`].
pub const PUBLIC_NIC_BUS_PATH: &str = "0000:01:00.0";

/// The link alias given to the public NIC in the v1.12+ document form.
pub const PUBLIC_LINK_ALIAS: &str = "public";

/// The install disk of Hetzner Cloud servers.
pub const HCLOUD_INSTALL_DISK: &str = "/dev/sda";

/// Which configuration form carries the hcloud VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipForm {
    /// `machine.network.interfaces[].vip` in the v1alpha1 document (all versions).
    Legacy,
    /// `LinkAliasConfig` + `HCloudVIPConfig` documents (v1.12+).
    Documents,
}

impl VipForm {
    /// The form used when none is chosen: documents from v1.12, legacy before.
    pub fn for_contract(contract: Contract) -> Self {
        if contract.multidoc_network_config() {
            VipForm::Documents
        } else {
            VipForm::Legacy
        }
    }
}

/// The Talos hcloud VIP of a floating-IP cluster: Talos moves the floating IP to the elected
/// control plane through the Hetzner API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcloudVip {
    /// The floating IP.
    pub ip: IpAddr,
    /// Hetzner Cloud API token (read & write) the VIP controller uses.
    pub api_token: Redacted<String>,
    /// PCI bus path of the NIC that gets the VIP (default [`PUBLIC_NIC_BUS_PATH`]).
    pub bus_path: String,
    /// Force a form; `None` picks [`VipForm::for_contract`].
    pub form: Option<VipForm>,
}

impl HcloudVip {
    /// A VIP on the public NIC in the version's default form.
    pub fn new(ip: IpAddr, api_token: Redacted<String>) -> Self {
        HcloudVip {
            ip,
            api_token,
            bus_path: PUBLIC_NIC_BUS_PATH.to_string(),
            form: None,
        }
    }
}

/// One node's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// The node's hostname (also its Kubernetes node name).
    pub hostname: String,
    /// Control plane or worker.
    pub machine_type: MachineType,
}

/// The cluster-wide settings talos-hcloud derives from cluster.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcloudCluster {
    /// Cluster name.
    pub name: String,
    /// Kubernetes API endpoint, `https://<floating IP or load balancer IP>:6443`.
    pub endpoint: String,
    /// Full Talos version, e.g. `v1.11.1` (installer tag and version contract).
    pub talos_version: String,
    /// Kubernetes version (`v` optional).
    pub kubernetes_version: String,
    /// Image Factory schematic ID (64 lowercase hex).
    pub schematic_id: String,
    /// Pod CIDRs.
    pub pod_subnets: Vec<String>,
    /// Service CIDRs.
    pub service_subnets: Vec<String>,
    /// Install disk ([`HCLOUD_INSTALL_DISK`]).
    pub install_disk: String,
    /// The VIP of a floating-IP cluster (`None` for a load-balancer endpoint).
    pub vip: Option<HcloudVip>,
}

/// Why the hcloud settings cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// The Talos version is not a supported full version.
    #[error("invalid Talos version {version:?} for the installer image: expected vMAJOR.MINOR.PATCH, e.g. v1.11.1")]
    TalosVersion {
        /// The version given.
        version: String,
    },
    /// The Talos line is not supported.
    #[error("unsupported Talos version")]
    Contract(#[source] ContractError),
    /// The schematic ID is not 64 lowercase hex characters.
    #[error("invalid schematic ID {0:?}: expected 64 lowercase hex characters")]
    SchematicId(String),
    /// A hostname Talos would reject.
    #[error("invalid hostname {hostname:?}: {reason}")]
    Hostname {
        /// The hostname given.
        hostname: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The base config lacks the v1alpha1 document or has the wrong shape there.
    #[error("the base config has no usable {0}")]
    BaseConfig(&'static str),
    /// Base generation failed.
    #[error("cannot generate the base config")]
    Generate(#[source] GenerateError),
    /// A document could not be added.
    #[error("cannot add a document")]
    Documents(#[source] DocumentError),
}

impl crate::error::Classify for OverlayError {
    fn class(&self) -> crate::error::Class {
        match self {
            OverlayError::Generate(e) => e.class(),
            OverlayError::BaseConfig(_) | OverlayError::Documents(_) => crate::error::Class::Failed,
            _ => crate::error::Class::InvalidInput,
        }
    }
}

impl HcloudCluster {
    /// The version contract of [`HcloudCluster::talos_version`].
    ///
    /// # Errors
    /// [`OverlayError`] for a version that is not `vX.Y.Z` or not v1.10–v1.13.
    pub fn contract(&self) -> Result<Contract, OverlayError> {
        let version = TalosVersion::parse_tag(&self.talos_version).map_err(|_| OverlayError::TalosVersion {
            version: self.talos_version.clone(),
        })?;
        version
            .contract()
            .supported_for(Artifact::MachineConfig)
            .map_err(OverlayError::Contract)
    }

    /// `factory.talos.dev/hcloud-installer/<schematic>:<version>`.
    ///
    /// # Errors
    /// [`OverlayError::SchematicId`] for a malformed schematic ID.
    pub fn installer_image(&self) -> Result<String, OverlayError> {
        let valid = self.schematic_id.len() == 64
            && self
                .schematic_id
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if !valid {
            return Err(OverlayError::SchematicId(self.schematic_id.clone()));
        }
        Ok(format!(
            "factory.talos.dev/hcloud-installer/{}:{}",
            self.schematic_id, self.talos_version
        ))
    }

    /// Generation options: name, endpoint, versions, subnets, install disk and installer.
    ///
    /// # Errors
    /// As [`HcloudCluster::contract`] and [`HcloudCluster::installer_image`].
    pub fn generate_options(&self) -> Result<GenerateOptions, OverlayError> {
        let mut options = GenerateOptions::new(
            self.name.as_str(),
            self.endpoint.as_str(),
            &self.kubernetes_version,
            self.contract()?,
        );
        options.pod_subnets = self.pod_subnets.clone();
        options.service_subnets = self.service_subnets.clone();
        options.install_disk = Some(self.install_disk.clone());
        options.install_image = Some(self.installer_image()?);
        Ok(options)
    }

    /// The complete config of one node before user patches: the generated base plus the
    /// node overlay.
    ///
    /// # Errors
    /// [`OverlayError`] for invalid settings or hostname.
    pub fn node_config(&self, secrets: &SecretsBundle, node: &NodeSettings) -> Result<ConfigDocuments, OverlayError> {
        let options = self.generate_options()?;
        let mut docs = generate(secrets, &options, node.machine_type).map_err(OverlayError::Generate)?;
        apply_node_overlay(&mut docs, options.contract, node, self.vip.as_ref())?;
        Ok(docs)
    }
}

/// Sets the node's hostname and, on a control plane, the hcloud VIP, in the forms of
/// `contract` (see the module documentation).
///
/// # Errors
/// [`OverlayError`] for an invalid hostname or a base config without a v1alpha1 document.
pub fn apply_node_overlay(
    docs: &mut ConfigDocuments,
    contract: Contract,
    node: &NodeSettings,
    vip: Option<&HcloudVip>,
) -> Result<(), OverlayError> {
    check_hostname(&node.hostname)?;
    if contract.multidoc_network_config() {
        let hostname = typed_document("HostnameConfig")
            .with("auto", "off")
            .with("hostname", node.hostname.as_str());
        docs.upsert(Node::mapping(hostname)).map_err(OverlayError::Documents)?;
    } else {
        machine_network(docs)?.insert_ordered(
            "hostname",
            node.hostname.as_str(),
            struct_order(&["machine", "network"]),
        );
    }

    let Some(vip) = vip.filter(|_| node.machine_type.is_control_plane()) else {
        return Ok(());
    };
    match vip.form.unwrap_or(VipForm::for_contract(contract)) {
        VipForm::Legacy => {
            let device = Mapping::new()
                .with("deviceSelector", Mapping::new().with("busPath", vip.bus_path.as_str()))
                .with("dhcp", true)
                .with(
                    "vip",
                    Mapping::new().with("ip", vip.ip.to_string()).with(
                        "hcloud",
                        Mapping::new().with("apiToken", vip.api_token.expose().as_str()),
                    ),
                );
            let network = machine_network(docs)?;
            if network.get("interfaces").is_none_or(Node::is_null) {
                network.insert_ordered(
                    "interfaces",
                    Node::sequence(Vec::new()),
                    struct_order(&["machine", "network"]),
                );
            }
            network
                .get_mut("interfaces")
                .and_then(Node::as_sequence_mut)
                .ok_or(OverlayError::BaseConfig("machine.network.interfaces list"))?
                .push(Node::mapping(device));
        }
        VipForm::Documents => {
            let alias = typed_document("LinkAliasConfig").with("name", PUBLIC_LINK_ALIAS).with(
                "selector",
                Mapping::new().with("match", format!("link.bus_path == \"{}\"", vip.bus_path)),
            );
            let hcloud_vip = typed_document("HCloudVIPConfig")
                .with("name", vip.ip.to_string())
                .with("link", PUBLIC_LINK_ALIAS)
                .with("apiToken", vip.api_token.expose().as_str());
            docs.upsert(Node::mapping(alias)).map_err(OverlayError::Documents)?;
            docs.upsert(Node::mapping(hcloud_vip))
                .map_err(OverlayError::Documents)?;
        }
    }
    Ok(())
}

/// The order Talos writes the fields of the v1alpha1 struct at `path` in.
fn struct_order(path: &[&str]) -> &'static [&'static str] {
    shape::registry()
        .v1alpha1_order(path)
        .expect("machine and machine.network are declared v1alpha1 structs")
}

/// `machine.network` of the v1alpha1 document, created in struct order when missing.
fn machine_network(docs: &mut ConfigDocuments) -> Result<&mut Mapping, OverlayError> {
    let machine = docs
        .get_mut(&DocumentId::V1Alpha1)
        .and_then(|d| d.get_mut("machine"))
        .and_then(Node::as_mapping_mut)
        .ok_or(OverlayError::BaseConfig("v1alpha1 machine section"))?;
    if machine.get("network").is_none_or(Node::is_null) {
        machine.insert_ordered("network", Mapping::new(), struct_order(&["machine"]));
    }
    machine
        .get_mut("network")
        .and_then(Node::as_mapping_mut)
        .ok_or(OverlayError::BaseConfig("machine.network mapping"))
}

/// Talos's hostname rules (FQDN ≤ 253 characters, labels 1–63) plus RFC 1123 characters,
/// which Kubernetes node names need.
fn check_hostname(hostname: &str) -> Result<(), OverlayError> {
    let fail = |reason| {
        Err(OverlayError::Hostname {
            hostname: hostname.to_string(),
            reason,
        })
    };
    if hostname.is_empty() {
        return fail("it is empty");
    }
    if hostname.len() > 253 {
        return fail("longer than 253 characters");
    }
    for label in hostname.split('.') {
        if label.is_empty() || label.len() > 63 {
            return fail("each dot-separated label must have 1 to 63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return fail("use letters, digits and '-' (not at the start or end of a label)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::config::path::Path;
    use crate::talos::config::test_support::reference_dir;

    const SCHEMATIC: &str = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515";
    const TOKEN: &str = "hcloud-token-0123456789abcdef";

    fn secrets() -> SecretsBundle {
        let text = std::fs::read_to_string(reference_dir().join("talos-golden/secrets.yaml")).expect("golden secrets");
        serde_saphyr::from_str(&text).expect("golden secrets parse")
    }

    fn cluster(talos_version: &str) -> HcloudCluster {
        HcloudCluster {
            name: "prod".into(),
            endpoint: "https://203.0.113.10:6443".into(),
            talos_version: talos_version.into(),
            kubernetes_version: "v1.34.0".into(),
            schematic_id: SCHEMATIC.into(),
            pod_subnets: vec!["10.0.16.0/20".into()],
            service_subnets: vec!["10.0.8.0/21".into()],
            install_disk: HCLOUD_INSTALL_DISK.into(),
            vip: Some(HcloudVip::new(
                "203.0.113.10".parse().expect("ip"),
                Redacted::new(TOKEN.to_string()),
            )),
        }
    }

    fn node(name: &str, machine_type: MachineType) -> NodeSettings {
        NodeSettings {
            hostname: name.into(),
            machine_type,
        }
    }

    fn get<'a>(doc: &'a Node, path: &str) -> Option<&'a Node> {
        doc.get_path(&Path::parse(path).expect("path"))
    }

    fn text<'a>(doc: &'a Node, path: &str) -> Option<&'a str> {
        get(doc, path).and_then(Node::as_str)
    }

    #[test]
    fn cluster_settings_reach_the_generated_config() {
        for version in ["v1.10.9", "v1.11.1", "v1.12.0", "v1.13.2"] {
            let docs = cluster(version)
                .node_config(&secrets(), &node("cp-1", MachineType::ControlPlane))
                .expect("config");
            let v1 = docs.v1alpha1().expect("v1alpha1");
            assert_eq!(text(v1, "machine.install.disk"), Some("/dev/sda"));
            assert_eq!(
                text(v1, "machine.install.image"),
                Some(format!("factory.talos.dev/hcloud-installer/{SCHEMATIC}:{version}").as_str())
            );
            assert_eq!(text(v1, "cluster.clusterName"), Some("prod"));
            assert_eq!(
                text(v1, "cluster.controlPlane.endpoint"),
                Some("https://203.0.113.10:6443")
            );
            assert_eq!(text(v1, "cluster.network.podSubnets[0]"), Some("10.0.16.0/20"));
            assert_eq!(text(v1, "cluster.network.serviceSubnets[0]"), Some("10.0.8.0/21"));
            assert_eq!(
                text(v1, "machine.kubelet.image"),
                Some("ghcr.io/siderolabs/kubelet:v1.34.0")
            );
            let install_keys: Vec<&str> = get(v1, "machine.install")
                .and_then(Node::as_mapping)
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            assert_eq!(&install_keys[..3], ["disk", "image", "wipe"], "{version}");
        }
    }

    #[test]
    fn hostname_form_follows_the_version() {
        for version in ["v1.10.9", "v1.11.1"] {
            let docs = cluster(version)
                .node_config(&secrets(), &node("worker-1", MachineType::Worker))
                .expect("config");
            let v1 = docs.v1alpha1().expect("v1alpha1");
            assert_eq!(text(v1, "machine.network.hostname"), Some("worker-1"));
            assert!(docs.find("HostnameConfig", None).is_none(), "{version}");
        }
        for version in ["v1.12.0", "v1.13.2"] {
            let docs = cluster(version)
                .node_config(&secrets(), &node("worker-1", MachineType::Worker))
                .expect("config");
            let hostname = docs.find("HostnameConfig", None).expect("HostnameConfig");
            assert_eq!(
                hostname.to_yaml(),
                "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: \"off\"\nhostname: worker-1\n"
            );
            let v1 = docs.v1alpha1().expect("v1alpha1");
            assert!(get(v1, "machine.network.hostname").is_none(), "{version}");
            assert_eq!(docs.typed().len(), 1, "{version}: only the HostnameConfig document");
        }
    }

    #[test]
    fn vip_is_on_control_planes_only_in_the_version_form() {
        let legacy = cluster("v1.11.1")
            .node_config(&secrets(), &node("cp-1", MachineType::ControlPlane))
            .expect("config");
        let network = get(legacy.v1alpha1().expect("v1alpha1"), "machine.network").expect("network");
        assert_eq!(
            network.to_yaml(),
            format!(
                "hostname: cp-1\ninterfaces:\n    - deviceSelector:\n        busPath: \"0000:01:00.0\"\n      dhcp: true\n      \
                 vip:\n        ip: 203.0.113.10\n        hcloud:\n            apiToken: {TOKEN}\n"
            )
        );

        let documents = cluster("v1.13.2")
            .node_config(&secrets(), &node("cp-1", MachineType::ControlPlane))
            .expect("config");
        assert_eq!(
            documents
                .find("LinkAliasConfig", Some("public"))
                .map(Node::to_yaml)
                .as_deref(),
            Some(
                "apiVersion: v1alpha1\nkind: LinkAliasConfig\nname: public\nselector:\n    match: link.bus_path == \"0000:01:00.0\"\n"
            )
        );
        assert_eq!(
            documents
                .find("HCloudVIPConfig", Some("203.0.113.10"))
                .map(Node::to_yaml),
            Some(format!(
                "apiVersion: v1alpha1\nkind: HCloudVIPConfig\nname: 203.0.113.10\nlink: public\napiToken: {TOKEN}\n"
            ))
        );
        assert!(get(documents.v1alpha1().expect("v1alpha1"), "machine.network").is_none());

        for version in ["v1.10.9", "v1.11.1", "v1.12.0", "v1.13.2"] {
            let worker = cluster(version)
                .node_config(&secrets(), &node("worker-1", MachineType::Worker))
                .expect("config");
            let yaml = worker.to_yaml();
            assert!(!yaml.contains(TOKEN), "{version}: the token must not reach workers");
            assert!(!yaml.contains("vip") && !yaml.contains("VIP"), "{version}");
        }
    }

    #[test]
    fn legacy_form_can_be_forced_on_new_versions() {
        let mut settings = cluster("v1.12.0");
        if let Some(vip) = settings.vip.as_mut() {
            vip.form = Some(VipForm::Legacy);
        }
        let docs = settings
            .node_config(&secrets(), &node("cp-1", MachineType::ControlPlane))
            .expect("config");
        let v1 = docs.v1alpha1().expect("v1alpha1");
        assert_eq!(text(v1, "machine.network.interfaces[0].vip.ip"), Some("203.0.113.10"));
        assert!(docs.find("HCloudVIPConfig", None).is_none());
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let settings = cluster("v1.11.1");
        let debug = format!("{settings:?}");
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(debug.contains("api_token: ***"), "{debug}");
    }

    #[test]
    fn invalid_settings_are_reported() {
        let mut settings = cluster("v1.11");
        let err = settings.generate_options().expect_err("not a full version");
        assert!(err.to_string().contains("expected vMAJOR.MINOR.PATCH"), "{err}");
        settings.talos_version = "v1.9.5".into();
        assert!(matches!(settings.generate_options(), Err(OverlayError::Contract(_))));
        settings.talos_version = "v1.11.1".into();
        settings.schematic_id = "abc".into();
        assert!(matches!(settings.generate_options(), Err(OverlayError::SchematicId(_))));
        settings.schematic_id = SCHEMATIC.into();
        for bad in ["", "-cp", "cp_1", &"a".repeat(64)] {
            let err = settings
                .node_config(&secrets(), &node(bad, MachineType::Worker))
                .expect_err("bad hostname");
            assert!(matches!(err, OverlayError::Hostname { .. }), "{bad}: {err}");
        }
        assert!(
            settings
                .node_config(&secrets(), &node("cp-1.example.com", MachineType::Worker))
                .is_ok()
        );
    }
}
