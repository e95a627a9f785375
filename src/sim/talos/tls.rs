//! TLS of the emulated node: apid in maintenance mode (ephemeral self-signed certificate,
//! no client authentication) and configured mode (certificate from the config's OS CA,
//! client certificates required, chained to that CA with ExtKeyUsage exactly
//! `[clientAuth]`), the client side of request forwarding (`os:impersonator`), and the
//! Kubernetes API endpoint (certificate from the cluster CA, client certificates verified
//! when given). Reference `talos.md` §F.5. The provider, trust anchors and the forwarding
//! client's rustls settings come from [`crate::talos::pki::tls`], shared with the Talos API
//! client; how the node checks its clients is its own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{ClientConfig, DistinguishedName, ServerConfig};

use super::config::{AcceptedConfig, CaPair};
use crate::redact::Redacted;
use crate::talos::pki::{self, CertAndKey, CertificateAuthority, ExtKeyUsage, KeyUsage, LeafSpec};
use crate::talos::version::TalosVersion;

/// Validity of every certificate the node issues for itself: apid's 24 hours (reference
/// `talos.md` §F.5).
const NODE_CERT_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// Why the node could not set up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A CA could not be loaded or could not issue a certificate.
    #[error("cannot issue the node's certificate")]
    Pki(#[from] pki::Error),
    /// rustls refused the material.
    #[error("TLS settings rejected")]
    Rustls(#[from] rustls::Error),
    /// A CA or the forwarding identity could not be made into rustls settings.
    #[error(transparent)]
    Tls(#[from] pki::tls::Error),
    /// The client verifier could not be built from the CA certificates.
    #[error("cannot read the CA certificate: {0}")]
    Ca(String),
    /// The config lacks a CA key the node needs to sign its own certificate.
    #[error("the configuration has no {0} key to sign the node's certificate")]
    NoCaKey(&'static str),
}

fn server_config_builder() -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, TlsSetupError> {
    Ok(ServerConfig::builder_with_provider(pki::tls::provider()).with_safe_default_protocol_versions()?)
}

/// A certificate and its key as rustls takes them.
fn rustls_pair(pair: &CertAndKey) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
    Ok((
        pki::certificates_der(pair.crt.as_str())?,
        pki::private_key_der(pair.key.as_str())?,
    ))
}

/// Loads a CA of the configuration with the key the node holds for it.
fn load_ca(ca: &CaPair, key_pem: &Redacted<String>) -> Result<CertificateAuthority, TlsSetupError> {
    Ok(CertificateAuthority::from_pem(&ca.crt_pem, key_pem.expose())?)
}

/// Maintenance-mode apid TLS: an ephemeral self-signed CA (Ed25519, empty subject, 24 h,
/// [`pki::CaSpec::ephemeral`]) and a leaf `CN=maintenance-service.talos.dev` for the
/// node's IPs, loopback and hostname.
pub(crate) fn maintenance(address: IpAddr, hostname: &str) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let ca = CertificateAuthority::generate(&pki::CaSpec::ephemeral(NODE_CERT_VALIDITY))?;
    let leaf = pki::issue_server_cert(
        &ca,
        "maintenance-service.talos.dev",
        &dedup(vec![
            address,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        &[hostname],
        NODE_CERT_VALIDITY,
    )?;
    let (chain, key) = rustls_pair(&leaf)?;
    let mut config = server_config_builder()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Configured-mode apid TLS and, for control planes, the client configuration used to
/// forward requests to other nodes.
pub(crate) struct ConfiguredTls {
    /// The server side.
    pub server: Arc<ServerConfig>,
    /// The `os:impersonator` client side (control planes only).
    pub impersonator: Option<Arc<ClientConfig>>,
}

/// Configured-mode apid TLS: a server certificate from the OS CA (CN = hostname; SANs =
/// the node address, `machine.certSANs`, hostname, and `127.0.0.1` from v1.13), client
/// certificates required and checked as apid does.
pub(crate) fn configured(
    config: &AcceptedConfig,
    os_ca_key: &Redacted<String>,
    address: IpAddr,
    hostname: &str,
    version: &TalosVersion,
) -> Result<ConfiguredTls, TlsSetupError> {
    let os_ca = load_ca(&config.os_ca, os_ca_key)?;
    let (mut ips, mut dns) = split_sans(&config.cert_sans);
    ips.push(address);
    if version.at_least(1, 13) {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    dns.push(hostname.to_string());
    let dns = dedup(dns);
    let dns: Vec<&str> = dns.iter().map(String::as_str).collect();
    let leaf = pki::issue_server_cert(&os_ca, hostname, &dedup(ips), &dns, NODE_CERT_VALIDITY)?;
    let mut anchors: Vec<&str> = vec![config.os_ca.crt_pem.as_str()];
    anchors.extend(config.accepted_cas.iter().map(String::as_str));
    let inner =
        WebPkiClientVerifier::builder_with_provider(Arc::new(pki::tls::root_store(&anchors)?), pki::tls::provider())
            .build()
            .map_err(|e| TlsSetupError::Ca(e.to_string()))?;
    // v1.10–v1.11 check the key usage only when the config asks (generated configs do).
    let check_eku = version.at_least(1, 12) || config.apid_check_ext_key_usage == Some(true);
    let (chain, key) = rustls_pair(&leaf)?;
    let mut server = server_config_builder()?
        .with_client_cert_verifier(Arc::new(TalosClientVerifier {
            inner,
            check_eku,
            algorithms: pki::tls::provider().signature_verification_algorithms,
        }))
        .with_single_cert(chain, key)?;
    server.alpn_protocols = vec![b"h2".to_vec()];

    let impersonator = if config.machine_type.is_control_plane() {
        // A control plane's proxy identity: CN = node name, O = os:impersonator (§F.5).
        let client = pki::issue(
            &os_ca,
            &LeafSpec {
                organizations: vec!["os:impersonator".into()],
                common_name: Some(hostname.to_string()),
                key_usage: vec![KeyUsage::DigitalSignature],
                ext_key_usage: vec![ExtKeyUsage::ClientAuth],
                validity: NODE_CERT_VALIDITY,
                ..LeafSpec::default()
            },
        )?;
        let client_config =
            pki::tls::mtls_client_config(&config.os_ca.crt_pem, client.crt.as_str(), client.key.as_str())?;
        Some(Arc::new(client_config))
    } else {
        None
    };
    Ok(ConfiguredTls {
        server: Arc::new(server),
        impersonator,
    })
}

/// Kubernetes API server TLS: a certificate from the cluster CA for the node address, the
/// endpoint host and the usual in-cluster names; client certificates are verified against
/// the cluster CA when presented (anonymous requests reach only the public paths).
pub(crate) fn kube_apiserver(
    config: &AcceptedConfig,
    address: IpAddr,
    hostname: &str,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let ca_key = config
        .kubernetes_ca
        .key_pem
        .as_ref()
        .ok_or(TlsSetupError::NoCaKey("cluster.ca"))?;
    let kubernetes_ca = load_ca(&config.kubernetes_ca, ca_key)?;
    let (mut ips, mut dns) = split_sans(&config.cert_sans);
    ips.extend([address, IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    match config.endpoint.host.parse::<IpAddr>() {
        Ok(ip) => ips.push(ip),
        Err(_) => dns.push(config.endpoint.host.clone()),
    }
    dns.extend(
        [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
            hostname,
        ]
        .map(String::from),
    );
    let dns = dedup(dns);
    let dns: Vec<&str> = dns.iter().map(String::as_str).collect();
    // The Kubernetes CA is ECDSA P-256, so is the leaf (the key type follows the CA).
    let leaf = pki::issue_server_cert(&kubernetes_ca, "kube-apiserver", &dedup(ips), &dns, NODE_CERT_VALIDITY)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(pki::tls::root_store(&[config.kubernetes_ca.crt_pem.as_str()])?),
        pki::tls::provider(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| TlsSetupError::Ca(e.to_string()))?;
    let (chain, key) = rustls_pair(&leaf)?;
    let mut server = server_config_builder()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

/// apid's client check: the chain must verify against the accepted CAs, and (v1.12+, or
/// when the config asks) the leaf's ExtKeyUsage must be exactly `[clientAuth]` — a failure
/// aborts the handshake, as Talos's `VerifyPeerCertificate` does.
#[derive(Debug)]
struct TalosClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    check_eku: bool,
    /// The provider's signature algorithms (those `inner` checks with too).
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for TalosClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        if self.check_eku && !eku_is_client_auth_only(end_entity) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::InvalidPurpose,
            ));
        }
        Ok(verified)
    }

    pki::tls::verify_signatures_with_provider_algorithms!();
}

fn eku_is_client_auth_only(der: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let eku = eku.value;
            eku.client_auth
                && !eku.any
                && !eku.server_auth
                && !eku.code_signing
                && !eku.email_protection
                && !eku.time_stamping
                && !eku.ocsp_signing
                && eku.other.is_empty()
        }
        _ => false,
    }
}

/// Who is on the other end of a TLS connection, from its verified leaf certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PeerIdentity {
    /// Subject CN.
    pub common_name: Option<String>,
    /// Subject O values (Talos roles / Kubernetes groups), trimmed, empty ones dropped.
    pub organizations: Vec<String>,
}

impl PeerIdentity {
    /// Reads the first certificate of a verified chain (none: anonymous).
    pub(crate) fn from_chain(chain: Option<&[CertificateDer<'_>]>) -> PeerIdentity {
        let Some(leaf) = chain.and_then(|c| c.first()) else {
            return PeerIdentity::default();
        };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
            return PeerIdentity::default();
        };
        let subject = cert.subject();
        PeerIdentity {
            common_name: subject
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_string),
            organizations: subject
                .iter_organization()
                .filter_map(|o| o.as_str().ok())
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }
}

fn split_sans(sans: &[String]) -> (Vec<IpAddr>, Vec<String>) {
    let mut ips = Vec::new();
    let mut dns = Vec::new();
    for san in sans {
        match san.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns.push(san.clone()),
        }
    }
    (ips, dns)
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::pki::{CaSpec, KeyAlgorithm, SubjectKeyId};

    fn client_cert(ca: &CertificateAuthority, usages: Vec<ExtKeyUsage>) -> CertificateDer<'static> {
        let pair = pki::issue(
            ca,
            &LeafSpec {
                organizations: vec!["os:admin".into()],
                key_usage: vec![KeyUsage::DigitalSignature],
                ext_key_usage: usages,
                validity: Duration::from_secs(600),
                ..LeafSpec::default()
            },
        )
        .expect("the test CA signs");
        pki::certificate_der(pair.crt.as_str()).expect("issued PEM is a certificate")
    }

    #[test]
    fn eku_must_be_client_auth_alone() {
        let ca = CertificateAuthority::generate(&CaSpec {
            organization: Some("talos".into()),
            algorithm: KeyAlgorithm::Ed25519,
            not_before: time::OffsetDateTime::now_utc(),
            validity: Duration::from_secs(600),
            subject_key_id: SubjectKeyId::Random,
        })
        .expect("ca");
        let good = client_cert(&ca, vec![ExtKeyUsage::ClientAuth]);
        assert!(eku_is_client_auth_only(&good));
        let both = client_cert(&ca, vec![ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth]);
        assert!(!eku_is_client_auth_only(&both));
        let none = client_cert(&ca, Vec::new());
        assert!(!eku_is_client_auth_only(&none));
        assert_eq!(PeerIdentity::from_chain(Some(&[good])).organizations, ["os:admin"]);
    }
}
