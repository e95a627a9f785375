//! Waiting for actions, in batches: every task of a run that waits registers its action
//! IDs on one board, and whoever polls next asks for all pending IDs in one
//! `GET /actions?id=…&id=…` (up to 50 per request). A task whose actions another task's
//! poll already finished returns without a request of its own.
//!
//! When to poll is decided once for the whole board, from what the polls saw: an action's
//! `progress` grows linearly with time (on Hetzner as in the emulator), so two readings
//! give its pace and the time it should end. The next poll is due when the first pending
//! action should end, never sooner than the minimum interval after the last poll nor later
//! than the maximum ([`ClientOptions::action_poll`](super::ClientOptions): its initial and
//! largest delay; its deadline bounds each wait). A new action is first read one minimum
//! interval after it was registered; one not moving yet is read at growing intervals.
//! Actions due close together are read by one poll (see `ActionBoard::next_poll`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use hcloud::models::{Action, action::Status};
use tokio::time::Instant;

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
    /// Wakes the waiter sleeping until the next poll when new actions are registered.
    registered: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct BoardState {
    /// Registered and not yet seen finished.
    pending: HashMap<ActionId, Pending>,
    /// Seen finished, not yet collected by every waiter.
    done: HashMap<ActionId, (Action, usize)>,
}

/// A pending action: its waiters and what the polls saw of its progress.
#[derive(Debug, Clone)]
struct Pending {
    waiters: usize,
    registered: Instant,
    /// The last reading that saw no progress (the registration at first): the action
    /// began moving after it.
    idle: Instant,
    /// The first reading with progress, and the latest one.
    first_moving: Option<Reading>,
    last: Option<Reading>,
    /// The resources it acts on (type and ID), once a poll has shown them.
    resources: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    progress: f64,
}

/// The interval bounds of the poll schedule.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    min: Duration,
    max: Duration,
}

impl Bounds {
    fn clamp(self, wait: Duration) -> Duration {
        wait.clamp(self.min, self.max.max(self.min))
    }
}

impl Pending {
    fn new(now: Instant) -> Pending {
        Pending {
            waiters: 0,
            registered: now,
            idle: now,
            first_moving: None,
            last: None,
            resources: Vec::new(),
        }
    }

    fn observe(&mut self, at: Instant, action: &Action) {
        let progress = action.progress;
        if self.resources.is_empty() {
            self.resources = action.resources.iter().map(|r| (r.r#type.clone(), r.id)).collect();
        }
        let reading = Reading {
            at,
            progress: f64::from(progress.clamp(0, 100)),
        };
        if progress <= 0 {
            self.idle = at;
        } else if self.first_moving.is_none() {
            self.first_moving = Some(reading);
        }
        self.last = Some(reading);
    }

    /// Returns true if and only if a poll saw it running without progress.
    fn idle(&self) -> bool {
        self.last.is_some_and(|last| last.progress <= 0.0)
    }

    /// Returns true if and only if a poll saw it progress.
    fn moving(&self) -> bool {
        self.last.is_some_and(|last| last.progress > 0.0)
    }

    /// Returns true if and only if it acts on a resource `other` acts on too.
    fn shares_a_resource(&self, other: &Pending) -> bool {
        self.resources.iter().any(|r| other.resources.contains(r))
    }

    /// When this action wants the next poll.
    ///
    /// The pace is estimated from progress readings, counting half a percent more than was
    /// read (the API rounds down). A pace from one
    /// reading since the registration is trusted (the action began when it was
    /// registered); one from a reading after an idle one (it was queued) is only used to
    /// wait as long as was already observed, to get a second reading.
    fn due(&self, bounds: Bounds) -> Instant {
        let Some(last) = self.last else {
            return self.registered + bounds.min;
        };
        let Some(first) = self.first_moving.filter(|_| last.progress > 0.0) else {
            // Not moving yet: wait as long again as it has been waiting (at least min).
            return last.at + bounds.clamp(last.at.saturating_duration_since(self.registered));
        };
        let remaining = 100.0 - last.progress;
        let wait = if last.at > first.at {
            let pace = (last.progress - first.progress + 0.5) / (last.at - first.at).as_secs_f64();
            seconds(remaining / pace)
        } else {
            let since = last.at.saturating_duration_since(self.idle);
            let pace = (last.progress + 0.5) / since.as_secs_f64().max(1e-3);
            let estimate = seconds(remaining / pace);
            if self.idle == self.registered {
                estimate
            } else {
                estimate.min(since)
            }
        };
        last.at + bounds.clamp(wait)
    }
}

/// A duration of `seconds`, the largest one for what does not fit.
fn seconds(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
}

impl ActionBoard {
    fn state(&self) -> std::sync::MutexGuard<'_, BoardState> {
        crate::lock::lock(&self.state)
    }

    fn register(&self, ids: &BTreeSet<ActionId>) {
        let now = Instant::now();
        {
            let mut state = self.state();
            for id in ids {
                if let Some((_, waiters)) = state.done.get_mut(id) {
                    *waiters += 1;
                } else {
                    state.pending.entry(*id).or_insert_with(|| Pending::new(now)).waiters += 1;
                }
            }
        }
        self.registered.notify_waiters();
    }

    /// Returns true if and only if every one of `ids` is finished.
    fn all_done(&self, ids: &BTreeSet<ActionId>) -> bool {
        let state = self.state();
        ids.iter().all(|id| state.done.contains_key(id))
    }

    /// When the next poll is due: at once when a pending action's wish is past; else the
    /// earliest wish, moved to the latest wish within a window after it (a quarter of the
    /// time until it, at least the minimum interval), so actions ending close together
    /// are read by one poll. That delays an action by at most the window, never past the
    /// slowest action of its group: the one that bounds what waits on the group.
    ///
    /// An action seen without progress while another on the same resource moves is queued
    /// behind it (`apply_firewall` after `create_server`): it has no wish of its own.
    fn next_poll(&self, bounds: Bounds, now: Instant) -> Option<Instant> {
        let state = self.state();
        let queued = |p: &Pending| p.idle() && state.pending.values().any(|o| o.moving() && o.shares_a_resource(p));
        let dues: Vec<Instant> = state
            .pending
            .values()
            .filter(|p| !queued(p))
            .map(|p| p.due(bounds))
            .collect();
        let earliest = *dues.iter().min()?;
        if earliest <= now {
            return Some(now);
        }
        let window = bounds.min.max(earliest.saturating_duration_since(now) / 4);
        dues.into_iter().filter(|due| *due <= earliest + window).max()
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
            if let Some(pending) = state.pending.get_mut(id) {
                pending.waiters = pending.waiters.saturating_sub(1);
                if pending.waiters == 0 {
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

    /// Records what a poll at `at` saw of `action`.
    fn observe(&self, at: Instant, action: Action) {
        let id = ActionId::new(action.id);
        let mut state = self.state();
        if action.status == Status::Running {
            if let Some(pending) = state.pending.get_mut(&id) {
                pending.observe(at, &action);
            }
        } else if let Some(pending) = state.pending.remove(&id) {
            state.done.insert(id, (action, pending.waiters));
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
    /// Concurrent waiters share the polls, scheduled from the actions' progress (see the
    /// module docs).
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
        let policy = self.inner.options.action_poll;
        let bounds = Bounds {
            min: policy.initial_delay,
            max: policy.max_delay,
        };
        let started = Instant::now();
        let deadline = policy.deadline.map(|d| started + d);
        board.register(&ids);
        while !board.all_done(&ids) {
            let _turn = board.poll.lock().await;
            // Whoever holds the turn sleeps until the board's next poll is due (woken to
            // look again when new actions are registered), then polls for everyone.
            loop {
                if board.all_done(&ids) {
                    break;
                }
                // Created before reading the schedule: a registration after it wakes us.
                let registered = board.registered.notified();
                let due = board.next_poll(bounds, Instant::now()).unwrap_or_else(Instant::now);
                if deadline.is_some_and(|end| Instant::now() >= end) {
                    board.withdraw(&ids);
                    let running: Vec<String> = ids.iter().map(ToString::to_string).collect();
                    return Err(Error::ActionTimeout {
                        operation: operation.to_string(),
                        ids: running.join(", "),
                        waited: started.elapsed(),
                    });
                }
                let wake = deadline.map_or(due, |end| due.min(end));
                if Instant::now() < wake {
                    tokio::select! {
                        () = tokio::time::sleep_until(wake) => {}
                        () = registered => {}
                    }
                    continue;
                }
                if let Err(source) = self.poll_pending().await {
                    board.withdraw(&ids);
                    return Err(super::error::during(operation)(source));
                }
                break;
            }
        }
        check(operation, board.collect(&ids))
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
            let at = Instant::now();
            let mut unknown: BTreeSet<ActionId> = chunk.iter().copied().collect();
            for action in answer.actions {
                unknown.remove(&ActionId::new(action.id));
                board.observe(at, action);
            }
            // The API leaves out IDs it does not know: waiting for them would last until
            // the deadline, so they end at once as failed.
            for id in unknown {
                board.observe(at, unknown_action(id));
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

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        min: Duration::from_millis(250),
        max: Duration::from_secs(10),
    };

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// A running action at `progress` acting on `resources`.
    fn running(progress: i32, resources: &[(&str, i64)]) -> Action {
        let mut action = unknown_action(ActionId::new(1));
        action.status = Status::Running;
        action.error = None;
        action.progress = progress;
        action.resources = resources
            .iter()
            .map(|(kind, id)| hcloud::models::Resource::new(*id, (*kind).to_string()))
            .collect();
        action
    }

    fn board(actions: &[(i64, Pending)]) -> ActionBoard {
        let board = ActionBoard::default();
        board.state().pending = actions.iter().map(|(id, p)| (ActionId::new(*id), p.clone())).collect();
        board
    }

    #[test]
    fn a_new_action_is_first_read_one_minimum_interval_after_its_registration() {
        let t0 = Instant::now();
        assert_eq!(Pending::new(t0).due(BOUNDS), t0 + BOUNDS.min);
    }

    #[test]
    fn one_reading_since_the_registration_gives_the_end() {
        let t0 = Instant::now();
        let mut action = Pending::new(t0);
        // 10 % after 1 s (a 10 s action): counted as 10.5 %, so due after 90 / 10.5 s more.
        action.observe(t0 + secs(1.0), &running(10, &[("server", 1)]));
        let due = action.due(BOUNDS) - t0;
        assert!(due > secs(9.1) && due < secs(10.0), "{due:?}");
    }

    #[test]
    fn two_readings_give_the_pace_and_the_bounds_hold() {
        let t0 = Instant::now();
        let mut action = Pending::new(t0);
        action.observe(t0 + secs(0.25), &running(4, &[("server", 1)]));
        action.observe(t0 + secs(5.0), &running(83, &[("server", 1)]));
        // (83 - 4 + 0.5) % in 4.75 s: 17 % left take about 1.02 s.
        let due = action.due(BOUNDS) - t0;
        assert!(due > secs(5.9) && due < secs(6.1), "{due:?}");
        // Close to the end: not sooner than the minimum interval.
        action.observe(t0 + secs(6.0), &running(99, &[("server", 1)]));
        assert_eq!(action.due(BOUNDS), t0 + secs(6.0) + BOUNDS.min);
        // Far from the end: not later than the maximum.
        let mut slow = Pending::new(t0);
        slow.observe(t0 + secs(1.0), &running(1, &[("server", 1)]));
        assert_eq!(slow.due(BOUNDS), t0 + secs(1.0) + BOUNDS.max);
    }

    #[test]
    fn a_queued_action_is_read_again_soon_after_it_starts_moving() {
        let t0 = Instant::now();
        let mut action = Pending::new(t0);
        // Not moving yet: waits as long again as it has waited.
        action.observe(t0 + secs(4.0), &running(0, &[("server", 1)]));
        assert_eq!(action.due(BOUNDS), t0 + secs(8.0));
        // It began somewhere in the last second: its pace is unknown, so the next reading
        // comes after at most that second, not after the 9 s a start at t0 + 4 s implies.
        action.observe(t0 + secs(5.0), &running(10, &[("server", 1)]));
        assert_eq!(action.due(BOUNDS), t0 + secs(6.0));
    }

    #[test]
    fn an_action_queued_behind_a_moving_one_has_no_wish_of_its_own() {
        let t0 = Instant::now();
        let mut create = Pending::new(t0);
        create.observe(t0 + secs(0.25), &running(4, &[("server", 1)]));
        let mut firewall = Pending::new(t0);
        firewall.observe(t0 + secs(0.25), &running(0, &[("server", 1), ("firewall", 2)]));
        let now = t0 + secs(0.25);
        let both = board(&[(1, create.clone()), (2, firewall.clone())]);
        assert_eq!(both.next_poll(BOUNDS, now), Some(create.due(BOUNDS)));
        // Alone it has: after 0.25 s more.
        let alone = board(&[(2, firewall)]);
        assert_eq!(alone.next_poll(BOUNDS, now), Some(t0 + secs(0.5)));
    }

    #[test]
    fn actions_ending_close_together_are_read_by_one_poll() {
        let t0 = Instant::now();
        let at = |progress| {
            let mut action = Pending::new(t0);
            action.observe(t0 + secs(1.0), &running(progress, &[("server", i64::from(progress))]));
            action
        };
        // Due about 4.7 s and 5.3 s after the reading: within a quarter of the first wait.
        let (a, b) = (at(17), at(15));
        let (due_a, due_b) = (a.due(BOUNDS), b.due(BOUNDS));
        assert!(due_a < due_b);
        let now = t0 + secs(1.0);
        assert_eq!(board(&[(1, a.clone()), (2, b)]).next_poll(BOUNDS, now), Some(due_b));
        // Due about 8.5 s after the reading: read apart.
        let c = at(10);
        assert_eq!(board(&[(1, a), (3, c)]).next_poll(BOUNDS, now), Some(due_a));
        // Past due: at once.
        assert_eq!(
            board(&[(2, at(15))]).next_poll(BOUNDS, due_b + secs(1.0)),
            Some(due_b + secs(1.0))
        );
    }
}
