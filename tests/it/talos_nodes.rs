//! Emulated Talos nodes for the tests: the one way a test starts a node.
//!
//! [`start`] puts every node on a fresh address of the Talos test range (below) and gives
//! it talos-hcloud's strict validator (`node_validator`), as `talos-hcloud sim node` does.
//! The [`TestNode`] it returns checks, when the test stops or drops it, that every machine
//! configuration the node accepted is also valid under the official Talos JSON schema of
//! the node's version (issue 5: the schema is a second witness, so a shape bug shared by
//! our generator and our validator cannot hide). The check uses the shared
//! [`assert_schema_valid`].
//!
//! # Address allocation
//!
//! apid binds `ADDR:50000` and the Kubernetes API `ADDR:6443`, so each node needs its own
//! loopback address. The ranges of 127.0.0.0/8 are split so that no two users collide:
//!
//! | range | user |
//! |---|---|
//! | 127.0.0.1 | everything listening on port 0 (emulators, stand-ins) |
//! | 127.1.0.0/16, 127.2.0.0/16, 127.3.0.0/16 | the Hetzner emulator's server, floating and load-balancer IPs |
//! | 127.100.0.0 – 127.199.255.255 | emulated Talos nodes started by these tests (this module) |
//!
//! Inside the Talos range the second and third octets come from the process ID, so test
//! processes of other checkouts running at the same time pick other addresses, and the
//! fourth from a counter; an address found in use anyway is skipped.

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use talos_hcloud::sim::talos::{ClusterRegistry, EmulatedNode, NodeError, NodeOptions};
use talos_hcloud::talos::config::validate::node_validator;

use crate::talos_schema::assert_schema_valid;

static NEXT_HOST: AtomicU32 = AtomicU32::new(0);

/// A fresh address of the Talos test range, 127.(100..=199).x.(2..=251).
pub fn next_address() -> IpAddr {
    let pid = std::process::id();
    let n = NEXT_HOST.fetch_add(1, Ordering::Relaxed);
    let second = 100 + ((pid >> 8) % 100) as u8;
    let third = (pid % 256) as u8 ^ (n / 250) as u8;
    let fourth = (n % 250) as u8 + 2;
    IpAddr::from([127, second, third, fourth])
}

/// Options for a node of Talos `version` (`v1.11.6`) in `registry`'s clusters, with
/// talos-hcloud's strict validator; the address is chosen by [`start`].
pub fn node_options(version: &str, registry: &Arc<ClusterRegistry>) -> NodeOptions {
    let mut options = NodeOptions::new(IpAddr::from([127, 0, 0, 1]), node_validator());
    options.talos_version = version.to_string();
    options.registry = registry.clone();
    options
}

/// Starts a node on a fresh address of the Talos test range (skipping addresses in use).
pub async fn start(mut options: NodeOptions) -> TestNode {
    for _ in 0..20 {
        options.address = next_address();
        match EmulatedNode::start(options.clone()).await {
            Ok(node) => return TestNode { node: Some(node) },
            Err(NodeError::Bind { .. }) => continue,
            Err(other) => panic!("emulated node failed to start: {other:?}"),
        }
    }
    panic!("no free address in the Talos test range after 20 tries");
}

/// A running emulated node whose accepted configurations are checked against the official
/// schema when the test is done with it ([`TestNode::stop`], or drop).
pub struct TestNode {
    node: Option<EmulatedNode>,
}

impl Deref for TestNode {
    type Target = EmulatedNode;

    fn deref(&self) -> &EmulatedNode {
        self.node
            .as_ref()
            .expect("invariant: a TestNode holds its node until stop or drop")
    }
}

impl TestNode {
    /// Checks the received configurations, then stops the node and waits for its listener
    /// to close.
    pub async fn stop(mut self) {
        self.assert_received_configs_match_schema();
        if let Some(node) = self.node.take() {
            node.stop().await;
        }
    }

    /// Asserts that every configuration the node accepted (installed, user data,
    /// ApplyConfiguration) is valid under the official JSON schema of its Talos line.
    /// Refused configurations are left out: many are refused on purpose.
    ///
    /// # Panics
    ///
    /// On the first configuration the schema rejects, listing its errors.
    pub fn assert_received_configs_match_schema(&self) {
        let contract = self.talos_version().release_line();
        for config in self.received_configs().iter().filter(|c| c.outcome.is_ok()) {
            let text = std::str::from_utf8(&config.bytes).unwrap_or_else(|_| {
                panic!(
                    "{}: the node accepted a {:?} config that is not text",
                    self.address(),
                    config.source
                )
            });
            assert_schema_valid(&contract, text);
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        // A test that already failed keeps its own message; a second panic would abort.
        if self.node.is_some() && !std::thread::panicking() {
            self.assert_received_configs_match_schema();
        }
    }
}
