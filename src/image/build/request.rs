//! What to build: schematic, Talos version, architectures, where builders may run, how
//! the image reaches the disk; from cluster.yaml or from flags.

use crate::factory::{Compression, Schematic, SchematicId};
use crate::spec::{Architecture, Spec, TalosVersion};

use super::error::Error;

/// Locations tried in order when no location is given (all EU, where CAX is sold).
pub const DEFAULT_LOCATIONS: &[&str] = &["fsn1", "nbg1", "hel1"];

/// Builder server types tried in order for `arch` when none is given: the smallest of the
/// architecture first (the builder only writes a disk), one size up as fallback.
pub fn default_server_types(arch: Architecture) -> &'static [&'static str] {
    match arch {
        Architecture::Arm64 => &["cax11", "cax21"],
        Architecture::Amd64 => &["cx23", "cx33"],
    }
}

/// How the image reaches the builder's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The rescue system downloads straight from the factory (fast, the usual case).
    #[default]
    Remote,
    /// talos-hcloud downloads and streams the compressed image through SSH (air-gapped
    /// or self-hosted factories the builder cannot reach).
    Local,
}

impl Via {
    /// The flag's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Remote => "remote",
            Via::Local => "local",
        }
    }
}

impl std::str::FromStr for Via {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "remote" => Ok(Via::Remote),
            "local" => Ok(Via::Local),
            _ => Err(format!("`{s}` is not a write mode (expected remote or local)")),
        }
    }
}

/// One place a builder can be created: a location and a server type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    /// Location name (`fsn1`).
    pub location: String,
    /// Server type name (`cax11`).
    pub server_type: String,
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in {}", self.server_type, self.location)
    }
}

/// A checked request for snapshots of one schematic and Talos version.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The schematic (already parsed strictly).
    pub schematic: Schematic,
    /// Its ID, computed offline.
    pub schematic_id: SchematicId,
    /// The Talos release.
    pub version: TalosVersion,
    /// Architectures to build, each once.
    pub architectures: Vec<Architecture>,
    /// Locations to try, in order (capacity errors fall through to the next).
    pub locations: Vec<String>,
    /// Server types to try, in order; each serves its own architecture. Empty: the
    /// [`default_server_types`].
    pub server_types: Vec<String>,
    /// How the image reaches the disk.
    pub via: Via,
    /// Build even when a snapshot exists; the old one is deleted after the new one is
    /// verified.
    pub force: bool,
    /// The image compression to download.
    pub compression: Compression,
    /// The cluster whose label the temporary resources carry, if built for one.
    pub cluster: Option<String>,
    /// Prefix of the temporary resources' names.
    pub prefix: String,
}

impl BuildRequest {
    /// A request with the defaults: every location of [`DEFAULT_LOCATIONS`], default
    /// server types, remote writes, zstd, no cluster.
    ///
    /// # Errors
    /// [`Error::Input`] when the schematic's ID cannot be computed or no architecture is given.
    pub fn new(
        schematic: Schematic,
        version: TalosVersion,
        architectures: &[Architecture],
    ) -> Result<BuildRequest, Error> {
        let schematic_id = schematic.id().map_err(|e| Error::Input {
            field: "schematic".into(),
            reason: crate::error::chain(&e).join(": "),
        })?;
        let mut archs: Vec<Architecture> = architectures.to_vec();
        archs.sort_by_key(|a| a.as_str());
        archs.dedup();
        if archs.is_empty() {
            return Err(Error::Input {
                field: "arch".into(),
                reason: "no architecture to build (expected amd64, arm64 or both)".into(),
            });
        }
        Ok(BuildRequest {
            schematic,
            schematic_id,
            version,
            architectures: archs,
            locations: DEFAULT_LOCATIONS.iter().map(ToString::to_string).collect(),
            server_types: Vec::new(),
            via: Via::Remote,
            force: false,
            compression: Compression::Zstd,
            cluster: None,
            prefix: "talos-hcloud-".into(),
        })
    }

    /// The request cluster.yaml describes: its schematic, version and architectures, with
    /// [`BuildRequest::for_cluster`].
    ///
    /// # Errors
    /// As [`BuildRequest::new`].
    pub fn from_spec(spec: &Spec) -> Result<BuildRequest, Error> {
        Ok(BuildRequest::new(
            spec.talos.schematic.parsed.clone(),
            spec.talos.version.clone(),
            spec.architectures(),
        )?
        .for_cluster(spec))
    }

    /// This request built for the cluster of `spec`: its location tried first, then the
    /// other locations; its name on the temporary resources; its name prefix.
    #[must_use]
    pub fn for_cluster(mut self, spec: &Spec) -> BuildRequest {
        let first = spec.location.name().to_string();
        self.locations.retain(|l| *l != first);
        self.locations.insert(0, first);
        self.cluster = Some(spec.name.as_str().to_string());
        self.prefix = spec.prefix.as_str().to_string();
        self
    }

    /// Where a builder for `arch` may be created, in the order to try: for each location,
    /// each server type of that architecture. `arch_of` tells a type's architecture
    /// (unknown types are kept for every architecture and refused later by the API check).
    pub fn placements(&self, arch: Architecture, arch_of: impl Fn(&str) -> Option<Architecture>) -> Vec<Placement> {
        let types: Vec<String> = if self.server_types.is_empty() {
            default_server_types(arch).iter().map(ToString::to_string).collect()
        } else {
            self.server_types
                .iter()
                .filter(|t| arch_of(t).is_none_or(|a| a == arch))
                .cloned()
                .collect()
        };
        self.locations
            .iter()
            .flat_map(|location| {
                types.iter().map(move |server_type| Placement {
                    location: location.clone(),
                    server_type: server_type.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> BuildRequest {
        let schematic = Schematic::with_official_extensions(["siderolabs/qemu-guest-agent"]);
        let version = TalosVersion::parse_tag("v1.11.5").unwrap();
        BuildRequest::new(
            schematic,
            version,
            &[Architecture::Arm64, Architecture::Amd64, Architecture::Arm64],
        )
        .unwrap()
    }

    #[test]
    fn placements_try_each_location_with_each_type_of_the_architecture() {
        let mut request = request();
        assert_eq!(request.architectures, [Architecture::Amd64, Architecture::Arm64]);
        let arm = request.placements(Architecture::Arm64, |_| None);
        assert_eq!(arm.len(), 6);
        assert_eq!(arm[0].to_string(), "cax11 in fsn1");
        assert_eq!(arm[1].to_string(), "cax21 in fsn1");
        assert_eq!(arm[2].to_string(), "cax11 in nbg1");
        request.server_types = vec!["cx23".into(), "cax21".into()];
        request.locations = vec!["hel1".into()];
        let arch_of = |t: &str| {
            Some(if t.starts_with("cax") {
                Architecture::Arm64
            } else {
                Architecture::Amd64
            })
        };
        assert_eq!(
            request.placements(Architecture::Amd64, arch_of)[0].to_string(),
            "cx23 in hel1"
        );
        assert_eq!(request.placements(Architecture::Arm64, arch_of).len(), 1);
    }

    #[test]
    fn an_empty_architecture_list_is_refused() {
        let schematic = Schematic::with_official_extensions(Vec::<String>::new());
        let version = TalosVersion::parse_tag("v1.11.5").unwrap();
        assert!(BuildRequest::new(schematic, version, &[]).is_err());
        assert_eq!("local".parse::<Via>(), Ok(Via::Local));
        assert!("ftp".parse::<Via>().is_err());
    }
}
