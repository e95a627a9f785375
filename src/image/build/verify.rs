//! Step 6: before anything is snapshotted, read the disk back and compare.
//!
//! Two facts are checked on the builder after the write and `sync`:
//!
//! * **Length.** The image's own primary GPT header (LBA 1) records where its backup
//!   header lies (`AlternateLBA`), which is the last sector of the image as built: the raw
//!   size is `(AlternateLBA + 1) × 512`. The number of decompressed bytes written must equal
//!   it. Why this source: the factory's `Content-Length` is the *compressed* size, and a
//!   streaming zstd frame need not record the raw size, while every Talos disk image is
//!   GPT-partitioned — so the GPT is the one place that states the raw size for both
//!   compressions and both modes, and it catches a stream that ended cleanly but early.
//! * **Content.** The SHA-256 of the first N bytes of `/dev/sda` (`dd … iflag=count_bytes`
//!   into [`super::write::SHA256`]: `openssl dgst`, else `sha256sum`) must equal the SHA-256
//!   of the decompressed stream. With `--via local` that hash is computed here, from
//!   talos-hcloud's own decoding of the download; with `--via remote` it is the rescue's
//!   `tee` into the same command, so it proves the disk holds exactly what the decompressor
//!   produced, and the decompressor's own check (zstd content checksums, xz CRC) together
//!   with the length proves the download. A mismatch, short write or decompressor error
//!   fails the build: no snapshot.

use crate::ssh::Session;

use super::error::Error;

/// Sector size of the GPT's LBAs in a Talos disk image.
const SECTOR: u64 = 512;

/// The raw image size a primary GPT header (the 512 bytes of LBA 1) records.
///
/// # Errors
/// A message when the bytes are not a GPT header.
pub fn gpt_image_size(lba1: &[u8]) -> Result<u64, String> {
    if lba1.len() < 40 || &lba1[..8] != b"EFI PART" {
        return Err("the disk has no GPT header at LBA 1 (not a Talos disk image)".into());
    }
    let mut alternate = [0u8; 8];
    alternate.copy_from_slice(&lba1[32..40]);
    let alternate = u64::from_le_bytes(alternate);
    alternate
        .checked_add(1)
        .and_then(|sectors| sectors.checked_mul(SECTOR))
        .ok_or_else(|| format!("the GPT header's backup LBA {alternate} is not a disk size"))
}

/// Runs `command`, which must succeed; returns its stdout.
async fn output(session: &Session, server: &str, command: &str) -> Result<Vec<u8>, Error> {
    let (status, stdout, stderr) = session
        .output(command)
        .await
        .map_err(Error::ssh(server, "reading the disk back"))?;
    if !status.success() {
        return Err(Error::Verify {
            server: server.to_string(),
            reason: format!(
                "`{command}` failed ({status}): {}",
                String::from_utf8_lossy(&stderr).trim()
            ),
        });
    }
    Ok(stdout)
}

/// Checks that `/dev/sda` on the builder starts with exactly the `bytes` bytes whose
/// SHA-256 is `sha256`, and that `bytes` is the image's size per its GPT.
///
/// # Errors
/// [`Error::Verify`] on any difference, [`Error::Ssh`] when the session fails.
pub async fn verify_disk(session: &Session, server: &str, sha256: &str, bytes: u64) -> Result<(), Error> {
    let fail = |reason: String| Error::Verify {
        server: server.to_string(),
        reason,
    };
    let lba1 = output(session, server, "dd if=/dev/sda bs=512 skip=1 count=1 status=none").await?;
    let expected = gpt_image_size(&lba1).map_err(fail)?;
    if bytes != expected {
        return Err(fail(format!(
            "{bytes} bytes were written but the image's GPT says it is {expected} bytes long (a cut or \
             oversized stream)"
        )));
    }
    // dd's 4 MiB reads, not head's 8 KiB ones: half the time of `head -c` on a 1.2 GiB image.
    let command = format!(
        "dd if=/dev/sda bs=4M count={bytes} iflag=count_bytes status=none | {}",
        super::write::SHA256
    );
    let summed = output(session, server, &command).await?;
    let summed = String::from_utf8_lossy(&summed);
    let on_disk = summed.split_whitespace().next().unwrap_or_default();
    if !on_disk.eq_ignore_ascii_case(sha256) {
        return Err(fail(format!(
            "the first {bytes} bytes of /dev/sda hash to {on_disk}, the image to {sha256}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_size_comes_from_the_backup_header_lba() {
        let mut lba1 = vec![0u8; 512];
        lba1[..8].copy_from_slice(b"EFI PART");
        let size: u64 = 24 * 1024 * 1024;
        lba1[32..40].copy_from_slice(&(size / 512 - 1).to_le_bytes());
        assert_eq!(gpt_image_size(&lba1), Ok(size));
        lba1[0] = b'X';
        assert!(gpt_image_size(&lba1).is_err());
        assert!(gpt_image_size(&[]).is_err());
        let mut huge = vec![0u8; 512];
        huge[..8].copy_from_slice(b"EFI PART");
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(gpt_image_size(&huge).is_err());
    }
}
