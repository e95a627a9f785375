//! Temporary resources are always deleted: after success, after any error, and after
//! SIGINT/SIGTERM (issue 10 step 8). A second signal stops the cleanup at once and
//! reports what is left; the next run's sweep deletes it.
//!
//! Every temporary server and key is recorded in [`Leftovers`] as soon as its create call
//! returns, so an interruption at any point knows what to delete.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hcloud::{Client, Selector, ServerId, SshKeyId};
use crate::interrupt::Interrupt;
use crate::retry::Policy;

/// One temporary resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Temporary {
    Server(ServerId),
    Key(SshKeyId),
}

/// The temporary resources of one run that still exist, with their names.
#[derive(Debug, Clone, Default)]
pub struct Leftovers(Arc<Mutex<Vec<(Temporary, String)>>>);

impl Leftovers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Temporary, String)>> {
        // A poisoned list is still a valid list (entries are pushed and removed whole).
        crate::lock::lock(&self.0)
    }

    /// Records a temporary server.
    pub fn add_server(&self, id: ServerId, name: &str) {
        self.lock()
            .push((Temporary::Server(id), format!("server {name} ({id})")));
    }

    /// Records a temporary SSH key.
    pub fn add_key(&self, id: SshKeyId, name: &str) {
        self.lock().push((Temporary::Key(id), format!("SSH key {name} ({id})")));
    }

    /// What is still recorded, as `server NAME (ID)` / `SSH key NAME (ID)`.
    pub fn describe(&self) -> Vec<String> {
        self.lock().iter().map(|(_, name)| name.clone()).collect()
    }

    fn remove(&self, item: Temporary) {
        self.lock().retain(|(t, _)| *t != item);
    }

    fn servers(&self) -> Vec<(ServerId, String)> {
        self.recorded(|t| match t {
            Temporary::Server(id) => Some(*id),
            Temporary::Key(_) => None,
        })
    }

    fn keys(&self) -> Vec<(SshKeyId, String)> {
        self.recorded(|t| match t {
            Temporary::Key(id) => Some(*id),
            Temporary::Server(_) => None,
        })
    }

    /// The recorded temporaries `pick` selects, with their names.
    fn recorded<T>(&self, pick: impl Fn(&Temporary) -> Option<T>) -> Vec<(T, String)> {
        self.lock()
            .iter()
            .filter_map(|(t, n)| pick(t).map(|id| (id, n.clone())))
            .collect()
    }
}

/// Records every server and SSH key labelled with run `run` that is not recorded yet:
/// what a create interrupted before its answer made.
///
/// # Errors
/// [`crate::hcloud::Error`] when the lists cannot be read.
pub async fn record_run(client: &Client, leftovers: &Leftovers, run: &str) -> Result<(), crate::hcloud::Error> {
    let selector = Selector::new().eq(super::builder::RUN, run);
    let known = leftovers.describe();
    for server in client.list_servers(&selector).await? {
        let id = ServerId::new(server.id);
        if !leftovers.lock().iter().any(|(t, _)| *t == Temporary::Server(id)) {
            leftovers.add_server(id, &server.name);
        }
    }
    for key in client.list_ssh_keys(&selector).await? {
        let id = SshKeyId::new(key.id);
        if !leftovers.lock().iter().any(|(t, _)| *t == Temporary::Key(id)) {
            leftovers.add_key(id, &key.name);
        }
    }
    tracing::debug!(
        before = known.len(),
        after = leftovers.describe().len(),
        "recorded this run's resources"
    );
    Ok(())
}

/// Deletes server `id` and waits for the deletion; retries while the server is locked
/// by a running action (a snapshot), within `policy`.
///
/// # Errors
/// The last failure when the policy gives up.
pub async fn delete_server(client: &Client, id: ServerId, policy: Policy) -> Result<(), crate::hcloud::Error> {
    let mut backoff = policy.backoff();
    loop {
        let result = match client.delete_server(id).await {
            Ok(Some(action)) => client
                .wait_for_action(
                    &format!("deleting server {id}"),
                    crate::hcloud::ActionId::new(action.id),
                )
                .await
                .map(|_| ()),
            Ok(None) => return Ok(()),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(error) => match backoff.next() {
                Some(delay) => {
                    tracing::debug!(%id, error = %error, "deleting a builder failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(error),
            },
        }
    }
}

/// Deletes server `id` and forgets it.
///
/// # Errors
/// As [`delete_server`].
pub(super) async fn delete_recorded_server(
    client: &Client,
    leftovers: &Leftovers,
    id: ServerId,
    policy: Policy,
) -> Result<(), crate::hcloud::Error> {
    delete_server(client, id, policy).await?;
    leftovers.remove(Temporary::Server(id));
    Ok(())
}

/// Deletes SSH key `id` and forgets it.
///
/// # Errors
/// [`crate::hcloud::Error`] when the delete fails after the client's retries.
pub(super) async fn delete_recorded_key(
    client: &Client,
    leftovers: &Leftovers,
    id: SshKeyId,
) -> Result<(), crate::hcloud::Error> {
    client.delete_ssh_key(id).await?;
    leftovers.remove(Temporary::Key(id));
    Ok(())
}

/// Deletes everything recorded (servers first, then keys, servers in parallel) and
/// returns what was deleted. Stops at once when `interrupt` reaches `stop_at` signals.
/// Whatever could not be deleted stays recorded.
pub async fn delete_all(
    client: &Client,
    leftovers: &Leftovers,
    policy: Policy,
    interrupt: &Interrupt,
    stop_at: u32,
) -> Vec<String> {
    let work = async {
        let mut cleaned = Vec::new();
        let servers = leftovers.servers();
        let results = futures::future::join_all(
            servers
                .iter()
                .map(|(id, _)| delete_recorded_server(client, leftovers, *id, policy)),
        )
        .await;
        for ((id, name), result) in servers.into_iter().zip(results) {
            match result {
                Ok(()) => cleaned.push(name),
                Err(error) => tracing::warn!(%id, error = %error, "cannot delete the temporary server"),
            }
        }
        for (id, name) in leftovers.keys() {
            match delete_recorded_key(client, leftovers, id).await {
                Ok(()) => cleaned.push(name),
                Err(error) => tracing::warn!(%id, error = %error, "cannot delete the temporary SSH key"),
            }
        }
        cleaned
    };
    tokio::select! {
        cleaned = work => cleaned,
        () = interrupt.fired(stop_at) => Vec::new(),
    }
}

/// The default patience of cleanup: a snapshot can hold a server's lock for minutes.
pub fn cleanup_policy() -> Policy {
    Policy::action_poll().with_deadline(Duration::from_secs(30 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn interrupts_count_and_wake_waiters() {
        let interrupt = Interrupt::new();
        let waiter = tokio::spawn({
            let interrupt = interrupt.clone();
            async move { interrupt.fired(2).await }
        });
        interrupt.trigger();
        assert_eq!(interrupt.count(), 1);
        assert!(!waiter.is_finished());
        interrupt.trigger();
        waiter.await.unwrap();
        assert_eq!(interrupt.count(), 2);
    }

    #[test]
    fn leftovers_are_described_and_forgotten() {
        let leftovers = Leftovers::default();
        leftovers.add_key(SshKeyId::new(7), "k");
        leftovers.add_server(ServerId::new(9), "b");
        assert_eq!(leftovers.describe(), ["SSH key k (7)", "server b (9)"]);
        leftovers.remove(Temporary::Key(SshKeyId::new(7)));
        assert_eq!(leftovers.servers().len(), 1);
        assert!(leftovers.keys().is_empty());
    }
}
