//! The files `apply` leaves behind for the operator: the admin kubeconfig (server = the
//! cluster endpoint) and the talosconfig (endpoints = the control planes' addresses) under
//! `.talos-hcloud/<cluster>/`, each written mode 0600 and atomically
//! ([`crate::secure_file`]). `~/.kube/config` is touched only on request
//! (`--merge-kubeconfig`, [`merge_kubeconfig_file`]), by merging this cluster's entries into it.

use std::path::{Path, PathBuf};

use super::kubeconfig::{Kubeconfig, KubeconfigError};
use crate::error::{Class, Classify};
use crate::secure_file::{self, Overwrite};
use crate::talos::talosconfig::{self, Talosconfig};

/// The folder of a cluster's local files under `root` (the working directory):
/// `root/.talos-hcloud/<cluster>`.
pub fn cluster_dir(root: &Path, cluster: &str) -> PathBuf {
    root.join(".talos-hcloud").join(cluster)
}

/// The kubeconfig's file name in the cluster folder.
pub const KUBECONFIG_FILE: &str = "kubeconfig";

pub use crate::talos::config::cluster_files::TALOSCONFIG_FILE;

/// The files of one cluster.
#[derive(Debug, Clone)]
pub struct AccessFiles {
    /// The admin kubeconfig as the Talos API handed it out.
    pub kubeconfig: Kubeconfig,
    /// The cluster endpoint (`https://HOST:PORT`) the kubeconfig is pointed at.
    pub endpoint: String,
    /// The talosconfig (endpoints = control-plane addresses).
    pub talosconfig: Talosconfig,
}

/// What [`write_access_files`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenAccess {
    /// The kubeconfig.
    pub kubeconfig: PathBuf,
    /// The talosconfig.
    pub talosconfig: PathBuf,
    /// The kubeconfig merged into, if asked.
    pub merged: Option<PathBuf>,
}

/// Why the files were not (all) written.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The kubeconfig could not be edited or serialized.
    #[error("cannot prepare the kubeconfig")]
    Kubeconfig(#[source] KubeconfigError),
    /// The talosconfig could not be serialized.
    #[error("cannot prepare the talosconfig")]
    Talosconfig(#[source] talosconfig::Error),
    /// The kubeconfig to merge into cannot be read or is no kubeconfig; it was not changed.
    #[error("cannot merge into {}; it was left unchanged", path.display())]
    MergeTarget {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: secure_file::Error,
    },
}

impl Classify for FilesError {
    fn class(&self) -> Class {
        match self {
            FilesError::MergeTarget { .. } => Class::InvalidInput,
            _ => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            FilesError::MergeTarget { .. } => vec![
                "the cluster's own kubeconfig under .talos-hcloud/<cluster>/ was written; point KUBECONFIG at it, \
                 or fix the file and run again with --merge-kubeconfig"
                    .into(),
            ],
            _ => Vec::new(),
        }
    }
}

/// Writes the kubeconfig (pointed at the endpoint) and the talosconfig into `dir` (the
/// [`cluster_dir`], created if missing), replacing earlier ones (both are re-derived on
/// every run), then merges the kubeconfig into `merge_into` if given
/// (`--merge-kubeconfig`).
///
/// # Errors
/// [`FilesError`]; files written before the failure stay (each one whole).
pub fn write_access_files(
    dir: &Path,
    files: &AccessFiles,
    merge_into: Option<&Path>,
) -> Result<WrittenAccess, FilesError> {
    let mut kubeconfig = files.kubeconfig.clone();
    kubeconfig.set_server(&files.endpoint).map_err(FilesError::Kubeconfig)?;
    let kubeconfig_yaml = kubeconfig.to_yaml().map_err(FilesError::Kubeconfig)?;
    let talosconfig_yaml = files.talosconfig.to_yaml().map_err(FilesError::Talosconfig)?;
    let kubeconfig_path = dir.join(KUBECONFIG_FILE);
    let talosconfig_path = dir.join(TALOSCONFIG_FILE);
    write(&kubeconfig_path, kubeconfig_yaml.expose().as_bytes())?;
    write(&talosconfig_path, talosconfig_yaml.as_bytes())?;
    let merged = match merge_into {
        Some(path) => Some(merge_kubeconfig_file(path, &kubeconfig)?),
        None => None,
    };
    Ok(WrittenAccess {
        kubeconfig: kubeconfig_path,
        talosconfig: talosconfig_path,
        merged,
    })
}

/// Merges `ours` into the kubeconfig at `path` (created if missing; through a symlink, the
/// file it points to), keeping every other entry. Returns the file written.
///
/// # Errors
/// [`FilesError::MergeTarget`] when the file cannot be read or parsed (left unchanged),
/// [`FilesError::Write`].
pub fn merge_kubeconfig_file(path: &Path, ours: &Kubeconfig) -> Result<PathBuf, FilesError> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut base = match std::fs::read(&target) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Kubeconfig::empty(),
        Ok(bytes) => Kubeconfig::parse(&bytes, &target.display().to_string()).map_err(|e| FilesError::MergeTarget {
            path: target.clone(),
            source: Box::new(e),
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Kubeconfig::empty(),
        Err(error) => {
            return Err(FilesError::MergeTarget {
                path: target,
                source: Box::new(error),
            });
        }
    };
    ours.merge_into(&mut base);
    let yaml = base.to_yaml().map_err(FilesError::Kubeconfig)?;
    write(&target, yaml.expose().as_bytes())?;
    Ok(target)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), FilesError> {
    secure_file::write_private(path, bytes, Overwrite::Replace).map_err(|source| FilesError::Write {
        path: path.to_path_buf(),
        source,
    })
}
