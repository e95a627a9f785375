//! The admin kubeconfig an emulated control plane hands out, packed the way apid packs it.
//!
//! The client certificate is `CN=admin, O=system:masters`, signed by the config's
//! Kubernetes CA; the server is the config's endpoint. The archive is a gzip-compressed tar
//! with one regular file `kubeconfig` (mode 0600) and — like Talos, which never closes its
//! tar writer — no padding after the data and no end-of-archive blocks (reference
//! `talos.md` §F.4).

use std::io::Write;
use std::time::Duration;

use base64::Engine as _;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use super::config::AcceptedConfig;
use crate::talos::pki::{self, CertificateAuthority, ExtKeyUsage, KeyUsage, LeafSpec};

/// Validity of the admin kubeconfig's client certificate: one year, as Talos issues it.
const ADMIN_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    api_version: &'static str,
    kind: &'static str,
    clusters: Vec<NamedCluster>,
    users: Vec<NamedUser>,
    contexts: Vec<NamedContext>,
    current_context: String,
}

#[derive(Serialize)]
struct NamedCluster {
    name: String,
    cluster: ClusterEntry,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    server: String,
    certificate_authority_data: String,
}

#[derive(Serialize)]
struct NamedUser {
    name: String,
    user: UserEntry,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    client_certificate_data: String,
    client_key_data: String,
}

#[derive(Serialize)]
struct NamedContext {
    name: String,
    context: ContextEntry,
}

#[derive(Serialize)]
struct ContextEntry {
    cluster: String,
    namespace: String,
    user: String,
}

/// Why the kubeconfig could not be produced.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KubeconfigBuildError {
    /// The configuration has no Kubernetes CA key (a worker's config).
    #[error("the configuration has no Kubernetes CA key")]
    NoCaKey,
    /// The Kubernetes CA could not be loaded or could not sign.
    #[error("cannot sign the admin certificate")]
    Pki(#[from] pki::Error),
    /// YAML rendering failed (an internal invariant).
    #[error("cannot render the kubeconfig: {0}")]
    Render(String),
}

/// Renders the admin kubeconfig YAML for a control plane's configuration.
pub(crate) fn admin_kubeconfig(config: &AcceptedConfig) -> Result<String, KubeconfigBuildError> {
    let ca_key = config
        .kubernetes_ca
        .key_pem
        .as_ref()
        .ok_or(KubeconfigBuildError::NoCaKey)?;
    let kubernetes_ca = CertificateAuthority::from_pem(&config.kubernetes_ca.crt_pem, ca_key.expose())?;
    // The key type follows the CA: ECDSA P-256 under Talos's Kubernetes CA.
    let client = pki::issue(
        &kubernetes_ca,
        &LeafSpec {
            common_name: Some("admin".into()),
            organizations: vec!["system:masters".into()],
            key_usage: vec![KeyUsage::DigitalSignature],
            ext_key_usage: vec![ExtKeyUsage::ClientAuth],
            validity: ADMIN_CERT_VALIDITY,
            ..LeafSpec::default()
        },
    )?;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let name = config.cluster_name.clone();
    let user = format!("admin@{name}");
    let document = Kubeconfig {
        api_version: "v1",
        kind: "Config",
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: ClusterEntry {
                server: config.endpoint.url.clone(),
                certificate_authority_data: b64(&config.kubernetes_ca.crt_pem),
            },
        }],
        users: vec![NamedUser {
            name: user.clone(),
            user: UserEntry {
                client_certificate_data: b64(client.crt.as_str()),
                client_key_data: b64(client.key.as_str()),
            },
        }],
        contexts: vec![NamedContext {
            name: user.clone(),
            context: ContextEntry {
                cluster: name,
                namespace: "default".into(),
                user: user.clone(),
            },
        }],
        current_context: user,
    };
    serde_saphyr::to_string(&document).map_err(|e| KubeconfigBuildError::Render(e.to_string()))
}

/// Packs one file as apid does: gzip(tar header + data), no padding, no trailer.
pub(crate) fn talos_tarball(name: &str, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_path(name)?;
    header.set_size(data.len() as u64);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    header.set_cksum();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(header.as_bytes())?;
    gz.write_all(data)?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarball_has_no_trailer() {
        let bytes = talos_tarball("kubeconfig", b"hello").expect("in memory");
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes.as_slice()), &mut raw).expect("gunzip");
        assert_eq!(raw.len(), 512 + 5, "header plus data, nothing after");
        assert_eq!(&raw[512..], b"hello");
        assert_eq!(&raw[..10], b"kubeconfig");
    }
}
