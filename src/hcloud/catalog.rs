//! Server types and locations: what exists and where a type can be ordered now, so
//! `image build` can refuse an unavailable combination before spending money.
//!
//! Availability lives in `server_types[].locations[].available` since the datacenter
//! endpoints were retired (reference/hcloud-api.md §1); the crate's model predates that
//! field, so this module reads it with its own small model.

use hcloud::models::Location;
use serde::Deserialize;

use super::client::{Call, Client};
use super::error::{Error, during};

/// A server type as far as ordering is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerTypeInfo {
    /// Its ID.
    pub id: i64,
    /// Its name (`cax11`).
    pub name: String,
    /// `x86` or `arm`.
    pub architecture: String,
    /// The locations that list it.
    #[serde(default)]
    pub locations: Vec<ServerTypeLocation>,
}

/// One location of a server type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerTypeLocation {
    /// Location name (`fsn1`).
    pub name: String,
    /// Whether it can be ordered there now (absent in older answers: assumed yes).
    #[serde(default)]
    pub available: Option<bool>,
}

/// Whether a server type can be ordered in a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// It can be ordered there.
    Available,
    /// The type exists but is not offered (or sold out) in that location.
    NotInLocation,
    /// No server type has that name.
    UnknownType,
}

impl ServerTypeInfo {
    /// Whether this type can be ordered in `location`.
    pub fn availability_in(&self, location: &str) -> Availability {
        match self.locations.iter().find(|l| l.name == location) {
            Some(l) if l.available != Some(false) => Availability::Available,
            Some(_) | None => Availability::NotInLocation,
        }
    }
}

impl Client {
    /// Every server type.
    ///
    /// # Errors
    /// [`Error::Request`] when the list cannot be read.
    pub async fn list_server_types(&self) -> Result<Vec<ServerTypeInfo>, Error> {
        self.list(Call::get("/server_types"), "server_types")
            .await
            .map_err(during("listing server types"))
    }

    /// Every location.
    ///
    /// # Errors
    /// [`Error::Request`] when the list cannot be read.
    pub async fn list_locations(&self) -> Result<Vec<Location>, Error> {
        self.list(Call::get("/locations"), "locations")
            .await
            .map_err(during("listing locations"))
    }

    /// Whether server type `server_type` can be ordered in `location` now.
    ///
    /// # Errors
    /// [`Error::Request`] when the server types cannot be read.
    pub async fn server_type_availability(&self, server_type: &str, location: &str) -> Result<Availability, Error> {
        let types: Vec<ServerTypeInfo> = self
            .list(Call::get("/server_types").query("name", server_type), "server_types")
            .await
            .map_err(during(format!("checking server type {server_type} in {location}")))?;
        Ok(types
            .iter()
            .find(|t| t.name == server_type)
            .map_or(Availability::UnknownType, |t| t.availability_in(location)))
    }
}
