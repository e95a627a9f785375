//! Private keys: generation, and parsing of every PEM form a Talos bundle may hold.
//!
//! Talos writes Ed25519 keys as `ED25519 PRIVATE KEY` with a PKCS#8 body (a label no
//! standard parser accepts), ECDSA keys as SEC1 `EC PRIVATE KEY` and RSA keys as PKCS#1
//! `RSA PRIVATE KEY`; tools may also hand us plain PKCS#8 `PRIVATE KEY`. Everything is
//! normalised to PKCS#8 internally, which is what ring (and so rcgen and rustls) loads.

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PKCS_RSA_SHA256, PublicKeyData as _};
use rustls::pki_types::PrivatePkcs8KeyDer;
use yasna::models::ObjectIdentifier;

use super::Error;

/// OID of Ed25519 keys and signatures (RFC 8410).
pub(super) const OID_ED25519: &[u64] = &[1, 3, 101, 112];
/// OID `id-ecPublicKey` (RFC 5480).
pub(super) const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
/// OID of the NIST P-256 curve (`prime256v1`).
pub(super) const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
/// OID `rsaEncryption` (RFC 8017).
pub(super) const OID_RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];

/// PEM label of Talos's Ed25519 keys (body: PKCS#8).
pub const LABEL_ED25519: &str = "ED25519 PRIVATE KEY";
/// PEM label of SEC1 elliptic-curve keys.
pub const LABEL_EC: &str = "EC PRIVATE KEY";
/// PEM label of PKCS#1 RSA keys.
pub const LABEL_RSA: &str = "RSA PRIVATE KEY";
/// PEM label of PKCS#8 keys.
pub const LABEL_PKCS8: &str = "PRIVATE KEY";

/// The key algorithms found in Talos PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// Ed25519: the OS (Talos API) CA and its client certificates.
    Ed25519,
    /// ECDSA over NIST P-256: the etcd, Kubernetes and aggregator CAs.
    EcdsaP256,
    /// RSA with the given modulus size: the service-account key (contract ≥ 1.7), and CAs
    /// imported from kubeadm.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
        }
    }
}

/// A parsed or generated private key: usable for signing, with its PEM text.
pub(crate) struct PrivateKey {
    /// The algorithm.
    pub algorithm: KeyAlgorithm,
    /// The key as ring/rcgen load it.
    pub key_pair: KeyPair,
    /// PKCS#8 DER of the key.
    pub pkcs8: Vec<u8>,
    /// The PEM text (as read, or as Talos writes it for generated keys).
    pub pem: String,
}

impl PrivateKey {
    /// The raw public key: the content of the SubjectPublicKeyInfo BIT STRING.
    pub fn public_key_raw(&self) -> &[u8] {
        self.key_pair.der_bytes()
    }
}

/// Encodes DER as PEM with Go's layout: 64-column lines, LF, trailing newline.
pub(crate) fn encode_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|source| Error::Random { source })
}

/// The Ed25519 key of a 32-byte seed (RFC 8032 private key), PEM-encoded the way Talos
/// writes it: `ED25519 PRIVATE KEY` with a PKCS#8 v1 body (no public key), byte-compatible
/// with Go's `MarshalPKCS8PrivateKey`.
pub(crate) fn ed25519_from_seed(seed: &[u8; 32]) -> Result<PrivateKey, Error> {
    let pkcs8 = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(0);
            w.next().write_sequence(|w| w.next().write_oid(&oid(OID_ED25519)));
            w.next().write_bytes(&yasna::construct_der(|w| w.write_bytes(seed)));
        })
    });
    let key_pair = load_pkcs8(&pkcs8, &PKCS_ED25519)?;
    let pem = encode_pem(LABEL_ED25519, &pkcs8);
    Ok(PrivateKey {
        algorithm: KeyAlgorithm::Ed25519,
        key_pair,
        pkcs8,
        pem,
    })
}

/// Generates a new key of `algorithm` (Ed25519 or ECDSA P-256), PEM-encoded the way
/// Talos writes it.
pub(crate) fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, Error> {
    match algorithm {
        KeyAlgorithm::Ed25519 => {
            let mut seed = [0u8; 32];
            random_bytes(&mut seed)?;
            ed25519_from_seed(&seed)
        }
        KeyAlgorithm::EcdsaP256 => {
            let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::KeyGeneration { algorithm, source };
            let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| failed(e.into()))?;
            let pkcs8 = key_pair.serialized_der().to_vec();
            let sec1 = pkcs8_inner_key(&pkcs8).map_err(|e| failed(e.into()))?;
            let (private, public) = parse_sec1(&sec1).map_err(|e| failed(e.into()))?;
            let public = public.ok_or_else(|| failed("ring generated a key without its public key".into()))?;
            // Go's MarshalECPrivateKey form: version, key, [0] curve, [1] public key.
            let sec1 = encode_sec1(&private, &public);
            Ok(PrivateKey {
                algorithm,
                key_pair,
                pkcs8,
                pem: encode_pem(LABEL_EC, &sec1),
            })
        }
        KeyAlgorithm::Rsa { .. } => Err(Error::Unsupported {
            what: "this key generator",
            algorithm,
        }),
    }
}

/// Generates an RSA key of `bits` bits, PEM `RSA PRIVATE KEY` (PKCS#1), as Talos's
/// service-account key. Takes seconds for 4096 bits.
pub(crate) fn generate_rsa_key(bits: usize) -> Result<String, Error> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let algorithm = KeyAlgorithm::Rsa { bits };
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| Error::KeyGeneration {
        algorithm,
        source: Box::new(e),
    })?;
    let der = key.to_pkcs1_der().map_err(|e| Error::KeyGeneration {
        algorithm,
        source: Box::new(e),
    })?;
    Ok(encode_pem(LABEL_RSA, der.as_bytes()))
}

/// Parses a private key from PEM: `ED25519 PRIVATE KEY` (PKCS#8 body), `EC PRIVATE KEY`
/// (SEC1, P-256), `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8 of any of these).
///
/// Error texts follow Talos's (`failed to parse PEM block`, `unsupported key type: "…"`).
pub(crate) fn parse(pem_text: &str) -> Result<PrivateKey, Error> {
    let block = pem::parse(pem_text.as_bytes()).map_err(|_| Error::NoPemBlock)?;
    let der = block.contents();
    let invalid = |detail: String| Error::InvalidKey {
        label: block.tag().to_string(),
        detail,
    };
    let (algorithm, pkcs8) = match block.tag() {
        LABEL_ED25519 | LABEL_PKCS8 => {
            let (algorithm_oid, curve) = pkcs8_algorithm(der).map_err(invalid)?;
            let algorithm = if algorithm_oid == oid(OID_ED25519) {
                KeyAlgorithm::Ed25519
            } else if algorithm_oid == oid(OID_EC_PUBLIC_KEY) {
                if curve != Some(oid(OID_P256)) {
                    return Err(invalid("only the P-256 curve is supported".into()));
                }
                KeyAlgorithm::EcdsaP256
            } else if algorithm_oid == oid(OID_RSA_ENCRYPTION) {
                let inner = pkcs8_inner_key(der).map_err(invalid)?;
                KeyAlgorithm::Rsa {
                    bits: rsa_modulus_bits(&inner).map_err(invalid)?,
                }
            } else {
                return Err(invalid(format!("unsupported key algorithm {algorithm_oid}")));
            };
            if block.tag() == LABEL_ED25519 && algorithm != KeyAlgorithm::Ed25519 {
                return Err(invalid(format!("the block holds an {algorithm} key, not Ed25519")));
            }
            (algorithm, der.to_vec())
        }
        LABEL_EC => {
            let (curve, has_public) = sec1_curve(der).map_err(invalid)?;
            match curve {
                Some(curve) if curve == oid(OID_P256) => {}
                Some(_) => return Err(invalid("only the P-256 curve is supported".into())),
                None => return Err(invalid("the key does not name its curve".into())),
            }
            if !has_public {
                return Err(invalid("keys without their public key are not supported".into()));
            }
            (
                KeyAlgorithm::EcdsaP256,
                wrap_pkcs8(OID_EC_PUBLIC_KEY, Some(OID_P256), der),
            )
        }
        LABEL_RSA => {
            let bits = rsa_modulus_bits(der).map_err(invalid)?;
            (KeyAlgorithm::Rsa { bits }, wrap_pkcs8(OID_RSA_ENCRYPTION, None, der))
        }
        other => {
            return Err(Error::UnsupportedKeyType {
                label: other.to_string(),
            });
        }
    };
    let signature_algorithm = match algorithm {
        KeyAlgorithm::Ed25519 => &PKCS_ED25519,
        KeyAlgorithm::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::Rsa { .. } => &PKCS_RSA_SHA256,
    };
    let key_pair = load_pkcs8(&pkcs8, signature_algorithm).map_err(|e| invalid(e.to_string()))?;
    Ok(PrivateKey {
        algorithm,
        key_pair,
        pkcs8,
        pem: pem_text.to_string(),
    })
}

fn load_pkcs8(pkcs8: &[u8], algorithm: &'static rcgen::SignatureAlgorithm) -> Result<KeyPair, Error> {
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pkcs8.to_vec()), algorithm).map_err(|e| {
        Error::InvalidKey {
            label: LABEL_PKCS8.into(),
            detail: e.to_string(),
        }
    })
}

pub(super) fn oid(components: &[u64]) -> ObjectIdentifier {
    ObjectIdentifier::from_slice(components)
}

/// Reads a PKCS#8 PrivateKeyInfo's algorithm OID and, for EC keys, the curve OID.
fn pkcs8_algorithm(der: &[u8]) -> Result<(ObjectIdentifier, Option<ObjectIdentifier>), String> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let algorithm = r.next().read_sequence(|r| {
                let algorithm = r.next().read_oid()?;
                let parameter = r.read_optional(|r| r.read_oid())?;
                // A NULL parameter (RSA) or anything else is skipped.
                while r.read_optional(|r| r.read_der())?.is_some() {}
                Ok((algorithm, parameter))
            })?;
            while r.read_optional(|r| r.read_der())?.is_some() {}
            Ok(algorithm)
        })
    })
    .map_err(|e| format!("not a PKCS#8 private key: {e}"))
}

/// The `privateKey` OCTET STRING of a PKCS#8 PrivateKeyInfo (SEC1 for EC, PKCS#1 for RSA).
fn pkcs8_inner_key(der: &[u8]) -> Result<Vec<u8>, String> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let _algorithm = r.next().read_der()?;
            let key = r.next().read_bytes()?;
            while r.read_optional(|r| r.read_der())?.is_some() {}
            Ok(key)
        })
    })
    .map_err(|e| format!("not a PKCS#8 private key: {e}"))
}

/// Reads a SEC1 ECPrivateKey: the private scalar and the public point, if present.
fn parse_sec1(der: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let private = r.next().read_bytes()?;
            let _curve = r.read_optional(|r| r.read_tagged(yasna::Tag::context(0), |r| r.read_oid()))?;
            let public = r.read_optional(|r| {
                r.read_tagged(yasna::Tag::context(1), |r| {
                    r.read_bitvec_bytes().map(|(bytes, _)| bytes)
                })
            })?;
            Ok((private, public))
        })
    })
    .map_err(|e| format!("not a SEC1 EC private key: {e}"))
}

/// The curve named in a SEC1 key, and whether it carries its public key.
fn sec1_curve(der: &[u8]) -> Result<(Option<ObjectIdentifier>, bool), String> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let version = r.next().read_u8()?;
            if version != 1 {
                return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
            }
            let _private = r.next().read_bytes()?;
            let curve = r.read_optional(|r| r.read_tagged(yasna::Tag::context(0), |r| r.read_oid()))?;
            let public = r.read_optional(|r| r.read_tagged(yasna::Tag::context(1), |r| r.read_bitvec_bytes()))?;
            Ok((curve, public.is_some()))
        })
    })
    .map_err(|e| format!("not a SEC1 EC private key: {e}"))
}

/// SEC1 ECPrivateKey for P-256 with the curve and public key, as Go writes it.
fn encode_sec1(private: &[u8], public: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(1);
            w.next().write_bytes(private);
            w.next()
                .write_tagged(yasna::Tag::context(0), |w| w.write_oid(&oid(OID_P256)));
            w.next().write_tagged(yasna::Tag::context(1), |w| {
                w.write_bitvec_bytes(public, public.len() * 8)
            });
        })
    })
}

/// Wraps a SEC1 or PKCS#1 key into a PKCS#8 PrivateKeyInfo.
fn wrap_pkcs8(algorithm: &[u64], curve: Option<&[u64]>, inner: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(0);
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(algorithm));
                match curve {
                    Some(curve) => w.next().write_oid(&oid(curve)),
                    None => w.next().write_null(),
                }
            });
            w.next().write_bytes(inner);
        })
    })
}

/// The modulus size of a PKCS#1 RSAPrivateKey, in bits.
fn rsa_modulus_bits(der: &[u8]) -> Result<usize, String> {
    let modulus = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let (modulus, _) = r.next().read_bigint_bytes()?;
            while r.read_optional(|r| r.read_der())?.is_some() {}
            Ok(modulus)
        })
    })
    .map_err(|e| format!("not a PKCS#1 RSA private key: {e}"))?;
    let significant: Vec<u8> = modulus.into_iter().skip_while(|b| *b == 0).collect();
    Ok(match significant.first() {
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ed25519_key_is_pkcs8_v1_under_the_talos_label() {
        let key = generate(KeyAlgorithm::Ed25519).unwrap();
        assert!(
            key.pem.starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n"),
            "{}",
            key.pem
        );
        assert!(key.pem.ends_with("-----END ED25519 PRIVATE KEY-----\n"));
        // 30 2e 02 01 00 30 05 06 03 2b 65 70 04 22 04 20 <seed>: Go's exact form.
        assert_eq!(key.pkcs8.len(), 48);
        assert_eq!(
            &key.pkcs8[..16],
            &[
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20
            ]
        );
        let reparsed = parse(&key.pem).unwrap();
        assert_eq!(reparsed.algorithm, KeyAlgorithm::Ed25519);
        assert_eq!(reparsed.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn generated_ec_key_is_sec1_with_curve_and_public_key() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert!(key.pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let der = pem::parse(&key.pem).unwrap().into_contents();
        // 121 bytes: SEQUENCE(119) as Go's MarshalECPrivateKey writes for P-256.
        assert_eq!(der.len(), 121);
        assert_eq!(&der[..7], &[0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20]);
        let reparsed = parse(&key.pem).unwrap();
        assert_eq!(reparsed.algorithm, KeyAlgorithm::EcdsaP256);
        assert_eq!(reparsed.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn unsupported_labels_and_garbage_are_named() {
        let cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            parse(cert).err().unwrap().to_string(),
            "unsupported key type: \"CERTIFICATE\""
        );
        assert_eq!(parse("hello").err().unwrap().to_string(), "failed to parse PEM block");
        let broken = "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n";
        let err = parse(broken).err().unwrap().to_string();
        assert!(
            err.starts_with("invalid EC PRIVATE KEY: not a SEC1 EC private key"),
            "{err}"
        );
    }

    #[test]
    fn ed25519_label_must_hold_an_ed25519_key() {
        let ec = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let relabelled = encode_pem(LABEL_ED25519, &ec.pkcs8);
        let err = parse(&relabelled).err().unwrap().to_string();
        assert_eq!(
            err,
            "invalid ED25519 PRIVATE KEY: the block holds an ECDSA P-256 key, not Ed25519"
        );
        // The same bytes under the generic label are fine.
        assert_eq!(
            parse(&encode_pem(LABEL_PKCS8, &ec.pkcs8)).unwrap().algorithm,
            KeyAlgorithm::EcdsaP256
        );
    }

    #[test]
    fn rsa_modulus_size_is_counted_from_the_top_bit() {
        let der = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_u8(0);
                // 0x00 0x80 ... : a positive 16-bit modulus.
                w.next().write_bigint_bytes(&[0x80, 0x01], true);
                w.next().write_u8(3);
            })
        });
        assert_eq!(rsa_modulus_bits(&der).unwrap(), 16);
    }
}
