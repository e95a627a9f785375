//! Certificate authorities: generating a new one exactly as Talos does, loading one from
//! the bundle, and what it hands to the leaves it signs.

use std::time::Duration;

use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::prelude::ParsedExtension;

use super::pem_text::{certificate_der, fingerprint_sha256, parse_x509};
use super::{CertAndKey, Error, ExtKeyUsage, KeyAlgorithm, KeyUsage, Pem, keys, random_serial, validity, x509};

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
    /// Validity length, normally [`CA_VALIDITY`](super::CA_VALIDITY).
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
    pub(super) key_pem: String,
    cert_der: Vec<u8>,
    pub(super) subject_der: Vec<u8>,
    pub(super) subject_key_id: Option<Vec<u8>>,
    pub(super) key: keys::PrivateKey,
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
