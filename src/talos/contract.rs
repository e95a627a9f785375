//! The Talos version contract: which Talos release line a secrets bundle or machine config
//! is generated for (`talosctl gen … --talos-version vX.Y`), and the generation rules it
//! switches (reference `talos.md` §0 predicate table, §A).
//!
//! One type serves the secrets bundle ([`crate::talos::secrets`]) and machine-config
//! generation ([`crate::talos::config`]); each checks the lines it supports with
//! [`Contract::supported_for`], because talos-hcloud makes bundles for more lines (v1.10 to
//! v1.14) than configs (v1.10 to v1.13).

use std::fmt;
use std::str::FromStr;

/// A Talos `major.minor` release line.
///
/// Any 1.x can be represented (older lines drive the legacy branches of bundle generation);
/// what talos-hcloud generates for is [`Artifact::oldest`] to [`Artifact::newest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Contract {
    major: u32,
    minor: u32,
}

/// What is generated for a contract; each has its own range of supported lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// A secrets bundle (`talosctl gen secrets`): v1.10 to v1.14.
    SecretsBundle,
    /// Machine configs (`talosctl gen config`): v1.10 to v1.13 (v1.14 moves almost
    /// everything into typed documents, which is not generated yet).
    MachineConfig,
}

impl Artifact {
    /// The oldest line generated for.
    pub fn oldest(self) -> Contract {
        Contract::V1_10
    }

    /// The newest line generated for.
    pub fn newest(self) -> Contract {
        match self {
            Artifact::SecretsBundle => Contract::V1_14,
            Artifact::MachineConfig => Contract::V1_13,
        }
    }

    /// Plural noun for messages.
    fn noun(self) -> &'static str {
        match self {
            Artifact::SecretsBundle => "secrets bundles",
            Artifact::MachineConfig => "configs",
        }
    }
}

/// A Talos version that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Not a version.
    #[error("invalid Talos version {0:?}: expected vMAJOR.MINOR or vMAJOR.MINOR.PATCH, e.g. v1.11 or v1.11.3")]
    Syntax(String),
    /// A line talos-hcloud does not generate this artifact for.
    #[error(
        "Talos {contract} is not supported: talos-hcloud generates {} for Talos {} to {}",
        artifact.noun(),
        artifact.oldest(),
        artifact.newest()
    )]
    Unsupported {
        /// The line asked for.
        contract: Contract,
        /// What was to be generated.
        artifact: Artifact,
    },
}

impl crate::error::Classify for ContractError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }

    fn hints(&self) -> Vec<String> {
        match self {
            ContractError::Syntax(_) => Vec::new(),
            ContractError::Unsupported { .. } => {
                vec!["pass the Talos version the cluster runs, e.g. --talos-version v1.11".into()]
            }
        }
    }
}

impl Contract {
    /// Talos v1.10.
    pub const V1_10: Contract = Contract::new(1, 10);
    /// Talos v1.11.
    pub const V1_11: Contract = Contract::new(1, 11);
    /// Talos v1.12.
    pub const V1_12: Contract = Contract::new(1, 12);
    /// Talos v1.13.
    pub const V1_13: Contract = Contract::new(1, 13);
    /// Talos v1.14.
    pub const V1_14: Contract = Contract::new(1, 14);
    /// Used when no version is given (talosctl's "current"): the newest stable line this
    /// build knows (v1.14 was a release candidate when it was written).
    pub const CURRENT: Contract = Contract::V1_13;
    /// Every line machine configs are generated for, oldest first.
    pub const CONFIG_LINES: [Contract; 4] = [Contract::V1_10, Contract::V1_11, Contract::V1_12, Contract::V1_13];

    /// The contract `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Contract {
        Contract { major, minor }
    }

    /// Parses `v1.11`, `1.11`, `v1.11.3` or `v1.14.0-rc.1` (talosctl's rule: only the
    /// leading `major.minor` matters). Any 1.x is accepted; see [`Contract::supported_for`].
    ///
    /// # Errors
    /// [`ContractError::Syntax`] for text that is not a version.
    pub fn parse(text: &str) -> Result<Contract, ContractError> {
        let error = || ContractError::Syntax(text.to_string());
        let trimmed = text.trim();
        let version = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let core = version.split(['-', '+']).next().unwrap_or("");
        let mut parts = core.split('.');
        let number = |part: Option<&str>| -> Result<u32, ContractError> {
            let part = part.ok_or_else(error)?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error());
            }
            part.parse().map_err(|_| error())
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        if let Some(patch) = parts.next() {
            number(Some(patch))?;
        }
        if parts.next().is_some() {
            return Err(error());
        }
        Ok(Contract::new(major, minor))
    }

    /// Parses a version and checks that `artifact` is generated for its line.
    ///
    /// # Errors
    /// As [`Contract::parse`] and [`Contract::supported_for`].
    pub fn parse_for(text: &str, artifact: Artifact) -> Result<Contract, ContractError> {
        Contract::parse(text)?.supported_for(artifact)
    }

    /// Returns true if and only if talos-hcloud generates `artifact` for this line.
    pub fn is_supported_for(self, artifact: Artifact) -> bool {
        (artifact.oldest()..=artifact.newest()).contains(&self)
    }

    /// This contract, if talos-hcloud generates `artifact` for it.
    ///
    /// # Errors
    /// [`ContractError::Unsupported`] otherwise.
    pub fn supported_for(self, artifact: Artifact) -> Result<Contract, ContractError> {
        if self.is_supported_for(artifact) {
            Ok(self)
        } else {
            Err(ContractError::Unsupported {
                contract: self,
                artifact,
            })
        }
    }

    /// Returns true if and only if the target is `major.minor` or newer.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Contract::new(major, minor)
    }

    /// Secrets: secretbox encryption secret (≥ 1.3) instead of AES-CBC.
    pub fn secretbox_encryption(self) -> bool {
        self.at_least(1, 3)
    }

    /// Secrets: RSA-4096 service-account key (≥ 1.7) instead of ECDSA P-256.
    pub fn rsa_service_account_key(self) -> bool {
        self.at_least(1, 7)
    }

    /// Secrets: random CA subject key identifiers (≥ 1.11) instead of SHA-1 of the key.
    pub fn random_ca_key_ids(self) -> bool {
        self.at_least(1, 11)
    }

    /// Secrets: standard base64 cluster ID (≥ 1.14) instead of URL-safe base64.
    pub fn standard_base64_cluster_id(self) -> bool {
        self.at_least(1, 14)
    }

    /// Configs, v1.12+: hostname, registries and network settings move to typed documents
    /// (`HostnameConfig`, `RegistryMirrorConfig`); `features.rbac`/`stableHostname`/
    /// `apidCheckExtKeyUsage` are no longer written.
    pub fn multidoc_network_config(self) -> bool {
        self.at_least(1, 12)
    }

    /// Configs, v1.12+: the endpoint host is no longer added to
    /// `cluster.apiServer.certSANs`, and `disablePodSecurityPolicy` is no longer written.
    pub fn hide_legacy_api_server_fields(self) -> bool {
        self.at_least(1, 12)
    }

    /// Configs, v1.12+: `machine.install.grubUseUKICmdline: true` is written.
    pub fn grub_use_uki_cmdline_default(self) -> bool {
        self.at_least(1, 12)
    }

    /// Configs, v1.13+: KubeSpan is a `KubeSpanConfig` document and `machine.network: {}`
    /// is gone.
    pub fn kubespan_multidoc(self) -> bool {
        self.at_least(1, 13)
    }

    /// The default Kubernetes version of this line's newest Talos release
    /// (`DefaultKubernetesVersion` at v1.10.9, v1.11.6, v1.12.11, v1.13.9); `None` for lines
    /// machine configs are not generated for.
    pub fn default_kubernetes_version(self) -> Option<&'static str> {
        match (self.major, self.minor) {
            (1, 10) => Some("1.33.6"),
            (1, 11) => Some("1.34.1"),
            (1, 12) => Some("1.35.4"),
            (1, 13) => Some("1.36.3"),
            _ => None,
        }
    }

    /// The newest Talos release of this line known to talos-hcloud (for default image tags
    /// when only `vX.Y` is given); `None` for lines machine configs are not generated for.
    pub fn newest_release(self) -> Option<&'static str> {
        match (self.major, self.minor) {
            (1, 10) => Some("v1.10.9"),
            (1, 11) => Some("v1.11.6"),
            (1, 12) => Some("v1.12.11"),
            (1, 13) => Some("v1.13.9"),
            _ => None,
        }
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

impl FromStr for Contract {
    type Err = ContractError;

    /// As [`Contract::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Contract::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_talosctl_version_forms() {
        for text in ["v1.11", "1.11", "v1.11.3", "v1.11.0-beta.1", " v1.11.1 "] {
            assert_eq!(Contract::parse(text), Ok(Contract::V1_11), "{text}");
        }
        assert_eq!("v1.14.0-rc.1".parse::<Contract>(), Ok(Contract::V1_14));
        assert_eq!(Contract::parse("v1.13").map(|c| c.to_string()), Ok("v1.13".into()));
        assert_eq!(Contract::parse("v1.2"), Ok(Contract::new(1, 2)));
    }

    #[test]
    fn rejects_text_that_is_no_version() {
        for text in [
            "", "v1", "1.x", "v1.11x", "v1.11.", "latest", "1.11.1.1", "v1..2", "v1.11.x",
        ] {
            assert!(matches!(Contract::parse(text), Err(ContractError::Syntax(_))), "{text}");
        }
        assert_eq!(
            Contract::parse("v2").expect_err("no minor").to_string(),
            "invalid Talos version \"v2\": expected vMAJOR.MINOR or vMAJOR.MINOR.PATCH, e.g. v1.11 or v1.11.3"
        );
    }

    #[test]
    fn support_differs_by_artifact() {
        assert!(Contract::V1_14.is_supported_for(Artifact::SecretsBundle));
        assert!(!Contract::V1_14.is_supported_for(Artifact::MachineConfig));
        for contract in Contract::CONFIG_LINES {
            assert!(contract.is_supported_for(Artifact::MachineConfig), "{contract}");
            assert!(contract.is_supported_for(Artifact::SecretsBundle), "{contract}");
            assert!(contract.default_kubernetes_version().is_some(), "{contract}");
            assert!(contract.newest_release().is_some(), "{contract}");
        }
        assert_eq!(
            Contract::parse_for("v1.9", Artifact::MachineConfig)
                .expect_err("too old")
                .to_string(),
            "Talos v1.9 is not supported: talos-hcloud generates configs for Talos v1.10 to v1.13"
        );
        assert_eq!(
            Contract::parse_for("v1.15", Artifact::SecretsBundle)
                .expect_err("too new")
                .to_string(),
            "Talos v1.15 is not supported: talos-hcloud generates secrets bundles for Talos v1.10 to v1.14"
        );
        assert_eq!(Contract::V1_14.default_kubernetes_version(), None);
    }

    #[test]
    fn predicates_switch_at_the_documented_lines() {
        assert!(!Contract::V1_11.multidoc_network_config());
        assert!(Contract::V1_12.multidoc_network_config());
        assert!(!Contract::V1_12.kubespan_multidoc());
        assert!(Contract::V1_13.kubespan_multidoc());
        assert!(!Contract::V1_10.random_ca_key_ids() && Contract::V1_11.random_ca_key_ids());
        assert!(!Contract::V1_13.standard_base64_cluster_id() && Contract::V1_14.standard_base64_cluster_id());
        assert!(!Contract::new(1, 2).secretbox_encryption() && Contract::new(1, 3).secretbox_encryption());
        assert!(!Contract::new(1, 6).rsa_service_account_key() && Contract::new(1, 7).rsa_service_account_key());
        assert!(Contract::V1_13 > Contract::V1_10);
    }
}
