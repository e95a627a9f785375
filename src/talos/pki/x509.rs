//! The X.509 v3 certificate encoder behind every certificate talos-hcloud makes.
//!
//! Written on yasna rather than through rcgen's `CertificateParams` because Talos needs
//! what rcgen cannot express: several Organization values in one subject (one per role),
//! and a subject key identifier chosen per contract. rcgen still provides the keys and the
//! signatures. The extension order follows Go's `x509.CreateCertificate` (key usage,
//! extended key usage, basic constraints, key identifiers, alternative names).

use std::net::IpAddr;

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PublicKeyData as _, SigningKey as _};
use time::OffsetDateTime;
use yasna::models::{GeneralizedTime, UTCTime};
use yasna::{DERWriter, Tag};

use super::keys::{OID_ED25519, oid};
use super::{Error, ExtKeyUsage, KeyUsage};

const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];
const OID_AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];
const OID_SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
const OID_ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const OID_SHA256_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];

/// Everything that goes into one certificate.
pub(super) struct TbsFields<'a> {
    /// Serial number, big-endian unsigned (leading zeros are stripped).
    pub serial: &'a [u8],
    /// The issuer's subject, DER (for a self-signed certificate: `subject_der`).
    pub issuer_der: &'a [u8],
    /// The subject, DER (see [`encode_name`]).
    pub subject_der: &'a [u8],
    /// Validity start (whole seconds).
    pub not_before: OffsetDateTime,
    /// Validity end (whole seconds).
    pub not_after: OffsetDateTime,
    /// SubjectPublicKeyInfo DER of the certified key.
    pub spki_der: &'a [u8],
    /// Key usage bits (critical extension; omitted when empty).
    pub key_usage: &'a [KeyUsage],
    /// Extended key usages (omitted when empty).
    pub ext_key_usage: &'a [ExtKeyUsage],
    /// `Some(true)`: CA=TRUE, no path length; `Some(false)`: CA=FALSE; `None`: no
    /// basic constraints extension.
    pub basic_constraints_ca: Option<bool>,
    /// Subject key identifier.
    pub subject_key_id: Option<&'a [u8]>,
    /// Authority key identifier (the issuer's subject key identifier).
    pub authority_key_id: Option<&'a [u8]>,
    /// IP address SANs.
    pub ip_sans: &'a [IpAddr],
    /// DNS name SANs.
    pub dns_sans: &'a [String],
}

/// Encodes a distinguished name: all Organization values in one RDN (as Go does), then
/// the common name. Empty input gives the empty name.
pub(super) fn encode_name(organizations: &[String], common_name: Option<&str>) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            if !organizations.is_empty() {
                w.next().write_set_of(|w| {
                    for organization in organizations {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&oid(OID_ORGANIZATION));
                            write_directory_string(w.next(), organization);
                        });
                    }
                });
            }
            if let Some(common_name) = common_name {
                w.next().write_set(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&oid(OID_COMMON_NAME));
                        write_directory_string(w.next(), common_name);
                    });
                });
            }
        })
    })
}

/// PrintableString when every character allows it (as Go chooses), UTF8String otherwise.
fn write_directory_string(w: DERWriter, value: &str) {
    let printable = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c));
    if printable {
        w.write_printable_string(value);
    } else {
        w.write_utf8_string(value);
    }
}

/// Go's rule: UTCTime for 1950–2049, GeneralizedTime otherwise.
fn write_time(w: DERWriter, at: OffsetDateTime) {
    if (1950..2050).contains(&at.year()) {
        w.write_utctime(&UTCTime::from_datetime(at));
    } else {
        w.write_generalized_time(&GeneralizedTime::from_datetime(at));
    }
}

fn write_extension(w: DERWriter, extension_oid: &[u64], critical: bool, value: Vec<u8>) {
    w.write_sequence(|w| {
        w.next().write_oid(&oid(extension_oid));
        if critical {
            w.next().write_bool(true);
        }
        w.next().write_bytes(&value);
    });
}

fn write_signature_algorithm(w: DERWriter, signer: &KeyPair) {
    let algorithm = signer.algorithm();
    w.write_sequence(|w| {
        if algorithm == &PKCS_ED25519 {
            w.next().write_oid(&oid(OID_ED25519));
        } else if algorithm == &PKCS_ECDSA_P256_SHA256 {
            w.next().write_oid(&oid(OID_ECDSA_WITH_SHA256));
        } else {
            w.next().write_oid(&oid(OID_SHA256_WITH_RSA));
            w.next().write_null();
        }
    });
}

fn key_usage_bits(usages: &[KeyUsage]) -> (Vec<u8>, usize) {
    let mut bits: u16 = 0;
    for usage in usages {
        let index = match usage {
            KeyUsage::DigitalSignature => 0,
            KeyUsage::KeyEncipherment => 2,
            KeyUsage::KeyAgreement => 4,
            KeyUsage::KeyCertSign => 5,
            KeyUsage::CrlSign => 6,
        };
        bits |= 0x8000 >> index;
    }
    // DER: the bit string ends at the last set bit.
    let length = 16 - bits.trailing_zeros() as usize;
    let bytes = bits.to_be_bytes();
    (bytes[..length.div_ceil(8)].to_vec(), length)
}

fn extensions(fields: &TbsFields<'_>) -> Vec<(&'static [u64], bool, Vec<u8>)> {
    let mut out = Vec::new();
    if !fields.key_usage.is_empty() {
        let (bytes, length) = key_usage_bits(fields.key_usage);
        out.push((
            OID_KEY_USAGE,
            true,
            yasna::construct_der(|w| w.write_bitvec_bytes(&bytes, length)),
        ));
    }
    if !fields.ext_key_usage.is_empty() {
        let value = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for usage in fields.ext_key_usage {
                    w.next().write_oid(&oid(usage.oid()));
                }
            })
        });
        out.push((OID_EXT_KEY_USAGE, false, value));
    }
    if let Some(ca) = fields.basic_constraints_ca {
        let value = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                if ca {
                    w.next().write_bool(true);
                }
            })
        });
        out.push((OID_BASIC_CONSTRAINTS, true, value));
    }
    if let Some(key_id) = fields.subject_key_id {
        out.push((
            OID_SUBJECT_KEY_ID,
            false,
            yasna::construct_der(|w| w.write_bytes(key_id)),
        ));
    }
    if let Some(key_id) = fields.authority_key_id {
        let value = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next()
                    .write_tagged_implicit(Tag::context(0), |w| w.write_bytes(key_id));
            })
        });
        out.push((OID_AUTHORITY_KEY_ID, false, value));
    }
    if !fields.ip_sans.is_empty() || !fields.dns_sans.is_empty() {
        let value = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for name in fields.dns_sans {
                    w.next()
                        .write_tagged_implicit(Tag::context(2), |w| w.write_ia5_string(name));
                }
                for ip in fields.ip_sans {
                    let octets = match ip {
                        IpAddr::V4(v4) => v4.octets().to_vec(),
                        IpAddr::V6(v6) => v6.octets().to_vec(),
                    };
                    w.next()
                        .write_tagged_implicit(Tag::context(7), |w| w.write_bytes(&octets));
                }
            })
        });
        // RFC 5280 4.2.1.6: critical when the subject is empty.
        let empty_subject = fields.subject_der == encode_name(&[], None).as_slice();
        out.push((OID_SUBJECT_ALT_NAME, empty_subject, value));
    }
    out
}

/// Builds the certificate and signs it with `signer`; returns the certificate DER.
pub(super) fn build_certificate(fields: &TbsFields<'_>, signer: &KeyPair) -> Result<Vec<u8>, Error> {
    let tbs = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_tagged(Tag::context(0), |w| w.write_u8(2));
            w.next().write_bigint_bytes(fields.serial, true);
            write_signature_algorithm(w.next(), signer);
            w.next().write_der(fields.issuer_der);
            w.next().write_sequence(|w| {
                write_time(w.next(), fields.not_before);
                write_time(w.next(), fields.not_after);
            });
            w.next().write_der(fields.subject_der);
            w.next().write_der(fields.spki_der);
            let extensions = extensions(fields);
            if !extensions.is_empty() {
                w.next().write_tagged(Tag::context(3), |w| {
                    w.write_sequence(|w| {
                        for (extension_oid, critical, value) in extensions {
                            write_extension(w.next(), extension_oid, critical, value);
                        }
                    })
                });
            }
        })
    });
    let signature = signer.sign(&tbs).map_err(|source| Error::Signing { source })?;
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            write_signature_algorithm(w.next(), signer);
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
        })
    }))
}

/// The SubjectPublicKeyInfo DER of a key pair.
pub(super) fn spki_der(key_pair: &KeyPair) -> Vec<u8> {
    key_pair.subject_public_key_info()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_usage_bits_are_minimal_der() {
        // digitalSignature + keyCertSign: 03 02 02 84, as in every Talos CA.
        let (bytes, length) = key_usage_bits(&[KeyUsage::DigitalSignature, KeyUsage::KeyCertSign]);
        assert_eq!(
            yasna::construct_der(|w| w.write_bitvec_bytes(&bytes, length)),
            [3, 2, 2, 0x84]
        );
        // digitalSignature only: 03 02 07 80.
        let (bytes, length) = key_usage_bits(&[KeyUsage::DigitalSignature]);
        assert_eq!(
            yasna::construct_der(|w| w.write_bitvec_bytes(&bytes, length)),
            [3, 2, 7, 0x80]
        );
    }

    #[test]
    fn names_encode_like_go() {
        // O=etcd as a PrintableString: 30 0f 31 0d 30 0b 06 03 55 04 0a 13 04 "etcd".
        assert_eq!(
            encode_name(&["etcd".into()], None),
            [
                0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x13, 0x04, b'e', b't', b'c', b'd'
            ]
        );
        assert_eq!(encode_name(&[], None), [0x30, 0x00]);
        // A value outside PrintableString is UTF8String (tag 0x0c).
        let name = encode_name(&["grüne".into()], None);
        assert_eq!(name[11], 0x0c);
    }
}
