//! The catalogue as the API shows it: the read-only endpoints for locations, server types
//! and load balancer types, and the lookups of catalogue entries that requests name (422
//! `invalid_input` on the field when there is none).

use serde_json::{Value, json};

use super::super::catalog::{
    self, LOAD_BALANCER_TYPES, LOCATIONS, LoadBalancerType, Location, SERVER_TYPES, ServerType,
};
use super::super::error::ApiError;
use super::super::pagination::{self, ListRules, Page, Query};
use super::{IdOrName, World};

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
    /// A server type's JSON with `available: false` where a fault has sold it out.
    fn with_availability(&self, server_type: &ServerType) -> Value {
        let mut json = server_type.to_json();
        if let Some(locations) = json["locations"].as_array_mut() {
            for location in locations {
                let name = location["name"].as_str().unwrap_or_default().to_string();
                if self.faults.sold_out(server_type.name, &name) {
                    location["available"] = Value::Bool(false);
                }
            }
        }
        json
    }

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
        let types = SERVER_TYPES.iter().map(|t| self.with_availability(t)).collect();
        pagination::list(types, query, RULES)
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

/// The location a request names in `field` (`location`, `home_location`).
pub(crate) fn requested_location(field: &str, name: &IdOrName) -> Result<&'static Location, ApiError> {
    catalog::location(name.as_str())
        .ok_or_else(|| ApiError::invalid_field(field, format!("location {} not found", name.as_str())))
}

/// The location of the `datacenter` a request names (deprecated): `fsn1-dc14` names its
/// location before the dash.
pub(crate) fn requested_datacenter(name: &IdOrName) -> Result<&'static Location, ApiError> {
    let location = name.as_str().split('-').next().unwrap_or_default();
    catalog::location(location)
        .ok_or_else(|| ApiError::invalid_field("datacenter", format!("datacenter {} not found", name.as_str())))
}

/// The server type a request names in `server_type`.
pub(crate) fn requested_server_type(name: &IdOrName) -> Result<&'static ServerType, ApiError> {
    catalog::server_type(name.as_str())
        .ok_or_else(|| ApiError::invalid_field("server_type", format!("server type {} not found", name.as_str())))
}
