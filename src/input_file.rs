//! Reading the operator's input files with one size cap: cluster.yaml, schematics, patch
//! files, secrets bundles, talosconfig, machine configs given to `sim node`.
//!
//! Every loader reads through [`read`] or [`read_to_string`], so none of them can be made
//! to read without end (`-c /dev/zero`, `secrets check /dev/urandom`) or to block on a
//! FIFO: only regular files are read, and at most [`MAX_INPUT_FILE_BYTES`] of them. The
//! failures are plain [`io::Error`]s (kind `InvalidInput` or `FileTooLarge`) whose message
//! says what is wrong, so each loader keeps naming the file in its own error as before.
//! What the bytes mean is left to the loaders.

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// The largest input file read: 16 MiB, far above any real cluster.yaml, schematic, patch,
/// secrets bundle or machine config (all a few KiB), far below what hurts a CI runner.
pub const MAX_INPUT_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why an input file was not read; carried inside the [`io::Error`] the readers return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The path names something other than a regular file (after following symlinks).
    #[error("it is {kind}, not a regular file")]
    NotARegularFile {
        /// What it is instead, with its article: "a directory", "a character device".
        kind: &'static str,
    },
    /// The file is larger than [`MAX_INPUT_FILE_BYTES`].
    #[error("it is larger than {} MiB, the limit for input files", MAX_INPUT_FILE_BYTES / (1024 * 1024))]
    TooLarge,
}

/// Reads the whole of the regular file at `path`, at most [`MAX_INPUT_FILE_BYTES`].
///
/// The type is checked before the file is opened (opening a FIFO would block) and again on
/// the open file; the size is checked from the metadata and again while reading (a file
/// may grow, `/proc` files report 0).
///
/// # Errors
///
/// The I/O error of `stat`, `open` or `read`; an error of kind `InvalidInput` holding
/// [`Refusal::NotARegularFile`] for a directory, device, FIFO or socket; one of kind
/// `FileTooLarge` holding [`Refusal::TooLarge`] past the cap.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    check(&std::fs::metadata(path)?)?;
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    check(&metadata)?;
    let capacity = usize::try_from(metadata.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(MAX_INPUT_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).map_or(true, |length| length > MAX_INPUT_FILE_BYTES) {
        return Err(refused(Refusal::TooLarge));
    }
    Ok(bytes)
}

/// As [`read`], for text.
///
/// # Errors
///
/// As [`read`], and one of kind `InvalidData` if the file is not UTF-8.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the file is not UTF-8 text"))
}

fn check(metadata: &Metadata) -> io::Result<()> {
    let file_type = metadata.file_type();
    if !file_type.is_file() {
        return Err(refused(Refusal::NotARegularFile {
            kind: describe(file_type),
        }));
    }
    if metadata.len() > MAX_INPUT_FILE_BYTES {
        return Err(refused(Refusal::TooLarge));
    }
    Ok(())
}

fn describe(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "something else"
    }
}

fn refused(refusal: Refusal) -> io::Error {
    let kind = match refusal {
        Refusal::NotARegularFile { .. } => io::ErrorKind::InvalidInput,
        Refusal::TooLarge => io::ErrorKind::FileTooLarge,
    };
    io::Error::new(kind, refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(error: &io::Error) -> Option<&Refusal> {
        error.get_ref().and_then(|inner| inner.downcast_ref::<Refusal>())
    }

    #[test]
    fn reads_regular_files_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.yaml");
        std::fs::write(&small, "name: a\n").unwrap();
        assert_eq!(read(&small).unwrap(), b"name: a\n");
        assert_eq!(read_to_string(&small).unwrap(), "name: a\n");
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&small, &link).unwrap();
        assert_eq!(read(&link).unwrap(), b"name: a\n", "symlinks are followed");

        let exact = dir.path().join("exact");
        File::create(&exact).unwrap().set_len(MAX_INPUT_FILE_BYTES).unwrap();
        assert_eq!(read(&exact).unwrap().len() as u64, MAX_INPUT_FILE_BYTES);

        let over = dir.path().join("over");
        File::create(&over).unwrap().set_len(MAX_INPUT_FILE_BYTES + 1).unwrap();
        let error = read(&over).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(refusal(&error), Some(&Refusal::TooLarge));
        assert_eq!(error.to_string(), "it is larger than 16 MiB, the limit for input files");
    }

    #[test]
    fn refuses_what_is_not_a_regular_file_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        for (path, kind) in [
            (dir.path(), "a directory"),
            (Path::new("/dev/zero"), "a character device"),
            (Path::new("/dev/urandom"), "a character device"),
            (fifo.as_path(), "a FIFO"),
        ] {
            let error = read(path).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{}", path.display());
            assert_eq!(refusal(&error), Some(&Refusal::NotARegularFile { kind }));
            assert_eq!(error.to_string(), format!("it is {kind}, not a regular file"));
        }
    }

    #[test]
    fn text_must_be_utf8_and_missing_files_keep_their_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe]).unwrap();
        assert_eq!(read_to_string(&binary).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let missing = read(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
