//! Spread placement groups: at most 10 servers each; a server is in at most one.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::ListRules;
use super::resource::{Resource, stored_in};
use super::{IdKind, World, check_labels, labels_json};

/// The most placement groups a project holds (docs.hetzner.com/cloud/placement-groups/overview).
pub const MAX_GROUPS: usize = 50;

/// The most servers a spread group holds.
pub const SPREAD_GROUP_LIMIT: usize = 10;

/// A placement group (members are derived from the servers).
#[derive(Debug, Clone)]
pub struct PlacementGroup {
    /// ID.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: u64,
}

/// `POST /placement_groups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePlacementGroup {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    labels: Option<Labels>,
}

impl Resource for PlacementGroup {
    const KIND: &'static str = "placement_group";
    const LIST: ListRules = ListRules::resources(&["id", "name", "created"]).filters(&[("type", &["spread"])]);

    stored_in!(placement_groups);

    fn render(&self, world: &World) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "labels": labels_json(&self.labels),
            "type": "spread",
            "servers": world.placement_members(self.id),
            "created": world.timestamp(self.created),
        })
    }
}

impl World {
    fn placement_members(&self, id: u64) -> Vec<u64> {
        self.servers
            .values()
            .filter(|s| s.placement_group == Some(id))
            .map(|s| s.id)
            .collect()
    }

    /// The group exists and has room for one more server.
    pub(crate) fn check_placement_capacity(&self, id: u64) -> Result<(), ApiError> {
        if !self.placement_groups.contains_key(&id) {
            return Err(ApiError::invalid_field(
                "placement_group",
                format!("placement group with ID {id} not found"),
            ));
        }
        if self.placement_members(id).len() >= SPREAD_GROUP_LIMIT {
            return Err(ApiError::unprocessable(
                "placement_group_member_limit_reached",
                format!("placement group with ID {id} contains already {SPREAD_GROUP_LIMIT} servers"),
            ));
        }
        Ok(())
    }

    /// `POST /placement_groups`: 201 with `action: null`.
    pub fn create_placement_group(&mut self, request: CreatePlacementGroup) -> Result<Value, ApiError> {
        PlacementGroup::check_name(&request.name)?;
        check_labels(&request.labels)?;
        if request.kind != "spread" {
            return Err(ApiError::invalid_field("type", "Must be one of: spread."));
        }
        self.ensure_name_free::<PlacementGroup>(&request.name, None)?;
        if self.placement_groups.len() >= MAX_GROUPS {
            let mut error = ApiError::new(403, "resource_limit_exceeded", "placement group limit exceeded");
            error.details = Box::new(json!({"limits": [{"name": "project_limit"}]}));
            return Err(error);
        }
        let id = self.new_id(IdKind::PlacementGroup);
        self.placement_groups.insert(
            id,
            PlacementGroup {
                id,
                name: request.name,
                labels: request.labels.unwrap_or_default(),
                created: self.now,
            },
        );
        Ok(json!({"placement_group": self.render::<PlacementGroup>(id), "action": null}))
    }

    /// `DELETE /placement_groups/{id}`: 204; refused while servers are in it (an emulator
    /// choice; the real behaviour is unverified).
    pub fn delete_placement_group(&mut self, id: u64) -> Result<(), ApiError> {
        self.find::<PlacementGroup>(id)?;
        if !self.placement_members(id).is_empty() {
            return Err(ApiError::unprocessable(
                "resource_in_use",
                "placement group still contains servers",
            ));
        }
        self.placement_groups.remove(&id);
        Ok(())
    }
}
