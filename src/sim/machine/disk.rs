//! Server disks and snapshot images as sparse files under the emulator's state directory.
//!
//! A server's disk is a file the size of its server type's disk (sparse: a 40 GB disk
//! costs only what was written). A server from a system image starts with a small
//! deterministic "Linux" disk (an MBR with one Linux partition and a marker block, never a
//! Talos image); a server from a snapshot starts with the snapshot's bytes. Copies use a
//! reflink (`ioctl FICLONE`, copy-on-write on btrfs and XFS) where the filesystem allows,
//! else a sparse copy that reads only the file's data extents (`SEEK_DATA`/`SEEK_HOLE`) and
//! seeks over every all-zero 4 KiB block, so a copy allocates no more than its non-zero
//! blocks.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes per GB as Hetzner counts disk sizes (server types, `disk_size`).
pub const GB: u64 = 1_000_000_000;

/// Granularity of the sparse copy: all-zero blocks of this size are not written.
const BLOCK: usize = 4096;
/// Read size of the sparse copy.
const CHUNK: usize = 1024 * 1024;
/// Where the "Linux" marker block of a system-image disk sits (the first partition).
const LINUX_MARKER_OFFSET: u64 = 1024 * 1024;

/// Why a disk operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The state directory could not be created.
    #[error("cannot create the emulator's state directory {path}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A disk file could not be written, read or copied.
    #[error("cannot {what} {path}")]
    Io {
        /// What was being done (`create the disk`, `copy the disk to`, …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// How a disk was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    /// A reflink: the copy shares blocks with the source until either is written.
    Reflink,
    /// A sparse copy: only non-zero blocks were written.
    Sparse,
}

/// The real size of a disk file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Apparent size in bytes (the disk's capacity).
    pub size: u64,
    /// Bytes the filesystem allocated (`st_blocks` × 512): what was written.
    pub allocated: u64,
}

impl DiskUsage {
    /// The capacity in GB (Hetzner's `disk_size`).
    pub fn size_gb(&self) -> f64 {
        self.size as f64 / GB as f64
    }

    /// The written data in GB (Hetzner's `image_size`), at least one allocated block.
    pub fn allocated_gb(&self) -> f64 {
        self.allocated.max(BLOCK as u64) as f64 / GB as f64
    }
}

/// Where a new server disk's content comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskSource<'a> {
    /// A system image (`ubuntu-24.04`, …): a small deterministic "Linux" disk.
    System {
        /// The image's name, written into the marker block.
        name: &'a str,
    },
    /// A snapshot: its bytes.
    Snapshot {
        /// The image ID.
        image: u64,
    },
}

/// The disk files of one emulator: `servers/<id>.disk` and `images/<id>.disk` under the
/// state directory (a temporary directory removed with this value unless one was given).
#[derive(Debug)]
pub struct Disks {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Disks {
    /// Opens (creating) the state directory `dir`, or a new temporary one when `None`.
    ///
    /// # Errors
    /// [`DiskError::StateDir`] when a directory cannot be created.
    pub fn new(dir: Option<PathBuf>) -> Result<Disks, DiskError> {
        let (dir, temp) = match dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("talos-hcloud-sim-")
                    .tempdir()
                    .map_err(|source| DiskError::StateDir {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        for sub in ["servers", "images"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| DiskError::StateDir { path, source })?;
        }
        Ok(Disks { dir, _temp: temp })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The disk file of server `id`.
    pub fn server_disk(&self, id: u64) -> PathBuf {
        self.dir.join("servers").join(format!("{id}.disk"))
    }

    /// The disk file of snapshot `id`.
    pub fn image_disk(&self, id: u64) -> PathBuf {
        self.dir.join("images").join(format!("{id}.disk"))
    }

    /// (Re)creates server `id`'s disk of `size` bytes from `source`, replacing what it held.
    ///
    /// # Errors
    /// [`DiskError::Io`] when the file cannot be written or the snapshot read.
    pub fn create_server_disk(&self, id: u64, size: u64, source: DiskSource<'_>) -> Result<(), DiskError> {
        let path = self.server_disk(id);
        let io = |what| {
            move |source| DiskError::Io {
                what,
                path: self.server_disk(id),
                source,
            }
        };
        remove_if_present(&path).map_err(io("remove the old disk"))?;
        match source {
            DiskSource::System { name } => write_linux_disk(&path, size, name).map_err(io("create the disk"))?,
            DiskSource::Snapshot { image } => {
                let from = self.image_disk(image);
                copy_disk(&from, &path).map_err(|source| DiskError::Io {
                    what: "copy the snapshot disk to",
                    path: path.clone(),
                    source,
                })?;
                self.grow_server_disk(id, size)?;
            }
        }
        Ok(())
    }

    /// Grows server `id`'s disk to `size` bytes (`change_type` with `upgrade_disk`); the
    /// bytes it holds stay, the new space reads as zeros. A disk never shrinks.
    ///
    /// # Errors
    /// [`DiskError::Io`] when the file cannot be opened or resized.
    pub fn grow_server_disk(&self, id: u64, size: u64) -> Result<(), DiskError> {
        let path = self.server_disk(id);
        let io = |what| {
            let path = path.clone();
            move |source| DiskError::Io { what, path, source }
        };
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io("open the disk"))?;
        if file.metadata().map_err(io("read the size of"))?.len() < size {
            file.set_len(size).map_err(io("grow the disk"))?;
        }
        Ok(())
    }

    /// Copies server `server`'s disk into snapshot `image` and reports the copy's real size.
    ///
    /// # Errors
    /// [`DiskError::Io`] when the copy fails.
    pub fn snapshot(&self, server: u64, image: u64) -> Result<DiskUsage, DiskError> {
        let to = self.image_disk(image);
        let fail = |what| {
            let path = to.clone();
            move |source| DiskError::Io { what, path, source }
        };
        copy_disk(&self.server_disk(server), &to).map_err(fail("copy the server disk to"))?;
        usage(&to).map_err(fail("measure"))
    }

    /// Forgets server `id`'s disk.
    pub fn remove_server_disk(&self, id: u64) {
        if let Err(error) = remove_if_present(&self.server_disk(id)) {
            tracing::warn!(server = id, %error, "cannot remove the server's disk file");
        }
    }

    /// Forgets snapshot `id`'s disk.
    pub fn remove_image_disk(&self, id: u64) {
        if let Err(error) = remove_if_present(&self.image_disk(id)) {
            tracing::warn!(image = id, %error, "cannot remove the snapshot's disk file");
        }
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The apparent and allocated size of a file.
///
/// # Errors
/// The file's metadata cannot be read.
pub fn usage(path: &Path) -> io::Result<DiskUsage> {
    let meta = std::fs::metadata(path)?;
    Ok(DiskUsage {
        size: meta.len(),
        allocated: meta.blocks() * 512,
    })
}

/// Writes a sparse disk of `size` bytes holding a deterministic "Linux" system: an MBR
/// with one Linux (0x83) partition from 1 MiB, and a marker block there naming `image`.
fn write_linux_disk(path: &Path, size: u64, image: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.set_len(size)?;
    let mut mbr = [0u8; 512];
    // Partition entry 1: type 0x83, LBA start 2048, the rest of the disk.
    let entry = &mut mbr[446..462];
    entry[4] = 0x83;
    entry[8..12].copy_from_slice(&2048u32.to_le_bytes());
    let sectors = u32::try_from((size / 512).saturating_sub(2048)).unwrap_or(u32::MAX);
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    file.write_all(&mbr)?;
    let mut marker = format!("talos-hcloud sim: Linux root filesystem of system image {image}\n").into_bytes();
    marker.resize(BLOCK, 0);
    file.seek(SeekFrom::Start(LINUX_MARKER_OFFSET))?;
    file.write_all(&marker)?;
    file.sync_all()
}

/// Copies `from` to a new file `to`: a reflink where the filesystem supports one, else a
/// sparse copy ([`sparse_copy`]).
///
/// # Errors
/// Either file cannot be opened, read or written.
pub fn copy_disk(from: &Path, to: &Path) -> io::Result<CopyMethod> {
    let source = File::open(from)?;
    remove_if_present(to)?;
    let target = OpenOptions::new().write(true).create_new(true).open(to)?;
    if rustix::fs::ioctl_ficlone(&target, &source).is_ok() {
        return Ok(CopyMethod::Reflink);
    }
    sparse_copy(&source, &target)?;
    target.sync_all()?;
    Ok(CopyMethod::Sparse)
}

/// Copies the data of `source` into the empty `target`, leaving holes for the source's
/// holes and for every all-zero 4 KiB block, and gives `target` the same length.
///
/// # Errors
/// A read, write or seek fails.
pub fn sparse_copy(source: &File, target: &File) -> io::Result<()> {
    let len = source.metadata()?.len();
    target.set_len(len)?;
    let mut buffer = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < len {
        let Some((start, end)) = next_extent(source, offset, len)? else {
            break;
        };
        let mut at = start;
        while at < end {
            let want = usize::try_from((end - at).min(CHUNK as u64)).unwrap_or(CHUNK);
            let read = source.read_at(&mut buffer[..want], at)?;
            if read == 0 {
                break;
            }
            for (index, block) in buffer[..read].chunks(BLOCK).enumerate() {
                if block.iter().any(|b| *b != 0) {
                    target.write_all_at(block, at + (index * BLOCK) as u64)?;
                }
            }
            at += read as u64;
        }
        offset = end;
    }
    Ok(())
}

/// The next data extent `[start, end)` at or after `offset`, or `None` past the last one.
/// A filesystem without `SEEK_DATA` reports the whole rest of the file as data.
fn next_extent(file: &File, offset: u64, len: u64) -> io::Result<Option<(u64, u64)>> {
    let start = match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(offset)) {
        Ok(start) => start,
        Err(rustix::io::Errno::NXIO) => return Ok(None),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOTSUP) => return Ok(Some((offset, len))),
        Err(error) => return Err(error.into()),
    };
    let end = match rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(start)) {
        Ok(end) => end.min(len),
        Err(_) => len,
    };
    Ok(Some((start, end)))
}

/// Reads the first `len` bytes of a disk (for tests and inspection).
///
/// # Errors
/// The file cannot be read.
pub fn read_head(path: &Path, len: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(len);
    File::open(path)?.take(len as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_copy_is_identical_and_allocates_only_non_zero_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let from = dir.path().join("from");
        let to = dir.path().join("to");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&from)
            .expect("create");
        file.set_len(64 * 1024 * 1024).expect("size");
        file.write_all_at(&[7u8; 8192], 4096).expect("write");
        file.write_all_at(&[9u8; 100], 32 * 1024 * 1024).expect("write");
        // Zeros written as data: the copy must not allocate them.
        file.write_all_at(&vec![0u8; 1024 * 1024], 40 * 1024 * 1024)
            .expect("write");
        file.sync_all().expect("sync");
        let method = copy_disk(&from, &to).expect("copy");
        assert_eq!(std::fs::read(&from).expect("read"), std::fs::read(&to).expect("read"));
        let copied = usage(&to).expect("usage");
        assert_eq!(copied.size, 64 * 1024 * 1024);
        if method == CopyMethod::Sparse {
            assert!(copied.allocated <= 3 * 4096 + 4096, "{copied:?}");
        }
    }

    #[test]
    fn a_system_image_disk_is_small_deterministic_linux() {
        let disks = Disks::new(None).expect("state dir");
        disks
            .create_server_disk(1, 40 * GB, DiskSource::System { name: "ubuntu-24.04" })
            .expect("disk");
        let path = disks.server_disk(1);
        let used = usage(&path).expect("usage");
        assert_eq!(used.size, 40 * GB);
        assert!(used.allocated <= 64 * 1024, "{used:?}");
        let head = read_head(&path, 2 * 1024 * 1024).expect("read");
        assert_eq!(&head[510..512], &[0x55, 0xAA]);
        assert_eq!(head[446 + 4], 0x83);
        assert!(
            head[1024 * 1024..].starts_with(b"talos-hcloud sim: Linux root filesystem of system image ubuntu-24.04\n")
        );
        let dir = disks.dir().to_path_buf();
        drop(disks);
        assert!(!dir.exists(), "the temporary state directory goes with the emulator");
    }
}
