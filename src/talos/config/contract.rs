//! The Talos version contract: which Talos line a config is generated for
//! (`talosctl gen config --talos-version vX.Y`), and the generation rules it switches
//! (reference `talos.md` §0 predicate table).

use std::fmt;

/// A Talos `major.minor` line that config generation targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionContract {
    major: u32,
    minor: u32,
}

/// A `--talos-version` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Not a version.
    #[error("invalid Talos version {0:?}: expected vMAJOR.MINOR or vMAJOR.MINOR.PATCH, e.g. v1.11 or v1.11.3")]
    Syntax(String),
    /// A line talos-hcloud does not generate for.
    #[error("Talos {0} is not supported: talos-hcloud generates configs for Talos v1.10 to v1.13")]
    Unsupported(VersionContract),
}

impl crate::error::Classify for ContractError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }
}

impl VersionContract {
    /// Talos v1.10.
    pub const V1_10: VersionContract = VersionContract { major: 1, minor: 10 };
    /// Talos v1.11.
    pub const V1_11: VersionContract = VersionContract { major: 1, minor: 11 };
    /// Talos v1.12.
    pub const V1_12: VersionContract = VersionContract { major: 1, minor: 12 };
    /// Talos v1.13.
    pub const V1_13: VersionContract = VersionContract { major: 1, minor: 13 };
    /// The newest line supported, used when no version is given (talosctl's "current").
    pub const CURRENT: VersionContract = VersionContract::V1_13;
    /// Every supported line, oldest first.
    pub const SUPPORTED: [VersionContract; 4] = [
        VersionContract::V1_10,
        VersionContract::V1_11,
        VersionContract::V1_12,
        VersionContract::V1_13,
    ];

    /// Parses `v1.11`, `1.11`, `v1.11.3` or `v1.11.0-beta.1` (talosctl's rule: the leading
    /// `major.minor` decides) and checks it is supported.
    ///
    /// # Errors
    /// [`ContractError`] for text that is not a version or a line outside v1.10–v1.13.
    pub fn parse(text: &str) -> Result<Self, ContractError> {
        let syntax = || ContractError::Syntax(text.to_string());
        let trimmed = text.strip_prefix('v').unwrap_or(text);
        let (major, rest) = trimmed.split_once('.').ok_or_else(syntax)?;
        let minor_end = rest.find(['.', '-', '+']).unwrap_or(rest.len());
        let (minor, tail) = rest.split_at(minor_end);
        if let Some(patch) = tail.strip_prefix('.')
            && !patch.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(syntax());
        }
        let parse = |s: &str| -> Result<u32, ContractError> {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
                return Err(syntax());
            }
            s.parse().map_err(|_| syntax())
        };
        let contract = VersionContract {
            major: parse(major)?,
            minor: parse(minor)?,
        };
        if !VersionContract::SUPPORTED.contains(&contract) {
            return Err(ContractError::Unsupported(contract));
        }
        Ok(contract)
    }

    /// Returns true if and only if the target is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// v1.12+: hostname, registries and network settings move to typed documents
    /// (`HostnameConfig`, `RegistryMirrorConfig`); `features.rbac`/`stableHostname`/
    /// `apidCheckExtKeyUsage` are no longer written.
    pub fn multidoc_network_config(self) -> bool {
        self.at_least(1, 12)
    }

    /// v1.12+: the endpoint host is no longer added to `cluster.apiServer.certSANs`, and
    /// `disablePodSecurityPolicy` is no longer written.
    pub fn hide_legacy_api_server_fields(self) -> bool {
        self.at_least(1, 12)
    }

    /// v1.12+: `machine.install.grubUseUKICmdline: true` is written.
    pub fn grub_use_uki_cmdline_default(self) -> bool {
        self.at_least(1, 12)
    }

    /// v1.13+: KubeSpan is a `KubeSpanConfig` document and `machine.network: {}` is gone.
    pub fn kubespan_multidoc(self) -> bool {
        self.at_least(1, 13)
    }

    /// The default Kubernetes version of this line's newest Talos release
    /// (`DefaultKubernetesVersion` at v1.10.9, v1.11.6, v1.12.11, v1.13.9).
    pub fn default_kubernetes_version(self) -> &'static str {
        match self.minor {
            10 => "1.33.6",
            11 => "1.34.1",
            12 => "1.35.4",
            _ => "1.36.3",
        }
    }

    /// The newest Talos release of this line known to talos-hcloud (for default image tags
    /// when only `vX.Y` is given).
    pub fn newest_release(self) -> &'static str {
        match self.minor {
            10 => "v1.10.9",
            11 => "v1.11.6",
            12 => "v1.12.11",
            _ => "v1.13.9",
        }
    }
}

impl fmt::Display for VersionContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for VersionContract {
    type Err = ContractError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VersionContract::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_talosctl_version_forms() {
        for text in ["v1.11", "1.11", "v1.11.3", "v1.11.0-beta.1"] {
            assert_eq!(VersionContract::parse(text), Ok(VersionContract::V1_11), "{text}");
        }
        assert_eq!(
            VersionContract::parse("v1.13").map(|c| c.to_string()),
            Ok("v1.13".into())
        );
    }

    #[test]
    fn rejects_garbage_and_unsupported_lines() {
        for text in ["", "v1", "1.x", "v1.11x", "v1.11.", "latest"] {
            assert!(
                matches!(VersionContract::parse(text), Err(ContractError::Syntax(_))),
                "{text}"
            );
        }
        let err = VersionContract::parse("v1.9").expect_err("too old");
        assert_eq!(
            err.to_string(),
            "Talos v1.9 is not supported: talos-hcloud generates configs for Talos v1.10 to v1.13"
        );
        assert!(VersionContract::parse("v1.14").is_err());
    }

    #[test]
    fn predicates_switch_at_the_documented_lines() {
        assert!(!VersionContract::V1_11.multidoc_network_config());
        assert!(VersionContract::V1_12.multidoc_network_config());
        assert!(!VersionContract::V1_12.kubespan_multidoc());
        assert!(VersionContract::V1_13.kubespan_multidoc());
        assert!(VersionContract::V1_13 > VersionContract::V1_10);
    }
}
