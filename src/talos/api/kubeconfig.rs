//! Extracting the admin kubeconfig from the bytes of the `Kubeconfig` stream.
//!
//! apid sends a gzip-compressed tar holding one file named `kubeconfig`, but never closes
//! the tar writer: there is no padding after the file data and no end-of-archive blocks
//! (reference `talos.md` §F.4). Like talosctl, read the first matching entry's `size` bytes
//! and never look past it.

use std::io::Read;

use flate2::read::GzDecoder;

/// Why the Kubeconfig stream could not be turned into a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The node sent no bytes.
    #[error("the node sent an empty kubeconfig stream")]
    Empty,
    /// The bytes are not gzip, or the tar header is unreadable.
    #[error("the kubeconfig stream is not a gzip-compressed tar")]
    Archive(#[source] std::io::Error),
    /// The archive holds no entry named `kubeconfig`.
    #[error("the archive holds no `kubeconfig` file")]
    Missing,
    /// The entry is shorter than its header says.
    #[error("the `kubeconfig` file in the archive is truncated")]
    Truncated(#[source] std::io::Error),
}

/// The name of the one file in the archive.
const ENTRY: &str = "kubeconfig";

/// Returns the `kubeconfig` file of a gzip-compressed tar, tolerating a missing tar trailer.
///
/// # Errors
///
/// See [`KubeconfigError`].
pub fn extract_kubeconfig(tar_gz: &[u8]) -> Result<Vec<u8>, KubeconfigError> {
    if tar_gz.is_empty() {
        return Err(KubeconfigError::Empty);
    }
    let mut archive = tar::Archive::new(GzDecoder::new(tar_gz));
    let entries = archive.entries().map_err(KubeconfigError::Archive)?;
    for entry in entries {
        // Past the wanted entry the archive may simply end (no trailer): only the entries
        // before it must be readable.
        let mut entry = entry.map_err(KubeconfigError::Archive)?;
        let is_kubeconfig = entry
            .path()
            .map(|path| path.as_os_str() == ENTRY || path.file_name().is_some_and(|name| name == ENTRY))
            .unwrap_or(false);
        if !is_kubeconfig {
            continue;
        }
        let size = entry.header().size().map_err(KubeconfigError::Archive)?;
        let mut contents = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
        entry.read_to_end(&mut contents).map_err(KubeconfigError::Truncated)?;
        if (contents.len() as u64) < size {
            return Err(KubeconfigError::Truncated(std::io::Error::from(
                std::io::ErrorKind::UnexpectedEof,
            )));
        }
        return Ok(contents);
    }
    Err(KubeconfigError::Missing)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    /// A tar entry the way apid writes it: header and data, no padding, no trailer.
    fn talos_style(name: &str, data: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.set_path(name).expect("short path");
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(header.as_bytes()).expect("in-memory write");
        gz.write_all(data).expect("in-memory write");
        gz.finish().expect("in-memory gzip")
    }

    #[test]
    fn reads_an_archive_without_trailer_or_padding() {
        let kubeconfig = b"apiVersion: v1\nkind: Config\n";
        let bytes = talos_style("kubeconfig", kubeconfig);
        assert_eq!(extract_kubeconfig(&bytes).expect("extracts"), kubeconfig);
    }

    #[test]
    fn reads_a_complete_archive_too() {
        let mut builder = tar::Builder::new(Vec::new());
        let data = b"apiVersion: v1\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder
            .append_data(&mut header, "kubeconfig", &data[..])
            .expect("append");
        let tar = builder.into_inner().expect("finish");
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tar).expect("write");
        let bytes = gz.finish().expect("gzip");
        assert_eq!(extract_kubeconfig(&bytes).expect("extracts"), data);
    }

    #[test]
    fn rejects_missing_entry_empty_and_garbage() {
        let bytes = talos_style("other", b"x");
        assert!(matches!(
            extract_kubeconfig(&bytes),
            Err(KubeconfigError::Archive(_) | KubeconfigError::Missing)
        ));
        assert!(matches!(extract_kubeconfig(b""), Err(KubeconfigError::Empty)));
        assert!(matches!(
            extract_kubeconfig(b"not gzip at all"),
            Err(KubeconfigError::Archive(_))
        ));
    }

    #[test]
    fn rejects_a_truncated_entry() {
        let mut header = tar::Header::new_gnu();
        header.set_path("kubeconfig").expect("short path");
        header.set_size(100);
        header.set_cksum();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(header.as_bytes()).expect("write");
        gz.write_all(b"only ten b").expect("write");
        let bytes = gz.finish().expect("gzip");
        assert!(matches!(extract_kubeconfig(&bytes), Err(KubeconfigError::Truncated(_))));
    }
}
