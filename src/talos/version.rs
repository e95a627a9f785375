//! A Talos release version, `vX.Y.Z`, and its release line ([`Contract`]).
//!
//! One type for every place a Talos version appears: cluster.yaml's `talos.version`
//! ([`TalosVersion::parse`]: a release on a line talos-hcloud generates configs for) and the
//! version an emulated node reports ([`TalosVersion::parse_tag`]: any line, pre-releases
//! kept). What a line supports is decided by the one table in
//! [`contract::RELEASE_LINES`](super::contract::RELEASE_LINES). The `vX.Y.Z` syntax is shared
//! with Kubernetes versions ([`parse_numbers`]).
//!
//! Pure data: the emulator may import it as a shared wire-level type.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::contract::{Artifact, Contract, ReleaseLine};

/// Why a version was rejected, with the corrected spelling when there is an obvious one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct VersionError {
    /// What is wrong.
    pub reason: String,
    /// The likely intended spelling (`1.11.6` → `v1.11.6`).
    pub suggestion: Option<String>,
}

/// The numbers of a `vMAJOR.MINOR.PATCH` version (no suffix), or `None`.
fn numbers(body: &str) -> Option<(u32, u32, u32)> {
    let mut parts = body.split('.');
    let mut next = || {
        parts
            .next()
            .filter(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
    };
    let triple = (next()?, next()?, next()?);
    parts.next().is_none().then_some(triple)
}

/// The likely intended `vX.Y.Z` spelling of `text` (a missing or upper-case `v`).
fn suggestion(text: &str) -> Option<String> {
    numbers(text.trim_start_matches(['V', 'v'])).map(|(major, minor, patch)| format!("v{major}.{minor}.{patch}"))
}

/// Parses a release written `vMAJOR.MINOR.PATCH` (no pre-release), as cluster.yaml writes
/// Talos and Kubernetes versions.
///
/// # Errors
/// [`VersionError`] naming the expected form, with the corrected spelling when obvious.
pub fn parse_numbers(text: &str) -> Result<(u32, u32, u32), VersionError> {
    text.strip_prefix('v').and_then(numbers).ok_or_else(|| VersionError {
        reason: "it is not of the form `vX.Y.Z` (pre-releases are not supported)".into(),
        suggestion: suggestion(text),
    })
}

/// A Talos release, `vX.Y.Z`, possibly with a pre-release or build suffix (`v1.14.0-rc.1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TalosVersion {
    contract: Contract,
    patch: u32,
    /// The pre-release or build suffix as written, with its `-` or `+`; empty for a release.
    suffix: String,
}

impl TalosVersion {
    /// Parses cluster.yaml's form: a release `vX.Y.Z` (no pre-release) on a line
    /// talos-hcloud generates machine configs for.
    ///
    /// # Errors
    /// [`VersionError`] for another form (with the corrected spelling when obvious) or a line
    /// configs are not generated for (listing those that are).
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let (major, minor, patch) = parse_numbers(text)?;
        let contract = Contract::new(major, minor);
        if !contract.is_supported_for(Artifact::MachineConfig) {
            let supported = Artifact::MachineConfig
                .lines()
                .map(|line| line.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(VersionError {
                reason: format!("Talos {contract} is not supported; supported release lines: {supported}"),
                suggestion: None,
            });
        }
        Ok(TalosVersion {
            contract,
            patch,
            suffix: String::new(),
        })
    }

    /// Parses a release tag as a Talos node reports it: `vX.Y.Z` on any line, with an
    /// optional pre-release or build suffix (`v1.14.0-rc.1`), which is kept.
    ///
    /// # Errors
    /// [`VersionError`] for text that is not such a tag.
    pub fn parse_tag(text: &str) -> Result<Self, VersionError> {
        let body = text.strip_prefix('v').unwrap_or("");
        let end = body.find(['-', '+']).unwrap_or(body.len());
        let (core, suffix) = body.split_at(end);
        match numbers(core) {
            Some((major, minor, patch)) => Ok(TalosVersion {
                contract: Contract::new(major, minor),
                patch,
                suffix: suffix.to_string(),
            }),
            None => Err(VersionError {
                reason: format!("`{text}` is not a Talos version like v1.11.6"),
                suggestion: suggestion(text),
            }),
        }
    }

    /// The release line, whose contract selects the generation rules and node behaviour.
    pub fn contract(&self) -> Contract {
        self.contract
    }

    /// The release line as text, `v1.11`.
    pub fn release_line(&self) -> String {
        self.contract.to_string()
    }

    /// Returns true if and only if this version's line is `major.minor` or newer.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.contract.at_least(major, minor)
    }

    /// The Kubernetes version (`v1.34.0`) a node of this release runs when its config names
    /// none: `DefaultKubernetesVersion` of the line's first release, or of the nearest line
    /// talos-hcloud knows.
    pub fn default_kubernetes(&self) -> String {
        format!("v{}", ReleaseLine::nearest(self.contract).kubernetes_at_first)
    }
}

impl fmt::Display for TalosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}{}", self.contract, self.patch, self.suffix)
    }
}

impl FromStr for TalosVersion {
    type Err = VersionError;

    /// As [`TalosVersion::parse_tag`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TalosVersion::parse_tag(s)
    }
}

impl Serialize for TalosVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_yaml_versions() {
        let v = TalosVersion::parse("v1.11.6").expect("valid");
        assert_eq!(v.to_string(), "v1.11.6");
        assert_eq!(v.release_line(), "v1.11");
        assert_eq!(v.contract(), Contract::V1_11);
        assert!(TalosVersion::parse("v1.10.0").is_ok());
        assert!(TalosVersion::parse("v1.13.9").is_ok());
        let unsupported = TalosVersion::parse("v1.9.5").expect_err("too old");
        assert!(
            unsupported.reason.contains("v1.10, v1.11, v1.12, v1.13"),
            "{unsupported}"
        );
        let missing_v = TalosVersion::parse("1.11.6").expect_err("needs v");
        assert_eq!(missing_v.suggestion.as_deref(), Some("v1.11.6"));
        for bad in ["v1.11", "v1.11.6-beta.0", "v1.11.x", "latest", "v1..6", "v1.11.6.1", ""] {
            assert!(TalosVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_tags() {
        let v: TalosVersion = "v1.11.6".parse().expect("valid");
        assert!(v.at_least(1, 11) && v.at_least(1, 10) && !v.at_least(1, 12));
        assert_eq!(v.release_line(), "v1.11");
        assert_eq!(v.to_string(), "v1.11.6");
        let rc: TalosVersion = "v1.14.0-rc.1".parse().expect("valid");
        assert!(rc.at_least(1, 14));
        assert_eq!(rc.to_string(), "v1.14.0-rc.1");
        assert_eq!(
            TalosVersion::parse_tag("v1.9.0+dirty").map(|v| v.to_string()),
            Ok("v1.9.0+dirty".into())
        );
        for bad in ["1.11.6", "v1.11", "v1.x.0", "v1.2.3.4", "", "v-1.11.6"] {
            assert!(bad.parse::<TalosVersion>().is_err(), "{bad}");
        }
        assert_eq!(
            TalosVersion::parse_tag("1.11").expect_err("no v").to_string(),
            "`1.11` is not a Talos version like v1.11.6"
        );
    }

    #[test]
    fn default_kubernetes_follows_the_table_and_clamps() {
        let kubernetes = |text: &str| TalosVersion::parse_tag(text).expect("tag").default_kubernetes();
        assert_eq!(kubernetes("v1.9.0"), "v1.33.0");
        assert_eq!(kubernetes("v1.10.9"), "v1.33.0");
        assert_eq!(kubernetes("v1.11.6"), "v1.34.0");
        assert_eq!(kubernetes("v1.12.0"), "v1.35.0");
        assert_eq!(kubernetes("v1.13.9"), "v1.36.0");
        assert_eq!(kubernetes("v1.15.0"), kubernetes("v1.14.0-rc.1"));
    }
}
