//! Writing a cluster's machine configs and talosconfig into a folder: the library side of
//! `config gen`.
//!
//! [`write_cluster`] renders every node through [`super::render`], derives the talosconfig
//! ([`crate::talos::talosconfig`]), checks every target path, and only then writes the files
//! (mode 0600, atomically, never over existing ones unless told to). It returns what it
//! wrote as a value ([`WrittenCluster`]); resolving flags and printing are the caller's.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::hcloud_overlay::HcloudCluster;
use super::render::{self, RenderError};
use crate::error::{Classify, WrapsOrRefuses};
use crate::secure_file::{self, Overwrite};
use crate::spec::{Role, Spec};
use crate::talos::secrets::SecretsBundle;
use crate::talos::{pki, talosconfig};

/// The talosconfig's file name in the output folder.
pub const TALOSCONFIG_FILE: &str = "talosconfig";

/// What to write and where.
#[derive(Debug, Clone, Copy)]
pub struct ClusterFiles<'a> {
    /// The checked cluster description.
    pub spec: &'a Spec,
    /// The cluster's secrets bundle.
    pub secrets: &'a SecretsBundle,
    /// The hcloud settings derived from `spec`, the endpoint and the token
    /// ([`render::hcloud_cluster`]), computed once by the caller.
    pub cluster: &'a HcloudCluster,
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

impl WrapsOrRefuses for WriteError {
    fn cause(&self) -> Option<&dyn Classify> {
        match self {
            WriteError::Render(error) => Some(error),
            WriteError::Talosconfig(error) => Some(error),
            WriteError::File(error) => Some(error),
            WriteError::Exists { .. } => None,
        }
    }

    /// Not secure_file's hint (about secrets bundles): these files are re-derived from
    /// cluster.yaml and the bundle, so replacing them loses only hand edits.
    fn refusal_hint(&self) -> String {
        "rendered configs are re-derived from cluster.yaml and the secrets bundle: --force replaces them \
         (hand edits are lost), -o DIR writes elsewhere"
            .into()
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
    let spec = request.spec;
    let node_files: Vec<PathBuf> = spec
        .nodes()
        .map(|node| request.dir.join(format!("{}.yaml", node.name)))
        .collect();
    let talosconfig_path = request.dir.join(TALOSCONFIG_FILE);
    let targets: Vec<PathBuf> = node_files.iter().chain([&talosconfig_path]).cloned().collect();
    if let Some(existing) = refused_target(&targets, request.overwrite)? {
        return Err(WriteError::Exists {
            source: secure_file::Error::AlreadyExists {
                path: existing.to_path_buf(),
            },
        });
    }

    let nodes = render::render_nodes(spec, request.secrets, request.cluster)?;
    let bundle = request.secrets;
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

/// Checks every target of a multi-file write before the first file is written: a
/// directory (or other unusable path) in the way is an error whatever `overwrite` says;
/// under [`Overwrite::Refuse`] the first target that exists is returned, so the caller
/// can refuse with its own words.
///
/// # Errors
/// [`secure_file::Error`] from [`secure_file::check_target`] for an unusable target.
pub fn refused_target(targets: &[PathBuf], overwrite: Overwrite) -> Result<Option<&Path>, secure_file::Error> {
    for path in targets {
        secure_file::check_target(path, Overwrite::Replace)?;
    }
    if overwrite == Overwrite::Refuse {
        return Ok(targets
            .iter()
            .find(|path| path.symlink_metadata().is_ok())
            .map(PathBuf::as_path));
    }
    Ok(None)
}
