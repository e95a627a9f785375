//! The traffic plane: floating IPs and load balancers that carry real TCP.
//!
//! The emulated API decides where traffic goes; this module makes it go there over real
//! loopback sockets. A reconcile loop reads the routes from the [`World`] (floating IP →
//! the assigned server's public IPv4; load balancer service → its targets, label
//! selectors resolved live) and keeps one listener per address and port:
//!
//! * a floating IP (127.2.x.y) listens while it is assigned, on [`FLOATING_IP_PORTS`] plus
//!   every port a load balancer service of the project forwards to (a plain socket cannot
//!   bind "any port"), and forwards each new connection to the same port on the server
//!   it is assigned to *at accept time* — reassignment moves new connections, open ones
//!   stay; unassigned, nothing listens (connection refused);
//! * a load balancer (127.3.x.y, public interface enabled) listens on each service's
//!   `listen_port` and forwards to `destination_port` of a target that is `running` and
//!   passes the service's health check (TCP connect, or HTTP), round robin or least
//!   connections; with `proxyprotocol` a PROXY header goes first. `use_private_ip`
//!   targets are reached on the server's one address (a simulated server has no separate
//!   private address). HTTP services are forwarded as TCP streams (no header rewriting).
//!
//! Health checks run on the emulator's simulated clock (`interval` simulated seconds
//! apart), so they follow `--time-scale` and step mode. The API's `health_status` still
//! reports from the server's status, as before; [`Traffic::target_health`] shows what the
//! checks found.

mod health;
mod proxy_protocol;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::clock::SimClock;
use super::hcloud::Shared;
use super::hcloud::state::floating_ips::FloatingIpRoute;
use super::hcloud::state::load_balancers::{HealthCheckSpec, LoadBalancerRoute, ServiceRoute};

use crate::lock::lock;

pub use health::Health;
pub use proxy_protocol::ProxyProtocol;

/// The ports a floating IP forwards besides the load balancer destination ports: SSH,
/// HTTP, HTTPS, the Kubernetes API, apid and trustd.
pub const FLOATING_IP_PORTS: [u16; 6] = [22, 80, 443, 6443, 50000, 50001];

/// How often (real time) the listeners are reconciled with the emulated state.
const RECONCILE_EVERY: Duration = Duration::from_millis(25);

/// How long (real time) a failed bind waits before it is tried again.
const REBIND_AFTER: Duration = Duration::from_secs(1);

/// How long (real time) connecting to a target may take before the client is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ListenerRole {
    /// A floating IP.
    FloatingIp {
        /// Its ID.
        id: u64,
    },
    /// A load balancer service.
    LoadBalancer {
        /// The load balancer's ID.
        id: u64,
        /// The service's listen port.
        listen_port: u16,
    },
}

/// One listener the traffic plane wants, and whether it is bound.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListenerStatus {
    /// The address and port.
    pub addr: SocketAddr,
    /// What it serves.
    pub role: ListenerRole,
    /// `None` when bound; else why binding failed (retried every second), e.g. a port
    /// below 1024 without root or `CAP_NET_BIND_SERVICE`.
    pub error: Option<String>,
}

/// The health of one target of a load balancer service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetHealth {
    /// The target's address and checked port.
    pub addr: SocketAddr,
    /// The server, `None` for an IP target.
    pub server: Option<u64>,
    /// Whether the server is running.
    pub running: bool,
    /// What the checks found.
    pub health: Health,
}

/// The routes at one moment, read by every accepted connection.
#[derive(Debug, Default)]
struct Table {
    floating: HashMap<Ipv4Addr, Option<Ipv4Addr>>,
    services: HashMap<SocketAddr, Service>,
}

#[derive(Debug, Clone)]
struct Service {
    lb: u64,
    least_connections: bool,
    route: ServiceRoute,
}

/// A health checker's identity: load balancer, listen port, target address and the
/// check itself (a changed check restarts it).
#[derive(Debug, Clone, PartialEq)]
struct CheckKey {
    lb: u64,
    listen_port: u16,
    target: IpAddr,
    spec: HealthCheckSpec,
}

struct Inner {
    shared: Arc<Shared>,
    table: RwLock<Arc<Table>>,
    verdicts: Mutex<HashMap<(u64, u16, IpAddr), health::Verdict>>,
    round_robin: Mutex<HashMap<(u64, u16), usize>>,
    active: Mutex<HashMap<SocketAddr, usize>>,
    listeners: Mutex<BTreeMap<SocketAddr, ListenerStatus>>,
    proxy_protocol: Mutex<ProxyProtocol>,
    connections: AtomicUsize,
}

/// A running traffic plane (a cheap handle; the work happens in its task).
#[derive(Clone)]
pub struct Traffic {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field("listeners", &lock(&self.inner.listeners).len())
            .finish_non_exhaustive()
    }
}

impl Traffic {
    /// Starts reconciling listeners with `shared`'s state until `stop` is cancelled; the
    /// handle's task ends then, closing every listener and health check.
    pub fn start(shared: Arc<Shared>, stop: CancellationToken) -> (Traffic, JoinHandle<()>) {
        let inner = Arc::new(Inner {
            shared,
            table: RwLock::new(Arc::new(Table::default())),
            verdicts: Mutex::new(HashMap::new()),
            round_robin: Mutex::new(HashMap::new()),
            active: Mutex::new(HashMap::new()),
            listeners: Mutex::new(BTreeMap::new()),
            proxy_protocol: Mutex::new(ProxyProtocol::default()),
            connections: AtomicUsize::new(0),
        });
        let task = tokio::spawn(reconcile_loop(inner.clone(), stop));
        (Traffic { inner }, task)
    }

    /// Every listener the state asks for, bound or not, by address.
    pub fn listeners(&self) -> Vec<ListenerStatus> {
        lock(&self.inner.listeners).values().cloned().collect()
    }

    /// The health of each target of a load balancer service (empty for an unknown one).
    pub fn target_health(&self, lb: u64, listen_port: u16) -> Vec<TargetHealth> {
        let table = self.inner.table();
        let verdicts = lock(&self.inner.verdicts);
        table
            .services
            .values()
            .filter(|s| s.lb == lb && s.route.listen_port == listen_port)
            .flat_map(|s| {
                s.route.targets.iter().map(|t| TargetHealth {
                    addr: SocketAddr::new(t.addr, s.route.health.port),
                    server: t.server,
                    running: t.running,
                    health: verdicts
                        .get(&(lb, listen_port, t.addr))
                        .map_or(Health::Unknown, |v| v.health),
                })
            })
            .collect()
    }

    /// The PROXY protocol version load balancer services with `proxyprotocol` write
    /// (default v1, the text form).
    pub fn set_proxy_protocol(&self, version: ProxyProtocol) {
        *lock(&self.inner.proxy_protocol) = version;
    }

    /// Connections forwarded so far (through floating IPs and load balancers).
    pub fn forwarded_connections(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }
}

impl Inner {
    fn table(&self) -> Arc<Table> {
        self.table
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Where a connection accepted on `local` goes now, with the PROXY header to send.
    fn destination(&self, local: SocketAddr) -> Option<(SocketAddr, bool)> {
        let table = self.table();
        if let IpAddr::V4(ip) = local.ip()
            && let Some(target) = table.floating.get(&ip)
        {
            return target.map(|t| (SocketAddr::new(t.into(), local.port()), false));
        }
        let service = table.services.get(&local)?;
        let route = &service.route;
        let healthy: Vec<SocketAddr> = {
            let verdicts = lock(&self.verdicts);
            route
                .targets
                .iter()
                .filter(|t| {
                    t.running
                        && verdicts
                            .get(&(service.lb, route.listen_port, t.addr))
                            .is_some_and(|v| v.health == Health::Healthy)
                })
                .map(|t| SocketAddr::new(t.addr, route.destination_port))
                .collect()
        };
        if healthy.is_empty() {
            return None;
        }
        let chosen = if service.least_connections {
            let active = lock(&self.active);
            healthy
                .iter()
                .copied()
                .min_by_key(|addr| active.get(addr).copied().unwrap_or(0))
        } else {
            let mut counters = lock(&self.round_robin);
            let counter = counters.entry((service.lb, route.listen_port)).or_insert(0);
            let pick = healthy[*counter % healthy.len()];
            *counter = counter.wrapping_add(1);
            Some(pick)
        };
        chosen.map(|addr| (addr, route.proxyprotocol))
    }
}

/// The listeners and health checks the reconcile loop owns.
#[derive(Default)]
struct Running {
    listeners: HashMap<SocketAddr, (ListenerRole, CancellationToken)>,
    failed: HashMap<SocketAddr, std::time::Instant>,
    checks: Vec<(CheckKey, CancellationToken)>,
}

async fn reconcile_loop(inner: Arc<Inner>, stop: CancellationToken) {
    let mut running = Running::default();
    let mut interval = tokio::time::interval(RECONCILE_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = interval.tick() => reconcile(&inner, &mut running, &stop).await,
            () = stop.cancelled() => break,
        }
    }
    for (_, (_, token)) in running.listeners.drain() {
        token.cancel();
    }
    for (_, token) in running.checks.drain(..) {
        token.cancel();
    }
}

/// The listeners the routes ask for.
fn wanted(floating: &[FloatingIpRoute], balancers: &[LoadBalancerRoute]) -> BTreeMap<SocketAddr, ListenerRole> {
    let mut ports: Vec<u16> = FLOATING_IP_PORTS.to_vec();
    ports.extend(
        balancers
            .iter()
            .flat_map(|lb| lb.services.iter().map(|s| s.destination_port)),
    );
    ports.sort_unstable();
    ports.dedup();
    let mut out = BTreeMap::new();
    for fip in floating.iter().filter(|f| f.target.is_some()) {
        for port in &ports {
            out.insert(
                SocketAddr::new(fip.ip.into(), *port),
                ListenerRole::FloatingIp { id: fip.id },
            );
        }
    }
    for lb in balancers.iter().filter(|lb| lb.public_enabled) {
        for service in &lb.services {
            out.insert(
                SocketAddr::new(lb.ipv4.into(), service.listen_port),
                ListenerRole::LoadBalancer {
                    id: lb.id,
                    listen_port: service.listen_port,
                },
            );
        }
    }
    out
}

async fn reconcile(inner: &Arc<Inner>, running: &mut Running, stop: &CancellationToken) {
    let (floating, balancers) = inner
        .shared
        .with_world(|w| (w.floating_ip_routes(), w.load_balancer_routes()));

    let mut table = Table::default();
    for fip in &floating {
        table.floating.insert(fip.ip, fip.target);
    }
    let mut checks = Vec::new();
    for lb in &balancers {
        for service in &lb.services {
            if lb.public_enabled {
                table.services.insert(
                    SocketAddr::new(lb.ipv4.into(), service.listen_port),
                    Service {
                        lb: lb.id,
                        least_connections: lb.least_connections,
                        route: service.clone(),
                    },
                );
            }
            for target in &service.targets {
                checks.push(CheckKey {
                    lb: lb.id,
                    listen_port: service.listen_port,
                    target: target.addr,
                    spec: service.health.clone(),
                });
            }
        }
    }
    *inner.table.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(table);

    reconcile_checks(inner, running, checks, stop);
    reconcile_listeners(inner, running, wanted(&floating, &balancers), stop).await;
}

fn reconcile_checks(inner: &Arc<Inner>, running: &mut Running, wanted: Vec<CheckKey>, stop: &CancellationToken) {
    running.checks.retain(|(key, token)| {
        let keep = wanted.contains(key);
        if !keep {
            token.cancel();
        }
        keep
    });
    {
        let mut verdicts = lock(&inner.verdicts);
        verdicts.retain(|(lb, port, addr), _| {
            wanted
                .iter()
                .any(|k| k.lb == *lb && k.listen_port == *port && k.target == *addr)
        });
    }
    for key in wanted {
        if running.checks.iter().any(|(have, _)| *have == key) {
            continue;
        }
        let token = stop.child_token();
        tokio::spawn(check_loop(inner.clone(), key.clone(), token.clone()));
        running.checks.push((key, token));
    }
}

async fn reconcile_listeners(
    inner: &Arc<Inner>,
    running: &mut Running,
    wanted: BTreeMap<SocketAddr, ListenerRole>,
    stop: &CancellationToken,
) {
    running.listeners.retain(|addr, (role, token)| {
        let keep = wanted.get(addr) == Some(role);
        if !keep {
            token.cancel();
        }
        keep
    });
    running.failed.retain(|addr, _| wanted.contains_key(addr));
    let mut statuses = BTreeMap::new();
    for (addr, role) in wanted {
        let error = if running.listeners.contains_key(&addr) {
            None
        } else if running.failed.get(&addr).is_some_and(|at| at.elapsed() < REBIND_AFTER) {
            lock(&inner.listeners).get(&addr).and_then(|s| s.error.clone())
        } else {
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    running.failed.remove(&addr);
                    let token = stop.child_token();
                    tokio::spawn(accept_loop(inner.clone(), listener, addr, token.clone()));
                    running.listeners.insert(addr, (role, token));
                    None
                }
                Err(error) => {
                    running.failed.insert(addr, std::time::Instant::now());
                    Some(bind_error_text(&error))
                }
            }
        };
        statuses.insert(addr, ListenerStatus { addr, role, error });
    }
    *lock(&inner.listeners) = statuses;
}

fn bind_error_text(error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::PermissionDenied {
        format!("{error} (ports below 1024 need root or CAP_NET_BIND_SERVICE)")
    } else {
        error.to_string()
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, local: SocketAddr, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let Ok((client, peer)) = accepted else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Some((destination, proxy)) = inner.destination(local) else {
            // Nowhere to go: the connection is closed at once.
            drop(client);
            continue;
        };
        tokio::spawn(forward(inner.clone(), client, peer, local, destination, proxy));
    }
}

/// Decrements a target's active connection count when the connection ends.
struct ActiveGuard {
    inner: Arc<Inner>,
    target: SocketAddr,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let mut active = lock(&self.inner.active);
        if let Some(count) = active.get_mut(&self.target) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                active.remove(&self.target);
            }
        }
    }
}

async fn forward(
    inner: Arc<Inner>,
    mut client: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    destination: SocketAddr,
    proxy: bool,
) {
    *lock(&inner.active).entry(destination).or_insert(0) += 1;
    let _guard = ActiveGuard {
        inner: inner.clone(),
        target: destination,
    };
    let Ok(Ok(mut upstream)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(destination)).await else {
        return;
    };
    inner.connections.fetch_add(1, Ordering::Relaxed);
    if proxy {
        let header = lock(&inner.proxy_protocol).header(peer, local);
        if tokio::io::AsyncWriteExt::write_all(&mut upstream, &header)
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// A check's timeout in real time: `timeout` simulated seconds at the current scale, at
/// least 100 ms (loopback connects answer at once) and at most the real `timeout`.
fn real_timeout(clock: &SimClock, seconds: u32) -> Duration {
    let simulated = Duration::from_secs(u64::from(seconds.max(1)));
    let scale = clock.scale();
    let scaled = if scale > 0.0 {
        simulated.div_f64(scale.max(1.0))
    } else {
        simulated
    };
    scaled.clamp(Duration::from_millis(100), simulated)
}

async fn check_loop(inner: Arc<Inner>, key: CheckKey, stop: CancellationToken) {
    let target = SocketAddr::new(key.target, key.spec.port);
    let verdict_key = (key.lb, key.listen_port, key.target);
    loop {
        let timeout = real_timeout(&inner.shared.clock, key.spec.timeout);
        let passed = tokio::select! {
            passed = health::probe(target, &key.spec, timeout) => passed,
            () = stop.cancelled() => return,
        };
        lock(&inner.verdicts)
            .entry(verdict_key)
            .or_default()
            .record(passed, key.spec.retries);
        let interval = Duration::from_secs(u64::from(key.spec.interval.max(1)));
        tokio::select! {
            () = inner.shared.clock.sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}
