//! The first stage: cluster.yaml as written. Every key is checked against the format
//! (unknown keys, types, required keys) and kept with its position; nothing is interpreted
//! yet. The second stage ([`super::check`]) turns this into a [`super::Spec`].

use saphyr::{MarkedYaml, YamlData};

use super::diagnostic::{Span, Spanned};
use super::reader::{Field, Map, Reader, join};

/// Examples used in "expected …" notes, shared with the checks.
pub(crate) mod example {
    pub const NAME: &str = "a cluster name, e.g. `tootcommunity-prod`";
    pub const PREFIX: &str = "a resource name prefix, e.g. `tc-prod-`";
    pub const LOCATION: &str = "a Hetzner location, e.g. `fsn1` (fsn1, nbg1, hel1, ash, hil, sin)";
    pub const TALOS: &str =
        "a mapping with `version` and `schematic`, e.g. `{ version: v1.11.6, schematic: schematics/hcloud.yaml }`";
    pub const TALOS_VERSION: &str = "a Talos version, e.g. `v1.11.6`";
    pub const SCHEMATIC_CONTENT: &str = "an Image Factory schematic, e.g. `customization: {systemExtensions: {officialExtensions: [siderolabs/qemu-guest-agent]}}`";
    pub const SCHEMATIC: &str = "a schematic file relative to cluster.yaml, e.g. `schematics/hcloud.yaml`, or an inline `{ customization: … }` mapping";
    pub const ARCHITECTURE: &str = "`amd64` or `arm64`";
    pub const ARCHITECTURES: &str = "a list of architectures, e.g. `[arm64]` or `[amd64, arm64]`";
    pub const KUBERNETES: &str = "a mapping with `version`, e.g. `{ version: v1.34.1 }`";
    pub const KUBERNETES_VERSION: &str = "a Kubernetes version, e.g. `v1.34.1`";
    pub const NETWORK: &str = "a mapping with `cidr` and `subnet`, e.g. `{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }`";
    pub const CIDR: &str = "a private IPv4 range, e.g. `10.0.0.0/16`";
    pub const SUBNET: &str = "an IPv4 range inside network.cidr, e.g. `10.0.1.0/24`";
    pub const ZONE: &str = "a network zone, e.g. `eu-central` (eu-central, us-east, us-west, ap-southeast)";
    pub const PODS: &str = "an IPv4 range for pod addresses, e.g. `10.0.16.0/20`";
    pub const SERVICES: &str = "an IPv4 range for service addresses, e.g. `10.0.8.0/21`";
    pub const ENDPOINT: &str = "`floating-ip` or `load-balancer`";
    pub const FIREWALL: &str = "a mapping with `admin_cidrs`, e.g. `{ admin_cidrs: [203.0.113.7/32] }`";
    pub const ADMIN_CIDRS: &str = "a list of IPv4 or IPv6 ranges, e.g. `[203.0.113.7/32]`";
    pub const ADMIN_CIDR: &str = "an IPv4 or IPv6 range, e.g. `203.0.113.7/32`";
    pub const CONTROLPLANE: &str = "a mapping with `type` and `nodes` or `count`, e.g. `{ type: cax11, count: 3 }`";
    pub const SERVER_TYPE: &str = "a Hetzner server type, e.g. `cax11` (arm64) or `cx23` (amd64)";
    pub const COUNT: &str = "a number of nodes, e.g. `3`";
    pub const NODES: &str = "a list of node names, e.g. `[cp-1, cp-2, cp-3]`, or of `{ name, location, ip }` mappings";
    pub const NODE_NAME: &str = "a node name (lowercase DNS label), e.g. `cp-1`";
    pub const NODE_IP: &str = "a private IPv4 address inside network.subnet, e.g. `10.0.1.10`";
    pub const WORKERS: &str = "a list of worker pools, e.g. `[{ pool: general, type: cax41, count: 3 }]`";
    pub const POOL: &str = "a pool name (lowercase DNS label), e.g. `general`";
    pub const LOAD_BALANCERS: &str = "a list of load balancers, e.g. `[{ name: ingress, type: lb11, targets: { pool: general }, services: [{ listen: 443, target: 443 }] }]`";
    pub const LB_NAME: &str = "a load balancer name (lowercase DNS label), e.g. `ingress`";
    pub const LB_TYPE: &str = "a load balancer type: `lb11`, `lb21` or `lb31`";
    pub const TARGETS: &str = "a mapping naming a worker pool, e.g. `{ pool: general }`";
    pub const SERVICES_LIST: &str = "a list of services, e.g. `[{ listen: 443, target: 443, proxy_protocol: true }]`";
    pub const PORT: &str = "a port number from 1 to 65535, e.g. `443`";
    pub const BOOL: &str = "`true` or `false`";
    pub const PATCH_PATTERN: &str = "a glob pattern relative to cluster.yaml, e.g. `machine-patches/all/*.yaml`";
    pub const PATCH_LIST: &str =
        "a list of glob patterns relative to cluster.yaml, e.g. `[machine-patches/all/*.yaml]`";
    pub const SYSCTLS: &str = "a mapping of sysctl names to values, e.g. `{ net.core.somaxconn: \"32768\" }`";
    pub const SYSCTL_VALUE: &str = "a scalar value, e.g. `\"32768\"`";
}

/// The top-level keys, in the order the reference documents them.
pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "prefix",
    "location",
    "talos",
    "kubernetes",
    "network",
    "endpoint",
    "firewall",
    "controlplane",
    "workers",
    "load_balancers",
    "patches",
    "sysctls",
];

/// cluster.yaml as written.
#[derive(Debug, Default)]
pub(crate) struct RawCluster {
    pub name: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
    pub location: Option<Spanned<String>>,
    pub talos: Option<RawTalos>,
    pub kubernetes: Option<RawKubernetes>,
    pub network: Option<RawNetwork>,
    pub endpoint: Option<Spanned<String>>,
    pub firewall: Option<RawFirewall>,
    pub controlplane: Option<RawGroup>,
    pub workers: Vec<RawGroup>,
    pub load_balancers: Vec<RawLoadBalancer>,
    pub patches: RawPatches,
    pub sysctls: Vec<(Spanned<String>, Spanned<String>)>,
}

/// `talos:`.
#[derive(Debug)]
pub(crate) struct RawTalos {
    pub version: Option<Spanned<String>>,
    pub schematic: Option<RawSchematic>,
    pub architectures: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `talos.schematic:`, a file path or an inline block.
#[derive(Debug)]
pub(crate) enum RawSchematic {
    /// A path relative to cluster.yaml.
    File(Spanned<String>),
    /// An inline schematic, re-emitted as YAML text, and where it was written.
    Inline { yaml: String, span: Span },
}

/// `kubernetes:`.
#[derive(Debug)]
pub(crate) struct RawKubernetes {
    pub version: Option<Spanned<String>>,
}

/// `network:`.
#[derive(Debug)]
pub(crate) struct RawNetwork {
    pub anchor: Span,
    pub cidr: Option<Spanned<String>>,
    pub subnet: Option<Spanned<String>>,
    pub zone: Option<Spanned<String>>,
    pub pods: Option<Spanned<String>>,
    pub services: Option<Spanned<String>>,
}

/// `firewall:`.
#[derive(Debug)]
pub(crate) struct RawFirewall {
    /// The list, spanned at its key.
    pub admin_cidrs: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `controlplane:` or one `workers[i]` entry.
#[derive(Debug)]
pub(crate) struct RawGroup {
    /// `controlplane` or `workers[i]`.
    pub path: String,
    pub anchor: Span,
    /// Workers only.
    pub pool: Option<Spanned<String>>,
    pub server_type: Option<Spanned<String>>,
    pub location: Option<Spanned<String>>,
    pub count: Option<Spanned<i64>>,
    /// The list, spanned at its key.
    pub nodes: Option<Spanned<Vec<RawNode>>>,
    /// Returns true if `count:` was written with a value (even an unreadable one).
    pub has_count: bool,
    /// Returns true if `nodes:` was written with a value (even an unreadable one).
    pub has_nodes: bool,
}

/// One entry of a `nodes:` list.
#[derive(Debug)]
pub(crate) struct RawNode {
    pub path: String,
    pub anchor: Span,
    pub name: Option<Spanned<String>>,
    pub location: Option<Spanned<String>>,
    pub ip: Option<Spanned<String>>,
}

/// One `load_balancers[i]` entry.
#[derive(Debug)]
pub(crate) struct RawLoadBalancer {
    pub path: String,
    pub name: Option<Spanned<String>>,
    pub lb_type: Option<Spanned<String>>,
    pub location: Option<Spanned<String>>,
    pub target_pool: Option<Spanned<String>>,
    /// The list, spanned at its key.
    pub services: Option<Spanned<Vec<RawService>>>,
}

/// One `services[j]` entry of a load balancer.
#[derive(Debug)]
pub(crate) struct RawService {
    pub path: String,
    pub listen: Option<Spanned<i64>>,
    pub target: Option<Spanned<i64>>,
    pub proxy_protocol: Option<Spanned<bool>>,
}

/// `patches:`, each list of glob patterns with the key it hangs under.
#[derive(Debug, Default)]
pub(crate) struct RawPatches {
    pub all: Vec<Spanned<String>>,
    pub controlplane: Vec<Spanned<String>>,
    pub worker: Vec<Spanned<String>>,
}

/// Reads the whole document; every problem lands in `reader.diagnostics`.
pub(crate) fn decode(reader: &mut Reader<'_>, root: &MarkedYaml<'_>) -> RawCluster {
    let mut raw = RawCluster::default();
    // Missing top-level keys point at the start of the document's mapping.
    let start = reader.span(root);
    let top = Field {
        path: String::new(),
        key_span: Span { width: 1, ..start },
        node: root,
    };
    if !matches!(root.data, YamlData::Mapping(_)) {
        let found = super::reader::describe(root);
        let span = reader.span(root);
        let diagnostic = reader
            .diagnostic(
                span,
                "",
                format!("expected a mapping with the cluster's keys, found {found}"),
            )
            .expected(format!("keys {}", TOP_KEYS.join(", ")));
        reader.push(diagnostic);
        return raw;
    }
    let Some(map) = reader.mapping(&top, TOP_KEYS) else {
        return raw;
    };
    raw.name = required_string(reader, &map, "name", example::NAME);
    raw.prefix = required_string(reader, &map, "prefix", example::PREFIX);
    raw.location = required_string(reader, &map, "location", example::LOCATION);
    raw.talos = reader
        .required(&map, "talos", example::TALOS)
        .and_then(|field| decode_talos(reader, &field));
    raw.kubernetes = reader
        .required(&map, "kubernetes", example::KUBERNETES)
        .and_then(|field| {
            let map = reader.mapping(&field, &["version"])?;
            Some(RawKubernetes {
                version: required_string(reader, &map, "version", example::KUBERNETES_VERSION),
            })
        });
    raw.network = reader.required(&map, "network", example::NETWORK).and_then(|field| {
        let map = reader.mapping(&field, &["cidr", "subnet", "zone", "pods", "services"])?;
        Some(RawNetwork {
            anchor: field.key_span,
            cidr: required_string(reader, &map, "cidr", example::CIDR),
            subnet: required_string(reader, &map, "subnet", example::SUBNET),
            zone: optional_string(reader, &map, "zone", example::ZONE),
            pods: optional_string(reader, &map, "pods", example::PODS),
            services: optional_string(reader, &map, "services", example::SERVICES),
        })
    });
    raw.endpoint = optional_string(reader, &map, "endpoint", example::ENDPOINT);
    raw.firewall = reader.required(&map, "firewall", example::FIREWALL).and_then(|field| {
        let map = reader.mapping(&field, &["admin_cidrs"])?;
        let admin_cidrs = reader
            .required(&map, "admin_cidrs", example::ADMIN_CIDRS)
            .and_then(|field| {
                reader
                    .string_list(&field, example::ADMIN_CIDRS, example::ADMIN_CIDR)
                    .map(|list| Spanned::new(list, field.key_span))
            });
        Some(RawFirewall { admin_cidrs })
    });
    raw.controlplane = reader
        .required(&map, "controlplane", example::CONTROLPLANE)
        .and_then(|field| decode_group(reader, &field, false));
    if let Some(field) = reader.optional(&map, "workers") {
        for item in reader.sequence(&field, example::WORKERS).unwrap_or_default() {
            if let Some(group) = decode_group(reader, &item, true) {
                raw.workers.push(group);
            }
        }
    }
    if let Some(field) = reader.optional(&map, "load_balancers") {
        for item in reader.sequence(&field, example::LOAD_BALANCERS).unwrap_or_default() {
            if let Some(lb) = decode_load_balancer(reader, &item) {
                raw.load_balancers.push(lb);
            }
        }
    }
    if let Some(field) = reader.optional(&map, "patches")
        && let Some(map) = reader.mapping(&field, &["all", "controlplane", "worker"])
    {
        let mut list = |key: &str| -> Vec<Spanned<String>> {
            reader
                .optional(&map, key)
                .and_then(|field| reader.string_list(&field, example::PATCH_LIST, example::PATCH_PATTERN))
                .unwrap_or_default()
        };
        raw.patches = RawPatches {
            all: list("all"),
            controlplane: list("controlplane"),
            worker: list("worker"),
        };
    }
    if let Some(field) = reader.optional(&map, "sysctls") {
        for (key, key_span, value) in reader.free_mapping(&field, example::SYSCTLS).unwrap_or_default() {
            let value_field = Field {
                path: join(&field.path, &key.value),
                key_span,
                node: value,
            };
            if super::reader::is_null(value) {
                let diagnostic = reader
                    .diagnostic(
                        key_span,
                        &value_field.path,
                        format!("sysctl `{}` has no value", crate::excerpt::excerpt(&key.value)),
                    )
                    .expected(example::SYSCTL_VALUE);
                reader.push(diagnostic);
                continue;
            }
            if let Some(value) = reader.string(&value_field, example::SYSCTL_VALUE) {
                raw.sysctls.push((key, value));
            }
        }
    }
    raw
}

fn decode_talos(reader: &mut Reader<'_>, field: &Field<'_, '_>) -> Option<RawTalos> {
    let map = reader.mapping(field, &["version", "schematic", "architectures"])?;
    let version = required_string(reader, &map, "version", example::TALOS_VERSION);
    let schematic = reader
        .required(&map, "schematic", example::SCHEMATIC)
        .and_then(|field| {
            if let YamlData::Mapping(entries) = &field.node.data {
                let has_customization = entries
                    .keys()
                    .any(|key| super::reader::literal(key) == Some("customization"));
                if !has_customization {
                    let node_span = reader.span(field.node);
                    let diagnostic = reader
                        .diagnostic(
                            node_span,
                            &field.path,
                            "an inline schematic needs a `customization:` block",
                        )
                        .expected(example::SCHEMATIC);
                    reader.push(diagnostic);
                    return None;
                }
                return Some(RawSchematic::Inline {
                    yaml: super::reader::to_yaml_text(field.node),
                    span: reader.span(field.node),
                });
            }
            reader.string(&field, example::SCHEMATIC).map(RawSchematic::File)
        });
    let architectures = reader.optional(&map, "architectures").and_then(|field| {
        reader
            .string_list(&field, example::ARCHITECTURES, example::ARCHITECTURE)
            .map(|list| Spanned::new(list, field.key_span))
    });
    Some(RawTalos {
        version,
        schematic,
        architectures,
    })
}

fn decode_group(reader: &mut Reader<'_>, field: &Field<'_, '_>, worker: bool) -> Option<RawGroup> {
    let keys: &[&str] = if worker {
        &["pool", "type", "location", "count", "nodes"]
    } else {
        &["type", "location", "count", "nodes"]
    };
    let map = reader.mapping(field, keys)?;
    let pool = if worker {
        required_string(reader, &map, "pool", example::POOL)
    } else {
        None
    };
    let server_type = required_string(reader, &map, "type", example::SERVER_TYPE);
    let location = optional_string(reader, &map, "location", example::LOCATION);
    let has_count = reader.optional(&map, "count").is_some();
    let has_nodes = reader.optional(&map, "nodes").is_some();
    let count = reader
        .optional(&map, "count")
        .and_then(|field| reader.integer(&field, example::COUNT));
    let nodes = reader.optional(&map, "nodes").and_then(|field| {
        let items = reader.sequence(&field, example::NODES)?;
        let nodes = items.iter().filter_map(|item| decode_node(reader, item)).collect();
        Some(Spanned::new(nodes, field.key_span))
    });
    Some(RawGroup {
        path: field.path.clone(),
        anchor: field.key_span,
        pool,
        server_type,
        location,
        count,
        nodes,
        has_count,
        has_nodes,
    })
}

fn decode_node(reader: &mut Reader<'_>, item: &Field<'_, '_>) -> Option<RawNode> {
    if matches!(item.node.data, YamlData::Mapping(_)) {
        let map = reader.mapping(item, &["name", "location", "ip"])?;
        return Some(RawNode {
            path: item.path.clone(),
            anchor: item.key_span,
            name: required_string(reader, &map, "name", example::NODE_NAME),
            location: optional_string(reader, &map, "location", example::LOCATION),
            ip: optional_string(reader, &map, "ip", example::NODE_IP),
        });
    }
    if super::reader::is_null(item.node) {
        let diagnostic = reader
            .diagnostic(item.key_span, &item.path, "empty list item")
            .expected(example::NODES);
        reader.push(diagnostic);
        return None;
    }
    let name = reader.string(item, example::NODES)?;
    Some(RawNode {
        path: item.path.clone(),
        anchor: item.key_span,
        name: Some(name),
        location: None,
        ip: None,
    })
}

fn decode_load_balancer(reader: &mut Reader<'_>, item: &Field<'_, '_>) -> Option<RawLoadBalancer> {
    let map = reader.mapping(item, &["name", "type", "location", "targets", "services"])?;
    let name = required_string(reader, &map, "name", example::LB_NAME);
    let lb_type = required_string(reader, &map, "type", example::LB_TYPE);
    let location = optional_string(reader, &map, "location", example::LOCATION);
    let target_pool = reader.required(&map, "targets", example::TARGETS).and_then(|field| {
        let map = reader.mapping(&field, &["pool"])?;
        required_string(reader, &map, "pool", example::POOL)
    });
    let services = reader
        .required(&map, "services", example::SERVICES_LIST)
        .and_then(|field| {
            let items = reader.sequence(&field, example::SERVICES_LIST)?;
            let services = items.iter().filter_map(|item| decode_service(reader, item)).collect();
            Some(Spanned::new(services, field.key_span))
        });
    Some(RawLoadBalancer {
        path: item.path.clone(),
        name,
        lb_type,
        location,
        target_pool,
        services,
    })
}

fn decode_service(reader: &mut Reader<'_>, item: &Field<'_, '_>) -> Option<RawService> {
    let map = reader.mapping(item, &["listen", "target", "proxy_protocol"])?;
    let mut port = |key: &str| {
        reader
            .required(&map, key, example::PORT)
            .and_then(|field| reader.integer(&field, example::PORT))
    };
    let listen = port("listen");
    let target = port("target");
    let proxy_protocol = reader
        .optional(&map, "proxy_protocol")
        .and_then(|field| reader.boolean(&field, example::BOOL));
    Some(RawService {
        path: item.path.clone(),
        listen,
        target,
        proxy_protocol,
    })
}

fn required_string(reader: &mut Reader<'_>, map: &Map<'_, '_>, key: &str, expected: &str) -> Option<Spanned<String>> {
    let field = reader.required(map, key, expected)?;
    reader.string(&field, expected)
}

fn optional_string(reader: &mut Reader<'_>, map: &Map<'_, '_>, key: &str, expected: &str) -> Option<Spanned<String>> {
    let field = reader.optional(map, key)?;
    reader.string(&field, expected)
}
