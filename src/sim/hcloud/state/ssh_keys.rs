//! SSH keys: unique by name and by fingerprint; the tool creates a temporary one per build
//! and sweeps them by label selector.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::fingerprint::fingerprint;
use super::super::label_selector::Labels;
use super::super::pagination::ListRules;
use super::resource::{Resource, stored_in};
use super::{IdKind, World, check_labels, labels_json};

/// An SSH key.
#[derive(Debug, Clone)]
pub struct SshKey {
    /// ID.
    pub id: u64,
    /// Name.
    pub name: String,
    /// MD5 fingerprint.
    pub fingerprint: String,
    /// The public key line.
    pub public_key: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: u64,
}

/// `POST /ssh_keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSshKey {
    name: String,
    public_key: String,
    labels: Option<Labels>,
}

impl Resource for SshKey {
    const KIND: &'static str = "ssh_key";
    const LIST: ListRules = ListRules::resources(&["id", "name"]).filters(&[("fingerprint", &[])]);
    const NAME_TAKEN: &'static str = "SSH key name is already used";

    stored_in!(ssh_keys);

    fn render(&self, world: &World) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "public_key": self.public_key,
            "labels": labels_json(&self.labels),
            "created": world.timestamp(self.created),
        })
    }
}

impl World {
    /// `POST /ssh_keys`.
    pub fn create_ssh_key(&mut self, request: CreateSshKey) -> Result<Value, ApiError> {
        SshKey::check_name(&request.name)?;
        check_labels(&request.labels)?;
        let fingerprint = fingerprint(&request.public_key).map_err(|why| ApiError::invalid_field("public_key", why))?;
        self.ensure_name_free::<SshKey>(&request.name, None)?;
        if self.ssh_keys.values().any(|k| k.fingerprint == fingerprint) {
            return Err(ApiError::uniqueness(
                "public_key",
                "SSH key with the same fingerprint already exists",
            ));
        }
        let id = self.new_id(IdKind::SshKey);
        self.ssh_keys.insert(
            id,
            SshKey {
                id,
                name: request.name,
                fingerprint,
                public_key: request.public_key.trim().to_string(),
                labels: request.labels.unwrap_or_default(),
                created: self.now,
            },
        );
        Ok(self.envelope::<SshKey>(id))
    }

    /// `DELETE /ssh_keys/{id}`: 204.
    pub fn delete_ssh_key(&mut self, id: u64) -> Result<(), ApiError> {
        self.find::<SshKey>(id)?;
        self.ssh_keys.remove(&id);
        Ok(())
    }
}
