//! The emulated node: its lifecycle (boot, maintenance, configured, reset, reboot, power)
//! and apid's listener on `ADDR:50000`.
//!
//! apid's port stays bound for the node's lifetime; what a new connection gets depends on
//! the state at accept time (maintenance TLS, configured mTLS, or an immediate close while
//! the node boots, is powered off, failed to read its config, or — a worker — waits for
//! its certificate). Every restart of apid (after install, reboot, reset) closes existing
//! connections gracefully, so an answer in flight still reaches the caller.
//!
//! A node can be made to hang ([`EmulatedNode::set_hung`]): apid still accepts TCP but
//! never answers (new connections get no TLS handshake, requests on open connections get
//! no response) and its etcd member stalls; a reboot, reset or power cycle ends the hang.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::apid;
use super::cluster::{ClusterRegistry, TalosCluster};
use super::config::{AcceptedConfig, ConfigRejected, ConfigValidator, MachineType, accept_config, decode_user_data};
use super::kube_api::{self, KubeApi};
use super::tls::{self, ConfiguredTls, PeerIdentity, TlsSetupError};
use super::vip::{self, HcloudMetadata};
use crate::sim::clock::{SimClock, SimMillis};
use crate::talos::version::{TalosVersion, VersionError};

/// How to start an emulated node.
#[derive(Clone)]
pub struct NodeOptions {
    /// The node's address; apid binds `address:api_port`.
    pub address: IpAddr,
    /// apid's port (50000).
    pub api_port: u16,
    /// The Kubernetes API port (6443).
    pub kubernetes_port: u16,
    /// The Talos release the node runs (`v1.11.6`).
    pub talos_version: String,
    /// The architecture Version reports.
    pub arch: String,
    /// The Image Factory schematic of the image the node booted, if known.
    pub schematic: Option<String>,
    /// A configuration already installed (on the node's STATE partition).
    pub installed_config: Option<Vec<u8>>,
    /// Hetzner user data, read at boot when nothing is installed (plain YAML, base64, or
    /// base64 of gzip).
    pub user_data: Option<Vec<u8>>,
    /// The clusters this node's etcd joins.
    pub registry: Arc<ClusterRegistry>,
    /// How long apid stays down after each boot (simulated time on [`NodeOptions::clock`]).
    pub boot_delay: Duration,
    /// The clock boots and timers (the TRY rollback) run on: the emulator's one simulated
    /// clock for a node inside `talos-hcloud sim`, real time for a node on its own.
    pub clock: Arc<SimClock>,
    /// What the Hetzner metadata service says about the machine (server ID, API endpoint):
    /// with it, a control plane whose configuration has an hcloud VIP runs Talos's VIP
    /// controller ([`super::vip`]). `None` for a node outside the emulated cloud.
    pub hcloud: Option<HcloudMetadata>,
    /// The strict check every received configuration passes first (Talos's decoder and
    /// validator); see [`NodeOptions::new`].
    pub validator: ConfigValidator,
}

impl NodeOptions {
    /// Defaults: ports 50000/6443, Talos v1.11.6, amd64, no config, a private registry,
    /// no boot delay, a real-time clock.
    ///
    /// `validator` is the strict check a real node runs on every configuration it
    /// receives (installed, user data, ApplyConfiguration) before anything else; its refusal
    /// text becomes the `InvalidArgument` message. The emulator has none of its own (it
    /// shares wire types with talos-hcloud, never logic), so it is a required argument:
    /// `sim node` and the tests pass
    /// `talos_hcloud::talos::config::validate::node_validator()`. A caller that wants no
    /// strict check has to say so with a closure that accepts everything; the node then
    /// only refuses what it cannot act on ([`accept_config`]).
    pub fn new(
        address: IpAddr,
        validator: impl Fn(&[u8], &str) -> Result<(), String> + Send + Sync + 'static,
    ) -> NodeOptions {
        NodeOptions {
            address,
            api_port: crate::sim::talos::APID_PORT,
            kubernetes_port: crate::sim::talos::KUBERNETES_PORT,
            talos_version: DEFAULT_TALOS_VERSION.to_string(),
            arch: "amd64".into(),
            schematic: None,
            installed_config: None,
            user_data: None,
            registry: ClusterRegistry::new(),
            boot_delay: Duration::ZERO,
            clock: Arc::new(SimClock::real_time()),
            hcloud: None,
            validator: Arc::new(validator),
        }
    }
}

impl std::fmt::Debug for NodeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeOptions")
            .field("address", &self.address)
            .field("api_port", &self.api_port)
            .field("kubernetes_port", &self.kubernetes_port)
            .field("talos_version", &self.talos_version)
            .field("installed_config", &self.installed_config.as_ref().map(Vec::len))
            .field("user_data", &self.user_data.as_ref().map(Vec::len))
            .field("boot_delay", &self.boot_delay)
            .finish_non_exhaustive()
    }
}

/// The Talos release an emulated node runs unless told otherwise.
pub const DEFAULT_TALOS_VERSION: &str = "v1.11.6";

/// What state a node is in, as an operator would describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeMode {
    /// apid is restarting (within the boot delay).
    Booting,
    /// No configuration: apid serves the maintenance API.
    Maintenance,
    /// Configured as this machine type.
    Configured(MachineType),
    /// The user data could not be used as a configuration; apid is down.
    ConfigFailed(String),
    /// Powered off (a reset without reboot, or [`EmulatedNode::power_off`]).
    PoweredOff,
}

impl NodeMode {
    /// A short stable name (`maintenance`, `configured`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeMode::Booting => "booting",
            NodeMode::Maintenance => "maintenance",
            NodeMode::Configured(_) => "configured",
            NodeMode::ConfigFailed(_) => "config-failed",
            NodeMode::PoweredOff => "powered-off",
        }
    }
}

impl std::fmt::Display for NodeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeMode::Configured(machine_type) => write!(f, "configured ({})", machine_type.as_str()),
            NodeMode::ConfigFailed(reason) => write!(f, "config failed: {reason}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// What a node is and does now, for the emulator's state dump and controls.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeReport {
    /// The node's address.
    pub address: IpAddr,
    /// The Talos release it runs.
    pub talos_version: String,
    /// Its architecture (`amd64`, `arm64`).
    pub arch: String,
    /// The Image Factory schematic of the image it booted, if known.
    pub schematic: Option<String>,
    /// Its mode ([`NodeMode::as_str`]).
    pub mode: &'static str,
    /// The machine type of its configuration, if configured.
    pub machine_type: Option<&'static str>,
    /// Its hostname, if configured.
    pub hostname: Option<String>,
    /// `machine.install.image` of the installed configuration: what an upgrade without an
    /// explicit image installs.
    pub install_image: Option<String>,
    /// `machine.install.image` of a configuration staged for the next boot, if any.
    pub staged_install_image: Option<String>,
    /// Its Talos hangs ([`EmulatedNode::set_hung`]).
    pub hung: bool,
    /// The network cuts it off from the other nodes ([`ClusterRegistry::set_partitioned`]).
    pub partitioned: bool,
}

/// Where a received configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// `ApplyConfiguration` (maintenance or configured mode).
    ApplyConfiguration,
    /// Hetzner user data at boot.
    UserData,
    /// Installed before start ([`NodeOptions::installed_config`]).
    Installed,
}

/// A machine configuration the node received, kept for tests (e.g. to validate every
/// received config against the official JSON schema).
#[derive(Clone)]
pub struct ReceivedConfig {
    /// The configuration bytes (after user-data decoding).
    pub bytes: Vec<u8>,
    /// Where it came from.
    pub source: ConfigSource,
    /// Whether the node accepted it, or why not.
    pub outcome: Result<(), String>,
}

impl std::fmt::Debug for ReceivedConfig {
    /// Leaves out the bytes: they hold CA keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedConfig")
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .field("source", &self.source)
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The Talos version is malformed.
    #[error("invalid Talos version for the emulated node")]
    Version(#[source] VersionError),
    /// apid's port could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The installed configuration was refused.
    #[error("the installed machine configuration was refused")]
    Config(#[source] ConfigRejected),
    /// TLS could not be set up.
    #[error("cannot set up the node's TLS")]
    Tls(#[source] TlsSetupError),
}

impl crate::error::Classify for NodeError {
    fn class(&self) -> crate::error::Class {
        match self {
            NodeError::Version(_) | NodeError::Config(_) => crate::error::Class::InvalidInput,
            NodeError::Bind { .. } | NodeError::Tls(_) => crate::error::Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            NodeError::Bind { .. } => vec![
                "is another node already on this address? On Linux any 127.x.y.z works without setup; \
                 on macOS add one first (sudo ifconfig lo0 alias 127.0.0.2)"
                    .into(),
            ],
            _ => Vec::new(),
        }
    }
}

/// A running emulated Talos node. Dropping it stops it (prefer [`EmulatedNode::stop`],
/// which waits for the listener to close).
pub struct EmulatedNode {
    shared: Arc<NodeShared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmulatedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedNode")
            .field("address", &self.shared.address)
            .field("mode", &self.mode())
            .finish()
    }
}

impl EmulatedNode {
    /// Binds apid's port and boots the node: installed config, else user data, else
    /// maintenance mode.
    ///
    /// # Errors
    ///
    /// [`NodeError`]: bad version, port in use, refused installed config, TLS setup.
    pub async fn start(options: NodeOptions) -> Result<EmulatedNode, NodeError> {
        let version: TalosVersion = options.talos_version.parse().map_err(NodeError::Version)?;
        let installed = match &options.installed_config {
            Some(bytes) => Some(check_config(&options.validator, &version, bytes).map_err(NodeError::Config)?),
            None => None,
        };
        let api_addr = SocketAddr::new(options.address, options.api_port);
        let listener = TcpListener::bind(api_addr)
            .await
            .map_err(|source| NodeError::Bind { addr: api_addr, source })?;
        let (restarts, _) = watch::channel(0u64);
        let (modes, _) = watch::channel(NodeMode::Booting);
        let (hung, _) = watch::channel(false);
        let shared = Arc::new(NodeShared {
            address: options.address,
            api_addr,
            kube_addr: SocketAddr::new(options.address, options.kubernetes_port),
            version,
            arch: options.arch.clone(),
            schematic: options.schematic.clone(),
            boot_delay: options.boot_delay,
            clock: options.clock.clone(),
            registry: options.registry.clone(),
            validator: options.validator.clone(),
            state: Mutex::new(NodeState {
                powered: false,
                ready_at: 0,
                installed: None,
                staged: None,
                user_data: options.user_data.clone(),
                phase: Phase::Off,
                kube: None,
                try_generation: 0,
            }),
            restarts,
            modes,
            hung,
            received: Mutex::new(Vec::new()),
        });
        options.registry.add_node(options.address, Arc::downgrade(&shared));
        if let (Some(bytes), Some(config)) = (&options.installed_config, installed) {
            shared.record(bytes.clone(), ConfigSource::Installed, Ok(()));
            shared.lock().installed = Some(Arc::new(config));
        }
        {
            let mut state = shared.lock();
            shared.boot(&mut state).map_err(NodeError::Tls)?;
        }
        let (stop, stopped) = watch::channel(false);
        if let Some(metadata) = options.hcloud.clone() {
            tokio::spawn(vip::run(Arc::downgrade(&shared), metadata, stop.subscribe()));
        }
        let task = tokio::spawn(accept_loop(shared.clone(), listener, stopped));
        Ok(EmulatedNode {
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The node's address.
    pub fn address(&self) -> IpAddr {
        self.shared.address
    }

    /// apid's address (`ADDR:50000`).
    pub fn api_addr(&self) -> SocketAddr {
        self.shared.api_addr
    }

    /// The Kubernetes API address (`ADDR:6443`).
    pub fn kubernetes_addr(&self) -> SocketAddr {
        self.shared.kube_addr
    }

    /// The Talos release the node runs.
    pub fn talos_version(&self) -> &TalosVersion {
        &self.shared.version
    }

    /// The node's mode now.
    pub fn mode(&self) -> NodeMode {
        self.shared.mode()
    }

    /// Mode changes (boot delays not included), for status displays and tests.
    pub fn subscribe(&self) -> watch::Receiver<NodeMode> {
        self.shared.modes.subscribe()
    }

    /// Replaces the user data read at the next boot without an installed configuration.
    pub fn set_user_data(&self, user_data: Option<Vec<u8>>) {
        self.shared.lock().user_data = user_data;
    }

    /// Reboots: apid restarts (staged configuration becomes active).
    ///
    /// # Errors
    ///
    /// TLS setup for the new boot failed.
    pub fn reboot(&self) -> Result<(), TlsSetupError> {
        let mut state = self.shared.lock();
        self.shared.shutdown(&mut state);
        self.shared.boot(&mut state)
    }

    /// Powers the node off: apid and the Kubernetes API stop answering; its etcd member
    /// becomes unhealthy.
    pub fn power_off(&self) {
        let mut state = self.shared.lock();
        self.shared.shutdown(&mut state);
        self.shared.publish_mode(&state);
    }

    /// The machine is gone (its server deleted): its configuration and etcd data go with
    /// it, so a new machine at the same address starts empty, as a new disk would.
    pub fn discard(&self) {
        let mut state = self.shared.lock();
        // Powered off, the cluster is known only from the installed configuration.
        let cluster = match &state.phase {
            Phase::Configured(configured) => Some(configured.cluster.clone()),
            _ => state
                .installed
                .as_ref()
                .and_then(|config| self.shared.registry.cluster(&config.cluster_id)),
        };
        self.shared.shutdown(&mut state);
        if let Some(cluster) = cluster {
            cluster.wipe_data(self.shared.address);
            cluster.unregister(self.shared.address);
        }
        state.installed = None;
        state.staged = None;
    }

    /// Powers the node on (boots) if it is off.
    ///
    /// # Errors
    ///
    /// TLS setup for the new boot failed.
    pub fn power_on(&self) -> Result<(), TlsSetupError> {
        let mut state = self.shared.lock();
        if state.powered {
            return Ok(());
        }
        self.shared.boot(&mut state)
    }

    /// Makes the node's Talos hang (`true`) or recover (`false`): while hung, apid accepts
    /// TCP but never answers and its etcd member stalls. A reboot, reset or power cycle
    /// also ends a hang.
    pub fn set_hung(&self, hung: bool) {
        self.shared.set_hung(hung);
    }

    /// What the node is and does now.
    pub fn report(&self) -> NodeReport {
        self.shared.report()
    }

    /// `machine.install.image` of the installed configuration, if any: what an upgrade
    /// without an explicit image installs.
    pub fn install_image(&self) -> Option<String> {
        self.shared
            .lock()
            .installed
            .as_ref()
            .and_then(|c| c.install_image.clone())
    }

    /// Every machine configuration received so far, oldest first.
    pub fn received_configs(&self) -> Vec<ReceivedConfig> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The cluster this node is configured into, if any.
    pub fn cluster(&self) -> Option<Arc<TalosCluster>> {
        match &self.shared.lock().phase {
            Phase::Configured(configured) => Some(configured.cluster.clone()),
            _ => None,
        }
    }

    /// Stops the node and waits until its listener is closed.
    pub async fn stop(mut self) {
        self.halt();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn halt(&self) {
        {
            let mut state = self.shared.lock();
            self.shared.shutdown(&mut state);
            self.shared.publish_mode(&state);
        }
        let _ = self.stop.send(true);
    }
}

impl Drop for EmulatedNode {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.halt();
        }
    }
}

/// State shared by the node's tasks and handlers.
pub(crate) struct NodeShared {
    pub(crate) address: IpAddr,
    pub(crate) api_addr: SocketAddr,
    pub(crate) kube_addr: SocketAddr,
    pub(crate) version: TalosVersion,
    pub(crate) arch: String,
    schematic: Option<String>,
    boot_delay: Duration,
    pub(crate) clock: Arc<SimClock>,
    registry: Arc<ClusterRegistry>,
    validator: ConfigValidator,
    state: Mutex<NodeState>,
    restarts: watch::Sender<u64>,
    modes: watch::Sender<NodeMode>,
    /// Whether the node's Talos hangs.
    hung: watch::Sender<bool>,
    received: Mutex<Vec<ReceivedConfig>>,
}

pub(crate) struct NodeState {
    powered: bool,
    /// Simulated time at which apid answers after the last boot.
    ready_at: SimMillis,
    pub(crate) installed: Option<Arc<AcceptedConfig>>,
    pub(crate) staged: Option<Arc<AcceptedConfig>>,
    user_data: Option<Vec<u8>>,
    pub(crate) phase: Phase,
    kube: Option<KubeApi>,
    pub(crate) try_generation: u64,
}

pub(crate) enum Phase {
    Off,
    Maintenance { tls: Arc<ServerConfig> },
    Configured(Box<Configured>),
    ConfigFailed(String),
}

pub(crate) struct Configured {
    pub(crate) config: Arc<AcceptedConfig>,
    pub(crate) hostname: String,
    pub(crate) cluster: Arc<TalosCluster>,
    /// `None`: a worker still waiting for its certificate (no OS CA key yet).
    pub(crate) tls: Option<ConfiguredTls>,
    /// The node IP its kubelet registered with (`None`: it found none).
    pub(crate) kubelet_ip: Option<IpAddr>,
}

/// Which TLS a connection was accepted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnKind {
    Maintenance,
    Configured,
}

/// Per-connection facts handed to apid's handlers.
#[derive(Debug)]
pub(crate) struct ConnContext {
    pub(crate) kind: ConnKind,
    pub(crate) peer: PeerIdentity,
}

impl NodeShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, NodeState> {
        crate::lock::lock(&self.state)
    }

    pub(crate) fn mode(&self) -> NodeMode {
        let state = self.lock();
        if state.powered && self.clock.now() < state.ready_at {
            return NodeMode::Booting;
        }
        mode_of(&state)
    }

    /// Starts or ends a hang: apid stops answering (or resumes) and the etcd member of a
    /// configured control plane stalls (or recovers).
    pub(crate) fn set_hung(&self, hung: bool) {
        let state = self.lock();
        self.hung.send_replace(hung);
        if let Phase::Configured(configured) = &state.phase {
            configured.cluster.set_stalled(self.address, hung);
        }
    }

    /// Waits until the node does not hang.
    async fn until_responsive(&self) {
        let mut hung = self.hung.subscribe();
        // The sender lives as long as `self`: the wait ends only when the hang does.
        let _ = hung.wait_for(|hung| !*hung).await;
    }

    pub(crate) fn report(&self) -> NodeReport {
        let mode = self.mode();
        let state = self.lock();
        let (machine_type, hostname) = match &state.phase {
            Phase::Configured(configured) => (
                Some(configured.config.machine_type.as_str()),
                Some(configured.hostname.clone()),
            ),
            _ => (None, None),
        };
        NodeReport {
            address: self.address,
            talos_version: self.version.to_string(),
            arch: self.arch.clone(),
            schematic: self.schematic.clone(),
            mode: mode.as_str(),
            machine_type,
            hostname,
            install_image: state.installed.as_ref().and_then(|c| c.install_image.clone()),
            staged_install_image: state.staged.as_ref().and_then(|c| c.install_image.clone()),
            hung: *self.hung.borrow(),
            partitioned: self.registry.is_partitioned(self.address),
        }
    }

    fn publish_mode(&self, state: &NodeState) {
        let mode = mode_of(state);
        self.modes.send_if_modified(|current| {
            let changed = *current != mode;
            *current = mode;
            changed
        });
    }

    /// Checks a received configuration ([`check_config`]).
    pub(crate) fn accept(&self, bytes: &[u8]) -> Result<AcceptedConfig, ConfigRejected> {
        check_config(&self.validator, &self.version, bytes)
    }

    pub(crate) fn record(&self, bytes: Vec<u8>, source: ConfigSource, outcome: Result<(), &ConfigRejected>) {
        self.received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(ReceivedConfig {
                bytes,
                source,
                outcome: outcome.map_err(ToString::to_string),
            });
    }

    /// The node's hostname: the configured one, else a stable name derived from its
    /// address (Talos's `auto: stable` derives one from the machine ID).
    pub(crate) fn hostname_for(&self, config: Option<&AcceptedConfig>) -> String {
        if let Some(hostname) = config.and_then(|c| c.hostname.clone()) {
            return hostname;
        }
        let digest = Sha256::digest(self.address.to_string().as_bytes());
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let chars: String = digest
            .iter()
            .take(6)
            .map(|b| ALPHABET[usize::from(*b) % 36] as char)
            .collect();
        format!("talos-{}-{}", &chars[..3], &chars[3..])
    }

    /// Boots: staged config becomes installed; installed config, else user data, else
    /// maintenance. apid restarts (connections close gracefully).
    pub(crate) fn boot(&self, state: &mut NodeState) -> Result<(), TlsSetupError> {
        // A boot ends a hang (the node's etcd was reset with it by `shutdown`).
        self.hung.send_replace(false);
        state.powered = true;
        state.ready_at = self.clock.deadline(self.boot_delay);
        state.try_generation += 1;
        if let Some(staged) = state.staged.take() {
            state.installed = Some(staged);
        }
        if state.installed.is_none()
            && let Some(body) = state.user_data.clone()
        {
            let bytes = decode_user_data(&body);
            let outcome = self.accept(&bytes);
            self.record(bytes, ConfigSource::UserData, outcome.as_ref().map(|_| ()));
            match outcome {
                Ok(config) => state.installed = Some(Arc::new(config)),
                Err(rejected) => {
                    state.phase = Phase::ConfigFailed(rejected.to_string());
                    self.restart_apid();
                    self.publish_mode(state);
                    return Ok(());
                }
            }
        }
        let result = match state.installed.clone() {
            Some(config) => self.enter_configured(state, config),
            None => {
                let hostname = self.hostname_for(None);
                tls::maintenance(self.address, &hostname).map(|tls| {
                    state.phase = Phase::Maintenance { tls };
                })
            }
        };
        self.restart_apid();
        self.publish_mode(state);
        result
    }

    /// Takes the node down: control-plane membership goes unhealthy, the Kubernetes API
    /// stops, apid connections close.
    pub(crate) fn shutdown(&self, state: &mut NodeState) {
        if let Phase::Configured(configured) = &state.phase {
            configured.cluster.set_running(self.address, false);
            configured.cluster.kubernetes().kubelet_down(self.address);
        }
        state.kube = None;
        state.phase = Phase::Off;
        state.powered = false;
        // A pending TRY rollback belongs to the boot that ends here.
        state.try_generation += 1;
        self.hung.send_replace(false);
        self.restart_apid();
    }

    /// Switches to configured mode with `config` (live; no apid restart by itself).
    pub(crate) fn enter_configured(
        &self,
        state: &mut NodeState,
        config: Arc<AcceptedConfig>,
    ) -> Result<(), TlsSetupError> {
        let hostname = self.hostname_for(Some(&config));
        let cluster = self.registry.ensure(&config.cluster_id);
        if let Phase::Configured(previous) = &state.phase
            && previous.config.machine_type.is_control_plane()
            && (!config.machine_type.is_control_plane() || previous.cluster.id() != cluster.id())
        {
            previous.cluster.unregister(self.address);
            state.kube = None;
        }
        let os_key = config
            .os_ca
            .key_pem
            .clone()
            .or_else(|| cluster.os_ca_key_for(&config.os_ca.crt_pem));
        let tls = match &os_key {
            Some(key) => Some(tls::configured(&config, key, self.address, &hostname, &self.version)?),
            None => None,
        };
        let kubernetes_version = self.kubernetes_version(&config);
        if config.machine_type.is_control_plane() {
            if let Some(key) = &config.os_ca.key_pem {
                cluster.publish_os_ca(&config.os_ca.crt_pem, key);
            }
            cluster.register_control_plane(self.address, &hostname, &config.etcd_advertised_subnets);
            if state.kube.is_none() {
                let kube_tls = tls::kube_apiserver(&config, self.address, &hostname)?;
                match kube_api::start(
                    self.kube_addr,
                    kube_tls,
                    cluster.clone(),
                    self.address,
                    kubernetes_version,
                ) {
                    Ok(kube) => state.kube = Some(kube),
                    Err(error) => {
                        tracing::warn!(addr = %self.kube_addr, %error, "the emulated Kubernetes API cannot listen");
                    }
                }
            }
        }
        let kubelet_ip = self.register_kubelet(&cluster, &config, &hostname);
        state.phase = Phase::Configured(Box::new(Configured {
            config,
            hostname,
            cluster,
            tls,
            kubelet_ip,
        }));
        Ok(())
    }

    /// Registers the kubelet's Node with the node IP the network gives it
    /// (`machine.kubelet.nodeIP.validSubnets`); without a matching address the kubelet
    /// has no node IP and registers nothing. Returns the node IP.
    fn register_kubelet(&self, cluster: &TalosCluster, config: &AcceptedConfig, hostname: &str) -> Option<IpAddr> {
        let node_ip = self
            .registry
            .network()
            .kubelet_address(self.address, &config.kubelet_valid_subnets);
        let Some(ip) = node_ip else {
            tracing::warn!(node = %self.address, subnets = ?config.kubelet_valid_subnets,
                "the kubelet finds no node IP in machine.kubelet.nodeIP.validSubnets");
            return None;
        };
        let kubernetes_version = self.kubernetes_version(config);
        cluster.kubernetes().kubelet_up(
            hostname,
            self.address,
            ip,
            config.machine_type.is_control_plane(),
            &kubernetes_version,
        );
        Some(ip)
    }

    /// The Kubernetes version the node runs: the API server image's tag, else the Talos
    /// release's default.
    fn kubernetes_version(&self, config: &AcceptedConfig) -> String {
        config
            .kubernetes_version
            .clone()
            .unwrap_or_else(|| self.version.default_kubernetes())
    }

    /// The network changed: a configured node's kubelet re-registers when its node IP
    /// changes (or first exists).
    pub(crate) fn refresh_kubelet(&self) {
        let mut state = self.lock();
        let Phase::Configured(configured) = &mut state.phase else {
            return;
        };
        let node_ip = self
            .registry
            .network()
            .kubelet_address(self.address, &configured.config.kubelet_valid_subnets);
        if node_ip != configured.kubelet_ip {
            configured.kubelet_ip =
                self.register_kubelet(&configured.cluster, &configured.config, &configured.hostname);
        }
    }

    /// Wipes what a reset wipes: STATE (the configuration) and/or EPHEMERAL (etcd data).
    pub(crate) fn wipe(&self, state: &mut NodeState, wipe_state: bool, wipe_ephemeral: bool) {
        if let Phase::Configured(configured) = &state.phase {
            if wipe_ephemeral {
                configured.cluster.wipe_data(self.address);
            }
            if wipe_state {
                configured.cluster.unregister(self.address);
            }
        }
        if wipe_state {
            state.installed = None;
            state.staged = None;
        }
    }

    /// Closes apid's connections gracefully (in-flight answers complete).
    pub(crate) fn restart_apid(&self) {
        self.restarts.send_modify(|generation| *generation += 1);
    }

    /// Returns true if and only if apid is up in the mode a connection was accepted in.
    pub(crate) fn serves(&self, kind: ConnKind) -> bool {
        let state = self.lock();
        if !state.powered || self.clock.now() < state.ready_at {
            return false;
        }
        matches!(
            (&state.phase, kind),
            (Phase::Maintenance { .. }, ConnKind::Maintenance) | (Phase::Configured(_), ConnKind::Configured)
        )
    }

    /// The TLS for a new apid connection, or `None` to close it at once.
    fn connection_tls(&self) -> Option<(Arc<ServerConfig>, ConnKind)> {
        let mut state = self.lock();
        if !state.powered || self.clock.now() < state.ready_at {
            return None;
        }
        match &mut state.phase {
            Phase::Maintenance { tls } => Some((tls.clone(), ConnKind::Maintenance)),
            Phase::Configured(configured) => {
                if configured.tls.is_none() {
                    // A worker asks "trustd" again for its certificate.
                    let key = configured.cluster.os_ca_key_for(&configured.config.os_ca.crt_pem)?;
                    match tls::configured(
                        &configured.config,
                        &key,
                        self.address,
                        &configured.hostname,
                        &self.version,
                    ) {
                        Ok(tls) => configured.tls = Some(tls),
                        Err(error) => {
                            tracing::warn!(node = %self.address, %error, "cannot issue the worker's apid certificate");
                            return None;
                        }
                    }
                }
                configured
                    .tls
                    .as_ref()
                    .map(|tls| (tls.server.clone(), ConnKind::Configured))
            }
            Phase::Off | Phase::ConfigFailed(_) => None,
        }
    }
}

/// What a node does with a configuration it receives: the strict validator first (Talos
/// decodes and validates before anything else, reference `talos.md` §F.4), then
/// [`accept_config`] for the fields the emulator acts on.
fn check_config(
    validator: &ConfigValidator,
    version: &TalosVersion,
    bytes: &[u8],
) -> Result<AcceptedConfig, ConfigRejected> {
    validator(bytes, &version.to_string()).map_err(ConfigRejected::Validator)?;
    accept_config(bytes)
}

fn mode_of(state: &NodeState) -> NodeMode {
    if !state.powered {
        return NodeMode::PoweredOff;
    }
    match &state.phase {
        Phase::Off => NodeMode::PoweredOff,
        Phase::Maintenance { .. } => NodeMode::Maintenance,
        Phase::Configured(configured) => NodeMode::Configured(configured.config.machine_type),
        Phase::ConfigFailed(reason) => NodeMode::ConfigFailed(reason.clone()),
    }
}

async fn accept_loop(shared: Arc<NodeShared>, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    tracing::warn!(addr = %shared.api_addr, %error, "accept failed on the emulated apid");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        tokio::spawn(accept_connection(shared.clone(), tcp));
    }
}

/// Serves a new apid connection in the mode the node is in once it answers at all: a hung
/// node keeps the TCP connection open without a word.
async fn accept_connection(shared: Arc<NodeShared>, tcp: TcpStream) {
    shared.until_responsive().await;
    let Some((tls, kind)) = shared.connection_tls() else {
        drop(tcp);
        return;
    };
    serve_connection(shared, tcp, tls, kind).await;
}

async fn serve_connection(shared: Arc<NodeShared>, tcp: TcpStream, tls: Arc<ServerConfig>, kind: ConnKind) {
    let mut restarts = shared.restarts.subscribe();
    restarts.mark_unchanged();
    let accepted = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsAcceptor::from(tls).accept(tcp),
    )
    .await;
    let Ok(Ok(stream)) = accepted else {
        return;
    };
    let peer = PeerIdentity::from_chain(stream.get_ref().1.peer_certificates());
    let context = Arc::new(ConnContext { kind, peer });
    let handler_shared = shared.clone();
    let service = hyper::service::service_fn(move |request| {
        let shared = handler_shared.clone();
        let context = context.clone();
        async move {
            shared.until_responsive().await;
            Ok::<_, Infallible>(apid::handle(shared, context, request).await)
        }
    });
    let connection =
        hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            changed = restarts.changed(), if !closing => {
                closing = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                } else {
                    break;
                }
            }
        }
    }
}
