//! The fixed catalogue: locations, server types, load balancer types and system images,
//! with real names and plausible IDs, sizes and prices (reference `hcloud-api.md` §17).
//!
//! IDs and prices are illustrative, not copied from a live account; names, sizes,
//! architectures and availability follow the public product pages; dates (deprecations)
//! are the real ones, each with its source.

use serde_json::{Value, json};

/// A location.
#[derive(Debug, Clone, Copy)]
pub struct Location {
    /// ID.
    pub id: u64,
    /// Name (`fsn1`).
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// ISO country code.
    pub country: &'static str,
    /// City.
    pub city: &'static str,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Network zone (`eu-central`).
    pub network_zone: &'static str,
}

/// The locations.
pub const LOCATIONS: &[Location] = &[
    Location {
        id: 1,
        name: "fsn1",
        description: "Falkenstein DC Park 1",
        country: "DE",
        city: "Falkenstein",
        latitude: 50.47612,
        longitude: 12.370071,
        network_zone: "eu-central",
    },
    Location {
        id: 2,
        name: "nbg1",
        description: "Nuremberg DC Park 1",
        country: "DE",
        city: "Nuremberg",
        latitude: 49.452102,
        longitude: 11.076665,
        network_zone: "eu-central",
    },
    Location {
        id: 3,
        name: "hel1",
        description: "Helsinki DC Park 1",
        country: "FI",
        city: "Helsinki",
        latitude: 60.169855,
        longitude: 24.938379,
        network_zone: "eu-central",
    },
    Location {
        id: 4,
        name: "ash",
        description: "Ashburn, VA",
        country: "US",
        city: "Ashburn, VA",
        latitude: 39.045821,
        longitude: -77.487073,
        network_zone: "us-east",
    },
    Location {
        id: 5,
        name: "hil",
        description: "Hillsboro, OR",
        country: "US",
        city: "Hillsboro, OR",
        latitude: 45.54222,
        longitude: -122.951924,
        network_zone: "us-west",
    },
    Location {
        id: 6,
        name: "sin",
        description: "Singapore",
        country: "SG",
        city: "Singapore",
        latitude: 1.283333,
        longitude: 103.833333,
        network_zone: "ap-southeast",
    },
];

/// The network zones that exist.
pub const NETWORK_ZONES: &[&str] = &["eu-central", "us-east", "us-west", "ap-southeast"];

const EU: &[&str] = &["fsn1", "nbg1", "hel1"];
const ALL: &[&str] = &["fsn1", "nbg1", "hel1", "ash", "hil", "sin"];

/// A server type.
#[derive(Debug, Clone, Copy)]
pub struct ServerType {
    /// ID.
    pub id: u64,
    /// Name (`cax11`).
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Product line.
    pub category: &'static str,
    /// vCPUs.
    pub cores: u32,
    /// Memory in GB.
    pub memory: f64,
    /// Disk in GB.
    pub disk: u32,
    /// `shared` or `dedicated`.
    pub cpu_type: &'static str,
    /// `x86` or `arm`.
    pub architecture: &'static str,
    /// Net monthly price in EUR.
    pub monthly: f64,
    /// Locations where it is offered.
    pub locations: &'static [&'static str],
    /// When it was deprecated and stopped being orderable, for a previous generation.
    pub deprecation: Option<Deprecation>,
}

/// A catalogue entry's deprecation (the API's `deprecation` object), RFC 3339 times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    /// When the deprecation was announced.
    pub announced: &'static str,
    /// After this moment the entry can no longer be ordered.
    pub unavailable_after: &'static str,
}

impl Deprecation {
    fn to_json(self) -> Value {
        json!({"announced": self.announced, "unavailable_after": self.unavailable_after})
    }
}

/// The deprecation of the cx22–cx52 and cpx11–cpx51 server types (see [`SERVER_TYPES`]).
const GENERATION_2_DEPRECATION: Deprecation = Deprecation {
    announced: "2025-10-16T00:00:00+00:00",
    unavailable_after: "2025-12-31T00:00:00+00:00",
};

/// The current cost-optimised x86 entry type (the previous generation's cx22 derives from it).
const CX23: ServerType = ServerType {
    id: 114,
    name: "cx23",
    description: "CX23",
    category: "cost_optimized",
    cores: 2,
    memory: 4.0,
    disk: 40,
    cpu_type: "shared",
    architecture: "x86",
    monthly: 3.49,
    locations: EU,
    deprecation: None,
};

/// The server types.
pub const SERVER_TYPES: &[ServerType] = &[
    ServerType {
        id: 45,
        name: "cax11",
        description: "CAX11",
        category: "cost_optimized",
        cores: 2,
        memory: 4.0,
        disk: 40,
        cpu_type: "shared",
        architecture: "arm",
        monthly: 3.79,
        locations: EU,
        deprecation: None,
    },
    ServerType {
        id: 93,
        name: "cax21",
        description: "CAX21",
        category: "cost_optimized",
        cores: 4,
        memory: 8.0,
        disk: 80,
        cpu_type: "shared",
        architecture: "arm",
        monthly: 6.49,
        locations: EU,
        deprecation: None,
    },
    ServerType {
        id: 94,
        name: "cax31",
        description: "CAX31",
        category: "cost_optimized",
        cores: 8,
        memory: 16.0,
        disk: 160,
        cpu_type: "shared",
        architecture: "arm",
        monthly: 12.49,
        locations: EU,
        deprecation: None,
    },
    ServerType {
        id: 95,
        name: "cax41",
        description: "CAX41",
        category: "cost_optimized",
        cores: 16,
        memory: 32.0,
        disk: 320,
        cpu_type: "shared",
        architecture: "arm",
        monthly: 24.49,
        locations: EU,
        deprecation: None,
    },
    CX23,
    ServerType {
        id: 115,
        name: "cx33",
        description: "CX33",
        category: "cost_optimized",
        cores: 4,
        memory: 8.0,
        disk: 80,
        cpu_type: "shared",
        architecture: "x86",
        monthly: 5.49,
        locations: EU,
        deprecation: None,
    },
    ServerType {
        id: 116,
        name: "cx43",
        description: "CX43",
        category: "cost_optimized",
        cores: 8,
        memory: 16.0,
        disk: 160,
        cpu_type: "shared",
        architecture: "x86",
        monthly: 9.49,
        locations: EU,
        deprecation: None,
    },
    ServerType {
        id: 117,
        name: "cx53",
        description: "CX53",
        category: "cost_optimized",
        cores: 16,
        memory: 32.0,
        disk: 320,
        cpu_type: "shared",
        architecture: "x86",
        monthly: 17.49,
        locations: EU,
        deprecation: None,
    },
    ServerType {
        id: 108,
        name: "cpx22",
        description: "CPX22",
        category: "regular_purpose",
        cores: 2,
        memory: 4.0,
        disk: 80,
        cpu_type: "shared",
        architecture: "x86",
        monthly: 7.99,
        locations: ALL,
        deprecation: None,
    },
    ServerType {
        id: 109,
        name: "cpx32",
        description: "CPX32",
        category: "regular_purpose",
        cores: 4,
        memory: 8.0,
        disk: 160,
        cpu_type: "shared",
        architecture: "x86",
        monthly: 13.99,
        locations: ALL,
        deprecation: None,
    },
    ServerType {
        id: 110,
        name: "cpx42",
        description: "CPX42",
        category: "regular_purpose",
        cores: 8,
        memory: 16.0,
        disk: 320,
        cpu_type: "shared",
        architecture: "x86",
        monthly: 25.49,
        locations: ALL,
        deprecation: None,
    },
    ServerType {
        id: 96,
        name: "ccx13",
        description: "CCX13 Dedicated CPU",
        category: "general_purpose",
        cores: 2,
        memory: 8.0,
        disk: 80,
        cpu_type: "dedicated",
        architecture: "x86",
        monthly: 12.49,
        locations: ALL,
        deprecation: None,
    },
    ServerType {
        id: 97,
        name: "ccx23",
        description: "CCX23 Dedicated CPU",
        category: "general_purpose",
        cores: 4,
        memory: 16.0,
        disk: 160,
        cpu_type: "dedicated",
        architecture: "x86",
        monthly: 24.49,
        locations: ALL,
        deprecation: None,
    },
    // Previous generations (x86 shared vCPU), kept for the projects that still run them.
    // Deprecated in all locations by the changelog entry of 2025-10-16
    // (https://docs.hetzner.cloud/changelog#2025-10-16-server-types-deprecated, as cited by
    // apricote/hcloud-upload-image#129 and pulumi/pulumi-hcloud#939); orderable until
    // 2025-12-31 (the hcloud CLI's warning quoted in hcloud-talos/terraform-hcloud-talos#316:
    // "deprecated in all locations and will no longer be available for order as of
    // 2025-12-31"; kubermatic/kubeone's notes: "as of January 1, 2026"). The days are
    // verified, the times of day are not.
    ServerType {
        id: 104,
        name: "cx22",
        description: "CX22",
        monthly: 3.79,
        deprecation: Some(GENERATION_2_DEPRECATION),
        ..CX23
    },
    ServerType {
        id: 22,
        name: "cpx11",
        description: "CPX 11",
        category: "regular_purpose",
        cores: 2,
        memory: 2.0,
        disk: 40,
        cpu_type: "shared",
        architecture: "x86",
        monthly: 4.35,
        locations: ALL,
        deprecation: Some(GENERATION_2_DEPRECATION),
    },
];

/// A load balancer type.
#[derive(Debug, Clone, Copy)]
pub struct LoadBalancerType {
    /// ID.
    pub id: u64,
    /// Name (`lb11`).
    pub name: &'static str,
    /// Maximum concurrent connections.
    pub max_connections: u64,
    /// Maximum services.
    pub max_services: u64,
    /// Maximum targets.
    pub max_targets: u64,
    /// Maximum certificates.
    pub max_assigned_certificates: u64,
    /// Net monthly price in EUR.
    pub monthly: f64,
}

/// The load balancer types.
pub const LOAD_BALANCER_TYPES: &[LoadBalancerType] = &[
    LoadBalancerType {
        id: 1,
        name: "lb11",
        max_connections: 10_000,
        max_services: 5,
        max_targets: 25,
        max_assigned_certificates: 10,
        monthly: 5.39,
    },
    LoadBalancerType {
        id: 2,
        name: "lb21",
        max_connections: 20_000,
        max_services: 15,
        max_targets: 75,
        max_assigned_certificates: 25,
        monthly: 16.40,
    },
    LoadBalancerType {
        id: 3,
        name: "lb31",
        max_connections: 40_000,
        max_services: 30,
        max_targets: 150,
        max_assigned_certificates: 50,
        monthly: 32.90,
    },
];

/// A system image seeded at start.
#[derive(Debug, Clone, Copy)]
pub struct SystemImage {
    /// ID.
    pub id: u64,
    /// Name (shared by both architectures).
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// `ubuntu`, `debian`, …
    pub os_flavor: &'static str,
    /// Version.
    pub os_version: &'static str,
    /// `x86` or `arm`.
    pub architecture: &'static str,
    /// When the image was deprecated (RFC 3339), if it is: listed only with
    /// `include_deprecated=true`, still usable by ID or name.
    pub deprecated: Option<&'static str>,
}

/// The system images.
pub const SYSTEM_IMAGES: &[SystemImage] = &[
    SystemImage {
        id: 161_547_269,
        name: "ubuntu-24.04",
        description: "Ubuntu 24.04",
        os_flavor: "ubuntu",
        os_version: "24.04",
        architecture: "x86",
        deprecated: None,
    },
    SystemImage {
        id: 161_547_270,
        name: "ubuntu-24.04",
        description: "Ubuntu 24.04",
        os_flavor: "ubuntu",
        os_version: "24.04",
        architecture: "arm",
        deprecated: None,
    },
    SystemImage {
        id: 67_794_396,
        name: "ubuntu-22.04",
        description: "Ubuntu 22.04",
        os_flavor: "ubuntu",
        os_version: "22.04",
        architecture: "x86",
        deprecated: None,
    },
    SystemImage {
        id: 103_908_070,
        name: "ubuntu-22.04",
        description: "Ubuntu 22.04",
        os_flavor: "ubuntu",
        os_version: "22.04",
        architecture: "arm",
        deprecated: None,
    },
    // The deprecation date of ubuntu-20.04 is unverified (docs/simulator.md says so): no
    // Hetzner changelog or documentation found states it. Third-party reports only bound
    // it: deprecated by 2025-08-18 (pulumi/pulumi-hcloud#840) and no longer orderable by
    // 2025-09-04 (claffin/cloudproxy#102), after Ubuntu 20.04's end of standard support
    // on 2025-05-31. ubuntu-18.04's precedent (orderable until 2023-08-29, 90 days after
    // its end of standard support: ansible-collections/hetzner.hcloud#224) makes a date
    // around then plausible.
    SystemImage {
        id: 15_512_617,
        name: "ubuntu-20.04",
        description: "Ubuntu 20.04",
        os_flavor: "ubuntu",
        os_version: "20.04",
        architecture: "x86",
        deprecated: Some("2025-06-02T08:00:00+00:00"),
    },
    SystemImage {
        id: 103_907_373,
        name: "ubuntu-20.04",
        description: "Ubuntu 20.04",
        os_flavor: "ubuntu",
        os_version: "20.04",
        architecture: "arm",
        deprecated: Some("2025-06-02T08:00:00+00:00"),
    },
    SystemImage {
        id: 114_690_387,
        name: "debian-12",
        description: "Debian 12",
        os_flavor: "debian",
        os_version: "12",
        architecture: "x86",
        deprecated: None,
    },
    SystemImage {
        id: 114_690_389,
        name: "debian-12",
        description: "Debian 12",
        os_flavor: "debian",
        os_version: "12",
        architecture: "arm",
        deprecated: None,
    },
];

/// Looks a location up by ID or name.
pub fn location(id_or_name: &str) -> Option<&'static Location> {
    LOCATIONS
        .iter()
        .find(|l| l.name == id_or_name || id_or_name.parse::<u64>().ok() == Some(l.id))
}

/// Looks a location up by ID.
pub fn location_by_id(id: u64) -> Option<&'static Location> {
    LOCATIONS.iter().find(|l| l.id == id)
}

/// Looks a server type up by ID or name.
pub fn server_type(id_or_name: &str) -> Option<&'static ServerType> {
    SERVER_TYPES
        .iter()
        .find(|t| t.name == id_or_name || id_or_name.parse::<u64>().ok() == Some(t.id))
}

/// Looks a load balancer type up by ID or name.
pub fn load_balancer_type(id_or_name: &str) -> Option<&'static LoadBalancerType> {
    LOAD_BALANCER_TYPES
        .iter()
        .find(|t| t.name == id_or_name || id_or_name.parse::<u64>().ok() == Some(t.id))
}

fn money(value: f64) -> String {
    format!("{value:.10}")
}

fn price(location: &str, monthly: f64, included_traffic: u64) -> Value {
    let hourly = monthly / 730.0;
    json!({
        "location": location,
        "price_hourly": {"net": money(hourly), "gross": money(hourly * 1.19)},
        "price_monthly": {"net": money(monthly), "gross": money(monthly * 1.19)},
        "included_traffic": included_traffic,
        "price_per_tb_traffic": {"net": money(1.0), "gross": money(1.19)},
    })
}

/// Included traffic of cloud servers in EU locations: 20 TB.
pub const INCLUDED_TRAFFIC: u64 = 21_990_232_555_520;

impl Location {
    /// The API representation.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "country": self.country,
            "city": self.city,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "network_zone": self.network_zone,
        })
    }
}

impl ServerType {
    /// Returns true if and only if the type can be ordered in `location` (a deprecated
    /// type is past its `unavailable_after` in the emulator's present).
    pub fn offered_in(&self, location: &str) -> bool {
        self.deprecation.is_none() && self.locations.contains(&location)
    }

    /// The API representation (live shape: `locations[]` with availability).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "cores": self.cores,
            "memory": self.memory,
            "disk": self.disk,
            "deprecated": self.deprecation.is_some(),
            "deprecation": self.deprecation.map(Deprecation::to_json),
            "prices": self.locations.iter().map(|l| price(l, self.monthly, INCLUDED_TRAFFIC)).collect::<Vec<_>>(),
            "storage_type": "local",
            "cpu_type": self.cpu_type,
            "architecture": self.architecture,
            "locations": self.locations.iter().filter_map(|name| location(name)).map(|l| json!({
                "id": l.id,
                "name": l.name,
                "deprecation": self.deprecation.map(Deprecation::to_json),
                "available": self.deprecation.is_none(),
                "recommended": self.deprecation.is_none(),
            })).collect::<Vec<_>>(),
        })
    }
}

impl LoadBalancerType {
    /// The API representation.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.name.to_uppercase(),
            "max_connections": self.max_connections,
            "max_services": self.max_services,
            "max_targets": self.max_targets,
            "max_assigned_certificates": self.max_assigned_certificates,
            "deprecated": null,
            "prices": ALL.iter().map(|l| price(l, self.monthly, INCLUDED_TRAFFIC)).collect::<Vec<_>>(),
        })
    }
}
