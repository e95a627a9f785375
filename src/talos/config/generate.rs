//! Machine configuration generation: what `talosctl gen config` writes, per version
//! contract, for control planes and workers (reference `talos.md` §B.1–B.4, §B.7).
//!
//! The output is built field by field in Go struct order, so it is byte-identical to
//! talosctl's `--with-docs=false --with-examples=false` output for the same secrets bundle
//! (the golden configs under `reference/talos-golden` are the test). Comments are never
//! written: Hetzner's user_data is limited to 32 KiB.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::documents::{ConfigDocuments, DocumentError};
use super::value::{Mapping, Node};
use crate::talos::contract::{Artifact, Contract, ContractError};
use crate::talos::machine_type::MachineType;
use crate::talos::secrets::{CertAndKey, Pem, SecretsBundle};

/// Inputs of generation, mirroring `talosctl gen config` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Cluster name (`cluster.clusterName`).
    pub cluster_name: String,
    /// Kubernetes API endpoint URL, written as given (`https://HOST:6443`).
    pub endpoint: String,
    /// Kubernetes version without leading `v` (`1.34.0`).
    pub kubernetes_version: String,
    /// The Talos line generated for.
    pub contract: Contract,
    /// Extra SANs for the Talos API and the Kubernetes API server certificates.
    pub additional_sans: Vec<String>,
    /// Cluster DNS domain.
    pub dns_domain: String,
    /// Install disk (`machine.install.disk`); `None` leaves it out.
    pub install_disk: Option<String>,
    /// Installer image (`machine.install.image`); `None` leaves it out.
    pub install_image: Option<String>,
    /// Registry mirrors: registry host → mirror endpoint URLs, in the order given.
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// Enable KubeSpan.
    pub kubespan: bool,
    /// Pod CIDRs.
    pub pod_subnets: Vec<String>,
    /// Service CIDRs.
    pub service_subnets: Vec<String>,
    /// Let workloads run on control-plane nodes.
    pub allow_scheduling_on_control_planes: bool,
}

/// Why a config cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// The endpoint is not an `https://` URL with a host.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint given.
        endpoint: String,
        /// What is wrong, with the expected form.
        reason: String,
    },
    /// The contract is a line configs are not generated for.
    #[error("cannot generate for this Talos version")]
    Contract(#[source] ContractError),
    /// An empty required option.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The secrets bundle lacks something the config needs.
    #[error("the secrets bundle has no {0}")]
    Secrets(&'static str),
    /// A generated document could not be added (an internal invariant).
    #[error("internal error assembling the config")]
    Documents(#[source] DocumentError),
}

impl crate::error::Classify for GenerateError {
    fn class(&self) -> crate::error::Class {
        match self {
            GenerateError::Documents(_) => crate::error::Class::Failed,
            _ => crate::error::Class::InvalidInput,
        }
    }
}

/// talosctl's IPv4 pod CIDR default.
pub const DEFAULT_POD_SUBNET: &str = "10.244.0.0/16";
/// talosctl's IPv4 service CIDR default.
pub const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
/// talosctl's DNS domain default.
pub const DEFAULT_DNS_DOMAIN: &str = "cluster.local";
/// The node label talosctl puts on control planes (contract ≥ 1.8).
pub const LABEL_EXCLUDE_FROM_EXTERNAL_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

impl GenerateOptions {
    /// Options with talosctl's defaults and no install disk or image (the golden inputs).
    /// A leading `v` in the Kubernetes version is stripped.
    pub fn new(
        cluster_name: impl Into<String>,
        endpoint: impl Into<String>,
        kubernetes_version: &str,
        contract: Contract,
    ) -> Self {
        GenerateOptions {
            cluster_name: cluster_name.into(),
            endpoint: endpoint.into(),
            kubernetes_version: kubernetes_version
                .strip_prefix('v')
                .unwrap_or(kubernetes_version)
                .to_string(),
            contract,
            additional_sans: Vec::new(),
            dns_domain: DEFAULT_DNS_DOMAIN.to_string(),
            install_disk: None,
            install_image: None,
            registry_mirrors: BTreeMap::new(),
            kubespan: false,
            pod_subnets: vec![DEFAULT_POD_SUBNET.to_string()],
            service_subnets: vec![DEFAULT_SERVICE_SUBNET.to_string()],
            allow_scheduling_on_control_planes: false,
        }
    }

    /// Adds a registry mirror endpoint for `host` (repeatable, endpoints accumulate).
    pub fn add_registry_mirror(&mut self, host: impl Into<String>, endpoint: impl Into<String>) {
        self.registry_mirrors
            .entry(host.into())
            .or_default()
            .push(endpoint.into());
    }

    /// The endpoint's host name (brackets of an IPv6 literal removed), checking the URL.
    ///
    /// # Errors
    /// [`GenerateError::Endpoint`] unless the endpoint is `https://HOST[:PORT][/…]`.
    pub fn endpoint_host(&self) -> Result<String, GenerateError> {
        let invalid = |reason: &str| GenerateError::Endpoint {
            endpoint: self.endpoint.clone(),
            reason: reason.to_string(),
        };
        if !self.endpoint.contains("://") {
            return Err(invalid("no scheme; expected a URL such as https://203.0.113.10:6443"));
        }
        let url = url::Url::parse(&self.endpoint)
            .map_err(|e| invalid(&format!("{e}; expected a URL such as https://203.0.113.10:6443")))?;
        if url.scheme() != "https" {
            return Err(invalid("the scheme must be https, e.g. https://203.0.113.10:6443"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("hostname must not be blank"))?;
        Ok(host.trim_start_matches('[').trim_end_matches(']').to_string())
    }
}

/// Generates the config of one machine type. [`MachineType::Init`] gets the control-plane
/// config with `machine.type: init`, as Talos's generator writes it.
///
/// # Errors
/// [`GenerateError`] for a contract configs are not generated for, an invalid endpoint,
/// empty cluster name or Kubernetes version, or a secrets bundle without a secretbox encryption secret.
pub fn generate(
    secrets: &SecretsBundle,
    options: &GenerateOptions,
    machine_type: MachineType,
) -> Result<ConfigDocuments, GenerateError> {
    options
        .contract
        .supported_for(Artifact::MachineConfig)
        .map_err(GenerateError::Contract)?;
    if options.cluster_name.is_empty() {
        return Err(GenerateError::Empty("cluster name"));
    }
    if options.kubernetes_version.is_empty() {
        return Err(GenerateError::Empty("Kubernetes version"));
    }
    let endpoint_host = options.endpoint_host()?;
    let contract = options.contract;
    let control_plane = machine_type.is_control_plane();

    let mut docs = ConfigDocuments::new();
    let root = Mapping::new()
        .with("version", "v1alpha1")
        .with("debug", false)
        .with("persist", true)
        .with("machine", machine(secrets, options, machine_type))
        .with("cluster", cluster(secrets, options, control_plane, &endpoint_host)?);
    docs.push(Node::mapping(root)).map_err(GenerateError::Documents)?;

    if contract.multidoc_network_config() {
        for (host, endpoints) in &options.registry_mirrors {
            let endpoints = endpoints
                .iter()
                .map(|url| Node::mapping(Mapping::new().with("url", url.as_str())))
                .collect();
            docs.push(Node::mapping(
                typed_document("RegistryMirrorConfig")
                    .with("name", host.as_str())
                    .with("endpoints", Node::sequence(endpoints)),
            ))
            .map_err(GenerateError::Documents)?;
        }
        docs.push(Node::mapping(typed_document("HostnameConfig").with("auto", "stable")))
            .map_err(GenerateError::Documents)?;
    }
    if options.kubespan && contract.kubespan_multidoc() {
        docs.push(Node::mapping(typed_document("KubeSpanConfig").with("enabled", true)))
            .map_err(GenerateError::Documents)?;
    }
    Ok(docs)
}

/// `apiVersion: v1alpha1` and `kind`, the head of every typed document.
pub fn typed_document(kind: &str) -> Mapping {
    Mapping::new().with("apiVersion", "v1alpha1").with("kind", kind)
}

fn machine(secrets: &SecretsBundle, options: &GenerateOptions, machine_type: MachineType) -> Mapping {
    let contract = options.contract;
    let control_plane = machine_type.is_control_plane();
    let mut machine = Mapping::new()
        .with("type", machine_type.as_str())
        .with("token", secrets.trustdinfo.token.as_str())
        .with("ca", ca(&secrets.certs.os, control_plane))
        .with("certSANs", Node::strings(&options.additional_sans))
        .with(
            "kubelet",
            Mapping::new()
                .with(
                    "image",
                    format!("ghcr.io/siderolabs/kubelet:v{}", options.kubernetes_version),
                )
                .with("defaultRuntimeSeccompProfileEnabled", true)
                .with("disableManifestsDirectory", true),
        );

    if !contract.kubespan_multidoc() {
        let mut network = Mapping::new();
        if options.kubespan {
            network.insert("kubespan", Mapping::new().with("enabled", true));
        }
        machine.insert("network", network);
    }

    let mut install = Mapping::new();
    if let Some(disk) = options.install_disk.as_deref().filter(|d| !d.is_empty()) {
        install.insert("disk", disk);
    }
    if let Some(image) = options.install_image.as_deref().filter(|i| !i.is_empty()) {
        install.insert("image", image);
    }
    install.insert("wipe", false);
    if contract.grub_use_uki_cmdline_default() {
        install.insert("grubUseUKICmdline", true);
    }
    machine.insert("install", install);

    if !contract.multidoc_network_config() && !options.registry_mirrors.is_empty() {
        let mut mirrors = Mapping::new();
        for (host, endpoints) in &options.registry_mirrors {
            mirrors.insert(
                host.as_str(),
                Mapping::new().with("endpoints", Node::strings(endpoints)),
            );
        }
        machine.insert("registries", Mapping::new().with("mirrors", mirrors));
    }

    let mut features = Mapping::new();
    if !contract.multidoc_network_config() {
        features.insert("rbac", true);
        features.insert("stableHostname", true);
        features.insert("apidCheckExtKeyUsage", true);
    }
    features.insert("diskQuotaSupport", true);
    features.insert("kubePrism", Mapping::new().with("enabled", true).with("port", 7445i64));
    features.insert(
        "hostDNS",
        Mapping::new().with("enabled", true).with("forwardKubeDNSToHost", true),
    );
    machine.insert("features", features);

    if control_plane {
        machine.insert("nodeLabels", Mapping::new().with(LABEL_EXCLUDE_FROM_EXTERNAL_LB, ""));
    }
    machine
}

fn cluster(
    secrets: &SecretsBundle,
    options: &GenerateOptions,
    control_plane: bool,
    endpoint_host: &str,
) -> Result<Mapping, GenerateError> {
    let contract = options.contract;
    let k8s = &options.kubernetes_version;
    let mut cluster = Mapping::new()
        .with("id", secrets.cluster.id.as_str())
        .with("secret", secrets.cluster.secret.as_str())
        .with(
            "controlPlane",
            Mapping::new().with("endpoint", options.endpoint.as_str()),
        )
        .with("clusterName", options.cluster_name.as_str())
        .with(
            "network",
            Mapping::new()
                .with("dnsDomain", options.dns_domain.as_str())
                .with("podSubnets", Node::strings(&options.pod_subnets))
                .with("serviceSubnets", Node::strings(&options.service_subnets)),
        )
        .with("token", secrets.secrets.bootstraptoken.as_str());

    if control_plane {
        match secrets.secrets.secretboxencryptionsecret.as_deref() {
            Some(secret) if !secret.is_empty() => {
                cluster.insert("secretboxEncryptionSecret", secret);
            }
            _ => {
                return Err(GenerateError::Secrets(
                    "secretbox encryption secret (secrets.secretboxencryptionsecret)",
                ));
            }
        }
    }
    cluster.insert("ca", ca(&secrets.certs.k8s, control_plane));

    if control_plane {
        cluster.insert("aggregatorCA", ca(&secrets.certs.k8saggregator, true));
        cluster.insert(
            "serviceAccount",
            Mapping::new().with("key", pem_base64(&secrets.certs.k8sserviceaccount.key)),
        );
        let mut api_server = Mapping::new().with("image", format!("registry.k8s.io/kube-apiserver:v{k8s}"));
        let mut sans = Vec::new();
        if !contract.hide_legacy_api_server_fields() {
            sans.push(endpoint_host.to_string());
        }
        sans.extend(options.additional_sans.iter().cloned());
        if !sans.is_empty() {
            api_server.insert("certSANs", Node::strings(sans));
        }
        if !contract.hide_legacy_api_server_fields() {
            api_server.insert("disablePodSecurityPolicy", true);
        }
        api_server.insert("admissionControl", Node::sequence(vec![pod_security_admission()]));
        api_server.insert("auditPolicy", audit_policy());
        cluster.insert("apiServer", api_server);
        cluster.insert(
            "controllerManager",
            Mapping::new().with("image", format!("registry.k8s.io/kube-controller-manager:v{k8s}")),
        );
        cluster.insert(
            "proxy",
            Mapping::new().with("image", format!("registry.k8s.io/kube-proxy:v{k8s}")),
        );
        cluster.insert(
            "scheduler",
            Mapping::new().with("image", format!("registry.k8s.io/kube-scheduler:v{k8s}")),
        );
    }

    cluster.insert(
        "discovery",
        Mapping::new().with("enabled", true).with(
            "registries",
            Mapping::new()
                .with("kubernetes", Mapping::new().with("disabled", true))
                .with("service", Mapping::new()),
        ),
    );

    if control_plane {
        cluster.insert("etcd", Mapping::new().with("ca", ca(&secrets.certs.etcd, true)));
        if options.allow_scheduling_on_control_planes {
            cluster.insert("allowSchedulingOnControlPlanes", true);
        }
    }
    Ok(cluster)
}

/// A v1alpha1 CA: base64 of the PEM certificate, and of the key only where allowed.
fn ca(pair: &CertAndKey, with_key: bool) -> Mapping {
    let key = if with_key { pem_base64(&pair.key) } else { String::new() };
    Mapping::new().with("crt", pem_base64(&pair.crt)).with("key", key)
}

/// v1alpha1 stores PEM as standard base64 of the PEM text (Go `[]byte` encoding).
fn pem_base64(pem: &Pem) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem.0.as_bytes())
}

/// The PodSecurity admission plugin with Talos's default configuration.
fn pod_security_admission() -> Node {
    let defaults = Mapping::new()
        .with("audit", "restricted")
        .with("audit-version", "latest")
        .with("enforce", "baseline")
        .with("enforce-version", "latest")
        .with("warn", "restricted")
        .with("warn-version", "latest");
    let exemptions = Mapping::new()
        .with("namespaces", Node::strings(["kube-system"]))
        .with("runtimeClasses", Node::sequence(Vec::new()))
        .with("usernames", Node::sequence(Vec::new()));
    let configuration = Mapping::new()
        .with("apiVersion", "pod-security.admission.config.k8s.io/v1alpha1")
        .with("defaults", defaults)
        .with("exemptions", exemptions)
        .with("kind", "PodSecurityConfiguration");
    Node::mapping(
        Mapping::new()
            .with("name", "PodSecurity")
            .with("configuration", configuration),
    )
}

/// Talos's default API server audit policy.
fn audit_policy() -> Mapping {
    Mapping::new()
        .with("apiVersion", "audit.k8s.io/v1")
        .with("kind", "Policy")
        .with(
            "rules",
            Node::sequence(vec![Node::mapping(Mapping::new().with("level", "Metadata"))]),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::config::path::Path;
    use crate::talos::config::test_support::reference_dir;

    fn golden_secrets() -> SecretsBundle {
        let text = std::fs::read_to_string(reference_dir().join("talos-golden/secrets.yaml")).expect("golden secrets");
        serde_saphyr::from_str(&text).expect("golden secrets parse")
    }

    fn base_options(contract: Contract) -> GenerateOptions {
        GenerateOptions::new("base", "https://base:6443", "v1.28.0", contract)
    }

    fn golden(contract: Contract, machine_type: MachineType) -> String {
        let path = reference_dir().join(format!("talos-golden/{contract}/base-{machine_type}.yaml"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn generated_configs_are_byte_identical_to_the_golden_files() {
        let secrets = golden_secrets();
        for contract in Artifact::MachineConfig.lines() {
            for machine_type in [MachineType::ControlPlane, MachineType::Worker] {
                let docs = generate(&secrets, &base_options(contract), machine_type).expect("generates");
                let want = golden(contract, machine_type);
                assert_eq!(docs.to_yaml(), want, "{contract} {machine_type}");
                let parsed = ConfigDocuments::parse(&want).expect("golden parses");
                assert!(docs.yaml_eq(&parsed), "{contract} {machine_type}");
            }
        }
    }

    #[test]
    fn endpoint_must_be_an_https_url_with_a_host() {
        let secrets = golden_secrets();
        for (endpoint, reason) in [
            (
                "base:6443",
                "no scheme; expected a URL such as https://203.0.113.10:6443",
            ),
            (
                "http://base:6443",
                "the scheme must be https, e.g. https://203.0.113.10:6443",
            ),
        ] {
            let mut options = base_options(Contract::V1_11);
            options.endpoint = endpoint.into();
            let err = generate(&secrets, &options, MachineType::Worker).expect_err("bad endpoint");
            assert_eq!(err.to_string(), format!("invalid endpoint {endpoint:?}: {reason}"));
        }
        let mut options = base_options(Contract::V1_10);
        options.endpoint = "https://[2001:db8::1]:6443".into();
        let docs = generate(&secrets, &options, MachineType::ControlPlane).expect("IPv6 endpoint");
        let sans = docs
            .v1alpha1()
            .and_then(|d| d.get_path(&Path::parse("cluster.apiServer.certSANs[0]").expect("path")))
            .and_then(Node::as_str);
        assert_eq!(sans, Some("2001:db8::1"));
    }

    #[test]
    fn init_is_the_control_plane_config_with_its_own_type() {
        let secrets = golden_secrets();
        let options = base_options(Contract::V1_11);
        let control_plane = generate(&secrets, &options, MachineType::ControlPlane).expect("generates");
        let init = generate(&secrets, &options, MachineType::Init).expect("generates");
        assert_eq!(
            init.to_yaml(),
            control_plane.to_yaml().replacen("type: controlplane", "type: init", 1)
        );
    }

    #[test]
    fn workers_carry_no_ca_keys() {
        let secrets = golden_secrets();
        for contract in Artifact::MachineConfig.lines() {
            let docs = generate(&secrets, &base_options(contract), MachineType::Worker).expect("generates");
            let yaml = docs.to_yaml();
            assert!(!yaml.contains("PRIVATE KEY"), "{contract}");
            for (pem_key, label) in [
                (&secrets.certs.os.key, "os"),
                (&secrets.certs.k8s.key, "k8s"),
                (&secrets.certs.etcd.key, "etcd"),
                (&secrets.certs.k8saggregator.key, "aggregator"),
                (&secrets.certs.k8sserviceaccount.key, "service account"),
            ] {
                assert!(
                    !yaml.contains(&pem_base64(pem_key)),
                    "{contract}: worker holds the {label} key"
                );
            }
            assert!(!yaml.contains(secrets.secrets.secretboxencryptionsecret.as_deref().unwrap_or("-")));
        }
    }
}
