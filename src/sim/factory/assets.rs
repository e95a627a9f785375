//! The files the factory serves: images built once per (schematic, version, architecture,
//! compression) into the cache directory, and files put at any path by a control.
//!
//! An image is built on its first request, as the real factory does: the raw disk of
//! [`super::disk_image`] is compressed (zstd level 3 with a checksum, or xz preset 1) on a
//! blocking thread straight into a cache file; concurrent requests wait for the same build,
//! which is what makes a `HEAD` a pre-warm.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::Digest as _;
use tokio::sync::OnceCell;

use super::disk_image::{self, ImageSpec};
use super::serve::Served;
use super::server::{Shared, lock};
use crate::factory::Compression;
use crate::spec::Architecture;

/// One image of the factory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct AssetKey {
    /// The schematic ID.
    pub schematic: String,
    /// The Talos version, with its `v`.
    pub version: String,
    /// The architecture.
    pub arch: Architecture,
    /// The compression.
    pub compression: Compression,
}

/// An image built once (or the reason its build failed).
pub(super) type AssetCell = OnceCell<Result<Served, String>>;

/// The `Content-Type` of a file by its name.
pub(super) fn content_type(name: &str) -> &'static str {
    if name.ends_with(".zst") {
        "application/zstd"
    } else if name.ends_with(".xz") {
        "application/x-xz"
    } else {
        "application/octet-stream"
    }
}

/// Builds an image once; concurrent requests wait for the same build.
pub(super) async fn build(state: &Arc<Shared>, key: AssetKey, file: &str) -> Result<Served, String> {
    let cell = lock(&state.assets).entry(key.clone()).or_default().clone();
    let state = state.clone();
    let file = file.to_string();
    cell.get_or_init(|| async move {
        let spec = state.image_spec(&key.schematic, &key.version, key.arch);
        let name = format!(
            "{}-{}-{}.raw.{}",
            key.schematic,
            key.version,
            key.arch,
            key.compression.extension()
        );
        let path = state.cache_dir.join(name);
        let compression = key.compression;
        tokio::task::spawn_blocking(move || {
            let len = compress_to_file(&spec, compression, &path)?;
            Ok(Served {
                path,
                len,
                content_type: content_type(&file),
                filename: file,
            })
        })
        .await
        .unwrap_or_else(|e| Err(format!("the build task failed: {e}")))
    })
    .await
    .clone()
}

/// Compresses the raw image of `spec` into `path` (through a temporary name) and returns
/// its length.
fn compress_to_file(spec: &ImageSpec, compression: Compression, path: &Path) -> Result<u64, String> {
    let mut raw = disk_image::raw_image(spec).map_err(|e| e.to_string())?;
    let partial = path.with_extension("partial");
    let file = std::fs::File::create(&partial).map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    let io = |e: std::io::Error| format!("cannot write {}: {e}", partial.display());
    let out = match compression {
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(out, 3).map_err(io)?;
            // As the zstd CLI does: a corrupted byte fails the decoder instead of passing.
            encoder.include_checksum(true).map_err(io)?;
            std::io::copy(&mut raw, &mut encoder).map_err(io)?;
            encoder.finish().map_err(io)?
        }
        Compression::Xz => {
            let mut encoder = liblzma::write::XzEncoder::new(out, 1);
            std::io::copy(&mut raw, &mut encoder).map_err(io)?;
            encoder.finish().map_err(io)?
        }
    };
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    std::fs::rename(&partial, path).map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
    Ok(len)
}

/// A request path as the table of put files keys it (with its leading `/`).
pub(super) fn file_key(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// Where the bytes of the file put at `key` are kept (its temporary name first).
pub(super) fn file_location(state: &Shared, key: &str) -> (PathBuf, PathBuf) {
    let name = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    let path = state.cache_dir.join("files").join(name);
    (path.with_extension("partial"), path)
}

/// Moves a file written at `partial` into place and serves it at `key` from now on.
pub(super) fn publish_file(state: &Shared, key: &str, partial: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(partial, path)?;
    let len = std::fs::metadata(path)?.len();
    let filename = key.rsplit('/').next().unwrap_or_default().to_string();
    lock(&state.files).insert(
        key.to_string(),
        Served {
            path: path.to_path_buf(),
            len,
            content_type: content_type(&filename),
            filename,
        },
    );
    Ok(())
}
