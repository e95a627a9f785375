//! What a server's disk holds and what it runs on: snapshots (`create_image`), `rebuild`
//! and `change_type`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::super::error::ApiError;
use super::super::super::label_selector::Labels;
use super::super::catalog_views::requested_server_type;
use super::super::images::{Image, ImageType};
use super::super::{IdKind, IdOrName, NewAction, ResourceRef, SimEvent, World, check_labels};
use super::{Server, ServerStatus, check_user_data, machine_failure};
use crate::sim::machine;

/// `create_image`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateImage {
    description: Option<String>,
    labels: Option<Labels>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `change_type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeType {
    server_type: IdOrName,
    upgrade_disk: bool,
}

/// `rebuild`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rebuild {
    image: IdOrName,
    user_data: Option<String>,
}

impl World {
    /// `create_image`: a snapshot (or backup) that is `creating` until the action ends.
    pub fn create_image(&mut self, id: u64, request: CreateImage) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        check_labels(&request.labels)?;
        let kind = match request.kind.as_deref() {
            None | Some("snapshot") => ImageType::Snapshot,
            Some("backup") => {
                return Err(ApiError::unprocessable(
                    "unsupported_error",
                    "backups are not enabled for this server",
                ));
            }
            Some(_) => return Err(ApiError::invalid_field("type", "Must be one of: snapshot, backup.")),
        };
        let (server_name, used_gb, disk_size, architecture, source_disk) = (
            server.name.clone(),
            server.disk_used_gb,
            server.primary_disk_size,
            server.server_type.architecture,
            server.disk.clone(),
        );
        let image_id = self.new_id(IdKind::Image);
        // The disk is copied now (the bytes at request time); the image becomes available
        // when the action, timed by the data written, ends.
        let copied = match self.disks.clone() {
            Some(disks) => Some(disks.snapshot(id, image_id).map_err(machine_failure)?),
            None => None,
        };
        let used_gb = copied.map_or(used_gb, |usage| usage.allocated_gb());
        let disk_size = copied.map_or(f64::from(disk_size), |usage| usage.size_gb());
        let description = request
            .description
            .unwrap_or_else(|| format!("{server_name}-{}", self.timestamp(self.now)));
        self.images.insert(
            image_id,
            Image {
                id: image_id,
                kind,
                status: "creating",
                name: None,
                description,
                image_size: None,
                disk_size,
                created: self.now,
                created_from: Some((id, server_name)),
                bound_to: None,
                os_flavor: "unknown",
                os_version: None,
                protect_delete: false,
                labels: request.labels.unwrap_or_default(),
                architecture,
                deprecated: None,
                disk: format!("image:{image_id}"),
                source_disk,
            },
        );
        let seconds = self.durations.create_image + used_gb * self.durations.create_image_per_gb;
        let resources = vec![ResourceRef::new("server", id), ResourceRef::new("image", image_id)];
        let action = self.start_action(
            NewAction::new("create_image", resources.clone(), seconds)
                .locks(resources)
                .on_success(move |w| {
                    if let Some(image) = w.images.get_mut(&image_id) {
                        image.status = "available";
                        image.image_size = Some(used_gb);
                        let disk = image.disk.clone();
                        w.emit(SimEvent::ImageCreated {
                            id: image_id,
                            server: id,
                            disk,
                        });
                    }
                })
                .on_error(move |w| {
                    w.images.remove(&image_id);
                    if let Some(disks) = &w.disks {
                        disks.remove_image_disk(image_id);
                    }
                }),
        );
        Ok(json!({"image": self.render::<Image>(image_id), "action": self.action_json(action)}))
    }

    /// `change_type`: only while `off`, within the same architecture.
    pub fn change_server_type(&mut self, id: u64, request: ChangeType) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        server.ensure_off()?;
        let new_type = requested_server_type(&request.server_type)?;
        if new_type.architecture != server.server_type.architecture || !new_type.offered_in(server.location.name) {
            return Err(ApiError::unprocessable(
                "invalid_server_type",
                "the server type cannot be used here",
            ));
        }
        if !request.upgrade_disk && new_type.disk < server.primary_disk_size {
            return Err(ApiError::unprocessable(
                "invalid_server_type",
                "the new server type's disk is too small",
            ));
        }
        let upgrade = request.upgrade_disk;
        self.simple_server_action(id, "change_server_type", 30.0, move |w| {
            if let Some(s) = w.servers.get_mut(&id) {
                s.server_type = new_type;
                if upgrade && new_type.disk > s.primary_disk_size {
                    s.primary_disk_size = new_type.disk;
                    // The machine's disk file grows with it (a failure is the emulator's own:
                    // logged, the API change stands).
                    if let Some(disks) = &w.disks
                        && let Err(error) = disks.grow_server_disk(id, u64::from(new_type.disk) * machine::GB)
                    {
                        let message = crate::error::chain(&error).join(": ");
                        tracing::error!(server = id, %message, "cannot grow the emulated disk");
                    }
                }
            }
        })
    }

    /// `rebuild`: reinstalls from an image; `root_password` when the server has no SSH keys.
    pub fn rebuild_server(&mut self, id: u64, request: Rebuild) -> Result<Value, ApiError> {
        let server = self.server_for_action(id)?;
        if server.protect_rebuild {
            return Err(ApiError::protected("server"));
        }
        check_user_data(&request.user_data)?;
        let server_type = server.server_type;
        let image = self.resolve_image("image", &request.image, server_type)?;
        let has_keys = !server.ssh_keys.is_empty();
        self.create_server_disk(id, server_type, image)?;
        let server = self.found_mut::<Server>(id);
        server.status = ServerStatus::Rebuilding;
        server.rescue_booted = false;
        server.image = Some(image);
        server.disk = format!("image:{image}");
        server.disk_generation += 1;
        // The running system goes down while the disk is rewritten.
        self.emit(SimEvent::ServerPoweredOff { id });
        let server = self.found_mut::<Server>(id);
        if request.user_data.is_some() {
            server.user_data = request.user_data;
        }
        let action = self.start_action(
            NewAction::new("rebuild_server", vec![ResourceRef::new("server", id)], 30.0)
                .on_success(move |w| w.boot(id)),
        );
        let password = if has_keys { None } else { Some(self.new_password()) };
        Ok(json!({"action": self.action_json(action), "root_password": password}))
    }
}
