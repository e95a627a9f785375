//! Emulated machines: the disk behind every server, what powering it on boots, and the
//! copies snapshots make.
//!
//! The state model (`sim::hcloud::state`) decides *when* things happen on the simulated
//! clock; this module does what a machine physically does at that moment: [`disk`]
//! writes and copies disk files (sparse, reflinked where the filesystem allows); [`boot`]
//! runs what a powered-on disk holds (an emulated Talos node, or nothing that answers)
//! and keeps the nodes' view of the network ([`network`]: addresses, firewalls) current.

pub mod boot;
pub mod disk;
mod network;

pub use boot::{BootConfig, MachineFacts, RESCUE_BOOT, RescueLogin, TALOS_BOOT};
pub use disk::{CopyMethod, DiskError, DiskSource, DiskUsage, Disks, GB};
