//! Machine configuration: an ordered YAML value model, generation per Talos version
//! contract, talos-hcloud's own settings on top, and (built on the same model) patches and
//! validation. The version contract is [`crate::talos::contract`] (re-exported here).
//!
//! The value model is the shared [`crate::yaml`] (re-exported here as [`value`], [`path`],
//! [`yaml`] and [`emit`]) plus [`documents`]: it keeps what Talos's typed structs would
//! lose — mapping order, scalar text and style, source positions — so generated configs
//! are byte-identical to `talosctl gen config` and every error can name
//! `file:line:column`. Secrets come from [`crate::talos::secrets`]; [`render`] puts it
//! all together for every node of a cluster.yaml. Writing files and talking to nodes is
//! left to the callers.

pub mod cluster_files;
pub mod documents;
pub mod gen_files;
pub mod generate;
pub mod hcloud_overlay;
pub mod patch;
pub mod render;
pub mod shape;
pub mod validate;

/// The shared YAML model ([`crate::yaml`]): Talos configs are read, edited and emitted
/// as these trees, so the config modules name them `config::path`, `config::value`.
pub use crate::yaml::{emit, path, value};

pub use crate::talos::contract::{Artifact, Contract, ContractError};
pub use crate::talos::machine_type::MachineType;
pub use crate::yaml::parse::{ParseError, ParsedDocument, parse_one, parse_stream};
pub use documents::{ConfigDocuments, DocumentError, DocumentId};
pub use generate::{GenerateError, GenerateOptions, generate};
pub use hcloud_overlay::{HcloudCluster, HcloudVip, NodeSettings, OverlayError, VipForm, apply_node_overlay};
pub use path::{Path, PathError, Segment};
pub use value::{Entry, Mapping, Node, Position, Resolved, Scalar, ScalarStyle, Value};

#[cfg(test)]
pub(crate) mod test_support {
    //! Locating the shared reference data from unit tests (same rules as the integration
    //! tests' `harness::reference_dir`).

    use std::path::PathBuf;

    /// The shared reference folder; panics with a clear message when it is missing.
    pub fn reference_dir() -> PathBuf {
        let candidates = [
            std::env::var_os("TALOS_HCLOUD_REFERENCE").map(PathBuf::from),
            Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference")),
            Some(PathBuf::from("/work/shared/reference")),
        ];
        candidates
            .into_iter()
            .flatten()
            .find(|dir| dir.join("talos-golden").is_dir())
            .expect("reference data not found: set TALOS_HCLOUD_REFERENCE to the shared reference folder")
    }

    /// Every golden config file: (`v1.10/base-controlplane.yaml`, contents).
    pub fn golden_files() -> Vec<(String, String)> {
        let root = reference_dir().join("talos-golden");
        let mut files = Vec::new();
        let mut versions: Vec<_> = std::fs::read_dir(&root)
            .expect("talos-golden is readable")
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .collect();
        versions.sort_by_key(|e| e.file_name());
        for version in versions {
            let mut names: Vec<_> = std::fs::read_dir(version.path())
                .expect("golden version folder is readable")
                .filter_map(Result::ok)
                .collect();
            names.sort_by_key(|e| e.file_name());
            for file in names {
                let text = std::fs::read_to_string(file.path()).expect("golden file is UTF-8");
                files.push((
                    format!(
                        "{}/{}",
                        version.file_name().to_string_lossy(),
                        file.file_name().to_string_lossy()
                    ),
                    text,
                ));
            }
        }
        assert!(
            files.len() >= 8,
            "expected at least 8 golden files under {}",
            root.display()
        );
        files
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::golden_files;
    use super::*;

    #[test]
    fn every_golden_file_round_trips_byte_for_byte() {
        for (name, text) in golden_files() {
            let docs = ConfigDocuments::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(docs.to_yaml(), text, "{name} does not round-trip");
            let nodes: Vec<Node> = parse_stream(&text)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .into_iter()
                .map(|d| d.root)
                .collect();
            assert_eq!(
                emit::emit_stream(&nodes),
                text,
                "{name} does not round-trip as a stream"
            );
        }
    }

    #[test]
    fn golden_files_have_the_expected_document_structure() {
        for (name, text) in golden_files() {
            let docs = ConfigDocuments::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let v1alpha1 = docs.v1alpha1().expect("v1alpha1 document");
            let machine_type = v1alpha1.get_path(&Path::parse("machine.type").expect("path"));
            let want = if name.contains("controlplane") {
                "controlplane"
            } else {
                "worker"
            };
            assert_eq!(machine_type.and_then(Node::as_str), Some(want), "{name}");
            let multidoc = name.starts_with("v1.12") || name.starts_with("v1.13");
            assert_eq!(docs.find("HostnameConfig", None).is_some(), multidoc, "{name}");
        }
    }
}
