//! Field order of the v1alpha1 config sections, as in Talos's Go structs.
//!
//! Talos writes a config in struct-field order whatever order a patch used, so anything
//! that adds a field to a generated config (the hcloud overlay, strategic-merge patches)
//! inserts it with [`Mapping::insert_ordered`](super::value::Mapping::insert_ordered) and
//! one of these lists. Taken from the property order of the published JSON schemas
//! (reference `talos-schema/`), plus the fields the schemas hide (`persist`, `disks`,
//! `registries`, `grubUseUKICmdline`, `rbac`, `stableHostname`, `apidCheckExtKeyUsage`)
//! at the positions the golden configs show.

/// The v1alpha1 document root.
pub const CONFIG: &[&str] = &["version", "debug", "persist", "machine", "cluster"];

/// `machine`.
pub const MACHINE: &[&str] = &[
    "type",
    "token",
    "ca",
    "acceptedCAs",
    "certSANs",
    "controlPlane",
    "kubelet",
    "pods",
    "network",
    "disks",
    "install",
    "files",
    "env",
    "time",
    "sysctls",
    "sysfs",
    "registries",
    "systemDiskEncryption",
    "features",
    "udev",
    "logging",
    "kernel",
    "seccompProfiles",
    "baseRuntimeSpecOverrides",
    "nodeLabels",
    "nodeAnnotations",
    "nodeTaints",
];

/// `machine.network`.
pub const NETWORK: &[&str] = &[
    "hostname",
    "interfaces",
    "nameservers",
    "searchDomains",
    "extraHostEntries",
    "kubespan",
    "disableSearchDomain",
];

/// `machine.network.interfaces[]`.
pub const DEVICE: &[&str] = &[
    "interface",
    "deviceSelector",
    "addresses",
    "routes",
    "bond",
    "bridge",
    "bridgePort",
    "vlans",
    "mtu",
    "dhcp",
    "ignore",
    "dummy",
    "dhcpOptions",
    "wireguard",
    "vip",
];

/// `machine.network.interfaces[].deviceSelector`.
pub const DEVICE_SELECTOR: &[&str] = &[
    "busPath",
    "hardwareAddr",
    "permanentAddr",
    "pciID",
    "driver",
    "physical",
];

/// `machine.network.interfaces[].vip`.
pub const DEVICE_VIP: &[&str] = &["ip", "equinixMetal", "hcloud"];

/// `machine.install`.
pub const INSTALL: &[&str] = &[
    "disk",
    "diskSelector",
    "extraKernelArgs",
    "image",
    "extensions",
    "wipe",
    "legacyBIOSSupport",
    "grubUseUKICmdline",
];

/// `machine.features`.
pub const FEATURES: &[&str] = &[
    "rbac",
    "stableHostname",
    "kubernetesTalosAPIAccess",
    "apidCheckExtKeyUsage",
    "diskQuotaSupport",
    "kubePrism",
    "hostDNS",
    "imageCache",
    "nodeAddressSortAlgorithm",
];

/// `cluster`.
pub const CLUSTER: &[&str] = &[
    "id",
    "secret",
    "controlPlane",
    "clusterName",
    "network",
    "token",
    "aescbcEncryptionSecret",
    "secretboxEncryptionSecret",
    "ca",
    "acceptedCAs",
    "aggregatorCA",
    "serviceAccount",
    "apiServer",
    "controllerManager",
    "proxy",
    "scheduler",
    "discovery",
    "etcd",
    "coreDNS",
    "externalCloudProvider",
    "extraManifests",
    "extraManifestHeaders",
    "inlineManifests",
    "adminKubeconfig",
    "allowSchedulingOnControlPlanes",
];

/// `cluster.apiServer`.
pub const API_SERVER: &[&str] = &[
    "image",
    "extraArgs",
    "extraVolumes",
    "env",
    "certSANs",
    "disablePodSecurityPolicy",
    "admissionControl",
    "auditPolicy",
    "resources",
    "authorizationConfig",
];

/// `cluster.network`.
pub const CLUSTER_NETWORK: &[&str] = &["cni", "dnsDomain", "podSubnets", "serviceSubnets"];

/// Typed documents: `apiVersion` and `kind` first, then `name` where the kind is named.
pub const DOCUMENT_HEADER: &[&str] = &["apiVersion", "kind", "name"];

/// `HostnameConfig` (v1.12+).
pub const HOSTNAME_CONFIG: &[&str] = &["apiVersion", "kind", "auto", "hostname"];

/// `HCloudVIPConfig` (v1.12+).
pub const HCLOUD_VIP_CONFIG: &[&str] = &["apiVersion", "kind", "name", "link", "apiToken"];

/// `LinkAliasConfig` (v1.12+).
pub const LINK_ALIAS_CONFIG: &[&str] = &["apiVersion", "kind", "name", "selector"];

/// `RegistryMirrorConfig` (v1.12+).
pub const REGISTRY_MIRROR_CONFIG: &[&str] = &["apiVersion", "kind", "name", "endpoints", "skipFallback"];

/// `KubeSpanConfig` (v1.13+).
pub const KUBESPAN_CONFIG: &[&str] = &[
    "apiVersion",
    "kind",
    "enabled",
    "advertiseKubernetesNetworks",
    "allowDownPeerBypass",
    "harvestExtraEndpoints",
    "mtu",
    "filters",
];
