//! Interim certificate issuing for the emulated Talos node (and the tests that talk to it),
//! written directly against rcgen.
//!
//! This stands in until the shared PKI module (`src/talos/pki.rs`, `issue_client_cert` /
//! `issue_server_cert`) lands; the lead switches callers to it at merge. It signs with CA
//! material as found in Talos configs and secrets bundles: Ed25519 keys under Talos's
//! `ED25519 PRIVATE KEY` label (PKCS#8 body), ECDSA keys as SEC1 `EC PRIVATE KEY`.

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The CA key PEM is unusable.
    #[error("the CA private key is not a supported PEM key")]
    Key(#[source] rcgen::Error),
    /// The CA key PEM could not be parsed at all.
    #[error("the CA private key is not PEM")]
    KeyPem(#[source] pem::PemError),
    /// The CA certificate is unusable.
    #[error("the CA certificate cannot be read")]
    CaCertificate(#[source] rcgen::Error),
    /// rcgen refused the parameters.
    #[error("the certificate could not be signed")]
    Sign(#[source] rcgen::Error),
    /// A DNS SAN is not a valid IA5 string.
    #[error("`{0}` cannot be a DNS name in a certificate")]
    DnsName(String),
}

/// The key algorithm of a newly issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519 (Talos API certificates).
    Ed25519,
    /// ECDSA P-256 (Kubernetes certificates).
    EcdsaP256,
}

/// What to put in a leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    /// Subject CN, if any.
    pub common_name: Option<String>,
    /// Subject O values (Talos roles, Kubernetes groups).
    pub organizations: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// Extended key usages, exactly.
    pub usages: Vec<ExtendedKeyUsagePurpose>,
    /// Key type of the new key.
    pub key: KeyKind,
    /// Validity from now.
    pub validity: Duration,
}

impl LeafSpec {
    /// A Talos API client certificate: `O` = roles, EKU clientAuth only, Ed25519, 365 days
    /// (reference `talos.md` §C.2).
    pub fn talos_client(roles: &[&str]) -> LeafSpec {
        LeafSpec {
            common_name: None,
            organizations: roles.iter().map(|r| r.to_string()).collect(),
            ips: Vec::new(),
            dns_names: Vec::new(),
            usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
            key: KeyKind::Ed25519,
            validity: Duration::from_secs(365 * 24 * 3600),
        }
    }

    /// A server certificate: CN, SANs, EKU serverAuth, 24 hours (apid's validity).
    pub fn server(common_name: &str, ips: Vec<IpAddr>, dns_names: Vec<String>, key: KeyKind) -> LeafSpec {
        LeafSpec {
            common_name: Some(common_name.to_string()),
            organizations: Vec::new(),
            ips,
            dns_names,
            usages: vec![ExtendedKeyUsagePurpose::ServerAuth],
            key,
            validity: Duration::from_secs(24 * 3600),
        }
    }
}

/// An issued certificate and its new key, PEM (key as PKCS#8 `PRIVATE KEY`) and DER.
#[derive(Clone)]
pub struct Issued {
    /// Certificate PEM.
    pub cert_pem: String,
    /// Certificate DER.
    pub cert_der: Vec<u8>,
    /// Private key PEM (PKCS#8).
    pub key_pem: String,
    /// Private key DER (PKCS#8).
    pub key_der: Vec<u8>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_der", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

/// Parses a private key PEM as Talos writes it into an rcgen key pair.
///
/// # Errors
///
/// [`PkiError::KeyPem`] / [`PkiError::Key`].
pub fn key_pair_from_pem(text: &str) -> Result<KeyPair, PkiError> {
    let block = pem::parse(text).map_err(PkiError::KeyPem)?;
    let pkcs8 = match block.tag() {
        "EC PRIVATE KEY" => sec1_p256_to_pkcs8(block.contents()),
        _ => block.contents().to_vec(),
    };
    KeyPair::try_from(pkcs8.as_slice()).map_err(PkiError::Key)
}

/// Issues a leaf certificate signed by a CA given as PEM certificate and PEM key.
///
/// # Errors
///
/// [`PkiError`] when the CA material is unusable or signing fails.
pub fn issue(ca_cert_pem: &str, ca_key_pem: &str, spec: &LeafSpec) -> Result<Issued, PkiError> {
    let ca_key = key_pair_from_pem(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key).map_err(PkiError::CaCertificate)?;
    let params = leaf_params(spec)?;
    let key = new_key(spec.key)?;
    let cert = params.signed_by(&key, &issuer).map_err(PkiError::Sign)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    })
}

/// A new self-signed CA (KU keyCertSign + digitalSignature, EKU serverAuth + clientAuth, like
/// Talos's CAs), with `O` = `organization` when given.
///
/// # Errors
///
/// [`PkiError::Sign`].
pub fn self_signed_ca(organization: Option<&str>, key: KeyKind, validity: Duration) -> Result<Issued, PkiError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    if let Some(org) = organization {
        name.push(DnType::OrganizationName, org);
    }
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    set_validity(&mut params, validity);
    params.serial_number = Some(random_serial());
    let key_pair = new_key(key)?;
    let cert = params.self_signed(&key_pair).map_err(PkiError::Sign)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key_pair.serialize_pem(),
        key_der: key_pair.serialize_der(),
    })
}

fn leaf_params(spec: &LeafSpec) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    if let Some(cn) = &spec.common_name {
        name.push(DnType::CommonName, cn.as_str());
    }
    for org in &spec.organizations {
        name.push(DnType::OrganizationName, org.as_str());
    }
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = spec.usages.clone();
    params.subject_alt_names = spec.ips.iter().map(|ip| SanType::IpAddress(*ip)).collect();
    for dns in &spec.dns_names {
        let name = dns.as_str().try_into().map_err(|_| PkiError::DnsName(dns.clone()))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, spec.validity);
    params.serial_number = Some(random_serial());
    Ok(params)
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = OffsetDateTime::now_utc();
    // A minute of back-dating keeps freshly issued certificates valid on a peer whose clock
    // is a hair behind (several processes on one host).
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::try_from(validity).unwrap_or(time::Duration::days(1));
}

fn new_key(kind: KeyKind) -> Result<KeyPair, PkiError> {
    let alg = match kind {
        KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
        KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
    };
    KeyPair::generate_for(alg).map_err(PkiError::Sign)
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // positive INTEGER
    bytes[0] |= 0x01; // no leading zero byte to strip
    SerialNumber::from_slice(&bytes)
}

/// Wraps a SEC1 `ECPrivateKey` (P-256) into PKCS#8, which is all ring accepts:
/// `SEQUENCE { INTEGER 0, SEQUENCE { id-ecPublicKey, prime256v1 }, OCTET STRING sec1 }`.
fn sec1_p256_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    const ALGORITHM: &[u8] = &[
        0x30, 0x13, // SEQUENCE, 19 bytes
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // 1.2.840.10045.2.1 ecPublicKey
        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // 1.2.840.10045.3.1.7 P-256
    ];
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(ALGORITHM);
    body.push(0x04);
    push_der_length(&mut body, sec1.len());
    body.extend_from_slice(sec1);
    let mut out = vec![0x30];
    push_der_length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

fn push_der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::secrets::SecretsBundle;

    fn bundle() -> SecretsBundle {
        serde_saphyr::from_str(include_str!("../../../tests/fixtures/talos/secrets.yaml"))
            .expect("golden bundle parses")
    }

    #[test]
    fn signs_with_the_talos_ed25519_and_sec1_ecdsa_keys() {
        let bundle = bundle();
        let client = issue(
            &bundle.certs.os.crt.0,
            &bundle.certs.os.key.0,
            &LeafSpec::talos_client(&["os:admin"]),
        )
        .expect("OS CA signs");
        let (_, cert) = x509_parser::parse_x509_certificate(&client.cert_der).expect("DER parses");
        let orgs: Vec<_> = cert
            .subject()
            .iter_organization()
            .filter_map(|o| o.as_str().ok())
            .collect();
        assert_eq!(orgs, ["os:admin"]);
        assert_eq!(cert.issuer().to_string(), "O=talos");
        let eku = cert.extended_key_usage().expect("parses").expect("present").value;
        assert!(eku.client_auth && !eku.server_auth);

        let server = issue(
            &bundle.certs.k8s.crt.0,
            &bundle.certs.k8s.key.0,
            &LeafSpec::server(
                "kube-apiserver",
                vec!["127.0.0.1".parse().expect("ip")],
                vec!["base".into()],
                KeyKind::EcdsaP256,
            ),
        )
        .expect("Kubernetes CA (SEC1 key) signs");
        let (_, cert) = x509_parser::parse_x509_certificate(&server.cert_der).expect("DER parses");
        assert_eq!(cert.issuer().to_string(), "O=kubernetes");
    }

    #[test]
    fn self_signed_ca_is_a_ca() {
        let ca = self_signed_ca(Some("talos"), KeyKind::Ed25519, Duration::from_secs(3600)).expect("issues");
        let (_, cert) = x509_parser::parse_x509_certificate(&ca.cert_der).expect("DER parses");
        assert!(cert.is_ca());
        let leaf = issue(&ca.cert_pem, &ca.key_pem, &LeafSpec::talos_client(&["os:reader"])).expect("signs");
        assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
