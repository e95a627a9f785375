//! Actions: the asynchronous core. An action is `running` from its start until its
//! deadline on the simulated clock, then `success` (its effect is applied) or `error`
//! (injected by the fault rules). Progress grows linearly. While an action runs it holds
//! locks on the resources it changes.

use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::pagination::{self, Page, Query};
use super::{IdKind, Timed, World};
use crate::sim::clock::SimMillis;

/// A state change applied when an action completes (or at a scheduled time).
pub type Effect = Box<dyn FnOnce(&mut World) + Send>;

/// `running`, `success` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    /// In progress.
    Running,
    /// Done.
    Success,
    /// Failed.
    Error,
}

impl ActionStatus {
    fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Running => "running",
            ActionStatus::Success => "success",
            ActionStatus::Error => "error",
        }
    }
}

/// A resource an action concerns: `{"id", "type"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceRef {
    /// `server`, `image`, `network`, …
    pub kind: &'static str,
    /// Its ID.
    pub id: u64,
}

impl ResourceRef {
    /// A reference.
    pub fn new(kind: &'static str, id: u64) -> Self {
        ResourceRef { kind, id }
    }
}

/// An action record.
pub struct Action {
    /// ID.
    pub id: u64,
    /// The command (`create_server`, …).
    pub command: String,
    /// When it was created (shown as `started`).
    pub started: SimMillis,
    /// When its work begins (after the action it waits for).
    pub begins: SimMillis,
    /// When it completes.
    pub ends: SimMillis,
    /// When it completed.
    pub finished: Option<SimMillis>,
    /// Its status.
    pub status: ActionStatus,
    /// `{code, message}` when it failed.
    pub error: Option<(String, String)>,
    /// The resources shown in `resources`.
    pub resources: Vec<ResourceRef>,
    /// The resources locked while it runs.
    pub locks: Vec<ResourceRef>,
    after: Option<u64>,
    /// The error code it will end with (an injected fault, or a failed predecessor).
    fails: Option<String>,
    on_success: Option<Effect>,
    on_error: Option<Effect>,
}

/// What to start: the builder for [`World::start_action`].
pub struct NewAction {
    command: &'static str,
    resources: Vec<ResourceRef>,
    locks: Vec<ResourceRef>,
    seconds: f64,
    after: Option<u64>,
    on_success: Option<Effect>,
    on_error: Option<Effect>,
}

impl NewAction {
    /// An action of `command` on `resources` taking `seconds` of simulated time. By
    /// default it locks its first resource.
    pub fn new(command: &'static str, resources: Vec<ResourceRef>, seconds: f64) -> Self {
        let locks = resources.first().copied().into_iter().collect();
        NewAction {
            command,
            resources,
            locks,
            seconds,
            after: None,
            on_success: None,
            on_error: None,
        }
    }

    /// Sets the locked resources.
    pub fn locks(mut self, locks: Vec<ResourceRef>) -> Self {
        self.locks = locks;
        self
    }

    /// Starts the work only when action `id` completes.
    pub fn after(mut self, id: Option<u64>) -> Self {
        self.after = id;
        self
    }

    /// The effect on success.
    pub fn on_success(mut self, effect: impl FnOnce(&mut World) + Send + 'static) -> Self {
        self.on_success = Some(Box::new(effect));
        self
    }

    /// The effect on failure.
    pub fn on_error(mut self, effect: impl FnOnce(&mut World) + Send + 'static) -> Self {
        self.on_error = Some(Box::new(effect));
        self
    }
}

impl World {
    /// Starts an action; the fault rules may make it slow or make it fail.
    pub fn start_action(&mut self, new: NewAction) -> u64 {
        let id = self.new_id(IdKind::Action);
        let fault = self.faults.action(new.command);
        let jitter: f64 = {
            use rand::Rng;
            self.rng_durations.random_range(0.9..1.1)
        };
        let millis = (new.seconds * 1000.0 * jitter * fault.factor).max(1.0) as SimMillis;
        let begins = match new.after.and_then(|a| self.actions.get(&a)) {
            Some(before) if before.status == ActionStatus::Running => before.ends,
            _ => self.now,
        };
        let ends = begins.saturating_add(millis);
        self.actions.insert(
            id,
            Action {
                id,
                command: new.command.to_string(),
                started: self.now,
                begins,
                ends,
                finished: None,
                status: ActionStatus::Running,
                error: None,
                resources: new.resources,
                locks: new.locks,
                after: new.after,
                fails: fault.error,
                on_success: new.on_success,
                on_error: new.on_error,
            },
        );
        self.running.insert(id);
        self.schedule(ends, Timed::ActionDone(id));
        id
    }

    /// An action that is already complete (for operations the API reports as done).
    pub fn finished_action(&mut self, command: &'static str, resources: Vec<ResourceRef>) -> u64 {
        let id = self.new_id(IdKind::Action);
        self.actions.insert(
            id,
            Action {
                id,
                command: command.to_string(),
                started: self.now,
                begins: self.now,
                ends: self.now,
                finished: Some(self.now),
                status: ActionStatus::Success,
                error: None,
                resources,
                locks: Vec::new(),
                after: None,
                fails: None,
                on_success: None,
                on_error: None,
            },
        );
        id
    }

    pub(super) fn finish_action(&mut self, id: u64) {
        let Some(action) = self.actions.get_mut(&id) else {
            return;
        };
        if action.status != ActionStatus::Running {
            return;
        }
        self.running.remove(&id);
        action.finished = Some(self.now);
        let effect = if let Some(code) = action.fails.clone() {
            action.status = ActionStatus::Error;
            let message = if code == "action_failed" {
                "Action failed".to_string()
            } else {
                format!("Action failed: {code}")
            };
            action.error = Some((code, message));
            action.on_success = None;
            action.on_error.take()
        } else {
            action.status = ActionStatus::Success;
            action.on_error = None;
            action.on_success.take()
        };
        let failed = action.fails.is_some();
        if let Some(effect) = effect {
            effect(self);
        }
        if failed {
            // Actions waiting for this one cannot run either.
            let dependents: Vec<u64> = self
                .running
                .iter()
                .copied()
                .filter(|a| self.actions.get(a).is_some_and(|x| x.after == Some(id)))
                .collect();
            for dependent in dependents {
                if let Some(action) = self.actions.get_mut(&dependent) {
                    action.fails = Some("action_failed".to_string());
                }
                self.finish_action(dependent);
            }
        }
    }

    /// The API representation of an action.
    pub fn action_json(&self, id: u64) -> Value {
        let Some(a) = self.actions.get(&id) else {
            return Value::Null;
        };
        let progress = match a.status {
            ActionStatus::Success => 100,
            ActionStatus::Error => 100.min(self.progress_of(a)),
            ActionStatus::Running => self.progress_of(a).min(99),
        };
        json!({
            "id": a.id,
            "command": a.command,
            "status": a.status.as_str(),
            "progress": progress,
            "started": self.timestamp(a.started),
            "finished": a.finished.map(|f| self.timestamp(f)),
            "resources": a.resources.iter().map(|r| json!({"id": r.id, "type": r.kind})).collect::<Vec<_>>(),
            "error": a.error.as_ref().map(|(code, message)| json!({"code": code, "message": message})),
        })
    }

    /// `{"action": …}`, the body of an operation that started one action.
    pub(crate) fn action_reply(&self, id: u64) -> Value {
        json!({"action": self.action_json(id)})
    }

    fn progress_of(&self, a: &Action) -> u64 {
        if self.now <= a.begins || a.ends <= a.begins {
            return 0;
        }
        let progress = u128::from(self.now - a.begins) * 100 / u128::from(a.ends - a.begins);
        u64::try_from(progress.min(100)).expect("invariant: at most 100")
    }

    /// `GET /actions/{id}`.
    pub fn get_action(&self, id: u64) -> Result<Value, ApiError> {
        if self.actions.contains_key(&id) {
            Ok(self.action_reply(id))
        } else {
            Err(ApiError::not_found("action", id))
        }
    }

    /// `GET /actions?id=…`: the known ones among the requested IDs (at least one required).
    pub fn list_actions_by_id(&self, query: &Query) -> Result<Page, ApiError> {
        let ids = query.all("id");
        if ids.is_empty() {
            return Err(ApiError::invalid_field("id", "Missing data for required field."));
        }
        let mut wanted = Vec::new();
        for id in ids {
            wanted.push(
                id.parse::<u64>()
                    .map_err(|_| ApiError::invalid_field("id", "Not a valid integer."))?,
            );
        }
        let items = wanted
            .iter()
            .filter(|id| self.actions.contains_key(id))
            .map(|id| self.action_json(*id))
            .collect();
        self.finish_action_list(items, query)
    }

    /// Actions concerning a kind of resource (`/servers/actions`), or one resource of it
    /// (`/servers/{id}/actions`).
    pub fn list_resource_actions(&self, kind: &str, id: Option<u64>, query: &Query) -> Result<Page, ApiError> {
        let items = self
            .actions
            .values()
            .filter(|a| {
                a.resources
                    .iter()
                    .any(|r| r.kind == kind && id.is_none_or(|id| r.id == id))
            })
            .map(|a| self.action_json(a.id))
            .collect();
        self.finish_action_list(items, query)
    }

    fn finish_action_list(&self, mut items: Vec<Value>, query: &Query) -> Result<Page, ApiError> {
        pagination::filter_in(&mut items, query, "status", &["running", "success", "error"])?;
        pagination::sort(
            &mut items,
            &query.all("sort"),
            &["id", "command", "status", "started", "finished"],
        )?;
        pagination::paginate(items, query)
    }

    /// `GET /{kind}/actions/{id}` or `/{kind}/{rid}/actions/{id}`: the action if it
    /// concerns that kind (and resource).
    pub fn get_resource_action(&self, kind: &str, resource: Option<u64>, id: u64) -> Result<Value, ApiError> {
        let concerns = self.actions.get(&id).is_some_and(|a| {
            a.resources
                .iter()
                .any(|r| r.kind == kind && resource.is_none_or(|rid| r.id == rid))
        });
        if concerns {
            Ok(self.action_reply(id))
        } else {
            Err(ApiError::not_found("action", id))
        }
    }

    /// The IDs of running actions (for the state dump).
    pub fn running_actions(&self) -> Vec<u64> {
        self.running.iter().copied().collect()
    }
}
