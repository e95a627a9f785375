//! Spread placement groups: at most 10 servers each; a server is in at most one.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::{self, ListRules, Page, Query};
use super::{IdKind, World, check_labels, check_name, labels_json};

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

/// `PUT /placement_groups/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlacementGroup {
    name: Option<String>,
    labels: Option<Labels>,
}

const RULES: ListRules = ListRules {
    sort_fields: &["id", "name", "created"],
    name_filter: true,
    label_selector: true,
};

impl World {
    fn placement_group(&self, id: u64) -> Result<&PlacementGroup, ApiError> {
        self.placement_groups
            .get(&id)
            .ok_or_else(|| ApiError::not_found("placement_group", id))
    }

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
        check_name("name", &request.name)?;
        check_labels(&request.labels)?;
        if request.kind != "spread" {
            return Err(ApiError::invalid_field("type", "Must be one of: spread."));
        }
        if self.placement_groups.values().any(|g| g.name == request.name) {
            return Err(ApiError::uniqueness("name", "name is already used"));
        }
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
        Ok(json!({"placement_group": self.placement_group_json(id), "action": null}))
    }

    /// `GET /placement_groups` with `name`, `label_selector`, `type`.
    pub fn list_placement_groups(&self, query: &Query) -> Result<Page, ApiError> {
        let mut items: Vec<Value> = self
            .placement_groups
            .keys()
            .map(|id| self.placement_group_json(*id))
            .collect();
        pagination::filter_in(&mut items, query, "type", "type", &["spread"])?;
        pagination::list(items, query, RULES)
    }

    /// `GET /placement_groups/{id}`.
    pub fn get_placement_group(&self, id: u64) -> Result<Value, ApiError> {
        self.placement_group(id)?;
        Ok(json!({"placement_group": self.placement_group_json(id)}))
    }

    /// `PUT /placement_groups/{id}`.
    pub fn update_placement_group(&mut self, id: u64, request: UpdatePlacementGroup) -> Result<Value, ApiError> {
        self.placement_group(id)?;
        if let Some(name) = &request.name {
            check_name("name", name)?;
            if self.placement_groups.values().any(|g| g.name == *name && g.id != id) {
                return Err(ApiError::uniqueness("name", "name is already used"));
            }
        }
        check_labels(&request.labels)?;
        let group = self
            .placement_groups
            .get_mut(&id)
            .expect("invariant: the group was found above");
        if let Some(name) = request.name {
            group.name = name;
        }
        if let Some(labels) = request.labels {
            group.labels = labels;
        }
        Ok(json!({"placement_group": self.placement_group_json(id)}))
    }

    /// `DELETE /placement_groups/{id}`: 204; refused while servers are in it (an emulator
    /// choice; the real behaviour is unverified).
    pub fn delete_placement_group(&mut self, id: u64) -> Result<(), ApiError> {
        self.placement_group(id)?;
        if !self.placement_members(id).is_empty() {
            return Err(ApiError::unprocessable(
                "resource_in_use",
                "placement group still contains servers",
            ));
        }
        self.placement_groups.remove(&id);
        Ok(())
    }

    /// The API representation of a placement group.
    pub fn placement_group_json(&self, id: u64) -> Value {
        let Some(g) = self.placement_groups.get(&id) else {
            return Value::Null;
        };
        json!({
            "id": g.id,
            "name": g.name,
            "labels": labels_json(&g.labels),
            "type": "spread",
            "servers": self.placement_members(id),
            "created": self.timestamp(g.created),
        })
    }
}
