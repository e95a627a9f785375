//! Servers an interrupted or failed `apply` left half-made: they exist, so the resource
//! diff matches them by name, but they are not attached to the network, not running, or
//! their node never got its machine config (protection that is off shows in the diff, as
//! an update in place). `plan` names each with
//! what is missing, so an operator after a kill or a capacity error sees that `apply` has
//! work left (and what) instead of a plan that says "no changes".

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt as _;
use serde::Serialize;

use crate::cluster::desired::Desired;
use crate::cluster::live::{Live, LiveServer};
use crate::cluster::plan::Plan;
use crate::talos::api::{APID_PORT, CallOptions, DetectedMode, detect_mode};

/// How many nodes are asked for their Talos mode at the same time.
const PARALLEL: usize = 16;

/// How long one node may take to say its mode: a node that does not answer is not
/// counted, so a firewalled cluster costs `plan` a few seconds, not minutes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One server that exists but is not finished, with what it lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HalfMade {
    /// The server's name.
    pub server: String,
    /// Its node's name.
    pub node: String,
    /// What is missing, in words (`not attached to network tc-network`).
    pub missing: Vec<String>,
}

/// The desired servers whose live server is not attached to the cluster network or not
/// running, as the Hetzner API shows them.
pub fn hetzner(desired: &Desired, live: &Live) -> Vec<HalfMade> {
    let mut found = Vec::new();
    for want in &desired.servers {
        let Some(have) = live.servers.iter().find(|s| s.name == want.name) else {
            continue;
        };
        let mut missing = Vec::new();
        if have.private_ip.is_none() {
            missing.push(format!("not attached to network {}", desired.network.name));
        }
        if have.status != "running" {
            missing.push(format!("not running (status {})", have.status));
        }
        if !missing.is_empty() {
            found.push(HalfMade {
                server: want.name.clone(),
                node: want.node.clone(),
                missing,
            });
        }
    }
    found
}

/// Adds to the plan's half-made servers every running desired server whose node answers
/// the Talos API in maintenance mode: it never got its machine config. A node that does
/// not answer (still booting, or this machine outside the admin CIDRs) is not counted:
/// nothing is known. Nothing is asked while the plan cannot compare machine configs (no
/// secrets bundle or no endpoint yet): the configs are "not compared" as a whole then.
pub async fn add_unconfigured(plan: &mut Plan, desired: &Desired, live: &Live) {
    if plan.configs_unknown.is_some() {
        return;
    }
    let half_made = &mut plan.half_made;
    let call = CallOptions {
        timeout: PROBE_TIMEOUT,
        connect_timeout: PROBE_TIMEOUT,
        ..CallOptions::default()
    };
    let running: Vec<(&str, &str, &LiveServer)> = desired
        .servers
        .iter()
        .filter_map(|want| {
            let have = live.servers.iter().find(|s| s.name == want.name)?;
            (have.status == "running").then_some((want.name.as_str(), want.node.as_str(), have))
        })
        .collect();
    let modes: Vec<_> = futures::stream::iter(running)
        .map(|(server, node, have)| async move {
            let address = have.public_ipv4.as_deref().and_then(|ip| ip.parse().ok());
            let mode = match address {
                Some(ip) => detect_mode(SocketAddr::new(ip, APID_PORT), call).await.ok(),
                None => None,
            };
            (server, node, mode)
        })
        .buffered(PARALLEL)
        .collect()
        .await;
    for (server, node, mode) in modes {
        if !matches!(mode, Some(DetectedMode::Maintenance { .. })) {
            continue;
        }
        let missing = "not configured (Talos answers in maintenance mode)".to_string();
        match half_made.iter_mut().find(|h| h.server == server) {
            Some(entry) => entry.missing.push(missing),
            None => half_made.push(HalfMade {
                server: server.to_string(),
                node: node.to_string(),
                missing: vec![missing],
            }),
        }
    }
    half_made.sort_by_key(|h| desired.servers.iter().position(|s| s.name == h.server));
}
