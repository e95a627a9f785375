//! Where [`super::download_to`] writes the raw image: a sparse file, or any blocking writer.

use std::io;

/// Where [`download_to`](super::download_to) puts the decompressed image. Called on a dedicated blocking
/// thread with large blocks (1 MiB, aligned, except the last), in order.
///
/// Implement it over any destination: [`SparseFile`] for a file, [`WriteSink`] for any
/// blocking [`std::io::Write`] (an SSH channel's stdin through
/// `tokio_util::io::SyncIoBridge`, for `image build --via local`).
pub trait RawSink: Send {
    /// Writes `data`, which starts `offset` bytes into the raw image.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Called once after the last block with the raw image's size.
    fn finish(&mut self, size: u64) -> io::Result<()>;
}

/// A new (empty or truncated) file written sparsely: all-zero 4 KiB blocks are skipped,
/// non-zero runs written with positioned writes, and the length set at the end, so the
/// file allocates about as much as the image's non-zero data.
///
/// Writeback of what was written is started every [`WRITEBACK_WINDOW`] bytes (Linux), so
/// the disk works while the image is still decoding and the caller's final `sync_all`
/// has little left to wait for, instead of a few hundred MiB of dirty pages.
///
/// Only for a destination that reads as zeros where nothing is written (a new file, a
/// truncated file, a discarded disk): skipped blocks keep whatever was there.
#[derive(Debug)]
pub struct SparseFile {
    file: std::fs::File,
    /// Offset up to which writeback has been started.
    flushed: u64,
}

impl SparseFile {
    /// Wraps `file`, which must be empty (see the type's docs).
    pub fn new(file: std::fs::File) -> SparseFile {
        SparseFile { file, flushed: 0 }
    }

    /// The file, e.g. to `sync_all` it after the download.
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }
}

/// Zero-detection granularity of [`SparseFile`] (the usual filesystem block).
const SPARSE_BLOCK: usize = 4096;
/// How many bytes of the image [`SparseFile`] writes between two writeback starts.
pub const WRITEBACK_WINDOW: u64 = 8 << 20;

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk, without
/// waiting. Advisory: a failure only means the final `sync_all` has more to do (and
/// reports any real I/O error), so it is ignored.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor is open
    // for as long as `file` is borrowed.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Elsewhere the final `sync_all` writes everything.
#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

/// Whether `block` (at most [`SPARSE_BLOCK`] bytes) is all zeros: one `memcmp` against a
/// zero block, fast even in unoptimised builds.
fn is_zero(block: &[u8]) -> bool {
    static ZEROS: [u8; SPARSE_BLOCK] = [0; SPARSE_BLOCK];
    block.len() <= SPARSE_BLOCK && block == &ZEROS[..block.len()]
}

impl RawSink for SparseFile {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut run_start: Option<usize> = None;
        let mut at = 0;
        while at < data.len() {
            let end = (at + SPARSE_BLOCK).min(data.len());
            let zero = is_zero(&data[at..end]);
            match (zero, run_start) {
                (false, None) => run_start = Some(at),
                (true, Some(start)) => {
                    self.file.write_all_at(&data[start..at], offset + start as u64)?;
                    run_start = None;
                }
                _ => {}
            }
            at = end;
        }
        if let Some(start) = run_start {
            self.file.write_all_at(&data[start..], offset + start as u64)?;
        }
        let end = offset + data.len() as u64;
        if end >= self.flushed + WRITEBACK_WINDOW {
            start_writeback(&self.file, self.flushed, end - self.flushed);
            self.flushed = end;
        }
        Ok(())
    }

    fn finish(&mut self, size: u64) -> io::Result<()> {
        self.file.set_len(size)
    }
}

/// Any blocking writer as a [`RawSink`]: every byte is written in order (zeros too).
#[derive(Debug)]
pub struct WriteSink<W>(pub W);

impl<W: io::Write + Send> RawSink for WriteSink<W> {
    fn write_at(&mut self, _offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }

    fn finish(&mut self, _size: u64) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factory::image_stream::SINK_BLOCK;

    #[test]
    fn sparse_file_reads_back_identically_across_writeback_windows() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk.raw");
        // Every fifth 4 KiB block non-zero (runs straddle the 8 MiB windows), a short tail.
        let mut image = vec![0u8; 3 * WRITEBACK_WINDOW as usize + 12345];
        for (i, byte) in image.iter_mut().enumerate() {
            if (i / SPARSE_BLOCK).is_multiple_of(5) {
                *byte = (i % 251) as u8 | 1;
            }
        }
        let mut sink = SparseFile::new(std::fs::File::create(&path).expect("create"));
        for (n, block) in image.chunks(SINK_BLOCK).enumerate() {
            sink.write_at((n * SINK_BLOCK) as u64, block).expect("write");
        }
        sink.finish(image.len() as u64).expect("finish");
        sink.file().sync_all().expect("sync");
        assert_eq!(sink.flushed, 3 * WRITEBACK_WINDOW, "writeback started once per window");
        assert!(std::fs::read(&path).expect("read") == image, "written bytes differ");
        let nonzero = image.chunks(SPARSE_BLOCK).filter(|b| !is_zero(b)).count() as u64 * SPARSE_BLOCK as u64;
        let allocated = std::fs::metadata(&path).expect("stat").blocks() * 512;
        assert!(
            allocated <= nonzero + nonzero / 20,
            "{allocated} bytes allocated for {nonzero} non-zero bytes"
        );
    }
}
