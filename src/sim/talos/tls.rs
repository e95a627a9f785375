//! TLS of the emulated node: apid in maintenance mode (ephemeral self-signed certificate,
//! no client authentication) and configured mode (certificate from the config's OS CA,
//! client certificates required, chained to that CA with ExtKeyUsage exactly
//! `[clientAuth]`), the client side of request forwarding (`os:impersonator`), and the
//! Kubernetes API endpoint (certificate from the cluster CA, client certificates verified
//! when given). Reference `talos.md` §F.5.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};

use super::config::AcceptedConfig;
use super::pki::{self, Issued, KeyKind, LeafSpec, PkiError};
use super::version::TalosVersion;
use crate::redact::Redacted;

/// Why the node could not set up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// Issuing a certificate failed.
    #[error("cannot issue the node's certificate")]
    Pki(#[from] PkiError),
    /// rustls refused the material.
    #[error("TLS settings rejected")]
    Rustls(#[from] rustls::Error),
    /// A CA certificate could not be read.
    #[error("cannot read the CA certificate: {0}")]
    Ca(String),
    /// The config lacks a CA key the node needs to sign its own certificate.
    #[error("the configuration has no {0} key to sign the node's certificate")]
    NoCaKey(&'static str),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config_builder() -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, TlsSetupError> {
    Ok(ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?)
}

fn key_der(issued: &Issued) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_der.clone()))
}

fn roots(pems: &[&str]) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for text in pems {
        let blocks = pem::parse_many(text).map_err(|e| TlsSetupError::Ca(e.to_string()))?;
        for block in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
            roots
                .add(CertificateDer::from(block.into_contents()))
                .map_err(|e| TlsSetupError::Ca(e.to_string()))?;
        }
    }
    Ok(roots)
}

/// Maintenance-mode apid TLS: an ephemeral self-signed CA (Ed25519, empty subject, 24 h)
/// and a leaf `CN=maintenance-service.talos.dev` for the node's IPs, loopback and hostname.
pub(crate) fn maintenance(address: IpAddr, hostname: &str) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let ca = pki::self_signed_ca(None, KeyKind::Ed25519, Duration::from_secs(24 * 3600))?;
    let leaf = pki::issue(
        &ca.cert_pem,
        &ca.key_pem,
        &LeafSpec::server(
            "maintenance-service.talos.dev",
            dedup(vec![
                address,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]),
            vec![hostname.to_string()],
            KeyKind::Ed25519,
        ),
    )?;
    let mut config = server_config_builder()?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(leaf.cert_der.clone())], key_der(&leaf))?;
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
    let (mut ips, mut dns) = split_sans(&config.cert_sans);
    ips.push(address);
    if version.at_least(1, 13) {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    dns.push(hostname.to_string());
    let leaf = pki::issue(
        &config.os_ca.crt_pem,
        os_ca_key.expose(),
        &LeafSpec::server(hostname, dedup(ips), dedup(dns), KeyKind::Ed25519),
    )?;
    let mut anchors: Vec<&str> = vec![config.os_ca.crt_pem.as_str()];
    anchors.extend(config.accepted_cas.iter().map(String::as_str));
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&anchors)?), provider())
        .build()
        .map_err(|e| TlsSetupError::Ca(e.to_string()))?;
    // v1.10–v1.11 check the key usage only when the config asks (generated configs do).
    let check_eku = version.at_least(1, 12) || config.apid_check_ext_key_usage == Some(true);
    let mut server = server_config_builder()?
        .with_client_cert_verifier(Arc::new(TalosClientVerifier { inner, check_eku }))
        .with_single_cert(vec![CertificateDer::from(leaf.cert_der.clone())], key_der(&leaf))?;
    server.alpn_protocols = vec![b"h2".to_vec()];

    let impersonator = if config.machine_type.is_control_plane() {
        let mut spec = LeafSpec::talos_client(&["os:impersonator"]);
        spec.common_name = Some(hostname.to_string());
        spec.validity = Duration::from_secs(24 * 3600);
        let client = pki::issue(&config.os_ca.crt_pem, os_ca_key.expose(), &spec)?;
        let mut client_config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots(&[config.os_ca.crt_pem.as_str()])?)
            .with_client_auth_cert(vec![CertificateDer::from(client.cert_der.clone())], key_der(&client))?;
        client_config.alpn_protocols = vec![b"h2".to_vec()];
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
    let leaf = pki::issue(
        &config.kubernetes_ca.crt_pem,
        ca_key.expose(),
        &LeafSpec::server("kube-apiserver", dedup(ips), dedup(dns), KeyKind::EcdsaP256),
    )?;
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(&[config.kubernetes_ca.crt_pem.as_str()])?),
        provider(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| TlsSetupError::Ca(e.to_string()))?;
    let mut server = server_config_builder()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(leaf.cert_der.clone())], key_der(&leaf))?;
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

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
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
    use rcgen::ExtendedKeyUsagePurpose;

    #[test]
    fn eku_must_be_client_auth_alone() {
        let ca = pki::self_signed_ca(Some("talos"), KeyKind::Ed25519, Duration::from_secs(600)).expect("ca");
        let good = pki::issue(&ca.cert_pem, &ca.key_pem, &LeafSpec::talos_client(&["os:admin"])).expect("leaf");
        assert!(eku_is_client_auth_only(&good.cert_der));
        let mut both = LeafSpec::talos_client(&["os:admin"]);
        both.usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let both = pki::issue(&ca.cert_pem, &ca.key_pem, &both).expect("leaf");
        assert!(!eku_is_client_auth_only(&both.cert_der));
        let mut none = LeafSpec::talos_client(&["os:admin"]);
        none.usages = Vec::new();
        let none = pki::issue(&ca.cert_pem, &ca.key_pem, &none).expect("leaf");
        assert!(!eku_is_client_auth_only(&none.cert_der));
        assert_eq!(
            PeerIdentity::from_chain(Some(&[CertificateDer::from(good.cert_der.clone())])).organizations,
            ["os:admin"]
        );
    }
}
