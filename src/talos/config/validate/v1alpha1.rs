//! Semantic checks of the v1alpha1 document: Talos's `v1alpha1_validation.go` rules with
//! Talos's messages (reference `talos.md` §E.2), plus talos-hcloud's own checks of values
//! Talos leaves to fail later at runtime (cluster name, token formats, certificate SANs,
//! pod and service CIDRs, the installer image in cloud mode).

use std::collections::HashSet;

use super::{Mode, Report, formats};
use crate::talos::config::path::Path;
use crate::talos::config::value::{Node, Position};

const DOC: &str = "v1alpha1";

fn at<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    root.get_path(&Path::parse(path).ok()?).filter(|n| !n.is_null())
}

fn text<'a>(root: &'a Node, path: &str) -> Option<&'a str> {
    at(root, path).and_then(Node::as_str)
}

/// A boolean field, with go-yaml's YAML 1.1 spellings (`yes`, `off`).
fn flag(root: &Node, path: &str) -> Option<bool> {
    let node = at(root, path)?;
    node.as_bool()
        .or_else(|| node.as_str().and_then(crate::yaml::resolve::old_bool))
}

fn pos(node: Option<&Node>) -> Option<Position> {
    node.and_then(|n| n.position)
}

fn items<'a>(root: &'a Node, path: &str) -> &'a [Node] {
    at(root, path).and_then(Node::as_sequence).unwrap_or_default()
}

/// Reports each string of the list at `path` that `check` refuses, as "invalid WHAT
/// "VALUE": REASON" at the item.
fn each_item(root: &Node, path: &str, what: &str, check: fn(&str) -> Result<(), String>, report: &mut Report<'_>) {
    for (index, item) in items(root, path).iter().enumerate() {
        if let Some(value) = item.as_str()
            && let Err(reason) = check(value)
        {
            report.error(
                DOC,
                &format!("{path}[{index}]"),
                item.position,
                format!("invalid {what} {value:?}: {reason}"),
            );
        }
    }
}

/// Runs every v1alpha1 rule.
pub(super) fn check(root: &Node, report: &mut Report<'_>) {
    let machine = at(root, "machine");
    let cluster = at(root, "cluster");
    if machine.is_none() {
        // Talos stops here: without a machine type no other rule can be judged.
        report.error(DOC, "machine", None, "machine instructions are required");
        return;
    }
    if cluster.is_none() {
        report.error(DOC, "cluster", None, "cluster instructions are required");
    }
    if flag(root, "persist") == Some(false) {
        report.error(DOC, "persist", pos(at(root, "persist")), ".persist should be enabled");
    }
    let control_plane = machine_type(root, report);
    machine_rules(root, control_plane, report);
    if cluster.is_some() {
        cluster_rules(root, control_plane, report);
    }
}

/// Checks `machine.type`; returns true for control-plane types.
fn machine_type(root: &Node, report: &mut Report<'_>) -> bool {
    let node = at(root, "machine.type");
    let value = node.and_then(Node::as_str).unwrap_or_default();
    match value {
        "controlplane" | "init" => true,
        "worker" => false,
        "join" => {
            report.warning(
                DOC,
                "machine.type",
                pos(node),
                "use \"worker\" instead of \"join\" for machine type",
            );
            false
        }
        _ => {
            if at(root, "machine").is_some() {
                report.error(
                    DOC,
                    "machine.type",
                    pos(node),
                    format!("unknown machine type {value:?}"),
                );
            }
            false
        }
    }
}

fn machine_rules(root: &Node, control_plane: bool, report: &mut Report<'_>) {
    let ca = at(root, "machine.ca");
    let ca_crt = text(root, "machine.ca.crt").filter(|t| !t.is_empty());
    let ca_key = text(root, "machine.ca.key").filter(|t| !t.is_empty());
    if control_plane {
        if ca_crt.is_none() {
            report.error(DOC, "machine.ca", pos(ca), "issuing CA is required (.machine.ca)");
        } else if ca_key.is_none() {
            report.error(
                DOC,
                "machine.ca.key",
                pos(ca),
                "issuing CA key is required for controlplane nodes (.machine.ca.key)",
            );
        }
    } else {
        if ca_crt.is_none() && items(root, "machine.acceptedCAs").is_empty() {
            report.error(
                DOC,
                "machine.ca",
                pos(ca),
                "issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)",
            );
        }
        if ca_key.is_some() {
            report.error(
                DOC,
                "machine.ca.key",
                pos(at(root, "machine.ca.key")),
                "issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)",
            );
        }
    }

    required_text(
        root,
        "machine.token",
        "machine.token is required (the trustd join token)",
        report,
        |token| {
            formats::token(token)
                .map_err(|reason| Refusal::Warning(format!("machine.token is not in the usual token form: {reason}")))
        },
    );

    each_item(root, "machine.certSANs", "certSANs entry", formats::san, report);

    install_rules(root, report);
    network_rules(root, control_plane, report);
    node_metadata_rules(root, report);

    let host_dns = at(root, "machine.features.hostDNS");
    let enabled = flag(root, "machine.features.hostDNS.enabled") == Some(true);
    let forward = flag(root, "machine.features.hostDNS.forwardKubeDNSToHost") == Some(true);
    if report.options().contract.at_least(1, 13) && forward && !enabled {
        report.error(
            DOC,
            "machine.features.hostDNS",
            pos(host_dns),
            "feature hostDNS.forwardKubeDNSToHost requires hostDNS.enabled to be true (.machine.features.hostDNS)",
        );
    }
    if report.options().mode == Mode::Container {
        if !enabled {
            report.error(
                DOC,
                "machine.features.hostDNS.enabled",
                pos(host_dns),
                "feature HostDNS should be enabled in container mode (.machine.features.hostDNS.enabled)",
            );
        }
        if !forward {
            report.error(
                DOC,
                "machine.features.hostDNS.forwardKubeDNSToHost",
                pos(host_dns),
                "feature HostDNS should forward kube-dns to host in container mode (.machine.features.hostDNS.forwardKubeDNSToHost)",
            );
        }
    }
}

/// Metal mode needs an install section with a disk (Talos); in cloud mode talos-hcloud
/// warns when no installer image is set, which upgrades need.
fn install_rules(root: &Node, report: &mut Report<'_>) {
    let install = at(root, "machine.install");
    match (report.options().mode, install) {
        (Mode::Metal, None) => report.error(
            DOC,
            "machine.install",
            None,
            "install instructions are required in \"metal\" mode",
        ),
        (Mode::Metal, Some(install)) => {
            let disk = text(root, "machine.install.disk").filter(|d| !d.is_empty());
            if disk.is_none() && at(root, "machine.install.diskSelector").is_none() {
                report.error(
                    DOC,
                    "machine.install",
                    install.position,
                    "either install disk or diskSelector should be defined",
                );
            }
        }
        (Mode::Cloud, Some(install)) if text(root, "machine.install.image").is_none_or(str::is_empty) => {
            report.warning(
                DOC,
                "machine.install.image",
                install.position,
                "no installer image: `talosctl upgrade` will need an explicit --image",
            );
        }
        _ => {}
    }
}

fn network_rules(root: &Node, control_plane: bool, report: &mut Report<'_>) {
    for (index, device) in items(root, "machine.network.interfaces").iter().enumerate() {
        let base = format!("machine.network.interfaces[{index}]");
        let name = device.get("interface").and_then(Node::as_str).filter(|n| !n.is_empty());
        let selector = device.get("deviceSelector").filter(|s| !s.is_null());
        let label = name.unwrap_or("deviceSelector");
        match (name.is_some(), selector.is_some()) {
            (true, true) => report.error(
                DOC,
                &base,
                device.position,
                "[networking.os.device.interface], [networking.os.device.deviceSelector]: config sections are mutually exclusive",
            ),
            (false, false) => report.error(
                DOC,
                &base,
                device.position,
                "[networking.os.device.interface], [networking.os.device.deviceSelector]: required either config section to be set",
            ),
            _ => {}
        }
        addresses(device, &base, label, report);
        if let Some(cidr) = device.get("cidr").and_then(Node::as_str).filter(|c| !c.is_empty()) {
            report.warning(
                DOC,
                &format!("{base}.cidr"),
                device.position,
                format!("[networking.os.device.cidr] {label:?}: deprecated, use addresses"),
            );
            if let Err(reason) = formats::address(cidr) {
                report.error(
                    DOC,
                    &format!("{base}.cidr"),
                    device.position,
                    format!("[networking.os.device.CIDR] {label:?}: {reason}"),
                );
            }
        }
        routes(device, &base, report);
        vip(device, &base, control_plane, report);
        for (vlan_index, vlan) in device.items("vlans").iter().enumerate() {
            let vlan_base = format!("{base}.vlans[{vlan_index}]");
            addresses(vlan, &vlan_base, label, report);
            routes(vlan, &vlan_base, report);
            vip(vlan, &vlan_base, control_plane, report);
        }
    }
}

fn addresses(device: &Node, base: &str, label: &str, report: &mut Report<'_>) {
    for (index, address) in device.items("addresses").iter().enumerate() {
        if let Some(value) = address.as_str()
            && let Err(reason) = formats::address(value)
        {
            report.error(
                DOC,
                &format!("{base}.addresses[{index}]"),
                address.position,
                format!("[networking.os.device.addresses] {label:?}: {reason}"),
            );
        }
    }
}

fn routes(device: &Node, base: &str, report: &mut Report<'_>) {
    for (index, route) in device.items("routes").iter().enumerate() {
        let path = format!("{base}.routes[{index}]");
        let network = route.get("network").and_then(Node::as_str).filter(|n| !n.is_empty());
        let gateway = route.get("gateway").and_then(Node::as_str).filter(|g| !g.is_empty());
        if network.is_none() && gateway.is_none() {
            report.error(
                DOC,
                &path,
                route.position,
                format!("[networking.os.device.route[{index}]] either network or gateway should be set"),
            );
        }
        if let Some(network) = network
            && formats::cidr(network).is_err()
        {
            report.error(
                DOC,
                &format!("{path}.network"),
                route.position,
                format!("[networking.os.device.route[{index}].network] {network:?}: invalid network address"),
            );
        }
    }
}

fn vip(device: &Node, base: &str, control_plane: bool, report: &mut Report<'_>) {
    let Some(vip) = device.get("vip").filter(|v| !v.is_null()) else {
        return;
    };
    let path = format!("{base}.vip");
    if !control_plane {
        report.error(
            DOC,
            &path,
            vip.position,
            "virtual (shared) IP is not allowed on non-controlplane nodes",
        );
    }
    let ip = vip.get("ip").and_then(Node::as_str).unwrap_or_default();
    if ip.parse::<std::net::IpAddr>().is_err() {
        report.error(
            DOC,
            &format!("{path}.ip"),
            vip.position,
            format!("[networking.os.device.vip] failed to parse {ip:?} as IP address"),
        );
    }
    if let Some(hcloud) = vip.get("hcloud").filter(|h| !h.is_null())
        && hcloud.get("apiToken").and_then(Node::as_str).is_none_or(str::is_empty)
    {
        report.error(
            DOC,
            &format!("{path}.hcloud.apiToken"),
            hcloud.position,
            "the hcloud VIP needs a Hetzner Cloud API token (apiToken)",
        );
    }
}

fn node_metadata_rules(root: &Node, report: &mut Report<'_>) {
    type Rule = fn(&str, &str) -> Result<(), String>;
    let sections: [(&str, &str, Rule); 3] = [
        ("machine.nodeLabels", "invalid machine node labels", |k, v| {
            formats::label_key(k).and_then(|()| formats::label_value(k, v))
        }),
        ("machine.nodeAnnotations", "invalid machine node annotations", |k, _| {
            formats::label_key(k)
        }),
        ("machine.nodeTaints", "invalid machine node taints", formats::taint),
    ];
    for (path, message, rule) in sections {
        let Some(map) = at(root, path).and_then(Node::as_mapping) else {
            continue;
        };
        for entry in map.entries() {
            let value = entry.value.as_str().unwrap_or_default();
            if let Err(reason) = rule(entry.key.text(), value) {
                report.error(
                    DOC,
                    &Path::parse(path)
                        .map(|p| p.key(entry.key.text()).to_string())
                        .unwrap_or_default(),
                    entry.key_position,
                    format!("{message}: {reason}"),
                );
            }
        }
    }
}

/// Why a check refuses a value, and how loudly.
enum Refusal {
    /// The config is unusable.
    Error(String),
    /// Worth telling; the config is still usable.
    Warning(String),
}

/// Checks the string at `path`: absent or empty is the error `missing` (at no position);
/// otherwise `check` may refuse the value, reported at it.
fn required_text(
    root: &Node,
    path: &str,
    missing: &str,
    report: &mut Report<'_>,
    check: impl FnOnce(&str) -> Result<(), Refusal>,
) {
    match text(root, path) {
        None | Some("") => report.error(DOC, path, None, missing),
        Some(value) => match check(value) {
            Ok(()) => {}
            Err(Refusal::Error(message)) => report.error(DOC, path, pos(at(root, path)), message),
            Err(Refusal::Warning(message)) => report.warning(DOC, path, pos(at(root, path)), message),
        },
    }
}

fn cluster_rules(root: &Node, control_plane: bool, report: &mut Report<'_>) {
    let endpoint_node = at(root, "cluster.controlPlane.endpoint");
    match endpoint_node.and_then(Node::as_str) {
        None | Some("") => {
            report.error(
                DOC,
                "cluster.controlPlane.endpoint",
                pos(at(root, "cluster.controlPlane")),
                "cluster controlplane endpoint is required",
            );
            return;
        }
        Some(endpoint) => {
            if let Err(reason) = formats::endpoint(endpoint) {
                report.error(
                    DOC,
                    "cluster.controlPlane.endpoint",
                    pos(endpoint_node),
                    format!("invalid controlplane endpoint: {reason}"),
                );
            }
        }
    }

    required_text(
        root,
        "cluster.clusterName",
        "the cluster name is required (.cluster.clusterName)",
        report,
        |name| {
            if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err(Refusal::Error(format!(
                    "cluster name {name:?} must not contain spaces or control characters"
                )))
            } else {
                Ok(())
            }
        },
    );
    required_text(
        root,
        "cluster.token",
        "the Kubernetes bootstrap token is required (.cluster.token)",
        report,
        |token| {
            formats::token(token).map_err(|reason| {
                Refusal::Error(format!("invalid Kubernetes bootstrap token (.cluster.token): {reason}"))
            })
        },
    );

    if let Some(domain) = text(root, "cluster.network.dnsDomain")
        && formats::dns_name(domain).is_err()
    {
        report.error(
            DOC,
            "cluster.network.dnsDomain",
            pos(at(root, "cluster.network.dnsDomain")),
            format!("{domain:?} is not a valid DNS name"),
        );
    }
    each_item(root, "cluster.network.podSubnets", "pod subnet", formats::cidr, report);
    each_item(
        root,
        "cluster.network.serviceSubnets",
        "service subnet",
        formats::cidr,
        report,
    );

    if let Some(cni) = at(root, "cluster.network.cni").filter(|_| control_plane) {
        let name = text(root, "cluster.network.cni.name").unwrap_or_default();
        let urls = items(root, "cluster.network.cni.urls");
        match name {
            "flannel" | "" if !urls.is_empty() => report.error(
                DOC,
                "cluster.network.cni.urls",
                cni.position,
                "\"urls\" field should be empty for \"flannel\" CNI",
            ),
            "flannel" | "none" | "" => {}
            "custom" => {
                if urls.is_empty() {
                    report.warning(
                        DOC,
                        "cluster.network.cni.urls",
                        cni.position,
                        "\"urls\" field should not be empty for \"custom\" CNI",
                    );
                }
            }
            _ => report.error(
                DOC,
                "cluster.network.cni.name",
                cni.position,
                "cni name should be one of [\"flannel\", \"custom\", \"none\"]",
            ),
        }
    }

    each_item(
        root,
        "cluster.apiServer.certSANs",
        "certSANs entry",
        formats::san,
        report,
    );

    if !control_plane {
        if text(root, "cluster.ca.key").is_some_and(|k| !k.is_empty()) {
            report.error(
                DOC,
                "cluster.ca.key",
                pos(at(root, "cluster.ca")),
                "issuing Kubernetes API CA key is not allowed on non-controlplane nodes (.cluster.ca)",
            );
        }
        if let Some(etcd) = at(root, "cluster.etcd") {
            report.error(
                DOC,
                "cluster.etcd",
                etcd.position,
                "etcd config is only allowed on control plane machines",
            );
        }
    }

    let discovery_enabled = flag(root, "cluster.discovery.enabled") == Some(true);
    let service_disabled = flag(root, "cluster.discovery.registries.service.disabled") == Some(true);
    if discovery_enabled && !service_disabled {
        for (field, message) in [
            ("cluster.id", "cluster discovery service requires .cluster.id"),
            ("cluster.secret", "cluster discovery service requires .cluster.secret"),
        ] {
            if text(root, field).is_none_or(str::is_empty) {
                report.error(DOC, field, pos(at(root, "cluster.discovery")), message);
            }
        }
    }

    let mut names = HashSet::new();
    for (index, manifest) in items(root, "cluster.inlineManifests").iter().enumerate() {
        let path = format!("cluster.inlineManifests[{index}].name");
        let name = manifest.get("name").and_then(Node::as_str).unwrap_or_default();
        if name.is_empty() {
            report.error(DOC, &path, manifest.position, "inline manifest name can't be empty");
        } else if !names.insert(name.to_string()) {
            report.error(
                DOC,
                &path,
                manifest.position,
                format!("inline manifest name {name:?} is duplicate"),
            );
        }
    }
}
