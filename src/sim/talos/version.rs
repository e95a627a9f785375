//! The Talos version an emulated node runs, which decides version-dependent behaviour
//! (maintenance API shape, RBAC defaults, apply modes; reference `talos.md` §F.7).

use std::fmt;
use std::str::FromStr;

/// A Talos release, `vMAJOR.MINOR.PATCH` (a pre-release suffix is kept in the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalosVersion {
    major: u32,
    minor: u32,
    patch: u32,
    text: String,
}

/// A version string that is not `vMAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a Talos version like v1.11.6")]
pub struct BadVersion(pub String);

impl TalosVersion {
    /// Returns true if and only if this version is `major.minor` or newer.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// `major.minor` as in `v1.11`.
    pub fn contract(&self) -> String {
        format!("v{}.{}", self.major, self.minor)
    }

    /// The Kubernetes version a node of this release defaults to (`DefaultKubernetesVersion`
    /// at the .0 release, reference `talos.md` §0).
    pub fn default_kubernetes(&self) -> &'static str {
        match (self.major, self.minor) {
            (1, ..=10) => "v1.33.0",
            (1, 11) => "v1.34.0",
            (1, 12) => "v1.35.0",
            (1, 13) => "v1.36.0",
            _ => "v1.37.0",
        }
    }
}

impl FromStr for TalosVersion {
    type Err = BadVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion(s.to_string());
        let body = s.strip_prefix('v').ok_or_else(bad)?;
        let core = body.split(['-', '+']).next().ok_or_else(bad)?;
        let mut parts = core.split('.');
        let mut next = || -> Result<u32, BadVersion> { parts.next().ok_or_else(bad)?.parse().map_err(|_| bad()) };
        let (major, minor, patch) = (next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(TalosVersion {
            major,
            minor,
            patch,
            text: s.to_string(),
        })
    }
}

impl fmt::Display for TalosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares() {
        let v: TalosVersion = "v1.11.6".parse().expect("valid");
        assert!(v.at_least(1, 11) && v.at_least(1, 10) && !v.at_least(1, 12));
        assert_eq!(v.contract(), "v1.11");
        assert_eq!(v.to_string(), "v1.11.6");
        let rc: TalosVersion = "v1.14.0-rc.1".parse().expect("valid");
        assert!(rc.at_least(1, 14));
        for bad in ["1.11.6", "v1.11", "v1.x.0", "v1.2.3.4", ""] {
            assert!(bad.parse::<TalosVersion>().is_err(), "{bad}");
        }
    }
}
