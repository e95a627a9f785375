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
//! This file holds the shared types (errors, PEM values, key usages); `ca` makes and loads
//! CAs, `leaf` issues certificates, `pem_text` converts and inspects PEM, and `keys` and
//! `x509` are the key and DER encoders beneath them.
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

mod ca;
mod keys;
mod leaf;
mod pem_text;
pub mod tls;
mod x509;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Class, Classify};

pub use ca::{CaSpec, CertificateAuthority, SubjectKeyId};
pub use keys::{KeyAlgorithm, LABEL_EC, LABEL_ED25519, LABEL_PKCS8, LABEL_RSA};
pub use leaf::{DerivedLeaf, LeafSpec, client_cert_spec, issue, issue_client_cert, issue_derived, issue_server_cert};
pub use pem_text::{
    CertificateSummary, certificate_der, certificates_der, check_cert_and_key, fingerprint_sha256,
    generate_private_key, private_key_algorithm, private_key_der, standard_key_pem, summarize_certificate,
};

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
    use std::net::IpAddr;

    use x509_parser::prelude::{FromDer as _, X509Certificate};

    use super::pem_text::name_string;
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
