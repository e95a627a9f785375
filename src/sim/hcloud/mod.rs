//! The emulated Hetzner Cloud API v1, served over HTTP on loopback.
//!
//! Layout (after omicron's simulator): [`state`] is the model — resources as state
//! machines on simulated time, no HTTP types; [`http`] holds thin axum handlers (extract,
//! call the model, map the error) plus the cross-cutting layer (auth, rate limit, faults,
//! request log) and the test controls under `/__sim/`. [`faults`],
//! [`rate_limit`], [`label_selector`], [`pagination`] and [`catalog`] are the pieces both
//! use. Nothing here knows about the client side of talos-hcloud.

pub mod catalog;
pub mod error;
pub mod faults;
pub mod fingerprint;
pub mod http;
pub mod label_selector;
pub mod pagination;
pub mod pricing;
pub mod rate_limit;
pub mod request_log;
pub mod state;

use std::sync::{Arc, Mutex, MutexGuard};

use crate::sim::clock::SimClock;
use rate_limit::RateLimiter;
use request_log::RequestLog;
use state::World;

/// Everything a running emulator shares between connections, the ticker and the
/// in-process controls.
pub struct Shared {
    /// The project state.
    world: Mutex<World>,
    /// The emulator's one simulated clock (shared with machines and Talos nodes).
    pub clock: Arc<SimClock>,
    /// The bearer token clients must present.
    pub token: String,
    /// The request log.
    pub log: RequestLog,
    /// The rate limiter.
    rate: Mutex<RateLimiter>,
}

impl Shared {
    /// A new emulator state.
    pub fn new(world: World, clock: Arc<SimClock>, token: String) -> Self {
        Shared {
            world: Mutex::new(world),
            clock,
            token,
            log: RequestLog::default(),
            rate: Mutex::new(RateLimiter::default()),
        }
    }

    /// Runs `f` on the world after advancing it to the current simulated time.
    pub fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let now = self.clock.now();
        let mut world = self.lock_world();
        world.advance(now);
        f(&mut world)
    }

    fn lock_world(&self) -> MutexGuard<'_, World> {
        crate::lock::lock(&self.world)
    }

    /// The rate limiter.
    pub fn rate_limiter(&self) -> MutexGuard<'_, RateLimiter> {
        crate::lock::lock(&self.rate)
    }
}
