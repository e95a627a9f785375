//! Taking an etcd snapshot through the Talos API and keeping it locally, before a control
//! plane is touched.
//!
//! The bytes are etcd's snapshot stream: the bbolt database followed by its SHA-256 (what
//! `etcdutl snapshot restore` checks). The integrity is checked before anything is written,
//! so a truncated stream never becomes a file that looks like a backup; the file is written
//! through [`crate::secure_file`] (mode 0600 from the first byte, atomic), because etcd holds
//! every Secret of the cluster.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Class, Classify};
use crate::secure_file::{self, Overwrite};
use crate::talos::api::{self, TalosClient};

/// Why a snapshot was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The Talos API call failed.
    #[error("cannot take an etcd snapshot")]
    Call(#[source] api::Error),
    /// The bytes are not a complete snapshot.
    #[error("the etcd snapshot from {node} is damaged: {problem}")]
    Damaged {
        /// The node it came from.
        node: String,
        /// What is wrong.
        problem: String,
    },
    /// The file could not be written.
    #[error("cannot save the etcd snapshot")]
    Write(#[source] secure_file::Error),
}

impl Classify for SnapshotError {
    fn class(&self) -> Class {
        match self {
            SnapshotError::Call(source) => source.class(),
            SnapshotError::Write(source) => source.class(),
            SnapshotError::Damaged { .. } => Class::Failed,
        }
    }
}

/// A snapshot written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSnapshot {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes (database and checksum).
    pub size: u64,
    /// The SHA-256 of the database part, as the snapshot's trailer states it (hex).
    pub db_sha256: String,
}

/// Length of the SHA-256 trailer etcd appends to the database.
const TRAILER: usize = 32;
/// bbolt's page granularity: the database part is a multiple of 512 bytes.
const DB_ALIGN: usize = 512;

/// Streams a snapshot from `client`'s target (a control plane with a running etcd member)
/// and writes it to `path` (mode 0600, atomically; an existing file only with
/// [`Overwrite::Replace`]).
///
/// # Errors
///
/// [`SnapshotError::Call`] when the node does not deliver (a worker, no running member),
/// [`SnapshotError::Damaged`] when the checksum does not match, [`SnapshotError::Write`].
pub async fn save_etcd_snapshot(
    client: &TalosClient,
    path: &Path,
    overwrite: Overwrite,
) -> Result<SavedSnapshot, SnapshotError> {
    // Fail before the download when the file may not be written.
    secure_file::check_target(path, overwrite).map_err(SnapshotError::Write)?;
    let bytes = client.etcd_snapshot().await.map_err(SnapshotError::Call)?;
    let db_sha256 = verify(bytes.expose()).map_err(|problem| SnapshotError::Damaged {
        node: client.target().to_string(),
        problem,
    })?;
    secure_file::write_private(path, bytes.expose(), overwrite).map_err(SnapshotError::Write)?;
    Ok(SavedSnapshot {
        path: path.to_path_buf(),
        size: bytes.expose().len() as u64,
        db_sha256,
    })
}

/// Checks etcd's snapshot framing: a database of whole 512-byte units followed by its
/// SHA-256. Returns the checksum (hex).
///
/// # Errors
///
/// What is wrong, for the message.
pub fn verify(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() <= TRAILER || !(bytes.len() - TRAILER).is_multiple_of(DB_ALIGN) {
        return Err(format!(
            "{} bytes is not a database of whole 512-byte pages followed by a 32-byte SHA-256 (truncated?)",
            bytes.len()
        ));
    }
    let (db, trailer) = bytes.split_at(bytes.len() - TRAILER);
    let digest = Sha256::digest(db);
    if digest.as_slice() != trailer {
        return Err("the SHA-256 at its end does not match the database".into());
    }
    Ok(hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_snapshot_passes_and_truncation_or_corruption_is_named() {
        let mut bytes = vec![7u8; 1024];
        let digest = Sha256::digest(&bytes);
        bytes.extend_from_slice(&digest);
        assert_eq!(verify(&bytes), Ok(hex::encode(digest)));
        assert!(verify(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated"));
        bytes[3] = 8;
        assert_eq!(
            verify(&bytes),
            Err("the SHA-256 at its end does not match the database".into())
        );
    }
}
