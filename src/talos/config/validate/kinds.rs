//! Semantic checks of typed documents (`HostnameConfig`, `HCloudVIPConfig`,
//! `Layer2VIPConfig`, named documents) and of conflicts between documents and with their
//! legacy v1alpha1 fields (reference `talos.md` §B.5, §E.1, §E.4).

use std::collections::HashMap;

use super::Report;
use crate::talos::config::documents::{ConfigDocuments, DocumentId};
use crate::talos::config::path::Path;
use crate::talos::config::shape::{KindLookup, registry};
use crate::talos::config::value::Node;
use crate::yaml::resolve::old_bool;

fn field<'a>(document: &'a Node, key: &str) -> Option<&'a Node> {
    document.get(key).filter(|n| !n.is_null())
}

fn text<'a>(document: &'a Node, key: &str) -> &'a str {
    field(document, key).and_then(Node::as_str).unwrap_or_default()
}

fn legacy<'a>(docs: &'a ConfigDocuments, path: &str) -> Option<&'a Node> {
    docs.v1alpha1()?
        .get_path(&Path::parse(path).ok()?)
        .filter(|n| !n.is_null())
}

/// Every legacy VIP (`interfaces[].vip`, `interfaces[].vlans[].vip`) with its path.
fn legacy_vips(docs: &ConfigDocuments) -> Vec<(String, String)> {
    let mut vips = Vec::new();
    let interfaces = legacy(docs, "machine.network.interfaces")
        .and_then(Node::as_sequence)
        .unwrap_or_default();
    for (i, device) in interfaces.iter().enumerate() {
        let mut push = |node: &Node, path: String| {
            if let Some(ip) = node.get("vip").and_then(|v| v.get("ip")).and_then(Node::as_str) {
                vips.push((ip.to_string(), path));
            }
        };
        push(device, format!("machine.network.interfaces[{i}].vip"));
        for (j, vlan) in device.items("vlans").iter().enumerate() {
            push(vlan, format!("machine.network.interfaces[{i}].vlans[{j}].vip"));
        }
    }
    vips
}

/// Runs the checks of every typed document.
pub(super) fn check(docs: &ConfigDocuments, report: &mut Report<'_>) {
    let contract = report.options().contract;
    let control_plane = matches!(
        legacy(docs, "machine.type").and_then(Node::as_str),
        Some("controlplane" | "init")
    );
    let mut vip_names: HashMap<String, String> = HashMap::new();
    for document in docs.typed() {
        let Ok(id @ DocumentId::Typed { .. }) = DocumentId::of(document) else {
            continue;
        };
        let label = id.to_string();
        let kind = id.kind();
        let position = document.position;
        if let KindLookup::Found(found) = registry().kind(kind, "v1alpha1", contract)
            && found.named
            && text(document, "name").is_empty()
        {
            report.error(&label, "name", position, "name must be specified");
        }
        match kind {
            "HostnameConfig" => hostname(document, &label, docs, report),
            "HCloudVIPConfig" | "Layer2VIPConfig" => {
                vip_document(document, &label, kind, control_plane, docs, report);
                let name = text(document, "name").to_string();
                if let Some(other) = vip_names.insert(name, label.clone()) {
                    report.error(
                        &label,
                        "",
                        position,
                        format!("conflicting documents: {other} and {label}"),
                    );
                }
            }
            "KubeSpanConfig" if legacy(docs, "machine.network.kubespan").is_some() => {
                report.error(
                    &label,
                    "",
                    position,
                    "KubeSpan is already configured in the v1alpha1 config (.machine.network.kubespan)",
                );
            }
            "TimeSyncConfig" if legacy(docs, "machine.time").is_some() => {
                report.warning(
                    &label,
                    "",
                    position,
                    "time sync is also configured in the v1alpha1 config (.machine.time); keep one of them",
                );
            }
            "ResolverConfig" if legacy(docs, "machine.network.nameservers").is_some() => {
                report.warning(
                    &label,
                    "",
                    position,
                    "nameservers are also configured in the v1alpha1 config (.machine.network.nameservers); keep one of them",
                );
            }
            "RegistryMirrorConfig" => {
                let name = text(document, "name");
                let mirrors = legacy(docs, "machine.registries.mirrors").and_then(Node::as_mapping);
                if mirrors.is_some_and(|m| m.contains_key(name)) {
                    report.warning(
                        &label,
                        "",
                        position,
                        format!("the mirror for {name} is also configured in the v1alpha1 config (.machine.registries.mirrors)"),
                    );
                }
            }
            _ => {}
        }
    }
}

fn hostname(document: &Node, label: &str, docs: &ConfigDocuments, report: &mut Report<'_>) {
    let position = document.position;
    let auto = field(document, "auto").and_then(Node::as_str);
    let hostname = text(document, "hostname");
    if auto.is_none() && hostname.is_empty() {
        report.error(label, "", position, "either 'auto' or 'hostname' must be set");
    }
    if auto.unwrap_or("off") != "off" && !hostname.is_empty() {
        report.error(
            label,
            "",
            position,
            "'auto' and 'hostname' cannot be set at the same time (set auto: off for a static hostname)",
        );
    }
    if let Some(value) = auto
        && !matches!(value, "off" | "stable")
    {
        report.error(label, "auto", position, format!("invalid value for 'auto': {value}"));
    }
    if !hostname.is_empty() {
        if hostname.len() > 253 {
            report.error(
                label,
                "hostname",
                position,
                format!("fqdn is too long: {}", hostname.len()),
            );
        }
        let first = hostname.split('.').next().unwrap_or_default();
        if first.is_empty() || first.len() > 63 {
            report.error(label, "hostname", position, format!("invalid hostname {first:?}"));
        }
    }
    if legacy(docs, "machine.network.hostname")
        .and_then(Node::as_str)
        .is_some_and(|h| !h.is_empty())
    {
        report.error(label, "", position, "static hostname is already set in v1alpha1 config");
    }
    let stable = legacy(docs, "machine.features.stableHostname")
        .and_then(|n| n.as_bool().or_else(|| n.as_str().and_then(old_bool)));
    if stable == Some(true) {
        report.error(label, "", position, "stable hostname is already set in v1alpha1 config");
    }
}

fn vip_document(
    document: &Node,
    label: &str,
    kind: &str,
    control_plane: bool,
    docs: &ConfigDocuments,
    report: &mut Report<'_>,
) {
    let position = document.position;
    let name = text(document, "name");
    if name.is_empty() {
        // Reported once for every named document.
    } else if let Err(e) = name.parse::<std::net::IpAddr>() {
        report.error(label, "name", position, format!("name must be a valid IP address: {e}"));
    }
    if text(document, "link").is_empty() {
        report.error(label, "link", position, "link must be specified");
    }
    if kind == "HCloudVIPConfig" && text(document, "apiToken").is_empty() {
        report.error(label, "apiToken", position, "apiToken must be specified");
    }
    if !control_plane {
        report.error(
            label,
            "",
            position,
            "virtual (shared) IP is not allowed on non-controlplane nodes (the VIP election runs on etcd, which only control planes run)",
        );
    }
    for (ip, path) in legacy_vips(docs) {
        if ip == name {
            report.error(
                label,
                "",
                position,
                format!("the VIP {name} is configured twice: in this document and in the v1alpha1 config (.{path})"),
            );
        }
    }
}
