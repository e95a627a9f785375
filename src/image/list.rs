//! `image list`: the Talos snapshots talos-hcloud built, newest first, each with the servers
//! that were created from it.
//!
//! A snapshot is ours when it carries `os=talos` and the three talos-hcloud snapshot labels
//! (version, arch, schematic); Hetzner reports a server's source image as `server.image`,
//! which is how "in use" is known.

use std::collections::BTreeMap;
use std::time::SystemTime;

use hcloud::models::image::Status;
use hcloud::models::{Image, Server};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::hcloud::labels::{self, Selector};
use crate::hcloud::{Client, Error, ImageId, ImageType};

/// One Talos snapshot built by talos-hcloud, as the API describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// The image ID (what `apply` creates servers from).
    pub id: ImageId,
    /// The Talos version label (`v1.11.5`).
    pub talos_version: String,
    /// The architecture label (`amd64`, `arm64`).
    pub arch: String,
    /// The schematic label: the first 32 hex digits of the schematic ID.
    pub schematic: String,
    /// The description (carries the full schematic ID).
    pub description: String,
    /// When it was created, as the API wrote it (RFC 3339).
    pub created: String,
    /// Seconds since it was created, when `created` could be read.
    pub age_seconds: Option<u64>,
    /// Size of the compressed image in GB, once known.
    pub image_size_gb: Option<f64>,
    /// Size of the disk it was taken from in GB.
    pub disk_size_gb: f64,
    /// `available`, `creating` or `unavailable`.
    pub status: Status,
    /// Returns true if delete protection is on.
    pub protected: bool,
    /// Names of the servers created from it, sorted.
    pub used_by: Vec<String>,
    /// `created` as UNIX seconds (for ordering).
    #[serde(skip)]
    created_unix: Option<i64>,
}

impl Snapshot {
    /// The snapshot described by `image`, used by `used_by`; `None` unless it carries
    /// `os=talos` and every talos-hcloud snapshot label.
    pub fn from_image(image: &Image, used_by: Vec<String>, now: SystemTime) -> Option<Snapshot> {
        let label = |key: &str| image.labels.get(key).filter(|v| !v.is_empty()).cloned();
        if label(labels::OS).as_deref() != Some("talos") {
            return None;
        }
        let created_unix = OffsetDateTime::parse(&image.created, &Rfc3339)
            .ok()
            .map(OffsetDateTime::unix_timestamp);
        let now_unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok());
        let age_seconds = match (created_unix, now_unix) {
            // A clock behind the API's reads as "just now", not as a negative age.
            (Some(created), Some(now)) => Some(u64::try_from(now - created).unwrap_or(0)),
            _ => None,
        };
        Some(Snapshot {
            id: ImageId::new(image.id),
            talos_version: label(labels::TALOS_VERSION)?,
            arch: label(labels::ARCH)?,
            schematic: label(labels::SCHEMATIC)?,
            description: image.description.clone(),
            created: image.created.clone(),
            age_seconds,
            image_size_gb: image.image_size,
            disk_size_gb: image.disk_size,
            status: image.status,
            protected: image.protection.delete,
            used_by,
            created_unix,
        })
    }

    /// Returns true if and only if a server was created from it.
    pub fn in_use(&self) -> bool {
        !self.used_by.is_empty()
    }

    /// The key snapshots are pruned by: (schematic, arch).
    pub fn group(&self) -> (&str, &str) {
        (&self.schematic, &self.arch)
    }

    /// The ordering key, larger is newer: creation time, then ID (IDs only grow).
    fn recency(&self) -> (Option<i64>, ImageId) {
        (self.created_unix, self.id)
    }
}

/// The selector of talos-hcloud's snapshots: `os=talos` with version, arch and schematic.
pub fn selector() -> Selector {
    Selector::new()
        .eq(labels::OS, "talos")
        .has(labels::TALOS_VERSION)
        .has(labels::ARCH)
        .has(labels::SCHEMATIC)
}

/// Which servers were created from which image: image ID → server names, sorted.
pub fn users(servers: &[Server]) -> BTreeMap<ImageId, Vec<String>> {
    let mut users: BTreeMap<ImageId, Vec<String>> = BTreeMap::new();
    for server in servers {
        if let Some(image) = &server.image {
            users
                .entry(ImageId::new(image.id))
                .or_default()
                .push(server.name.clone());
        }
    }
    users.values_mut().for_each(|names| names.sort());
    users
}

/// The snapshots among `images`, each with its [`users`], newest first. Images without our
/// labels are left out.
pub fn snapshots(images: &[Image], users: &BTreeMap<ImageId, Vec<String>>, now: SystemTime) -> Vec<Snapshot> {
    let mut found: Vec<Snapshot> = images
        .iter()
        .filter_map(|image| {
            let used_by = users.get(&ImageId::new(image.id)).cloned().unwrap_or_default();
            Snapshot::from_image(image, used_by, now)
        })
        .collect();
    found.sort_by_key(|snapshot| std::cmp::Reverse(snapshot.recency()));
    found
}

/// Every talos-hcloud snapshot of the project, newest first, with the servers using each.
///
/// # Errors
/// [`Error::Request`] when the images or the servers cannot be listed.
pub async fn list(client: &Client) -> Result<Vec<Snapshot>, Error> {
    let (ours, every) = (selector(), Selector::new());
    let (images, servers) = tokio::try_join!(
        client.list_images(&ours, Some(ImageType::Snapshot)),
        client.list_servers(&every),
    )?;
    Ok(snapshots(&images, &users(&servers), SystemTime::now()))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    /// An API image with our labels, created `created` (RFC 3339).
    pub(crate) fn image(id: i64, schematic: &str, arch: &str, version: &str, created: &str) -> Image {
        let mut image: Image = serde_json::from_value(serde_json::json!({
            "id": id, "type": "snapshot", "status": "available", "name": null,
            "description": format!("talos {version} {arch} {schematic}"), "image_size": 0.3,
            "disk_size": 40.0, "created": created, "created_from": null, "bound_to": null,
            "os_flavor": "unknown", "os_version": null, "rapid_deploy": false,
            "protection": {"delete": false}, "deprecated": null, "deleted": null,
            "labels": {}, "architecture": if arch == "arm64" { "arm" } else { "x86" }
        }))
        .expect("a valid image");
        image.labels = HashMap::from([
            (labels::OS.to_string(), "talos".to_string()),
            (labels::SCHEMATIC.to_string(), schematic.to_string()),
            (labels::ARCH.to_string(), arch.to_string()),
            (labels::TALOS_VERSION.to_string(), version.to_string()),
        ]);
        image
    }

    #[test]
    fn newest_first_with_users_and_foreign_images_left_out() {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let old = image(10, "aa", "arm64", "v1.11.5", "2026-01-01T00:00:00+00:00");
        let new = image(11, "aa", "arm64", "v1.11.6", "2026-02-01T00:00:00Z");
        let same_time = image(12, "aa", "amd64", "v1.11.6", "2026-02-01T00:00:00Z");
        let mut foreign = image(13, "aa", "amd64", "v1.11.6", "2026-03-01T00:00:00Z");
        foreign.labels.remove(labels::SCHEMATIC);
        let users = BTreeMap::from([(ImageId::new(10), vec!["cp-1".to_string(), "cp-2".to_string()])]);
        let now = at(1_769_904_000 + 60); // 2026-02-01T00:01:00Z
        let found = snapshots(&[old, new, same_time, foreign], &users, now);
        let ids: Vec<i64> = found.iter().map(|s| s.id.get()).collect();
        assert_eq!(ids, [12, 11, 10]);
        assert_eq!(found[2].used_by, ["cp-1", "cp-2"]);
        assert!(found[2].in_use() && !found[0].in_use());
        assert_eq!(found[0].age_seconds, Some(60));
        assert_eq!(found[0].group(), ("aa", "amd64"));
        // A creation time in the future (clock skew) reads as age 0.
        let early = snapshots(&found_images(), &BTreeMap::new(), at(0));
        assert_eq!(early[0].age_seconds, Some(0));
    }

    fn found_images() -> Vec<Image> {
        vec![image(1, "aa", "arm64", "v1.11.5", "2026-01-01T00:00:00+00:00")]
    }
}
