//! Streaming an image from the factory in constant memory, with integrity digests.
//!
//! One download feeds two consumers: the compressed bytes are hashed as they arrive and
//! decompressed (zstd or xz) on a blocking thread, where the raw bytes are hashed and
//! counted. Every hop is a small bounded channel, so a slow consumer slows the download
//! instead of filling memory. A caller either
//!
//! * reads the **raw** image as an [`AsyncRead`] ([`open_raw`]), or
//! * **forwards the compressed** bytes to any [`AsyncWrite`] (an SSH channel into
//!   `zstd -d | dd`) while the raw digest is still computed locally
//!   ([`forward_compressed`], [`digest`]),
//!
//! and gets an [`ImageDigest`] at the end. A dropped connection is resumed with
//! `Range: bytes=N-` (checked against `206` and `Content-Range`); a server that ignores
//! ranges is read again from the start, the bytes already received are verified against
//! their hash and skipped, and a warning is logged. Redirects are followed. Connection,
//! response and read-idle timeouts come from [`Timeouts`].

use std::io::{self, BufRead, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use chunk_reader::ChunkReader;
use download::Downloader;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

mod download;

use super::client::{FactoryClient, Timeouts, first_line, transport};
use super::error::Error;
use super::image::Compression;
use crate::retry::Policy;

/// Sizes and hashes of one image, compressed (as downloaded) and raw (as written to disk).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageDigest {
    /// Lower-case hex SHA-256 of the compressed bytes.
    pub compressed_sha256: String,
    /// Number of compressed bytes.
    pub compressed_bytes: u64,
    /// Lower-case hex SHA-256 of the decompressed disk image.
    pub raw_sha256: String,
    /// Number of decompressed bytes.
    pub raw_bytes: u64,
}

/// Receives download progress (compressed bytes). Called from async tasks: keep it cheap.
pub trait ImageProgress: Send + Sync {
    /// The compressed size, once a response announces it.
    fn total(&self, _bytes: Option<u64>) {}
    /// `done` compressed bytes have been received and handed on.
    fn advanced(&self, _done: u64) {}
    /// An attempt failed; the next one resumes at `offset` after a pause.
    fn retrying(&self, _attempt: u32, _offset: u64, _reason: &str) {}
}

/// A progress receiver that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ImageProgress for NoProgress {}

/// How a download is carried out.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// The image's compression.
    pub compression: Compression,
    /// When to retry a failed attempt; the backoff is reset whenever an attempt received
    /// new bytes, so only consecutive failures without progress count.
    pub retry: Policy,
}

impl StreamOptions {
    /// Defaults for `compression`: [`Policy::download`] (6 attempts, pauses from 1 s to 30 s).
    pub fn new(compression: Compression) -> StreamOptions {
        StreamOptions {
            compression,
            retry: Policy::download(),
        }
    }
}

/// Bounded channel depth between the stages (each item is one network chunk or one
/// decoder buffer, at most a few hundred KiB).
const CHANNEL_DEPTH: usize = 16;
/// Decoder output buffer.
const RAW_BUFFER: usize = 128 * 1024;
/// Decoder output block for sinks: large writes, few syscalls, flat memory.
const SINK_BLOCK: usize = 1 << 20;
/// Hard cap on attempts, even when each one makes progress.
const MAX_TOTAL_ATTEMPTS: u32 = 100;

/// The decompressed image as an [`AsyncRead`]; call [`RawImageReader::finish`] after
/// reading to the end to get the digest.
pub struct RawImageReader {
    reader: ChunkReader,
    task: JoinHandle<Result<ImageDigest, Error>>,
    url: String,
}

impl RawImageReader {
    /// Waits for the download to finish and returns the digest. Reading stops if called
    /// before the end (the download is then aborted and a [`Error::Sink`] returned).
    pub async fn finish(self) -> Result<ImageDigest, Error> {
        let RawImageReader { reader, task, url } = self;
        drop(reader);
        task.await.unwrap_or_else(|e| {
            Err(Error::BadResponse {
                url,
                reason: format!("the download task failed: {e}"),
            })
        })
    }
}

impl AsyncRead for RawImageReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

/// Starts downloading `url` and returns the raw image as a stream.
///
/// The raw stream ends cleanly only if the whole image was downloaded and decoded; any
/// failure surfaces as a read error, and [`RawImageReader::finish`] says what failed.
/// Must be called within a Tokio runtime.
pub fn open_raw(
    client: &FactoryClient,
    url: Url,
    options: StreamOptions,
    progress: Arc<dyn ImageProgress>,
) -> RawImageReader {
    let (chunk_tx, chunk_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (raw_tx, raw_rx) = mpsc::channel(CHANNEL_DEPTH);
    let downloader = Downloader::new(client, url.clone(), options, progress);
    let url_text = url.to_string();
    let task_url = url_text.clone();
    let task = tokio::spawn(async move {
        let decoder =
            tokio::task::spawn_blocking(move || decode(chunk_rx, options.compression, Output::Channel(raw_tx)));
        let downloaded = downloader.run(chunk_tx).await;
        let decoded = decoder.await;
        combine(&task_url, options.compression, downloaded, decoded)
    });
    RawImageReader {
        reader: ChunkReader::new(raw_rx),
        task,
        url: url_text,
    }
}

/// Downloads `url`, writing the **compressed** bytes to `sink` as they arrive, while the
/// raw image is decoded and hashed locally. `sink` is flushed but not shut down.
///
/// # Errors
/// Download failures, [`Error::Decode`] for corrupt data, [`Error::Sink`] if writing fails.
pub async fn forward_compressed<W>(
    client: &FactoryClient,
    url: Url,
    options: StreamOptions,
    progress: Arc<dyn ImageProgress>,
    sink: &mut W,
) -> Result<ImageDigest, Error>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let (download_tx, mut download_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (decode_tx, decode_rx) = mpsc::channel(CHANNEL_DEPTH);
    let url_text = url.to_string();
    let downloader = Downloader::new(client, url, options, progress);
    let download = tokio::spawn(downloader.run(download_tx));
    let decoder = tokio::task::spawn_blocking(move || decode(decode_rx, options.compression, Output::Discard));
    let mut sink_error = None;
    while let Some(chunk) = download_rx.recv().await {
        if let Chunk::Data(bytes) = &chunk
            && let Err(e) = sink.write_all(bytes).await
        {
            sink_error = Some(e);
            break;
        }
        if decode_tx.send(chunk).await.is_err() {
            break;
        }
    }
    if sink_error.is_none()
        && let Err(e) = sink.flush().await
    {
        sink_error = Some(e);
    }
    drop(download_rx);
    drop(decode_tx);
    let downloaded = download.await.unwrap_or_else(|e| {
        Err(Failure::Fatal(Error::BadResponse {
            url: url_text.clone(),
            reason: format!("the download task failed: {e}"),
        }))
    });
    let decoded = decoder.await;
    if let Some(source) = sink_error {
        return Err(Error::Sink { url: url_text, source });
    }
    combine(&url_text, options.compression, downloaded, decoded)
}

/// Downloads and decodes `url` only to compute its [`ImageDigest`].
pub async fn digest(
    client: &FactoryClient,
    url: Url,
    options: StreamOptions,
    progress: Arc<dyn ImageProgress>,
) -> Result<ImageDigest, Error> {
    forward_compressed(client, url, options, progress, &mut tokio::io::sink()).await
}

/// Where [`download_to`] puts the decompressed image. Called on a dedicated blocking
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

/// Downloads `url` and writes the decompressed image into `sink`, returning the digest
/// and the sink. Decompressing, hashing and writing run on three dedicated threads in
/// 1 MiB blocks, with no async hop per write.
///
/// # Errors
/// Download failures, [`Error::Decode`] for corrupt data, [`Error::Sink`] if writing fails.
pub async fn download_to<S>(
    client: &FactoryClient,
    url: Url,
    options: StreamOptions,
    progress: Arc<dyn ImageProgress>,
    mut sink: S,
) -> Result<(ImageDigest, S), Error>
where
    S: RawSink + 'static,
{
    let (chunk_tx, chunk_rx) = mpsc::channel(CHANNEL_DEPTH);
    let url_text = url.to_string();
    let downloader = Downloader::new(client, url, options, progress);
    let decoder = tokio::task::spawn_blocking(move || {
        let result = decode(chunk_rx, options.compression, Output::Sink(&mut sink));
        (result, sink)
    });
    let downloaded = downloader.run(chunk_tx).await;
    let (decoded, sink) = match decoder.await {
        Ok((result, sink)) => (Ok(result), Some(sink)),
        Err(e) => (Err(e), None),
    };
    let digest = combine(&url_text, options.compression, downloaded, decoded)?;
    sink.map(|sink| (digest, sink)).ok_or_else(|| Error::BadResponse {
        url: url_text,
        reason: "the decoder task failed".to_string(),
    })
}

/// What flows from the downloader to the decoder: data, then an explicit end marker so a
/// failed download can never look like a complete one.
#[derive(Debug)]
enum Chunk {
    Data(Bytes),
    End,
}

/// Why the download stopped.
#[derive(Debug)]
enum Failure {
    /// A real failure to report.
    Fatal(Error),
    /// The decoder (or consumer) stopped taking data; its own error explains why.
    ReceiverGone,
}

/// Why decoding stopped.
#[derive(Debug)]
enum DecodeFailure {
    /// The data is not valid zstd/xz.
    Corrupt(io::Error),
    /// Bytes after the end of the compressed stream.
    Trailing,
    /// The input ended without the downloader's end marker (the download failed).
    InputAborted,
    /// The raw reader was dropped before the end.
    ConsumerGone,
    /// Writing to the raw sink failed.
    Sink(io::Error),
}

fn combine(
    url: &str,
    compression: Compression,
    downloaded: Result<(String, u64), Failure>,
    decoded: Result<Result<(String, u64), DecodeFailure>, tokio::task::JoinError>,
) -> Result<ImageDigest, Error> {
    let decoded = decoded.unwrap_or_else(|e| Err(DecodeFailure::Corrupt(io::Error::other(e.to_string()))));
    match (downloaded, decoded) {
        (Ok((compressed_sha256, compressed_bytes)), Ok((raw_sha256, raw_bytes))) => Ok(ImageDigest {
            compressed_sha256,
            compressed_bytes,
            raw_sha256,
            raw_bytes,
        }),
        (Err(Failure::Fatal(e)), _) => Err(e),
        (_, Err(DecodeFailure::Corrupt(source))) => Err(Error::Decode {
            url: url.to_string(),
            compression: compression.tool(),
            source,
        }),
        (_, Err(DecodeFailure::Trailing)) => Err(Error::BadResponse {
            url: url.to_string(),
            reason: format!("data follows the end of the {compression} stream"),
        }),
        (_, Err(DecodeFailure::Sink(source))) => Err(Error::Sink {
            url: url.to_string(),
            source,
        }),
        (_, Err(DecodeFailure::ConsumerGone)) => Err(Error::Sink {
            url: url.to_string(),
            source: io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the raw image reader was closed before the end",
            ),
        }),
        (_, Err(DecodeFailure::InputAborted)) | (Err(Failure::ReceiverGone), Ok(_)) => Err(Error::BadResponse {
            url: url.to_string(),
            reason: "the download stopped unexpectedly".to_string(),
        }),
    }
}

/// Feeds the decoder from the channel on a blocking thread. A [`BufRead`] over the
/// network chunks themselves, so the decoder reads them in place (no copy into a buffer).
struct ChannelInput {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
    ended: bool,
}

impl ChannelInput {
    /// Whether unread input is left after the decoder stopped: buffered, or still to come
    /// from the channel before the end marker.
    fn has_more(&mut self) -> io::Result<bool> {
        Ok(!self.fill_buf()?.is_empty())
    }
}

impl BufRead for ChannelInput {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() && !self.ended {
            match self.rx.blocking_recv() {
                Some(Chunk::Data(bytes)) => self.current = bytes,
                Some(Chunk::End) => self.ended = true,
                None => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, ABORTED)),
            }
        }
        Ok(&self.current)
    }

    fn consume(&mut self, amount: usize) {
        self.current = self.current.slice(amount.min(self.current.len())..);
    }
}

impl Read for ChannelInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

const ABORTED: &str = "the download ended before the image was complete";

enum Decoder {
    Zstd(zstd::stream::read::Decoder<'static, ChannelInput>),
    Xz(liblzma::bufread::XzDecoder<ChannelInput>),
}

impl Decoder {
    fn new(input: ChannelInput, compression: Compression) -> io::Result<Decoder> {
        Ok(match compression {
            Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(input)?),
            Compression::Xz => Decoder::Xz(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Xz(d) => d.read(buf),
        }
    }

    /// Whether input remains after the end of the compressed stream.
    fn has_trailing_input(self) -> io::Result<bool> {
        let mut input = match self {
            Decoder::Zstd(d) => d.finish(),
            Decoder::Xz(d) => d.into_inner(),
        };
        input.has_more()
    }
}

/// Where the decoder puts the raw bytes.
enum Output<'a> {
    /// Nowhere: only the digest is wanted.
    Discard,
    /// A channel read by a [`RawImageReader`].
    Channel(mpsc::Sender<io::Result<Bytes>>),
    /// A sink written on the decoder's own thread.
    Sink(&'a mut dyn RawSink),
}

/// Decodes everything from `rx`, hashing the raw bytes and passing them to `output`.
/// On failure a raw channel receives an error, never a clean end.
fn decode(
    rx: mpsc::Receiver<Chunk>,
    compression: Compression,
    mut output: Output<'_>,
) -> Result<(String, u64), DecodeFailure> {
    let result = decode_inner(rx, compression, &mut output);
    if let (Err(failure), Output::Channel(tx)) = (&result, &output) {
        let message = match failure {
            DecodeFailure::Corrupt(e) => format!("invalid {compression} data: {e}"),
            DecodeFailure::Trailing => format!("data follows the end of the {compression} stream"),
            DecodeFailure::InputAborted => ABORTED.to_string(),
            DecodeFailure::ConsumerGone | DecodeFailure::Sink(_) => String::new(),
        };
        let _ = tx.blocking_send(Err(io::Error::other(message)));
    }
    result
}

fn decode_inner(
    rx: mpsc::Receiver<Chunk>,
    compression: Compression,
    output: &mut Output<'_>,
) -> Result<(String, u64), DecodeFailure> {
    let input = ChannelInput {
        rx,
        current: Bytes::new(),
        ended: false,
    };
    let classify = |e: io::Error| {
        if e.kind() == io::ErrorKind::UnexpectedEof && e.to_string() == ABORTED {
            DecodeFailure::InputAborted
        } else {
            DecodeFailure::Corrupt(e)
        }
    };
    let mut decoder = Decoder::new(input, compression).map_err(classify)?;
    if let Output::Sink(sink) = output {
        let (sha, total) = decode_into_sink(&mut decoder, &mut **sink, classify)?;
        sink.finish(total).map_err(DecodeFailure::Sink)?;
        if decoder.has_trailing_input().map_err(classify)? {
            return Err(DecodeFailure::Trailing);
        }
        return Ok((sha, total));
    }
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let mut buf = vec![0u8; RAW_BUFFER];
    loop {
        let n = fill(&mut decoder, &mut buf).map_err(classify)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        let at = total;
        total += n as u64;
        match output {
            Output::Discard => {}
            Output::Channel(tx) => {
                if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                    return Err(DecodeFailure::ConsumerGone);
                }
            }
            Output::Sink(sink) => sink.write_at(at, &buf[..n]).map_err(DecodeFailure::Sink)?,
        }
    }
    if decoder.has_trailing_input().map_err(classify)? {
        return Err(DecodeFailure::Trailing);
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Reads until `buf` is full or the stream ends (short reads are common), so sinks see
/// large, aligned blocks. Returns the bytes read.
fn fill(decoder: &mut Decoder, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match decoder.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(read) => n += read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Blocks in flight in the decode → hash → write pipeline (one per stage and a spare).
const SINK_BLOCKS_IN_FLIGHT: usize = 4;

/// One decoded block: its buffer and how many bytes of it are image data.
type Block = (Vec<u8>, usize);

/// Decodes into `sink` with three threads: this one decompresses into [`SINK_BLOCK`]
/// buffers, a scoped second one hashes them, a third writes them. SHA-256 is the most
/// expensive stage, so it runs alone: the sink's copies into the page cache and its
/// writeback waits do not delay it. Buffers are recycled; memory stays at
/// [`SINK_BLOCKS_IN_FLIGHT`] blocks.
fn decode_into_sink(
    decoder: &mut Decoder,
    sink: &mut dyn RawSink,
    classify: impl Fn(io::Error) -> DecodeFailure,
) -> Result<(String, u64), DecodeFailure> {
    use std::sync::mpsc as sync;
    std::thread::scope(|scope| {
        let (decoded_tx, decoded_rx) = sync::sync_channel::<Block>(SINK_BLOCKS_IN_FLIGHT);
        let (hashed_tx, hashed_rx) = sync::sync_channel::<Block>(SINK_BLOCKS_IN_FLIGHT);
        let (empty_tx, empty_rx) = sync::channel::<Vec<u8>>();
        for _ in 0..SINK_BLOCKS_IN_FLIGHT {
            let _ = empty_tx.send(vec![0u8; SINK_BLOCK]);
        }
        let hasher = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for (buf, n) in decoded_rx {
                hasher.update(&buf[..n]);
                // A closed channel means the writer failed; it reports why.
                if hashed_tx.send((buf, n)).is_err() {
                    break;
                }
            }
            hex::encode(hasher.finalize())
        });
        let writer = scope.spawn(move || -> io::Result<u64> {
            let mut total = 0u64;
            for (buf, n) in hashed_rx {
                sink.write_at(total, &buf[..n])?;
                total += n as u64;
                // The decoder may have stopped; then the buffer is simply dropped.
                let _ = empty_tx.send(buf);
            }
            Ok(total)
        });
        let mut decode_error = None;
        // A closed channel means the writer failed; its error is reported below.
        while let Ok(mut buf) = empty_rx.recv() {
            match fill(decoder, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if decoded_tx.send((buf, n)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    decode_error = Some(e);
                    break;
                }
            }
        }
        drop(decoded_tx);
        let sha = hasher.join();
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the image writer thread panicked")));
        if let Some(e) = decode_error {
            return Err(classify(e));
        }
        let total = written.map_err(DecodeFailure::Sink)?;
        let sha = sha.map_err(|_| DecodeFailure::Sink(io::Error::other("the image hashing thread panicked")))?;
        Ok((sha, total))
    })
}

#[derive(Debug, PartialEq, Eq)]
struct ContentRange {
    start: u64,
    total: Option<u64>,
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some(ContentRange { start, total })
}

/// A minimal `AsyncRead` over a channel of byte chunks (`tokio_util::io::StreamReader`
/// needs a `Stream`; this avoids pulling in `tokio-stream` for one adapter).
mod chunk_reader {
    use super::*;

    pub struct ChunkReader {
        rx: mpsc::Receiver<io::Result<Bytes>>,
        current: Bytes,
        done: bool,
    }

    impl ChunkReader {
        pub fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> ChunkReader {
            ChunkReader {
                rx,
                current: Bytes::new(),
                done: false,
            }
        }
    }

    impl AsyncRead for ChunkReader {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            while self.current.is_empty() {
                if self.done {
                    return Poll::Ready(Ok(()));
                }
                match self.rx.poll_recv(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => self.done = true,
                    Poll::Ready(Some(Err(e))) => {
                        self.done = true;
                        return Poll::Ready(Err(e));
                    }
                    Poll::Ready(Some(Ok(bytes))) => self.current = bytes,
                }
            }
            let n = buf.remaining().min(self.current.len());
            buf.put_slice(&self.current[..n]);
            let rest = self.current.slice(n..);
            self.current = rest;
            Poll::Ready(Ok(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(
            parse_content_range("bytes 100-999/1000"),
            Some(ContentRange {
                start: 100,
                total: Some(1000)
            })
        );
        assert_eq!(
            parse_content_range("bytes 5-9/*"),
            Some(ContentRange { start: 5, total: None })
        );
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

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

    fn compress(raw: &[u8], compression: Compression) -> Vec<u8> {
        match compression {
            Compression::Zstd => zstd::encode_all(raw, 3).expect("compress"),
            Compression::Xz => {
                let mut out = Vec::new();
                liblzma::read::XzEncoder::new(raw, 1)
                    .read_to_end(&mut out)
                    .expect("compress");
                out
            }
        }
    }

    /// Runs the decoder on `chunks` (each sent as one network chunk), with or without the
    /// end marker.
    async fn decode_chunks(
        chunks: Vec<Vec<u8>>,
        end: bool,
        compression: Compression,
    ) -> Result<(String, u64), DecodeFailure> {
        let (tx, rx) = mpsc::channel(chunks.len() + 1);
        for chunk in chunks {
            tx.send(Chunk::Data(Bytes::from(chunk))).await.expect("send");
        }
        if end {
            tx.send(Chunk::End).await.expect("send");
        }
        drop(tx);
        tokio::task::spawn_blocking(move || decode(rx, compression, Output::Discard))
            .await
            .expect("join")
    }

    #[tokio::test]
    async fn decoder_rejects_truncated_and_trailing_input() {
        let raw: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 7) as u8 * (i / 40_000 % 2) as u8)
            .collect();
        for compression in [Compression::Zstd, Compression::Xz] {
            let compressed = compress(&raw, compression);
            // Truncated: no end marker, channel closes → InputAborted.
            let result = decode_chunks(vec![compressed[..compressed.len() / 2].to_vec()], false, compression).await;
            assert!(
                matches!(result, Err(DecodeFailure::InputAborted)),
                "{compression}: {result:?}"
            );
            // Trailing garbage after a complete stream, in the same chunk or in a later one.
            let mut with_trailing = compressed.clone();
            with_trailing.extend_from_slice(b"garbage");
            for chunks in [vec![with_trailing], vec![compressed.clone(), b"garbage".to_vec()]] {
                let result = decode_chunks(chunks, true, compression).await;
                assert!(
                    matches!(result, Err(DecodeFailure::Corrupt(_) | DecodeFailure::Trailing)),
                    "{compression}: {result:?}"
                );
            }
            // Complete input, split into small network chunks, decodes to the raw digest.
            let chunks = compressed.chunks(1000).map(<[u8]>::to_vec).collect();
            let (sha, len) = decode_chunks(chunks, true, compression).await.expect("decodes");
            assert_eq!(len, raw.len() as u64, "{compression}");
            assert_eq!(sha, hex::encode(Sha256::digest(&raw)), "{compression}");
        }
    }
}
