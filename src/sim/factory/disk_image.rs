//! Synthetic Talos disk images: what the emulated Image Factory serves and what emulated
//! machines recognise on their disks.
//!
//! An image is generated, never stored: [`raw_image`] streams the raw bytes of an
//! [`ImageSpec`] in constant memory, deterministically (the same spec always gives the
//! same bytes, so a hash of two generations is equal and a server's disk can be compared
//! with what the factory served). [`inspect`] reads a few KiB of a disk and says which
//! image it holds, or nothing when the disk does not hold a *complete* one.
//!
//! # Format (version 1)
//!
//! All offsets are bytes from the start of the disk; `R` is the image's raw size (a
//! multiple of 4 KiB, at least 4 MiB; the factory's default is 1246 MiB, the Talos
//! imager's minimum hcloud disk).
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 512 | protective MBR (one `0xEE` partition) |
//! | 512 | 512 | primary GPT header (CRC32s valid) |
//! | 1024 | 16 KiB | 128 GPT partition entries |
//! | 64 KiB | 4 KiB | **header metadata block** |
//! | 1 MiB | … | partitions `EFI`, `BIOS`, `BOOT`, `META`, `STATE` |
//! | `R` − 1 MiB | | end of the last partition |
//! | `R` − 64 KiB | 4 KiB | **trailer metadata block** |
//! | `R` − 16.5 KiB | 16.5 KiB | backup GPT entries and header |
//!
//! Partition sizes follow a real Talos hcloud image (EFI 100 MiB, BIOS 1 MiB, BOOT
//! 1000 MiB, META 1 MiB, STATE the rest) scaled to `R` in 4 KiB blocks. Each partition
//! holds seeded noise from its start (EFI 30 %, BIOS all, BOOT 28 %, META and STATE one
//! block or 1 %); everything else is zeros. At the default size about 25 % of the blocks
//! are non-zero, and the noise has 6 bits of entropy per byte (every byte in `1..=64`), so
//! a compressed image is about as large as a real one. Every non-zero 4 KiB block contains
//! no zero byte outside the GPT and metadata blocks; every other block is all zeros.
//!
//! A metadata block is UTF-8 text padded with zero bytes to 4 KiB:
//!
//! ```text
//! talos-hcloud synthetic image v1
//! part=header                       (or part=trailer)
//! schematic=<64 lower-case hex>
//! version=v1.11.6
//! arch=amd64                        (or arm64)
//! raw_size=1306525696
//! sum=<SHA-256, lower-case hex, of all the lines above including their newlines>
//! ```
//!
//! [`inspect`] accepts a disk only when the header block parses, its sum matches, and the
//! trailer block at `raw_size − 64 KiB` (read from the header) names the same schematic,
//! version, architecture and size. A truncated write (the trailer missing or zero), a
//! plain Linux disk or random bytes give `None`. A disk larger than the image (a server's
//! disk with the image written at its start) is recognised.

use std::io::{self, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use crate::factory::Arch;

/// Block granularity of the layout: noise or zeros are decided per 4 KiB block.
pub const BLOCK: u64 = 4096;
/// Offset of the header metadata block.
pub const HEADER_OFFSET: u64 = 64 * 1024;
/// Distance of the trailer metadata block from the end of the image.
pub const TRAILER_FROM_END: u64 = 64 * 1024;
/// The smallest raw size accepted (room for the GPTs, the metadata and five partitions).
pub const MIN_RAW_SIZE: u64 = 4 * MIB;
/// The largest raw size accepted (larger than any Hetzner disk).
pub const MAX_RAW_SIZE: u64 = 1 << 40;
/// The default raw size: the Talos imager's minimum raw disk for hcloud (1246 MiB).
pub const DEFAULT_RAW_SIZE: u64 = 1246 * MIB;

const MIB: u64 = 1024 * 1024;
const SECTOR: u64 = 512;
const MAGIC_LINE: &str = "talos-hcloud synthetic image v1\n";
const GPT_ENTRIES: usize = 128;
const GPT_ENTRY_SIZE: usize = 128;
/// Head region kept in memory: MBR, primary GPT and the header metadata block.
const HEAD_LEN: u64 = HEADER_OFFSET + BLOCK;

/// What to generate: one factory asset's raw disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageSpec {
    /// The schematic ID (64 lower-case hex characters).
    pub schematic: String,
    /// The Talos version with its `v`, e.g. `v1.11.6`.
    pub version: String,
    /// The architecture the image is built for.
    pub arch: Arch,
    /// Raw (decompressed) size in bytes: a multiple of 4 KiB, 4 MiB to 1 TiB.
    pub raw_size: u64,
    /// Seed of the noise; the same spec with another seed gives other noise bytes but the
    /// same layout and metadata.
    pub seed: u64,
}

/// What a disk holds, as [`inspect`] reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageInfo {
    /// The schematic ID the image was built from.
    pub schematic: String,
    /// The Talos version, e.g. `v1.11.6`.
    pub version: String,
    /// The architecture the image boots on.
    pub arch: Arch,
    /// The image's raw size in bytes (the disk may be larger).
    pub raw_size: u64,
}

/// An [`ImageSpec`] that cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The schematic is not 64 lower-case hex characters.
    #[error("schematic ID `{0}` is not 64 lower-case hex characters")]
    Schematic(String),
    /// The version is empty, too long or has characters outside `[A-Za-z0-9._+-]`.
    #[error("Talos version `{0}` is not a version (1–64 characters of A-Z a-z 0-9 . _ + -)")]
    Version(String),
    /// The raw size is out of range or not a multiple of 4 KiB.
    #[error("raw image size {0} is not a multiple of 4096 between 4 MiB and 1 TiB")]
    RawSize(u64),
}

impl ImageSpec {
    /// Checks that the spec can be generated (see [`SpecError`]).
    pub fn validate(&self) -> Result<(), SpecError> {
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if self.schematic.len() != 64 || !self.schematic.chars().all(hex) {
            return Err(SpecError::Schematic(
                crate::excerpt::excerpt(&self.schematic).into_owned(),
            ));
        }
        let version_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-');
        if self.version.is_empty() || self.version.len() > 64 || !self.version.chars().all(version_char) {
            return Err(SpecError::Version(crate::excerpt::excerpt(&self.version).into_owned()));
        }
        if !self.raw_size.is_multiple_of(BLOCK) || !(MIN_RAW_SIZE..=MAX_RAW_SIZE).contains(&self.raw_size) {
            return Err(SpecError::RawSize(self.raw_size));
        }
        Ok(())
    }

    /// The number of bytes in non-zero 4 KiB blocks of the image (what a sparse copy
    /// allocates at best); 0 for a spec that does not validate.
    pub fn nonzero_bytes(&self) -> u64 {
        if self.validate().is_err() {
            return 0;
        }
        let layout = Layout::new(self.raw_size);
        let filled: u64 = layout.parts.iter().map(|p| p.filled).sum();
        let (head, tail) = build_head_tail(self, &spec_key(self), &layout);
        let nonzero = |bytes: &[u8]| {
            bytes
                .chunks(BLOCK as usize)
                .filter(|b| b.iter().any(|x| *x != 0))
                .count() as u64
        };
        (filled + nonzero(&head) + nonzero(&tail)) * BLOCK
    }
}

/// Starts generating the raw disk of `spec` (see the module docs for the format).
pub fn raw_image(spec: &ImageSpec) -> Result<RawImage, SpecError> {
    spec.validate()?;
    let key = spec_key(spec);
    let layout = Layout::new(spec.raw_size);
    let (head, tail) = build_head_tail(spec, &key, &layout);
    let noise_key = u64::from_le_bytes([key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7]]);
    Ok(RawImage {
        size: spec.raw_size,
        pos: 0,
        head,
        tail,
        layout,
        noise_key,
    })
}

/// Reads which synthetic image `disk` holds, if it holds a complete one.
///
/// Reads two 4 KiB blocks (the header at 64 KiB and the trailer it points to); a disk too
/// short for either gives `None`. Errors are the reader's own I/O errors.
pub fn inspect<D: Read + Seek + ?Sized>(disk: &mut D) -> io::Result<Option<ImageInfo>> {
    let Some(header) = read_block(disk, HEADER_OFFSET)? else {
        return Ok(None);
    };
    let Some((part, info)) = parse_metadata(&header) else {
        return Ok(None);
    };
    if part != "header" {
        return Ok(None);
    }
    let Some(trailer) = read_block(disk, info.raw_size - TRAILER_FROM_END)? else {
        return Ok(None);
    };
    match parse_metadata(&trailer) {
        Some((part, trailer_info)) if part == "trailer" && trailer_info == info => Ok(Some(info)),
        _ => Ok(None),
    }
}

/// A synthetic raw disk being generated; `Read` yields its bytes, `Seek` moves within it.
#[derive(Debug, Clone)]
pub struct RawImage {
    size: u64,
    pos: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    layout: Layout,
    noise_key: u64,
}

impl RawImage {
    /// The raw size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Writes block `index` (4 KiB) into `out`.
    fn block(&self, index: u64, out: &mut [u8]) {
        let offset = index * BLOCK;
        let tail_start = self.size - self.tail.len() as u64;
        if offset < HEAD_LEN {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            out.copy_from_slice(&self.head[start..start + BLOCK as usize]);
        } else if offset >= tail_start {
            let start = usize::try_from(offset - tail_start).unwrap_or(usize::MAX);
            out.copy_from_slice(&self.tail[start..start + BLOCK as usize]);
        } else if self.layout.is_filled(index) {
            noise_block(self.noise_key, index, out);
        } else {
            out.fill(0);
        }
    }
}

impl Read for RawImage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        let mut scratch = [0u8; BLOCK as usize];
        while written < buf.len() && self.pos < self.size {
            let index = self.pos / BLOCK;
            let within = (self.pos % BLOCK) as usize;
            let room = buf.len() - written;
            if within == 0 && room >= BLOCK as usize {
                self.block(index, &mut buf[written..written + BLOCK as usize]);
                written += BLOCK as usize;
                self.pos += BLOCK;
            } else {
                self.block(index, &mut scratch);
                let n = (BLOCK as usize - within).min(room);
                buf[written..written + n].copy_from_slice(&scratch[within..within + n]);
                written += n;
                self.pos += n as u64;
            }
        }
        Ok(written)
    }
}

impl Seek for RawImage {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the image"))?;
        self.pos = target;
        Ok(target)
    }
}

/// One partition of the layout, in 4 KiB blocks.
#[derive(Debug, Clone, Copy)]
struct Part {
    name: &'static str,
    type_guid: &'static str,
    start: u64,
    blocks: u64,
    /// Blocks of noise from the partition's start.
    filled: u64,
}

/// The partition layout of an image of a given size.
#[derive(Debug, Clone)]
struct Layout {
    parts: [Part; 5],
}

const EFI_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const BIOS_TYPE: &str = "21686148-6449-6E6F-744E-656564454649";
const LINUX_TYPE: &str = "0FC63DAF-8483-4772-8E69-3D69D8477DE4";

impl Layout {
    fn new(raw_size: u64) -> Layout {
        let first = MIB / BLOCK;
        let avail = (raw_size - 2 * MIB) / BLOCK;
        // Real sizes in MiB at the default size, where `avail` is 1244 MiB.
        let scaled = |mib: u64| (avail * mib / 1244).max(1);
        let efi = scaled(100);
        let bios = scaled(1);
        let boot = scaled(1000);
        let meta = scaled(1);
        let state = avail - efi - bios - boot - meta;
        let sizes = [
            ("EFI", EFI_TYPE, efi, efi * 30 / 100),
            ("BIOS", BIOS_TYPE, bios, bios),
            ("BOOT", LINUX_TYPE, boot, boot * 28 / 100),
            ("META", LINUX_TYPE, meta, 1),
            ("STATE", LINUX_TYPE, state, state / 100),
        ];
        let mut start = first;
        let parts = sizes.map(|(name, type_guid, blocks, filled)| {
            let part = Part {
                name,
                type_guid,
                start,
                blocks,
                filled: filled.clamp(1, blocks),
            };
            start += blocks;
            part
        });
        Layout { parts }
    }

    fn is_filled(&self, index: u64) -> bool {
        self.parts
            .iter()
            .any(|p| index >= p.start && index < p.start + p.filled)
    }
}

/// Seeded noise for one block: bytes in `1..=64` (6 bits of entropy, never zero).
fn noise_block(key: u64, index: u64, out: &mut [u8]) {
    let mut state = key ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in out.chunks_exact_mut(8) {
        let word = (splitmix64(&mut state) & 0x3F3F_3F3F_3F3F_3F3F) + 0x0101_0101_0101_0101;
        chunk.copy_from_slice(&word.to_le_bytes());
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A digest of everything that makes an image, from which GUIDs and the noise key derive.
fn spec_key(spec: &ImageSpec) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"talos-hcloud synthetic image v1\0");
    for part in [
        spec.schematic.as_bytes(),
        spec.version.as_bytes(),
        spec.arch.as_str().as_bytes(),
    ] {
        h.update(part);
        h.update([0]);
    }
    h.update(spec.raw_size.to_le_bytes());
    h.update(spec.seed.to_le_bytes());
    h.finalize().into()
}

/// The first [`HEAD_LEN`] and the last [`TRAILER_FROM_END`] bytes of the image.
fn build_head_tail(spec: &ImageSpec, key: &[u8; 32], layout: &Layout) -> (Vec<u8>, Vec<u8>) {
    let total_lba = spec.raw_size / SECTOR;
    let entries = gpt_entries(key, layout);
    let entries_crc = crc32fast::hash(&entries);
    let disk_guid = derived_guid(key, b"disk");

    let mut head = vec![0u8; HEAD_LEN as usize];
    // Protective MBR.
    let mbr = &mut head[446..462];
    mbr[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    mbr[4] = 0xEE;
    mbr[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    mbr[8..12].copy_from_slice(&1u32.to_le_bytes());
    let mbr_size = u32::try_from(total_lba - 1).unwrap_or(u32::MAX);
    mbr[12..16].copy_from_slice(&mbr_size.to_le_bytes());
    head[510] = 0x55;
    head[511] = 0xAA;
    let primary = gpt_header(1, total_lba - 1, 2, total_lba, &disk_guid, entries_crc);
    head[512..512 + primary.len()].copy_from_slice(&primary);
    head[1024..1024 + entries.len()].copy_from_slice(&entries);
    let header_block = metadata_block(spec, "header");
    head[HEADER_OFFSET as usize..].copy_from_slice(&header_block);

    let mut tail = vec![0u8; TRAILER_FROM_END as usize];
    tail[..BLOCK as usize].copy_from_slice(&metadata_block(spec, "trailer"));
    let backup_entries_lba = total_lba - 33;
    let backup = gpt_header(total_lba - 1, 1, backup_entries_lba, total_lba, &disk_guid, entries_crc);
    let entries_at = tail.len() - 33 * SECTOR as usize;
    tail[entries_at..entries_at + entries.len()].copy_from_slice(&entries);
    let header_at = tail.len() - SECTOR as usize;
    tail[header_at..header_at + backup.len()].copy_from_slice(&backup);
    (head, tail)
}

fn gpt_header(
    my_lba: u64,
    alternate_lba: u64,
    entries_lba: u64,
    total_lba: u64,
    disk_guid: &[u8; 16],
    entries_crc: u32,
) -> Vec<u8> {
    let mut h = vec![0u8; 92];
    h[0..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&my_lba.to_le_bytes());
    h[32..40].copy_from_slice(&alternate_lba.to_le_bytes());
    h[40..48].copy_from_slice(&34u64.to_le_bytes());
    h[48..56].copy_from_slice(&(total_lba - 34).to_le_bytes());
    h[56..72].copy_from_slice(disk_guid);
    h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    h[80..84].copy_from_slice(&(GPT_ENTRIES as u32).to_le_bytes());
    h[84..88].copy_from_slice(&(GPT_ENTRY_SIZE as u32).to_le_bytes());
    h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
    let crc = crc32fast::hash(&h);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

fn gpt_entries(key: &[u8; 32], layout: &Layout) -> Vec<u8> {
    let mut entries = vec![0u8; GPT_ENTRIES * GPT_ENTRY_SIZE];
    let sectors_per_block = BLOCK / SECTOR;
    for (i, part) in layout.parts.iter().enumerate() {
        let e = &mut entries[i * GPT_ENTRY_SIZE..(i + 1) * GPT_ENTRY_SIZE];
        e[0..16].copy_from_slice(&guid_bytes(part.type_guid));
        e[16..32].copy_from_slice(&derived_guid(key, part.name.as_bytes()));
        let first = part.start * sectors_per_block;
        let last = (part.start + part.blocks) * sectors_per_block - 1;
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
        for (j, unit) in part.name.encode_utf16().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&unit.to_le_bytes());
        }
    }
    entries
}

/// A GUID in GPT's mixed-endian byte order from its text form.
fn guid_bytes(text: &str) -> [u8; 16] {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    // Only called with the constant type GUIDs above, which always parse.
    let mut out = u128::from_str_radix(&digits, 16).unwrap_or(0).to_be_bytes();
    out[0..4].reverse();
    out[4..6].reverse();
    out[6..8].reverse();
    out
}

/// A random-looking (version 4) GUID derived from the spec key and a label.
fn derived_guid(key: &[u8; 32], label: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(label);
    let digest: [u8; 32] = h.finalize().into();
    let mut g = [0u8; 16];
    g.copy_from_slice(&digest[..16]);
    g[7] = (g[7] & 0x0F) | 0x40;
    g[8] = (g[8] & 0x3F) | 0x80;
    g
}

fn metadata_block(spec: &ImageSpec, part: &str) -> [u8; BLOCK as usize] {
    let mut text = format!(
        "{MAGIC_LINE}part={part}\nschematic={}\nversion={}\narch={}\nraw_size={}\n",
        spec.schematic, spec.version, spec.arch, spec.raw_size
    );
    let sum = hex::encode(Sha256::digest(text.as_bytes()));
    text.push_str(&format!("sum={sum}\n"));
    let mut block = [0u8; BLOCK as usize];
    block[..text.len()].copy_from_slice(text.as_bytes());
    block
}

/// Parses a metadata block into its part name and the image it describes.
fn parse_metadata(block: &[u8]) -> Option<(String, ImageInfo)> {
    let end = block.iter().position(|b| *b == 0).unwrap_or(block.len());
    let text = std::str::from_utf8(&block[..end]).ok()?;
    let body = text.strip_prefix(MAGIC_LINE)?;
    let sum_at = text.rfind("sum=")?;
    let (signed, sum_line) = text.split_at(sum_at);
    let sum = sum_line.strip_prefix("sum=")?.strip_suffix('\n')?;
    if hex::encode(Sha256::digest(signed.as_bytes())) != sum {
        return None;
    }
    let mut fields = std::collections::HashMap::new();
    for line in body.lines() {
        let (k, v) = line.split_once('=')?;
        fields.insert(k, v);
    }
    let info = ImageInfo {
        schematic: (*fields.get("schematic")?).to_string(),
        version: (*fields.get("version")?).to_string(),
        arch: fields.get("arch")?.parse().ok()?,
        raw_size: fields.get("raw_size")?.parse().ok()?,
    };
    let spec = ImageSpec {
        schematic: info.schematic.clone(),
        version: info.version.clone(),
        arch: info.arch,
        raw_size: info.raw_size,
        seed: 0,
    };
    spec.validate().ok()?;
    Some(((*fields.get("part")?).to_string(), info))
}

/// Reads the 4 KiB block at `offset`, or `None` when the disk ends before it.
fn read_block<D: Read + Seek + ?Sized>(disk: &mut D, offset: u64) -> io::Result<Option<[u8; BLOCK as usize]>> {
    disk.seek(SeekFrom::Start(offset))?;
    let mut block = [0u8; BLOCK as usize];
    match disk.read_exact(&mut block) {
        Ok(()) => Ok(Some(block)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    const SCHEMATIC: &str = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515";

    fn spec(arch: Arch, raw_size: u64) -> ImageSpec {
        ImageSpec {
            schematic: SCHEMATIC.into(),
            version: "v1.11.6".into(),
            arch,
            raw_size,
            seed: 7,
        }
    }

    fn generate(spec: &ImageSpec) -> Vec<u8> {
        let mut out = Vec::new();
        raw_image(spec)
            .expect("valid spec")
            .read_to_end(&mut out)
            .expect("generate");
        out
    }

    #[test]
    fn generation_is_deterministic_and_sized() {
        let s = spec(Arch::Amd64, 8 * MIB);
        let a = generate(&s);
        let b = generate(&s);
        assert_eq!(a.len() as u64, 8 * MIB);
        assert_eq!(Sha256::digest(&a), Sha256::digest(&b));
        let other_seed = generate(&ImageSpec { seed: 8, ..s.clone() });
        assert_ne!(a, other_seed);
    }

    #[test]
    fn odd_read_sizes_give_the_same_bytes() {
        let s = spec(Arch::Arm64, 4 * MIB);
        let whole = generate(&s);
        let mut image = raw_image(&s).expect("valid spec");
        let mut pieces = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            let n = image.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            pieces.extend_from_slice(&buf[..n]);
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn inspect_reads_back_a_complete_image() {
        let s = spec(Arch::Arm64, 6 * MIB);
        let mut bytes = generate(&s);
        let info = inspect(&mut Cursor::new(&bytes)).expect("io").expect("recognised");
        assert_eq!(
            info,
            ImageInfo {
                schematic: SCHEMATIC.into(),
                version: "v1.11.6".into(),
                arch: Arch::Arm64,
                raw_size: 6 * MIB
            }
        );
        // Written at the start of a larger disk: still recognised.
        bytes.resize(20 * MIB as usize, 0);
        assert_eq!(inspect(&mut Cursor::new(&bytes)).expect("io"), Some(info));
    }

    #[test]
    fn inspect_refuses_truncated_foreign_and_tampered_disks() {
        let s = spec(Arch::Amd64, 6 * MIB);
        let bytes = generate(&s);
        // Truncated: the file ends early, or the tail is zeros (a sparse disk).
        let cut = &bytes[..bytes.len() - 100 * 1024];
        assert_eq!(inspect(&mut Cursor::new(cut)).expect("io"), None);
        let mut zero_tail = cut.to_vec();
        zero_tail.resize(bytes.len(), 0);
        assert_eq!(inspect(&mut Cursor::new(&zero_tail)).expect("io"), None);
        // Zeros, noise, and an empty disk.
        assert_eq!(
            inspect(&mut Cursor::new(vec![0u8; 8 * MIB as usize])).expect("io"),
            None
        );
        let mut noise = vec![0u8; MIB as usize];
        noise_block(1, 2, &mut noise);
        assert_eq!(inspect(&mut Cursor::new(&noise)).expect("io"), None);
        assert_eq!(inspect(&mut Cursor::new(Vec::<u8>::new())).expect("io"), None);
        // One flipped byte in the header's version breaks its sum.
        let mut tampered = bytes.clone();
        let at = HEADER_OFFSET as usize + MAGIC_LINE.len() + "part=header\nschematic=".len() + 64 + "\nversion=v".len();
        assert_eq!(tampered[at], b'1');
        tampered[at] = b'2';
        assert_eq!(inspect(&mut Cursor::new(&tampered)).expect("io"), None);
        // The trailer of another architecture's image does not match the header.
        let other = generate(&spec(Arch::Arm64, 6 * MIB));
        let mut mixed = bytes.clone();
        let tail = bytes.len() - TRAILER_FROM_END as usize;
        mixed[tail..].copy_from_slice(&other[tail..]);
        assert_eq!(inspect(&mut Cursor::new(&mixed)).expect("io"), None);
    }

    #[test]
    fn gpt_headers_and_partitions_are_valid() {
        let s = spec(Arch::Amd64, 8 * MIB);
        let bytes = generate(&s);
        assert_eq!(&bytes[510..512], &[0x55, 0xAA]);
        assert_eq!(bytes[446 + 4], 0xEE);
        let total_lba = 8 * MIB / SECTOR;
        for (header_at, my_lba, entries_lba) in [
            (512usize, 1u64, 2u64),
            ((8 * MIB - SECTOR) as usize, total_lba - 1, total_lba - 33),
        ] {
            let h = &bytes[header_at..header_at + 92];
            assert_eq!(&h[0..8], b"EFI PART");
            let mut zeroed = h.to_vec();
            zeroed[16..20].fill(0);
            assert_eq!(
                u32::from_le_bytes(h[16..20].try_into().expect("4 bytes")),
                crc32fast::hash(&zeroed)
            );
            assert_eq!(u64::from_le_bytes(h[24..32].try_into().expect("8 bytes")), my_lba);
            assert_eq!(u64::from_le_bytes(h[72..80].try_into().expect("8 bytes")), entries_lba);
            let at = (entries_lba * SECTOR) as usize;
            let entries = &bytes[at..at + GPT_ENTRIES * GPT_ENTRY_SIZE];
            assert_eq!(
                u32::from_le_bytes(h[88..92].try_into().expect("4 bytes")),
                crc32fast::hash(entries)
            );
        }
        let names: Vec<String> = (0..5)
            .map(|i| {
                let e = &bytes[1024 + i * GPT_ENTRY_SIZE..1024 + (i + 1) * GPT_ENTRY_SIZE];
                let units: Vec<u16> = e[56..128]
                    .chunks(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|u| *u != 0)
                    .collect();
                String::from_utf16_lossy(&units)
            })
            .collect();
        assert_eq!(names, ["EFI", "BIOS", "BOOT", "META", "STATE"]);
        // EFI starts at 1 MiB (LBA 2048) with the EFI system partition type.
        let efi = &bytes[1024..1024 + GPT_ENTRY_SIZE];
        assert_eq!(u64::from_le_bytes(efi[32..40].try_into().expect("8 bytes")), 2048);
        assert_eq!(&efi[0..4], &[0x28, 0x73, 0x2A, 0xC1]);
    }

    #[test]
    fn default_layout_matches_a_real_image_and_is_a_quarter_non_zero() {
        let layout = Layout::new(DEFAULT_RAW_SIZE);
        let mib: Vec<u64> = layout.parts.iter().map(|p| p.blocks * BLOCK / MIB).collect();
        assert_eq!(mib, [100, 1, 1000, 1, 142]);
        let s = spec(Arch::Amd64, DEFAULT_RAW_SIZE);
        let share = s.nonzero_bytes() as f64 / DEFAULT_RAW_SIZE as f64;
        assert!((0.24..0.26).contains(&share), "non-zero share {share}");
    }

    #[test]
    fn nonzero_bytes_counts_exactly_the_non_zero_blocks() {
        let s = spec(Arch::Amd64, 8 * MIB);
        let bytes = generate(&s);
        let nonzero = bytes
            .chunks(BLOCK as usize)
            .filter(|b| b.iter().any(|x| *x != 0))
            .count() as u64
            * BLOCK;
        assert_eq!(nonzero, s.nonzero_bytes());
    }

    #[test]
    fn invalid_specs_are_refused() {
        let bad = [
            ImageSpec {
                schematic: "abc".into(),
                ..spec(Arch::Amd64, 8 * MIB)
            },
            ImageSpec {
                version: "v1 11".into(),
                ..spec(Arch::Amd64, 8 * MIB)
            },
            spec(Arch::Amd64, 8 * MIB + 512),
            spec(Arch::Amd64, MIB),
        ];
        for s in bad {
            assert!(raw_image(&s).is_err(), "{s:?}");
        }
    }
}
