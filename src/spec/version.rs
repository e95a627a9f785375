//! Release versions written as `vX.Y.Z`: Talos (limited to the supported release lines)
//! and Kubernetes.

use std::fmt;

use serde::{Serialize, Serializer};

use super::catalog::TALOS_MINORS;

/// Why a version was rejected, with the corrected spelling when there is an obvious one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct VersionError {
    /// What is wrong.
    pub reason: String,
    /// The likely intended spelling (`1.11.6` → `v1.11.6`).
    pub suggestion: Option<String>,
}

/// A `vMAJOR.MINOR.PATCH` triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Triple {
    major: u32,
    minor: u32,
    patch: u32,
}

fn parse_triple(s: &str) -> Result<Triple, VersionError> {
    let numbers = |body: &str| -> Option<Triple> {
        let mut parts = body.split('.');
        let mut next = || {
            parts
                .next()
                .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && p.len() <= 9)
                .and_then(|p| p.parse::<u32>().ok())
        };
        let triple = Triple {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        parts.next().is_none().then_some(triple)
    };
    if let Some(body) = s.strip_prefix('v')
        && let Some(triple) = numbers(body)
    {
        return Ok(triple);
    }
    let suggestion = numbers(s.trim_start_matches(['V', 'v'])).map(|t| format!("v{}.{}.{}", t.major, t.minor, t.patch));
    Err(VersionError {
        reason: "it is not of the form `vX.Y.Z` (pre-releases are not supported)".into(),
        suggestion,
    })
}

/// A Talos release, `vX.Y.Z`, on a supported release line (see
/// [`catalog::TALOS_MINORS`](super::catalog::TALOS_MINORS)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TalosVersion(Triple);

impl TalosVersion {
    /// Parses and checks a Talos version.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let triple = parse_triple(s)?;
        if !TALOS_MINORS.contains(&(triple.major, triple.minor)) {
            let supported = TALOS_MINORS
                .iter()
                .map(|(major, minor)| format!("v{major}.{minor}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(VersionError {
                reason: format!(
                    "Talos v{}.{} is not supported; supported release lines: {supported}",
                    triple.major, triple.minor
                ),
                suggestion: None,
            });
        }
        Ok(TalosVersion(triple))
    }

    /// The major version.
    pub fn major(&self) -> u32 {
        self.0.major
    }

    /// The minor version (selects the machine-config contract).
    pub fn minor(&self) -> u32 {
        self.0.minor
    }

    /// The patch version.
    pub fn patch(&self) -> u32 {
        self.0.patch
    }

    /// The release line, `v1.11`.
    pub fn release_line(&self) -> String {
        format!("v{}.{}", self.0.major, self.0.minor)
    }
}

impl fmt::Display for TalosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.0.major, self.0.minor, self.0.patch)
    }
}

impl Serialize for TalosVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A Kubernetes release, `vX.Y.Z` (major 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion(Triple);

impl KubernetesVersion {
    /// Parses a Kubernetes version.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let triple = parse_triple(s)?;
        if triple.major != 1 {
            return Err(VersionError {
                reason: format!("Kubernetes major version {} does not exist; expected 1", triple.major),
                suggestion: None,
            });
        }
        Ok(KubernetesVersion(triple))
    }

    /// The minor version.
    pub fn minor(&self) -> u32 {
        self.0.minor
    }

    /// The version without the leading `v` (`1.34.1`), as image tags and Talos want it.
    pub fn bare(&self) -> String {
        format!("{}.{}.{}", self.0.major, self.0.minor, self.0.patch)
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.0.major, self.0.minor, self.0.patch)
    }
}

impl Serialize for KubernetesVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talos_versions() {
        let v = TalosVersion::parse("v1.11.6").expect("valid");
        assert_eq!((v.major(), v.minor(), v.patch()), (1, 11, 6));
        assert_eq!(v.to_string(), "v1.11.6");
        assert_eq!(v.release_line(), "v1.11");
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
    fn kubernetes_versions() {
        let v = KubernetesVersion::parse("v1.34.1").expect("valid");
        assert_eq!(v.bare(), "1.34.1");
        assert_eq!(v.minor(), 34);
        assert!(KubernetesVersion::parse("v2.0.0").is_err());
        assert_eq!(
            KubernetesVersion::parse("1.34.1")
                .expect_err("needs v")
                .suggestion
                .as_deref(),
            Some("v1.34.1")
        );
    }
}
