//! Hetzner Cloud `user_data`: the exact bytes sent for a config and its 32 KiB limit
//! (reference `talos.md` §G.1). Talos's hcloud platform accepts plain YAML, base64(YAML)
//! and base64(gzip(YAML)); the API field is a JSON string, so raw gzip cannot be sent.

use std::io::Write as _;

use base64::Engine as _;

use super::Report;
use crate::talos::config::documents::ConfigDocuments;

/// Hetzner Cloud's `user_data` limit in bytes ("limited to 32KiB"; whether Hetzner counts
/// bytes or characters is not documented — the config is ASCII, so both agree).
pub const HCLOUD_USER_DATA_LIMIT: usize = 32 * 1024;

/// How a config is encoded into `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserDataEncoding {
    /// The YAML as is.
    Plain,
    /// Standard base64 of the YAML.
    Base64,
    /// Standard base64 of the gzip-compressed YAML (the smallest).
    Base64Gzip,
}

impl UserDataEncoding {
    fn label(self) -> &'static str {
        match self {
            UserDataEncoding::Plain => "plain YAML",
            UserDataEncoding::Base64 => "base64",
            UserDataEncoding::Base64Gzip => "base64(gzip)",
        }
    }
}

/// The exact `user_data` bytes for `docs` in `encoding` (what the server create request
/// carries and what the size limit applies to).
pub fn user_data_bytes(docs: &ConfigDocuments, encoding: UserDataEncoding) -> Vec<u8> {
    let yaml = docs.to_yaml().into_bytes();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes).into_bytes();
    match encoding {
        UserDataEncoding::Plain => yaml,
        UserDataEncoding::Base64 => b64(&yaml),
        UserDataEncoding::Base64Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            // Writing to a Vec cannot fail.
            let compressed = encoder
                .write_all(&yaml)
                .and_then(|()| encoder.finish())
                .unwrap_or_default();
            b64(&compressed)
        }
    }
}

/// Errors when the encoded config does not fit, saying what would.
pub(super) fn check(docs: &ConfigDocuments, encoding: UserDataEncoding, report: &mut Report<'_>) {
    let size = user_data_bytes(docs, encoding).len();
    if size <= HCLOUD_USER_DATA_LIMIT {
        return;
    }
    let alternatives: Vec<String> = [
        UserDataEncoding::Plain,
        UserDataEncoding::Base64,
        UserDataEncoding::Base64Gzip,
    ]
    .into_iter()
    .filter(|other| *other != encoding)
    .map(|other| {
        let other_size = user_data_bytes(docs, other).len();
        let verdict = if other_size <= HCLOUD_USER_DATA_LIMIT {
            "fits"
        } else {
            "too large"
        };
        format!("{} would be {other_size} bytes ({verdict})", other.label())
    })
    .collect();
    report.error(
        "config",
        "",
        None,
        format!(
            "as {} user_data the config is {size} bytes, over Hetzner's limit of {HCLOUD_USER_DATA_LIMIT}; {}",
            encoding.label(),
            alternatives.join(", ")
        ),
    );
}
