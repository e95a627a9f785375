//! Step 4: the temporary builder: a fresh in-memory Ed25519 key registered as a temporary
//! SSH key, a server created stopped (falling back through placements on capacity
//! errors), rescue enabled and the server powered on, so its first boot is the rescue
//! system, and the SSH session to it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;

use crate::hcloud::labels::{ROLE, Role, TEMPORARY};
use crate::hcloud::{ActionId, Client, CreateServer, Labels, ServerId, SshKeyId};
use crate::spec::Architecture;
use crate::ssh::{ConnectOptions, HostKeyPin, Session};

use super::cleanup::Leftovers;
use super::error::Error;
use super::progress::BuildProgress;
use super::request::Placement;

/// `talos-hcloud/build-run`: on temporary servers and keys; the run that made them, so a
/// sweep never deletes what a run in progress uses.
pub const RUN: &str = "talos-hcloud/build-run";

/// The image builders are created from; never booted (the first boot is rescue).
const BASE_IMAGE: &str = "ubuntu-24.04";

/// A fresh run ID: 8 random hex digits.
///
/// # Errors
/// [`Error::Key`] when the system's random number generator fails.
pub fn new_run_id() -> Result<String, Error> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| Error::key(crate::ssh::Error::Random(e.to_string())))?;
    Ok(hex::encode(bytes))
}

/// The labels of a run's temporary server and key: `role=builder`, `temporary=true`, the
/// run ID and, when built for a cluster, its name.
///
/// # Errors
/// [`Error::Hcloud`] when the cluster name is not a valid label value.
pub fn temporary_labels(cluster: Option<&str>, run: &str) -> Result<Labels, Error> {
    let labels = match cluster {
        Some(cluster) => Labels::builder(cluster),
        None => Labels::new()
            .with(ROLE, Role::Builder.as_str())
            .and_then(|l| l.with(TEMPORARY, "true")),
    };
    labels
        .and_then(|l| l.with(RUN, run))
        .map_err(Error::hcloud("labelling the temporary resources"))
}

/// Registers `key` as the temporary SSH key `name`; returns its ID and the API's creation
/// time (the sweep's "now").
///
/// # Errors
/// [`Error::Key`], [`Error::Hcloud`].
pub async fn create_key(
    client: &Client,
    leftovers: &Leftovers,
    name: &str,
    key: &PrivateKey,
    labels: &Labels,
) -> Result<(SshKeyId, String), Error> {
    let line = crate::ssh::public_key_line(key).map_err(Error::key)?;
    let created = client
        .create_ssh_key(name, &line, labels)
        .await
        .map_err(Error::hcloud(format!("creating SSH key {name}")))?;
    let id = SshKeyId::new(created.id);
    leftovers.add_key(id, name);
    Ok((id, created.created))
}

/// Creates the stopped builder `name` in the first placement with capacity and waits for
/// it; returns its ID and where it was placed.
///
/// # Errors
/// [`Error::Capacity`] when every placement is out of capacity, [`Error::Hcloud`] otherwise.
#[allow(clippy::too_many_arguments)]
pub async fn create_server(
    client: &Client,
    leftovers: &Leftovers,
    progress: &dyn BuildProgress,
    arch: Architecture,
    name: &str,
    placements: &[Placement],
    key: SshKeyId,
    labels: &Labels,
) -> Result<(ServerId, Placement), Error> {
    let mut last = None;
    for placement in placements {
        let mut spec = CreateServer::new(name, &placement.server_type, BASE_IMAGE, labels.clone());
        spec.location = Some(placement.location.clone());
        spec.ssh_keys = vec![key];
        spec.start_after_create = false;
        match client.create_server(&spec).await {
            Ok(created) => {
                let id = created.id();
                leftovers.add_server(id, name);
                client
                    .wait_for_actions(&format!("creating server {name}"), &created.action_ids())
                    .await
                    .map_err(Error::hcloud(format!("creating server {name}")))?;
                return Ok((id, placement.clone()));
            }
            Err(error) if error.code().is_some_and(|c| c.is_capacity()) => {
                progress.note(
                    Some(arch),
                    &format!("no capacity for {placement}; trying the next placement"),
                );
                last = Some(error);
            }
            Err(error) => return Err(Error::hcloud(format!("creating server {name} ({placement})"))(error)),
        }
    }
    let tried = placements
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match last {
        Some(source) => Err(Error::Capacity {
            arch,
            tried,
            source: Box::new(source),
        }),
        None => Err(Error::NoPlacement { arch, tried }),
    }
}

/// Arms rescue with `key`, powers the server on and returns its public IPv4.
///
/// # Errors
/// [`Error::Hcloud`]; [`Error::Input`] when the server has no public IPv4.
pub async fn boot_rescue(client: &Client, id: ServerId, name: &str, key: SshKeyId) -> Result<IpAddr, Error> {
    let doing = || format!("booting builder {name} into rescue");
    let rescue = client.enable_rescue(id, &[key]).await.map_err(Error::hcloud(doing()))?;
    client
        .wait_for_action(&doing(), ActionId::new(rescue.action.id))
        .await
        .map_err(Error::hcloud(doing()))?;
    let on = client.poweron_server(id).await.map_err(Error::hcloud(doing()))?;
    client
        .wait_for_action(&doing(), ActionId::new(on.id))
        .await
        .map_err(Error::hcloud(doing()))?;
    let server = client
        .get_server(id)
        .await
        .map_err(Error::hcloud(doing()))?
        .ok_or_else(|| Error::Input {
            field: "server".into(),
            reason: format!("builder {name} disappeared while booting"),
        })?;
    server
        .public_net
        .ipv4
        .as_ref()
        .and_then(|v4| v4.ip.parse().ok())
        .ok_or_else(|| Error::Input {
            field: "server".into(),
            reason: format!("builder {name} has no public IPv4 to reach its rescue system"),
        })
}

/// Logs in to the rescue system at `ip` as root, retrying while it boots (up to
/// `deadline`); the host key seen first is pinned for this builder.
///
/// # Errors
/// [`Error::Ssh`].
pub async fn connect(ip: IpAddr, name: &str, key: Arc<PrivateKey>, deadline: Duration) -> Result<Session, Error> {
    let options = ConnectOptions {
        user: "root".into(),
        key,
        deadline,
        pin: HostKeyPin::new(),
    };
    Session::connect(SocketAddr::new(ip, 22), &options)
        .await
        .map_err(Error::ssh(name, "logging in to the rescue system"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_labels_carry_the_run_and_the_cluster_when_known() {
        let labels = temporary_labels(Some("prod"), "0a1b2c3d").unwrap();
        assert_eq!(
            labels.selector().to_string(),
            "talos-hcloud/build-run=0a1b2c3d,talos-hcloud/cluster=prod,talos-hcloud/role=builder,\
             talos-hcloud/temporary=true"
        );
        let labels = temporary_labels(None, "0a1b2c3d").unwrap();
        assert_eq!(labels.get(TEMPORARY), Some("true"));
        assert_eq!(labels.get(crate::hcloud::labels::CLUSTER), None);
        assert_eq!(new_run_id().unwrap().len(), 8);
    }
}
