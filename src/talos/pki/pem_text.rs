//! PEM text in and out: new private keys in Talos's PEM form, certificates and keys as DER
//! for rustls, key relabelling, fingerprints and certificate summaries.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::Serialize;
use sha2::Digest as _;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::ca::CertificateAuthority;
use super::{CertAndKey, Error, KeyAlgorithm, LABEL_ED25519, LABEL_PKCS8, Pem, keys};

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
pub(super) fn name_string(name: &x509_parser::x509::X509Name<'_>) -> String {
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

pub(super) fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, Error> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(Error::InvalidCertificate {
            detail: "trailing data after the certificate".into(),
        }),
        Err(e) => Err(Error::InvalidCertificate { detail: e.to_string() }),
    }
}
