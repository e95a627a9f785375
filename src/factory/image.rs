//! Names of factory artefacts: Hetzner disk image URLs and installer image references.

use std::fmt;
use std::str::FromStr;

use url::Url;

use super::error::Error;
use super::schematic::SchematicId;
use crate::spec::Architecture;

/// How the factory compresses a raw disk image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Zstandard (`.raw.zst`): what the Talos imager produces for hcloud since 1.8 and
    /// faster to decompress.
    Zstd,
    /// xz (`.raw.xz`): what the docs, the factory UI and terraform-provider-talos use.
    Xz,
}

impl Compression {
    /// The file suffix without the dot: `zst` or `xz`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Zstd => "zst",
            Compression::Xz => "xz",
        }
    }

    /// The tool name: `zstd` or `xz` (also the command that decompresses it).
    pub fn tool(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tool())
    }
}

/// Text that names no supported compression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression `{0}` (expected zstd or xz)")]
pub struct UnknownCompression(pub String);

impl FromStr for Compression {
    type Err = UnknownCompression;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zst" | "zstd" => Ok(Compression::Zstd),
            "xz" => Ok(Compression::Xz),
            _ => Err(UnknownCompression(s.to_string())),
        }
    }
}

/// Checks that a Talos version can be used in a factory path: `v1.11.1`, `1.11.1`,
/// `v1.14.0-rc.1` (letters, digits, `.`, `-`, `+`; at most 64 characters).
pub fn check_version(version: &str) -> Result<(), Error> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version.chars().next().is_some_and(|c| c == 'v' || c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidVersion {
            version: version.to_string(),
        })
    }
}

/// The file name of a Hetzner Cloud disk image: `hcloud-arm64.raw.zst`.
pub fn hcloud_image_file(arch: Architecture, compression: Compression) -> String {
    format!("hcloud-{arch}.raw.{}", compression.extension())
}

/// The URL of a Hetzner Cloud disk image:
/// `<base>/image/<schematic>/<version>/hcloud-<arch>.raw.<zst|xz>`.
pub fn hcloud_image_url(
    base: &Url,
    schematic: &SchematicId,
    version: &str,
    arch: Architecture,
    compression: Compression,
) -> Result<Url, Error> {
    check_version(version)?;
    let mut url = base.clone();
    {
        let mut segments = url.path_segments_mut().map_err(|()| Error::InvalidUrl {
            url: base.to_string(),
            reason: "cannot be a base URL".to_string(),
        })?;
        segments
            .pop_if_empty()
            .push("image")
            .push(schematic.as_str())
            .push(version)
            .push(&hcloud_image_file(arch, compression));
    }
    Ok(url)
}

/// The installer image for upgrades and `machine.install.image`:
/// `<factory host>/hcloud-installer/<schematic>:<version>` (the platform installer that
/// Talos 1.10+ recommends; the host, and port if any, are taken from the factory URL).
pub fn hcloud_installer_ref(base: &Url, schematic: &SchematicId, version: &str) -> Result<String, Error> {
    check_version(version)?;
    let host = base.host_str().ok_or_else(|| Error::InvalidUrl {
        url: base.to_string(),
        reason: "has no host".to_string(),
    })?;
    let authority = match base.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Ok(format!("{authority}/hcloud-installer/{schematic}:{version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> SchematicId {
        "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
            .parse()
            .expect("valid id")
    }

    #[test]
    fn image_urls_for_every_arch_and_compression() {
        let base = Url::parse("https://factory.talos.dev").expect("url");
        let url = hcloud_image_url(&base, &id(), "v1.11.1", Architecture::Arm64, Compression::Zstd).expect("url");
        assert_eq!(
            url.as_str(),
            "https://factory.talos.dev/image/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515/v1.11.1/hcloud-arm64.raw.zst"
        );
        let base = Url::parse("http://127.0.0.1:8080/prefix/").expect("url");
        let url = hcloud_image_url(&base, &id(), "v1.14.0-rc.1", Architecture::Amd64, Compression::Xz).expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/prefix/image/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515/v1.14.0-rc.1/hcloud-amd64.raw.xz"
        );
    }

    #[test]
    fn installer_ref_takes_the_factory_host() {
        let base = Url::parse("https://factory.talos.dev").expect("url");
        assert_eq!(
            hcloud_installer_ref(&base, &id(), "v1.13.9").expect("ref"),
            "factory.talos.dev/hcloud-installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515:v1.13.9"
        );
        let base = Url::parse("http://127.0.0.1:5000").expect("url");
        assert!(
            hcloud_installer_ref(&base, &id(), "v1.13.9")
                .expect("ref")
                .starts_with("127.0.0.1:5000/hcloud-installer/")
        );
    }

    #[test]
    fn versions_that_would_escape_the_path_are_rejected() {
        for bad in ["", "../v1", "v1.2/x", "v1 2", "latest?x=1"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        for good in ["v1.11.1", "1.11.1", "v1.14.0-rc.1"] {
            assert!(check_version(good).is_ok(), "{good}");
        }
    }
}
