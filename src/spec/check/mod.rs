//! The second stage: every rule of `docs/cluster-yaml.md` applied to the raw description,
//! all problems collected, and a [`Spec`] built when there are none. Reads only local files
//! (the schematic, the patch files); never the network.
//!
//! One file per part of cluster.yaml: [`fields`] (names, locations, versions shared by
//! all parts), [`network`], [`firewall`], [`nodes`] (control plane and worker pools),
//! [`talos`] (version, architectures, schematic), [`load_balancers`], [`patches`] and
//! [`sysctls`]. This file holds the [`Checker`] and the order the parts run in.

mod fields;
mod firewall;
mod load_balancers;
mod network;
mod nodes;
mod patches;
mod sysctls;
mod talos;

use std::path::{Path, PathBuf};

use super::model::{Endpoint, Kubernetes, Role, Spec};
use super::names::{ClusterName, Prefix};
use super::raw::{RawCluster, example};
use super::reader::Reader;
use super::version::KubernetesVersion;
use crate::excerpt::excerpt;
use crate::spec::diagnostic::{Span, Spanned, suggest};
use nodes::{GroupDraft, finish_group};

const CLUSTER_NAME_RULE: &str = "a Hetzner label value: 1–63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit, e.g. `tootcommunity-prod`";
const PREFIX_RULE: &str = "lowercase letters, digits and `-`, starting with a letter or digit, e.g. `tc-prod-`";
const DNS_LABEL_RULE: &str =
    "a lowercase DNS label: 1–63 letters `a-z`, digits and `-`, starting and ending with a letter or digit";

/// Checks `raw` and builds the [`Spec`]; every problem goes to `reader.diagnostics`. Returns
/// `None` when anything is wrong (the caller reports the diagnostics).
pub(crate) fn check(reader: &mut Reader<'_>, raw: &RawCluster, path: &Path, base_dir: &Path) -> Option<Spec> {
    let mut checker = Checker { reader, base_dir };
    let spec = checker.run(raw, path);
    if checker.reader.diagnostics.is_empty() {
        spec
    } else {
        None
    }
}

/// The rules of all parts, sharing the reader that collects their diagnostics.
struct Checker<'r, 's> {
    /// Builds diagnostics (file, source line, caret) and collects them.
    reader: &'r mut Reader<'s>,
    /// cluster.yaml's folder, against which the schematic and patch paths resolve.
    base_dir: &'r Path,
}

impl Checker<'_, '_> {
    fn error(
        &mut self,
        span: Span,
        field: &str,
        message: impl Into<String>,
        expected: &str,
        suggestion: Option<String>,
    ) {
        let diagnostic = self.reader.diagnostic(span, field, message).suggestion(suggestion);
        let diagnostic = if expected.is_empty() {
            diagnostic
        } else {
            diagnostic.expected(expected)
        };
        self.reader.push(diagnostic);
    }

    /// Looks a written name up with `find`; a name it does not know is reported as "unknown
    /// WHAT `name`" with the expected form and the closest of the `known` names.
    fn known<'k, T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
        example: &str,
        known: impl IntoIterator<Item = &'k str>,
        find: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let found = find(&value.value);
        if found.is_none() {
            let suggestion = suggest(&value.value, known);
            self.error(
                value.span,
                field,
                format!("unknown {what} `{}`", excerpt(&value.value).escape_debug()),
                example,
                suggestion,
            );
        }
        found
    }

    fn run(&mut self, raw: &RawCluster, path: &Path) -> Option<Spec> {
        let name = raw
            .name
            .as_ref()
            .and_then(|n| self.name(n, "name", "cluster name", CLUSTER_NAME_RULE, ClusterName::parse));
        let prefix = raw.prefix.as_ref().and_then(|p| {
            self.name(p, "prefix", "prefix", PREFIX_RULE, Prefix::parse)
                .map(|v| Spanned::new(v, p.span))
        });
        let location = raw.location.as_ref().and_then(|l| self.location(l, "location"));

        let network = raw.network.as_ref().and_then(|n| self.network(n, location.as_ref()));
        let zone = network
            .as_ref()
            .map(|n| n.zone)
            .or_else(|| location.map(|l| l.value.network_zone()));
        if let (Some(location), Some(network)) = (&location, &network) {
            self.in_zone(location, "location", network.zone);
        }

        let endpoint = match &raw.endpoint {
            None => Some(Endpoint::FloatingIp),
            Some(e) => self.known(
                e,
                "endpoint",
                "endpoint kind",
                example::ENDPOINT,
                ["floating-ip", "load-balancer"],
                Endpoint::from_name,
            ),
        };

        let firewall = raw
            .firewall
            .as_ref()
            .and_then(|f| self.firewall(f.admin_cidrs.as_ref()));
        let kubernetes = raw
            .kubernetes
            .as_ref()
            .and_then(|k| k.version.as_ref())
            .and_then(|v| {
                self.version(
                    v,
                    "kubernetes.version",
                    example::KUBERNETES_VERSION,
                    KubernetesVersion::parse,
                )
            })
            .map(|version| Kubernetes { version });

        let default_location = location.map(|l| l.value);
        let controlplane = raw
            .controlplane
            .as_ref()
            .and_then(|g| self.group(g, Role::ControlPlane, default_location, zone));
        let mut workers = Vec::new();
        let mut workers_ok = true;
        for group in &raw.workers {
            match self.group(group, Role::Worker, default_location, zone) {
                Some(draft) => workers.push(draft),
                None => workers_ok = false,
            }
        }
        self.unique_pools(&workers);
        let mut groups: Vec<&GroupDraft> = controlplane.iter().collect();
        groups.extend(workers.iter());
        self.unique_nodes(&groups);
        if let Some(prefix) = &prefix {
            self.node_name_lengths(&groups, prefix);
            self.derived_name_lengths(prefix, &workers);
        }
        if let Some(network) = &network {
            self.node_ips(&groups, network, raw.network.as_ref().and_then(|n| n.subnet.as_ref()));
        }

        let talos = raw.talos.as_ref().and_then(|t| self.talos(t, &groups));

        let declared_pools: Vec<&str> = raw
            .workers
            .iter()
            .filter_map(|w| w.pool.as_ref().map(|p| p.value.as_str()))
            .collect();
        let load_balancers = self.load_balancers(
            &raw.load_balancers,
            default_location,
            zone,
            &workers,
            &declared_pools,
            prefix.as_ref(),
        );
        if let (Some(network), Some(endpoint), Some(subnet)) =
            (&network, endpoint, raw.network.as_ref().and_then(|n| n.subnet.as_ref()))
        {
            let nodes: usize = groups.iter().map(|g| g.nodes.len()).sum();
            let balancers = raw.load_balancers.len() + usize::from(endpoint == Endpoint::LoadBalancer);
            self.subnet_capacity(network, subnet, nodes + balancers);
        }

        let patches = self.patches(raw);
        let sysctls = self.sysctls(&raw.sysctls);

        Some(Spec {
            path: path.to_path_buf(),
            base_dir: if self.base_dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                self.base_dir.to_path_buf()
            },
            name: name?,
            prefix: prefix?.value,
            location: location?.value,
            talos: talos?,
            kubernetes: kubernetes?,
            network: network?,
            endpoint: endpoint?,
            firewall: firewall?,
            controlplane: controlplane.map(finish_group)?,
            workers: if workers_ok {
                workers.into_iter().map(finish_group).collect()
            } else {
                return None;
            },
            load_balancers: load_balancers?,
            patches: patches?,
            sysctls: sysctls?,
        })
    }
}

/// Resolves `relative` against cluster.yaml's folder (kept relative when that folder is the
/// current one).
pub(crate) fn resolve(base_dir: &Path, relative: &Path) -> PathBuf {
    if base_dir.as_os_str().is_empty() {
        relative.to_path_buf()
    } else {
        base_dir.join(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_keeps_relative_paths_short() {
        assert_eq!(resolve(Path::new(""), Path::new("a/b.yaml")), PathBuf::from("a/b.yaml"));
        assert_eq!(
            resolve(Path::new("conf"), Path::new("a/b.yaml")),
            PathBuf::from("conf/a/b.yaml")
        );
        assert_eq!(resolve(Path::new("conf"), Path::new("/etc/x")), PathBuf::from("/etc/x"));
    }
}
