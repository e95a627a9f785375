//! The state model of the emulated project: every resource, every action and the timeline
//! of what happens when, with no HTTP types.
//!
//! The model is a [`World`] behind one lock. Each request first advances the world to the
//! current simulated time ([`World::advance`]), which completes due actions in order and
//! applies their effects; then it reads or changes resources. Resources are state machines
//! (a server is `initializing`, `starting`, `running`, …) whose transitions are the
//! completion effects of actions. One file per resource family, with its rendering to the
//! API representation; what the families share (lookup, lock checks, rename, relabel,
//! protection, listing) is written once in [`resource`], against the [`Resource`] trait
//! each family implements.

pub mod actions;
pub mod catalog_views;
pub mod firewalls;
pub mod floating_ips;
pub mod images;
pub mod load_balancers;
pub mod networks;
pub mod placement_groups;
pub mod primary_ips;
pub mod resource;
pub mod servers;
pub mod ssh_keys;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast;

use super::error::ApiError;
use super::faults::{FaultEngine, FaultSpec, child_rng};
use super::label_selector::{Labels, validate_labels};
use crate::sim::clock::{SimMillis, rfc3339};

pub use actions::{Action, ActionStatus, NewAction, ResourceRef};
pub use resource::{Busy, DeleteProtected, Resource};

use firewalls::Firewall;
use floating_ips::FloatingIp;
use load_balancers::LoadBalancer;
use networks::Network;
use placement_groups::PlacementGroup;
use primary_ips::PrimaryIp;
use servers::Server;
use ssh_keys::SshKey;

/// Something that happened to a machine, for the parts of the emulator that will back
/// servers with disks and booting nodes (rescue SSH, Talos). Sent on a broadcast channel.
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    /// A server was created (still `initializing`).
    ServerCreated {
        /// Server ID.
        id: u64,
        /// Its public IPv4 (in 127.0.0.0/8), if any.
        ipv4: Option<String>,
        /// The disk content it starts from (the image's disk reference).
        disk: String,
    },
    /// A server finished booting; `rescue` is true when it booted the rescue system.
    ServerPoweredOn {
        /// Server ID.
        id: u64,
        /// Whether the rescue system was booted.
        rescue: bool,
    },
    /// A server is now off.
    ServerPoweredOff {
        /// Server ID.
        id: u64,
    },
    /// Rescue mode was enabled (takes effect at the next boot).
    RescueEnabled {
        /// Server ID.
        id: u64,
    },
    /// A server was deleted.
    ServerDeleted {
        /// Server ID.
        id: u64,
    },
    /// A snapshot finished; its disk reference was copied from the server at request time.
    ImageCreated {
        /// Image ID.
        id: u64,
        /// The server it was taken from.
        server: u64,
        /// The disk content reference the image carries.
        disk: String,
    },
}

/// Realistic durations in simulated seconds (reference `hcloud-api.md` §18).
#[derive(Debug, Clone)]
pub struct Durations {
    /// `create_server` from a system image.
    pub create_server: f64,
    /// Extra per GB of a snapshot's `image_size`.
    pub create_server_per_gb: f64,
    /// `start_server`.
    pub start_server: f64,
    /// `stop_server`, `reset_server`, `reboot_server`.
    pub stop_server: f64,
    /// `shutdown_server` (the ACPI signal).
    pub shutdown_signal: f64,
    /// From the ACPI signal to `off` (a guest that honours it).
    pub guest_shutdown: f64,
    /// `enable_rescue`, `disable_rescue`.
    pub rescue: f64,
    /// `create_image` base.
    pub create_image: f64,
    /// `create_image` per GB written.
    pub create_image_per_gb: f64,
    /// `delete_server`.
    pub delete_server: f64,
    /// Network, firewall, placement, protection and IP actions.
    pub small: f64,
}

impl Default for Durations {
    fn default() -> Self {
        Durations {
            create_server: 60.0,
            create_server_per_gb: 10.0,
            start_server: 10.0,
            stop_server: 3.0,
            shutdown_signal: 1.0,
            guest_shutdown: 5.0,
            rescue: 2.0,
            create_image: 60.0,
            create_image_per_gb: 90.0,
            delete_server: 3.0,
            small: 2.0,
        }
    }
}

/// The kinds of ID, each with its own large, non-contiguous sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdKind {
    /// Servers (~5×10^7).
    Server,
    /// Snapshots and backups (~3×10^8).
    Image,
    /// Actions (~1.7×10^9).
    Action,
    /// SSH keys.
    SshKey,
    /// Placement groups.
    PlacementGroup,
    /// Networks.
    Network,
    /// Firewalls.
    Firewall,
    /// Floating IPs.
    FloatingIp,
    /// Primary IPs.
    PrimaryIp,
    /// Load balancers.
    LoadBalancer,
}

impl IdKind {
    fn base(self) -> u64 {
        match self {
            IdKind::Server => 58_000_000,
            IdKind::Image => 310_000_000,
            IdKind::Action => 1_700_000_000,
            IdKind::SshKey => 24_000_000,
            IdKind::PlacementGroup => 400_000,
            IdKind::Network => 10_500_000,
            IdKind::Firewall => 1_800_000,
            IdKind::FloatingIp => 80_000_000,
            IdKind::PrimaryIp => 90_000_000,
            IdKind::LoadBalancer => 2_300_000,
        }
    }
}

enum Timed {
    ActionDone(u64),
    Run(actions::Effect),
}

/// Address pools in 127.0.0.0/8 on which the traffic plane binds real listeners.
///
/// Every world gets its own block of [`Pools::BLOCK`] addresses per pool (the first from
/// 127.P.0.2, the second from 127.P.4.26, …), so emulators running side by side — in one
/// process (parallel tests) or in several (two `talos-hcloud sim`, two test runs) — never
/// bind the same address. Across processes a block is claimed by an exclusive lock on a
/// file under the temporary directory, held while the world lives.
#[derive(Debug, Clone)]
struct Pools {
    next: BTreeMap<u8, u32>,
    base: u32,
    /// The lock on this world's block, released when the last clone of the world goes.
    _claim: Option<std::sync::Arc<std::fs::File>>,
}

/// The block the next world of this process tries first.
static NEXT_BLOCK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Pools {
    /// Addresses per world and pool.
    const BLOCK: u32 = 1024;
    /// Blocks in a /16.
    const BLOCKS: u32 = 62;

    /// The pools of a new world: the first block, from this process's next one on, that no
    /// other world holds. When every block is held (or locks cannot be taken) the next block
    /// is shared, as addresses then wrap.
    fn for_new_world() -> Self {
        Self::from_block(NEXT_BLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// The pools of the first block from `start` on that no other world holds.
    fn from_block(start: u32) -> Self {
        let claimed = (0..Self::BLOCKS).find_map(|offset| {
            let block = (start + offset) % Self::BLOCKS;
            Self::claim(block).map(|file| (offset, file))
        });
        let (offset, claim) = match claimed {
            Some((offset, file)) => {
                // Later worlds of this process start after the block taken.
                NEXT_BLOCK.fetch_max(start + offset + 1, std::sync::atomic::Ordering::Relaxed);
                (offset, Some(std::sync::Arc::new(file)))
            }
            None => (0, None),
        };
        let block = (start + offset) % Self::BLOCKS;
        Pools {
            next: BTreeMap::new(),
            base: block * Self::BLOCK,
            _claim: claim,
        }
    }

    /// An exclusive lock on `block`'s file, if no other world holds it.
    fn claim(block: u32) -> Option<std::fs::File> {
        let dir = std::env::temp_dir().join("talos-hcloud-sim-addresses");
        std::fs::create_dir_all(&dir).ok()?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("block-{block}.lock")))
            .ok()?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
        Some(file)
    }

    /// The next address index of pool `P` (127.P.x.y; also the IPv6 /64 index).
    fn next(&mut self, pool: u8) -> u32 {
        let n = self.next.entry(pool).or_insert(0);
        *n += 1;
        self.base + (*n - 1) % Self::BLOCK + 1
    }
}

/// The whole emulated project.
pub struct World {
    pub(crate) now: SimMillis,
    epoch: SystemTime,
    next_ids: BTreeMap<IdKind, u64>,
    rng_ids: ChaCha8Rng,
    rng_passwords: ChaCha8Rng,
    rng_durations: ChaCha8Rng,
    /// The fault rules and their RNGs.
    pub faults: FaultEngine,
    /// Durations of actions, in simulated seconds.
    pub durations: Durations,
    pub(crate) actions: BTreeMap<u64, Action>,
    running: BTreeSet<u64>,
    timeline: BTreeMap<(SimMillis, u64), Timed>,
    seq: u64,
    pools: Pools,
    pub(crate) servers: BTreeMap<u64, servers::Server>,
    pub(crate) images: BTreeMap<u64, images::Image>,
    pub(crate) ssh_keys: BTreeMap<u64, ssh_keys::SshKey>,
    pub(crate) placement_groups: BTreeMap<u64, placement_groups::PlacementGroup>,
    pub(crate) networks: BTreeMap<u64, networks::Network>,
    pub(crate) firewalls: BTreeMap<u64, firewalls::Firewall>,
    pub(crate) floating_ips: BTreeMap<u64, floating_ips::FloatingIp>,
    pub(crate) primary_ips: BTreeMap<u64, primary_ips::PrimaryIp>,
    pub(crate) load_balancers: BTreeMap<u64, load_balancers::LoadBalancer>,
    events: broadcast::Sender<SimEvent>,
    /// The machines' disk files; `None` for a model without machines (unit tests).
    pub(crate) disks: Option<std::sync::Arc<crate::sim::machine::Disks>>,
    /// The emulated Talos nodes and the network between them; `None` without machines.
    pub(crate) talos: Option<std::sync::Arc<crate::sim::talos::ClusterRegistry>>,
}

impl World {
    /// A fresh project at simulated time 0 with the catalogue's system images.
    pub fn new(seed: u64, faults: &FaultSpec, epoch: SystemTime) -> Self {
        let (events, _) = broadcast::channel(1024);
        let mut world = World {
            now: 0,
            epoch,
            next_ids: BTreeMap::new(),
            rng_ids: child_rng(seed, "ids"),
            rng_passwords: child_rng(seed, "passwords"),
            rng_durations: child_rng(seed, "durations"),
            faults: FaultEngine::new(faults, seed),
            durations: Durations::default(),
            actions: BTreeMap::new(),
            running: BTreeSet::new(),
            timeline: BTreeMap::new(),
            seq: 0,
            pools: Pools::for_new_world(),
            servers: BTreeMap::new(),
            images: BTreeMap::new(),
            ssh_keys: BTreeMap::new(),
            placement_groups: BTreeMap::new(),
            networks: BTreeMap::new(),
            firewalls: BTreeMap::new(),
            floating_ips: BTreeMap::new(),
            primary_ips: BTreeMap::new(),
            load_balancers: BTreeMap::new(),
            events,
            disks: None,
            talos: None,
        };
        world.seed_system_images();
        world
    }

    /// Backs every server created from now on with a disk file in `disks`.
    pub fn attach_disks(&mut self, disks: std::sync::Arc<crate::sim::machine::Disks>) {
        self.disks = Some(disks);
    }

    /// Lets the test controls and the state dump reach the emulated Talos nodes.
    pub fn attach_talos(&mut self, registry: std::sync::Arc<crate::sim::talos::ClusterRegistry>) {
        self.talos = Some(registry);
    }

    /// Subscribes to machine events.
    pub fn subscribe(&self) -> broadcast::Receiver<SimEvent> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, event: SimEvent) {
        // No subscriber is fine: the events are hooks, not a log.
        let _ = self.events.send(event);
    }

    /// The current simulated time.
    pub fn now(&self) -> SimMillis {
        self.now
    }

    /// An API timestamp for a simulated time.
    pub fn timestamp(&self, at: SimMillis) -> String {
        rfc3339(self.epoch + Duration::from_millis(at))
    }

    /// Completes everything due up to `to`, in time order.
    pub fn advance(&mut self, to: SimMillis) {
        while let Some((&(at, _), _)) = self.timeline.first_key_value() {
            if at > to {
                break;
            }
            let Some((_, timed)) = self.timeline.pop_first() else {
                break;
            };
            self.now = self.now.max(at);
            match timed {
                Timed::ActionDone(id) => self.finish_action(id),
                Timed::Run(effect) => effect(self),
            }
        }
        self.now = self.now.max(to);
    }

    /// The earliest pending event, if any (for step-mode tests that want to run to it).
    pub fn next_event_at(&self) -> Option<SimMillis> {
        self.timeline.first_key_value().map(|(&(at, _), _)| at)
    }

    fn schedule(&mut self, at: SimMillis, timed: Timed) {
        self.seq += 1;
        self.timeline.insert((at, self.seq), timed);
    }

    /// Runs `effect` after `seconds` of simulated time.
    pub(crate) fn schedule_effect(&mut self, seconds: f64, effect: actions::Effect) {
        let at = self.now.saturating_add((seconds * 1000.0) as u64);
        self.schedule(at, Timed::Run(effect));
    }

    /// A new ID of `kind`: large, increasing, with seeded gaps as in the real API.
    pub(crate) fn new_id(&mut self, kind: IdKind) -> u64 {
        let step = self.rng_ids.random_range(1..=37);
        let next = self.next_ids.entry(kind).or_insert(kind.base());
        *next += step;
        *next
    }

    /// A root password as the API generates them.
    pub(crate) fn new_password(&mut self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        (0..24)
            .map(|_| ALPHABET[self.rng_passwords.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// The next address of a 127.P.0.0/16 pool and its index (for IPv6 and MAC addresses).
    pub(crate) fn next_ipv4(&mut self, pool: u8) -> (String, u32) {
        let n = self.pools.next(pool);
        (format!("127.{pool}.{}.{}", n / 250, n % 250 + 1), n)
    }

    /// Returns true if and only if a running action holds a lock on the resource.
    pub fn is_locked(&self, kind: &str, id: u64) -> bool {
        self.running.iter().any(|a| {
            self.actions
                .get(a)
                .is_some_and(|action| action.locks.iter().any(|r| r.kind == kind && r.id == id))
        })
    }
}

/// An ID in a request body: a JSON number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlexId(pub u64);

impl<'de> Deserialize<'de> for FlexId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdVisitor {
            expecting: "an ID (a number or a numeric string)",
            convert: |input| match input {
                IdInput::Unsigned(v) => Ok(FlexId(v)),
                IdInput::Signed(v) => u64::try_from(v)
                    .map(FlexId)
                    .map_err(|_| "an ID must be positive".to_string()),
                IdInput::Text(v) => v.parse().map(FlexId).map_err(|_| format!("'{v}' is not an ID")),
            },
        })
    }
}

/// An ID-or-name field (`image`, `server_type`, `location`, `ssh_keys[]`): a JSON number,
/// or a string that is an ID when it parses as an integer and a name otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdOrName(pub String);

impl<'de> Deserialize<'de> for IdOrName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdVisitor {
            expecting: "an ID or a name",
            convert: |input| {
                Ok(IdOrName(match input {
                    IdInput::Unsigned(v) => v.to_string(),
                    IdInput::Signed(v) => v.to_string(),
                    IdInput::Text(v) => v.to_string(),
                }))
            },
        })
    }
}

/// A JSON number or string where a request names a resource, before [`FlexId`] or
/// [`IdOrName`] decides what it may be.
enum IdInput<'a> {
    Unsigned(u64),
    Signed(i64),
    Text(&'a str),
}

/// Reads a number or string into `T`; `expecting` says what the field takes (for type
/// errors) and `convert` may refuse the value with a message.
struct IdVisitor<T> {
    expecting: &'static str,
    convert: fn(IdInput<'_>) -> Result<T, String>,
}

impl<T> serde::de::Visitor<'_> for IdVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        (self.convert)(IdInput::Unsigned(v)).map_err(E::custom)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        (self.convert)(IdInput::Signed(v)).map_err(E::custom)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        (self.convert)(IdInput::Text(v)).map_err(E::custom)
    }
}

impl IdOrName {
    /// The ID, when the value is numeric.
    pub fn id(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `{"id": …}`: a resource named by ID inside a request (firewall and load balancer
/// targets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdRef {
    pub(crate) id: FlexId,
}

/// `{"selector": …}`: a label selector inside a request (firewall and load balancer
/// targets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectorRef {
    pub(crate) selector: String,
}

/// `invalid_input` on `labels` when any label is malformed.
pub(crate) fn check_labels(labels: &Option<Labels>) -> Result<(), ApiError> {
    match labels {
        Some(labels) => validate_labels(labels).map_err(|problems| {
            ApiError::invalid_fields(problems.into_iter().map(|p| ("labels".to_string(), p)).collect())
        }),
        None => Ok(()),
    }
}

/// A resource name: 1–128 characters of letters, digits, `-`, `_`, `.` — the default
/// [`Resource::check_name`]; servers (DNS names) and firewalls (any characters) have their
/// own rule.
pub(crate) fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            "Name contains invalid characters or has an invalid length.",
        ))
    }
}

/// Renders a labels map.
pub(crate) fn labels_json(labels: &Labels) -> Value {
    serde_json::to_value(labels).expect("invariant: a string map always serializes")
}

impl World {
    /// Everything, in API representation plus internal fields, for tests and debugging.
    pub fn dump(&self) -> Value {
        serde_json::json!({
            "now_ms": self.now,
            "now": self.timestamp(self.now),
            "servers": self.servers.keys().map(|id| {
                serde_json::json!({"server": self.render::<Server>(*id), "internal": self.server_internals(*id)})
            }).collect::<Vec<_>>(),
            "images": self.images.values().filter(|i| i.kind != images::ImageType::System).map(|i| {
                serde_json::json!({"image": i.render(self), "internal": {"disk": i.disk, "source_disk": i.source_disk}})
            }).collect::<Vec<_>>(),
            // Each key wrapped in its `{"ssh_key": …}` body, unlike the bare resources below.
            "ssh_keys": self.ssh_keys.keys().map(|id| self.envelope::<SshKey>(*id)).collect::<Vec<_>>(),
            "placement_groups": self.render_all::<PlacementGroup>(),
            "networks": self.render_all::<Network>(),
            "firewalls": self.render_all::<Firewall>(),
            "floating_ips": self.render_all::<FloatingIp>(),
            "primary_ips": self.render_all::<PrimaryIp>(),
            "load_balancers": self.render_all::<LoadBalancer>(),
            "running_actions": self.running_actions().iter().map(|id| self.action_json(*id)).collect::<Vec<_>>(),
            "next_event_ms": self.next_event_at(),
            "faults": self.faults.active(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block of `pools`' addresses.
    fn block_of(pools: &mut Pools) -> u32 {
        (pools.next(1) - 1) / Pools::BLOCK
    }

    #[test]
    fn a_block_another_process_holds_is_skipped() {
        // Another process holds a block: an open file description of its own, locked, as a
        // second `talos-hcloud sim` would.
        let (held, other) = (0..Pools::BLOCKS)
            .find_map(|block| Pools::claim(block).map(|file| (block, file)))
            .expect("a free block");
        let mut world = Pools::from_block(held);
        let got = block_of(&mut world);
        assert_ne!(got, held, "the held block was taken again");
        drop(other);
        assert!(Pools::claim(got).is_none(), "a living world's block stays held");
        drop(world);
        assert!(Pools::claim(got).is_some(), "a dropped world's block is free again");
    }
}
