//! Rendering every node's final machine config for a cluster described by cluster.yaml
//! (`talos-hcloud config gen`, issue 4).
//!
//! Per node: [`generate`](super::generate()) for `talos.version` (contract, Kubernetes
//! version, pod and service subnets, cluster name, endpoint), then the hcloud overlay
//! ([`super::hcloud_overlay`]: installer image, install disk, hostname, the VIP on control
//! planes of a floating-IP cluster), then the patch files of `patches.all` and of the
//! node's role in order ([`super::patch`]), then cluster.yaml's `sysctls:`, then the
//! emitted YAML is decoded strictly and validated for Hetzner Cloud (cloud mode, user_data
//! limit). Everything is rendered before anything is returned, so a caller writes nothing
//! when one node fails. The result is a pure function of the inputs.
//!
//! Reading the secrets bundle, the token and the endpoint from the operator, and writing
//! files, are left to the command.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use super::documents::ConfigDocuments;
use super::hcloud_overlay::{HCLOUD_INSTALL_DISK, HcloudCluster, HcloudVip, NodeSettings, OverlayError};
use super::patch::{self, Patch, PatchError, PatchSource};
use super::validate::{self, DecodeErrors, Mode, UserDataEncoding, ValidateOptions, ValidationErrors};
use crate::error::{Class, Classify};
use crate::redact::Redacted;
use crate::spec::{Endpoint, Role, Spec};
use crate::talos::contract::{Artifact, Contract, ContractError};
use crate::talos::machine_type::MachineType;
use crate::talos::secrets::SecretsBundle;

/// The Kubernetes API port.
pub const KUBERNETES_API_PORT: u16 = 6443;

/// The `user_data` encoding configs are checked for: plain YAML, the largest form, so a
/// config that passes fits in every encoding the delivery may choose.
pub const USER_DATA_ENCODING: UserDataEncoding = UserDataEncoding::Plain;

/// The Kubernetes API endpoint, normalised to `https://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEndpoint {
    url: String,
    host: String,
    ip: Option<IpAddr>,
}

/// An `--endpoint` that is not an address, host name or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Kubernetes API endpoint {text:?}: {reason}")]
pub struct EndpointError {
    /// The text given.
    pub text: String,
    /// What is wrong, with the expected form.
    pub reason: String,
}

impl Classify for EndpointError {
    fn class(&self) -> Class {
        Class::InvalidInput
    }

    fn hints(&self) -> Vec<String> {
        vec!["give an address, a host name or a URL: 203.0.113.10, api.example.com or https://203.0.113.10:6443".into()]
    }
}

impl ApiEndpoint {
    /// Parses an IP address, a host name, `HOST:PORT`, or an `https://` URL (no path), and
    /// normalises it to `https://HOST:PORT` (port 6443 unless one is given; IPv6 in
    /// brackets).
    ///
    /// # Errors
    /// [`EndpointError`] for anything else.
    pub fn parse(text: &str) -> Result<ApiEndpoint, EndpointError> {
        let fail = |reason: &str| EndpointError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(fail("it is empty"));
        }
        if let Ok(ip) = trimmed.parse::<IpAddr>() {
            return Ok(ApiEndpoint::from_parts(&ip.to_string(), Some(ip), KUBERNETES_API_PORT));
        }
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_string()
        } else {
            format!("https://{trimmed}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| fail(&e.to_string()))?;
        if url.scheme() != "https" {
            return Err(fail("the scheme must be https"));
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
            return Err(fail("only a scheme, host and port are allowed"));
        }
        if !matches!(url.path(), "" | "/") {
            return Err(fail("a path is not allowed"));
        }
        // The url crate hides a port equal to the scheme's default (443); an explicit one is
        // kept, a missing one means 6443.
        let port = match url.port() {
            Some(port) => port,
            None if has_explicit_port(&with_scheme) => 443,
            None => KUBERNETES_API_PORT,
        };
        match url.host() {
            Some(url::Host::Ipv4(ip)) => Ok(ApiEndpoint::from_parts(&ip.to_string(), Some(IpAddr::V4(ip)), port)),
            Some(url::Host::Ipv6(ip)) => Ok(ApiEndpoint::from_parts(&ip.to_string(), Some(IpAddr::V6(ip)), port)),
            Some(url::Host::Domain(domain)) if !domain.is_empty() => Ok(ApiEndpoint::from_parts(domain, None, port)),
            _ => Err(fail("no host")),
        }
    }

    fn from_parts(host: &str, ip: Option<IpAddr>, port: u16) -> ApiEndpoint {
        let url_host = match ip {
            Some(IpAddr::V6(_)) => format!("[{host}]"),
            _ => host.to_string(),
        };
        ApiEndpoint {
            url: format!("https://{url_host}:{port}"),
            host: host.to_string(),
            ip,
        }
    }

    /// `https://HOST:PORT`, as written into `cluster.controlPlane.endpoint`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The host (an address without brackets, or a DNS name).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The address, if the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }
}

/// Returns true if and only if the authority of `url` (`scheme://authority/…`) ends in
/// `:PORT`.
fn has_explicit_port(url: &str) -> bool {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    match host_port.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.starts_with('[') || host.ends_with(']'))
        }
        None => false,
    }
}

impl fmt::Display for ApiEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// What a cluster's configs are rendered from.
#[derive(Debug, Clone, Copy)]
pub struct ClusterInputs<'a> {
    /// The checked cluster description.
    pub spec: &'a Spec,
    /// The cluster's secrets bundle.
    pub secrets: &'a SecretsBundle,
    /// The Kubernetes API endpoint (the floating IP or the API load balancer).
    pub endpoint: &'a ApiEndpoint,
    /// The Hetzner Cloud API token the Talos VIP controller uses (required for
    /// `endpoint: floating-ip`, unused otherwise).
    pub hcloud_token: Option<&'a Redacted<String>>,
}

/// One node's rendered config. `Debug` leaves out the config: it holds CA keys and, on
/// control planes, the Hetzner token.
#[derive(Clone)]
pub struct RenderedNode {
    /// The node name (also its hostname).
    pub name: String,
    /// Control plane or worker.
    pub role: Role,
    /// The config as checked.
    pub docs: ConfigDocuments,
    /// The config as it is to be written (what was decoded and validated).
    pub yaml: String,
    /// Things worth telling about patches and the config that do not stop it.
    pub warnings: Vec<String>,
}

impl fmt::Debug for RenderedNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedNode")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("yaml", &format_args!("<{} bytes>", self.yaml.len()))
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

/// Why a cluster's configs cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The version in cluster.yaml is one configs are not generated for.
    #[error("cannot render configs for talos.version {version}")]
    Contract {
        /// The version.
        version: String,
        /// The cause.
        #[source]
        source: ContractError,
    },
    /// A floating-IP cluster's endpoint is a host name, not the floating IP.
    #[error(
        "with `endpoint: floating-ip` the Kubernetes API endpoint must be the floating IP's address (it becomes the Talos VIP), not the host name {host:?}"
    )]
    VipNeedsAddress {
        /// The host given.
        host: String,
    },
    /// A floating-IP cluster without a Hetzner token for the VIP.
    #[error(
        "a Hetzner Cloud API token is needed: with `endpoint: floating-ip` every control-plane config carries one for the Talos VIP"
    )]
    MissingToken,
    /// The token has whitespace or control characters inside (never shown).
    #[error("HCLOUD_TOKEN contains whitespace or control characters; a Hetzner Cloud API token is one word")]
    MalformedToken,
    /// A patch file cannot be read or is no patch.
    #[error("cannot load a machine-config patch")]
    LoadPatch(#[source] Box<PatchError>),
    /// The base config of a node cannot be made.
    #[error("cannot generate the machine config of node {node}")]
    Overlay {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<OverlayError>,
    },
    /// A patch does not apply to a node's config.
    #[error("cannot patch the machine config of node {node}")]
    Patch {
        /// The node.
        node: String,
        /// The cause (names the patch file, document and path).
        #[source]
        source: Box<PatchError>,
    },
    /// cluster.yaml's `sysctls:` do not apply.
    #[error("cannot merge cluster.yaml sysctls into the machine config of node {node}")]
    Sysctls {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<PatchError>,
    },
    /// A patch changed the hostname talos-hcloud sets from the node name.
    #[error(
        "the patches change the hostname of node {node} to {found:?}; talos-hcloud names every node after cluster.yaml"
    )]
    HostnameChanged {
        /// The node.
        node: String,
        /// The hostname after the patches (empty when removed).
        found: String,
    },
    /// The emitted config does not decode strictly.
    #[error("the machine config of node {node} does not decode")]
    Decode {
        /// The node.
        node: String,
        /// Every problem.
        #[source]
        source: Box<DecodeErrors>,
    },
    /// The config breaks Talos's (or talos-hcloud's) rules.
    #[error("the machine config of node {node} is invalid")]
    Invalid {
        /// The node.
        node: String,
        /// Every error, with document and path.
        #[source]
        source: Box<ValidationErrors>,
    },
}

impl Classify for RenderError {
    fn class(&self) -> Class {
        match self {
            RenderError::Overlay { source, .. } => source.class(),
            _ => Class::InvalidInput,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            RenderError::Contract { source, .. } => source.hints(),
            RenderError::VipNeedsAddress { .. } => {
                vec!["pass the floating IP's address, e.g. --endpoint 203.0.113.10".into()]
            }
            RenderError::MalformedToken => vec![
                "copy the token again from the Hetzner Cloud console (Security → API tokens), or read it with `HCLOUD_TOKEN=$(tr -d '[:space:]' < token-file)`".into(),
            ],
            RenderError::MissingToken => vec![
                "export HCLOUD_TOKEN with a dedicated Read & Write token of the cluster's project: it is stored in the control-plane configs, so revoking it must not break anything else".into(),
            ],
            RenderError::LoadPatch(source) | RenderError::Patch { source, .. } | RenderError::Sysctls { source, .. } => {
                source.hints()
            }
            RenderError::Decode { source, .. } => source.hints(),
            RenderError::HostnameChanged { .. } => vec![
                "remove machine.network.hostname (HostnameConfig from Talos v1.12) from the patches; rename nodes in cluster.yaml instead".into(),
            ],
            RenderError::Overlay { .. } | RenderError::Invalid { .. } => Vec::new(),
        }
    }
}

/// The hcloud overlay settings of a cluster.
///
/// # Errors
/// [`RenderError::VipNeedsAddress`] or [`RenderError::MissingToken`] for a floating-IP
/// cluster whose endpoint is no address or that has no token.
pub fn hcloud_cluster(
    spec: &Spec,
    endpoint: &ApiEndpoint,
    hcloud_token: Option<&Redacted<String>>,
) -> Result<HcloudCluster, RenderError> {
    let vip = match spec.endpoint {
        Endpoint::LoadBalancer => None,
        Endpoint::FloatingIp => {
            let ip = endpoint.ip().ok_or_else(|| RenderError::VipNeedsAddress {
                host: endpoint.host().to_string(),
            })?;
            let token = hcloud_token
                .filter(|t| !t.expose().trim().is_empty())
                .ok_or(RenderError::MissingToken)?;
            let token = token.expose().trim();
            // A token pasted with a line break or a tab would be written into every
            // control-plane config and fail only when the VIP first moves.
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(RenderError::MalformedToken);
            }
            Some(HcloudVip::new(ip, Redacted::new(token.to_string())))
        }
    };
    Ok(HcloudCluster {
        name: spec.name.as_str().to_string(),
        endpoint: endpoint.url().to_string(),
        talos_version: spec.talos.version.to_string(),
        kubernetes_version: spec.kubernetes.version.to_string(),
        schematic_id: spec.talos.schematic.id.as_str().to_string(),
        pod_subnets: vec![spec.network.pods.to_string()],
        service_subnets: vec![spec.network.services.to_string()],
        install_disk: HCLOUD_INSTALL_DISK.to_string(),
        vip,
    })
}

/// Renders every node's config, control planes first, in cluster.yaml order: the
/// endpoint and token are checked first ([`hcloud_cluster`]), then [`render_nodes`].
///
/// # Errors
/// [`RenderError`] for the first problem: naming the node, and for patches the patch
/// file, document and path. Nothing is returned unless every node renders.
pub fn render_cluster(inputs: &ClusterInputs<'_>) -> Result<Vec<RenderedNode>, RenderError> {
    let cluster = hcloud_cluster(inputs.spec, inputs.endpoint, inputs.hcloud_token)?;
    render_nodes(inputs.spec, inputs.secrets, &cluster)
}

/// Renders every node's config from settings already derived by [`hcloud_cluster`], for
/// a caller that checks the endpoint and token before it reads the secrets bundle.
///
/// # Errors
/// As [`render_cluster`], after the endpoint and token checks.
pub fn render_nodes(
    spec: &Spec,
    secrets: &SecretsBundle,
    cluster: &HcloudCluster,
) -> Result<Vec<RenderedNode>, RenderError> {
    let contract = config_contract(spec)?;
    let patches = load_patch_files(spec)?;

    let mut rendered = Vec::new();
    for node in spec.nodes() {
        let name = node.name.as_str().to_string();
        let machine_type = match node.role {
            Role::ControlPlane => MachineType::ControlPlane,
            Role::Worker => MachineType::Worker,
        };
        let base = cluster
            .node_config(
                secrets,
                &NodeSettings {
                    hostname: name.clone(),
                    machine_type,
                },
            )
            .map_err(|source| RenderError::Overlay {
                node: name.clone(),
                source: Box::new(source),
            })?;
        let node_patches: Vec<Patch> = std::iter::once(private_network_patch(spec, node.role)?)
            .chain(
                spec.patches
                    .for_role(node.role)
                    .filter_map(|path| patches.get(path).cloned()),
            )
            .collect();
        let (patched, patch_warnings) =
            patch::apply(&base, &node_patches, &contract).map_err(|source| RenderError::Patch {
                node: name.clone(),
                source: Box::new(source),
            })?;
        let docs = patch::apply_sysctls(&patched, &spec.sysctls, &contract).map_err(|source| RenderError::Sysctls {
            node: name.clone(),
            source: Box::new(source),
        })?;
        let hostname = hostname_of(&docs, contract);
        if hostname != Some(name.as_str()) {
            return Err(RenderError::HostnameChanged {
                found: hostname.unwrap_or_default().to_string(),
                node: name,
            });
        }
        let yaml = docs.to_yaml();
        let decoded =
            validate::decode_strict_named(&format!("{name}.yaml"), yaml.as_bytes(), contract).map_err(|source| {
                RenderError::Decode {
                    node: name.clone(),
                    source: Box::new(source),
                }
            })?;
        let options = ValidateOptions {
            contract,
            mode: Mode::Cloud,
            node: Some(name.clone()),
            source: None,
            strict: false,
            user_data: Some(USER_DATA_ENCODING),
        };
        let findings = validate::validate(&decoded, &options).map_err(|source| RenderError::Invalid {
            node: name.clone(),
            source: Box::new(source),
        })?;
        let mut warnings: Vec<String> = patch_warnings.iter().map(|w| format!("{name}: {w}")).collect();
        warnings.extend(findings.iter().map(ToString::to_string));
        rendered.push(RenderedNode {
            name,
            role: node.role,
            docs: decoded,
            yaml,
            warnings,
        });
    }
    Ok(rendered)
}

/// talos-hcloud's own patch, applied before cluster.yaml's: cluster traffic stays on the
/// private network. The kubelet picks its node IP from the node subnet
/// (`machine.kubelet.nodeIP.validSubnets`) and control planes advertise etcd on it
/// (`cluster.etcd.advertisedSubnets`), as the reference cluster was run (reference
/// `anchors.md`): otherwise both pick the first routable address, the public one, which
/// the firewalls close to everyone but the admins.
///
/// # Errors
/// [`RenderError::LoadPatch`] if the generated text is no patch (a bug, named as such).
fn private_network_patch(spec: &Spec, role: Role) -> Result<Patch, RenderError> {
    let subnet = spec.network.subnet;
    let mut text = format!("machine:\n  kubelet:\n    nodeIP:\n      validSubnets: [\"{subnet}\"]\n");
    if role == Role::ControlPlane {
        text.push_str(&format!("cluster:\n  etcd:\n    advertisedSubnets: [\"{subnet}\"]\n"));
    }
    patch::load_patch(PatchSource::Inline {
        name: "talos-hcloud private network settings".into(),
        text,
    })
    .map_err(|e| RenderError::LoadPatch(Box::new(e)))
}

/// The static hostname of a config, in the form of its contract (see
/// [`super::hcloud_overlay`]).
fn hostname_of(docs: &ConfigDocuments, contract: Contract) -> Option<&str> {
    if contract.multidoc_network_config() {
        docs.find("HostnameConfig", None)?.get("hostname")?.as_str()
    } else {
        docs.v1alpha1()?
            .get("machine")?
            .get("network")?
            .get("hostname")?
            .as_str()
    }
}

/// Every patch file of the spec, loaded once.
/// Loads every patch file cluster.yaml names and checks it for the Talos line of
/// `talos.version` ([`patch::check`]): what can be known about the patches without a
/// secrets bundle, so `validate` fails on a patch `config gen` would refuse to load.
///
/// # Errors
/// [`RenderError::Contract`] for a version configs are not generated for,
/// [`RenderError::LoadPatch`] for the first patch file that cannot be read, is no patch, or
/// has keys or values the line does not accept.
pub fn check_patch_files(spec: &Spec) -> Result<(), RenderError> {
    let contract = config_contract(spec)?;
    for patch in load_patch_files(spec)?.values() {
        patch::check(patch, &contract).map_err(|e| RenderError::LoadPatch(Box::new(e)))?;
    }
    Ok(())
}

/// The contract of cluster.yaml's `talos.version`, if configs are generated for its line.
fn config_contract(spec: &Spec) -> Result<Contract, RenderError> {
    let version = &spec.talos.version;
    version
        .contract()
        .supported_for(Artifact::MachineConfig)
        .map_err(|source| RenderError::Contract {
            version: version.to_string(),
            source,
        })
}

fn load_patch_files(spec: &Spec) -> Result<BTreeMap<PathBuf, Patch>, RenderError> {
    let mut patches = BTreeMap::new();
    let files = spec
        .patches
        .all
        .iter()
        .chain(&spec.patches.controlplane)
        .chain(&spec.patches.worker);
    for path in files {
        if patches.contains_key(path) {
            continue;
        }
        let patch =
            patch::load_patch(PatchSource::File(path.clone())).map_err(|e| RenderError::LoadPatch(Box::new(e)))?;
        patches.insert(path.clone(), patch);
    }
    Ok(patches)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::talos::config::test_support::reference_dir;

    fn cluster_spec(talos_version: &str, endpoint: &str) -> Spec {
        let text = format!(
            "name: t\nprefix: t-\nlocation: fsn1\ntalos:\n  version: {talos_version}\n  schematic: {{ customization: {{}} }}\n\
             kubernetes: {{ version: v1.34.1 }}\nnetwork: {{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }}\nendpoint: {endpoint}\n\
             firewall: {{ admin_cidrs: [203.0.113.7/32] }}\ncontrolplane: {{ type: cax11, count: 1 }}\n\
             workers: [{{ pool: w, type: cax11, count: 1 }}]\nsysctls: {{ net.ipv4.ip_forward: 1 }}\n"
        );
        crate::spec::parse(std::path::Path::new("cluster.yaml"), &text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn secrets() -> SecretsBundle {
        let text = std::fs::read_to_string(reference_dir().join("talos-golden/secrets.yaml")).expect("golden secrets");
        serde_saphyr::from_str(&text).expect("golden secrets parse")
    }

    #[test]
    fn every_config_line_renders_with_the_version_forms() {
        let token = Redacted::new("token-0123".to_string());
        let endpoint = ApiEndpoint::parse("203.0.113.10").expect("endpoint");
        let secrets = secrets();
        for version in ["v1.10.9", "v1.11.6", "v1.12.11", "v1.13.9"] {
            let spec = cluster_spec(version, "floating-ip");
            let inputs = ClusterInputs {
                spec: &spec,
                secrets: &secrets,
                endpoint: &endpoint,
                hcloud_token: Some(&token),
            };
            let nodes = render_cluster(&inputs).unwrap_or_else(|e| panic!("{version}: {e}"));
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(names, ["cp-1", "w-1"], "{version}");
            for node in &nodes {
                assert!(node.warnings.is_empty(), "{version}: {:?}", node.warnings);
                assert_eq!(
                    hostname_of(&node.docs, Contract::parse(version).expect("v")),
                    Some(node.name.as_str())
                );
                assert!(node.yaml.contains("net.ipv4.ip_forward: \"1\""), "{version}");
                let has_vip = node.yaml.contains("token-0123");
                assert_eq!(has_vip, node.role == Role::ControlPlane, "{version} {}", node.name);
                let multidoc = version >= "v1.12";
                assert_eq!(
                    node.docs.find("HCloudVIPConfig", None).is_some(),
                    multidoc && has_vip,
                    "{version}"
                );
            }
        }
        let spec = cluster_spec("v1.11.6", "floating-ip");
        let missing = ClusterInputs {
            spec: &spec,
            secrets: &secrets,
            endpoint: &endpoint,
            hcloud_token: Some(&Redacted::new("  ".to_string())),
        };
        assert!(matches!(render_cluster(&missing), Err(RenderError::MissingToken)));
        for broken in ["abc\ndef", "abc def", "abc\tdef", "abc\u{7f}def"] {
            let token = Redacted::new(format!("  {broken}\r\n"));
            let inputs = ClusterInputs {
                hcloud_token: Some(&token),
                ..missing
            };
            let error = render_cluster(&inputs).expect_err("a token with a break inside is refused");
            assert!(matches!(error, RenderError::MalformedToken), "{broken:?}: {error}");
            assert!(!error.to_string().contains("abc"), "the token is never shown: {error}");
        }
        // Surrounding whitespace (a trailing newline from a file) is trimmed, not refused.
        let padded = Redacted::new(" token-0123\r\n".to_string());
        let nodes = render_cluster(&ClusterInputs {
            hcloud_token: Some(&padded),
            ..missing
        })
        .expect("a padded token renders");
        assert!(nodes[0].yaml.contains("apiToken: token-0123\n"), "{}", nodes[0].yaml);
        let balanced = cluster_spec("v1.11.6", "load-balancer");
        let named = ApiEndpoint::parse("api.example.com").expect("endpoint");
        let inputs = ClusterInputs {
            spec: &balanced,
            secrets: &secrets,
            endpoint: &named,
            hcloud_token: None,
        };
        let nodes = render_cluster(&inputs).expect("no token needed");
        assert!(nodes.iter().all(|n| !n.yaml.contains("vip:")));
        let debug = format!("{:?}", nodes[0]);
        assert!(
            debug.starts_with("RenderedNode { name: \"cp-1\", role: ControlPlane, yaml: <"),
            "{debug}"
        );
        assert!(!debug.contains("LS0t"), "{debug}");
    }

    #[test]
    fn cluster_traffic_is_pinned_to_the_node_subnet() {
        let token = Redacted::new("token-0123".to_string());
        let endpoint = ApiEndpoint::parse("203.0.113.10").expect("endpoint");
        let secrets = secrets();
        let path = |text: &str| super::super::Path::parse(text).expect("path");
        let strings = |docs: &ConfigDocuments, at: &str| -> Option<Vec<String>> {
            let list = docs.v1alpha1()?.get_path(&path(at))?;
            Some(
                list.as_sequence()?
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
            )
        };
        for version in ["v1.10.9", "v1.11.6", "v1.12.11", "v1.13.9"] {
            let spec = cluster_spec(version, "floating-ip");
            let nodes = render_cluster(&ClusterInputs {
                spec: &spec,
                secrets: &secrets,
                endpoint: &endpoint,
                hcloud_token: Some(&token),
            })
            .unwrap_or_else(|e| panic!("{version}: {e}"));
            for node in &nodes {
                assert_eq!(
                    strings(&node.docs, "machine.kubelet.nodeIP.validSubnets"),
                    Some(vec!["10.0.1.0/24".to_string()]),
                    "{version} {}",
                    node.name
                );
                let etcd = strings(&node.docs, "cluster.etcd.advertisedSubnets");
                match node.role {
                    Role::ControlPlane => assert_eq!(etcd, Some(vec!["10.0.1.0/24".to_string()]), "{version}"),
                    Role::Worker => assert_eq!(etcd, None, "{version}: workers run no etcd"),
                }
            }
        }
    }

    #[test]
    fn endpoints_normalise_to_https_host_and_port() {
        let cases = [
            ("203.0.113.10", "https://203.0.113.10:6443", Some("203.0.113.10")),
            (
                "https://203.0.113.10:6443",
                "https://203.0.113.10:6443",
                Some("203.0.113.10"),
            ),
            (
                "https://203.0.113.10",
                "https://203.0.113.10:6443",
                Some("203.0.113.10"),
            ),
            ("203.0.113.10:8443", "https://203.0.113.10:8443", Some("203.0.113.10")),
            ("2001:db8::1", "https://[2001:db8::1]:6443", Some("2001:db8::1")),
            (
                "https://[2001:db8::1]:7443/",
                "https://[2001:db8::1]:7443",
                Some("2001:db8::1"),
            ),
            ("api.example.com", "https://api.example.com:6443", None),
            ("API.example.com:443", "https://api.example.com:443", None),
        ];
        for (text, url, ip) in cases {
            let endpoint = ApiEndpoint::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(endpoint.url(), url, "{text}");
            assert_eq!(endpoint.ip().map(|ip| ip.to_string()).as_deref(), ip, "{text}");
        }
        for bad in [
            "",
            "http://203.0.113.10",
            "https://a.example/path",
            "https://u:p@a.example",
            "a b",
        ] {
            assert!(ApiEndpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
