//! Writing a cluster's machine configs and talosconfig into a folder: the library side of
//! `config gen`.
//!
//! [`write_cluster`] renders every node through [`super::render`], derives the talosconfig
//! ([`crate::talos::talosconfig`]), checks every target path, and only then writes the files
//! (mode 0600, atomically, never over existing ones unless told to). It returns what it
//! wrote as a value ([`WrittenCluster`]); resolving flags and printing are the caller's.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::render::{self, ClusterInputs, RenderError};
use crate::error::{Class, Classify};
use crate::secure_file::{self, Overwrite};
use crate::spec::Role;
use crate::talos::{pki, talosconfig};

/// The talosconfig's file name in the output folder.
pub const TALOSCONFIG_FILE: &str = "talosconfig";

/// What to write and where.
#[derive(Debug, Clone, Copy)]
pub struct ClusterFiles<'a> {
    /// The checked cluster description, its secrets bundle, endpoint and token.
    pub inputs: ClusterInputs<'a>,
    /// The talosconfig's endpoints (addresses or host names with an optional port).
    pub talos_endpoints: &'a [String],
    /// The output folder (created if missing).
    pub dir: &'a Path,
    /// Whether existing files are replaced.
    pub overwrite: Overwrite,
    /// The time the talosconfig's admin certificate window is chosen for.
    pub now: OffsetDateTime,
}

/// One node's written machine config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenNode {
    /// The node name.
    pub name: String,
    /// Control plane or worker.
    pub role: Role,
    /// The file written.
    pub path: PathBuf,
}

/// What [`write_cluster`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenCluster {
    /// Every node's config, control planes first, in cluster.yaml order.
    pub nodes: Vec<WrittenNode>,
    /// The talosconfig file.
    pub talosconfig: PathBuf,
    /// Validity of the talosconfig's admin certificate (not before, not after).
    pub admin_certificate: (OffsetDateTime, OffsetDateTime),
    /// Things worth telling that did not stop the run (from patches and validation), in
    /// node order.
    pub warnings: Vec<String>,
}

/// Why the cluster's files were not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A node's config could not be rendered; nothing was written.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The talosconfig could not be made; nothing was written.
    #[error(transparent)]
    Talosconfig(#[from] talosconfig::Error),
    /// A target file exists and overwriting was not asked for; nothing was written.
    #[error("nothing was written")]
    Exists {
        /// [`secure_file::Error::AlreadyExists`] naming the file.
        #[source]
        source: secure_file::Error,
    },
    /// A target path is unusable (a directory), or writing failed.
    #[error(transparent)]
    File(#[from] secure_file::Error),
}

impl Classify for WriteError {
    fn class(&self) -> Class {
        match self {
            WriteError::Render(error) => error.class(),
            WriteError::Talosconfig(error) => error.class(),
            WriteError::File(error) => error.class(),
            WriteError::Exists { .. } => Class::InvalidInput,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            WriteError::Render(error) => error.hints(),
            WriteError::Talosconfig(error) => error.hints(),
            WriteError::File(error) => error.hints(),
            // Not secure_file's hint (about secrets bundles): these files are re-derived
            // from cluster.yaml and the bundle, so replacing them loses only hand edits.
            WriteError::Exists { .. } => vec![
                "rendered configs are re-derived from cluster.yaml and the secrets bundle: --force replaces them \
                 (hand edits are lost), -o DIR writes elsewhere"
                    .into(),
            ],
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            WriteError::Render(error) => error.details(),
            WriteError::Talosconfig(error) => error.details(),
            WriteError::File(error) => error.details(),
            WriteError::Exists { .. } => None,
        }
    }
}

/// Renders and writes every node's machine config (`<node>.yaml`) and the talosconfig into
/// `request.dir`.
///
/// Everything is rendered and every target checked before the first file is written: a
/// directory in the way stops the run with or without [`Overwrite::Replace`], and an
/// existing file stops it under [`Overwrite::Refuse`].
///
/// # Errors
///
/// [`WriteError`]: rendering, the talosconfig, an existing or unusable target, or a failed
/// write (only then may some files have been written, each one whole).
pub fn write_cluster(request: &ClusterFiles<'_>) -> Result<WrittenCluster, WriteError> {
    let spec = request.inputs.spec;
    let node_files: Vec<PathBuf> = spec
        .nodes()
        .map(|node| request.dir.join(format!("{}.yaml", node.name)))
        .collect();
    let talosconfig_path = request.dir.join(TALOSCONFIG_FILE);
    let targets = || node_files.iter().chain(std::iter::once(&talosconfig_path));
    for path in targets() {
        secure_file::check_target(path, Overwrite::Replace)?;
    }
    if request.overwrite == Overwrite::Refuse
        && let Some(existing) = targets().find(|path| path.symlink_metadata().is_ok())
    {
        return Err(WriteError::Exists {
            source: secure_file::Error::AlreadyExists { path: existing.clone() },
        });
    }

    let nodes = render::render_cluster(&request.inputs)?;
    let bundle = request.inputs.secrets;
    let talosconfig = talosconfig::Talosconfig::derived_for_cluster(
        bundle,
        spec.name.as_str(),
        request.talos_endpoints,
        request.now,
    )?;
    let talosconfig_yaml = talosconfig.to_yaml()?;
    // The window the talosconfig's certificate was derived for (the same rule, so the same
    // window), for the caller's "valid until".
    let os_ca = pki::summarize_certificate(&bundle.certs.os.crt.0)
        .map_err(|source| talosconfig::Error::AdminCertificate { source })?;
    let admin_certificate = talosconfig::admin_cert_window(os_ca.not_before, os_ca.not_after, request.now)?;

    for (node, path) in nodes.iter().zip(&node_files) {
        secure_file::write_private(path, node.yaml.as_bytes(), request.overwrite)?;
    }
    secure_file::write_private(&talosconfig_path, talosconfig_yaml.as_bytes(), request.overwrite)?;

    Ok(WrittenCluster {
        warnings: nodes.iter().flat_map(|node| node.warnings.iter().cloned()).collect(),
        nodes: nodes
            .into_iter()
            .zip(node_files)
            .map(|(node, path)| WrittenNode {
                name: node.name,
                role: node.role,
                path,
            })
            .collect(),
        talosconfig: talosconfig_path,
        admin_certificate,
    })
}
