//! SSH keys: the temporary keys of builder servers.

use hcloud::models::SshKey;
use serde::Deserialize;
use serde_json::json;

use super::client::{Call, Client};
use super::error::{Error, during, is_not_found};
use super::ids::SshKeyId;
use super::labels::{Labels, Selector};

#[derive(Deserialize)]
struct KeyAnswer {
    ssh_key: SshKey,
}

impl Client {
    /// Creates SSH key `name` with `public_key` (OpenSSH one-line form) and `labels`.
    ///
    /// After an ambiguous failure the key is looked up by name (with the same public key)
    /// before the create is sent again.
    ///
    /// # Errors
    /// [`Error::Request`] "while creating SSH key NAME" (`uniqueness_error` when the name or
    /// the key is taken).
    pub async fn create_ssh_key(&self, name: &str, public_key: &str, labels: &Labels) -> Result<SshKey, Error> {
        let call = Call::create(
            "/ssh_keys",
            json!({"name": name, "public_key": public_key.trim(), "labels": labels.to_map()}),
        );
        let answer = self
            .create(&call, || async {
                let found = self.find_ssh_key_request(name).await?;
                Ok(found
                    .filter(|key| key.public_key.trim() == public_key.trim())
                    .map(|ssh_key| KeyAnswer { ssh_key }))
            })
            .await
            .map_err(during(format!("creating SSH key {name}")))?;
        Ok(answer.ssh_key)
    }

    /// The SSH key called `name`, if there is one.
    ///
    /// # Errors
    /// [`Error::Request`] when the list cannot be read.
    pub async fn find_ssh_key(&self, name: &str) -> Result<Option<SshKey>, Error> {
        self.find_ssh_key_request(name)
            .await
            .map_err(during(format!("looking up SSH key {name}")))
    }

    async fn find_ssh_key_request(&self, name: &str) -> Result<Option<SshKey>, super::error::RequestError> {
        let keys: Vec<SshKey> = self
            .list(Call::get("/ssh_keys").query("name", name), "ssh_keys")
            .await?;
        Ok(keys.into_iter().find(|key| key.name == name))
    }

    /// Every SSH key matching `selector`.
    ///
    /// # Errors
    /// [`Error::Request`] when the list cannot be read.
    pub async fn list_ssh_keys(&self, selector: &Selector) -> Result<Vec<SshKey>, Error> {
        self.list(with_selector(Call::get("/ssh_keys"), selector), "ssh_keys")
            .await
            .map_err(during(format!("listing SSH keys ({selector})")))
    }

    /// Deletes SSH key `id`; `false` when it was already gone.
    ///
    /// # Errors
    /// [`Error::Request`] "while deleting SSH key ID".
    pub async fn delete_ssh_key(&self, id: SshKeyId) -> Result<bool, Error> {
        match self
            .request::<serde_json::Value>(&Call::delete(format!("/ssh_keys/{id}")))
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(during(format!("deleting SSH key {id}"))(error)),
        }
    }
}

/// `call` with `label_selector` unless the selector is empty.
pub(super) fn with_selector(call: Call, selector: &Selector) -> Call {
    if selector.is_empty() {
        call
    } else {
        call.query("label_selector", selector)
    }
}
