//! Steps 2 and 7: snapshots are found by their labels (design.md §3) and the full
//! schematic ID in their description; a verified builder is powered off through the API
//! and snapshotted.

use std::time::Instant;

use hcloud::models::Image;
use hcloud::models::image::Status as ImageStatus;
use hcloud::models::server::Status as ServerStatus;

use crate::factory::SchematicId;
use crate::hcloud::{ActionId, Client, ImageId, ImageType, Labels, ServerId};
use crate::retry::Policy;
use crate::spec::Architecture;

use super::error::Error;

/// The labels of the snapshot of (schematic, version, arch).
///
/// # Errors
/// [`Error::Hcloud`] when a value is not a valid label value (a version with odd characters).
pub fn snapshot_labels(schematic: &SchematicId, version: &str, arch: Architecture) -> Result<Labels, Error> {
    Labels::snapshot(schematic.as_str(), version, arch.as_str()).map_err(Error::hcloud("labelling the snapshot"))
}

/// The description of the snapshot: version, arch and the full schematic ID (labels hold
/// only its first 32 hex digits).
pub fn snapshot_description(schematic: &SchematicId, version: &str, arch: Architecture) -> String {
    format!("Talos {version} {arch} schematic {schematic} (talos-hcloud)")
}

/// Every snapshot of (schematic, version, arch), in any state, newest first.
///
/// The label selector narrows by the 32-digit schematic prefix; the description must hold
/// the full ID, so two schematics sharing a prefix are never confused.
///
/// # Errors
/// [`Error::Hcloud`] when the images cannot be listed.
pub async fn find_snapshots(
    client: &Client,
    schematic: &SchematicId,
    version: &str,
    arch: Architecture,
) -> Result<Vec<Image>, Error> {
    let labels = snapshot_labels(schematic, version, arch)?;
    let mut images = client
        .list_images(&labels.selector(), Some(ImageType::Snapshot))
        .await
        .map_err(Error::hcloud(format!("looking up {arch} snapshots of Talos {version}")))?;
    images.retain(|image| image.description.contains(schematic.as_str()));
    images.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    Ok(images)
}

/// The newest usable (`available`) snapshot of (schematic, version, arch), if any.
///
/// # Errors
/// As [`find_snapshots`].
pub async fn find_snapshot(
    client: &Client,
    schematic: &SchematicId,
    version: &str,
    arch: Architecture,
) -> Result<Option<Image>, Error> {
    Ok(find_snapshots(client, schematic, version, arch)
        .await?
        .into_iter()
        .find(|image| image.status == ImageStatus::Available))
}

/// Powers `server` off through the API and waits until Hetzner reports it `off`.
///
/// # Errors
/// [`Error::Hcloud`], or [`Error::Timeout`] when it never reports `off` within `poll`.
pub async fn power_off(client: &Client, server: ServerId, name: &str, poll: Policy) -> Result<(), Error> {
    let doing = || format!("powering off builder {name}");
    let action = client.poweroff_server(server).await.map_err(Error::hcloud(doing()))?;
    client
        .wait_for_action(&doing(), ActionId::new(action.id))
        .await
        .map_err(Error::hcloud(doing()))?;
    let started = Instant::now();
    let mut backoff = poll.backoff();
    loop {
        let status = client
            .get_server(server)
            .await
            .map_err(Error::hcloud(doing()))?
            .map(|s| s.status);
        match status {
            Some(ServerStatus::Off) => return Ok(()),
            seen => match backoff.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Err(Error::Timeout {
                        what: format!("builder {name} still {seen:?} instead of off"),
                        waited_s: started.elapsed().as_secs_f64(),
                    });
                }
            },
        }
    }
}

/// Snapshots `server`'s disk with the labels and description of (schematic, version,
/// arch) and waits until the image is `available`.
///
/// # Errors
/// [`Error::Hcloud`] (a failed `create_image` action included), [`Error::Timeout`].
pub async fn take_snapshot(
    client: &Client,
    server: ServerId,
    name: &str,
    schematic: &SchematicId,
    version: &str,
    arch: Architecture,
    poll: Policy,
) -> Result<ImageId, Error> {
    let doing = || format!("snapshotting builder {name}");
    let labels = snapshot_labels(schematic, version, arch)?;
    let description = snapshot_description(schematic, version, arch);
    let created = client
        .create_image(server, &description, &labels)
        .await
        .map_err(Error::hcloud(doing()))?;
    if let Some(action) = &created.action {
        client
            .wait_for_action(&doing(), ActionId::new(action.id))
            .await
            .map_err(Error::hcloud(doing()))?;
    }
    let id = created.id();
    let started = Instant::now();
    let mut backoff = poll.backoff();
    loop {
        let image = client.get_image(id).await.map_err(Error::hcloud(doing()))?;
        let status = image.as_ref().map(|i| i.status);
        if status == Some(ImageStatus::Available) {
            return Ok(id);
        }
        match backoff.next() {
            Some(delay) => tokio::time::sleep(delay).await,
            None => {
                return Err(Error::Timeout {
                    what: format!("snapshot {id} of {name} still {status:?} instead of available"),
                    waited_s: started.elapsed().as_secs_f64(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_carries_the_full_schematic_id() {
        let id: SchematicId = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
            .parse()
            .unwrap();
        let text = snapshot_description(&id, "v1.11.5", Architecture::Arm64);
        assert_eq!(
            text,
            "Talos v1.11.5 arm64 schematic 376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba (talos-hcloud)"
        );
        let labels = snapshot_labels(&id, "v1.11.5", Architecture::Arm64).unwrap();
        assert_eq!(labels.get(crate::hcloud::labels::SCHEMATIC), Some(id.short()));
    }
}
