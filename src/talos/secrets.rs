//! The Talos secrets bundle (`secrets.yaml`): PKI, tokens and cluster identity.
//!
//! Generation follows `talosctl gen secrets` per version contract (reference `talos.md`
//! §A); the file layout is talosctl's, so a bundle made by talosctl or the Talos Terraform
//! provider can be brought along, and ours work with talosctl. Loading validates with
//! Talos's own messages (§A.5), all problems at once. Secrets are the one thing that cannot
//! be re-derived: files are read and written through [`crate::talos::secret_yaml`] (mode
//! 0600, atomic, parse errors without the input). Certificates are made by
//! [`crate::talos::pki`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Class, Classify};
use crate::secure_file::{self, Overwrite};
use crate::talos::contract::Contract;
use crate::talos::pki::{self, CaSpec, CertificateAuthority, CertificateSummary, KeyAlgorithm, SubjectKeyId};
use crate::talos::secret_yaml::{self, YamlError, parse_yaml};

pub use crate::talos::pki::{CertAndKey, KeyOnly, Pem, REDACTED};

/// A secrets bundle, as stored in `secrets.yaml` (reference `talos.md` §A.1).
///
/// Certificate and key fields hold PEM text; in the file they are standard base64 of that
/// PEM (see [`Pem`]). Field order is talosctl's, so [`SecretsBundle::to_yaml`] writes
/// what talosctl writes.
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

/// `cluster:` in the bundle. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSecrets {
    /// Cluster ID: 32 random bytes, URL-safe base64 (standard base64 from v1.14).
    pub id: String,
    /// Cluster secret: 32 random bytes, standard base64.
    pub secret: String,
}

/// `secrets:` in the bundle. `Debug` hides the values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// Kubernetes bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub bootstraptoken: String,
    /// Legacy AES-CBC encryption secret (contract ≤ 1.2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aescbcencryptionsecret: Option<String>,
    /// Secretbox encryption secret (contract ≥ 1.3), 32 bytes standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secretboxencryptionsecret: Option<String>,
}

/// `trustdinfo:` in the bundle. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustdInfo {
    /// trustd token, same format as the bootstrap token.
    pub token: String,
}

/// Stands for a secret value in `Debug` output.
const HIDDEN: &str = "***";

fn hidden_if_set(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| HIDDEN)
}

impl fmt::Debug for ClusterSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSecrets")
            .field("id", &self.id)
            .field("secret", &HIDDEN)
            .finish()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("bootstraptoken", &HIDDEN)
            .field("aescbcencryptionsecret", &hidden_if_set(&self.aescbcencryptionsecret))
            .field(
                "secretboxencryptionsecret",
                &hidden_if_set(&self.secretboxencryptionsecret),
            )
            .finish()
    }
}

impl fmt::Debug for TrustdInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustdInfo").field("token", &HIDDEN).finish()
    }
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

/// The four CAs of a bundle, by the name used in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaName {
    /// `certs.etcd`.
    Etcd,
    /// `certs.k8s`.
    K8s,
    /// `certs.k8saggregator`.
    K8sAggregator,
    /// `certs.os`.
    Os,
}

impl CaName {
    /// All four, in the file's order.
    pub const ALL: [CaName; 4] = [CaName::Etcd, CaName::K8s, CaName::K8sAggregator, CaName::Os];

    /// The key under `certs:` (`etcd`, `k8s`, `k8saggregator`, `os`).
    pub fn as_str(self) -> &'static str {
        match self {
            CaName::Etcd => "etcd",
            CaName::K8s => "k8s",
            CaName::K8sAggregator => "k8saggregator",
            CaName::Os => "os",
        }
    }
}

/// Options of [`SecretsBundle::generate_with`].
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// The bundle clock: NotBefore of every CA (one instant for all); `None` = now.
    pub now: Option<OffsetDateTime>,
    /// Use this service-account key instead of generating one: a key brought from
    /// kubeadm's `sa.key`, or one shared across tests (RSA-4096 generation takes seconds).
    pub service_account_key: Option<Pem>,
}

/// A source of random bytes: the OS CSPRNG in production ([`OsRandom`]), fixed bytes in
/// tests of the token sampler.
pub trait ByteSource {
    /// Fills `buf` completely.
    ///
    /// # Errors
    ///
    /// The source failed or is exhausted.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl ByteSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(buf).map_err(|e| Error::Random { detail: e.to_string() })
    }
}

/// A failure to generate, load, validate or save a secrets bundle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read secrets bundle {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML (or JSON) of the bundle's shape.
    #[error("{origin} is not a secrets bundle")]
    Parse {
        /// The file, or `input`.
        origin: String,
        /// The parser's error (with line and column).
        #[source]
        source: YamlError,
    },
    /// The file is encrypted with sops.
    #[error("{origin} is encrypted with sops; decrypt it first (sops --decrypt)")]
    SopsEncrypted {
        /// The file, or `input`.
        origin: String,
    },
    /// The bundle parses but is incomplete or holds unusable material (reference §A.5).
    #[error("secrets bundle {origin} is invalid: {}", problems.join("; "))]
    Invalid {
        /// The file, or `input`.
        origin: String,
        /// Every problem, in Talos's order and wording.
        problems: Vec<String>,
    },
    /// The OS random source failed.
    #[error("cannot read random bytes from the operating system: {detail}")]
    Random {
        /// The OS error.
        detail: String,
    },
    /// A CA or key could not be generated.
    #[error("cannot generate the {what}")]
    Generate {
        /// Which part of the bundle.
        what: &'static str,
        /// The cause.
        #[source]
        source: pki::Error,
    },
    /// The bundle could not be serialized.
    #[error("cannot serialize the secrets bundle")]
    Serialize {
        /// The cause.
        #[source]
        source: serde_saphyr::SerializeError,
    },
    /// The file could not be written (or exists and may not be replaced).
    #[error("cannot write secrets bundle {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: secure_file::Error,
    },
}

impl Error {
    /// The validation problems, if this is [`Error::Invalid`].
    pub fn problems(&self) -> &[String] {
        match self {
            Error::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

secret_yaml::impl_file_errors!(Error);

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Read { .. } | Error::Parse { .. } | Error::SopsEncrypted { .. } | Error::Invalid { .. } => {
                Class::InvalidInput
            }
            Error::Random { .. } | Error::Generate { .. } | Error::Serialize { .. } => Class::Failed,
            Error::Write { source, .. } => source.class(),
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Write { source, .. } => source.hints(),
            Error::Parse { .. } => vec![
                "expected talosctl's secrets.yaml layout (cluster, secrets, trustdinfo, certs), or the Terraform provider's machine_secrets".into(),
            ],
            _ => Vec::new(),
        }
    }
}

/// The token alphabet (Kubernetes bootstrap token characters).
const TOKEN_ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Bytes at or above this are discarded so that `byte % 36` is uniform (252 = 7 × 36).
const TOKEN_REJECT_FROM: u8 = 252;

/// `length` characters of `[0-9a-z]`, one source byte per draw, rejection-sampled as
/// Talos does (reference §A.3): bytes ≥ 252 are discarded, the rest map to `byte % 36`.
///
/// # Errors
///
/// The byte source failed.
pub fn token_string(source: &mut dyn ByteSource, length: usize) -> Result<String, Error> {
    let mut out = String::with_capacity(length);
    while out.len() < length {
        let mut byte = [0u8; 1];
        source.fill(&mut byte)?;
        if byte[0] < TOKEN_REJECT_FROM {
            out.push(char::from(TOKEN_ALPHABET[usize::from(byte[0]) % TOKEN_ALPHABET.len()]));
        }
    }
    Ok(out)
}

/// A bootstrap or trustd token, `[a-z0-9]{6}.[a-z0-9]{16}`.
///
/// # Errors
///
/// The byte source failed.
pub fn generate_token(source: &mut dyn ByteSource) -> Result<String, Error> {
    let id = token_string(source, 6)?;
    let secret = token_string(source, 16)?;
    Ok(format!("{id}.{secret}"))
}

/// Returns true if and only if `token` has the form `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn is_token(token: &str) -> bool {
    let valid = |part: &str, length: usize| part.len() == length && part.bytes().all(|b| TOKEN_ALPHABET.contains(&b));
    match token.split_once('.') {
        Some((id, secret)) => valid(id, 6) && valid(secret, 16),
        None => false,
    }
}

fn random_base64(source: &mut dyn ByteSource, url_safe: bool) -> Result<String, Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    source.fill(&mut bytes)?;
    Ok(if url_safe {
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}

impl SecretsBundle {
    /// Generates a new bundle for `contract`, as `talosctl gen secrets --talos-version`.
    ///
    /// # Errors
    ///
    /// The random source or key generation failed.
    ///
    /// # Caveats
    ///
    /// For contracts ≥ 1.7 this generates an RSA-4096 key, which takes a few seconds.
    pub fn generate(contract: Contract) -> Result<SecretsBundle, Error> {
        SecretsBundle::generate_with(contract, GenerateOptions::default())
    }

    /// Generates a new bundle for `contract` with an explicit clock and, optionally, an
    /// existing service-account key.
    ///
    /// # Errors
    ///
    /// As [`SecretsBundle::generate`].
    pub fn generate_with(contract: Contract, options: GenerateOptions) -> Result<SecretsBundle, Error> {
        let now = options.now.unwrap_or_else(OffsetDateTime::now_utc);
        let subject_key_id = if contract.random_ca_key_ids() {
            SubjectKeyId::Random
        } else {
            SubjectKeyId::Sha1OfPublicKey
        };
        let ca = |what: &'static str, organization: Option<&str>, algorithm: KeyAlgorithm| {
            CertificateAuthority::generate(&CaSpec {
                organization: organization.map(str::to_string),
                algorithm,
                not_before: now,
                validity: pki::CA_VALIDITY,
                subject_key_id,
            })
            .map(|ca| ca.to_cert_and_key())
            .map_err(|source| Error::Generate { what, source })
        };
        let etcd = ca("etcd CA", Some("etcd"), KeyAlgorithm::EcdsaP256)?;
        let k8s = ca("Kubernetes CA", Some("kubernetes"), KeyAlgorithm::EcdsaP256)?;
        let k8saggregator = ca("aggregator CA", None, KeyAlgorithm::EcdsaP256)?;
        let os = ca("OS CA", Some("talos"), KeyAlgorithm::Ed25519)?;
        let service_account_key = match options.service_account_key {
            Some(key) => key,
            None => {
                let algorithm = if contract.rsa_service_account_key() {
                    KeyAlgorithm::Rsa { bits: 4096 }
                } else {
                    KeyAlgorithm::EcdsaP256
                };
                pki::generate_private_key(algorithm).map_err(|source| Error::Generate {
                    what: "service-account key",
                    source,
                })?
            }
        };

        let mut random = OsRandom;
        let encryption_secret = random_base64(&mut random, false)?;
        let (aescbc, secretbox) = if contract.secretbox_encryption() {
            (None, Some(encryption_secret))
        } else {
            (Some(encryption_secret), None)
        };
        Ok(SecretsBundle {
            cluster: ClusterSecrets {
                id: random_base64(&mut random, !contract.standard_base64_cluster_id())?,
                secret: random_base64(&mut random, false)?,
            },
            secrets: Secrets {
                bootstraptoken: generate_token(&mut random)?,
                aescbcencryptionsecret: aescbc,
                secretboxencryptionsecret: secretbox,
            },
            trustdinfo: TrustdInfo {
                token: generate_token(&mut random)?,
            },
            certs: Certs {
                etcd,
                k8s,
                k8saggregator,
                k8sserviceaccount: KeyOnly {
                    key: service_account_key,
                },
                os,
            },
        })
    }

    /// Loads and validates a bundle file (talosctl's YAML, the Terraform provider's
    /// `machine_secrets` as YAML or JSON, or the Go JSON form).
    ///
    /// # Errors
    ///
    /// The file cannot be read, does not parse, or fails validation (all problems listed).
    pub fn load(path: &Path) -> Result<SecretsBundle, Error> {
        secret_yaml::load(path, SecretsBundle::parse)
    }

    /// Parses and validates a bundle from text (YAML or JSON, see [`SecretsBundle::load`]).
    ///
    /// # Errors
    ///
    /// As [`SecretsBundle::load`], with `input` as the origin.
    pub fn from_yaml(text: &str) -> Result<SecretsBundle, Error> {
        SecretsBundle::parse(text, "input")
    }

    fn parse(text: &str, origin: &str) -> Result<SecretsBundle, Error> {
        if looks_sops_encrypted(text) {
            return Err(Error::SopsEncrypted {
                origin: origin.to_string(),
            });
        }
        let raw: Option<raw::Bundle> = parse_yaml(text, origin).map_err(|source| Error::Parse {
            origin: origin.to_string(),
            source,
        })?;
        raw.unwrap_or_default().validate().map_err(|problems| Error::Invalid {
            origin: origin.to_string(),
            problems,
        })
    }

    /// The bundle as talosctl writes it: lower-case keys, 4-space indentation, base64 of
    /// PEM. [`SecretsBundle::from_yaml`] reads it back identically.
    ///
    /// # Errors
    ///
    /// Serialization failed (not expected for a well-formed bundle).
    pub fn to_yaml(&self) -> Result<String, Error> {
        secret_yaml::to_yaml(self)
    }

    /// Writes the bundle to `path` with mode 0600, atomically (see
    /// [`secure_file::write_private`]).
    ///
    /// # Errors
    ///
    /// The file exists and `overwrite` is [`Overwrite::Refuse`] (nothing changed), or
    /// writing failed.
    pub fn save(&self, path: &Path, overwrite: Overwrite) -> Result<(), Error> {
        secret_yaml::save(self, path, overwrite)
    }

    /// The CA stored under `name`.
    pub fn ca_pair(&self, name: CaName) -> &CertAndKey {
        match name {
            CaName::Etcd => &self.certs.etcd,
            CaName::K8s => &self.certs.k8s,
            CaName::K8sAggregator => &self.certs.k8saggregator,
            CaName::Os => &self.certs.os,
        }
    }

    /// The CA stored under `name`, loaded and ready to issue certificates.
    ///
    /// # Errors
    ///
    /// Not expected for a loaded or generated bundle (they are validated).
    pub fn ca(&self, name: CaName) -> Result<CertificateAuthority, pki::Error> {
        CertificateAuthority::from_cert_and_key(self.ca_pair(name))
    }

    /// What an operator may see about each CA (subjects, expiry, fingerprints; never keys).
    ///
    /// # Errors
    ///
    /// Not expected for a loaded or generated bundle (they are validated).
    pub fn ca_summaries(&self) -> Result<Vec<(CaName, CertificateSummary)>, pki::Error> {
        CaName::ALL
            .into_iter()
            .map(|name| Ok((name, pki::summarize_certificate(&self.ca_pair(name).crt.0)?)))
            .collect()
    }
}

/// True when a top-level `sops:` key is present (sops-encrypted YAML or JSON).
fn looks_sops_encrypted(text: &str) -> bool {
    text.lines().any(|line| line.starts_with("sops:"))
        || (text.trim_start().starts_with('{') && text.contains("\"sops\"") && text.contains("ENC["))
}

/// The lenient load model: every field optional so that validation can name each missing
/// one, with the spellings of the three producers as aliases: talosctl YAML (`crt`,
/// `k8saggregator`), the Terraform provider's `machine_secrets` (`cert`,
/// `bootstrap_token`, `k8s_aggregator`) and Go's JSON (`Certs`, `K8sAggregator`, `Crt`).
mod raw {
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Bundle {
        #[serde(alias = "Cluster")]
        pub cluster: Option<Cluster>,
        #[serde(alias = "Secrets")]
        pub secrets: Option<Secrets>,
        #[serde(alias = "TrustdInfo")]
        pub trustdinfo: Option<TrustdInfo>,
        #[serde(alias = "Certs")]
        pub certs: Option<Certs>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Cluster {
        #[serde(alias = "Id")]
        pub id: Option<String>,
        #[serde(alias = "Secret")]
        pub secret: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Secrets {
        #[serde(alias = "BootstrapToken", alias = "bootstrap_token")]
        pub bootstraptoken: Option<String>,
        #[serde(alias = "AESCBCEncryptionSecret", alias = "aescbc_encryption_secret")]
        pub aescbcencryptionsecret: Option<String>,
        #[serde(alias = "SecretboxEncryptionSecret", alias = "secretbox_encryption_secret")]
        pub secretboxencryptionsecret: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct TrustdInfo {
        #[serde(alias = "Token")]
        pub token: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Certs {
        #[serde(alias = "Etcd")]
        pub etcd: Option<CertAndKey>,
        #[serde(alias = "K8s")]
        pub k8s: Option<CertAndKey>,
        #[serde(alias = "K8sAggregator", alias = "k8s_aggregator")]
        pub k8saggregator: Option<CertAndKey>,
        #[serde(alias = "K8sServiceAccount", alias = "k8s_serviceaccount")]
        pub k8sserviceaccount: Option<Key>,
        #[serde(alias = "OS")]
        pub os: Option<CertAndKey>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct CertAndKey {
        #[serde(alias = "Crt", alias = "cert")]
        pub crt: Option<String>,
        #[serde(alias = "Key")]
        pub key: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Key {
        #[serde(alias = "Key")]
        pub key: Option<String>,
    }
}

/// `Some(value)` unless absent or empty (Go treats empty strings as missing).
fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl raw::Bundle {
    /// Talos's `Bundle.Validate` (reference §A.5), plus a check that each CA key belongs
    /// to its certificate; returns the typed bundle or every problem found.
    fn validate(self) -> Result<SecretsBundle, Vec<String>> {
        let mut problems = Vec::new();
        let require = |value: Option<String>, name: &str, problems: &mut Vec<String>| {
            let value = present(value);
            if value.is_none() {
                problems.push(format!("{name} is required"));
            }
            value
        };

        let (id, secret) = match self.cluster {
            None => {
                problems.push("cluster is required".into());
                (None, None)
            }
            Some(cluster) => (
                require(cluster.id, "cluster.id", &mut problems),
                require(cluster.secret, "cluster.secret", &mut problems),
            ),
        };

        let mut bootstrap_token = None;
        let (mut aescbc, mut secretbox) = (None, None);
        match self.secrets {
            None => problems.push("secrets is required".into()),
            Some(secrets) => {
                bootstrap_token = require(secrets.bootstraptoken, "secrets.bootstraptoken", &mut problems);
                aescbc = present(secrets.aescbcencryptionsecret);
                secretbox = present(secrets.secretboxencryptionsecret);
                const BOTH: &str = "[secrets.secretboxencryptionsecret, secrets.aescbcencryptionsecret]";
                match (&aescbc, &secretbox) {
                    (None, None) => problems.push(format!("one of {BOTH} is required")),
                    (Some(_), Some(_)) => problems.push(format!("only one of {BOTH} is allowed")),
                    _ => {}
                }
            }
        }

        let trustd_token = match self.trustdinfo {
            None => {
                problems.push("trustdinfo is required".into());
                None
            }
            Some(trustd) => require(trustd.token, "trustdinfo.token", &mut problems),
        };

        let certs = match self.certs {
            None => {
                problems.push("certs is required".into());
                None
            }
            Some(certs) => {
                let etcd = validate_ca(certs.etcd, "certs.etcd", &mut problems);
                let k8s = validate_ca(certs.k8s, "certs.k8s", &mut problems);
                let k8saggregator = validate_ca(certs.k8saggregator, "certs.k8saggregator", &mut problems);
                let os = validate_ca(certs.os, "certs.os", &mut problems);
                let service_account = validate_service_account(certs.k8sserviceaccount, &mut problems);
                match (etcd, k8s, k8saggregator, os, service_account) {
                    (Some(etcd), Some(k8s), Some(k8saggregator), Some(os), Some(key)) => Some(Certs {
                        etcd,
                        k8s,
                        k8saggregator,
                        k8sserviceaccount: KeyOnly { key },
                        os,
                    }),
                    _ => None,
                }
            }
        };

        match (id, secret, bootstrap_token, trustd_token, certs) {
            (Some(id), Some(secret), Some(bootstraptoken), Some(token), Some(certs)) if problems.is_empty() => {
                Ok(SecretsBundle {
                    cluster: ClusterSecrets { id, secret },
                    secrets: Secrets {
                        bootstraptoken,
                        aescbcencryptionsecret: aescbc,
                        secretboxencryptionsecret: secretbox,
                    },
                    trustdinfo: TrustdInfo { token },
                    certs,
                })
            }
            _ => Err(problems),
        }
    }
}

fn decode_pem(value: Option<String>, field: &str) -> Result<Pem, String> {
    let value = present(value).ok_or_else(|| format!("{field} is required"))?;
    let pem = Pem::from_base64(&value).map_err(|e| format!("{field}: {e}"))?;
    if pem.0 == REDACTED {
        return Err(format!("{field} is redacted ({REDACTED})"));
    }
    Ok(pem)
}

fn validate_ca(pair: Option<raw::CertAndKey>, name: &str, problems: &mut Vec<String>) -> Option<CertAndKey> {
    let Some(pair) = pair else {
        problems.push(format!("{name} is required"));
        return None;
    };
    // Talos checks the key first, then the certificate.
    let checked = decode_pem(pair.key, "key").and_then(|key| {
        pki::private_key_algorithm(&key.0).map_err(|e| e.to_string())?;
        let crt = decode_pem(pair.crt, "crt")?;
        let pair = CertAndKey { crt, key };
        pki::check_cert_and_key(&pair).map_err(|e| e.to_string())?;
        Ok(pair)
    });
    match checked {
        Ok(pair) => Some(pair),
        Err(e) => {
            problems.push(format!("{name} is invalid: {e}"));
            None
        }
    }
}

fn validate_service_account(key: Option<raw::Key>, problems: &mut Vec<String>) -> Option<Pem> {
    let Some(key) = key else {
        problems.push("certs.k8sserviceaccount is required".into());
        return None;
    };
    let checked = decode_pem(key.key, "key").and_then(|pem| {
        pki::private_key_algorithm(&pem.0)
            .map(|_| pem)
            .map_err(|e| e.to_string())
    });
    match checked {
        Ok(pem) => Some(pem),
        Err(e) => {
            problems.push(format!("certs.k8sserviceaccount.key is invalid: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = include_str!("../../tests/fixtures/talos/secrets.yaml");

    /// Bytes from a fixed list, failing when exhausted.
    struct FixedBytes(std::collections::VecDeque<u8>);

    impl ByteSource for FixedBytes {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
            for slot in buf {
                *slot = self.0.pop_front().ok_or(Error::Random {
                    detail: "fixed bytes exhausted".into(),
                })?;
            }
            Ok(())
        }
    }

    #[test]
    fn sampler_skips_bytes_from_252_and_maps_the_rest_mod_36() {
        let mut source = FixedBytes([252, 253, 254, 255, 0, 35, 36, 71, 251, 10].into_iter().collect());
        // 0→'0', 35→'z', 36→'0', 71→'z', 251 = 6·36+35 → 'z', 10→'a'.
        assert_eq!(token_string(&mut source, 6).unwrap(), "0z0zza");
        assert!(source.0.is_empty());
    }

    #[test]
    fn token_is_6_dot_16_accepted_characters() {
        let bytes: Vec<u8> = (0..22).map(|i| if i % 2 == 0 { 255 } else { i }).chain(0..22).collect();
        let mut source = FixedBytes(bytes.into_iter().collect());
        let token = generate_token(&mut source).unwrap();
        assert!(is_token(&token), "{token}");
        // Accepted: the 11 odd bytes 1..=21, then 0, 1, 2, ...: 22 in all, 11 left over.
        assert_eq!(token, "13579b.dfhjl0123456789a");
        assert_eq!(source.0.len(), 11);
        let err = generate_token(&mut FixedBytes([255; 40].into_iter().collect())).unwrap_err();
        assert!(matches!(err, Error::Random { .. }));
    }

    #[test]
    fn os_random_tokens_match_the_format() {
        for _ in 0..50 {
            let token = generate_token(&mut OsRandom).unwrap();
            assert!(is_token(&token), "{token}");
        }
        assert!(!is_token("abcdef.0123456789abcdeF"));
        assert!(!is_token("abcde.0123456789abcdefg"));
        assert!(!is_token("abcdef0123456789abcdefg"));
    }

    #[test]
    fn golden_bundle_loads_and_writes_back_as_talosctl_did() {
        let bundle = SecretsBundle::from_yaml(GOLDEN).unwrap();
        assert!(
            bundle
                .certs
                .os
                .key
                .0
                .starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n")
        );
        assert_eq!(bundle.secrets.bootstraptoken, "inn7ol.u4ehnti8qyls9ymo");
        // The fixture is talosctl output plus one comment line at the top.
        let without_comment: String = GOLDEN.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(bundle.to_yaml().unwrap(), without_comment);
    }

    #[test]
    fn legacy_contract_generates_aescbc_and_ecdsa_service_account_key() {
        let bundle = SecretsBundle::generate(Contract::new(1, 2)).unwrap();
        assert!(bundle.secrets.secretboxencryptionsecret.is_none());
        assert_eq!(bundle.secrets.aescbcencryptionsecret.as_ref().unwrap().len(), 44);
        assert!(
            bundle
                .certs
                .k8sserviceaccount
                .key
                .0
                .starts_with("-----BEGIN EC PRIVATE KEY-----\n")
        );
        let reloaded = SecretsBundle::from_yaml(&bundle.to_yaml().unwrap()).unwrap();
        assert_eq!(reloaded, bundle);
    }

    #[test]
    fn cluster_id_encoding_follows_the_contract() {
        let key = pki::generate_private_key(KeyAlgorithm::EcdsaP256).unwrap();
        let options = || GenerateOptions {
            now: None,
            service_account_key: Some(key.clone()),
        };
        use base64::Engine as _;
        // 20 bundles: the chance that no ID holds a character that tells the encodings
        // apart (+ or / versus - or _) is about (1 - 2·0.03)^(43·20).
        let mut saw_url_safe = false;
        let mut saw_standard = false;
        for _ in 0..20 {
            let old = SecretsBundle::generate_with(Contract::V1_13, options())
                .unwrap()
                .cluster
                .id;
            assert_eq!(
                base64::engine::general_purpose::URL_SAFE.decode(&old).unwrap().len(),
                32
            );
            saw_url_safe |= old.contains(['-', '_']);
            assert!(!old.contains(['+', '/']), "{old}");
            let new = SecretsBundle::generate_with(Contract::V1_14, options())
                .unwrap()
                .cluster
                .id;
            assert_eq!(
                base64::engine::general_purpose::STANDARD.decode(&new).unwrap().len(),
                32
            );
            saw_standard |= new.contains(['+', '/']);
            assert!(!new.contains(['-', '_']), "{new}");
        }
        assert!(saw_url_safe && saw_standard);
    }

    #[test]
    fn parse_errors_never_quote_the_input() {
        let err = SecretsBundle::from_yaml("cluster: hunter2-secret-value\n").unwrap_err();
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(!cause.contains("hunter2"), "{cause}");
        assert!(cause.starts_with("input:1:"), "{cause}");
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let bundle = SecretsBundle::from_yaml(GOLDEN).unwrap();
        let debug = format!("{bundle:?}");
        for secret in [
            bundle.cluster.secret.as_str(),
            bundle.secrets.bootstraptoken.as_str(),
            bundle.secrets.secretboxencryptionsecret.as_deref().unwrap(),
            bundle.trustdinfo.token.as_str(),
            "PRIVATE KEY-----\n",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("secretboxencryptionsecret: Some(\"***\")"), "{debug}");
    }

    #[test]
    fn sops_files_are_recognised() {
        let text = "cluster:\n    id: ENC[AES256_GCM,data:abc]\nsops:\n    version: 3.9.0\n";
        let err = SecretsBundle::from_yaml(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input is encrypted with sops; decrypt it first (sops --decrypt)"
        );
    }

    #[test]
    fn empty_document_lists_every_top_level_problem() {
        let err = SecretsBundle::from_yaml("").unwrap_err();
        assert_eq!(
            err.problems(),
            [
                "cluster is required",
                "secrets is required",
                "trustdinfo is required",
                "certs is required"
            ]
        );
        assert_eq!(err.class(), Class::InvalidInput);
    }
}
