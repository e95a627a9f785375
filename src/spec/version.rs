//! The versions cluster.yaml names: Kubernetes here, Talos in [`crate::talos::version`]
//! (re-exported, with the error both share).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::talos::version::parse_numbers;
pub use crate::talos::version::{TalosVersion, VersionError};

/// A Kubernetes release, `vX.Y.Z` (major 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    minor: u32,
    patch: u32,
}

impl KubernetesVersion {
    /// Parses a Kubernetes version.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let (major, minor, patch) = parse_numbers(s)?;
        if major != 1 {
            return Err(VersionError {
                reason: format!("Kubernetes major version {major} does not exist; expected 1"),
                suggestion: None,
            });
        }
        Ok(KubernetesVersion { minor, patch })
    }

    /// The minor version.
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// The version without the leading `v` (`1.34.1`), as image tags and Talos want it.
    pub fn bare(&self) -> String {
        format!("1.{}.{}", self.minor, self.patch)
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.bare())
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
    fn kubernetes_versions() {
        let v = KubernetesVersion::parse("v1.34.1").expect("valid");
        assert_eq!(v.bare(), "1.34.1");
        assert_eq!(v.to_string(), "v1.34.1");
        assert_eq!(v.minor(), 34);
        assert!(KubernetesVersion::parse("v2.0.0").is_err());
        assert_eq!(
            KubernetesVersion::parse("1.34.1")
                .expect_err("needs v")
                .suggestion
                .as_deref(),
            Some("v1.34.1")
        );
        for bad in ["v1.34", "v1.34.1-rc.0", "latest", ""] {
            assert!(KubernetesVersion::parse(bad).is_err(), "{bad}");
        }
    }
}
