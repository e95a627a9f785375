//! Writing files that hold secrets: atomically (temp file, fsync, rename) and mode 0600.
//!
//! Secrets bundles, talosconfig and kubeconfig files all go through [`write_private`], so
//! every one of them is created private from its first byte, is either fully written or
//! not there at all after a crash, and is never replaced unless the caller says so.
//! Reading is left to the callers; [`loose_permissions`] lets them warn about files other
//! tools left group- or world-readable.

use std::fs::{DirBuilder, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Class, Classify};

/// What to do when the target file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with [`Error::AlreadyExists`] and leave the existing file untouched.
    Refuse,
    /// Atomically replace the existing file.
    Replace,
}

/// A failure to write a private file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target exists and [`Overwrite::Refuse`] was given; nothing was changed.
    #[error("refusing to overwrite existing file {} (use --force to replace it)", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The target is a directory (with or without [`Overwrite::Replace`]); nothing was
    /// changed.
    #[error("{} is a directory, not a file", path.display())]
    IsADirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The path has no file name (e.g. `/` or `..`).
    #[error("{} is not a file path", path.display())]
    NotAFilePath {
        /// The path given.
        path: PathBuf,
    },
    /// The parent directory could not be created.
    #[error("cannot create directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating, writing, syncing or renaming the file failed; the target is unchanged.
    #[error("cannot write {}", path.display())]
    Write {
        /// The target file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::AlreadyExists { .. } | Error::IsADirectory { .. } | Error::NotAFilePath { .. } => {
                Class::InvalidInput
            }
            Error::CreateDir { .. } | Error::Write { .. } => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::AlreadyExists { .. } => {
                vec![
                    "the existing file may hold the only copy of a cluster's secrets; back it up before replacing it"
                        .into(),
                ]
            }
            Error::IsADirectory { .. } => {
                vec!["name a file to write, not a directory (a new file inside it will do)".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// Writes `bytes` to `path` as a private file (mode 0600), atomically.
///
/// Missing parent directories are created with mode 0700. The content goes to a temporary
/// file in the same directory, created with mode 0600 from the start (never readable by
/// others, not even briefly), then it is written, fsynced and renamed over `path`, and the
/// directory is fsynced so the rename survives a crash. With [`Overwrite::Refuse`] the
/// final step is a no-clobber link, so a file that appears concurrently is not replaced
/// either.
///
/// An existing symlink at `path` is itself replaced (with [`Overwrite::Replace`]) by the
/// new regular file; the file it pointed to is left untouched. That is deliberate: a write
/// through a link could land anywhere.
///
/// # Errors
///
/// [`Error::IsADirectory`] if `path` is a directory, [`Error::AlreadyExists`] if `path`
/// exists and `overwrite` is [`Overwrite::Refuse`] (nothing is changed in either case);
/// otherwise I/O failures, after which `path` is unchanged and no temporary file is left
/// behind.
pub fn write_private(path: &Path, bytes: &[u8], overwrite: Overwrite) -> Result<(), Error> {
    // Checked early so nothing (not even the directory) is touched; the no-clobber persist
    // below closes the race with a file created in between.
    check_target(path, overwrite)?;
    persist_private(path, bytes, overwrite)
}

/// Checks that `path` may be written with `overwrite`, as [`write_private`] does first, so
/// a command can fail before expensive work (generating keys). Returns true if and only if
/// something (a file or a symlink) is there and would be replaced.
///
/// # Errors
///
/// [`Error::IsADirectory`] if `path` is a directory, [`Error::AlreadyExists`] if it exists
/// and `overwrite` is [`Overwrite::Refuse`], [`Error::NotAFilePath`] if it has no file name.
pub fn check_target(path: &Path, overwrite: Overwrite) -> Result<bool, Error> {
    if path.file_name().is_none() {
        return Err(Error::NotAFilePath {
            path: path.to_path_buf(),
        });
    }
    match path.symlink_metadata() {
        Ok(metadata) if metadata.is_dir() => Err(Error::IsADirectory {
            path: path.to_path_buf(),
        }),
        Ok(_) if overwrite == Overwrite::Refuse => Err(Error::AlreadyExists {
            path: path.to_path_buf(),
        }),
        Ok(_) => Ok(true),
        Err(_) => Ok(false),
    }
}

/// The write of [`write_private`] after its checks: temp file, fsync, rename, directory
/// fsync.
fn persist_private(path: &Path, bytes: &[u8], overwrite: Overwrite) -> Result<(), Error> {
    let file_name = path.file_name().ok_or_else(|| Error::NotAFilePath {
        path: path.to_path_buf(),
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| Error::CreateDir {
            path: dir.clone(),
            source,
        })?;

    let write_error = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(file_name);
    prefix.push(".");
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(&dir)
        .map_err(write_error)?;
    temp.write_all(bytes).map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;

    let persisted = match overwrite {
        Overwrite::Replace => temp.persist(path),
        Overwrite::Refuse => temp.persist_noclobber(path),
    };
    if let Err(e) = persisted {
        // Dropping the returned temp file removes it.
        return Err(if e.error.kind() == io::ErrorKind::AlreadyExists {
            Error::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            write_error(e.error)
        });
    }
    File::open(&dir).and_then(|d| d.sync_all()).map_err(write_error)?;
    Ok(())
}

/// Returns the permission bits of `path` if group or others may access it (any of
/// `0o077`), `None` if the file is private.
///
/// # Errors
///
/// The I/O error of `stat`.
pub fn loose_permissions(path: &Path) -> io::Result<Option<u32>> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder and the path `name` in it.
    fn scratch(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join(name);
        (root, path)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn creates_private_file_and_private_parent_directories() {
        let (root, path) = scratch("a/b/secrets.yaml");
        write_private(&path, b"hello\n", Overwrite::Refuse).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello\n");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);
        assert_eq!(entries(&root.path().join("a/b")), ["secrets.yaml"]);
        assert_eq!(loose_permissions(&path).unwrap(), None);
    }

    #[test]
    fn refuses_to_overwrite_and_leaves_the_file_alone() {
        let (root, path) = scratch("secrets.yaml");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        let err = write_private(&path, b"new", Overwrite::Refuse).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to overwrite existing file {} (use --force to replace it)",
                path.display()
            )
        );
        assert_eq!(err.class(), Class::InvalidInput);
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(mode(&path), 0o640);
        assert_eq!(entries(root.path()), ["secrets.yaml"]);
        assert_eq!(loose_permissions(&path).unwrap(), Some(0o640));
    }

    #[test]
    fn refuses_a_dangling_symlink_too() {
        let (root, path) = scratch("link");
        std::os::unix::fs::symlink(root.path().join("missing"), &path).unwrap();
        let err = write_private(&path, b"new", Overwrite::Refuse).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
        assert!(!root.path().join("missing").exists());
    }

    #[test]
    fn replace_swaps_content_and_tightens_mode() {
        let (root, path) = scratch("talosconfig");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new content", Overwrite::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new content");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(entries(root.path()), ["talosconfig"]);
    }

    #[test]
    fn failure_leaves_no_temporary_file() {
        // The target is a directory that appeared after the checks: the rename fails after
        // the temp file was written.
        let (root, path) = scratch("occupied");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), b"x").unwrap();
        let err = persist_private(&path, b"data", Overwrite::Replace).unwrap_err();
        assert!(matches!(err, Error::Write { .. }), "{err:?}");
        assert_eq!(entries(root.path()), ["occupied"]);
    }

    #[test]
    fn a_directory_is_named_as_such_with_or_without_replace() {
        let (root, path) = scratch("state");
        std::fs::create_dir(&path).unwrap();
        for overwrite in [Overwrite::Refuse, Overwrite::Replace] {
            let err = write_private(&path, b"data", overwrite).unwrap_err();
            assert!(matches!(err, Error::IsADirectory { .. }), "{overwrite:?}: {err:?}");
            assert_eq!(
                err.to_string(),
                format!("{} is a directory, not a file", path.display())
            );
            assert_eq!(err.class(), Class::InvalidInput);
            assert!(matches!(
                check_target(&path, overwrite),
                Err(Error::IsADirectory { .. })
            ));
        }
        assert_eq!(entries(root.path()), ["state"]);
        assert!(entries(&path).is_empty());
    }

    #[test]
    fn replace_swaps_a_symlink_for_a_file_and_leaves_its_target_alone() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("elsewhere");
        std::fs::write(&target, b"old").unwrap();
        let link = root.path().join("secrets.yaml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(check_target(&link, Overwrite::Replace).unwrap());
        write_private(&link, b"new", Overwrite::Replace).unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_file());
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(mode(&link), 0o600);
    }

    #[test]
    fn the_root_directory_is_not_a_file_path() {
        let err = write_private(Path::new("/"), b"x", Overwrite::Replace).unwrap_err();
        assert!(matches!(err, Error::NotAFilePath { .. }), "{err:?}");
    }
}
