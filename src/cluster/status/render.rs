//! The text form of a [`StatusReport`]: a summary, one table row per node, then the
//! problems and notices.

use std::fmt::Write as _;

use super::{NodeStatus, StatusReport};

/// The report as a table for a terminal.
pub fn text(report: &StatusReport) -> String {
    let mut out = String::new();
    let verdict = if report.healthy { "healthy" } else { "DEGRADED" };
    let _ = writeln!(out, "cluster {}: {verdict}", report.cluster);
    let endpoint = &report.endpoint;
    let address = endpoint
        .live
        .as_ref()
        .and_then(|e| e.address.clone())
        .unwrap_or_else(|| "(missing)".into());
    let on = endpoint
        .assigned_to
        .as_ref()
        .map(|server| format!(" on {server}"))
        .unwrap_or_default();
    let ready = if endpoint.ready { "ready" } else { "NOT READY" };
    let _ = writeln!(
        out,
        "endpoint: {} {} {address}{on}, /readyz {ready}",
        endpoint.kind, endpoint.name
    );
    let etcd = &report.etcd;
    let _ = writeln!(
        out,
        "etcd: {} of {} members healthy ({} needed), {}",
        etcd.healthy,
        etcd.members,
        etcd.needed,
        if etcd.quorum { "quorum" } else { "NO QUORUM" }
    );
    let header = [
        "NODE", "ROLE", "SERVER", "HETZNER", "PUBLIC", "PRIVATE", "TALOS", "CONFIG", "ETCD", "KUBELET",
    ];
    let rows: Vec<[String; 10]> = report.nodes.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let _ = writeln!(out, "\n{}", line(header.to_vec()));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
    for (title, lines) in [("problems", &report.problems), ("notices", &report.notices)] {
        if !lines.is_empty() {
            let _ = writeln!(out, "\n{title}:");
            for text in lines {
                let _ = writeln!(out, "  {text}");
            }
        }
    }
    out.trim_end().to_string()
}

fn row(node: &NodeStatus) -> [String; 10] {
    let dash = || "-".to_string();
    let config = match node.config.in_sync {
        Some(true) => "in-sync",
        Some(false) => "differs",
        None => "unknown",
    };
    let talos = match (&node.talos.version, node.hetzner_status.as_deref()) {
        (Some(version), _) => version.clone(),
        (None, Some("running")) => "unreachable".into(),
        _ => dash(),
    };
    let etcd = match (node.etcd.as_str(), node.etcd_healthy) {
        (role, Some(false)) => format!("{role} (unhealthy)"),
        (role, _) => role.to_string(),
    };
    [
        node.name.clone(),
        node.role.to_string(),
        node.server.clone(),
        node.hetzner_status.clone().unwrap_or_else(|| "missing".into()),
        node.public_ipv4.clone().unwrap_or_else(dash),
        node.private_ip.map_or_else(dash, |ip| ip.to_string()),
        talos,
        config.to_string(),
        etcd,
        node.kubelet.clone().unwrap_or_else(dash),
    ]
}
