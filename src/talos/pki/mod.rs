//! Talos PKI: certificate authorities and the certificates they issue.
//!
//! Everything here follows `reference/talos.md` §A.2 (CAs) and §C.2 (client certificates)
//! so that real Talos nodes and talosctl accept what we make, and our own emulated nodes
//! can reject what Talos would reject. The secrets bundle ([`crate::talos::secrets`])
//! stores the CAs; the machine-config generator, the Talos API client and the emulated
//! nodes load them with [`CertificateAuthority::from_cert_and_key`] and issue leaf
//! certificates with [`issue_client_cert`] and [`issue_server_cert`]. PEM helpers turn
//! stored keys (including Talos's non-standard `ED25519 PRIVATE KEY` label) into what
//! rustls loads, and [`tls`] builds the rustls settings both the Talos API client and the
//! emulated nodes make from them. Nothing here does I/O beyond reading the OS random source.
//!
//! ```no_run
//! use std::time::Duration;
//! use talos_hcloud::talos::pki::{self, CertificateAuthority};
//! # fn demo(bundle: &talos_hcloud::talos::secrets::SecretsBundle) -> Result<(), pki::Error> {
//! let os_ca = CertificateAuthority::from_cert_and_key(&bundle.certs.os)?;
//! let admin = pki::issue_client_cert(&os_ca, &["os:admin"], pki::ADMIN_CERT_VALIDITY)?;
//! let server = pki::issue_server_cert(&os_ca, "cp-1", &["127.0.0.2".parse().unwrap()], &[], Duration::from_secs(86400))?;
//! let rustls_key = pki::private_key_der(&admin.key.0)?;
//! # let _ = (server, rustls_key); Ok(()) }
//! ```

mod keys;
pub mod tls;
mod x509;

use std::net::IpAddr;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, ParsedExtension, X509Certificate};

use crate::error::{Class, Classify};

pub use keys::{KeyAlgorithm, LABEL_EC, LABEL_ED25519, LABEL_PKCS8, LABEL_RSA};

/// Validity of the bundle's CAs: 87600 h (`CAValidityTime`, ten years of 365 days).
pub const CA_VALIDITY: Duration = Duration::from_secs(87_600 * 3600);
/// Validity of the talosconfig admin certificate: 8760 h
/// (`TalosAPIDefaultCertificateValidityDuration`).
pub const ADMIN_CERT_VALIDITY: Duration = Duration::from_secs(8_760 * 3600);

/// A PKI failure: unreadable PEM, unsupported keys, or a failure to generate or sign.
///
/// The parse variants' texts follow Talos's own (`failed to parse PEM block`,
/// `unsupported key type: "CERTIFICATE"`), because they end up in bundle validation
/// messages that operators may compare with talosctl's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No PEM block was found.
    #[error("failed to parse PEM block")]
    NoPemBlock,
    /// A PEM block with a label that is not a private key.
    #[error("unsupported key type: \"{label}\"")]
    UnsupportedKeyType {
        /// The PEM label found.
        label: String,
    },
    /// A private-key block whose content is not a usable key.
    #[error("invalid {label}: {detail}")]
    InvalidKey {
        /// The PEM label.
        label: String,
        /// What is wrong.
        detail: String,
    },
    /// The PEM block is not a `CERTIFICATE`.
    #[error("expected a CERTIFICATE PEM block, found \"{label}\"")]
    NotACertificate {
        /// The PEM label found.
        label: String,
    },
    /// The certificate does not parse as X.509.
    #[error("failed to parse certificate: {detail}")]
    InvalidCertificate {
        /// The parser's message.
        detail: String,
    },
    /// The private key is not the one the certificate certifies.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// A CA was asked to do something its key type cannot do.
    #[error("{what} is not supported for {algorithm} keys")]
    Unsupported {
        /// The operation.
        what: &'static str,
        /// The key type.
        algorithm: KeyAlgorithm,
    },
    /// A certificate request is malformed (e.g. validity too large).
    #[error("invalid certificate request: {detail}")]
    InvalidRequest {
        /// What is wrong.
        detail: String,
    },
    /// The operating system's random source failed.
    #[error("cannot read random bytes from the operating system")]
    Random {
        /// The OS error.
        #[source]
        source: getrandom::Error,
    },
    /// Key generation failed.
    #[error("cannot generate an {algorithm} key")]
    KeyGeneration {
        /// The key type.
        algorithm: KeyAlgorithm,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Signing failed.
    #[error("cannot sign the certificate")]
    Signing {
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::NoPemBlock
            | Error::UnsupportedKeyType { .. }
            | Error::InvalidKey { .. }
            | Error::NotACertificate { .. }
            | Error::InvalidCertificate { .. }
            | Error::KeyMismatch
            | Error::Unsupported { .. }
            | Error::InvalidRequest { .. } => Class::InvalidInput,
            Error::Random { .. } | Error::KeyGeneration { .. } | Error::Signing { .. } => Class::Failed,
        }
    }
}

/// PEM text, stored in YAML as standard base64 (with padding) of the whole PEM, as Talos
/// does. The value `******` marks a redacted key and is kept as is.
///
/// `Debug` prints only the first line (the PEM label), never key material.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem(pub String);

/// The text Talos uses for a redacted key.
pub const REDACTED: &str = "******";

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Private keys must never reach logs; the PEM label is enough to debug with.
        let label = self.0.lines().next().unwrap_or("");
        write!(f, "Pem({label} …)")
    }
}

impl Pem {
    /// The PEM text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Standard base64 of the PEM text, as stored in YAML (`******` stays as is).
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        if self.0 == REDACTED {
            return REDACTED.to_string();
        }
        base64::engine::general_purpose::STANDARD.encode(self.0.as_bytes())
    }

    /// Decodes the stored form: standard base64 of PEM text (`******` stays as is).
    ///
    /// # Errors
    ///
    /// A message saying why the text is not base64 of UTF-8 text.
    pub fn from_base64(encoded: &str) -> Result<Pem, String> {
        use base64::Engine as _;
        if encoded == REDACTED {
            return Ok(Pem(encoded.to_string()));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| format!("not standard base64 of a PEM block: {e}"))?;
        String::from_utf8(bytes)
            .map(Pem)
            .map_err(|_| "base64 does not decode to PEM text".to_string())
    }
}

impl Serialize for Pem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Pem {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoded = String::deserialize(deserializer)?;
        Pem::from_base64(&encoded).map_err(serde::de::Error::custom)
    }
}

/// A certificate with its private key, both PEM (`certs.etcd`, a client certificate, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertAndKey {
    /// The certificate, PEM `CERTIFICATE`.
    pub crt: Pem,
    /// The private key, PEM (label depends on the key type).
    pub key: Pem,
}

/// A private key without a certificate (`certs.k8sserviceaccount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyOnly {
    /// The private key, PEM.
    pub key: Pem,
}

/// Key usage bits this crate sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsage {
    /// `digitalSignature`.
    DigitalSignature,
    /// `keyEncipherment`.
    KeyEncipherment,
    /// `keyAgreement`.
    KeyAgreement,
    /// `keyCertSign`.
    KeyCertSign,
    /// `cRLSign`.
    CrlSign,
}

/// Extended key usages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtKeyUsage {
    /// `id-kp-serverAuth`.
    ServerAuth,
    /// `id-kp-clientAuth`.
    ClientAuth,
    /// `id-kp-codeSigning` (only useful to build certificates apid must reject).
    CodeSigning,
    /// Any other purpose, by OID components (test support).
    Other(&'static [u64]),
}

impl ExtKeyUsage {
    fn oid(self) -> &'static [u64] {
        match self {
            ExtKeyUsage::ServerAuth => &[1, 3, 6, 1, 5, 5, 7, 3, 1],
            ExtKeyUsage::ClientAuth => &[1, 3, 6, 1, 5, 5, 7, 3, 2],
            ExtKeyUsage::CodeSigning => &[1, 3, 6, 1, 5, 5, 7, 3, 3],
            ExtKeyUsage::Other(oid) => oid,
        }
    }
}

/// How a CA's subject key identifier is chosen (reference §A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKeyId {
    /// 20 random bytes: Talos ≥ v1.11 (siderolabs/crypto ≥ v0.6.1).
    Random,
    /// SHA-1 of the public key (RFC 5280 method 1): Talos v1.10, where Go derives it.
    Sha1OfPublicKey,
}

/// What a new self-signed CA looks like.
#[derive(Debug, Clone)]
pub struct CaSpec {
    /// Subject Organization; `None` gives the empty subject (the aggregator CA).
    pub organization: Option<String>,
    /// Key type: [`KeyAlgorithm::Ed25519`] or [`KeyAlgorithm::EcdsaP256`].
    pub algorithm: KeyAlgorithm,
    /// Validity start: the bundle clock (no back-dating, as Talos).
    pub not_before: OffsetDateTime,
    /// Validity length, normally [`CA_VALIDITY`].
    pub validity: Duration,
    /// How the subject key identifier is chosen.
    pub subject_key_id: SubjectKeyId,
}

impl CaSpec {
    /// A short-lived CA with the defaults of siderolabs/crypto's
    /// `NewSelfSignedCertificateAuthority` (Ed25519, empty subject, NotBefore now, random
    /// subject key identifier), valid for `validity`. Talos's maintenance service makes one
    /// at boot, valid 24 h, to sign its `maintenance-service.talos.dev` certificate
    /// (reference `talos.md` §F.5); the emulated node does the same.
    pub fn ephemeral(validity: Duration) -> CaSpec {
        CaSpec {
            organization: None,
            algorithm: KeyAlgorithm::Ed25519,
            not_before: OffsetDateTime::now_utc(),
            validity,
            subject_key_id: SubjectKeyId::Random,
        }
    }
}

/// A certificate authority loaded with its private key, ready to issue certificates.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    cert_der: Vec<u8>,
    subject_der: Vec<u8>,
    subject_key_id: Option<Vec<u8>>,
    key: keys::PrivateKey,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("algorithm", &self.key.algorithm)
            .field("fingerprint", &fingerprint_sha256(&self.cert_der))
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads a CA from the bundle form (PEM certificate and key).
    ///
    /// # Errors
    ///
    /// Unparsable PEM or certificate, an unsupported key type, or a key that does not
    /// belong to the certificate.
    pub fn from_cert_and_key(pair: &CertAndKey) -> Result<Self, Error> {
        Self::from_pem(&pair.crt.0, &pair.key.0)
    }

    /// Loads a CA from PEM texts. The key may be `ED25519 PRIVATE KEY` (Talos), `EC
    /// PRIVATE KEY` (SEC1), `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8).
    ///
    /// # Errors
    ///
    /// As [`CertificateAuthority::from_cert_and_key`].
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, Error> {
        let key = keys::parse(key_pem)?;
        let cert_der = certificate_der(cert_pem)?.to_vec();
        let cert = parse_x509(&cert_der)?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(Error::KeyMismatch);
        }
        let subject_der = cert.tbs_certificate.subject.as_raw().to_vec();
        let subject_key_id = cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        });
        Ok(CertificateAuthority {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            cert_der,
            subject_der,
            subject_key_id,
            key,
        })
    }

    /// Creates a new self-signed CA exactly as Talos does (reference §A.2): X.509 v3,
    /// random serial in [0, 2^128), Organization-only subject, BasicConstraints CA
    /// (critical, no path length), KeyUsage digitalSignature + keyCertSign (critical),
    /// ExtKeyUsage serverAuth + clientAuth, a subject key identifier and no authority key
    /// identifier.
    ///
    /// # Errors
    ///
    /// RSA was asked for, the validity does not fit, or the random source or signing
    /// failed.
    pub fn generate(spec: &CaSpec) -> Result<Self, Error> {
        if let KeyAlgorithm::Rsa { .. } = spec.algorithm {
            return Err(Error::Unsupported {
                what: "generating a CA",
                algorithm: spec.algorithm,
            });
        }
        let key = keys::generate(spec.algorithm)?;
        let organizations: Vec<String> = spec.organization.iter().cloned().collect();
        let subject_der = x509::encode_name(&organizations, None);
        let subject_key_id = match spec.subject_key_id {
            SubjectKeyId::Random => {
                let mut id = vec![0u8; 20];
                keys::random_bytes(&mut id)?;
                id
            }
            SubjectKeyId::Sha1OfPublicKey => {
                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.public_key_raw())
                    .as_ref()
                    .to_vec()
            }
        };
        let (not_before, not_after) = validity(Some(spec.not_before), spec.validity)?;
        let serial = random_serial()?;
        let spki = x509::spki_der(&key.key_pair);
        let cert_der = x509::build_certificate(
            &x509::TbsFields {
                serial: &serial,
                issuer_der: &subject_der,
                subject_der: &subject_der,
                not_before,
                not_after,
                spki_der: &spki,
                key_usage: &[KeyUsage::DigitalSignature, KeyUsage::KeyCertSign],
                ext_key_usage: &[ExtKeyUsage::ServerAuth, ExtKeyUsage::ClientAuth],
                basic_constraints_ca: Some(true),
                subject_key_id: Some(&subject_key_id),
                authority_key_id: None,
                ip_sans: &[],
                dns_sans: &[],
            },
            &key.key_pair,
        )?;
        Ok(CertificateAuthority {
            cert_pem: keys::encode_pem("CERTIFICATE", &cert_der),
            key_pem: key.pem.clone(),
            cert_der,
            subject_der,
            subject_key_id: Some(subject_key_id),
            key,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER (e.g. for a rustls root store).
    pub fn cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    /// The CA's key type.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.key.algorithm
    }

    /// The bundle form: certificate and key PEM (key in the label it was read with, or
    /// Talos's label for a generated CA).
    pub fn to_cert_and_key(&self) -> CertAndKey {
        CertAndKey {
            crt: Pem(self.cert_pem.clone()),
            key: Pem(self.key_pem.clone()),
        }
    }

    /// A 32-byte secret derived from this CA's private key: HMAC-SHA256 keyed with the
    /// key's PKCS#8 encoding, over `context`.
    ///
    /// Lets a caller make certificates that are pure functions of the CA (the talosconfig
    /// admin certificate, see `talos::talosconfig`): whoever holds the CA key can mint any
    /// certificate anyway, so deriving leaf keys from it gives nothing away, and distinct
    /// contexts give independent secrets.
    pub fn derive_secret(&self, context: &[u8]) -> [u8; 32] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.key.pkcs8);
        let tag = ring::hmac::sign(&key, context);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The key type of certificates this CA issues: Ed25519 for an Ed25519 CA (as Talos),
    /// ECDSA P-256 otherwise (Talos would make RSA keys under an RSA CA; we do not).
    pub fn leaf_algorithm(&self) -> KeyAlgorithm {
        match self.key.algorithm {
            KeyAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Rsa { .. } => KeyAlgorithm::EcdsaP256,
        }
    }
}

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

/// A new private key as Talos writes it: Ed25519 as `ED25519 PRIVATE KEY` (PKCS#8 body),
/// ECDSA P-256 as `EC PRIVATE KEY` (SEC1), RSA as `RSA PRIVATE KEY` (PKCS#1; takes
/// seconds for 4096 bits).
///
/// # Errors
///
/// The random source or key generation failed.
pub fn generate_private_key(algorithm: KeyAlgorithm) -> Result<Pem, Error> {
    match algorithm {
        KeyAlgorithm::Rsa { bits } => keys::generate_rsa_key(bits).map(Pem),
        KeyAlgorithm::Ed25519 | KeyAlgorithm::EcdsaP256 => Ok(Pem(keys::generate(algorithm)?.pem)),
    }
}

/// The first `CERTIFICATE` block of `pem_text`, DER.
///
/// # Errors
///
/// No PEM block, or the first block is not a certificate.
pub fn certificate_der(pem_text: &str) -> Result<CertificateDer<'static>, Error> {
    let block = pem::parse(pem_text.as_bytes()).map_err(|_| Error::NoPemBlock)?;
    if block.tag() != "CERTIFICATE" {
        return Err(Error::NotACertificate {
            label: block.tag().to_string(),
        });
    }
    Ok(CertificateDer::from(block.into_contents()))
}

/// Every `CERTIFICATE` block of `pem_text` (a talosconfig `ca` may hold several), DER.
///
/// # Errors
///
/// No PEM block, or a block that is not a certificate.
pub fn certificates_der(pem_text: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let blocks = pem::parse_many(pem_text.as_bytes()).map_err(|_| Error::NoPemBlock)?;
    if blocks.is_empty() {
        return Err(Error::NoPemBlock);
    }
    blocks
        .into_iter()
        .map(|block| {
            if block.tag() == "CERTIFICATE" {
                Ok(CertificateDer::from(block.into_contents()))
            } else {
                Err(Error::NotACertificate {
                    label: block.tag().to_string(),
                })
            }
        })
        .collect()
}

/// A private key PEM (any label Talos uses, including `ED25519 PRIVATE KEY`) as PKCS#8
/// DER for rustls. The key is checked by loading it.
///
/// # Errors
///
/// As [`CertificateAuthority::from_pem`] for the key.
pub fn private_key_der(pem_text: &str) -> Result<PrivateKeyDer<'static>, Error> {
    let key = keys::parse(pem_text)?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8)))
}

/// The key type of a private key PEM, after checking that it loads.
///
/// # Errors
///
/// As [`private_key_der`].
pub fn private_key_algorithm(pem_text: &str) -> Result<KeyAlgorithm, Error> {
    Ok(keys::parse(pem_text)?.algorithm)
}

/// Re-labels Talos's `ED25519 PRIVATE KEY` PEM as standard PKCS#8 `PRIVATE KEY` (the body
/// is already PKCS#8), for tools such as openssl; other PEM is returned unchanged.
pub fn standard_key_pem(pem_text: &str) -> String {
    pem_text
        .replace(
            &format!("-----BEGIN {LABEL_ED25519}-----"),
            &format!("-----BEGIN {LABEL_PKCS8}-----"),
        )
        .replace(
            &format!("-----END {LABEL_ED25519}-----"),
            &format!("-----END {LABEL_PKCS8}-----"),
        )
}

/// SHA-256 fingerprint of a DER certificate in openssl's form (`AB:CD:…`), comparable
/// with `openssl x509 -noout -fingerprint -sha256`.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    sha2::Sha256::digest(der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What an operator wants to know about a certificate (for `secrets check`, never secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    /// Subject in RFC 4514-like form (`O=etcd`), empty for an empty subject.
    pub subject: String,
    /// The certified key's type (`Ed25519`, `ECDSA P-256`, `RSA 4096`, or the OID).
    pub key_algorithm: String,
    /// True if and only if BasicConstraints says CA.
    pub is_ca: bool,
    /// Validity start.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// Validity end.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Serial number, hex.
    pub serial: String,
    /// SHA-256 fingerprint, as [`fingerprint_sha256`].
    pub sha256_fingerprint: String,
}

/// Summarises the first certificate in `pem_text`.
///
/// # Errors
///
/// As [`certificate_der`], or the certificate does not parse.
pub fn summarize_certificate(pem_text: &str) -> Result<CertificateSummary, Error> {
    let der = certificate_der(pem_text)?;
    let cert = parse_x509(&der)?;
    let key_algorithm = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::EC(point)) if point.key_size() == 256 => "ECDSA P-256".to_string(),
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        _ if cert.public_key().algorithm.algorithm.to_id_string() == "1.3.101.112" => "Ed25519".to_string(),
        _ => cert.public_key().algorithm.algorithm.to_id_string(),
    };
    Ok(CertificateSummary {
        subject: name_string(cert.subject()),
        key_algorithm,
        is_ca: cert.is_ca(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        serial: cert.raw_serial_as_string(),
        sha256_fingerprint: fingerprint_sha256(&der),
    })
}

/// Checks that `pair` is a certificate with its matching private key (Talos checks the
/// key, then the certificate; we also check that they belong together).
///
/// # Errors
///
/// The first problem found.
pub fn check_cert_and_key(pair: &CertAndKey) -> Result<(), Error> {
    CertificateAuthority::from_cert_and_key(pair).map(|_| ())
}

/// RFC 4514-like text: `O=os:admin+O=os:reader,CN=node` (RDNs in certificate order).
fn name_string(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let kind = match attribute.attr_type().to_id_string().as_str() {
                        "2.5.4.3" => "CN".to_string(),
                        "2.5.4.6" => "C".to_string(),
                        "2.5.4.7" => "L".to_string(),
                        "2.5.4.8" => "ST".to_string(),
                        "2.5.4.10" => "O".to_string(),
                        "2.5.4.11" => "OU".to_string(),
                        other => other.to_string(),
                    };
                    let value = attribute.as_str().map(str::to_string).unwrap_or_else(|_| "#?".into());
                    format!("{kind}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, Error> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(Error::InvalidCertificate {
            detail: "trailing data after the certificate".into(),
        }),
        Err(e) => Err(Error::InvalidCertificate { detail: e.to_string() }),
    }
}

/// A serial uniform in [0, 2^128), as Go's `rand.Int(rand.Reader, 2^128)`.
fn random_serial() -> Result<[u8; 16], Error> {
    let mut serial = [0u8; 16];
    keys::random_bytes(&mut serial)?;
    Ok(serial)
}

/// Validity window in whole seconds (X.509 has no fractions).
fn validity(not_before: Option<OffsetDateTime>, length: Duration) -> Result<(OffsetDateTime, OffsetDateTime), Error> {
    let start = not_before.unwrap_or_else(OffsetDateTime::now_utc);
    let start = start.replace_nanosecond(0).expect("invariant: 0 is a valid nanosecond");
    let length = time::Duration::try_from(length).map_err(|e| Error::InvalidRequest {
        detail: format!("validity too long: {e}"),
    })?;
    let end = start.checked_add(length).ok_or_else(|| Error::InvalidRequest {
        detail: "validity ends after year 9999".into(),
    })?;
    if end.year() > 9999 {
        return Err(Error::InvalidRequest {
            detail: "validity ends after year 9999".into(),
        });
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os_ca() -> CertificateAuthority {
        CertificateAuthority::generate(&CaSpec {
            organization: Some("talos".into()),
            algorithm: KeyAlgorithm::Ed25519,
            not_before: OffsetDateTime::now_utc(),
            validity: CA_VALIDITY,
            subject_key_id: SubjectKeyId::Random,
        })
        .unwrap()
    }

    #[test]
    fn a_ca_can_be_shared_between_tasks() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<CertificateAuthority>();
        assert_send_sync::<Error>();
    }

    #[test]
    fn generated_ca_reloads_from_its_pem() {
        let ca = os_ca();
        let reloaded = CertificateAuthority::from_cert_and_key(&ca.to_cert_and_key()).unwrap();
        assert_eq!(reloaded.algorithm(), KeyAlgorithm::Ed25519);
        assert_eq!(reloaded.cert_der(), ca.cert_der());
        assert_eq!(reloaded.subject_key_id, ca.subject_key_id);
        assert_eq!(ca.subject_key_id.as_ref().unwrap().len(), 20);
    }

    #[test]
    fn derived_leaves_are_pure_functions_of_their_inputs() {
        let ca = os_ca();
        let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let spec = client_cert_spec(&["os:admin"], Some(start), ADMIN_CERT_VALIDITY);
        let derived = DerivedLeaf {
            ed25519_seed: ca.derive_secret(b"key"),
            serial: [7; 16],
        };
        let first = issue_derived(&ca, &spec, &derived).unwrap();
        assert_eq!(first, issue_derived(&ca, &spec, &derived).unwrap());
        check_cert_and_key(&first).unwrap();
        assert_ne!(ca.derive_secret(b"key"), ca.derive_secret(b"serial"));
        assert_ne!(
            ca.derive_secret(b"key"),
            os_ca().derive_secret(b"key"),
            "keyed by the CA"
        );
        let debug = format!("{derived:?}");
        assert!(debug.contains(REDACTED) && debug.contains("07070707"), "{debug}");
        assert!(!debug.contains(&hex::encode(derived.ed25519_seed)), "{debug}");

        let unanchored = client_cert_spec(&["os:admin"], None, ADMIN_CERT_VALIDITY);
        assert!(matches!(
            issue_derived(&ca, &unanchored, &derived),
            Err(Error::InvalidRequest { .. })
        ));
        let ecdsa = CertificateAuthority::generate(&CaSpec {
            organization: Some("etcd".into()),
            algorithm: KeyAlgorithm::EcdsaP256,
            not_before: start,
            validity: CA_VALIDITY,
            subject_key_id: SubjectKeyId::Random,
        })
        .unwrap();
        assert!(matches!(
            issue_derived(&ecdsa, &spec, &derived),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn a_foreign_key_is_rejected() {
        let ca = os_ca();
        let other = os_ca();
        let err = CertificateAuthority::from_pem(ca.cert_pem(), &other.key_pem).unwrap_err();
        assert!(matches!(err, Error::KeyMismatch), "{err:?}");
    }

    #[test]
    fn client_cert_roles_are_sorted_and_deduplicated() {
        let ca = os_ca();
        let cert = issue_client_cert(&ca, &["os:reader", " os:admin", "os:reader", ""], ADMIN_CERT_VALIDITY).unwrap();
        let summary = summarize_certificate(&cert.crt.0).unwrap();
        assert_eq!(summary.subject, "O=os:admin+O=os:reader");
        assert!(!summary.is_ca);
        assert_eq!(summary.key_algorithm, "Ed25519");
        assert_eq!(
            (summary.not_after - summary.not_before).whole_seconds(),
            ADMIN_CERT_VALIDITY.as_secs() as i64
        );
        assert_eq!(private_key_algorithm(&cert.key.0).unwrap(), KeyAlgorithm::Ed25519);
    }

    #[test]
    fn ephemeral_ca_has_an_empty_subject_and_signs_server_certs() {
        let validity = Duration::from_secs(24 * 3600);
        let ca = CertificateAuthority::generate(&CaSpec::ephemeral(validity)).unwrap();
        let summary = summarize_certificate(ca.cert_pem()).unwrap();
        assert_eq!(summary.subject, "");
        assert!(summary.is_ca);
        assert_eq!(summary.key_algorithm, "Ed25519");
        assert_eq!(
            (summary.not_after - summary.not_before).whole_seconds(),
            validity.as_secs() as i64
        );
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let leaf = issue_server_cert(&ca, "maintenance-service.talos.dev", &[ip], &["talos-x"], validity).unwrap();
        let der = certificate_der(&leaf.crt.0).unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.issuer().to_string(), "");
        assert_eq!(name_string(cert.subject()), "CN=maintenance-service.talos.dev");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
    }

    #[test]
    fn pem_debug_shows_only_the_label() {
        let ca = os_ca();
        let pair = ca.to_cert_and_key();
        assert_eq!(format!("{:?}", pair.key), "Pem(-----BEGIN ED25519 PRIVATE KEY----- …)");
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }

    #[test]
    fn certificates_der_reads_every_block_and_rejects_keys() {
        let a = os_ca();
        let b = os_ca();
        let both = format!("{}{}", a.cert_pem(), b.cert_pem());
        assert_eq!(certificates_der(&both).unwrap(), vec![a.cert_der(), b.cert_der()]);
        let err = certificates_der(&a.key_pem).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a CERTIFICATE PEM block, found \"ED25519 PRIVATE KEY\""
        );
        assert!(matches!(certificates_der("nothing"), Err(Error::NoPemBlock)));
    }

    #[test]
    fn relabelling_touches_only_the_ed25519_label() {
        let key = "-----BEGIN ED25519 PRIVATE KEY-----\nAA==\n-----END ED25519 PRIVATE KEY-----\n";
        assert_eq!(
            standard_key_pem(key),
            "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"
        );
        let ec = "-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(standard_key_pem(ec), ec);
    }

    #[test]
    fn serial_is_positive_der_of_at_most_128_bits() {
        for _ in 0..32 {
            let ca = os_ca();
            let der = ca.cert_der();
            let (_, cert) = X509Certificate::from_der(&der).unwrap();
            let raw = cert.raw_serial();
            // Up to 16 value bytes, plus one leading 0x00 when the top bit is set.
            assert!(raw.len() <= 17, "{raw:02x?}");
            assert!(raw[0] & 0x80 == 0, "negative serial {raw:02x?}");
            if raw.len() > 1 {
                assert!(!(raw[0] == 0 && raw[1] & 0x80 == 0), "non-minimal {raw:02x?}");
            }
        }
    }
}
