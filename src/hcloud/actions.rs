//! Waiting for actions, in batches: every task of a run that waits registers its action
//! IDs on one board, and whoever polls next asks for all pending IDs in one
//! `GET /actions?id=…&id=…` (up to 50 per request). A task whose actions another task's
//! poll already finished returns without a request of its own. The poll interval grows
//! along [`ClientOptions::action_poll`](super::ClientOptions), whose deadline bounds the
//! wait.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use hcloud::models::{Action, action::Status};

use super::client::{Call, Client};
use super::error::{Error, ErrorCode};
use super::ids::ActionId;

/// Largest number of IDs asked for in one request (the API's largest page).
const BATCH: usize = 50;

/// The shared board of pending and finished actions.
#[derive(Debug, Default)]
pub(super) struct ActionBoard {
    state: Mutex<BoardState>,
    poll: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct BoardState {
    /// Registered and not yet seen finished (each with the number of waiters).
    pending: HashMap<ActionId, usize>,
    /// Seen finished, not yet collected by every waiter.
    done: HashMap<ActionId, (Action, usize)>,
}

impl ActionBoard {
    fn state(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, ids: &BTreeSet<ActionId>) {
        let mut state = self.state();
        for id in ids {
            if let Some((_, waiters)) = state.done.get_mut(id) {
                *waiters += 1;
            } else {
                *state.pending.entry(*id).or_default() += 1;
            }
        }
    }

    /// Returns true if and only if every one of `ids` is finished.
    fn all_done(&self, ids: &BTreeSet<ActionId>) -> bool {
        let state = self.state();
        ids.iter().all(|id| state.done.contains_key(id))
    }

    /// Takes this waiter's share: the finished actions (in `ids` order) once all are done.
    fn collect(&self, ids: &BTreeSet<ActionId>) -> Vec<Action> {
        let mut state = self.state();
        let mut actions = Vec::with_capacity(ids.len());
        for id in ids {
            let last = match state.done.get_mut(id) {
                Some((action, waiters)) => {
                    actions.push(action.clone());
                    *waiters = waiters.saturating_sub(1);
                    *waiters == 0
                }
                None => false,
            };
            if last {
                state.done.remove(id);
            }
        }
        actions
    }

    /// Withdraws this waiter (it gives up).
    fn withdraw(&self, ids: &BTreeSet<ActionId>) {
        let mut state = self.state();
        for id in ids {
            let state = &mut *state;
            if let Some(waiters) = state.pending.get_mut(id) {
                *waiters = waiters.saturating_sub(1);
                if *waiters == 0 {
                    state.pending.remove(id);
                }
            }
            if let Some((_, waiters)) = state.done.get_mut(id) {
                *waiters = waiters.saturating_sub(1);
                if *waiters == 0 {
                    state.done.remove(id);
                }
            }
        }
    }

    fn pending(&self) -> Vec<ActionId> {
        let mut ids: Vec<ActionId> = self.state().pending.keys().copied().collect();
        ids.sort();
        ids
    }

    fn finish(&self, action: Action) {
        let id = ActionId::new(action.id);
        let mut state = self.state();
        if let Some(waiters) = state.pending.remove(&id) {
            state.done.insert(id, (action, waiters));
        }
    }
}

impl Client {
    /// The action `id` as it is now.
    ///
    /// # Errors
    /// [`Error::Request`] when it cannot be read.
    pub async fn get_action(&self, id: ActionId) -> Result<Action, Error> {
        #[derive(serde::Deserialize)]
        struct Answer {
            action: Action,
        }
        let answer: Answer = self
            .request(&Call::get(format!("/actions/{id}")))
            .await
            .map_err(super::error::during(format!("reading action {id}")))?;
        Ok(answer.action)
    }

    /// Waits until every action of `ids` has finished and returns them (in ID order);
    /// `operation` names what they do for errors ("creating server tc-prod-cp-1").
    ///
    /// Polls immediately, then along the client's action-poll policy; concurrent waiters
    /// share the polls (see the module docs).
    ///
    /// # Errors
    /// [`Error::ActionFailed`] for the first action that ended in `error`,
    /// [`Error::ActionTimeout`] when the poll policy's deadline passes, [`Error::Request`]
    /// when polling fails.
    pub async fn wait_for_actions(&self, operation: &str, ids: &[ActionId]) -> Result<Vec<Action>, Error> {
        let ids: BTreeSet<ActionId> = ids.iter().copied().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let board = &self.inner.actions;
        board.register(&ids);
        let mut backoff = self.inner.options.action_poll.backoff();
        loop {
            if !board.all_done(&ids) {
                let _turn = board.poll.lock().await;
                if !board.all_done(&ids)
                    && let Err(source) = self.poll_pending().await
                {
                    board.withdraw(&ids);
                    return Err(super::error::during(operation)(source));
                }
            }
            if board.all_done(&ids) {
                return check(operation, board.collect(&ids));
            }
            match backoff.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    board.withdraw(&ids);
                    let running: Vec<String> = ids.iter().map(ToString::to_string).collect();
                    return Err(Error::ActionTimeout {
                        operation: operation.to_string(),
                        ids: running.join(", "),
                        waited: backoff.elapsed(),
                    });
                }
            }
        }
    }

    /// Waits for one action.
    ///
    /// # Errors
    /// As [`Client::wait_for_actions`].
    pub async fn wait_for_action(&self, operation: &str, id: ActionId) -> Result<Action, Error> {
        let mut actions = self.wait_for_actions(operation, &[id]).await?;
        actions.pop().ok_or_else(|| Error::ActionTimeout {
            operation: operation.to_string(),
            ids: id.to_string(),
            waited: std::time::Duration::ZERO,
        })
    }

    /// One round: asks for every pending action, in batches of [`BATCH`].
    async fn poll_pending(&self) -> Result<(), super::error::RequestError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            actions: Vec<Action>,
        }
        let board = &self.inner.actions;
        for chunk in board.pending().chunks(BATCH) {
            let mut call = Call::get("/actions").query("per_page", BATCH);
            for id in chunk {
                call = call.query("id", id);
            }
            let answer: Answer = self.request(&call).await?;
            let mut unknown: BTreeSet<ActionId> = chunk.iter().copied().collect();
            for action in answer.actions {
                unknown.remove(&ActionId::new(action.id));
                if action.status != Status::Running {
                    board.finish(action);
                }
            }
            // The API leaves out IDs it does not know: waiting for them would last until
            // the deadline, so they end at once as failed.
            for id in unknown {
                board.finish(unknown_action(id));
            }
        }
        Ok(())
    }
}

/// Stands in for an action the API does not know: failed with `not_found`.
fn unknown_action(id: ActionId) -> Action {
    Action::new(
        "unknown".to_string(),
        Some(hcloud::models::Error::new(
            "not_found".to_string(),
            "the API does not know this action".to_string(),
        )),
        None,
        id.get(),
        0,
        Vec::new(),
        String::new(),
        Status::Error,
    )
}

/// The actions, or the first that failed as an error.
fn check(operation: &str, actions: Vec<Action>) -> Result<Vec<Action>, Error> {
    if let Some(failed) = actions.iter().find(|a| a.status == Status::Error) {
        let (code, message) = failed.error.as_ref().map_or(("unknown_error", "no error given"), |e| {
            (e.code.as_str(), e.message.as_str())
        });
        return Err(Error::ActionFailed {
            operation: operation.to_string(),
            id: ActionId::new(failed.id),
            command: failed.command.clone(),
            code: ErrorCode::parse(code),
            message: crate::excerpt::excerpt(message).into_owned(),
        });
    }
    Ok(actions)
}
