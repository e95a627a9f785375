//! What an emulated node reads from a machine configuration it receives.
//!
//! [`accept_config`] is the one door: a minimal typed reader of the fields the node acts on
//! (machine type, OS CA, cert SANs, hostname, cluster identity, Kubernetes CA, endpoint,
//! etcd presence), for the v1alpha1 document and the v1.12+ multi-document form
//! (`HostnameConfig`; v1.14's `KubeClusterConfig`, `DiscoveryIdentityConfig`,
//! `KubeAPIServerCAConfig`). Other fields are ignored here: Talos's strict decoding and
//! validation come from outside through [`ConfigValidator`] (the emulator imports nothing
//! of the client side's `talos::config`; callers pass
//! `talos_hcloud::talos::config::validate::node_validator()`).

use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;

use crate::redact::Redacted;
/// `machine.type`, as the node reads it from a received config.
pub use crate::talos::machine_type::MachineType;

/// The strict check every received configuration passes before [`accept_config`] reads it
/// (Talos's decoder and validator), given the raw bytes and the node's Talos release as
/// written (`v1.11.6`); `Err` text becomes the `InvalidArgument` message.
///
/// A plain function type, so that the emulator and the validator need not know each other.
pub type ConfigValidator = Arc<dyn Fn(&[u8], &str) -> Result<(), String> + Send + Sync>;

/// A CA certificate (PEM) and, when the config carries it, its key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPair {
    /// The certificate, PEM.
    pub crt_pem: String,
    /// The private key, PEM (absent on workers).
    pub key_pem: Option<Redacted<String>>,
}

/// The Kubernetes API endpoint (`cluster.controlPlane.endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEndpoint {
    /// The URL as written.
    pub url: String,
    /// Its host (DNS name or IP address, without brackets).
    pub host: String,
    /// Its port (6443 when absent).
    pub port: u16,
}

/// The fields of a machine configuration the emulated node acts on.
#[derive(Clone)]
pub struct AcceptedConfig {
    /// `machine.type`.
    pub machine_type: MachineType,
    /// `machine.ca`: the OS (Talos API) CA.
    pub os_ca: CaPair,
    /// `machine.acceptedCAs`: more CAs trusted for client certificates (PEM).
    pub accepted_cas: Vec<String>,
    /// `machine.certSANs`.
    pub cert_sans: Vec<String>,
    /// `machine.network.hostname` or a `HostnameConfig` document's `hostname`.
    pub hostname: Option<String>,
    /// `cluster.id` (or `DiscoveryIdentityConfig.clusterID`): the emulated etcd cluster key.
    pub cluster_id: String,
    /// `cluster.clusterName` (or `KubeClusterConfig.clusterName`).
    pub cluster_name: String,
    /// `cluster.controlPlane.endpoint` (or `KubeClusterConfig.endpoint`).
    pub endpoint: ClusterEndpoint,
    /// `cluster.ca` (or `KubeAPIServerCAConfig.issuingCA`): the Kubernetes CA.
    pub kubernetes_ca: CaPair,
    /// Whether `cluster.etcd` is present (control planes run etcd).
    pub etcd_configured: bool,
    /// `cluster.etcd.advertisedSubnets` (or the deprecated `cluster.etcd.subnet`): where
    /// etcd picks the addresses it advertises to peers; empty: the first routed address.
    pub etcd_advertised_subnets: Vec<String>,
    /// `machine.kubelet.nodeIP.validSubnets`: where the kubelet picks its node IP; empty:
    /// any address.
    pub kubelet_valid_subnets: Vec<String>,
    /// The Kubernetes version from `cluster.apiServer.image`'s tag, if set.
    pub kubernetes_version: Option<String>,
    /// `machine.features.rbac` (only consulted before v1.12).
    pub rbac: Option<bool>,
    /// `machine.features.apidCheckExtKeyUsage` (only consulted before v1.12).
    pub apid_check_ext_key_usage: Option<bool>,
    /// `machine.install.image`: the installer image an upgrade without an explicit image
    /// would use (the node records it; emulated upgrades honour it).
    pub install_image: Option<String>,
    /// The bytes as received.
    pub raw: Vec<u8>,
}

impl std::fmt::Debug for AcceptedConfig {
    /// Leaves out the raw bytes: they hold CA keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptedConfig")
            .field("machine_type", &self.machine_type)
            .field("cluster_id", &self.cluster_id)
            .field("cluster_name", &self.cluster_name)
            .field("endpoint", &self.endpoint.url)
            .field("hostname", &self.hostname)
            .field("cert_sans", &self.cert_sans)
            .field("raw", &format_args!("{} bytes", self.raw.len()))
            .finish_non_exhaustive()
    }
}

/// Why a machine configuration was refused; the text is the node's `InvalidArgument`
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigRejected {
    /// Not UTF-8.
    #[error("the machine configuration is not UTF-8 text")]
    NotText,
    /// Not YAML (or a known field has the wrong shape).
    #[error("failed to decode the machine configuration: {0}")]
    Decode(String),
    /// No v1alpha1 document.
    #[error(
        "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?"
    )]
    NoV1alpha1,
    /// A required field is missing or empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A field has an unusable value.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field path.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The plugged-in validator refused it.
    #[error("{0}")]
    Validator(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyDoc {
    version: Option<String>,
    kind: Option<String>,
    machine: Option<RawMachine>,
    cluster: Option<RawCluster>,
    // HostnameConfig
    hostname: Option<String>,
    // KubeClusterConfig
    cluster_name: Option<String>,
    endpoint: Option<String>,
    // DiscoveryIdentityConfig
    #[serde(rename = "clusterID")]
    cluster_id: Option<String>,
    // KubeAPIServerCAConfig (raw PEM)
    #[serde(rename = "issuingCA")]
    issuing_ca: Option<RawPemPair>,
    // KubeAPIServerConfig
    image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMachine {
    #[serde(rename = "type")]
    machine_type: Option<String>,
    ca: Option<RawCa>,
    #[serde(rename = "acceptedCAs")]
    accepted_cas: Option<Vec<RawCa>>,
    #[serde(rename = "certSANs")]
    cert_sans: Option<Vec<String>>,
    network: Option<RawNetwork>,
    kubelet: Option<RawKubelet>,
    features: Option<RawFeatures>,
    install: Option<RawInstall>,
}

#[derive(Debug, Default, Deserialize)]
struct RawInstall {
    image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawCa {
    crt: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawPemPair {
    cert: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKubelet {
    #[serde(rename = "nodeIP")]
    node_ip: Option<RawNodeIp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNodeIp {
    valid_subnets: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEtcd {
    advertised_subnets: Option<Vec<String>>,
    subnet: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawNetwork {
    hostname: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFeatures {
    rbac: Option<bool>,
    apid_check_ext_key_usage: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCluster {
    id: Option<String>,
    cluster_name: Option<String>,
    control_plane: Option<RawControlPlane>,
    ca: Option<RawCa>,
    etcd: Option<RawEtcd>,
    api_server: Option<RawApiServer>,
}

#[derive(Debug, Default, Deserialize)]
struct RawControlPlane {
    endpoint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawApiServer {
    image: Option<String>,
}

/// Talos's reading of the etcd subnets: `advertisedSubnets`, else the deprecated
/// `subnet`.
fn etcd_subnets(etcd: Option<&RawEtcd>) -> Vec<String> {
    let Some(etcd) = etcd else {
        return Vec::new();
    };
    match (&etcd.advertised_subnets, &etcd.subnet) {
        (Some(list), _) if !list.is_empty() => list.clone(),
        (_, Some(subnet)) if !subnet.is_empty() => vec![subnet.clone()],
        _ => Vec::new(),
    }
}

/// Reads and checks a machine configuration (the bytes of ApplyConfiguration or of
/// decoded user data).
///
/// # Errors
///
/// [`ConfigRejected`] naming the first problem found.
pub fn accept_config(bytes: &[u8]) -> Result<AcceptedConfig, ConfigRejected> {
    let text = std::str::from_utf8(bytes).map_err(|_| ConfigRejected::NotText)?;
    let docs: Vec<AnyDoc> = serde_saphyr::from_multiple(text).map_err(|e| ConfigRejected::Decode(e.to_string()))?;
    let mut v1alpha1 = None;
    let mut others = Vec::new();
    for doc in docs {
        if doc.kind.is_none() && doc.version.as_deref() == Some("v1alpha1") && v1alpha1.is_none() {
            v1alpha1 = Some(doc);
        } else if doc.kind.is_none() && doc.version.is_some() {
            return Err(ConfigRejected::Invalid {
                field: "version",
                reason: format!("unsupported config version {:?}", doc.version.unwrap_or_default()),
            });
        } else {
            others.push(doc);
        }
    }
    let main = v1alpha1.ok_or(ConfigRejected::NoV1alpha1)?;
    let kind_doc = |kind: &str| others.iter().find(|d| d.kind.as_deref() == Some(kind));
    let machine = main.machine.unwrap_or_default();
    let cluster = main.cluster.unwrap_or_default();

    let machine_type = match machine.machine_type.as_deref() {
        Some(name) => MachineType::from_name(name).ok_or_else(|| ConfigRejected::Invalid {
            field: "machine.type",
            reason: format!("unknown machine type {name:?} (expected controlplane or worker)"),
        })?,
        None => return Err(ConfigRejected::Missing("machine.type")),
    };

    let os_ca =
        base64_ca(machine.ca, "machine.ca.crt", "machine.ca.key")?.ok_or(ConfigRejected::Missing("machine.ca.crt"))?;
    if machine_type.is_control_plane() && os_ca.key_pem.is_none() {
        return Err(ConfigRejected::Missing("machine.ca.key"));
    }
    let mut accepted_cas = Vec::new();
    for ca in machine.accepted_cas.unwrap_or_default() {
        if let Some(pair) = base64_ca(Some(ca), "machine.acceptedCAs[].crt", "machine.acceptedCAs[].key")? {
            accepted_cas.push(pair.crt_pem);
        }
    }

    let hostname_doc = kind_doc("HostnameConfig").and_then(|d| d.hostname.clone());
    let hostname = machine
        .network
        .and_then(|n| n.hostname)
        .or(hostname_doc)
        .filter(|h| !h.is_empty());

    let kube_cluster = kind_doc("KubeClusterConfig");
    let cluster_id = cluster
        .id
        .or_else(|| kind_doc("DiscoveryIdentityConfig").and_then(|d| d.cluster_id.clone()))
        .filter(|id| !id.is_empty())
        .ok_or(ConfigRejected::Missing("cluster.id"))?;
    let cluster_name = cluster
        .cluster_name
        .or_else(|| kube_cluster.and_then(|d| d.cluster_name.clone()))
        .filter(|n| !n.is_empty())
        .ok_or(ConfigRejected::Missing("cluster.clusterName"))?;
    let endpoint_url = cluster
        .control_plane
        .and_then(|c| c.endpoint)
        .or_else(|| kube_cluster.and_then(|d| d.endpoint.clone()))
        .ok_or(ConfigRejected::Missing("cluster.controlPlane.endpoint"))?;
    let endpoint = parse_endpoint(&endpoint_url)?;

    let kubernetes_ca = match base64_ca(cluster.ca, "cluster.ca.crt", "cluster.ca.key")? {
        Some(pair) => pair,
        None => {
            let issuing = kind_doc("KubeAPIServerCAConfig")
                .and_then(|d| d.issuing_ca.as_ref())
                .ok_or(ConfigRejected::Missing("cluster.ca.crt"))?;
            let crt_pem = issuing.cert.clone().ok_or(ConfigRejected::Missing("cluster.ca.crt"))?;
            check_certificate_pem(&crt_pem, "KubeAPIServerCAConfig.issuingCA.cert")?;
            CaPair {
                crt_pem,
                key_pem: issuing.key.clone().filter(|k| !k.is_empty()).map(Redacted::new),
            }
        }
    };
    if machine_type.is_control_plane() && kubernetes_ca.key_pem.is_none() {
        return Err(ConfigRejected::Missing("cluster.ca.key"));
    }

    let api_server_image = cluster
        .api_server
        .and_then(|a| a.image)
        .or_else(|| kind_doc("KubeAPIServerConfig").and_then(|d| d.image.clone()));
    let kubernetes_version = api_server_image
        .and_then(|image| image.rsplit_once(':').map(|(_, tag)| tag.to_string()))
        .filter(|tag| tag.starts_with('v'));

    let features = machine.features.unwrap_or_default();
    Ok(AcceptedConfig {
        machine_type,
        os_ca,
        accepted_cas,
        cert_sans: machine.cert_sans.unwrap_or_default(),
        hostname,
        cluster_id,
        cluster_name,
        endpoint,
        kubernetes_ca,
        etcd_configured: cluster.etcd.is_some(),
        etcd_advertised_subnets: etcd_subnets(cluster.etcd.as_ref()),
        kubelet_valid_subnets: machine
            .kubelet
            .and_then(|k| k.node_ip)
            .and_then(|n| n.valid_subnets)
            .unwrap_or_default(),
        kubernetes_version,
        rbac: features.rbac,
        apid_check_ext_key_usage: features.apid_check_ext_key_usage,
        install_image: machine.install.and_then(|i| i.image).filter(|i| !i.is_empty()),
        raw: bytes.to_vec(),
    })
}

/// Undoes Hetzner user-data packaging the way Talos does (reference `talos.md` §G.1): try
/// standard base64 of the whole body (line breaks ignored), then gunzip if the result
/// starts with the gzip magic; otherwise keep the bytes.
pub fn decode_user_data(body: &[u8]) -> Vec<u8> {
    let compact: Vec<u8> = body.iter().copied().filter(|b| *b != b'\r' && *b != b'\n').collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .unwrap_or_else(|_| body.to_vec());
    if decoded.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        let mut reader = flate2::read::GzDecoder::new(decoded.as_slice());
        if std::io::Read::read_to_end(&mut reader, &mut out).is_ok() {
            return out;
        }
    }
    decoded
}

fn base64_ca(
    raw: Option<RawCa>,
    crt_field: &'static str,
    key_field: &'static str,
) -> Result<Option<CaPair>, ConfigRejected> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let Some(crt) = raw.crt.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let crt_pem = base64_pem(&crt, crt_field)?;
    check_certificate_pem(&crt_pem, crt_field)?;
    let key_pem = match raw.key.filter(|k| !k.is_empty()) {
        Some(key) => Some(Redacted::new(base64_pem(&key, key_field)?)),
        None => None,
    };
    Ok(Some(CaPair { crt_pem, key_pem }))
}

fn base64_pem(value: &str, field: &'static str) -> Result<String, ConfigRejected> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| ConfigRejected::Invalid {
            field,
            reason: format!("not standard base64: {e}"),
        })?;
    String::from_utf8(bytes).map_err(|_| ConfigRejected::Invalid {
        field,
        reason: "base64 does not decode to PEM text".into(),
    })
}

fn check_certificate_pem(pem_text: &str, field: &'static str) -> Result<(), ConfigRejected> {
    let blocks = pem::parse_many(pem_text).map_err(|e| ConfigRejected::Invalid {
        field,
        reason: format!("malformed PEM: {e}"),
    })?;
    let cert = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .ok_or_else(|| ConfigRejected::Invalid {
            field,
            reason: "no PEM certificate".into(),
        })?;
    x509_parser::parse_x509_certificate(cert.contents()).map_err(|e| ConfigRejected::Invalid {
        field,
        reason: format!("not an X.509 certificate: {e}"),
    })?;
    Ok(())
}

fn parse_endpoint(url_text: &str) -> Result<ClusterEndpoint, ConfigRejected> {
    let invalid = |reason: String| ConfigRejected::Invalid {
        field: "cluster.controlPlane.endpoint",
        reason,
    };
    let url = url::Url::parse(url_text).map_err(|e| invalid(format!("{url_text:?} is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(invalid(format!("{url_text:?} must use https")));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(invalid(format!("{url_text:?} has no host"))),
    };
    Ok(ClusterEndpoint {
        url: url_text.to_string(),
        host,
        port: url.port().unwrap_or(6443),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA_PEM_B64: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJQakNCOGFBREFnRUNBaEI5cStGVXpodzkycHVPemtpNzB1eGRNQVVHQXl0bGNEQVFNUTR3REFZRFZRUUsKRXdWMFlXeHZjekFlRncweU16RXdNVEl4TURRMk1EbGFGdzB6TXpFd01Ea3hNRFEyTURsYU1CQXhEakFNQmdOVgpCQW9UQlhSaGJHOXpNQ293QlFZREsyVndBeUVBaHVLczZxeCtKWi8wWG8ybXdpQUNjK1EwSVYySGhMd3ozVTZICmUxemZjS2lqWVRCZk1BNEdBMVVkRHdFQi93UUVBd0lDaERBZEJnTlZIU1VFRmpBVUJnZ3JCZ0VGQlFjREFRWUkKS3dZQkJRVUhBd0l3RHdZRFZSMFRBUUgvQkFVd0F3RUIvekFkQmdOVkhRNEVGZ1FVSlgzWlVNRktWWFZ5NWhKWQozZG9NWENpVEJZRXdCUVlESzJWd0EwRUFCbUxrbDhITmQ3cUpEN3VqQkk2UG9abVRQQWlEcU9GQ0NTVDZJYlZDClF3UzQ1bk1tMldtalRIc3ZrYU5FQ0dneTBhQXJaaFdsbnVYWUswY0t3Z2VJQ0E9PQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";

    fn worker(extra_machine: &str, extra_docs: &str) -> String {
        format!(
            "version: v1alpha1\nmachine:\n    type: worker\n    ca:\n        crt: {CA_PEM_B64}\n        key: \"\"\n{extra_machine}cluster:\n    id: abc\n    clusterName: base\n    controlPlane:\n        endpoint: https://base:6443\n    ca:\n        crt: {CA_PEM_B64}\n        key: \"\"\n{extra_docs}"
        )
    }

    #[test]
    fn reads_a_worker_with_hostname_document() {
        let text = worker("", "---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: w-1\n");
        let config = accept_config(text.as_bytes()).expect("accepted");
        assert_eq!(config.machine_type, MachineType::Worker);
        assert_eq!(config.hostname.as_deref(), Some("w-1"));
        assert_eq!(config.cluster_id, "abc");
        assert_eq!(config.endpoint.host, "base");
        assert_eq!(config.endpoint.port, 6443);
        assert!(config.os_ca.key_pem.is_none());
        assert!(!config.etcd_configured);
        assert!(config.os_ca.crt_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn v1alpha1_hostname_wins_and_sans_are_read() {
        let text = worker(
            "    certSANs: [10.0.0.5, cp.example.com]\n    network:\n        hostname: from-v1alpha1\n",
            "",
        );
        let config = accept_config(text.as_bytes()).expect("accepted");
        assert_eq!(config.hostname.as_deref(), Some("from-v1alpha1"));
        assert_eq!(config.cert_sans, ["10.0.0.5", "cp.example.com"]);
    }

    #[test]
    fn refusals_name_the_problem() {
        assert_eq!(accept_config(b"\xff\xfe").unwrap_err(), ConfigRejected::NotText);
        let no_v1 = "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n";
        assert_eq!(accept_config(no_v1.as_bytes()).unwrap_err(), ConfigRejected::NoV1alpha1);
        let cp_without_key = worker("", "").replace("type: worker", "type: controlplane");
        assert_eq!(
            accept_config(cp_without_key.as_bytes()).unwrap_err(),
            ConfigRejected::Missing("machine.ca.key")
        );
        let bad_type = worker("", "").replace("type: worker", "type: master");
        assert!(matches!(
            accept_config(bad_type.as_bytes()).unwrap_err(),
            ConfigRejected::Invalid {
                field: "machine.type",
                ..
            }
        ));
        let http = worker("", "").replace("https://base:6443", "http://base:6443");
        assert!(matches!(
            accept_config(http.as_bytes()).unwrap_err(),
            ConfigRejected::Invalid {
                field: "cluster.controlPlane.endpoint",
                ..
            }
        ));
        assert!(matches!(
            accept_config(b"machine: [").unwrap_err(),
            ConfigRejected::Decode(_)
        ));
    }

    #[test]
    fn user_data_may_be_plain_base64_or_base64_gzip() {
        use std::io::Write;
        let yaml = b"version: v1alpha1\n";
        assert_eq!(decode_user_data(yaml), yaml);
        let b64 = base64::engine::general_purpose::STANDARD.encode(yaml);
        assert_eq!(decode_user_data(b64.as_bytes()), yaml);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(yaml).expect("in-memory");
        let gz = gz.finish().expect("in-memory");
        let mut wrapped = base64::engine::general_purpose::STANDARD.encode(gz);
        wrapped.insert(10, '\n');
        assert_eq!(decode_user_data(wrapped.as_bytes()), yaml);
    }
}
