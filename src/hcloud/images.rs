//! Images: the Talos snapshots talos-hcloud builds, found by label, relabelled, protected
//! and deleted.

use hcloud::models::{Action, Image};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client::{Call, Client};
use super::error::{Error, during, is_not_found};
use super::ids::ImageId;
use super::labels::{Labels, Selector};
use super::ssh_keys::with_selector;

/// The kinds of image, for filtering lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// A snapshot (what `image build` makes).
    Snapshot,
    /// An automatic backup.
    Backup,
    /// An operating system image of Hetzner's.
    System,
    /// An app image of Hetzner's.
    App,
}

impl ImageType {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageType::Snapshot => "snapshot",
            ImageType::Backup => "backup",
            ImageType::System => "system",
            ImageType::App => "app",
        }
    }
}

#[derive(Deserialize)]
struct ImageAnswer {
    image: Image,
}

#[derive(Deserialize)]
struct ActionAnswer {
    action: Action,
}

impl Client {
    /// Every image matching `selector`, of `kind` when given.
    ///
    /// # Errors
    /// [`Error::Request`] when the list cannot be read.
    pub async fn list_images(&self, selector: &Selector, kind: Option<ImageType>) -> Result<Vec<Image>, Error> {
        let mut call = with_selector(Call::get("/images"), selector);
        if let Some(kind) = kind {
            call = call.query("type", kind.as_str());
        }
        self.list(call, "images")
            .await
            .map_err(during(format!("listing images ({selector})")))
    }

    /// The image `id`, or `None` when it does not exist.
    ///
    /// # Errors
    /// [`Error::Request`] for other failures.
    pub async fn get_image(&self, id: ImageId) -> Result<Option<Image>, Error> {
        match self.request::<ImageAnswer>(&Call::get(format!("/images/{id}"))).await {
            Ok(answer) => Ok(Some(answer.image)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(during(format!("reading image {id}"))(error)),
        }
    }

    /// Replaces image `id`'s labels and/or description (what is `None` stays).
    ///
    /// # Errors
    /// [`Error::Request`] "while updating image ID".
    pub async fn update_image(
        &self,
        id: ImageId,
        labels: Option<&Labels>,
        description: Option<&str>,
    ) -> Result<Image, Error> {
        let mut body = Map::new();
        if let Some(labels) = labels {
            body.insert("labels".into(), json!(labels.to_map()));
        }
        if let Some(description) = description {
            body.insert("description".into(), json!(description));
        }
        let answer: ImageAnswer = self
            .request(&Call::put(format!("/images/{id}"), Value::Object(body)))
            .await
            .map_err(during(format!("updating image {id}")))?;
        Ok(answer.image)
    }

    /// Turns image `id`'s delete protection on or off.
    ///
    /// # Errors
    /// [`Error::Request`] "while changing the protection of image ID".
    pub async fn change_image_protection(&self, id: ImageId, delete: bool) -> Result<Action, Error> {
        let answer: ActionAnswer = self
            .request(&Call::action(
                format!("/images/{id}/actions/change_protection"),
                json!({"delete": delete}),
            ))
            .await
            .map_err(during(format!("changing the protection of image {id}")))?;
        Ok(answer.action)
    }

    /// Deletes image `id`; `false` when it was already gone.
    ///
    /// # Errors
    /// [`Error::Request`] "while deleting image ID" (`protected` with delete protection on).
    pub async fn delete_image(&self, id: ImageId) -> Result<bool, Error> {
        match self.request::<Value>(&Call::delete(format!("/images/{id}"))).await {
            Ok(_) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(during(format!("deleting image {id}"))(error)),
        }
    }
}
