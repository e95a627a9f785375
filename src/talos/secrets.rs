//! The Talos secrets bundle (`secrets.yaml`): PKI, tokens and cluster identity.
//!
//! The file layout is talosctl's, so a bundle made by talosctl or the Talos Terraform
//! provider can be brought along. Secrets are the one thing that cannot be re-derived.

use serde::{Deserialize, Serialize};

/// A secrets bundle, as stored in `secrets.yaml` (reference `talos.md` §A.1).
///
/// Certificate and key fields hold PEM text; in the file they are standard base64 of that
/// PEM (see [`Pem`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsBundle {
    /// Cluster identity.
    pub cluster: ClusterSecrets,
    /// Kubernetes bootstrap token and encryption secret.
    pub secrets: Secrets,
    /// The trustd token (joins machines, signs worker apid certificates).
    pub trustdinfo: TrustdInfo,
    /// The certificate authorities and the service-account key.
    pub certs: Certs,
}

/// `cluster:` in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSecrets {
    /// Cluster ID: 32 random bytes, URL-safe base64 (standard base64 from v1.14).
    pub id: String,
    /// Cluster secret: 32 random bytes, standard base64.
    pub secret: String,
}

/// `secrets:` in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// Kubernetes bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub bootstraptoken: String,
    /// Secretbox encryption secret (contract ≥ 1.3), 32 bytes standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secretboxencryptionsecret: Option<String>,
    /// Legacy AES-CBC encryption secret (contract ≤ 1.2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aescbcencryptionsecret: Option<String>,
}

/// `trustdinfo:` in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustdInfo {
    /// trustd token, same format as the bootstrap token.
    pub token: String,
}

/// `certs:` in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certs {
    /// etcd CA (ECDSA P-256, `O=etcd`).
    pub etcd: CertAndKey,
    /// Kubernetes CA (ECDSA P-256, `O=kubernetes`).
    pub k8s: CertAndKey,
    /// Front-proxy (aggregation layer) CA (ECDSA P-256, empty subject).
    pub k8saggregator: CertAndKey,
    /// Service-account signing key (RSA-4096 for contract ≥ 1.7).
    pub k8sserviceaccount: KeyOnly,
    /// Talos API ("OS") CA (Ed25519, `O=talos`).
    pub os: CertAndKey,
}

/// A certificate with its private key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertAndKey {
    /// The certificate, PEM `CERTIFICATE`.
    pub crt: Pem,
    /// The private key, PEM (label depends on the key type).
    pub key: Pem,
}

/// A private key without a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyOnly {
    /// The private key, PEM.
    pub key: Pem,
}

/// PEM text, stored in YAML as standard base64 (with padding) of the whole PEM, as Talos
/// does. The value `******` marks a redacted key and is kept as is.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem(pub String);

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Private keys must never reach logs; the PEM label is enough to debug with.
        let label = self.0.lines().next().unwrap_or("");
        write!(f, "Pem({label} …)")
    }
}

/// The text Talos uses for a redacted key.
pub const REDACTED: &str = "******";

impl Serialize for Pem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        if self.0 == REDACTED {
            return serializer.serialize_str(REDACTED);
        }
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.0.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for Pem {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let encoded = String::deserialize(deserializer)?;
        if encoded == REDACTED {
            return Ok(Pem(encoded));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| serde::de::Error::custom(format!("not standard base64 of a PEM block: {e}")))?;
        let text =
            String::from_utf8(bytes).map_err(|_| serde::de::Error::custom("base64 does not decode to PEM text"))?;
        Ok(Pem(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bundle_decodes_to_pem() {
        let text = include_str!("../../tests/fixtures/talos/secrets.yaml");
        let bundle: SecretsBundle = serde_saphyr::from_str(text).expect("golden bundle parses");
        assert!(
            bundle
                .certs
                .os
                .key
                .0
                .starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n")
        );
        assert!(bundle.certs.etcd.key.0.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        assert!(bundle.certs.k8s.crt.0.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(bundle.secrets.bootstraptoken, "inn7ol.u4ehnti8qyls9ymo");
        assert_eq!(
            format!("{:?}", bundle.certs.os.key),
            "Pem(-----BEGIN ED25519 PRIVATE KEY----- …)"
        );
    }
}
