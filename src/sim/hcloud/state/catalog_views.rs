//! Read-only catalogue endpoints: locations, server types, load balancer types.

use serde_json::{Value, json};

use super::super::catalog::{LOAD_BALANCER_TYPES, LOCATIONS, SERVER_TYPES};
use super::super::error::ApiError;
use super::super::pagination::{self, ListRules, Page, Query};
use super::World;

const LOCATION_RULES: ListRules = ListRules {
    sort_fields: &["id", "name"],
    name_filter: true,
    label_selector: false,
};

const TYPE_RULES: ListRules = ListRules {
    sort_fields: &["id", "name"],
    name_filter: true,
    label_selector: false,
};

impl World {
    /// `GET /locations`.
    pub fn list_locations(&self, query: &Query) -> Result<Page, ApiError> {
        pagination::list(LOCATIONS.iter().map(|l| l.to_json()).collect(), query, LOCATION_RULES)
    }

    /// `GET /locations/{id}`.
    pub fn get_location(&self, id: u64) -> Result<Value, ApiError> {
        LOCATIONS
            .iter()
            .find(|l| l.id == id)
            .map(|l| json!({"location": l.to_json()}))
            .ok_or_else(|| ApiError::not_found("location", id))
    }

    /// `GET /server_types`.
    pub fn list_server_types(&self, query: &Query) -> Result<Page, ApiError> {
        pagination::list(SERVER_TYPES.iter().map(|t| t.to_json()).collect(), query, TYPE_RULES)
    }

    /// `GET /server_types/{id}`.
    pub fn get_server_type(&self, id: u64) -> Result<Value, ApiError> {
        SERVER_TYPES
            .iter()
            .find(|t| t.id == id)
            .map(|t| json!({"server_type": t.to_json()}))
            .ok_or_else(|| ApiError::not_found("server_type", id))
    }

    /// `GET /load_balancer_types`.
    pub fn list_load_balancer_types(&self, query: &Query) -> Result<Page, ApiError> {
        pagination::list(
            LOAD_BALANCER_TYPES.iter().map(|t| t.to_json()).collect(),
            query,
            TYPE_RULES,
        )
    }

    /// `GET /load_balancer_types/{id}`.
    pub fn get_load_balancer_type(&self, id: u64) -> Result<Value, ApiError> {
        LOAD_BALANCER_TYPES
            .iter()
            .find(|t| t.id == id)
            .map(|t| json!({"load_balancer_type": t.to_json()}))
            .ok_or_else(|| ApiError::not_found("load_balancer_type", id))
    }
}
