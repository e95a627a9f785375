//! What a powered-on server runs: the system its disk holds.
//!
//! The machine runner follows the state model's machine events. When a server finishes
//! booting normally ([`SimEvent::ServerPoweredOn`] without rescue), it reads the disk: a
//! complete synthetic Talos image of the server's architecture ([`inspect`]) boots an
//! [`EmulatedNode`] of that version on the server's public IPv4, after
//! [`TALOS_BOOT`] of simulated time, reading the server's user data (plain, base64 or
//! base64+gzip) or waiting in maintenance mode. Anything else — a plain Linux disk, a
//! truncated write, another architecture — boots nothing that answers on port 50000, as a
//! bad snapshot behaves in reality.
//!
//! The runner also keeps the network the nodes see in step with the project: every
//! [`NETWORK_REFRESH`] (real time) and before each boot it hands the servers' private
//! addresses and applied firewalls to the registry ([`super::network`]), so etcd peers and
//! kubelets follow a firewall change within that delay.
//!
//! The node lives as long as the server and its disk: power off (or a crash) powers it
//! off, power on and reboot boot it again with its installed configuration and etcd
//! membership; a rebuild, a different image on the disk or a delete forget it. A rescue
//! boot powers the installed system off and starts the rescue system
//! ([`crate::sim::rescue`]) on the server's public IPv4, port 22, [`RESCUE_BOOT`] later;
//! power off, reset, a normal boot or a delete take it down, and `poweroff`/`reboot`
//! inside it change the server's power state as Hetzner reports it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::disk::Disks;
use crate::sim::factory::{ImageInfo, inspect};
use crate::sim::hcloud::Shared;
use crate::sim::hcloud::state::SimEvent;
use crate::sim::rescue::{PowerRequest, Rescue, RescueConfig};
use crate::sim::talos::{ClusterRegistry, ConfigValidator, EmulatedNode, HcloudMetadata, NodeMode, NodeOptions};

/// Simulated time from a server's `running` to its Talos API answering (kernel, initramfs,
/// machined, apid).
pub const TALOS_BOOT: Duration = Duration::from_secs(40);

/// What the machines of one emulator share.
#[derive(Clone)]
pub struct BootConfig {
    /// The etcd clusters all emulated nodes of this emulator join.
    pub registry: Arc<ClusterRegistry>,
    /// The strict check every node runs on a configuration it receives.
    pub validator: ConfigValidator,
    /// The Cloud API endpoint a node reads from the metadata service.
    pub api_endpoint: String,
}

/// What the runner needs to know about a server to boot it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineFacts {
    /// Its public IPv4 (the node's address), if it has one.
    pub ipv4: Option<IpAddr>,
    /// The user data given at creation or rebuild.
    pub user_data: Option<String>,
    /// The Talos name of its architecture (`amd64`, `arm64`).
    pub arch: &'static str,
    /// How often the model has (re)written its disk.
    pub disk_generation: u64,
    /// Who may log in, when the system booting is the rescue system.
    pub rescue: Option<RescueLogin>,
}

/// The credentials `enable_rescue` armed: what the rescue system's SSH server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescueLogin {
    /// OpenSSH public key lines of the keys given to `enable_rescue`.
    pub keys: Vec<String>,
    /// The root password `enable_rescue` returned.
    pub password: String,
}

/// How often (real time) the runner hands the project's network facts to the nodes.
pub const NETWORK_REFRESH: Duration = Duration::from_millis(25);

/// Simulated time from a rescue boot's `running` to its SSH server accepting connections
/// (PXE, kernel, sshd); until then connections to port 22 are refused.
pub const RESCUE_BOOT: Duration = Duration::from_secs(30);

/// The SSH port of a rescue system.
const SSH_PORT: u16 = 22;

/// A rescue system booting or running on a server: cancelling `stop` takes it down.
struct RescueRun {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The system a machine booted last and what it was booted from.
struct Machine {
    node: EmulatedNode,
    booted_from: (u64, ImageInfo),
}

/// Starts the runner: it follows the machine events of `shared`'s world until `stop`.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    disks: Arc<Disks>,
    config: BootConfig,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let mut events = shared.with_world(|w| w.subscribe());
    tokio::spawn(async move {
        let mut runner = Runner {
            shared,
            disks,
            config,
            machines: BTreeMap::new(),
            rescues: BTreeMap::new(),
            rescue_boots: 0,
        };
        let mut refresh = tokio::time::interval(NETWORK_REFRESH);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = refresh.tick() => {
                    runner.refresh_network();
                    continue;
                }
                () = stop.cancelled() => break,
            };
            match event {
                Ok(event) => runner.handle(event).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the machine runner missed events");
                }
                Err(RecvError::Closed) => break,
            }
        }
        for (_, machine) in std::mem::take(&mut runner.machines) {
            machine.node.stop().await;
        }
        for id in runner.rescues.keys().copied().collect::<Vec<_>>() {
            runner.stop_rescue(id).await;
        }
    })
}

struct Runner {
    shared: Arc<Shared>,
    disks: Arc<Disks>,
    config: BootConfig,
    machines: BTreeMap<u64, Machine>,
    rescues: BTreeMap<u64, RescueRun>,
    /// Counts rescue boots, so every boot gets a new host key (as a real rescue does).
    rescue_boots: u64,
}

impl Runner {
    /// Hands the project's current network facts to the nodes' registry.
    fn refresh_network(&self) {
        let hosts = self.shared.with_world(|w| super::network::hosts(w));
        self.config.registry.set_hosts(hosts);
    }

    async fn handle(&mut self, event: SimEvent) {
        match event {
            SimEvent::ServerPoweredOn { id, rescue: false } => {
                self.stop_rescue(id).await;
                self.boot(id).await;
            }
            SimEvent::ServerPoweredOn { id, rescue: true } => {
                if let Some(machine) = self.machines.get(&id) {
                    machine.node.power_off();
                }
                self.stop_rescue(id).await;
                self.boot_rescue(id);
            }
            SimEvent::ServerPoweredOff { id } => {
                if let Some(machine) = self.machines.get(&id) {
                    machine.node.power_off();
                }
                self.stop_rescue(id).await;
            }
            SimEvent::ServerDeleted { id } => {
                self.stop_rescue(id).await;
                if let Some(machine) = self.machines.remove(&id) {
                    machine.node.discard();
                    machine.node.stop().await;
                }
            }
            _ => {}
        }
    }

    /// Boots the rescue system of server `id`: after [`RESCUE_BOOT`] of simulated time its
    /// SSH server listens on the server's public IPv4, port 22, with `/dev/sda` its disk.
    /// A failure to start is logged and recorded on the server (`rescue_error`).
    fn boot_rescue(&mut self, id: u64) {
        let Some(facts) = self.shared.with_world(|w| w.machine_facts(id)) else {
            return;
        };
        let Some(login) = facts.rescue else {
            return;
        };
        let Some(address) = facts.ipv4 else {
            let message = "the server has no public IPv4 for its rescue system".to_string();
            tracing::warn!(server = id, "{message}");
            self.shared.with_world(|w| w.set_rescue_error(id, Some(message)));
            return;
        };
        self.rescue_boots += 1;
        let config = RescueConfig {
            listen: SocketAddr::new(address, SSH_PORT),
            disk: self.disks.server_disk(id),
            authorized_keys: login.keys,
            root_password: Some(login.password),
            host_key_seed: id.wrapping_mul(1_000_003).wrapping_add(self.rescue_boots),
        };
        let stop = CancellationToken::new();
        let shared = Arc::clone(&self.shared);
        let task = tokio::spawn(run_rescue(id, config, shared, stop.clone()));
        self.rescues.insert(id, RescueRun { stop, task });
    }

    /// Takes server `id`'s rescue system down (booting or running), if it has one.
    async fn stop_rescue(&mut self, id: u64) {
        if let Some(run) = self.rescues.remove(&id) {
            run.stop.cancel();
            if let Err(error) = run.task.await {
                tracing::warn!(server = id, %error, "the rescue system's task failed");
            }
        }
    }

    /// Boots what server `id`'s disk holds.
    async fn boot(&mut self, id: u64) {
        let Some(facts) = self.shared.with_world(|w| w.machine_facts(id)) else {
            return;
        };
        // The node reads its addresses as it boots.
        self.refresh_network();
        let disk = self.disks.server_disk(id);
        let found = tokio::task::spawn_blocking(move || bootable_image(&disk))
            .await
            .unwrap_or(None)
            .filter(|info| info.arch.as_str() == facts.arch);
        let Some(info) = found else {
            // Nothing bootable: whatever ran before is gone.
            if let Some(machine) = self.machines.remove(&id) {
                machine.node.stop().await;
            }
            return;
        };
        let booted_from = (facts.disk_generation, info);
        if let Some(machine) = self.machines.get(&id)
            && machine.booted_from == booted_from
        {
            let result = if machine.node.mode() == NodeMode::PoweredOff {
                machine.node.power_on()
            } else {
                machine.node.reboot()
            };
            if let Err(error) = result {
                tracing::warn!(server = id, %error, "the emulated Talos node cannot boot");
            }
            return;
        }
        if let Some(machine) = self.machines.remove(&id) {
            machine.node.stop().await;
        }
        let Some(address) = facts.ipv4 else {
            tracing::warn!(
                server = id,
                "a server without a public IPv4 boots no reachable Talos node"
            );
            return;
        };
        let mut options = NodeOptions::new(address, |_: &[u8], _: &str| Ok(()));
        options.validator = self.config.validator.clone();
        options.talos_version = booted_from.1.version.clone();
        options.arch = booted_from.1.arch.as_str().to_string();
        options.schematic = Some(booted_from.1.schematic.clone());
        options.user_data = facts.user_data.map(String::into_bytes);
        options.registry = self.config.registry.clone();
        options.boot_delay = TALOS_BOOT;
        options.clock = self.shared.clock.clone();
        options.hcloud = Some(HcloudMetadata {
            server_id: id,
            api_endpoint: self.config.api_endpoint.clone(),
        });
        match EmulatedNode::start(options).await {
            Ok(node) => {
                self.machines.insert(id, Machine { node, booted_from });
            }
            Err(error) => {
                let message = crate::error::chain(&error).join(": ");
                tracing::warn!(server = id, %message, "the emulated Talos node cannot start");
            }
        }
    }
}

/// One rescue boot: waits [`RESCUE_BOOT`] (connections are refused meanwhile), serves SSH
/// until `stop`, and turns `poweroff`/`reboot` inside into the server's power changes.
async fn run_rescue(id: u64, config: RescueConfig, shared: Arc<Shared>, stop: CancellationToken) {
    let clock = Arc::clone(&shared.clock);
    tokio::select! {
        () = clock.sleep(RESCUE_BOOT) => {}
        () = stop.cancelled() => return,
    }
    let listen = config.listen;
    let power_shared = Arc::clone(&shared);
    let on_power = Arc::new(move |request: PowerRequest| {
        power_shared.with_world(|w| match request {
            PowerRequest::PowerOff => w.rescue_power_off(id),
            PowerRequest::Reboot => w.rescue_reboot(id),
        });
    });
    let rescue = tokio::select! {
        started = Rescue::start(config, on_power) => started,
        () = stop.cancelled() => return,
    };
    match rescue {
        Ok(rescue) => {
            shared.with_world(|w| w.set_rescue_error(id, None));
            tracing::info!(server = id, addr = %listen, fingerprint = %rescue.host_key_fingerprint(), "rescue system booted");
            stop.cancelled().await;
            rescue.stop().await;
        }
        Err(error) => {
            let message = crate::error::chain(&error).join(": ");
            tracing::error!(server = id, %message, "the rescue system cannot start");
            shared.with_world(|w| w.set_rescue_error(id, Some(message)));
        }
    }
}

/// The complete synthetic Talos image on `disk`, if any.
fn bootable_image(disk: &Path) -> Option<ImageInfo> {
    let mut file = std::fs::File::open(disk).ok()?;
    inspect(&mut file).ok().flatten()
}
