//! Images: the seeded system images and the snapshots servers make. Only snapshots and
//! backups can be changed or deleted; a snapshot is `creating` until its action ends.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::SYSTEM_IMAGES;
use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::{self, ListRules, Page, Query};
use super::resource::{ChangeDeleteProtection, DeleteProtected, Resource, delete_protected};
use super::{World, check_labels, labels_json};

/// `system`, `app`, `snapshot` or `backup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// A public operating system image.
    System,
    /// A snapshot of a server disk.
    Snapshot,
    /// A backup, bound to its server.
    Backup,
}

impl ImageType {
    fn as_str(self) -> &'static str {
        match self {
            ImageType::System => "system",
            ImageType::Snapshot => "snapshot",
            ImageType::Backup => "backup",
        }
    }
}

/// An image.
#[derive(Debug, Clone)]
pub struct Image {
    /// ID.
    pub id: u64,
    /// Type.
    pub kind: ImageType,
    /// `available`, `creating` or `unavailable`.
    pub status: &'static str,
    /// Name (system images only).
    pub name: Option<String>,
    /// Description.
    pub description: String,
    /// Size in GB once created.
    pub image_size: Option<f64>,
    /// Disk size in GB.
    pub disk_size: f64,
    /// Creation time.
    pub created: u64,
    /// The server it was made from (ID, name).
    pub created_from: Option<(u64, String)>,
    /// The server a backup belongs to.
    pub bound_to: Option<u64>,
    /// OS flavor (`unknown` for snapshots).
    pub os_flavor: &'static str,
    /// OS version.
    pub os_version: Option<String>,
    /// Delete protection.
    pub protect_delete: bool,
    /// Labels.
    pub labels: Labels,
    /// `x86` or `arm`.
    pub architecture: &'static str,
    /// When it was deprecated (system images only).
    pub deprecated: Option<&'static str>,
    /// Disk content reference (internal): servers created from the image start from it.
    pub disk: String,
    /// The server disk it was copied from (internal; empty for system images).
    pub source_disk: String,
}

/// `PUT /images/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateImage {
    description: Option<String>,
    labels: Option<Labels>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Resource for Image {
    const KIND: &'static str = "image";
    const LIST: ListRules = ListRules::resources(&["id", "name", "created"]).filters(&[
        ("type", &["system", "app", "snapshot", "backup"]),
        ("status", &["available", "creating", "unavailable"]),
        ("architecture", &["x86", "arm"]),
    ]);

    fn table(world: &World) -> &BTreeMap<u64, Self> {
        &world.images
    }

    fn table_mut(world: &mut World) -> &mut BTreeMap<u64, Self> {
        &mut world.images
    }

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn set_name(&mut self, name: String) {
        self.name = Some(name);
    }

    fn labels_mut(&mut self) -> &mut Labels {
        &mut self.labels
    }

    fn render(&self, world: &World) -> Value {
        json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "status": self.status,
            "name": self.name,
            "description": self.description,
            "image_size": self.image_size,
            "disk_size": self.disk_size,
            "created": world.timestamp(self.created),
            "created_from": self.created_from.as_ref().map(|(id, name)| json!({"id": id, "name": name})),
            "bound_to": self.bound_to,
            "os_flavor": self.os_flavor,
            "os_version": self.os_version,
            "rapid_deploy": self.kind == ImageType::System,
            "protection": {"delete": self.protect_delete},
            "deprecated": self.deprecated,
            "deleted": null,
            "labels": labels_json(&self.labels),
            "architecture": self.architecture,
        })
    }
}

delete_protected!(Image);

impl World {
    pub(super) fn seed_system_images(&mut self) {
        for image in SYSTEM_IMAGES {
            self.images.insert(
                image.id,
                Image {
                    id: image.id,
                    kind: ImageType::System,
                    status: "available",
                    name: Some(image.name.to_string()),
                    description: image.description.to_string(),
                    image_size: None,
                    disk_size: 5.0,
                    created: 0,
                    created_from: None,
                    bound_to: None,
                    os_flavor: image.os_flavor,
                    os_version: Some(image.os_version.to_string()),
                    protect_delete: false,
                    labels: Labels::new(),
                    architecture: image.architecture,
                    deprecated: image.deprecated,
                    disk: format!("system:{}-{}", image.name, image.architecture),
                    source_disk: String::new(),
                },
            );
        }
    }

    /// `GET /images` with `type`, `status`, `bound_to`, `architecture`,
    /// `include_deprecated`, `name`, `label_selector`, sorting and pagination.
    pub fn list_images(&self, query: &Query) -> Result<Page, ApiError> {
        let include_deprecated = query.flag("include_deprecated")?.unwrap_or(false);
        let bound: Vec<&str> = query.all("bound_to");
        let items = self
            .images
            .values()
            .filter(|image| include_deprecated || image.deprecated.is_none())
            .filter(|image| bound.is_empty() || image.bound_to.is_some_and(|b| bound.contains(&b.to_string().as_str())))
            .map(|image| image.render(self))
            .collect();
        pagination::list(items, query, Image::LIST)
    }

    /// `PUT /images/{id}`: description, labels, or turning a backup into a snapshot.
    pub fn update_image(&mut self, id: u64, request: UpdateImage) -> Result<Value, ApiError> {
        let image = self.find::<Image>(id)?;
        if image.kind == ImageType::System {
            return Err(ApiError::new(403, "forbidden", "system images cannot be modified"));
        }
        check_labels(&request.labels)?;
        let kind = match request.kind.as_deref() {
            None => None,
            Some("snapshot") => Some(ImageType::Snapshot),
            Some(_) => return Err(ApiError::invalid_field("type", "Must be one of: snapshot.")),
        };
        let image = self.found_mut::<Image>(id);
        if let Some(description) = request.description {
            image.description = description;
        }
        if let Some(labels) = request.labels {
            image.labels = labels;
        }
        if let Some(kind) = kind {
            image.kind = kind;
            image.bound_to = None;
        }
        Ok(self.envelope::<Image>(id))
    }

    /// `DELETE /images/{id}`: 204; snapshots and backups only, not while protected.
    pub fn delete_image(&mut self, id: u64) -> Result<(), ApiError> {
        let image = self.find::<Image>(id)?;
        if image.kind == ImageType::System {
            return Err(ApiError::new(403, "forbidden", "system images cannot be deleted"));
        }
        image.ensure_unprotected()?;
        self.ensure_unlocked::<Image>(id)?;
        self.images.remove(&id);
        if let Some(disks) = &self.disks {
            disks.remove_image_disk(id);
        }
        Ok(())
    }

    /// `POST /images/{id}/actions/change_protection`: not for system images.
    pub fn change_image_protection(&mut self, id: u64, request: ChangeDeleteProtection) -> Result<Value, ApiError> {
        if self.find::<Image>(id)?.kind == ImageType::System {
            return Err(ApiError::new(403, "forbidden", "system images cannot be modified"));
        }
        self.change_delete_protection::<Image>(id, request)
    }
}
