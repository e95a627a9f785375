//! The Talos version contract: which Talos release line a secrets bundle or machine config
//! is generated for (`talosctl gen … --talos-version vX.Y`), the generation rules it
//! switches (reference `talos.md` §0 predicate table, §A), and [`RELEASE_LINES`], the one
//! table of the lines talos-hcloud knows and what it generates for each.
//!
//! Spec validation ([`TalosVersion::parse`](super::version::TalosVersion::parse)), config
//! generation ([`crate::talos::config`]), secrets bundles ([`crate::talos::secrets`]) and the
//! emulated nodes all read that table, through [`Contract::supported_for`] and
//! [`ReleaseLine::of`].

use std::fmt;
use std::str::FromStr;

/// A Talos `major.minor` release line.
///
/// Any 1.x can be represented (older lines drive the legacy branches of bundle generation);
/// what talos-hcloud generates for is listed in [`RELEASE_LINES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Contract {
    major: u32,
    minor: u32,
}

/// What is generated for a contract; [`RELEASE_LINES`] says for which lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// A secrets bundle (`talosctl gen secrets`).
    SecretsBundle,
    /// Machine configs (`talosctl gen config`); also what cluster.yaml's `talos.version`
    /// and the emulated nodes' config check require.
    MachineConfig,
}

impl Artifact {
    /// The lines this artifact is generated for, oldest first.
    pub fn lines(self) -> impl Iterator<Item = Contract> {
        RELEASE_LINES
            .iter()
            .filter(move |line| line.generates(self))
            .map(|line| line.contract)
    }

    /// The oldest line generated for.
    pub fn oldest(self) -> Contract {
        self.lines()
            .next()
            .expect("invariant: RELEASE_LINES generates every artifact for some line")
    }

    /// The newest line generated for.
    pub fn newest(self) -> Contract {
        self.lines()
            .last()
            .expect("invariant: RELEASE_LINES generates every artifact for some line")
    }

    /// Plural noun for messages.
    fn noun(self) -> &'static str {
        match self {
            Artifact::SecretsBundle => "secrets bundles",
            Artifact::MachineConfig => "configs",
        }
    }
}

/// What talos-hcloud generates for a release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Secrets bundles only. Machine configs are not generated: v1.14 moves almost every
    /// setting into typed documents, which the generator, patcher and validator do not know
    /// yet. A bundle is still useful (`talosctl gen config --with-secrets`), and its format
    /// for the line is implemented and tested (standard base64 cluster ID).
    SecretsBundles,
    /// Secrets bundles and machine configs, checked against the golden configs and schemas
    /// in `reference/` (`talos-golden/`, `talos-schema/`).
    SecretsBundlesAndConfigs,
}

/// One Talos release line and what talos-hcloud knows of it (reference `talos.md` §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseLine {
    /// The line.
    pub contract: Contract,
    /// What is generated for it.
    pub support: Support,
    /// Its newest release read (default installer tag when only `vX.Y` is given).
    pub newest_release: &'static str,
    /// `DefaultKubernetesVersion` of its first release (`1.34.0`): what a node runs when its
    /// config names none.
    pub kubernetes_at_first: &'static str,
    /// `DefaultKubernetesVersion` of its newest release (`1.34.1`): what generated configs
    /// use when no Kubernetes version is given.
    pub kubernetes_at_newest: &'static str,
}

/// Every Talos release line talos-hcloud knows, oldest first: the one table of supported
/// lines (reference `talos.md` §0; v1.14 as read at v1.14.0-rc.1, the only v1.14 tag of the reference snapshot).
#[rustfmt::skip]
pub const RELEASE_LINES: &[ReleaseLine] = &[
    //   line             support                            newest          Kube .0        Kube newest
    line(Contract::V1_10, Support::SecretsBundlesAndConfigs, "v1.10.9",      "1.33.0",      "1.33.6"),
    line(Contract::V1_11, Support::SecretsBundlesAndConfigs, "v1.11.6",      "1.34.0",      "1.34.1"),
    line(Contract::V1_12, Support::SecretsBundlesAndConfigs, "v1.12.11",     "1.35.0",      "1.35.4"),
    line(Contract::V1_13, Support::SecretsBundlesAndConfigs, "v1.13.9",      "1.36.0",      "1.36.3"),
    line(Contract::V1_14, Support::SecretsBundles,           "v1.14.0-rc.1", "1.37.0-rc.0", "1.37.0-rc.0"),
];

const fn line(
    contract: Contract,
    support: Support,
    newest_release: &'static str,
    kubernetes_at_first: &'static str,
    kubernetes_at_newest: &'static str,
) -> ReleaseLine {
    ReleaseLine {
        contract,
        support,
        newest_release,
        kubernetes_at_first,
        kubernetes_at_newest,
    }
}

impl ReleaseLine {
    /// The table row of `contract`, if talos-hcloud knows the line.
    pub fn of(contract: Contract) -> Option<&'static ReleaseLine> {
        RELEASE_LINES.iter().find(|line| line.contract == contract)
    }

    /// The row of `contract`, else of the oldest line for older lines and of the newest
    /// for newer ones: what an emulated node of an unknown line behaves like.
    pub fn nearest(contract: Contract) -> &'static ReleaseLine {
        let oldest = RELEASE_LINES.first().expect("invariant: RELEASE_LINES is not empty");
        let newest = RELEASE_LINES.last().expect("invariant: RELEASE_LINES is not empty");
        ReleaseLine::of(contract).unwrap_or(if contract < oldest.contract { oldest } else { newest })
    }

    /// Returns true if and only if `artifact` is generated for this line.
    pub fn generates(&self, artifact: Artifact) -> bool {
        match (self.support, artifact) {
            (Support::SecretsBundlesAndConfigs, _) => true,
            (Support::SecretsBundles, Artifact::SecretsBundle) => true,
            (Support::SecretsBundles, Artifact::MachineConfig) => false,
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
            ContractError::Unsupported { contract, artifact } => {
                let mut hints = vec!["pass the Talos version the cluster runs, e.g. --talos-version v1.11".to_string()];
                let other = match artifact {
                    Artifact::SecretsBundle => Artifact::MachineConfig,
                    Artifact::MachineConfig => Artifact::SecretsBundle,
                };
                if contract.is_supported_for(other) {
                    hints.push(format!(
                        "talos-hcloud generates {} for Talos {contract}, but not {} yet",
                        other.noun(),
                        artifact.noun()
                    ));
                }
                hints
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
        ReleaseLine::of(self).is_some_and(|line| line.generates(artifact))
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

    /// The default Kubernetes version of this line's newest Talos release (`1.34.1`);
    /// `None` for lines machine configs are not generated for.
    pub fn default_kubernetes_version(self) -> Option<&'static str> {
        self.config_line().map(|line| line.kubernetes_at_newest)
    }

    /// The newest Talos release of this line known to talos-hcloud (for default image tags
    /// when only `vX.Y` is given); `None` for lines machine configs are not generated for.
    pub fn newest_release(self) -> Option<&'static str> {
        self.config_line().map(|line| line.newest_release)
    }

    /// The table row of this line, if machine configs are generated for it.
    fn config_line(self) -> Option<&'static ReleaseLine> {
        ReleaseLine::of(self).filter(|line| line.generates(Artifact::MachineConfig))
    }
}

/// Declares the behaviour switches of [`Contract`]: each is on from its Talos line
/// (`major`, `minor`) on, so the table reads as "what changed when".
macro_rules! changes_since {
    ($($(#[$doc:meta])* $name:ident => ($major:literal, $minor:literal),)*) => {
        impl Contract {
            $(
                $(#[$doc])*
                pub fn $name(self) -> bool {
                    self.at_least($major, $minor)
                }
            )*
        }
    };
}

changes_since! {
    /// Secrets: secretbox encryption secret (≥ 1.3) instead of AES-CBC.
    secretbox_encryption => (1, 3),
    /// Secrets: RSA-4096 service-account key (≥ 1.7) instead of ECDSA P-256.
    rsa_service_account_key => (1, 7),
    /// Secrets: random CA subject key identifiers (≥ 1.11) instead of SHA-1 of the key.
    random_ca_key_ids => (1, 11),
    /// Secrets: standard base64 cluster ID (≥ 1.14) instead of URL-safe base64.
    standard_base64_cluster_id => (1, 14),
    /// Configs, v1.12+: hostname, registries and network settings move to typed documents
    /// (`HostnameConfig`, `RegistryMirrorConfig`); `features.rbac`/`stableHostname`/
    /// `apidCheckExtKeyUsage` are no longer written.
    multidoc_network_config => (1, 12),
    /// Configs, v1.12+: the endpoint host is no longer added to
    /// `cluster.apiServer.certSANs`, and `disablePodSecurityPolicy` is no longer written.
    hide_legacy_api_server_fields => (1, 12),
    /// Configs, v1.12+: `machine.install.grubUseUKICmdline: true` is written.
    grub_use_uki_cmdline_default => (1, 12),
    /// Configs, v1.13+: KubeSpan is a `KubeSpanConfig` document and `machine.network: {}`
    /// is gone.
    kubespan_multidoc => (1, 13),
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
        let config_lines: Vec<Contract> = Artifact::MachineConfig.lines().collect();
        assert_eq!(
            config_lines,
            [Contract::V1_10, Contract::V1_11, Contract::V1_12, Contract::V1_13]
        );
        for contract in config_lines {
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
    fn the_table_is_ordered_and_each_artifact_has_one_range() {
        let lines: Vec<Contract> = RELEASE_LINES.iter().map(|line| line.contract).collect();
        assert!(lines.windows(2).all(|pair| pair[0] < pair[1]), "{lines:?}");
        for artifact in [Artifact::SecretsBundle, Artifact::MachineConfig] {
            // Messages say "v1.10 to v1.13": the lines in between must all be generated for.
            let (oldest, newest) = (artifact.oldest(), artifact.newest());
            let generated: Vec<Contract> = artifact.lines().collect();
            let in_range: Vec<Contract> = lines
                .iter()
                .copied()
                .filter(|c| (oldest..=newest).contains(c))
                .collect();
            assert_eq!(generated, in_range, "{artifact:?}");
        }
        // Configs need a bundle: every config line has one.
        for contract in Artifact::MachineConfig.lines() {
            assert!(contract.is_supported_for(Artifact::SecretsBundle), "{contract}");
        }
        assert_eq!(Contract::CURRENT, Artifact::MachineConfig.newest());
        for line in RELEASE_LINES {
            let release = crate::talos::version::TalosVersion::parse_tag(line.newest_release).expect("a tag");
            assert_eq!(release.contract(), line.contract, "{}", line.newest_release);
        }
    }

    #[test]
    fn cluster_yaml_and_config_generation_accept_the_same_lines() {
        use crate::talos::version::TalosVersion;
        for minor in 0..=20 {
            let contract = Contract::new(1, minor);
            let spec = TalosVersion::parse(&format!("v1.{minor}.0"));
            let config = contract.supported_for(Artifact::MachineConfig);
            assert_eq!(spec.is_ok(), config.is_ok(), "{contract}");
            if let (Err(spec), Err(config)) = (spec, config) {
                assert_eq!(
                    spec.reason,
                    format!("Talos {contract} is not supported; supported release lines: v1.10, v1.11, v1.12, v1.13")
                );
                assert_eq!(
                    config.to_string(),
                    format!(
                        "Talos {contract} is not supported: talos-hcloud generates configs for Talos v1.10 to v1.13"
                    )
                );
            }
        }
    }

    #[test]
    fn refusing_configs_for_a_secrets_only_line_says_so() {
        use crate::error::Classify;
        let refused = Contract::V1_14
            .supported_for(Artifact::MachineConfig)
            .expect_err("no configs");
        assert_eq!(
            refused.hints(),
            [
                "pass the Talos version the cluster runs, e.g. --talos-version v1.11",
                "talos-hcloud generates secrets bundles for Talos v1.14, but not configs yet"
            ]
        );
        let too_old = Contract::new(1, 9)
            .supported_for(Artifact::MachineConfig)
            .expect_err("too old");
        assert_eq!(too_old.hints().len(), 1);
        let too_new = Contract::new(1, 15)
            .supported_for(Artifact::SecretsBundle)
            .expect_err("too new");
        assert_eq!(too_new.hints().len(), 1);
    }

    #[test]
    fn nearest_line_clamps_to_the_table() {
        assert_eq!(ReleaseLine::nearest(Contract::new(1, 2)).contract, Contract::V1_10);
        assert_eq!(ReleaseLine::nearest(Contract::V1_12).contract, Contract::V1_12);
        assert_eq!(ReleaseLine::nearest(Contract::new(1, 15)).contract, Contract::V1_14);
        assert_eq!(ReleaseLine::of(Contract::new(1, 15)), None);
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
