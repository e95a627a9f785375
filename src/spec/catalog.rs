//! What Hetzner Cloud and Talos offer, as far as validation needs to know before any
//! network call: server types and their CPU architecture, locations and network zones,
//! and load balancer types. The Talos release lines talos-hcloud supports are in
//! [`crate::talos::contract::RELEASE_LINES`].
//!
//! [`Architecture`] is the one CPU architecture type: spec validation, the Image Factory
//! client and the emulator name architectures with it.
//!
//! Sources: `reference/hcloud-api.md` §14 (network zones), §16–17 (locations, load
//! balancer types); server type names and architectures from Hetzner's published type list
//! (`cax*` Ampere arm64; `cx*`, `cpx*`, `ccx*` x86). Hetzner renames generations over time
//! (cx22 → cx23, cpx21 → cpx22): keep this table current, it is the one place to edit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A CPU architecture, named as Talos and the Image Factory name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// x86-64 (Hetzner: `x86`).
    Amd64,
    /// 64-bit ARM (Hetzner: `arm`).
    Arm64,
}

impl Architecture {
    /// Every architecture, in a stable order.
    pub const ALL: [Architecture; 2] = [Architecture::Amd64, Architecture::Arm64];

    /// The Talos / Image Factory name: `amd64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Amd64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The Hetzner API name (`server_type.architecture`, image `architecture`): `x86` or `arm`.
    pub fn hcloud_name(self) -> &'static str {
        match self {
            Architecture::Amd64 => "x86",
            Architecture::Arm64 => "arm",
        }
    }

    /// Parses the Talos name (`amd64`, `arm64`) only, as cluster.yaml must spell it.
    pub fn from_name(name: &str) -> Option<Architecture> {
        Architecture::ALL.into_iter().find(|arch| arch.as_str() == name)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names no architecture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture `{0}` (expected amd64 or arm64)")]
pub struct UnknownArchitecture(pub String);

impl FromStr for Architecture {
    type Err = UnknownArchitecture;

    /// Parses the Talos name or a common alias (`x86_64`, `x86`, `aarch64`, `arm`), as
    /// command-line flags accept it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "amd64" | "x86_64" | "x86" => Ok(Architecture::Amd64),
            "arm64" | "aarch64" | "arm" => Ok(Architecture::Arm64),
            _ => Err(UnknownArchitecture(s.to_string())),
        }
    }
}

/// One Hetzner Cloud server type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTypeInfo {
    /// The API name, e.g. `cax11`.
    pub name: &'static str,
    /// Its CPU architecture.
    pub architecture: Architecture,
    /// Returns true for an older generation Hetzner is phasing out (still accepted).
    pub deprecated: bool,
}

const fn st(name: &'static str, architecture: Architecture, deprecated: bool) -> ServerTypeInfo {
    ServerTypeInfo {
        name,
        architecture,
        deprecated,
    }
}

use Architecture::{Amd64, Arm64};

/// The server types talos-hcloud accepts.
pub const SERVER_TYPES: &[ServerTypeInfo] = &[
    // Ampere Altra, shared vCPU.
    st("cax11", Arm64, false),
    st("cax21", Arm64, false),
    st("cax31", Arm64, false),
    st("cax41", Arm64, false),
    // Intel/AMD cost-optimised, shared vCPU (current generation).
    st("cx23", Amd64, false),
    st("cx33", Amd64, false),
    st("cx43", Amd64, false),
    st("cx53", Amd64, false),
    // AMD regular performance, shared vCPU (current generation).
    st("cpx12", Amd64, false),
    st("cpx22", Amd64, false),
    st("cpx32", Amd64, false),
    st("cpx42", Amd64, false),
    st("cpx52", Amd64, false),
    st("cpx62", Amd64, false),
    // Dedicated vCPU.
    st("ccx13", Amd64, false),
    st("ccx23", Amd64, false),
    st("ccx33", Amd64, false),
    st("ccx43", Amd64, false),
    st("ccx53", Amd64, false),
    st("ccx63", Amd64, false),
    // Previous generations, still running in many projects.
    st("cx22", Amd64, true),
    st("cx32", Amd64, true),
    st("cx42", Amd64, true),
    st("cx52", Amd64, true),
    st("cpx11", Amd64, true),
    st("cpx21", Amd64, true),
    st("cpx31", Amd64, true),
    st("cpx41", Amd64, true),
    st("cpx51", Amd64, true),
];

/// Looks up a server type by its API name.
pub fn server_type(name: &str) -> Option<&'static ServerTypeInfo> {
    SERVER_TYPES.iter().find(|t| t.name == name)
}

/// One Hetzner Cloud location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocationInfo {
    /// The API name, e.g. `fsn1`.
    pub name: &'static str,
    /// The city, for messages.
    pub city: &'static str,
    /// The network zone its servers can join.
    pub network_zone: &'static str,
}

/// The locations (reference/hcloud-api.md §17).
pub const LOCATIONS: &[LocationInfo] = &[
    LocationInfo {
        name: "fsn1",
        city: "Falkenstein",
        network_zone: "eu-central",
    },
    LocationInfo {
        name: "nbg1",
        city: "Nuremberg",
        network_zone: "eu-central",
    },
    LocationInfo {
        name: "hel1",
        city: "Helsinki",
        network_zone: "eu-central",
    },
    LocationInfo {
        name: "ash",
        city: "Ashburn, VA",
        network_zone: "us-east",
    },
    LocationInfo {
        name: "hil",
        city: "Hillsboro, OR",
        network_zone: "us-west",
    },
    LocationInfo {
        name: "sin",
        city: "Singapore",
        network_zone: "ap-southeast",
    },
];

/// Looks up a location by its API name.
pub fn location(name: &str) -> Option<&'static LocationInfo> {
    LOCATIONS.iter().find(|l| l.name == name)
}

/// The network zones (reference/hcloud-api.md §14).
pub const NETWORK_ZONES: &[&str] = &["eu-central", "us-east", "us-west", "ap-southeast"];

/// One load balancer type and its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadBalancerTypeInfo {
    /// The API name, e.g. `lb11`.
    pub name: &'static str,
    /// How many services (listen ports) it can have.
    pub max_services: usize,
    /// How many targets it can have (servers matched by a label selector count one each).
    pub max_targets: usize,
}

/// The load balancer types. lb11's limits are in the OpenAPI examples
/// (`reference/hcloud-openapi.json`); lb21 and lb31 follow Hetzner's product page
/// (15/75 and 30/150), not checked against the API here.
pub const LOAD_BALANCER_TYPES: &[LoadBalancerTypeInfo] = &[
    LoadBalancerTypeInfo {
        name: "lb11",
        max_services: 5,
        max_targets: 25,
    },
    LoadBalancerTypeInfo {
        name: "lb21",
        max_services: 15,
        max_targets: 75,
    },
    LoadBalancerTypeInfo {
        name: "lb31",
        max_services: 30,
        max_targets: 150,
    },
];

/// Looks up a load balancer type by its API name.
pub fn load_balancer_type(name: &str) -> Option<&'static LoadBalancerTypeInfo> {
    LOAD_BALANCER_TYPES.iter().find(|t| t.name == name)
}

/// The most servers a Hetzner spread placement group holds (reference/hcloud-api.md §11);
/// the control plane gets one group, a bigger worker pool several (`cluster::desired`).
pub const MAX_SERVERS_PER_PLACEMENT_GROUP: usize = 10;

/// The most placement groups a Hetzner project holds (reference/hcloud-api.md §11).
pub const MAX_PLACEMENT_GROUPS_PER_PROJECT: usize = 50;

/// The most nodes of one worker pool: as many as a project's placement groups can spread.
pub const MAX_POOL_NODES: usize = MAX_PLACEMENT_GROUPS_PER_PROJECT * MAX_SERVERS_PER_PLACEMENT_GROUP;

/// The longest resource name and label value Hetzner accepts (labels: §6; servers must also
/// be valid RFC 1123 host names).
pub const MAX_NAME_LENGTH: usize = 63;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_follow_the_type_family() {
        for t in SERVER_TYPES {
            let expected = if t.name.starts_with("cax") { Arm64 } else { Amd64 };
            assert_eq!(t.architecture, expected, "{}", t.name);
        }
        assert_eq!(server_type("cax41").map(|t| t.architecture), Some(Arm64));
        assert_eq!(server_type("cx23").map(|t| t.architecture), Some(Amd64));
        assert_eq!(server_type("cax12"), None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = SERVER_TYPES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SERVER_TYPES.len());
    }

    #[test]
    fn every_location_is_in_a_known_zone() {
        for l in LOCATIONS {
            assert!(NETWORK_ZONES.contains(&l.network_zone), "{}", l.name);
        }
        assert_eq!(location("hel1").map(|l| l.network_zone), Some("eu-central"));
        assert_eq!(location("ash").map(|l| l.network_zone), Some("us-east"));
    }

    #[test]
    fn architecture_names_round_trip() {
        for arch in Architecture::ALL {
            assert_eq!(Architecture::from_name(arch.as_str()), Some(arch));
        }
        assert_eq!(Architecture::Arm64.hcloud_name(), "arm");
        assert_eq!(Architecture::from_name("x86"), None);
        assert_eq!("x86_64".parse(), Ok(Architecture::Amd64));
        assert_eq!("aarch64".parse(), Ok(Architecture::Arm64));
        assert_eq!(
            "riscv64".parse::<Architecture>().map_err(|e| e.to_string()),
            Err("unknown architecture `riscv64` (expected amd64 or arm64)".to_string())
        );
    }
}
