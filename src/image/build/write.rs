//! Step 5: the shell scripts that write the image on the rescue system, and running them.
//!
//! Both modes run one script: `set -o pipefail`, discard the disk (so `conv=sparse` may
//! skip zero blocks; without a discard every block is written), decompress, `dd` with 4 MiB
//! blocks, `sync`. The decompressed stream is also `tee`d into a SHA-256 ([`SHA256`]) and
//! `wc -c` through FIFOs, so the script reports what it wrote: `talos-hcloud-stream SHA256
//! BYTES`.
//! `--via remote` downloads with `curl` (or `wget`) on the rescue system; `--via local`
//! reads the compressed image from the SSH channel's stdin, fed by talos-hcloud's own
//! download (constant memory, hashed locally while it streams).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use url::Url;

use crate::factory::image_stream::{self, ImageDigest, ImageProgress, StreamOptions};
use crate::factory::{Compression, FactoryClient};
use crate::spec::Architecture;
use crate::ssh::Session;

use super::error::Error;
use super::progress::BuildProgress;

/// The marker of the script's result line.
const STREAM_MARKER: &str = "talos-hcloud-stream";
/// A shell command that prints the SHA-256 of its stdin as the first word: `openssl dgst`
/// where the rescue system has it (hardware SHA instructions: ~1.8 GB/s on the build
/// machines here, where coreutils' `sha256sum` makes ~0.28 GB/s and was the slowest stage
/// of writing and verifying a 1.2 GiB image), else `sha256sum`.
pub const SHA256: &str = "{ if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }";
/// Bytes of stderr kept for an error message.
const STDERR_TAIL: usize = 2048;
/// Buffer between the local download and the SSH channel.
const PIPE_BUFFER: usize = 1 << 20;

/// Where the compressed image comes from on the rescue system.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// Downloaded there from this URL.
    Url(&'a str),
    /// Read from stdin (streamed by talos-hcloud).
    Stdin,
}

/// What the write script reports it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Lower-case hex SHA-256 of the decompressed stream.
    pub sha256: String,
    /// Its length in bytes.
    pub bytes: u64,
}

/// `text` as one single-quoted shell word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The write script for `source` and `compression`.
pub fn script(source: Source<'_>, compression: Compression) -> String {
    let fetch = match source {
        Source::Url(url) => {
            let url = shell_quote(url);
            format!(
                "if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 3 {url}; else wget -q -O - {url}; fi | "
            )
        }
        Source::Stdin => String::new(),
    };
    let decompress = compression.tool();
    format!(
        r#"set -euo pipefail
export LC_ALL=C
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
if blkdiscard -f /dev/sda 2>/dev/null || blkdiscard /dev/sda 2>/dev/null; then sparse=conv=sparse; else sparse=; echo "talos-hcloud: cannot discard /dev/sda; writing every block" >&2; fi
mkfifo "$work/sum" "$work/count"
{SHA256} < "$work/sum" > "$work/sum.out" 2>/dev/null &
sum_pid=$!
wc -c < "$work/count" > "$work/count.out" 2>/dev/null &
count_pid=$!
{fetch}{decompress} -dc | tee "$work/sum" "$work/count" | dd of=/dev/sda bs=4M iflag=fullblock $sparse status=progress
wait "$sum_pid" "$count_pid"
sync
echo "{STREAM_MARKER} $(cut -d' ' -f1 < "$work/sum.out") $(tr -d ' ' < "$work/count.out")"
"#
    )
}

/// The result line of the write script in `stdout`, if there is a well-formed one.
pub fn parse_written(stdout: &str) -> Option<Written> {
    let line = stdout.lines().rev().find(|l| l.starts_with(STREAM_MARKER))?;
    let mut fields = line.split_whitespace().skip(1);
    let sha256 = fields.next()?;
    let bytes = fields.next()?.parse().ok()?;
    (sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Written {
        sha256: sha256.to_ascii_lowercase(),
        bytes,
    })
}

/// Collects a command's stderr: `dd status=progress` lines become progress reports, the
/// rest is kept (its end) for error messages.
struct Stderr<'p> {
    arch: Architecture,
    progress: &'p dyn BuildProgress,
    total: Option<u64>,
    segment: Vec<u8>,
    tail: Vec<u8>,
}

impl<'p> Stderr<'p> {
    fn new(arch: Architecture, progress: &'p dyn BuildProgress, total: Option<u64>) -> Self {
        Stderr {
            arch,
            progress,
            total,
            segment: Vec::new(),
            tail: Vec::new(),
        }
    }

    fn end_segment(&mut self, terminator: u8) {
        let segment = std::mem::take(&mut self.segment);
        if let Some(done) = dd_progress(&segment) {
            self.progress.bytes(self.arch, done, self.total);
            return;
        }
        self.tail.extend_from_slice(&segment);
        self.tail.push(if terminator == b'\r' { b'\n' } else { terminator });
        if self.tail.len() > STDERR_TAIL {
            let cut = self.tail.len() - STDERR_TAIL;
            self.tail.drain(..cut);
        }
    }

    fn text(&mut self) -> String {
        if !self.segment.is_empty() {
            self.end_segment(b'\n');
        }
        String::from_utf8_lossy(&self.tail).trim().to_string()
    }
}

/// The byte count of a `dd status=progress` line (`123456 bytes (123 kB, …) copied, …`).
fn dd_progress(segment: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(segment).ok()?.trim();
    let (number, rest) = text.split_once(' ')?;
    (rest.starts_with("bytes") && rest.contains("copied"))
        .then(|| number.parse().ok())
        .flatten()
}

impl AsyncWrite for Stderr<'_> {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        for &byte in buf {
            if byte == b'\r' || byte == b'\n' {
                this.end_segment(byte);
            } else if this.segment.len() < STDERR_TAIL {
                this.segment.push(byte);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs the write script on `session` with `stdin`; returns what it reports.
async fn run_script<I>(
    session: &Session,
    server: &str,
    script: &str,
    stdin: I,
    arch: Architecture,
    progress: &dyn BuildProgress,
    raw_total: Option<u64>,
) -> Result<Written, Error>
where
    I: tokio::io::AsyncRead + Unpin,
{
    let mut stdout = Vec::new();
    let mut stderr = Stderr::new(arch, progress, raw_total);
    let command = format!("bash -c {}", shell_quote(script));
    let status = session
        .exec(&command, stdin, &mut stdout, &mut stderr)
        .await
        .map_err(Error::ssh(server, "writing the image"))?;
    let stdout = String::from_utf8_lossy(&stdout);
    match (status.success(), parse_written(&stdout)) {
        (true, Some(written)) => Ok(written),
        (success, _) => Err(Error::Write {
            server: server.to_string(),
            status: if success {
                "no result line".to_string()
            } else {
                status.to_string()
            },
            stderr: stderr.text(),
        }),
    }
}

/// `--via remote`: the rescue system downloads `url` itself.
///
/// # Errors
/// [`Error::Ssh`], [`Error::Write`] (download, decompressor or disk failure).
pub async fn write_remote(
    session: &Session,
    server: &str,
    url: &Url,
    compression: Compression,
    arch: Architecture,
    progress: &dyn BuildProgress,
) -> Result<Written, Error> {
    let script = script(Source::Url(url.as_str()), compression);
    run_script(session, server, &script, tokio::io::empty(), arch, progress, None).await
}

/// Reports compressed bytes sent as build progress.
struct SentProgress {
    arch: Architecture,
    progress: Arc<dyn BuildProgress>,
    total: std::sync::Mutex<Option<u64>>,
}

impl ImageProgress for SentProgress {
    fn total(&self, bytes: Option<u64>) {
        *crate::lock::lock(&self.total) = bytes;
    }

    fn advanced(&self, done: u64) {
        let total = *crate::lock::lock(&self.total);
        self.progress.bytes(self.arch, done, total);
    }

    fn retrying(&self, attempt: u32, offset: u64, reason: &str) {
        self.progress.note(
            Some(self.arch),
            &format!("download interrupted (attempt {attempt}, at {offset} bytes): {reason}; resuming"),
        );
    }
}

/// `--via local`: talos-hcloud downloads `url` and streams the compressed bytes into the
/// script's stdin, hashing the decompressed image locally as it goes. Returns what the
/// script wrote and the local digest.
///
/// # Errors
/// [`Error::Stream`] (download or local decoding failed), [`Error::Ssh`], [`Error::Write`].
#[allow(clippy::too_many_arguments)]
pub async fn write_local(
    session: &Session,
    server: &str,
    factory: &FactoryClient,
    url: &Url,
    options: StreamOptions,
    arch: Architecture,
    progress: Arc<dyn BuildProgress>,
) -> Result<(Written, ImageDigest), Error> {
    let script = script(Source::Stdin, options.compression);
    let (mut writer, reader) = tokio::io::duplex(PIPE_BUFFER);
    let sent = Arc::new(SentProgress {
        arch,
        progress: Arc::clone(&progress),
        total: std::sync::Mutex::new(None),
    });
    let download = async {
        let result = image_stream::forward_compressed(factory, url.clone(), options, sent, &mut writer).await;
        drop(writer);
        result
    };
    let quiet = super::progress::NoProgress;
    let (downloaded, written) = tokio::join!(
        download,
        run_script(session, server, &script, reader, arch, &quiet, None)
    );
    match (downloaded, written) {
        (Ok(digest), Ok(written)) => Ok((written, digest)),
        // The script ended first and closed its stdin: its own error says why.
        (Err(crate::factory::Error::Sink { .. }), Err(error)) => Err(error),
        // Otherwise the download's error explains the failure better than the script's
        // stderr (which then only saw its input end early).
        (Err(source), _) => Err(Error::Stream {
            server: server.to_string(),
            source: Box::new(source),
        }),
        (Ok(_), Err(error)) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_fail_on_any_stage_and_report_what_they_wrote() {
        let remote = script(
            Source::Url("http://127.0.0.1:1/image/x/v1.11.5/hcloud-arm64.raw.zst"),
            Compression::Zstd,
        );
        assert!(remote.starts_with("set -euo pipefail\n"), "{remote}");
        assert!(remote.contains("curl -fsSL --retry 3 'http://127.0.0.1:1/image/x/v1.11.5/hcloud-arm64.raw.zst'"));
        assert!(remote.contains("zstd -dc | tee"));
        assert!(remote.contains("dd of=/dev/sda bs=4M iflag=fullblock $sparse status=progress"));
        assert!(remote.contains("\nsync\n"));
        let local = script(Source::Stdin, Compression::Xz);
        assert!(local.contains("\nxz -dc | tee"), "{local}");
        assert!(!local.contains("curl"));
    }

    /// Runs [`SHA256`] under bash with `PATH` holding only links to `tools`, on `input`.
    fn sha256_with(tools: &[&str], input: &[u8]) -> String {
        use std::io::Write as _;
        let bin = tempfile::tempdir().expect("a folder");
        for tool in tools.iter().chain(&["bash"]) {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|dir| std::path::Path::new(dir).join(tool))
                .find(|path| path.exists())
                .unwrap_or_else(|| panic!("{tool} is installed"));
            std::os::unix::fs::symlink(real, bin.path().join(tool)).expect("a link");
        }
        let mut child = std::process::Command::new(bin.path().join("bash"))
            .args(["-c", SHA256])
            .env_clear()
            .env("PATH", bin.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("bash runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("input written");
        let output = child.wait_with_output().expect("bash ends");
        assert!(output.status.success(), "{tools:?}: {output:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace().next().unwrap_or_default().to_string()
    }

    #[test]
    fn the_hash_command_uses_openssl_when_there_and_sha256sum_otherwise() {
        use sha2::{Digest, Sha256};
        let input = b"talos-hcloud".repeat(100_000);
        let expected = hex::encode(Sha256::digest(&input));
        assert_eq!(sha256_with(&["openssl"], &input), expected, "openssl alone");
        assert_eq!(sha256_with(&["sha256sum"], &input), expected, "sha256sum alone");
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn the_result_line_is_parsed_strictly() {
        let sha = "a".repeat(64);
        let out = format!("noise\n{STREAM_MARKER} {sha} 4194304\n");
        assert_eq!(
            parse_written(&out),
            Some(Written {
                sha256: sha.clone(),
                bytes: 4_194_304
            })
        );
        assert_eq!(parse_written(&format!("{STREAM_MARKER}  4194304\n")), None);
        assert_eq!(parse_written(&format!("{STREAM_MARKER} {sha} \n")), None);
        assert_eq!(parse_written(""), None);
    }

    #[test]
    fn dd_progress_lines_are_recognised() {
        assert_eq!(
            dd_progress(b"1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2 s, 537 MB/s"),
            Some(1_073_741_824)
        );
        assert_eq!(dd_progress(b"zstd: error 70 : Write error"), None);
        assert_eq!(dd_progress(b"2+0 records in"), None);
    }
}
