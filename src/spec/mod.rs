//! The `cluster.yaml` model: loading, validation and diagnostics.
//!
//! Loading runs in two stages (style rule 3). `raw` reads the YAML into a marked tree and
//! mirrors it key by key with positions, rejecting unknown keys and wrong types; `check`
//! applies every rule (CIDRs, names, catalogue, cross-references, files) and builds the
//! typed [`Spec`]. Every problem of both stages is collected, so one run reports all of
//! them as [`Diagnostic`]s with `file:line:column`, field path, the expected form and a
//! "did you mean". Only local files are read (the schematic, patch files); nothing here
//! touches the network. [`resources`] derives resource names and labels from a [`Spec`].
//!
//! Left to others: parsing the schematic and computing its ID (`factory::schematic`, called
//! while checking), applying patches and
//! rendering machine configs (`talos::config`), comparing with live state (`cluster`).

pub mod catalog;
mod check;
mod diagnostic;
mod error;
mod model;
pub mod names;
mod raw;
mod reader;
pub mod resources;
mod version;

use std::path::Path;

pub use catalog::Architecture;
pub use diagnostic::{Diagnostic, Diagnostics, Span, Spanned, suggest};
pub use error::Error;
pub use model::{
    Endpoint, Firewall, Kubernetes, LOCAL_DIR_NAME, LoadBalancer, LoadBalancerService, LoadBalancerType, Location,
    Network, NetworkZone, Node, NodeGroup, Patches, Role, Schematic, SchematicSource, ServerType, Spec, Talos,
};
pub use names::{ClusterName, LoadBalancerName, NameError, NodeName, PoolName, Prefix};
pub use resources::{Labels, ResourceName};
pub use version::{KubernetesVersion, TalosVersion, VersionError};

/// Loads and checks a cluster description.
///
/// Relative paths inside it (the schematic, patch globs) are resolved against the file's
/// folder. Only local files are read.
///
/// # Errors
///
/// [`Error::Read`] when the file cannot be read, [`Error::Invalid`] with every problem
/// found when it breaks the format or a rule.
pub fn load(path: &Path) -> Result<Spec, Error> {
    let bytes = crate::input_file::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => parse(path, &text),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
            let line = valid.matches('\n').count() + 1;
            let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let mut diagnostics = Diagnostics::new();
            diagnostics.push(Diagnostic::new(
                path,
                None,
                Span { line, column, width: 1 },
                None,
                "the file is not UTF-8 text",
            ));
            Err(Error::Invalid {
                path: path.to_path_buf(),
                diagnostics,
            })
        }
    }
}

/// Checks a cluster description given as text; `path` names it in diagnostics and its
/// folder anchors relative paths (files it names are still read from disk).
///
/// # Errors
///
/// [`Error::Invalid`] with every problem found.
pub fn parse(path: &Path, text: &str) -> Result<Spec, Error> {
    let base_dir = path.parent().unwrap_or(Path::new(""));
    let mut reader = reader::Reader::new(path, text);
    let spec = match reader::load_documents(text) {
        Err(e) => {
            reader.push(reader::syntax_diagnostic(path, text, &e));
            None
        }
        Ok(documents) => match documents.as_slice() {
            [] => {
                let diagnostic = reader
                    .diagnostic(Span::START, "", "the file is empty")
                    .expected("a cluster description; see docs/cluster-yaml.md or the repository's cluster.yaml");
                reader.push(diagnostic);
                None
            }
            [document] => {
                let raw = raw::decode(&mut reader, document);
                check::check(&mut reader, &raw, path, base_dir)
            }
            [_, second, ..] => {
                let span = reader.span(second);
                let diagnostic = reader.diagnostic(
                    span,
                    "",
                    format!(
                        "the file holds {} YAML documents; a cluster description is one",
                        documents.len()
                    ),
                );
                reader.push(diagnostic);
                None
            }
        },
    };
    let mut diagnostics = reader.diagnostics;
    if spec.is_none() && diagnostics.is_empty() {
        // Every rejection records a diagnostic; this keeps a missed one from printing
        // "0 problems".
        diagnostics.push(Diagnostic::new(
            path,
            None,
            Span::START,
            None,
            "internal error: the description was rejected without a recorded reason (please report this)",
        ));
    }
    match spec {
        Some(spec) if diagnostics.is_empty() => Ok(spec),
        _ => {
            diagnostics.sort();
            Err(Error::Invalid {
                path: path.to_path_buf(),
                diagnostics,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(network: &str, extra: &str) -> String {
        format!(
            "name: t\nprefix: t-\nlocation: fsn1\ntalos:\n  version: v1.11.6\n  schematic: {{ customization: {{}} }}\n\
             kubernetes: {{ version: v1.34.1 }}\nnetwork: {network}\nfirewall: {{ admin_cidrs: [203.0.113.7/32] }}\n\
             controlplane: {{ type: cax11, count: 1 }}\n{extra}"
        )
    }

    /// The diagnostics of a description, as `field: message` lines.
    fn problems(text: &str) -> Vec<String> {
        match parse(Path::new("c.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .diagnostics()
                .expect("invalid, not unreadable")
                .iter()
                .map(|d| format!("{}: {}", d.field.as_deref().unwrap_or("-"), d.message))
                .collect(),
        }
    }

    #[test]
    fn network_rules() {
        let cases: &[(&str, &[&str])] = &[
            ("{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }", &[]),
            ("{ cidr: 172.16.0.0/12, subnet: 172.16.0.0/30 }", &[]),
            (
                "{ cidr: 192.168.0.0/24, subnet: 192.168.0.0/24, pods: 10.0.0.0/16, services: 10.1.0.0/16 }",
                &[],
            ),
            (
                "{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/31 }",
                &["network.subnet: 10.0.1.0/31 is smaller than /30"],
            ),
            (
                "{ cidr: 10.0.0.0/25, subnet: 10.0.0.0/26 }",
                &["network.cidr: 10.0.0.0/25 is smaller than /24"],
            ),
            (
                "{ cidr: 100.64.0.0/16, subnet: 100.64.1.0/24 }",
                &["network.cidr: 100.64.0.0/16 is not a private"],
            ),
            (
                "{ cidr: 10.0.0.0/16, subnet: 10.0.0.0/15 }",
                &["network.subnet: 10.0.0.0/15 is not inside network.cidr"],
            ),
            (
                "{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24, zone: us-east }",
                &["location: location `fsn1` is in network zone eu-central"],
            ),
            // Pods may sit inside the network range, but not on the node subnet or gateway.
            (
                "{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24, pods: 10.0.16.0/20, services: 10.0.8.0/21 }",
                &[],
            ),
            (
                "{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24, pods: 10.0.0.0/24 }",
                &["network.pods: network.pods 10.0.0.0/24 contains 10.0.0.1, the gateway"],
            ),
            (
                "{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24, services: 10.0.0.0/20 }",
                &["network.services: network.services 10.0.0.0/20 overlaps network.subnet"],
            ),
            (
                "{ cidr: 10.96.0.0/16, subnet: 10.96.1.0/24 }",
                &["network.services: network.services 10.96.0.0/12 (the default) overlaps network.subnet 10.96.1.0/24"],
            ),
            (
                "{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24, pods: 10.1.0.0/16, services: 10.1.128.0/17 }",
                &["network.services: network.services 10.1.128.0/17 overlaps network.pods 10.1.0.0/16"],
            ),
            (
                "{ cidr: 10.0.0.1/16, subnet: 10.0.1.0/24 }",
                &["network.cidr: `10.0.0.1/16` has host bits set"],
            ),
            (
                "{ cidr: 10.0.0.0, subnet: 10.0.1.0/24 }",
                &["network.cidr: `10.0.0.0` is an address, not a range"],
            ),
        ];
        for (network, expected) in cases {
            let found = problems(&description(network, ""));
            assert_eq!(found.len(), expected.len(), "{network}: {found:?}");
            for (found, expected) in found.iter().zip(expected.iter()) {
                assert!(
                    found.starts_with(expected),
                    "{network}: {found:?} does not start with {expected:?}"
                );
            }
        }
    }

    #[test]
    fn admin_cidr_rules() {
        let network = "{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }";
        let with = |list: &str| problems(&description(network, "").replace("[203.0.113.7/32]", list));
        assert!(with("[0.0.0.0/0, '::/0', 2001:db8::/32]").is_empty());
        assert_eq!(
            with("[2001:db8::1/32]"),
            ["firewall.admin_cidrs[0]: `2001:db8::1/32` has host bits set"]
        );
        assert_eq!(
            with("['2001:db8::1']"),
            ["firewall.admin_cidrs[0]: `2001:db8::1` is an address, not a range"]
        );
    }

    #[test]
    fn one_problem_per_mistake_even_when_sections_fail() {
        // A broken location must not also break the pools, the load balancer target and
        // the zone check.
        let text = description(
            "{ cidr: 10.0.0.0/16, subnet: 10.0.1.0/24 }",
            "workers: [{ pool: general, type: cax41, count: 2 }]\nload_balancers: [{ name: web, type: lb11, targets: { pool: general }, services: [{ listen: 80, target: 80 }] }]\n",
        )
        .replace("location: fsn1", "location: moon");
        assert_eq!(problems(&text), ["location: unknown location `moon`"]);
    }
}
