//! What the resource families have in common, written once: lookup with 404, the lock
//! check, rename (the family's name rule, then uniqueness), relabel, delete protection and
//! `change_protection`, the list pipeline and the `{kind: …}` body of a single resource.
//!
//! Each family implements [`Resource`] (and [`DeleteProtected`] when it has
//! `protection.delete`) beside its own logic; what differs between families — name rule,
//! uniqueness message, whether `PUT` waits for running actions, list filters, the JSON
//! shape — is declared there, not repeated here. Which checks an operation makes, and in
//! which order, stays with the family's operation.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::label_selector::Labels;
use super::super::pagination::{self, ListRules, Page, Query};
use super::{NewAction, ResourceRef, World, check_labels, check_name};

/// How a family refuses a change while a running action holds the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// 423 `locked` (servers, images, IPs, …); `PUT` of name and labels is still allowed.
    Locked,
    /// 409 `conflict` (networks, firewalls, load balancers); `PUT` waits too.
    Conflict,
}

/// A resource family: where its resources live, what its API calls it, and the few rules
/// that differ between families.
pub trait Resource: Sized + 'static {
    /// The API's name for the type (`server`, `floating_ip`, …): in error messages, action
    /// resources and locks, and the key of a single-resource body.
    const KIND: &'static str;
    /// Sorting and filters of `GET /{kind}s`.
    const LIST: ListRules;
    /// How changes are refused while an action holds the resource.
    const BUSY: Busy = Busy::Locked;
    /// The message of the 409 `uniqueness_error` for a name that is taken.
    const NAME_TAKEN: &'static str = "name is already used";

    /// The family's name rule: 422 `invalid_input` on `name` when it is broken.
    fn check_name(name: &str) -> Result<(), ApiError> {
        check_name("name", name)
    }

    /// The family's resources by ID.
    fn table(world: &World) -> &BTreeMap<u64, Self>;

    /// The family's resources by ID, for changes.
    fn table_mut(world: &mut World) -> &mut BTreeMap<u64, Self>;

    /// The name (`None`: this resource has none).
    fn name(&self) -> Option<&str>;

    /// Renames the resource.
    fn set_name(&mut self, name: String);

    /// The labels, for replacing them.
    fn labels_mut(&mut self) -> &mut Labels;

    /// The API representation.
    fn render(&self, world: &World) -> Value;
}

/// A family with delete protection (`protection.delete`).
pub trait DeleteProtected: Resource {
    /// Returns true if and only if delete protection is on.
    fn delete_protected(&self) -> bool;

    /// Turns delete protection on or off.
    fn set_delete_protection(&mut self, on: bool);

    /// 423 `protected` while delete protection is on.
    fn ensure_unprotected(&self) -> Result<(), ApiError> {
        if self.delete_protected() {
            return Err(ApiError::protected(Self::KIND));
        }
        Ok(())
    }
}

/// The [`Resource`] accessors of a family whose struct has `name: String` and
/// `labels: Labels` and whose resources live in `World::$table`; used inside the impl.
macro_rules! stored_in {
    ($table:ident) => {
        fn table(world: &$crate::sim::hcloud::state::World) -> &std::collections::BTreeMap<u64, Self> {
            &world.$table
        }

        fn table_mut(world: &mut $crate::sim::hcloud::state::World) -> &mut std::collections::BTreeMap<u64, Self> {
            &mut world.$table
        }

        fn name(&self) -> Option<&str> {
            Some(&self.name)
        }

        fn set_name(&mut self, name: String) {
            self.name = name;
        }

        fn labels_mut(&mut self) -> &mut $crate::sim::hcloud::label_selector::Labels {
            &mut self.labels
        }
    };
}
pub(crate) use stored_in;

/// [`DeleteProtected`] for a family whose struct has `protect_delete: bool`.
macro_rules! delete_protected {
    ($type:ty) => {
        impl $crate::sim::hcloud::state::resource::DeleteProtected for $type {
            fn delete_protected(&self) -> bool {
                self.protect_delete
            }

            fn set_delete_protection(&mut self, on: bool) {
                self.protect_delete = on;
            }
        }
    };
}
pub(crate) use delete_protected;

/// `PUT /{kind}s/{id}` of a family whose only editable fields are name and labels.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateNameAndLabels {
    /// The new name.
    pub name: Option<String>,
    /// The new labels (replacing all).
    pub labels: Option<Labels>,
}

/// `change_protection` of a family whose only protection is `delete`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeDeleteProtection {
    /// The new delete protection.
    pub delete: Option<bool>,
}

impl World {
    /// The resource `id` of family `T`, or 404 `not_found`.
    pub(crate) fn find<T: Resource>(&self, id: u64) -> Result<&T, ApiError> {
        T::table(self).get(&id).ok_or_else(|| ApiError::not_found(T::KIND, id))
    }

    /// The resource `id` for a change: it exists (404) and no running action holds it
    /// (423 `locked` or 409 `conflict`, as the family answers).
    pub(crate) fn find_unlocked<T: Resource>(&self, id: u64) -> Result<&T, ApiError> {
        let found = self.find::<T>(id)?;
        self.ensure_unlocked::<T>(id)?;
        Ok(found)
    }

    /// 423 `locked` or 409 `conflict` (per [`Resource::BUSY`]) while a running action
    /// holds the resource.
    pub(crate) fn ensure_unlocked<T: Resource>(&self, id: u64) -> Result<(), ApiError> {
        if !self.is_locked(T::KIND, id) {
            return Ok(());
        }
        Err(match T::BUSY {
            Busy::Locked => ApiError::locked(T::KIND),
            Busy::Conflict => ApiError::conflict(T::KIND),
        })
    }

    /// The resource `id`, which the caller has just found, for changing it.
    pub(crate) fn found_mut<T: Resource>(&mut self, id: u64) -> &mut T {
        T::table_mut(self)
            .get_mut(&id)
            .expect("invariant: the caller checked that the resource exists")
    }

    /// The API representation of resource `id` (`null` if it does not exist).
    pub fn render<T: Resource>(&self, id: u64) -> Value {
        T::table(self).get(&id).map_or(Value::Null, |r| r.render(self))
    }

    /// Every resource of the family in API representation, by ascending ID.
    pub fn render_all<T: Resource>(&self) -> Vec<Value> {
        T::table(self).values().map(|r| r.render(self)).collect()
    }

    /// `{KIND: representation}`, the body of a single resource.
    pub(crate) fn envelope<T: Resource>(&self, id: u64) -> Value {
        json!({T::KIND: self.render::<T>(id)})
    }

    /// The body of a create that may start an action: `{KIND: …}`, plus `action` when one
    /// runs (the field is optional but not nullable in the spec, so it is left out).
    pub(crate) fn created_reply<T: Resource>(&self, id: u64, action: Option<u64>) -> Value {
        let mut body = self.envelope::<T>(id);
        if let Some(action) = action {
            body["action"] = self.action_json(action);
        }
        body
    }

    /// `GET /{kind}s/{id}`.
    pub fn get<T: Resource>(&self, id: u64) -> Result<Value, ApiError> {
        self.find::<T>(id)?;
        Ok(self.envelope::<T>(id))
    }

    /// `GET /{kind}s` with the family's filters, sorting and pagination.
    pub fn list<T: Resource>(&self, query: &Query) -> Result<Page, ApiError> {
        pagination::list(self.render_all::<T>(), query, T::LIST)
    }

    /// 409 `uniqueness_error` when a resource of the family other than `except` is named
    /// `name`.
    pub(crate) fn ensure_name_free<T: Resource>(&self, name: &str, except: Option<u64>) -> Result<(), ApiError> {
        let taken = T::table(self)
            .iter()
            .any(|(id, r)| r.name() == Some(name) && Some(*id) != except);
        if taken {
            return Err(ApiError::uniqueness("name", T::NAME_TAKEN));
        }
        Ok(())
    }

    /// What every `PUT` does: the resource exists (and is not held, for
    /// [`Busy::Conflict`] families); a new name follows the family's rule and is free;
    /// the labels are valid. Then both are applied, and the resource is returned for the
    /// family's own fields.
    pub(crate) fn rename_relabel<T: Resource>(
        &mut self,
        id: u64,
        name: Option<String>,
        labels: Option<Labels>,
    ) -> Result<&mut T, ApiError> {
        match T::BUSY {
            Busy::Locked => self.find::<T>(id)?,
            Busy::Conflict => self.find_unlocked::<T>(id)?,
        };
        if let Some(name) = &name {
            T::check_name(name)?;
            self.ensure_name_free::<T>(name, Some(id))?;
        }
        check_labels(&labels)?;
        let resource = self.found_mut::<T>(id);
        if let Some(name) = name {
            resource.set_name(name);
        }
        if let Some(labels) = labels {
            *resource.labels_mut() = labels;
        }
        Ok(resource)
    }

    /// `PUT /{kind}s/{id}`: [`World::rename_relabel`], then `change` for the family's own
    /// fields (which need no checks); answers the updated resource.
    pub(crate) fn update_with<T: Resource>(
        &mut self,
        id: u64,
        name: Option<String>,
        labels: Option<Labels>,
        change: impl FnOnce(&mut T),
    ) -> Result<Value, ApiError> {
        change(self.rename_relabel::<T>(id, name, labels)?);
        Ok(self.envelope::<T>(id))
    }

    /// `PUT /{kind}s/{id}` of a family whose only editable fields are name and labels.
    pub fn update<T: Resource>(&mut self, id: u64, request: UpdateNameAndLabels) -> Result<Value, ApiError> {
        self.update_with::<T>(id, request.name, request.labels, |_| ())
    }

    /// Applies `change` to resource `id`, which the caller has checked, and starts a short
    /// `command` action on it (and on `other`, if any). Returns `{"action": …}`.
    pub(crate) fn apply_change<T: Resource>(
        &mut self,
        id: u64,
        command: &'static str,
        other: Option<ResourceRef>,
        change: impl FnOnce(&mut T),
    ) -> Value {
        change(self.found_mut::<T>(id));
        let mut resources = vec![ResourceRef::new(T::KIND, id)];
        resources.extend(other);
        let seconds = self.durations.small;
        let action = self.start_action(NewAction::new(command, resources, seconds));
        self.action_reply(action)
    }

    /// `POST /{kind}s/{id}/actions/change_protection` of a family whose only protection is
    /// `delete`.
    pub fn change_delete_protection<T: DeleteProtected>(
        &mut self,
        id: u64,
        request: ChangeDeleteProtection,
    ) -> Result<Value, ApiError> {
        self.find_unlocked::<T>(id)?;
        Ok(self.apply_change::<T>(id, "change_protection", None, |r| {
            if let Some(delete) = request.delete {
                r.set_delete_protection(delete);
            }
        }))
    }
}
