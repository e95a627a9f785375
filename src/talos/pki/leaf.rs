//! Issuing leaf certificates from a CA: Talos API client and server certificates, leaves
//! with derived keys, and hand-built specs for test support.

use std::net::IpAddr;
use std::time::Duration;

use time::OffsetDateTime;

use super::ca::CertificateAuthority;
use super::{
    CertAndKey, Error, ExtKeyUsage, KeyAlgorithm, KeyUsage, Pem, REDACTED, keys, random_serial, validity, x509,
};

/// Everything about a leaf certificate; [`issue`] makes it.
///
/// [`issue_client_cert`] and [`issue_server_cert`] cover what Talos does. Build a spec by
/// hand only for test support: certificates with other extended key usages, CA flags or
/// validity windows (expired, not yet valid), to check that a server rejects them:
///
/// ```no_run
/// # use talos_hcloud::talos::pki::{self, ExtKeyUsage, KeyUsage, LeafSpec};
/// # fn demo(os_ca: &pki::CertificateAuthority) -> Result<(), pki::Error> {
/// // apid (v1.12+) must refuse a client certificate that also allows serverAuth.
/// let both = pki::issue(os_ca, &LeafSpec {
///     organizations: vec!["os:admin".into()],
///     key_usage: vec![KeyUsage::DigitalSignature],
///     ext_key_usage: vec![ExtKeyUsage::ClientAuth, ExtKeyUsage::ServerAuth],
///     validity: pki::ADMIN_CERT_VALIDITY,
///     ..LeafSpec::default()
/// })?;
/// # let _ = both; Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct LeafSpec {
    /// Subject Organization values, written in this order (Talos: roles, sorted).
    pub organizations: Vec<String>,
    /// Subject common name.
    pub common_name: Option<String>,
    /// IP address SANs.
    pub ip_sans: Vec<IpAddr>,
    /// DNS SANs.
    pub dns_sans: Vec<String>,
    /// Key usage (critical).
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages, in this order.
    pub ext_key_usage: Vec<ExtKeyUsage>,
    /// `Some(flag)` writes BasicConstraints CA=flag; `None` (Talos's leaves) writes none.
    pub basic_constraints_ca: Option<bool>,
    /// Validity start; `None` = now.
    pub not_before: Option<OffsetDateTime>,
    /// Validity length from `not_before` (the default, zero, makes a certificate that is
    /// valid for no time at all).
    pub validity: Duration,
}

/// Issues a leaf certificate from `ca` with a fresh key ([`CertificateAuthority::leaf_algorithm`]).
///
/// The certificate carries a random 128-bit serial, the CA's subject as issuer and the
/// CA's subject key identifier as authority key identifier. The key PEM uses Talos's
/// labels (`ED25519 PRIVATE KEY` with a PKCS#8 body, or `EC PRIVATE KEY`).
///
/// # Errors
///
/// The validity does not fit, or the random source or signing failed.
pub fn issue(ca: &CertificateAuthority, spec: &LeafSpec) -> Result<CertAndKey, Error> {
    let key = keys::generate(ca.leaf_algorithm())?;
    issue_with(ca, spec, key, &random_serial()?)
}

/// The key seed and serial of a leaf certificate, derived rather than drawn at random (see
/// [`issue_derived`]). `Debug` hides the seed.
#[derive(Clone, PartialEq, Eq)]
pub struct DerivedLeaf {
    /// The Ed25519 private key seed (RFC 8032).
    pub ed25519_seed: [u8; 32],
    /// The serial number, big-endian unsigned.
    pub serial: [u8; 16],
}

impl std::fmt::Debug for DerivedLeaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedLeaf")
            .field("ed25519_seed", &REDACTED)
            .field("serial", &hex::encode(self.serial))
            .finish()
    }
}

/// Issues a leaf certificate whose key and serial are given, so the certificate is a pure
/// function of `ca`, `spec` and `derived` (Ed25519 signatures are deterministic).
///
/// # Errors
///
/// [`Error::Unsupported`] unless `ca` issues Ed25519 leaves (the OS CA does);
/// [`Error::InvalidRequest`] without a fixed `spec.not_before` (the result would depend on
/// the clock); otherwise as [`issue`].
pub fn issue_derived(ca: &CertificateAuthority, spec: &LeafSpec, derived: &DerivedLeaf) -> Result<CertAndKey, Error> {
    if ca.leaf_algorithm() != KeyAlgorithm::Ed25519 {
        return Err(Error::Unsupported {
            what: "issuing certificates with derived keys",
            algorithm: ca.algorithm(),
        });
    }
    if spec.not_before.is_none() {
        return Err(Error::InvalidRequest {
            detail: "a certificate with a derived key needs a fixed validity start".into(),
        });
    }
    let key = keys::ed25519_from_seed(&derived.ed25519_seed)?;
    issue_with(ca, spec, key, &derived.serial)
}

fn issue_with(
    ca: &CertificateAuthority,
    spec: &LeafSpec,
    key: keys::PrivateKey,
    serial: &[u8],
) -> Result<CertAndKey, Error> {
    let subject_der = x509::encode_name(&spec.organizations, spec.common_name.as_deref());
    let (not_before, not_after) = validity(spec.not_before, spec.validity)?;
    let spki = x509::spki_der(&key.key_pair);
    let cert_der = x509::build_certificate(
        &x509::TbsFields {
            serial,
            issuer_der: &ca.subject_der,
            subject_der: &subject_der,
            not_before,
            not_after,
            spki_der: &spki,
            key_usage: &spec.key_usage,
            ext_key_usage: &spec.ext_key_usage,
            basic_constraints_ca: spec.basic_constraints_ca,
            subject_key_id: None,
            authority_key_id: ca.subject_key_id.as_deref(),
            ip_sans: &spec.ip_sans,
            dns_sans: &spec.dns_sans,
        },
        &ca.key.key_pair,
    )?;
    Ok(CertAndKey {
        crt: Pem(keys::encode_pem("CERTIFICATE", &cert_der)),
        key: Pem(key.pem),
    })
}

/// Issues a Talos API client certificate (reference §C.2): Subject O = one value per role,
/// sorted and de-duplicated, no common name; KeyUsage digitalSignature; ExtKeyUsage exactly
/// clientAuth (apid ≥ v1.12 rejects anything else); not a CA; NotBefore now.
///
/// The talosconfig admin certificate is `issue_client_cert(&os_ca, &["os:admin"],
/// ADMIN_CERT_VALIDITY)`.
///
/// # Errors
///
/// As [`issue`].
pub fn issue_client_cert(ca: &CertificateAuthority, roles: &[&str], validity: Duration) -> Result<CertAndKey, Error> {
    issue(ca, &client_cert_spec(roles, None, validity))
}

/// The [`LeafSpec`] of a Talos API client certificate (see [`issue_client_cert`]):
/// organizations = `roles` trimmed, sorted and de-duplicated; KeyUsage digitalSignature;
/// ExtKeyUsage exactly clientAuth; no basic constraints; NotBefore `not_before` (`None` =
/// now).
pub fn client_cert_spec(roles: &[&str], not_before: Option<OffsetDateTime>, validity: Duration) -> LeafSpec {
    let mut organizations: Vec<String> = roles
        .iter()
        .map(|role| role.trim().to_string())
        .filter(|role| !role.is_empty())
        .collect();
    organizations.sort();
    organizations.dedup();
    LeafSpec {
        organizations,
        common_name: None,
        ip_sans: Vec::new(),
        dns_sans: Vec::new(),
        key_usage: vec![KeyUsage::DigitalSignature],
        ext_key_usage: vec![ExtKeyUsage::ClientAuth],
        basic_constraints_ca: None,
        not_before,
        validity,
    }
}

/// Issues a TLS server certificate (as apid's, reference §F.5): Subject CN =
/// `common_name`, the given IP and DNS SANs, KeyUsage digitalSignature, ExtKeyUsage
/// serverAuth, not a CA, NotBefore now. Clients verify the address they dialled against
/// the SANs, so list every address the server is reached at.
///
/// # Errors
///
/// As [`issue`].
pub fn issue_server_cert(
    ca: &CertificateAuthority,
    common_name: &str,
    ip_sans: &[IpAddr],
    dns_sans: &[&str],
    validity: Duration,
) -> Result<CertAndKey, Error> {
    issue(
        ca,
        &LeafSpec {
            organizations: Vec::new(),
            common_name: Some(common_name.to_string()),
            ip_sans: ip_sans.to_vec(),
            dns_sans: dns_sans.iter().map(|name| name.to_string()).collect(),
            key_usage: vec![KeyUsage::DigitalSignature],
            ext_key_usage: vec![ExtKeyUsage::ServerAuth],
            basic_constraints_ca: None,
            not_before: None,
            validity,
        },
    )
}
