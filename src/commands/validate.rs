//! `validate`: load and check cluster.yaml, print a one-screen summary (or the checked
//! description as JSON). Everything is local; problems come back as `spec::Error` (and,
//! for the patch files, `render::RenderError`) and are printed by `main` (exit 2).

use std::fmt::Write as _;
use std::path::Path;

use talos_hcloud::spec::{self, NodeGroup, Spec};
use talos_hcloud::talos::config::render;

use super::CliError;
use crate::printer::{Printer, Report};

/// Runs `validate` for the cluster description at `config`.
pub fn run(config: &Path, printer: &Printer) -> Result<(), CliError> {
    let spec = spec::load(config)?;
    // The patch files must be patches the cluster's Talos line accepts, or `config gen`
    // would fail on what `validate` passed.
    render::check_patch_files(&spec)?;
    let json = serde_json::json!({
        "ok": true,
        "config": config,
        "cluster": &spec,
        "resources": spec.resource_names(),
    });
    printer.result(&Report::new(summary(config, &spec), json));
    Ok(())
}

/// The text summary: one line per aspect, names first.
fn summary(config: &Path, spec: &Spec) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<15} {value}");
    };
    line("valid", config.display().to_string());
    line("cluster", format!("{} (resources named {}…)", spec.name, spec.prefix));
    line(
        "location",
        format!(
            "{} ({}), network zone {}",
            spec.location,
            spec.location.city(),
            spec.network.zone
        ),
    );
    let architectures = spec
        .architectures()
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let schematic = match &spec.talos.schematic.source {
        spec::SchematicSource::File(path) => path.display().to_string(),
        spec::SchematicSource::Inline => "inline".to_owned(),
    };
    line(
        "talos",
        format!(
            "{} for {architectures}, schematic {schematic} ({})",
            spec.talos.version, spec.talos.schematic.id
        ),
    );
    line("kubernetes", spec.kubernetes.version.to_string());
    line(
        "network",
        format!(
            "{}, subnet {}, pods {}, services {}",
            spec.network.cidr, spec.network.subnet, spec.network.pods, spec.network.services
        ),
    );
    line("endpoint", format!("{} ({})", spec.endpoint, spec.api_endpoint_name()));
    line(
        "admin access",
        spec.firewall
            .admin_cidrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    );
    line("control plane", group(spec, &spec.controlplane));
    if spec.workers.is_empty() {
        line("worker pools", "none".to_owned());
    }
    for (index, pool) in spec.workers.iter().enumerate() {
        let name = pool.pool.as_ref().map(|p| p.as_str()).unwrap_or_default();
        line(
            if index == 0 { "worker pools" } else { "" },
            format!("{name}: {}", group(spec, pool)),
        );
    }
    if spec.load_balancers.is_empty() {
        line("load balancers", "none".to_owned());
    }
    for (index, lb) in spec.load_balancers.iter().enumerate() {
        let services = lb
            .services
            .iter()
            .map(|s| {
                let proxy = if s.proxy_protocol { " (proxy protocol)" } else { "" };
                format!("{}→{}{proxy}", s.listen, s.target)
            })
            .collect::<Vec<_>>()
            .join(", ");
        line(
            if index == 0 { "load balancers" } else { "" },
            format!(
                "{}: {} in {} → pool {}, {services}",
                lb.name, lb.lb_type, lb.location, lb.target_pool
            ),
        );
    }
    let files = |n: usize| {
        if n == 1 {
            "1 file".to_owned()
        } else {
            format!("{n} files")
        }
    };
    line(
        "patches",
        format!(
            "all: {}, controlplane: {}, worker: {}",
            files(spec.patches.all.len()),
            files(spec.patches.controlplane.len()),
            files(spec.patches.worker.len())
        ),
    );
    line("sysctls", spec.sysctls.len().to_string());
    out
}

/// `3 × cax11 (arm64): cp-1, cp-2 (nbg1), cp-3`: nodes outside the cluster's default
/// location show theirs.
fn group(spec: &Spec, group: &NodeGroup) -> String {
    let nodes = group
        .nodes
        .iter()
        .map(|node| {
            let mut text = node.name.to_string();
            if node.location != spec.location {
                let _ = write!(text, " ({})", node.location);
            }
            if let Some(ip) = node.ip {
                let _ = write!(text, " {ip}");
            }
            text
        })
        .collect::<Vec<_>>()
        .join(", ");
    let nodes = if nodes.is_empty() { "no nodes".to_owned() } else { nodes };
    format!(
        "{} × {} ({}): {nodes}",
        group.nodes.len(),
        group.server_type,
        group.architecture()
    )
}
