//! What an apply did, as the closing summary shows it (text and `--output json`).

use std::time::Instant;

use serde::Serialize;

use super::talos::TalosOutcome;

/// The time each phase took, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases(Vec<(String, f64)>);

impl Phases {
    /// Records phase `name` as started at `started` and finished now.
    pub fn record(&mut self, name: &str, started: Instant) {
        self.0.push((name.to_string(), started.elapsed().as_secs_f64()));
    }

    /// The phases and their seconds.
    pub fn all(&self) -> &[(String, f64)] {
        &self.0
    }
}

/// The result of `apply`.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The cluster name.
    pub cluster: String,
    /// Whether the secrets bundle was created by this run.
    pub secrets_created: bool,
    /// `kind name` of every resource created, in creation order.
    pub created: Vec<String>,
    /// Nodes whose servers were replaced through the node replacement runbook.
    pub replaced: Vec<String>,
    /// `kind name` of every resource deleted.
    pub deleted: Vec<String>,
    /// Resources changed in place (firewall rules, load balancer services, labels,
    /// protection), with what changed.
    pub updated: Vec<crate::cluster::update::Updated>,
    /// Planned changes that cannot happen in place (they need `node replace`).
    pub left: Vec<crate::cluster::update::Left>,
    /// Servers whose config-hash label this run updated.
    pub hashes_recorded: Vec<String>,
    /// The server the floating IP was assigned to by this run.
    pub floating_ip_assigned: Option<String>,
    /// The resources that needed nothing.
    pub unchanged: usize,
    /// The Talos phase.
    pub talos: TalosOutcome,
    /// The cluster endpoint.
    pub endpoint: String,
    /// The time each phase took.
    pub phases: Phases,
    /// Hetzner API requests this run sent.
    pub requests: u64,
}

impl ApplyReport {
    /// The closing summary as text.
    pub fn text(&self) -> String {
        let mut lines = Vec::new();
        if self.created.is_empty()
            && self.updated.is_empty()
            && self.replaced.is_empty()
            && self.deleted.is_empty()
            && self.floating_ip_assigned.is_none()
        {
            lines.push(format!(
                "Hetzner: nothing to change ({} resources as desired)",
                self.unchanged
            ));
        } else {
            lines.push(format!(
                "Hetzner: created {} resource(s), changed {} in place, replaced {} server(s), deleted {}",
                self.created.len(),
                self.updated.len(),
                self.replaced.len(),
                self.deleted.len()
            ));
            for made in &self.created {
                lines.push(format!("  + {made}"));
            }
            for node in &self.replaced {
                lines.push(format!("  -/+ node {node} (server replaced)"));
            }
            for gone in &self.deleted {
                lines.push(format!("  - {gone}"));
            }
            for updated in &self.updated {
                lines.push(format!(
                    "  ~ {} {}: {}",
                    updated.kind.as_str(),
                    updated.name,
                    updated.done.join(", ")
                ));
            }
            if let Some(server) = &self.floating_ip_assigned {
                lines.push(format!("  floating IP assigned to {server}"));
            }
        }
        for left in &self.left {
            lines.push(format!(
                "  ! {} {} {}: {} (run `talos-hcloud node replace`)",
                left.kind.as_str(),
                left.name,
                left.field,
                left.reason
            ));
        }
        let applied = self.talos.delivered.iter().filter(|(_, d)| *d == "applied").count();
        lines.push(format!(
            "Talos: {applied} config(s) delivered, {} rolled, etcd {}, {} members healthy",
            self.talos.rolled.len(),
            self.talos.bootstrap,
            self.talos.etcd_members
        ));
        lines.push(format!("endpoint: {}", self.endpoint));
        lines.push(format!("kubeconfig: {}", self.talos.kubeconfig.display()));
        lines.push(format!("talosconfig: {}", self.talos.talosconfig.display()));
        if let Some(merged) = &self.talos.merged {
            lines.push(format!("merged into: {}", merged.display()));
        }
        let phases: Vec<String> = self
            .phases
            .all()
            .iter()
            .map(|(name, secs)| format!("{name} {secs:.1}s"))
            .collect();
        lines.push(format!("phases: {}", phases.join(", ")));
        lines.push(format!("API requests: {}", self.requests));
        lines.join("\n")
    }
}
