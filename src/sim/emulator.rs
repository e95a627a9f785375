//! A running emulator: binds the listener, serves the API, ticks simulated time, and
//! offers the in-process controls tests use.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::clock::SimClock;
use super::control::SimControl;
use super::hcloud::Shared;
use super::hcloud::error::ApiError;
use super::hcloud::faults::FaultSpec;
use super::hcloud::http;
use super::hcloud::request_log::RequestRecord;
use super::hcloud::state::{SimEvent, World};
use super::traffic::Traffic;
use crate::error::{Class, Classify};

/// How to start an emulator.
#[derive(Clone)]
pub struct SimConfig {
    /// Where to listen (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The bearer token clients must send.
    pub token: String,
    /// Simulated seconds per real second; 0 starts in step mode.
    pub time_scale: f64,
    /// Fault rules.
    pub faults: FaultSpec,
    /// The seed of every random choice (IDs, passwords, durations, faults).
    pub seed: u64,
    /// Where server disks and snapshots are kept (sparse files); `None` = a temporary
    /// directory removed when the emulator is dropped.
    pub state_dir: Option<std::path::PathBuf>,
    /// The strict check every emulated Talos node runs on a configuration it receives
    /// (see [`crate::sim::talos::NodeOptions::new`]); the default accepts what the node can
    /// act on. `talos-hcloud sim` passes talos-hcloud's validator.
    pub node_validator: crate::sim::talos::ConfigValidator,
    /// The emulated Image Factory started with the emulator (its `listen` is ignored:
    /// it listens on the emulator's host, port chosen freely).
    pub factory: crate::sim::factory::FactoryConfig,
}

impl std::fmt::Debug for SimConfig {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("token", &"***")
            .field("time_scale", &self.time_scale)
            .field("faults", &self.faults.to_string())
            .field("seed", &self.seed)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    /// 127.0.0.1:0, a random 64-character token, 1000× time (a 60 s action takes about
    /// 60 ms), no faults, seed 0, disks in a temporary directory, no strict config check.
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: random_token(),
            time_scale: 1000.0,
            faults: FaultSpec::default(),
            seed: 0,
            state_dir: None,
            node_validator: std::sync::Arc::new(|_: &[u8], _: &str| Ok(())),
            factory: crate::sim::factory::FactoryConfig::default(),
        }
    }
}

/// A random 64-character token like the real ones.
pub fn random_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..64)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Why the emulator could not start or a control failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] super::listen::BindError),
    /// The emulated Image Factory could not start.
    #[error("cannot start the emulated Image Factory")]
    Factory(#[source] crate::sim::factory::server::Error),
    /// The machines' state directory could not be set up.
    #[error(transparent)]
    Disks(#[from] crate::sim::machine::DiskError),
    /// The configuration is unusable.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    /// A control request to the emulator failed.
    #[error("emulator control {what} failed")]
    Control {
        /// Which control.
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The emulated API refused an in-process control.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Config(_) => Class::InvalidInput,
            _ => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Bind(_) => vec!["pick another address with --listen, e.g. --listen 127.0.0.1:0".to_string()],
            _ => Vec::new(),
        }
    }
}

/// A running emulator. Dropping it without [`Sim::shutdown`] leaves the server running
/// until the runtime ends.
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    disks: Arc<crate::sim::machine::Disks>,
    factory: crate::sim::factory::Factory,
    traffic: Traffic,
    registry: Arc<crate::sim::talos::ClusterRegistry>,
}

impl Sim {
    /// Binds and starts serving.
    ///
    /// # Errors
    /// [`Error::Bind`] when the address is taken; [`Error::Config`] for a token that is
    /// empty or a time scale that is negative or not finite.
    pub async fn start(config: SimConfig) -> Result<Sim, Error> {
        if config.token.is_empty() || config.token.chars().any(char::is_whitespace) {
            return Err(Error::Config(
                "the token must be non-empty and contain no whitespace".to_string(),
            ));
        }
        if !config.time_scale.is_finite() || config.time_scale < 0.0 {
            return Err(Error::Config(format!(
                "the time scale must be 0 (step mode) or positive, got {}",
                config.time_scale
            )));
        }
        let (listener, addr) = super::listen::bind(config.listen).await?;
        let clock = Arc::new(SimClock::new(config.time_scale));
        let disks = Arc::new(crate::sim::machine::Disks::new(config.state_dir.clone())?);
        let registry = crate::sim::talos::ClusterRegistry::new();
        let mut world = World::new(config.seed, &config.faults, clock.wall(0));
        world.attach_disks(disks.clone());
        world.attach_talos(registry.clone());
        let shared = Arc::new(Shared::new(world, clock, config.token));
        let stop = CancellationToken::new();
        let server = tokio::spawn(http::serve(listener, http::router(shared.clone()), stop.clone()));
        let ticker = tokio::spawn(tick(shared.clone(), stop.clone()));
        let (traffic, forwarder) = Traffic::start(shared.clone(), stop.clone());
        let factory = crate::sim::factory::Factory::start(crate::sim::factory::FactoryConfig {
            listen: SocketAddr::new(addr.ip(), 0),
            control_token: Some(shared.token.clone().into()),
            ..config.factory.clone()
        })
        .await
        .map_err(Error::Factory)?;
        let machines = crate::sim::machine::boot::spawn(
            shared.clone(),
            disks.clone(),
            crate::sim::machine::BootConfig {
                registry: registry.clone(),
                validator: config.node_validator.clone(),
                api_endpoint: format!("http://{addr}/v1"),
            },
            stop.clone(),
        );
        Ok(Sim {
            shared,
            addr,
            stop,
            tasks: vec![server, ticker, forwarder, machines],
            disks,
            factory,
            traffic,
            registry,
        })
    }

    /// The API endpoint, e.g. `http://127.0.0.1:41234/v1`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bearer token.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The traffic plane: floating IP and load balancer listeners and health checks.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// The emulator's one simulated clock.
    pub fn clock(&self) -> Arc<SimClock> {
        self.shared.clock.clone()
    }

    /// Every API request so far (control routes excluded).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// Forgets the request log.
    pub fn clear_request_log(&self) {
        self.shared.log.clear();
    }

    /// Moves simulated time forward (in either mode) and completes what became due.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.with_world(|_| ());
    }

    /// Sets the time scale; 0 = step mode (time moves only through [`Sim::advance`]).
    pub fn set_time_scale(&self, scale: f64) {
        self.shared.with_world(|_| ());
        self.shared.clock.set_scale(scale.max(0.0));
    }

    /// Adds fault rules.
    pub fn add_faults(&self, spec: &FaultSpec) {
        self.shared.with_world(|w| w.faults.add(spec));
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.with_world(|w| w.faults.clear());
    }

    /// Reconfigures the rate limit: `limit` requests, refilling `refill_per_second`,
    /// currently `remaining` (default full).
    pub fn set_rate_limit(&self, limit: u64, refill_per_second: f64, remaining: Option<u64>) {
        self.shared
            .rate_limiter()
            .configure(limit, refill_per_second, remaining);
    }

    /// The emulated Image Factory's base URL (`TALOS_FACTORY_URL`).
    pub fn factory_url(&self) -> String {
        self.factory.url()
    }

    /// The emulated Image Factory (requests seen, faults, image specs).
    pub fn factory(&self) -> &crate::sim::factory::Factory {
        &self.factory
    }

    /// The directory holding the machines' disk files.
    pub fn state_dir(&self) -> std::path::PathBuf {
        self.disks.dir().to_path_buf()
    }

    /// The disk file of server `id` (it exists while the server does).
    pub fn server_disk(&self, id: u64) -> std::path::PathBuf {
        self.disks.server_disk(id)
    }

    /// The disk file of snapshot `id`.
    pub fn image_disk(&self, id: u64) -> std::path::PathBuf {
        self.disks.image_disk(id)
    }

    /// Crashes a server: power is lost at once (no ACPI, no action), its system is gone,
    /// and Hetzner reports it `off`.
    ///
    /// # Errors
    /// `not_found` when there is no such server.
    pub fn crash_server(&self, server: u64) -> Result<(), Error> {
        self.shared
            .with_world(|w| w.crash_server(server))
            .map(|_| ())
            .map_err(Error::from)
    }

    /// Makes the Talos node on a server hang (`true`: apid accepts TCP but never answers,
    /// its etcd member stalls) or recover (`false`); a reboot or reset also ends a hang.
    ///
    /// # Errors
    /// `not_found` without such a server; `conflict` when no Talos node runs on it.
    pub fn hang_server(&self, server: u64, hung: bool) -> Result<(), Error> {
        self.shared
            .with_world(|w| w.hang_server(server, hung))
            .map(|_| ())
            .map_err(Error::from)
    }

    /// Cuts a server off from the other nodes (`true`: its etcd reaches no peer, so a
    /// partitioned minority loses quorum while the majority keeps it) or heals it (`false`).
    ///
    /// # Errors
    /// `not_found` without such a server; `conflict` when it has no public IPv4.
    pub fn partition_server(&self, server: u64, partitioned: bool) -> Result<(), Error> {
        self.shared
            .with_world(|w| w.partition_server(server, partitioned))
            .map(|_| ())
            .map_err(Error::from)
    }

    /// The emulated Talos clusters (etcd membership and quorum) and nodes of this emulator.
    pub fn talos(&self) -> &Arc<crate::sim::talos::ClusterRegistry> {
        &self.registry
    }

    /// The guest inside a server powers itself off (`shutdown now` over SSH).
    ///
    /// # Errors
    /// `not_found` when there is no such server.
    pub fn guest_shutdown(&self, server: u64) -> Result<(), Error> {
        self.shared
            .with_world(|w| w.guest_shutdown(server))
            .map(|_| ())
            .map_err(Error::from)
    }

    /// The whole state (API shapes plus internal fields).
    pub fn state(&self) -> Value {
        self.shared.with_world(|w| w.dump())
    }

    /// Machine events (server created, powered on/off, rescue, snapshots).
    pub fn events(&self) -> broadcast::Receiver<SimEvent> {
        self.shared.with_world(|w| w.subscribe())
    }

    /// A client for the HTTP test controls of this emulator.
    pub fn control(&self) -> SimControl {
        SimControl::new(format!("http://{}", self.addr), self.token().to_string())
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        self.factory.shutdown();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Advances the world regularly so effects and events happen without a request.
async fn tick(shared: Arc<Shared>, stop: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_millis(20));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = interval.tick() => shared.with_world(|_| ()),
            () = stop.cancelled() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let config = SimConfig::default();
        assert_eq!(config.token.len(), 64);
        assert!(!format!("{config:?}").contains(&config.token));
    }
}
