//! Read-only catalogue endpoints: locations, server types, load balancer types.

use serde_json::{Value, json};

use super::super::catalog::{LOAD_BALANCER_TYPES, LOCATIONS, LoadBalancerType, Location, SERVER_TYPES, ServerType};
use super::super::error::ApiError;
use super::super::pagination::{self, ListRules, Page, Query};
use super::World;

const RULES: ListRules = ListRules::catalog(&["id", "name"]);

/// `{kind: entry}` for the entry with `id`, or 404 `not_found`.
fn find_entry<T>(
    kind: &str,
    entries: &[T],
    id: u64,
    id_of: fn(&T) -> u64,
    render: fn(&T) -> Value,
) -> Result<Value, ApiError> {
    entries
        .iter()
        .find(|entry| id_of(entry) == id)
        .map(|entry| json!({kind: render(entry)}))
        .ok_or_else(|| ApiError::not_found(kind, id))
}

impl World {
    /// `GET /locations`.
    pub fn list_locations(&self, query: &Query) -> Result<Page, ApiError> {
        pagination::list(LOCATIONS.iter().map(Location::to_json).collect(), query, RULES)
    }

    /// `GET /locations/{id}`.
    pub fn get_location(&self, id: u64) -> Result<Value, ApiError> {
        find_entry("location", LOCATIONS, id, |l| l.id, Location::to_json)
    }

    /// `GET /server_types`.
    pub fn list_server_types(&self, query: &Query) -> Result<Page, ApiError> {
        pagination::list(SERVER_TYPES.iter().map(ServerType::to_json).collect(), query, RULES)
    }

    /// `GET /server_types/{id}`.
    pub fn get_server_type(&self, id: u64) -> Result<Value, ApiError> {
        find_entry("server_type", SERVER_TYPES, id, |t| t.id, ServerType::to_json)
    }

    /// `GET /load_balancer_types`.
    pub fn list_load_balancer_types(&self, query: &Query) -> Result<Page, ApiError> {
        pagination::list(
            LOAD_BALANCER_TYPES.iter().map(LoadBalancerType::to_json).collect(),
            query,
            RULES,
        )
    }

    /// `GET /load_balancer_types/{id}`.
    pub fn get_load_balancer_type(&self, id: u64) -> Result<Value, ApiError> {
        find_entry(
            "load_balancer_type",
            LOAD_BALANCER_TYPES,
            id,
            |t| t.id,
            LoadBalancerType::to_json,
        )
    }
}
