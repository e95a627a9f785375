//! The files of `talos gen config`, talosctl-compatible: the library side of the command.
//!
//! [`generate_files`] generates each requested file in memory (machine configs with the
//! `--config-patch*` patches applied in talosctl's order: all types, then the machine
//! type's own; reference `talos.md` §B.1; the talosconfig without endpoints, as talosctl
//! writes it). [`write_files`] checks every target before it writes the first file, then
//! writes each atomically with mode 0600 (control-plane configs hold CA keys). Resolving
//! flags and printing are the caller's.

use std::fmt;
use std::path::{Path, PathBuf};

use super::cluster_files;
use super::generate::{GenerateError, GenerateOptions, generate};
use super::patch::{self, Patch, PatchError, PatchWarning};
use crate::error::{Classify, WrapsOrRefuses};
use crate::secure_file::{self, Overwrite};
use crate::talos::machine_type::MachineType;
use crate::talos::secrets::SecretsBundle;
use crate::talos::talosconfig::{self, Talosconfig};

/// One kind of file `talos gen config` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `controlplane.yaml`.
    ControlPlane,
    /// `worker.yaml`.
    Worker,
    /// `talosconfig`.
    Talosconfig,
}

impl FileKind {
    /// The file name talosctl writes for this kind.
    pub fn file_name(self) -> &'static str {
        match self {
            FileKind::ControlPlane => "controlplane.yaml",
            FileKind::Worker => "worker.yaml",
            FileKind::Talosconfig => "talosconfig",
        }
    }

    /// The name of the kind in `--output-types` and in JSON output: the file name without
    /// `.yaml`.
    pub fn as_str(self) -> &'static str {
        self.file_name().trim_end_matches(".yaml")
    }
}

/// The `--config-patch*` patches, each list in the order given.
#[derive(Debug, Clone, Default)]
pub struct FlagPatches {
    /// `--config-patch`: every machine type.
    pub all: Vec<Patch>,
    /// `--config-patch-control-plane`.
    pub control_plane: Vec<Patch>,
    /// `--config-patch-worker`.
    pub worker: Vec<Patch>,
}

/// One generated file. `Debug` leaves out the text: it holds CA keys.
#[derive(Clone)]
pub struct GeneratedFile {
    /// What the file is.
    pub kind: FileKind,
    /// Its contents.
    pub text: String,
}

impl fmt::Debug for GeneratedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedFile")
            .field("kind", &self.kind)
            .field("text", &format_args!("<{} bytes>", self.text.len()))
            .finish()
    }
}

/// What [`generate_files`] made.
#[derive(Debug, Clone)]
pub struct GeneratedFiles {
    /// The files, in the order asked for.
    pub files: Vec<GeneratedFile>,
    /// What the patches did that is worth telling, in file order.
    pub warnings: Vec<PatchWarning>,
}

/// Why the files could not be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A machine config could not be generated.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// A patch does not apply.
    #[error(transparent)]
    Patch(#[from] PatchError),
    /// The talosconfig could not be made.
    #[error(transparent)]
    Talosconfig(#[from] talosconfig::Error),
    /// A target file exists and overwriting was not asked for; nothing was written.
    #[error("{} already exists", path.display())]
    Exists {
        /// The first existing file.
        path: PathBuf,
    },
    /// A target path is unusable (a directory), or writing failed.
    #[error(transparent)]
    File(#[from] secure_file::Error),
}

impl WrapsOrRefuses for Error {
    fn cause(&self) -> Option<&dyn Classify> {
        match self {
            Error::Generate(error) => Some(error),
            Error::Patch(error) => Some(error),
            Error::Talosconfig(error) => Some(error),
            Error::File(error) => Some(error),
            Error::Exists { .. } => None,
        }
    }

    fn refusal_hint(&self) -> String {
        "pass --force to overwrite it, or choose another folder with -o DIR".into()
    }
}

/// Generates each kind in `kinds` (in that order) from `secrets` and `options`.
///
/// # Errors
/// [`Error::Generate`], [`Error::Patch`] or [`Error::Talosconfig`] for the first config
/// that cannot be generated or patched, or a talosconfig that cannot be made.
pub fn generate_files(
    secrets: &SecretsBundle,
    options: &GenerateOptions,
    kinds: &[FileKind],
    patches: &FlagPatches,
) -> Result<GeneratedFiles, Error> {
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    for &kind in kinds {
        let (machine_type, own) = match kind {
            FileKind::ControlPlane => (MachineType::ControlPlane, &patches.control_plane),
            FileKind::Worker => (MachineType::Worker, &patches.worker),
            FileKind::Talosconfig => {
                // talosctl writes no endpoints; `talosctl config endpoint` or `-e` adds them.
                let text = Talosconfig::for_cluster(secrets, &options.cluster_name, Vec::<String>::new())?.to_yaml()?;
                files.push(GeneratedFile { kind, text });
                continue;
            }
        };
        let docs = generate(secrets, options, machine_type)?;
        let node_patches: Vec<Patch> = patches.all.iter().chain(own).cloned().collect();
        let text = if node_patches.is_empty() {
            docs.to_yaml()
        } else {
            let (patched, found) = patch::apply(&docs, &node_patches, &options.contract)?;
            warnings.extend(found);
            patched.to_yaml()
        };
        files.push(GeneratedFile { kind, text });
    }
    Ok(GeneratedFiles { files, warnings })
}

/// Writes `files` into `dir` under their talosctl names and returns the paths, in order.
///
/// Every target is checked before the first file is written: a directory in the way stops
/// the run whatever `overwrite` says, an existing file stops it under
/// [`Overwrite::Refuse`].
///
/// # Errors
/// [`Error::Exists`] naming the first existing file, or [`Error::File`] for an unusable
/// target or a failed write (only then may some files have been written, each one whole).
pub fn write_files(files: &[GeneratedFile], dir: &Path, overwrite: Overwrite) -> Result<Vec<PathBuf>, Error> {
    let paths: Vec<PathBuf> = files.iter().map(|file| dir.join(file.kind.file_name())).collect();
    if let Some(existing) = cluster_files::refused_target(&paths, overwrite)? {
        return Err(Error::Exists {
            path: existing.to_path_buf(),
        });
    }
    for (file, path) in files.iter().zip(&paths) {
        secure_file::write_private(path, file.text.as_bytes(), overwrite)?;
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::error::Class;

    fn files() -> Vec<GeneratedFile> {
        [
            (FileKind::ControlPlane, "cp\n"),
            (FileKind::Worker, "w\n"),
            (FileKind::Talosconfig, "tc\n"),
        ]
        .into_iter()
        .map(|(kind, text)| GeneratedFile {
            kind,
            text: text.to_string(),
        })
        .collect()
    }

    #[test]
    fn kinds_are_named_as_talosctl_names_them() {
        let names: Vec<(&str, &str)> = files().iter().map(|f| (f.kind.as_str(), f.kind.file_name())).collect();
        assert_eq!(
            names,
            [
                ("controlplane", "controlplane.yaml"),
                ("worker", "worker.yaml"),
                ("talosconfig", "talosconfig")
            ]
        );
        let debug = format!("{:?}", files()[0]);
        assert_eq!(debug, "GeneratedFile { kind: ControlPlane, text: <3 bytes> }");
    }

    #[test]
    fn an_existing_file_stops_the_run_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("worker.yaml"), "keep\n").expect("write");
        let error = write_files(&files(), dir.path(), Overwrite::Refuse).expect_err("refused");
        assert_eq!(
            error.to_string(),
            format!("{} already exists", dir.path().join("worker.yaml").display())
        );
        assert_eq!(error.class(), Class::InvalidInput);
        assert!(!dir.path().join("controlplane.yaml").exists());
        assert!(!dir.path().join("talosconfig").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("worker.yaml")).expect("read"),
            "keep\n"
        );

        let paths = write_files(&files(), dir.path(), Overwrite::Replace).expect("replaced");
        assert_eq!(paths.len(), 3);
        for (path, file) in paths.iter().zip(files()) {
            assert_eq!(std::fs::read_to_string(path).expect("read"), file.text);
            let mode = std::fs::metadata(path).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }

    #[test]
    fn a_directory_in_the_way_stops_the_run_even_with_replace() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("talosconfig")).expect("mkdir");
        for overwrite in [Overwrite::Refuse, Overwrite::Replace] {
            let error = write_files(&files(), dir.path(), overwrite).expect_err("a directory is no target");
            assert!(matches!(error, Error::File(_)), "{error:?}");
            assert!(!dir.path().join("controlplane.yaml").exists(), "{overwrite:?}");
        }
    }
}
