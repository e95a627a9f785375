//! SSH keys: unique by name and by fingerprint; the tool creates a temporary one per build
//! and sweeps them by label selector.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::fingerprint::fingerprint;
use super::super::label_selector::Labels;
use super::super::pagination::{self, ListRules, Page, Query};
use super::{IdKind, World, check_labels, check_name, labels_json};

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

/// `PUT /ssh_keys/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSshKey {
    name: Option<String>,
    labels: Option<Labels>,
}

const RULES: ListRules = ListRules {
    sort_fields: &["id", "name"],
    name_filter: true,
    label_selector: true,
};

impl World {
    fn ssh_key(&self, id: u64) -> Result<&SshKey, ApiError> {
        self.ssh_keys.get(&id).ok_or_else(|| ApiError::not_found("ssh_key", id))
    }

    /// `POST /ssh_keys`.
    pub fn create_ssh_key(&mut self, request: CreateSshKey) -> Result<Value, ApiError> {
        check_name("name", &request.name)?;
        check_labels(&request.labels)?;
        let fingerprint = fingerprint(&request.public_key).map_err(|why| ApiError::invalid_field("public_key", why))?;
        if self.ssh_keys.values().any(|k| k.name == request.name) {
            return Err(ApiError::uniqueness("name", "SSH key name is already used"));
        }
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
        Ok(json!({"ssh_key": self.ssh_key_json(id)}))
    }

    /// `GET /ssh_keys` with `name`, `fingerprint`, `label_selector`.
    pub fn list_ssh_keys(&self, query: &Query) -> Result<Page, ApiError> {
        let mut items: Vec<Value> = self.ssh_keys.keys().map(|id| self.ssh_key_json(*id)).collect();
        pagination::filter_in(&mut items, query, "fingerprint", "fingerprint", &[])?;
        pagination::list(items, query, RULES)
    }

    /// `GET /ssh_keys/{id}`.
    pub fn get_ssh_key(&self, id: u64) -> Result<Value, ApiError> {
        self.ssh_key(id)?;
        Ok(json!({"ssh_key": self.ssh_key_json(id)}))
    }

    /// `PUT /ssh_keys/{id}`.
    pub fn update_ssh_key(&mut self, id: u64, request: UpdateSshKey) -> Result<Value, ApiError> {
        self.ssh_key(id)?;
        if let Some(name) = &request.name {
            check_name("name", name)?;
            if self.ssh_keys.values().any(|k| k.name == *name && k.id != id) {
                return Err(ApiError::uniqueness("name", "SSH key name is already used"));
            }
        }
        check_labels(&request.labels)?;
        let key = self.ssh_keys.get_mut(&id).expect("invariant: the key was found above");
        if let Some(name) = request.name {
            key.name = name;
        }
        if let Some(labels) = request.labels {
            key.labels = labels;
        }
        Ok(json!({"ssh_key": self.ssh_key_json(id)}))
    }

    /// `DELETE /ssh_keys/{id}`: 204.
    pub fn delete_ssh_key(&mut self, id: u64) -> Result<(), ApiError> {
        self.ssh_key(id)?;
        self.ssh_keys.remove(&id);
        Ok(())
    }

    fn ssh_key_json(&self, id: u64) -> Value {
        let Some(k) = self.ssh_keys.get(&id) else {
            return Value::Null;
        };
        json!({
            "id": k.id,
            "name": k.name,
            "fingerprint": k.fingerprint,
            "public_key": k.public_key,
            "labels": labels_json(&k.labels),
            "created": self.timestamp(k.created),
        })
    }
}
