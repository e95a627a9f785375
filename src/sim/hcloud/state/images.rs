//! Images: the seeded system images and the snapshots servers make. Only snapshots and
//! backups can be changed or deleted; a snapshot is `creating` until its action ends.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::catalog::SYSTEM_IMAGES;
use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::{self, ListRules, Page, Query};
use super::{NewAction, ResourceRef, World, check_labels, labels_json};

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

/// `change_protection` of an image.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeImageProtection {
    delete: Option<bool>,
}

const RULES: ListRules = ListRules {
    sort_fields: &["id", "name", "created"],
    name_filter: true,
    label_selector: true,
};

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

    fn image(&self, id: u64) -> Result<&Image, ApiError> {
        self.images.get(&id).ok_or_else(|| ApiError::not_found("image", id))
    }

    /// `GET /images` with `type`, `status`, `bound_to`, `architecture`,
    /// `include_deprecated`, `name`, `label_selector`, sorting and pagination.
    pub fn list_images(&self, query: &Query) -> Result<Page, ApiError> {
        let include_deprecated = query.flag("include_deprecated")?.unwrap_or(false);
        let mut items: Vec<Value> = self
            .images
            .values()
            .filter(|image| include_deprecated || image.deprecated.is_none())
            .map(|image| self.image_json(image.id))
            .collect();
        pagination::filter_in(
            &mut items,
            query,
            "type",
            "type",
            &["system", "app", "snapshot", "backup"],
        )?;
        pagination::filter_in(
            &mut items,
            query,
            "status",
            "status",
            &["available", "creating", "unavailable"],
        )?;
        pagination::filter_in(&mut items, query, "architecture", "architecture", &["x86", "arm"])?;
        let bound: Vec<&str> = query.all("bound_to");
        if !bound.is_empty() {
            items.retain(|i| {
                i.get("bound_to")
                    .and_then(Value::as_u64)
                    .is_some_and(|b| bound.contains(&b.to_string().as_str()))
            });
        }
        pagination::list(items, query, RULES)
    }

    /// `GET /images/{id}`.
    pub fn get_image(&self, id: u64) -> Result<Value, ApiError> {
        self.image(id)?;
        Ok(json!({"image": self.image_json(id)}))
    }

    /// `PUT /images/{id}`: description, labels, or turning a backup into a snapshot.
    pub fn update_image(&mut self, id: u64, request: UpdateImage) -> Result<Value, ApiError> {
        let image = self.image(id)?;
        if image.kind == ImageType::System {
            return Err(ApiError::new(403, "forbidden", "system images cannot be modified"));
        }
        check_labels(&request.labels)?;
        let kind = match request.kind.as_deref() {
            None => None,
            Some("snapshot") => Some(ImageType::Snapshot),
            Some(_) => return Err(ApiError::invalid_field("type", "Must be one of: snapshot.")),
        };
        let image = self.images.get_mut(&id).expect("invariant: the image was found above");
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
        Ok(json!({"image": self.image_json(id)}))
    }

    /// `DELETE /images/{id}`: 204; snapshots and backups only, not while protected.
    pub fn delete_image(&mut self, id: u64) -> Result<(), ApiError> {
        let image = self.image(id)?;
        if image.kind == ImageType::System {
            return Err(ApiError::new(403, "forbidden", "system images cannot be deleted"));
        }
        if image.protect_delete {
            return Err(ApiError::protected("image"));
        }
        self.ensure_unlocked("image", id)?;
        self.images.remove(&id);
        Ok(())
    }

    /// `POST /images/{id}/actions/change_protection`.
    pub fn change_image_protection(&mut self, id: u64, request: ChangeImageProtection) -> Result<Value, ApiError> {
        let image = self.image(id)?;
        if image.kind == ImageType::System {
            return Err(ApiError::new(403, "forbidden", "system images cannot be modified"));
        }
        self.ensure_unlocked("image", id)?;
        if let Some(delete) = request.delete {
            self.images
                .get_mut(&id)
                .expect("invariant: the image was found above")
                .protect_delete = delete;
        }
        let seconds = self.durations.small;
        let action = self.start_action(NewAction::new(
            "change_protection",
            vec![ResourceRef::new("image", id)],
            seconds,
        ));
        Ok(json!({"action": self.action_json(action)}))
    }

    /// The API representation of an image (`null` if it does not exist).
    pub fn image_json(&self, id: u64) -> Value {
        let Some(i) = self.images.get(&id) else {
            return Value::Null;
        };
        json!({
            "id": i.id,
            "type": i.kind.as_str(),
            "status": i.status,
            "name": i.name,
            "description": i.description,
            "image_size": i.image_size,
            "disk_size": i.disk_size,
            "created": self.timestamp(i.created),
            "created_from": i.created_from.as_ref().map(|(id, name)| json!({"id": id, "name": name})),
            "bound_to": i.bound_to,
            "os_flavor": i.os_flavor,
            "os_version": i.os_version,
            "rapid_deploy": i.kind == super::images::ImageType::System,
            "protection": {"delete": i.protect_delete},
            "deprecated": i.deprecated,
            "deleted": null,
            "labels": labels_json(&i.labels),
            "architecture": i.architecture,
        })
    }
}
