//! Step 3: delete what earlier runs left behind (a killed process, a lost connection):
//! servers and SSH keys labelled `talos-hcloud/temporary=true`, older than a grace period,
//! and never those of this run.
//!
//! Age is measured against the API's clock, not ours: "now" is the creation time the API
//! gave this run's own SSH key, so a skewed local clock (or the emulator's fast clock)
//! cannot make a running build look old. The grace period must exceed the longest build,
//! so a concurrent run from another machine is never swept.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::hcloud::labels::TEMPORARY;
use crate::hcloud::{Client, Selector, ServerId, SshKeyId};
use crate::retry::Policy;

use super::builder::RUN;
use super::error::Error;

/// Default grace period: longer than any build (a build's waits end well within it).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3 * 60 * 60);

/// Returns true if and only if `created` (RFC 3339) is at least `grace` before `now`.
/// An unreadable time counts as not old: never delete what we cannot date.
fn is_older(created: &str, now: OffsetDateTime, grace: Duration) -> bool {
    OffsetDateTime::parse(created, &Rfc3339).is_ok_and(|at| now - at >= grace)
}

/// Deletes temporary servers, then SSH keys, of other runs created at least `grace`
/// before `now`; returns what was deleted (`server NAME (ID)`).
///
/// # Errors
/// [`Error::Hcloud`] when they cannot be listed or deleted.
pub async fn sweep(
    client: &Client,
    now: OffsetDateTime,
    grace: Duration,
    run: &str,
    delete_policy: Policy,
) -> Result<Vec<String>, Error> {
    let selector = Selector::new().eq(TEMPORARY, "true").ne(RUN, run);
    let servers = client
        .list_servers(&selector)
        .await
        .map_err(Error::hcloud("listing leftover builder servers"))?;
    let old: Vec<_> = servers
        .into_iter()
        .filter(|s| is_older(&s.created, now, grace))
        .collect();
    let mut swept = Vec::new();
    let results = futures::future::join_all(
        old.iter()
            .map(|s| super::cleanup::delete_server(client, ServerId::new(s.id), delete_policy)),
    )
    .await;
    for (server, result) in old.iter().zip(results) {
        result.map_err(Error::hcloud(format!("deleting leftover server {}", server.name)))?;
        swept.push(format!("server {} ({})", server.name, server.id));
    }
    let keys = client
        .list_ssh_keys(&selector)
        .await
        .map_err(Error::hcloud("listing leftover builder SSH keys"))?;
    for key in keys.into_iter().filter(|k| is_older(&k.created, now, grace)) {
        client
            .delete_ssh_key(SshKeyId::new(key.id))
            .await
            .map_err(Error::hcloud(format!("deleting leftover SSH key {}", key.name)))?;
        swept.push(format!("SSH key {} ({})", key.name, key.id));
    }
    Ok(swept)
}

/// The API's "now": the creation time of a resource it just made.
///
/// # Errors
/// [`Error::Input`] when the API's time cannot be read (then nothing is swept).
pub fn api_now(created: &str) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::parse(created, &Rfc3339).map_err(|e| Error::Input {
        field: "created".into(),
        reason: format!("the API's timestamp `{created}` is not RFC 3339: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_older_than_the_grace_period_is_swept() {
        let now = api_now("2026-12-07T12:00:00Z").unwrap();
        let hour = Duration::from_secs(3600);
        assert!(is_older("2026-12-07T10:59:59+00:00", now, hour));
        assert!(is_older("2026-12-07T11:00:00Z", now, hour));
        assert!(!is_older("2026-12-07T11:30:00Z", now, hour));
        assert!(!is_older("2026-12-07T13:00:00Z", now, hour), "from the future");
        assert!(!is_older("yesterday", now, hour), "undatable");
    }
}
