//! What the emulated Image Factory offers: the Talos versions and, per version, the
//! official system extensions (an illustrative catalogue in the real factory's format).

use sha2::Digest as _;

/// The Talos versions the emulated factory offers by default: stable releases of the
/// minors talos-hcloud supports and pre-releases of the next one (an illustrative list in
/// the real factory's format and order).
pub fn default_versions() -> Vec<String> {
    let mut versions = Vec::new();
    for (minor, last_patch) in [(10, 8), (11, 6), (12, 6), (13, 9)] {
        versions.extend((0..=last_patch).map(|patch| format!("v1.{minor}.{patch}")));
    }
    versions.extend(["v1.14.0-alpha.0", "v1.14.0-beta.0", "v1.14.0-rc.0", "v1.14.0-rc.1"].map(String::from));
    versions
}

/// An official extension: name, image tag, description, and the Talos minors (`1.x`) that
/// ship it.
type Entry = (&'static str, &'static str, &'static str, std::ops::RangeInclusive<u32>);

const CATALOGUE: &[Entry] = &[
    ("siderolabs/amd-ucode", "20250708", "AMD microcode binaries", 0..=99),
    ("siderolabs/intel-ucode", "20250512", "Intel microcode binaries", 0..=99),
    ("siderolabs/iscsi-tools", "v0.2.0", "iSCSI tools and daemon", 0..=99),
    ("siderolabs/qemu-guest-agent", "10.0.2", "QEMU guest agent", 0..=99),
    ("siderolabs/tailscale", "1.86.2", "Tailscale VPN", 0..=99),
    ("siderolabs/util-linux-tools", "2.41.1", "util-linux tools", 0..=99),
    ("siderolabs/cni-plugins", "v1.7.1", "CNI plugins", 0..=11),
    (
        "siderolabs/harbor-credential-provider",
        "v0.1.0",
        "Harbor credential provider",
        14..=99,
    ),
];

/// The version with its `v` if it is one of `versions`.
pub(super) fn known_version(versions: &[String], version: &str) -> Option<String> {
    let with_v = if version.starts_with('v') {
        version.to_string()
    } else {
        format!("v{version}")
    };
    versions.contains(&with_v).then_some(with_v)
}

/// The minor of a `v1.MINOR.…` version (0 when it has none).
fn minor(version: &str) -> u32 {
    version
        .strip_prefix("v1.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0)
}

/// The catalogue entries a version ships.
fn shipped(version: &str) -> impl Iterator<Item = &'static Entry> {
    let minor = minor(version);
    CATALOGUE.iter().filter(move |(.., minors)| minors.contains(&minor))
}

/// The names of the official extensions a version ships.
pub(super) fn extension_names(version: &str) -> impl Iterator<Item = &'static str> {
    shipped(version).map(|(name, ..)| *name)
}

/// The official extensions of a version as the factory lists them (`name`, `ref`,
/// `digest`, `author`, `description`).
pub(super) fn extensions_json(version: &str) -> Vec<serde_json::Value> {
    shipped(version)
        .map(|(name, tag, description, _)| {
            let digest = hex::encode(sha2::Sha256::digest(format!("{name}:{tag}")));
            serde_json::json!({
                "name": name,
                "ref": format!("ghcr.io/{name}:{tag}"),
                "digest": format!("sha256:{digest}"),
                "author": "Sidero Labs",
                "description": description,
            })
        })
        .collect()
}
