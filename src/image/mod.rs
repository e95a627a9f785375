//! The Talos snapshots talos-hcloud keeps in a Hetzner project: reading them ([`list`]),
//! deleting old ones ([`prune`]) and deciding which Talos release the scheduled rebuild
//! targets ([`track`]).
//!
//! Snapshots are found by their labels (design.md §3), never by a state file; the Hetzner
//! requests go through [`crate::hcloud`], the factory's version list through
//! [`crate::factory`]. Printing is left to the commands.

pub mod list;
pub mod prune;
pub mod track;
